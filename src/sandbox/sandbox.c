/*
 * sandbox.c: the daemon side of sandbox.h.
 *
 * nb_sandbox_global_init checks what the host offers, compiles the seccomp
 * filter, then forks the spawner (spawner.c) while the daemon is still
 * single-threaded.  nb_sandbox_spawn is one synchronous round trip to it:
 * the request (argv, env, paths, limits) goes out as one SEQPACKET message,
 * the answer comes back with the instance's pidfd and fds (SCM_RIGHTS).
 * The spawner is dedicated and the setup takes a few milliseconds, so the
 * loop thread simply waits for it.
 *
 * The instance is the daemon's own child (the spawner clones it with
 * CLONE_PARENT), so reaping is a plain waitid on its pidfd.  Killing goes to
 * the instance's pid-namespace init through the pidfd (the kernel then
 * kills everything in the namespace) and to its cgroup (cgroup.kill on v2,
 * else every member of cgroup.procs); never by name.  At reap the cgroup
 * tells whether the OOM killer struck and the peak memory, then is removed.
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "sandbox/internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct sb_global sb_g = {.spawner_fd = -1};

#define SPAWN_TIMEOUT_S 30

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;

/*
 * Instance cgroups are removed off the loop thread: rmdir of a v1 memory
 * cgroup sometimes takes ~10 ms (the kernel offlines it synchronously).
 * One helper thread, started at the first removal, drains a FIFO of ids.
 */
struct rm_item {
    struct rm_item *next;
    char id[128];
};
static pthread_mutex_t rm_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rm_cond = PTHREAD_COND_INITIALIZER;
static struct rm_item *rm_head, **rm_tail = &rm_head;
static int rm_started, rm_stop;
static pthread_t rm_thread;

static void *rm_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&rm_lock);
    for (;;) {
        while (!rm_head && !rm_stop)
            pthread_cond_wait(&rm_cond, &rm_lock);
        struct rm_item *it = rm_head;
        if (!it)
            break;
        rm_head = it->next;
        if (!rm_head)
            rm_tail = &rm_head;
        pthread_mutex_unlock(&rm_lock);
        sb_cg_remove(&sb_g.cg, it->id);
        free(it);
        pthread_mutex_lock(&rm_lock);
    }
    pthread_mutex_unlock(&rm_lock);
    return NULL;
}

static void remove_cgroups_later(const char *id)
{
    struct rm_item *it = nb_xcalloc(1, sizeof(*it));
    snprintf(it->id, sizeof(it->id), "%s", id);
    pthread_mutex_lock(&rm_lock);
    if (!rm_started) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rm_started = pthread_create(&rm_thread, NULL, rm_main, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!rm_started) {
        pthread_mutex_unlock(&rm_lock);
        sb_cg_remove(&sb_g.cg, id); /* no thread: do it now */
        free(it);
        return;
    }
    *rm_tail = it;
    rm_tail = &it->next;
    pthread_cond_signal(&rm_cond);
    pthread_mutex_unlock(&rm_lock);
}

/* Finishes the queued removals and stops the helper thread. */
static void remove_cgroups_flush(void)
{
    pthread_mutex_lock(&rm_lock);
    int started = rm_started;
    rm_stop = 1;
    pthread_cond_signal(&rm_cond);
    pthread_mutex_unlock(&rm_lock);
    if (started)
        pthread_join(rm_thread, NULL);
    pthread_mutex_lock(&rm_lock);
    rm_started = rm_stop = 0;
    pthread_mutex_unlock(&rm_lock);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

unsigned nb_sandbox_uid_for(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)(key ? key : ""); *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return SB_UID_BASE + h % SB_UID_RANGE;
}

/* The host's top-level links into /usr (merged-usr), else the dirs to bind. */
static void scan_root(void)
{
    static const char *const names[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(names); i++) {
        char p[64], target[64];
        snprintf(p, sizeof(p), "/%s", names[i]);
        struct stat st;
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(p, target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            int k = sb_g.nroot_links++;
            snprintf(sb_g.root_links[k][0], sizeof(sb_g.root_links[k][0]), "%s", names[i]);
            snprintf(sb_g.root_links[k][1], sizeof(sb_g.root_links[k][1]), "%s", target);
        } else if (S_ISDIR(st.st_mode)) {
            snprintf(sb_g.root_binds[sb_g.nroot_binds++], sizeof(sb_g.root_binds[0]), "%s",
                     names[i]);
        }
    }
    char lt[256];
    ssize_t n = readlink("/etc/localtime", lt, sizeof(lt) - 1);
    if (n > 0) {
        lt[n] = '\0';
        if (strncmp(lt, "/usr/", 5) == 0)
            snprintf(sb_g.localtime, sizeof(sb_g.localtime), "%s", lt);
    }
}

