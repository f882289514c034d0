"""An independent PyTorch ViT (ViTForImageClassification's computation, pre-norm, exact GELU)
for conformance tests.

Reads Hugging Face-named weights (nn.Linear [out, in], Conv2d patch projection, cls token and
positions with leading unit dims) and a batch of images and labels from safetensors files;
writes the logits, the loss and every parameter gradient under the same names.

usage: vit_reference.py weights.safetensors batch.safetensors config.json out.safetensors
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from gpt_reference import read_safetensors, write_safetensors


def forward(p, images, labels, cfg):
    H, eps = cfg["heads"], cfg["eps"]
    proj = p["vit.embeddings.patch_embeddings.projection.weight"]
    size = proj.shape[-1]
    x = F.conv2d(images, proj, p["vit.embeddings.patch_embeddings.projection.bias"], stride=size)
    x = x.flatten(2).transpose(1, 2)  # [B, patches, D], patches row by row
    B, _, D = x.shape
    x = torch.cat([p["vit.embeddings.cls_token"].expand(B, -1, -1), x], dim=1) + p["vit.embeddings.position_embeddings"]
    T, hd = x.shape[1], D // H
    layers = len({k.split(".")[3] for k in p if k.startswith("vit.encoder.layer.")})
    for i in range(layers):
        q = lambda name: p[f"vit.encoder.layer.{i}.{name}"]
        h = F.layer_norm(x, (D,), q("layernorm_before.weight"), q("layernorm_before.bias"), eps)
        heads = lambda t: t.view(B, T, H, hd).transpose(1, 2)
        qq = heads(F.linear(h, q("attention.attention.query.weight"), q("attention.attention.query.bias")))
        kk = heads(F.linear(h, q("attention.attention.key.weight"), q("attention.attention.key.bias")))
        vv = heads(F.linear(h, q("attention.attention.value.weight"), q("attention.attention.value.bias")))
        att = ((qq @ kk.transpose(-2, -1)) / math.sqrt(hd)).softmax(dim=-1)
        y = (att @ vv).transpose(1, 2).reshape(B, T, D)
        x = x + F.linear(y, q("attention.output.dense.weight"), q("attention.output.dense.bias"))
        h = F.layer_norm(x, (D,), q("layernorm_after.weight"), q("layernorm_after.bias"), eps)
        h = F.gelu(F.linear(h, q("intermediate.dense.weight"), q("intermediate.dense.bias")))
        x = x + F.linear(h, q("output.dense.weight"), q("output.dense.bias"))
    x = F.layer_norm(x, (D,), p["vit.layernorm.weight"], p["vit.layernorm.bias"], eps)
    logits = F.linear(x[:, 0], p["classifier.weight"], p["classifier.bias"])
    return logits, F.cross_entropy(logits, labels.long())


def main():
    # One thread: the reference's reductions then run in one fixed order whatever the load.
    torch.set_num_threads(1)
    weights, batch_path, config_path, out_path = sys.argv[1:5]
    cfg = json.load(open(config_path))
    p = {k: v.clone().requires_grad_(True) for k, v in read_safetensors(weights).items()}
    batch = read_safetensors(batch_path)
    logits, loss = forward(p, batch["images"], batch["labels"], cfg)
    loss.backward()
    out = {"logits": logits, "loss": loss.reshape(1)}
    for k, v in p.items():
        out[f"grad.{k}"] = v.grad
    write_safetensors(out_path, out)


if __name__ == "__main__":
    main()
