# Shell test helpers (TAP).  Source it, then:
#   test_expect_success 'what' 'commands'
#   test_expect_failure_exit 'what' 'commands'   (must exit non-zero)
#   test_skip 'what' 'why'
#   test_done
# $ZBAK is the binary under test; each test file gets a fresh $TMP.
set -u
: "${ZBAK:?ZBAK must name the zbak binary}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zbak-test.XXXXXX")
# each test file has its own cache of remote repositories (never ~/.cache)
# and its own memory of repositories (never /var/lib/zbak/state)
export ZBAK_CACHE_DIR=$TMP/cache ZBAK_STATE_DIR=$TMP/state
# at_exit 'COMMANDS': run them when the test file ends (before $TMP goes)
_at_exit=:
at_exit() { _at_exit="$_at_exit; $1"; }
_lib_exit() {
	eval "$_at_exit"
	# (not on a server whose data goes when it stops: tests/s3/server.sh)
	[ -n "${S3_ROOT:-}" ] && [ "${ZBAK_TEST_S3_EPHEMERAL:-0}" != 1 ] &&
		repo_destroy "$S3_ROOT" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap _lib_exit EXIT
_n=0 _failed=0 _sfx=
SHARED_STREAMS=${ZBAK_SHARED_STREAMS:-}

# slowcat FILE BYTES SECONDS: FILE in pieces of BYTES, a pause after each
slowcat() {
	perl -e '$| = 1; open(my $f, "<", $ARGV[0]) or die "$ARGV[0]: $!";
		binmode $f; binmode STDOUT;
		while (read($f, my $b, $ARGV[1])) {
			print $b or exit 0;
			select(undef, undef, undef, $ARGV[2]);
		}' "$@"
}
# the snapshot names `z ls --json` shows, one a line (z: the test file's
# zbak with its repository)
names() { z ls --json | perl -MJSON::PP -e 'print "$_->{name}\n" for @{decode_json(do { local $/; <STDIN> })}' | sort; }

test_expect_success() {
	_n=$((_n + 1))
	if (cd "$TMP" && eval "$2") >"$TMP/.out" 2>&1; then
		echo "ok $_n - $1$_sfx"
	else
		echo "not ok $_n - $1$_sfx"
		sed 's/^/#   /' "$TMP/.out" | tail -30
		_failed=$((_failed + 1))
	fi
}

test_skip() {
	_n=$((_n + 1))
	echo "ok $_n # skip $1$_sfx: $2"
}

test_done() {
	echo "1..$_n"
	[ $_failed -eq 0 ]
}

# Run a command that must fail (exit non-zero but not crash: no signal exit,
# no sanitizer report); stderr goes to $TMP/err.
expect_fail() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ $rc -eq 0 ]; then
		echo "expected failure, got success: $*"
		return 1
	fi
	if [ $rc -ge 128 ]; then
		echo "crashed with signal $((rc - 128)): $*"
		cat "$TMP/err"
		return 1
	fi
	if grep -q -E 'Sanitizer|runtime error' "$TMP/err"; then
		cat "$TMP/err"
		return 1
	fi
	return 0
}

# --- the repository under test: a directory, or S3 -------------------------
# ZBAK_TEST_BACKEND=dir (default) or s3.  For s3, tests/run.sh exports the
# endpoint and credentials (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY) and ZBAK_TEST_BUCKET; each test file works under its
# own prefix of that bucket, s3://BUCKET/zbak-test/<file>-<pid>-<random>/, and
# deletes what it left there when it ends (unless ZBAK_TEST_S3_EPHEMERAL=1:
# the server's data goes anyway).  URL arguments below are what -r
# takes: a directory or an s3:// URL.
#   repo_new [NAME]        $REPO := a fresh repository location (not created)
#   repo_url NAME          print such a location
#   repo_keys URL [PFX]    "size key" of every object (under PFX), sorted by key
#   repo_count URL PFX     how many objects under PFX
#   repo_one URL PFX       the key of the only object under PFX (fails if not one)
#   repo_size URL          total bytes of every object
#   repo_has URL KEY       the object exists
#   repo_get URL KEY       the object to stdout; repo_put URL KEY: stdin to it
#   repo_rm URL KEY        delete it;  repo_mv URL FROM TO
#   repo_flip URL KEY OFFSET [MASK]   flip bits of one byte (default 1)
#   repo_truncate URL KEY SIZE
#   repo_state URL [PFX]   "sha256  ./key" of every object (under PFX), sorted:
#                          compare two of them to prove nothing changed
#   repo_copy FROM TO      TO := an exact copy of FROM (TO emptied first)
#   repo_destroy URL       delete every object under URL
ZBAK_TEST_BACKEND=${ZBAK_TEST_BACKEND:-dir}
case $ZBAK_TEST_BACKEND in
dir) ;;
s3)
	: "${ZBAK_TEST_BUCKET:?ZBAK_TEST_BACKEND=s3 needs ZBAK_TEST_BUCKET (and AWS_ENDPOINT_URL, credentials)}"
	_sfx=" [s3]"
	S3_ROOT=s3://$ZBAK_TEST_BUCKET/zbak-test/$(basename "$0" .sh)-$$-$RANDOM
	;;
