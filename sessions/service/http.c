/*
 * http.c - the service's libmicrohttpd front: per-request state, the body
 * with a hard cap, the route table, bearer-token authentication, and the one
 * place where a reply becomes an MHD response.
 *
 * Threading: MHD_USE_THREAD_PER_CONNECTION, so a handler may block for as
 * long as Daytona takes (a start waits for a sandbox) without delaying other
 * users, and a streamed reply's producer may block until output arrives.
 *
 * Per-request state hangs off *con_cls: created in the URI log callback,
 * freed in the completion callback, so every path (including a client that
 * goes away mid-request) frees it exactly once.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "buf.h"
#include "svc.h"
#include "timeutil.h"

struct svc_http {
    struct MHD_Daemon *d;
    svc_app *app;
    const svc_route *routes;
    size_t nroutes;
    unsigned port;
};

typedef struct {
    svc_req r;              /* first: a svc_req * is a req_ctx * */
    svc_http *h;
    buf body;
    int started;
    int too_big;
    int64_t start_ms;
} req_ctx;

/* ---------- replies ---------- */

static void reply_reset(svc_req *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
    if (r->produce_free && r->produce_ctx)
        r->produce_free(r->produce_ctx);
    r->produce = NULL;
    r->produce_ctx = NULL;
    r->produce_free = NULL;
}

int svc_reply_json(svc_req *r, int status, cJSON *doc)
{
    reply_reset(r);
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        r->status = 500;
        r->type = NULL;
        return 500;
    }
    r->body = text;
    r->body_len = strlen(text);
    r->type = "application/json; charset=utf-8";
    r->status = status;
    return status;
}

