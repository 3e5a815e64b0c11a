/*
 * contract.c - the contract suite: one program, run against a fresh
 * daytona-emu (default) or a real Daytona, asserting only what real
 * Daytona guarantees (shared/reference/control-plane.md and toolbox.md,
 * trap lists), through libdaytona:
 *   lifecycle  create/get (id and name)/list by label/labels/stop (twice:
 *              400)/start (twice: idempotent)/delete, 404 after delete,
 *              404 for an unknown id, 401 for a wrong key, preview links;
 *   process    execute (output, exit codes, merged stderr, cwd, env, 408
 *              on timeout) and code-run (output, exit code, exception);
 *   files      upload/download/info/list/mkdir/move/delete and their
 *              errors (404, 400 list-a-file and delete-dir-without-
 *              recursive, 409 move onto an existing file);
 *   sessions   create (409 twice), sync exec (split output, exit code,
 *              state kept), async exec + command + logs, delete (404
 *              after; exec on a deleted session is 500).
 *
 * Environment:
 *   DAYTONA_CONTRACT_TARGET   "emulator" (default) or "cloud".  Cloud
 *                             needs DAYTONA_API_KEY (DAYTONA_API_URL
 *                             optional); without a key the run prints
 *                             SKIPPED and exits 77 (ctest SKIP_RETURN_CODE).
 *   DAYTONA_CONTRACT_RECORD   DIR: run through a recorder (daytona-emu
 *                             --upstream TARGET --record DIR), so the
 *                             exchanges land in DIR for tools/dt-compare.
 *   DAYTONA_CONTRACT_EMU_KEY  emulator target: the API key to use
 *                             (default: a random dtn_ key).
 *   DAYTONA_CONTRACT_SECRETS_FILE  emulator target: append the preview
 *                             tokens seen, one a line (for the test that
 *                             greps recordings for secrets).
 *   DAYTONA_CONTRACT_ABORT_AFTER_CREATE  set: abort() right after the
 *                             first sandbox exists (tests the janitor).
 *   EMU_BIN                   daytona-emu (default: the one built with
 *                             this program).
 *
 * Cleanup: every sandbox carries the label contract-run=<random run id>.
 * Tests delete what they make; main deletes whatever still carries the
 * label after the run; and a janitor process, forked first thing, deletes
 * by label once this process is gone, however it ended (failed assertion,
 * abort, signal, SIGKILL): it waits for EOF on a pipe only this process
 * holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "cu_run.h"
#include "daytona/daytona.h"
#include "emu_harness.h"

#ifndef CONTRACT_EMU_BIN
#define CONTRACT_EMU_BIN "daytona-emu"
#endif

#define RUN_LABEL "contract-run"
#define CASE_LABEL "contract-case"
#define WAIT_MS 180000L     /* lifecycle waits: the cloud can be slow */

static struct {
    int cloud;
    char run_id[17];            /* 16 hex digits */
    char key[200];
    char target_api[512];       /* the Daytona under test, ".../api" */
    char client_api[512];       /* what the client talks to (may be the
                                   recorder in front of target_api) */
    emu_proc emu, rec;
    dt_client *c;
    dt_sandbox *work;           /* shared by process/files/sessions */
    char *home;                 /* the work sandbox's home directory */
    char *work_dir;
    pid_t janitor;
    int janitor_fd;
} g = {.janitor_fd = -1};

