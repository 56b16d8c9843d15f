/* libFuzzer target for the Hugging Face config.json parser. The same bytes are also read as a
 * generation_config.json (eos ids and the GENERATION keys), and an accepted config is expanded
 * into its tensor list and META keys. Also linked into the corpus replay driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	cv_err err = {{0}};
	fmt_kvbuild *kv = fmt_kvbuild_create();
	if (!kv)
		return 0;
	if (cv_hf_config_parse(json, size, "config.json", &(cv_hf_config){0}, &err) != 0 && strlen(err.msg) == 0)
		abort();
	err.msg[0] = 0;
	if (cv_hf_write_generation(json, size, "generation_config.json", kv, &err) != 0 && strlen(err.msg) == 0)
		abort();

	cv_hf_config c;
	memset(&c, 0, sizeof c);
	err.msg[0] = 0;
	if (cv_hf_config_parse(json, size, "config.json", &c, &err) != 0)
		goto out;
	if (c.n_layers == 0 || c.n_layers > CV_HF_MAX_LAYERS || c.n_eos > CV_HF_MAX_EOS || !c.arch_name)
		abort();
	err.msg[0] = 0;
	if (cv_hf_config_add_generation_eos(&c, json, size, "generation_config.json", &err) != 0 && strlen(err.msg) == 0)
		abort();
	if (c.n_eos > CV_HF_MAX_EOS)
		abort();
	cv_hf_tensor *ts = NULL;
	size_t n = 0;
	if (cv_hf_expected(&c, &ts, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (ts[i].n_dims < 1 || ts[i].n_dims > 2 || !memchr(ts[i].hf_name, 0, sizeof ts[i].hf_name) ||
			    !memchr(ts[i].name, 0, sizeof ts[i].name))
				abort();
			sink += cv_hf_ignorable(&c, ts[i].hf_name);
		}
		free(ts);
	}
	sink += cv_hf_ignorable(&c, "lm_head.weight") + cv_hf_ignorable(&c, "model.layers.0.self_attn.rotary_emb.inv_freq");
	(void)cv_hf_write_meta(&c, "fuzz", kv, &err);
out:
	fmt_kvbuild_free(kv);
	return 0;
}
