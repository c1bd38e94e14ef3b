#!/bin/bash
# One file out of a backup in S3: zbak files (read in place through its
# map, docs/zpl.md "Maps") next to restic ls/dump (same S3 server) and borg
# list/extract (a local repository: borg has no S3).  A tree of ~5,000
# files (BENCH_FILES_SIZE, default 1G: 4,000 small files of 4-60 KiB, the
# rest 1 MiB, random bytes) is made in a zfs-fuse file system
# (tests/zfs/fuse.sh), snapshotted, sent with `zfs send`, pushed to
# s3rver on loopback (tests/s3/server.sh); restic and borg back up the
# mounted tree.  Then, for each tool: list the root directory (first run
# with an empty cache, then again with the cache the first left), and
# print one 1 MiB file.
#
# restic and borg use local directories (restic 0.14 cannot use s3rver
# here; borg has no S3), and zbak is measured on both.
# Requests: every S3 request goes through tests/s3/faultproxy.js (no
# faults), whose log has one line per request.  Bytes: what the tool read
# from its sockets (strace -f -y, every read/recvfrom/recvmsg on a TCP
# socket: bodies and HTTP headers); for borg, what it read from files of
# its repository.  Stored: the bytes the repository holds.
# Needs root, zfs-fuse, node, restic, borg, strace.  Settings:
# bench/common.sh.
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
tsize=${BENCH_FILES_SIZE:-$([ "${BENCH_QUICK:-0}" = 1 ] && echo 128M || echo 1G)}

for t in restic borg strace node; do
	command -v $t >/dev/null || { echo "bench/files.sh needs $t" >&2; exit 1; }
done
if ! why=$("$here/../tests/zfs/fuse.sh" check); then
	echo "bench/files.sh: no zfs-fuse here: $why" >&2
	exit 1
fi

unset ZBAK_REPO ZBAK_CONFIG AWS_PROFILE AWS_SESSION_TOKEN
export ZBAK_PASSPHRASE=x ZBAK_KDF_INSECURE_FAST=1
export RESTIC_PASSWORD=x BORG_PASSPHRASE=x BORG_BASE_DIR=$dir/borg-home

zst=$dir/zfs-fuse s3st=$dir/s3rver
mkdir -p "$zst" "$s3st"
prev_exit=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT\$/\1/")
cleanup() {
	[ -n "${proxy:-}" ] && kill "$proxy" 2>/dev/null
	"$here/../tests/s3/server.sh" stop "$s3st" >/dev/null 2>&1
	"$here/../tests/zfs/fuse.sh" stop "$zst" >/dev/null 2>&1
}
trap 'cleanup; eval "$prev_exit"' EXIT

"$here/../tests/zfs/fuse.sh" start "$zst" >/dev/null
export PATH=$("$here/../tests/zfs/fuse.sh" bin):$PATH
pool=$(ZBAK_FUSE_POOL_SIZE=$(( $(numfmt --from=iec "$tsize") * 2 + (512 << 20) )) \
	"$here/../tests/zfs/fuse.sh" pool "$zst")
zfs create "$pool/src"
src=$zst/mnt/$pool/src

# the tree: 4,000 small files in 40 directories, then 1 MiB files until
# the size is reached
echo "making a $tsize tree in zfs-fuse ..." >&2
total=$(numfmt --from=iec "$tsize")
perl -e '
	use strict; my ($root, $total) = @ARGV; my $n = 0; my $sum = 0;
	open(my $r, "<:raw", "/dev/urandom") or die;
	sub put { my ($p, $len) = @_; my $b; read($r, $b, $len) == $len or die;
		open(my $f, ">:raw", $p) or die "$p: $!"; print $f $b; close $f or die;
		$sum += $len; $n++ }
	for my $d (0 .. 39) {
		mkdir "$root/d$d" or die;
		put("$root/d$d/f$_", 4096 + int(rand(57344))) for 0 .. 99;
	}
	mkdir "$root/big" or die;
	my $i = 0;
	put(sprintf("$root/big/f%04d", $i++), 1 << 20) while $sum < $total || $i < 8;
	print STDERR "  $n files, $sum bytes\n";' "$src" "$total"
zfs snapshot "$pool/src@b"
zfs send "$pool/src@b" >"$dir/tree.zstream"
one=/big/f0007
sum1=$(sha256sum <"$src$one" | cut -d' ' -f1)

echo "starting s3rver and a counting proxy ..." >&2
"$here/../tests/s3/server.sh" start "$s3st" >/dev/null
# shellcheck source=/dev/null
. "$s3st/env"
upstream=$AWS_ENDPOINT_URL
node "$here/../tests/s3/faultproxy.js" --target "$upstream" --log "$dir/proxy.log" \
	>"$dir/proxy.out" 2>"$dir/proxy.err" </dev/null &
proxy=$!
for _ in $(seq 100); do
	port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$dir/proxy.out")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "bench: the proxy did not start" >&2; exit 1; }
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
bucket=$ZBAK_TEST_BUCKET
# restic 0.14 cannot use s3rver here (4.0.4 refuses its SigV4 signatures,
# 3.7.1 answers what it cannot parse): restic, like borg, gets a local
# directory, and zbak is measured on both
zr=s3://$bucket/zbak zd=$dir/zbak-repo rr=$dir/restic-repo br=$dir/borg-repo

