#!/bin/bash
# S3 through a faulty network: tests/s3/faultproxy.js sits on loopback
# between zbak and the server.  Push and restore (byte for byte) succeed when
# about 18% of the requests are dropped (before or in the middle of the
# response, or after the server acted: the answer lost), answered 500 or
# 503 SlowDown, and 5% are delayed.  Requests
# whose answers are lost after the server acted on them (a
# CompleteMultipartUpload, conditional PUTs, a DELETE) count as done when
# the object is there as they would have made it.  With the server gone in
# the middle of a push, the push fails within retry_time (5 s) and a
# little, not twice that, with exit 4 and a message naming the endpoint,
# and stores no manifest; when the server is back the same push completes,
# uploading only what is missing, and verify --read-data passes.
# Runs only with ZBAK_TEST_BACKEND=s3 (tests/run.sh's second pass).
. "$(dirname "$0")/../lib.sh"

if ! is_s3; then
	test_skip 'S3 through a fault-injecting proxy' \
		'S3 only: runs in the ZBAK_TEST_BACKEND=s3 pass of tests/run.sh'
	test_done
	exit
fi
case ${AWS_ENDPOINT_URL:-} in
http://*) ;;
*)
	test_skip 'S3 through a fault-injecting proxy' \
		"the proxy speaks plain HTTP; the endpoint is '${AWS_ENDPOINT_URL:-}'"
	test_done
	exit
	;;
esac
if ! command -v node >/dev/null 2>&1; then
	test_skip 'S3 through a fault-injecting proxy' 'node not found'
	test_done
	exit
fi

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO
UPSTREAM=$AWS_ENDPOINT_URL
RETRY=5
repo_new; R=$REPO
gen() { "$ZBAK" debug gen --objects 2 "$@"; }
# direct to the server, and through the proxy (own config: multipart for
# objects from 5 MiB, so parts are faulted too; small retry_time for "gone")
zd() { "$ZBAK" -r "$R" "$@"; }
zp() { AWS_ENDPOINT_URL=$PROXY ZBAK_CONFIG=$TMP/faults.conf "$ZBAK" -r "$R" "$@"; }
zg() { AWS_ENDPOINT_URL=$PROXY ZBAK_CONFIG=$TMP/gone.conf "$ZBAK" -r "$R" "$@"; }
printf '[s3]\nretry_time = 120\nmultipart_threshold = 5M\npart_size = 5M\n' >"$TMP/faults.conf"
printf '[s3]\nretry_time = %s\nconnect_timeout = 2\nstall_timeout = 5\n' $RETRY >"$TMP/gone.conf"
chmod 600 "$TMP/faults.conf" "$TMP/gone.conf"

# start_proxy [faultproxy options]: $proxy (pid), $PROXY (its URL)
proxy=
start_proxy() {
	local port= i
	echo "{}" >"$TMP/proxy.ctl"
	# a file of its own: reading the last proxy's (not yet truncated by
	# the new one) would give a stale port
	proxy_n=$((${proxy_n:-0} + 1))
	PROXY_OUT=$TMP/proxy.$proxy_n.out
	node "$(dirname "$0")/../s3/faultproxy.js" --target "$UPSTREAM" \
		--log "$TMP/proxy.log" --control "$TMP/proxy.ctl" "$@" \
		>"$PROXY_OUT" 2>>"$TMP/proxy.err" </dev/null &
	proxy=$!
	for i in $(seq 200); do
		port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$PROXY_OUT" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { echo "the fault proxy did not start"; cat "$TMP/proxy.err"; return 1; }
	PROXY=http://127.0.0.1:$port
}
# server gone|up: switch the proxy, wait for its acknowledgement;
# server gone-on KIND[:TEXT]: the server goes when such a request comes
# (waits for the proxy to have read that); gone_at prints when it last
# went, in milliseconds since the epoch
server() {
	local n i what=^state
	n=$(grep -c "^state " "$PROXY_OUT")
	case $1 in
	gone) echo "{\"gone\": true}" ;;
	up) echo "{\"gone\": false}" ;;
	gone-on) echo "{\"goneOn\": \"$2\"}"; what=^control n=$(grep -c "^control " "$PROXY_OUT") ;;
	esac >"$TMP/proxy.ctl"
	kill -HUP "$proxy" || { echo "the fault proxy is gone:"; tail -20 "$TMP/proxy.err"; return 1; }
	for i in $(seq 100); do
		[ "$(grep -c "$what " "$PROXY_OUT")" -gt "$n" ] && return 0
		sleep 0.05
	done
	echo "the proxy did not switch to $1"; return 1
}
gone_at() { sed -n 's/^state gone [0-9]* at \([0-9]*\)$/\1/p' "$PROXY_OUT" | tail -1; }
stop_proxy() {
	[ -n "$proxy" ] || return 0
	kill -TERM "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null
	proxy=
}
at_exit stop_proxy
# n chunks (m new) of a push's output -> "n m"
chunks() { sed -n 's/.* \([0-9]*\) chunks (\([0-9]*\) new).*/\1 \2/p' "$1"; }

