#!/bin/bash
# The repository when things go wrong.  Each case: a non-zero exit (no crash,
# no sanitizer report), a message on stderr that says what is wrong, and a
# repository left as it was (every file and its checksum compared before and
# after; every object and its checksum for S3).  Wrong passphrase; no repository; init twice; a missing or altered
# pack, index, recipe or manifest; a manifest under another name; bad input
# to push (truncated, a flipped payload byte, random bytes, empty, trailing
# bytes); restore -o that fails, or would overwrite; key passwd.  The
# repository is a directory, or S3 under ZBAK_TEST_BACKEND=s3 (tests/lib.sh):
# objects are damaged through zbak debug store.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE
repo_new; R=$REPO
C=$(repo_url c)	# the damaged copy
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --objects 2 --size 4M "$@"; }
flip() { # FILE OFFSET BITMASK: flip bits of one byte in place
	perl -e 'open(my $f, "+<", $ARGV[0]) or die; binmode $f;
		seek($f, $ARGV[1], 0); read($f, my $b, 1) == 1 or die "short";
		seek($f, $ARGV[1], 0); print $f chr(ord($b) ^ $ARGV[2]);' "$@"
}
# state URL [PREFIX]: every object (for a directory: every file, and empty
# directories) with its checksum
state() { repo_state "$@"; }
# a fresh copy of the pristine repository in $C (the damaged one)
# a copy has the original's repository id, so the cache (which is keyed by
# it) is dropped too: each case starts from what the repository holds
fresh() { repo_copy "$R" "$C" && rm -rf "$ZBAK_CACHE_DIR"; }
zc() { "$ZBAK" -r "$C" "$@"; }
# the key of the one object under a prefix of the copy
one() { repo_one "$C" "$1/"; }
# cflip KEY OFFSET MASK, csize KEY: of an object of the copy
cflip() { repo_flip "$C" "$@"; }
csize() { "$ZBAK" debug store head "$C" "$1"; }

test_expect_success 'setup: a repository with one 4 MiB snapshot' '
	z init >/dev/null &&
	gen -o "$TMP/s1" &&
	z push "$TMP/s1" >/dev/null &&
	z restore pool/fs@v1 | cmp - "$TMP/s1" &&
	z verify --read-data >/dev/null &&
	test $(repo_count "$R" data/) -eq 1 &&
	state "$R" >"$TMP/pristine" &&
	z ls --json >"$TMP/ls.pristine"
'

# --- passphrase, repository location ---------------------------------------

test_expect_success 'a wrong passphrase: exit 12 (not 3: no damage) and a clear message for every command' '
	for cmd in "ls" "ls --json" "verify" "verify --read-data" "push $TMP/s1" \
		   "restore pool/fs@v1" "key passwd"; do
		ZBAK_PASSPHRASE=wrong ZBAK_NEW_PASSPHRASE=new "$ZBAK" -r "$R" $cmd \
			>"$TMP/out" 2>"$TMP/err" </dev/null
		rc=$?
		[ $rc -eq 12 ] || { echo "$cmd: exit $rc, expected 12"; cat "$TMP/err"; exit 1; }
		grep -q "wrong passphrase" "$TMP/err" || { echo "$cmd:"; cat "$TMP/err"; exit 1; }
		[ ! -s "$TMP/out" ] || { echo "$cmd wrote to stdout"; exit 1; }
	done &&
	state "$R" | cmp - "$TMP/pristine"
'

test_expect_success 'a wrong passphrase from --passphrase-file: exit 12 too' '
	echo wrong >"$TMP/pw" && chmod 600 "$TMP/pw" &&
	"$ZBAK" -r "$R" --passphrase-file "$TMP/pw" ls >/dev/null 2>"$TMP/err"
	test $? -eq 12 && grep -q "wrong passphrase" "$TMP/err" &&
	echo "correct horse" >"$TMP/pw" &&
	"$ZBAK" -r "$R" --passphrase-file "$TMP/pw" ls >"$TMP/out" &&
	grep -q "pool/fs" "$TMP/out"
'

# on S3: an empty prefix, a prefix holding something else, a bucket that
# does not exist
test_expect_success 'no repository: a directory that does not exist (and is not created)' '
	nowhere=$(repo_url nowhere) &&
	for cmd in "ls" "verify" "push $TMP/s1" "restore pool/fs@v1" "key passwd"; do
		expect_fail "$ZBAK" -r "$nowhere" $cmd </dev/null || exit 1
		grep -q "no repository at" "$TMP/err" || { echo "$cmd:"; cat "$TMP/err"; exit 1; }
	done &&
	if is_s3; then test -z "$(repo_keys "$nowhere")"; else test ! -e "$nowhere"; fi
