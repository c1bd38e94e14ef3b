#!/bin/bash
# Runs unit test binaries (cmocka, TAP output) and shell tests (tests/shell/t*.sh,
# TAP through tests/lib.sh), prints each result, and writes the totals to
# $BUILD/results as "passed failed skipped".  Exit 1 when anything failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:?}" "${ZBAK:?}"
export ZBAK BUILD
export CMOCKA_MESSAGE_OUTPUT=TAP
export ZBAK_SHARED_STREAMS=${ZBAK_SHARED_STREAMS:-$(cd "$here/../.." && pwd)/shared/streams}
mkdir -p "$BUILD"
pass=0 fail=0 skip=0
log=$BUILD/test-log
: >"$log"

count() { # $1 = name, reads TAP on stdin
	local name=$1 line
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$log"
		case $line in
		# cmocka writes a skipped test as "not ok N # SKIP name"
		"ok "*"# skip"* | "ok "*"# SKIP"* | "not ok "*"# SKIP"* | "not ok "*"# skip"*)
			skip=$((skip + 1)); echo "skip $name: ${line#*ok }" ;;
		"not ok"*) fail=$((fail + 1)); echo "FAIL $name: ${line#not ok }" ;;
		"ok "*) pass=$((pass + 1)) ;;
		"Bail out!"*) fail=$((fail + 1)); echo "FAIL $name: $line" ;;
		esac
	done
}

run_one() { # $1 = name, rest = command
	local name=$1 rc out
	shift
	out=$(mktemp)
	# a hang must not eat CI's time: each file gets TEST_TIMEOUT seconds
	timeout -k 10 "${TEST_TIMEOUT:-900}" "$@" >"$out" 2>&1
	rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "not ok - $name timed out after ${TEST_TIMEOUT:-900} s" >>"$out"
	fi
	count "$name" <"$out"
	if [ $rc -ne 0 ] && ! grep -v '# SKIP' "$out" | grep -q '^not ok'; then
		fail=$((fail + 1))
		echo "FAIL $name: exited $rc"
		tail -20 "$out" | sed 's/^/    /'
	elif grep -v '# SKIP' "$out" | grep -q '^not ok'; then
		grep -v '^ok ' "$out" | head -40 | sed 's/^/    /'
	fi
	rm -f "$out"
}

for bin in "$@"; do
	run_one "$(basename "$bin")" "$bin"
done
for t in "$here"/shell/t*.sh; do
	[ -e "$t" ] || continue
	run_one "$(basename "$t")" bash "$t"
done

echo "$pass $fail $skip" >"$BUILD/results"
echo "$(basename "$BUILD"): $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
