/*
 * test_api_sandbox.c - the sandbox control plane of the real daytona-emu
 * binary over HTTP: create and its validation, get, both list routes, the
 * lifecycle (start/stop/archive/delete), the side endpoints, snapshots and
 * volumes.  The authority is shared/reference/control-plane.md (§2 errors,
 * §3 DTO, §4 states, §5 create, §6 lists, §7 side endpoints, §10, §12 traps).
 *
 * Each suite starts its own emulator (one API key, in memory) with instant
 * transitions; tests that need an in-flight state configure a duration via
 * /_emulator/transitions and clear it again.  Tests isolate themselves with
 * unique names and labels, so their order does not matter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "api_util.h"
#include "cu_run.h"

#define K "dtn_sandbox_test_key"
#define DEFAULT_SNAPSHOT "daytonaio/sandbox:0.5.0-slim"
#define DOCKERFILE "FROM python:3.12-slim\\n"

/* ---------- fixtures and helpers ---------- */

static int suite_init(void)
{
    static const char *const args[] = {"--api-key", K, NULL};
    return api_suite_start(args);
}

static int suite_cleanup(void)
{
    return api_suite_stop();
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *nf(const char *key)
{
    return api_fmt("Sandbox with ID or name %s not found", key);
}

static const char *sbp(const char *key, const char *suffix)
{
    return api_fmt("/api/sandbox/%s%s", key, suffix);
}

/* POST /api/sandbox expecting 200; the DTO, or NULL. */
static const cJSON *create(const char *body)
{
    http_resp *r = POST("/api/sandbox", K, body);
    expect_status(r, 200);
    return r->status == 200 && cJSON_IsObject(r->json) ? r->json : NULL;
}

/* A started sandbox with a unique name (prefix) and the given labels JSON
 * (NULL = none); returns its id ("" on failure). */
static const char *create_named(const char *name, const char *labels)
{
    const cJSON *o = create(labels ? api_fmt("{\"name\":\"%s\",\"labels\":%s}",
                                             name, labels)
                                   : api_fmt("{\"name\":\"%s\"}", name));
    return api_jstr(o, "id");
}

static const char *state_of(const char *key)
{
    http_resp *r = GET(sbp(key, ""), K);
    expect_status(r, 200);
    return api_jstr(r->json, "state");
}

static void set_transition(const char *kind, long ms)
{
    http_resp *r = POST("/_emulator/transitions", NULL,
                        api_fmt("{\"transition\":\"%s\",\"durationMs\":%ld}",
                                kind, ms));
    expect_status(r, 200);
}

static void clear_transitions(void)
{
    expect_status(DEL("/_emulator/transitions", NULL), 204);
}

/* message starts with prefix (for texts with a support-line tail). */
static void msg_prefix_at(const http_resp *r, const char *prefix,
                          const char *file, unsigned line)
{
    const char *m = resp_str(r, "message");
    int ok = m && strncmp(m, prefix, strlen(prefix)) == 0;
    API_CHECK_AT(ok, file, line);
    if (!ok)
        fprintf(stderr, "\n  %s:%u: message should start with \"%s\": %s\n",
                file, line, prefix, r->body);
}
#define assert_msg_prefix(r, p) msg_prefix_at((r), (p), __FILE__, __LINE__)

/* DESTROYED_<name>_<epoch ms> (§4.3 delete). */
static int is_destroyed_name(const char *got, const char *name)
{
    size_t nl = strlen(name);
    if (strncmp(got, "DESTROYED_", 10) != 0 || strncmp(got + 10, name, nl) != 0 ||
        got[10 + nl] != '_')
        return 0;
    const char *d = got + 11 + nl;
    size_t n = strlen(d);
    if (n < 13)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    return 1;
}

/* The labels query value for {"k":"v"}. */
static const char *labels_q(const char *k, const char *v)
{
    return api_urlenc(api_fmt("{\"%s\":\"%s\"}", k, v));
}

#define MAX_IDS 32

typedef struct {
    const char *ids[MAX_IDS];
    const char *names[MAX_IDS];
    const char *states[MAX_IDS];
    int n;
    int pages;
    int page_size[MAX_IDS];
} walk;

/* Walks GET /api/sandbox?<query>[&cursor=…] until nextCursor is null,
 * checking every item's shape.  Stops after MAX_IDS items or pages. */
static void list_walk_at(const char *query, walk *w, const char *file,
                         unsigned line)
{
    memset(w, 0, sizeof *w);
    const char *cursor = NULL;
    while (w->pages < MAX_IDS) {
        http_resp *r = GET(cursor ? api_fmt("/api/sandbox?%s&cursor=%s", query,
                                            api_urlenc(cursor))
                                  : api_fmt("/api/sandbox?%s", query), K);
        api_expect_status_at(r, 200, file, line);
        const cJSON *items = api_field(r, "items"), *it;
        API_CHECK_AT(cJSON_IsArray(items), file, line);
        API_CHECK_AT(cJSON_GetArraySize(r->json) == 2, file, line);
        w->page_size[w->pages++] = cJSON_GetArraySize(items);
        cJSON_ArrayForEach(it, items) {
            api_item_at(it, file, line);
            if (w->n < MAX_IDS) {
                w->ids[w->n] = api_jstr(it, "id");
                w->names[w->n] = api_jstr(it, "name");
                w->states[w->n++] = api_jstr(it, "state");
            }
        }
        const cJSON *nc = api_field(r, "nextCursor");
        if (!nc || cJSON_IsNull(nc))
            return;
        API_CHECK_AT(cJSON_IsString(nc) && nc->valuestring[0], file, line);
        if (!cJSON_IsString(nc) || !nc->valuestring[0])
            return;
        cursor = nc->valuestring;
    }
    API_CHECK_AT(!"list walk did not end", file, line);
}
#define list_walk(q, w) list_walk_at((q), (w), __FILE__, __LINE__)

static int walk_count(const walk *w, const char *id)
{
    int c = 0;
    for (int i = 0; i < w->n; i++)
        c += strcmp(w->ids[i], id) == 0;
    return c;
}

/* ================= create ================= */

static void test_create_full_body(void)
{
    const char *vname = api_uniq("vol-full");
    http_resp *v = POST("/api/volumes", K, api_fmt("{\"name\":\"%s\"}", vname));
    expect_status(v, 200);
    const char *vid = api_jstr(v->json, "id");
    CU_ASSERT(api_is_uuid(vid));

    const char *name = api_uniq("full");
    /* everything SDK 0.218 sends for a snapshot sandbox (§5) */
    http_resp *r = POST("/api/sandbox", K, api_fmt(
        "{\"name\":\"%s\",\"snapshot\":\"" DEFAULT_SNAPSHOT "\","
        "\"user\":\"daytona\",\"env\":{\"FOO\":\"bar\",\"EMPTY\":\"\"},"
        "\"labels\":{\"code-toolbox-language\":\"python\",\"team\":\"%s\"},"
        "\"public\":true,\"networkBlockAll\":false,"
        "\"networkAllowList\":\"10.0.0.0/8,192.168.1.0/24\","
        "\"domainAllowList\":\"example.com,*.github.com\",\"target\":\"us\","
        "\"autoStopInterval\":30,\"autoArchiveInterval\":60,"
        "\"autoDeleteInterval\":120,"
        "\"volumes\":[{\"volumeId\":\"%s\",\"mountPath\":\"/home/daytona/data\"}]}",
        name, name, vname));
    expect_status(r, 200);
    const cJSON *o = r->json;
    assert_sandbox_dto(o);
    assert_str(o, "name", name);
    assert_str(o, "snapshot", DEFAULT_SNAPSHOT);
    assert_str(o, "user", "daytona");
    assert_json_eq(o, "env", "{\"FOO\":\"bar\",\"EMPTY\":\"\"}");
    assert_json_eq(o, "labels", api_fmt("{\"code-toolbox-language\":\"python\","
                                        "\"team\":\"%s\"}", name));
    assert_kind(o, "public", 't');
    assert_kind(o, "networkBlockAll", 'f');
    assert_str(o, "networkAllowList", "10.0.0.0/8,192.168.1.0/24");
    assert_str(o, "domainAllowList", "example.com,*.github.com");
    assert_str(o, "target", "us");
    assert_num(o, "cpu", 1);
    assert_num(o, "gpu", 0);
    assert_num(o, "memory", 1);
    assert_num(o, "disk", 3);
    assert_str(o, "state", "started");
    assert_str(o, "desiredState", "started");
    assert_kind(o, "errorReason", 'n');
    assert_kind(o, "recoverable", 'f');
    assert_str(o, "backupState", "None");
    assert_num(o, "autoStopInterval", 30);
    assert_num(o, "autoArchiveInterval", 60);
    assert_num(o, "autoDeleteInterval", 120);
    assert_str(o, "sandboxClass", "container");
    /* volumeId given by name comes back as the volume's UUID */
    assert_json_eq(o, "volumes", api_fmt("[{\"volumeId\":\"%s\","
                                         "\"mountPath\":\"/home/daytona/data\"}]",
                                         vid));
    assert_kind(o, "buildInfo", 'a');
    assert_kind(o, "gpuType", 'a');
    assert_str(o, "toolboxProxyUrl",
               api_fmt("http://127.0.0.1:%u/toolbox", api.emu.port));
    CU_ASSERT(strstr(api_jstr(o, "toolboxProxyUrl"), "/api") == NULL);
    CU_ASSERT(api_is_iso_ms(api_jstr(o, "lastActivityAt")));
    CU_ASSERT(strcmp(api_jstr(o, "id"), name) != 0);

    /* GET returns the same record */
    http_resp *g = GET(sbp(api_jstr(o, "id"), ""), K);
    expect_status(g, 200);
    assert_sandbox_dto(g->json);
    static const char *const same[] = {"id", "organizationId", "name",
                                       "snapshot", "env", "labels", "public",
                                       "networkAllowList", "domainAllowList",
                                       "volumes", "createdAt", "state",
                                       "autoStopInterval", "autoArchiveInterval",
                                       "autoDeleteInterval", "toolboxProxyUrl"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int eq = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(o, same[i]),
                               api_field(g, same[i]), 1);
        CU_ASSERT(eq);
        if (!eq)
            fprintf(stderr, "\n  GET differs from create in %s\n", same[i]);
    }
    api_release();
}

