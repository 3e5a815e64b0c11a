/*
 * test_client_retry.c - libdaytona's transport against the real emulator
 * with its fault injection (/_emulator/faults): transient failures (503,
 * 429, 502 on GET, dropped connections, latency past the request timeout)
 * are retried and recover; a 400 or 401 is not retried; a POST that may
 * have been applied (dropped connection, 502) is not repeated, while one
 * refused with 503 is; the total time bound holds; connection refused is
 * reported as DT_ECONNECT; the response cap gives DT_ETOOBIG; a WebSocket
 * upgrade refused with 404 is decoded like any error; one client serves
 * several threads at once.
 *
 * The request counts come from the emulator's request journal, so "not
 * retried" is checked on the server side, not inferred from timing.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "cu_run.h"
#include "client_harness.h"
#include "emu_harness.h"
#include "internal.h"
#include "timeutil.h"

static emu_proc g_emu;
static char g_api[128];
static char g_sandbox[64];

static int suite_init(void)
{
    if (ch_start(&g_emu, g_api, sizeof g_api, "k1") != 0)
        return 1;
    http_resp r = http_do(&g_emu, "POST", "/api/sandbox", "k1", NULL, "{}", -1);
    int ok = r.status == 200 && resp_str(&r, "id");
    if (!ok)
        fprintf(stderr, "create: %ld %s\n", r.status, r.body ? r.body : "");
    if (ok)
        snprintf(g_sandbox, sizeof g_sandbox, "%s", resp_str(&r, "id"));
    http_resp_free(&r);
    return ok ? 0 : 1;
}

static int suite_cleanup(void)
{
    ch_stop(&g_emu);
    return 0;
}

/* A client for the suite's emulator with a fast retry policy. */
static dt_client *client(int attempts, long timeout_ms, long total_ms)
{
    dt_config cfg;
    ch_config(&cfg, g_api, "k1");
    cfg.request_timeout_ms = timeout_ms;
    cfg.retry.max_attempts = attempts;
    cfg.retry.initial_backoff_ms = 20;
    cfg.retry.max_backoff_ms = 100;
    cfg.retry.total_ms = total_ms;
    return ch_client(&cfg);
}

static void add_fault(const char *json)
{
    http_resp r = http_do(&g_emu, "POST", "/_emulator/faults", NULL, NULL,
                          json, -1);
    CU_ASSERT_EQUAL(r.status, 201);
    http_resp_free(&r);
}

static void reset_faults_and_journal(void)
{
    http_resp r = http_do(&g_emu, "DELETE", "/_emulator/faults", NULL, NULL,
                          NULL, 0);
    http_resp_free(&r);
    r = http_do(&g_emu, "DELETE", "/_emulator/journal", NULL, NULL, NULL, 0);
    http_resp_free(&r);
}

/* How many journaled requests had this method and path; statuses are
 * written to out (comma-separated) for exact checks. */
static int journal_count(const char *method, const char *path, char *out,
                         size_t cap)
{
    http_resp r = http_do(&g_emu, "GET", "/_emulator/journal?limit=1000",
                          NULL, NULL, NULL, 0);
    int n = 0;
    size_t used = 0;
    if (out)
        out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries")) {
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(e, "method"));
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(e, "path"));
        if (!m || !p || strcmp(m, method) != 0 || strcmp(p, path) != 0)
            continue;
        n++;
        if (out && used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%d",
                                     used ? "," : "",
                                     (int)cJSON_GetNumberValue(
                                         cJSON_GetObjectItem(e, "status")));
    }
    http_resp_free(&r);
    return n;
}

static char *url_of(const char *path)
{
    dt__url u;
    dt__url_init(&u, g_api);
    dt__url_raw(&u, path);
    return dt__url_take(&u, NULL);
}

static dt_code get_sandbox(dt_client *c, dt_error *e)
{
    char path[128];
    snprintf(path, sizeof path, "/sandbox/%s", g_sandbox);
    char *url = url_of(path);
    cJSON *out = NULL;
    dt_code rc = dt__json(c, "GET", url, NULL, &out, e);
    if (rc == DT_OK)
        CU_ASSERT_STRING_EQUAL(dt__jstr(out, "id"), g_sandbox);
    cJSON_Delete(out);
    free(url);
    return rc;
}

static int count_sandboxes(void)
{
    http_resp r = http_do(&g_emu, "GET", "/api/sandbox?limit=200", "k1", NULL,
                          NULL, 0);
    const cJSON *items = cJSON_GetObjectItem(r.json, "items");
    int n = cJSON_IsArray(items) ? cJSON_GetArraySize(items) : -1;
    http_resp_free(&r);
    return n;
}

static void sandbox_path(char *out, size_t n)
{
    snprintf(out, n, "/api/sandbox/%s", g_sandbox);
}

/* ---- idempotent requests recover ---- */

