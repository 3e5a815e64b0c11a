/*
 * test_client_process.c - libdaytona's process modules against the real
 * daytona-emu: execute (exit codes, merged output, cwd, env, the 408
 * timeout), code-run (python output, exit codes, argv, env, charts from
 * artifact lines, local validation), sessions (cd/export persistence,
 * sync split output, async + get command + logs, streamed logs arriving
 * while the command runs, input with and without echo, delete, 404/409/
 * 500 answers), the code interpreter (state in a context, exceptions,
 * timeout, context list/delete) and PTYs (echo, resize, exit code, kill).
 * Plus the session-log demultiplexer itself, fed every split of a log.
 *
 * Expected behaviour: shared/reference/toolbox.md §3 (execute), §4
 * (code-run), §5 (sessions), §7 (interpreter), §8 (PTY); docs/EMULATOR.md
 * "Toolbox".  One emulator per program (with --api-key, so other keys get
 * 401) and one python sandbox shared by the tests; tests that need a
 * sandbox of their own make it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "../../client/process_int.h"   /* dt__demux_*, dt__sandbox_from_json */
#include "cu_run.h"
#include "daytona/daytona.h"
#include "client_harness.h"
#include "emu_harness.h"
#include "timeutil.h"

#define KEY "test-key"

static emu_proc g_emu;
static char g_api[128];
static dt_client *g_c;
static dt_sandbox *g_sb;

/* ---------- helpers ---------- */

static dt_client *mk_client(const char *key)
{
    dt_config cfg;
    ch_config(&cfg, g_api, key);
    return ch_client(&cfg);
}

/* Runs a command that must succeed; returns its result (release it). */
static dt_exec_result ex(const char *cmd, const dt_exec_opts *o)
{
    dt_exec_result r;
    memset(&r, 0, sizeof r);
    dt_error e;
    dt_code rc = dt_exec(g_sb, cmd, o, &r, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  exec %s: %s (%ld) %s\n", cmd, dt_strerror(rc),
                e.status, e.message);
    CU_ASSERT_EQUAL(rc, DT_OK);
    return r;
}

static dt_exec_result crun(const char *code, const dt_exec_opts *o)
{
    dt_exec_result r;
    memset(&r, 0, sizeof r);
    dt_error e;
    dt_code rc = dt_code_run(g_sb, code, o, &r, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  code-run: %s (%ld) %s\n", dt_strerror(rc),
                e.status, e.message);
    CU_ASSERT_EQUAL(rc, DT_OK);
    return r;
}

static dt_sandbox *mk_sandbox(void)
{
    dt_sandbox *sb = NULL;
    dt_error e;
    dt_code rc = dt_create(g_c, NULL, &sb, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  create: %s\n", e.message);
    return sb;
}

/* Polls a command until it has an exit code (fails the test after 20 s). */
static int wait_exit(dt_sandbox *sb, const char *sid, const char *cid)
{
    int64_t end = time_mono_ms() + 20000;
    while (time_mono_ms() < end) {
        dt_command c;
        dt_error e;
        dt_code rc = dt_session_get_command(sb, sid, cid, &c, &e);
        CU_ASSERT_EQUAL_FATAL(rc, DT_OK);
        int has = c.has_exit_code, code = c.exit_code;
        dt_command_release(&c);
        if (has)
            return code;
        usleep(50 * 1000);
    }
    CU_FAIL("command did not end within 20 s");
    return -1000;
}

static char *async_exec(const char *sid, const char *cmd, int no_echo)
{
    dt_session_exec_opts o = {.run_async = 1, .suppress_input_echo = no_echo};
    dt_session_exec_result r;
    dt_error e;
    dt_code rc = dt_session_exec(g_sb, sid, cmd, &o, &r, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  async exec: %s\n", e.message);
    CU_ASSERT_EQUAL_FATAL(rc, DT_OK);
    CU_ASSERT_EQUAL(r.has_exit_code, 0);
    CU_ASSERT_PTR_NULL(r.output);
    CU_ASSERT_PTR_NULL(r.stdout_);
    CU_ASSERT_PTR_NULL(r.stderr_);
    CU_ASSERT_EQUAL(strlen(r.cmd_id), 36);
    char *id = strdup(r.cmd_id);
    dt_session_exec_result_release(&r);
    return id;
}

/* ---------- execute ---------- */

static void test_exec_exit_codes(void)
{
    dt_error e;
    memset(&e, 0x5a, sizeof e);
    dt_exec_result r;
    CU_ASSERT_EQUAL_FATAL(dt_exec(g_sb, "echo hello", NULL, &r, &e), DT_OK);
    CU_ASSERT_EQUAL(e.code, (dt_code)0x5a5a5a5a);   /* untouched on success */
    CU_ASSERT_EQUAL(r.exit_code, 0);
    CU_ASSERT_STRING_EQUAL(r.result, "hello\n");
    CU_ASSERT_EQUAL(r.result_len, 6);
    CU_ASSERT_EQUAL(r.n_charts, 0);
    dt_exec_result_release(&r);
    CU_ASSERT_PTR_NULL(r.result);

    r = ex("echo out; echo err >&2; exit 7", NULL);
    CU_ASSERT_EQUAL(r.exit_code, 7);
    CU_ASSERT_STRING_EQUAL(r.result, "out\nerr\n");   /* one merged pipe */
    dt_exec_result_release(&r);

    r = ex("no-such-program-xyz", NULL);
    CU_ASSERT_EQUAL(r.exit_code, 127);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.result, "not found"));
    dt_exec_result_release(&r);
}

