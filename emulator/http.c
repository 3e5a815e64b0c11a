/*
 * http.c - libmicrohttpd front: per-request state, body accumulation with a
 * hard cap, router, fault injection hook, authentication hook, journal, and
 * the single place where replies become MHD responses.
 *
 * Threading: MHD_USE_THREAD_PER_CONNECTION, so a handler may block (wait for
 * a transition, sleep for injected latency, later run a command) without
 * delaying other clients.  Every module a handler touches is thread-safe.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "app.h"
#include "auth.h"
#include "faults.h"
#include "journal.h"
#include "preview.h"
#include "timeutil.h"
#include "ws.h"

struct emu_http {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int upgraded;          /* upgrade threads still running */
    int stopping;          /* emu_http_stop began: upgrades are refused */
    emu_app *app;
    const emu_route *routes;
    size_t nroutes;
    unsigned port;
};

/* Per-request context hung off *con_cls (created in the URI log callback,
 * freed in the completion callback, so every path frees it). */
typedef struct {
    emu_req r;
    emu_http *h;
    buf body;
    char *raw_uri;
    int started;
    int too_big;
    int queued;
    const emu_route *rt;        /* routed early (EMU_R_STREAM) */
    int journaled;
    int early;                  /* routing + auth + begin already done */
    int preview;                /* a preview request (path or host form) */
    /* upgrade */
    emu_upgrade_fn up_fn;
    void *up_cls;
    void (*up_free)(void *);
} req_ctx;

/* ---------- router ---------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into dst (n+1 bytes).  Routing works on the raw
 * URI and decodes each segment separately, so an encoded '/' in a name stays
 * inside its segment. */
void emu_pct_decode(const char *src, size_t n, char *dst)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        /* %00 stays literal: a NUL would cut the parameter short and name
         * a different sandbox ("a%00b" must not find "a"). */
        if (src[i] == '%' && i + 2 < n &&
            hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0 &&
            (src[i + 1] != '0' || src[i + 2] != '0')) {
            dst[j++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
            continue;
        }
        dst[j++] = src[i];
    }
    dst[j] = '\0';
}

const emu_route *emu_route_match(const emu_route *table, size_t n,
                                 const char *method, const char *path,
                                 const char **params, int *nparams,
                                 char **store)
{
    size_t plen = strlen(path);
    for (size_t i = 0; i < n; i++) {
        const emu_route *rt = &table[i];
        if (strcmp(rt->method, "*") != 0 && strcmp(rt->method, method) != 0)
            continue;
        /* Param text is at most the path's length in total. */
        char *st = malloc(plen + EMU_MAX_PARAMS + 1);
        if (!st)
            return NULL;
        size_t used = 0;
        int np = 0;
        const char *p = rt->pattern, *s = path;
        int ok = 1;
        while (*p && ok) {
            if (*p != '/' || *s != '/') { ok = 0; break; }
            p++; s++;
            const char *pe = strchr(p, '/');
            size_t pl = pe ? (size_t)(pe - p) : strlen(p);
            const char *se = strchr(s, '/');
            size_t sl = se ? (size_t)(se - s) : strlen(s);
            if (pl == 1 && p[0] == '*') {         /* rest of the path */
                if (np >= EMU_MAX_PARAMS) { ok = 0; break; }
                /* Kept raw: a sub-router (the toolbox) decodes it per
                 * segment itself. */
                size_t rl = strlen(s);
                memcpy(st + used, s, rl + 1);
                params[np++] = st + used;
                used += strlen(st + used) + 1;
                s += rl;
                p += pl;
                break;
            }
            if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
                if (sl == 0 || np >= EMU_MAX_PARAMS) { ok = 0; break; }
                emu_pct_decode(s, sl, st + used);
                params[np++] = st + used;
                used += strlen(st + used) + 1;
            } else if (pl != sl || memcmp(p, s, pl) != 0) {
                ok = 0;
                break;
            }
            p += pl;
            s += sl;
        }
        if (ok && *p == '\0' && *s == '\0') {
            *nparams = np;
            *store = st;
            return rt;
        }
        free(st);
    }
    return NULL;
}

/* ---------- replies ---------- */

static void reply_reset(emu_req *r)
{
    free(r->resp_body);
    r->resp_body = NULL;
    r->resp_len = 0;
    if (r->resp_fd >= 0)
        close(r->resp_fd);
    r->resp_fd = -1;
    if (r->resp_stream_free && r->resp_stream_ctx)
        r->resp_stream_free(r->resp_stream_ctx);
    r->resp_stream = NULL;
    r->resp_stream_ctx = NULL;
    r->resp_stream_free = NULL;
}

