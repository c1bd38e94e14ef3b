# The ZFS a shell test runs zbak against; source it after tests/lib.sh.
#
#   ZBAK_TEST_ZFS=standin (default)  tests/bin/zfs, the stand-in over a
#                                    local pool in $TMP/pool (pool "tank")
#   ZBAK_TEST_ZFS=fuse               zfs-fuse, a real ZFS (tests/zfs/fuse.sh):
#                                    a pool of a name no one else uses, on a
#                                    sparse file, destroyed when the file
#                                    ends (also on failure and ^C); test
#                                    names end in " [zfs-fuse]".  Where it
#                                    cannot run, the file reports one test
#                                    skipped with the reason and exits 0.
#
# zt_setup               set up the backend and make the pool: P is its
#                        name; ZBAK_ZFS and PATH name $TMP/bin/zfs, which
#                        appends its argv and environment to $ZFS_LOG when
#                        that is set (as the stand-in's ZFS_STANDIN_LOG
#                        does), then runs the backend's zfs; REAL_ZFS is
#                        the backend's zfs itself
# zt_pool NAME           zfs-fuse: another pool, of that name (exit 2 when
#                        a pool of that name exists: it is not ours)
# zt_fuse                true on zfs-fuse
# ds_create DS...        file systems (parents first)
# ds_write DS N OFF [BS] stdin into file N of DS at byte OFF (the local
#                        pool: object N, block size BS)
# ds_free DS N [OFF LEN] file N gone, or LEN bytes at OFF zeroed (freed in
#                        the local pool; zfs-fuse cannot punch holes)
# ds_snaps DS            its snapshots' names after '@', oldest first,
#                        each followed by a space
# ds_holds SNAP          which of zbak's and the tests' tags (zbak, other)
#                        hold SNAP, each followed by a space
# zt_state               every dataset and snapshot of the pool with its
#                        guid: compare two to prove nothing changed
# ds_destroy DS          DS and all below it destroyed (retried a few
#                        times: zfs-fuse may call it busy a moment after
#                        its files were read)
# ds_same A B            A and B (snapshots or datasets) hold the same
#                        data (zfs-fuse: the same files, types, modes,
#                        owners, sizes, link counts, modification times,
#                        symlink targets and contents)
# HELD_MSG               what `zfs destroy` of a held snapshot says
set -u
ZBAK_TEST_ZFS=${ZBAK_TEST_ZFS:-standin}
_zt_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

zt_fuse() { [ "$ZBAK_TEST_ZFS" = fuse ]; }

zt_setup() {
	local reason
	mkdir -p "$TMP/bin"
	case $ZBAK_TEST_ZFS in
	standin)
		export ZBAK_POOL_DIR=$TMP/pool
		REAL_ZFS=$_zt_here/bin/zfs
		P=tank
		"$ZBAK" pool create "$P" || return 1
		HELD_MSG="held (zbak)"
		;;
	fuse)
		_sfx="$_sfx [zfs-fuse]"
		if ! reason=$("$_zt_here/zfs/fuse.sh" check); then
			echo "ok 1 # skip $(basename "$0")$_sfx: $reason"
			echo "1..1"
			exit 0
		fi
		at_exit '"$_zt_here/zfs/fuse.sh" stop "$TMP/zfs-fuse"'
		trap 'exit 130' INT
		trap 'exit 143' TERM
		"$_zt_here/zfs/fuse.sh" start "$TMP/zfs-fuse" || {
			echo "Bail out! the zfs-fuse daemon did not start"
			exit 1
		}
		P=$("$_zt_here/zfs/fuse.sh" pool "$TMP/zfs-fuse") || {
			echo "Bail out! no pool could be made"
			exit 1
		}
		REAL_ZFS=$("$_zt_here/zfs/fuse.sh" bin)/zfs
		HELD_MSG="dataset is busy"
		;;
	*)
		echo "Bail out! ZBAK_TEST_ZFS=$ZBAK_TEST_ZFS: standin or fuse"
		exit 1
		;;
	esac
	cat >"$TMP/bin/zfs" <<-EOF
	#!/bin/bash
	if [ -n "\${ZFS_LOG:-}" ]; then
		{ echo "argv: \$*"; env | sed 's/^/env: /'; } >>"\$ZFS_LOG"
	fi
	exec "$REAL_ZFS" "\$@"
	EOF
	chmod +x "$TMP/bin/zfs"
	export ZBAK_ZFS=$TMP/bin/zfs PATH=$TMP/bin:$PATH
}

