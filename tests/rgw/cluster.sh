#!/bin/bash
# A throwaway single-node Ceph cluster with a RADOS Gateway on loopback, for
# running the S3 suite against a strict S3 implementation (signatures, payload
# hashes, the 5 MiB minimum part size).  As root; Debian's ceph-mon, ceph-osd
# and radosgw (packaging/deps.sh --rgw --install).
#
#   cluster.sh start [DIR]   start it in DIR (default a new /tmp/zbak-rgw.XXXXXX)
#                            and print DIR; DIR/env then holds the exports
#                            (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
#                            AWS_SECRET_ACCESS_KEY, ZBAK_TEST_S3_ENDPOINT,
#                            RGW_DIR: the gateway's log is
#                            $RGW_DIR/log/client.rgw.a.log, one line a request)
#   cluster.sh stop DIR      kill every daemon of that cluster, remove DIR
#   cluster.sh run CMD...    start, run CMD with those variables exported,
#                            stop (also on failure or interrupt); CMD's status
#
# One monitor without cephx (`auth ... required = none`, which needs
# `ms mon client mode = crc secure` or radosgw hangs), one OSD on memstore
# (data in RAM, nothing on disk but logs), pools of size 1 with few placement
# groups, no manager, one radosgw (beast) on a free port, with tcp_nodelay=1:
# without it every response on a reused connection waits ~40 ms for the
# client's delayed ACK (beast writes headers and body apart; Nagle).  A failed start
# leaves nothing running and removes its directory, unless RGW_KEEP=1 (to read
# DIR/log/*.log).  RGW_TIMEOUT (default 120 s) bounds each wait.
set -euo pipefail

ACCESS_KEY=${RGW_ACCESS_KEY:-ZBAKTESTACCESSKEY01}
SECRET_KEY=${RGW_SECRET_KEY:-zbak/test+secret/0123456789abcdefghijkl}
TIMEOUT=${RGW_TIMEOUT:-120}

say() { echo "rgw: $*" >&2; }
die() { say "$*"; exit 1; }

