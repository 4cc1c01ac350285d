/*
 * test_sandbox.c: the sandbox as a caller sees it: fds wired as the runtime
 * protocol expects, exit status through the pidfd, named setup and exec
 * errors, and what the process inside can and cannot see or do (uid, root
 * file system, /proc, network, limits), a kill that takes every process of
 * the instance, OOM reported from the cgroup, and cgroups removed at reap.
 * Needs root, like the daemon.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", NULL};
static char code_dir[64];

/* Reads fd (nonblocking) until EOF, waiting at most ~10 s in total. */
static void read_all(int fd, struct nb_buf *out)
{
    for (int i = 0; i < 1000; i++) {
        char b[4096];
        ssize_t n = read(fd, b, sizeof(b));
        if (n > 0) {
            assert_int_equal(nb_buf_append(out, b, (size_t)n), 0);
            continue;
        }
        if (n == 0)
            return;
        assert_true(errno == EAGAIN || errno == EINTR);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 10);
    }
    fail_msg("no EOF on fd %d", fd);
}

static int spawn_spec(const char *script, struct nb_sandbox_spec *spec,
                      struct nb_sandbox_proc *proc, struct nb_err *err)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    spec->argv = argv;
    if (!spec->envp)
        spec->envp = test_env;
    if (!spec->code_dir)
        spec->code_dir = code_dir;
    if (!spec->id)
        spec->id = "t1";
    if (!spec->memory_mb)
        spec->memory_mb = 128;
    return nb_sandbox_spawn(spec, proc, err);
}

static int spawn_sh(const char *script, struct nb_sandbox_proc *proc, struct nb_err *err)
{
    struct nb_sandbox_spec spec = {0};
    return spawn_spec(script, &spec, proc, err);
}

/* Runs script to completion; returns its stdout (caller releases) and status. */
static int run_sh(const char *script, struct nb_sandbox_spec *spec, struct nb_buf *out)
{
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    int r = spawn_spec(script, spec, &proc, &err);
    if (r < 0)
        fail_msg("spawn: %s", err.msg);
    nb_buf_init(out, 1 << 20);
    read_all(proc.stdout_fd, out);
    int status = -1;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    nb_buf_append(out, "", 1);
    out->len--;
    return status;
}

static void cg_dir(int ctrl, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", sb_g.cg.base[ctrl], id);
}

/* Whether a cgroup whose name starts with prefix exists in any hierarchy. */
static int has_cgroup(const char *prefix)
{
    for (int i = 0; i < SB_CG_N; i++) {
        if (!sb_g.cg.base[i][0])
            continue;
        DIR *d = opendir(sb_g.cg.base[i]);
        assert_non_null(d);
        struct dirent *e;
        int found = 0;
        while ((e = readdir(d)))
            found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
        closedir(d);
        if (found)
            return 1;
    }
    return 0;
}

static void test_spawn_io_and_exit(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    /* The protocol pipes: the daemon's frames come in on fd 3, the runtime's go out on fd 4. */
    int r = spawn_sh("echo hi; echo err >&2; read -r x <&3; printf \"ping $x\" >&4; pwd; exit 3",
                     &proc, &err);
    assert_int_equal(r, 0);
    assert_int_equal(write(proc.ctl_wfd, "pong\n", 5), 5);
    assert_true(proc.pid > 0);
    assert_true(proc.pidfd >= 0);
    assert_string_equal(proc.code_dir, "/code");
    assert_string_equal(proc.shim_dir, "/opt/nubis");

    struct nb_buf out, errb, ctl;
    nb_buf_init(&out, 1 << 16);
    nb_buf_init(&errb, 1 << 16);
    nb_buf_init(&ctl, 1 << 16);
    read_all(proc.stdout_fd, &out);
    read_all(proc.stderr_fd, &errb);
    read_all(proc.ctl_rfd, &ctl);
    assert_string_equal(out.data, "hi\n/code\n");
    assert_string_equal(errb.data, "err\n");
    assert_string_equal(ctl.data, "ping pong");

    struct pollfd p = {.fd = proc.pidfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    int status = -1;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_int_equal(proc.pidfd, -1);
    assert_int_equal(proc.ctl_wfd, -1);
    assert_int_equal(proc.ctl_rfd, -1);
    nb_buf_release(&out);
    nb_buf_release(&errb);
    nb_buf_release(&ctl);
}

static void test_stdin_is_devnull_and_env(void **state)
{
    (void)state;
    struct nb_buf out;
    struct nb_sandbox_spec spec = {0};
    int st = run_sh("cat; echo \"$HOME\"; cat /code/hello.txt", &spec, &out);
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out.data, "/tmp\nhello from the code\n");
    nb_buf_release(&out);
}

