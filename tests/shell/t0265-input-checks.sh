#!/bin/bash
# What zbak takes from the user is checked before anything happens: every
# number on the command line and in the environment is range-checked (exit
# 2, a message naming the option or the variable; nothing wraps, nothing
# silently means the default), and the repository is left as it was.  The
# repository is a directory, or S3 under ZBAK_TEST_BACKEND=s3 (tests/lib.sh).
#
# The passphrase follows one rule whatever its source (a file, the
# environment, the terminal): one line of 1 to 1023 bytes without NUL bytes,
# refused (exit 2, naming the source), never cut short; a passphrase file is
# a regular file or a pipe that group and others cannot open.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_LOCK_WAIT \
	ZBAK_POOL_LOCK_WAIT ZBAK_GC_MARGIN
repo_new; R=$REPO
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --objects 2 --size 1M "$@"; }

# exit2 NAME CMD...: CMD exits 2 (no crash, no sanitizer report) and its
# message names NAME; stdout and stderr in $TMP/out and $TMP/err
exit2() {
	local name=$1 rc
	shift
	"$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	if [ $rc -ne 2 ]; then
		echo "exit $rc, expected 2: $*"
		cat "$TMP/err"
		return 1
	fi
	if grep -q -E 'Sanitizer|runtime error' "$TMP/err"; then
		cat "$TMP/err"
		return 1
	fi
	grep -q -F -e "$name" "$TMP/err" ||
		{ echo "the message does not name $name: $*"; cat "$TMP/err"; return 1; }
}

test_expect_success 'setup: a repository with two snapshots, one forgotten (garbage for gc)' '
	z init >/dev/null &&
	gen -o "$TMP/s1" && gen --seed 2 -o "$TMP/s2" &&
	z push "$TMP/s1" >/dev/null && z push --name pool/fs@other "$TMP/s2" >/dev/null &&
	z forget pool/fs@other >/dev/null &&
	repo_state "$R" >"$TMP/pristine"
'

# --- numbers on the command line -------------------------------------------

bad_threads=(abc 0 -1 257 100000 4294967295 4294967296 1e20 0x10 +4 "" " 5" 5x)

test_expect_success 'push --threads out of 1..256 or not a number: exit 2, nothing stored' '
	for t in "${bad_threads[@]}"; do
		exit2 --threads z push --threads "$t" "$TMP/s1" || exit 1
		grep -q "1 to 256" "$TMP/err" || { cat "$TMP/err"; exit 1; }
	done &&
	repo_state "$R" | cmp - "$TMP/pristine"
'

test_expect_success 'restore --threads out of 1..256 or not a number: exit 2, nothing written' '
	for t in "${bad_threads[@]}"; do
		exit2 --threads z restore pool/fs@v1 --threads "$t" -o "$TMP/r" || exit 1
		test ! -e "$TMP/r" || exit 1
	done &&
	exit2 --threads z restore pool/fs@v1 --to pool/x --threads 0 &&
	repo_state "$R" | cmp - "$TMP/pristine"
'

test_expect_success '--threads 1 and 256 are taken' '
	z push --threads 1 "$TMP/s1" >/dev/null &&
	z restore pool/fs@v1 --threads 256 | cmp - "$TMP/s1" &&
	z restore pool/fs@v1 --threads 1 | cmp - "$TMP/s1"
'

test_expect_success 'gc --margin beyond ten years or not a number: exit 2, nothing deleted' '
	for m in 99999999999999999999 18446744073709551615 315360001 -1 abc 1h ""; do
		exit2 --margin z gc --margin "$m" || exit 1
		grep -q "0 to 315360000" "$TMP/err" || { cat "$TMP/err"; exit 1; }
	done &&
	repo_state "$R" | cmp - "$TMP/pristine" &&
	z gc --dry-run --margin 315360000 >/dev/null
'

