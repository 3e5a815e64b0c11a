/*
 * test_sess_manager.c - the session manager (sessions/manager.c, run.c,
 * reap.c) against a real daytona-emu, through libdaytona, with its store on
 * a real SQLite file.
 *
 * What Daytona holds is always checked on the emulator's own API (raw HTTP
 * through the harness, not through the library under test): which
 * sandboxes carry the system's labels, whether one still exists, its state.
 * Stops, archives and deletes "behind the system's back" are made the same
 * way.
 *
 * Crash tests fork a child that opens its own client, store and manager
 * and SIGKILLs itself at a fault point inside start or close (the hook in
 * sess.h), so the crash is real: no cleanup runs in the child.  Reap then
 * runs in the parent with a grace of 0.  Every test uses its own user ids,
 * and the reap tests their own app label, so tests do not see each other's
 * sandboxes.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "cu_run.h"
#include "emu_harness.h"
#include "sess.h"
#include "timeutil.h"

#define KEY "sess-test-key"
#define APP "sess-test"

static emu_proc g_emu;
static char g_api[128];
static char g_dir[256];
static char g_db[300];
static dt_client *g_client;
static sess_store *g_store;
static sess_manager *g_m;

/* ---------- emulator-side checks (raw HTTP) ---------- */

/* GET /api/sandbox filtered by labels {app, user?}: the number of
 * sandboxes; the first id into first (may be NULL). */
static int count_labelled(const char *app, const char *user, char *first,
                          size_t n)
{
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, SESS_LABEL_APP, app);
    if (user)
        cJSON_AddStringToObject(l, SESS_LABEL_USER, user);
    char *js = cJSON_PrintUnformatted(l);
    cJSON_Delete(l);
    char *esc = curl_easy_escape(NULL, js, 0);
    char path[1024];
    snprintf(path, sizeof path, "/api/sandbox?limit=200&labels=%s", esc);
    curl_free(esc);
    free(js);
    http_resp r = http_do(&g_emu, "GET", path, KEY, NULL, NULL, 0);
    int count = -1;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    if (r.status == 200 && cJSON_IsArray(items)) {
        count = cJSON_GetArraySize(items);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(items, 0), "id");
        if (first && cJSON_IsString(id))
            snprintf(first, n, "%s", id->valuestring);
    } else {
        fprintf(stderr, "list: %ld %s\n", r.status, r.body);
    }
    http_resp_free(&r);
    return count;
}

/* The sandbox's state, "404" when the emulator no longer knows it. */
static void sandbox_state(const char *id, char *out, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    http_resp r = http_do(&g_emu, "GET", path, KEY, NULL, NULL, 0);
    const char *st = r.status == 200 ? resp_str(&r, "state") : NULL;
    snprintf(out, n, "%s", r.status == 404 ? "404" : st ? st : "?");
    http_resp_free(&r);
}

/* A label of the sandbox, "" when absent. */
static void sandbox_label(const char *id, const char *key, char *out, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    http_resp r = http_do(&g_emu, "GET", path, KEY, NULL, NULL, 0);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(r.json, "labels");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, key);
    snprintf(out, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
    http_resp_free(&r);
}

/* Waits (up to 10 s) until the sandbox's state is `want`. */
static int wait_state(const char *id, const char *want)
{
    char st[64];
    for (int i = 0; i < 200; i++) {
        sandbox_state(id, st, sizeof st);
        if (strcmp(st, want) == 0)
            return 1;
        usleep(50000);
    }
    fprintf(stderr, "sandbox %s: state %s, wanted %s\n", id, st, want);
    return 0;
}

/* POST/DELETE on the sandbox behind the system's back; the status. */
static long behind_back(const char *method, const char *id, const char *action)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s%s", id, action);
    http_resp r = http_do(&g_emu, method, path, KEY, NULL,
                          strcmp(method, "POST") == 0 ? "{}" : NULL, -1);
    long st = r.status;
    if (st >= 300)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, st, r.body);
    http_resp_free(&r);
    return st;
}

/* The ts-node a sandbox of this emulator can run ("" when the emulator
 * has no TypeScript runtime): the runtime is bound at a fixed place in
 * namespaced sandboxes, and is the host's path otherwise. */
static void ts_runner(char *out, size_t n)
{
    http_resp r = http_do(&g_emu, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.json, "executor");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ex, "typescript");
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(ex, "level");
    const char *src = getenv("EMU_SOURCE_DIR");
    out[0] = '\0';
    if (cJSON_IsTrue(ts) && cJSON_IsString(lv)) {
        if (strcmp(lv->valuestring, "process") != 0)
            snprintf(out, n, "/.daytona-emu/typescript/node_modules/.bin/ts-node");
        else if (src)
            snprintf(out, n, "%s/runtimes/typescript/node_modules/.bin/ts-node", src);
    }
    http_resp_free(&r);
}

/* The toolbox sessions of a sandbox whose id starts with "sess-run-" (the
 * library's streamed runs), from the emulator's toolbox API; -1 on error. */
static int run_sessions(const char *sandbox_id)
{
    char path[256];
    snprintf(path, sizeof path, "/toolbox/%s/process/session", sandbox_id);
    http_resp r = http_do(&g_emu, "GET", path, KEY, NULL, NULL, 0);
    int n = -1;
    if (r.status == 200 && cJSON_IsArray(r.json)) {
        n = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, r.json) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "sessionId");
            n += cJSON_IsString(id) && strncmp(id->valuestring, "sess-run-", 9) == 0;
        }
    } else {
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body);
    }
    http_resp_free(&r);
    return n;
}

/* ---------- fixtures ---------- */

static dt_client *new_client(void)
{
    dt_config cfg;
    dt_client *c = NULL;
    dt_error e;
    dt_config_init(&cfg);
    cfg.api_url = g_api;
    cfg.api_key = KEY;
    if (dt_client_new(&cfg, &c, &e) != DT_OK)
        fprintf(stderr, "client: %s\n", e.message);
    return c;
}

static sess_manager *new_manager(dt_client *c, sess_store *st, const char *app,
                                 long grace_ms)
{
    sess_config cfg;
    sess_manager *m = NULL;
    sess_error e;
    sess_config_init(&cfg);
    cfg.app = app;
    cfg.reap_grace_ms = grace_ms;
    cfg.auto_stop_minutes = 0;   /* tests stop sandboxes themselves */
    if (sess_manager_new(c, st, &cfg, &m, &e) != SESS_OK)
        fprintf(stderr, "manager: %s\n", e.message);
    return m;
}

