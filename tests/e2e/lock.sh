# One run folder, one writer: while a vae-train runs, a second one on the
# same folder, a --force over it and a --resume of it are refused with the
# holder's PID, and a reader still reads; a killed holder leaves no stale
# lock, and SIGHUP (a closed terminal) checkpoints like SIGTERM.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 3000 200
T="$VAE_BIN/vae-train"
ARGS=(--data-dir "$WORK/data" --device cpu --epochs 200 --batch-size 32)

wait_for_checkpoint() {
  for _ in $(seq 1 300); do
    [ -s "$WORK/run/checkpoints/last.manifest.json" ] && return 0
    sleep 0.1
  done
  fail "training never wrote a checkpoint"
}

"$T" "${ARGS[@]}" --out-dir "$WORK/run" 2>"$WORK/log1" &
pid=$!
wait_for_checkpoint
expect_error "run: in use by another vae-train (pid $pid)" "$T" "${ARGS[@]}" --out-dir "$WORK/run"
expect_error "in use by another vae-train (pid $pid)" "$T" "${ARGS[@]}" --out-dir "$WORK/run" --force
expect_error "in use by another vae-train (pid $pid)" "$T" --resume "$WORK/run"
[ -s "$WORK/run/checkpoints/last.pt" ] || fail "--force against a live run removed its checkpoint"
# The lock file removed from under the holder: the folder stays locked.
rm "$WORK/run/.lock"
expect_error "in use by another vae-train (pid unknown)" "$T" "${ARGS[@]}" --out-dir "$WORK/run" --force
[ -s "$WORK/run/checkpoints/last.pt" ] || fail "--force after rm .lock removed a live run's checkpoint"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" --num 4 --out "$WORK/s.png"  # readers take no lock
kill -KILL "$pid"
wait "$pid" || true
# The kernel released the dead holder's lock: the run resumes at once.
"$T" --resume "$WORK/run" --epochs 2 2>"$WORK/log2" || { cat "$WORK/log2"; fail "a killed run left its folder locked"; }
grep -q "resuming" "$WORK/log2" || fail "no resume message"

# SIGHUP: finish the step, checkpoint, exit 129; the run resumes from there.
"$T" "${ARGS[@]}" --out-dir "$WORK/hup" 2>"$WORK/log3" &
pid=$!
for _ in $(seq 1 300); do grep -q "epoch   1/200" "$WORK/log3" 2>/dev/null && break; sleep 0.1; done
kill -HUP "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 129 ] || { tail -3 "$WORK/log3"; fail "exit code $rc after SIGHUP, expected 129"; }
grep -q "stopped by signal 1 " "$WORK/log3" || fail "no stop message after SIGHUP"
"$T" --resume "$WORK/hup" --epochs 2 2>"$WORK/log4" || { cat "$WORK/log4"; fail "no resume after SIGHUP"; }

# A broken log pipe does not kill a run: stderr into `head -1`.
set +o pipefail
"$T" --data-dir "$WORK/data" --device cpu --epochs 2 --out-dir "$WORK/pipe" 2>&1 >/dev/null | head -1 >/dev/null
set -o pipefail
[ "$(wc -l <"$WORK/pipe/metrics.jsonl")" -eq 2 ] || fail "with its log pipe closed the run did not finish"
echo "ok: one writer per run folder, no stale lock after SIGKILL, SIGHUP checkpoints, a closed log pipe is survived"
