/*
 * preview.c - the preview proxy; see preview.h.
 */
#include "preview.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "auth.h"
#include "clock.h"
#include "executor.h"
#include "handlers.h"
#include "lifecycle.h"
#include "rnd.h"
#include "store.h"

#define MAX_RESP_HEAD (64 * 1024)
#define AUTH_PARAM "DAYTONA_SANDBOX_AUTH_KEY"

/* ---------- labels and access ---------- */

/* An error reply whose `path` leaves out the query string: a preview's
 * query may carry its auth token (DAYTONA_SANDBOX_AUTH_KEY). */
static int preview_error(emu_req *r, int status, const char *message)
{
    r->raw_uri = NULL;
    return emu_reply_error(r, status, message);
}

/* "<port>-<rest>" → port and rest. 0 or -1. */
static int parse_label(const char *label, int *port, char *rest, size_t n)
{
    char *end = NULL;
    long p = strtol(label, &end, 10);
    if (end == label || *end != '-' || p < 1 || p > 65535 || !end[1] ||
        strlen(end + 1) >= n)
        return -1;
    *port = (int)p;
    snprintf(rest, n, "%s", end + 1);
    return 0;
}

int preview_host_label(const char *host, char *out, size_t n)
{
    static const char suffix[] = ".preview.localhost";
    if (!host)
        return 0;
    /* Host names are case-insensitive; ids and signed tokens are
     * lowercase, so the label is compared in lowercase.  The suffix must
     * end the name (before a port or a final dot): a name that merely
     * contains it is some other host. */
    const char *dot = strcasestr(host, suffix);
    if (!dot || (size_t)(dot - host) >= n || dot == host)
        return 0;
    const char *after = dot + sizeof suffix - 1;
    if (*after == '.')
        after++;
    if (*after != '\0' && *after != ':')
        return 0;
    for (size_t i = 0; i < (size_t)(dot - host); i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[dot - host] = '\0';
    int port;
    char rest[64];
    return parse_label(out, &port, rest, sizeof rest) == 0;
}

static const char *cookie_value(emu_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

/* May this request reach sandbox sb (found by id)?  A public sandbox is
 * open; otherwise its token or an API key of its organization. */
static int allowed(emu_req *r, const emu_sandbox *sb, int *used_bearer)
{
    if (sb->is_public)
        return 1;
    const char *cand[] = {emu_header(r, "X-Daytona-Preview-Token"),
                          emu_query(r, AUTH_PARAM), cookie_value(r, AUTH_PARAM)};
    for (size_t i = 0; i < 3; i++)
        if (cand[i] && strcmp(cand[i], sb->auth_token) == 0)
            return 1;
    const char *h = emu_header(r, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        char org[40];
        emu_err e = {0};
        if (auth_token(r->app, h + 7, emu_header(r, "X-Daytona-Organization-ID"),
                       org, &e) == 0 && strcmp(org, sb->org_id) == 0) {
            *used_bearer = 1;   /* the proxy's credential: not the app's */
            return 1;
        }
    }
    return 0;
}

/* Resolves the label to a started sandbox the caller may reach.  Replies
 * and returns -1 otherwise. */
static int resolve(emu_req *r, const char *label, emu_sandbox *sb, int *port,
                   int *used_bearer)
{
    char rest[64];
    if (parse_label(label, port, rest, sizeof rest) != 0)
        return preview_error(r, 400, "Invalid preview URL"), -1;
    emu_code rc;
    int signed_url = !uuid_is_valid(rest);
    if (signed_url) {
        char id[SB_ID_LEN];
        int tport = 0;
        rc = store_preview_token_get(r->app->store, rest, clock_now(r->app->clock),
                                     id, &tport);
        if (rc != EMU_OK || tport != *port)
            return preview_error(r, 401, "Invalid or expired preview token"), -1;
        rc = store_sandbox_get(r->app->store, NULL, id, 1, sb);
    } else {
        rc = store_sandbox_get(r->app->store, NULL, rest, 1, sb);
    }
    if (rc != EMU_OK) {
        char msg[128];
        snprintf(msg, sizeof msg, "Sandbox with ID %.64s not found", rest);
        return preview_error(r, 404, msg), -1;
    }
    if (!signed_url && !allowed(r, sb, used_bearer)) {
        sandbox_release(sb);
        return preview_error(r, 401, "Unauthorized"), -1;
    }
    if (strcmp(sb->state, "started") != 0) {
        sandbox_release(sb);
        return preview_error(r, 503, "Sandbox is not running"), -1;
    }
    if (clock_now(r->app->clock) - sb->last_activity_at >= 5000) {
        lc_args a = {0};
        a.by_id_only = 1;
        emu_err e = {0};
        lc_do(r->app, sb->org_id, sb->id, LC_ACTIVITY, &a, NULL, &e);
    }
    return 0;
}

/* ---------- the upstream request ---------- */

static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int hop_by_hop(const char *k, int ws)
{
    static const char *const drop[] = {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
        "TE", "Trailer", "Transfer-Encoding", "Host", "Content-Length",
        "X-Daytona-Preview-Token",
        /* The proxy reads the whole body before forwarding it, so the
         * upstream must not wait for a 100 Continue of its own. */
        "Expect",
    };
    if (!ws && strcasecmp(k, "Upgrade") == 0)
        return 1;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strcasecmp(k, drop[i]) == 0)
            return 1;
    return 0;
}

typedef struct {
    buf *b;
    int ws;
    int drop_auth;          /* Authorization authenticated the proxy request */
} hdr_ctx;

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind,
                                   const char *k, const char *v)
{
    (void)kind;
    hdr_ctx *h = cls;
    if (!k || !v || hop_by_hop(k, h->ws) || strpbrk(v, "\r\n") ||
        (h->drop_auth && strcasecmp(k, "Authorization") == 0))
        return MHD_YES;
    buf_adds(h->b, k);
    buf_adds(h->b, ": ");
    buf_adds(h->b, v);
    buf_adds(h->b, "\r\n");
    return MHD_YES;
}

