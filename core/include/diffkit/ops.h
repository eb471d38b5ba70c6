/* ops.h: the differentiable ops of the autograd graph (see graph.h).
 *
 * Every op takes the graph first and returns a new var owned by the graph, or
 * NULL when it failed or was given a NULL input: the first failure is kept
 * in the graph (dk_graph_status names the op and the shapes), later ops
 * return NULL at once. All ops work on F32 and F64 (inputs must share one
 * dtype); backward ACCUMULATES (+=) into the inputs' gradients.
 *
 * Shape legend: B batch, T or N tokens, D features, H heads, d head dim,
 * h x w token grid (token index = row*w + col), C image channels.
 *
 * Broadcasting (add/sub/mul): b must fit a once both are right-aligned, each
 * dim of b equal to a's or 1 (b may have fewer dims). Typical kinds: same
 * shape, per-sample [B,1,..,1], per-feature [D], per-sample-feature [B,1,D].
 * The output has a's shape. Gradients of b are summed over the broadcast dims.
 *
 * The CPU kernels are in core/src/ops/cpu/ (dk_k_<op>_forward/_backward,
 * naive references beside optimized ones); docs/autograd.md lists every op. */
#ifndef DIFFKIT_OPS_H
#define DIFFKIT_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear algebra ------------------------------------------------------ */

/* y = x W^T + b over the last dim (PyTorch Linear). x [..., in], w [out, in],
 * b [out] or NULL -> [..., out]. BLAS sgemm/dgemm. */
dk_var *dk_linear(dk_graph *g, dk_var *x, dk_var *w, dk_var *b);
/* Batched matrix product op(a) op(b) over equal leading dims (b may be 2-D and
 * shared): a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] (trans_b:
 * [..., N, K]) -> [..., M, N]. */
dk_var *dk_matmul(dk_graph *g, dk_var *a, dk_var *b, int trans_a, int trans_b);

/* ---- elementwise and broadcasting --------------------------------------- */

dk_var *dk_add(dk_graph *g, dk_var *a, dk_var *b); /* a + b (b broadcast) */
dk_var *dk_sub(dk_graph *g, dk_var *a, dk_var *b); /* a - b (b broadcast) */
dk_var *dk_mul(dk_graph *g, dk_var *a, dk_var *b); /* a * b (b broadcast) */
dk_var *dk_scale(dk_graph *g, dk_var *x, double s);      /* s * x */
dk_var *dk_add_scalar(dk_graph *g, dk_var *x, double c); /* x + c */
dk_var *dk_square(dk_graph *g, dk_var *x);               /* x^2 */
dk_var *dk_exp(dk_graph *g, dk_var *x);                  /* exp(x) */
/* GELU: exact x * Phi(x) (erf) when approx_tanh = 0; else the tanh form
 * 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) (DiT's MLP). */
dk_var *dk_gelu(dk_graph *g, dk_var *x, int approx_tanh);
dk_var *dk_silu(dk_graph *g, dk_var *x);                 /* x * sigmoid(x) */
/* GEGLU (Shazeer 2020): x [..., 2F] = [a | b] -> [..., F] = a * gelu_erf(b). */
dk_var *dk_geglu(dk_graph *g, dk_var *x);
/* adaLN modulation (DiT): x [B, T, D], shift/scale [B, D] (shift may be NULL)
 * -> x * (1 + scale) + shift, per sample. */
dk_var *dk_modulate(dk_graph *g, dk_var *x, dk_var *shift, dk_var *scale);
/* Gated residual (DiT adaLN-Zero): x [B, T, D] + gate [B, D] * y [B, T, D]. */
dk_var *dk_gated_residual(dk_graph *g, dk_var *x, dk_var *gate, dk_var *y);
/* Learnable lerp skip (HDiT eq. 2, torch.lerp): skip + fac * (y - skip), fac [1]. */
dk_var *dk_lerp_skip(dk_graph *g, dk_var *skip, dk_var *y, dk_var *fac);
/* Same value, no gradient flows back (stop-gradient / .detach()). */
dk_var *dk_detach(dk_graph *g, dk_var *x);

/* ---- reductions and losses ---------------------------------------------- */

dk_var *dk_sum_all(dk_graph *g, dk_var *x);  /* -> [1] */
dk_var *dk_mean_all(dk_graph *g, dk_var *x); /* -> [1] */
/* Sum / mean over the last n_last dims: [..., R] -> [...] ([1] if nothing is left). */
dk_var *dk_sum_last(dk_graph *g, dk_var *x, int n_last);
dk_var *dk_mean_last(dk_graph *g, dk_var *x, int n_last);
/* Per-sample mean squared error: a, b [B, ...] -> [B] (mean over all but dim 0). */
dk_var *dk_mse(dk_graph *g, dk_var *a, dk_var *b);
/* KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats
 * (guided-diffusion normal_kl, DiT `diffusion/gaussian_diffusion.py`): 0.5 (-1 + lv2 - lv1 +
 * e^(lv1 - lv2) + (m1 - m2)^2 e^(-lv2)). All four the same shape. */
