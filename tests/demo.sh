#!/bin/bash
# make demo: the whole job on embedded defaults, in a scratch directory.
#   1. a local pool with a dataset written by `zbak pool write` (48 MiB in
#      8 files, half text, half random) and a snapshot @monday;
#   2. a day's changes (a rewrite, an append, a deleted and a new file) and
#      a snapshot @tuesday;
#   3. `zbak pool send` full and incremental, pushed into a new local
#      repository (encrypted, deduplicated), and a full send of @tuesday
#      that deduplication stores for almost nothing;
#   4. `zbak restore tank/data@tuesday --to tank/restored --receiver local`
#      (the local pool, always: a real ZFS pool named tank is never
#      touched, nor any other zfs command's pool): the chain of
#      both streams, verified, received into another dataset;
#   5. proof: `zbak pool diff` finds every restored snapshot equal to its
#      original;
#   6. a damaged copy of the repository: restore --to refuses it and leaves
#      the target unchanged;
#   7. one file out of the backup, without ZFS and without restoring the
#      dataset: a small web server's tree as the stream of a ZPL file
#      system (`zbak debug gen-zpl` writes it here, where no ZFS runs; on a
#      ZFS host it is `zfs send`), pushed, listed and one file read back
#      with `zbak files`, which fetches only the chunks that file needs.
set -euo pipefail
: "${ZBAK:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/zbak-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo=$work/repo
# a scratch pool (the default would be ~/.local/share/zbak/pool), and
# what zbak remembers of the scratch repository beside it
export ZBAK_POOL_DIR=$work/pool ZBAK_STATE_DIR=$work/state \
	ZBAK_CACHE_DIR=$work/cache
