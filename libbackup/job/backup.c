/* SPDX-License-Identifier: MIT */
/*
 * zbak backup, one job: snapshot, send, push, hold (include/backup/job.h,
 * zbak(1) "backup").
 *
 * The base of an incremental is found by guid: the newest local snapshot
 * of the dataset whose guid the repository stores under that dataset's
 * name.  So nothing depends on names, on what zbak remembers, or on a
 * previous night having succeeded: after a failed night the next one sends
 * from the newest snapshot that is stored, which the hold kept.
 *
 * Holds: after a push, `zfs hold zbak DS@new`, then `zfs release zbak` on
 * the older snapshots that have that hold: the previous base, and any that
 * a failed release left held.  Local snapshot pruning (sanoid, zfs-auto-snapshot, an
 * admin) thus cannot destroy the snapshot the next incremental needs.
 *
 * A failed send or push destroys the snapshot it made, when the
 * repository has no manifest of it (bk_push writes none unless the whole
 * stream verified): zbak does not prune local snapshots, so failed nights
 * would otherwise pile up snapshots nothing refers to, and the next night
 * takes a new one and sends it from the newest stored snapshot anyway.
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/chain.h"
#include "backup/clock.h"
#include "backup/job.h"
#include "backup/zfs.h"

void bk_backup_snapname(const struct bk_job *job, uint64_t now, char *out,
			size_t n)
{
	time_t t = (time_t)now;
	struct tm tm;
	char stamp[32] = "19700101T000000Z";

	if (gmtime_r(&t, &tm))
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, n, "%s%s", job->prefix, stamp);
}

static void warn(const struct bk_backup_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn(const struct bk_backup_opts *o, const char *fmt, ...)
{
	char line[BK_ERROR_MSG_MAX + 256];
	va_list ap;

	if (!o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->warn(o->warn_ctx, line);
}

static void fail(struct bk_backup_result *res, enum bk_code code,
		 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct bk_backup_result *res, enum bk_code code,
		 const char *fmt, ...)
{
	va_list ap;

	res->status = BK_BACKUP_FAILED;
	res->code = code ? code : BK_ERR_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

/* The stored snapshot of dataset ds with toguid g, or NULL. */
static const struct bk_snapshot *stored_guid(const struct bk_snapshot *v,
					     size_t n, const char *ds,
					     uint64_t g)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].toguid == g && !strcmp(v[i].dataset, ds))
			return &v[i];
	return NULL;
}

/*
 * Should this night's stream be full although `base` is stored?  Walk the
 * chain of base back to its start, a full stream or a package: full when
 * the chain is broken, full_every_days since that start's creation, or
 * full_every incrementals since it.
 */
static bool want_full(const struct bk_job *job, const struct bk_snapshot *v,
		      size_t n, const struct bk_snapshot *base, uint64_t now,
		      char *why, size_t whyn)
{
	const struct bk_snapshot *s;
	struct bk_chain ch;
	struct bk_error e;
	size_t incrementals;
	bool whole;

	if (!job->full_every_days && !job->full_every)
		return false;
	/* the chain as restore follows it (chain.c) */
	if (bk_chain_walk(v, n, (size_t)(base - v), NULL, NULL, &ch, &e)) {
		snprintf(why, whyn, "the chain of %s@%s cannot be followed "
				    "(out of memory)",
			 base->dataset, base->snap);
		return true;
	}
	whole = ch.status == BK_CHAIN_WHOLE;
	s = &v[ch.idx[ch.len - 1]];
	incrementals = ch.len - 1;
	bk_chain_release(&ch);
	if (!whole) {
		snprintf(why, whyn, "the chain of %s@%s is not whole in the "
				    "repository",
			 base->dataset, base->snap);
		return true;
	}
	if (job->full_every && incrementals + 1 > job->full_every) {
		snprintf(why, whyn,
			 "full_every = %u: %zu incrementals since the full "
			 "%s@%s",
			 job->full_every, incrementals, s->dataset, s->snap);
		return true;
	}
	if (job->full_every_days && now >= s->creation_time &&
	    (now - s->creation_time) / 86400 >= job->full_every_days) {
		snprintf(why, whyn,
			 "full_every_days = %u: the full %s@%s is %" PRIu64
			 " days old",
			 job->full_every_days, s->dataset, s->snap,
			 (now - s->creation_time) / 86400);
		return true;
	}
	return false;
}

