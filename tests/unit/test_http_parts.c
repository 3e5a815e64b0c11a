/*
 * test_http_parts.c - the small pure parts of the HTTP front and its
 * helpers, each table-driven: the router over the real route table
 * (emu_route_match), fault rules (glob, validation, seeded probability,
 * counts), the request journal ring, transition rules, the JWT shape test
 * and key → organization mapping, and the sandbox record's derived state
 * and JSON forms (control-plane.md §3, §3.1, §4.2).
 */
#include <CUnit/Basic.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cu_run.h"
#include "events.h"
#include "faults.h"
#include "handlers.h"
#include "journal.h"
#include "rnd.h"
#include "sandbox.h"
#include "transitions.h"

/* ---- router ---- */

typedef struct {
    const char *method, *path;
    emu_handler want;          /* NULL: no route */
    int nparams;
    const char *params[3];
} route_case;

static const route_case ROUTES[] = {
    /* A literal segment wins over a parameter. */
    {"GET", "/api/sandbox/paginated", h_sandbox_paginated, 0, {NULL}},
    {"GET", "/api/sandbox/paginatedx", h_sandbox_get, 1, {"paginatedx"}},
    {"DELETE", "/api/sandbox/paginated", h_sandbox_delete, 1, {"paginated"}},
    {"GET", "/api/sandbox", h_sandbox_list, 0, {NULL}},
    {"POST", "/api/sandbox", h_sandbox_create, 0, {NULL}},
    {"GET", "/api/sandbox/abc", h_sandbox_get, 1, {"abc"}},
    {"GET", "/api/volumes/by-name/data", h_volume_by_name, 1, {"data"}},
    {"GET", "/api/volumes/by-name", h_volume_get, 1, {"by-name"}},
    /* Parameters are percent-decoded per segment: %2F stays inside. */
    {"GET", "/api/sandbox/my%20box", h_sandbox_get, 1, {"my box"}},
    {"GET", "/api/sandbox/a%2Fb", h_sandbox_get, 1, {"a/b"}},
    {"POST", "/api/sandbox/a%2fb/start", h_sandbox_start, 1, {"a/b"}},
    {"GET", "/api/sandbox/%41%42c", h_sandbox_get, 1, {"ABc"}},
    {"GET", "/api/sandbox/100%25", h_sandbox_get, 1, {"100%"}},
    {"GET", "/api/sandbox/bad%zz", h_sandbox_get, 1, {"bad%zz"}},
    {"GET", "/api/sandbox/end%2", h_sandbox_get, 1, {"end%2"}},
    {"GET", "/api/sandbox/%C3%BC", h_sandbox_get, 1, {"\xc3\xbc"}},
    /* Several parameters, in order. */
    {"POST", "/api/sandbox/x/autostop/30", h_sandbox_autostop, 2, {"x", "30"}},
    {"POST", "/api/sandbox/x/autodelete/-1", h_sandbox_autodelete, 2,
     {"x", "-1"}},
    {"POST", "/api/sandbox/id1/ports/3000/signed-preview-url/tok/expire",
     h_sandbox_signed_expire, 3, {"id1", "3000", "tok"}},
    {"DELETE", "/_emulator/faults/3", h_admin_fault_delete, 1, {"3"}},
    {"GET", "/api/socket.io/", events_handle_upgrade, 0, {NULL}},
    {"GET", "/api/socket.io", events_handle_upgrade, 0, {NULL}},
    {"GET", "/api/health", h_health, 0, {NULL}},
    /* Wrong method. */
    {"PUT", "/api/sandbox", NULL, 0, {NULL}},
    {"PATCH", "/api/sandbox/x", NULL, 0, {NULL}},
    {"GET", "/api/sandbox/x/start", NULL, 0, {NULL}},
    {"get", "/api/sandbox", NULL, 0, {NULL}},
    /* Segment mismatches, too few or too many segments. */
    {"POST", "/api/sandbox/x/sto", NULL, 0, {NULL}},
    {"POST", "/api/sandbox/x/stopp", NULL, 0, {NULL}},
    {"POST", "/api/sandbox/x/stop/now", NULL, 0, {NULL}},
    {"GET", "/api/sandbox/a/b", NULL, 0, {NULL}},
    {"POST", "/api/sandbox/x/autostop", NULL, 0, {NULL}},
    {"GET", "/api/healthz", NULL, 0, {NULL}},
    {"GET", "/api/healt", NULL, 0, {NULL}},
    {"GET", "/api", NULL, 0, {NULL}},
    {"GET", "", NULL, 0, {NULL}},
    {"GET", "api/health", NULL, 0, {NULL}},
    /* Empty segments never bind a parameter. */
    {"GET", "/api/sandbox/", NULL, 0, {NULL}},
    {"GET", "/api//sandbox", NULL, 0, {NULL}},
    {"POST", "/api/sandbox//start", NULL, 0, {NULL}},
    {"GET", "//api/health", NULL, 0, {NULL}},
};