/*
 * Who and where the process is: its function's uid, no capabilities, its own
 * pids, nice 0 and SCHED_BATCH (policy 3).
 */
static void test_identity(void **state)
{
    (void)state;
    struct nb_buf out;
    struct nb_sandbox_spec spec = {.uid = nb_sandbox_uid_for("svc/fn")};
    int st = run_sh("id -u; id -g; id -G; grep -E '^Cap(Prm|Eff|Bnd|Amb|Inh)' /proc/self/status "
                    "| tr -s '\\t' ' '; grep NoNewPrivs /proc/self/status | tr -s '\\t' ' ';"
                    "grep Seccomp: /proc/self/status | tr -s '\\t' ' '; hostname; echo $$; cut "
                    "-d\" \" -f19,41 /proc/$$/stat;"
                    "ls /proc | grep -c '^[0-9]'",
                    &spec, &out);
    assert_int_equal(WEXITSTATUS(st), 0);
    char want[512];
    unsigned uid = nb_sandbox_uid_for("svc/fn");
    assert_true(uid >= 200000 && uid < 300000);
    assert_true(uid != nb_sandbox_uid_for("svc/other"));
    snprintf(want, sizeof(want),
             "%u\n%u\n%u\nCapInh: 0000000000000000\nCapPrm: 0000000000000000\n"
             "CapEff: 0000000000000000\nCapBnd: 0000000000000000\nCapAmb: 0000000000000000\n"
             "NoNewPrivs: 1\nSeccomp: 2\nlocalhost\n1\n0 3\n",
             uid, uid, uid);
    /* The last line is the number of pids in /proc: sh, ls, grep (and maybe id's). */
    char *last = strrchr(out.data, '\n');
    assert_non_null(last);
    *last = '\0';
    last = strrchr(out.data, '\n');
    assert_non_null(last);
    int npids = atoi(last + 1);
    last[1] = '\0';
    assert_string_equal(out.data, want);
    assert_true(npids >= 1 && npids <= 4);
    nb_buf_release(&out);
}

/* The root file system: read-only everywhere but /tmp, nothing of the host's beyond /usr. */
static void test_filesystem(void **state)
{
    (void)state;
    struct nb_buf out;
    struct nb_sandbox_spec spec = {.tmp_mb = 4};
    int st = run_sh("ls /; ls /dev | tr '\\n' ' '; echo;"
                    "for f in /usr/x /code/x /x /etc/x /opt/nubis/x /dev/x; do"
                    "  (echo > $f) 2>/dev/null && echo \"wrote $f\"; done;"
                    "cat /etc/shadow 2>/dev/null && echo shadow;"
                    "echo ok > /tmp/f && cat /tmp/f;"
                    "head -c 8m /dev/zero > /tmp/big 2>/dev/null || echo ENOSPC;"
                    "grep -c . /etc/passwd; test -e /etc/resolv.conf || echo no-resolv;"
                    "echo x > /dev/null && head -c 5 /dev/urandom | wc -c;"
                    "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
                    &spec, &out);
    assert_int_equal(WEXITSTATUS(st), 0);
    const char *want_start = "bin\ncode\ndev\netc\n";
    assert_memory_equal(out.data, want_start, strlen(want_start));
    assert_non_null(strstr(out.data, "\nopt\nproc\n"));
    assert_non_null(strstr(out.data, "\ntmp\nusr\n"));
    assert_non_null(
        strstr(out.data, "fd full null random shm stderr stdin stdout urandom zero \n"));
    assert_null(strstr(out.data, "wrote"));
    assert_null(strstr(out.data, "shadow"));
    assert_non_null(strstr(out.data, "ok\nENOSPC\n3\nno-resolv\n5\nlo\n"));
    nb_buf_release(&out);

    /* internetAccess: the host's network (same interfaces) and its resolver. */
    struct nb_sandbox_spec spec2 = {.internet = 1};
    st = run_sh("cat /etc/resolv.conf | wc -c; cat /proc/net/dev | tail -n +3 | wc -l", &spec2,
                &out);
    assert_int_equal(WEXITSTATUS(st), 0);
    char want[64];
    FILE *f = fopen("/proc/net/dev", "r");
    int host_ifs = -2;
    char line[512];
    while (fgets(line, sizeof(line), f))
        host_ifs++;
    fclose(f);
    struct stat rs;
    snprintf(want, sizeof(want), "%lld\n%d\n",
             stat("/etc/resolv.conf", &rs) == 0 ? (long long)rs.st_size : 0LL, host_ifs);
    assert_string_equal(out.data, want);
    nb_buf_release(&out);
}

