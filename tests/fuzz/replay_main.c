/* replay_main.c: runs a fuzz harness (LLVMFuzzerTestOneInput) on every file
 * of a saved corpus folder, then on a few synthesised edge inputs (empty, one
 * byte of each of 0x00, '{' and 0xff). Built with the normal compiler as the
 * ctest fuzz.<name>; a harness that crashes or aborts fails the test.
 *
 * usage: fuzz_replay_<name> CORPUS_DIR
 * A missing, unreadable or empty folder is a failure (exit 1): a replay test
 * with nothing to replay would pass without testing anything. */
#include "fuzz_common.h"
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open the corpus folder '%s': %s (run tools/fuzz.sh to create it)\n", argv[0], dir,
                strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) return 1;
            names = nn;
        }
        if (!(names[n++] = strdup(e->d_name))) return 1;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    size_t files = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        struct stat st;
        if (!path) return 1;
        snprintf(path, plen, "%s/%s", dir, names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        size_t len = 0;
        unsigned char *buf = slurp(path, &len);
        if (!buf) {
            fprintf(stderr, "%s: cannot read '%s'\n", argv[0], path);
            return 1;
        }
        /* an exact-size copy, so that an overread past the input is caught
         * by a sanitizer build as it would be under libFuzzer */
        unsigned char *exact = malloc(len ? len : 1);
        if (!exact) return 1;
        if (len) memcpy(exact, buf, len);
        free(buf);
        fprintf(stderr, "replay %s (%zu bytes)\n", names[i], len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        free(path);
        files++;
        bytes += len;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (files == 0) {
        fprintf(stderr, "%s: the corpus folder '%s' holds no files: nothing was replayed\n", argv[0], dir);
        return 1;
    }
    static const unsigned char edge[] = {0x00, '{', 0xff};
    unsigned char *empty = malloc(1);
    if (!empty) return 1;
    LLVMFuzzerTestOneInput(empty, 0);
    free(empty);
    for (size_t i = 0; i < sizeof edge; i++) {
        unsigned char *one = malloc(1);
        if (!one) return 1;
        one[0] = edge[i];
        LLVMFuzzerTestOneInput(one, 1);
        free(one);
    }
    printf("%s: replayed %zu corpus files (%zu bytes) and 4 edge inputs\n", dir, files, bytes);
    return 0;
}