/* ---------- helpers ---------- */

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(b + got, nbytes - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static dt_client *mk_client(const char *api, const char *key)
{
    dt_config cfg;
    dt_config_init(&cfg);
    cfg.api_url = api;
    cfg.api_key = key;
    /* Generous: a cloud create or a sync session command can take long. */
    cfg.request_timeout_ms = 120000;
    dt_client *c = NULL;
    dt_error e;
    if (dt_client_new(&cfg, &c, &e) != DT_OK)
        fprintf(stderr, "contract: client: %s\n", e.message);
    return c;
}

/* rc/err must be `code` with HTTP `status` (0 = don't care). */
#define CHECK_ERR(rc, e, code, status) \
    check_err((rc), &(e), (code), (status), __LINE__)
static void check_err(dt_code rc, const dt_error *e, dt_code code, long status,
                      unsigned line)
{
    if (rc != code || (status && e->status != status))
        fprintf(stderr, "\n  line %u: got %s (HTTP %ld: %s), want %s (HTTP %ld)\n",
                line, dt_strerror(rc), rc ? e->status : 0L,
                rc ? e->message : "", dt_strerror(code), status);
    CU_ASSERT_EQUAL(rc, code);
    if (status)
        CU_ASSERT_EQUAL(rc ? e->status : 0L, status);
}

#define CHECK_OK(rc, e) check_err((rc), &(e), DT_OK, 0, __LINE__)

/* Creates a sandbox labelled with the run id and `case_name`. */
static dt_sandbox *mk_sandbox(const char *case_name, const dt_kv *env, size_t n_env)
{
    dt_kv labels[] = {{RUN_LABEL, g.run_id}, {CASE_LABEL, case_name}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.labels = labels;
    p.n_labels = 2;
    p.env_vars = env;
    p.n_env_vars = n_env;
    p.timeout_ms = WAIT_MS;
    /* A forgotten sandbox stops by itself (minutes). */
    p.auto_stop_interval = 30;
    dt_sandbox *sb = NULL;
    dt_error e;
    dt_code rc = dt_create(g.c, &p, &sb, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  create: %s (HTTP %ld) %s\n", dt_strerror(rc),
                e.status, e.message);
    if (getenv("DAYTONA_CONTRACT_ABORT_AFTER_CREATE") && rc == DT_OK) {
        fprintf(stderr, "contract: aborting after create, as asked\n");
        abort();
    }
    return rc == DT_OK ? sb : NULL;
}

static void rm_sandbox(dt_sandbox **sb)
{
    if (!*sb)
        return;
    dt_error e;
    dt_code rc = dt_sandbox_delete(*sb, WAIT_MS, &e);
    if (rc != DT_OK && rc != DT_ENOTFOUND)
        fprintf(stderr, "\n  delete %s: %s\n", dt_sandbox_id(*sb), e.message);
    dt_sandbox_free(*sb);
    *sb = NULL;
}

/* Deletes every sandbox of this run through client c; returns how many
 * it found. */
static int delete_run(dt_client *c, const char *run_id)
{
    dt_kv l = {RUN_LABEL, run_id};
    dt_list_opts o = {.labels = &l, .n_labels = 1, .cursor = ""};
    dt_sandbox_list *list = NULL;
    dt_error e;
    if (dt_list(c, &o, &list, &e) != DT_OK)
        return -1;
    int n = (int)dt_sandbox_list_count(list);
    for (size_t i = 0; i < dt_sandbox_list_count(list); i++) {
        dt_sandbox *sb = dt_sandbox_list_take(list, i);
        rm_sandbox(&sb);
    }
    dt_sandbox_list_free(list);
    return n;
}

/* The preview tokens are secrets the recordings must not hold: the test
 * that greps recordings reads them from here. */
static void note_secret(const char *value)
{
    const char *path = getenv("DAYTONA_CONTRACT_SECRETS_FILE");
    if (g.cloud || !path || !*path || !value || !*value)
        return;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", value);
        fclose(f);
    }
}

/* ---------- the janitor ---------- */

/* Forked before anything else: it holds no curl handle, no thread.  It
 * blocks on a pipe whose only writer is this process, so EOF means we are
 * gone (or done), whatever the way; then it deletes the run's sandboxes
 * straight at the target (not through a recorder, which dies with us). */
static void start_janitor(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        close(p[1]);
        /* Ctrl-C reaches the whole process group: the janitor must live
         * on to clean up after the others. */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        if (dt_global_init() != DT_OK)
            _exit(1);
        dt_client *cl = mk_client(g.target_api, g.key);
        int n = cl ? delete_run(cl, g.run_id) : -1;
        if (n > 0)
            fprintf(stderr, "contract janitor: deleted %d sandbox(es) left by "
                    "run %s\n", n, g.run_id);
        dt_client_free(cl);
        dt_global_cleanup();
        _exit(0);
    }
    close(p[0]);
    g.janitor = pid;
    g.janitor_fd = p[1];
}

/* Normal exit: let the janitor make its (normally empty) pass, wait. */
static void stop_janitor(void)
{
    if (g.janitor <= 0)
        return;
    close(g.janitor_fd);
    g.janitor_fd = -1;
    while (waitpid(g.janitor, NULL, 0) < 0 && errno == EINTR)
        ;
    g.janitor = 0;
}

/* ---------- lifecycle ---------- */

static dt_sandbox *g_life;

