#!/bin/bash
# zbak backup of snapshots another tool takes (snapshots = existing,
# snapshot_match), on the zfs stand-in and on zfs-fuse (ZBAK_TEST_ZFS=fuse:
# tests/lib/zfs.sh): config errors; sanoid-named snapshots made by `zfs
# snapshot` all sent in creation order, the first full and each next one
# incremental from the one before; snapshots that do not match ignored;
# a run with nothing new says so and succeeds; a later run sends only the
# new ones, incrementally from the newest stored; holds move as for zbak's
# own snapshots; recursive; a failed send destroys nothing (the snapshot
# is not zbak's) and stops the dataset, the next run catches up; the newest
# stored snapshot gone from the host: a full stream, said loudly; prune
# forgets in the repository only, the host's snapshots stay; globs for
# zfs-auto-snapshot's and zrepl's names.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
export ZBAK_PASSPHRASE='correct horse battery'
R=$TMP/repo
CONF=$TMP/zbak.conf
z() { "$ZBAK" -r "$R" "$@"; }
zb() { "$ZBAK" backup --config "$CONF" "$@"; }
holds() { ds_holds "$@"; }
snaps() { ds_snaps "$@"; }
# sanoid's names: autosnap_DATE_TIME_daily, _hourly
day() { printf "autosnap_2026-12-%02d_00:00:01_daily" "$1"; }
hour() { printf "autosnap_2026-12-%02d_01:00:01_hourly" "$1"; }
# a change, then a snapshot, as sanoid would take it
snap() { # DS NAME
	head -c 20000 /dev/urandom | ds_write "$1" 3 $((RANDOM % 8 * 4096)) &&
	zfs snapshot "$1@$2"
}
# the parent of each stored snapshot of DS, "name<parent" per line, oldest first
chain() {
	z ls --json | perl -MJSON::PP -e '
		for (@{decode_json(do { local $/; <STDIN> })}) {
			next unless $_->{dataset} eq $ARGV[0];
			my $p = $_->{parent} // q(-); $p =~ s/.*@//;
			print "$_->{snapshot}<$p\n";
		}' "$1"
}
write_conf() { # extra lines for [job sanoid] from stdin
	cat >"$CONF" <<-EOF
	[zbak]
	repository = $R
	lock_file = $TMP/zbak.lock
	lock_wait = 3

	[job sanoid]
	datasets = $P/data
	snapshots = existing
	snapshot_match = autosnap_*_daily
	$(cat)
	EOF
}

test_expect_success 'setup: a dataset with sanoid snapshots, a repository' '
	ds_create $P/data $P/data/sub &&
	head -c 150000 /dev/urandom | ds_write $P/data 2 0 &&
	head -c 50000 /dev/urandom | ds_write $P/data/sub 2 0 &&
	snap $P/data "$(day 1)" && snap $P/data "$(hour 1)" &&
	snap $P/data "$(day 2)" && snap $P/data "$(hour 2)" &&
	snap $P/data "$(day 3)" &&
	zfs snapshot $P/data@manual-before-upgrade &&
	z init >/dev/null &&
	write_conf </dev/null
'

test_expect_success 'config: existing needs snapshot_match, and the reverse; no prefix' '
	cp "$CONF" good.conf &&
	sed "/^snapshot_match/d" good.conf >"$CONF" &&
	expect_fail zb && test $(zb >/dev/null 2>&1; echo $?) = 2 &&
	grep -q "\[job sanoid\]: snapshots = existing needs snapshot_match" "$TMP/err" &&
	sed "/^snapshots = /d" good.conf >"$CONF" &&
	expect_fail zb &&
	grep -q "\[job sanoid\] snapshot_match: only with snapshots = existing" "$TMP/err" &&
	write_conf <<<"snapshot_prefix = x-" &&
	expect_fail zb &&
	grep -q "\[job sanoid\] snapshot_prefix: zbak takes no snapshot with snapshots = existing" "$TMP/err" &&
	sed "s/^snapshots = existing/snapshots = theirs/" good.conf >"$CONF" &&
	expect_fail zb &&
	grep -q "\[job sanoid\] snapshots: .theirs.: own (zbak takes a snapshot) or existing" "$TMP/err" &&
	sed "s|^snapshot_match = .*|snapshot_match = daily/x|" good.conf >"$CONF" &&
	expect_fail zb &&
	grep -q "\[job sanoid\] snapshot_match: .daily/x.: a pattern takes" "$TMP/err" &&
	cp good.conf "$CONF" &&
	test "$(z ls --json)" = "[]"
'

