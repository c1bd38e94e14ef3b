/* SPDX-License-Identifier: MIT */
/*
 * Passphrases from a file, the environment or a prompt; never from argv.
 * They are wiped after use.  Where the repository's URL and the
 * passphrase file come from, and opening the repository: cli.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

void secret_wipe(struct secret *s)
{
	explicit_bzero(s->buf, sizeof(s->buf));
	s->len = 0;
}

/* The longest passphrase: what struct secret holds, less its NUL. */
#define PASS_MAX (sizeof(((struct secret *)0)->buf) - 1)

/*
 * One rule for every source of a passphrase (a file, $ZBAK_PASSPHRASE or
 * $ZBAK_NEW_PASSPHRASE, the terminal): it is one line (of a file or the
 * terminal, the first: up to '\n' or '\r'), of 1 to PASS_MAX bytes, without
 * NUL bytes.  Anything else is refused with a message naming the source,
 * never cut short: two different passphrases must never open the same
 * repository.
 */

/* The first line of fd into s (wiped on failure); -1 with a message. */
static int read_line(int fd, const char *source, struct secret *s)
{
	char ch = 0;
	int ret = -1;

	s->len = 0;
	for (;;) {
		ssize_t n = read(fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			msg("cannot read %s: %s", source, strerror(errno));
			goto out;
		}
		if (n == 0 || ch == '\n' || ch == '\r')
			break;
		if (ch == '\0') {
			msg("%s: the passphrase holds a NUL byte", source);
			goto out;
		}
		if (s->len == PASS_MAX) {
			msg("%s: the passphrase is longer than %zu bytes (it "
			    "is never cut short)",
			    source, PASS_MAX);
			goto out;
		}
		s->buf[s->len++] = ch;
	}
	s->buf[s->len] = '\0';
	if (s->len == 0) {
		msg("%s: the passphrase is empty", source);
		goto out;
	}
	ret = 0;
out:
	explicit_bzero(&ch, sizeof(ch));
	if (ret)
		secret_wipe(s);
	return ret;
}

/* A regular file or a pipe (--passphrase-file <(pass show zbak)), not a
 * device: /dev/zero would be a passphrase of NULs, /dev/tty a prompt
 * that echoes. */
static bool passfile_type_ok(mode_t mode)
{
	return S_ISREG(mode) || S_ISFIFO(mode);
}

static int from_file(const char *path, struct secret *s)
{
	char source[64 + PATH_MAX];
	struct stat st;
	int fd = -1, ret = -1;

	snprintf(source, sizeof(source), "passphrase file %s", path);
	/* the type first: opening a device may do something */
	if (stat(path, &st) != 0) {
		msg("cannot open %s: %s", source, strerror(errno));
		goto out;
	}
	if (passfile_type_ok(st.st_mode)) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			msg("cannot open %s: %s", source, strerror(errno));
			goto out;
		}
		/* what was opened, not what was there before */
		if (fstat(fd, &st) != 0) {
			msg("cannot read %s: %s", source, strerror(errno));
			goto out;
		}
	}
	if (!passfile_type_ok(st.st_mode)) {
		msg("%s is not a regular file (nor a pipe): refusing to read "
		    "a passphrase from it",
		    source);
		goto out;
	}
	if (st.st_mode & 077) {
		msg("%s has mode %04o: group or others may read or change "
		    "it; refusing it (chmod 600 %s)",
		    source, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	ret = read_line(fd, source, s);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int from_env(const char *name, const char *e, struct secret *s)
{
	size_t l = strlen(e);

	if (l == 0) {
		msg("%s is set but empty: set it to the passphrase, or unset "
		    "it",
		    name);
		return -1;
	}
	if (l > PASS_MAX) {
		msg("%s: the passphrase is longer than %zu bytes", name,
		    PASS_MAX);
		return -1;
	}
	if (strcspn(e, "\r\n") != l) {
		msg("%s: the passphrase holds a line break", name);
		return -1;
	}
	memcpy(s->buf, e, l + 1);
	s->len = l;
	return 0;
}

/* The terminal's settings while a prompt has echo off, for tty_restore(). */
static struct termios echo_saved;
static volatile int echo_fd = -1;

void tty_restore(void)
{
	int fd = echo_fd;

	if (fd >= 0)
		tcsetattr(fd, TCSAFLUSH, &echo_saved);
}

static int prompt(const char *question, struct secret *s)
{
	struct termios quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	bool restore = false;
	int ok;

	if (!tty) {
		msg("cannot open the terminal: %s", strerror(errno));
		return -1;
	}
	fputs(question, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &echo_saved) == 0) {
		quiet = echo_saved;
		quiet.c_lflag &= (tcflag_t) ~ECHO;
		echo_fd = fileno(tty);
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	/* read(2), not stdio: nothing of the line stays in a FILE buffer */
	ok = read_line(fileno(tty), "the terminal", s);
	/* the rest of a refused line never reaches the next reader (a shell) */
	if (ok)
		tcflush(fileno(tty), TCIFLUSH);
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &echo_saved);
	echo_fd = -1;
	fputc('\n', tty);
	fclose(tty);
	return ok;
}

static int have_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * The first line a command prints (--passphrase-command, as restic's
 * --password-command and borg's BORG_PASSCOMMAND): run by /bin/sh, its
 * standard error and input the terminal's; a command that fails, or prints
 * no line, is refused.  The command line is named in messages, never what
 * it printed.
 */
static int from_command(const char *cmd, struct secret *s)
{
	char source[160];
	int fd[2], status, ret;
	pid_t pid;

	snprintf(source, sizeof(source), "passphrase command '%.100s%s'", cmd,
		 strlen(cmd) > 100 ? "..." : "");
	if (pipe2(fd, O_CLOEXEC) != 0) {
		msg("%s: %s", source, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		msg("%s: cannot start it: %s", source, strerror(errno));
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	ret = read_line(fd[0], source, s);
	/* the rest of what it prints is not read into anything, but it is
	 * read: a command stopped by SIGPIPE would count as failed */
	for (char junk[4096];;) {
		ssize_t n = read(fd[0], junk, sizeof(junk));

		explicit_bzero(junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* a failed command is named so even when what it printed was
	 * refused already ("empty") */
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		if (WIFEXITED(status))
			msg("%s exited with status %d", source,
			    WEXITSTATUS(status));
		else
			msg("%s was killed by signal %d", source,
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		secret_wipe(s);
		ret = -1;
	}
	return ret;
}

int get_passphrase(const char *env, const char *file, const char *command,
		   bool twice, const char *what, struct secret *s)
{
	const char *e = getenv(env);

	secret_wipe(s);
	if (file)
		return from_file(file, s);
	if (command)
		return from_command(command, s);
	if (e)
		return from_env(env, e, s);
	if (have_tty()) {
		char q[128];
		struct secret again;

		snprintf(q, sizeof(q), "%s: ", what);
		if (prompt(q, s))
			return -1;
		if (!twice)
			return 0;
		snprintf(q, sizeof(q), "%s again: ", what);
		memset(&again, 0, sizeof(again));
		if (prompt(q, &again) || again.len != s->len ||
		    memcmp(again.buf, s->buf, s->len) != 0) {
			if (again.len)
				msg("the passphrases do not match");
			secret_wipe(&again);
			secret_wipe(s);
			return -1;
		}
		secret_wipe(&again);
		return 0;
	}
	msg("no passphrase: set %s, use --passphrase-file FILE or "
	    "--passphrase-command CMD, or run on a terminal",
	    env);
	return -1;
}
