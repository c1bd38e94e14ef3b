#!/bin/bash
# zbak against Ceph's RADOS Gateway (make check-rgw; tests/rgw/cluster.sh
# exports AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).  A
# config file (0600) sets 5 MiB parts and a 5 MiB multipart threshold, so
# that packs go up in several parts and RGW's 5 MiB minimum part size, its
# signature and payload-hash checks all see zbak's requests.  The last tests
# show that the server is strict: a wrong secret, a wrong payload hash and a
# non-last part under 5 MiB are refused.
. "$(dirname "$0")/../lib.sh"
: "${AWS_ENDPOINT_URL:?run under tests/rgw/cluster.sh}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_PASSPHRASE='rgw smoke'
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE
bucket=${ZBAK_TEST_BUCKET:-zbak-rgw}-smoke-$$
R=s3://$bucket/repo
printf '[s3]\nretry_time = 10\nmultipart_threshold = 5M\npart_size = 5M\n' >"$TMP/zbak.conf"
chmod 600 "$TMP/zbak.conf"
export ZBAK_CONFIG=$TMP/zbak.conf
z() { "$ZBAK" -q -r "$R" "$@"; }
"$ZBAK" debug gen --size 40M --compressible 0.5 --version 1 >"$TMP/v1.zs"
"$ZBAK" debug gen --size 40M --compressible 0.5 --version 2 >"$TMP/v2.zs"

test_expect_success 'init creates the bucket and the repository' 'z init'
test_expect_success 'push a 40 MiB full stream (multipart, 5 MiB parts)' 'z push "$TMP/v1.zs"'
test_expect_success 'push the same dataset with 1% changed, as a full stream' '
	z push --name pool/fs@v2 "$TMP/v2.zs"'
test_expect_success 'ls lists both snapshots' '
	"$ZBAK" -r "$R" ls >ls.out && grep -q "v1 " ls.out && grep -q "v2 " ls.out'
test_expect_success 'verify --read-data authenticates every pack' 'z verify --read-data'
test_expect_success 'restore v1 byte-exact (-o)' '
	z restore pool/fs@v1 -o r1.zs && cmp "$TMP/v1.zs" r1.zs'
test_expect_success 'restore v2 byte-exact (standard output)' '
	z restore pool/fs@v2 | cmp - "$TMP/v2.zs"'
test_expect_success 'a 23 MB object: multipart put, get back byte-exact' '
	head -c 23000000 /dev/urandom >big &&
	"$ZBAK" debug store put "$R" big <big &&
	"$ZBAK" debug store get "$R" big | cmp - big'
test_expect_success 'listing pages past 1000 keys (1100 objects)' '
	seq 1100 | xargs -P 8 -I{} sh -c "echo {} | \"\$0\" debug store put \"\$1\" many/{}" "$ZBAK" "$R" &&
	test "$("$ZBAK" debug store ls "$R" many/ | wc -l)" -eq 1100'
test_expect_success 'a wrong secret fails at once with SignatureDoesNotMatch, exit 3' '
	rc=0; AWS_SECRET_ACCESS_KEY=wrong timeout 30 "$ZBAK" -r "$R" ls >out 2>err || rc=$?
	cat err; test $rc -eq 3 && grep -q SignatureDoesNotMatch err'

# The server itself, signed by curl (--aws-sigv4 signs the x-amz-* headers
# given): it must refuse what a lenient server would take.
U="$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
E=$AWS_ENDPOINT_URL
s3c() { local h=$1; shift; curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$U" -H "x-amz-content-sha256: $h" "$@"; }
sha() { sha256sum "$@" | cut -d' ' -f1; }
test_expect_success 'RGW refuses a body that does not match x-amz-content-sha256' '
	head -c 1048576 /dev/urandom >p1 &&
	s3c "$(printf x | sha)" -X PUT --data-binary @p1 "$E/$bucket/hashprobe" >out; cat out
	grep -q XAmzContentSHA256Mismatch out'
test_expect_success 'RGW refuses a multipart upload with a non-last part under 5 MiB' '
	up=$(s3c "$(printf "" | sha)" -X POST "$E/$bucket/small?uploads=" |
		sed -n "s/.*<UploadId>\(.*\)<\/UploadId>.*/\1/p") && test -n "$up" &&
	for n in 1 2; do
		s3c "$(sha p1)" -X PUT --data-binary @p1 -D - -o /dev/null \
			"$E/$bucket/small?partNumber=$n&uploadId=$up" |
			tr -d "\r" | sed -n "s/^[Ee][Tt][Aa][Gg]: //p"
	done >etags && test "$(wc -l <etags)" -eq 2 &&
	body="<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>$(sed -n 1p etags)</ETag></Part><Part><PartNumber>2</PartNumber><ETag>$(sed -n 2p etags)</ETag></Part></CompleteMultipartUpload>" &&
	s3c "$(printf "%s" "$body" | sha)" -X POST --data-binary "$body" "$E/$bucket/small?uploadId=$up" >out; cat out
	grep -q EntityTooSmall out'
test_done
