/*
 * store.c - the session store: one SQLite file holding the sessions (the
 * seed's boss_sessions record plus what a service needs) and the service's
 * bearer tokens (tokens.c).
 *
 * The schema is versioned with PRAGMA user_version and migrated at open,
 * every step in order from an empty file, so the path an old database takes
 * is the path every new one took.  "One active session per user" is a
 * partial unique index: the database refuses a second active row whatever
 * the code above it does, from any thread, process or replica.  Closed rows
 * must carry a closing time and reason (CHECK constraints), so the
 * bookkeeping cannot drift either.
 *
 * Concurrency: one connection per store behind a mutex (each function here
 * is one critical section); WAL and a busy timeout let several processes
 * share the file; multi-statement changes run under BEGIN IMMEDIATE so the
 * write lock is taken before the first read and no two writers interleave.
 * SQL text is constant; every value is bound.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000

#define COLS "id, user_id, sandbox_id, language, status, created_at, " \
             "closed_at, close_reason, last_run_at"

/* ---------- schema ---------- */

/* Version 1: the seed's boss_sessions table as it was (the shape an app
 * ported from the seed may already have on disk). */
static const char MIGRATE_TO_1[] =
    "CREATE TABLE sessions("
    " id TEXT PRIMARY KEY NOT NULL,"
    " user_id TEXT NOT NULL,"
    " sandbox_id TEXT NOT NULL,"
    " language TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('active', 'closed')),"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX sessions_by_user_status ON sessions(user_id, status);"
    "PRAGMA user_version = 1;";

/* Version 2: rebuilt (SQLite cannot add table constraints in place) with
 * the closing time and reason, the last run, the one-active-per-user
 * index, and tokens.  Version 1 only closed older sessions in code, so a
 * user may have several active rows: the newest stays active, the others
 * are closed.  Rows closed under version 1 have no closing time; their
 * creation time is the only bound we know, and the reason says so. */
static const char MIGRATE_TO_2[] =
    "UPDATE sessions SET status = 'closed' WHERE status = 'active' AND EXISTS"
    " (SELECT 1 FROM sessions n WHERE n.user_id = sessions.user_id"
    "  AND n.status = 'active' AND (n.created_at > sessions.created_at OR"
    "  (n.created_at = sessions.created_at AND n.rowid > sessions.rowid)));"
    "CREATE TABLE sessions_v2("
    " id TEXT PRIMARY KEY NOT NULL,"
    " user_id TEXT NOT NULL CHECK (length(user_id) > 0),"
    " sandbox_id TEXT NOT NULL,"
    " language TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('active', 'closed')),"
    " created_at INTEGER NOT NULL,"
    " closed_at INTEGER,"
    " close_reason TEXT,"
    " last_run_at INTEGER,"
    " CHECK ((status = 'active') = (closed_at IS NULL)),"
    " CHECK ((status = 'active') = (close_reason IS NULL)));"
    "INSERT INTO sessions_v2(id, user_id, sandbox_id, language, status,"
    " created_at, closed_at, close_reason)"
    " SELECT id, user_id, sandbox_id, language, status, created_at,"
    "  CASE status WHEN 'closed' THEN created_at END,"
    "  CASE status WHEN 'closed' THEN '" SESS_REASON_MIGRATED "' END"
    " FROM sessions ORDER BY rowid;"
    "DROP TABLE sessions;"
    "ALTER TABLE sessions_v2 RENAME TO sessions;"
    "CREATE UNIQUE INDEX sessions_one_active_per_user ON sessions(user_id)"
    " WHERE status = 'active';"
    "CREATE INDEX sessions_by_user ON sessions(user_id, created_at);"
    "CREATE INDEX sessions_by_sandbox ON sessions(sandbox_id);"
    "CREATE TABLE tokens("
    " hash TEXT PRIMARY KEY NOT NULL CHECK (length(hash) = 64),"
    " user_id TEXT NOT NULL CHECK (length(user_id) > 0),"
    " created_at INTEGER NOT NULL,"
    " revoked_at INTEGER);"
    "CREATE INDEX tokens_by_user ON tokens(user_id);"
    "PRAGMA user_version = 2;";