static void check_defaults(const cJSON *o)
{
    assert_sandbox_dto(o);
    assert_str(o, "name", api_jstr(o, "id"));
    assert_str(o, "snapshot", DEFAULT_SNAPSHOT);
    assert_str(o, "user", "daytona");
    assert_json_eq(o, "env", "{}");
    assert_json_eq(o, "labels", "{}");
    assert_json_eq(o, "volumes", "[]");
    assert_kind(o, "public", 'f');
    assert_kind(o, "networkBlockAll", 'f');
    assert_kind(o, "networkAllowList", 'N');
    assert_kind(o, "domainAllowList", 'N');
    assert_str(o, "target", "us");
    assert_num(o, "cpu", 1);
    assert_num(o, "gpu", 0);
    assert_num(o, "memory", 1);
    assert_num(o, "disk", 3);
    assert_num(o, "autoStopInterval", 15);
    assert_num(o, "autoArchiveInterval", 10080);
    assert_num(o, "autoDeleteInterval", -1);
    assert_str(o, "state", "started");
    assert_str(o, "desiredState", "started");
    assert_kind(o, "errorReason", 'n');
    assert_kind(o, "recoverable", 'f');
    assert_str(o, "backupState", "None");
    assert_str(o, "sandboxClass", "container");
    assert_kind(o, "buildInfo", 'a');
}

static void test_create_defaults(void)
{
    /* an empty JSON object */
    http_resp *r = POST("/api/sandbox", K, "{}");
    expect_status(r, 200);
    check_defaults(r->json);
    /* what axios sends for a body-less POST: form content type, length 0 */
    r = api_post_form_empty("/api/sandbox", K);
    expect_status(r, 200);
    check_defaults(r->json);
    /* no body and no content type at all */
    r = POST("/api/sandbox", K, NULL);
    expect_status(r, 200);
    check_defaults(r->json);
    /* unknown (0.218-only) fields are ignored (§11.3) */
    r = POST("/api/sandbox", K, "{\"spot\":true,\"ttlMinutes\":5,\"kvm\":false,"
                                "\"secrets\":[{\"A\":\"b\"}],\"autoPauseInterval\":3}");
    expect_status(r, 200);
    check_defaults(r->json);
    api_release();
}

static void test_create_malformed_json(void)
{
    /* body-parser errors: Nest's raw 3-field body, no path/timestamp (§2.1);
     * a strict-mode rejection (top-level scalar) is a SyntaxError too */
    static const char *const bodies[] = {"{bad", "{\"name\":", "{} x", "42",
                                         "\"str\""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        http_resp *r = POST("/api/sandbox", K, bodies[i]);
        expect_status(r, 400);
        api_check_txt(cJSON_IsObject(r->json) && cJSON_GetArraySize(r->json) == 3,
                      __FILE__, __LINE__, "raw error body for %s has exactly 3 fields",
                      bodies[i]);
        assert_str(r->json, "message", "Invalid JSON in request body");
        assert_str(r->json, "error", "Bad Request");
        assert_num(r->json, "statusCode", 400);
        assert_kind(r->json, "path", 'a');
        assert_kind(r->json, "timestamp", 'a');
        if (r->json && cJSON_GetArraySize(r->json) != 3)
            fprintf(stderr, "\n  body %s -> %s\n", bodies[i], r->body);
    }
    /* the same on other JSON routes */
    const char *id = create_named(api_uniq("badjson"), NULL);
    http_resp *r = PUT(sbp(id, "/labels"), K, "{\"labels\":");
    expect_status(r, 400);
    CU_ASSERT(cJSON_GetArraySize(r->json) == 3);
    assert_str(r->json, "message", "Invalid JSON in request body");
    api_release();
}

static void test_create_wrong_types(void)
{
    static const struct { const char *body, *msg; } cases[] = {
        {"{\"public\":\"yes\",\"networkBlockAll\":1,\"autoStopInterval\":\"15\"}",
         "public must be a boolean value, networkBlockAll must be a boolean "
         "value, autoStopInterval must be a number conforming to the specified "
         "constraints"},
        {"{\"env\":\"x\",\"labels\":[1]}",
         "env must be an object, labels must be an object"},
        {"{\"target\":7}", "target must be a string"},
        {"{\"snapshot\":false,\"user\":3}",
         "snapshot must be a string, user must be a string"},
        {"{\"buildInfo\":{\"dockerfileContent\":\"" DOCKERFILE "\"},"
         "\"cpu\":-1,\"gpu\":2}",
         "cpu must not be less than 0, gpu must not be greater than 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_resp *r = POST("/api/sandbox", K, cases[i].body);
        assert_envelope_path(r, 400, cases[i].msg, "/api/sandbox");
    }
    api_release();
}

static void test_create_resources_rules(void)
{
    static const char *const res[] = {"{\"cpu\":2}", "{\"memory\":2}",
                                      "{\"disk\":5}", "{\"gpu\":1}",
                                      "{\"cpu\":2,\"snapshot\":\"" DEFAULT_SNAPSHOT "\"}"};
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++)
        assert_envelope_path(POST("/api/sandbox", K, res[i]), 400,
                             "Cannot specify Sandbox resources when using a snapshot",
                             "/api/sandbox");
    assert_envelope(POST("/api/sandbox", K,
                         "{\"snapshot\":\"" DEFAULT_SNAPSHOT "\",\"buildInfo\":"
                         "{\"dockerfileContent\":\"" DOCKERFILE "\"}}"),
                    400, "Cannot specify a snapshot when using a build info entry");
    assert_envelope(POST("/api/sandbox", K, "{\"snapshot\":\"no-such-snap\"}"),
                    400, "Snapshot no-such-snap not found. Did you add it through "
                         "the Daytona Dashboard?");
    api_release();
}

