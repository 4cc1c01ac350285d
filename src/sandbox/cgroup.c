/*
 * cgroup.c: the instance's cgroups, on cgroup v1, v2, or both (hybrid).
 *
 * Layout: in each hierarchy the daemon uses, instance cgroups live under the
 * daemon's own cgroup, in `nubis/d<daemon pid>/<instance id>`; so several
 * daemons on one host never touch each other's, the limits nest under
 * whatever limits the daemon itself runs with, and a daemon that died
 * without cleaning up is recognised (its pid is gone) and swept at the next
 * start.  In the hierarchy with the cpu controller the daemon itself joins
 * `nubis/d<daemon pid>/gateway`, beside its instances (sb_cg_join_gateway).
 *
 * v1 (memory, cpu, pids controllers, each its own hierarchy): memory =
 * memorySize with no swap (memsw when the kernel accounts swap, else
 * swappiness 0), cpu.shares = memorySize in MB (1024 shares per GB, the
 * weight of an ordinary process; minimum 2), pids.max.  A cgroup2
 * hierarchy mounted beside them (hybrid, this machine) is not used: the
 * instance's pid namespace already kills as one, and v1 lists the members
 * of a cgroup for a second sweep.
 *
 * v2 (one hierarchy with the controllers): memory.max, memory.swap.max = 0,
 * cpu.weight = memorySize * 100 / 1024 (100 per GB, the default weight),
 * pids.max, cgroup.kill.  v2 forbids processes in a cgroup whose controllers
 * are delegated to children, so at start a daemon that sits in a cgroup of
 * its own moves itself into a `supervisor` leaf first.
 *
 * The files written here are all small; every call costs a few syscalls.
 * Processes enter their cgroups from inside the child before exec: it
 * writes "0" into fds the spawner opened for it.  On v1 that is the `tasks`
 * file, not cgroup.procs: moving a whole thread group takes the global
 * cgroup_threadgroup_rwsem for writing, whose RCU sync costs 7-22 ms when
 * no migration happened lately (measured here), while a single thread
 * moving itself skips that lock (20-60 us).  The child is single-threaded,
 * so the two are the same move.  v2 has no such file for domain cgroups:
 * there the write goes to cgroup.procs and may pay that price (a
 * clone3(CLONE_INTO_CGROUP) would avoid it; not done yet).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "sandbox/internal.h"

static const char *const ctrl_v1_name[SB_CG_N] = {"memory", "cpu", "pids", NULL};

/* snprintf for paths: truncation is checked by the caller's later open/mkdir failing. */
static void __attribute__((format(printf, 3, 4))) pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

static int write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    int e = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
    close(fd);
    return e;
}

static int write_at(const char *dir, const char *file, const char *s)
{
    char p[700];
    pathf(p, sizeof(p), "%s/%s", dir, file);
    return write_str(p, s);
}

/* Reads a small file into buf (NUL-terminated).  Length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    return n;
}

static int mkdir_p(const char *path)
{
    char tmp[512];
    pathf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The mount point of the hierarchy with fstype (and, for v1, the controller option). */
static int find_mount(const char *fstype, const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char line[4096];
    int found = -ENOENT;
    while (fgets(line, sizeof(line), f)) {
        /* id parent maj:min root mountpoint opts... - fstype source superopts */
        char root[1024], mnt[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) != 2)
            continue;
        char *dash = strstr(line, " - ");
        if (!dash)
            continue;
        char fs[64], src[256], opts[1024] = "";
        if (sscanf(dash + 3, "%63s %255s %1023s", fs, src, opts) < 2)
            continue;
        if (strcmp(fs, fstype) != 0 || strcmp(root, "/") != 0)
            continue;
        if (ctrl) {
            int has = 0;
            for (char *save = NULL, *t = strtok_r(opts, ",", &save); t;
                 t = strtok_r(NULL, ",", &save))
                has |= strcmp(t, ctrl) == 0;
            if (!has)
                continue;
        }
        pathf(out, len, "%s", mnt);
        found = 0;
        break;
    }
    fclose(f);
    return found;
}

