/* Small hand-built streams for unit tests (the writer computes checksums). */
#ifndef TESTS_TSTREAM_H
#define TESTS_TSTREAM_H

#include <stdbool.h>

#include "backup/buf.h"
#include "backup/drr.h"

/* A full stream with one of every record type a non-raw send has:
 * BEGIN OBJECT FREE WRITE SPILL WRITE_EMBEDDED REDACT FREEOBJECTS END.
 * legacy: 2008 form (no trailers, types 0-5 only).  Returns 0 on success. */
int tstream_small(struct bk_buf *out, bool byteswap, bool legacy);
/* A compound package (-R) of two small substreams. */
int tstream_compound(struct bk_buf *out, bool byteswap);
/* A stream with nwrites WRITE records of blksz bytes each. */
int tstream_writes(struct bk_buf *out, bool byteswap, unsigned nwrites,
		   uint32_t blksz);
/* Fill a BEGIN record (substream, full). */
void tstream_begin(struct bk_drr *r, uint64_t features, const char *name,
		   uint64_t toguid, uint64_t fromguid);

#endif
