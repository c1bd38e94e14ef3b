/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus textfile of zbak backup (node_exporter's textfile
 * collector): six gauges per (job, dataset).  Written whole each run to a
 * temporary file beside the target, fsynced and renamed, so that
 * node_exporter never reads half a file.  The previous file is read back
 * with bounds (it is ours, but a hand edit or a full disk may have left
 * anything there).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/buf.h"
#include "backup/job.h"

#define METRICS_MAX (4u << 20)
#define LINE_MAX_ 2048u

enum gauge { G_SUCCESS, G_DURATION, G_SENT, G_STORED, G_STATUS, G_RUN, G_N };

static const struct {
	const char *name, *help;
} gauges[G_N] = {
	{ "zbak_backup_last_success_timestamp_seconds",
	  "Unix time of the last successful backup of the dataset." },
	{ "zbak_backup_duration_seconds",
	  "Seconds the dataset's last backup took." },
	{ "zbak_backup_sent_bytes",
	  "Bytes of the send stream of the dataset's last backup." },
	{ "zbak_backup_stored_bytes",
	  "Bytes the dataset's last backup added to the repository." },
	{ "zbak_backup_status",
	  "1 when the dataset's last backup succeeded, 0 when it failed." },
	{ "zbak_backup_last_run_timestamp_seconds",
	  "Unix time of the dataset's last backup attempt." },
};

/* ---- parsing --------------------------------------------------------------- */

/* A label value in quotes, with \\ \" \n escapes, into out[n]. */
static const char *label_value(const char *p, const char *end, char *out,
			       size_t n)
{
	size_t k = 0;

	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end && *p != '"'; p++) {
		char c = *p;

		if (c == '\\') {
			if (++p >= end)
				return NULL;
			c = *p == 'n' ? '\n' : *p;
			if (*p != 'n' && *p != '\\' && *p != '"')
				return NULL;
		}
		if (k + 1 >= n)
			return NULL;
		out[k++] = c;
	}
	if (p >= end)
		return NULL;
	out[k] = '\0';
	return p + 1;
}

static struct bk_metric *find(struct bk_metric *v, size_t n, const char *job,
			      const char *ds)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].job, job) && !strcmp(v[i].dataset, ds))
			return &v[i];
	return NULL;
}

enum bk_code bk_metrics_parse(const char *text, size_t len,
			      struct bk_metric **out, size_t *n,
			      struct bk_error *err)
{
	struct bk_metric *v = NULL;
	size_t nv = 0, pos = 0, line = 0;
	enum bk_code rc = BK_OK;

	*out = NULL;
	*n = 0;
	if (len > METRICS_MAX)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "metrics file larger than %u bytes",
				    METRICS_MAX);
	while (pos < len && !rc) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		const char *end = l + ll, *p;
		char job[BK_JOB_NAME_MAX + 1], ds[256], num[64];
		int g = -1;
		struct bk_metric *m;

		line++;
		pos += ll + (nl ? 1 : 0);
		if (ll == 0 || l[0] == '#')
			continue;
		if (ll > LINE_MAX_) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "metrics line %zu: longer than %u "
					  "bytes",
					  line, LINE_MAX_);
			break;
		}
		for (int i = 0; i < G_N; i++) {
			size_t gl = strlen(gauges[i].name);

			if (ll > gl && !memcmp(l, gauges[i].name, gl) &&
			    l[gl] == '{')
				g = i;
		}
		if (g < 0)
			continue; /* another exporter's series: not ours */
		p = l + strlen(gauges[g].name) + 1;
		if ((size_t)(end - p) < 5 || memcmp(p, "job=", 4) != 0 ||
		    !(p = label_value(p + 4, end, job, sizeof(job))) ||
		    (size_t)(end - p) < 9 || memcmp(p, ",dataset=", 9) != 0 ||
		    !(p = label_value(p + 9, end, ds, sizeof(ds))) ||
		    (size_t)(end - p) < 3 || p[0] != '}' || p[1] != ' ' ||
		    (size_t)(end - p - 2) >= sizeof(num)) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "metrics line %zu: not a zbak series "
					  "with job and dataset labels",
					  line);
			break;
		}
		memcpy(num, p + 2, (size_t)(end - p - 2));
		num[end - p - 2] = '\0';
		m = find(v, nv, job, ds);
		if (!m) {
			struct bk_metric *nvp;

			if (nv >= 100000) {
				rc = bk_error_set(err, BK_ERR_LIMIT,
						  "metrics: too many series");
				break;
			}
			nvp = realloc(v, (nv + 1) * sizeof(*nvp));
			if (!nvp) {
				rc = bk_error_set(err, BK_ERR_NOMEM,
						  "out of memory");
				break;
			}
			v = nvp;
			m = &v[nv++];
			memset(m, 0, sizeof(*m));
			snprintf(m->job, sizeof(m->job), "%s", job);
			snprintf(m->dataset, sizeof(m->dataset), "%s", ds);
		}
		{
			char *e;
			double d;

			errno = 0;
			d = strtod(num, &e);
			if (*e || errno || d < 0 || d != d) {
				rc = bk_error_set(err, BK_ERR_FORMAT,
						  "metrics line %zu: bad value "
						  "'%.32s'",
						  line, num);
				break;
			}
			switch ((enum gauge)g) {
			case G_SUCCESS: m->last_success = (uint64_t)d; break;
			case G_DURATION: m->duration = d; break;
			case G_SENT: m->sent = (uint64_t)d; break;
			case G_STORED: m->stored = (uint64_t)d; break;
			case G_STATUS: m->ok = d >= 1; break;
			case G_RUN: m->last_run = (uint64_t)d; break;
			default: break;
			}
		}
	}
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = nv;
	return BK_OK;
}

