/* SPDX-License-Identifier: MIT */
/*
 * Repository locks (docs/repository.md, "Locks"): objects locks/<random>,
 * sealed, saying who holds them and how (shared for push, restore and
 * verify; exclusive for forget and gc).  Stores have no atomic lock
 * primitive, so a taker writes its lock first, then lists the others: on a
 * conflict it removes its own and tries again until its wait runs out.
 * Two takers that race both back off; neither proceeds alone over the
 * other.  A holder rewrites its lock every few minutes from a thread.
 *
 * When is a lock's holder gone?  Two answers, neither trusting a clock of
 * another machine (two hosts whose clocks differ by more than the stale
 * time must never take each other's live locks for dead ones):
 *
 *   dead   the lock names this machine (machine id), this boot and this
 *          pid namespace, and its process is not running (no such pid,
 *          or one that started at another time), or it names an earlier
 *          boot of this machine: known at once, whoever looks;
 *   stale  this machine has seen the lock unchanged (not rewritten) for
 *          STALE_AFTER seconds by its own clock: what it saw, and since
 *          when, is kept in the repository's state directory (state.c)
 *          from one run to the next.
 *
 * Any taker removes dead locks; an exclusive taker also removes stale
 * ones; `zbak unlock` (bk_repo_unlock) removes both, or every lock.  The
 * locks a process holds are registered, so that an interrupted process
 * (SIGINT, SIGTERM, SIGHUP: the command line's signal thread) lets go of
 * them before it exits (bk_repo_release_locks).
 *
 * In an append-only repository a host may not delete or replace (its
 * store refuses), so its locks are written, never removed: a lock is the
 * group of objects locks/<id> (the first), locks/<id>.<n> (each rewrite,
 * a new object), and locks/<id>.end, which says the holder let go.  Every
 * reader sees a group as its newest object and an ended group as no lock;
 * whoever may delete (an admin run, or any client of a repository that is
 * not append-only) removes ended groups as it passes.  A repository that
 * is not append-only only ever has single-object groups.
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
#include "backup/util.h"
#include "repo/repo_impl.h"

#define LOCK_REFRESH 300 /* seconds between rewrites */
#define STALE_AFTER 1800  /* seen unchanged this long: its holder died */
#define LOCK_MAX 4096
#define SEEN_FILE "locks-seen"
#define SEEN_MAX 4096 /* locks remembered */

struct repo_lock {
	struct bk_repo *r;
	char key[64];   /* locks/<id>: the group's first object */
	char cur[80];   /* the object written last (key, or key.<seq>) */
	unsigned seq;   /* rewrites so far (append-only: one object each) */
	bool append;    /* write, never delete or replace */
	bool exclusive;
	uint64_t since;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool released; /* by bk_repo_release_locks */
	struct repo_lock *next; /* the registry of held locks */
};

/* ---- who we are ------------------------------------------------------------ */

struct who {
	char machine[64]; /* /etc/machine-id ("" when unknown) */
	char boot[64];    /* /proc/sys/kernel/random/boot_id */
	char pidns[64];   /* /proc/self/ns/pid, "pid:[4026531836]" */
	long pid;
	unsigned long long start; /* process start, clock ticks after boot */
};

/* Field 22 of /proc/PID/stat: when the process started (ticks). */
static bool start_ticks(long pid, unsigned long long *ticks)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p)
		return false;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return field == 22 && sscanf(p, "%llu", ticks) == 1;
}

static void who_am_i(struct who *w)
{
	ssize_t k;

	memset(w, 0, sizeof(*w));
	repo_machine_id(w->machine, sizeof(w->machine));
	repo_first_line("/proc/sys/kernel/random/boot_id", w->boot,
			sizeof(w->boot));
	k = readlink("/proc/self/ns/pid", w->pidns, sizeof(w->pidns) - 1);
	w->pidns[k > 0 ? k : 0] = '\0';
	w->pid = (long)getpid();
	if (!start_ticks(w->pid, &w->start))
		w->start = 0;
}

