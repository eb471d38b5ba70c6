/* dist.h: data-parallel processes (docs/distributed.md). The one home of MPI
 * (and of NCCL in a CUDA build) in diffkit: every other file calls these.
 *
 * A process started by mpirun (OpenMPI, MPICH: detected from the launcher's
 * environment) is one rank of a world; any other process, and every process
 * of a build without MPI (DIFFKIT_MPI=OFF or MPI not found), is rank 0 of a
 * world of 1, and each function below is then a cheap no-op or copy: callers
 * need no #ifdef.
 *
 * Determinism: MPI_Allreduce(MPI_SUM) sums in an order the implementation
 * picks (it differs between algorithms and world sizes), so gradients are
 * never summed with it. dk_dist_sum_ordered sums the ranks' buffers in rank
 * order 0..R-1 onto an accumulator, element by element, exactly as one process
 * accumulating R micro-batches in that order does: the result is
 * bit-identical to the single-process run (PyTorch DDP sums with NCCL's ring,
 * which is not; k-diffusion trains through accelerate, i.e. DDP). It is a
 * reduce-scatter by hand (MPI_Alltoallv: rank c receives chunk c of every
 * rank and sums it in rank order) followed by MPI_Allgatherv of the summed
 * chunks: the same 2·(R-1)/R·N elements on the wire per rank as a ring
 * all-reduce, and N elements of scratch memory.
 *
 * Failures: a rank that fails calls dk_dist_abort (the message names it),
 * which ends every rank (MPI_Abort); a rank killed by a signal is detected by
 * mpirun, which names it and ends the others (docs/distributed.md, "When a
 * rank dies"). */
#ifndef DIFFKIT_DIST_H
#define DIFFKIT_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this libdiffkit was built with MPI (NCCL: with NCCL too). */
int dk_dist_built(void);
int dk_dist_nccl_built(void);
/* 1 when NCCL can be used here (built with it, and libnccl.so.2 loads: it is
 * opened at run time, from $DIFFKIT_NCCL_LIB or the library path); else 0
 * and why. */
int dk_dist_nccl_available(char *why, size_t n);

/* Joins the world when this process was started by mpirun (else world 1, and
 * MPI is never initialised). Idempotent. */
dk_status dk_dist_init(dk_error *err);
/* Leaves the world (MPI_Finalize after a barrier); call once at a clean exit. */
void dk_dist_finalize(void);
/* Ends every rank now, after printing "diffkit: rank r of R (host): <msg>"
 * on stderr. In a world of 1 it exits with `code`. Never returns. */
void dk_dist_abort(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

int dk_dist_rank(void);        /* 0..world-1 */
int dk_dist_world(void);       /* >= 1 */
int dk_dist_local_rank(void);  /* rank among the ranks of this machine (-> cuda:N) */
int dk_dist_local_world(void); /* ranks on this machine */
const char *dk_dist_host(void);

dk_status dk_dist_barrier(dk_error *err);
/* root's `bytes` bytes at buf to every rank. */
dk_status dk_dist_bcast(void *buf, size_t bytes, int root, dk_error *err);
/* Every rank's `bytes` bytes of send into recv (world * bytes), in rank order. */
dk_status dk_dist_allgather(const void *send, size_t bytes, void *recv, dk_error *err);

/* acc <- (((acc + g_0) + g_1) + ... + g_{R-1}) for the n elements (F32 or F64)
 * of each rank's g, in rank order; acc must be the same on every rank before
 * (it is after). acc and g live on `dev` (host memory for DK_CPU; with
 * DK_CUDA, NCCL carries them in a build with NCCL, else they are staged
 * through host memory). Sums in buckets of at most 2^24 elements. In a world
 * of 1 it is acc += g. */
dk_status dk_dist_sum_ordered(void *acc, const void *g, size_t n, dk_dtype dt, dk_device dev, dk_error *err);

/* The same sum of one bucket (n <= 2^24 elements, host memory) in two
 * non-blocking halves, so the trainer sums a bucket of gradients while
 * backward computes the next (PyTorch DDP's overlap):
 *   start:  MPI_Ialltoallv (this rank receives its chunk of every rank);
 *   poll:   progresses it (MPI progresses only inside MPI calls); once in,
 *           sums the chunk in rank order; never starts a collective;
 *   gather: (waits for the all-to-all and sums, if not yet, then) starts the
 *           MPI_Iallgatherv of the summed chunks;
 *   wait:   gather if not yet, wait, free.
 * MPI needs every rank to start collectives in the same order: call start
 * and gather in an order that does not depend on timing (the trainer:
 * start(b), gather(b), start(b-1), ... - gather(b) just before start(b-1)).
 * acc and g must stay untouched until wait. In a world of 1, start adds. */
typedef struct dk_dist_sum dk_dist_sum;
dk_status dk_dist_sum_start(void *acc, const void *g, size_t n, dk_dtype dt, dk_dist_sum **out, dk_error *err);
dk_status dk_dist_sum_poll(dk_dist_sum *s, int *done, dk_error *err);
dk_status dk_dist_sum_gather(dk_dist_sum *s, dk_error *err);
dk_status dk_dist_sum_wait(dk_dist_sum *s, dk_error *err);

/* Seconds spent inside dk_dist_sum_ordered, _poll and _wait (communication
 * and waiting for the slowest rank) since the process started. */
double dk_dist_comm_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
