# Checkpoints forged so that their manifest matches: every tool refuses each
# with one line naming the file, and none crashes or prints garbage.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 256 64
printf '[model]\nhidden = [32]\nlatent = 2\n[train]\nbatch_size = 64\nimage_every = 0\n' >"$WORK/cfg.toml"
"$VAE_BIN/vae-train" --config "$WORK/cfg.toml" --data-dir "$WORK/data" --out-dir "$WORK/run" --epochs 1 \
  --device cpu 2>/dev/null
FORGE="$(dirname "$0")/forge_checkpoint.py"
for mode in cut-half cut-small offset adam-shape; do
  /usr/bin/python3 "$FORGE" "$mode" "$WORK/run" "$WORK/$mode"
  ck="$WORK/$mode/checkpoints/last.pt"
  expect_error "$ck: " "$VAE_BIN/vae-train" --resume "$ck" --epochs 2
  # Given the folder, a resume passes over the forged last.pt for the intact best.pt.
  "$VAE_BIN/vae-train" --resume "$WORK/$mode" --epochs 1 2>"$WORK/fallback.log" ||
    { cat "$WORK/fallback.log"; fail "the run folder did not fall back to best.pt"; }
  grep -q "resuming .*best.pt" "$WORK/fallback.log" || fail "did not resume from best.pt: $(cat "$WORK/fallback.log")"
  # ... and says what it passed over, why, and what the fallback loses.
  grep -q "warn.*resume: refused $ck: " "$WORK/fallback.log" || fail "the refused last.pt was not named: $(cat "$WORK/fallback.log")"
  grep -q "warn.*resume: falling back to .*best.pt at step 4: 0 steps behind last.pt (step 4)" "$WORK/fallback.log" ||
    fail "the fallback's loss was not said: $(cat "$WORK/fallback.log")"
  expect_error "$ck: " "$VAE_BIN/vae-encode" --checkpoint "$ck" --out "$WORK/$mode.csv"
  expect_error "$ck: " "$VAE_BIN/vae-sample" --checkpoint "$ck" --out "$WORK/$mode.png"
  [ ! -e "$WORK/$mode.csv" ] && [ ! -e "$WORK/$mode.png" ] || fail "a tool wrote output from a forged checkpoint"
done
expect_error "optimizer state exp_avg of parameter" "$VAE_BIN/vae-sample" --checkpoint "$WORK/adam-shape/checkpoints/last.pt" --out "$WORK/x.png"
expect_error "reaches past its storage" "$VAE_BIN/vae-encode" --checkpoint "$WORK/offset/checkpoints/last.pt" --out "$WORK/x.csv"
expect_error "no data record of that size" "$VAE_BIN/vae-sample" --checkpoint "$WORK/cut-half/checkpoints/last.pt" --out "$WORK/x.png"
echo "ok: forged checkpoints are refused by every tool"
