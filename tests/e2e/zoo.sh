# The likelihood models through the tools, on binarized MNIST's file format:
# IWAE (loss.iw_samples), the VampPrior (model.prior = "vamp") and two
# stochastic layers (model.top_latent) train,
# resume, evaluate, encode and sample; vae-eval's IW NLL agrees with an
# independent computation in Python from the checkpoint's tensors.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with python3-torch (scripts/setup.sh installs it)
$PY -c 'import torch, numpy' || fail "python3-torch or python3-numpy is missing: run scripts/setup.sh"
"$MAKE_TEST_DATA" "$WORK/idx" 400 100
# Small .amat files from the synthetic digits, thresholded: train, valid, test.
$PY - "$WORK/idx" "$WORK/amat" <<'PY'
import gzip, os, struct, sys
import numpy as np
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
def images(name):
    path = os.path.join(src, name)
    data = open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
    n, h, w = struct.unpack(">III", data[4:16])
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, h * w)
train, test = images("train-images-idx3-ubyte"), images("t10k-images-idx3-ubyte")
def write(name, x, gz):
    text = "".join(" ".join("1" if v >= 128 else "0" for v in row) + "\n" for row in x).encode()
    path = os.path.join(dst, f"binarized_mnist_{name}.amat" + (".gz" if gz else ""))
    open(path, "wb").write(gzip.compress(text) if gz else text)
write("train", train[:300], True)
write("valid", train[300:], False)
write("test", test, True)
PY