zt_pool() { "$_zt_here/zfs/fuse.sh" pool "$TMP/zfs-fuse" "$1" >/dev/null; }

ds_create() {
	local ds
	for ds in "$@"; do
		if zt_fuse; then
			zfs create "$ds" || return 1
		else
			"$ZBAK" pool create "$ds" || return 1
		fi
	done
}

# the mount point of a zfs-fuse dataset
ds_mnt() { zfs get -H -o value mountpoint "$1"; }

ds_write() { # DS N OFF [BS]
	if zt_fuse; then
		local f
		f=$(ds_mnt "$1")/f$2 || return 1
		dd of="$f" bs=64K seek="$3" oflag=seek_bytes conv=notrunc \
			status=none
	else
		"$ZBAK" pool write ${4:+-b "$4"} "$1" "$2" "$3"
	fi
}

ds_free() { # DS N [OFF LEN]
	if zt_fuse; then
		local f
		f=$(ds_mnt "$1")/f$2 || return 1
		if [ $# -eq 2 ]; then
			rm -f "$f"
		else
			head -c "$4" /dev/zero | dd of="$f" bs=64K seek="$3" \
				oflag=seek_bytes conv=notrunc status=none
		fi
	else
		"$ZBAK" pool free "$@"
	fi
}

ds_snaps() {
	zfs list -H -o name -t snapshot -d 1 "$1" | sed 's/.*@//' | tr '\n' ' '
}

# zfs-fuse's `zfs holds` needs a Python helper it does not ship: a tag is
# known to hold a snapshot when holding it again says so (and a hold that
# was not there is released again)
ds_holds() {
	local tag out=
	if ! zt_fuse; then
		"$ZBAK" pool holds -H "$1" | cut -f2 | tr '\n' ' '
		return
	fi
	for tag in zbak other; do
		if "$REAL_ZFS" hold "$tag" "$1" 2>/dev/null; then
			"$REAL_ZFS" release "$tag" "$1" || return 1
		else
			out="$out$tag "
		fi
	done
	printf '%s' "$out"
}

zt_state() { zfs get -H -p -o name,value -r guid "$P"; }

# the files under a mount point as lines (not those of datasets mounted
# below it): path, type, mode, owner, size, links, modification time, link
# target; and every file's sha256
_zt_tree() {
	(cd "$1" && find . -xdev -printf '%p %y %m %u:%g %s %n %T@ %l\n' | LC_ALL=C sort &&
		find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# a dataset to look at NAME (a dataset: itself; a snapshot: a clone of
# it, named uniquely: this runs in a subshell)
_zt_view() {
	local v
	case $1 in
	*@*)
		v=$P/zt-view-$BASHPID-$RANDOM
		zfs clone "$1" "$v" || return 1
		echo "$v"
		;;
	*) echo "$1" ;;
	esac
}

# the clone goes (the kernel may hold its mount a moment after the reads)
_zt_unview() { ds_destroy "$1"; }

# ds_destroy DS: DS and everything below it go, retried while zfs-fuse
# still calls a dataset whose files were just read busy
ds_destroy() {
	local i f=
	zt_fuse && f=-f # (the stand-in has no -f: nothing is mounted)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		zfs destroy -r $f "$1" 2>/dev/null && return 0
		sleep 0.3
	done
	zfs destroy -r $f "$1"
}

ds_same() { # A B
	if ! zt_fuse; then
		"$ZBAK" pool diff "$1" "$2" >/dev/null || {
			"$ZBAK" pool diff "$1" "$2"
			return 1
		}
		return 0
	fi
	local a b rc=0
	a=$(_zt_view "$1") && b=$(_zt_view "$2") || return 1
	if ! diff <(_zt_tree "$(ds_mnt "$a")") <(_zt_tree "$(ds_mnt "$b")") >"$TMP/.ds_same"; then
		echo "$1 and $2 differ:"
		head -20 "$TMP/.ds_same"
		rc=1
	fi
	[ "$a" = "$1" ] || _zt_unview "$a" || rc=1
	[ "$b" = "$2" ] || _zt_unview "$b" || rc=1
	return $rc
}
