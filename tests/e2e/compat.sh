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
cmp "$WORK/means.csv" "$VAE_SOURCE_DIR/tests/data/v1-run-epoch2-test-means.csv" ||
  fail "the resumed run's latent means differ from the old build's uninterrupted run"
echo "ok: a version-1 run resumed and reproduced the old build's epoch 2 bit for bit"
