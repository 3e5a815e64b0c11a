/*
 * test_persist.c - state survives the process: the real daytona-emu binary
 * on a data directory, stopped (or killed) and started again on it.
 *
 * Suite "persist":
 *  - a clean restart keeps every sandbox byte for byte (only the
 *    toolboxProxyUrl's port may change), keeps destroyed ones gone, and
 *    keeps the clock offset;
 *  - a transition in flight at shutdown still completes after the restart;
 *  - SIGKILL while a client creates sandboxes in a loop loses nothing that
 *    was acknowledged, and leaves a consistent database;
 *  - a database with another schema version is refused at start-up with a
 *    clear message and a non-zero exit, and is left untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "cu_run.h"
#include "emu_harness.h"
#include "test_net.h"
#include "timeutil.h"

#define K1 "k1"

static const char *const keys_args[] = {"--api-key", K1, NULL};

/* One request that must answer `want`; prints the body when it does not. */
static void expect(const emu_proc *e, const char *method, const char *path,
                   const char *body, long want)
{
    http_resp r = http_do(e, method, path, K1, NULL, body, body ? -1 : 0);
    CU_ASSERT_EQUAL(r.status, want);
    if (r.status != want)
        fprintf(stderr, "\n  %s %s -> %ld %s\n", method, path, r.status, r.body);
    http_resp_free(&r);
}

/* GET /api/sandbox/<key>; returns the parsed body (caller deletes) or NULL
 * with *status set. */
static cJSON *get_sandbox(const emu_proc *e, const char *key, long *status)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s", key);
    http_resp r = http_do(e, "GET", path, K1, NULL, NULL, 0);
    *status = r.status;
    cJSON *j = r.status == 200 ? r.json : NULL;
    r.json = NULL;
    http_resp_free(&r);
    return j;
}

