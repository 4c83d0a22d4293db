#!/usr/bin/env python3
"""The PyTorch example's training loop, as users run it: torchvision's dataset
class with ToTensor, a shuffling DataLoader, the example's VAE, loss and Adam.

The model, loss and optimizer are bench/pytorch_vae.py's (784-400-20 by
default, or --hidden 512 256 --latent 2); only the data path differs: here
every batch is built by the DataLoader from PIL images, as in the example.
--root must hold FashionMNIST/raw/ (or MNIST/raw/) with the four
uncompressed IDX files. Prints one JSON object per epoch, training seconds
only, as pytorch_vae.py does.
"""
import argparse
import json
import os
import sys
import time

import torch
from torchvision import datasets, transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_vae import VAE, train_epoch  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--dataset", choices=["FashionMNIST", "MNIST"], default="FashionMNIST")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", type=int, nargs="*", default=[400])
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    ds = getattr(datasets, a.dataset)(a.root, train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch_size, shuffle=True)
    model = VAE(a.hidden, a.latent)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        total = train_epoch(model, opt, (data.view(-1, 784) for data, _ in loader))
        print(json.dumps({"epoch": epoch, "train_loss": total / len(ds),
                          "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
