#!/bin/bash
# make demo: the main job on embedded defaults, in a scratch directory.
#   a synthetic dataset (64 MiB, half compressible) as a full stream of
#   version 1 and an incremental to version 2 (1% of blocks changed), checked
#   with inspect, pushed into a new local repository, restored byte for byte.
set -euo pipefail
: "${ZBAK:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/zbak-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo=$work/repo
# a throwaway repository: the passphrase is in a 0600 file, never in argv
umask 077
printf 'demo passphrase\n' >"$work/passphrase"
Z() { "$ZBAK" -r "$repo" --passphrase-file "$work/passphrase" "$@"; }

echo "== 1. streams: a 64 MiB dataset, version 1 (full) and 1 -> 2 (incremental, 1% of blocks changed)"
"$ZBAK" debug gen --name demo/data --size 64M --compressible 0.5 --version 1 >"$work/full.zstream"
"$ZBAK" debug gen --name demo/data --size 64M --compressible 0.5 --version 2 --from 1 >"$work/incr.zstream"
"$ZBAK" inspect --validate "$work/full.zstream" | sed -n '1,3p;/^substream/,$p'
"$ZBAK" inspect --validate "$work/incr.zstream" | sed -n '1,3p'

echo
echo "== 2. a new local repository (XChaCha20-Poly1305, argon2id-wrapped keys)"
ZBAK_KDF_INSECURE_FAST=1 Z init

echo
echo "== 3. push both streams"
Z push <"$work/full.zstream"
Z push <"$work/incr.zstream"
echo
Z ls

echo
echo "== 4. restore both and compare byte for byte"
Z restore demo/data@v1 -o "$work/full.restored"
Z restore demo/data@v2 -o "$work/incr.restored"
cmp "$work/full.zstream" "$work/full.restored"
cmp "$work/incr.zstream" "$work/incr.restored"
echo "both restored streams are identical to the originals"

echo
echo "== 5. verify the repository, reading every pack"
Z verify --read-data

echo
echo "== 6. damage one byte of the incremental: inspect and push refuse it"
cp "$work/incr.zstream" "$work/bad.zstream"
printf '\xff' | dd of="$work/bad.zstream" bs=1 seek=400000 conv=notrunc status=none
if "$ZBAK" inspect "$work/bad.zstream" >/dev/null 2>"$work/err"; then
	echo "demo: the damaged stream was not detected" >&2
	exit 1
fi
sed 's/^/   /' "$work/err"
if Z push --name demo/data@bad <"$work/bad.zstream" 2>"$work/err"; then
	echo "demo: the damaged stream was stored" >&2
	exit 1
fi
sed 's/^/   /' "$work/err"
echo
echo "demo: ok ($(du -sh "$repo" | cut -f1) in the repository for $(du -ch "$work"/full.zstream "$work"/incr.zstream | tail -1 | cut -f1) of streams)"
