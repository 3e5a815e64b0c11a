/*
 * test_client_core.c - libdaytona's core without a server: configuration
 * (code, environment, defaults, the SDKs' error texts), URL building,
 * decoding of Daytona's error responses, retry decisions, backoff bounds
 * and Retry-After parsing, error strings and the version calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "cu_run.h"
#include "internal.h"

static const char *const g_env_names[] = {
    "DAYTONA_API_KEY", "DAYTONA_API_URL", "DAYTONA_SERVER_URL",
    "DAYTONA_TARGET", "DAYTONA_JWT_TOKEN", "DAYTONA_ORGANIZATION_ID"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof g_env_names / sizeof g_env_names[0]; i++)
        unsetenv(g_env_names[i]);
}

/* ---- configuration ---- */

static void test_no_credentials(void)
{
    clear_env();
    dt_client *c = (dt_client *)0x1;
    dt_error e = {0};
    CU_ASSERT_EQUAL(dt_client_new(NULL, &c, &e), DT_ECONFIG);
    CU_ASSERT_EQUAL(e.code, DT_ECONFIG);
    CU_ASSERT_EQUAL(e.status, 0);
    CU_ASSERT_STRING_EQUAL(e.message,
                           "Authentication credentials not found. Set "
                           "DAYTONA_API_KEY, or both DAYTONA_JWT_TOKEN and "
                           "DAYTONA_ORGANIZATION_ID.");
    CU_ASSERT_PTR_EQUAL(c, (dt_client *)0x1);   /* untouched on failure */
}

static void test_env_key_and_defaults(void)
{
    clear_env();
    setenv("DAYTONA_API_KEY", "env-key", 1);
    dt_client *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_client_new(NULL, &c, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(c->auth_header, "Authorization: Bearer env-key");
    CU_ASSERT_PTR_NULL(c->org_header);
    CU_ASSERT_STRING_EQUAL(dt_client_api_url(c), "https://app.daytona.io/api");
    CU_ASSERT_PTR_NULL(dt_client_target(c));
    CU_ASSERT_EQUAL(c->request_timeout_ms, 60000);
    CU_ASSERT_EQUAL(c->connect_timeout_ms, 10000);
    CU_ASSERT_EQUAL(c->retry.max_attempts, 4);
    CU_ASSERT_EQUAL(c->retry.initial_backoff_ms, 200);
    CU_ASSERT_EQUAL(c->retry.max_backoff_ms, 5000);
    CU_ASSERT_EQUAL(c->retry.total_ms, 30000);
    CU_ASSERT_EQUAL(c->max_response, (size_t)64 * 1024 * 1024);
    dt_client_free(c);
}

static void test_code_overrides_env(void)
{
    clear_env();
    setenv("DAYTONA_API_KEY", "env-key", 1);
    setenv("DAYTONA_API_URL", "http://env.example/api", 1);
    setenv("DAYTONA_TARGET", "eu", 1);
    dt_config cfg;
    dt_config_init(&cfg);
    cfg.api_key = "code-key";
    cfg.api_url = "http://127.0.0.1:1/api///";
    cfg.target = "us";
    cfg.retry.max_attempts = 1;
    dt_client *c = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(c->auth_header, "Authorization: Bearer code-key");
    CU_ASSERT_STRING_EQUAL(dt_client_api_url(c), "http://127.0.0.1:1/api");
    CU_ASSERT_STRING_EQUAL(dt_client_target(c), "us");
    CU_ASSERT_EQUAL(c->retry.max_attempts, 1);
    dt_client_free(c);

    /* Without code values the environment is used, deprecated name last. */
    dt_config_init(&cfg);
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_client_api_url(c), "http://env.example/api");
    CU_ASSERT_STRING_EQUAL(dt_client_target(c), "eu");
    dt_client_free(c);
    unsetenv("DAYTONA_API_URL");
    setenv("DAYTONA_SERVER_URL", "http://old.example/api/", 1);
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_client_api_url(c), "http://old.example/api");
    dt_client_free(c);
}