'

test_expect_success 'no repository: a directory that is not one (left untouched)' '
	plain=$(repo_url plain) &&
	if is_s3; then echo hello | repo_put "$plain" file
	else mkdir "$plain" && echo hello >"$plain/file"; fi &&
	for cmd in "ls" "verify" "push $TMP/s1" "restore pool/fs@v1"; do
		expect_fail "$ZBAK" -r "$plain" $cmd </dev/null || exit 1
		grep -q "no repository at" "$TMP/err" || { echo "$cmd:"; cat "$TMP/err"; exit 1; }
	done &&
	test "$(repo_keys "$plain")" = "6 file"
'

if is_s3; then
	test_expect_success 'no repository: -r naming a bucket that does not exist' '
		expect_fail "$ZBAK" -r "s3://zbak-test-no-such-bucket-$$-$RANDOM/x" ls &&
		grep -q -E "no repository|NoSuchBucket|does not exist" "$TMP/err"
	'
else
	test_expect_success 'no repository: -r pointing at a regular file' '
		expect_fail "$ZBAK" -r "$TMP/s1" ls &&
		grep -q -E "no repository|not a directory|Not a directory" "$TMP/err"
	'
fi

test_expect_success 'no -r and no $ZBAK_REPO: a usage error' '
	"$ZBAK" ls >/dev/null 2>"$TMP/err"; test $? -eq 2 &&
	grep -q -i "repo" "$TMP/err"
'

test_expect_success 'init twice is refused and changes nothing' '
	expect_fail z init &&
	grep -q "already exists" "$TMP/err" &&
	ZBAK_PASSPHRASE=other expect_fail z init &&
	grep -q "already exists" "$TMP/err" &&
	state "$R" | cmp - "$TMP/pristine" &&
	z ls >/dev/null
'

# --- missing and altered objects ------------------------------------------

test_expect_success 'a missing pack: restore names it, verify reports it' '
	fresh && p=$(one data) && repo_rm "$C" "$p" && state "$C" >before &&
	expect_fail zc restore pool/fs@v1 -o "$TMP/out.s" &&
	grep -q "pack" "$TMP/err" && grep -q "missing" "$TMP/err" &&
	grep -q "$p" "$TMP/err" &&
	test ! -e "$TMP/out.s" &&
	expect_fail zc verify && grep -q "missing" "$TMP/err" &&
	grep -q "$p" "$TMP/err" &&
	grep -q "[1-9][0-9]* problems" "$TMP/out" &&
	expect_fail zc verify --read-data && grep -q "missing" "$TMP/err" &&
	state "$C" | cmp - before
'

test_expect_success 'a missing recipe segment: restore and verify name it' '
	fresh && p=$(one recipes) && repo_rm "$C" "$p" && state "$C" >before &&
	expect_fail zc restore pool/fs@v1 &&
	grep -q "recipe" "$TMP/err" && grep -q "missing" "$TMP/err" &&
	grep -q "$p" "$TMP/err" &&
	expect_fail zc verify && grep -q "$p" "$TMP/err" &&
	state "$C" | cmp - before
'

test_expect_success 'a missing index: verify reports the chunks no index covers' '
	fresh && p=$(one index) && repo_rm "$C" "$p" && state "$C" >before &&
	expect_fail zc verify && grep -q "no index" "$TMP/err" &&
	state "$C" | cmp - before
'

test_expect_success 'an altered byte in a pack (a chunk): restore and verify --read-data fail authentication' '
	fresh && p=$(one data) &&
	cflip "$p" $(( $(csize "$p") / 2 )) 1 && state "$C" >before &&
	expect_fail zc restore pool/fs@v1 -o "$TMP/out.s" &&
	grep -q "authentication failed" "$TMP/err" && test ! -e "$TMP/out.s" &&
	expect_fail zc verify --read-data &&
	grep -q "authentication failed" "$TMP/err" &&
	grep -q "^problem: " "$TMP/err" &&
	grep -q " 1 problems" "$TMP/out" &&
	state "$C" | cmp - before
'

test_expect_success 'an altered byte in the first chunk of a pack is caught too' '
	fresh && p=$(one data) && cflip "$p" 10 128 &&
	expect_fail zc restore pool/fs@v1 && grep -q "authentication failed" "$TMP/err" &&
	expect_fail zc verify --read-data && grep -q "authentication failed" "$TMP/err"
