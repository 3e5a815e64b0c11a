/*
 * test_sess_store.c - the session store (sessions/store.c, tokens.c) on
 * real SQLite files in a temporary directory.
 *
 * What must hold: the database itself refuses a second active session for
 * a user (checked through the store and with raw SQL on the file); closed
 * rows always carry their closing time and reason; the schema is migrated
 * at open from an empty file, from the seed-shaped version 1 (including the
 * duplicate active rows version 1 allowed), and a newer or foreign database
 * is refused untouched; reopening keeps everything; every read is scoped to
 * one user; tokens are stored only as hashes (the file's bytes are
 * searched for the token); concurrent writers on one store or on many
 * connections keep one active session per user.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <sqlite3.h>

#include "codec.h"
#include "cu_run.h"
#include "sess.h"
#include "store.h"
#include "timeutil.h"

static char g_dir[256];
static int g_seq;

/* A fresh database path in the suite's directory. */
static const char *db_path(char *out, size_t n)
{
    snprintf(out, n, "%s/db%d.sqlite", g_dir, ++g_seq);
    return out;
}

static int suite_init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/sess-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : 1;
}

static int suite_cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* ---------- raw SQLite helpers ---------- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* First column of the first row as an integer (-1 when no row). */
static long long raw_int(sqlite3 *db, const char *sql, const char *bind1)
{
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -2;
    if (bind1)
        sqlite3_bind_text(q, 1, bind1, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* First column of the first row as text into out ("" when none). */
static void raw_text(sqlite3 *db, const char *sql, const char *bind1,
                     char *out, size_t n)
{
    sqlite3_stmt *q = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return;
    if (bind1)
        sqlite3_bind_text(q, 1, bind1, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
}

static long long user_version(const char *path)
{
    sqlite3 *db = raw_open(path);
    long long v = db ? raw_int(db, "PRAGMA user_version", NULL) : -3;
    sqlite3_close(db);
    return v;
}

static sess_store *open_ok(const char *path)
{
    sess_store *st = NULL;
    sess_error e;
    sess_code c = sess_store_open(path, 0, &st, &e);
    if (c != SESS_OK)
        fprintf(stderr, "open %s: %s\n", path, e.message);
    CU_ASSERT_EQUAL(c, SESS_OK);
    return st;
}

/* A session record with borrowed strings (never released). */
static sess_session rec(const char *id, const char *user, const char *sb,
                        sess_status status, int64_t created)
{
    sess_session s = {0};
    s.id = (char *)id;
    s.user_id = (char *)user;
    s.sandbox_id = (char *)sb;
    s.language = (char *)"python";
    s.status = status;
    s.created_at = created;
    if (status == SESS_CLOSED) {
        s.closed_at = created + 1;
        s.close_reason = (char *)SESS_REASON_CLOSED;
    }
    return s;
}

/* ---------- schema and migrations ---------- */

static void test_empty_file_migrated(void)
{
    char p[300];
    db_path(p, sizeof p);
    /* An existing empty file, as a deployment script might touch it. */
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    sess_store *st = open_ok(p);
    CU_ASSERT_FATAL(st != NULL);
    sess_store_close(st);
    CU_ASSERT_EQUAL(user_version(p), SESS_SCHEMA_VERSION);
    sqlite3 *db = raw_open(p);
    char mode[32];
    raw_text(db, "PRAGMA journal_mode", NULL, mode, sizeof mode);
    CU_ASSERT_STRING_EQUAL(mode, "wal");
    CU_ASSERT_EQUAL(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                                "name = 'sessions_one_active_per_user' AND "
                                "sql LIKE '%WHERE status = ''active''%'", NULL), 1);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT count(*) FROM pragma_table_info("
                                "'sessions') WHERE name IN ('closed_at',"
                                "'close_reason','last_run_at')", NULL), 3);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT count(*) FROM pragma_table_info("
                                "'tokens')", NULL), 4);
    sqlite3_close(db);
    /* Opening again is a no-op migration. */
    st = open_ok(p);
    sess_store_close(st);
    CU_ASSERT_EQUAL(user_version(p), SESS_SCHEMA_VERSION);
}

