/*
 * child.c: the cloned child, from clone() to execve.
 *
 * It runs on the spawner's memory (CLONE_VM | CLONE_VFORK: no page tables
 * copied; the spawner is suspended until the exec or the exit), already in
 * its new pid, mount, ipc and uts namespaces.
 * The spawner is single-threaded, so libc calls that take no locks and do
 * not allocate are safe here; nothing is malloc'ed.  Steps, in order:
 *
 *   1. join the instance's cgroups (write "0" to the cgroup.procs fds the
 *      spawner opened), then a new cgroup namespace rooted there;
 *   2. hostname, and the network namespace the spawner prepared (only
 *      `lo`, up) unless internetAccess keeps the host's;
 *   3. the root file system (setup_root): a tmpfs with read-only binds of
 *      /usr, the runtimes at /opt/nubis and the code at /code, a minimal
 *      /etc and /dev, a fresh /proc, a size-limited /tmp; pivot_root into
 *      it, detach the old root, make / read-only;
 *   4. SCHED_BATCH, rlimits, then the credentials: no capabilities in any
 *      set (bounding and ambient included), no supplementary groups, the
 *      function's uid;
 *   5. die with the daemon (PR_SET_PDEATHSIG; set after the uid change,
 *      which clears it), fds 0-4, no_new_privs, the seccomp filter, execve.
 *
 * A failed step is reported as {errno, "step 'subject'"} on the CLOEXEC
 * report pipe before _exit(127); the spawner reads EOF when execve worked.
 *
 * Sources for bind mounts are opened (O_PATH) before the new root's tmpfs
 * is mounted over /tmp, and bound through /proc/self/fd/N: so a code
 * directory under /tmp (tests) or anywhere else is still reachable.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/internal.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/*
 * No ASan instrumentation here: the child runs on the spawner's second
 * stack and never returns, which ASan cannot follow (it would warn at every
 * _exit); the spawner unpoisons that stack before each clone instead.
 */
#define CHILD_FN __attribute__((no_sanitize("address")))

/* Where the new root is assembled, in the child's own mount namespace. */
#define STAGE "/tmp"

