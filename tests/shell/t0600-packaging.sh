#!/bin/bash
# Packaging: make install / uninstall into a DESTDIR, the systemd units, the
# man pages, the example config, and the .deb (make deb, built in a copy
# of the tree under $TMP; the source tree must not change).
. "$(dirname "$0")/../lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

# make as a user would run it: not with the suite's make flags (SANITIZE=,
# a jobserver) or its $BUILD; builds go to $TMP/build, never to build/
pmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u SANITIZE \
		make --no-print-directory -C "$SRC" BUILD="$TMP/build" "$@"
}
src_state() {
	git -C "$SRC" status --porcelain --untracked-files=all 2>/dev/null
}
src_state >"$TMP/src-before"

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
unitdir=${unitdir:-/lib/systemd/system}
tmpfilesdir=$(pkg-config --variable=tmpfilesdir systemd 2>/dev/null)
tmpfilesdir=${tmpfilesdir:-/usr/lib/tmpfiles.d}
units="zbak-backup.service zbak-backup.timer zbak-prune.service zbak-prune.timer"

# the files an install with PREFIX=/usr puts under DESTDIR
{
	echo ./etc/zbak/zbak.conf.example
	for u in $units; do echo ".$unitdir/$u"; done
	echo ./usr/bin/zbak
	for h in "$SRC"/include/backup/*.h; do echo "./usr/include/backup/${h##*/}"; done
	echo ./usr/lib/libbackup.a
	echo ".$tmpfilesdir/zbak.conf"
	echo ./usr/share/bash-completion/completions/zbak
	echo ./usr/share/doc/zbak/examples/zbak.cron
	echo ./usr/share/man/man1/zbak.1
	echo ./usr/share/man/man5/zbak.conf.5
} | LC_ALL=C sort >"$TMP/expected"

test_expect_success 'make install DESTDIR PREFIX=/usr installs the expected files' '
	pmake -j2 install DESTDIR="$TMP/root" PREFIX=/usr >"$TMP/install.log" 2>&1 ||
		{ tail -20 "$TMP/install.log"; false; } &&
	(cd "$TMP/root" && find . ! -type d | LC_ALL=C sort) >"$TMP/got" &&
	diff -u "$TMP/expected" "$TMP/got" &&
	[ "$(stat -c %a "$TMP/root/usr/bin/zbak")" = 755 ] &&
	[ "$(stat -c %a "$TMP/root/etc/zbak/zbak.conf.example")" = 644 ] &&
	"$TMP/root/usr/bin/zbak" version | grep -q "^zbak "
'

test_expect_success 'installed units run /usr/bin/zbak and read /etc/zbak' '
	grep -qx "ExecStart=/usr/bin/zbak backup" "$TMP/root$unitdir/zbak-backup.service" &&
	grep -qx "ExecStart=/usr/bin/zbak prune" "$TMP/root$unitdir/zbak-prune.service" &&
	grep -qx "ConditionPathExists=/etc/zbak/zbak.conf" "$TMP/root$unitdir/zbak-backup.service" &&
	grep -qx "Type=oneshot" "$TMP/root$unitdir/zbak-backup.service" &&
	grep -qx "Environment=ZBAK_CACHE_DIR=/var/cache/zbak" "$TMP/root$unitdir/zbak-backup.service" &&
	grep -qx "OnCalendar=\*-\*-\* 02:00:00" "$TMP/root$unitdir/zbak-backup.timer" &&
	grep -qx "RandomizedDelaySec=30min" "$TMP/root$unitdir/zbak-backup.timer" &&
	grep -qx "Persistent=true" "$TMP/root$unitdir/zbak-backup.timer" &&
	grep -qx "WantedBy=timers.target" "$TMP/root$unitdir/zbak-prune.timer" &&
	! grep -E "^(PrivateDevices|DevicePolicy|DeviceAllow|ProtectClock)=" \
		"$TMP/root$unitdir"/zbak-*.service
'

