/* SPDX-License-Identifier: MIT */
/*
 * What this machine remembers of a repository (docs/repository.md, "What
 * a client remembers"): $ZBAK_STATE_DIR, else /var/lib/zbak/state for root
 * (the systemd services' StateDirectory, shared with root's runs by hand),
 * else $XDG_STATE_HOME/zbak, else ~/.local/state/zbak; then one directory
 * (0700) per repository id.
 *
 * Unlike the cache, this is not a copy of anything in the repository: it
 * is what the storage cannot forge or take back, since it never leaves
 * the machine (how long a lock has been seen unchanged; later, the newest
 * state of the repository seen).  Deleting it loses that memory, nothing
 * else.  Without a HOME or a writable directory, callers do without.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "repo/repo_impl.h"

static int state_base(char *out, size_t n)
{
	const char *d = getenv("ZBAK_STATE_DIR"), *x, *h;

	if (d && *d)
		return snprintf(out, n, "%s", d) < (int)n ? 0 : -1;
	if (geteuid() == 0)
		return snprintf(out, n, "/var/lib/zbak/state") < (int)n ? 0 : -1;
	x = getenv("XDG_STATE_HOME");
	if (x && *x == '/')
		return snprintf(out, n, "%s/zbak", x) < (int)n ? 0 : -1;
	h = getenv("HOME");
	if (h && *h)
		return snprintf(out, n, "%s/.local/state/zbak", h) < (int)n
			       ? 0
			       : -1;
	return -1;
}

/* mkdir -p, the last component 0700 */
static int make_dirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int repo_state_path(const struct bk_repo *r, const char *file, char *out,
		    size_t n)
{
	char base[900], dir[1024];
	int w;

	if (state_base(base, sizeof(base)))
		return -1;
	w = snprintf(dir, sizeof(dir), "%s/", base);
	for (int i = 0; i < BK_REPO_ID_LEN && w > 0; i++)
		w += snprintf(dir + w, sizeof(dir) - (size_t)w, "%02x",
			      r->id[i]);
	if (w <= 0 || (size_t)w >= sizeof(dir) || make_dirs(dir))
		return -1;
	w = snprintf(out, n, "%s/%s", dir, file);
	return w > 0 && (size_t)w < n ? 0 : -1;
}

void repo_first_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "re");
	size_t k;

	out[0] = '\0';
	if (!f)
		return;
	if (!fgets(out, (int)n, f))
		out[0] = '\0';
	fclose(f);
	k = strcspn(out, "\n");
	out[k] = '\0';
	for (size_t i = 0; i < k; i++)
		if (out[i] <= ' ' || out[i] > '~') {
			out[0] = '\0';
			return;
		}
}

void repo_machine_id(char *out, size_t n)
{
	repo_first_line("/etc/machine-id", out, n);
}

FILE *repo_state_create(const struct bk_repo *r, const char *file,
			struct state_file *sf)
{
	FILE *f;
	int fd;

	if (repo_state_path(r, file, sf->path, sizeof(sf->path)))
		return NULL;
	snprintf(sf->tmp, sizeof(sf->tmp), "%s.%ld", sf->path,
		 (long)getpid());
	fd = open(sf->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		unlink(sf->tmp);
	}
	return f;
}

void repo_state_commit(FILE *f, const struct state_file *sf)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(sf->tmp);
		return;
	}
	if (fclose(f) != 0 || rename(sf->tmp, sf->path) != 0)
		unlink(sf->tmp);
}
