/*
 * api_util.h - helpers shared by the control-plane integration tests
 * (test_api_auth.c, test_api_sandbox.c): one running emulator per suite, a
 * pool of HTTP responses and strings released after each test, assertions
 * that report the *caller's* line, and checks for Daytona's error envelope,
 * Sandbox DTO and list item (shared/reference/control-plane.md §2, §3).
 *
 * Header-only on purpose: every test program is a single source file
 * (dt_add_cunit_test(NAME SOURCES NAME.c ...)), so everything here has
 * internal linkage; functions are `static inline` so a program that does
 * not use one gets no unused-function warning.
 *
 * Ownership: every http_resp and string handed out by api_req()/api_fmt()
 * belongs to the pool and stays valid until api_release(), which each test
 * calls at its end and each suite cleanup calls again (a fatal assertion
 * longjmps out of a test before its own api_release()).
 * Not thread-safe: CUnit runs one test at a time.
 */
#ifndef TESTS_API_UTIL_H
#define TESTS_API_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>

#include "emu_harness.h"
#include "test_net.h"
#include "timeutil.h"

/* Enough for the longest test; exceeding it is a test bug (reported). */
#define API_POOL_MAX 2048

typedef struct {
    emu_proc emu;                       /* the suite's emulator */
    int running;
    http_resp resp[API_POOL_MAX];
    char *what[API_POOL_MAX];           /* "METHOD path" for failure output */
    int nresp;
    char *strs[API_POOL_MAX];
    int nstrs;
    unsigned seq;                       /* for unique names */
    char toolbox_url[96];               /* http://127.0.0.1:PORT/toolbox */
} api_state;

static api_state api;

/* ---------- caller-located assertions ---------- */

/* CU_ASSERT with the caller's file and line (helpers pass them down). */
#define API_CHECK_AT(cond, file, line) \
    CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, (line), #cond, \
                            (file), "", CU_FALSE)
/* The same with a printf-formatted text in CUnit's failure list; the text
 * is only built for a failure (CUnit copies it, so a local buffer is fine). */
static inline void api_check_txt(int ok, const char *file, unsigned line,
                                 const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void api_check_txt(int ok, const char *file, unsigned line,
                                 const char *fmt, ...)
{
    char text[512] = "";
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
    }
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, text, file, "",
                            CU_FALSE);
}

/* ---------- pool ---------- */

static inline void api_release(void)
{
    for (int i = 0; i < api.nresp; i++) {
        http_resp_free(&api.resp[i]);
        free(api.what[i]);
    }
    api.nresp = 0;
    for (int i = 0; i < api.nstrs; i++)
        free(api.strs[i]);
    api.nstrs = 0;
}

/* printf into a pooled string (never NULL; "" if out of pool or memory). */
static inline const char *api_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline const char *api_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || api.nstrs >= API_POOL_MAX) {
        CU_FAIL("api_fmt: string pool exhausted");
        return "";
    }
    char *s = malloc((size_t)n + 1);
    if (!s)
        return "";
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    api.strs[api.nstrs++] = s;
    return s;
}

/*
 * One request to the suite's emulator (see http_do for the arguments).
 * Returns a pooled response; on pool exhaustion a failure is recorded and a
 * shared empty response with status 0 is returned.
 */
static inline http_resp *api_req(const char *method, const char *path,
                                 const char *token, const char *const *hdrs,
                                 const char *body, long body_len)
{
    static http_resp none;
    if (api.nresp >= API_POOL_MAX) {
        CU_FAIL("api_req: response pool exhausted");
        return &none;
    }
    int i = api.nresp++;
    api.resp[i] = http_do(&api.emu, method, path, token, hdrs, body, body_len);
    size_t wl = strlen(method) + strlen(path) + 2;
    api.what[i] = malloc(wl);
    if (api.what[i])
        snprintf(api.what[i], wl, "%s %s", method, path);
    return &api.resp[i];
}

