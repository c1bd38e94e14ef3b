/* SPDX-License-Identifier: MIT */
/* zbak: the command line.  One table of subcommands; each lives in cmd_<verb>.c. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/drr.h"
#include "backup/job.h"
#include "cli.h"
#include "files.h"

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
	{ "init", cmd_init,
	  "zbak -r REPO init [--append-only] [--format N] [--cipher NAME]\n"
	  "    create a repository (a directory or file:///path) and its keys\n"
	  "    --append-only  hosts never delete or overwrite; only --admin runs do\n"
	  "    --format N     repository format: 2 (default), or 1 for zbak before 2\n"
	  "    --cipher NAME  aes-256-gcm (default with AES instructions) or\n"
	  "                   xchacha20-poly1305 (default without; format 1's only)",
	  false },
	{ "config", cmd_config,
	  "zbak -r REPO config [append_only [yes|no]]\n"
	  "    show the repository's settings, or set one (append_only: once on,\n"
	  "    only an --admin run turns it off)",
	  false },
	{ "key", cmd_key,
	  "zbak -r REPO key passwd\n"
	  "    change the passphrase (new one from $ZBAK_NEW_PASSPHRASE,\n"
	  "    --new-passphrase-file FILE or a prompt); no data is rewritten",
	  false },
	{ "push", cmd_push,
	  "zbak -r REPO push [--name pool/fs@snap] [--threads N] [--json]\n"
	  "    [--progress|--no-progress] [FILE|-]\n"
	  "    store a send stream (default: standard input)",
	  false },
	{ "restore", cmd_restore,
	  "zbak -r REPO restore pool/fs@snap [-o FILE [--force]] [--threads N]\n"
	  "    [--json] [--progress|--no-progress]\n"
	  "    write the stored stream, byte for byte, verified\n"
	  "zbak -r REPO restore pool/fs@snap --to pool/fs [-F] [--receiver auto|zfs|local]\n"
	  "    [--json] [--progress|--no-progress]\n"
	  "    receive the chain that ends in the snapshot (from the target's newest\n"
	  "    snapshot of it, or from a full stream) into a dataset, with zfs receive\n"
	  "    or the local pool; each stream is verified before it is committed",
	  false },
	{ "ls", cmd_ls,
	  "zbak -r REPO ls [--json] [DATASET|DATASET@SNAP...]\n"
	  "    list stored snapshots by dataset (only those named, if any)",
	  false },
	{ "stats", cmd_stats,
	  "zbak -r REPO stats [--json]\n"
	  "    repository totals: snapshots, stream bytes, stored bytes, packs,\n"
	  "    chunks, the ratio of the two (dedup and compression), per dataset",
	  false },
	{ "verify", cmd_verify,
	  "zbak -r REPO verify [--read-data[[=]PERCENT]] [--json] [--progress|--no-progress]\n"
	  "    check manifests, recipes, indexes and chains; with --read-data\n"
	  "    also download and authenticate the data",
	  false },
	{ "backup", cmd_backup,
	  "zbak backup [--config FILE] [--dry-run] [--json] [--progress|--no-progress] [JOB...]\n"
	  "    the nightly job: per dataset of each [job] of the config, a snapshot,\n"
	  "    sent incrementally from the newest one stored (or full), pushed, held",
	  false },
	{ "prune", cmd_prune,
	  "zbak prune [--config FILE] [--dry-run] [--json] [--no-gc] [JOB...]\n"
	  "    apply each job's keep_* retention: forget what it does not keep\n"
	  "    (never what a kept snapshot needs), then collect garbage",
	  false },
	{ "forget", cmd_forget,
	  "zbak -r REPO forget [--dry-run] [--json] pool/fs@snap ...\n"
	  "    delete snapshots (whole chains: a kept snapshot keeps its source);\n"
	  "    their data goes at the next gc",
	  false },
	{ "gc", cmd_gc,
	  "zbak -r REPO gc [--dry-run] [--margin SECONDS] [--repack PERCENT] [-v] [--json]\n"
	  "    remove chunks, packs and recipes no snapshot references; repack packs\n"
	  "    over PERCENT (50) garbage; garbage younger than the margin (3600 s) stays",
	  false },
	{ "pool", cmd_pool,
	  "zbak [--pool-dir DIR] pool SUBCOMMAND ...   the local pool (datasets in a directory)\n"
	  "    create [-p] NAME                 a pool (NAME without '/') or a dataset\n"
	  "    list [-H] [-p] [-r] [-o PROPS] [-t filesystem|snapshot|all] [--json] [NAME]\n"
	  "                                     PROPS: name,type,guid,createtxg,creation,referenced,objects,origin,userrefs\n"
	  "    snapshot [-r] DATASET@SNAP       rollback [-r] DATASET@SNAP   destroy [-r] [-R] NAME\n"
	  "    write [-b BLKSZ] DATASET OBJECT OFFSET < DATA\n"
	  "    free DATASET OBJECT [OFFSET LENGTH|end]\n"
	  "    recv [-F] [-v] DATASET < STREAM  receive a send stream (all or nothing)\n"
	  "    send [-i @FROM] [-v] DATASET@SNAP > STREAM\n"
	  "    diff [-d OTHER_POOL_DIR] A B     compare two snapshots' or datasets' data\n"
	  "    hold TAG SNAP   release TAG SNAP   holds [-H] SNAP...   user holds, as zfs has them",
	  false },
	{ "files", cmd_files,
	  "zbak [-r REPO | --pool-dir DIR] files SUBCOMMAND ...   the files of a snapshot, without ZFS\n"
	  "    ls [-l] [-R] [--json] [--pool] POOL/FS@SNAP [PATH]   list a directory (-R: the tree below)\n"
	  "    cat [--pool] POOL/FS@SNAP PATH                       one file to stdout (also: dump)\n"
	  "    extract [--pool] -t DIR POOL/FS@SNAP [PATH]           a file or a tree into DIR (also: restore)\n"
	  "    --pool: a snapshot (or dataset) of the local pool; else the repository's\n"
	  "    snapshot, read in place: only the chunks of what is read are fetched\n"
	  "    (its map is cached: --no-cache to neither read nor write it; --stats:\n"
	  "    store reads and bytes fetched, on stderr)",
	  false },
	{ "mount", cmd_mount,
	  "zbak [-r REPO | --pool-dir DIR] mount [--pool] [--allow-other] [--no-default-permissions]\n"
	  "           [--keep-open N] MOUNTPOINT\n"
	  "    every snapshot as a read-only FUSE file system, until unmounted\n"
	  "    (fusermount3 -u MOUNTPOINT) or interrupted: MOUNTPOINT/POOL/FS/@SNAP/...,\n"
	  "    @latest (the newest), with --pool the local pool (and @current)\n"
	  "    --keep-open N  snapshots kept open at once (default 4)",
	  false },
	{ "debug", cmd_debug,
	  "zbak debug gen [options]   write a synthetic send stream to stdout (see zbak(1))\n"
	  "zbak debug gen-zpl [--zpl 4|5] [options] DIR   DIR's tree as a ZPL file system's stream\n"
	  "zbak debug store ls|get|put|rm|head URL [KEY]   inspect or damage a store's objects\n"
	  "zbak debug content [FILE|-]   what a stream carries, as sorted lines (to compare streams)\n"
	  "zbak debug recompress ALG [FILE|-]   a stream's WRITEs as zfs send -c of an ALG pool sends them",
	  true },
	{ "accept-changes", cmd_accept,
	  "zbak -r REPO accept-changes\n"
	  "    after a change zbak never makes (a snapshot deleted or replaced by hand,\n"
	  "    an old manifest or key file put back), which every command refuses:\n"
	  "    show each one and accept the repository as it is now",
	  false },
	{ "repair", cmd_repair,
	  "zbak -r REPO repair [--read-data] [--dry-run]\n"
	  "    rebuild the index from the packs (with --read-data, authenticating\n"
	  "    every chunk) and name the snapshots that are broken, with what heals them",
	  false },
	{ "unlock", cmd_unlock,
	  "zbak -r REPO unlock [--remove-all]\n"
	  "    remove the locks of zbak processes that are gone (not running on this\n"
	  "    machine, or seen unchanged here for 30 minutes); --remove-all: every lock",
	  false },
	{ "help", cmd_help, "zbak help [COMMAND]", false },
	{ "version", cmd_version, "zbak version", false },
};

const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/*
 * The numbers zbak reads from the environment (the library reads them where
 * it needs them), checked once before any command runs: a typo is an error,
 * not a silent default or a wrapped value.  Test hooks are not listed.
 */