CHILD_FN static void __attribute__((noreturn, format(printf, 2, 3)))
fail(const struct sb_child *c, const char *fmt, ...)
{
    struct sb_report r;
    r.err = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.step, sizeof(r.step), fmt, ap);
    va_end(ap);
    ssize_t n;
    do {
        n = write(c->report_fd, &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

CHILD_FN static void reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for libc-reserved ones: fine */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ------------------------------------------------------------ root fs */

CHILD_FN static int open_path(const char *p)
{
    return open(p, O_PATH | O_CLOEXEC);
}

CHILD_FN static void mkdir_in(const struct sb_child *c, const char *rel, mode_t mode)
{
    char p[256];
    snprintf(p, sizeof(p), STAGE "/%s", rel);
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        fail(c, "mkdir '/%s'", rel);
}

CHILD_FN static void symlink_in(const struct sb_child *c, const char *target, const char *rel)
{
    char p[256];
    snprintf(p, sizeof(p), STAGE "/%s", rel);
    if (symlink(target, p) < 0)
        fail(c, "symlink '/%s'", rel);
}

CHILD_FN static void write_in(const struct sb_child *c, const char *rel, const char *data)
{
    char p[256];
    snprintf(p, sizeof(p), STAGE "/%s", rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(c, "create '/%s'", rel);
    size_t n = strlen(data);
    if (write(fd, data, n) != (ssize_t)n)
        fail(c, "write '/%s'", rel);
    close(fd);
}

/*
 * Binds the object behind src_fd at rel (which must exist), read-only
 * unless rw, never suid, never a device unless dev.
 */
CHILD_FN static void bind_fd(const struct sb_child *c, int src_fd, const char *rel, int rw, int dev)
{
    char src[64], dst[256];
    snprintf(src, sizeof(src), "/proc/self/fd/%d", src_fd);
    snprintf(dst, sizeof(dst), STAGE "/%s", rel);
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
        fail(c, "bind '/%s'", rel);
    unsigned long fl =
        MS_REMOUNT | MS_BIND | MS_NOSUID | (rw ? 0 : MS_RDONLY) | (dev ? 0 : MS_NODEV);
    if (mount(NULL, dst, NULL, fl, NULL) < 0)
        fail(c, "remount '/%s'", rel);
}

/* The harmless character devices (Linux's fixed numbers: major 1). */
static const struct {
    const char *name;
    unsigned minor;
} dev_nodes[] = {{"null", 3}, {"zero", 5}, {"full", 7}, {"random", 8}, {"urandom", 9}};
#define NDEV (sizeof(dev_nodes) / sizeof(dev_nodes[0]))

CHILD_FN static void setup_root(const struct sb_child *c)
{
    char buf[1024];
    int internet = c->req->internet != 0;

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        fail(c, "make '/' private");

    /* Sources first: the stage tmpfs hides whatever lives under it. */
    int usr_fd = open_path("/usr");
    if (usr_fd < 0)
        fail(c, "open '/usr'");
    /* A generic (pre-warmed) instance has no code yet: /code stays an empty mount point. */
    int code_fd = -1;
    if (c->code_dir[0] && (code_fd = open_path(c->code_dir)) < 0)
        fail(c, "open code dir '%s'", c->code_dir);
    int shim_fd = -1;
    if (c->shim_dir[0] && (shim_fd = open_path(c->shim_dir)) < 0)
        fail(c, "open runtimes dir '%s'", c->shim_dir);
    int bind_fds[8];
    char rel[64];
    for (int i = 0; i < sb_g.nroot_binds; i++) {
        snprintf(rel, sizeof(rel), "/%s", sb_g.root_binds[i]);
        if ((bind_fds[i] = open_path(rel)) < 0)
            fail(c, "open '%s'", rel);
    }
    int resolv_fd = -1, ssl_fd = -1;
    if (internet) {
        resolv_fd = open_path("/etc/resolv.conf"); /* optional */
        ssl_fd = open_path("/etc/ssl");
    }

    /*
     * Not nodev: /dev's nodes are made right here (one mknod each, cheaper
     * than binding the host's).  The root turns read-only below and the
     * function has no CAP_MKNOD, so it can add none; /tmp is nodev.
     */
    if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID, "size=1m,nr_inodes=1024,mode=0755") < 0)
        fail(c, "mount tmpfs root");

    /* /usr and the merged-usr links (or the host's real /bin, /lib...). */
    mkdir_in(c, "usr", 0755);
    bind_fd(c, usr_fd, "usr", 0, 0);
    for (int i = 0; i < sb_g.nroot_links; i++)
        symlink_in(c, sb_g.root_links[i][1], sb_g.root_links[i][0]);
    for (int i = 0; i < sb_g.nroot_binds; i++) {
        mkdir_in(c, sb_g.root_binds[i], 0755);
        bind_fd(c, bind_fds[i], sb_g.root_binds[i], 0, 0);
    }

    /* The runtimes and the code, read-only. */
    mkdir_in(c, "opt", 0755);
    mkdir_in(c, "opt/nubis", 0755);
    if (shim_fd >= 0)
        bind_fd(c, shim_fd, "opt/nubis", 0, 0);
    mkdir_in(c, "code", 0755);
    if (code_fd >= 0)
        bind_fd(c, code_fd, "code", 0, 0);

    /* A minimal /etc: who we are, localhost, and the network only if allowed. */
    mkdir_in(c, "etc", 0755);
    snprintf(buf, sizeof(buf),
             "root:x:0:0:root:/root:/usr/sbin/nologin\n"
             "sbx:x:%u:%u:nubis function:/tmp:/usr/sbin/nologin\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             (unsigned)c->uid, (unsigned)c->uid);
    write_in(c, "etc/passwd", buf);
    snprintf(buf, sizeof(buf), "root:x:0:\nsbx:x:%u:\nnogroup:x:65534:\n", (unsigned)c->uid);
    write_in(c, "etc/group", buf);
    write_in(c, "etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    write_in(c, "etc/hostname", "localhost\n");
    write_in(c, "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n");
    if (sb_g.localtime[0])
        symlink_in(c, sb_g.localtime, "etc/localtime");
    if (resolv_fd >= 0) {
        write_in(c, "etc/resolv.conf", "");
        bind_fd(c, resolv_fd, "etc/resolv.conf", 0, 0);
    }
    if (ssl_fd >= 0) {
        mkdir_in(c, "etc/ssl", 0755);
        bind_fd(c, ssl_fd, "etc/ssl", 0, 0);
    }

    /* /dev: the harmless character devices, made here, and the usual links. */
    mkdir_in(c, "dev", 0755);
    for (size_t i = 0; i < NDEV; i++) {
        char p[64];
        snprintf(p, sizeof(p), STAGE "/dev/%s", dev_nodes[i].name);
        if (mknod(p, S_IFCHR | 0666, makedev(1, dev_nodes[i].minor)) < 0)
            fail(c, "mknod '/dev/%s'", dev_nodes[i].name);
    }
    symlink_in(c, "/proc/self/fd", "dev/fd");
    symlink_in(c, "/proc/self/fd/0", "dev/stdin");
    symlink_in(c, "/proc/self/fd/1", "dev/stdout");
    symlink_in(c, "/proc/self/fd/2", "dev/stderr");
    symlink_in(c, "/tmp", "dev/shm");

    /* The one writable place, limited in bytes and inodes. */
    mkdir_in(c, "tmp", 01777);
    int tmp_mb = c->req->tmp_mb > 0 ? c->req->tmp_mb : SB_DEFAULT_TMP_MB;
    snprintf(buf, sizeof(buf), "size=%dm,nr_inodes=%d,mode=1777", tmp_mb, tmp_mb * 64 + 1024);
    if (mount("tmpfs", STAGE "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, buf) < 0)
        fail(c, "mount tmpfs '/tmp'");

    /* Our own pid namespace's /proc. */
    mkdir_in(c, "proc", 0555);
    if (mount("proc", STAGE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        fail(c, "mount '/proc'");

    close(usr_fd);
    if (code_fd >= 0)
        close(code_fd);
    if (shim_fd >= 0)
        close(shim_fd);
    for (int i = 0; i < sb_g.nroot_binds; i++)
        close(bind_fds[i]);
    if (resolv_fd >= 0)
        close(resolv_fd);
    if (ssl_fd >= 0)
        close(ssl_fd);

    /* Into it; the old root goes away (it stays the host's, untouched). */
    if (chdir(STAGE) < 0)
        fail(c, "chdir '" STAGE "'");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        fail(c, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        fail(c, "umount old root");
    if (chdir("/") < 0)
        fail(c, "chdir '/'");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
        fail(c, "remount '/' read-only");
}

/* ------------------------------------------------------------ credentials */

CHILD_FN static void drop_privileges(const struct sb_child *c)
{
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the last capability */
            fail(c, "drop capability %d from the bounding set", cap);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fail(c, "clear ambient capabilities");
    /* Raw syscalls: glibc's wrappers would try to sync "threads" of the spawner. */
    if (syscall(SYS_setgroups, 0, NULL) < 0)
        fail(c, "setgroups");
    if (syscall(SYS_setresgid, c->uid, c->uid, c->uid) < 0)
        fail(c, "setresgid %u", (unsigned)c->uid);
    if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
        fail(c, "setresuid %u", (unsigned)c->uid);
    /* The uid change emptied permitted and effective; inheritable too now. */
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0)
        fail(c, "capset");
}

CHILD_FN static void set_rlimit(const struct sb_child *c, int res, rlim_t v, const char *name)
{
    struct rlimit rl = {v, v};
    if (setrlimit(res, &rl) < 0)
        fail(c, "setrlimit %s", name);
}

/* ------------------------------------------------------------ main */

/*
 * SCHED_BATCH: the same CPU share as before (cgroups set it), but a wake-up
 * does not preempt whatever runs.  The daemon hands an instance its work and
 * takes the answer; when the INVOKE write wakes the instance, the daemon goes
 * on to finish its loop turn and block instead of being switched out, so the
 * RESULT write later wakes a sleeping daemon, which then runs at once and
 * answers while the instance finishes its own loop turn (every time only
 * since the daemon sits beside the instances' cgroups: cgroup.c, "The
 * gateway's cgroup"; at the root it was about half).  With SCHED_OTHER
 * the order was the reverse, and the caller waited for the rest of the
 * instance's turn: ~10 us more per request at one at a time on one core
 * (bench/README.md).  Children of the function inherit it.
 */
CHILD_FN static void set_batch(const struct sb_child *c)
{
    struct sched_param sp = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
        fail(c, "sched_setscheduler SCHED_BATCH");
}

CHILD_FN static void wire_fds(const struct sb_child *c)
{
    if (dup2(c->null_fd, 0) < 0 || dup2(c->out_fd, 1) < 0 || dup2(c->err_fd, 2) < 0 ||
        dup2(c->to_fd, 3) < 0 || dup2(c->from_fd, 4) < 0)
        fail(c, "dup2");
    /* Anything the spawner holds without CLOEXEC does not reach the runtime. */
    syscall(SYS_close_range, 5U, ~0U, CLOSE_RANGE_CLOEXEC);
}

CHILD_FN int sb_child_main(void *arg)
{
    const struct sb_child *c = arg;
    reset_signals();

    if (!sb_g.enabled) {
        /* NUBIS_SANDBOX=off: a plain process in its own session, for development. */
        if (setsid() < 0)
            fail(c, "setsid");
        set_batch(c);
        wire_fds(c);
        if (c->cwd[0] && chdir(c->cwd) < 0)
            fail(c, "chdir '%s'", c->cwd);
        execve(c->argv[0], c->argv, c->envp);
        fail(c, "execve '%s'", c->argv[0]);
    }

    /* Out of the daemon's session: a terminal's ^C or a group kill is the daemon's. */
    if (setsid() < 0)
        fail(c, "setsid");
    for (int i = 0; i < SB_CG_N; i++) {
        if (c->cg_fd[i] >= 0 && write(c->cg_fd[i], "0", 1) != 1)
            fail(c, "join cgroup");
    }
    if (unshare(CLONE_NEWCGROUP) < 0)
        fail(c, "unshare cgroup namespace");
    if (sethostname("localhost", 9) < 0)
        fail(c, "sethostname");
    if (c->net_fd >= 0 && setns(c->net_fd, CLONE_NEWNET) < 0)
        fail(c, "setns network namespace");
    umask(0); /* modes below are meant exactly */
    setup_root(c);
    umask(022);

    if (setpriority(PRIO_PROCESS, 0, 0) < 0) /* back from the spawner's SB_SETUP_NICE */
        fail(c, "setpriority");
    set_batch(c);
    set_rlimit(c, RLIMIT_NOFILE, SB_NOFILE, "NOFILE");
    set_rlimit(c, RLIMIT_CORE, 0, "CORE");
    drop_privileges(c);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(c, "PR_SET_PDEATHSIG");
    if (chdir(c->cwd) < 0)
        fail(c, "chdir '%s'", c->cwd);
    wire_fds(c);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(c, "PR_SET_NO_NEW_PRIVS");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sb_g.seccomp, 0, 0) < 0)
        fail(c, "load seccomp filter");
    execve(c->argv[0], c->argv, c->envp);
    fail(c, "execve '%s'", c->argv[0]);
}
