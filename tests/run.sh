#!/bin/bash
# Runs unit test binaries (cmocka, TAP output) and shell tests (tests/shell/t*.sh,
# TAP through tests/lib.sh), prints each result, and writes the totals to
# $BUILD/results as "passed failed skipped".  Exit 1 when anything failed.
#
# Then the repository suite (tests/shell/t02*.sh) again with
# ZBAK_TEST_BACKEND=s3, its tests named "... [s3]":
#   - against the endpoint in ZBAK_TEST_S3_ENDPOINT, or in AWS_ENDPOINT_URL
#     when ZBAK_TEST_BUCKET is set too (a MinIO, say; credentials from
#     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, bucket ZBAK_TEST_BUCKET,
#     zbak-test by default; each test file works under its own prefix
#     zbak-test/... and deletes it at the end);
#   - otherwise against s3rver, started on a free loopback port by
#     tests/s3/server.sh and stopped at the end (also on failure or ^C);
#     without node and npm the pass is reported skipped.
# ZBAK_TEST_S3=0 skips the pass.
#
# A real ZFS: zfs-fuse (tests/zfs/fuse.sh), one daemon for the whole run
# (the one that runs already, or one started here and stopped at the end,
# also on failure or ^C).  The real-ZFS files (t07*.sh) run on it in the
# main loop; the files that run on the stand-in and on a real ZFS alike
# (t05*.sh) run again on it, their tests named "... [zfs-fuse]".  Where
# zfs-fuse cannot run (not root, no /dev/fuse, not installed) those tests
# report themselves skipped with the reason.  ZBAK_TEST_ZFS_FUSE=0 skips
# them on purpose.
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

. "$here/lib/tap.sh"
count() { tap_count "$@"; }

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

# --- the zfs-fuse daemon, for the whole run ----------------------------------
zfs_state=
zfs_stop() {
	[ -n "$zfs_state" ] || return 0
	"$here/zfs/fuse.sh" stop "$zfs_state"
	rm -rf "$zfs_state"
	zfs_state=
}
s3_state=
s3_stop() {
	[ -n "$s3_state" ] || return 0
	"$here/s3/server.sh" stop "$s3_state"
	rm -rf "$s3_state"
	s3_state=
}
trap 's3_stop; zfs_stop' EXIT
trap 's3_stop; zfs_stop; exit 130' INT
trap 's3_stop; zfs_stop; exit 143' TERM
if [ "${ZBAK_TEST_ZFS_FUSE:-1}" != 0 ] && "$here/zfs/fuse.sh" check >/dev/null; then
	zfs_state=$(mktemp -d "${TMPDIR:-/tmp}/zbak-zfs-fuse.XXXXXX")
	"$here/zfs/fuse.sh" start "$zfs_state" ||
		echo "the zfs-fuse daemon did not start: each real-ZFS test file tries again"
fi

for bin in "$@"; do
	run_one "$(basename "$bin")" "$bin"
done
for t in "$here"/shell/t*.sh; do
	[ -e "$t" ] || continue
	if [ "${ZBAK_TEST_ZFS_FUSE:-1}" = 0 ] && [[ $(basename "$t") == t07* ]]; then
		count "$(basename "$t")" <<<"ok 1 # skip $(basename "$t"): ZBAK_TEST_ZFS_FUSE=0"
		continue
	fi
	run_one "$(basename "$t")" bash "$t"
done

# --- the files that run on a real ZFS too, on zfs-fuse -----------------------
if [ "${ZBAK_TEST_ZFS_FUSE:-1}" = 0 ]; then
	count "zfs-fuse" <<<"ok 1 # skip the backup suite on zfs-fuse: ZBAK_TEST_ZFS_FUSE=0"
else
	t0=$SECONDS
	for t in "$here"/shell/t05*.sh; do
		[ -e "$t" ] || continue
		run_one "$(basename "$t") [zfs-fuse]" env ZBAK_TEST_ZFS=fuse bash "$t"
	done
	echo "backup suite on zfs-fuse: $((SECONDS - t0)) s"
fi
zfs_stop

# --- the repository suite on S3 ---------------------------------------------

s3_skip() { # REASON
	count "s3" <<<"ok 1 # skip the repository suite on S3: $1"
}

s3_files() {
	local t
	for t in "$here"/shell/t02*.sh; do
		[ -e "$t" ] || continue
		run_one "$(basename "$t") [s3]" env ZBAK_TEST_BACKEND=s3 bash "$t"
	done
}

s3_pass() {
	local t0=$SECONDS
	if [ "${ZBAK_TEST_S3:-1}" = 0 ]; then
		s3_skip "ZBAK_TEST_S3=0"
		return
	fi
	if [ -n "${ZBAK_TEST_S3_ENDPOINT:-}" ] ||
	   { [ -n "${AWS_ENDPOINT_URL:-}" ] && [ -n "${ZBAK_TEST_BUCKET:-}" ]; }; then
		(
			[ -n "${ZBAK_TEST_S3_ENDPOINT:-}" ] &&
				export AWS_ENDPOINT_URL=$ZBAK_TEST_S3_ENDPOINT
			export ZBAK_TEST_BUCKET=${ZBAK_TEST_BUCKET:-zbak-test}
			export ZBAK_TEST_S3_SERVER=$AWS_ENDPOINT_URL
			echo "repository suite on S3: $AWS_ENDPOINT_URL, bucket $ZBAK_TEST_BUCKET"
			s3_files
			echo "$pass $fail $skip" >"$BUILD/.s3-counts"
		)
		read -r pass fail skip <"$BUILD/.s3-counts"
		rm -f "$BUILD/.s3-counts"
		echo "repository suite on S3: $((SECONDS - t0)) s"
		return
	fi
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		s3_skip "node and npm not found (Debian: apt-get install nodejs npm), or point it at an S3 endpoint with ZBAK_TEST_S3_ENDPOINT"
		return
	fi
	s3_state=$(mktemp -d "${TMPDIR:-/tmp}/zbak-s3rver.XXXXXX")
	if ! "$here/s3/server.sh" start "$s3_state" >"$s3_state/start.out" 2>"$s3_state/start.err"; then
		cp "$s3_state/npm.log" "$BUILD/s3-npm.log" 2>/dev/null
		count "s3" <<<"not ok 1 - the S3 test server did not start: $(tail -3 "$s3_state/start.err" | tr '\n' ' ')"
		s3_stop
		return
	fi
	[ -s "$s3_state/npm.log" ] && cp "$s3_state/npm.log" "$BUILD/s3-npm.log"
	(
		unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_CA_BUNDLE
		. "$s3_state/env"
		echo "repository suite on S3: $ZBAK_TEST_S3_SERVER at $AWS_ENDPOINT_URL"
		s3_files
		echo "$pass $fail $skip" >"$BUILD/.s3-counts"
	)
	read -r pass fail skip <"$BUILD/.s3-counts"
	rm -f "$BUILD/.s3-counts"
	s3_stop
	echo "repository suite on S3: $((SECONDS - t0)) s"
}
s3_pass

echo "$pass $fail $skip" >"$BUILD/results"
echo "$(basename "$BUILD"): $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
