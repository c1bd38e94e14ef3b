#!/bin/bash
# make bench: measured, not asserted.  One run, same machine, same files in
# one scratch directory under /var/tmp (removed at the end):
#   bench/inspect.sh  zbak inspect next to b2sum and cat
#   bench/repo.sh     zbak push (full, and a 1%-changed full) and restore
#                     (to a pipe, -o FILE, --to a local pool) next to restic,
#                     borg and lz4 -1, best of BENCH_REPEAT rounds with the
#                     tools taking turns; repository growth; zbak's peak RSS
#                     on a 4 GiB stream
#   bench/lpool.sh    the local pool: recv, send and restore --to, next to
#                     keeping the stream as a file
#   bench/gc.sh       zbak forget + gc next to restic forget + prune
#   bench/s3.sh       zbak push and restore through s3rver on loopback, next
#                     to a local directory and to rclone (copy up, cat down),
#                     then through s3rver over a 1 Gbit/s link (tc tbf on
#                     loopback, as root; BENCH_S3_LINK=RATE or none)
#   bench/files.sh    one file out of a backup of a zfs-fuse tree: zbak files
#                     (S3 and a directory) next to restic and borg (skipped
#                     where zfs-fuse cannot run)
# First the tools they compare with (packaging/deps.sh --bench --install: as
# root it installs them; otherwise it prints the apt-get line and stops).
#   BENCH_SIZE=1G      stream size
#   BENCH_QUICK=1      fast smoke check: 64M streams, one repetition
#   BENCH_MEM_SIZE=4G  the memory section's stream (0 skips it; skipped
#                      by default when BENCH_SIZE is set)
#   REPEAT=3           repetitions of each inspect-section command
#   BENCH_REPEAT=3     rounds of the repository and S3 sections (best of)
#   BENCH_DIR, BENCH_KEEP  see bench/common.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ZBAK:?set ZBAK to the zbak binary (make bench does)}"
"$here/../packaging/deps.sh" --bench --install
# shellcheck source=bench/common.sh
. "$here/common.sh" # the scratch directory, shared by both sections
echo "scratch directory: $dir" >&2
"$here/inspect.sh"
"$here/repo.sh"
"$here/lpool.sh"
"$here/gc.sh"
"$here/s3.sh"
if why=$("$here/../tests/zfs/fuse.sh" check); then
	"$here/files.sh"
else
	echo "bench/files.sh skipped: $why" >&2
fi