/* Request target: the path after the label, plus the query without the
 * auth parameter (the proxy strips it once it has been checked). */
static void target(emu_req *r, const char *path_rest, buf *out)
{
    buf_adds(out, path_rest[0] == '/' ? "" : "/");
    buf_adds(out, path_rest);
    const char *q = strchr(r->raw_uri, '?');
    if (!q)
        return;
    int first = 1;
    const char *p = q + 1;
    while (*p) {
        const char *e = strchr(p, '&');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (!(l >= strlen(AUTH_PARAM) && strncmp(p, AUTH_PARAM, strlen(AUTH_PARAM)) == 0 &&
              (p[strlen(AUTH_PARAM)] == '=' || l == strlen(AUTH_PARAM)))) {
            buf_adds(out, first ? "?" : "&");
            buf_add(out, p, l);
            first = 0;
        }
        p = e ? e + 1 : p + l;
    }
}

/* ---------- streaming the upstream response ---------- */

typedef struct {
    int fd;
    char *pending;          /* body bytes read with the headers */
    size_t plen, poff;
    int chunked;
    long long remaining;    /* content-length left, -1 = until close */
    /* chunked decoder */
    long long chunk_left;
    int state;              /* 0 size line, 1 data, 2 CRLF after data, 3 done */
    char line[64];
    size_t line_len;
} upstream;

static void upstream_free(void *p)
{
    upstream *u = p;
    if (u->fd >= 0)
        close(u->fd);
    free(u->pending);
    free(u);
}