static void test_exec_cwd_env(void)
{
    dt_exec_opts o = {.cwd = "/tmp"};
    dt_exec_result r = ex("pwd", &o);
    CU_ASSERT_STRING_EQUAL(r.result, "/tmp\n");
    dt_exec_result_release(&r);

    /* Daytona: a missing cwd is 200 with exit code -1, not an error. */
    o.cwd = "/no/such/dir";
    r = ex("pwd", &o);
    CU_ASSERT_EQUAL(r.exit_code, -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.result, "no such file or directory"));
    dt_exec_result_release(&r);

    dt_kv env[] = {{"FOO", "bar baz"}, {"QUOTE", "a\"b'c"}};
    dt_exec_opts oe = {.env = env, .n_env = 2};
    r = ex("echo \"$FOO|$QUOTE\"", &oe);
    CU_ASSERT_STRING_EQUAL(r.result, "bar baz|a\"b'c\n");
    dt_exec_result_release(&r);

    dt_kv bad[] = {{"1BAD", "x"}};
    dt_exec_opts ob = {.env = bad, .n_env = 1};
    dt_error e;
    dt_code rc = dt_exec(g_sb, "true", &ob, &r, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "invalid environment variable name");

    dt_exec_opts neg = {.timeout_s = -1};
    rc = dt_exec(g_sb, "true", &neg, &r, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "timeout_s");
    rc = dt_exec(g_sb, NULL, NULL, &r, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "required");
}

static void test_exec_timeout(void)
{
    dt_exec_opts o = {.timeout_s = 1};
    dt_exec_result r = ex("sleep 0.1; echo quick", &o);
    CU_ASSERT_STRING_EQUAL(r.result, "quick\n");
    dt_exec_result_release(&r);

    dt_error e;
    int64_t t0 = time_mono_ms();
    dt_code rc = dt_exec(g_sb, "echo partial; sleep 5", &o, &r, &e);
    int64_t took = time_mono_ms() - t0;
    CHECK_ERR(rc, e, DT_ETIMEOUT, 408, "timeout");
    CU_ASSERT(took >= 900 && took < 4000);
}

static void test_exec_errors(void)
{
    /* A sandbox that is gone: the toolbox answers 404. */
    dt_sandbox *sb = mk_sandbox();
    CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
    dt_sandbox *other = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_get(g_c, dt_sandbox_id(sb), &other, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_delete(sb, 10000, NULL), DT_OK);
    dt_exec_result r;
    dt_error e;
    dt_code rc = dt_exec(other, "true", NULL, &r, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "");
    rc = dt_session_create(other, "s", &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "");
    dt_sandbox_free(other);
    dt_sandbox_free(sb);

    /* A handle of a client with a wrong key: 401 from the toolbox too. */
    dt_client *bad = mk_client("wrong-key");
    dt_sandbox *h = NULL;
    CU_ASSERT_EQUAL_FATAL(dt__sandbox_from_json(bad,
                              cJSON_Parse(dt_sandbox_json(g_sb)), &h, NULL),
                          DT_OK);
    rc = dt_exec(h, "true", NULL, &r, &e);
    CHECK_ERR(rc, e, DT_EUNAUTHORIZED, 401, "");
    dt_sandbox_free(h);
    dt_client_free(bad);

    rc = dt_exec(NULL, "true", NULL, &r, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "sandbox");
}

/* ---------- code-run ---------- */

static void test_code_run(void)
{
    dt_exec_result r = crun("print(6 * 7)", NULL);
    CU_ASSERT_EQUAL(r.exit_code, 0);
    CU_ASSERT_STRING_EQUAL(r.result, "42\n");
    dt_exec_result_release(&r);

    r = crun("import sys\nprint('before')\nsys.exit(3)", NULL);
    CU_ASSERT_EQUAL(r.exit_code, 3);
    CU_ASSERT_STRING_EQUAL(r.result, "before\n");
    dt_exec_result_release(&r);

    r = crun("1/0", NULL);
    CU_ASSERT_EQUAL(r.exit_code, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.result, "ZeroDivisionError"));
    dt_exec_result_release(&r);

    /* argv joined unquoted; sys.argv[0] is "-" (code on stdin); envs. */
    const char *argv[] = {"a", "b c"};
    dt_kv env[] = {{"GREETING", "hej"}};
    dt_exec_opts o = {.argv = argv, .argc = 2, .env = env, .n_env = 1};
    r = crun("import os, sys\nprint(sys.argv, os.environ['GREETING'])", &o);
    CU_ASSERT_STRING_EQUAL(r.result, "['-', 'a', 'b', 'c'] hej\n");
    dt_exec_result_release(&r);
}