#define GET(path, tok) api_req("GET", (path), (tok), NULL, NULL, 0)
#define DEL(path, tok) api_req("DELETE", (path), (tok), NULL, NULL, 0)
/* POST with a JSON body, or with no body at all when body is NULL. */
#define POST(path, tok, body) api_req("POST", (path), (tok), NULL, (body), -1)
#define PUT(path, tok, body) api_req("PUT", (path), (tok), NULL, (body), -1)

/* What the SDK sends for body-less POSTs (axios default, §1.3). */
static inline http_resp *api_post_form_empty(const char *path, const char *tok)
{
    static const char *const h[] = {
        "Content-Type: application/x-www-form-urlencoded", NULL};
    return api_req("POST", path, tok, h, "", 0);
}

static inline const char *api_what(const http_resp *r)
{
    for (int i = 0; i < api.nresp; i++)
        if (&api.resp[i] == r)
            return api.what[i] ? api.what[i] : "?";
    return "?";
}

/* ---------- suite fixtures ---------- */

/* Starts the suite's emulator (in memory) with extra arguments; 0 on
 * success, for use as a CUnit suite init result. */
static inline int api_suite_start(const char *const *args)
{
    memset(&api, 0, sizeof api);
    if (emu_start(&api.emu, ":memory:", args) != 0) {
        fprintf(stderr, "api_util: the emulator did not start (EMU_BIN=%s)\n",
                getenv("EMU_BIN") ? getenv("EMU_BIN") : "(unset)");
        return -1;
    }
    api.running = 1;
    return 0;
}

static inline int api_suite_stop(void)
{
    api_release();
    if (!api.running)
        return 0;
    api.running = 0;
    int st = emu_stop(&api.emu);
    if (st != 0)
        fprintf(stderr, "api_util: emulator exit status %d (expected 0)\n", st);
    return st == 0 ? 0 : -1;
}

/*
 * Creates a sandbox called `name` with API key `key` on the suite's
 * emulator and copies its id into out.  0 when it was created and is
 * "started"; -1 otherwise (the answer goes to stderr).  Not pooled.
 */
static inline int api_new_sandbox(const char *key, const char *name, char *out, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    char *body = cJSON_AddStringToObject(o, "name", name) ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    http_resp c = http_do(&api.emu, "POST", "/api/sandbox", key, NULL, body ? body : "{}", -1);
    cJSON_free(body);
    const char *id = resp_str(&c, "id"), *st = resp_str(&c, "state");
    int ok = c.status == 200 && id && st && strcmp(st, "started") == 0;
    if (ok)
        snprintf(out, n, "%s", id);
    else
        fprintf(stderr, "create sandbox: %ld %s\n", c.status, c.body);
    http_resp_free(&c);
    return ok ? 0 : -1;
}

/* A sandbox's state as GET /api/sandbox/<id> with key says ("" when it
 * does not say).  Pooled. */
static inline const char *api_sandbox_state(const char *id, const char *key)
{
    http_resp *r = api_req("GET", api_fmt("/api/sandbox/%s", id), key, NULL, NULL, 0);
    const char *s = resp_str(r, "state");
    return s ? s : "";
}

/* Polls every 100 ms until the sandbox is in state want: 0, or -1 once
 * timeout_ms has passed. */
static inline int api_wait_state(const char *id, const char *want, const char *key,
                                 int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    while (strcmp(api_sandbox_state(id, key), want) != 0) {
        if (time_mono_ms() >= end)
            return -1;
        tn_sleep_ms(100);
    }
    return 0;
}

/* tn_count_procs / tn_wait_procs below the suite's emulator. */
static inline int api_count_procs(const char *argv0, const char *argv1)
{
    return tn_count_procs((long)api.emu.pid, argv0, argv1);
}

static inline int api_wait_procs(const char *argv0, const char *argv1, int want,
                                 int timeout_ms)
{
    return tn_wait_procs((long)api.emu.pid, argv0, argv1, want, timeout_ms);
}

