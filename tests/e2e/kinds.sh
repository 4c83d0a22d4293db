# Every model.kind trains from a config and the tools treat it as it is: codes
# for every kind, samples and the ELBO only for the VAE.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 300 60

# train_kind NAME [TABLES]: one epoch of model.kind NAME (conv_NAME: on the
# conv architecture) into $WORK/NAME, TABLES appended to its config; sets k
# to the kind without its conv_ prefix.
train_kind() {
  local kind=$1 arch=mlp hidden=32
  k=$kind
  case $kind in conv_*) arch=conv; k=${kind#conv_}; hidden= ;; esac
  printf '[model]\nhidden = [%s]\nlatent = 4\nkind = "%s"\narch = "%s"\n%s[train]\nbatch_size = 50\n' \
    "$hidden" "$k" "$arch" "${2:-}" >"$WORK/$kind.toml"
  "$VAE_BIN/vae-train" --config "$WORK/$kind.toml" --data-dir "$WORK/data" --out-dir "$WORK/$kind" \
    --epochs 1 --device cpu 2>"$WORK/$kind.log" || { cat "$WORK/$kind.log"; fail "training $kind"; }
}

for kind in ae sparse_ae denoising_ae rae conv_ae conv_sparse_ae conv_denoising_ae conv_rae; do
  train_kind "$kind"
  grep -q "model.kind  *$k" "$WORK/$kind.log" || fail "the log does not name model.kind $k"
  grep -q "mean |code|" "$WORK/$kind.log" || fail "no code activation in the epoch line of $kind"
  grep -q '"test_code_abs": ' "$WORK/$kind/metrics.jsonl" || fail "metrics lack test_code_abs ($kind)"
  [ ! -e "$WORK/$kind/samples.png" ] || fail "$kind has no prior, yet samples.png was written"
  CK="$WORK/$kind/checkpoints/last.pt"
  "$VAE_BIN/vae-encode" --checkpoint "$CK" --data-dir "$WORK/data" --out "$WORK/$kind.csv" 2>/dev/null \
    || fail "vae-encode $kind"
  [ "$(head -1 "$WORK/$kind.csv")" = "index,label,mu_0,mu_1,mu_2,mu_3" ] || fail "codes of $kind"
  expect_error "model.kind = $k has no prior to sample from" "$VAE_BIN/vae-sample" --checkpoint "$CK" --out "$WORK/s.png"
  expect_error "has no prior to sample from" "$VAE_BIN/vae-sample" --checkpoint "$CK" --manifold --out "$WORK/s.png"
  # A prior fitted to its codes lets it generate: fitted once, then read.
  for pass in fitted read; do
    "$VAE_BIN/vae-sample" --checkpoint "$CK" --prior gmm --components 3 --num 8 --data-dir "$WORK/data" \
      --out "$WORK/$kind-gmm.png" 2>"$WORK/gmm.log" || { cat "$WORK/gmm.log"; fail "vae-sample --prior gmm ($kind)"; }
    grep -q "3-component full-covariance Gaussian mixture ($pass" "$WORK/gmm.log" || fail "gmm not $pass: $(cat "$WORK/gmm.log")"
  done
  is_png "$WORK/$kind-gmm.png" || fail "no PNG from the GMM prior ($kind)"
  # vae-eval: reconstruction errors for every kind; no ELBO without a prior.
  "$VAE_BIN/vae-eval" --checkpoint "$CK" --iw-samples 10 --noise mask --noise-level 0.3 --out "$WORK/$kind.json" \
    >/dev/null 2>&1 || fail "vae-eval $kind"
  python3 - "$WORK/$kind.json" "$kind" <<'PY' || fail "vae-eval $kind: $(cat "$WORK/$kind.json")"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["kind"] == sys.argv[2].removeprefix("conv_") and e["neg_elbo"] is None and e["nll_iw"] is None and e["kl"] is None, e
assert 0 < e["code_recon"] < 1e4 and 0 < e["noisy_recon"] < 1e4, e
assert e["noise"] == "mask" and e["noise_level"] == 0.3 and e["active_units"] <= 4, e
PY
  "$VAE_BIN/vae-sample" --checkpoint "$CK" --interpolate 0,5 --steps 4 --data-dir "$WORK/data" \
    --out "$WORK/$kind-line.png" 2>/dev/null || fail "interpolation between codes ($kind)"
