/*
 * test_admin.c - the emulator's own API under /_emulator/, driven against
 * the real daytona-emu binary (tests/support/emu_harness).
 *
 * Suite "basics": health, info, the admin API living outside /api and
 * needing no key, full and per-organization reset, body-less POSTs.
 * Suite "clock": the offset clock and the scheduler it drives: auto-stop
 * (default 15 min, 0 = never), auto-archive counted from the stop,
 * auto-delete (30 min vs -1, never for archived), ephemeral sandboxes,
 * what is and is not activity, and one long clock move leaving what the
 * same idle time leaves on Daytona (control-plane.md §9, trap 16).
 * Suite "transitions": slow and failing create/stop/start transitions, the
 * 409 while one is in flight, completion on time (control-plane.md §2.2,
 * §4.4).
 * Suite "faults": status, times, latency (a slow request never holds up
 * others), drop, seeded probability, validation and removal.
 * Suite "journal": entry shape, limit, no credentials, clearing, dropped
 * requests, and entries present as soon as their response has arrived.
 *
 * Every test starts its own emulator (in memory, keys k1 and k2) so no
 * state leaks between tests; start-up takes milliseconds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "cu_run.h"
#include "emu_harness.h"
#include "test_net.h"
#include "timeutil.h"

#define K1 "k1"
#define K2 "k2"

static const char *const keys_args[] = {"--api-key", K1, "--api-key", K2, NULL};

static http_resp get(const emu_proc *e, const char *path, const char *tok)
{
    return http_do(e, "GET", path, tok, NULL, NULL, 0);
}

static http_resp post(const emu_proc *e, const char *path, const char *tok,
                      const char *body)
{
    return http_do(e, "POST", path, tok, NULL, body, -1);
}

static http_resp del(const emu_proc *e, const char *path, const char *tok)
{
    return http_do(e, "DELETE", path, tok, NULL, NULL, 0);
}

/* Asserts Daytona's five-field error envelope with this status and text. */
static void assert_error(const http_resp *r, long status, const char *message)
{
    CU_ASSERT_EQUAL(r->status, status);
    CU_ASSERT_EQUAL(resp_num(r, "statusCode", -1), (double)status);
    CU_ASSERT_PTR_NOT_NULL(resp_str(r, "path"));
    CU_ASSERT_PTR_NOT_NULL(resp_str(r, "timestamp"));
    CU_ASSERT_PTR_NOT_NULL(resp_str(r, "error"));
    const char *m = resp_str(r, "message");
    CU_ASSERT_PTR_NOT_NULL(m);
    if (m && message)
        CU_ASSERT_STRING_EQUAL(m, message);
    if (!m || (message && strcmp(m, message) != 0))
        fprintf(stderr, "\n  expected %ld \"%s\", got %ld %s\n", status,
                message ? message : "", r->status, r->body);
}

/* Creates a sandbox (asserting 200) and returns its id (caller frees), or
 * NULL. */
static char *create_sb(const emu_proc *e, const char *tok, const char *body)
{
    http_resp r = post(e, "/api/sandbox", tok, body ? body : "{}");
    CU_ASSERT_EQUAL(r.status, 200);
    const char *id = resp_str(&r, "id");
    char *out = id ? strdup(id) : NULL;
    if (!out)
        fprintf(stderr, "\n  create failed: %ld %s\n", r.status, r.body);
    http_resp_free(&r);
    return out;
}

/* The reported state of a sandbox, or "404" when it is gone, copied into
 * out. */
static void sb_state(const emu_proc *e, const char *tok, const char *id,
                     char *out, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s", id ? id : "(null)");
    http_resp r = get(e, path, tok);
    if (r.status == 404)
        snprintf(out, n, "404");
    else if (r.status == 200 && resp_str(&r, "state"))
        snprintf(out, n, "%s", resp_str(&r, "state"));
    else
        snprintf(out, n, "status %ld", r.status);
    http_resp_free(&r);
}

#define ASSERT_STATE(e, id, want)                                        \
    do {                                                                 \
        char st_[64];                                                    \
        sb_state((e), K1, (id), st_, sizeof st_);                        \
        CU_ASSERT_STRING_EQUAL(st_, (want));                             \
        if (strcmp(st_, (want)) != 0)                                    \
            fprintf(stderr, "\n  line %d: state %s, want %s\n", __LINE__, \
                    st_, (want));                                        \
    } while (0)

/* POSTs a sandbox side action (e.g. "stop") and asserts the status. */
static void sb_action(const emu_proc *e, const char *id, const char *action,
                      long want)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s/%s", id ? id : "(null)", action);
    http_resp r = post(e, path, K1, NULL);
    CU_ASSERT_EQUAL(r.status, want);
    if (r.status != want)
        fprintf(stderr, "\n  %s: %ld %s\n", path, r.status, r.body);
    http_resp_free(&r);
}

/* Moves the emulator clock forward; returns the scheduler report's count
 * for `field` ("stopped", "archived", "deleted"), or -1. */
static int advance_minutes(const emu_proc *e, int minutes, const char *field)
{
    char body[64];
    snprintf(body, sizeof body, "{\"advanceMinutes\":%d}", minutes);
    http_resp r = post(e, "/_emulator/clock", NULL, body);
    CU_ASSERT_EQUAL(r.status, 200);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r.json, "scheduler");
    const cJSON *v = field ? cJSON_GetObjectItemCaseSensitive(s, field) : NULL;
    int n = cJSON_IsNumber(v) ? v->valueint : -1;
    http_resp_free(&r);
    return n;
}

/* Milliseconds since the epoch of an ISO-8601 "YYYY-MM-DDTHH:MM:SS.mmmZ",
 * or -1. */
