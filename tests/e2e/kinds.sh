# Every model.kind trains from a config and the tools treat it as it is: codes
# for every kind, samples and vae-eval only for the VAE.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 300 60
for kind in ae sparse_ae denoising_ae; do
  printf '[model]\nhidden = [32]\nlatent = 4\nkind = "%s"\n[train]\nbatch_size = 50\n' "$kind" >"$WORK/$kind.toml"
  "$VAE_BIN/vae-train" --config "$WORK/$kind.toml" --data-dir "$WORK/data" --out-dir "$WORK/$kind" \
    --epochs 1 --device cpu 2>"$WORK/$kind.log" || { cat "$WORK/$kind.log"; fail "training $kind"; }
  grep -q "model.kind  *$kind" "$WORK/$kind.log" || fail "the log does not name model.kind $kind"
  grep -q "mean |code|" "$WORK/$kind.log" || fail "no code activation in the epoch line of $kind"
  grep -q '"test_code_abs": ' "$WORK/$kind/metrics.jsonl" || fail "metrics lack test_code_abs ($kind)"
  [ ! -e "$WORK/$kind/samples.png" ] || fail "$kind has no prior, yet samples.png was written"
  CK="$WORK/$kind/checkpoints/last.pt"
  "$VAE_BIN/vae-encode" --checkpoint "$CK" --data-dir "$WORK/data" --out "$WORK/$kind.csv" 2>/dev/null \
    || fail "vae-encode $kind"
  [ "$(head -1 "$WORK/$kind.csv")" = "index,label,mu_0,mu_1,mu_2,mu_3" ] || fail "codes of $kind"
  expect_error "has no prior to sample from" "$VAE_BIN/vae-sample" --checkpoint "$CK" --out "$WORK/s.png"
  expect_error "has no prior to sample from" "$VAE_BIN/vae-sample" --checkpoint "$CK" --manifold --out "$WORK/s.png"
  expect_error "last.pt: model.kind = $kind has no ELBO or likelihood" "$VAE_BIN/vae-eval" --checkpoint "$CK" --iw-samples 10
  "$VAE_BIN/vae-sample" --checkpoint "$CK" --interpolate 0,5 --steps 4 --data-dir "$WORK/data" \
    --out "$WORK/$kind-line.png" 2>/dev/null || fail "interpolation between codes ($kind)"
done
# The convolutional VAE trains, samples and evaluates like the MLP one.
printf '[model]\narch = "conv"\nhidden = [16]\nlatent = 2\n[train]\nbatch_size = 50\n' >"$WORK/conv.toml"
"$VAE_BIN/vae-train" --config "$WORK/conv.toml" --data-dir "$WORK/data" --out-dir "$WORK/conv" --epochs 1 \
  --device cpu 2>"$WORK/conv.log" || { cat "$WORK/conv.log"; fail "training the conv VAE"; }
grep -q "784-conv32-conv64-16-2" "$WORK/conv.log" || fail "the log does not describe the conv layers"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/conv/checkpoints/last.pt" --num 4 --out "$WORK/c.png" 2>/dev/null \
  || fail "sampling the conv VAE"
"$VAE_BIN/vae-eval" --checkpoint "$WORK/conv/checkpoints/last.pt" --iw-samples 20 --out "$WORK/conv.json" \
  2>/dev/null >/dev/null || fail "evaluating the conv VAE"
printf '[model]\narch = "conv"\nimage_height = 30\n' >"$WORK/conv30.toml"
expect_error "multiples of 4" "$VAE_BIN/vae-train" --config "$WORK/conv30.toml" --data-dir "$WORK/data"
printf '[model]\nkind = "gan"\n' >"$WORK/gan.toml"
expect_error "'model.kind' must be" "$VAE_BIN/vae-train" --config "$WORK/gan.toml" --data-dir "$WORK/data"
for cfg in "$VAE_SOURCE_DIR"/configs/mnist_ae.toml "$VAE_SOURCE_DIR"/configs/mnist_sparse_ae.toml \
           "$VAE_SOURCE_DIR"/configs/mnist_denoising_ae.toml; do
  [ -f "$cfg" ] || fail "missing $cfg"
done
echo "ok: kinds"
