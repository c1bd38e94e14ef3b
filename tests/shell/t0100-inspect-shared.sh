#!/bin/bash
# zbak inspect on the real streams of ../shared/streams: every one verifies,
# and -v prints what OpenZFS's own zstream dump -v printed, line for line.
. "$(dirname "$0")/../lib.sh"

S=$SHARED_STREAMS
if [ -z "$S" ] || [ ! -d "$S/zsend" ]; then
	test_skip "real send streams" "../shared/streams is not present"
	test_done
	exit
fi

Z=$S/zsend
zstd -d -q -c "$Z/little-endian-long-payloads.zsend.zst" >"$TMP/lelp.zsend"

test_expect_success 'decompressed long-payload stream has its published hash' '
	want=$(grep little-endian-long-payloads.zsend "$S/SHA256SUMS" | cut -d" " -f1) &&
	test "$(sha256sum <"$TMP/lelp.zsend" | cut -d" " -f1)" = "$want"
'

for f in "$Z"/*.zsend "$TMP/lelp.zsend"; do
	name=$(basename "$f")
	test_expect_success "inspect $name: checksums verify" '
		"$ZBAK" inspect "$f" >"$TMP/out" &&
		grep -q "^status: *ok" "$TMP/out"
	'
	test_expect_success "inspect --json $name: ok and counts" '
		"$ZBAK" inspect --json "$f" >"$TMP/json" &&
		grep -q "\"ok\":true" "$TMP/json" &&
		grep -q "\"length\":$(stat -c %s "$f")," "$TMP/json"
	'
	test_expect_success "inspect from stdin in small reads: $name" '
		cat "$f" | "$ZBAK" inspect - >/dev/null
	'
done

for pair in leadtbn:little-endian-all-drr-types-base-NATIVE.zsend \
	beadtbn:big-endian-all-drr-types-base-NATIVE.zsend \
	leadtin:little-endian-all-drr-types-incr-NATIVE.zsend \
	d:decompress.zsend lelp:LELP; do
	short=${pair%%:*}
	file=${pair#*:}
	[ "$file" = LELP ] && f=$TMP/lelp.zsend || f=$Z/$file
	test_expect_success "inspect -v $short matches zstream dump -v exactly" '
		"$ZBAK" inspect -v "$f" >"$TMP/$short.out" &&
		diff -u "$S/dumps/$short-new.dump" "$TMP/$short.out"
	'
done

test_expect_success 'validate: real streams a receiver takes pass' '
	for f in "$Z"/little-endian-all-drr-types-*.zsend "$Z"/big-endian-*.zsend \
		"$Z"/decompress.zsend "$TMP/lelp.zsend"; do
		"$ZBAK" inspect --validate "$f" >/dev/null || exit 1
	done
'

test_expect_success 'validate: the dedup stream is refused with the reason' '
	expect_fail "$ZBAK" inspect --validate "$Z/dedup.zsend" &&
	grep -q "DEDUP" "$TMP/err" && grep -q "redup" "$TMP/err" &&
	grep -q "record 2 (BEGIN) at byte" "$TMP/err"
'

test_expect_success 'json counts match the SUMMARY of the golden dump' '
	"$ZBAK" inspect --json "$Z/little-endian-all-drr-types-incr-NATIVE.zsend" >"$TMP/j" &&
	grep -q "\"substreams\":2" "$TMP/j" &&
	grep -q "\"WRITE\":24," "$TMP/j" && grep -q "\"OBJECT_RANGE\":3," "$TMP/j" &&
	grep -q "\"BEGIN\":3," "$TMP/j" && grep -q "\"END\":4," "$TMP/j"
'

test_done