/* ---------- small utilities ---------- */

/* A name unique to this process and call: "<prefix>-<pid>-<n>". */
static inline const char *api_uniq(const char *prefix)
{
    return api_fmt("%s-%d-%u", prefix, (int)getpid(), ++api.seq);
}

/* encodeURIComponent, as the SDK encodes query values and path params. */
static inline const char *api_urlenc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *tmp = malloc(n * 3 + 1);
    if (!tmp)
        return "";
    char *o = tmp;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-_.!~*'()", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    const char *out = api_fmt("%s", tmp);
    free(tmp);
    return out;
}

static inline const cJSON *api_field(const http_resp *r, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(r->json, key);
}

/* o[key] as a string; "" when absent or not a string (never NULL). */
static inline const char *api_jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" exactly (ISO-8601 with ms and Z, §2.1). */
static inline int api_is_iso_ms(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != sizeof pat - 1)
        return 0;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    }
    return 1;
}

static inline int api_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-'
                 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* n characters, all in [a-z0-9]. */
static inline int api_is_token(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Node's STATUS_CODES text for the statuses the API uses. */
static inline const char *api_reason(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "?";
    }
}

/* ---------- response assertions ---------- */

static inline void api_expect_status_at(const http_resp *r, long status,
                                        const char *file, unsigned line)
{
    api_check_txt(r->status == status, file, line, "%s answers %ld",
                  api_what(r), status);
    if (r->status != status)
        fprintf(stderr, "\n  %s:%u: %s: expected %ld, got %ld: %.600s\n",
                file, line, api_what(r), status, r->status, r->body);
}
#define expect_status(r, st) api_expect_status_at((r), (st), __FILE__, __LINE__)

/*
 * Daytona's error envelope (§2.1): exactly the five fields path,
 * timestamp (ISO ms Z), statusCode, error (reason phrase) and message (one
 * string).  message NULL = any non-empty string; path NULL = any string.
 */
static inline void api_envelope_at(const http_resp *r, long status,
                                   const char *message, const char *path,
                                   const char *file, unsigned line)
{
    api_expect_status_at(r, status, file, line);
    const cJSON *o = r->json;
    API_CHECK_AT(cJSON_IsObject(o), file, line);
    if (!cJSON_IsObject(o))
        return;
    const char *p = resp_str(r, "path"), *ts = resp_str(r, "timestamp");
    const char *err = resp_str(r, "error"), *msg = resp_str(r, "message");
    const cJSON *sc = api_field(r, "statusCode");
    int ok_n = cJSON_GetArraySize(o) == 5;
    int ok_path = p && (!path || strcmp(p, path) == 0);
    int ok_ts = api_is_iso_ms(ts);
    int ok_sc = cJSON_IsNumber(sc) && sc->valuedouble == (double)status;
    int ok_err = err && strcmp(err, api_reason(status)) == 0;
    int ok_msg = msg && (message ? strcmp(msg, message) == 0 : msg[0] != '\0');
    api_check_txt(ok_n, file, line, "envelope has exactly 5 fields");
    api_check_txt(ok_path, file, line, "envelope path == %s", path ? path : "*");
    api_check_txt(ok_ts, file, line, "envelope timestamp is ISO-8601 with ms and Z");
    api_check_txt(ok_sc, file, line, "envelope statusCode == %ld", status);
    api_check_txt(ok_err, file, line, "envelope error == \"%s\"", api_reason(status));
    api_check_txt(ok_msg, file, line, "envelope message == \"%s\"",
                  message ? message : "<non-empty>");
    if (!(ok_n && ok_path && ok_ts && ok_sc && ok_err && ok_msg))
        fprintf(stderr, "\n  %s:%u: %s: expected %ld \"%s\"%s%s, got: %.600s\n",
                file, line, api_what(r), status, message ? message : "*",
                path ? " at " : "", path ? path : "", r->body);
}
#define assert_envelope(r, st, msg) \
    api_envelope_at((r), (st), (msg), NULL, __FILE__, __LINE__)