static int64_t iso_ms(const char *s)
{
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void start_keys(emu_proc *e)
{
    CU_ASSERT_FATAL(emu_start(e, ":memory:", keys_args) == 0);
}

/* ---------- suite basics ---------- */

static void test_health(void)
{
    emu_proc e;
    start_keys(&e);
    http_resp r = get(&e, "/_emulator/health", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, "{\"status\":\"ok\"}");
    char ct[128] = "";
    CU_ASSERT_EQUAL(resp_header(&r, "Content-Type", ct, sizeof ct), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(ct, "application/json"));
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_info(void)
{
    emu_proc e;
    start_keys(&e);
    http_resp r = get(&e, "/_emulator/info", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    const char *v = resp_str(&r, "version");
    CU_ASSERT(v && *v);
    const char *iso = resp_str(&r, "isolation");
    CU_ASSERT(iso && *iso);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "authMode") ? resp_str(&r, "authMode") : "",
                           "keys");
    const cJSON *clk = cJSON_GetObjectItemCaseSensitive(r.json, "clock");
    CU_ASSERT(cJSON_IsObject(clk));
    CU_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(clk, "now")));
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(clk, "nowMs")));
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(clk, "offsetMs");
    CU_ASSERT(cJSON_IsNumber(off) && off->valuedouble == 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);

    /* Without keys every key is accepted: "open". */
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", NULL) == 0);
    r = get(&e, "/_emulator/info", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "authMode") ? resp_str(&r, "authMode") : "",
                           "open");
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* /_emulator/ is never under /api and needs no key, even a wrong one. */
static void test_outside_api_no_key(void)
{
    static const char *const paths[] = {
        "/_emulator/health", "/_emulator/info", "/_emulator/organizations",
        "/_emulator/clock", "/_emulator/transitions", "/_emulator/faults",
        "/_emulator/journal",
    };
    static const char *const bad_auth[] = {"Authorization: Bearer wrong", NULL};
    emu_proc e;
    start_keys(&e);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_resp r = get(&e, paths[i], NULL);
        CU_ASSERT_EQUAL(r.status, 200);
        http_resp_free(&r);
        r = http_do(&e, "GET", paths[i], NULL, bad_auth, NULL, 0);
        CU_ASSERT_EQUAL(r.status, 200);
        http_resp_free(&r);
        char api[128];
        snprintf(api, sizeof api, "/api%s", paths[i]);
        r = get(&e, api, K1);
        char msg[160];
        snprintf(msg, sizeof msg, "Cannot GET %s", api);
        assert_error(&r, 404, msg);
        http_resp_free(&r);
    }
    /* The API itself does need the key. */
    http_resp r = get(&e, "/api/sandbox", NULL);
    assert_error(&r, 401, "Invalid credentials");
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_reset_all(void)
{
    emu_proc e;
    start_keys(&e);
    char *a = create_sb(&e, K1, "{\"name\":\"r1\"}");
    char *b = create_sb(&e, K1, "{\"name\":\"r2\"}");
    char *c = create_sb(&e, K2, "{\"name\":\"r3\"}");
    http_resp r = post(&e, "/_emulator/reset", NULL, "{}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "deletedSandboxes", -1), 3);
    http_resp_free(&r);
    ASSERT_STATE(&e, a, "404");
    ASSERT_STATE(&e, b, "404");
    char st[64];
    sb_state(&e, K2, c, st, sizeof st);
    CU_ASSERT_STRING_EQUAL(st, "404");
    r = get(&e, "/api/sandbox", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 0);
    http_resp_free(&r);
    /* Names are free again. */
    char *again = create_sb(&e, K1, "{\"name\":\"r1\"}");
    CU_ASSERT_PTR_NOT_NULL(again);
    free(again);
    free(a);
    free(b);
    free(c);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* The organization id of the org with `count` sandboxes, from
 * /_emulator/organizations, copied into out; 0 when found. */
static int org_with_count(const emu_proc *e, const char *org_id, int *count)
{
    http_resp r = get(e, "/_emulator/organizations", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(cJSON_IsArray(r.json));
    int found = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, r.json) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "sandboxes");
        if (cJSON_IsString(id) && strcmp(id->valuestring, org_id) == 0) {
            found = 0;
            *count = cJSON_IsNumber(n) ? n->valueint : -1;
        }
    }
    http_resp_free(&r);
    return found;
}