/* The seccomp filter: what it denies, and that threads (clone3 -> clone) still work. */
static void test_seccomp(void **state)
{
    (void)state;
    static const char *const py =
        "import ctypes, socket, threading\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def sc(nr, *a):\n"
        "    r = libc.syscall(nr, *a); return '%d/%d' % (r, ctypes.get_errno() if r < 0 else 0)\n"
        "def sock(*a):\n"
        "    try:\n"
        "        socket.socket(*a).close(); return 'ok'\n"
        "    except OSError as e:\n"
        "        return 'errno%d' % e.errno\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "print(sc(272, 0x10000000), sc(435, 0, 0), sc(250, 0, 0, 0, 0, 0), sc(321, 0, 0, 0),\n"
        "      sc(298, 0, 0, 0, 0, 0), sc(323, 0), sc(165, 0, 0, 0, 0, 0),\n"
        "      sock(socket.AF_PACKET, socket.SOCK_RAW), sock(socket.AF_INET, socket.SOCK_RAW, 1),\n"
        "      sock(socket.AF_NETLINK, socket.SOCK_RAW, 0), sock(socket.AF_NETLINK, "
        "socket.SOCK_RAW, 9),\n"
        "      sock(socket.AF_INET, socket.SOCK_STREAM), 'threads-ok')\n";
    const char *argv[] = {"/usr/bin/python3", "-S", "-c", py, NULL};
    struct nb_sandbox_spec spec = {
        .id = "tsec", .argv = argv, .envp = test_env, .code_dir = code_dir, .memory_mb = 128};
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    assert_int_equal(nb_sandbox_spawn(&spec, &proc, &err), 0);
    struct nb_buf out, errb;
    nb_buf_init(&out, 1 << 16);
    nb_buf_init(&errb, 1 << 16);
    read_all(proc.stdout_fd, &out);
    read_all(proc.stderr_fd, &errb);
    int st;
    assert_int_equal(nb_sandbox_reap(&proc, &st), 0);
    nb_buf_append(&out, "", 1);
    nb_buf_append(&errb, "", 1);
    if (WEXITSTATUS(st) != 0)
        fail_msg("python: %s", errb.data);
    /* unshare(USER), clone3, keyctl, bpf, perf_event_open, userfaultfd, mount: EPERM / ENOSYS. */
    assert_string_equal(out.data, "-1/1 -1/38 -1/1 -1/1 -1/1 -1/1 -1/1 errno1 errno1 ok errno1 ok "
                                  "threads-ok\n");
    nb_buf_release(&out);
    nb_buf_release(&errb);
}

static void test_exec_failure(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    const char *argv[] = {"/nonexistent/node", "x.js", NULL};
    struct nb_sandbox_spec spec = {
        .id = "t2", .argv = argv, .envp = test_env, .code_dir = code_dir};
    int r = nb_sandbox_spawn(&spec, &proc, &err);
    assert_int_equal(r, -ENOENT);
    assert_string_equal(err.msg, "execve '/nonexistent/node': ENOENT");
    assert_int_equal(proc.pid, -1);
    assert_int_equal(proc.ctl_wfd, -1);
    assert_int_equal(proc.ctl_rfd, -1);

    /* A failed setup step is named, with its errno. */
    const char *argv2[] = {"/bin/true", NULL};
    struct nb_sandbox_spec spec2 = {
        .id = "t3", .argv = argv2, .envp = test_env, .code_dir = "/nonexistent-code"};
    r = nb_sandbox_spawn(&spec2, &proc, &err);
    assert_int_equal(r, -ENOENT);
    assert_string_equal(err.msg, "sandbox setup: open code dir '/nonexistent-code': ENOENT");
    assert_false(has_cgroup("t3.")); /* its cgroups went with it */

    /* Relative argv[0] is refused before anything starts. */
    const char *argv3[] = {"node", NULL};
    struct nb_sandbox_spec spec3 = {.id = "t4", .argv = argv3, .code_dir = code_dir};
    assert_int_equal(nb_sandbox_spawn(&spec3, &proc, &err), -EINVAL);
}

/* A kill takes every process of the instance; the cgroups go at reap. */
static void test_kill_all(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    struct nb_sandbox_spec spec = {.id = "tkill"};
    assert_int_equal(
        spawn_spec("sleep 100 & sleep 100 & echo started; exec sleep 100", &spec, &proc, &err), 0);
    char line[64] = {0};
    for (int i = 0; i < 500 && !strchr(line, '\n'); i++) {
        if (read(proc.stdout_fd, line, sizeof(line) - 1) <= 0)
            usleep(10000);
    }
    char dir[1024], procs[1100], cgname[128];
    snprintf(cgname, sizeof(cgname), "%s", ((struct sb_priv *)proc.priv)->id);
    assert_memory_equal(cgname, "tkill.", 6);
    cg_dir(SB_CG_PIDS, cgname, dir, sizeof(dir));
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    FILE *f = fopen(procs, "r");
    assert_non_null(f);
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1)
        n++;
    fclose(f);
    assert_int_equal(n, 3);

    assert_int_equal(nb_sandbox_kill(&proc), 0);
    int status = 0;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(proc.oom_kills, 0);
    /* Removed by a helper thread, soon after the reap. */
    for (int i = 0; i < SB_CG_N; i++) {
        if (!sb_g.cg.base[i][0])
            continue;
        cg_dir(i, cgname, dir, sizeof(dir));
        for (int k = 0; k < 200 && access(dir, F_OK) == 0; k++)
            usleep(10000);
        assert_int_equal(access(dir, F_OK), -1);
    }
}

