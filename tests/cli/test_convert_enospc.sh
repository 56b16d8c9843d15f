#!/usr/bin/env bash
# `bale convert` onto a full filesystem (a 160 KiB tmpfs in a private mount namespace): exit 1, a
# message naming the error, nothing under the output name, no temporary file left, and an existing
# output kept intact. Skips (77) where tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).
set -uo pipefail
BALE=${BALE_BIN:?}
SRC=${BALE_SOURCE_DIR:?}
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
	echo "SKIP: needs root and mount namespaces to make a full filesystem"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/bale-enospc-XXXXXX")
trap 'rm -rf "$T"' EXIT
export BALE SRC T
unshare -m bash -s <<'INNER'
set -uo pipefail
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
mkdir -p "$T/full"
if ! mount -t tmpfs -o size=160k tmpfs "$T/full"; then
	echo "SKIP: cannot mount tmpfs"
	exit 77
fi
M=$SRC/tests/data/hf/qwen3-bf16

"$BALE" convert "$M" -o "$T/full/out.bale" --weights f32 --quiet >"$T/o" 2>"$T/e"
rc=$?
[ $rc -eq 1 ] && ok || bad "exit $rc, wanted 1"
grep -q "No space left on device" "$T/e" && ok || bad "message does not name ENOSPC: $(cat "$T/e")"
[ ! -e "$T/full/out.bale" ] && ok || bad "partial output under the final name"
[ -z "$(ls -A "$T/full")" ] && ok || bad "leftover files: $(ls -A "$T/full")"

# An existing output survives a failed --force conversion untouched.
printf 'previous complete file\n' >"$T/full/out.bale"
"$BALE" convert "$M" -o "$T/full/out.bale" --weights f32 --force --quiet >/dev/null 2>"$T/e"
rc=$?
[ $rc -eq 1 ] && ok || bad "--force onto full fs: exit $rc"
[ "$(cat "$T/full/out.bale")" = "previous complete file" ] && ok || bad "existing output was modified"
[ "$(ls -A "$T/full")" = "out.bale" ] && ok || bad "leftover files after --force: $(ls -A "$T/full")"
umount "$T/full"
echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
INNER
