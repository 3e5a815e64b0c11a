/*
 * store.c - SQLite persistence; see store.h for the contract.
 *
 * SQL text is only ever assembled from constant fragments; every value is
 * bound with sqlite3_bind_* (never formatted into the statement).
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "buf.h"

/* Prepared statements are kept and reused (reset, not finalized): parsing
 * the SQL was a third of the emulator's CPU on every request (bench 1).
 * Keyed by the SQL text, so the few dynamic list queries are cached too,
 * up to the cap; `busy` lets the same SQL be in use twice.  Only touched
 * with `mu` held, as every statement is. */
#define STMT_CACHE_MAX 64

typedef struct {
    char *sql;
    sqlite3_stmt *s;
    int busy;
} stmt_slot;

struct emu_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    stmt_slot cache[STMT_CACHE_MAX];
    int ncache;
};

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS orgs(id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sandboxes("
    " id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL,"
    " snapshot TEXT, os_user TEXT NOT NULL, env TEXT NOT NULL,"
    " labels TEXT NOT NULL, public INTEGER NOT NULL,"
    " network_block_all INTEGER NOT NULL, network_allow_list TEXT,"
    " domain_allow_list TEXT, target TEXT NOT NULL, cpu REAL NOT NULL,"
    " gpu REAL NOT NULL, memory REAL NOT NULL, disk REAL NOT NULL,"
    " state TEXT NOT NULL, desired_state TEXT NOT NULL, error_reason TEXT,"
    " recoverable INTEGER NOT NULL, backup_state TEXT NOT NULL,"
    " auto_stop INTEGER NOT NULL, auto_archive INTEGER NOT NULL,"
    " auto_delete INTEGER NOT NULL, volumes TEXT NOT NULL, build_info TEXT,"
    " sandbox_class TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, last_activity_at INTEGER NOT NULL,"
    " auth_token TEXT NOT NULL, runner_id TEXT,"
    " transition_due INTEGER NOT NULL DEFAULT 0, transition_fail TEXT,"
    " UNIQUE(org_id, name));"
    "CREATE INDEX IF NOT EXISTS sandboxes_org ON sandboxes(org_id, state);"
    "CREATE INDEX IF NOT EXISTS sandboxes_due ON sandboxes(transition_due);"
    "CREATE TABLE IF NOT EXISTS preview_tokens(token TEXT PRIMARY KEY,"
    " sandbox_id TEXT NOT NULL, port INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS snapshots(id TEXT PRIMARY KEY,"
    " org_id TEXT NOT NULL, name TEXT NOT NULL, image_name TEXT NOT NULL,"
    " state TEXT NOT NULL, cpu REAL NOT NULL, gpu REAL NOT NULL,"
    " mem REAL NOT NULL, disk REAL NOT NULL, entrypoint TEXT,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " last_used_at INTEGER NOT NULL DEFAULT 0, UNIQUE(org_id, name));"
    "CREATE TABLE IF NOT EXISTS volumes(id TEXT PRIMARY KEY,"
    " org_id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " UNIQUE(org_id, name));";

/* ---------- plumbing ---------- */

static int exec_sql(emu_store *st, const char *sql)
{
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* A statement ready to bind and step; give it back with stmt_done. */
static sqlite3_stmt *prep(emu_store *st, const char *sql)
{
    for (int i = 0; i < st->ncache; i++)
        if (!st->cache[i].busy && strcmp(st->cache[i].sql, sql) == 0) {
            st->cache[i].busy = 1;
            return st->cache[i].s;
        }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
                           NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return NULL;
    }
    char *copy = st->ncache < STMT_CACHE_MAX ? strdup(sql) : NULL;
    if (copy)
        st->cache[st->ncache++] = (stmt_slot){copy, s, 1};
    return s;
}

/* Ends a statement's use: a cached one is reset (which also ends its read
 * transaction) and its bindings cleared; any other is finalized. */
static void stmt_done(emu_store *st, sqlite3_stmt *s)
{
    if (!s)
        return;
    for (int i = 0; i < st->ncache; i++)
        if (st->cache[i].s == s) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            st->cache[i].busy = 0;
            return;
        }
    sqlite3_finalize(s);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : NULL;
}

static char *col_dup(sqlite3_stmt *s, int i, int *oom)
{
    const char *t = col_text(s, i);
    if (!t)
        return NULL;
    char *d = strdup(t);
    if (!d)
        *oom = 1;
    return d;
}

static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const char *t = col_text(s, i);
    snprintf(dst, n, "%s", t ? t : "");
}

/* Runs a statement that returns no rows; ends its use. */
static emu_code run_done(emu_store *st, sqlite3_stmt *s)
{
    if (!s)
        return EMU_EDB;
    int rc = sqlite3_step(s);
    stmt_done(st, s);
    if (rc == SQLITE_CONSTRAINT)
        return EMU_ECONFLICT;
    return rc == SQLITE_DONE ? EMU_OK : EMU_EDB;
}

