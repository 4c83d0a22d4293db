# A real SIGTERM to vae-train: it finishes the step, writes a checkpoint,
# exits 143 (128 + 15); --resume then completes the run.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 3000 200
T="$VAE_BIN/vae-train"
ARGS=(--data-dir "$WORK/data" --device cpu --epochs 30 --batch-size 32)

wait_for_epoch_line() {  # wait until the log shows a finished epoch
  for _ in $(seq 1 300); do
    grep -q "epoch   1/30" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "training never finished an epoch"
}

"$T" "${ARGS[@]}" --out-dir "$WORK/run" 2>"$WORK/log1" &
pid=$!
wait_for_epoch_line "$WORK/log1"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
cat "$WORK/log1" | tail -3
[ "$rc" -eq 143 ] || fail "exit code $rc after SIGTERM, expected 143"
grep -q "stopped by signal 15" "$WORK/log1" || fail "no stop message"
[ ! -e "$WORK/run/samples.png" ] || fail "an interrupted run wrote its final samples"
is_png "$WORK/run/loss.png" || fail "an interrupted run did not draw its loss curve so far"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" --num 4 --out "$WORK/mid.png"

"$T" --resume "$WORK/run" 2>"$WORK/log2"
grep -q "resuming" "$WORK/log2" || fail "no resume message"
grep -q "epoch  30/30" "$WORK/log2" || fail "the resumed run did not finish"
[ "$(wc -l <"$WORK/run/metrics.jsonl")" -eq 30 ] || fail "metrics.jsonl should have 30 lines"
[ -s "$WORK/run/samples.png" ] || fail "no samples after the resumed run"

# Two signals: the second exits at once; what is on disk still loads.
"$T" "${ARGS[@]}" --out-dir "$WORK/run2" 2>"$WORK/log3" &
pid=$!
wait_for_epoch_line "$WORK/log3"
kill -INT "$pid"; kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "exit code $rc after two SIGINTs, expected 130"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/run2/checkpoints/last.pt" --num 4 --out "$WORK/x.png"
echo "e2e signals passed"
