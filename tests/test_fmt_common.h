/* Helpers shared by the fmt tests: a small sample .bale built in memory through the writer. */
#ifndef BALE_TEST_FMT_COMMON_H
#define BALE_TEST_FMT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "bale/fmt.h"

/* Deterministic non-zero test bytes. */
void tfc_fill(uint8_t *p, size_t n, uint64_t seed);

/* Writes the sample file to `path` (alignment 64 so it stays about 2 KB): META (every scalar type,
 * arrays), GENERATION, TENSORS (I8 row, I8 group 32, F32 1-D, BF16, F8 row, F16 3-D), a raw
 * TOKENIZER section and two FILES. Returns FMT_OK or the failing status (message in err). */
fmt_status tfc_write_sample(const char *path, fmt_error *err);
/* Same, returning the file bytes (malloc'ed); NULL on failure. */
uint8_t *tfc_sample_bytes(size_t *n);

/* Recomputes the checksum of every section the table points at (when in bounds), then the
 * header checksum, so a patched file fails at the intended check instead of a checksum. */
void tfc_refix(uint8_t *b, size_t n);

#endif
