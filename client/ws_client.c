/*
 * ws_client.c - a WebSocket client for libdaytona (session log follow, the
 * code interpreter, PTYs).
 *
 * Debian's libcurl is built without its WebSocket support, so curl only
 * opens the connection (CURLOPT_CONNECT_ONLY: TCP, and TLS for https) and
 * this file speaks HTTP/1.1 Upgrade and RFC 6455 framing over
 * curl_easy_send/curl_easy_recv, with the frame codec from common/ws.h.
 * That keeps wss:// to the real Daytona working exactly like ws:// to the
 * emulator.
 *
 * A dt__ws is used by one thread at a time (one curl handle underneath).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "codec.h"
#include "internal.h"
#include "rnd.h"
#include "timeutil.h"
#include "ws.h"

#define WS_MAX_HANDSHAKE (16 * 1024)
#define WS_MAX_ERROR_BODY (64 * 1024)
#define WS_SEND_TIMEOUT_MS 30000L

struct dt__ws {
    CURL *h;
    curl_socket_t sock;
    unsigned char *rx;       /* received, not yet parsed bytes */
    size_t rx_len, rx_cap, rx_max;
    buf frag;                /* a fragmented message being reassembled */
    int frag_op;             /* its opcode, 0 when none */
    int close_sent;
    size_t max_message;
};

/* Waits until the socket is readable/writable or the deadline passes.
 * deadline < 0 = forever.  Returns 1 ready, 0 timeout, -1 error. */
static int wait_sock(curl_socket_t s, short ev, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - time_mono_ms();
            if (left <= 0)
                return 0;
            ms = left > 60000 ? 60000 : (int)left;
        }
        struct pollfd p = {.fd = s, .events = ev};
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0 && deadline >= 0 && time_mono_ms() >= deadline)
            return 0;
    }
}

static dt_code send_all(dt__ws *w, const void *data, size_t len,
                        dt_error *err)
{
    const char *p = data;
    int64_t deadline = time_mono_ms() + WS_SEND_TIMEOUT_MS;
    while (len > 0) {
        size_t n = 0;
        CURLcode cc = curl_easy_send(w->h, p, len, &n);
        if (cc == CURLE_AGAIN) {
            int r = wait_sock(w->sock, POLLOUT, deadline);
            if (r <= 0)
                return dt__fail(err, r == 0 ? DT_ETIMEOUT : DT_EIO, 0,
                                "WebSocket: sending timed out or failed");
            continue;
        }
        if (cc != CURLE_OK)
            return dt__fail(err, DT_EIO, 0, "WebSocket: send failed: %s",
                            curl_easy_strerror(cc));
        p += n;
        len -= n;
    }
    return DT_OK;
}

/* Reads what is available into rx (waiting up to the deadline).
 * DT_ETIMEOUT when nothing came; DT_EIO when the peer went away. */
static dt_code read_some(dt__ws *w, int64_t deadline, dt_error *err)
{
    if (w->rx_len == w->rx_cap) {
        if (w->rx_cap >= w->rx_max)
            return dt__fail(err, DT_ETOOBIG, 0,
                            "WebSocket: frame larger than %zu bytes",
                            w->rx_max);
        size_t ncap = w->rx_cap ? w->rx_cap * 2 : 16384;
        if (ncap > w->rx_max)
            ncap = w->rx_max;
        unsigned char *nrx = realloc(w->rx, ncap);
        if (!nrx)
            return dt__fail(err, DT_ENOMEM, 0, "out of memory");
        w->rx = nrx;
        w->rx_cap = ncap;
    }
    for (;;) {
        size_t n = 0;
        CURLcode cc = curl_easy_recv(w->h, w->rx + w->rx_len,
                                     w->rx_cap - w->rx_len, &n);
        if (cc == CURLE_OK && n == 0)
            return dt__fail(err, DT_EIO, 0, "WebSocket: connection closed "
                                            "by the server");
        if (cc == CURLE_OK) {
            w->rx_len += n;
            return DT_OK;
        }
        if (cc != CURLE_AGAIN)
            return dt__fail(err, DT_EIO, 0, "WebSocket: receive failed: %s",
                            curl_easy_strerror(cc));
        int r = wait_sock(w->sock, POLLIN, deadline);
        if (r == 0)
            return dt__fail(err, DT_ETIMEOUT, 0,
                            "WebSocket: no message within the timeout");
        if (r < 0)
            return dt__fail(err, DT_EIO, 0, "WebSocket: poll failed");
    }
}