/*
 * Release our hold on every snapshot of ds older than ours (local[mine]):
 * normally the previous base only, but also one left held by a night
 * whose release failed, so that stale holds heal.  local is oldest first
 * and knows each snapshot's user holds (userrefs); only held ones are
 * asked to release the tag, and one that does not have it ("no such tag":
 * another tool's hold) is left alone.  `zfs holds` is not used: it does
 * not work on every zfs (zfs-fuse's needs a Python helper it lacks).
 */
static void release_older(const struct bk_backup_opts *o, const char *tag,
			  const struct bk_zfs_snap *local, size_t mine)
{
	struct bk_error err;

	for (size_t i = 0; i < mine; i++) {
		if (!local[i].userrefs)
			continue;
		if (bk_zfs_release(tag, local[i].name, &err) &&
		    !strstr(err.msg, "no such tag"))
			warn(o, "could not release the hold %s on %s: %s", tag,
			     local[i].name, err.msg);
	}
}

enum bk_code bk_job_send_flags(const struct bk_job *job,
			       const struct bk_zfs_caps *caps, unsigned *flags,
			       char *dropped, size_t n, struct bk_error *err)
{
	char opts[3 * sizeof(caps->send_opts) + 1] = "";
	size_t len = 0, k = 0;

	*flags = job->send_flags;
	if (n)
		dropped[0] = '\0';
	for (size_t i = 0; caps->send_opts[i]; i++)
		k += (size_t)snprintf(opts + k, sizeof(opts) - k, "%s-%c",
				      k ? " " : "", caps->send_opts[i]);
	for (unsigned bit = 1; bit <= BK_SEND_EMBED; bit <<= 1) {
		const char *arg;

		if (!(job->send_flags & bit) ||
		    bk_send_flags_argv(bit, &arg) != 1 ||
		    bk_zfs_send_takes(caps, arg[1]))
			continue;
		if (job->send_flags_set)
			return bk_error_set(err, BK_ERR_USAGE,
					    "[job %s] send_flags: %s is not an "
					    "option of this zfs's send (it "
					    "takes %s)",
					    job->name, arg,
					    opts[0] ? opts : "none");
		*flags &= ~bit;
		if (len < n)
			len += (size_t)snprintf(dropped + len, n - len, "%s%s",
						len ? " " : "", arg);
	}
	return BK_OK;
}

/* Send ds@snap (incremental from @base when base) into r. */
static void send_push(struct bk_repo *r, const struct bk_job *job,
		      const struct bk_backup_opts *o, const char *base_snap,
		      struct bk_backup_result *res, bool *stored)
{
	const char *flags[4];
	size_t nflags = bk_send_flags_argv(job->send_flags, flags);
	struct bk_zfs_send *zs = NULL;
	struct bk_throttle *th = NULL;
	struct bk_push_opts po;
	struct bk_push_result pr;
	struct bk_error err, e2;
	char from[300];
	enum bk_code rc;
	int fd = -1, rd;