static ssize_t up_read(upstream *u, char *out, size_t max)
{
    if (u->poff < u->plen) {
        size_t n = u->plen - u->poff < max ? u->plen - u->poff : max;
        memcpy(out, u->pending + u->poff, n);
        u->poff += n;
        return (ssize_t)n;
    }
    ssize_t n;
    do {
        n = recv(u->fd, out, max, 0);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* De-chunks in place: returns bytes of body produced from raw[0..n). */
static size_t dechunk(upstream *u, char *raw, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n && u->state != 3; ) {
        if (u->state == 0) {                    /* size line */
            char c = raw[i++];
            if (c == '\n') {
                u->line[u->line_len] = '\0';
                u->chunk_left = strtoll(u->line, NULL, 16);
                u->line_len = 0;
                u->state = u->chunk_left > 0 ? 1 : 3;
            } else if (c != '\r' && u->line_len + 1 < sizeof u->line) {
                u->line[u->line_len++] = c;
            }
        } else if (u->state == 1) {             /* data */
            size_t take = n - i < (size_t)u->chunk_left ? n - i : (size_t)u->chunk_left;
            memmove(raw + w, raw + i, take);
            w += take;
            i += take;
            u->chunk_left -= (long long)take;
            if (u->chunk_left == 0)
                u->state = 2;
        } else {                                /* CRLF after data */
            if (raw[i++] == '\n')
                u->state = 0;
        }
    }
    return w;
}

static long upstream_produce(void *ctx, char *out, size_t max)
{
    upstream *u = ctx;
    for (;;) {
        if ((u->chunked && u->state == 3) || u->remaining == 0)
            return 0;
        size_t want = max;
        if (!u->chunked && u->remaining > 0 && (long long)want > u->remaining)
            want = (size_t)u->remaining;
        ssize_t n = up_read(u, out, want);
        if (n < 0)
            return -1;
        if (n == 0)
            return u->chunked ? -1 : (u->remaining > 0 ? -1 : 0);
        if (!u->chunked) {
            if (u->remaining > 0)
                u->remaining -= n;
            return (long)n;
        }
        size_t body = dechunk(u, out, (size_t)n);
        if (body > 0)
            return (long)body;
    }
}

/* Reads the response head; returns its length (body bytes may follow in
 * b), or -1. */
static long read_head(int fd, buf *b)
{
    char chunk[4096];
    for (;;) {
        const char *end = b->len ? strstr(buf_str(b), "\r\n\r\n") : NULL;
        if (end) {
            long hl = (long)(end - b->data) + 4;
            int code = 0;
            /* An interim 1xx (e.g. 100 Continue) is not the answer: drop
             * it and read on.  101 is final for an upgrade. */
            if (sscanf(b->data, "HTTP/1.%*d %d", &code) == 1 && code >= 100 &&
                code < 200 && code != 101) {
                memmove(b->data, b->data + hl, b->len - (size_t)hl);
                b->len -= (size_t)hl;
                b->data[b->len] = '\0';
                continue;
            }
            return hl;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 60000) <= 0)
            return -1;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0 || buf_add(b, chunk, (size_t)n) != BUF_OK)
            return -1;
    }
}

/* ---------- WebSocket relay ---------- */

typedef struct {
    int up;
    char *early;            /* upstream bytes that came after its 101 */
    size_t early_len;
} relay;

static void relay_free(void *p)
{
    relay *rl = p;
    if (rl->up >= 0)
        close(rl->up);
    free(rl->early);
    free(rl);
}

