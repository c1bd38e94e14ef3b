#!/bin/bash
# The include walls of docs/architecture.md, checked: every #include of
# every .c and .h under libbackup/ and cmd/ (and of the public headers,
# include/backup/), resolved the way the compiler resolves it (the
# including file's directory, then -Iinclude, then -Ilibbackup), and the
# header it names mapped to its layer.  A header that is not found, or a
# public header that has no layer in the table below, is an error too, so
# that the check cannot pass by not looking.  The walls:
#   - drr, chunk and crypto never include store, repo, pipeline, lpool,
#     zfs, job or cmd;
#   - zpl (the file reader, on util and drr) never includes store, repo,
#     pipeline, lpool, zfs, job or cmd;
#   - store never includes repo;
#   - lpool never includes repo or store;
#   - libbackup never includes cmd;
#   - cmd includes only include/backup/ (and its own headers).
#
#   tools/check-layers.sh [ROOT]    ROOT: the tree (this one by default)
#
# Exit 0: no wall crossed; 1: one or more (each printed as FILE:LINE); 2:
# the tree is not one (no sources found).  tests/shell/t0010-include-walls.sh
# runs it on this tree, and on copies with a wall crossed on purpose.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
root=${root%/}

# The layer of each public header (include/backup/NAME.h), into $layer:
# the directory of libbackup/ that implements it; "" when none.
public_layer() {
	case $1 in
	buf | clock | config | error | export | util) layer=util ;;
	drr | gen | nvlist) layer=drr ;;
	chunk) layer=chunk ;;
	crypto) layer=crypto ;;
	store) layer=store ;;
	repo | chain | snapread) layer=repo ;;
	lpool | lpool_zpl) layer=lpool ;;
	zpl) layer=zpl ;;
	zfs | receiver) layer=zfs ;;
	job | plan | repo_zpl) layer=job ;;
	*) layer= ;;
	esac
}

# The layer of a file of the tree, by its path under ROOT, into $layer;
# "" when it has none (then the caller says so).  (No subshells here and
# below: the check forks nothing per include, so it takes a moment.)
layer_of() {
	local p=$1 n
	layer=
	case $p in
	libbackup/*/*) p=${p#libbackup/}; layer=${p%%/*} ;;
	cmd/*) layer=cmd ;;
	include/backup/*.h)
		n=${p#include/backup/}
		public_layer "${n%.h}"
		;;
	esac
}

# Why layer $1 may not include layer $2 (a header at $3, under ROOT), into
# $why; "" when it may.
wall() {
	local from=$1 to=$2 path=$3
	why=
	case $from in
	drr | chunk | crypto)
		case $to in store | repo | pipeline | lpool | zfs | job | cmd)
			why="drr, chunk and crypto never include $to" ;;
		esac ;;
	zpl)
		case $to in store | repo | pipeline | lpool | zfs | job | cmd)
			why="zpl never includes $to" ;;
		esac ;;
	store)
		[ "$to" = repo ] && why="store never includes repo" ;;
	lpool)
		case $to in repo | store) why="lpool never includes $to" ;; esac ;;
	cmd)
		case $path in include/backup/* | cmd/*) ;;
		*) why="cmd includes only include/backup/ and its own headers" ;;
		esac ;;
	esac
	if [ -z "$why" ] && [ "$from" != cmd ] && [ "$to" = cmd ]; then
		why="libbackup never includes cmd"
	fi
}

# "a/b/../c/./d" -> "a/c/d" into $norm; a path that leaves ROOT keeps its
# leading "..", which is in no layer.
normalize() {
	local IFS=/ part out=()
	for part in $1; do
		case $part in
		'' | .) ;;
		..)
			if [ ${#out[@]} -gt 0 ] && [ "${out[-1]}" != .. ]; then
				unset 'out[-1]'
			else
				out+=(..)
			fi ;;
		*) out+=("$part") ;;
		esac
	done
	norm="${out[*]}"
}

# Where the compiler finds an include ($2: q for "...", a for <...>) of
# file $1 (under ROOT), as -Iinclude -Ilibbackup: its path under ROOT in
# $path, or "" (not in the tree: for <...>, a system header).
resolve() {
	local file=$1 kind=$2 name=$3 d
	path=
	if [ "$kind" = q ] && [ -f "$root/${file%/*}/$name" ]; then
		normalize "${file%/*}/$name"
		path=$norm
		return
	fi
	for d in include libbackup; do
		if [ -f "$root/$d/$name" ]; then
			normalize "$d/$name"
			path=$norm
			return
		fi
	done
}

files=()
while IFS= read -r -d '' f; do
	files+=("${f#"$root"/}")
done < <(find "$root/libbackup" "$root/cmd" "$root/include/backup" \
	\( -name '*.c' -o -name '*.h' \) -type f -print0 2>/dev/null | sort -z)
if [ ${#files[@]} -eq 0 ]; then
	echo "check-layers: no .c or .h under $root/libbackup, $root/cmd or $root/include/backup" >&2
	exit 2
fi

bad=0 n=0
for f in "${files[@]}"; do
	layer_of "$f"
	if [ -z "$layer" ]; then
		echo "$f: in no layer (a public header missing from tools/check-layers.sh's table?)"
		bad=$((bad + 1))
	fi
done
# every include line of every file, as FILE:LINE:TEXT (one grep for all)
while IFS= read -r hit; do
	f=${hit%%:*}
	hit=${hit#*:}
	lineno=${hit%%:*}
	line=${hit#*:}
	f=${f#"$root"/}
	layer_of "$f"
	from=$layer
	[ -n "$from" ] || continue # said above
	n=$((n + 1))
	if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
		kind=q
	elif [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
		kind=a
	else
		echo "$f:$lineno: an include this check cannot read: $line"
		bad=$((bad + 1))
		continue
	fi
	name=${BASH_REMATCH[1]}
	resolve "$f" "$kind" "$name"
	if [ -z "$path" ]; then
		[ "$kind" = a ] && continue # a system header
		echo "$f:$lineno: \"$name\" is not in the tree"
		bad=$((bad + 1))
		continue
	fi
	layer_of "$path"
	to=$layer
	if [ -z "$to" ]; then
		echo "$f:$lineno: $path is in no layer (a public header missing from tools/check-layers.sh's table?)"
		bad=$((bad + 1))
		continue
	fi
	wall "$from" "$to" "$path"
	if [ -n "$why" ]; then
		echo "$f:$lineno: $from includes $path ($to): $why"
		bad=$((bad + 1))
	fi
done < <(cd "$root" && grep -n -H -E '^[[:space:]]*#[[:space:]]*include' -- "${files[@]}")
echo "check-layers: ${#files[@]} files, $n includes, $bad crossing$([ $bad -eq 1 ] || echo s) of a wall"
[ $bad -eq 0 ]
