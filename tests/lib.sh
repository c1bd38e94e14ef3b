# Shell test helpers (TAP).  Source it, then:
#   test_expect_success 'what' 'commands'
#   test_expect_failure_exit 'what' 'commands'   (must exit non-zero)
#   test_skip 'what' 'why'
#   test_done
# $ZBAK is the binary under test; each test file gets a fresh $TMP.
set -u
: "${ZBAK:?ZBAK must name the zbak binary}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zbak-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
_n=0 _failed=0
SHARED_STREAMS=${ZBAK_SHARED_STREAMS:-}

test_expect_success() {
	_n=$((_n + 1))
	if (cd "$TMP" && eval "$2") >"$TMP/.out" 2>&1; then
		echo "ok $_n - $1"
	else
		echo "not ok $_n - $1"
		sed 's/^/#   /' "$TMP/.out" | tail -30
		_failed=$((_failed + 1))
	fi
}

test_skip() {
	_n=$((_n + 1))
	echo "ok $_n # skip $1: $2"
}

test_done() {
	echo "1..$_n"
	[ $_failed -eq 0 ]
}

# Run a command that must fail (exit non-zero but not crash: no signal exit,
# no sanitizer report); stderr goes to $TMP/err.
expect_fail() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ $rc -eq 0 ]; then
		echo "expected failure, got success: $*"
		return 1
	fi
	if [ $rc -ge 128 ]; then
		echo "crashed with signal $((rc - 128)): $*"
		cat "$TMP/err"
		return 1
	fi
	if grep -q -E 'Sanitizer|runtime error' "$TMP/err"; then
		cat "$TMP/err"
		return 1
	fi
	return 0
}
