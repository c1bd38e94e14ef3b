#!/bin/bash
# A receive (or a write) killed with SIGKILL at any moment leaves the pool as
# it was; the same receive then succeeds, and nothing left behind gets in the
# way of later commands.
. "$(dirname "$0")/../lib.sh"

export ZBAK_POOL_DIR=$TMP/pool
REF=$TMP/ref
zp() { "$ZBAK" pool "$@"; }
zref() { "$ZBAK" --pool-dir "$REF" pool "$@"; }

LIST="-H -p -o name,guid,createtxg,referenced,objects,origin -t all -r"
save() { rm -rf "$TMP/before" && cp -a "$ZBAK_POOL_DIR" "$TMP/before"; }
unchanged() {
	local n
	zp list $LIST >"$TMP/l.now" &&
	ZBAK_POOL_DIR=$TMP/before zp list $LIST >"$TMP/l.before" || return 1
	if ! cmp -s "$TMP/l.before" "$TMP/l.now"; then
		echo "the pool's listing changed:"
		diff "$TMP/l.before" "$TMP/l.now"
		return 1
	fi
	for n in $(cut -f1 "$TMP/l.now"); do
		zp diff -d "$TMP/before" "$n" "$n" >"$TMP/d.out" 2>&1 && continue
		echo "$n changed:"
		head "$TMP/d.out"
		return 1
	done
}
# others_unchanged RE: the listing, lines matching RE aside, is as saved
# (a command killed after its commit, while exiting, changed only those)
others_unchanged() {
	zp list $LIST | grep -v -E "$1" >"$TMP/o.now"
	ZBAK_POOL_DIR=$TMP/before zp list $LIST | grep -v -E "$1" >"$TMP/o.before"
	cmp -s "$TMP/o.before" "$TMP/o.now" && return 0
	echo "other datasets changed:"
	diff "$TMP/o.before" "$TMP/o.now"
	return 1
}
# a random delay of up to $1 seconds, in ms steps
rdelay() { awk -v r=$RANDOM -v m="$1" 'BEGIN { printf "%.3f", r / 32768 * m }'; }

# killed_recv TARGET STREAM MAXDELAY [SLOW]: receive STREAM into TARGET
# (slowly when SLOW: 16 KiB pieces, 5 ms apart), SIGKILL it after a random
# delay; prints the receive's exit status (zbak runs as the background job
# itself, not under a shell function, so that the kill reaches it)
killed_recv() {
	local pid d
	if [ -n "${4:-}" ]; then
		"$ZBAK" pool recv "$1" < <(slowcat "$2" 16384 0.005) >/dev/null 2>"$TMP/kerr" &
	else
		"$ZBAK" pool recv "$1" <"$2" >/dev/null 2>"$TMP/kerr" &
	fi
	pid=$!
	d=$(rdelay "$3")
	sleep "$d"
	kill -KILL $pid 2>/dev/null
	wait $pid
	set -- $? "$d"
	echo "$1" >>"$TMP/trials"
	echo "$1 $2"
}

G="--objects 8 --size 4M --blocksize 32K --name tank/fs --seed 11"
"$ZBAK" debug gen $G >"$TMP/g1"
"$ZBAK" debug gen $G --from 1 --version 2 --change 0.5 >"$TMP/g2"

test_expect_success 'setup: tank/fs at v1, and a reference pool at v2' '
	zp create tank && zp recv tank/fs <g1 &&
	zref create tank && zref recv tank/fs <g1 && zref recv tank/fs <g2
'

# One trial: kill an incremental receive at a random moment.  Either it was
# killed before its commit (the pool is as it was, and the same receive then
# succeeds) or it had committed (tank/fs@v2 is the reference's, nothing else
# changed); then the pool goes back to v1.
trial_incr() { # MAXDELAY [SLOW]
	local rc d
	save || return 1
	set -- $(killed_recv tank/fs g2 "$@")
	rc=$1 d=$2
	echo "# killed after $d s: exit $rc"
	case $rc in
	137) if zp list tank/fs@v2 >/dev/null 2>&1; then
			echo "# killed after its commit"
			others_unchanged "^tank/fs[@	]" || return 1
		else
			unchanged || return 1
			zp recv tank/fs <g2 || return 1
		fi ;;
	0) others_unchanged "^tank/fs[@	]" || return 1 ;;
	*) echo "receive failed by itself (exit $rc):"; cat "$TMP/kerr"; return 1 ;;
	esac
	zp diff -d "$REF" tank/fs@v2 tank/fs@v2 >/dev/null &&
	zp diff tank/fs@v2 tank/fs >/dev/null || {
		echo "tank/fs@v2 differs from the reference"; return 1; }
	zp rollback -r tank/fs@v1
}

for i in 1 2 3 4 5 6; do
	test_expect_success "incremental receive killed at random ($i, slow input)" '
		trial_incr 0.4 slow
	'
done
for i in 1 2 3 4 5 6; do
	test_expect_success "incremental receive killed at random ($i, fast input)" '
		trial_incr 0.04
	'
