/*
 * sandbox.h: the only interface that creates instance processes.
 *
 * A sandboxed process gets: the runtime protocol as two pipes, fd 3 to read
 * the daemon's frames and fd 4 to write its own, its stdout and stderr as
 * pipes read by the daemon, stdin from /dev/null.  The daemon
 * learns of its exit through a pidfd (poll it for readability, then call
 * nb_sandbox_reap).  Every instance runs in its own pid, mount, ipc, uts,
 * cgroup and (unless `internet`) net namespaces, on a read-only root with
 * the code at /code and the runtimes at /opt/nubis, under its function's
 * uid with no capabilities, no_new_privs and a seccomp filter, inside
 * cgroups limiting memory, CPU share and pids.  See docs/security.md and
 * docs/internals/sandbox.md.  NUBIS_SANDBOX=off (development only) turns all
 * of that off and runs plain processes.
 */
#ifndef NB_SANDBOX_SANDBOX_H
#define NB_SANDBOX_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct nb_sandbox_spec {
    const char *id;          /* unique instance id, for names (cgroup, logs) */
    const char *const *argv; /* argv[0] is an absolute path */
    const char *const *envp; /* full environment of the process */
    const char *code_dir;    /* host path of the unpacked code (read-only) */
    const char *shim_dir;    /* host path of the runtimes/ tree */
    const char *cwd;         /* working directory as seen inside; NULL: code dir */
    int memory_mb;           /* memory limit */
    int pids_max;            /* 0: default (128) */
    int internet;            /* 1: keep the host network */
    unsigned uid;            /* uid (and gid) inside; 0: nb_sandbox_uid_for(id) */
    int tmp_mb;              /* size of /tmp; 0: default (512) */
    /*
     * 1: a pre-warmed generic instance: code_dir may be NULL and /code is an
     * empty mount point until nb_sandbox_specialize mounts a function's code
     * there; cwd defaults to "/".
     */
    int generic;
};

struct nb_sandbox_proc {
    pid_t pid;
    int pidfd;     /* readable when the process has exited */
    int ctl_wfd;   /* the daemon's ends of the protocol pipes (nonblocking, CLOEXEC): */
    int ctl_rfd;   /* it writes frames to the runtime's fd 3, reads its fd 4's */
    int stdout_fd; /* read ends (nonblocking, CLOEXEC) */
    int stderr_fd;
    /* Paths as the process sees them; may differ from the host's. */
    char code_dir[256];
    char shim_dir[256];
    void *priv; /* implementation state (cgroup paths, ...) */
    /* Filled by nb_sandbox_reap: OOM kills seen in the instance's cgroup, peak memory. */
    int oom_kills;
    uint64_t memory_peak;
    int memory_limit_mb; /* the limit it ran with (for messages) */
};

/*
 * One-time setup at daemon start, before any thread exists: checks the host
 * can sandbox (root, cgroups), compiles the seccomp filter and forks the
 * spawner process.  0 or -errno with err saying what is missing.  Calling it
 * again is a no-op.
 */
int nb_sandbox_global_init(struct nb_err *err);
/*
 * At exit: stops the spawner and removes this daemon's cgroup directories
 * (killing anything still in them).  Instances should be reaped before.
 */
void nb_sandbox_global_shutdown(void);
/* The uid an instance of the function named key ("service/function") runs as. */
unsigned nb_sandbox_uid_for(const char *key);
/* Peak memory use of a live instance so far, in bytes (0 if unknown). */
uint64_t nb_sandbox_memory_peak(const struct nb_sandbox_proc *proc);

/*
 * Starts a process per spec.  On success fills proc (caller owns the fds and
 * must end with nb_sandbox_reap or nb_sandbox_release); on failure fills err
 * naming the step that failed and returns -errno.
 */
int nb_sandbox_spawn(const struct nb_sandbox_spec *spec, struct nb_sandbox_proc *proc,
                     struct nb_err *err);
/*
 * Where spec's code_dir and shim_dir appear inside the sandbox, so that a
 * caller can build argv and the INIT meta before spawning (the same values
 * nb_sandbox_spawn later puts in proc->code_dir / proc->shim_dir).  The
 * plain spawner returns the host paths.  Truncates to the sizes given.
 */
void nb_sandbox_inner_paths(const struct nb_sandbox_spec *spec, char *code_dir, size_t code_len,
                            char *shim_dir, size_t shim_len);
/*
 * Specializes a live generic instance (spec.generic) for one function:
 * mounts the host directory code_dir read-only at /code inside it (the
 * spawner clones the tree with open_tree and a short-lived helper moves it
 * into the instance's mount namespace) and sets its cgroup's memory limit
 * to memory_mb.  With NUBIS_SANDBOX=off only the limit bookkeeping changes
 * (the process reads the host path).  0 or -errno with err filled; on
 * failure the instance should be killed.
 */
int nb_sandbox_specialize(struct nb_sandbox_proc *proc, const char *code_dir, int memory_mb,
                          struct nb_err *err);
/* Kills the whole instance (every process in it) with SIGKILL.  0 or -errno. */
int nb_sandbox_kill(struct nb_sandbox_proc *proc);
/*
 * Collects the exit status once pidfd is readable (or blocks if not).
 * *status is as from waitpid.  Releases everything the instance held
 * (closes the fds still open in proc, removes cgroups).  A caller that
 * handed an fd to someone else (e.g. uv_pipe_open) sets it to -1 in proc
 * first so that it is not closed twice.  0 or -errno.
 */
int nb_sandbox_reap(struct nb_sandbox_proc *proc, int *status);
/*
 * Error-path teardown: kills the instance, waits for it (briefly: it was
 * SIGKILLed) and releases everything like nb_sandbox_reap, ignoring the
 * status.  Safe on a proc whose spawn failed (pid <= 0: only closes fds).
 */
void nb_sandbox_release(struct nb_sandbox_proc *proc);

#endif
