#!/bin/bash
# zbak mount against the truth, zfs-fuse 0.7 (tests/zfs/fuse.sh): a tree
# with every kind of file zfs-fuse keeps (one-block, multi-block, empty and
# sparse files, a directory of 700 entries that readdir hands out in many
# pieces, odd modes, owners and times, short and long symlinks, hard
# links, a fifo), snapshotted, changed and snapshotted again, sent full and
# incremental by the real `zfs send`, pushed to a directory repository and
# received into the local pool.  `zbak mount` of each is compared with the
# mounted original: names, types, modes, owners, sizes, link counts,
# modification times (seconds: zfs-fuse's mount shows no more), link
# targets and sha256 of every file; hard links share an inode, inode
# numbers stay from one mount to the next.  Writes are EROFS; snapshots
# open only when used ("opening NAME"), at most --keep-open at once (a
# repository's read in place, through its cached map: no temporary pool
# is ever left), and the unmount works by fusermount3 -u and by SIGTERM.  A
# damaged snapshot gives EIO for what is damaged, said once, and the mount
# stays up.  Without /dev/fuse or fusermount3 the file reports itself
# skipped with the reason.
#
# Every mount is unmounted when the file ends, also on failure or ^C.
. "$(dirname "$0")/../lib.sh"
if ! command -v fusermount3 >/dev/null 2>&1; then
	echo "ok 1 # skip $(basename "$0"): fusermount3 not found (Debian: apt-get install fuse3)"
	echo "1..1"
	exit 0
fi
if ! [ -c /dev/fuse ] || ! [ -r /dev/fuse ] || ! [ -w /dev/fuse ]; then
	echo "ok 1 # skip $(basename "$0"): no /dev/fuse that this user may open"
	echo "1..1"
	exit 0
fi
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

unset ZBAK_REPO ZBAK_CONFIG ZBAK_NOW ZFS_STANDIN_FLAVOUR
export ZBAK
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
MNT=$TMP/mnt
mkdir -p "$MNT"
# zbak mount in the background (each test runs in a subshell: its pid
# and, once it ends, its exit status are kept in files), its stderr in
# $TMP/mount.log; returns when it serves, fails when it does not in 60 s
mount_bg() {
	rm -f "$TMP/mount.pid" "$TMP/mount.rc"
	{
		"$ZBAK" "$@" "$MNT" 2>"$TMP/mount.log" </dev/null &
		echo $! >"$TMP/mount.pid"
		wait $!
		echo $? >"$TMP/mount.rc"
	} >/dev/null 2>&1 &
	for _ in $(seq 600); do
		grep -q "^serving " "$TMP/mount.log" 2>/dev/null &&
			mountpoint -q "$MNT" && return 0
		[ -e "$TMP/mount.rc" ] && break
		sleep 0.1
	done
	cat "$TMP/mount.log"
	return 1
}
mpid() { cat "$TMP/mount.pid"; }
# wait for zbak mount to end (60 s at most); its exit status (1 when a
# sanitizer spoke)
mount_wait() {
	for _ in $(seq 600); do
		if [ -s "$TMP/mount.rc" ]; then
			! grep -E "Sanitizer|runtime error" "$TMP/mount.log" || return 1
			return "$(cat "$TMP/mount.rc")"
		fi
		sleep 0.1
	done
	echo "zbak mount did not end"
	return 124
}
cleanup() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	if [ -s "$TMP/mount.pid" ] && [ ! -e "$TMP/mount.rc" ]; then
		kill "$(cat "$TMP/mount.pid")" 2>/dev/null
		for _ in $(seq 100); do [ -e "$TMP/mount.rc" ] && break; sleep 0.1; done
	fi
}
# before zt_setup's: the mount goes first, then the pools, then $TMP
at_exit cleanup

zt_setup
here=$(cd "$(dirname "$0")/.." && pwd)
export ZBAK_POOL_DIR=$TMP/lpool ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse"
R=$TMP/repo
m() { ds_mnt "$1"; }

# the tree under a directory as lines (as t0720): path, type, mode,
# uid:gid, size (not for directories), links, mtime in seconds, link
# target, then every file's sha256; the top directory itself left out (a
# snapshot's directory in the mount is zbak's, not the file system's root)
tree() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %n %Ts %l\n' |
		sed 's/^\(\S* d \S* \S*\) [0-9]*/\1 -/' | grep -v '^\. ' |
		LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
