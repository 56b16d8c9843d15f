/* Internal to runtime/model. */
#ifndef BALE_RT_INTERNAL_H
#define BALE_RT_INTERNAL_H

#include "rt_model.h"

/* Caps on META values: generous for any real model, small enough that every size product below
 * fits in 64 bits without overflow (and is still checked). */
#define RT_MAX_LAYERS 4096u
#define RT_MAX_DIM (1u << 20)
#define RT_MAX_HEADS 4096u
#define RT_MAX_HEAD_DIM 4096u
#define RT_MAX_VOCAB (1u << 24)
#define RT_MAX_CTX (1u << 24)

struct rt_model {
	rt_config cfg;
	rt_weights w;
	float *owned;      /* f32 copies of norm weights and biases */
	float *inv_freq;   /* [rope.dim / 2] */
	float mscale;
	kn_exec exec;
};

rt_status rt_fail(rt_error *err, rt_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