emu_store *store_open(const char *path, char *err, size_t errlen)
{
    emu_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                SQLITE_OPEN_FULLMUTEX;
    struct stat before;
    int fresh = strcmp(path, ":memory:") != 0 && stat(path, &before) != 0 &&
                errno == ENOENT;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    int is_mem = strcmp(path, ":memory:") == 0;
    /* A database file created just now holds nothing to protect: making it
     * (the switch to WAL, the schema) without fsyncs saves most of a fresh
     * start-up (bench 5: each fdatasync is milliseconds on a busy disk).
     * Every acknowledged change comes later, under NORMAL. */
    if (fresh && exec_sql(st, "PRAGMA synchronous=OFF;") != 0) {
        snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    /* WAL + NORMAL: commits survive a killed process (the WAL is written
     * before COMMIT returns); fsync happens at checkpoints. */
    if (!is_mem && exec_sql(st, "PRAGMA journal_mode=WAL;") != 0) {
        snprintf(err, errlen, "cannot enable WAL on %s: %s", path,
                 sqlite3_errmsg(st->db));
        goto fail;
    }
    if (exec_sql(st, "PRAGMA foreign_keys=ON;") ||
        (!fresh && exec_sql(st, "PRAGMA synchronous=NORMAL;")) ||
        exec_sql(st, "BEGIN IMMEDIATE;")) {
        snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    if (exec_sql(st, schema_sql) != 0) {
        snprintf(err, errlen, "cannot create schema in %s: %s", path,
                 sqlite3_errmsg(st->db));
        exec_sql(st, "ROLLBACK;");
        goto fail;
    }
    int64_t ver = 0;
    sqlite3_stmt *s = prep(st, "SELECT value FROM meta WHERE key='schema_version'");
    int have = s && sqlite3_step(s) == SQLITE_ROW;
    if (have)
        ver = sqlite3_column_int64(s, 0);
    stmt_done(st, s);
    if (!have) {
        s = prep(st, "INSERT INTO meta(key,value) VALUES('schema_version',?)");
        if (s)
            sqlite3_bind_int64(s, 1, STORE_SCHEMA_VERSION);
        if (run_done(st, s) != EMU_OK) {
            snprintf(err, errlen, "cannot write schema version");
            exec_sql(st, "ROLLBACK;");
            goto fail;
        }
    } else if (ver != STORE_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database %s has schema version %lld, this daytona-emu "
                 "needs %d: use another --data-dir or remove it",
                 path, (long long)ver, STORE_SCHEMA_VERSION);
        exec_sql(st, "ROLLBACK;");
        goto fail;
    }
    if (exec_sql(st, "COMMIT;") != 0 ||
        (fresh && exec_sql(st, "PRAGMA synchronous=NORMAL;") != 0)) {
        snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    return st;
fail:
    store_close(st);
    return NULL;
}

void store_close(emu_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->ncache; i++) {
        sqlite3_finalize(st->cache[i].s);
        free(st->cache[i].sql);
    }
    sqlite3_close(st->db);   /* NULL-safe; also closes a half-opened handle */
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int store_synchronous(emu_store *st)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "PRAGMA synchronous");
    int v = s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return v;
}

/* ---------- meta & orgs ---------- */

emu_code store_meta_get_int(emu_store *st, const char *key, int64_t *out)
{
    pthread_mutex_lock(&st->mu);
    emu_code rc = EMU_EDB;
    sqlite3_stmt *s = prep(st, "SELECT value FROM meta WHERE key=?");
    if (s) {
        bind_text(s, 1, key);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = EMU_OK;
        } else if (r == SQLITE_DONE) {
            rc = EMU_ENOTFOUND;
        }
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_meta_set_int(emu_store *st, const char *key, int64_t v)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "INSERT INTO meta(key,value) VALUES(?,?) "
                               "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    if (s) {
        bind_text(s, 1, key);
        sqlite3_bind_int64(s, 2, v);
    }
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_org_exists(emu_store *st, const char *org)
{
    pthread_mutex_lock(&st->mu);
    int res = -1;
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM orgs WHERE id=?");
    if (s) {
        bind_text(s, 1, org);
        int r = sqlite3_step(s);
        res = r == SQLITE_ROW ? 1 : (r == SQLITE_DONE ? 0 : -1);
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return res;
}

emu_code store_org_ensure(emu_store *st, const char *org)
{
    if (store_org_exists(st, org) == 1)   /* the common case: no write */
        return EMU_OK;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "INSERT OR IGNORE INTO orgs(id, created_at) "
                               "VALUES(?, strftime('%s','now')*1000)");
    if (s)
        bind_text(s, 1, org);
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

cJSON *store_org_list(emu_store *st)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "SELECT id FROM orgs ORDER BY created_at, id");
    int ok = s != NULL;
    while (ok && sqlite3_step(s) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "id", col_text(s, 0)) ||
            !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            ok = 0;
        }
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    if (!ok) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* ---------- sandboxes: row mapping ---------- */

#define SB_COLS \
    "id, org_id, name, snapshot, os_user, env, labels, public, " \
    "network_block_all, network_allow_list, domain_allow_list, target, cpu, " \
    "gpu, memory, disk, state, desired_state, error_reason, recoverable, " \
    "backup_state, auto_stop, auto_archive, auto_delete, volumes, " \
    "build_info, sandbox_class, created_at, updated_at, last_activity_at, " \
    "auth_token, runner_id, transition_due, transition_fail"
#define SB_NCOLS 34
/* Reads select the row number too: it is the sandbox's stable sequence. */
#define SB_SELECT "SELECT rowid, " SB_COLS

static char *json_text(const cJSON *j, const char *dflt)
{
    if (!j)
        return dflt ? strdup(dflt) : NULL;
    return cJSON_PrintUnformatted(j);
}

/* Binds the record's 34 columns starting at index 1.  -1 on ENOMEM. */
static int bind_sandbox(sqlite3_stmt *s, const emu_sandbox *sb)
{
    char *env = json_text(sb->env, "{}");
    char *labels = json_text(sb->labels, "{}");
    char *vols = json_text(sb->volumes, "[]");
    char *bi = sb->build_info ? json_text(sb->build_info, NULL) : NULL;
    int rc = -1;
    if (!env || !labels || !vols || (sb->build_info && !bi))
        goto cleanup;
    int i = 1;
    bind_text(s, i++, sb->id);
    bind_text(s, i++, sb->org_id);
    bind_text(s, i++, sb->name);
    bind_text(s, i++, sb->snapshot);
    bind_text(s, i++, sb->user ? sb->user : "daytona");
    bind_text(s, i++, env);
    bind_text(s, i++, labels);
    sqlite3_bind_int(s, i++, sb->is_public);
    sqlite3_bind_int(s, i++, sb->network_block_all);
    bind_text(s, i++, sb->network_allow_list);
    bind_text(s, i++, sb->domain_allow_list);
    bind_text(s, i++, sb->target ? sb->target : "us");
    sqlite3_bind_double(s, i++, sb->cpu);
    sqlite3_bind_double(s, i++, sb->gpu);
    sqlite3_bind_double(s, i++, sb->memory);
    sqlite3_bind_double(s, i++, sb->disk);
    bind_text(s, i++, sb->state);
    bind_text(s, i++, sb->desired);
    bind_text(s, i++, sb->error_reason);
    sqlite3_bind_int(s, i++, sb->recoverable);
    bind_text(s, i++, sb->backup_state[0] ? sb->backup_state : "None");
    sqlite3_bind_int64(s, i++, sb->auto_stop);
    sqlite3_bind_int64(s, i++, sb->auto_archive);
    sqlite3_bind_int64(s, i++, sb->auto_delete);
    bind_text(s, i++, vols);
    bind_text(s, i++, bi);
    bind_text(s, i++, sb->sandbox_class[0] ? sb->sandbox_class : "container");
    sqlite3_bind_int64(s, i++, sb->created_at);
    sqlite3_bind_int64(s, i++, sb->updated_at);
    sqlite3_bind_int64(s, i++, sb->last_activity_at);
    bind_text(s, i++, sb->auth_token);
    bind_text(s, i++, sb->runner_id);
    sqlite3_bind_int64(s, i++, sb->transition_due);
    bind_text(s, i++, sb->transition_fail);
    rc = 0;
cleanup:
    free(env);
    free(labels);
    free(vols);
    free(bi);
    return rc;
}

