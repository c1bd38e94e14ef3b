#!/bin/bash
# The command line as people type it: `zbak CMD --help` (or -h) prints that
# command's usage and exits 0; global options go after the command too
# (zbak ls -r REPO), but pool keeps -r for recursive; `verify --read-data 10`
# as well as `=10`; an empty repository's ls says so; a typo in [zbak] is
# named; `-r s3:/bucket` (one slash) is an error, not a directory "./s3:".
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_POOL_DIR
export ZBAK_STATE_DIR=$TMP/state
R=$TMP/repo
gen() { "$ZBAK" debug gen --objects 2 --size 1M "$@"; }
# code N CMD...: CMD exits N
code() { local want=$1 rc; shift; "$@"; rc=$?; [ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want: $*"; return 1; }; }

test_expect_success 'every listed command: CMD --help and CMD -h print its usage, exit 0' '
	"$ZBAK" help >list &&
	cmds=$(sed -n "s/^zbak \(-r REPO \|\[[^]]*\] \)*\([a-z-]*\).*/\2/p" list | sort -u) &&
	test -n "$cmds" &&
	for c in $cmds; do
		"$ZBAK" $c --help >out 2>err || { echo "$c --help: exit $?"; return 1; }
		grep -q "^usage: .*$c" out || { echo "$c --help:"; cat out err; return 1; }
		test ! -s err || { echo "$c --help wrote to stderr"; return 1; }
		"$ZBAK" $c -h >out2 && cmp out out2 || return 1
	done
'

test_expect_success '--help after other arguments too; a "--" ends the search' '
	"$ZBAK" restore pool/fs@a --to x --help >out &&
	grep -q "^usage: zbak -r REPO restore" out &&
	code 1 "$ZBAK" inspect -- --help 2>err &&
	grep -q "cannot open --help" err &&
	"$ZBAK" --version | grep -q "^zbak "
'

test_expect_success 'global options after the command: -r, --repo=, -q, --passphrase-file' '
	"$ZBAK" init -r "$R" >/dev/null &&
	gen | "$ZBAK" push --repo="$R" -q >out &&
	test ! -s out &&
	echo "correct horse" >pass && chmod 600 pass &&
	env -u ZBAK_PASSPHRASE "$ZBAK" ls -r "$R" --passphrase-file pass >out &&
	grep -q "^pool/fs" out &&
	"$ZBAK" ls -r"$R" | grep -q "^pool/fs"
'

test_expect_success 'a global option without its value is a usage error (exit 2)' '
	code 2 "$ZBAK" ls -r 2>err &&
	grep -q "option .-r. requires an argument" err
'

test_expect_success 'pool keeps -r for recursive (zfs habits), global options go before it' '
	P=$TMP/pool &&
	"$ZBAK" --pool-dir "$P" pool create t &&
	"$ZBAK" --pool-dir "$P" pool create t/a &&
	"$ZBAK" --pool-dir "$P" pool snapshot -r t@s &&
	"$ZBAK" --pool-dir "$P" pool list -H -o name -t snapshot -r t >out &&
	grep -qx "t/a@s" out
'

test_expect_success 'verify --read-data 10 as well as --read-data=10 and 10%' '
	"$ZBAK" -r "$R" verify --read-data 10 >out &&
	grep -q "0 problems" out &&
	"$ZBAK" -r "$R" verify --read-data=10% >/dev/null &&
	"$ZBAK" -r "$R" verify --read-data >/dev/null &&
	code 2 "$ZBAK" -r "$R" verify --read-data 101 2>err &&
	grep -q "read-data .101." err &&
	code 2 "$ZBAK" -r "$R" verify extra 2>err &&
	grep -q "verify takes no arguments" err
'

test_expect_success 'ls of an empty repository says so on stderr, stdout stays empty; --json gives []' '
	"$ZBAK" -r "$TMP/empty" init >/dev/null &&
	"$ZBAK" -r "$TMP/empty" ls >out 2>err &&
	test ! -s out && test "$(cat err)" = "no snapshots in $TMP/empty" &&
	"$ZBAK" -r "$TMP/empty" ls -q >out 2>err && test ! -s out && test ! -s err &&
	"$ZBAK" -r "$TMP/empty" ls --json >out &&
	test "$(tr -d "[:space:]" <out)" = "[]"
'

test_expect_success 'ls DATASET and ls DATASET@SNAP show only those' '
	gen --name pool/other | "$ZBAK" -r "$R" -q push &&
	"$ZBAK" -r "$R" ls >all &&
	grep -q "^pool/other" all && grep -q "^pool/fs" all &&
	"$ZBAK" -r "$R" ls pool/other >out &&
	grep -q "^pool/other" out && ! grep -q "^pool/fs" out &&
	"$ZBAK" -r "$R" ls --json pool/other@v1 >out &&
	grep -q "\"name\":\"pool/other@v1\"" out && ! grep -q "pool/fs" out &&
	"$ZBAK" -r "$R" ls pool/none >out 2>err && test ! -s out &&
	test "$(cat err)" = "no snapshots of pool/none in $R"
'

test_expect_success 'a typo in [zbak] is named, with the key it may mean (exit 2)' '
	printf "[zbak]\nrepostiory = %s\n" "$R" >typo.conf &&
	code 2 "$ZBAK" --config typo.conf ls 2>err &&
	grep -q "\[zbak\] repostiory: unknown key (did you mean repository?)" err &&
	printf "[zbak]\nrepository = %s\n" "$R" >good.conf &&
	"$ZBAK" ls --config good.conf | grep -q "^pool/fs"
'

test_expect_success 's3:/bucket and file:/path are refused, nothing made' '
	code 2 "$ZBAK" -r s3:/bucket init 2>err &&
	grep -q "s3:/bucket: not a repository URL" err &&
	test ! -e s3: &&
	code 2 "$ZBAK" -r file:/x init 2>err &&
	grep -q "file:/x: not a repository URL" err &&
	test ! -e file:
'

test_expect_success 'passphrase from a command (--passphrase-command, ZBAK_PASSPHRASE_COMMAND)' '
	env -u ZBAK_PASSPHRASE "$ZBAK" -r "$R" --passphrase-command "echo correct horse" ls >out &&
	grep -q "^pool/fs" out &&
	env -u ZBAK_PASSPHRASE "$ZBAK" ls -r "$R" --passphrase-command "printf \"correct horse\\nmore\\n\"" >out &&
	grep -q "^pool/fs" out &&
	env -u ZBAK_PASSPHRASE ZBAK_PASSPHRASE_COMMAND="echo correct horse" "$ZBAK" -r "$R" ls >out &&
	grep -q "^pool/fs" out &&
	# a long tail after the first line is read, not taken for a failure
	env -u ZBAK_PASSPHRASE "$ZBAK" -r "$R" --passphrase-command "echo correct horse; head -c 300000 /dev/zero" ls >/dev/null
'

test_expect_success 'a failing or silent passphrase command: exit 2, named, its output never shown' '
	code 2 env -u ZBAK_PASSPHRASE "$ZBAK" -r "$R" --passphrase-command "echo s3cret-output; exit 4" ls 2>err &&
	grep -q "passphrase command .echo s3cret-output; exit 4. exited with status 4" err &&
	test "$(grep -c s3cret-output err)" = 1 &&
	code 2 env -u ZBAK_PASSPHRASE "$ZBAK" -r "$R" --passphrase-command true ls 2>err &&
	grep -q "passphrase command .true.: the passphrase is empty" err
'

test_expect_success 'ZBAK_PASSPHRASE_FILE; the order of the sources' '
	echo "correct horse" >pass && chmod 600 pass &&
	echo "wrong" >wrong && chmod 600 wrong &&
	env -u ZBAK_PASSPHRASE ZBAK_PASSPHRASE_FILE=$TMP/pass "$ZBAK" -r "$R" ls >out &&
	grep -q "^pool/fs" out &&
	# ZBAK_PASSPHRASE before ZBAK_PASSPHRASE_COMMAND before ZBAK_PASSPHRASE_FILE
	ZBAK_PASSPHRASE_COMMAND="echo wrong" ZBAK_PASSPHRASE_FILE=$TMP/wrong "$ZBAK" -r "$R" ls >/dev/null &&
	env -u ZBAK_PASSPHRASE ZBAK_PASSPHRASE_COMMAND="echo correct horse" ZBAK_PASSPHRASE_FILE=$TMP/wrong "$ZBAK" -r "$R" ls >/dev/null &&
	# the flags before the environment
	ZBAK_PASSPHRASE=wrong "$ZBAK" -r "$R" --passphrase-command "echo correct horse" ls >/dev/null &&
	ZBAK_PASSPHRASE=wrong "$ZBAK" -r "$R" --passphrase-file pass ls >/dev/null &&
	# and the environment before the config file
	printf "[zbak]\nrepository = %s\npassphrase_file = %s\n" "$R" "$TMP/wrong" >pf.conf &&
	env -u ZBAK_PASSPHRASE ZBAK_PASSPHRASE_FILE=$TMP/pass "$ZBAK" --config pf.conf ls >/dev/null &&
	code 12 env -u ZBAK_PASSPHRASE "$ZBAK" --config pf.conf ls 2>err
'

test_expect_success 'stats: totals that add up, per dataset, JSON and text' '
	"$ZBAK" -r "$R" stats --json >st.json &&
	"$ZBAK" -r "$R" ls --json >ls.json &&
	j() { grep -o "\"$1\":[0-9.]*" st.json | head -1 | cut -d: -f2; } &&
	test "$(j snapshots)" = "$(grep -o "\"name\":" ls.json | wc -l)" &&
	test "$(j snapshots)" -ge 2 &&
	test "$(j datasets)" = 2 &&
	test "$(j stored_bytes)" = $(($(j pack_bytes) + $(j other_bytes))) &&
	sum=$(grep -o "\"stream_bytes\":[0-9]*" ls.json | cut -d: -f2 | awk "{s+=\$1} END {print s+0}") &&
	test "$(j stream_bytes)" = "$sum" &&
	test "$(j pack_bytes)" = "$(find "$R/data" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}")" &&
	test "$(j packs)" = "$(find "$R/data" -type f | wc -l)" &&
	grep -q "\"dataset\":\"pool/other\",\"snapshots\":1" st.json &&
	"$ZBAK" -r "$R" stats >st.txt &&
	grep -q "^  snapshots   $(j snapshots) in 2 datasets" st.txt &&
	grep -q "^  pool/other  *1 " st.txt &&
	"$ZBAK" -r "$TMP/empty" stats | grep -q "^  snapshots   0 in 0 datasets"
'

test_done
