#!/bin/bash
# The bash completion (packaging/bash-completion/zbak): source it, set
# COMP_WORDS as bash would for a command line, call _zbak, compare
# COMPREPLY.  Once on its own, once over the bash-completion package's
# helpers when they are installed.
. "$(dirname "$0")/../lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
COMPLETION=$SRC/packaging/bash-completion/zbak
export ZBAK_KDF_INSECURE_FAST=1
unset ZBAK_REPO ZBAK_PASSPHRASE ZBAK_POOL_DIR
export ZBAK_CONFIG=$TMP/empty.conf   # not /etc/zbak/zbak.conf
: >"$ZBAK_CONFIG"

# zbak as the completion sees it: a wrapper that logs every run
mkdir -p "$TMP/bin"
cat >"$TMP/bin/zbak" <<EOF
#!/bin/sh
echo "\$*" >>"$TMP/runs"
exec "$ZBAK" "\$@"
EOF
chmod +x "$TMP/bin/zbak"

# a repository with two snapshots (one with a ':' in its name), a local
# pool with datasets, a config file with jobs
"$ZBAK" -r "$TMP/repo" --passphrase-file /dev/stdin init <<<"pw" >/dev/null 2>&1
echo pw >"$TMP/pass" && chmod 600 "$TMP/pass"
for v in 1 2; do
	"$ZBAK" debug gen --name tank/fs --snap-prefix "s:$v-" --version $v --size 256K |
		"$ZBAK" -q -r "$TMP/repo" --passphrase-file "$TMP/pass" push
done
"$ZBAK" --pool-dir "$TMP/pool" pool create tank >/dev/null
"$ZBAK" --pool-dir "$TMP/pool" pool create tank/fs >/dev/null
"$ZBAK" --pool-dir "$TMP/pool" pool snapshot tank/fs@one >/dev/null
cat >"$TMP/jobs.conf" <<EOF
[zbak]
repository = $TMP/repo
passphrase_file = $TMP/pass
[job home]
datasets = tank/home
[job www]
datasets = tank/www
[jobless]
[s3]
region = x
EOF
cp "$TMP/jobs.conf" "$TMP/nopass.conf" && sed -i '/passphrase_file/d' "$TMP/nopass.conf"

# comp 'LINE': complete LINE (the cursor at its end) in a fresh bash; prints
# COMPREPLY sorted, one a line.  $WITH_BC=1 loads bash-completion first.
comp() {
	WITH_BC=${WITH_BC:-0} COMPLETION=$COMPLETION LINE="$ZBAK_COMP_BIN $1" bash -c '
		if [ "$WITH_BC" = 1 ]; then . /usr/share/bash-completion/bash_completion; fi
		. "$COMPLETION"
		COMP_LINE=$LINE COMP_POINT=${#LINE}
		# split as readline does: blanks, and "=" and ":" as words of their own
		read -ra COMP_WORDS <<<"$(sed -E "s/([=:])/ \1 /g" <<<"$LINE")"
		case $LINE in *" " | *[=:]) COMP_WORDS+=("") ;; esac
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_zbak zbak "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort' 2>&1
}
export ZBAK_COMP_BIN=$TMP/bin/zbak
# expect 'LINE' 'WORDS...': COMPREPLY is exactly those words
expect() {
	local got want
	got=$(comp "$1" | tr '\n' ' ' | sed 's/ $//')
	want=$(tr ' ' '\n' <<<"$2" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] || { echo "zbak $1<TAB>: got [$got], want [$want]"; exit 1; }
}

