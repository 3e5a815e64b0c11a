/*
 * test_exec_fds.c - a sandbox command inherits no descriptor but its
 * stdin, stdout and stderr, at every isolation level the host gives, also
 * while another sandbox's command is running (the supervisor then holds
 * that command's descriptors).  Guards the supervisor's close-everything
 * step before it executes the launcher (close_range, with a loop for old
 * kernels).  Also that it ignores no signal: ignored dispositions survive
 * execve, and the supervisor ignores SIGTERM and SIGINT (and an emulator
 * started with `&` from a script has SIGINT and SIGQUIT ignored).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "cu_run.h"
#include "emu_harness.h"

static const char *const LEVELS[] = {"process", "namespaced", "cgroups"};

typedef struct {
    const emu_proc *e;
    char path[160];
    long status;
} bg_exec;

static void *bg_main(void *arg)
{
    bg_exec *b = arg;
    http_resp r = http_do(b->e, "POST", b->path, "k", NULL,
                          "{\"command\":\"sleep 1\"}", -1);
    b->status = r.status;
    http_resp_free(&r);
    return NULL;
}

static void create(const emu_proc *e, char *id, size_t n)
{
    http_resp r = http_do(e, "POST", "/api/sandbox", "k", NULL, "{}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    const char *s = resp_str(&r, "id");
    snprintf(id, n, "%s", s ? s : "missing");
    http_resp_free(&r);
}

/* The command's shell lists its own descriptors through a child (`ls`
 * opens its own directory handle, which is not the shell's). */
static void check_level(int level)
{
    emu_proc e;
    const char *args[] = {"--isolation", LEVELS[level], NULL};
    if (emu_start(&e, ":memory:", args) != 0) {
        /* Only the process level is promised everywhere. */
        CU_ASSERT(level != 0 && geteuid() != 0);
        fprintf(stderr, "\n    isolation %s not available here: skipped\n", LEVELS[level]);
        return;
    }
    char a[64], b[64], path[160];
    create(&e, a, sizeof a);
    create(&e, b, sizeof b);
    bg_exec bg = {.e = &e};
    snprintf(bg.path, sizeof bg.path, "/toolbox/%s/process/execute", a);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, bg_main, &bg), 0);
    usleep(200000);   /* the sleep is running */
    snprintf(path, sizeof path, "/toolbox/%s/process/execute", b);
    http_resp r = http_do(&e, "POST", path, "k", NULL,
                          "{\"command\":\"ls /proc/$$/fd\"}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "exitCode", -2), 0);
    const char *out = resp_str(&r, "result");
    CU_ASSERT_PTR_NOT_NULL(out);
    if (out && strcmp(out, "0\n1\n2\n") != 0)
        fprintf(stderr, "\n    %s: the command's descriptors: %s\n", LEVELS[level], out);
    CU_ASSERT(out && strcmp(out, "0\n1\n2\n") == 0);
    http_resp_free(&r);
    /* SigIgn of a program the command runs, in hex (not of the shell:
     * bash reading its commands from a pipe ignores SIGQUIT itself). */
    r = http_do(&e, "POST", path, "k", NULL,
                "{\"command\":\"grep SigIgn /proc/self/status\"}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    out = resp_str(&r, "result");
    CU_ASSERT_PTR_NOT_NULL(out);
    if (out && strcmp(out, "SigIgn:\t0000000000000000\n") != 0)
        fprintf(stderr, "\n    %s: the command ignores signals: %s\n", LEVELS[level], out);
    CU_ASSERT(out && strcmp(out, "SigIgn:\t0000000000000000\n") == 0);
    http_resp_free(&r);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(bg.status, 200);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_process(void) { check_level(0); }
static void test_namespaced(void) { check_level(1); }
static void test_cgroups(void) { check_level(2); }

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);   /* before the second thread */
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("exec_fds", NULL, NULL);
    if (s) {
        CU_add_test(s, "process level: only 0, 1, 2", test_process);
        CU_add_test(s, "namespaced level: only 0, 1, 2", test_namespaced);
        CU_add_test(s, "cgroups level: only 0, 1, 2", test_cgroups);
    }
    int rc = cu_run_and_cleanup();
    curl_global_cleanup();
    return rc;
}
