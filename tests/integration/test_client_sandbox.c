/*
 * test_client_sandbox.c - libdaytona's control plane against the real
 * daytona-emu: create (every parameter, the SDK's body, local validation
 * and the server's 400/409 answers), get, both list forms (labels, states,
 * page/total, cursor paging over several pages), find_one, the lifecycle
 * calls and their waits (stop/start/archive/restore/recover/delete,
 * DT_ETIMEOUT naming the id, DT_ESTATE on `error`, 409 during a
 * transition), labels, the three intervals, work/home directories, preview
 * links (a server in the sandbox fetched through the plain and the signed
 * URL) and volumes.  401 with a wrong key, 404 with Daytona's message.
 *
 * Expected behaviour: shared/reference/control-plane.md §2 (errors), §3
 * (DTO), §4 (states and waits), §5 (create body), §6 (lists), §7 (side
 * endpoints), §10 (volumes); docs/EMULATOR.md for the admin API used to
 * slow transitions down or make them fail (/_emulator/transitions, clock).
 *
 * One emulator per program (started with --api-key, so other keys get
 * 401); each test makes its own sandboxes with a label unique to the test.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "cu_run.h"
#include "daytona/daytona.h"
#include "client_harness.h"
#include "emu_harness.h"
#include "timeutil.h"

#define KEY "test-key"

static emu_proc g_emu;
static char g_api[128];
static dt_client *g_c;
static unsigned g_seq;

/* ---------- helpers ---------- */

static dt_client *mk_client(const char *key, const char *target)
{
    dt_config cfg;
    ch_config(&cfg, g_api, key);
    cfg.target = target;
    return ch_client(&cfg);
}

/* A label value unique to this program run and call. */
static const char *uniq(char *buf, size_t n, const char *stem)
{
    snprintf(buf, n, "%s-%d-%u", stem, (int)getpid(), ++g_seq);
    return buf;
}

/* Admin call; returns the status. */
static long admin(const char *method, const char *path, const char *body)
{
    http_resp r = http_do(&g_emu, method, path, NULL, NULL, body, -1);
    long st = r.status;
    if (st < 200 || st >= 300)
        fprintf(stderr, "\n  admin %s %s: %ld %s\n", method, path, st, r.body);
    http_resp_free(&r);
    return st;
}

static void clear_transitions(void)
{
    admin("DELETE", "/_emulator/transitions", NULL);
}

/* Creates with p (NULL = defaults); fails the test on error. */
static dt_sandbox *mk(const dt_create_params *p)
{
    dt_sandbox *sb = NULL;
    dt_error e;
    dt_code rc = dt_create(g_c, p, &sb, &e);
    if (rc != DT_OK)
        fprintf(stderr, "\n  create: %s (%ld) %s\n", dt_strerror(rc), e.status,
                e.message);
    CU_ASSERT_EQUAL_FATAL(rc, DT_OK);
    return sb;
}

/* One labelled sandbox (label "t" = tag). */
static dt_sandbox *mk_tagged(const char *tag)
{
    dt_kv l = {"t", tag};
    dt_create_params p;
    dt_create_params_init(&p);
    p.labels = &l;
    p.n_labels = 1;
    return mk(&p);
}

static void rm(dt_sandbox *sb)
{
    if (!sb)
        return;
    dt_error e;
    dt_code rc = dt_sandbox_delete(sb, 10000, &e);
    if (rc != DT_OK && rc != DT_ENOTFOUND)
        fprintf(stderr, "\n  delete %s: %s\n", dt_sandbox_id(sb), e.message);
    dt_sandbox_free(sb);
}

static int json_has(const dt_sandbox *sb, const char *needle)
{
    const char *j = dt_sandbox_json(sb);
    return j && strstr(j, needle) != NULL;
}

/* ---------- create ---------- */

static void test_create_defaults(void)
{
    dt_error e;
    memset(&e, 0x5a, sizeof e);   /* must stay untouched on success */
    dt_sandbox *sb = NULL;
    dt_create_params p;
    dt_create_params_init(&p);
    CU_ASSERT_EQUAL_FATAL(dt_create(g_c, &p, &sb, &e), DT_OK);
    CU_ASSERT_EQUAL(e.code, (dt_code)0x5a5a5a5a);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    CU_ASSERT_EQUAL(strlen(dt_sandbox_id(sb)), 36);
    /* No name: Daytona names the sandbox after its id. */
    CU_ASSERT_STRING_EQUAL(dt_sandbox_name(sb), dt_sandbox_id(sb));
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "code-toolbox-language"), "python");
    CU_ASSERT_EQUAL(dt_sandbox_label_count(sb), 1);
    CU_ASSERT_EQUAL(dt_sandbox_auto_stop_interval(sb), 15);
    CU_ASSERT_EQUAL(dt_sandbox_auto_archive_interval(sb), 10080);
    CU_ASSERT_EQUAL(dt_sandbox_auto_delete_interval(sb), -1);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_user(sb), "daytona");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_target(sb), "us");
    CU_ASSERT_EQUAL(dt_sandbox_public(sb), 0);
    CU_ASSERT_EQUAL(dt_sandbox_cpu(sb), 1);
    CU_ASSERT_EQUAL(dt_sandbox_memory(sb), 1);
    CU_ASSERT_EQUAL(dt_sandbox_disk(sb), 3);
    CU_ASSERT_EQUAL(dt_sandbox_gpu(sb), 0);
    CU_ASSERT_PTR_NOT_NULL(dt_sandbox_snapshot(sb));
    CU_ASSERT_PTR_NULL(dt_sandbox_error_reason(sb));
    CU_ASSERT_PTR_NULL(dt_sandbox_env(sb, "PATH"));
    CU_ASSERT_PTR_NULL(dt_sandbox_label(sb, "nope"));
    CU_ASSERT(json_has(sb, "\"env\":{}"));
    CU_ASSERT(json_has(sb, dt_sandbox_id(sb)));
    /* NULL params mean the same defaults. */
    dt_sandbox *sb2 = NULL;
    CU_ASSERT_EQUAL(dt_create(g_c, NULL, &sb2, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb2, "code-toolbox-language"), "python");
    rm(sb2);
    rm(sb);
}

