# shellcheck shell=bash disable=SC2034
# Sourced by bench/*.sh: settings, the scratch directory, generated streams
# and the timer.  Not run on its own.
#
#   ZBAK         the zbak binary (make bench sets it)
#   BENCH_SIZE   stream size (default 1G; 64M with BENCH_QUICK=1)
#   BENCH_QUICK  1: a fast smoke check (64M streams, one repetition)
#   BENCH_DIR    scratch directory to use (kept); default a fresh
#                /var/tmp/zbak-bench.XXXXXX, removed at the end
#   BENCH_KEEP   1: keep the scratch directory (to look at after a failure)
#   BENCH_REPEAT rounds of the compared steps (default 3; 1 with
#                BENCH_QUICK=1): the tools take turns within a round, and
#                each step's row is its best wall time (the machine is
#                shared: the best run is the one least disturbed)
set -euo pipefail
: "${ZBAK:?set ZBAK to the zbak binary (make bench does)}"
[ -x "$ZBAK" ] || { echo "bench: $ZBAK is not an executable" >&2; exit 1; }
command -v /usr/bin/time >/dev/null ||
	{ echo "bench needs GNU time: packaging/deps.sh --bench --install" >&2; exit 1; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	size=${BENCH_SIZE:-64M}
else
	size=${BENCH_SIZE:-1G}
fi

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	repeat=${BENCH_REPEAT:-1}
else
	repeat=${BENCH_REPEAT:-3}
fi
[ "$repeat" -ge 1 ] 2>/dev/null || { echo "bench: BENCH_REPEAT must be a number >= 1" >&2; exit 1; }

if [ -n "${BENCH_DIR:-}" ]; then
	dir=$BENCH_DIR
	mkdir -p "$dir"
else
	dir=$(mktemp -d "${TMPDIR:-/var/tmp}/zbak-bench.XXXXXX")
	BENCH_DIR=$dir
	export BENCH_DIR
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		trap 'echo "bench: scratch directory kept: $dir" >&2' EXIT
	else
		trap 'rm -rf "$dir"' EXIT
	fi
fi

# what zbak remembers of the benchmarks' repositories stays with them
export ZBAK_STATE_DIR=$dir/zbak-state

# One binary for the whole run, even if build/zbak is rebuilt meanwhile.
if [ "$ZBAK" != "$dir/zbak" ]; then
	cp "$ZBAK" "$dir/zbak"
	ZBAK=$dir/zbak
	export ZBAK
fi

# stream SIZE VERSION: the path of the generated stream (half compressible,
# 128 KiB blocks; version 2 has 1% of the blocks rewritten), made once per
# scratch directory and read once to have it in the page cache.
stream() {
	local sz=$1 v=$2 f
	f=$dir/stream-$sz-v$v.zstream
	if [ ! -s "$f" ]; then
		echo "generating a $sz stream, version $v (half compressible, 128K blocks) ..." >&2
		/usr/bin/time -f "  generated in %e s (%U s user)" \
			"$ZBAK" debug gen --size "$sz" --compressible 0.5 --version "$v" \
			>"$f.tmp" && mv "$f.tmp" "$f"
	fi
	cat "$f" >/dev/null
	echo "$f"
}

# timed STDIN STDOUT CMD...: one run under GNU time; sets wall user sys rss
# (seconds, KiB).  Its standard error goes to $dir/cmd.log; a failure
# stops the benchmark with the command, its exit status and that log.
timed() {
	local in=$1 out=$2 rc=0
	shift 2
	sync # the previous step's writes are not this one's
	/usr/bin/time -o "$dir/time.out" -f "%e %U %S %M" \
		"$@" <"$in" >"$out" 2>"$dir/cmd.log" || rc=$?
	if [ "$rc" -ne 0 ]; then
		{
			echo "bench: FAILED (exit $rc): $*"
			echo "  stdin: $in, stdout: $out; its standard error:"
			tail -20 "$dir/cmd.log" | sed 's/^/  | /'
		} >&2
		exit 1
	fi
	read -r wall user sys rss < <(tail -1 "$dir/time.out")
}

# best LABEL STDIN STDOUT CMD...: timed, kept as LABEL's row when it is
# the best wall time so far (with that run's user and sys); peak RSS is the
# highest of all runs.  Rows keep the order in which labels first came.
declare -A best_row
best_order=()
best() {
	local label=$1 w u s m
	shift
	timed "$@"
	if [ -z "${best_row[$label]:-}" ]; then
		best_order+=("$label")
		best_row[$label]="$wall|$user|$sys|$rss"
		return
	fi
	IFS='|' read -r w u s m <<<"${best_row[$label]}"
	[ "$rss" -gt "$m" ] && m=$rss
	if awk -v a="$wall" -v b="$w" 'BEGIN { exit !(a < b) }'; then
		w=$wall u=$user s=$sys
	fi
	best_row[$label]="$w|$u|$s|$m"
}

# mib KIB, mbps BYTES SECONDS: table cells
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s < 0.01) s = 0.01; printf "%.0f", b / s / 1e6 }'; }
