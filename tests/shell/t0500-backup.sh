#!/bin/bash
# zbak backup, with the zfs stand-in (tests/bin/zfs) over the local pool:
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
# hold of zbak's, not others'); the bandwidth limit slows the send.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN
export ZBAK_POOL_DIR=$TMP/pool
BIN=$(cd "$(dirname "$0")/../bin" && pwd)	# the zfs stand-in
export ZBAK PATH=$BIN:$PATH
PASS='correct horse battery'
# the secret is in the environment too: zfs must not get it
export ZBAK_PASSPHRASE=$PASS AWS_SECRET_ACCESS_KEY=s3cr3t-k3y
R=$TMP/repo
CONF=$TMP/zbak.conf
zp() { "$ZBAK" pool "$@"; }
z() { "$ZBAK" -r "$R" "$@"; }
# zb NIGHT ARGS: zbak backup at 02:00 UTC of day NIGHT of Dec 2026
at() { echo $((1796090400 + ($1 - 1) * 86400)); }	# 2026-12-01T02:00:00Z
zb() { local n=$1; shift; ZBAK_NOW=$(at "$n") "$ZBAK" backup --config "$CONF" "$@"; }
name() { date -u -d "@$(at "$1")" +zbak-%Y%m%dT%H%M%SZ; }
holds() { zp holds -H "$1" | cut -f2 | tr '\n' ' '; }
snaps() { zp list -H -o name -t snapshot "$1" | sed 's/.*@//' | tr '\n' ' '; }
write_conf() { # extra lines for [job home] from stdin
	cat >"$CONF" <<EOF
[zbak]
repository = $R
passphrase_file = $TMP/pass
lock_file = $TMP/run/lock/zbak.lock
lock_wait = 3
metrics_file = $TMP/metrics/zbak.prom

[job home]
datasets = tank/home
recursive = yes
send_flags = -c -L
$(cat)

[job www]
datasets = tank/www, tank/db
EOF
}

test_expect_success 'setup: a pool, a repository, a config' '
	zp create tank && zp create tank/home && zp create tank/home/alice &&
	zp create tank/home/bob && zp create tank/www && zp create tank/db &&
	for ds in tank/home tank/home/alice tank/home/bob tank/www tank/db; do
		head -c 150000 /dev/urandom | zp write "$ds" 2 0 || return 1
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
	test "$(zp list -H -o name -t snapshot -r tank)" = ""
'

test_expect_success '--dry-run: what would happen, nothing changes' '
	zb 1 --dry-run >out &&
	cat out &&
	grep -q "^would back up tank/home@$(name 1): full (no snapshot of tank/home is stored yet)" out &&
	grep -q "^would back up tank/home/bob@$(name 1): full" out &&
	test "$(zp list -H -o name -t snapshot -r tank)" = "" &&
	test "$(z ls --json)" = "[]"
'

test_expect_success 'the first night: full streams, every dataset, held' '
	ZFS_STANDIN_LOG=$TMP/zfs.log zb 1 >out &&
	cat out &&
	for ds in tank/home tank/home/alice tank/home/bob tank/www tank/db; do
		grep -q "^stored $ds@$(name 1): full" out || return 1
		test "$(holds "$ds@$(name 1)")" = "zbak " || return 1
	done &&
	test "$(names | wc -l)" = 5 &&
	grep -q "^argv: snapshot -r tank/home@$(name 1)$" "$TMP/zfs.log" &&
	grep -q "^argv: send -c -L tank/home/alice@$(name 1)$" "$TMP/zfs.log" &&
	grep -q "^argv: send -c -L -e tank/www@$(name 1)$" "$TMP/zfs.log" &&
	grep -q "^argv: hold zbak tank/db@$(name 1)$" "$TMP/zfs.log"
'

test_expect_success 'no secret reaches zfs: not in its argv, not in its environment' '
	grep -q "^env: PATH=" "$TMP/zfs.log" &&
	! grep -F "$PASS" "$TMP/zfs.log" &&
	! grep -F "s3cr3t-k3y" "$TMP/zfs.log" &&
	! grep -q "^env: ZBAK_PASSPHRASE=" "$TMP/zfs.log" &&
	! grep -q "^env: AWS_SECRET_ACCESS_KEY=" "$TMP/zfs.log"
'

test_expect_success 'the second night: incremental from the first, the hold moved' '
	head -c 20000 /dev/urandom | zp write tank/home/alice 2 4096 &&
	ZFS_STANDIN_LOG=$TMP/zfs2.log zb 2 >out &&
	cat out &&
	grep -q "^stored tank/home/alice@$(name 2): incremental from @$(name 1)" out &&
	grep -q "^stored tank/www@$(name 2): incremental from @$(name 1)" out &&
	grep -q "^argv: send -c -L -i @$(name 1) tank/home/alice@$(name 2)$" "$TMP/zfs2.log" &&
	for ds in tank/home tank/home/alice tank/home/bob tank/www tank/db; do
		test "$(holds "$ds@$(name 1)")" = "" || return 1
		test "$(holds "$ds@$(name 2)")" = "zbak " || return 1
	done &&
	z ls --json | perl -MJSON::PP -e "
		my \$v = decode_json(do { local \$/; <STDIN> });
		my (\$s) = grep { \$_->{name} eq q(tank/home/alice@$(name 2)) } @\$v;
		exit !(\$s && \$s->{parent} eq q(tank/home/alice@$(name 1)));"