if command -v systemd-analyze >/dev/null 2>&1; then
	test_expect_success 'systemd-analyze verify accepts the units' '
		mkdir "$TMP/units" &&
		for u in $units; do
			sed "s|/usr/bin/zbak|$TMP/root/usr/bin/zbak|" "$TMP/root$unitdir/$u" >"$TMP/units/$u" || exit 1
		done &&
		systemd-analyze verify --man=no "$TMP"/units/* 2>&1 | tee "$TMP/verify.out" &&
		! [ -s "$TMP/verify.out" ]
	'
else
	test_skip 'systemd-analyze verify accepts the units' 'systemd-analyze not installed (apt-get install systemd)'
fi

test_expect_success 'the default PREFIX is /usr/local, and the units name its zbak' '
	pmake install-zbak DESTDIR="$TMP/local" >"$TMP/install2.log" 2>&1 ||
		{ tail -20 "$TMP/install2.log"; false; } &&
	[ -x "$TMP/local/usr/local/bin/zbak" ] &&
	[ -f "$TMP/local/usr/local/share/man/man5/zbak.conf.5" ] &&
	[ -f "$TMP/local/usr/local/share/bash-completion/completions/zbak" ] &&
	[ -f "$TMP/local/etc/zbak/zbak.conf.example" ] &&
	! [ -e "$TMP/local/usr/local/lib/libbackup.a" ] &&
	grep -qx "ExecStart=/usr/local/bin/zbak backup" \
		"$TMP/local/usr/local/lib/systemd/system/zbak-backup.service" &&
	grep -q "/usr/local/bin/zbak -q backup" \
		"$TMP/local/usr/local/share/doc/zbak/examples/zbak.cron"
'

test_expect_success 'install never writes zbak.conf, and keeps one that exists' '
	echo "[zbak]" >"$TMP/root/etc/zbak/zbak.conf" &&
	pmake install DESTDIR="$TMP/root" PREFIX=/usr >/dev/null 2>&1 &&
	[ "$(cat "$TMP/root/etc/zbak/zbak.conf")" = "[zbak]" ] &&
	! [ -e "$TMP/local/etc/zbak/zbak.conf" ]
'

test_expect_success 'make uninstall removes what install put, and no zbak.conf' '
	pmake uninstall DESTDIR="$TMP/root" PREFIX=/usr >/dev/null 2>&1 &&
	(cd "$TMP/root" && find . ! -type d) >"$TMP/left" &&
	[ "$(cat "$TMP/left")" = "./etc/zbak/zbak.conf" ] &&
	pmake uninstall DESTDIR="$TMP/local" >/dev/null 2>&1 &&
	[ -z "$(cd "$TMP/local" && find . ! -type d)" ]
'

test_expect_success 'the example config parses' '
	ZBAK_POOL_DIR= "$ZBAK" --config "$SRC/conf/zbak.conf" pool list >/dev/null 2>"$TMP/err";
	! grep -q "line" "$TMP/err" &&
	{ ! [ -s "$TMP/err" ] || grep -q "no local pool" "$TMP/err"; }
'

if command -v groff >/dev/null 2>&1; then
	test_expect_success 'man pages format without warnings' '
		for m in "$SRC/docs/zbak.1" "$SRC/docs/zbak.conf.5"; do
			LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$m" 2>&1 | tee -a "$TMP/groff.out" || exit 1
		done &&
		! [ -s "$TMP/groff.out" ]
	'
else
	test_skip 'man pages format without warnings' 'groff not installed'
fi

test_expect_success 'zbak.conf(5) documents every key of the example config' '
	sed -n "s/^#\{0,1\}\([a-z_]\{1,\}\) *=.*/\1/p" "$SRC/conf/zbak.conf" | sort -u >"$TMP/keys" &&
	[ -s "$TMP/keys" ] &&
	while read -r k; do
		grep -q "^\.B[IR]* \(.*[ \"]\)\{0,1\}$k\([ \",]\|$\)" "$SRC/docs/zbak.conf.5" ||
			{ echo "not in zbak.conf.5: $k"; exit 1; }
	done <"$TMP/keys"
'

test_expect_success 'the bash completion parses' '
	bash -n "$SRC/packaging/bash-completion/zbak" &&
	bash -c ". \"$SRC/packaging/bash-completion/zbak\" && complete -p zbak" | grep -q "_zbak zbak"
'

