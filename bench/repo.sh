#!/bin/bash
# The repository: zbak push and restore next to restic (backup --stdin,
# dump), borg (create -C lz4 -, extract --stdout) and lz4 -1, on the same
# generated streams in one run; then zbak's peak RSS on a larger stream.
#
# Each round, each tool in turn (the order reversed every other round):
# into an empty repository a full send of version 1 (timed), a full send of
# version 2 (1% of the blocks rewritten; timed), then version 2 restored
# into a pipe (| cat > /dev/null), into a file made durable (zbak restore -o
# FILE fsyncs it; the others write to a redirection followed by `sync FILE`)
# and, zbak only, with restore --to into a new local pool.  BENCH_REPEAT
# rounds (default 3); each row is the step's best wall time.  Repository
# sizes (du -sb) come from the first round; restored bytes are compared
# with the stream, outside the timing, in the first round.  Streams in the
# page cache, repositories read into it before each restore, `sync` before
# each timed command.  Settings: bench/common.sh, and
#   BENCH_MEM_SIZE  the larger stream of the memory section (default 4G,
#                   256M with BENCH_QUICK=1; skipped when BENCH_SIZE is set,
#                   unless this is set too; 0 skips it)
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

if [ -n "${BENCH_MEM_SIZE+x}" ]; then
	memsize=$BENCH_MEM_SIZE
elif [ -n "${BENCH_SIZE:-}" ]; then
	memsize=0
elif [ "${BENCH_QUICK:-0}" = 1 ]; then
	memsize=256M
else
	memsize=4G
fi

for t in restic borg lz4; do
	command -v "$t" >/dev/null ||
		{ echo "bench needs $t: packaging/deps.sh --bench --install" >&2; exit 1; }
done

# Each tool on its own passphrase, caches inside the scratch directory, and
# nothing from the caller's environment that would change what they do.
unset RESTIC_REPOSITORY RESTIC_REPOSITORY_FILE RESTIC_PASSWORD_FILE \
	RESTIC_PASSWORD_COMMAND RESTIC_COMPRESSION RESTIC_PACK_SIZE \
	BORG_REPO BORG_PASSCOMMAND BORG_PASSPHRASE_FD BORG_KEYS_DIR \
	BORG_CACHE_DIR BORG_CONFIG_DIR BORG_SECURITY_DIR ZBAK_REPO GOMAXPROCS
export ZBAK_PASSPHRASE=x
export RESTIC_PASSWORD=x RESTIC_CACHE_DIR=$dir/restic-cache
export BORG_PASSPHRASE=x BORG_BASE_DIR=$dir/borg-home

s1=$(stream "$size" 1)
s2=$(stream "$size" 2)
bytes=$(stat -c %s "$s1")
bytes2=$(stat -c %s "$s2")

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
failed=0

# verify NAME FILE CMD...: CMD's standard output is FILE, byte for byte
verify() {
	local name=$1 f=$2 out
	shift 2
	if ! out=$("$@" 2>"$dir/verify.log" | cmp - "$f" 2>&1); then
		{
			echo "bench: WRONG OUTPUT: $name: $* differs from $(basename "$f"): $out"
			tail -5 "$dir/verify.log" | sed 's/^/  | /'
		} >&2
		failed=1
		verified+=("$name: DIFFERS ($out)")
	else
		verified+=("$name: identical")
	fi
}
verified=()

# quiet CMD...: run an untimed setup step, its output shown only on failure
quiet() {
	if ! "$@" >"$dir/setup.log" 2>&1; then
		echo "bench: FAILED: $*" >&2
		tail -20 "$dir/setup.log" | sed 's/^/  | /' >&2
		exit 1
	fi
}

du_b() { du -sb "$1" | cut -f1; }
warm() { find "$1" -type f -exec cat {} + >/dev/null; } # into the page cache

declare -A full grow
out=$dir/restored.zstream

