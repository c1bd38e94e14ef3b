#!/bin/bash
# An S3-compatible server on loopback for the test suite: s3rver from npm.
#
#   tests/s3/server.sh start STATE_DIR   start it; prints the environment to
#                                        use it (export lines, also saved in
#                                        STATE_DIR/env)
#   tests/s3/server.sh stop STATE_DIR    stop it, delete its data
#   tests/s3/server.sh install           only the npm ci (when needed)
#
# Node >= 20 runs @20minutes/s3rver 4.0.4 (tests/s3/package.json), which
# checks SigV4 signatures.  Older Node (Debian 12's nodejs is 18) runs
# s3rver 3.7.1 (tests/s3/v3/), which checks only V2 signatures, so SigV4
# requests pass with any secret: the environment then says
# ZBAK_TEST_S3_SIGCHECK=0 and the tests that need a wrong secret refused
# skip themselves (ZBAK_TEST_S3RVER=3 picks 3.7.1 on any Node, to test
# that).  Both are installed by `npm ci` from their lock file,
# once, into node_modules beside it; npm's output goes to
# STATE_DIR/npm.log (install: build/s3-npm.log).
#
# The server listens on 127.0.0.1 on a port the kernel picks (port 0),
# keeps its data under STATE_DIR/data, and has the bucket zbak-test; it
# runs with --openssl-legacy-provider (s3rver makes listing continuation
# tokens with DES, which OpenSSL 3 only has in its legacy provider: without
# it every listing answers 500).  s3rver writes an object in place, so a
# reader could see it half written: s3rver.js makes its PUTs atomic, as
# S3's are (a temporary key, then a rename).  s3rver keeps the bytes it
# received of a PUT whose connection was cut
# (ZBAK_TEST_S3_KEEPS_ABORTED_PUTS=1: the tests delete such leftovers,
# which S3 itself never shows), and ignores If-None-Match on PUT
# (ZBAK_TEST_S3_NO_CONDITIONAL_PUT=1: the one test that races two
# manifests of one name is skipped).
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUCKET=zbak-test

die() { echo "server.sh: $*" >&2; exit 1; }

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null; }

# pkgdir: the npm project for this Node; module: what to require
pick() {
	local major
	command -v node >/dev/null 2>&1 || die "node not found (Debian: apt-get install nodejs npm)"
	major=$(node_major) || die "cannot run node"
	if [ "$major" -ge 20 ] && [ "${ZBAK_TEST_S3RVER:-4}" != 3 ]; then
		pkgdir=$here module=@20minutes/s3rver version=4.0.4 sigcheck=1
	else
		pkgdir=$here/v3 module=s3rver version=3.7.1 sigcheck=0
	fi
}

# npm ci when node_modules is missing or older than the lock file
install() { # LOG
	local log=$1
	pick
	if [ -f "$pkgdir/node_modules/$module/package.json" ] &&
	   [ "$pkgdir/node_modules/.package-lock.json" -nt "$pkgdir/package-lock.json" ]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"
	(
		flock 9
		[ -f "$pkgdir/node_modules/$module/package.json" ] &&
			[ "$pkgdir/node_modules/.package-lock.json" -nt "$pkgdir/package-lock.json" ] &&
			exit 0
		echo "== npm ci in $pkgdir ($(date))" >>"$log"
		cd "$pkgdir" && npm ci --no-audit --no-fund --ignore-scripts >>"$log" 2>&1
	) 9>>"$pkgdir/.npm-ci.lock" ||
		die "npm ci in $pkgdir failed (see $log)"
}

start() { # STATE_DIR
	local st=$1 port= i pid
	mkdir -p "$st/data" || die "cannot create $st"
	install "$st/npm.log"
	node --openssl-legacy-provider "$here/s3rver.js" \
		"$pkgdir/node_modules/$module" "$st/data" "$BUCKET" \
		>"$st/server.out" 2>"$st/server.log" </dev/null &
	pid=$!
	echo $pid >"$st/pid"
	for i in $(seq 100); do
		port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$st/server.out")
		[ -n "$port" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		stop "$st"
		die "s3rver $version did not start: $(tail -5 "$st/server.log")"
	fi
	cat >"$st/env" <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=S3RVER
export AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_REGION=us-east-1
export ZBAK_TEST_BUCKET=$BUCKET
export ZBAK_TEST_S3_SIGCHECK=$sigcheck
export ZBAK_TEST_S3_EPHEMERAL=1
export ZBAK_TEST_S3_KEEPS_ABORTED_PUTS=1
export ZBAK_TEST_S3_NO_CONDITIONAL_PUT=1
export ZBAK_TEST_S3_SERVER="s3rver $version on node $(node --version)"
EOF
	unset AWS_SESSION_TOKEN AWS_PROFILE
	# it answers (a listing of the bucket, signed by zbak itself when there)
	if [ -n "${ZBAK:-}" ] && [ -x "$ZBAK" ]; then
		(. "$st/env" && "$ZBAK" debug store ls "s3://$BUCKET/zbak-probe" >/dev/null) 2>"$st/probe.err" ||
			{ stop "$st"; die "s3rver on port $port does not answer: $(cat "$st/probe.err")"; }
	fi
	cat "$st/env"
}

stop() { # STATE_DIR
	local st=$1 pid i
	[ -f "$st/pid" ] || return 0
	pid=$(cat "$st/pid")
	if kill -TERM "$pid" 2>/dev/null; then
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$st/pid"
	rm -rf "$st/data"
}

case ${1:-} in
start) [ $# -eq 2 ] || die "usage: server.sh start STATE_DIR"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: server.sh stop STATE_DIR"; stop "$2" ;;
install) mkdir -p "$here/../../build" && install "$here/../../build/s3-npm.log" ;;
*) echo "usage: server.sh start|stop STATE_DIR | install" >&2; exit 2 ;;
esac
