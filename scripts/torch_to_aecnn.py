#!/usr/bin/env python3
"""Convert a PyTorch CIFAR-style ResNet state_dict (torch.save'd .pt, or .safetensors) into the safetensors
file aecnn's `model.weights` imports (float32, aecnn's tensor names; num_batches_tracked dropped).

  python3 scripts/torch_to_aecnn.py model.pt base.safetensors
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aecnn_torch import read_safetensors, torch_to_aecnn_names, write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="PyTorch state_dict: .pt/.pth (torch.save) or .safetensors")
    ap.add_argument("out", help="safetensors file for aecnn's model.weights")
    a = ap.parse_args()
    if a.source.endswith(".safetensors"):
        state, _ = read_safetensors(a.source)
    else:
        import torch
        sd = torch.load(a.source, map_location="cpu", weights_only=True)
        sd = sd.get("state_dict", sd)
        state = {k: v.detach().cpu().numpy() for k, v in sd.items()}
    names = torch_to_aecnn_names(list(state))
    out = {names[k]: v.astype("float32") for k, v in state.items() if k in names}
    write_safetensors(a.out, out, {"format": "aecnn", "converted_from": os.path.basename(a.source)})
    print(f"{a.out}: {len(out)} tensors ({len(state) - len(out)} num_batches_tracked counters dropped)")


if __name__ == "__main__":
    main()