'

test_expect_success 'an altered pack header: verify --read-data fails' '
	fresh && p=$(one data) && cflip "$p" $(( $(csize "$p") - 40 )) 1 &&
	expect_fail zc verify --read-data && grep -q "^problem: " "$TMP/err" &&
	grep -q " [1-9][0-9]* problems" "$TMP/out"
'

test_expect_success 'a truncated pack: restore and verify fail' '
	fresh && p=$(one data) && repo_truncate "$C" "$p" 100000 &&
	expect_fail zc restore pool/fs@v1 &&
	expect_fail zc verify && grep -q "$p\|$(basename "$p")" "$TMP/err"
'

test_expect_success "an altered byte in the recipes object: restore and verify fail authentication" '
	fresh && p=$(one recipes) &&
	cflip "$p" $(( $(csize "$p") / 2 )) 4 && state "$C" >before &&
	expect_fail zc restore pool/fs@v1 >/dev/null &&
	grep -q "authentication failed" "$TMP/err" &&
	expect_fail zc verify && grep -q "authentication failed" "$TMP/err" &&
	grep -q "recipes/" "$TMP/err" &&
	state "$C" | cmp - before
'

test_expect_success "an altered byte in the index object: restore goes on from the packs, verify fails" '
	fresh && p=$(one index) &&
	cflip "$p" $(( $(csize "$p") / 2 )) 4 && state "$C" >before &&
	zc restore pool/fs@v1 -o "$TMP/restored" 2>"$TMP/err" &&
	cmp "$TMP/restored" "$TMP/s1" &&
	grep -q "warning: $p does not open (.*authentication failed.*): skipped" "$TMP/err" &&
	expect_fail zc verify && grep -q "authentication failed" "$TMP/err" &&
	grep -q "index/" "$TMP/err" &&
	state "$C" | grep -v " ./locks/" | cmp - before
'

test_expect_success 'an altered byte in the manifest: restore and verify fail authentication' '
	fresh && p=snapshots/pool/fs@v1 && repo_has "$C" "$p" &&
	cflip "$p" 30 2 && state "$C" >before &&
	expect_fail zc restore pool/fs@v1 &&
	grep -q "authentication failed" "$TMP/err" &&
	grep -q "snapshots/pool/fs@v1" "$TMP/err" &&
	expect_fail zc verify && grep -q "authentication failed" "$TMP/err" &&
	state "$C" | cmp - before
'

test_expect_success 'an altered config id: nothing opens (and nothing is said to be fine)' '
	fresh && repo_get "$C" config >cfg &&
	perl -pi -e "s/^id (.)/q(id ) . (\$1 eq q(0) ? 1 : 0)/e" cfg &&
	repo_put "$C" config <cfg &&
	repo_get "$R" config >cfg.r && repo_get "$C" config >cfg.c &&
	! cmp -s cfg.r cfg.c &&
	expect_fail zc ls && expect_fail zc verify &&
	expect_fail zc restore pool/fs@v1 &&
	grep -q -E "passphrase|authentication|config" "$TMP/err"
'

test_expect_success 'a manifest copied to another name: restore of that name fails, verify reports it' '
	fresh && repo_get "$C" snapshots/pool/fs@v1 >m &&
	repo_put "$C" snapshots/pool/fs@v9 <m &&
	state "$C" >before &&
	expect_fail zc restore pool/fs@v9 -o "$TMP/out.s" &&
	grep -q "authentication failed" "$TMP/err" &&
	grep -q "fs@v9" "$TMP/err" && test ! -e "$TMP/out.s" &&
	expect_fail zc verify && grep -q "fs@v9" "$TMP/err" &&
	grep -q "authentication failed" "$TMP/err" &&
	zc restore pool/fs@v1 | cmp - "$TMP/s1" &&
	state "$C" | cmp - before
'

test_expect_success 'a manifest moved to another dataset: restore fails' '
	fresh && repo_mv "$C" snapshots/pool/fs@v1 snapshots/other/fs@v1 &&
	expect_fail zc restore other/fs@v1 && grep -q "authentication failed" "$TMP/err" &&
	expect_fail zc restore pool/fs@v1 && grep -q "no snapshot" "$TMP/err"
'

