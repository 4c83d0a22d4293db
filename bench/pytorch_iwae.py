#!/usr/bin/env python3
"""The binarized-MNIST VAE and IWAE recipes in Python PyTorch, as the speed
reference for vae-train (configs/binarized_mnist_vae.toml and
configs/binarized_mnist_iwae.toml).

The model is vae-train's MLP VAE: hidden layers (--hidden) of --activation
(relu, tanh, or the VampPrior paper's gated layers), heads for the mean and
log-variance (clamped to [-6, 2] with --bounded-log-var), latent --latent, a
decoder mirroring the hidden layers that ends in 784 logits, Bernoulli
likelihood (binary_cross_entropy_with_logits, summed over pixels). Its prior
is N(0, I), a VampPrior (--vamp K pseudo-inputs), or a second stochastic
layer (--top-latent, --top-hidden: the IWAE paper's two-layer model); those
two take their KL by Monte Carlo, as vae-train does. With
--k 1 the training loss is the negative ELBO (BCE + analytic KL); with
--k K > 1 it is the negative IWAE bound with K samples per image:
-sum_b [logsumexp_k log w_kb - log K], log w = log p(x|z) + log N(z; 0, I)
- log N(z; mu, exp(log_var)), the noise drawn as [B, K, Z] and transposed to
[K, B, Z] (as vae-train draws it) and the log weights summed in float64 (as
vae-train does). Adam, the whole training set in one float tensor, a randperm
per epoch.

--kind wae, info_vae, rae_gp, rae_l2 and vq_vae swap the objective for those of
vae-train's kinds (vq_vae: a codebook of --codebook-size vectors of
--code-dim numbers, straight-through, commitment --commitment, the codebook
set from the first batch's codes and vectors unused for --restart-steps
steps restarted on codes of the batch, as vae-train does).

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

import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_vae import find  # noqa: E402

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


class Gated(nn.Module):
    """The VampPrior paper's gated dense layer: (W x + b) * sigmoid(V x + c)."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.fc, self.gate = nn.Linear(d_in, d_out), nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.fc(x) * torch.sigmoid(self.gate(x))


def stack(widths, d, activation):
    """Dense layers of `widths` from d inputs, each with the activation."""
    layers = []
    for h in widths:
        if activation == "gated":
            layers.append(Gated(d, h))
        else:
            layers += [nn.Linear(d, h), nn.Tanh() if activation == "tanh" else nn.ReLU()]
        d = h
    return nn.Sequential(*layers), d


class GaussianNet(nn.Module):
    """v -> dense stack -> (mean, log-variance), clamped to [-6, 2] if bounded."""

    def __init__(self, widths, d_in, d_out, activation, bounded, deterministic=False):
        super().__init__()
        self.body, d = stack(widths, d_in, activation)
        self.mean = nn.Linear(d, d_out)
        self.sd = None if deterministic else nn.Linear(d, d_out)  # a code layer alone (wae, rae)
        self.bounded = bounded

    def forward(self, v):
        h = self.body(v)
        if self.sd is None:
            return self.mean(h), None
        lv = self.sd(h)
        return self.mean(h), lv.clamp(-6, 2) if self.bounded else lv


class Model(nn.Module):
    """vae-train's models of the benchmark: q(z1|x) and p(x|z1) of the given
    widths and activation; a VampPrior over `vamp` pseudo-inputs, or a second
    stochastic layer q(z2|z1), p(z1|z2) of top_hidden widths, or N(0, I)."""

    def __init__(self, a):
        super().__init__()
        self.encoder = GaussianNet(a.hidden, PIXELS, a.latent, a.activation, a.bounded_log_var,
                                   deterministic=a.kind in ("wae", "rae_gp", "rae_l2", "vq_vae"))
        body, d = stack(list(reversed(a.hidden)), a.latent, a.activation)
        self.dec = nn.Sequential(*body, nn.Linear(d, PIXELS))
        self.top = None
        self.pseudo = None
        if a.vamp > 0:
            self.pseudo = nn.Parameter(torch.randn(a.vamp, PIXELS) * 0.01 + 0.05)
        if a.top_latent > 0:
            self.top = nn.ModuleDict({
                "q": GaussianNet(a.top_hidden, a.latent, a.top_latent, a.activation, a.bounded_log_var),
                "p": GaussianNet(list(reversed(a.top_hidden)), a.top_latent, a.latent, a.activation,
                                 a.bounded_log_var)})

        if a.kind == "vq_vae":  # U(-1/K, 1/K), replaced by the first batch's codes, as vae-train does
            k = a.codebook_size
            self.codebook = nn.Parameter(torch.rand(k, a.code_dim) * (2 / k) - 1 / k)
            self.register_buffer("steps_unused", torch.zeros(k, dtype=torch.long))
            self.initialized = False

    def width(self):
        return self.encoder.mean.out_features + (self.top["q"].mean.out_features if self.top else 0)


