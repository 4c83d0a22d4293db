#!/usr/bin/env bash
# The image-folder source against torchvision's ImageFolder, side by side on
# this machine; writes the "## Measured" section of docs/DATA.md.
#
#   bash bench/image_folder.sh [ROUNDS] [EPOCHS]     # defaults 2 and 2
#
# Exports Fashion-MNIST as PNGs (scripts/export-png-folder.py) into
# $VAE_BENCH_DIR (default /tmp/vae-image-folder), then in each round, in turn:
#   first   the first pass, decode + cache into an emptied VAE_CACHE_DIR:
#           `vae-data cache` where it exists, else `vae-train --epochs 1` less
#           that epoch's training seconds;
#   cached  vae-train on the folder from that cache, EPOCHS epochs;
#   idx     vae-train on the IDX files, same config and epochs;
#   tv-*    bench/torchvision_folder.py, loading only and with the model.
# Wall seconds and peak RSS come from /usr/bin/time, epoch seconds from each
# run's metrics.jsonl (the last epoch counts, the median over rounds is shown).
# Raw numbers: $VAE_BENCH_DIR/results.json. Uses build/apps as it is (no build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
EPOCHS=${2:-2}
IDX=/usr/share/datasets/fashion-mnist
WORK=${VAE_BENCH_DIR:-/tmp/vae-image-folder}
PNG=$WORK/fashion-png
TRAIN=build/apps/vae-train
DATA=build/apps/vae-data
PY=/usr/bin/python3

[ -x "$TRAIN" ] || { echo "bench: no $TRAIN; build first (cmake --build build)" >&2; exit 1; }
if ! $PY -c 'import torch, torchvision' 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-torchvision >/dev/null
fi
mkdir -p "$WORK"
$PY scripts/export-png-folder.py "$IDX" "$PNG"

# What the binaries in build/ offer (the folder source is new).
FLAGS=(--config configs/fashion_mnist_vae_classic.toml --device cpu --force)
if grep -q -- '--image-every' <<<"$("$TRAIN" --help)"; then FLAGS+=(--image-every 0); fi
FIRST=train
if [ -x "$DATA" ] && grep -qE '^ +cache( |$)' <<<"$("$DATA" --help 2>/dev/null)"; then FIRST=cache; fi

timed() {  # timed NAME CMD...: keeps CMD's output as $R/NAME.out|err and "wall_s peak_rss_kib" as $R/NAME.time
  local name=$1; shift
  if ! /usr/bin/time -f "%e %M" -o "$R/$name.time" "$@" >"$R/$name.out" 2>"$R/$name.err"; then
    echo "bench: $name failed: $*" >&2; tail -n 20 "$R/$name.err" >&2; exit 1
  fi
}

export VAE_CACHE_DIR=$WORK/cache
[ -n "${REPORT_ONLY:-}" ] || rm -rf "$WORK/rounds"
for r in $(seq 1 "$ROUNDS"); do
  [ -z "${REPORT_ONLY:-}" ] || break  # REPORT_ONLY=1: the tables again from the last rounds
  echo "bench: round $r/$ROUNDS"
  R=$WORK/rounds/$r
  mkdir -p "$R"
  rm -rf "$VAE_CACHE_DIR" && mkdir -p "$VAE_CACHE_DIR"
  if [ "$FIRST" = cache ]; then
    timed first "$DATA" cache --dir "$PNG"
    timed base "$DATA" --version
  else
    timed first "$TRAIN" "${FLAGS[@]}" --epochs 1 --data-dir "$PNG" --data-format images --out-dir "$R/first"
  fi
  [ -n "$(ls -A "$VAE_CACHE_DIR")" ] || echo "bench: warning: the first pass left $VAE_CACHE_DIR empty" >&2
  timed cached "$TRAIN" "${FLAGS[@]}" --epochs "$EPOCHS" --data-dir "$PNG" --data-format images --out-dir "$R/cached"
  # Loading alone: the whole start-up of a run that trains no epoch.
  timed load-cached "$TRAIN" "${FLAGS[@]}" --epochs 0 --data-dir "$PNG" --data-format images --out-dir "$R/load-cached"
  timed load-idx "$TRAIN" "${FLAGS[@]}" --epochs 0 --data-dir "$IDX" --out-dir "$R/load-idx"
  timed idx "$TRAIN" "${FLAGS[@]}" --epochs "$EPOCHS" --data-dir "$IDX" --out-dir "$R/idx"
  timed tv-load $PY bench/torchvision_folder.py --root "$PNG" --epochs "$EPOCHS"
  timed tv-train $PY bench/torchvision_folder.py --root "$PNG" --epochs "$EPOCHS" --train-model
done

[ -f docs/DATA.md ] || echo "# Data sources" >docs/DATA.md
$PY - "$WORK" "$ROUNDS" "$EPOCHS" "$FIRST" >"$WORK/section.md" <<'EOF'
import json, os, platform, statistics, subprocess, sys

work, rounds, epochs, first_kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
DECODED_MB = 70000 * 784 / 1e6  # the decoded uint8 images, train and test, as the cache holds them


def lines(path):
    return [json.loads(l) for l in open(path) if l.startswith("{")]


def run(r, name, log=None):
    """One run of round r: wall seconds, peak RSS (MB), epoch seconds, and the peer's summary line."""
    d = f"{work}/rounds/{r}"
    wall, rss = open(f"{d}/{name}.time").read().split()[-2:]
    rows = lines(log or f"{d}/{name}.out")
    return {"wall": float(wall), "rss_mb": int(rss) * 1024 / 1e6,
            "epochs": [x["seconds"] for x in rows if "epoch" in x], "summary": rows[-1] if rows else {}}