static void test_create_get(void)
{
    dt_kv env = {"CONTRACT_ENV", "contract-value"};
    g_life = mk_sandbox("lifecycle", &env, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_life);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(g_life), "started");
    CU_ASSERT(dt_sandbox_id(g_life)[0] != '\0');
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(g_life, RUN_LABEL), g.run_id);

    dt_sandbox *by_id = NULL, *by_name = NULL;
    dt_error e;
    CHECK_OK(dt_get(g.c, dt_sandbox_id(g_life), &by_id, &e), e);
    if (by_id) {
        CU_ASSERT_STRING_EQUAL(dt_sandbox_id(by_id), dt_sandbox_id(g_life));
        CU_ASSERT_STRING_EQUAL(dt_sandbox_label(by_id, CASE_LABEL), "lifecycle");
        const char *v = dt_sandbox_env(by_id, "CONTRACT_ENV");
        CU_ASSERT(v && strcmp(v, "contract-value") == 0);
    }
    CHECK_OK(dt_get(g.c, dt_sandbox_name(g_life), &by_name, &e), e);
    if (by_name)
        CU_ASSERT_STRING_EQUAL(dt_sandbox_id(by_name), dt_sandbox_id(g_life));
    dt_sandbox_free(by_id);
    dt_sandbox_free(by_name);
}

/* Lists this run's sandboxes of one case; returns the count, -1 on error;
 * *first_id gets the first item's id (malloc'd) when wanted. */
static int list_case(const char *case_name, char **first_id)
{
    dt_kv l[] = {{RUN_LABEL, g.run_id}, {CASE_LABEL, case_name}};
    dt_list_opts o = {.labels = l, .n_labels = 2, .cursor = ""};
    dt_sandbox_list *list = NULL;
    dt_error e;
    dt_code rc = dt_list(g.c, &o, &list, &e);
    CHECK_OK(rc, e);
    if (rc != DT_OK)
        return -1;
    int n = (int)dt_sandbox_list_count(list);
    if (first_id && n > 0)
        *first_id = strdup(dt_sandbox_id(dt_sandbox_list_at(list, 0)));
    CU_ASSERT_PTR_NULL(dt_sandbox_list_next_cursor(list));
    dt_sandbox_list_free(list);
    return n;
}

static void test_list_by_label(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_life);
    char *id = NULL;
    CU_ASSERT_EQUAL(list_case("lifecycle", &id), 1);
    CU_ASSERT(id && strcmp(id, dt_sandbox_id(g_life)) == 0);
    free(id);
    CU_ASSERT_EQUAL(list_case("no-such-case", NULL), 0);
}

/* PUT /labels replaces the whole map (trap 14): the run label is resent
 * or the cleanup by label would miss this sandbox. */
static void test_labels_replace(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_life);
    dt_kv l[] = {{RUN_LABEL, g.run_id}, {CASE_LABEL, "lifecycle"},
                 {"contract-extra", "1"}};
    dt_error e;
    CHECK_OK(dt_sandbox_set_labels(g_life, l, 3, &e), e);
    dt_sandbox *again = NULL;
    CHECK_OK(dt_get(g.c, dt_sandbox_id(g_life), &again, &e), e);
    if (again) {
        const char *x = dt_sandbox_label(again, "contract-extra");
        CU_ASSERT(x && strcmp(x, "1") == 0);
        CU_ASSERT_PTR_NULL(dt_sandbox_label(again, "code-toolbox-language"));
        CU_ASSERT_EQUAL(dt_sandbox_label_count(again), 3);
    }
    dt_sandbox_free(again);
}

static void test_stop_start(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_life);
    dt_error e;
    CHECK_OK(dt_sandbox_stop(g_life, WAIT_MS, &e), e);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(g_life), "stopped");
    /* Stop is not idempotent: a stopped sandbox is not stoppable. */
    CHECK_ERR(dt_sandbox_stop(g_life, WAIT_MS, &e), e, DT_EBADREQUEST, 400);
    CHECK_OK(dt_sandbox_start(g_life, WAIT_MS, &e), e);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(g_life), "started");
    /* Start is: a started sandbox answers 200 and stays started. */
    CHECK_OK(dt_sandbox_start(g_life, WAIT_MS, &e), e);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(g_life), "started");
}

static void test_delete(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_life);
    char id[128];
    snprintf(id, sizeof id, "%s", dt_sandbox_id(g_life));
    dt_error e;
    CHECK_OK(dt_sandbox_delete(g_life, WAIT_MS, &e), e);
    dt_sandbox_free(g_life);
    g_life = NULL;
    dt_sandbox *gone = NULL;
    CHECK_ERR(dt_get(g.c, id, &gone, &e), e, DT_ENOTFOUND, 404);
    dt_sandbox_free(gone);
    CU_ASSERT_EQUAL(list_case("lifecycle", NULL), 0);
}

