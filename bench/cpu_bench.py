#!/usr/bin/env python3
"""Side-by-side CPU benchmark of vae-train against its Python peers; writes
docs/BENCHMARKS.md. Run by bench/cpu.sh, which builds and installs first.

For each model (784-400-20 and the guide's 784-512-256-2, batch 128, the
60,000 Fashion-MNIST training images) and each of --rounds rounds, in turn:
  vae-train, Python in-memory loop (bench/pytorch_vae.py), Python example loop
  (bench/pytorch_example.py: torchvision dataset + DataLoader), and the GEMM
  floor (vae-bench floor: the same matrix products alone).
Each run trains --epochs epochs; its last epoch's training seconds count, and
the table shows the median over rounds. Peak resident memory comes from
/usr/bin/time; vae-encode's time is the one it logs (inside the process).
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

MODELS = [
    {"name": "784-400-20", "config": "configs/fashion_mnist_vae_classic.toml", "py": ["--hidden", "400", "--latent", "20"],
     "floor": ["--hidden", "400", "--latent", "20"]},
    {"name": "784-512-256-2", "config": "configs/mnist_vae.toml", "py": ["--hidden", "512", "256", "--latent", "2"],
     "floor": ["--hidden", "512,256", "--latent", "2"]},
]
TARGETS = {"python_memory": 0.6, "python_example": 0.3, "floor": 1.5, "rss_gib": 1.0, "encode_s": 0.3}


def run(cmd, tmp, env=None):
    """Runs cmd under /usr/bin/time; returns (stdout, stderr, peak RSS in KiB)."""
    rss_file = os.path.join(tmp, "rss")
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd], capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout, p.stderr, int(open(rss_file).read().split()[-1])


def last_epoch_seconds(jsonl_text):
    rows = [json.loads(l) for l in jsonl_text.splitlines() if l.startswith("{") and '"epoch"' in l]
    return rows[-1]["seconds"], rows[-1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="folder with the Fashion-MNIST IDX .gz files")
    p.add_argument("--torchvision-root", required=True, help="root holding FashionMNIST/raw/")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--out", default="docs/BENCHMARKS.md")
    a = p.parse_args()
    py = "/usr/bin/python3"
    tmp = tempfile.mkdtemp(prefix="vae-bench-")
    results = {m["name"]: {"cpp": [], "py_memory": [], "py_example": [], "floor": [], "rss": [], "loss": {}}
               for m in MODELS}
    log = open(os.path.join(tmp, "bench.log"), "w")
    for r in range(1, a.rounds + 1):
        for m in MODELS:
            res = results[m["name"]]
            print(f"bench: round {r}/{a.rounds}, {m['name']}", flush=True)
            out_dir = os.path.join(tmp, f"cpp-{m['name']}-{r}")
            _, err, rss = run(["build/apps/vae-train", "--config", m["config"], "--data-dir", a.data,
                               "--epochs", str(a.epochs), "--out-dir", out_dir, "--force", "--device", "cpu"], tmp)
            log.write(err)
            secs, row = last_epoch_seconds(open(os.path.join(out_dir, "metrics.jsonl")).read())
            res["cpp"].append(secs)
            res["rss"].append(rss)
            res["loss"]["cpp"] = row["train_loss"]
            res["cpp_run"] = out_dir
            res["runtime"] = next((l.split("info ", 1)[-1] for l in err.splitlines() if "LibTorch" in l), "?")
            out, _, _ = run([py, "bench/pytorch_vae.py", "--data-dir", a.data, "--epochs", str(a.epochs), *m["py"]], tmp)
            secs, row = last_epoch_seconds(out)
            res["py_memory"].append(secs)
            res["loss"]["py_memory"] = row["train_loss"]
            res["torch_py"] = json.loads(out.splitlines()[0])
            out, _, _ = run([py, "bench/pytorch_example.py", "--root", a.torchvision_root, "--epochs", str(a.epochs),
                             *m["py"]], tmp)
            secs, row = last_epoch_seconds(out)
            res["py_example"].append(secs)
            res["loss"]["py_example"] = row["train_loss"]
            out, _, _ = run(["build/apps/vae-bench", "floor", *m["floor"], "--reps", "1"], tmp)
            floor = json.loads(out)
            res["floor"].append(floor["seconds"])
            res["blas_threads"] = floor["blas_threads"]

    # Where a step's time goes: the trainer's (fused step, FusedAdam), the
    # autograd step, and torch::optim::Adam.
    phases = {}
    for m in MODELS:
        for flag in ([], ["--autograd"], ["--torch-adam"]):
            out, _, _ = run(["build/apps/vae-bench", "phases", *m["floor"], "--reps", "1", *flag], tmp)
            phases[(m["name"], " ".join(flag))] = json.loads(out)

    # vae-encode of the 10,000 test images, three times.
    encode = []
    for _ in range(3):
        _, err, _ = run(["build/apps/vae-encode", "--checkpoint",
                         os.path.join(results["784-400-20"]["cpp_run"], "checkpoints", "last.pt"),
                         "--data-dir", a.data, "--split", "test", "--out", os.path.join(tmp, "mu.npy"),
                         "--device", "cpu"], tmp)
        found = re.search(r"encoded (\d+) test images .* in ([0-9.]+) s", err)
        encode.append((int(found.group(1)), float(found.group(2))))

    med = statistics.median
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    ncpu = os.cpu_count()
    first = results[MODELS[0]["name"]]
    lines = ["# Benchmarks: vae-train against Python PyTorch on CPU", ""]
    lines.append(f"Produced by `bash bench/cpu.sh` on this state of the code. Machine: {cpu}, {ncpu} cores, "
                 f"{platform.platform()}. C++: {first['runtime']}. Python: PyTorch {first['torch_py']['torch']} "
                 f"(Debian python3-torch, same OpenBLAS), {first['torch_py']['threads']} intra-op thread(s).")
    lines.append("")
    lines.append(f"Every number is the median over {a.rounds} rounds; in each round the four runs of a model go one "
                 f"after the other, so they share the machine's state. Each run trains {a.epochs} epochs on the "
                 "60,000 Fashion-MNIST training images (Debian's `dataset-fashion-mnist`), batch 128, Adam 1e-3, "
                 "BCE (sum) + KL; its last epoch's training seconds count (no evaluation, no start-up).")
    lines.append("")
    lines.append("- **C++**: `vae-train --config CONFIG --data-dir DATA` (the trainer as users run it).")
    lines.append("- **Python, in memory**: `bench/pytorch_vae.py`: the whole data set in one float tensor, "
                 "batches from a randperm.")
    lines.append("- **Python, example loop**: `bench/pytorch_example.py`: the PyTorch example's loop, torchvision's "
                 "`FashionMNIST` with `ToTensor` and a shuffling `DataLoader`.")
    lines.append("- **GEMM floor**: `vae-bench floor`: the same matrix products as one training epoch (forward, "
                 "and the backward products for the weights and the inputs), alone, into preallocated outputs.")
    lines.append("")
    lines.append("| model | C++ s/epoch | Python in memory | Python example loop | GEMM floor | C++ / in memory "
                 "| C++ / example | C++ / floor | C++ peak RSS |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdict = []
    for m in MODELS:
        res = results[m["name"]]
        c, pm, pe, fl = med(res["cpp"]), med(res["py_memory"]), med(res["py_example"]), med(res["floor"])
        rss = max(res["rss"]) / 1024 / 1024
        lines.append(f"| {m['name']} | {c:.3f} | {pm:.3f} | {pe:.3f} | {fl:.3f} | {c / pm:.2f} | {c / pe:.2f} | "
                     f"{c / fl:.2f} | {rss:.2f} GiB |")
        verdict += [(f"{m['name']}: C++ / Python in memory", c / pm, TARGETS["python_memory"]),
                    (f"{m['name']}: C++ / Python example loop", c / pe, TARGETS["python_example"]),
                    (f"{m['name']}: C++ / GEMM floor", c / fl, TARGETS["floor"]),
                    (f"{m['name']}: peak RSS of vae-train (GiB)", rss, TARGETS["rss_gib"])]
    lines.append("")
    lines.append("Per-round seconds (C++ / in memory / example / floor):")
    lines.append("")
    for m in MODELS:
        res = results[m["name"]]
        rounds = "; ".join(f"{c:.2f} / {pm:.2f} / {pe:.2f} / {fl:.2f}" for c, pm, pe, fl in
                           zip(res["cpp"], res["py_memory"], res["py_example"], res["floor"]))
        lines.append(f"- {m['name']}: {rounds}. Last-epoch train loss: C++ {res['loss']['cpp']:.2f}, "
                     f"Python {res['loss']['py_memory']:.2f} (in memory), {res['loss']['py_example']:.2f} (example).")
    n, _ = encode[0]
    enc = med(s for _, s in encode)
    verdict.append((f"vae-encode of {n} images, seconds inside the process", enc, TARGETS["encode_s"]))
    lines.append("")
    lines.append("## Targets")
    lines.append("")
    lines.append("| what | measured | target | met |")
    lines.append("|---|---:|---:|---|")
    for what, value, target in verdict:
        lines.append(f"| {what} | {value:.3f} | at most {target:g} | {'yes' if value <= target else '**no**'} |")
    lines.append("")
    lines.append("## Where a training step's time goes")
    lines.append("")
    lines.append("`vae-bench phases`: one epoch of the trainer's own step (the `TrainStep` of `src/train_step.hpp`, "
                 "writing into the flat gradient block) on random bytes: its forward + loss + backward, and the "
                 "optimizer step, for the fused and the autograd step and for `torch::optim::Adam`. Seconds per epoch.")
    lines.append("")
    lines.append("| model | step | optimizer | epoch | forward + loss + backward | optimizer step |")
    lines.append("|---|---|---|---:|---:|---:|")
    for (name, flag), ph in phases.items():
        lines.append(f"| {name} | {ph['step']} | {'torch::optim::Adam' if ph['adam'] == 'torch' else 'FusedAdam'} | "
                     f"{ph['epoch']:.3f} | {ph['forward_backward']:.3f} | {ph['optimizer']:.3f} |")
    lines.append("")
    lines.append(f"OpenBLAS threads in the floor: {first.get('blas_threads', '?')}; LibTorch intra-op threads: 1 "
                 "(`train.threads`, see the README's performance notes).")
    open(a.out, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
