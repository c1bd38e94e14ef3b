#!/bin/bash
# Manual smoke test of the S3 backend against @20minutes/s3rver 4.0.4 on
# loopback (not part of `make test`; the integration harness is separate).
#   S3RVER_DIR=/tmp/s3rv tests/s3/smoke.sh      (ZBAK=build/zbak by default)
# Needs Node >= 20 and `npm install @20minutes/s3rver@4.0.4` in S3RVER_DIR.
# s3rver makes continuation tokens with DES, which OpenSSL 3 only has in
# its legacy provider: node runs with --openssl-legacy-provider, or every
# listing answers 500.
set -eu
ZBAK=${ZBAK:-build/zbak}
dir=${S3RVER_DIR:-/tmp/s3rv}
port=${S3RVER_PORT:-4568}
work=$(mktemp -d)
cat >"$work/start.js" <<JS
process.chdir('$dir');
const S3rver = require('$dir/node_modules/@20minutes/s3rver');
new S3rver({ directory: '$work/data', address: '127.0.0.1', port: $port, silent: true })
  .run().then(() => console.log('ready'));
JS
mkdir -p "$work/data"
node --openssl-legacy-provider "$work/start.js" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q ready "$work/server.log" && break; sleep 0.1; done

export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
export ZBAK_PASSPHRASE=smoke ZBAK_KDF_INSECURE_FAST=1 ZBAK_STATE_DIR=$work/state ZBAK_CACHE_DIR=$work/cache
repo=s3://testbucket/repo
printf '[s3]\nretry_time = 3\nmultipart_threshold = 5M\npart_size = 5M\n' >"$work/zbak.conf"
chmod 600 "$work/zbak.conf"
export ZBAK_CONFIG=$work/zbak.conf

step() { printf '%-50s' "$1"; }
step "init creates the bucket"; $ZBAK -q -r $repo init && echo ok
$ZBAK debug gen --size 64M --compressible 0.5 >"$work/s.zs"
step "push 64M"; $ZBAK -q -r $repo push "$work/s.zs" && echo ok
step "ls"; $ZBAK -r $repo ls | grep -q v1 && echo ok
step "verify --read-data"; $ZBAK -q -r $repo verify --read-data >/dev/null && echo ok
step "restore byte-exact"; $ZBAK -q -r $repo restore pool/fs@v1 -o "$work/r.zs" && cmp "$work/s.zs" "$work/r.zs" && echo ok
step "multipart put/get (23 MB, 5 MiB parts)"
head -c 23000000 /dev/urandom >"$work/big"
$ZBAK debug store put $repo big <"$work/big"
$ZBAK debug store get $repo big | cmp - "$work/big" && echo ok
step "pagination (1100 objects)"
for i in $(seq 1100); do echo $i; done | xargs -P 8 -I{} sh -c "echo {} | $ZBAK debug store put $repo many/{}"
[ "$($ZBAK debug store ls $repo many/ | wc -l)" -eq 1100 ] && echo ok
step "wrong secret fails at once with the S3 code"
out=$(AWS_SECRET_ACCESS_KEY=wrong timeout 5 $ZBAK -r $repo ls 2>&1) && exit 1
echo "$out" | grep -q SignatureDoesNotMatch && echo ok
kill $server; wait $server 2>/dev/null || true
step "server stopped: push fails within retry_time"
start=$(date +%s)
out=$($ZBAK -r $repo push "$work/s.zs" 2>&1) && exit 1
[ $(($(date +%s) - start)) -le 6 ] && echo "$out" | grep -q unreachable && echo ok
echo "$out"