static void test_reset_org(void)
{
    emu_proc e;
    start_keys(&e);
    char org1[64] = "", org2[64] = "";
    http_resp r = post(&e, "/api/sandbox", K1, "{\"name\":\"o1\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    snprintf(org1, sizeof org1, "%s", resp_str(&r, "organizationId") ? resp_str(&r, "organizationId") : "");
    http_resp_free(&r);
    char *b = create_sb(&e, K1, "{\"name\":\"o2\"}");
    r = post(&e, "/api/sandbox", K2, "{\"name\":\"o3\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    snprintf(org2, sizeof org2, "%s", resp_str(&r, "organizationId") ? resp_str(&r, "organizationId") : "");
    http_resp_free(&r);
    CU_ASSERT(strcmp(org1, org2) != 0);

    int n1 = -1, n2 = -1;
    CU_ASSERT_EQUAL(org_with_count(&e, org1, &n1), 0);
    CU_ASSERT_EQUAL(org_with_count(&e, org2, &n2), 0);
    CU_ASSERT_EQUAL(n1, 2);
    CU_ASSERT_EQUAL(n2, 1);

    char body[128];
    snprintf(body, sizeof body, "{\"organizationId\":\"%s\"}", org1);
    r = post(&e, "/_emulator/reset", NULL, body);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "deletedSandboxes", -1), 2);
    http_resp_free(&r);
    ASSERT_STATE(&e, "o1", "404");
    ASSERT_STATE(&e, b, "404");
    char st[64];
    sb_state(&e, K2, "o3", st, sizeof st);
    CU_ASSERT_STRING_EQUAL(st, "started");
    CU_ASSERT_EQUAL(org_with_count(&e, org2, &n2), 0);
    CU_ASSERT_EQUAL(n2, 1);

    /* A well-formed but unknown organization: nothing to delete. */
    r = post(&e, "/_emulator/reset", NULL,
             "{\"organizationId\":\"00000000-0000-4000-8000-000000000000\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "deletedSandboxes", -1), 0);
    http_resp_free(&r);
    sb_state(&e, K2, "o3", st, sizeof st);
    CU_ASSERT_STRING_EQUAL(st, "started");
    r = post(&e, "/_emulator/reset", NULL, "{\"organizationId\":\"nope\"}");
    assert_error(&r, 400, "organizationId must be a UUID");
    http_resp_free(&r);
    r = post(&e, "/_emulator/reset", NULL, "[1]");
    assert_error(&r, 400, "body must be a JSON object");
    http_resp_free(&r);
    free(b);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* ---------- suite clock ---------- */

static void test_clock_get_post(void)
{
    emu_proc e;
    start_keys(&e);
    http_resp r = get(&e, "/_emulator/clock", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    double now0 = resp_num(&r, "nowMs", -1);
    CU_ASSERT(now0 > (double)time(NULL) * 1000 - 5000 &&
              now0 < (double)time(NULL) * 1000 + 5000);
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 0);
    const char *iso = resp_str(&r, "now");
    CU_ASSERT(iso && strlen(iso) == 24 && iso[23] == 'Z');
    http_resp_free(&r);

    r = post(&e, "/_emulator/clock", NULL, "{\"advanceMinutes\":16}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 16 * 60000);
    double now1 = resp_num(&r, "nowMs", -1);
    CU_ASSERT(now1 - now0 >= 16 * 60000 && now1 - now0 < 16 * 60000 + 5000);
    CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r.json, "scheduler")));
    http_resp_free(&r);
    r = post(&e, "/_emulator/clock", NULL, "{\"advanceSeconds\":30}");
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 16 * 60000 + 30000);
    http_resp_free(&r);
    r = get(&e, "/_emulator/clock", NULL);
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 16 * 60000 + 30000);
    http_resp_free(&r);

    static const char *const bad[] = {
        "{}", "{\"advanceMinutes\":-1}", "{\"advanceMinutes\":\"5\"}",
        "{\"advanceMinutes\":1,\"advanceMs\":5}", "{\"minutes\":3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post(&e, "/_emulator/clock", NULL, bad[i]);
        CU_ASSERT_EQUAL(r.status, 400);
        http_resp_free(&r);
    }
    /* A full reset puts the clock back. */
    r = post(&e, "/_emulator/reset", NULL, "{}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = get(&e, "/_emulator/clock", NULL);
    CU_ASSERT_EQUAL(resp_num(&r, "offsetMs", -1), 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_autostop_default(void)
{
    emu_proc e;
    start_keys(&e);
    http_resp r = post(&e, "/api/sandbox", K1, "{\"name\":\"idle\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "autoStopInterval", -1), 15);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(advance_minutes(&e, 14, "stopped"), 0);
    ASSERT_STATE(&e, "idle", "started");
    CU_ASSERT_EQUAL(advance_minutes(&e, 2, "stopped"), 1);
    ASSERT_STATE(&e, "idle", "stopped");
    r = get(&e, "/api/sandbox/idle", K1);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "desiredState") ? resp_str(&r, "desiredState") : "",
                           "stopped");
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_autostop_zero_never(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"autoStopInterval\":0}");
    CU_ASSERT_EQUAL(advance_minutes(&e, 60 * 24 * 30, "stopped"), 0);
    ASSERT_STATE(&e, id, "started");
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Archive counts from the stop, not from creation (trap 16). */
static void test_autoarchive_from_stop(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"autoArchiveInterval\":60}");
    CU_ASSERT_EQUAL(advance_minutes(&e, 16, "stopped"), 1);
    ASSERT_STATE(&e, id, "stopped");
    CU_ASSERT_EQUAL(advance_minutes(&e, 58, "archived"), 0);
    ASSERT_STATE(&e, id, "stopped");
    CU_ASSERT_EQUAL(advance_minutes(&e, 2, "archived"), 1);
    ASSERT_STATE(&e, id, "archived");
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_autodelete(void)
{
    emu_proc e;
    start_keys(&e);
    char *del30 = create_sb(&e, K1, "{\"autoDeleteInterval\":30}");
    char *never = create_sb(&e, K1, "{}");
    sb_action(&e, del30, "stop", 200);
    sb_action(&e, never, "stop", 200);
    ASSERT_STATE(&e, del30, "stopped");
    CU_ASSERT_EQUAL(advance_minutes(&e, 29, "deleted"), 0);
    ASSERT_STATE(&e, del30, "stopped");
    CU_ASSERT_EQUAL(advance_minutes(&e, 2, "deleted"), 1);
    ASSERT_STATE(&e, del30, "404");
    /* -1 never deletes (auto-archive after 7 days is the only thing left). */
    CU_ASSERT_EQUAL(advance_minutes(&e, 60 * 24 * 6, "deleted"), 0);
    ASSERT_STATE(&e, never, "stopped");
    free(del30);
    free(never);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_ephemeral_autostop_deletes(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"name\":\"eph\",\"autoDeleteInterval\":0}");
    CU_ASSERT_EQUAL(advance_minutes(&e, 14, "stopped"), 0);
    ASSERT_STATE(&e, id, "started");
    CU_ASSERT_EQUAL(advance_minutes(&e, 2, "stopped"), 1);
    ASSERT_STATE(&e, id, "404");
    ASSERT_STATE(&e, "eph", "404");
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_last_activity_resets_timer(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{}");
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s/last-activity", id ? id : "x");
    CU_ASSERT_EQUAL(advance_minutes(&e, 10, "stopped"), 0);
    http_resp r = post(&e, path, K1, "{}");
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_EQUAL(r.body_len, 0);
    http_resp_free(&r);
    /* 20 minutes since creation, 10 since the activity. */
    CU_ASSERT_EQUAL(advance_minutes(&e, 10, "stopped"), 0);
    ASSERT_STATE(&e, id, "started");
    CU_ASSERT_EQUAL(advance_minutes(&e, 6, "stopped"), 1);
    ASSERT_STATE(&e, id, "stopped");
    /* Unknown sandbox: 404 by id. */
    r = post(&e, "/api/sandbox/nope/last-activity", K1, "{}");
    assert_error(&r, 404, "Sandbox with ID nope not found");
    http_resp_free(&r);
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Every change of state bumps lastActivityAt (trap 16): a start restarts
 * the idle timer. */
static void test_start_restarts_timer(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{}");
    sb_action(&e, id, "stop", 200);
    CU_ASSERT_EQUAL(advance_minutes(&e, 10, "stopped"), 0);
    sb_action(&e, id, "start", 200);
    CU_ASSERT_EQUAL(advance_minutes(&e, 14, "stopped"), 0);
    ASSERT_STATE(&e, id, "started");
    CU_ASSERT_EQUAL(advance_minutes(&e, 2, "stopped"), 1);
    ASSERT_STATE(&e, id, "stopped");
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Reads and metadata edits are not activity (control-plane.md §9). */
static void test_metadata_is_not_activity(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"name\":\"meta\"}");
    CU_ASSERT_EQUAL(advance_minutes(&e, 10, "stopped"), 0);
    http_resp r = http_do(&e, "PUT", "/api/sandbox/meta/labels", K1, NULL,
                          "{\"labels\":{\"a\":\"b\"}}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    sb_action(&e, "meta", "autostop/15", 201);
    sb_action(&e, "meta", "autoarchive/60", 201);
    sb_action(&e, "meta", "public/true", 201);
    ASSERT_STATE(&e, "meta", "started");
    r = get(&e, "/api/sandbox?limit=10", K1);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(advance_minutes(&e, 6, "stopped"), 1);
    ASSERT_STATE(&e, "meta", "stopped");
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Auto-delete only looks at stopped sandboxes, never archived ones. */
static void test_archived_not_autodeleted(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"autoDeleteInterval\":30}");
    sb_action(&e, id, "stop", 200);
    sb_action(&e, id, "archive", 200);
    ASSERT_STATE(&e, id, "archived");
    CU_ASSERT_EQUAL(advance_minutes(&e, 120, "deleted"), 0);
    ASSERT_STATE(&e, id, "archived");
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/*
 * Moving the clock by N minutes must leave what N idle minutes leave on
 * Daytona, whose crons run every 10 s (control-plane.md §9): with autoStop
 * 15 and autoArchive 60, a sandbox idle for 80 minutes was stopped at
 * minute 15 and archived at minute 75; with autoDelete 30 one idle for 60
 * minutes was stopped at 15 and deleted at 45.
 */
static void test_one_jump_equals_time_passing(void)
{
    emu_proc e;
    start_keys(&e);
    char *arch = create_sb(&e, K1, "{\"name\":\"jump-a\",\"autoArchiveInterval\":60}");
    char *gone = create_sb(&e, K1, "{\"name\":\"jump-d\",\"autoDeleteInterval\":30,"
                                   "\"autoArchiveInterval\":1000}");
    char *stop = create_sb(&e, K1, "{\"name\":\"jump-s\"}");
    advance_minutes(&e, 60, NULL);
    ASSERT_STATE(&e, "jump-d", "404");
    advance_minutes(&e, 20, NULL);
    ASSERT_STATE(&e, "jump-a", "archived");
    /* The stop happened at minute 15, and lastActivityAt says so (Daytona's
     * cron would be at most 10 s late). */
    ASSERT_STATE(&e, "jump-s", "stopped");
    http_resp r = get(&e, "/api/sandbox/jump-s", K1);
    int64_t created = iso_ms(resp_str(&r, "createdAt"));
    int64_t active = iso_ms(resp_str(&r, "lastActivityAt"));
    CU_ASSERT(created > 0 && active > 0);
    CU_ASSERT(active - created >= 15 * 60000 && active - created <= 15 * 60000 + 10000);
    if (!(active - created >= 15 * 60000 && active - created <= 15 * 60000 + 10000))
        fprintf(stderr, "\n  stopped %lld ms after creation, want 15 min\n",
                (long long)(active - created));
    http_resp_free(&r);
    free(stop);
    free(arch);
    free(gone);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Body-less admin POSTs arrive as form-urlencoded with length 0 (trap 18). */
static void test_empty_form_body(void)
{
    static const char *const form[] = {
        "Content-Type: application/x-www-form-urlencoded", NULL};
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{}");
    http_resp r = http_do(&e, "POST", "/_emulator/reset", NULL, form, "", 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "deletedSandboxes", -1), 1);
    http_resp_free(&r);
    r = http_do(&e, "POST", "/_emulator/scheduler/run", NULL, form, "", 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r.json, "scheduler")));
    http_resp_free(&r);
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* ---------- suite transitions ---------- */

typedef struct {
    const emu_proc *e;
    const char *method, *path, *body;
    long status;
    char state[32];
    int64_t took_ms;
} bg_req;

static void *bg_thread(void *arg)
{
    bg_req *b = arg;
    int64_t t0 = time_mono_ms();
    http_resp r = http_do(b->e, b->method, b->path, K1, NULL, b->body,
                          b->body ? -1 : 0);
    b->took_ms = time_mono_ms() - t0;
    b->status = r.status;
    snprintf(b->state, sizeof b->state, "%s",
             resp_str(&r, "state") ? resp_str(&r, "state") : "");
    http_resp_free(&r);
    return NULL;
}

/*
 * A 400 ms create: while it runs the sandbox reads "creating" and every
 * operation on it is 409; the POST itself answers like Daytona's
 * controller, which waits for `started` (control-plane.md §4.4, trap 3).
 */
static void test_slow_create(void)
{
    emu_proc e;
    start_keys(&e);
    http_resp r = post(&e, "/_emulator/transitions", NULL,
                       "{\"transition\":\"create\",\"durationMs\":400}");
    CU_ASSERT_EQUAL(r.status, 200);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r.json, "create");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "durationMs");
    CU_ASSERT(cJSON_IsNumber(d) && d->valuedouble == 400);
    http_resp_free(&r);

    bg_req b = {&e, "POST", "/api/sandbox", "{\"name\":\"slow\"}", 0, "", 0};
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, bg_thread, &b) == 0);
    /* The row exists (as "creating") from the moment the POST arrives. */
    char st[64] = "";
    int64_t t0 = time_mono_ms();
    for (;;) {
        sb_state(&e, K1, "slow", st, sizeof st);
        if (strcmp(st, "404") != 0 || time_mono_ms() - t0 >= 300)
            break;
        tn_sleep_ms(5);
    }
    CU_ASSERT_STRING_EQUAL(st, "creating");
    r = del(&e, "/api/sandbox/slow", K1);
    assert_error(&r, 409, "Sandbox state change in progress");
    http_resp_free(&r);
    r = post(&e, "/api/sandbox/slow/stop", K1, NULL);
    assert_error(&r, 409, "Sandbox state change in progress");
    http_resp_free(&r);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(b.status, 200);
    CU_ASSERT_STRING_EQUAL(b.state, "started");
    CU_ASSERT(b.took_ms >= 380 && b.took_ms < 2000);
    ASSERT_STATE(&e, "slow", "started");
    r = del(&e, "/api/sandbox/slow", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/*
 * A 400 ms stop: the POST answers "stopping" at once (Daytona does not
 * wait for stops), a GET right after says "stopping", a DELETE is 409, and
 * polling sees "stopped" once the 400 ms are over - not a scheduler period
 * later (--scheduler-interval-ms is documented for auto-stop/archive/delete
 * only).
 */
static void test_slow_stop(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"name\":\"ss\"}");
    http_resp r = post(&e, "/_emulator/transitions", NULL,
                       "{\"transition\":\"stop\",\"durationMs\":400}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    int64_t t0 = time_mono_ms();
    r = post(&e, "/api/sandbox/ss/stop?force=false", K1, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "state") ? resp_str(&r, "state") : "", "stopping");
    http_resp_free(&r);
    CU_ASSERT(time_mono_ms() - t0 < 300);
    ASSERT_STATE(&e, "ss", "stopping");
    r = del(&e, "/api/sandbox/ss", K1);
    assert_error(&r, 409, "Sandbox state change in progress");
    http_resp_free(&r);
    char st[64] = "";
    int64_t done_at = -1;
    while (time_mono_ms() - t0 < 5000) {
        sb_state(&e, K1, "ss", st, sizeof st);
        if (strcmp(st, "stopped") == 0) {
            done_at = time_mono_ms() - t0;
            break;
        }
        CU_ASSERT_STRING_EQUAL(st, "stopping");
        tn_sleep_ms(25);
    }
    CU_ASSERT_STRING_EQUAL(st, "stopped");
    CU_ASSERT(done_at >= 380);
    CU_ASSERT(done_at >= 0 && done_at <= 800);
    if (done_at > 800)
        fprintf(stderr, "\n  400 ms stop reported stopped only after %lld ms\n",
                (long long)done_at);
    free(id);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_start_failure_and_clear(void)
{
    emu_proc e;
    start_keys(&e);
    char *id = create_sb(&e, K1, "{\"name\":\"f\"}");
    sb_action(&e, "f", "stop", 200);
    http_resp r = post(&e, "/_emulator/transitions", NULL,
                       "{\"transition\":\"start\",\"result\":\"error\","
                       "\"errorReason\":\"boom\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = post(&e, "/api/sandbox/f/start", K1, NULL);
    assert_error(&r, 400, "Sandbox failed to start: boom");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "error") ? resp_str(&r, "error") : "", "Bad Request");
    http_resp_free(&r);
    r = get(&e, "/api/sandbox/f", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "state") ? resp_str(&r, "state") : "", "error");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "errorReason") ? resp_str(&r, "errorReason") : "", "boom");
    http_resp_free(&r);

    r = del(&e, "/_emulator/transitions", NULL);
    CU_ASSERT_EQUAL(r.status, 204);
    CU_ASSERT_EQUAL(r.body_len, 0);
    http_resp_free(&r);
    r = get(&e, "/_emulator/transitions", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    const cJSON *it;
    int kinds = 0;
    cJSON_ArrayForEach(it, r.json) {
        kinds++;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "durationMs");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(it, "result");
        CU_ASSERT(cJSON_IsNumber(d) && d->valuedouble == 0);
        CU_ASSERT(cJSON_IsString(res) && strcmp(res->valuestring, "ok") == 0);
    }
    CU_ASSERT_EQUAL(kinds, 6);
    http_resp_free(&r);

    /* Instant again: a fresh sandbox stops and starts at once. */
    char *g = create_sb(&e, K1, "{\"name\":\"g\"}");
    sb_action(&e, "g", "stop", 200);
    r = post(&e, "/api/sandbox/g/start", K1, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "state") ? resp_str(&r, "state") : "", "started");
    http_resp_free(&r);
    /* An errored sandbox can be deleted (trap 5). */
    r = del(&e, "/api/sandbox/f", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    free(id);
    free(g);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_create_failure(void)
{
    emu_proc e;
    start_keys(&e);
    http_resp r = post(&e, "/_emulator/transitions", NULL,
                       "{\"transition\":\"create\",\"result\":\"error\","
                       "\"errorReason\":\"no capacity\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = post(&e, "/api/sandbox", K1, "{\"name\":\"cf\"}");
    assert_error(&r, 400, "Sandbox failed to start: no capacity");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "path") ? resp_str(&r, "path") : "", "/api/sandbox");
    http_resp_free(&r);
    /* Without an errorReason the emulator supplies one. */
    r = post(&e, "/_emulator/transitions", NULL,
             "{\"transition\":\"create\",\"result\":\"error\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = post(&e, "/api/sandbox", K1, "{\"name\":\"cf2\"}");
    CU_ASSERT_EQUAL(r.status, 400);
    const char *m = resp_str(&r, "message");
    CU_ASSERT(m && strncmp(m, "Sandbox failed to start: ", 25) == 0 && strlen(m) > 25);
    http_resp_free(&r);

    static const char *const bad[] = {
        "{\"transition\":\"fly\"}", "{}",
        "{\"transition\":\"start\",\"durationMs\":-1}",
        "{\"transition\":\"start\",\"durationMs\":\"5\"}",
        "{\"transition\":\"start\",\"result\":\"maybe\"}",
        "{\"transition\":\"start\",\"errorReason\":7}",
        "{\"transition\":\"start\",\"recoverable\":\"yes\"}", "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post(&e, "/_emulator/transitions", NULL, bad[i]);
        CU_ASSERT_EQUAL(r.status, 400);
        http_resp_free(&r);
    }
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* ---------- suite faults ---------- */

static const cJSON *journal_find(const cJSON *entries, const char *method,
                                 const char *path)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, entries) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "method");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
        if (cJSON_IsString(m) && cJSON_IsString(p) &&
            strcmp(m->valuestring, method) == 0 && strcmp(p->valuestring, path) == 0)
            return it;
    }
    return NULL;
}

