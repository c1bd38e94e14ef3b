#!/bin/bash
# ZPL 4 and ZPL 5 (system attributes) round trips: tree -> stream -> zbak
# -> the same tree.  No ZFS here writes ZPL 5 or keeps xattrs (zfs-fuse is
# ZPL 4 and refuses setfattr), so `zbak debug gen-zpl` (bk_gen_zpl_stream)
# writes a real directory tree as the stream of a ZPL file system: znodes
# (4) or SA bonuses with spill blocks (5), xattrs in ZPL_DXATTR or in
# xattr directories, both byte orders.  Each stream is received into the
# local pool (and one pushed to a repository), and what `files ls -R
# --json` lists and `files extract` restores is compared with the tree:
# names, types, modes, owners, sizes, link counts, mtimes to the
# nanosecond, link targets, sha256 of every file and every xattr (name and
# value); the sparse file stays sparse.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
unset ZBAK_REPO ZBAK_CONFIG
zf() { "$ZBAK" files "$@"; }

# the tree under a directory as lines: path, type, mode, uid:gid, size
# (not for directories: zfs counts entries, other file systems bytes),
# links, mtime (find's 10 digits cut to ns), link target; then every file's sha256, then the
# user.* and trusted.* xattrs of files and directories, values in hex
tree() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %n %T@ %l\n' |
		sed 's/^\(\S* d \S* \S*\) [0-9]*/\1 -/; s/\(\.[0-9]\{9\}\)0 /\1 /' |
		LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum &&
		find . \( -type f -o -type d \) -print0 | LC_ALL=C sort -z |
		xargs -0 getfattr -h -d -m "^(user|trusted)\." -e hex 2>/dev/null)
}
# the first lines of tree from `zbak files ls -R --json`, then each
# entry's xattrs as "path name size"
json_tree() {
	perl -MJSON::PP -e '
		my %t = (file => "f", dir => "d", symlink => "l", fifo => "p");
		my @x;
		for my $e (@{decode_json(do { local $/; <STDIN> })}) {
			my $p = $e->{path} eq "/" ? "." : ".$e->{path}";
			my $s = $e->{type} eq "dir" ? "-" : $e->{size};
			printf "%s %s %o %d:%d %s %d %d.%09d %s\n", $p, $t{$e->{type}},
				$e->{mode}, $e->{uid}, $e->{gid}, $s, $e->{links},
				$e->{mtime}, $e->{mtime_nsec}, $e->{target} // "";
			push @x, "$p $_->{name} $_->{size}\n" for @{$e->{xattrs} || []};
		}
		print sort @x' | LC_ALL=C sort -s -k1,1
}
# "path name size" of every xattr of the tree (getfattr's hex: 2 a byte)
xattr_sizes() {
	(cd "$1" && find . \( -type f -o -type d \) -print0 | LC_ALL=C sort -z |
		xargs -0 getfattr -h -d -m "^(user|trusted)\." -e hex 2>/dev/null) |
		awk '/^# file: / { p = "./" substr($0, 9); sub("^[.]/[.]/", "./", p); sub("^[.]/[.]$", ".", p) }
		     /^[a-z]+\.[^=]*=0x/ { n = index($0, "="); print p, substr($0, 1, n - 1), (length($0) - n - 2) / 2 }' |
		LC_ALL=C sort -s -k1,1
}

test_expect_success 'setup: a tree of every kind, with xattrs' '
	mkdir src && setfattr -n user.probe -v 1 src &&
	setfattr -x user.probe src &&
	d=src &&
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
	ln -s "$(printf "y%.0s" $(seq 1 1000))/target" "$d/longer-link" &&
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
	setfattr -n user.color -v blue "$d/text" &&
	setfattr -n user.empty "$d/text" &&
	setfattr -n trusted.note -v "kept whole" "$d/text" &&
	setfattr -n user.on-a-dir -v 0x00ff00ff "$d/dir" &&
	setfattr -n user.linked -v both "$d/hard1" &&
	setfattr -n user.big -v "$(head -c 3000 /dev/urandom | base64 -w0)" "$d/one-byte" &&
	for i in $(seq 1 40); do setfattr -n user.x$i -v "value $i" "$d/owned" || return 1; done &&
	touch -h -d "2020-02-03 04:05:06.123456789" "$d/text" "$d/short-link" "$d/dir/deeper" &&
	touch -d "1999-12-31 23:59:59" "$d/owned" &&
	touch -d "2001-01-01 00:00:00.5" "$d/dir" "$d" &&
	tree src >src.tree &&
	grep -q "^user.big=0x" src.tree && grep -q "^trusted.note=" src.tree &&
	xattr_sizes src >src.xattrs && test "$(wc -l <src.xattrs)" = 48 &&
	"$ZBAK" pool create t
'

