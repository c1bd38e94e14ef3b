#!/bin/bash
# zbak restore --to: a dataset of the local pool in several versions (writes,
# overwrites, frees) is pushed as a full stream and incrementals, then
# received back, through the local pool and through `zfs receive` (the
# stand-in tests/bin/zfs over the same local pool): the full chain, a chain
# to a middle snapshot, a partial chain onto a target that has its base,
# nothing to do; every snapshot compared with zbak pool diff.  Refusals
# leave the target as it was (its listing compared before and after): a
# modified target without -F, snapshots after the base without -F,
# unrelated snapshots, an existing dataset without -F, a damaged pack
# (exit 3; and one that fails the last stream only: the streams before it
# stay), a manifest missing in the middle of the chain.  Auto picks the
# local pool without a zfs command, or when zfs does not know the pool.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_CONFIG
export ZBAK_POOL_DIR=$TMP/pool
BIN=$(cd "$(dirname "$0")/../bin" && pwd)	# the zfs stand-in
export ZBAK
R=$TMP/repo
C=$TMP/copy	# damaged copies
z() { "$ZBAK" -r "$R" "$@"; }
zc() { "$ZBAK" -r "$C" "$@"; }
zp() { "$ZBAK" pool "$@"; }
# no zfs command, unless a test names the stand-in ($BIN/zfs): a zfs on
# PATH (zfs-fuse's, or a real one that has a pool named tank) must never
# be reached
export ZBAK_ZFS=$TMP/no-zfs-here
# what the pool holds: every dataset and snapshot, guids, sizes
state() { zp list -H -p -o name,guid,createtxg,referenced,objects -t all -r tank; }
# snapshots of a dataset as "snap guid", to compare chains across datasets
snaps() { zp list -H -p -o name,guid -t snapshot "$1" | sed 's/^[^@]*@//'; }
# same DS SNAP...: each DS@SNAP holds the data of tank/src@SNAP
same() {
	local ds=$1 s
	shift
	for s in "$@"; do
		zp diff "tank/src@$s" "$ds@$s" >/dev/null ||
			{ echo "$ds@$s differs from tank/src@$s"; zp diff "tank/src@$s" "$ds@$s"; return 1; }
	done
}
guid() { zp list -H -p -o guid "$1"; }
# status COMMAND...: its exit status (stdout to $TMP/out, stderr $TMP/err)
status() { "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }
hexguid() { printf '%016x' "$(guid "$1")"; }

test_expect_success 'setup: a dataset in four versions, pushed as full + 3 incrementals' '
	zp create tank && zp create tank/src &&
	head -c 400000 /dev/urandom >d1 &&
	zp write tank/src 2 0 <d1 &&
	seq 1 20000 | zp write -b 16384 tank/src 3 0 &&
	zp snapshot tank/src@v1 &&
	head -c 70000 /dev/urandom | zp write tank/src 2 131072 &&
	head -c 9000 /dev/urandom | zp write tank/src 4 4096 &&
	zp snapshot tank/src@v2 &&
	zp free tank/src 2 0 131072 &&
	zp free tank/src 3 &&
	zp snapshot tank/src@v3 &&
	head -c 200000 /dev/urandom | zp write tank/src 5 0 &&
	zp snapshot tank/src@v4 &&
	z init >/dev/null &&
	zp send tank/src@v1 | z push - >/dev/null &&
	zp send -i @v1 tank/src@v2 | z push - >/dev/null &&
	zp send -i @v2 tank/src@v3 | z push - >/dev/null &&
	find "$R/data" -type f | sort >"$TMP/packs.v3" &&
	zp send -i tank/src@v3 tank/src@v4 | z push - >/dev/null &&
	find "$R/data" -type f | sort >"$TMP/packs.v4" &&
	test "$(names | tr "\n" " ")" = "tank/src@v1 tank/src@v2 tank/src@v3 tank/src@v4 "
'

test_expect_success 'the full chain into a new dataset of the local pool' '
	z restore tank/src@v4 --to tank/full --receiver local >out &&
	cat out &&
	grep -q "^receiving 4 streams into tank/full with the local pool $ZBAK_POOL_DIR" out &&
	grep -q "^received tank/src@v1 (full) into tank/full as tank/full@v1: " out &&
	grep -q "^received tank/src@v4 (incremental from tank/src@v3) into tank/full as tank/full@v4: .* records, verified" out &&
	grep -q "^restored tank/src@v4 into tank/full: 4 streams, " out &&
	same tank/full v1 v2 v3 v4 &&
	zp diff tank/src tank/full >/dev/null &&
	test "$(snaps tank/full)" = "$(snaps tank/src)"
'

test_expect_success '-q: quiet; a chain to a middle snapshot stops there' '
	"$ZBAK" -q -r "$R" restore tank/src@v2 --to tank/mid >out 2>err &&
	test ! -s out && test ! -s err &&
	test "$(snaps tank/mid | cut -f1 | tr "\n" " ")" = "v1 v2 " &&
	same tank/mid v1 v2
'

test_expect_success 'a partial chain: the target has the base, the rest follows' '
	z restore tank/src@v4 --to tank/mid >out &&
	grep -q "^tank/mid has tank/mid@v2: receiving the 2 streams after it" out &&
	! grep -q "tank/src@v[12] (" out &&
	same tank/mid v1 v2 v3 v4 &&
	test "$(snaps tank/mid)" = "$(snaps tank/src)"
'

test_expect_success 'again: nothing to do, nothing changes' '
	state >before &&
	z restore tank/src@v4 --to tank/mid >out &&
	grep -q "tank/mid already has tank/src@v4 (as tank/mid@v4): nothing to do" out &&
	state >after && cmp before after
'

test_expect_success 'a modified target: refused without -F (exit 6, unchanged), received with -F' '
	z -q restore tank/src@v2 --to tank/mod &&
	echo changed | zp write tank/mod 2 0 &&
	state >before &&
	test "$(status z restore tank/src@v4 --to tank/mod)" = 6 &&
	cat "$TMP/err" &&
	grep -q "tank/src@v3 (stream 1 of 2) into tank/mod: receiving failed: " "$TMP/err" &&
	grep -q "nothing was committed: tank/mod is as it was" "$TMP/err" &&
	state >after && cmp before after &&
	z restore -F tank/src@v4 --to tank/mod >/dev/null &&
	same tank/mod v1 v2 v3 v4 && zp diff tank/src tank/mod >/dev/null
'

test_expect_success 'snapshots after the base: refused without -F (exit 6), destroyed with -F' '
	z -q restore tank/src@v2 --to tank/after &&
	zp snapshot tank/after@extra &&
	state >before &&
	test "$(status z restore tank/src@v4 --to tank/after)" = 6 &&
	cat "$TMP/err" &&
	grep -q "tank/after has snapshots after tank/after@v2, where the chain continues: tank/after@extra" "$TMP/err" &&
	grep -q -- "-F rolls tank/after back to tank/after@v2 and destroys them" "$TMP/err" &&
	state >after && cmp before after &&
	z restore -F tank/src@v4 --to tank/after >/dev/null &&
	same tank/after v1 v2 v3 v4 &&
	! snaps tank/after | grep -q extra
'

test_expect_success 'a target with unrelated snapshots: refused, with or without -F' '
	zp create tank/other &&
	echo mine | zp write tank/other 2 0 &&
	zp snapshot tank/other@mine &&
	state >before &&
	test "$(status z restore tank/src@v4 --to tank/other)" = 6 &&
	grep -q "tank/other has snapshots (tank/other@mine) but none of the chain of tank/src@v4, which starts with the full stream tank/src@v1" "$TMP/err" &&
	grep -q "restore --to another dataset" "$TMP/err" &&
	expect_fail z restore -F tank/src@v4 --to tank/other &&
	grep -q "but none of the chain" "$TMP/err" &&
	state >after && cmp before after
'

test_expect_success 'an existing dataset without snapshots: only with -F' '
	zp create tank/empty &&
	state >before &&
	test "$(status z restore tank/src@v2 --to tank/empty)" = 6 &&
	grep -q "tank/empty exists: the full stream tank/src@v1 replaces it only with -F" "$TMP/err" &&
	state >after && cmp before after &&
	z restore -F tank/src@v2 --to tank/empty >/dev/null &&
	same tank/empty v1 v2
'

test_expect_success 'a damaged pack: exit 3, nothing committed, the target as it was' '
	rm -rf "$C" "$ZBAK_CACHE_DIR" && cp -a "$R" "$C" &&
	find "$C/data" -type f | while read -r f; do
		perl -e "open(my \$f, q(+<), \$ARGV[0]) or die; binmode \$f;
			seek(\$f, 100, 0); read(\$f, my \$b, 1); seek(\$f, 100, 0);
			print \$f chr(ord(\$b) ^ 1);" "$f" || exit 1
	done &&
	z -q restore tank/src@v1 --to tank/dmg &&
	state >before &&
	"$ZBAK" -r "$C" restore tank/src@v4 --to tank/dmg >out 2>err; rc=$?
	cat err
	test $rc -eq 3 &&
	grep -q "tank/src@v2 (stream 1 of 3) into tank/dmg: restoring from the repository failed: " err &&
	grep -q "nothing was committed: tank/dmg is as it was" err &&
	state >after && cmp before after &&
	"$ZBAK" -r "$C" restore tank/src@v4 --to tank/dmg2 >out 2>err; rc=$?
	test $rc -eq 3 &&
	state >after2 && cmp before after2
'

test_expect_success 'a damaged pack in the last stream: the streams before it stay' '
	rm -rf "$C" "$ZBAK_CACHE_DIR" && cp -a "$R" "$C" &&
	comm -13 "$TMP/packs.v3" "$TMP/packs.v4" >v4packs &&
	test -s v4packs &&
	sed "s|^$R|$C|" v4packs | while read -r f; do
		perl -e "open(my \$f, q(+<), \$ARGV[0]) or die; binmode \$f;
			seek(\$f, 100, 0); read(\$f, my \$b, 1); seek(\$f, 100, 0);
			print \$f chr(ord(\$b) ^ 1);" "$f" || exit 1
	done &&
	zc restore tank/src@v4 --to tank/last >out 2>err; rc=$?
	cat out err
	test $rc -eq 3 &&
	grep -q "tank/src@v4 (stream 4 of 4) into tank/last: restoring from the repository failed: " err &&
	grep -q "committed before the failure: tank/src@v3" err &&
	grep -q "run the same command again to continue" err &&
	test "$(snaps tank/last | cut -f1 | tr "\n" " ")" = "v1 v2 v3 " &&
	same tank/last v1 v2 v3 &&
	z restore tank/src@v4 --to tank/last >out &&
	grep -q "^tank/last has tank/last@v3: receiving the 1 stream after it" out &&
	same tank/last v4
'

# (a machine that never saw the copy: one that had seen tank/src@v2 there
# refuses it for that, before any chain is looked at, t0280)
test_expect_success 'a manifest missing in the middle of the chain: exit 3, naming the guid' '
	rm -rf "$C" "$ZBAK_CACHE_DIR" && cp -a "$R" "$C" &&
	rm "$C/snapshots/tank/src@v2" &&
	ZBAK_STATE_DIR=$TMP/state-hole "$ZBAK" -r "$C" restore tank/src@v4 --to tank/hole >out 2>err; rc=$?
	cat err
	test $rc -eq 3 &&
	grep -q "the chain of tank/src@v4 is broken: tank/src@v3 is incremental from guid $(hexguid tank/src@v2), which no snapshot in the repository has" err &&
	! zp list tank/hole 2>/dev/null &&
	z -q restore tank/src@v2 --to tank/hole &&
	ZBAK_STATE_DIR=$TMP/state-hole "$ZBAK" -r "$C" restore tank/src@v4 --to tank/hole >out &&
	grep -q "receiving the 2 streams after it" out &&
	same tank/hole v1 v2 v3 v4
'

test_expect_success 'usage: --to with -o, an unknown receiver, -F without --to, a snapshot as target' '
	z restore tank/src@v4 --to tank/x -o file 2>/dev/null; test $? -eq 2 &&
	z restore tank/src@v4 --to tank/x --receiver nfs 2>err; test $? -eq 2 &&
	grep -q "receiver .nfs.: auto, zfs or local" err &&
	z restore tank/src@v4 -F -o file 2>/dev/null; test $? -eq 2 &&
	z restore tank/src@v4 --to tank/x@y 2>err; test $? -eq 2 &&
	grep -q "a dataset (pool/fs), not a snapshot" err &&
	z restore tank/src@v9 --to tank/x 2>err; test $? -eq 1 &&
	grep -q "no snapshot tank/src@v9 in the repository" err &&
	! zp list tank/x 2>/dev/null
'

test_expect_success 'no local pool there: a clear error' '
	ZBAK_POOL_DIR=$TMP/nopool z restore tank/src@v4 --to tank/x --receiver local 2>err; test $? -ne 0 &&
	grep -q "no local pool in $TMP/nopool" err
'

test_expect_success 'a package (zfs send -R) goes in as one' '
	"$ZBAK" debug gen --compound --name tank/c --objects 2 --size 300K -o cpd &&
	z push --name tank/c@v1 cpd >/dev/null &&
	z restore tank/c@v1 --to tank/cpd >out &&
	grep -q "received tank/c@v1 (package) into tank/cpd" out &&
	zp list -H -o name -t all -r tank/cpd >list &&
	grep -qx "tank/cpd@v1" list && grep -qx "tank/cpd/child@v1" list
'

# --- through zfs receive (the stand-in) ------------------------------------

test_expect_success 'zfs receive: the full chain, then a partial one' '
	ZBAK_ZFS=$BIN/zfs z restore tank/src@v2 --to tank/zfs --receiver zfs >out &&
	cat out &&
	grep -q "^receiving 2 streams into tank/zfs with zfs receive ($BIN/zfs)" out &&
	same tank/zfs v1 v2 &&
	ZBAK_ZFS=$BIN/zfs z restore tank/src@v4 --to tank/zfs --receiver zfs >out &&
	grep -q "^tank/zfs has tank/zfs@v2: receiving the 2 streams after it with zfs receive" out &&
	same tank/zfs v1 v2 v3 v4 &&
	test "$(snaps tank/zfs)" = "$(snaps tank/src)"
'

test_expect_success 'zfs receive: auto picks it when zfs knows the pool' '
	ZBAK_ZFS=$BIN/zfs z restore tank/src@v4 --to tank/zauto >out &&
	grep -q "with zfs receive ($BIN/zfs)" out &&
	same tank/zauto v1 v2 v3 v4
'

test_expect_success 'zfs receive: a modified target is refused, zfs quoted, exit 6, nothing changes' '
	ZBAK_ZFS=$BIN/zfs z -q restore tank/src@v2 --to tank/zmod --receiver zfs &&
	echo changed | zp write tank/zmod 2 0 &&
	state >before &&
	ZBAK_ZFS=$BIN/zfs z restore tank/src@v4 --to tank/zmod --receiver zfs >"$TMP/out" 2>"$TMP/err"; rc=$?
	cat "$TMP/err" && test $rc = 6 &&
	grep -E -q "tank/src@v3 \(stream 1 of 2\) into tank/zmod: (receiving|committing) failed: zfs receive tank/zmod (stopped reading the stream|failed) \(exit 1\): cannot receive into tank/zmod: .*modified" "$TMP/err" &&
	state >after && cmp before after &&
	ZBAK_ZFS=$BIN/zfs z restore -F tank/src@v4 --to tank/zmod --receiver zfs >/dev/null &&
	same tank/zmod v3 v4
'

test_expect_success 'zfs receive: a damaged pack, exit 3, killed, nothing left behind' '
	rm -rf "$C" "$ZBAK_CACHE_DIR" && cp -a "$R" "$C" &&
	comm -13 "$TMP/packs.v3" "$TMP/packs.v4" | sed "s|^$R|$C|" | while read -r f; do
		perl -e "open(my \$f, q(+<), \$ARGV[0]) or die; binmode \$f;
			seek(\$f, 100, 0); read(\$f, my \$b, 1); seek(\$f, 100, 0);
			print \$f chr(ord(\$b) ^ 1);" "$f" || exit 1
	done &&
	ZBAK_ZFS=$BIN/zfs z -q restore tank/src@v3 --to tank/zdmg --receiver zfs &&
	state >before &&
	ZBAK_ZFS=$BIN/zfs "$ZBAK" -r "$C" restore tank/src@v4 --to tank/zdmg --receiver zfs >out 2>err; rc=$?
	cat err
	test $rc -eq 3 &&
	grep -q "tank/src@v4 (stream 1 of 1) into tank/zdmg: restoring from the repository failed" err &&
	state >after && cmp before after &&
	! pgrep -f "pool recv tank/zdmg" &&
	z restore tank/src@v4 --to tank/zdmg --receiver local >/dev/null &&
	same tank/zdmg v4
'

test_expect_success 'zfs receive: a missing zfs command is named' '
	ZBAK_ZFS=$TMP/no-zfs-here expect_fail z restore tank/src@v4 --to tank/znone --receiver zfs &&
	grep -q "the zfs command .$TMP/no-zfs-here. was not found" "$TMP/err" &&
	! zp list tank/znone 2>/dev/null
'

test_expect_success 'auto: the local pool when there is no zfs command, or zfs does not know the pool' '
	z restore tank/src@v2 --to tank/auto1 >out &&
	grep -q "with the local pool $ZBAK_POOL_DIR" out &&
	printf "#!/bin/sh\necho \"cannot open \\x27\$5\\x27: dataset does not exist\" >&2\nexit 1\n" >fakezfs &&
	chmod +x fakezfs &&
	ZBAK_ZFS=$TMP/fakezfs z restore tank/src@v2 --to tank/auto2 >out &&
	grep -q "with the local pool" out &&
	same tank/auto2 v1 v2
'

test_done
