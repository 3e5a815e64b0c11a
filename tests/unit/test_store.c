/*
 * test_store.c - tests for emulator/store.c, the only module that touches
 * SQLite: opening (in memory, on disk, reopening, refusing a database of
 * another schema version), sandbox records (insert, lookups and their
 * organization scoping, the unique (org, name) rule, atomic modify with
 * commit and abort), the list query (filters, both sort directions, keyset
 * cursor and offset paging), the scheduler's due queries, reset, signed
 * preview tokens, snapshots and volumes.
 *
 * Every test opens its own private store, so tests share no state.
 */
#include "store.h"

#include <CUnit/Basic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_run.h"

#define ORG1 "11111111-1111-4111-8111-111111111111"
#define ORG2 "22222222-2222-4222-8222-222222222222"
#define MIN_MS 60000LL

static emu_store *open_mem(void)
{
    char err[256] = "";
    emu_store *st = store_open(":memory:", err, sizeof err);
    if (!st)
        fprintf(stderr, "store_open: %s\n", err);
    return st;
}

/* A deterministic v4-shaped id; `tag` goes into the first group so ids
 * can be told apart (and prefix-searched) by it. */
static void make_id(char out[SB_ID_LEN], unsigned tag, unsigned n)
{
    snprintf(out, SB_ID_LEN, "%08x-0000-4000-8000-%012x", tag, n);
}

/* A complete started sandbox record owned by the caller. */
static void make_sb(emu_sandbox *sb, const char *id, const char *org,
                    const char *name)
{
    sandbox_init(sb);
    snprintf(sb->id, sizeof sb->id, "%s", id);
    snprintf(sb->org_id, sizeof sb->org_id, "%s", org);
    sandbox_set_str(&sb->name, name);
    sandbox_set_str(&sb->snapshot, "daytonaio/sandbox:0.5.0-slim");
    sandbox_set_str(&sb->user, "daytona");
    sandbox_set_str(&sb->target, "us");
    sandbox_set_str(&sb->runner_id, "runner-1");
    sb->env = cJSON_CreateObject();
    sb->labels = cJSON_CreateObject();
    sb->volumes = cJSON_CreateArray();
    sb->cpu = 1;
    sb->memory = 1;
    sb->disk = 3;
    snprintf(sb->state, sizeof sb->state, "started");
    snprintf(sb->desired, sizeof sb->desired, "started");
    snprintf(sb->backup_state, sizeof sb->backup_state, "None");
    snprintf(sb->sandbox_class, sizeof sb->sandbox_class, "container");
    sb->auto_stop = 15;
    sb->auto_archive = 10080;
    sb->auto_delete = -1;
    sb->created_at = sb->updated_at = sb->last_activity_at = 1000;
    snprintf(sb->auth_token, sizeof sb->auth_token, "token");
}

/* Inserts a started sandbox with the given states; returns the emu_code. */
static int add_sb(emu_store *st, const char *id, const char *org,
                  const char *name, const char *state, const char *desired)
{
    emu_sandbox sb;
    make_sb(&sb, id, org, name);
    snprintf(sb.state, sizeof sb.state, "%s", state);
    snprintf(sb.desired, sizeof sb.desired, "%s", desired);
    int rc = store_sandbox_insert(st, &sb);
    sandbox_release(&sb);
    return rc;
}

static void query_init(store_list_query *q, const char *org)
{
    memset(q, 0, sizeof *q);
    q->org = org;
    q->public_filter = -1;
    q->recoverable_filter = -1;
    q->min_cpu = q->max_cpu = q->min_mem = q->max_mem = -1;
    q->min_disk = q->max_disk = -1;
    q->sort = "createdAt";
    q->desc = 1;
    q->limit = 100;
    q->offset = -1;
}

static void free_rows(emu_sandbox *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sandbox_release(&rows[i]);
    free(rows);
}

/* Runs q and returns the number of rows (or -1); ids are not kept. */
static int list_count(emu_store *st, const store_list_query *q)
{
    emu_sandbox *rows = NULL;
    size_t n = 0;
    int more = 0;
    if (store_sandbox_list(st, q, &rows, &n, &more, NULL) != EMU_OK)
        return -1;
    free_rows(rows, n);
    return (int)n;
}

/* 1 when the list result of q is exactly the names in `want` (any order). */
static int list_names_are(emu_store *st, const store_list_query *q,
                          const char *const *want, size_t nwant)
{
    emu_sandbox *rows = NULL;
    size_t n = 0;
    int more = 0, ok = 1;
    if (store_sandbox_list(st, q, &rows, &n, &more, NULL) != EMU_OK)
        return 0;
    if (n != nwant)
        ok = 0;
    for (size_t i = 0; ok && i < nwant; i++) {
        int found = 0;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(rows[k].name, want[i]) == 0;
        ok = found;
    }
    if (!ok) {
        fprintf(stderr, "\n  list returned %zu rows:", n);
        for (size_t k = 0; k < n; k++)
            fprintf(stderr, " %s", rows[k].name);
        fprintf(stderr, "\n");
    }
    free_rows(rows, n);
    return ok;
}

/* ---- open / close ---- */

static void test_open_close(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t v = 0;
    CU_ASSERT_EQUAL(store_meta_get_int(st, "schema_version", &v), EMU_OK);
    CU_ASSERT_EQUAL(v, STORE_SCHEMA_VERSION);
    CU_ASSERT_EQUAL(store_meta_get_int(st, "no-such-key", &v), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_meta_set_int(st, "k", -7), EMU_OK);
    CU_ASSERT_EQUAL(store_meta_set_int(st, "k", 9), EMU_OK);   /* upsert */
    CU_ASSERT_EQUAL(store_meta_get_int(st, "k", &v), EMU_OK);
    CU_ASSERT_EQUAL(v, 9);
    CU_ASSERT_EQUAL(store_sandbox_count(st, NULL), 0);
    store_close(st);
    store_close(NULL);   /* NULL-safe */
}

static void test_open_failure_reports(void)
{
    char err[256] = "";
    emu_store *st = store_open("/nonexistent-dir-for-emu-tests/x/emu.db", err,
                               sizeof err);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT(strlen(err) > 0);
    store_close(st);
}

/* A temporary directory holding one database file; removed by tmpdb_rm. */
typedef struct {
    char dir[64];
    char path[128];
} tmpdb;

static int tmpdb_make(tmpdb *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/emu-store-test-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/emu.db", t->dir);
    return 0;
}

