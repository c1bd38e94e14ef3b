/* libFuzzer target: what the nightly job parses.  The first input byte
 * picks the parser:
 *   0 a configuration file read strictly (bk_config_parse, then
 *     bk_settings_load: [zbak] and [job NAME] keys and values),
 *   1 the Prometheus textfile read back (bk_metrics_parse),
 *   2 `zfs get -H -p -o name,property,value` output
 *     (bk_zfs_parse_snapshots),
 *   3 the usage text of `zfs` without arguments (bk_zfs_parse_usage).
 * Accepted settings must be consistent (every job has datasets, names
 * fit); a refusal must carry a message.  Any crash, leak or sanitizer
 * report is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/config.h"
#include "backup/job.h"
#include "backup/zfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	struct bk_error err;

	if (size == 0)
		return 0;
	memset(&err, 0, sizeof(err));
	switch (data[0] % 4) {
	case 0: {
		struct bk_config *c = NULL;
		struct bk_settings *s = NULL;

		if (bk_config_parse(p, n, "fuzz.conf", &c, &err) != BK_OK)
			break;
		if (bk_settings_load(c, "fuzz.conf", &s, &err) == BK_OK) {
			for (size_t j = 0; j < s->njobs; j++) {
				const struct bk_job *job = &s->jobs[j];

				if (!job->ndatasets || !job->prefix[0] ||
				    strlen(job->name) > BK_JOB_NAME_MAX ||
				    bk_settings_job(s, job->name) == NULL)
					abort();
				for (size_t d = 0; d < job->ndatasets; d++)
					if (!job->datasets[d][0] ||
					    strchr(job->datasets[d], '@'))
						abort();
			}
			bk_settings_free(s);
		} else if (!err.msg[0]) {
			abort();
		}
		bk_config_free(c);
		break;
	}
	case 1: {
		struct bk_metric *v = NULL;
		size_t nv = 0;

		if (bk_metrics_parse(p, n, &v, &nv, &err) == BK_OK) {
			/* one entry per (job, dataset) */
			for (size_t i = 0; i < nv && nv < 64; i++)
				for (size_t j = i + 1; j < nv; j++)
					if (!strcmp(v[i].job, v[j].job) &&
					    !strcmp(v[i].dataset, v[j].dataset))
						abort();
			free(v);
		} else if (!err.msg[0]) {
			abort();
		}
		break;
	}
	case 3: {
		struct bk_zfs_caps caps;

		bk_zfs_parse_usage(p, n, &caps);
		/* letters only, each once, terminated */
		if (strlen(caps.send_opts) >= sizeof(caps.send_opts))
			abort();
		for (size_t i = 0; caps.send_opts[i]; i++)
			if (!((caps.send_opts[i] >= 'a' &&
			       caps.send_opts[i] <= 'z') ||
			      (caps.send_opts[i] >= 'A' &&
			       caps.send_opts[i] <= 'Z')) ||
			    strchr(caps.send_opts + i + 1, caps.send_opts[i]))
				abort();
		break;
	}
	default: {
		struct bk_zfs_snap *v = NULL;
		size_t nv = 0;

		if (bk_zfs_parse_snapshots(p, n, &v, &nv, &err) == BK_OK) {
			for (size_t i = 0; i < nv; i++)
				if (!strchr(v[i].name, '@') ||
				    strlen(v[i].name) > BK_ZFS_NAME_MAX)
					abort();
			free(v);
		} else if (!err.msg[0]) {
			abort();
		}
		break;
	}
	}
	return 0;
}
