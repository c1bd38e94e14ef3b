#!/bin/bash
# zbak push and restore through S3 (s3rver on loopback, tests/s3/server.sh),
# next to the same into a local directory and next to rclone moving the same
# bytes to and from the same server: `rclone copy` of the stream file up,
# `rclone cat` of it back into a pipe.  Best wall time of BENCH_REPEAT
# rounds (default 3), the tools taking turns; the stream (half
# compressible, 128 KiB blocks) in the page cache, `sync` before each timed
# command; restores compared byte for byte with the stream outside the
# timing (first round).  The server's own CPU time (node, from /proc) is measured per
# operation beside the client's.  zbak and rclone run with their default
# settings (zbak: 16 MiB parts from 64 MiB up; rclone: 5 MiB parts from
# 200 MiB up, 4 at once).  Settings: bench/common.sh.
#
# On loopback nothing limits the bytes but the CPUs, which client and server
# share; an offsite store sits behind a link.  So the same steps run once
# more over a link of BENCH_S3_LINK (default 1gbit, a tc rate; "none" skips
# it): a token bucket (tc tbf) on the loopback device for the length of
# those rounds, removed at the end.  That needs root (CAP_NET_ADMIN) and
# the kernel's tbf; without them the section says so and is skipped.  It
# shapes all loopback traffic of the machine meanwhile: run the benchmark
# on a machine doing nothing else.
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)

command -v rclone >/dev/null ||
	{ echo "bench needs rclone: packaging/deps.sh --bench --install" >&2; exit 1; }
command -v node >/dev/null ||
	{ echo "bench needs node and npm for s3rver: packaging/deps.sh --install" >&2; exit 1; }

unset ZBAK_REPO ZBAK_CONFIG AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_CA_BUNDLE
export ZBAK_PASSPHRASE=x
export ZBAK_CACHE_DIR=$dir/s3-cache
export RCLONE_CONFIG=$dir/rclone.conf # none: the remote comes from the environment

s=$(stream "$size" 1)
bytes=$(stat -c %s "$s")

# the server: stopped at the end, before the scratch directory goes
st=$dir/s3rver
mkdir -p "$st"
# the loopback device shaped for the link rounds (below): undone at exit too
shaped=0
unshape() {
	[ "$shaped" = 1 ] && tc qdisc del dev lo root 2>/dev/null
	shaped=0
}
prev_exit=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT\$/\1/")
trap 'unshape; "$here/../tests/s3/server.sh" stop "$st" >/dev/null 2>&1; eval "$prev_exit"' EXIT
echo "starting s3rver ..." >&2
if ! "$here/../tests/s3/server.sh" start "$st" >"$st/start.out" 2>"$st/start.err"; then
	echo "bench: s3rver did not start:" >&2
	tail -5 "$st/start.err" "$st/npm.log" 2>/dev/null | sed 's/^/  | /' >&2
	exit 1
fi
# shellcheck source=/dev/null
. "$st/env"
server_pid=$(cat "$st/pid")
bucket=$ZBAK_TEST_BUCKET
export RCLONE_CONFIG_S3RVER_TYPE=s3 RCLONE_CONFIG_S3RVER_PROVIDER=Other \
	RCLONE_CONFIG_S3RVER_ENDPOINT=$AWS_ENDPOINT_URL \
	RCLONE_CONFIG_S3RVER_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
	RCLONE_CONFIG_S3RVER_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
	RCLONE_CONFIG_S3RVER_REGION=$AWS_REGION RCLONE_CONFIG_S3RVER_FORCE_PATH_STYLE=true

# CPU seconds (user + system) the server has used so far
server_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
		"/proc/$server_pid/stat"
}

