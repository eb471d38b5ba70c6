/* dist.c: ranks, collectives and the fixed-order gradient sum (dist.h).
 * Compiled with MPI when CMake found it (DIFFKIT_HAVE_MPI) and with NCCL in a
 * CUDA build that found it (DIFFKIT_HAVE_NCCL); otherwise a world of 1. */
#include "diffkit/dist.h"
#include "backend/backend.h"
#include "diffkit/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef DIFFKIT_HAVE_MPI
#include <mpi.h>
#endif
#ifdef DIFFKIT_HAVE_NCCL
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#endif

static int g_rank = 0, g_world = 1, g_local_rank = 0, g_local_world = 1, g_inited = 0;
__attribute__((unused)) static int g_mpi = 0;
/* DIFFKIT_DIST_FORCE=1: the gradient sum takes the collective path (MPI
 * under mpirun -np 1, NCCL for GPU memory, with or without mpirun) in a
 * world of 1, so one GPU checks the NCCL path end to end (tests/dist/nccl.lua). */
static int g_force = 0;
static char g_host[256] = "";
static double g_comm_seconds = 0;

/* The bucket size of the fixed-order sum (elements): bounds the MPI counts
 * (int) and the scratch memory. */
#define DK_DIST_BUCKET ((size_t)1 << 24)

int dk_dist_built(void) {
#ifdef DIFFKIT_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int dk_dist_nccl_built(void) {
#ifdef DIFFKIT_HAVE_NCCL
    return 1;
#else
    return 0;
#endif
}

#ifndef DIFFKIT_HAVE_NCCL
int dk_dist_nccl_available(char *why, size_t n) {
    if (why && n) snprintf(why, n, "this diffkit was built without NCCL (a CUDA build finds nccl.h in the CUDA toolkit or $NCCL_HOME)");
    return 0;
}
#endif

int dk_dist_rank(void) { return g_rank; }
int dk_dist_world(void) { return g_world; }
int dk_dist_local_rank(void) { return g_local_rank; }
int dk_dist_local_world(void) { return g_local_world; }
double dk_dist_comm_seconds(void) { return g_comm_seconds; }

const char *dk_dist_host(void) {
    if (!g_host[0] && gethostname(g_host, sizeof g_host - 1) != 0) strcpy(g_host, "?");
    return g_host;
}

/* Started by a launcher: OpenMPI, PMIx (OpenMPI 5, Slurm), MPICH/Hydra. */
static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE") || getenv("PMI_RANK");
}

#ifdef DIFFKIT_HAVE_MPI
static dk_status mpi_fail(dk_error *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
    return dk_error_set(err, DK_EIO, "%s failed on rank %d of %d (%s): %s: another rank has probably died or failed "
                        "(see its message)", what, g_rank, g_world, dk_dist_host(), msg);
}
#define MPI_TRY(call, what) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) return mpi_fail(err, rc_, what); } while (0)
#endif

dk_status dk_dist_init(dk_error *err) {
    if (g_inited) return DK_OK;
    g_inited = 1;
    dk_dist_host();
    g_force = getenv("DIFFKIT_DIST_FORCE") && strcmp(getenv("DIFFKIT_DIST_FORCE"), "1") == 0;
    if (!launched_by_mpirun()) return DK_OK;
#ifdef DIFFKIT_HAVE_MPI
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
        int provided = 0;
        /* FUNNELED: only the main thread calls MPI (OpenMP threads compute) */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return dk_error_set(err, DK_EIO, "MPI_Init failed on host %s: check the mpirun command line", g_host);
    }
    g_mpi = 1;
    /* errors come back as codes, reported with the rank (never a silent abort) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &g_local_rank);
        MPI_Comm_size(local, &g_local_world);
        MPI_Comm_free(&local);
    }
    return DK_OK;
#else
    const char *n = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : getenv("PMI_SIZE");
    if (n && atoi(n) > 1)
        return dk_error_set(err, DK_EUNSUPPORTED, "started by mpirun with %s ranks, but this diffkit was built without "
                            "MPI: install libopenmpi-dev (tools/install-deps.sh) and rebuild with -DDIFFKIT_MPI=ON", n);
    return DK_OK;
#endif
}

#ifdef DIFFKIT_HAVE_NCCL
/* NCCL is loaded at run time (dlopen), so libdiffkit needs no libnccl to
 * load: a CUDA build runs on machines without NCCL (or with PyTorch's copy:
 * DIFFKIT_NCCL_LIB=/path/to/libnccl.so.2). */
