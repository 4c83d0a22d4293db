# Shared by the end-to-end tests. Needs VAE_BIN (folder of the tools) and
# MAKE_TEST_DATA (the generator); gives WORK, a scratch folder removed on exit.
set -euo pipefail
: "${VAE_BIN:?set by CTest}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export VAE_LOG_LEVEL=info

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error "substring" CMD...: CMD must exit non-zero, print no backtrace,
# and its error line must contain the substring.
expect_error() {
  local want=$1; shift
  local rc=0
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected failure: $* (stdout: $(cat "$WORK/out"))"
  [ "$rc" -lt 128 ] || fail "crashed with $rc: $*"
  grep -qF -- "$want" "$WORK/err" || fail "'$want' not in the error of $*: $(cat "$WORK/err")"
  ! grep -q "Exception raised from\|frame #" "$WORK/err" || fail "backtrace printed by $*"
  echo "ok: $* -> $(grep -F -- "$want" "$WORK/err" | head -1)"
}

# is_png FILE: checks the 8-byte PNG signature.
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
