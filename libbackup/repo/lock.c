/* SPDX-License-Identifier: MIT */
/*
 * Repository locks (docs/repository.md, "Locks"): objects locks/<random>,
 * sealed, saying who holds them (host, pid), since when, and how (shared
 * for push, restore and verify; exclusive for forget and gc).  Stores have
 * no atomic lock primitive, so a taker writes its lock first, then lists
 * the others: on a conflict it removes its own and tries again until its
 * wait runs out.  Two takers that race both back off; neither proceeds
 * alone over the other.  A holder rewrites its lock every few minutes from
 * a thread; a lock not rewritten for LOCK_STALE seconds is a dead process's
 * and is ignored (and removed by an exclusive taker).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "repo/repo_impl.h"

#define LOCK_REFRESH 300 /* seconds between rewrites */
#define LOCK_STALE 1800  /* not rewritten for this long: its holder died */
#define LOCK_MAX 4096

struct repo_lock {
	struct bk_repo *r;
	char key[64];
	bool exclusive;
	uint64_t since;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static enum bk_code write_lock(struct repo_lock *l, struct bk_error *err)
{
	char body[512], host[256] = "?";

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "zbak-lock 1\nkind %s\nhost %s\npid %ld\nsince %" PRIu64
		 "\ntime %" PRIu64 "\n",
		 l->exclusive ? "exclusive" : "shared", host, (long)getpid(),
		 l->since, bk_now());
	return repo_put_sealed(l->r, BK_OBJ_LOCK, l->key, body, strlen(body),
			       false, NULL, err);
}

struct lock_info {
	bool exclusive;
	char host[256];
	long pid;
	uint64_t since, time;
};

static bool parse_lock(const char *p, size_t len, struct lock_info *li)
{
	char copy[LOCK_MAX + 1], *save = NULL, *line;
	bool kind = false, t = false;

	if (len > LOCK_MAX)
		return false;
	memcpy(copy, p, len);
	copy[len] = '\0';
	memset(li, 0, sizeof(*li));
	line = strtok_r(copy, "\n", &save);
	if (!line || strcmp(line, "zbak-lock 1") != 0)
		return false;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (!strcmp(line, "kind exclusive"))
			kind = li->exclusive = true;
		else if (!strcmp(line, "kind shared"))
			kind = true;
		else if (!strncmp(line, "host ", 5))
			snprintf(li->host, sizeof(li->host), "%s", line + 5);
		else if (!strncmp(line, "pid ", 4))
			li->pid = strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "since ", 6))
			li->since = strtoull(line + 6, NULL, 10);
		else if (!strncmp(line, "time ", 5)) {
			li->time = strtoull(line + 5, NULL, 10);
			t = true;
		}
	}
	return kind && t;
}

/* Another lock conflicting with ours: its description in why. */
static enum bk_code find_conflict(struct repo_lock *l, bool *conflict,
				  char *why, size_t whyn,
				  struct bk_error *err)
{
	struct keylist keys = { 0 };
	struct bk_buf b;
	enum bk_code rc;
	uint64_t now = bk_now();

	*conflict = false;
	rc = keylist_collect(l->r->store, "locks/", &keys, err);
	if (rc)
		return rc;
	bk_buf_init(&b, LOCK_MAX);
	for (size_t i = 0; i < keys.n && !*conflict; i++) {
		struct lock_info li;
		struct bk_error e2;

		if (!strcmp(keys.key[i], l->key))
			continue;
		if (repo_get_opened(l->r, BK_OBJ_LOCK, keys.key[i], LOCK_MAX,
				    &b, &e2) != BK_OK ||
		    !parse_lock((const char *)b.data, b.len, &li)) {
			/* gone meanwhile (a holder let go), or not ours */
			continue;
		}
		if (li.time + LOCK_STALE < now) {
			/* its holder died: an exclusive taker clears it */
			if (l->exclusive)
				bk_store_delete(l->r->store, keys.key[i], &e2);
			continue;
		}
		if (!l->exclusive && !li.exclusive)
			continue;
		*conflict = true;
		snprintf(why, whyn,
			 "%s lock held by pid %ld on %s since %" PRIu64
			 " (%s)",
			 li.exclusive ? "an exclusive" : "a shared", li.pid,
			 li.host, li.since,
			 li.exclusive ? "zbak gc or forget"
				      : "a push, restore or verify");
	}
	bk_buf_release(&b);
	keylist_free(&keys);
	return BK_OK;
}

static void *refresher(void *arg)
{
	struct repo_lock *l = arg;
	struct timespec ts;

	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += LOCK_REFRESH;
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT &&
		    !l->stop) {
			struct bk_error e2;

			pthread_mutex_unlock(&l->mu);
			write_lock(l, &e2); /* a failure: the next try fixes it */
			pthread_mutex_lock(&l->mu);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

enum bk_code repo_lock_take(struct bk_repo *r, bool exclusive,
			    struct repo_lock **out, struct bk_error *err)
{
	const char *w = getenv("ZBAK_LOCK_WAIT");
	double wait = w && *w ? atof(w) : 60.0, waited = 0;
	struct repo_lock *l = calloc(1, sizeof(*l));
	uint8_t rnd[16];
	char hex[2 * BK_ID_LEN + 1], why[512] = "";
	struct bk_id id;
	enum bk_code rc;
	bool conflict;

	*out = NULL;
	if (!l)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	l->r = r;
	l->exclusive = exclusive;
	l->since = bk_now();
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	bk_random(rnd, sizeof(rnd));
	memset(&id, 0, sizeof(id));
	memcpy(id.b, rnd, sizeof(rnd));
	bk_id_hex(&id, hex);
	snprintf(l->key, sizeof(l->key), "locks/%.32s", hex);
	for (;;) {
		if ((rc = write_lock(l, err)))
			goto fail;
		if ((rc = find_conflict(l, &conflict, why, sizeof(why), err)))
			goto fail_del;
		if (!conflict)
			break;
		bk_store_delete(r->store, l->key, err);
		if (waited >= wait) {
			rc = bk_error_set(err, BK_ERR_BUSY,
					  "the repository is busy: %s; waited "
					  "%.0f s",
					  why, waited);
			goto fail;
		}
		/* back off with jitter so that two takers do not meet again */
		{
			uint32_t j;
			double pause;
			struct timespec ts;

			bk_random(&j, sizeof(j));
			pause = 0.5 + (j % 1000) / 1000.0;
			ts.tv_sec = (time_t)pause;
			ts.tv_nsec = (long)((pause - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
			waited += pause;
		}
	}
	if (pthread_create(&l->thread, NULL, refresher, l) == 0)
		l->thread_started = true;
	*out = l;
	return BK_OK;
fail_del: {
	struct bk_error e2;

	bk_store_delete(r->store, l->key, &e2);
}
fail:
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
	return rc;
}

void repo_lock_release(struct repo_lock *l)
{
	struct bk_error e2;

	if (!l)
		return;
	if (l->thread_started) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	bk_store_delete(l->r->store, l->key, &e2);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}
