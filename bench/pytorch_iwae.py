#!/usr/bin/env python3
"""The binarized-MNIST VAE and IWAE recipes in Python PyTorch, as the speed
reference for vae-train (configs/binarized_mnist_vae.toml and
configs/binarized_mnist_iwae.toml).

The model is vae-train's MLP VAE (bench/pytorch_vae.py's class): ReLU hidden
layers (--hidden), heads fc_mean and fc_sd (log-variance), latent --latent, a
decoder mirroring the hidden layers that ends in 784 logits, Bernoulli
likelihood (binary_cross_entropy_with_logits, summed over pixels). With
--k 1 the training loss is the negative ELBO (BCE + analytic KL); with
--k K > 1 it is the negative IWAE bound with K samples per image:
-sum_b [logsumexp_k log w_kb - log K], log w = log p(x|z) + log N(z; 0, I)
- log N(z; mu, exp(log_var)), the noise drawn as [B, K, Z] and transposed to
[K, B, Z] (as vae-train draws it) and the log weights summed in float64 (as
vae-train does). Adam, the whole training set in one float tensor, a randperm
per epoch.

Reads Larochelle's binarized_mnist_{train,test}.amat(.gz) from --data-dir.
Prints a first JSON line {"torch", "threads"}, then one JSON object per epoch:
train_loss (the training objective, nats per image), test_loss (negative ELBO
with one z per test image, nats per image), seconds (training only).
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_vae import VAE, find  # noqa: E402

PIXELS = 784
LOG_2PI = math.log(2 * math.pi)


def read_amat(path):
    """[N, 784] uint8 of 0/1 from an .amat(.gz): N lines of 784 space-separated
    0/1 values. The files' lines are exactly 1568 bytes ("0 1 ... 0\\n"), read
    straight from the bytes; anything else goes through a general parse."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    line = 2 * PIXELS
    if len(data) % line == 0:
        rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, line)
        if (rows[:, -1] == ord("\n")).all() and (rows[:, 1:-1:2] == ord(" ")).all():
            x = rows[:, 0::2] - ord("0")
            if (x <= 1).all():
                return x
    lines = [l.split() for l in data.splitlines() if l.strip()]
    if any(len(l) != PIXELS for l in lines):
        sys.exit(f"{path}: a line without {PIXELS} values")
    x = np.array(lines, dtype=np.float32)
    if not np.isin(x, (0.0, 1.0)).all():
        sys.exit(f"{path}: a value other than 0 or 1")
    return x.astype(np.uint8)


def encode(model, x):
    h = model.enc(x)
    return model.fc_mean(h), model.fc_sd(h)


def log_px(logits, x):
    """log p(x | z) under the Bernoulli decoder, summed over pixels."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def neg_elbo(model, x):
    """Summed over the batch: BCE with one z per image + analytic KL."""
    mu, log_var = encode(model, x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return -log_px(model.dec(z), x).sum() + kl


def neg_iwae(model, x, k):
    """Summed over the batch: -[logsumexp_k log w - log k]."""
    mu, log_var = encode(model, x)
    b, zd = mu.shape
    eps = torch.randn(b, k, zd).transpose(0, 1)  # [k, B, Z]
    mu_, lv_ = mu.unsqueeze(0), log_var.unsqueeze(0)
    z = mu_ + eps * torch.exp(0.5 * lv_)
    logits = model.dec(z.reshape(k * b, zd)).reshape(k, b, -1)
    log_pz = (-0.5 * (LOG_2PI + z.pow(2))).sum(-1)
    log_qz = (-0.5 * (LOG_2PI + lv_ + (z - mu_).pow(2) * torch.exp(-lv_))).sum(-1)
    log_w = (log_px(logits, x.unsqueeze(0).expand_as(logits)) + log_pz - log_qz).double()  # [k, B]
    bound = torch.logsumexp(log_w, 0) - math.log(k)
    return (-bound.sum()).float()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--hidden", type=int, nargs="*", default=[400])
    p.add_argument("--latent", type=int, default=40)
    p.add_argument("--k", type=int, default=1, help="importance samples in training (1: the ELBO)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=0, help="use only the first N training images")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: leave torch's default)")
    a = p.parse_args()
    if a.k < 1:
        sys.exit("--k must be at least 1")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train = read_amat(find(a.data_dir, "binarized_mnist_train.amat"))
    test = read_amat(find(a.data_dir, "binarized_mnist_test.amat"))
    if a.train_limit > 0:
        train = train[:a.train_limit]
    train = torch.from_numpy(np.ascontiguousarray(train)).float()
    test = torch.from_numpy(np.ascontiguousarray(test)).float()
    model = VAE(a.hidden, a.latent, x_dim=PIXELS)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step = (lambda x: neg_elbo(model, x)) if a.k == 1 else (lambda x: neg_iwae(model, x, a.k))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total = 0.0
        for idx in torch.randperm(len(train)).split(a.batch_size):
            x = train[idx]
            opt.zero_grad()
            loss = step(x)
            loss.backward()
            total += loss.item()
            opt.step()
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            test_loss = sum(neg_elbo(model, x).item() for x in test.split(1000))
        print(json.dumps({"epoch": epoch, "train_loss": total / len(train),
                          "test_loss": test_loss / len(test), "seconds": secs}), flush=True)


if __name__ == "__main__":
    main()