rows=() # label|wall|user|sys|rss|server cpu, in order of first run
failed=0
verified=()
# stimed LABEL STDIN STDOUT CMD...: timed, with the server's CPU time; the
# row keeps the best wall time of the rounds (with that run's user, sys and
# server CPU) and the highest peak RSS
stimed() {
	local label=$1 c0 c1 sc i w u sy m osc
	shift
	c0=$(server_cpu)
	timed "$@"
	c1=$(server_cpu)
	sc=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
	[ "${noserver:-0}" = 1 ] && sc=""
	for i in "${!rows[@]}"; do
		case ${rows[$i]} in "$label|"*) ;; *) continue ;; esac
		IFS='|' read -r _ w u sy m osc <<<"${rows[$i]}"
		[ "$rss" -gt "$m" ] && m=$rss
		if awk -v a="$wall" -v b="$w" 'BEGIN { exit !(a < b) }'; then
			w=$wall u=$user sy=$sys osc=$sc
		fi
		rows[$i]="$label|$w|$u|$sy|$m|$osc"
		return
	done
	rows+=("$label|$wall|$user|$sys|$rss|$sc")
}
ltimed() { noserver=1 stimed "$@"; } # the same, no server
verify() { # NAME CMD...: CMD's standard output is the stream
	local name=$1 out
	shift
	if out=$("$@" 2>"$dir/verify.log" | cmp - "$s" 2>&1); then
		verified+=("$name: identical")
	else
		echo "bench: WRONG OUTPUT: $name: $out" >&2
		tail -5 "$dir/verify.log" | sed 's/^/  | /' >&2
		verified+=("$name: DIFFERS ($out)")
		failed=1
	fi
}
quiet() {
	if ! "$@" >"$dir/setup.log" 2>&1; then
		echo "bench: FAILED: $*" >&2
		tail -20 "$dir/setup.log" | sed 's/^/  | /' >&2
		exit 1
	fi
}

# Each round: zbak into a local directory, zbak through s3rver, rclone up
# and down, each into a fresh place; the order reversed every other round.
round_zbak_local() {
	local lr=$dir/zbak-local
	rm -rf "$lr"
	quiet "$ZBAK" -r "$lr" init
	ltimed "zbak push, local directory" "$s" /dev/null "$ZBAK" -r "$lr" push
	ltimed "zbak restore to a pipe, local directory" /dev/null /dev/null \
		sh -c '"$0" -r "$1" restore pool/fs@v1 | cat' "$ZBAK" "$lr"
	[ "$round" = 1 ] && verify "zbak restore (local)" "$ZBAK" -r "$lr" restore pool/fs@v1 &&
		local_bytes=$(du -sb "$lr" | cut -f1)
	rm -rf "$lr"
}
suffix=""
round_zbak_s3() {
	local sr=s3://$bucket/zbak-bench-$round${suffix:+-link}
	quiet "$ZBAK" -r "$sr" init
	stimed "zbak push, s3rver$suffix" "$s" /dev/null "$ZBAK" -r "$sr" push
	[ "$round" = 1 ] && [ -z "$suffix" ] &&
		s3_bytes=$("$ZBAK" debug store ls "$sr" | awk '{ t += $1 } END { print t + 0 }')
	rm -rf "$ZBAK_CACHE_DIR" # a restore on another machine: no index cache
	stimed "zbak restore to a pipe, s3rver$suffix" /dev/null /dev/null \
		sh -c '"$0" -r "$1" restore pool/fs@v1 | cat' "$ZBAK" "$sr"
	[ "$round" = 1 ] && [ -z "$suffix" ] && verify "zbak restore (s3rver)" "$ZBAK" -r "$sr" restore pool/fs@v1
	rm -rf "$ZBAK_CACHE_DIR"
}
round_rclone() {
	local rd=rclone-$round${suffix:+-link}
	stimed "rclone copy (upload), s3rver$suffix" /dev/null /dev/null rclone copy "$s" "s3rver:$bucket/$rd/"
	stimed "rclone cat (download) to a pipe, s3rver$suffix" /dev/null /dev/null \
		sh -c 'rclone cat "$0" | cat' "s3rver:$bucket/$rd/$(basename "$s")"
	if [ "$round" = 1 ] && [ -z "$suffix" ]; then
		verify "rclone cat" rclone cat "s3rver:$bucket/$rd/$(basename "$s")"
	fi
}
for ((round = 1; round <= repeat; round++)); do
	order=(zbak_local zbak_s3 rclone)
	[ $((round % 2)) = 0 ] && order=(rclone zbak_s3 zbak_local)
	for t in "${order[@]}"; do
		echo "round $round of $repeat: $t ..." >&2
		"round_$t"
	done
done

# The same through a link of BENCH_S3_LINK: zbak and rclone taking turns.
link=${BENCH_S3_LINK:-1gbit}
link_note=""
if [ "$link" = none ]; then
	link_note="skipped (BENCH_S3_LINK=none)"
