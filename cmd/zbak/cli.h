/* SPDX-License-Identifier: MIT */
/* Shared bits of the command line: exit codes, messages, the command table. */
#ifndef ZBAK_CLI_H
#define ZBAK_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "backup/error.h"

/* Exit statuses (documented in zbak(1)); stable. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* an error not covered below */
	EXIT_USAGE = 2,     /* bad command line */
	EXIT_VERIFY = 3,    /* data failed verification (stream, checksum, rule) */
	EXIT_STORAGE = 4,   /* repository or storage unreachable */
	EXIT_PARTIAL = 5,   /* some items of a run failed, others succeeded */
};

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage; /* one or more lines, no trailing newline */
	bool hidden;       /* not listed in "zbak help" */
};

extern const char *progname;

/* "zbak: message" on stderr. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print usage of a command and return EXIT_USAGE. */
int usage_error(const struct cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const struct cmd *find_cmd(const char *name);
/* Map a library error code to an exit status. */
int exit_for(enum bk_code code);

int cmd_inspect(int argc, char **argv);
int cmd_debug(int argc, char **argv);

#endif