static void test_route_table(void)
{
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const route_case *tc = &ROUTES[i];
        const char *params[EMU_MAX_PARAMS] = {NULL};
        int np = -1;
        char *store = NULL;
        const emu_route *rt = emu_route_match(emu_routes, emu_nroutes,
                                              tc->method, tc->path, params,
                                              &np, &store);
        int ok = (rt ? rt->handler : NULL) == tc->want;
        if (ok && rt) {
            ok = np == tc->nparams;
            for (int k = 0; ok && k < np; k++)
                ok = strcmp(params[k], tc->params[k]) == 0;
        }
        if (!rt)
            ok &= store == NULL;   /* nothing to free on a miss */
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\n  case %zu %s %s: route %s, %d params%s%s\n", i,
                    tc->method, tc->path, rt ? rt->pattern : "(none)", np,
                    np > 0 ? ", first " : "", np > 0 ? params[0] : "");
        free(store);
    }
}

/* A decoded NUL must not shorten a name into another sandbox's name: the
 * path /api/sandbox/a%00b names "a\0b", which no lookup may turn into
 * "a" (§11.2: parameters are encodeURIComponent'd names). */
static void test_route_nul_not_truncating(void)
{
    const char *params[EMU_MAX_PARAMS] = {NULL};
    int np = 0;
    char *store = NULL;
    const emu_route *rt = emu_route_match(emu_routes, emu_nroutes, "GET",
                                          "/api/sandbox/a%00b", params, &np,
                                          &store);
    if (rt) {
        CU_ASSERT_EQUAL(np, 1);
        CU_ASSERT(np == 1 && strcmp(params[0], "a") != 0);
        if (np == 1 && strcmp(params[0], "a") == 0)
            fprintf(stderr, "\n  /api/sandbox/a%%00b routes as sandbox \"a\"\n");
    }
    free(store);
}

/* ---- faults ---- */

