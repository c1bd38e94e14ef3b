/* SPDX-License-Identifier: MIT */
/*
 * Object storage: one interface, several backends.  Keys are relative
 * '/'-separated names ("data/ab/ab12…", "snapshots/…"); values are opaque
 * bytes.  Every call is thread-safe on a shared store.
 *
 * Backends: a local directory (the embedded default; `/path` or
 * `file:///path`): put writes a temporary file in the same directory,
 * fsyncs it, renames it into place and fsyncs the directory, so an object
 * either exists whole or not at all.  S3 and S3-compatible servers
 * (`s3://bucket[/prefix]`): settings from the config file's [s3] section
 * and the AWS environment variables (libbackup/store/s3_settings.c has
 * the precedence); keys live under prefix/.
 */
#ifndef BACKUP_STORE_H
#define BACKUP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/config.h"
#include "backup/error.h"
#include "backup/export.h"

struct bk_store;

/*
 * Open the store named by url.  create: make the directory (and parents)
 * when missing; otherwise a missing location is BK_ERR_NOTFOUND.
 */
BK_EXPORT enum bk_code bk_store_open(const char *url, bool create,
				     struct bk_store **out,
				     struct bk_error *err);
/*
 * The same with a configuration (borrowed, may be NULL; only read during
 * the call).  For s3:// URLs, create also makes the bucket when it does
 * not exist; without it a missing bucket is BK_ERR_NOTFOUND.
 */
BK_EXPORT enum bk_code bk_store_open_config(const char *url, bool create,
					    const struct bk_config *cfg,
					    struct bk_store **out,
					    struct bk_error *err);
/* How many transfers are worth running at once: the number of CPUs for a
 * directory, the configured concurrency (default 8) for S3. */
/* Whether requests cost a network round trip (S3) rather than a system
 * call: callers cache what they can of a remote store. */
BK_EXPORT bool bk_store_remote(const struct bk_store *s);
BK_EXPORT unsigned bk_store_concurrency(const struct bk_store *s);
BK_EXPORT void bk_store_close(struct bk_store *s); /* NULL is fine */
/*
 * Append-only: from now on every delete is refused (BK_ERR_APPEND_ONLY)
 * and every put only creates (a put that would replace an object fails
 * with BK_ERR_EXISTS), as a credential without delete rights would
 * allow, so that a host that may not delete finds out here and not from
 * the storage half-way through.  false lifts it (an admin's run).
 */
BK_EXPORT void bk_store_set_append_only(struct bk_store *s, bool on);
BK_EXPORT bool bk_store_append_only(const struct bk_store *s);
/*
 * S3 Object Lock ([s3] object_lock): the days of retention new objects
 * get (0: none); when key's retention ends (0: none); a later end for it.
 * bk_store_delete of an object under retention is BK_ERR_RETAINED.
 */
BK_EXPORT unsigned bk_store_lock_days(const struct bk_store *s);
/*
 * Every version of every object under prefix, delete markers included
 * (marker true), where the store keeps versions (S3: a versioned bucket,
 * which Object Lock needs).  BK_ERR_UNSUPPORTED where it does not.
 */
typedef enum bk_code (*bk_store_version_fn)(void *ctx, const char *key,
					    uint64_t size, bool marker,
					    struct bk_error *err);
BK_EXPORT enum bk_code bk_store_versions(struct bk_store *s,
					 const char *prefix,
					 bk_store_version_fn fn, void *ctx,
					 struct bk_error *err);
/* A put of an object that is soon replaced or removed (locks, gc/pending):
 * never under retention, whatever the settings. */
BK_EXPORT enum bk_code bk_store_put_transient(struct bk_store *s,
					      const char *key,
					      const void *data, size_t len,
					      bool replace,
					      struct bk_error *err);
BK_EXPORT enum bk_code bk_store_retention(struct bk_store *s, const char *key,
					  uint64_t *until,
					  struct bk_error *err);
BK_EXPORT enum bk_code bk_store_retain(struct bk_store *s, const char *key,
				       uint64_t until, struct bk_error *err);
/* A description for messages ("directory /srv/backup"). */
BK_EXPORT const char *bk_store_describe(const struct bk_store *s);

/* Write key atomically (replaces an existing object). */
BK_EXPORT enum bk_code bk_store_put(struct bk_store *s, const char *key,
				    const void *data, size_t len,
				    struct bk_error *err);
/*
 * Like bk_store_put, but the object is durable only after bk_store_sync():
 * a crash before then may lose it (it is whole or absent, never partly
 * there under its name only if the file system orders data before the
 * rename, as ext4's default does; callers must check such objects).  For
 * many large objects written before one commit point (a push's packs),
 * one sync costs far less than one per object.
 */
BK_EXPORT enum bk_code bk_store_put_nosync(struct bk_store *s, const char *key,
					   const void *data, size_t len,
					   struct bk_error *err);
/* Make every earlier put_nosync durable. */
BK_EXPORT enum bk_code bk_store_sync(struct bk_store *s, struct bk_error *err);

/*
 * Write key only if it does not exist yet: BK_ERR_EXISTS otherwise.  Atomic
 * against concurrent writers of the same key (the local backend links the
 * temporary file into place).
 */
BK_EXPORT enum bk_code bk_store_put_new(struct bk_store *s, const char *key,
					const void *data, size_t len,
					struct bk_error *err);
/* Append the whole object to out (bounded by out->max); BK_ERR_NOTFOUND. */
BK_EXPORT enum bk_code bk_store_get(struct bk_store *s, const char *key,
				    struct bk_buf *out, struct bk_error *err);
/* Append bytes [off, off+len) to out; BK_ERR_FORMAT if past the end. */
BK_EXPORT enum bk_code bk_store_get_range(struct bk_store *s, const char *key,
					  uint64_t off, uint64_t len,
					  struct bk_buf *out,
					  struct bk_error *err);
/* Size of an object; BK_ERR_NOTFOUND when absent. */
/* Reads so far (get, ranged get, head and list calls) and the bytes that
 * gets returned: what a command cost, for --stats. */
BK_EXPORT void bk_store_counters(const struct bk_store *s, uint64_t *reads,
				 uint64_t *bytes);
BK_EXPORT enum bk_code bk_store_head(struct bk_store *s, const char *key,
				     uint64_t *size, struct bk_error *err);
/* Deleting an absent key is not an error. */
BK_EXPORT enum bk_code bk_store_delete(struct bk_store *s, const char *key,
				       struct bk_error *err);

/* Called for each key under a prefix, in no particular order; a non-zero
 * return stops the listing and is returned by bk_store_list. */
typedef enum bk_code (*bk_store_list_fn)(void *ctx, const char *key,
					 uint64_t size, struct bk_error *err);
/* Remove temporaries older than min_age seconds that killed writers left
 * (a directory's .tmp-* files); *removed counts them. */
BK_EXPORT enum bk_code bk_store_cleanup(struct bk_store *s, uint64_t min_age,
					uint64_t *removed,
					struct bk_error *err);
BK_EXPORT enum bk_code bk_store_list(struct bk_store *s, const char *prefix,
				     bk_store_list_fn fn, void *ctx,
				     struct bk_error *err);
/*
 * Whether the store holds anything at all: the name of one thing it holds
 * into what[0, n) (cut to fit; n at least 2), "" when it is empty.  A
 * directory: any entry (hidden files, temporaries and subdirectories too);
 * S3: any object under the prefix, whatever its name.  For init, which
 * wants an empty place.
 */
BK_EXPORT enum bk_code bk_store_find_any(struct bk_store *s, char *what,
					 size_t n, struct bk_error *err);

#endif
