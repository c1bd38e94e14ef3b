#!/bin/bash
# Test hooks never ship (libbackup/util/hooks.h).  The suite runs the test
# build ($ZBAK, build/zbak-test), which reads ZBAK_NOW, ZBAK_KDF_INSECURE_FAST
# and ZBAK_GC_MARGIN; the build that is installed ($ZBAK_RELEASE,
# build/zbak) must not contain their names and must do what it does
# without them when they are set.  The attack that made this a rule: a
# slow push, and gc run twice with ZBAK_NOW hours ahead, which let gc take
# the running push's packs (the push exited 0, its snapshot listed, and it
# could not be restored).
. "$(dirname "$0")/../lib.sh"

unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN ZBAK_KDF_INSECURE_FAST
export ZBAK_PASSPHRASE='correct horse'
REL=${ZBAK_RELEASE:-}
hooks="ZBAK_NOW ZBAK_KDF_INSECURE_FAST ZBAK_GC_MARGIN"

if [ -z "$REL" ] || [ ! -x "$REL" ]; then
	test_skip 'the installed build has no test hooks' "ZBAK_RELEASE does not name the installed build (make test sets it)"
	test_done
	exit 0
fi

test_expect_success 'the installed build does not even contain the hooks'"'"' names; the test build does' '
	for h in $hooks; do
		! grep -a -q "$h" "$REL" || { echo "$REL contains $h"; return 1; }
		grep -a -q "$h" "$ZBAK" || { echo "$ZBAK lacks $h"; return 1; }
	done
'

test_expect_success 'ZBAK_NOW: the installed build keeps the real clock' '
	t0=$(date +%s) &&
	ZBAK_NOW=1000000000 "$REL" --pool-dir rel pool create p &&
	ZBAK_NOW=1000000000 "$ZBAK" --pool-dir tst pool create p &&
	rel=$("$REL" --pool-dir rel pool list -H -p -o creation p) &&
	tst=$("$ZBAK" --pool-dir tst pool list -H -p -o creation p) &&
	echo "installed: $rel, test build: $tst" &&
	test "$rel" -ge "$t0" && test "$tst" = 1000000000
'

# the argon2id costs in the keys object (bytes 12..27: ops, memory)
costs() { od -An -tu8 -j12 -N16 "$1/keys" | tr -s " " | sed "s/^ //"; }

test_expect_success 'ZBAK_KDF_INSECURE_FAST: the installed build stores the default costs' '
	ZBAK_KDF_INSECURE_FAST=1 "$REL" -r r1 init >/dev/null &&
	ZBAK_KDF_INSECURE_FAST=1 "$ZBAK" -r r2 init >/dev/null &&
	echo "installed: $(costs r1), test build: $(costs r2)" &&
	test "$(costs r1)" = "5 50331648" &&
	test "$(costs r2)" != "5 50331648"
'

test_expect_success 'ZBAK_GC_MARGIN=0: the installed build keeps young garbage' '
	ZBAK_KDF_INSECURE_FAST=1 "$ZBAK" -r g init >/dev/null &&
	"$ZBAK" debug gen --objects 4 --blocksize 65536 | "$ZBAK" -r g push - >/dev/null &&
	"$ZBAK" -r g forget pool/fs@v1 >/dev/null &&
	test "$(find g/data -type f | wc -l)" -ge 1 &&
	ZBAK_GC_MARGIN=0 "$REL" -r g gc >out && cat out &&
	test "$(find g/data -type f | wc -l)" -ge 1 &&
	ZBAK_GC_MARGIN=0 "$ZBAK" -r g gc >out && cat out &&
	test "$(find g/data -type f | wc -l)" = 0
'

test_expect_success 'the attack: a slow push, gc with ZBAK_NOW hours ahead: the push stays whole' '
	ZBAK_KDF_INSECURE_FAST=1 "$ZBAK" -r a init >/dev/null &&
	"$ZBAK" debug gen --size 48M --blocksize 131072 >big.zs || return 1
	now=$(date +%s)
	{ slowcat big.zs 1048576 0.25 | "$REL" -r a push - >push.out 2>&1; echo $? >push.rc; } &
	pusher=$!
	sleep 6
	ZBAK_LOCK_WAIT=1 ZBAK_NOW=$((now + 7200)) "$REL" -r a gc >gc1.out 2>&1; echo "gc 1: $?"; cat gc1.out
	ZBAK_LOCK_WAIT=1 ZBAK_NOW=$((now + 20000)) "$REL" -r a gc >gc2.out 2>&1; echo "gc 2: $?"; cat gc2.out
	wait $pusher &&
	cat push.out && test "$(cat push.rc)" = 0 &&
	"$REL" -r a restore pool/fs@v1 -o back.zs &&
	cmp big.zs back.zs
'

test_done
