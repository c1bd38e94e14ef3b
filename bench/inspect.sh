#!/bin/bash
# zbak inspect next to b2sum and cat, on the same generated stream.
# Each command runs REPEAT times (default 3; 1 with BENCH_QUICK=1) from the
# page cache; the best wall time is reported with its CPU time and peak RSS
# (GNU time).  Settings: bench/common.sh.
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
if [ "${BENCH_QUICK:-0}" = 1 ]; then repeat=${REPEAT:-1}; else repeat=${REPEAT:-3}; fi

s=$(stream "$size" 1)
bytes=$(stat -c %s "$s")

# run NAME CMD...: best of $repeat; adds a table row
results=()
run() {
	local name=$1 best=""
	shift
	for _ in $(seq "$repeat"); do
		timed /dev/null /dev/null "$@"
		if [ -z "$best" ] || awk -v a="$wall" -v b="${best%% *}" 'BEGIN{exit !(a<b)}'; then
			best="$wall $user $sys $rss"
		fi
	done
	read -r wall user sys rss <<<"$best"
	results+=("$name|$wall|$user|$sys|$rss")
}

run "zbak inspect" "$ZBAK" inspect "$s"
run "zbak inspect --validate" "$ZBAK" inspect --validate "$s"
run "b2sum" b2sum "$s"
run "cat > /dev/null" cat "$s"

printf '\n### zbak inspect\n'
printf '\nstream: %s bytes (%s), fletcher-4 implementation: %s; best of %s\n\n' "$bytes" "$size" \
	"$("$ZBAK" version | sed -n "s/^fletcher-4: //p")" "$repeat"
printf '| command | wall s | user s | sys s | peak RSS MiB | GB/s | vs b2sum |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
b2wall=""
for r in "${results[@]}"; do
	IFS='|' read -r name wall user sys rss <<<"$r"
	[ "$name" = b2sum ] && b2wall=$wall
done
for r in "${results[@]}"; do
	IFS='|' read -r name wall user sys rss <<<"$r"
	awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
		-v b="$bytes" -v b2="$b2wall" 'BEGIN {
		w2 = (w > 0 ? w : 0.001)
		printf "| %s | %.2f | %.2f | %.2f | %.1f | %.2f | %.1fx |\n",
			n, w, u, s, m / 1024, b / w2 / 1e9, b2 / w2 }'
done