done
# wae and info_vae: a prior to sample from; the WAE has no likelihood bound.
for kind in wae info_vae conv_wae; do
  train_kind "$kind" $'[loss]\nmmd_kernel = "rbf"\n'
  grep -q "loss.mmd_kernel  *rbf" "$WORK/$kind.log" || fail "the log does not show loss.mmd_kernel ($kind)"
  is_png "$WORK/$kind/samples.png" || fail "$kind has a prior, yet no samples.png"
  CK="$WORK/$kind/checkpoints/last.pt"
  "$VAE_BIN/vae-sample" --checkpoint "$CK" --num 8 --out "$WORK/$kind-s.png" 2>/dev/null || fail "vae-sample $kind"
  "$VAE_BIN/vae-encode" --checkpoint "$CK" --data-dir "$WORK/data" --out "$WORK/$kind.csv" 2>/dev/null \
    || fail "vae-encode $kind"
  "$VAE_BIN/vae-eval" --checkpoint "$CK" --iw-samples 10 --out "$WORK/$kind.json" >/dev/null 2>&1 || fail "vae-eval $kind"
  python3 - "$WORK/$kind.json" "$k" <<'PY' || fail "vae-eval $kind: $(cat "$WORK/$kind.json")"
import json, sys
e = json.load(open(sys.argv[1]))
bound = sys.argv[2] == "info_vae"
assert e["kind"] == sys.argv[2] and (e["neg_elbo"] is not None) == bound and (e["nll_iw"] is not None) == bound, e
assert 0 < e["code_recon"] < 1e4, e
PY
done
# vq_vae: a dense code of 2 positions (EMA codebook) and a conv one, a 7x7
# grid; codebook use in the log, metrics and vae-eval; the indices from
# vae-encode; samples only from the categorical prior fitted to them.
for kind in vq_vae conv_vq_vae; do
  case $kind in
    vq_vae) model=$'hidden = [32]\nlatent = 4\ncode_dim = 2\ncodebook_ema = true' grid=2 ;;
    conv_vq_vae) model=$'arch = "conv"\nlatent = 98\ncode_dim = 2' grid=7,7 ;;
  esac
  printf '[model]\nkind = "vq_vae"\ncodebook_size = 16\n%s\n[loss]\nvq_restart_steps = 3\n[train]\nbatch_size = 50\n' \
    "$model" >"$WORK/$kind.toml"
  "$VAE_BIN/vae-train" --config "$WORK/$kind.toml" --data-dir "$WORK/data" --out-dir "$WORK/$kind" --epochs 2 \
    --device cpu 2>"$WORK/$kind.log" || { cat "$WORK/$kind.log"; fail "training $kind"; }
  grep -q "codebook perplexity [0-9.]*, [0-9]*/16 unused" "$WORK/$kind.log" || fail "no codebook use in the log ($kind)"
  grep -q '"test_perplexity": ' "$WORK/$kind/metrics.jsonl" || fail "metrics lack test_perplexity ($kind)"
  [ ! -e "$WORK/$kind/samples.png" ] || fail "$kind has no fixed prior, yet samples.png was written"
  CK="$WORK/$kind/checkpoints/last.pt"
  "$VAE_BIN/vae-encode" --checkpoint "$CK" --data-dir "$WORK/data" --indices "$WORK/$kind-idx.npy" \
    --out "$WORK/$kind.npy" 2>/dev/null || fail "vae-encode --indices $kind"
  /usr/bin/python3 - "$WORK/$kind-idx.npy" "$grid" <<'PY' || fail "the indices of $kind"
