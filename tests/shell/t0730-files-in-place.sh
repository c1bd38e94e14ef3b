#!/bin/bash
# zbak files of a repository's snapshot read in place (docs/zpl.md,
# "Maps"), against the truth of zfs-fuse (tests/zfs/fuse.sh; skipped with
# the reason where it cannot run), in a directory repository and in S3
# (s3rver on a free loopback port, tests/s3/server.sh; that half skipped
# without node):
#   - a tree of ~20 MiB, snapshotted, then changed so that the incremental
#     stream frees objects (FREEOBJECTS: a directory of files removed) and
#     ranges (FREE: a file truncated), written, appended, snapshotted
#     again, sent full and incremental by the real `zfs send`, pushed;
#   - ls -R --json, cat of every file and extract of each snapshot equal
#     the original;
#   - a cat of one small file reads a small part of what is stored
#     (--stats: the store's own read counters), the map comes from the
#     cache the second time, and a cached map that was changed is refused
#     and built again, never trusted.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/ztree.sh"
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

unset ZBAK_REPO ZBAK_CONFIG ZBAK_NOW ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
here=$(cd "$(dirname "$0")/.." && pwd)
export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse"
export ZBAK_CACHE_DIR=$TMP/cache
m() { ds_mnt "$1"; }
# the number after WORD in the --stats line of file $1
stat_of() { sed -n "s/^stats: .*[ (]\([0-9]*\) $2.*/\1/p" "$1" | head -1; }

test_expect_success 'setup: two snapshots, the second freeing objects and ranges' '
	ds_create $P/src &&
	d=$(m $P/src) &&
	mkdir "$d/big" "$d/gone" "$d/small" &&
	for i in $(seq 1 20); do head -c 1048576 /dev/urandom >"$d/big/f$i"; done &&
	for i in $(seq 1 60); do echo "small $i" >"$d/small/s$i"; done &&
	for i in $(seq 1 30); do echo "gone $i" >"$d/gone/g$i"; done &&
	head -c 600000 /dev/urandom >"$d/truncated" &&
	seq 1 30000 >"$d/text" && ln -s big/f1 "$d/link" &&
	tree "$d" >"$TMP/s1.tree" &&
	zfs snapshot $P/src@s1 &&
	rm -r "$d/gone" && truncate -s 1000 "$d/truncated" &&
	echo appended >>"$d/text" && echo new >"$d/small/new" &&
	dd if=/dev/urandom of="$d/big/f2" bs=4096 count=3 seek=10 conv=notrunc status=none &&
	tree "$d" >"$TMP/s2.tree" &&
	zfs snapshot $P/src@s2 &&
	zfs send $P/src@s1 >"$TMP/full" &&
	zfs send -i @s1 $P/src@s2 >"$TMP/incr" &&
	"$ZBAK" inspect "$TMP/incr" >insp &&
	grep -q "FREEOBJECTS [1-9]" insp && grep -q "FREE [1-9]" insp
'

# checks REPO: the whole suite on one repository
checks() {
	local R=$1 S=$P/src
	z() { "$ZBAK" -r "$R" "$@"; }
	z init >/dev/null &&
	z push --name $S@s1 "$TMP/full" >/dev/null &&
	z push --name $S@s2 "$TMP/incr" >/dev/null &&
	rm -rf "$ZBAK_CACHE_DIR" &&
	for s in s1 s2; do
		z files ls -R --json --stats $S@$s >$s.json 2>$s.stats &&
		grep -q "map built" $s.stats &&
		json_tree <$s.json >$s.ls &&
		grep -v "^[0-9a-f]\{64\} " "$TMP/$s.tree" | diff - $s.ls &&
		grep "^[0-9a-f]\{64\} " "$TMP/$s.tree" >want &&
		while read -r sum path; do
			got=$(z files cat $S@$s "${path#.}" | sha256sum | cut -d" " -f1) &&
			test "$got" = "$sum" || { echo "$s $path: $got"; return 1; }
		done <want &&
		rm -rf out-$s && z -q files extract -t out-$s $S@$s &&
		tree out-$s | diff "$TMP/$s.tree" - || return 1
	done &&
	# the second time, the map comes from the cache
	z files ls --stats $S@s2 / >/dev/null 2>again &&
	grep -q "map from the cache" again &&
	# one small file: a small part of what the snapshot stores
	z files cat --stats $S@s2 /small/s7 >s7 2>cat.stats &&
	echo "small 7" | cmp - s7 &&
	fetched=$(stat_of cat.stats "bytes fetched") &&
	stream=$(stat_of cat.stats "stream bytes") &&
	echo "cat of one small file: $fetched bytes fetched of $stream" &&
	test "$fetched" -gt 0 && test $((fetched * 20)) -lt "$stream" &&
	# a changed cached map is refused, built again, and right (both
	# snapshots have their own: the name is made of the chain)
	test "$(find "$ZBAK_CACHE_DIR" -name "map-*" | wc -l)" = 2 &&
	for f in $(find "$ZBAK_CACHE_DIR" -name "map-*"); do
		flip_byte "$f" 200 || return 1
	done &&
	z files cat --stats $S@s2 /text >text 2>tamper &&
	grep -q "cached map .* refused and built again: .*authentication failed" tamper &&
	cmp text "$(m $P/src)/text" &&
	z files ls --stats $S@s2 / >/dev/null 2>after &&
	grep -q "map from the cache" after &&
	z files ls --stats $S@s1 /gone >gone 2>s1again &&
	grep -q "refused and built again" s1again &&
	test "$(wc -l <gone)" = 30 &&
	! z files ls $S@s2 /gone 2>err && grep -q "gone" err
}

test_expect_success 'a directory repository: files read in place equal the original' '
	checks "$TMP/repo"
'

s3st=$TMP/s3rver
if ! command -v node >/dev/null; then
	test_skip 'the same in S3 (s3rver)' 'no node for s3rver'
elif ! "$here/s3/server.sh" start "$s3st" >"$TMP/s3.out" 2>"$TMP/s3.err"; then
	test_skip 'the same in S3 (s3rver)' "s3rver did not start: $(tail -1 "$TMP/s3.err")"
else
	at_exit '"$here/s3/server.sh" stop "$s3st" >/dev/null 2>&1' 
	test_expect_success 'the same in S3 (s3rver)' '
		. "$s3st/env" &&
		checks "s3://$ZBAK_TEST_BUCKET/t0730-$$"
	'
fi

test_done
