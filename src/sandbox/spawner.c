/*
 * spawner.c: the spawner process, forked by nb_sandbox_global_init before
 * the daemon has any thread, so that clone and mount never run inside the
 * multithreaded daemon.
 *
 * It is single-threaded and serves one request at a time from its end of a
 * SOCK_SEQPACKET socketpair (one message per request, one per answer):
 *
 *   request  struct sb_req_hdr + NUL-separated strings (sandbox.c packs them)
 *   answer   struct sb_rep + SCM_RIGHTS {pidfd, ctl w, ctl r, stdout, stderr}
 *            (just {pidfd} when the child was created but its setup failed,
 *            nothing when no child was created)
 *
 * Per request it creates the instance's cgroups with their limits, the
 * protocol pipes (one each way; see PROTO_PIPE_SIZE) and the output pipes,
 * and clones the child with
 * CLONE_VM | CLONE_VFORK (no page-table copy; it resumes when the child has
 * exec'd or failed), CLONE_PIDFD, the namespaces, and CLONE_PARENT: the
 * instance is the daemon's child, not ours, so the daemon waits for it with
 * its pidfd like any child and we never hold zombies.
 *
 * It dies with the daemon (PR_SET_PDEATHSIG), exits when the daemon closes
 * the socket, and keeps no fd of the daemon's but its socket and stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/alloc.h"
#include "sandbox/internal.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/*
 * A child never returns (it execs or _exits), so ASan never unpoisons its
 * frames' redzones on the shared stack: clear them before the next child.
 */
#define UNPOISON_STACK(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define UNPOISON_STACK(p, n) ((void)(p), (void)(n))
#endif

#define CHILD_STACK (256u * 1024)

/*
 * The runtime protocol runs over two pipes rather than a socketpair: a
 * message and its wake-up cost less through a pipe (a round trip of 250
 * bytes between two processes on one CPU: ~10 us against ~15 us here, see
 * bench/README.md).  256 KB each, about what a Unix socket buffers, so a
 * large body moves in a few writes; pages are only taken while data waits.
 */
#define PROTO_PIPE_SIZE (256 * 1024)

/*
 * A prepared cgroup set (directories made, tasks files open, no limits) for
 * the next instance, renamed to its name when it comes: mkdir in three
 * hierarchies costs ~0.3 ms, a rename a fraction of that.  v1 only (v2
 * cannot rename cgroups).
 */
static struct {
    int ready;
    char name[64];
    int fds[SB_CG_N];
} spare_cg;

static void make_spare_cg(void)
{
    static unsigned n;
    struct nb_err err = {0};
    if (spare_cg.ready || sb_g.cg.version != 1)
        return;
    snprintf(spare_cg.name, sizeof(spare_cg.name), "spare.%u", ++n);
    if (sb_cg_prepare(&sb_g.cg, spare_cg.name, spare_cg.fds, &err) == 0)
        spare_cg.ready = 1;
}

/* Hands the spare set over under the instance's name; -ENOENT if there is none. */
static int take_spare_cg(const char *id, int fds[SB_CG_N])
{
    struct nb_err err = {0};
    if (!spare_cg.ready)
        return -ENOENT;
    spare_cg.ready = 0;
    if (sb_cg_rename(&sb_g.cg, spare_cg.name, id, &err) < 0) {
        for (int i = 0; i < SB_CG_N; i++) {
            if (spare_cg.fds[i] >= 0)
                close(spare_cg.fds[i]);
        }
        sb_cg_remove(&sb_g.cg, spare_cg.name);
        return -ENOENT;
    }
    memcpy(fds, spare_cg.fds, sizeof(spare_cg.fds));
    return 0;
}

static char *child_stack_top;
static int null_fd = -1;
static int host_net = -1;  /* our own network namespace */
static int spare_net = -1; /* a fresh one, lo up, for the next instance */

/*
 * Makes the next instance's network namespace now, while nobody waits:
 * creating one (and bringing lo up) costs ~0.5 ms, and its teardown at the
 * instance's exit is cheaper for a namespace no process created by clone.
 * The spawner steps into the new namespace and back (it is single-threaded
 * and root, and keeps an fd to each).
 */
