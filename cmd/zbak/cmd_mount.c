/* SPDX-License-Identifier: MIT */
/*
 * zbak mount: every snapshot of a repository (or of the local pool) as a
 * read-only FUSE file system, the way `restic mount` shows its snapshots.
 *
 *   MOUNTPOINT/tank/home/@daily-1/...   the files of tank/home@daily-1
 *   MOUNTPOINT/tank/home/@latest        -> @daily-2 (the newest snapshot)
 *   MOUNTPOINT/tank/home/@current/...   the dataset as it is now (--pool)
 *   MOUNTPOINT/tank/home/www/...        a child dataset
 *
 * A dataset is a directory per component of its name; its snapshots are
 * "@SNAP" beside its children, which cannot clash: '@' ends a dataset
 * name.  @latest and @current are left out where a snapshot has that
 * name.  Snapshots open on first use (for a repository that means
 * fetching a chain, cmd_files.c) and at most --keep-open of them stay
 * open, the least recently used closed first.
 *
 * The low-level libfuse3 API, one thread: the reader is not thread-safe,
 * and the node id of the kernel can then be the inode number itself, a
 * pure function of what it names (no table of nodes to keep or forget):
 *   0 in the top 24 bits: the directories above the snapshots (node n is
 *     1 + 2n, its @latest 2 + 2n; the root, node 0, is FUSE_ROOT_ID);
 *   else snapshot id (a hash of its name, probed past clashes) << 40 |
 *     object; object 0 stands for the snapshot's root directory.
 */
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "backup/lpool.h"
#include "backup/repo.h"
#include "backup/zpl.h"
#include "cli.h"
#include "files.h"

#define OBJ_BITS 40
#define OBJ_MASK ((UINT64_C(1) << OBJ_BITS) - 1)
#define ID_MAX ((UINT32_C(1) << 24) - 1)
#define KEEP_OPEN_DEFAULT 4u
#define KEEP_OPEN_MAX 1024u
#define TIMEOUT 3600.0 /* nothing under the mount ever changes */
#define LOGGED_MAX 4096u

static const struct cmd *self(void)
{
	return find_cmd("mount");
}

/* A directory for a dataset, or for the root (node 0). */
struct mnode {
	char *name; /* its last component ("" for the root) */
	size_t parent;
	size_t *kids, nkids;   /* child datasets (nodes) */
	size_t *snaps, nsnaps; /* its snapshots, oldest first */
	size_t latest;         /* the snapshot @latest names, or SIZE_MAX */
};

/* A snapshot (or, for @current, a dataset of the local pool). */
struct msnap {
	char *name; /* as fs_open takes it: pool/fs@snap or pool/fs */
	char *dir;  /* its directory: "@snap" or "@current" */
	uint32_t id;
	size_t node;
	uint64_t creation;
	struct fs *fs; /* open, or NULL */
	bool failed;   /* it would not open: said once, EIO from then on */
	bool hidden;   /* @current where a snapshot is named "current" */
	uint64_t used; /* the tick of its last use (LRU) */
};

struct mount {
	struct mnode *nodes;
	size_t nnodes;
	struct msnap *snaps;
	size_t nsnaps;
	uint32_t *byid; /* open addressing: index + 1 of a snapshot by id */
	size_t byid_len;
	bool pool;
	unsigned keep_open, nopen;
	uint64_t tick;
	time_t started;
	uint64_t logged[LOGGED_MAX]; /* inodes whose error was said */
	size_t nlogged;
};

static struct mount M;
static struct fuse_session *volatile session;
static pthread_t loop_thread;
static volatile int loop_done;

/* ---- the tree of datasets ---------------------------------------------- */

static size_t node_child(struct mount *m, size_t parent, const char *name,
			 size_t len)
{
	struct mnode *p = &m->nodes[parent];

	for (size_t i = 0; i < p->nkids; i++) {
		const char *k = m->nodes[p->kids[i]].name;

		if (strlen(k) == len && !memcmp(k, name, len))
			return p->kids[i];
	}
	return SIZE_MAX;
}

static int push(size_t **a, size_t *n, size_t v)
{
	size_t *t = realloc(*a, (*n + 1) * sizeof(**a));

	if (!t)
		return -1;
	t[(*n)++] = v;
	*a = t;
	return 0;
}