/* ---- the lock object ------------------------------------------------------- */

struct lock_info {
	bool exclusive;
	char host[256];
	long pid;
	uint64_t since, time;
	char machine[64], boot[64], pidns[64];
	unsigned long long start;
};

static enum bk_code write_lock(struct repo_lock *l, struct bk_error *err)
{
	char body[1024], host[256] = "?";
	struct who w;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	who_am_i(&w);
	snprintf(body, sizeof(body),
		 "zbak-lock 1\nkind %s\nhost %s\npid %ld\nsince %" PRIu64
		 "\ntime %" PRIu64 "\nmachine %s\nboot %s\npidns %s\n"
		 "start %llu\n",
		 l->exclusive ? "exclusive" : "shared", host, w.pid, l->since,
		 bk_now(), w.machine, w.boot, w.pidns, w.start);
	/* append-only: each rewrite is an object of its own */
	if (l->append && l->seq)
		snprintf(l->cur, sizeof(l->cur), "%s.%u", l->key, l->seq);
	else
		snprintf(l->cur, sizeof(l->cur), "%s", l->key);
	return repo_put_sealed_transient(l->r, BK_OBJ_LOCK, l->cur, body,
					 strlen(body), false, err);
}

#define LOCK_END_BODY "zbak-lock-end 1\n"

/* Let go of a lock group: delete its objects (the end marker last, so
 * that a delete that fails half-way leaves a group still ended), or,
 * where this client may not delete, write the end marker. */
static enum bk_code end_group(struct bk_repo *r, bool append,
			      char *const *keys, size_t n, const char *base,
			      struct bk_error *err)
{
	char end[80];
	enum bk_code rc = BK_OK, rc2;

	snprintf(end, sizeof(end), "%s.end", base);
	if (append) {
		rc = repo_put_sealed_transient(r, BK_OBJ_LOCK, end,
					       LOCK_END_BODY,
					       strlen(LOCK_END_BODY), true, err);
		return rc == BK_ERR_EXISTS ? BK_OK : rc;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], end) != 0 &&
		    (rc2 = bk_store_delete(r->store, keys[i], err)) &&
		    rc2 != BK_ERR_NOTFOUND)
			rc = rc2;
	for (size_t i = 0; i < n && !rc; i++)
		if (!strcmp(keys[i], end) &&
		    (rc2 = bk_store_delete(r->store, keys[i], err)) &&
		    rc2 != BK_ERR_NOTFOUND)
			rc = rc2;
	return rc;
}

/* Our own lock: its objects are the ones we wrote. */
static void end_own(struct repo_lock *l)
{
	struct bk_error e2;

	if (l->append)
		end_group(l->r, true, NULL, 0, l->key, &e2);
	else
		bk_store_delete(l->r->store, l->key, &e2);
}

static void copy_word(char *out, size_t n, const char *v)
{
	snprintf(out, n, "%s", v);
}

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
	/* lines this version does not know are left alone */
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (!strcmp(line, "kind exclusive"))
			kind = li->exclusive = true;
		else if (!strcmp(line, "kind shared"))
			kind = true;
		else if (!strncmp(line, "host ", 5))
			copy_word(li->host, sizeof(li->host), line + 5);
		else if (!strncmp(line, "pid ", 4))
			li->pid = strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "since ", 6))
			li->since = strtoull(line + 6, NULL, 10);
		else if (!strncmp(line, "time ", 5)) {
			li->time = strtoull(line + 5, NULL, 10);
			t = true;
		} else if (!strncmp(line, "machine ", 8))
			copy_word(li->machine, sizeof(li->machine), line + 8);
		else if (!strncmp(line, "boot ", 5))
			copy_word(li->boot, sizeof(li->boot), line + 5);
		else if (!strncmp(line, "pidns ", 6))
			copy_word(li->pidns, sizeof(li->pidns), line + 6);
		else if (!strncmp(line, "start ", 6))
			li->start = strtoull(line + 6, NULL, 10);
	}
	return kind && t;
}