static void test_code_run_charts_and_errors(void)
{
    /* Artifact lines become charts and leave the output. */
    dt_exec_result r = crun(
        "print('a')\n"
        "print('dtn_artifact_k39fd2:{\"type\":\"chart\",\"value\":"
        "{\"type\":\"line\",\"title\":\"T\",\"elements\":[]}}')\n"
        "print('b')", NULL);
    CU_ASSERT_STRING_EQUAL(r.result, "a\nb\n");
    CU_ASSERT_EQUAL_FATAL(r.n_charts, 1);
    cJSON *c = cJSON_Parse(r.charts_json[0]);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")),
                           "line");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(c, "title")),
                           "T");
    cJSON_Delete(c);
    dt_exec_result_release(&r);
    CU_ASSERT_PTR_NULL(r.charts_json);

    dt_error e;
    dt_exec_opts o = {.timeout_s = 1};
    dt_code rc = dt_code_run(g_sb, "import time\ntime.sleep(5)", &o, &r, &e);
    CHECK_ERR(rc, e, DT_ETIMEOUT, 408, "timeout");

    dt_exec_opts ocwd = {.cwd = "/tmp"};
    rc = dt_code_run(g_sb, "print(1)", &ocwd, &r, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "cwd");

    /* Without the language label the SDK refuses before any request. */
    dt_sandbox *sb = mk_sandbox();
    CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
    dt_kv l = {"k", "v"};
    CU_ASSERT_EQUAL(dt_sandbox_set_labels(sb, &l, 1, NULL), DT_OK);
    rc = dt_code_run(sb, "print(1)", NULL, &r, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "code-toolbox-language");
    dt_sandbox_delete(sb, 10000, NULL);
    dt_sandbox_free(sb);
}

/* ---------- sessions ---------- */

