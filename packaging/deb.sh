#!/bin/sh
# Build the Debian package without touching the source tree.
#   packaging/deb.sh OUTDIR [dpkg-buildpackage options]
# copies the tree (the files git knows and the new ones it does not ignore;
# without git, everything but build/, .git and node_modules) to
# OUTDIR/zbak-VERSION, puts packaging/debian there as debian/, and runs
# dpkg-buildpackage -us -uc -b in it.  The .deb, .buildinfo and .changes
# land in OUTDIR; OUTDIR/zbak-VERSION stays for a look (it removes those of
# earlier builds of this version first).  `make deb` runs it with OUTDIR =
# build/deb.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [dpkg-buildpackage options]" >&2; exit 2; }
out=$1
shift
top=$(cd "$(dirname "$0")/.." && pwd)
for cmd in dpkg-buildpackage dh; do
	command -v $cmd >/dev/null 2>&1 || {
		echo "$0: $cmd not found: apt-get install dpkg-dev debhelper fakeroot build-essential (or packaging/deps.sh --install)" >&2
		exit 1
	}
done
version=$(sed -n '1s/^zbak (\([^)]*\)).*/\1/p' "$top/packaging/debian/changelog")
[ -n "$version" ] || { echo "$0: no version in packaging/debian/changelog" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
case $out/ in
"$top"/build/* | "$top"/build/) ;;
"$top"/*) echo "$0: $out is inside the source tree (use build/... or a directory outside it)" >&2; exit 2 ;;
esac
src=$out/zbak-$version
rm -rf "$src" "$out"/zbak_"$version"_* "$out"/zbak-dbgsym_"$version"_*
mkdir -p "$src"

cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# tracked and new files; not the ones deleted but not yet committed
	git ls-files -z --cached --others --exclude-standard |
		tr '\0' '\n' | grep -v -e '^debian/' -e '/node_modules/' |
		while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done |
		tar -cf - --no-recursion -T - | tar -C "$src" -xf -
else
	tar -cf - --exclude=./build --exclude=./.git --exclude=./debian \
		--exclude=node_modules . | tar -C "$src" -xf -
fi
cp -R packaging/debian "$src/debian"

cd "$src"
# the package builds as on a build daemon: not with what a calling make
# (make deb BUILD=...) or the test suite ($BUILD) put in the environment
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES BUILD SANITIZE OPT WERROR \
	DEPS V PREFIX BINDIR LIBDIR INCLUDEDIR MANDIR SYSCONFDIR DOCDIR \
	BASHCOMPDIR SYSTEMDUNITDIR TMPFILESDIR DESTDIR
dpkg-buildpackage -us -uc -b "$@"
ls "$out"/zbak_"$version"_*.deb