# one round of one tool; $first is 1 in the first round
round_zbak() {
	local zr=$dir/zbak-repo pd=$dir/zbak-pool
	rm -rf "$zr" "$pd"
	quiet "$ZBAK" -r "$zr" init
	best "zbak push v1 (full)" "$s1" /dev/null "$ZBAK" -r "$zr" push
	[ "$first" = 1 ] && full[zbak]=$(du_b "$zr")
	best "zbak push v2 (1% changed)" "$s2" /dev/null "$ZBAK" -r "$zr" push
	[ "$first" = 1 ] && grow[zbak]=$(($(du_b "$zr") - full[zbak]))
	warm "$zr"
	best "zbak restore v2 to a pipe" /dev/null /dev/null \
		sh -c '"$0" -r "$1" restore pool/fs@v2 | cat' "$ZBAK" "$zr"
	rm -f "$out"
	warm "$zr"
	best "zbak restore -o file v2" /dev/null /dev/null \
		"$ZBAK" -r "$zr" restore pool/fs@v2 -o "$out"
	[ "$first" = 1 ] && verify "zbak restore -o" "$s2" cat "$out"
	rm -f "$out"
	ZBAK_POOL_DIR=$pd quiet "$ZBAK" pool create b
	warm "$zr"
	ZBAK_POOL_DIR=$pd best "zbak restore --to v2 (new local pool)" /dev/null /dev/null \
		"$ZBAK" -r "$zr" restore pool/fs@v2 --to b/r --receiver local
	[ "$first" = 1 ] && verify "zbak restore | cat" "$s2" "$ZBAK" -r "$zr" restore pool/fs@v2
	rm -rf "$zr" "$pd"
}

round_restic() {
	local rr=$dir/restic-repo
	rm -rf "$rr" "$RESTIC_CACHE_DIR"
	quiet restic init --repo "$rr"
	best "restic backup --stdin v1 (full)" "$s1" /dev/null \
		restic -r "$rr" backup --stdin --stdin-filename stream
	[ "$first" = 1 ] && full[restic]=$(du_b "$rr") &&
		restic_repo_version=$(restic -r "$rr" cat config 2>/dev/null |
			sed -n 's/.*"version": *\([0-9]*\).*/\1/p')
	best "restic backup --stdin v2 (1% changed)" "$s2" /dev/null \
		restic -r "$rr" backup --stdin --stdin-filename stream
	[ "$first" = 1 ] && grow[restic]=$(($(du_b "$rr") - full[restic]))
	warm "$rr"
	best "restic dump v2 to a pipe" /dev/null /dev/null \
		sh -c 'restic -r "$0" dump latest stream | cat' "$rr"
	rm -f "$out"
	warm "$rr"
	best "restic dump v2 > file; sync file" /dev/null /dev/null \
		sh -c 'restic -r "$0" dump latest stream >"$1" && sync "$1"' "$rr" "$out"
	[ "$first" = 1 ] && verify "restic dump" "$s2" cat "$out"
	rm -rf "$out" "$rr"
}

round_borg() {
	local br=$dir/borg-repo
	rm -rf "$br" "$BORG_BASE_DIR"
	quiet borg init -e repokey "$br"
	best "borg create -C lz4 v1 (full)" "$s1" /dev/null borg create -C lz4 "$br::v1" -
	[ "$first" = 1 ] && full[borg]=$(du_b "$br")
	best "borg create -C lz4 v2 (1% changed)" "$s2" /dev/null borg create -C lz4 "$br::v2" -
	[ "$first" = 1 ] && grow[borg]=$(($(du_b "$br") - full[borg]))
	warm "$br"
	best "borg extract --stdout v2 to a pipe" /dev/null /dev/null \
		sh -c 'borg extract --stdout "$0::v2" | cat' "$br"
	rm -f "$out"
	warm "$br"
	best "borg extract --stdout v2 > file; sync file" /dev/null /dev/null \
		sh -c 'borg extract --stdout "$0::v2" >"$1" && sync "$1"' "$br" "$out"
	[ "$first" = 1 ] && verify "borg extract" "$s2" cat "$out"
	rm -rf "$out" "$br"
}

tools=(zbak restic borg)
for ((round = 1; round <= repeat; round++)); do
	first=0
	[ "$round" = 1 ] && first=1
	order=("${tools[@]}")
	[ $((round % 2)) = 0 ] && order=(borg restic zbak)
	for t in "${order[@]}"; do
		echo "round $round of $repeat: $t ..." >&2
		"round_$t"
	done
done
restic_version=$(restic version | awk '{print $2}')
borg_version=$(borg --version | awk '{print $2}')

echo "lz4 and cat ..." >&2
for ((round = 1; round <= repeat; round++)); do
	best "lz4 -1 (v1, compression only)" /dev/null "$dir/v1.lz4" lz4 -1 -c "$s1"
	best "lz4 -d" /dev/null /dev/null lz4 -d -c "$dir/v1.lz4"
	best "cat > /dev/null" /dev/null /dev/null cat "$s1"
done
lz4size=$(stat -c %s "$dir/v1.lz4")
verify "lz4 -d" "$s1" lz4 -d -c "$dir/v1.lz4"
rm -f "$dir/v1.lz4"
lz4_version=$(lz4 --version 2>&1 | sed -n 's/.* v\([0-9.]*\),.*/\1/p')