static cJSON *col_json(sqlite3_stmt *s, int i, int *oom)
{
    const char *t = col_text(s, i);
    if (!t)
        return NULL;
    cJSON *j = cJSON_Parse(t);
    if (!j)
        *oom = 1;
    return j;
}

/* Reads the SB_COLS columns of the current row into out (initialized). */
static emu_code read_sandbox(sqlite3_stmt *s, emu_sandbox *out)
{
    int oom = 0, i = 0;
    sandbox_init(out);
    out->seq = sqlite3_column_int64(s, i++);
    col_copy(s, i++, out->id, sizeof out->id);
    col_copy(s, i++, out->org_id, sizeof out->org_id);
    out->name = col_dup(s, i++, &oom);
    out->snapshot = col_dup(s, i++, &oom);
    out->user = col_dup(s, i++, &oom);
    out->env = col_json(s, i++, &oom);
    out->labels = col_json(s, i++, &oom);
    out->is_public = sqlite3_column_int(s, i++);
    out->network_block_all = sqlite3_column_int(s, i++);
    out->network_allow_list = col_dup(s, i++, &oom);
    out->domain_allow_list = col_dup(s, i++, &oom);
    out->target = col_dup(s, i++, &oom);
    out->cpu = sqlite3_column_double(s, i++);
    out->gpu = sqlite3_column_double(s, i++);
    out->memory = sqlite3_column_double(s, i++);
    out->disk = sqlite3_column_double(s, i++);
    col_copy(s, i++, out->state, sizeof out->state);
    col_copy(s, i++, out->desired, sizeof out->desired);
    out->error_reason = col_dup(s, i++, &oom);
    out->recoverable = sqlite3_column_int(s, i++);
    col_copy(s, i++, out->backup_state, sizeof out->backup_state);
    out->auto_stop = sqlite3_column_int64(s, i++);
    out->auto_archive = sqlite3_column_int64(s, i++);
    out->auto_delete = sqlite3_column_int64(s, i++);
    out->volumes = col_json(s, i++, &oom);
    out->build_info = col_json(s, i++, &oom);
    col_copy(s, i++, out->sandbox_class, sizeof out->sandbox_class);
    out->created_at = sqlite3_column_int64(s, i++);
    out->updated_at = sqlite3_column_int64(s, i++);
    out->last_activity_at = sqlite3_column_int64(s, i++);
    col_copy(s, i++, out->auth_token, sizeof out->auth_token);
    out->runner_id = col_dup(s, i++, &oom);
    out->transition_due = sqlite3_column_int64(s, i++);
    out->transition_fail = col_dup(s, i++, &oom);
    if (oom) {
        sandbox_release(out);
        return EMU_ENOMEM;
    }
    return EMU_OK;
}