fetches() { grep -c "^opening $1\$" "$TMP/mount.log"; }
no_temp_pools() { test -z "$(ls -A "$ZBAK_CACHE_DIR" 2>/dev/null | grep files-)"; }

test_expect_success 'setup: a tree of every kind, two snapshots, pushed and received' '
	ds_create $P/src &&
	d=$(m $P/src) &&
	head -c 300000 /dev/urandom >"$d/random" && cp "$d/random" "$TMP/random.s1" &&
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
	mkdir "$d/many" &&
	for i in $(seq 1 700); do echo $i >"$d/many/f$i"; done &&
	touch -h -d "2020-02-03 04:05:06.123456789" "$d/text" "$d/short-link" "$d/dir/deeper" &&
	touch -d "1999-12-31 23:59:59" "$d/owned" &&
	tree "$d" >"$TMP/s1.tree" &&
	zfs snapshot $P/src@s1 &&
	echo more >>"$d/text" && rm "$d/random" "$d/dir/hard2" &&
	echo new >"$d/dir/new" && mv "$d/one-byte" "$d/renamed" &&
	chmod 700 "$d/emptydir" && chown 42:43 "$d/renamed" &&
	rm "$d/many/f7" && echo changed >"$d/many/f9" &&
	tree "$d" >"$TMP/s2.tree" &&
	zfs snapshot $P/src@s2 &&
	zfs send $P/src@s1 >"$TMP/full" &&
	zfs send -i @s1 $P/src@s2 >"$TMP/incr" &&
	"$ZBAK" -r "$R" init >/dev/null &&
	"$ZBAK" -r "$R" push --name $P/src@s1 "$TMP/full" >/dev/null &&
	"$ZBAK" -r "$R" push --name $P/src@s2 "$TMP/incr" >/dev/null &&
	"$ZBAK" pool create t &&
	"$ZBAK" pool recv t/fs <"$TMP/full" &&
	"$ZBAK" pool recv t/fs <"$TMP/incr"
'

test_expect_success 'mount of the repository: datasets, @SNAP and @latest, nothing opened yet' '
	mount_bg -r "$R" mount --keep-open 1 &&
	grep -q "^serving 2 snapshots at $MNT" "$TMP/mount.log" &&
	LC_ALL=C ls -A "$MNT" >top && echo $P | diff - top &&
	LC_ALL=C ls -A "$MNT/$P/src" >snaps &&
	printf "@latest\n@s1\n@s2\n" | diff - snaps &&
	test "$(readlink "$MNT/$P/src/@latest")" = @s2 &&
	test -d "$MNT/$P/src/@s1" && test ! -e "$MNT/$P/src/@s9" &&
	test ! -e "$MNT/$P/src/s1" &&
	test "$(fetches $P/src@s1)" = 0 && test "$(fetches $P/src@s2)" = 0 &&
	grep -q " $MNT fuse.zbak ro," /proc/mounts
'

test_expect_success 'each mounted snapshot is the tree of the original' '
	tree "$MNT/$P/src/@s1" >m1.tree &&
	diff "$TMP/s1.tree" m1.tree &&
	test "$(fetches $P/src@s1)" = 1 &&
	tree "$MNT/$P/src/@latest/" >m2.tree &&
	diff "$TMP/s2.tree" m2.tree &&
	grep "^opening" "$TMP/mount.log" && no_temp_pools &&
	test "$(fetches $P/src@s2)" = 1 &&
	test "$(ls "$MNT/$P/src/@s1/many" | wc -l)" = 700 &&
	test "$(ls "$MNT/$P/src/@s2/many" | wc -l)" = 699
'

