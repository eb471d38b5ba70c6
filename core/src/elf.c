/* elf.c: finds a plugin's entry point in its ELF dynamic symbol table without
 * loading it (docs/reliability.md "Plugin loading").
 *
 * dlopen runs a shared object's constructors, so the host first reads the
 * file as data: an ELF64 little-endian ET_DYN whose .dynsym (found through the
 * section headers, its string table through sh_link) defines a global or weak
 * function `diffkit_plugin`. The file is untrusted: every offset, size and
 * count is checked against the file's length (without overflow) before use. */
#include "diffkit/host.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DK_ELF_MAX_FILE ((uint64_t)1 << 30)

static int why_set(char *why, size_t n, int ret, const char *fmt, ...) {
    va_list ap;
    if (why && n) {
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return ret;
}

/* [off, off + len) lies inside a buffer of n bytes. */
static int in_bounds(uint64_t off, uint64_t len, size_t n) { return off <= (uint64_t)n && len <= (uint64_t)n - off; }

int dk_elf_find_symbol(const void *buf, size_t n, const char *name, char *why, size_t why_n) {
    const unsigned char *b = buf;
    Elf64_Ehdr eh;
    uint64_t shtab, i;
    size_t name_len = strlen(name);
    int saw_dynsym = 0;
    if (!buf || n < EI_NIDENT || memcmp(b, ELFMAG, SELFMAG) != 0)
        return why_set(why, why_n, -1, "it is not an ELF file");
    if (b[EI_CLASS] != ELFCLASS64) return why_set(why, why_n, -1, "it is not a 64-bit ELF file");
    if (b[EI_DATA] != ELFDATA2LSB) return why_set(why, why_n, -1, "it is not a little-endian ELF file");
    if (n < sizeof eh) return why_set(why, why_n, -1, "its ELF header is truncated");
    memcpy(&eh, b, sizeof eh);
    if (eh.e_type != ET_DYN) return why_set(why, why_n, -1, "it is not a shared object (ELF type %u)", (unsigned)eh.e_type);
    if (eh.e_shoff == 0 || eh.e_shnum == 0)
        return why_set(why, why_n, -1, "it has no section headers, so its symbols cannot be checked before loading");
    if (eh.e_shentsize != sizeof(Elf64_Shdr)) return why_set(why, why_n, -1, "its section header size is %u", (unsigned)eh.e_shentsize);
    shtab = eh.e_shoff;
    if (!in_bounds(shtab, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), n))
        return why_set(why, why_n, -1, "its section headers lie outside the file (truncated or corrupt)");
    for (i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh, st;
        uint64_t k, count;
        memcpy(&sh, b + shtab + i * sizeof(Elf64_Shdr), sizeof sh);
        if (sh.sh_type != SHT_DYNSYM) continue;
        saw_dynsym = 1;
        if (sh.sh_entsize != sizeof(Elf64_Sym) || !in_bounds(sh.sh_offset, sh.sh_size, n))
            return why_set(why, why_n, -1, "its dynamic symbol table is malformed or outside the file");
        if (sh.sh_link >= eh.e_shnum) return why_set(why, why_n, -1, "its dynamic symbol table links to no string table");
        memcpy(&st, b + shtab + (uint64_t)sh.sh_link * sizeof(Elf64_Shdr), sizeof st);
        if (st.sh_type != SHT_STRTAB || !in_bounds(st.sh_offset, st.sh_size, n))
            return why_set(why, why_n, -1, "its dynamic string table is malformed or outside the file");
        count = sh.sh_size / sizeof(Elf64_Sym);
        for (k = 0; k < count; k++) {
            Elf64_Sym sym;
            const char *nm;
            memcpy(&sym, b + sh.sh_offset + k * sizeof(Elf64_Sym), sizeof sym);
            /* the name plus its NUL must lie inside the string table */
            if (sym.st_name >= st.sh_size || st.sh_size - sym.st_name < name_len + 1) continue;
            nm = (const char *)b + st.sh_offset + sym.st_name;
            if (memcmp(nm, name, name_len + 1) != 0) continue;
            if (sym.st_shndx == SHN_UNDEF) continue; /* a reference, not a definition */
            if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC)
                return why_set(why, why_n, 0, "its symbol '%s' is not a function", name);
            if (ELF64_ST_BIND(sym.st_info) != STB_GLOBAL && ELF64_ST_BIND(sym.st_info) != STB_WEAK)
                return why_set(why, why_n, 0, "its symbol '%s' is not exported", name);
            if (ELF64_ST_VISIBILITY(sym.st_other) != STV_DEFAULT && ELF64_ST_VISIBILITY(sym.st_other) != STV_PROTECTED)
                return why_set(why, why_n, 0, "its symbol '%s' is hidden", name);
            return 1;
        }
    }
    if (!saw_dynsym) return why_set(why, why_n, 0, "it has no dynamic symbol table");
    return why_set(why, why_n, 0, "its dynamic symbol table has no '%s'", name);
}

dk_status dk_elf_check_plugin(const char *path, dk_error *err) {
    int fd;
    struct stat stt;
    unsigned char *buf;
    size_t got = 0;
    char why[200];
    int r;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return dk_error_set(err, DK_EIO, "cannot load plugin %s: %s: rebuild it or remove it from the plugin path", path,
                            strerror(errno));
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode) || (uint64_t)stt.st_size > DK_ELF_MAX_FILE) {
        close(fd);
        return dk_error_set(err, DK_EFORMAT, "plugin %s is not a regular file under 1 GiB: not loaded; remove it from the plugin path",
                            path);
    }
    if (!(buf = malloc(stt.st_size ? (size_t)stt.st_size : 1))) {
        close(fd);
        return dk_error_set(err, DK_ENOMEM, "out of memory checking plugin %s", path);
    }
    while (got < (size_t)stt.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)stt.st_size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    r = dk_elf_find_symbol(buf, got, DK_PLUGIN_ENTRY, why, sizeof why);
    free(buf);
    if (r == 1) return DK_OK;
    if (r == 0)
        return dk_error_set(err, DK_EFORMAT,
                            "plugin %s has no entry point '%s' (%s): it is not a diffkit plugin and was not loaded (export "
                            "`const dk_plugin *%s(void)` with DK_PLUGIN_EXPORT, or remove the file from the plugin path)",
                            path, DK_PLUGIN_ENTRY, why, DK_PLUGIN_ENTRY);
    return dk_error_set(err, DK_EFORMAT,
                        "plugin %s was not loaded: %s; a plugin must be a 64-bit little-endian ELF shared object "
                        "exporting '%s' (rebuild it, or remove it from the plugin path)",
                        path, why, DK_PLUGIN_ENTRY);
}
