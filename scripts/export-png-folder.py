#!/usr/bin/env python3
"""Writes an MNIST-format data set (four IDX .gz files) out as an image folder
in torchvision's ImageFolder layout, one greyscale 8-bit PNG per image:

    OUT_DIR/train/<class>/<index>.png   (index within the split, 00000..)
    OUT_DIR/test/<class>/<index>.png

    /usr/bin/python3 scripts/export-png-folder.py SRC_IDX_DIR OUT_DIR [--limit N]
        [--class-names fashion|digits|NAME,NAME,...]

--limit N keeps the first N images of each split. Idempotent: OUT_DIR/.complete,
written last, records the parameters; a second run with the same ones exits at
once, a run with other ones rewrites OUT_DIR/train and OUT_DIR/test.
Fashion-MNIST (70,000 images, 276 MB on disk) takes about 10 s on 2 cores.
"""
import argparse
import gzip
import json
import multiprocessing
import os
import shutil
import struct
import sys

import numpy as np
from PIL import Image

CLASS_NAMES = {
    "fashion": ["t-shirt", "trouser", "pullover", "dress", "coat",
                "sandal", "shirt", "sneaker", "bag", "ankle-boot"],
    "digits": [str(d) for d in range(10)],
}
SPLITS = {"train": "train", "test": "t10k"}  # folder name -> IDX file prefix
kIdxImages, kIdxLabels = 2051, 2049  # IDX magic numbers: uint8 with 3 dims, 1 dim

_images = {}  # split -> (images [N, H, W] uint8, labels [N] uint8); read by the workers after fork


def read_idx(path, magic):
    """The array of one IDX .gz file; exits with the file's name when its header is not `magic`."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    found, = struct.unpack(">I", data[:4])
    if found != magic:
        sys.exit(f"{path}: IDX magic {found}, expected {magic}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        sys.exit(f"{path}: {payload.size} bytes of data, the header {dims} says {int(np.prod(dims))}")
    return payload.reshape(dims)


def write_range(job):
    """Writes images [begin, end) of one split; returns how many."""
    split, begin, end, out_dir, names = job
    images, labels = _images[split]
    for i in range(begin, end):
        path = os.path.join(out_dir, split, names[labels[i]], f"{i:05d}.png")
        Image.fromarray(images[i], mode="L").save(path)
    return end - begin


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="folder with the four MNIST-format IDX .gz files")
    p.add_argument("out", help="image folder to write")
    p.add_argument("--limit", type=int, default=0, help="first N images of each split (0: all)")
    p.add_argument("--class-names", default="fashion",
                   help="fashion, digits, or a comma-separated list of names for labels 0, 1, ...")
    p.add_argument("--processes", type=int, default=2)
    a = p.parse_args()
    names = CLASS_NAMES.get(a.class_names) or a.class_names.split(",")
    params = {"src": os.path.realpath(a.src), "limit": a.limit, "class_names": names}
    done = os.path.join(a.out, ".complete")
    if os.path.exists(done) and json.load(open(done)).get("params") == params:
        return

    if os.path.exists(done):
        os.remove(done)

    jobs, counts = [], {}
    for split, prefix in SPLITS.items():
        images = read_idx(os.path.join(a.src, f"{prefix}-images-idx3-ubyte.gz"), kIdxImages)
        labels = read_idx(os.path.join(a.src, f"{prefix}-labels-idx1-ubyte.gz"), kIdxLabels)
        if len(images) != len(labels):
            sys.exit(f"{a.src}: {split} has {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(names):
            sys.exit(f"{a.src}: label {labels.max()} in {split}, but only {len(names)} class names")
        n = min(a.limit, len(images)) if a.limit > 0 else len(images)
        _images[split] = (images[:n], labels[:n])
        counts[split] = n
        shutil.rmtree(os.path.join(a.out, split), ignore_errors=True)
        for name in names:
            os.makedirs(os.path.join(a.out, split, name))
        step = 2000  # small enough to share the work evenly
        jobs += [(split, b, min(b + step, n), a.out, names) for b in range(0, n, step)]

    with multiprocessing.get_context("fork").Pool(a.processes) as pool:
        written = sum(pool.imap_unordered(write_range, jobs))
    with open(done, "w") as f:
        json.dump({"params": params, "counts": counts}, f)
        f.write("\n")
    print(f"export-png-folder: wrote {written} PNGs ({counts['train']} train, {counts['test']} test) to {a.out}")


if __name__ == "__main__":
    main()
