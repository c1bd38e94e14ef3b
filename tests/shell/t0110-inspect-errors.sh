#!/bin/bash
# zbak inspect on bad input: every truncation point of a small stream, bit
# flips, garbage, an empty file, trailing bytes; both byte orders.  Each gets
# a non-zero exit and a message; none a crash or a hang.
. "$(dirname "$0")/../lib.sh"

gen() { "$ZBAK" debug gen --objects 2 --blocksize 4096 "$@"; }
flip() { # FILE OFFSET BITMASK: flip bits of one byte in place
	perl -e 'open(my $f, "+<", $ARGV[0]) or die; binmode $f;
		seek($f, $ARGV[1], 0); read($f, my $b, 1);
		seek($f, $ARGV[1], 0); print $f chr(ord($b) ^ $ARGV[2]);' "$@"
}

test_expect_success 'generate small streams (both byte orders, 2008 format)' '
	gen >"$TMP/le" && gen --byteswap >"$TMP/be" && gen --legacy >"$TMP/old" &&
	"$ZBAK" inspect "$TMP/le" >/dev/null && "$ZBAK" inspect "$TMP/be" >/dev/null &&
	"$ZBAK" inspect "$TMP/old" >/dev/null
'

for s in le be old; do
	test_expect_success "every truncation point of the $s stream fails cleanly" '
		len=$(stat -c %s "$TMP/$s") &&
		step=$((len / 400 + 1))  # the unit tests cut at every byte
		cut=0
		while [ $cut -lt $len ]; do
			head -c $cut "$TMP/$s" >"$TMP/cut"
			expect_fail "$ZBAK" inspect "$TMP/cut" || exit 1
			grep -q -E "truncated|empty" "$TMP/err" || { cat "$TMP/err"; exit 1; }
			cut=$((cut + step))
		done
	'
done

test_expect_success 'truncation message names record, type and byte offset' '
	head -c 1000 "$TMP/le" >"$TMP/cut" &&
	expect_fail "$ZBAK" inspect "$TMP/cut" &&
	grep -q -E "record [0-9]+ \([A-Z_]+\) at byte [0-9]+" "$TMP/err"
'

test_expect_success 'exit status of a damaged stream is 3 (verification failed)' '
	head -c 1000 "$TMP/le" >"$TMP/cut"
	"$ZBAK" inspect "$TMP/cut" 2>/dev/null; test $? -eq 3
'

for s in le be; do
	test_expect_success "random bit flips in the $s stream are all detected" '
		len=$(stat -c %s "$TMP/$s")
		for i in $(seq 1 150); do
			off=$(( (RANDOM * 32768 + RANDOM) % len ))
			bit=$(( 1 << (RANDOM % 8) ))
			cp "$TMP/$s" "$TMP/flip"
			flip "$TMP/flip" $off $bit
			expect_fail "$ZBAK" inspect "$TMP/flip" || { echo "offset $off bit $bit"; exit 1; }
		done
	'
done

test_expect_success 'garbage is not a send stream' '
	head -c 100000 /dev/urandom >"$TMP/junk" &&
	expect_fail "$ZBAK" inspect "$TMP/junk" &&
	grep -q "not a send stream" "$TMP/err"
'

test_expect_success 'an empty file is refused' '
	: >"$TMP/empty" &&
	expect_fail "$ZBAK" inspect "$TMP/empty" && grep -q "empty" "$TMP/err"
'

test_expect_success 'bytes after the END are refused' '
	cat "$TMP/le" "$TMP/le" >"$TMP/twice" &&
	expect_fail "$ZBAK" inspect "$TMP/twice" && grep -q "trailing data" "$TMP/err"
'

test_expect_success 'json reports the error and ok false' '
	head -c 2000 "$TMP/be" >"$TMP/cut"
	"$ZBAK" inspect --json "$TMP/cut" >"$TMP/j" 2>/dev/null
	test $? -eq 3 && grep -q "\"ok\":false" "$TMP/j" && grep -q "\"errors\":\[\"record" "$TMP/j"
'

test_expect_success 'a missing file is a clear error' '
	expect_fail "$ZBAK" inspect "$TMP/nope" && grep -q "cannot open" "$TMP/err"
'

test_expect_success 'usage errors exit 2' '
	"$ZBAK" inspect 2>/dev/null; test $? -eq 2 &&
	{ "$ZBAK" inspect --bogus x 2>/dev/null; test $? -eq 2; } &&
	{ "$ZBAK" frobnicate 2>/dev/null; test $? -eq 2; }
'

test_done