/* The node of dataset ds, made with its parents when missing. */
static size_t node_for(struct mount *m, const char *ds)
{
	size_t cur = 0;

	while (*ds) {
		size_t len = strcspn(ds, "/"), k = node_child(m, cur, ds, len);

		if (k == SIZE_MAX) {
			struct mnode *t = realloc(m->nodes, (m->nnodes + 1) *
							      sizeof(*t));

			if (!t)
				return SIZE_MAX;
			m->nodes = t;
			k = m->nnodes;
			memset(&t[k], 0, sizeof(t[k]));
			t[k].parent = cur;
			t[k].latest = SIZE_MAX;
			if (!(t[k].name = strndup(ds, len)))
				return SIZE_MAX;
			m->nnodes++;
			if (push(&m->nodes[cur].kids, &m->nodes[cur].nkids, k))
				return SIZE_MAX;
		}
		cur = k;
		ds += len;
		ds += *ds == '/';
	}
	return cur;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % ID_MAX + 1;
}

static struct msnap *snap_by_id(struct mount *m, uint32_t id)
{
	for (size_t i = id & (m->byid_len - 1);; i = (i + 1) & (m->byid_len - 1)) {
		uint32_t v = m->byid[i];

		if (!v)
			return NULL;
		if (m->snaps[v - 1].id == id)
			return &m->snaps[v - 1];
	}
}

/* Give every snapshot its id: the hash of its name, or the next free one
 * (so that inode numbers stay the same from one mount to the next unless
 * two names clash). */
static int assign_ids(struct mount *m)
{
	m->byid_len = 16;
	while (m->byid_len < 2 * m->nsnaps)
		m->byid_len *= 2;
	if (m->nsnaps > ID_MAX / 2 ||
	    !(m->byid = calloc(m->byid_len, sizeof(*m->byid))))
		return -1;
	for (size_t i = 0; i < m->nsnaps; i++) {
		uint32_t id = name_hash(m->snaps[i].name);

		while (snap_by_id(m, id))
			id = id % ID_MAX + 1;
		m->snaps[i].id = id;
		size_t j = id & (m->byid_len - 1);
		while (m->byid[j])
			j = (j + 1) & (m->byid_len - 1);
		m->byid[j] = (uint32_t)i + 1;
	}
	return 0;
}

static int add_snap(struct mount *m, const char *ds, const char *snap,
		    uint64_t creation)
{
	size_t node = node_for(m, ds);
	struct msnap *t, *s;

	if (node == SIZE_MAX)
		return -1;
	t = realloc(m->snaps, (m->nsnaps + 1) * sizeof(*t));
	if (!t)
		return -1;
	m->snaps = t;
	s = &t[m->nsnaps];
	memset(s, 0, sizeof(*s));
	s->node = node;
	s->creation = creation;
	if (snap && asprintf(&s->name, "%s@%s", ds, snap) < 0)
		s->name = NULL;
	if (!snap)
		s->name = strdup(ds);
	if (!s->name || asprintf(&s->dir, "@%s", snap ? snap : "current") < 0) {
		free(s->name);
		return -1;
	}
	m->nsnaps++;
	return push(&m->nodes[node].snaps, &m->nodes[node].nsnaps,
		    m->nsnaps - 1);
}

/* A snapshot named dir ("@x") among node n's; SIZE_MAX when none. */
static size_t snap_named(struct mount *m, size_t n, const char *dir)
{
	for (size_t i = 0; i < m->nodes[n].nsnaps; i++)
		if (!m->snaps[m->nodes[n].snaps[i]].hidden &&
		    !strcmp(m->snaps[m->nodes[n].snaps[i]].dir, dir))
			return m->nodes[n].snaps[i];
	return SIZE_MAX;
}

/* @latest: the newest real snapshot of each dataset (not @current, and
 * none where a snapshot is itself named "latest"). */
static void set_latest(struct mount *m)
{
	for (size_t n = 0; n < m->nnodes; n++) {
		struct mnode *d = &m->nodes[n];

		if (snap_named(m, n, "@latest") != SIZE_MAX)
			continue;
		for (size_t i = 0; i < d->nsnaps; i++) {
			struct msnap *s = &m->snaps[d->snaps[i]];

			if (!strchr(s->name, '@'))
				continue;
			if (d->latest == SIZE_MAX ||
			    s->creation >= m->snaps[d->latest].creation)
				d->latest = d->snaps[i];
		}
	}
}

/*
 * A passphrase that only the terminal can give is asked for once, here:
 * every snapshot opened later unlocks the repository again (fs_open), in
 * the middle of a file system request, where no prompt can be answered.
 * It is kept in this process's own environment (setenv copies it to the
 * heap: not in /proc/PID/environ, and zbak mount starts no programs) and
 * wiped at the end (forget_passphrase).  true: it was asked for.
 */
