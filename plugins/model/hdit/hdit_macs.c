/* hdit_macs.c: forward multiply-accumulates of one image, in the convention of
 * k-diffusion's models/flops.py that the paper's "GFLOP" column uses
 * (k-diffusion, `models/flops.py`): it counts exactly what flops.py counts and nothing else:
 *   every Linear (incl. LinearGEGLU, patch_in/out, merges, splits, the
 *     mapping network, time/aug input projections and every AdaRMSNorm /
 *     AdaLN linear, which sees the [B, M] cond):  prod(input shape) * out
 *   global / shifted-window attention:  heads * Lq * Lk * (dq + dv)
 *     (per window for shifted windows: heads * windows * ws^2 * ws^2 * 2d)
 *   neighborhood attention:             tokens * heads * (dq + dv) * k^2
 * Norms, GELU, softmax, RoPE, Fourier features, embeddings, residual adds and
 * lerps are not counted (flops.py does not count them). */
#include "hdit.h"

static uint64_t norm_out(const hdit_config *c, int64_t D) {
    if (c->norm == HDIT_NORM_ADARMS) return (uint64_t)D;
    return (uint64_t)D * (c->out_gate ? 3u : 2u);
}

dk_status hdit_count_macs(const hdit_config *c, int64_t H, int64_t W, uint64_t *macs, dk_error *err) {
    DK_TRY(hdit_check_size(c, H, W, err));
    uint64_t m = 0, M = (uint64_t)c->map_width;
    uint64_t h = (uint64_t)(H / c->ph), w = (uint64_t)(W / c->pw);
    uint64_t pp = (uint64_t)(c->ph * c->pw);
    /* patch_in, patch_out */
    m += h * w * pp * (uint64_t)c->in_ch * (uint64_t)c->lv[0].width;
    m += h * w * (uint64_t)c->lv[0].width * pp * (uint64_t)c->out_ch;
    /* mapping: time_in_proj, aug_in_proj, blocks (up, down) */
    m += 2 * M * M;
    uint64_t mf = (uint64_t)c->map_d_ff;
    m += (uint64_t)c->map_depth * (M * (c->map_ffn == HDIT_FFN_GEGLU ? 2 * mf : mf) + mf * M);
    for (int i = 0; i < c->n_levels; i++, h /= 2, w /= 2) {
        const hdit_level_cfg *L = &c->lv[i];
        uint64_t T = h * w, D = (uint64_t)L->width, F = (uint64_t)L->d_ff;
        uint64_t layers = (uint64_t)L->depth * (i < c->n_levels - 1 ? 2u : 1u);
        uint64_t per = 0;
        if (L->attn != HDIT_ATTN_NONE) {
            uint64_t d = (uint64_t)L->d_head, Hh = D / d;
            per += M * norm_out(c, (int64_t)D) + T * D * 3 * D + T * D * D;
            switch (L->attn) {
            case HDIT_ATTN_GLOBAL: per += Hh * T * T * 2 * d; break;
            case HDIT_ATTN_NEIGHBORHOOD: per += T * Hh * 2 * d * (uint64_t)(L->kernel * L->kernel); break;
            case HDIT_ATTN_WINDOW: {
                uint64_t ws2 = (uint64_t)(L->window * L->window), nwin = T / ws2;
                per += Hh * nwin * ws2 * ws2 * 2 * d;
                break;
            }
            default: break;
            }
        }
        per += M * norm_out(c, (int64_t)D) + T * D * (c->ffn == HDIT_FFN_GEGLU ? 2 * F : F) + T * F * D;
        m += layers * per;
        if (i < c->n_levels - 1) {
            uint64_t T2 = (h / 2) * (w / 2), D2 = (uint64_t)c->lv[i + 1].width;
            m += T2 * 4 * D * D2;                           /* merges.i */
            m += T2 * D2 * 4 * D;                           /* splits.i */
            if (c->skip == HDIT_SKIP_CONCAT) m += T * 2 * D * D; /* splits.i.cat_proj */
        }
    }
    *macs = m;
    return DK_OK;
}