static void test_faults_glob(void)
{
    static const struct {
        const char *pattern, *s;
        int want;
    } cases[] = {
        {"", "", 1},
        {"", "a", 0},
        {"a", "", 0},
        {"*", "", 1},
        {"*", "/anything/at/all", 1},
        {"**", "x", 1},
        {"?", "", 0},
        {"?", "a", 1},
        {"??", "a", 0},
        {"*?", "", 0},
        {"*?", "x", 1},
        {"/api/*", "/api/sandbox/x/start", 1},      /* '*' crosses '/' */
        {"/api/*", "/api", 0},
        {"/api/*", "/api/", 1},
        {"/api/sandbox/*/start", "/api/sandbox/abc/start", 1},
        {"/api/sandbox/*/start", "/api/sandbox/a/b/start", 1},
        {"/api/sandbox/*/start", "/api/sandbox/abc/stop", 0},
        {"/api/sandbox/*/start", "/api/sandbox/abc/start/x", 0},
        {"/api/sandbox", "/api/sandbox/", 0},
        {"/api/sandbox*", "/api/sandbox/", 1},
        {"/api/sandbox/?", "/api/sandbox/a", 1},
        {"/api/sandbox/?", "/api/sandbox/ab", 0},
        {"/API/*", "/api/x", 0},                      /* case-sensitive */
        {"*ab", "aab", 1},                            /* needs backtracking */
        {"a*b*c", "axxbyyc", 1},
        {"a*b*c", "axxbyy", 0},
        {"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
        {"*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = faults_glob(cases[i].pattern, cases[i].s);
        CU_ASSERT_EQUAL(got, cases[i].want);
        if (got != cases[i].want)
            fprintf(stderr, "\n  glob(\"%s\", \"%s\") = %d\n", cases[i].pattern,
                    cases[i].s, got);
    }
}

static int add_rule(emu_faults *f, const char *json, char *err, size_t n)
{
    cJSON *o = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL(o);
    err[0] = '\0';
    int id = faults_add(f, o, err, n);
    cJSON_Delete(o);
    return id;
}

static void test_faults_add_validation(void)
{
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"[]", "fault must be a JSON object"},
        {"\"x\"", "fault must be a JSON object"},
        {"{}", "path must be a non-empty string pattern"},
        {"{\"path\":\"\",\"status\":500}", "path must be a non-empty string pattern"},
        {"{\"path\":5,\"status\":500}", "path must be a non-empty string pattern"},
        {"{\"path\":\"/x\",\"method\":5,\"status\":500}", "method must be a string"},
        {"{\"path\":\"/x\",\"method\":\"ABCDEFGHIJKLMNOP\",\"status\":500}",
         "method must be a string"},
        {"{\"path\":\"/x\",\"status\":99}", "status must be an HTTP status code"},
        {"{\"path\":\"/x\",\"status\":600}", "status must be an HTTP status code"},
        {"{\"path\":\"/x\",\"status\":-1}", "status must be an HTTP status code"},
        {"{\"path\":\"/x\",\"status\":\"500\"}", "status must be an HTTP status code"},
        {"{\"path\":\"/x\",\"status\":500,\"message\":1}",
         "message must be a string under 256 bytes"},
        {"{\"path\":\"/x\",\"drop\":\"yes\"}", "drop must be a boolean"},
        {"{\"path\":\"/x\",\"status\":500,\"probability\":1.5}",
         "probability must be a number from 0 to 1"},
        {"{\"path\":\"/x\",\"status\":500,\"probability\":-0.1}",
         "probability must be a number from 0 to 1"},
        {"{\"path\":\"/x\",\"status\":500,\"probability\":\"1\"}",
         "probability must be a number from 0 to 1"},
        {"{\"path\":\"/x\",\"status\":500,\"seed\":\"x\"}", "seed must be a number"},
        {"{\"path\":\"/x\",\"latencyMs\":-1}", "latencyMs must be 0..600000"},
        {"{\"path\":\"/x\",\"latencyMs\":600001}", "latencyMs must be 0..600000"},
        {"{\"path\":\"/x\",\"status\":500,\"times\":-1}",
         "times must be a non-negative integer"},
        {"{\"path\":\"/x\"}", "a fault needs status, latencyMs or drop"},
        {"{\"path\":\"/x\",\"status\":0,\"drop\":false,\"latencyMs\":0}",
         "a fault needs status, latencyMs or drop"},
    };
    emu_faults *f = faults_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int id = add_rule(f, cases[i].json, err, sizeof err);
        CU_ASSERT_EQUAL(id, 0);
        CU_ASSERT_STRING_EQUAL(err, cases[i].err);
        if (id != 0 || strcmp(err, cases[i].err) != 0)
            fprintf(stderr, "\n  %s: id %d err \"%s\"\n", cases[i].json, id, err);
    }
    /* A 256-byte message or path is over the limit; 255 is fine. */
    char json[700];
    char long_text[257];
    memset(long_text, 'm', 256);
    long_text[256] = '\0';
    snprintf(json, sizeof json, "{\"path\":\"/x\",\"status\":500,\"message\":\"%s\"}",
             long_text);
    CU_ASSERT_EQUAL(add_rule(f, json, err, sizeof err), 0);
    snprintf(json, sizeof json, "{\"path\":\"/%s\",\"status\":500}", long_text);
    CU_ASSERT_EQUAL(add_rule(f, json, err, sizeof err), 0);
    long_text[255] = '\0';
    snprintf(json, sizeof json, "{\"path\":\"/x\",\"status\":500,\"message\":\"%s\"}",
             long_text);
    CU_ASSERT_EQUAL(add_rule(f, json, err, sizeof err), 1);

    /* Nothing invalid was stored; ids count up; remove one, then all. */
    cJSON *l = faults_list(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(l), 1);
    cJSON_Delete(l);
    CU_ASSERT_EQUAL(add_rule(f, "{\"path\":\"/y\",\"drop\":true}", err, sizeof err), 2);
    CU_ASSERT_EQUAL(add_rule(f, "{\"path\":\"/z\",\"latencyMs\":5}", err, sizeof err), 3);
    CU_ASSERT_EQUAL(faults_remove(f, 2), 1);
    CU_ASSERT_EQUAL(faults_remove(f, 2), 0);
    CU_ASSERT_EQUAL(faults_remove(f, 99), 0);
    CU_ASSERT_EQUAL(faults_remove(f, 0), 2);
    l = faults_list(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);

    /* At most 64 rules. */
    int last = 0;
    for (int i = 0; i < 64; i++)
        last = add_rule(f, "{\"path\":\"/r\",\"status\":500}", err, sizeof err);
    CU_ASSERT(last > 0);
    CU_ASSERT_EQUAL(add_rule(f, "{\"path\":\"/r\",\"status\":500}", err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(err, "too many fault rules (max 64)");
    faults_free(f);
    faults_free(NULL);
}

/* Runs n matches of one method/path and records which fired. */
static int fire_sequence(emu_faults *f, const char *method, const char *path,
                         int n, char *hits)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        fault_action a;
        memset(&a, 0, sizeof a);
        hits[i] = (char)faults_match(f, method, path, &a);
        count += hits[i];
    }
    return count;
}

static emu_faults *faults_with(const char *json)
{
    char err[256];
    emu_faults *f = faults_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT(add_rule(f, json, err, sizeof err) > 0);
    return f;
}