test_expect_success 'gc --repack out of 1..100 or not a number: exit 2, nothing repacked' '
	for p in 0 101 4294967297 4294967346 -1 abc 50% ""; do
		exit2 --repack z gc --repack "$p" || exit 1
		grep -q "1 to 100" "$TMP/err" || { cat "$TMP/err"; exit 1; }
	done &&
	repo_state "$R" | cmp - "$TMP/pristine" &&
	z gc --dry-run --repack 100 >/dev/null && z gc --dry-run --repack 1 >/dev/null
'

test_expect_success 'verify --read-data out of 1..100 or not a number: exit 2' '
	for p in 0 101 -5 abc 4294967297 10%% %; do
		exit2 --read-data z verify --read-data="$p" || exit 1
	done &&
	z verify --read-data=50 >/dev/null && z verify --read-data=50% >/dev/null &&
	z verify --read-data >/dev/null
'

test_expect_success 'debug gen --seed: decimal digits, at most 2^64-1' '
	for s in -1 18446744073709551616 0x10 abc ""; do
		exit2 --seed "$ZBAK" debug gen --seed "$s" -o "$TMP/g" || exit 1
	done &&
	"$ZBAK" debug gen --seed 18446744073709551615 -o "$TMP/g"
'

# --- numbers in the environment --------------------------------------------

test_expect_success 'ZBAK_LOCK_WAIT and ZBAK_POOL_LOCK_WAIT: seconds, 0 to a week' '
	for v in abc -1 1e3 604801 99999999999999999999 ""; do
		ZBAK_LOCK_WAIT=$v exit2 ZBAK_LOCK_WAIT z ls || exit 1
		ZBAK_POOL_LOCK_WAIT=$v exit2 ZBAK_POOL_LOCK_WAIT \
			"$ZBAK" --pool-dir "$TMP/pool" pool create tank || exit 1
	done &&
	test ! -e "$TMP/pool" &&
	ZBAK_LOCK_WAIT=0 z ls >/dev/null &&
	ZBAK_POOL_LOCK_WAIT=604800 "$ZBAK" --pool-dir "$TMP/pool" pool create tank &&
	ZBAK_LOCK_WAIT=abc "$ZBAK" version >/dev/null
'

# --- the passphrase --------------------------------------------------------

# pw NAME TEXT [MODE]: a passphrase file $TMP/NAME holding TEXT (mode 600)
pw() { printf "%s" "$2" >"$TMP/$1" && chmod "${3:-600}" "$TMP/$1"; }
a1023=$(printf "%1023s" "" | tr " " a)

test_expect_success 'a passphrase file over 1023 bytes is refused, not cut short: no two passphrases open one repository' '
	R2=$(repo_url long-repo) &&
	pw long1 "${a1023}b-and-more
" && pw long2 "${a1023}c-and-else
" &&
	exit2 "$TMP/long1" env -u ZBAK_PASSPHRASE "$ZBAK" -r "$R2" \
		--passphrase-file "$TMP/long1" init &&
	grep -q "longer than 1023 bytes" "$TMP/err" &&
	test "$(repo_count "$R2" "")" -eq 0 &&
	exit2 "$TMP/long2" z --passphrase-file "$TMP/long2" ls &&
	exit2 "$TMP/long1" z key passwd --new-passphrase-file "$TMP/long1" &&
	repo_state "$R" | cmp - "$TMP/pristine"
'

test_expect_success '1023 bytes is the limit for a file and for the environment alike' '
	R3=$(repo_url limit-repo) &&
	pw limit "$a1023
second line" &&
	env -u ZBAK_PASSPHRASE "$ZBAK" -r "$R3" --passphrase-file "$TMP/limit" init >/dev/null &&
	ZBAK_PASSPHRASE=$a1023 "$ZBAK" -r "$R3" ls >/dev/null &&
	ZBAK_PASSPHRASE=${a1023}a exit2 ZBAK_PASSPHRASE "$ZBAK" -r "$R3" ls &&
	grep -q "longer than 1023 bytes" "$TMP/err"