static void test_create_build_info(void)
{
    /* defaults 1/1/3/0 when absent … */
    const char *n1 = api_uniq("img");
    const cJSON *o = create(api_fmt("{\"name\":\"%s\",\"buildInfo\":"
                                    "{\"dockerfileContent\":\"" DOCKERFILE "\"}}",
                                    n1));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    assert_sandbox_dto(o);
    assert_num(o, "cpu", 1);
    assert_num(o, "memory", 1);
    assert_num(o, "disk", 3);
    assert_num(o, "gpu", 0);
    assert_kind(o, "snapshot", 'N');
    const char *st = api_jstr(o, "state");
    /* buildInfo creates do not wait (§4.4); instant transitions may finish */
    CU_ASSERT(strcmp(st, "started") == 0 || strcmp(st, "pending_build") == 0 ||
              strcmp(st, "creating") == 0);
    const cJSON *bi = cJSON_GetObjectItemCaseSensitive(o, "buildInfo");
    CU_ASSERT_FATAL(cJSON_IsObject(bi));
    assert_str(bi, "dockerfileContent", "FROM python:3.12-slim\n");
    assert_kind(bi, "contextHashes", 'A');
    CU_ASSERT(api_is_iso_ms(api_jstr(bi, "createdAt")));
    CU_ASSERT(api_is_iso_ms(api_jstr(bi, "updatedAt")));
    /* snapshotRef = daytona-<sha256 hex>:daytona (§3) */
    const char *ref = api_jstr(bi, "snapshotRef");
    int ref_ok = strlen(ref) == 8 + 64 + 8 && strncmp(ref, "daytona-", 8) == 0 &&
                 strcmp(ref + 72, ":daytona") == 0;
    for (int i = 8; ref_ok && i < 72; i++)
        ref_ok = (ref[i] >= '0' && ref[i] <= '9') || (ref[i] >= 'a' && ref[i] <= 'f');
    api_check_txt(ref_ok, __FILE__, __LINE__,
                  "buildInfo.snapshotRef == daytona-<sha256 hex>:daytona");
    if (!ref_ok)
        fprintf(stderr, "\n  buildInfo.snapshotRef missing or malformed: \"%s\"\n",
                ref);
    http_resp *g = GET(sbp(n1, ""), K);
    expect_status(g, 200);
    assert_str(g->json, "state", "started");
    assert_kind(g->json, "buildInfo", 'o');
    http_resp *u = GET(sbp(n1, "/build-logs-url"), K);
    expect_status(u, 200);
    assert_str(u->json, "url", NULL);

    /* … and when 0 */
    o = create("{\"buildInfo\":{\"dockerfileContent\":\"" DOCKERFILE "\"},"
               "\"cpu\":0,\"memory\":0,\"disk\":0}");
    assert_num(o, "cpu", 1);
    assert_num(o, "memory", 1);
    assert_num(o, "disk", 3);
    /* explicit values are kept, contextHashes echoed */
    o = create("{\"buildInfo\":{\"dockerfileContent\":\"" DOCKERFILE "\","
               "\"contextHashes\":[\"abc123\"]},\"cpu\":2,\"memory\":4,\"disk\":8}");
    assert_num(o, "cpu", 2);
    assert_num(o, "memory", 4);
    assert_num(o, "disk", 8);
    assert_json_eq(cJSON_GetObjectItemCaseSensitive(o, "buildInfo"),
                   "contextHashes", "[\"abc123\"]");
    api_release();
}

static void test_create_limits_and_intervals(void)
{
#define BI "{\"buildInfo\":{\"dockerfileContent\":\"" DOCKERFILE "\"},"
    http_resp *r = POST("/api/sandbox", K, BI "\"cpu\":5}");
    assert_envelope(r, 400, NULL);
    assert_msg_prefix(r, "CPU request 5 exceeds maximum allowed per sandbox (4).\n");
    r = POST("/api/sandbox", K, BI "\"memory\":9}");
    assert_envelope(r, 400, NULL);
    assert_msg_prefix(r, "Memory request 9GB exceeds maximum allowed per sandbox (8GB).\n");
    r = POST("/api/sandbox", K, BI "\"disk\":11}");
    assert_envelope(r, 400, NULL);
    assert_msg_prefix(r, "Disk request 11GB exceeds maximum allowed per sandbox (10GB).\n");
    const cJSON *o = create(BI "\"cpu\":4,\"memory\":8,\"disk\":10}");
    assert_num(o, "cpu", 4);
    assert_num(o, "memory", 8);
    assert_num(o, "disk", 10);
#undef BI
    assert_envelope(POST("/api/sandbox", K, "{\"autoStopInterval\":-1}"), 400,
                    "Auto-stop interval must be non-negative");
    assert_envelope(POST("/api/sandbox", K, "{\"autoArchiveInterval\":-5}"), 400,
                    NULL);
    /* autoArchiveInterval 0 = the maximum, larger values are clamped (trap 8);
     * autoStopInterval 0 = disabled; autoDeleteInterval negative is kept */
    o = create("{\"autoArchiveInterval\":0,\"autoStopInterval\":0,"
               "\"autoDeleteInterval\":-7}");
    assert_num(o, "autoArchiveInterval", 43200);
    assert_num(o, "autoStopInterval", 0);
    assert_num(o, "autoDeleteInterval", -7);
    o = create("{\"autoArchiveInterval\":99999}");
    assert_num(o, "autoArchiveInterval", 43200);
    /* names: no HTML tags, URLs or control characters */
    static const char *const bad_names[] = {"<b>x</b>", "see http://x.io",
                                            "a\\u0001b"};
    for (size_t i = 0; i < 3; i++)
        assert_envelope(POST("/api/sandbox", K,
                             api_fmt("{\"name\":\"%s\"}", bad_names[i])),
                        400, "name must not contain HTML tags, URLs, or "
                             "control characters");
    /* network lists are validated */
    assert_envelope(POST("/api/sandbox", K, "{\"networkAllowList\":\"10.0.0.0/33\"}"),
                    400, NULL);
    assert_envelope(POST("/api/sandbox", K,
                         "{\"networkAllowList\":\"1,2,3,4,5,6,7,8,9,10,11\"}"),
                    400, NULL);
    assert_envelope(POST("/api/sandbox", K, "{\"domainAllowList\":\"bad domain!\"}"),
                    400, NULL);
    api_release();
}

static void test_create_duplicate_name(void)
{
    const char *name = api_uniq("dup");
    create_named(name, NULL);
    assert_envelope_path(POST("/api/sandbox", K, api_fmt("{\"name\":\"%s\"}", name)),
                         409, api_fmt("Sandbox with name %s already exists", name),
                         "/api/sandbox");
    /* names are case-sensitive: a different case is a different name */
    char upper[128];
    snprintf(upper, sizeof upper, "%s", name);
    upper[0] = 'D';
    expect_status(POST("/api/sandbox", K, api_fmt("{\"name\":\"%s\"}", upper)), 200);
    api_release();
}

static void test_create_too_large(void)
{
    const char *name = api_uniq("big");
    size_t fill = 2u * 1024 * 1024;
    char *body = malloc(fill + 256);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    int n = snprintf(body, 256, "{\"name\":\"%s\",\"env\":{\"X\":\"", name);
    memset(body + n, 'a', fill);
    memcpy(body + n + fill, "\"}}", 4);
    http_resp *r = POST("/api/sandbox", K, body);
    free(body);
    /* status only: Daytona's 413 comes from body-parser, not the filter */
    expect_status(r, 413);
    assert_envelope(GET(sbp(name, ""), K), 404, nf(name));
    http_resp *l = GET(api_fmt("/api/sandbox?name=%s", name), K);
    expect_status(l, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(api_field(l, "items")), 0);
    /* the server still serves the next request */
    expect_status(GET("/api/health", NULL), 200);
    api_release();
}

/* ================= get and list ================= */

static void test_get_by_id_and_name(void)
{
    const char *name = api_uniq("getme");
    const char *id = create_named(name, NULL);
    http_resp *a = GET(sbp(id, ""), K), *b = GET(sbp(name, ""), K);
    expect_status(a, 200);
    expect_status(b, 200);
    assert_sandbox_dto(a->json);
    assert_sandbox_dto(b->json);
    assert_str(b->json, "id", id);
    assert_str(a->json, "name", name);
    char ct[128];
    CU_ASSERT(resp_header(a, "Content-Type", ct, sizeof ct) == 0 &&
              strcmp(ct, "application/json; charset=utf-8") == 0);
    /* ?verbose is ignored */
    expect_status(GET(sbp(id, "?verbose=true"), K), 200);
    /* lookup by name is case-sensitive */
    char upper[128];
    snprintf(upper, sizeof upper, "%s", name);
    upper[0] = 'G';
    assert_envelope_path(GET(sbp(upper, ""), K), 404, nf(upper), sbp(upper, ""));
    const char *ghost = "00000000-0000-4000-8000-000000000000";
    assert_envelope_path(GET(sbp(ghost, ""), K), 404, nf(ghost), sbp(ghost, ""));
    /* URL-encoded path parameters are decoded (encodeURIComponent) */
    const char *spaced = api_fmt("%s two words", name);
    const char *sid = create_named(spaced, NULL);
    http_resp *c = GET(sbp(api_urlenc(spaced), ""), K);
    expect_status(c, 200);
    assert_str(c->json, "id", sid);
    api_release();
}

static void test_list_item_shape(void)
{
    const char *tag = api_uniq("shape");
    const char *id = create_named(tag, api_fmt("{\"suite\":\"%s\"}", tag));
    http_resp *r = GET(api_fmt("/api/sandbox?labels=%s", labels_q("suite", tag)), K);
    expect_status(r, 200);
    CU_ASSERT(cJSON_GetArraySize(r->json) == 2);
    const cJSON *items = api_field(r, "items");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(items), 1);
    const cJSON *it = cJSON_GetArrayItem(items, 0);
    assert_list_item(it);
    assert_str(it, "id", id);
    assert_str(it, "name", tag);
    assert_str(it, "state", "started");
    assert_json_eq(it, "labels", api_fmt("{\"suite\":\"%s\"}", tag));
    assert_kind(r->json, "nextCursor", 'n');
    api_release();
}