static void tmpdb_rm(tmpdb *t)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, suffix[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

static void test_reopen_file_keeps_rows(void)
{
    tmpdb t;
    CU_ASSERT_EQUAL_FATAL(tmpdb_make(&t), 0);
    char err[256] = "", id[SB_ID_LEN];
    make_id(id, 0xf11e, 1);
    emu_store *st = store_open(t.path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(st);
    if (st) {
        CU_ASSERT_EQUAL(add_sb(st, id, ORG1, "persisted", "stopped", "stopped"),
                        EMU_OK);
        CU_ASSERT_EQUAL(store_meta_set_int(st, "clock_offset_ms", 1234), EMU_OK);
        store_close(st);
    }
    st = store_open(t.path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(st);
    if (st) {
        emu_sandbox sb;
        int64_t v = 0;
        CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, "persisted", 0, &sb), EMU_OK);
        CU_ASSERT_STRING_EQUAL(sb.id, id);
        CU_ASSERT_STRING_EQUAL(sb.state, "stopped");
        sandbox_release(&sb);
        CU_ASSERT_EQUAL(store_meta_get_int(st, "clock_offset_ms", &v), EMU_OK);
        CU_ASSERT_EQUAL(v, 1234);
        CU_ASSERT_EQUAL(store_meta_get_int(st, "schema_version", &v), EMU_OK);
        CU_ASSERT_EQUAL(v, STORE_SCHEMA_VERSION);
        store_close(st);
    }
    tmpdb_rm(&t);
}

/* A fresh file is made without fsyncs, but what follows is acknowledged
 * under NORMAL, as is everything on a file that already existed. */
static void test_fresh_file_then_normal_sync(void)
{
    tmpdb t;
    CU_ASSERT_EQUAL_FATAL(tmpdb_make(&t), 0);
    char err[256] = "";
    emu_store *st = store_open(t.path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(store_synchronous(st), 1);
    CU_ASSERT_EQUAL(store_meta_set_int(st, "k", 5), EMU_OK);
    store_close(st);
    st = store_open(t.path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(store_synchronous(st), 1);
    int64_t v = 0;
    CU_ASSERT_EQUAL(store_meta_get_int(st, "k", &v), EMU_OK);
    CU_ASSERT_EQUAL(v, 5);
    store_close(st);
    tmpdb_rm(&t);
}

static void test_schema_version_mismatch(void)
{
    tmpdb t;
    CU_ASSERT_EQUAL_FATAL(tmpdb_make(&t), 0);
    char err[256] = "";
    emu_store *st = store_open(t.path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(st);
    store_close(st);

    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL(sqlite3_open(t.path, &db), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE meta SET value = 99 WHERE "
                                     "key = 'schema_version'",
                                 NULL, NULL, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_changes(db), 1);
    sqlite3_close(db);

    err[0] = '\0';
    st = store_open(t.path, err, sizeof err);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "schema version"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "99"));
    store_close(st);
    tmpdb_rm(&t);
}

/* ---- organizations ---- */

static void test_orgs(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(store_org_exists(st, ORG1), 0);
    CU_ASSERT_EQUAL(store_org_ensure(st, ORG1), EMU_OK);
    CU_ASSERT_EQUAL(store_org_ensure(st, ORG1), EMU_OK);   /* idempotent */
    CU_ASSERT_EQUAL(store_org_ensure(st, ORG2), EMU_OK);
    CU_ASSERT_EQUAL(store_org_exists(st, ORG1), 1);
    cJSON *l = store_org_list(st);
    CU_ASSERT_PTR_NOT_NULL(l);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);
    store_close(st);
}

/* ---- sandbox records ---- */

static void test_sandbox_roundtrip_and_scoping(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char id[SB_ID_LEN];
    make_id(id, 0xa1, 1);
    emu_sandbox sb, got;
    make_sb(&sb, id, ORG1, "alpha");
    cJSON_AddStringToObject(sb.labels, "team", "core");
    cJSON_AddStringToObject(sb.env, "A", "1");
    sb.cpu = 2.5;
    sb.gpu = 0;
    sb.auto_delete = 0;
    sb.transition_due = 77;
    sandbox_set_str(&sb.transition_fail, "boom");
    CU_ASSERT_EQUAL(store_sandbox_insert(st, &sb), EMU_OK);

    CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, id, 0, &got), EMU_OK);
    CU_ASSERT_STRING_EQUAL(got.name, "alpha");
    CU_ASSERT_STRING_EQUAL(got.org_id, ORG1);
    CU_ASSERT_STRING_EQUAL(got.snapshot, "daytonaio/sandbox:0.5.0-slim");
    CU_ASSERT_DOUBLE_EQUAL(got.cpu, 2.5, 1e-9);
    CU_ASSERT_EQUAL(got.auto_delete, 0);
    CU_ASSERT_EQUAL(got.transition_due, 77);
    CU_ASSERT_STRING_EQUAL(got.transition_fail, "boom");
    CU_ASSERT_PTR_NULL(got.error_reason);
    CU_ASSERT_PTR_NULL(got.network_allow_list);
    CU_ASSERT(cJSON_Compare(got.labels, sb.labels, 1));
    CU_ASSERT(cJSON_Compare(got.env, sb.env, 1));
    CU_ASSERT(cJSON_IsArray(got.volumes));
    CU_ASSERT_PTR_NULL(got.build_info);
    sandbox_release(&got);

    /* Table: {org, key, by_id_only, expected}. */
    static const struct {
        const char *org;
        int use_id;          /* key = the id, else `key` */
        const char *key;
        int by_id_only;
        int want;
    } cases[] = {
        {ORG1, 1, NULL, 0, EMU_OK},
        {ORG1, 1, NULL, 1, EMU_OK},
        {ORG1, 0, "alpha", 0, EMU_OK},
        {ORG1, 0, "alpha", 1, EMU_ENOTFOUND},   /* names need the name pass */
        {ORG1, 0, "ALPHA", 0, EMU_ENOTFOUND},   /* names are case-sensitive */
        {ORG1, 0, "alph", 0, EMU_ENOTFOUND},
        {ORG2, 1, NULL, 0, EMU_ENOTFOUND},      /* another org: not found */
        {ORG2, 0, "alpha", 0, EMU_ENOTFOUND},
        {NULL, 1, NULL, 0, EMU_OK},             /* NULL = any organization */
        {NULL, 0, "alpha", 0, EMU_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        emu_sandbox o;
        int rc = store_sandbox_get(st, cases[i].org,
                                   cases[i].use_id ? id : cases[i].key,
                                   cases[i].by_id_only, &o);
        CU_ASSERT_EQUAL(rc, cases[i].want);
        if (rc != cases[i].want)
            fprintf(stderr, "\n  case %zu: got %d want %d\n", i, rc,
                    cases[i].want);
        if (rc == EMU_OK) {
            CU_ASSERT_STRING_EQUAL(o.id, id);
            sandbox_release(&o);
        }
    }
    sandbox_release(&sb);
    store_close(st);
}

