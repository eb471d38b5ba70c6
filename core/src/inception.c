/* inception.c: the FID Inception network of pytorch-fid (inception.h,
 * docs/interop.md), inference only, F32 on the CPU.
 *
 * The architecture follows, module by module:
 *  - torchvision.models.inception.Inception3 (torchvision 0.14):
 *    Conv2d_1a_3x3 ... Conv2d_4a_3x3, the two MaxPool2d(3, stride 2),
 *    InceptionB (Mixed_6a), InceptionD (Mixed_7a), BasicConv2d
 *    (conv without bias, BatchNorm2d(eps=0.001), ReLU);
 *  - pytorch-fid's fid_inception_v3() patches (src/pytorch_fid/inception.py):
 *    FIDInceptionA (Mixed_5b/5c/5d), FIDInceptionC (Mixed_6b..6e),
 *    FIDInceptionE_1 (Mixed_7b): the branch_pool's F.avg_pool2d(3, 1, 1)
 *    uses count_include_pad=False; FIDInceptionE_2 (Mixed_7c): F.max_pool2d(3,
 *    stride 1, padding 1) instead;
 *  - pytorch-fid's InceptionV3.forward: F.interpolate(x, size=(299, 299),
 *    mode="bilinear", align_corners=False), 2 x - 1, the blocks, then
 *    AdaptiveAvgPool2d((1, 1)) -> 2048 features (output block 3).
 * This is our own C code; no code of either project is copied.
 *
 * Compute: each conv is im2col (skipped for 1x1 stride-1 convs) + one
 * cblas_sgemm per image, with the batch norm folded into the weights and a
 * bias; OpenMP over the images of a batch, BLAS single-threaded (as the ops
 * in graph.c), so the features do not depend on the thread count. */
#include "diffkit/inception.h"
#include "diffkit/torchfile.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffkit/safetensors.h"

void openblas_set_num_threads(int);

#define INC_MAX_CONVS 96
#define INC_BN_EPS 0.001 /* torchvision BasicConv2d: nn.BatchNorm2d(out_channels, eps=0.001) */

typedef struct inc_conv {
    char name[48]; /* module name, e.g. "Mixed_5b.branch5x5_2" */
    int C, O, kh, kw, sh, sw, ph, pw;
    float *w; /* [O, C * kh * kw], batch norm folded in */
    float *b; /* [O] */
} inc_conv;

struct dk_inception {
    inc_conv conv[INC_MAX_CONVS];
    int n_conv;
    char path[1024];
    char digest[17];
};

/* ---- the architecture ------------------------------------------------------------ */

/* The BasicConv2d modules in the order the forward pass uses them. */
typedef struct spec {
    inc_conv *c;
    int n;
} spec;

static void add(spec *s, const char *block, const char *name, int C, int O, int kh, int kw, int stride, int ph, int pw) {
    inc_conv *c = &s->c[s->n++];
    memset(c, 0, sizeof *c);
    if (block) snprintf(c->name, sizeof c->name, "%s.%s", block, name);
    else snprintf(c->name, sizeof c->name, "%s", name);
    c->C = C, c->O = O, c->kh = kh, c->kw = kw, c->sh = c->sw = stride, c->ph = ph, c->pw = pw;
}