static void test_create_every_parameter(void)
{
    char name[64], tag[64];
    uniq(name, sizeof name, "full");
    uniq(tag, sizeof tag, "tag");
    dt_kv env[] = {{"FOO", "first"}, {"BAR", "b a r"}, {"FOO", "last"}};
    dt_kv labels[] = {{"t", tag}, {"team", "core"}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.name = name;
    p.language = "typescript";
    p.image = "python:3.12";
    p.env_vars = env;
    p.n_env_vars = 3;
    p.labels = labels;
    p.n_labels = 2;
    p.auto_stop_interval = 30;
    p.auto_archive_interval = 60;
    p.auto_delete_interval = 120;
    p.cpu = 2;
    p.memory = 4;
    p.disk = 5;
    p.public_ = 1;
    p.network_block_all = 1;
    p.network_allow_list = "10.0.0.0/8,192.168.1.0/24";
    dt_client *c = mk_client(KEY, "eu");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    dt_sandbox *sb = NULL;
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_create(c, &p, &sb, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_name(sb), name);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_target(sb), "eu");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "code-toolbox-language"), "typescript");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "t"), tag);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "team"), "core");
    CU_ASSERT_EQUAL(dt_sandbox_label_count(sb), 3);
    int seen = 0;
    for (size_t i = 0; i < dt_sandbox_label_count(sb); i++) {
        dt_kv kv = dt_sandbox_label_at(sb, i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(kv.key);
        CU_ASSERT_STRING_EQUAL(kv.value, dt_sandbox_label(sb, kv.key));
        seen++;
    }
    CU_ASSERT_EQUAL(seen, 3);
    CU_ASSERT_PTR_NULL(dt_sandbox_label_at(sb, 3).key);
    /* A repeated key keeps its last value (one JSON member, not two). */
    CU_ASSERT_STRING_EQUAL(dt_sandbox_env(sb, "FOO"), "last");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_env(sb, "BAR"), "b a r");
    CU_ASSERT_EQUAL(dt_sandbox_auto_stop_interval(sb), 30);
    CU_ASSERT_EQUAL(dt_sandbox_auto_archive_interval(sb), 60);
    CU_ASSERT_EQUAL(dt_sandbox_auto_delete_interval(sb), 120);
    CU_ASSERT_EQUAL(dt_sandbox_cpu(sb), 2);
    CU_ASSERT_EQUAL(dt_sandbox_memory(sb), 4);
    CU_ASSERT_EQUAL(dt_sandbox_disk(sb), 5);
    CU_ASSERT_EQUAL(dt_sandbox_public(sb), 1);
    CU_ASSERT(json_has(sb, "\"networkBlockAll\":true"));
    CU_ASSERT(json_has(sb, "\"networkAllowList\":\"10.0.0.0/8,192.168.1.0/24\""));
    CU_ASSERT(json_has(sb, "FROM python:3.12\\n"));
    /* An image sandbox has no snapshot. */
    CU_ASSERT_PTR_NULL(dt_sandbox_snapshot(sb));
    /* The name finds it too. */
    dt_sandbox *again = NULL;
    CU_ASSERT_EQUAL(dt_get(c, name, &again, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(again), dt_sandbox_id(sb));
    dt_sandbox_free(again);
    rm(sb);
    dt_client_free(c);
}

static void test_create_ephemeral(void)
{
    dt_create_params p;
    dt_create_params_init(&p);
    p.ephemeral = 1;
    p.auto_delete_interval = 90;   /* ignored: ephemeral wins, as in the SDK */
    dt_sandbox *sb = mk(&p);
    CU_ASSERT_EQUAL(dt_sandbox_auto_delete_interval(sb), 0);
    /* Stopping an ephemeral sandbox deletes it; the stop wait accepts that. */
    dt_error e;
    CU_ASSERT_EQUAL(dt_sandbox_stop(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "destroyed");
    dt_sandbox *gone = NULL;
    CU_ASSERT_EQUAL(dt_get(g_c, dt_sandbox_id(sb), &gone, &e), DT_ENOTFOUND);
    CU_ASSERT_PTR_NULL(gone);
    dt_sandbox_free(sb);
}

static void test_create_local_validation(void)
{
    dt_create_params p;
    dt_sandbox *sb = NULL;
    dt_error e;
    dt_code rc;

    dt_create_params_init(&p);
    p.language = "cobol";
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "Invalid code-toolbox-language: cobol");

    dt_create_params_init(&p);
    p.auto_stop_interval = -2;
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "auto_stop_interval");

    dt_create_params_init(&p);
    p.cpu = -5;
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "cpu");

    dt_create_params_init(&p);
    p.n_labels = 2;   /* labels NULL */
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "labels");

    dt_kv bad[] = {{NULL, "x"}};
    dt_create_params_init(&p);
    p.env_vars = bad;
    p.n_env_vars = 1;
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "env_vars[0] has no key");

    dt_volume_mount vm = {NULL, "/data", NULL};
    dt_create_params_init(&p);
    p.volumes = &vm;
    p.n_volumes = 1;
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "volumes[0]");

    dt_create_params_init(&p);
    p.snapshot = "x";
    p.image = "y";
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "snapshot and image");

    CU_ASSERT_EQUAL(dt_create(NULL, NULL, &sb, &e), DT_EINVAL);
    CU_ASSERT_EQUAL(dt_create(g_c, NULL, NULL, &e), DT_EINVAL);
    CU_ASSERT_PTR_NULL(sb);
}

