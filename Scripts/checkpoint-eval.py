#!/usr/bin/env python3
"""Scores an mlp checkpoint on the MNIST test set with a plain numpy forward pass.

Usage: python3 Scripts/checkpoint-eval.py CHECKPOINT [DATA_DIR]
Needs the PyPI packages `safetensors` and `numpy`. Prints e.g. "test error 0.0874 (874 of 10000)".
The weights are stored (n_in, n_out), so a layer is x @ W + b.
"""
import gzip
import sys

import numpy as np
from safetensors import safe_open


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    checkpoint = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "data/mnist"
    with safe_open(checkpoint, framework="numpy") as f:
        meta = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    activation = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0)}[meta["activation"]]
    hidden_layers = len(meta["layer_sizes"].split(",")) - 2

    x = read_idx(f"{data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    labels = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz")
    for i in range(hidden_layers):
        x = activation(x @ tensors[f"hidden.{i}.weight"] + tensors[f"hidden.{i}.bias"])
    logits = x @ tensors["output.weight"] + tensors["output.bias"]
    wrong = int((logits.argmax(axis=1) != labels).sum())
    print(f"test error {wrong / len(labels):.4f} ({wrong} of {len(labels)})")


if __name__ == "__main__":
    main()