int emu_reply_fd(emu_req *r, int status, const char *type, int fd,
                 uint64_t size)
{
    return emu_reply_fd_at(r, status, type, fd, 0, size);
}

int emu_reply_fd_at(emu_req *r, int status, const char *type, int fd,
                    uint64_t offset, uint64_t size)
{
    reply_reset(r);
    r->resp_fd = fd;
    r->resp_fd_offset = offset;
    r->resp_fd_size = size;
    r->resp_type = type;
    r->status = status;
    return status;
}

int emu_reply_stream(emu_req *r, int status, const char *type,
                     emu_stream_fn fn, void *ctx, void (*free_fn)(void *))
{
    return emu_reply_stream_sized(r, status, type, UINT64_MAX, fn, ctx, free_fn);
}

int emu_reply_stream_sized(emu_req *r, int status, const char *type, uint64_t size,
                           emu_stream_fn fn, void *ctx, void (*free_fn)(void *))
{
    reply_reset(r);
    r->resp_stream_size = size;
    r->resp_stream = fn;
    r->resp_stream_ctx = ctx;
    r->resp_stream_free = free_fn;
    r->resp_type = type;
    r->status = status;
    return status;
}

int emu_reply_raw(emu_req *r, int status, const char *type,
                  const void *data, size_t len)
{
    reply_reset(r);
    char *copy = malloc(len + 1);
    if (!copy) {
        r->status = 500;
        return 500;
    }
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    r->resp_body = copy;
    r->resp_len = len;
    r->resp_type = type;
    r->status = status;
    return status;
}

int emu_reply_json(emu_req *r, int status, cJSON *doc)
{
    reply_reset(r);
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        r->status = 500;
        return 500;
    }
    r->resp_body = text;
    r->resp_len = strlen(text);
    r->resp_type = "application/json; charset=utf-8";
    r->status = status;
    return status;
}

int emu_reply_empty(emu_req *r, int status)
{
    reply_reset(r);
    r->resp_type = NULL;
    r->status = status;
    return status;
}

int emu_reply_error(emu_req *r, int status, const char *message)
{
    char ts[ISO8601_LEN];
    time_iso8601(time_now_ms(), ts);
    cJSON *o = cJSON_CreateObject();
    if (!o ||
        !cJSON_AddStringToObject(o, "path", r->raw_uri ? r->raw_uri : r->path) ||
        !cJSON_AddStringToObject(o, "timestamp", ts) ||
        !cJSON_AddNumberToObject(o, "statusCode", status) ||
        !cJSON_AddStringToObject(o, "error", emu_http_reason(status)) ||
        !cJSON_AddStringToObject(o, "message", message)) {
        cJSON_Delete(o);
        r->status = 500;
        return 500;
    }
    emu_reply_json(r, status, o);
    return status;
}

int emu_reply_err(emu_req *r, const emu_err *e)
{
    return emu_reply_error(r, e->status ? e->status : 500,
                           e->status ? e->msg : "An unexpected error occurred.");
}

void emu_reply_header(emu_req *r, const char *name, const char *value)
{
    if (r->nhdr >= EMU_MAX_HEADERS)
        return;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return;
    }
    r->hdr_name[r->nhdr] = n;
    r->hdr_value[r->nhdr++] = v;
}

/* Nest's body-parser error shape: no path, no timestamp (trap 18). */
static int reply_bad_json(emu_req *r)
{
    static const char body[] =
        "{\"message\":\"Invalid JSON in request body\",\"error\":\"Bad Request\","
        "\"statusCode\":400}";
    return emu_reply_raw(r, 400, "application/json; charset=utf-8", body,
                         sizeof body - 1);
}

/* ---------- request accessors ---------- */

