#!/bin/bash
# zbak pool recv refuses what dmu_recv refuses (target rules, truncation,
# checksums, record rules, dedup, trailing data) and every refusal leaves the
# pool exactly as it was.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
zp() { "$ZBAK" pool "$@"; }
rnd() { head -c "$1" /dev/urandom; }
RESTREAM="perl $(cd "$(dirname "$0")/../lib" && pwd)/restream.pl"

# save: copy the pool aside; unchanged: the pool still equals that copy
# (every name, guid and txg, and the data of every dataset and snapshot)
LIST="-H -p -o name,guid,createtxg,referenced,objects,origin -t all -r"
save() { rm -rf "$TMP/before" && cp -a "$ZBAK_POOL_DIR" "$TMP/before"; }
unchanged() {
	local n
	zp list $LIST >"$TMP/l.now" &&
	ZBAK_POOL_DIR=$TMP/before zp list $LIST >"$TMP/l.before" || return 1
	if ! cmp -s "$TMP/l.before" "$TMP/l.now"; then
		echo "the pool's listing changed:"
		diff "$TMP/l.before" "$TMP/l.now"
		return 1
	fi
	for n in $(cut -f1 "$TMP/l.now"); do
		zp diff -d "$TMP/before" "$n" "$n" >"$TMP/d.out" 2>&1 && continue
		echo "$n changed:"
		head "$TMP/d.out"
		return 1
	done
}
# refused RC TARGET [recv options] < STREAM: the receive exits RC (a
# message on stderr, no crash) and the pool is unchanged
refused() {
	local want=$1 rc
	shift
	save || return 1
	zp recv "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "expected exit $want, got $rc: zp recv $*"
		cat "$TMP/err"
		return 1
	fi
	if [ ! -s "$TMP/err" ] || grep -q -E 'Sanitizer|runtime error' "$TMP/err"; then
		echo "no message, or a sanitizer report:"
		cat "$TMP/err"
		return 1
	fi
	unchanged
}
# flip FILE OFFSET: flip the low bit of one byte
flip() {
	perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, $ARGV[1], 0);
		read($f, my $b, 1) == 1 or die "short"; seek($f, $ARGV[1], 0);
		print $f chr(ord($b) ^ 1)' "$1" "$2"
}
# nth_rec FILE TYPE N FIELD: field 3 (header offset), 4 (payload offset) or
# 5 (payload length) of the N-th record (0-based) of TYPE
nth_rec() { $RESTREAM list "$1" | awk -v t="$2" -v n="$3" -v f="$4" '$2 == t && k++ == n { print $f }'; }

G="--objects 4 --size 256K --blocksize 16K --name tank/fs --seed 5"
gen() { "$ZBAK" debug gen $G "$@"; }
gen >"$TMP/g1"
gen --from 1 --version 2 --change 0.3 >"$TMP/g2"
gen --from 2 --version 3 --change 0.3 >"$TMP/g3"
gen --seed 6 >"$TMP/other"

test_expect_success 'setup: tank/fs at v1' '
	zp create tank && zp recv tank/fs <g1 &&
	zp create tank/empty &&
	test "$(zp list -H -o name -t snapshot tank/fs)" = tank/fs@v1
'

# --- the target's rules -----------------------------------------------------

test_expect_success 'full stream into an existing dataset without -F' '
	refused 1 tank/fs <other &&
	grep -q -e -F "$TMP/err"
'

test_expect_success 'full stream with -F into a dataset with snapshots' '
	refused 1 -F tank/fs <other
'

test_expect_success 'full stream into an existing empty dataset without -F' '
	refused 1 tank/empty <other
'

test_expect_success 'full stream with -F into a dataset without snapshots' '
	rnd 1000 | zp write tank/empty 3 0 &&
	zp recv -F tank/empty <other &&
	test "$(zp list -H -o name -t snapshot tank/empty)" = tank/empty@v1 &&
	zp diff tank/empty@v1 tank/empty
'

test_expect_success 'incremental with a fromguid the target does not have' '
	refused 1 tank/fs <g3 &&
	refused 1 tank/empty <g3
'

test_expect_success 'incremental into a missing dataset' '
	refused 1 tank/none <g2
'

test_expect_success 'full stream under a missing parent' '
	refused 1 tank/no/such <g1
'