/*
 * GET /_emulator/journal, retried for up to a second until an entry for
 * method+path is there (the race that makes this necessary is asserted
 * separately by test_journal_current).  Returns the response.
 */
static http_resp journal_when(const emu_proc *e, const char *method,
                              const char *path)
{
    http_resp r = get(e, "/_emulator/journal", NULL);
    for (int i = 0; i < 50; i++) {
        if (journal_find(cJSON_GetObjectItemCaseSensitive(r.json, "entries"),
                         method, path))
            break;
        http_resp_free(&r);
        tn_sleep_ms(20);
        r = get(e, "/_emulator/journal", NULL);
    }
    return r;
}


/* Adds a fault rule; returns its id (>0) or 0. */
static int add_fault(const emu_proc *e, const char *json)
{
    http_resp r = post(e, "/_emulator/faults", NULL, json);
    CU_ASSERT_EQUAL(r.status, 201);
    int id = (int)resp_num(&r, "id", 0);
    CU_ASSERT(id > 0);
    http_resp_free(&r);
    return id;
}

static void test_fault_status(void)
{
    emu_proc e;
    start_keys(&e);
    add_fault(&e, "{\"method\":\"GET\",\"path\":\"/api/sandbox/*\","
                  "\"status\":503,\"message\":\"down\"}");
    http_resp r = get(&e, "/api/sandbox/x", K1);
    assert_error(&r, 503, "down");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "path") ? resp_str(&r, "path") : "", "/api/sandbox/x");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "error") ? resp_str(&r, "error") : "",
                           "Service Unavailable");
    http_resp_free(&r);
    /* Other methods and paths are untouched. */
    char *id = create_sb(&e, K1, "{\"name\":\"fs\"}");
    CU_ASSERT_PTR_NOT_NULL(id);
    r = get(&e, "/api/sandbox", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = del(&e, "/api/sandbox/fs", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    free(id);
    /* Admin paths never match, even a catch-all rule. */
    add_fault(&e, "{\"path\":\"*\",\"status\":500}");
    r = get(&e, "/_emulator/health", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = get(&e, "/api/health", NULL);
    CU_ASSERT_EQUAL(r.status, 500);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_fault_times(void)
{
    emu_proc e;
    start_keys(&e);
    int id = add_fault(&e, "{\"method\":\"POST\",\"path\":\"/api/sandbox\","
                           "\"status\":500,\"message\":\"once\",\"times\":1}");
    http_resp r = post(&e, "/api/sandbox", K1, "{}");
    assert_error(&r, 500, "once");
    http_resp_free(&r);
    r = post(&e, "/api/sandbox", K1, "{}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = post(&e, "/api/sandbox", K1, "{}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = get(&e, "/_emulator/faults", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r.json), 1);
    const cJSON *f = cJSON_GetArrayItem(r.json, 0);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(f, "id")->valueint, id);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(f, "fired")->valueint, 1);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(f, "remaining")->valueint, 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

typedef struct {
    const emu_proc *e;
    int64_t started, finished;
    long status;
} slow_job;

static void *slow_thread(void *arg)
{
    slow_job *j = arg;
    j->started = time_mono_ms();
    http_resp r = get(j->e, "/api/sandbox/x", K1);
    j->finished = time_mono_ms();
    j->status = r.status;
    http_resp_free(&r);
    return NULL;
}

/* A slow request never holds up others. */
static void test_fault_latency(void)
{
    emu_proc e;
    start_keys(&e);
    add_fault(&e, "{\"method\":\"GET\",\"path\":\"/api/sandbox/*\","
                  "\"latencyMs\":300}");
    slow_job j = {&e, 0, 0, 0};
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, slow_thread, &j) == 0);
    tn_sleep_ms(60);
    int64_t h0 = time_mono_ms();
    http_resp r = get(&e, "/_emulator/health", NULL);
    int64_t h1 = time_mono_ms();
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    /* Also a non-admin request on a path the rule does not cover. */
    int64_t a0 = time_mono_ms();
    r = get(&e, "/api/health", NULL);
    int64_t a1 = time_mono_ms();
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(j.status, 404);   /* latency only: the request still runs */
    r = journal_when(&e, "GET", "/api/sandbox/x");
    const cJSON *je = journal_find(cJSON_GetObjectItemCaseSensitive(r.json, "entries"),
                                   "GET", "/api/sandbox/x");
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(je, "durationMs");
    CU_ASSERT(cJSON_IsNumber(jd) && jd->valuedouble >= 300);
    http_resp_free(&r);
    CU_ASSERT(j.finished - j.started >= 300);
    CU_ASSERT(h1 - h0 < 200);
    CU_ASSERT(a1 - a0 < 200);
    CU_ASSERT(h1 < j.finished);       /* answered while the slow one waited */
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_fault_drop(void)
{
    emu_proc e;
    start_keys(&e);
    add_fault(&e, "{\"path\":\"/api/sandbox/*\",\"drop\":true}");
    http_resp r = get(&e, "/api/sandbox/x", K1);
    CU_ASSERT_EQUAL(r.status, 0);
    http_resp_free(&r);
    r = get(&e, "/_emulator/health", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = get(&e, "/api/sandbox", K1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Hit (503) / miss (404) pattern of 20 GETs on a fresh emulator. */
static void probability_run(char out[21])
{
    emu_proc e;
    memset(out, '?', 20);
    out[20] = '\0';
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    add_fault(&e, "{\"method\":\"GET\",\"path\":\"/api/sandbox/*\",\"status\":503,"
                  "\"probability\":0.5,\"seed\":7}");
    for (int i = 0; i < 20; i++) {
        http_resp r = get(&e, "/api/sandbox/none", K1);
        out[i] = r.status == 503 ? 'H' : r.status == 404 ? '.' : '?';
        http_resp_free(&r);
    }
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_fault_probability_seeded(void)
{
    char a[21], b[21];
    probability_run(a);
    probability_run(b);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT_PTR_NULL(strchr(a, '?'));
    CU_ASSERT_PTR_NOT_NULL(strchr(a, 'H'));
    CU_ASSERT_PTR_NOT_NULL(strchr(a, '.'));
    if (strcmp(a, b) != 0)
        fprintf(stderr, "\n  sequences differ: %s vs %s\n", a, b);
}

static void test_fault_invalid(void)
{
    static const char *const bad[] = {
        "[]",
        "{\"status\":503}",                                   /* no path */
        "{\"path\":\"\",\"status\":503}",
        "{\"path\":5,\"status\":503}",
        "{\"path\":\"/api/*\"}",                              /* no effect */
        "{\"path\":\"/api/*\",\"status\":\"503\"}",
        "{\"path\":\"/api/*\",\"status\":700}",
        "{\"path\":\"/api/*\",\"status\":42}",
        "{\"path\":\"/api/*\",\"latencyMs\":-5}",
        "{\"path\":\"/api/*\",\"drop\":\"yes\"}",
        "{\"path\":\"/api/*\",\"status\":503,\"probability\":1.5}",
        "{\"path\":\"/api/*\",\"status\":503,\"probability\":-0.1}",
        "{\"path\":\"/api/*\",\"status\":503,\"seed\":\"x\"}",
        "{\"path\":\"/api/*\",\"status\":503,\"times\":-2}",
        "{\"path\":\"/api/*\",\"status\":503,\"method\":7}",
        "{\"path\":\"/api/*\",\"status\":503,\"message\":1}",
        "{\"path\":",
    };
    emu_proc e;
    start_keys(&e);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_resp r = post(&e, "/_emulator/faults", NULL, bad[i]);
        CU_ASSERT_EQUAL(r.status, 400);
        CU_ASSERT_PTR_NOT_NULL(resp_str(&r, "message"));
        if (r.status != 400)
            fprintf(stderr, "\n  fault %s -> %ld\n", bad[i], r.status);
        http_resp_free(&r);
    }
    http_resp r = get(&e, "/_emulator/faults", NULL);
    CU_ASSERT_STRING_EQUAL(r.body, "[]");
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_fault_delete(void)
{
    emu_proc e;
    start_keys(&e);
    int a = add_fault(&e, "{\"method\":\"GET\",\"path\":\"/api/sandbox/a\",\"status\":502}");
    int b = add_fault(&e, "{\"method\":\"GET\",\"path\":\"/api/sandbox/b\",\"status\":502}");
    add_fault(&e, "{\"method\":\"GET\",\"path\":\"/api/sandbox/c\",\"status\":502}");
    char path[64];
    snprintf(path, sizeof path, "/_emulator/faults/%d", a);
    http_resp r = del(&e, path, NULL);
    CU_ASSERT_EQUAL(r.status, 204);
    http_resp_free(&r);
    r = del(&e, path, NULL);
    assert_error(&r, 404, "no such fault");
    http_resp_free(&r);
    r = del(&e, "/_emulator/faults/abc", NULL);
    CU_ASSERT_EQUAL(r.status, 400);
    http_resp_free(&r);
    r = get(&e, "/api/sandbox/a", K1);
    CU_ASSERT_EQUAL(r.status, 404);
    http_resp_free(&r);
    r = get(&e, "/api/sandbox/b", K1);
    CU_ASSERT_EQUAL(r.status, 502);
    http_resp_free(&r);
    r = get(&e, "/_emulator/faults", NULL);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r.json), 2);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.json, 0), "id")->valueint, b);
    http_resp_free(&r);
    r = del(&e, "/_emulator/faults", NULL);
    CU_ASSERT_EQUAL(r.status, 204);
    http_resp_free(&r);
    r = get(&e, "/_emulator/faults", NULL);
    CU_ASSERT_STRING_EQUAL(r.body, "[]");
    http_resp_free(&r);
    r = get(&e, "/api/sandbox/b", K1);
    CU_ASSERT_EQUAL(r.status, 404);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* ---------- suite journal ---------- */

#define SECRET_KEY "sekret-KEY-7f3a9c"
#define WRONG_KEY "wrong-KEY-b81d22"

static void test_journal(void)
{
    static const char *const args[] = {"--api-key", SECRET_KEY, NULL};
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", args) == 0);
    http_resp r = del(&e, "/_emulator/journal", NULL);
    CU_ASSERT_EQUAL(r.status, 204);
    http_resp_free(&r);
    r = get(&e, "/api/sandbox?limit=5&name=j", SECRET_KEY);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = post(&e, "/api/sandbox", SECRET_KEY, "{\"name\":\"jj\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = get(&e, "/api/sandbox/nope", WRONG_KEY);
    CU_ASSERT_EQUAL(r.status, 401);
    http_resp_free(&r);
    static const char *const xh[] = {"X-Daytona-Organization-ID: " SECRET_KEY, NULL};
    r = http_do(&e, "GET", "/api/sandbox/jj", SECRET_KEY, xh, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);

    r = journal_when(&e, "GET", "/api/sandbox/jj");
    CU_ASSERT_EQUAL(r.status, 200);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(r.json, "entries");
    CU_ASSERT(cJSON_IsArray(entries));
    const cJSON *q = journal_find(entries, "GET", "/api/sandbox?limit=5&name=j");
    CU_ASSERT_PTR_NOT_NULL(q);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(q, "status");
    const cJSON *du = cJSON_GetObjectItemCaseSensitive(q, "durationMs");
    CU_ASSERT(cJSON_IsNumber(st) && st->valueint == 200);
    CU_ASSERT(cJSON_IsNumber(du) && du->valuedouble >= 0);
    const cJSON *c = journal_find(entries, "POST", "/api/sandbox");
    CU_ASSERT(c && cJSON_GetObjectItemCaseSensitive(c, "status")->valueint == 200);
    const cJSON *u = journal_find(entries, "GET", "/api/sandbox/nope");
    CU_ASSERT(u && cJSON_GetObjectItemCaseSensitive(u, "status")->valueint == 401);
    /* No credentials anywhere in the journal. */
    CU_ASSERT_PTR_NULL(strstr(r.body, SECRET_KEY));
    CU_ASSERT_PTR_NULL(strstr(r.body, WRONG_KEY));
    CU_ASSERT_PTR_NULL(strcasestr(r.body, "authorization"));
    CU_ASSERT_PTR_NULL(strcasestr(r.body, "bearer"));
    int total = cJSON_GetArraySize(entries);
    CU_ASSERT(total >= 5);
    /* The newest entry is last. */
    const cJSON *last = cJSON_GetArrayItem(entries, total - 1);
    CU_ASSERT_PTR_EQUAL(last, journal_find(entries, "GET", "/api/sandbox/jj"));
    http_resp_free(&r);

    tn_sleep_ms(50);     /* let the previous journal GET be recorded */
    r = get(&e, "/_emulator/journal?limit=2", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    entries = cJSON_GetObjectItemCaseSensitive(r.json, "entries");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(entries), 2);
    /* The most recent two: the full journal GET, then the /jj GET before it. */
    const cJSON *p1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 0), "path");
    const cJSON *p2 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 1), "path");
    CU_ASSERT(cJSON_IsString(p1) && strcmp(p1->valuestring, "/api/sandbox/jj") == 0);
    CU_ASSERT(cJSON_IsString(p2) && strcmp(p2->valuestring, "/_emulator/journal") == 0);
    http_resp_free(&r);
    static const char *const bad_limits[] = {"0", "-1", "abc", "1001"};
    for (size_t i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "/_emulator/journal?limit=%s", bad_limits[i]);
        r = get(&e, path, NULL);
        CU_ASSERT_EQUAL(r.status, 400);
        http_resp_free(&r);
    }

    tn_sleep_ms(50);
    r = del(&e, "/_emulator/journal", NULL);
    CU_ASSERT_EQUAL(r.status, 204);
    http_resp_free(&r);
    r = get(&e, "/_emulator/journal", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    entries = cJSON_GetObjectItemCaseSensitive(r.json, "entries");
    /* Only the DELETE itself (recorded once it completed) may be there. */
    const cJSON *it;
    cJSON_ArrayForEach(it, entries) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "method");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
        CU_ASSERT(cJSON_IsString(m) && strcmp(m->valuestring, "DELETE") == 0);
        CU_ASSERT(cJSON_IsString(p) && strcmp(p->valuestring, "/_emulator/journal") == 0);
    }
    CU_ASSERT(cJSON_GetArraySize(entries) <= 1);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void spin_forever(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}

