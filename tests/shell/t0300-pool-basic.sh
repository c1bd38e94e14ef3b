#!/bin/bash
# zbak pool: create, write, free, snapshot, rollback, destroy, list and diff
# on a local pool, and the data read back through send + receive elsewhere.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
zp() { "$ZBAK" pool "$@"; }
# the second pool, for reading data back
P2=$TMP/pool2
zp2() { "$ZBAK" --pool-dir "$P2" pool "$@"; }
# BLAKE2b-256 in hex, as zbak debug content prints payload hashes
b2() { b2sum -l 256 | cut -d' ' -f1; }
# the data hash of the WRITE of OBJECT at OFFSET in a stream's content
write_hash() { # CONTENT_FILE OBJECT OFFSET
	grep " WRITE object=$2 offset=$3 " "$1" | sed 's/.* data=//'
}
# the names `pool list -H -o name` prints for ARGS, one a line
names() { zp list -H -o name "$@"; }
# expect_rc N CMD...: CMD exits with N (stdout to $TMP/out, stderr $TMP/err)
expect_rc() {
	local want=$1 rc
	shift
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" = "$want" ] && return 0
	echo "expected exit $want, got $rc: $*"
	cat "$TMP/err"
	return 1
}
# LIST FILE: "name guid createtxg" lines; checks their form
check_snap_lines() {
	perl -ne 'chomp; /^[^\t]+@[^\t]+\t[1-9][0-9]*\t[0-9]+$/ or
		die "bad line: <$_>\n"' "$1"
}

test_expect_success 'create a pool' '
	zp create tank &&
	test "$(names)" = tank
'

test_expect_success 'create nested datasets; missing parents need -p' '
	zp create tank/a &&
	expect_fail zp create tank/x/y/z &&
	test -s "$TMP/err" &&
	! names -r tank | grep -q "^tank/x" &&
	zp create -p tank/x/y/z &&
	names -r tank >list &&
	grep -qx tank/x list && grep -qx tank/x/y list &&
	grep -qx tank/x/y/z list
'

test_expect_success 'create -p of an existing parent chain and a new leaf' '
	zp create -p tank/a/b &&
	names -r tank/a >list &&
	test "$(cat list)" = "$(printf "tank/a\ntank/a/b")"
'

test_expect_success 'duplicates are refused with a message' '
	names -r -t all >before &&
	expect_fail zp create tank/a && test -s "$TMP/err" &&
	expect_fail zp create tank && test -s "$TMP/err" &&
	names -r -t all >after && cmp before after
'

test_expect_success 'create -p of an existing dataset' '
	names -r -t all >before &&
	if zp create -p tank/a 2>err; then :; else test -s err; fi &&
	names -r -t all >after && cmp before after
'

long=$(printf "%0300d" 0)
for bad in "" "tank/" "/tank" "tank//b" "tank/a@s" "tank/a#b" "tank/a%b" \
	"tank/a/../b" "tank/." "tank/.." "tank/a*" "tank/$long" "no-such-pool/x"; do
	test_expect_success "bad name '${bad:0:40}' refused with a message" '
		names -r -t all >before &&
		expect_fail zp create "$bad" && test -s "$TMP/err" &&
		names -r -t all >after && cmp before after
	'
done

test_expect_success 'write needs an existing dataset' '
	echo hello >data &&
	expect_fail zp write tank/none 1 0 <data && test -s "$TMP/err"
'

# write, then read back through send: WRITE payloads are the blocks
head -c 10000 /dev/urandom >"$TMP/d1"
test_expect_success 'write -b 4096 and read the blocks back through send' '
	zp create tank/fs &&
	zp write -b 4096 tank/fs 5 0 <d1 &&
	zp snapshot tank/fs@a &&
	zp send tank/fs@a >a.zs &&
	"$ZBAK" debug content a.zs >a.c &&
	grep -q " OBJECT object=5 type=19 .* blksz=4096 " a.c &&
	test "$(grep -c " WRITE object=5 " a.c)" = 3 &&
	test "$(write_hash a.c 5 0)" = "$(head -c 4096 d1 | b2)" &&
	test "$(write_hash a.c 5 4096)" = "$(tail -c +4097 d1 | head -c 4096 | b2)" &&
	test "$(write_hash a.c 5 8192)" = \
		"$( { tail -c +8193 d1; head -c $((3 * 4096 - 10000)) /dev/zero; } | b2)"
