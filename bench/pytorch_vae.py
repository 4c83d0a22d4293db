#!/usr/bin/env python3
"""The same recipe in Python PyTorch, as the reference for vae-train.

The PyTorch example's VAE (784-400-20 by default, or --hidden 512 256 --latent 2
for the guide's), BCE(reduction='sum') + KL, Adam, batch 128, the whole data
set in one tensor with a randperm per epoch (the example's DataLoader loop is
slower; the loss it reaches is the same). Reads the same IDX .gz files.
Prints one JSON object per epoch: train_loss, test_loss (nats per image, one
z per test image, as the example's test()), seconds (training only).
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
import torch.nn.functional as F
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(dir_, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(dir_, name)):
            return os.path.join(dir_, name)
    sys.exit(f"{dir_}: missing {stem}")


class VAE(nn.Module):
    def __init__(self, hidden, latent, x_dim=784):
        super().__init__()
        enc, d = [], x_dim
        for h in hidden:
            enc += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.enc = nn.Sequential(*enc)
        self.fc_mean = nn.Linear(d, latent)
        self.fc_sd = nn.Linear(d, latent)
        dec, d = [], latent
        for h in reversed(hidden):
            dec += [nn.Linear(d, h), nn.ReLU()]
            d = h
        dec += [nn.Linear(d, x_dim)]
        self.dec = nn.Sequential(*dec)

    def forward(self, x, eps=None):
        """eps: the standard normal noise [B, latent]; drawn here if None."""
        h = self.enc(x)
        mu, log_var = self.fc_mean(h), self.fc_sd(h)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + eps * torch.exp(0.5 * log_var)
        return torch.sigmoid(self.dec(z)), mu, log_var


def loss_function(recon, x, mu, log_var):
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return bce + kl


def train_epoch(model, opt, batches):
    """One epoch of the example's step over `batches` (float [B, 784] each);
    returns the summed training loss. Shared with pytorch_example.py."""
    model.train()
    total = 0.0
    for x in batches:
        opt.zero_grad()
        recon, mu, log_var = model(x)
        loss = loss_function(recon, x, mu, log_var)
        loss.backward()
        total += loss.item()
        opt.step()
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, nargs="*", default=[400])
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    train = torch.from_numpy(read_idx(find(a.data_dir, "train-images-idx3-ubyte")).copy())
    test = torch.from_numpy(read_idx(find(a.data_dir, "t10k-images-idx3-ubyte")).copy())
    train = train.reshape(len(train), -1).float() / 255
    test = test.reshape(len(test), -1).float() / 255
    model = VAE(a.hidden, a.latent)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        total = train_epoch(model, opt, (train[idx] for idx in torch.randperm(len(train)).split(a.batch_size)))
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            test_loss = 0.0
            for x in test.split(1000):
                recon, mu, log_var = model(x)
                test_loss += loss_function(recon, x, mu, log_var).item()
        print(json.dumps({"epoch": epoch, "train_loss": total / len(train),
                          "test_loss": test_loss / len(test), "seconds": secs}), flush=True)


if __name__ == "__main__":
    main()