static void test_list_paging(void)
{
    const char *tag = api_uniq("paging");
    const char *ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = create_named(api_fmt("%s-%d", tag, i),
                              api_fmt("{\"paging\":\"%s\"}", tag));
    static const char *const sorts[] = {"", "&sort=name&order=asc",
                                        "&sort=createdAt&order=desc",
                                        "&sort=cpu&order=asc"};
    for (size_t s = 0; s < sizeof sorts / sizeof sorts[0]; s++) {
        walk w;
        list_walk(api_fmt("limit=2&labels=%s%s", labels_q("paging", tag), sorts[s]),
                  &w);
        CU_ASSERT_EQUAL(w.n, 5);
        CU_ASSERT_EQUAL(w.pages, 3);
        CU_ASSERT(w.page_size[0] == 2 && w.page_size[1] == 2 && w.page_size[2] == 1);
        for (int i = 0; i < 5; i++) {
            CU_ASSERT_EQUAL(walk_count(&w, ids[i]), 1);
            if (walk_count(&w, ids[i]) != 1)
                fprintf(stderr, "\n  sort '%s': %s seen %d times\n", sorts[s],
                        ids[i], walk_count(&w, ids[i]));
        }
    }
    /* an exact fit: the page that ends the set has nextCursor null or the
     * following page is empty, but the walk ends either way */
    walk w;
    list_walk(api_fmt("limit=5&labels=%s", labels_q("paging", tag)), &w);
    CU_ASSERT_EQUAL(w.n, 5);
    api_release();
}

static void test_list_query_errors(void)
{
    assert_envelope_path(GET("/api/sandbox?limit=201", K), 400,
                         "limit must not be greater than 200", "/api/sandbox?limit=201");
    assert_envelope_path(GET("/api/sandbox?limit=0", K), 400,
                         "limit must not be less than 1", "/api/sandbox?limit=0");
    expect_status(GET("/api/sandbox?limit=200", K), 200);
    expect_status(GET("/api/sandbox?limit=1", K), 200);
    assert_envelope_path(GET("/api/sandbox?cursor=notacursor", K), 400,
                         "Invalid cursor provided: notacursor",
                         "/api/sandbox?cursor=notacursor");
    assert_envelope_path(GET("/api/sandbox?labels=%7Bbad", K), 400,
                         "Invalid labels JSON format", "/api/sandbox?labels=%7Bbad");
    assert_envelope(GET("/api/sandbox?sort=bogus", K), 400, NULL);
    assert_envelope(GET("/api/sandbox?order=sideways", K), 400, NULL);
    assert_envelope(GET("/api/sandbox?states=bogus", K), 400, NULL);
    /* unknown query parameters are ignored */
    expect_status(GET("/api/sandbox?includeWarm=true&minGpu=1", K), 200);
    api_release();
}

static void test_list_labels_filter(void)
{
    const char *g = api_uniq("grp"), *g2 = api_uniq("grp");
    const char *a = create_named(api_uniq("lbl-a"),
                                 api_fmt("{\"grp\":\"%s\",\"tier\":\"gold\"}", g));
    const char *b = create_named(api_uniq("lbl-b"),
                                 api_fmt("{\"grp\":\"%s\",\"tier\":\"silver\"}", g));
    const char *c = create_named(api_uniq("lbl-c"), api_fmt("{\"grp\":\"%s\"}", g2));
    walk w;
    list_walk(api_fmt("labels=%s", labels_q("grp", g)), &w);
    CU_ASSERT(w.n == 2 && walk_count(&w, a) == 1 && walk_count(&w, b) == 1);
    const char *gold = api_fmt("{\"grp\":\"%s\",\"tier\":\"gold\"}", g);
    const char *bronze = api_fmt("{\"grp\":\"%s\",\"tier\":\"bronze\"}", g);
    list_walk(api_fmt("labels=%s", api_urlenc(gold)), &w);
    CU_ASSERT(w.n == 1 && walk_count(&w, a) == 1);
    list_walk(api_fmt("labels=%s", api_urlenc(bronze)), &w);
    CU_ASSERT_EQUAL(w.n, 0);
    list_walk(api_fmt("labels=%s", labels_q("grp", g2)), &w);
    CU_ASSERT(w.n == 1 && walk_count(&w, c) == 1);
    /* the SDK's form: limit plus labels */
    list_walk(api_fmt("limit=1&labels=%s", labels_q("grp", g)), &w);
    CU_ASSERT_EQUAL(w.n, 2);
    api_release();
}

static void test_list_name_and_id_prefix(void)
{
    const char *p = api_uniq("NamePfx");
    const char *alpha = create_named(api_fmt("%s-Alpha", p), NULL);
    const char *beta = create_named(api_fmt("%s-beta", p), NULL);
    char lower[128], upper[128];
    size_t i;
    for (i = 0; p[i] && i < sizeof lower - 1; i++) {
        lower[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
        upper[i] = (char)((p[i] >= 'a' && p[i] <= 'z') ? p[i] - 32 : p[i]);
    }
    lower[i] = upper[i] = '\0';
    walk w;
    list_walk(api_fmt("name=%s", lower), &w);
    CU_ASSERT(w.n == 2 && walk_count(&w, alpha) == 1 && walk_count(&w, beta) == 1);
    list_walk(api_fmt("name=%s-AL", upper), &w);
    CU_ASSERT(w.n == 1 && walk_count(&w, alpha) == 1);
    list_walk(api_fmt("name=%s-gamma", p), &w);
    CU_ASSERT_EQUAL(w.n, 0);
    /* id is a case-insensitive prefix too */
    char idp[16];
    snprintf(idp, sizeof idp, "%.13s", alpha);
    for (i = 0; idp[i]; i++)
        idp[i] = (char)((idp[i] >= 'a' && idp[i] <= 'f') ? idp[i] - 32 : idp[i]);
    list_walk(api_fmt("id=%s", idp), &w);
    CU_ASSERT(walk_count(&w, alpha) == 1 && walk_count(&w, beta) == 0);
    api_release();
}

static void test_list_states_filter(void)
{
    const char *tag = api_uniq("states");
    const char *lab = api_fmt("{\"st\":\"%s\"}", tag);
    const char *up = create_named(api_uniq("st-up"), lab);
    const char *down = create_named(api_uniq("st-down"), lab);
    expect_status(POST(sbp(down, "/stop"), K, NULL), 200);
    CU_ASSERT_STRING_EQUAL(state_of(down), "stopped");
    const char *lq = labels_q("st", tag);
    walk w;
    list_walk(api_fmt("states=stopped&labels=%s", lq), &w);
    CU_ASSERT(w.n == 1 && walk_count(&w, down) == 1);
    CU_ASSERT(w.n == 1 && strcmp(w.states[0], "stopped") == 0);
    list_walk(api_fmt("states=started&labels=%s", lq), &w);
    CU_ASSERT(w.n == 1 && walk_count(&w, up) == 1);
    list_walk(api_fmt("states=started&states=stopped&labels=%s", lq), &w);
    CU_ASSERT_EQUAL(w.n, 2);
    list_walk(api_fmt("states=archived&labels=%s", lq), &w);
    CU_ASSERT_EQUAL(w.n, 0);
    api_release();
}

static void test_list_sort_by_name(void)
{
    const char *p = api_uniq("sortp");
    static const char *const order_made[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++)
        create_named(api_fmt("%s-%s", p, order_made[i]), NULL);
    walk w;
    list_walk(api_fmt("name=%s&sort=name&order=asc", p), &w);
    CU_ASSERT_EQUAL_FATAL(w.n, 3);
    CU_ASSERT_STRING_EQUAL(w.names[0], api_fmt("%s-a", p));
    CU_ASSERT_STRING_EQUAL(w.names[1], api_fmt("%s-b", p));
    CU_ASSERT_STRING_EQUAL(w.names[2], api_fmt("%s-c", p));
    list_walk(api_fmt("name=%s&sort=name&order=desc&limit=1", p), &w);
    CU_ASSERT_EQUAL_FATAL(w.n, 3);
    CU_ASSERT_STRING_EQUAL(w.names[0], api_fmt("%s-c", p));
    CU_ASSERT_STRING_EQUAL(w.names[1], api_fmt("%s-b", p));
    CU_ASSERT_STRING_EQUAL(w.names[2], api_fmt("%s-a", p));
    api_release();
}

static void test_list_destroyed_and_destroying(void)
{
    /* instant transitions: deleted = destroyed = not listed */
    const char *tag = api_uniq("gone");
    const char *id = create_named(tag, api_fmt("{\"gone\":\"%s\"}", tag));
    expect_status(DEL(sbp(id, ""), K), 200);
    walk w;
    list_walk(api_fmt("labels=%s", labels_q("gone", tag)), &w);
    CU_ASSERT_EQUAL(w.n, 0);
    /* a delete still in flight: `destroying` rows are listed (§6.1) */
    set_transition("delete", 600000);
    const char *tag2 = api_uniq("going");
    const char *id2 = create_named(tag2, api_fmt("{\"gone\":\"%s\"}", tag2));
    http_resp *d = DEL(sbp(id2, ""), K);
    expect_status(d, 200);
    assert_str(d->json, "state", "destroying");
    list_walk(api_fmt("labels=%s", labels_q("gone", tag2)), &w);
    CU_ASSERT_EQUAL(w.n, 1);
    if (w.n == 1) {
        CU_ASSERT_STRING_EQUAL(w.states[0], "destroying");
        CU_ASSERT(is_destroyed_name(w.names[0], tag2));
    }
    /* (the states filter matches the *stored* state, which is still
     * `started` here, so states=destroying would not find it - §6.1) */
    /* and deleting it again is 409 while in flight */
    assert_envelope(DEL(sbp(id2, ""), K), 409, "Sandbox state change in progress");
    clear_transitions();
    api_release();
}

static void test_list_paginated(void)
{
    const char *tag = api_uniq("pgd");
    const char *ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = create_named(api_fmt("%s-%d", tag, i),
                              api_fmt("{\"pgd\":\"%s\"}", tag));
        msleep(5);     /* distinct createdAt for the default order */
    }
    const char *lq = labels_q("pgd", tag);
    http_resp *r = GET(api_fmt("/api/sandbox/paginated?labels=%s&limit=2&page=1", lq), K);
    expect_status(r, 200);
    CU_ASSERT(cJSON_GetArraySize(r->json) == 4);
    assert_num(r->json, "total", 3);
    assert_num(r->json, "page", 1);
    assert_num(r->json, "totalPages", 2);
    const cJSON *items = api_field(r, "items"), *it;
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(items), 2);
    cJSON_ArrayForEach(it, items)
        assert_sandbox_dto(it);                 /* full DTOs, env included */
    /* default sort createdAt desc */
    assert_str(cJSON_GetArrayItem(items, 0), "id", ids[2]);
    assert_str(cJSON_GetArrayItem(items, 1), "id", ids[1]);
    r = GET(api_fmt("/api/sandbox/paginated?labels=%s&limit=2&page=2", lq), K);
    expect_status(r, 200);
    assert_num(r->json, "page", 2);
    assert_num(r->json, "total", 3);
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(api_field(r, "items")), 1);
    assert_str(cJSON_GetArrayItem(api_field(r, "items"), 0), "id", ids[0]);
    r = GET(api_fmt("/api/sandbox/paginated?labels=%s", lq), K);
    expect_status(r, 200);
    assert_num(r->json, "totalPages", 1);
    assert_envelope(GET("/api/sandbox/paginated?limit=201", K), 400,
                    "limit must not be greater than 200");
    assert_envelope(GET("/api/sandbox/paginated?page=0", K), 400,
                    "page must not be less than 1");
    api_release();
}

