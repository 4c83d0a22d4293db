# Checkpoints open in Python PyTorch: examples/python/vae_from_checkpoint.py
# (torch.jit.load + the equivalent nn.Module) reproduces vae-encode's means.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with python3-torch (scripts/setup.sh installs it)
$PY -c 'import torch, numpy' || fail "python3-torch or python3-numpy is missing: run scripts/setup.sh"
SCRIPT="$VAE_SOURCE_DIR/examples/python/vae_from_checkpoint.py"
"$MAKE_TEST_DATA" "$WORK/data" 300 120
# Encoded: 120 images of uniform random bytes, so every grey level (and the
# static threshold) is exercised.
mkdir -p "$WORK/grey"
$PY - "$WORK/grey" <<'PY'
import struct, sys
import numpy as np
rng = np.random.default_rng(7)
with open(f"{sys.argv[1]}/t10k-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">HBBIII", 0, 8, 3, 120, 28, 28) + rng.integers(0, 256, (120, 28, 28), np.uint8).tobytes())
with open(f"{sys.argv[1]}/t10k-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">HBBI", 0, 8, 1, 120) + rng.integers(0, 10, 120, np.uint8).tobytes())
PY

# Shapes and kinds: the guide's two hidden layers (decoder fc4..fc6) with
# grey levels, one hidden layer (decoder fc3, fc4) with static
# binarization, and the code heads and activations of the other kinds.
train_and_compare() {
  local name=$1 hidden=$2 latent=$3 binarize=$4 kind=${5:-vae} extra=${6:-}
  printf '[model]\nhidden = %s\nlatent = %s\nkind = "%s"\nsparsity = "kl"\n%s\n[train]\nbatch_size = 50\n' \
    "$hidden" "$latent" "$kind" "$extra" >"$WORK/$name.toml"
  "$VAE_BIN/vae-train" --config "$WORK/$name.toml" --data-dir "$WORK/data" --out-dir "$WORK/$name" --epochs 1 \
    --device cpu --binarize "$binarize" 2>"$WORK/$name.log" || { cat "$WORK/$name.log"; fail "training $name"; }
  "$VAE_BIN/vae-encode" --checkpoint "$WORK/$name/checkpoints/last.pt" --data-dir "$WORK/grey" \
    --out "$WORK/$name.cpp.npy" 2>"$WORK/$name.encode.log" || { cat "$WORK/$name.encode.log"; fail "vae-encode $name"; }
  $PY "$SCRIPT" "$WORK/$name/checkpoints/last.pt" --data-dir "$WORK/grey" --out "$WORK/$name.py.npy" \
    || fail "the script failed on $name"
  $PY - "$WORK/$name.cpp.npy" "$WORK/$name.py.npy" "$latent" "$kind" <<'PY' || fail "Python's means differ from vae-encode's ($name)"
import sys
import numpy as np
a, b, z = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
assert a.shape == b.shape == (120, z), (a.shape, b.shape)
assert np.abs(a).max() > 1e-3, "all means are zero: nothing was compared"
if sys.argv[4] in ("rae", "vq_vae"):  # codes without an activation: a stray ReLU would show
    assert (a < 0).any(), "no negative code: an activation was applied"
d = np.abs(a - b).max()
print(f"max |mu_cpp - mu_py| = {d:.2e}")
assert d <= 1e-5, d
PY
}
train_and_compare guide "[64, 32]" 3 none
train_and_compare classic "[48]" 4 static
train_and_compare sparse "[40]" 5 none sparse_ae   # fc_code with sigmoid units
train_and_compare denoise "[40, 20]" 3 none denoising_ae
# Codes without an activation, other dense activations, clamped heads, and
# a VQ-VAE's quantized code (its codebook read from the checkpoint).
train_and_compare rae "[40]" 3 none rae
train_and_compare tanh "[40, 20]" 3 none vae 'activation = "tanh"'
train_and_compare gated "[40]" 4 none info_vae $'activation = "gated"\nbounded_log_var = true'
train_and_compare vq "[40]" 4 none vq_vae $'code_dim = 2\ncodebook_size = 8'

# The parameter names follow the module structure.
$PY - "$WORK/guide/checkpoints/last.pt" <<'PY' || fail "parameter names"
import sys, torch
names = [n for n, _ in torch.jit.load(sys.argv[1]).named_parameters() if not n.startswith("optimizer")]
want = [f"{m}.{l}.{p}" for m, ls in (("encoder", ["fc1", "fc2", "fc_mean", "fc_sd"]), ("decoder", ["fc4", "fc5", "fc6"]))
        for l in ls for p in ("weight", "bias")]
assert names == want, names
PY
# Samples decode through the same module.
$PY "$SCRIPT" "$WORK/classic/checkpoints/last.pt" --sample 5 --out "$WORK/s.npy" || fail "--sample"
$PY -c "import numpy as np, sys; s = np.load('$WORK/s.npy'); assert s.shape == (5, 28, 28) and 0 <= s.min() and s.max() <= 1, s.shape" \
  || fail "samples should be 5 x 28 x 28 probabilities"
# Not a checkpoint: a clear error, not a wrong model.
printf 'not a checkpoint' >"$WORK/bad.pt"
! $PY "$SCRIPT" "$WORK/bad.pt" --out "$WORK/x.npy" 2>"$WORK/err" || fail "a bad file was accepted"
echo "ok: interop"