# 18% of the requests faulted, 5% delayed; the seed makes the choices
# repeatable (not which request meets which: the uploads run in parallel).
# A repeated conditional PUT is refused 412, as S3 does.
start_proxy --seed 20240101 --drop 0.04 --drop-mid 0.03 --err500 0.04 \
	--slowdown 0.04 --lose 0.03 --delay 0.05 --delay-ms 300 --if-none-match || exit 1
: >"$TMP/proxy.log"

test_expect_success 'init, push and restore through a proxy faulting 18% of the requests' '
	gen --name f/fs --size 24M --seed 11 --compressible 0.5 -o "$TMP/s" &&
	zp init >/dev/null &&
	zp push "$TMP/s" >out && cat out && grep -q "^stored f/fs@v1:" out &&
	zp restore f/fs@v1 >"$TMP/r" && cmp "$TMP/s" "$TMP/r" &&
	zp restore -o "$TMP/r2" f/fs@v1 >/dev/null && cmp "$TMP/s" "$TMP/r2" &&
	zp ls >out && grep -q "f/fs" out &&
	zp verify --read-data >out && grep -q " 0 problems" out &&
	n=$(wc -l <"$TMP/proxy.log") && f=$(grep -c -v " ok " "$TMP/proxy.log") &&
	echo "# $f of $n requests faulted: $(awk "{ print \$2 }" "$TMP/proxy.log" | sort | uniq -c | tr -s " \n" "  ")" >&3 &&
	[ "$f" -ge 5 ] &&
	zd verify --read-data >out && grep -q " 0 problems" out
' 3>&1

test_expect_success 'an incremental and a second full through the faults: dedup still works' '
	gen --name f/fs --size 24M --seed 11 --compressible 0.5 --version 2 -o "$TMP/s2" &&
	zp push "$TMP/s2" >out && cat out &&
	set -- $(chunks out) && [ "$2" -lt "$1" ] &&
	zp restore f/fs@v2 | cmp - "$TMP/s2"
'

# Lost answers: the server acts on the request, and once it has answered
# the proxy closes the connection without a byte of the answer.  The
# proxy also answers a repeated conditional PUT 412, as S3 does (s3rver
# ignores If-None-Match).  Before zbak checked what such a request left,
# the lost Complete was repeated until retry_time ran out (the upload was
# gone), and a recipe's repeated PUT failed "already exists".
stop_proxy
start_proxy --if-none-match --lose-once complete --lose-once put:/recipes/ \
	--lose-once put:/snapshots/ --lose-once delete:/locks/ || exit 1
printf '[s3]\nretry_time = 10\nmultipart_threshold = 5M\npart_size = 5M\n' >"$TMP/lost.conf"
chmod 600 "$TMP/lost.conf"
zl() { AWS_ENDPOINT_URL=$PROXY ZBAK_CONFIG=$TMP/lost.conf "$ZBAK" -r "$R" "$@"; }

test_expect_success 'lost answers to a Complete, two PUTs and a DELETE that took effect: done' '
	: >"$TMP/proxy.log" &&
	gen --name l/fs --size 24M --seed 13 -o "$TMP/l" &&
	zl push "$TMP/l" >out 2>err; rc=$?
	cat out err
	grep " lose " "$TMP/proxy.log" | sed "s/^/# /" >&3
	[ $rc -eq 0 ] && grep -q "^stored l/fs@v1:" out &&
	[ "$(grep -c " lose " "$TMP/proxy.log")" -eq 4 ] &&
	[ "$(repo_count "$R" locks/)" -eq 0 ] &&
	zd restore l/fs@v1 | cmp - "$TMP/l" &&
	zd verify >out && grep -q " 0 problems" out
' 3>&1

stop_proxy
start_proxy --seed 1 || exit 1

test_expect_success "server gone before a command: exit 4 within retry_time ($RETRY s), naming the endpoint" '
	server gone &&
	t0=$(date +%s.%N) &&
	zg ls >out 2>err; rc=$?
	t1=$(date +%s.%N)
	server up || exit 1
	cat err
	el=$(awk -v a=$t0 -v b=$t1 "BEGIN { printf \"%.1f\", b - a }") &&
	echo "# ls failed after $el s with exit $rc" >&3 &&
	[ $rc -eq 4 ] && grep -q "${PROXY#http://}" err && grep -q -i "unreachable" err &&
	awk -v e=$el -v r='$RETRY' "BEGIN { exit !(e <= r + 6) }" &&
	! grep -q -E "Sanitizer|runtime error" err