def log_n(z, m, lv):
    return (-0.5 * (LOG_2PI + lv + (z - m).pow(2) * torch.exp(-lv))).sum(-1)


def log_prior(model, z, top_eps):
    """log p(z1), or a two-layer model's one-sample weight of it."""
    if model.pseudo is not None:
        pm, plv = model.encoder(model.pseudo.clamp(0, 1))  # [K, Z]
        # log N(z; pm_k, plv_k) for every z and k as matrix products (vae-train's
        # arithmetic, so the two compare implementations, not algorithms).
        inv = torch.exp(-plv)
        const = (LOG_2PI + plv + pm.pow(2) * inv).sum(-1)
        flat = z.reshape(-1, z.shape[-1])
        log_nk = -0.5 * (const - 2 * flat @ (pm * inv).T + flat.pow(2) @ inv.T)
        return (torch.logsumexp(log_nk, -1) - math.log(pm.shape[0])).reshape(z.shape[:-1])
    if model.top is not None:
        m2, lv2 = model.top["q"](z)
        z2 = m2 + top_eps * torch.exp(0.5 * lv2)
        m1, lv1 = model.top["p"](z2)
        return log_n(z, m1, lv1) + (-0.5 * (LOG_2PI + z2.pow(2))).sum(-1) - log_n(z2, m2, lv2)
    return (-0.5 * (LOG_2PI + z.pow(2))).sum(-1)


def log_px(logits, x):
    """log p(x | z) under the Bernoulli decoder, summed over pixels."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def log_weights(model, x, k):
    """log w [k, B] = log p(x|z1) + log p(z1) - log q(z1|x), the noise drawn as
    [B, k, width] and transposed to [k, B, width] (as vae-train draws it)."""
    mu, log_var = model.encoder(x)
    b, zd = mu.shape
    eps = torch.randn(b, k, model.width()).transpose(0, 1)
    mu_, lv_ = mu.unsqueeze(0), log_var.unsqueeze(0)
    z = mu_ + eps[..., :zd] * torch.exp(0.5 * lv_)
    logits = model.dec(z.reshape(k * b, zd)).reshape(k, b, -1)
    return log_px(logits, x.unsqueeze(0).expand_as(logits)) + log_prior(model, z, eps[..., zd:]) - log_n(z, mu_, lv_)


def neg_elbo(model, x):
    """Summed over the batch: BCE with one z per image + the KL, analytic for
    N(0, I) with one layer, else by Monte Carlo at that z."""
    if model.pseudo is not None or model.top is not None:
        return -log_weights(model, x, 1).sum()
    mu, log_var = model.encoder(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return -log_px(model.dec(z), x).sum() + kl


def mmd(z):
    """The unbiased MMD^2 between the codes z [n, Z] and n draws from N(0, I),
    IMQ kernel summed over the WAE paper's scales, C = 2 Z."""
    n, d = z.shape
    p = torch.randn_like(z)
    c = 2.0 * d

    def k(a, b):
        d2 = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.T).clamp(min=0)
        return sum(s * c / (s * c + d2) for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))

    def off_diagonal_mean(m):
        return (m.sum() - m.diagonal().sum()) / (n * (n - 1))

    return off_diagonal_mean(k(z, z)) + off_diagonal_mean(k(p, p)) - 2 * k(z, p).sum() / (n * n)


def wae_loss(model, x, a):
    z, _ = model.encoder(x)
    return -log_px(model.dec(z), x).sum() + len(x) * a.mmd_weight * mmd(z)


def info_vae_loss(model, x, a):
    mu, log_var = model.encoder(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return -log_px(model.dec(z), x).sum() + kl + len(x) * a.mmd_weight * mmd(z)


def rae_gp_loss(model, x, a):
    z, _ = model.encoder(x)
    logits = model.dec(z)
    g = torch.autograd.grad(torch.sigmoid(logits).sum(), z, create_graph=True)[0]
    return (-log_px(logits, x).sum() + 0.5 * a.rae_code_weight * z.pow(2).sum() + a.rae_gp_weight * g.pow(2).sum())


def rae_l2_loss(model, x, a):
    """RAE-L2: the code's L2 and the decoder's decay as vae-train sums them (B * decay * |theta|^2 / 2)."""
    z, _ = model.encoder(x)
    decay = sum(p.pow(2).sum() for p in model.dec.parameters())
    return (-log_px(model.dec(z), x).sum() + 0.5 * a.rae_code_weight * z.pow(2).sum()
            + 0.5 * a.rae_decoder_decay * len(x) * decay)


def random_codes(flat, k):
    """k rows of flat [n, D], distinct where n >= k."""
    n = flat.shape[0]
    pick = torch.randperm(n)[:k] if n >= k else torch.randint(n, (k,))
    return flat[pick]


def quantize(model, z):
    """The nearest codebook row to each position of z [B, Z] -> (z_q, indices [B * P])."""
    e = model.codebook
    flat = z.reshape(-1, e.shape[1])
    with torch.no_grad():
        idx = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)).argmin(1)
    return e[idx].reshape(z.shape), idx