# $1: a name, the rest: gen-zpl options.  Stream, receive, compare.
round_trip() {
	name=$1 && shift &&
	"$ZBAK" debug gen-zpl --name t/$name@s --blocksize 4096 "$@" src >$name.zs &&
	"$ZBAK" inspect --validate $name.zs >/dev/null &&
	"$ZBAK" pool recv t/$name <$name.zs &&
	zf ls -R --json --pool t/$name@s >$name.json &&
	json_tree <$name.json >$name.ls &&
	{ grep -v "^[0-9a-f]\{64\} " src.tree | sed "/^# file: /,\$d" &&
	  cat src.xattrs; } | LC_ALL=C sort -s -k1,1 >want.ls &&
	diff want.ls $name.ls &&
	mkdir $name.out &&
	zf extract --pool -t $name.out t/$name@s 2>$name.msg &&
	! grep -q warning $name.msg &&
	tree $name.out >$name.tree &&
	diff src.tree $name.tree &&
	test "$(du -k $name.out/sparse | cut -f1)" -lt 100 &&
	zf cat --pool t/$name@s /dir/hard2 | grep -q linked &&
	test "$(zf cat --pool t/$name@s /text | sha256sum)" = "$(sha256sum <src/text)"
}

test_expect_success 'ZPL 5: system attributes, xattrs in SA (spill blocks)' '
	round_trip sa --zpl 5 &&
	grep -q "\"target\":\"yyyy" sa.json
'

test_expect_success 'ZPL 5: xattrs in xattr directories' '
	round_trip sadir --zpl 5 --dir-xattrs
'

test_expect_success 'ZPL 4: znodes, xattr directories' '
	round_trip znode --zpl 4
'

test_expect_success 'the other byte order, both layouts' '
	round_trip sabe --zpl 5 --byteswap &&
	round_trip znodebe --zpl 4 --byteswap
'

test_expect_success 'the streams differ where the layouts do' '
	test -s sa.zs && test -s sadir.zs && test -s znode.zs && test -s sabe.zs &&
	! cmp -s sa.zs sadir.zs && ! cmp -s sa.zs znode.zs && ! cmp -s sa.zs sabe.zs
'

test_expect_success 'a repository snapshot of ZPL 5, read in place (spill blocks too)' '
	export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse" &&
	R=$TMP/repo &&
	"$ZBAK" -r "$R" init >/dev/null &&
	"$ZBAK" -r "$R" push --name p/fs@s sa.zs >/dev/null &&
	"$ZBAK" -r "$R" files extract -t rout p/fs@s 2>/dev/null &&
	tree rout | diff src.tree - &&
	"$ZBAK" -r "$R" files ls -R --json p/fs@s 2>/dev/null | json_tree | diff want.ls -
'

# zbak mount of that repository: the same tree, xattrs through getxattr
# and listxattr (a snapshot's top directory is made up: its line is left
# out).  Skipped without fusermount3 or /dev/fuse.
if command -v fusermount3 >/dev/null 2>&1 && [ -c /dev/fuse ] && [ -w /dev/fuse ]; then
	test_expect_success 'zbak mount shows the tree, xattrs included' '
	export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse" &&
	MNT=$TMP/mnt && mkdir "$MNT" &&
	{ "$ZBAK" -r "$TMP/repo" mount "$MNT" >mount.log 2>&1 & } &&
	for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done &&
	mountpoint -q "$MNT" &&
	tree "$MNT/p/fs/@s" >mnt.tree
	rc=$?
	fusermount3 -u "$MNT" 2>/dev/null
	wait
	test $rc = 0 &&
	! grep -E "Sanitizer|runtime error" mount.log &&
	grep -v "^\. " src.tree >want.tree &&
	grep -v "^\. " mnt.tree | diff want.tree -
'
else
	test_skip 'zbak mount shows the tree, xattrs included' \
		"no fusermount3 or no usable /dev/fuse"
fi

# Not root: trusted.* xattrs are refused by the kernel, user.* ones kept
# (as root, setpriv makes the extract run as nobody).
if [ "$(id -u)" = 0 ]; then
	test_expect_success 'xattrs the target refuses are a warning, not a failure' '
	nb=$(mktemp -d /tmp/zbak-t0345.XXXXXX) && chmod 777 "$nb" &&
	setpriv --reuid=65534 --regid=65534 --clear-groups env \
		ZBAK_POOL_DIR="$nb/pool" "$ZBAK" pool create n &&
	setpriv --reuid=65534 --regid=65534 --clear-groups env \
		ZBAK_POOL_DIR="$nb/pool" "$ZBAK" pool recv n/fs <sa.zs &&
	setpriv --reuid=65534 --regid=65534 --clear-groups env \
		ZBAK_POOL_DIR="$nb/pool" "$ZBAK" files extract --pool \
		-t "$nb/out" n/fs@s 2>msg &&
	cat msg >&2 &&
	grep -q "warning: 1 xattrs not restored (first: text: xattr trusted.note" msg &&
	getfattr -n user.color --only-values "$nb/out/text" | grep -qx blue &&
	cmp src/text "$nb/out/text"
	rc=$?
	rm -rf "$nb"
	return $rc
'
else
	test_skip 'xattrs the target refuses are a warning, not a failure' \
		"not root: setpriv cannot run the extract as nobody"
fi

test_expect_success 'gen-zpl refuses what it cannot write' '
	! "$ZBAK" debug gen-zpl --zpl 3 src >/dev/null 2>err && grep -q "4 or 5" err &&
	! "$ZBAK" debug gen-zpl --zpl 5 no-such-dir >/dev/null 2>err &&
	grep -q no-such-dir err
'

test_done