'

test_expect_success 'a passphrase file that is a device or a directory is refused; a pipe is fine' '
	for f in /dev/zero /dev/null "$TMP"; do
		exit2 "$f" z --passphrase-file "$f" ls || exit 1
		grep -q "not a regular file" "$TMP/err" || { cat "$TMP/err"; exit 1; }
	done &&
	z --passphrase-file <(echo "correct horse") ls >"$TMP/out" &&
	grep -q pool/fs "$TMP/out"
'

test_expect_success 'a passphrase file group or others may open is refused: exit 2 naming it, its mode and chmod 600' '
	for m in 640 604 644 620 660; do
		pw open "correct horse" $m &&
		exit2 "$TMP/open" z --passphrase-file "$TMP/open" ls || exit 1
		grep -q "mode 0$m" "$TMP/err" && grep -q "chmod 600 $TMP/open" "$TMP/err" ||
			{ cat "$TMP/err"; exit 1; }
	done &&
	printf "[zbak]\nrepository = %s\npassphrase_file = %s\n" "$R" "$TMP/open" >"$TMP/pf.conf" &&
	(unset ZBAK_PASSPHRASE; ZBAK_CONFIG=$TMP/pf.conf exit2 "mode 0660" "$ZBAK" ls) &&
	pw new "battery staple" 644 &&
	exit2 "$TMP/new" z key passwd --new-passphrase-file "$TMP/new" &&
	repo_state "$R" | cmp - "$TMP/pristine" &&
	chmod 600 "$TMP/open" && z --passphrase-file "$TMP/open" ls >/dev/null
'

test_expect_success 'a NUL byte or an empty first line is refused, naming the file' '
	printf "correct\0horse\n" >"$TMP/nul" && chmod 600 "$TMP/nul" &&
	exit2 "$TMP/nul" z --passphrase-file "$TMP/nul" ls &&
	grep -q "NUL" "$TMP/err" &&
	for text in "" "
correct horse"; do
		pw empty "$text" &&
		exit2 "$TMP/empty" z --passphrase-file "$TMP/empty" ls || exit 1
		grep -q "empty" "$TMP/err" || { cat "$TMP/err"; exit 1; }
	done
'

test_expect_success 'the environment: set but empty, too long or with a line break is refused, naming the variable' '
	ZBAK_PASSPHRASE= exit2 ZBAK_PASSPHRASE z ls &&
	grep -q empty "$TMP/err" &&
	ZBAK_PASSPHRASE="correct horse
" exit2 ZBAK_PASSPHRASE z ls &&
	for v in "" "${a1023}b" "battery
staple"; do
		ZBAK_NEW_PASSPHRASE=$v exit2 ZBAK_NEW_PASSPHRASE z key passwd || exit 1
	done &&
	repo_state "$R" | cmp - "$TMP/pristine"
'

if command -v script >/dev/null; then
	test_expect_success 'the terminal: a line over 1023 bytes is refused, not cut short' '
		{ sleep 2; printf "%s\n" "${a1023}b"; sleep 2; } |
			env -u ZBAK_PASSPHRASE script -q -e -c "\"$ZBAK\" -r \"$R\" ls" /dev/null >"$TMP/tty" 2>&1
		rc=$?
		test $rc -eq 2 && grep -q "the terminal: the passphrase is longer than 1023 bytes" "$TMP/tty" ||
			{ echo "exit $rc"; cat "$TMP/tty"; exit 1; }
	'
else
	test_skip 'the terminal: a line over 1023 bytes is refused' 'no script(1)'
fi