static bool ask_passphrase_once(void)
{
	struct secret s;
	int tty;

	if (passphrase_file() || passphrase_command() ||
	    getenv("ZBAK_PASSPHRASE"))
		return false;
	if ((tty = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
		return false; /* no source at all: open_repo says so */
	close(tty);
	memset(&s, 0, sizeof(s));
	if (get_passphrase("ZBAK_PASSPHRASE", NULL, NULL, false,
			   "repository passphrase", &s))
		return false; /* open_repo says why */
	if (setenv("ZBAK_PASSPHRASE", s.buf, 1)) {
		secret_wipe(&s);
		return false;
	}
	secret_wipe(&s);
	return true;
}

static void forget_passphrase(void)
{
	char *p = getenv("ZBAK_PASSPHRASE");

	if (p)
		explicit_bzero(p, strlen(p));
	unsetenv("ZBAK_PASSPHRASE");
}

/* The repository's snapshots (bk_list sorts them by dataset, then age). */
static int load_repo(struct mount *m)
{
	struct bk_snapshot *all = NULL;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	size_t n = 0;
	int ret;

	if ((ret = open_repo(&r)))
		return ret;
	if ((rc = bk_list(r, &all, &n, &err)))
		msg("some snapshots are left out: %s", err.msg);
	for (size_t i = 0; i < n && !ret; i++)
		if (add_snap(m, all[i].dataset, all[i].snap,
			     all[i].creation_time)) {
			msg("out of memory");
			ret = EXIT_FAIL;
		}
	free(all);
	bk_repo_close(r);
	return ret;
}

/* The local pool's snapshots, and each dataset as it is now (@current,
 * unless a snapshot is named so). */
static int load_pool(struct mount *m)
{
	struct bk_lpool_entry *e = NULL;
	struct bk_lpool *p = NULL;
	struct bk_error err;
	enum bk_code rc;
	size_t n = 0;
	int ret;

	if ((ret = open_lpool(&p, false)))
		return ret;
	rc = bk_lpool_list(p, NULL, true, BK_LPOOL_FILESYSTEM | BK_LPOOL_SNAPSHOT,
			   &e, &n, &err);
	bk_lpool_close(p);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	for (size_t i = 0; i < n && !ret; i++) {
		char *at = strchr(e[i].name, '@');

		if (at)
			*at = 0;
		if (add_snap(m, e[i].name, at ? at + 1 : NULL, e[i].creation))
			ret = EXIT_FAIL;
	}
	/* a snapshot named "current" wins over the dataset's @current */
	for (size_t i = 0; i < m->nsnaps && !ret; i++) {
		struct msnap *s = &m->snaps[i];
		struct mnode *d = &m->nodes[s->node];

		if (strchr(s->name, '@'))
			continue;
		for (size_t j = 0; j < d->nsnaps; j++)
			if (d->snaps[j] != i &&
			    !strcmp(m->snaps[d->snaps[j]].dir, "@current"))
				s->hidden = true;
	}
	free(e);
	if (ret)
		msg("out of memory");
	return ret;
}

static bool shown(const struct msnap *s)
{
	return !s->hidden;
}

/* ---- inodes and attributes -------------------------------------------- */

static fuse_ino_t ino_of(const struct msnap *s, uint64_t obj)
{
	return (fuse_ino_t)s->id << OBJ_BITS | obj;
}

/* Say an error of inode ino once (the mount stays up; the file is EIO). */
static void log_once(fuse_ino_t ino, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_once(fuse_ino_t ino, const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	for (size_t i = 0; i < M.nlogged; i++)
		if (M.logged[i] == ino)
			return;
	if (M.nlogged == LOGGED_MAX)
		return;
	M.logged[M.nlogged++] = ino;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	msg("%s%s", line, M.nlogged == LOGGED_MAX ? " (further errors not "
						     "shown)" : "");
}

static int errno_for(enum bk_code rc)
{
	switch (rc) {
	case BK_ERR_NOTFOUND: return ENOENT;
	case BK_ERR_NOMEM: return ENOMEM;
	default: return EIO;
	}
}

/* The open reader of snapshot s: opened now when it is not (closing the
 * least recently used one past --keep-open); NULL (said once) when it
 * does not open. */
static struct bk_zpl *snap_zpl(struct msnap *s)
{
	s->used = ++M.tick;
	if (s->fs)
		return fs_zpl(s->fs);
	if (s->failed)
		return NULL;
	while (M.nopen >= M.keep_open) {
		struct msnap *old = NULL;

		for (size_t i = 0; i < M.nsnaps; i++)
			if (M.snaps[i].fs &&
			    (!old || M.snaps[i].used < old->used))
				old = &M.snaps[i];
		if (!old)
			break;
		fs_close(old->fs);
		free(old->fs);
		old->fs = NULL;
		M.nopen--;
	}
	/* said, since opening a repository's snapshot may build its map
	 * (its chain's recipes read) before the request is answered */
	if (!g.quiet)
		fprintf(stderr, "opening %s\n", s->name);
	if (!(s->fs = fs_alloc()) || fs_open(s->name, M.pool, s->fs)) {
		free(s->fs);
		s->fs = NULL;
		s->failed = true;
		msg("%s: cannot be read; its files give EIO", s->name);
		return NULL;
	}
	M.nopen++;
	return fs_zpl(s->fs);
}

/* ino into its snapshot and object; false for the directories above. */
static bool split(fuse_ino_t ino, struct msnap **s, uint64_t *obj)
{
	uint32_t id = (uint32_t)(ino >> OBJ_BITS);

	if (!id)
		return false;
	*s = snap_by_id(&M, id);
	*obj = ino & OBJ_MASK;
	return true;
}

static void synthetic_dir(struct stat *st, fuse_ino_t ino, time_t t,
			  nlink_t links)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = links;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = t;
	st->st_blksize = 4096;
}

/* The attributes of a directory or symlink above the snapshots. */
static int node_attr(fuse_ino_t ino, struct stat *st)
{
	size_t n = (size_t)((ino - 1) / 2);
	struct mnode *d;

	if (!ino || n >= M.nnodes)
		return ENOENT;
	d = &M.nodes[n];
	if (ino % 2) {
		synthetic_dir(st, ino, M.started, 2 + d->nkids + d->nsnaps);
		return 0;
	}
	if (d->latest == SIZE_MAX)
		return ENOENT;
	synthetic_dir(st, ino, (time_t)M.snaps[d->latest].creation, 1);
	st->st_mode = S_IFLNK | 0777;
	st->st_size = (off_t)strlen(M.snaps[d->latest].dir);
	return 0;
}

static void zpl_to_stat(const struct bk_zpl_stat *z, fuse_ino_t ino,
			struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = (mode_t)z->mode;
	st->st_nlink = (nlink_t)z->links;
	st->st_uid = (uid_t)z->uid;
	st->st_gid = (gid_t)z->gid;
	st->st_size = (off_t)z->size;
	st->st_blksize = z->blksz ? z->blksz : 4096;
	st->st_blocks = (blkcnt_t)((z->size + 511) / 512);
	/* ZFS keeps a device number as major << 32 | minor */
	st->st_rdev = makedev((unsigned)(z->rdev >> 32), (unsigned)z->rdev);
	st->st_atim.tv_sec = z->atime.sec;
	st->st_atim.tv_nsec = z->atime.nsec;
	st->st_mtim.tv_sec = z->mtime.sec;
	st->st_mtim.tv_nsec = z->mtime.nsec;
	st->st_ctim.tv_sec = z->ctime.sec;
	st->st_ctim.tv_nsec = z->ctime.nsec;
}

/*
 * The reader and object behind ino (object 0: the snapshot's root) and,
 * with zs, the object's attributes; an errno (said once).
 */
static int resolve(fuse_ino_t ino, struct msnap **sp, struct bk_zpl **zp,
		   uint64_t *objp, struct bk_zpl_stat *zs)
{
	struct bk_error err;
	enum bk_code rc;
	struct msnap *s;
	struct bk_zpl *z;
	uint64_t obj;

	if (!split(ino, &s, &obj) || !s)
		return ENOENT;
	if (!(z = snap_zpl(s)))
		return EIO;
	if (!obj)
		obj = bk_zpl_root(z);
	if (zs && (rc = bk_zpl_stat(z, obj, zs, &err))) {
		log_once(ino, "%s: object %" PRIu64 ": %s", s->name, obj,
			 err.msg);
		return errno_for(rc) == ENOENT ? EIO : errno_for(rc);
	}
	*sp = s;
	*zp = z;
	*objp = obj;
	return 0;
}

/* Attributes of any inode; the root of a snapshot is a directory of the
 * snapshot's time that does not open it (ls -l of 500 snapshots must not
 * fetch 500 chains). */
static int attr_of(fuse_ino_t ino, struct stat *st)
{
	struct bk_zpl_stat zs;
	struct bk_zpl *z;
	struct msnap *s;
	uint64_t obj;
	int e;

	if (!(ino >> OBJ_BITS))
		return node_attr(ino, st);
	if (!(ino & OBJ_MASK)) {
		if (!split(ino, &s, &obj) || !s)
			return ENOENT;
		synthetic_dir(st, ino, (time_t)s->creation, 2);
		return 0;
	}
	if ((e = resolve(ino, &s, &z, &obj, &zs)))
		return e;
	zpl_to_stat(&zs, ino, st);
	return 0;
}

/* ---- the operations ----------------------------------------------------- */

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;
	int err;

	memset(&e, 0, sizeof(e));
	if ((err = attr_of(ino, &e.attr))) {
		fuse_reply_err(req, err);
		return;
	}
	e.ino = ino;
	e.attr_timeout = e.entry_timeout = TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bk_error err;
	enum bk_code rc;
	struct bk_zpl *z;
	struct msnap *s;
	uint64_t dir, obj;
	int e;

	if (!(parent >> OBJ_BITS)) {
		size_t n = (size_t)((parent - 1) / 2), k;

		if (!(parent % 2) || n >= M.nnodes) {
			fuse_reply_err(req, ENOTDIR);
			return;
		}
		if (name[0] == '@') {
			if (!strcmp(name, "@latest") &&
			    M.nodes[n].latest != SIZE_MAX) {
				reply_entry(req, 2 + 2 * n);
				return;
			}
			k = snap_named(&M, n, name);
			if (k != SIZE_MAX && shown(&M.snaps[k])) {
				reply_entry(req, ino_of(&M.snaps[k], 0));
				return;
			}
		} else if ((k = node_child(&M, n, name, strlen(name))) !=
			   SIZE_MAX) {
			reply_entry(req, 1 + 2 * k);
			return;
		}
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((e = resolve(parent, &s, &z, &dir, NULL))) {
		fuse_reply_err(req, e);
		return;
	}
	if ((rc = bk_zpl_lookup(z, dir, name, &obj, &err))) {
		if (rc != BK_ERR_NOTFOUND)
			log_once(parent, "%s: %s", s->name, err.msg);
		fuse_reply_err(req, errno_for(rc));
		return;
	}
	if (!obj || obj > OBJ_MASK) {
		log_once(parent, "%s: object %" PRIu64 " of %s cannot be an "
				 "inode",
			 s->name, obj, name);
		fuse_reply_err(req, EIO);
		return;
	}
	reply_entry(req, ino_of(s, obj));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	int e;

	(void)fi;
	if ((e = attr_of(ino, &st)))
		fuse_reply_err(req, e);
	else
		fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[BK_ZPL_PATH_MAX + 1];
	struct bk_error err;
	enum bk_code rc;
	struct bk_zpl *z;
	struct msnap *s;
	uint64_t obj;
	int e;

	if (!(ino >> OBJ_BITS)) {
		size_t n = (size_t)((ino - 1) / 2);

		if (ino % 2 || n >= M.nnodes || M.nodes[n].latest == SIZE_MAX)
			fuse_reply_err(req, EINVAL);
		else
			fuse_reply_readlink(req, M.snaps[M.nodes[n].latest].dir);
		return;
	}
	if ((e = resolve(ino, &s, &z, &obj, NULL))) {
		fuse_reply_err(req, e);
		return;
	}
	if ((rc = bk_zpl_readlink(z, obj, buf, sizeof(buf), &err))) {
		log_once(ino, "%s: %s", s->name, err.msg);
		fuse_reply_err(req, rc == BK_ERR_USAGE ? EINVAL : EIO);
		return;
	}
	fuse_reply_readlink(req, buf);
}

/* An open file: its attributes, and a block to read into. */
struct ofile {
	struct bk_zpl_stat st;
	uint8_t *blk;
};

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofile *o;
	struct bk_zpl *z;
	struct msnap *s;
	uint64_t obj;
	int e;

	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_CREAT))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!(ino >> OBJ_BITS)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (!(o = calloc(1, sizeof(*o)))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!(e = resolve(ino, &s, &z, &obj, &o->st)) && !S_ISREG(o->st.mode))
		e = S_ISDIR(o->st.mode) ? EISDIR : EINVAL;
	if (!e && o->st.size &&
	    (!o->st.blksz || o->st.blksz > BK_ZPL_BLOCK_MAX)) {
		log_once(ino, "%s: object %" PRIu64 ": block size %" PRIu32,
			 s->name, obj, o->st.blksz);
		e = EIO;
	}
	if (e) {
		free(o);
		fuse_reply_err(req, e);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)o;
	fi->keep_cache = 1; /* a snapshot never changes */
	fuse_reply_open(req, fi);
}

