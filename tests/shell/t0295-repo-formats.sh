#!/bin/bash
# Repository formats (docs/repository.md): a format-1 repository made by
# zbak before format 2 existed (tests/fixtures/repo-v1, see repo-v1.txt)
# is read and written by this one: restore, verify, a push that dedups
# against its chunks (ids computed with format 1's keyed BLAKE2b, else
# nothing would be found again), forget, gc, and it stays format 1.  The
# same on format 2 with either seal, and on `init --format 1`.  A config
# naming a format this zbak does not know (3), or altered to name another
# seal, is refused cleanly.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_GC_MARGIN ZBAK_NOW
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --size 2M --blocksize 16K --compressible 0.5 "$@"; }
sum_of() { grep " $1\$" "$FIX/repo-v1.txt" | cut -d" " -f1; }

# the fixture into the test's store (a directory, or S3)
fixture_copy() {
	local size key
	repo_destroy "$1" >/dev/null 2>&1
	is_s3 || mkdir -p "$1" || return 1
	"$ZBAK" debug store ls "$FIX/repo-v1" | while read -r size key; do
		"$ZBAK" debug store get "$FIX/repo-v1" "$key" |
			"$ZBAK" debug store put "$1" "$key" || exit 1
	done
}

# every step a repository of any format must take: two pushes, the second
# deduplicated against the first, restores, verify, forget, gc
exercise() {
	gen -o "$TMP/g1" && gen --version 2 -o "$TMP/g2" &&
	z push --name g/fs@v1 "$TMP/g1" >out && grep -q "(.* new)" out &&
	z push --name g/fs@v2 "$TMP/g2" >out &&
	# a 1%-changed full: most of its chunks are found again
	perl -ne 'exit !(/ (\d+) chunks \((\d+) new\)/ && $2 < $1 / 2)' out ||
		{ cat out; return 1; }
	z restore g/fs@v1 | cmp - "$TMP/g1" &&
	rm -f "$TMP/r2" && z restore -o "$TMP/r2" g/fs@v2 >/dev/null && cmp "$TMP/r2" "$TMP/g2" &&
	z verify --read-data >out && grep -q " 0 problems" out &&
	z forget g/fs@v1 >/dev/null &&
	ZBAK_GC_MARGIN=0 z gc >out && grep -q "^gc: " out &&
	z restore g/fs@v2 | cmp - "$TMP/g2" &&
	z verify --read-data >out && grep -q " 0 problems" out || { cat out; return 1; }
}

test_expect_success 'a format-1 repository of an older zbak: restore and verify' '
	repo_new v1; R=$REPO && fixture_copy "$R" &&
	repo_get "$R" config | head -1 | grep -qx "zbak-repository 1" &&
	z restore pool/fs@v1 -o "$TMP/f1" >/dev/null &&
	z restore pool/fs@v2 -o "$TMP/f2" >/dev/null &&
	test "$(b2sum <"$TMP/f1" | cut -d" " -f1)" = "$(sum_of pool/fs@v1)" &&
	test "$(b2sum <"$TMP/f2" | cut -d" " -f1)" = "$(sum_of pool/fs@v2)" &&
	z verify --read-data >out && grep -q "^2 snapshots, .* 0 problems" out
'

test_expect_success 'format 1: a push finds the old chunks again (same id PRF)' '
	repo_new v1; R=$REPO &&
	z push --name again/fs@v1 "$TMP/f1" >out &&
	grep -q "1 chunks (0 new)" out &&
	z push --name again/fs@v2 "$TMP/f2" >out &&
	grep -q "1 chunks (0 new)" out || { cat out; exit 1; }
	z restore again/fs@v2 | cmp - "$TMP/f2"
'

test_expect_success 'format 1: push, restore, verify, forget, gc; it stays format 1' '
	repo_new v1; R=$REPO && exercise &&
	z restore pool/fs@v2 | cmp - "$TMP/f2" &&
	repo_get "$R" config | head -1 | grep -qx "zbak-repository 1" &&
	! repo_get "$R" config | grep -q "^seal "
'