const char *emu_query(emu_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *emu_header(emu_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

typedef struct {
    const char *key;
    size_t keylen;
    void (*fn)(void *, const char *);
    void *ctx;
    int n;
} each_ctx;

static enum MHD_Result each_cb(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    (void)kind;
    each_ctx *e = cls;
    if (!key || !value)
        return MHD_YES;
    size_t kl = strlen(key);
    int match = strcmp(key, e->key) == 0 ||
                (kl == e->keylen + 2 && strncmp(key, e->key, e->keylen) == 0 &&
                 strcmp(key + e->keylen, "[]") == 0);
    if (match) {
        e->fn(e->ctx, value);
        e->n++;
    }
    return MHD_YES;
}

int emu_query_each(emu_req *r, const char *key,
                   void (*fn)(void *ctx, const char *value), void *ctx)
{
    each_ctx e = {key, strlen(key), fn, ctx, 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, each_cb, &e);
    return e.n;
}

void emu_base_url(emu_req *r, char *out, size_t outlen)
{
    const char *host = emu_header(r, MHD_HTTP_HEADER_HOST);
    if (host && *host && strlen(host) < 200 && !strpbrk(host, "/ \t\"\\"))
        snprintf(out, outlen, "http://%s", host);
    else
        snprintf(out, outlen, "http://127.0.0.1:%u",
                 r->app->http ? emu_http_port(r->app->http) : 0);
}

/* ---------- WebSocket upgrade ---------- */

typedef struct {
    emu_http *h;
    emu_upgrade_fn fn;
    void *cls;
    int fd;
    char *extra;
    size_t extra_len;
    struct MHD_UpgradeResponseHandle *urh;
} up_job;

static void up_done(emu_http *h)
{
    pthread_mutex_lock(&h->mu);
    h->upgraded--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void *up_thread(void *arg)
{
    up_job *j = arg;
    emu_http *h = j->h;
    j->fn(j->cls, j->fd, j->extra, j->extra_len);
    MHD_upgrade_action(j->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(j->extra);
    free(j);
    up_done(h);
    return NULL;
}

static void upgrade_cb(void *cls, struct MHD_Connection *connection,
                       void *req_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    (void)connection;
    (void)req_cls;
    req_ctx *c = cls;
    /* MHD_stop_daemon can still complete an upgrade (joining a connection
     * thread) after the wait for upgrade threads: refuse it, or its thread
     * would run against a torn-down app.  Check and count atomically. */
    pthread_mutex_lock(&c->h->mu);
    int refuse = c->h->stopping;
    if (!refuse)
        c->h->upgraded++;
    pthread_mutex_unlock(&c->h->mu);
    if (refuse) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    up_job *j = calloc(1, sizeof *j);
    if (j && extra_in_size) {
        j->extra = malloc(extra_in_size);
        if (!j->extra) {
            free(j);
            j = NULL;
        } else {
            memcpy(j->extra, extra_in, extra_in_size);
        }
    }
    if (!j) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        up_done(c->h);
        return;
    }
    j->h = c->h;
    j->fn = c->up_fn;
    j->cls = c->up_cls;
    c->up_cls = NULL;   /* ownership moves to the job */
    j->fd = sock;
    j->extra_len = extra_in_size;
    j->urh = urh;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, up_thread, j) != 0) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        if (j->cls && c->up_free)   /* it moved to the job: free it here */
            c->up_free(j->cls);
        free(j->extra);
        free(j);
        up_done(c->h);
    }
    pthread_attr_destroy(&attr);
}

static int header_has_token(const char *v, const char *tok)
{
    if (!v)
        return 0;
    size_t tl = strlen(tok);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *te = e;
        while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - p) == tl && strncasecmp(p, tok, tl) == 0)
            return 1;
        p = e;
    }
    return 0;
}

int emu_reply_websocket(emu_req *r, const char *subprotocol,
                        emu_upgrade_fn fn, void *cls, void (*cls_free)(void *))
{
    req_ctx *c = (req_ctx *)r;  /* emu_req is the first member */
    const char *up = emu_header(r, MHD_HTTP_HEADER_UPGRADE);
    const char *conn = emu_header(r, MHD_HTTP_HEADER_CONNECTION);
    const char *ver = emu_header(r, "Sec-WebSocket-Version");
    const char *key = emu_header(r, "Sec-WebSocket-Key");
    char accept[29];
    if (!up || strcasecmp(up, "websocket") != 0 ||
        !header_has_token(conn, "upgrade") || !ver || strcmp(ver, "13") != 0 ||
        ws_accept_key(key, accept) != 0) {
        if (cls_free)
            cls_free(cls);
        return emu_reply_error(r, 400, "WebSocket upgrade required");
    }
    c->up_fn = fn;
    c->up_cls = cls;
    c->up_free = cls_free;
    emu_reply_empty(r, 101);
    emu_reply_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    emu_reply_header(r, "Sec-WebSocket-Accept", accept);
    if (subprotocol)
        emu_reply_header(r, "Sec-WebSocket-Protocol", subprotocol);
    r->upgrade = 1;
    return 101;
}