	*stored = false;
	if (base_snap)
		snprintf(from, sizeof(from), "@%s", base_snap);
	rc = bk_zfs_send_begin_flags(res->snapshot, base_snap ? from : NULL,
				     flags, nflags, &zs, &fd, &err);
	if (rc) {
		fail(res, rc, "%s", err.msg);
		return;
	}
	rd = fd;
	if (job->bandwidth_limit) {
		rc = bk_throttle_start(fd, job->bandwidth_limit, &th, &rd,
				       &err);
		if (rc) {
			bk_zfs_send_abort(zs);
			fail(res, rc, "%s", err.msg);
			return;
		}
	}
	memset(&po, 0, sizeof(po));
	po.name = res->snapshot;
	po.threads = job->concurrency;
	po.progress = o->progress;
	po.progress_ctx = o->progress_ctx;
	rc = bk_push(r, rd, &po, &pr, &err);
	if (rc) {
		/* the sender first (the throttle's thread may wait on it),
		 * then the throttle; when zfs send failed by itself, that
		 * is the cause to report, not the short stream */
		enum bk_code src = bk_zfs_send_cancel(zs, 5, &e2);

		bk_throttle_finish(th, NULL);
		if (src)
			fail(res, src, "%s", e2.msg);
		else
			fail(res, rc, "push of %s failed: %s", res->snapshot,
			     err.msg);
		return;
	}
	*stored = true; /* the manifest is written */
	res->bytes_sent = pr.stream_bytes;
	res->bytes_stored = pr.new_bytes;
	rc = bk_throttle_finish(th, &err);
	if (rc) {
		bk_zfs_send_abort(zs);
		fail(res, rc, "%s", err.msg);
		return;
	}
	rc = bk_zfs_send_finish(zs, &err);
	if (rc)
		fail(res, rc, "%s (the stream was stored whole and verified)",
		     err.msg);
}

/*
 * Why a stream is full without a base: nothing of ds is stored yet, or
 * what is stored is no longer on the host (destroyed by hand, or by a
 * tool while no hold of ours protected it), which is said loudly: a full
 * stream where an incremental was expected costs time and space.
 */
static void no_base(const struct bk_backup_opts *o,
		    const struct bk_snapshot *sv, size_t sn, const char *ds,
		    char *why, size_t n)
{
	size_t stored = 0;

	for (size_t i = 0; i < sn; i++)
		stored += !strcmp(sv[i].dataset, ds);
	if (!stored) {
		snprintf(why, n, "no snapshot of %s is stored yet", ds);
		return;
	}
	snprintf(why, n,
		 "none of the %zu snapshots of %s in the repository is on "
		 "the host any more",
		 stored, ds);
	warn(o, "%s: %s: sending a full stream", ds, why);
}

/* Back up one dataset whose snapshot (res->snapshot) exists, or would. */
static void one(struct bk_repo *r, const struct bk_job *job,
		const struct bk_backup_opts *o, const struct bk_snapshot *sv,
		size_t sn, const char *ds, const char *snapname, bool made,
		struct bk_backup_result *res)
{
	const char *tag = o->hold_tag ? o->hold_tag : "zbak";
	struct bk_zfs_snap *local = NULL;
	const struct bk_zfs_snap *newest = NULL, *mine = NULL;
	const struct bk_snapshot *base = NULL;
	size_t nl = 0, mine_at = 0;
	struct bk_error err;
	enum bk_code rc;
	bool stored = false;
	char why[640] = "";

