#!/bin/bash
# The include walls of docs/architecture.md hold (tools/check-layers.sh),
# and the check finds a wall crossed: on copies of this tree with one bad
# include each, so that it cannot pass by looking at nothing.
. "$(dirname "$0")/../lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
check=$src/tools/check-layers.sh

# a copy of the sources the check reads, in $TMP/NAME
tree() {
	mkdir -p "$1/tools" &&
	cp -r "$src/libbackup" "$src/cmd" "$src/include" "$1/" &&
	cp "$check" "$1/tools/"
}
# crosses NAME FILE LINE PATTERN: LINE added at the top of FILE (under the
# copy NAME) is reported, as FILE:1 and with PATTERN, and the check fails
crosses() {
	tree "$1" &&
	{ echo "$3"; cat "$1/$2"; } >"$1/$2.new" && mv "$1/$2.new" "$1/$2" &&
	{ ! "$1/tools/check-layers.sh" >out 2>&1 || { cat out; return 1; }; } &&
	cat out &&
	grep -q "^$2:1: .*$4" out
}

test_expect_success 'this tree crosses no wall' '
	"$check" "$src"
'

test_expect_success 'the check reads every source (no vacuous pass)' '
	"$check" "$src" >out &&
	files=$(find "$src/libbackup" "$src/cmd" "$src/include/backup" \
		-name "*.[ch]" | wc -l) &&
	grep -q "^check-layers: $files files, [1-9][0-9]* includes, 0 " out
'

test_expect_success 'a copy of this tree passes too' '
	tree ok && ok/tools/check-layers.sh
'

test_expect_success 'drr includes repo: refused' '
	crosses a libbackup/drr/parser.c "#include \"backup/repo.h\"" \
		"drr, chunk and crypto never include repo"
'

test_expect_success 'crypto includes the local pool through a relative path: refused' '
	crosses b libbackup/crypto/crypto.c "#include \"../lpool/lpool_impl.h\"" \
		"never include lpool"
'

test_expect_success 'chunk includes a job header as a system header: refused' '
	crosses c libbackup/chunk/chunker.c "#include <backup/job.h>" \
		"never include job"
'

test_expect_success 'store includes repo: refused' '
	crosses d libbackup/store/local.c "#include \"repo/repo_impl.h\"" \
		"store never includes repo"
'

test_expect_success 'lpool includes store: refused' '
	crosses e libbackup/lpool/ops.c "#include \"backup/store.h\"" \
		"lpool never includes store"
'

test_expect_success 'lpool includes repo: refused' '
	crosses f libbackup/lpool/lpool_impl.h "#  include \"backup/repo.h\"" \
		"lpool never includes repo"
'

test_expect_success 'libbackup includes cmd: refused' '
	crosses g libbackup/job/backup.c "#include \"../../cmd/zbak/cli.h\"" \
		"libbackup never includes cmd"
'

test_expect_success 'cmd includes a library-internal header: refused' '
	crosses h cmd/zbak/main.c "#include \"util/hooks.h\"" \
		"cmd includes only include/backup/"
'

test_expect_success 'a public header crosses a wall: refused' '
	crosses i include/backup/drr.h "#include \"backup/store.h\"" \
		"drr, chunk and crypto never include store"
'

test_expect_success 'an include that is not in the tree: refused' '
	crosses j libbackup/repo/repo.c "#include \"repo/no-such.h\"" \
		"is not in the tree"
'

test_expect_success 'a public header with no layer: refused' '
	tree k && echo "#include \"backup/buf.h\"" >k/include/backup/new.h &&
	! k/tools/check-layers.sh >out 2>&1 && cat out &&
	grep -q "^include/backup/new.h: in no layer" out
'

test_expect_success 'what the walls allow passes: pipeline includes repo, repo includes store, cmd its own headers' '
	tree l &&
	for f in libbackup/pipeline/push.c:repo/repo_impl.h \
		 libbackup/repo/repo.c:backup/store.h \
		 libbackup/job/backup.c:backup/lpool.h \
		 cmd/zbak/main.c:nightly.h; do
		{ echo "#include \"${f#*:}\""; cat "l/${f%%:*}"; } >l/tmp &&
		mv l/tmp "l/${f%%:*}" || return 1
	done &&
	l/tools/check-layers.sh
'

test_expect_success 'no sources at all: an error, not a pass' '
	mkdir empty &&
	"$check" empty >out 2>&1; test $? -eq 2
'

test_done