# free_port: a TCP port on 127.0.0.1 that no socket uses (listening or
# connected), below the kernel's range of ephemeral ports so that no
# outgoing connection takes it before the daemon binds it (a few seconds
# later; not reserved: a clash shows as a failed start)
free_port() {
	local p lo min=10000
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt $((min + 1000)) ] || min=1024
	for _ in $(seq 200); do
		p=$((min + RANDOM % (lo - min)))
		if ! ss -Htan "sport = :$p" | grep -q . &&
			! grep -qx "$p" "$used_ports" 2>/dev/null; then
			echo "$p" >>"$used_ports"
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# pids of the processes started from this cluster's configuration: the
# daemons' pid files, and any process run with `-c DIR/ceph.conf` (a daemon
# that died before writing its pid file, a hung admin command)
cluster_pids() {
	local d=$1 f p i
	local -a args
	{
		for f in "$d"/run/*.pid; do
			[ -r "$f" ] || continue
			p=$(cat "$f" 2>/dev/null) || continue
			if [ -n "$p" ] && [ -d "/proc/$p" ]; then echo "$p"; fi
		done
		for f in /proc/[0-9]*/cmdline; do
			p=${f#/proc/}
			p=${p%/cmdline}
			[ "$p" = $$ ] && continue
			mapfile -d '' args 2>/dev/null <"$f" || continue
			for ((i = 0; i + 1 < ${#args[@]}; i++)); do
				if [ "${args[i]}" = -c ] && [ "${args[i + 1]}" = "$d/ceph.conf" ]; then
					echo "$p"
					break
				fi
			done
		done
	} | sort -un
	return 0
}

stop_cluster() {
	local d=$1 pids
	[ -n "$d" ] && [ -d "$d" ] || return 0
	[ -f "$d/ceph.conf" ] || { say "$d is not a cluster directory; left alone"; return 1; }
	pids=$(cluster_pids "$d")
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null || true
		for _ in $(seq 50); do
			pids=$(cluster_pids "$d")
			[ -z "$pids" ] && break
			sleep 0.1
		done
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			sleep 0.2
		fi
	fi
	if [ "${RGW_KEEP:-0}" = 1 ]; then
		say "kept $d"
	else
		rm -rf "$d"
	fi
}

# wait_for WHAT CMD...: retry CMD until it succeeds, at most $TIMEOUT s
wait_for() {
	local what=$1 t0=$SECONDS
	shift
	until "$@" >/dev/null 2>&1; do
		if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then
			say "timed out after $TIMEOUT s waiting for $what"
			return 1
		fi
		sleep 0.3
	done
}

preflight() {
	[ "$(id -u)" -eq 0 ] || die "needs root (ceph daemons)"
	for c in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl ss; do
		command -v "$c" >/dev/null ||
			die "$c is missing: packaging/deps.sh --rgw --install"
	done
}

start_cluster() {
	local d=$1 fsid monv1 monv2 rgwport osduuid conf t0=$SECONDS
	mkdir -p "$d"/{run,log,mon,osd,rgw}
	d=$(cd "$d" && pwd)
	conf=$d/ceph.conf
	used_ports=$d/ports
	fsid=$(cat /proc/sys/kernel/random/uuid)
	osduuid=$(cat /proc/sys/kernel/random/uuid)
	monv2=$(free_port) && monv1=$(free_port) && rgwport=$(free_port) || return 1
	cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$monv2,v1:127.0.0.1:$monv1]
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
keyring = $d/keyring
run dir = $d/run
admin socket = $d/run/\$name.asok
pid file = $d/run/\$name.pid
log file = $d/log/\$name.log
log to stderr = false
err to stderr = false
crash dir = $d/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon osd full ratio = 0.99
mon osd backfillfull ratio = 0.99
mon osd nearfull ratio = 0.99

[mon]
mon data = $d/mon/\$cluster-\$id
mon cluster log file = $d/log/cluster.log

[osd]
osd data = $d/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd crush update on start = true

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgwport tcp_nodelay=1
rgw data = $d/rgw
rgw enable usage log = false
rgw dns name = localhost
EOF
	: >"$d/keyring"
	say "mon ..."
	monmaptool --create --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$monv2,v1:127.0.0.1:$monv1]" "$d/monmap" \
		>"$d/log/monmaptool.log" 2>&1 || { cat "$d/log/monmaptool.log" >&2; return 1; }
	ceph-mon -c "$conf" --mkfs -i a --monmap "$d/monmap" >"$d/log/mkfs-mon.log" 2>&1 ||
		{ cat "$d/log/mkfs-mon.log" >&2; return 1; }
	ceph-mon -c "$conf" -i a >"$d/log/start-mon.log" 2>&1 ||
		{ cat "$d/log/start-mon.log" >&2; return 1; }
	wait_for "the monitor" timeout 10 ceph -c "$conf" mon stat || return 1

	say "osd (memstore) ..."
	local id
	id=$(timeout 30 ceph -c "$conf" osd new "$osduuid") || return 1
	mkdir -p "$d/osd/ceph-$id"
	ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$osduuid" \
		>"$d/log/mkfs-osd.log" 2>&1 || { cat "$d/log/mkfs-osd.log" >&2; return 1; }
	ceph-osd -c "$conf" -i "$id" >"$d/log/start-osd.log" 2>&1 ||
		{ cat "$d/log/start-osd.log" >&2; return 1; }
	wait_for "the osd to be up" osd_up "$conf" || return 1

	say "radosgw on 127.0.0.1:$rgwport ..."
	radosgw -c "$conf" -n client.rgw.a >"$d/log/start-rgw.log" 2>&1 ||
		{ cat "$d/log/start-rgw.log" >&2; return 1; }
	wait_for "radosgw to answer" curl -sf -o /dev/null "http://127.0.0.1:$rgwport/" || return 1
	timeout 60 radosgw-admin -c "$conf" user create --uid zbak --display-name "zbak tests" \
		--access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
		>"$d/log/user-create.log" 2>&1 || { cat "$d/log/user-create.log" >&2; return 1; }
	cat >"$d/env" <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$rgwport
export AWS_ACCESS_KEY_ID='$ACCESS_KEY'
export AWS_SECRET_ACCESS_KEY='$SECRET_KEY'
export ZBAK_TEST_S3_ENDPOINT=http://127.0.0.1:$rgwport
export RGW_DIR=$d
EOF
	say "ready at http://127.0.0.1:$rgwport in $((SECONDS - t0)) s (dir $d)"
}

osd_up() {
	ceph -c "$1" osd dump 2>/dev/null | grep -q '^osd\.[0-9]* up '
}

# start DIR: start_cluster, or tear everything down on failure
start() {
	local d=$1 rc=0 saved
	saved=$(trap -p INT TERM)
	trap 'say interrupted; stop_cluster "$d"; exit 130' INT TERM
	start_cluster "$d" || rc=$?
	trap - INT TERM
	eval "$saved"
	if [ $rc -ne 0 ]; then
		say "start failed; logs:"
		tail -n 15 "$d"/log/*.log >&2 2>/dev/null || true
		stop_cluster "$d"
		return 1
	fi
}

cmd=${1:-}
case $cmd in
start)
	preflight
	d=${2:-$(mktemp -d /tmp/zbak-rgw.XXXXXX)}
	start "$d"
	echo "$d"
	;;
stop)
	[ $# -eq 2 ] || die "usage: $0 stop DIR"
	stop_cluster "$2"
	;;
run)
	shift
	[ $# -ge 1 ] || die "usage: $0 run CMD..."
	preflight
	d=$(mktemp -d /tmp/zbak-rgw.XXXXXX)
	trap 'stop_cluster "$d"' EXIT
	trap 'exit 130' INT TERM
	start "$d"
	rc=0
	(
		# shellcheck source=/dev/null
		. "$d/env"
		exec "$@"
	) || rc=$?
	exit $rc
	;;
*)
	echo "usage: $0 start [DIR] | stop DIR | run CMD..." >&2
	exit 2
	;;
esac