run_cases() {
	test_expect_success "commands$1" '
		expect "" "accept-changes backup config files forget gc help init inspect key ls mount pool prune push repair restore stats unlock verify version" &&
		expect "p" "pool prune push" &&
		expect "-q re" "repair restore" &&
		expect "-r $TMP/repo --config $TMP/x veri" "verify" &&
		expect "help pr" "prune"
	'
	test_expect_success "global and per-command options$1" '
		expect "--p" "--passphrase-command --passphrase-file --pool-dir" &&
		expect "restore --" "--force --json --no-progress --progress --receiver --threads --to" &&
		expect "restore --receiver " "auto local zfs" &&
		expect "inspect --" "--json --validate" &&
		expect "push --" "--json --name --no-progress --progress --threads" &&
		expect "verify --" "--json --no-progress --progress --read-data --read-data=" &&
		expect "forget --" "--dry-run --json" &&
		expect "gc --" "--dry-run --json --margin --repack" &&
		expect "backup --p" "--progress" &&
		expect "key " "passwd" &&
		expect "--ad" "--admin" &&
		expect "init --" "--append-only --cipher --format" &&
		expect "init --cipher " "aes-256-gcm xchacha20-poly1305" &&
		expect "init --format " "1 2" &&
		expect "config " "append_only" &&
		expect "config append_only " "no yes" &&
		expect "ls " "--json" &&
		expect "verify --read" "--read-data --read-data=" &&
		expect "pool " "create destroy diff free hold holds list recv release rollback send snapshot write" &&
		expect "pool list -t " "all filesystem snapshot" &&
		expect "pool list -o name,gu" "name,guid" &&
		expect "pool destroy -" "-R -r"
	'
	test_expect_success "snapshot names with ZBAK_REPO and ZBAK_PASSPHRASE$1" '
		ZBAK_REPO=$TMP/repo ZBAK_PASSPHRASE=pw expect "restore " "tank/fs@s:1-1 tank/fs@s:2-2" &&
		ZBAK_REPO=$TMP/repo ZBAK_PASSPHRASE=pw expect "restore tank/fs@s:2" "2-2" &&
		ZBAK_REPO=$TMP/repo ZBAK_PASSPHRASE=pw expect "restore -o f --threads 2 tank/fs@s:1" "1-1" &&
		ZBAK_REPO=$TMP/repo ZBAK_PASSPHRASE=pw expect "restore tank/fs@s:1-1 " ""
	'
	test_expect_success "snapshot names with -r and --passphrase-file$1" '
		expect "-r $TMP/repo --passphrase-file $TMP/pass restore t" "tank/fs@s:1-1 tank/fs@s:2-2" &&
		expect "--repo=$TMP/repo --passphrase-file=$TMP/pass restore t" "tank/fs@s:1-1 tank/fs@s:2-2"
	'
	test_expect_success "snapshot names from the config file$1" '
		ZBAK_CONFIG=$TMP/jobs.conf expect "restore " "tank/fs@s:1-1 tank/fs@s:2-2" &&
		expect "--config $TMP/jobs.conf restore " "tank/fs@s:1-1 tank/fs@s:2-2"
	'
	test_expect_success "no passphrase: no snapshot names, and zbak never runs$1" '
		rm -f "$TMP/runs" &&
		ZBAK_REPO=$TMP/repo expect "restore " "" &&
		ZBAK_CONFIG=$TMP/nopass.conf expect "restore " "" &&
		expect "-r $TMP/repo --passphrase-file $TMP/missing restore " "" &&
		expect "restore " "" &&
		! [ -e "$TMP/runs" ]
	'
	test_expect_success "a wrong passphrase: no snapshot names$1" '
		ZBAK_REPO=$TMP/repo ZBAK_PASSPHRASE=wrong expect "restore " ""
	'
	test_expect_success "job names from the config file$1" '
		ZBAK_CONFIG=$TMP/jobs.conf expect "backup " "home www" &&
		expect "--config $TMP/jobs.conf prune w" "www" &&
		expect "backup " ""
	'
	test_expect_success "dataset names from the local pool$1" '
		expect "--pool-dir $TMP/pool pool recv " "tank tank/fs" &&
		expect "--pool-dir $TMP/pool pool rollback " "tank/fs@one" &&
		expect "--pool-dir $TMP/pool pool snapshot tank/" "tank/fs@" &&
		ZBAK_POOL_DIR=$TMP/pool expect "restore x --receiver local --to tank/" "tank/fs" &&
		expect "--pool-dir $TMP/pool pool list " "tank tank/fs tank/fs@one" &&
		expect "files " "cat dump extract ls restore" &&
		expect "files ls -" "--json --no-cache --pool --stats -R -l" &&
		expect "--pool-dir $TMP/pool files ls --pool tank/fs@" "tank/fs@one" &&
		expect "files extract -" "--no-cache --pool --stats --target -t" &&
		expect "mount -" "--allow-other --keep-open --no-default-permissions --pool" &&
		expect "mount --keep-open " ""
	'
	test_expect_success "options of a file and a directory complete file names$1" '
		touch "$TMP/some-file" && mkdir -p "$TMP/some-dir" &&
		expect "--config $TMP/some-f" "$TMP/some-file" &&
		expect "inspect $TMP/some-f" "$TMP/some-file" &&
		expect "-r $TMP/some-d" "$TMP/some-dir"
	'
}

run_cases ""
if [ -r /usr/share/bash-completion/bash_completion ]; then
	WITH_BC=1
	export WITH_BC
	run_cases " (bash-completion)"
else
	test_skip "completion over the bash-completion package" "bash-completion not installed"
fi
test_done
