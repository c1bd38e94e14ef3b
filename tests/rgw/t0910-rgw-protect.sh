#!/bin/bash
# Backups a compromised host cannot destroy, against Ceph's RADOS Gateway,
# which enforces both halves (make check-rgw):
#
# - a host user whose bucket policy allows s3:PutObject, s3:GetObject and
#   s3:ListBucket and nothing else (no delete): in an append-only
#   repository its nights of `zbak backup` succeed and it cannot delete an
#   object; the bucket owner (the admin) prunes with --admin and collects,
#   reading what the host wrote (object_acl = bucket-owner-full-control);
# - S3 Object Lock: a bucket zbak makes with it; every object gets the
#   configured retention; forget and gc keep what is under it and count it;
#   gc extends the retention of what kept snapshots need, and deletes
#   garbage (its version, so that space is freed) once its retention ends.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib/zfs.sh"
: "${AWS_ENDPOINT_URL:?run under tests/rgw/cluster.sh}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" "${RGW_DIR:?}"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0 ZBAK_GC_MARGIN=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_ZFS ZBAK_NOW ZBAK_PASSPHRASE ZFS_STANDIN_FLAVOUR
export ZBAK
ADMIN_KEY=$AWS_ACCESS_KEY_ID ADMIN_SECRET=$AWS_SECRET_ACCESS_KEY
E=$AWS_ENDPOINT_URL
bucket=zbak-protect-$$
R=s3://$bucket/host1
echo "a passphrase for the host" >"$TMP/pass" && chmod 600 "$TMP/pass"
# the admin: the bucket's owner, its own config
printf '[s3]\nretry_time = 10\n' >"$TMP/admin.conf"
chmod 600 "$TMP/admin.conf"
za() { ZBAK_CONFIG=$TMP/admin.conf "$ZBAK" --passphrase-file "$TMP/pass" -r "$R" "$@"; }
as_host() { AWS_ACCESS_KEY_ID=$HOST_KEY AWS_SECRET_ACCESS_KEY=$HOST_SECRET "$@"; }
# curl signs as the admin (x-amz-content-sha256 as RGW wants it)
sha() { sha256sum "$@" | cut -d' ' -f1; }
s3c() { local h=$1; shift; curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ADMIN_KEY:$ADMIN_SECRET" -H "x-amz-content-sha256: $h" "$@"; }
until_of() { # BUCKET KEY: the object's retain-until-date, "" when none
	s3c "$(printf "" | sha)" -I "$E/$1/$2" | tr -d "\r" |
		sed -n "s/^x-amz-object-lock-retain-until-date: //Ip"
}

test_expect_success 'setup: a host user, a bucket whose policy lets it put, get and list only' '
	timeout 60 radosgw-admin -c "$RGW_DIR/ceph.conf" user create --uid zbak-host-$$ \
		--display-name "a host" >user.json 2>user.err &&
	perl -MJSON::PP -e "my \$u = decode_json(do { local \$/; <STDIN> });
		print \$u->{keys}[0]{access_key}, \" \", \$u->{keys}[0]{secret_key}, \"\n\"" \
		<user.json >"$TMP/host.keys" &&
	za init --append-only >/dev/null &&
	cat >policy.json <<-EOF &&
	{"Version": "2012-10-17", "Statement": [{
	  "Effect": "Allow",
	  "Principal": {"AWS": ["arn:aws:iam:::user/zbak-host-$$"]},
	  "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
	  "Resource": ["arn:aws:s3:::$bucket", "arn:aws:s3:::$bucket/*"]}]}
	EOF
	s3c "$(sha policy.json)" -X PUT --data-binary @policy.json "$E/$bucket?policy=" \
		-o out -w "%{http_code}" >code; cat out; test "$(cat code)" = 204
'
read -r HOST_KEY HOST_SECRET <"$TMP/host.keys" 2>/dev/null || HOST_KEY= HOST_SECRET=

test_expect_success 'the host user cannot delete: AccessDenied from the gateway' '
	as_host "$ZBAK" -r "$R" --passphrase-file "$TMP/pass" ls >/dev/null &&
	! as_host "$ZBAK" debug store rm "$R" keys 2>err && cat err &&
	grep -q AccessDenied err && "$ZBAK" debug store head "$R" keys >/dev/null
'

zt_setup
CONF=$TMP/zbak.conf
T0=$((($(date +%s) / 86400 + 1) * 86400 + 7200))
at() { echo $((T0 + ($1 - 1) * 86400)); }
night() { # N: change the data, back up as the host, prune as the admin
	local n=$1
	head -c 40000 /dev/urandom | ds_write $P/data 2 $((n * 65536)) &&
	ZBAK_NOW=$(at "$n") as_host \
		"$ZBAK" backup --config "$CONF" >"$TMP/backup.$n" 2>&1 &&
	ZBAK_NOW=$(at "$n") "$ZBAK" --admin prune --config "$CONF" >"$TMP/prune.$n" 2>&1
}

test_expect_success 'eight nights: the host backs up, the admin prunes (keep_last = 3)' '
	ds_create $P/data &&
	head -c 300000 /dev/urandom | ds_write $P/data 2 0 &&
	cat >"$CONF" <<-EOF &&
	[zbak]
	repository = $R
	passphrase_file = $TMP/pass
	lock_file = $TMP/zbak.lock
	[job nightly]
	datasets = $P/data
	send_flags = -c -L -e
	full_every = 3
	keep_last = 3
	[s3]
	retry_time = 10
	object_acl = bucket-owner-full-control
	EOF
	for n in 1 2 3 4 5 6 7 8; do
		night $n || { cat "$TMP/backup.$n" "$TMP/prune.$n"; exit 1; }
	done &&
	{ grep -q "\]: forgot [1-9]" "$TMP"/prune.* &&
	  test "$(za ls --json | grep -o "\"name\"" | wc -l)" -le 7 &&
	  ! grep -il "AccessDenied\|append-only" "$TMP"/backup.*; } ||
	{ cat "$TMP"/prune.*; za ls; exit 1; }
