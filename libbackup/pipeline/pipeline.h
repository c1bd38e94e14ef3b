/* SPDX-License-Identifier: MIT */
/*
 * push and restore over any repository that implements repo_pipe.h's
 * operations: bk_push and bk_restore_sink are these with repo_pipe_real;
 * the unit tests run them against an in-memory repository.
 */
#ifndef BK_PIPELINE_H
#define BK_PIPELINE_H

#include "backup/repo.h"
#include "repo/repo_pipe.h"

enum bk_code pipe_push(const struct repo_pipe_ops *ops, void *repo, int fd,
		       const struct bk_push_opts *o,
		       struct bk_push_result *res, struct bk_error *err);
enum bk_code pipe_restore(const struct repo_pipe_ops *ops, void *repo,
			  const char *name, bk_drr_sink_fn sink, void *ctx,
			  const struct bk_restore_opts *o,
			  struct bk_restore_result *res, struct bk_error *err);

#endif