static void test_unknown_and_unauthorized(void)
{
    char uuid[37], hex[33];
    random_hex(hex, 16);
    snprintf(uuid, sizeof uuid, "%.8s-%.4s-4%.3s-8%.3s-%.12s", hex, hex + 8,
             hex + 12, hex + 15, hex + 18);
    dt_sandbox *sb = NULL;
    dt_error e;
    CHECK_ERR(dt_get(g.c, uuid, &sb, &e), e, DT_ENOTFOUND, 404);
    dt_sandbox_free(sb);

    char bad[80];
    random_hex(hex, 16);
    snprintf(bad, sizeof bad, "dtn_%s%s", hex, "0000000000000000000000000000000");
    dt_client *other = mk_client(g.client_api, bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    dt_list_opts o = {.cursor = ""};
    dt_sandbox_list *list = NULL;
    CHECK_ERR(dt_list(other, &o, &list, &e), e, DT_EUNAUTHORIZED, 401);
    dt_sandbox_list_free(list);
    dt_client_free(other);
}

/* ---------- the shared sandbox ---------- */

static int ensure_work(void)
{
    if (g.work)
        return 0;
    g.work = mk_sandbox("work", NULL, 0);
    if (!g.work)
        return -1;
    dt_error e;
    if (dt_sandbox_home_dir(g.work, &g.home, &e) != DT_OK ||
        dt_sandbox_work_dir(g.work, &g.work_dir, &e) != DT_OK) {
        fprintf(stderr, "contract: home/work dir: %s\n", e.message);
        return -1;
    }
    return 0;
}

static void test_preview_links(void)
{
    CU_ASSERT_FATAL(ensure_work() == 0);
    dt_preview p = {0}, s = {0};
    dt_error e;
    CHECK_OK(dt_sandbox_preview_link(g.work, 3000, &p, &e), e);
    CU_ASSERT(p.url && strstr(p.url, dt_sandbox_id(g.work)) != NULL);
    CU_ASSERT(p.token && strlen(p.token) > 0);
    note_secret(p.token);
    CHECK_OK(dt_sandbox_signed_preview_url(g.work, 3000, 120, &s, &e), e);
    /* The signed token rides in the URL itself: <scheme>://3000-<token>.
     * <domain> (or a path form of the same); it differs from the plain
     * one and from the id. */
    const char *t = s.url ? strstr(s.url, "3000-") : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char tok[128];
    snprintf(tok, sizeof tok, "%.*s", (int)strcspn(t + 5, "./?:"), t + 5);
    CU_ASSERT(strlen(tok) >= 8);
    CU_ASSERT(strcmp(tok, p.token) != 0 && strcmp(tok, dt_sandbox_id(g.work)) != 0);
    note_secret(tok);
    dt_preview_release(&p);
    dt_preview_release(&s);
}

/* ---------- process ---------- */

/* Runs command with opts; checks rc OK, the exit code and the output. */
static void exec_expect(const char *cmd, const dt_exec_opts *o, int exit_code,
                        const char *output)
{
    dt_exec_result r = {0};
    dt_error e;
    dt_code rc = dt_exec(g.work, cmd, o, &r, &e);
    CHECK_OK(rc, e);
    if (rc != DT_OK)
        return;
    if (r.exit_code != exit_code || (output && strcmp(r.result, output) != 0))
        fprintf(stderr, "\n  exec '%s': exit %d, output '%s'\n", cmd,
                r.exit_code, r.result);
    CU_ASSERT_EQUAL(r.exit_code, exit_code);
    if (output)
        CU_ASSERT_STRING_EQUAL(r.result, output);
    dt_exec_result_release(&r);
}

static void test_exec(void)
{
    CU_ASSERT_FATAL(ensure_work() == 0);
    exec_expect("echo hello contract", NULL, 0, "hello contract\n");
    exec_expect("sh -c 'exit 3'", NULL, 3, "");
    /* stdout and stderr share one pipe: both are in `result`. */
    exec_expect("echo to-err 1>&2", NULL, 0, "to-err\n");
    dt_exec_opts o = {.cwd = g.home};
    char want[600];
    snprintf(want, sizeof want, "%s\n", g.home);
    exec_expect("pwd", &o, 0, want);
    dt_kv env = {"CONTRACT_VAR", "from-envs"};
    dt_exec_opts oe = {.env = &env, .n_env = 1};
    exec_expect("echo $CONTRACT_VAR", &oe, 0, "from-envs\n");
}

/* Past its timeout a command is killed and the answer is 408, no output. */
static void test_exec_timeout(void)
{
    CU_ASSERT_FATAL(ensure_work() == 0);
    dt_exec_opts o = {.timeout_s = 1};
    dt_exec_result r = {0};
    dt_error e;
    CHECK_ERR(dt_exec(g.work, "sleep 20", &o, &r, &e), e, DT_ETIMEOUT, 408);
    dt_exec_result_release(&r);
}

static void test_code_run(void)
{
    CU_ASSERT_FATAL(ensure_work() == 0);
    dt_exec_result r = {0};
    dt_error e;
    dt_code rc = dt_code_run(g.work, "print(6 * 7)", NULL, &r, &e);
    CHECK_OK(rc, e);
    if (rc == DT_OK) {
        CU_ASSERT_EQUAL(r.exit_code, 0);
        CU_ASSERT_STRING_EQUAL(r.result, "42\n");
    }
    dt_exec_result_release(&r);
    rc = dt_code_run(g.work, "import sys\nsys.exit(4)", NULL, &r, &e);
    CHECK_OK(rc, e);
    if (rc == DT_OK)
        CU_ASSERT_EQUAL(r.exit_code, 4);
    dt_exec_result_release(&r);
    rc = dt_code_run(g.work, "raise ValueError('contract-boom')", NULL, &r, &e);
    CHECK_OK(rc, e);
    if (rc == DT_OK) {
        CU_ASSERT_EQUAL(r.exit_code, 1);
        CU_ASSERT(strstr(r.result, "ValueError: contract-boom") != NULL);
    }
    dt_exec_result_release(&r);
}

/* ---------- files ---------- */

static char g_dir[700];   /* <work dir>/contract-files */

static const char *fpath(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
    return out;
}

static int files_init(void)
{
    if (ensure_work() != 0)
        return -1;
    snprintf(g_dir, sizeof g_dir, "%s/contract-files", g.work_dir);
    return 0;
}

static void test_upload_download(void)
{
    static const char text[] = "hello contract\n";
    char p[800];
    dt_error e;
    CHECK_OK(dt_fs_upload(g.work, fpath(p, sizeof p, "a.txt"), text,
                          sizeof text - 1, &e), e);
    void *data = NULL;
    size_t len = 0;
    CHECK_OK(dt_fs_download(g.work, p, &data, &len, &e), e);
    CU_ASSERT_EQUAL(len, sizeof text - 1);
    CU_ASSERT(data && memcmp(data, text, sizeof text - 1) == 0);
    free(data);
    dt_file_info fi = {0};
    CHECK_OK(dt_fs_info(g.work, p, &fi, &e), e);
    CU_ASSERT_EQUAL(fi.size, (long long)(sizeof text - 1));
    CU_ASSERT_EQUAL(fi.is_dir, 0);
    CU_ASSERT(fi.name && strcmp(fi.name, "a.txt") == 0);
    dt_file_info_release(&fi);
}

static void test_mkdir_list(void)
{
    char p[800];
    dt_error e;
    CHECK_OK(dt_fs_mkdir(g.work, fpath(p, sizeof p, "sub"), "755", &e), e);
    /* mkdir -p: an existing directory is no error. */
    CHECK_OK(dt_fs_mkdir(g.work, p, "755", &e), e);
    dt_file_info *list = NULL;
    size_t n = 0;
    CHECK_OK(dt_fs_list(g.work, g_dir, &list, &n, &e), e);
    /* Sorted by name: a.txt, then sub. */
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(list[0].name, "a.txt");
    CU_ASSERT_EQUAL(list[0].is_dir, 0);
    CU_ASSERT_EQUAL(list[0].size, 15);
    CU_ASSERT_STRING_EQUAL(list[1].name, "sub");
    CU_ASSERT_EQUAL(list[1].is_dir, 1);
    dt_file_info_list_free(list, n);
}

static void test_move(void)
{
    char a[800], b[800], c[800];
    dt_error e;
    fpath(a, sizeof a, "a.txt");
    fpath(b, sizeof b, "b.txt");
    fpath(c, sizeof c, "sub/c.txt");
    CHECK_OK(dt_fs_upload(g.work, b, "b\n", 2, &e), e);
    /* The destination must not exist. */
    CHECK_ERR(dt_fs_move(g.work, a, b, &e), e, DT_ECONFLICT, 409);
    CHECK_OK(dt_fs_move(g.work, b, c, &e), e);
    dt_file_info fi = {0};
    CHECK_ERR(dt_fs_info(g.work, b, &fi, &e), e, DT_ENOTFOUND, 404);
    CHECK_OK(dt_fs_info(g.work, c, &fi, &e), e);
    CU_ASSERT_EQUAL(fi.size, 2);
    dt_file_info_release(&fi);
}

static void test_file_errors(void)
{
    char p[800], a[800];
    dt_error e;
    void *data = NULL;
    size_t len = 0;
    dt_file_info fi = {0};
    CHECK_ERR(dt_fs_download(g.work, fpath(p, sizeof p, "missing.txt"), &data,
                             &len, &e), e, DT_ENOTFOUND, 404);
    free(data);
    CHECK_ERR(dt_fs_info(g.work, p, &fi, &e), e, DT_ENOTFOUND, 404);
    CHECK_ERR(dt_fs_delete(g.work, p, 0, &e), e, DT_ENOTFOUND, 404);
    /* Listing a file, deleting a directory without `recursive`: 400. */
    dt_file_info *list = NULL;
    size_t n = 0;
    CHECK_ERR(dt_fs_list(g.work, fpath(a, sizeof a, "a.txt"), &list, &n, &e), e,
              DT_EBADREQUEST, 400);
    dt_file_info_list_free(list, n);
    CHECK_ERR(dt_fs_delete(g.work, fpath(p, sizeof p, "sub"), 0, &e), e,
              DT_EBADREQUEST, 400);
}

static void test_delete_files(void)
{
    char p[800];
    dt_error e;
    dt_file_info fi = {0};
    CHECK_OK(dt_fs_delete(g.work, fpath(p, sizeof p, "a.txt"), 0, &e), e);
    CHECK_ERR(dt_fs_info(g.work, p, &fi, &e), e, DT_ENOTFOUND, 404);
    CHECK_OK(dt_fs_delete(g.work, g_dir, 1, &e), e);
    CHECK_ERR(dt_fs_info(g.work, g_dir, &fi, &e), e, DT_ENOTFOUND, 404);
}

/* ---------- sessions ---------- */

static char g_sid[64];

static int sessions_init(void)
{
    if (ensure_work() != 0)
        return -1;
    snprintf(g_sid, sizeof g_sid, "contract-%s-s1", g.run_id);
    return 0;
}

static void test_session_create(void)
{
    dt_error e;
    CHECK_OK(dt_session_create(g.work, g_sid, &e), e);
    CHECK_ERR(dt_session_create(g.work, g_sid, &e), e, DT_ECONFLICT, 409);
    dt_session s = {0};
    CHECK_OK(dt_session_get(g.work, g_sid, &s, &e), e);
    CU_ASSERT(s.session_id && strcmp(s.session_id, g_sid) == 0);
    CU_ASSERT_EQUAL(s.n_commands, 0);
    dt_session_release(&s);
}

/* A sync exec; checks exit code and the split streams (NULL = skip). */
static void sexec_expect(const char *cmd, int exit_code, const char *out,
                         const char *err_text)
{
    dt_session_exec_result r = {0};
    dt_error e;
    dt_code rc = dt_session_exec(g.work, g_sid, cmd, NULL, &r, &e);
    CHECK_OK(rc, e);
    if (rc != DT_OK)
        return;
    CU_ASSERT(r.cmd_id && r.cmd_id[0]);
    CU_ASSERT_EQUAL(r.has_exit_code, 1);
    CU_ASSERT_EQUAL(r.exit_code, exit_code);
    if (out)
        CU_ASSERT(r.stdout_ && strcmp(r.stdout_, out) == 0);
    if (err_text)
        CU_ASSERT(r.stderr_ && strcmp(r.stderr_, err_text) == 0);
    dt_session_exec_result_release(&r);
}

static void test_session_sync(void)
{
    sexec_expect("echo one", 0, "one\n", "");
    sexec_expect("echo two 1>&2", 0, "", "two\n");
    /* Every line, even a last partial one, ends in a newline. */
    sexec_expect("printf partial", 0, "partial\n", "");
    /* One persistent shell: variables and cwd carry over. */
    sexec_expect("export CONTRACT_X=42", 0, NULL, NULL);
    sexec_expect("echo $CONTRACT_X", 0, "42\n", NULL);
    sexec_expect("false", 1, "", "");
}

static void test_session_async(void)
{
    dt_session_exec_opts o = {.run_async = 1};
    dt_session_exec_result r = {0};
    dt_error e;
    dt_code rc = dt_session_exec(g.work, g_sid, "sleep 1; echo late", &o, &r, &e);
    CHECK_OK(rc, e);
    if (rc != DT_OK)
        return;
    CU_ASSERT_EQUAL(r.has_exit_code, 0);
    CU_ASSERT_FATAL(r.cmd_id && r.cmd_id[0]);
    /* Poll the command until it has an exit code (bounded). */
    dt_command cmd = {0};
    int done = 0;
    sleep_ms(1500);
    for (int i = 0; i < 120 && !done; i++) {
        rc = dt_session_get_command(g.work, g_sid, r.cmd_id, &cmd, &e);
        CHECK_OK(rc, e);
        if (rc != DT_OK)
            break;
        done = cmd.has_exit_code;
        if (done)
            CU_ASSERT_EQUAL(cmd.exit_code, 0);
        dt_command_release(&cmd);
        if (!done)
            sleep_ms(500);
    }
    CU_ASSERT_EQUAL(done, 1);
    dt_logs l = {0};
    CHECK_OK(dt_session_logs(g.work, g_sid, r.cmd_id, &l, &e), e);
    CU_ASSERT(l.stdout_ && strcmp(l.stdout_, "late\n") == 0);
    CU_ASSERT(l.output && strstr(l.output, "late") != NULL);
    dt_logs_release(&l);
    CHECK_ERR(dt_session_get_command(g.work, g_sid, "no-such-command", &cmd, &e),
              e, DT_ENOTFOUND, 404);
    dt_session_exec_result_release(&r);
}

static void test_session_delete(void)
{
    dt_error e;
    CHECK_OK(dt_session_delete(g.work, g_sid, &e), e);
    dt_session s = {0};
    CHECK_ERR(dt_session_get(g.work, g_sid, &s, &e), e, DT_ENOTFOUND, 404);
    CHECK_ERR(dt_session_delete(g.work, g_sid, &e), e, DT_ENOTFOUND, 404);
    /* exec on a missing session is a wrapped error: 500, not 404. */
    dt_session_exec_result r = {0};
    CHECK_ERR(dt_session_exec(g.work, g_sid, "echo x", NULL, &r, &e), e,
              DT_ESERVER, 500);
    dt_session_exec_result_release(&r);
}

/* ---------- cleanup ---------- */

/* Runs last: everything this run made goes, also after failed tests (a
 * test that failed half-way may have left its sandbox). */
static void test_nothing_left(void)
{
    rm_sandbox(&g.work);
    int left = delete_run(g.c, g.run_id);
    if (left != 0)
        fprintf(stderr, "\n  %d sandbox(es) were left behind%s\n", left,
                left < 0 ? " (listing failed)" : "");
    CU_ASSERT_EQUAL(left, 0);
}

/* ---------- set-up ---------- */

static int cleanup_lifecycle(void)
{
    rm_sandbox(&g_life);
    return 0;
}

static int work_init(void)
{
    return ensure_work();
}

typedef struct {
    const char *name;
    CU_TestFunc fn;
} test_def;

typedef struct {
    const char *name;
    CU_InitializeFunc init;
    CU_CleanupFunc cleanup;
    const test_def *tests;
} suite_def;

static const test_def lifecycle_tests[] = {
    {"create and get (by id, by name)", test_create_get},
    {"list by label", test_list_by_label},
    {"labels are replaced", test_labels_replace},
    {"stop (twice: 400) and start (twice: ok)", test_stop_start},
    {"delete, then 404", test_delete},
    {"unknown id 404, wrong key 401", test_unknown_and_unauthorized},
    {NULL, NULL}};
static const test_def process_tests[] = {
    {"preview links", test_preview_links},
    {"execute: output, exit codes, cwd, env", test_exec},
    {"execute: timeout is 408", test_exec_timeout},
    {"code-run", test_code_run},
    {NULL, NULL}};
static const test_def files_tests[] = {
    {"upload, download, info", test_upload_download},
    {"mkdir -p, list sorted", test_mkdir_list},
    {"move (409 onto an existing file)", test_move},
    {"errors: 404, 400", test_file_errors},
    {"delete file and directory", test_delete_files},
    {NULL, NULL}};
static const test_def sessions_tests[] = {
    {"create (409 twice), get", test_session_create},
    {"sync exec", test_session_sync},
    {"async exec, command, logs", test_session_async},
    {"delete, then 404 (exec 500)", test_session_delete},
    {NULL, NULL}};

static const test_def cleanup_tests[] = {
    {"every sandbox of the run is deleted", test_nothing_left},
    {NULL, NULL}};

static const suite_def suites[] = {
    {"contract: lifecycle", NULL, cleanup_lifecycle, lifecycle_tests},
    {"contract: process", work_init, NULL, process_tests},
    {"contract: files", files_init, NULL, files_tests},
    {"contract: sessions", sessions_init, NULL, sessions_tests},
    {"contract: cleanup", NULL, NULL, cleanup_tests},
};

static int register_suites(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return -1;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        CU_pSuite s = CU_add_suite(suites[i].name, suites[i].init, suites[i].cleanup);
        if (!s)
            return -1;
        for (const test_def *t = suites[i].tests; t->name; t++)
            if (!CU_add_test(s, t->name, t->fn))
                return -1;
    }
    return 0;
}

