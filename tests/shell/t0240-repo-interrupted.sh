#!/bin/bash
# Pushes that do not finish.  A push that fails near the end of its stream
# leaves its full packs behind; pushing the whole stream again uploads only
# what is missing.  A push killed with SIGKILL at random moments (the stream
# fed slowly through a pipe) leaves no snapshot, nothing that upsets ls or
# verify, and a repeated push stores the stream whole (restore is byte for
# byte, verify --read-data passes).  The repository is a directory, or S3
# under ZBAK_TEST_BACKEND=s3 (sizes are then the bytes of every object).
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO
repo_new; R=$REPO
z() { "$ZBAK" -r "$R" "$@"; }
gen() { "$ZBAK" debug gen --objects 2 "$@"; }
dub() { repo_size "$R"; }
# temporary files a killed push left (S3 has none: a put is atomic)
tmps() { if is_s3; then echo 0; else find "$R" -name ".tmp-*" | wc -l; fi; }

test_expect_success 'setup: a repository' '
	z init >/dev/null && test -z "$(names)"
'

# 24 MiB of new data: the failed push fills and stores one 16 MiB pack
test_expect_success 'a push cut short fails, stores no snapshot, but keeps its full packs' '
	gen --name big/fs --size 24M --seed 3 -o "$TMP/s" &&
	size=$(stat -c %s "$TMP/s") &&
	head -c $((size - 200)) "$TMP/s" >"$TMP/cut" &&
	before=$(dub) &&
	expect_fail z push --name big/fs@s1 "$TMP/cut" &&
	grep -q "truncated" "$TMP/err" && grep -q "no manifest" "$TMP/err" &&
	test -z "$(names)" && [ "$(repo_count "$R" snapshots/big)" -eq 0 ] &&
	after=$(dub) &&
	echo "# the failed push left $((after - before)) bytes" >&3 &&
	[ $((after - before)) -gt 15000000 ] &&
	echo $after >"$TMP/du.failed"
' 3>&1

test_expect_success 'ls and verify are not upset by what the failed push left' '
	z ls >out && test ! -s out &&
	z verify >out && grep -q " 0 problems" out &&
	z verify --read-data >out && grep -q " 0 problems" out
'

test_expect_success 'the whole stream pushed again uploads only what is missing' '
	size=$(stat -c %s "$TMP/s") &&
	z push --name big/fs@s1 "$TMP/s" >out &&
	cat out &&
	set -- $(sed -n "s/.* \([0-9]*\) chunks (\([0-9]*\) new).*/\1 \2/p" out) &&
	all=$1 new=$2 &&
	after=$(dub) && added=$((after - $(cat "$TMP/du.failed"))) &&
	echo "# second push: $new of $all chunks new, $added bytes added of a $size-byte stream" >&3 &&
	[ "$all" -gt 100 ] && [ "$new" -lt $((all / 2)) ] &&
	[ $((added * 100)) -lt $((size * 45)) ] &&
	z restore big/fs@s1 | cmp - "$TMP/s" &&
	z verify --read-data >out && grep -q " 0 problems" out
' 3>&1

test_expect_success 'a push with a bad checksum near its end: the retry reuses its packs too' '
	gen --name big2/fs --size 24M --seed 4 -o "$TMP/s2" &&
	size=$(stat -c %s "$TMP/s2") &&
	cp "$TMP/s2" "$TMP/bad" &&
	perl -e "open(my \$f, q(+<), \$ARGV[0]) or die; seek(\$f, $size - 200000, 0);
		read(\$f, my \$b, 1); seek(\$f, $size - 200000, 0); print \$f chr(ord(\$b) ^ 1)" "$TMP/bad" &&
	expect_fail z push --name big2/fs@s1 "$TMP/bad" &&
	grep -q "checksum" "$TMP/err" && ! names | grep -q big2 &&
	z push --name big2/fs@s1 "$TMP/s2" >out &&
	set -- $(sed -n "s/.* \([0-9]*\) chunks (\([0-9]*\) new).*/\1 \2/p" out) &&
	echo "# retry after a checksum failure: $2 of $1 chunks new" >&3 &&
	[ "$2" -lt $(($1 / 2)) ] &&
	z restore big2/fs@s1 | cmp - "$TMP/s2"
