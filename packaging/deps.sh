#!/bin/sh
# What zbak needs from Debian to build and test, in one place.
#   deps.sh --check     exit 0 when everything is there, else list what is missing
#   deps.sh --install   install what is missing (root), or print the apt-get line
#   deps.sh --bench [--check|--install]
#                       the same for what `make bench` compares zbak with
#                       (restic, borg, lz4, GNU time, rclone; strace, which
#                       counts what bench/files.sh reads) instead of the build deps
#   deps.sh --rgw [--check|--install]
#                       the same for `make check-rgw`: a throwaway Ceph cluster
#                       (ceph-mon, ceph-osd, radosgw) for the S3 suite
set -u

# Debian package : how to tell it is there
# (dpkg-dev, debhelper, fakeroot, build-essential: make deb and its test,
# t0600; dpkg-buildpackage insists on build-essential)
# The tests' commands, where a minimal Debian (debootstrap --variant=minbase)
# lacks them or might: pgrep (procps: the tests look for leftover
# receivers; they end processes only by the PID they started), perl's
# JSON::PP (perl: perl-base has no JSON::PP), flock and setpriv
# (util-linux), getfattr and setfattr (attr: the xattr round trips of
# t0346), timeout, mkfifo, stat, b2sum (coreutils), and strace (t0245
# reads the order of fsync, syncfs and rename from it).
PKGS="
gcc:cmd:cc
make:cmd:make
pkg-config:cmd:pkg-config
libcmocka-dev:pc:cmocka
libsodium-dev:pc:libsodium
libssl-dev:pc:libcrypto
liblz4-dev:pc:liblz4
zlib1g-dev:pc:zlib
libzstd-dev:pc:libzstd
libcurl4-openssl-dev:pc:libcurl
libxml2-dev:pc:libxml-2.0
libinih-dev:pc:inih
libfuse3-dev:pc:fuse3
fuse3:cmd:fusermount3
clang:cmd:clang
libclang-rt-14-dev:file:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
coreutils:cmd:b2sum
coreutils:cmd:timeout
procps:cmd:pgrep
perl:perl:JSON::PP
util-linux:cmd:flock
util-linux:cmd:setpriv
attr:cmd:getfattr
strace:cmd:strace
zstd:cmd:zstd
nodejs:cmd:node
npm:cmd:npm
dpkg-dev:cmd:dpkg-buildpackage
debhelper:cmd:dh
fakeroot:cmd:fakeroot
build-essential:deb:build-essential
"

# A real ZFS for the tests (tests/zfs/fuse.sh; t05*.sh and t07*.sh):
# zfs-fuse, and attr (setfattr, to learn whether it keeps xattrs).  Only
# for root (zfs-fuse runs only as root, so without root the tests skip
# themselves and these are not needed), and never where OpenZFS is
# installed (zfsutils-linux ships the same /sbin/zfs; the tests then skip
# themselves and say why).  The Debian package of zbak never depends on
# them.
ZFS_PKGS="
zfs-fuse:deb:zfs-fuse
attr:cmd:setfattr
"

# make bench (bench/run.sh): the tools zbak is measured against
BENCH_PKGS="
restic:cmd:restic
borgbackup:cmd:borg
lz4:cmd:lz4
time:exe:/usr/bin/time
rclone:cmd:rclone
strace:cmd:strace
"

# make check-rgw (tests/rgw/cluster.sh): one mon, one memstore OSD, one radosgw
# (ceph-mon brings ceph-base: monmaptool, ceph-authtool; radosgw brings
# radosgw-admin; curl asks the gateway whether it answers; ss, of
# iproute2, finds a free port)
RGW_PKGS="
ceph-mon:cmd:ceph-mon
ceph-osd:cmd:ceph-osd
radosgw:cmd:radosgw
curl:cmd:curl
iproute2:cmd:ss
"

what_for="build and test dependencies"
if [ "$(id -u)" -eq 0 ] &&
   ! dpkg-query -W -f '${Status}' zfsutils-linux 2>/dev/null | grep -q ' installed$' &&
   ! [ -d /sys/module/zfs ]; then
	PKGS="$PKGS $ZFS_PKGS"
fi
mode=""
for arg in "$@"; do
	case $arg in
	--bench)
		PKGS=$BENCH_PKGS
		what_for="benchmark tools"
		;;
	--rgw)
		PKGS=$RGW_PKGS
		what_for="Ceph RADOS Gateway for make check-rgw"
		;;
	--check | --install)
		[ -n "$mode" ] && { echo "usage: $0 [--bench | --rgw] --check | --install" >&2; exit 2; }
		mode=$arg
		;;
	*)
		echo "usage: $0 [--bench | --rgw] --check | --install" >&2
		exit 2
		;;
	esac
done

missing=""
for entry in $PKGS; do
	pkg=${entry%%:*}
	rest=${entry#*:}
	kind=${rest%%:*}
	what=${rest#*:}
	case $kind in
	cmd) command -v "$what" >/dev/null 2>&1 && continue ;;
	pc) pkg-config --exists "$what" 2>/dev/null && continue ;;
	exe) [ -x "$what" ] && continue ;;
	perl) perl -M"$what" -e 1 >/dev/null 2>&1 && continue ;;
	deb)
		dpkg-query -W -f '${Status}' "$what" 2>/dev/null |
			grep -q ' installed$' && continue ;;
	file)
		# the fuzzer runtime: any clang version will do
		ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
			>/dev/null 2>&1 && continue ;;
	esac
	missing="$missing $pkg"
done

case "${mode:---check}" in
--check)
	if [ -n "$missing" ]; then
		echo "missing:$missing"
		exit 1
	fi
	exit 0
	;;
--install)
	[ -z "$missing" ] && exit 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "zbak needs these Debian packages ($what_for); as root run:" >&2
		echo "  apt-get update && apt-get install -y$missing" >&2
		exit 1
	fi
	echo "installing $what_for:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 &&
		apt-get install -y -qq --no-install-recommends $missing >&2
	;;
esac
