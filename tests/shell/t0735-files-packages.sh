#!/bin/bash
# zbak files of every dataset of a `zfs send -R` package read in place
# from a repository (docs/zpl.md, "Maps"), against the truth of zfs-fuse
# (tests/zfs/fuse.sh; skipped with the reason where it cannot run): a
# parent with two children (one with a child of its own), each holding
# other files, snapshotted recursively, changed, snapshotted again, sent
# as a full package (-R) and an incremental one (-R -i), pushed under the
# parent's name.  ls -R --json, cat of every file and extract of the
# parent and of each child at both snapshots equal the original (names,
# types, modes, owners, sizes, link counts, mtimes, link targets, sha256);
# each dataset has its own cached map; a full package of two snapshots
# pushed under another name maps each child's last one; a dataset that
# is in no package is refused by name; restored into the local pool,
# each child reads the same through files --pool.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/ztree.sh"
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

unset ZBAK_REPO ZBAK_CONFIG ZBAK_NOW ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse"
export ZBAK_CACHE_DIR=$TMP/cache
m() { ds_mnt "$1"; }
# the tree of every dataset: $TMP/<snap>.<top|a|b|a_deep>.tree
DSS="top top/a top/b top/a/deep"
save_trees() {
	for ds in $DSS; do
		tree "$(m $P/$ds)" >"$TMP/$1.$(echo $ds | tr / _).tree" || return 1
	done
}

test_expect_success 'setup: a parent and its children, two recursive snapshots, -R and -R -i' '
	ds_create $P/top &&
	# each child mounted outside its parent: no mount points in the
	# files of the parent to tell apart from those of the children
	for ds in a b a/deep; do
		zfs create -o mountpoint="$TMP/mnt/${ds//\//-}" $P/top/$ds || return 1
	done &&
	t=$(m $P/top) && a=$(m $P/top/a) && b=$(m $P/top/b) && d=$(m $P/top/a/deep) &&
	echo parent >"$t/parent-file" && mkdir "$t/pdir" && seq 1 5000 >"$t/pdir/seq" &&
	head -c 400000 /dev/urandom >"$a/a-random" && echo a >"$a/only-in-a" &&
	ln -s a-random "$a/link" && mkdir "$a/sub" && echo x >"$a/sub/x" &&
	head -c 700000 /dev/urandom >"$b/b-random" && echo b >"$b/only-in-b" &&
	chown 1234:5678 "$b/only-in-b" && chmod 640 "$b/only-in-b" &&
	echo deep >"$d/deep-file" &&
	for i in $(seq 1 100); do echo "a $i" >"$a/sub/f$i"; done &&
	touch -d "2001-02-03 04:05:06" "$a/only-in-a" &&
	save_trees s1 &&
	zfs snapshot -r $P/top@s1 &&
	echo changed >>"$t/parent-file" && rm -r "$t/pdir" &&
	echo more >>"$a/only-in-a" && rm "$a/sub/f7" "$a/link" &&
	dd if=/dev/urandom of="$a/a-random" bs=4096 count=2 seek=5 conv=notrunc status=none &&
	truncate -s 1000 "$b/b-random" && echo new >"$b/new-in-b" &&
	echo deeper >>"$d/deep-file" &&
	save_trees s2 &&
	zfs snapshot -r $P/top@s2 &&
	zfs send -R $P/top@s1 >"$TMP/full" &&
	zfs send -R -i @s1 $P/top@s2 >"$TMP/incr" &&
	zfs send -R $P/top@s2 >"$TMP/full2" &&
	"$ZBAK" inspect "$TMP/incr" >insp &&
	grep -q "top/b@s2" insp
'

R=$TMP/repo
z() { "$ZBAK" -r "$R" "$@"; }

test_expect_success 'push both packages under the parent'"'"'s name' '
	z init >/dev/null &&
	z push --name $P/top@s1 "$TMP/full" >/dev/null &&
	z push --name $P/top@s2 "$TMP/incr" >/dev/null &&
	z ls >ls.out && cat ls.out &&
	grep -q "^$P/top\$" ls.out && grep -q "^ *s1 " ls.out &&
	grep -q "^ *s2 *s1 " ls.out && ! grep -q "top/a" ls.out
'

# check DS SNAP [NAME]: ls -R --json, cat of every file and extract of
# NAME (default DS@SNAP) equal the tree of DS at SNAP
check() {
	local ds=$1 s=$2 name=${3:-$P/$1@$2} tf
	tf=$TMP/$s.$(echo $ds | tr / _).tree
	z files ls -R --json "$name" >out.json &&
	json_tree <out.json >out.ls &&
	grep -v "^[0-9a-f]\{64\} " "$tf" | diff - out.ls &&
	grep "^[0-9a-f]\{64\} " "$tf" >want &&
	test -s want &&
	while read -r sum path; do
		got=$(z files cat "$name" "${path#.}" | sha256sum | cut -d" " -f1) &&
		test "$got" = "$sum" || { echo "$name $path: $got"; return 1; }
	done <want &&
	rm -rf out && z -q files extract -t out "$name" &&
	tree out | diff "$tf" -
}

for s in s1 s2; do
	for ds in $DSS; do
		test_expect_success "files of $ds@$s equal the original" "
			check $ds $s
		"
	done
done

test_expect_success 'each dataset of a chain has its own cached map, used again' '
	test "$(find "$ZBAK_CACHE_DIR" -name "map-*" | wc -l)" = 8 &&
	z files ls --stats $P/top/b@s2 / >b.ls 2>b.stats &&
	grep -q "map from the cache" b.stats &&
	grep -q "new-in-b" b.ls && ! grep -q "only-in-a" b.ls
'

test_expect_success 'a full package of two snapshots under another name: each child at its last' '
	z push --name $P/copy@s2 "$TMP/full2" >/dev/null &&
	for ds in $DSS; do
		check $ds s2 "$P/copy${ds#top}@s2" || return 1
	done
'

test_expect_success 'restored into the local pool: each child there too (files --pool)' '
	export ZBAK_POOL_DIR=$TMP/lpool &&
	"$ZBAK" pool create lp &&
	z restore $P/top@s2 --to lp/top --receiver local >/dev/null &&
	for ds in $DSS; do
		"$ZBAK" files ls --pool -R --json "lp/$ds@s2" |
			json_tree >pl.ls &&
		grep -v "^[0-9a-f]\{64\} " "$TMP/s2.$(echo $ds | tr / _).tree" |
			diff - pl.ls || return 1
	done
'

test_expect_success 'a dataset in no package, and a child of a plain stream: refused by name' '
	! z files ls $P/top/nosuch@s2 / 2>err &&
	grep -q "holds no dataset $P/top/nosuch" err &&
	zfs send $P/top@s1 >"$TMP/plain" &&
	z push --name $P/plain@s1 "$TMP/plain" >/dev/null &&
	! z files ls $P/plain/a@s1 / 2>err2 &&
	grep -q "no snapshot $P/plain/a@s1" err2 &&
	! z files ls $P/top/a@s9 / 2>err3 && grep -q "no snapshot" err3
'

test_done
