/*
 * bench_sandbox.c: what the sandbox costs, each measurement next to its
 * baseline in the same run, iterations interleaved so that both see the
 * same machine state.
 *
 *   true   start /bin/true in a sandbox (nb_sandbox_spawn, wait for the
 *          exit, nb_sandbox_reap: namespaces, root fs, cgroups, seccomp)
 *          against a plain vfork+execve+waitpid of /bin/true;
 *   cold   a fresh cold start through the real instance layer
 *          (nb_instance_start: sandbox + node + the shim + require the
 *          handler, until INIT_OK) against a bare `node load_handler.js`
 *          that requires the same handler module (until it says so).
 *
 * The instance's memorySize (MEM_MB, default 1024) also sets its CPU weight
 * (cpu.shares = MB): at 1024 it weighs what the bare node process weighs, so
 * on a busy machine the two compete for CPU alike; at 128 it would get an
 * eighth of that under contention, by design (docs/security.md).
 *
 * Usage: bench_sandbox RUNTIMES_DIR CODE_DIR LOADER_JS [N_TRUE] [N_COLD] [MEM_MB]
 * (bench/sandbox/run.sh builds and runs it).  Needs root, like the daemon.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "runtime/instance.h"
#include "sandbox/sandbox.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(const char *what, double *v, int n, double *median)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    *median = v[n / 2];
    printf("| %-38s | %8.2f | %8.2f | %8.2f | %8.2f |\n", what, v[0], v[n / 2], v[n * 9 / 10],
           v[n - 1]);
}

static const char *const env[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", NULL};

static double plain_true(void)
{
    char *const argv[] = {"/bin/true", NULL};
    double t0 = now_ms();
    pid_t p = vfork();
    if (p == 0) {
        execve(argv[0], argv, (char *const *)env);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return now_ms() - t0;
}

static double sandbox_true(const char *code_dir, const char *rt_dir, int i)
{
    const char *argv[] = {"/bin/true", NULL};
    char id[32];
    snprintf(id, sizeof(id), "bench-%d", i);
    struct nb_sandbox_spec spec = {.id = id,
                                   .argv = argv,
                                   .envp = env,
                                   .code_dir = code_dir,
                                   .shim_dir = rt_dir,
                                   .memory_mb = 128};
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    double t0 = now_ms();
    if (nb_sandbox_spawn(&spec, &proc, &err) < 0) {
        fprintf(stderr, "spawn: %s\n", err.msg);
        exit(1);
    }
    struct pollfd pf = {.fd = proc.pidfd, .events = POLLIN};
    poll(&pf, 1, 5000);
    int st;
    nb_sandbox_reap(&proc, &st);
    double t = now_ms() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "sandboxed /bin/true: status 0x%x\n", st);
        exit(1);
    }
    return t;
}

/* ---- cold start through the instance layer */

struct cold {
    uv_loop_t loop;
    struct nb_instance *inst;
    double t0, ready_ms;
    int ok, exited;
};

static void on_ready(struct nb_instance *inst, int ok, const char *b, size_t n, const char *e,
                     void *u)
{
    (void)b;
    (void)n;
    struct cold *c = u;
    c->ready_ms = now_ms() - c->t0;
    c->ok = ok;
    if (!ok)
        fprintf(stderr, "init failed: %s\n", e ? e : "?");
    nb_instance_kill(inst, "bench done");
}

static void on_exit_cb(struct nb_instance *inst, const char *reason, void *u)
{
    (void)inst;
    (void)reason;
    ((struct cold *)u)->exited = 1;
}

static int mem_mb = 1024;