/* ================= lifecycle ================= */

static void test_stop_start(void)
{
    const char *name = api_uniq("life");
    const char *id = create_named(name, NULL);
    http_resp *r = POST(sbp(id, "/stop"), K, NULL);
    expect_status(r, 200);
    assert_sandbox_dto(r->json);
    assert_str(r->json, "state", "stopping");
    assert_str(r->json, "desiredState", "stopped");
    CU_ASSERT_STRING_EQUAL(state_of(id), "stopped");
    /* stop is not idempotent (trap 5) */
    const char *p = sbp(id, "/stop");
    assert_envelope_path(POST(p, K, NULL), 400, "Sandbox is not in a stoppable state", p);
    p = sbp(id, "/stop?force=maybe");
    assert_envelope_path(POST(p, K, NULL), 400,
                         "Validation failed (boolean string is expected)", p);
    /* start answers started; start is idempotent */
    r = POST(sbp(name, "/start"), K, NULL);
    expect_status(r, 200);
    assert_sandbox_dto(r->json);
    assert_str(r->json, "state", "started");
    r = api_post_form_empty(sbp(name, "/start"), K);
    expect_status(r, 200);
    assert_str(r->json, "state", "started");
    /* the SDK's stop: ?force=false with an empty form body */
    r = api_post_form_empty(sbp(id, "/stop?force=false"), K);
    expect_status(r, 200);
    assert_str(r->json, "state", "stopping");
    CU_ASSERT_STRING_EQUAL(state_of(id), "stopped");
    expect_status(POST(sbp(id, "/start"), K, NULL), 200);
    r = POST(sbp(id, "/stop?force=true"), K, NULL);
    expect_status(r, 200);
    assert_str(r->json, "state", "stopping");
    api_release();
}

static void test_archive(void)
{
    const char *name = api_uniq("arch");
    const char *id = create_named(name, NULL);
    const char *p = sbp(id, "/archive");
    assert_envelope_path(POST(p, K, NULL), 400, "Sandbox is not stopped", p);
    expect_status(POST(sbp(id, "/stop"), K, NULL), 200);
    http_resp *r = POST(p, K, NULL);
    expect_status(r, 200);
    assert_sandbox_dto(r->json);
    assert_str(r->json, "state", "archiving");
    assert_str(r->json, "desiredState", "archived");
    http_resp *g = GET(sbp(id, ""), K);
    expect_status(g, 200);
    assert_str(g->json, "state", "archived");
    assert_kind(g->json, "runnerId", 'N');
    assert_envelope(POST(p, K, NULL), 400, "Sandbox is not stopped");
    assert_envelope(POST(sbp(id, "/stop"), K, NULL), 400,
                    "Sandbox is not in a stoppable state");
    r = POST(sbp(name, "/start"), K, NULL);
    expect_status(r, 200);
    const char *st = api_jstr(r->json, "state");
    CU_ASSERT(strcmp(st, "started") == 0 || strcmp(st, "archived") == 0);
    CU_ASSERT_STRING_EQUAL(state_of(id), "started");
    api_release();
}

static void test_restoring_in_list_only(void)
{
    /* archived + desired started: `archived` in the DTO, `restoring` in
     * list items (§4.2, trap 4) */
    const char *tag = api_uniq("restore");
    const char *id = create_named(tag, api_fmt("{\"rs\":\"%s\"}", tag));
    expect_status(POST(sbp(id, "/stop"), K, NULL), 200);
    expect_status(POST(sbp(id, "/archive"), K, NULL), 200);
    CU_ASSERT_STRING_EQUAL(state_of(id), "archived");
    set_transition("restore", 600000);
    http_resp *r = POST(sbp(id, "/start"), K, NULL);
    expect_status(r, 200);
    assert_str(r->json, "state", "archived");
    assert_str(r->json, "desiredState", "started");
    http_resp *g = GET(sbp(id, ""), K);
    assert_str(g->json, "state", "archived");
    assert_str(g->json, "desiredState", "started");
    walk w;
    list_walk(api_fmt("labels=%s", labels_q("rs", tag)), &w);
    CU_ASSERT(w.n == 1 && strcmp(w.states[0], "restoring") == 0);
    /* still in flight: delete is refused (trap 5) */
    assert_envelope(DEL(sbp(id, ""), K), 409, "Sandbox state change in progress");
    clear_transitions();
    api_release();
}

static void test_delete(void)
{
    const char *name = api_uniq("del");
    const char *id = create_named(name, NULL);
    http_resp *r = DEL(sbp(name, ""), K);
    expect_status(r, 200);
    assert_sandbox_dto(r->json);
    const char *renamed = api_jstr(r->json, "name");
    CU_ASSERT(is_destroyed_name(renamed, name));
    if (!is_destroyed_name(renamed, name))
        fprintf(stderr, "\n  delete renamed %s to %s\n", name, renamed);
    assert_str(r->json, "state", "destroying");
    assert_str(r->json, "desiredState", "destroyed");
    assert_str(r->json, "id", id);
    /* destroyed: 404 by id, old name and new name */
    assert_envelope_path(GET(sbp(id, ""), K), 404, nf(id), sbp(id, ""));
    assert_envelope(GET(sbp(name, ""), K), 404, nf(name));
    assert_envelope(GET(sbp(renamed, ""), K), 404, nf(renamed));
    assert_envelope(DEL(sbp(id, ""), K), 404, nf(id));
    assert_envelope(POST(sbp(id, "/start"), K, NULL), 404, nf(id));
    /* the name is free at once */
    const cJSON *o = create(api_fmt("{\"name\":\"%s\"}", name));
    CU_ASSERT(o && strcmp(api_jstr(o, "id"), id) != 0);
    /* a stopped sandbox can be deleted too */
    const char *id2 = create_named(api_uniq("del-stopped"), NULL);
    expect_status(POST(sbp(id2, "/stop"), K, NULL), 200);
    r = DEL(sbp(id2, ""), K);
    expect_status(r, 200);
    assert_str(r->json, "state", "destroying");
    assert_envelope(GET(sbp(id2, ""), K), 404, nf(id2));
    api_release();
}

