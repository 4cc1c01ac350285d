/*
 * internal.h: what the files of sandbox/ share and nothing outside uses.
 *
 *   sandbox.c  the daemon side: global init, the spawn round trip, kill, reap
 *   spawner.c  the spawner process: request loop, cgroup creation, clone
 *   child.c    the cloned child: namespaces, root file system, credentials,
 *              seccomp, exec (runs on the spawner's memory, CLONE_VM|VFORK)
 *   specialize.c  in the spawner: mounts a function's code into a running
 *              generic (pre-warmed) instance and sets its limits
 *   cgroup.c   cgroup v1 / v2 detection, create, limits, kill, stats, remove
 *   seccomp.c  the syscall filter, compiled once to BPF at start
 *
 * Everything in `struct sb_global` is filled once in nb_sandbox_global_init,
 * before the spawner is forked, so the spawner and the daemon see the same
 * configuration without talking about it.
 */
#ifndef NB_SANDBOX_INTERNAL_H
#define NB_SANDBOX_INTERNAL_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define SB_MOD "sandbox"

/* Inside paths of the sandbox (docs/internals/sandbox.md). */
#define SB_CODE_DIR "/code"
#define SB_SHIM_DIR "/opt/nubis"

#define SB_DEFAULT_PIDS 128
#define SB_DEFAULT_TMP_MB 512
#define SB_NOFILE 1024
#define SB_SETUP_NICE (-10) /* the spawner's and the child's until exec (spawner.c) */
#define SB_UID_BASE 200000u
#define SB_UID_RANGE 100000u

/* Child fds are moved at or above this so that dup2 onto 0..3 never clobbers one. */
#define SB_CHILD_FD_MIN 10

/* ---- cgroups */

enum sb_cg_ctrl { SB_CG_MEMORY, SB_CG_CPU, SB_CG_PIDS, SB_CG_KILL, SB_CG_N };

struct sb_cgroups {
    int version; /* 0 none, 1 (v1 controllers, maybe v2 for kill), 2 (pure v2) */
    /* Per controller: the directory holding this daemon's instance cgroups, or "". */
    char base[SB_CG_N][512];
    int memsw;   /* v1: memory.memsw.limit_in_bytes exists */
    int v2_kill; /* cgroup.kill available in base[SB_CG_KILL] */
    /* The daemon's cgroup before it joined base/gateway (cpu hierarchy), or "". */
    char home[512];
    int home_ctrl; /* index of that hierarchy in base[] */
};

/* ---- process-wide configuration, set before the spawner forks */

struct sb_global {
    int enabled;    /* 0: NUBIS_SANDBOX=off, a plain spawner (development only) */
    int spawner_fd; /* daemon end of the request socket; -1 in the spawner */
    pid_t spawner_pid;
    pid_t daemon_pid;
    struct sb_cgroups cg;
    struct sock_fprog seccomp; /* built once; loaded per instance */
    /* Root symlinks of a merged-usr host ("bin" -> "usr/bin"), else dirs to bind. */
    char root_links[8][2][64];
    int nroot_links;
    char root_binds[8][32];
    int nroot_binds;
    char localtime[256]; /* target of /etc/localtime if under /usr, else "" */
};

extern struct sb_global sb_g;

/* Per-instance state the daemon keeps (proc->priv). */
struct sb_priv {
    char id[128]; /* the instance's cgroup name: "<instance id>.<spawn number>" */
    int peak_fd;  /* memory.max_usage_in_bytes / memory.peak, or -1 */
};

/* ---- the spawn request, as it crosses the socket */

#define SB_REQ_MAX (64u * 1024)
#define SB_REQ_MAGIC 0x6e627331u

struct sb_req_hdr {
    uint32_t magic;
    uint32_t internet;
    uint32_t uid;
    int32_t memory_mb;
    int32_t pids_max;
    int32_t tmp_mb;
    uint32_t argc, envc;
    uint32_t strings_len; /* cgroup name, code_dir, shim_dir, cwd, argv..., envp..., NUL-ended */
};

/* A specialize request (specialize.c): header + "cgroup name\0code dir\0". */
#define SB_SPEC_MAGIC 0x6e627332u