static struct {
    int tried, ok;
    ncclResult_t (*GetUniqueId)(ncclUniqueId *);
    ncclResult_t (*CommInitRank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*CommDestroy)(ncclComm_t);
    const char *(*GetErrorString)(ncclResult_t);
    ncclResult_t (*GroupStart)(void);
    ncclResult_t (*GroupEnd)(void);
    ncclResult_t (*Send)(const void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*Recv)(void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*Broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
} nc;
static char nc_why[512];

static int nccl_load(void) {
    if (nc.tried) return nc.ok;
    nc.tried = 1;
    const char *cands[] = {getenv("DIFFKIT_NCCL_LIB"), "libnccl.so.2", "libnccl.so",
#ifdef DIFFKIT_NCCL_PATH
                           DIFFKIT_NCCL_PATH,
#endif
                           NULL};
    void *h = NULL;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !h; i++)
        if (cands[i] && cands[i][0]) h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(nc_why, sizeof nc_why, "libnccl.so.2 was not found (install NCCL, or set DIFFKIT_NCCL_LIB to a "
                 "libnccl.so.2, e.g. PyTorch's nvidia/nccl/lib/libnccl.so.2): %s", dlerror());
        return 0;
    }
#define NC_SYM(f) (*(void **)&nc.f = dlsym(h, "nccl" #f))
    int ok = NC_SYM(GetUniqueId) && NC_SYM(CommInitRank) && NC_SYM(CommDestroy) && NC_SYM(GetErrorString) &&
             NC_SYM(GroupStart) && NC_SYM(GroupEnd) && NC_SYM(Send) && NC_SYM(Recv) && NC_SYM(Broadcast);
#undef NC_SYM
    if (!ok) snprintf(nc_why, sizeof nc_why, "libnccl lacks a function diffkit needs (ncclSend/ncclRecv need NCCL >= 2.7)");
    nc.ok = ok;
    return ok;
}

int dk_dist_nccl_available(char *why, size_t n) {
    int ok = nccl_load();
    if (!ok && why && n) snprintf(why, n, "%s", nc_why);
    return ok;
}

static ncclComm_t g_nccl = NULL;
static void *g_nccl_scratch = NULL;
static size_t g_nccl_scratch_bytes = 0;
#endif

void dk_dist_finalize(void) {
#ifdef DIFFKIT_HAVE_NCCL
    if (g_nccl) { nc.CommDestroy(g_nccl); g_nccl = NULL; }
    if (g_nccl_scratch) { cudaFree(g_nccl_scratch); g_nccl_scratch = NULL; }
#endif
#ifdef DIFFKIT_HAVE_MPI
    if (g_mpi) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
        g_mpi = 0;
    }
#endif
}

void dk_dist_abort(int code, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_world > 1) fprintf(stderr, "diffkit: rank %d of %d (%s): %s\n", g_rank, g_world, dk_dist_host(), msg);
    else if (msg[0]) fprintf(stderr, "diffkit: %s\n", msg);
    fflush(stderr);
#ifdef DIFFKIT_HAVE_MPI
    if (g_mpi) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    exit(code);
}

