/*
 * ws_client.h - the WebSocket client side the integration tests share:
 * the upgrade request written by hand over a TCP socket to the emulator,
 * and two ways to read what comes back.
 *
 *  - wsc_connect(): a message-level common/ws.h ws_conn once the server
 *    answered 101 (reassembly, pings, the close handshake).  For tests that
 *    only need messages and the close code.
 *  - wsc: the socket plus the bytes received, read frame by frame with
 *    wsc_frame_next() (ws_frame_parse underneath), and a ws_conn used only
 *    to send masked client frames.  For tests that check what ws_recv does
 *    not hand out: a close frame's reason, fragments, pongs, or a non-101
 *    answer's status and body.
 *
 * Also a raw request/response exchange (wsc_exchange) for the checks of
 * the same tests that libcurl would hide.
 *
 * Blocking, single-threaded per connection.  Nothing here calls CUnit:
 * failures come back as return values for the test to assert on.
 */
#ifndef TESTS_WS_CLIENT_H
#define TESTS_WS_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "ws.h"

/* RFC 6455 section 1.3's sample key, and the accept value that answers it. */
#define WSC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WSC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/*
 * Appends the request head to out: "GET <path> HTTP/1.1", "Host:
 * 127.0.0.1:<port>", the four upgrade headers (Upgrade, Connection,
 * Sec-WebSocket-Key: WSC_KEY, Sec-WebSocket-Version: 13) when upgrade is
 * non-zero, then `extra` (whole header lines, each ending in CRLF; NULL or
 * "" for none) and the blank line.  0, or -1 when out's cap was hit.
 */
int wsc_request(buf *out, unsigned port, const char *path, int upgrade,
                const char *extra);

/*
 * Connects to 127.0.0.1:port (send/receive timeouts of timeout_s seconds),
 * sends the upgrade request wsc_request(path, 1, extra) and reads the
 * response head, which is copied into head (always NUL-terminated; what
 * arrived when there was no complete head).  Returns a client ws_conn that
 * owns nothing (free with ws_conn_free(c, 1), which closes the socket)
 * holding any bytes that followed the head, with max_msg as its message
 * cap; or NULL when the answer was not "HTTP/1.1 101" (the socket is closed
 * then).
 */
ws_conn *wsc_connect(unsigned port, int timeout_s, const char *path, const char *extra,
                     size_t max_msg, char *head, size_t headn);

/* A frame-level client connection; see the file comment. */
typedef struct {
    int fd;              /* the socket (-1 when closed) */
    ws_conn *c;          /* for sending; NULL until upgraded */
    buf raw;             /* received bytes not parsed yet */
    size_t max_frame;    /* the largest frame payload accepted */
    long status;         /* the handshake answer's status (0 = none) */
    char head[8192];     /* its head (NUL-terminated) */
    char body[4096];     /* its body when not a 101 */
    int eof;             /* the socket ended */
} wsc;

/*
 * Opens w: connects (no socket timeouts; rcvbuf > 0 shrinks the receive
 * buffer), sends wsc_request(path, upgrade, extra) and waits up to
 * timeout_ms for the response head.  On a 101 returns 0 with w->c ready and
 * the bytes after the head kept in w->raw.  Otherwise returns -1 with
 * w->status, w->head and (read up to its Content-Length within the same
 * time) w->body describing the answer.  Either way w must be closed with
 * wsc_close().
 */
int wsc_open(wsc *w, unsigned port, const char *path, int upgrade, const char *extra,
             int rcvbuf, size_t max_frame, int timeout_ms);
/* Closes the socket and frees w's contents; safe to call twice. */
void wsc_close(wsc *w);

/*
 * The next frame, within timeout_ms (frames already received are returned
 * even when the time is up): 1 with its opcode in *op, its FIN bit in *fin
 * (fin may be NULL) and its payload in pl (reset first; pl's cap must
 * exceed w->max_frame); 0 on timeout; -1 on EOF, a socket error or a frame
 * that does not parse (unmasked, at most w->max_frame bytes).
 */
int wsc_frame_next(wsc *w, int *op, int *fin, buf *pl, int timeout_ms);
/* Sends s as one message with opcode op; 0, or -1 (also when not upgraded). */
int wsc_send_str(wsc *w, int op, const char *s);

/* A close frame's payload: returns its status code (1005 when it has none)
 * and copies its reason into reason ("" when none). */
int wsc_close_payload(const buf *pl, char *reason, size_t rn);

/* The value of header `name` (case-insensitive) in a response head: the
 * first value is copied into out ("" when absent), the number of times the
 * header occurs is returned. */
int wsc_head_value(const char *head, const char *name, char *out, size_t n);

/*
 * Not a WebSocket: sends a raw request (reqlen bytes) to 127.0.0.1:port and
 * collects what comes back, at most max bytes, until the peer closes or
 * timeout_ms passes.  Returns the bytes (NUL-terminated; the caller frees
 * them) and their count in *n; NULL when the connection failed.  For what
 * libcurl would hide (interim 1xx answers, the framing of a body).
 */
char *wsc_exchange(unsigned port, const void *req, size_t reqlen, int timeout_ms,
                   size_t max, size_t *n);

#endif