static void test_get_503_retried(void)
{
    char path[128], st[256];
    sandbox_path(path, sizeof path);
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":503,"
              "\"times\":2}");
    dt_client *c = client(4, 5000, 10000);
    dt_error e = {0};
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_OK);
    CU_ASSERT_EQUAL(journal_count("GET", path, st, sizeof st), 3);
    CU_ASSERT_STRING_EQUAL(st, "503,503,200");
    dt_client_free(c);
}

static void test_get_drop_and_429_retried(void)
{
    char path[128], st[256];
    sandbox_path(path, sizeof path);
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"drop\":true,"
              "\"times\":1}");
    dt_client *c = client(4, 5000, 10000);
    dt_error e = {0};
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_OK);
    CU_ASSERT_EQUAL(journal_count("GET", path, st, sizeof st), 2);
    CU_ASSERT_STRING_EQUAL(st, "0,200");

    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":429,"
              "\"times\":2}");
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_OK);
    CU_ASSERT_EQUAL(journal_count("GET", path, st, sizeof st), 3);
    CU_ASSERT_STRING_EQUAL(st, "429,429,200");
    dt_client_free(c);
}

static void test_latency_timeout_retried(void)
{
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\","
              "\"latencyMs\":1500,\"times\":1}");
    /* Without retries the slow answer is a timeout ... */
    dt_client *once = client(1, 300, 10000);
    dt_error e = {0};
    CU_ASSERT_EQUAL(get_sandbox(once, &e), DT_ETIMEOUT);
    CU_ASSERT_EQUAL(e.status, 0);
    dt_client_free(once);
    /* ... and with them the second attempt (no latency) succeeds. */
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\","
              "\"latencyMs\":1500,\"times\":1}");
    dt_client *c = client(3, 300, 10000);
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_OK);
    dt_client_free(c);
    /* The abandoned slow requests finish on the server later and would
     * land in the next test's journal: let them. */
    usleep(1700 * 1000);
}

static void test_retry_after_honoured(void)
{
    char path[128], st[256];
    sandbox_path(path, sizeof path);
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":429,"
              "\"retryAfter\":1,\"times\":1}");
    /* The client's own backoff is at most 100 ms: a wait of about a
     * second can only come from the server's Retry-After. */
    dt_client *c = client(4, 5000, 10000);
    dt_error e = {0};
    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_OK);
    CU_ASSERT(time_mono_ms() - t0 >= 950);
    CU_ASSERT_EQUAL(journal_count("GET", path, st, sizeof st), 2);
    CU_ASSERT_STRING_EQUAL(st, "429,200");

    /* A Retry-After beyond the total budget: give up at once with the
     * server's error instead of sleeping past the bound. */
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":503,"
              "\"message\":\"maintenance\",\"retryAfter\":60,\"times\":1}");
    t0 = time_mono_ms();
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_ESERVER);
    CU_ASSERT(time_mono_ms() - t0 < 10000);
    CU_ASSERT_EQUAL(e.status, 503);
    CU_ASSERT_STRING_EQUAL(e.message, "maintenance");
    CU_ASSERT_EQUAL(journal_count("GET", path, NULL, 0), 1);
    dt_client_free(c);
    reset_faults_and_journal();
}

/* ---- what is never retried ---- */

static void test_400_and_401_not_retried(void)
{
    char path[128], st[256];
    sandbox_path(path, sizeof path);
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":400,"
              "\"message\":\"bad thing\",\"times\":5}");
    dt_client *c = client(5, 5000, 10000);
    dt_error e = {0};
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_EBADREQUEST);
    CU_ASSERT_EQUAL(e.status, 400);
    CU_ASSERT_STRING_EQUAL(e.message, "bad thing");
    CU_ASSERT_EQUAL(journal_count("GET", path, st, sizeof st), 1);
    dt_client_free(c);

    reset_faults_and_journal();
    dt_config cfg;
    dt_config_init(&cfg);
    cfg.api_url = g_api;
    cfg.api_key = "wrong";
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(e.status, 401);
    CU_ASSERT_EQUAL(journal_count("GET", path, NULL, 0), 1);
    dt_client_free(c);
}

static dt_code post_create(dt_client *c, dt_error *e)
{
    char *url = url_of("/sandbox");
    cJSON *body = cJSON_CreateObject();
    cJSON *out = NULL;
    dt_code rc = dt__json(c, "POST", url, body, &out, e);
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(url);
    return rc;
}

