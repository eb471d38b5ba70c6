/* embed.c: graph ops for embeddings and features (label embedding, DiT
 * timestep features, Fourier features) and the constant tables (DiT 2-D
 * sin-cos positions, HDiT axial positions and RoPE frequencies). */
#include <math.h>
#include <string.h>
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

typedef struct emb_ctx {
    int64_t *labels;
    size_t n, D;
} emb_ctx;

static dk_status emb_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    emb_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_embedding_backward, g[0], DG(out), c->labels, c->n, c->D);
    return DK_OK;
}

dk_var *dk_embedding(dk_graph *g, dk_var *table, const int64_t *labels, size_t n) {
    if (dk__check_inputs(g, "embedding", &table, 1)) return NULL;
    const dk_tensor *Tb = table->value;
    if (Tb->ndim != 2 || n == 0 || !labels)
        return dk__op_fail(g, "embedding", DK_ESHAPE, "table %s must be [V, D] and %zu labels given", DK_SHP(table), n);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= Tb->shape[0])
            return dk__op_fail(g, "embedding", DK_EINVAL, "label %zu is %lld, outside [0, %lld) of table %s", i,
                               (long long)labels[i], (long long)Tb->shape[0], DK_SHP(table));
    emb_ctx *c = dk__graph_ctx(g, sizeof *c);
    int64_t shp[2] = {(int64_t)n, Tb->shape[1]};
    dk_var *out = dk__graph_var(g, Tb->dtype, 2, shp, 0);
    if (!out || !c) return NULL;
    c->n = n;
    c->D = (size_t)Tb->shape[1];
    c->labels = dk__graph_stage(g, labels, n * sizeof *labels);
    if (!c->labels) return NULL;
    DK_KCALL(Tb, dk_k_embedding_forward, DV(out), DV(table), c->labels, n, c->D);
    return dk_graph_custom(g, out, &table, 1, emb_bw, c, NULL);
}

typedef struct ts_ctx {
    size_t B, dim;
    double max_period;
} ts_ctx;

static dk_status ts_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    ts_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_timestep_backward, g[0], DG(out), DV(in[0]), c->B, c->dim, c->max_period);
    return DK_OK;
}

dk_var *dk_timestep_embedding(dk_graph *g, dk_var *t, int dim, double max_period) {
    if (dk__check_inputs(g, "timestep_embedding", &t, 1)) return NULL;
    if (t->value->ndim != 1 || dim < 2 || !(max_period > 0))
        return dk__op_fail(g, "timestep_embedding", DK_ESHAPE, "t %s must be [B], dim %d >= 2, max_period %g > 0",
                           DK_SHP(t), dim, max_period);
    ts_ctx *c = dk__graph_ctx(g, sizeof *c);
    int64_t shp[2] = {t->value->shape[0], dim};
    dk_var *out = dk__graph_var(g, t->value->dtype, 2, shp, 0);
    if (!out || !c) return NULL;
    *c = (ts_ctx){(size_t)shp[0], (size_t)dim, max_period};
    DK_KCALL(t->value, dk_k_timestep_forward, DV(out), DV(t), c->B, c->dim, max_period);
    return dk_graph_custom(g, out, &t, 1, ts_bw, c, NULL);
}

static dk_status fourier_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[2];
    DK_GRADS(2, in, g);
    const dk_tensor *V = in[0]->value, *W = in[1]->value;
    DK_KCALL(out->value, dk_k_fourier_backward, g[0], g[1], DG(out), DV(out), DV(in[0]), DV(in[1]),
             (size_t)V->shape[0], (size_t)V->shape[1], (size_t)W->shape[0]);
    return DK_OK;
}

dk_var *dk_fourier_features(dk_graph *g, dk_var *v, dk_var *w) {
    dk_var *in[2] = {v, w};
    if (dk__check_inputs(g, "fourier_features", in, 2)) return NULL;
    const dk_tensor *V = v->value, *W = w->value;
    if (V->ndim != 2 || W->ndim != 2 || V->shape[1] != W->shape[1])
        return dk__op_fail(g, "fourier_features", DK_ESHAPE, "v %s and w %s: expected [B, I] and [F, I]", DK_SHP(v),
                           DK_SHP(w));
    int64_t shp[2] = {V->shape[0], 2 * W->shape[0]};
    dk_var *out = dk__graph_var(g, V->dtype, 2, shp, 0);
    if (!out) return NULL;
    DK_KCALL(V, dk_k_fourier_forward, DV(out), DV(v), DV(w), (size_t)V->shape[0], (size_t)V->shape[1],
             (size_t)W->shape[0]);
    return dk_graph_custom(g, out, in, 2, fourier_bw, NULL, NULL);
}

/* ---- constant tables ---- */

static dk_status check_table(dk_tensor *out, const char *fn, int64_t rows, int64_t cols, dk_error *err) {
    if (!out || (out->dtype != DK_F32 && out->dtype != DK_F64) || out->numel != (size_t)(rows * cols) ||
        out->shape[out->ndim - 1] != cols)
        return dk_error_set(err, DK_ESHAPE, "%s: out must be an F32/F64 tensor [%lld, %lld]", fn, (long long)rows,
                            (long long)cols);
    return DK_OK;
}

