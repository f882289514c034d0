"""Runs a generated PyTorch module (tfm compile --target torch) for the conformance tests:
loads the weights file with load_state_dict(strict=True), runs forward on a batch in eval mode
(no dropout), backpropagates the loss, and writes every output and every parameter's gradient
(under its stored name, prefixed `grad.`).

usage: run_module.py model.py weights.safetensors batch.safetensors out.safetensors [float32|float64]
"""
import importlib.util
import sys

import torch

from gpt_reference import read_safetensors, write_safetensors


def main():
    model_py, weights, batch, out = sys.argv[1:5]
    spec = importlib.util.spec_from_file_location("tfm_model", model_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, torch.nn.Module) and c.__module__ == "tfm_model"]
    assert len(classes) == 1, classes
    model = classes[0]()
    model.load_state_dict(read_safetensors(weights), strict=True)
    model.eval()
    inputs = read_safetensors(batch)
    if len(sys.argv) > 5 and sys.argv[5] == "float64":
        # The float64 oracle: how far each float32 side is from exact.
        model.double()
        inputs = {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}
    outputs = model(**inputs)
    outputs["loss"].backward()
    result = {k: v for k, v in outputs.items()}
    for name, p in model.named_parameters():
        result["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    write_safetensors(out, result)


if __name__ == "__main__":
    main()