dk_status dk_dist_barrier(dk_error *err) {
#ifdef DIFFKIT_HAVE_MPI
    if (g_mpi) MPI_TRY(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
    return DK_OK;
}

dk_status dk_dist_bcast(void *buf, size_t bytes, int root, dk_error *err) {
#ifdef DIFFKIT_HAVE_MPI
    if (g_mpi) {
        for (size_t off = 0; off < bytes; off += (size_t)1 << 30) {
            size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : ((size_t)1 << 30);
            MPI_TRY(MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
        }
    }
#endif
    return DK_OK;
}

dk_status dk_dist_allgather(const void *send, size_t bytes, void *recv, dk_error *err) {
    if (g_world == 1) {
        if (bytes) memmove(recv, send, bytes);
        return DK_OK;
    }
#ifdef DIFFKIT_HAVE_MPI
    if (bytes > (size_t)1 << 30) return dk_error_set(err, DK_EINVAL, "dk_dist_allgather: %zu bytes per rank, at most 2^30", bytes);
    MPI_TRY(MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD), "MPI_Allgather");
#endif
    return DK_OK;
}

/* ---- the fixed-order sum ------------------------------------------------ */

#ifdef DIFFKIT_HAVE_MPI
static void add_host(void *acc, const void *g, size_t n, dk_dtype dt) {
    if (dt == DK_F32) {
        float *a = acc;
        const float *b = g;
        for (size_t i = 0; i < n; i++) a[i] += b[i];
    } else {
        double *a = acc;
        const double *b = g;
        for (size_t i = 0; i < n; i++) a[i] += b[i];
    }
}

/* One bucket of n elements on the host: chunk r (cnt[r] elements at r*c) is
 * summed by rank r in rank order, then every rank gets every chunk. */
static dk_status mpi_sum_bucket(void *acc, const void *g, size_t n, dk_dtype dt, void *scratch, dk_error *err) {
    int R = g_world, me = g_rank;
    size_t es = dk_dtype_size(dt), c = (n + (size_t)R - 1) / (size_t)R;
    MPI_Datatype mt = dt == DK_F32 ? MPI_FLOAT : MPI_DOUBLE;
    int *cnt = malloc(sizeof(int) * (size_t)R * 4);
    if (!cnt) return dk_error_set(err, DK_ENOMEM, "dk_dist_sum_ordered: out of memory");
    int *dsp = cnt + R, *rcnt = cnt + 2 * R, *rdsp = cnt + 3 * R;
    for (int r = 0; r < R; r++) {
        size_t lo = (size_t)r * c;
        cnt[r] = lo >= n ? 0 : (int)(n - lo < c ? n - lo : c);
        dsp[r] = (int)(lo < n ? lo : n);
    }
    for (int r = 0; r < R; r++) { rcnt[r] = cnt[me]; rdsp[r] = r * cnt[me]; }
    int rc = MPI_Alltoallv(g, cnt, dsp, mt, scratch, rcnt, rdsp, mt, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) {
        char *mine = (char *)acc + (size_t)dsp[me] * es;
        for (int r = 0; r < R; r++) add_host(mine, (char *)scratch + (size_t)rdsp[r] * es, (size_t)cnt[me], dt);
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, mt, acc, cnt, dsp, mt, MPI_COMM_WORLD);
        free(cnt);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Allgatherv (gradient sum)");
        return DK_OK;
    }
    free(cnt);
    return mpi_fail(err, rc, "MPI_Alltoallv (gradient sum)");
}

static dk_status mpi_sum_host(void *acc, const void *g, size_t n, dk_dtype dt, dk_error *err) {
    size_t es = dk_dtype_size(dt), bucket = n < DK_DIST_BUCKET ? n : DK_DIST_BUCKET;
    void *scratch = malloc((bucket + (size_t)g_world) * es);
    if (!scratch) return dk_error_set(err, DK_ENOMEM, "dk_dist_sum_ordered: %zu bytes of scratch", bucket * es);
    dk_status s = DK_OK;
    for (size_t off = 0; off < n && !s; off += bucket) {
        size_t m = n - off < bucket ? n - off : bucket;
        s = mpi_sum_bucket((char *)acc + off * es, (const char *)g + off * es, m, dt, scratch, err);
    }
    free(scratch);
    return s;
}
#endif

#ifdef DIFFKIT_HAVE_NCCL
static dk_status nccl_fail(dk_error *err, const char *what, const char *why) {
    return dk_error_set(err, DK_EIO, "%s failed on rank %d of %d (%s): %s", what, g_rank, g_world, dk_dist_host(), why);
}
#define NCCL_TRY(call, what) do { ncclResult_t r_ = (call); if (r_ != ncclSuccess) return nccl_fail(err, what, nc.GetErrorString(r_)); } while (0)

/* The NCCL communicator, bootstrapped over MPI (rank 0's unique id broadcast). */
static dk_status nccl_comm(dk_error *err) {
    if (g_nccl) return DK_OK;
    if (!nccl_load()) return dk_error_set(err, DK_EUNSUPPORTED, "NCCL for the GPU gradient sum on rank %d: %s", g_rank, nc_why);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (g_rank == 0) NCCL_TRY(nc.GetUniqueId(&id), "ncclGetUniqueId");
    DK_TRY(dk_dist_bcast(&id, sizeof id, 0, err));
    NCCL_TRY(nc.CommInitRank(&g_nccl, g_world, id, g_rank), "ncclCommInitRank");
    return DK_OK;
}

