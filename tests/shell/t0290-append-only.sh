#!/bin/bash
# Append-only repositories (docs/repository.md, "Append-only"): a host
# pushes, restores and verifies without deleting or replacing a single
# object (every object there before is there after, byte for byte); the
# commands that delete are refused without --admin and change nothing; a
# host's locks, even a killed one's, are ended, never removed; an admin
# run removes them and collects as usual.  In the S3 pass, the host also
# runs through a proxy that answers as a credential without delete rights
# (tests/s3/faultproxy.js --put-only): nothing is denied, while a
# repository that is not append-only gets its deletes denied there.
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO
repo_new; R=$REPO
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --objects 4 "$@"; }
gen --name pool/fs --version 1 -o "$TMP/v1"
gen --name pool/fs --version 2 -o "$TMP/v2"
gen --name pool/fs --version 2 --from 1 -o "$TMP/i12"

# no object removed or changed since the state in $1 (new ones are fine)
state() { repo_state "$R" | LC_ALL=C sort >"$1"; }
kept_all() {
	state "$TMP/now" &&
		LC_ALL=C comm -23 "$1" "$TMP/now" >"$TMP/gone" &&
		{ ! grep . "$TMP/gone" || { echo "removed or changed:"; cat "$TMP/gone"; false; }; }
}

test_expect_success 'init --append-only records the mode; config shows it' '
	z init --append-only >out && grep -q "created append-only repository" out &&
	test "$(z config)" = "append_only yes" &&
	test "$(z config append_only)" = "append_only yes"
'

test_expect_success 'a host pushes, restores, verifies: no object removed or changed' '
	state "$TMP/s0" &&
	z push "$TMP/v1" >/dev/null && kept_all "$TMP/s0" &&
	state "$TMP/s1" &&
	z push --name pool/fs@v2 "$TMP/i12" >/dev/null && kept_all "$TMP/s1" &&
	z restore pool/fs@v2 -o "$TMP/rst" --force && cmp "$TMP/rst" "$TMP/i12" &&
	z verify --read-data >out && grep -q " 0 problems" out &&
	z ls >/dev/null && z stats >/dev/null && kept_all "$TMP/s1"
'

test_expect_success 'each run leaves its lock ended, not removed' '
	repo_keys "$R" locks/ | cut -d" " -f2- >keys &&
	n=$(grep -c "\.end\$" keys) && test "$n" -ge 4 &&
	test "$(grep -vc "\.end\$" keys)" = "$n"
'

test_expect_success 'commands that delete are refused without --admin, nothing changed' '
	state "$TMP/s2" &&
	for cmd in "forget pool/fs@v2" "gc" "unlock" "repair" \
		   "key passwd" "config append_only no"; do
		{ ZBAK_NEW_PASSPHRASE=other z $cmd >/dev/null 2>err; test $? = 1; } &&
		grep -q "is append-only: .*only an admin run does (with --admin" err ||
		{ echo "not refused: $cmd"; cat err; exit 1; }
	done &&
	kept_all "$TMP/s2" && test "$(z config)" = "append_only yes" &&
	z forget --dry-run pool/fs@v2 >/dev/null && z gc --dry-run >/dev/null &&
	kept_all "$TMP/s2"
'

# the lock groups without an end marker (of runs that hold them, or died)
open_locks() {
	repo_keys "$R" locks/ | cut -d" " -f2- | grep -v "\.end\$" | sed "s/\.[0-9]*\$//" |
		sort -u | while read -r k; do repo_has "$R" "$k.end" || echo "$k"; done
}

test_expect_success 'a killed push: the next host run ends its lock, goes on, and removes nothing' '
	gen --name pool/big --size 24M -o "$TMP/big" &&
	state "$TMP/s3" &&
	{ slowcat "$TMP/big" 65536 0.02 | z push --name pool/big@v1 - >/dev/null 2>&1 & } &&
	for i in $(seq 100); do
		test -n "$(open_locks)" && break
		sleep 0.1
	done &&
	test -n "$(open_locks)" &&
	pkill -9 -f -- "-r $R push --name pool/big@v1" ; wait ;
	test -n "$(open_locks)" && kept_all "$TMP/s3" &&
	z push "$TMP/big" --name pool/big@v1 >/dev/null &&
	test -z "$(open_locks)" &&
	z restore pool/big@v1 -o "$TMP/rst" --force && cmp "$TMP/rst" "$TMP/big" &&
	kept_all "$TMP/s3"
'

test_expect_success 'an admin run forgets, collects and removes the ended locks' '
	z --admin forget pool/big@v1 >/dev/null &&
	z gc --admin --margin 0 >out && grep -q "^gc: [0-9]* packs, [1-9][0-9]* deleted" out &&
	test "$(repo_count "$R" locks/)" = 0 &&
	z restore pool/fs@v2 -o "$TMP/rst" --force && cmp "$TMP/rst" "$TMP/i12" &&
	z verify --read-data >out && grep -q " 0 problems" out