struct sb_spec_hdr {
    uint32_t magic;
    int32_t pid; /* the instance's pid 1, as the spawner sees it */
    int32_t memory_mb;
    uint32_t strings_len;
};

#define SB_REP_FDS 5

struct sb_rep {
    int32_t code; /* 0 or -errno */
    int32_t pid;  /* > 0 whenever a child was created (even if its setup failed) */
    int32_t nfds; /* fds attached: SB_REP_FDS (pidfd, ctl w, ctl r, stdout, stderr) or pidfd */
    char msg[400];
};

/* What the child needs; everything lives in the spawner's memory (CLONE_VM). */
struct sb_child {
    const struct sb_req_hdr *req;
    const char *id, *code_dir, *shim_dir, *cwd;
    char *const *argv;
    char *const *envp;
    /* All >= SB_CHILD_FD_MIN; to_fd and from_fd (the protocol pipes) become its fds 3 and 4. */
    int to_fd, from_fd, out_fd, err_fd, null_fd, report_fd;
    int cg_fd[SB_CG_N]; /* cgroup files to write "0" to (join), or -1 */
    int net_fd;         /* a fresh network namespace (lo up) to join, or -1: the host's */
    uid_t uid;
};

/* The child's report of a failed step, read by the spawner. */
struct sb_report {
    int err; /* errno */
    char step[200];
};

/* child.c: the function clone() runs; never returns on success (execs). */
int sb_child_main(void *arg);

/* specialize.c: serves one SB_SPEC_MAGIC request in the spawner (answers on sock). */
void sb_specialize_serve(int sock, char *msg, size_t len);
/* spawner.c: sends rep (and nfds fds) on sock. */
void sb_spawner_reply(int sock, const struct sb_rep *rep, const int *fds, int nfds);

/* spawner.c: the loop of the spawner process; never returns. */
void sb_spawner_run(int fd) __attribute__((noreturn));

/* cgroup.c */
int sb_cg_detect(struct sb_cgroups *cg, pid_t daemon_pid, struct nb_err *err);
/*
 * An instance's cgroups in two steps: the directories, with fds open on the
 * files the child writes "0" to (v1 tasks, v2 cgroup.procs) in fds (-1 where
 * unused); then its limits.  Both fill err and return -errno on failure
 * (prepare removes what it made).
 */
int sb_cg_prepare(const struct sb_cgroups *cg, const char *id, int fds[SB_CG_N],
                  struct nb_err *err);
int sb_cg_limits(const struct sb_cgroups *cg, const char *id, int memory_mb, int pids_max,
                 struct nb_err *err);
/* Renames a prepared, empty instance cgroup (v1 only: v2 refuses, -ENOTSUP). */
int sb_cg_rename(const struct sb_cgroups *cg, const char *from, const char *to, struct nb_err *err);
/* Kills every process of the instance through its cgroups.  0 or -errno. */
int sb_cg_kill(const struct sb_cgroups *cg, const char *id);
/* Out-of-memory kills so far and the peak memory use in bytes. */
void sb_cg_stats(const struct sb_cgroups *cg, const char *id, int *oom_kills, uint64_t *peak);
/* Removes the instance's cgroups (killing stragglers); 0, or -EBUSY if one stays. */
int sb_cg_remove(const struct sb_cgroups *cg, const char *id);
/*
 * Moves the calling daemon (single-threaded: before any thread or the
 * spawner) into base/gateway beside its instances in the cpu hierarchy;
 * sb_cg_cleanup_daemon moves it back.  0, or -errno with err filled (the
 * daemon runs on where it was).
 */
int sb_cg_join_gateway(struct sb_cgroups *cg, struct nb_err *err);
/* Removes this daemon's cgroup directories (at exit) and those of dead daemons (at start). */
void sb_cg_cleanup_daemon(struct sb_cgroups *cg);
void sb_cg_cleanup_stale(const struct sb_cgroups *cg);

/* seccomp.c: fills prog with the filter (allocated; kept for the process's life). */
int sb_seccomp_build(struct sock_fprog *prog, struct nb_err *err);

#endif
