/* A small llama-shaped .bale written with fmt_writer for the rc tests: every matrix of one
 * dtype/scheme (random codes and scales), optionally one tensor of another kind so that fusion
 * must be skipped. */
#ifndef BALE_RC_TESTMODEL_H
#define BALE_RC_TESTMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "bale/fmt.h"

enum { RCT_D = 64, RCT_HD = 16, RCT_NH = 4, RCT_NKV = 2, RCT_FF = 128, RCT_VOCAB = 40, RCT_LAYERS = 2 };

typedef struct {
	fmt_dtype dtype;
	fmt_scheme scheme;
	uint32_t group;
	bool tied;
	const char *odd_tensor; /* this matrix is stored BF16/NONE instead; NULL for none */
	bool qwen3;             /* q/k norms and YaRN RoPE (else llama without RoPE scaling) */
	uint32_t d, hd, nh, nkv, ff, vocab, layers, max_ctx; /* 0: the RCT_ defaults (max_ctx 256) */
	double sd;              /* spread of the code values (0: the defaults) */
} rct_spec;

/* Writes the model to dir/name; returns the malloc'ed path (fails the test on error). */
char *rct_write(const char *dir, const char *name, const rct_spec *spec);

#endif
