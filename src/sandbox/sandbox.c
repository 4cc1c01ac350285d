/*
 * sandbox.c: the plain process spawner behind sandbox.h.
 *
 * This version isolates nothing: it vforks and execs the runtime with the
 * protocol socket on fd 3, stdout/stderr on pipes, stdin on /dev/null, in a
 * new session (so that nb_sandbox_kill can kill the whole process group).
 * The sandbox issue replaces the inside of nb_sandbox_spawn with namespaces,
 * a read-only root, cgroups and seccomp; the interface stays.
 *
 * Why vfork: the daemon is big and multithreaded.  fork() would copy its page
 * tables (milliseconds, machine.md) and leave the child with other threads'
 * locks held; vfork shares the address space and suspends only the calling
 * thread until execve.  So everything the child needs (argv, envp, fds) is
 * prepared before, and the child makes only async-signal-safe syscalls.  A
 * failed step is reported to the parent as {step, errno} over a CLOEXEC pipe
 * (libuv's spawn, crun), which reads EOF when execve succeeded.
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Child fds are moved above this so that dup2 onto 0..3 never clobbers one. */
#define CHILD_FD_MIN 10

enum child_step { STEP_SETSID = 1, STEP_DUP2, STEP_CHDIR, STEP_EXECVE };

struct child_args {
    const char *const *argv;
    const char *const *envp;
    const char *cwd;
    int sock_fd, out_fd, err_fd, null_fd, errpipe; /* all >= CHILD_FD_MIN */
};

struct child_report {
    int step;
    int err;
};