static double sandbox_cold(const char *code_dir, const char *rt_dir, int i)
{
    static const struct nb_instance_callbacks cbs = {.on_ready = on_ready, .on_exit = on_exit_cb};
    struct cold c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    char id[32];
    snprintf(id, sizeof(id), "cold-%d", i);
    char meta[512];
    snprintf(meta, sizeof(meta),
             "{\"function\":{\"name\":\"bench\",\"handler\":\"index.handler\","
             "\"initializationTimeout\":10,\"memorySize\":%d,\"timeout\":60,"
             "\"runtime\":\"nodejs20\"},\"service\":{\"name\":\"bench\"}}",
             mem_mb);
    struct nb_instance_spec spec = {.id = id,
                                    .runtime = "nodejs20",
                                    .runtimes_dir = rt_dir,
                                    .code_dir = code_dir,
                                    .init_meta = meta,
                                    .memory_mb = 128,
                                    .init_timeout_ms = 10000};
    struct nb_err err = {0};
    c.t0 = now_ms();
    if (nb_instance_start(&c.loop, &spec, &cbs, &c, &c.inst, &err) < 0) {
        fprintf(stderr, "instance: %s\n", err.msg);
        exit(1);
    }
    while (!c.exited)
        uv_run(&c.loop, UV_RUN_ONCE);
    uv_loop_close(&c.loop);
    if (!c.ok)
        exit(1);
    return c.ready_ms;
}

/* Bare node: start, require the handler, write one byte to stdout; time to that byte. */
static double bare_cold(const char *code_dir, const char *loader)
{
    int p[2];
    if (pipe(p) < 0)
        exit(1);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        if (chdir(code_dir) < 0)
            _exit(127);
        char heap[64]; /* the flag the instance layer gives node: 80% of memorySize */
        snprintf(heap, sizeof(heap), "--max-old-space-size=%d", mem_mb * 8 / 10);
        char *const argv[] = {"/usr/bin/node", heap, (char *)loader, "index.handler", NULL};
        execve(argv[0], argv, (char *const *)env);
        _exit(127);
    }
    close(p[1]);
    char b;
    ssize_t n = read(p[0], &b, 1);
    double t = now_ms() - t0;
    close(p[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (n != 1) {
        fprintf(stderr, "bare node did not load the handler\n");
        exit(1);
    }
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s RUNTIMES_DIR CODE_DIR LOADER_JS [N_TRUE] [N_COLD] [MEM_MB]\n",
                argv[0]);
        return 2;
    }
    const char *rt = argv[1], *code = argv[2], *loader = argv[3];
    int n_true = argc > 4 ? atoi(argv[4]) : 200;
    int n_cold = argc > 5 ? atoi(argv[5]) : 20;
    if (argc > 6)
        mem_mb = atoi(argv[6]);
    nb_log_set_level(NB_LOG_WARN);
    struct nb_err err = {0};
    if (nb_sandbox_global_init(&err) < 0) {
        fprintf(stderr, "sandbox: %s\n", err.msg);
        return 1;
    }

    double *a = calloc((size_t)n_true, sizeof(double)), *b = calloc((size_t)n_true, sizeof(double));
    for (int i = 0; i < 5; i++) { /* warm-up, discarded */
        plain_true();
        sandbox_true(code, rt, -1 - i);
    }
    for (int i = 0; i < n_true; i++) {
        a[i] = plain_true();
        b[i] = sandbox_true(code, rt, i);
    }
    printf("| %-38s | %8s | %8s | %8s | %8s |\n", "ms", "min", "median", "p90", "max");
    printf("|%s|----------|----------|----------|----------|\n",
           "----------------------------------------");
    double ma, mb;
    stats("vfork+exec /bin/true (baseline)", a, n_true, &ma);
    stats("sandboxed /bin/true", b, n_true, &mb);

    double *c = calloc((size_t)n_cold, sizeof(double)), *d = calloc((size_t)n_cold, sizeof(double));
    bare_cold(code, loader); /* warm the page cache */
    sandbox_cold(code, rt, -1);
    for (int i = 0; i < n_cold; i++) {
        c[i] = bare_cold(code, loader);
        d[i] = sandbox_cold(code, rt, i);
    }
    double mc, md;
    stats("bare node, handler loaded", c, n_cold, &mc);
    char label[64];
    snprintf(label, sizeof(label), "sandbox+node+shim, INIT_OK (%d MB)", mem_mb);
    stats(label, d, n_cold, &md);
    printf("\nsandbox-only cost: %+.2f ms (median, %d runs); fresh cold start: %.3fx bare node "
           "(median, %d runs)\n",
           mb - ma, n_true, md / mc, n_cold);
    free(a);
    free(b);
    free(c);
    free(d);
    nb_sandbox_global_shutdown();
    return 0;
}