static void test_sandbox_unique_name(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char a[SB_ID_LEN], b[SB_ID_LEN], c[SB_ID_LEN];
    make_id(a, 0xb1, 1);
    make_id(b, 0xb1, 2);
    make_id(c, 0xb1, 3);
    CU_ASSERT_EQUAL(add_sb(st, a, ORG1, "dup", "started", "started"), EMU_OK);
    CU_ASSERT_EQUAL(add_sb(st, b, ORG1, "dup", "started", "started"),
                    EMU_ECONFLICT);
    CU_ASSERT_EQUAL(add_sb(st, b, ORG2, "dup", "started", "started"), EMU_OK);
    /* The id is the primary key across organizations. */
    CU_ASSERT_EQUAL(add_sb(st, a, ORG2, "other", "started", "started"),
                    EMU_ECONFLICT);
    CU_ASSERT_EQUAL(add_sb(st, c, ORG1, "dup2", "started", "started"), EMU_OK);
    CU_ASSERT_EQUAL(store_sandbox_count(st, ORG1), 2);
    CU_ASSERT_EQUAL(store_sandbox_count(st, ORG2), 1);
    CU_ASSERT_EQUAL(store_sandbox_count(st, NULL), 3);
    store_close(st);
}

typedef struct {
    const char *new_name;
    int ret;
    int calls;
} modify_ctx;

static int modify_fn(emu_sandbox *sb, void *arg)
{
    modify_ctx *m = arg;
    m->calls++;
    sandbox_set_str(&sb->name, m->new_name);
    cJSON_Delete(sb->labels);
    sb->labels = cJSON_Parse("{\"changed\":\"yes\"}");
    snprintf(sb->state, sizeof sb->state, "stopped");
    return m->ret;
}

static void test_sandbox_modify(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char a[SB_ID_LEN], b[SB_ID_LEN];
    make_id(a, 0xc1, 1);
    make_id(b, 0xc1, 2);
    CU_ASSERT_EQUAL(add_sb(st, a, ORG1, "orig", "started", "started"), EMU_OK);
    CU_ASSERT_EQUAL(add_sb(st, b, ORG1, "taken", "started", "started"), EMU_OK);
    emu_sandbox before, after, got;
    int fres = -99;

    /* Abort: the record must stay as it was. */
    modify_ctx m = {"aborted", 7, 0};
    sandbox_init(&before);
    sandbox_init(&after);
    CU_ASSERT_EQUAL(store_sandbox_modify(st, ORG1, a, 1, modify_fn, &m, &fres,
                                         &before, &after), EMU_OK);
    CU_ASSERT_EQUAL(fres, 7);
    CU_ASSERT_EQUAL(m.calls, 1);
    CU_ASSERT_PTR_NULL(after.name);   /* not written on abort */
    CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, a, 1, &got), EMU_OK);
    CU_ASSERT_STRING_EQUAL(got.name, "orig");
    CU_ASSERT_STRING_EQUAL(got.state, "started");
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(got.labels, "changed"));
    sandbox_release(&got);

    /* A rename onto a taken name: ECONFLICT and no change. */
    m = (modify_ctx){"taken", 0, 0};
    CU_ASSERT_EQUAL(store_sandbox_modify(st, ORG1, a, 1, modify_fn, &m, &fres,
                                         NULL, NULL), EMU_ECONFLICT);
    CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, "orig", 0, &got), EMU_OK);
    CU_ASSERT_STRING_EQUAL(got.state, "started");
    sandbox_release(&got);

    /* Commit, found by name: before/after carry both versions. */
    m = (modify_ctx){"renamed", 0, 0};
    CU_ASSERT_EQUAL(store_sandbox_modify(st, ORG1, "orig", 0, modify_fn, &m,
                                         &fres, &before, &after), EMU_OK);
    CU_ASSERT_EQUAL(fres, 0);
    CU_ASSERT_STRING_EQUAL(before.name, "orig");
    CU_ASSERT_STRING_EQUAL(before.state, "started");
    CU_ASSERT_STRING_EQUAL(after.name, "renamed");
    CU_ASSERT_STRING_EQUAL(after.state, "stopped");
    sandbox_release(&before);
    sandbox_release(&after);
    CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, a, 1, &got), EMU_OK);
    CU_ASSERT_STRING_EQUAL(got.name, "renamed");
    CU_ASSERT_STRING_EQUAL(got.state, "stopped");
    CU_ASSERT_STRING_EQUAL(
        cJSON_GetStringValue(cJSON_GetObjectItem(got.labels, "changed")), "yes");
    sandbox_release(&got);
    CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, "orig", 0, &got), EMU_ENOTFOUND);

    /* Missing record, or another organization's: fn is never called. */
    m = (modify_ctx){"x", 0, 0};
    CU_ASSERT_EQUAL(store_sandbox_modify(st, ORG1, "missing", 0, modify_fn, &m,
                                         &fres, NULL, NULL), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_sandbox_modify(st, ORG2, a, 0, modify_fn, &m,
                                         &fres, NULL, NULL), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(m.calls, 0);
    store_close(st);
}

/* ---- list ---- */

