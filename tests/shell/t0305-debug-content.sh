#!/bin/bash
# zbak debug content: a sorted, order-independent listing of what a stream
# carries (the pool tests compare streams with it).
. "$(dirname "$0")/../lib.sh"

RESTREAM="perl $(cd "$(dirname "$0")/../lib" && pwd)/restream.pl"
content() { "$ZBAK" debug content "$@"; }
"$ZBAK" debug gen --objects 3 --size 300K --seed 4 >"$TMP/s"

test_expect_success 'from a file and from stdin alike, sorted' '
	content s >c1 && content - <s >c2 && cmp c1 c2 &&
	cat s | content >c3 && cmp c1 c3 &&
	LC_ALL=C sort -c c1
'

test_expect_success 'one BEGIN line with guids, time, type and features' '
	test "$(grep -c " BEGIN " c1)" = 1 &&
	grep -q "^pool/fs@v1 BEGIN toguid=[0-9]* fromguid=0 creation_time=[0-9]* type=2 features=" c1
'

test_expect_success 'OBJECT and WRITE lines; FREE and FREEOBJECTS left out' '
	test "$(grep -c " OBJECT " c1)" = 3 &&
	test "$(grep -c " WRITE " c1)" = "$($RESTREAM list s | awk "\$2 == 3" | wc -l)" &&
	! grep -q " FREE" c1
'

test_expect_success 'a WRITE line hashes its payload with BLAKE2b-256' '
	set -- $($RESTREAM list s | awk "\$2 == 3" | head -1) &&
	h=$(tail -c +$(($4 + 1)) s | head -c $5 | b2sum -l 256 | cut -d" " -f1) &&
	grep -q " WRITE .* data=$h\$" c1
'

test_expect_success 'records in another order give the same lines' '
	$RESTREAM edit s s2 swap:1:0:2 && ! cmp -s s s2 &&
	content s2 >c2 && cmp c1 c2
'

test_expect_success 'a changed field or payload shows' '
	$RESTREAM edit s s3 set:3:0:48:C:9 && ! cmp -s s s3 &&
	content s3 >c3 && test "$(diff c1 c3 | grep -c "^[<>]")" = 2 &&
	set -- $($RESTREAM list s | awk "\$2 == 3" | head -1) &&
	cp s s4 && printf "\x55" | dd of=s4 bs=1 seek=$(($4 + 7)) conv=notrunc 2>/dev/null &&
	$RESTREAM edit s4 s5 && content s5 >c5 &&
	test "$(diff c1 c5 | grep -c "^[<>]")" = 2
'

test_expect_success 'a compound package: lines of each substream' '
	"$ZBAK" debug gen --compound --objects 2 --size 64K --name p/fs >pkg &&
	content pkg >pc &&
	test "$(grep -c " BEGIN " pc)" = 2 &&
	grep -q "^p/fs/child@v1 OBJECT " pc && grep -q "^p/fs@v1 OBJECT " pc
'

test_expect_success 'the 2008 format reads dn_slots 0 as 1' '
	"$ZBAK" debug gen --legacy --objects 2 --size 64K >old &&
	content old >oc && grep -q " OBJECT .* dn_slots=1 " oc &&
	! grep -q "dn_slots=0" oc
'

test_expect_success 'a damaged stream: exit 3, nothing on stdout' '
	head -c 5000 s >cut &&
	expect_fail content cut && test ! -s "$TMP/out" &&
	{ content cut >/dev/null 2>&1; test $? = 3; } &&
	cp s bad && printf "\x01" | dd of=bad bs=1 seek=2000 conv=notrunc 2>/dev/null &&
	{ content bad >out 2>err; test $? = 3; } && test ! -s out
'

test_expect_success 'usage' '
	content --help | grep -q "usage: zbak debug content" &&
	{ content a b >/dev/null 2>&1; test $? = 2; } &&
	{ content /nonexistent >/dev/null 2>&1; test $? = 1; }
'

test_done