static void test_ephemeral(void)
{
    const char *name = api_uniq("eph");
    const cJSON *o = create(api_fmt("{\"name\":\"%s\",\"autoDeleteInterval\":0}", name));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    assert_num(o, "autoDeleteInterval", 0);
    const char *id = api_jstr(o, "id");
    http_resp *r = POST(sbp(id, "/stop"), K, NULL);
    expect_status(r, 200);
    assert_str(r->json, "state", "destroying");
    assert_str(r->json, "desiredState", "destroyed");
    CU_ASSERT(is_destroyed_name(api_jstr(r->json, "name"), name));
    assert_envelope(GET(sbp(id, ""), K), 404, nf(id));
    /* made ephemeral later via autodelete/0 */
    const char *id2 = create_named(api_uniq("eph2"), NULL);
    expect_status(POST(sbp(id2, "/autodelete/0"), K, NULL), 201);
    r = POST(sbp(id2, "/stop"), K, NULL);
    expect_status(r, 200);
    assert_str(r->json, "state", "destroying");
    assert_envelope(GET(sbp(id2, ""), K), 404, nf(id2));
    api_release();
}

static void test_in_flight_conflicts(void)
{
    const char *msg = "Sandbox state change in progress";
    set_transition("stop", 600000);
    const char *id = create_named(api_uniq("busy"), NULL);
    http_resp *r = POST(sbp(id, "/stop"), K, NULL);
    expect_status(r, 200);
    assert_str(r->json, "state", "stopping");
    CU_ASSERT_STRING_EQUAL(state_of(id), "stopping");
    assert_envelope(POST(sbp(id, "/stop"), K, NULL), 409, msg);
    assert_envelope(POST(sbp(id, "/start"), K, NULL), 409, msg);
    assert_envelope(POST(sbp(id, "/archive"), K, NULL), 409, msg);
    assert_envelope(DEL(sbp(id, ""), K), 409, msg);
    clear_transitions();
    /* (DELETE of a `creating` sandbox is 409 too, but create now waits up
     * to 30 s for a configured duration, like Daytona's controller, so that
     * case would cost 30 s here; the rule is the same `pending` check.) */
    api_release();
}

/* ================= side endpoints ================= */

static void test_labels_replace(void)
{
    const char *id = create_named(api_uniq("labels"),
                                  "{\"code-toolbox-language\":\"python\",\"a\":\"1\"}");
    http_resp *r = PUT(sbp(id, "/labels"), K, "{\"labels\":{\"b\":\"2\"}}");
    expect_status(r, 200);
    assert_sandbox_dto(r->json);                /* the full DTO, env included */
    assert_json_eq(r->json, "labels", "{\"b\":\"2\"}");
    http_resp *g = GET(sbp(id, ""), K);
    assert_json_eq(g->json, "labels", "{\"b\":\"2\"}");
    r = PUT(sbp(id, "/labels"), K, "{\"labels\":{}}");
    expect_status(r, 200);
    assert_json_eq(r->json, "labels", "{}");
    api_release();
}