done

# and at steps through the first 40 ms, where the commit happens
for d in 0.005 0.01 0.015 0.02 0.025 0.03 0.035 0.04; do
	test_expect_success "incremental receive killed after up to $d s" '
		trial_incr $d
	'
done

trial_full() { # MAXDELAY [SLOW]
	local rc d
	save || return 1
	set -- $(killed_recv tank/new g1 "$@")
	rc=$1 d=$2
	echo "# killed after $d s: exit $rc"
	case $rc in
	137) if zp list tank/new >/dev/null 2>&1; then
			echo "# killed after its commit"
			others_unchanged "^tank/new[@	]" || return 1
		else
			unchanged || return 1
			zp recv tank/new <g1 || return 1
		fi ;;
	0) others_unchanged "^tank/new[@	]" || return 1 ;;
	*) echo "receive failed by itself (exit $rc):"; cat "$TMP/kerr"; return 1 ;;
	esac
	zp diff tank/fs@v1 tank/new@v1 && zp diff tank/new@v1 tank/new &&
	zp destroy -r tank/new
}

for i in 1 2 3 4 5; do
	test_expect_success "full receive into a new dataset killed at random ($i)" '
		if [ $((i % 2)) = 1 ]; then trial_full 0.6 slow; else trial_full 0.05; fi
	'
done

test_expect_success 'after the kills: list, send, receive, diff all work' '
	find "$ZBAK_POOL_DIR" -type f | sed "s|^$ZBAK_POOL_DIR/||" |
		grep -v "^blocks/\|^states/" >files &&
	echo "# files in the pool besides blocks and states: $(tr "\n" " " <files)" &&
	zp list $LIST >/dev/null &&
	zp send tank/fs@v1 | "$ZBAK" debug content >c1 &&
	"$ZBAK" debug content g1 >c0 && cmp c0 c1 &&
	zp recv tank/fs <g2 &&
	zp send -i @v1 tank/fs@v2 | "$ZBAK" debug content >c2 &&
	"$ZBAK" debug content g2 >c0 && cmp c0 c2 &&
	zp diff -d "$REF" tank/fs tank/fs &&
	zp snapshot tank/fs@after && zp destroy tank/fs@after
'

# --- a killed pool write ----------------------------------------------------

head -c 2000000 /dev/urandom >"$TMP/data"

# the write comes in 64 KiB pieces 10 ms apart (about 0.3 s in all)
trial_write() {
	local pid rc d
	save || return 1
	"$ZBAK" pool write -b 4096 tank/fs 77 0 < <(slowcat data 65536 0.01) 2>"$TMP/kerr" &
	pid=$!
	d=$(rdelay 0.3)
	sleep "$d"
	kill -KILL $pid 2>/dev/null
	wait $pid
	rc=$?
	echo "# killed after $d s: exit $rc"
	echo "$rc" >>"$TMP/trials"
	case $rc in
	137) unchanged >"$TMP/u.out" && return 0
		# unless it was killed after its commit, while exiting
		echo "# not as before; the whole write then?"
		cat "$TMP/u.out" ;&
	0) zp snapshot tank/fs@w &&
		zp send -i @v2 tank/fs@w | "$ZBAK" debug content >w.c &&
		test "$(grep -c " WRITE object=77 " w.c)" = $((2000000 / 4096 + 1)) &&
		zp destroy tank/fs@w || return 1 ;;
	*) echo "write failed by itself (exit $rc):"; cat "$TMP/kerr"; return 1 ;;
	esac
	zp rollback tank/fs@v2 && zp diff tank/fs@v2 tank/fs
}

for i in 1 2 3 4 5; do
	test_expect_success "pool write killed at random ($i)" 'trial_write'
done

test_expect_success 'a complete write after the kills' '
	zp write -b 4096 tank/fs 77 0 <data &&
	zp snapshot tank/fs@w &&
	zp send -i @v2 tank/fs@w | "$ZBAK" debug content >w.c &&
	test "$(grep -c " WRITE object=77 " w.c)" = $((2000000 / 4096 + 1))
'

test_expect_success 'a send killed mid-way: the next changes work' '
	"$ZBAK" pool send tank/fs@v2 > >(perl -e "while (read(STDIN, \$b, 65536)) {
		select(undef, undef, undef, 0.05) }") &
	pid=$! &&
	sleep 0.2 && kill -KILL $pid && { wait $pid; test $? = 137; } &&
	zp destroy tank/fs@w &&
	zp rollback tank/fs@v2 && zp diff -d "$REF" tank/fs tank/fs
'

test_expect_success 'with everything destroyed, no block or state is left' '
	zp destroy -r tank &&
	test -z "$(zp list -H -o name -t all)" &&
	find "$ZBAK_POOL_DIR/blocks" "$ZBAK_POOL_DIR/states" -type f >left &&
	if [ -s left ]; then echo "left behind:"; head left; false; fi
'

echo "# $(grep -c 137 "$TMP/trials") of $(wc -l <"$TMP/trials") commands killed before they finished"
test_done