dk_var *dk_normal_kl(dk_graph *g, dk_var *mean1, dk_var *logvar1, dk_var *mean2, dk_var *logvar2);
/* Log-likelihood of data x in [-1, 1] discretised to 256 bins under
 * N(means, e^(2 log_scales)) (guided-diffusion discretized_gaussian_log_likelihood,
 * with its tanh approximation of the normal CDF and 1e-12 clamps). x is data
 * (no gradient); gradients flow to means and log_scales. Elementwise. */
dk_var *dk_discretized_gaussian_loglik(dk_graph *g, dk_var *x, dk_var *means, dk_var *log_scales);

/* ---- normalization ------------------------------------------------------- */

/* LayerNorm over the last dim, biased variance (Ba et al. 2016):
 * (x - mean) / sqrt(var + eps) * w + b; w, b [D] or NULL (no affine). */
dk_var *dk_layernorm(dk_graph *g, dk_var *x, dk_var *w, dk_var *b, double eps);
/* RMSNorm (Zhang & Sennrich 2019): x * gain / sqrt(mean(x^2) + eps) over the
 * last dim. gain: NULL, [D] per feature, or per sample (AdaRMSNorm) as [B, D]
 * or [B, 1, .., 1, D] for x [B, ..., D]. */
dk_var *dk_rmsnorm(dk_graph *g, dk_var *x, dk_var *gain, double eps);

/* ---- attention ----------------------------------------------------------- */

/* Softmax attention softmax(scale q k^T) v per (batch, head), memory-efficient:
 * query blocks of at most DK_ATTN_BLOCK rows of one head at a time; the
 * backward recomputes the blocks from the saved log-sum-exp.
 * q [B, H, Nq, d], k [B, H, Nk, d], v [B, H, Nk, dv] -> [B, H, Nq, dv]. */
#define DK_ATTN_BLOCK 64
dk_var *dk_attention(dk_graph *g, dk_var *q, dk_var *k, dk_var *v, double scale);
/* 2-D neighborhood attention (Hassani et al. 2023, NATTEN semantics, dilation
 * 1): on an h x w grid each query attends to the kernel x kernel keys around
 * it, the window shifted inward at borders (always kernel^2 keys; kernel odd,
 * kernel <= h, w). q, k, v [B, H, h*w, d] -> [B, H, h*w, d]. Cost ~ N k^2. */
dk_var *dk_neighborhood_attention(dk_graph *g, dk_var *q, dk_var *k, dk_var *v, int64_t h,
                                  int64_t w, int kernel, double scale);
/* Swin window attention (Liu et al. 2021) on an h x w grid with window x
 * window windows; shift > 0 rolls the grid by +shift (k-diffusion's
 * apply_window_attention) and masks the wrapped top/left strips so that a
 * token only sees tokens of its own region. window must divide h and w;
 * 0 <= shift < window. q, k, v [B, H, h*w, d] -> [B, H, h*w, d]. */
dk_var *dk_window_attention(dk_graph *g, dk_var *q, dk_var *k, dk_var *v, int64_t h, int64_t w,
                            int window, int shift, double scale);
/* Split fused projections into heads: x [B, N, G*H*d] with features ordered
 * (G, H, d) -> group `which` as [B, H, N, d] (G = 3 for a qkv projection). */
dk_var *dk_heads_split(dk_graph *g, dk_var *x, int groups, int heads, int which);
/* Inverse layout: x [B, H, N, d] -> [B, N, H*d] (heads concatenated). */
dk_var *dk_heads_merge(dk_graph *g, dk_var *x);
/* Cosine-similarity scaling (HDiT App. E.1): x [B, H, N, d], scale [H] ->
 * x * sqrt(scale_h) / sqrt(sum_d x^2 + eps) (k-diffusion uses eps = 1e-6). */
dk_var *dk_cosine_sim_scale(dk_graph *g, dk_var *x, dk_var *scale, double eps);
/* Axial RoPE of HDiT v2 (k-diffusion, `models/axial_rope.py`): x [B, H, N, d],
 * pos [N, 2] = (y, x) per token (a constant tensor, dk_axial_pos), freqs
 * [H, F] (constant, 4F <= d). theta = [y*freqs_h | x*freqs_h] (2F angles);
 * a = x[0:2F], b = x[2F:4F]: a' = a cos - b sin, b' = b cos + a sin; the rest
 * is unchanged. Gradient flows to x only. */
