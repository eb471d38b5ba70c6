/* runfolder.c: the file operations a training run folder needs to survive a
 * full disk, a second process and kill -9 (docs/reliability.md).
 *
 *   dk.write_atomic(path, text)  -> true | nil, message, errno
 *       path.tmp.<pid>, every write checked, fsync, rename over path, fsync
 *       of the folder; on any failure the temp file is removed and path is
 *       unchanged. The message reads "writing <path>: <strerror>: the previous
 *       file is unchanged; <what to do>".
 *   dk.run_lock(dir)             -> lock, warning | nil, message
 *       flock() on dir/lock, which holds "pid host started". A lock held by a
 *       live process gives nil and "run folder X is in use by pid P on host H
 *       (started T); wait for it or use another folder". A lock left by a
 *       dead process (kill -9) is taken over; warning then says so.
 *       lock:release() (also __close/__gc) unlinks the file and unlocks.
 *   dk.clean_tmp(dir)            -> { {name =, bytes =}, ... }
 *       removes dir/<name>.tmp.<pid> of processes that are not alive.
 *   dk.fail(message)             raises a user error: `diffkit run` prints the
 *       message alone (no traceback) and exits 1; tostring gives the message.
 *   dk.hostname(), dk.pid()
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "dkl.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DKL_LOCK "diffkit.RunLock"
#define DKL_USER_ERROR "diffkit.UserError"

/* What to do after a failed write, by errno. */
static const char *advice(int e) {
    if (e == ENOSPC || e == EDQUOT) return "free disk space and resume";
    if (e == EACCES || e == EPERM || e == EROFS) return "check the folder's permissions and resume";
    return "fix the cause and resume";
}

/* The folder of path ("." when it has none). */
static void dirname_of(const char *path, char *out, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, n, ".");
    else if (slash == path) snprintf(out, n, "/");
    else snprintf(out, n, "%.*s", (int)(slash - path), path);
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) { errno = EIO; return -1; }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static int fsync_dir(const char *path) {
    char dir[4096];
    dirname_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int r = fsync(dfd);
    int e = errno;
    close(dfd);
    /* file systems that cannot fsync a folder say EINVAL/ENOTSUP: nothing to make durable there */
    if (r != 0 && (e == EINVAL || e == ENOTSUP)) r = 0;
    errno = e;
    return r;
}

static int push_write_error(lua_State *L, const char *path, const char *step, int e) {
    lua_pushnil(L);
    if (step)
        lua_pushfstring(L, "writing %s: %s (%s): the previous file is unchanged; %s", path, strerror(e), step, advice(e));
    else
        lua_pushfstring(L, "writing %s: %s: the previous file is unchanged; %s", path, strerror(e), advice(e));
    lua_pushinteger(L, e);
    return 3;
}

