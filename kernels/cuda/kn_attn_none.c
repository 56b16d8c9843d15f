/* Stand-ins for kn_cuda_attn.h when the build has no CUDA compiler: the launchers fail with the
 * reason; the size helpers are plain arithmetic and answer as in a CUDA build. */
#include "kn_attn_index.cuh"
#include "kn_cuda_attn.h"
#include "kn_cuda_none.h"

size_t kn_cuda_kv_page_bytes(const kn_cuda_kv *kv)
{
	if (!kv || (kv->kv_type != KN_CUDA_KV_BF16 && kv->kv_type != KN_CUDA_KV_F8))
		return 0;
	size_t n = kn_kv_page_elems(kv->n_layers, kv->n_kv_heads, kv->page_tokens, kv->head_dim);
	return kv->kv_type == KN_CUDA_KV_BF16 ? n * 2 : n;
}

size_t kn_cuda_kv_page_scale_bytes(const kn_cuda_kv *kv)
{
	if (!kv || kv->kv_type != KN_CUDA_KV_F8)
		return 0;
	return kn_kv_page_scales(kv->n_layers, kv->n_kv_heads, kv->page_tokens) * 4;
}

int kn_cuda_kv_check(const kn_cuda_kv *kv, char *err, size_t errlen)
{
	(void)kv;
	return kn_none(err, errlen);
}

int kn_cuda_kv_fill_random(const kn_cuda_kv *kv, uint64_t seed, void *stream, char *err, size_t errlen)
{
	(void)kv, (void)seed, (void)stream;
	return kn_none(err, errlen);
}

int kn_cuda_qkv_prep(const kn_cuda_kv *kv, int layer, void *qkv_bf16, int m, const void *pos_i32,
		     const void *slot_i32, const kn_cuda_qkv_args *a, void *stream, char *err, size_t errlen)
{
	(void)kv, (void)layer, (void)qkv_bf16, (void)m, (void)pos_i32, (void)slot_i32, (void)a, (void)stream;
	return kn_none(err, errlen);
}

int kn_cuda_attn_prefill(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16, int T,
			 int p0, const void *page_table_i32, int n_heads, void *stream, char *err, size_t errlen)
{
	(void)kv, (void)layer, (void)q_bf16, (void)q_stride, (void)out_bf16, (void)T, (void)p0, (void)page_table_i32,
		(void)n_heads, (void)stream;
	return kn_none(err, errlen);
}

int kn_cuda_attn_prefill_impl(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16,
			      int T, int p0, const void *page_table_i32, int n_heads, int impl, void *stream, char *err,
			      size_t errlen)
{
	(void)impl;
	return kn_cuda_attn_prefill(kv, layer, q_bf16, q_stride, out_bf16, T, p0, page_table_i32, n_heads, stream, err,
				    errlen);
}

size_t kn_cuda_attn_decode_work_bytes(int n_seq, int n_heads, int head_dim, int n_splits)
{
	if (n_seq < 1 || n_heads < 1 || head_dim < 1 || n_splits < 1)
		return 0;
	return (size_t)n_seq * (size_t)n_heads * (size_t)n_splits * ((size_t)head_dim + 2) * 4;
}

int kn_cuda_attn_decode_splits(int n_seq, int n_kv_heads, int max_len, int n_sms)
{
	return kn_attn_splits_suggest(n_seq, n_kv_heads, max_len, n_sms);
}

int kn_cuda_attn_decode(const kn_cuda_kv *kv, int layer, const void *q_bf16, int q_stride, void *out_bf16, int n_seq,
			const void *seq_len_i32, const void *page_table_i32, int max_pages, int n_heads, int n_splits,
			void *work, void *stream, char *err, size_t errlen)
{
	(void)kv, (void)layer, (void)q_bf16, (void)q_stride, (void)out_bf16, (void)n_seq, (void)seq_len_i32,
		(void)page_table_i32, (void)max_pages, (void)n_heads, (void)n_splits, (void)work, (void)stream;
	return kn_none(err, errlen);
}
