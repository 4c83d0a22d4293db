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

# make_memory_cgroup BYTES: creates a child of this process's memory cgroup
# limited to BYTES (cgroup v1 or v2) and sets CGROUP_PROCS to the file a
# process writes its pid to, to enter it; sets it empty where cgroups cannot
# be made (not root, a read-only /sys/fs/cgroup, v2 without the memory
# controller here). The cgroups are removed on exit. Not in a subshell.
CGROUPS=()
make_memory_cgroup() {
  local bytes=$1 path dir limit
  CGROUP_PROCS=
  if path=$(sed -n 's/^[0-9]*:\(.*,\)\{0,1\}memory\(,.*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup) && [ -n "$path" ]; then
    dir=/sys/fs/cgroup/memory${path%/}/vae-e2e-$$-${#CGROUPS[@]} limit=memory.limit_in_bytes
  elif path=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/self/cgroup) && [ -n "$path" ] &&
       grep -qw memory "/sys/fs/cgroup${path%/}/cgroup.controllers" 2>/dev/null; then
    dir=/sys/fs/cgroup${path%/}/vae-e2e-$$-${#CGROUPS[@]} limit=memory.max
  else
    return 0
  fi
  mkdir "$dir" 2>/dev/null || return 0
  CGROUPS+=("$dir")
  trap 'rmdir "${CGROUPS[@]}" 2>/dev/null; rm -rf "$WORK"' EXIT
  echo "$bytes" >"$dir/$limit" 2>/dev/null || return 0
  CGROUP_PROCS=$dir/cgroup.procs
}

# in_cgroup CMD...: runs CMD in the cgroup of the last make_memory_cgroup.
in_cgroup() { bash -c 'echo $$ >"$0" && exec "$@"' "$CGROUP_PROCS" "$@"; }