static void test_session_persistence(void)
{
    dt_error e;
    dt_session_exec_result r;
    CU_ASSERT_EQUAL_FATAL(dt_session_create(g_sb, "persist", &e), DT_OK);
    dt_code rc = dt_session_create(g_sb, "persist", &e);
    CHECK_ERR(rc, e, DT_ECONFLICT, 409, "session already exists");

    CU_ASSERT_EQUAL_FATAL(dt_session_exec(g_sb, "persist",
                                          "cd /tmp && export FOO=bar", NULL,
                                          &r, &e), DT_OK);
    CU_ASSERT(r.has_exit_code);
    CU_ASSERT_EQUAL(r.exit_code, 0);
    CU_ASSERT_STRING_EQUAL(r.output, "");
    dt_session_exec_result_release(&r);

    CU_ASSERT_EQUAL_FATAL(dt_session_exec(g_sb, "persist",
                                          "pwd; echo \"$FOO\"; echo oops >&2; "
                                          "false", NULL, &r, &e), DT_OK);
    CU_ASSERT(r.has_exit_code);
    CU_ASSERT_EQUAL(r.exit_code, 1);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "/tmp\nbar\n");
    CU_ASSERT_STRING_EQUAL(r.stderr_, "oops\n");
    /* Both streams, markers removed; the relative order of the two
     * streams is not guaranteed (two labelers), each stream's is. */
    CU_ASSERT_EQUAL(strlen(r.output), strlen("/tmp\nbar\noops\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.output, "oops\n"));
    CU_ASSERT_PTR_NULL(strchr(r.output, '\x01'));
    CU_ASSERT_PTR_NULL(strchr(r.output, '\x02'));
    char *cid = strdup(r.cmd_id);
    dt_session_exec_result_release(&r);

    /* A partial last line gets its newline, as on Daytona. */
    dt_session_exec_opts to = {.timeout_s = 10};
    CU_ASSERT_EQUAL(dt_session_exec(g_sb, "persist", "printf abc", &to, &r, &e),
                    DT_OK);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "abc\n");
    dt_session_exec_result_release(&r);

    dt_session s;
    CU_ASSERT_EQUAL_FATAL(dt_session_get(g_sb, "persist", &s, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(s.session_id, "persist");
    CU_ASSERT_EQUAL(s.n_commands, 3);
    int seen = 0;
    for (size_t i = 0; i < s.n_commands; i++) {
        CU_ASSERT(s.commands[i].has_exit_code);
        if (strcmp(s.commands[i].id, cid) == 0) {
            seen = 1;
            CU_ASSERT_EQUAL(s.commands[i].exit_code, 1);
            CU_ASSERT_PTR_NOT_NULL(strstr(s.commands[i].command, "pwd;"));
        }
    }
    CU_ASSERT(seen);
    dt_session_release(&s);

    dt_command c;
    CU_ASSERT_EQUAL(dt_session_get_command(g_sb, "persist", cid, &c, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(c.id, cid);
    CU_ASSERT(c.has_exit_code);
    CU_ASSERT_EQUAL(c.exit_code, 1);
    dt_command_release(&c);

    dt_logs l;
    CU_ASSERT_EQUAL(dt_session_logs(g_sb, "persist", cid, &l, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(l.stdout_, "/tmp\nbar\n");
    CU_ASSERT_STRING_EQUAL(l.stderr_, "oops\n");
    CU_ASSERT_EQUAL(strlen(l.output), strlen("/tmp\nbar\noops\n"));
    dt_logs_release(&l);
    free(cid);

    dt_session *list = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(dt_session_list(g_sb, &list, &n, &e), DT_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found += strcmp(list[i].session_id, "persist") == 0;
    CU_ASSERT_EQUAL(found, 1);
    dt_session_list_free(list, n);
    CU_ASSERT_EQUAL(dt_session_delete(g_sb, "persist", &e), DT_OK);
}

static void test_session_async_logs(void)
{
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_session_create(g_sb, "async", &e), DT_OK);
    char *cid = async_exec("async", "echo one; sleep 0.5; echo two >&2; "
                                    "sh -c 'exit 4'", 0);
    CU_ASSERT_EQUAL(wait_exit(g_sb, "async", cid), 4);
    dt_logs l;
    CU_ASSERT_EQUAL_FATAL(dt_session_logs(g_sb, "async", cid, &l, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(l.stdout_, "one\n");
    CU_ASSERT_STRING_EQUAL(l.stderr_, "two\n");
    CU_ASSERT_STRING_EQUAL(l.output, "one\ntwo\n");
    dt_logs_release(&l);

    dt_code rc = dt_session_logs(g_sb, "async", "no-such-command", &l, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "command not found");
    dt_command c;
    rc = dt_session_get_command(g_sb, "async", "no-such-command", &c, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "command not found");
    free(cid);
    CU_ASSERT_EQUAL(dt_session_delete(g_sb, "async", &e), DT_OK);
}

typedef struct {
    buf out, err;
    int chunks;
    int first_while_running;   /* -1 unknown, 0/1 */
    int64_t first_at;
    const char *sid, *cid;
    int stop_after;            /* >0: ask to stop at that chunk */
} streamed;

static int on_out(void *ctx, const char *d, size_t n)
{
    streamed *s = ctx;
    if (s->chunks++ == 0) {
        s->first_at = time_mono_ms();
        /* Still running?  Asked from the callback: the exit code must not
         * be there yet while "second" is 1.5 s away. */
        dt_command c;
        if (dt_session_get_command(g_sb, s->sid, s->cid, &c, NULL) == DT_OK) {
            s->first_while_running = !c.has_exit_code;
            dt_command_release(&c);
        }
    }
    buf_add(&s->out, d, n);
    return s->stop_after && s->chunks >= s->stop_after;
}

static int on_err(void *ctx, const char *d, size_t n)
{
    streamed *s = ctx;
    buf_add(&s->err, d, n);
    return 0;
}

static void test_session_stream(void)
{
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_session_create(g_sb, "stream", &e), DT_OK);
    char *cid = async_exec("stream", "echo first; sleep 1.5; echo second; "
                                     "echo e1 >&2", 0);
    streamed s;
    memset(&s, 0, sizeof s);
    buf_init(&s.out, 1 << 20);
    buf_init(&s.err, 1 << 20);
    s.first_while_running = -1;
    s.sid = "stream";
    s.cid = cid;
    int64_t t0 = time_mono_ms();
    dt_code rc = dt_session_logs_stream(g_sb, "stream", cid, on_out, on_err, &s,
                                        &e);
    int64_t t1 = time_mono_ms();
    CU_ASSERT_EQUAL(rc, DT_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&s.out), "first\nsecond\n");
    CU_ASSERT_STRING_EQUAL(buf_str(&s.err), "e1\n");
    CU_ASSERT(s.chunks >= 2);
    CU_ASSERT_EQUAL(s.first_while_running, 1);
    CU_ASSERT(s.first_at - t0 < 1200);       /* before the sleep ended */
    CU_ASSERT(t1 - t0 >= 1400);              /* returned after the command */
    CU_ASSERT_EQUAL(wait_exit(g_sb, "stream", cid), 0);

    /* Streaming a finished command replays its whole log. */
    buf_reset(&s.out);
    buf_reset(&s.err);
    CU_ASSERT_EQUAL(dt_session_logs_stream(g_sb, "stream", cid, on_out, NULL,
                                           &s, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&s.out), "first\nsecond\n");
    CU_ASSERT_EQUAL(s.err.len, 0);
    free(cid);

    /* Many alternating lines: every byte lands in its stream. */
    cid = async_exec("stream", "for i in $(seq 1 400); do echo \"out-$i\"; "
                               "echo \"err-$i\" >&2; done", 0);
    buf exp_out, exp_err;
    buf_init(&exp_out, 1 << 20);
    buf_init(&exp_err, 1 << 20);
    for (int i = 1; i <= 400; i++) {
        char line[32];
        snprintf(line, sizeof line, "out-%d\n", i);
        buf_adds(&exp_out, line);
        snprintf(line, sizeof line, "err-%d\n", i);
        buf_adds(&exp_err, line);
    }
    buf_reset(&s.out);
    buf_reset(&s.err);
    CU_ASSERT_EQUAL(dt_session_logs_stream(g_sb, "stream", cid, on_out, on_err,
                                           &s, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&s.out), buf_str(&exp_out));
    CU_ASSERT_STRING_EQUAL(buf_str(&s.err), buf_str(&exp_err));
    buf_release(&exp_out);
    buf_release(&exp_err);
    free(cid);

    /* A callback that asks to stop. */
    cid = async_exec("stream", "echo a; sleep 0.3; echo b; sleep 0.3; echo c", 0);
    s.chunks = 0;
    s.cid = cid;
    s.stop_after = 1;
    rc = dt_session_logs_stream(g_sb, "stream", cid, on_out, on_err, &s, &e);
    CHECK_ERR(rc, e, DT_ECANCELED, 0, "callback");
    free(cid);

    rc = dt_session_logs_stream(g_sb, "stream", "no-such-command", on_out,
                                on_err, &s, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "command not found");
    rc = dt_session_logs_stream(g_sb, "no-such-session", "x", on_out, on_err,
                                &s, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "session not found");
    buf_release(&s.out);
    buf_release(&s.err);
    CU_ASSERT_EQUAL(dt_session_delete(g_sb, "stream", &e), DT_OK);
}

static void test_session_input(void)
{
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_session_create(g_sb, "input", &e), DT_OK);
    char *cid = async_exec("input", "read line; echo \"got:$line\"", 0);
    CU_ASSERT_EQUAL(dt_session_input(g_sb, "input", cid, "hello", &e), DT_OK);
    CU_ASSERT_EQUAL(wait_exit(g_sb, "input", cid), 0);
    dt_logs l;
    CU_ASSERT_EQUAL_FATAL(dt_session_logs(g_sb, "input", cid, &l, &e), DT_OK);
    /* The echo is appended to the log by the server when the input is
     * written, racing the command's own line (as on Daytona). */
    CU_ASSERT(strcmp(l.stdout_, "hello\ngot:hello\n") == 0 ||
              strcmp(l.stdout_, "got:hello\nhello\n") == 0);
    dt_logs_release(&l);
    /* The command has ended: 410, which is DT_ENOTFOUND. */
    dt_code rc = dt_session_input(g_sb, "input", cid, "late", &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 410, "already completed");
    free(cid);

    cid = async_exec("input", "read line; echo \"got:$line\"", 1);
    CU_ASSERT_EQUAL(dt_session_input(g_sb, "input", cid, "quiet", &e), DT_OK);
    CU_ASSERT_EQUAL(wait_exit(g_sb, "input", cid), 0);
    CU_ASSERT_EQUAL_FATAL(dt_session_logs(g_sb, "input", cid, &l, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(l.stdout_, "got:quiet\n");
    dt_logs_release(&l);
    rc = dt_session_input(g_sb, "input", "no-such-command", "x", &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "command not found");
    free(cid);
    CU_ASSERT_EQUAL(dt_session_delete(g_sb, "input", &e), DT_OK);
}

static void test_session_errors(void)
{
    dt_error e;
    dt_session_exec_result r;
    dt_session s;
    CU_ASSERT_EQUAL_FATAL(dt_session_create(g_sb, "gone", &e), DT_OK);
    CU_ASSERT_EQUAL(dt_session_delete(g_sb, "gone", &e), DT_OK);
    /* Exec on a missing session is a 500 on Daytona; the others 404. */
    dt_code rc = dt_session_exec(g_sb, "gone", "echo x", NULL, &r, &e);
    CHECK_ERR(rc, e, DT_ESERVER, 500, "session not found");
    rc = dt_session_get(g_sb, "gone", &s, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "session not found");
    rc = dt_session_delete(g_sb, "gone", &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "session not found");
    dt_logs l;
    rc = dt_session_logs(g_sb, "gone", "c", &l, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "session not found");
    rc = dt_session_input(g_sb, "gone", "c", "x", &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "session not found");
    /* Reserved id, and ids that would name another route. */
    rc = dt_session_create(g_sb, "entrypoint", &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "reserved");
    rc = dt_session_create(g_sb, "", &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "session_id");
    rc = dt_session_get(g_sb, NULL, &s, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "id");
    /* An id with a space and a slash is one encoded path segment. */
    CU_ASSERT_EQUAL_FATAL(dt_session_create(g_sb, "a b", &e), DT_OK);
    CU_ASSERT_EQUAL(dt_session_exec(g_sb, "a b", "echo ok", NULL, &r, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "ok\n");
    dt_session_exec_result_release(&r);
    CU_ASSERT_EQUAL(dt_session_delete(g_sb, "a b", &e), DT_OK);
}

/* ---------- the demultiplexer ---------- */

static int dm_emit(void *ctx, int stream, const char *p, size_t n)
{
    buf *b = ctx;
    return buf_add(&b[stream == DT__STREAM_STDERR], p, n) != BUF_OK;
}

/* Feeds log in the given pieces; checks the two streams. */
static void dm_check(const char *log, size_t len, const size_t *cuts,
                     size_t ncuts, const char *out, const char *err)
{
    buf b[2];
    buf_init(&b[0], 4096);
    buf_init(&b[1], 4096);
    dt__demux d;
    dt__demux_init(&d, dm_emit, b);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        CU_ASSERT_EQUAL(dt__demux_feed(&d, log + at, end - at), 0);
        at = end;
    }
    CU_ASSERT_EQUAL(dt__demux_flush(&d), 0);
    int ok = b[0].len == strlen(out) && memcmp(buf_str(&b[0]), out, b[0].len) == 0 &&
             b[1].len == strlen(err) && memcmp(buf_str(&b[1]), err, b[1].len) == 0;
    if (!ok)
        fprintf(stderr, "\n  demux (cuts %zu@%zu): out \"%s\" err \"%s\"\n",
                ncuts, ncuts ? cuts[0] : 0, buf_str(&b[0]), buf_str(&b[1]));
    CU_ASSERT(ok);
    buf_release(&b[0]);
    buf_release(&b[1]);
}

#define O "\x01\x01\x01"
#define E "\x02\x02\x02"

static void test_demux_splits(void)
{
    static const struct {
        const char *log, *out, *err;
    } rows[] = {
        {"", "", ""},
        {O "a\n" E "b\n" O "c\n", "a\nc\n", "b\n"},
        {"pre" O "x", "prex", ""},                      /* unmarked: stdout */
        {E "\x01\x01" "x\n", "", "\x01\x01x\n"},        /* two are data */
        {O "\x01" E "y", "\x01", "y"},                  /* 01 then a marker */
        {O "\x01\x01\x01\x01", "\x01", ""},             /* leftmost marker */
        {E "\x02", "", "\x02"},                         /* held, flushed */
        {O "a\x02\x02" "b" E "c" O O "d", "a\x02\x02" "bd", "c"},
        {O E O E "z", "", "z"},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        const char *log = rows[r].log;
        size_t len = strlen(log);
        dm_check(log, len, NULL, 0, rows[r].out, rows[r].err);
        /* Every single cut and every pair of cuts. */
        for (size_t i = 0; i <= len; i++) {
            dm_check(log, len, &i, 1, rows[r].out, rows[r].err);
            for (size_t j = i; j <= len; j++) {
                size_t two[2] = {i, j};
                dm_check(log, len, two, 2, rows[r].out, rows[r].err);
            }
        }
        /* One byte at a time. */
        size_t ones[64];
        for (size_t i = 0; i < len && i < 64; i++)
            ones[i] = i + 1;
        if (len <= 64)
            dm_check(log, len, ones, len, rows[r].out, rows[r].err);
    }
}

/* ---------- interpreter ---------- */

static dt_interp_result irun(const char *code, const dt_interp_opts *o)
{
    dt_interp_result r;
    memset(&r, 0, sizeof r);
    dt_error e;
    dt_code rc = dt_interp_run(g_sb, code, o, &r, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  interp: %s (%ld) %s\n", dt_strerror(rc), e.status,
                e.message);
    CU_ASSERT_EQUAL(rc, DT_OK);
    return r;
}

static int collect(void *ctx, const char *d, size_t n)
{
    buf_add(ctx, d, n);
    return 0;
}

static void test_interp_state_and_errors(void)
{
    dt_error e;
    dt_interp_context ctx;
    CU_ASSERT_EQUAL_FATAL(dt_interp_context_create(g_sb, "/tmp", NULL, &ctx, &e),
                          DT_OK);
    CU_ASSERT_EQUAL(strlen(ctx.id), 36);
    CU_ASSERT_STRING_EQUAL(ctx.cwd, "/tmp");
    CU_ASSERT_STRING_EQUAL(ctx.language, "python");
    CU_ASSERT(ctx.active);

    buf out;
    buf_init(&out, 1 << 20);
    dt_interp_opts o = {.context_id = ctx.id, .on_stdout = collect, .ctx = &out};
    dt_interp_result r = irun("x = 41", &o);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "");
    CU_ASSERT_EQUAL(r.has_error, 0);
    dt_interp_result_release(&r);
    r = irun("import os\nprint(x + 1)\nprint(os.getcwd())", &o);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "42\n/tmp\n");
    CU_ASSERT_STRING_EQUAL(r.stderr_, "");
    CU_ASSERT_STRING_EQUAL(buf_str(&out), "42\n/tmp\n");   /* via callback */
    CU_ASSERT_EQUAL(r.timed_out, 0);
    dt_interp_result_release(&r);

    /* The default context does not see the other's state. */
    r = irun("print('x' in globals())", NULL);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "False\n");
    dt_interp_result_release(&r);

    /* An exception fills the error fields; the call itself succeeds. */
    r = irun("import sys\nsys.stderr.write('warn\\n')\n1/0", &o);
    CU_ASSERT_EQUAL(r.has_error, 1);
    CU_ASSERT_STRING_EQUAL(r.error_name, "ZeroDivisionError");
    CU_ASSERT_STRING_EQUAL(r.error_value, "division by zero");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error_traceback, "ZeroDivisionError"));
    CU_ASSERT_STRING_EQUAL(r.stderr_, "warn\n");
    dt_interp_result_release(&r);

    dt_kv env[] = {{"IK", "iv"}};
    dt_interp_opts oe = {.context_id = ctx.id, .env = env, .n_env = 1};
    r = irun("import os\nprint(os.environ['IK'], x)", &oe);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "iv 41\n");
    dt_interp_result_release(&r);

    dt_code rc = dt_interp_run(g_sb, "  \n", NULL, &r, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "Code is required");
    dt_interp_opts ox = {.context_id = "no-such-context"};
    rc = dt_interp_run(g_sb, "print(1)", &ox, &r, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 0, "context not found");
    rc = dt_interp_context_create(g_sb, NULL, "javascript", &ctx, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "");
    buf_release(&out);
    dt_interp_context_delete(g_sb, ctx.id, NULL);
    dt_interp_context_release(&ctx);
}

static void test_interp_timeout_and_contexts(void)
{
    dt_error e;
    dt_interp_context a, b;
    CU_ASSERT_EQUAL_FATAL(dt_interp_context_create(g_sb, NULL, "python", &a, &e),
                          DT_OK);
    CU_ASSERT_EQUAL_FATAL(dt_interp_context_create(g_sb, NULL, NULL, &b, &e),
                          DT_OK);
    dt_interp_opts o = {.context_id = a.id, .timeout_s = 1};
    int64_t t0 = time_mono_ms();
    dt_interp_result r = irun("import time\nprint('start', flush=True)\n"
                              "time.sleep(10)\nprint('never')", &o);
    int64_t took = time_mono_ms() - t0;
    CU_ASSERT_EQUAL(r.timed_out, 1);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "start\n");
    CU_ASSERT(took >= 900 && took < 6000);
    dt_interp_result_release(&r);
    o.timeout_s = -1;                 /* no limit */
    r = irun("print('after')", &o);
    CU_ASSERT_STRING_EQUAL(r.stdout_, "after\n");
    CU_ASSERT_EQUAL(r.timed_out, 0);
    dt_interp_result_release(&r);

    dt_interp_context *list = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(dt_interp_context_list(g_sb, &list, &n, &e), DT_OK);
    int seen_a = 0, seen_b = 0, seen_default = 0;
    for (size_t i = 0; i < n; i++) {
        seen_a += strcmp(list[i].id, a.id) == 0;
        seen_b += strcmp(list[i].id, b.id) == 0;
        seen_default += strcmp(list[i].id, "default") == 0;
    }
    CU_ASSERT(seen_a == 1 && seen_b == 1 && seen_default == 0);
    dt_interp_context_list_free(list, n);

    CU_ASSERT_EQUAL(dt_interp_context_delete(g_sb, a.id, &e), DT_OK);
    dt_code rc = dt_interp_context_delete(g_sb, a.id, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "");
    rc = dt_interp_context_delete(g_sb, "default", &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "");
    o.timeout_s = 0;
    rc = dt_interp_run(g_sb, "print(1)", &o, &r, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 0, "context not found");
    CU_ASSERT_EQUAL_FATAL(dt_interp_context_list(g_sb, &list, &n, &e), DT_OK);
    seen_a = 0;
    for (size_t i = 0; i < n; i++)
        seen_a += strcmp(list[i].id, a.id) == 0;
    CU_ASSERT_EQUAL(seen_a, 0);
    dt_interp_context_list_free(list, n);
    CU_ASSERT_EQUAL(dt_interp_context_delete(g_sb, b.id, &e), DT_OK);
    dt_interp_context_release(&a);
    dt_interp_context_release(&b);
}