test_expect_success '--dry-run: every matching one, in order; nothing changes' '
	zt_state >before &&
	zb --dry-run >out &&
	cat out &&
	test "$(sed -n 1p out)" = "would back up $P/data@$(day 1): full (no snapshot of $P/data is stored yet)" &&
	test "$(sed -n 2p out)" = "would back up $P/data@$(day 2): incremental from @$(day 1)" &&
	test "$(sed -n 3p out)" = "would back up $P/data@$(day 3): incremental from @$(day 2)" &&
	test $(wc -l <out) = 3 &&
	zt_state >after && cmp before after &&
	test "$(z ls --json)" = "[]"
'

test_expect_success 'the first run: every matching snapshot, in order, no snapshot taken' '
	zfs list -H -o name -t snapshot -r $P | sort >before &&
	ZFS_LOG=$TMP/zfs.log zb >out &&
	cat out &&
	test "$(sed -n 1p out | cut -d, -f1)" = "stored $P/data@$(day 1): full (no snapshot of $P/data is stored yet)" &&
	test "$(sed -n 2p out | cut -d, -f1)" = "stored $P/data@$(day 2): incremental from @$(day 1)" &&
	test "$(sed -n 3p out | cut -d, -f1)" = "stored $P/data@$(day 3): incremental from @$(day 2)" &&
	test "$(chain $P/data | tr "\n" " ")" = "$(day 1)<- $(day 2)<$(day 1) $(day 3)<$(day 2) " &&
	! grep -q "^argv: snapshot" "$TMP/zfs.log" &&
	zfs list -H -o name -t snapshot -r $P | sort >after && cmp before after
'

test_expect_success 'snapshots that do not match are not sent' '
	! names | grep -q hourly &&
	! names | grep -q manual &&
	test "$(names | wc -l)" = 3
'

test_expect_success 'holds: the newest stored one is held, the older ones are not' '
	test "$(holds "$P/data@$(day 3)")" = "zbak " &&
	test "$(holds "$P/data@$(day 2)")" = "" &&
	test "$(holds "$P/data@$(day 1)")" = "" &&
	test "$(holds "$P/data@$(hour 2)")" = ""
'

test_expect_success 'nothing new: says so, exit 0, nothing changes' '
	zt_state >before &&
	zb >out &&
	cat out &&
	grep -q "^nothing to do for $P/data: no snapshot matching .autosnap_\*_daily. after $P/data@$(day 3), the newest stored$" out &&
	zb --json >out.json &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		die q(ok) unless \$j->{ok} && \$j->{exit} == 0;
		my (\$d) = @{\$j->{datasets}};
		die q(status) unless \$d->{status} eq q(skipped);
		die q(snapshot) if defined \$d->{snapshot};
	" <out.json &&
	zt_state >after && cmp before after
'

test_expect_success 'a missed week: the next run sends only the new ones, in order, incrementally' '
	snap $P/data "$(hour 3)" && snap $P/data "$(day 4)" &&
	snap $P/data "$(day 5)" && snap $P/data "$(hour 5)" &&
	snap $P/data "$(day 6)" &&
	ZFS_LOG=$TMP/zfs2.log zb --json >out &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		die q(ok) unless \$j->{ok} && \$j->{exit} == 0;
		my @d = @{\$j->{datasets}};
		die q(count) unless @d == 3;
		my @want = (q($(day 4)), q($(day 5)), q($(day 6)));
		my @base = (q($(day 3)), q($(day 4)), q($(day 5)));
		for my \$i (0..2) {
			die qq(snap \$i) unless \$d[\$i]{snapshot} eq qq($P/data\@\$want[\$i]);
			die qq(base \$i) unless \$d[\$i]{base} eq qq($P/data\@\$base[\$i]);
			die qq(kind \$i) unless \$d[\$i]{kind} eq q(incremental);
			die qq(status \$i) unless \$d[\$i]{status} eq q(ok);
		}
	" <out &&
	grep -q "^argv: send .*-i @$(day 3) $P/data@$(day 4)$" "$TMP/zfs2.log" &&
	grep -q "^argv: send .*-i @$(day 5) $P/data@$(day 6)$" "$TMP/zfs2.log" &&
	test "$(chain $P/data | tail -3 | tr "\n" " ")" = "$(day 4)<$(day 3) $(day 5)<$(day 4) $(day 6)<$(day 5) " &&
	test "$(holds "$P/data@$(day 6)")" = "zbak " &&
	for n in 1 2 3 4 5; do
		test "$(holds "$P/data@$(day $n)")" = "" || return 1
	done
'

test_expect_success 'the stored snapshots restore, and equal the originals' '
	z verify >/dev/null &&
	z restore "$P/data@$(day 6)" --to $P/restored >out &&
	ds_same "$P/data@$(day 6)" "$P/restored@$(day 6)" &&
	ds_same "$P/data@$(day 4)" "$P/restored@$(day 4)" &&
	ds_destroy $P/restored
'