#define assert_envelope_path(r, st, msg, path) \
    api_envelope_at((r), (st), (msg), (path), __FILE__, __LINE__)

static inline void api_str_at(const cJSON *o, const char *key, const char *want,
                              const char *file, unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int ok = cJSON_IsString(v) && (!want || strcmp(v->valuestring, want) == 0);
    api_check_txt(ok, file, line, "%s == \"%s\"", key, want ? want : "<string>");
    if (!ok) {
        char *got = v ? cJSON_PrintUnformatted(v) : NULL;
        fprintf(stderr, "\n  %s:%u: %s: expected \"%s\", got %s\n", file, line,
                key, want ? want : "<string>", got ? got : "<absent>");
        free(got);
    }
}
#define assert_str(o, key, want) api_str_at((o), (key), (want), __FILE__, __LINE__)

static inline void api_num_at(const cJSON *o, const char *key, double want,
                              const char *file, unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int ok = cJSON_IsNumber(v) && v->valuedouble == want;
    api_check_txt(ok, file, line, "%s == %g", key, want);
    if (!ok) {
        char *got = v ? cJSON_PrintUnformatted(v) : NULL;
        fprintf(stderr, "\n  %s:%u: %s: expected %g, got %s\n", file, line, key,
                want, got ? got : "<absent>");
        free(got);
    }
}
#define assert_num(o, key, want) api_num_at((o), (key), (want), __FILE__, __LINE__)

/* kind: 't' true, 'f' false, 'n' JSON null, 'a' absent, 'o' object,
 * 'A' array, 'b' any boolean, 'N' null or absent. */
static inline void api_kind_at(const cJSON *o, const char *key, char kind,
                               const char *file, unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int ok = 0;
    switch (kind) {
    case 't': ok = cJSON_IsTrue(v); break;
    case 'f': ok = cJSON_IsFalse(v); break;
    case 'n': ok = cJSON_IsNull(v); break;
    case 'a': ok = v == NULL; break;
    case 'o': ok = cJSON_IsObject(v); break;
    case 'A': ok = cJSON_IsArray(v); break;
    case 'b': ok = cJSON_IsBool(v); break;
    case 'N': ok = v == NULL || cJSON_IsNull(v); break;
    default: break;
    }
    api_check_txt(ok, file, line, "%s is of kind '%c' (t/f true/false, n null, "
                  "a absent, o object, A array, b bool, N null or absent)", key, kind);
    if (!ok) {
        char *got = v ? cJSON_PrintUnformatted(v) : NULL;
        fprintf(stderr, "\n  %s:%u: %s: expected kind '%c', got %s\n", file,
                line, key, kind, got ? got : "<absent>");
        free(got);
    }
}
#define assert_kind(o, key, kind) api_kind_at((o), (key), (kind), __FILE__, __LINE__)

/* o[key] deep-equals the JSON text want. */
static inline void api_json_eq_at(const cJSON *o, const char *key,
                                  const char *want, const char *file,
                                  unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cJSON *w = cJSON_Parse(want);
    int ok = v && w && cJSON_Compare(v, w, 1);
    api_check_txt(ok, file, line, "%s == %s", key, want);
    if (!ok) {
        char *got = v ? cJSON_PrintUnformatted(v) : NULL;
        fprintf(stderr, "\n  %s:%u: %s: expected %s, got %s\n", file, line,
                key, want, got ? got : "<absent>");
        free(got);
    }
    cJSON_Delete(w);
}
#define assert_json_eq(o, key, want) \
    api_json_eq_at((o), (key), (want), __FILE__, __LINE__)

/* ---------- Sandbox DTO and list item (§3, §3.1) ---------- */