'

test_expect_success 'the hold protects the base from local pruning' '
	expect_fail zfs destroy "tank/www@$(name 2)" &&
	grep -q "held (zbak)" "$TMP/err" &&
	zp destroy "tank/www@$(name 1)"
'

test_expect_success 'again at the same time: nothing to do, exit 0, nothing changes' '
	zp list -H -p -o name,guid -t all -r tank >before &&
	zb 2 >out &&
	grep -q "^nothing to do for tank/home/bob: tank/home/bob@$(name 2) is already stored" out &&
	zp list -H -p -o name,guid -t all -r tank >after && cmp before after
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
		my (\$a) = grep { \$_->{name} eq q(tank/home/alice) } @{\$j->{datasets}};
		die q(alice) unless \$a->{job} eq q(home) &&
			\$a->{base} eq q(tank/home/alice@$(name 2)) &&
			\$a->{snapshot} eq q(tank/home/alice@$(name 3));
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
	grep -q "^zbak_backup_status{job=\"home\",dataset=\"tank/home/bob\"} 1$" "$m" &&
	grep -q "^zbak_backup_last_success_timestamp_seconds{job=\"www\",dataset=\"tank/db\"} $(at 3)$" "$m" &&
	! ls "$TMP/metrics" | grep -v "^zbak.prom$"
'