/* ---- is its holder gone? --------------------------------------------------- */

enum lock_state { LOCK_LIVE, LOCK_DEAD, LOCK_STALE };

/*
 * DEAD when the lock is provably of a process of this machine that is not
 * running; why says so.  Every identifier must match: a lock without them
 * (an older zbak's) or of a machine whose id we cannot read is never dead.
 */
static bool dead_here(const struct lock_info *li, const struct who *me,
		      char *why, size_t n)
{
	unsigned long long t;

	if (!me->machine[0] || strcmp(li->machine, me->machine) != 0 ||
	    !me->boot[0] || !li->boot[0])
		return false;
	if (strcmp(li->boot, me->boot) != 0) {
		snprintf(why, n, "this machine restarted since");
		return true;
	}
	if (!me->pidns[0] || strcmp(li->pidns, me->pidns) != 0)
		return false; /* another container: its pids are not ours */
	if (!start_ticks(li->pid, &t)) {
		snprintf(why, n, "process %ld is not running", li->pid);
		return true;
	}
	if (t != li->start) {
		snprintf(why, n, "process %ld is another process now", li->pid);
		return true;
	}
	return false;
}

/* What this machine saw of other locks: key, its time field, first seen. */
struct seen {
	char key[64];
	uint64_t time, first;
};

struct seen_set {
	struct seen *v;
	size_t n;
};

static void seen_load(struct bk_repo *r, struct seen_set *s)
{
	char path[1100], line[256];
	FILE *f;

	s->v = NULL;
	s->n = 0;
	if (repo_state_path(r, SEEN_FILE, path, sizeof(path)) ||
	    !(f = fopen(path, "re")))
		return;
	s->v = calloc(SEEN_MAX, sizeof(*s->v));
	while (s->v && s->n < SEEN_MAX && fgets(line, sizeof(line), f)) {
		struct seen *e = &s->v[s->n];

		if (sscanf(line, "%63s %" SCNu64 " %" SCNu64, e->key, &e->time,
			   &e->first) == 3 &&
		    !strncmp(e->key, "locks/", 6))
			s->n++;
	}
	fclose(f);
}

/* How long (by this machine's clock) the lock has been seen as it is. */
static uint64_t seen_for(const struct seen_set *s, const char *key,
			 uint64_t time, uint64_t now)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].key, key) && s->v[i].time == time)
			return now > s->v[i].first ? now - s->v[i].first : 0;
	return 0;
}

/* Remember the locks seen now (those no longer there are forgotten). */
static void seen_save(struct bk_repo *r, const struct seen_set *old,
		      const struct seen *now_v, size_t now_n, uint64_t now)
{
	struct state_file sf;
	FILE *f = repo_state_create(r, SEEN_FILE, &sf);

	if (!f)
		return;
	for (size_t i = 0; i < now_n; i++) {
		uint64_t age = seen_for(old, now_v[i].key, now_v[i].time, now);

		fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n", now_v[i].key,
			now_v[i].time, now - age);
	}
	repo_state_commit(f, &sf);
}