static void test_create_server_validation(void)
{
    char name[64];
    dt_create_params p;
    dt_sandbox *sb = NULL;
    dt_error e;
    dt_code rc;

    /* Over the per-sandbox maximum (4 CPUs). */
    dt_create_params_init(&p);
    p.image = "python:3.12";
    p.cpu = 99;
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400,
              "CPU request 99 exceeds maximum allowed per sandbox (4).");

    /* Daytona refuses resources with a snapshot. */
    dt_create_params_init(&p);
    p.memory = 2;
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400,
              "Cannot specify Sandbox resources when using a snapshot");

    dt_create_params_init(&p);
    p.snapshot = "no-such-snapshot";
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "Snapshot no-such-snapshot not found");

    dt_create_params_init(&p);
    p.network_allow_list = "not-a-cidr";
    rc = dt_create(g_c, &p, &sb, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "networkAllowList");

    /* A taken name is a conflict. */
    dt_create_params_init(&p);
    p.name = uniq(name, sizeof name, "dup");
    dt_sandbox *first = mk(&p);
    rc = dt_create(g_c, &p, &sb, &e);
    char want[128];
    snprintf(want, sizeof want, "Sandbox with name %s already exists", name);
    CHECK_ERR(rc, e, DT_ECONFLICT, 409, want);
    CU_ASSERT_PTR_NULL(sb);
    rm(first);
}

/* The create request is bounded by the caller's timeout. */
static void test_create_timeout(void)
{
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/transitions",
                          "{\"transition\":\"create\",\"durationMs\":1500}"), 200);
    dt_create_params p;
    dt_create_params_init(&p);
    p.timeout_ms = 300;
    char tag[64];
    dt_kv l = {"t", uniq(tag, sizeof tag, "slow")};
    p.labels = &l;
    p.n_labels = 1;
    dt_sandbox *sb = NULL;
    dt_error e;
    int64_t t0 = time_mono_ms();
    dt_code rc = dt_create(g_c, &p, &sb, &e);
    int64_t took = time_mono_ms() - t0;
    CHECK_ERR(rc, e, DT_ETIMEOUT, 0, "within 300 ms");
    CU_ASSERT(took < 1400);
    CU_ASSERT_PTR_NULL(sb);
    clear_transitions();
    /* The server went on: the sandbox exists and comes up. */
    sleep(2);
    CU_ASSERT_EQUAL(dt_find_one(g_c, NULL, &l, 1, &sb, &e), DT_OK);
    if (sb) {
        CU_ASSERT_EQUAL(dt_sandbox_wait_started(sb, 10000, &e), DT_OK);
        rm(sb);
    }
}

/* ---------- get, auth ---------- */

static void test_get_and_not_found(void)
{
    dt_sandbox *sb = mk(NULL), *got = NULL;
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_get(g_c, dt_sandbox_id(sb), &got, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(got), dt_sandbox_id(sb));
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(got), "started");
    CU_ASSERT(json_has(got, "\"toolboxProxyUrl\""));
    dt_sandbox_free(got);
    got = NULL;
    dt_code rc = dt_get(g_c, "no-such-sandbox", &got, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404,
              "Sandbox with ID or name no-such-sandbox not found");
    CU_ASSERT_PTR_NULL(got);
    /* Path characters are encoded, not interpreted. */
    rc = dt_get(g_c, "a/../b c", &got, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "a/../b c");
    rc = dt_get(g_c, NULL, &got, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "required");
    rc = dt_get(g_c, "", &got, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "required");
    rm(sb);
}

