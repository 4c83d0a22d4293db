# vae-data fetch and check against a local test server (127.0.0.1 only).
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/src" 300 50
(cd "$WORK/src" && md5sum *.gz) >"$WORK/md5.txt"
python3 "$(dirname "$0")/fetch_server.py" "$WORK/src" "$WORK/port" 120 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || fail "test server did not start"
URL="http://127.0.0.1:$(cat "$WORK/port")"
D="$VAE_BIN/vae-data"
fetch() { "$D" fetch custom --md5-list "$WORK/md5.txt" "$@"; }

# A good fetch: four verified files, nothing else, and check agrees.
fetch --base-url "$URL/good/" --dir "$WORK/ok" 2>"$WORK/log"
for f in "$WORK"/src/*.gz; do cmp -s "$f" "$WORK/ok/$(basename "$f")" || fail "bad copy of $f"; done
[ "$(ls "$WORK/ok" | wc -l)" -eq 4 ] || fail "extra files: $(ls "$WORK/ok")"
"$D" check --dir "$WORK/ok" >"$WORK/check" || fail "check failed on a good folder: $(cat "$WORK/check")"
grep -q "300 images 28x28" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
# A second fetch keeps the verified files and downloads nothing (the server could be gone).
fetch --base-url "http://127.0.0.1:9/nothing/" --dir "$WORK/ok"

# 404, a dropped connection, and an HTML page with status 200 on the first
# mirror: each is reported and the next mirror is used.
for route in missing drop html; do
  fetch --base-url "$URL/$route/" --base-url "$URL/good/" --dir "$WORK/$route" 2>"$WORK/log" ||
    fail "$route then good failed: $(cat "$WORK/log")"
  grep -q "trying the next mirror" "$WORK/log" || fail "$route: no retry logged"
  cmp -s "$WORK/src/train-images-idx3-ubyte.gz" "$WORK/$route/train-images-idx3-ubyte.gz" || fail "$route: bad copy"
done
grep -q "HTML page" "$WORK/log" || fail "an HTML page was not named as such: $(cat "$WORK/log")"

# Only bad mirrors: a clear error naming the file and both checksums, and
# nothing left behind that looks complete.
want=$(head -1 "$WORK/md5.txt" | cut -d' ' -f1)  # the first file fetched
expect_error "md5 $want" "$D" fetch custom --md5-list "$WORK/md5.txt" --base-url "$URL/bad/" --dir "$WORK/bad"
grep -q "checksum mismatch: md5 [0-9a-f]\{32\}, expected $want" "$WORK/err" || fail "both checksums not named: $(cat "$WORK/err")"
[ -z "$(ls "$WORK/bad")" ] || fail "a failed fetch left files: $(ls "$WORK/bad")"
expect_error "could not download a good copy" "$D" fetch custom --md5-list "$WORK/md5.txt" --base-url "$URL/drop/" --dir "$WORK/drop-only"
[ -z "$(ls "$WORK/drop-only")" ] || fail "a dropped fetch left files: $(ls "$WORK/drop-only")"
# The built-in table: generated files are not the official MNIST ones.
expect_error "f68b3c2dcbeaaa9fbdd348bbdeb94873" "$D" fetch mnist --base-url "$URL/good/" --dir "$WORK/official"
expect_error "unknown data set 'cifar'" "$D" fetch cifar --dir "$WORK/x"

# check on damaged and incomplete folders.
cp -r "$WORK/ok" "$WORK/damaged"
head -c 2000 "$WORK/ok/train-images-idx3-ubyte.gz" >"$WORK/damaged/train-images-idx3-ubyte.gz"
! "$D" check --dir "$WORK/damaged" >"$WORK/check" || fail "check passed a truncated file"
grep -q "BAD: .*truncated" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
rm "$WORK/damaged/t10k-labels-idx1-ubyte.gz"
! "$D" check --dir "$WORK/damaged" >"$WORK/check" || fail "check passed a missing file"
grep -q "BAD: missing" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
! "$D" check --dir "$WORK/ok" --name mnist >"$WORK/check" || fail "generated files matched official MD5s"
grep -q "but mnist has f68b3c2dcbeaaa9fbdd348bbdeb94873" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
# Servers that never stop: a 10 GB Content-Length is refused before a byte is
# written, a stream without a length stops at the limit, a trickle at the
# deadline; none leaves a partial file.
expect_error "announces more than 64 MiB (the limit, --max-mb): refused" fetch --base-url "$URL/huge/" --dir "$WORK/huge"
expect_error "more than 1 MiB (the limit, --max-mb): refused" fetch --max-mb 1 --base-url "$URL/endless/" --dir "$WORK/endless"
t0=$(date +%s)
expect_error "timed out after" fetch --timeout 2 --base-url "$URL/trickle/" --dir "$WORK/trickle"
[ $(( $(date +%s) - t0 )) -lt 15 ] || fail "the deadline did not stop the trickle in time"
for d in huge endless trickle; do
  [ -z "$(ls "$WORK/$d")" ] || fail "$d left files: $(ls -la "$WORK/$d")"
done
# A signal during a download removes the partial file; a dead fetch's
# partial file is removed by the next one.
"$D" fetch custom --md5-list "$WORK/md5.txt" --base-url "$URL/trickle/" --dir "$WORK/sig" 2>"$WORK/sig.log" &
fetcher=$!  # vae-data itself, not a shell function's subshell
for _ in $(seq 1 50); do ls "$WORK/sig"/*.part.* >/dev/null 2>&1 && break; sleep 0.1; done
kill -TERM "$fetcher"
rc=0; wait "$fetcher" || rc=$?
[ "$rc" -eq 143 ] || fail "exit code $rc after SIGTERM, expected 143: $(cat "$WORK/sig.log")"
grep -q "interrupted; the partial file was removed" "$WORK/sig.log" || fail "no interruption message: $(cat "$WORK/sig.log")"
[ -z "$(ls "$WORK/sig")" ] || fail "SIGTERM left $(ls "$WORK/sig")"
touch "$WORK/sig/train-images-idx3-ubyte.gz.part.999999999"
fetch --base-url "$URL/good/" --dir "$WORK/sig" 2>/dev/null
[ "$(ls "$WORK/sig" | wc -l)" -eq 4 ] || fail "a stale partial file stayed: $(ls "$WORK/sig")"

# check agrees with the trainer: an empty split, or splits of two image
# sizes, are BAD, as training refuses them.
python3 - "$WORK/ok" "$WORK/odd" "$WORK/empty" <<'PY'
import gzip, os, shutil, struct, sys
src, odd, empty = sys.argv[1:]
shutil.copytree(src, odd)
with gzip.open(os.path.join(odd, "t10k-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 2051, 50, 32, 32) + bytes(50 * 32 * 32))
shutil.copytree(src, empty)
with gzip.open(os.path.join(empty, "t10k-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 2051, 0, 28, 28))
with gzip.open(os.path.join(empty, "t10k-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">II", 2049, 0))
PY
! "$D" check --dir "$WORK/odd" >"$WORK/check" || fail "check passed splits of two image sizes"
grep -q "BAD: train images are 28x28 but test images are 32x32" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
expect_error "test images are 1x32x32 (channels x height x width) but the model's are 1x28x28" "$VAE_BIN/vae-train" --data-dir "$WORK/odd" --out-dir "$WORK/r-odd"
! "$D" check --dir "$WORK/empty" >"$WORK/check" || fail "check passed an empty split"
grep -q "BAD: .* 0 images 28x28 (training needs at least one image)" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
expect_error "holds no images" "$VAE_BIN/vae-train" --data-dir "$WORK/empty" --out-dir "$WORK/r-empty"
# binarized MNIST: the original .amat files, checked by SHA-256 and size.
# The server holds the real files where this workplace has them (the
# checksums are the originals'); elsewhere this part is skipped.
BM=${VAE_SOURCE_DIR:-.}/../shared/data/binarized_mnist
if [ -f "$BM/binarized_mnist_valid.amat.gz" ]; then
  for s in train valid test; do gzip -dc "$BM/binarized_mnist_$s.amat.gz" >"$WORK/src/binarized_mnist_$s.amat"; done
  "$D" fetch binarized-mnist --base-url "$URL/good/" --dir "$WORK/bm" 2>"$WORK/log" || fail "fetch binarized-mnist: $(cat "$WORK/log")"
  cmp -s "$WORK/src/binarized_mnist_test.amat" "$WORK/bm/binarized_mnist_test.amat" || fail "bad copy of the test file"
  "$D" check --dir "$WORK/bm" --name binarized-mnist >"$WORK/check" || fail "check: $(cat "$WORK/check")"
  grep -q "10000 images 28x28, sha256 e6687bfea3f8.* matches binarized-mnist" "$WORK/check" || fail "check output: $(cat "$WORK/check")"
  "$D" fetch binarized-mnist --base-url "http://127.0.0.1:9/gone/" --dir "$WORK/bm" || fail "verified files were fetched again"
  expect_error "could not download a good copy (sha256 ad693b29f94c" "$D" fetch binarized-mnist --base-url "$URL/bad/" --dir "$WORK/bm-bad"
  expect_error "announces more than 78400000 bytes (the file's known size): refused" "$D" fetch binarized-mnist --base-url "$URL/huge/" --dir "$WORK/bm-huge"
  [ -z "$(ls -A "$WORK/bm-bad")$(ls -A "$WORK/bm-huge")" ] || fail "a failed fetch left files"
  "$VAE_BIN/vae-train" --data-dir "$WORK/bm" --out-dir "$WORK/r-bm" --epochs 0 2>"$WORK/log" || fail "train on fetched amat: $(cat "$WORK/log")"
  grep -q "10000 images (its own split)" "$WORK/log" || fail "no validation split from the valid file: $(cat "$WORK/log")"
else
  echo "skip: no binarized MNIST in $BM"
fi
echo "e2e fetch passed"