static int check_env_numbers(void)
{
	static const char *const vars[] = { "ZBAK_LOCK_WAIT",
					    "ZBAK_POOL_LOCK_WAIT" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		uint64_t n;
		int ret;

		if (v && (ret = parse_number(vars[i], v, 0, LOCK_WAIT_MAX, &n)))
			return ret;
	}
	return EXIT_OK;
}

static void list_commands(FILE *f)
{
	fprintf(f, "usage: zbak [-r REPO] [--config FILE] [--passphrase-file FILE] "
		   "[--passphrase-command CMD]\n            [--pool-dir DIR] [-q] [--admin] "
		   "COMMAND [ARGS]\n\ncommands:\n");
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
	printf("fletcher-4: %s\n", bk_fletcher4_impl());
	return EXIT_OK;
}

/*
 * SIGINT, SIGTERM and SIGHUP: blocked in every thread and taken by one of
 * their own, which lets go of the repository locks and exits with 128 +
 * the signal, so that an interrupted or stopped zbak (^C, systemctl stop)
 * leaves no lock that blocks the next run.  Letting go may take a round
 * trip to the storage (another thread does it); a second signal exits at
 * once.  The zfs children get the default handling back (libbackup/zfs).
 * A command that must end its own way (zbak mount: unmount) sets
 * stop_hook, which takes the first signal instead.
 */