/* ---------- PTY ---------- */

/* Reads until needle appears in acc (or eof / 10 s).  1 when found. */
static int pty_wait_for(dt_pty *p, buf *acc, const char *needle)
{
    int64_t end = time_mono_ms() + 10000;
    while (!strstr(buf_str(acc), needle) && time_mono_ms() < end) {
        char chunk[4096];
        size_t got = 0;
        int eof = 0;
        dt_error e;
        dt_code rc = dt_pty_read(p, chunk, sizeof chunk, &got, &eof, 500, &e);
        if (rc != DT_OK) {
            fprintf(stderr, "\n  pty read: %s\n", e.message);
            return 0;
        }
        if (eof)
            break;
        buf_add(acc, chunk, got);
    }
    return strstr(buf_str(acc), needle) != NULL;
}

/* Reads until eof (10 s); returns 1 at eof. */
static int pty_wait_eof(dt_pty *p)
{
    int64_t end = time_mono_ms() + 10000;
    while (time_mono_ms() < end) {
        char chunk[4096];
        size_t got = 0;
        int eof = 0;
        if (dt_pty_read(p, chunk, sizeof chunk, &got, &eof, 500, NULL) != DT_OK)
            return 0;
        if (eof)
            return 1;
    }
    return 0;
}

static void test_pty_session(void)
{
    dt_error e;
    dt_kv env[] = {{"MYVAR", "abc"}};
    dt_pty_opts o = {.id = "term-1", .cwd = "/tmp", .env = env, .n_env = 1,
                     .cols = 100, .rows = 30};
    dt_pty *p = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_pty_create(g_sb, &o, &p, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_pty_id(p), "term-1");
    CU_ASSERT_EQUAL(dt_pty_exit_code(p), -1);
    buf acc;
    buf_init(&acc, 1 << 20);
    /* Arithmetic, so the terminal's echo of the typed line never matches. */
    const char *l1 = "echo hi-$((40+2)) \"$MYVAR\" \"$(pwd)\"\n";
    CU_ASSERT_EQUAL(dt_pty_write(p, l1, strlen(l1), &e), DT_OK);
    CU_ASSERT(pty_wait_for(p, &acc, "hi-42 abc /tmp"));

    CU_ASSERT_EQUAL(dt_pty_resize(p, 120, 40, &e), DT_OK);
    const char *l2 = "echo \"S[$(stty size)]\"\n";
    CU_ASSERT_EQUAL(dt_pty_write(p, l2, strlen(l2), &e), DT_OK);
    CU_ASSERT(pty_wait_for(p, &acc, "S[40 120]"));
    dt_code rc = dt_pty_resize(p, 0, 40, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "cols");

    /* The same id again is a conflict. */
    dt_pty *dup = NULL;
    rc = dt_pty_create(g_sb, &o, &dup, &e);
    CHECK_ERR(rc, e, DT_ECONFLICT, 409, "already exists");
    CU_ASSERT_PTR_NULL(dup);

    CU_ASSERT_EQUAL(dt_pty_write(p, "exit 3\n", 7, &e), DT_OK);
    CU_ASSERT(pty_wait_eof(p));
    CU_ASSERT_EQUAL(dt_pty_exit_code(p), 3);
    rc = dt_pty_write(p, "x", 1, &e);
    CHECK_ERR(rc, e, DT_EIO, 0, "exited");
    rc = dt_pty_resize(p, 80, 24, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 410, "not found");
    /* Reading again after the end still says eof. */
    char c;
    size_t got = 1;
    int eof = 0;
    CU_ASSERT_EQUAL(dt_pty_read(p, &c, 1, &got, &eof, 0, &e), DT_OK);
    CU_ASSERT(got == 0 && eof == 1);
    buf_release(&acc);
    dt_pty_free(p);
}