/* The device form of mpi_sum_bucket: grouped ncclSend/ncclRecv (the
 * reduce-scatter by hand), the rank-order sum with the CUDA backend's
 * add_into kernel, then grouped ncclBroadcasts (an all-gather of unequal
 * chunks). All on the legacy default stream, as the backend's kernels. */
static dk_status nccl_sum_bucket(void *acc, const void *g, size_t n, dk_dtype dt, void *scratch, dk_error *err) {
    const dk_backend *be = dk_backend_get(DK_CUDA, err);
    if (!be) return DK_EUNSUPPORTED;
    int R = g_world, me = g_rank;
    size_t es = dk_dtype_size(dt), c = (n + (size_t)R - 1) / (size_t)R;
    ncclDataType_t nt = dt == DK_F32 ? ncclFloat32 : ncclFloat64;
    DK_TRY(be->sync(err)); /* the gradients' kernels are done, whatever stream the backend queued them on */
    size_t mine_lo = (size_t)me * c, mine = mine_lo >= n ? 0 : (n - mine_lo < c ? n - mine_lo : c);
    NCCL_TRY(nc.GroupStart(), "ncclGroupStart");
    for (int r = 0; r < R; r++) {
        size_t lo = (size_t)r * c, cr = lo >= n ? 0 : (n - lo < c ? n - lo : c);
        if (cr) NCCL_TRY(nc.Send((const char *)g + lo * es, cr, nt, r, g_nccl, 0), "ncclSend");
        if (mine) NCCL_TRY(nc.Recv((char *)scratch + (size_t)r * mine * es, mine, nt, r, g_nccl, 0), "ncclRecv");
    }
    NCCL_TRY(nc.GroupEnd(), "ncclGroupEnd");
    for (int r = 0; r < R && mine; r++) {
        if (dt == DK_F32) be->f32->dk_k_add_into((float *)acc + mine_lo, (const float *)scratch + (size_t)r * mine, mine, 1.0);
        else be->f64->dk_k_add_into((double *)acc + mine_lo, (const double *)scratch + (size_t)r * mine, mine, 1.0);
    }
    NCCL_TRY(nc.GroupStart(), "ncclGroupStart");
    for (int r = 0; r < R; r++) {
        size_t lo = (size_t)r * c, cr = lo >= n ? 0 : (n - lo < c ? n - lo : c);
        if (cr) NCCL_TRY(nc.Broadcast((char *)acc + lo * es, (char *)acc + lo * es, cr, nt, r, g_nccl, 0), "ncclBroadcast");
    }
    NCCL_TRY(nc.GroupEnd(), "ncclGroupEnd");
    return be->sync(err);
}

static dk_status nccl_sum(void *acc, const void *g, size_t n, dk_dtype dt, dk_error *err) {
    DK_TRY(nccl_comm(err));
    size_t es = dk_dtype_size(dt), bucket = n < DK_DIST_BUCKET ? n : DK_DIST_BUCKET;
    size_t need = (bucket + (size_t)g_world) * es;
    if (g_nccl_scratch_bytes < need) {
        if (g_nccl_scratch) cudaFree(g_nccl_scratch);
        g_nccl_scratch = NULL;
        g_nccl_scratch_bytes = 0;
        if (cudaMalloc(&g_nccl_scratch, need) != cudaSuccess)
            return dk_error_set(err, DK_ENOMEM, "dk_dist_sum_ordered: %zu bytes of GPU scratch on rank %d", need, g_rank);
        g_nccl_scratch_bytes = need;
    }
    for (size_t off = 0; off < n; off += bucket) {
        size_t m = n - off < bucket ? n - off : bucket;
        DK_TRY(nccl_sum_bucket((char *)acc + off * es, (const char *)g + off * es, m, dt, g_nccl_scratch, err));
    }
    return DK_OK;
}
#endif

/* ---- the same sum, started without waiting (DDP-style overlap) ---------- */

struct dk_dist_sum {
    void *acc;
    const void *g;
    size_t n;
    dk_dtype dt;
    int state; /* 0: all-to-all in flight, 1: chunk summed, 2: all-gather in flight, 3: done */
#ifdef DIFFKIT_HAVE_MPI
    MPI_Request req;
    int *cnt, *dsp, *rcnt, *rdsp;
    void *scratch;
#endif
};

static void sum_free(dk_dist_sum *s) {
    if (!s) return;
#ifdef DIFFKIT_HAVE_MPI
    free(s->cnt);
    free(s->scratch);
#endif
    free(s);
}