raw = []
for r in range(1, rounds + 1):
    d = f"{work}/rounds/{r}"
    res = {n: run(r, n, f"{d}/{n}/metrics.jsonl") for n in ("cached", "idx")}
    res.update({n: run(r, n) for n in ("tv-load", "tv-train")})
    res.update({n: run(r, n, os.devnull) for n in ("load-cached", "load-idx")})
    if first_kind == "cache":
        res["base"] = run(r, "base", os.devnull)
    res["first"] = run(r, "first", f"{d}/first/metrics.jsonl" if first_kind == "train" else os.devnull)
    f = res["first"]  # its decode + cache seconds: less the training of `vae-train --epochs 1`
    f["seconds"] = f["wall"] - (f["epochs"][0] if first_kind == "train" else 0)
    raw.append(res)
json.dump({"first_pass_by": first_kind, "epochs": epochs, "rounds": raw}, open(f"{work}/results.json", "w"), indent=1)

med = statistics.median
first = med([x["first"]["seconds"] for x in raw])
tv_first_of = lambda x: x["tv-load"]["summary"]["scan"] + x["tv-load"]["summary"]["first_epoch"]
tv_first = med([tv_first_of(x) for x in raw])
cached, idx = med([x["cached"]["epochs"][-1] for x in raw]), med([x["idx"]["epochs"][-1] for x in raw])
tv_load, tv_train = med([x["tv-load"]["epochs"][-1] for x in raw]), med([x["tv-train"]["epochs"][-1] for x in raw])
load_cached, load_idx = med([x["load-cached"]["wall"] for x in raw]), med([x["load-idx"]["wall"] for x in raw])
rss = {n: max(x[n]["rss_mb"] for x in raw) for n in ("first", "cached", "idx", "tv-load", "tv-train")}

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
how = ("`vae-data cache`" if first_kind == "cache" else
       "`vae-train --epochs 1` less its epoch's training seconds (start-up and the test pass stay in)")
print("## Measured\n")
print(f"Produced by `bash bench/image_folder.sh {rounds} {epochs}` at commit {commit} on {cpu}, {os.cpu_count()} "
      f"cores, {platform.platform()}. The 60,000 Fashion-MNIST training images as 28x28 greyscale PNGs "
      "(`scripts/export-png-folder.py`), batch 128, the 784-400-20 VAE, one intra-op thread on both sides. "
      f"Medians over {rounds} interleaved rounds; an epoch is the last of {epochs}, training seconds only. "
      f"First pass: {how}, with an emptied `VAE_CACHE_DIR`. torchvision: `bench/torchvision_folder.py`, "
      "`ImageFolder` + `Grayscale(1)` + `ToTensor` + a shuffling `DataLoader`, no workers; its first epoch "
      "includes listing the folder. The PNGs sit in the page cache for both.\n")
print("| what | seconds | against | seconds | ratio | target | met |")
print("|---|---:|---|---:|---:|---:|---|")
for what, a, against, b, target in [
        ("first pass (decode + cache)", first, "torchvision first epoch, loading only", tv_first, 0.5),
        ("epoch from the cache", cached, "vae-train epoch on the IDX files", idx, 1.05),
        ("epoch from the cache", cached, "torchvision epoch with the model", tv_train, 0.3)]:
    print(f"| {what} | {a:.2f} | {against} | {b:.2f} | {a / b:.2f} | at most {target:g} | "
          f"{'yes' if a / b <= target else '**no**'} |")
print(f"\ntorchvision's later epochs, loading only: {tv_load:.2f} s. The whole start-up of a run that trains no "
      f"epoch (`--epochs 0`: load, model, the test pass, pictures): {load_cached:.2f} s from the cache of the "
      f"folder (60,000 + 10,000 images) against {load_idx:.2f} s from the IDX `.gz` files.\n")
print(f"| peak RSS | MB | / decoded images ({DECODED_MB:.0f} MB) |")
print("|---|---:|---:|")
if first_kind == "cache":
    base = max(x["base"]["rss_mb"] for x in raw)
    print(f"| `vae-data --version` (the process and its libraries, no data) | {base:.0f} | {base / DECODED_MB:.1f} |")
    print(f"| first pass less that | {rss['first'] - base:.0f} | {(rss['first'] - base) / DECODED_MB:.2f} |")
for n, what in [("first", "first pass"), ("cached", "vae-train from the cache"), ("idx", "vae-train on IDX"),
                ("tv-load", "torchvision, loading only"), ("tv-train", "torchvision with the model")]:
    print(f"| {what} | {rss[n]:.0f} | {rss[n] / DECODED_MB:.1f} |")
print("\nPer round, seconds (first pass / torchvision first epoch; cached / IDX / torchvision epoch): " + "; ".join(
    f"{x['first']['seconds']:.2f} / {tv_first_of(x):.2f}; {x['cached']['epochs'][-1]:.2f} / "
    f"{x['idx']['epochs'][-1]:.2f} / {x['tv-train']['epochs'][-1]:.2f}" for x in raw) + ".")
EOF
$PY bench/put_section.py docs/DATA.md measured <"$WORK/section.md"
cat "$WORK/section.md"
echo "bench: wrote docs/DATA.md (raw numbers: $WORK/results.json)"
