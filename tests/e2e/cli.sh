# Every tool has --help and --version.
source "$(dirname "$0")/lib.sh"
for tool in vae-train vae-sample vae-encode vae-eval vae-data; do
  "$VAE_BIN/$tool" --help >"$WORK/help" || fail "$tool --help exited non-zero"
  grep -q -- "--version" "$WORK/help" || fail "$tool --help does not list --version"
  [ "$("$VAE_BIN/$tool" --version)" = "$tool $VAE_VERSION" ] || fail "$tool --version: $("$VAE_BIN/$tool" --version)"
done
grep -q -- "--config" <("$VAE_BIN/vae-train" --help) || fail "vae-train --help lacks --config"
expect_error "--checkpoint is required" "$VAE_BIN/vae-sample" --out "$WORK/x.png"
echo "e2e cli passed"
