"""Shared by torch_to_aecnn.py and aecnn_to_torch.py: the tensor-name map between aecnn's ResNets and a
CIFAR-style PyTorch ResNet (ResNet-20/32/56), a PyTorch definition of that network, and a minimal
safetensors reader/writer (so that only torch and numpy are needed).

Name map (docs/scale.md has the table):
  aecnn                          PyTorch
  stem.conv.weight               conv1.weight
  stem.bn.{weight,bias,running_mean,running_var}      bn1.*
  block{k}.{conv1,bn1,conv2,bn2}.*                    {stage|layer}{s}.{i}.{conv1,bn1,conv2,bn2}.*
  block{k}.shortcut.{0,1}.*                           {stage|layer}{s}.{i}.{shortcut|downsample}.{0,1}.*
  head.fc.{weight,bias}                               {fc|linear}.*
with k = (s - 1) * n + i + 1 for n blocks per stage. PyTorch's int64 num_batches_tracked counters have no
aecnn counterpart: dropped one way, written as 0 the other.
"""
import json
import re
import struct

import numpy as np

BLOCK = re.compile(r"^(stage|layer)(\d+)\.(\d+)\.(.*)$")


def torch_to_aecnn_names(names):
    """{pytorch name: aecnn name} for every tensor except num_batches_tracked counters."""
    per_stage = {}
    for n in names:
        m = BLOCK.match(n)
        if m:
            s, i = int(m.group(2)), int(m.group(3))
            per_stage[s] = max(per_stage.get(s, 0), i + 1)
    if per_stage and len(set(per_stage.values())) != 1:
        raise ValueError(f"stages have different block counts {per_stage}: not a CIFAR-style ResNet")
    n_blocks = next(iter(per_stage.values()), 0)
    out = {}
    for n in names:
        if n.endswith("num_batches_tracked"):
            continue
        m = BLOCK.match(n)
        if m:
            s, i, rest = int(m.group(2)), int(m.group(3)), m.group(4)
            rest = rest.replace("downsample.", "shortcut.")
            out[n] = f"block{(s - 1) * n_blocks + i + 1}.{rest}"
        elif n.startswith("conv1."):
            out[n] = "stem.conv." + n[len("conv1."):]
        elif n.startswith("bn1."):
            out[n] = "stem.bn." + n[len("bn1."):]
        elif n.startswith("fc.") or n.startswith("linear."):
            out[n] = "head.fc." + n.split(".", 1)[1]
        else:
            raise ValueError(f"no aecnn name for PyTorch tensor {n!r}")
    return out


def aecnn_to_torch_names(names, prefix="stage"):
    """{aecnn name: pytorch name}, stages named `{prefix}1..3` (resnet_fm.py uses `stage`, many CIFAR code
    bases `layer`)."""
    blocks = sorted({int(m.group(1)) for n in names if (m := re.match(r"^block(\d+)\.", n))})
    if len(blocks) % 3:
        raise ValueError(f"{len(blocks)} blocks: not three stages of a CIFAR-style ResNet")
    n_blocks = len(blocks) // 3
    out = {}
    for n in names:
        m = re.match(r"^block(\d+)\.(.*)$", n)
        if m:
            k = int(m.group(1)) - 1
            out[n] = f"{prefix}{k // n_blocks + 1}.{k % n_blocks}.{m.group(2)}"
        elif n.startswith("stem.conv."):
            out[n] = "conv1." + n[len("stem.conv."):]
        elif n.startswith("stem.bn."):
            out[n] = "bn1." + n[len("stem.bn."):]
        elif n.startswith("head.fc."):
            out[n] = "fc." + n[len("head.fc."):]
        else:
            raise ValueError(f"no PyTorch name for aecnn tensor {n!r}")
    return out


def read_safetensors(path):
    """{name: numpy array} and the __metadata__ of a safetensors file (F32, F64, I64, I32, U8)."""
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "U64": np.uint64}
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(body[b:e], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Write {name: numpy array} as float32 / int64 safetensors, names sorted, header padded to 8 bytes."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        kind = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": kind, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def make_resnet(n_blocks=3, widths=(16, 32, 64), in_channels=1, classes=10, prefix="stage"):
    """A CIFAR-style ResNet in PyTorch with the layer names above (torch imported only here)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = None
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            cin = widths[0]
            for s, (w, stride) in enumerate(zip(widths, (1, 2, 2)), start=1):
                blocks = []
                for i in range(n_blocks):
                    blocks.append(Block(cin, w, stride if i == 0 else 1))
                    cin = w
                setattr(self, f"{prefix}{s}", nn.Sequential(*blocks))
            self.fc = nn.Linear(widths[-1], classes)
            self.prefix = prefix

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            for s in (1, 2, 3):
                x = getattr(self, f"{self.prefix}{s}")(x)
            return self.fc(x.mean((2, 3)))

    return Net()


def fashion_mnist_test(path="/usr/share/datasets/fashion-mnist", mean=0.2860, std=0.3530):
    """The 10,000 test images (N×1×28×28, normalised as aecnn's pipelines do) and labels, as numpy."""
    import gzip

    def idx(p):
        with gzip.open(p, "rb") as f:
            d = f.read()
        nd = d[3]
        dims = [int.from_bytes(d[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
        return np.frombuffer(d, np.uint8, offset=4 + 4 * nd).reshape(dims)

    x = idx(f"{path}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{path}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return ((x - mean) / std)[:, None], y