static void test_pty_kill_and_exit0(void)
{
    dt_error e;
    dt_pty *p = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_pty_create(g_sb, NULL, &p, &e), DT_OK);
    CU_ASSERT_EQUAL(strlen(dt_pty_id(p)), 36);   /* generated */
    char chunk[64];
    size_t got = 0;
    int eof = 1;
    buf acc;
    buf_init(&acc, 1 << 20);
    const char *l = "echo \"C[$(stty size)]\"\n";
    CU_ASSERT_EQUAL(dt_pty_write(p, l, strlen(l), &e), DT_OK);
    CU_ASSERT(pty_wait_for(p, &acc, "C[24 80]"));   /* the SDK's default */
    /* Once the prompt is read, a read with nothing to come times out. */
    int64_t took = 0;
    for (int i = 0; i < 20; i++) {
        int64_t t0 = time_mono_ms();
        CU_ASSERT_EQUAL_FATAL(dt_pty_read(p, chunk, sizeof chunk, &got, &eof,
                                          300, &e), DT_OK);
        took = time_mono_ms() - t0;
        if (got == 0)
            break;
    }
    CU_ASSERT(got == 0 && eof == 0);
    CU_ASSERT(took >= 250);
    CU_ASSERT_EQUAL(dt_pty_kill(p, &e), DT_OK);
    CU_ASSERT(pty_wait_eof(p));
    CU_ASSERT_EQUAL(dt_pty_exit_code(p), 137);
    dt_code rc = dt_pty_kill(p, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "not found");
    buf_release(&acc);
    dt_pty_free(p);

    dt_pty_opts o = {.id = "term-0"};
    CU_ASSERT_EQUAL_FATAL(dt_pty_create(g_sb, &o, &p, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_pty_write(p, "exit\n", 5, &e), DT_OK);
    CU_ASSERT(pty_wait_eof(p));
    CU_ASSERT_EQUAL(dt_pty_exit_code(p), 0);
    dt_pty_free(p);

    dt_pty_opts big = {.cols = 1001};
    rc = dt_pty_create(g_sb, &big, &p, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "cols");
}