'

test_expect_success 'a write at an offset in an existing object' '
	printf "0123456789" >d2 &&
	zp write tank/fs 5 4100 <d2 &&
	zp snapshot tank/fs@b &&
	zp send tank/fs@b | "$ZBAK" debug content >b.c &&
	grep -q " OBJECT object=5 .* blksz=4096 " b.c &&
	test "$(write_hash b.c 5 0)" = "$(write_hash a.c 5 0)" &&
	test "$(write_hash b.c 5 8192)" = "$(write_hash a.c 5 8192)" &&
	test "$(write_hash b.c 5 4096)" = \
		"$( { tail -c +4097 d1 | head -c 4; cat d2; tail -c +4111 d1 | head -c 4082; } | b2)"
'

test_expect_success 'free a range: whole blocks go, partial ones are zeroed' '
	zp free tank/fs 5 4096 4096 &&
	zp free tank/fs 5 10 20 &&
	zp snapshot tank/fs@c &&
	zp send tank/fs@c | "$ZBAK" debug content >c.c &&
	test -z "$(write_hash c.c 5 4096)" &&
	test "$(write_hash c.c 5 8192)" = "$(write_hash a.c 5 8192)" &&
	test "$(write_hash c.c 5 0)" = \
		"$( { head -c 10 d1; head -c 20 /dev/zero; tail -c +31 d1 | head -c 4066; } | b2)"
'

test_expect_success 'free a whole object' '
	head -c 3000 /dev/urandom | zp write -b 512 tank/fs 7 0 &&
	zp snapshot tank/fs@d &&
	zp send tank/fs@d | "$ZBAK" debug content >d.c &&
	grep -q " OBJECT object=7 .* blksz=512 " d.c &&
	test "$(grep -c " WRITE object=7 " d.c)" = 6 &&
	zp free tank/fs 7 &&
	zp snapshot tank/fs@e &&
	zp send tank/fs@e | "$ZBAK" debug content >e.c &&
	! grep -q " object=7 " e.c &&
	grep -q " OBJECT object=5 " e.c
'

test_expect_success 'freeing a missing object or in a missing dataset fails' '
	expect_fail zp free tank/none 5 &&
	zp list -H -o name tank/fs >/dev/null
'

# --- list -----------------------------------------------------------------

test_expect_success 'list -H -p -o name,guid,createtxg -t snapshot: the zfs form' '
	zp list -H -p -o name,guid,createtxg -t snapshot tank/fs >l &&
	check_snap_lines l &&
	test "$(cut -f1 l | tr "\n" " ")" = "tank/fs@a tank/fs@b tank/fs@c tank/fs@d tank/fs@e " &&
	cut -f3 l >txg && sort -n -u txg | cmp - txg &&
	test "$(cut -f2 l | sort -u | wc -l)" = 5
'

test_expect_success 'list -r -t snapshot includes the snapshots of children' '
	zp snapshot tank/a/b@s1 &&
	zp list -H -p -o name,guid,createtxg -t snapshot -r tank >l &&
	check_snap_lines l &&
	grep -q "^tank/a/b@s1	" l && grep -q "^tank/fs@e	" l &&
	test "$(wc -l <l)" = 6 &&
	zp list -H -p -o name,guid,createtxg -t snapshot tank >l2 &&
	test ! -s l2
'

test_expect_success 'createtxg increases across datasets too' '
	zp list -H -p -o createtxg -t snapshot -r tank >txg &&
	grep -x "[0-9]*" txg &&
	test "$(zp list -H -p -o createtxg tank/a/b@s1)" -gt \
		"$(zp list -H -p -o createtxg tank/fs@e)"
'

test_expect_success 'a snapshot guid is decimal and matches the stream toguid' '
	g=$(zp list -H -p -o guid tank/fs@a) &&
	grep -q "^tank/fs@a BEGIN toguid=$g " a.c
'

