#!/bin/bash
# The local pool as a receiver: zbak pool recv and send of a generated
# stream (BENCH_SIZE, half compressible, 128K blocks), an incremental with
# 1% of the blocks changed, and restore --to from a local repository, next
# to what a user without ZFS would do instead (keep the stream as a file:
# cat > file; zbak restore -o file).  One run each, from the page cache.
# Settings: bench/common.sh.
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

s=$(stream "$size" 1)
bytes=$(stat -c %s "$s")
incr=$dir/lpool-incr.zstream
"$ZBAK" debug gen --size "$size" --compressible 0.5 --version 2 --from 1 >"$incr"
ibytes=$(stat -c %s "$incr")
export ZBAK_POOL_DIR=$dir/lpool
rm -rf "$ZBAK_POOL_DIR" "$dir/lpool2" "$dir/lpool-repo"
"$ZBAK" pool create b
export ZBAK_PASSPHRASE=bench
"$ZBAK" -r "$dir/lpool-repo" init >/dev/null
"$ZBAK" -r "$dir/lpool-repo" -q push <"$s"
"$ZBAK" -r "$dir/lpool-repo" -q push <"$incr"

results=()
row() { results+=("$1|$2|$wall|$user|$sys|$rss"); }

timed "$s" /dev/null "$ZBAK" pool recv b/fs
row "zbak pool recv (full)" "$bytes"
timed "$s" "$dir/lpool-copy" cat
row "cat > file (full)" "$bytes"
timed "$incr" /dev/null "$ZBAK" pool recv b/fs
row "zbak pool recv (incremental, 1%)" "$ibytes"
timed /dev/null "$dir/lpool-out" "$ZBAK" pool send b/fs@v1
row "zbak pool send (full)" "$bytes"
# into a second pool, so that no block is there already
ZBAK_POOL_DIR=$dir/lpool2 "$ZBAK" pool create b
ZBAK_POOL_DIR=$dir/lpool2 timed /dev/null /dev/null "$ZBAK" -r "$dir/lpool-repo" -q restore pool/fs@v2 --to b/restored --receiver local
row "zbak restore --to, new pool (full + incremental)" $((bytes + ibytes))
timed /dev/null /dev/null "$ZBAK" -r "$dir/lpool-repo" -q restore pool/fs@v1 -o "$dir/lpool-restored"
row "zbak restore -o file (full)" "$bytes"
"$ZBAK" -q pool diff -d "$dir/lpool2" b/fs@v2 b/restored@v2

printf '\n### the local pool\n'
printf '\nstreams: full %s bytes (%s), incremental %s bytes; pool %s after all runs\n\n' \
	"$bytes" "$size" "$ibytes" "$(du -sh "$ZBAK_POOL_DIR" | cut -f1)"
printf '| command | stream bytes | wall s | user s | sys s | peak RSS MiB | MB/s |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for r in "${results[@]}"; do
	IFS='|' read -r name b wall user sys rss <<<"$r"
	awk -v n="$name" -v b="$b" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" 'BEGIN {
		printf "| %s | %d | %.2f | %.2f | %.2f | %.1f | %.0f |\n",
			n, b, w, u, s, m / 1024, b / (w > 0 ? w : 0.001) / 1e6 }'
done
rm -rf "$ZBAK_POOL_DIR" "$dir/lpool2" "$dir/lpool-repo" "$dir/lpool-copy" "$dir/lpool-out" "$dir/lpool-restored" "$incr"
