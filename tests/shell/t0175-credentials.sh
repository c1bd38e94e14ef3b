#!/bin/bash
# The passphrase as a systemd credential: with $CREDENTIALS_DIRECTORY set
# (systemd sets it for LoadCredential=zbak-passphrase:FILE), zbak reads
# $CREDENTIALS_DIRECTORY/zbak-passphrase.  Its place in the order: after
# $ZBAK_PASSPHRASE_FILE (and the flags and variables before it), before
# the config's passphrase_file; a credentials directory without it is no
# source; the file is held to the rules of a passphrase file (mode); the
# nightly commands (prune here) read it too.
. "$(dirname "$0")/../lib.sh"

export ZBAK_KDF_INSECURE_FAST=1 ZBAK_SYSLOG=0
unset ZBAK_REPO ZBAK_NEW_PASSPHRASE ZBAK_CONFIG ZBAK_POOL_DIR ZBAK_PASSPHRASE \
	ZBAK_PASSPHRASE_COMMAND ZBAK_PASSPHRASE_FILE CREDENTIALS_DIRECTORY
R=$TMP/repo
C=$TMP/creds
# code N CMD...: CMD exits N
code() { local want=$1 rc; shift; "$@"; rc=$?; [ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want: $*"; return 1; }; }

test_expect_success 'setup: a repository, a credentials directory as systemd makes it' '
	ZBAK_PASSPHRASE="correct horse" "$ZBAK" -r "$R" init >/dev/null &&
	mkdir -m 700 "$C" &&
	echo "correct horse" >"$C/zbak-passphrase" && chmod 400 "$C/zbak-passphrase" &&
	echo "wrong" >"$TMP/wrong" && chmod 600 "$TMP/wrong" &&
	echo "correct horse" >"$TMP/right" && chmod 600 "$TMP/right"
'

test_expect_success 'the credential opens the repository' '
	CREDENTIALS_DIRECTORY=$C "$ZBAK" -r "$R" ls >out 2>err &&
	code 2 setsid -w "$ZBAK" -r "$R" ls </dev/null 2>err
'

test_expect_success 'it wins over the config passphrase_file' '
	printf "[zbak]\nrepository = %s\npassphrase_file = %s\n" "$R" "$TMP/wrong" >pf.conf &&
	CREDENTIALS_DIRECTORY=$C "$ZBAK" --config pf.conf ls >/dev/null &&
	code 12 "$ZBAK" --config pf.conf ls 2>err
'

test_expect_success 'the flags and variables before it win over it' '
	echo wrong >"$TMP/wrongcred" && mkdir -m 700 "$TMP/c2" &&
	mv "$TMP/wrongcred" "$TMP/c2/zbak-passphrase" && chmod 400 "$TMP/c2/zbak-passphrase" &&
	code 12 env CREDENTIALS_DIRECTORY=$TMP/c2 "$ZBAK" -r "$R" ls 2>err &&
	CREDENTIALS_DIRECTORY=$TMP/c2 ZBAK_PASSPHRASE_FILE=$TMP/right "$ZBAK" -r "$R" ls >/dev/null &&
	CREDENTIALS_DIRECTORY=$TMP/c2 ZBAK_PASSPHRASE="correct horse" "$ZBAK" -r "$R" ls >/dev/null &&
	CREDENTIALS_DIRECTORY=$TMP/c2 ZBAK_PASSPHRASE_COMMAND="echo correct horse" "$ZBAK" -r "$R" ls >/dev/null &&
	CREDENTIALS_DIRECTORY=$TMP/c2 "$ZBAK" -r "$R" --passphrase-file "$TMP/right" ls >/dev/null
'

test_expect_success 'a credentials directory without zbak-passphrase is no source' '
	mkdir -m 700 "$TMP/other" && echo x >"$TMP/other/something-else" &&
	printf "[zbak]\nrepository = %s\npassphrase_file = %s\n" "$R" "$TMP/right" >ok.conf &&
	CREDENTIALS_DIRECTORY=$TMP/other "$ZBAK" --config ok.conf ls >/dev/null
'

test_expect_success 'it is held to the rules of a passphrase file' '
	chmod 644 "$C/zbak-passphrase" &&
	code 2 env CREDENTIALS_DIRECTORY=$C "$ZBAK" -r "$R" ls 2>err &&
	grep -q "passphrase file $C/zbak-passphrase has mode 0644" err &&
	chmod 400 "$C/zbak-passphrase"
'

test_expect_success 'the nightly commands read it: prune' '
	printf "[zbak]\nrepository = %s\nlock_file = %s\n[job j]\ndatasets = pool/fs\n" "$R" "$TMP/lock" >n.conf &&
	CREDENTIALS_DIRECTORY=$C "$ZBAK" prune --config n.conf >out 2>err &&
	cat out err &&
	code 1 setsid -w "$ZBAK" prune --config n.conf </dev/null >out 2>err &&
	grep -q "no passphrase" err
'

test_done