/* MAE / DiT get_2d_sincos_pos_embed: emb_h uses the column (w) coordinate. */
dk_status dk_sincos_pos_2d(dk_tensor *out, int64_t h, int64_t w, dk_error *err) {
    if (!out || out->ndim < 1) return dk_error_set(err, DK_EINVAL, "sincos_pos_2d: out is NULL");
    int64_t D = out->shape[out->ndim - 1];
    if (D % 4) return dk_error_set(err, DK_ESHAPE, "sincos_pos_2d: D = %lld must be a multiple of 4", (long long)D);
    DK_TRY(check_table(out, "sincos_pos_2d", h * w, D, err));
    int64_t q = D / 4;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            size_t row = (size_t)(r * w + c) * (size_t)D;
            for (int64_t k = 0; k < q; k++) {
                double om = 1.0 / pow(10000.0, (double)k / (double)q);
                dk_tensor_set(out, row + (size_t)k, sin((double)c * om));
                dk_tensor_set(out, row + (size_t)(q + k), cos((double)c * om));
                dk_tensor_set(out, row + (size_t)(2 * q + k), sin((double)r * om));
                dk_tensor_set(out, row + (size_t)(3 * q + k), cos((double)r * om));
            }
        }
    return DK_OK;
}

/* torch.linspace(a, b, n)[i] in float32: from the start for the first half, from the end after */
static float lin_f32(float a, float b, int64_t n, int64_t i) {
    float step = (b - a) / (float)(n - 1);
    return i < n / 2 ? a + step * (float)i : b - step * (float)(n - 1 - i);
}

/* k-diffusion make_axial_pos: centres of equal cells spanning [-1, 1] on the longer side */
dk_status dk_axial_pos(dk_tensor *out, int64_t h, int64_t w, dk_error *err) {
    if (h < 1 || w < 1) return dk_error_set(err, DK_EINVAL, "axial_pos: grid %lld x %lld", (long long)h, (long long)w);
    DK_TRY(check_table(out, "axial_pos", h * w, 2, err));
    double ar = (double)h / (double)w, hs = ar > 1 ? 1 : ar, ws = ar > 1 ? 1 / ar : 1; /* extents (y, x) */
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            size_t i = (size_t)(r * w + c) * 2;
            /* linspace(-e, e, n + 1) midpoints */
            double y = -hs + (2.0 * (double)r + 1.0) * hs / (double)h, x = -ws + (2.0 * (double)c + 1.0) * ws / (double)w;
            if (out->dtype == DK_F32) { /* k-diffusion builds positions in float32 */
                float a0 = lin_f32(-(float)hs, (float)hs, h + 1, r), a1 = lin_f32(-(float)hs, (float)hs, h + 1, r + 1);
                float b0 = lin_f32(-(float)ws, (float)ws, w + 1, c), b1 = lin_f32(-(float)ws, (float)ws, w + 1, c + 1);
                y = (a0 + a1) / 2;
                x = (b0 + b1) / 2;
            }
            dk_tensor_set(out, i, y);
            dk_tensor_set(out, i + 1, x);
        }
    return DK_OK;
}

dk_status dk_axial_pos_downscale(dk_tensor *out, const dk_tensor *pos, int64_t h, int64_t w, dk_error *err) {
    if (!pos || h % 2 || w % 2 || pos->numel != (size_t)(h * w * 2))
        return dk_error_set(err, DK_ESHAPE, "axial_pos_downscale: pos must be [%lld, 2] with h, w even", (long long)(h * w));
    DK_TRY(check_table(out, "axial_pos_downscale", (h / 2) * (w / 2), 2, err));
    for (int64_t r = 0; r < h / 2; r++)
        for (int64_t c = 0; c < w / 2; c++)
            for (int k = 0; k < 2; k++) {
                double s = 0;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) s += dk_tensor_get(pos, (size_t)((2 * r + i) * w + 2 * c + j) * 2 + (size_t)k);
                if (out->dtype == DK_F32) { /* float32 mean as torch: ((a + b) + c) + d then / 4 */
                    float fs = 0;
                    for (int i = 0; i < 2; i++)
                        for (int j = 0; j < 2; j++)
                            fs += (float)dk_tensor_get(pos, (size_t)((2 * r + i) * w + 2 * c + j) * 2 + (size_t)k);
                    s = fs;
                }
                dk_tensor_set(out, (size_t)(r * (w / 2) + c) * 2 + (size_t)k, s / 4);
            }
    return DK_OK;
}

/* exp(linspace(log pi, log 10 pi, H*F + 1)[:-1]) viewed [F, H], transposed */
dk_status dk_rope_freqs(dk_tensor *out, int64_t heads, int64_t f, dk_error *err) {
    DK_TRY(check_table(out, "rope_freqs", heads, f, err));
    int64_t n = heads * f + 1;
    double lo = log(M_PI), hi = log(10 * M_PI), step = (hi - lo) / (double)(n - 1);
    for (int64_t i = 0; i < heads * f; i++) {
        /* torch linspace: lo + i*step for i < n/2, hi - (n-1-i)*step after */
        double v = i < n / 2 ? lo + (double)i * step : hi - (double)(n - 1 - i) * step;
        int64_t fi = i / heads, hh = i % heads; /* [F, H] layout */
        dk_tensor_set(out, (size_t)(hh * f + fi), exp(v));
    }
    return DK_OK;
}