/* ---------- registration ---------- */

static int suite_init(void)
{
    if (ch_start(&g_emu, g_api, sizeof g_api, KEY) != 0)
        return 1;
    g_c = mk_client(KEY);
    g_sb = g_c ? mk_sandbox() : NULL;
    return g_sb ? 0 : 1;
}

static int suite_cleanup(void)
{
    if (g_sb)
        dt_sandbox_delete(g_sb, 10000, NULL);
    dt_sandbox_free(g_sb);
    dt_client_free(g_c);
    ch_stop(&g_emu);
    return 0;
}

int main(void)
{
    static const cu_case tests[] = {
        {"exec: exit codes, merged output", test_exec_exit_codes},
        {"exec: cwd, env, validation", test_exec_cwd_env},
        {"exec: timeout is 408", test_exec_timeout},
        {"exec: gone sandbox 404, wrong key 401", test_exec_errors},
        {"code-run: python output, exit, argv, env", test_code_run},
        {"code-run: charts, timeout, local checks", test_code_run_charts_and_errors},
        {"session: persistence, sync split, get/list", test_session_persistence},
        {"session: async, get command, logs", test_session_async_logs},
        {"session: streamed logs while running", test_session_stream},
        {"session: input with and without echo", test_session_input},
        {"session: deleted/missing/reserved", test_session_errors},
        {"demux: markers split anywhere", test_demux_splits},
        {"interpreter: state, errors, env", test_interp_state_and_errors},
        {"interpreter: timeout, contexts", test_interp_timeout_and_contexts},
        {"pty: echo, resize, exit 3", test_pty_session},
        {"pty: default size, kill 137, exit 0", test_pty_kill_and_exit0},
    };
    return cu_run_suite("client_process", suite_init, suite_cleanup, tests,
                        sizeof tests / sizeof tests[0]);
}