test_expect_success 'incremental over changes since the snapshot needs -F' '
	rnd 5000 | zp write tank/fs 2 100 &&
	! zp diff tank/fs@v1 tank/fs >/dev/null &&
	refused 1 tank/fs <g2
'

test_expect_success '-F rolls the changes back and receives' '
	zp recv -F tank/fs <g2 &&
	zp diff tank/fs@v2 tank/fs &&
	zp recv tank/ref <g1 && zp recv tank/ref <g2 &&
	zp diff tank/ref@v2 tank/fs@v2 &&
	zp destroy -r tank/ref
'

test_expect_success 'the same incremental twice: the snapshot exists' '
	refused 1 tank/fs <g2
'

test_expect_success 'incremental when a newer snapshot came after fromsnap' '
	zp snapshot tank/fs@extra &&
	refused 1 tank/fs <g3
'

test_expect_success 'the same with -F: the later snapshot goes, v3 comes' '
	zp recv -F tank/fs <g3 &&
	test "$(zp list -H -o name -t snapshot tank/fs | tr "\n" " ")" = "tank/fs@v1 tank/fs@v2 tank/fs@v3 " &&
	zp rollback -r tank/fs@v2 &&
	test "$(zp list -H -o name -t snapshot tank/fs | tr "\n" " ")" = "tank/fs@v1 tank/fs@v2 "
'

# --- stream damage: exit 3, nothing changes ---------------------------------

size=$(stat -c %s "$TMP/g3")
for cut in 0 1 100 311 312 400 $((size / 2)) $((size - 312)) $((size - 1)); do
	test_expect_success "incremental truncated to $cut bytes" '
		head -c $cut g3 >cut &&
		refused 3 tank/fs <cut
	'
done

test_expect_success 'full stream truncated before its END leaves no dataset' '
	head -c $(( $(stat -c %s g1) - 312 )) g1 >cut &&
	refused 3 tank/new <cut &&
	! zp list tank/new >/dev/null 2>&1
'

test_expect_success 'a flipped byte in a WRITE payload: END checksum mismatch' '
	cp g3 bad && flip bad $(( $(nth_rec g3 3 1 4) + 100 )) &&
	refused 3 tank/fs <bad &&
	grep -qi checksum "$TMP/err"
'

test_expect_success 'a flipped byte in a WRITE header: trailer mismatch' '
	cp g3 bad && flip bad $(( $(nth_rec g3 3 0 3) + 8 )) &&
	refused 3 tank/fs <bad &&
	grep -qi checksum "$TMP/err"
'

test_expect_success 'a flipped byte in the END checksum' '
	cp g3 bad && flip bad $(( $(nth_rec g3 5 0 3) + 8 )) &&
	refused 3 tank/fs <bad
'

test_expect_success 'a flipped byte in the last WRITE payload of a full stream' '
	n=$(( $($RESTREAM list g1 | awk "\$2 == 3" | wc -l) - 1 )) &&
	cp g1 bad && flip bad $(( $(nth_rec g1 3 $n 4) + 7 )) &&
	refused 3 tank/new <bad
'

test_expect_success 'the stream rewriter keeps a good stream good' '
	$RESTREAM edit g3 same && cmp g3 same
'

# rule NAME OPS...: a rewritten g3 (checksums recomputed) is refused with 3
rule() {
	local what=$1
	shift
	$RESTREAM edit g3 bad "$@" || return 1
	"$ZBAK" inspect bad >/dev/null || { echo "rewritten stream does not verify"; return 1; }
	refused 3 tank/fs <bad
}

test_expect_success 'rule: OBJECT blksz not a multiple of 512' '
	rule blksz set:1:0:24:V:1000 && grep -q -i "block size\|blksz" "$TMP/err"
'

test_expect_success 'rule: OBJECT blksz over 128K without LARGE_BLOCKS' '
	rule blksz set:1:0:24:V:262144
'

test_expect_success 'rule: OBJECT type 0' '
	rule type set:1:0:16:V:0
'

test_expect_success 'rule: OBJECT dn_slots 2 without LARGE_DNODE' '
	rule slots set:1:0:34:C:2
'

test_expect_success 'rule: OBJECT checksumtype 15' '
	rule cksum set:1:0:32:C:15
'

test_expect_success 'rule: WRITEs out of order' '
	rule order swap:3:0:1 && grep -q -i order "$TMP/err"
'

test_expect_success 'rule: object number 0 in a WRITE' '
	rule zero set:3:0:8:Q\<:0
'