/* Bytes [off, off+size) of an open file into out (holes read as zeros). */
static int read_range(fuse_ino_t ino, struct ofile *o, char *out, size_t size,
		      uint64_t off, size_t *got)
{
	const struct bk_zpl_stat *st = &o->st;
	struct bk_error err;
	struct bk_zpl *z;
	struct msnap *s;
	uint64_t obj;
	bool hole;
	int e;

	*got = 0;
	if (off >= st->size || !size)
		return 0;
	if (size > st->size - off)
		size = (size_t)(st->size - off);
	if ((e = resolve(ino, &s, &z, &obj, NULL)))
		return e;
	if (!o->blk && !(o->blk = malloc(st->blksz)))
		return ENOMEM;
	while (*got < size) {
		uint64_t pos = off + *got, b = pos / st->blksz;
		size_t in = (size_t)(pos % st->blksz), n = st->blksz - in;

		if (bk_zpl_read_block(z, st, b, o->blk, &hole, &err)) {
			log_once(ino, "%s: %s", s->name, err.msg);
			return EIO;
		}
		if (n > size - *got)
			n = size - *got;
		memcpy(out + *got, o->blk + in, n);
		*got += n;
	}
	return 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ofile *o = (struct ofile *)(uintptr_t)fi->fh;
	char *buf;
	size_t got;
	int e;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > (16u << 20))
		size = 16u << 20;
	if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((e = read_range(ino, o, buf, size, (uint64_t)off, &got)))
		fuse_reply_err(req, e);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct ofile *o = (struct ofile *)(uintptr_t)fi->fh;

	(void)ino;
	if (o)
		free(o->blk);
	free(o);
	fuse_reply_err(req, 0);
}