# --- the Debian package ------------------------------------------------------
if ! command -v dpkg-buildpackage >/dev/null 2>&1 || ! command -v dh >/dev/null 2>&1; then
	test_skip 'the .deb' 'dpkg-buildpackage or dh not installed (apt-get install dpkg-dev debhelper fakeroot build-essential)'
	test_done
	exit
fi

deb=
test_expect_success 'make deb builds the package in a copy of the tree' '
	pmake deb >"$TMP/deb.log" 2>&1 || { tail -30 "$TMP/deb.log"; false; }
'
deb=$(ls "$TMP"/build/deb/zbak_*_*.deb 2>/dev/null | grep -v dbgsym | head -1)

test_expect_success 'the .deb holds the binary, man pages, example config, units, completion' '
	[ -f "$deb" ] &&
	dpkg-deb -c "$deb" | awk "{ print \$6 }" | sed "s|^\./|/|" >"$TMP/deb-files" &&
	for f in /usr/bin/zbak /usr/share/man/man1/zbak.1.gz \
		/usr/share/man/man5/zbak.conf.5.gz /etc/zbak/zbak.conf.example \
		/lib/systemd/system/zbak-backup.service /lib/systemd/system/zbak-backup.timer \
		/lib/systemd/system/zbak-prune.service /lib/systemd/system/zbak-prune.timer \
		/usr/lib/tmpfiles.d/zbak.conf /usr/share/bash-completion/completions/zbak \
		/usr/share/doc/zbak/copyright /usr/share/doc/zbak/changelog.gz \
		/usr/share/doc/zbak/examples/zbak.cron; do
		grep -qx "$f" "$TMP/deb-files" || { echo "missing in the .deb: $f"; exit 1; }
	done &&
	! grep -e "^/etc/zbak/zbak.conf\$" -e "^/usr/include" -e "\.a\$" "$TMP/deb-files"
'

test_expect_success 'the .deb metadata: name, version, dependencies, conffiles' '
	dpkg-deb -f "$deb" Package | grep -qx zbak &&
	dpkg-deb -f "$deb" Version | grep -qx "$(sed -n "1s/^zbak (\([^)]*\)).*/\1/p" "$SRC/packaging/debian/changelog")" &&
	dpkg-deb -f "$deb" Depends | grep -q libsodium &&
	dpkg-deb -f "$deb" Depends | grep -q libcurl &&
	dpkg-deb -f "$deb" Depends | grep -q libfuse3 &&
	dpkg-deb -f "$deb" Depends | grep -Eq "(^|, )fuse3(,| |\$)" &&
	dpkg-deb -f "$deb" Recommends | grep -qx zfsutils-linux &&
	dpkg-deb -f "$deb" Suggests | grep -q prometheus-node-exporter &&
	dpkg-deb -I "$deb" >"$TMP/deb-info" &&
	grep -q "Description: offsite backup of ZFS send streams" "$TMP/deb-info" &&
	mkdir "$TMP/ctl" && dpkg-deb -e "$deb" "$TMP/ctl" &&
	grep -qx /etc/zbak/zbak.conf.example "$TMP/ctl/conffiles" &&
	! grep -qx /etc/zbak/zbak.conf "$TMP/ctl/conffiles"
'

test_expect_success 'the .deb enables the timers and never starts a service' '
	grep -q "deb-systemd-helper enable .zbak-backup.timer" "$TMP/ctl/postinst" &&
	grep -q "deb-systemd-helper enable .zbak-prune.timer" "$TMP/ctl/postinst" &&
	grep -q "systemd-tmpfiles.* --create zbak.conf" "$TMP/ctl/postinst" &&
	! grep "zbak-[a-z]*\.service" "$TMP/ctl/postinst" "$TMP/ctl/prerm"
'

if command -v lintian >/dev/null 2>&1; then
	test_expect_success 'lintian finds no error or warning' '
		lintian --pedantic "$deb" 2>&1 | grep -v "running with root privileges" >"$TMP/lintian" ;
		cat "$TMP/lintian" &&
		! grep -q "^[EW]:" "$TMP/lintian"
	'
else
	test_skip 'lintian finds no error or warning' 'lintian not installed'
fi

test_expect_success 'the source tree is as it was (no build products)' '
	src_state >"$TMP/src-after" &&
	diff -u "$TMP/src-before" "$TMP/src-after"
'

test_done