static void __attribute__((noreturn)) child_fail(int errpipe, int step)
{
    struct child_report r = {step, errno};
    ssize_t n;
    do {
        n = write(errpipe, &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

/*
 * Runs in the vforked child, on the parent's memory: no allocation, no
 * stdio, no locks; only syscalls.  Signal dispositions are the child's own
 * copy (vfork does not share them), so resetting them is safe; the mask was
 * blocked by the parent so that no daemon handler can run here.
 */
static void __attribute__((noreturn)) child_exec(const struct child_args *a)
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

    if (setsid() < 0)
        child_fail(a->errpipe, STEP_SETSID);
    if (dup2(a->null_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 || dup2(a->err_fd, 2) < 0 ||
        dup2(a->sock_fd, 3) < 0)
        child_fail(a->errpipe, STEP_DUP2);
    /* Anything the daemon leaked without CLOEXEC does not reach the runtime. */
    syscall(SYS_close_range, 4U, ~0U, CLOSE_RANGE_CLOEXEC);
    if (a->cwd && chdir(a->cwd) < 0)
        child_fail(a->errpipe, STEP_CHDIR);
    execve(a->argv[0], (char *const *)a->argv, (char *const *)a->envp);
    child_fail(a->errpipe, STEP_EXECVE);
}

/* Kept apart so that no local of the caller lives across vfork's return twice. */
static pid_t __attribute__((noinline)) spawn_child(const struct child_args *a)
{
    pid_t pid = vfork();
    if (pid == 0)
        child_exec(a);
    return pid;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Moves fd above CHILD_FD_MIN (CLOEXEC); closes the original.  -errno on failure. */
static int move_high(int *fd)
{
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, CHILD_FD_MIN);
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

int nb_sandbox_global_init(struct nb_err *err)
{
    (void)err;
    /*
     * The daemon writes to sockets and pipes whose peer (an instance) may die
     * at any moment: that must be an EPIPE, never a SIGPIPE killing it.
     */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void proc_reset(struct nb_sandbox_proc *proc)
{
    memset(proc, 0, sizeof(*proc));
    proc->pid = -1;
    proc->pidfd = proc->ctl_fd = proc->stdout_fd = proc->stderr_fd = -1;
}

int nb_sandbox_spawn(const struct nb_sandbox_spec *spec, struct nb_sandbox_proc *proc,
                     struct nb_err *err)
{
    int sv[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
    int null_fd = -1;
    int r = 0;

    proc_reset(proc);
    if (!spec->argv || !spec->argv[0] || spec->argv[0][0] != '/')
        return nb_err_set(err, -EINVAL, "spawn: argv[0] must be an absolute path");
    const char *cwd = spec->cwd ? spec->cwd : spec->code_dir;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        r = nb_err_sys(err, -errno, "socketpair");
        goto out;
    }
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
        r = nb_err_sys(err, -errno, "pipe2");
        goto out;
    }
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        r = nb_err_sys(err, -errno, "open '/dev/null'");
        goto out;
    }
    if ((r = move_high(&sv[1])) < 0 || (r = move_high(&outp[1])) < 0 ||
        (r = move_high(&errp[1])) < 0 || (r = move_high(&rep[1])) < 0 ||
        (r = move_high(&null_fd)) < 0) {
        nb_err_sys(err, r, "fcntl F_DUPFD_CLOEXEC");
        goto out;
    }

    struct child_args a = {
        .argv = spec->argv,
        .envp = spec->envp,
        .cwd = cwd,
        .sock_fd = sv[1],
        .out_fd = outp[1],
        .err_fd = errp[1],
        .null_fd = null_fd,
        .errpipe = rep[1],
    };
    static const char *const empty_env[] = {NULL};
    if (!a.envp)
        a.envp = empty_env;

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = spawn_child(&a);
    int vfork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        r = nb_err_sys(err, -vfork_errno, "vfork");
        goto out;
    }

    /* The child has exec'd or exited: its ends are ours to close. */
    close_fd(&sv[1]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    close_fd(&rep[1]);
    close_fd(&null_fd);

    struct child_report rp;
    ssize_t n;
    do {
        n = read(rep[0], &rp, sizeof(rp));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(rp)) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        switch (rp.step) {
        case STEP_SETSID:
            r = nb_err_sys(err, -rp.err, "setsid");
            break;
        case STEP_DUP2:
            r = nb_err_sys(err, -rp.err, "dup2");
            break;
        case STEP_CHDIR:
            r = nb_err_sys(err, -rp.err, "chdir '%s'", cwd);
            break;
        default:
            r = nb_err_sys(err, -rp.err, "execve '%s'", spec->argv[0]);
            break;
        }
        goto out;
    }

    proc->pid = pid;
    proc->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (proc->pidfd < 0) {
        r = nb_err_sys(err, -errno, "pidfd_open");
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        proc->pid = -1;
        goto out;
    }
    proc->ctl_fd = nb_steal_fd(&sv[0]);
    proc->stdout_fd = nb_steal_fd(&outp[0]);
    proc->stderr_fd = nb_steal_fd(&errp[0]);
    if ((r = set_nonblock(proc->ctl_fd)) < 0 || (r = set_nonblock(proc->stdout_fd)) < 0 ||
        (r = set_nonblock(proc->stderr_fd)) < 0) {
        nb_err_sys(err, r, "fcntl O_NONBLOCK");
        nb_sandbox_release(proc);
        goto out;
    }
    nb_sandbox_inner_paths(spec, proc->code_dir, sizeof(proc->code_dir), proc->shim_dir,
                           sizeof(proc->shim_dir));
    r = 0;

out:
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    close_fd(&null_fd);
    if (r < 0 && proc->pid <= 0)
        proc_reset(proc);
    return r;
}

void nb_sandbox_inner_paths(const struct nb_sandbox_spec *spec, char *code_dir, size_t code_len,
                            char *shim_dir, size_t shim_len)
{
    if (code_dir && code_len)
        snprintf(code_dir, code_len, "%s", spec->code_dir ? spec->code_dir : "");
    if (shim_dir && shim_len)
        snprintf(shim_dir, shim_len, "%s", spec->shim_dir ? spec->shim_dir : "");
}

int nb_sandbox_kill(struct nb_sandbox_proc *proc)
{
    if (proc->pid <= 0)
        return -ESRCH;
    /* setsid made the runtime a group leader: this reaches its children too. */
    if (kill(-proc->pid, SIGKILL) == 0)
        return 0;
    int e = errno;
    if (proc->pidfd >= 0 && syscall(SYS_pidfd_send_signal, proc->pidfd, SIGKILL, NULL, 0) == 0)
        return 0;
    return -e;
}

static void close_all(struct nb_sandbox_proc *proc)
{
    close_fd(&proc->pidfd);
    close_fd(&proc->ctl_fd);
    close_fd(&proc->stdout_fd);
    close_fd(&proc->stderr_fd);
}

int nb_sandbox_reap(struct nb_sandbox_proc *proc, int *status)
{
    int r = 0;
    if (proc->pid <= 0) {
        close_all(proc);
        return -ECHILD;
    }
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    int w;
    do {
        if (proc->pidfd >= 0)
            w = waitid((idtype_t)P_PIDFD, (id_t)proc->pidfd, &si, WEXITED);
        else
            w = waitid(P_PID, (id_t)proc->pid, &si, WEXITED);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        r = -errno;
    } else if (status) {
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
    close_all(proc);
}
