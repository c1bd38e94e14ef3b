#!/bin/bash
# zbak backup, on the zfs stand-in (tests/bin/zfs) over the local pool, and
# again on zfs-fuse, a real ZFS (ZBAK_TEST_ZFS=fuse: tests/lib/zfs.sh):
# config errors (an unknown key, a bad value, an unknown job: exit 2 naming
# the file, section and key); the first night full, the second incremental
# from it with the hold moved; nothing to do when the snapshot is stored
# already; --dry-run changes nothing; recursive datasets each sent on their
# own; a dataset that fails (its send, or a dataset that does not exist)
# does not stop the others (exit 5), its new snapshot is destroyed again,
# and the next night sends it from the newest stored one; the run lock
# (a second run waits, then exits 75); the --json account; the metrics
# file (atomic, 0644, the last success of a failed dataset kept); send
# flags reach zfs; no secret reaches zfs's argv or environment; the
# storage failing in the middle of a push (no manifest, the snapshot
# destroyed, the next night incremental from the held base); a hold that
# fails (the old base stays held, the next night releases every older
# hold of zbak's, not others'); the bandwidth limit slows the send; a zfs
# whose send lacks the default flags (zfs-fuse, or the stand-in playing an
# older zfs) gets the others, said once; send_flags it lacks, set in the
# config, are a config error (exit 2) naming the flag.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
# the send flags zfs gets: the job's, or (zfs-fuse's send has none of
# -c -w -L -e) none, with the job's send_flags left at the default
if zt_fuse; then
	HOME_FLAGS= HOME_CONF= WWW_FLAGS=
else
	HOME_FLAGS="-c -L " HOME_CONF="send_flags = -c -L" WWW_FLAGS="-c -L -e "
fi
PASS='correct horse battery'
# the secret is in the environment too: zfs must not get it
export ZBAK_PASSPHRASE=$PASS AWS_SECRET_ACCESS_KEY=s3cr3t-k3y
R=$TMP/repo
CONF=$TMP/zbak.conf
z() { "$ZBAK" -r "$R" "$@"; }
# zb NIGHT ARGS: zbak backup at 02:00 UTC of day NIGHT, night 1 being
# tomorrow: never before the real clock, by which zfs-fuse dates snapshots
# (prune judges no snapshot made after its "now")
T0=$((($(date +%s) / 86400 + 1) * 86400 + 7200))
at() { echo $((T0 + ($1 - 1) * 86400)); }
zb() { local n=$1; shift; ZBAK_NOW=$(at "$n") "$ZBAK" backup --config "$CONF" "$@"; }
name() { date -u -d "@$(at "$1")" +zbak-%Y%m%dT%H%M%SZ; }
holds() { ds_holds "$@"; }
snaps() { ds_snaps "$@"; }
write_conf() { # extra lines for [job home] from stdin (a key given there
	# replaces the default line: a key given twice is a config error)
	local extra
	extra=$(cat)
	cat >"$CONF" <<EOF
[zbak]
repository = $R
passphrase_file = $TMP/pass
lock_file = $TMP/run/lock/zbak.lock
lock_wait = 3
metrics_file = $TMP/metrics/zbak.prom

[job home]
datasets = $P/home
$(grep -q "^recursive =" <<<"$extra" || echo "recursive = yes")
$(grep -q "^send_flags =" <<<"$extra" || echo "$HOME_CONF")
$extra

[job www]
datasets = $P/www, $P/db
EOF
}

test_expect_success 'setup: a pool, a repository, a config' '
	ds_create $P/home $P/home/alice $P/home/bob $P/www $P/db &&
	for ds in $P/home $P/home/alice $P/home/bob $P/www $P/db; do
		head -c 150000 /dev/urandom | ds_write "$ds" 2 0 || return 1
	done &&
	printf "%s\n" "$PASS" >"$TMP/pass" && chmod 600 "$TMP/pass" &&
	z init >/dev/null &&
	mkdir -p "$TMP/metrics" &&
	write_conf </dev/null
'

test_expect_success 'config: an unknown key is exit 2 naming file, section and key' '
	cp "$CONF" good.conf &&
	write_conf <<<"keep_dialy = 7" &&
	expect_fail zb 1 && test $(zb 1 >/dev/null 2>&1; echo $?) = 2 &&
	grep -q "$CONF: \[job home\] keep_dialy: unknown key (did you mean keep_daily?)" "$TMP/err" &&
	write_conf <<<"recursive = perhaps" &&
	expect_fail zb 1 &&
	grep -q "$CONF: \[job home\] recursive: .perhaps. is not a boolean" "$TMP/err" &&
	write_conf <<<"send_flags = -c -R" &&
	expect_fail zb 1 &&
	grep -q "$CONF: \[job home\] send_flags: .-R. is not a send flag" "$TMP/err" &&
	write_conf <<<"bandwidth_limit = 10 MB/s" &&
	expect_fail zb 1 && grep -q "\[job home\] bandwidth_limit: " "$TMP/err" &&
	cp good.conf "$CONF" &&
	expect_fail zb 1 nosuchjob &&
	grep -q "no \[job nosuchjob\] (the jobs: home, www)" "$TMP/err" &&
	test "$(zfs list -H -o name -t snapshot -r $P)" = ""