static void test_wrong_key(void)
{
    dt_client *bad = mk_client("wrong-key", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    dt_sandbox *sb = NULL;
    dt_sandbox_list *l = NULL;
    dt_error e;
    dt_code rc = dt_get(bad, "whatever", &sb, &e);
    CHECK_ERR(rc, e, DT_EUNAUTHORIZED, 401, "Invalid credentials");
    rc = dt_create(bad, NULL, &sb, &e);
    CHECK_ERR(rc, e, DT_EUNAUTHORIZED, 401, "Invalid credentials");
    rc = dt_list(bad, NULL, &l, &e);
    CHECK_ERR(rc, e, DT_EUNAUTHORIZED, 401, "Invalid credentials");
    dt_volume v;
    rc = dt_volume_get(bad, "vol", 1, &v, &e);
    CHECK_ERR(rc, e, DT_EUNAUTHORIZED, 401, "Invalid credentials");
    CU_ASSERT_PTR_NULL(sb);
    CU_ASSERT_PTR_NULL(l);
    dt_client_free(bad);
}

/* ---------- lists ---------- */

#define NLIST 5

static void test_list_paginated(void)
{
    char tag[64];
    uniq(tag, sizeof tag, "plist");
    dt_sandbox *sbs[NLIST];
    for (int i = 0; i < NLIST; i++)
        sbs[i] = mk_tagged(tag);
    dt_sandbox *other = mk_tagged("someone-else");
    dt_kv l = {"t", tag};
    dt_list_opts o = {.labels = &l, .n_labels = 1, .limit = 2, .page = 1};
    dt_sandbox_list *list = NULL;
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_list_count(list), 2);
    CU_ASSERT_EQUAL(dt_sandbox_list_total(list), NLIST);
    CU_ASSERT_PTR_NULL(dt_sandbox_list_next_cursor(list));
    for (size_t i = 0; i < dt_sandbox_list_count(list); i++) {
        CU_ASSERT_STRING_EQUAL(dt_sandbox_label(dt_sandbox_list_at(list, i), "t"), tag);
        /* Full records in this form. */
        CU_ASSERT(json_has(dt_sandbox_list_at(list, i), "\"env\""));
    }
    CU_ASSERT_PTR_NULL(dt_sandbox_list_at(list, 2));
    dt_sandbox_list_free(list);

    o.page = 3;
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_list_count(list), 1);
    CU_ASSERT_EQUAL(dt_sandbox_list_total(list), NLIST);
    dt_sandbox_list_free(list);
    o.page = 4;
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_list_count(list), 0);
    dt_sandbox_list_free(list);

    /* States: one stopped; "started, stopped" sends both values. */
    CU_ASSERT_EQUAL(dt_sandbox_stop(sbs[0], 10000, &e), DT_OK);
    o.page = 0;
    o.limit = 0;
    o.states = "stopped";
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_list_total(list), 1);
    CU_ASSERT_EQUAL_FATAL(dt_sandbox_list_count(list), 1);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(dt_sandbox_list_at(list, 0)),
                           dt_sandbox_id(sbs[0]));
    dt_sandbox_list_free(list);
    o.states = "started, stopped";
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_list_total(list), NLIST);
    dt_sandbox_list_free(list);
    o.states = "started";
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_list_total(list), NLIST - 1);
    dt_sandbox_list_free(list);

    /* The server's validation comes back as is. */
    o.states = "bogus";
    list = NULL;
    dt_code rc = dt_list(g_c, &o, &list, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "states");
    CU_ASSERT_PTR_NULL(list);
    o.states = NULL;
    o.limit = 500;
    rc = dt_list(g_c, &o, &list, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "limit must not be greater than 200");
    o.limit = -1;
    rc = dt_list(g_c, &o, &list, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "limit");

    /* No options: page 1 of everything, total counted. */
    CU_ASSERT_EQUAL_FATAL(dt_list(g_c, NULL, &list, &e), DT_OK);
    CU_ASSERT(dt_sandbox_list_total(list) >= NLIST + 1);
    dt_sandbox_list_free(list);

    for (int i = 0; i < NLIST; i++)
        rm(sbs[i]);
    rm(other);
}

static void test_list_cursor(void)
{
    char tag[64];
    uniq(tag, sizeof tag, "clist");
    dt_sandbox *sbs[NLIST];
    for (int i = 0; i < NLIST; i++)
        sbs[i] = mk_tagged(tag);
    dt_kv l = {"t", tag};
    dt_list_opts o = {.labels = &l, .n_labels = 1, .limit = 2, .cursor = ""};
    char *cursor = NULL;
    int found[NLIST] = {0}, pages = 0, items = 0;
    dt_error e;
    for (;;) {
        dt_sandbox_list *list = NULL;
        CU_ASSERT_EQUAL_FATAL(dt_list(g_c, &o, &list, &e), DT_OK);
        pages++;
        CU_ASSERT_EQUAL(dt_sandbox_list_total(list), -1);
        CU_ASSERT(dt_sandbox_list_count(list) <= 2);
        for (size_t i = 0; i < dt_sandbox_list_count(list); i++) {
            dt_sandbox *it = dt_sandbox_list_at(list, i);
            items++;
            /* List items: no env (refresh gets it). */
            CU_ASSERT_PTR_NULL(dt_sandbox_env(it, "X"));
            CU_ASSERT(!json_has(it, "\"env\""));
            for (int k = 0; k < NLIST; k++)
                if (strcmp(dt_sandbox_id(it), dt_sandbox_id(sbs[k])) == 0)
                    found[k]++;
        }
        /* Taking an item hands it over; the list no longer frees it. */
        if (pages == 1) {
            dt_sandbox *mine = dt_sandbox_list_take(list, 0);
            CU_ASSERT_PTR_NOT_NULL(mine);
            CU_ASSERT_PTR_NULL(dt_sandbox_list_at(list, 0));
            CU_ASSERT_PTR_NULL(dt_sandbox_list_take(list, 9));
            CU_ASSERT_EQUAL(dt_sandbox_refresh(mine, &e), DT_OK);
            CU_ASSERT(json_has(mine, "\"env\""));
            dt_sandbox_free(mine);
        }
        const char *next = dt_sandbox_list_next_cursor(list);
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        dt_sandbox_list_free(list);
        if (!cursor || pages > 10)
            break;
        o.cursor = cursor;
    }
    free(cursor);
    CU_ASSERT_EQUAL(pages, 3);
    CU_ASSERT_EQUAL(items, NLIST);
    for (int k = 0; k < NLIST; k++)
        CU_ASSERT_EQUAL(found[k], 1);

    dt_sandbox_list *list = NULL;
    o.cursor = "zzz";
    dt_code rc = dt_list(g_c, &o, &list, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "Invalid cursor provided: zzz");
    for (int i = 0; i < NLIST; i++)
        rm(sbs[i]);
}