test_expect_success 'rule: object number 2^48 in a FREE' '
	rule big set:4:0:8:Q\<:281474976710656
'

test_expect_success 'a WRITE to an object that does not exist' '
	n=$($RESTREAM list g3 | awk "\$2 == 3" | wc -l) &&
	rule missing set:3:$((n - 1)):8:Q\<:1000 &&
	n=$($RESTREAM list g1 | awk "\$2 == 3" | wc -l) &&
	$RESTREAM edit g1 bad set:3:$((n - 1)):8:Q\<:1000 &&
	refused 3 tank/new <bad
'

test_expect_success 'rule: unknown feature bit in BEGIN' '
	v=$(perl -e "read(STDIN, \$b, 24) == 24 or die; print unpack(q{Q<}, substr(\$b, 16))" <g3) &&
	rule feature set:0:0:16:Q\<:$((v | (1 << 40)))
'

test_expect_success 'rule: BEGIN toname without @' '
	rule toname set:0:0:56:a256:tank/fs
'

test_expect_success 'rule: a WRITE_BYREF record in a stream without DEDUP' '
	rule byref strip:3:0 set:3:0:0:V:6 && grep -q "without the DEDUP" "$TMP/err"
'

test_expect_success 'a resumed stream (RESUMING) is refused' '
	v=$(perl -e "read(STDIN, \$b, 24) == 24 or die; print unpack(q{Q<}, substr(\$b, 16))" <g1) &&
	$RESTREAM edit g1 bad set:0:0:16:Q\<:$((v | (1 << 22))) &&
	refused 1 tank/new <bad && grep -q -i resum "$TMP/err"
'

test_expect_success 'an incremental of the other byte order over this data' '
	gen --byteswap --from 1 --version 2 --change 0.3 >be2 &&
	zp create tank/le && zp recv -F tank/le <g1 &&
	refused 1 tank/le <be2
'

test_expect_success 'rule: OBJECT_RANGE in a stream that is not raw' '
	rule range set:4:0:0:V:9 set:4:0:8:Q\<:32 set:4:0:16:Q\<:32
'

test_expect_success 'rule: WRITE_EMBEDDED without EMBED_DATA' '
	rule embedded set:4:0:0:V:8
'

test_expect_success 'BEGIN with a bad magic' '
	$RESTREAM edit g3 bad set:0:0:8:Q\<:1234 &&
	refused 3 tank/fs <bad
'

test_expect_success 'not a stream at all' '
	rnd 10000 >junk && refused 3 tank/fs <junk &&
	refused 3 tank/new <junk
'

test_expect_success 'trailing garbage after the END' '
	{ cat g3; printf "garbage"; } >bad && refused 3 tank/fs <bad &&
	{ cat g3; head -c 312 /dev/zero; } >bad && refused 3 tank/fs <bad
'

test_expect_success 'a second stream after the first' '
	cat g3 g3 >bad && refused 3 tank/fs <bad
'

test_expect_success 'a compound package with garbage after its final END' '
	"$ZBAK" debug gen --compound --objects 2 --size 64K --name tank/pkg >pkg &&
	{ cat pkg; printf x; } >bad && refused 3 tank/pkg <bad &&
	head -c $(( $(stat -c %s pkg) - 312 )) pkg >bad && refused 3 tank/pkg <bad
'

# a package commits all its snapshots or none
P="--objects 3 --size 300K --name tank/pk2"
test_expect_success 'compound: damage in the second substream commits nothing' '
	"$ZBAK" debug gen $P --compound >p1 &&
	"$ZBAK" debug gen $P --compound --from 1 --version 2 --change 0.3 >p2 &&
	zp recv tank/pk2 <p1 &&
	cp p2 bad && flip bad $(( $(stat -c %s p2) - 2000 )) &&
	refused 3 tank/pk2 <bad &&
	head -c $(( $(stat -c %s p2) - 400 )) p2 >bad &&
	refused 3 tank/pk2 <bad
'

test_expect_success 'compound: a changed child refuses the package; -F takes it' '
	echo x | zp write tank/pk2/child 1 0 &&
	refused 1 tank/pk2 <p2 &&
	zp recv -F tank/pk2 <p2 &&
	zp diff tank/pk2/child@v2 tank/pk2/child &&
	zp diff tank/pk2@v2 tank/pk2
'

