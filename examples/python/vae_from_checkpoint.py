#!/usr/bin/env python3
"""Open a vae checkpoint in Python PyTorch, without the C++ tools.

A checkpoint (run/checkpoints/last.pt) is a TorchScript archive:
torch.jit.load reads it. Its parameters are named like the guide's PyTorch
module (encoder.fc1.weight, ..., decoder.fc6.bias) and its config is kept as
TOML text, so the equivalent nn.Module below is built from the config and
loaded with load_state_dict(strict=True).

    python3 examples/python/vae_from_checkpoint.py runs/mnist_vae/checkpoints/last.pt \\
        --data-dir data/mnist --split test --out mu.npy    # the means vae-encode writes
    python3 examples/python/vae_from_checkpoint.py CKPT --sample 16 --out x.npy

Needs python3-torch and python3-numpy (Debian), and Python 3.11 for tomllib.
"""
import argparse
import gzip
import os
import struct
import sys
import tomllib

import numpy as np
import torch
from torch import nn


GAUSSIAN_KINDS = ("vae", "info_vae")      # heads fc_mean and fc_sd
LINEAR_CODE_KINDS = ("rae", "wae", "vq_vae")  # fc_code without an activation


def dense(module, name, h, activation):
    """One dense layer of model.activation: relu, tanh, or gated (fcN * sigmoid(fcN_gate))."""
    a = getattr(module, name)(h)
    if activation == "tanh":
        return torch.tanh(a)
    if activation == "gated":
        return a * torch.sigmoid(getattr(module, name + "_gate")(h))
    return torch.relu(a)


def add_dense(module, name, a, b, activation):
    setattr(module, name, nn.Linear(a, b))
    if activation == "gated":
        setattr(module, name + "_gate", nn.Linear(a, b))


class Encoder(nn.Module):
    """x [B, D] -> (mu, log_var): fc1..fcK of model.activation, then the two
    heads (log-variances clamped to [-6, 2] with model.bounded_log_var).

    For the autoencoder kinds the heads are one code layer, fc_code, and the
    result is (code, None): a ReLU for ae and denoising_ae (a sigmoid for
    sparse_ae with sparsity "kl"), none for rae, wae and vq_vae.
    """

    def __init__(self, d, hidden, latent, kind="vae", sparsity="l1", activation="relu", bounded_log_var=False):
        super().__init__()
        widths = [d] + hidden
        self.activation, self.bounded = activation, bounded_log_var
        self.hidden = [f"fc{i + 1}" for i in range(len(hidden))]
        for name, (a, b) in zip(self.hidden, zip(widths, widths[1:])):
            add_dense(self, name, a, b, activation)
        self.variational = kind in GAUSSIAN_KINDS
        if self.variational:
            self.fc_mean = nn.Linear(widths[-1], latent)
            self.fc_sd = nn.Linear(widths[-1], latent)  # gives log_var, as in the guide
        else:
            self.fc_code = nn.Linear(widths[-1], latent)
            self.code_activation = (torch.sigmoid if kind == "sparse_ae" and sparsity == "kl"
                                    else (lambda t: t) if kind in LINEAR_CODE_KINDS else torch.relu)

    def forward(self, x):
        h = x
        for name in self.hidden:
            h = dense(self, name, h, self.activation)
        if not self.variational:
            return self.code_activation(self.fc_code(h)), None
        log_var = self.fc_sd(h)
        return self.fc_mean(h), log_var.clamp(-6, 2) if self.bounded else log_var


class Decoder(nn.Module):
    """z [B, Z] -> logits [B, D]: fc(K+2)..fc(2K+2), model.activation between, no sigmoid."""

    def __init__(self, d, hidden, latent, activation="relu"):
        super().__init__()
        k = len(hidden)
        widths = [latent] + hidden[::-1] + [d]
        self.activation = activation
        self.layers = [f"fc{k + 2 + i}" for i in range(k + 1)]
        for i, (name, (a, b)) in enumerate(zip(self.layers, zip(widths, widths[1:]))):
            if i + 1 < len(self.layers):
                add_dense(self, name, a, b, activation)
            else:
                setattr(self, name, nn.Linear(a, b))  # the logits: no gate

    def forward(self, z):
        h = z
        for i, name in enumerate(self.layers):
            h = dense(self, name, h, self.activation) if i + 1 < len(self.layers) else getattr(self, name)(h)
        return h