static void test_find_one(void)
{
    char tag[64], name[64];
    dt_kv l[] = {{"t", uniq(tag, sizeof tag, "find")}, {"role", "db"}};
    dt_create_params p;
    dt_create_params_init(&p);
    p.name = uniq(name, sizeof name, "findme");
    p.labels = l;
    p.n_labels = 2;
    dt_sandbox *sb = mk(&p), *got = NULL;
    dt_error e;
    CU_ASSERT_EQUAL(dt_find_one(g_c, name, NULL, 0, &got, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(got), dt_sandbox_id(sb));
    dt_sandbox_free(got);
    got = NULL;
    CU_ASSERT_EQUAL(dt_find_one(g_c, NULL, l, 2, &got, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(got), dt_sandbox_id(sb));
    dt_sandbox_free(got);
    got = NULL;
    /* All labels must match. */
    dt_kv miss[] = {{"t", tag}, {"role", "web"}};
    dt_code rc = dt_find_one(g_c, NULL, miss, 2, &got, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 0, "No sandbox found with labels");
    CU_ASSERT(strstr(e.message, "\"role\":\"web\"") != NULL);
    CU_ASSERT_PTR_NULL(got);
    rc = dt_find_one(g_c, "no-such-name", NULL, 0, &got, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "no-such-name not found");
    rm(sb);
}

/* ---------- lifecycle ---------- */

static void test_stop_start_archive_restore(void)
{
    dt_sandbox *sb = mk(NULL);
    dt_error e;
    dt_code rc;
    CU_ASSERT_EQUAL(dt_sandbox_wait_started(sb, 1000, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_stop(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "stopped");
    CU_ASSERT_EQUAL(dt_sandbox_wait_stopped(sb, 1000, &e), DT_OK);
    /* Stop is not idempotent on Daytona. */
    rc = dt_sandbox_stop(sb, 10000, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "Sandbox is not in a stoppable state");
    CU_ASSERT_EQUAL(dt_sandbox_start(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    /* Start is idempotent. */
    CU_ASSERT_EQUAL(dt_sandbox_start(sb, 10000, &e), DT_OK);
    /* Archive needs a stopped sandbox. */
    rc = dt_sandbox_archive(sb, 10000, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "Sandbox is not stopped");
    CU_ASSERT_EQUAL(dt_sandbox_stop(sb, 10000, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_archive(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "archived");
    /* Start from archived: the server answers `archived` at once and the
     * client waits for the restore. */
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/transitions",
                          "{\"transition\":\"restore\",\"durationMs\":400}"), 200);
    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL(dt_sandbox_start(sb, 10000, &e), DT_OK);
    CU_ASSERT(time_mono_ms() - t0 >= 300);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    clear_transitions();
    CU_ASSERT_EQUAL(dt_sandbox_refresh(sb, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    rm(sb);
}

static void test_timeout_and_conflict(void)
{
    dt_sandbox *sb = mk(NULL);
    dt_error e;
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/transitions",
                          "{\"transition\":\"stop\",\"durationMs\":60000}"), 200);
    int64_t t0 = time_mono_ms();
    dt_code rc = dt_sandbox_stop(sb, 300, &e);
    int64_t took = time_mono_ms() - t0;
    CHECK_ERR(rc, e, DT_ETIMEOUT, 0, dt_sandbox_id(sb));
    CU_ASSERT(strstr(e.message, "stopping") != NULL);
    CU_ASSERT(took >= 300 && took < 3000);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "stopping");
    /* A transition in flight: Daytona answers 409. */
    rc = dt_sandbox_start(sb, 1000, &e);
    CHECK_ERR(rc, e, DT_ECONFLICT, 409, "Sandbox state change in progress");
    rc = dt_sandbox_wait_stopped(sb, 200, &e);
    CHECK_ERR(rc, e, DT_ETIMEOUT, 0, "did not stop within 200 ms");
    /* Moving the emulator's clock completes the stop. */
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/clock", "{\"advanceMs\":61000}"), 200);
    CU_ASSERT_EQUAL(dt_sandbox_wait_stopped(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "stopped");
    clear_transitions();
    rm(sb);
}

static void test_error_state_and_recover(void)
{
    dt_sandbox *sb = mk(NULL);
    dt_error e;
    dt_code rc = dt_sandbox_recover(sb, 10000, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400, "Sandbox is not in a recoverable state");
    CU_ASSERT_EQUAL(dt_sandbox_stop(sb, 10000, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_archive(sb, 10000, &e), DT_OK);
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/transitions",
                          "{\"transition\":\"restore\",\"result\":\"error\","
                          "\"errorReason\":\"disk gone\",\"recoverable\":true}"),
                    200);
    rc = dt_sandbox_start(sb, 10000, &e);
    CHECK_ERR(rc, e, DT_ESTATE, 0, "disk gone");
    CU_ASSERT(strstr(e.message, dt_sandbox_id(sb)) != NULL);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "error");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_error_reason(sb), "disk gone");
    /* Waiting for started on an errored sandbox fails the same way. */
    rc = dt_sandbox_wait_started(sb, 1000, &e);
    CHECK_ERR(rc, e, DT_ESTATE, 0, "error reason: disk gone");
    clear_transitions();
    CU_ASSERT_EQUAL(dt_sandbox_recover(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    CU_ASSERT_PTR_NULL(dt_sandbox_error_reason(sb));
    rm(sb);
}

static void test_delete(void)
{
    dt_sandbox *sb = mk(NULL);
    char id[64];
    snprintf(id, sizeof id, "%s", dt_sandbox_id(sb));
    dt_error e;
    /* A slow destroy: the client polls `destroying` until the 404. */
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/transitions",
                          "{\"transition\":\"delete\",\"durationMs\":500}"), 200);
    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL(dt_sandbox_delete(sb, 10000, &e), DT_OK);
    CU_ASSERT(time_mono_ms() - t0 >= 400);
    clear_transitions();
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "destroyed");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(sb), id);
    dt_sandbox *got = NULL;
    dt_code rc = dt_get(g_c, id, &got, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "not found");
    rc = dt_sandbox_delete(sb, 1000, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "not found");
    rc = dt_sandbox_refresh(sb, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "not found");
    dt_sandbox_free(sb);
    /* NULL handles. */
    CU_ASSERT_EQUAL(dt_sandbox_delete(NULL, 0, &e), DT_EINVAL);
    CU_ASSERT_EQUAL(dt_sandbox_start(NULL, 0, &e), DT_EINVAL);
    CU_ASSERT_EQUAL(dt_sandbox_wait_started(NULL, 0, &e), DT_EINVAL);
    CU_ASSERT_EQUAL(dt_sandbox_refresh(NULL, &e), DT_EINVAL);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(NULL), "");
    CU_ASSERT_PTR_NULL(dt_sandbox_json(NULL));
    dt_sandbox_free(NULL);
}