/* Past its memory limit the instance is OOM-killed, and the reap says so. */
static void test_oom(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    struct nb_sandbox_spec spec = {.id = "toom", .memory_mb = 32, .tmp_mb = 256};
    /* tmpfs pages are charged to the writer's cgroup. */
    assert_int_equal(
        spawn_spec("head -c 100m /dev/zero > /tmp/fill; echo survived", &spec, &proc, &err), 0);
    struct nb_buf out;
    nb_buf_init(&out, 1 << 16);
    read_all(proc.stdout_fd, &out);
    int status = 0;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_true(proc.oom_kills > 0);
    assert_true(proc.memory_peak >= 24u << 20);
    assert_true(proc.memory_peak <= 33u << 20);
    nb_buf_release(&out);
}

/* pids.max holds a fork bomb. */
static void test_pids_limit(void **state)
{
    (void)state;
    struct nb_buf out;
    struct nb_sandbox_spec spec = {.pids_max = 10};
    int st = run_sh("ok=0; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do"
                    "  (sleep 2 &) 2>/dev/null && ok=$((ok+1)); done; echo $ok",
                    &spec, &out);
    assert_int_equal(WEXITSTATUS(st), 0);
    int ok = atoi(out.data);
    assert_true(ok < 10);
    nb_buf_release(&out);
}