# wall and RSS of a row
get() {
	local w m
	IFS='|' read -r w _ _ m <<<"${best_row[$1]}"
	echo "$w $m"
}
rm -rf "$dir/restic-cache" "$dir/borg-home"

# the larger stream: zbak only, peak RSS
memrows=()
if [ "$memsize" != 0 ] && [ -n "$memsize" ]; then
	echo "zbak on a $memsize stream ..." >&2
	m1=$(stream "$memsize" 1)
	mbytes=$(stat -c %s "$m1")
	mr=$dir/zbak-mem-repo
	quiet "$ZBAK" -r "$mr" init
	timed "$m1" /dev/null "$ZBAK" -r "$mr" push
	memrows+=("push|$mbytes|$wall|$user|$sys|$rss")
	timed /dev/null /dev/null "$ZBAK" -r "$mr" restore pool/fs@v1
	memrows+=("restore|$mbytes|$wall|$user|$sys|$rss")
	verify "zbak restore ($memsize)" "$m1" "$ZBAK" -r "$mr" restore pool/fs@v1
	rm -rf "$mr" "$m1"
fi

# key opening at the default costs (every command pays it once)
kr=$dir/zbak-kdf-repo
quiet "$ZBAK" -r "$kr" init
timed /dev/null /dev/null "$ZBAK" -r "$kr" ls
kdf_wall=$wall kdf_rss=$rss
rm -rf "$kr"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

## the tables
printf '\n### The repository\n\n'
printf 'streams: %s bytes (%s; version 2: %s bytes, 1%% of the blocks rewritten), half compressible, 128 KiB blocks; ' \
	"$bytes" "$size" "$bytes2"
printf 'best wall time of %s rounds, the tools taking turns (each row: that run'"'"'s user and sys, the highest peak RSS of all rounds), from the page cache; zbak %s, restic %s (repository version %s, compression: its default, auto), borg %s, lz4 %s; %s cores.\n' \
	"$repeat" "$("$ZBAK" version | head -1 | awk '{print $NF}')" "$restic_version" "${restic_repo_version:-?}" \
	"$borg_version" "$lz4_version" "$(nproc)"
printf 'zbak binary: sha256 %s (copied at the start of the run).\n' "$(sha256sum "$ZBAK" | cut -c1-16)"
printf 'zbak is the installed build, with its default key derivation (argon2id, 5 passes over 48 MiB, paid once per command); '
printf 'restic and borg use their default key derivation (restic: scrypt calibrated at init; borg repokey: PBKDF2).\n'
printf 'Load average (1, 5, 15 min) before: %s, after: %s (anything else running on the machine shows here).\n\n' "$load_start" "$load_end"
printf '| tool / operation | wall s | user s | sys s | peak RSS MiB | MB/s | zbak faster than restic | zbak faster than borg |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
# the rows zbak's are set against: push with push, pipe with pipe, file
# with file (restore --to materialises the data too: against the file rows)
vs() {
	case $1 in
	"zbak push v1"*) echo "restic backup --stdin v1 (full)|borg create -C lz4 v1 (full)" ;;
	"zbak push v2"*) echo "restic backup --stdin v2 (1% changed)|borg create -C lz4 v2 (1% changed)" ;;
	"zbak restore v2 to a pipe") echo "restic dump v2 to a pipe|borg extract --stdout v2 to a pipe" ;;
	"zbak restore -o"* | "zbak restore --to"*)
		echo "restic dump v2 > file; sync file|borg extract --stdout v2 > file; sync file" ;;
	esac
}
for name in "${best_order[@]}"; do
	IFS='|' read -r w u s m <<<"${best_row[$name]}"
	vr="" vb=""
	IFS='|' read -r r b <<<"$(vs "$name")"
	[ -n "$r" ] && read -r vr _ <<<"$(get "$r")"
	[ -n "$b" ] && read -r vb _ <<<"$(get "$b")"
	awk -v n="$name" -v w="$w" -v u="$u" -v s="$s" -v m="$m" -v b="$bytes" \
		-v vr="$vr" -v vb="$vb" 'BEGIN {
		w2 = (w > 0.01 ? w : 0.01)
		r1 = (vr == "" ? "" : sprintf("%.2fx", vr / w2))
		r2 = (vb == "" ? "" : sprintf("%.2fx", vb / w2))
		printf "| %s | %.2f | %.2f | %.2f | %.1f | %.0f | %s | %s |\n",
			n, w, u, s, m / 1024, b / w2 / 1e6, r1, r2 }'