/* A version-1 database as the seed's schema would leave it: two active
 * rows for u1 (version 1 closed older ones only in code), a closed row. */
static void make_v1(const char *p)
{
    sqlite3 *db = raw_open(p);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL(raw_exec(db,
        "CREATE TABLE sessions(id TEXT PRIMARY KEY NOT NULL,"
        " user_id TEXT NOT NULL, sandbox_id TEXT NOT NULL,"
        " language TEXT NOT NULL, status TEXT NOT NULL"
        " CHECK (status IN ('active', 'closed')), created_at INTEGER NOT NULL);"
        "CREATE INDEX sessions_by_user_status ON sessions(user_id, status);"
        "INSERT INTO sessions VALUES ('s1', 'u1', 'sb1', 'python', 'closed', 1000);"
        "INSERT INTO sessions VALUES ('s2', 'u1', 'sb2', 'python', 'active', 2000);"
        "INSERT INTO sessions VALUES ('s3', 'u1', 'sb3', 'javascript', 'active', 3000);"
        "INSERT INTO sessions VALUES ('s4', 'u2', 'sb4', 'typescript', 'active', 2500);"
        "PRAGMA user_version = 1;"), SQLITE_OK);
    sqlite3_close(db);
}

static void test_v1_migrated(void)
{
    char p[300];
    sess_session *v = NULL;
    size_t n = 0;
    db_path(p, sizeof p);
    make_v1(p);
    sess_store *st = open_ok(p);
    CU_ASSERT_FATAL(st != NULL);
    CU_ASSERT_EQUAL(user_version(p), SESS_SCHEMA_VERSION);
    /* All four rows kept; u1's newest active stays active. */
    CU_ASSERT_EQUAL(sess_store_list(st, NULL, 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 4);
    sess_session_list_free(v, n);
    sess_session a = {0};
    CU_ASSERT_EQUAL(sess__store_active(st, "u1", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(a.id, "s3");
    CU_ASSERT_STRING_EQUAL(a.language, "javascript");
    CU_ASSERT_EQUAL(a.closed_at, 0);
    CU_ASSERT_PTR_NULL(a.close_reason);
    sess_session_release(&a);
    CU_ASSERT_EQUAL(sess__store_active(st, "u2", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(a.id, "s4");
    sess_session_release(&a);
    /* Closed rows got a closing time and the "migrated" reason. */
    CU_ASSERT_EQUAL(sess_store_list(st, "u1", 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(v[0].id, "s3");
    CU_ASSERT_STRING_EQUAL(v[1].id, "s2");
    CU_ASSERT_EQUAL(v[1].status, SESS_CLOSED);
    CU_ASSERT_EQUAL(v[1].closed_at, 2000);
    CU_ASSERT_STRING_EQUAL(v[1].close_reason, SESS_REASON_MIGRATED);
    CU_ASSERT_STRING_EQUAL(v[2].id, "s1");
    CU_ASSERT_EQUAL(v[2].closed_at, 1000);
    CU_ASSERT_STRING_EQUAL(v[2].close_reason, SESS_REASON_MIGRATED);
    sess_session_list_free(v, n);
    /* The constraint now holds for the migrated user. */
    sess_session s = rec("s5", "u1", "sb5", SESS_ACTIVE, 4000);
    CU_ASSERT_EQUAL(sess__store_insert(st, &s, NULL), SESS_ECONFLICT);
    sess_store_close(st);
}

static void test_newer_and_foreign_refused(void)
{
    char p[300], q[300];
    sess_store *st = NULL;
    sess_error e;
    db_path(p, sizeof p);
    sqlite3 *db = raw_open(p);
    raw_exec(db, "CREATE TABLE sessions(x); PRAGMA user_version = 99;");
    sqlite3_close(db);
    CU_ASSERT_EQUAL(sess_store_open(p, 0, &st, &e), SESS_ESCHEMA);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "99"));
    CU_ASSERT_EQUAL(user_version(p), 99);
    /* Someone else's database (tables, no version): left as it was. */
    db_path(q, sizeof q);
    db = raw_open(q);
    raw_exec(db, "CREATE TABLE users(id INTEGER);");
    sqlite3_close(db);
    CU_ASSERT_EQUAL(sess_store_open(q, 0, &st, &e), SESS_ESCHEMA);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "not a session store"));
    db = raw_open(q);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT count(*) FROM sqlite_master", NULL), 1);
    CU_ASSERT_EQUAL(raw_int(db, "PRAGMA user_version", NULL), 0);
    sqlite3_close(db);
    /* Bad arguments and an unopenable path. */
    CU_ASSERT_EQUAL(sess_store_open(NULL, 0, &st, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_store_open("", 0, &st, &e), SESS_EINVAL);
    CU_ASSERT_EQUAL(sess_store_open("/nonexistent-dir/x/db", 0, &st, &e), SESS_EDB);
    CU_ASSERT_PTR_NULL(st);
}

static void test_reopen_keeps_data(void)
{
    char p[300];
    sess_session a = {0};
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    sess_session s = rec("r1", "alice", "sb-r1", SESS_ACTIVE, 100);
    CU_ASSERT_EQUAL(sess__store_insert(st, &s, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess__store_touch_run(st, "alice", "r1", 150, NULL), SESS_OK);
    sess_session s2 = rec("r0", "alice", "sb-r0", SESS_CLOSED, 50);
    CU_ASSERT_EQUAL(sess__store_insert(st, &s2, NULL), SESS_OK);
    sess_store_close(st);
    st = open_ok(p);
    CU_ASSERT_EQUAL(sess__store_active(st, "alice", &a, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(a.id, "r1");
    CU_ASSERT_STRING_EQUAL(a.sandbox_id, "sb-r1");
    CU_ASSERT_STRING_EQUAL(a.language, "python");
    CU_ASSERT_EQUAL(a.created_at, 100);
    CU_ASSERT_EQUAL(a.last_run_at, 150);
    CU_ASSERT_EQUAL(a.status, SESS_ACTIVE);
    sess_session_release(&a);
    sess_session *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_store_list(st, "alice", 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 2);
    sess_session_list_free(v, n);
    sess_store_close(st);
}

/* ---------- the one-active-per-user constraint ---------- */

static void test_constraint_through_store(void)
{
    char p[300];
    sess_error e;
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    sess_session a = rec("c1", "bob", "sb1", SESS_ACTIVE, 1);
    sess_session b = rec("c2", "bob", "sb2", SESS_ACTIVE, 2);
    sess_session other = rec("c3", "carol", "sb3", SESS_ACTIVE, 3);
    sess_session closed = rec("c4", "bob", "sb4", SESS_CLOSED, 4);
    CU_ASSERT_EQUAL(sess__store_insert(st, &a, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess__store_insert(st, &b, &e), SESS_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "UNIQUE"));
    CU_ASSERT_EQUAL(sess__store_insert(st, &other, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess__store_insert(st, &closed, NULL), SESS_OK);
    /* A duplicate id, a closed row without closing time, an empty user. */
    sess_session dup = rec("c1", "dave", "sb5", SESS_ACTIVE, 5);
    CU_ASSERT_EQUAL(sess__store_insert(st, &dup, NULL), SESS_ECONFLICT);
    sess_session bad = rec("c6", "dave", "sb6", SESS_CLOSED, 6);
    bad.closed_at = 0;
    CU_ASSERT_EQUAL(sess__store_insert(st, &bad, NULL), SESS_ECONFLICT);
    bad = rec("c7", "dave", "sb7", SESS_CLOSED, 7);
    bad.close_reason = NULL;
    CU_ASSERT_EQUAL(sess__store_insert(st, &bad, NULL), SESS_ECONFLICT);
    bad = rec("c8", "", "sb8", SESS_ACTIVE, 8);
    CU_ASSERT_EQUAL(sess__store_insert(st, &bad, NULL), SESS_ECONFLICT);
    sess_session act = {0};
    CU_ASSERT_EQUAL(sess__store_active(st, "bob", &act, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(act.id, "c1");
    sess_session_release(&act);
    sess_store_close(st);
}

/* The constraint is the database's, not the code's: plain SQL on the file
 * from another connection is refused too. */
static void test_constraint_raw_sql(void)
{
    char p[300];
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    sess_store_close(st);
    sqlite3 *db = raw_open(p);
    CU_ASSERT_EQUAL(raw_exec(db, "INSERT INTO sessions(id, user_id, sandbox_id,"
                                 " language, status, created_at) VALUES"
                                 " ('x1', 'u', 'sb1', 'python', 'active', 1)"),
                    SQLITE_OK);
    int rc = raw_exec(db, "INSERT INTO sessions(id, user_id, sandbox_id,"
                          " language, status, created_at) VALUES"
                          " ('x2', 'u', 'sb2', 'python', 'active', 2)");
    CU_ASSERT_EQUAL(rc, SQLITE_CONSTRAINT);
    CU_ASSERT_EQUAL(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_UNIQUE);
    /* Closed (with its bookkeeping), then re-activating it while x1 is
     * active: refused; closing without a time: refused. */
    CU_ASSERT_EQUAL(raw_exec(db, "INSERT INTO sessions(id, user_id, sandbox_id,"
                                 " language, status, created_at, closed_at,"
                                 " close_reason) VALUES ('x3', 'u', 'sb3',"
                                 " 'python', 'closed', 3, 4, 'closed')"),
                    SQLITE_OK);
    CU_ASSERT_EQUAL(raw_exec(db, "UPDATE sessions SET status = 'active',"
                                 " closed_at = NULL, close_reason = NULL"
                                 " WHERE id = 'x3'"), SQLITE_CONSTRAINT);
    CU_ASSERT_EQUAL(raw_exec(db, "UPDATE sessions SET status = 'closed'"
                                 " WHERE id = 'x1'"), SQLITE_CONSTRAINT);
    CU_ASSERT_EQUAL(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_CHECK);
    CU_ASSERT_EQUAL(raw_exec(db, "INSERT INTO sessions(id, user_id, sandbox_id,"
                                 " language, status, created_at) VALUES"
                                 " ('x4', 'v', 'sb4', 'python', 'open', 1)"),
                    SQLITE_CONSTRAINT);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT count(*) FROM sessions WHERE"
                                " user_id = 'u' AND status = 'active'", NULL), 1);
    sqlite3_close(db);
}

/* ---------- closing bookkeeping and scoping ---------- */

static void test_replace_and_close_bookkeeping(void)
{
    char p[300];
    sess_session old = {0}, closed = {0}, a = {0};
    int had = -1;
    sess_error e;
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    sess_session s1 = rec("b1", "erin", "sb1", SESS_ACTIVE, 1000);
    CU_ASSERT_EQUAL(sess__store_replace_active(st, &s1, SESS_REASON_REPLACED,
                                               &old, &had, NULL), SESS_OK);
    CU_ASSERT_EQUAL(had, 0);
    CU_ASSERT_PTR_NULL(old.id);
    sess_session s2 = rec("b2", "erin", "sb2", SESS_ACTIVE, 2000);
    CU_ASSERT_EQUAL(sess__store_replace_active(st, &s2, SESS_REASON_REPLACED,
                                               &old, &had, NULL), SESS_OK);
    CU_ASSERT_EQUAL(had, 1);
    CU_ASSERT_STRING_EQUAL(old.id, "b1");
    CU_ASSERT_STRING_EQUAL(old.sandbox_id, "sb1");
    CU_ASSERT_EQUAL(old.status, SESS_CLOSED);
    CU_ASSERT_EQUAL(old.closed_at, 2000);
    CU_ASSERT_STRING_EQUAL(old.close_reason, SESS_REASON_REPLACED);
    sess_session_release(&old);
    /* A late closer naming the old session changes nothing. */
    CU_ASSERT_EQUAL(sess__store_close(st, "erin", "b1", "late", 2500, NULL, &e),
                    SESS_ENOTFOUND);
    int64_t before = time_now_ms();
    CU_ASSERT_EQUAL(sess__store_close(st, "erin", NULL, SESS_REASON_CLOSED,
                                      before, &closed, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(closed.id, "b2");
    CU_ASSERT_EQUAL(closed.closed_at, before);
    CU_ASSERT_STRING_EQUAL(closed.close_reason, SESS_REASON_CLOSED);
    sess_session_release(&closed);
    CU_ASSERT_EQUAL(sess__store_active(st, "erin", &a, &e), SESS_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(e.message, "No active session");
    CU_ASSERT_EQUAL(sess__store_close(st, "erin", NULL, "x", 1, NULL, NULL),
                    SESS_ENOTFOUND);
    /* The history has both, each with its own closing time and reason. */
    sess_session *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_store_list(st, "erin", 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(v[0].id, "b2");
    CU_ASSERT_EQUAL(v[0].closed_at, before);
    CU_ASSERT_STRING_EQUAL(v[1].id, "b1");
    CU_ASSERT_EQUAL(v[1].closed_at, 2000);
    CU_ASSERT_STRING_EQUAL(v[1].close_reason, SESS_REASON_REPLACED);
    sess_session_list_free(v, n);
    /* limit and active_only */
    CU_ASSERT_EQUAL(sess_store_list(st, "erin", 0, 1, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 1);
    sess_session_list_free(v, n);
    CU_ASSERT_EQUAL(sess_store_list(st, "erin", 1, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(v);
    sess_store_close(st);
}

static void test_scoped_to_user(void)
{
    char p[300];
    sess_session a = {0};
    int active = -1;
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    sess_session s = rec("k1", "frank", "sb-k1", SESS_ACTIVE, 10);
    CU_ASSERT_EQUAL(sess__store_insert(st, &s, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess__store_active(st, "grace", &a, NULL), SESS_ENOTFOUND);
    /* Another user cannot close or touch frank's session even by its id. */
    CU_ASSERT_EQUAL(sess__store_close(st, "grace", "k1", "x", 20, NULL, NULL),
                    SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess__store_touch_run(st, "grace", "k1", 30, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess__store_active(st, "frank", &a, NULL), SESS_OK);
    CU_ASSERT_EQUAL(a.status, SESS_ACTIVE);
    CU_ASSERT_EQUAL(a.last_run_at, 0);
    sess_session_release(&a);
    sess_session *v = NULL;
    size_t n = 9;
    CU_ASSERT_EQUAL(sess_store_list(st, "grace", 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(sess__store_sandbox_active(st, "sb-k1", &active, NULL), SESS_OK);
    CU_ASSERT_EQUAL(active, 1);
    CU_ASSERT_EQUAL(sess__store_sandbox_active(st, "sb-none", &active, NULL), SESS_OK);
    CU_ASSERT_EQUAL(active, 0);
    CU_ASSERT_EQUAL(sess_store_list(st, "", 0, 0, &v, &n, NULL), SESS_EINVAL);
    sess_store_close(st);
}

/* ---------- tokens ---------- */

/* 1 when needle occurs anywhere in the file's bytes. */
static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t nl = strlen(needle), cap = 1 << 20, len = 0;
    char *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *nd = realloc(data, cap *= 2);
            if (!nd)
                break;
            data = nd;
        }
    }
    fclose(f);
    int found = data && len >= nl && memmem(data, len, needle, nl) != NULL;
    free(data);
    return found;
}

static void test_tokens(void)
{
    char p[300], wal[320], hash[SHA256_DIGEST_LEN * 2 + 1];
    uint8_t d[SHA256_DIGEST_LEN];
    char *tok = NULL, *h = NULL, *user = NULL, *tok2 = NULL;
    sess_error e;
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    CU_ASSERT_EQUAL(sess_token_create(st, "henry", &tok, &h, NULL), SESS_OK);
    CU_ASSERT_FATAL(tok != NULL && h != NULL);
    CU_ASSERT_EQUAL(strncmp(tok, SESS_TOKEN_PREFIX, 4), 0);
    CU_ASSERT_EQUAL(strlen(tok), 47);
    sha256(tok, strlen(tok), d);
    hex_encode(d, sizeof d, hash);
    CU_ASSERT_STRING_EQUAL(h, hash);
    CU_ASSERT_EQUAL(sess_token_create(st, "ivy", &tok2, NULL, NULL), SESS_OK);
    CU_ASSERT_STRING_NOT_EQUAL(tok, tok2);
    CU_ASSERT_EQUAL(sess_token_verify(st, tok, &user, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(user, "henry");
    free(user);
    user = NULL;
    CU_ASSERT_EQUAL(sess_token_verify(st, tok2, &user, NULL), SESS_OK);
    CU_ASSERT_STRING_EQUAL(user, "ivy");
    free(user);
    user = NULL;
    /* Unknown, empty, the hash itself, a prefix: all unauthorized. */
    CU_ASSERT_EQUAL(sess_token_verify(st, "dts_nope", &user, &e), SESS_EUNAUTHORIZED);
    CU_ASSERT_STRING_EQUAL(e.message, "invalid token");
    CU_ASSERT_EQUAL(sess_token_verify(st, "", &user, NULL), SESS_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(sess_token_verify(st, NULL, &user, NULL), SESS_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(sess_token_verify(st, h, &user, NULL), SESS_EUNAUTHORIZED);
    CU_ASSERT_PTR_NULL(user);
    /* The raw tokens are nowhere in the files; the hash is. */
    snprintf(wal, sizeof wal, "%s-wal", p);
    CU_ASSERT_FALSE(file_contains(p, tok));
    CU_ASSERT_FALSE(file_contains(wal, tok));
    CU_ASSERT_FALSE(file_contains(p, tok + 4));
    CU_ASSERT_FALSE(file_contains(wal, tok + 4));
    CU_ASSERT_FALSE(file_contains(wal, tok2 + 4));
    CU_ASSERT_TRUE(file_contains(p, h) || file_contains(wal, h));
    /* List, revoke by token, by hash, twice, unknown. */
    sess_token_info *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_token_list(st, NULL, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 2);
    sess_token_list_free(v, n);
    CU_ASSERT_EQUAL(sess_token_list(st, "henry", &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(v[0].hash, h);
    CU_ASSERT_EQUAL(v[0].revoked_at, 0);
    CU_ASSERT(v[0].created_at > 0);
    sess_token_list_free(v, n);
    CU_ASSERT_EQUAL(sess_token_revoke(st, tok, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess_token_verify(st, tok, &user, NULL), SESS_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(sess_token_list(st, "henry", &v, &n, NULL), SESS_OK);
    int64_t revoked = n == 1 ? v[0].revoked_at : -1;
    CU_ASSERT(revoked > 0);
    sess_token_list_free(v, n);
    usleep(5000);
    CU_ASSERT_EQUAL(sess_token_revoke(st, h, NULL), SESS_OK);   /* again */
    CU_ASSERT_EQUAL(sess_token_list(st, "henry", &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n == 1 ? v[0].revoked_at : -1, revoked);
    sess_token_list_free(v, n);
    CU_ASSERT_EQUAL(sess_token_revoke(st, "dts_unknown", NULL), SESS_ENOTFOUND);
    CU_ASSERT_EQUAL(sess_token_revoke(st, "", NULL), SESS_EINVAL);
    /* ivy's token still works; revoked by its hash it stops. */
    sha256(tok2, strlen(tok2), d);
    hex_encode(d, sizeof d, hash);
    CU_ASSERT_EQUAL(sess_token_verify(st, tok2, &user, NULL), SESS_OK);
    free(user);
    user = NULL;
    CU_ASSERT_EQUAL(sess_token_revoke(st, hash, NULL), SESS_OK);
    CU_ASSERT_EQUAL(sess_token_verify(st, tok2, &user, NULL), SESS_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(sess_token_create(st, "", &user, NULL, NULL), SESS_EINVAL);
    sess_store_close(st);
    /* Survives a reopen (and the checkpoint at close). */
    st = open_ok(p);
    CU_ASSERT_EQUAL(sess_token_verify(st, tok, &user, NULL), SESS_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(sess_token_list(st, NULL, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 2);
    sess_token_list_free(v, n);
    sess_store_close(st);
    CU_ASSERT_FALSE(file_contains(p, tok + 4));
    CU_ASSERT_FALSE(file_contains(p, tok2 + 4));
    free(tok);
    free(tok2);
    free(h);
}

/* ---------- concurrent writers ---------- */

#define N_THREADS 50

typedef struct {
    sess_store *st;          /* shared, or NULL: open one of our own */
    const char *path;
    const char *user;
    int idx;
    sess_code rc;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    char id[32], sb[32];
    sess_store *st = a->st;
    if (!st && sess_store_open(a->path, 30000, &st, NULL) != SESS_OK) {
        a->rc = SESS_EDB;
        return NULL;
    }
    snprintf(id, sizeof id, "w%d", a->idx);
    snprintf(sb, sizeof sb, "sb-w%d", a->idx);
    sess_session s = rec(id, a->user, sb, SESS_ACTIVE, time_now_ms());
    a->rc = sess__store_replace_active(st, &s, SESS_REASON_REPLACED, NULL,
                                       NULL, NULL);
    if (!a->st)
        sess_store_close(st);
    return NULL;
}

static void run_writers(int shared)
{
    char p[300];
    pthread_t t[N_THREADS];
    writer_arg a[N_THREADS];
    db_path(p, sizeof p);
    sess_store *st = open_ok(p);
    for (int i = 0; i < N_THREADS; i++) {
        a[i] = (writer_arg){shared ? st : NULL, p, "zoe", i, SESS_EDB};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(a[i].rc, SESS_OK);
    }
    sess_session *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(sess_store_list(st, "zoe", 1, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, 1);
    sess_session_list_free(v, n);
    CU_ASSERT_EQUAL(sess_store_list(st, "zoe", 0, 0, &v, &n, NULL), SESS_OK);
    CU_ASSERT_EQUAL(n, N_THREADS);
    size_t closed = 0;
    for (size_t i = 0; i < n; i++)
        closed += v[i].status == SESS_CLOSED && v[i].closed_at > 0 &&
                  strcmp(v[i].close_reason, SESS_REASON_REPLACED) == 0;
    CU_ASSERT_EQUAL(closed, N_THREADS - 1);
    sess_session_list_free(v, n);
    sess_store_close(st);
}

static void test_concurrent_shared_store(void)
{
    run_writers(1);
}

/* One connection per thread: what separate service processes do. */
static void test_concurrent_connections(void)
{
    run_writers(0);
}

static void test_strerror(void)
{
    CU_ASSERT_STRING_EQUAL(sess_strerror(SESS_OK), "success");
    CU_ASSERT_STRING_EQUAL(sess_strerror(SESS_EGONE), "sandbox no longer exists");
    CU_ASSERT_STRING_EQUAL(sess_strerror((sess_code)999), "unknown error");
    CU_ASSERT_STRING_EQUAL(sess_status_name(SESS_ACTIVE), "active");
    CU_ASSERT_STRING_EQUAL(sess_status_name(SESS_CLOSED), "closed");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("sess_store", suite_init, suite_cleanup);
    CU_add_test(s, "empty file migrated to the latest schema", test_empty_file_migrated);
    CU_add_test(s, "version 1 (seed shape) migrated", test_v1_migrated);
    CU_add_test(s, "newer or foreign database refused", test_newer_and_foreign_refused);
    CU_add_test(s, "reopen keeps data", test_reopen_keeps_data);
    CU_add_test(s, "one active per user (store)", test_constraint_through_store);
    CU_add_test(s, "one active per user (raw SQL)", test_constraint_raw_sql);
    CU_add_test(s, "replace and close bookkeeping", test_replace_and_close_bookkeeping);
    CU_add_test(s, "reads scoped to one user", test_scoped_to_user);
    CU_add_test(s, "tokens hashed, verified, revoked", test_tokens);
    CU_add_test(s, "50 writers on one store", test_concurrent_shared_store);
    CU_add_test(s, "50 writers on 50 connections", test_concurrent_connections);
    CU_add_test(s, "strerror", test_strerror);
    return cu_run_and_cleanup();
}