/* Picks the target from the environment.  Returns 0 to run, 77 to skip,
 * 2 for a bad setting. */
static int choose_target(void)
{
    const char *t = getenv("DAYTONA_CONTRACT_TARGET");
    if (!t || !*t || strcmp(t, "emulator") == 0)
        return 0;
    if (strcmp(t, "cloud") != 0) {
        fprintf(stderr, "contract: DAYTONA_CONTRACT_TARGET must be emulator or "
                "cloud, not '%s'\n", t);
        return 2;
    }
    g.cloud = 1;
    const char *key = getenv("DAYTONA_API_KEY");
    if (!key || !*key) {
        printf("contract: cloud run SKIPPED: DAYTONA_CONTRACT_TARGET=cloud but "
               "DAYTONA_API_KEY is not set (see docs/CONTRACT.md)\n");
        return 77;
    }
    const char *url = getenv("DAYTONA_API_URL");
    snprintf(g.key, sizeof g.key, "%s", key);
    snprintf(g.target_api, sizeof g.target_api, "%s",
             url && *url ? url : DT_DEFAULT_API_URL);
    return 0;
}

/* Starts the emulator (emulator target) and the recorder (when asked). */
static int start_servers(void)
{
    if (!g.cloud) {
        const char *k = getenv("DAYTONA_CONTRACT_EMU_KEY");
        if (k && *k) {
            snprintf(g.key, sizeof g.key, "%s", k);
        } else {
            char hex[65];
            random_hex(hex, 32);
            snprintf(g.key, sizeof g.key, "dtn_%s", hex);
        }
        const char *args[] = {"--api-key", g.key, NULL};
        if (emu_start(&g.emu, ":memory:", args) != 0)
            return -1;
        snprintf(g.target_api, sizeof g.target_api, "%s/api", g.emu.base);
    }
    snprintf(g.client_api, sizeof g.client_api, "%s", g.target_api);
    const char *dir = getenv("DAYTONA_CONTRACT_RECORD");
    if (dir && *dir) {
        const char *args[] = {"--upstream", g.target_api, "--record", dir, NULL};
        if (emu_start(&g.rec, ":memory:", args) != 0)
            return -1;
        snprintf(g.client_api, sizeof g.client_api, "%s/api", g.rec.base);
    }
    return 0;
}