static void test_post_not_repeated_blindly(void)
{
    char st[256];
    int before = count_sandboxes();
    CU_ASSERT(before >= 1);
    dt_client *c = client(5, 5000, 10000);
    dt_error e = {0};

    /* A dropped connection: the POST may have been applied. */
    reset_faults_and_journal();
    add_fault("{\"method\":\"POST\",\"path\":\"/api/sandbox\",\"drop\":true,"
              "\"times\":1}");
    CU_ASSERT_EQUAL(post_create(c, &e), DT_EIO);
    CU_ASSERT_EQUAL(journal_count("POST", "/api/sandbox", st, sizeof st), 1);
    CU_ASSERT_STRING_EQUAL(st, "0");
    CU_ASSERT_EQUAL(count_sandboxes(), before);

    /* A 502 from a gateway: also possibly applied. */
    reset_faults_and_journal();
    add_fault("{\"method\":\"POST\",\"path\":\"/api/sandbox\",\"status\":502,"
              "\"times\":1}");
    CU_ASSERT_EQUAL(post_create(c, &e), DT_ESERVER);
    CU_ASSERT_EQUAL(e.status, 502);
    CU_ASSERT_EQUAL(journal_count("POST", "/api/sandbox", st, sizeof st), 1);
    CU_ASSERT_EQUAL(count_sandboxes(), before);

    /* 503 says "not processed": retried, and exactly one sandbox results. */
    reset_faults_and_journal();
    add_fault("{\"method\":\"POST\",\"path\":\"/api/sandbox\",\"status\":503,"
              "\"times\":1}");
    CU_ASSERT_EQUAL(post_create(c, &e), DT_OK);
    CU_ASSERT_EQUAL(journal_count("POST", "/api/sandbox", st, sizeof st), 2);
    CU_ASSERT_STRING_EQUAL(st, "503,200");
    CU_ASSERT_EQUAL(count_sandboxes(), before + 1);
    dt_client_free(c);
}

/* ---- bounds and transport errors ---- */

static void test_total_time_bound(void)
{
    char path[128];
    sandbox_path(path, sizeof path);
    reset_faults_and_journal();
    add_fault("{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":503}");
    dt_client *c = client(1000, 5000, 800);
    dt_error e = {0};
    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_ESERVER);
    int64_t took = time_mono_ms() - t0;
    CU_ASSERT_EQUAL(e.status, 503);
    /* Several attempts were made, and the loop stopped at the bound (the
     * slack covers one request on a loaded machine). */
    CU_ASSERT(journal_count("GET", path, NULL, 0) >= 3);
    CU_ASSERT(took < 800 + 3000);
    dt_client_free(c);
    reset_faults_and_journal();
}

static void test_connection_refused(void)
{
    /* A port that was free a moment ago: nothing listens there. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    CU_ASSERT_FATAL(getsockname(s, (struct sockaddr *)&a, &al) == 0);
    close(s);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/sandbox",
             ntohs(a.sin_port));
    dt_client *c = client(3, 2000, 5000);
    dt_error e = {0};
    cJSON *out = NULL;
    CU_ASSERT_EQUAL(dt__json(c, "POST", url, NULL, &out, &e), DT_ECONNECT);
    CU_ASSERT_EQUAL(e.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, url));
    CU_ASSERT_PTR_NULL(out);
    dt_client_free(c);
}

static void test_response_cap(void)
{
    dt_config cfg;
    dt_config_init(&cfg);
    cfg.api_url = g_api;
    cfg.api_key = "k1";
    cfg.max_response_bytes = 64;
    dt_client *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    dt_error e = {0};
    CU_ASSERT_EQUAL(get_sandbox(c, &e), DT_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "larger than 64 bytes"));
    dt_client_free(c);
}

static void test_ws_refused(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/toolbox/no-such-sandbox/process/"
                              "interpreter/execute", g_emu.base);
    dt_client *c = client(1, 5000, 5000);
    dt__ws *w = NULL;
    dt_error e = {0};
    CU_ASSERT_EQUAL(dt__ws_connect(c, url, 5000, &w, &e), DT_ENOTFOUND);
    CU_ASSERT_EQUAL(e.status, 404);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "not found"));
    CU_ASSERT_PTR_NULL(w);
    dt_client_free(c);
}

/* ---- one client, many threads ---- */

typedef struct {
    dt_client *c;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        dt_error e;
        if (get_sandbox(w->c, &e) == DT_OK)
            w->ok++;
    }
    return NULL;
}

static void test_threads_share_client(void)
{
    reset_faults_and_journal();
    dt_client *c = client(4, 10000, 20000);
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){c, 0};
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    CU_ASSERT_EQUAL(ok, 8 * 25);
    dt_client_free(c);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("retry", suite_init, suite_cleanup);
    CU_add_test(s, "GET 503 retried", test_get_503_retried);
    CU_add_test(s, "GET drop and 429 retried", test_get_drop_and_429_retried);
    CU_add_test(s, "latency past the timeout retried",
                test_latency_timeout_retried);
    CU_add_test(s, "Retry-After honoured", test_retry_after_honoured);
    CU_add_test(s, "400/401 not retried", test_400_and_401_not_retried);
    CU_add_test(s, "POST not repeated blindly", test_post_not_repeated_blindly);
    CU_add_test(s, "total time bound", test_total_time_bound);
    CU_add_test(s, "connection refused", test_connection_refused);
    CU_add_test(s, "response cap", test_response_cap);
    CU_add_test(s, "WebSocket upgrade refused", test_ws_refused);
    CU_add_test(s, "threads share one client", test_threads_share_client);
    return cu_run_and_cleanup();
}
