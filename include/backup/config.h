/* SPDX-License-Identifier: MIT */
/*
 * The configuration file: INI (parsed by libinih), "[section]" headers and
 * "key = value" lines, ';' or '#' comments.  Bounded: at most
 * BK_CONFIG_FILE_MAX bytes and BK_CONFIG_ENTRIES_MAX entries.  A key given
 * twice in a section (its header repeated or not) is an error naming both
 * lines.  Leading blanks are ignored: there are no continuation lines.
 * Section names are case-sensitive, keys are not.
 *
 * A file that holds secrets (a key whose name contains "secret", "token"
 * or "password", with a value) and that others may read (mode o+r) is
 * refused: chmod 600 it.  Values are wiped when the config is freed.
 *
 *   [s3]
 *   endpoint = https://s3.eu-central-1.amazonaws.com
 *   region = eu-central-1
 *   secret_access_key = ...
 *
 * The sections and keys zbak reads are listed in zbak(1) and in the
 * backends (libbackup/store/s3_settings.c for [s3]).
 */
#ifndef BACKUP_CONFIG_H
#define BACKUP_CONFIG_H

#include <stddef.h>

#include "backup/error.h"
#include "backup/export.h"

#define BK_CONFIG_FILE_MAX ((size_t)1 << 20)
#define BK_CONFIG_ENTRIES_MAX 4096

struct bk_config;

/* Read and parse path; errors name the file and the line.  Caller frees
 * *out with bk_config_free(). */
BK_EXPORT enum bk_code bk_config_load(const char *path,
				      struct bk_config **out,
				      struct bk_error *err);
/* Parse text[0, len) (need not be NUL-terminated); name is used in
 * messages.  No permission check (there is no file). */
BK_EXPORT enum bk_code bk_config_parse(const char *text, size_t len,
				       const char *name,
				       struct bk_config **out,
				       struct bk_error *err);
BK_EXPORT void bk_config_free(struct bk_config *c); /* NULL is fine */
/* The value of key in section, or NULL (also when c is NULL).  Borrowed:
 * valid until bk_config_free(c). */
BK_EXPORT const char *bk_config_get(const struct bk_config *c,
				    const char *section, const char *key);
/* True when the config has a section of that name (with keys or not). */
BK_EXPORT int bk_config_has_section(const struct bk_config *c,
				    const char *section);
/*
 * Enumerate: the sections, in the order of their first header (a section
 * without keys included; keys before any header belong to section "",
 * which is not listed), and
 * the keys of one section in the order they appear.  Index-based, for
 * loops such as
 *
 *   for (size_t i = 0; i < bk_config_section_count(c); i++)
 *           use(bk_config_section(c, i));
 *
 * Out of range (or c NULL): NULL.  Strings are borrowed, valid until
 * bk_config_free(c).
 */
BK_EXPORT size_t bk_config_section_count(const struct bk_config *c);
BK_EXPORT const char *bk_config_section(const struct bk_config *c, size_t i);
BK_EXPORT size_t bk_config_key_count(const struct bk_config *c,
				     const char *section);
/* The i-th key of section (as written in the file), its value in *value
 * (may be NULL). */
BK_EXPORT const char *bk_config_key(const struct bk_config *c,
				    const char *section, size_t i,
				    const char **value);
/* $ZBAK_CONFIG when set and non-empty, else SYSCONFDIR/zbak/zbak.conf
 * (/etc/zbak/zbak.conf) when that file exists, else NULL.  Borrowed. */
BK_EXPORT const char *bk_config_default_path(void);

#endif
