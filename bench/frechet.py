#!/usr/bin/env python3
"""A Fréchet distance between image sets in the feature space of a small
classifier trained once on the data set: the measure of generated samples
in docs/ZOO.md. It is not FID: there is no Inception network offline, and
numbers on this scale are comparable only with each other (same classifier,
same reference set).

    # once per data set: train the classifier, keep its weights in bench/
    /usr/bin/python3 bench/frechet.py train --data-dir data/mnist --out bench/frechet_mnist.pt
    # the distance between two sets: an .npy of images (float [n, 28, 28] in
    # [0, 1], as `vae-sample --num N --out S.npy` writes) or DIR:train / DIR:test
    /usr/bin/python3 bench/frechet.py score --net bench/frechet_mnist.pt samples.npy data/mnist:test

The classifier: conv 3x3 32 - maxpool - conv 3x3 64 - maxpool - dense 128 -
dense 10, ReLU, trained with Adam (1e-3, batch 128, seed 0) on the training
split; the features are its 128 penultimate activations. The distance is
|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) over the two
sets' features, in float64.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x):
        return self.fc2(self.features(x))


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        h, w = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, h, w)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, offset=8)
    sys.exit(f"{path}: not an IDX image or label file")


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    sys.exit(f"{folder}: no {stem}(.gz)")


def split(folder, which):
    prefix = "train" if which == "train" else "t10k"
    images = read_idx(find(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(folder, f"{prefix}-labels-idx1-ubyte"))
    return torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def image_set(spec):
    """An .npy of images in [0, 1] or DIR:train / DIR:test -> float [n, 1, 28, 28]."""
    if spec.endswith(".npy"):
        a = np.load(spec).astype(np.float32)
        if a.ndim == 4 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 3 or a.shape[1:] != (28, 28):
            sys.exit(f"{spec}: expected images [n, 28, 28], got {a.shape}")
        return torch.from_numpy(a).unsqueeze(1)
    folder, _, which = spec.rpartition(":")
    if which not in ("train", "test") or not folder:
        sys.exit(f"{spec}: expected FILE.npy, DIR:train or DIR:test")
    return split(folder, which)[0]


def train(a):
    torch.manual_seed(0)
    x, y = split(a.data_dir, "train")
    tx, ty = split(a.data_dir, "test")
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for epoch in range(a.epochs):
        net.train()
        for idx in torch.randperm(len(x)).split(128):
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = sum((net(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum().item() for i in range(0, len(tx), 1000))
    torch.save(net.state_dict(), a.out)
    print(json.dumps({"net": a.out, "data_dir": a.data_dir, "epochs": a.epochs, "train_images": len(x),
                      "test_accuracy": acc / len(tx), "seconds": round(time.perf_counter() - t0, 1)}))


def features(net, images):
    with torch.no_grad():
        return torch.cat([net.features(images[i:i + 1000]) for i in range(0, len(images), 1000)]).double()


def frechet(fa, fb):
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    sa, sb = torch.cov(fa.T), torch.cov(fb.T)
    # (S_a^1/2 S_b S_a^1/2) is symmetric positive semi-definite; its square
    # root's trace is the sum of the square roots of its eigenvalues.
    w, v = torch.linalg.eigh(sa)
    root_a = (v * w.clamp(min=0).sqrt()) @ v.T
    middle = torch.linalg.eigvalsh(root_a @ sb @ root_a).clamp(min=0).sqrt().sum()
    return ((mu_a - mu_b).pow(2).sum() + sa.trace() + sb.trace() - 2 * middle).item()


def score(a):
    net = Net()
    net.load_state_dict(torch.load(a.net))
    net.eval()
    fa, fb = features(net, image_set(a.a)), features(net, image_set(a.b))
    print(json.dumps({"a": a.a, "b": a.b, "images_a": len(fa), "images_b": len(fb), "net": a.net,
                      "frechet": frechet(fa, fb)}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data-dir", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=3)
    s = sub.add_parser("score")
    s.add_argument("--net", required=True)
    s.add_argument("a")
    s.add_argument("b")
    a = p.parse_args()
    torch.set_num_threads(1)
    train(a) if a.cmd == "train" else score(a)


if __name__ == "__main__":
    main()
