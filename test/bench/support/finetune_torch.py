"""PyTorch's side of test/bench/finetune.ts: the same architecture, data and batch on the CPU.

MobileNetV2 (torchvision, width 1.0, random weights: timing does not depend on them) at 96x96
with the GAP-128-10 head (global average pool, dense 128 relu, dense 10), Adam 1e-3, batch 32,
the first N Fashion-MNIST training images (28x28 greyscale, scaled to [-1, 1], resized
bilinearly to 96x96 and repeated to 3 channels per batch, inside the timed epoch). Variants:

  frozen     backbone forward under no_grad (eval mode) every epoch, the head trains
  last4      the prefix before block_14 (torchvision features[:15]) under no_grad every epoch;
             block_14, block_15, block_16, Conv_1 (features[15:]) and the head train
  last4_mem  the same, the prefix's output computed once and held in memory (not timed)
  prefix     inference of the whole backbone alone, samples/s at several batch sizes

Prints one JSON line. Usage: python3 finetune_torch.py --dir DIR --samples 1024 --epochs 3
--threads 2
"""

import argparse
import gzip
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision


def load_images(directory, n):
    with gzip.open(f"{directory}/train-images-idx3-ubyte.gz", "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(f"{directory}/train-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n]
    return torch.from_numpy(data.copy()), torch.from_numpy(labels.astype(np.int64))


def preprocess(raw):
    x = raw.float().unsqueeze(1) / 127.5 - 1.0
    x = F.interpolate(x, size=(96, 96), mode="bilinear", align_corners=False)
    return x.expand(-1, 3, -1, -1).contiguous()


def head():
    return torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(1280, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )


def batches(n, batch):
    return [(i, min(i + batch, n)) for i in range(0, n, batch)]


def epoch_seconds(step, n, batch, epochs):
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for lo, hi in batches(n, batch):
            step(lo, hi)
        times.append(time.perf_counter() - t0)
    return times


def blas_library():
    """The BLAS this process mapped: Debian's torch takes whatever libblas.so.3 points at, and the
    reference BLAS (libblas3 alone) makes it many times slower than with OpenBLAS."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return sorted(libs)


def run(args):
    torch.manual_seed(42)
    torch.set_num_threads(args.threads)
    raw, labels = load_images(args.dir, args.samples)
    n = raw.shape[0]
    features = torchvision.models.mobilenet_v2(weights=None).features
    prefix, last4 = features[:15], features[15:]
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "samples": n, "batch": args.batch, "blas": blas_library()}

    # frozen: the whole backbone under no_grad every epoch, the head trains
    h = head()
    opt = torch.optim.Adam(h.parameters(), lr=1e-3)
    features.eval()

    def frozen_step(lo, hi):
        with torch.no_grad():
            f = features(preprocess(raw[lo:hi]))
        loss = F.cross_entropy(h(f), labels[lo:hi], reduction="sum") / (hi - lo)
        opt.zero_grad()
        loss.backward()
        opt.step()

    results["frozen"] = epoch_seconds(frozen_step, n, args.batch, args.epochs)

    # last4: prefix under no_grad every epoch, features[15:] and the head train (BN in training mode)
    h = head()
    opt = torch.optim.Adam(list(last4.parameters()) + list(h.parameters()), lr=1e-3)
    prefix.eval()
    last4.train()

    def train_last4(x, y):
        loss = F.cross_entropy(h(last4(x)), y, reduction="sum") / x.shape[0]
        opt.zero_grad()
        loss.backward()
        opt.step()

    def last4_step(lo, hi):
        with torch.no_grad():
            x = prefix(preprocess(raw[lo:hi]))
        train_last4(x, labels[lo:hi])

    results["last4"] = epoch_seconds(last4_step, n, args.batch, args.epochs)

    # last4_mem: the prefix's output once, in memory
    with torch.no_grad():
        held = torch.cat([prefix(preprocess(raw[lo:hi])) for lo, hi in batches(n, args.batch)])
    results["last4_mem"] = epoch_seconds(lambda lo, hi: train_last4(held[lo:hi], labels[lo:hi]), n, args.batch, args.epochs)

    # prefix inference alone (the whole backbone, as Permafrost's first epoch runs it), by batch size
    inference = {}
    for b in [int(s) for s in args.inference_batches.split(",")]:
        with torch.no_grad():
            times = epoch_seconds(lambda lo, hi: features(preprocess(raw[lo:hi])), n, b, 2)
        inference[str(b)] = n / min(times)
    results["inferenceSamplesPerSecond"] = inference
    for k in ("frozen", "last4", "last4_mem"):
        results[f"{k}Median"] = statistics.median(results[k][1:] if len(results[k]) > 1 else results[k])
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--inference-batches", default="32,64,128")
    print(json.dumps(run(p.parse_args())))


if __name__ == "__main__":
    main()
