/* Internals shared by the gen_ sources. */
#ifndef BALE_GEN_INTERNAL_H
#define BALE_GEN_INTERNAL_H

#include "chat.h"
#include "gen.h"
#include "rc.h"

struct gen_model {
	fmt_reader *reader;
	rt_model *rt;
	fmt_tok *tok_desc;
	tok_tokenizer *tok;
	chat_template *tmpl;
	char *bos_text, *eos_text; /* NUL-terminated copies; NULL when the tokenizer has none */
	gen_defaults defaults;
	int32_t *eos_ids;
	size_t n_eos;
	gen_yarn yarn;
	gen_device device;
	rc_model *gpu;          /* GEN_DEVICE_CUDA: the weights on the device; rt stays the description */
	gen_load_stats load;
};

gen_status gen_fail(gen_error *err, gen_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
gen_status gen_status_from_rc(rc_status st);

#endif