/* pid's cgroup in the hierarchy with the cpu controller ("" if none). */
static void cpu_cgroup_of(pid_t pid, char *out, size_t len)
{
    char p[64], line[1024];
    snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        int v2 = sb_g.cg.version == 2 && strcmp(c1 + 1, "") == 0;
        int cpu = 0;
        for (char *save = NULL, *t = strtok_r(c1 + 1, ",", &save); t;
             t = strtok_r(NULL, ",", &save))
            cpu |= strcmp(t, "cpu") == 0;
        if (v2 || (sb_g.cg.version == 1 && cpu))
            snprintf(out, len, "%s", c2 + 1);
    }
    fclose(f);
}

/* The daemon sits in `gateway`, beside its instances' cgroups, with the weight of ten 1 GB ones. */
static void test_gateway_beside_instances(void **state)
{
    (void)state;
    char self[1024], want[128], inst[1024];
    cpu_cgroup_of(getpid(), self, sizeof(self));
    snprintf(want, sizeof(want), "/nubis/d%d/gateway", (int)getpid());
    assert_true(strlen(self) >= strlen(want));
    assert_string_equal(self + strlen(self) - strlen(want), want);

    char p[1024], v[32] = "";
    int ctrl = sb_g.cg.version == 2 ? 0 : SB_CG_CPU;
    snprintf(p, sizeof(p), "%s/gateway/%s", sb_g.cg.base[ctrl],
             sb_g.cg.version == 2 ? "cpu.weight" : "cpu.shares");
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    assert_non_null(fgets(v, sizeof(v), f));
    fclose(f);
    assert_int_equal(atoi(v), sb_g.cg.version == 2 ? 1000 : 10240);

    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    assert_int_equal(spawn_sh("read -r x <&3", &proc, &err), 0);
    cpu_cgroup_of(proc.pid, inst, sizeof(inst));
    char *slash = strrchr(inst, '/');
    assert_non_null(slash);
    *slash = '\0';
    self[strlen(self) - strlen("/gateway")] = '\0';
    assert_string_equal(inst, self);
    close(proc.ctl_wfd);
    proc.ctl_wfd = -1;
    int status = -1;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_true(WIFEXITED(status));
}

static void test_release(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    assert_int_equal(spawn_sh("exec sleep 100", &proc, &err), 0);
    pid_t pid = proc.pid;
    nb_sandbox_release(&proc);
    assert_int_equal(proc.pidfd, -1);
    assert_int_equal(proc.stdout_fd, -1);
    /* Reaped: the pid is gone (not a zombie we still own). */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

int main(void)
{
    struct nb_err err = {0};
    if (nb_sandbox_global_init(&err) < 0) {
        fprintf(stderr, "sandbox: %s\n", err.msg);
        return 1;
    }
    snprintf(code_dir, sizeof(code_dir), "/tmp/nb-sbx-test-XXXXXX");
    if (!mkdtemp(code_dir))
        return 1;
    chmod(code_dir, 0755);
    char p[128];
    snprintf(p, sizeof(p), "%s/hello.txt", code_dir);
    FILE *f = fopen(p, "w");
    fputs("hello from the code\n", f);
    fclose(f);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_io_and_exit),
        cmocka_unit_test(test_stdin_is_devnull_and_env),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_filesystem),
        cmocka_unit_test(test_seccomp),
        cmocka_unit_test(test_exec_failure),
        cmocka_unit_test(test_kill_all),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_pids_limit),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_gateway_beside_instances),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(p);
    rmdir(code_dir);
    nb_sandbox_global_shutdown();
    /* Back in the cgroup it started in, and nothing of ours is left in the hierarchies. */
    char self[1024];
    cpu_cgroup_of(getpid(), self, sizeof(self));
    if (strstr(self, "/nubis/")) {
        fprintf(stderr, "still in cgroup '%s'\n", self);
        r = 1;
    }
    for (int i = 0; i < SB_CG_N; i++) {
        if (sb_g.cg.base[i][0] && access(sb_g.cg.base[i], F_OK) == 0) {
            fprintf(stderr, "leaked cgroup '%s'\n", sb_g.cg.base[i]);
            r = 1;
        }
    }
    return r;
}