dk_status dk_dist_sum_start(void *acc, const void *g, size_t n, dk_dtype dt, dk_dist_sum **out, dk_error *err) {
    *out = NULL;
    if (dt != DK_F32 && dt != DK_F64) return dk_error_set(err, DK_EINVAL, "dk_dist_sum_start: F32 or F64 only");
    if (n > DK_DIST_BUCKET) return dk_error_set(err, DK_EINVAL, "dk_dist_sum_start: %zu elements, at most 2^24 per bucket", n);
    dk_dist_sum *s = calloc(1, sizeof *s);
    if (!s) return dk_error_set(err, DK_ENOMEM, "dk_dist_sum_start: out of memory");
    s->acc = acc; s->g = g; s->n = n; s->dt = dt;
    if (g_world == 1) {
        if (dt == DK_F32) for (size_t i = 0; i < n; i++) ((float *)acc)[i] += ((const float *)g)[i];
        else for (size_t i = 0; i < n; i++) ((double *)acc)[i] += ((const double *)g)[i];
        s->state = 3;
        *out = s;
        return DK_OK;
    }
#ifdef DIFFKIT_HAVE_MPI
    double t0 = dk_time_now();
    int R = g_world, me = g_rank;
    size_t es = dk_dtype_size(dt), c = (n + (size_t)R - 1) / (size_t)R;
    s->cnt = malloc(sizeof(int) * (size_t)R * 4);
    s->scratch = malloc((c * (size_t)R + 1) * es);
    if (!s->cnt || !s->scratch) { sum_free(s); return dk_error_set(err, DK_ENOMEM, "dk_dist_sum_start: out of memory"); }
    s->dsp = s->cnt + R; s->rcnt = s->cnt + 2 * R; s->rdsp = s->cnt + 3 * R;
    for (int r = 0; r < R; r++) {
        size_t lo = (size_t)r * c;
        s->cnt[r] = lo >= n ? 0 : (int)(n - lo < c ? n - lo : c);
        s->dsp[r] = (int)(lo < n ? lo : n);
    }
    for (int r = 0; r < R; r++) { s->rcnt[r] = s->cnt[me]; s->rdsp[r] = r * s->cnt[me]; }
    MPI_Datatype mt = dt == DK_F32 ? MPI_FLOAT : MPI_DOUBLE;
    int rc = MPI_Ialltoallv(g, s->cnt, s->dsp, mt, s->scratch, s->rcnt, s->rdsp, mt, MPI_COMM_WORLD, &s->req);
    g_comm_seconds += dk_time_now() - t0;
    if (rc != MPI_SUCCESS) { sum_free(s); return mpi_fail(err, rc, "MPI_Ialltoallv (gradient bucket)"); }
    *out = s;
    return DK_OK;
#else
    sum_free(s);
    return dk_error_set(err, DK_EUNSUPPORTED, "dk_dist_sum_start: a world of %d ranks without MPI", g_world);
#endif
}

#ifdef DIFFKIT_HAVE_MPI
/* state 0 -> 1 once the all-to-all is in (wait: block for it): this rank's
 * chunk is summed in rank order. No collective is started here, so the
 * moment it happens (timing) cannot change the order of the collectives. */
static dk_status sum_reduced(dk_dist_sum *s, int wait, dk_error *err) {
    if (s->state != 0) return DK_OK;
    int flag = 0, rc;
    if (wait) { rc = MPI_Wait(&s->req, MPI_STATUS_IGNORE); flag = 1; }
    else rc = MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Ialltoallv (gradient bucket)");
    if (!flag) return DK_OK;
    size_t es = dk_dtype_size(s->dt);
    int me = g_rank;
    char *mine = (char *)s->acc + (size_t)s->dsp[me] * es;
    for (int r = 0; r < g_world; r++) add_host(mine, (char *)s->scratch + (size_t)s->rdsp[r] * es, (size_t)s->cnt[me], s->dt);
    s->state = 1;
    return DK_OK;
}
#endif

dk_status dk_dist_sum_gather(dk_dist_sum *s, dk_error *err) {
    dk_status st = DK_OK;
#ifdef DIFFKIT_HAVE_MPI
    if (s->state < 2) {
        double t0 = dk_time_now();
        st = sum_reduced(s, 1, err);
        if (!st) {
            MPI_Datatype mt = s->dt == DK_F32 ? MPI_FLOAT : MPI_DOUBLE;
            int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, mt, s->acc, s->cnt, s->dsp, mt, MPI_COMM_WORLD, &s->req);
            if (rc != MPI_SUCCESS) st = mpi_fail(err, rc, "MPI_Iallgatherv (gradient bucket)");
            else s->state = 2;
        }
        g_comm_seconds += dk_time_now() - t0;
    }