'

test_expect_success 'the host left every lock ended; the admin gc removes them, and the garbage' '
	repo_keys "$R" locks/ | cut -d" " -f2- >locks &&
	! grep -v "\.end\$" locks | while read -r k; do grep -qx "$k.end" locks || echo "$k"; done | grep . &&
	za --admin gc >out && cat out &&
	test "$(repo_count "$R" locks/)" = 0 &&
	za verify --read-data >out && grep -q " 0 problems" out
'

test_expect_success 'without --admin the admin machine deletes nothing either' '
	{ za prune --config "$CONF" >/dev/null 2>err; test $? = 1; } &&
	grep -q "is append-only" err
'

test_expect_success 'the newest night restores byte for byte, as the host' '
	snap=$(za ls --json | perl -MJSON::PP -e "my \$v = decode_json(do { local \$/; <STDIN> }); print \$v->[-1]{name}") &&
	as_host "$ZBAK" -r "$R" --passphrase-file "$TMP/pass" restore "$snap" -o got &&
	"$ZBAK" -r "$R" --passphrase-file "$TMP/pass" verify >out && grep -q " 0 problems" out
'

# --- S3 Object Lock -----------------------------------------------------------
L=s3://$bucket-lock/r
printf '[s3]\nretry_time = 10\nobject_lock = governance\nobject_lock_days = 1\n' >"$TMP/lock1.conf"
printf '[s3]\nretry_time = 10\nobject_lock = governance\nobject_lock_days = 3\n' >"$TMP/lock3.conf"
chmod 600 "$TMP/lock1.conf" "$TMP/lock3.conf"
zl() { ZBAK_CONFIG=$TMP/lock1.conf "$ZBAK" --passphrase-file "$TMP/pass" -r "$L" "$@"; }
zl3() { ZBAK_CONFIG=$TMP/lock3.conf "$ZBAK" --passphrase-file "$TMP/pass" -r "$L" "$@"; }
"$ZBAK" debug gen --name pool/fs --objects 4 -o "$TMP/v1"
"$ZBAK" debug gen --name pool/other --objects 4 -o "$TMP/o1"