/* An open directory: its entries, read once at opendir, so that readdir
 * at any offset (the entry's index) is cheap and stable. */
struct odir {
	struct dent {
		char *name;
		fuse_ino_t ino;
		unsigned dtype;
	} *e;
	size_t n, cap;
	const struct msnap *s;
	bool nomem;
};

static int dir_add(struct odir *d, const char *name, fuse_ino_t ino,
		   unsigned dtype)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct dent *t = realloc(d->e, cap * sizeof(*t));

		if (!t)
			return -1;
		d->e = t;
		d->cap = cap;
	}
	if (!(d->e[d->n].name = strdup(name)))
		return -1;
	d->e[d->n].ino = ino;
	d->e[d->n++].dtype = dtype;
	return 0;
}

static int dir_entry(void *ctx, const char *name, uint64_t obj,
		     unsigned dtype)
{
	struct odir *d = ctx;

	if (!obj || obj > OBJ_MASK)
		return 0; /* never an inode; lookup says why */
	if (dir_add(d, name, ino_of(d->s, obj), dtype)) {
		d->nomem = true;
		return 1;
	}
	return 0;
}

static void dir_free(struct odir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	free(d);
}

/* The entries of a directory above the snapshots. */
static int node_entries(struct odir *d, fuse_ino_t ino)
{
	size_t n = (size_t)((ino - 1) / 2);
	struct mnode *m;
	int r = 0;

	if (!(ino % 2) || n >= M.nnodes)
		return ENOTDIR;
	m = &M.nodes[n];
	r |= dir_add(d, ".", ino, DT_DIR);
	r |= dir_add(d, "..", 1 + 2 * m->parent, DT_DIR);
	for (size_t i = 0; i < m->nkids && !r; i++)
		r |= dir_add(d, M.nodes[m->kids[i]].name, 1 + 2 * m->kids[i],
			     DT_DIR);
	for (size_t i = 0; i < m->nsnaps && !r; i++) {
		struct msnap *s = &M.snaps[m->snaps[i]];

		if (shown(s))
			r |= dir_add(d, s->dir, ino_of(s, 0), DT_DIR);
	}
	if (!r && m->latest != SIZE_MAX)
		r |= dir_add(d, "@latest", 2 + 2 * n, DT_LNK);
	return r ? ENOMEM : 0;
}