emu_code store_sandbox_insert(emu_store *st, emu_sandbox *sb)
{
    pthread_mutex_lock(&st->mu);
    emu_code rc = EMU_EDB;
    sqlite3_stmt *s = prep(st, "INSERT INTO sandboxes(" SB_COLS ") VALUES("
                               "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                               "?,?,?,?,?,?,?,?,?,?,?,?)");
    if (s && bind_sandbox(s, sb) != 0) {
        stmt_done(st, s);
        rc = EMU_ENOMEM;
    } else {
        rc = run_done(st, s);
        if (rc == EMU_OK)
            sb->seq = sqlite3_last_insert_rowid(st->db);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Lookup with the mutex held. */
static emu_code get_locked(emu_store *st, const char *org, const char *key,
                           int by_id_only, emu_sandbox *out)
{
    static const char *const q[2][2] = {
        {SB_SELECT " FROM sandboxes WHERE id=? AND state!='destroyed'",
         SB_SELECT " FROM sandboxes WHERE id=? AND state!='destroyed' "
         "AND org_id=?"},
        {SB_SELECT " FROM sandboxes WHERE name=? AND state!='destroyed'",
         SB_SELECT " FROM sandboxes WHERE name=? AND state!='destroyed' "
         "AND org_id=?"},
    };
    for (int pass = 0; pass < (by_id_only ? 1 : 2); pass++) {
        sqlite3_stmt *s = prep(st, q[pass][org ? 1 : 0]);
        if (!s)
            return EMU_EDB;
        bind_text(s, 1, key);
        if (org)
            bind_text(s, 2, org);
        int r = sqlite3_step(s);
        emu_code rc = EMU_ENOTFOUND;
        if (r == SQLITE_ROW)
            rc = read_sandbox(s, out);
        else if (r != SQLITE_DONE)
            rc = EMU_EDB;
        stmt_done(st, s);
        if (rc != EMU_ENOTFOUND)
            return rc;
    }
    return EMU_ENOTFOUND;
}

emu_code store_sandbox_get(emu_store *st, const char *org,
                           const char *id_or_name, int by_id_only,
                           emu_sandbox *out)
{
    pthread_mutex_lock(&st->mu);
    emu_code rc = get_locked(st, org, id_or_name, by_id_only, out);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static emu_code update_locked(emu_store *st, const emu_sandbox *sb)
{
    /* Rewrites every column; the id (first bound value) is rebound last
     * for the WHERE clause. */
    sqlite3_stmt *s = prep(st,
        "UPDATE sandboxes SET (" SB_COLS ") = (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
        "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) WHERE id=?");
    if (!s)
        return EMU_EDB;
    if (bind_sandbox(s, sb) != 0) {
        stmt_done(st, s);
        return EMU_ENOMEM;
    }
    bind_text(s, SB_NCOLS + 1, sb->id);
    return run_done(st, s);
}

emu_code store_sandbox_modify(emu_store *st, const char *org,
                              const char *id_or_name, int by_id_only,
                              store_modify_fn fn, void *ctx, int *fn_result,
                              emu_sandbox *before, emu_sandbox *after)
{
    emu_sandbox cur, orig;
    sandbox_init(&cur);
    sandbox_init(&orig);
    *fn_result = 0;
    pthread_mutex_lock(&st->mu);
    emu_code rc = EMU_EDB;
    int in_tx = 0;
    if (exec_sql(st, "BEGIN IMMEDIATE;") != 0)
        goto cleanup;
    in_tx = 1;
    rc = get_locked(st, org, id_or_name, by_id_only, &cur);
    if (rc != EMU_OK)
        goto cleanup;
    if (before && sandbox_copy(&orig, &cur) != EMU_OK) {
        rc = EMU_ENOMEM;
        goto cleanup;
    }
    *fn_result = fn(&cur, ctx);
    if (*fn_result != 0) {
        rc = EMU_OK;
        goto cleanup;
    }
    rc = update_locked(st, &cur);
    if (rc != EMU_OK)
        goto cleanup;
    if (exec_sql(st, "COMMIT;") != 0) {
        rc = EMU_EDB;
        goto cleanup;
    }
    in_tx = 0;
    if (after) {
        *after = cur;
        sandbox_init(&cur);
    }
    if (before) {
        *before = orig;
        sandbox_init(&orig);
    }
cleanup:
    if (in_tx)
        exec_sql(st, "ROLLBACK;");
    pthread_mutex_unlock(&st->mu);
    sandbox_release(&cur);
    sandbox_release(&orig);
    return rc;
}

/* ---------- list ---------- */

static const struct {
    const char *key;
    const char *col;
    int numeric;
    int cursor_ok;     /* allowed for GET /sandbox */
    int paginated_ok;  /* allowed for GET /sandbox/paginated */
} sorts[] = {
    {"name", "name", 0, 1, 1},
    {"cpu", "cpu", 1, 1, 0},
    {"memoryGib", "memory", 1, 1, 0},
    {"diskGib", "disk", 1, 1, 0},
    {"lastActivityAt", "last_activity_at", 1, 1, 1},
    {"createdAt", "created_at", 1, 1, 1},
    {"id", "id", 0, 0, 1},
    {"state", "state", 0, 0, 1},
    {"snapshot", "snapshot", 0, 0, 1},
    {"region", "target", 0, 0, 1},
    {"updatedAt", "updated_at", 1, 0, 1},
};

static int sort_index(const char *key)
{
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (strcmp(sorts[i].key, key) == 0)
            return (int)i;
    return -1;
}

int store_sort_valid(const char *sort, int paginated)
{
    int i = sort_index(sort);
    return i >= 0 && (paginated ? sorts[i].paginated_ok : sorts[i].cursor_ok);
}

int store_sort_numeric(const char *sort)
{
    int i = sort_index(sort);
    return i >= 0 && sorts[i].numeric;
}

void store_sort_value(const emu_sandbox *sb, const char *sort,
                      const char **text, double *num)
{
    *text = NULL;
    *num = 0;
    switch (sort_index(sort)) {
    case 0: *text = sb->name; break;
    case 1: *num = sb->cpu; break;
    case 2: *num = sb->memory; break;
    case 3: *num = sb->disk; break;
    case 4: *num = (double)sb->last_activity_at; break;
    case 5: *num = (double)sb->created_at; break;
    case 6: *text = sb->id; break;
    case 7: *text = sb->state; break;
    case 8: *text = sb->snapshot; break;
    case 9: *text = sb->target; break;
    case 10: *num = (double)sb->updated_at; break;
    default: break;
    }
}

/* A list of values bound in order after the SQL text is complete. */
typedef struct {
    int type[64];          /* 't' text, 'd' double, 'i' int64 */
    const char *t[64];
    double d[64];
    int64_t i[64];
    int n;
    int overflow;
    char *own[8];          /* JSON texts bound above, freed by binds_release */
    int nown;
} binds;

static void binds_release(binds *b)
{
    for (int k = 0; k < b->nown; k++)
        free(b->own[k]);
    b->nown = 0;
}

static void bt(binds *b, const char *v)
{
    if (b->n >= 64) { b->overflow = 1; return; }
    b->type[b->n] = 't';
    b->t[b->n++] = v;
}
static void bd(binds *b, double v)
{
    if (b->n >= 64) { b->overflow = 1; return; }
    b->type[b->n] = 'd';
    b->d[b->n++] = v;
}
static void bi64(binds *b, int64_t v)
{
    if (b->n >= 64) { b->overflow = 1; return; }
    b->type[b->n] = 'i';
    b->i[b->n++] = v;
}

static void bind_all(sqlite3_stmt *s, const binds *b)
{
    for (int k = 0; k < b->n; k++) {
        if (b->type[k] == 't')
            bind_text(s, k + 1, b->t[k]);
        else if (b->type[k] == 'd')
            sqlite3_bind_double(s, k + 1, b->d[k]);
        else
            sqlite3_bind_int64(s, k + 1, b->i[k]);
    }
}

/* Binds a JSON text the binds own (NULL = out of memory). */
static void bt_json(binds *b, cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text || b->nown >= (int)(sizeof b->own / sizeof b->own[0])) {
        free(text);
        b->overflow = 1;
        return;
    }
    b->own[b->nown++] = text;
    bt(b, text);
}

/* One parameter for the whole list (a JSON array read back with
 * json_each): any number of values, no limit on bound parameters. */
static void add_in_list(buf *sql, binds *b, const char *col,
                        const char **vals, int n)
{
    if (n <= 0)
        return;
    cJSON *arr = cJSON_CreateArray();
    for (int k = 0; arr && k < n; k++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(vals[k]))) {
            cJSON_Delete(arr);
            arr = NULL;
        }
    buf_adds(sql, " AND ");
    buf_adds(sql, col);
    buf_adds(sql, " IN (SELECT value FROM json_each(?))");
    bt_json(b, arr);
}

static void add_range(buf *sql, binds *b, const char *col, double lo,
                      double hi)
{
    if (lo >= 0) {
        buf_adds(sql, " AND ");
        buf_adds(sql, col);
        buf_adds(sql, " >= ?");
        bd(b, lo);
    }
    if (hi >= 0) {
        buf_adds(sql, " AND ");
        buf_adds(sql, col);
        buf_adds(sql, " <= ?");
        bd(b, hi);
    }
}

/* The WHERE clause shared by the count and the page queries. */
static void build_where(buf *sql, binds *b, const store_list_query *q)
{
    buf_adds(sql, " WHERE org_id = ? AND state != 'destroyed'");
    bt(b, q->org);
    if (!q->include_errored_deleted)
        buf_adds(sql, " AND NOT (state IN ('error','build_failed') AND "
                      "desired_state = 'destroyed')");
    if (q->id_prefix) {
        buf_adds(sql, " AND substr(lower(id), 1, length(?)) = lower(?)");
        bt(b, q->id_prefix);
        bt(b, q->id_prefix);
    }
    if (q->name_prefix) {
        buf_adds(sql, " AND substr(lower(name), 1, length(?)) = lower(?)");
        bt(b, q->name_prefix);
        bt(b, q->name_prefix);
    }
    /* Every wanted pair present: one parameter, the pairs as a JSON
     * object, however many there are. */
    const cJSON *l;
    cJSON *want = NULL;
    cJSON_ArrayForEach(l, q->labels) {
        if (!cJSON_IsString(l))
            continue;   /* the handler rejects non-string values */
        if (!want && !(want = cJSON_CreateObject())) {
            b->overflow = 1;    /* out of memory: the query fails */
            break;
        }
        if (!cJSON_AddStringToObject(want, l->string, l->valuestring))
            b->overflow = 1;
    }
    if (want) {
        buf_adds(sql, " AND NOT EXISTS (SELECT 1 FROM json_each(?) AS w"
                      " WHERE NOT EXISTS (SELECT 1 FROM"
                      " json_each(sandboxes.labels) AS h"
                      " WHERE h.key = w.key AND h.value = w.value))");
        bt_json(b, want);
    }
    add_in_list(sql, b, "state", q->states, q->nstates);
    add_in_list(sql, b, "snapshot", q->snapshots, q->nsnapshots);
    add_in_list(sql, b, "target", q->targets, q->ntargets);
    if (q->public_filter >= 0) {
        buf_adds(sql, " AND public = ?");
        bi64(b, q->public_filter);
    }
    if (q->recoverable_filter >= 0) {
        buf_adds(sql, " AND recoverable = ?");
        bi64(b, q->recoverable_filter);
    }
    add_range(sql, b, "cpu", q->min_cpu, q->max_cpu);
    add_range(sql, b, "memory", q->min_mem, q->max_mem);
    add_range(sql, b, "disk", q->min_disk, q->max_disk);
    if (q->created_after) { buf_adds(sql, " AND created_at > ?"); bi64(b, q->created_after); }
    if (q->created_before) { buf_adds(sql, " AND created_at < ?"); bi64(b, q->created_before); }
    if (q->activity_after) { buf_adds(sql, " AND last_activity_at > ?"); bi64(b, q->activity_after); }
    if (q->activity_before) { buf_adds(sql, " AND last_activity_at < ?"); bi64(b, q->activity_before); }
}

static emu_code count_locked(emu_store *st, const store_list_query *q,
                             int64_t *total)
{
    buf sql;
    binds b;
    memset(&b, 0, sizeof b);
    buf_init(&sql, 8192);
    buf_adds(&sql, "SELECT count(*) FROM sandboxes");
    build_where(&sql, &b, q);
    emu_code rc = EMU_EDB;
    sqlite3_stmt *s = (sql.len && !b.overflow) ? prep(st, buf_str(&sql)) : NULL;
    if (s) {
        bind_all(s, &b);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *total = sqlite3_column_int64(s, 0);
            rc = EMU_OK;
        }
    }
    stmt_done(st, s);
    buf_release(&sql);
    binds_release(&b);
    return rc;
}

