/*
 * error.c - the session library's error codes and the helpers that fill a
 * sess_error: from our own checks, from SQLite, and from libdaytona.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

const char *sess_strerror(sess_code code)
{
    switch (code) {
    case SESS_OK: return "success";
    case SESS_EINVAL: return "invalid argument";
    case SESS_ENOMEM: return "out of memory";
    case SESS_EDB: return "database error";
    case SESS_EBUSY: return "database busy";
    case SESS_ESCHEMA: return "incompatible database schema";
    case SESS_ENOTFOUND: return "not found";
    case SESS_ECONFLICT: return "conflict";
    case SESS_ELANGUAGE: return "unsupported language";
    case SESS_EDAYTONA: return "Daytona request failed";
    case SESS_EGONE: return "sandbox no longer exists";
    case SESS_EUNAUTHORIZED: return "unauthorized";
    case SESS_ECANCELED: return "canceled";
    case SESS_ESYSTEM: return "system error";
    }
    return "unknown error";
}

const char *sess_status_name(sess_status s)
{
    return s == SESS_ACTIVE ? "active" : "closed";
}

sess_code sess__fail(sess_error *err, sess_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    memset(&err->dt, 0, sizeof err->dt);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

static sess_code code_for_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SESS_EBUSY;
    case SQLITE_CONSTRAINT:
        return SESS_ECONFLICT;
    case SQLITE_NOMEM:
        return SESS_ENOMEM;
    default:
        return SESS_EDB;
    }
}

sess_code sess__db_fail(sqlite3 *db, int rc, sess_error *err, const char *what)
{
    /* sqlite3_errmsg describes the most recent call on this connection;
     * the callers hold the store mutex, so it is ours. */
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return sess__fail(err, code_for_sqlite(rc), "%s: %s", what, msg);
}

sess_code sess__dt_fail(sess_error *err, sess_code code, const dt_error *dt,
                        const char *what)
{
    if (!err)
        return code;
    sess__fail(err, code, "%s: %s", what,
               dt && dt->message[0] ? dt->message
                                    : dt_strerror(dt ? dt->code : DT_EIO));
    if (dt)
        err->dt = *dt;
    return code;
}

char *sess__strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void sess_session_release(sess_session *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->user_id);
    free(s->sandbox_id);
    free(s->language);
    free(s->close_reason);
    memset(s, 0, sizeof *s);
}

void sess_session_list_free(sess_session *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        sess_session_release(&v[i]);
    free(v);
}
