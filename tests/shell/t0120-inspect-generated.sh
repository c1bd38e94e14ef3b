#!/bin/bash
# Generated streams (full, incremental, compound, 2008 format, big-endian)
# pass inspect --validate, and the summary describes them.
. "$(dirname "$0")/../lib.sh"

gen() { "$ZBAK" debug gen --objects 20 --blocksize 16384 --compressible 0.5 "$@"; }

test_expect_success 'full stream validates' '
	gen --version 1 >"$TMP/v1" && "$ZBAK" inspect --validate "$TMP/v1" >"$TMP/o" &&
	grep -q "kind: *full" "$TMP/o" && grep -q "single stream" "$TMP/o"
'
test_expect_success 'incremental stream validates and names its source' '
	gen --version 3 --from 2 >"$TMP/i" && "$ZBAK" inspect --validate "$TMP/i" >"$TMP/o" &&
	grep -q "incremental from guid" "$TMP/o"
'
test_expect_success 'compound package validates' '
	gen --compound >"$TMP/c" && "$ZBAK" inspect --validate --json "$TMP/c" >"$TMP/j" &&
	grep -q "\"compound\":true" "$TMP/j" && grep -q "\"substreams\":2" "$TMP/j"
'
test_expect_success '2008-format stream validates and is reported as such' '
	gen --legacy >"$TMP/l" && "$ZBAK" inspect --validate "$TMP/l" >"$TMP/o" &&
	grep -q "no record trailers" "$TMP/o"
'
test_expect_success 'big-endian stream validates' '
	gen --byteswap >"$TMP/b" && "$ZBAK" inspect --validate "$TMP/b" >"$TMP/o" &&
	grep -q "big-endian" "$TMP/o"
'
test_expect_success 'same options give the same bytes' '
	gen --version 2 >"$TMP/a" && gen --version 2 >"$TMP/b2" && cmp "$TMP/a" "$TMP/b2"
'
test_expect_success 'inspect -v ends with a SUMMARY whose length is the file size' '
	"$ZBAK" inspect -v "$TMP/v1" >"$TMP/o" &&
	grep -q "Total stream length = $(stat -c %s "$TMP/v1") " "$TMP/o"
'
test_done
