#!/bin/bash
# The repository, the happy path: push then restore (to standard output and
# with -o) gives back every byte of the stream, for the real OpenZFS streams
# (when ../shared/streams is there) and for generated ones: full and
# incremental chains, compressible or not, both byte orders, compound
# packages, the 2008 format, small blocks and blocks of 1 and 16 MiB.  Then
# ls (text and --json) and verify (plain, --read-data, --read-data=50) on the
# healthy repository.  The repository is a directory, or an S3 prefix under
# ZBAK_TEST_BACKEND=s3 (tests/lib.sh).
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE
repo_new; R=$REPO
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen "$@"; }

# perl field.pl LS.JSON NAME FIELD: one field of one snapshot of ls --json
cat >"$TMP/field.pl" <<'EOF'
use strict; use JSON::PP;
open(my $f, '<', $ARGV[0]) or die "$ARGV[0]: $!";
my $j = decode_json(do { local $/; <$f> });
for (@$j) { if ($_->{name} eq $ARGV[1]) { print $_->{$ARGV[2]} // 'null', "\n"; exit 0 } }
die "no $ARGV[1] in ls --json\n";
EOF
# perl lsjson.pl LS.JSON EXPECTED: every expected "name size" listed, with
# its stream size, and the parents and guids of the chains right
cat >"$TMP/lsjson.pl" <<'EOF'
use strict; use JSON::PP;
open(my $f, '<', $ARGV[0]) or die; my $j = decode_json(do { local $/; <$f> });
my %e; open(my $x, '<', $ARGV[1]) or die;
while (<$x>) { my ($n, $s) = split; $e{$n} = $s; }
my %got = map { $_->{name} => $_ } @$j;
die "ls --json lists " . scalar(@$j) . " snapshots, expected " . scalar(keys %e) . "\n"
	unless @$j == keys %e;
for my $n (sort keys %e) {
	my $s = $got{$n} or die "ls --json does not list $n\n";
	die "$n: stream_bytes $s->{stream_bytes}, expected $e{$n}\n"
		unless $s->{stream_bytes} == $e{$n};
	die "$n: dataset $s->{dataset} snapshot $s->{snapshot}\n"
		unless "$s->{dataset}\@$s->{snapshot}" eq $n;
	die "$n: stored_bytes $s->{stored_bytes}\n" unless $s->{stored_bytes} > 0;
	die "$n: digest\n" unless $s->{digest} =~ /^[0-9a-f]{64}$/;
}
my %par = ('g/chain@v1' => undef, 'g/chain@v2' => 'g/chain@v1',
	   'g/chain@v3' => 'g/chain@v2', 'g/be@v2' => 'g/be@v1',
	   'g/old@v2' => 'g/old@v1', 'g/cpd@v2' => 'g/cpd@v1',
	   'g/chainfull@v3' => undef, 'g/plain@v1' => undef);
for my $n (sort keys %par) {
	my $p = $got{$n}{parent};
	die "$n: parent " . ($p // 'null') . ", expected " . ($par{$n} // 'null') . "\n"
		unless ($p // '-') eq ($par{$n} // '-');
}
for my $n ('g/chain@v2', 'g/chain@v3', 'g/be@v2', 'g/old@v2') {
	die "$n: fromguid is not its parent's toguid\n"
		unless $got{$n}{fromguid} eq $got{$par{$n}}{toguid};
}
die "a full has a fromguid\n" unless $got{'g/chain@v1'}{fromguid} =~ /^0+$/;
die "g/chainfull\@v3 and g/chain\@v3: same toguid expected\n"
	unless $got{'g/chainfull@v3'}{toguid} eq $got{'g/chain@v3'}{toguid};
die "compound flag\n" unless $got{'g/cpd@v1'}{compound} && !$got{'g/plain@v1'}{compound};
EOF

# push FILE NAME, then restore NAME both ways and compare with FILE
roundtrip() {
	local f=$1 name=$2 base
	base=$TMP/rt.$$
	z push --name "$name" "$f" >"$base.push" || { cat "$base.push"; return 1; }
	grep -q "^stored $name: " "$base.push" || { cat "$base.push"; return 1; }
	z restore "$name" >"$base.stdout" 2>"$base.err" || { cat "$base.err"; return 1; }
	cmp "$f" "$base.stdout" || return 1
	z restore -o "$base.o" "$name" >/dev/null || return 1
	cmp "$f" "$base.o" || return 1
	# nothing left beside the output
	[ -z "$(ls -A "$TMP" | grep "^\.rt\.$$\.o\.zbak-")" ] || { echo "temporary file left"; return 1; }
	rm -f "$base".*
}

test_expect_success 'init a repository' '
	z init >out &&
	grep -q "created repository" out &&
	repo_has "$R" config && repo_has "$R" keys &&
	repo_get "$R" config | head -1 | grep -qx "zbak-repository 2"
'

test_expect_success 'ls and verify on the empty repository' '
	{ z ls >out 2>err && test ! -s out && grep -q "^no snapshots in " err &&
	  z ls --json >out 2>err && test "$(cat out)" = "[]" && test ! -s err &&
	  z verify >out 2>err && grep -q "^0 snapshots, .* 0 problems" out &&
	  test ! -s err &&
	  z verify --read-data >out 2>err && grep -q " 0 problems" out &&
	  test ! -s err; } || { cat out err; exit 1; }
'

# --- the real streams -------------------------------------------------------
if [ -n "$SHARED_STREAMS" ] && [ -d "$SHARED_STREAMS/zsend" ]; then
	for f in "$SHARED_STREAMS"/zsend/*; do
		b=$(basename "$f")
		test_expect_success "round trip of the real stream $b" '
			f='"'$f'"' b='"'$b'"'
			case "$f" in
			*.zst) zstd -q -d -c "$f" >"$TMP/shared.raw" || exit 1
			       f=$TMP/shared.raw ;;
			esac
			roundtrip "$f" "shared/${b%%.*}@s1" &&
			echo "shared/${b%%.*}@s1 $(stat -c %s "$f")" >>"$TMP/expected"
		'
	done
else
	test_skip 'round trips of the real OpenZFS streams' \
		'no $ZBAK_SHARED_STREAMS/zsend folder'
fi

# --- generated streams ------------------------------------------------------
# label | gen options | snapshot name to store it under
while IFS='|' read -r label opts name; do
	[ -n "$label" ] || continue
	test_expect_success "round trip of a generated stream: $label" '
		gen '"$opts"' -o "$TMP/g" &&
		"$ZBAK" inspect "$TMP/g" >/dev/null &&
		roundtrip "$TMP/g" '"$name"' &&
		echo '"$name"' $(stat -c %s "$TMP/g") >>"$TMP/expected"
	'
done <<'EOF'
full, 128K blocks, incompressible|--name g/plain --objects 2 --compressible 0|g/plain@v1
full, all blocks compressible|--name g/text --objects 2 --compressible 1|g/text@v1
full, 4K blocks, half compressible|--name g/small --objects 8 --blocksize 4K --compressible 0.5|g/small@v1
full, 512-byte blocks|--name g/tiny --objects 4 --blocksize 512|g/tiny@v1
chain: full v1|--name g/chain --objects 2 --blocksize 16K --compressible 0.5|g/chain@v1
chain: incremental v1 to v2|--name g/chain --objects 2 --blocksize 16K --compressible 0.5 --version 2 --from 1|g/chain@v2
chain: incremental v2 to v3|--name g/chain --objects 2 --blocksize 16K --compressible 0.5 --version 3 --from 2 --change 0.3|g/chain@v3
chain: full v3 (beside the incrementals)|--name g/chain --objects 2 --blocksize 16K --compressible 0.5 --version 3|g/chainfull@v3
big-endian full|--name g/be --objects 2 --blocksize 32K --byteswap|g/be@v1
big-endian incremental|--name g/be --objects 2 --blocksize 32K --byteswap --version 2 --from 1 --change 0.2|g/be@v2
compound (zfs send -R) full|--name g/cpd --objects 2 --blocksize 16K --compound|g/cpd@v1
compound incremental|--name g/cpd --objects 2 --blocksize 16K --compound --version 2 --from 1 --change 0.2|g/cpd@v2
2008 format full|--name g/old --objects 2 --blocksize 64K --legacy|g/old@v1
2008 format incremental|--name g/old --objects 2 --blocksize 64K --legacy --version 2 --from 1 --change 0.2|g/old@v2
2008 format big-endian|--name g/oldbe --objects 2 --blocksize 8K --legacy --byteswap|g/oldbe@v1
1 MiB blocks|--name g/large --objects 2 --size 6M --blocksize 1M --compressible 0.5|g/large@v1
16 MiB blocks (the largest)|--name g/huge --objects 1 --size 32M --blocksize 16M|g/huge@v1
EOF

test_expect_success 'a stream without --name is stored under its BEGIN toname' '
	gen --name g/auto --objects 1 --blocksize 8K -o "$TMP/auto" &&
	z push "$TMP/auto" >out && grep -q "^stored g/auto@v1: " out &&
	z restore g/auto@v1 | cmp - "$TMP/auto" &&
	echo "g/auto@v1 $(stat -c %s "$TMP/auto")" >>"$TMP/expected"
'

test_expect_success 'a stream read from standard input round-trips too' '
	gen --name g/pipe --objects 2 --blocksize 64K --compressible 0.3 -o "$TMP/p" &&
	gen --name g/pipe --objects 2 --blocksize 64K --compressible 0.3 |
		z push >out && grep -q "^stored g/pipe@v1: " out &&
	z restore g/pipe@v1 | cmp - "$TMP/p" &&
	echo "g/pipe@v1 $(stat -c %s "$TMP/p")" >>"$TMP/expected"
'

test_expect_success 'restore with one thread and with four gives the same bytes' '
	gen --name g/plain --objects 2 --compressible 0 -o "$TMP/g" &&
	z restore --threads 1 g/plain@v1 | cmp - "$TMP/g" &&
	z restore --threads 4 g/plain@v1 | cmp - "$TMP/g"
'

test_expect_success 'compressible data is stored compressed, random data is not inflated' '
	text=$(gen --name g/text --objects 2 --compressible 1 | wc -c) &&
	plain=$(gen --name g/plain --objects 2 --compressible 0 | wc -c) &&
	z ls --json >ls.json &&
	st=$(perl "$TMP/field.pl" ls.json g/text@v1 stored_bytes) &&
	sp=$(perl "$TMP/field.pl" ls.json g/plain@v1 stored_bytes) &&
	echo "# stored: all-text stream $st of $text bytes, random $sp of $plain" >&3 &&
	[ $((st * 10)) -lt $((text * 7)) ] &&
	[ $((sp * 100)) -lt $((plain * 102)) ] && [ $((sp * 10)) -gt $((plain * 9)) ]
' 3>&1

test_expect_success 'restore -o onto an existing file needs --force' '
	gen --name g/plain --objects 2 --compressible 0 -o "$TMP/g" &&
	echo precious >"$TMP/exists" &&
	expect_fail z restore -o "$TMP/exists" g/plain@v1 &&
	grep -q "exists" "$TMP/err" && grep -q -- "--force" "$TMP/err" &&
	echo precious | cmp - "$TMP/exists" &&
	z restore --force -o "$TMP/exists" g/plain@v1 >/dev/null &&
	cmp "$TMP/g" "$TMP/exists" &&
	test -z "$(ls -A "$TMP" | grep zbak-)"
'

test_expect_success 'ls lists every snapshot by dataset, with the parent of incrementals' '
	z ls >ls.txt &&
	while read -r name size; do
		ds=${name%@*} snap=${name#*@}
		grep -qx "$ds" ls.txt || { echo "no dataset line $ds"; exit 1; }
		awk -v ds="$ds" -v s="$snap" "
			/^[^ ]/ { cur = \$0 }
			cur == ds && \$1 == s { found = 1 }
			END { exit !found }" ls.txt || { echo "no $name"; exit 1; }
	done <"$TMP/expected" &&
	# the PARENT column: "-" for a full, the parent snapshot (v1, @v1 or
	# g/chain@v1) for an incremental
	awk "/^g\/chain\$/ { c = 1; next } /^[^ ]/ { c = 0 }
	     c && \$1 == \"v1\" && \$2 == \"-\" { a++ }
	     c && \$1 == \"v2\" && \$2 ~ /^(g\/chain)?@?v1\$/ { a++ }
	     c && \$1 == \"v3\" && \$2 ~ /^(g\/chain)?@?v2\$/ { a++ }
	     END { exit a != 3 }" ls.txt || { echo "parents in ls:"; cat ls.txt; exit 1; }
'

test_expect_success 'ls --json: names, datasets, parents, stream sizes' '
	z ls --json >ls.json &&
	perl "$TMP/lsjson.pl" ls.json "$TMP/expected"
'

test_expect_success 'verify passes on the healthy repository' '
	z verify >out &&
	grep -q " 0 problems" out &&
	n=$(wc -l <"$TMP/expected") &&
	grep -q "^$n snapshots," out &&
	grep -q " 0 packs (0 chunks) read" out
'

test_expect_success 'verify --read-data reads and authenticates every pack' '
	z verify --read-data >out &&
	grep -q " 0 problems" out &&
	packs=$(repo_count "$R" data/) &&
	grep -q " $packs packs, [0-9]* chunks checked; $packs packs ([1-9][0-9]* chunks) read" out
'

test_expect_success 'verify --read-data=50 reads about half the packs' '
	z verify --read-data=50 >out &&
	grep -q " 0 problems" out &&
	packs=$(repo_count "$R" data/) &&
	read_=$(sed -n "s/.*checked; \([0-9]*\) packs (.*/\1/p" out) &&
	echo "# read $read_ of $packs packs" >&3 &&
	[ "$read_" -ge 1 ] && [ "$read_" -lt "$packs" ]
' 3>&1

if is_s3; then
	# an S3 put is atomic: no temporary objects.  What could be left is an
	# incomplete multipart upload, which neither zbak nor s3rver can list.
	test_expect_success 'the repository holds nothing outside its layout after all this' '
		repo_keys "$R" >keys &&
		! grep -v -E " (config|keys|data/[0-9a-f]{2}/[0-9a-f]{64}|index/[0-9a-f]{64}|recipes/[0-9a-f]{64}|snapshots/[^.][^ ]*)\$" keys
	'
else
	test_expect_success 'the repository holds no temporary files after all this' '
		test -z "$(find "$R" -type f -name ".*")"
	'
fi

test_done
