#!/bin/bash
# zbak files where there is no ZFS and no file system it can read: usage
# errors, a dataset that is not a file system (the stream generator's
# objects), a missing snapshot, and the OpenZFS fixtures of
# ../shared/streams (ZPL 5 file systems in both byte orders: the master
# node is read, then the files are refused naming system attributes).
# The comparison with real file systems is t0720 (zfs-fuse).
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
unset ZBAK_REPO
zf() { "$ZBAK" files "$@"; }
# status COMMAND...: its exit status (stdout to $TMP/stdout, stderr to $TMP/err)
status() { "$@" >"$TMP/stdout" 2>"$TMP/err"; echo $?; }

test_expect_success 'usage errors exit 2' '
	test "$(status zf)" = 2 &&
	test "$(status zf frobnicate)" = 2 &&
	test "$(status zf ls)" = 2 &&
	test "$(status zf cat --pool t/x@s)" = 2 &&
	test "$(status zf extract --pool t/x@s)" = 2 && grep -q -- --target "$TMP/err" &&
	test "$(status zf ls --bogus t/x@s)" = 2
'

test_expect_success 'a dataset that is not a file system, a missing snapshot' '
	"$ZBAK" pool create t &&
	"$ZBAK" debug gen --objects 3 --blocksize 4096 | "$ZBAK" pool recv t/gen &&
	snap=$("$ZBAK" pool list -H -o name -t snapshot -r t/gen | head -1) &&
	test "$(status zf ls --pool "$snap" /)" = 3 &&
	grep -q "not a file system" "$TMP/err" &&
	test "$(status zf ls --pool t/gen@nothing /)" != 0 &&
	grep -q nothing "$TMP/err" &&
	test "$(status zf extract --pool -t out "$snap")" = 3 &&
	test -z "$(ls -A out)"
'

if [ -d "$SHARED_STREAMS/zsend" ]; then
	test_expect_success 'OpenZFS fixtures: ZPL 5 named as not read yet, both byte orders' '
		for f in little-endian-all-drr-types-base-NATIVE big-endian-all-drr-types-base-NATIVE; do
			"$ZBAK" pool recv t/$f <"$SHARED_STREAMS/zsend/$f.zsend" &&
			snap=$("$ZBAK" pool list -H -o name -t snapshot -r t/$f | head -1) &&
			test "$(status zf ls --pool "$snap" /)" = 1 &&
			grep -q "system attributes (ZPL 5)" "$TMP/err" || return 1
		done
	'
else
	test_skip 'OpenZFS fixtures: ZPL 5 named as not read yet, both byte orders' \
		"no $SHARED_STREAMS"
fi

test_done
