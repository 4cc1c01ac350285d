/*
 * test_sandbox.c: the plain spawner: fds wired as the runtime protocol
 * expects, exit status through the pidfd, clear exec errors, and a kill that
 * takes the whole process group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "sandbox/sandbox.h"

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", NULL};

/* Reads fd (nonblocking) until EOF, waiting at most ~5 s in total. */
static void read_all(int fd, struct nb_buf *out)
{
    for (int i = 0; i < 500; i++) {
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

static int spawn_sh(const char *script, struct nb_sandbox_proc *proc, struct nb_err *err)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct nb_sandbox_spec spec = {
        .id = "t1", .argv = argv, .envp = test_env, .code_dir = "/tmp", .memory_mb = 128};
    return nb_sandbox_spawn(&spec, proc, err);
}

static void test_spawn_io_and_exit(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    int r = spawn_sh("echo hi; echo err >&2; printf ping >&3; pwd; exit 3", &proc, &err);
    assert_int_equal(r, 0);
    assert_true(proc.pid > 0);
    assert_true(proc.pidfd >= 0);
    assert_string_equal(proc.code_dir, "/tmp");

    struct nb_buf out, errb, ctl;
    nb_buf_init(&out, 1 << 16);
    nb_buf_init(&errb, 1 << 16);
    nb_buf_init(&ctl, 1 << 16);
    read_all(proc.stdout_fd, &out);
    read_all(proc.stderr_fd, &errb);
    read_all(proc.ctl_fd, &ctl);
    assert_string_equal(out.data, "hi\n/tmp\n");
    assert_string_equal(errb.data, "err\n");
    assert_string_equal(ctl.data, "ping");

    struct pollfd p = {.fd = proc.pidfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    int status = -1;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_int_equal(proc.pidfd, -1);
    assert_int_equal(proc.ctl_fd, -1);
    nb_buf_release(&out);
    nb_buf_release(&errb);
    nb_buf_release(&ctl);
}

static void test_stdin_is_devnull_and_env(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    assert_int_equal(spawn_sh("cat; echo \"$HOME\"", &proc, &err), 0);
    struct nb_buf out;
    nb_buf_init(&out, 1 << 16);
    read_all(proc.stdout_fd, &out);
    assert_string_equal(out.data, "/tmp\n");
    int status;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    nb_buf_release(&out);
}

static void test_exec_failure(void **state)
{
    (void)state;
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    const char *argv[] = {"/nonexistent/node", "x.js", NULL};
    struct nb_sandbox_spec spec = {.id = "t2", .argv = argv, .envp = test_env, .code_dir = "/tmp"};
    int r = nb_sandbox_spawn(&spec, &proc, &err);
    assert_int_equal(r, -ENOENT);
    assert_string_equal(err.msg, "execve '/nonexistent/node': ENOENT");
    assert_int_equal(proc.pid, -1);
    assert_int_equal(proc.ctl_fd, -1);

    /* A bad working directory names the step too. */
    const char *argv2[] = {"/bin/true", NULL};
    struct nb_sandbox_spec spec2 = {
        .id = "t3", .argv = argv2, .envp = test_env, .code_dir = "/nonexistent-code"};
    r = nb_sandbox_spawn(&spec2, &proc, &err);
    assert_int_equal(r, -ENOENT);
    assert_string_equal(err.msg, "chdir '/nonexistent-code': ENOENT");

    /* Relative argv[0] is refused before anything starts. */
    const char *argv3[] = {"node", NULL};
    struct nb_sandbox_spec spec3 = {.id = "t4", .argv = argv3, .code_dir = "/tmp"};
    assert_int_equal(nb_sandbox_spawn(&spec3, &proc, &err), -EINVAL);
}

static void test_kill_group(void **state)
{
    (void)state;
    /* Orphans come to us, so we can see the grandchild die and reap it. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    struct nb_sandbox_proc proc;
    struct nb_err err = {0};
    assert_int_equal(spawn_sh("sleep 100 & echo $!; exec sleep 100", &proc, &err), 0);

    /* Read the grandchild's pid from the first line. */
    char line[64] = {0};
    size_t have = 0;
    for (int i = 0; i < 500 && !memchr(line, '\n', have); i++) {
        ssize_t n = read(proc.stdout_fd, line + have, sizeof(line) - 1 - have);
        if (n > 0)
            have += (size_t)n;
        else
            usleep(10000);
    }
    pid_t gpid = (pid_t)atoi(line);
    assert_true(gpid > 0);
    assert_int_equal(kill(gpid, 0), 0);

    assert_int_equal(nb_sandbox_kill(&proc), 0);
    int status = 0;
    assert_int_equal(nb_sandbox_reap(&proc, &status), 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    int gst = 0;
    assert_int_equal(waitpid(gpid, &gst, 0), gpid);
    assert_true(WIFSIGNALED(gst));
    assert_int_equal(WTERMSIG(gst), SIGKILL);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
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
    struct nb_err err;
    nb_sandbox_global_init(&err);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_io_and_exit), cmocka_unit_test(test_stdin_is_devnull_and_env),
        cmocka_unit_test(test_exec_failure),      cmocka_unit_test(test_kill_group),
        cmocka_unit_test(test_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