'

test_expect_success '--dry-run: what would happen, nothing changes' '
	zb 1 --dry-run >out &&
	cat out &&
	grep -q "^would back up $P/home@$(name 1): full (no snapshot of $P/home is stored yet)" out &&
	grep -q "^would back up $P/home/bob@$(name 1): full" out &&
	test "$(zfs list -H -o name -t snapshot -r $P)" = "" &&
	test "$(z ls --json)" = "[]"
'

test_expect_success 'the first night: full streams, every dataset, held' '
	ZFS_LOG=$TMP/zfs.log zb 1 >out &&
	cat out &&
	for ds in $P/home $P/home/alice $P/home/bob $P/www $P/db; do
		grep -q "^stored $ds@$(name 1): full" out || return 1
		test "$(holds "$ds@$(name 1)")" = "zbak " || return 1
	done &&
	test "$(names | wc -l)" = 5 &&
	grep -q "^argv: snapshot -r $P/home@$(name 1)$" "$TMP/zfs.log" &&
	grep -q "^argv: send ${HOME_FLAGS}$P/home/alice@$(name 1)$" "$TMP/zfs.log" &&
	grep -q "^argv: send ${WWW_FLAGS}$P/www@$(name 1)$" "$TMP/zfs.log" &&
	grep -q "^argv: hold zbak $P/db@$(name 1)$" "$TMP/zfs.log"
'

test_expect_success 'no secret reaches zfs: not in its argv, not in its environment' '
	grep -q "^env: PATH=" "$TMP/zfs.log" &&
	! grep -F "$PASS" "$TMP/zfs.log" &&
	! grep -F "s3cr3t-k3y" "$TMP/zfs.log" &&
	! grep -q "^env: ZBAK_PASSPHRASE=" "$TMP/zfs.log" &&
	! grep -q "^env: AWS_SECRET_ACCESS_KEY=" "$TMP/zfs.log"
'

test_expect_success 'the second night: incremental from the first, the hold moved' '
	head -c 20000 /dev/urandom | ds_write $P/home/alice 2 4096 &&
	ZFS_LOG=$TMP/zfs2.log zb 2 >out &&
	cat out &&
	grep -q "^stored $P/home/alice@$(name 2): incremental from @$(name 1)" out &&
	grep -q "^stored $P/www@$(name 2): incremental from @$(name 1)" out &&
	grep -q "^argv: send ${HOME_FLAGS}-i @$(name 1) $P/home/alice@$(name 2)$" "$TMP/zfs2.log" &&
	for ds in $P/home $P/home/alice $P/home/bob $P/www $P/db; do
		test "$(holds "$ds@$(name 1)")" = "" || return 1
		test "$(holds "$ds@$(name 2)")" = "zbak " || return 1
	done &&
	z ls --json | perl -MJSON::PP -e "
		my \$v = decode_json(do { local \$/; <STDIN> });
		my (\$s) = grep { \$_->{name} eq q($P/home/alice@$(name 2)) } @\$v;
		exit !(\$s && \$s->{parent} eq q($P/home/alice@$(name 1)));"
'

test_expect_success 'the hold protects the base from local pruning' '
	expect_fail zfs destroy "$P/www@$(name 2)" &&
	grep -q "$HELD_MSG" "$TMP/err" &&
	zfs destroy "$P/www@$(name 1)"
'

test_expect_success 'again at the same time: nothing to do, exit 0, nothing changes' '
	zt_state >before &&
	zb 2 >out &&
	grep -q "^nothing to do for $P/home/bob: $P/home/bob@$(name 2) is already stored" out &&
	zt_state >after && cmp before after
'