test_expect_success 'a config file holding a secret that group or others may read is refused (exit 2, mode, chmod 600)' '
	printf "[s3]\nsecret_access_key = x\n" >"$TMP/secret.conf" &&
	for m in 640 604; do
		chmod $m "$TMP/secret.conf" &&
		ZBAK_CONFIG=$TMP/secret.conf exit2 "$TMP/secret.conf" z ls || exit 1
		grep -q "mode 0$m" "$TMP/err" && grep -q "chmod 600" "$TMP/err" ||
			{ cat "$TMP/err"; exit 1; }
	done &&
	chmod 600 "$TMP/secret.conf" && ZBAK_CONFIG=$TMP/secret.conf z ls >/dev/null
'

# --- init ------------------------------------------------------------------

# init_refused URL: init fails with exit 1 saying it is not empty, and the
# location is as it was
init_refused() {
	local before rc
	before=$(repo_state "$1")
	"$ZBAK" -r "$1" init >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	[ $rc -eq 1 ] || { echo "exit $rc, expected 1"; cat "$TMP/err"; return 1; }
	grep -q "is not empty" "$TMP/err" || { cat "$TMP/err"; return 1; }
	[ "$(repo_state "$1")" = "$before" ] || { echo "$1 changed"; return 1; }
}

if is_s3; then
	test_expect_success 'init refuses an S3 prefix that holds objects (exit 1) and writes nothing' '
		U=$(repo_url full) &&
		echo hello | repo_put "$U" notes/file &&
		init_refused "$U" && grep -q "notes/file" "$TMP/err" &&
		test "$(repo_keys "$U")" = "6 notes/file"
	'
else
	test_expect_success 'init refuses a directory that holds anything (exit 1) and writes nothing' '
		U=$(repo_url full) && mkdir "$U" &&
		echo hello >"$U/file" && init_refused "$U" &&
		grep -q "holds file" "$TMP/err" && rm "$U/file" &&
		echo x >"$U/.hidden" && init_refused "$U" && rm "$U/.hidden" &&
		mkdir "$U/sub" && init_refused "$U" && rmdir "$U/sub" &&
		test -z "$(ls -A "$U")"
	'
	test_expect_success 'init takes an empty directory that exists' '
		U=$(repo_url full) &&
		"$ZBAK" -r "$U" init >/dev/null && "$ZBAK" -r "$U" ls >/dev/null
	'
fi

# --- S3 settings -------------------------------------------------------------

test_expect_success 'AWS_ENDPOINT_URL or [s3] endpoint set but empty: exit 2 naming it, never AWS instead' '
	printf "[s3]\nretry_time = 0\nconnect_timeout = 1\n" >"$TMP/s3.conf" &&
	AWS_ENDPOINT_URL= AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s \
		ZBAK_CONFIG=$TMP/s3.conf exit2 AWS_ENDPOINT_URL \
		"$ZBAK" -r s3://zbak-test-bucket/x ls &&
	grep -q "empty" "$TMP/err" &&
	printf "[s3]\nendpoint =\nretry_time = 0\nconnect_timeout = 1\n" >"$TMP/s3e.conf" &&
	(unset AWS_ENDPOINT_URL
	 AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s ZBAK_CONFIG=$TMP/s3e.conf \
		exit2 "[s3] endpoint" "$ZBAK" -r s3://zbak-test-bucket/x ls) &&
	grep -q "empty" "$TMP/err"
'

# --- packs in no index -----------------------------------------------------

R4=$(repo_url orphans)
z4() { "$ZBAK" -r "$R4" "$@"; }

test_expect_success 'setup: a snapshot, then a push cut short that leaves a full pack in no index' '
	z4 init >/dev/null && z4 push "$TMP/s1" >/dev/null &&
	repo_keys "$R4" data/ | cut -d" " -f2- >"$TMP/indexed" &&
	gen --name big/fs --size 24M --seed 3 -o "$TMP/big" &&
	head -c $(($(stat -c %s "$TMP/big") - 200)) "$TMP/big" >"$TMP/cut" &&
	expect_fail z4 push "$TMP/cut" &&
	repo_keys "$R4" data/ | cut -d" " -f2- | grep -v -x -F -f "$TMP/indexed" >"$TMP/orphan-keys" &&
	test "$(wc -l <"$TMP/orphan-keys")" -ge 1
'

test_expect_success 'verify names each pack in no index and counts them: a warning, exit 0' '
	for opt in "" --read-data; do
		z4 verify $opt >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; exit 1; }
		while read -r key; do
			grep -q "^warning: $key (.* bytes) is in no index" "$TMP/err" ||
				{ echo "$key not named"; cat "$TMP/err"; exit 1; }
		done <"$TMP/orphan-keys"
		test "$(grep -c "^warning: " "$TMP/err")" -eq "$(wc -l <"$TMP/orphan-keys")" &&
		grep -q "^$(wc -l <"$TMP/orphan-keys") packs are in no index" "$TMP/out" &&
		grep -q " 0 problems" "$TMP/out" || { cat "$TMP/out" "$TMP/err"; exit 1; }
	done
