# Bad input: one clear line, non-zero exit, no crash, no damaged output.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 64 16
T="$VAE_BIN/vae-train"

printf '[model]\nlatnet = 3\n' >"$WORK/typo.toml"
expect_error "unknown key 'model.latnet'" "$T" --config "$WORK/typo.toml" --data-dir "$WORK/data" --out-dir "$WORK/r1"
[ ! -e "$WORK/r1" ] || fail "a bad config still created the run folder"
printf '[train]\nbatch_size = -4\n' >"$WORK/neg.toml"
expect_error "'train.batch_size' must be in [1" "$T" --config "$WORK/neg.toml" --data-dir "$WORK/data"
expect_error "'train.lr' must be a finite number > 0" "$T" --lr 0 --data-dir "$WORK/data"
expect_error "'data.binarize' must be \"none\", \"static\" or \"dynamic\"" "$T" --binarize yes --data-dir "$WORK/data"
expect_error "cannot open config file" "$T" --config "$WORK/absent.toml"
expect_error "data folder does not exist" "$T" --data-dir "$WORK/nowhere" --out-dir "$WORK/r2"
expect_error "--bogus" "$T" --bogus 1
expect_error "no usable CUDA" "$T" --device cuda --data-dir "$WORK/data" --out-dir "$WORK/r3"

# A new run takes its image shape from the data (saying so when the config
# asked for another); a resume on images of another shape is refused.
printf '[model]\nimage_height = 32\n' >"$WORK/tall.toml"
"$T" --config "$WORK/tall.toml" --data-dir "$WORK/data" --out-dir "$WORK/r6" --epochs 1 2>"$WORK/log" \
  || { cat "$WORK/log"; fail "a run whose config names another image height"; }
grep -q "model.image_height = 32 in the config, but the data's images are 28" "$WORK/log" || fail "no warning about model.image_height"
mkdir -p "$WORK/tall"
/usr/bin/python3 -c "import numpy as np, sys; [np.save(sys.argv[1] + f'/{s}_images.npy', np.zeros((8, 32, 32), np.uint8)) for s in ('train', 'test')]" "$WORK/tall"
expect_error "images are 1x32x32 (channels x height x width) but the model's are 1x28x28" "$T" --resume "$WORK/r6" --data-dir "$WORK/tall" --epochs 2
expect_error "cannot create folder" "$T" --data-dir "$WORK/data" --out-dir /dev/full/run