/* MIGRATIONS[v] takes a database from version v to v + 1. */
static const char *const MIGRATIONS[SESS_SCHEMA_VERSION] = {
    MIGRATE_TO_1,
    MIGRATE_TO_2,
};

static sess_code exec_sql(sqlite3 *db, const char *sql, sess_error *err,
                          const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? SESS_OK : sess__db_fail(db, rc, err, what);
}

/* The integer a one-row, one-column query returns. */
static sess_code query_int(sqlite3 *db, const char *sql, int *out,
                           sess_error *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sess_code c = sess__db_fail(db, rc, err, "reading the schema");
        sqlite3_finalize(q);
        return c;
    }
    *out = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return SESS_OK;
}

/* Inside the open transaction: checks the version and applies the missing
 * steps. */
static sess_code migrate_locked(sqlite3 *db, sess_error *err)
{
    int version = 0, objects = 0;
    sess_code c = query_int(db, "PRAGMA user_version", &version, err);
    if (c == SESS_OK && version == 0)
        c = query_int(db, "SELECT count(*) FROM sqlite_master", &objects, err);
    if (c != SESS_OK)
        return c;
    if (version > SESS_SCHEMA_VERSION || version < 0)
        return sess__fail(err, SESS_ESCHEMA,
                          "database schema version %d is not one this "
                          "program knows (latest %d)", version,
                          SESS_SCHEMA_VERSION);
    /* Version 0 with tables is someone else's database: never build ours
     * beside (or on top of) it. */
    if (version == 0 && objects > 0)
        return sess__fail(err, SESS_ESCHEMA,
                          "database is not empty and has no schema version: "
                          "not a session store");
    for (int v = version; v < SESS_SCHEMA_VERSION; v++) {
        c = exec_sql(db, MIGRATIONS[v], err, "migrating the schema");
        if (c != SESS_OK)
            return c;
    }
    return SESS_OK;
}

/* One transaction for the whole migration: two processes opening a fresh
 * file at once cannot both migrate, and a failed step leaves the old
 * version intact. */
