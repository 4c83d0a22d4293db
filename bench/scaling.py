#!/usr/bin/python3
"""Data-parallel scaling on this machine, side by side, and a model for many.

Runs the classic 784-400-20 recipe (configs/fashion_mnist_vae_classic.toml,
Fashion-MNIST, global batch 128) for --epochs epochs as: vae-train with
1 process x 2 threads, 2 processes x 1 thread and 4 processes x 1 thread
(under scripts/torchrun), and bench/ddp_vae.py (PyTorch DistributedDataParallel
over Gloo, the same global batch and slicing) with 1 process x 2 threads and
2 processes x 1 thread; --rounds rounds, interleaved. Then times one epoch of
each default model with 1 process x 1 thread for the compute per sample, and
writes both tables into docs/SCALING.md (its "measured" and "model" sections).

    bash bench/scaling.sh [ROUNDS] [EPOCHS]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "build/apps/vae-train")
TORCHRUN = os.path.join(ROOT, "scripts/torchrun")
CLASSIC = os.path.join(ROOT, "configs/fashion_mnist_vae_classic.toml")
DEFAULT = os.path.join(ROOT, "configs/mnist_vae.toml")
PY = "/usr/bin/python3"


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return p


def vae_train(procs, threads, epochs, out, data, config=CLASSIC):
    # LibTorch's own ops on one thread, OpenBLAS's GEMMs on `threads`: the
    # fastest setting of one process here (docs/BENCHMARKS.md); LibTorch's
    # intra-op threads on top of OpenBLAS's oversubscribe 2 cores.
    args = [TRAIN, "--config", config, "--data-dir", data, "--epochs", str(epochs), "--out-dir", out,
            "--force", "--threads", "1", "--blas-threads", str(threads), "--device", "cpu"]
    env = {"OMP_NUM_THREADS": str(threads), "VAE_LOG_LEVEL": "info"}
    if procs > 1:
        args = [TORCHRUN, "--nproc_per_node", str(procs), "--master_port", "29731", "--no_python"] + args
    p = run(args, env)
    lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    shares = [float(a) / float(b) for a, b in re.findall(r"took ([0-9.]+) s of ([0-9.]+) s", p.stderr)]
    return {"seconds": statistics.mean(l["seconds"] for l in lines), "test_loss": lines[-1]["test_loss"],
            "share": statistics.mean(shares) if shares else 0.0}


def ddp(procs, threads, epochs, data):
    p = run([TORCHRUN, "--nproc_per_node", str(procs), "--master_port", "29733",
             os.path.join(ROOT, "bench/ddp_vae.py"), "--data", data, "--epochs", str(epochs),
             "--threads", str(threads)], {"OMP_NUM_THREADS": str(threads)})
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return {"seconds": statistics.mean(l["seconds"] for l in lines), "test_loss": lines[-1]["test_loss"],
            "share": statistics.mean(l.get("allreduce_share", 0.0) for l in lines)}


CASES = [
    ("vae-train, 1 process x 2 threads", lambda e, d, t: vae_train(1, 2, e, t + "/a", d)),
    ("vae-train, 2 processes x 1 thread", lambda e, d, t: vae_train(2, 1, e, t + "/b", d)),
    ("vae-train, 4 processes x 1 thread (oversubscribed)", lambda e, d, t: vae_train(4, 1, e, t + "/c", d)),
    ("PyTorch DDP, 1 process x 2 threads", lambda e, d, t: ddp(1, 2, e, d)),
    ("PyTorch DDP, 2 processes x 1 thread", lambda e, d, t: ddp(2, 1, e, d)),
]


def params(hidden, latent, d=784):
    n, prev = 0, d
    for h in hidden:
        n += prev * h + h
        prev = h
    n += 2 * (prev * latent + latent)
    prev = latent
    for h in reversed(hidden):
        n += prev * h + h
        prev = h
    return n + prev * d + d


def model_section(per_sample, allreduce_measured):
    """Step time of N machines: G c / N + 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) alpha."""
    g, alpha = 128, 25e-6
    out = ["Modelled, not measured: step time T(N) = G c / N + 2 (N-1)/N x bytes / bandwidth + 2 (N-1) alpha,",
           f"a ring all-reduce of the float32 gradient; G = {g} (the global batch), alpha = {alpha * 1e6:.0f} us per",
           "ring hop (an assumed datacenter TCP latency), c = the compute per sample measured here (one core).",
           "Speed-up S(N) = T(1) / T(N); efficiency S(N) / N.", ""]
    for name, (hidden, latent) in {"784-400-20 (classic)": ([400], 20), "784-512-256-2 (default)": ([512, 256], 2)}.items():
        n = params(hidden, latent)
        c = per_sample[name]
        out.append(f"**{name}**: {n:,} gradients ({4 * n / 1e6:.2f} MB), c = {c * 1e6:.1f} us per sample "
                   f"(measured), compute per step {g * c * 1e3:.2f} ms on one core.")
        out.append("")
        out.append("| N | " + " | ".join(f"{b} Gb/s: step ms, speed-up" for b in (10, 25, 100)) + " |")
        out.append("|---:|" + "---:|" * 3)
        for nodes in (2, 4, 8, 16, 32, 64):
            cells = []
            for gbps in (10, 25, 100):
                t1 = g * c
                t = g * c / nodes + 2 * (nodes - 1) / nodes * 4 * n / (gbps * 1e9 / 8) + 2 * (nodes - 1) * alpha
                cells.append(f"{t * 1e3:.2f}, {t1 / t:.1f}x")
            out.append(f"| {nodes} | " + " | ".join(cells) + " |")
        out.append("")
    out.append(f"Measured on this host for comparison: one all-reduce of the classic model's gradients between 2 "
               f"processes over loopback took {allreduce_measured * 1e3:.2f} ms per step (the 2-process run's "
               "summing time divided by its steps).")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    results = {name: [] for name, _ in CASES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, fn in CASES:
                res = fn(a.epochs, a.data, tmp)
                results[name].append(res)
                print(f"round {r + 1}: {name}: {res}", file=sys.stderr)
        per_sample = {
            "784-400-20 (classic)": vae_train(1, 1, 1, tmp + "/m1", a.data)["seconds"] / 60000,
            "784-512-256-2 (default)": vae_train(1, 1, 1, tmp + "/m2", a.data, DEFAULT)["seconds"] / 60000,
        }
    med = {k: {f: statistics.median(x[f] for x in v) for f in ("seconds", "test_loss", "share")} for k, v in results.items()}
    base = med[CASES[0][0]]
    ddp2 = med[CASES[4][0]]
    rows = ["| run | s / epoch | vs 1 x 2 threads | vs PyTorch DDP 2 x 1 | all-reduce share | test loss |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, _ in CASES:
        m = med[name]
        share = f"{100 * m['share']:.0f}%" + (" (est.)" if name.startswith("PyTorch") else "")
        rows.append(f"| {name} | {m['seconds']:.2f} | {m['seconds'] / base['seconds']:.2f} | "
                    f"{m['seconds'] / ddp2['seconds']:.2f} | {share} | {m['test_loss']:.3f} |")
    two = med[CASES[1][0]]
    steps = 469
    measured = "\n".join([
        f"Measured by `bash bench/scaling.sh {a.rounds} {a.epochs}`: {a.epochs} epochs per run, median of "
        f"{a.rounds} interleaved round(s); seconds are training seconds per epoch (metrics.jsonl), the share is the "
        "time in the all-reduces (vae-train's per-epoch log line; for PyTorch an estimate from timed all-reduces of "
        "a same-sized tensor). Test loss after the last epoch.", ""] + rows + ["",
        f"- 2 processes x 1 thread against 1 process x 2 threads: {two['seconds'] / base['seconds']:.2f}x (target <= 1.25).",
        f"- vae-train against PyTorch DDP, 2 processes each: {two['seconds'] / ddp2['seconds']:.2f}x (target <= 0.6).",
        f"- Test loss, 2 processes against 1: {abs(two['test_loss'] - base['test_loss']):.4f} nats apart (target <= 0.05)."])
    reduce_per_step = two["seconds"] * two["share"] / steps
    put = os.path.join(ROOT, "bench/put_section.py")
    doc = os.path.join(ROOT, "docs/SCALING.md")
    subprocess.run([sys.executable, put, doc, "measured"], input=measured, text=True, check=True)
    subprocess.run([sys.executable, put, doc, "model"], input=model_section(per_sample, reduce_per_step), text=True,
                   check=True)
    print(measured)


if __name__ == "__main__":
    main()
