#!/bin/bash
# What a new user does on a real ZFS, zfs-fuse 0.7 (tests/zfs/fuse.sh; the
# file reports itself skipped with the reason where it cannot run):
#
# - the example configuration (conf/zbak.conf) with only its dataset
#   names changed (and its paths pointed into this test's directory):
#   `zbak init`, `zbak backup` on two nights, `zbak prune`, then
#   `zbak restore --to` of the newest snapshot of every dataset of the job,
#   each equal to the original file by file; every exit status 0;
# - `make demo` (tests/demo.sh) beside a real pool named tank (made here
#   when the machine has none, skipped otherwise: a tank that is not ours
#   is never touched), with datasets the demo's own names: the demo passes,
#   runs no zfs command at all, and the pool's history, datasets,
#   snapshots and files are as they were.
. "$(dirname "$0")/../lib.sh"
export ZBAK_TEST_ZFS=fuse
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_NOW ZBAK_PASSPHRASE ZFS_STANDIN_FLAVOUR
export ZBAK
zt_setup
here=$(cd "$(dirname "$0")/../.." && pwd)
CONF=$TMP/zbak.conf
at() { echo $((1796090400 + ($1 - 1) * 86400)); }	# 2026-12-01T02:00:00Z + days
name() { date -u -d "@$(at "$1")" +zbak-%Y%m%dT%H%M%SZ; }
z() { "$ZBAK" --config "$CONF" "$@"; }
# how many snapshots the repository stores
stored_count() { z ls --json | perl -MJSON::PP -e 'print scalar @{decode_json(do { local $/; <STDIN> })}'; }

test_expect_success 'the example configuration, dataset names changed: init' '
	sed -e "s|^datasets = tank/home$|datasets = $P/home|" \
	    -e "s|^repository = /srv/backup/zbak$|repository = $TMP/repo|" \
	    -e "s|^passphrase_file = /etc/zbak/passphrase$|passphrase_file = $TMP/passphrase|" \
	    -e "s|^lock_file = /run/zbak/zbak.lock$|lock_file = $TMP/run/zbak.lock|" \
	    -e "s|^metrics_file = .*|metrics_file = $TMP/zbak.prom|" \
	    "$here/conf/zbak.conf" >"$CONF" &&
	diff "$here/conf/zbak.conf" "$CONF" | grep "^>" >changed &&
	cat changed && test "$(wc -l <changed)" = 5 &&
	(umask 077 && echo "a long passphrase" >"$TMP/passphrase") &&
	z init >out && cat out
'

test_expect_success 'the datasets: a file system and two children' '
	ds_create $P/home $P/home/alice $P/home/bob &&
	for ds in $P/home $P/home/alice $P/home/bob; do
		d=$(ds_mnt $ds) &&
		head -c 400000 /dev/urandom >"$d/data" &&
		seq 1 50000 >"$d/text" && mkdir "$d/dir" && ln -s ../text "$d/dir/link" || return 1
	done
'

test_expect_success 'zbak backup, night 1: full streams, exit 0' '
	ZBAK_NOW=$(at 1) z backup >out 2>err &&
	cat out err &&
	for ds in $P/home $P/home/alice $P/home/bob; do
		grep -q "^stored $ds@$(name 1): full" out || return 1
	done &&
	grep -q "send does not take -c -L -e (of the default send_flags)" err
'

test_expect_success 'zbak backup, night 2: incremental, exit 0' '
	echo "a change" >>"$(ds_mnt $P/home/alice)/text" &&
	rm "$(ds_mnt $P/home/bob)/data" &&
	ZBAK_NOW=$(at 2) z backup >out 2>err &&
	cat out &&
	for ds in $P/home $P/home/alice $P/home/bob; do
		grep -q "^stored $ds@$(name 2): incremental from @$(name 1)" out || return 1
	done &&
	test "$(ds_holds "$P/home/alice@$(name 2)")" = "zbak " &&
	test "$(ds_holds "$P/home/alice@$(name 1)")" = ""
'

test_expect_success 'zbak prune: keep_last = 7 keeps both nights, exit 0' '
	ZBAK_NOW=$(at 2) z prune >out &&
	cat out &&
	test "$(stored_count)" = 6
'

test_expect_success 'restore --to the newest snapshot of each: equal to the original' '
	zfs create $P/restored &&
	for ds in home home/alice home/bob; do
		z restore "$P/$ds@$(name 2)" --to "$P/restored/$ds" >out || return 1
		cat out
		ds_same "$P/$ds@$(name 2)" "$P/restored/$ds@$(name 2)" || return 1
	done &&
	ds_same "$P/home/alice" "$P/restored/home/alice"
'

# --- make demo beside a real pool named tank ----------------------------------
if zfs list tank >/dev/null 2>&1; then
	test_skip 'make demo beside a real pool named tank leaves it untouched' \
		"this machine has a pool named tank: it is not this test's to use"
else
	test_expect_success 'make demo beside a real pool named tank leaves it untouched' '
		zt_pool tank &&
		ds_create tank/data tank/restored &&
		echo "the user data" >"$(ds_mnt tank/data)/precious" &&
		zfs snapshot -r tank@mine &&
		mkdir -p spy && printf "#!/bin/sh\necho \"\$*\" >>%s\nexit 1\n" "$TMP/spy.log" >spy/zfs &&
		chmod +x spy/zfs &&
		zpool history tank >history.before &&
		zfs get -H -p -o name,property,value -r guid,referenced tank >tank.before &&
		(unset ZBAK_ZFS ZBAK_POOL_DIR; PATH=$TMP/spy:$PATH "$here/tests/demo.sh") >demo.out 2>&1; rc=$?
		tail -6 demo.out && test $rc = 0 && grep -q "^demo: ok" demo.out &&
		test ! -e "$TMP/spy.log" &&
		zpool history tank >history.after && cmp history.before history.after &&
		zfs get -H -p -o name,property,value -r guid,referenced tank >tank.after &&
		cmp tank.before tank.after &&
		test "$(cat "$(ds_mnt tank/data)/precious")" = "the user data"
	'
fi

test_done
