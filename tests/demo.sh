#!/bin/bash
# make demo: the main job on embedded defaults.  For now (the stream engine
# stage): generate a synthetic dataset's full stream and a later incremental,
# check both, and print their summaries.
set -euo pipefail
: "${ZBAK:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/zbak-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== generating a 64 MiB dataset (half compressible), versions 1 and 2 (1% of blocks changed)"
"$ZBAK" debug gen --name demo/data --size 64M --compressible 0.5 --version 1 >"$work/full.zstream"
"$ZBAK" debug gen --name demo/data --size 64M --compressible 0.5 --version 2 --from 1 >"$work/incr.zstream"
echo
echo "== zbak inspect --validate full.zstream"
"$ZBAK" inspect --validate "$work/full.zstream"
echo
echo "== zbak inspect --validate incr.zstream"
"$ZBAK" inspect --validate "$work/incr.zstream"
echo
echo "== damage one byte of the incremental and inspect again"
cp "$work/incr.zstream" "$work/bad.zstream"
printf 'X' | dd of="$work/bad.zstream" bs=1 seek=100000 conv=notrunc status=none
if "$ZBAK" inspect "$work/bad.zstream" >/dev/null; then
	echo "demo: the damaged stream was not detected" >&2
	exit 1
fi
echo
echo "demo: ok (both streams verified; the damaged copy was refused)"