/* The inode of a snapshot directory's parent: the dataset's directory
 * above the snapshot's root, object 0 for the root itself. */
static fuse_ino_t dotdot(const struct msnap *s, struct bk_zpl *z,
			 fuse_ino_t ino, uint64_t parent)
{
	if (!(ino & OBJ_MASK))
		return 1 + 2 * s->node;
	if (parent == bk_zpl_root(z) || !parent || parent > OBJ_MASK)
		return ino_of(s, 0);
	return ino_of(s, parent);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct odir *d = calloc(1, sizeof(*d));
	struct bk_zpl_stat zs;
	struct bk_error err;
	enum bk_code rc;
	struct bk_zpl *z;
	struct msnap *s;
	uint64_t obj;
	int e;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!(ino >> OBJ_BITS)) {
		e = node_entries(d, ino);
	} else if (!(e = resolve(ino, &s, &z, &obj, &zs))) {
		d->s = s;
		if (!S_ISDIR(zs.mode))
			e = ENOTDIR;
		else if (dir_add(d, ".", ino, DT_DIR) ||
			 dir_add(d, "..", dotdot(s, z, ino, zs.parent), DT_DIR))
			e = ENOMEM;
		else if ((rc = bk_zpl_readdir(z, obj, dir_entry, d, &err))) {
			log_once(ino, "%s: %s", s->name, err.msg);
			e = EIO;
		} else if (d->nomem) {
			e = ENOMEM;
		}
	}
	if (e) {
		dir_free(d);
		fuse_reply_err(req, e);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct odir *d = (struct odir *)(uintptr_t)fi->fh;
	char *buf;
	size_t used = 0;

	(void)ino;
	if (off < 0 || (size_t)off > d->n) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct stat st = { .st_ino = d->e[i].ino,
				   .st_mode = d->e[i].dtype << 12 };
		size_t k = fuse_add_direntry(req, buf + used, size - used,
					     d->e[i].name, &st, (off_t)i + 1);

		if (k > size - used)
			break;
		used += k;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	dir_free((struct odir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = BK_ZPL_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* ---- xattrs: those the reader finds (SA or xattr directory) ------------- */

struct xq {
	const char *want; /* getxattr: the name; listxattr: NULL */
	struct bk_buf out;
	bool found, nomem;
};

static int xattr_one(void *ctx, const char *name, const uint8_t *value,
		     size_t len)
{
	struct xq *q = ctx;
	struct bk_error err;

	if (q->want) {
		if (strcmp(name, q->want) != 0)
			return 0;
		q->found = true;
		if (bk_buf_append(&q->out, value, len, &err))
			q->nomem = true;
		return 1;
	}
	if (bk_buf_append(&q->out, name, strlen(name) + 1, &err))
		q->nomem = true;
	return q->nomem;
}

/*
 * The xattrs of ino, or one of them, into q->out.  A snapshot's top
 * directory and the dataset directories are made up: they have none.
 */
static int xattr_query(fuse_ino_t ino, struct xq *q)
{
	struct bk_error err;
	enum bk_code rc;
	struct msnap *s;
	struct bk_zpl *z;
	uint64_t obj;
	int e;

	if (!(ino >> OBJ_BITS) || !split(ino, &s, &obj) || !obj)
		return 0;
	if ((e = resolve(ino, &s, &z, &obj, NULL)))
		return e;
	if ((rc = bk_zpl_xattrs(z, obj, xattr_one, q, &err))) {
		log_once(ino, "%s: object %" PRIu64 ": xattrs: %s", s->name,
			 obj, err.msg);
		return EIO;
	}
	return q->nomem ? ENOMEM : 0;
}

/* size 0 asks for the length; a buffer too small is ERANGE (xattr(7)) */
static void reply_sized(fuse_req_t req, const struct bk_buf *b, size_t size)
{
	if (!size)
		fuse_reply_xattr(req, b->len);
	else if (b->len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)b->data, b->len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct xq q = { .want = name };
	int e;

	bk_buf_init(&q.out, BK_ZPL_XATTR_MAX);
	e = xattr_query(ino, &q);

	if (e)
		fuse_reply_err(req, e);
	else if (!q.found)
		fuse_reply_err(req, ENODATA);
	else
		reply_sized(req, &q.out, size);
	bk_buf_release(&q.out);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct xq q = { .want = NULL };
	int e;

	/* every name of one file, NUL-terminated */
	bk_buf_init(&q.out, (size_t)BK_ZPL_XATTRS_MAX * (BK_ZPL_XATTR_NAME + 1));
	e = xattr_query(ino, &q);

	if (e)
		fuse_reply_err(req, e);
	else
		reply_sized(req, &q.out, size);
	bk_buf_release(&q.out);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

/* ---- mounting and unmounting -------------------------------------------- */

static void on_kick(int sig)
{
	(void)sig; /* only interrupts the loop's read of /dev/fuse */
}

/*
 * The first SIGINT/SIGTERM/SIGHUP (main.c's signal thread): end the loop,
 * which then unmounts.  The loop sleeps in read(2) on /dev/fuse, so it is
 * woken with SIGUSR1 (no SA_RESTART), again until it has stopped, since a
 * kick can land just before the read.
 */
static void *kicker(void *arg)
{
	(void)arg;
	while (!loop_done) {
		pthread_kill(loop_thread, SIGUSR1);
		usleep(100000);
	}
	return NULL;
}

static void on_stop(int sig)
{
	pthread_t t;

	if (!g.quiet)
		fprintf(stderr, "\n%s: %s: unmounting\n", progname,
			sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM"
								  : "SIGHUP");
	if (session)
		fuse_session_exit(session);
	if (pthread_create(&t, NULL, kicker, NULL) == 0)
		pthread_detach(t);
}

static void free_all(struct mount *m)
{
	for (size_t i = 0; i < m->nsnaps; i++) {
		if (m->snaps[i].fs) {
			fs_close(m->snaps[i].fs);
			free(m->snaps[i].fs);
		}
		free(m->snaps[i].name);
		free(m->snaps[i].dir);
	}
	for (size_t i = 0; i < m->nnodes; i++) {
		free(m->nodes[i].name);
		free(m->nodes[i].kids);
		free(m->nodes[i].snaps);
	}
	free(m->snaps);
	free(m->nodes);
	free(m->byid);
}

/* Mount at mnt and serve until unmounted or stopped; an exit status. */
static int serve(const char *mnt, const char *opts)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct sigaction sa;
	struct fuse_session *se;
	size_t nsnaps = 0;
	int ret = EXIT_OK;

	for (size_t i = 0; i < M.nsnaps; i++)
		nsnaps += strchr(M.snaps[i].name, '@') != NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	sigemptyset(&sa.sa_mask);
	if (fuse_opt_add_arg(&args, progname) ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts) ||
	    sigaction(SIGUSR1, &sa, NULL)) {
		fuse_opt_free_args(&args);
		msg("out of memory");
		return EXIT_FAIL;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), &M);
	fuse_opt_free_args(&args);
	if (!se) {
		msg("cannot start a FUSE session (options %s)", opts);
		return EXIT_FAIL;
	}
	if (fuse_session_mount(se, mnt)) {
		msg("cannot mount on %s (is /dev/fuse there, and fusermount3?)",
		    mnt);
		fuse_session_destroy(se);
		return EXIT_FAIL;
	}
	loop_thread = pthread_self();
	session = se;
	stop_hook = on_stop;
	if (!g.quiet)
		fprintf(stderr, "serving %zu snapshot%s at %s; unmount with "
				"'fusermount3 -u %s' or Ctrl-C here\n",
			nsnaps, nsnaps == 1 ? "" : "s", mnt, mnt);
	if (fuse_session_loop(se) < 0 && !fuse_session_exited(se)) {
		msg("the FUSE session of %s failed", mnt);
		ret = EXIT_FAIL;
	}
	fuse_session_unmount(se);
	loop_done = 1;
	session = NULL;
	fuse_session_destroy(se);
	if (!g.quiet)
		fprintf(stderr, "unmounted %s\n", mnt);
	return ret;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pool", no_argument, NULL, 'P' },
		{ "allow-other", no_argument, NULL, 'a' },
		{ "no-default-permissions", no_argument, NULL, 'n' },
		{ "keep-open", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	bool allow_other = false, defperm = true, asked = false;
	uint64_t keep = KEEP_OPEN_DEFAULT;
	char opts[256];
	struct stat st;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'P')
			M.pool = true;
		else if (c == 'a')
			allow_other = true;
		else if (c == 'n')
			defperm = false;
		else if (c == 'k') {
			if ((ret = parse_number("--keep-open", optarg, 1,
						KEEP_OPEN_MAX, &keep)))
				return ret;
		} else
			return usage_error(self(), NULL);
	}
	if (optind != argc - 1)
		return usage_error(self(), "mount takes a mount point");
	if (stat(argv[optind], &st) || !S_ISDIR(st.st_mode)) {
		msg("%s: not a directory", argv[optind]);
		return EXIT_USAGE;
	}
	M.keep_open = (unsigned)keep;
	M.started = time(NULL);
	M.nnodes = 1;
	if (!(M.nodes = calloc(1, sizeof(*M.nodes))) ||
	    !(M.nodes[0].name = strdup(""))) {
		msg("out of memory");
		return EXIT_FAIL;
	}
	M.nodes[0].latest = SIZE_MAX;
	asked = !M.pool && ask_passphrase_once();
	ret = M.pool ? load_pool(&M) : load_repo(&M);
	if (!ret && assign_ids(&M)) {
		msg("out of memory");
		ret = EXIT_FAIL;
	}
	if (!ret) {
		set_latest(&M);
		snprintf(opts, sizeof(opts), "ro,fsname=zbak,subtype=zbak%s%s",
			 defperm ? ",default_permissions" : "",
			 allow_other ? ",allow_other" : "");
		ret = serve(argv[optind], opts);
	}
	free_all(&M);
	if (asked)
		forget_passphrase();
	return ret;
}
