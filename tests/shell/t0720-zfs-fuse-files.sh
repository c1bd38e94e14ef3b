#!/bin/bash
# zbak files ls|cat|extract against the truth, zfs-fuse 0.7 (ZPL version 4;
# tests/zfs/fuse.sh; the file reports itself skipped with the reason where
# it cannot run): a tree with every kind of file zfs-fuse keeps (files of
# one block, many blocks, none, a sparse one; nested and odd-mode
# directories, a directory of long names that is a fat ZAP, one of many
# short names; short and long symlinks, hard links, a fifo, odd owners and
# times), snapshotted, changed and snapshotted again, sent full and
# incremental by the real `zfs send`, received into the local pool.  What
# zbak lists, prints and extracts is compared with the mounted original:
# names, types, modes, owners, sizes, link counts, modification times
# (seconds: zfs-fuse's mount shows no more), link targets and sha256 of
# every file; the sparse file stays sparse.
#
# Hostile names: the stream is edited (checksums fixed) so that a
# directory holds "../escape", or two entries of one name; zbak refuses to
# list or extract them, and nothing appears outside the target.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/ztree.sh"
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

unset ZBAK_REPO ZBAK_CONFIG ZBAK_NOW ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
here=$(cd "$(dirname "$0")/.." && pwd)
export ZBAK_POOL_DIR=$TMP/lpool
m() { ds_mnt "$1"; }
zf() { "$ZBAK" files "$@"; }

test_expect_success 'setup: a tree of every kind, two snapshots, received into the local pool' '
	ds_create $P/src &&
	d=$(m $P/src) &&
	head -c 300000 /dev/urandom >"$d/random" &&
	seq 1 20000 >"$d/text" &&
	: >"$d/empty" &&
	printf x >"$d/one-byte" &&
	mkdir -p "$d/dir/deeper/deepest" "$d/emptydir" "$d/sticky" &&
	chmod 1777 "$d/sticky" && chmod 0750 "$d/dir/deeper" &&
	echo secret >"$d/dir/private" && chmod 600 "$d/dir/private" &&
	cp "$d/text" "$d/setuid" && chmod 4751 "$d/setuid" &&
	echo owned >"$d/owned" && chown 1234:5678 "$d/owned" "$d/dir/deeper" &&
	ln -s random "$d/short-link" &&
	ln -s "$(printf "x%.0s" $(seq 1 200))/target" "$d/long-link" &&
	echo linked >"$d/hard1" && ln "$d/hard1" "$d/dir/hard2" && ln "$d/hard1" "$d/hard3" &&
	dd if=/dev/urandom of="$d/sparse" bs=4096 count=1 seek=1000 status=none &&
	dd if=/dev/urandom of="$d/sparse" bs=4096 count=2 seek=3 conv=notrunc status=none &&
	mkfifo "$d/fifo" &&
	echo spaced >"$d/a name with spaces" && echo utf >"$d/ünïcødé-名前" &&
	echo deep >"$d/dir/deeper/deepest/file" &&
	mkdir "$d/many" "$d/fat" &&
	for i in $(seq 1 700); do echo $i >"$d/many/f$i"; done &&
	long=$(printf "n%.0s" $(seq 1 120)) &&
	for i in $(seq 1 300); do echo $i >"$d/fat/$long-$i"; done &&
	touch -h -d "2020-02-03 04:05:06.123456789" "$d/text" "$d/short-link" "$d/dir/deeper" &&
	touch -d "1999-12-31 23:59:59" "$d/owned" &&
	tree "$d" >"$TMP/s1.tree" &&
	zfs snapshot $P/src@s1 &&
	echo more >>"$d/text" && rm "$d/random" "$d/dir/hard2" &&
	echo new >"$d/dir/new" && mv "$d/one-byte" "$d/renamed" &&
	chmod 700 "$d/emptydir" && chown 42:43 "$d/renamed" &&
	rm "$d/fat/$long-7" && echo changed >"$d/many/f9" &&
	tree "$d" >"$TMP/s2.tree" &&
	zfs snapshot $P/src@s2 &&
	zfs send $P/src@s1 >"$TMP/full" &&
	zfs send -i @s1 $P/src@s2 >"$TMP/incr" &&
	"$ZBAK" pool create t &&
	"$ZBAK" pool recv t/fs <"$TMP/full" &&
	"$ZBAK" pool recv t/fs <"$TMP/incr" &&
	"$ZBAK" pool list -H -o name -t snapshot -r t >snaps &&
	printf "t/fs@s1\nt/fs@s2\n" | diff - snaps
