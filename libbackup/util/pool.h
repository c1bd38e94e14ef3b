/* SPDX-License-Identifier: MIT */
/* A fixed set of worker threads with a bounded job queue (private). */
#ifndef BK_UTIL_POOL_H
#define BK_UTIL_POOL_H

#include <stddef.h>

#include "backup/error.h"

struct bk_pool;

typedef void (*bk_job_fn)(void *arg);

/* nthreads workers (0 = number of online CPUs), queue of qlen jobs. */
enum bk_code bk_pool_new(unsigned nthreads, size_t qlen, struct bk_pool **out,
			 struct bk_error *err);
/* Queue a job; blocks while the queue is full. */
void bk_pool_submit(struct bk_pool *p, bk_job_fn fn, void *arg);
/* Wait until every job submitted so far has finished. */
void bk_pool_wait(struct bk_pool *p);
/* Wait, stop the workers, free.  NULL is fine. */
void bk_pool_free(struct bk_pool *p);
unsigned bk_pool_threads(const struct bk_pool *p);
/* Number of online CPUs (at least 1). */
unsigned bk_ncpus(void);

#endif
