#!/bin/bash
# Forgetting a snapshot and collecting its garbage: zbak forget + gc next to
# restic forget + prune, on the same two streams (BENCH_SIZE full sends of
# versions 1 and 2; version 2 has 1% of its blocks rewritten, so forgetting
# version 1 frees about 1%).  One run each, from the page cache; the
# repository sizes before and after.  Settings: bench/common.sh.
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

s1=$(stream "$size" 1)
s2=$(stream "$size" 2)
export ZBAK_PASSPHRASE=bench
export RESTIC_PASSWORD=x RESTIC_CACHE_DIR=$dir/gc-restic-cache
zr=$dir/gc-zbak rr=$dir/gc-restic
rm -rf "$zr" "$rr" "$RESTIC_CACHE_DIR"
"$ZBAK" -q -r "$zr" init
"$ZBAK" -q -r "$zr" push --name pool/fs@v1 <"$s1"
"$ZBAK" -q -r "$zr" push --name pool/fs@v2 <"$s2"
restic -q init --repo "$rr" >/dev/null
restic -q -r "$rr" backup --stdin --stdin-filename stream <"$s1" >/dev/null
restic -q -r "$rr" backup --stdin --stdin-filename stream <"$s2" >/dev/null
zb=$(du -sb "$zr" | cut -f1) rb=$(du -sb "$rr" | cut -f1)

results=()
row() { results+=("$1|$wall|$user|$sys|$rss"); }
timed /dev/null /dev/null "$ZBAK" -q -r "$zr" forget pool/fs@v1
row "zbak forget v1"
timed /dev/null /dev/null "$ZBAK" -q -r "$zr" gc --margin 0
row "zbak gc (default: repack packs over 50% garbage)"
zm=$(du -sb "$zr" | cut -f1)
timed /dev/null /dev/null "$ZBAK" -q -r "$zr" gc --margin 0 --repack 1
row "zbak gc --repack 1 (every pack with garbage)"
oldest=$(restic -r "$rr" snapshots --json | perl -MJSON::PP -e 'my $s = decode_json(do { local $/; <STDIN> }); print $s->[0]{short_id}')
timed /dev/null /dev/null restic -r "$rr" forget "$oldest"
row "restic forget v1"
timed /dev/null /dev/null restic -r "$rr" prune
row "restic prune"
za=$(du -sb "$zr" | cut -f1) ra=$(du -sb "$rr" | cut -f1)
"$ZBAK" -q -r "$zr" verify --read-data
"$ZBAK" -q -r "$zr" restore pool/fs@v2 -o "$dir/gc-v2"
cmp "$dir/gc-v2" "$s2"

printf '\n### forget and garbage collection\n'
printf '\ntwo %s full streams (v2: 1%% of blocks changed), forget v1; repository bytes before -> after: zbak %s -> %s (default gc) -> %s (--repack 1), restic %s -> %s (restic stored the two streams apart: see the repository section)\n\n' \
	"$size" "$zb" "$zm" "$za" "$rb" "$ra"
printf '| command | wall s | user s | sys s | peak RSS MiB |\n|---|---:|---:|---:|---:|\n'
for r in "${results[@]}"; do
	IFS='|' read -r name wall user sys rss <<<"$r"
	printf '| %s | %.2f | %.2f | %.2f | %.1f |\n' "$name" "$wall" "$user" "$sys" "$(awk -v m="$rss" 'BEGIN { print m / 1024 }')"
done
rm -rf "$zr" "$rr" "$RESTIC_CACHE_DIR" "$dir/gc-v2"