# Broken data files.
mkdir -p "$WORK/bad" && cp "$WORK"/data/* "$WORK/bad/"
printf '<html><body>Not Found</body></html>' >"$WORK/bad/train-images-idx3-ubyte.gz"
expect_error "train-images-idx3-ubyte.gz: named .gz but is not a gzip file" "$T" --data-dir "$WORK/bad" --out-dir "$WORK/r4"
cp "$WORK/data/train-images-idx3-ubyte.gz" "$WORK/bad/"
head -c 500 "$WORK/data/t10k-images-idx3-ubyte.gz" >"$WORK/bad/t10k-images-idx3-ubyte.gz"
expect_error "t10k-images-idx3-ubyte.gz: truncated" "$T" --data-dir "$WORK/bad" --out-dir "$WORK/r5"

# A run folder is not overwritten by accident.
"$T" --data-dir "$WORK/data" --out-dir "$WORK/run" --epochs 1 --batch-size 16 --device cpu 2>/dev/null
cp "$WORK/run/checkpoints/last.pt" "$WORK/keep.pt"
expect_error "already holds a run" "$T" --data-dir "$WORK/data" --out-dir "$WORK/run" --epochs 1
cmp -s "$WORK/run/checkpoints/last.pt" "$WORK/keep.pt" || fail "checkpoint changed"

# Bad checkpoints.
S="$VAE_BIN/vae-sample"
expect_error "cannot open" "$S" --checkpoint "$WORK/none.pt" --out "$WORK/x.png"
echo "garbage" >"$WORK/garbage.pt"
expect_error "not a checkpoint" "$S" --checkpoint "$WORK/garbage.pt" --out "$WORK/x.png"
cp "$WORK/keep.pt" "$WORK/alone.pt"
expect_error "incomplete checkpoint: no manifest" "$S" --checkpoint "$WORK/alone.pt" --out "$WORK/x.png"
cp -r "$WORK/run" "$WORK/cut"
head -c 3000 "$WORK/keep.pt" >"$WORK/cut/checkpoints/last.pt"
expect_error "truncated or replaced" "$S" --checkpoint "$WORK/cut/checkpoints/last.pt" --out "$WORK/x.png"
cp -r "$WORK/run" "$WORK/flip"
python3 - "$WORK/flip/checkpoints/last.pt" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 1; open(p, 'wb').write(b)
PY
expect_error "checksum mismatch" "$S" --checkpoint "$WORK/flip/checkpoints/last.pt" --out "$WORK/x.png"

# Resume: another model is refused naming the field; a NaN stops the run and
# leaves the last good checkpoint as it was.
printf '[model]\nhidden = [512, 256]\nlatent = 3\n' >"$WORK/other.toml"
expect_error "model.latent (2 vs 3)" "$T" --resume "$WORK/run" --config "$WORK/other.toml"
expect_error "non-finite" "$T" --resume "$WORK/run" --epochs 3 --lr 1e9
cmp -s "$WORK/run/checkpoints/last.pt" "$WORK/keep.pt" || fail "divergence changed the checkpoint"
expect_error "no such run folder or checkpoint" "$T" --resume "$WORK/absent"
expect_error "validation" "$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --split validation --out "$WORK/x.csv"
expect_error "cannot write" "$S" --checkpoint "$WORK/run/checkpoints/last.pt" --out "$WORK/no/such/dir/x.png"
expect_error "cannot write" "$S" --checkpoint "$WORK/run/checkpoints/last.pt" --out /dev/full/x.png
# A file-size limit (ulimit -f, in KiB) is a clean write error, not SIGXFSZ (exit 153).
expect_error "cannot write: File too large" bash -c "ulimit -f 100; exec \"\$0\" \"\$@\"" "$T" --data-dir "$WORK/data" \
  --out-dir "$WORK/r-fsize" --epochs 1 --batch-size 16 --device cpu
[ ! -e "$WORK/r-fsize/checkpoints/last.pt" ] || fail "a checkpoint cut by the file-size limit was left"
# An address-space limit (ulimit -v, in KiB): OpenBLAS's first product used
# to retry its buffer's mmap for ever. Now a one-line error, at once; and an
# allocation that fails ends the tool at once (OpenBLAS's exit used to wait
# on its stuck thread). LibTorch alone maps about 750 MB here.
start=$SECONDS
expect_error "the address-space limit (ulimit -v 800000 KiB) leaves less than" bash -c 'ulimit -v 800000; exec timeout 60 "$0" "$@"' \
  "$T" --data-dir "$WORK/data" --out-dir "$WORK/r-vmem" --epochs 1 --device cpu
expect_error "the address-space limit (ulimit -v 600000 KiB) leaves less than" bash -c 'ulimit -v 600000; exec timeout 60 "$0" "$@"' \
  "$VAE_BIN/vae-eval" --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 10
# With room for OpenBLAS but not for the model: the allocation's error, at once.
printf '[model]\nhidden = [8192, 8192]\n' >"$WORK/wide.toml"  # 268 MB for one weight matrix
expect_error "(out of memory: a memory limit" bash -c 'ulimit -v 1200000; exec timeout 60 "$0" "$@"' \
  "$T" --config "$WORK/wide.toml" --data-dir "$WORK/data" --out-dir "$WORK/r-vmem2" --epochs 1 --device cpu
[ $((SECONDS - start)) -le 30 ] || fail "the memory-limit errors took $((SECONDS - start)) s"
# A cgroup's memory limit (containers, Slurm): the kernel killed the tool
# past it (exit 137, not a word). Now an allocation fails first: one line.
make_memory_cgroup $((250 << 20))
if [ -n "$CGROUP_PROCS" ]; then
  expect_error "(out of memory under the cgroup memory limit of 250 MiB" in_cgroup timeout 60 "$T" \
    --config "$WORK/wide.toml" --data-dir "$WORK/data" --out-dir "$WORK/r-cgroup" --epochs 1 --device cpu
  make_memory_cgroup $((75 << 20))  # LibTorch's own working set is about 60 MB here
  expect_error "the cgroup memory limit of 75 MiB" in_cgroup timeout 60 "$VAE_BIN/vae-eval" \
    --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 10
else
  echo "skip: no memory cgroup can be made here (cgroup v1 or v2 with the memory controller, as root)"
fi

# Outputs that would destroy an input or mislabel their format are refused.
E="$VAE_BIN/vae-eval"
expect_error "refusing to write over a checkpoint" "$E" --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 0 --out "$WORK/run/checkpoints/last.pt"
expect_error "refusing to write over a checkpoint" "$E" --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 0 --out "$WORK/run/checkpoints/last.manifest.json"
cmp -s "$WORK/run/checkpoints/last.pt" "$WORK/keep.pt" || fail "vae-eval --out destroyed the checkpoint"
expect_error "--out $WORK/z.png: must end in .csv or .npy" "$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --out "$WORK/z.png"
[ ! -e "$WORK/z.png" ] || fail "vae-encode wrote CSV into a .png"
expect_error "--noise-level must be a finite number" "$E" --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 0 --noise-level nan
expect_error "--seed" "$E" --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 0 --seed -1
expect_error "--seed" "$S" --checkpoint "$WORK/run/checkpoints/last.pt" --out "$WORK/x.png" --seed -5
expect_error "VAE_LOG_LEVEL=bogus: unknown log level" env VAE_LOG_LEVEL=bogus "$S" --checkpoint "$WORK/run/checkpoints/last.pt" --out "$WORK/x.png"

# A resume does not read an edited config.toml, and says so.
sed -i 's/^lr = .*/lr = 0.5/' "$WORK/run/config.toml"
"$T" --resume "$WORK/run" --epochs 2 2>"$WORK/edited.log"
grep -q "config.toml was edited (train.lr (0.5 vs 0.001), file vs checkpoint)" "$WORK/edited.log" ||
  fail "an edited config.toml was ignored silently: $(grep -i warn "$WORK/edited.log")"
echo "e2e errors passed"