emu_code store_sandbox_list(emu_store *st, const store_list_query *q,
                            emu_sandbox **out, size_t *n, int *has_more,
                            int64_t *total)
{
    int si = sort_index(q->sort ? q->sort : "lastActivityAt");
    if (si < 0)
        return EMU_EINVAL;
    const char *col = sorts[si].col;
    const char *dir = q->desc ? " DESC" : " ASC";
    buf sql;
    binds b;
    memset(&b, 0, sizeof b);
    buf_init(&sql, 8192);
    buf_adds(&sql, SB_SELECT " FROM sandboxes");
    build_where(&sql, &b, q);
    if (q->has_cursor) {
        /* Keyset paging: rows strictly after (sortValue, id) in the sort
         * direction; ties are broken by id in the same direction. */
        const char *op = q->desc ? " < " : " > ";
        buf_adds(&sql, " AND (");
        buf_adds(&sql, col);
        buf_adds(&sql, op);
        buf_adds(&sql, "? OR (");
        buf_adds(&sql, col);
        buf_adds(&sql, " = ? AND id");
        buf_adds(&sql, op);
        buf_adds(&sql, "?))");
        for (int k = 0; k < 2; k++) {
            if (sorts[si].numeric)
                bd(&b, q->cursor_num);
            else
                bt(&b, q->cursor_text ? q->cursor_text : "");
        }
        bt(&b, q->cursor_id);
    }
    buf_adds(&sql, " ORDER BY ");
    buf_adds(&sql, col);
    buf_adds(&sql, " IS NULL, ");
    buf_adds(&sql, col);
    buf_adds(&sql, dir);
    buf_adds(&sql, ", id");
    buf_adds(&sql, dir);
    buf_adds(&sql, " LIMIT ?");
    bi64(&b, (int64_t)q->limit + 1);
    if (q->offset >= 0) {
        buf_adds(&sql, " OFFSET ?");
        bi64(&b, q->offset);
    }

    emu_sandbox *rows = NULL;
    size_t cnt = 0;
    emu_code rc = EMU_EDB;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = (!b.overflow) ? prep(st, buf_str(&sql)) : NULL;
    if (!s)
        goto cleanup;
    bind_all(s, &b);
    rows = calloc((size_t)q->limit + 1, sizeof *rows);
    if (!rows) {
        rc = EMU_ENOMEM;
        goto cleanup;
    }
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW && cnt < (size_t)q->limit + 1) {
        rc = read_sandbox(s, &rows[cnt]);
        if (rc != EMU_OK)
            goto cleanup;
        cnt++;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        rc = EMU_EDB;
        goto cleanup;
    }
    rc = total ? count_locked(st, q, total) : EMU_OK;
