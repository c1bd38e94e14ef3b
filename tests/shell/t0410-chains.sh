#!/bin/bash
# Chains (docs/repository.md, libbackup/repo/chain.c): one rule for ls,
# restore, verify, forget, prune and the nightly job.  A full zfs send -R
# package of a dataset with history (its named substream is incremental
# from the snapshot before it, inside the package) has no parent: ls shows
# none, verify is content, forget drops the snapshot before it, and the
# package still restores whole.  An incremental package (-R -i) keeps its
# source.  A chain whose source is stored under another dataset's name
# (a copy, as a clone's origin is) is whole for verify, restore and the
# nightly job alike (no full forced); the same chain with that source gone
# is broken for restore (exit 3) and not whole for the nightly job (a full).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
PASS='correct horse battery'
export ZBAK_PASSPHRASE=$PASS
R=$TMP/repo
C=$TMP/copy
RS=$(cd "$(dirname "$0")/../lib" && pwd)/restream.pl
z() { "$ZBAK" -r "$R" "$@"; }
at() { echo $((1796090400 + ($1 - 1) * 86400)); }	# 2026-12-01T02:00:00Z
name() { date -u -d "@$(at "$1")" +zbak-%Y%m%dT%H%M%SZ; }
zb() { local conf=$1 n=$2; shift 2; ZBAK_NOW=$(at "$n") "$ZBAK" backup --config "$conf" "$@"; }
field() { # NAME KEY: the value in ls --json ("null" for none)
	z ls --json | perl -MJSON::PP -e '
		for (@{decode_json(do { local $/; <STDIN> })}) {
			print defined $_->{$ARGV[1]} ? $_->{$ARGV[1]} : "null", "\n"
				if $_->{name} eq $ARGV[0];
		}' "$1" "$2"
}
parent() { field "$1" parent; }
# offset of FILE's second BEGIN ("sub") or of its last record ("last")
cut_at() {
	perl "$RS" list "$1" | awk -v w="$2" '
		w == "sub" && $2 == 0 && $1 > 0 { print $3; exit }
		w == "last" { o = $3 } END { if (w == "last") print o }'
}
# package OUT HEADER SRC...: the package header of HEADER, the substreams
# of each SRC package in turn, HEADER's final END: what zfs send -R sends
# for a dataset with several snapshots
package() {
	local out=$1 h=$2 f s e
	shift 2
	head -c "$(cut_at "$h" sub)" "$h" >"$out" &&
	for f in "$@"; do
		s=$(cut_at "$f" sub) e=$(cut_at "$f" last)
		tail -c +"$((s + 1))" "$f" | head -c "$((e - s))" >>"$out" || return 1
	done &&
	tail -c +"$(($(cut_at "$h" last) + 1))" "$h" >>"$out"
}

test_expect_success 'setup: a repository; a full -R package with history' '
	z init >/dev/null &&
	g="--name tank/c --objects 2 --size 100K" &&
	"$ZBAK" debug gen $g --version 1 -o s1 &&
	"$ZBAK" debug gen $g --compound --version 1 -o p1 &&
	"$ZBAK" debug gen $g --compound --version 2 --from 1 -o p2i &&
	"$ZBAK" debug gen $g --compound --version 2 -o p2h &&
	package full p2h p1 p2i &&
	"$ZBAK" inspect full >info &&
	grep -q "compound package (zfs send -R/-p) for tank/c@v2, 4 substreams" info &&
	z push --name tank/c@v1 s1 >/dev/null &&
	z push full >/dev/null
'

test_expect_success 'ls: the full package has no parent, though its fromguid names v1' '
	test "$(parent tank/c@v2)" = null &&
	test "$(field tank/c@v2 fromguid)" = "$(field tank/c@v1 toguid)" &&
	z ls >out &&
	grep -Eq "^  v2 +- " out &&
	z verify >/dev/null
'

test_expect_success 'forget drops the snapshot before the package; the package restores whole' '
	z forget tank/c@v1 >out &&
	test "$(names)" = "tank/c@v2" &&
	z verify >/dev/null &&
	z restore tank/c@v2 --to $P/r >out &&
	grep -q "received tank/c@v2 (package) into $P/r" out &&
	test "$(ds_snaps $P/r)" = "v1 v2 " &&
	test "$(ds_snaps $P/r/child)" = "v1 v2 "
'

test_expect_success 'an incremental package (-R -i) keeps its source' '
	z push --name tank/i@v1 p1 >/dev/null &&
	z push --name tank/i@v2 p2i >/dev/null &&
	test "$(parent tank/i@v2)" = tank/i@v1 &&
	! z forget tank/i@v1 2>err &&
	grep -q "cannot forget tank/i@v1: tank/i@v2, which stays, is incremental from it" err &&
	z restore tank/i@v2 --to $P/ri >out &&
	grep -q "^receiving 2 streams into $P/ri" out &&
	test "$(ds_snaps $P/ri)" = "v1 v2 "
'

CONF=$TMP/zbak.conf
CONF2=$TMP/zbak-copy.conf
conf() { # FILE REPOSITORY
	cat >"$1" <<EOF
[zbak]
repository = $2
passphrase_file = $TMP/pass
lock_file = $TMP/run/lock/zbak.lock
lock_wait = 3

[job data]
datasets = $P/data
full_every_days = 30
EOF
}

test_expect_success 'a source stored under another name: whole for verify, restore and the job' '
	printf "%s\n" "$PASS" >"$TMP/pass" && chmod 600 "$TMP/pass" &&
	conf "$CONF" "$R" && conf "$CONF2" "$C" &&
	ds_create $P/data &&
	head -c 150000 /dev/urandom | ds_write $P/data 2 0 &&
	zb "$CONF" 1 >out && grep -q "^stored $P/data@$(name 1): full" out &&
	head -c 50000 /dev/urandom | ds_write $P/data 3 0 &&
	zb "$CONF" 2 >out &&
	grep -q "^stored $P/data@$(name 2): incremental from @$(name 1)" out &&
	z restore $P/data@$(name 1) -o n1 &&
	z push --name other/data@n1 n1 >/dev/null &&
	z forget $P/data@$(name 1) >/dev/null &&
	test "$(parent $P/data@$(name 2))" = other/data@n1 &&
	z verify >/dev/null &&
	z restore $P/data@$(name 2) --to $P/back >out &&
	grep -q "^receiving 2 streams into $P/back" out &&
	head -c 50000 /dev/urandom | ds_write $P/data 4 0 &&
	zb "$CONF" 3 >out &&
	grep -q "^stored $P/data@$(name 3): incremental from @$(name 2)" out
'

test_expect_success 'that source gone: broken for restore (exit 3), not whole for the job' '
	rm -rf "$C" && cp -a "$R" "$C" &&
	rm "$C/snapshots/other/data@n1" &&
	export ZBAK_STATE_DIR=$TMP/state-copy &&
	"$ZBAK" -r "$C" restore $P/data@$(name 3) --to $P/hole >out 2>err; rc=$?
	cat err
	test $rc -eq 3 &&
	grep -q "the chain of $P/data@$(name 3) is broken: $P/data@$(name 2) is incremental from guid" err &&
	! "$ZBAK" -r "$C" verify >out 2>&1 &&
	grep -q "$P/data@$(name 2): chain broken" out &&
	head -c 50000 /dev/urandom | ds_write $P/data 5 0 &&
	zb "$CONF2" 4 >out &&
	grep -q "^stored $P/data@$(name 4): full (the chain of $P/data@$(name 3) is not whole in the repository)" out
'

test_done