static sess_code migrate(sqlite3 *db, sess_error *err)
{
    sess_code c = exec_sql(db, "BEGIN IMMEDIATE", err, "locking to migrate");
    if (c != SESS_OK)
        return c;
    c = migrate_locked(db, err);
    if (c == SESS_OK)
        c = exec_sql(db, "COMMIT", err, "committing the migration");
    if (c != SESS_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return c;
}

static sess_code configure(sqlite3 *db, long busy_timeout_ms, sess_error *err)
{
    int ms = busy_timeout_ms > 0 ? (int)(busy_timeout_ms > 3600000
                                             ? 3600000 : busy_timeout_ms)
                                 : DEFAULT_BUSY_TIMEOUT_MS;
    int rc = sqlite3_busy_timeout(db, ms);
    if (rc != SQLITE_OK)
        return sess__db_fail(db, rc, err, "setting the busy timeout");
    /* WAL: readers never block the writer, and several processes can share
     * the file.  (An in-memory database answers "memory"; that is fine.) */
    sess_code c = exec_sql(db, "PRAGMA journal_mode = WAL", err,
                           "switching to WAL");
    if (c == SESS_OK)
        c = exec_sql(db, "PRAGMA foreign_keys = ON", err, "configuring");
    return c;
}

sess_code sess_store_open(const char *path, long busy_timeout_ms,
                          sess_store **out, sess_error *err)
{
    sqlite3 *db = NULL;
    sess_store *st = NULL;
    sess_code c;
    if (!path || !*path || !out)
        return sess__fail(err, SESS_EINVAL, "a database path is required");
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        c = sess__db_fail(db, rc, err, "opening the database");
        goto fail;
    }
    c = configure(db, busy_timeout_ms, err);
    if (c == SESS_OK)
        c = migrate(db, err);
    if (c != SESS_OK)
        goto fail;
    st = calloc(1, sizeof *st);
    if (!st) {
        c = sess__fail(err, SESS_ENOMEM, "out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&st->mu, NULL) != 0) {
        c = sess__fail(err, SESS_ESYSTEM, "cannot create a mutex");
        goto fail;
    }
    st->db = db;
    *out = st;
    return SESS_OK;
fail:
    free(st);
    sqlite3_close(db);   /* a handle is returned even when open fails */
    return c;
}

void sess_store_close(sess_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* ---------- statements ---------- */

static sess_code prepare(sess_store *st, const char *sql, sqlite3_stmt **q,
                         sess_error *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, q, NULL);
    return rc == SQLITE_OK ? SESS_OK
                           : sess__db_fail(st->db, rc, err, "preparing");
}

/* Binds a string or NULL (SQLITE_TRANSIENT: the caller's memory may go). */
static int bind_text(sqlite3_stmt *q, int i, const char *s)
{
    return s ? sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null(q, i);
}

/* A time column: 0 stands for "not yet" (NULL). */
static int bind_time(sqlite3_stmt *q, int i, int64_t ms)
{
    return ms ? sqlite3_bind_int64(q, i, ms) : sqlite3_bind_null(q, i);
}

/* Steps a statement that returns no row. */
static sess_code step_done(sess_store *st, sqlite3_stmt *q, sess_error *err,
                           const char *what)
{
    int rc = sqlite3_step(q);
    return rc == SQLITE_DONE ? SESS_OK : sess__db_fail(st->db, rc, err, what);
}

static int dup_col(sqlite3_stmt *q, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    *out = NULL;
    if (!t)
        return 0;
    *out = strdup((const char *)t);
    return *out ? 0 : -1;
}

/* The row under q (columns in COLS order) into *s. */
static sess_code read_row(sqlite3_stmt *q, sess_session *s, sess_error *err)
{
    memset(s, 0, sizeof *s);
    const unsigned char *status = sqlite3_column_text(q, 4);
    s->status = status && strcmp((const char *)status, "active") == 0
                    ? SESS_ACTIVE : SESS_CLOSED;
    s->created_at = sqlite3_column_int64(q, 5);
    s->closed_at = sqlite3_column_int64(q, 6);
    s->last_run_at = sqlite3_column_int64(q, 8);
    if (dup_col(q, 0, &s->id) || dup_col(q, 1, &s->user_id) ||
        dup_col(q, 2, &s->sandbox_id) || dup_col(q, 3, &s->language) ||
        dup_col(q, 7, &s->close_reason)) {
        sess_session_release(s);
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    }
    return SESS_OK;
}

static sess_code insert_locked(sess_store *st, const sess_session *s,
                               sess_error *err)
{
    sqlite3_stmt *q = NULL;
    sess_code c = prepare(st, "INSERT INTO sessions(" COLS ") "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &q, err);
    if (c != SESS_OK)
        return c;
    bind_text(q, 1, s->id);
    bind_text(q, 2, s->user_id);
    bind_text(q, 3, s->sandbox_id);
    bind_text(q, 4, s->language);
    bind_text(q, 5, sess_status_name(s->status));
    sqlite3_bind_int64(q, 6, s->created_at);
    bind_time(q, 7, s->closed_at);
    bind_text(q, 8, s->close_reason);
    bind_time(q, 9, s->last_run_at);
    c = step_done(st, q, err, "recording the session");
    sqlite3_finalize(q);
    return c;
}

/* The user's active session (and, when session_id is non-NULL, only if it
 * is that one).  SESS_ENOTFOUND when none. */
static sess_code active_locked(sess_store *st, const char *user_id,
                               const char *session_id, sess_session *out,
                               sess_error *err)
{
    sqlite3_stmt *q = NULL;
    sess_code c = prepare(st, "SELECT " COLS " FROM sessions"
                              " WHERE user_id = ? AND status = 'active'"
                              " AND (?2 IS NULL OR id = ?2)", &q, err);
    if (c != SESS_OK)
        return c;
    bind_text(q, 1, user_id);
    bind_text(q, 2, session_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        c = read_row(q, out, err);
    else if (rc == SQLITE_DONE)
        c = sess__fail(err, SESS_ENOTFOUND, "No active session");
    else
        c = sess__db_fail(st->db, rc, err, "reading the session");
    sqlite3_finalize(q);
    return c;
}

/* Marks *s closed in the database and in memory. */
static sess_code close_locked(sess_store *st, sess_session *s,
                              const char *reason, int64_t now, sess_error *err)
{
    sqlite3_stmt *q = NULL;
    char *r = strdup(reason);
    if (!r)
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    sess_code c = prepare(st, "UPDATE sessions SET status = 'closed',"
                              " closed_at = ?, close_reason = ?"
                              " WHERE id = ? AND status = 'active'", &q, err);
    if (c == SESS_OK) {
        sqlite3_bind_int64(q, 1, now);
        bind_text(q, 2, reason);
        bind_text(q, 3, s->id);
        c = step_done(st, q, err, "closing the session");
    }
    sqlite3_finalize(q);
    if (c != SESS_OK) {
        free(r);
        return c;
    }
    s->status = SESS_CLOSED;
    s->closed_at = now;
    free(s->close_reason);
    s->close_reason = r;
    return SESS_OK;
}

/* ---------- transactions ---------- */

static sess_code begin(sess_store *st, sess_error *err)
{
    return exec_sql(st->db, "BEGIN IMMEDIATE", err, "starting a transaction");
}

/* Commits when c is SESS_OK, else rolls back; returns the final code. */
static sess_code finish(sess_store *st, sess_code c, sess_error *err)
{
    if (c == SESS_OK)
        c = exec_sql(st->db, "COMMIT", err, "committing");
    if (c != SESS_OK)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return c;
}

/* ---------- row operations ---------- */

sess_code sess__store_insert(sess_store *st, const sess_session *s,
                             sess_error *err)
{
    pthread_mutex_lock(&st->mu);
    sess_code c = insert_locked(st, s, err);
    pthread_mutex_unlock(&st->mu);
    return c;
}

sess_code sess__store_replace_active(sess_store *st, const sess_session *s,
                                     const char *reason, sess_session *replaced,
                                     int *had, sess_error *err)
{
    sess_session old = {0};
    int found = 0;
    pthread_mutex_lock(&st->mu);
    sess_code c = begin(st, err);
    if (c != SESS_OK)
        goto unlock;
    c = active_locked(st, s->user_id, NULL, &old, err);
    if (c == SESS_OK) {
        found = 1;
        c = close_locked(st, &old, reason, s->created_at, err);
    } else if (c == SESS_ENOTFOUND) {
        c = SESS_OK;
    }
    if (c == SESS_OK)
        c = insert_locked(st, s, err);
    c = finish(st, c, err);
unlock:
    pthread_mutex_unlock(&st->mu);
    if (c == SESS_OK && replaced && found) {
        *replaced = old;
        memset(&old, 0, sizeof old);
    }
    if (c == SESS_OK && had)
        *had = found;
    sess_session_release(&old);
    return c;
}

sess_code sess__store_active(sess_store *st, const char *user_id,
                             sess_session *out, sess_error *err)
{
    pthread_mutex_lock(&st->mu);
    sess_code c = active_locked(st, user_id, NULL, out, err);
    pthread_mutex_unlock(&st->mu);
    return c;
}

sess_code sess__store_close(sess_store *st, const char *user_id,
                            const char *session_id, const char *reason,
                            int64_t now, sess_session *closed,
                            sess_error *err)
{
    sess_session s = {0};
    pthread_mutex_lock(&st->mu);
    sess_code c = begin(st, err);
    if (c == SESS_OK) {
        c = active_locked(st, user_id, session_id, &s, err);
        if (c == SESS_OK)
            c = close_locked(st, &s, reason, now, err);
        c = finish(st, c, err);
    }
    pthread_mutex_unlock(&st->mu);
    if (c == SESS_OK && closed) {
        *closed = s;
        memset(&s, 0, sizeof s);
    }
    sess_session_release(&s);
    return c;
}

sess_code sess__store_touch_run(sess_store *st, const char *user_id,
                                const char *session_id, int64_t now,
                                sess_error *err)
{
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&st->mu);
    sess_code c = prepare(st, "UPDATE sessions SET last_run_at = ?"
                              " WHERE id = ? AND user_id = ?", &q, err);
    if (c == SESS_OK) {
        sqlite3_bind_int64(q, 1, now);
        bind_text(q, 2, session_id);
        bind_text(q, 3, user_id);
        c = step_done(st, q, err, "recording the run");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->mu);
    return c;
}

sess_code sess__store_sandbox_active(sess_store *st, const char *sandbox_id,
                                     int *active, sess_error *err)
{
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&st->mu);
    sess_code c = prepare(st, "SELECT 1 FROM sessions WHERE sandbox_id = ?"
                              " AND status = 'active' LIMIT 1", &q, err);
    if (c == SESS_OK) {
        bind_text(q, 1, sandbox_id);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *active = rc == SQLITE_ROW;
        else
            c = sess__db_fail(st->db, rc, err, "looking up a sandbox");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->mu);
    return c;
}