static void at_exit(void)
{
    nb_sandbox_global_shutdown();
}

int nb_sandbox_global_init(struct nb_err *err)
{
    /*
     * The daemon writes to sockets and pipes whose peer (an instance) may die
     * at any moment: that must be an EPIPE, never a SIGPIPE killing it.
     */
    signal(SIGPIPE, SIG_IGN);
    if (initialized)
        return 0;

    const char *mode = getenv("NUBIS_SANDBOX");
    sb_g.enabled = !(mode && strcmp(mode, "off") == 0);
    sb_g.daemon_pid = getpid();
    int r;
    if (sb_g.enabled) {
        if (geteuid() != 0)
            return nb_err_set(err, -EPERM,
                              "the sandbox needs root (namespaces, mounts, cgroups): run as "
                              "root, or set NUBIS_SANDBOX=off for development without isolation");
        if ((r = sb_cg_detect(&sb_g.cg, sb_g.daemon_pid, err)) < 0)
            return r;
        sb_cg_cleanup_stale(&sb_g.cg);
        struct nb_err gerr = {0};
        if (sb_cg_join_gateway(&sb_g.cg, &gerr) < 0)
            nb_warn(SB_MOD, "the daemon stays in its own cgroup: %s", gerr.msg);
        if ((r = sb_seccomp_build(&sb_g.seccomp, err)) < 0)
            return r;
        scan_root();
        nb_info(SB_MOD, "sandbox on: cgroup v%d (%s), seccomp %u instructions", sb_g.cg.version,
                sb_g.cg.v2_kill ? "cgroup.kill" : "kill by pid", (unsigned)sb_g.seccomp.len);
    } else {
        nb_warn(SB_MOD, "NUBIS_SANDBOX=off: functions run as plain processes with the daemon's "
                        "privileges (development only)");
    }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return nb_err_sys(err, -errno, "socketpair");
    pid_t pid = fork();
    if (pid < 0) {
        r = -errno;
        close(sv[0]);
        close(sv[1]);
        return nb_err_sys(err, r, "fork the spawner");
    }
    if (pid == 0) {
        close(sv[0]);
        sb_spawner_run(sv[1]);
    }
    close(sv[1]);
    sb_g.spawner_fd = sv[0];
    struct timeval tv = {SPAWN_TIMEOUT_S, 0};
    setsockopt(sb_g.spawner_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sb_g.spawner_pid = pid;
    initialized = 1;
    atexit(at_exit);
    return 0;
}

void nb_sandbox_global_shutdown(void)
{
    if (!initialized || getpid() != sb_g.daemon_pid)
        return;
    initialized = 0;
    close_fd(&sb_g.spawner_fd); /* the spawner reads EOF and exits */
    if (sb_g.spawner_pid > 0) {
        while (waitpid(sb_g.spawner_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        sb_g.spawner_pid = 0;
    }
    remove_cgroups_flush();
    if (sb_g.enabled)
        sb_cg_cleanup_daemon(&sb_g.cg);
}

static void proc_reset(struct nb_sandbox_proc *proc)
{
    memset(proc, 0, sizeof(*proc));
    proc->pid = -1;
    proc->pidfd = proc->ctl_wfd = proc->ctl_rfd = proc->stdout_fd = proc->stderr_fd = -1;
}

static size_t put_str(char *buf, size_t off, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    if (off + n > SB_REQ_MAX)
        return SB_REQ_MAX + 1;
    memcpy(buf + off, s ? s : "", n);
    return off + n;
}

/* Packs spec into buf; the length, or 0 if it does not fit SB_REQ_MAX. */
static size_t pack(const struct nb_sandbox_spec *spec, const char *cgname, char *buf,
                   const char *cwd)
{
    struct sb_req_hdr h = {
        .magic = SB_REQ_MAGIC,
        .internet = spec->internet ? 1 : 0,
        .uid = spec->uid ? spec->uid : nb_sandbox_uid_for(spec->id),
        .memory_mb = spec->memory_mb,
        .pids_max = spec->pids_max,
        .tmp_mb = spec->tmp_mb,
    };
    size_t off = sizeof(h);
    off = put_str(buf, off, cgname);
    off = put_str(buf, off, spec->generic ? "" : spec->code_dir);
    off = put_str(buf, off, spec->shim_dir);
    off = put_str(buf, off, cwd);
    for (const char *const *a = spec->argv; off <= SB_REQ_MAX && *a; a++, h.argc++)
        off = put_str(buf, off, *a);
    for (const char *const *e = spec->envp; off <= SB_REQ_MAX && e && *e; e++, h.envc++)
        off = put_str(buf, off, *e);
    if (off > SB_REQ_MAX)
        return 0;
    h.strings_len = (uint32_t)(off - sizeof(h));
    memcpy(buf, &h, sizeof(h));
    return off;
}

/* One request, one answer.  Fills rep and fds (up to SB_REP_FDS, -1 when absent). */
static int round_trip(const char *req, size_t len, struct sb_rep *rep, int fds[SB_REP_FDS],
                      struct nb_err *err)
{
    for (int i = 0; i < SB_REP_FDS; i++)
        fds[i] = -1;
    if (sb_g.spawner_fd < 0)
        return nb_err_set(err, -ENOTCONN, "sandbox: not initialized (no spawner)");
    ssize_t n;
    do {
        n = send(sb_g.spawner_fd, req, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return nb_err_sys(err, -errno, "sandbox: send to the spawner");

    union {
        char buf[CMSG_SPACE(sizeof(int) * SB_REP_FDS)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {rep, sizeof(*rep)};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    do {
        n = recvmsg(sb_g.spawner_fd, &m, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        /*
         * A setup that hangs (it should not: nothing in it waits on anything
         * remote).  Its late answer would pair with the next request, so the
         * spawner is retired; instances cannot start until a restart.
         */
        nb_error(SB_MOD, "the spawner did not answer within %d s: stopping it", SPAWN_TIMEOUT_S);
        kill(sb_g.spawner_pid, SIGKILL);
        close_fd(&sb_g.spawner_fd);
        return nb_err_set(err, -ETIMEDOUT, "sandbox: the spawner did not answer in %d s",
                          SPAWN_TIMEOUT_S);
    }
    if (n < 0)
        return nb_err_sys(err, -errno, "sandbox: receive from the spawner");
    if (n != (ssize_t)sizeof(*rep))
        return nb_err_set(err, -EPIPE, "sandbox: the spawner is gone");
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds, CMSG_DATA(cm), (k > SB_REP_FDS ? SB_REP_FDS : k) * sizeof(int));
        }
    }
    rep->msg[sizeof(rep->msg) - 1] = '\0';
    return 0;
}

/* Whether instances are sandboxed: known after init, else what init will decide. */
static int sandbox_on(void)
{
    if (initialized)
        return sb_g.enabled;
    const char *mode = getenv("NUBIS_SANDBOX");
    return !(mode && strcmp(mode, "off") == 0);
}

static const char *inner_code(const struct nb_sandbox_spec *spec)
{
    if (sandbox_on())
        return SB_CODE_DIR;
    return spec->code_dir ? spec->code_dir : "";
}

static const char *inner_shim(const struct nb_sandbox_spec *spec)
{
    if (sandbox_on())
        return SB_SHIM_DIR;
    return spec->shim_dir ? spec->shim_dir : "";
}

/* Waits for a child whose pidfd we hold (it has exited or was SIGKILLed). */
static int wait_pidfd(int pidfd, pid_t pid, siginfo_t *si)
{
    int w;
    memset(si, 0, sizeof(*si));
    do {
        if (pidfd >= 0)
            w = waitid((idtype_t)P_PIDFD, (id_t)pidfd, si, WEXITED);
        else
            w = waitid(P_PID, (id_t)pid, si, WEXITED);
    } while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : 0;
}

int nb_sandbox_spawn(const struct nb_sandbox_spec *spec, struct nb_sandbox_proc *proc,
                     struct nb_err *err)
{
    proc_reset(proc);
    if (!spec->argv || !spec->argv[0] || spec->argv[0][0] != '/')
        return nb_err_set(err, -EINVAL, "spawn: argv[0] must be an absolute path");
    if (!spec->id || !*spec->id || strlen(spec->id) >= sizeof(((struct sb_priv *)0)->id) - 12 ||
        strchr(spec->id, '/') || spec->id[0] == '.')
        return nb_err_set(err, -EINVAL, "spawn: bad instance id '%s'", spec->id ? spec->id : "");
    if (!spec->generic && (!spec->code_dir || spec->code_dir[0] != '/'))
        return nb_err_set(err, -EINVAL, "spawn: code dir must be an absolute path");

    /*
     * A caller that skipped nb_sandbox_global_init (unit tests of other
     * modules) gets it now; the daemon calls it before it has threads.
     */
    int r;
    if (!initialized && (r = nb_sandbox_global_init(err)) < 0)
        return r;
    const char *cwd = spec->cwd ? spec->cwd : spec->generic ? "/" : inner_code(spec);

    /* Cgroups are named per spawn: a reused instance id never meets a cgroup being removed. */
    static unsigned seq;
    char cgname[sizeof(((struct sb_priv *)0)->id)];
    snprintf(cgname, sizeof(cgname), "%s.%u", spec->id,
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    _cleanup_free_ char *req = nb_xmalloc(SB_REQ_MAX);
    size_t len = pack(spec, cgname, req, cwd);
    if (len == 0)
        return nb_err_set(err, -E2BIG, "spawn: argv and environment exceed %u bytes", SB_REQ_MAX);

    struct sb_rep rep;
    int fds[SB_REP_FDS];
    pthread_mutex_lock(&spawn_lock);
    r = round_trip(req, len, &rep, fds, err);
    pthread_mutex_unlock(&spawn_lock);
    if (r < 0)
        return r;

    if (rep.code < 0) {
        /* The child (if any) exited after its report: it is ours to reap, with its cgroups. */
        if (rep.pid > 0) {
            siginfo_t si;
            wait_pidfd(fds[0], rep.pid, &si);
            if (sb_g.enabled)
                sb_cg_remove(&sb_g.cg, cgname);
        }
        for (int i = 0; i < SB_REP_FDS; i++)
            close_fd(&fds[i]);
        return nb_err_set(err, rep.code, "%s", rep.msg);
    }

    proc->pid = rep.pid;
    proc->pidfd = fds[0];
    proc->ctl_wfd = fds[1];
    proc->ctl_rfd = fds[2];
    proc->stdout_fd = fds[3];
    proc->stderr_fd = fds[4];
    proc->memory_limit_mb = spec->memory_mb;
    struct sb_priv *pv = nb_xcalloc(1, sizeof(*pv));
    snprintf(pv->id, sizeof(pv->id), "%s", cgname);
    pv->peak_fd = -1;
    if (sb_g.enabled && sb_g.cg.base[SB_CG_MEMORY][0]) {
        char p[800];
        snprintf(p, sizeof(p), "%s/%s/%s", sb_g.cg.base[SB_CG_MEMORY], cgname,
                 sb_g.cg.version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
        pv->peak_fd = open(p, O_RDONLY | O_CLOEXEC);
    }
    proc->priv = pv;
    nb_sandbox_inner_paths(spec, proc->code_dir, sizeof(proc->code_dir), proc->shim_dir,
                           sizeof(proc->shim_dir));
    return 0;
}

int nb_sandbox_specialize(struct nb_sandbox_proc *proc, const char *code_dir, int memory_mb,
                          struct nb_err *err)
{
    const struct sb_priv *pv = proc->priv;
    if (!pv || proc->pid <= 0)
        return nb_err_set(err, -EINVAL, "specialize: no live instance");
    if (!code_dir || code_dir[0] != '/')
        return nb_err_set(err, -EINVAL, "specialize: code dir must be an absolute path");
    proc->memory_limit_mb = memory_mb;
    if (!sb_g.enabled)
        return 0; /* plain processes read the host path given in the INIT meta */

    _cleanup_free_ char *req = nb_xmalloc(SB_REQ_MAX);
    struct sb_spec_hdr h = {.magic = SB_SPEC_MAGIC, .pid = proc->pid, .memory_mb = memory_mb};
    size_t off = sizeof(h);
    off = put_str(req, off, pv->id);
    off = put_str(req, off, code_dir);
    if (off > SB_REQ_MAX)
        return nb_err_set(err, -E2BIG, "specialize: code dir path too long");
    h.strings_len = (uint32_t)(off - sizeof(h));
    memcpy(req, &h, sizeof(h));

    struct sb_rep rep;
    int fds[SB_REP_FDS];
    pthread_mutex_lock(&spawn_lock);
    int r = round_trip(req, off, &rep, fds, err);
    pthread_mutex_unlock(&spawn_lock);
    for (int i = 0; i < SB_REP_FDS; i++)
        close_fd(&fds[i]);
    if (r < 0)
        return r;
    if (rep.code < 0)
        return nb_err_set(err, rep.code, "%s", rep.msg);
    return 0;
}

void nb_sandbox_inner_paths(const struct nb_sandbox_spec *spec, char *code_dir, size_t code_len,
                            char *shim_dir, size_t shim_len)
{
    if (code_dir && code_len)
        snprintf(code_dir, code_len, "%s", inner_code(spec));
    if (shim_dir && shim_len)
        snprintf(shim_dir, shim_len, "%s", inner_shim(spec));
}

uint64_t nb_sandbox_memory_peak(const struct nb_sandbox_proc *proc)
{
    const struct sb_priv *pv = proc->priv;
    if (!pv || pv->peak_fd < 0)
        return 0;
    char buf[32];
    ssize_t n = pread(pv->peak_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

int nb_sandbox_kill(struct nb_sandbox_proc *proc)
{
    if (proc->pid <= 0)
        return -ESRCH;
    const struct sb_priv *pv = proc->priv;
    int r = 0;
    if (!sb_g.enabled) {
        /* setsid made the runtime a group leader: this reaches its children too. */
        if (kill(-proc->pid, SIGKILL) == 0)
            return 0;
        r = -errno;
    }
    /* The pid namespace's init: the kernel kills every process in it. */
    if (proc->pidfd >= 0 && syscall(SYS_pidfd_send_signal, proc->pidfd, SIGKILL, NULL, 0) == 0)
        r = 0;
    else if (!r)
        r = -errno;
    if (sb_g.enabled && pv)
        sb_cg_kill(&sb_g.cg, pv->id);
    return r == -ESRCH ? 0 : r;
}

static void close_all(struct nb_sandbox_proc *proc)
{
    close_fd(&proc->pidfd);
    close_fd(&proc->ctl_wfd);
    close_fd(&proc->ctl_rfd);
    close_fd(&proc->stdout_fd);
    close_fd(&proc->stderr_fd);
}

/* Reads the cgroup's verdict, removes it and frees the private state. */
static void release_priv(struct nb_sandbox_proc *proc)
{
    struct sb_priv *pv = proc->priv;
    if (!pv)
        return;
    if (sb_g.enabled) {
        sb_cg_stats(&sb_g.cg, pv->id, &proc->oom_kills, &proc->memory_peak);
        remove_cgroups_later(pv->id);
    }
    close_fd(&pv->peak_fd);
    free(pv);
    proc->priv = NULL;
}

int nb_sandbox_reap(struct nb_sandbox_proc *proc, int *status)
{
    int r = 0;
    if (proc->pid <= 0) {
        release_priv(proc);
        close_all(proc);
        return -ECHILD;
    }
    siginfo_t si;
    r = wait_pidfd(proc->pidfd, proc->pid, &si);
    if (r == 0 && status) {
        /* Back to waitpid's encoding, which callers know how to read. */
        switch (si.si_code) {
        case CLD_EXITED:
            *status = (si.si_status & 0xff) << 8;
            break;
        case CLD_DUMPED:
            *status = (si.si_status & 0x7f) | 0x80;
            break;
        default:
            *status = si.si_status & 0x7f;
            break;
        }
    }
    release_priv(proc);
    close_all(proc);
    proc->pid = -1;
    return r;
}

void nb_sandbox_release(struct nb_sandbox_proc *proc)
{
    if (proc->pid > 0) {
        nb_sandbox_kill(proc);
        nb_sandbox_reap(proc, NULL);
    }
    release_priv(proc);
    close_all(proc);
}
