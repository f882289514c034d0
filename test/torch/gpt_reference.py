"""An independent PyTorch GPT-2 (pre-norm, learned positions, tanh-GELU) for conformance tests,
and GPT-1 (post-norm, exact GELU, no final norm) when the weights carry GPT-1 names.

Reads Hugging Face-named weights (GPT-2 layout: Conv1D weights [in, out], fused c_attn) and a
batch from safetensors files, writes the logits, the loss and every parameter gradient
(under the same names), then the losses of N AdamW steps on that batch.

usage: gpt_reference.py weights.safetensors batch.safetensors config.json out.safetensors
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I32": np.int32}[e["dtype"]]
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[8 + n + a : 8 + n + b], dtype=dtype).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32).numpy()
        raw = t.tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def forward_gpt1(p, tokens, targets, cfg):
    """GPT-1 as transformers' OpenAIGPTModel computes it: post-norm blocks (a norm after each
    residual sum), exact GELU, no final norm, the head tied to tokens_embed."""
    B, T = tokens.shape
    H = cfg["heads"]
    eps = cfg["eps"]
    x = p["tokens_embed.weight"][tokens] + p["positions_embed.weight"][:T]
    D = x.shape[-1]
    hd = D // H
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["layers"]):
        qkv = x @ p[f"h.{i}.attn.c_attn.weight"] + p[f"h.{i}.attn.c_attn.bias"]
        q, k, v = qkv.split(D, dim=-1)
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        n = F.layer_norm(x + y @ p[f"h.{i}.attn.c_proj.weight"] + p[f"h.{i}.attn.c_proj.bias"], (D,), p[f"h.{i}.ln_1.weight"], p[f"h.{i}.ln_1.bias"], eps)
        m = F.gelu(n @ p[f"h.{i}.mlp.c_fc.weight"] + p[f"h.{i}.mlp.c_fc.bias"]) @ p[f"h.{i}.mlp.c_proj.weight"] + p[f"h.{i}.mlp.c_proj.bias"]
        x = F.layer_norm(n + m, (D,), p[f"h.{i}.ln_2.weight"], p[f"h.{i}.ln_2.bias"], eps)
    logits = x @ p["tokens_embed.weight"].t()
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1).long(), ignore_index=-100)
    return logits, loss


def forward(p, tokens, targets, cfg):
    if "tokens_embed.weight" in p:
        return forward_gpt1(p, tokens, targets, cfg)
    B, T = tokens.shape
    H = cfg["heads"]
    eps = cfg["eps"]
    x = p["wte.weight"][tokens] + p["wpe.weight"][:T]
    D = x.shape[-1]
    hd = D // H
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["layers"]):
        h = F.layer_norm(x, (D,), p[f"h.{i}.ln_1.weight"], p[f"h.{i}.ln_1.bias"], eps)
        qkv = h @ p[f"h.{i}.attn.c_attn.weight"] + p[f"h.{i}.attn.c_attn.bias"]
        q, k, v = qkv.split(D, dim=-1)
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + y @ p[f"h.{i}.attn.c_proj.weight"] + p[f"h.{i}.attn.c_proj.bias"]
        h = F.layer_norm(x, (D,), p[f"h.{i}.ln_2.weight"], p[f"h.{i}.ln_2.bias"], eps)
        h = F.gelu(h @ p[f"h.{i}.mlp.c_fc.weight"] + p[f"h.{i}.mlp.c_fc.bias"], approximate="tanh")
        x = x + h @ p[f"h.{i}.mlp.c_proj.weight"] + p[f"h.{i}.mlp.c_proj.bias"]
    x = F.layer_norm(x, (D,), p["ln_f.weight"], p["ln_f.bias"], eps)
    head = p["lm_head.weight"] if "lm_head.weight" in p else p["wte.weight"]
    logits = x @ head.t()
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1).long(), ignore_index=-100)
    return logits, loss


def init_weights(cfg, seed):
    """Fresh GPT-2 weights drawn by PyTorch itself, under Hugging Face names and layouts."""
    g = torch.Generator().manual_seed(seed)
    V, C, D, L = cfg["vocab"], cfg["ctx"], cfg["d"], cfg["n_layers"]
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.05
    p = {"wte.weight": r(V, D), "wpe.weight": r(C, D), "ln_f.weight": 1 + r(D), "ln_f.bias": r(D), "lm_head.weight": r(V, D)}
    for i in range(L):
        p.update({
            f"h.{i}.ln_1.weight": 1 + r(D), f"h.{i}.ln_1.bias": r(D),
            f"h.{i}.attn.c_attn.weight": r(D, 3 * D), f"h.{i}.attn.c_attn.bias": r(3 * D),
            f"h.{i}.attn.c_proj.weight": r(D, D), f"h.{i}.attn.c_proj.bias": r(D),
            f"h.{i}.ln_2.weight": 1 + r(D), f"h.{i}.ln_2.bias": r(D),
            f"h.{i}.mlp.c_fc.weight": r(D, 4 * D), f"h.{i}.mlp.c_fc.bias": r(4 * D),
            f"h.{i}.mlp.c_proj.weight": r(4 * D, D), f"h.{i}.mlp.c_proj.bias": r(D),
        })
    return p


def main():
    # One thread: the reference's reductions then run in one fixed order whatever the load.
    torch.set_num_threads(1)
    if sys.argv[1] == "init":
        # init <config.json> <batch.safetensors> <weights-out> <logits-out>
        config_path, batch_path, weights_out, logits_out = sys.argv[2:6]
        cfg = json.load(open(config_path))
        p = init_weights(cfg, cfg["seed"])
        write_safetensors(weights_out, p)
        batch = read_safetensors(batch_path)
        cfg["layers"] = cfg["n_layers"]
        with torch.no_grad():
            logits, loss = forward(p, batch["tokens"].long(), batch["targets"], cfg)
        write_safetensors(logits_out, {"logits": logits, "loss": loss.reshape(1)})
        return
    weights, batch_path, config_path, out_path = sys.argv[1:5]
    cfg = json.load(open(config_path))
    torch.manual_seed(0)
    # float64: the same model and optimizer in double precision, the yardstick for how far a
    # float32 trajectory (PyTorch's or ours) may drift over several AdamW steps.
    dtype = torch.float64 if cfg.get("float64") else torch.float32
    p = {k: v.to(dtype).clone().requires_grad_(True) for k, v in read_safetensors(weights).items()}
    batch = read_safetensors(batch_path)
    tokens, targets = batch["tokens"].long(), batch["targets"]
    cfg["layers"] = len({k.split(".")[1] for k in p if k.startswith("h.")})

    logits, loss = forward(p, tokens, targets, cfg)
    loss.backward()
    out = {"logits": logits, "loss": loss.reshape(1)}
    for k, v in p.items():
        out[f"grad.{k}"] = v.grad
    if "adamw" not in cfg:
        write_safetensors(out_path, out)
        return

    # AdamW steps on the same batch: decay on matrices that are not embeddings.
    for v in p.values():
        v.grad = None
    decay = [v for k, v in p.items() if v.dim() == 2 and not k.startswith(("wte", "wpe"))]
    no_decay = [v for k, v in p.items() if not (v.dim() == 2 and not k.startswith(("wte", "wpe")))]
    a = cfg["adamw"]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": a["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"],
    )
    losses = []
    for _ in range(a["steps"]):
        opt.zero_grad()
        _, loss = forward(p, tokens, targets, cfg)
        loss.backward()
        if a["max_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(list(p.values()), a["max_norm"])
        losses.append(loss.item())
        opt.step()
    out["adamw_losses"] = torch.tensor(losses)
    write_safetensors(out_path, out)


if __name__ == "__main__":
    main()