/*
 * Once a response has arrived, its request is in the journal: a test that
 * checks "my code called X" right after the call must not need to wait.
 * The CPU is kept busy by spinning child processes so the window between
 * sending a response and recording it is actually exercised.
 */
static void test_journal_current(void)
{
    enum { SPINNERS = 4, ROUNDS = 300 };
    emu_proc e;
    start_keys(&e);
    pid_t spin[SPINNERS];
    for (int i = 0; i < SPINNERS; i++) {
        spin[i] = fork();
        if (spin[i] == 0)
            spin_forever();
    }
    int missed = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/sandbox/seq-%d", i);
        http_resp r = get(&e, path, K1);
        CU_ASSERT_EQUAL(r.status, 404);
        http_resp_free(&r);
        r = get(&e, "/_emulator/journal?limit=3", NULL);
        if (!journal_find(cJSON_GetObjectItemCaseSensitive(r.json, "entries"),
                          "GET", path))
            missed++;
        http_resp_free(&r);
    }
    for (int i = 0; i < SPINNERS; i++) {
        if (spin[i] > 0) {
            kill(spin[i], SIGKILL);
            waitpid(spin[i], NULL, 0);
        }
    }
    CU_ASSERT_EQUAL(missed, 0);
    if (missed)
        fprintf(stderr, "\n  %d of %d requests were not yet in the journal when "
                        "their response had arrived\n", missed, ROUNDS);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* A dropped request is journaled with status 0. */