static int make_spare_net(void)
{
    if (spare_net >= 0)
        return 0;
    int r = 0;
    if (unshare(CLONE_NEWNET) < 0)
        return -errno;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        r = -errno;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (!r && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        r = -errno;
    if (s >= 0)
        close(s);
    if (!r && (spare_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        r = -errno;
    if (setns(host_net, CLONE_NEWNET) < 0)
        _exit(1); /* cannot happen for root; never serve from a wrong namespace */
    return r;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Moves fd at or above SB_CHILD_FD_MIN (CLOEXEC); closes the original. */
static int move_high(int *fd)
{
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, SB_CHILD_FD_MIN);
    if (n < 0)
        return -errno;
    close(*fd);
    *fd = n;
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

void sb_spawner_reply(int sock, const struct sb_rep *rep, const int *fds, int nfds)
{
    struct iovec iov = {(void *)rep, sizeof(*rep)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * SB_REP_FDS)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static int fail_rep(struct sb_rep *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_rep(struct sb_rep *rep, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(rep->msg) - 12)
        snprintf(rep->msg + n, sizeof(rep->msg) - (size_t)n, ": %s", nb_errno_name(-code));
    rep->code = code;
    return code;
}

/* Splits the strings after the header; pointers into msg. -EINVAL if malformed. */
static int parse(char *msg, size_t len, struct sb_child *c, char ***argv, char ***envp)
{
    const struct sb_req_hdr *h = (const struct sb_req_hdr *)msg;
    if (len < sizeof(*h) || h->magic != SB_REQ_MAGIC || h->strings_len != len - sizeof(*h) ||
        h->argc < 1 || h->argc > 4096 || h->envc > 65536)
        return -EINVAL;
    char *p = msg + sizeof(*h), *end = msg + len;
    size_t nstr = 4 + h->argc + h->envc;
    char **v = nb_xcalloc(nstr + 2, sizeof(char *));
    for (size_t i = 0; i < nstr; i++) {
        char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z) {
            free(v);
            return -EINVAL;
        }
        v[i] = p;
        p = z + 1;
    }
    c->req = h;
    c->id = v[0];
    c->code_dir = v[1];
    c->shim_dir = v[2];
    c->cwd = v[3];
    /* argv and envp, each NULL-terminated, reuse the same array. */
    char **a = nb_xcalloc(h->argc + 1, sizeof(char *));
    char **e = nb_xcalloc(h->envc + 1, sizeof(char *));
    memcpy(a, v + 4, h->argc * sizeof(char *));
    memcpy(e, v + 4 + h->argc, h->envc * sizeof(char *));
    free(v);
    *argv = a;
    *envp = e;
    return 0;
}

static void serve(int sock, char *msg, size_t len)
{
    struct sb_rep rep;
    memset(&rep, 0, sizeof(rep));
    struct sb_child c;
    memset(&c, 0, sizeof(c));
    char **argv = NULL, **envp = NULL;
    int to[2] = {-1, -1}, from[2] = {-1, -1}; /* the protocol: to and from the runtime */
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rp[2] = {-1, -1};
    int cg_fds[SB_CG_N], pidfd = -1, cg_made = 0, r;
    for (int i = 0; i < SB_CG_N; i++)
        cg_fds[i] = -1;
    struct nb_err err = {0};

    if (parse(msg, len, &c, &argv, &envp) < 0) {
        fail_rep(&rep, -EINVAL, "spawner: malformed request");
        goto out;
    }
    c.uid = c.req->uid;
    if (sb_g.enabled) {
        r = take_spare_cg(c.id, cg_fds);
        if (r < 0)
            r = sb_cg_prepare(&sb_g.cg, c.id, cg_fds, &err);
        if (r == 0) {
            cg_made = 1;
            r = sb_cg_limits(&sb_g.cg, c.id, c.req->memory_mb, c.req->pids_max, &err);
        }
        if (r < 0) {
            rep.code = r;
            memcpy(rep.msg, "sandbox setup: ", 15);
            memcpy(rep.msg + 15, err.msg, sizeof(rep.msg) - 16);
            rep.msg[sizeof(rep.msg) - 1] = '\0';
            goto out;
        }
        cg_made = 1;
    }
    if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0 || pipe2(rp, O_CLOEXEC) < 0) {
        fail_rep(&rep, -errno, "pipe2");
        goto out;
    }
    /* Best effort: a pipe keeps its default size when the kernel refuses. */
    (void)fcntl(to[1], F_SETPIPE_SZ, PROTO_PIPE_SIZE);
    (void)fcntl(from[1], F_SETPIPE_SZ, PROTO_PIPE_SIZE);
    if ((r = move_high(&to[0])) < 0 || (r = move_high(&from[1])) < 0 ||
        (r = move_high(&outp[1])) < 0 || (r = move_high(&errp[1])) < 0 ||
        (r = move_high(&rp[1])) < 0) {
        fail_rep(&rep, r, "fcntl F_DUPFD_CLOEXEC");
        goto out;
    }
    for (int i = 0; i < SB_CG_N; i++) {
        if (cg_fds[i] >= 0 && (r = move_high(&cg_fds[i])) < 0) {
            fail_rep(&rep, r, "fcntl F_DUPFD_CLOEXEC");
            goto out;
        }
    }
    c.to_fd = to[0];
    c.from_fd = from[1];
    c.out_fd = outp[1];
    c.err_fd = errp[1];
    c.null_fd = null_fd;
    c.report_fd = rp[1];
    memcpy(c.cg_fd, cg_fds, sizeof(c.cg_fd));
    c.argv = argv;
    c.envp = envp;
    c.net_fd = -1;
    if (sb_g.enabled && !c.req->internet) {
        if ((r = make_spare_net()) < 0) {
            fail_rep(&rep, r, "sandbox setup: new network namespace");
            goto out;
        }
        c.net_fd = spare_net;
    }

    int flags = CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD | SIGCHLD;
    if (sb_g.enabled) {
        flags |= CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
    }
    UNPOISON_STACK(child_stack_top - CHILD_STACK, CHILD_STACK);
    pid_t pid = clone(sb_child_main, child_stack_top, flags, &c, &pidfd, NULL, NULL);
    if (pid < 0) {
        fail_rep(&rep, -errno, "clone");
        goto out;
    }
    cg_made = 0; /* the daemon removes them when it reaps the child */
    rep.pid = pid;
    close_fd(&to[0]);
    close_fd(&from[1]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    close_fd(&rp[1]);

    struct sb_report cr;
    ssize_t n;
    do {
        n = read(rp[0], &cr, sizeof(cr));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(cr)) {
        cr.step[sizeof(cr.step) - 1] = '\0';
        if (strncmp(cr.step, "execve ", 7) == 0 || strncmp(cr.step, "chdir ", 6) == 0)
            fail_rep(&rep, -cr.err, "%s", cr.step);
        else
            fail_rep(&rep, -cr.err, "sandbox setup: %s", cr.step);
        rep.nfds = 1;
        sb_spawner_reply(sock, &rep, &pidfd, 1);
        goto out;
    }
    if ((r = set_nonblock(to[1])) < 0 || (r = set_nonblock(from[0])) < 0 ||
        (r = set_nonblock(outp[0])) < 0 || (r = set_nonblock(errp[0])) < 0) {
        kill(pid, SIGKILL);
        fail_rep(&rep, r, "fcntl O_NONBLOCK");
        rep.nfds = 1;
        sb_spawner_reply(sock, &rep, &pidfd, 1);
        goto out;
    }
    int fds[SB_REP_FDS] = {pidfd, to[1], from[0], outp[0], errp[0]};
    rep.nfds = SB_REP_FDS;
    sb_spawner_reply(sock, &rep, fds, SB_REP_FDS);

out:
    if (rep.code < 0 && rep.nfds == 0)
        sb_spawner_reply(sock, &rep, NULL, 0);
    /* The daemon has its answer: prepare the next network namespace. */
    if (c.net_fd >= 0 && rep.pid > 0)
        close_fd(&spare_net); /* the instance holds (or held) this one */
    if (sb_g.enabled) {
        make_spare_net();
        make_spare_cg();
    }
    if (cg_made)
        sb_cg_remove(&sb_g.cg, c.id);
    for (int i = 0; i < SB_CG_N; i++)
        close_fd(&cg_fds[i]);
    close_fd(&pidfd);
    for (int i = 0; i < 2; i++) {
        close_fd(&to[i]);
        close_fd(&from[i]);
    }
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&rp[0]);
    close_fd(&rp[1]);
    free(argv);
    free(envp);
}

void sb_spawner_run(int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != sb_g.daemon_pid)
        _exit(0); /* the daemon died before we could ask to follow it */
    prctl(PR_SET_NAME, "nubis-spawner", 0, 0, 0);
    /*
     * The daemon's loop waits for each answer: on a busy machine every
     * wake-up of ours (and of the child, which inherits this until it
     * resets it before exec) would otherwise queue behind other work.
     * The work done at this priority is short and bounded.
     */
    if (sb_g.enabled)
        setpriority(PRIO_PROCESS, 0, SB_SETUP_NICE);

    /* Keep stdin/stdout/stderr (logs) and the socket; nothing else of the daemon's. */
    if (fd != 3) {
        if (dup2(fd, 3) < 0)
            _exit(1);
        fd = 3;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    syscall(SYS_close_range, 4U, ~0U, 0U);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* a terminal's ^C is the daemon's to handle */

    host_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (host_net < 0)
        _exit(1);
    if (sb_g.enabled) {
        make_spare_net();
        make_spare_cg();
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0 || move_high(&null_fd) < 0)
        _exit(1);
    char *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        _exit(1);
    child_stack_top = stack + CHILD_STACK;

    char *msg = nb_xmalloc(SB_REQ_MAX);
    for (;;) {
        ssize_t n = recv(fd, msg, SB_REQ_MAX, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0); /* the daemon is gone or shut us down */
        uint32_t magic = 0;
        if ((size_t)n >= sizeof(magic))
            memcpy(&magic, msg, sizeof(magic));
        if (magic == SB_SPEC_MAGIC)
            sb_specialize_serve(fd, msg, (size_t)n);
        else
            serve(fd, msg, (size_t)n);
    }
}