/* ---------- listing ---------- */

/* Appends the row under q to *v (capacity *cap, count *n). */
static sess_code push_row(sqlite3_stmt *q, sess_session **v, size_t *n,
                          size_t *cap, sess_error *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        sess_session *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return sess__fail(err, SESS_ENOMEM, "out of memory");
        *v = nv;
        *cap = nc;
    }
    sess_code c = read_row(q, &(*v)[*n], err);
    if (c == SESS_OK)
        (*n)++;
    return c;
}

sess_code sess_store_list(sess_store *st, const char *user_id, int active_only,
                          size_t limit, sess_session **out, size_t *n,
                          sess_error *err)
{
    sqlite3_stmt *q = NULL;
    sess_session *v = NULL;
    size_t count = 0, cap = 0;
    int rc = SQLITE_DONE;
    if (!st || !out || !n || (user_id && !*user_id))
        return sess__fail(err, SESS_EINVAL, "invalid arguments");
    pthread_mutex_lock(&st->mu);
    sess_code c = prepare(st, "SELECT " COLS " FROM sessions"
                              " WHERE (?1 IS NULL OR user_id = ?1)"
                              " AND (?2 = 0 OR status = 'active')"
                              " ORDER BY created_at DESC, rowid DESC"
                              " LIMIT ?3", &q, err);
    if (c != SESS_OK)
        goto unlock;
    bind_text(q, 1, user_id);
    sqlite3_bind_int(q, 2, active_only != 0);
    /* LIMIT -1 is SQLite's "no limit". */
    sqlite3_bind_int64(q, 3, limit ? (sqlite3_int64)limit : -1);
    while (c == SESS_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        c = push_row(q, &v, &count, &cap, err);
    if (c == SESS_OK && rc != SQLITE_DONE)
        c = sess__db_fail(st->db, rc, err, "listing sessions");
unlock:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->mu);
    if (c != SESS_OK) {
        sess_session_list_free(v, count);
        return c;
    }
    *out = v;
    *n = count;
    return SESS_OK;
}
