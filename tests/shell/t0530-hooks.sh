#!/bin/bash
# The alert hook and the --json account of failures, on the zfs stand-in
# and on zfs-fuse (ZBAK_TEST_ZFS=fuse: tests/lib/zfs.sh): on_success runs
# after a backup that succeeded and on_failure after one that failed, each
# with the run's JSON account on its standard input, its arguments, and
# ZBAK_EVENT and ZBAK_EXIT, without the passphrase or the S3 secret in its
# environment; its output does not reach the --json account; neither runs
# when not set, nor for a dry run; a hook that fails or hangs (killed after
# hook_timeout) is a warning and leaves the exit status alone; prune runs
# them too; a relative command is a config error.  A failed backup's JSON
# names no snapshot that does not exist: not when the snapshot step
# failed, not when the repository did not open, not when the snapshot was
# destroyed again after a failed send.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
PASS='correct horse battery'
export ZBAK_PASSPHRASE=$PASS AWS_SECRET_ACCESS_KEY=s3cr3t-k3y
R=$TMP/repo
CONF=$TMP/zbak.conf
z() { "$ZBAK" -r "$R" "$@"; }
T0=$((($(date +%s) / 86400 + 1) * 86400 + 7200))
at() { echo $((T0 + ($1 - 1) * 86400)); }
zb() { local n=$1; shift; ZBAK_NOW=$(at "$n") "$ZBAK" backup --config "$CONF" "$@"; }
name() { date -u -d "@$(at "$1")" +zbak-%Y%m%dT%H%M%SZ; }

# the hook: its arguments, environment and standard input, each to a file
# named by its first argument
cat >"$TMP/hook" <<EOF
#!/bin/bash
printf "%s\n" "\$@" >"$TMP/\$1.args"
env >"$TMP/\$1.env"
cat >"$TMP/\$1.json"
echo "the hook's own output"
exit \${HOOK_EXIT:-0}
EOF
chmod +x "$TMP/hook"
write_conf() { # extra lines for [zbak] from stdin
	cat >"$CONF" <<-EOF
	[zbak]
	repository = $R
	lock_file = $TMP/zbak.lock
	$(cat)

	[job j]
	datasets = $P/a, $P/b
	EOF
}
hooked() { write_conf <<-EOF
	on_success = $TMP/hook success two  words
	on_failure = $TMP/hook failure
	EOF
}
# json FILE PERL: decode FILE into $j and run PERL on it
json() { perl -MJSON::PP -e "my \$j = decode_json(do { local \$/; <STDIN> }); $2" <"$1"; }
# the dataset entry of NAME in $j
DS='sub ds { my ($j, $n) = @_; my ($d) = grep { $_->{name} eq $n } @{$j->{datasets}}; die "no $n" unless $d; $d }'

test_expect_success 'setup: two datasets, a repository' '
	ds_create $P/a $P/b &&
	head -c 100000 /dev/urandom | ds_write $P/a 2 0 &&
	head -c 100000 /dev/urandom | ds_write $P/b 2 0 &&
	z init >/dev/null
'

test_expect_success 'no hook set: none runs' '
	write_conf </dev/null &&
	zb 1 >out &&
	! ls "$TMP" | grep -q "^success\.\|^failure\."
'

test_expect_success 'a relative command is a config error' '
	write_conf <<<"on_failure = hook --x" &&
	expect_fail zb 2 && test $(zb 2 >/dev/null 2>&1; echo $?) = 2 &&
	grep -q "\[zbak\] on_failure: .hook --x. does not start with an absolute path" "$TMP/err"
'

test_expect_success 'success: on_success with the JSON account, its arguments, no secret' '
	hooked &&
	zb 2 --json >out 2>err &&
	cat err &&
	json out "die unless \$j->{ok}" &&
	cmp out "$TMP/success.json" &&
	test "$(cat "$TMP/success.args")" = "success
two
words" &&
	grep -q "^ZBAK_EVENT=backup$" "$TMP/success.env" &&
	grep -q "^ZBAK_EXIT=0$" "$TMP/success.env" &&
	! grep -q "^ZBAK_PASSPHRASE=" "$TMP/success.env" &&
	! grep -q "s3cr3t-k3y" "$TMP/success.env" &&
	! grep -qF "$PASS" "$TMP/success.env" &&
	grep -q "^the hook.s own output$" err &&
	! grep -q "own output" out &&
	test ! -e "$TMP/failure.json"
'

test_expect_success 'a dry run runs no hook' '
	rm -f "$TMP"/success.* &&
	zb 3 --dry-run >out &&
	test ! -e "$TMP/success.json"
'

