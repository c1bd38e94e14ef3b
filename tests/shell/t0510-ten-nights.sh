#!/bin/bash
# Ten simulated nights (ZBAK_NOW moves a day at a time; the local pool dates
# its snapshots by it too) of `zbak backup` and `zbak prune`, with the zfs
# stand-in over the local pool (and again on zfs-fuse, a real ZFS, with
# ZBAK_TEST_ZFS=fuse: tests/lib/zfs.sh), a dataset and a child (recursive), data
# changing between nights, a full stream after every 3 incrementals and
# keep_last = 3.  Night 6 the repository is gone (an unmounted disk): the
# job fails cleanly (exit 1, nothing stored, no snapshot left, the metrics
# say failed) and a local pruner destroys old snapshots, all but the held
# base; night 7 catches up incrementally from that base.  Prune forgets
# whole chains only, once no kept snapshot needs them (--dry-run says why
# each one stays).  At the end every kept snapshot is received with
# `zbak restore --to` into a fresh dataset and equals the original, and
# `zbak verify --read-data` passes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0 ZBAK_GC_MARGIN=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG ZBAK_NOW ZBAK_PASSPHRASE ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
# restores go to the local pool, or to zfs-fuse's zfs receive
# and send_flags are the default's (zfs-fuse's send takes none of them)
RECEIVER=local SEND_CONF="send_flags = -c -L -e"
zt_fuse && RECEIVER=zfs SEND_CONF=
R=$TMP/repo
CONF=$TMP/zbak.conf
z() { "$ZBAK" --passphrase-file "$TMP/pass" -r "$R" "$@"; }
# night 1 is tomorrow at 02:00 UTC: never before the real clock, by which
# zfs-fuse dates its snapshots (prune judges no snapshot made after "now")
T0=$((($(date +%s) / 86400 + 1) * 86400 + 7200))
at() { echo $((T0 + ($1 - 1) * 86400)); }
name() { date -u -d "@$(at "$1")" +zbak-%Y%m%dT%H%M%SZ; }
night() { # N: change the data, then back up and prune at that night's time
	local n=$1
	head -c 40000 /dev/urandom | ds_write $P/data 2 $((n * 65536)) &&
	seq $n 5000 | ds_write $P/data 3 0 16384 &&
	head -c 10000 /dev/urandom | ds_write $P/data/sub 2 $((n * 8192)) &&
	if [ $((n % 4)) = 0 ]; then ds_free $P/data 2 65536 65536; fi &&
	ZBAK_NOW=$(at "$n") "$ZBAK" backup --config "$CONF" >"$TMP/backup.$n" 2>&1 &&
	ZBAK_NOW=$(at "$n") "$ZBAK" prune --config "$CONF" >"$TMP/prune.$n" 2>&1
}
stored() { names | sed -n "s|^$1@||p" | tr '\n' ' '; }
nights() { local n s=; for n in "$@"; do s="$s$(name "$n") "; done; echo "$s"; }
metric() { sed -n "s|^zbak_backup_$1{job=\"nightly\",dataset=\"$2\"} ||p" "$TMP/zbak.prom"; }

test_expect_success 'setup: a dataset with a child, a repository, the config' '
	ds_create $P/data $P/data/sub &&
	head -c 300000 /dev/urandom | ds_write $P/data 2 0 &&
	head -c 50000 /dev/urandom | ds_write $P/data/sub 2 0 &&
	echo "a passphrase for ten nights" >"$TMP/pass" && chmod 600 "$TMP/pass" &&
	z init >/dev/null &&
	cat >"$CONF" <<-EOF
	[zbak]
	repository = $R
	passphrase_file = $TMP/pass
	lock_file = $TMP/zbak.lock
	metrics_file = $TMP/zbak.prom
	[job nightly]
	datasets = $P/data
	recursive = yes
	$SEND_CONF
	full_every = 3
	keep_last = 3
	EOF
'

test_expect_success 'nights 1 to 5: a full, three incrementals, a full' '
	for n in 1 2 3 4 5; do night $n || { cat "$TMP/backup.$n" "$TMP/prune.$n"; return 1; }; done &&
	grep -q "^stored $P/data@$(name 1): full" "$TMP/backup.1" &&
	grep -q "^stored $P/data/sub@$(name 4): incremental from @$(name 3)" "$TMP/backup.4" &&
	grep -q "^stored $P/data@$(name 5): full (full_every = 3: 3 incrementals since the full $P/data@$(name 1))" "$TMP/backup.5" &&
	test "$(stored $P/data)" = "$(nights 1 2 3 4 5)" &&
	test "$(stored $P/data/sub)" = "$(nights 1 2 3 4 5)" &&
	grep -q "^keep   $P/data@$(name 1) (needed by $P/data@$(name 2))" "$TMP/prune.5" &&
	grep -q "^\[job nightly\]: nothing to forget" "$TMP/prune.5" &&
	test "$(ds_holds "$P/data@$(name 5)")" = "zbak " &&
	test "$(ds_holds "$P/data@$(name 4)")" = ""
'