static void test_faults_probability_and_times(void)
{
    char a[1000], b[1000];
    const char *half = "{\"path\":\"/api/*\",\"status\":503,\"probability\":0.5,"
                       "\"seed\":42}";
    emu_faults *f1 = faults_with(half), *f2 = faults_with(half);
    int n1 = fire_sequence(f1, "GET", "/api/sandbox", 100, a);
    int n2 = fire_sequence(f2, "GET", "/api/sandbox", 100, b);
    CU_ASSERT_EQUAL(n1, n2);
    CU_ASSERT_EQUAL(memcmp(a, b, 100), 0);   /* same seed, same hits */
    CU_ASSERT(n1 > 20 && n1 < 80);
    faults_free(f1);
    faults_free(f2);

    emu_faults *f3 = faults_with("{\"path\":\"/api/*\",\"status\":503,"
                                 "\"probability\":0.5,\"seed\":43}");
    fire_sequence(f3, "GET", "/api/sandbox", 100, b);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, 100), 0);   /* another seed differs */
    faults_free(f3);

    emu_faults *never = faults_with("{\"path\":\"*\",\"status\":500,"
                                    "\"probability\":0}");
    CU_ASSERT_EQUAL(fire_sequence(never, "GET", "/api/x", 1000, a), 0);
    faults_free(never);

    emu_faults *always = faults_with("{\"path\":\"*\",\"status\":500}");
    CU_ASSERT_EQUAL(fire_sequence(always, "GET", "/api/x", 1000, a), 1000);
    faults_free(always);

    emu_faults *twice = faults_with("{\"path\":\"/api/sandbox\",\"status\":502,"
                                    "\"times\":2}");
    CU_ASSERT_EQUAL(fire_sequence(twice, "POST", "/api/sandbox", 10, a), 2);
    CU_ASSERT(a[0] && a[1] && !a[2]);
    cJSON *l = faults_list(twice);
    cJSON *r0 = cJSON_GetArrayItem(l, 0);
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "fired")), 2);
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "remaining")), 0);
    cJSON_Delete(l);
    faults_free(twice);
}

static void test_faults_match_fields(void)
{
    emu_faults *f = faults_with("{\"method\":\"post\",\"path\":\"/api/sandbox*\","
                                "\"status\":503,\"latencyMs\":7}");
    char err[256];
    CU_ASSERT(add_rule(f, "{\"path\":\"/api/health\",\"drop\":true,"
                          "\"message\":\"bye\"}", err, sizeof err) > 0);
    static const struct {
        const char *method, *path;
        int hit, status, latency, drop;
        const char *message;
    } cases[] = {
        {"POST", "/api/sandbox", 1, 503, 7, 0, "Injected fault"},
        {"POST", "/api/sandbox/x/start", 1, 503, 7, 0, "Injected fault"},
        {"GET", "/api/sandbox", 0, 0, 0, 0, NULL},        /* method differs */
        {"GET", "/api/health", 1, 0, 0, 1, "bye"},
        {"DELETE", "/api/health", 1, 0, 0, 1, "bye"},      /* "*" by default */
        {"GET", "/api/healthz", 0, 0, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fault_action a;
        memset(&a, 0, sizeof a);
        int hit = faults_match(f, cases[i].method, cases[i].path, &a);
        CU_ASSERT_EQUAL(hit, cases[i].hit);
        if (hit && cases[i].hit) {
            CU_ASSERT_EQUAL(a.status, cases[i].status);
            CU_ASSERT_EQUAL(a.latency_ms, cases[i].latency);
            CU_ASSERT_EQUAL(a.drop, cases[i].drop);
            CU_ASSERT_STRING_EQUAL(a.message, cases[i].message);
        }
    }
    faults_free(f);

    /* The admin API is never faulted, whatever the rules say. */
    static const char *const rules[] = {
        "{\"path\":\"*\",\"status\":500}",
        "{\"path\":\"/_emulator/*\",\"status\":500}",
        "{\"method\":\"POST\",\"path\":\"/_emulator/reset\",\"drop\":true}",
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        f = faults_with(rules[i]);
        fault_action a;
        CU_ASSERT_EQUAL(faults_match(f, "GET", "/_emulator/health", &a), 0);
        CU_ASSERT_EQUAL(faults_match(f, "POST", "/_emulator/reset", &a), 0);
        if (i == 0)
            CU_ASSERT_EQUAL(faults_match(f, "GET", "/api/health", &a), 1);
        faults_free(f);
    }
}

/* ---- journal ---- */

static const char *entry_path(cJSON *a, int i)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, i),
                                                    "path"));
}

