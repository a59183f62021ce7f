#!/usr/bin/env python3
"""A reference trainer of the same algorithm in plain numpy (or PyTorch), for speed comparisons.

The tutorial's model and step: 784-500-10 tanh, softmax + mean NLL, L2 0.0001, SGD lr 0.01, float32,
minibatches in the tutorial's order. It trains for about --seconds per batch size and prints one line
per batch size: "batch=20 seconds_per_epoch=1.234 steps=5000". With --mpi (mpi4py, under mpirun)
each rank takes its shard of every minibatch and the gradients are summed with one Allreduce.
Set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS to control BLAS threads (compare-peers.sh sets 1).
"""
import argparse
import gzip
import time

import numpy as np


def read_idx(path):
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def numpy_trainer(x, y, batch, comm):
    rng = np.random.RandomState(1234)
    bound = np.sqrt(6 / (784 + 500))
    w1 = rng.uniform(-bound, bound, (784, 500)).astype(np.float32)
    b1 = np.zeros(500, np.float32)
    w2 = np.zeros((500, 10), np.float32)
    b2 = np.zeros(10, np.float32)
    lr, l2 = np.float32(0.01), np.float32(0.0001)
    size = comm.Get_size() if comm else 1
    rank = comm.Get_rank() if comm else 0
    lo = rank * batch // size
    hi = (rank + 1) * batch // size
    flat = np.zeros(784 * 500 + 500 + 500 * 10 + 10, np.float32)
    views = np.split(flat, [784 * 500, 784 * 500 + 500, 784 * 500 + 500 + 5000])

    def step(i):
        nonlocal w1, b1, w2, b2
        start = i * batch
        xb, yb = x[start + lo: start + hi], y[start + lo: start + hi]
        h = np.tanh(xb @ w1 + b1)
        z = h @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        dh = (p @ w2.T) * (1 - h * h)
        if comm:
            np.matmul(xb.T, dh, out=views[0].reshape(784, 500))
            views[1][:] = dh.sum(axis=0)
            np.matmul(h.T, p, out=views[2].reshape(500, 10))
            views[3][:] = p.sum(axis=0)
            from mpi4py import MPI
            comm.Allreduce(MPI.IN_PLACE, flat)
            g1, gb1, g2, gb2 = views[0].reshape(784, 500), views[1], views[2].reshape(500, 10), views[3]
        else:
            g1, gb1, g2, gb2 = xb.T @ dh, dh.sum(axis=0), h.T @ p, p.sum(axis=0)
        scale = lr / np.float32(batch)
        w1 -= scale * g1 + lr * 2 * l2 * w1    # in place: the same arrays every step
        b1 -= scale * gb1
        w2 -= scale * g2 + lr * 2 * l2 * w2
        b2 -= scale * gb2

    return step


def torch_trainer(x, y, batch):
    import torch
    torch.set_num_threads(1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(784, 500), torch.nn.Tanh(), torch.nn.Linear(500, 10))
    torch.nn.init.zeros_(model[2].weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, weight_decay=2 * 0.0001)
    loss = torch.nn.CrossEntropyLoss()

    def step(i):
        optimizer.zero_grad()
        loss(model(xt[i * batch:(i + 1) * batch]), yt[i * batch:(i + 1) * batch]).backward()
        optimizer.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--batch-sizes", default="20,256")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--framework", choices=["numpy", "torch"], default="numpy")
    parser.add_argument("--mpi", action="store_true", help="data-parallel over mpi4py (run under mpirun)")
    args = parser.parse_args()
    comm = None
    if args.mpi:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    x = (read_idx(f"{args.data}/train-images-idx3-ubyte.gz")[:50000].reshape(-1, 784).astype(np.float32) / 255)
    y = read_idx(f"{args.data}/train-labels-idx1-ubyte.gz")[:50000].astype(np.int64)
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        step = torch_trainer(x, y, batch) if args.framework == "torch" else numpy_trainer(x, y, batch, comm)
        per_epoch = 50000 // batch
        for i in range(10):
            step(i)
        steps, start = 0, time.perf_counter()
        while True:
            step(steps % per_epoch)
            steps += 1
            elapsed = time.perf_counter() - start
            if comm:  # every rank runs the same number of steps
                from mpi4py import MPI
                done = comm.allreduce(elapsed >= args.seconds, op=MPI.LOR) if steps % 20 == 0 else False
            else:
                done = elapsed >= args.seconds
            if done:
                break
        if not comm or comm.Get_rank() == 0:
            print(f"batch={batch} seconds_per_epoch={elapsed / steps * per_epoch:.4f} steps={steps}", flush=True)


if __name__ == "__main__":
    main()