static void test_list_filters(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    static const struct {
        unsigned tag;
        const char *name, *state, *desired, *labels;
    } rows[] = {
        {0xabc00001, "web-1", "started", "started", "{\"env\":\"prod\",\"team\":\"a\"}"},
        {0xabc00002, "Web-2", "stopped", "stopped", "{\"env\":\"prod\",\"team\":\"b\"}"},
        {0xdef00003, "myweb", "archived", "archived", "{\"env\":\"dev\"}"},
        {0xdef00004, "db", "started", "started", "{}"},
        {0xdef00005, "WEB-3", "stopped", "stopped", "{\"team\":\"a\"}"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char id[SB_ID_LEN];
        emu_sandbox sb;
        make_id(id, rows[i].tag, (unsigned)i);
        make_sb(&sb, id, ORG1, rows[i].name);
        snprintf(sb.state, sizeof sb.state, "%s", rows[i].state);
        snprintf(sb.desired, sizeof sb.desired, "%s", rows[i].desired);
        cJSON_Delete(sb.labels);
        sb.labels = cJSON_Parse(rows[i].labels);
        sb.created_at = 1000 + (int64_t)i;
        CU_ASSERT_EQUAL(store_sandbox_insert(st, &sb), EMU_OK);
        sandbox_release(&sb);
    }
    /* Same labels and names in another organization: never listed. */
    char other[SB_ID_LEN];
    make_id(other, 0xabc00009, 9);
    CU_ASSERT_EQUAL(add_sb(st, other, ORG2, "web-9", "started", "started"),
                    EMU_OK);

    store_list_query q;
    query_init(&q, ORG1);
    CU_ASSERT_EQUAL(list_count(st, &q), 5);

    /* Label containment: every given pair must match. */
    static const struct {
        const char *labels;
        const char *want[5];
        size_t nwant;
    } lcases[] = {
        {"{\"env\":\"prod\"}", {"web-1", "Web-2"}, 2},
        {"{\"env\":\"prod\",\"team\":\"a\"}", {"web-1"}, 1},
        {"{\"team\":\"a\"}", {"web-1", "WEB-3"}, 2},
        {"{\"env\":\"staging\"}", {NULL}, 0},
        {"{\"nokey\":\"prod\"}", {NULL}, 0},
        {"{}", {"web-1", "Web-2", "myweb", "db", "WEB-3"}, 5},
    };
    for (size_t i = 0; i < sizeof lcases / sizeof lcases[0]; i++) {
        cJSON *l = cJSON_Parse(lcases[i].labels);
        query_init(&q, ORG1);
        q.labels = l;
        CU_ASSERT(list_names_are(st, &q, lcases[i].want, lcases[i].nwant));
        cJSON_Delete(l);
    }

    /* Name and id prefixes are case-insensitive. */
    static const struct {
        const char *name_prefix, *id_prefix;
        const char *want[5];
        size_t nwant;
    } pcases[] = {
        {"web", NULL, {"web-1", "Web-2", "WEB-3"}, 3},
        {"WeB-", NULL, {"web-1", "Web-2", "WEB-3"}, 3},
        {"myw", NULL, {"myweb"}, 1},
        {"eb", NULL, {NULL}, 0},                  /* prefix, not substring */
        {NULL, "ABC", {"web-1", "Web-2"}, 2},
        {NULL, "def0000", {"myweb", "db", "WEB-3"}, 3},
        {NULL, "DEF00004-", {"db"}, 1},
        {"web", "def", {"WEB-3"}, 1},
    };
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
        query_init(&q, ORG1);
        q.name_prefix = pcases[i].name_prefix;
        q.id_prefix = pcases[i].id_prefix;
        CU_ASSERT(list_names_are(st, &q, pcases[i].want, pcases[i].nwant));
    }

    /* States filter (stored states, any of). */
    const char *stopped_archived[] = {"stopped", "archived"};
    const char *want_sa[] = {"Web-2", "myweb", "WEB-3"};
    query_init(&q, ORG1);
    q.states = stopped_archived;
    q.nstates = 2;
    CU_ASSERT(list_names_are(st, &q, want_sa, 3));
    const char *started[] = {"started"};
    const char *want_s[] = {"web-1", "db"};
    q.states = started;
    q.nstates = 1;
    CU_ASSERT(list_names_are(st, &q, want_s, 2));

    /* Long filters: 40 label pairs and 100 states are each one bound
     * parameter (SQLite's and our own limits on parameters never apply). */
    {
        char id[SB_ID_LEN], k[16], v[16];
        emu_sandbox sb;
        make_id(id, 0xfee00010, 10);
        make_sb(&sb, id, ORG1, "many-labels");
        for (int i = 0; i < 40; i++) {
            snprintf(k, sizeof k, "k%02d", i);
            snprintf(v, sizeof v, "v%02d", i);
            cJSON_AddStringToObject(sb.labels, k, v);
        }
        CU_ASSERT_EQUAL(store_sandbox_insert(st, &sb), EMU_OK);
        cJSON *want = cJSON_Duplicate(sb.labels, 1);
        sandbox_release(&sb);
        const char *many[] = {"many-labels"};
        query_init(&q, ORG1);
        q.labels = want;
        CU_ASSERT(list_names_are(st, &q, many, 1));
        /* One pair off: no match. */
        cJSON_ReplaceItemInObject(want, "k39", cJSON_CreateString("other"));
        CU_ASSERT(list_names_are(st, &q, NULL, 0));
        cJSON_Delete(want);
        const char *states[100];
        for (int i = 0; i < 100; i++)
            states[i] = i == 99 ? "archived" : "no-such-state";
        const char *want_arch[] = {"myweb"};
        query_init(&q, ORG1);
        q.states = states;
        q.nstates = 100;
        CU_ASSERT(list_names_are(st, &q, want_arch, 1));
    }

    /* An unknown sort key is refused, not guessed. */
    query_init(&q, ORG1);
    q.sort = "bogus";
    emu_sandbox *out = NULL;
    size_t n = 0;
    int more = 0;
    CU_ASSERT_EQUAL(store_sandbox_list(st, &q, &out, &n, &more, NULL),
                    EMU_EINVAL);
    store_close(st);
}

