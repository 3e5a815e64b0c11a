/*
 * routes.c - the session service's HTTP API: one small handler per
 * operation of the library, and the route table.
 *
 * Every handler but /health runs for an authenticated user (r->user, from
 * the bearer token) and passes only that user to the library, whose every
 * user operation is scoped to its user: there is no request that can name
 * another user's session.  Bodies are JSON objects (http.c parsed them);
 * replies are JSON, errors in Daytona's envelope.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"

/* ---------- body fields ---------- */

/* A required string field; replies 400 when absent or not a string. */
int svc_body_string(svc_req *r, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    if (!cJSON_IsString(v))
        return svc_reply_error(r, 400, "%s must be a string", key);
    *out = v->valuestring;
    return 0;
}

/* The optional "timeout" (whole seconds, 0..86400; absent = 0, the
 * server's own limit). */
int svc_body_timeout(svc_req *r, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, "timeout");
    *out = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 86400 ||
        floor(v->valuedouble) != v->valuedouble)
        return svc_reply_error(r, 400, "timeout must be a whole number of "
                               "seconds between 0 and 86400");
    *out = (int)v->valuedouble;
    return 0;
}

static int reply_session(svc_req *r, int status, const sess_session *s)
{
    return svc_reply_json(r, status, svc_session_json(s));
}

/* ---------- handlers ---------- */

static int h_health(svc_req *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "status", "ok") ||
              !cJSON_AddStringToObject(o, "version", SVC_VERSION))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return svc_reply_json(r, 200, o);
}

/* POST /sessions {language} -> 201 the new session. */
static int h_start(svc_req *r)
{
    const char *language = NULL;
    sess_session s = {0};
    sess_error e;
    if (svc_body_string(r, "language", &language) != 0)
        return r->status;
    if (sess_start(r->app->mgr, r->user, language, &s, &e) != SESS_OK)
        return svc_reply_sess_error(r, &e);
    reply_session(r, 201, &s);
    sess_session_release(&s);
    return r->status;
}

/* GET /sessions/active -> 200 the session, or 404. */
static int h_active(svc_req *r)
{
    sess_session s = {0};
    sess_error e;
    if (sess_active(r->app->mgr, r->user, &s, &e) != SESS_OK)
        return svc_reply_sess_error(r, &e);
    reply_session(r, 200, &s);
    sess_session_release(&s);
    return r->status;
}

/* POST /sessions/active/run {code, timeout?} -> 200 {sessionId, exitCode,
 * output}.  A program that fails is still a 200: its exit code says so. */
static int h_run(svc_req *r)
{
    const char *code = NULL;
    int timeout_s = 0;
    sess_run_result res = {0};
    sess_error e;
    if (svc_body_string(r, "code", &code) != 0 || svc_body_timeout(r, &timeout_s) != 0)
        return r->status;
    if (sess_run(r->app->mgr, r->user, code, timeout_s, &res, &e) != SESS_OK)
        return svc_reply_sess_error(r, &e);
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "sessionId", res.session_id) ||
              !cJSON_AddNumberToObject(o, "exitCode", res.exit_code) ||
              svc_add_bytes(o, "output", res.output, res.output_len) != 0)) {
        cJSON_Delete(o);
        o = NULL;
    }
    sess_run_result_release(&res);
    return svc_reply_json(r, 200, o);
}

/* DELETE /sessions/active -> 200 the closed session, or 404. */
static int h_close(svc_req *r)
{
    sess_session s = {0};
    sess_error e;
    if (sess_close(r->app->mgr, r->user, &s, &e) != SESS_OK)
        return svc_reply_sess_error(r, &e);
    reply_session(r, 200, &s);
    sess_session_release(&s);
    return r->status;
}

/* GET /sessions[?limit=N] -> 200 the caller's sessions, newest first. */
static int h_history(svc_req *r)
{
    sess_session *v = NULL;
    size_t n = 0;
    long limit = 0;
    sess_error e;
    const char *l = svc_query(r, "limit");
    if (l) {
        char *end = NULL;
        limit = strtol(l, &end, 10);
        if (!*l || *end || limit < 1 || limit > 10000)
            return svc_reply_error(r, 400, "limit must be 1..10000");
    }
    if (sess_history(r->app->mgr, r->user, (size_t)limit, &v, &n, &e) != SESS_OK)
        return svc_reply_sess_error(r, &e);
    svc_reply_json(r, 200, svc_session_list_json(v, n));
    sess_session_list_free(v, n);
    return r->status;
}

const svc_route svc_routes[] = {
    {"GET", "/health", h_health, 0},
    {"POST", "/sessions", h_start, SVC_R_AUTH},
    {"GET", "/sessions", h_history, SVC_R_AUTH},
    {"GET", "/sessions/active", h_active, SVC_R_AUTH},
    {"DELETE", "/sessions/active", h_close, SVC_R_AUTH},
    {"POST", "/sessions/active/run", h_run, SVC_R_AUTH},
    {"POST", "/sessions/active/run/stream", svc_h_run_stream, SVC_R_AUTH},
};
const size_t svc_nroutes = sizeof svc_routes / sizeof svc_routes[0];