static sigset_t stop_signals;
void (*volatile stop_hook)(int sig);

static void *let_go_and_exit(void *arg)
{
	bk_repo_release_locks();
	_exit(128 + (int)(intptr_t)arg);
}

static void *on_stop_signals(void *arg)
{
	int sig, seen = 0;

	(void)arg;
	for (;;) {
		pthread_t t;

		if (sigwait(&stop_signals, &sig) != 0)
			continue;
		if (seen++)
			_exit(128 + sig);
		if (stop_hook) {
			stop_hook(sig);
			continue;
		}
		tty_restore();
		fprintf(stderr, "\n%s: interrupted (%s): letting go of the "
				"repository locks\n",
			progname,
			sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM"
								  : "SIGHUP");
		if (pthread_create(&t, NULL, let_go_and_exit,
				   (void *)(intptr_t)sig) != 0)
			let_go_and_exit((void *)(intptr_t)sig);
	}
	return NULL;
}

static void catch_stop_signals(void)
{
	pthread_t t;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	/* before any other thread exists, so that all inherit the mask */
	if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0 ||
	    pthread_create(&t, NULL, on_stop_signals, NULL) != 0) {
		pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
		return;
	}
	pthread_detach(t);
}

/* "zbak CMD --help" or "-h" (before a "--"): that command's usage. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

/* A global option named as NAME (short: "-r", long: "--repo"), at argv[*i]:
 * its value into *val and *i moved past it; 0, 1 (taken) or -1 (no value
 * given, said). */
