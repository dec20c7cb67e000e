#!/usr/bin/env python3
"""Load an aecnn ResNet checkpoint (e.g. Checkpoints/NAME/train-base/model.safetensors) into PyTorch: save it
as a state_dict for a CIFAR-style ResNet, and optionally evaluate it on the Fashion-MNIST test set.

  python3 scripts/aecnn_to_torch.py Checkpoints/fashion-resnet20/train-base/model.safetensors model.pt --evaluate
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aecnn_torch import aecnn_to_torch_names, fashion_mnist_test, make_resnet, read_safetensors  # noqa: E402


def load(path, prefix="stage"):
    """The aecnn file as a PyTorch module in eval mode."""
    import torch
    tensors, _ = read_safetensors(path)
    names = aecnn_to_torch_names(list(tensors), prefix)
    sd = {names[k]: torch.from_numpy(v) for k, v in tensors.items()}
    blocks = len({k.split(".")[0] for k in tensors if k.startswith("block")})
    widths = tuple(int(sd[f"{prefix}{s}.0.conv1.weight"].shape[0]) for s in (1, 2, 3))
    model = make_resnet(blocks // 3, widths, int(sd["conv1.weight"].shape[1]), int(sd["fc.weight"].shape[0]), prefix)
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.zeros_like(v)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="aecnn model.safetensors")
    ap.add_argument("out", nargs="?", help="where to torch.save the state_dict")
    ap.add_argument("--prefix", default="stage", choices=["stage", "layer"], help="PyTorch names of the three stages")
    ap.add_argument("--evaluate", action="store_true", help="test accuracy on /usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    import torch
    model = load(a.source, a.prefix)
    if a.out:
        torch.save(model.state_dict(), a.out)
        print(f"{a.out}: state_dict of {sum(p.numel() for p in model.parameters())} parameters")
    if a.evaluate:
        x, y = fashion_mnist_test()
        correct = 0
        with torch.inference_mode():
            for i in range(0, len(y), 1000):
                correct += int((model(torch.from_numpy(x[i:i + 1000])).argmax(1).numpy() == y[i:i + 1000]).sum())
        print(f"test accuracy {100 * correct / len(y):.2f} % on {len(y)} images")


if __name__ == "__main__":
    main()