test_expect_success 'list -t filesystem, -t all, and the default' '
	zp list -H -o name -t filesystem -r tank >fs &&
	! grep -q @ fs && grep -qx tank/fs fs && grep -qx tank fs &&
	zp list -H -o name -t all -r tank >all &&
	grep -qx tank/fs@c all && grep -qx tank/a/b all &&
	test "$(grep -c @ all)" = 6 &&
	zp list -H -o name -r tank >def && cmp def fs
'

test_expect_success 'list without -H prints a header' '
	zp list >out &&
	head -1 out | grep -q NAME &&
	grep -q "^tank/fs " out
'

test_expect_success 'list -o type and origin' '
	test "$(zp list -H -o type tank/fs)" = filesystem &&
	test "$(zp list -H -o type tank/fs@a)" = snapshot &&
	o=$(zp list -H -o origin tank/fs) &&
	{ test "$o" = - || test -z "$o"; }
'

test_expect_success 'list -o objects counts objects' '
	test "$(zp list -H -p -o objects tank/fs@d)" -ge 2 &&
	test "$(zp list -H -p -o objects tank/fs@e)" -lt \
		"$(zp list -H -p -o objects tank/fs@d)"
'

test_expect_success 'list of a missing dataset fails' '
	expect_fail zp list tank/none && test -s "$TMP/err"
'

test_expect_success 'list refuses a bad -o or -t' '
	expect_fail zp list -o nosuchprop &&
	expect_fail zp list -t nosuchtype
'

# --- diff -------------------------------------------------------------------

test_expect_success 'diff of equal snapshots and of the live state exits 0' '
	zp diff tank/fs@e tank/fs >out &&
	zp diff tank/fs@a tank/fs@a
'

test_expect_success 'diff of different snapshots exits 1 and says what differs' '
	expect_rc 1 zp diff tank/fs@a tank/fs@b && test -s out &&
	expect_rc 1 zp diff tank/fs@d tank/fs@e && grep -q 7 out
'

test_expect_success 'diff of a missing name fails and says so' '
	expect_rc 2 zp diff tank/fs@a tank/fs@none &&
	grep -q "tank/fs@none" "$TMP/err"
'

test_expect_success 'diff sees a change of the live state' '
	echo x | zp write tank/fs 5 0 &&
	expect_rc 1 zp diff tank/fs@e tank/fs
'

# --- rollback ---------------------------------------------------------------

test_expect_success 'rollback to the newest snapshot drops live changes' '
	zp rollback tank/fs@e &&
	zp diff tank/fs@e tank/fs
'

test_expect_success 'rollback to an older snapshot needs -r' '
	zp list -H -p -o name,guid,createtxg -t all -r tank >before &&
	expect_fail zp rollback tank/fs@c && test -s "$TMP/err" &&
	zp list -H -p -o name,guid,createtxg -t all -r tank >after &&
	cmp before after
'

test_expect_success 'rollback -r destroys the later snapshots' '
	zp rollback -r tank/fs@c &&
	zp list -H -o name -t snapshot tank/fs >l &&
	test "$(cat l | tr "\n" " ")" = "tank/fs@a tank/fs@b tank/fs@c " &&
	zp diff tank/fs@c tank/fs &&
	zp send tank/fs@c | "$ZBAK" debug content >c2.c && cmp c.c c2.c
'

test_expect_success 'a snapshot after a rollback gets a new guid and a later txg' '
	zp snapshot tank/fs@d &&
	g=$(zp list -H -p -o guid tank/fs@d) &&
	! grep -q "toguid=$g " d.c &&
	test "$(zp list -H -p -o createtxg tank/fs@d)" -gt \
		"$(zp list -H -p -o createtxg tank/a/b@s1)"
'

test_expect_success 'snapshot of an existing name is refused' '
	expect_fail zp snapshot tank/fs@d && test -s "$TMP/err"
'

test_expect_success 'snapshot -r snapshots every descendant' '
	zp snapshot -r tank/x@r &&
	zp list -H -o name -t snapshot -r tank/x >l &&
	test "$(cat l | tr "\n" " ")" = "tank/x@r tank/x/y@r tank/x/y/z@r "
'

test_expect_success 'rollback of a missing snapshot fails' '
	expect_fail zp rollback tank/fs@none
'

# --- destroy ----------------------------------------------------------------

