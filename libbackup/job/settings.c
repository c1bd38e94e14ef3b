/* SPDX-License-Identifier: MIT */
/*
 * The [zbak] and [job NAME] sections, read strictly (include/backup/job.h).
 * Every key is looked up in a table of what zbak knows; every value goes
 * through a parser with bounds.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backup/job.h"
#include "backup/lpool.h"

#define JOB_PREFIX "job "

/* ---- values ---------------------------------------------------------------- */

enum bk_code bk_parse_bool(const char *s, bool *out, struct bk_error *err)
{
	static const char *const yes[] = { "yes", "true", "1" };
	static const char *const no[] = { "no", "false", "0" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return BK_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return BK_OK;
		}
	}
	return bk_error_set(err, BK_ERR_USAGE,
			    "'%.64s' is not a boolean (yes, no, true, false, "
			    "1, 0)",
			    s);
}

enum bk_code bk_parse_uint(const char *s, uint64_t max, uint64_t *out,
			   struct bk_error *err)
{
	uint64_t v = 0;
	size_t i = 0;

	if (!s[0])
		return bk_error_set(err, BK_ERR_USAGE,
				    "empty value: a number is expected");
	for (; s[i]; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return bk_error_set(err, BK_ERR_USAGE,
					    "'%.64s' is not a number (decimal "
					    "digits)",
					    s);
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return bk_error_set(err, BK_ERR_USAGE,
					    "%.64s is too large (at most "
					    "%llu)",
					    s, (unsigned long long)max);
		v = v * 10 + d;
	}
	*out = v;
	return BK_OK;
}

enum bk_code bk_parse_size(const char *s, uint64_t *out, struct bk_error *err)
{
	char digits[32];
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;

	/* "64MiB" and "64MB" say the same as "64M" */
	if (n >= 3 && !strcmp(s + n - 2, "iB") && strchr("kKmMgGtT", s[n - 3]))
		n -= 2;
	else if (n >= 2 && s[n - 1] == 'B' && strchr("kKmMgGtT", s[n - 2]))
		n -= 1;
	if (n && strchr("kKmMgGtT", s[n - 1])) {
		switch (toupper((unsigned char)s[n - 1])) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		default: shift = 40; break;
		}
		n--;
	}
	if (n == 0 || n >= sizeof(digits))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%.64s' is not a size (digits with an "
				    "optional K, M, G or T)",
				    s);
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (bk_parse_uint(digits, UINT64_MAX >> shift, &v, NULL))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%.64s' is not a size (digits with an "
				    "optional K, M, G or T; at most 2^64)",
				    s);
	*out = v << shift;
	return BK_OK;
}

size_t bk_send_flags_argv(unsigned flags, const char **argv)
{
	static const struct {
		unsigned bit;
		const char *arg;
	} f[] = {
		{ BK_SEND_COMPRESSED, "-c" },
		{ BK_SEND_RAW, "-w" },
		{ BK_SEND_LARGE, "-L" },
		{ BK_SEND_EMBED, "-e" },
	};
	size_t k = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (flags & f[i].bit)
			argv[k++] = f[i].arg;
	return k;
}

/* The next word of a list separated by blanks or commas: *s moves to its
 * start; its length, 0 at the end. */
static size_t next_word(const char **s)
{
	*s += strspn(*s, " \t,");
	return strcspn(*s, " \t,");
}

static enum bk_code parse_send_flags(const char *s, unsigned *out,
				     struct bk_error *err)
{
	unsigned v = 0;

	for (size_t n; (n = next_word(&s)) != 0;) {
		if (n == 2 && s[0] == '-' && strchr("cwLe", s[1])) {
			v |= s[1] == 'c'   ? BK_SEND_COMPRESSED
			     : s[1] == 'w' ? BK_SEND_RAW
			     : s[1] == 'L' ? BK_SEND_LARGE
					   : BK_SEND_EMBED;
		} else {
			return bk_error_set(err, BK_ERR_USAGE,
					    "'%.*s' is not a send flag zbak "
					    "passes (-c -w -L -e, each on its "
					    "own)",
					    (int)(n > 32 ? 32 : n), s);
		}
		s += n;
	}
	*out = v;
	return BK_OK;
}

