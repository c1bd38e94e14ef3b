/* SPDX-License-Identifier: MIT */
/* zbak: the command line.  One table of subcommands; each lives in cmd_<verb>.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *progname = "zbak";

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct cmd commands[] = {
	{ "inspect", cmd_inspect,
	  "zbak inspect [-v] [--validate] [--json] FILE|-\n"
	  "    check a send stream (every trailer and END checksum) and describe it\n"
	  "    -v          BEGIN fields, one line per record and a summary, as zstream dump -v\n"
	  "    --validate  also apply the receiver's rules to every record\n"
	  "    --json      one JSON object: ok, length, substreams, records, errors",
	  false },
	{ "debug", cmd_debug,
	  "zbak debug gen [options]   write a synthetic send stream to stdout (see zbak(1))",
	  true },
	{ "help", cmd_help, "zbak help [COMMAND]", false },
	{ "version", cmd_version, "zbak version", false },
};

void msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fprintf(stderr, "%s: ", progname);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (c)
		fprintf(stderr, "usage: %s\n", c->usage);
	return EXIT_USAGE;
}

const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int exit_for(enum bk_code code)
{
	switch (code) {
	case BK_OK: return EXIT_OK;
	case BK_ERR_USAGE: return EXIT_USAGE;
	case BK_ERR_TRUNCATED:
	case BK_ERR_CHECKSUM:
	case BK_ERR_FORMAT:
	case BK_ERR_RULE:
	case BK_ERR_LIMIT: return EXIT_VERIFY;
	default: return EXIT_FAIL;
	}
}

static void list_commands(FILE *f)
{
	fprintf(f, "usage: zbak COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!commands[i].hidden)
			fprintf(f, "%s\n", commands[i].usage);
	fprintf(f, "\nSee zbak(1) for details.\n");
}

static int cmd_help(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		list_commands(stdout);
		return EXIT_OK;
	}
	c = find_cmd(argv[1]);
	if (!c)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	printf("usage: %s\n", c->usage);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("zbak %s\n", ZBAK_VERSION);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		list_commands(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv);
	c = find_cmd(argv[1]);
	if (!c)
		return usage_error(NULL, "unknown command '%s' (try 'zbak help')",
				   argv[1]);
	return c->fn(argc - 1, argv + 1);
}