cleanup:
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    buf_release(&sql);
    binds_release(&b);
    if (rc != EMU_OK) {
        for (size_t k = 0; k < cnt; k++)
            sandbox_release(&rows[k]);
        free(rows);
        return rc;
    }
    *has_more = cnt > (size_t)q->limit;
    if (*has_more)
        sandbox_release(&rows[--cnt]);
    *out = rows;
    *n = cnt;
    return EMU_OK;
}

emu_code store_sandbox_due(emu_store *st, int kind, int64_t now,
                           char (**ids)[SB_ID_LEN], char (**orgs)[SB_ID_LEN],
                           size_t *n)
{
    static const char *const q[] = {
        /* 0: in-flight transitions whose time has come */
        "SELECT id, org_id FROM sandboxes WHERE transition_due > 0 AND "
        "transition_due <= ?1 AND state != 'destroyed' LIMIT 1000",
        /* 1: auto-stop, measured from the last activity */
        "SELECT id, org_id FROM sandboxes WHERE state='started' AND "
        "desired_state='started' AND transition_due=0 AND auto_stop != 0 AND "
        "last_activity_at < ?1 - auto_stop*60000 LIMIT 1000",
        /* 2: auto-archive (stopped long enough) */
        "SELECT id, org_id FROM sandboxes WHERE state='stopped' AND "
        "desired_state='stopped' AND transition_due=0 AND "
        "last_activity_at < ?1 - auto_archive*60000 LIMIT 1000",
        /* 3: auto-delete (stopped long enough; negative = never) */
        "SELECT id, org_id FROM sandboxes WHERE state='stopped' AND "
        "desired_state='stopped' AND transition_due=0 AND auto_delete >= 0 "
        "AND last_activity_at < ?1 - auto_delete*60000 LIMIT 1000",
    };
    if (kind < 0 || kind > 3)
        return EMU_EINVAL;
    *ids = NULL;
    *orgs = NULL;
    *n = 0;
    char (*ia)[SB_ID_LEN] = NULL, (*oa)[SB_ID_LEN] = NULL;
    size_t cnt = 0, cap = 0;
    emu_code rc = EMU_EDB;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, q[kind]);
    if (!s)
        goto cleanup;
    sqlite3_bind_int64(s, 1, now);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            void *ni = realloc(ia, nc * SB_ID_LEN);
            if (!ni) { rc = EMU_ENOMEM; goto cleanup; }
            ia = ni;
            void *no = realloc(oa, nc * SB_ID_LEN);
            if (!no) { rc = EMU_ENOMEM; goto cleanup; }
            oa = no;
            cap = nc;
        }
        col_copy(s, 0, ia[cnt], SB_ID_LEN);
        col_copy(s, 1, oa[cnt], SB_ID_LEN);
        cnt++;
    }
    rc = r == SQLITE_DONE ? EMU_OK : EMU_EDB;
cleanup:
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    if (rc != EMU_OK) {
        free(ia);
        free(oa);
        return rc;
    }
    *ids = ia;
    *orgs = oa;
    *n = cnt;
    return EMU_OK;
}

