#!/bin/sh
# Sum the results files written by tests/run.sh and tests/fuzz/run.sh; the last
# line is the one CI reads.  A missing file (a stage that did not run) is a failure.
p=0 f=0 s=0 rc=0
for r in "$@"; do
	if [ -r "$r" ]; then
		read -r a b c <"$r"
		p=$((p + a)) f=$((f + b)) s=$((s + c))
	else
		echo "no results from $r (that stage did not run)"
		f=$((f + 1))
	fi
done
[ $f -eq 0 ] || rc=1
echo "$p passed, $f failed, $s skipped"
exit $rc