int main(void)
{
    int rc = choose_target();
    if (rc != 0)
        return rc;
    random_hex(g.run_id, 8);
    /* EMU_BIN: ctest sets it; by hand, the daytona-emu built with us. */
    setenv("EMU_BIN", CONTRACT_EMU_BIN, 0);
    if (start_servers() != 0) {
        fprintf(stderr, "contract: cannot start daytona-emu (EMU_BIN=%s)\n",
                getenv("EMU_BIN"));
        emu_stop(&g.rec);
        emu_stop(&g.emu);
        return 1;
    }
    start_janitor();
    printf("contract: target %s (%s), run %s%s%s\n", g.cloud ? "cloud" : "emulator",
           g.target_api, g.run_id, g.rec.pid ? ", recording into " : "",
           g.rec.pid ? getenv("DAYTONA_CONTRACT_RECORD") : "");
    if (dt_global_init() != DT_OK || !(g.c = mk_client(g.client_api, g.key)) ||
        register_suites() != 0) {
        fprintf(stderr, "contract: set-up failed\n");
        return 1;
    }
    rc = cu_run_and_cleanup();
    free(g.home);
    free(g.work_dir);
    dt_client_free(g.c);
    dt_global_cleanup();
    /* The recorder must exit 0 (under ASan/valgrind: no leak, no error). */
    if (g.rec.pid && emu_stop(&g.rec) != 0) {
        fprintf(stderr, "contract: the recorder did not exit cleanly\n");
        rc = 1;
    }
    stop_janitor();
    emu_stop(&g.emu);
    return rc;
}