int64_t store_next_event(emu_store *st, int64_t from)
{
    pthread_mutex_lock(&st->mu);
    int64_t ev = 0;
    sqlite3_stmt *s = prep(st,
        "SELECT min(t) FROM ("
        " SELECT last_activity_at + auto_stop*60000 AS t FROM sandboxes"
        "  WHERE state='started' AND desired_state='started' AND"
        "  transition_due=0 AND auto_stop != 0"
        " UNION ALL SELECT last_activity_at + auto_delete*60000 FROM sandboxes"
        "  WHERE state='stopped' AND desired_state='stopped' AND"
        "  transition_due=0 AND auto_delete >= 0"
        " UNION ALL SELECT last_activity_at + auto_archive*60000 FROM sandboxes"
        "  WHERE state='stopped' AND desired_state='stopped' AND transition_due=0"
        " UNION ALL SELECT transition_due FROM sandboxes"
        "  WHERE transition_due > 0 AND state != 'destroyed'"
        ") WHERE t >= ?");
    if (s) {
        sqlite3_bind_int64(s, 1, from);
        if (sqlite3_step(s) == SQLITE_ROW)
            ev = sqlite3_column_int64(s, 0);
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return ev;
}

int64_t store_next_due(emu_store *st)
{
    pthread_mutex_lock(&st->mu);
    int64_t due = 0;
    sqlite3_stmt *s = prep(st, "SELECT min(transition_due) FROM sandboxes "
                               "WHERE transition_due > 0 AND state != 'destroyed'");
    if (s && sqlite3_step(s) == SQLITE_ROW)
        due = sqlite3_column_int64(s, 0);
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return due;
}

emu_code store_sandbox_purge(emu_store *st, const char *id)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "DELETE FROM sandboxes WHERE id = ?");
    if (s)
        bind_text(s, 1, id);
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int64_t store_sandbox_count(emu_store *st, const char *org)
{
    pthread_mutex_lock(&st->mu);
    int64_t res = -1;
    sqlite3_stmt *s = prep(st, org ? "SELECT count(*) FROM sandboxes WHERE "
                                     "state != 'destroyed' AND org_id = ?"
                                   : "SELECT count(*) FROM sandboxes WHERE "
                                     "state != 'destroyed'");
    if (s) {
        if (org)
            bind_text(s, 1, org);
        if (sqlite3_step(s) == SQLITE_ROW)
            res = sqlite3_column_int64(s, 0);
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return res;
}

int64_t store_reset(emu_store *st, const char *org)
{
    static const char *const all[] = {
        "DELETE FROM preview_tokens",
        "DELETE FROM sandboxes",
        "DELETE FROM snapshots WHERE org_id != ''",
        "DELETE FROM volumes",
    };
    static const char *const one[] = {
        ("DELETE FROM preview_tokens WHERE sandbox_id IN "
         "(SELECT id FROM sandboxes WHERE org_id = ?)"),
        "DELETE FROM sandboxes WHERE org_id = ?",
        "DELETE FROM snapshots WHERE org_id = ?",
        "DELETE FROM volumes WHERE org_id = ?",
    };
    int64_t removed = -1;
    pthread_mutex_lock(&st->mu);
    if (exec_sql(st, "BEGIN IMMEDIATE;") != 0)
        goto cleanup;
    for (size_t k = 0; k < 4; k++) {
        sqlite3_stmt *s = prep(st, org ? one[k] : all[k]);
        if (s && org)
            bind_text(s, 1, org);
        if (run_done(st, s) != EMU_OK) {
            exec_sql(st, "ROLLBACK;");
            goto cleanup;
        }
        if (k == 1)
            removed = sqlite3_changes(st->db);
    }
    if (exec_sql(st, "COMMIT;") != 0) {
        exec_sql(st, "ROLLBACK;");
        removed = -1;
    }
cleanup:
    pthread_mutex_unlock(&st->mu);
    return removed;
}

/* ---------- preview tokens ---------- */

emu_code store_preview_token_add(emu_store *st, const char *token,
                                 const char *sandbox_id, int port,
                                 int64_t expires_at)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "INSERT INTO preview_tokens(token, sandbox_id,"
                               " port, expires_at) VALUES(?,?,?,?)");
    if (s) {
        bind_text(s, 1, token);
        bind_text(s, 2, sandbox_id);
        sqlite3_bind_int(s, 3, port);
        sqlite3_bind_int64(s, 4, expires_at);
    }
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_preview_token_get(emu_store *st, const char *token,
                                 int64_t now, char sandbox_id[SB_ID_LEN],
                                 int *port)
{
    pthread_mutex_lock(&st->mu);
    emu_code rc = EMU_EDB;
    sqlite3_stmt *s = prep(st, "SELECT sandbox_id, port FROM preview_tokens "
                               "WHERE token = ? AND expires_at > ?");
    if (s) {
        bind_text(s, 1, token);
        sqlite3_bind_int64(s, 2, now);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            col_copy(s, 0, sandbox_id, SB_ID_LEN);
            *port = sqlite3_column_int(s, 1);
            rc = EMU_OK;
        } else if (r == SQLITE_DONE) {
            rc = EMU_ENOTFOUND;
        }
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_preview_token_delete(emu_store *st, const char *token,
                                    const char *sandbox_id, int port)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "DELETE FROM preview_tokens WHERE token = ? "
                               "AND sandbox_id = ? AND port = ?");
    if (s) {
        bind_text(s, 1, token);
        bind_text(s, 2, sandbox_id);
        sqlite3_bind_int(s, 3, port);
    }
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void store_preview_token_purge(emu_store *st, int64_t now)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "DELETE FROM preview_tokens WHERE expires_at <= ?");
    if (s)
        sqlite3_bind_int64(s, 1, now);
    run_done(st, s);
    pthread_mutex_unlock(&st->mu);
}

/* ---------- snapshots ---------- */

#define SNAP_COLS "id, org_id, name, image_name, state, cpu, gpu, mem, disk, " \
                  "entrypoint, created_at, updated_at, last_used_at"

void snapshot_release(emu_snapshot *s)
{
    free(s->entrypoint_json);
    s->entrypoint_json = NULL;
}

static emu_code read_snapshot(sqlite3_stmt *s, emu_snapshot *o)
{
    int oom = 0;
    memset(o, 0, sizeof *o);
    col_copy(s, 0, o->id, sizeof o->id);
    col_copy(s, 1, o->org_id, sizeof o->org_id);
    col_copy(s, 2, o->name, sizeof o->name);
    col_copy(s, 3, o->image_name, sizeof o->image_name);
    col_copy(s, 4, o->state, sizeof o->state);
    o->cpu = sqlite3_column_double(s, 5);
    o->gpu = sqlite3_column_double(s, 6);
    o->mem = sqlite3_column_double(s, 7);
    o->disk = sqlite3_column_double(s, 8);
    o->entrypoint_json = col_dup(s, 9, &oom);
    o->created_at = sqlite3_column_int64(s, 10);
    o->updated_at = sqlite3_column_int64(s, 11);
    o->last_used_at = sqlite3_column_int64(s, 12);
    return oom ? EMU_ENOMEM : EMU_OK;
}

