/*
 * tokens.c - the service's per-user bearer tokens in the session store.
 *
 * A token is "dts_" + 256 random bits in base64url.  Only its SHA-256 (hex)
 * is stored, so a copy of the database file gives no usable token; the
 * token itself exists only in sess_token_create's result.  The hash is the
 * primary key, so checking a token is one indexed lookup; there is nothing
 * secret to compare in constant time (an attacker who could time the
 * lookup learns about hashes of guesses, not about tokens).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "rnd.h"
#include "store.h"
#include "timeutil.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_MAX (sizeof SESS_TOKEN_PREFIX + BASE64_ENCODED_SIZE(TOKEN_RANDOM_BYTES))

static void hash_hex(const char *s, char out[SESS_TOKEN_HASH_LEN + 1])
{
    uint8_t d[SHA256_DIGEST_LEN];
    sha256(s, strlen(s), d);
    hex_encode(d, sizeof d, out);
}

/* 1 when s is exactly a hash as we print them (64 lowercase hex). */
static int is_hash(const char *s)
{
    size_t n = strlen(s);
    if (n != SESS_TOKEN_HASH_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Runs one write statement with up to three bound values (NULL text and
 * ms 0 leave a parameter unbound, i.e. NULL).  *changes: rows affected. */
static sess_code write1(sess_store *st, const char *sql, const char *t1,
                        const char *t2, int64_t ms, int *changes,
                        sess_error *err)
{
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&st->mu);
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        if (t1)
            sqlite3_bind_text(q, 1, t1, -1, SQLITE_TRANSIENT);
        if (t2)
            sqlite3_bind_text(q, 2, t2, -1, SQLITE_TRANSIENT);
        if (ms)
            sqlite3_bind_int64(q, 3, ms);
        rc = sqlite3_step(q);
    }
    sess_code c = rc == SQLITE_DONE ? SESS_OK
                                    : sess__db_fail(st->db, rc, err, "tokens");
    if (c == SESS_OK && changes)
        *changes = sqlite3_changes(st->db);
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->mu);
    return c;
}

sess_code sess_token_create(sess_store *st, const char *user_id,
                            char **token_out, char **hash_out,
                            sess_error *err)
{
    uint8_t raw[TOKEN_RANDOM_BYTES];
    char tok[TOKEN_MAX], hash[SESS_TOKEN_HASH_LEN + 1];
    char *t = NULL, *h = NULL;
    sess_code c = SESS_OK;
    if (!st || !user_id || !*user_id || !token_out)
        return sess__fail(err, SESS_EINVAL, "a user id is required");
    if (rnd_bytes(raw, sizeof raw) != 0)
        return sess__fail(err, SESS_ESYSTEM, "no random bytes for a token");
    memcpy(tok, SESS_TOKEN_PREFIX, sizeof SESS_TOKEN_PREFIX);
    base64url_encode(raw, sizeof raw, tok + strlen(SESS_TOKEN_PREFIX));
    hash_hex(tok, hash);
    t = strdup(tok);
    h = hash_out ? strdup(hash) : NULL;
    if (!t || (hash_out && !h)) {
        c = sess__fail(err, SESS_ENOMEM, "out of memory");
        goto cleanup;
    }
    c = write1(st, "INSERT INTO tokens(hash, user_id, created_at)"
                   " VALUES (?1, ?2, ?3)", hash, user_id, time_now_ms(),
               NULL, err);
cleanup:
    /* The token must not linger in freed stack memory longer than needed. */
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(tok, sizeof tok);
    if (c != SESS_OK) {
        free(t);
        free(h);
        return c;
    }
    *token_out = t;
    if (hash_out)
        *hash_out = h;
    return SESS_OK;
}

