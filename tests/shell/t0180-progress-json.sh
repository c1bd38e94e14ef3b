#!/bin/bash
# Feedback as restic gives it: progress on a terminal (a line redrawn with
# \r: elapsed, percent of a known total, bytes, rate, ETA), none on a pipe
# unless --progress asks; with --json, status lines on stderr and one
# summary object on stdout for push, restore, verify, gc and forget (the
# numbers checked against ls --json and stats --json); and one size
# convention, so push and ls print the same size of the same snapshot.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse' ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_POOL_DIR ZBAK_ZFS ZBAK_NOW
R=$TMP/repo
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --objects 4 --size 8M "$@"; }
# code N CMD...: CMD exits N
code() { local want=$1 rc; shift; "$@"; rc=$?; [ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want: $*"; return 1; }; }
# onpty 'COMMAND': run it with stdin, stdout and stderr on a pseudo-terminal
# (script(1)); what the terminal showed goes to stdout, the exit is its
onpty() { script -qec "$1" /dev/null </dev/null; }
# py 'EXPR' FILE...: python3 with j(FILE) (one JSON object), lines(FILE)
# (one object a line), ls (ls --json) at hand; fails unless EXPR is true
py() {
	local expr=$1
	shift
	python3 - "$expr" "$@" <<-'EOF'
	import json, sys
	def j(f): return json.load(open(f))
	def lines(f): return [json.loads(l) for l in open(f) if l.strip()]
	ok = eval(sys.argv[1])
	if not ok:
	    print("false:", sys.argv[1])
	    for f in sys.argv[2:]:
	        print("--", f); print(open(f).read()[:2000])
	sys.exit(0 if ok else 1)
	EOF
}
# the ls --json entry of NAME, as a JSON file
ls_json() { z ls --json >ls.json; }

test_expect_success 'setup: a repository, a full stream and an incremental' '
	z init >/dev/null &&
	gen -o v1 && gen --version 2 --from 1 -o i12 &&
	[ $(stat -c %s v1) -gt 8000000 ]
'

test_expect_success 'push on a pipe: no progress; --progress forces it (one line redrawn, 100% of the file)' '
	z push v1 >out 2>err &&
	! grep -q "%" err && ! grep -q "$(printf "\r")" err &&
	z push --progress v1 >out 2>err &&
	grep -q "$(printf "\r")\[0:0[0-9]\] 100.0% 8.02 MiB of 8.02 MiB, .*iB/s" err &&
	grep -q "^already stored pool/fs@v1: " out
'

test_expect_success 'on a terminal: progress on stderr without asking; -q and --no-progress silence it' '
	onpty "\"$ZBAK\" -r \"$R\" restore pool/fs@v1 | cat >/dev/null" >tty &&
	grep -q "\[0:0[0-9]\] pool/fs@v1: 100.0% 8.02 MiB of 8.02 MiB, " tty &&
	grep -q "$(printf "\033\\[K")" tty &&
	onpty "\"$ZBAK\" -r \"$R\" -q restore pool/fs@v1 | cat >/dev/null" >tty &&
	! grep -q "%" tty &&
	onpty "\"$ZBAK\" -r \"$R\" restore --no-progress pool/fs@v1 | cat >/dev/null" >tty &&
	! grep -q "%" tty &&
	z restore pool/fs@v1 2>err | cat >/dev/null &&
	! grep -q "%" err
'

test_expect_success 'push --json: one summary object, its numbers those of ls --json' '
	z push --json --name pool/fs@v2 i12 >push.json 2>err &&
	test ! -s err &&
	ls_json &&
	py "j(\"push.json\")[\"message_type\"] == \"summary\" and j(\"push.json\")[\"command\"] == \"push\" and j(\"push.json\")[\"ok\"] is True and j(\"push.json\")[\"exit\"] == 0" push.json &&
	py "[x for x in j(\"ls.json\") if x[\"name\"] == \"pool/fs@v2\"][0][\"stream_bytes\"] == j(\"push.json\")[\"stream_bytes\"] == $(stat -c %s i12)" push.json ls.json &&
	py "[x for x in j(\"ls.json\") if x[\"name\"] == \"pool/fs@v2\"][0][\"stored_bytes\"] == j(\"push.json\")[\"added_bytes\"] > 0" push.json ls.json
'

test_expect_success 'push and ls print the same sizes of a snapshot, in the same units' '
	z forget pool/fs@v2 >/dev/null &&
	z push --name pool/fs@v2 i12 >out &&
	stream=$(sed -n "s/^stored pool\/fs@v2: \([0-9.]* [KMG]*i*B\) stream, .*/\1/p" out) &&
	added=$(sed -n "s/.* chunks ([0-9]* new), \([0-9.]* [KMG]*i*B\) added after dedup and compression.*/\1/p" out) &&
	test -n "$stream" && test -n "$added" &&
	z ls pool/fs@v2 >ls.out &&
	cat out ls.out &&
	grep -q "^  v2 .* $stream *$added\$" ls.out
'

test_expect_success 'push --json --progress: status lines on stderr reach percent_done 1 of the file' '
	gen --version 3 -o v3 &&
	z push --json --progress v3 >push.json 2>status &&
	py "all(s[\"message_type\"] == \"status\" and s[\"command\"] == \"push\" for s in lines(\"status\"))" status &&
	py "lines(\"status\")[-1][\"percent_done\"] == 1 and lines(\"status\")[-1][\"bytes_done\"] == lines(\"status\")[-1][\"total_bytes\"] == $(stat -c %s v3)" status &&
	py "j(\"push.json\")[\"snapshot\"] == \"pool/fs@v3\" and j(\"push.json\")[\"stream_bytes\"] == $(stat -c %s v3)" push.json
'

test_expect_success 'restore --json --progress to a pipe: the stream on stdout, status and summary on stderr' '
	z restore --json --progress pool/fs@v1 >v1.out 2>err &&
	cmp v1 v1.out &&
	head -n -1 err >status && tail -n 1 err >sum.json &&
	ls_json &&
	py "lines(\"status\")[0][\"percent_done\"] == 0 and lines(\"status\")[-1][\"percent_done\"] == 1" status &&
	py "all(s[\"total_bytes\"] == [x for x in j(\"ls.json\") if x[\"name\"] == \"pool/fs@v1\"][0][\"stream_bytes\"] for s in lines(\"status\"))" status ls.json &&
	py "j(\"sum.json\")[\"command\"] == \"restore\" and j(\"sum.json\")[\"ok\"] and j(\"sum.json\")[\"output\"] is None and j(\"sum.json\")[\"stream_bytes\"] == $(stat -c %s v1)" sum.json
'

test_expect_success 'restore -o --json: the summary on stdout; a failure is a JSON object too' '
	z restore --json pool/fs@v1 -o f1 >sum.json &&
	cmp v1 f1 &&
	py "j(\"sum.json\")[\"output\"] == \"f1\" and j(\"sum.json\")[\"records\"] > 0" sum.json &&
	code 1 z restore --json pool/fs@nosuch -o f2 >fail.json 2>err &&
	py "j(\"fail.json\")[\"ok\"] is False and j(\"fail.json\")[\"exit\"] == 1 and \"nosuch\" in j(\"fail.json\")[\"error\"]" fail.json
'

test_expect_success 'restore --to --json --progress: the chain as streams, its total the sum of their lengths' '
	"$ZBAK" --pool-dir pool pool create t &&
	z restore pool/fs@v2 --to t/r --receiver local --pool-dir pool --json --progress >to.json 2>status &&
	ls_json &&
	py "[s[\"snapshot\"] for s in j(\"to.json\")[\"streams\"]] == [\"pool/fs@v1\", \"pool/fs@v2\"]" to.json &&
	py "j(\"to.json\")[\"stream_bytes\"] == sum(x[\"stream_bytes\"] for x in j(\"ls.json\") if x[\"name\"] in (\"pool/fs@v1\", \"pool/fs@v2\")) == lines(\"status\")[-1][\"total_bytes\"] == lines(\"status\")[-1][\"bytes_done\"]" to.json ls.json status &&
	py "j(\"to.json\")[\"target\"] == \"t/r\" and j(\"to.json\")[\"streams\"][1][\"received_as\"] == \"t/r@v2\"" to.json &&
	"$ZBAK" --pool-dir pool pool create t/e &&
	code 6 z restore pool/fs@v2 --to t/e --receiver local --pool-dir pool --json >fail.json 2>err &&
	py "j(\"fail.json\")[\"ok\"] is False and j(\"fail.json\")[\"exit\"] == 6 and j(\"fail.json\")[\"streams\"] == [] and \"only with -F\" in j(\"fail.json\")[\"error\"]" fail.json
'

test_expect_success 'verify --read-data --json --progress: status over the packs read, summary counts' '
	z verify --read-data --json --progress >v.json 2>status &&
	z stats --json >stats.json &&
	py "j(\"v.json\")[\"command\"] == \"verify\" and j(\"v.json\")[\"ok\"] and j(\"v.json\")[\"problems\"] == 0 and j(\"v.json\")[\"snapshots\"] == j(\"stats.json\")[\"snapshots\"] == 3" v.json stats.json &&
	py "j(\"v.json\")[\"packs_read\"] == j(\"stats.json\")[\"packs\"] and j(\"v.json\")[\"bytes_read\"] == j(\"stats.json\")[\"pack_bytes\"] == lines(\"status\")[-1][\"bytes_done\"] == lines(\"status\")[-1][\"total_bytes\"]" v.json stats.json status &&
	z verify --json >v2.json 2>status2 &&
	test ! -s status2 &&
	py "j(\"v2.json\")[\"packs_read\"] == 0" v2.json
'

test_expect_success 'forget --json and gc --json: what went, against ls and stats' '
	z forget --json --dry-run pool/fs@v3 >f.json &&
	py "j(\"f.json\")[\"dry_run\"] and j(\"f.json\")[\"snapshots\"] == 1 and j(\"f.json\")[\"names\"] == [\"pool/fs@v3\"]" f.json &&
	z forget --json pool/fs@v3 >f.json &&
	ls_json &&
	py "j(\"f.json\")[\"ok\"] and not j(\"f.json\")[\"dry_run\"] and \"pool/fs@v3\" not in [x[\"name\"] for x in j(\"ls.json\")]" f.json ls.json &&
	code 1 z forget --json pool/fs@nosuch >fail.json 2>err &&
	py "j(\"fail.json\")[\"ok\"] is False and j(\"fail.json\")[\"command\"] == \"forget\" and \"nosuch\" in j(\"fail.json\")[\"error\"]" fail.json &&
	z gc --json --margin 0 >gc.json &&
	z stats --json >stats.json &&
	py "j(\"gc.json\")[\"command\"] == \"gc\" and j(\"gc.json\")[\"ok\"] and j(\"gc.json\")[\"bytes_after\"] == j(\"stats.json\")[\"pack_bytes\"] <= j(\"gc.json\")[\"bytes_before\"] and j(\"gc.json\")[\"chunks_live\"] == j(\"stats.json\")[\"chunks\"]" gc.json stats.json
'

test_expect_success 'verify --json of a damaged repository: ok false, exit 3, the problems named' '
	cp -a "$R" good &&
	pack=$(find "$R/data" -type f | head -1) &&
	flip_byte "$pack" 100 &&
	code 3 z verify --read-data --json >bad.json 2>err &&
	py "j(\"bad.json\")[\"ok\"] is False and j(\"bad.json\")[\"exit\"] == 3 and j(\"bad.json\")[\"problems\"] > 0 and len(j(\"bad.json\")[\"problem_messages\"]) == j(\"bad.json\")[\"problems\"]" bad.json &&
	rm -rf "$R" && mv good "$R"
'

test_expect_success 'backup: progress per snapshot when forced, JSON status lines with --json; backup and prune summaries marked as the others' '
	zt_setup &&
	ds_create $P/home &&
	head -c 3000000 /dev/urandom | ds_write $P/home 2 0 &&
	echo "correct horse" >pass && chmod 600 pass &&
	cat >zbak.conf <<-EOF &&
	[zbak]
	repository = $R
	passphrase_file = $TMP/pass
	lock_file = $TMP/zbak.lock

	[job home]
	datasets = $P/home
	EOF
	"$ZBAK" backup --config zbak.conf --progress >out 2>err &&
	grep -q "$(printf "\r")\[0:0[0-9]\] $P/home@zbak-[0-9TZ]*: [0-9.]* [KM]iB, [0-9.]* [KMG]*i*B/s" err &&
	! grep -q "%" err &&
	head -c 100000 /dev/urandom | ds_write $P/home 3 0 &&
	ZBAK_NOW=$(($(date +%s) + 100)) "$ZBAK" backup --config zbak.conf --json --progress >b.json 2>status &&
	py "j(\"b.json\")[\"message_type\"] == \"summary\" and j(\"b.json\")[\"command\"] == \"backup\" and j(\"b.json\")[\"ok\"]" b.json &&
	"$ZBAK" prune --config zbak.conf --dry-run --json >p.json &&
	py "j(\"p.json\")[\"message_type\"] == \"summary\" and j(\"p.json\")[\"command\"] == \"prune\"" p.json &&
	py "lines(\"status\")[-1][\"command\"] == \"backup\" and lines(\"status\")[-1][\"snapshot\"].startswith(\"$P/home@zbak-\") and \"percent_done\" not in lines(\"status\")[-1] and lines(\"status\")[-1][\"bytes_done\"] == j(\"b.json\")[\"datasets\"][0][\"bytes_sent\"]" status b.json
'

test_done
