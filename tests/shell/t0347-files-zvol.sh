#!/bin/bash
# A volume (zvol) read as one file.  zfs-fuse cannot create volumes
# (`zfs create -V` fails: "Function not implemented"), so `zbak debug
# gen-zpl --volume` (bk_gen_zvol_stream) writes a sparse image as a
# volume's full stream: BEGIN of objset type ZVOL, object 1 with the data
# (blocks of zeros left out), object 2 a ZAP whose "size" is the volsize.
# Received into the local pool and pushed to a repository, `zbak files`
# lists it as one regular file named after the volume; cat prints exactly
# volsize bytes that hash as the image does, holes as zeros, and extract
# writes DIR/<volume> sparse, leaving DIR's own mode alone.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
unset ZBAK_REPO ZBAK_CONFIG
zf() { "$ZBAK" files "$@"; }
size=$((64 << 20))

test_expect_success 'setup: a sparse 64 MiB volume as a stream, received' '
	truncate -s $size img &&
	head -c 100000 /dev/urandom >blob &&
	dd if=blob of=img bs=4096 seek=3 conv=notrunc status=none &&
	dd if=blob of=img bs=4096 seek=10000 conv=notrunc status=none &&
	sha256sum <img | cut -d" " -f1 >want &&
	"$ZBAK" debug gen-zpl --volume --name p/vol@s1 -o vol.zs img &&
	test "$(stat -c %s vol.zs)" -lt 400000 &&
	"$ZBAK" pool create t &&
	"$ZBAK" pool recv t/vol <vol.zs
'

test_expect_success 'ls shows the volume as one file of volsize bytes' '
	zf ls --pool t/vol@s1 >ls &&
	echo /vol | diff - ls &&
	zf ls -l --pool t/vol@s1 >long &&
	grep -q "^-rw-------   1     0     0 *$size .* /vol$" long &&
	zf ls -R --json --pool t/vol@s1 >json &&
	grep -q "\"path\":\"/vol\",\"type\":\"file\".*\"size\":$size" json
'

test_expect_success 'cat with no path, "/" or "/vol" prints the volume, holes as zeros' '
	for p in "" / /vol; do
		zf cat --pool t/vol@s1 $p >out &&
		test "$(stat -c %s out)" = $size &&
		sha256sum <out | cut -d" " -f1 | diff want - || return 1
	done
'

test_expect_success 'extract writes DIR/vol sparse and leaves DIR'"'"'s mode alone' '
	mkdir x && chmod 750 x &&
	zf extract --pool -t x t/vol@s1 2>msg &&
	grep -q "^restored 1 files" msg &&
	cmp img x/vol &&
	test "$(du -k x/vol | cut -f1)" -lt 1024 &&
	test "$(stat -c %a x)" = 750 &&
	zf extract --pool -t y t/vol@s1 /vol 2>/dev/null && cmp img y/vol
'

test_expect_success 'a path that is not the volume is not found' '
	! zf cat --pool t/vol@s1 /etc/passwd 2>err &&
	grep -q "no such file" err &&
	! zf cat --pool t/vol@s1 /vol/x 2>err &&
	grep -q "not a directory\|no such file" err
'

test_expect_success 'from a repository: cat and extract read it in place' '
	export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE="correct horse" &&
	R=$TMP/repo &&
	"$ZBAK" -r "$R" init >/dev/null &&
	"$ZBAK" -r "$R" push --name p/vol@s1 vol.zs >/dev/null &&
	"$ZBAK" -r "$R" files ls p/vol@s1 2>/dev/null | diff ls - &&
	"$ZBAK" -r "$R" files cat p/vol@s1 2>/dev/null >rout &&
	sha256sum <rout | cut -d" " -f1 | diff want - &&
	"$ZBAK" -r "$R" files extract -t rx p/vol@s1 2>/dev/null &&
	cmp img rx/vol &&
	test "$(du -k rx/vol | cut -f1)" -lt 1024
'

# the mount shows the volume's snapshot as a directory of one file
if command -v fusermount3 >/dev/null 2>&1 && [ -c /dev/fuse ] &&
	[ -r /dev/fuse ] && [ -w /dev/fuse ]; then
	test_expect_success 'mount --pool shows the volume as one file' '
	mkdir mnt &&
	{ "$ZBAK" mount --pool mnt 2>mount.log </dev/null & echo $! >mount.pid; } &&
	for _ in $(seq 300); do
		grep -q "^serving " mount.log && mountpoint -q mnt && break
		sleep 0.1
	done &&
	ls mnt/t/vol/@s1 >names &&
	echo vol | diff - names &&
	cmp img mnt/t/vol/@s1/vol
	rc=$?
	fusermount3 -u mnt 2>/dev/null || umount -l mnt
	wait "$(cat mount.pid)" 2>/dev/null
	return $rc
'
else
	test_skip 'mount --pool shows the volume as one file' \
		"no fusermount3 or no /dev/fuse this user may open"
fi

test_done
