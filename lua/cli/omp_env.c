/* omp_env.c: the diffkit executable's default OpenMP spin policy.
 *
 * libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, in its load-time
 * constructor, so neither the library nor main() can choose them. The
 * executable's .preinit_array runs before every shared object's
 * initialiser, but setenv() there does not last: glibc's own initialiser
 * then resets `environ` to the process's original array. So when the user
 * set neither variable, this hook re-executes the binary (/proc/self/exe,
 * same argv) with GOMP_SPINCOUNT added to its environment; the second run
 * sees the variable and goes on. If the exec fails the run simply continues
 * with libgomp's default.
 *
 * Why a short bounded spin (docs/performance.md, "Thread policy"; DiT w128
 * samples/s on the shared 2-core VM): libgomp's default 300000 spins 47-85,
 * 100000: 49-70, 10000: 131-138, 1000: 162-169, passive 142-173. A
 * waiting thread that spins long steals the core its partner (or another
 * job) needs; 1000 spins still covers the back-to-back kernels of a step. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DK_GOMP_SPINCOUNT "GOMP_SPINCOUNT=1000"

/* envp is scanned directly: libc's getenv is not set up this early. */
static int has_var(char **envp, const char *name) {
    size_t k = strlen(name);
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], name, k) == 0 && envp[i][k] == '=') return 1;
    return 0;
}

static void dk_omp_env_default(int argc, char **argv, char **envp) {
    (void)argc;
    if (!argv || !envp || has_var(envp, "OMP_WAIT_POLICY") || has_var(envp, "GOMP_SPINCOUNT"))
        return; /* the user's choice wins */
    size_t n = 0;
    while (envp[n]) n++;
    char **env = malloc((n + 2) * sizeof *env);
    if (!env) return;
    memcpy(env, envp, n * sizeof *env);
    env[n] = (char *)DK_GOMP_SPINCOUNT;
    env[n + 1] = NULL;
    execve("/proc/self/exe", argv, env); /* returns only on failure */
    free(env);
}

__attribute__((section(".preinit_array"), used)) static void (*const dk_omp_env_preinit)(int, char **,
                                                                                        char **) = dk_omp_env_default;