sess_code sess_token_verify(sess_store *st, const char *token,
                            char **user_out, sess_error *err)
{
    char hash[SESS_TOKEN_HASH_LEN + 1];
    sqlite3_stmt *q = NULL;
    char *user = NULL;
    if (!st || !user_out)
        return sess__fail(err, SESS_EINVAL, "invalid arguments");
    if (!token || !*token)
        return sess__fail(err, SESS_EUNAUTHORIZED, "invalid token");
    hash_hex(token, hash);
    pthread_mutex_lock(&st->mu);
    int rc = sqlite3_prepare_v2(st->db, "SELECT user_id FROM tokens"
                                " WHERE hash = ? AND revoked_at IS NULL",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q);
    }
    sess_code c = SESS_OK;
    if (rc == SQLITE_ROW) {
        user = strdup((const char *)sqlite3_column_text(q, 0));
        if (!user)
            c = sess__fail(err, SESS_ENOMEM, "out of memory");
    } else if (rc == SQLITE_DONE) {
        c = sess__fail(err, SESS_EUNAUTHORIZED, "invalid token");
    } else {
        c = sess__db_fail(st->db, rc, err, "checking a token");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->mu);
    if (c == SESS_OK)
        *user_out = user;
    return c;
}

sess_code sess_token_revoke(sess_store *st, const char *token_or_hash,
                            sess_error *err)
{
    char hash[SESS_TOKEN_HASH_LEN + 1];
    int changes = 0;
    if (!st || !token_or_hash || !*token_or_hash)
        return sess__fail(err, SESS_EINVAL, "a token or its hash is required");
    if (is_hash(token_or_hash))
        memcpy(hash, token_or_hash, sizeof hash);
    else
        hash_hex(token_or_hash, hash);
    /* coalesce keeps the first revocation time; the row still counts as
     * changed, so "unknown" is exactly changes == 0. */
    sess_code c = write1(st, "UPDATE tokens SET revoked_at ="
                             " coalesce(revoked_at, ?3) WHERE hash = ?1",
                         hash, NULL, time_now_ms(), &changes, err);
    if (c == SESS_OK && changes == 0)
        c = sess__fail(err, SESS_ENOTFOUND, "no such token");
    return c;
}

static sess_code read_token(sqlite3_stmt *q, sess_token_info *t,
                            sess_error *err)
{
    memset(t, 0, sizeof *t);
    t->hash = strdup((const char *)sqlite3_column_text(q, 0));
    t->user_id = strdup((const char *)sqlite3_column_text(q, 1));
    t->created_at = sqlite3_column_int64(q, 2);
    t->revoked_at = sqlite3_column_int64(q, 3);
    if (!t->hash || !t->user_id) {
        free(t->hash);
        free(t->user_id);
        return sess__fail(err, SESS_ENOMEM, "out of memory");
    }
    return SESS_OK;
}

static sess_code push_token(sqlite3_stmt *q, sess_token_info **v, size_t *n,
                            size_t *cap, sess_error *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        sess_token_info *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return sess__fail(err, SESS_ENOMEM, "out of memory");
        *v = nv;
        *cap = nc;
    }
    sess_code c = read_token(q, &(*v)[*n], err);
    if (c == SESS_OK)
        (*n)++;
    return c;
}

sess_code sess_token_list(sess_store *st, const char *user_id,
                          sess_token_info **out, size_t *n, sess_error *err)
{
    sqlite3_stmt *q = NULL;
    sess_token_info *v = NULL;
    size_t count = 0, cap = 0;
    sess_code c = SESS_OK;
    if (!st || !out || !n)
        return sess__fail(err, SESS_EINVAL, "invalid arguments");
    pthread_mutex_lock(&st->mu);
    int rc = sqlite3_prepare_v2(st->db, "SELECT hash, user_id, created_at,"
                                " revoked_at FROM tokens"
                                " WHERE ?1 IS NULL OR user_id = ?1"
                                " ORDER BY created_at DESC, rowid DESC",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        if (user_id)
            sqlite3_bind_text(q, 1, user_id, -1, SQLITE_TRANSIENT);
        while (c == SESS_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
            c = push_token(q, &v, &count, &cap, err);
    }
    if (c == SESS_OK && rc != SQLITE_DONE)
        c = sess__db_fail(st->db, rc, err, "listing tokens");
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->mu);
    if (c != SESS_OK) {
        sess_token_list_free(v, count);
        return c;
    }
    *out = v;
    *n = count;
    return SESS_OK;
}

void sess_token_list_free(sess_token_info *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].hash);
        free(v[i].user_id);
    }
    free(v);
}