train_eval_check() {
  local name=$1 extra=$2 activation=${3:-relu} bounded=${4:-0}
  printf '[model]\nhidden = [32]\nlatent = 4\n%s[train]\nbatch_size = 25\n' "$extra" >"$WORK/$name.toml"
  "$VAE_BIN/vae-train" --config "$WORK/$name.toml" --data-dir "$WORK/amat" --out-dir "$WORK/$name" --epochs 2 \
    --device cpu 2>"$WORK/$name.log" || { cat "$WORK/$name.log"; fail "training $name"; }
  grep -q "data.validation.*100 images (its own split)" "$WORK/$name.log" || fail "$name: no validation split: $(cat "$WORK/$name.log")"
  grep -q '"valid_loss": ' "$WORK/$name/metrics.jsonl" || fail "$name: metrics.jsonl has no valid_loss"
  "$VAE_BIN/vae-train" --resume "$WORK/$name" --epochs 3 --device cpu 2>>"$WORK/$name.log" || fail "resuming $name"
  "$VAE_BIN/vae-eval" --checkpoint "$WORK/$name/checkpoints/last.pt" --iw-samples 2000 --out "$WORK/$name.json" \
    --device cpu >/dev/null 2>>"$WORK/$name.log" || { cat "$WORK/$name.log"; fail "vae-eval $name"; }
  "$VAE_BIN/vae-eval" --checkpoint "$WORK/$name/checkpoints/last.pt" --split valid --iw-samples 0 --device cpu \
    >/dev/null 2>>"$WORK/$name.log" || fail "vae-eval --split valid $name"
  "$VAE_BIN/vae-encode" --checkpoint "$WORK/$name/checkpoints/last.pt" --out "$WORK/$name.codes.npy" \
    2>>"$WORK/$name.log" || fail "vae-encode $name"
  "$VAE_BIN/vae-sample" --checkpoint "$WORK/$name/checkpoints/last.pt" --num 16 --out "$WORK/$name.png" \
    2>>"$WORK/$name.log" || fail "vae-sample $name"
  is_png "$WORK/$name.png" || fail "$name: no PNG"
  # -log p(x) by importance sampling, from the checkpoint's tensors alone.
  $PY - "$WORK/$name/checkpoints/last.pt" "$WORK/amat/binarized_mnist_test.amat.gz" "$WORK/$name.json" \
    "$activation" "$bounded" <<'PY' || fail "$name: Python's IW NLL differs from vae-eval's"
import gzip, json, math, re, sys
import torch
torch.manual_seed(0)
p = {n: t.detach().double() for n, t in torch.jit.load(sys.argv[1]).named_parameters() if not n.startswith("optimizer")}
x = torch.tensor([[float(v) for v in l.split()] for l in gzip.open(sys.argv[2], "rt")], dtype=torch.float64)
activation, bounded = sys.argv[4], sys.argv[5] == "1"
def dense(prefix, names, v):
    # The model's dense layers: relu, tanh, or a * sigmoid(gate) (the gated layers).
    for n in names:
        a = v @ p[f"{prefix}.{n}.weight"].T + p[f"{prefix}.{n}.bias"]
        if activation == "gated":
            a = a * torch.sigmoid(v @ p[f"{prefix}.{n}_gate.weight"].T + p[f"{prefix}.{n}_gate.bias"])
        v = torch.tanh(a) if activation == "tanh" else a if activation == "gated" else torch.relu(a)
    return v
def fcs(prefix, stem):
    found = {m.group(1) for n in p for m in [re.match(rf"{prefix}\.({stem}fc(\d+))\.weight$", n)] if m}
    return sorted(found, key=lambda n: int(re.search(r"(\d+)$", n).group(1)))
def linear(name, v):
    return v @ p[name + ".weight"].T + p[name + ".bias"]
def gaussian(prefix, mean, sd, v):
    lv = linear(f"{prefix}.{sd}", v)
    return linear(f"{prefix}.{mean}", v), lv.clamp(-6, 2) if bounded else lv
def encode(v):
    return gaussian("encoder", "fc_mean", "fc_sd", dense("encoder", fcs("encoder", ""), v))
dec = fcs("decoder", "")
def logits(z):
    return linear("decoder." + dec[-1], dense("decoder", dec[:-1], z))
def log_n(z, m, lv):
    return (-0.5 * (math.log(2 * math.pi) + lv + (z - m) ** 2 / lv.exp())).sum(-1)
def std_normal(z):
    return log_n(z, torch.zeros_like(z), torch.zeros_like(z))
if "pseudo_inputs" in p:  # the VampPrior: the mixture of the posteriors at the pseudo-inputs
    pm, plv = encode(p["pseudo_inputs"].clamp(0, 1))
    log_prior = lambda z: torch.logsumexp(log_n(z.unsqueeze(-2), pm, plv), -1) - math.log(pm.shape[0])
elif "top.q_mean.weight" in p:  # two stochastic layers: a one-sample weight of p(z1) through z2 ~ q(z2|z1)
    def log_prior(z1):
        m2, lv2 = gaussian("top", "q_mean", "q_sd", dense("top", fcs("top", "q_"), z1))
        z2 = m2 + (0.5 * lv2).exp() * torch.randn_like(m2)
        m1, lv1 = gaussian("top", "p_mean", "p_sd", dense("top", fcs("top", "p_"), z2))
        return log_n(z1, m1, lv1) + std_normal(z2) - log_n(z2, m2, lv2)
else:
    log_prior = std_normal
mu, lv = encode(x)
K, chunks = 2000, []
for _ in range(K // 200):
    z = mu + (0.5 * lv).exp() * torch.randn(200, *mu.shape, dtype=torch.float64)
    l = logits(z)
    log_px = -(l.clamp(min=0) - l * x + torch.log1p(torch.exp(-l.abs()))).sum(-1)
    chunks.append(log_px + log_prior(z) - log_n(z, mu, lv))
nll = -(torch.logsumexp(torch.cat(chunks), 0) - math.log(K)).mean().item()
ours = json.load(open(sys.argv[3]))["nll_iw"]
print(f"IW NLL: vae-eval {ours:.3f}, Python {nll:.3f}")
assert abs(ours - nll) < 0.5, (ours, nll)
PY
}
train_eval_check iwae $'[loss]\niw_samples = 5\n'
train_eval_check vamp $'prior = "vamp"\npseudo_inputs = 10\n'
train_eval_check vamp_iwae $'prior = "vamp"\npseudo_inputs = 10\n[loss]\niw_samples = 3\n'
# The VampPrior paper's architecture: gated dense layers, bounded log-variances.
train_eval_check vamp_gated $'prior = "vamp"\npseudo_inputs = 10\nactivation = "gated"\nbounded_log_var = true\n' gated 1
# The IWAE paper's two stochastic layers with tanh, on the VAE and IWAE objectives.
train_eval_check two_layer $'activation = "tanh"\ntop_latent = 2\ntop_hidden = [8, 8]\n' tanh
train_eval_check two_layer_iwae $'activation = "tanh"\ntop_latent = 2\ntop_hidden = [8]\n[loss]\niw_samples = 3\n' tanh
echo "e2e zoo passed"