static void test_intervals(void)
{
    const char *id = create_named(api_uniq("intv"), NULL);
    static const struct { const char *path, *field; double want; } ok[] = {
        {"/autostop/30", "autoStopInterval", 30},
        {"/autostop/0", "autoStopInterval", 0},
        {"/autoarchive/60", "autoArchiveInterval", 60},
        {"/autoarchive/0", "autoArchiveInterval", 43200},
        {"/autoarchive/100000", "autoArchiveInterval", 43200},
        {"/autodelete/10", "autoDeleteInterval", 10},
        {"/autodelete/-1", "autoDeleteInterval", -1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        http_resp *r = (i % 2) ? api_post_form_empty(sbp(id, ok[i].path), K)
                               : POST(sbp(id, ok[i].path), K, NULL);
        expect_status(r, 201);
        assert_sandbox_dto(r->json);
        assert_num(r->json, ok[i].field, ok[i].want);
    }
    http_resp *g = GET(sbp(id, ""), K);
    assert_num(g->json, "autoStopInterval", 0);
    assert_num(g->json, "autoArchiveInterval", 43200);
    assert_num(g->json, "autoDeleteInterval", -1);
    const char *p = sbp(id, "/autostop/-1");
    assert_envelope_path(POST(p, K, NULL), 400,
                         "Auto-stop interval must be non-negative", p);
    static const char *const nan_paths[] = {"/autostop/abc", "/autoarchive/abc",
                                            "/autodelete/abc"};
    for (size_t i = 0; i < 3; i++) {
        p = sbp(id, nan_paths[i]);
        assert_envelope_path(POST(p, K, NULL), 400,
                             "Validation failed (numeric string is expected)", p);
    }
    assert_envelope(POST(sbp("no-such-sandbox", "/autostop/5"), K, NULL), 404,
                    nf("no-such-sandbox"));
    api_release();
}

static void test_public_flag(void)
{
    const char *id = create_named(api_uniq("pub"), NULL);
    http_resp *r = POST(sbp(id, "/public/true"), K, NULL);
    expect_status(r, 201);
    assert_sandbox_dto(r->json);
    assert_kind(r->json, "public", 't');
    r = POST(sbp(id, "/public/yes"), K, NULL);     /* anything but "true" */
    expect_status(r, 201);
    assert_kind(r->json, "public", 'f');
    expect_status(POST(sbp(id, "/public/true"), K, NULL), 201);
    r = api_post_form_empty(sbp(id, "/public/false"), K);
    expect_status(r, 201);
    assert_kind(r->json, "public", 'f');
    api_release();
}

static void test_last_activity(void)
{
    const char *id = create_named(api_uniq("act"), NULL);
    http_resp *g0 = GET(sbp(id, ""), K);
    const char *t0 = api_jstr(g0->json, "lastActivityAt");
    CU_ASSERT(api_is_iso_ms(t0));
    msleep(30);
    /* reads and metadata edits do not count as activity (trap 16) */
    expect_status(PUT(sbp(id, "/labels"), K, "{\"labels\":{\"x\":\"y\"}}"), 200);
    expect_status(POST(sbp(id, "/autostop/20"), K, NULL), 201);
    http_resp *g1 = GET(sbp(id, ""), K);
    assert_str(g1->json, "lastActivityAt", t0);
    msleep(30);
    http_resp *r = POST(sbp(id, "/last-activity"), K, "{}");
    expect_status(r, 201);
    CU_ASSERT_EQUAL(r->body_len, 0);
    http_resp *g2 = GET(sbp(id, ""), K);
    const char *t2 = api_jstr(g2->json, "lastActivityAt");
    CU_ASSERT(api_is_iso_ms(t2) && strcmp(t2, t0) > 0);
    const char *ghost = "00000000-0000-4000-8000-000000000000";
    assert_envelope(POST(sbp(ghost, "/last-activity"), K, "{}"), 404, NULL);
    api_release();
}

static void test_toolbox_proxy_url(void)
{
    const char *name = api_uniq("tbx");
    const char *id = create_named(name, NULL);
    http_resp *r = GET(sbp(id, "/toolbox-proxy-url"), K);
    expect_status(r, 200);
    CU_ASSERT(cJSON_GetArraySize(r->json) == 1);
    assert_str(r->json, "url", api_toolbox_url());
    CU_ASSERT(strstr(api_jstr(r->json, "url"), "/api") == NULL);
    /* this route looks up by id only (§2.2) */
    const char *p = sbp(name, "/toolbox-proxy-url");
    assert_envelope_path(GET(p, K), 404, api_fmt("Sandbox with ID %s not found", name), p);
    api_release();
}

static void test_preview_url(void)
{
    const char *name = api_uniq("prev");
    const char *id = create_named(name, NULL);
    http_resp *r = GET(sbp(id, "/ports/3000/preview-url"), K);
    expect_status(r, 200);
    CU_ASSERT(cJSON_GetArraySize(r->json) == 3);
    assert_str(r->json, "sandboxId", id);
    const char *url = api_jstr(r->json, "url");
    CU_ASSERT(strncmp(url, "http", 4) == 0 && strstr(url, "3000") && strstr(url, id));
    const char *tok = api_jstr(r->json, "token");
    CU_ASSERT(api_is_token(tok, 32));
    /* one token for every port; by name too */
    http_resp *r2 = GET(sbp(name, "/ports/8080/preview-url"), K);
    expect_status(r2, 200);
    assert_str(r2->json, "token", tok);
    assert_str(r2->json, "sandboxId", id);
    static const char *const bad[] = {"/ports/0/preview-url", "/ports/70000/preview-url",
                                      "/ports/65536/preview-url"};
    for (size_t i = 0; i < 3; i++) {
        const char *p = sbp(id, bad[i]);
        assert_envelope_path(GET(p, K), 400, "Invalid port", p);
    }
    expect_status(GET(sbp(id, "/ports/65535/preview-url"), K), 200);
    expect_status(GET(sbp(id, "/ports/1/preview-url"), K), 200);
    /* the token rotates on start (trap 15) */
    expect_status(POST(sbp(id, "/stop"), K, NULL), 200);
    expect_status(POST(sbp(id, "/start"), K, NULL), 200);
    http_resp *r3 = GET(sbp(id, "/ports/3000/preview-url"), K);
    expect_status(r3, 200);
    CU_ASSERT(api_is_token(api_jstr(r3->json, "token"), 32));
    CU_ASSERT(strcmp(api_jstr(r3->json, "token"), tok) != 0);
    assert_envelope(GET(sbp("no-such-sandbox", "/ports/3000/preview-url"), K), 404,
                    nf("no-such-sandbox"));
    api_release();
}

static void test_signed_preview_url(void)
{
    const char *id = create_named(api_uniq("signed"), NULL);
    http_resp *r = GET(sbp(id, "/ports/3000/signed-preview-url?expiresInSeconds=120"), K);
    expect_status(r, 200);
    CU_ASSERT(cJSON_GetArraySize(r->json) == 4);
    assert_str(r->json, "sandboxId", id);
    assert_num(r->json, "port", 3000);
    const char *tok = api_jstr(r->json, "token");
    CU_ASSERT(api_is_token(tok, 16));
    CU_ASSERT(strstr(api_jstr(r->json, "url"), tok) != NULL);
    /* a fresh token per call, different from the plain preview token */
    http_resp *r2 = GET(sbp(id, "/ports/3000/signed-preview-url"), K);
    expect_status(r2, 200);
    CU_ASSERT(api_is_token(api_jstr(r2->json, "token"), 16));
    CU_ASSERT(strcmp(api_jstr(r2->json, "token"), tok) != 0);
    const char *sp = "/ports/3000/signed-preview-url";
    expect_status(GET(sbp(id, api_fmt("%s?expiresInSeconds=1", sp)), K), 200);
    expect_status(GET(sbp(id, api_fmt("%s?expiresInSeconds=86400", sp)), K), 200);
    static const char *const bad[] = {"0", "86401", "-5"};
    for (size_t i = 0; i < 3; i++) {
        const char *p = sbp(id, api_fmt("%s?expiresInSeconds=%s", sp, bad[i]));
        assert_envelope_path(GET(p, K), 400, NULL, p);
    }
    assert_envelope(GET(sbp(id, "/ports/0/signed-preview-url"), K), 400, "Invalid port");
    /* expire: 201, empty body (also for an unknown token) */
    http_resp *e = POST(sbp(id, api_fmt("/ports/3000/signed-preview-url/%s/expire", tok)),
                        K, NULL);
    expect_status(e, 201);
    CU_ASSERT_EQUAL(e->body_len, 0);
    e = api_post_form_empty(sbp(id, api_fmt("%s/zzzzzzzzzzzzzzzz/expire", sp)), K);
    expect_status(e, 201);
    api_release();
}

static void test_build_logs_url_without_build_info(void)
{
    const char *name = api_uniq("nobuild");
    const char *id = create_named(name, NULL);
    const char *p = sbp(name, "/build-logs-url");
    assert_envelope_path(GET(p, K), 404, api_fmt("Sandbox %s has no build info", name), p);
    assert_envelope(GET(sbp(id, "/build-logs-url"), K), 404,
                    api_fmt("Sandbox %s has no build info", id));
    api_release();
}

static void test_resize(void)
{
    const char *id = api_jstr(create("{\"buildInfo\":{\"dockerfileContent\":\""
                                     DOCKERFILE "\"}}"), "id");
    http_resp *r = POST(sbp(id, "/resize"), K, "{\"cpu\":2,\"memory\":2}");
    expect_status(r, 200);
    assert_sandbox_dto(r->json);
    assert_num(r->json, "cpu", 2);
    assert_num(r->json, "memory", 2);
    http_resp *g = GET(sbp(id, ""), K);
    assert_num(g->json, "cpu", 2);
    assert_num(g->json, "memory", 2);
    assert_str(g->json, "state", "started");
    r = POST(sbp(id, "/resize"), K, "{\"cpu\":5}");
    assert_envelope(r, 400, NULL);
    assert_msg_prefix(r, "CPU request 5 exceeds maximum allowed per sandbox (4).\n");
    assert_envelope(POST(sbp(id, "/resize"), K, "{\"cpu\":0}"), 400, NULL);
    /* the disk grows only while stopped */
    assert_envelope(POST(sbp(id, "/resize"), K, "{\"disk\":5}"), 400, NULL);
    expect_status(POST(sbp(id, "/stop"), K, NULL), 200);
    r = POST(sbp(id, "/resize"), K, "{\"disk\":5}");
    expect_status(r, 200);
    assert_num(r->json, "disk", 5);
    assert_envelope(POST(sbp(id, "/resize"), K, "{\"disk\":4}"), 400, NULL);
    api_release();
}

static void test_network_settings(void)
{
    const char *id = create_named(api_uniq("net"), NULL);
    http_resp *r = POST(sbp(id, "/network-settings"), K, "{\"networkBlockAll\":true}");
    expect_status(r, 200);
    assert_sandbox_dto(r->json);
    assert_kind(r->json, "networkBlockAll", 't');
    r = POST(sbp(id, "/network-settings"), K,
             "{\"networkAllowList\":\"10.0.0.0/8\",\"domainAllowList\":\"example.com\"}");
    expect_status(r, 200);
    assert_str(r->json, "networkAllowList", "10.0.0.0/8");
    assert_str(r->json, "domainAllowList", "example.com");
    http_resp *g = GET(sbp(id, ""), K);
    assert_kind(g->json, "networkBlockAll", 't');
    assert_str(g->json, "networkAllowList", "10.0.0.0/8");
    assert_str(g->json, "domainAllowList", "example.com");
    assert_envelope(POST(sbp(id, "/network-settings"), K,
                         "{\"networkAllowList\":\"nope\"}"), 400, NULL);
    assert_envelope(POST(sbp(id, "/network-settings"), K, "{}"), 400, NULL);
    api_release();
}

static void test_unknown_sandbox_everywhere(void)
{
    const char *x = api_uniq("ghost");
    static const struct { const char *method, *suffix, *body; } ops[] = {
        {"GET", "", NULL}, {"DELETE", "", NULL}, {"POST", "/start", NULL},
        {"POST", "/stop", NULL}, {"POST", "/archive", NULL},
        {"PUT", "/labels", "{\"labels\":{}}"}, {"POST", "/autostop/5", NULL},
        {"POST", "/autoarchive/5", NULL}, {"POST", "/autodelete/5", NULL},
        {"POST", "/public/true", NULL}, {"GET", "/ports/3000/preview-url", NULL},
        {"GET", "/ports/3000/signed-preview-url", NULL},
        {"GET", "/build-logs-url", NULL}, {"POST", "/resize", "{\"cpu\":2}"},
        {"POST", "/network-settings", "{\"networkBlockAll\":true}"},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *p = sbp(x, ops[i].suffix);
        http_resp *r = api_req(ops[i].method, p, K, NULL, ops[i].body, -1);
        assert_envelope_path(r, 404, nf(x), p);
    }
    api_release();
}

/* ================= snapshots and volumes ================= */

static const cJSON *find_by(const cJSON *arr, const char *key, const char *val)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
        if (strcmp(api_jstr(it, key), val) == 0)
            return it;
    return NULL;
}

static void check_snapshot_dto(const cJSON *s)
{
    CU_ASSERT(api_is_uuid(api_jstr(s, "id")));
    assert_kind(s, "general", 'b');
    assert_str(s, "name", NULL);
    assert_str(s, "state", NULL);
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "cpu")));
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "gpu")));
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "mem")));
    CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "disk")));
    assert_kind(s, "memory", 'a');                  /* `mem`, not `memory` */
    CU_ASSERT(api_is_iso_ms(api_jstr(s, "createdAt")));
    CU_ASSERT(api_is_iso_ms(api_jstr(s, "updatedAt")));
    const cJSON *er = cJSON_GetObjectItemCaseSensitive(s, "errorReason");
    CU_ASSERT(cJSON_IsNull(er) || cJSON_IsString(er));
}