static void rx_consume(dt__ws *w, size_t n)
{
    memmove(w->rx, w->rx + n, w->rx_len - n);
    w->rx_len -= n;
}

static dt_code send_frame(dt__ws *w, int opcode, const void *data, size_t len,
                          dt_error *err)
{
    uint8_t mask[4];
    if (rnd_bytes(mask, sizeof mask) != 0)
        return dt__fail(err, DT_EIO, 0, "no randomness for the frame mask");
    unsigned char *f = malloc(14 + len);
    if (!f)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    size_t hl = ws_frame_header(f, 1, opcode, len, mask);
    if (len)
        memcpy(f + hl, data, len);
    ws_mask(f + hl, len, mask, 0);
    dt_code rc = send_all(w, f, hl + len, err);
    free(f);
    return rc;
}

/* ---- handshake ---- */

/* ws:// and wss:// become http:// and https:// for curl. */
static char *http_url(const char *url, dt_code *rc)
{
    const char *rest = url;
    const char *scheme = NULL;
    if (strncasecmp(url, "ws://", 5) == 0) {
        scheme = "http://";
        rest = url + 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        scheme = "https://";
        rest = url + 6;
    }
    if (!scheme)
        return dt__strdup(url, rc);
    size_t n = strlen(scheme) + strlen(rest) + 1;
    char *s = malloc(n);
    if (!s) {
        *rc = DT_ENOMEM;
        return NULL;
    }
    snprintf(s, n, "%s%s", scheme, rest);
    return s;
}

/* The request line target and Host header value of url. */
static dt_code url_parts(const char *url, buf *target, buf *host,
                         dt_error *err)
{
    CURLU *u = curl_url();
    char *path = NULL, *query = NULL, *h = NULL, *port = NULL;
    dt_code rc = DT_OK;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        rc = dt__fail(err, DT_EINVAL, 0, "invalid WebSocket URL %.300s", url);
        goto cleanup;
    }
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (buf_adds(target, path) || (query && (buf_adds(target, "?") ||
                                             buf_adds(target, query))) ||
        buf_adds(host, h) || (port && (buf_adds(host, ":") ||
                                       buf_adds(host, port))))
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
cleanup:
    curl_free(path);
    curl_free(query);
    curl_free(h);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static dt_code send_handshake(dt_client *c, dt__ws *w, const char *url,
                              char key[32], dt_error *err)
{
    buf target, host, req;
    buf_init(&target, 64 * 1024);
    buf_init(&host, 1024);
    buf_init(&req, WS_MAX_HANDSHAKE + 64 * 1024);
    uint8_t raw[16];
    dt_code rc = DT_OK;
    if (rnd_bytes(raw, sizeof raw) != 0) {
        rc = dt__fail(err, DT_EIO, 0, "no randomness for the WebSocket key");
        goto cleanup;
    }
    base64_encode(raw, sizeof raw, key);
    if ((rc = url_parts(url, &target, &host, err)) != DT_OK)
        goto cleanup;
    const char *lines[] = {
        "GET ", buf_str(&target), " HTTP/1.1\r\nHost: ", buf_str(&host),
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ", key,
        "\r\nUser-Agent: ", c->user_agent, "\r\n", c->auth_header, "\r\n",
        c->org_header ? c->org_header : "", c->org_header ? "\r\n" : "",
        DT__SDK_VERSION_HEADER "\r\nX-Daytona-Source: libdaytona\r\n\r\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (buf_adds(&req, lines[i]) != BUF_OK) {
            rc = dt__fail(err, DT_ENOMEM, 0, "WebSocket request too large");
            goto cleanup;
        }
    }
    rc = send_all(w, req.data, req.len, err);
cleanup:
    buf_release(&target);
    buf_release(&host);
    buf_release(&req);
    return rc;
}