elif ! command -v tc >/dev/null; then
	link_note="skipped: no tc (Debian package iproute2)"
elif [ -n "$(tc qdisc show dev lo 2>/dev/null | grep -v 'noqueue')" ]; then
	link_note="skipped: the loopback device already has a queueing discipline: $(tc qdisc show dev lo | head -1)"
elif ! tc qdisc add dev lo root tbf rate "$link" burst 1mb latency 50ms 2>"$dir/tc.err"; then
	link_note="skipped: tc could not shape the loopback device ($(head -1 "$dir/tc.err"); root and the kernel's tbf are needed)"
else
	shaped=1
	suffix=" (over a $link link)"
	for ((round = 1; round <= repeat; round++)); do
		order=(zbak_s3 rclone)
		[ $((round % 2)) = 0 ] && order=(rclone zbak_s3)
		for t in "${order[@]}"; do
			echo "round $round of $repeat over a $link link: $t ..." >&2
			"round_$t"
		done
	done
	unshape
	suffix=""
	link_note="tc tbf at $link on the loopback device (burst 1 MB)"
fi
rclone_version=$(rclone version 2>/dev/null | awk 'NR == 1 { print $2 }')

get() { # wall of a row by label
	local r
	for r in "${rows[@]}"; do
		case $r in "$1|"*) IFS='|' read -r _ w _ <<<"$r"; echo "$w"; return ;; esac
	done
}

printf '\n### Through S3: s3rver on loopback\n\n'
printf 'stream: %s bytes (%s), half compressible, 128 KiB blocks; best wall time of %s rounds, the tools taking turns, from the page cache; restores into a pipe (| cat); ' "$bytes" "$size" "$repeat"
printf 'zbak %s (default key derivation and S3 settings), rclone %s (defaults), %s; %s cores (server and client share them).\n' \
	"$("$ZBAK" version | head -1 | awk '{print $NF}')" "${rclone_version:-?}" "$ZBAK_TEST_S3_SERVER" "$(nproc)"
printf 'Stored: zbak %s bytes in the local directory, %s bytes of objects on s3rver; rclone stores the stream as it is (%s bytes).\n\n' \
	"$local_bytes" "$s3_bytes" "$bytes"
printf '| operation | wall s | user s | sys s | peak RSS MiB | server CPU s | MB/s | local dir is faster by | zbak faster than rclone |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for r in "${rows[@]}"; do
	IFS='|' read -r name w u sy m sc <<<"$r"
	vl="" vr=""
	case $name in
	"zbak push, s3rver") vl=$(get "zbak push, local directory"); vr=$(get "rclone copy (upload), s3rver") ;;
	"zbak restore to a pipe, s3rver") vl=$(get "zbak restore to a pipe, local directory"); vr=$(get "rclone cat (download) to a pipe, s3rver") ;;
	"zbak push, s3rver (over a "*) vr=$(get "rclone copy (upload), s3rver${name#zbak push, s3rver}") ;;
	"zbak restore to a pipe, s3rver (over a "*) vr=$(get "rclone cat (download) to a pipe, s3rver${name#zbak restore to a pipe, s3rver}") ;;
	esac
	awk -v n="$name" -v w="$w" -v u="$u" -v s="$sy" -v m="$m" -v sc="$sc" -v b="$bytes" \
		-v vl="$vl" -v vr="$vr" 'BEGIN {
		w2 = (w > 0.01 ? w : 0.01)
		r1 = (vl == "" ? "" : sprintf("%.2fx", w2 / (vl > 0.01 ? vl : 0.01)))
		r2 = (vr == "" ? "" : sprintf("%.2fx", vr / w2))
		printf "| %s | %.2f | %.2f | %.2f | %.1f | %s | %.0f | %s | %s |\n",
			n, w, u, s, m / 1024, (sc == "" ? "" : sc), b / w2 / 1e6, r1, r2 }'
done
printf '\nThe rows "over a %s link": %s.\n' "$link" "$link_note"
printf '\nrestores compared byte for byte with the stream (outside the timing):'
printf ' %s;' "${verified[@]}"
printf '\n'
[ "$failed" = 0 ] || { echo "bench: some output was wrong (above)" >&2; exit 1; }