test_expect_success 'night 6: the repository is gone; exit 1, nothing left behind' '
	names >before &&
	mv "$R" "$R.unmounted" &&
	ZBAK_NOW=$(at 6) "$ZBAK" backup --config "$CONF" >out 2>err; rc=$? &&
	ZBAK_NOW=$(at 6) "$ZBAK" prune --config "$CONF" >pout 2>perr; prc=$? &&
	mv "$R.unmounted" "$R" &&
	cat err perr &&
	test $rc = 1 && test $prc = 1 &&
	grep -q "\[job nightly\] $P/data failed: no repository at $R" err &&
	! zfs list -H -o name -t snapshot -r $P | grep -q "$(name 6)" &&
	names >after && cmp before after &&
	test "$(metric status $P/data)" = 0 &&
	test "$(metric last_success_timestamp_seconds $P/data)" = "$(at 5)" &&
	test "$(metric last_run_timestamp_seconds $P/data)" = "$(at 6)"
'

test_expect_success 'night 6: a local pruner destroys old snapshots, not the held base' '
	for n in 1 2 3 4; do
		zfs destroy "$P/data@$(name $n)" &&
		zfs destroy "$P/data/sub@$(name $n)" || return 1
	done &&
	expect_fail zfs destroy "$P/data@$(name 5)" &&
	grep -q "$HELD_MSG" "$TMP/err" &&
	expect_fail zfs destroy -r "$P/data@$(name 5)" &&
	test "$(ds_snaps $P/data)" = "$(name 5) "
'

test_expect_success 'night 7 catches up from the newest stored snapshot' '
	night 7 || { cat "$TMP/backup.7" "$TMP/prune.7"; return 1; } &&
	grep -q "^stored $P/data@$(name 7): incremental from @$(name 5)" "$TMP/backup.7" &&
	grep -q "^stored $P/data/sub@$(name 7): incremental from @$(name 5)" "$TMP/backup.7" &&
	test "$(metric status $P/data)" = 1 &&
	test "$(metric last_success_timestamp_seconds $P/data)" = "$(at 7)" &&
	test "$(ds_holds "$P/data@$(name 5)")" = "" &&
	test "$(ds_holds "$P/data@$(name 7)")" = "zbak "
'

test_expect_success 'prune --dry-run: what would go and why the others stay' '
	ZBAK_NOW=$(at 8) "$ZBAK" backup --config "$CONF" >/dev/null &&
	names >before &&
	ZBAK_NOW=$(at 8) "$ZBAK" prune --config "$CONF" --dry-run >out &&
	cat out &&
	names >after && cmp before after &&
	grep -q "^would forget $P/data@$(name 1)$" out &&
	grep -q "^would forget $P/data/sub@$(name 4)$" out &&
	grep -q "^keep   $P/data@$(name 8) (last)$" out &&
	grep -q "^keep   $P/data@$(name 7) (last, needed by $P/data@$(name 8))$" out &&
	grep -q "^keep   $P/data@$(name 5) (last, needed by $P/data@$(name 7))$" out &&
	ZBAK_NOW=$(at 8) "$ZBAK" prune --config "$CONF" --dry-run --json >out.json &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		die unless \$j->{ok} && \$j->{dry_run} && @{\$j->{datasets}} == 2;
		my (\$d) = grep { \$_->{dataset} eq q($P/data) } @{\$j->{datasets}};
		my @gone = grep { !\$_->{keep} } @{\$d->{snapshots}};
		die scalar(@gone) unless @gone == 4;
	" <out.json
'

test_expect_success 'night 8 prune: the first chain goes whole' '
	ZBAK_NOW=$(at 8) "$ZBAK" prune --config "$CONF" >out &&
	cat out &&
	grep -q "^\[job nightly\]: forgot 8 snapshots" out &&
	grep -q "^gc $R: " out &&
	test "$(stored $P/data)" = "$(nights 5 7 8)" &&
	test "$(stored $P/data/sub)" = "$(nights 5 7 8)"
'

test_expect_success 'nights 9 and 10; what stays is what retention keeps' '
	for n in 9 10; do night $n || { cat "$TMP/backup.$n" "$TMP/prune.$n"; return 1; }; done &&
	grep -q "^stored $P/data@$(name 10): full (full_every = 3" "$TMP/backup.10" &&
	test "$(stored $P/data)" = "$(nights 5 7 8 9 10)" &&
	test "$(stored $P/data/sub)" = "$(nights 5 7 8 9 10)" &&
	grep -q "^keep   $P/data@$(name 5) (needed by $P/data@$(name 7))" "$TMP/prune.10"
'

test_expect_success 'every kept snapshot restores into a fresh dataset, equal to the original' '
	i=0 &&
	for s in $(names); do
		i=$((i + 1)) &&
		ds=${s%@*} && snap=${s#*@} &&
		target=$P/restored$i &&
		z -q restore "$s" --to "$target" --receiver $RECEIVER &&
		ds_same "$s" "$target@$snap" || return 1
	done &&
	test $i = 10
'

test_expect_success 'verify --read-data passes after the prunes' '
	z verify --read-data >out && cat out
'

test_done
