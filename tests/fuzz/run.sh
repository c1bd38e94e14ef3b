#!/bin/bash
# Short libFuzzer runs of every target (FUZZ_SECONDS each), seeded with
# generated streams and, when present, ../shared/streams.  Each target is one
# test; totals go to build/fuzz/results for tests/summary.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${ZBAK:?}"
secs=${FUZZ_SECONDS:-25}
out=build/fuzz
mkdir -p "$out"
shared=${ZBAK_SHARED_STREAMS:-$(cd "$here/../../.." && pwd)/shared/streams}
pass=0 fail=0

seed_dir() { # $1 = target name; prints the corpus directory
	local d=$out/corpus-$1
	rm -rf "$d"
	mkdir -p "$d"
	# inputs that once found a bug stay as seeds (regressions)
	if [ -d "$here/corpus/$1" ]; then
		cp "$here/corpus/$1"/* "$d/" 2>/dev/null || true
	fi
	case $1 in
	fuzz_drr)
		# generated seeds, prefixed by the piece-size byte
		local i=0
		for args in "--objects 3 --blocksize 4096" \
			"--objects 2 --blocksize 4096 --byteswap" \
			"--objects 2 --blocksize 4096 --legacy" \
			"--objects 2 --blocksize 4096 --compound" \
			"--objects 3 --blocksize 4096 --version 2 --from 1"; do
			i=$((i + 1))
			{ printf '\x05'; $ZBAK debug gen $args 2>/dev/null; } >"$d/gen$i" || true
		done
		if [ -d "$shared/zsend" ]; then
			for f in "$shared"/zsend/*.zsend; do
				[ "$(stat -c %s "$f")" -le 300000 ] || continue
				{ printf '\x01'; cat "$f"; } >"$d/$(basename "$f")"
			done
		fi
		;;
	fuzz_nvlist)
		if [ -d "$shared/zsend" ]; then
			# BEGIN payloads (the nvlists) of the little-endian shared streams
			for f in "$shared"/zsend/little-endian-*.zsend "$shared"/zsend/decompress.zsend; do
				[ -f "$f" ] || continue
				plen=$(od -An -tu4 -j4 -N4 "$f" | tr -d ' ')
				[ "${plen:-0}" -gt 0 ] && [ "$plen" -lt 1000000 ] || continue
				tail -c +313 "$f" | head -c "$plen" >"$d/$(basename "$f").nvl"
			done
		fi
		;;
	fuzz_lpool)
		# streams to receive (mode 2, piece size byte), and the files of
		# a pool made from them (modes 0 and 1)
		local pd=$out/lpool-seed-pool i=0
		rm -rf "$pd"
		ZBAK_POOL_DIR=$pd $ZBAK pool create s >/dev/null 2>&1
		for args in "--objects 3 --blocksize 4096" \
			"--objects 2 --blocksize 4096 --byteswap" \
			"--objects 2 --blocksize 4096 --legacy" \
			"--objects 2 --blocksize 4096 --compound"; do
			i=$((i + 1))
			{ printf '\x02\xff'; $ZBAK debug gen $args 2>/dev/null; } >"$d/gen$i" || true
			$ZBAK debug gen $args 2>/dev/null |
				ZBAK_POOL_DIR=$pd $ZBAK pool recv s/g$i >/dev/null 2>&1
		done
		if [ -d "$shared/zsend" ]; then
			for f in "$shared"/zsend/*.zsend; do
				[ "$(stat -c %s "$f")" -le 300000 ] || continue
				{ printf '\x02\x40'; cat "$f"; } >"$d/$(basename "$f")"
			done
		fi
		# snapshots with holds, so that the seed has H lines
		ZBAK_POOL_DIR=$pd $ZBAK pool snapshot -r s@held >/dev/null 2>&1
		ZBAK_POOL_DIR=$pd $ZBAK pool hold zbak s@held >/dev/null 2>&1
		ZBAK_POOL_DIR=$pd $ZBAK pool hold keep.1 s@held >/dev/null 2>&1
		ZBAK_POOL_DIR=$pd $ZBAK pool hold zbak s/g1@held >/dev/null 2>&1
		{ printf '\x01'; cat "$pd/meta"; } >"$d/meta" 2>/dev/null
		for f in "$pd"/states/*; do
			[ -f "$f" ] || continue
			{ printf '\x00'; cat "$f"; } >"$d/state-$(basename "$f" | head -c 8)"
		done
		rm -rf "$pd"
		;;
	fuzz_nightly)
		# the example configuration, a metrics file, zfs get output,
		# the synopses of OpenZFS's and zfs-fuse's zfs
		{ printf '\x00'; cat "$here/../../conf/zbak.conf"; } >"$d/conf"
		printf '\x00[zbak]\nlock_wait = 5\n[job a]\ndatasets = t/a, t/b\nrecursive = yes\nbandwidth_limit = 10M\nsend_flags = -w -c\n' >"$d/conf2"
		printf '\x01# TYPE zbak_backup_status gauge\nzbak_backup_status{job="a",dataset="t/a\\"x"} 1\nzbak_backup_duration_seconds{job="a",dataset="t/a"} 1.5\n' >"$d/metrics"
		printf '\x02p/fs\tguid\t-\np/fs@a\tguid\t1\np/fs@a\tcreatetxg\t10\np/fs@b\tguid\t18446744073709551615\np/fs@b\tuserrefs\t2\n' >"$d/zfsget"
		printf '\x03usage: zfs command args ...\n\tsend [-DLPbcehnpsVvw] [-i|-I snapshot]\n\t     [-R [-X dataset[,dataset]...]]     <snapshot>\n\treceive [-vF] <filesystem>\n' >"$d/usage"
		printf '\x03\tsend [-RDp] [-[iI] snapshot] <snapshot>\n' >"$d/usage-fuse"
		;;
	esac
	echo "$d"
}

for bin in "$@"; do
	name=$(basename "$bin")
	corpus=$(seed_dir "$name")
	log=$out/$name.log
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$corpus" >"$log" 2>&1; then
		pass=$((pass + 1))
		echo "ok fuzz $name: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${secs}s"
	else
		fail=$((fail + 1))
		echo "FAIL fuzz $name (log: $log)"
		grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -20
	fi
done
echo "$pass $fail 0" >"$out/results"
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