static void test_jwt(void)
{
    clear_env();
    setenv("DAYTONA_JWT_TOKEN", "a.b.c", 1);
    dt_client *c = NULL;
    dt_error e = {0};
    CU_ASSERT_EQUAL(dt_client_new(NULL, &c, &e), DT_ECONFIG);
    CU_ASSERT_STRING_EQUAL(e.message,
                           "DAYTONA_ORGANIZATION_ID is required when "
                           "authenticating with DAYTONA_JWT_TOKEN.");
    setenv("DAYTONA_ORGANIZATION_ID", "org-1", 1);
    CU_ASSERT_EQUAL_FATAL(dt_client_new(NULL, &c, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(c->auth_header, "Authorization: Bearer a.b.c");
    CU_ASSERT_STRING_EQUAL(c->org_header, "X-Daytona-Organization-ID: org-1");
    dt_client_free(c);

    /* A key from the environment is ignored when a JWT is given in code,
     * and a key given in code wins over a JWT from the environment. */
    setenv("DAYTONA_API_KEY", "env-key", 1);
    dt_config cfg;
    dt_config_init(&cfg);
    cfg.jwt_token = "x.y.z";
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(c->auth_header, "Authorization: Bearer x.y.z");
    dt_client_free(c);
    dt_config_init(&cfg);
    cfg.api_key = "code-key";
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &c, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(c->auth_header, "Authorization: Bearer code-key");
    CU_ASSERT_PTR_NULL(c->org_header);
    dt_client_free(c);
}

static void test_bad_config(void)
{
    clear_env();
    static const struct {
        const char *key, *url;
        long timeout;
        dt_code want;
        const char *msg_part;
    } cases[] = {
        {"k", "ftp://x/api", 0, DT_ECONFIG, "must start with http"},
        {"k", "app.daytona.io/api", 0, DT_ECONFIG, "must start with http"},
        {"k", "http://x /api", 0, DT_ECONFIG, "whitespace"},
        {"k\r\nX-Evil: 1", "http://x/api", 0, DT_ECONFIG, "line break"},
        {"k", "http://x/api", -5, DT_EINVAL, "timeouts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dt_config cfg;
        dt_config_init(&cfg);
        cfg.api_key = cases[i].key;
        cfg.api_url = cases[i].url;
        cfg.request_timeout_ms = cases[i].timeout;
        dt_client *c = NULL;
        dt_error e = {0};
        CU_ASSERT_EQUAL(dt_client_new(&cfg, &c, &e), cases[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.message, cases[i].msg_part));
        CU_ASSERT_PTR_NULL(c);
    }
    CU_ASSERT_EQUAL(dt_client_new(NULL, NULL, NULL), DT_EINVAL);
    dt_client_free(NULL);   /* no-op */
}

/* ---- URLs ---- */

static void test_url_builder(void)
{
    dt__url u;
    dt_code rc = DT_OK;
    dt__url_init(&u, "http://h:1/api");
    dt__url_raw(&u, "/sandbox");
    dt__url_seg(&u, "a b/c?d#e%f");
    dt__url_seg(&u, "caf\xc3\xa9-._~");
    dt__url_query(&u, "labels", "{\"k\":\"v&w\"}");
    dt__url_query_int(&u, "page", 2);
    char *s = dt__url_take(&u, &rc);
    CU_ASSERT_EQUAL(rc, DT_OK);
    CU_ASSERT_STRING_EQUAL(s, "http://h:1/api/sandbox/a%20b%2Fc%3Fd%23e%25f/"
                              "caf%C3%A9-._~?labels=%7B%22k%22%3A%22v%26w%22%7D"
                              "&page=2");
    free(s);

    dt__url_init(&u, "http://h");
    dt__url_seg(&u, NULL);
    dt__url_raw(&u, "/x");
    CU_ASSERT_PTR_NULL(dt__url_take(&u, &rc));
    CU_ASSERT_EQUAL(rc, DT_EINVAL);

    /* Over the URL cap: an error, not a truncated URL. */
    char *big = malloc(70 * 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'a', 70 * 1024 - 1);
    big[70 * 1024 - 1] = '\0';
    rc = DT_OK;
    dt__url_init(&u, "http://h");
    dt__url_seg(&u, big);
    CU_ASSERT_PTR_NULL(dt__url_take(&u, &rc));
    CU_ASSERT_EQUAL(rc, DT_ENOMEM);
    free(big);
}

/* ---- error decoding ---- */

static void test_error_decoding(void)
{
    static const struct {
        long status;
        const char *body;
        dt_code code;
        const char *message;
    } cases[] = {
        {404, "{\"statusCode\":404,\"message\":\"Sandbox with ID or name x "
              "not found\",\"error\":\"Not Found\"}",
         DT_ENOTFOUND, "Sandbox with ID or name x not found"},
        {400, "{\"statusCode\":400,\"message\":[\"cpu must not be greater "
              "than 4\",\"memory must be a number\"],\"error\":\"Bad Request\"}",
         DT_EBADREQUEST, "cpu must not be greater than 4; memory must be a number"},
        {401, "{\"message\":\"Unauthorized\",\"statusCode\":401}",
         DT_EUNAUTHORIZED, "Unauthorized"},
        {403, "{\"error\":\"forbidden by policy\"}", DT_EFORBIDDEN,
         "forbidden by policy"},
        {409, "  sandbox is busy\n", DT_ECONFLICT, "sandbox is busy"},
        {408, "", DT_ETIMEOUT, "request failed with status 408"},
        {410, "{\"message\":\"gone\"}", DT_ENOTFOUND, "gone"},
        {422, "{\"message\":\"bad\"}", DT_EBADREQUEST, "bad"},
        {429, "{\"message\":\"slow down\"}", DT_ERATELIMIT, "slow down"},
        {500, "{\"statusCode\":500,\"message\":\"An unexpected error "
              "occurred.\"}", DT_ESERVER, "An unexpected error occurred."},
        {503, "{}", DT_ESERVER, "request failed with status 503"},
        {418, "{\"message\":42}", DT_EHTTP, "request failed with status 418"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dt_error e = {0};
        dt_code rc = dt__fail_response(&e, cases[i].status, cases[i].body,
                                       strlen(cases[i].body));
        CU_ASSERT_EQUAL(rc, cases[i].code);
        CU_ASSERT_EQUAL(e.code, cases[i].code);
        CU_ASSERT_EQUAL(e.status, cases[i].status);
        CU_ASSERT_STRING_EQUAL(e.message, cases[i].message);
        if (strcmp(e.message, cases[i].message) != 0)
            fprintf(stderr, "case %zu: got \"%s\"\n", i, e.message);
    }
    /* NULL err is allowed and only the code comes back. */
    CU_ASSERT_EQUAL(dt__fail_response(NULL, 404, "x", 1), DT_ENOTFOUND);
}

/* ---- retries ---- */

static void test_retry_decisions(void)
{
    static const struct {
        const char *method;
        int unsafe_ok;
        dt__failure f;
        long status;
        int want;
    } cases[] = {
        /* Nothing was sent: anything may be retried. */
        {"POST", 0, DT__FAIL_RESOLVE, 0, 1},
        {"POST", 0, DT__FAIL_CONNECT, 0, 1},
        {"GET", 0, DT__FAIL_CONNECT, 0, 1},
        /* It may have arrived: only idempotent requests. */
        {"GET", 0, DT__FAIL_RECV, 0, 1},
        {"DELETE", 0, DT__FAIL_SEND, 0, 1},
        {"PUT", 0, DT__FAIL_TIMEOUT, 0, 1},
        {"POST", 0, DT__FAIL_RECV, 0, 0},
        {"POST", 0, DT__FAIL_SEND, 0, 0},
        {"POST", 0, DT__FAIL_TIMEOUT, 0, 0},
        {"PATCH", 0, DT__FAIL_RECV, 0, 0},
        {"POST", 1, DT__FAIL_RECV, 0, 1},   /* caller says it is idempotent */
        /* Statuses. */
        {"GET", 0, DT__FAIL_NONE, 502, 1},
        {"GET", 0, DT__FAIL_NONE, 503, 1},
        {"GET", 0, DT__FAIL_NONE, 504, 1},
        {"GET", 0, DT__FAIL_NONE, 429, 1},
        {"POST", 0, DT__FAIL_NONE, 429, 1},
        {"POST", 0, DT__FAIL_NONE, 503, 1},
        {"POST", 0, DT__FAIL_NONE, 502, 0},
        {"POST", 0, DT__FAIL_NONE, 504, 0},
        {"GET", 0, DT__FAIL_NONE, 400, 0},
        {"GET", 0, DT__FAIL_NONE, 401, 0},
        {"GET", 0, DT__FAIL_NONE, 404, 0},
        {"GET", 0, DT__FAIL_NONE, 408, 0},
        {"GET", 0, DT__FAIL_NONE, 409, 0},
        {"GET", 0, DT__FAIL_NONE, 500, 0},
        {"GET", 0, DT__FAIL_OTHER, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = dt__retry_allowed(cases[i].method, cases[i].unsafe_ok,
                                    cases[i].f, cases[i].status);
        CU_ASSERT_EQUAL(got, cases[i].want);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu (%s f=%d %ld): got %d\n", i,
                    cases[i].method, cases[i].f, cases[i].status, got);
    }
}

static void test_backoff_bounds(void)
{
    dt_retry_policy p = {.max_attempts = 10, .initial_backoff_ms = 100,
                         .max_backoff_ms = 1000, .total_ms = 0};
    const double rnds[] = {0.0, 0.25, 0.5, 0.999999, -1.0, 7.0};
    long prev_cap = 0;
    for (int a = 1; a <= 12; a++) {
        long cap = 100L << (a - 1);
        if (cap > 1000)
            cap = 1000;
        CU_ASSERT(cap >= prev_cap);
        prev_cap = cap;
        for (size_t i = 0; i < sizeof rnds / sizeof rnds[0]; i++) {
            long w = dt__backoff_ms(&p, a, rnds[i]);
            CU_ASSERT(w >= cap / 2);
            CU_ASSERT(w <= cap);
        }
    }
    CU_ASSERT_EQUAL(dt__backoff_ms(&p, 1, 0.0), 50);
    CU_ASSERT_EQUAL(dt__backoff_ms(&p, 3, 0.0), 200);
    CU_ASSERT_EQUAL(dt__backoff_ms(&p, 30, 0.0), 500);   /* no overflow */
    /* Different random draws give different waits (jitter). */
    CU_ASSERT(dt__backoff_ms(&p, 4, 0.1) != dt__backoff_ms(&p, 4, 0.9));
}

static void test_retry_after(void)
{
    CU_ASSERT_EQUAL(dt__retry_after_ms("3", 0), 3000);
    CU_ASSERT_EQUAL(dt__retry_after_ms(" 0", 0), 0);
    CU_ASSERT_EQUAL(dt__retry_after_ms("", 0), -1);
    CU_ASSERT_EQUAL(dt__retry_after_ms(NULL, 0), -1);
    CU_ASSERT_EQUAL(dt__retry_after_ms("-1", 0), -1);
    CU_ASSERT_EQUAL(dt__retry_after_ms("soon", 0), -1);
    /* 1994-11-06T08:49:37Z = 784111777 s. */
    int64_t now = 784111777LL * 1000;
    CU_ASSERT_EQUAL(dt__retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now),
                    10000);
    CU_ASSERT_EQUAL(dt__retry_after_ms("Sun, 06 Nov 1994 08:49:27 GMT", now),
                    0);   /* in the past: now */
}

/* ---- errors and version ---- */

static void test_strerror_version(void)
{
    for (int c = DT_OK; c <= DT_EUNSUPPORTED; c++) {
        const char *s = dt_strerror((dt_code)c);
        CU_ASSERT_PTR_NOT_NULL(s);
        CU_ASSERT_STRING_NOT_EQUAL(s, "unknown error");
    }
    CU_ASSERT_STRING_EQUAL(dt_strerror(DT_ENOTFOUND), "not found");
    CU_ASSERT_STRING_EQUAL(dt_strerror((dt_code)999), "unknown error");
    CU_ASSERT_STRING_EQUAL(dt_strerror((dt_code)-1), "unknown error");
    CU_ASSERT_STRING_EQUAL(dt_version(), DT_VERSION_STRING);
    CU_ASSERT_EQUAL(dt_version_num(), (unsigned)DT_VERSION_NUM);
    CU_ASSERT_EQUAL(dt_global_init(), DT_OK);
    CU_ASSERT_EQUAL(dt_global_init(), DT_OK);   /* nested */
    dt_global_cleanup();
    dt_global_cleanup();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "no credentials", test_no_credentials);
    CU_add_test(s, "env key and defaults", test_env_key_and_defaults);
    CU_add_test(s, "code overrides env", test_code_overrides_env);
    CU_add_test(s, "jwt + organization", test_jwt);
    CU_add_test(s, "invalid values", test_bad_config);
    s = CU_add_suite("wire", NULL, NULL);
    CU_add_test(s, "url builder", test_url_builder);
    CU_add_test(s, "error decoding", test_error_decoding);
    s = CU_add_suite("retry", NULL, NULL);
    CU_add_test(s, "decisions", test_retry_decisions);
    CU_add_test(s, "backoff bounds", test_backoff_bounds);
    CU_add_test(s, "retry-after", test_retry_after);
    s = CU_add_suite("misc", NULL, NULL);
    CU_add_test(s, "strerror + version", test_strerror_version);
    return cu_run_and_cleanup();
}
