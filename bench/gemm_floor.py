#!/usr/bin/env python3
"""The matrix-product floor of each binarized-MNIST recipe's training step.

Times, on one thread, only the GEMMs a step of the recipe must do (each dense
layer's forward product, the gradient to its input where one is needed, and
the gradient to its weights) with the recipe's shapes, and multiplies by the
steps in an epoch (50,000 images). No implementation that computes the same
gradients of the same model can train an epoch faster than this with these
BLAS kernels; set beside vae-train's and Python's seconds per epoch
(docs/BENCHMARKS.md, bench/compare_python_zoo.sh) it says how much of the
epoch is left to save by anything else.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/gemm_floor.py
Prints one JSON object per recipe: gemm_seconds_per_epoch, steps.
"""
import json
import time

import torch

TRAIN = 50000


def dense(rows, widths, input_grad=True, gated=False):
    """(rows, in, out, needs input gradient) for a stack of widths[0] -> ..."""
    out = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        for _ in range(2 if gated else 1):
            out.append((rows, a, b, input_grad or i > 0))
    return out


def heads(rows, d, z):
    return [(rows, d, z, True), (rows, d, z, True)]  # mean and log-variance


def recipes():
    r = {}
    b = 100  # VAE 784-400-40
    r["vae"] = (b, dense(b, [784, 400], False) + heads(b, 400, 40) + dense(b, [40, 400, 784]))
    b, k = 20, 50  # IWAE 784-200-200-50, decoder on k * b rows
    r["iwae"] = (b, dense(b, [784, 200, 200], False) + heads(b, 200, 50) + dense(b * k, [50, 200, 200, 784]))
    b, kp = 100, 500  # VampPrior: the encoder on the batch and on the 500 pseudo-inputs (which learn)
    enc = lambda rows, grad: dense(rows, [784, 300, 300], grad, gated=True) + heads(rows, 300, 40)
    r["vamp"] = (b, enc(b, False) + enc(kp, True) + dense(b, [40, 300, 300], gated=True) + dense(b, [300, 784]))
    def two_layer(b, k):
        n = b * k  # z1 and everything after it: k draws per image
        return (dense(b, [784, 200, 200], False) + heads(b, 200, 100) + dense(n, [100, 100, 100]) + heads(n, 100, 50)
                + dense(n, [50, 100, 100]) + heads(n, 100, 100) + dense(n, [100, 200, 200, 784]))
    r["vae2"] = (20, two_layer(20, 1))
    r["iwae2"] = (20, two_layer(20, 50))
    return r


def timed(f, reps):
    f()
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best.append(time.perf_counter() - t0)
    best.sort()
    return best[len(best) // 2]


def main():
    torch.set_num_threads(1)
    for name, (batch, layers) in recipes().items():
        step = 0.0
        for rows, a, b, input_grad in layers:
            x, w, g = torch.randn(rows, a), torch.randn(b, a), torch.randn(rows, b)
            step += timed(lambda: x @ w.T, 20)          # forward
            step += timed(lambda: g.T @ x, 20)          # weight gradient
            if input_grad:
                step += timed(lambda: g @ w, 20)        # input gradient
        steps = TRAIN // batch
        print(json.dumps({"recipe": name, "gemm_seconds_per_epoch": round(step * steps, 2), "steps": steps}),
              flush=True)


if __name__ == "__main__":
    main()
