#!/usr/bin/env python3
"""The Python peer of vae-train's image-folder source: torchvision's
ImageFolder (PIL decode of every PNG, every epoch) behind a shuffling
DataLoader, as a PyTorch user would load the same folder.

    /usr/bin/python3 bench/torchvision_folder.py --root DIR [--epochs 2]
        [--batch-size 128] [--workers 0] [--threads 1] [--train-model]

Reads DIR/train/<class>/*.png (scripts/export-png-folder.py writes one) with
Compose([Grayscale(1), ToTensor()]). Without --train-model each epoch only
loads the batches (and sums them, so every pixel is touched); with it, the
PyTorch example's 784-400-20 VAE (bench/pytorch_vae.py's, BCE sum + KL, Adam
1e-3) trains on them. Prints JSON lines: a header (versions, image count, the
seconds ImageFolder took to list the folder), one line per epoch {"epoch",
"seconds", "images"} (seconds of the loop only), and a summary whose
"first_epoch" is the first pass, with "scan" + "first_epoch" its whole cost.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torchvision
from torchvision import datasets, transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_vae import VAE, train_epoch  # noqa: E402


def load_epoch(loader):
    """Iterates the loader once, touching every batch; returns (images, summed pixels)."""
    images, total = 0, 0.0
    for x, _ in loader:
        images += len(x)
        total += float(x.sum())
    return images, total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, help="image folder holding train/<class>/*.png")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--train-model", action="store_true", help="train the 784-400-20 VAE on the batches")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    t0 = time.perf_counter()
    ds = datasets.ImageFolder(os.path.join(a.root, "train"),
                              transform=transforms.Compose([transforms.Grayscale(1), transforms.ToTensor()]))
    scan = time.perf_counter() - t0
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch_size, shuffle=True, num_workers=a.workers)
    x_dim = ds[0][0].numel()  # 784 for 28x28 greyscale
    print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": a.threads,
                      "workers": a.workers, "mode": "train" if a.train_model else "load", "images": len(ds),
                      "classes": len(ds.classes), "scan": scan}), flush=True)

    if a.train_model:
        model = VAE([400], 20, x_dim=x_dim)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        if a.train_model:
            total = train_epoch(model, opt, (x.view(-1, x_dim) for x, _ in loader))
            row = {"train_loss": total / len(ds)}
        else:
            images, total = load_epoch(loader)
            row = {"pixel_mean": total / (images * x_dim)}
        seconds.append(time.perf_counter() - t0)
        print(json.dumps({"epoch": epoch, "seconds": seconds[-1], "images": len(ds), **row}), flush=True)
    print(json.dumps({"first_epoch": seconds[0], "scan": scan,
                      "later_epochs": statistics.median(seconds[1:]) if len(seconds) > 1 else None}), flush=True)


if __name__ == "__main__":
    main()