/* "2026-12-03 20:15:02 UTC (14 min ago)" */
static void when(uint64_t t, uint64_t now, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char stamp[40] = "?";
	uint64_t ago = now > t ? now - t : 0;

	if (gmtime_r(&tt, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (now < t)
		snprintf(out, n, "%s (by its clock, ahead of ours)", stamp);
	else if (ago < 120)
		snprintf(out, n, "%s (%" PRIu64 " s ago)", stamp, ago);
	else if (ago < 7200)
		snprintf(out, n, "%s (%" PRIu64 " min ago)", stamp, ago / 60);
	else if (ago < 2 * 86400)
		snprintf(out, n, "%s (%" PRIu64 " hours ago)", stamp,
			 ago / 3600);
	else
		snprintf(out, n, "%s (%" PRIu64 " days ago)", stamp,
			 ago / 86400);
}

/* "a shared lock of pid 12 on host h, taken 2026-12-03 20:15:02 UTC (14
 * min ago) (a push, restore or verify)" */
static void describe(const struct lock_info *li, uint64_t now, char *out,
		     size_t n)
{
	char since[80];

	when(li->since, now, since, sizeof(since));
	snprintf(out, n, "%s lock of pid %ld on %s, taken %s (%s)",
		 li->exclusive ? "an exclusive" : "a shared", li->pid,
		 li->host[0] ? li->host : "?", since,
		 li->exclusive ? "zbak gc or forget"
			       : "a push, restore or verify");
}

/* A lock as readers see it: the objects of one group (sorted, so the
 * first is locks/<id>), its newest object, and whether it ended. */
struct lock_group {
	char *const *keys;
	size_t n;
	char base[40];     /* locks/<32 hex> */
	const char *newest;
	unsigned seq;
	bool ended;
};

typedef void (*lock_visit_fn)(void *ctx, const struct lock_group *g,
			      const struct lock_info *li, enum lock_state st,
			      const char *why);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* locks/<32 hex>, then nothing, ".<n>" or ".end"; anything else is not
 * a lock of this format and is left alone. */
static bool lock_key_parse(const char *key, char base[40], unsigned *seq,
			   bool *end)
{
	const char *p = key + 6;

	if (strncmp(key, "locks/", 6) != 0)
		return false;
	for (int i = 0; i < 32; i++)
		if (bk_hexval((unsigned char)p[i]) < 0)
			return false;
	memcpy(base, key, 38);
	base[38] = '\0';
	p += 32;
	*seq = 0;
	*end = false;
	if (!*p)
		return true;
	if (*p++ != '.')
		return false;
	if (!strcmp(p, "end")) {
		*end = true;
		return true;
	}
	if (!*p || strlen(p) > 9 || strspn(p, "0123456789") != strlen(p))
		return false;
	*seq = (unsigned)strtoul(p, NULL, 10);
	return true;
}

/* The group that starts at v[*i]; *i moves past it. */
static bool next_group(char **v, size_t n, size_t *i, struct lock_group *g)
{
	memset(g, 0, sizeof(*g));
	while (*i < n) {
		char base[40];
		unsigned seq;
		bool end;

		if (!lock_key_parse(v[*i], base, &seq, &end)) {
			(*i)++;
			continue;
		}
		if (!g->keys) {
			g->keys = v + *i;
			memcpy(g->base, base, sizeof(base));
		} else if (strcmp(base, g->base) != 0) {
			break;
		}
		g->n++;
		if (end)
			g->ended = true;
		else if (!g->newest || seq >= g->seq) {
			g->newest = v[*i];
			g->seq = seq;
		}
		(*i)++;
	}
	return g->keys != NULL;
}

/* One pass over locks/: each foreign lock classified; fn is called for
 * each (ctx, group, info, state, why); what was seen is remembered.
 * Ended groups are no locks: removed here where this client may delete. */
static enum bk_code visit_locks(struct bk_repo *r, const char *own,
				lock_visit_fn fn, void *ctx,
				struct bk_error *err)
{
	struct keylist keys = { 0 };
	struct seen_set old;
	struct seen *now_v = NULL;
	size_t now_n = 0, i = 0;
	char **v = NULL;
	struct lock_group g;
	struct bk_buf b;
	struct who me;
	uint64_t now = bk_now();
	enum bk_code rc;

	rc = keylist_collect(r->store, "locks/", &keys, err);
	if (rc)
		return rc;
	if (keys.n && !(v = malloc(keys.n * sizeof(*v)))) {
		keylist_free(&keys);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	for (size_t k = 0; k < keys.n; k++)
		v[k] = keys.key[k];
	if (keys.n)
		qsort(v, keys.n, sizeof(*v), cmp_str);
	who_am_i(&me);
	seen_load(r, &old);
	if (keys.n)
		now_v = calloc(keys.n < SEEN_MAX ? keys.n : SEEN_MAX,
			       sizeof(*now_v));
	bk_buf_init(&b, LOCK_MAX);
	while (next_group(v, keys.n, &i, &g)) {
		struct lock_info li;
		struct bk_error e2;
		char why[128] = "";
		enum lock_state st = LOCK_LIVE;
		uint64_t age;

		if (own && !strcmp(g.base, own))
			continue;
		if (g.ended) {
			if (!bk_store_append_only(r->store))
				end_group(r, false, g.keys, g.n, g.base, &e2);
			continue;
		}
		if (!g.newest ||
		    repo_get_opened(r, BK_OBJ_LOCK, g.newest, LOCK_MAX, &b,
				    &e2) != BK_OK ||
		    !parse_lock((const char *)b.data, b.len, &li))
			continue; /* gone meanwhile (a holder let go) */
		age = seen_for(&old, g.base, li.time, now);
		if (dead_here(&li, &me, why, sizeof(why))) {
			st = LOCK_DEAD;
		} else if (age >= STALE_AFTER) {
			st = LOCK_STALE;
			snprintf(why, sizeof(why),
				 "not rewritten for %" PRIu64
				 " min, as this machine saw it",
				 age / 60);
		}
		if (now_v && now_n < SEEN_MAX) {
			snprintf(now_v[now_n].key, sizeof(now_v[now_n].key),
				 "%s", g.base);
			now_v[now_n].time = li.time;
			now_n++;
		}
		fn(ctx, &g, &li, st, why);
	}
	seen_save(r, &old, now_v, now_n, now);
	bk_buf_release(&b);
	free(now_v);
	free(v);
	free(old.v);
	keylist_free(&keys);
	return BK_OK;
}

/* Remove a foreign lock (dead, stale, or unlock's): its objects go where
 * this client may delete; otherwise it is ended, which a host may do. */
static enum bk_code drop_group(struct bk_repo *r, const struct lock_group *g,
			       struct bk_error *err)
{
	return end_group(r, bk_store_append_only(r->store), g->keys, g->n,
			 g->base, err);
}

/* ---- taking and letting go ------------------------------------------------- */

struct conflict_ctx {
	struct repo_lock *l;
	bool conflict;
	char why[700];
};

static void on_other(void *ctx, const struct lock_group *g,
		     const struct lock_info *li, enum lock_state st,
		     const char *why)
{
	struct conflict_ctx *c = ctx;
	struct bk_error e2;

	(void)why;
	/* a dead process's lock goes, whoever looks (a host of an
	 * append-only repository ends it); a stale one is cleared by an
	 * exclusive taker (shared ones ignore it) */
	if (st == LOCK_DEAD || (st == LOCK_STALE && c->l->exclusive)) {
		drop_group(c->l->r, g, &e2);
		return;
	}
	if (st == LOCK_STALE || (!c->l->exclusive && !li->exclusive) ||
	    c->conflict)
		return;
	c->conflict = true;
	describe(li, bk_now(), c->why, sizeof(c->why));
}

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static struct repo_lock *held;

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
			if (l->append)
				l->seq++; /* a new object, never a rewrite */
			write_lock(l, &e2); /* a failure: the next try fixes it */
			pthread_mutex_lock(&l->mu);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Stop the refresher, then let go of the lock (once). */
static void let_go(struct repo_lock *l)
{
	if (l->thread_started) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
		l->thread_started = false;
	}
	if (!l->released)
		end_own(l);
	l->released = true;
}

/* A fresh random locks/<id> (an ended one is never written again). */
static void new_name(struct repo_lock *l)
{
	uint8_t rnd[16];
	char hex[2 * BK_ID_LEN + 1];
	struct bk_id id;

	bk_random(rnd, sizeof(rnd));
	memset(&id, 0, sizeof(id));
	memcpy(id.b, rnd, sizeof(rnd));
	bk_id_hex(&id, hex);
	snprintf(l->key, sizeof(l->key), "locks/%.32s", hex);
	l->seq = 0;
}

enum bk_code repo_lock_take(struct bk_repo *r, bool exclusive,
			    struct repo_lock **out, struct bk_error *err)
{
	const char *w = getenv("ZBAK_LOCK_WAIT");
	double wait = w && *w ? atof(w) : 60.0, waited = 0;
	struct repo_lock *l = calloc(1, sizeof(*l));
	struct conflict_ctx c;
	enum bk_code rc;

	*out = NULL;
	if (!l)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	l->r = r;
	l->exclusive = exclusive;
	l->append = bk_store_append_only(r->store);
	l->since = bk_now();
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	for (;;) {
		new_name(l);
		if ((rc = write_lock(l, err)))
			goto fail;
		memset(&c, 0, sizeof(c));
		c.l = l;
		if ((rc = visit_locks(r, l->key, on_other, &c, err)))
			goto fail_del;
		if (!c.conflict)
			break;
		end_own(l); /* the next try has a new name */
		if (waited >= wait) {
			rc = bk_error_set(err, BK_ERR_BUSY,
					  "the repository is busy: %s; waited "
					  "%.0f s (if no zbak runs there any "
					  "more, 'zbak unlock' removes it)",
					  c.why, waited);
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
	pthread_mutex_lock(&held_mu);
	l->next = held;
	held = l;
	pthread_mutex_unlock(&held_mu);
	*out = l;
	return BK_OK;
fail_del:
	end_own(l);
fail:
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
	return rc;
}

void repo_lock_release(struct repo_lock *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&held_mu);
	for (struct repo_lock **p = &held; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	let_go(l);
	pthread_mutex_unlock(&held_mu);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

void bk_repo_release_locks(void)
{
	pthread_mutex_lock(&held_mu);
	for (struct repo_lock *l = held; l; l = l->next)
		let_go(l);
	pthread_mutex_unlock(&held_mu);
}

/* ---- zbak unlock ----------------------------------------------------------- */

struct unlock_ctx {
	struct bk_repo *r;
	bool all;
	bk_report_fn report;
	void *report_ctx;
	struct bk_unlock_result *res;
};

static void on_unlock(void *ctx, const struct lock_group *g,
		      const struct lock_info *li, enum lock_state st,
		      const char *why)
{
	struct unlock_ctx *u = ctx;
	struct bk_error e2;
	char what[700], line[1400];
	const char *key = g->base;

	describe(li, bk_now(), what, sizeof(what));
	if (st == LOCK_LIVE && !u->all) {
		u->res->kept++;
		snprintf(line, sizeof(line),
			 "kept %s: %s (it may be running; --remove-all "
			 "removes it too)",
			 key, what);
	} else if (drop_group(u->r, g, &e2) != BK_OK) {
		u->res->kept++;
		snprintf(line, sizeof(line), "could not remove %s: %s: %s", key,
			 what, e2.msg);
	} else {
		u->res->removed++;
		snprintf(line, sizeof(line), "removed %s: %s: %s", key, what,
			 st == LOCK_LIVE ? "--remove-all" : why);
	}
	if (u->report)
		u->report(u->report_ctx, line);
}

enum bk_code bk_repo_unlock(struct bk_repo *r, bool all, bk_report_fn report,
			    void *ctx, struct bk_unlock_result *res,
			    struct bk_error *err)
{
	struct unlock_ctx u = { r, all, report, ctx, res };

	memset(res, 0, sizeof(*res));
	return visit_locks(r, NULL, on_unlock, &u, err);
}