static enum bk_code copy_str(const char *v, char *out, size_t n,
			     struct bk_error *err)
{
	if (strlen(v) >= n)
		return bk_error_set(err, BK_ERR_USAGE,
				    "value longer than %zu bytes", n - 1);
	memcpy(out, v, strlen(v) + 1);
	return BK_OK;
}

static enum bk_code parse_prefix(const char *v, char *out, size_t n,
				 struct bk_error *err)
{
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_-.:", *c))
			return bk_error_set(err, BK_ERR_USAGE,
					    "'%.64s': a snapshot name takes "
					    "letters, digits and _ - . : only",
					    v);
	if (!*v)
		return bk_error_set(err, BK_ERR_USAGE,
				    "empty prefix (zbak's snapshots need one "
				    "to be told apart from others)");
	return copy_str(v, out, n, err);
}

static void free_datasets(struct bk_job *j)
{
	for (size_t i = 0; i < j->ndatasets; i++)
		free(j->datasets[i]);
	free(j->datasets);
	j->datasets = NULL;
	j->ndatasets = 0;
}

static enum bk_code parse_datasets(const char *s, struct bk_job *j,
				   struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	free_datasets(j);
	for (size_t n; !rc && (n = next_word(&s)) != 0;) {
		char name[BK_LPOOL_NAME_MAX + 1];
		struct bk_error e2;
		char **nd;

		if (n > BK_LPOOL_NAME_MAX) {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "'%.40s...': longer than %u bytes", s,
					  BK_LPOOL_NAME_MAX);
			break;
		}
		memcpy(name, s, n);
		name[n] = '\0';
		s += n;
		if (bk_lpool_check_name(name, false, &e2)) {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "%s (a dataset: pool/fs, no @snapshot)",
					  e2.msg);
			break;
		}
		for (size_t i = 0; i < j->ndatasets; i++)
			if (strcmp(j->datasets[i], name) == 0)
				rc = bk_error_set(err, BK_ERR_USAGE,
						  "%s is listed twice", name);
		if (!rc && j->ndatasets >= BK_JOB_DATASETS_MAX)
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "more than %u datasets",
					  BK_JOB_DATASETS_MAX);
		if (rc)
			break;
		nd = realloc(j->datasets, (j->ndatasets + 1) * sizeof(*nd));
		if (!nd)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		j->datasets = nd;
		nd[j->ndatasets] = strdup(name);
		if (!nd[j->ndatasets])
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		j->ndatasets++;
	}
	if (!rc && j->ndatasets == 0)
		rc = bk_error_set(err, BK_ERR_USAGE, "no dataset given");
	return rc;
}

/* snapshots = own (zbak takes them) or existing (another tool does) */
static enum bk_code parse_snapshots(const char *v, bool *existing,
				    struct bk_error *err)
{
	if (strcasecmp(v, "own") == 0 || strcasecmp(v, "existing") == 0) {
		*existing = strcasecmp(v, "existing") == 0;
		return BK_OK;
	}
	return bk_error_set(err, BK_ERR_USAGE,
			    "'%.64s': own (zbak takes a snapshot) or existing "
			    "(zbak sends those of snapshot_match)",
			    v);
}

/* snapshot_match: globs of what follows '@', separated by blanks.  Only
 * what a snapshot name may hold, and the glob characters: a pattern that
 * can match no snapshot is a typo to name now, not a silent no-op. */
static enum bk_code parse_match(const char *v, char *out, size_t n,
				struct bk_error *err)
{
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_-.:*?[]! \t", *c))
			return bk_error_set(err, BK_ERR_USAGE,
					    "'%.64s': a pattern takes what a "
					    "snapshot name takes (letters, "
					    "digits, _ - . :) and * ? [ ] !, "
					    "patterns separated by blanks",
					    v);
	if (strspn(v, " \t") == strlen(v))
		return bk_error_set(err, BK_ERR_USAGE,
				    "no pattern (autosnap_*_daily, say)");
	return copy_str(v, out, n, err);
}

/* on_failure, on_success: an absolute path, then its arguments */
static enum bk_code parse_command(const char *v, char *out, size_t n,
				  struct bk_error *err)
{
	if (v[0] && v[0] != '/')
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%.64s' does not start with an absolute "
				    "path (the command is run without a shell)",
				    v);
	return copy_str(v, out, n, err);
}

