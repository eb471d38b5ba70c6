/* test_host_elf.c: plugins are checked before they run code
 * (docs/reliability.md "Plugin loading"):
 *  - a .so whose constructor writes a marker file and that exports no
 *    diffkit_plugin is skipped from its ELF symbols alone: the marker is never
 *    written (dlopen ran the constructor before), and the host reports it as
 *    skipped with the reason;
 *  - a file named .so that is not ELF is skipped with its reason;
 *  - the ELF reader on a real plugin finds the entry point, and on every
 *    truncation and on corrupted header fields returns without crashing
 *    (offsets and counts far outside the file);
 *  - a plugin folder writable by others gets a warning naming it. */
#include "dktest.h"
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void test_constructor_never_runs(void) {
    char marker[1200], path[1200];
    dk_host *h;
    size_t i;
    int reported = 0;
    snprintf(marker, sizeof marker, "%s/evil_marker", dk_test_tmpdir("host_elf"));
    unlink(marker);
    setenv("DK_EVIL_MARKER", marker, 1);
    /* the scan */
    h = dk_host_new(&dk_test_err);
    DK_CHECK_OK(dk_host_add_path(h, DK_EVIL_PLUGIN_DIR, &dk_test_err));
    DK_CHECK_OK(dk_host_scan(h, &dk_test_err));
    DK_CHECK(!exists(marker));
    for (i = 0; i < dk_host_problem_count(h); i++) {
        const char *m = dk_host_problem(h, i);
        if (strstr(m, "evil_constructor.so has no entry point 'diffkit_plugin'") && strstr(m, "was not loaded")) {
            reported = 1;
            printf("skipped: %s\n", m);
        }
    }
    DK_CHECK(reported);
    /* looking it up by name gives the reason */
    DK_CHECK(dk_host_find(h, DK_KIND_SCHEDULE, "evil_constructor", &dk_test_err) == NULL);
    DK_CHECK(strstr(dk_test_err.msg, "has no entry point") != NULL);
    dk_host_free(h);
    /* the direct loader */
    snprintf(path, sizeof path, "%s/evil_constructor.so", DK_EVIL_PLUGIN_DIR);
    {
        const dk_plugin *p = NULL;
        void *hd = NULL;
        DK_CHECK_STATUS(dk_plugin_load_file(path, &p, &hd, &dk_test_err), DK_EFORMAT);
        DK_CHECK(p == NULL && hd == NULL);
    }
    DK_CHECK(!exists(marker));
    if (exists(marker)) printf("FAIL: the constructor of %s ran (marker %s written)\n", path, marker);
}

static void test_not_elf(void) {
    char dir[1100], path[1200];
    FILE *f;
    snprintf(dir, sizeof dir, "%s", dk_test_tmpdir("host_elf_text"));
    snprintf(path, sizeof path, "%s/readme.so", dir);
    f = fopen(path, "w");
    if (f) { fputs("not a shared object\n", f); fclose(f); }
    {
        const dk_plugin *p = NULL;
        void *hd = NULL;
        DK_CHECK_STATUS(dk_plugin_load_file(path, &p, &hd, &dk_test_err), DK_EFORMAT);
        DK_CHECK(strstr(dk_test_err.msg, "it is not an ELF file") != NULL);
        DK_CHECK(strstr(dk_test_err.msg, "readme.so was not loaded") != NULL);
    }
}

