# Shared by the CLI test scripts (sourced after `set -uo pipefail`; TEST_TAG names the temp dir).
# Sets BALE (the binary), SRC (the source tree) and T (a temp dir removed on exit), and counts
# checks in `pass` / `fails`; a script ends with: echo "$pass passed, $fails failed"; [ $fails -eq 0 ]
BALE=${BALE_BIN:?}
SRC=${BALE_SOURCE_DIR:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/bale-${TEST_TAG:-cli}-XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# expect_rc WANT DESCRIPTION COMMAND...: runs COMMAND (stdin empty), output in $T/out and $T/err
expect_rc() {
	local want=$1 what=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null
	local rc=$?
	if [ "$rc" -ne "$want" ]; then bad "$what: exit $rc, wanted $want; stderr: $(head -c 400 "$T/err")"; else ok; fi
}
# contains FILE REGEX DESCRIPTION
contains() {
	if grep -qE -- "$2" "$1"; then ok; else bad "$3: no /$2/ in $(basename "$1"): $(head -c 800 "$1")"; fi
}
