/* SPDX-License-Identifier: MIT */
/* Shared bits of the command line: exit codes, messages, the command table
 * (main.c), the helpers every command uses (cli.c), passphrases (secret.c). */
#ifndef ZBAK_CLI_H
#define ZBAK_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/error.h"
#include "backup/repo.h"

/* Exit statuses (documented in zbak(1)); stable. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* an error not covered below */
	EXIT_USAGE = 2,     /* bad command line */
	EXIT_VERIFY = 3,    /* data failed verification (stream, checksum, rule) */
	EXIT_STORAGE = 4,   /* repository or storage unreachable */
	EXIT_PARTIAL = 5,   /* some items of a run failed, others succeeded */
	EXIT_TARGET = 6,    /* restore --to: the target or its receiver refused */
	EXIT_PASSPHRASE = 12, /* the passphrase does not open the keys (restic's 12) */
	EXIT_LOCKED = 75,   /* another run holds the lock (EX_TEMPFAIL) */
};

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage; /* one or more lines, no trailing newline */
	bool hidden;       /* not listed in "zbak help" */
};

extern const char *progname;

/* "zbak: message" on stderr (a progress line taken off first). */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The text of the last msg() ("" before any): a JSON object's "error". */
const char *last_message(void);
/* Print usage of a command and return EXIT_USAGE. */
int usage_error(const struct cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const struct cmd *find_cmd(const char *name);
/* Map a library error code to an exit status. */
int exit_for(enum bk_code code);

/* Global options (before the command). */
struct global {
	const char *repo;     /* -r; else $ZBAK_REPO */
	const char *passfile; /* --passphrase-file */
	const char *passcmd;  /* --passphrase-command */
	const char *config;   /* --config; else bk_config_default_path() */
	bool quiet;           /* -q: no progress, no summary */
	const char *pool_dir; /* --pool-dir; else $ZBAK_POOL_DIR, [pool] dir */
	bool admin;           /* --admin: this run may delete (append-only) */
};
extern struct global g;

struct secret {
	char buf[1024];
	size_t len;
};

void secret_wipe(struct secret *s);
/* Echo back on, when a passphrase prompt turned it off (an interrupt). */
void tty_restore(void);
/* From file (first line), else command (the first line it prints), else
 * $env, else a prompt on the terminal (twice when asked).  One rule for each (secret.c): 1 to 1023 bytes, no NUL, no
 * line break; a file must be a regular file or a pipe that group and
 * others cannot open (mode 0600).  -1 with a message naming the source when
 * there is none or it breaks the rule (the caller exits 2). */
int get_passphrase(const char *env, const char *file, const char *command,
		   bool twice, const char *what, struct secret *s);
/* -r, $ZBAK_REPO, or repository in the config's [zbak] section; NULL
 * (and a message) when none. */
const char *repo_url(void);
/*
 * Where the repository passphrase comes from, first found: --passphrase-file,
 * --passphrase-command, $ZBAK_PASSPHRASE, $ZBAK_PASSPHRASE_COMMAND,
 * $ZBAK_PASSPHRASE_FILE, the systemd credential zbak-passphrase
 * ($CREDENTIALS_DIRECTORY/zbak-passphrase), passphrase_file in the config
 * (the [zbak] section, or a job's), the terminal.  passphrase_command() is the command when it
 * is the one, else NULL; passphrase_env_file() the file of the flag or of
 * $ZBAK_PASSPHRASE_FILE when that is the one, else NULL (and *decided
 * true when something before the config's file is the source).
 */
const char *passphrase_command(void);
const char *passphrase_env_file(bool *decided);
/* passphrase_env_file, else the config's [zbak] passphrase_file. */
const char *passphrase_file(void);
/* The config file (--config, $ZBAK_CONFIG, /etc/zbak/zbak.conf), *out
 * NULL when there is none; an exit status (with a message). */
int load_config(struct bk_config **out);
/* Open and unlock the repository; an exit status. */
int open_repo(struct bk_repo **out);
/* "64M" -> 67108864 (bk_parse_size: K/M/G/T, optional iB): 0 or -1. */
int parse_size(const char *s, uint64_t *out);
/*
 * A whole number of an option or an environment variable (what: "--threads",
 * "ZBAK_LOCK_WAIT"): decimal digits only (bk_parse_uint), from min to max.
 * EXIT_OK, or EXIT_USAGE with a message naming what, the value and the
 * range.  Every number zbak takes from argv or the environment goes
 * through it (or parse_size): nothing wraps, nothing defaults silently.
 */
int parse_number(const char *what, const char *s, uint64_t min, uint64_t max,
		 uint64_t *out);

/* The ranges of the numbers above (documented in zbak(1)). */
#define THREADS_MAX 256u                       /* --threads: 1 .. */
#define GC_MARGIN_MAX (10ull * 365 * 86400)    /* --margin: 0 .. ten years */
#define LOCK_WAIT_MAX (7ull * 86400)           /* ZBAK_*LOCK_WAIT: a week */
/*
 * Every size zbak prints for people: IEC units, 1024-based, two decimals
 * ("1.50 GiB", "512 B"); JSON gives exact bytes (zbak(1), "SIZES").
 */
void human_bytes(uint64_t n, char *out, size_t len);
/* n bytes over seconds, the same way: "240.12 MiB/s" */
void human_rate(uint64_t n, double seconds, char *out, size_t len);

int cmd_inspect(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_config(int argc, char **argv);
/* 0, or (said) EXIT_FAIL when r is append-only and this run is no admin
 * run: what names what the command would delete. */
int need_admin(struct bk_repo *r, const char *what);
int cmd_key(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_debug_store(int argc, char **argv);
int cmd_debug_recompress(int argc, char **argv);
unsigned zbak_zio_compress(const char *name);
int cmd_debug_gen_zpl(int argc, char **argv); /* cmd_genzpl.c */
int cmd_pool(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_unlock(int argc, char **argv);
int cmd_repair(int argc, char **argv);
int cmd_accept(int argc, char **argv);
int cmd_files(int argc, char **argv);
/* When set, called (from the signal thread) on the first SIGINT, SIGTERM
 * or SIGHUP instead of exiting (main.c); a second signal exits at once. */
extern void (*volatile stop_hook)(int sig);

struct bk_lpool;
/* The local pool's directory: --pool-dir, $ZBAK_POOL_DIR, the config's
 * [pool] dir, else the per-user default; NULL when it does not fit. */
const char *pool_dir(char *buf, size_t n);
/* Open the local pool (create: make the directory); an exit status. */
int open_lpool(struct bk_lpool **out, bool create);

#endif