	rc = bk_zfs_list_snapshots(ds, false, &local, &nl, &err);
	if (rc) {
		fail(res, rc, "%s", err.msg);
		goto out;
	}
	/* oldest first: the newest stored one before ours */
	for (size_t i = 0; i < nl; i++) {
		const char *at = strchr(local[i].name, '@');

		if (at && !strcmp(at + 1, snapname)) {
			mine = &local[i];
			mine_at = i;
			continue;
		}
		if (stored_guid(sv, sn, ds, local[i].guid))
			newest = &local[i];
	}
	if (mine && stored_guid(sv, sn, ds, mine->guid)) {
		res->status = BK_BACKUP_SKIPPED;
		snprintf(res->reason, sizeof(res->reason),
			 "%s is already stored", res->snapshot);
		goto out;
	}
	if (!mine && !o->dry_run) {
		fail(res, BK_ERR_NOTFOUND,
		     "%s does not exist (a dataset created after the "
		     "recursive snapshot?)",
		     res->snapshot);
		res->snapshot[0] = '\0'; /* a result names only what exists */
		goto out;
	}
	if (newest)
		base = stored_guid(sv, sn, ds, newest->guid);
	if (base && want_full(job, sv, sn, base, o->now, why, sizeof(why)))
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	else if (base)
		snprintf(res->base, sizeof(res->base), "%s", newest->name);
	else
		no_base(o, sv, sn, ds, res->reason, sizeof(res->reason));
	res->kind = res->base[0] ? BK_BACKUP_INCREMENTAL : BK_BACKUP_FULL;
	if (o->dry_run)
		goto out;
	if (o->starting)
		o->starting(o->progress_ctx, res->snapshot);
	send_push(r, job, o, res->base[0] ? strchr(res->base, '@') + 1 : NULL,
		  res, &stored);
	if (res->status == BK_BACKUP_FAILED && !stored && made) {
		struct bk_error e2;

		if (bk_zfs_destroy_snapshot(res->snapshot, &e2))
			warn(o, "%s: could not destroy the snapshot of the "
				"failed backup: %s",
			     res->snapshot, e2.msg);
		else
			res->snapshot[0] = '\0'; /* no longer exists */
	}
	if (!stored)
		goto out;
	/* the new snapshot is the next base: hold it, and let go of the
	 * previous one (holds of other tags are not ours) */
	rc = bk_zfs_hold(tag, res->snapshot, &err);
	if (rc && !strstr(err.msg, "already exists")) {
		/* the previous base keeps its hold: it stays a base that
		 * local pruning cannot take */
		warn(o, "%s is stored but could not be held (local pruning "
			"may destroy it before the next night): %s",
		     res->snapshot, err.msg);
		goto out;
	}
	release_older(o, tag, local, mine_at);
out:
	free(local);
}

/* ---- snapshots = existing: another tool's snapshots ---------------------- */

/* Does the name after '@' match one of the globs of snapshot_match? */
static bool matches(const struct bk_job *job, const char *name)
{
	const char *at = strchr(name, '@'), *s = job->match;

	if (!at)
		return false;
	for (;;) {
		char glob[BK_JOB_PATH_MAX];
		size_t n;

		s += strspn(s, " \t");
		if (!(n = strcspn(s, " \t")))
			return false;
		memcpy(glob, s, n);
		glob[n] = '\0';
		/* no FNM_PATHNAME: a snapshot name has no '/' after '@' */
		if (fnmatch(glob, at + 1, 0) == 0)
			return true;
		s += n;
	}
}

static void result_init(struct bk_backup_result *res, const struct bk_job *job,
			const char *ds)
{
	memset(res, 0, sizeof(*res));
	snprintf(res->job, sizeof(res->job), "%s", job->name);
	snprintf(res->dataset, sizeof(res->dataset), "%s", ds);
}

static void report(const struct bk_backup_opts *o,
		   struct bk_backup_result *res, double t0, size_t *failed)
{
	res->seconds = bk_mono() - t0;
	res->finished = o->now;
	if (res->status == BK_BACKUP_FAILED)
		(*failed)++;
	if (o->result)
		o->result(o->result_ctx, res);
}

/*
 * The full-or-incremental choice for local[k], sent after local[prev]
 * (SIZE_MAX: none), as one() makes it; *sv is the repository's listing,
 * refreshed after each push so that full_every counts what this run
 * stored too.  `pushed`: this run stored local[prev] (a dry run: would
 * have), so that it is the base even when the listing missed it.
 */
static void existing_plan(const struct bk_job *job,
			  const struct bk_backup_opts *o,
			  const struct bk_snapshot *sv, size_t sn,
			  const char *ds, const struct bk_zfs_snap *local,
			  size_t prev, bool pushed,
			  struct bk_backup_result *res)
{
	const struct bk_snapshot *base = NULL;
	char why[640] = "";

	if (prev != SIZE_MAX)
		base = stored_guid(sv, sn, ds, local[prev].guid);
	if (base && want_full(job, sv, sn, base, o->now, why, sizeof(why)))
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	else if (base || pushed)
		snprintf(res->base, sizeof(res->base), "%s", local[prev].name);
	else
		no_base(o, sv, sn, ds, res->reason, sizeof(res->reason));
	res->kind = res->base[0] ? BK_BACKUP_INCREMENTAL : BK_BACKUP_FULL;
}

