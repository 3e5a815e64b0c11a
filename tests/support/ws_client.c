/*
 * ws_client.c - see ws_client.h.
 */
#include "ws_client.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_net.h"
#include "timeutil.h"

/* A request head is a path and a few header lines; the PTY tests send a
 * multi-kilobyte Sec-WebSocket-Protocol, far below this. */
#define REQ_MAX (1024 * 1024)

int wsc_request(buf *out, unsigned port, const char *path, int upgrade,
                const char *extra)
{
    char line[64];
    snprintf(line, sizeof line, " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", port);
    int bad = buf_adds(out, "GET ") != BUF_OK || buf_adds(out, path) != BUF_OK ||
              buf_adds(out, line) != BUF_OK;
    if (upgrade)
        bad = bad || buf_adds(out, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: " WSC_KEY "\r\n"
                                   "Sec-WebSocket-Version: 13\r\n") != BUF_OK;
    bad = bad || buf_adds(out, extra ? extra : "") != BUF_OK ||
          buf_adds(out, "\r\n") != BUF_OK;
    return bad ? -1 : 0;
}

/* Builds the request and sends it on fd; 0 or -1. */
static int send_request(int fd, unsigned port, const char *path, int upgrade,
                        const char *extra)
{
    buf rq;
    buf_init(&rq, REQ_MAX);
    int rc = wsc_request(&rq, port, path, upgrade, extra) == 0 &&
                     tn_send_all(fd, rq.data, rq.len) == 0
                 ? 0
                 : -1;
    buf_release(&rq);
    return rc;
}

