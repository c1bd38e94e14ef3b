/* SPDX-License-Identifier: MIT */
/*
 * bandwidth_limit: a token bucket between `zfs send` and the push.
 *
 * Tokens (bytes) accumulate at `rate` per second up to the bucket's size
 * (one second's worth, at least one read); a piece read from the sender is
 * written to the pipe once the bucket holds as many tokens as the piece
 * has bytes.  Reading is what is limited: zfs send blocks on its full pipe
 * and the push never sees more than the rate, so the upload (after
 * deduplication and compression, at most as many bytes) stays below it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "backup/job.h"

#define PIECE (64u << 10)

struct bk_throttle {
	int in;       /* our duplicate of the sender's descriptor */
	int wr;       /* write end of the pipe */
	int rd;       /* read end, handed out */
	uint64_t rate;
	pthread_t thread;
	bool started;
	int read_errno; /* a read error, 0 */
};

static void *pump(void *arg)
{
	struct bk_throttle *t = arg;
	double size = (double)t->rate < PIECE ? PIECE : (double)t->rate;
	double tokens = PIECE, last = bk_mono();
	sigset_t pipe_set;
	char *buf = malloc(PIECE);

	/* the reader going away is EPIPE here, never a SIGPIPE for zbak (a
	 * signal raised in this thread stays pending on it and dies with
	 * it) */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	if (!buf) {
		t->read_errno = ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(t->in, buf, PIECE), off = 0;
		double now;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			t->read_errno = errno;
			break;
		}
		if (n == 0)
			break;
		for (;;) {
			now = bk_mono();
			tokens += (now - last) * (double)t->rate;
			last = now;
			if (tokens > size)
				tokens = size;
			if (tokens >= (double)n)
				break;
			{
				double wait = ((double)n - tokens) /
					      (double)t->rate;
				struct timespec ts = {
					(time_t)wait,
					(long)((wait - (double)(time_t)wait) *
					       1e9),
				};

				nanosleep(&ts, NULL);
			}
		}
		tokens -= (double)n;
		while (off < n) {
			ssize_t w = write(t->wr, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto out; /* the reader gave up */
			off += w;
		}
	}
out:
	free(buf);
	close(t->wr); /* EOF for the reader */
	t->wr = -1;
	return NULL;
}

enum bk_code bk_throttle_start(int in, uint64_t rate, struct bk_throttle **out,
			       int *rd, struct bk_error *err)
{
	struct bk_throttle *t;
	int p[2], e;

	*out = NULL;
	*rd = -1;
	if (rate == 0)
		return bk_error_set(err, BK_ERR_USAGE, "throttle: rate 0");
	t = calloc(1, sizeof(*t));
	if (!t)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	t->rate = rate;
	t->in = fcntl(in, F_DUPFD_CLOEXEC, 3);
	if (t->in < 0 || pipe2(p, O_CLOEXEC) != 0) {
		e = errno;
		if (t->in >= 0)
			close(t->in);
		free(t);
		return bk_error_set(err, BK_ERR_IO, "throttle: %s",
				    strerror(e));
	}
	t->rd = p[0];
	t->wr = p[1];
	e = pthread_create(&t->thread, NULL, pump, t);
	if (e) {
		close(t->in);
		close(p[0]);
		close(p[1]);
		free(t);
		return bk_error_set(err, BK_ERR_IO, "throttle: thread: %s",
				    strerror(e));
	}
	t->started = true;
	*rd = t->rd;
	*out = t;
	return BK_OK;
}

enum bk_code bk_throttle_finish(struct bk_throttle *t, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	if (!t)
		return BK_OK;
	/* the thread stops at EOF of the sender, or at EPIPE now */
	close(t->rd);
	if (t->started)
		pthread_join(t->thread, NULL);
	close(t->in);
	if (t->read_errno)
		rc = bk_error_set(err, BK_ERR_IO,
				  "reading the send stream: %s",
				  strerror(t->read_errno));
	free(t);
	return rc;
}
