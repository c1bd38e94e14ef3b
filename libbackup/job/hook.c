/* SPDX-License-Identifier: MIT */
/*
 * The alert hook (include/backup/job.h, zbak.conf(5) on_failure): a
 * command run after backup or prune with the run's JSON account on its
 * standard input.
 *
 * No shell: the value is split at blanks into argv, and its first word
 * must be an absolute path (settings.c), so that no quoting rule of ours
 * or of sh can turn a value into something else.  A script does what a
 * shell would.
 *
 * The hook gets zbak's environment without its secrets: the passphrase
 * and the S3 secret would otherwise reach a mailer or a webhook script
 * that has no use for them, and its children, and their logs.  Its
 * standard output goes to zbak's standard error: stdout may be the --json
 * account, which a stray line would break.
 *
 * It runs in its own process group, so that a timeout kills what it
 * started too (curl, sendmail); it gets SIGTERM, then SIGKILL two seconds
 * later.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "backup/job.h"

extern char **environ;

#define HOOK_ARGS_MAX 64

const char *bk_hook_command(const struct bk_settings *s, int status)
{
	const char *c = status ? s->on_failure : s->on_success;

	return c[0] ? c : NULL;
}

/* zbak's environment less its secrets, then extra[] ("NAME=value") */
static char **hook_env(const char *const *extra)
{
	static const char *const secret[] = {
		"ZBAK_PASSPHRASE=",	    "ZBAK_NEW_PASSPHRASE=",
		"ZBAK_PASSPHRASE_COMMAND=", "AWS_SECRET_ACCESS_KEY=",
		"AWS_SESSION_TOKEN=",
	};
	size_t n = 0, x = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	while (extra && extra[x])
		x++;
	env = calloc(n + x + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;

		for (size_t s = 0; s < sizeof(secret) / sizeof(secret[0]); s++)
			drop = drop || !strncmp(environ[i], secret[s],
						strlen(secret[s]));
		/* ours win: a ZBAK_EVENT of the caller's is not the run's */
		for (size_t e = 0; e < x && !drop; e++) {
			size_t l = strcspn(extra[e], "=") + 1;

			drop = !strncmp(environ[i], extra[e], l);
		}
		if (!drop)
			env[k++] = environ[i];
	}
	for (size_t e = 0; e < x; e++)
		env[k++] = (char *)extra[e];
	env[k] = NULL;
	return env;
}

/* Write what is left of the input while the hook reads it, until the
 * deadline; a hook that does not read it (or exits) is not an error. */
static void feed(int fd, const char *in, size_t len, double deadline)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		double left = deadline - bk_mono();
		ssize_t w;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		w = write(fd, in + off, len - off);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return; /* EPIPE: it did not want it all */
		off += (size_t)w;
	}
}

/* Wait for pid until the deadline; then SIGTERM its group, and SIGKILL
 * two seconds later.  *killed: the timeout struck. */
static int reap(pid_t pid, double deadline, bool *killed)
{
	int status = 0, sig = SIGTERM;

	*killed = false;
	for (;;) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			return status;
		if (bk_mono() >= deadline) {
			kill(-pid, sig);
			*killed = true;
			deadline = bk_mono() + 2;
			sig = SIGKILL;
		}
		nanosleep(&pause, NULL);
	}
}

static void child(char **argv, char **env, int in, int report)
{
	int e;

	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, STDIN_FILENO) < 0 ||
	    dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(127);
	execve(argv[0], argv, env);
	e = errno;
	if (write(report, &e, sizeof(e)) != (ssize_t)sizeof(e))
		(void)0;
	_exit(127);
}

enum bk_code bk_hook_run(const char *command, const char *const *extra_env,
			 const void *input, size_t len, unsigned timeout,
			 struct bk_error *err)
{
	char buf[BK_JOB_PATH_MAX], *argv[HOOK_ARGS_MAX + 1];
	int in[2] = { -1, -1 }, rep[2] = { -1, -1 }, e = 0, status;
	size_t argc = 0;
	char **env = NULL;
	enum bk_code rc;
	double deadline;
	bool killed;
	pid_t pid;

	snprintf(buf, sizeof(buf), "%s", command);
	for (char *p = strtok(buf, " \t"); p; p = strtok(NULL, " \t")) {
		if (argc == HOOK_ARGS_MAX)
			return bk_error_set(err, BK_ERR_USAGE,
					    "%.200s: more than %d arguments",
					    command, HOOK_ARGS_MAX);
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	if (!argc || argv[0][0] != '/')
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%.200s': not an absolute path", command);
	env = hook_env(extra_env);
	if (!env || pipe2(in, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		rc = bk_error_set(err, BK_ERR_IO, "%s: cannot start it: %s", argv[0],
			     env ? strerror(errno) : "out of memory");
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		rc = bk_error_set(err, BK_ERR_IO, "%s: cannot start it: %s", argv[0],
			     strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(argv, env, in[0], rep[1]);
	setpgid(pid, pid); /* whichever of the two comes first */
	close(in[0]);
	close(rep[1]);
	in[0] = rep[1] = -1;
	/* exec worked when the report pipe closes without a word */
	while (read(rep[0], &e, sizeof(e)) < 0 && errno == EINTR)
		;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	deadline = bk_mono() + timeout;

	if (!e)
		feed(in[1], input, len, deadline);
	close(in[1]);
	in[1] = -1;
	status = reap(pid, deadline, &killed);
	free(env);
	close(rep[0]);
	if (e)
		return bk_error_set(err, BK_ERR_IO, "cannot run %s: %s",
				    argv[0], strerror(e));
	if (killed)
		return bk_error_set(err, BK_ERR_IO,
				    "%s did not finish within %u s "
				    "(hook_timeout): killed",
				    argv[0], timeout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return BK_OK;
	if (WIFEXITED(status))
		return bk_error_set(err, BK_ERR_IO, "%s exited with status %d",
				    argv[0], WEXITSTATUS(status));
	return bk_error_set(err, BK_ERR_IO, "%s was killed by signal %d",
			    argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	free(env);
	return rc;
}