/* What toolboxProxyUrl must be for this emulator (§8): absolute, no /api. */
static inline const char *api_toolbox_url(void)
{
    snprintf(api.toolbox_url, sizeof api.toolbox_url,
             "http://127.0.0.1:%u/toolbox", api.emu.port);
    return api.toolbox_url;
}

/* Fields common to the full DTO and the list item. */
static inline void api_common_at(const cJSON *o, const char *file, unsigned line)
{
    static const char *const strs[] = {"name", "target", "user", "state",
                                       "desiredState", "backupState",
                                       "sandboxClass"};
    static const char *const nums[] = {"cpu", "gpu", "memory", "disk",
                                       "autoStopInterval",
                                       "autoArchiveInterval",
                                       "autoDeleteInterval"};
    static const char *const times[] = {"createdAt", "updatedAt"};
    API_CHECK_AT(cJSON_IsObject(o), file, line);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *org = cJSON_GetObjectItemCaseSensitive(o, "organizationId");
    API_CHECK_AT(cJSON_IsString(id) && api_is_uuid(id->valuestring), file, line);
    API_CHECK_AT(cJSON_IsString(org) && api_is_uuid(org->valuestring), file, line);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        api_str_at(o, strs[i], NULL, file, line);
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, nums[i]);
        API_CHECK_AT(cJSON_IsNumber(v), file, line);
        if (!cJSON_IsNumber(v))
            fprintf(stderr, "\n  %s:%u: %s is not a number\n", file, line, nums[i]);
    }
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, times[i]);
        API_CHECK_AT(cJSON_IsString(v) && api_is_iso_ms(v->valuestring), file, line);
    }
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(o, "lastActivityAt");
    API_CHECK_AT(!la || (cJSON_IsString(la) && api_is_iso_ms(la->valuestring)),
                 file, line);
    api_kind_at(o, "public", 'b', file, line);
    api_kind_at(o, "recoverable", 'b', file, line);
    api_kind_at(o, "labels", 'o', file, line);
    const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "errorReason");
    API_CHECK_AT(!er || cJSON_IsNull(er) || cJSON_IsString(er), file, line);
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(o, "snapshot");
    API_CHECK_AT(!sn || cJSON_IsNull(sn) || cJSON_IsString(sn), file, line);
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(o, "toolboxProxyUrl");
    API_CHECK_AT(cJSON_IsString(tb) && tb->valuestring[0] != '\0' &&
                 !strstr(tb->valuestring, "/api"), file, line);
    api_str_at(o, "toolboxProxyUrl", api_toolbox_url(), file, line);
}

/* The full Sandbox DTO: everything in §3, env always present (trap 11). */
static inline void api_dto_at(const cJSON *o, const char *file, unsigned line)
{
    api_common_at(o, file, line);
    api_kind_at(o, "env", 'o', file, line);
    api_kind_at(o, "networkBlockAll", 'b', file, line);
    api_kind_at(o, "volumes", 'A', file, line);
    static const char *const nullable[] = {"networkAllowList", "domainAllowList",
                                           "daemonVersion", "runnerId"};
    for (size_t i = 0; i < sizeof nullable / sizeof nullable[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, nullable[i]);
        API_CHECK_AT(!v || cJSON_IsNull(v) || cJSON_IsString(v), file, line);
    }
}
#define assert_sandbox_dto(o) api_dto_at((o), __FILE__, __LINE__)

/* A list item (§3.1): the DTO minus env, network*, volumes, buildInfo, … */
static inline void api_item_at(const cJSON *o, const char *file, unsigned line)
{
    static const char *const absent[] = {"env", "networkBlockAll",
                                         "networkAllowList", "domainAllowList",
                                         "volumes", "buildInfo",
                                         "backupCreatedAt", "linkedSandboxId"};
    api_common_at(o, file, line);
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        api_kind_at(o, absent[i], 'a', file, line);
}
#define assert_list_item(o) api_item_at((o), __FILE__, __LINE__)

#endif