done

printf '\nTargets (issue 16): first push at least 3x restic, restore to a pipe at least 3x restic dump, restore -o at least 2x; peak RSS no higher than restic'"'"'s.\n\n'
printf '| target | zbak | restic | measured | |\n|---|---:|---:|---:|---|\n'
target() { # NAME ZBAK_ROW RESTIC_ROW KIND(speed N | rss)
	local zw zm rw rm
	read -r zw zm <<<"$(get "$2")"
	read -r rw rm <<<"$(get "$3")"
	if [ "$4" = speed ]; then
		awk -v n="$1" -v z="$zw" -v r="$rw" -v t="$5" 'BEGIN {
			x = r / (z > 0.01 ? z : 0.01)
			printf "| %s | %.2f s | %.2f s | %.2fx (target %sx) | %s |\n",
				n, z, r, x, t, (x >= t ? "met" : "MISSED") }'
	else
		awk -v n="$1" -v z="$zm" -v r="$rm" 'BEGIN {
			printf "| %s | %.1f MiB | %.1f MiB | %.2fx of restic'"'"'s | %s |\n",
				n, z / 1024, r / 1024, z / r, (z <= r ? "met" : "MISSED") }'
	fi
}
target "push v1 speed" "zbak push v1 (full)" "restic backup --stdin v1 (full)" speed 3
target "restore to a pipe speed" "zbak restore v2 to a pipe" "restic dump v2 to a pipe" speed 3
target "restore -o speed" "zbak restore -o file v2" "restic dump v2 > file; sync file" speed 2
target "push v1 peak RSS" "zbak push v1 (full)" "restic backup --stdin v1 (full)" rss
target "restore peak RSS" "zbak restore v2 to a pipe" "restic dump v2 to a pipe" rss

printf '\n### Repository size: a full send, then the same dataset with 1%% of its blocks changed, sent in full again\n\n'
printf '| tool | after v1: bytes | %% of stream | growth for v2: bytes | %% of stream |\n|---|---:|---:|---:|---:|\n'
for t in zbak restic borg; do
	awk -v n="$t" -v f="${full[$t]}" -v g="${grow[$t]}" -v b="$bytes" 'BEGIN {
		printf "| %s | %d | %.1f%% | %d | %.2f%% |\n", n, f, 100 * f / b, g, 100 * g / b }'
done
awk -v f="$lz4size" -v b="$bytes" 'BEGIN {
	printf "| lz4 -1 of v1 (compression only) | %d | %.1f%% | | |\n", f, 100 * f / b }'

printf '\n### zbak memory\n\n'
printf '| stream | push peak RSS MiB | push wall s | restore peak RSS MiB | restore wall s |\n|---|---:|---:|---:|---:|\n'
read -r pw zpush_rss <<<"$(get "zbak push v1 (full)")"
read -r rw zrestore_rss <<<"$(get "zbak restore v2 to a pipe")"
awk -v n="$size ($bytes bytes)" -v pm="$zpush_rss" -v pw="$pw" -v rm="$zrestore_rss" -v rw="$rw" 'BEGIN {
	printf "| %s | %.1f | %.2f | %.1f | %.2f |\n", n, pm / 1024, pw, rm / 1024, rw }'
if [ "${#memrows[@]}" -eq 2 ]; then
	IFS='|' read -r _ mb pw _ _ pm <<<"${memrows[0]}"
	IFS='|' read -r _ _ rw _ _ rm <<<"${memrows[1]}"
	awk -v n="$memsize ($mb bytes)" -v pm="$pm" -v pw="$pw" -v rm="$rm" -v rw="$rw" 'BEGIN {
		printf "| %s | %.1f | %.2f | %.1f | %.2f |\n", n, pm / 1024, pw, rm / 1024, rw }'
else
	printf '| (larger stream skipped: BENCH_SIZE set or BENCH_MEM_SIZE=0; BENCH_MEM_SIZE=4G runs it) | | | | |\n'
fi
awk -v w="$kdf_wall" -v m="$kdf_rss" 'BEGIN {
	printf "\nOpening the keys at the default costs (argon2id, 5 passes, 48 MiB; `zbak ls` on an empty repository): %.2f s, peak RSS %.1f MiB; every command pays this once, on top of the figures above.\n", w, m / 1024 }'

printf '\nrestores compared byte for byte with the stream (outside the timing):'
printf ' %s;' "${verified[@]}"
printf '\n'
[ "$failed" = 0 ] || { echo "bench: some output was wrong (above)" >&2; exit 1; }
