#!/bin/bash
# receive(send(x)) reproduces x: datasets built with pool write/free over
# several snapshots, replicated to a second pool with a full stream and every
# incremental; and send(receive(s)) carries the same data as s, for the real
# streams of ../shared/streams and for streams of zbak debug gen.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
P2=$TMP/pool2
zp() { "$ZBAK" pool "$@"; }
zp2() { "$ZBAK" --pool-dir "$P2" pool "$@"; }
content() { "$ZBAK" debug content "$@"; }
rnd() { head -c "$1" /dev/urandom; }

# --- a dataset over six versions ------------------------------------------

SNAPS="v1 v2 v3 v4 v5 v6 v7"
test_expect_success 'build tank/fs over seven snapshots' '
	zp create tank &&
	zp create tank/fs &&
	# v1: every block size, a hole, a partial last block
	rnd 3000 | zp write -b 512 tank/fs 1 0 &&
	rnd 20000 | zp write -b 4096 tank/fs 2 0 &&
	rnd 300000 | zp write -b 131072 tank/fs 3 0 &&
	rnd 1500000 | zp write -b 1048576 tank/fs 4 0 &&
	rnd 4096 | zp write -b 4096 tank/fs 5 0 &&
	rnd 5000 | zp write -b 4096 tank/fs 5 40960 &&
	rnd 100 | zp write tank/fs 6 0 &&
	zp snapshot tank/fs@v1 &&
	# v2: overwrite inside blocks, append, delete an object, a new one
	rnd 777 | zp write tank/fs 2 1000 &&
	rnd 200000 | zp write tank/fs 3 300000 &&
	zp free tank/fs 1 &&
	rnd 70000 | zp write -b 8192 tank/fs 7 12345 &&
	zp snapshot tank/fs@v2 &&
	# v3: truncate, punch a hole, extend sparsely
	zp free tank/fs 3 100000 end &&
	zp free tank/fs 5 0 45000 &&
	rnd 10000 | zp write tank/fs 4 3145728 &&
	zp snapshot tank/fs@v3 &&
	# v4: delete an object, reuse a freed number with another block size
	zp free tank/fs 2 &&
	rnd 150000 | zp write -b 131072 tank/fs 1 0 &&
	rnd 65536 | zp write -b 512 tank/fs 8 0 &&
	zp snapshot tank/fs@v4 &&
	# v5: small changes, a high object number, a range freed then rewritten
	rnd 10 | zp write tank/fs 8 30000 &&
	zp free tank/fs 7 20000 30000 &&
	rnd 100 | zp write tank/fs 7 25000 &&
	rnd 1000 | zp write -b 1024 tank/fs 100000 0 &&
	zp free tank/fs 4 0 1048576 &&
	zp snapshot tank/fs@v5 &&
	# v6: nothing changed
	zp snapshot tank/fs@v6 &&
	# v7: objects freed and made again in one version: another block
	# size, and the same block size with less data
	zp free tank/fs 3 &&
	rnd 5000 | zp write -b 512 tank/fs 3 0 &&
	zp free tank/fs 5 &&
	rnd 100 | zp write -b 4096 tank/fs 5 0 &&
	zp snapshot tank/fs@v7 &&
	test "$(zp list -H -o name -t snapshot tank/fs | wc -l)" = 7
'

test_expect_success 'the versions differ from each other' '
	prev= &&
	for s in $SNAPS; do
		if [ -n "$prev" ] && [ $s != v6 ]; then
			! zp diff tank/fs@$prev tank/fs@$s >/dev/null || exit 1
		fi
		prev=$s
	done &&
	zp diff tank/fs@v5 tank/fs@v6 && zp diff tank/fs@v7 tank/fs
'

test_expect_success 'full v1 and each incremental into a second pool' '
	zp2 create tank &&
	zp send tank/fs@v1 >s-v1 &&
	zp2 recv tank/fs <s-v1 &&
	prev=v1 &&
	for s in v2 v3 v4 v5 v6 v7; do
		zp send -i @$prev tank/fs@$s >s-$s &&
		zp2 recv tank/fs <s-$s || exit 1
		prev=$s
	done &&
	zp list -H -p -o name,guid,createtxg -t snapshot tank/fs | cut -f1,2 >l1 &&
	zp2 list -H -p -o name,guid,createtxg -t snapshot tank/fs | cut -f1,2 >l2 &&
	cmp l1 l2
'

for s in $SNAPS; do
	test_expect_success "tank/fs@$s is the same in both pools (pool diff -d)" '
		zp diff -d "$P2" tank/fs@$s tank/fs@$s
	'
	test_expect_success "tank/fs@$s: both pools send the same content" '
		zp send tank/fs@$s | content >c1 &&
		zp2 send tank/fs@$s | content >c2 &&
		cmp c1 c2
	'
done

