#!/bin/bash
# zbak files on what zfs-fuse 0.7 sends from compressed datasets and as
# deduplicated streams (tests/zfs/fuse.sh; the file reports itself
# skipped with the reason where it cannot run).
#
# Datasets with compression=gzip-9, lzjb and zle hold compressible text,
# zeros, random bytes and the same file several times.  zfs-fuse has no
# `zfs send -c`: it sends blocks decompressed, so these check that nothing
# breaks on such datasets.  Then `zbak debug recompress ALG` rewrites
# those real streams (plain and -D) as `zfs send -c` of a pool compressed
# with ALG would send them, for lzjb, gzip-1, gzip-9, zle, lz4 and zstd:
# every file system block (data, directories, the master node) compressed
# where that saves an eighth; the local pool keeps them compressed and
# `zbak files` decodes them (unit tests: test_zcodec, test_gen).
#
# `zfs send -D` of each (WRITE_BYREF records for the copies) is received
# into the local pool, whose receiver resolves the references, and pushed
# to a repository; `zbak files` reads every file back exactly (sha256
# against the mounted original), from the pool and from the repository.
. "$(dirname "$0")/../lib.sh"
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

unset ZBAK_REPO ZBAK_CONFIG ZBAK_NOW ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
export ZBAK_POOL_DIR=$TMP/lpool
export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
R=$TMP/repo
zf() { "$ZBAK" files "$@"; }
m() { zfs get -H -o value mountpoint "$1"; }
RESTREAM="perl $(cd "$(dirname "$0")/../lib" && pwd)/restream.pl"
sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }
ALGS="gzip-9 lzjb zle"

test_expect_success 'setup: compressed datasets with duplicate files, sent plain and -D' '
	"$ZBAK" pool create t &&
	"$ZBAK" -r "$R" init >/dev/null &&
	head -c 393216 /dev/urandom >"$TMP/noise" &&
	for c in $ALGS; do
		ds_create $P/$c && zfs set compression=$c $P/$c &&
		d=$(zfs get -H -o value mountpoint $P/$c) &&
		seq 1 40000 >"$d/text" &&
		head -c 300000 /dev/zero >"$d/zeros" &&
		{ head -c 70000 /dev/zero; seq 1 5000; head -c 70000 /dev/zero; } >"$d/mixed" &&
		cp "$TMP/noise" "$d/noise" && cp "$TMP/noise" "$d/noise-copy" &&
		mkdir "$d/sub" && cp "$d/text" "$d/sub/text-copy" &&
		cp "$TMP/noise" "$d/sub/noise-again" &&
		sums "$d" >"$TMP/$c.sums" && test "$(wc -l <"$TMP/$c.sums")" = 7 &&
		zfs snapshot $P/$c@s &&
		test "$(zfs get -H -o value compressratio $P/$c)" != 1.00x &&
		zfs send $P/$c@s >"$TMP/$c.plain" &&
		zfs send -D $P/$c@s >"$TMP/$c.dedup" || return 1
	done
'

test_expect_success 'the -D streams hold WRITE_BYREF records for the copies' '
	for c in $ALGS; do
		"$ZBAK" inspect --json "$TMP/$c.dedup" >insp.json &&
		grep -q "\"WRITE_BYREF\":[1-9]" insp.json || return 1
	done
'

test_expect_success 'plain and -D streams of each, received into the local pool, read exactly' '
	for c in $ALGS; do
		"$ZBAK" pool recv t/$c-plain <"$TMP/$c.plain" &&
		"$ZBAK" pool recv t/$c-dedup <"$TMP/$c.dedup" &&
		for k in plain dedup; do
			rm -rf out && zf extract --pool -t out t/$c-$k@s 2>/dev/null &&
			sums out | diff "$TMP/$c.sums" - || return 1
			while read -r sum path; do
				got=$(zf cat --pool t/$c-$k@s "${path#.}" | sha256sum | cut -d" " -f1) &&
				test "$got" = "$sum" || { echo "$c $k $path"; return 1; }
			done <"$TMP/$c.sums"
		done
	done
'