static void test_journal_ring(void)
{
    emu_journal *j = journal_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    cJSON *a = journal_list(j, 0);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    for (int i = 0; i < 1005; i++) {
        char uri[32];
        snprintf(uri, sizeof uri, "/e/%d", i);
        journal_add(j, i % 2 ? "GET" : "POST", uri, 200 + i % 3, i);
    }
    /* Table: {limit, count, first, last}. */
    static const struct {
        int limit, count;
        const char *first, *last;
    } cases[] = {
        {0, 1000, "/e/5", "/e/1004"},
        {-1, 1000, "/e/5", "/e/1004"},
        {5000, 1000, "/e/5", "/e/1004"},
        {1000, 1000, "/e/5", "/e/1004"},
        {10, 10, "/e/995", "/e/1004"},
        {1, 1, "/e/1004", "/e/1004"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        a = journal_list(j, cases[c].limit);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        int n = cJSON_GetArraySize(a);
        CU_ASSERT_EQUAL(n, cases[c].count);
        CU_ASSERT_STRING_EQUAL(entry_path(a, 0), cases[c].first);
        CU_ASSERT_STRING_EQUAL(entry_path(a, n - 1), cases[c].last);
        /* Oldest first, consecutive. */
        int in_order = 1;
        for (int i = 1; i < n; i++) {
            int prev = atoi(entry_path(a, i - 1) + 3);
            in_order &= atoi(entry_path(a, i) + 3) == prev + 1;
        }
        CU_ASSERT(in_order);
        cJSON_Delete(a);
    }
    a = journal_list(j, 1);
    cJSON *e = cJSON_GetArrayItem(a, 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(e, "method")),
                           "POST");
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "status")), 202);
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "durationMs")), 1004);
    CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(e, "time")));
    cJSON_Delete(a);

    journal_clear(j);
    a = journal_list(j, 0);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    /* After a clear: a dropped connection (status 0), a long URI cut. */
    char uri[1200];
    memset(uri, 'u', sizeof uri - 1);
    uri[0] = '/';
    uri[sizeof uri - 1] = '\0';
    journal_add(j, "GET", uri, 0, 3);
    journal_add(j, "GET", NULL, 404, 1);
    a = journal_list(j, 0);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 2);
    CU_ASSERT(strlen(entry_path(a, 0)) < sizeof uri - 1);
    CU_ASSERT_EQUAL(strncmp(entry_path(a, 0), uri, 100), 0);
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(
                        cJSON_GetArrayItem(a, 0), "status")), 0);
    CU_ASSERT_STRING_EQUAL(entry_path(a, 1), "");
    cJSON_Delete(a);
    journal_add(NULL, "GET", "/x", 200, 0);   /* NULL journal: no-op */
    journal_free(j);
    journal_free(NULL);
}

/* ---- transitions ---- */

static void test_transitions_set(void)
{
    static const struct {
        const char *json, *err;
    } bad[] = {
        {"{}", "transition must be one of create, start, stop, archive, "
               "restore, delete"},
        {"{\"transition\":\"reboot\"}", "transition must be one of create, "
                                        "start, stop, archive, restore, delete"},
        {"{\"transition\":5}", "transition must be one of create, start, stop, "
                               "archive, restore, delete"},
        {"{\"transition\":\"START\"}", "transition must be one of create, "
                                       "start, stop, archive, restore, delete"},
        {"{\"transition\":\"start\",\"durationMs\":-1}",
         "durationMs must be a number from 0 to 3600000"},
        {"{\"transition\":\"start\",\"durationMs\":3600001}",
         "durationMs must be a number from 0 to 3600000"},
        {"{\"transition\":\"start\",\"durationMs\":\"10\"}",
         "durationMs must be a number from 0 to 3600000"},
        {"{\"transition\":\"start\",\"result\":\"maybe\"}",
         "result must be \"ok\" or \"error\""},
        {"{\"transition\":\"start\",\"result\":1}",
         "result must be \"ok\" or \"error\""},
        {"{\"transition\":\"start\",\"errorReason\":5}",
         "errorReason must be a string under 256 bytes"},
        {"{\"transition\":\"start\",\"recoverable\":\"yes\"}",
         "recoverable must be a boolean"},
    };
    emu_transitions *t = transitions_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char err[256];
    cJSON *o = cJSON_Parse("{\"transition\":\"start\",\"durationMs\":250}");
    CU_ASSERT_EQUAL(transitions_set(t, o, err, sizeof err), 0);
    cJSON_Delete(o);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = cJSON_Parse(bad[i].json);
        err[0] = '\0';
        CU_ASSERT_EQUAL(transitions_set(t, o, err, sizeof err), -1);
        CU_ASSERT_STRING_EQUAL(err, bad[i].err);
        cJSON_Delete(o);
    }
    /* A refused rule leaves the previous one in place. */
    tr_rule r;
    transitions_get(t, TR_START, &r);
    CU_ASSERT_EQUAL(r.duration_ms, 250);
    CU_ASSERT_EQUAL(r.fail, 0);

    static const struct {
        const char *name;
        tr_kind kind;
    } kinds[] = {{"create", TR_CREATE}, {"start", TR_START}, {"stop", TR_STOP},
                 {"archive", TR_ARCHIVE}, {"restore", TR_RESTORE},
                 {"delete", TR_DELETE}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"transition\":\"%s\",\"durationMs\":%zu,"
                 "\"result\":\"error\",\"errorReason\":\"r%zu\","
                 "\"recoverable\":true}", kinds[i].name, 100 * (i + 1), i);
        o = cJSON_Parse(json);
        CU_ASSERT_EQUAL(transitions_set(t, o, err, sizeof err), 0);
        cJSON_Delete(o);
        transitions_get(t, kinds[i].kind, &r);
        char reason[16];
        snprintf(reason, sizeof reason, "r%zu", i);
        CU_ASSERT_EQUAL(r.duration_ms, (int64_t)(100 * (i + 1)));
        CU_ASSERT_EQUAL(r.fail, 1);
        CU_ASSERT_EQUAL(r.recoverable, 1);
        CU_ASSERT_STRING_EQUAL(r.error_reason, reason);
    }
    cJSON *l = transitions_list(t);
    cJSON *stop = cJSON_GetObjectItem(l, "stop");
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(stop, "durationMs")), 300);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(stop, "result")),
                           "error");
    cJSON_Delete(l);

    /* result ok with no reason; then back to the defaults. */
    o = cJSON_Parse("{\"transition\":\"stop\",\"result\":\"ok\"}");
    CU_ASSERT_EQUAL(transitions_set(t, o, err, sizeof err), 0);
    cJSON_Delete(o);
    transitions_get(t, TR_STOP, &r);
    CU_ASSERT_EQUAL(r.fail, 0);
    CU_ASSERT_EQUAL(r.duration_ms, 0);
    transitions_clear(t);
    for (int k = 0; k < TR_COUNT; k++) {
        transitions_get(t, (tr_kind)k, &r);
        CU_ASSERT_EQUAL(r.duration_ms, 0);
        CU_ASSERT_EQUAL(r.fail, 0);
    }
    transitions_free(t);
    transitions_free(NULL);
}