/* Counts every list item by walking the cursor pages; -1 on an error. */
static int count_sandboxes(const emu_proc *e)
{
    int n = 0;
    char cursor[512] = "";
    for (int page = 0; page < 1000; page++) {
        char path[700];
        snprintf(path, sizeof path, "/api/sandbox?limit=200%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        http_resp r = http_do(e, "GET", path, K1, NULL, NULL, 0);
        if (r.status != 200) {
            fprintf(stderr, "\n  list -> %ld %s\n", r.status, r.body);
            http_resp_free(&r);
            return -1;
        }
        n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items"));
        const cJSON *nc = cJSON_GetObjectItemCaseSensitive(r.json, "nextCursor");
        int more = cJSON_IsString(nc) && nc->valuestring[0];
        if (more) {
            /* URL-encode the opaque cursor (base64 may hold + / =). */
            char *enc = curl_easy_escape(NULL, nc->valuestring, 0);
            snprintf(cursor, sizeof cursor, "%s", enc ? enc : "");
            curl_free(enc);
        }
        http_resp_free(&r);
        if (!more)
            return n;
    }
    return -1;
}

/* Runs a shell-free check of the database file: PRAGMA integrity_check. */
static void assert_db_ok(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/emulator.db", dir);
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                          SQLITE_OK);
    sqlite3_stmt *s = NULL;
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL),
                    SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(s), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(s, 0);
    CU_ASSERT(t && strcmp((const char *)t, "ok") == 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* ---------- restart keeps everything ---------- */

static const char *const names[] = {
    "p-started", "p-stopped", "p-archived", "p-net", "p-error", "p-image",
};
#define NNAMES (sizeof names / sizeof names[0])

static void make_fixture(const emu_proc *e, char destroyed_id[64])
{
    expect(e, "POST", "/api/sandbox",
           "{\"name\":\"p-started\",\"labels\":{\"team\":\"a\",\"x\":\"y\"},"
           "\"env\":{\"FOO\":\"bar\",\"EMPTY\":\"\",\"Q\":\"a \\\"quoted\\\" v\"}}", 200);
    expect(e, "PUT", "/api/sandbox/p-started/labels",
           "{\"labels\":{\"team\":\"b\",\"\\u00e9t\\u00e9\":\"\\u2713\"}}", 200);
    expect(e, "POST", "/api/sandbox",
           "{\"name\":\"p-stopped\",\"autoStopInterval\":0,\"public\":true}", 200);
    expect(e, "POST", "/api/sandbox/p-stopped/stop", NULL, 200);
    expect(e, "POST", "/api/sandbox", "{\"name\":\"p-archived\"}", 200);
    expect(e, "POST", "/api/sandbox/p-archived/stop", NULL, 200);
    expect(e, "POST", "/api/sandbox/p-archived/archive", NULL, 200);
    expect(e, "POST", "/api/sandbox",
           "{\"name\":\"p-net\",\"networkBlockAll\":true,\"networkAllowList\":"
           "\"10.0.0.0/8\",\"autoArchiveInterval\":120,\"autoDeleteInterval\":500,"
           "\"user\":\"root\",\"target\":\"eu\"}", 200);
    expect(e, "POST", "/api/sandbox/p-net/autostop/45", NULL, 201);
    expect(e, "POST", "/api/sandbox",
           "{\"name\":\"p-image\",\"buildInfo\":{\"dockerfileContent\":"
           "\"FROM python:3.12\\n\"},\"cpu\":2,\"memory\":2}", 200);
    /* An errored sandbox, through a failing start. */
    expect(e, "POST", "/api/sandbox", "{\"name\":\"p-error\"}", 200);
    expect(e, "POST", "/api/sandbox/p-error/stop", NULL, 200);
    http_resp r = http_do(e, "POST", "/_emulator/transitions", NULL, NULL,
                          "{\"transition\":\"start\",\"result\":\"error\","
                          "\"errorReason\":\"disk on fire\"}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    expect(e, "POST", "/api/sandbox/p-error/start", NULL, 400);
    r = http_do(e, "DELETE", "/_emulator/transitions", NULL, NULL, NULL, 0);
    http_resp_free(&r);
    /* And a destroyed one. */
    r = http_do(e, "POST", "/api/sandbox", K1, NULL, "{\"name\":\"p-destroyed\"}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    snprintf(destroyed_id, 64, "%s", resp_str(&r, "id") ? resp_str(&r, "id") : "none");
    http_resp_free(&r);
    expect(e, "DELETE", "/api/sandbox/p-destroyed", NULL, 200);
    char path[128];
    snprintf(path, sizeof path, "/api/sandbox/%s", destroyed_id);
    expect(e, "GET", path, NULL, 404);
}

static void test_restart_identical(void)
{
    emu_proc e, e2;
    CU_ASSERT_FATAL(emu_start(&e, NULL, keys_args) == 0);
    char dir[512], destroyed_id[64];
    snprintf(dir, sizeof dir, "%s", e.data_dir);
    make_fixture(&e, destroyed_id);
    http_resp r = http_do(&e, "POST", "/_emulator/clock", NULL, NULL,
                          "{\"advanceMinutes\":5}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);

    cJSON *before[NNAMES];
    for (size_t i = 0; i < NNAMES; i++) {
        long st;
        before[i] = get_sandbox(&e, names[i], &st);
        CU_ASSERT_EQUAL(st, 200);
    }
    int count_before = count_sandboxes(&e);
    CU_ASSERT_EQUAL(count_before, (int)NNAMES);
    CU_ASSERT_EQUAL(emu_stop_keep(&e), 0);

    CU_ASSERT_FATAL(emu_start(&e2, dir, keys_args) == 0);
    e2.owns_dir = 1;     /* the harness made it for e; remove it at the end */
    char want_tb[128];
    snprintf(want_tb, sizeof want_tb, "http://127.0.0.1:%u/toolbox", e2.port);
    for (size_t i = 0; i < NNAMES; i++) {
        long st;
        cJSON *after = get_sandbox(&e2, names[i], &st);
        CU_ASSERT_EQUAL(st, 200);
        const cJSON *tb = cJSON_GetObjectItemCaseSensitive(after, "toolboxProxyUrl");
        CU_ASSERT(cJSON_IsString(tb) && strcmp(tb->valuestring, want_tb) == 0);
        cJSON_DeleteItemFromObjectCaseSensitive(after, "toolboxProxyUrl");
        cJSON_DeleteItemFromObjectCaseSensitive(before[i], "toolboxProxyUrl");
        int same = before[i] && after && cJSON_Compare(before[i], after, 1);
        CU_ASSERT(same);
        if (!same) {
            char *a = cJSON_PrintUnformatted(before[i]);
            char *b = cJSON_PrintUnformatted(after);
            fprintf(stderr, "\n  %s differs:\n  before %s\n  after  %s\n",
                    names[i], a ? a : "null", b ? b : "null");
            free(a);
            free(b);
        }
        cJSON_Delete(after);
        cJSON_Delete(before[i]);
    }
    /* Spot checks of what the fixture set up. */
    long st;
    cJSON *s = get_sandbox(&e2, "p-archived", &st);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(s, "state");
    CU_ASSERT(cJSON_IsString(state) && strcmp(state->valuestring, "archived") == 0);
    cJSON_Delete(s);
    s = get_sandbox(&e2, "p-error", &st);
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(s, "errorReason");
    CU_ASSERT(cJSON_IsString(reason) && strcmp(reason->valuestring, "disk on fire") == 0);
    cJSON_Delete(s);

    char path[128];
    snprintf(path, sizeof path, "/api/sandbox/%s", destroyed_id);
    expect(&e2, "GET", path, NULL, 404);
    expect(&e2, "GET", "/api/sandbox/p-destroyed", NULL, 404);
    CU_ASSERT_EQUAL(count_sandboxes(&e2), count_before);

    r = http_do(&e2, "GET", "/_emulator/clock", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 5 * 60000);
    http_resp_free(&r);
    /* The name of the destroyed sandbox is still free. */
    expect(&e2, "POST", "/api/sandbox", "{\"name\":\"p-destroyed\"}", 200);
    CU_ASSERT_EQUAL(emu_stop(&e2), 0);
}

/* A transition in flight at shutdown finishes after the restart, on time:
 * the in-flight pair and its due time are part of the stored record. */
static void test_transition_in_flight_survives(void)
{
    emu_proc e, e2;
    CU_ASSERT_FATAL(emu_start(&e, NULL, keys_args) == 0);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", e.data_dir);
    expect(&e, "POST", "/api/sandbox", "{\"name\":\"inflight\"}", 200);
    http_resp r = http_do(&e, "POST", "/_emulator/transitions", NULL, NULL,
                          "{\"transition\":\"stop\",\"durationMs\":1500}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    int64_t t0 = time_mono_ms();
    expect(&e, "POST", "/api/sandbox/inflight/stop", NULL, 200);
    CU_ASSERT_EQUAL(emu_stop_keep(&e), 0);
    CU_ASSERT_FATAL(emu_start(&e2, dir, keys_args) == 0);
    e2.owns_dir = 1;
    long st;
    cJSON *s = get_sandbox(&e2, "inflight", &st);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(s, "state");
    CU_ASSERT(cJSON_IsString(state) && strcmp(state->valuestring, "stopping") == 0);
    cJSON_Delete(s);
    expect(&e2, "DELETE", "/api/sandbox/inflight", NULL, 409);
    int done = 0;
    while (!done && time_mono_ms() - t0 < 6000) {
        s = get_sandbox(&e2, "inflight", &st);
        state = cJSON_GetObjectItemCaseSensitive(s, "state");
        done = cJSON_IsString(state) && strcmp(state->valuestring, "stopped") == 0;
        cJSON_Delete(s);
        if (!done)
            tn_sleep_ms(50);
    }
    CU_ASSERT(done);
    CU_ASSERT(time_mono_ms() - t0 >= 1400);
    CU_ASSERT_EQUAL(emu_stop(&e2), 0);
}

/* ---------- SIGKILL mid-stream ---------- */

#define MAX_ACKED 20000

typedef struct {
    const emu_proc *e;
    char (*ids)[40];
    int acked;
    int unexpected;      /* answers other than 200 before the kill */
    long last_status;
} creator;

static void *create_loop(void *arg)
{
    creator *c = arg;
    for (int i = 0; c->acked < MAX_ACKED; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"name\":\"crash-%d\"}", i);
        http_resp r = http_do(c->e, "POST", "/api/sandbox", K1, NULL, body, -1);
        c->last_status = r.status;
        const char *id = resp_str(&r, "id");
        if (r.status == 200 && id)
            snprintf(c->ids[c->acked++], 40, "%s", id);
        else if (r.status != 0)
            c->unexpected++;
        http_resp_free(&r);
        if (c->last_status == 0)
            break;       /* the process is gone */
    }
    return NULL;
}

static void test_sigkill_loses_nothing_acknowledged(void)
{
    emu_proc e, e2;
    CU_ASSERT_FATAL(emu_start(&e, NULL, keys_args) == 0);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", e.data_dir);
    http_resp r = http_do(&e, "POST", "/_emulator/clock", NULL, NULL,
                          "{\"advanceMinutes\":7}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    creator c = {&e, calloc(MAX_ACKED, 40), 0, 0, -1};
    CU_ASSERT_FATAL(c.ids != NULL);
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, create_loop, &c) == 0);
    tn_sleep_ms(300);
    emu_kill9(&e);
    pthread_join(t, NULL);
    CU_ASSERT(c.acked > 0);
    CU_ASSERT_EQUAL(c.unexpected, 0);
    CU_ASSERT_EQUAL(c.last_status, 0);

    CU_ASSERT_FATAL(emu_start(&e2, dir, keys_args) == 0);
    e2.owns_dir = 1;
    int missing = 0;
    for (int i = 0; i < c.acked; i++) {
        long st;
        cJSON *s = get_sandbox(&e2, c.ids[i], &st);
        if (st != 200) {
            if (missing++ < 5)
                fprintf(stderr, "\n  acknowledged %s -> %ld after restart\n",
                        c.ids[i], st);
        }
        cJSON_Delete(s);
    }
    CU_ASSERT_EQUAL(missing, 0);
    int n = count_sandboxes(&e2);
    /* At most the one request in flight at the kill may also have landed. */
    CU_ASSERT(n >= c.acked && n <= c.acked + 1);
    if (n < c.acked || n > c.acked + 1)
        fprintf(stderr, "\n  %d listed, %d acknowledged\n", n, c.acked);
    r = http_do(&e2, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(resp_num(&r, "sandboxes", -1), (double)n);
    http_resp_free(&r);
    /* The clock offset was acknowledged too. */
    r = http_do(&e2, "GET", "/_emulator/clock", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 7 * 60000);
    http_resp_free(&r);
    /* The store still takes writes. */
    expect(&e2, "POST", "/api/sandbox", "{\"name\":\"after-crash\"}", 200);
    CU_ASSERT_EQUAL(emu_stop_keep(&e2), 0);
    assert_db_ok(dir);
    emu_cleanup_dir(&e2);
    free(c.ids);
}

/* ---------- schema version ---------- */

/* Runs argv to completion (at most timeout_ms), capturing stderr into err
 * (NUL-terminated, truncated to n).  Returns the exit status, 128+signal,
 * or -1 (spawn failure or timeout: the child is then killed). */
static int run_capture_stderr(char *const argv[], char *err, size_t n,
                              int timeout_ms)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0)
            break;
        struct pollfd pf = {p[0], POLLIN, 0};
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        char tmp[512];
        ssize_t got = read(p[0], tmp, sizeof tmp);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t take = (size_t)got < n - 1 - len ? (size_t)got : n - 1 - len;
        memcpy(err + len, tmp, take);
        len += take;
    }
    err[len] = '\0';
    close(p[0]);
    int status = -1, st;
    while (time_mono_ms() < deadline) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        tn_sleep_ms(10);
    }
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return status;
}