# a throwaway repository: the passphrase is in a 0600 file, never in argv
umask 077
printf 'demo passphrase\n' >"$work/passphrase"
Z() { "$ZBAK" -r "$repo" --passphrase-file "$work/passphrase" "$@"; }
P() { "$ZBAK" pool "$@"; }
now() { date +%s.%N; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# deterministic file contents: text (compressible) or random-looking bytes
text() { perl -e 'srand($ARGV[0]); my @w = qw(zfs snapshot pool dataset
	backup restore chunk record stream offsite nightly verify object
	block checksum); my $n = 0; while ($n < $ARGV[1]) {
	my $l = join(" ", map { $w[rand @w] } 1 .. 12) . "\n";
	$l = substr($l, 0, $ARGV[1] - $n) if $n + length $l > $ARGV[1];
	print $l; $n += length $l }' "$1" "$2"; }
noise() { perl -e 'srand($ARGV[0]); my $n = $ARGV[1];
	while ($n > 0) { my $k = $n < 65536 ? $n : 65536;
	print pack("L*", map { int(rand(4294967296)) } 1 .. $k / 4); $n -= $k }' "$1" "$2"; }

echo "== 1. a local pool: tank/data with 8 files (48 MiB), snapshot @monday"
P create tank
P create tank/data
for f in 1 2 3 4; do
	text "$f" 6291456 | P write tank/data "$f" 0
	noise "$f" 6291456 | P write tank/data $((f + 4)) 0
done
P snapshot tank/data@monday

echo "== 2. a day of changes: 1 MiB rewritten, 2 MiB appended, a file deleted, a file created; @tuesday"
noise 11 1048576 | P write tank/data 2 3145728
text 12 2097152 | P write tank/data 5 6291456
P free tank/data 7
text 13 4194304 | P write tank/data 9 0
P snapshot tank/data@tuesday
P list -t all -r -o name,guid,createtxg,referenced,objects tank/data

echo
echo "== 3. send both snapshots and push them into a new repository"
Z init
P send tank/data@monday >"$work/full.zstream"
P send -i @monday tank/data@tuesday >"$work/incr.zstream"
full=$(stat -c %s "$work/full.zstream")
incr=$(stat -c %s "$work/incr.zstream")
Z push <"$work/full.zstream"
Z push <"$work/incr.zstream"
# what deduplication saves: a full send of @tuesday, as a weekly full would be
before_full=$(du -sb "$repo" | cut -f1)
P send tank/data@tuesday | Z push --name tank/weekly@tuesday
added_full=$(( $(du -sb "$repo" | cut -f1) - before_full ))
Z ls

echo
echo "== 4. restore tank/data@tuesday into tank/restored (the chain: full, then incremental)"
t0=$(now)
Z restore tank/data@tuesday --to tank/restored --receiver local
t1=$(now)
P list -t all -r -o name,guid,createtxg,referenced,objects tank/restored

echo
echo "== 5. proof: every restored snapshot holds the original's data"
P diff tank/data@monday tank/restored@monday
P diff tank/data@tuesday tank/restored@tuesday
for s in monday tuesday; do
	a=$(P list -H -p -o guid tank/data@$s)
	b=$(P list -H -p -o guid tank/restored@$s)
	if [ "$a" != "$b" ]; then
		echo "demo: tank/restored@$s has guid $b, not $a" >&2
		exit 1
	fi
done
echo "snapshot guids match too"

echo
echo "== 6. a damaged copy of the repository: restore --to refuses, the target stays as it was"
P create tank/drill
before=$(P list -H -p -o name,guid,createtxg -t all -r tank/drill)
cp -a "$repo" "$work/damaged"
for pack in $(find "$work/damaged/data" -type f); do
	printf '\xff' | dd of="$pack" bs=1 seek=100 conv=notrunc status=none
done
if "$ZBAK" -r "$work/damaged" --passphrase-file "$work/passphrase" \
	restore tank/data@monday --to tank/drill/x --receiver local 2>"$work/err"; then
	echo "demo: a damaged repository restored" >&2
	exit 1
fi
sed 's/^/   /' "$work/err"
after=$(P list -H -p -o name,guid,createtxg -t all -r tank/drill)
[ "$before" = "$after" ] || { echo "demo: the target changed" >&2; exit 1; }
echo "   tank/drill is unchanged"

stored=$(du -sb "$repo" | cut -f1)

echo
echo "== 7. one file out of the backup: no ZFS, no restore of the dataset"
mkdir -p "$work/www/etc/nginx/sites-enabled" "$work/www/var/www/html" \
	"$work/www/var/log/nginx"
cat >"$work/www/etc/nginx/nginx.conf" <<'CONF'
user www-data;
worker_processes auto;
events { worker_connections 768; }
http {
	sendfile on;
	include /etc/nginx/sites-enabled/*;
}
CONF
printf 'server { listen 80; root /var/www/html; }\n' \
	>"$work/www/etc/nginx/sites-enabled/default"
ln -s ../../etc/nginx/nginx.conf "$work/www/var/www/nginx.conf"
text 21 2097152 >"$work/www/var/log/nginx/access.log"
for f in 1 2 3 4 5 6; do
	noise "$((30 + f))" 4194304 >"$work/www/var/www/html/video$f.bin"
done
chmod 640 "$work/www/etc/nginx/nginx.conf"
touch -d 2026-12-01T08:00:00Z "$work/www/etc/nginx/nginx.conf"
"$ZBAK" debug gen-zpl --name tank/www@tuesday "$work/www" | Z push
Z files ls -l tank/www@tuesday /etc/nginx
Z files cat --stats tank/www@tuesday /etc/nginx/nginx.conf \
	>"$work/nginx.conf" 2>"$work/stats"
cmp "$work/nginx.conf" "$work/www/etc/nginx/nginx.conf" || {
	echo "demo: /etc/nginx/nginx.conf came back different" >&2
	exit 1
}
sed 's/^/   /' "$work/stats"
echo "   /etc/nginx/nginx.conf of tank/www@tuesday, byte for byte:"
sed 's/^/     | /' "$work/nginx.conf"
fetched=$(sed -n 's/.* \([0-9][0-9]*\) bytes fetched.*/\1/p' "$work/stats")
www_stored=$(( $(du -sb "$repo" | cut -f1) - stored ))

echo
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "demo: ok"
echo "  streams:    full $(mib "$full"), incremental $(mib "$incr")"
echo "  repository: $(mib "$stored") for $(mib $((full + incr))) of streams and a weekly full"
echo "  dedup:      a full send of @tuesday (48 MiB) added $(awk -v b="$added_full" 'BEGIN { printf "%.0f KiB", b / 1024 }') to the repository"
echo "  restore:    both streams into tank/restored in $secs s ($(awk -v b=$((full + incr)) -v s="$secs" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / (s > 0 ? s : 1) }'))"
echo "  one file:   nginx.conf read back with $(awk -v b="${fetched:-0}" 'BEGIN { printf "%.0f KiB", b / 1024 }') fetched, of $(mib "$www_stored") stored"
