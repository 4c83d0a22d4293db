#!/usr/bin/python3
"""PyTorch DistributedDataParallel peer of vae-train's data-parallel trainer,
for the scaling benchmark.

The model, loss and IDX reading are bench/pytorch_vae.py's (784-400-20 by
default, BCE(reduction='sum') + KL, Adam lr 1e-3), imported from it. Run it
through scripts/torchrun (Debian 12's own torchrun crashes at start), with
Debian's torch (1.13, Gloo only):

    scripts/torchrun --nproc_per_node 2 bench/ddp_vae.py \\
        --data /usr/share/datasets/fashion-mnist --epochs 2 --threads 1

Semantics, as in the C++ trainer:
  * --batch-size is the GLOBAL batch. Each epoch every rank draws the same
    permutation (a torch.Generator seeded with seed + epoch), cuts it into
    global batches (the last one short), and rank r of W takes rows
    [G*r//W, G*(r+1)//W) of each global batch of G rows.
  * Each rank's loss is the sum over its slice, and a DDP comm hook SUMS the
    gradients across ranks (DDP's default averages), so each step is the
    1-process step on the global batch, up to float summation order.
  * Model init is the same on all ranks (seeded with --seed; DDP also
    broadcasts rank 0's parameters). The reparameterisation noise does not
    depend on W (as the C++ trainer's): every rank draws it for the whole
    global batch from a generator in the same state on all ranks and keeps
    its slice's rows, so image i of a batch gets the same noise for any W.
  * Test loss: each rank evaluates a contiguous share of the test set (one z
    per image, as pytorch_vae.py, drawn the same way from a generator seeded
    with seed + epoch) and the sums are all_reduced; nats per image.

Rank 0 prints one JSON line per epoch: epoch, world_size, threads, seconds
(wall clock of the training loop only), train_loss and test_loss (nats per
image, summed over ranks), and allreduce_share: an ESTIMATE (so marked by
"allreduce_share_estimated": true) of the fraction of training time spent in
the gradient all-reduce: dist.all_reduce on one flat tensor of the parameters'
size, timed a few times after the epoch, times the number of steps, over
seconds (DDP's real all-reduce is bucketed and overlaps the backward pass).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_vae import VAE, find, loss_function, read_idx  # noqa: E402


def sum_hook(state, bucket):
    """DDP comm hook: all-reduce the bucket as a SUM (no division by W)."""
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def load(dir_, stem):
    x = torch.from_numpy(read_idx(find(dir_, stem)).copy())
    return x.reshape(len(x), -1).float() / 255


def allreduce_seconds(n, reps=5):
    """Mean seconds of one all_reduce of n float32 values (after a warm-up)."""
    buf = torch.zeros(n)
    dist.all_reduce(buf)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(reps):
        dist.all_reduce(buf)
    return (time.perf_counter() - t0) / reps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", "--data-dir", dest="data", required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128, help="global batch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, nargs="*", default=[400])
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo")  # env:// from torchrun
    rank, world = dist.get_rank(), dist.get_world_size()

    train = load(a.data, "train-images-idx3-ubyte")
    test = load(a.data, "t10k-images-idx3-ubyte")
    test_lo, test_hi = len(test) * rank // world, len(test) * (rank + 1) // world
    test_mine = test[test_lo:test_hi]

    torch.manual_seed(a.seed)  # same init on every rank
    noise = torch.Generator().manual_seed(a.seed)  # same state on every rank
    model = DDP(VAE(a.hidden, a.latent))
    model.register_comm_hook(None, sum_hook)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    n_params = sum(q.numel() for q in model.parameters())

    for epoch in range(1, a.epochs + 1):
        gen = torch.Generator().manual_seed(a.seed + epoch)
        perm = torch.randperm(len(train), generator=gen)
        model.train()
        total, steps = 0.0, 0
        dist.barrier()
        t0 = time.perf_counter()
        for idx in perm.split(a.batch_size):
            g = len(idx)
            lo, hi = g * rank // world, g * (rank + 1) // world
            x = train[idx[lo:hi]]
            eps = torch.randn(g, a.latent, generator=noise)[lo:hi]
            opt.zero_grad()
            recon, mu, log_var = model(x, eps)
            loss = loss_function(recon, x, mu, log_var)
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
        secs = time.perf_counter() - t0

        model.eval()
        test_gen = torch.Generator().manual_seed(a.seed + epoch)
        test_eps = torch.randn(len(test), a.latent, generator=test_gen)[test_lo:test_hi]
        with torch.no_grad():
            test_total = 0.0
            for x, eps in zip(test_mine.split(1000), test_eps.split(1000)):
                recon, mu, log_var = model.module(x, eps)
                test_total += loss_function(recon, x, mu, log_var).item()
        sums = torch.tensor([total, test_total], dtype=torch.float64)
        dist.all_reduce(sums)
        share = steps * allreduce_seconds(n_params) / secs
        if rank == 0:
            print(json.dumps({"epoch": epoch, "world_size": world, "threads": a.threads,
                              "seconds": secs, "train_loss": sums[0].item() / len(train),
                              "test_loss": sums[1].item() / len(test),
                              "allreduce_share": share, "allreduce_share_estimated": True}),
                  flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
