/* SPDX-License-Identifier: MIT */
/*
 * Private: the backend interface behind include/backup/store.h.
 *
 * store.c parses the URL, validates every key and prefix (so backends only
 * ever see relative, '/'-separated names of allowed characters, without
 * empty, "." or ".." components and without the reserved ".tmp-" prefix),
 * and dispatches through the ops table.  A backend fills in a struct
 * bk_store (ops, its private state, a description) from its open function.
 *
 * Every op must be thread-safe on a shared store.  Error messages name the
 * operation and the key ("put data/ab/x: No space left on device").
 */
#ifndef BACKUP_STORE_IMPL_H
#define BACKUP_STORE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/store.h"

struct bk_store_ops {
	/* Frees priv (not the struct bk_store, not desc). */
	void (*close)(void *priv);
	/* flags: BK_PUT_REPLACE (else put_new semantics: BK_ERR_EXISTS),
	 * BK_PUT_NOSYNC (durable only after sync; backends whose writes
	 * are durable when acknowledged ignore it). */
	enum bk_code (*put)(void *priv, const char *key, const void *data,
			    size_t len, unsigned flags, struct bk_error *err);
	/* Make every earlier NOSYNC put durable; NULL when nothing to do. */
	enum bk_code (*sync)(void *priv, struct bk_error *err);
	/* whole: ignore off/len and append the whole object.  Otherwise
	 * [off, off+len) must lie within the object (BK_ERR_FORMAT).  The
	 * result must fit in out->max (BK_ERR_LIMIT) before reading. */
	enum bk_code (*get)(void *priv, const char *key, bool whole,
			    uint64_t off, uint64_t len, struct bk_buf *out,
			    struct bk_error *err);
	enum bk_code (*head)(void *priv, const char *key, uint64_t *size,
			     struct bk_error *err);
	/* Absent keys are not an error. */
	enum bk_code (*del)(void *priv, const char *key, struct bk_error *err);
	/* prefix is a plain string prefix of keys ("" for all). */
	enum bk_code (*list)(void *priv, const char *prefix,
			     bk_store_list_fn fn, void *ctx,
			     struct bk_error *err);
	/* Remove the backend's temporaries older than min_age seconds
	 * (uploads a killed process left); NULL when it has none. */
	enum bk_code (*cleanup)(void *priv, uint64_t min_age, uint64_t *removed,
				struct bk_error *err);
	/* The name of one thing the store holds, raw (not only the names
	 * list reports), into what[0, n); "" when there is none. */
	enum bk_code (*any)(void *priv, char *what, size_t n,
			    struct bk_error *err);
	/* Object Lock (NULL where there is none): when an object's
	 * retention ends (0: none), and a new end for it. */
	enum bk_code (*retention)(void *priv, const char *key,
				  uint64_t *until, struct bk_error *err);
	enum bk_code (*retain)(void *priv, const char *key, uint64_t until,
			       struct bk_error *err);
	/* Every version under prefix (NULL where the store keeps none). */
	enum bk_code (*versions)(void *priv, const char *prefix,
				 bk_store_version_fn fn, void *ctx,
				 struct bk_error *err);
};

struct bk_store {
	const struct bk_store_ops *ops;
	void *priv;
	char *desc; /* malloc'ed, freed by bk_store_close */
	unsigned concurrency; /* 0: the number of CPUs */
	bool remote;          /* requests cost a round trip (S3) */
	bool append_only;     /* bk_store_set_append_only: no delete, no overwrite */
	unsigned lock_days;   /* Object Lock retention of new objects, or 0 */
	/* reads (get, head, list calls) and bytes got: bk_store_counters */
	_Atomic uint64_t reads, read_bytes;
};

#define BK_PUT_REPLACE 1u
#define BK_PUT_NOSYNC 2u
#define BK_PUT_TRANSIENT 4u /* no Object Lock retention: small, soon gone */

/* Longest key or prefix accepted, in bytes. */
#define BK_STORE_KEY_MAX 1024
/* Names beginning with this are a backend's temporaries, never keys. */
#define BK_STORE_TMP_PREFIX ".tmp-"

/*
 * The local directory backend.  path: absolute or relative directory.
 * Fills s (ops, priv, desc) on success.
 */
enum bk_code bk_store_local_open(const char *path, bool create,
				 struct bk_store *s, struct bk_error *err);

/*
 * The S3 backend (s3.c).  rest: the URL after "s3://".  cfg may be NULL.
 */
enum bk_code bk_store_s3_open(const char *rest, bool create,
			      const struct bk_config *cfg, struct bk_store *s,
			      struct bk_error *err);

/* True when name is one path component a key may contain. */
bool bk_store_component_ok(const char *name, size_t len);

#endif