test_expect_success 'init makes format 2 with the seal this CPU runs fastest' '
	repo_new v2; R=$REPO &&
	z init >out && grep -q "(format 2, " out &&
	repo_get "$R" config >cfg &&
	head -1 cfg | grep -qx "zbak-repository 2" &&
	grep -qx "chunk_id hmac-sha256" cfg &&
	if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
		grep -qx "seal aes-256-gcm" cfg
	else
		grep -qx "seal xchacha20-poly1305" cfg
	fi
'

test_expect_success 'format 2: push, restore, verify, forget, gc' '
	repo_new v2; R=$REPO && exercise
'

test_expect_success 'format 2: a format-1 repository s objects do not open in it' '
	repo_new v2; R=$REPO &&
	key=$(repo_keys "$R" snapshots/ | head -1 | cut -d" " -f2-) &&
	repo_new v1 && repo_get "$REPO" "$key" | repo_put "$R" "$key" &&
	expect_fail z restore g/fs@v2 &&
	grep -q "authentication failed" "$TMP/err"
'

for c in xchacha20-poly1305 aes-256-gcm; do
	test_expect_success "init --cipher $c: format 2, push, restore, verify, gc" '
		repo_new "c-'$c'"; R=$REPO &&
		z init --cipher '$c' >out && grep -q "(format 2, '$c')" out &&
		repo_get "$R" config | grep -qx "seal '$c'" && exercise
	'
done

test_expect_success 'init --format 1 makes what older zbak reads; it works here' '
	repo_new fmt1; R=$REPO &&
	z init --format 1 >out && grep -q "(format 1, xchacha20-poly1305)" out &&
	repo_get "$R" config >cfg &&
	head -1 cfg | grep -qx "zbak-repository 1" && test "$(wc -l <cfg)" = 3 &&
	exercise
'

# ZBAK_OLD: a zbak from before format 2, when there is one at hand
if [ -n "${ZBAK_OLD:-}" ]; then
	test_expect_success 'an older zbak reads init --format 1, refuses format 2' '
		repo_new fmt1; R=$REPO &&
		"$ZBAK_OLD" -r "$R" restore g/fs@v2 | cmp - "$TMP/g2" &&
		"$ZBAK_OLD" -r "$R" verify --read-data >out &&
		grep -q " 0 problems" out &&
		repo_new v2 &&
		expect_fail "$ZBAK_OLD" -r "$REPO" ls &&
		grep -q "repository format version 2" "$TMP/err"
	'
else
	test_skip 'an older zbak reads init --format 1, refuses format 2' \
		'ZBAK_OLD (a zbak from before format 2) not set'
fi

test_expect_success 'init refuses what it cannot make' '
	repo_new bad; R=$REPO &&
	expect_fail z init --format 3 && grep -q "format takes 1 to 2" "$TMP/err" &&
	expect_fail z init --format 1 --cipher aes-256-gcm &&
	grep -q "format 1 seals only with xchacha20-poly1305" "$TMP/err" &&
	expect_fail z init --cipher aes-128-gcm &&
	! repo_has "$R" config
'

test_expect_success 'a future format 3 is refused, naming it' '
	repo_new v2; R=$REPO &&
	repo_get "$R" config | sed "1s/ 2\$/ 3/" >cfg && repo_put "$R" config <cfg &&
	expect_fail z ls &&
	grep -q "repository format version 3 (this zbak reads versions 1 to 2)" "$TMP/err"
'

test_expect_success 'a config altered to another seal or id PRF: nothing opens' '
	repo_new c-aes-256-gcm; R=$REPO &&
	repo_get "$R" config >cfg &&
	sed "s/^seal .*/seal xchacha20-poly1305/" cfg | repo_put "$R" config &&
	expect_fail z restore g/fs@v2 && grep -q "authentication failed" "$TMP/err" &&
	sed "s/^seal .*/seal rot13/" cfg | repo_put "$R" config &&
	expect_fail z ls && grep -q "without a seal this zbak knows" "$TMP/err" &&
	grep -v "^chunk_id " cfg | repo_put "$R" config &&
	expect_fail z ls && grep -q "chunk_id hmac-sha256" "$TMP/err" &&
	repo_put "$R" config <cfg && z restore g/fs@v2 | cmp - "$TMP/g2"
'

test_done
