/* SPDX-License-Identifier: MIT */
/*
 * Test hooks: environment variables that let the test suite fake the clock,
 * make key derivation cheap and collect garbage at once.  They are compiled
 * in only with -DZBAK_TEST_HOOKS, into the test build (build/zbak-test, the
 * unit tests), as curl's DEBUGBUILD does: the installed program does not
 * read them, does not even contain their names, and so cannot change
 * behaviour because of a stray variable (tests/shell/t0150-test-hooks.sh
 * checks both).  The Makefile compiles hooks.c twice; libbackup.a holds the
 * build without hooks.
 */
#ifndef BK_HOOKS_H
#define BK_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

/* $ZBAK_NOW: unix seconds for bk_now() (snapshot names, retention,
 * metrics, the local pool's snapshot times). */
bool bk_hook_now(uint64_t *now);
/* $ZBAK_KDF_INSECURE_FAST=1: argon2id at its minimum costs. */
bool bk_hook_kdf_fast(void);
/* $ZBAK_GC_MARGIN: gc's margin in seconds (0: collect at once). */
bool bk_hook_gc_margin(uint64_t *seconds);

#endif