static void test_snapshots_default(void)
{
    http_resp *r = GET("/api/snapshots", K);
    expect_status(r, 200);
    const cJSON *items = api_field(r, "items");
    CU_ASSERT_FATAL(cJSON_IsArray(items));
    CU_ASSERT(cJSON_IsNumber(api_field(r, "total")));
    assert_num(r->json, "page", 1);
    CU_ASSERT(cJSON_IsNumber(api_field(r, "totalPages")));
    const cJSON *def = find_by(items, "name", DEFAULT_SNAPSHOT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(def);
    check_snapshot_dto(def);
    assert_kind(def, "general", 't');
    assert_str(def, "state", "active");
    /* by name (URL-encoded as the SDK does) and by id */
    http_resp *g = GET(api_fmt("/api/snapshots/%s", api_urlenc(DEFAULT_SNAPSHOT)), K);
    expect_status(g, 200);
    assert_str(g->json, "name", DEFAULT_SNAPSHOT);
    http_resp *gi = GET(api_fmt("/api/snapshots/%s", api_jstr(def, "id")), K);
    expect_status(gi, 200);
    assert_str(gi->json, "name", DEFAULT_SNAPSHOT);
    assert_envelope(GET("/api/snapshots/no-such-snapshot", K), 404, NULL);
    assert_envelope(GET("/api/snapshots?limit=201", K), 400, NULL);
    api_release();
}

static void test_snapshot_create_use_delete(void)
{
    const char *s = api_uniq("snap");
    const char *body = api_fmt("{\"name\":\"%s\",\"imageName\":\"python:3.12-slim\"}", s);
    http_resp *r = POST("/api/snapshots", K, body);
    expect_status(r, 200);
    check_snapshot_dto(r->json);
    assert_str(r->json, "name", s);
    assert_str(r->json, "state", "active");
    assert_kind(r->json, "general", 'f');
    CU_ASSERT(api_is_uuid(api_jstr(r->json, "organizationId")));
    const char *sid = api_jstr(r->json, "id");
    assert_envelope(POST("/api/snapshots", K, body), 409, NULL);
    http_resp *g = GET(api_fmt("/api/snapshots/%s", s), K);
    expect_status(g, 200);
    assert_str(g->json, "id", sid);
    http_resp *l = GET("/api/snapshots?limit=200", K);
    CU_ASSERT_PTR_NOT_NULL(find_by(api_field(l, "items"), "name", s));

    /* a sandbox from it records the snapshot's name, by name or by id */
    const cJSON *o = create(api_fmt("{\"snapshot\":\"%s\"}", s));
    assert_str(o, "snapshot", s);
    o = create(api_fmt("{\"snapshot\":\"%s\"}", sid));
    assert_str(o, "snapshot", s);

    assert_envelope_path(DEL("/api/snapshots/not-a-uuid", K), 400,
                         "Validation failed (uuid is expected)",
                         "/api/snapshots/not-a-uuid");
    assert_envelope(DEL(api_fmt("/api/snapshots/%s", s), K), 400,
                    "Validation failed (uuid is expected)");
    http_resp *d = DEL(api_fmt("/api/snapshots/%s", sid), K);
    expect_status(d, 200);
    CU_ASSERT_EQUAL(d->body_len, 0);
    assert_envelope(GET(api_fmt("/api/snapshots/%s", sid), K), 404, NULL);
    assert_envelope(POST("/api/sandbox", K, api_fmt("{\"snapshot\":\"%s\"}", s)), 400,
                    api_fmt("Snapshot %s not found. Did you add it through the "
                            "Daytona Dashboard?", s));
    api_release();
}

static void check_volume_dto(const cJSON *v, const char *name)
{
    CU_ASSERT(api_is_uuid(api_jstr(v, "id")));
    assert_str(v, "name", name);
    CU_ASSERT(api_is_uuid(api_jstr(v, "organizationId")));
    assert_str(v, "state", NULL);
    CU_ASSERT(api_is_iso_ms(api_jstr(v, "createdAt")));
    CU_ASSERT(api_is_iso_ms(api_jstr(v, "updatedAt")));
    assert_kind(v, "errorReason", 'N');
}

static void test_volumes(void)
{
    const char *name = api_uniq("vol");
    http_resp *c = POST("/api/volumes", K, api_fmt("{\"name\":\"%s\"}", name));
    expect_status(c, 200);
    check_volume_dto(c->json, name);
    const char *vid = api_jstr(c->json, "id");
    http_resp *g = GET(api_fmt("/api/volumes/%s", vid), K);
    expect_status(g, 200);
    check_volume_dto(g->json, name);
    assert_str(g->json, "id", vid);
    http_resp *b = GET(api_fmt("/api/volumes/by-name/%s", name), K);
    expect_status(b, 200);
    assert_str(b->json, "id", vid);
    http_resp *l = GET("/api/volumes", K);
    expect_status(l, 200);
    CU_ASSERT(cJSON_IsArray(l->json));
    CU_ASSERT_PTR_NOT_NULL(find_by(l->json, "id", vid));

    /* mounted by id: delete refused while in use */
    const cJSON *o = create(api_fmt("{\"volumes\":[{\"volumeId\":\"%s\","
                                    "\"mountPath\":\"/mnt/v\",\"subpath\":\"sub\"}]}",
                                    vid));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    assert_json_eq(o, "volumes", api_fmt("[{\"volumeId\":\"%s\",\"mountPath\":"
                                         "\"/mnt/v\",\"subpath\":\"sub\"}]", vid));
    const char *p = api_fmt("/api/volumes/%s", vid);
    assert_envelope_path(DEL(p, K), 409, NULL, p);
    expect_status(GET(p, K), 200);
    /* once the sandbox is gone the volume can go */
    expect_status(DEL(sbp(api_jstr(o, "id"), ""), K), 200);
    http_resp *d = DEL(p, K);
    expect_status(d, 200);
    CU_ASSERT_EQUAL(d->body_len, 0);
    assert_envelope(GET(p, K), 404, NULL);
    assert_envelope(GET(api_fmt("/api/volumes/by-name/%s", name), K), 404, NULL);
    assert_envelope(DEL(p, K), 404, NULL);
    assert_envelope(GET("/api/volumes/00000000-0000-4000-8000-000000000000", K), 404, NULL);
    assert_envelope(GET(api_fmt("/api/volumes/by-name/%s", api_uniq("nov")), K), 404, NULL);
    api_release();
}

int main(void)
{
    static const cu_test tests[] = {
        {"create", "every SDK field -> full DTO", test_create_full_body},
        {"create", "defaults (empty, form, no body)", test_create_defaults},
        {"create", "malformed JSON -> raw 400", test_create_malformed_json},
        {"create", "wrong types joined with ', '", test_create_wrong_types},
        {"create", "resources need buildInfo; snapshot rules", test_create_resources_rules},
        {"create", "buildInfo defaults and DTO", test_create_build_info},
        {"create", "limits, intervals, names, networks", test_create_limits_and_intervals},
        {"create", "duplicate name -> 409", test_create_duplicate_name},
        {"create", "2 MiB body -> 413, nothing created", test_create_too_large},
        {"list", "get by id and by name", test_get_by_id_and_name},
        {"list", "list item shape, nextCursor null", test_list_item_shape},
        {"list", "cursor paging visits every sandbox once", test_list_paging},
        {"list", "limit, cursor, labels, sort errors", test_list_query_errors},
        {"list", "labels filter is containment", test_list_labels_filter},
        {"list", "name and id prefixes, case-insensitive", test_list_name_and_id_prefix},
        {"list", "states filter", test_list_states_filter},
        {"list", "sort=name asc/desc", test_list_sort_by_name},
        {"list", "destroyed excluded, destroying listed",
         test_list_destroyed_and_destroying},
        {"list", "paginated route", test_list_paginated},
        {"lifecycle", "stop/start codes and bodies", test_stop_start},
        {"lifecycle", "archive and restore", test_archive},
        {"lifecycle", "restoring shows in list items only", test_restoring_in_list_only},
        {"lifecycle", "delete renames, 404, name reusable", test_delete},
        {"lifecycle", "ephemeral stop deletes", test_ephemeral},
        {"lifecycle", "in-flight transitions -> 409", test_in_flight_conflicts},
        {"side", "PUT labels replaces", test_labels_replace},
        {"side", "autostop/autoarchive/autodelete", test_intervals},
        {"side", "public flag", test_public_flag},
        {"side", "last-activity", test_last_activity},
        {"side", "toolbox-proxy-url", test_toolbox_proxy_url},
        {"side", "preview-url", test_preview_url},
        {"side", "signed-preview-url and expire", test_signed_preview_url},
        {"side", "build-logs-url without build info",
         test_build_logs_url_without_build_info},
        {"side", "resize", test_resize},
        {"side", "network-settings", test_network_settings},
        {"side", "unknown sandbox -> 404 everywhere", test_unknown_sandbox_everywhere},
        {"snapshots+volumes", "default snapshot, get by name/id", test_snapshots_default},
        {"snapshots+volumes", "snapshot create/use/delete",
         test_snapshot_create_use_delete},
        {"snapshots+volumes", "volumes", test_volumes},
    };
    return cu_run_table(tests, sizeof tests / sizeof tests[0], suite_init, suite_cleanup);
}