# a zfs whose send of tank/www fails, the rest passed to the stand-in
cat >"$TMP/zfs-failing" <<EOF
#!/bin/bash
if [ "\$1" = send ]; then
	case \${!#} in tank/www@*) echo "cannot send \${!#}: I/O error" >&2; exit 1 ;; esac
fi
exec "$BIN/zfs" "\$@"
EOF
chmod +x "$TMP/zfs-failing"

test_expect_success 'a dataset that fails does not stop the others: exit 5' '
	ZBAK_ZFS=$TMP/zfs-failing zb 4 --json >out 2>err; test $? = 5 &&
	cat err &&
	grep -q "\[job www\] tank/www failed: .*cannot send tank/www@$(name 4): I/O error" err &&
	perl -MJSON::PP -e "
		my \$j = decode_json(do { local \$/; <STDIN> });
		die unless !\$j->{ok} && \$j->{exit} == 5;
		for my \$d (@{\$j->{datasets}}) {
			my \$want = \$d->{name} eq q(tank/www) ? q(failed) : q(ok);
			die qq(\$d->{name}: \$d->{status}) unless \$d->{status} eq \$want;
		}
		my (\$w) = grep { \$_->{name} eq q(tank/www) } @{\$j->{datasets}};
		die q(no error) unless \$w->{error} =~ /I\/O error/;
	" <out &&
	! names | grep -q "tank/www@$(name 4)" &&
	names | grep -q "tank/db@$(name 4)"
'

test_expect_success 'its snapshot is destroyed again; the base keeps its hold' '
	test "$(snaps tank/www)" = "$(name 2) $(name 3) " &&
	test "$(holds "tank/www@$(name 3)")" = "zbak "
'

test_expect_success 'the metrics say failed and keep its last success' '
	m=$TMP/metrics/zbak.prom &&
	grep -q "^zbak_backup_status{job=\"www\",dataset=\"tank/www\"} 0$" "$m" &&
	grep -q "^zbak_backup_last_success_timestamp_seconds{job=\"www\",dataset=\"tank/www\"} $(at 3)$" "$m" &&
	grep -q "^zbak_backup_last_run_timestamp_seconds{job=\"www\",dataset=\"tank/www\"} $(at 4)$" "$m" &&
	grep -q "^zbak_backup_last_success_timestamp_seconds{job=\"www\",dataset=\"tank/db\"} $(at 4)$" "$m"
'

test_expect_success 'the next night catches up from the newest stored snapshot' '
	zb 5 www >out &&
	grep -q "^stored tank/www@$(name 5): incremental from @$(name 3)" out &&
	test "$(holds "tank/www@$(name 3)")" = "" &&
	test "$(holds "tank/www@$(name 5)")" = "zbak " &&
	grep -q "^zbak_backup_status{job=\"www\",dataset=\"tank/www\"} 1$" "$TMP/metrics/zbak.prom" &&
	grep -q "^zbak_backup_status{job=\"home\",dataset=\"tank/home\"} 1$" "$TMP/metrics/zbak.prom"
'

test_expect_success 'the storage failing in the middle of a push: no manifest, no snapshot left' '
	head -c 300000 /dev/urandom | zp write tank/db 4 0 &&
	names | grep "^tank/db@" >before &&
	mv "$R/data" "$R/data.real" && : >"$R/data" &&
	zb 6 www >out 2>err; rc=$?; rm "$R/data"; mv "$R/data.real" "$R/data" &&
	cat err && test $rc = 5 &&
	grep -q "^stored tank/www@$(name 6)" out &&
	grep -q "\[job www\] tank/db failed: push of tank/db@$(name 6) failed: put data/.*: Not a directory" err &&
	names | grep "^tank/db@" >after && cmp before after &&
	test "$(snaps tank/db)" = "$(name 1) $(name 2) $(name 3) $(name 4) $(name 5) " &&
	test "$(holds "tank/db@$(name 5)")" = "zbak " &&
	zb 6 www >out &&
	grep -q "^stored tank/db@$(name 6): incremental from @$(name 5)" out
'

test_expect_success 'a dataset that does not exist: the others go on, exit 5' '
	sed -i "s|^datasets = tank/www, tank/db|datasets = tank/www tank/gone|" "$CONF" &&
	zb 7 www >out 2>err; test $? = 5 &&
	grep -q "tank/gone failed: .*does not exist" err &&
	grep -q "^stored tank/www@$(name 7)" out &&
	sed -i "s|^datasets = tank/www tank/gone|datasets = tank/www, tank/db|" "$CONF"
'

test_expect_success 'everything fails (no repository): exit 1, no snapshot made' '
	mv "$R" "$R.away" &&
	zb 8 >out 2>err; rc=$?; mv "$R.away" "$R"; test $rc = 1 &&
	grep -q "tank/home failed: no repository at $R" err &&
	! zp list -H -o name -t snapshot -r tank | grep -q "$(name 8)" &&
	grep -q "^zbak_backup_status{job=\"home\",dataset=\"tank/home\"} 0$" "$TMP/metrics/zbak.prom"
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
	! zp list -H -o name -t snapshot -r tank | grep -q "$(name 9)"
'

test_expect_success 'a run that waits less than lock_wait goes ahead' '
	flock -o "$TMP/run/lock/zbak.lock" sleep 1 & holder=$! &&
	sleep 0.3 &&
	zb 9 www >out 2>err &&
	wait $holder &&
	grep -q "^stored tank/www@$(name 9)" out
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
exec "$BIN/zfs" "\$@"
EOF
chmod +x "$TMP/zfs-nohold"

test_expect_success 'a hold that fails: a warning, the previous base stays held' '
	ZBAK_ZFS=$TMP/zfs-nohold zb 12 www >out 2>err &&
	cat err &&
	grep -q "^stored tank/www@$(name 12)" out &&
	grep -q "warning: tank/www@$(name 12) is stored but could not be held" err &&
	test "$(holds "tank/www@$(name 10)")" = "zbak " &&
	test "$(holds "tank/www@$(name 12)")" = ""
'

test_expect_success 'the next night heals: its snapshot held, every older zbak hold released' '
	zp hold other "tank/www@$(name 10)" &&
	zb 13 www >out 2>err &&
	test ! -s err &&
	grep -q "^stored tank/www@$(name 13): incremental from @$(name 12)" out &&
	test "$(holds "tank/www@$(name 13)")" = "zbak " &&
	test "$(holds "tank/www@$(name 12)")" = "" &&
	test "$(holds "tank/www@$(name 10)")" = "other " &&
	zp release other "tank/www@$(name 10)"
'

test_expect_success 'bandwidth_limit slows the stream down' '
	cat >"$CONF.bw" <<-EOF &&
	[zbak]
	repository = $R
	passphrase_file = $TMP/pass
	lock_file = $TMP/run/bw.lock
	[job bw]
	datasets = tank/bw
	bandwidth_limit = 256K
	EOF
	zp create tank/bw &&
	head -c 700000 /dev/urandom | zp write tank/bw 2 0 &&
	t0=$(date +%s%N) &&
	ZBAK_NOW=$(at 11) "$ZBAK" backup --config "$CONF.bw" >out &&
	t1=$(date +%s%N) &&
	grep -q "^stored tank/bw@$(name 11): full" out &&
	ms=$(( (t1 - t0) / 1000000 )) && echo "took $ms ms" &&
	test $ms -ge 1800
'

test_expect_success 'prune without keep_*: everything stays, and it says so; --no-gc' '
	names >before &&
	ZBAK_NOW=$(at 14) "$ZBAK" prune --config "$CONF" --no-gc >out &&
	cat out &&
	grep -q "^\[job home\]: no keep_\* set: keeping every snapshot" out &&
	grep -q "^keep   tank/db@$(name 1) (no keep_\* set: everything stays)" out &&
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

test_expect_success 'every stored snapshot verifies' '
	z verify >out && cat out
'

test_done