'

test_expect_success 'ls -R --json of each snapshot is the tree of the original' '
	for s in s1 s2; do
		zf ls -R --json --pool t/fs@$s >$s.json &&
		json_tree <$s.json >$s.ls &&
		grep -v "^[0-9a-f]\{64\} " "$TMP/$s.tree" | diff - $s.ls || return 1
	done
'

test_expect_success 'the fat ZAP directory and the big micro ZAP list every name' '
	test "$(zf ls --pool t/fs@s1 /fat | wc -l)" = 300 &&
	test "$(zf ls --pool t/fs@s2 /fat | wc -l)" = 299 &&
	test "$(zf ls --pool t/fs@s1 /many | wc -l)" = 700 &&
	zf ls --pool t/fs@s1 /many | sort >many &&
	(cd "$(m $P/src)/many" && ls | sed "s|^|/many/|" | sort) | diff - many
'

test_expect_success 'ls -l shows mode, links, owner, size, time and link targets' '
	zf ls -l --pool t/fs@s1 / >long &&
	grep -q "^-rwsr-x--x   1     0     0     108894 .* /setuid$" long &&
	grep -q "^lrwxrwxrwx   1     0     0          6 2020-02-03 04:05:06 /short-link -> random$" long &&
	grep -q "^-rw-r--r--   1  1234  5678          6 1999-12-31 23:59:59 /owned$" long &&
	grep -q "^-rw-r--r--   3     0     0          7 .* /hard1$" long &&
	grep -q "^drwxrwxrwt .* /sticky$" long &&
	grep -q "/long-link -> xxxxxxxx.*x/target$" long &&
	zf ls --pool t/fs@s1 /dir/deeper/deepest/file >one &&
	echo /dir/deeper/deepest/file | diff - one
'

test_expect_success 'cat prints each file as it was, holes as zeros' '
	grep "^[0-9a-f]\{64\} " "$TMP/s2.tree" >want &&
	while read -r sum path; do
		got=$(zf cat --pool t/fs@s2 "${path#.}" | sha256sum | cut -d" " -f1) &&
		test "$got" = "$sum" || { echo "$path: $got"; return 1; }
	done <want &&
	zf dump --pool t/fs@s1 random | sha256sum | cut -d" " -f1 >r &&
	grep -q "^$(cat r)  ./random$" "$TMP/s1.tree"
'

test_expect_success 'extract of each snapshot equals the original, sparse file sparse' '
	for s in s1 s2; do
		zf extract --pool -t out-$s t/fs@$s 2>msg &&
		grep -q "^restored .* files" msg &&
		tree out-$s | diff "$TMP/$s.tree" - || return 1
	done &&
	test "$(du -k out-s1/sparse | cut -f1)" -lt 600 &&
	test "$(stat -c %s out-s1/sparse)" = 4100096 &&
	test "$(stat -c %h out-s1/hard1)" = 3 &&
	test "$(stat -c %i out-s1/hard1)" = "$(stat -c %i out-s1/dir/hard2)"
'

test_expect_success 'extract of a subtree and of one file' '
	zf extract --pool -t part t/fs@s1 /dir &&
	tree part | grep -v -e "^\. " -e hard2 >got &&
	grep -e "^\./dir[ /]" -e "  \./dir/" "$TMP/s1.tree" | grep -v hard2 >want &&
	diff want got &&
	zf extract --pool -t part t/fs@s1 /dir/deeper/deepest/file &&
	echo deep | cmp - part/file &&
	zf extract --pool -t part t/fs@s1 /short-link &&
	test "$(readlink part/short-link)" = random &&
	zf extract --pool -t dot t/fs@s1 /dir/. &&
	test -f dot/private && test "$(stat -c %a dot/private)" = 600
'