static void test_journal_drop(void)
{
    emu_proc e;
    start_keys(&e);
    add_fault(&e, "{\"path\":\"/api/sandbox/gone\",\"drop\":true}");
    http_resp r = get(&e, "/api/sandbox/gone", K1);
    CU_ASSERT_EQUAL(r.status, 0);
    http_resp_free(&r);
    r = journal_when(&e, "GET", "/api/sandbox/gone");
    const cJSON *d = journal_find(cJSON_GetObjectItemCaseSensitive(r.json, "entries"),
                                  "GET", "/api/sandbox/gone");
    CU_ASSERT_PTR_NOT_NULL(d);
    CU_ASSERT(d && cJSON_GetObjectItemCaseSensitive(d, "status")->valueint == 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    static const cu_test tests[] = {
        {"basics", "health", test_health},
        {"basics", "info", test_info},
        {"basics", "outside /api, no key", test_outside_api_no_key},
        {"basics", "reset all", test_reset_all},
        {"basics", "reset one organization", test_reset_org},
        {"basics", "empty form-urlencoded bodies", test_empty_form_body},
        {"clock", "get and advance", test_clock_get_post},
        {"clock", "auto-stop after 15 min, not 14", test_autostop_default},
        {"clock", "autoStopInterval 0 never stops", test_autostop_zero_never},
        {"clock", "auto-archive counted from the stop", test_autoarchive_from_stop},
        {"clock", "auto-delete 30 vs -1", test_autodelete},
        {"clock", "ephemeral auto-stop deletes", test_ephemeral_autostop_deletes},
        {"clock", "last-activity resets the idle timer", test_last_activity_resets_timer},
        {"clock", "a start restarts the idle timer", test_start_restarts_timer},
        {"clock", "reads and metadata are not activity", test_metadata_is_not_activity},
        {"clock", "archived sandboxes are not auto-deleted", test_archived_not_autodeleted},
        {"clock", "one long jump equals time passing", test_one_jump_equals_time_passing},
        {"transitions", "slow create", test_slow_create},
        {"transitions", "slow stop", test_slow_stop},
        {"transitions", "start failure, then clear", test_start_failure_and_clear},
        {"transitions", "create failure, invalid rules", test_create_failure},
        {"faults", "status", test_fault_status},
        {"faults", "times", test_fault_times},
        {"faults", "latency holds up nothing else", test_fault_latency},
        {"faults", "drop", test_fault_drop},
        {"faults", "seeded probability repeats", test_fault_probability_seeded},
        {"faults", "invalid rules", test_fault_invalid},
        {"faults", "delete one and all", test_fault_delete},
        {"journal", "entries, limit, no credentials, clear", test_journal},
        {"journal", "dropped request", test_journal_drop},
        {"journal", "current when the response arrives", test_journal_current},
    };
    return cu_run_table(tests, sizeof tests / sizeof tests[0], NULL, NULL);
}