test_expect_success '--json: one account, a line per dataset' '
	zb 3 --json >out &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		die q(ok) unless \$j->{ok} && \$j->{exit} == 0;
		die q(count) unless @{\$j->{datasets}} == 5;
		for my \$d (@{\$j->{datasets}}) {
			for my \$k (qw(job name snapshot base kind status error
				      bytes_sent bytes_stored seconds)) {
				die qq(no \$k) unless exists \$d->{\$k};
			}
			die q(kind) unless \$d->{kind} eq q(incremental);
			die q(status) unless \$d->{status} eq q(ok);
			die q(error) if defined \$d->{error};
			die q(sent) unless \$d->{bytes_sent} > 0;
		}
		my (\$a) = grep { \$_->{name} eq q($P/home/alice) } @{\$j->{datasets}};
		die q(alice) unless \$a->{job} eq q(home) &&
			\$a->{base} eq q($P/home/alice@$(name 2)) &&
			\$a->{snapshot} eq q($P/home/alice@$(name 3));
	" <out
'

test_expect_success 'the metrics file: every gauge, mode 0644' '
	m=$TMP/metrics/zbak.prom &&
	test "$(stat -c %a "$m")" = 644 &&
	for g in last_success_timestamp_seconds duration_seconds sent_bytes \
		stored_bytes status last_run_timestamp_seconds; do
		grep -q "^# TYPE zbak_backup_$g gauge$" "$m" || return 1
		test "$(grep -c "^zbak_backup_$g{" "$m")" = 5 || return 1
	done &&
	grep -q "^zbak_backup_status{job=\"home\",dataset=\"$P/home/bob\"} 1$" "$m" &&
	grep -q "^zbak_backup_last_success_timestamp_seconds{job=\"www\",dataset=\"$P/db\"} $(at 3)$" "$m" &&
	! ls "$TMP/metrics" | grep -v "^zbak.prom$"
'

# a zfs whose send of $P/www fails, the rest passed to the stand-in
cat >"$TMP/zfs-failing" <<EOF
#!/bin/bash
if [ "\$1" = send ]; then
	case \${!#} in $P/www@*) echo "cannot send \${!#}: I/O error" >&2; exit 1 ;; esac
fi
exec "$REAL_ZFS" "\$@"
EOF
chmod +x "$TMP/zfs-failing"

test_expect_success 'a dataset that fails does not stop the others: exit 5' '
	ZBAK_ZFS=$TMP/zfs-failing zb 4 --json >out 2>err; test $? = 5 &&
	cat err &&
	grep -q "\[job www\] $P/www failed: .*cannot send $P/www@$(name 4): I/O error" err &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		die unless !\$j->{ok} && \$j->{exit} == 5;
		for my \$d (@{\$j->{datasets}}) {
			my \$want = \$d->{name} eq q($P/www) ? q(failed) : q(ok);
			die qq(\$d->{name}: \$d->{status}) unless \$d->{status} eq \$want;
		}
		my (\$w) = grep { \$_->{name} eq q($P/www) } @{\$j->{datasets}};
		die q(no error) unless \$w->{error} =~ /I\/O error/;
	" <out &&
	! names | grep -q "$P/www@$(name 4)" &&
	names | grep -q "$P/db@$(name 4)"
'

test_expect_success 'its snapshot is destroyed again; the base keeps its hold' '
	test "$(snaps $P/www)" = "$(name 2) $(name 3) " &&
	test "$(holds "$P/www@$(name 3)")" = "zbak "
'

test_expect_success 'the metrics say failed and keep its last success' '
	m=$TMP/metrics/zbak.prom &&
	grep -q "^zbak_backup_status{job=\"www\",dataset=\"$P/www\"} 0$" "$m" &&
	grep -q "^zbak_backup_last_success_timestamp_seconds{job=\"www\",dataset=\"$P/www\"} $(at 3)$" "$m" &&
	grep -q "^zbak_backup_last_run_timestamp_seconds{job=\"www\",dataset=\"$P/www\"} $(at 4)$" "$m" &&
	grep -q "^zbak_backup_last_success_timestamp_seconds{job=\"www\",dataset=\"$P/db\"} $(at 4)$" "$m"
'

test_expect_success 'the next night catches up from the newest stored snapshot' '
	zb 5 www >out &&
	grep -q "^stored $P/www@$(name 5): incremental from @$(name 3)" out &&
	test "$(holds "$P/www@$(name 3)")" = "" &&
	test "$(holds "$P/www@$(name 5)")" = "zbak " &&
	grep -q "^zbak_backup_status{job=\"www\",dataset=\"$P/www\"} 1$" "$TMP/metrics/zbak.prom" &&
	grep -q "^zbak_backup_status{job=\"home\",dataset=\"$P/home\"} 1$" "$TMP/metrics/zbak.prom"
'

test_expect_success 'the storage failing in the middle of a push: no manifest, no snapshot left' '
	head -c 300000 /dev/urandom | ds_write $P/db 4 0 &&
	names | grep "^$P/db@" >before &&
	mv "$R/data" "$R/data.real" && : >"$R/data" &&
	zb 6 www >out 2>err; rc=$?; rm "$R/data"; mv "$R/data.real" "$R/data" &&
	cat err && test $rc = 5 &&
	grep -q "^stored $P/www@$(name 6)" out &&
	grep -q "\[job www\] $P/db failed: push of $P/db@$(name 6) failed: put data/.*: Not a directory" err &&
	names | grep "^$P/db@" >after && cmp before after &&
	test "$(snaps $P/db)" = "$(name 1) $(name 2) $(name 3) $(name 4) $(name 5) " &&
	test "$(holds "$P/db@$(name 5)")" = "zbak " &&
	zb 6 www >out &&
	grep -q "^stored $P/db@$(name 6): incremental from @$(name 5)" out
'

test_expect_success 'a dataset that does not exist: the others go on, exit 5' '
	sed -i "s|^datasets = $P/www, $P/db|datasets = $P/www $P/gone|" "$CONF" &&
	zb 7 www >out 2>err; test $? = 5 &&
	grep -q "$P/gone failed: .*does not exist" err &&
	grep -q "^stored $P/www@$(name 7)" out &&
	sed -i "s|^datasets = $P/www $P/gone|datasets = $P/www, $P/db|" "$CONF"
'

test_expect_success 'everything fails (no repository): exit 1, no snapshot made' '
	mv "$R" "$R.away" &&
	zb 8 >out 2>err; rc=$?; mv "$R.away" "$R"; test $rc = 1 &&
	grep -q "$P/home failed: no repository at $R" err &&
	! zfs list -H -o name -t snapshot -r $P | grep -q "$(name 8)" &&
	grep -q "^zbak_backup_status{job=\"home\",dataset=\"$P/home\"} 0$" "$TMP/metrics/zbak.prom"
'

mkdir -p "$TMP/run/lock"
test_expect_success 'one run at a time: a second run waits, then exits 75' '
	flock -o "$TMP/run/lock/zbak.lock" sleep 6 & holder=$! &&
	sleep 0.5 &&
	t0=$(date +%s) &&
	zb 9 >out 2>err; rc=$? &&
	t1=$(date +%s) &&
	kill $holder 2>/dev/null; wait $holder 2>/dev/null
	cat err &&
	test $rc = 75 &&
	test $((t1 - t0)) -ge 3 &&
	grep -q "another zbak run holds $TMP/run/lock/zbak.lock; waited 3 s (lock_wait): giving up" err &&
	! zfs list -H -o name -t snapshot -r $P | grep -q "$(name 9)"
'

test_expect_success 'a run that waits less than lock_wait goes ahead' '
	flock -o "$TMP/run/lock/zbak.lock" sleep 1 & holder=$! &&
	sleep 0.3 &&
	zb 9 www >out 2>err &&
	wait $holder &&
	grep -q "^stored $P/www@$(name 9)" out
'

test_expect_success 'the lock directory is created' '
	sed -i "s|^lock_file = .*|lock_file = $TMP/new/dir/zbak.lock|" "$CONF" &&
	zb 10 www >/dev/null &&
	test -f "$TMP/new/dir/zbak.lock"
'

# a zfs whose hold fails, the rest passed to the stand-in
cat >"$TMP/zfs-nohold" <<EOF
#!/bin/bash
[ "\$1" = hold ] && { echo "cannot hold snapshot '\$3': permission denied" >&2; exit 1; }
exec "$REAL_ZFS" "\$@"
EOF
chmod +x "$TMP/zfs-nohold"

test_expect_success 'a hold that fails: a warning, the previous base stays held' '
	ZBAK_ZFS=$TMP/zfs-nohold zb 12 www >out 2>err &&
	cat err &&
	grep -q "^stored $P/www@$(name 12)" out &&
	grep -q "warning: $P/www@$(name 12) is stored but could not be held" err &&
	test "$(holds "$P/www@$(name 10)")" = "zbak " &&
	test "$(holds "$P/www@$(name 12)")" = ""
'

test_expect_success 'the next night heals: its snapshot held, every older zbak hold released' '
	zfs hold other "$P/www@$(name 10)" &&
	zb 13 www >out 2>err &&
	cat out err &&
	for n in 10 12 13; do echo "holds of @$(name $n): $(holds "$P/www@$(name $n)")"; done &&
	! grep -v "(of the default send_flags)" err | grep -q . &&
	grep -q "^stored $P/www@$(name 13): incremental from @$(name 12)" out &&
	test "$(holds "$P/www@$(name 13)")" = "zbak " &&
	test "$(holds "$P/www@$(name 12)")" = "" &&
	test "$(holds "$P/www@$(name 10)")" = "other " &&
	zfs release other "$P/www@$(name 10)"
'

test_expect_success 'bandwidth_limit slows the stream down' '
	cat >"$CONF.bw" <<-EOF &&
	[zbak]
	repository = $R
	passphrase_file = $TMP/pass
	lock_file = $TMP/run/bw.lock
	[job bw]
	datasets = $P/bw
	bandwidth_limit = 256K
	EOF
	ds_create $P/bw &&
	head -c 700000 /dev/urandom | ds_write $P/bw 2 0 &&
	t0=$(date +%s%N) &&
	ZBAK_NOW=$(at 11) "$ZBAK" backup --config "$CONF.bw" >out &&
	t1=$(date +%s%N) &&
	grep -q "^stored $P/bw@$(name 11): full" out &&
	ms=$(( (t1 - t0) / 1000000 )) && echo "took $ms ms" &&
	test $ms -ge 1800
'

test_expect_success 'prune without keep_*: everything stays, and it says so; --no-gc' '
	names >before &&
	ZBAK_NOW=$(at 14) "$ZBAK" prune --config "$CONF" --no-gc >out &&
	cat out &&
	grep -q "^\[job home\]: no keep_\* set: keeping every snapshot" out &&
	grep -q "^keep   $P/db@$(name 1) (no keep_\* set: everything stays)" out &&
	! grep -q "^gc " out &&
	names >after && cmp before after
'

test_expect_success 'prune takes the same run lock: exit 75' '
	lock=$(sed -n "s/^lock_file = //p" "$CONF")
	flock -o "$lock" sleep 5 & holder=$! &&
	sleep 0.3 &&
	ZBAK_NOW=$(at 14) "$ZBAK" prune --config "$CONF" >out 2>err; rc=$?
	kill $holder 2>/dev/null; wait $holder 2>/dev/null
	cat err && test $rc = 75 && grep -q "another zbak run holds $lock" err
'

test_expect_success 'a config without jobs: nothing to do, exit 0' '
	printf "[zbak]\nrepository = %s\n" "$R" >"$CONF.empty" &&
	"$ZBAK" backup --config "$CONF.empty" >out &&
	grep -q "has no \[job NAME\] section: nothing to do" out &&
	"$ZBAK" prune --config "$CONF.empty" >out
'

# the stand-in plays an older zfs (zfs-fuse is one)
old_zfs() { if zt_fuse; then "$@"; else ZFS_STANDIN_FLAVOUR=old "$@"; fi; }
flags_conf() { # extra lines for [job f] from stdin
	cat >"$TMP/flags.conf" <<-EOF
	[zbak]
	repository = $R
	passphrase_file = $TMP/pass
	lock_file = $TMP/run/flags.lock
	[job f]
	datasets = $P/old
	$(cat)
	[job g]
	datasets = $P/old2
	EOF
}

test_expect_success 'send_flags that zfs send lacks, set in the config: exit 2 naming the flag' '
	ds_create $P/old $P/old2 &&
	head -c 50000 /dev/urandom | ds_write $P/old 2 0 &&
	flags_conf <<<"send_flags = -L -c" &&
	old_zfs env ZBAK_NOW=$(at 15) "$ZBAK" backup --config "$TMP/flags.conf" >out 2>err; rc=$?
	cat err && test $rc = 2 &&
	grep -q "^zbak: $TMP/flags.conf: \[job f\] send_flags: -c is not an option of this zfs.s send (it takes -R -D -p)$" err &&
	test "$(snaps $P/old)" = "" && test "$(snaps $P/old2)" = ""
'

test_expect_success 'the default send_flags: what zfs send lacks is left out, said once' '
	flags_conf </dev/null &&
	ZFS_LOG=$TMP/zfs-old.log old_zfs env ZBAK_NOW=$(at 15) "$ZBAK" backup --config "$TMP/flags.conf" >out 2>err &&
	cat out err &&
	test "$(grep -c "send does not take" err)" = 1 &&
	grep -q "^zbak: warning: $TMP/bin/zfs send does not take -c -L -e (of the default send_flags): sending without them$" err &&
	grep -q "^argv: send $P/old@$(name 15)$" "$TMP/zfs-old.log" &&
	grep -q "^stored $P/old@$(name 15): full" out &&
	grep -q "^stored $P/old2@$(name 15): full" out &&
	z restore "$P/old@$(name 15)" -o old.zs && "$ZBAK" inspect old.zs >/dev/null
'

test_expect_success 'every stored snapshot verifies' '
	z verify >out && cat out
'

test_done
