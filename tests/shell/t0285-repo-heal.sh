#!/bin/bash
# A repository that lost or broke something heals, or says exactly what is
# broken (docs/repository.md, "Push", "Index", "Repair"):
# - a push never trusts the index alone: after a pack is deleted, a push of
#   data it held stores those chunks again (it has them in hand), so the
#   new snapshot restores, and so does the old one that needed them;
# - one index object that does not open is skipped with a warning naming
#   it: restore, push, gc go on from the packs themselves; verify counts
#   it; zbak repair writes a new index;
# - on S3, a damaged copy in the local cache is told from a damaged
#   object, blamed, and mended;
# - a gc/pending that does not open is set aside with a warning;
# - zbak repair names the snapshots that are broken (exit 3), with what
#   heals them; repair --read-data leaves damaged chunks out, and pushing
#   the same data again makes every snapshot whole.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN
repo_new
z() { "$ZBAK" -r "$REPO" "$@"; }
gen() { "$ZBAK" debug gen --objects 4 --blocksize 65536 "$@"; }
# status COMMAND...: its exit status; stdout in $TMP/out, stderr in $TMP/err
status() { "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }
packs() { repo_keys "$REPO" data/ | cut -d" " -f2-; }

test_expect_success 'setup: two snapshots in their own packs' '
	z init >/dev/null &&
	gen --name a/fs --seed 1 >a && z -q push a &&
	packs >packs.a &&
	gen --name b/fs --seed 2 >b && z -q push b &&
	test "$(packs | wc -l)" = 2
'

test_expect_success 'a pack deleted: a push of its data stores it again, both snapshots restore' '
	repo_rm "$REPO" "$(cat packs.a)" &&
	test "$(status z restore a/fs@v1 -o x)" = 3 &&
	grep -q "pack data/.* is missing" "$TMP/err" &&
	z push --name a/fs@again a >out && cat out &&
	grep -E -q "chunks \(([1-9][0-9]*) new\)" out && ! grep -q "100.0% of the data already stored" out &&
	z restore a/fs@again -o again && cmp again a &&
	z restore a/fs@v1 -o healed && cmp healed a &&
	z verify >/dev/null
'

test_expect_success 'an index object that does not open: a warning, the rest goes on' '
	key=$(repo_keys "$REPO" index/ | head -1 | cut -d" " -f2-) &&
	repo_flip "$REPO" "$key" 40 &&
	rm -rf "$ZBAK_CACHE_DIR" &&
	test "$(status z restore b/fs@v1 -o rb)" = 0 && cmp rb b &&
	grep -q "warning: $key does not open (.*): skipped; the chunks it listed are found from the packs themselves (.zbak repair. writes a new index)" "$TMP/err" &&
	gen --name b/fs --seed 2 --version 2 --from 1 | z -q push - &&
	test "$(status z verify)" = 3 &&
	grep -q "$key does not open" "$TMP/err" &&
	ZBAK_GC_MARGIN=0 z gc >/dev/null 2>err && grep -q "warning: $key does not open" err &&
	z verify >/dev/null && z restore b/fs@v1 -o rb2 && cmp rb2 b
'

if is_s3; then
	test_expect_success 'on S3, a damaged copy in the local cache: the cache is blamed and mended' '
		z ls >/dev/null && rm -rf "$ZBAK_CACHE_DIR" && z -q restore a/fs@v1 >/dev/null &&
		f=$(find "$ZBAK_CACHE_DIR" -path "*/index/*" -type f | head -1) &&
		test -n "$f" &&
		flip_byte "$f" 50 &&
		test "$(status z restore a/fs@v1 -o rc)" = 0 && cmp rc a &&
		grep -q "warning: the local cache.s copy of index/.* was damaged (.*): the cache was at fault, not the repository; copy replaced" "$TMP/err" &&
		test "$(status z restore a/fs@v1 -o rc2)" = 0 && test ! -s "$TMP/err"
	'
else
	test_skip 'on S3, a damaged copy in the local cache' "S3 only: a directory repository has no cache"
fi

test_expect_success 'a gc/pending that does not open is set aside, with a warning' '
	gen --name c/fs --seed 3 | z -q push - && z forget c/fs@v1 >/dev/null &&
	z gc >/dev/null &&
	repo_has "$REPO" gc/pending &&
	repo_flip "$REPO" gc/pending 30 &&
	z gc >out 2>err; rc=$?
	cat err && test $rc = 0 &&
	grep -q "warning: gc/pending did not open (.*): set aside; garbage counts from now" err &&
	ZBAK_GC_MARGIN=0 z gc >/dev/null && ! repo_has "$REPO" gc/pending
'

test_expect_success 'repair: a new index; a snapshot that lost a pack is named broken, exit 3' '
	gen --name d/fs --seed 4 >d && z -q push d &&
	packs >packs.before && gen --name e/fs --seed 5 >e && z -q push e &&
	repo_rm "$REPO" "$(packs | grep -v -x -F -f packs.before)" &&
	test "$(status z repair)" = 3 && cat "$TMP/out" "$TMP/err" &&
	grep -E -q "^broken: e/fs@v1: ([0-9]+) of its \1 chunks are in no pack; push the same stream again" "$TMP/out" &&
	grep -q "^repair: .* index objects [0-9]* -> 1; .* snapshots, 1 broken$" "$TMP/out" &&
	test "$(repo_count "$REPO" index/)" = 1 &&
	z -q push --name e/fs@again e &&
	z repair >out && cat out && grep -q ", 0 broken$" out &&
	z restore e/fs@v1 -o re && cmp re e
'

test_expect_success 'repair --read-data leaves damaged chunks out; a push stores them again' '
	p=$(packs | head -1) &&
	repo_flip "$REPO" "$p" 200 &&
	test "$(status z repair --read-data)" = 3 && cat "$TMP/out" &&
	grep -q "^data/.*: a chunk at byte [0-9]* is damaged (.*): left out" "$TMP/out" &&
	grep -q "^broken: " "$TMP/out" &&
	for s in a b d e; do z -q push --name $s/fs@fix $s 2>/dev/null; done;
	z repair >out && cat out && grep -q ", 0 broken$" out
'

test_done