#endif
    return st;
}

dk_status dk_dist_sum_poll(dk_dist_sum *s, int *done, dk_error *err) {
    dk_status st = DK_OK;
#ifdef DIFFKIT_HAVE_MPI
    double t0 = dk_time_now();
    if (s->state == 0) st = sum_reduced(s, 0, err);
    else if (s->state == 2) {
        int flag = 0;
        int rc = MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) st = mpi_fail(err, rc, "MPI_Iallgatherv (gradient bucket)");
        else if (flag) s->state = 3;
    }
    g_comm_seconds += dk_time_now() - t0;
#endif
    *done = s->state == 3;
    return st;
}

dk_status dk_dist_sum_wait(dk_dist_sum *s, dk_error *err) {
    dk_status st = DK_OK;
    if (!s) return DK_OK;
#ifdef DIFFKIT_HAVE_MPI
    if (s->state < 2) st = dk_dist_sum_gather(s, err);
    if (!st && s->state == 2) {
        double t0 = dk_time_now();
        int rc = MPI_Wait(&s->req, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) st = mpi_fail(err, rc, "MPI_Iallgatherv (gradient bucket)");
        s->state = 3;
        g_comm_seconds += dk_time_now() - t0;
    }
#endif
    sum_free(s);
    return st;
}

dk_status dk_dist_sum_ordered(void *acc, const void *g, size_t n, dk_dtype dt, dk_device dev, dk_error *err) {
    if (dt != DK_F32 && dt != DK_F64) return dk_error_set(err, DK_EINVAL, "dk_dist_sum_ordered: F32 or F64 only");
    const dk_backend *be = dk_backend_get(dev, err);
    if (!be) return err ? err->code : DK_EUNSUPPORTED;
    if (n == 0) return DK_OK;
    if (g_world == 1 && !g_force) {
        if (dt == DK_F32) be->f32->dk_k_add_into(acc, g, n, 1.0);
        else if (be->f64) be->f64->dk_k_add_into(acc, g, n, 1.0);
        else return dk_error_set(err, DK_EUNSUPPORTED, "dk_dist_sum_ordered: F64 on %s", be->name);
        return DK_OK;
    }
    double t0 = dk_time_now();
    dk_status s = DK_OK;
#ifdef DIFFKIT_HAVE_NCCL
    /* NCCL when libnccl loads; else (under mpirun) staged through the host below */
    if (dev == DK_CUDA && (nccl_load() || !g_mpi)) {
        s = nccl_sum(acc, g, n, dt, err);
        g_comm_seconds += dk_time_now() - t0;
        return s;
    }
#endif
#ifdef DIFFKIT_HAVE_MPI
    if (!g_mpi) { /* forced in a world of 1 without mpirun: the local sum */
        if (dt == DK_F32) be->f32->dk_k_add_into(acc, g, n, 1.0);
        else if (be->f64) be->f64->dk_k_add_into(acc, g, n, 1.0);
    } else if (dev == DK_CPU) {
        s = mpi_sum_host(acc, g, n, dt, err);
    } else { /* device memory without NCCL: staged through the host */
        size_t bytes = n * dk_dtype_size(dt);
        void *ha = malloc(bytes), *hg = malloc(bytes);
        if (!ha || !hg) s = dk_error_set(err, DK_ENOMEM, "dk_dist_sum_ordered: %zu bytes of host staging", 2 * bytes);
        if (!s) s = be->to_host(ha, acc, bytes, err);
        if (!s) s = be->to_host(hg, g, bytes, err);
        if (!s) s = mpi_sum_host(ha, hg, n, dt, err);
        if (!s) s = be->from_host(acc, ha, bytes, err);
        free(ha);
        free(hg);
    }
#else
    if (g_world > 1) s = dk_error_set(err, DK_EUNSUPPORTED, "dk_dist_sum_ordered: a world of %d ranks without MPI", g_world);
    else if (dt == DK_F32) be->f32->dk_k_add_into(acc, g, n, 1.0);
    else if (be->f64) be->f64->dk_k_add_into(acc, g, n, 1.0);
#endif
    g_comm_seconds += dk_time_now() - t0;
    return s;
}
