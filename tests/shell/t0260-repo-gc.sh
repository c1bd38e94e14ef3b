#!/bin/bash
# Forgetting snapshots and collecting garbage.  forget takes whole chains
# or nothing; gc frees what nothing references (packs, repacked packs,
# recipe segments, a killed push's temporaries) once it has been garbage
# for the margin, and never what a kept snapshot needs: verify --read-data
# passes and every kept snapshot restores byte for byte.  Locks: gc waits
# for a push in progress and gives up with a message; the lock of a killed
# process of this machine is dead at once.  The repository is a directory, or S3 under
# ZBAK_TEST_BACKEND=s3.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_GC_MARGIN ZBAK_NOW
repo_new; R=$REPO
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --size 8M --compressible 0.5 "$@"; }
datasize() { repo_keys "$R" data/ | awk '{ s += $1 } END { print s + 0 }'; }

test_expect_success 'setup: a chain v1..v4 of one dataset, and a full of another' '
	z init >/dev/null &&
	for v in 1 2 3 4; do
		from=; [ $v -gt 1 ] && from="--from $((v - 1))"
		gen --objects 4 --change 0.3 --version $v $from -o "$TMP/s$v" &&
		z -q push <"$TMP/s$v" || return 1
	done &&
	gen --objects 4 --name other/fs --seed 9 -o "$TMP/o1" && z -q push <"$TMP/o1" &&
	test "$(names | tr "\n" " ")" = "other/fs@v1 pool/fs@v1 pool/fs@v2 pool/fs@v3 pool/fs@v4 "
'

test_expect_success 'forget refuses to break a chain, and changes nothing' '
	repo_state "$R" >"$TMP/before" &&
	expect_fail z forget pool/fs@v2 &&
	grep -q "pool/fs@v3, which stays, is incremental from it" "$TMP/err" &&
	expect_fail z forget pool/fs@nope && grep -q "no snapshot pool/fs@nope" "$TMP/err" &&
	z forget --dry-run pool/fs@v1 pool/fs@v2 pool/fs@v3 pool/fs@v4 >out &&
	grep -q "would forget 4 snapshots" out &&
	repo_state "$R" | grep -v " ./locks/" >"$TMP/after" &&
	grep -v " ./locks/" "$TMP/before" | diff - "$TMP/after"
'

test_expect_success 'gc with nothing to collect deletes nothing' '
	before=$(datasize) &&
	ZBAK_GC_MARGIN=0 z gc >out && grep -q " 0 deleted, 0 repacked" out &&
	[ "$(datasize)" = "$before" ] && z verify --read-data >/dev/null
'

test_expect_success 'forget the whole chain: the snapshots go at once' '
	z forget pool/fs@v1 pool/fs@v2 pool/fs@v3 pool/fs@v4 >out &&
	grep -q "forgot 4 snapshots" out &&
	test "$(names)" = other/fs@v1 &&
	[ "$(repo_count "$R" recipes/)" -eq "$(repo_count "$R" snapshots/)" ]
'

test_expect_success 'gc keeps garbage younger than the margin, and says so' '
	before=$(datasize) &&
	z gc -v >out && grep -q "kept until the margin passes" out &&
	grep -q "^keep data/" out &&
	[ "$(datasize)" = "$before" ] && repo_has "$R" gc/pending &&
	z verify --read-data >/dev/null
'

test_expect_success 'once the margin has passed, gc deletes it; the rest restores' '
	before=$(datasize) &&
	ZBAK_NOW=$(( $(date +%s) + 3700 )) z gc -v >out &&
	grep -q "^deleted data/" out &&
	after=$(datasize) && [ "$after" -lt "$before" ] &&
	echo "# data $before -> $after bytes" &&
	! repo_has "$R" gc/pending &&
	[ "$(repo_count "$R" index/)" -eq 1 ] &&
	z verify --read-data >out && grep -q " 0 problems" out &&
	z restore -f other/fs@v1 -o "$TMP/r" && cmp "$TMP/r" "$TMP/o1"
'

test_expect_success 'repack: packs that are mostly garbage are rewritten' '
	gen --objects 8 --name rp/fs --seed 5 --change 0.3 --version 1 -o "$TMP/p1" &&
	gen --objects 8 --name rp/fs --seed 5 --change 0.3 --version 2 -o "$TMP/p2" &&
	z -q push --name rp/fs@a <"$TMP/p1" && z -q push --name rp/fs@b <"$TMP/p2" &&
	z forget rp/fs@a &&
	ZBAK_GC_MARGIN=0 z gc --repack 20 -v >out &&
	grep -q "^repack data/" out && grep -q "repacked)" out &&
	z verify --read-data >out && grep -q " 0 problems" out &&
	z restore -f rp/fs@b -o "$TMP/r" && cmp "$TMP/r" "$TMP/p2" &&
	z restore -f other/fs@v1 -o "$TMP/r" && cmp "$TMP/r" "$TMP/o1"
'

test_expect_success 'a push after gc stores what gc removed again' '
	z -q push <"$TMP/s1" && z restore -f pool/fs@v1 -o "$TMP/r" &&
	cmp "$TMP/r" "$TMP/s1" && z verify --read-data >/dev/null
'

if is_s3; then
	test_skip 'gc removes old temporaries of a killed push' 'a put on S3 is atomic: there are none'
else
	test_expect_success 'gc removes old temporaries of a killed push, not new ones' '
		d=$(ls -d "$R"/data/* | head -1) &&
		echo x >"$d/.tmp-old" && touch -d "2 hours ago" "$d/.tmp-old" &&
		echo x >"$d/.tmp-new" &&
		z gc >out && grep -q "1 temporaries removed" out &&
		test ! -e "$d/.tmp-old" && test -e "$d/.tmp-new" && rm "$d/.tmp-new"
	'
fi

test_expect_success 'gc waits for a push in progress, then gives up with a message' '
	gen --objects 4 --name slow/fs --seed 11 -o "$TMP/slow" &&
	{ slowcat "$TMP/slow" 65536 0.05 | z -q push --name slow/fs@a; echo $? >"$TMP/push.rc"; } &
	sleep 1 &&
	ZBAK_LOCK_WAIT=2 expect_fail z gc &&
	grep -q "busy: a shared lock of pid" "$TMP/err" &&
	wait && [ "$(cat "$TMP/push.rc")" = 0 ] &&
	z restore -f slow/fs@a -o "$TMP/r" && cmp "$TMP/r" "$TMP/slow"
'

# $! of a background pipeline is its last command, the push itself: the
# test kills that process and no other (pkill -f would match any process
# whose command line looks alike, another test's or the user's)
test_expect_success 'the lock of a killed push is dead at once: gc takes over' '
	{ slowcat "$TMP/slow" 65536 0.05 | "$ZBAK" -q -r "$R" push --name slow/fs@b & pid=$!; } &&
	sleep 1 &&
	kill -KILL $pid && { wait $pid; [ $? -eq 137 ]; } &&
	[ "$(repo_count "$R" locks/)" -eq 1 ] &&
	ZBAK_LOCK_WAIT=1 ZBAK_GC_MARGIN=0 z gc >out &&
	[ "$(repo_count "$R" locks/)" -eq 0 ] &&
	z verify --read-data >out && grep -q " 0 problems" out
'

test_done