/* The daemon's own cgroup path in a v1 hierarchy (ctrl) or in v2 (ctrl NULL). */
static int own_cgroup(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -errno;
    char line[2048];
    int found = -ENOENT;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = '\0';
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        int match = 0;
        if (!ctrl) {
            match = strcmp(line, "0") == 0 && *ctrls == '\0';
        } else {
            char cs[256];
            pathf(cs, sizeof(cs), "%s", ctrls);
            for (char *save = NULL, *t = strtok_r(cs, ",", &save); t;
                 t = strtok_r(NULL, ",", &save))
                match |= strcmp(t, ctrl) == 0;
        }
        if (match) {
            pathf(out, len, "%s", strcmp(path, "/") == 0 ? "" : path);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static int file_exists(const char *dir, const char *file)
{
    char p[700];
    pathf(p, sizeof(p), "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

/* Pure v2: makes `dir` delegate memory, cpu and pids to its children. */
static int v2_delegate(const char *dir)
{
    int r = write_at(dir, "cgroup.subtree_control", "+memory +cpu +pids");
    return r;
}

static int detect_v2(struct sb_cgroups *cg, const char *mnt, pid_t daemon_pid, struct nb_err *err)
{
    char own[512], top[1024];
    if (own_cgroup(NULL, own, sizeof(own)) < 0)
        return nb_err_set(err, -ENOENT, "cgroup v2: own cgroup not found in /proc/self/cgroup");
    pathf(top, sizeof(top), "%s%s", mnt, own);
    int r = v2_delegate(top);
    if (r == -EBUSY) {
        /* No internal processes: step aside into a leaf of our own first. */
        char leaf[1100];
        pathf(leaf, sizeof(leaf), "%s/supervisor", top);
        if ((r = mkdir_p(leaf)) < 0)
            return nb_err_sys(err, r, "mkdir '%s'", leaf);
        char pid[32];
        pathf(pid, sizeof(pid), "%d", (int)getpid());
        if ((r = write_at(leaf, "cgroup.procs", pid)) < 0)
            return nb_err_sys(err, r, "move the daemon into '%s'", leaf);
        r = v2_delegate(top);
    }
    if (r < 0)
        return nb_err_sys(err, r, "enable memory, cpu, pids in '%s/cgroup.subtree_control'", top);
    char nb[1100], base[1200];
    pathf(nb, sizeof(nb), "%s/nubis", top);
    if ((r = mkdir_p(nb)) < 0 || (r = v2_delegate(nb)) < 0)
        return nb_err_sys(err, r, "cgroup '%s'", nb);
    pathf(base, sizeof(base), "%s/d%d", nb, (int)daemon_pid);
    if ((r = mkdir_p(base)) < 0 || (r = v2_delegate(base)) < 0)
        return nb_err_sys(err, r, "cgroup '%s'", base);
    for (int i = 0; i < SB_CG_N; i++)
        pathf(cg->base[i], sizeof(cg->base[i]), "%s", base);
    cg->version = 2;
    cg->v2_kill = file_exists(base, "cgroup.kill");
    return 0;
}

int sb_cg_detect(struct sb_cgroups *cg, pid_t daemon_pid, struct nb_err *err)
{
    memset(cg, 0, sizeof(*cg));
    char mnt[512], own[512];
    int r;

    /* A v1 memory controller decides: hybrid or v1 host.  Else pure v2. */
    if (find_mount("cgroup", "memory", mnt, sizeof(mnt)) < 0) {
        if (find_mount("cgroup2", NULL, mnt, sizeof(mnt)) < 0)
            return nb_err_set(err, -ENOENT, "no cgroup hierarchy mounted (v1 memory or v2)");
        char ctrls[256] = "";
        char p[700];
        pathf(p, sizeof(p), "%s/cgroup.controllers", mnt);
        read_small(p, ctrls, sizeof(ctrls));
        if (!strstr(ctrls, "memory") || !strstr(ctrls, "pids"))
            return nb_err_set(err, -ENOTSUP,
                              "cgroup v2 at '%s' offers no memory/pids controllers (has '%s')", mnt,
                              ctrls);
        return detect_v2(cg, mnt, daemon_pid, err);
    }

    cg->version = 1;
    for (int i = 0; i < SB_CG_N; i++) {
        const char *name = ctrl_v1_name[i];
        if (!name)
            continue;
        if (find_mount("cgroup", name, mnt, sizeof(mnt)) < 0) {
            if (i == SB_CG_CPU) {
                nb_warn(SB_MOD, "no cgroup v1 cpu controller: instances get no CPU share");
                continue;
            }
            return nb_err_set(err, -ENOENT, "cgroup v1 controller '%s' not mounted", name);
        }
        if ((r = own_cgroup(name, own, sizeof(own))) < 0)
            return nb_err_set(err, r, "cgroup v1 '%s': own cgroup not in /proc/self/cgroup", name);
        pathf(cg->base[i], sizeof(cg->base[i]), "%s%s/nubis/d%d", mnt, own, (int)daemon_pid);
        if ((r = mkdir_p(cg->base[i])) < 0)
            return nb_err_sys(err, r, "mkdir '%s'", cg->base[i]);
    }
    cg->memsw = file_exists(cg->base[SB_CG_MEMORY], "memory.memsw.limit_in_bytes");

    /*
     * Hybrid hosts (this one) also mount cgroup2 without controllers; it
     * would only add cgroup.kill, and joining it costs a cgroup.procs write
     * (below).  The pid namespace already gives a whole-instance kill.
     */
    return 0;
}

/*
 * The gateway's cgroup: the daemon beside its instances in the cpu
 * hierarchy.  At the root, next to the `nubis` group three levels above the
 * instance, the daemon woken by an instance's answer preempted it in about
 * half of the requests; otherwise it waited for the end of the instance's
 * event-loop turn (~9 us at c=1).  As a sibling of the instances' cgroups it
 * preempts in all of them (traces of ~2,000 requests each; bench/README.md).
 * Its weight, that of ten 1 GB instances, keeps it half the CPU against up
 * to ten busy ones, as the root gave it against all of them.
 */
#define GATEWAY_CG "gateway"
#define GATEWAY_SHARES "10240" /* v1 cpu.shares: 1024 per GB of instance */
#define GATEWAY_WEIGHT "1000"  /* v2 cpu.weight: 100 per GB */

int sb_cg_join_gateway(struct sb_cgroups *cg, struct nb_err *err)
{
    int i = cg->version == 2 ? 0 : SB_CG_CPU;
    char own[512], dir[700];
    int r;
    cg->home[0] = '\0';
    if (!cg->base[i][0])
        return 0; /* no cpu controller: nothing to gain */
    char mnt[512];
    if ((r = find_mount(cg->version == 2 ? "cgroup2" : "cgroup", cg->version == 2 ? NULL : "cpu",
                        mnt, sizeof(mnt))) < 0 ||
        (r = own_cgroup(cg->version == 2 ? NULL : "cpu", own, sizeof(own))) < 0)
        return nb_err_set(err, r, "the daemon's own cpu cgroup not found");
    pathf(dir, sizeof(dir), "%s/%s", cg->base[i], GATEWAY_CG);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return nb_err_sys(err, -errno, "mkdir '%s'", dir);
    r = write_at(dir, cg->version == 2 ? "cpu.weight" : "cpu.shares",
                 cg->version == 2 ? GATEWAY_WEIGHT : GATEWAY_SHARES);
    if (r < 0) {
        rmdir(dir);
        return nb_err_sys(err, r, "set the weight of '%s'", dir);
    }
    /* v1: a single thread moving itself skips the thread-group lock (file header). */
    if ((r = write_at(dir, cg->version == 2 ? "cgroup.procs" : "tasks", "0")) < 0) {
        rmdir(dir);
        return nb_err_sys(err, r, "move the daemon into '%s'", dir);
    }
    pathf(cg->home, sizeof(cg->home), "%s%s", mnt, own);
    cg->home_ctrl = i;
    return 0;
}

/* Back where the daemon came from, every thread of it (before its cgroups go). */
static int leave_gateway(struct sb_cgroups *cg)
{
    if (!cg->home[0])
        return 0;
    char pid[32];
    pathf(pid, sizeof(pid), "%d", (int)getpid());
    int r = write_at(cg->home, "cgroup.procs", pid);
    if (r < 0)
        nb_warn(SB_MOD, "cannot move the daemon back to '%s': %s", cg->home, nb_errno_name(-r));
    else
        cg->home[0] = '\0';
    return r;
}

/* The instance's directory in hierarchy i ("" if unused; v2 uses one for all). */
static void inst_dir(const struct sb_cgroups *cg, int i, const char *id, char *out, size_t len)
{
    out[0] = '\0';
    if (!cg->base[i][0])
        return;
    pathf(out, len, "%s/%s", cg->base[cg->version == 2 ? 0 : i], id);
}

/* Each hierarchy once (v2 has one directory for every controller). */
#define EACH_DIR(cg, i)                                                                            \
    for (int i = 0; i < SB_CG_N; i++)                                                              \
        if ((cg)->base[i][0] && !((cg)->version == 2 && i > 0))

int sb_cg_prepare(const struct sb_cgroups *cg, const char *id, int fds[SB_CG_N], struct nb_err *err)
{
    char dir[700], p[760];
    int r;
    for (int i = 0; i < SB_CG_N; i++)
        fds[i] = -1;
    EACH_DIR(cg, i)
    {
        inst_dir(cg, i, id, dir, sizeof(dir));
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            r = nb_err_sys(err, -errno, "mkdir '%s'", dir);
            goto fail;
        }
        /* v1: "tasks" (see the file header); v2: cgroup.procs. */
        pathf(p, sizeof(p), "%s/%s", dir, cg->version == 1 ? "tasks" : "cgroup.procs");
        if ((fds[i] = open(p, O_WRONLY | O_CLOEXEC)) < 0) {
            r = nb_err_sys(err, -errno, "open '%s'", p);
            goto fail;
        }
    }
    return 0;
fail:
    for (int i = 0; i < SB_CG_N; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
    sb_cg_remove(cg, id);
    return r;
}

int sb_cg_limits(const struct sb_cgroups *cg, const char *id, int memory_mb, int pids_max,
                 struct nb_err *err)
{
    char dir[SB_CG_N][700], v[64];
    const char *step = NULL;
    int r;
    if (memory_mb <= 0)
        memory_mb = 128;
    if (pids_max <= 0)
        pids_max = SB_DEFAULT_PIDS;
    for (int i = 0; i < SB_CG_N; i++)
        inst_dir(cg, i, id, dir[i], sizeof(dir[i]));
    pathf(v, sizeof(v), "%llu", (unsigned long long)memory_mb << 20);
    if (cg->version == 1) {
        /* Set on an unlimited cgroup: memory first, then memsw (which must be >= memory). */
        if ((r = write_at(dir[SB_CG_MEMORY], step = "memory.limit_in_bytes", v)) < 0)
            goto fail;
        if (cg->memsw) {
            if ((r = write_at(dir[SB_CG_MEMORY], step = "memory.memsw.limit_in_bytes", v)) < 0)
                goto fail;
        } else {
            write_at(dir[SB_CG_MEMORY], "memory.swappiness", "0");
        }
        if (dir[SB_CG_CPU][0]) {
            pathf(v, sizeof(v), "%d", memory_mb < 2 ? 2 : memory_mb);
            if ((r = write_at(dir[SB_CG_CPU], step = "cpu.shares", v)) < 0)
                goto fail;
        }
        pathf(v, sizeof(v), "%d", pids_max);
        if ((r = write_at(dir[SB_CG_PIDS], step = "pids.max", v)) < 0)
            goto fail;
    } else {
        if ((r = write_at(dir[0], step = "memory.max", v)) < 0)
            goto fail;
        write_at(dir[0], "memory.swap.max", "0"); /* absent without swap accounting */
        int w = memory_mb * 100 / 1024;
        pathf(v, sizeof(v), "%d", w < 1 ? 1 : w > 10000 ? 10000 : w);
        if ((r = write_at(dir[0], step = "cpu.weight", v)) < 0)
            goto fail;
        pathf(v, sizeof(v), "%d", pids_max);
        if ((r = write_at(dir[0], step = "pids.max", v)) < 0)
            goto fail;
    }
    return 0;
fail:
    return nb_err_sys(err, r, "cgroup write '%s'", step);
}

int sb_cg_rename(const struct sb_cgroups *cg, const char *from, const char *to, struct nb_err *err)
{
    if (cg->version != 1)
        return nb_err_set(err, -ENOTSUP, "cgroup v2 directories cannot be renamed");
    EACH_DIR(cg, i)
    {
        char a[700], b[700];
        inst_dir(cg, i, from, a, sizeof(a));
        inst_dir(cg, i, to, b, sizeof(b));
        if (rename(a, b) < 0)
            return nb_err_sys(err, -errno, "rename '%s'", a);
    }
    return 0;
}

/* Signals every process listed in dir/cgroup.procs; the number signalled. */
static int kill_listed(const char *dir)
{
    char p[760];
    pathf(p, sizeof(p), "%s/cgroup.procs", dir);
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (pid > 0 && kill(pid, SIGKILL) == 0)
            n++;
    }
    fclose(f);
    return n;
}

int sb_cg_kill(const struct sb_cgroups *cg, const char *id)
{
    char dir[700];
    if (cg->v2_kill) {
        pathf(dir, sizeof(dir), "%s/%s", cg->base[SB_CG_KILL], id);
        if (write_at(dir, "cgroup.kill", "1") == 0)
            return 0;
    }
    /* v1: signal every member until none is left (they cannot fork forever: pids.max). */
    const char *base = cg->base[SB_CG_PIDS][0] ? cg->base[SB_CG_PIDS] : cg->base[SB_CG_MEMORY];
    if (!base[0])
        return -ENOTSUP;
    pathf(dir, sizeof(dir), "%s/%s", base, id);
    for (int i = 0; i < 100 && kill_listed(dir) > 0; i++)
        ;
    return 0;
}

static long long field_of(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
            return atoll(p + kl + 1);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

void sb_cg_stats(const struct sb_cgroups *cg, const char *id, int *oom_kills, uint64_t *peak)
{
    char dir[700], p[760], buf[1024];
    *oom_kills = 0;
    *peak = 0;
    if (!cg->base[SB_CG_MEMORY][0])
        return;
    pathf(dir, sizeof(dir), "%s/%s", cg->base[SB_CG_MEMORY], id);
    pathf(p, sizeof(p), "%s/%s", dir, cg->version == 2 ? "memory.events" : "memory.oom_control");
    if (read_small(p, buf, sizeof(buf)) > 0) {
        long long k = field_of(buf, "oom_kill");
        *oom_kills = k > 0 ? (int)k : 0;
    }
    pathf(p, sizeof(p), "%s/%s", dir,
          cg->version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
    if (read_small(p, buf, sizeof(buf)) > 0)
        *peak = strtoull(buf, NULL, 10);
}

/* rmdir, retrying briefly while the last members finish exiting. */
static int rmdir_drained(const char *dir)
{
    for (int i = 0; i < 50; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        kill_listed(dir);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return -EBUSY;
}

int sb_cg_remove(const struct sb_cgroups *cg, const char *id)
{
    int r = 0;
    for (int i = 0; i < SB_CG_N; i++) {
        if (!cg->base[i][0] || (cg->version == 2 && i > 0))
            continue;
        char dir[700];
        pathf(dir, sizeof(dir), "%s/%s", cg->base[i], id);
        int e = rmdir_drained(dir);
        if (e < 0) {
            nb_warn(SB_MOD, "cannot remove cgroup '%s': %s", dir, nb_errno_name(-e));
            r = e;
        }
    }
    return r;
}

/*
 * Removes every instance cgroup under base (killing members), then base
 * itself; keep names one to leave alone (the live daemon's own).
 */
static void sweep(const char *base, const char *keep)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.' || (keep && strcmp(e->d_name, keep) == 0))
            continue;
        char dir[1100];
        pathf(dir, sizeof(dir), "%s/%s", base, e->d_name);
        if (file_exists(dir, "cgroup.kill"))
            write_at(dir, "cgroup.kill", "1");
        rmdir_drained(dir);
    }
    closedir(d);
    if (rmdir(base) < 0 && errno != ENOENT)
        nb_warn(SB_MOD, "cannot remove cgroup '%s': %s", base, nb_errno_name(errno));
}

void sb_cg_cleanup_daemon(struct sb_cgroups *cg)
{
    int stuck = leave_gateway(cg) < 0;
    for (int i = 0; i < SB_CG_N; i++) {
        if (cg->base[i][0] && !(cg->version == 2 && i > 0)) {
            sweep(cg->base[i], stuck && i == cg->home_ctrl ? GATEWAY_CG : NULL);
            /* nubis/ too, unless another daemon still uses it (then EBUSY: fine). */
            char parent[512];
            pathf(parent, sizeof(parent), "%s", cg->base[i]);
            char *slash = strrchr(parent, '/');
            if (slash) {
                *slash = '\0';
                rmdir(parent);
            }
        }
    }
}

void sb_cg_cleanup_stale(const struct sb_cgroups *cg)
{
    for (int i = 0; i < SB_CG_N; i++) {
        if (!cg->base[i][0] || (cg->version == 2 && i > 0))
            continue;
        char parent[512];
        pathf(parent, sizeof(parent), "%s", cg->base[i]);
        char *slash = strrchr(parent, '/');
        if (!slash)
            continue;
        *slash = '\0';
        DIR *d = opendir(parent);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_type != DT_DIR || e->d_name[0] != 'd')
                continue;
            char *end;
            long pid = strtol(e->d_name + 1, &end, 10);
            if (*end || pid <= 0 || pid == (long)sb_g.daemon_pid)
                continue;
            if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
                continue; /* its daemon still runs */
            char dir[1100];
            pathf(dir, sizeof(dir), "%s/%s", parent, e->d_name);
            nb_info(SB_MOD, "removing cgroups left by daemon %ld: '%s'", pid, dir);
            sweep(dir, NULL);
        }
        closedir(d);
    }
}