static int l_write_atomic(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return push_write_error(L, path, "path too long", ENAMETOOLONG);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return push_write_error(L, path, "creating the temporary file", errno);
    const char *step = NULL;
    if (write_all(fd, text, len) != 0) step = "writing the temporary file";
    else if (fsync(fd) != 0) step = "fsync of the temporary file";
    int e = errno;
    if (close(fd) != 0 && !step) { step = "closing the temporary file"; e = errno; }
    if (!step && rename(tmp, path) != 0) { step = "renaming the temporary file"; e = errno; }
    if (step) {
        unlink(tmp);
        return push_write_error(L, path, step, e);
    }
    if (fsync_dir(path) != 0) {
        /* the new file is in place but the rename may not be durable yet */
        e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "writing %s: %s (fsync of its folder): the new file may not survive a power loss; %s", path,
                        strerror(e), advice(e));
        lua_pushinteger(L, e);
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- the run-folder lock ------------------------------------------------- */

typedef struct dkl_lock {
    int fd;             /* -1 after release */
    char path[4096];
} dkl_lock;

/* Whether pid is a live process on this host (a zombie, which has exited
 * and only waits for its parent, is not). */
static int pid_alive(long pid) {
    if (pid <= 0) return 0;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return 0; /* EPERM: exists, owned by someone else */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold spaces and ')' */
    return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

static void this_host(char *out, size_t n) {
    if (gethostname(out, n) != 0) snprintf(out, n, "?");
    out[n - 1] = '\0';
}

/* Reads "pid host started..." from fd; returns 1 if it parsed. */
static int read_holder(int fd, long *pid, char *host, size_t hn, char *started, size_t sn) {
    char buf[512];
    ssize_t k = pread(fd, buf, sizeof buf - 1, 0);
    if (k <= 0) return 0;
    buf[k] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) *nl = '\0';
    char h[256] = "", s[256] = "";
    int n = sscanf(buf, "pid %ld host %255s started %255[^\n]", pid, h, s);
    if (n < 2) return 0;
    snprintf(host, hn, "%s", h);
    snprintf(started, sn, "%s", n >= 3 ? s : "?");
    return 1;
}

static int lock_release(lua_State *L) {
    dkl_lock *u = luaL_checkudata(L, 1, DKL_LOCK);
    if (u->fd >= 0) {
        unlink(u->path); /* before unlocking: a waiter then sees no file, or a new one */
        flock(u->fd, LOCK_UN);
        close(u->fd);
        u->fd = -1;
    }
    return 0;
}

static int l_run_lock(lua_State *L) {
    const char *dir = luaL_checkstring(L, 1);
    dkl_lock *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->fd = -1;
    luaL_setmetatable(L, DKL_LOCK);
    snprintf(u->path, sizeof u->path, "%s/lock", dir);
    char host[256];
    this_host(host, sizeof host);
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd = open(u->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            lua_pushnil(L);
            lua_pushfstring(L, "cannot lock run folder %s: creating %s: %s; %s", dir, u->path, strerror(e), advice(e));
            return 2;
        }
        long pid = 0;
        char holder[256] = "?", started[256] = "?";
        int known = read_holder(fd, &pid, holder, sizeof holder, started, sizeof started);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            if (!known) usleep(100000); /* the holder is writing its line */
            if (!known) read_holder(fd, &pid, holder, sizeof holder, started, sizeof started);
            close(fd);
            lua_pushnil(L);
            if (e == EWOULDBLOCK)
                lua_pushfstring(L, "run folder %s is in use by pid %d on host %s (started %s); wait for it or use another folder",
                                dir, (int)pid, holder, started);
            else
                lua_pushfstring(L, "cannot lock run folder %s: flock of %s: %s", dir, u->path, strerror(e));
            return 2;
        }
        /* locked: is it still the file at u->path (a releasing holder unlinks it)? */
        struct stat a, b;
        if (fstat(fd, &a) != 0 || stat(u->path, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            close(fd);
            continue;
        }
        known = read_holder(fd, &pid, holder, sizeof holder, started, sizeof started);
        if (known && strcmp(holder, host) != 0) {
            /* another host's process: this host cannot tell whether it still runs
             * (flock may not reach across hosts on this file system) */
            close(fd);
            lua_pushnil(L);
            lua_pushfstring(L, "run folder %s is locked by pid %d on host %s (started %s); this host cannot tell whether it "
                               "still runs: if it does not, delete %s and resume",
                            dir, (int)pid, holder, started, u->path);
            return 2;
        }
        char line[600], when[64];
        time_t now = time(NULL);
        struct tm tmv;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tmv));
        int n = snprintf(line, sizeof line, "pid %ld host %s started %s\n", (long)getpid(), host, when);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n || fsync(fd) != 0) {
            int e = errno;
            unlink(u->path);
            close(fd);
            lua_pushnil(L);
            lua_pushfstring(L, "writing %s: %s: cannot lock run folder %s; %s", u->path, strerror(e), dir, advice(e));
            return 2;
        }
        u->fd = fd;
        if (known && pid != (long)getpid())
            lua_pushfstring(L, "run folder %s: took over the lock of pid %d on host %s (started %s): that process is gone",
                            dir, (int)pid, holder, started);
        else
            lua_pushnil(L);
        return 2;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "cannot lock run folder %s: %s keeps changing; is another process starting and stopping there?", dir,
                    u->path);
    return 2;
}

/* ---- temp files of dead processes ---------------------------------------- */

static int l_clean_tmp(lua_State *L) {
    const char *dir = luaL_checkstring(L, 1);
    DIR *d = opendir(dir);
    lua_newtable(L);
    if (!d) return 1;
    struct dirent *de;
    int n = 0;
    long self = (long)getpid();
    while ((de = readdir(d)) != NULL) {
        const char *m = strstr(de->d_name, ".tmp.");
        const char *last = NULL;
        while (m) { last = m; m = strstr(m + 1, ".tmp."); }
        if (!last || last == de->d_name) continue;
        const char *digits = last + 5;
        char *end;
        long pid = strtol(digits, &end, 10);
        if (*digits == '\0' || *end != '\0' || pid <= 0 || pid == self || pid_alive(pid)) continue;
        char path[4608];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (unlink(path) != 0) continue;
        lua_createtable(L, 0, 2);
        lua_pushstring(L, de->d_name);
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, (lua_Integer)st.st_size);
        lua_setfield(L, -2, "bytes");
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

/* ---- user errors ----------------------------------------------------------- */

static int l_fail(lua_State *L) {
    luaL_checkstring(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "message");
    luaL_setmetatable(L, DKL_USER_ERROR);
    return lua_error(L);
}

static int user_error_tostring(lua_State *L) {
    lua_getfield(L, 1, "message");
    return 1;
}

static int l_hostname(lua_State *L) {
    char host[256];
    this_host(host, sizeof host);
    lua_pushstring(L, host);
    return 1;
}

static int l_pid(lua_State *L) { lua_pushinteger(L, (lua_Integer)getpid()); return 1; }

static const luaL_Reg funcs[] = {{"write_atomic", l_write_atomic}, {"run_lock", l_run_lock}, {"clean_tmp", l_clean_tmp},
                                 {"fail", l_fail}, {"hostname", l_hostname}, {"pid", l_pid}, {NULL, NULL}};

static int open_runfolder(lua_State *L) {
    luaL_newmetatable(L, DKL_LOCK);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "release");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    luaL_newmetatable(L, DKL_USER_ERROR);
    lua_pushcfunction(L, user_error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(runfolder, open_runfolder)