static int suite_init(void)
{
    const char *args[] = {"--api-key", KEY, NULL};
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/sess-mgr-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir) || dt_global_init() != DT_OK ||
        emu_start(&g_emu, NULL, args) != 0)
        return 1;
    snprintf(g_api, sizeof g_api, "%s/api", g_emu.base);
    snprintf(g_db, sizeof g_db, "%s/sessions.db", g_dir);
    sess_error e;
    g_client = new_client();
    if (!g_client || sess_store_open(g_db, 0, &g_store, &e) != SESS_OK)
        return 1;
    g_m = new_manager(g_client, g_store, APP, 0);
    return g_m ? 0 : 1;
}

static int suite_cleanup(void)
{
    char cmd[300];
    sess_manager_free(g_m);
    sess_store_close(g_store);
    dt_client_free(g_client);
    emu_stop(&g_emu);
    dt_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* Starts a session, failing the test (fatally) if it does not. */
static void start_ok(sess_manager *m, const char *user, const char *lang,
                     sess_session *s)
{
    sess_error e;
    sess_code c = sess_start(m, user, lang, s, &e);
    if (c != SESS_OK)
        fprintf(stderr, "start %s: %s\n", user, e.message);
    CU_ASSERT_EQUAL_FATAL(c, SESS_OK);
}

/* Runs code, expecting success; returns the exit code (output in *out). */
static int run_ok(sess_manager *m, const char *user, const char *code,
                  sess_run_result *r)
{
    sess_error e;
    sess_code c = sess_run(m, user, code, 0, r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "run %s: %s\n", user, e.message);
    CU_ASSERT_EQUAL_FATAL(c, SESS_OK);
    return r->exit_code;
}

/* ---------- start / run / close ---------- */

static void test_start_run_close(void)
{
    sess_session s = {0}, a = {0}, closed = {0};
    sess_run_result r = {0};
    sess_error e;
    char v[128];
    int64_t t0 = time_now_ms();
    start_ok(g_m, "alice", "Python", &s);
    CU_ASSERT_STRING_EQUAL(s.user_id, "alice");
    CU_ASSERT_STRING_EQUAL(s.language, "python");
    CU_ASSERT_EQUAL(s.status, SESS_ACTIVE);
    CU_ASSERT(s.created_at >= t0 && s.created_at <= time_now_ms());
    CU_ASSERT_EQUAL(strlen(s.id), 36);
    /* The sandbox exists, started, labelled with app, user and session. */
    sandbox_state(s.sandbox_id, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "started");
    sandbox_label(s.sandbox_id, SESS_LABEL_APP, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, APP);
    sandbox_label(s.sandbox_id, SESS_LABEL_USER, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "alice");
    sandbox_label(s.sandbox_id, SESS_LABEL_SESSION, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, s.id);
    sandbox_label(s.sandbox_id, "code-toolbox-language", v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "python");
    /* active() is the same session. */
    CU_ASSERT_EQUAL(sess_active(g_m, "alice", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(a.id, s.id);
    CU_ASSERT_STRING_EQUAL(a.sandbox_id, s.sandbox_id);
    CU_ASSERT_EQUAL(a.last_run_at, 0);
    sess_session_release(&a);
    /* Runs: output, exit codes, the run time recorded. */
    CU_ASSERT_EQUAL(run_ok(g_m, "alice", "print(6 * 7)", &r), 0);
    CU_ASSERT_STRING_EQUAL(r.output, "42\n");
    CU_ASSERT_EQUAL(r.output_len, 3);
    CU_ASSERT_STRING_EQUAL(r.session_id, s.id);
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(run_ok(g_m, "alice", "import sys\nprint('bye')\nsys.exit(3)", &r), 3);
    CU_ASSERT_STRING_EQUAL(r.output, "bye\n");
    sess_run_result_release(&r);
    /* Past its timeout the code is killed and the run fails. */
    int64_t t1 = time_mono_ms();
    CU_ASSERT_EQUAL(sess_run(g_m, "alice", "import time\ntime.sleep(30)", 1, &r, &e),
                    SESS_EDAYTONA);
    CU_ASSERT_EQUAL(e.dt.code, DT_ETIMEOUT);
    CU_ASSERT(time_mono_ms() - t1 < 15000);
    CU_ASSERT_EQUAL(sess_run(g_m, "alice", "print(1)", -1, &r, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_run(g_m, "alice", NULL, 0, &r, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_active(g_m, "alice", &a, NULL), SESS_OK);
    CU_ASSERT(a.last_run_at >= s.created_at);
    sess_session_release(&a);
    /* Close: the record, then the sandbox is gone. */
    CU_ASSERT_EQUAL(sess_close(g_m, "alice", &closed, &e), SESS_OK);
    CU_ASSERT_STRING_EQUAL(closed.id, s.id);
    CU_ASSERT_EQUAL(closed.status, SESS_CLOSED);
    CU_ASSERT_STRING_EQUAL(closed.close_reason, SESS_REASON_CLOSED);
    CU_ASSERT(closed.closed_at >= s.created_at);
    sess_session_release(&closed);
    sandbox_state(s.sandbox_id, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "404");
    CU_ASSERT_EQUAL(count_labelled(APP, "alice", NULL, 0), 0);
    CU_ASSERT_EQUAL(sess_active(g_m, "alice", &a, &e), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_run(g_m, "alice", "print(1)", 0, &r, &e), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_close(g_m, "alice", NULL, &e), SESS_ENOTFOUND);
    sess_session *h = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_history(g_m, "alice", 0, &h, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(h[0].id, s.id);
    CU_ASSERT_EQUAL(h[0].status, SESS_CLOSED);
    sess_session_list_free(h, n);
    sess_session_release(&s);
}

static void test_languages(void)
{
    sess_session s = {0};
    sess_run_result r = {0};
    sess_error e;
    start_ok(g_m, "jack", "JavaScript", &s);
    CU_ASSERT_STRING_EQUAL(s.language, "javascript");
    CU_ASSERT_EQUAL(run_ok(g_m, "jack", "console.log([1, 2].map(x => x * 2).join(','))", &r), 0);
    CU_ASSERT_STRING_EQUAL(r.output, "2,4\n");
    sess_run_result_release(&r);
    sess_session_release(&s);
    start_ok(g_m, "jack", "TYPESCRIPT", &s);
    CU_ASSERT_STRING_EQUAL(s.language, "typescript");
    sess_session_release(&s);
    char ts[512];
    ts_runner(ts, sizeof ts);
    if (ts[0]) {
        CU_ASSERT_EQUAL(run_ok(g_m, "jack", "const n: number = 5;\n"
                               "console.log(`n*2=${n * 2}`);", &r), 0);
        CU_ASSERT_STRING_EQUAL(r.output, "n*2=10\n");
        sess_run_result_release(&r);
    } else {
        fprintf(stderr, "(no TypeScript runtime in this emulator: run skipped)\n");
    }
    CU_ASSERT_EQUAL(sess_close(g_m, "jack", NULL, &e), SESS_OK);
    CU_ASSERT_EQUAL(count_labelled(APP, "jack", NULL, 0), 0);
}

static void test_unsupported_language(void)
{
    sess_session s = {0};
    sess_error e;
    CU_ASSERT_EQUAL(sess_start(g_m, "kim", "Rust", &s, &e), SESS_ELANGUAGE);
    CU_ASSERT_STRING_EQUAL(e.message, "Unsupported language: Rust");
    CU_ASSERT_EQUAL(e.code, SESS_ELANGUAGE);
    CU_ASSERT_PTR_NULL(s.id);
    CU_ASSERT_EQUAL(sess_start(g_m, "kim", "", &s, &e), SESS_ELANGUAGE);
    CU_ASSERT_STRING_EQUAL(e.message, "Unsupported language: ");
    CU_ASSERT_EQUAL(sess_start(g_m, "kim", " python", &s, &e), SESS_ELANGUAGE);
    CU_ASSERT_STRING_EQUAL(e.message, "Unsupported language:  python");
    CU_ASSERT_EQUAL(count_labelled(APP, "kim", NULL, 0), 0);
    CU_ASSERT_EQUAL(sess_active(g_m, "kim", &s, NULL), SESS_ENOTFOUND);
    /* A configured set replaces the default one. */
    const char *only[] = {"Python"};
    sess_config cfg;
    sess_manager *m = NULL;
    sess_config_init(&cfg);
    cfg.app = APP;
    cfg.languages = only;
    cfg.n_languages = 1;
    CU_ASSERT_EQUAL_FATAL(sess_manager_new(g_client, g_store, &cfg, &m, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess_start(m, "kim", "javascript", &s, &e), SESS_ELANGUAGE);
    CU_ASSERT_STRING_EQUAL(e.message, "Unsupported language: javascript");
    sess_manager_free(m);
    cfg.n_languages = 0;
    CU_ASSERT_EQUAL(sess_manager_new(g_client, g_store, &cfg, &m, &e), SESS_EINVAL);
    /* Bad users. */
    CU_ASSERT_EQUAL(sess_start(g_m, "", "python", &s, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_start(g_m, NULL, "python", &s, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_start(g_m, "kim", NULL, &s, &e), SESS_EINVAL);
}

static void test_start_again_replaces(void)
{
    sess_session s1 = {0}, s2 = {0};
    char v[64], only[64] = "";
    start_ok(g_m, "bob", "javascript", &s1);
    start_ok(g_m, "bob", "python", &s2);
    CU_ASSERT_STRING_NOT_EQUAL(s1.sandbox_id, s2.sandbox_id);
    /* The first sandbox is gone from the emulator; only the second is
     * labelled for bob. */
    sandbox_state(s1.sandbox_id, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "404");
    CU_ASSERT_EQUAL(count_labelled(APP, "bob", only, sizeof only), 1);
    CU_ASSERT_STRING_EQUAL(only, s2.sandbox_id);
    sess_session *h = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_history(g_m, "bob", 0, &h, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(h[0].id, s2.id);
    CU_ASSERT_EQUAL(h[0].status, SESS_ACTIVE);
    CU_ASSERT_STRING_EQUAL(h[1].id, s1.id);
    CU_ASSERT_EQUAL(h[1].status, SESS_CLOSED);
    CU_ASSERT_STRING_EQUAL(h[1].close_reason, SESS_REASON_REPLACED);
    CU_ASSERT_EQUAL(h[1].closed_at, s2.created_at);
    sess_session_list_free(h, n);
    CU_ASSERT_EQUAL(sess_close(g_m, "bob", NULL, NULL), SESS_OK);
    sess_session_release(&s1);
    sess_session_release(&s2);
}

/* ---------- the restore path ---------- */

static void test_run_resumes_stopped(void)
{
    sess_session s = {0};
    sess_run_result r = {0};
    start_ok(g_m, "carol", "python", &s);
    CU_ASSERT_EQUAL(behind_back("POST", s.sandbox_id, "/stop"), 200);
    CU_ASSERT_FATAL(wait_state(s.sandbox_id, "stopped"));
    CU_ASSERT_EQUAL(run_ok(g_m, "carol", "print('back')", &r), 0);
    CU_ASSERT_STRING_EQUAL(r.output, "back\n");
    sess_run_result_release(&r);
    CU_ASSERT(wait_state(s.sandbox_id, "started"));
    /* Right after a stop is requested (the sandbox may still be stopping). */
    CU_ASSERT_EQUAL(behind_back("POST", s.sandbox_id, "/stop"), 200);
    CU_ASSERT_EQUAL(run_ok(g_m, "carol", "print('again')", &r), 0);
    CU_ASSERT_STRING_EQUAL(r.output, "again\n");
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(sess_close(g_m, "carol", NULL, NULL), SESS_OK);
    sess_session_release(&s);
}

static void test_run_resumes_archived(void)
{
    sess_session s = {0};
    sess_run_result r = {0};
    start_ok(g_m, "dave", "javascript", &s);
    CU_ASSERT_EQUAL(behind_back("POST", s.sandbox_id, "/stop"), 200);
    CU_ASSERT_FATAL(wait_state(s.sandbox_id, "stopped"));
    CU_ASSERT_EQUAL(behind_back("POST", s.sandbox_id, "/archive"), 200);
    CU_ASSERT_FATAL(wait_state(s.sandbox_id, "archived"));
    CU_ASSERT_EQUAL(run_ok(g_m, "dave", "console.log('thawed')", &r), 0);
    CU_ASSERT_STRING_EQUAL(r.output, "thawed\n");
    sess_run_result_release(&r);
    CU_ASSERT(wait_state(s.sandbox_id, "started"));
    CU_ASSERT_EQUAL(sess_close(g_m, "dave", NULL, NULL), SESS_OK);
    sess_session_release(&s);
}

static int never_called(void *ctx, sess_stream stream, const char *data,
                        size_t len)
{
    (void)ctx, (void)stream, (void)data, (void)len;
    CU_FAIL("output from a sandbox that does not exist");
    return 1;
}

static void test_run_after_deleted(void)
{
    sess_session s = {0}, a = {0};
    sess_run_result r = {0};
    sess_error e;
    start_ok(g_m, "erin", "python", &s);
    CU_ASSERT_EQUAL(behind_back("DELETE", s.sandbox_id, ""), 200);
    CU_ASSERT_FATAL(wait_state(s.sandbox_id, "404"));
    CU_ASSERT_EQUAL(sess_run(g_m, "erin", "print(1)", 0, &r, &e), SESS_EGONE);
    CU_ASSERT_STRING_EQUAL(e.message, "Could not restore sandbox session. Please refresh.");
    CU_ASSERT_EQUAL(e.dt.code, DT_ENOTFOUND);
    CU_ASSERT_PTR_NULL(r.output);
    /* The session was closed with the reason; the user can start again. */
    CU_ASSERT_EQUAL(sess_active(g_m, "erin", &a, NULL), SESS_ENOTFOUND);
    sess_session *h = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_history(g_m, "erin", 0, &h, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(h[0].status, SESS_CLOSED);
    CU_ASSERT_STRING_EQUAL(h[0].close_reason, SESS_REASON_SANDBOX_GONE);
    sess_session_list_free(h, n);
    CU_ASSERT_EQUAL(sess_run(g_m, "erin", "print(1)", 0, &r, &e), SESS_ENOTFOUND);
    sess_session_release(&s);
    /* The streamed run takes the same path. */
    start_ok(g_m, "erin", "python", &s);
    CU_ASSERT_EQUAL(behind_back("DELETE", s.sandbox_id, ""), 200);
    CU_ASSERT_FATAL(wait_state(s.sandbox_id, "404"));
    CU_ASSERT_EQUAL(sess_run_stream(g_m, "erin", "print(1)", 0,
                                    never_called, NULL, &r, &e),
                    SESS_EGONE);
    CU_ASSERT_STRING_EQUAL(e.message, SESS_MSG_RESTORE_FAILED);
    CU_ASSERT_EQUAL(sess_active(g_m, "erin", &a, NULL), SESS_ENOTFOUND);
    /* Close of a session whose sandbox vanished: closed, nothing to delete. */
    start_ok(g_m, "erin", "python", &a);
    CU_ASSERT_EQUAL(behind_back("DELETE", a.sandbox_id, ""), 200);
    CU_ASSERT_EQUAL(sess_close(g_m, "erin", NULL, &e), SESS_OK);
    sess_session_release(&a);
    sess_session_release(&s);
}

/* ---------- users are isolated ---------- */

static void test_other_user_unreachable(void)
{
    sess_session s = {0}, a = {0};
    sess_run_result r = {0};
    sess_error e;
    start_ok(g_m, "frank", "python", &s);
    CU_ASSERT_EQUAL(sess_active(g_m, "grace", &a, &e), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_run(g_m, "grace", "print(1)", 0, &r, &e), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_close(g_m, "grace", NULL, &e), SESS_ENOTFOUND);
    sess_session *h = NULL;
    size_t n = 7;
    CU_ASSERT_EQUAL(sess_history(g_m, "grace", 0, &h, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 0);
    /* A user id that is a prefix, a case variant or the session id. */
    CU_ASSERT_EQUAL(sess_active(g_m, "fran", &a, NULL), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_active(g_m, "Frank", &a, NULL), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_active(g_m, s.id, &a, NULL), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_active(g_m, "%", &a, NULL), SESS_ENOTFOUND);
    /* grace starting her own session leaves frank's alone. */
    start_ok(g_m, "grace", "python", &a);
    CU_ASSERT_STRING_NOT_EQUAL(a.sandbox_id, s.sandbox_id);
    sess_session_release(&a);
    CU_ASSERT_EQUAL(sess_close(g_m, "grace", NULL, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess_active(g_m, "frank", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(a.id, s.id);
    sess_session_release(&a);
    CU_ASSERT(wait_state(s.sandbox_id, "started"));
    CU_ASSERT_EQUAL(run_ok(g_m, "frank", "print('mine')", &r), 0);
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(sess_close(g_m, "frank", NULL, NULL), SESS_OK);
    sess_session_release(&s);
}

/* ---------- streaming ---------- */

typedef struct {
    char out[4096], err[4096];
    size_t n_out, n_err;
    int chunks;
    int64_t first_at;        /* monotonic ms of the first chunk */
    int stop_after;          /* >0: return non-zero at that chunk */
} sink;

static int collect(void *ctx, sess_stream stream, const char *data, size_t len)
{
    sink *k = ctx;
    if (!k->chunks++)
        k->first_at = time_mono_ms();
    char *dst = stream == SESS_STDOUT ? k->out : k->err;
    size_t *n = stream == SESS_STDOUT ? &k->n_out : &k->n_err;
    size_t room = sizeof k->out - 1 - *n;
    size_t take = len < room ? len : room;
    memcpy(dst + *n, data, take);
    *n += take;
    dst[*n] = '\0';
    return k->stop_after && k->chunks >= k->stop_after;
}

static void test_stream(void)
{
    sess_session s = {0};
    sess_run_result r = {0};
    sess_error e;
    sink k = {0};
    start_ok(g_m, "hana", "python", &s);
    int64_t t0 = time_mono_ms();
    sess_code c = sess_run_stream(g_m, "hana",
        "import sys, time\nprint('first', flush=True)\n"
        "print('oops', file=sys.stderr, flush=True)\n"
        "time.sleep(1.5)\nprint('second')\nsys.exit(4)\n",
        0, collect, &k, &r, &e);
    int64_t t1 = time_mono_ms();
    if (c != SESS_OK)
        fprintf(stderr, "stream: %s\n", e.message);
    CU_ASSERT_EQUAL_FATAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 4);
    CU_ASSERT_PTR_NULL(r.output);
    CU_ASSERT_STRING_EQUAL(r.session_id, s.id);
    CU_ASSERT_STRING_EQUAL(k.out, "first\nsecond\n");
    CU_ASSERT_STRING_EQUAL(k.err, "oops\n");
    /* The first chunk came while the program was still sleeping. */
    CU_ASSERT(k.chunks >= 2);
    CU_ASSERT(t1 - t0 >= 1500);
    CU_ASSERT(k.first_at - t0 < t1 - t0 - 1000);
    sess_run_result_release(&r);
    /* Characters the shell would otherwise interpret, and a timeout. */
    memset(&k, 0, sizeof k);
    c = sess_run_stream(g_m, "hana", "print(\"it's $HOME `x` \\\\ \\\"q\\\"\")",
                        0, collect, &k, &r, &e);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_STRING_EQUAL(k.out, "it's $HOME `x` \\ \"q\"\n");
    sess_run_result_release(&r);
    memset(&k, 0, sizeof k);
    t0 = time_mono_ms();
    c = sess_run_stream(g_m, "hana", "import time\nprint('t', flush=True)\n"
                        "time.sleep(30)\n", 1, collect, &k, &r, &e);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 124);
    CU_ASSERT_STRING_EQUAL(k.out, "t\n");
    CU_ASSERT(time_mono_ms() - t0 < 15000);
    sess_run_result_release(&r);
    /* Code far past a command line's single-argument limit (128 KiB). */
    size_t big = 600 * 1024;
    char *code = malloc(big + 64);
    CU_ASSERT_FATAL(code != NULL);
    memset(code, '#', big);      /* one long comment line */
    code[big - 1] = '\n';
    strcpy(code + big, "print('big', 1)\n");
    memset(&k, 0, sizeof k);
    c = sess_run_stream(g_m, "hana", code, 0, collect, &k, &r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "big stream: %s\n", e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 0);
    CU_ASSERT_STRING_EQUAL(k.out, "big 1\n");
    sess_run_result_release(&r);
    c = sess_run(g_m, "hana", code, 0, &r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "big run: %s\n", e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_STRING_EQUAL(r.output, "big 1\n");
    sess_run_result_release(&r);
    free(code);
    /* The callback stops the run. */
    memset(&k, 0, sizeof k);
    k.stop_after = 1;
    t0 = time_mono_ms();
    c = sess_run_stream(g_m, "hana", "import time\nwhile True:\n"
                        "    print('tick', flush=True)\n    time.sleep(0.2)\n",
                        0, collect, &k, &r, &e);
    CU_ASSERT_EQUAL(c, SESS_ECANCELED);
    CU_ASSERT(time_mono_ms() - t0 < 15000);
    CU_ASSERT_EQUAL(sess_close(g_m, "hana", NULL, NULL), SESS_OK);
    sess_session_release(&s);
}

static void test_stream_javascript(void)
{
    sess_session s = {0};
    sess_run_result r = {0};
    sess_error e;
    sink k = {0};
    start_ok(g_m, "ivan", "javascript", &s);
    sess_code c = sess_run_stream(g_m, "ivan",
        "console.log('a');\nsetTimeout(() => { console.error('b'); "
        "process.exit(2); }, 300);\n", 0, collect, &k, &r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "stream js: %s\n", e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 2);
    CU_ASSERT_STRING_EQUAL(k.out, "a\n");
    CU_ASSERT_STRING_EQUAL(k.err, "b\n");
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(sess_close(g_m, "ivan", NULL, NULL), SESS_OK);
    sess_session_release(&s);
}

static void test_stream_typescript(void)
{
    sess_session s = {0};
    sess_run_result r = {0};
    sess_error e;
    sink k = {0};
    char ts[512];
    sess_config cfg;
    sess_manager *m = NULL;
    ts_runner(ts, sizeof ts);
    if (!ts[0]) {
        fprintf(stderr, "(no TypeScript runtime in this emulator: skipped)\n");
        return;
    }
    /* The default configuration: the ts-node the emulator puts on the
     * sandbox's PATH, no npx (which would try to download it). */
    start_ok(g_m, "tess", "typescript", &s);
    sess_session_release(&s);
    sess_code c = sess_run_stream(g_m, "tess",
        "const sq = (n: number): number => n * n;\n"
        "console.log(`sq=${sq(7)}`);\n", 0, collect, &k, &r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "stream ts (default runner): %s\n", e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 0);
    CU_ASSERT_STRING_EQUAL(k.out, "sq=49\n");
    CU_ASSERT_STRING_EQUAL(k.err, "");
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(sess_close(g_m, "tess", NULL, NULL), SESS_OK);
    memset(&k, 0, sizeof k);
    /* A configured runner is used as given. */
    sess_config_init(&cfg);
    cfg.app = APP;
    cfg.typescript_runner = ts;
    CU_ASSERT_EQUAL_FATAL(sess_manager_new(g_client, g_store, &cfg, &m, NULL), SESS_OK);
    start_ok(m, "tess", "typescript", &s);
    c = sess_run_stream(m, "tess",
        "const greet = (who: string): string => `hi ${who}`;\n"
        "console.log(greet('ts'));\nconsole.error('warn');\nprocess.exitCode = 6;\n",
        0, collect, &k, &r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "stream ts: %s\n", e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 6);
    CU_ASSERT_STRING_EQUAL(k.out, "hi ts\n");
    CU_ASSERT_STRING_EQUAL(k.err, "warn\n");
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(sess_close(m, "tess", NULL, NULL), SESS_OK);
    sess_session_release(&s);
    sess_manager_free(m);
}

/* ---------- cancelling a streamed run ---------- */

typedef struct {
    sess_cancel *cancel;
    const char *sandbox_id;
    int saw_session;         /* the run's toolbox session existed */
    int64_t fired_at;
} canceller;

/* Waits (up to 20 s) until the run's toolbox session exists, then fires. */
static void *cancel_thread(void *p)
{
    canceller *k = p;
    for (int i = 0; i < 400 && !k->saw_session; i++) {
        k->saw_session = run_sessions(k->sandbox_id) == 1;
        if (!k->saw_session)
            usleep(50000);
    }
    k->fired_at = time_mono_ms();
    sess_cancel_fire(k->cancel);
    return NULL;
}

static void test_stream_cancel(void)
{
    sess_session s = {0}, a = {0};
    sess_run_result r = {0};
    sess_error e;
    sink k = {0};
    sess_cancel *cancel = NULL;
    pthread_t t;
    start_ok(g_m, "nina", "python", &s);
    CU_ASSERT_EQUAL_FATAL(sess_cancel_new(&cancel, NULL), SESS_OK);
    CU_ASSERT_FALSE(sess_cancel_fired(cancel));
    /* A program that prints nothing: its callback never runs, so only the
     * token can stop it. */
    canceller ck = {cancel, s.sandbox_id, 0, 0};
    sess_stream_opts o = {0, cancel};
    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, cancel_thread, &ck), 0);
    sess_code c = sess_run_stream_opts(g_m, "nina", "import time\ntime.sleep(30)\n",
                                       &o, collect, &k, &r, &e);
    int64_t t1 = time_mono_ms();
    pthread_join(t, NULL);
    CU_ASSERT_TRUE(ck.saw_session);
    CU_ASSERT_EQUAL(c, SESS_ECANCELED);
    if (c == SESS_ECANCELED)
        CU_ASSERT_STRING_EQUAL(e.message, "the run was canceled");
    CU_ASSERT_EQUAL(k.chunks, 0);
    CU_ASSERT_TRUE(sess_cancel_fired(cancel));
    fprintf(stderr, "[canceled %lld ms after the fire, run took %lld ms] ",
            (long long)(t1 - ck.fired_at), (long long)(t1 - t0));
    CU_ASSERT_TRUE(t1 - ck.fired_at < 3000);
    CU_ASSERT_TRUE(t1 - t0 < 15000);
    /* No toolbox session left behind, and the session itself stands. */
    CU_ASSERT_EQUAL(run_sessions(s.sandbox_id), 0);
    CU_ASSERT_EQUAL(sess_active(g_m, "nina", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(a.id ? a.id : "", s.id);
    sess_session_release(&a);
    /* A fired token stops the next run before it starts; firing again is
     * harmless. */
    sess_cancel_fire(cancel);
    t0 = time_mono_ms();
    c = sess_run_stream_opts(g_m, "nina", "print('never')\n", &o, collect, &k,
                             &r, &e);
    CU_ASSERT_EQUAL(c, SESS_ECANCELED);
    CU_ASSERT_TRUE(time_mono_ms() - t0 < 1000);
    CU_ASSERT_EQUAL(k.chunks, 0);
    sess_cancel_free(cancel);
    /* A token that never fires changes nothing; the run is complete. */
    CU_ASSERT_EQUAL_FATAL(sess_cancel_new(&cancel, NULL), SESS_OK);
    o.cancel = cancel;
    c = sess_run_stream_opts(g_m, "nina", "print('done')\n", &o, collect, &k,
                             &r, &e);
    CU_ASSERT_EQUAL(c, SESS_OK);
    CU_ASSERT_EQUAL(r.exit_code, 0);
    CU_ASSERT_STRING_EQUAL(k.out, "done\n");
    sess_run_result_release(&r);
    /* Firing after the run is a no-op for the finished run. */
    sess_cancel_fire(cancel);
    CU_ASSERT_EQUAL(run_sessions(s.sandbox_id), 0);
    sess_cancel_free(cancel);
    CU_ASSERT_EQUAL(sess_run_stream_opts(g_m, "nina", "print(1)", NULL, NULL,
                                         NULL, &r, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_close(g_m, "nina", NULL, NULL), SESS_OK);
    sess_session_release(&s);
}

/* ---------- sandbox source and resources ---------- */

static void test_image_resources(void)
{
    sess_config cfg;
    sess_manager *m = NULL;
    sess_session s = {0};
    sess_run_result r = {0};
    sess_error e;
    char path[256];
    /* Resources without an image, and a snapshot with an image, are
     * refused at once rather than failing every start with Daytona's 400. */
    sess_config_init(&cfg);
    cfg.app = APP;
    cfg.cpu = 2;
    CU_ASSERT_EQUAL(sess_manager_new(g_client, g_store, &cfg, &m, &e), SESS_EINVAL);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_STRING_EQUAL(e.message, "cpu, memory and disk require an image: "
                           "Daytona accepts sandbox resources only for sandboxes "
                           "built from an image");
    cfg.cpu = -1;
    cfg.snapshot = "my-snapshot";
    cfg.image = "python:3.12";
    CU_ASSERT_EQUAL(sess_manager_new(g_client, g_store, &cfg, &m, &e), SESS_EINVAL);
    CU_ASSERT_STRING_EQUAL(e.message, "snapshot and image are mutually exclusive: "
                           "a sandbox is made from one or the other");
    /* An image with resources: the sandbox gets them. */
    cfg.snapshot = NULL;
    cfg.cpu = 2;
    cfg.memory = 2;
    cfg.auto_stop_minutes = 0;
    CU_ASSERT_EQUAL_FATAL(sess_manager_new(g_client, g_store, &cfg, &m, &e), SESS_OK);
    start_ok(m, "oscar", "python", &s);
    snprintf(path, sizeof path, "/api/sandbox/%s", s.sandbox_id);
    http_resp h = http_do(&g_emu, "GET", path, KEY, NULL, NULL, 0);
    CU_ASSERT_EQUAL(h.status, 200);
    CU_ASSERT_EQUAL(resp_num(&h, "cpu", -1), 2);
    CU_ASSERT_EQUAL(resp_num(&h, "memory", -1), 2);
    const cJSON *bi = cJSON_GetObjectItemCaseSensitive(h.json, "buildInfo");
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(bi, "dockerfileContent");
    CU_ASSERT_TRUE(cJSON_IsString(df) &&
                   strstr(df->valuestring, "FROM python:3.12") != NULL);
    http_resp_free(&h);
    /* Through libdaytona too, and the session works as any other. */
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_get(g_client, s.sandbox_id, &sb, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_cpu(sb), 2);
    CU_ASSERT_EQUAL(dt_sandbox_memory(sb), 2);
    dt_sandbox_free(sb);
    CU_ASSERT_EQUAL(run_ok(m, "oscar", "print(2 + 2)", &r), 0);
    CU_ASSERT_STRING_EQUAL(r.output, "4\n");
    sess_run_result_release(&r);
    CU_ASSERT_EQUAL(sess_close(m, "oscar", NULL, NULL), SESS_OK);
    CU_ASSERT_EQUAL(count_labelled(APP, "oscar", NULL, 0), 0);
    sess_session_release(&s);
    sess_manager_free(m);
}

/* ---------- concurrency ---------- */

#define N_THREADS 50

typedef struct {
    sess_manager *m;         /* shared, or NULL: a store and manager of
                                the thread's own (as separate replicas) */
    char user[32];
    sess_code rc;
    char msg[256];
} starter;

static void *start_thread(void *p)
{
    starter *a = p;
    sess_error e;
    sess_store *st = NULL;
    sess_manager *m = a->m;
    if (!m && sess_store_open(g_db, 60000, &st, &e) == SESS_OK)
        m = new_manager(g_client, st, APP, 0);
    a->rc = m ? sess_start(m, a->user, "python", NULL, &e) : SESS_EINVAL;
    if (a->rc != SESS_OK)
        snprintf(a->msg, sizeof a->msg, "%s", m ? e.message : "no manager");
    if (!a->m) {
        sess_manager_free(m);
        sess_store_close(st);
    }
    return NULL;
}

static void run_starters(starter *a, int n)
{
    pthread_t t[N_THREADS];
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, start_thread, &a[i]), 0);
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        if (a[i].rc != SESS_OK)
            fprintf(stderr, "start %s: %s\n", a[i].user, a[i].msg);
        CU_ASSERT_EQUAL(a[i].rc, SESS_OK);
    }
}

static void concurrent_one_user(int shared, const char *user)
{
    static starter a[N_THREADS];
    sess_session s = {0};
    char only[64] = "";
    for (int i = 0; i < N_THREADS; i++) {
        a[i] = (starter){.m = shared ? g_m : NULL};
        snprintf(a[i].user, sizeof a[i].user, "%s", user);
    }
    run_starters(a, N_THREADS);
    sess_session *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_store_list(g_store, user, 1, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 1);
    sess_session_list_free(v, n);
    CU_ASSERT_EQUAL(sess_store_list(g_store, user, 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, (size_t)N_THREADS);
    sess_session_list_free(v, n);
    /* Exactly one labelled sandbox, and it is the active session's. */
    CU_ASSERT_EQUAL(count_labelled(APP, user, only, sizeof only), 1);
    CU_ASSERT_EQUAL_FATAL(sess_active(g_m, user, &s, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(only, s.sandbox_id);
    sess_session_release(&s);
    CU_ASSERT_EQUAL(sess_close(g_m, user, NULL, NULL), SESS_OK);
    CU_ASSERT_EQUAL(count_labelled(APP, user, NULL, 0), 0);
    CU_ASSERT_EQUAL(sess_store_list(g_store, user, 0, 0, &v, &n, NULL), SESS_OK);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(v[i].status, SESS_CLOSED);
    sess_session_list_free(v, n);
}

static void test_concurrent_one_user(void)
{
    concurrent_one_user(1, "swarm");
}

/* The same with a connection and manager per thread: what several
 * service replicas on one database file do. */
static void test_concurrent_one_user_replicas(void)
{
    concurrent_one_user(0, "replicas");
}

/* Fifty users at once, each its own session and sandbox. */
static void test_concurrent_many_users(void)
{
    static starter a[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        a[i] = (starter){.m = g_m};
        snprintf(a[i].user, sizeof a[i].user, "crowd-%02d", i);
    }
    run_starters(a, N_THREADS);
    char seen[N_THREADS][64];
    for (int i = 0; i < N_THREADS; i++) {
        sess_session s = {0};
        char only[64] = "";
        seen[i][0] = '\0';
        CU_ASSERT_EQUAL(count_labelled(APP, a[i].user, only, sizeof only), 1);
        if (sess_active(g_m, a[i].user, &s, NULL) == SESS_OK) {
            CU_ASSERT_STRING_EQUAL(only, s.sandbox_id);
            snprintf(seen[i], sizeof seen[i], "%s", s.sandbox_id);
        } else {
            CU_FAIL("no active session");
        }
        for (int j = 0; j < i; j++)
            CU_ASSERT_STRING_NOT_EQUAL(seen[i], seen[j]);
        sess_session_release(&s);
    }
    for (int i = 0; i < N_THREADS; i++)
        CU_ASSERT_EQUAL(sess_close(g_m, a[i].user, NULL, NULL), SESS_OK);
}

/* ---------- crashes and reap ---------- */

typedef struct {
    sess_hook_point at;
    int fd;                  /* write end of the "reached it" pipe */
} crash_spec;

/* At the fault point: tell the parent, then wait to be killed.  The kill
 * comes from outside, as a crash or an operator's SIGKILL would (a process
 * killing itself would let valgrind run its exit report in the child). */
static void park_at(void *ctx, sess_hook_point p, const char *sandbox_id)
{
    const crash_spec *c = ctx;
    (void)sandbox_id;
    if (p != c->at)
        return;
    if (write(c->fd, "!", 1) != 1)
        _exit(4);
    for (;;)
        pause();
}

/* In a child process with its own client, store and manager: start (or
 * close) for user, stopping at the fault point `at` where the parent kills
 * it with SIGKILL.  Returns 1 when the child reached the point and died of
 * that signal. */
static int crash_child(const char *app, const char *user, int close_op,
                       sess_hook_point at)
{
    int fds[2];
    char b;
    if (pipe(fds) != 0)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        crash_spec spec = {at, fds[1]};
        sess_store *st = NULL;
        close(fds[0]);
        dt_client *c = new_client();
        if (!c || sess_store_open(g_db, 0, &st, NULL) != SESS_OK)
            _exit(2);
        sess_manager *m = new_manager(c, st, app, 0);
        if (!m)
            _exit(2);
        sess_manager_set_hook(m, park_at, &spec);
        if (close_op)
            sess_close(m, user, NULL, NULL);
        else
            sess_start(m, user, "python", NULL, NULL);
        _exit(3);   /* the fault point was not reached */
    }
    close(fds[1]);
    /* EOF instead of the byte: the child ended without reaching it. */
    int reached = pid > 0 && read(fds[0], &b, 1) == 1;
    close(fds[0]);
    if (pid > 0)
        kill(pid, SIGKILL);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    if (!reached || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "child: reached %d, status %d\n", reached, status);
        return 0;
    }
    return 1;
}

static sess_reap_report reap_ok(sess_manager *m)
{
    sess_reap_report r = {0};
    sess_error e;
    sess_code c = sess_reap(m, &r, &e);
    if (c != SESS_OK)
        fprintf(stderr, "reap: %s\n", e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    return r;
}

static void test_crash_after_create(void)
{
    const char *app = "crash-create";
    sess_manager *m = new_manager(g_client, g_store, app, 0);
    sess_session s = {0};
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_FATAL(crash_child(app, "kai", 0, SESS_HOOK_AFTER_CREATE));
    /* An orphan: labelled, started, no session. */
    CU_ASSERT_EQUAL(count_labelled(app, "kai", NULL, 0), 1);
    CU_ASSERT_EQUAL(sess_active(m, "kai", &s, NULL), SESS_ENOTFOUND);
    /* Inside the grace period reap leaves it alone... */
    sess_manager *patient = new_manager(g_client, g_store, app, 600000);
    sess_reap_report r = reap_ok(patient);
    CU_ASSERT_EQUAL(r.sandboxes_seen, 1);
    CU_ASSERT_EQUAL(r.sandboxes_young, 1);
    CU_ASSERT_EQUAL(r.sandboxes_deleted, 0);
    CU_ASSERT_EQUAL(count_labelled(app, "kai", NULL, 0), 1);
    sess_manager_free(patient);
    /* ...after it, the orphan goes. */
    r = reap_ok(m);
    CU_ASSERT_EQUAL(r.sandboxes_seen, 1);
    CU_ASSERT_EQUAL(r.sandboxes_deleted, 1);
    CU_ASSERT_EQUAL(r.sessions_closed, 0);
    CU_ASSERT_EQUAL(r.failures, 0);
    CU_ASSERT_EQUAL(count_labelled(app, NULL, NULL, 0), 0);
    /* Reap again: nothing left to do. */
    r = reap_ok(m);
    CU_ASSERT_EQUAL(r.sandboxes_seen, 0);
    CU_ASSERT_EQUAL(r.sandboxes_deleted, 0);
    sess_manager_free(m);
}

static void test_crash_after_record(void)
{
    const char *app = "crash-record";
    sess_manager *m = new_manager(g_client, g_store, app, 0);
    sess_session first = {0}, a = {0};
    sess_run_result out = {0};
    CU_ASSERT_FATAL(m != NULL);
    start_ok(m, "lena", "python", &first);
    CU_ASSERT_FATAL(crash_child(app, "lena", 0, SESS_HOOK_AFTER_RECORD));
    /* The new session is recorded; the replaced sandbox still lives. */
    CU_ASSERT_EQUAL_FATAL(sess_active(m, "lena", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_NOT_EQUAL(a.id, first.id);
    CU_ASSERT_EQUAL(count_labelled(app, "lena", NULL, 0), 2);
    sess_reap_report r = reap_ok(m);
    CU_ASSERT_EQUAL(r.sandboxes_seen, 2);
    CU_ASSERT_EQUAL(r.sandboxes_deleted, 1);
    CU_ASSERT_EQUAL(r.sessions_closed, 0);
    char only[64] = "", v[16];
    CU_ASSERT_EQUAL(count_labelled(app, "lena", only, sizeof only), 1);
    CU_ASSERT_STRING_EQUAL(only, a.sandbox_id);
    sandbox_state(first.sandbox_id, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "404");
    /* The surviving session works. */
    CU_ASSERT_EQUAL(run_ok(m, "lena", "print('survived')", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.output, "survived\n");
    sess_run_result_release(&out);
    CU_ASSERT_EQUAL(sess_close(m, "lena", NULL, NULL), SESS_OK);
    sess_session_release(&a);
    sess_session_release(&first);
    sess_manager_free(m);
}

static void test_crash_after_close(void)
{
    const char *app = "crash-close";
    sess_manager *m = new_manager(g_client, g_store, app, 0);
    sess_session s = {0}, a = {0};
    CU_ASSERT_FATAL(m != NULL);
    start_ok(m, "mia", "python", &s);
    CU_ASSERT_FATAL(crash_child(app, "mia", 1, SESS_HOOK_AFTER_CLOSE));
    CU_ASSERT_EQUAL(sess_active(m, "mia", &a, NULL), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(count_labelled(app, "mia", NULL, 0), 1);
    sess_reap_report r = reap_ok(m);
    CU_ASSERT_EQUAL(r.sandboxes_deleted, 1);
    CU_ASSERT_EQUAL(count_labelled(app, NULL, NULL, 0), 0);
    sess_session_release(&s);
    sess_manager_free(m);
}

/* Reap closes active sessions whose sandbox vanished, and leaves healthy
 * ones (and other apps' sandboxes) alone. */
static void test_reap_closes_gone_sessions(void)
{
    const char *app = "reap-gone";
    sess_manager *m = new_manager(g_client, g_store, app, 0);
    sess_session gone = {0}, ok = {0}, other = {0}, a = {0};
    CU_ASSERT_FATAL(m != NULL);
    start_ok(m, "nora", "python", &gone);
    start_ok(m, "omar", "python", &ok);
    start_ok(g_m, "pia", "python", &other);     /* another app */
    CU_ASSERT_EQUAL(behind_back("DELETE", gone.sandbox_id, ""), 200);
    CU_ASSERT_FATAL(wait_state(gone.sandbox_id, "404"));
    sess_reap_report r = reap_ok(m);
    CU_ASSERT_EQUAL(r.sandboxes_seen, 1);
    CU_ASSERT_EQUAL(r.sandboxes_deleted, 0);
    CU_ASSERT_EQUAL(r.sessions_closed, 1);
    CU_ASSERT_EQUAL(r.failures, 0);
    CU_ASSERT_EQUAL(sess_active(m, "nora", &a, NULL), SESS_ENOTFOUND);
    sess_session *h = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_history(m, "nora", 0, &h, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(h[0].close_reason, SESS_REASON_SANDBOX_GONE);
    sess_session_list_free(h, n);
    CU_ASSERT_EQUAL(sess_active(m, "omar", &a, NULL), SESS_OK);
    sess_session_release(&a);
    char v[32];
    sandbox_state(other.sandbox_id, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(v, "started");
    CU_ASSERT_EQUAL(sess_close(m, "omar", NULL, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess_close(g_m, "pia", NULL, NULL), SESS_OK);
    sess_session_release(&gone);
    sess_session_release(&ok);
    sess_session_release(&other);
    sess_manager_free(m);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("sess_manager", suite_init, suite_cleanup);
    CU_add_test(s, "start, run, close", test_start_run_close);
    CU_add_test(s, "languages case-insensitive", test_languages);
    CU_add_test(s, "unsupported language", test_unsupported_language);
    CU_add_test(s, "starting again replaces and deletes", test_start_again_replaces);
    CU_add_test(s, "run resumes a stopped sandbox", test_run_resumes_stopped);
    CU_add_test(s, "run resumes an archived sandbox", test_run_resumes_archived);
    CU_add_test(s, "run after the sandbox was deleted", test_run_after_deleted);
    CU_add_test(s, "another user's session unreachable", test_other_user_unreachable);
    CU_add_test(s, "streamed run (python)", test_stream);
    CU_add_test(s, "streamed run (javascript)", test_stream_javascript);
    CU_add_test(s, "streamed run (typescript)", test_stream_typescript);
    CU_add_test(s, "streamed run cancelled from another thread", test_stream_cancel);
    CU_add_test(s, "image and resources", test_image_resources);
    CU_add_test(s, "50 starts for one user", test_concurrent_one_user);
    CU_add_test(s, "50 starts for one user, 50 connections", test_concurrent_one_user_replicas);
    CU_add_test(s, "50 users at once", test_concurrent_many_users);
    CU_add_test(s, "crash after create, reap", test_crash_after_create);
    CU_add_test(s, "crash after record, reap", test_crash_after_record);
    CU_add_test(s, "crash after close, reap", test_crash_after_close);
    CU_add_test(s, "reap closes sessions whose sandbox is gone", test_reap_closes_gone_sessions);
    return cu_run_and_cleanup();
}