/* ---------- labels, intervals ---------- */

static void test_set_labels(void)
{
    dt_sandbox *sb = mk(NULL);
    dt_error e;
    dt_kv l[] = {{"a", "1"}, {"b", "two words"}, {"a", "3"}};
    CU_ASSERT_EQUAL(dt_sandbox_set_labels(sb, l, 3, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_label_count(sb), 2);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "a"), "3");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "b"), "two words");
    /* Replaced, not merged (the language label is gone, as on Daytona). */
    CU_ASSERT_PTR_NULL(dt_sandbox_label(sb, "code-toolbox-language"));
    dt_sandbox *fresh = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_get(g_c, dt_sandbox_id(sb), &fresh, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_label_count(fresh), 2);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(fresh, "b"), "two words");
    dt_sandbox_free(fresh);
    CU_ASSERT_EQUAL(dt_sandbox_set_labels(sb, NULL, 0, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_label_count(sb), 0);
    dt_code rc = dt_sandbox_set_labels(sb, NULL, 1, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "labels");
    rc = dt_sandbox_set_labels(NULL, l, 1, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "invalid sandbox handle");
    rm(sb);
}

static void test_intervals(void)
{
    dt_sandbox *sb = mk(NULL);
    dt_error e;
    CU_ASSERT_EQUAL(dt_sandbox_set_auto_stop(sb, 0, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_auto_stop_interval(sb), 0);
    CU_ASSERT_EQUAL(dt_sandbox_set_auto_archive(sb, 120, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_auto_archive_interval(sb), 120);
    /* 0 means the maximum (30 days). */
    CU_ASSERT_EQUAL(dt_sandbox_set_auto_archive(sb, 0, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_auto_archive_interval(sb), 43200);
    CU_ASSERT_EQUAL(dt_sandbox_set_auto_delete(sb, 45, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_auto_delete_interval(sb), 45);
    CU_ASSERT_EQUAL(dt_sandbox_set_auto_delete(sb, -1, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_auto_delete_interval(sb), -1);
    CU_ASSERT_EQUAL(dt_sandbox_set_auto_stop(sb, 7, &e), DT_OK);
    /* A fresh read agrees. */
    dt_sandbox *fresh = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_get(g_c, dt_sandbox_id(sb), &fresh, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_auto_stop_interval(fresh), 7);
    CU_ASSERT_EQUAL(dt_sandbox_auto_archive_interval(fresh), 43200);
    CU_ASSERT_EQUAL(dt_sandbox_auto_delete_interval(fresh), -1);
    dt_sandbox_free(fresh);
    dt_code rc = dt_sandbox_set_auto_stop(sb, -1, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "autoStopInterval must be >= 0");
    rc = dt_sandbox_set_auto_archive(sb, -3, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "autoArchiveInterval");
    rc = dt_sandbox_set_auto_delete(sb, -2, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "autoDeleteInterval must be >= -1");
    CU_ASSERT_EQUAL(dt_sandbox_auto_stop_interval(sb), 7);
    /* The scheduler honours the new auto-stop: 7 idle minutes stop it. */
    CU_ASSERT_EQUAL(admin("POST", "/_emulator/clock",
                          "{\"advanceMinutes\":8}"), 200);
    CU_ASSERT_EQUAL(dt_sandbox_wait_stopped(sb, 10000, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "stopped");
    rm(sb);
}

/* ---------- toolbox dirs, previews ---------- */

static void test_dirs(void)
{
    dt_sandbox *sb = mk(NULL);
    char *work = NULL, *home = NULL;
    dt_error e;
    CU_ASSERT_EQUAL(dt_sandbox_work_dir(sb, &work, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_home_dir(sb, &home, &e), DT_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(work);
    CU_ASSERT_PTR_NOT_NULL_FATAL(home);
    CU_ASSERT_EQUAL(work[0], '/');
    CU_ASSERT_EQUAL(home[0], '/');
    free(work);
    free(home);
    /* A stopped sandbox's toolbox does not answer. */
    CU_ASSERT_EQUAL(dt_sandbox_stop(sb, 10000, &e), DT_OK);
    work = NULL;
    dt_code rc = dt_sandbox_work_dir(sb, &work, &e);
    CU_ASSERT_NOT_EQUAL(rc, DT_OK);
    CU_ASSERT(e.status >= 400);
    CU_ASSERT_PTR_NULL(work);
    rm(sb);
}

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Starts `python3 -m http.server PORT` in the sandbox (toolbox sessions,
 * asynchronous exec) over the harness's own HTTP. */
static int serve_in(const dt_sandbox *sb, unsigned port)
{
    char path[256], cmd[128];
    snprintf(path, sizeof path, "/toolbox/%s/process/session", dt_sandbox_id(sb));
    http_resp r = http_do(&g_emu, "POST", path, KEY, NULL,
                          "{\"sessionId\":\"srv\"}", -1);
    long st1 = r.status;
    http_resp_free(&r);
    snprintf(path, sizeof path, "/toolbox/%s/process/session/srv/exec",
             dt_sandbox_id(sb));
    snprintf(cmd, sizeof cmd, "python3 -m http.server %u", port);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmd);
    cJSON_AddTrueToObject(o, "runAsync");
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    r = http_do(&g_emu, "POST", path, KEY, NULL, body, -1);
    free(body);
    long st2 = r.status;
    http_resp_free(&r);
    return st1 == 201 && st2 == 202 ? 0 : -1;
}

/* GET a preview URL (absolute, on the emulator) with an optional token;
 * retried until 200 or 10 s, for the server's start-up. */
static long fetch_preview(const char *url, const char *token, char *body,
                          size_t n)
{
    size_t bl = strlen(g_emu.base);
    if (strncmp(url, g_emu.base, bl) != 0)
        return -1;
    char hdr[128];
    snprintf(hdr, sizeof hdr, "X-Daytona-Preview-Token: %s", token ? token : "");
    const char *h[] = {hdr, NULL};
    long st = 0;
    for (int i = 0; i < 100; i++) {
        http_resp r = http_do(&g_emu, "GET", url + bl, NULL, token ? h : NULL,
                              NULL, 0);
        st = r.status;
        if (body)
            snprintf(body, n, "%s", r.body ? r.body : "");
        http_resp_free(&r);
        if (st != 502)
            break;
        usleep(100 * 1000);
    }
    return st;
}

static int all_lower_alnum(const char *s, size_t want_len)
{
    if (strlen(s) != want_len)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

static void test_preview(void)
{
    dt_create_params p;
    dt_create_params_init(&p);
    p.auto_stop_interval = 0;
    dt_sandbox *sb = mk(&p);
    unsigned port = free_port();
    CU_ASSERT_FATAL(port != 0);
    dt_preview pv = {NULL, NULL}, signed_pv = {NULL, NULL};
    dt_error e;
    CU_ASSERT_EQUAL_FATAL(dt_sandbox_preview_link(sb, (int)port, &pv, &e), DT_OK);
    char want[256];
    snprintf(want, sizeof want, "%s/preview/%u-%s", g_emu.base, port,
             dt_sandbox_id(sb));
    CU_ASSERT_STRING_EQUAL(pv.url, want);
    CU_ASSERT(all_lower_alnum(pv.token, 32));
    CU_ASSERT_EQUAL_FATAL(dt_sandbox_signed_preview_url(sb, (int)port, 120,
                                                        &signed_pv, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(signed_pv.token, "");
    snprintf(want, sizeof want, "%s/preview/%u-", g_emu.base, port);
    CU_ASSERT_EQUAL(strncmp(signed_pv.url, want, strlen(want)), 0);
    CU_ASSERT(all_lower_alnum(signed_pv.url + strlen(want), 16));

    /* Something served inside the sandbox, through both URLs. */
    char body[4096];
    CU_ASSERT_EQUAL_FATAL(serve_in(sb, port), 0);
    CU_ASSERT_EQUAL(fetch_preview(pv.url, pv.token, body, sizeof body), 200);
    CU_ASSERT(strstr(body, "Directory listing") != NULL);
    CU_ASSERT_EQUAL(fetch_preview(pv.url, NULL, NULL, 0), 401);
    CU_ASSERT_EQUAL(fetch_preview(signed_pv.url, NULL, body, sizeof body), 200);
    CU_ASSERT(strstr(body, "Directory listing") != NULL);

    /* Validation: ours, then the server's. */
    dt_preview bad = {NULL, NULL};
    dt_code rc = dt_sandbox_preview_link(sb, 0, &bad, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "port must be 1..65535");
    rc = dt_sandbox_preview_link(sb, 65536, &bad, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "port");
    rc = dt_sandbox_signed_preview_url(sb, 80, -1, &bad, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "expires_s");
    rc = dt_sandbox_signed_preview_url(sb, 80, 100000, &bad, &e);
    CHECK_ERR(rc, e, DT_EBADREQUEST, 400,
              "expiresInSeconds must be between 1 and 86400 seconds");
    CU_ASSERT_PTR_NULL(bad.url);

    /* The token rotates on every start. */
    CU_ASSERT_EQUAL(dt_sandbox_stop(sb, 10000, &e), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_start(sb, 10000, &e), DT_OK);
    dt_preview pv2 = {NULL, NULL};
    CU_ASSERT_EQUAL(dt_sandbox_preview_link(sb, (int)port, &pv2, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(pv2.url, pv.url);
    CU_ASSERT_STRING_NOT_EQUAL(pv2.token, pv.token);
    dt_preview_release(&pv2);
    dt_preview_release(&pv);
    dt_preview_release(&signed_pv);
    CU_ASSERT_PTR_NULL(pv.url);
    dt_preview_release(NULL);
    rm(sb);
}

/* ---------- volumes ---------- */

static void test_volumes(void)
{
    char name[64];
    uniq(name, sizeof name, "vol");
    dt_volume v = {NULL, NULL, NULL}, v2 = {NULL, NULL, NULL};
    dt_error e;
    char want[128];
    snprintf(want, sizeof want, "Volume with name %s not found", name);
    dt_code rc = dt_volume_get(g_c, name, 0, &v, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, want);
    CU_ASSERT_PTR_NULL(v.id);
    CU_ASSERT_EQUAL_FATAL(dt_volume_get(g_c, name, 1, &v, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(v.name, name);
    CU_ASSERT_STRING_EQUAL(v.state, "ready");
    CU_ASSERT_EQUAL(strlen(v.id), 36);
    CU_ASSERT_EQUAL_FATAL(dt_volume_get(g_c, name, 1, &v2, &e), DT_OK);
    CU_ASSERT_STRING_EQUAL(v2.id, v.id);
    dt_volume_release(&v2);
    snprintf(want, sizeof want, "Volume with name %s already exists", name);
    rc = dt_volume_create(g_c, name, &v2, &e);
    CHECK_ERR(rc, e, DT_ECONFLICT, 409, want);

    /* Mounted by name; the record names it by id. */
    dt_volume_mount m = {name, "/mnt/data", NULL};
    dt_create_params p;
    dt_create_params_init(&p);
    p.volumes = &m;
    p.n_volumes = 1;
    dt_sandbox *sb = mk(&p);
    snprintf(want, sizeof want, "\"volumeId\":\"%s\"", v.id);
    CU_ASSERT(json_has(sb, want));
    CU_ASSERT(json_has(sb, "\"mountPath\":\"/mnt/data\""));
    rc = dt_volume_delete(g_c, v.id, &e);
    CHECK_ERR(rc, e, DT_ECONFLICT, 409, "in use");
    rm(sb);
    CU_ASSERT_EQUAL(dt_volume_delete(g_c, v.id, &e), DT_OK);
    rc = dt_volume_delete(g_c, v.id, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "not found");

    /* A mount of a volume that does not exist. */
    dt_volume_mount m2 = {"no-such-volume", "/mnt/x", NULL};
    p.volumes = &m2;
    dt_sandbox *none = NULL;
    rc = dt_create(g_c, &p, &none, &e);
    CHECK_ERR(rc, e, DT_ENOTFOUND, 404, "Volume no-such-volume not found");

    rc = dt_volume_get(g_c, NULL, 1, &v2, &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "name");
    rc = dt_volume_delete(g_c, "", &e);
    CHECK_ERR(rc, e, DT_EINVAL, 0, "id");
    dt_volume_release(&v);
    CU_ASSERT_PTR_NULL(v.id);
}

/* ---------- registration ---------- */

static int suite_init(void)
{
    if (ch_start(&g_emu, g_api, sizeof g_api, KEY) != 0)
        return 1;
    g_c = mk_client(KEY, NULL);
    return g_c ? 0 : 1;
}

static int suite_cleanup(void)
{
    dt_client_free(g_c);
    ch_stop(&g_emu);
    return 0;
}

int main(void)
{
    static const cu_case tests[] = {
        {"create defaults", test_create_defaults},
        {"create with every parameter", test_create_every_parameter},
        {"create ephemeral; stop deletes", test_create_ephemeral},
        {"create: local validation", test_create_local_validation},
        {"create: server validation 400/409", test_create_server_validation},
        {"create: request bounded by timeout", test_create_timeout},
        {"get and 404", test_get_and_not_found},
        {"wrong API key is 401", test_wrong_key},
        {"paginated list: labels, pages, states", test_list_paginated},
        {"cursor list over several pages", test_list_cursor},
        {"find_one", test_find_one},
        {"stop/start/archive/restore", test_stop_start_archive_restore},
        {"wait timeout and 409 in flight", test_timeout_and_conflict},
        {"error state and recover", test_error_state_and_recover},
        {"delete waits for the 404", test_delete},
        {"set labels", test_set_labels},
        {"intervals", test_intervals},
        {"work and home dirs", test_dirs},
        {"preview links", test_preview},
        {"volumes", test_volumes},
    };
    return cu_run_suite("client_sandbox", suite_init, suite_cleanup, tests,
                        sizeof tests / sizeof tests[0]);
}
