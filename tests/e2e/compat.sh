# A run written by an older build (tests/data/v1-run, format version 1)
# resumes with this one and continues exactly as the old build did.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 256 64
cp -r "$VAE_SOURCE_DIR/tests/data/v1-run" "$WORK/run"
first=$(head -1 "$WORK/run/metrics.jsonl")
"$VAE_BIN/vae-train" --resume "$WORK/run" --data-dir "$WORK/data" --epochs 2 --blas-threads 1 2>"$WORK/train.log" ||
  { cat "$WORK/train.log"; fail "the old run did not resume"; }
grep -q "resuming .* at epoch 2 batch 0" "$WORK/train.log" || fail "did not resume at epoch 2"
[ "$(wc -l <"$WORK/run/metrics.jsonl")" -eq 2 ] || fail "metrics.jsonl should hold both epochs"
# The old epoch's numbers come back from the checkpoint's history unchanged.
python3 - "$first" "$(head -1 "$WORK/run/metrics.jsonl")" <<'PY'
import json, sys
old, new = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k, v in old.items():
    assert new[k] == v, (k, v, new[k])
PY
"$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --data-dir "$WORK/data" --out "$WORK/means.csv"
# The recorded means come from another machine, and float results depend on
# the CPU's kernels (AVX2 or AVX-512, OpenBLAS's choice): compared within
# 1e-4 (a wrong resume moves them by about 1e-2; CPUs differ by about 1e-7).
python3 - "$WORK/means.csv" "$VAE_SOURCE_DIR/tests/data/v1-run-epoch2-test-means.csv" <<'PY' ||
import csv, sys
new, old = (list(csv.reader(open(p))) for p in sys.argv[1:3])
assert new[0] == old[0] and len(new) == len(old), "another header or row count"
worst = 0.0
for a, b in zip(new[1:], old[1:]):
    assert a[:2] == b[:2], ("index or label differ", a[:2], b[:2])
    worst = max(worst, max(abs(float(x) - float(y)) for x, y in zip(a[2:], b[2:])))
assert worst <= 1e-4, f"latent means differ by up to {worst}"
print(f"largest difference from the recorded means: {worst:.2g}")
PY
  fail "the resumed run's latent means differ from the old build's uninterrupted run"
# Bit for bit only on this machine: a second resume of the same old run
# gives the same file.
cp -r "$VAE_SOURCE_DIR/tests/data/v1-run" "$WORK/run2"
"$VAE_BIN/vae-train" --resume "$WORK/run2" --data-dir "$WORK/data" --epochs 2 --blas-threads 1 2>"$WORK/train2.log" ||
  { cat "$WORK/train2.log"; fail "the old run did not resume a second time"; }
"$VAE_BIN/vae-encode" --checkpoint "$WORK/run2/checkpoints/last.pt" --data-dir "$WORK/data" --out "$WORK/means2.csv"
cmp "$WORK/means.csv" "$WORK/means2.csv" || fail "two resumes of the same run on one machine differ"
echo "ok: a version-1 run resumed, reproduced the old build's epoch 2 within 1e-4 and itself bit for bit"