import sys
import numpy as np
a = np.load(sys.argv[1])
assert a.dtype == np.int64 and a.shape == (60, *map(int, sys.argv[2].split(","))), a.shape
assert a.min() >= 0 and a.max() < 16, (a.min(), a.max())
PY
  expect_error "--prior categorical fits one to its codebook indices" \
    "$VAE_BIN/vae-sample" --checkpoint "$CK" --out "$WORK/s.png"
  expect_error "use --prior categorical" "$VAE_BIN/vae-sample" --checkpoint "$CK" --prior gmm --out "$WORK/s.png"
  for pass in fitted read; do
    "$VAE_BIN/vae-sample" --checkpoint "$CK" --prior categorical --components 3 --num 8 --data-dir "$WORK/data" \
      --out "$WORK/$kind-cat.png" 2>"$WORK/cat.log" || { cat "$WORK/cat.log"; fail "--prior categorical ($kind)"; }
    grep -q "3-component categorical mixture over the .* grid of codebook indices ($pass" "$WORK/cat.log" \
      || fail "categorical not $pass: $(cat "$WORK/cat.log")"
  done
  is_png "$WORK/$kind-cat.png" || fail "no PNG from the categorical prior ($kind)"
  "$VAE_BIN/vae-eval" --checkpoint "$CK" --iw-samples 10 --out "$WORK/$kind.json" >/dev/null 2>&1 || fail "vae-eval $kind"
  python3 - "$WORK/$kind.json" "$WORK/$kind/metrics.jsonl" <<'PY' || fail "vae-eval $kind: $(cat "$WORK/$kind.json")"
import json, sys
e = json.load(open(sys.argv[1]))
last = [json.loads(l) for l in open(sys.argv[2]) if l.strip()][-1]
assert e["kind"] == "vq_vae" and e["neg_elbo"] is None and e["nll_iw"] is None, e
assert e["codebook_size"] == 16 and 1 <= e["perplexity"] <= 16 and 0 <= e["dead_codes"] < 16, e
assert e["perplexity"] == last["test_perplexity"] and e["dead_codes"] == last["test_dead_codes"], (e, last)
PY
done
expect_error "only model.kind = vq_vae does" \
  "$VAE_BIN/vae-encode" --checkpoint "$WORK/ae/checkpoints/last.pt" --indices "$WORK/i.npy"
expect_error "has none (--prior gmm fits its codes)" \
  "$VAE_BIN/vae-sample" --checkpoint "$WORK/ae/checkpoints/last.pt" --prior categorical --out "$WORK/s.png"
printf '[model]\nkind = "vq_vae"\narch = "conv"\nlatent = 10\ncode_dim = 2\n' >"$WORK/badvq.toml"
expect_error "'model.latent' must be 98 (model.code_dim 2 x the 7x7 grid" \
  "$VAE_BIN/vae-train" --config "$WORK/badvq.toml" --data-dir "$WORK/data" --out-dir "$WORK/badvq"
# The convolutional VAE trains, samples and evaluates like the MLP one.
printf '[model]\narch = "conv"\nhidden = [16]\nlatent = 2\n[train]\nbatch_size = 50\n' >"$WORK/conv.toml"
"$VAE_BIN/vae-train" --config "$WORK/conv.toml" --data-dir "$WORK/data" --out-dir "$WORK/conv" --epochs 1 \
  --device cpu 2>"$WORK/conv.log" || { cat "$WORK/conv.log"; fail "training the conv VAE"; }
grep -q "784-conv32-conv64-16-2" "$WORK/conv.log" || fail "the log does not describe the conv layers"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/conv/checkpoints/last.pt" --num 4 --out "$WORK/c.png" 2>/dev/null \
  || fail "sampling the conv VAE"
"$VAE_BIN/vae-eval" --checkpoint "$WORK/conv/checkpoints/last.pt" --iw-samples 20 --out "$WORK/conv.json" \
  2>/dev/null >/dev/null || fail "evaluating the conv VAE"
# The conditional VAE: trained with the labels, sampled by label; on conv too.
printf '[model]\narch = "conv"\nhidden = []\nlatent = 2\nconditional = true\n[train]\nbatch_size = 50\n' >"$WORK/ccvae.toml"
"$VAE_BIN/vae-train" --config "$WORK/ccvae.toml" --data-dir "$WORK/data" --out-dir "$WORK/ccvae" --epochs 1 \
  --device cpu 2>"$WORK/ccvae.log" || { cat "$WORK/ccvae.log"; fail "training the conv conditional VAE"; }
"$VAE_BIN/vae-sample" --checkpoint "$WORK/ccvae/checkpoints/last.pt" --label 7 --num 4 --out "$WORK/c7.png" \
  2>/dev/null || fail "vae-sample --label 7 of the conv conditional VAE"