test_expect_success 'init makes the bucket with Object Lock; each object has a day of retention' '
	zl init >/dev/null &&
	s3c "$(printf "" | sha)" "$E/$bucket-lock?object-lock=" | grep -q "<ObjectLockEnabled>Enabled" &&
	zl push "$TMP/v1" >/dev/null && zl push "$TMP/o1" >/dev/null &&
	for k in config keys "$(repo_keys "$L" index/ | head -1 | cut -d" " -f2)"; do
		u=$(until_of "$bucket-lock" "r/$k") && test -n "$u" &&
		t=$(date -u -d "$u" +%s) &&
		test $((t - $(date +%s))) -gt 85000 && test $((t - $(date +%s))) -le 86400 ||
		{ echo "$k: retain until \"$u\""; exit 1; }
	done
'

test_expect_success 'forget and gc keep what is under retention, count it, and the data stays readable' '
	zl --admin forget pool/other@v1 >out && cat out &&
	grep -q "stay under Object Lock retention" out &&
	zl --admin gc -v >"$TMP/gc1.out" && cat "$TMP/gc1.out" &&
	grep -q "^gc: Object Lock: [1-9][0-9]* garbage objects* kept until" "$TMP/gc1.out" &&
	zl ls >out && ! grep -q pool/other out &&
	zl restore pool/fs@v1 -o got.lock && cmp got.lock "$TMP/v1"
'

test_expect_success 'a forgotten name under retention cannot be pushed again: said, exit 1' '
	{ zl push "$TMP/o1" >/dev/null 2>err; test $? = 1; } &&
	grep -q "was forgotten, but its old manifest is still there (kept by Object Lock retention" err
'

test_expect_success 'gc with more days extends the retention of what is live, not of garbage' '
	zl3 --admin gc >out && cat out &&
	grep -q "retention of [1-9][0-9]* of [1-9][0-9]* live objects extended" out &&
	t=$(date -u -d "$(until_of "$bucket-lock" r/keys)" +%s) &&
	test $((t - $(date +%s))) -gt $((2 * 86400)) &&
	zl3 --admin gc >out && grep -q "retention of 0 of [1-9][0-9]* live objects extended" out
'

test_expect_success 'verify finds an object written twice (its versions), as tampering' '
	zl verify >out && grep -q " 0 problems" out &&
	k=$(repo_keys "$L" forgotten/ | head -1 | cut -d" " -f2) &&
	"$ZBAK" debug store get "$L" "$k" >obj && "$ZBAK" debug store put "$L" "$k" <obj &&
	{ zl verify >out 2>err; test $? = 3; } &&
	grep -q "$k: 2 versions: an object zbak writes once was written again" err
'

test_expect_success 'once the retention of the garbage ends, gc deletes it (its version)' '
	soon=$(date -u -d "+3 seconds" +%Y-%m-%dT%H:%M:%SZ) &&
	printf "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>GOVERNANCE</Mode><RetainUntilDate>%s</RetainUntilDate></Retention>" "$soon" >ret.xml &&
	sed -n "s/^keep \([^:]*\): under Object Lock.*/\1/p" "$TMP/gc1.out" >held &&
	test -s held &&
	while read -r k; do
		case $k in *@*) continue ;; esac # curl signs an @ differently
		s3c "$(sha ret.xml)" -X PUT --data-binary @ret.xml \
			-H "x-amz-bypass-governance-retention: true" \
			-H "Content-MD5: $(openssl md5 -binary ret.xml | base64)" \
			"$E/$bucket-lock/r/$k?retention=" -o /dev/null -w "%{http_code}\n" | grep -q "^200$" || exit 1
	done <held &&
	sleep 4 &&
	zl3 --admin gc -v >out && cat out &&
	while read -r k; do
		case $k in *@*) continue ;; esac
		! "$ZBAK" debug store head "$L" "$k" >/dev/null 2>&1 || { echo "$k is still there"; exit 1; }
	done <held &&
	s3c "$(printf "" | sha)" "$E/$bucket-lock?versions=" >versions &&
	while read -r k; do
		case $k in *@*) continue ;; esac
		! grep -q "<Key>r/$k</Key>" versions || { echo "a version of $k is left"; exit 1; }
	done <held &&
	zl restore pool/fs@v1 -o got2 && cmp got2 "$TMP/v1"
'

test_done