int svc_reply_error(svc_req *r, int status, const char *fmt, ...)
{
    char msg[SESS_ERROR_MESSAGE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return svc_reply_json(r, status, svc_error_json(status, msg));
}

int svc_reply_sess_error(svc_req *r, const sess_error *e)
{
    int st = svc_status_for(e);
    if (st == 500) {
        /* Database internals are for the operator's log, not for users. */
        svc_log(SVC_LOG_ERROR, "%s %s: %s (%s)", r->method, r->path,
                e->message, sess_strerror(e->code));
        return svc_reply_error(r, 500, "An unexpected error occurred.");
    }
    if (st >= 502)
        svc_log(SVC_LOG_WARN, "%s %s: %s", r->method, r->path, e->message);
    return svc_reply_error(r, st, "%s", e->message);
}

void svc_reply_header(svc_req *r, const char *name, const char *value)
{
    if (r->nhdr >= (int)(sizeof r->hdr_name / sizeof r->hdr_name[0]))
        return;
    r->hdr_name[r->nhdr] = name;
    r->hdr_value[r->nhdr++] = value;
}

int svc_reply_stream(svc_req *r, int status, const char *type,
                     svc_produce_fn fn, void *ctx, void (*free_fn)(void *))
{
    reply_reset(r);
    r->produce = fn;
    r->produce_ctx = ctx;
    r->produce_free = free_fn;
    r->type = type;
    r->status = status;
    return status;
}

const char *svc_query(svc_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int svc_conn_fd(svc_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

/* ---------- routing and authentication ---------- */

/* The route for method + path: 0 with *out set, else the status already
 * replied (404 unknown path, 405 known path with another method). */
static int route(svc_http *h, svc_req *r, const svc_route **out)
{
    int path_known = 0;
    for (size_t i = 0; i < h->nroutes; i++) {
        if (strcmp(h->routes[i].path, r->path) != 0)
            continue;
        path_known = 1;
        if (strcmp(h->routes[i].method, r->method) == 0) {
            *out = &h->routes[i];
            return 0;
        }
    }
    if (path_known)
        return svc_reply_error(r, 405, "Cannot %s %s", r->method, r->path);
    return svc_reply_error(r, 404, "Cannot %s %s", r->method, r->path);
}

/* Sets r->user from "Authorization: Bearer <token>", else replies 401.
 * One message for a missing, malformed, unknown or revoked token. */
static int authenticate(svc_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    sess_error e;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *tok = h + 7;
        while (*tok == ' ')
            tok++;
        sess_code c = sess_token_verify(r->app->store, tok, &r->user, &e);
        if (c == SESS_OK)
            return 0;
        if (c != SESS_EUNAUTHORIZED && c != SESS_EINVAL)
            return svc_reply_sess_error(r, &e);
    }
    svc_reply_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return svc_reply_error(r, 401, "Unauthorized");
}

/* Parses a non-empty body as a JSON object into r->json. */
static int parse_body(req_ctx *c)
{
    if (c->body.len == 0)
        return 0;
    cJSON *j = cJSON_ParseWithLength(c->body.data, c->body.len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return svc_reply_error(&c->r, 400, "Invalid JSON in request body");
    }
    c->r.json = j;
    return 0;
}

/* A browser's preflight, when the service lets a web origin call it:
 * what it may send (no credentials needed for it: the token is in a
 * header the preflight only names). */
static int preflight(svc_req *r)
{
    svc_reply_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE");
    svc_reply_header(r, "Access-Control-Allow-Headers",
                     "Authorization, Content-Type");
    svc_reply_header(r, "Access-Control-Max-Age", "600");
    r->type = NULL;
    r->status = 204;
    return 204;
}

static void dispatch(req_ctx *c)
{
    svc_req *r = &c->r;
    const svc_route *rt = NULL;
    if (r->app->cfg->cors_origin && strcmp(r->method, "OPTIONS") == 0) {
        preflight(r);
        return;
    }
    if (route(c->h, r, &rt) != 0)
        return;
    if ((rt->flags & SVC_R_AUTH) && authenticate(r) != 0)
        return;
    if (c->too_big) {
        svc_reply_error(r, 413, "Request body larger than %u bytes",
                        SVC_MAX_BODY);
        return;
    }
    if (parse_body(c) != 0)
        return;
    rt->fn(r);
}

/* ---------- MHD glue ---------- */

static ssize_t produce_cb(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    svc_req *r = cls;
    long n = r->produce(r->produce_ctx, out, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static struct MHD_Response *make_response(svc_req *r)
{
    if (r->produce)
        /* The producer's context stays in r (freed with the request), so
         * MHD gets no free callback: one owner, one free. */
        return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                 produce_cb, r, NULL);
    return MHD_create_response_from_buffer(r->body_len, r->body ? r->body : "",
                                           MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result queue_reply(req_ctx *c)
{
    svc_req *r = &c->r;
    if (r->status == 0)
        svc_reply_error(r, 500, "An unexpected error occurred.");
    if (r->app->cfg->cors_origin)
        svc_reply_header(r, "Access-Control-Allow-Origin", r->app->cfg->cors_origin);
    struct MHD_Response *resp = make_response(r);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ok = MHD_YES;
    if (r->type)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
    for (int i = 0; i < r->nhdr && ok == MHD_YES; i++)
        ok = MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    if (ok == MHD_YES)
        ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)uri;
    req_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = cls;
    c->r.app = c->h->app;
    c->r.conn = con;
    c->start_ms = time_mono_ms();
    buf_init(&c->body, SVC_MAX_BODY);
    return c;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    req_ctx *c = *con_cls;
    if (!c)
        return MHD_NO;          /* allocation failed in uri_log_cb */
    if (!c->started) {
        c->started = 1;
        c->r.conn = con;
        c->r.method = method;
        c->r.path = url;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* Past the cap the rest is read and dropped, so the client gets a
         * clean 413 rather than a reset connection. */
        if (!c->too_big &&
            buf_add(&c->body, upload_data, *upload_data_size) != BUF_OK)
            c->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    dispatch(c);
    return queue_reply(c);
}

static void completed_cb(void *cls, struct MHD_Connection *con,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    req_ctx *c = *con_cls;
    if (!c)
        return;
    if (c->r.method)
        svc_log(SVC_LOG_DEBUG, "%s %s %d %lldms%s%s", c->r.method, c->r.path,
                c->r.status, (long long)(time_mono_ms() - c->start_ms),
                c->r.user ? " user=" : "", c->r.user ? c->r.user : "");
    (void)toe;
    reply_reset(&c->r);         /* ends a stream's reader side too */
    cJSON_Delete(c->r.json);
    free(c->r.user);
    buf_release(&c->body);
    free(c);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (svc_log_level() >= SVC_LOG_DEBUG)
        vfprintf(stderr, fmt, ap);
}

static struct MHD_Daemon *start_daemon(svc_http *h, const struct addrinfo *ai)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Limits (STYLE 10).  The idle timeout only counts while MHD waits on
     * the socket: a handler blocked on Daytona, or a stream waiting for
     * output, is not idle. */
    return MHD_start_daemon(
        flags, (uint16_t)h->app->cfg->port, NULL, NULL, access_cb, h,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, h,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
        MHD_OPTION_END);
}

svc_http *svc_http_start(svc_app *app, const svc_route *routes, size_t n,
                         char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[16];
    svc_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->app = app;
    h->routes = routes;
    h->nroutes = n;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%u", app->cfg->port);
    int gai = getaddrinfo(app->cfg->host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve --host %s: %s", app->cfg->host,
                 gai_strerror(gai));
        free(h);
        return NULL;
    }
    h->d = start_daemon(h, ai);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%u", app->cfg->host,
                 app->cfg->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : app->cfg->port;
    return h;
}

unsigned svc_http_port(const svc_http *h)
{
    return h ? h->port : 0;
}

void svc_http_stop(svc_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
