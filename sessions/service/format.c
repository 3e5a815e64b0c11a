/*
 * format.c - how the service and its operator commands show things: a
 * session as JSON, Daytona's error envelope, the HTTP status of each
 * library error, and the log line.
 *
 * Statuses (documented in docs/SESSIONS.md):
 *   SESS_EINVAL, SESS_ELANGUAGE  400 (the library's message, word for word)
 *   SESS_EUNAUTHORIZED           401
 *   SESS_ENOTFOUND               404
 *   SESS_ECONFLICT               409
 *   SESS_EGONE                   410 "Could not restore sandbox session.
 *                                Please refresh." -- the session is closed
 *                                for good, which is what 410 says (409
 *                                would invite a retry that cannot succeed)
 *   SESS_EDAYTONA                502 (504 when Daytona timed out)
 *   SESS_EBUSY                   503
 *   anything else                500
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "svc.h"
#include "timeutil.h"
#include "utf8.h"

/* ---------- logging ---------- */

/* Written once before any thread starts, then only read. */
static int g_level = SVC_LOG_INFO;

void svc_log_set_level(int level)
{
    g_level = level;
}

int svc_log_level(void)
{
    return g_level;
}

void svc_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char ts[ISO8601_LEN], msg[2048];
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_iso8601(time_now_ms(), ts);
    /* One call per line so lines from threads do not interleave. */
    fprintf(stderr, "%s " SVC_NAME " %s: %s\n", ts, names[level], msg);
}

/* ---------- JSON ---------- */

int svc_add_bytes(cJSON *obj, const char *key, const char *data, size_t len)
{
    buf b;
    buf_init(&b, (size_t)-1 / 4);
    int rc = -1;
    if (utf8_sanitize(data ? data : "", data ? len : 0, &b) == BUF_OK &&
        cJSON_AddStringToObject(obj, key, buf_str(&b)))
        rc = 0;
    buf_release(&b);
    return rc;
}

/* A time in ms, or null when it is 0 (unset). */
static int add_time(cJSON *o, const char *key, int64_t ms)
{
    return ms ? cJSON_AddNumberToObject(o, key, (double)ms) != NULL
              : cJSON_AddNullToObject(o, key) != NULL;
}

static int add_str_or_null(cJSON *o, const char *key, const char *v)
{
    return v ? cJSON_AddStringToObject(o, key, v) != NULL
             : cJSON_AddNullToObject(o, key) != NULL;
}

cJSON *svc_session_json(const sess_session *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "id", s->id) ||
        !cJSON_AddStringToObject(o, "userId", s->user_id) ||
        !cJSON_AddStringToObject(o, "sandboxId", s->sandbox_id) ||
        !cJSON_AddStringToObject(o, "language", s->language) ||
        !cJSON_AddStringToObject(o, "status", sess_status_name(s->status)) ||
        !add_time(o, "createdAt", s->created_at) ||
        !add_time(o, "closedAt", s->closed_at) ||
        !add_str_or_null(o, "closeReason", s->close_reason) ||
        !add_time(o, "lastRunAt", s->last_run_at)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *svc_session_list_json(const sess_session *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *o = svc_session_json(&v[i]);
        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

const char *svc_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

cJSON *svc_error_json(int status, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "statusCode", status) ||
        !cJSON_AddStringToObject(o, "message", message) ||
        !cJSON_AddStringToObject(o, "error", svc_reason(status))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int svc_status_for(const sess_error *e)
{
    switch (e->code) {
    case SESS_EINVAL:
    case SESS_ELANGUAGE: return 400;
    case SESS_EUNAUTHORIZED: return 401;
    case SESS_ENOTFOUND: return 404;
    case SESS_ECONFLICT: return 409;
    case SESS_EGONE: return 410;
    case SESS_EDAYTONA: return e->dt.code == DT_ETIMEOUT ? 504 : 502;
    case SESS_EBUSY: return 503;
    default: return 500;
    }
}