'

test_expect_success 'gc says how many packs were in no index and how many it deleted' '
	n=$(wc -l <"$TMP/orphan-keys") &&
	z4 gc --dry-run --margin 0 >"$TMP/out" &&
	grep -q "^gc (dry run): $n of the packs are in no index .*: $n would be deleted" "$TMP/out" &&
	z4 gc >"$TMP/out" &&
	grep -q "^gc: $n of the packs were in no index .*: 0 deleted" "$TMP/out" &&
	z4 gc -v --margin 0 >"$TMP/out" &&
	while read -r key; do
		grep -q "^deleted $key (.* bytes, in no index)" "$TMP/out" || exit 1
		! repo_has "$R4" "$key" || exit 1
	done <"$TMP/orphan-keys" &&
	grep -q "^gc: $n of the packs were in no index .*: $n deleted" "$TMP/out" &&
	z4 verify >"$TMP/out" 2>"$TMP/err" && ! grep -q warning "$TMP/err" &&
	z4 gc >"$TMP/out" && ! grep -q "in no index" "$TMP/out" &&
	z4 restore pool/fs@v1 | cmp - "$TMP/s1"
'

# --- the config file ---------------------------------------------------------

test_expect_success 'a key given twice in the config: exit 2 naming the file, section, key and both lines' '
	printf "[zbak]\nrepository = %s\n\n[s3]\nregion = eu-west-1\n[zbak]\nRepository = %s\n" \
		"$R" "$TMP/elsewhere" >"$TMP/dup.conf" &&
	for cmd in ls verify "push $TMP/s1"; do
		ZBAK_CONFIG=$TMP/dup.conf exit2 "$TMP/dup.conf" "$ZBAK" $cmd || exit 1
		grep -q "line 7: Repository given twice in \[zbak\] (first on line 2)" "$TMP/err" ||
			{ cat "$TMP/err"; exit 1; }
		! grep -q "no repository" "$TMP/err" || { cat "$TMP/err"; exit 1; }
	done &&
	printf "[zbak]\nrepository = %s\n[job a]\ndatasets = tank/a\nkeep_daily = 3\nkeep_daily = 30\n" \
		"$R" >"$TMP/jobs.conf" &&
	exit2 "line 6: keep_daily given twice in [job a] (first on line 5)" \
		"$ZBAK" prune --config "$TMP/jobs.conf" --dry-run &&
	exit2 "line 6" "$ZBAK" backup --config "$TMP/jobs.conf" --dry-run &&
	test ! -e "$TMP/elsewhere" &&
	repo_state "$R" | cmp - "$TMP/pristine"
'

test_expect_success 'an indented key in the config is a key, not the value above continued' '
	printf "[zbak]\nrepository = %s\n    lock_wait = 5\n" "$R" >"$TMP/indent.conf" &&
	ZBAK_CONFIG=$TMP/indent.conf "$ZBAK" ls >"$TMP/out" &&
	grep -q pool/fs "$TMP/out"
'

test_done