/* ---- writing --------------------------------------------------------------- */

static enum bk_code put_label(struct bk_buf *b, const char *s,
			      struct bk_error *err)
{
	enum bk_code rc = bk_buf_append(b, "\"", 1, err);

	for (; !rc && *s; s++) {
		if (*s == '\\' || *s == '"')
			rc = bk_buf_printf(b, err, "\\%c", *s);
		else if (*s == '\n')
			rc = bk_buf_append(b, "\\n", 2, err);
		else
			rc = bk_buf_append(b, s, 1, err);
	}
	return rc ? rc : bk_buf_append(b, "\"", 1, err);
}

static enum bk_code encode(const struct bk_metric *v, size_t n,
			   struct bk_buf *b, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	for (int g = 0; g < G_N && !rc; g++) {
		rc = bk_buf_printf(b, err, "# HELP %s %s\n# TYPE %s gauge\n",
				   gauges[g].name, gauges[g].help,
				   gauges[g].name);
		for (size_t i = 0; i < n && !rc; i++) {
			const struct bk_metric *m = &v[i];

			if (g == G_SUCCESS && !m->last_success)
				continue; /* never succeeded: no series */
			rc = bk_buf_printf(b, err, "%s{job=", gauges[g].name);
			if (!rc)
				rc = put_label(b, m->job, err);
			if (!rc)
				rc = bk_buf_append(b, ",dataset=", 9, err);
			if (!rc)
				rc = put_label(b, m->dataset, err);
			if (rc)
				break;
			switch ((enum gauge)g) {
			case G_SUCCESS:
				rc = bk_buf_printf(b, err, "} %" PRIu64 "\n",
						   m->last_success);
				break;
			case G_DURATION:
				rc = bk_buf_printf(b, err, "} %.3f\n",
						   m->duration);
				break;
			case G_SENT:
				rc = bk_buf_printf(b, err, "} %" PRIu64 "\n",
						   m->sent);
				break;
			case G_STORED:
				rc = bk_buf_printf(b, err, "} %" PRIu64 "\n",
						   m->stored);
				break;
			case G_STATUS:
				rc = bk_buf_printf(b, err, "} %d\n",
						   m->ok ? 1 : 0);
				break;
			default:
				rc = bk_buf_printf(b, err, "} %" PRIu64 "\n",
						   m->last_run);
				break;
			}
		}
	}
	return rc;
}

static enum bk_code read_old(const char *path, struct bk_buf *b,
			     struct bk_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	enum bk_code rc = BK_OK;

	if (fd < 0)
		return errno == ENOENT ? BK_ERR_NOTFOUND
				       : bk_error_set(err, BK_ERR_IO,
						      "metrics %s: %s", path,
						      strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return bk_error_set(err, BK_ERR_IO,
				    "metrics %s: not a regular file", path);
	}
	for (;;) {
		ssize_t n;

		if ((rc = bk_buf_reserve(b, 65536, err)))
			break;
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bk_error_set(err, BK_ERR_IO, "metrics %s: %s",
					  path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	close(fd);
	return rc;
}

enum bk_code bk_metrics_update(const char *path, const struct bk_metric *run,
			       size_t n, const char *const *keep_jobs,
			       size_t nkeep, struct bk_error *err)
{
	struct bk_metric *old = NULL, *all = NULL;
	size_t nold = 0, nall = 0;
	struct bk_buf b, out;
	char tmp[4096] = "";
	int fd = -1, w;
	enum bk_code rc;

	bk_buf_init(&b, METRICS_MAX + 1);
	bk_buf_init(&out, 64u << 20);
	rc = read_old(path, &b, err);
	if (rc == BK_OK &&
	    bk_metrics_parse((const char *)b.data, b.len, &old, &nold, NULL))
		nold = 0; /* not ours to keep: replaced */
	if (rc == BK_ERR_NOTFOUND || rc == BK_ERR_LIMIT)
		rc = BK_OK;
	if (rc)
		goto out;
	all = calloc(n + nold + 1, sizeof(*all));
	if (!all) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct bk_metric *o =
			find(old, nold, run[i].job, run[i].dataset);

		all[nall] = run[i];
		if (!all[nall].last_success && o)
			all[nall].last_success = o->last_success;
		nall++;
	}
	for (size_t i = 0; i < nold; i++) {
		bool keep = false;

		for (size_t j = 0; j < nkeep && !keep; j++)
			keep = !strcmp(old[i].job, keep_jobs[j]);
		if (keep && !find(all, nall, old[i].job, old[i].dataset))
			all[nall++] = old[i];
	}
	if ((rc = encode(all, nall, &out, err)))
		goto out;
	w = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (w < 0 || (size_t)w >= sizeof(tmp)) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "metrics file name too long");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0) {
		rc = bk_error_set(err, BK_ERR_IO, "metrics %s: %s", tmp,
				  strerror(errno));
		goto out;
	}
	/* 0644 whatever the umask: node_exporter runs as another user */
	if (fchmod(fd, 0644) != 0 ||
	    write(fd, out.data, out.len) != (ssize_t)out.len ||
	    fsync(fd) != 0) {
		rc = bk_error_set(err, BK_ERR_IO, "metrics %s: %s", tmp,
				  strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = bk_error_set(err, BK_ERR_IO, "metrics %s: %s", tmp,
				  strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = bk_error_set(err, BK_ERR_IO, "metrics %s: rename: %s",
				  path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp[0])
		unlink(tmp);
	free(old);
	free(all);
	bk_buf_release(&b);
	bk_buf_release(&out);
	return rc;
}