test_expect_success 'two recipe segments swapped: restore and verify fail' '
	repo_destroy "$C" && "$ZBAK" -r "$C" init >/dev/null &&
	gen --name a/fs -o "$TMP/a" && gen --name b/fs --seed 9 -o "$TMP/b" &&
	zc push "$TMP/a" >/dev/null && zc push "$TMP/b" >/dev/null &&
	set -- $(repo_keys "$C" recipes/ | cut -d" " -f2) && [ $# -eq 2 ] &&
	repo_get "$C" "$1" >x1 && repo_get "$C" "$2" >x2 &&
	repo_put "$C" "$1" <x2 && repo_put "$C" "$2" <x1 &&
	expect_fail zc restore a/fs@v1 && grep -q "authentication failed" "$TMP/err" &&
	expect_fail zc restore b/fs@v1 && grep -q "authentication failed" "$TMP/err" &&
	expect_fail zc verify && grep -q "authentication failed" "$TMP/err"
'

test_expect_success 'the pristine repository was not touched by any of this' '
	state "$R" | cmp - "$TMP/pristine" &&
	z verify --read-data >/dev/null
'

# --- bad input to push ------------------------------------------------------

# push_fails WHAT-REGEX [push args...]: push fails, names the problem, and
# neither the snapshots nor ls change
push_fails() {
	local re=$1
	shift
	state "$R" snapshots/ >"$TMP/snaps.before"
	expect_fail z push "$@" || return 1
	grep -q -E "$re" "$TMP/err" || { cat "$TMP/err"; return 1; }
	grep -q "no manifest" "$TMP/err" || { cat "$TMP/err"; return 1; }
	[ ! -s "$TMP/out" ] || { echo "push printed a result"; cat "$TMP/out"; return 1; }
	state "$R" snapshots/ | cmp - "$TMP/snaps.before" || return 1
	z ls --json | cmp - "$TMP/ls.pristine" || return 1
}

test_expect_success 'push of a truncated stream fails and stores no snapshot' '
	gen --name t/fs -o "$TMP/t" &&
	head -c $(( $(stat -c %s "$TMP/t") - 100 )) "$TMP/t" >"$TMP/cut" &&
	push_fails "truncated" "$TMP/cut" &&
	head -c 3000000 "$TMP/t" >"$TMP/cut" &&
	push_fails "truncated" "$TMP/cut" &&
	head -c 100 "$TMP/t" >"$TMP/cut" &&
	push_fails "truncated" "$TMP/cut" &&
	head -c 3000000 "$TMP/t" | push_fails "truncated" --name t/fs@piped
'

test_expect_success 'push of a stream with a flipped payload byte fails the checksum' '
	gen --name t/fs -o "$TMP/t" && flip "$TMP/t" 2000000 16 &&
	push_fails "checksum" "$TMP/t" &&
	"$ZBAK" inspect "$TMP/t" 2>/dev/null; test $? -eq 3
'

test_expect_success 'push of a stream with a flipped header byte fails' '
	gen --name t/fs -o "$TMP/t" && flip "$TMP/t" 400 1 &&
	push_fails "checksum|record" "$TMP/t"
'

test_expect_success 'push of random bytes: not a send stream' '
	head -c 1000000 /dev/urandom >"$TMP/rnd" &&
	push_fails "not a send stream" "$TMP/rnd" &&
	head -c 1000000 /dev/urandom | push_fails "not a send stream" --name x/y@z
'

test_expect_success 'push of an empty input (file and pipe)' '
	: >"$TMP/empty" &&
	push_fails "empty" "$TMP/empty" &&
	push_fails "empty" --name x/y@z </dev/null &&
	printf "" | push_fails "empty" --name x/y@z
'

test_expect_success 'push of a stream followed by extra bytes is refused' '
	gen --name t/fs -o "$TMP/t" && cat "$TMP/t" "$TMP/t" >"$TMP/tt" &&
	push_fails "trailing" "$TMP/tt"
'

test_expect_success 'push of a file that does not exist' '
	expect_fail z push "$TMP/no-such-stream" &&
	grep -q "no-such-stream" "$TMP/err" &&
	z ls --json | cmp - "$TMP/ls.pristine"
'

test_expect_success 'push with a bad --name stores nothing' '
	state "$R" snapshots/ >before &&
	expect_fail z push --name "no-at-sign" "$TMP/s1" &&
	grep -q "not a snapshot name" "$TMP/err" &&
	state "$R" snapshots/ | cmp - before
'

test_expect_success 'push under an existing name with other content is refused' '
	state "$R" snapshots/ >before &&
	gen --seed 5 -o "$TMP/other" &&
	expect_fail z push --name pool/fs@v1 "$TMP/other" &&
	grep -q "already" "$TMP/err" &&
	state "$R" snapshots/ | cmp - before &&
	z restore pool/fs@v1 | cmp - "$TMP/s1"
'

# --- restore ----------------------------------------------------------------

test_expect_success 'restore of a snapshot that does not exist' '
	expect_fail z restore pool/fs@nope &&
	grep -q "no snapshot pool/fs@nope" "$TMP/err" &&
	expect_fail z restore nosuch/fs@v1 -o "$TMP/o" &&
	grep -q "no snapshot" "$TMP/err" && test ! -e "$TMP/o" &&
	expect_fail z restore "not-a-name" && test -s "$TMP/err"
'

test_expect_success 'restore -o that fails leaves neither the file nor a temporary one' '
	fresh && p=$(one data) && cflip "$p" $(( $(csize "$p") * 3 / 4 )) 1 &&
	mkdir "$TMP/od" &&
	expect_fail zc restore pool/fs@v1 -o "$TMP/od/stream" &&
	grep -q "authentication failed" "$TMP/err" &&
	test -z "$(ls -A "$TMP/od")" &&
	repo_rm "$C" "$p" &&
	expect_fail zc restore pool/fs@v1 -o "$TMP/od/stream" &&
	test -z "$(ls -A "$TMP/od")" &&
	expect_fail zc restore pool/fs@nope -o "$TMP/od/stream" &&
	test -z "$(ls -A "$TMP/od")"
'

test_expect_success 'restore -o that fails with --force leaves the old file as it was' '
	fresh && p=$(one data) && cflip "$p" 5000 1 &&
	mkdir -p "$TMP/of" && echo old >"$TMP/of/stream" &&
	expect_fail zc restore --force pool/fs@v1 -o "$TMP/of/stream" &&
	echo old | cmp - "$TMP/of/stream" &&
	test "$(ls -A "$TMP/of")" = stream
'

test_expect_success 'restore -o into a directory that does not exist' '
	expect_fail z restore pool/fs@v1 -o "$TMP/no/dir/stream" &&
	grep -q "no/dir" "$TMP/err" && test ! -e "$TMP/no"
'

test_expect_success 'restore -o onto an existing file refuses without --force' '
	echo precious >"$TMP/keep" &&
	expect_fail z restore pool/fs@v1 -o "$TMP/keep" &&
	grep -q "exists" "$TMP/err" && grep -q -- "--force" "$TMP/err" &&
	echo precious | cmp - "$TMP/keep" &&
	test -z "$(ls -A "$TMP" | grep "zbak-")"
'

# --- key passwd -------------------------------------------------------------

test_expect_success 'key passwd: the old passphrase fails (exit 12), the new one works' '
	state "$R" | grep -v " ./keys\$" >before &&
	ZBAK_NEW_PASSPHRASE="battery staple" z key passwd >out &&
	grep -q "passphrase changed" out &&
	z ls >/dev/null 2>"$TMP/err"; test $? -eq 12 &&
	grep -q "wrong passphrase" "$TMP/err" &&
	ZBAK_PASSPHRASE="battery staple" z ls >out && grep -q "pool/fs" out &&
	ZBAK_PASSPHRASE="battery staple" z restore pool/fs@v1 | cmp - "$TMP/s1" &&
	ZBAK_PASSPHRASE="battery staple" z verify --read-data >/dev/null &&
	state "$R" | grep -v " ./keys\$" | cmp - before
'

test_expect_success 'key passwd with --new-passphrase-file, and back' '
	printf "third one\n" >"$TMP/np" && chmod 600 "$TMP/np" &&
	ZBAK_PASSPHRASE="battery staple" z key passwd --new-passphrase-file "$TMP/np" >/dev/null &&
	ZBAK_PASSPHRASE="battery staple" expect_fail z ls &&
	ZBAK_PASSPHRASE="third one" z restore pool/fs@v1 | cmp - "$TMP/s1" &&
	ZBAK_PASSPHRASE="third one" ZBAK_NEW_PASSPHRASE="correct horse" z key passwd >/dev/null &&
	z restore pool/fs@v1 | cmp - "$TMP/s1"
'

test_expect_success 'key passwd refuses an empty new passphrase and changes nothing' '
	state "$R" >before &&
	ZBAK_NEW_PASSPHRASE= expect_fail z key passwd </dev/null &&
	grep -q "empty" "$TMP/err" &&
	state "$R" | cmp - before
'

test_done