/* Case-insensitive search for a header's value in a header block. */
static int find_header(const char *block, const char *name, char *out,
                       size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(block, "\r\n"); l; l = strstr(l, "\r\n")) {
        l += 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Reads an error response's body (Content-Length or until close). */
static dt_code fail_handshake(dt__ws *w, long status, const char *hdrs,
                              size_t hdr_len, int64_t deadline, dt_error *err)
{
    char cl[32] = "";
    long long want = find_header(hdrs, "Content-Length", cl, sizeof cl)
                         ? atoll(cl) : WS_MAX_ERROR_BODY;
    if (want > WS_MAX_ERROR_BODY || want < 0)
        want = WS_MAX_ERROR_BODY;
    while ((long long)(w->rx_len - hdr_len) < want &&
           read_some(w, deadline, NULL) == DT_OK)
        ;
    size_t blen = w->rx_len - hdr_len;
    if ((long long)blen > want)
        blen = (size_t)want;
    return dt__fail_response(err, status, (const char *)w->rx + hdr_len, blen);
}

static dt_code read_handshake(dt__ws *w, const char key[32], int64_t deadline,
                              dt_error *err)
{
    char *end = NULL;
    while (!end) {
        dt_code rc = read_some(w, deadline, err);
        if (rc != DT_OK)
            return rc;
        end = memmem(w->rx, w->rx_len, "\r\n\r\n", 4);
        if (!end && w->rx_len > WS_MAX_HANDSHAKE)
            return dt__fail(err, DT_EPROTO, 0, "WebSocket: handshake "
                                               "response too long");
    }
    size_t hdr_len = (size_t)(end - (char *)w->rx) + 4;
    char *hdrs = strndup((const char *)w->rx, hdr_len);
    if (!hdrs)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    long status = 0;
    dt_code rc = DT_OK;
    if (sscanf(hdrs, "HTTP/1.%*d %ld", &status) != 1) {
        rc = dt__fail(err, DT_EPROTO, 0, "WebSocket: bad status line");
    } else if (status != 101) {
        rc = fail_handshake(w, status, hdrs, hdr_len, deadline, err);
    } else {
        char accept[64], expect[29];
        ws_accept_key(key, expect);
        if (!find_header(hdrs, "Sec-WebSocket-Accept", accept, sizeof accept) ||
            strcmp(accept, expect) != 0)
            rc = dt__fail(err, DT_EWS, 101, "WebSocket: wrong "
                                            "Sec-WebSocket-Accept");
        else
            rx_consume(w, hdr_len);   /* frames may follow at once */
    }
    free(hdrs);
    return rc;
}

dt_code dt__ws_connect(dt_client *c, const char *url, long timeout_ms,
                       dt__ws **out, dt_error *err)
{
    dt_code rc = DT_OK;
    char key[32];
    char *hurl = http_url(url, &rc);
    dt__ws *w = calloc(1, sizeof *w);
    if (!hurl || !w) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto fail;
    }
    w->max_message = c->max_response;
    w->rx_max = c->max_response + 14;
    buf_init(&w->frag, c->max_response);
    int64_t deadline = time_mono_ms() +
                       (timeout_ms > 0 ? timeout_ms : c->request_timeout_ms);
    if (!(w->h = curl_easy_init())) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto fail;
    }
    curl_easy_setopt(w->h, CURLOPT_URL, hurl);
    curl_easy_setopt(w->h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    CURLcode cc = curl_easy_perform(w->h);
    if (cc != CURLE_OK) {
        rc = dt__fail(err, cc == CURLE_OPERATION_TIMEDOUT ? DT_ETIMEOUT
                                                          : DT_ECONNECT,
                      0, "WebSocket %s: %s", hurl, curl_easy_strerror(cc));
        goto fail;
    }
    if (curl_easy_getinfo(w->h, CURLINFO_ACTIVESOCKET, &w->sock) != CURLE_OK ||
        w->sock == CURL_SOCKET_BAD) {
        rc = dt__fail(err, DT_EIO, 0, "WebSocket: no socket");
        goto fail;
    }
    if ((rc = send_handshake(c, w, hurl, key, err)) != DT_OK ||
        (rc = read_handshake(w, key, deadline, err)) != DT_OK)
        goto fail;
    free(hurl);
    *out = w;
    return DT_OK;
fail:
    free(hurl);
    if (w)
        w->close_sent = 1;   /* no close frame before the upgrade */
    dt__ws_close(w, 0);
    return rc;
}