*) echo "Bail out! ZBAK_TEST_BACKEND=$ZBAK_TEST_BACKEND: dir or s3"; exit 1 ;;
esac

is_s3() { [ "$ZBAK_TEST_BACKEND" = s3 ]; }

repo_url() {
	if is_s3; then echo "$S3_ROOT/$1"; else echo "$TMP/$1"; fi
}
repo_new() { REPO=$(repo_url "${1:-repo}"); }

_store() { "$ZBAK" debug store "$@"; }

repo_keys() { # the directory backend's listing skips temporaries, like S3's
	case $1 in
	s3://*) ;;
	*) [ -d "$1" ] || return 0 ;;
	esac
	_store ls "$1" ${2:+"$2"} | LC_ALL=C sort -k2
}
repo_count() { repo_keys "$1" "$2" | wc -l; }
repo_one() {
	local n
	n=$(repo_count "$1" "$2")
	[ "$n" -eq 1 ] || { echo "expected one object under $2, found $n" >&2; return 1; }
	repo_keys "$1" "$2" | cut -d' ' -f2-
}
repo_size() { repo_keys "$1" | awk '{ s += $1 } END { print s + 0 }'; }
repo_has() { _store head "$1" "$2" >/dev/null 2>&1; }
repo_get() { _store get "$1" "$2"; }
repo_put() { _store put "$1" "$2"; }
repo_rm() { _store rm "$1" "$2"; }
repo_mv() {
	_store get "$1" "$2" >"$TMP/.mv" && _store put "$1" "$3" <"$TMP/.mv" &&
		_store rm "$1" "$2" && rm -f "$TMP/.mv"
}
# flip_byte FILE OFFSET [MASK]: the byte at OFFSET XORed with MASK (default
# 255), in place: always a change (writing a fixed byte leaves a byte that
# already had that value as it was, 1 time in 256 on sealed data)
flip_byte() {
	perl -e 'open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!"; binmode $f;
		seek($f, $ARGV[1], 0); read($f, my $b, 1) == 1 or die "short";
		seek($f, $ARGV[1], 0); print $f chr(ord($b) ^ $ARGV[2]);
		close($f) or die "$ARGV[0]: $!"' \
		"$1" "$2" "${3:-255}"
}
repo_flip() {
	_store get "$1" "$2" >"$TMP/.flip" || return 1
	flip_byte "$TMP/.flip" "$3" "${4:-1}" || return 1
	_store put "$1" "$2" <"$TMP/.flip" && rm -f "$TMP/.flip"
}
repo_truncate() {
	_store get "$1" "$2" | head -c "$3" >"$TMP/.trunc" &&
		_store put "$1" "$2" <"$TMP/.trunc" && rm -f "$TMP/.trunc"
}
repo_state() {
	local url=$1 pfx=${2:-} key
	case $url in
	s3://*)
		repo_keys "$url" "$pfx" | cut -d' ' -f2- | while IFS= read -r key; do
			printf '%s  ./%s\n' \
				"$(_store get "$url" "$key" | sha256sum | cut -d' ' -f1)" \
				"${key#"$pfx"}"
		done
		;;
	*)	# every file, temporaries too, and empty directories
		[ -d "$url/$pfx" ] || return 0
		(cd "$url/$pfx" && find . -type f -print0 | LC_ALL=C sort -z |
			xargs -0 -r sha256sum && find . -type d -empty | LC_ALL=C sort)
		;;
	esac
}
repo_copy() {
	local key
	case $1 in
	s3://*)
		repo_destroy "$2" || return 1
		repo_keys "$1" | cut -d' ' -f2- | while IFS= read -r key; do
			_store get "$1" "$key" | _store put "$2" "$key" || exit 1
		done
		;;
	*) rm -rf "$2" && cp -a "$1" "$2" ;;
	esac
}
# drop_truncated URL KEYS_BEFORE: s3rver keeps the part it received of a PUT
# whose connection was cut (real S3 and MinIO discard it; zbak's pack names
# are random, so its retry does not overwrite it): on such a server
# (ZBAK_TEST_S3_KEEPS_ABORTED_PUTS=1), delete the objects under data/ that
# are not in the "size key" listing KEYS_BEFORE and do not end as a pack
# does, and say so in a TAP comment
drop_truncated() {
	local key
	is_s3 && [ "${ZBAK_TEST_S3_KEEPS_ABORTED_PUTS:-0}" = 1 ] || return 0
	repo_keys "$1" data/ | cut -d' ' -f2- | while IFS= read -r key; do
		grep -q " $key\$" "$2" && continue
		[ "$(_store get "$1" "$key" | tail -c 8)" = ZBKPACK1 ] && continue
		echo "# the server kept a truncated object of an aborted PUT: $key ($(_store head "$1" "$key") bytes), deleted"
		_store rm "$1" "$key"
	done
}
repo_destroy() {
	case $1 in
	s3://*)
		repo_keys "$1" | cut -d' ' -f2- | tr '\n' '\0' |
			xargs -0 -r -n 1 -P 8 "$ZBAK" debug store rm "$1"
		;;
	*) rm -rf "$1" ;;
	esac
}
