#!/bin/bash
# A real ZFS for the test suite: zfs-fuse 0.7 (Debian's zfs-fuse package),
# with pools on sparse files.
#
#   tests/zfs/fuse.sh check              exit 0 when it can run here; else
#                                        print why not (one line), exit 1
#   tests/zfs/fuse.sh start STATE_DIR    a daemon that answers: the one that
#                                        runs already, or one started now
#                                        (stopped again by stop)
#   tests/zfs/fuse.sh pool STATE_DIR [NAME]
#                                        make a pool and print its name (NAME:
#                                        that one; exit 2 when a pool of that
#                                        name exists already)
#   tests/zfs/fuse.sh stop STATE_DIR     destroy the pools this STATE_DIR
#                                        made, then stop the daemon if
#                                        this STATE_DIR started it
#   tests/zfs/fuse.sh bin                print the directory of zfs-fuse's
#                                        zfs and zpool
#
# It never touches a pool it did not make.  Its pools have names no one
# else uses ("zbt-<pid>-<n>", checked free before use), live in sparse
# files under STATE_DIR/pools, are mounted under STATE_DIR/mnt, and are
# kept out of zpool.cache (cachefile=none), so that a daemon started later
# never imports them.  stop destroys exactly the pools listed in
# STATE_DIR/pools.list; a daemon it did not start, or one that has other
# pools by then, is left running.
#
# It cannot run without root, /dev/fuse and zfs-fuse installed, nor where
# OpenZFS is (zfsutils-linux or its kernel module; the two packages ship
# the same /sbin/zfs): check says which.
set -u

die() { echo "fuse.sh: $*" >&2; exit 1; }

# zfs-fuse's own zfs and zpool, beside its daemon
bindir() {
	local d
	d=$(command -v zfs-fuse 2>/dev/null) || return 1
	d=$(dirname "$d")
	[ -x "$d/zfs" ] && [ -x "$d/zpool" ] || return 1
	echo "$d"
}

why_not() {
	[ "$(id -u)" = 0 ] || { echo "not root (zfs-fuse needs root and /dev/fuse)"; return; }
	if dpkg-query -W -f '${Status}' zfsutils-linux 2>/dev/null | grep -q ' installed$' ||
	   [ -d /sys/module/zfs ]; then
		echo "OpenZFS is installed here (zfsutils-linux or its kernel module): zfs-fuse cannot be installed beside it"
		return
	fi
	bindir >/dev/null && dpkg-query -W -f '${Status}' zfs-fuse 2>/dev/null | grep -q ' installed$' || {
		echo "zfs-fuse is not installed (Debian: apt-get install zfs-fuse; make check installs it when run as root)"
		return
	}
	[ -c /dev/fuse ] || { echo "no /dev/fuse"; return; }
}

# does a daemon answer? (zpool fails at once when none listens)
answers() {
	timeout 20 "$B/zpool" list -H -o name >/dev/null 2>&1
}

start() { # STATE_DIR
	local st=$1 i
	mkdir -p "$st/pools" "$st/mnt" || die "cannot create $st"
	if answers; then
		echo "reused" >"$st/daemon"
		return 0
	fi
	# flags override /etc/zfs/zfsrc: no attribute caching (a test reads
	# a dataset right after zfs changed it), no /zfs-kstat mount
	"$B/zfs-fuse" --no-daemon --no-kstat-mount -a 0 -e 0 \
		--pidfile "$st/zfs-fuse.pid" >"$st/zfs-fuse.log" 2>&1 </dev/null &
	echo $! >"$st/daemon"
	for i in $(seq 100); do
		answers && return 0
		kill -0 "$(cat "$st/daemon")" 2>/dev/null || break
		sleep 0.1
	done
	kill "$(cat "$st/daemon")" 2>/dev/null
	rm -f "$st/daemon"
	die "the zfs-fuse daemon did not start: $(tail -3 "$st/zfs-fuse.log" 2>/dev/null | tr '\n' ' ')"
}

pool() { # STATE_DIR [NAME]
	local st=$1 want=${2:-} n name img
	[ -f "$st/daemon" ] || die "pool: no daemon (start first)"
	if [ -n "$want" ] && "$B/zpool" list "$want" >/dev/null 2>&1; then
		echo "fuse.sh: a pool named $want exists already: not touching it" >&2
		exit 2
	fi
	for n in $(seq 1 50); do
		name=${want:-zbt-$$-$RANDOM}
		# a pool of that name anywhere (imported) is someone's: skip it
		"$B/zpool" list "$name" >/dev/null 2>&1 && continue
		img=$st/pools/$name.img
		# (ZBAK_FUSE_POOL_SIZE: bench/files.sh needs room for 1 GiB)
		truncate -s "${ZBAK_FUSE_POOL_SIZE:-768M}" "$img" || die "cannot create $img"
		if "$B/zpool" create -o cachefile=none -m "$st/mnt/$name" \
			"$name" "$img" >"$st/pools/$name.log" 2>&1; then
			echo "$name" >>"$st/pools.list"
			echo "$name"
			return 0
		fi
		rm -f "$img"
		[ -z "$want" ] && "$B/zpool" list "$name" >/dev/null 2>&1 && continue
		die "zpool create $name failed: $(tr '\n' ' ' <"$st/pools/$name.log")"
	done
	die "no free pool name after 50 tries"
}

stop() { # STATE_DIR
	local st=$1 name i pid others
	[ -d "$st" ] || return 0
	if [ -f "$st/pools.list" ]; then
		while read -r name; do
			[ -n "$name" ] || continue
			for i in 1 2 3 4 5; do
				"$B/zpool" list "$name" >/dev/null 2>&1 || break
				"$B/zpool" destroy -f "$name" >/dev/null 2>&1 && break
				sleep 1
			done
			"$B/zpool" list "$name" >/dev/null 2>&1 &&
				echo "fuse.sh: could not destroy pool $name" >&2
			rm -f "$st/pools/$name.img"
		done <"$st/pools.list"
		rm -f "$st/pools.list"
	fi
	pid=$(cat "$st/daemon" 2>/dev/null)
	case $pid in
	'' | reused) ;;
	*)
		others=$("$B/zpool" list -H -o name 2>/dev/null)
		if [ -n "$others" ]; then
			echo "fuse.sh: leaving the zfs-fuse daemon running: it has pools ($(echo $others))" >&2
		else
			kill "$pid" 2>/dev/null
			for i in $(seq 100); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null
		fi
		;;
	esac
	rm -f "$st/daemon"
}

case ${1:-} in
check)
	reason=$(why_not)
	[ -z "$reason" ] && exit 0
	echo "$reason"
	exit 1
	;;
bin)
	bindir || exit 1
	;;
start)
	[ $# -eq 2 ] || die "usage: $0 $1 STATE_DIR"
	reason=$(why_not)
	[ -z "$reason" ] || die "$reason"
	B=$(bindir)
	start "$2"
	;;
pool)
	[ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 pool STATE_DIR [NAME]"
	B=$(bindir) || die "zfs-fuse is not installed"
	pool "$2" "${3:-}"
	;;
stop)
	[ $# -eq 2 ] || die "usage: $0 stop STATE_DIR"
	B=$(bindir) || die "zfs-fuse is not installed"
	stop "$2"
	;;
*)
	die "usage: $0 check | bin | start STATE_DIR | pool STATE_DIR [NAME] | stop STATE_DIR"
	;;
esac
