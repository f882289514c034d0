"""An independent PyTorch BERT (BertForMaskedLM's computation: post-norm blocks, exact GELU,
padding as an additive mask, the MLM head tied to the word embeddings, the tanh pooler) for
conformance tests.

Reads Hugging Face-named weights and a batch (tokens, segments, key_mask, targets) from
safetensors files; writes the logits, the pooled `<cls>` state, the loss and every parameter
gradient under the same names (zeros for the pooler, which the masked-LM loss does not reach).

usage: bert_reference.py weights.safetensors batch.safetensors config.json out.safetensors
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from gpt_reference import read_safetensors, write_safetensors


def forward(p, tokens, segments, key_mask, targets, cfg):
    H, eps = cfg["heads"], cfg["eps"]
    B, T = tokens.shape
    x = p["bert.embeddings.word_embeddings.weight"][tokens] + p["bert.embeddings.position_embeddings.weight"][:T] + p["bert.embeddings.token_type_embeddings.weight"][segments]
    D = x.shape[-1]
    x = F.layer_norm(x, (D,), p["bert.embeddings.LayerNorm.weight"], p["bert.embeddings.LayerNorm.bias"], eps)
    hd = D // H
    additive = (1.0 - key_mask)[:, None, None, :] * torch.finfo(torch.float32).min
    layers = len({k.split(".")[3] for k in p if k.startswith("bert.encoder.layer.")})
    for i in range(layers):
        q = lambda name: p[f"bert.encoder.layer.{i}.{name}"]
        heads = lambda t: t.view(B, T, H, hd).transpose(1, 2)
        qq = heads(F.linear(x, q("attention.self.query.weight"), q("attention.self.query.bias")))
        kk = heads(F.linear(x, q("attention.self.key.weight"), q("attention.self.key.bias")))
        vv = heads(F.linear(x, q("attention.self.value.weight"), q("attention.self.value.bias")))
        att = ((qq @ kk.transpose(-2, -1)) / math.sqrt(hd) + additive).softmax(dim=-1)
        y = (att @ vv).transpose(1, 2).reshape(B, T, D)
        x = F.layer_norm(x + F.linear(y, q("attention.output.dense.weight"), q("attention.output.dense.bias")), (D,), q("attention.output.LayerNorm.weight"), q("attention.output.LayerNorm.bias"), eps)
        h = F.gelu(F.linear(x, q("intermediate.dense.weight"), q("intermediate.dense.bias")))
        x = F.layer_norm(x + F.linear(h, q("output.dense.weight"), q("output.dense.bias")), (D,), q("output.LayerNorm.weight"), q("output.LayerNorm.bias"), eps)
    pooled = torch.tanh(F.linear(x[:, 0], p["bert.pooler.dense.weight"], p["bert.pooler.dense.bias"]))
    t = F.gelu(F.linear(x, p["cls.predictions.transform.dense.weight"], p["cls.predictions.transform.dense.bias"]))
    t = F.layer_norm(t, (D,), p["cls.predictions.transform.LayerNorm.weight"], p["cls.predictions.transform.LayerNorm.bias"], eps)
    logits = t @ p["bert.embeddings.word_embeddings.weight"].t() + p["cls.predictions.bias"]
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1).long(), ignore_index=-100)
    return logits, pooled, loss


def main():
    # One thread: the reference's reductions then run in one fixed order whatever the load.
    torch.set_num_threads(1)
    weights, batch_path, config_path, out_path = sys.argv[1:5]
    cfg = json.load(open(config_path))
    p = {k: v.clone().requires_grad_(True) for k, v in read_safetensors(weights).items()}
    b = read_safetensors(batch_path)
    logits, pooled, loss = forward(p, b["tokens"].long(), b["segments"].long(), b["key_mask"], b["targets"], cfg)
    loss.backward()
    out = {"logits": logits, "pooled": pooled, "loss": loss.reshape(1)}
    for k, v in p.items():
        out[f"grad.{k}"] = v.grad if v.grad is not None else torch.zeros_like(v)
    write_safetensors(out_path, out)


if __name__ == "__main__":
    main()
