/* Stand-in used when the build has no CUDA compiler: every query says why there is no GPU and
 * every launcher fails with that reason, so callers link one name either way. */
#include "kn_cuda.h"

#include "kn_conv.cuh"
#include "kn_cuda_none.h"

#define none kn_none

int kn_cuda_device_count(char *why, size_t why_len)
{
	none(why, why_len);
	return 0;
}

int kn_cuda_device_info_get(int device, kn_cuda_device_info *info, char *why, size_t why_len)
{
	(void)device;
	(void)info;
	return none(why, why_len);
}

int kn_cuda_malloc(void **dptr, size_t bytes, char *err, size_t errlen)
{
	(void)bytes;
	if (dptr)
		*dptr = NULL;
	return none(err, errlen);
}

void kn_cuda_free(void *dptr)
{
	(void)dptr;
}

int kn_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
	(void)dst, (void)src, (void)bytes;
	return none(err, errlen);
}

int kn_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes, char *err, size_t errlen)
{
	(void)dst, (void)src, (void)bytes;
	return none(err, errlen);
}

int kn_cuda_memset(void *dst, int value, size_t bytes, void *stream, char *err, size_t errlen)
{
	(void)dst, (void)value, (void)bytes, (void)stream;
	return none(err, errlen);
}

int kn_cuda_synchronize(void *stream, char *err, size_t errlen)
{
	(void)stream;
	return none(err, errlen);
}

int kn_cuda_weight_check(const kn_cuda_weight *w, char *err, size_t errlen)
{
	(void)w;
	return none(err, errlen);
}

int kn_cuda_gemv(const kn_cuda_weight *w, const void *x_bf16, void *y, int m, const kn_cuda_epilogue *ep,
		 void *stream, char *err, size_t errlen)
{
	(void)w, (void)x_bf16, (void)y, (void)m, (void)ep, (void)stream;
	return none(err, errlen);
}

int kn_cuda_dequant_rows(const kn_cuda_weight *w, size_t row0, size_t rows, void *out_f32, void *stream, char *err,
			 size_t errlen)
{
	(void)w, (void)row0, (void)rows, (void)out_f32, (void)stream;
	return none(err, errlen);
}

int kn_cuda_rmsnorm(void *h_f32, const void *add_bf16, const void *w_f32, void *y_bf16, int m, int n, float eps,
		    void *stream, char *err, size_t errlen)
{
	(void)h_f32, (void)add_bf16, (void)w_f32, (void)y_bf16, (void)m, (void)n, (void)eps, (void)stream;
	return none(err, errlen);
}

int kn_cuda_qk_norm_rope(void *x_bf16, const void *norm_w_f32, const void *pos_i32, const void *cos_sin_f32,
			 int max_pos, int m, int n_heads, int head_dim, int dim, float eps, void *stream, char *err,
			 size_t errlen)
{
	(void)x_bf16, (void)norm_w_f32, (void)pos_i32, (void)cos_sin_f32, (void)max_pos, (void)m, (void)n_heads;
	(void)head_dim, (void)dim, (void)eps, (void)stream;
	return none(err, errlen);
}

void kn_cuda_rope_table(float *table, size_t max_pos, uint32_t dim, const float *inv_freq, float mscale)
{
	kn_rope_table_host(table, max_pos, dim, inv_freq, mscale);
}

int kn_cuda_swiglu(const void *gate_up_bf16, void *out_bf16, int m, int n, void *stream, char *err, size_t errlen)
{
	(void)gate_up_bf16, (void)out_bf16, (void)m, (void)n, (void)stream;
	return none(err, errlen);
}

int kn_cuda_embed(const kn_cuda_weight *w, const void *ids_i32, int m, void *out_f32, void *stream, char *err,
		  size_t errlen)
{
	(void)w, (void)ids_i32, (void)m, (void)out_f32, (void)stream;
	return none(err, errlen);
}

int kn_cuda_bf16_to_f32(const void *in_bf16, void *out_f32, size_t count, void *stream, char *err, size_t errlen)
{
	(void)in_bf16, (void)out_f32, (void)count, (void)stream;
	return none(err, errlen);
}

int kn_cuda_stream_create(void **stream, char *err, size_t errlen)
{
	if (stream)
		*stream = NULL;
	return none(err, errlen);
}

void kn_cuda_stream_destroy(void *stream) { (void)stream; }

int kn_cuda_host_alloc(void **p, size_t bytes, char *err, size_t errlen)
{
	(void)bytes;
	if (p)
		*p = NULL;
	return none(err, errlen);
}

void kn_cuda_host_free(void *p) { (void)p; }

int kn_cuda_memcpy_h2d_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen)
{
	(void)dst, (void)src, (void)bytes, (void)stream;
	return none(err, errlen);
}

int kn_cuda_memcpy_d2h_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen)
{
	(void)dst, (void)src, (void)bytes, (void)stream;
	return none(err, errlen);
}

int kn_cuda_memcpy_d2d_async(void *dst, const void *src, size_t bytes, void *stream, char *err, size_t errlen)
{
	(void)dst, (void)src, (void)bytes, (void)stream;
	return none(err, errlen);
}

int kn_cuda_event_create(void **ev, char *err, size_t errlen)
{
	if (ev)
		*ev = NULL;
	return none(err, errlen);
}

void kn_cuda_event_destroy(void *ev) { (void)ev; }

int kn_cuda_event_record(void *ev, void *stream, char *err, size_t errlen)
{
	(void)ev, (void)stream;
	return none(err, errlen);
}

int kn_cuda_event_sync(void *ev, char *err, size_t errlen)
{
	(void)ev;
	return none(err, errlen);
}

int kn_cuda_event_done(void *ev, char *err, size_t errlen)
{
	(void)ev;
	return none(err, errlen);
}

int kn_cuda_event_elapsed_ms(float *ms, void *start, void *end, char *err, size_t errlen)
{
	(void)ms, (void)start, (void)end;
	return none(err, errlen);
}

int kn_cuda_graph_begin(void *stream, char *err, size_t errlen)
{
	(void)stream;
	return none(err, errlen);
}

int kn_cuda_graph_end(void *stream, void **exec, char *err, size_t errlen)
{
	(void)stream;
	if (exec)
		*exec = NULL;
	return none(err, errlen);
}

int kn_cuda_graph_launch(void *exec, void *stream, char *err, size_t errlen)
{
	(void)exec, (void)stream;
	return none(err, errlen);
}

void kn_cuda_graph_destroy(void *exec) { (void)exec; }

int kn_cuda_mem_used(size_t *used, size_t *total, char *err, size_t errlen)
{
	(void)used, (void)total;
	return none(err, errlen);
}

int kn_cuda_fill_random(void *dst, int dtype, size_t count, uint64_t seed, float lo, float hi, void *stream,
			char *err, size_t errlen)
{
	(void)dst, (void)dtype, (void)count, (void)seed, (void)lo, (void)hi, (void)stream;
	return none(err, errlen);
}
