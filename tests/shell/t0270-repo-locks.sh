#!/bin/bash
# Repository locks that heal (docs/repository.md, "Locks"):
# - SIGINT, SIGTERM, SIGHUP: the process lets go of its lock, says so and
#   exits 130, 143, 129; nothing is left that blocks the next run;
# - kill -9: the lock of a process of this machine that is not running is
#   dead at once, and the next taker (shared or exclusive) removes it;
# - a lock of another machine (here: of a process in another pid
#   namespace, which this one cannot see) is never taken for dead: it is
#   stale only once this machine has seen it unchanged for 30 minutes by
#   its own clock, so a holder whose clock is hours behind keeps its lock;
# - the busy message names the holder with a human time and says what to
#   do; `zbak unlock` removes what is gone and keeps what may run,
#   `--remove-all` removes everything.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_NOW ZBAK_GC_MARGIN
export ZBAK_STATE_DIR=$TMP/state
repo_new
z() { "$ZBAK" -r "$REPO" "$@"; }
locks() { repo_count "$REPO" locks/; }
# a push fed slowly, in the background: PUSHER is zbak's pid
slow_push() { # NAME [ENV=VALUE...]
	local name=$1
	shift
	slowcat "$TMP/slow" 65536 0.1 | env "$@" "$ZBAK" -q -r "$REPO" push --name "$name" &
	PUSHER=$!
}
wait_lock() { # until a lock exists (at most 10 s)
	local i
	for i in $(seq 100); do [ "$(locks)" -ge 1 ] && return 0; sleep 0.1; done
	return 1
}

test_expect_success 'setup' '
	z init >/dev/null &&
	"$ZBAK" debug gen --objects 6 --blocksize 65536 --seed 3 -o "$TMP/slow"
'

for sig in INT:130 TERM:143 HUP:129; do
	name=${sig%:*} code=${sig#*:}
	test_expect_success "SIG$name: the push lets go of its lock and exits $code" '
		slow_push "sig/fs@$name" &&
		wait_lock && sleep 0.3 &&
		kill -'"$name"' $PUSHER; wait $PUSHER; rc=$?
		echo "exit $rc" && test $rc = '"$code"' &&
		test "$(locks)" = 0
	'
done

test_expect_success 'kill -9: the dead process'"'"'s lock goes at the next taker, shared or exclusive' '
	slow_push kill/fs@a && wait_lock &&
	kill -KILL $PUSHER; wait $PUSHER
	test "$(locks)" = 1 &&
	z -q verify >/dev/null &&
	test "$(locks)" = 0 &&
	slow_push kill/fs@b && wait_lock &&
	kill -KILL $PUSHER; wait $PUSHER
	test "$(locks)" = 1 &&
	ZBAK_LOCK_WAIT=1 z gc >out && cat out &&
	test "$(locks)" = 0
'

if ! unshare --pid --fork --kill-child --mount-proc true 2>/dev/null; then
	test_skip 'a lock of another machine is not dead, only stale after 30 min seen unchanged' "unshare --pid does not work here (root needed)"
else
	# a push in a pid namespace of its own: its lock names a process this
	# one cannot see, as a lock of another machine does
	other_push() { # NAME [ENV=VALUE...]
		local name=$1
		shift
		slowcat "$TMP/slow" 65536 0.1 |
			unshare --pid --fork --kill-child --mount-proc env "$@" "$ZBAK" -q -r "$REPO" push --name "$name" &
		PUSHER=$!
	}
	test_expect_success 'a lock of another machine, its holder gone, its clock 2 hours behind: kept' '
		now=$(date +%s)
		other_push other/fs@a ZBAK_NOW=$((now - 7200)) && wait_lock &&
		kill -KILL $PUSHER; wait $PUSHER
		test "$(locks)" = 1 &&
		ZBAK_LOCK_WAIT=1 z gc >out 2>err; rc=$?
		cat err && test $rc != 0 &&
		grep -q "the repository is busy: a shared lock of pid [0-9]* on .*, taken 20[0-9-]* [0-9:]* UTC (.*) (a push, restore or verify); waited [0-9]* s (if no zbak runs there any more, .zbak unlock. removes it)" err &&
		test "$(locks)" = 1
	'

	test_expect_success 'zbak unlock keeps a lock that may be running' '
		z unlock >out && cat out &&
		grep -q "^kept locks/[0-9a-f]*: a shared lock of pid" out &&
		grep -q "^0 locks removed, 1 kept$" out &&
		test "$(locks)" = 1
	'

	test_expect_success 'seen unchanged for 30 minutes by this machine: stale, gc removes it' '
		ZBAK_LOCK_WAIT=1 ZBAK_NOW=$(( $(date +%s) + 1700 )) z gc >out 2>err; test $? != 0 &&
		ZBAK_NOW=$(( $(date +%s) + 1900 )) ZBAK_LOCK_WAIT=1 z gc >out &&
		cat out && test "$(locks)" = 0
	'

	test_expect_success 'zbak unlock --remove-all removes a lock that may be running' '
		other_push other/fs@b && wait_lock &&
		kill -KILL $PUSHER; wait $PUSHER
		test "$(locks)" = 1 &&
		z unlock --remove-all >out && cat out &&
		grep -q "^removed locks/[0-9a-f]*: a shared lock of pid .*: --remove-all$" out &&
		test "$(locks)" = 0
	'
fi

test_expect_success 'after all that, the repository is sound' '
	z verify >out && cat out
'

test_done
