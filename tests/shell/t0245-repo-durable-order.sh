#!/bin/bash
# The order of what makes a push and a restore -o durable, read from the
# system calls (strace -f -y: descriptors shown with their paths).  A push
# puts its packs unsynced and writes them behind (sync_file_range): every
# pack is in place, and settled, before the one syncfs, and the index,
# recipes and manifest that refer to them come only after it.  restore -o
# writes its temporary file behind, fsyncs it, and only then renames it to
# the name asked for.  A directory repository only (the syscalls are the
# directory backend's); without strace the tests say so and skip.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='correct horse'
unset ZBAK_REPO
R=$TMP/repo
z() { "$ZBAK" -r "$R" "$@"; }

if is_s3; then
	test_skip 'push and restore -o make their files durable in order' \
		'the order of a directory repository system calls'
	test_done
	exit
fi
if ! command -v strace >/dev/null || ! strace -f -o /dev/null true 2>/dev/null; then
	test_skip 'push and restore -o make their files durable in order' \
		'strace is missing or cannot trace here (packaging/deps.sh --install)'
	test_done
	exit
fi

trace() { # LOG CMD...: CMD under strace, the calls that order durability
	local log=$1
	shift
	# LeakSanitizer cannot run under ptrace (a sanitizer build): the
	# rest of the sanitizers still do
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -y -qq -o "$log" -e trace=write,fsync,fdatasync,syncfs,sync_file_range,fadvise64,rename,renameat,renameat2,linkat "$@"
}
# first / last line number in LOG matching an extended regexp (0: none)
first() { grep -n -E "$2" "$1" | head -1 | cut -d: -f1 | grep . || echo 0; }
last() { grep -n -E "$2" "$1" | tail -1 | cut -d: -f1 | grep . || echo 0; }

test_expect_success 'setup: a repository and a stream of more than one pack' '
	z init >/dev/null &&
	"$ZBAK" debug gen --size 48M --compressible 0.5 --seed 7 -o "$TMP/s"
'

test_expect_success 'push: packs in place and settled before the syncfs, the index, recipes and manifest after it' '
	trace "$TMP/push.log" "$ZBAK" -r "$R" -q push "$TMP/s" &&
	L=$TMP/push.log &&
	packs=$(grep -c -E "^[0-9]+ +renameat2?\(.*/data/[0-9a-f]{2}>, \"\.tmp-" "$L") &&
	echo "packs: $packs" && [ "$packs" -ge 2 ] &&
	[ "$packs" -eq "$(repo_count "$R" data)" ] &&
	sync_at=$(first "$L" "syncfs\(.*$R>\) += 0") &&
	[ "$(grep -c "syncfs(" "$L")" -eq 1 ] &&
	last_pack=$(last "$L" "renameat2?\(.*/data/[0-9a-f]{2}>, \"\.tmp-") &&
	echo "last pack at $last_pack, syncfs at $sync_at" &&
	[ "$sync_at" -gt 0 ] && [ "$last_pack" -lt "$sync_at" ] &&
	for d in index recipes snapshots; do
		at=$(first "$L" "renameat2?\(.*$R/$d[/>].*\"\.tmp-") &&
		echo "first $d at $at" && [ "$at" -gt "$sync_at" ] || return 1
	done &&
	waited=$(grep -E "sync_file_range\(.*/data/.*WAIT_AFTER\) += 0" "$L" | wc -l) &&
	echo "packs settled: $waited" && [ "$waited" -eq "$packs" ] &&
	[ "$(last "$L" "sync_file_range\(.*/data/")" -lt "$sync_at" ] &&
	! grep -E "^[0-9]+ +f(data)?sync\(.*/data/.*\.tmp-" "$L"
'

test_expect_success 'restore -o: written behind, fsynced, then renamed; the bytes are the stream' '
	trace "$TMP/rest.log" "$ZBAK" -r "$R" -q restore pool/fs@v1 -o "$TMP/out" &&
	cmp "$TMP/out" "$TMP/s" &&
	L=$TMP/rest.log &&
	kicked=$(grep -c -E "sync_file_range\(.*/\.out\.zbak-[0-9a-f]+>.*SYNC_FILE_RANGE_WRITE\) += 0" "$L") &&
	echo "write-behind calls: $kicked" && [ "$kicked" -ge 4 ] &&
	fsync_at=$(last "$L" "fsync\(.*/\.out\.zbak-[0-9a-f]+>\) += 0") &&
	mv_at=$(first "$L" "rename(at2?)?\(.*\.out\.zbak-[0-9a-f]+\", .*out\"") &&
	last_write=$(last "$L" "write\(.*/\.out\.zbak-") &&
	echo "last write $last_write, fsync $fsync_at, rename $mv_at" &&
	[ "$last_write" -gt 0 ] && [ "$fsync_at" -gt "$last_write" ] &&
	[ "$mv_at" -gt "$fsync_at" ]
'

test_expect_success 'restore to standard output is written as before (no write-behind: stdout is not ours)' '
	trace "$TMP/pipe.log" "$ZBAK" -r "$R" -q restore pool/fs@v1 -o - >"$TMP/out2" &&
	cmp "$TMP/out2" "$TMP/s" &&
	! grep -q sync_file_range "$TMP/pipe.log"
'

test_done