static void test_sort_keys(void)
{
    static const struct {
        const char *key;
        int cursor_ok, paginated_ok, numeric;
    } cases[] = {
        {"name", 1, 1, 0},
        {"cpu", 1, 0, 1},
        {"memoryGib", 1, 0, 1},
        {"diskGib", 1, 0, 1},
        {"lastActivityAt", 1, 1, 1},
        {"createdAt", 1, 1, 1},
        {"id", 0, 1, 0},
        {"state", 0, 1, 0},
        {"snapshot", 0, 1, 0},
        {"region", 0, 1, 0},
        {"updatedAt", 0, 1, 1},
        {"bogus", 0, 0, 0},
        {"", 0, 0, 0},
        {"Name", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL(store_sort_valid(cases[i].key, 0), cases[i].cursor_ok);
        CU_ASSERT_EQUAL(store_sort_valid(cases[i].key, 1), cases[i].paginated_ok);
        CU_ASSERT_EQUAL(store_sort_numeric(cases[i].key), cases[i].numeric);
    }
}

#define NPAGE_ROWS 25

/* Inserts NPAGE_ROWS sandboxes whose createdAt values come in groups of
 * three (ties, so the id tie-break is exercised) and whose names are not in
 * id order. */
static void insert_page_rows(emu_store *st)
{
    for (unsigned i = 0; i < NPAGE_ROWS; i++) {
        char id[SB_ID_LEN], name[32];
        emu_sandbox sb;
        make_id(id, 0x9a9e0000, i);
        snprintf(name, sizeof name, "sb-%02u", (i * 7) % NPAGE_ROWS);
        make_sb(&sb, id, ORG1, name);
        sb.created_at = 5000 + i / 3;
        sb.cpu = 1 + i % 4;
        CU_ASSERT_EQUAL(store_sandbox_insert(st, &sb), EMU_OK);
        sandbox_release(&sb);
    }
}

/* -1, 0 or 1 as row a sorts before, with or after row b (ascending). */
static int cmp_rows(const emu_sandbox *a, const emu_sandbox *b,
                    const char *sort)
{
    const char *ta, *tb;
    double na, nb;
    store_sort_value(a, sort, &ta, &na);
    store_sort_value(b, sort, &tb, &nb);
    int c = ta ? strcmp(ta, tb) : (na < nb ? -1 : na > nb);
    if (c == 0)
        c = strcmp(a->id, b->id);
    return c < 0 ? -1 : c > 0;
}

static void page_through(emu_store *st, const char *sort, int desc)
{
    static const size_t want_sizes[] = {10, 10, 5};
    static const int want_more[] = {1, 1, 0};
    char seen[NPAGE_ROWS][SB_ID_LEN];
    size_t nseen = 0;
    emu_sandbox last;
    sandbox_init(&last);
    store_list_query q;
    for (int page = 0; page < 3; page++) {
        query_init(&q, ORG1);
        q.sort = sort;
        q.desc = desc;
        q.limit = 10;
        if (page > 0) {
            q.has_cursor = 1;
            store_sort_value(&last, sort, &q.cursor_text, &q.cursor_num);
            q.cursor_id = last.id;
        }
        emu_sandbox *rows = NULL;
        size_t n = 0;
        int more = -1;
        CU_ASSERT_EQUAL_FATAL(store_sandbox_list(st, &q, &rows, &n, &more, NULL),
                              EMU_OK);
        CU_ASSERT_EQUAL(n, want_sizes[page]);
        CU_ASSERT_EQUAL(more, want_more[page]);
        for (size_t i = 0; i < n; i++) {
            /* Strictly ordered, across the page boundary too. */
            if (i > 0 || page > 0) {
                const emu_sandbox *prev = i > 0 ? &rows[i - 1] : &last;
                CU_ASSERT_EQUAL(cmp_rows(prev, &rows[i], sort), desc ? 1 : -1);
            }
            for (size_t k = 0; k < nseen; k++)
                CU_ASSERT_STRING_NOT_EQUAL(seen[k], rows[i].id);
            if (nseen < NPAGE_ROWS)
                memcpy(seen[nseen++], rows[i].id, SB_ID_LEN);
        }
        if (n > 0) {
            sandbox_release(&last);
            CU_ASSERT_EQUAL(sandbox_copy(&last, &rows[n - 1]), EMU_OK);
        }
        free_rows(rows, n);
    }
    CU_ASSERT_EQUAL(nseen, NPAGE_ROWS);   /* no gaps */
    sandbox_release(&last);
}

/* Prepared statements are cached by SQL text up to a cap: a label filter of
 * n pairs and a state filter of m states are a different SQL text for each
 * (n, m), so 20 x 4 shapes run more distinct queries than the cache holds;
 * each, and each again with other values bound, must give the right rows. */
static void test_statement_cache(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    enum { NL = 20 };
    static const char *states[] = {"started", "stopped", "archived", "error"};
    emu_sandbox sb;
    char id[SB_ID_LEN], k[16], v[16];
    make_id(id, 0xcace, 1);
    make_sb(&sb, id, ORG1, "cached");
    for (int i = 0; i < NL; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        cJSON_AddStringToObject(sb.labels, k, v);
    }
    CU_ASSERT_EQUAL_FATAL(store_sandbox_insert(st, &sb), EMU_OK);
    sandbox_release(&sb);
    for (int round = 0; round < 2; round++)
        for (int n = 1; n <= NL; n++)
            for (int m = 1; m <= 4; m++) {
                cJSON *l = cJSON_CreateObject();
                for (int i = 0; i < n; i++) {
                    snprintf(k, sizeof k, "k%d", i);
                    /* Round 1 binds a wrong value for the last pair. */
                    snprintf(v, sizeof v, "v%d", round && i == n - 1 ? -1 : i);
                    cJSON_AddStringToObject(l, k, v);
                }
                store_list_query q;
                query_init(&q, ORG1);
                q.labels = l;
                q.states = states;
                q.nstates = m;
                CU_ASSERT_EQUAL(list_count(st, &q), round ? 0 : 1);
                cJSON_Delete(l);
            }
    emu_sandbox got;
    CU_ASSERT_EQUAL(store_sandbox_get(st, ORG1, "cached", 0, &got), EMU_OK);
    sandbox_release(&got);
    store_close(st);
}

static void test_list_cursor_paging(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    insert_page_rows(st);
    static const struct {
        const char *sort;
        int desc;
    } cases[] = {
        {"createdAt", 1}, {"createdAt", 0}, {"name", 0}, {"name", 1},
        {"cpu", 0}, {"cpu", 1}, {"lastActivityAt", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        page_through(st, cases[i].sort, cases[i].desc);
    store_close(st);
}

static void test_list_offset_paging(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    insert_page_rows(st);
    static const struct {
        int64_t offset;
        size_t n;
        int more;
    } cases[] = {{0, 10, 1}, {10, 10, 1}, {20, 5, 0}, {25, 0, 0}, {40, 0, 0}};
    char seen[NPAGE_ROWS][SB_ID_LEN];
    size_t nseen = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        store_list_query q;
        query_init(&q, ORG1);
        q.sort = "createdAt";
        q.desc = 1;
        q.limit = 10;
        q.offset = cases[c].offset;
        emu_sandbox *rows = NULL;
        size_t n = 0;
        int more = -1;
        int64_t total = -1;
        CU_ASSERT_EQUAL_FATAL(store_sandbox_list(st, &q, &rows, &n, &more,
                                                 &total), EMU_OK);
        CU_ASSERT_EQUAL(n, cases[c].n);
        CU_ASSERT_EQUAL(more, cases[c].more);
        CU_ASSERT_EQUAL(total, NPAGE_ROWS);
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < nseen; k++)
                CU_ASSERT_STRING_NOT_EQUAL(seen[k], rows[i].id);
            if (nseen < NPAGE_ROWS)
                memcpy(seen[nseen++], rows[i].id, SB_ID_LEN);
        }
        free_rows(rows, n);
    }
    CU_ASSERT_EQUAL(nseen, NPAGE_ROWS);

    /* The total honours the filters, not the page. */
    store_list_query q;
    query_init(&q, ORG1);
    q.limit = 2;
    q.offset = 0;
    q.name_prefix = "sb-0";
    emu_sandbox *rows = NULL;
    size_t n = 0;
    int more = 0;
    int64_t total = -1;
    CU_ASSERT_EQUAL(store_sandbox_list(st, &q, &rows, &n, &more, &total), EMU_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(total, 10);   /* sb-00 .. sb-09 */
    CU_ASSERT_EQUAL(more, 1);
    free_rows(rows, n);
    store_close(st);
}

static void test_list_destroyed_and_errored(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    static const struct {
        const char *name, *state, *desired;
        int listed;            /* default list */
        int listed_with_ed;    /* include_errored_deleted */
        int gettable;          /* store_sandbox_get finds it */
    } rows[] = {
        {"live", "started", "started", 1, 1, 1},
        {"gone", "destroyed", "destroyed", 0, 0, 0},
        {"destroying", "started", "destroyed", 1, 1, 1},
        {"err-deleted", "error", "destroyed", 0, 1, 1},
        {"bf-deleted", "build_failed", "destroyed", 0, 1, 1},
        {"err-live", "error", "started", 1, 1, 1},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    for (size_t i = 0; i < nrows; i++) {
        char id[SB_ID_LEN];
        make_id(id, 0xdd, (unsigned)i);
        CU_ASSERT_EQUAL(add_sb(st, id, ORG1, rows[i].name, rows[i].state,
                               rows[i].desired), EMU_OK);
    }
    for (int ed = 0; ed < 2; ed++) {
        store_list_query q;
        query_init(&q, ORG1);
        q.include_errored_deleted = ed;
        const char *want[8];
        size_t nwant = 0;
        for (size_t i = 0; i < nrows; i++)
            if (ed ? rows[i].listed_with_ed : rows[i].listed)
                want[nwant++] = rows[i].name;
        CU_ASSERT(list_names_are(st, &q, want, nwant));
    }
    for (size_t i = 0; i < nrows; i++) {
        emu_sandbox o;
        int rc = store_sandbox_get(st, ORG1, rows[i].name, 0, &o);
        CU_ASSERT_EQUAL(rc, rows[i].gettable ? EMU_OK : EMU_ENOTFOUND);
        if (rc == EMU_OK)
            sandbox_release(&o);
    }
    CU_ASSERT_EQUAL(store_sandbox_count(st, ORG1), (int64_t)nrows - 1);
    store_close(st);
}

/* ---- scheduler queries ---- */

typedef struct {
    const char *name, *state, *desired;
    int64_t transition_due;
    int64_t auto_stop, auto_archive, auto_delete;
    int64_t idle_ms;           /* now - last_activity_at */
    int due[4];                /* expected membership per kind */
} due_case;

static void test_sandbox_due(void)
{
    const int64_t now = 10000000000LL;
    static const due_case cases[] = {
        /* kind 0: in-flight transitions */
        {"t-due", "started", "stopped", 1, 15, 10080, -1, 0, {1, 0, 0, 0}},
        {"t-now", "stopped", "started", 10000000000LL, 15, 10080, -1, 0, {1, 0, 0, 0}},
        {"t-later", "stopped", "started", 10000000001LL, 15, 10080, -1, 0, {0, 0, 0, 0}},
        {"t-destroyed", "destroyed", "destroyed", 1, 15, 10080, -1, 0, {0, 0, 0, 0}},
        /* kind 1: auto-stop, strictly more idle than the interval */
        {"idle-16", "started", "started", 0, 15, 10080, -1, 16 * MIN_MS, {0, 1, 0, 0}},
        {"idle-15", "started", "started", 0, 15, 10080, -1, 15 * MIN_MS, {0, 0, 0, 0}},
        {"idle-14", "started", "started", 0, 15, 10080, -1, 14 * MIN_MS, {0, 0, 0, 0}},
        {"no-autostop", "started", "started", 0, 0, 10080, -1, 99999 * MIN_MS, {0, 0, 0, 0}},
        {"stopping", "started", "stopped", 0, 15, 10080, -1, 99 * MIN_MS, {0, 0, 0, 0}},
        /* kind 2: auto-archive of stopped sandboxes */
        {"stopped-61", "stopped", "stopped", 0, 15, 60, -1, 61 * MIN_MS, {0, 0, 1, 0}},
        {"stopped-59", "stopped", "stopped", 0, 15, 60, -1, 59 * MIN_MS, {0, 0, 0, 0}},
        {"archived", "archived", "archived", 0, 15, 60, 0, 999 * MIN_MS, {0, 0, 0, 0}},
        /* kind 3: auto-delete of stopped sandboxes; negative = never */
        {"del-31", "stopped", "stopped", 0, 15, 10080, 30, 31 * MIN_MS, {0, 0, 0, 1}},
        {"del-29", "stopped", "stopped", 0, 15, 10080, 30, 29 * MIN_MS, {0, 0, 0, 0}},
        {"del-never", "stopped", "stopped", 0, 15, 43200, -1, 20 * 1440 * MIN_MS, {0, 0, 0, 0}},
        {"del-zero", "stopped", "stopped", 0, 15, 10080, 0, 1, {0, 0, 0, 1}},
        {"del-pending", "stopped", "stopped", 5 + 10000000000LL, 15, 10080, 0, 60 * MIN_MS, {0, 0, 0, 0}},
    };
    size_t ncases = sizeof cases / sizeof cases[0];
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    for (size_t i = 0; i < ncases; i++) {
        char id[SB_ID_LEN];
        emu_sandbox sb;
        make_id(id, 0xd0e, (unsigned)i);
        make_sb(&sb, id, i % 2 ? ORG1 : ORG2, cases[i].name);
        snprintf(sb.state, sizeof sb.state, "%s", cases[i].state);
        snprintf(sb.desired, sizeof sb.desired, "%s", cases[i].desired);
        sb.transition_due = cases[i].transition_due;
        sb.auto_stop = cases[i].auto_stop;
        sb.auto_archive = cases[i].auto_archive;
        sb.auto_delete = cases[i].auto_delete;
        sb.last_activity_at = now - cases[i].idle_ms;
        CU_ASSERT_EQUAL(store_sandbox_insert(st, &sb), EMU_OK);
        sandbox_release(&sb);
    }
    for (int kind = 0; kind < 4; kind++) {
        char (*ids)[SB_ID_LEN] = NULL, (*orgs)[SB_ID_LEN] = NULL;
        size_t n = 0;
        CU_ASSERT_EQUAL_FATAL(store_sandbox_due(st, kind, now, &ids, &orgs, &n),
                              EMU_OK);
        size_t want = 0;
        for (size_t i = 0; i < ncases; i++) {
            char id[SB_ID_LEN];
            make_id(id, 0xd0e, (unsigned)i);
            int found = 0;
            for (size_t k = 0; k < n; k++) {
                if (strcmp(ids[k], id) == 0) {
                    found = 1;
                    CU_ASSERT_STRING_EQUAL(orgs[k], i % 2 ? ORG1 : ORG2);
                }
            }
            want += (size_t)cases[i].due[kind];
            CU_ASSERT_EQUAL(found, cases[i].due[kind]);
            if (found != cases[i].due[kind])
                fprintf(stderr, "\n  kind %d, %s: due=%d, expected %d\n", kind,
                        cases[i].name, found, cases[i].due[kind]);
        }
        CU_ASSERT_EQUAL(n, want);
        free(ids);
        free(orgs);
    }
    char (*ids)[SB_ID_LEN] = NULL, (*orgs)[SB_ID_LEN] = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(store_sandbox_due(st, 4, now, &ids, &orgs, &n), EMU_EINVAL);
    CU_ASSERT_EQUAL(store_sandbox_due(st, -1, now, &ids, &orgs, &n), EMU_EINVAL);
    store_close(st);
}

/* ---- reset ---- */

static void add_volume(emu_store *st, const char *id, const char *org,
                       const char *name, int want)
{
    emu_volume v;
    memset(&v, 0, sizeof v);
    snprintf(v.id, sizeof v.id, "%s", id);
    snprintf(v.org_id, sizeof v.org_id, "%s", org);
    snprintf(v.name, sizeof v.name, "%s", name);
    snprintf(v.state, sizeof v.state, "ready");
    v.created_at = v.updated_at = 1000;
    CU_ASSERT_EQUAL(store_volume_insert(st, &v), want);
}

static void add_snapshot(emu_store *st, const char *id, const char *org,
                         const char *name, int want)
{
    emu_snapshot s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.org_id, sizeof s.org_id, "%s", org);
    snprintf(s.name, sizeof s.name, "%s", name);
    snprintf(s.image_name, sizeof s.image_name, "img/%s", name);
    snprintf(s.state, sizeof s.state, "active");
    s.cpu = 2;
    s.mem = 4;
    s.disk = 8;
    s.created_at = s.updated_at = 1000;
    CU_ASSERT_EQUAL(store_snapshot_insert(st, &s), want);
}

static int snapshot_visible(emu_store *st, const char *org, const char *key)
{
    emu_snapshot s;
    int rc = store_snapshot_get(st, org, key, &s);
    if (rc == EMU_OK)
        snapshot_release(&s);
    return rc == EMU_OK;
}

static void test_reset(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char id[SB_ID_LEN], sid1[SB_ID_LEN];
    for (unsigned i = 0; i < 5; i++) {
        char name[16];
        make_id(id, 0xe5e7, i);
        snprintf(name, sizeof name, "r%u", i);
        CU_ASSERT_EQUAL(add_sb(st, id, i < 2 ? ORG1 : ORG2, name, "started",
                               "started"), EMU_OK);
        if (i == 0)
            memcpy(sid1, id, sizeof sid1);
    }
    add_snapshot(st, "snap-general", "", "general", EMU_OK);
    add_snapshot(st, "snap-org1", ORG1, "own1", EMU_OK);
    add_snapshot(st, "snap-org2", ORG2, "own2", EMU_OK);
    add_volume(st, "vol-org1", ORG1, "v1", EMU_OK);
    add_volume(st, "vol-org2", ORG2, "v2", EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_add(st, "tok1", sid1, 3000, 1LL << 50),
                    EMU_OK);

    CU_ASSERT_EQUAL(store_reset(st, ORG1), 2);
    CU_ASSERT_EQUAL(store_sandbox_count(st, ORG1), 0);
    CU_ASSERT_EQUAL(store_sandbox_count(st, ORG2), 3);
    CU_ASSERT(!snapshot_visible(st, ORG1, "own1"));
    CU_ASSERT(snapshot_visible(st, ORG1, "general"));
    CU_ASSERT(snapshot_visible(st, ORG2, "own2"));
    emu_volume v;
    CU_ASSERT_EQUAL(store_volume_get(st, ORG1, "v1", 1, &v), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_volume_get(st, ORG2, "v2", 1, &v), EMU_OK);
    char sid[SB_ID_LEN];
    int port = 0;
    CU_ASSERT_EQUAL(store_preview_token_get(st, "tok1", 0, sid, &port),
                    EMU_ENOTFOUND);

    CU_ASSERT_EQUAL(store_reset(st, NULL), 3);
    CU_ASSERT_EQUAL(store_sandbox_count(st, NULL), 0);
    CU_ASSERT(!snapshot_visible(st, ORG2, "own2"));
    CU_ASSERT(snapshot_visible(st, ORG2, "general"));   /* general survives */
    CU_ASSERT_EQUAL(store_volume_get(st, ORG2, "v2", 1, &v), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_reset(st, NULL), 0);
    store_close(st);
}

/* ---- signed preview tokens ---- */

static void test_preview_tokens(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char sid[SB_ID_LEN] = "";
    int port = 0;
    CU_ASSERT_EQUAL(store_preview_token_add(st, "tok-a", "sb-1", 3000, 5000),
                    EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_add(st, "tok-a", "sb-2", 80, 9000),
                    EMU_ECONFLICT);

    /* Valid strictly before its expiry. */
    static const struct {
        const char *token;
        int64_t now;
        int want;
    } cases[] = {
        {"tok-a", 0, EMU_OK},
        {"tok-a", 4999, EMU_OK},
        {"tok-a", 5000, EMU_ENOTFOUND},
        {"tok-a", 6000, EMU_ENOTFOUND},
        {"tok-b", 0, EMU_ENOTFOUND},
        {"", 0, EMU_ENOTFOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = store_preview_token_get(st, cases[i].token, cases[i].now, sid,
                                         &port);
        CU_ASSERT_EQUAL(rc, cases[i].want);
        if (rc == EMU_OK) {
            CU_ASSERT_STRING_EQUAL(sid, "sb-1");
            CU_ASSERT_EQUAL(port, 3000);
        }
    }

    /* Delete only matches the token's own sandbox and port. */
    CU_ASSERT_EQUAL(store_preview_token_delete(st, "tok-a", "sb-1", 3001), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_get(st, "tok-a", 0, sid, &port), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_delete(st, "tok-a", "sb-2", 3000), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_get(st, "tok-a", 0, sid, &port), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_delete(st, "tok-a", "sb-1", 3000), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_get(st, "tok-a", 0, sid, &port),
                    EMU_ENOTFOUND);

    /* Purge removes what has expired at `now`, nothing else. */
    CU_ASSERT_EQUAL(store_preview_token_add(st, "t100", "sb-1", 1, 100), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_add(st, "t150", "sb-1", 1, 150), EMU_OK);
    CU_ASSERT_EQUAL(store_preview_token_add(st, "t200", "sb-1", 1, 200), EMU_OK);
    store_preview_token_purge(st, 150);
    CU_ASSERT_EQUAL(store_preview_token_get(st, "t100", 0, sid, &port), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_preview_token_get(st, "t150", 0, sid, &port), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_preview_token_get(st, "t200", 0, sid, &port), EMU_OK);
    /* A purged token can be issued again. */
    CU_ASSERT_EQUAL(store_preview_token_add(st, "t100", "sb-3", 2, 900), EMU_OK);
    store_close(st);
}

/* ---- snapshots ---- */

static void test_snapshots(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    add_snapshot(st, "id-general", "", "base", EMU_OK);
    add_snapshot(st, "id-custom", ORG1, "custom", EMU_OK);
    add_snapshot(st, "id-own-base", ORG1, "base", EMU_OK);   /* shadows */
    add_snapshot(st, "id-dup", ORG1, "custom", EMU_ECONFLICT);
    add_snapshot(st, "id-custom2", ORG2, "custom", EMU_OK);

    /* Lookup table: {org, key, expected id or NULL}. */
    static const struct {
        const char *org, *key, *want_id;
    } cases[] = {
        {ORG1, "base", "id-own-base"},     /* own before general */
        {ORG2, "base", "id-general"},
        {ORG1, "custom", "id-custom"},
        {ORG2, "custom", "id-custom2"},
        {ORG1, "id-custom", "id-custom"},
        {ORG2, "id-custom", NULL},          /* another org's, by id */
        {ORG2, "id-general", "id-general"},
        {ORG1, "missing", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        emu_snapshot s;
        int rc = store_snapshot_get(st, cases[i].org, cases[i].key, &s);
        CU_ASSERT_EQUAL(rc, cases[i].want_id ? EMU_OK : EMU_ENOTFOUND);
        if (rc == EMU_OK) {
            CU_ASSERT_STRING_EQUAL(s.id, cases[i].want_id);
            snapshot_release(&s);
        }
    }
    emu_snapshot s;
    CU_ASSERT_EQUAL(store_snapshot_get(st, ORG1, "custom", &s), EMU_OK);
    CU_ASSERT_STRING_EQUAL(s.image_name, "img/custom");
    CU_ASSERT_DOUBLE_EQUAL(s.mem, 4, 1e-9);
    CU_ASSERT_PTR_NULL(s.entrypoint_json);
    snapshot_release(&s);

    /* List: own plus general, with a total and paging. */
    emu_snapshot *rows = NULL;
    size_t n = 0;
    int64_t total = 0;
    CU_ASSERT_EQUAL(store_snapshot_list(st, ORG1, 0, 10, &rows, &n, &total), EMU_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(total, 3);
    for (size_t i = 0; i < n; i++)
        snapshot_release(&rows[i]);
    free(rows);
    CU_ASSERT_EQUAL(store_snapshot_list(st, ORG1, 2, 2, &rows, &n, &total), EMU_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(total, 3);
    for (size_t i = 0; i < n; i++)
        snapshot_release(&rows[i]);
    free(rows);

    /* State changes and deletes only touch the org's own snapshots. */
    CU_ASSERT_EQUAL(store_snapshot_set_state(st, ORG1, "id-custom", "inactive"),
                    EMU_OK);
    CU_ASSERT_EQUAL(store_snapshot_get(st, ORG1, "custom", &s), EMU_OK);
    CU_ASSERT_STRING_EQUAL(s.state, "inactive");
    snapshot_release(&s);
    CU_ASSERT_EQUAL(store_snapshot_set_state(st, ORG2, "id-custom", "active"),
                    EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_snapshot_delete(st, ORG1, "id-general"), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_snapshot_delete(st, ORG2, "id-custom"), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_snapshot_delete(st, ORG1, "id-custom"), EMU_OK);
    CU_ASSERT_EQUAL(store_snapshot_delete(st, ORG1, "id-custom"), EMU_ENOTFOUND);
    CU_ASSERT(!snapshot_visible(st, ORG1, "custom"));
    CU_ASSERT(snapshot_visible(st, ORG2, "custom"));

    /* The entrypoint is stored as JSON text. */
    emu_snapshot e;
    memset(&e, 0, sizeof e);
    snprintf(e.id, sizeof e.id, "id-ep");
    snprintf(e.name, sizeof e.name, "with-entrypoint");
    snprintf(e.state, sizeof e.state, "active");
    e.entrypoint_json = strdup("[\"sleep\",\"infinity\"]");
    CU_ASSERT_EQUAL(store_snapshot_insert(st, &e), EMU_OK);
    snapshot_release(&e);
    CU_ASSERT_EQUAL(store_snapshot_get(st, ORG2, "with-entrypoint", &s), EMU_OK);
    CU_ASSERT_STRING_EQUAL(s.entrypoint_json, "[\"sleep\",\"infinity\"]");
    snapshot_release(&s);
    store_close(st);
}

/* ---- volumes ---- */

static int set_destroyed(emu_sandbox *sb, void *ctx)
{
    (void)ctx;
    snprintf(sb->desired, sizeof sb->desired, "destroyed");
    return 0;
}

static void test_volumes(void)
{
    emu_store *st = open_mem();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    add_volume(st, "vol-1", ORG1, "data", EMU_OK);
    add_volume(st, "vol-2", ORG1, "cache", EMU_OK);
    add_volume(st, "vol-3", ORG2, "data", EMU_OK);
    add_volume(st, "vol-4", ORG1, "data", EMU_ECONFLICT);

    static const struct {
        const char *org, *key;
        int by_name;
        const char *want_id;
    } cases[] = {
        {ORG1, "data", 1, "vol-1"},
        {ORG2, "data", 1, "vol-3"},
        {ORG1, "vol-2", 0, "vol-2"},
        {ORG2, "vol-2", 0, NULL},
        {ORG1, "vol-2", 1, NULL},      /* an id is not a name */
        {ORG1, "cache", 0, NULL},      /* a name is not an id */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        emu_volume v;
        int rc = store_volume_get(st, cases[i].org, cases[i].key,
                                  cases[i].by_name, &v);
        CU_ASSERT_EQUAL(rc, cases[i].want_id ? EMU_OK : EMU_ENOTFOUND);
        if (rc == EMU_OK)
            CU_ASSERT_STRING_EQUAL(v.id, cases[i].want_id);
    }
    emu_volume *vols = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(store_volume_list(st, ORG1, &vols, &n), EMU_OK);
    CU_ASSERT_EQUAL(n, 2);
    free(vols);

    /* In use while a sandbox that is not being destroyed mounts it. */
    char id[SB_ID_LEN];
    emu_sandbox sb;
    make_id(id, 0x7017, 1);
    make_sb(&sb, id, ORG1, "mounter");
    cJSON_Delete(sb.volumes);
    sb.volumes = cJSON_Parse("[{\"volumeId\":\"vol-1\",\"mountPath\":\"/data\"}]");
    CU_ASSERT_EQUAL(store_sandbox_insert(st, &sb), EMU_OK);
    sandbox_release(&sb);
    CU_ASSERT_EQUAL(store_volume_in_use(st, ORG1, "vol-1"), 1);
    CU_ASSERT_EQUAL(store_volume_in_use(st, ORG1, "vol-2"), 0);
    CU_ASSERT_EQUAL(store_volume_in_use(st, ORG2, "vol-1"), 0);
    int fres = 0;
    CU_ASSERT_EQUAL(store_sandbox_modify(st, ORG1, id, 1, set_destroyed, NULL,
                                         &fres, NULL, NULL), EMU_OK);
    CU_ASSERT_EQUAL(store_volume_in_use(st, ORG1, "vol-1"), 0);

    CU_ASSERT_EQUAL(store_volume_delete(st, ORG2, "vol-1"), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_volume_delete(st, ORG1, "vol-2"), EMU_OK);
    CU_ASSERT_EQUAL(store_volume_delete(st, ORG1, "vol-2"), EMU_ENOTFOUND);
    CU_ASSERT_EQUAL(store_volume_list(st, ORG1, &vols, &n), EMU_OK);
    CU_ASSERT_EQUAL(n, 1);
    free(vols);
    store_close(st);
}

int main(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"open/close, meta, schema version", test_open_close},
        {"open failure is reported", test_open_failure_reports},
        {"file database reopens with its rows", test_reopen_file_keeps_rows},
        {"a fresh file, then NORMAL sync like a reopened one", test_fresh_file_then_normal_sync},
        {"other schema version refused", test_schema_version_mismatch},
        {"organizations", test_orgs},
        {"sandbox round trip and org scoping", test_sandbox_roundtrip_and_scoping},
        {"unique (org, name)", test_sandbox_unique_name},
        {"modify commit, abort, conflict", test_sandbox_modify},
        {"list filters", test_list_filters},
        {"statement cache past its cap, rebound values", test_statement_cache},
        {"sort keys", test_sort_keys},
        {"list keyset cursor paging", test_list_cursor_paging},
        {"list offset paging and total", test_list_offset_paging},
        {"destroyed and errored-deleted rows", test_list_destroyed_and_errored},
        {"scheduler due queries", test_sandbox_due},
        {"reset one org vs all", test_reset},
        {"signed preview tokens", test_preview_tokens},
        {"snapshots", test_snapshots},
        {"volumes", test_volumes},
    };

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("store", NULL, NULL);
    if (!s)
        goto fail;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            goto fail;
    }
    return cu_run_and_cleanup();

fail:
    CU_cleanup_registry();
    return 1;
}