' 3>&1

# The push reads a FIFO whose write end the test holds (fd 4): the first
# 20 MB, then (once a 16 MiB pack of it is in the store) the rest, written
# in the background (the push must fail on its own, whether or not it has
# read all its input); the server goes when the next pack's PUT arrives.
# Time from then to the push's exit: every attempt is refused at once, so
# zbak must give up retry_time after that first failure.  It took twice
# retry_time when the lock's DELETE, after the push had given up, waited
# retry_time again; the limit, 1.5 x retry_time, leaves half a retry_time
# for a loaded machine either way.
test_expect_success "server gone in the middle of a push: exit 4 within retry_time ($RETRY s), no manifest" '
	gen --name g/fs --size 40M --seed 12 -o "$TMP/big" &&
	size=$(stat -c %s "$TMP/big") &&
	packs0=$(repo_count "$R" data/) && repo_keys "$R" data/ >keys.before &&
	mkfifo "$TMP/fifo" && exec 4<>"$TMP/fifo" &&
	{ AWS_ENDPOINT_URL=$PROXY ZBAK_CONFIG=$TMP/gone.conf timeout 120 \
		"$ZBAK" -r "$R" push --name g/fs@v1 "$TMP/fifo" >"$TMP/pg" 2>"$TMP/pg.err" 4>&- & pg=$!; } &&
	timeout 60 head -c 20000000 "$TMP/big" >&4 &&
	i=0 &&
	while [ $(repo_count "$R" data/) -le $packs0 ] && [ $i -lt 200 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ $(repo_count "$R" data/) -gt $packs0 ] || { echo "no pack stored"; kill $pg; exit 1; }
	server gone-on put:/data/ &&
	{ timeout 60 tail -c +20000001 "$TMP/big" >&4 2>/dev/null & wr=$!; } &&
	wait $pg; rc=$?
	t1=$(date +%s%3N) t0=$(gone_at)
	# the test holds a read end too: the writer may be blocked
	kill $wr 2>/dev/null; wait $wr 2>/dev/null
	exec 4>&-
	cat "$TMP/pg" "$TMP/pg.err"
	drop_truncated "$R" keys.before >&3
	[ -n "$t0" ] || { echo "the server never went"; exit 1; }
	el=$(awk -v a=$t0 -v b=$t1 "BEGIN { printf \"%.1f\", (b - a) / 1000 }") &&
	echo "# the push failed $el s after the server went, exit $rc; $(($(repo_count "$R" data/) - packs0)) packs of it stored" >&3 &&
	[ $rc -eq 4 ] &&
	grep -q "${PROXY#http://}" "$TMP/pg.err" && grep -q -i "unreachable" "$TMP/pg.err" &&
	grep -q "no manifest" "$TMP/pg.err" &&
	! grep -q "^stored" "$TMP/pg" &&
	awk -v e=$el -v r='$RETRY' "BEGIN { exit !(e < 1.5 * r) }" &&
	[ "$(repo_count "$R" snapshots/g/)" -eq 0 ] &&
	zd ls >out && ! grep -q "g/fs" out &&
	zd verify >out && grep -q " 0 problems" out
' 3>&1

test_expect_success 'the server back: the same push completes, uploading only what is missing' '
	server up &&
	zg push --name g/fs@v1 "$TMP/big" >out && cat out &&
	grep -q "^stored g/fs@v1:" out &&
	set -- $(chunks out) && [ $# -eq 2 ] &&
	echo "# the repeated push: $2 of $1 chunks new" >&3 &&
	[ "$2" -lt "$1" ] &&
	zg restore g/fs@v1 | cmp - "$TMP/big" &&
	zg verify --read-data >out && grep -q " 0 problems" out &&
	zd restore f/fs@v1 | cmp - "$TMP/s"
' 3>&1

if [ "${ZBAK_TEST_S3_SIGCHECK:-1}" = 1 ]; then
	test_expect_success 'a wrong secret key fails at once (no retries) with the S3 error' '
		t0=$(date +%s) &&
		AWS_SECRET_ACCESS_KEY=wrong-secret expect_fail zg ls &&
		[ $(($(date +%s) - t0)) -le 3 ] &&
		grep -q "SignatureDoesNotMatch" "$TMP/err" &&
		AWS_SECRET_ACCESS_KEY=wrong-secret expect_fail zd push --name w/fs@v1 "$TMP/s" &&
		grep -q "SignatureDoesNotMatch" "$TMP/err" &&
		[ "$(repo_count "$R" snapshots/w/)" -eq 0 ]
	'
else
	test_skip 'a wrong secret key fails at once with the S3 error' \
		"${ZBAK_TEST_S3_SERVER:-this server} does not check SigV4 signatures"
fi

test_done