test_expect_success 'destroy a snapshot' '
	zp destroy tank/fs@b &&
	! zp list -H -o name -t snapshot tank/fs | grep -q @b &&
	zp diff tank/fs@c tank/fs
'

test_expect_success 'destroying a dataset with snapshots needs -r' '
	zp list -H -p -o name,guid,createtxg -t all -r tank >before &&
	expect_fail zp destroy tank/fs && test -s "$TMP/err" &&
	zp list -H -p -o name,guid,createtxg -t all -r tank >after &&
	cmp before after
'

test_expect_success 'destroying a dataset with children needs -r' '
	expect_fail zp destroy tank/x/y && test -s "$TMP/err" &&
	zp list -H -o name tank/x/y/z
'

test_expect_success 'destroy -r takes the snapshots and children' '
	zp destroy -r tank/x/y &&
	names -r -t all tank/x >l &&
	test "$(cat l | tr "\n" " ")" = "tank/x tank/x@r " &&
	zp destroy -r tank/fs &&
	! names -r -t all tank | grep -q "^tank/fs"
'

test_expect_success 'destroy -r snapshot name: that snapshot on every descendant' '
	zp create tank/x/q && zp snapshot -r tank/x@r2 &&
	zp destroy -r tank/x@r2 &&
	! names -r -t all tank/x | grep -q @r2 &&
	names -r -t all tank/x | grep -qx "tank/x@r"
'

test_expect_success 'a destroyed name can be created again, empty' '
	zp create tank/fs &&
	zp snapshot tank/fs@a &&
	zp send tank/fs@a | "$ZBAK" debug content >n.c &&
	! grep -q " WRITE " n.c
'

test_expect_success 'destroy of a missing name fails' '
	expect_fail zp destroy tank/none && test -s "$TMP/err"
'

# --- read back: send here, receive in another pool, compare ----------------

test_expect_success 'send, receive in another pool, diff and content agree' '
	head -c 200000 /dev/urandom >big &&
	zp write -b 131072 tank/fs 9 0 <big &&
	head -c 5000 /dev/urandom | zp write -b 512 tank/fs 10 1000 &&
	zp snapshot tank/fs@b &&
	zp send tank/fs@b >b.zs &&
	zp2 create tank &&
	zp2 recv tank/fs <b.zs &&
	zp2 send tank/fs@b >b2.zs &&
	"$ZBAK" debug content b.zs >b.c &&
	"$ZBAK" debug content b2.zs >b2.c &&
	cmp b.c b2.c &&
	test "$(zp list -H -p -o guid tank/fs@b)" = \
		"$(zp2 list -H -p -o guid tank/fs@b)" &&
	test "$(write_hash b2.c 9 131072)" = \
		"$( { tail -c +131073 big; head -c $((2 * 131072 - 200000)) /dev/zero; } | b2)"
'

test_expect_success 'an incremental between pools, and the pools diff equal' '
	zp free tank/fs 9 &&
	printf abc | zp write tank/fs 10 0 &&
	zp snapshot tank/fs@c &&
	zp send -i @b tank/fs@c >bc.zs &&
	zp2 recv tank/fs <bc.zs &&
	zp send tank/fs@c | "$ZBAK" debug content >c.c &&
	zp2 send tank/fs@c | "$ZBAK" debug content >c2.c &&
	cmp c.c c2.c &&
	zp2 recv tank/q <b.zs &&
	zp2 recv tank/q <bc.zs &&
	zp2 diff tank/fs@c tank/q@c &&
	zp2 diff tank/fs@b tank/q@b
'

# zfs send pool/a@s | zfs recv pool/b: both ends in one pool at once (a
# command that waits for the pool's lock gives up after 5 s here, not 60)
test_expect_success 'send | recv within one pool, the sender first' '
	export ZBAK_POOL_LOCK_WAIT=5 &&
	zp send tank/fs@b | { sleep 0.3; zp recv tank/copy1; } &&
	zp diff tank/fs@b tank/copy1@b
'

test_expect_success 'send | recv within one pool, the receiver first' '
	export ZBAK_POOL_LOCK_WAIT=5 &&
	{ sleep 0.3; zp send tank/fs@b; } | zp recv tank/copy2 &&
	zp diff tank/fs@b tank/copy2@b
'

test_done
