/* SPDX-License-Identifier: MIT */
/* Private: loading an INI file with or without the permission check (the
 * AWS shared-credentials file is read by the same parser). */
#ifndef BACKUP_CONFIG_IMPL_H
#define BACKUP_CONFIG_IMPL_H

#include <stdbool.h>

#include "backup/config.h"

/*
 * bk_config_load, with check_perms choosing whether a file holding
 * secrets may be readable by others.  A missing file is BK_ERR_NOTFOUND.
 */
enum bk_code bk_config_load_file(const char *path, bool check_perms,
				 struct bk_config **out, struct bk_error *err);

/* True when key names a secret ("secret", "token", "password" in it). */
bool bk_config_key_is_secret(const char *key);

#endif
