/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/pool.h"

struct job {
	bk_job_fn fn;
	void *arg;
};

struct bk_pool {
	pthread_mutex_t mu;
	pthread_cond_t has_job, has_room, idle;
	struct job *q;
	size_t qlen, head, count;
	size_t running;
	bool stop;
	unsigned n;
	pthread_t *threads;
};

unsigned bk_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

static void *worker(void *arg)
{
	struct bk_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct job j;

		while (!p->count && !p->stop)
			pthread_cond_wait(&p->has_job, &p->mu);
		if (!p->count && p->stop)
			break;
		j = p->q[p->head];
		p->head = (p->head + 1) % p->qlen;
		p->count--;
		p->running++;
		pthread_cond_signal(&p->has_room);
		pthread_mutex_unlock(&p->mu);
		j.fn(j.arg);
		pthread_mutex_lock(&p->mu);
		p->running--;
		if (!p->count && !p->running)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

enum bk_code bk_pool_new(unsigned nthreads, size_t qlen, struct bk_pool **out,
			 struct bk_error *err)
{
	struct bk_pool *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return bk_error_set(err, BK_ERR_NOMEM, "cannot allocate pool");
	p->n = nthreads ? nthreads : bk_ncpus();
	p->qlen = qlen ? qlen : 1;
	p->q = calloc(p->qlen, sizeof(*p->q));
	p->threads = calloc(p->n, sizeof(*p->threads));
	if (!p->q || !p->threads) {
		free(p->q);
		free(p->threads);
		free(p);
		return bk_error_set(err, BK_ERR_NOMEM, "cannot allocate pool");
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->has_job, NULL);
	pthread_cond_init(&p->has_room, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (unsigned i = 0; i < p->n; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			p->n = i;
			bk_pool_free(p);
			return bk_error_set(err, BK_ERR_NOMEM,
					    "cannot start worker threads");
		}
	}
	*out = p;
	return BK_OK;
}

void bk_pool_submit(struct bk_pool *p, bk_job_fn fn, void *arg)
{
	pthread_mutex_lock(&p->mu);
	while (p->count == p->qlen)
		pthread_cond_wait(&p->has_room, &p->mu);
	p->q[(p->head + p->count) % p->qlen] = (struct job){ fn, arg };
	p->count++;
	pthread_cond_signal(&p->has_job);
	pthread_mutex_unlock(&p->mu);
}

void bk_pool_wait(struct bk_pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->count || p->running)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

unsigned bk_pool_threads(const struct bk_pool *p)
{
	return p->n;
}

void bk_pool_free(struct bk_pool *p)
{
	if (!p)
		return;
	bk_pool_wait(p);
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->has_job);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->has_job);
	pthread_cond_destroy(&p->has_room);
	pthread_cond_destroy(&p->idle);
	free(p->q);
	free(p->threads);
	free(p);
}