static void set_schema_version(const char *dir, int v)
{
    char path[700];
    snprintf(path, sizeof path, "%s/emulator.db", dir);
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                          SQLITE_OK);
    sqlite3_stmt *s = NULL;
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "UPDATE meta SET value=? WHERE "
                                       "key='schema_version'", -1, &s, NULL),
                    SQLITE_OK);
    sqlite3_bind_int(s, 1, v);
    CU_ASSERT_EQUAL(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    CU_ASSERT_EQUAL(sqlite3_changes(db), 1);
    sqlite3_close(db);
}

static int get_schema_version(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/emulator.db", dir);
    sqlite3 *db = NULL;
    int v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE "
                               "key='schema_version'", -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return v;
}

static void test_schema_version_mismatch(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, NULL, keys_args) == 0);
    expect(&e, "POST", "/api/sandbox", "{\"name\":\"old\"}", 200);
    CU_ASSERT_EQUAL(emu_stop_keep(&e), 0);
    int orig = get_schema_version(e.data_dir);
    CU_ASSERT(orig > 0 && orig != 99);
    set_schema_version(e.data_dir, 99);

    char pf[700], err[4096];
    snprintf(pf, sizeof pf, "%s/port", e.data_dir);
    char *argv[] = {(char *)getenv("EMU_BIN"), "--port", "0", "--port-file", pf,
                    "--data-dir", e.data_dir, NULL};
    int64_t t0 = time_mono_ms();
    int st = run_capture_stderr(argv, err, sizeof err, 5000);
    int64_t took = time_mono_ms() - t0;
    CU_ASSERT(st > 0 && st < 128);
    CU_ASSERT(took < 3000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "schema version"));
    if (!strstr(err, "schema version") || st <= 0)
        fprintf(stderr, "\n  exit %d, stderr: %s\n", st, err);
    CU_ASSERT_EQUAL(access(pf, F_OK), -1);       /* never listened */
    CU_ASSERT_EQUAL(get_schema_version(e.data_dir), 99);   /* untouched */

    /* Put the version back: the data is served again. */
    set_schema_version(e.data_dir, orig);
    emu_proc e2;
    CU_ASSERT_FATAL(emu_start(&e2, e.data_dir, keys_args) == 0);
    expect(&e2, "GET", "/api/sandbox/old", NULL, 200);
    CU_ASSERT_EQUAL(emu_stop(&e2), 0);
    emu_cleanup_dir(&e);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("persist", NULL, NULL);
    CU_add_test(s, "restart keeps everything", test_restart_identical);
    CU_add_test(s, "transition in flight survives a restart",
                test_transition_in_flight_survives);
    CU_add_test(s, "SIGKILL loses nothing acknowledged",
                test_sigkill_loses_nothing_acknowledged);
    CU_add_test(s, "other schema version refused", test_schema_version_mismatch);
    return cu_run_and_cleanup();
}