dk_var *dk_rope_axial(dk_graph *g, dk_var *x, const dk_tensor *pos, const dk_tensor *freqs);

/* ---- embeddings and features -------------------------------------------- */

/* Rows of table [V, D] for n labels (each in [0, V)) -> [n, D]; the gradient
 * is scattered back into the table rows. */
dk_var *dk_embedding(dk_graph *g, dk_var *table, const int64_t *labels, size_t n);
/* DiT timestep features: t [B] -> [B, dim], [cos(t f_k) | sin(t f_k)],
 * f_k = exp(-ln(max_period) k / half), half = dim/2 (dim even; DiT uses
 * max_period 10000). Differentiable in t. */
dk_var *dk_timestep_embedding(dk_graph *g, dk_var *t, int dim, double max_period);
/* Fourier features (HDiT mapping): v [B, I], w [F, I] ->
 * [B, 2F] = [cos(2 pi v w^T) | sin(2 pi v w^T)]. */
dk_var *dk_fourier_features(dk_graph *g, dk_var *v, dk_var *w);

/* ---- layout -------------------------------------------------------------- */

/* A view with another shape (same numel); the gradient passes through. */
dk_var *dk_reshape(dk_graph *g, dk_var *x, int ndim, const int64_t *shape);
/* out.shape[i] = x.shape[perm[i]] (a copy). */
dk_var *dk_permute(dk_graph *g, dk_var *x, const int *perm);
/* x[..., start:start+len] over the last dim (a copy): chunking adaLN outputs. */
dk_var *dk_slice_last(dk_graph *g, dk_var *x, int64_t start, int64_t len);
/* Concatenation over the last dim; all other dims equal. */
dk_var *dk_concat_last(dk_graph *g, dk_var **xs, int n);

typedef enum dk_patch_layout {
    DK_PATCH_CIJ = 0, /* features (c, i, j): a Conv2d(kernel p, stride p) weight flattened (DiT x_embedder) */
    DK_PATCH_IJC = 1  /* features (i, j, c): DiT unpatchify, HDiT TokenMerge / patch_in */
} dk_patch_layout;
/* Images to tokens: x [B, C, H, W] -> [B, (H/p)(W/p), p*p*C]; token r*(W/p)+q
 * holds pixels (r*p+i, q*p+j). */
dk_var *dk_patchify(dk_graph *g, dk_var *x, int p, dk_patch_layout layout);
/* Inverse of dk_patchify: x [B, T, p*p*C] -> [B, C, H, W] (T = (H/p)(W/p)). */
dk_var *dk_unpatchify(dk_graph *g, dk_var *x, int64_t H, int64_t W, int p, dk_patch_layout layout);
/* HDiT TokenMerge rearrangement (NHWC): x [B, h, w, C] -> [B, h/p0, w/p1,
 * p0*p1*C] with features (i, j, c). */
dk_var *dk_token_merge(dk_graph *g, dk_var *x, int p0, int p1);
/* HDiT TokenSplit rearrangement: x [B, h, w, p0*p1*C] -> [B, h*p0, w*p1, C]. */
dk_var *dk_token_split(dk_graph *g, dk_var *x, int p0, int p1);

/* ---- constant tables (plain tensors, no graph) -------------------------- */

/* DiT / MAE fixed 2-D sin-cos table into out [h*w, D] (F32 or F64, D % 4 == 0):
 * channels [0, D/2) encode the COLUMN, [D/2, D) the ROW, each half
 * [sin(pos w_k) | cos(pos w_k)], w_k = 10000^(-k/(D/4)), integer positions. */
dk_status dk_sincos_pos_2d(dk_tensor *out, int64_t h, int64_t w, dk_error *err);
/* HDiT make_axial_pos: out [h*w, 2] = (y, x) cell centres spanning [-1, 1] on
 * the longer side (the shorter one spans [-s, s], s = short/long). */
dk_status dk_axial_pos(dk_tensor *out, int64_t h, int64_t w, dk_error *err);
/* HDiT downscale_pos: mean of each 2x2 block: pos [h*w, 2] -> out [(h/2)(w/2), 2]. */
dk_status dk_axial_pos_downscale(dk_tensor *out, const dk_tensor *pos, int64_t h, int64_t w,
                                 dk_error *err);
/* k-diffusion RoPE frequencies: out [H, F] = exp(linspace(ln pi, ln 10 pi,
 * H*F + 1)[:-1]) viewed as [F, H] and transposed. */
dk_status dk_rope_freqs(dk_tensor *out, int64_t heads, int64_t f, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