static void relay_serve(void *cls, int fd, const char *extra, size_t extra_len)
{
    relay *rl = cls;
    if ((extra_len && send_all(rl->up, extra, extra_len) != 0) ||
        (rl->early_len && send_all(fd, rl->early, rl->early_len) != 0)) {
        relay_free(rl);
        return;
    }
    char chunk[16384];
    for (;;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {rl->up, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        int stop = 0;
        for (int i = 0; i < 2 && !stop; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = recv(p[i].fd, chunk, sizeof chunk, 0);
            if (n <= 0 || send_all(p[1 - i].fd, chunk, (size_t)n) != 0)
                stop = 1;
        }
        if (stop)
            break;
    }
    relay_free(rl);
}

/* ---------- the handler ---------- */

/* path_mode: reached as /preview/<label>/..., so the upstream's
 * root-relative redirects need that prefix to stay in the preview. */
static int proxy(emu_req *r, const char *label, const char *path_rest,
                 int path_mode)
{
    emu_sandbox sb;
    sandbox_init(&sb);
    int port = 0, st, used_bearer = 0;
    if (resolve(r, label, &sb, &port, &used_bearer) != 0)
        return r->status;
    /* Inside the sandbox's own network (executor.h). */
    int fd = executor_connect(r->app->executor, sb.id, port);
    sandbox_release(&sb);
    const char *upg = emu_header(r, "Upgrade");
    int ws = upg && strcasecmp(upg, "websocket") == 0;
    buf req, head;
    buf_init(&req, 256 * 1024 + EMU_MAX_PREVIEW_BODY);
    buf_init(&head, MAX_RESP_HEAD);
    if (fd < 0) {
        st = preview_error(r, 502, "Bad Gateway: nothing is listening on that "
                                     "port in the sandbox");
        goto cleanup;
    }
    buf_adds(&req, r->method);
    buf_adds(&req, " ");
    target(r, path_rest, &req);
    char host[64];
    snprintf(host, sizeof host, "localhost:%d", port);
    buf_adds(&req, " HTTP/1.1\r\nHost: ");
    buf_adds(&req, host);
    buf_adds(&req, "\r\n");
    hdr_ctx hc = {&req, ws, used_bearer};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, copy_header, &hc);
    if (ws) {
        buf_adds(&req, "Connection: Upgrade\r\n");
    } else {
        char cl[64];
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\nConnection: close\r\n", r->body_len);
        buf_adds(&req, cl);
    }
    buf_adds(&req, "\r\n");
    if (buf_add(&req, r->body, r->body_len) != BUF_OK ||
        send_all(fd, req.data, req.len) != 0) {
        st = preview_error(r, 502, "Bad Gateway");
        goto cleanup;
    }
    long hl = read_head(fd, &head);
    int code = 0;
    if (hl < 0 || sscanf(buf_str(&head), "HTTP/1.%*d %d", &code) != 1 ||
        code < 100 || code > 599) {
        st = preview_error(r, 502, "Bad Gateway: invalid response from the "
                                     "sandbox's server");
        goto cleanup;
    }
    /* Copy the end-to-end response headers. */
    int chunked = 0;
    long long clen = -1;
    char *line = strstr(head.data, "\r\n") + 2;
    char *proto = NULL;
    while (line < head.data + hl - 2) {
        char *eol = strstr(line, "\r\n");
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strcasecmp(line, "Transfer-Encoding") == 0)
                chunked = strcasestr(v, "chunked") != NULL;
            else if (strcasecmp(line, "Content-Length") == 0)
                clen = atoll(v);
            else if (strcasecmp(line, "Sec-WebSocket-Protocol") == 0)
                proto = v;
            else if (path_mode && strcasecmp(line, "Location") == 0 &&
                     v[0] == '/' && v[1] != '/') {
                /* "//host/..." is scheme-relative: left alone. */
                char loc[4096];
                int ln = snprintf(loc, sizeof loc, "/preview/%s%s", label, v);
                emu_reply_header(r, line, ln > 0 && (size_t)ln < sizeof loc ? loc : v);
            }
            else if (!hop_by_hop(line, 0) && strcasecmp(line, "Upgrade") != 0 &&
                     strcasecmp(line, "Sec-WebSocket-Accept") != 0 &&
                     strcasecmp(line, "Content-Type") != 0)
                emu_reply_header(r, line, v);
            if (strcasecmp(line, "Content-Type") == 0)
                emu_reply_header(r, "Content-Type", v);
        }
        line = eol + 2;
    }
    if (ws && code == 101) {
        relay *rl = calloc(1, sizeof *rl);
        if (!rl) {
            st = preview_error(r, 500, "An unexpected error occurred.");
            goto cleanup;
        }
        rl->up = fd;
        fd = -1;
        rl->early_len = head.len - (size_t)hl;
        rl->early = rl->early_len ? malloc(rl->early_len) : NULL;
        if (rl->early)
            memcpy(rl->early, head.data + hl, rl->early_len);
        else
            rl->early_len = 0;
        st = emu_reply_websocket(r, proto, relay_serve, rl, relay_free);
        goto cleanup;
    }
    upstream *u = calloc(1, sizeof *u);
    if (!u) {
        st = preview_error(r, 500, "An unexpected error occurred.");
        goto cleanup;
    }
    u->fd = fd;
    fd = -1;
    u->chunked = chunked;
    u->remaining = (strcmp(r->method, "HEAD") == 0 || code == 204 || code == 304)
                       ? 0 : (chunked ? -1 : clen);
    u->plen = head.len - (size_t)hl;
    u->pending = u->plen ? malloc(u->plen) : NULL;
    if (u->pending)
        memcpy(u->pending, head.data + hl, u->plen);
    else
        u->plen = 0;
    /* The content type was copied as a header; the stream has none. */
    /* The server's Content-Length goes on (also for HEAD): clients show
     * download progress and size checks with it. */
    if (!chunked && clen >= 0 && code != 204 && code != 304)
        st = emu_reply_stream_sized(r, code, NULL, (uint64_t)clen, upstream_produce, u,
                                    upstream_free);
    else
        st = emu_reply_stream(r, code, NULL, upstream_produce, u, upstream_free);
cleanup:
    if (fd >= 0)
        close(fd);
    buf_release(&req);
    buf_release(&head);
    return st;
}

int h_preview(emu_req *r)
{
    /* params: [0] label, [1] the raw rest of the path (may be absent). */
    return proxy(r, r->params[0], r->nparams > 1 ? r->params[1] : "", 1);
}

int h_preview_host(emu_req *r)
{
    char label[128];
    if (!preview_host_label(emu_header(r, MHD_HTTP_HEADER_HOST), label, sizeof label))
        return preview_error(r, 400, "Invalid preview URL");
    size_t ql = strcspn(r->raw_uri, "?");
    char path[4096];
    snprintf(path, sizeof path, "%.*s", (int)(ql < 4000 ? ql : 4000), r->raw_uri);
    return proxy(r, label, path, 0);
}