/* ---- keys ------------------------------------------------------------------ */

enum kind { K_STR, K_PATH, K_UINT, K_SIZE, K_BOOL, K_DATASETS, K_FLAGS,
	    K_PREFIX, K_SNAPSHOTS, K_MATCH, K_COMMAND };

struct key {
	const char *name;
	enum kind kind;
	size_t off;      /* in struct bk_settings or struct bk_job */
	uint64_t max;    /* K_UINT */
};

#define S(f) offsetof(struct bk_settings, f)
#define J(f) offsetof(struct bk_job, f)

static const struct key zbak_keys[] = {
	{ "repository", K_STR, S(repository), 0 },
	{ "passphrase_file", K_PATH, S(passphrase_file), 0 },
	{ "lock_file", K_PATH, S(lock_file), 0 },
	{ "lock_wait", K_UINT, S(lock_wait), 7 * 86400 },
	{ "metrics_file", K_PATH, S(metrics_file), 0 },
	{ "pool_dir", K_PATH, S(pool_dir), 0 },
	{ "on_failure", K_COMMAND, S(on_failure), 0 },
	{ "on_success", K_COMMAND, S(on_success), 0 },
	{ "hook_timeout", K_UINT, S(hook_timeout), 86400 },
};

#define KEEP_MAX 1000000
static const struct key job_keys[] = {
	{ "datasets", K_DATASETS, 0, 0 },
	{ "recursive", K_BOOL, J(recursive), 0 },
	{ "snapshot_prefix", K_PREFIX, J(prefix), 0 },
	{ "send_flags", K_FLAGS, J(send_flags), 0 },
	{ "full_every_days", K_UINT, J(full_every_days), 100000 },
	{ "full_every", K_UINT, J(full_every), 1000000 },
	{ "concurrency", K_UINT, J(concurrency), 256 },
	{ "bandwidth_limit", K_SIZE, J(bandwidth_limit), 0 },
	{ "keep_last", K_UINT, J(keep.last), KEEP_MAX },
	{ "keep_hourly", K_UINT, J(keep.hourly), KEEP_MAX },
	{ "keep_daily", K_UINT, J(keep.daily), KEEP_MAX },
	{ "keep_weekly", K_UINT, J(keep.weekly), KEEP_MAX },
	{ "keep_monthly", K_UINT, J(keep.monthly), KEEP_MAX },
	{ "keep_yearly", K_UINT, J(keep.yearly), KEEP_MAX },
	{ "repository", K_STR, J(repository), 0 },
	{ "passphrase_file", K_PATH, J(passphrase_file), 0 },
	{ "snapshots", K_SNAPSHOTS, J(existing), 0 },
	{ "snapshot_match", K_MATCH, J(match), 0 },
};