' 3>&1

# Each round: new data (another seed), fed at about 25 MiB/s, killed after
# a random delay in 0.05-0.25 s (round 1), 0.25-0.45 s, ... 0.65-0.85 s (round
# 4, near the first pack's upload), then the push repeated in full.  zbak is run directly,
# not through the z function: $! must be the pid of zbak itself, not of a
# subshell whose death would leave zbak running.
for round in 1 2 3 4; do
	test_expect_success "push killed with SIGKILL at a random moment, then repeated (round $round)" '
		round='$round'
		delay=$(awk -v r=$RANDOM -v k=$round "BEGIN { printf \"%.2f\", 0.05 + 0.2 * (k - 1) + 0.2 * r / 32768 }") &&
		gen --name kill/fs --size 20M --seed $((100 + round)) -o "$TMP/k" &&
		before=$(names) && repo_keys "$R" data/ >keys.before &&
		p0=$(repo_count "$R" data/) &&
		{ slowcat "$TMP/k" 524288 0.02 | "$ZBAK" -r "$R" push --name kill/fs@s$round >"$TMP/pk" 2>&1 & pk=$!; } &&
		sleep $delay &&
		{ kill -KILL $pk 2>/dev/null; wait $pk; rc=$?; true; } &&
		drop_truncated "$R" keys.before >&3 &&
		echo "# round $round: killed after $delay s (exit $rc), $(($(repo_count "$R" data/) - p0)) packs and $(tmps) temporary files left" >&3 &&
		# listed only if whole (the manifest is written last; the kill
		# may land after it, or the push may have finished first)
		if names | grep -qx "kill/fs@s$round"; then
			echo "# round $round: the push had committed"  >&3
			z restore kill/fs@s$round | cmp - "$TMP/k" || exit 1
		else
			[ $rc -eq 137 ] || { echo "exit $rc and no snapshot"; cat "$TMP/pk"; exit 1; }
			test "$(names)" = "$before" || exit 1
		fi &&
		z ls >/dev/null && z verify >out && grep -q " 0 problems" out &&
		left=$(($(repo_count "$R" data/) - p0)) &&
		z push --name kill/fs@s$round "$TMP/k" >out &&
		grep -q "stored kill/fs@s$round:" out &&
		set -- $(sed -n "s/.* \([0-9]*\) chunks (\([0-9]*\) new).*/\1 \2/p" out) &&
		echo "# round $round: the repeated push stored $2 of $1 chunks" >&3 &&
		if [ $rc -eq 137 ] && [ $left -gt 0 ]; then
			# the killed push stored a pack: its chunks are reused
			[ "$2" -lt "$1" ] || exit 1
		fi &&
		z restore kill/fs@s$round | cmp - "$TMP/k" &&
		z verify --read-data >out && grep -q " 0 problems" out
	' 3>&1
done

test_expect_success 'a push killed at once (before any data) is harmless too' '
	gen --name kill/fs --size 2M --seed 200 -o "$TMP/k" &&
	{ slowcat "$TMP/k" 65536 0.05 | "$ZBAK" -r "$R" push --name kill/fs@early >/dev/null 2>&1 & pk=$!; } &&
	kill -KILL $pk; wait $pk
	! names | grep -q "kill/fs@early" &&
	z push --name kill/fs@early "$TMP/k" >/dev/null &&
	z restore kill/fs@early | cmp - "$TMP/k"
'

test_expect_success 'at the end: every snapshot restores, verify --read-data passes' '
	names >got &&
	printf "%s\n" big/fs@s1 big2/fs@s1 kill/fs@early kill/fs@s1 kill/fs@s2 kill/fs@s3 kill/fs@s4 | sort >want &&
	cmp want got &&
	z verify --read-data >out && grep -q "^7 snapshots,.* 0 problems" out
'

test_done
