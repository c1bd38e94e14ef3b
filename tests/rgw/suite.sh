#!/bin/bash
# The repository suite against the RADOS Gateway that tests/rgw/cluster.sh
# started (make check-rgw runs `cluster.sh run tests/rgw/suite.sh`):
# tests/shell/t02*.sh with ZBAK_TEST_BACKEND=s3, then tests/rgw/t*.sh (zbak
# with 5 MiB parts, and the gateway's own strictness).  Prints each failure,
# writes "passed failed skipped" to $BUILD/results and ends with the line
# "rgw: N passed, N failed, N skipped".  Needs ZBAK and BUILD (make sets them) and
# the variables of cluster.sh's DIR/env.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${ZBAK:?}" "${BUILD:?}" "${AWS_ENDPOINT_URL:?run under tests/rgw/cluster.sh}"
export ZBAK BUILD
export ZBAK_TEST_BACKEND=s3 ZBAK_TEST_BUCKET=${ZBAK_TEST_BUCKET:-zbak-rgw-suite}
export ZBAK_TEST_S3_ENDPOINT=${ZBAK_TEST_S3_ENDPOINT:-$AWS_ENDPOINT_URL}
# what tests/s3/server.sh says of s3rver, said of the gateway: it checks
# SigV4 signatures, and the cluster is thrown away at the end
export ZBAK_TEST_S3_SIGCHECK=1 ZBAK_TEST_S3_EPHEMERAL=1
export ZBAK_TEST_S3_SERVER="Ceph RGW $(radosgw --version 2>/dev/null | awk '{print $3}')"
export AWS_REGION=${AWS_REGION:-us-east-1}
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_CA_BUNDLE ZBAK_REPO
export ZBAK_SHARED_STREAMS=${ZBAK_SHARED_STREAMS:-$(cd "$here/../../.." && pwd)/shared/streams}
mkdir -p "$BUILD"
# one binary for the whole run, even if build/zbak is rebuilt meanwhile
cp "$ZBAK" "$BUILD/zbak.under-test" || exit 1
ZBAK=$BUILD/zbak.under-test
# the index cache of this run only (not ~/.cache/zbak)
export ZBAK_CACHE_DIR=$BUILD/cache
rm -rf "$ZBAK_CACHE_DIR"
# 5 MiB parts from 5 MiB up, so that every pack goes up in parts of RGW's
# minimum size (a test that sets its own ZBAK_CONFIG overrides this)
conf=$BUILD/rgw-zbak.conf
printf '[s3]\nretry_time = 30\nmultipart_threshold = 5M\npart_size = 5M\n' >"$conf"
chmod 600 "$conf"
export ZBAK_CONFIG=$conf

rgwlog=${RGW_DIR:+$RGW_DIR/log/client.rgw.a.log}
requests() { if [ -n "$rgwlog" ] && [ -r "$rgwlog" ]; then grep -c ' beast: ' "$rgwlog"; else echo 0; fi; }

pass=0 fail=0 skip=0
log=$BUILD/test-log
: >"$log"
. "$here/../lib/tap.sh"
count() { tap_count "$@"; }

for t in "$here"/../shell/t02*.sh "$here"/t*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t")
	out=$(mktemp)
	before=$(requests) t0=$SECONDS
	timeout -k 10 "${TEST_TIMEOUT:-900}" bash "$t" >"$out" 2>&1
	rc=$?
	[ $rc -eq 124 ] || [ $rc -eq 137 ] &&
		echo "not ok - $name timed out after ${TEST_TIMEOUT:-900} s" >>"$out"
	count "$name" <"$out"
	if [ $rc -ne 0 ] && ! grep -v '# SKIP' "$out" | grep -q '^not ok'; then
		fail=$((fail + 1))
		echo "FAIL $name: exited $rc"
		tail -20 "$out" | sed 's/^/    /'
	elif grep -v '# SKIP' "$out" | grep -q '^not ok'; then
		grep -v '^ok ' "$out" | head -40 | sed 's/^/    /'
	fi
	n=$(($(requests) - before))
	if [ -n "$rgwlog" ] && [ "$n" -eq 0 ]; then
		echo "note $name: made no request to the gateway (it ran on a local repository)"
	else
		echo "     $name: $((SECONDS - t0)) s, $n requests to the gateway"
	fi
	rm -f "$out"
done

echo "$pass $fail $skip" >"$BUILD/results"
echo "rgw: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