/* ---- auth ---- */

static void test_auth_is_jwt(void)
{
    static const struct {
        const char *token;
        int want;
    } cases[] = {
        {"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", 1},
        {"eyJa.eyJb.c", 1},
        {"eyJa-_.eyJb_-.c-_", 1},
        {"dtn_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0},
        {"eyJa.eyJb", 0},             /* two segments */
        {"eyJa.eyJb.c.d", 0},         /* four segments */
        {"eyJa.xyz.c", 0},            /* payload is not JSON-shaped */
        {"abc.eyJb.c", 0},
        {"eyja.eyJb.c", 0},           /* case matters */
        {"Bearer eyJa.eyJb.c", 0},
        {"eyJ", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL(auth_is_jwt(cases[i].token), cases[i].want);
        if (auth_is_jwt(cases[i].token) != cases[i].want)
            fprintf(stderr, "\n  auth_is_jwt(\"%s\") != %d\n", cases[i].token,
                    cases[i].want);
    }
}

static void test_auth_org_for_key(void)
{
    static const char *const keys[] = {"dtn_test", "dtn_test2", "other", "",
                                       "DTN_TEST"};
    char orgs[5][40];
    for (size_t i = 0; i < 5; i++) {
        auth_org_for_key(keys[i], orgs[i]);
        CU_ASSERT(uuid_is_valid(orgs[i]));
        char again[40];
        auth_org_for_key(keys[i], again);
        CU_ASSERT_STRING_EQUAL(again, orgs[i]);          /* stable */
        for (size_t k = 0; k < i; k++)
            CU_ASSERT_STRING_NOT_EQUAL(orgs[k], orgs[i]); /* per key */
    }
    /* Pinned: ids are persisted with the data, so the derivation
     * (SHA-256 of "daytona-emu/organization/" + key, v4-shaped) must never
     * change between versions. */
    CU_ASSERT_STRING_EQUAL(orgs[0], "9ff834c8-b13b-44cf-83ac-ef9fe18fa0fb");
}

/* ---- sandbox record: derived state and JSON ---- */

static void test_reported_state(void)
{
    static const struct {
        const char *state, *desired, *full, *list;
        int pending;
    } cases[] = {
        {"started", "stopped", "stopping", "stopping", 1},
        {"started", "destroyed", "destroying", "destroying", 1},
        {"stopped", "started", "starting", "starting", 1},
        {"stopped", "destroyed", "destroying", "destroying", 1},
        {"stopped", "archived", "archiving", "archiving", 0},
        {"unknown", "started", "creating", "creating", 1},
        {"archived", "started", "archived", "restoring", 1},
        /* anything else: the stored state verbatim */
        {"started", "started", "started", "started", 0},
        {"stopped", "stopped", "stopped", "stopped", 0},
        {"archived", "archived", "archived", "archived", 0},
        {"archiving", "archived", "archiving", "archiving", 0},
        {"archived", "destroyed", "archived", "archived", 1},
        {"error", "started", "error", "error", 0},
        {"error", "destroyed", "error", "error", 0},
        {"build_failed", "started", "build_failed", "build_failed", 0},
        {"pending_build", "started", "pending_build", "pending_build", 1},
        {"destroyed", "destroyed", "destroyed", "destroyed", 0},
        {"resizing", "started", "resizing", "resizing", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        emu_sandbox sb;
        sandbox_init(&sb);
        snprintf(sb.state, sizeof sb.state, "%s", cases[i].state);
        snprintf(sb.desired, sizeof sb.desired, "%s", cases[i].desired);
        CU_ASSERT_STRING_EQUAL(sandbox_reported_state(&sb, 0), cases[i].full);
        CU_ASSERT_STRING_EQUAL(sandbox_reported_state(&sb, 1), cases[i].list);
        CU_ASSERT_EQUAL(sandbox_pending(&sb), cases[i].pending);
        CU_ASSERT_EQUAL(sandbox_errored(&sb),
                        strcmp(cases[i].state, "error") == 0 ||
                            strcmp(cases[i].state, "build_failed") == 0);
    }
}

static void test_state_names(void)
{
    static const char *const valid[] = {
        "creating", "restoring", "destroyed", "destroying", "started",
        "stopped", "starting", "stopping", "error", "build_failed",
        "pending_build", "building_snapshot", "unknown", "pulling_snapshot",
        "archived", "archiving", "resizing", "snapshotting", "forking",
        "pausing", "paused", "resuming"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        CU_ASSERT_EQUAL(sandbox_state_valid(valid[i]), 1);
    static const char *const invalid[] = {"", "Started", "running", "start",
                                          "destroyed "};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        CU_ASSERT_EQUAL(sandbox_state_valid(invalid[i]), 0);
}

static void make_record(emu_sandbox *sb)
{
    sandbox_init(sb);
    snprintf(sb->id, sizeof sb->id, "6f1c7c3e-4b8e-4d52-9a61-1f0d2b7c9e10");
    snprintf(sb->org_id, sizeof sb->org_id,
             "3b1f0c2a-9d7e-4c55-8a1e-5f2b6c7d8e90");
    sandbox_set_str(&sb->name, "quote\"and\\slash");
    sandbox_set_str(&sb->user, "daytona");
    sandbox_set_str(&sb->target, "us");
    sb->env = cJSON_Parse("{\"A\":\"1\"}");
    sb->labels = cJSON_Parse("{\"code-toolbox-language\":\"python\"}");
    sb->volumes = cJSON_CreateArray();
    sb->cpu = 1;
    sb->memory = 1;
    sb->disk = 3;
    snprintf(sb->state, sizeof sb->state, "archived");
    snprintf(sb->desired, sizeof sb->desired, "started");
    snprintf(sb->backup_state, sizeof sb->backup_state, "None");
    snprintf(sb->sandbox_class, sizeof sb->sandbox_class, "container");
    sb->auto_stop = 15;
    sb->auto_archive = 10080;
    sb->auto_delete = -1;
    sb->created_at = 0;
    sb->updated_at = 1782219600123LL;
    sb->last_activity_at = 1782219602456LL;
}

static int iso_ms_z(const char *s)
{
    regex_t re;
    if (regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                     "\\.[0-9]{3}Z$", REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = s && regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void test_sandbox_json(void)
{
    static const char *const tb = "http://127.0.0.1:3000/toolbox";
    emu_sandbox sb;
    make_record(&sb);
    cJSON *full = sandbox_to_json(&sb, 0, tb);
    cJSON *item = sandbox_to_json(&sb, 1, tb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(full);
    CU_ASSERT_PTR_NOT_NULL_FATAL(item);

    /* Required fields of both forms (§3, §3.1). */
    static const char *const common[] = {
        "id", "organizationId", "name", "target", "user", "public", "cpu",
        "gpu", "memory", "disk", "labels", "toolboxProxyUrl", "state",
        "desiredState", "autoStopInterval", "autoArchiveInterval",
        "autoDeleteInterval", "createdAt", "updatedAt"};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(full, common[i]));
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(item, common[i]));
    }
    /* Full-DTO-only fields: present in the DTO, absent from list items. */
    static const char *const full_only[] = {
        "env", "networkBlockAll", "networkAllowList", "domainAllowList",
        "volumes"};
    for (size_t i = 0; i < sizeof full_only / sizeof full_only[0]; i++) {
        CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(full, full_only[i]));
        CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(item, full_only[i]));
    }
    static const char *const never_in_items[] = {"buildInfo", "backupCreatedAt",
                                                 "linkedSandboxId"};
    for (size_t i = 0; i < sizeof never_in_items / sizeof never_in_items[0]; i++)
        CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(item, never_in_items[i]));

    CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItem(full, "env")));
    CU_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(full, "volumes")));
    CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(full, "networkBlockAll")));
    CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(full, "public")));
    /* DB-backed nullable fields are JSON null (trap 19). */
    static const char *const nulls[] = {"errorReason", "snapshot",
                                        "networkAllowList", "domainAllowList",
                                        "runnerId"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(full, nulls[i])));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(full, "buildInfo"));

    /* archived + desired started: `archived` in the DTO, `restoring` in
     * list items (trap 4). */
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(full, "state")),
                           "archived");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(item, "state")),
                           "restoring");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(full,
                                                                    "toolboxProxyUrl")), tb);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(full, "name")),
                           "quote\"and\\slash");
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(full,
                                                             "autoDeleteInterval")), -1);

    /* Timestamps: ISO-8601 with milliseconds and Z (§11.2). */
    static const struct {
        const char *key, *want;
    } times[] = {
        {"createdAt", "1970-01-01T00:00:00.000Z"},
        {"updatedAt", "2026-06-23T13:00:00.123Z"},
        {"lastActivityAt", "2026-06-23T13:00:02.456Z"},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        for (int form = 0; form < 2; form++) {
            const char *v = cJSON_GetStringValue(
                cJSON_GetObjectItem(form ? item : full, times[i].key));
            CU_ASSERT(iso_ms_z(v));
            if (v)
                CU_ASSERT_STRING_EQUAL(v, times[i].want);
        }
    }
    cJSON_Delete(full);
    cJSON_Delete(item);

    /* With values: strings instead of nulls, buildInfo only in the DTO. */
    sandbox_set_str(&sb.snapshot, "daytonaio/sandbox:0.5.0-slim");
    sandbox_set_str(&sb.error_reason, "boom");
    sandbox_set_str(&sb.network_allow_list, "10.0.0.0/8");
    sb.build_info = cJSON_Parse("{\"dockerfileContent\":\"FROM x\"}");
    snprintf(sb.state, sizeof sb.state, "stopped");
    full = sandbox_to_json(&sb, 0, tb);
    item = sandbox_to_json(&sb, 1, tb);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(full, "snapshot")),
                           "daytonaio/sandbox:0.5.0-slim");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(full,
                                                                    "errorReason")), "boom");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(full,
                                                                    "networkAllowList")),
                           "10.0.0.0/8");
    CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItem(full, "buildInfo")));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(item, "buildInfo"));
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(item, "state")),
                           "starting");
    cJSON_Delete(full);
    cJSON_Delete(item);
    sandbox_release(&sb);

    /* A record with no env still serializes a full DTO with "env": {}
     * (trap 11). */
    emu_sandbox bare;
    make_record(&bare);
    cJSON_Delete(bare.env);
    bare.env = NULL;
    cJSON_Delete(bare.volumes);
    bare.volumes = NULL;
    full = sandbox_to_json(&bare, 0, tb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(full);
    CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItem(full, "env")));
    CU_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(full, "volumes")));
    cJSON_Delete(full);
    sandbox_release(&bare);
}

