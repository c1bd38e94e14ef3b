/* SPDX-License-Identifier: MIT */
/*
 * Progress on stderr and the closing JSON object (progress.h).  The text
 * line is restic's: elapsed time, percent and bytes of the total when it is
 * known, the rate, the time left.  Throttled here, not in the library, so
 * that the library can report as often as it likes and stay silent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup/clock.h"
#include "cli.h"
#include "progress.h"

/* at most this often: a redrawn line faster than this is only flicker, a
 * JSON line more often than each second only volume */
#define TEXT_EVERY 0.25
#define JSON_EVERY 1.0

static struct progress *active;

bool progress_wanted(enum progress_mode m)
{
	if (m == PROGRESS_ON)
		return true;
	if (m == PROGRESS_OFF || g.quiet)
		return false;
	return isatty(STDERR_FILENO);
}

void progress_start(struct progress *p, enum progress_mode m, bool json,
		    const char *command, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = progress_wanted(m);
	p->json = json;
	p->command = command;
	snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
	p->total = total;
	p->t0 = bk_mono();
	p->last = -1e9; /* the first update is drawn at once */
	if (p->on)
		active = p;
}

/* "1:05" or "2:01:05" */
static void clock_time(double s, char *out, size_t n)
{
	uint64_t t = s > 0 ? (uint64_t)(s + 0.5) : 0;

	if (t >= 3600)
		snprintf(out, n, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			 t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%" PRIu64 ":%02" PRIu64, t / 60, t % 60);
}

static void draw_text(struct progress *p, uint64_t done, double el)
{
	char line[BK_REPO_NAME_MAX + 200], a[32], b[32], r[40], t[64], e[64];
	size_t k = 0;

	clock_time(el, t, sizeof(t));
	human_bytes(done, a, sizeof(a));
	human_rate(done, el, r, sizeof(r));
	k += (size_t)snprintf(line, sizeof(line), "[%s] ", t);
	if (p->label[0])
		k += (size_t)snprintf(line + k, sizeof(line) - k, "%s: ",
				      p->label);
	if (p->total) {
		double f = done >= p->total ? 1.0
					    : (double)done / (double)p->total;

		human_bytes(p->total, b, sizeof(b));
		k += (size_t)snprintf(line + k, sizeof(line) - k,
				      "%.1f%% %s of %s", 100.0 * f, a, b);
	} else {
		k += (size_t)snprintf(line + k, sizeof(line) - k, "%s", a);
	}
	k += (size_t)snprintf(line + k, sizeof(line) - k, ", %s", r);
	if (p->total && done && done < p->total && el > 0) {
		clock_time(el * (double)(p->total - done) / (double)done, e,
			   sizeof(e));
		snprintf(line + k, sizeof(line) - k, ", ETA %s", e);
	}
	/* \033[K: a shorter line leaves nothing of the longer one */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->shown = true;
}

static void draw_json(struct progress *p, uint64_t done, double el)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc;

	bk_buf_init(&b, 4096);
	rc = bk_buf_printf(&b, &err,
			   "{\"message_type\":\"status\",\"command\":\"%s\"",
			   p->command);
	if (!rc && p->label[0]) {
		rc = bk_buf_printf(&b, &err, ",\"snapshot\":");
		if (!rc)
			rc = bk_buf_json_str(&b, p->label, &err);
	}
	if (!rc)
		rc = bk_buf_printf(&b, &err,
				   ",\"seconds_elapsed\":%.3f,\"bytes_done\":%" PRIu64,
				   el, done);
	if (!rc && p->total)
		rc = bk_buf_printf(
			&b, &err,
			",\"total_bytes\":%" PRIu64 ",\"percent_done\":%.4f",
			p->total,
			done >= p->total ? 1.0 : (double)done / (double)p->total);
	if (!rc && p->total && done && el > 0)
		rc = bk_buf_printf(&b, &err, ",\"seconds_remaining\":%.3f",
				   done >= p->total ? 0.0
						    : el * (double)(p->total - done) /
							      (double)done);
	if (!rc)
		rc = bk_buf_printf(&b, &err, "}\n");
	if (!rc) {
		fwrite(b.data, 1, b.len, stderr);
		fflush(stderr);
	}
	bk_buf_release(&b);
}

static void draw(struct progress *p, bool always)
{
	double now = bk_mono();

	if (!p->on ||
	    (!always && now - p->last < (p->json ? JSON_EVERY : TEXT_EVERY)))
		return;
	p->last = now;
	if (p->json)
		draw_json(p, p->base + p->done, now - p->t0);
	else
		draw_text(p, p->base + p->done, now - p->t0);
}

void progress_update(struct progress *p, uint64_t done)
{
	p->done = done;
	draw(p, false);
}

void progress_part_done(struct progress *p, uint64_t done)
{
	p->done = done;
	draw(p, true);
	p->base += done;
	p->done = 0;
}

void progress_clear(struct progress *p)
{
	if (p->shown) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
		p->shown = false;
	}
}

void progress_hide_active(void)
{
	if (active)
		progress_clear(active);
}

void progress_end(struct progress *p)
{
	progress_clear(p);
	if (active == p)
		active = NULL;
	p->on = false;
}

void progress_cb_push(void *ctx, uint64_t done, uint64_t added)
{
	/* what a push added so far counts only the packs already uploaded:
	 * too far behind to be worth showing */
	(void)added;
	progress_update(ctx, done);
}

void progress_cb_total(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	/* restore --to set the chain's total: a stream's is a part of it */
	if (!p->base && !p->total)
		p->total = total;
	progress_update(p, done);
}

enum bk_code json_begin(struct bk_buf *b, const char *command, int exit)
{
	struct bk_error err;

	bk_buf_init(b, 1u << 20);
	return bk_buf_printf(b, &err,
			     "{\"message_type\":\"summary\",\"command\":\"%s\","
			     "\"ok\":%s,\"exit\":%d",
			     command, exit ? "false" : "true", exit);
}

int json_end(struct bk_buf *b, enum bk_code built, FILE *f, int exit)
{
	struct bk_error err;
	enum bk_code rc = built ? built : bk_buf_printf(b, &err, "}\n");

	if (!rc && (fwrite(b->data, 1, b->len, f) != b->len || fflush(f)))
		rc = BK_ERR_IO;
	bk_buf_release(b);
	if (rc) {
		msg(rc == BK_ERR_IO ? "writing the JSON failed"
				    : "out of memory");
		return exit ? exit : EXIT_FAIL;
	}
	return exit;
}

int json_failure(FILE *f, const char *command, int exit, const char *error)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, command, exit);

	if (!error)
		error = last_message();
	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"error\":");
	if (!rc && error[0])
		rc = bk_buf_json_str(&b, error, &err);
	else if (!rc)
		rc = bk_buf_printf(&b, &err, "null");
	if (rc) { /* a failure already said: no second message */
		bk_buf_release(&b);
		return exit;
	}
	return json_end(&b, BK_OK, f, exit);
}