ws_conn *wsc_connect(unsigned port, int timeout_s, const char *path, const char *extra,
                     size_t max_msg, char *head, size_t headn)
{
    head[0] = '\0';
    int fd = tn_connect(port, timeout_s, 0);
    if (fd < 0)
        return NULL;
    if (send_request(fd, port, path, 1, extra) != 0) {
        close(fd);
        return NULL;
    }
    /* The socket's receive timeout bounds each recv. */
    char in[8192];
    size_t len = 0;
    char *end = NULL;
    while (!end && len < sizeof in - 1) {
        ssize_t got = recv(fd, in + len, sizeof in - 1 - len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        in[len] = '\0';
        end = strstr(in, "\r\n\r\n");
    }
    in[len] = '\0';
    size_t hl = end ? (size_t)(end - in) + 4 : len;
    snprintf(head, headn, "%.*s", (int)hl, in);
    if (!end || strncmp(in, "HTTP/1.1 101", 12) != 0) {
        close(fd);
        return NULL;
    }
    ws_conn *c = ws_conn_new(fd, 1, in + hl, len - hl, max_msg);
    if (!c)
        close(fd);
    return c;
}

/* recv with a timeout into w->raw: 1 got bytes, 0 timeout, -1 EOF or error. */
static int fill(wsc *w, int timeout_ms)
{
    struct pollfd pfd = {w->fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (r == 0)
        return 0;
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    char tmp[65536];
    ssize_t got = recv(w->fd, tmp, sizeof tmp, 0);
    if (got < 0 && errno == EINTR)
        return 0;
    if (got <= 0) {
        w->eof = 1;
        return -1;
    }
    return buf_add(&w->raw, tmp, (size_t)got) == BUF_OK ? 1 : -1;
}

/* Drops the first n received bytes (n <= w->raw.len). */
static void consume(wsc *w, size_t n)
{
    if (!w->raw.data)
        return;
    memmove(w->raw.data, w->raw.data + n, w->raw.len - n);
    w->raw.len -= n;
    w->raw.data[w->raw.len] = '\0';
}

/* Fills until fill() fails or end (a tn_mono_ms time) passes, or, when
 * want >= 0, until w->raw holds want bytes. */
static void fill_until(wsc *w, long want, int64_t end)
{
    while (want < 0 || (long)w->raw.len < want) {
        int left = (int)(end - time_mono_ms());
        if (left <= 0 || fill(w, left) < 0)
            break;
    }
}

int wsc_open(wsc *w, unsigned port, const char *path, int upgrade, const char *extra,
             int rcvbuf, size_t max_frame, int timeout_ms)
{
    memset(w, 0, sizeof *w);
    w->max_frame = max_frame;
    buf_init(&w->raw, 2 * max_frame);
    w->fd = tn_connect(port, 0, rcvbuf);
    if (w->fd < 0 || send_request(w->fd, port, path, upgrade, extra) != 0)
        return -1;
    int64_t end = time_mono_ms() + timeout_ms;
    const char *hend = NULL;
    while (!(hend = w->raw.len ? strstr(w->raw.data, "\r\n\r\n") : NULL)) {
        int left = (int)(end - time_mono_ms());
        if (left <= 0 || fill(w, left) < 0)
            break;
    }
    size_t hl = hend ? (size_t)(hend - w->raw.data) + 4 : w->raw.len;
    snprintf(w->head, sizeof w->head, "%.*s", (int)hl, buf_str(&w->raw));
    if (!hend)
        return -1;
    sscanf(w->head, "HTTP/1.%*d %ld", &w->status);
    consume(w, hl);
    if (w->status != 101) {
        char cl[32];
        fill_until(w, wsc_head_value(w->head, "Content-Length", cl, sizeof cl) ? atol(cl)
                                                                                : -1,
                   end);
        snprintf(w->body, sizeof w->body, "%s", buf_str(&w->raw));
        return -1;
    }
    /* The ws_conn only sends; the bytes already read stay in w->raw. */
    w->c = ws_conn_new(w->fd, 1, NULL, 0, max_frame);
    return w->c ? 0 : -1;
}

void wsc_close(wsc *w)
{
    if (w->c)
        ws_conn_free(w->c, 1);
    else if (w->fd >= 0)
        close(w->fd);
    w->c = NULL;
    w->fd = -1;
    buf_release(&w->raw);
}

int wsc_frame_next(wsc *w, int *op, int *fin, buf *pl, int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        ws_frame f;
        ws_code rc = w->raw.len ? ws_frame_parse((const uint8_t *)w->raw.data, w->raw.len,
                                                 w->max_frame, 0, &f)
                                : WS_NEED_MORE;
        if (rc == WS_OK && w->raw.len >= f.header_len + f.payload_len) {
            buf_reset(pl);
            if (buf_add(pl, w->raw.data + f.header_len, (size_t)f.payload_len) != BUF_OK)
                return -1;
            *op = f.opcode;
            if (fin)
                *fin = f.fin;
            consume(w, f.header_len + (size_t)f.payload_len);
            return 1;
        }
        if (rc != WS_OK && rc != WS_NEED_MORE)
            return -1;
        int left = (int)(end - time_mono_ms());
        if (left <= 0)
            return 0;
        if (fill(w, left) < 0)
            return -1;
    }
}

int wsc_send_str(wsc *w, int op, const char *s)
{
    return w->c && ws_send(w->c, op, s, strlen(s)) == WS_OK ? 0 : -1;
}

int wsc_close_payload(const buf *pl, char *reason, size_t rn)
{
    const char *p = buf_str(pl);
    snprintf(reason, rn, "%.*s", pl->len > 2 ? (int)pl->len - 2 : 0, pl->len > 2 ? p + 2 : "");
    return pl->len >= 2 ? ((unsigned char)p[0] << 8) | (unsigned char)p[1] : 1005;
}

int wsc_head_value(const char *head, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    const char *lines = strstr(head, "\r\n");   /* past the status line */
    return lines ? tn_header_value(lines + 2, name, out, n) : 0;
}

char *wsc_exchange(unsigned port, const void *req, size_t reqlen, int timeout_ms,
                   size_t max, size_t *n)
{
    *n = 0;
    int fd = tn_connect(port, 5, 0);
    if (fd < 0)
        return NULL;
    buf b;
    buf_init(&b, max);
    if (tn_send_all(fd, req, reqlen) == 0) {
        int64_t end = time_mono_ms() + timeout_ms;
        char chunk[8192];
        for (;;) {
            int64_t left = end - time_mono_ms();
            if (left <= 0)
                break;
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, (int)left) <= 0)
                break;
            ssize_t got = recv(fd, chunk, sizeof chunk, 0);
            if (got <= 0 || buf_add(&b, chunk, (size_t)got) != BUF_OK)
                break;
        }
    }
    close(fd);
    return buf_detach(&b, n);
}