test_expect_success 'reads of ranges, holes as zeros; hard links share an inode' '
	s=$MNT/$P/src/@s1 &&
	dd if="$s/sparse" bs=4096 skip=3 count=2 status=none |
		cmp - <(dd if="$(m $P/src)/sparse" bs=4096 skip=3 count=2 status=none) &&
	dd if="$s/sparse" bs=4096 skip=100 count=10 status=none | cmp - <(head -c 40960 /dev/zero) &&
	tail -c 5000 "$s/sparse" | cmp - <(tail -c 5000 "$(m $P/src)/sparse") &&
	test "$(stat -c %s "$s/sparse")" = 4100096 &&
	dd if="$s/random" bs=1000 skip=123 count=7 status=none |
		cmp - <(dd if="$TMP/random.s1" bs=1000 skip=123 count=7 status=none) &&
	test "$(stat -c %i "$s/hard1")" = "$(stat -c %i "$s/dir/hard2")" &&
	test "$(stat -c %i "$s/hard1")" = "$(stat -c %i "$s/hard3")" &&
	test "$(stat -c %h "$s/hard1")" = 3 &&
	test "$(stat -c %i "$s/text")" != "$(stat -c %i "$MNT/$P/src/@s2/text")" &&
	stat -c "%n %i" "$s/text" "$s/dir/deeper/deepest/file" "$MNT/$P/src/@s2/text" >inodes1
'

test_expect_success 'writes are refused: EROFS' '
	s=$MNT/$P/src/@s1 &&
	! touch "$s/new" 2>err && grep -q "Read-only file system" err &&
	! sh -c "echo x >>\"$s/text\"" 2>err && grep -q "Read-only file system" err &&
	! mkdir "$s/newdir" 2>err && grep -q "Read-only file system" err &&
	! rm "$s/owned" 2>err && grep -q "Read-only file system" err &&
	! mkdir "$MNT/$P/x" 2>err && grep -q "Read-only file system" err &&
	! chmod 777 "$s/text" 2>err && grep -q "Read-only file system" err &&
	test "$(readlink "$s/short-link")" = random
'

test_expect_success '--keep-open 1: the least recently used snapshot is closed, opened again when read' '
	cat "$MNT/$P/src/@s1/dir/private" >/dev/null &&
	n1=$(fetches $P/src@s1) && n2=$(fetches $P/src@s2) &&
	cmp "$MNT/$P/src/@s2/text" "$(m $P/src)/text" &&
	test "$(fetches $P/src@s2)" = $((n2 + 1)) &&
	cat "$MNT/$P/src/@s1/dir/private" >/dev/null &&
	test "$(fetches $P/src@s1)" = $((n1 + 1)) &&
	cat "$MNT/$P/src/@s1/text" >/dev/null &&
	test "$(fetches $P/src@s1)" = $((n1 + 1))
'

test_expect_success 'fusermount3 -u ends zbak mount cleanly, its temporary pools gone' '
	fusermount3 -u "$MNT" &&
	mount_wait &&
	grep -q "^unmounted $MNT" "$TMP/mount.log" &&
	! mountpoint -q "$MNT" && no_temp_pools
'

test_expect_success 'SIGTERM unmounts too; inode numbers are the same as in the last mount' '
	mount_bg -r "$R" mount &&
	stat -c "%n %i" "$MNT/$P/src/@s1/text" "$MNT/$P/src/@s1/dir/deeper/deepest/file" \
		"$MNT/$P/src/@s2/text" >inodes2 &&
	diff inodes1 inodes2 &&
	kill -TERM "$(mpid)" &&
	mount_wait &&
	grep -q "SIGTERM: unmounting" "$TMP/mount.log" &&
	! mountpoint -q "$MNT" && no_temp_pools
'

# a dataset whose directory holds the name "../escape" (the stream edited,
# checksums fixed), received into the local pool: the damage
edit_name() {
	perl -e '
		open(my $f, "<:raw", $ARGV[0]) or die; local $/; my $s = <$f>;
		my ($a, $b) = ($ARGV[1], $ARGV[2]); $b =~ s/\\0/\0/g;
		die "length" if length $a != length $b;
		my $n = ($s =~ s/\Q$a\E/$b/g); die "found $n" if $n != 1;
		print $s' "$1" "$2" "$3" >"$4.raw" &&
	perl "$here/lib/restream.pl" edit "$4.raw" "$4"
}

