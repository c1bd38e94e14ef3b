#!/bin/bash
# The local pool receives deduplicated streams (zfs send -D): each
# WRITE_BYREF becomes a copy of the block it names, in this substream or
# in a snapshot received before.  OpenZFS's dedup.zsend fixture of
# ../shared/streams (a -D -R package of a ZPL 5 file system and a child,
# 51 references, some across datasets) is received and sent back; every
# referring block must carry the same data as the block it names.  Then
# the fixture edited (restream.pl fixes the checksums) so that one
# reference names a missing snapshot, a missing object, an offset where
# nothing was written, the wrong length or checksum, or itself: each is
# refused naming the record, and the pool is left as it was.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
unset ZBAK_REPO
RESTREAM="perl $(cd "$(dirname "$0")/../lib" && pwd)/restream.pl"
F=$SHARED_STREAMS/zsend/dedup.zsend
# status COMMAND...: its exit status (stdout to $TMP/stdout, stderr to $TMP/err)
status() { "$@" >"$TMP/stdout" 2>"$TMP/err"; echo $?; }
# refs: "object offset toguid refguid refobject refoffset" of each WRITE_BYREF
refs() {
	"$ZBAK" inspect -v "$F" |
		sed -n 's/^WRITE_BYREF object = \([0-9]*\) .* offset = \([0-9]*\) length = [0-9]* toguid = \([0-9a-f]*\) refguid = \([0-9a-f]*\) refobject = \([0-9]*\) refoffset = \([0-9]*\)$/\1 \2 \3 \4 \5 \6/p'
}
# snap GUID: the snapshot of the fixture with that guid
snap() {
	case $1 in
	deb1337232f92a3e) echo t/d@snap ;;
	abd3e8fd04aedffb) echo t/d/subfs@snap ;;
	*) echo "unknown guid $1" >&2; echo none ;;
	esac
}
# data SNAP OBJ OFF: the data hash of that WRITE in content
data() {
	grep "^$1 WRITE object=$2 offset=$3 " content | sed "s/.* data=//"
}

if [ ! -f "$F" ]; then
	test_skip 'the dedup fixture: every reference a copy of its block' "no $SHARED_STREAMS"
	test_done
	exit 0
fi

test_expect_success 'the dedup fixture: every reference a copy of its block' '
	"$ZBAK" pool create t &&
	"$ZBAK" pool recv t/d <"$F" &&
	"$ZBAK" pool list -H -o name -t snapshot -r t >snaps &&
	grep -qx "t/d@snap" snaps && grep -qx "t/d/subfs@snap" snaps &&
	"$ZBAK" pool send t/d@snap >back1 &&
	"$ZBAK" pool send t/d/subfs@snap >back2 &&
	"$ZBAK" debug content back1 >content &&
	"$ZBAK" debug content back2 >>content &&
	refs >refs && test "$(wc -l <refs)" = 51 &&
	n=0 &&
	while read -r obj off to ref robj roff; do
		dst=$(data "$(snap "$to")" "$obj" "$off") &&
		src=$(data "$(snap "$ref")" "$robj" "$roff") &&
		test -n "$src" && test "$dst" = "$src" &&
		n=$((n + 1)) || return 1
	done <refs &&
	test "$n" = 51 &&
	grep -c "^t/d/subfs@snap WRITE " content >nsub && test "$(cat nsub)" -ge 8
'

# bad N OP... : the fixture with OPs applied, refused naming record N
bad() {
	local n=$1
	shift
	$RESTREAM edit "$F" bad.zsend "$@" &&
	test "$(status "$ZBAK" pool recv t/bad <bad.zsend)" != 0 &&
	grep -q "record $n (WRITE_BYREF)" "$TMP/err" &&
	! "$ZBAK" pool list -H -o name -r t | grep -q "^t/bad"
}

test_expect_success 'hostile references are refused naming the record' '
	first=$($RESTREAM list "$F" | awk "\$2 == 6 { print \$1; exit }") &&
	test -n "$first" &&
	bad "$first" set:6:0:40:Q\<:12345 && grep -q "guid 0000000000003039" "$TMP/err" &&
	bad "$first" set:6:0:48:Q\<:99 && grep -q "object 99" "$TMP/err" &&
	bad "$first" set:6:0:56:Q\<:1048576 && grep -q "no block was written" "$TMP/err" &&
	bad "$first" set:6:0:24:Q\<:8192 && grep -q "length 8192" "$TMP/err" &&
	bad "$first" set:6:0:72:Q\<:1 && grep -q "checksum differs" "$TMP/err" &&
	bad "$first" set:6:0:48:Q\<:8 && grep -q "refers to itself" "$TMP/err" &&
	"$ZBAK" pool list -H -o name -r t >after && ! grep -q bad after
'

test_done