printf '[model]\nhidden = [32]\nlatent = 2\nconditional = true\n[train]\nbatch_size = 50\n' >"$WORK/cvae.toml"
"$VAE_BIN/vae-train" --config "$WORK/cvae.toml" --data-dir "$WORK/data" --out-dir "$WORK/cvae" --epochs 1 \
  --device cpu 2>"$WORK/cvae.log" || { cat "$WORK/cvae.log"; fail "training the conditional VAE"; }
grep -q "model.conditional  *true" "$WORK/cvae.log" || fail "the log does not say the model is conditional"
CK="$WORK/cvae/checkpoints/last.pt"
"$VAE_BIN/vae-sample" --checkpoint "$CK" --label 3 --num 6 --out "$WORK/threes.png" 2>"$WORK/err" \
  || { cat "$WORK/err"; fail "vae-sample --label 3"; }
grep -q "samples of class 3" "$WORK/err" && is_png "$WORK/threes.png" || fail "no samples of class 3"
"$VAE_BIN/vae-sample" --checkpoint "$CK" --num 20 --out "$WORK/all.png" 2>"$WORK/err" || fail "vae-sample, all classes"
grep -q "classes 0..9 (one per column)" "$WORK/err" || fail "the conditional grid is not one class per column"
"$VAE_BIN/vae-sample" --checkpoint "$CK" --manifold --label 5 --grid 4 --out "$WORK/m5.png" 2>/dev/null \
  || fail "the manifold of class 5"
"$VAE_BIN/vae-sample" --checkpoint "$CK" --interpolate 0,5 --steps 4 --data-dir "$WORK/data" \
  --out "$WORK/cline.png" 2>/dev/null || fail "a conditional interpolation"
"$VAE_BIN/vae-encode" --checkpoint "$CK" --data-dir "$WORK/data" --out "$WORK/cvae.csv" 2>/dev/null \
  || fail "vae-encode of a conditional VAE"
"$VAE_BIN/vae-eval" --checkpoint "$CK" --iw-samples 10 >/dev/null 2>&1 || fail "vae-eval of a conditional VAE"
expect_error "choose it with --label D" "$VAE_BIN/vae-sample" --checkpoint "$CK" --manifold --out "$WORK/s.png"
expect_error "knows classes 0..9" "$VAE_BIN/vae-sample" --checkpoint "$CK" --label 12 --out "$WORK/s.png"
expect_error "--label needs a conditional model" \
  "$VAE_BIN/vae-sample" --checkpoint "$WORK/conv/checkpoints/last.pt" --label 3 --out "$WORK/s.png"
printf '[model]\nkind = "ae"\nconditional = true\n' >"$WORK/cae.toml"
expect_error "only a VAE can be conditional" "$VAE_BIN/vae-train" --config "$WORK/cae.toml" --data-dir "$WORK/data"
printf '[model]\nconditional = true\nclasses = 4\n' >"$WORK/c4.toml"
expect_error "train-labels-idx1-ubyte.gz: label 9 is outside [0, 4)" "$VAE_BIN/vae-train" --config "$WORK/c4.toml" --data-dir "$WORK/data" --out-dir "$WORK/c4"
printf '[model]\narch = "conv"\nconv_channels = [32, 64, 128]\n' >"$WORK/conv3.toml"
expect_error "multiples of 8 for 3 conv stages" "$VAE_BIN/vae-train" --config "$WORK/conv3.toml" --data-dir "$WORK/data"
printf '[model]\nkind = "gan"\n' >"$WORK/gan.toml"
expect_error "'model.kind' must be" "$VAE_BIN/vae-train" --config "$WORK/gan.toml" --data-dir "$WORK/data"
for cfg in "$VAE_SOURCE_DIR"/configs/mnist_ae.toml "$VAE_SOURCE_DIR"/configs/mnist_sparse_ae.toml \
           "$VAE_SOURCE_DIR"/configs/mnist_denoising_ae.toml "$VAE_SOURCE_DIR"/configs/mnist_cvae.toml \
           "$VAE_SOURCE_DIR"/configs/mnist_rae.toml "$VAE_SOURCE_DIR"/configs/mnist_vq_vae.toml \
           "$VAE_SOURCE_DIR"/configs/mnist_conv_vq_vae.toml; do
  [ -f "$cfg" ] || fail "missing $cfg"
done
echo "ok: kinds"
