# The .deb: build it with CPack, unpack it into a temporary root, and run the
# installed tools from another folder.
source "$(dirname "$0")/lib.sh"
: "${VAE_BUILD_DIR:?set by CTest}"
(cd "$VAE_BUILD_DIR" && cpack -G DEB -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log"; fail "cpack failed"; }
deb=$(ls "$WORK"/pkg/*.deb)
# Read once: `dpkg-deb | grep -q` under pipefail fails when grep exits
# before dpkg-deb has written everything (SIGPIPE), whatever it found.
info=$(dpkg-deb -I "$deb")
grep -E "Package|Version|Depends" <<<"$info"
grep -q "Depends:.*libtorch" <<<"$info" || fail "the package does not depend on LibTorch"
dpkg -x "$deb" "$WORK/root"
R="$WORK/root/usr"
for tool in vae-train vae-sample vae-encode vae-eval vae-data; do
  [ "$("$R/bin/$tool" --version)" = "$tool $VAE_VERSION" ] || fail "$tool --version from the package"
done
[ -f "$R/share/vae/configs/mnist_vae.toml" ] || fail "configs not installed"
[ -f "$R/share/doc/vae/README.md" ] || fail "README not installed"
"$MAKE_TEST_DATA" "$WORK/data" 200 50
cd /
"$R/bin/vae-train" --config "$R/share/vae/configs/mnist_vae_classic.toml" --data-dir "$WORK/data" \
  --out-dir "$WORK/run" --epochs 1 --device cpu 2>"$WORK/train.log" || { cat "$WORK/train.log"; fail "installed vae-train failed"; }
[ -s "$WORK/run/checkpoints/last.pt" ] || fail "no checkpoint from the installed vae-train"
echo "e2e package passed"
