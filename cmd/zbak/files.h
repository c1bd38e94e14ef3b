/* SPDX-License-Identifier: MIT */
/*
 * The file system of one snapshot, as the file commands open it
 * (cmd_files.c), for the commands that read files without being one of
 * `zbak files` (cmd_mount.c).  struct fs stays opaque: how a snapshot is
 * opened (a local pool, a repository's chain) is cmd_files.c's business.
 */
#ifndef ZBAK_FILES_H
#define ZBAK_FILES_H

#include <stdbool.h>

struct bk_zpl;
struct fs;

/* A closed struct fs (NULL: out of memory); free() it after fs_close. */
struct fs *fs_alloc(void);
/* Open snapshot or dataset `name` of the local pool (pool), else snapshot
 * `name` of the repository; an exit status (and a message on stderr). */
int fs_open(const char *name, bool pool, struct fs *f);
void fs_close(struct fs *f);
/* The reader of an open fs. */
struct bk_zpl *fs_zpl(struct fs *f);

int cmd_mount(int argc, char **argv);

#endif