'

test_expect_success 'config append_only: on by a host, off only by an admin' '
	z config --admin append_only no >/dev/null && test "$(z config)" = "append_only no" &&
	z forget pool/fs@v2 --dry-run >/dev/null &&
	z config append_only yes >/dev/null && test "$(z config)" = "append_only yes" &&
	{ z config append_only maybe 2>/dev/null; test $? = 2; } &&
	{ z config colour blue 2>/dev/null; test $? = 2; }
'

test_expect_success 'config altered to drop append_only: this machine stays append-only, verify says so' '
	z config >/dev/null && state "$TMP/s4" &&
	"$ZBAK" debug store get "$R" config | grep -v "^append_only" >cfg &&
	"$ZBAK" debug store put "$R" config <cfg &&
	z ls >/dev/null 2>err && grep -q "this machine saw it append-only, and keeps it so" err &&
	{ z gc >/dev/null 2>err; test $? = 1; } && grep -q "is append-only" err &&
	{ z verify >out 2>err; test $? = 3; } && grep -q "append_only is gone" err &&
	z push --name pool/fs@v3 "$TMP/v2" >/dev/null 2>&1 &&
	"$ZBAK" debug store get "$R" config >cfg.now && cmp cfg cfg.now
'

test_expect_success 'accept-changes takes an admin turning it off' '
	z accept-changes >out 2>/dev/null && grep -q "1 change accepted" out &&
	z verify >out && grep -q " 0 problems" out &&
	z gc --dry-run >/dev/null && test "$(z config)" = "append_only no"
'

# --- S3: through a proxy that answers as a put-only credential -------------
if ! is_s3; then
	test_skip 'through a put-only credential (S3)' \
		'S3 only: runs in the ZBAK_TEST_BACKEND=s3 pass of tests/run.sh'
	test_done
	exit
fi
case ${AWS_ENDPOINT_URL:-} in
http://*) ;;
*)
	test_skip 'through a put-only credential (S3)' \
		"the proxy speaks plain HTTP; the endpoint is '${AWS_ENDPOINT_URL:-}'"
	test_done
	exit
	;;
esac

# start_proxy: $proxy (pid), $PROXY (its URL); every request in $TMP/proxy.log
start_proxy() {
	local port= i
	node "$HERE/../s3/faultproxy.js" --target "$AWS_ENDPOINT_URL" \
		--put-only --if-none-match --log "$TMP/proxy.log" \
		>"$TMP/proxy.out" 2>>"$TMP/proxy.err" </dev/null &
	proxy=$!
	at_exit "kill $proxy 2>/dev/null"
	for i in $(seq 200); do
		port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$TMP/proxy.out" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { cat "$TMP/proxy.err"; return 1; }
	PROXY=http://127.0.0.1:$port
}
zh() { AWS_ENDPOINT_URL=$PROXY "$ZBAK" -r "$1" "${@:2}"; }
repo_new ao; A=$REPO
repo_new plain; P=$REPO
if ! start_proxy; then
	test_expect_success 'the put-only proxy starts' 'false'
	test_done
	exit
fi

test_expect_success 'init, a week of pushes, restore and verify with a put-only credential' '
	zh "$A" init --append-only >/dev/null &&
	zh "$A" push "$TMP/v1" >/dev/null &&
	for n in 2 3 4 5 6 7; do
		gen --name pool/fs --version $n --from $((n - 1)) -o "$TMP/i" &&
		zh "$A" push --name pool/fs@v$n "$TMP/i" >/dev/null || exit 1
	done &&
	zh "$A" restore pool/fs@v7 -o "$TMP/rst" --force && cmp "$TMP/rst" "$TMP/i" &&
	zh "$A" verify --read-data >out && grep -q "^7 snapshots, .* 0 problems" out &&
	! grep " denied .*/ao/" "$TMP/proxy.log" &&
	test "$(grep -c " ok PUT " "$TMP/proxy.log")" -gt 20
'

test_expect_success 'the same credential denies what a repository that is not append-only does' '
	zh "$P" init >/dev/null && zh "$P" push "$TMP/v1" >/dev/null 2>&1;
	grep " denied DELETE " "$TMP/proxy.log" | grep -q "/locks/"
'

test_expect_success 'the admin, with its own credential, forgets and collects what hosts pushed' '
	gen --name pool/other -o "$TMP/o1" && zh "$A" push "$TMP/o1" >/dev/null &&
	! grep " denied .*/ao/" "$TMP/proxy.log" &&
	"$ZBAK" -r "$A" --admin forget pool/other@v1 >/dev/null &&
	"$ZBAK" -r "$A" gc --admin --margin 0 >out && grep -q "1 deleted" out &&
	test "$(repo_count "$A" locks/)" = 0 &&
	zh "$A" restore pool/fs@v7 -o "$TMP/rst" --force && cmp "$TMP/rst" "$TMP/i"
'

test_done
