"""Independent PyTorch encoder-decoders for conformance tests: T5 (T5ForConditionalGeneration's
computation: pre-norm RMSNorm blocks without biases, unscaled attention, relative position
bias from block 0 of each stack with T5's buckets, gated-GELU or ReLU MLP, the tied head
rescaled by d_model^-0.5) and BART (BartForConditionalGeneration's: learned positions with
the offset of 2, layernorm_embedding, post-norm blocks, exact GELU, the tied head plus
final_logits_bias).

Reads Hugging Face-named weights and a batch (src_tokens, src_key_mask, tgt_tokens, targets)
from safetensors files; writes the logits, the loss and every parameter gradient under the
same names.

usage: seq2seq_reference.py t5|bart weights.safetensors batch.safetensors config.json out.safetensors
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from gpt_reference import read_safetensors, write_safetensors

NEG = torch.finfo(torch.float32).min


def attention(x, kv, p, prefix, names, H, hd, bias, additive, scale):
    B, T, _ = x.shape
    S = kv.shape[1]
    lin = lambda t, n: F.linear(t, p[f"{prefix}.{names[n]}.weight"], p.get(f"{prefix}.{names[n]}.bias"))
    q = lin(x, "q").view(B, T, H, hd).transpose(1, 2)
    k = lin(kv, "k").view(B, S, H, hd).transpose(1, 2)
    v = lin(kv, "v").view(B, S, H, hd).transpose(1, 2)
    scores = (q * scale) @ k.transpose(-2, -1) + additive
    if bias is not None:
        scores = scores + bias
    y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
    return lin(y, "o")


def padding_additive(key_mask):
    return (1.0 - key_mask)[:, None, None, :] * NEG


def causal_additive(T):
    return torch.triu(torch.full((T, T), NEG), diagonal=1)[None, None]


# ---------------------------------------------------------------------------------------- T5
def relative_bucket(rel, bidirectional, buckets, max_distance):
    ret = torch.zeros_like(rel)
    if bidirectional:
        buckets //= 2
        ret += (rel > 0).long() * buckets
        n = rel.abs()
    else:
        n = -torch.min(rel, torch.zeros_like(rel))
    exact = buckets // 2
    small = n < exact
    large = exact + (torch.log(n.float().clamp(min=1) / exact) / math.log(max_distance / exact) * (buckets - exact)).long()
    large = torch.min(large, torch.full_like(large, buckets - 1))
    return ret + torch.where(small, n, large)


def t5_bias(table, T, S, bidirectional, cfg):
    rel = torch.arange(S)[None, :] - torch.arange(T)[:, None]
    b = relative_bucket(rel, bidirectional, cfg["buckets"], cfg["max_distance"])
    return table[b].permute(2, 0, 1)[None]


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def t5_mlp(x, p, prefix, gated):
    if gated:
        h = F.gelu(F.linear(x, p[f"{prefix}.wi_0.weight"])) * F.linear(x, p[f"{prefix}.wi_1.weight"])
    else:
        h = F.relu(F.linear(x, p[f"{prefix}.wi.weight"]))
    return F.linear(h, p[f"{prefix}.wo.weight"])


def t5_forward(p, b, cfg):
    H, hd, eps, L = cfg["heads"], cfg["head_dim"], cfg["eps"], cfg["layers"]
    gated = any(k.endswith("wi_0.weight") for k in p)
    names = {n: n for n in "qkvo"}
    src, tgt = b["src_tokens"].long(), b["tgt_tokens"].long()
    mask = padding_additive(b["src_key_mask"])
    x = p["shared.weight"][src]
    bias = t5_bias(p["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], src.shape[1], src.shape[1], True, cfg)
    for i in range(L):
        pre = f"encoder.block.{i}"
        h = rms(x, p[f"{pre}.layer.0.layer_norm.weight"], eps)
        x = x + attention(h, h, p, f"{pre}.layer.0.SelfAttention", names, H, hd, bias, mask, 1.0)
        x = x + t5_mlp(rms(x, p[f"{pre}.layer.1.layer_norm.weight"], eps), p, f"{pre}.layer.1.DenseReluDense", gated)
    enc = rms(x, p["encoder.final_layer_norm.weight"], eps)
    y = p["shared.weight"][tgt]
    T = tgt.shape[1]
    dbias = t5_bias(p["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], T, T, False, cfg)
    for i in range(L):
        pre = f"decoder.block.{i}"
        h = rms(y, p[f"{pre}.layer.0.layer_norm.weight"], eps)
        y = y + attention(h, h, p, f"{pre}.layer.0.SelfAttention", names, H, hd, dbias, causal_additive(T), 1.0)
        h = rms(y, p[f"{pre}.layer.1.layer_norm.weight"], eps)
        y = y + attention(h, enc, p, f"{pre}.layer.1.EncDecAttention", names, H, hd, None, mask, 1.0)
        y = y + t5_mlp(rms(y, p[f"{pre}.layer.2.layer_norm.weight"], eps), p, f"{pre}.layer.2.DenseReluDense", gated)
    y = rms(y, p["decoder.final_layer_norm.weight"], eps)
    d = y.shape[-1]
    return (y * d**-0.5) @ p["shared.weight"].t()


# -------------------------------------------------------------------------------------- BART
def bart_forward(p, b, cfg):
    H, eps, L = cfg["heads"], cfg["eps"], cfg["layers"]
    names = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "out_proj"}
    src, tgt = b["src_tokens"].long(), b["tgt_tokens"].long()
    mask = padding_additive(b["src_key_mask"])
    ln = lambda t, pre: F.layer_norm(t, (t.shape[-1],), p[f"{pre}.weight"], p[f"{pre}.bias"], eps)
    mlp = lambda t, pre: F.linear(F.gelu(F.linear(t, p[f"{pre}.fc1.weight"], p[f"{pre}.fc1.bias"])), p[f"{pre}.fc2.weight"], p[f"{pre}.fc2.bias"])
    x = p["model.shared.weight"][src] + p["model.encoder.embed_positions.weight"][torch.arange(src.shape[1]) + 2]
    x = ln(x, "model.encoder.layernorm_embedding")
    D = x.shape[-1]
    hd = D // H
    for i in range(L):
        pre = f"model.encoder.layers.{i}"
        x = ln(x + attention(x, x, p, f"{pre}.self_attn", names, H, hd, None, mask, hd**-0.5), f"{pre}.self_attn_layer_norm")
        x = ln(x + mlp(x, pre), f"{pre}.final_layer_norm")
    enc = x
    T = tgt.shape[1]
    y = p["model.shared.weight"][tgt] + p["model.decoder.embed_positions.weight"][torch.arange(T) + 2]
    y = ln(y, "model.decoder.layernorm_embedding")
    for i in range(L):
        pre = f"model.decoder.layers.{i}"
        y = ln(y + attention(y, y, p, f"{pre}.self_attn", names, H, hd, None, causal_additive(T), hd**-0.5), f"{pre}.self_attn_layer_norm")
        y = ln(y + attention(y, enc, p, f"{pre}.encoder_attn", names, H, hd, None, mask, hd**-0.5), f"{pre}.encoder_attn_layer_norm")
        y = ln(y + mlp(y, pre), f"{pre}.final_layer_norm")
    return y @ p["model.shared.weight"].t() + p["final_logits_bias"]


def main():
    # One thread: the reference's reductions then run in one fixed order whatever the load.
    torch.set_num_threads(1)
    family, weights, batch_path, config_path, out_path = sys.argv[1:6]
    cfg = json.load(open(config_path))
    p = {k: v.clone().requires_grad_(True) for k, v in read_safetensors(weights).items()}
    b = read_safetensors(batch_path)
    logits = (t5_forward if family == "t5" else bart_forward)(p, b, cfg)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["targets"].reshape(-1).long(), ignore_index=-100)
    loss.backward()
    out = {"logits": logits, "loss": loss.reshape(1)}
    for k, v in p.items():
        out[f"grad.{k}"] = v.grad if v.grad is not None else torch.zeros_like(v)
    write_safetensors(out_path, out)


if __name__ == "__main__":
    main()