test_expect_success 'a dataset (not a snapshot) is read too, and errors say what' '
	zf ls --pool t/fs / | grep -q "^/renamed$" &&
	! zf cat --pool t/fs@s1 /nothing 2>err && grep -q "no such file" err &&
	! zf cat --pool t/fs@s1 /dir 2>err && grep -q "not a regular file" err &&
	! zf ls --pool t/fs@s9 / 2>err && grep -q s9 err &&
	! zf ls --pool t/fs@s1 /../etc 2>err && grep -q "\.\." err
'

test_expect_success 'a repository snapshot: read in place through its map' '
	export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse" &&
	R=$TMP/repo &&
	"$ZBAK" -r "$R" init >/dev/null &&
	"$ZBAK" -r "$R" push --name $P/src@s1 "$TMP/full" >/dev/null &&
	"$ZBAK" -r "$R" push --name $P/src@s2 "$TMP/incr" >/dev/null &&
	"$ZBAK" -r "$R" files extract --stats -t rout $P/src@s2 2>msg &&
	grep -q "map built (2 streams" msg &&
	tree rout | diff "$TMP/s2.tree" - &&
	"$ZBAK" -r "$R" files ls -R --json $P/src@s1 2>/dev/null | json_tree >r1.ls &&
	grep -v "^[0-9a-f]\{64\} " "$TMP/s1.tree" | diff - r1.ls &&
	"$ZBAK" -r "$R" -q files cat $P/src@s2 /text >text 2>err &&
	test ! -s err && cmp text "$(m $P/src)/text" &&
	test -z "$(ls -A "$ZBAK_CACHE_DIR" | grep files-)" &&
	! "$ZBAK" -r "$R" files ls $P/src@s9 / 2>err && grep -q "no snapshot" err
'

# hostile streams: $1 the stream, $2 a name in it, $3 what replaces it
# (as many bytes), fixed checksums into $4
edit_name() {
	perl -e '
		open(my $f, "<:raw", $ARGV[0]) or die; local $/; my $s = <$f>;
		my ($a, $b) = ($ARGV[1], $ARGV[2]); $b =~ s/\\0/\0/g;
		die "length" if length $a != length $b;
		my $n = ($s =~ s/\Q$a\E/$b/g); die "found $n" if $n != 1;
		print $s' "$1" "$2" "$3" >"$4.raw" &&
	perl "$here/lib/restream.pl" edit "$4.raw" "$4"
}

test_expect_success 'hostile names are refused, nothing lands outside the target' '
	ds_create $P/evil &&
	e=$(m $P/evil) && mkdir "$e/d" &&
	echo a >"$e/d/AAAAAAAAAA" && ln -s "$TMP" "$e/d/BBBBBBBBBB" &&
	echo c >"$e/d/CCCCCCCCCC" &&
	zfs snapshot $P/evil@e && zfs send $P/evil@e >evil &&
	edit_name evil AAAAAAAAAA "../escape\0" dotdot &&
	edit_name evil CCCCCCCCCC BBBBBBBBBB twice &&
	"$ZBAK" pool recv t/dotdot <dotdot && "$ZBAK" pool recv t/twice <twice &&
	mkdir jail &&
	for ds in dotdot twice; do
		zf extract --pool -t jail/x t/$ds@e; test $? = 3 || return 1
		zf ls -R --pool t/$ds@e / >/dev/null 2>err; test $? = 3 || return 1
	done &&
	test ! -e escape && test ! -e jail/escape && test ! -e "$TMP/BBBBBBBBBB" &&
	test ! -e "$TMP/CCCCCCCCCC" &&
	zf ls --pool t/dotdot@e /d 2>err; grep -q "not a safe name" err
'

test_expect_success 'symlinks planted in the target are replaced or refused, never followed' '
	mkdir -p outside plant && echo victim >outside/victim &&
	ln -s "$TMP/outside/victim" "plant/a name with spaces" &&
	ln -s "$TMP/outside" plant/dir &&
	zf extract --pool -t plant t/fs@s1 2>err; test $? = 1 &&
	grep -q "open directory dir" err &&
	echo victim | cmp - outside/victim &&
	test "$(ls outside)" = victim &&
	test -f "plant/a name with spaces" && test ! -L "plant/a name with spaces" &&
	echo spaced | cmp - "plant/a name with spaces"
'

test_done