test_expect_success 'the streams recompressed with each algorithm (send -c), read exactly' '
	for a in lzjb gzip-1 gzip-9 zle lz4 zstd; do
		for k in plain dedup; do
			"$ZBAK" debug recompress $a "$TMP/gzip-9.$k" >c.zs 2>msg &&
			grep -q "blocks compressed with $a" msg &&
			! grep -q " 0 blocks compressed" msg &&
			{ test $k = dedup || "$ZBAK" inspect --validate c.zs >/dev/null; } &&
			"$ZBAK" inspect -v c.zs >dump &&
			num=$(case $a in lzjb) echo 3;; gzip-1) echo 5;; gzip-9) echo 13;;
				zle) echo 14;; lz4) echo 15;; zstd) echo 16;; esac) &&
			grep -q "^WRITE .* compression type = $num .*compressed_size = [1-9]" dump &&
			"$ZBAK" pool recv t/c-$a-$k <c.zs &&
			rm -rf out && zf extract --pool -t out t/c-$a-$k@s 2>/dev/null &&
			sums out | diff "$TMP/gzip-9.sums" - &&
			zf cat --pool t/c-$a-$k@s /mixed | cmp - "$(m $P/gzip-9)/mixed" ||
			{ echo "$a $k"; return 1; }
		done
	done
'

# damage: 40 bytes of every gzip-9 payload garbled (checksums fixed
# after), then read: an error naming the codec and the block
cat >"$TMP/garble.pl" <<'EOF_PL'
open(my $f, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!";
binmode STDOUT;
local $/;
my $s = <$f>;
my ($p, $n) = (0, 0);
while ($p < length $s) {
	my ($t, $pl) = unpack("VV", substr($s, $p, 8));
	my $len = 0;
	if ($t == 0) { $len = $pl }
	elsif ($t == 1) { $len = unpack("V", substr($s, $p + 36, 4)) ||
		((unpack("V", substr($s, $p + 28, 4)) + 7) & ~7) }
	elsif ($t == 3) {
		my $ct = ord(substr($s, $p + 50, 1));
		$len = unpack("Q<", substr($s, $p + ($ct ? 96 : 32), 8));
		if ($ct == 13 && $len >= 64) {
			substr($s, $p + 312 + 8, 40) = "\xff" x 40;
			$n++;
		}
	}
	elsif ($t == 7) { $len = unpack("Q<", substr($s, $p + 40, 8)) ||
		unpack("Q<", substr($s, $p + 16, 8)) }
	elsif ($t == 8) { $len = (unpack("V", substr($s, $p + 52, 4)) + 7) & ~7 }
	$p += 312 + $len;
}
die "no gzip-9 payload\n" unless $n;
print $s;
EOF_PL
test_expect_success 'a garbled compressed block is an error naming gzip-9, exit 3' '
	"$ZBAK" debug recompress gzip-9 "$TMP/lzjb.plain" >g.zs 2>/dev/null &&
	perl "$TMP/garble.pl" g.zs >g.raw &&
	$RESTREAM edit g.raw gbad.zs &&
	"$ZBAK" pool recv t/garbled <gbad.zs &&
	zf extract --pool -t gout t/garbled@s 2>err; test $? = 3 &&
	grep -q "gzip-9 block" err && grep -q "block at [0-9]" err
'

test_expect_success 'a -D stream pushed to a repository is read from there' '
	"$ZBAK" -r "$R" push --name $P/gzip-9@s "$TMP/gzip-9.dedup" >/dev/null &&
	"$ZBAK" -r "$R" -q files extract -t rout $P/gzip-9@s &&
	sums rout | diff "$TMP/gzip-9.sums" - &&
	"$ZBAK" -r "$R" -q files cat $P/gzip-9@s /sub/noise-again | cmp - "$TMP/noise"
'

test_expect_success 'a recompressed (zstd) stream pushed to a repository is read from there' '
	"$ZBAK" debug recompress zstd "$TMP/lzjb.plain" >z.zs 2>/dev/null &&
	"$ZBAK" -r "$R" push --name $P/lzjb@s z.zs >/dev/null &&
	"$ZBAK" -r "$R" -q files extract -t zout $P/lzjb@s &&
	sums zout | diff "$TMP/lzjb.sums" -
'

test_done
