#!/bin/bash
# make bench-compare BASE=REV: this tree's zbak next to the zbak of git
# revision REV (default: HEAD~1), in one run on the same streams, to show
# that a change left the speed where it was.  Each step runs REPEAT times
# (default 3) for each binary, alternating them so that a change in the
# machine's load hits both; the table shows the best wall time of each and
# the ratio (above 1.00x: this tree is faster).  Settings: bench/common.sh;
#   BASE_ZBAK  an already built binary to compare with, instead of REV
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
repeat=${REPEAT:-3}
[ "$repeat" -ge 1 ] 2>/dev/null || { echo "bench: REPEAT must be a number >= 1" >&2; exit 1; }

base_rev=${BASE:-HEAD~1}
if [ -n "${BASE_ZBAK:-}" ]; then
	cp "$BASE_ZBAK" "$dir/zbak-base"
	base_rev="$BASE_ZBAK"
else
	commit=$(git -C "$top" rev-parse --verify "$base_rev^{commit}") ||
		{ echo "bench: BASE=$base_rev is not a revision of $top" >&2; exit 1; }
	echo "building zbak at $base_rev (${commit:0:12}) ..." >&2
	git -C "$top" worktree add -q --detach "$dir/base-src" "$commit"
	if ! make -C "$dir/base-src" -j"$(nproc)" build/zbak >"$dir/base-build.log" 2>&1; then
		tail -20 "$dir/base-build.log" >&2
		git -C "$top" worktree remove --force "$dir/base-src"
		echo "bench: could not build $base_rev" >&2
		exit 1
	fi
	cp "$dir/base-src/build/zbak" "$dir/zbak-base"
	git -C "$top" worktree remove --force "$dir/base-src"
	base_rev="$base_rev (${commit:0:12})"
fi
new=$ZBAK old=$dir/zbak-base
export ZBAK_PASSPHRASE=bench

s1=$(stream "$size" 1)
s2=$(stream "$size" 2)
incr=$dir/compare-incr.zstream
"$new" debug gen --size "$size" --compressible 0.5 --version 2 --from 1 >"$incr"
bytes=$(stat -c %s "$s1")

# Each binary gets its own repositories and pool, made by itself.
for w in new old; do
	bin=${!w}
	rm -rf "$dir/cmp-$w"
	mkdir -p "$dir/cmp-$w"
	"$bin" -r "$dir/cmp-$w/ro" init >/dev/null
	"$bin" -r "$dir/cmp-$w/ro" -q push <"$s1"
	"$bin" -r "$dir/cmp-$w/ro" -q push <"$incr"
done

declare -A best
steps=()
# step NAME SETUP CMD: SETUP (a shell snippet, untimed) then CMD (timed),
# with $z the binary and $w its scratch directory; stdin and stdout /dev/null
# unless CMD redirects.
step() {
	local name=$1 setup=$2 cmd=$3 i w z
	steps+=("$name")
	for ((i = 0; i < repeat; i++)); do
		for w in new old; do
			z=${!w}
			(cd "$dir/cmp-$w" && z=$z w=$dir/cmp-$w eval "$setup") >/dev/null 2>&1 ||
				{ echo "bench: setup of '$name' failed for $w" >&2; exit 1; }
			timed /dev/null /dev/null env z="$z" w="$dir/cmp-$w" bash -c "cd \"\$w\" && $cmd"
			if [ -z "${best[$name/$w]:-}" ] ||
				awk -v a="$wall" -v b="${best[$name/$w]}" 'BEGIN { exit !(a < b) }'; then
				best[$name/$w]=$wall
			fi
		done
	done
}

echo "comparing (best of $repeat, alternating) ..." >&2
step "inspect --validate" ":" "\"\$z\" inspect --validate - <$s1"
step "push v1 (full, empty repository)" "rm -rf r && \"\$z\" -r r init" "\"\$z\" -r r -q push <$s1"
step "push v2 (1% changed)" "rm -rf r && \"\$z\" -r r init && \"\$z\" -r r -q push <$s1" "\"\$z\" -r r -q push <$s2"
step "restore v1 to a pipe" ":" "\"\$z\" -r ro -q restore pool/fs@v1 | cat >/dev/null"
step "restore v1 -o file" "rm -f out" "\"\$z\" -r ro -q restore pool/fs@v1 -o out"
step "pool recv (full)" "rm -rf p && ZBAK_POOL_DIR=p \"\$z\" pool create b" "ZBAK_POOL_DIR=p \"\$z\" pool recv b/fs <$s1"
step "restore --to, local pool (full + incremental)" \
	"rm -rf p2 && ZBAK_POOL_DIR=p2 \"\$z\" pool create b" \
	"ZBAK_POOL_DIR=p2 \"\$z\" -r ro -q restore pool/fs@v2 --to b/r --receiver local"
step "forget all + gc" "rm -rf g && cp -a ro g" "\"\$z\" -r g -q forget pool/fs@v2 pool/fs@v1 && \"\$z\" -r g -q gc --margin 0"

printf '\n### This tree against %s\n\n' "$base_rev"
printf 'stream: %s bytes (%s), half compressible, 128 KiB blocks; best wall time of %s runs each, the two binaries alternating; %s cores; load average now %s.\n\n' \
	"$bytes" "$size" "$repeat" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| step | base wall s | this tree wall s | this tree faster by |\n|---|---:|---:|---:|\n'
for n in "${steps[@]}"; do
	awk -v n="$n" -v o="${best[$n/old]}" -v c="${best[$n/new]}" 'BEGIN {
		printf "| %s | %.2f | %.2f | %.2fx |\n", n, o, c, o / (c > 0.01 ? c : 0.01) }'
done
rm -rf "$dir/cmp-new" "$dir/cmp-old" "$incr"