# a zfs whose send of $P/b fails, or whose snapshot fails
cat >"$TMP/zfs-nosend" <<EOF
#!/bin/bash
if [ "\$1" = send ]; then
	case \${!#} in $P/b@*) echo "cannot send \${!#}: I/O error" >&2; exit 1 ;; esac
fi
exec "$TMP/bin/zfs" "\$@"
EOF
cat >"$TMP/zfs-nosnap" <<EOF
#!/bin/bash
if [ "\$1" = snapshot ]; then
	case \${!#} in $P/b@*) echo "cannot create snapshot \${!#}: out of space" >&2; exit 1 ;; esac
fi
exec "$TMP/bin/zfs" "\$@"
EOF
chmod +x "$TMP/zfs-nosend" "$TMP/zfs-nosnap"

test_expect_success 'a failed send: on_failure gets the account; the destroyed snapshot is not named' '
	ZBAK_ZFS=$TMP/zfs-nosend zb 4 --json >out 2>err; rc=$?
	cat err && test $rc = 5 &&
	cmp out "$TMP/failure.json" &&
	grep -q "^ZBAK_EXIT=5$" "$TMP/failure.env" &&
	test "$(cat "$TMP/failure.args")" = failure &&
	! grep -q "^ZBAK_PASSPHRASE=" "$TMP/failure.env" &&
	! zfs list -H -o name -t snapshot $P/b@$(name 4) 2>/dev/null &&
	json out "$DS
		die q(exit) unless \$j->{exit} == 5;
		my \$b = ds(\$j, q($P/b));
		die q(status) unless \$b->{status} eq q(failed);
		die qq(names \$b->{snapshot}) if defined \$b->{snapshot};
		my \$a = ds(\$j, q($P/a));
		die q(a) unless \$a->{snapshot} eq q($P/a@$(name 4));
	"
'

test_expect_success 'the snapshot step failing: no snapshot named' '
	ZBAK_ZFS=$TMP/zfs-nosnap zb 5 --json >out 2>err; rc=$?
	cat err && test $rc = 5 &&
	grep -q "out of space" err &&
	json out "$DS
		my \$b = ds(\$j, q($P/b));
		die q(status) unless \$b->{status} eq q(failed);
		die qq(names \$b->{snapshot}) if defined \$b->{snapshot};
		die q(a) unless ds(\$j, q($P/a))->{status} eq q(ok);
	"
'

test_expect_success 'no repository: exit 1, no snapshot named, on_failure runs' '
	rm -f "$TMP"/failure.* &&
	mv "$R" "$R.away" &&
	zb 6 --json >out 2>err; rc=$?; mv "$R.away" "$R"; test $rc = 1 &&
	json out "
		for my \$d (@{\$j->{datasets}}) {
			die q(status) unless \$d->{status} eq q(failed);
			die qq(names \$d->{snapshot}) if defined \$d->{snapshot};
		}
	" &&
	grep -q "^ZBAK_EXIT=1$" "$TMP/failure.env"
'

test_expect_success 'a hook that fails: a warning, the exit status stays' '
	HOOK_EXIT=3 zb 7 >out 2>err &&
	cat err &&
	grep -q "^zbak: warning: on_success hook: $TMP/hook exited with status 3$" err
'

test_expect_success 'a hook that hangs is killed after hook_timeout' '
	cat >"$TMP/slow" <<-EOF &&
	#!/bin/bash
	sleep 60 &
	echo \$! >"$TMP/slow.pid"
	wait
	EOF
	chmod +x "$TMP/slow" &&
	write_conf <<-EOF &&
	on_success = $TMP/slow
	hook_timeout = 1
	EOF
	t0=$(date +%s) &&
	zb 8 >out 2>err &&
	t1=$(date +%s) &&
	cat err &&
	test $((t1 - t0)) -lt 15 &&
	grep -q "^zbak: warning: on_success hook: $TMP/slow did not finish within 1 s (hook_timeout): killed$" err &&
	sleep 0.5 && # killed with the hook: gone, or a zombie no one reaps yet
	! ps -o stat= -p "$(cat "$TMP/slow.pid")" | grep -q "^[^Z]"
'

test_expect_success 'a hook that cannot be run: a warning' '
	write_conf <<<"on_success = $TMP/nosuch" &&
	zb 9 >out 2>err &&
	grep -q "^zbak: warning: on_success hook: cannot run $TMP/nosuch: No such file or directory$" err
'

test_expect_success 'prune runs the hook with its account' '
	hooked && rm -f "$TMP"/success.* &&
	ZBAK_NOW=$(at 10) "$ZBAK" prune --config "$CONF" --json >out &&
	cmp out "$TMP/success.json" &&
	grep -q "^ZBAK_EVENT=prune$" "$TMP/success.env" &&
	json out "die unless \$j->{ok} && \$j->{datasets}"
'

test_done