def vq_vae_loss(model, x, a):
    """vae-train's vq_vae step: the first batch's codes as the codebook, the
    straight-through decoder pass, the codebook and commitment terms, and
    the restart of vectors unused for restart_steps steps."""
    z, _ = model.encoder(x)
    e = model.codebook
    if not model.initialized:
        with torch.no_grad():
            e.copy_(random_codes(z.reshape(-1, e.shape[1]), e.shape[0]))
        model.initialized = True
    zq, idx = quantize(model, z)
    st = z + (zq - z).detach()
    loss = (-log_px(model.dec(st), x).sum() + (zq - z.detach()).pow(2).sum()
            + a.commitment * (z - zq.detach()).pow(2).sum())
    with torch.no_grad():
        used = torch.bincount(idx, minlength=e.shape[0]) > 0
        model.steps_unused.add_(1).masked_fill_(used, 0)
        dead = (model.steps_unused > a.restart_steps).nonzero().flatten()
        if len(dead):
            e[dead] = random_codes(z.reshape(-1, e.shape[1]), len(dead))
            model.steps_unused[dead] = 0
    return loss


def vq_recon(model, x):
    z, _ = model.encoder(x)
    return -log_px(model.dec(quantize(model, z)[0]), x).sum()


def code_recon(model, x):
    """A deterministic code's test loss: the reconstruction error from it."""
    z, _ = model.encoder(x)
    return -log_px(model.dec(z), x).sum()


def neg_iwae(model, x, k):
    """Summed over the batch: -[logsumexp_k log w - log k], in float64."""
    bound = torch.logsumexp(log_weights(model, x, k).double(), 0) - math.log(k)
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
    p.add_argument("--kind", choices=["vae", "wae", "info_vae", "rae_gp", "rae_l2", "vq_vae"], default="vae")
    p.add_argument("--codebook-size", type=int, default=64, help="vq_vae: vectors in the codebook")
    p.add_argument("--code-dim", type=int, default=4, help="vq_vae: numbers per vector (latent / code_dim positions)")
    p.add_argument("--commitment", type=float, default=0.25, help="vq_vae: the commitment term's weight")
    p.add_argument("--restart-steps", type=int, default=100, help="vq_vae: restart vectors unused this long")
    p.add_argument("--mmd-weight", type=float, default=10.0, help="wae, info_vae: the MMD penalty's weight per image")
    p.add_argument("--rae-code-weight", type=float, default=1e-4)
    p.add_argument("--rae-gp-weight", type=float, default=1e-3)
    p.add_argument("--rae-decoder-decay", type=float, default=1e-7)
    p.add_argument("--activation", choices=["relu", "tanh", "gated"], default="relu")
    p.add_argument("--bounded-log-var", action="store_true", help="clamp log-variances to [-6, 2]")
    p.add_argument("--vamp", type=int, default=0, help="a VampPrior with this many pseudo-inputs")
    p.add_argument("--top-hidden", type=int, nargs="*", default=[100, 100])
    p.add_argument("--top-latent", type=int, default=0, help="a second stochastic layer of this size")
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
    model = Model(a)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step = (lambda x: neg_elbo(model, x)) if a.k == 1 else (lambda x: neg_iwae(model, x, a.k))
    if a.kind != "vae":
        step = {"wae": wae_loss, "info_vae": info_vae_loss, "rae_gp": rae_gp_loss, "rae_l2": rae_l2_loss,
                "vq_vae": vq_vae_loss}[a.kind]
        step = (lambda f: lambda x: f(model, x, a))(step)
    test_step = (lambda x: code_recon(model, x)) if a.kind in ("wae", "rae_gp", "rae_l2") else (lambda x: neg_elbo(model, x))
    if a.kind == "vq_vae":
        test_step = lambda x: vq_recon(model, x)
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
            test_loss = sum(test_step(x).item() for x in test.split(1000))
        print(json.dumps({"epoch": epoch, "train_loss": total / len(train),
                          "test_loss": test_loss / len(test), "seconds": secs}), flush=True)


if __name__ == "__main__":
    main()