static int take_global(int argc, char **argv, int *i, const char *sh,
		       const char *lg, const char **val)
{
	const char *a = argv[*i];
	size_t ll = strlen(lg);

	if (sh && strncmp(a, sh, 2) == 0 && a[2]) {
		*val = a + 2;           /* -rREPO */
		return 1;
	}
	if (strncmp(a, lg, ll) == 0 && a[ll] == '=') {
		*val = a + ll + 1;      /* --repo=REPO */
		return 1;
	}
	if (!(sh && strcmp(a, sh) == 0) && strcmp(a, lg) != 0)
		return 0;
	if (*i + 1 >= argc) {
		usage_error(NULL, "option '%s' requires an argument", a);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

/*
 * Global options after the command too ("zbak ls -r REPO"), as restic and
 * borg take them: moved out of the command's arguments before it parses
 * its own.  Not for pool (where -r is recursive, as in zfs) nor debug, and
 * not --config for backup and prune, which take it themselves.  Returns
 * the new argc, or -1 after a usage error.
 */
static int take_globals(const struct cmd *c, int argc, char **argv)
{
	bool config_too = strcmp(c->name, "backup") && strcmp(c->name, "prune");
	int k = 1, i;

	if (!strcmp(c->name, "pool") || !strcmp(c->name, "debug"))
		return argc;
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *v = NULL;
		int t;

		if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			g.quiet = true;
			continue;
		}
		if (!strcmp(argv[i], "--admin")) {
			g.admin = true;
			continue;
		}
		if ((t = take_global(argc, argv, &i, "-r", "--repo", &v)) > 0)
			g.repo = v;
		else if (!t && (t = take_global(argc, argv, &i, NULL,
						"--passphrase-file", &v)) > 0)
			g.passfile = v;
		else if (!t && (t = take_global(argc, argv, &i, NULL,
						"--passphrase-command",
						&v)) > 0)
			g.passcmd = v;
		else if (!t && (t = take_global(argc, argv, &i, NULL,
						"--pool-dir", &v)) > 0)
			g.pool_dir = v;
		else if (!t && config_too &&
			 (t = take_global(argc, argv, &i, NULL, "--config",
					  &v)) > 0)
			g.config = v;
		if (t < 0)
			return -1;
		if (!t)
			argv[k++] = argv[i];
	}
	while (i < argc)
		argv[k++] = argv[i++];
	argv[k] = NULL;
	return k;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "passphrase-command", required_argument, NULL, 'X' },
		{ "config", required_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "pool-dir", required_argument, NULL, 'D' },
		{ "admin", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c;
	int opt, ret;

	/*
	 * A reader that goes away (zfs receive refusing a stream, `| head`)
	 * is EPIPE, an error reported and cleaned up after like any other,
	 * never a silent death by SIGPIPE that leaves locks behind.  The zfs
	 * children get default handling back (libbackup/zfs).
	 */
	signal(SIGPIPE, SIG_IGN);
	catch_stop_signals();

	/* global options stop at the command ('+') */
	while ((opt = getopt_long(argc, argv, "+r:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r': g.repo = optarg; break;
		case 'P': g.passfile = optarg; break;
		case 'X': g.passcmd = optarg; break;
		case 'C': g.config = optarg; break;
		case 'q': g.quiet = true; break;
		case 'D': g.pool_dir = optarg; break;
		case 'A': g.admin = true; break;
		case 'h': return cmd_help(1, argv);
		case 'V': return cmd_version(1, argv);
		default:
			list_commands(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		list_commands(stderr);
		return EXIT_USAGE;
	}
	c = find_cmd(argv[optind]);
	if (!c)
		return usage_error(NULL, "unknown command '%s' (try 'zbak help')",
				   argv[optind]);
	if (c->fn != cmd_help && c->fn != cmd_version &&
	    (ret = check_env_numbers()))
		return ret;
	argc -= optind;
	argv += optind;
	if (c->fn != cmd_debug && wants_help(argc, argv)) {
		printf("usage: %s\n", c->usage);
		return EXIT_OK;
	}
	argc = take_globals(c, argc, argv);
	if (argc < 0)
		return EXIT_USAGE;
	/* each command parses its own options (optind = 0 resets getopt) */
	return c->fn(argc, argv);
}
