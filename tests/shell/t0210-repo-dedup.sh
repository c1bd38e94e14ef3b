#!/bin/bash
# Deduplication across snapshots: a full send of version 2 (1% of the blocks
# rewritten since version 1, the generator's default) adds at most 5% of its
# size to the repository; an incremental whose data is already there, an
# identical re-push and the same stream under another dataset add almost
# nothing.  Sizes are measured twice: the bytes of every object in the
# repository (a directory, or S3 under ZBAK_TEST_BACKEND=s3), and the "added"
# figure push prints.  Ratios are printed as TAP comments (the "du" figures
# are the object bytes).
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO
repo_new; R=$REPO
z() { "$ZBAK" -r "$R" "$@"; }
# 16 files, 16 MiB of data in 128 KiB blocks; from one version to the next
# the generator rewrites 1% of the blocks (and deletes or creates a file now
# and then: the incremental v1 -> v2 measures how much really changed)
gen() { "$ZBAK" debug gen --name tank/home --objects 16 --size 16M "$@"; }
dub() { repo_size "$R"; }
# "1.50 MiB" (push's human sizes) -> bytes
to_bytes() {
	awk -v n="$1" -v u="$2" 'BEGIN { m = -1
		if (u == "B") m = 1; if (u == "KiB") m = 1024
		if (u == "MiB") m = 1048576; if (u == "GiB") m = 1073741824
		if (m < 0) exit 1
		printf "%d\n", n * m }'
}
# push FILE [push options]: push, and write "du_added reported_added
# new_chunks chunks" to $TMP/added
measured_push() {
	local f=$1 before after line
	shift
	before=$(dub)
	z push "$@" "$f" >"$TMP/push.out" || { cat "$TMP/push.out"; return 1; }
	after=$(dub)
	line=$(cat "$TMP/push.out")
	echo "$line"
	set -- $(echo "$line" | sed -n 's/.* \([0-9]*\) chunks (\([0-9]*\) new), \([0-9.]*\) \([KMG]*i*B\) added.*/\1 \2 \3 \4/p')
	[ $# -eq 4 ] || { echo "cannot parse the push output"; return 1; }
	echo "$((after - before)) $(to_bytes "$3" "$4") $2 $1" >"$TMP/added"
}
# pct A B: A as a percentage of B, one decimal
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", 100 * a / b }'; }

test_expect_success 'setup: a repository, full sends of versions 1, 2, 3 and the incremental 1 -> 2' '
	z init >/dev/null &&
	gen -o "$TMP/v1" && gen --version 2 -o "$TMP/v2" &&
	gen --version 3 -o "$TMP/v3" &&
	gen --version 2 --from 1 -o "$TMP/i12" &&
	[ $(stat -c %s "$TMP/v1") -gt 16000000 ] &&
	! cmp -s "$TMP/v1" "$TMP/v2"
'

test_expect_success 'the first full push stores about its whole size' '
	measured_push "$TMP/v1" &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/v1") &&
	echo "# v1: $du bytes added (du), $rep reported, of a $size-byte stream; $new of $all chunks new" >&3 &&
	[ "$new" -eq "$all" ] && [ "$all" -gt 100 ] &&
	[ $((du * 100)) -gt $((size * 95)) ] && [ $((du * 100)) -lt $((size * 103)) ]
' 3>&1

test_expect_success 'a full send of version 2 (1% of blocks changed) adds at most 5% of its size, about what the incremental holds' '
	measured_push "$TMP/v2" &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/v2") &&
	inc=$(stat -c %s "$TMP/i12") &&
	echo "# v2 full: $du bytes added by du ($(pct $du $size)%), $rep reported ($(pct $rep $size)%), $new of $all chunks new; the incremental v1 -> v2 is $(pct $inc $size)%" >&3 &&
	[ "$new" -lt "$all" ] &&
	[ $((du * 100)) -le $((size * 5)) ] &&
	[ $((rep * 100)) -le $((size * 5)) ] &&
	[ "$du" -le $((inc + size / 100)) ]
' 3>&1

test_expect_success 'so does a full send of version 3' '
	measured_push "$TMP/v3" &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/v3") &&
	echo "# v3 full: $du bytes added by du ($(pct $du $size)%), $new of $all chunks new" >&3 &&
	[ $((du * 100)) -le $((size * 5)) ]
' 3>&1

test_expect_success 'an incremental v1 -> v2 after the full v2 finds all its data stored' '
	measured_push "$TMP/i12" --name tank/home@v2-incr &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/i12") &&
	echo "# incremental: $du bytes added of a $size-byte stream, $new of $all chunks new" >&3 &&
	[ "$all" -ge 1 ] && [ "$new" -eq 0 ] &&
	grep -q " 100.0% of the data already stored" "$TMP/push.out"
' 3>&1

test_expect_success 'an identical re-push adds almost nothing and changes no snapshot' '
	z ls --json >before.json &&
	measured_push "$TMP/v2" &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/v2") &&
	echo "# identical re-push: $du bytes added ($(pct $du $size)%)" >&3 &&
	grep -q "^already stored tank/home@v2:" "$TMP/push.out" &&
	[ "$new" -eq 0 ] &&
	[ $((du * 200)) -le "$size" ] &&
	z ls --json >after.json && cmp before.json after.json
' 3>&1

test_expect_success 'the same stream under another dataset name adds almost nothing' '
	measured_push "$TMP/v1" --name other/copy@v1 &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/v1") &&
	echo "# same data, other name: $du bytes added ($(pct $du $size)%)" >&3 &&
	[ "$new" -eq 0 ] && [ $((du * 200)) -le "$size" ]
' 3>&1

test_expect_success 'ls --json stored_bytes of each push matches what it reported' '
	z ls --json >ls.json &&
	perl -MJSON::PP -e '"'"'
		open(my $f, "<", $ARGV[0]) or die; my $j = decode_json(do { local $/; <$f> });
		my %s = map { $_->{name} => $_ } @$j;
		die "5 snapshots expected, got " . scalar(@$j) . "\n" unless @$j == 5;
		my ($a, $b) = ($s{"tank/home\@v1"}, $s{"tank/home\@v2"});
		die "v2 stored $b->{stored_bytes} not < 5% of $b->{stream_bytes}\n"
			unless $b->{stored_bytes} * 20 <= $b->{stream_bytes};
		die "v1 stored $a->{stored_bytes} of $a->{stream_bytes}\n"
			unless $a->{stored_bytes} * 100 > $a->{stream_bytes} * 95;
		die "chunk counts\n" unless $a->{chunks} == $b->{chunks};
	'"'"' ls.json
'

test_expect_success 'every version still restores byte for byte, and verify --read-data passes' '
	z restore tank/home@v1 | cmp - "$TMP/v1" &&
	z restore tank/home@v2 | cmp - "$TMP/v2" &&
	z restore tank/home@v3 | cmp - "$TMP/v3" &&
	z restore tank/home@v2-incr | cmp - "$TMP/i12" &&
	z restore other/copy@v1 | cmp - "$TMP/v1" &&
	z verify --read-data >out && grep -q " 0 problems" out
'

test_expect_success 'small blocks dedup too, less: a 4K-block full of version 2 reuses some chunks' '
	R=$(repo_url repo4k) &&
	z init >/dev/null &&
	"$ZBAK" debug gen --name t/small --objects 8 --size 4M --blocksize 4K --compressible 0.5 -o "$TMP/s1" &&
	"$ZBAK" debug gen --name t/small --objects 8 --size 4M --blocksize 4K --compressible 0.5 --version 2 -o "$TMP/s2" &&
	z push "$TMP/s1" >/dev/null &&
	measured_push "$TMP/s2" &&
	read du rep new all <"$TMP/added" &&
	size=$(stat -c %s "$TMP/s2") &&
	echo "# 4K blocks, v2 full: $du bytes added ($(pct $du $size)%), $new of $all chunks new" >&3 &&
	[ "$new" -lt "$all" ] && [ $((du * 100)) -le $((size * 75)) ] &&
	z restore t/small@v2 | cmp - "$TMP/s2"
' 3>&1

test_done
