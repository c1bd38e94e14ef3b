#!/bin/bash
# What whoever can write the storage can no longer do unseen
# (docs/repository.md, "Threat model"):
# - a forgotten snapshot put back (its manifest and recipe segments kept
#   from before the forget, the name pushed again since): every client
#   refuses it, a machine that never looked before too (forget records);
# - a snapshot deleted, that nothing depends on: a machine that saw it
#   refuses (ls, verify, restore, gc), one that never saw it cannot know;
# - an older key file put back after a passphrase change: the old
#   passphrase opens it, but a machine that saw the change refuses;
# each with exit 3 and a message naming it, and `zbak accept-changes`
# to accept a change that was the user's own;
# - forget goes dependents first: interrupted, it never leaves an
#   incremental without its source, and the same forget again finishes.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN
export ZBAK_STATE_DIR=$TMP/state
repo_new
z() { "$ZBAK" -r "$REPO" "$@"; }
fresh() { ZBAK_STATE_DIR=$TMP/fresh-$RANDOM "$ZBAK" -r "$REPO" "$@"; }
gen() { "$ZBAK" debug gen --objects 3 --blocksize 65536 "$@"; }
# status COMMAND...: its exit status; stdout in $TMP/out, stderr in $TMP/err
status() { "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }
manifest() { repo_keys "$REPO" snapshots/ | cut -d" " -f2- | grep -F "$1"; }

test_expect_success 'setup: a chain of three, and two single snapshots' '
	z init >/dev/null &&
	gen --version 1 >v1 && gen --version 2 --from 1 >v2 && gen --version 3 --from 2 >v3 &&
	for v in v1 v2 v3; do z -q push $v || return 1; done &&
	gen --name keep/fs --seed 4 | z -q push - &&
	gen --name lone/fs --seed 5 | z -q push - &&
	z ls >/dev/null
'

test_expect_success 'a forgotten snapshot put back: never used, exit 3 where it would be' '
	repo_keys "$REPO" recipes/ | cut -d" " -f2- >segs.before &&
	gen --name back/fs --seed 6 >old && z -q push old &&
	key=$(manifest back/fs@v1) &&
	repo_get "$REPO" "$key" >old.manifest &&
	repo_keys "$REPO" recipes/ | cut -d" " -f2- | grep -v -x -F -f segs.before >segs.old &&
	i=0 && while read -r seg; do
		i=$((i + 1)); repo_get "$REPO" "$seg" >"seg.$i" || return 1
	done <segs.old &&
	z forget back/fs@v1 >/dev/null &&
	gen --name back/fs --seed 7 >new && z -q push new &&
	repo_put "$REPO" "$key" <old.manifest &&
	i=0 && while read -r seg; do
		i=$((i + 1)); repo_put "$REPO" "$seg" <"seg.$i" || return 1
	done <segs.old &&
	test "$(status z restore back/fs@v1 -o back.zs)" = 3 &&
	cat "$TMP/err" &&
	grep -q "$key was forgotten 20.* UTC on .*: its manifest is a leftover of a forget that did not finish, or an old one put back, and is not used" "$TMP/err" &&
	test ! -e back.zs &&
	test "$(status z ls)" = 3 &&
	grep -q "$key holds another manifest than the one this machine saw there, which was never forgotten" "$TMP/err" &&
	test "$(status z verify)" = 3 &&
	test "$(status fresh ls)" = 0 &&
	grep -q "warning: $key was forgotten .*, but its manifest is there" "$TMP/err" &&
	! grep -q back/fs "$TMP/out"
'

test_expect_success 'accept-changes shows the change and accepts it; forget removes the leftover' '
	z accept-changes >out && cat out &&
	grep -q "^accepted: .*back/fs@v1 holds another manifest" out &&
	grep -q "^1 change accepted: this machine takes the repository as it is now" out &&
	test "$(status z ls)" = 0 && ! grep -q back/fs "$TMP/out" &&
	test "$(status z restore back/fs@v1 -o back.zs)" = 3 &&
	z accept-changes >out && grep -q "^nothing to accept" out &&
	z forget back/fs@v1 >out && cat out && grep -q "^forgot 1 snapshot" out &&
	test "$(status fresh ls)" = 0 && test ! -s "$TMP/err"
'

test_expect_success 'a snapshot deleted behind zbak'"'"'s back: this machine refuses, exit 3' '
	key=$(manifest lone/fs@v1) &&
	repo_rm "$REPO" "$key" &&
	for cmd in ls verify gc; do
		test "$(status z $cmd)" = 3 || { echo "$cmd: not 3"; cat "$TMP/err"; return 1; }
		grep -q "$key, which this machine saw, is gone without a zbak forget" "$TMP/err" || return 1
	done &&
	test "$(status z restore keep/fs@v1 --to x/y --receiver local)" != 0 &&
	test "$(status fresh ls)" = 0
'

test_expect_success 'accepted, it is forgotten by this machine too' '
	z accept-changes >out && grep -q "^accepted: $(manifest keep/fs@v1 | sed "s/keep/lone/") \|^accepted: snapshots/lone" out &&
	test "$(status z ls)" = 0
'

test_expect_success 'an older key file put back: the old passphrase opens it, this machine refuses' '
	repo_get "$REPO" keys >keys.old &&
	ZBAK_NEW_PASSPHRASE=new z key passwd >/dev/null &&
	ZBAK_PASSPHRASE=new z ls >/dev/null &&
	repo_put "$REPO" keys <keys.old &&
	test "$(status z ls)" = 3 &&
	grep -q "the key file is of generation 0, but this machine saw generation 1: an older key file was put back" "$TMP/err" &&
	test "$(status z push --name keep/fs@again v1)" = 3 &&
	test "$(status fresh ls)" = 0 &&
	z accept-changes >out && grep -q "^accepted: the key file is of generation 0" out &&
	z ls >/dev/null
'

if ! is_s3 && chattr_test=$(mktemp "$TMP/chattr.XXXXXX") && chattr +i "$chattr_test" 2>/dev/null; then
	chattr -i "$chattr_test"
	manifest_path() { echo "$REPO/$(manifest "$1")"; }
	test_expect_success 'forget goes dependents first: stopped at any point, no incremental loses its source' '
		f=$(manifest_path pool/fs@v3) && chattr +i "$f" &&
		status z forget pool/fs@v1 pool/fs@v2 pool/fs@v3 >/dev/null; chattr -i "$f"
		cat "$TMP/err" &&
		test "$(names | grep "^pool/fs@" | tr "\n" " ")" = "pool/fs@v1 pool/fs@v2 " &&
		test "$(status z verify)" = 3 &&
		grep -q "pool/fs@v3 was forgotten, but its manifest is there: a forget that did not finish" "$TMP/err" &&
		! grep -q "chain broken" "$TMP/err" &&
		f=$(manifest_path pool/fs@v1) && chattr +i "$f" &&
		test "$(status z forget pool/fs@v1 pool/fs@v2 pool/fs@v3)" != 0; chattr -i "$f"
		cat "$TMP/err" &&
		! names | grep -q "^pool/fs@" &&
		test "$(status z verify)" = 3 && ! grep -q "chain broken" "$TMP/err"
	'
	test_expect_success 'the same forget again finishes the job' '
		z forget pool/fs@v1 pool/fs@v2 pool/fs@v3 >out && cat out &&
		grep -q "^2 of them forgotten already" out &&
		grep -q "^forgot 1 snapshot" out &&
		! names | grep -q "^pool/fs@" &&
		z verify >/dev/null &&
		test "$(status z forget pool/fs@nonesuch)" = 1 &&
		grep -q "no snapshot pool/fs@nonesuch in the repository" "$TMP/err"
	'
else
	test_skip 'forget goes dependents first' "needs a directory repository where chattr +i works (to stop a forget half way)"
fi

test_done
