#!/bin/bash
# zbak on a real ZFS, zfs-fuse 0.7 (tests/zfs/fuse.sh; the file reports
# itself skipped with the reason where it cannot run): streams written by
# the real `zfs send` into a repository, and received back by the real
# `zfs receive` with `zbak restore --to`.
#
# A file system with every kind of file the ZPL of zfs-fuse keeps (modes
# with setuid and sticky bits, owners, short and long symlinks, hard
# links, a sparse file, a fifo, an empty file and directory, names with
# spaces and UTF-8, set modification times; xattrs where zfs-fuse has
# them) and a child, in three versions, pushed as a full stream and two
# incrementals.  Received into a new dataset (the chain) and into one that
# has the first snapshot (the rest), each snapshot is compared with the
# original file by file: types, modes, owners, sizes, link counts, times,
# link targets, contents; the sparse file stays sparse; guids match.  A
# `zfs send -R` package lands with its children; a `zfs send -D` stream
# (WRITE_BYREF records) is received whole.  Refusals: zfs receive refusing
# a target changed since its snapshot, and a stream with features zfs-fuse
# lacks, are reported with zfs's own words and exit 6, the target left as
# it was, the repository unlocked, no zbak or zfs left running; a damaged
# repository is exit 3 with the target unchanged; a restore piped into a
# zfs receive that refuses it ends with a message and exit 1, never 141.
. "$(dirname "$0")/../lib.sh"
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_NOW ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
R=$TMP/repo
C=$TMP/copy
z() { "$ZBAK" -r "$R" "$@"; }
m() { ds_mnt "$1"; }
# status COMMAND...: its exit status (stdout to $TMP/out, stderr $TMP/err)
status() { "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }
guid() { zfs get -H -p -o value guid "$1"; }
# every snapshot of DS equal to the same snapshot of $P/src, guid and all
same_as_src() { # DS SNAP...
	local ds=$1 s
	shift
	for s in "$@"; do
		ds_same "$P/src@$s" "$ds@$s" || return 1
		[ "$(guid "$P/src@$s")" = "$(guid "$ds@$s")" ] ||
			{ echo "$ds@$s has another guid than $P/src@$s"; return 1; }
	done
}
# no lock object left in the repository, no zbak or zfs receive running
unlocked() {
	[ -z "$(ls -A "$R/locks" 2>/dev/null)" ] ||
		{ echo "locks left: $(ls "$R/locks")"; return 1; }
	! pgrep -f "zfs receive $P/" >/dev/null ||
		{ echo "a zfs receive is still running"; return 1; }
}
XATTRS=no

test_expect_success 'setup: every kind of file, a child, three versions, pushed' '
	ds_create $P/src $P/src/kid &&
	d=$(m $P/src) &&
	head -c 3000000 /dev/urandom >"$d/random" &&
	seq 1 200000 >"$d/text" &&
	: >"$d/empty" &&
	mkdir -p "$d/dir/deeper/deepest" "$d/emptydir" "$d/sticky" &&
	chmod 1777 "$d/sticky" &&
	echo secret >"$d/dir/private" && chmod 600 "$d/dir/private" &&
	cp "$d/text" "$d/setuid" && chmod 4755 "$d/setuid" &&
	echo owned >"$d/owned" && chown 1234:5678 "$d/owned" "$d/dir/deeper" &&
	ln -s random "$d/short-link" &&
	ln -s "$(printf "x%.0s" $(seq 1 200))/target" "$d/long-link" &&
	echo linked >"$d/hard1" && ln "$d/hard1" "$d/dir/hard2" &&
	dd if=/dev/urandom of="$d/sparse" bs=4096 count=1 seek=16384 status=none &&
	mkfifo "$d/fifo" &&
	echo spaced >"$d/a name with spaces" && echo utf >"$d/ünïcødé-名前" &&
	echo deep >"$d/dir/deeper/deepest/file" &&
	touch -h -d "2020-02-03 04:05:06.123456789" "$d/text" "$d/short-link" "$d/dir/deeper" &&
	echo kid >"$(m $P/src/kid)/file" &&
	if setfattr -n user.zbak -v value "$d/text" 2>"$TMP/xattr.err"; then
		echo yes >"$TMP/xattrs"
	fi &&
	zfs snapshot -r $P/src@s1 &&
	head -c 500000 /dev/urandom | dd of="$d/random" bs=64K seek=1000000 oflag=seek_bytes conv=notrunc status=none &&
	echo more >>"$d/text" && rm "$d/dir/hard2" && mv "$d/owned" "$d/dir/owned-moved" &&
	chmod 640 "$d/setuid" && echo new >"$d/new" &&
	dd if=/dev/urandom of="$d/sparse" bs=4096 count=1 seek=32768 conv=notrunc status=none &&
	zfs snapshot -r $P/src@s2 &&
	rm -rf "$d/dir/deeper" && ln -sf text "$d/short-link" && head -c 100000 /dev/urandom >"$d/new" &&
	zfs snapshot -r $P/src@s3 &&
	z init >/dev/null &&
	zfs send $P/src@s1 | z push >/dev/null &&
	zfs send -i @s1 $P/src@s2 | z push >/dev/null &&
	zfs send -i @s2 $P/src@s3 | z push >/dev/null &&
	test "$(names | tr "\n" " ")" = "$P/src@s1 $P/src@s2 $P/src@s3 "
'
[ -f "$TMP/xattrs" ] && XATTRS=yes

test_expect_success 'restore --to a new dataset: the chain, through zfs receive, file by file equal' '
	z restore $P/src@s3 --to $P/new >out &&
	cat out &&
	grep -q "^receiving 3 streams into $P/new with zfs receive ($TMP/bin/zfs)" out &&
	grep -q "^received $P/src@s2 (incremental from $P/src@s1) into $P/new: .* verified" out &&
	same_as_src $P/new s1 s2 s3 &&
	unlocked
'

test_expect_success 'the sparse file stays sparse' '
	f=$(m $P/new)/sparse &&
	test "$(stat -c %s "$f")" = $((32769 * 4096)) &&
	test "$(stat -c %b "$f")" -lt 2048
'

test_expect_success 'modes, owners, links and times came through' '
	d=$(m $P/new) &&
	test "$(stat -c "%a %u:%g" "$d/sticky")" = "1777 0:0" &&
	test "$(stat -c %a "$d/dir/private")" = 600 &&
	test "$(stat -c "%u:%g" "$d/dir/owned-moved")" = 1234:5678 &&
	test "$(readlink "$d/short-link")" = text &&
	test "$(readlink "$d/long-link" | wc -c)" = $((200 + 8)) &&
	test "$(stat -c %h "$d/hard1")" = 1 &&
	test -p "$d/fifo" &&
	test "$(stat -c %Y "$d/text")" = "$(stat -c %Y "$(m $P/src)/text")" &&
	test "$(cat "$d/ünïcødé-名前")" = utf
'

if [ $XATTRS = yes ]; then
	test_expect_success 'xattrs came through' '
		z -q restore $P/src@s1 --to $P/xa &&
		test "$(getfattr --only-values -n user.zbak "$(m $P/xa)/text")" = value
	'
else
	test_skip 'xattrs came through' "zfs-fuse does not keep them here ($(cat "$TMP/xattr.err" 2>/dev/null | head -1))"
fi

test_expect_success 'restore --to an existing dataset: only the streams after its snapshot' '
	z -q restore $P/src@s1 --to $P/part &&
	test "$(ds_snaps $P/part)" = "s1 " &&
	z restore $P/src@s3 --to $P/part >out &&
	cat out &&
	grep -q "^$P/part has $P/part@s1: receiving the 2 streams after it" out &&
	! grep -q "src@s1 (full)" out &&
	same_as_src $P/part s1 s2 s3 &&
	z restore $P/src@s3 --to $P/part >out &&
	grep -q "already has $P/src@s3" out
'

test_expect_success 'a zfs send -R package lands with its children' '
	ds_create $P/tree $P/tree/a $P/tree/a/b $P/tree/c &&
	for ds in $P/tree $P/tree/a $P/tree/a/b $P/tree/c; do
		head -c 200000 /dev/urandom >"$(m $ds)/data" || return 1
	done &&
	zfs snapshot -r $P/tree@p1 &&
	zfs send -R $P/tree@p1 | z push >out &&
	cat out &&
	z ls >out && cat out &&
	z restore $P/tree@p1 --to $P/treecopy >out &&
	cat out &&
	for ds in "" /a /a/b /c; do
		ds_same "$P/tree$ds@p1" "$P/treecopy$ds@p1" || return 1
	done &&
	unlocked
'

test_expect_success 'a zfs send -D stream (WRITE_BYREF records) is received whole' '
	d=$(m $P/src/kid) &&
	head -c 262144 /dev/urandom >"$d/block" &&
	cat "$d/block" "$d/block" "$d/block" >"$d/thrice" &&
	zfs snapshot $P/src/kid@dd &&
	zfs send -D $P/src/kid@dd >dedup.zs &&
	"$ZBAK" inspect --json dedup.zs >insp.json &&
	grep -q "\"WRITE_BYREF\":[1-9]" insp.json &&
	z push --name $P/dedup@dd <dedup.zs >/dev/null &&
	z restore $P/dedup@dd --to $P/dedupcopy >out &&
	cat out &&
	ds_same $P/src/kid@dd $P/dedupcopy@dd
'

test_expect_success 'zfs receive refuses (the target changed): its words, exit 6, nothing changes, unlocked' '
	z -q restore $P/src@s1 --to $P/mod &&
	echo changed >"$(m $P/mod)/changed" &&
	zt_state >before &&
	test "$(status z restore $P/src@s3 --to $P/mod)" = 6 &&
	cat "$TMP/err" &&
	grep -E -q "$P/src@s2 \(stream 1 of 2\) into $P/mod: (receiving|committing) failed: zfs receive $P/mod (stopped reading the stream|failed) \(exit 1\): cannot receive incremental stream: destination $P/mod has been modified" "$TMP/err" &&
	grep -q "nothing was committed: $P/mod is as it was" "$TMP/err" &&
	zt_state >after && cmp before after &&
	test "$(cat "$(m $P/mod)/changed")" = changed &&
	unlocked &&
	z -q restore -F $P/src@s3 --to $P/mod &&
	same_as_src $P/mod s1 s2 s3
'

test_expect_success 'a stream with features zfs-fuse lacks: zfs says which, exit 6, unlocked' '
	"$ZBAK" debug gen --name gen/fs --objects 3 --blocksize 4096 | z push >/dev/null &&
	test "$(status z restore gen/fs@v1 --to $P/gen)" = 6 &&
	cat "$TMP/err" &&
	grep -q "gen/fs@v1 (stream 1 of 1) into $P/gen: receiving failed: zfs receive $P/gen stopped reading the stream (exit 1): cannot receive: stream has unsupported feature" "$TMP/err" &&
	! zfs list $P/gen 2>/dev/null &&
	unlocked
'

test_expect_success 'a damaged repository: exit 3, the target as it was' '
	rm -rf "$C" "$ZBAK_CACHE_DIR" && cp -a "$R" "$C" &&
	for f in $(find "$C/data" -type f); do
		flip_byte "$f" 100 || return 1
	done &&
	z -q restore $P/src@s1 --to $P/dmg &&
	zt_state >before &&
	"$ZBAK" -r "$C" restore $P/src@s3 --to $P/dmg >out 2>err; rc=$?
	cat err && test $rc = 3 &&
	grep -q "$P/src@s2 (stream 1 of 2) into $P/dmg: restoring from the repository failed" err &&
	zt_state >after && cmp before after &&
	ds_same $P/src@s1 $P/dmg &&
	! pgrep -f "zfs receive $P/dmg" >/dev/null
'

test_expect_success 'restore | zfs receive that refuses: a message and exit 1, never 141; unlocked' '
	z restore $P/src@s1 | zfs receive $P/piped &&
	ds_same $P/src@s1 $P/piped@s1 &&
	z restore $P/src@s3 2>err | zfs receive $P/piped 2>zerr; rcs="${PIPESTATUS[*]}"
	cat err zerr && echo "exit statuses: $rcs" &&
	test "$rcs" = "1 1" &&
	grep -q "cannot receive" zerr &&
	grep -q "restore of $P/src@s3 failed: writing the stream: the reader went away (broken pipe)" err &&
	unlocked
'

test_done