/* torchvision InceptionA(in_channels, pool_features) (pytorch-fid FIDInceptionA) */
static void spec_a(spec *s, const char *b, int in, int pool) {
    add(s, b, "branch1x1", in, 64, 1, 1, 1, 0, 0);
    add(s, b, "branch5x5_1", in, 48, 1, 1, 1, 0, 0);
    add(s, b, "branch5x5_2", 48, 64, 5, 5, 1, 2, 2);
    add(s, b, "branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0);
    add(s, b, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
    add(s, b, "branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1);
    add(s, b, "branch_pool", in, pool, 1, 1, 1, 0, 0);
}
/* torchvision InceptionB(in_channels) */
static void spec_b(spec *s, const char *b, int in) {
    add(s, b, "branch3x3", in, 384, 3, 3, 2, 0, 0);
    add(s, b, "branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0);
    add(s, b, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
    add(s, b, "branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0);
}
/* torchvision InceptionC(in_channels, channels_7x7) (pytorch-fid FIDInceptionC) */
static void spec_c(spec *s, const char *b, int in, int c7) {
    add(s, b, "branch1x1", in, 192, 1, 1, 1, 0, 0);
    add(s, b, "branch7x7_1", in, c7, 1, 1, 1, 0, 0);
    add(s, b, "branch7x7_2", c7, c7, 1, 7, 1, 0, 3);
    add(s, b, "branch7x7_3", c7, 192, 7, 1, 1, 3, 0);
    add(s, b, "branch7x7dbl_1", in, c7, 1, 1, 1, 0, 0);
    add(s, b, "branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0);
    add(s, b, "branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3);
    add(s, b, "branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0);
    add(s, b, "branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3);
    add(s, b, "branch_pool", in, 192, 1, 1, 1, 0, 0);
}
/* torchvision InceptionD(in_channels) */
static void spec_d(spec *s, const char *b, int in) {
    add(s, b, "branch3x3_1", in, 192, 1, 1, 1, 0, 0);
    add(s, b, "branch3x3_2", 192, 320, 3, 3, 2, 0, 0);
    add(s, b, "branch7x7x3_1", in, 192, 1, 1, 1, 0, 0);
    add(s, b, "branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3);
    add(s, b, "branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0);
    add(s, b, "branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0);
}
/* torchvision InceptionE(in_channels) (pytorch-fid FIDInceptionE_1 / _2) */
static void spec_e(spec *s, const char *b, int in) {
    add(s, b, "branch1x1", in, 320, 1, 1, 1, 0, 0);
    add(s, b, "branch3x3_1", in, 384, 1, 1, 1, 0, 0);
    add(s, b, "branch3x3_2a", 384, 384, 1, 3, 1, 0, 1);
    add(s, b, "branch3x3_2b", 384, 384, 3, 1, 1, 1, 0);
    add(s, b, "branch3x3dbl_1", in, 448, 1, 1, 1, 0, 0);
    add(s, b, "branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1);
    add(s, b, "branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1);
    add(s, b, "branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0);
    add(s, b, "branch_pool", in, 192, 1, 1, 1, 0, 0);
}

/* pytorch-fid fid_inception_v3(): Inception3's stem and Mixed blocks */
static int build_spec(inc_conv *convs) {
    spec s = {convs, 0};
    add(&s, NULL, "Conv2d_1a_3x3", 3, 32, 3, 3, 2, 0, 0);
    add(&s, NULL, "Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0);
    add(&s, NULL, "Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1);
    add(&s, NULL, "Conv2d_3b_1x1", 64, 80, 1, 1, 1, 0, 0);
    add(&s, NULL, "Conv2d_4a_3x3", 80, 192, 3, 3, 1, 0, 0);
    spec_a(&s, "Mixed_5b", 192, 32);
    spec_a(&s, "Mixed_5c", 256, 64);
    spec_a(&s, "Mixed_5d", 288, 64);
    spec_b(&s, "Mixed_6a", 288);
    spec_c(&s, "Mixed_6b", 768, 128);
    spec_c(&s, "Mixed_6c", 768, 160);
    spec_c(&s, "Mixed_6d", 768, 160);
    spec_c(&s, "Mixed_6e", 768, 192);
    spec_d(&s, "Mixed_7a", 768);
    spec_e(&s, "Mixed_7b", 1280);
    spec_e(&s, "Mixed_7c", 2048);
    return s.n;
}

/* ---- loading -------------------------------------------------------------------- */

static const char *const BN_PARTS[4] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};

static dk_tensor *find(size_t n, const char *const *names, dk_tensor *const *tensors, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], name)) return tensors[i];
    return NULL;
}

static void shape_text(char *buf, size_t n, int nd, const int64_t *shp) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && len < n; i++) len += (size_t)snprintf(buf + len, n - len, i ? ", %lld" : "%lld", (long long)shp[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

/* the tensor `name` with shape shp[0..nd), or an error naming it */
static dk_tensor *need(size_t n, const char *const *names, dk_tensor *const *tensors, const char *name, int nd,
                       const int64_t *shp, dk_error *err) {
    char want[96], got[96];
    shape_text(want, sizeof want, nd, shp);
    dk_tensor *t = find(n, names, tensors, name);
    if (!t) {
        dk_error_set(err, DK_ENOTFOUND,
                     "inception: missing tensor '%s' (expected shape %s): the weights must be pytorch-fid's FID "
                     "Inception state dict (pt_inception-2015-12-05-*.pth)", name, want);
        return NULL;
    }
    int ok = t->ndim == nd && t->device == DK_CPU &&
             (t->dtype == DK_F32 || t->dtype == DK_F64 || t->dtype == DK_F16 || t->dtype == DK_BF16);
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == shp[i];
    if (!ok) {
        shape_text(got, sizeof got, t->ndim, t->shape);
        dk_error_set(err, DK_ESHAPE, "inception: tensor '%s' is %s %s, expected a float tensor of shape %s", name,
                     dk_dtype_name(t->dtype), got, want);
        return NULL;
    }
    return t;
}

/* w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps), in double */
static dk_status fold(inc_conv *c, const dk_tensor *w, dk_tensor *const bn[4], dk_error *err) {
    size_t K = (size_t)c->C * (size_t)c->kh * (size_t)c->kw;
    c->w = malloc(sizeof(float) * K * (size_t)c->O);
    c->b = malloc(sizeof(float) * (size_t)c->O);
    if (!c->w || !c->b) return dk_error_set(err, DK_ENOMEM, "inception: out of memory loading %s", c->name);
    for (int o = 0; o < c->O; o++) {
        double g = dk_tensor_get(bn[0], (size_t)o), beta = dk_tensor_get(bn[1], (size_t)o);
        double m = dk_tensor_get(bn[2], (size_t)o), v = dk_tensor_get(bn[3], (size_t)o);
        if (!(v + INC_BN_EPS > 0) || !isfinite(g) || !isfinite(beta) || !isfinite(m) || !isfinite(v))
            return dk_error_set(err, DK_ENUMERIC,
                                "inception: %s.bn has a non-finite value or running_var + eps <= 0 at channel %d", c->name,
                                o);
        double s = g / sqrt(v + INC_BN_EPS);
        c->b[o] = (float)(beta - m * s);
        for (size_t k = 0; k < K; k++) {
            double x = dk_tensor_get(w, (size_t)o * K + k);
            if (!isfinite(x))
                return dk_error_set(err, DK_ENUMERIC, "inception: %s.conv.weight has a non-finite value", c->name);
            c->w[(size_t)o * K + k] = (float)(x * s);
        }
    }
    return DK_OK;
}

dk_inception *dk_inception_from_tensors(size_t n, const char *const *names, dk_tensor *const *tensors, dk_error *err) {
    dk_inception *net = calloc(1, sizeof *net);
    if (!net) {
        dk_error_set(err, DK_ENOMEM, "inception: out of memory");
        return NULL;
    }
    net->n_conv = build_spec(net->conv);
    dk_status st = DK_OK;
    for (int i = 0; i < net->n_conv && !st; i++) {
        inc_conv *c = &net->conv[i];
        char tn[96];
        snprintf(tn, sizeof tn, "%s.conv.weight", c->name);
        dk_tensor *w = need(n, names, tensors, tn, 4, (int64_t[]){c->O, c->C, c->kh, c->kw}, err), *bn[4] = {0};
        for (int j = 0; j < 4 && w; j++) {
            snprintf(tn, sizeof tn, "%s.%s", c->name, BN_PARTS[j]);
            if (!(bn[j] = need(n, names, tensors, tn, 1, (int64_t[]){c->O}, err))) w = NULL;
        }
        st = w ? fold(c, w, bn, err) : (err ? err->code : DK_ENOTFOUND);
        if (!w && !st) st = DK_ENOTFOUND;
    }
    if (st) {
        dk_inception_free(net);
        return NULL;
    }
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a 64 over the folded weights' bytes */
    for (int i = 0; i < net->n_conv; i++) {
        const inc_conv *c = &net->conv[i];
        size_t nw = (size_t)c->O * (size_t)c->C * (size_t)(c->kh * c->kw);
        const unsigned char *pw = (const unsigned char *)c->w, *pb = (const unsigned char *)c->b;
        for (size_t k = 0; k < nw * sizeof(float); k++) h = (h ^ pw[k]) * 0x100000001B3ull;
        for (size_t k = 0; k < (size_t)c->O * sizeof(float); k++) h = (h ^ pb[k]) * 0x100000001B3ull;
    }
    snprintf(net->digest, sizeof net->digest, "%016llx", (unsigned long long)h);
    return net;
}

size_t dk_inception_tensor_count(void) {
    inc_conv c[INC_MAX_CONVS];
    return (size_t)build_spec(c) * 5;
}

int dk_inception_tensor_spec(size_t i, char *name, size_t n, int64_t shape[4]) {
    inc_conv cs[INC_MAX_CONVS];
    size_t nc = (size_t)build_spec(cs);
    if (i >= nc * 5) return 0;
    const inc_conv *c = &cs[i / 5];
    if (i % 5 == 0) {
        snprintf(name, n, "%s.conv.weight", c->name);
        shape[0] = c->O, shape[1] = c->C, shape[2] = c->kh, shape[3] = c->kw;
        return 4;
    }
    snprintf(name, n, "%s.%s", c->name, BN_PARTS[i % 5 - 1]);
    shape[0] = c->O;
    return 1;
}

/* ---- the .pth route ------------------------------------------------------------------
 * THE ONE PLACE WHERE READING PYTORCH'S .pth PLUGS IN. pytorch-fid's weights
 * file is a torch.save zip (pickled OrderedDict of tensors). Once the torch
 * reader (core/include/diffkit/torchfile.h: dk_pt_open, dk_pt_state_dict) is
 * merged, this function opens `path`, gets the state dict as (names, tensors)
 * and returns dk_inception_from_tensors(n, names, tensors, err). */
static int ends_with(const char *s, const char *suf);

/* Tensors the FID features do not use (pytorch-fid's weights carry the
 * classifier, and a torchvision state dict the aux head and BN counters). */
static int unused_tensor(const char *nm) {
    return !strncmp(nm, "fc.", 3) || !strncmp(nm, "AuxLogits.", 10) || ends_with(nm, "num_batches_tracked");
}

/* pytorch-fid's pt_inception-2015-12-05-*.pth: a state dict saved by
 * torch.save (legacy or zip layout), read by diffkit's torch reader
 * (torchfile.h: no code from the file runs). */
static dk_inception *load_pth(const char *path, dk_error *err) {
    dk_pt_file *f = dk_pt_open(path, err);
    if (!f) return NULL;
    dk_pt_named *sd = NULL;
    size_t n = 0, k = 0;
    dk_inception *net = NULL;
    dk_status st = dk_pt_state_dict(f, NULL, &sd, &n, err);
    const char **names = st ? NULL : calloc(n ? n : 1, sizeof *names);
    dk_tensor **ts = st ? NULL : calloc(n ? n : 1, sizeof *ts);
    if (!st && (!names || !ts)) st = dk_error_set(err, DK_ENOMEM, "inception: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        if (unused_tensor(sd[i].name)) continue;
        names[k] = sd[i].name;
        if (!(ts[k] = dk_pv_tensor_as(sd[i].value, DK_F32, err))) st = err ? err->code : DK_EIO;
        else k++;
    }
    if (!st) {
        net = dk_inception_from_tensors(k, names, ts, err);
        if (!net) dk_error_prefix(err, "'%s'", path);
        else snprintf(net->path, sizeof net->path, "%s", path);
    }
    for (size_t i = 0; i < k; i++) dk_tensor_free(ts[i]);
    free(names);
    free(ts);
    if (sd) dk_pt_named_free(sd, n);
    dk_pt_close(f);
    return net;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* a torch.save file: a zip archive, or a legacy pickle (PROTO opcode 0x80) */
static int is_torch(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char m[4] = {0};
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    return (got == 4 && m[0] == 'P' && m[1] == 'K' && m[2] == 3 && m[3] == 4) || (got >= 1 && m[0] == 0x80);
}

dk_inception *dk_inception_load(const char *path, dk_error *err) {
    if (ends_with(path, ".pth") || ends_with(path, ".pt") || is_torch(path)) return load_pth(path, err);
    dk_st_file *f = dk_st_open(path, err);
    if (!f) return NULL;
    size_t n = dk_st_count(f), k = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    dk_tensor **ts = calloc(n ? n : 1, sizeof *ts);
    dk_inception *net = NULL;
    dk_status st = names && ts ? DK_OK : dk_error_set(err, DK_ENOMEM, "inception: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        const char *nm = dk_st_name(f, i);
        if (unused_tensor(nm)) continue;
        names[k] = nm;
        if (!(ts[k] = dk_st_get(f, nm, err))) st = err ? err->code : DK_EIO;
        else k++;
    }
    if (!st) {
        net = dk_inception_from_tensors(k, names, ts, err);
        if (!net) dk_error_prefix(err, "'%s'", path);
        else snprintf(net->path, sizeof net->path, "%s", path);
    }
    for (size_t i = 0; i < k; i++) dk_tensor_free(ts[i]);
    free(names);
    free(ts);
    dk_st_close(f);
    return net;
}

void dk_inception_free(dk_inception *n) {
    if (!n) return;
    for (int i = 0; i < n->n_conv; i++) {
        free(n->conv[i].w);
        free(n->conv[i].b);
    }
    free(n);
}

const char *dk_inception_name(const dk_inception *n) { (void)n; return DK_INCEPTION_NAME; }
const char *dk_inception_path(const dk_inception *n) { return n->path; }
int64_t dk_inception_dim(const dk_inception *n) { (void)n; return DK_INCEPTION_DIM; }
const char *dk_inception_digest(const dk_inception *n) { return n->digest; }

/* ---- the forward pass of one image ------------------------------------------------ */

typedef struct act {
    float *x;
    int C, H, W;
} act;

#define INC_COL_FLOATS (1u << 18) /* im2col chunk: 1 MB, so that it stays in cache for its GEMM */

/* rows [oh0, oh0 + nr) of the im2col matrix of x into buf: row r = (ch, i, j) of K at buf + r * nr * Wo */
static void im2col_rows(const inc_conv *c, const float *x, int H, int W, int Wo, int oh0, int nr, float *buf) {
    size_t Pc = (size_t)nr * (size_t)Wo;
    for (int ch = 0; ch < c->C; ch++)
        for (int i = 0; i < c->kh; i++)
            for (int j = 0; j < c->kw; j++) {
                float *row = buf + ((size_t)(ch * c->kh + i) * (size_t)c->kw + (size_t)j) * Pc;
                const float *xc = x + (size_t)ch * (size_t)H * (size_t)W;
                /* output columns whose input column ow*sw + j - pw is inside [0, W) */
                int off = j - c->pw, lo = off >= 0 ? 0 : (-off + c->sw - 1) / c->sw;
                int hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / c->sw + 1;
                if (hi > Wo) hi = Wo;
                if (lo > hi) lo = hi;
                for (int r = 0; r < nr; r++) {
                    float *out = row + (size_t)r * (size_t)Wo;
                    int ih = (oh0 + r) * c->sh + i - c->ph;
                    if (ih < 0 || ih >= H) {
                        memset(out, 0, sizeof(float) * (size_t)Wo);
                        continue;
                    }
                    const float *xr = xc + (size_t)ih * (size_t)W;
                    for (int ow = 0; ow < lo; ow++) out[ow] = 0;
                    if (c->sw == 1) memcpy(out + lo, xr + lo + off, sizeof(float) * (size_t)(hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++) out[ow] = xr[ow * c->sw + off];
                    for (int ow = hi; ow < Wo; ow++) out[ow] = 0;
                }
            }
}

/* bias + ReLU on columns [p0, p0 + n) of y [O, P] */
static void bias_relu(const inc_conv *c, float *y, size_t P, size_t p0, size_t n) {
    for (int o = 0; o < c->O; o++) {
        float *yo = y + (size_t)o * P + p0, b = c->b[o];
        for (size_t p = 0; p < n; p++) {
            float v = yo[p] + b;
            yo[p] = v > 0 ? v : 0;
        }
    }
}

/* One BasicConv2d (folded): y (c->O, Ho, Wo) = relu(W * im2col(x) + b). y may be
 * a channel slice of a larger buffer (the concatenation of a block). A 1x1
 * stride-1 conv is one GEMM on x itself; others run in chunks of output rows
 * (im2col of the chunk, one GEMM into those columns of y, bias + ReLU). */
static int conv(const inc_conv *c, const float *x, int H, int W, float *y, int *Ho_, int *Wo_) {
    int Ho = (H + 2 * c->ph - c->kh) / c->sh + 1, Wo = (W + 2 * c->pw - c->kw) / c->sw + 1;
    size_t P = (size_t)Ho * (size_t)Wo, K = (size_t)c->C * (size_t)(c->kh * c->kw);
    *Ho_ = Ho, *Wo_ = Wo;
    if (c->kh == 1 && c->kw == 1 && c->sh == 1 && c->ph == 0 && c->pw == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->O, (int)P, (int)K, 1.0f, c->w, (int)K, x, (int)P,
                    0.0f, y, (int)P);
        bias_relu(c, y, P, 0, P);
        return 0;
    }
    size_t rows = INC_COL_FLOATS / (K * (size_t)Wo);
    if (rows < 1) rows = 1;
    if (rows > (size_t)Ho) rows = (size_t)Ho;
    float *buf = malloc(sizeof(float) * K * rows * (size_t)Wo);
    if (!buf) return -1;
    for (int oh0 = 0; oh0 < Ho; oh0 += (int)rows) {
        int nr = Ho - oh0 < (int)rows ? Ho - oh0 : (int)rows;
        size_t Pc = (size_t)nr * (size_t)Wo, p0 = (size_t)oh0 * (size_t)Wo;
        im2col_rows(c, x, H, W, Wo, oh0, nr, buf);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->O, (int)Pc, (int)K, 1.0f, c->w, (int)K, buf, (int)Pc,
                    0.0f, y + p0, (int)P);
        bias_relu(c, y, P, p0, Pc);
    }
    free(buf);
    return 0;
}

/* F.max_pool2d(x, kernel_size=3, stride=2) (no padding) */
static void maxpool3s2(const float *x, int C, int H, int W, float *y, int *Ho_, int *Wo_) {
    int Ho = (H - 3) / 2 + 1, Wo = (W - 3) / 2 + 1;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * (size_t)H * (size_t)W;
        float *yc = y + (size_t)c * (size_t)Ho * (size_t)Wo;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                const float *p = xc + (size_t)(2 * oh) * (size_t)W + (size_t)(2 * ow);
                float m = p[0];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) m = p[i * W + j] > m ? p[i * W + j] : m;
                yc[oh * Wo + ow] = m;
            }
    }
    *Ho_ = Ho, *Wo_ = Wo;
}

/* 3x3, stride 1, padding 1, same size: avg with count_include_pad=False (pytorch-fid's
 * FIDInceptionA/C/E_1: TensorFlow's average pool ignores the padding) or max (FIDInceptionE_2) */
static void pool3s1(const float *x, int C, int H, int W, float *y, int is_max) {
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * (size_t)H * (size_t)W;
        float *yc = y + (size_t)c * (size_t)H * (size_t)W;
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                int h0 = h > 0 ? h - 1 : 0, h1 = h < H - 1 ? h + 1 : H - 1;
                int w0 = w > 0 ? w - 1 : 0, w1 = w < W - 1 ? w + 1 : W - 1;
                float s = is_max ? xc[h0 * W + w0] : 0;
                for (int i = h0; i <= h1; i++)
                    for (int j = w0; j <= w1; j++) {
                        float v = xc[i * W + j];
                        if (is_max) s = v > s ? v : s;
                        else s += v;
                    }
                yc[h * W + w] = is_max ? s : s / (float)((h1 - h0 + 1) * (w1 - w0 + 1));
            }
    }
}

typedef struct fwd {
    const inc_conv *c; /* the next conv in spec order */
    int fail;
} fwd;

static float *fa(fwd *f, size_t n) {
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) f->fail = 1;
    return p;
}

/* runs the next conv on a, writing into dst (channel slice); returns its output shape */
static act run(fwd *f, act a, float *dst) {
    const inc_conv *c = f->c++;
    act o = {dst, c->O, 0, 0};
    if (f->fail || !dst || conv(c, a.x, a.H, a.W, dst, &o.H, &o.W)) f->fail = 1;
    return o;
}

/* output size of the next conv without running it */
static act shape_of(const inc_conv *c, act a) {
    act o = {NULL, c->O, (a.H + 2 * c->ph - c->kh) / c->sh + 1, (a.W + 2 * c->pw - c->kw) / c->sw + 1};
    return o;
}

static size_t numel(act a) { return (size_t)a.C * (size_t)a.H * (size_t)a.W; }

/* a chain of convs of one branch: the first reads a, the last writes into dst */
static act chain(fwd *f, act a, int len, float *dst) {
    act cur = a;
    float *prev = NULL; /* the temporary holding cur */
    for (int i = 0; i < len && !f->fail; i++) {
        float *out = i == len - 1 ? dst : fa(f, numel(shape_of(f->c, cur)));
        act nx = run(f, cur, out);
        free(prev);
        prev = i == len - 1 ? NULL : out;
        cur = nx;
    }
    free(prev);
    return cur;
}

static float *slice(float *y, int c0, int H, int W) { return y ? y + (size_t)c0 * (size_t)H * (size_t)W : NULL; }

/* branch_pool: 3x3 stride-1 pooling (average without the padding, or max),
 * then the branch's 1x1 conv into out */
static void pool_branch(fwd *f, act x, int is_max, float *out) {
    act p = {fa(f, numel(x)), x.C, x.H, x.W};
    if (!f->fail) pool3s1(x.x, x.C, x.H, x.W, p.x, is_max);
    chain(f, p, 1, out);
    free(p.x);
}

/* FIDInceptionA: [branch1x1 64, branch5x5 64, branch3x3dbl 96, branch_pool pool] */
static act block_a(fwd *f, act x, int pool) {
    act y = {fa(f, (size_t)(224 + pool) * (size_t)x.H * (size_t)x.W), 224 + pool, x.H, x.W};
    chain(f, x, 1, slice(y.x, 0, x.H, x.W));
    chain(f, x, 2, slice(y.x, 64, x.H, x.W));
    chain(f, x, 3, slice(y.x, 128, x.H, x.W));
    pool_branch(f, x, 0, slice(y.x, 224, x.H, x.W));
    return y;
}

/* InceptionB (Mixed_6a): [branch3x3 384, branch3x3dbl 96, max pool C] at stride 2 */
static act block_b(fwd *f, act x) {
    int Ho = (x.H - 3) / 2 + 1, Wo = (x.W - 3) / 2 + 1, h, w;
    act y = {fa(f, (size_t)(480 + x.C) * (size_t)Ho * (size_t)Wo), 480 + x.C, Ho, Wo};
    chain(f, x, 1, slice(y.x, 0, Ho, Wo));
    chain(f, x, 3, slice(y.x, 384, Ho, Wo));
    if (!f->fail) maxpool3s2(x.x, x.C, x.H, x.W, slice(y.x, 480, Ho, Wo), &h, &w);
    return y;
}

/* FIDInceptionC: [branch1x1 192, branch7x7 192, branch7x7dbl 192, branch_pool 192] */
static act block_c(fwd *f, act x) {
    act y = {fa(f, (size_t)768 * (size_t)x.H * (size_t)x.W), 768, x.H, x.W};
    chain(f, x, 1, slice(y.x, 0, x.H, x.W));
    chain(f, x, 3, slice(y.x, 192, x.H, x.W));
    chain(f, x, 5, slice(y.x, 384, x.H, x.W));
    pool_branch(f, x, 0, slice(y.x, 576, x.H, x.W));
    return y;
}

/* InceptionD (Mixed_7a): [branch3x3 320, branch7x7x3 192, max pool C] at stride 2 */
static act block_d(fwd *f, act x) {
    int Ho = (x.H - 3) / 2 + 1, Wo = (x.W - 3) / 2 + 1, h, w;
    act y = {fa(f, (size_t)(512 + x.C) * (size_t)Ho * (size_t)Wo), 512 + x.C, Ho, Wo};
    chain(f, x, 2, slice(y.x, 0, Ho, Wo));
    chain(f, x, 4, slice(y.x, 320, Ho, Wo));
    if (!f->fail) maxpool3s2(x.x, x.C, x.H, x.W, slice(y.x, 512, Ho, Wo), &h, &w);
    return y;
}

/* FIDInceptionE_1 (is_max 0) / FIDInceptionE_2 (is_max 1):
 * [branch1x1 320, branch3x3 (2a 384, 2b 384), branch3x3dbl (3a 384, 3b 384), branch_pool 192] */
static act block_e(fwd *f, act x, int is_max) {
    int H = x.H, W = x.W;
    act y = {fa(f, (size_t)2048 * (size_t)H * (size_t)W), 2048, H, W};
    chain(f, x, 1, slice(y.x, 0, H, W));
    act t = {fa(f, (size_t)384 * (size_t)H * (size_t)W), 384, H, W};
    t = run(f, x, t.x);                    /* branch3x3_1 */
    run(f, t, slice(y.x, 320, H, W));      /* branch3x3_2a */
    run(f, t, slice(y.x, 704, H, W));      /* branch3x3_2b */
    free(t.x);
    act u = {fa(f, (size_t)448 * (size_t)H * (size_t)W), 448, H, W};
    u = run(f, x, u.x);                    /* branch3x3dbl_1 */
    act v = {fa(f, (size_t)384 * (size_t)H * (size_t)W), 384, H, W};
    v = run(f, u, v.x);                    /* branch3x3dbl_2 */
    run(f, v, slice(y.x, 1088, H, W));     /* branch3x3dbl_3a */
    run(f, v, slice(y.x, 1472, H, W));     /* branch3x3dbl_3b */
    free(u.x);
    free(v.x);
    pool_branch(f, x, is_max, slice(y.x, 1856, H, W));
    return y;
}

/* replaces *a by b (frees the old activation) */
static void step(act *a, act b) {
    free(a->x);
    *a = b;
}

/* in: 3 x 299 x 299, already resized and normalized to [-1, 1]; feat: 2048 doubles */
static int forward_one(const dk_inception *n, const float *in, double *feat) {
    fwd f = {n->conv, 0};
    act a = {NULL, 3, DK_INCEPTION_SIZE, DK_INCEPTION_SIZE};
    act x = {(float *)in, 3, DK_INCEPTION_SIZE, DK_INCEPTION_SIZE};
    for (int i = 0; i < 3; i++) { /* Conv2d_1a_3x3, 2a, 2b */
        act s = shape_of(f.c, i ? a : x);
        act o = run(&f, i ? a : x, fa(&f, numel(s)));
        step(&a, o);
    }
    act m = {fa(&f, numel(a)), a.C, 0, 0}; /* maxpool1 */
    if (!f.fail) maxpool3s2(a.x, a.C, a.H, a.W, m.x, &m.H, &m.W);
    step(&a, m);
    for (int i = 0; i < 2; i++) { /* Conv2d_3b_1x1, Conv2d_4a_3x3 */
        act s = shape_of(f.c, a);
        step(&a, run(&f, a, fa(&f, numel(s))));
    }
    m = (act){fa(&f, numel(a)), a.C, 0, 0}; /* maxpool2 */
    if (!f.fail) maxpool3s2(a.x, a.C, a.H, a.W, m.x, &m.H, &m.W);
    step(&a, m);
    step(&a, block_a(&f, a, 32));  /* Mixed_5b */
    step(&a, block_a(&f, a, 64));  /* Mixed_5c */
    step(&a, block_a(&f, a, 64));  /* Mixed_5d */
    step(&a, block_b(&f, a));      /* Mixed_6a */
    for (int i = 0; i < 4; i++) step(&a, block_c(&f, a)); /* Mixed_6b..6e */
    step(&a, block_d(&f, a));      /* Mixed_7a */
    step(&a, block_e(&f, a, 0));   /* Mixed_7b */
    step(&a, block_e(&f, a, 1));   /* Mixed_7c */
    if (!f.fail && (a.C != DK_INCEPTION_DIM || f.c != n->conv + n->n_conv)) f.fail = 1;
    for (int c = 0; !f.fail && c < a.C; c++) { /* AdaptiveAvgPool2d((1, 1)) */
        const float *p = a.x + (size_t)c * (size_t)a.H * (size_t)a.W;
        double s = 0;
        for (int k = 0; k < a.H * a.W; k++) s += p[k];
        feat[c] = (float)(s / (a.H * a.W));
    }
    free(a.x);
    return f.fail ? -1 : 0;
}

/* ---- input: [-1, 1] -> [0, 1] -> bilinear 299 x 299 -> [-1, 1] ---------------------- */

/* F.interpolate(mode="bilinear", align_corners=False) source index and weights of
 * output index d of `out` from `in` samples (ATen area_pixel_compute_source_index:
 * src = max(scale * (d + 0.5) - 0.5, 0), scale = in / out) */
static void lin_index(int d, int in, int out, int *i0, int *i1, float *l1) {
    double src = (double)in / out * (d + 0.5) - 0.5;
    if (src < 0) src = 0;
    int i = (int)src;
    if (i > in - 1) i = in - 1;
    *i0 = i, *i1 = i < in - 1 ? i + 1 : i;
    *l1 = (float)(src - i);
}

/* image i of src (C = 1 or 3, H, W, any float dtype) -> dst 3 x 299 x 299 */
static void prepare(const dk_tensor *src, int64_t i, float *dst, float *tmp) {
    int64_t C = src->shape[1], H = src->shape[2], W = src->shape[3];
    const int S = DK_INCEPTION_SIZE;
    size_t plane = (size_t)(H * W);
    for (int64_t c = 0; c < C; c++) /* clamp, (x + 1) / 2 in float as the golden's torch route */
        for (size_t k = 0; k < plane; k++) {
            float v = (float)dk_tensor_get(src, ((size_t)i * (size_t)C + (size_t)c) * plane + k);
            v = v < -1 ? -1 : v > 1 ? 1 : v;
            tmp[(size_t)c * plane + k] = (v + 1) / 2;
        }
    for (int64_t c = 0; c < 3; c++) {
        const float *x = tmp + (size_t)(C == 1 ? 0 : c) * plane;
        float *y = dst + (size_t)c * (size_t)S * (size_t)S;
        for (int oh = 0; oh < S; oh++) {
            int h0, h1, w0, w1;
            float lh, lw;
            lin_index(oh, (int)H, S, &h0, &h1, &lh);
            for (int ow = 0; ow < S; ow++) {
                lin_index(ow, (int)W, S, &w0, &w1, &lw);
                float top = (1 - lw) * x[h0 * W + w0] + lw * x[h0 * W + w1];
                float bot = (1 - lw) * x[h1 * W + w0] + lw * x[h1 * W + w1];
                float v = (1 - lh) * top + lh * bot;
                y[oh * S + ow] = 2 * v - 1; /* pytorch-fid normalize_input */
            }
        }
    }
}

static void blas_single_thread(void) {
    static int done = 0;
    if (done) return;
    done = 1;
    if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
}

/* features of images [i0, i0 + b) of src into out (F64 rows of 2048) */
static dk_status run_images(dk_inception *n, const dk_tensor *src, int64_t i0, int64_t b, double *out, dk_error *err) {
    blas_single_thread();
    int64_t C = src->shape[1], H = src->shape[2], W = src->shape[3];
    size_t in_n = (size_t)3 * DK_INCEPTION_SIZE * DK_INCEPTION_SIZE, tmp_n = (size_t)(C * H * W);
    int fail = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : fail)
    for (int64_t i = 0; i < b; i++) {
        float *in = malloc(sizeof(float) * in_n), *tmp = malloc(sizeof(float) * tmp_n);
        if (!in || !tmp) fail |= 1;
        else {
            prepare(src, i0 + i, in, tmp);
            if (forward_one(n, in, out + (size_t)i * DK_INCEPTION_DIM)) fail |= 1;
        }
        free(in);
        free(tmp);
    }
    if (fail) return dk_error_set(err, DK_ENOMEM, "inception: out of memory computing features");
    return DK_OK;
}

static dk_status check_images(const dk_tensor *t, dk_error *err) {
    if (!t || t->ndim != 4 || (t->dtype != DK_F32 && t->dtype != DK_F64) || t->device != DK_CPU ||
        (t->shape[1] != 1 && t->shape[1] != 3) || t->shape[2] < 1 || t->shape[3] < 1)
        return dk_error_set(err, DK_ESHAPE,
                            "inception: images must be an F32/F64 CPU tensor [N, C, H, W] with C = 1 or 3, in [-1, 1]");
    return DK_OK;
}

dk_tensor *dk_inception_features(dk_inception *n, const dk_tensor *images, int64_t batch, dk_error *err) {
    if (check_images(images, err)) return NULL;
    if (batch < 1) batch = 50;
    int64_t N = images->shape[0];
    dk_tensor *out = dk_tensor_new(DK_F64, 2, (int64_t[]){N, DK_INCEPTION_DIM}, err);
    if (!out) return NULL;
    for (int64_t i0 = 0; i0 < N; i0 += batch) {
        int64_t b = N - i0 < batch ? N - i0 : batch;
        if (run_images(n, images, i0, b, dk_f64(out) + (size_t)i0 * DK_INCEPTION_DIM, err)) {
            dk_tensor_free(out);
            return NULL;
        }
    }
    return out;
}

dk_tensor *dk_inception_dataset_features(dk_inception *n, const dk_dataset *ds, const int64_t *idx, int64_t count,
                                         int64_t batch, dk_error *err) {
    if (batch < 1) batch = 50;
    if (count < 1 || (!idx && count > ds->count)) {
        dk_error_set(err, DK_EINVAL, "inception: %lld images asked of dataset '%s' (%lld images)", (long long)count,
                     ds->name, (long long)ds->count);
        return NULL;
    }
    if (ds->channels != 1 && ds->channels != 3) {
        dk_error_set(err, DK_ESHAPE, "inception: dataset '%s' has %d channels, the network takes 1 (grey) or 3", ds->name,
                     (int)ds->channels);
        return NULL;
    }
    dk_tensor *out = dk_tensor_new(DK_F64, 2, (int64_t[]){count, DK_INCEPTION_DIM}, err);
    if (!out) return NULL;
    size_t per = (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    for (int64_t i0 = 0; i0 < count; i0 += batch) {
        int64_t b = count - i0 < batch ? count - i0 : batch;
        dk_tensor *img = dk_tensor_new(DK_F32, 4, (int64_t[]){b, ds->channels, ds->height, ds->width}, err);
        dk_status st = img ? DK_OK : DK_ENOMEM;
        for (int64_t i = 0; i < b && !st; i++) {
            int64_t lab = 0;
            st = dk_dataset_get(ds, idx ? idx[i0 + i] : i0 + i, dk_f32(img) + (size_t)i * per, &lab, err);
        }
        if (!st) st = run_images(n, img, 0, b, dk_f64(out) + (size_t)i0 * DK_INCEPTION_DIM, err);
        dk_tensor_free(img);
        if (st) {
            dk_tensor_free(out);
            return NULL;
        }
    }
    return out;
}
