/*
 * specialize.c: turns a pre-warmed generic instance into one function's
 * instance, in the spawner process (the daemon side is
 * nb_sandbox_specialize in sandbox.c).
 *
 * A generic instance was spawned like any other but with an empty /code
 * directory on its read-only root (child.c), and its runtime shim waits for
 * INIT.  To give it a function's code:
 *
 *   1. open_tree(code dir, OPEN_TREE_CLONE | AT_RECURSIVE) here, in the
 *      host's mount namespace: a detached copy of the bind mount;
 *   2. mount_setattr on it: read-only, nosuid, nodev (before it is attached
 *      anywhere the function could see it writable);
 *   3. a helper cloned with CLONE_VM | CLONE_VFORK (no page-table copy; we
 *      wait until it exits) setns()es into the instance's mount namespace
 *      (/proc/<pid>/ns/mnt; the daemon holds the pidfd and has not reaped
 *      the process, so the pid cannot have been reused) and move_mount()s
 *      the tree onto /code.  The spawner itself must stay in the host's
 *      namespace, hence the helper;
 *   4. the instance's cgroup gets the function's memory limit (memsw
 *      lifted first, since v1 requires memsw >= memory at every step).
 *
 * The process inside keeps its uid, its cwd (the shim chdirs to codeDir at
 * INIT: a cwd taken before the mount would still be the empty directory
 * underneath) and everything it had loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define UNPOISON_STACK(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define UNPOISON_STACK(p, n) ((void)(p), (void)(n))
#endif

#define HELPER_FN __attribute__((no_sanitize("address")))
#define HELPER_STACK (64u * 1024)

/* Shared with the helper (CLONE_VM): its inputs and its verdict. */
struct helper {
    int ns_fd, tree_fd;
    int err;          /* errno of the failed step, 0 on success */
    const char *step; /* which step failed */
};

HELPER_FN static int helper_main(void *arg)
{
    struct helper *h = arg;
    if (syscall(SYS_setns, h->ns_fd, CLONE_NEWNS) < 0) {
        h->err = errno;
        h->step = "setns into the instance's mount namespace";
        _exit(1);
    }
    if (syscall(SYS_move_mount, h->tree_fd, "", AT_FDCWD, SB_CODE_DIR, MOVE_MOUNT_F_EMPTY_PATH) <
        0) {
        h->err = errno;
        h->step = "move_mount '" SB_CODE_DIR "'";
        _exit(1);
    }
    _exit(0);
}

static int fail(struct sb_rep *rep, int e, const char *what, const char *subject)
{
    snprintf(rep->msg, sizeof(rep->msg), "specialize: %s '%s': %s", what, subject,
             nb_errno_name(-e));
    rep->code = -e;
    return -e;
}

static int mount_code(struct sb_rep *rep, pid_t pid, const char *code_dir)
{
    static char *stack;
    if (!stack) {
        stack = mmap(NULL, HELPER_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            stack = NULL;
            return fail(rep, errno, "mmap", "helper stack");
        }
    }
    char ns[64];
    snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", (int)pid);
    struct helper h = {.ns_fd = -1, .tree_fd = -1};
    int r = 0;
    h.tree_fd = (int)syscall(SYS_open_tree, AT_FDCWD, code_dir,
                             OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (h.tree_fd < 0) {
        r = fail(rep, errno, "open_tree", code_dir);
        goto out;
    }
    struct mount_attr attr = {
        .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        .propagation = MS_PRIVATE,
    };
    if (syscall(SYS_mount_setattr, h.tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                sizeof(attr)) < 0) {
        r = fail(rep, errno, "mount_setattr read-only", code_dir);
        goto out;
    }
    h.ns_fd = open(ns, O_RDONLY | O_CLOEXEC);
    if (h.ns_fd < 0) {
        r = fail(rep, errno, "open", ns);
        goto out;
    }
    UNPOISON_STACK(stack, HELPER_STACK);
    pid_t hp = clone(helper_main, stack + HELPER_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &h);
    if (hp < 0) {
        r = fail(rep, errno, "clone", "helper");
        goto out;
    }
    int st;
    while (waitpid(hp, &st, 0) < 0 && errno == EINTR)
        ;
    if (h.err)
        r = fail(rep, h.err, h.step, code_dir);
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        r = fail(rep, EIO, "helper died", code_dir);
out:
    if (h.ns_fd >= 0)
        close(h.ns_fd);
    if (h.tree_fd >= 0)
        close(h.tree_fd);
    return r;
}

/* The function's limits on the instance's cgroup (v1: memsw lifted first). */
static int set_limits(struct sb_rep *rep, const char *cgname, int memory_mb)
{
    if (sb_g.cg.version == 0)
        return 0;
    if (sb_g.cg.version == 1 && sb_g.cg.memsw) {
        char p[800];
        snprintf(p, sizeof(p), "%s/%s/memory.memsw.limit_in_bytes", sb_g.cg.base[SB_CG_MEMORY],
                 cgname);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "-1", 2) != 2) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return fail(rep, e, "lift memsw limit", cgname);
        }
        close(fd);
    }
    struct nb_err err = {0};
    int r = sb_cg_limits(&sb_g.cg, cgname, memory_mb, 0, &err);
    if (r < 0) {
        snprintf(rep->msg, sizeof(rep->msg), "specialize: %.380s", err.msg);
        rep->code = r;
    }
    return r;
}

void sb_specialize_serve(int sock, char *msg, size_t len)
{
    struct sb_rep rep;
    memset(&rep, 0, sizeof(rep));
    const struct sb_spec_hdr *h = (const struct sb_spec_hdr *)msg;
    if (len < sizeof(*h) || h->strings_len != len - sizeof(*h) || h->pid <= 0 ||
        msg[len - 1] != '\0') {
        snprintf(rep.msg, sizeof(rep.msg), "spawner: malformed specialize request");
        rep.code = -EINVAL;
        sb_spawner_reply(sock, &rep, NULL, 0);
        return;
    }
    const char *cgname = msg + sizeof(*h);
    const char *end = memchr(cgname, '\0', len - sizeof(*h));
    const char *code_dir = end ? end + 1 : NULL;
    if (!code_dir || code_dir >= msg + len || code_dir[0] != '/') {
        snprintf(rep.msg, sizeof(rep.msg), "spawner: malformed specialize request");
        rep.code = -EINVAL;
    } else if (mount_code(&rep, h->pid, code_dir) == 0) {
        set_limits(&rep, cgname, h->memory_mb);
    }
    sb_spawner_reply(sock, &rep, NULL, 0);
}