test_expect_success 'compound: an incremental package with its child gone' '
	"$ZBAK" debug gen $P --compound --from 2 --version 3 --change 0.3 >p3 &&
	zp destroy -r tank/pk2/child &&
	refused 1 tank/pk2 <p3
'

S=$SHARED_STREAMS
if [ -z "$S" ] || [ ! -d "$S/zsend" ]; then
	test_skip "dedup stream received" "../shared/streams is not present"
else
	# (its references are checked in t0345)
	test_expect_success 'a dedup stream is received, its references resolved' '
		zp recv tank/dd <"$S/zsend/dedup.zsend" &&
		zp list -H -o name -r tank/dd | grep -qx tank/dd/subfs
	'

	# blocks received compressed keep no logical bytes: no partial change
	test_expect_success 'partial write or free of a compressed block refused' '
		zp recv tank/comp <"$S/zsend/decompress.zsend" && save &&
		echo hi >hi && expect_fail zp write tank/comp 2 100 <hi &&
		test -s "$TMP/err" && unchanged &&
		expect_fail zp free tank/comp 2 100 10 &&
		test -s "$TMP/err" && unchanged
	'

	test_expect_success 'a whole compressed block can be freed' '
		zp free tank/comp 2 0 40448 && zp snapshot tank/comp@f &&
		zp send tank/comp@f | "$ZBAK" debug content >f.c &&
		grep -q " OBJECT object=2 " f.c &&
		! grep -q " WRITE object=2 " f.c
	'

	# a raw (encrypted) dataset holds ciphertext: plaintext written into
	# it would go out in raw streams with no OBJECT_RANGE, salt, iv or MAC
	test_expect_success 'no plaintext write into a raw encrypted dataset' '
		Z=$S/zsend &&
		zp create tank/r &&
		zp recv tank/r/source <$Z/little-endian-all-drr-types-base-NATIVE.zsend &&
		zp recv tank/r/redacted <$Z/little-endian-all-drr-types-incr-NATIVE.zsend &&
		save &&
		echo hello >hi &&
		expect_fail zp write tank/r/redacted/encrypted 500 0 <hi &&
		test -s "$TMP/err" && unchanged
	'

	test_expect_success 'destroying an origin with a dependent clone needs -R' '
		export ZBAK_POOL_DIR=$TMP/pool-clone &&
		Z=$S/zsend &&
		zp create tank && zp create tank/t &&
		zp recv tank/t/source <$Z/little-endian-all-drr-types-base-NATIVE.zsend &&
		zp recv tank/t/redacted <$Z/little-endian-all-drr-types-incr-NATIVE.zsend &&
		test "$(zp list -H -o origin tank/t/redacted)" = tank/t/source@baseline &&
		save &&
		expect_fail zp destroy tank/t/source@baseline &&
		grep -q clone "$TMP/err" && unchanged &&
		expect_fail zp destroy tank/t/source && unchanged &&
		expect_fail zp destroy -r tank/t/source && unchanged &&
		grep -q -- -R "$TMP/err" &&
		zp destroy -R tank/t/source &&
		test "$(zp list -H -o name -t all -r tank/t)" = tank/t
	'

	# two snapshots with the origin guid: libzfs (guid_to_name) looks
	# from the target upwards, so the clone gets the one beside it
	test_expect_success 'a clone stream takes the origin nearest the target' '
		export ZBAK_POOL_DIR=$TMP/pool-near &&
		Z=$S/zsend &&
		zp create tank &&
		for d in r t; do
			zp create tank/$d &&
			zp recv tank/$d/source <$Z/little-endian-all-drr-types-base-NATIVE.zsend &&
			zp recv tank/$d/redacted <$Z/little-endian-all-drr-types-incr-NATIVE.zsend ||
			exit 1
		done &&
		test "$(zp list -H -o origin tank/r/redacted)" = tank/r/source@baseline &&
		test "$(zp list -H -o origin tank/t/redacted)" = tank/t/source@baseline
	'
fi

# --- after all that, the pool works ----------------------------------------

test_expect_success 'the next good incremental is received' '
	zp recv tank/fs <g3 &&
	zp recv tank/ref <g1 && zp recv tank/ref <g2 &&
	zp recv tank/ref <g3 && zp diff tank/ref@v3 tank/fs@v3 &&
	zp send -i @v2 tank/fs@v3 | "$ZBAK" debug content >c2 &&
	"$ZBAK" debug content g3 >c1 && cmp c1 c2
'

test_done