# a zfs whose send of one snapshot fails, the rest passed through
cat >"$TMP/zfs-failing" <<EOF
#!/bin/bash
if [ "\$1" = send ]; then
	case \${!#} in *@$(day 8)) echo "cannot send \${!#}: I/O error" >&2; exit 1 ;; esac
fi
exec "$TMP/bin/zfs" "\$@"
EOF
chmod +x "$TMP/zfs-failing"

test_expect_success 'a failed send: exit 5, nothing destroyed, the rest waits for the next run' '
	snap $P/data "$(day 7)" && snap $P/data "$(day 8)" && snap $P/data "$(day 9)" &&
	snaps $P/data >before &&
	ZBAK_ZFS=$TMP/zfs-failing zb --json >out 2>err; rc=$?
	cat err && test $rc = 5 &&
	grep -q "\[job sanoid\] $P/data failed: .*cannot send $P/data@$(day 8): I/O error" err &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		my @d = @{\$j->{datasets}};
		die q(count) unless @d == 2;
		die q(first) unless \$d[0]{status} eq q(ok) && \$d[0]{snapshot} eq q($P/data@$(day 7));
		die q(second) unless \$d[1]{status} eq q(failed) && \$d[1]{snapshot} eq q($P/data@$(day 8));
	" <out &&
	snaps $P/data >after && cmp before after &&
	test "$(holds "$P/data@$(day 7)")" = "zbak " &&
	! names | grep -q "$(day 8)" && ! names | grep -q "$(day 9)" &&
	zb >out &&
	grep -q "^stored $P/data@$(day 8): incremental from @$(day 7)" out &&
	grep -q "^stored $P/data@$(day 9): incremental from @$(day 8)" out &&
	test "$(holds "$P/data@$(day 9)")" = "zbak " &&
	test "$(holds "$P/data@$(day 7)")" = ""
'

test_expect_success 'recursive: each descendant on its own' '
	zfs snapshot -r "$P/data@$(day 9 | sed s/_daily/_monthly/)" &&
	zfs snapshot "$P/data/sub@$(day 10)" &&
	write_conf <<<"recursive = yes" &&
	zb >out &&
	cat out &&
	grep -q "^stored $P/data/sub@$(day 10): full (no snapshot of $P/data/sub is stored yet)" out &&
	grep -q "^nothing to do for $P/data: " out &&
	test "$(holds "$P/data/sub@$(day 10)")" = "zbak " &&
	write_conf </dev/null
'

test_expect_success 'the newest stored one gone from the host: from the newest stored one left' '
	zfs release zbak "$P/data@$(day 9)" && zfs destroy "$P/data@$(day 9)" &&
	snap $P/data "$(day 10)" &&
	zb >out 2>err &&
	cat out err &&
	grep -q "^stored $P/data@$(day 10): incremental from @$(day 8)" out &&
	test "$(holds "$P/data@$(day 10)")" = "zbak "
'

test_expect_success 'none stored left on the host: a full stream, said loudly' '
	zfs release zbak "$P/data@$(day 10)" &&
	for n in 1 2 3 4 5 6 7 8 10; do
		zfs destroy "$P/data@$(day $n)" || return 1
	done &&
	snap $P/data "$(day 11)" &&
	zb >out 2>err &&
	cat out err &&
	grep -q "^zbak: warning: $P/data: none of the 10 snapshots of $P/data in the repository is on the host any more: sending a full stream$" err &&
	grep -q "^stored $P/data@$(day 11): full (none of the 10 snapshots of $P/data in the repository is on the host any more)" out &&
	test "$(holds "$P/data@$(day 11)")" = "zbak "
'

test_expect_success 'prune forgets in the repository only: the host keeps every snapshot' '
	zt_state >before &&
	write_conf <<<"keep_last = 1" &&
	"$ZBAK" prune --config "$CONF" >out &&
	cat out &&
	test "$(chain $P/data | tr "\n" " ")" = "$(day 11)<- " &&
	zt_state >after && cmp before after &&
	write_conf </dev/null
'

test_expect_success 'zfs-auto-snapshot and zrepl names, several patterns' '
	ds_create $P/auto &&
	head -c 30000 /dev/urandom | ds_write $P/auto 2 0 &&
	snap $P/auto zfs-auto-snap_daily-2026-12-07-0000 &&
	snap $P/auto zfs-auto-snap_hourly-2026-12-07-0100 &&
	snap $P/auto zrepl_20261207_000000_000 &&
	snap $P/auto zbak-20261207T020000Z &&
	cat >>"$CONF" <<-EOF &&
	[job auto]
	datasets = $P/auto
	snapshots = existing
	snapshot_match = zfs-auto-snap_daily-* zrepl_*
	EOF
	zb auto >out &&
	cat out &&
	grep -q "^stored $P/auto@zfs-auto-snap_daily-2026-12-07-0000: full" out &&
	grep -q "^stored $P/auto@zrepl_20261207_000000_000: incremental from @zfs-auto-snap_daily-2026-12-07-0000" out &&
	test $(wc -l <out) = 2
'

test_done