/* The reader on a real plugin, truncated and corrupted: never crashes. */
static void test_reader_bounds(void) {
    char path[1200], why[200];
    size_t n = 0, cut;
    unsigned char *b, *c;
    Elf64_Ehdr eh;
    snprintf(path, sizeof path, "%s/schedule/cosine-example.so", DK_EXAMPLE_PLUGIN_DIR);
    b = slurp(path, &n);
    DK_CHECK(b != NULL && n > sizeof eh);
    if (!b) return;
    DK_CHECK(dk_elf_find_symbol(b, n, "diffkit_plugin", why, sizeof why) == 1);
    DK_CHECK(dk_elf_find_symbol(b, n, "diffkit_plugin_x", why, sizeof why) == 0);
    DK_CHECK(dk_elf_find_symbol(b, n, "ce_create", why, sizeof why) == 0); /* hidden: not in .dynsym */
    /* every truncation: a copy of exactly cut bytes (ASan sees any overread) */
    for (cut = 0; cut < n; cut += (cut < 4096 ? 1 : 61)) {
        c = malloc(cut ? cut : 1);
        memcpy(c, b, cut);
        DK_CHECK(dk_elf_find_symbol(c, cut, "diffkit_plugin", why, sizeof why) <= 1);
        free(c);
    }
    /* corrupted fields */
    memcpy(&eh, b, sizeof eh);
    c = malloc(n);
    {
        static const uint64_t bad[] = {0, 1, 0x7fffffff, 0xffffffffu, 0x7fffffffffffffffULL, 0xffffffffffffffffULL};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            Elf64_Ehdr e2 = eh;
            memcpy(c, b, n);
            e2.e_shoff = bad[k];
            memcpy(c, &e2, sizeof e2);
            DK_CHECK(dk_elf_find_symbol(c, n, "diffkit_plugin", why, sizeof why) <= 0);
            e2 = eh;
            e2.e_shnum = (Elf64_Half)bad[k];
            memcpy(c, &e2, sizeof e2);
            (void)dk_elf_find_symbol(c, n, "diffkit_plugin", why, sizeof why);
            /* every section header's offset, size and link */
            for (Elf64_Half s = 0; s < eh.e_shnum; s++) {
                Elf64_Shdr sh, s2;
                size_t at = (size_t)eh.e_shoff + (size_t)s * sizeof sh;
                if (at + sizeof sh > n) break;
                memcpy(c, b, n);
                memcpy(&sh, b + at, sizeof sh);
                s2 = sh; s2.sh_offset = bad[k]; memcpy(c + at, &s2, sizeof s2);
                (void)dk_elf_find_symbol(c, n, "diffkit_plugin", why, sizeof why);
                s2 = sh; s2.sh_size = bad[k]; memcpy(c + at, &s2, sizeof s2);
                (void)dk_elf_find_symbol(c, n, "diffkit_plugin", why, sizeof why);
                s2 = sh; s2.sh_link = (Elf64_Word)bad[k]; memcpy(c + at, &s2, sizeof s2);
                (void)dk_elf_find_symbol(c, n, "diffkit_plugin", why, sizeof why);
            }
        }
    }
    DK_CHECK(dk_elf_find_symbol(b, 3, "diffkit_plugin", why, sizeof why) == -1);
    free(c);
    free(b);
}

static void test_writable_folder_warns(void) {
    char dir[1100], logp[1200], *text;
    size_t n = 0;
    int saved, fd;
    dk_host *h;
    snprintf(dir, sizeof dir, "%s", dk_test_tmpdir("host_elf_open"));
    DK_CHECK(chmod(dir, 0777) == 0);
    snprintf(logp, sizeof logp, "%s.log", dir);
    fflush(stderr);
    saved = dup(2);
    fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    h = dk_host_new(&dk_test_err);
    dk_host_add_path(h, dir, &dk_test_err);
    dk_host_scan(h, &dk_test_err);
    dk_host_free(h);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    text = (char *)slurp(logp, &n);
    DK_CHECK(text != NULL);
    if (text) {
        text[n] = '\0';
        printf("stderr: %s", text);
        DK_CHECK(strstr(text, "is writable by group and others") != NULL && strstr(text, dir) != NULL);
        DK_CHECK(strstr(text, "chmod go-w") != NULL);
        free(text);
    }
    chmod(dir, 0755);
}

int main(void) {
    test_constructor_never_runs();
    test_not_elf();
    test_reader_bounds();
    test_writable_folder_warns();
    return dk_test_finish();
}