test_expect_success 'the live states agree, and differ from an earlier version' '
	zp diff -d "$P2" tank/fs tank/fs &&
	! zp diff -d "$P2" tank/fs@v3 tank/fs@v4 >/dev/null
'

test_expect_success 'incrementals resent from the second pool carry the same' '
	prev=v1 &&
	for s in v2 v3 v4 v5 v6 v7; do
		content s-$s >c1 &&
		zp2 send -i tank/fs@$prev tank/fs@$s | content >c2 &&
		cmp c1 c2 || exit 1
		prev=$s
	done
'

test_expect_success 'a full stream of v5 into a new dataset equals the chain' '
	zp send tank/fs@v5 | zp2 recv tank/full &&
	zp2 diff tank/full@v5 tank/fs@v5 &&
	zp diff -d "$P2" tank/fs@v5 tank/full@v5
'

test_expect_success 'an incremental skipping versions (v1 to v4)' '
	zp send tank/fs@v1 | zp2 recv tank/skip &&
	zp send -i @v1 tank/fs@v4 | zp2 recv tank/skip &&
	zp diff -d "$P2" tank/fs@v4 tank/skip@v4 &&
	test "$(zp2 list -H -o name -t snapshot tank/skip | tr "\n" " ")" = "tank/skip@v1 tank/skip@v4 "
'

# --- send(receive(s)) for the real streams ---------------------------------

# roundtrip STREAM DATASET: receive STREAM (a plain stream) into DATASET of
# a fresh pool (pool dir $TMP/rt), send its snapshot back, compare contents
S=$SHARED_STREAMS
if [ -z "$S" ] || [ ! -d "$S/zsend" ]; then
	test_skip "real send streams" "../shared/streams is not present"
else
	Z=$S/zsend
	LE=$Z/little-endian-all-drr-types-base-NATIVE.zsend
	BE=$Z/big-endian-all-drr-types-base-NATIVE.zsend
	INCR=$Z/little-endian-all-drr-types-incr-NATIVE.zsend
	DEC=$Z/decompress.zsend
	zr() { "$ZBAK" --pool-dir "$TMP/rt-$1" pool "${@:2}"; }
	toname() { content "$1" | head -1 | cut -d" " -f1; }
	for f in "$LE" "$BE" "$DEC"; do
		name=$(basename "$f" .zsend)
		test_expect_success "send(receive($name)) carries the same data" '
			snap=$(toname "$f") && ds=${snap%@*} &&
			zr $name create -p "${ds%/*}" &&
			zr $name recv "$ds" <"$f" &&
			zr $name send "$snap" >back &&
			content "$f" >c1 && content back >c2 &&
			diff c1 c2 &&
			test "$(zr $name list -H -p -o guid "$snap")" = \
				"$(sed -n "1s/.* toguid=\([0-9]*\) .*/\1/p" c1)"
		'
	done

	test_expect_success 'the big-endian base is sent back big-endian' '
		zr big-endian-all-drr-types-base-NATIVE send test/source@baseline >back &&
		"$ZBAK" inspect back | grep -q "byte order: *big-endian"
	'

	test_expect_success 'the long-payload stream (16 MiB blocks)' '
		zstd -d -q -c "$Z/little-endian-long-payloads.zsend.zst" >lelp &&
		snap=$(toname lelp) && ds=${snap%@*} &&
		test "$ds" = test &&
		# a pool root exists once made: a full stream over it needs -F
		zr lelp create test &&
		expect_fail zr lelp recv test <lelp &&
		zr lelp recv -F test <lelp &&
		zr lelp send "$snap" | content >c2 &&
		content lelp >c1 && diff c1 c2 &&
		rm -f lelp
	'

	test_expect_success 'the incremental compound package after the LE base' '
		zr incr create test &&
		zr incr recv test/source <"$LE" &&
		zr incr recv test/redacted <"$INCR" &&
		zr incr list -H -o name -t all -r test >names &&
		grep -qx test/redacted@clean names &&
		grep -qx test/redacted/encrypted@clean names
	'

	# The clone's origin was received from a redacted send, so the pool
	# holds it (and the clone) as redacted, and says so in what it sends,
	# as OpenZFS does for a redacted dataset; the sender of the package
	# had the unredacted origin.  REDACTED aside, the content is the same.
	test_expect_success 'the clone substream: origin, content' '
		test "$(zr incr list -H -o origin test/redacted)" = test/source@baseline &&
		content "$INCR" >all &&
		grep "^test/redacted@clean " all >c1 &&
		zr incr send -i test/source@baseline test/redacted@clean |
			content | sed "1s/ REDACTED / /" >c2 &&
		diff c1 c2
	'

	test_expect_success 'the raw encrypted child substream: content' '
		grep "^test/redacted/encrypted@clean " all >c1 &&
		zr incr send test/redacted/encrypted@clean | content >c2 &&
		diff c1 c2
	'

	test_expect_success 'the incremental package fails without its origin' '
		zr noorigin create test &&
		expect_fail zr noorigin recv test/redacted <"$INCR" &&
		test "$(zr noorigin list -H -o name -t all -r test)" = test
	'