class VAE(nn.Module):
    """The guide's VAE: encoder, reparameterized sampling, decoder. For
    model.kind = vq_vae also the codebook [K, code_dim]: each position of
    code_dim numbers of the code is replaced by its nearest row."""

    def __init__(self, d, hidden, latent, kind="vae", sparsity="l1", activation="relu", bounded_log_var=False,
                 codebook_size=0, code_dim=0):
        super().__init__()
        self.encoder = Encoder(d, hidden, latent, kind, sparsity, activation, bounded_log_var)
        self.decoder = Decoder(d, hidden, latent, activation)
        self.code_dim = code_dim
        if kind == "vq_vae":
            self.codebook = nn.Parameter(torch.zeros(codebook_size, code_dim))

    def sampling(self, mu, log_var):
        return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)

    def quantize(self, z_e):
        """(z_q [B, Z], indices [B, positions]): the nearest codebook row per position."""
        flat = z_e.reshape(-1, self.code_dim)
        e = self.codebook
        idx = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)).argmin(1)
        return e[idx].reshape(z_e.shape), idx.reshape(len(z_e), -1)

    def code(self, x):
        """What vae-encode writes: the posterior mean, the code, or a VQ-VAE's quantized code."""
        mu, _ = self.encoder(x.flatten(1))
        return self.quantize(mu)[0] if hasattr(self, "codebook") else mu

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))

    def forward(self, x):
        mu, log_var = self.encoder(x.flatten(1))
        z = mu if log_var is None else self.sampling(mu, log_var)
        if hasattr(self, "codebook"):
            z = self.quantize(z)[0]
        return self.decoder(z), mu, log_var


def load_vae(path):
    """Returns (VAE with the checkpoint's weights, config dict, TorchScript archive)."""
    archive = torch.jit.load(path, map_location="cpu")
    if getattr(archive, "vae_format", None) != "vae-checkpoint":
        raise ValueError(f"{path}: not a vae checkpoint")
    cfg = tomllib.loads(archive.config)
    m = cfg["model"]
    if m.get("arch", "mlp") != "mlp":
        raise ValueError(f"{path}: model.arch = {m['arch']}: this example builds the MLP only; "
                         "the weights are in torch.jit.load(path).state_dict()")
    if m.get("conditional", False):
        raise ValueError(f"{path}: model.conditional = true: this example builds the unconditional "
                         "models only; the weights are in torch.jit.load(path).state_dict()")
    kind = m.get("kind", "vae")
    model = VAE(m["image_channels"] * m["image_height"] * m["image_width"] if "image_channels" in m
                else m["image_height"] * m["image_width"], list(m["hidden"]), m["latent"],
                kind, m.get("sparsity", "l1"), m.get("activation", "relu"), m.get("bounded_log_var", False),
                m.get("codebook_size", 512), m.get("code_dim", 16))
    keep = ("encoder.", "decoder.") + (("codebook",) if kind == "vq_vae" else ())
    state = {k: v for k, v in archive.state_dict().items() if k.startswith(keep) and k != "codebook_initialized"}
    model.load_state_dict(state, strict=True)  # every name and shape must match (a pseudo-input or top layer is not read)
    return model.eval(), cfg, archive


def read_idx(path):
    """An IDX file (raw or .gz) as a uint8 or int64 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def find_idx(data_dir, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    raise FileNotFoundError(f"{data_dir}: neither {stem} nor {stem}.gz")


def model_inputs(images, binarize):
    """uint8 [N, H, W] -> float32 [N, D] as the tools feed the model."""
    if binarize == "static":
        images = np.where(images >= 128, 255, 0).astype(np.uint8)
    elif binarize == "dynamic":
        raise SystemExit("data.binarize = dynamic: the tools score one fixed Bernoulli draw of the test set, "
                         "made by LibTorch's generator; use vae-encode's output for such runs")
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--data-dir", help="IDX folder (default: the checkpoint's data.dir)")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--sample", type=int, default=0, help="decode this many z ~ N(0, I) instead of encoding")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help=".npy: latent means or codes [N, Z], or samples [n, H, W]")
    a = p.parse_args()

    model, cfg, _ = load_vae(a.checkpoint)
    with torch.inference_mode():
        if a.sample:
            m = cfg["model"]
            if m.get("kind", "vae") not in ("vae", "info_vae", "wae"):
                raise SystemExit(f"{a.checkpoint}: model.kind = {m['kind']} has no prior to sample from")
            if m.get("prior", "standard") != "standard" or m.get("top_latent", 0) > 0:
                raise SystemExit(f"{a.checkpoint}: its prior is not N(0, I) (a VampPrior or a second stochastic "
                                 "layer): sample it with vae-sample")
            torch.manual_seed(a.seed)
            z = torch.randn(a.sample, cfg["model"]["latent"])
            out = model.decode(z).reshape(a.sample, cfg["model"]["image_height"], cfg["model"]["image_width"])
        else:
            stem = "train-images-idx3-ubyte" if a.split == "train" else "t10k-images-idx3-ubyte"
            images = read_idx(find_idx(a.data_dir or cfg["data"]["dir"], stem))
            x = model_inputs(images, cfg["data"].get("binarize", "none"))
            out = torch.cat([model.code(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    np.save(a.out, out.numpy())
    print(f"wrote {tuple(out.shape)} to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