echo "zbak push, restic backup, borg create ..." >&2
"$ZBAK" -q -r "$zr" init
"$ZBAK" -q -r "$zr" push --name "$pool/src@b" "$dir/tree.zstream"
"$ZBAK" -q -r "$zd" init
"$ZBAK" -q -r "$zd" push --name "$pool/src@b" "$dir/tree.zstream"
restic -q -r "$rr" init >/dev/null
(cd "$src" && restic -q -r "$rr" --cache-dir "$dir/restic-cache0" backup . >/dev/null)
borg init -e repokey "$br" >/dev/null 2>&1
(cd "$src" && borg create -C lz4 "$br::b" . >/dev/null 2>&1)
stored() { # REPO: what zbak says it stores
	"$ZBAK" -r "$1" stats --json | sed -n 's/.*"stored_bytes":\([0-9]*\).*/\1/p'
}
zstored=$(stored "$zr")
zdstored=$(stored "$zd")
rstored=$(du -sb "$rr" | cut -f1)
bstored=$(du -sb "$br" | cut -f1)

rows=() # label|wall s|requests|bytes|% of stored
# measure LABEL STORED WHAT CMD...: run CMD under strace; bytes read from
# TCP sockets (WHAT=net) or from files under directory WHAT
measure() {
	local label=$1 st=$2 what=$3 n0 n1 t0 t1 bytes
	shift 3
	n0=$(wc -l <"$dir/proxy.log")
	t0=$(date +%s.%N)
	strace -f -yy -qq --seccomp-bpf -e trace=read,pread64,recvfrom,recvmsg -o "$dir/strace.out" \
		"$@" >"$dir/out" 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
	t1=$(date +%s.%N)
	n1=$(wc -l <"$dir/proxy.log")
	if [ "$what" = net ]; then
		bytes=$({ grep -E '<TCP(v6)?:' "$dir/strace.out" || true; } |
			sed -n 's/.*= \([0-9][0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	else
		bytes=$({ grep -F "<$what/" "$dir/strace.out" || true; } |
			sed -n 's/.*= \([0-9][0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	fi
	rows+=("$label|$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')|$([ "$what" = net ] && echo $((n1 - n0)) || echo -)|$bytes|$(awk -v b="$bytes" -v s="$st" 'BEGIN { printf "%.3f", 100 * b / s }')")
}
check_one() { # the file printed is the original
	[ "$(sha256sum <"$dir/out" | cut -d' ' -f1)" = "$sum1" ] ||
		{ echo "bench: WRONG OUTPUT of $1" >&2; exit 1; }
}

echo "measuring ..." >&2
export ZBAK_CACHE_DIR=$dir/zbak-cache
rm -rf "$ZBAK_CACHE_DIR"
measure "zbak files ls / (first: map built)" "$zstored" net "$ZBAK" -r "$zr" files ls --stats "$pool/src@b" /
zfirst=$(cat "$dir/err")
measure "zbak files ls / (later: map cached)" "$zstored" net "$ZBAK" -r "$zr" files ls --stats "$pool/src@b" /
measure "zbak files cat $one (1 MiB)" "$zstored" net "$ZBAK" -r "$zr" files cat --stats "$pool/src@b" "$one"
check_one "zbak files cat"
zcat=$(cat "$dir/err")
rm -rf "$ZBAK_CACHE_DIR"
measure "zbak files ls / (local dir; first)" "$zdstored" "$zd" "$ZBAK" -r "$zd" files ls "$pool/src@b" /
measure "zbak files ls / (local dir; later)" "$zdstored" "$zd" "$ZBAK" -r "$zd" files ls "$pool/src@b" /
measure "zbak files cat $one (local dir)" "$zdstored" "$zd" "$ZBAK" -r "$zd" files cat "$pool/src@b" "$one"
check_one "zbak files cat (local)"
rm -rf "$dir/restic-cache"
measure "restic ls latest / (local dir; first: empty cache)" "$rstored" "$rr" restic -r "$rr" --cache-dir "$dir/restic-cache" ls latest /
measure "restic ls latest / (local dir; later: cache)" "$rstored" "$rr" restic -r "$rr" --cache-dir "$dir/restic-cache" ls latest /
measure "restic dump latest $one (local dir)" "$rstored" "$rr" restic -r "$rr" --cache-dir "$dir/restic-cache" dump latest "$one"
check_one "restic dump"
rm -rf "$BORG_BASE_DIR/.cache"
measure "borg list ::b (local dir; first: empty cache)" "$bstored" "$br" borg list "$br::b"
measure "borg list ::b (local dir; later)" "$bstored" "$br" borg list "$br::b"
measure "borg extract --stdout ::b ${one#/} (local dir)" "$bstored" "$br" borg extract --stdout "$br::b" "${one#/}"
check_one "borg extract"

echo
echo "### One file out of a $tsize backup of $(find "$src" -type f | wc -l) files"
echo
echo "stream $(stat -c %s "$dir/tree.zstream") bytes; stored: zbak $zstored (S3), $zdstored (local), restic $rstored, borg $bstored bytes"
echo
echo "| command | wall s | S3 requests | bytes read (S3: from sockets; local: from repository files) | % of stored |"
echo "|---|---:|---:|---:|---:|"
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d e <<<"$r"
	echo "| $a | $b | $c | $d | $e |"
done
echo
echo "zbak's own counters (store reads; bytes of object bodies):"
echo "  first ls: ${zfirst##*stats: }"
echo "  cat:      ${zcat##*stats: }"