emu_code store_snapshot_insert(emu_store *st, const emu_snapshot *o)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "INSERT INTO snapshots(" SNAP_COLS ") "
                               "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (s) {
        bind_text(s, 1, o->id);
        bind_text(s, 2, o->org_id);
        bind_text(s, 3, o->name);
        bind_text(s, 4, o->image_name);
        bind_text(s, 5, o->state);
        sqlite3_bind_double(s, 6, o->cpu);
        sqlite3_bind_double(s, 7, o->gpu);
        sqlite3_bind_double(s, 8, o->mem);
        sqlite3_bind_double(s, 9, o->disk);
        bind_text(s, 10, o->entrypoint_json);
        sqlite3_bind_int64(s, 11, o->created_at);
        sqlite3_bind_int64(s, 12, o->updated_at);
        sqlite3_bind_int64(s, 13, o->last_used_at);
    }
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_snapshot_get(emu_store *st, const char *org,
                            const char *key, emu_snapshot *out)
{
    /* Own snapshots before general ones, ids before names. */
    static const char *const q[] = {
        "SELECT " SNAP_COLS " FROM snapshots WHERE id = ? AND "
        "(org_id = ? OR org_id = '')",
        "SELECT " SNAP_COLS " FROM snapshots WHERE name = ? AND "
        "(org_id = ? OR org_id = '') ORDER BY org_id = '' LIMIT 1",
    };
    emu_code rc = EMU_ENOTFOUND;
    pthread_mutex_lock(&st->mu);
    for (int k = 0; k < 2 && rc == EMU_ENOTFOUND; k++) {
        sqlite3_stmt *s = prep(st, q[k]);
        if (!s) {
            rc = EMU_EDB;
            break;
        }
        bind_text(s, 1, key);
        bind_text(s, 2, org);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            rc = read_snapshot(s, out);
        else if (r != SQLITE_DONE)
            rc = EMU_EDB;
        stmt_done(st, s);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_snapshot_list(emu_store *st, const char *org, int64_t offset,
                             int limit, emu_snapshot **out, size_t *n,
                             int64_t *total)
{
    emu_snapshot *rows = NULL;
    size_t cnt = 0;
    emu_code rc = EMU_EDB;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *c = prep(st, "SELECT count(*) FROM snapshots WHERE "
                               "org_id = ? OR org_id = ''");
    sqlite3_stmt *s = prep(st, "SELECT " SNAP_COLS " FROM snapshots WHERE "
                               "org_id = ? OR org_id = '' ORDER BY "
                               "created_at DESC, id LIMIT ? OFFSET ?");
    if (!c || !s)
        goto cleanup;
    bind_text(c, 1, org);
    if (sqlite3_step(c) != SQLITE_ROW)
        goto cleanup;
    *total = sqlite3_column_int64(c, 0);
    bind_text(s, 1, org);
    sqlite3_bind_int(s, 2, limit);
    sqlite3_bind_int64(s, 3, offset);
    rows = calloc((size_t)limit + 1, sizeof *rows);
    if (!rows) {
        rc = EMU_ENOMEM;
        goto cleanup;
    }
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW && cnt < (size_t)limit) {
        rc = read_snapshot(s, &rows[cnt++]);
        if (rc != EMU_OK)
            goto cleanup;
    }
    rc = EMU_OK;
cleanup:
    stmt_done(st, c);
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    if (rc != EMU_OK) {
        for (size_t k = 0; k < cnt; k++)
            snapshot_release(&rows[k]);
        free(rows);
        return rc;
    }
    *out = rows;
    *n = cnt;
    return EMU_OK;
}

static emu_code exec_org_id(emu_store *st, const char *sql, const char *a,
                            const char *org, const char *id)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, sql);
    int i = 1;
    if (s) {
        if (a)
            bind_text(s, i++, a);
        bind_text(s, i++, org);
        bind_text(s, i++, id);
    }
    emu_code rc = run_done(st, s);
    if (rc == EMU_OK && sqlite3_changes(st->db) == 0)
        rc = EMU_ENOTFOUND;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_snapshot_delete(emu_store *st, const char *org, const char *id)
{
    return exec_org_id(st, "DELETE FROM snapshots WHERE org_id = ? AND id = ?",
                       NULL, org, id);
}

emu_code store_snapshot_set_state(emu_store *st, const char *org,
                                  const char *id, const char *state)
{
    return exec_org_id(st, "UPDATE snapshots SET state = ? WHERE org_id = ? "
                           "AND id = ?", state, org, id);
}

/* ---------- volumes ---------- */

#define VOL_COLS "id, org_id, name, state, created_at, updated_at"

static void read_volume(sqlite3_stmt *s, emu_volume *v)
{
    memset(v, 0, sizeof *v);
    col_copy(s, 0, v->id, sizeof v->id);
    col_copy(s, 1, v->org_id, sizeof v->org_id);
    col_copy(s, 2, v->name, sizeof v->name);
    col_copy(s, 3, v->state, sizeof v->state);
    v->created_at = sqlite3_column_int64(s, 4);
    v->updated_at = sqlite3_column_int64(s, 5);
}

emu_code store_volume_insert(emu_store *st, const emu_volume *v)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "INSERT INTO volumes(" VOL_COLS ") "
                               "VALUES(?,?,?,?,?,?)");
    if (s) {
        bind_text(s, 1, v->id);
        bind_text(s, 2, v->org_id);
        bind_text(s, 3, v->name);
        bind_text(s, 4, v->state);
        sqlite3_bind_int64(s, 5, v->created_at);
        sqlite3_bind_int64(s, 6, v->updated_at);
    }
    emu_code rc = run_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_volume_get(emu_store *st, const char *org, const char *key,
                          int by_name, emu_volume *out)
{
    pthread_mutex_lock(&st->mu);
    emu_code rc = EMU_EDB;
    sqlite3_stmt *s = prep(st, by_name
        ? "SELECT " VOL_COLS " FROM volumes WHERE org_id = ? AND name = ?"
        : "SELECT " VOL_COLS " FROM volumes WHERE org_id = ? AND id = ?");
    if (s) {
        bind_text(s, 1, org);
        bind_text(s, 2, key);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            read_volume(s, out);
            rc = EMU_OK;
        } else if (r == SQLITE_DONE) {
            rc = EMU_ENOTFOUND;
        }
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

emu_code store_volume_list(emu_store *st, const char *org, emu_volume **out,
                           size_t *n)
{
    emu_volume *rows = NULL;
    size_t cnt = 0, cap = 0;
    emu_code rc = EMU_EDB;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "SELECT " VOL_COLS " FROM volumes WHERE "
                               "org_id = ? ORDER BY created_at, id");
    if (!s)
        goto cleanup;
    bind_text(s, 1, org);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            emu_volume *nr = realloc(rows, nc * sizeof *nr);
            if (!nr) {
                rc = EMU_ENOMEM;
                goto cleanup;
            }
            rows = nr;
            cap = nc;
        }
        read_volume(s, &rows[cnt++]);
    }
    rc = r == SQLITE_DONE ? EMU_OK : EMU_EDB;
cleanup:
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    if (rc != EMU_OK) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n = cnt;
    return EMU_OK;
}

emu_code store_volume_delete(emu_store *st, const char *org, const char *id)
{
    return exec_org_id(st, "DELETE FROM volumes WHERE org_id = ? AND id = ?",
                       NULL, org, id);
}

int store_volume_in_use(emu_store *st, const char *org, const char *id)
{
    pthread_mutex_lock(&st->mu);
    int res = -1;
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM sandboxes, json_each(sandboxes.volumes) v "
                               "WHERE org_id = ? AND state != 'destroyed' AND "
                               "desired_state != 'destroyed' AND "
                               "json_extract(v.value, '$.volumeId') = ? LIMIT 1");
    if (s) {
        bind_text(s, 1, org);
        bind_text(s, 2, id);
        int r = sqlite3_step(s);
        res = r == SQLITE_ROW ? 1 : (r == SQLITE_DONE ? 0 : -1);
    }
    stmt_done(st, s);
    pthread_mutex_unlock(&st->mu);
    return res;
}