/* ---- messages ---- */

dt_code dt__ws_send(dt__ws *w, int opcode, const void *data, size_t len,
                    dt_error *err)
{
    if (w->close_sent)
        return dt__fail(err, DT_EWS, 0, "WebSocket already closed");
    return send_frame(w, opcode, data, len, err);
}

/* Handles one complete frame.  Returns 1 when a message (or close) is
 * ready for the caller, 0 to go on, -1 on error. */
static int handle_frame(dt__ws *w, const ws_frame *f, const uint8_t *payload,
                        int *opcode, buf *msg, int *close_code, dt_error *err)
{
    size_t n = (size_t)f->payload_len;
    switch (f->opcode) {
    case WS_OP_PING:
        return send_frame(w, WS_OP_PONG, payload, n, err) == DT_OK ? 0 : -1;
    case WS_OP_PONG:
        return 0;
    case WS_OP_CLOSE:
        *close_code = n >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        if (!w->close_sent) {
            w->close_sent = 1;
            send_frame(w, WS_OP_CLOSE, payload, n >= 2 ? 2 : 0, NULL);
        }
        *opcode = WS_OP_CLOSE;
        buf_reset(msg);
        if (n > 2 && buf_add(msg, payload + 2, n - 2) != BUF_OK) {
            dt__fail(err, DT_ETOOBIG, 0, "WebSocket: close reason too long");
            return -1;
        }
        return 1;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (w->frag_op) {
            dt__fail(err, DT_EWS, 0, "WebSocket: new message inside a "
                                     "fragmented one");
            return -1;
        }
        w->frag_op = f->opcode;
        buf_reset(&w->frag);
        /* fall through */
    case WS_OP_CONT:
        if (!w->frag_op || buf_add(&w->frag, payload, n) != BUF_OK) {
            dt__fail(err, w->frag_op ? DT_ETOOBIG : DT_EWS, 0,
                     "WebSocket: bad continuation or message too large");
            return -1;
        }
        if (!f->fin)
            return 0;
        *opcode = w->frag_op;
        w->frag_op = 0;
        buf_reset(msg);
        if (w->frag.len && buf_add(msg, w->frag.data, w->frag.len) != BUF_OK) {
            dt__fail(err, DT_ETOOBIG, 0, "WebSocket: message too large");
            return -1;
        }
        return 1;
    default:
        dt__fail(err, DT_EWS, 0, "WebSocket: unknown opcode %d", f->opcode);
        return -1;
    }
}

dt_code dt__ws_recv(dt__ws *w, int *opcode, buf *msg, int *close_code,
                    long timeout_ms, dt_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
    int dummy_close = 0;
    dt_error local;
    if (!err)
        err = &local;   /* handle_frame reports its code through err */
    if (!close_code)
        close_code = &dummy_close;
    for (;;) {
        ws_frame f;
        ws_code wc = ws_frame_parse(w->rx, w->rx_len, w->max_message, 0, &f);
        if (wc == WS_OK && f.header_len + f.payload_len <= w->rx_len) {
            int r = handle_frame(w, &f, w->rx + f.header_len, opcode, msg,
                                 close_code, err);
            rx_consume(w, f.header_len + (size_t)f.payload_len);
            if (r < 0)
                return err->code;
            if (r > 0)
                return DT_OK;
            continue;
        }
        if (wc != WS_OK && wc != WS_NEED_MORE)
            return dt__fail(err, wc == WS_ETOOBIG ? DT_ETOOBIG : DT_EWS, 0,
                            "WebSocket: %s", ws_strerror(wc));
        dt_code rc = read_some(w, deadline, err);
        if (rc != DT_OK)
            return rc;
    }
}

void dt__ws_close(dt__ws *w, int code)
{
    if (!w)
        return;
    if (w->h && !w->close_sent && code > 0) {
        uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        w->close_sent = 1;
        send_frame(w, WS_OP_CLOSE, p, 2, NULL);
    }
    if (w->h)
        curl_easy_cleanup(w->h);
    buf_release(&w->frag);
    free(w->rx);
    free(w);
}