test_expect_success 'mount of the local pool: its snapshots and each dataset now' '
	ds_create $P/evil &&
	e=$(m $P/evil) && mkdir "$e/d" && echo fine >"$e/fine" &&
	echo a >"$e/d/AAAAAAAAAA" && echo b >"$e/d/BBBBBBBBBB" &&
	zfs snapshot $P/evil@e && zfs send $P/evil@e >evil &&
	edit_name evil AAAAAAAAAA "../escape\0" dotdot &&
	"$ZBAK" pool recv t/dotdot <dotdot &&
	mount_bg --pool-dir "$ZBAK_POOL_DIR" mount --pool &&
	LC_ALL=C ls -A "$MNT/t" >ds && printf "@current\ndotdot\nfs\n" | diff - ds &&
	LC_ALL=C ls -A "$MNT/t/fs" >snaps && printf "@current\n@latest\n@s1\n@s2\n" | diff - snaps &&
	tree "$MNT/t/fs/@s1" | diff "$TMP/s1.tree" - &&
	tree "$MNT/t/fs/@s2" | diff "$TMP/s2.tree" - &&
	tree "$MNT/t/fs/@current" | diff "$TMP/s2.tree" -
'

test_expect_success 'a damaged directory is EIO, said once; the mount stays up' '
	s=$MNT/t/dotdot/@e &&
	! ls "$s/d" >/dev/null 2>err && grep -q "Input/output error" err &&
	! ls "$s/d" >/dev/null 2>err && grep -q "Input/output error" err &&
	test "$(grep -c "not a safe name" "$TMP/mount.log")" = 1 &&
	echo fine | cmp - "$s/fine" &&
	test "$(cat "$MNT/t/fs/@s1/dir/deeper/deepest/file")" = deep &&
	fusermount3 -u "$MNT" && mount_wait && ! mountpoint -q "$MNT" ||
		{ cat "$TMP/mount.log"; false; }
'

# the repository on S3 (s3rver, tests/s3/server.sh), when node and npm are
# there and the suite does not say ZBAK_TEST_S3=0
if [ "${ZBAK_TEST_S3:-1}" = 0 ]; then
	test_skip 'a mount of an S3 repository' 'ZBAK_TEST_S3=0'
elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	test_skip 'a mount of an S3 repository' 'node and npm not found (Debian: apt-get install nodejs npm)'
elif ! "$here/s3/server.sh" start "$TMP/s3" >"$TMP/s3.out" 2>&1; then
	test_expect_success 'a mount of an S3 repository (the S3 test server did not start)' '
		cat "$TMP/s3.out"; false
	'
else
	at_exit '"$here/s3/server.sh" stop "$TMP/s3" >/dev/null 2>&1'
	test_expect_success 'a mount of an S3 repository: the same trees, then unmounted by SIGINT' '
		. "$TMP/s3/env" &&
		S=s3://$ZBAK_TEST_BUCKET/mount-$$ &&
		"$ZBAK" -r "$S" init >/dev/null &&
		"$ZBAK" -r "$S" push --name $P/src@s1 "$TMP/full" >/dev/null &&
		"$ZBAK" -r "$S" push --name $P/src@s2 "$TMP/incr" >/dev/null &&
		mount_bg -r "$S" mount &&
		tree "$MNT/$P/src/@s1" | diff "$TMP/s1.tree" - &&
		tree "$MNT/$P/src/@latest/" | diff "$TMP/s2.tree" - &&
		kill -INT "$(mpid)" && mount_wait &&
		grep -q "SIGINT: unmounting" "$TMP/mount.log" &&
		! mountpoint -q "$MNT" && no_temp_pools
	'
fi

test_expect_success 'refusals: no mount point, a file as mount point, no repository' '
	"$ZBAK" -r "$R" mount "$TMP/nothing" 2>err; test $? = 2 &&
	grep -q "not a directory" err &&
	"$ZBAK" -r "$R" mount "$TMP/full" 2>err; test $? = 2 &&
	"$ZBAK" -r "$R" mount 2>err; test $? = 2 &&
	! mountpoint -q "$MNT"
'

test_expect_success 'without fusermount3 the file skips itself, saying why' '
	mkdir nofuse &&
	for f in /usr/bin/* /usr/sbin/*; do
		case $f in */fusermount3) continue ;; esac
		ln -sf "$f" nofuse/ 2>/dev/null
	done &&
	PATH=$TMP/nofuse bash "$self" >out 2>&1 &&
	grep -q "^ok 1 # skip .*fusermount3 not found" out &&
	grep -q "^1\.\.1$" out
'

test_done
