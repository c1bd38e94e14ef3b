#!/bin/bash
# zbak files where there is no ZFS and no file system it can read: usage
# errors, a dataset that is not a file system (the stream generator's
# objects), a missing snapshot, and the OpenZFS fixtures of
# ../shared/streams (ZPL 5 file systems in both byte orders, read through
# their system attributes and spill blocks).
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
	test "$(status zf cat --pool t/x@s)" = 1 && grep -q "no local pool" "$TMP/err" &&
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

# FILE: one "path:type:size:mode:links:object:mtime" line per entry of
# an ls --json (perl's JSON::PP: packaging/deps.sh)
jlines() {
	perl -MJSON::PP -e 'for my $e (@{decode_json(do { local $/; <STDIN> })}) {
		print join(":", @$e{qw(path type size mode links object mtime)}), "\n" }' <"$1"
}

# What OpenZFS's test wrote (its golden `zstream dump`: a root directory,
# object 34, of five files: three with spill blocks, one 11-byte file in
# an embedded block, and one whose only block is redacted), read through
# the system attributes of each byte order; the three files' xattrs are
# in ZPL_DXATTR in their spill blocks.
if [ -d "$SHARED_STREAMS/zsend" ]; then
	test_expect_success 'OpenZFS fixtures: ZPL 5 files listed and read, both byte orders' '
		while read -r f want; do
			"$ZBAK" pool recv t/$f <"$SHARED_STREAMS/zsend/$f.zsend" &&
			snap=$("$ZBAK" pool list -H -o name -t snapshot -r t/$f | head -1) &&
			zf ls --pool --json -R "$snap" / >ls.json &&
			got=$(jlines ls.json | cut -d: -f1-5 | tr "\n" " ") &&
			test "$got" = "$want " &&
			jlines ls.json | head -1 | grep -q "^/:dir:.*:34:17749" &&
			test "$(zf cat --pool "$snap" /small)" = "very small" &&
			jlines ls.json | awk -F: "\$2 == \"file\" && \$3 > 11 { print \$1, \$3 }" >big &&
			test "$(wc -l <big)" = 3 &&
			while read -r p size; do
				zf cat --pool "$snap" "$p" >c &&
				test "$(wc -c <c)" = "$size" &&
				! LC_ALL=C grep -q "[^ -~[:space:]]" c || return 1
			done <big &&
			# the xattrs OpenZFS wrote into the spill blocks: 1024
			# bytes of values on each of the three files
			zf ls --pool --json -R "$snap" / | perl -MJSON::PP -e "
				for my \$e (@{decode_json(do { local \$/; <STDIN> })}) {
					my (\$n, \$t) = (0, 0);
					for (@{\$e->{xattrs} || []}) {
						\$n++; \$t += \$_->{size};
						die unless \$_->{name} =~ /^user\\.[a-z]+-[a-z]+\$/;
					}
					print \$t == 1024 && \$n > 8 ? qq{x\\n} : \$n ? qq{?\\n} : qq{-\\n};
				}" >x &&
			test "$(sort x | uniq -c | tr -s " " | tr "\n" ,)" = " 3 -, 3 x," &&
			test "$(status zf cat --pool "$snap" /to-be-redacted)" = 1 &&
			grep -q redacted "$TMP/err" &&
			# a file system (not a volume): cat needs a PATH
			test "$(status zf cat --pool "$snap")" = 2 &&
			grep -q "a volume alone needs none" "$TMP/err" || return 1
		done <<-EOF
		little-endian-all-drr-types-base-NATIVE /:dir:7:493:2 /frisky-juggle:file:6635:420:1 /small:file:11:420:1 /spunky-bubble:file:2537:420:1 /to-be-redacted:file:9:256:1 /zippy-gibbet:file:22774:420:1
		big-endian-all-drr-types-base-NATIVE /:dir:7:493:2 /feisty-cricket:file:16307:420:1 /frisky-pickle:file:21491:420:1 /small:file:11:420:1 /snazzy-frizzle:file:6859:420:1 /to-be-redacted:file:9:256:1
		EOF
	'
else
	test_skip 'OpenZFS fixtures: ZPL 5 files listed and read, both byte orders' \
		"no $SHARED_STREAMS"
fi

test_done