fi

# --- send(receive(s)) for generated streams --------------------------------

G="--objects 6 --size 2M --seed 7"
gen() { "$ZBAK" debug gen $G "$@"; }

test_expect_success 'generated: a full stream' '
	zp create pool &&
	gen >g1 &&
	zp recv pool/fs <g1 &&
	zp send pool/fs@v1 | content >c2 &&
	content g1 >c1 && diff c1 c2
'

test_expect_success 'generated: an incremental chain v1..v4, each sent back' '
	for v in 2 3 4; do
		gen --change 0.2 --from $((v - 1)) --version $v >g$v &&
		zp recv pool/fs <g$v &&
		zp send -i @v$((v - 1)) pool/fs@v$v | content >c2 &&
		content g$v >c1 && diff c1 c2 || exit 1
	done &&
	gen --change 0.2 --version 4 >g4full &&
	zp send pool/fs@v4 | content >c2 &&
	content g4full >c1 && diff c1 c2
'

test_expect_success 'generated: small blocks and compressible data' '
	gen --blocksize 4K --compressible 0.5 --name pool/small >gs &&
	zp recv pool/small <gs &&
	zp send pool/small@v1 | content >c2 &&
	content gs >c1 && diff c1 c2
'

test_expect_success 'generated: large blocks (1M)' '
	gen --blocksize 1M --name pool/large >gl &&
	zp recv pool/large <gl &&
	zp send pool/large@v1 | content >c2 &&
	content gl >c1 && diff c1 c2
'

test_expect_success 'generated: big-endian full and incremental' '
	gen --byteswap --name pool/be >gb1 &&
	gen --byteswap --name pool/be --from 1 --version 2 --change 0.3 >gb2 &&
	zp recv pool/be <gb1 && zp recv pool/be <gb2 &&
	zp send pool/be@v1 | content >c2 && content gb1 >c1 && diff c1 c2 &&
	zp send -i @v1 pool/be@v2 | content >c2 && content gb2 >c1 && diff c1 c2
'

test_expect_success 'generated: the 2008 format, full and incremental' '
	gen --legacy --name pool/old >go1 &&
	gen --legacy --name pool/old --from 1 --version 2 --change 0.3 >go2 &&
	zp recv pool/old <go1 && zp recv pool/old <go2 &&
	zp send pool/old@v1 | content >c2 && content go1 >c1 && diff c1 c2 &&
	zp send -i @v1 pool/old@v2 | content >c2 && content go2 >c1 && diff c1 c2
'

test_expect_success 'generated: the 2008 format, big-endian' '
	gen --legacy --byteswap --name pool/oldbe >gob &&
	zp recv pool/oldbe <gob &&
	zp send pool/oldbe@v1 | content >c2 && content gob >c1 && diff c1 c2
'

test_expect_success 'generated: the 2008 incremental sent back modern is taken' '
	zp send pool/old@v1 >o1 && zp recv pool/old2 <o1 &&
	zp send -i @v1 pool/old@v2 >o2 &&
	"$ZBAK" inspect o2 | grep -q "format: *modern" &&
	zp recv pool/old2 <o2 &&
	zp diff pool/old@v2 pool/old2@v2
'

test_expect_success 'generated: a compound package (FS and FS/child)' '
	gen --compound --name pool/pkg >gc &&
	zp recv pool/pkg <gc &&
	zp list -H -o name -t snapshot -r pool/pkg >names &&
	test "$(cat names | tr "\n" " ")" = "pool/pkg@v1 pool/pkg/child@v1 " &&
	{ zp send pool/pkg@v1 | content && zp send pool/pkg/child@v1 | content; } |
		LC_ALL=C sort >c2 &&
	content gc | LC_ALL=C sort >c1 && diff c1 c2
'

test_expect_success 'generated: a big-endian compound package' '
	gen --compound --byteswap --name pool/bepkg >gcb &&
	zp recv pool/bepkg <gcb &&
	{ zp send pool/bepkg@v1 | content &&
	  zp send pool/bepkg/child@v1 | content; } | LC_ALL=C sort >c2 &&
	content gcb | LC_ALL=C sort >c1 && diff c1 c2
'

test_expect_success 'generated: a compound incremental package' '
	gen --compound --name pool/pkg --from 1 --version 2 --change 0.3 >gc2 &&
	zp recv pool/pkg <gc2 &&
	{ zp send -i @v1 pool/pkg@v2 | content &&
	  zp send -i @v1 pool/pkg/child@v2 | content; } | LC_ALL=C sort >c2 &&
	content gc2 | LC_ALL=C sort >c1 && diff c1 c2
'

test_done