/* Edit distance of two short words (case-insensitive), capped. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[40], prev, tmp;

	if (la >= 39 || lb >= 39)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = prev + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

static enum bk_code unknown_key(const struct key *keys, size_t n,
				const char *file, const char *section,
				const char *key, struct bk_error *err)
{
	const char *best = NULL;
	size_t bd = 3;

	for (size_t i = 0; i < n; i++) {
		size_t d = distance(key, keys[i].name);

		if (d < bd) {
			bd = d;
			best = keys[i].name;
		}
	}
	if (best)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: [%s] %.64s: unknown key (did you "
				    "mean %s?)",
				    file, section, key, best);
	return bk_error_set(err, BK_ERR_USAGE,
			    "%s: [%s] %.64s: unknown key (see zbak(1) for "
			    "the keys of [%s])",
			    file, section, key,
			    strncmp(section, JOB_PREFIX, 4) == 0 ? "job NAME"
								  : section);
}

static enum bk_code set_value(const struct key *k, void *base,
			      const char *v, struct bk_error *err)
{
	char *p = (char *)base + k->off;
	uint64_t u;
	enum bk_code rc;

	switch (k->kind) {
	case K_STR:
	case K_PATH:
		if (k->kind == K_PATH && v[0] && v[0] != '/')
			return bk_error_set(err, BK_ERR_USAGE,
					    "'%.64s' is not an absolute path",
					    v);
		return copy_str(v, p, BK_JOB_PATH_MAX, err);
	case K_UINT:
		if ((rc = bk_parse_uint(v, k->max, &u, err)))
			return rc;
		*(unsigned *)(void *)p = (unsigned)u;
		return BK_OK;
	case K_SIZE:
		if (!v[0]) {
			*(uint64_t *)(void *)p = 0;
			return BK_OK;
		}
		return bk_parse_size(v, (uint64_t *)(void *)p, err);
	case K_BOOL: return bk_parse_bool(v, (bool *)(void *)p, err);
	case K_FLAGS: return parse_send_flags(v, (unsigned *)(void *)p, err);
	case K_PREFIX: return parse_prefix(v, p, BK_JOB_PREFIX_MAX + 1, err);
	case K_DATASETS: return parse_datasets(v, base, err);
	case K_SNAPSHOTS: return parse_snapshots(v, (bool *)(void *)p, err);
	case K_MATCH: return parse_match(v, p, BK_JOB_PATH_MAX, err);
	case K_COMMAND: return parse_command(v, p, BK_JOB_PATH_MAX, err);
	}
	return bk_error_set(err, BK_ERR_INTERNAL, "bad key kind");
}

static enum bk_code read_section(const struct bk_config *cfg,
				 const char *file, const char *section,
				 const struct key *keys, size_t nkeys,
				 void *base, struct bk_error *err)
{
	size_t n = bk_config_key_count(cfg, section);

	for (size_t i = 0; i < n; i++) {
		const char *v, *key = bk_config_key(cfg, section, i, &v);
		const struct key *k = NULL;
		enum bk_code rc;

		for (size_t j = 0; j < nkeys && !k; j++)
			if (strcasecmp(keys[j].name, key) == 0)
				k = &keys[j];
		if (!k)
			return unknown_key(keys, nkeys, file, section, key,
					   err);
		rc = set_value(k, base, v, err);
		if (rc) {
			bk_error_prefix(err, "%s: [%s] %s", file, section,
					k->name);
			return rc;
		}
	}
	return BK_OK;
}

/* ---- the whole ----------------------------------------------------------- */

void bk_settings_free(struct bk_settings *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->njobs; i++)
		free_datasets(&s->jobs[i]);
	free(s->jobs);
	free(s);
}

const struct bk_job *bk_settings_job(const struct bk_settings *s,
				     const char *name)
{
	for (size_t i = 0; s && i < s->njobs; i++)
		if (strcmp(s->jobs[i].name, name) == 0)
			return &s->jobs[i];
	return NULL;
}

static enum bk_code check_job_name(const char *file, const char *section,
				   const char *name, struct bk_error *err)
{
	if (!*name)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: [%s]: a job needs a name: [job NAME]",
				    file, section);
	if (strlen(name) > BK_JOB_NAME_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: [%.80s]: a job name has at most %u "
				    "bytes",
				    file, section, BK_JOB_NAME_MAX);
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_-.", *c))
			return bk_error_set(err, BK_ERR_USAGE,
					    "%s: [%s]: a job name takes "
					    "letters, digits and _ - . only",
					    file, section);
	return BK_OK;
}

/* snapshots = existing and snapshot_match go together; a prefix would
 * name snapshots zbak does not take there, so it is a mistake to say. */
static enum bk_code check_existing(const struct bk_config *cfg,
				   const char *file, const char *sec,
				   const struct bk_job *j, struct bk_error *err)
{
	if (j->existing && !j->match[0])
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: [%s]: snapshots = existing needs "
				    "snapshot_match (the names to send: "
				    "autosnap_*_daily, say)",
				    file, sec);
	if (!j->existing && j->match[0])
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: [%s] snapshot_match: only with "
				    "snapshots = existing",
				    file, sec);
	if (j->existing && bk_config_get(cfg, sec, "snapshot_prefix"))
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: [%s] snapshot_prefix: zbak takes no "
				    "snapshot with snapshots = existing "
				    "(snapshot_match chooses them)",
				    file, sec);
	return BK_OK;
}

enum bk_code bk_settings_check_zbak(const struct bk_config *cfg,
				    const char *file, struct bk_error *err)
{
	struct bk_settings *s;
	enum bk_code rc;

	if (!bk_config_has_section(cfg, "zbak"))
		return BK_OK;
	s = calloc(1, sizeof(*s));
	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	rc = read_section(cfg, file ? file : "config", "zbak", zbak_keys,
			  sizeof(zbak_keys) / sizeof(zbak_keys[0]), s, err);
	bk_settings_free(s);
	return rc;
}