static void test_sandbox_copy(void)
{
    emu_sandbox a, b;
    make_record(&a);
    sandbox_set_str(&a.transition_fail, "later");
    CU_ASSERT_EQUAL(sandbox_copy(&b, &a), EMU_OK);
    CU_ASSERT_STRING_EQUAL(b.name, a.name);
    CU_ASSERT_PTR_NOT_EQUAL(b.name, a.name);       /* deep */
    CU_ASSERT_PTR_NOT_EQUAL(b.env, a.env);
    CU_ASSERT(cJSON_Compare(b.labels, a.labels, 1));
    CU_ASSERT_STRING_EQUAL(b.transition_fail, "later");
    CU_ASSERT_PTR_NULL(b.snapshot);
    sandbox_release(&a);
    CU_ASSERT_STRING_EQUAL(b.name, "quote\"and\\slash");   /* independent */
    sandbox_release(&b);
    sandbox_release(&b);   /* released records may be released again */
}

int main(void)
{
    static const cu_test tests[] = {
        {"router", "route table", test_route_table},
        {"router", "decoded NUL does not truncate", test_route_nul_not_truncating},
        {"faults", "glob", test_faults_glob},
        {"faults", "rule validation", test_faults_add_validation},
        {"faults", "probability, seed, times", test_faults_probability_and_times},
        {"faults", "match fields, /_emulator/ exempt", test_faults_match_fields},
        {"journal", "ring wrap-around and limits", test_journal_ring},
        {"transitions", "rule validation and defaults", test_transitions_set},
        {"auth", "JWT shape", test_auth_is_jwt},
        {"auth", "organization per key", test_auth_org_for_key},
        {"sandbox", "reported state (§4.2)", test_reported_state},
        {"sandbox", "state names (§4.1)", test_state_names},
        {"sandbox", "JSON forms (§3, §3.1)", test_sandbox_json},
        {"sandbox", "deep copy", test_sandbox_copy},
    };
    return cu_run_table(tests, sizeof tests / sizeof tests[0], NULL, NULL);
}