/*
 * Send the snapshots of ds that match, oldest first (createtxg), each
 * incremental from the one before, starting after the newest that the
 * repository stores (found by guid, as one() finds its base; matching
 * snapshots older than it are not sent: they would not fit the chain).
 * The first failure stops the dataset: what follows would have no base;
 * the next run carries on from the newest stored one.  Holds move as for
 * zbak's own snapshots; no snapshot is ever destroyed, as none is zbak's.
 */
static void existing_dataset(struct bk_repo *r, const struct bk_job *job,
			     const struct bk_backup_opts *o,
			     struct bk_snapshot **sv, size_t *sn,
			     const char *ds, size_t *failed)
{
	const char *tag = o->hold_tag ? o->hold_tag : "zbak";
	struct bk_zfs_snap *local = NULL;
	struct bk_backup_result res;
	size_t nl = 0, prev = SIZE_MAX, todo = 0;
	struct bk_error err;
	double t0 = bk_mono();
	enum bk_code rc;
	bool pushed = false;

	result_init(&res, job, ds);
	rc = bk_zfs_list_snapshots(ds, false, &local, &nl, &err);
	if (rc) {
		fail(&res, rc, "%s", err.msg);
		report(o, &res, t0, failed);
		return;
	}
	for (size_t i = 0; i < nl; i++)
		if (stored_guid(*sv, *sn, ds, local[i].guid))
			prev = i;
	for (size_t i = prev == SIZE_MAX ? 0 : prev + 1; i < nl; i++)
		todo += matches(job, local[i].name);
	if (!todo) {
		res.status = BK_BACKUP_SKIPPED;
		if (prev != SIZE_MAX)
			snprintf(res.reason, sizeof(res.reason),
				 "no snapshot matching '%.200s' after %.300s, the "
				 "newest stored",
				 job->match, local[prev].name);
		else
			snprintf(res.reason, sizeof(res.reason),
				 "no snapshot of %.256s matches '%.200s'", ds,
				 job->match);
		report(o, &res, t0, failed);
		goto out;
	}
	for (size_t k = prev == SIZE_MAX ? 0 : prev + 1; k < nl; k++) {
		bool stored = false;

		if (!matches(job, local[k].name))
			continue;
		t0 = bk_mono();
		result_init(&res, job, ds);
		snprintf(res.snapshot, sizeof(res.snapshot), "%s",
			 local[k].name);
		existing_plan(job, o, *sv, *sn, ds, local, prev, pushed, &res);
		if (o->dry_run) {
			report(o, &res, t0, failed);
			prev = k;
			pushed = true; /* a dry run stores nothing: as if */
			continue;
		}
		if (o->starting)
			o->starting(o->progress_ctx, res.snapshot);
		send_push(r, job, o,
			  res.base[0] ? strchr(res.base, '@') + 1 : NULL, &res,
			  &stored);
		if (stored) {
			rc = bk_zfs_hold(tag, res.snapshot, &err);
			if (rc && !strstr(err.msg, "already exists")) {
				warn(o, "%s is stored but could not be held "
					"(local pruning may destroy it before "
					"the next run): %s",
				     res.snapshot, err.msg);
			} else {
				release_older(o, tag, local, k);
				/* the listing predates the hold: the next
				 * release must see it */
				local[k].userrefs++;
			}
			free(*sv);
			*sv = NULL;
			*sn = 0;
			if (bk_list(r, sv, sn, &err))
				warn(o, "listing the repository: %s", err.msg);
		}
		report(o, &res, t0, failed);
		if (res.status == BK_BACKUP_FAILED)
			break;
		prev = k;
		pushed = true;
	}
out:
	free(local);
}

/* A job of snapshots = existing: every dataset (with recursive, each
 * descendant too) on its own; no snapshot is taken. */
static size_t backup_existing(struct bk_repo *r, const struct bk_job *job,
			      const struct bk_backup_opts *o,
			      struct bk_snapshot **sv, size_t *sn)
{
	size_t failed = 0;