/* ---------- MHD glue ---------- */

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    emu_http *h = cls;
    req_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = h;
    c->r.app = h->app;
    c->r.conn = con;
    c->r.start_mono_ms = time_mono_ms();
    c->r.resp_fd = -1;
    c->raw_uri = strdup(uri ? uri : "/");
    c->r.raw_uri = c->raw_uri;
    buf_init(&c->body, EMU_MAX_BODY);
    return c;
}

typedef struct {
    emu_stream_fn fn;
    void *ctx;
    void (*free_fn)(void *);
} stream_job;

static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    stream_job *w = cls;
    long n = w->fn(w->ctx, out, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_job *w = cls;
    if (w->free_fn)
        w->free_fn(w->ctx);
    free(w);
}

static int has_reply_header(const emu_req *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hdr_name[i], name) == 0)
            return 1;
    return 0;
}

static enum MHD_Result queue_reply(req_ctx *c)
{
    emu_req *r = &c->r;
    struct MHD_Response *resp;
    if (r->upgrade) {
        resp = MHD_create_response_for_upgrade(upgrade_cb, c);
    } else if (r->resp_fd >= 0) {
        /* MHD owns the descriptor from here, also when this fails. */
        resp = MHD_create_response_from_fd_at_offset64(r->resp_fd_size, r->resp_fd,
                                                       r->resp_fd_offset);
        if (!resp)
            close(r->resp_fd);
        r->resp_fd = -1;
    } else if (r->resp_stream) {
        stream_job *w = malloc(sizeof *w);
        if (!w)
            return MHD_NO;   /* the ctx is freed in the completion callback */
        w->fn = r->resp_stream;
        w->ctx = r->resp_stream_ctx;
        w->free_fn = r->resp_stream_free;
        resp = MHD_create_response_from_callback(
            r->resp_stream_size == UINT64_MAX ? MHD_SIZE_UNKNOWN : r->resp_stream_size,
            64 * 1024, stream_reader, w, stream_free);
        if (!resp) {
            free(w);
            return MHD_NO;
        }
        /* MHD owns the producer now and frees it through stream_free. */
        r->resp_stream = NULL;
        r->resp_stream_ctx = NULL;
        r->resp_stream_free = NULL;
    } else {
        resp = MHD_create_response_from_buffer(r->resp_len,
                                               r->resp_body ? r->resp_body : "",
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return MHD_NO;
    enum MHD_Result ok = MHD_YES;
    if (r->resp_type && !r->upgrade)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     r->resp_type);
    for (int i = 0; i < r->nhdr && ok == MHD_YES; i++)
        ok = MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    /* A relayed answer (record mode) carries the upstream's own. */
    if (ok == MHD_YES && !r->upgrade && !has_reply_header(r, "X-Daytona-Api-Version"))
        ok = MHD_add_response_header(resp, "X-Daytona-Api-Version",
                                     "0.190.0");
    if (ok == MHD_YES)
        ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    c->queued = 1;
    return ok;
}

static int parse_json_body(emu_req *r)
{
    if (r->body_len == 0)
        return 0;
    /* Empty-bodied POSTs arrive as application/x-www-form-urlencoded with
     * length 0 (trap 18); only a non-empty body is parsed. */
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
    /* Trailing garbage after the value is malformed JSON too.  (cJSON's own
     * require_null_terminated check cannot be used with an explicit length:
     * it always fails when the value ends the buffer.) */
    while (j && end && end < r->body + r->body_len &&
           (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (j && end != r->body + r->body_len) {
        cJSON_Delete(j);
        j = NULL;
    }
    /* Express's JSON parser (strict mode) takes only objects and arrays: a
     * bare number or string is a syntax error too. */
    if (j && !cJSON_IsObject(j) && !cJSON_IsArray(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    if (!j)
        return reply_bad_json(r);
    r->json = j;
    return 0;
}

/* Faults, routing and authentication: the part of dispatch that needs only
 * the request line and headers.  Returns 0 with c->rt set, or a status it
 * replied with (or 0 with r->drop set). */
/* Errors answered here for a preview request name the path without the
 * query, as the proxy's own do (preview.c): it may carry the preview's
 * auth token (DAYTONA_SANDBOX_AUTH_KEY).  The reply's `path` then falls
 * back to the decoded path. */
static void hide_preview_query(req_ctx *c)
{
    if (c->preview)
        c->r.raw_uri = NULL;
}

static int route_request(req_ctx *c)
{
    emu_req *r = &c->r;
    emu_app *app = c->h->app;

    fault_action fa;
    if (faults_match(app->faults, r->method, r->path, &fa)) {
        if (fa.latency_ms > 0)
            usleep((useconds_t)fa.latency_ms * 1000);
        if (fa.drop) {
            r->drop = 1;
            r->status = 0;
            return 0;
        }
        if (fa.status) {
            hide_preview_query(c);
            int st = emu_reply_error(r, fa.status, fa.message);
            if (fa.retry_after >= 0) {
                char ra[16];
                snprintf(ra, sizeof ra, "%d", fa.retry_after);
                emu_reply_header(r, "Retry-After", ra);
            }
            return st;
        }
    }

    /* Route on the raw path (MHD hands us a decoded one). */
    size_t qlen = strcspn(c->raw_uri, "?");
    char *raw_path = strndup(c->raw_uri, qlen);
    if (!raw_path)
        return emu_reply_error(r, 500, "An unexpected error occurred.");
    /* The SDK joins DAYTONA_API_URL and paths by concatenation, so a
     * trailing slash in the variable yields "/api//sandbox": tolerate it. */
    char *w = raw_path;
    for (const char *q = raw_path; *q; q++)
        if (!(q[0] == '/' && q[1] == '/'))
            *w++ = *q;
    *w = '\0';
    /* A Host of the form <port>-<id>.preview.localhost is a preview URL
     * ("host" mode), whatever the path. */
    static const emu_route preview_host_route = {"*", "", h_preview_host, 0, NULL};
    char label[128];
    if (preview_host_label(emu_header(r, MHD_HTTP_HEADER_HOST), label, sizeof label))
        c->rt = &preview_host_route;
    else
        c->rt = emu_route_match(c->h->routes, c->h->nroutes, r->method, raw_path,
                                r->params, &r->nparams, &r->param_store);
    free(raw_path);
    if (!c->rt) {
        /* Nest words it with the original URL: raw, query included (not
         * for a preview: see hide_preview_query). */
        char msg[600];
        int ul = (int)(c->preview ? strcspn(c->raw_uri, "?") : strlen(c->raw_uri));
        snprintf(msg, sizeof msg, "Cannot %s %.*s", r->method, ul < 500 ? ul : 500,
                 c->raw_uri);
        hide_preview_query(c);
        return emu_reply_error(r, 404, msg);
    }
    if (c->rt->flags & EMU_R_AUTH) {
        emu_err e = {0};
        if (auth_request(app, r, &e) != 0)
            return emu_reply_err(r, &e);
    }
    return 0;
}

static int dispatch(req_ctx *c)
{
    emu_req *r = &c->r;
    if (!c->early) {
        int st = route_request(c);
        if (st || r->drop)
            return st;
    }
    if (c->too_big) {
        hide_preview_query(c);
        return emu_reply_error(r, 413, "request entity too large");
    }
    if (r->sink_status && r->status)
        return r->status;
    /* A failed sink still goes to its handler: it knows the error (and its
     * shape, e.g. the toolbox's); the generic reply is the fallback. */
    if (r->sink_status) {
        int st = c->rt->handler(r);
        return st ? st : emu_reply_error(r, r->sink_status, "upload failed");
    }
    r->body = buf_str(&c->body);
    r->body_len = c->body.len;
    if (c->rt->flags & EMU_R_JSON) {
        int st = parse_json_body(r);
        if (st)
            return st;
    }
    return c->rt->handler(r);
}

/* For EMU_R_STREAM routes: route, authenticate and run `begin` as soon as
 * the headers are in, so a handler can take the body as it arrives. */
static int begin_early(req_ctx *c)
{
    emu_req *r = &c->r;
    int st = route_request(c);
    if (st || r->drop)
        return st ? st : -1;
    c->early = 1;
    if (c->rt->begin)
        return c->rt->begin(r);
    return 0;
}

static void journal_once(req_ctx *c)
{
    if (c->journaled || !c->r.method)
        return;
    c->journaled = 1;
    journal_add(c->h->app->journal, c->r.method, c->raw_uri,
                c->r.drop ? 0 : c->r.status,
                time_mono_ms() - c->r.start_mono_ms);
}

static enum MHD_Result finish(req_ctx *c)
{
    if (c->r.status == 0 && !c->r.drop)
        emu_reply_error(&c->r, 500, "An unexpected error occurred.");
    /* Journaled before the answer leaves, so a client that got its
     * response always finds the request in /_emulator/journal. */
    journal_once(c);
    if (c->r.drop)
        return MHD_NO;
    return queue_reply(c);
}

static int wants_early(req_ctx *c)
{
    /* Only the toolbox streams bodies; deciding by prefix keeps every other
     * request on the simple buffered path. */
    return strncmp(c->raw_uri, "/toolbox/", 9) == 0 ||
           strncmp(c->raw_uri, "/api/toolbox/", 13) == 0;
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
        return MHD_NO;   /* allocation failed in uri_log_cb */
    if (!c->started) {
        c->started = 1;
        c->r.conn = con;
        c->r.method = method;
        c->r.path = url;
        /* An app behind a preview takes uploads of any kind: its requests
         * are relayed whole, up to a larger cap than API JSON bodies. */
        const char *host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host");
        char label[128];
        c->preview = strncmp(c->raw_uri, "/preview/", 9) == 0 ||
                     preview_host_label(host, label, sizeof label);
        if (c->preview)
            buf_init(&c->body, EMU_MAX_PREVIEW_BODY);
        if (wants_early(c)) {
            int st = begin_early(c);
            if (c->r.drop)
                return MHD_NO;
            if (st > 0) {
                /* Refused before the body: answer now; MHD closes the
                 * connection rather than read a body nobody wants. */
                return finish(c);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (c->r.sink) {
            if (!c->r.sink_status) {
                int st = c->r.sink(&c->r, upload_data, *upload_data_size);
                if (st)
                    c->r.sink_status = st;
            }
        } else if (!c->too_big &&
                   buf_add(&c->body, upload_data, *upload_data_size) != BUF_OK) {
            /* Keep reading past the cap so the client gets a clean 413
             * rather than a reset; the extra bytes are discarded. */
            c->too_big = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->queued)
        return MHD_YES;
    dispatch(c);
    return finish(c);
}

static void completed_cb(void *cls, struct MHD_Connection *con,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)con;
    (void)toe;
    emu_http *h = cls;
    req_ctx *c = *con_cls;
    if (!c)
        return;
    (void)h;
    journal_once(c);   /* a request that never got an answer */
    if (c->up_cls && c->up_free)
        c->up_free(c->up_cls);
    if (c->r.route_ctx && c->r.route_ctx_free)
        c->r.route_ctx_free(c->r.route_ctx);
    reply_reset(&c->r);
    cJSON_Delete(c->r.json);
    free(c->r.param_store);
    for (int i = 0; i < c->r.nhdr; i++) {
        free(c->r.hdr_name[i]);
        free(c->r.hdr_value[i]);
    }
    buf_release(&c->body);
    free(c->raw_uri);
    free(c);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    emu_http *h = cls;
    if (h->app->cfg.log_level >= EMU_LOG_DEBUG)
        vfprintf(stderr, fmt, ap);
}

emu_http *emu_http_start(emu_app *app, const char *host, unsigned port,
                         const emu_route *routes, size_t nroutes,
                         char *err, size_t errlen)
{
    emu_http *h = calloc(1, sizeof *h);
    struct addrinfo *ai = NULL;
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->app = app;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->routes = routes;
    h->nroutes = nroutes;

    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%u", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve --host %s: %s", host,
                 gai_strerror(gai));
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Limits (STYLE 10): connection count, per-connection memory, idle
     * timeout.  The idle timeout is long because Node's keep-alive agent
     * reuses sockets and retries only idempotent requests when the server
     * closes one under it (control-plane.md §11.2). */
    h->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, access_cb, h,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, h,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)2048,
        /* 64 KiB (twice MHD's default): MHD zeroes a connection's whole
         * pool after every request, so 256 KiB cost a tenth of the CPU of
         * each keep-alive GET (bench 1); uploads stream as fast. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%u", host, port);
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

unsigned emu_http_port(const emu_http *h)
{
    return h ? h->port : 0;
}

void emu_http_stop(emu_http *h)
{
    if (!h)
        return;
    /* Upgraded sockets belong to their own threads (closed by their owners,
     * e.g. events_free); wait for them so none touches a stopped daemon. */
    MHD_quiesce_daemon(h->d);
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    while (h->upgraded > 0)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->d);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