enum bk_code bk_settings_load(const struct bk_config *cfg, const char *file,
			      struct bk_settings **out, struct bk_error *err)
{
	struct bk_settings *s = calloc(1, sizeof(*s));
	size_t nsec = bk_config_section_count(cfg);
	enum bk_code rc = BK_OK;

	*out = NULL;
	if (!file)
		file = "config";
	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	s->lock_wait = 60;
	s->hook_timeout = 60;
	if (bk_config_key_count(cfg, "") > 0) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "%s: %s: a key before any [section]", file,
				  bk_config_key(cfg, "", 0, NULL));
		goto out;
	}
	for (size_t i = 0; i < nsec && !rc; i++) {
		const char *sec = bk_config_section(cfg, i);
		struct bk_job *j, *nj;

		if (strcmp(sec, "zbak") == 0) {
			rc = read_section(cfg, file, sec, zbak_keys,
					  sizeof(zbak_keys) /
						  sizeof(zbak_keys[0]),
					  s, err);
			continue;
		}
		if (strcmp(sec, "s3") == 0 || strcmp(sec, "pool") == 0)
			continue; /* read by their own parts, leniently */
		if (strncmp(sec, "job", 3) != 0 ||
		    (sec[3] != ' ' && sec[3] != '\0')) {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "%s: [%.80s]: unknown section (zbak "
					  "knows [zbak], [s3], [pool] and [job "
					  "NAME])",
					  file, sec);
			break;
		}
		if ((rc = check_job_name(file, sec, sec[3] ? sec + 4 : "",
					 err)))
			break;
		nj = realloc(s->jobs, (s->njobs + 1) * sizeof(*nj));
		if (!nj) {
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
			break;
		}
		s->jobs = nj;
		j = &nj[s->njobs++];
		memset(j, 0, sizeof(*j));
		snprintf(j->name, sizeof(j->name), "%s", sec + 4);
		/* the defaults of zbak.conf(5) */
		snprintf(j->prefix, sizeof(j->prefix), "zbak-");
		j->send_flags = BK_SEND_COMPRESSED | BK_SEND_LARGE |
				BK_SEND_EMBED;
		j->full_every_days = 30;
		j->concurrency = 8;
		rc = read_section(cfg, file, sec, job_keys,
				  sizeof(job_keys) / sizeof(job_keys[0]), j,
				  err);
		j->send_flags_set = bk_config_get(cfg, sec, "send_flags") != NULL;
		if (!rc && !j->ndatasets)
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "%s: [%s]: datasets missing (the "
					  "datasets to back up, separated by "
					  "spaces or commas)",
					  file, sec);
		if (!rc)
			rc = check_existing(cfg, file, sec, j, err);
	}
	/* a dataset in two jobs (or under a recursive one of another job)
	 * would be snapshotted and pruned twice over */
	for (size_t a = 0; !rc && a < s->njobs; a++)
		for (size_t b = 0; !rc && b < s->njobs; b++)
			for (size_t x = 0; !rc && x < s->jobs[a].ndatasets; x++)
				for (size_t y = 0;
				     !rc && y < s->jobs[b].ndatasets; y++) {
					const char *dx = s->jobs[a].datasets[x];
					const char *dy = s->jobs[b].datasets[y];
					size_t lx = strlen(dx);

					if (a < b && !strcmp(dx, dy))
						rc = bk_error_set(
							err, BK_ERR_USAGE,
							"%s: %s is in [job %s] "
							"and in [job %s]",
							file, dx,
							s->jobs[a].name,
							s->jobs[b].name);
					else if (s->jobs[a].recursive &&
						 !strncmp(dx, dy, lx) &&
						 dy[lx] == '/')
						rc = bk_error_set(
							err, BK_ERR_USAGE,
							"%s: %s of [job %s] is "
							"under %s, which [job "
							"%s] backs up "
							"recursively",
							file, dy,
							s->jobs[b].name, dx,
							s->jobs[a].name);
				}
out:
	if (rc) {
		bk_settings_free(s);
		return rc;
	}
	*out = s;
	return BK_OK;
}