	for (size_t d = 0; d < job->ndatasets; d++) {
		const char *top = job->datasets[d];
		char **names = NULL;
		size_t nn = 0;
		struct bk_error err;

		if (!job->recursive) {
			existing_dataset(r, job, o, sv, sn, top, &failed);
			continue;
		}
		if (bk_zfs_list_datasets(top, true, &names, &nn, &err)) {
			struct bk_backup_result res;

			result_init(&res, job, top);
			fail(&res, err.code, "%s", err.msg);
			report(o, &res, bk_mono(), &failed);
			continue;
		}
		for (size_t i = 0; i < nn; i++)
			existing_dataset(r, job, o, sv, sn, names[i], &failed);
		bk_zfs_names_free(names, nn);
	}
	return failed;
}

size_t bk_backup_job(struct bk_repo *r, const struct bk_job *job,
		     const struct bk_backup_opts *o)
{
	struct bk_snapshot *sv = NULL;
	size_t sn = 0, failed = 0;
	struct bk_error err;
	char snapname[BK_JOB_PREFIX_MAX + 32];
	enum bk_code lrc;

	bk_backup_snapname(job, o->now, snapname, sizeof(snapname));
	lrc = bk_list(r, &sv, &sn, &err);
	if (lrc)
		/* others are still listed; a snapshot whose manifest cannot
		 * be read is not taken as a base */
		warn(o, "listing the repository: %s", err.msg);
	if (job->existing) {
		failed = backup_existing(r, job, o, &sv, &sn);
		free(sv);
		return failed;
	}

	for (size_t d = 0; d < job->ndatasets; d++) {
		const char *top = job->datasets[d];
		char **names = NULL, full[BK_REPO_NAME_MAX];
		size_t nn = 0;
		bool exists = false, made = false;
		struct bk_zfs_snap *tl = NULL;
		size_t ntl = 0;
		enum bk_code rc;

		/* the snapshot, once for the dataset and its descendants
		 * (-r: the same instant for all), unless this second's
		 * exists already (a run again: nothing to do, or a send to
		 * finish) */
		snprintf(full, sizeof(full), "%s@%s", top, snapname);
		rc = bk_zfs_list_snapshots(top, false, &tl, &ntl, &err);
		for (size_t i = 0; !rc && i < ntl; i++)
			exists = exists || !strcmp(tl[i].name, full);
		free(tl);
		if (!rc && !exists && !o->dry_run) {
			rc = bk_zfs_snapshot(full, job->recursive, &err);
			made = !rc;
		}
		if (!rc && job->recursive)
			rc = bk_zfs_list_datasets(top, true, &names, &nn, &err);
		if (rc) {
			struct bk_backup_result res;

			memset(&res, 0, sizeof(res));
			snprintf(res.job, sizeof(res.job), "%s", job->name);
			snprintf(res.dataset, sizeof(res.dataset), "%s", top);
			/* named only when it exists: made, or there before */
			if (exists || made)
				snprintf(res.snapshot, sizeof(res.snapshot),
					 "%s", full);
			fail(&res, rc, "%s", err.msg);
			res.finished = o->now;
			failed++;
			if (o->result)
				o->result(o->result_ctx, &res);
			continue;
		}
		for (size_t i = 0; i < (job->recursive ? nn : 1); i++) {
			const char *ds = job->recursive ? names[i] : top;
			struct bk_backup_result res;
			double t0 = bk_mono();

			memset(&res, 0, sizeof(res));
			snprintf(res.job, sizeof(res.job), "%s", job->name);
			snprintf(res.dataset, sizeof(res.dataset), "%s", ds);
			snprintf(res.snapshot, sizeof(res.snapshot), "%s@%s",
				 ds, snapname);
			one(r, job, o, sv, sn, ds, snapname, made, &res);
			res.seconds = bk_mono() - t0;
			res.finished = o->now;
			if (res.status == BK_BACKUP_FAILED)
				failed++;
			if (o->result)
				o->result(o->result_ctx, &res);
		}
		bk_zfs_names_free(names, nn);
	}
	free(sv);
	return failed;
}
