/* SPDX-License-Identifier: MIT */
/*
 * Progress of the commands that move data (push, restore, backup, verify
 * --read-data), on stderr: one line redrawn in place, or with --json one
 * status object per line (zbak(1), "PROGRESS").  The library reports bytes
 * through a bk_progress_fn; only this file draws them.  And the closing
 * JSON object those commands (and gc, forget) print with --json.
 */
#ifndef ZBAK_PROGRESS_H
#define ZBAK_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/buf.h"
#include "backup/repo.h"

/* --progress, --no-progress, or neither (auto: stderr a terminal, no -q) */
enum progress_mode { PROGRESS_AUTO, PROGRESS_ON, PROGRESS_OFF };

/* The getopt_long entries of the two switches, and their codes. */
#define PROGRESS_OPT_ON 0x1001
#define PROGRESS_OPT_OFF 0x1002
#define PROGRESS_LONGOPTS                                                      \
	{ "progress", no_argument, NULL, PROGRESS_OPT_ON },                    \
	{ "no-progress", no_argument, NULL, PROGRESS_OPT_OFF }

struct progress {
	bool on;          /* drawn at all */
	bool json;        /* status lines, not one line redrawn */
	bool shown;       /* a text line is on the screen */
	const char *command;
	char label[BK_REPO_NAME_MAX]; /* the snapshot moved, or "" */
	uint64_t total;   /* the bytes of the whole operation; 0: unknown */
	uint64_t base;    /* done by earlier parts (restore --to's streams) */
	uint64_t done;
	double t0, last;
};

/* Whether progress is drawn in this mode (and -q). */
bool progress_wanted(enum progress_mode m);
/* Start the clock; nothing is drawn unless progress_wanted(m). */
void progress_start(struct progress *p, enum progress_mode m, bool json,
		    const char *command, const char *label, uint64_t total);
/* done (after base) bytes of the total; drawn at most 4 times a second
 * (text) or once a second (JSON). */
void progress_update(struct progress *p, uint64_t done);
/* The last word of a part that succeeded: drawn whatever the time (so a
 * known total ends at 100%); base moves past it for the next part. */
void progress_part_done(struct progress *p, uint64_t done);
/* Take the text line off the screen (before other output, and at the
 * end); msg() does it itself. */
void progress_clear(struct progress *p);
/* The one being drawn (msg() clears it first); NULL after it ended. */
void progress_hide_active(void);
void progress_end(struct progress *p);

/* bk_progress_fn adapters, ctx a struct progress: push and backup report
 * (bytes read, bytes added); restore and verify (bytes done, their total),
 * the total taken unless the command set its own (restore --to). */
void progress_cb_push(void *ctx, uint64_t done, uint64_t added);
void progress_cb_total(void *ctx, uint64_t done, uint64_t total);

/*
 * The closing JSON object of push, restore, verify, gc, forget:
 * {"message_type":"summary","command":C,"ok":B,"exit":N, ...}.
 * json_begin writes the head into b (the caller adds ",\"key\":..."
 * fields); json_end closes it and writes it to f, or, when adding the
 * fields failed (built), says so and writes nothing.  json_failure writes
 * the object of a failure, with the error (the last msg() when NULL).
 */
enum bk_code json_begin(struct bk_buf *b, const char *command, int exit);
int json_end(struct bk_buf *b, enum bk_code built, FILE *f, int exit);
int json_failure(FILE *f, const char *command, int exit, const char *error);

#endif
