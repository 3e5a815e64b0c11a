/*
 * test_ws.c - tests for common/ws.c.
 *
 * Suite "codec": the accept key (RFC 6455 section 1.3 example), a table of
 * frame headers through ws_frame_parse (every length form, every way a
 * header can be wrong, NEED_MORE at every truncation point), header
 * encode/parse round trips, masking and a UTF-8 validity table.
 *
 * Suite "conn": ws_conn over socketpair(AF_UNIX).  Most cases drive one
 * ws_conn from hand-made raw frames in a single thread (the socket buffers
 * hold everything a case writes), so each frame on the wire and each reply
 * can be asserted byte for byte.  The rest put a client ws_conn in the test
 * thread and a server ws_conn in another thread.
 */
#include "ws.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeutil.h"

#include "cu_run.h"

#define IO_TIMEOUT_MS 5000

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7 */

/* ---- accept key, strerror ---- */

static void test_accept_key(void)
{
    char out[29];
    memset(out, 'X', sizeof out);
    CU_ASSERT_EQUAL(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    /* The value printed in RFC 6455 section 1.3. */
    CU_ASSERT_STRING_EQUAL(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    CU_ASSERT_EQUAL(ws_accept_key(NULL, out), -1);
    CU_ASSERT_EQUAL(ws_accept_key("", out), -1);
    char long_key[200];
    memset(long_key, 'A', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CU_ASSERT_EQUAL(ws_accept_key(long_key, out), -1);
}

static void test_strerror(void)
{
    for (int c = WS_OK; c <= WS_EUTF8; c++) {
        const char *s = ws_strerror((ws_code)c);
        CU_ASSERT_PTR_NOT_NULL(s);
        CU_ASSERT(s && *s);
    }
    CU_ASSERT_PTR_NOT_NULL(ws_strerror((ws_code)99));
}

/* ---- frame parse table ---- */

struct parse_case {
    const char *name;
    uint8_t b[16];
    size_t len;
    uint64_t max;
    int expect_masked;
    ws_code rc;
    /* expected fields when rc == WS_OK */
    int fin, opcode, masked;
    uint64_t plen;
    size_t hlen;
};

#define M4 0x37, 0xfa, 0x21, 0x3d
#define BIG UINT64_MAX

static const struct parse_case PARSE[] = {
    {"7-bit text", {0x81, 0x02}, 2, BIG, 0, WS_OK, 1, 1, 0, 2, 2},
    {"7-bit masked (RFC Hello)", {0x81, 0x85, M4}, 6, BIG, 1, WS_OK, 1, 1, 1, 5, 6},
    {"7-bit 125", {0x82, 0x7d}, 2, BIG, 0, WS_OK, 1, 2, 0, 125, 2},
    {"empty binary", {0x82, 0x00}, 2, BIG, 0, WS_OK, 1, 2, 0, 0, 2},
    {"continuation, no FIN", {0x00, 0x03}, 2, BIG, 0, WS_OK, 0, 0, 0, 3, 2},
    {"text, no FIN", {0x01, 0x83, M4}, 6, BIG, 1, WS_OK, 0, 1, 1, 3, 6},
    {"16-bit 256", {0x82, 0x7e, 0x01, 0x00}, 4, BIG, 0, WS_OK, 1, 2, 0, 256, 4},
    {"16-bit 65535 masked", {0x82, 0xfe, 0xff, 0xff, M4}, 8, BIG, 1, WS_OK, 1, 2, 1, 65535, 8},
    {"16-bit non-minimal 5", {0x82, 0x7e, 0x00, 0x05}, 4, BIG, 0, WS_OK, 1, 2, 0, 5, 4},
    {"64-bit 65536", {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, 10, BIG, 0, WS_OK, 1, 2, 0, 65536, 10},
    {"64-bit masked", {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, M4}, 14, BIG, 1, WS_OK, 1, 2, 1, UINT64_C(1) << 32, 14},
    {"64-bit max allowed", {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 10, BIG, 0, WS_OK, 1, 2, 0, INT64_MAX, 10},
    {"64-bit non-minimal 1", {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 1}, 10, BIG, 0, WS_OK, 1, 2, 0, 1, 10},
    {"ping 125", {0x89, 0x7d}, 2, BIG, 0, WS_OK, 1, 9, 0, 125, 2},
    {"pong masked", {0x8a, 0x80, M4}, 6, BIG, 1, WS_OK, 1, 10, 1, 0, 6},
    {"close", {0x88, 0x02}, 2, BIG, 0, WS_OK, 1, 8, 0, 2, 2},
    {"exactly at max", {0x82, 0x7e, 0x01, 0x00}, 4, 256, 0, WS_OK, 1, 2, 0, 256, 4},

    {"empty input", {0}, 0, BIG, 0, WS_NEED_MORE, 0, 0, 0, 0, 0},
    {"one byte", {0x81}, 1, BIG, 0, WS_NEED_MORE, 0, 0, 0, 0, 0},

    {"RSV1", {0xc1, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"RSV2", {0xa1, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"RSV3", {0x91, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"opcode 3", {0x83, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"opcode 7", {0x87, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"opcode 0xB", {0x8b, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"opcode 0xF", {0x8f, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"fragmented ping", {0x09, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"fragmented close", {0x08, 0x00}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"ping 126 (16-bit form)", {0x89, 0x7e, 0x00, 0x7e}, 4, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"ping 126 from 2 bytes", {0x89, 0x7e}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"close 64-bit form", {0x88, 0x7f}, 2, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"pong 16-bit form of 5", {0x8a, 0x7e, 0x00, 0x05}, 4, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"64-bit MSB set", {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"mask expected, absent", {0x81, 0x05}, 2, BIG, 1, WS_EPROTO, 0, 0, 0, 0, 0},
    {"mask present, not expected", {0x81, 0x85, M4}, 6, BIG, 0, WS_EPROTO, 0, 0, 0, 0, 0},
    {"too big 16-bit", {0x82, 0x7e, 0x01, 0x00}, 4, 255, 0, WS_ETOOBIG, 0, 0, 0, 0, 0},
    {"too big 7-bit", {0x81, 0x0b}, 2, 10, 0, WS_ETOOBIG, 0, 0, 0, 0, 0},
    {"too big 64-bit", {0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0}, 10, 1 << 20, 0, WS_ETOOBIG, 0, 0, 0, 0, 0},
    /* The limit applies as soon as the length is known, key or not. */
    {"too big before mask key", {0x82, 0xfe, 0x01, 0x00}, 4, 10, 1, WS_ETOOBIG, 0, 0, 0, 0, 0},
};

static void test_frame_parse_table(void)
{
    for (size_t i = 0; i < sizeof PARSE / sizeof PARSE[0]; i++) {
        const struct parse_case *tc = &PARSE[i];
        ws_frame f;
        memset(&f, 0xa5, sizeof f);
        ws_code rc = ws_frame_parse(tc->b, tc->len, tc->max, tc->expect_masked,
                                    &f);
        CU_ASSERT_EQUAL(rc, tc->rc);
        if (rc != tc->rc) {
            fprintf(stderr, "\n  case \"%s\": got %d want %d\n", tc->name,
                    rc, tc->rc);
            continue;
        }
        if (rc != WS_OK)
            continue;
        CU_ASSERT_EQUAL(f.fin, tc->fin);
        CU_ASSERT_EQUAL(f.opcode, tc->opcode);
        CU_ASSERT_EQUAL(f.masked, tc->masked);
        CU_ASSERT_EQUAL(f.payload_len, tc->plen);
        CU_ASSERT_EQUAL(f.header_len, tc->hlen);
        if (tc->masked)
            CU_ASSERT(memcmp(f.mask, KEY, 4) == 0);
    }
}

/* Every proper prefix of a valid header needs more; extra bytes after it
 * (the payload) change nothing. */
static void test_frame_parse_truncation(void)
{
    for (size_t i = 0; i < sizeof PARSE / sizeof PARSE[0]; i++) {
        const struct parse_case *tc = &PARSE[i];
        if (tc->rc != WS_OK)
            continue;
        ws_frame f;
        for (size_t k = 0; k < tc->len; k++) {
            ws_code rc = ws_frame_parse(tc->b, k, tc->max, tc->expect_masked,
                                        &f);
            CU_ASSERT_EQUAL(rc, WS_NEED_MORE);
            if (rc != WS_NEED_MORE)
                fprintf(stderr, "\n  case \"%s\" prefix %zu: %d\n", tc->name,
                        k, rc);
        }
        uint8_t longer[32];
        memset(longer, 0xee, sizeof longer);
        memcpy(longer, tc->b, tc->len);
        CU_ASSERT_EQUAL(ws_frame_parse(longer, sizeof longer, tc->max,
                                       tc->expect_masked, &f),
                        WS_OK);
        CU_ASSERT_EQUAL(f.header_len, tc->hlen);
        CU_ASSERT_EQUAL(f.payload_len, tc->plen);
    }
}

static void test_frame_header_roundtrip(void)
{
    static const uint64_t lens[] = {0,     1,     125,   126,
                                    127,   65535, 65536, UINT64_C(1) << 32,
                                    INT64_MAX};
    static const int ops[] = {WS_OP_CONT, WS_OP_TEXT, WS_OP_BINARY,
                              WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (size_t oi = 0; oi < sizeof ops / sizeof ops[0]; oi++) {
            for (int m = 0; m < 2; m++) {
                for (int fin = 0; fin < 2; fin++) {
                    int op = ops[oi];
                    uint64_t len = lens[li];
                    if (op >= WS_OP_CLOSE && (len > 125 || !fin))
                        continue; /* not a legal control frame */
                    uint8_t hdr[14];
                    size_t h = ws_frame_header(hdr, fin, op, len,
                                               m ? KEY : NULL);
                    size_t want = len <= 125 ? 2 : len <= 65535 ? 4 : 10;
                    CU_ASSERT_EQUAL(h, want + (m ? 4 : 0));
                    ws_frame f;
                    CU_ASSERT_EQUAL_FATAL(
                        ws_frame_parse(hdr, h, UINT64_MAX, m, &f), WS_OK);
                    CU_ASSERT_EQUAL(f.fin, fin);
                    CU_ASSERT_EQUAL(f.opcode, op);
                    CU_ASSERT_EQUAL(f.masked, m);
                    CU_ASSERT_EQUAL(f.payload_len, len);
                    CU_ASSERT_EQUAL(f.header_len, h);
                    if (m)
                        CU_ASSERT(memcmp(f.mask, KEY, 4) == 0);
                }
            }
        }
    }
}

static void test_mask(void)
{
    /* RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d. */
    static const uint8_t want[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t d[5];
    memcpy(d, "Hello", 5);
    ws_mask(d, 5, KEY, 0);
    CU_ASSERT(memcmp(d, want, 5) == 0);
    ws_mask(d, 5, KEY, 0);
    CU_ASSERT(memcmp(d, "Hello", 5) == 0);

    /* Masking in pieces at their offsets equals masking at once. */
    uint8_t whole[37], parts[37];
    for (size_t i = 0; i < sizeof whole; i++)
        whole[i] = parts[i] = (uint8_t)(i * 13);
    ws_mask(whole, sizeof whole, KEY, 0);
    ws_mask(parts, 3, KEY, 0);
    ws_mask(parts + 3, 10, KEY, 3);
    ws_mask(parts + 13, 24, KEY, 13);
    CU_ASSERT(memcmp(whole, parts, sizeof whole) == 0);
    /* Offsets beyond 32 bits still use off mod 4. */
    uint8_t a[4] = {0}, b[4] = {0};
    ws_mask(a, 4, KEY, (UINT64_C(1) << 40) + 1);
    ws_mask(b, 4, KEY, 1);
    CU_ASSERT(memcmp(a, b, 4) == 0);
}

/* ---- UTF-8 ---- */

#define U8(lit, ok) {(const uint8_t *)(lit), sizeof(lit) - 1, ok}
static const struct {
    const uint8_t *s;
    size_t n;
    int valid;
} UTF8[] = {
    U8("", 1),
    U8("hello", 1),
    U8("a\0b", 1),                                  /* NUL is a code point */
    U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1), /* kosme */
    U8("\xc2\x80", 1),         /* U+0080 */
    U8("\xdf\xbf", 1),         /* U+07FF */
    U8("\xe0\xa0\x80", 1),     /* U+0800 */
    U8("\xed\x9f\xbf", 1),     /* U+D7FF */
    U8("\xee\x80\x80", 1),     /* U+E000 */
    U8("\xef\xbf\xbf", 1),     /* U+FFFF */
    U8("\xf0\x90\x80\x80", 1), /* U+10000 */
    U8("\xf4\x8f\xbf\xbf", 1), /* U+10FFFF */
    U8("\xc0\x80", 0),         /* overlong NUL */
    U8("\xc1\xbf", 0),         /* overlong */
    U8("\xe0\x80\x80", 0),
    U8("\xe0\x9f\xbf", 0),
    U8("\xf0\x80\x80\x80", 0),
    U8("\xf0\x8f\xbf\xbf", 0),
    U8("\xed\xa0\x80", 0),     /* surrogate U+D800 */
    U8("\xed\xbf\xbf", 0),     /* surrogate U+DFFF */
    U8("\xf4\x90\x80\x80", 0), /* U+110000 */
    U8("\xf5\x80\x80\x80", 0),
    U8("\xfe", 0),
    U8("\xff", 0),
    U8("\x80", 0),             /* lone continuation */
    U8("a\xbf", 0),
    U8("\xc2", 0),             /* truncated */
    U8("\xe0\xa0", 0),
    U8("\xf0\x90\x80", 0),
    U8("ok\xc2", 0),
    U8("\xc2\x41", 0),         /* bad continuation */
    U8("\xe1\x80\x41", 0),
    U8("\xf1\x80\x80\x41", 0),
    U8("\xf1\x80\x80\xc0", 0),
};

static void test_utf8_table(void)
{
    for (size_t i = 0; i < sizeof UTF8 / sizeof UTF8[0]; i++) {
        int v = ws_utf8_valid(UTF8[i].s, UTF8[i].n);
        CU_ASSERT_EQUAL(v, UTF8[i].valid);
        if (v != UTF8[i].valid)
            fprintf(stderr, "\n  utf8 case %zu: got %d\n", i, v);
    }
}

/* ---- raw socket helpers ---- */

static int sv[2] = {-1, -1}; /* sv[0]: client end, sv[1]: server end */

static void open_pair(void)
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

static void close_pair(void)
{
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0)
            close(sv[i]);
        sv[i] = -1;
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_exact(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
            return -1;
        ssize_t r = recv(fd, c, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* 1 when nothing is waiting to be read on fd. */
static int nothing_pending(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 20) == 0;
}

/* Writes one frame as a client would (masked with KEY) or as a server. */
static void put_frame(int fd, int fin, int op, const void *payload, size_t n,
                      int masked)
{
    uint8_t *f = malloc(14 + n);
    CU_ASSERT_FATAL(f != NULL);
    size_t h = ws_frame_header(f, fin, op, n, masked ? KEY : NULL);
    if (n)
        memcpy(f + h, payload, n);
    if (masked)
        ws_mask(f + h, n, KEY, 0);
    CU_ASSERT(write_all(fd, f, h + n) == 0);
    free(f);
}

/* A client frame (masked) towards the server end. */
static void cput(int fin, int op, const void *p, size_t n)
{
    put_frame(sv[0], fin, op, p, n, 1);
}

/* Reads one frame from fd; its unmasked payload goes into *payload. */
static ws_code get_frame(int fd, int expect_masked, ws_frame *f, buf *payload)
{
    uint8_t hdr[14];
    size_t have = 0;
    ws_code rc;
    while ((rc = ws_frame_parse(hdr, have, UINT64_MAX, expect_masked, f)) ==
           WS_NEED_MORE) {
        if (have == sizeof hdr || read_exact(fd, hdr + have, 1) != 0)
            return WS_EIO;
        have++;
    }
    if (rc != WS_OK)
        return rc;
    buf_reset(payload);
    payload->max = (size_t)f->payload_len;
    uint8_t chunk[4096];
    uint64_t off = 0;
    while (off < f->payload_len) {
        size_t n = f->payload_len - off < sizeof chunk
                       ? (size_t)(f->payload_len - off)
                       : sizeof chunk;
        if (read_exact(fd, chunk, n) != 0)
            return WS_EIO;
        if (f->masked)
            ws_mask(chunk, n, f->mask, off);
        if (buf_add(payload, chunk, n) != BUF_OK)
            return WS_ENOMEM;
        off += n;
    }
    return WS_OK;
}

/* Expects a close frame from the server end carrying `code` (or an empty
 * close when code is 0). */
static void expect_close_on_client_end(int code)
{
    ws_frame f;
    buf p;
    buf_init(&p, 0);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT_EQUAL(f.opcode, WS_OP_CLOSE);
    if (code == 0) {
        CU_ASSERT_EQUAL(p.len, 0);
    } else {
        CU_ASSERT_EQUAL_FATAL(p.len, 2);
        int got = (uint8_t)p.data[0] << 8 | (uint8_t)p.data[1];
        CU_ASSERT_EQUAL(got, code);
        if (got != code)
            fprintf(stderr, "\n  close code %d, want %d\n", got, code);
    }
    buf_release(&p);
}

/* ---- conn: single-threaded, raw frames against a server conn ---- */

static ws_conn *srv;
static buf msg;

static void srv_open(size_t max_message)
{
    open_pair();
    srv = ws_conn_new(sv[1], 0, NULL, 0, max_message);
    CU_ASSERT_FATAL(srv != NULL);
    buf_init(&msg, 0);
}

static void srv_close(void)
{
    ws_conn_free(srv, 1);
    srv = NULL;
    sv[1] = -1; /* closed by ws_conn_free */
    close_pair();
    buf_release(&msg);
}

static ws_code srv_recv(int *op, int *code, int timeout_ms)
{
    return ws_recv(srv, &msg, op, code, timeout_ms);
}

static void test_conn_masking_directions(void)
{
    open_pair();
    ws_conn *cli = ws_conn_new(sv[0], 1, NULL, 0, 1 << 20);
    ws_conn *ser = ws_conn_new(sv[1], 0, NULL, 0, 1 << 20);
    CU_ASSERT_FATAL(cli && ser);
    buf p;
    buf_init(&p, 0);
    ws_frame f1, f2;

    /* Client frames are masked, each with its own key. */
    CU_ASSERT_EQUAL(ws_send(cli, WS_OP_TEXT, "hello", 5), WS_OK);
    CU_ASSERT_EQUAL(ws_send(cli, WS_OP_TEXT, "hello", 5), WS_OK);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[1], 1, &f1, &p), WS_OK);
    CU_ASSERT(f1.fin && f1.opcode == WS_OP_TEXT && f1.masked);
    CU_ASSERT(p.len == 5 && memcmp(p.data, "hello", 5) == 0);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[1], 1, &f2, &p), WS_OK);
    CU_ASSERT(memcmp(f1.mask, f2.mask, 4) != 0); /* 2^-32 false alarm */

    /* A large client message: 64-bit length, masked across chunks. */
    size_t big = 70000;
    uint8_t *data = malloc(big);
    CU_ASSERT_FATAL(data != NULL);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    CU_ASSERT_EQUAL(ws_send(cli, WS_OP_BINARY, data, big), WS_OK);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[1], 1, &f1, &p), WS_OK);
    CU_ASSERT_EQUAL(f1.header_len, 14);
    CU_ASSERT(p.len == big && memcmp(p.data, data, big) == 0);

    /* Server frames are not masked. */
    CU_ASSERT_EQUAL(ws_send(ser, WS_OP_BINARY, data, 300), WS_OK);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f1, &p), WS_OK);
    CU_ASSERT(!f1.masked && f1.header_len == 4 && f1.opcode == WS_OP_BINARY);
    CU_ASSERT(p.len == 300 && memcmp(p.data, data, 300) == 0);

    free(data);
    buf_release(&p);
    ws_conn_free(cli, 0);
    ws_conn_free(ser, 0);
    ws_conn_free(NULL, 1); /* does nothing */
    close_pair();
}

static void test_conn_fragmented(void)
{
    srv_open(1 << 16);
    int op = -1;
    /* "Hello wörld" in three fragments, with the two bytes of 'ö' split
     * between fragments and a ping in the middle. */
    cput(0, WS_OP_TEXT, "Hel", 3);
    cput(0, WS_OP_CONT, "lo w\xc3", 5);
    cput(1, WS_OP_PING, "p", 1);
    cput(1, WS_OP_CONT, "\xb6rld", 4);
    CU_ASSERT_EQUAL(srv_recv(&op, NULL, 1000), WS_OK);
    CU_ASSERT_EQUAL(op, WS_OP_TEXT);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "Hello w\xc3\xb6rld");

    ws_frame f;
    buf p;
    buf_init(&p, 0);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_PONG && p.len == 1 && p.data[0] == 'p');

    /* A binary message with an empty first fragment. */
    cput(0, WS_OP_BINARY, "", 0);
    cput(0, WS_OP_CONT, "\x00\x01", 2);
    cput(1, WS_OP_CONT, "\x02", 1);
    CU_ASSERT_EQUAL(srv_recv(&op, NULL, 1000), WS_OK);
    CU_ASSERT_EQUAL(op, WS_OP_BINARY);
    CU_ASSERT(msg.len == 3 && memcmp(msg.data, "\x00\x01\x02", 3) == 0);
    CU_ASSERT(nothing_pending(sv[0]));
    buf_release(&p);
    srv_close();
}

static void test_conn_ping_pong(void)
{
    srv_open(1024);
    int op;
    ws_frame f;
    buf p;
    buf_init(&p, 0);

    cput(1, WS_OP_PING, "abc", 3);
    cput(1, WS_OP_PING, "", 0);
    /* Pings alone complete no message: the call times out after
     * answering them. */
    CU_ASSERT_EQUAL(srv_recv(&op, NULL, 50), WS_NEED_MORE);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_PONG && f.fin && p.len == 3 &&
              memcmp(p.data, "abc", 3) == 0);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_PONG && p.len == 0);

    /* An unsolicited pong is ignored, the message after it delivered. */
    cput(1, WS_OP_PONG, "zz", 2);
    cput(1, WS_OP_TEXT, "after", 5);
    CU_ASSERT_EQUAL(srv_recv(&op, NULL, 1000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "after");
    CU_ASSERT(nothing_pending(sv[0]));

    /* ws_send_ping goes out as a ping. */
    CU_ASSERT_EQUAL(ws_send_ping(srv, "hb", 2), WS_OK);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_PING && p.len == 2);
    buf_release(&p);
    srv_close();
}

struct close_case {
    const char *name;
    const char *payload;
    size_t n;
    ws_code rc;     /* from ws_recv */
    int code;       /* *close_code when rc == WS_ECLOSED */
    int wire;       /* close code the server sends back, 0 = empty close */
};

static const struct close_case CLOSES[] = {
    {"1000 with reason", "\x03\xe8" "bye", 5, WS_ECLOSED, 1000, 1000},
    {"1001", "\x03\xe9", 2, WS_ECLOSED, 1001, 1001},
    {"1011", "\x03\xf3", 2, WS_ECLOSED, 1011, 1011},
    {"4000 with reason", "\x0f\xa0" "app", 5, WS_ECLOSED, 4000, 4000},
    {"no status", "", 0, WS_ECLOSED, 1005, 0},
    {"one byte", "\x03", 1, WS_EPROTO, 0, 1002},
    {"999", "\x03\xe7", 2, WS_EPROTO, 0, 1002},
    {"1004 reserved", "\x03\xec", 2, WS_EPROTO, 0, 1002},
    {"1005 on the wire", "\x03\xed", 2, WS_EPROTO, 0, 1002},
    {"1006 on the wire", "\x03\xee", 2, WS_EPROTO, 0, 1002},
    {"1015 on the wire", "\x03\xf7", 2, WS_EPROTO, 0, 1002},
    {"2999", "\x0b\xb7", 2, WS_EPROTO, 0, 1002},
    {"5000", "\x13\x88", 2, WS_EPROTO, 0, 1002},
    {"reason not UTF-8", "\x03\xe8" "a\xff", 4, WS_EUTF8, 0, 1007},
};

static void test_conn_close_table(void)
{
    for (size_t i = 0; i < sizeof CLOSES / sizeof CLOSES[0]; i++) {
        const struct close_case *tc = &CLOSES[i];
        srv_open(1024);
        int code = -1, op = -1;
        cput(1, WS_OP_CLOSE, tc->payload, tc->n);
        ws_code rc = srv_recv(&op, &code, 1000);
        CU_ASSERT_EQUAL(rc, tc->rc);
        if (rc != tc->rc)
            fprintf(stderr, "\n  close case \"%s\": %d\n", tc->name, rc);
        if (tc->rc == WS_ECLOSED)
            CU_ASSERT_EQUAL(code, tc->code);
        expect_close_on_client_end(tc->wire);
        CU_ASSERT(nothing_pending(sv[0])); /* exactly one close */

        /* Afterwards nothing more is read or sent. */
        code = -1;
        CU_ASSERT_EQUAL(srv_recv(&op, &code, 0), WS_ECLOSED);
        CU_ASSERT_EQUAL(code, tc->rc == WS_ECLOSED ? tc->code : 1006);
        CU_ASSERT_EQUAL(ws_send(srv, WS_OP_TEXT, "x", 1), WS_ECLOSED);
        srv_close();
    }
}

/* We close first: data may still arrive and is delivered, pings are no
 * longer answered, and the peer's close ends it without a second close. */
static void test_conn_close_initiated(void)
{
    srv_open(1024);
    int op, code = -1;
    CU_ASSERT_EQUAL(ws_send_close(srv, WS_CLOSE_GOING_AWAY, "shutdown"),
                    WS_OK);
    ws_frame f;
    buf p;
    buf_init(&p, 0);
    CU_ASSERT_EQUAL_FATAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_CLOSE && p.len == 10 &&
              memcmp(p.data, "\x03\xe9shutdown", 10) == 0);
    CU_ASSERT_EQUAL(ws_send(srv, WS_OP_TEXT, "x", 1), WS_ECLOSED);
    CU_ASSERT_EQUAL(ws_send_ping(srv, NULL, 0), WS_ECLOSED);
    CU_ASSERT_EQUAL(ws_send_close(srv, 1000, NULL), WS_ECLOSED);

    cput(1, WS_OP_PING, "late", 4);
    cput(1, WS_OP_TEXT, "in flight", 9);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "in flight");
    cput(1, WS_OP_CLOSE, "\x03\xe9", 2);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_ECLOSED);
    CU_ASSERT_EQUAL(code, 1001);
    CU_ASSERT(nothing_pending(sv[0]));
    buf_release(&p);
    srv_close();
}

static void test_conn_send_args(void)
{
    srv_open(1024);
    char big[200];
    memset(big, 'r', sizeof big);
    big[124] = '\0'; /* a 124-byte reason */

    CU_ASSERT_EQUAL(ws_send(srv, WS_OP_PING, "x", 1), WS_EPROTO);
    CU_ASSERT_EQUAL(ws_send(srv, WS_OP_CONT, "x", 1), WS_EPROTO);
    CU_ASSERT_EQUAL(ws_send_ping(srv, big, 126), WS_ETOOBIG);
    CU_ASSERT_EQUAL(ws_send_close(srv, 1000, big), WS_ETOOBIG);
    CU_ASSERT_EQUAL(ws_send_close(srv, 1005, NULL), WS_EPROTO);
    CU_ASSERT_EQUAL(ws_send_close(srv, 999, NULL), WS_EPROTO);
    CU_ASSERT_EQUAL(ws_send_close(srv, 1000, "\xc0\x80"), WS_EUTF8);
    CU_ASSERT(nothing_pending(sv[0])); /* none of those sent anything */

    big[123] = '\0'; /* 123 bytes: the most that fits */
    CU_ASSERT_EQUAL(ws_send_ping(srv, big, 125), WS_OK);
    CU_ASSERT_EQUAL(ws_send(srv, WS_OP_TEXT, NULL, 0), WS_OK);
    CU_ASSERT_EQUAL(ws_send_close(srv, 4999, big), WS_OK);
    ws_frame f;
    buf p;
    buf_init(&p, 0);
    CU_ASSERT_EQUAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_PING && p.len == 125);
    CU_ASSERT_EQUAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_TEXT && p.len == 0);
    CU_ASSERT_EQUAL(get_frame(sv[0], 0, &f, &p), WS_OK);
    CU_ASSERT(f.opcode == WS_OP_CLOSE && p.len == 125);
    buf_release(&p);
    srv_close();
}

static void test_conn_too_big(void)
{
    int op, code;
    /* One frame over the limit: refused from its header alone. */
    srv_open(1024);
    uint8_t hdr[14];
    size_t h = ws_frame_header(hdr, 1, WS_OP_BINARY, 2000, KEY);
    CU_ASSERT(write_all(sv[0], hdr, h) == 0);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_ETOOBIG);
    expect_close_on_client_end(WS_CLOSE_TOO_BIG);
    srv_close();

    /* Fragments each under the limit, together over it: refused from the
     * second fragment's header, before its payload arrives. */
    static uint8_t part[600];
    srv_open(1024);
    cput(0, WS_OP_BINARY, part, 600);
    h = ws_frame_header(hdr, 1, WS_OP_CONT, 600, KEY);
    CU_ASSERT(write_all(sv[0], hdr, h) == 0);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_ETOOBIG);
    expect_close_on_client_end(WS_CLOSE_TOO_BIG);
    srv_close();

    /* Exactly the limit, in one frame and in two. */
    static uint8_t full[1024];
    srv_open(1024);
    cput(1, WS_OP_BINARY, full, 1024);
    cput(0, WS_OP_BINARY, full, 1000);
    cput(1, WS_OP_CONT, full, 24);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_EQUAL(msg.len, 1024);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_EQUAL(msg.len, 1024);
    srv_close();

    /* A tiny max_message still lets control frames through. */
    srv_open(4);
    cput(1, WS_OP_PING, "0123456789", 10);
    cput(1, WS_OP_TEXT, "1234", 4);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "1234");
    srv_close();
}

static void test_conn_bad_utf8(void)
{
    int op, code;
    srv_open(1024);
    cput(1, WS_OP_BINARY, "\xed\xa0\x80", 3); /* binary: anything goes */
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_EQUAL(op, WS_OP_BINARY);
    cput(1, WS_OP_TEXT, "ok \xed\xa0\x80", 6); /* surrogate */
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_EUTF8);
    expect_close_on_client_end(WS_CLOSE_BAD_DATA);
    srv_close();

    /* A code point cut off at the end of the last fragment. */
    srv_open(1024);
    cput(0, WS_OP_TEXT, "abc", 3);
    cput(1, WS_OP_CONT, "\xe2\x82", 2);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_EUTF8);
    expect_close_on_client_end(WS_CLOSE_BAD_DATA);
    srv_close();
}

/* Raw byte sequences a server must answer with 1002. */
static void test_conn_protocol_errors(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t n;
    } cases[] = {
        {"unmasked client frame", "\x81\x01x", 3},
        {"continuation of nothing", "\x80\x81\x00\x00\x00\x00x", 7},
        {"text inside fragmented text",
         "\x01\x81\x00\x00\x00\x00x\x81\x81\x00\x00\x00\x00y", 14},
        {"RSV1 set", "\xc1\x81\x00\x00\x00\x00x", 7},
        {"opcode 3", "\x83\x80\x00\x00\x00\x00", 6},
        {"fragmented ping", "\x09\x80\x00\x00\x00\x00", 6},
        {"ping of 126", "\x89\xfe\x00\x7e", 4},
        {"64-bit length MSB", "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int op, code = -1;
        srv_open(1 << 20);
        CU_ASSERT(write_all(sv[0], cases[i].bytes, cases[i].n) == 0);
        ws_code rc = srv_recv(&op, &code, 1000);
        CU_ASSERT_EQUAL(rc, WS_EPROTO);
        if (rc != WS_EPROTO)
            fprintf(stderr, "\n  case \"%s\": %d\n", cases[i].name, rc);
        expect_close_on_client_end(WS_CLOSE_PROTOCOL);
        CU_ASSERT_EQUAL(srv_recv(&op, &code, 0), WS_ECLOSED);
        CU_ASSERT_EQUAL(code, 1006); /* the peer's close never came */
        srv_close();
    }
}

static void test_conn_timeouts(void)
{
    int op, code;
    srv_open(1 << 16);

    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 100), WS_NEED_MORE);
    int64_t dt = time_mono_ms() - t0;
    CU_ASSERT(dt >= 95 && dt < 2000);
    t0 = time_mono_ms();
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 0), WS_NEED_MORE);
    CU_ASSERT(time_mono_ms() - t0 < 50);

    /* A frame arriving byte-wise across calls: each partial call times
     * out, and nothing is lost. */
    uint8_t f[14 + 5];
    size_t h = ws_frame_header(f, 1, WS_OP_TEXT, 5, KEY);
    memcpy(f + h, "piece", 5);
    ws_mask(f + h, 5, KEY, 0);
    for (size_t i = 0; i + 1 < h + 5; i++) {
        CU_ASSERT(write_all(sv[0], f + i, 1) == 0);
        CU_ASSERT_EQUAL(srv_recv(&op, &code, 0), WS_NEED_MORE);
    }
    CU_ASSERT(write_all(sv[0], f + h + 4, 1) == 0);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "piece");

    /* A fragmented message interrupted between fragments, and a ping cut
     * in half while waiting. */
    cput(0, WS_OP_TEXT, "first ", 6);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 20), WS_NEED_MORE);
    uint8_t ping[14 + 4]; /* header room as ws_frame_header requires */
    h = ws_frame_header(ping, 1, WS_OP_PING, 4, KEY);
    memcpy(ping + h, "ping", 4);
    ws_mask(ping + h, 4, KEY, 0);
    CU_ASSERT(write_all(sv[0], ping, 7) == 0);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 20), WS_NEED_MORE);
    CU_ASSERT(nothing_pending(sv[0])); /* no pong for half a ping */
    CU_ASSERT(write_all(sv[0], ping + 7, h + 4 - 7) == 0);
    cput(1, WS_OP_CONT, "second", 6);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "first second");
    ws_frame pf;
    buf p;
    buf_init(&p, 0);
    CU_ASSERT_EQUAL(get_frame(sv[0], 0, &pf, &p), WS_OK);
    CU_ASSERT(pf.opcode == WS_OP_PONG && p.len == 4);
    buf_release(&p);
    srv_close();
}

/* Bytes read past the HTTP handshake are consumed before the socket. */
static void test_conn_pre_bytes(void)
{
    size_t n1 = 20000; /* larger than the internal read buffer */
    size_t cap = 14 + n1 + 14 + 3;
    uint8_t *pre = malloc(cap);
    CU_ASSERT_FATAL(pre != NULL);
    size_t h = ws_frame_header(pre, 1, WS_OP_BINARY, n1, KEY);
    for (size_t i = 0; i < n1; i++)
        pre[h + i] = (uint8_t)i;
    ws_mask(pre + h, n1, KEY, 0);
    size_t len = h + n1;
    size_t h2 = ws_frame_header(pre + len, 1, WS_OP_TEXT, 3, KEY);
    memcpy(pre + len + h2, "end", 3);
    ws_mask(pre + len + h2, 3, KEY, 0);
    size_t total = len + h2 + 3;

    open_pair();
    /* The conn gets all but the last 4 bytes up front. */
    srv = ws_conn_new(sv[1], 0, pre, total - 4, 1 << 16);
    CU_ASSERT_FATAL(srv != NULL);
    buf_init(&msg, 0);
    CU_ASSERT(write_all(sv[0], pre + total - 4, 4) == 0);
    int op, code;
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_EQUAL_FATAL(msg.len, n1);
    for (size_t i = 0; i < n1; i++) {
        if ((uint8_t)msg.data[i] != (uint8_t)i) {
            CU_FAIL("pre-read payload corrupted");
            break;
        }
    }
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&msg), "end");
    free(pre);
    srv_close();
}

/* The peer closes the socket without a close frame: WS_EIO, never
 * SIGPIPE (which would kill this test program). */
static void test_conn_peer_vanished(void)
{
    srv_open(1024);
    int op, code;
    close(sv[0]);
    sv[0] = -1;
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_EIO);
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_EIO);
    static uint8_t data[256 * 1024];
    CU_ASSERT_EQUAL(ws_send(srv, WS_OP_BINARY, data, sizeof data), WS_EIO);
    CU_ASSERT_EQUAL(ws_send(srv, WS_OP_TEXT, "x", 1), WS_EIO);
    srv_close();

    /* Client side: the masking copy loop stops at the first failed chunk. */
    open_pair();
    ws_conn *c = ws_conn_new(sv[0], 1, NULL, 0, 1024);
    CU_ASSERT_FATAL(c != NULL);
    close(sv[1]);
    sv[1] = -1;
    CU_ASSERT_EQUAL(ws_send(c, WS_OP_BINARY, data, sizeof data), WS_EIO);
    CU_ASSERT_EQUAL(ws_send_ping(c, NULL, 0), WS_EIO);
    ws_conn_free(c, 0);
    close_pair();

    /* Mid-message. */
    srv_open(1024);
    cput(0, WS_OP_TEXT, "part", 4);
    close(sv[0]);
    sv[0] = -1;
    CU_ASSERT_EQUAL(srv_recv(&op, &code, 1000), WS_EIO);
    srv_close();
}

/* ---- conn: client in this thread, server ws_conn in another ---- */

typedef struct {
    int fd;
    size_t max;
    int echo;      /* send every message back */
    int check;     /* verify the writer-thread pattern */
    /* results */
    ws_code rc;
    int close_code;
    int nmsg;
    int bad;
} server_t;

/* Pattern of the concurrent-writer test: byte 0 the writer id, 1-4 the
 * sequence number, then a filler that depends on both. */
static size_t pattern(uint8_t *out, size_t cap, int id, uint32_t seq)
{
    size_t n = 5 + (seq * 37u + (unsigned)id * 11u) % 3000u;
    if (n > cap)
        n = cap;
    out[0] = (uint8_t)id;
    out[1] = (uint8_t)(seq >> 24);
    out[2] = (uint8_t)(seq >> 16);
    out[3] = (uint8_t)(seq >> 8);
    out[4] = (uint8_t)seq;
    for (size_t i = 5; i < n; i++)
        out[i] = (uint8_t)(id * 31 + seq * 7 + i);
    return n;
}

static int pattern_ok(const uint8_t *m, size_t n)
{
    uint8_t want[3100];
    if (n < 5)
        return 0;
    uint32_t seq = (uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 |
                   (uint32_t)m[3] << 8 | m[4];
    size_t wn = pattern(want, sizeof want, m[0], seq);
    return wn == n && memcmp(want, m, n) == 0;
}

static void *server_main(void *arg)
{
    server_t *s = arg;
    buf m;
    buf_init(&m, 0);
    s->close_code = -1;
    ws_conn *c = ws_conn_new(s->fd, 0, NULL, 0, s->max);
    if (!c) {
        s->rc = WS_ENOMEM;
        return NULL;
    }
    for (;;) {
        int op = 0;
        ws_code rc = ws_recv(c, &m, &op, &s->close_code, IO_TIMEOUT_MS);
        if (rc != WS_OK) {
            s->rc = rc;
            break;
        }
        s->nmsg++;
        if (s->check && !pattern_ok((const uint8_t *)m.data, m.len))
            s->bad++;
        if (s->echo && ws_send(c, op, m.data, m.len) != WS_OK)
            s->bad++;
    }
    buf_release(&m);
    ws_conn_free(c, 0);
    return NULL;
}

static pthread_t srv_thread;
static server_t srv_state;
static ws_conn *cli;

static void pair_start(size_t server_max, int echo, int check, int nonblock)
{
    open_pair();
    for (int i = 0; nonblock && i < 2; i++) {
        int fl = fcntl(sv[i], F_GETFL);
        CU_ASSERT_FATAL(fl >= 0 && fcntl(sv[i], F_SETFL, fl | O_NONBLOCK) == 0);
    }
    memset(&srv_state, 0, sizeof srv_state);
    srv_state.fd = sv[1];
    srv_state.max = server_max;
    srv_state.echo = echo;
    srv_state.check = check;
    cli = ws_conn_new(sv[0], 1, NULL, 0, 1 << 20);
    CU_ASSERT_FATAL(cli != NULL);
    CU_ASSERT_FATAL(pthread_create(&srv_thread, NULL, server_main,
                                   &srv_state) == 0);
}

static void pair_join(void)
{
    pthread_join(srv_thread, NULL);
    ws_conn_free(cli, 0);
    cli = NULL;
    close_pair();
}

static void expect_echo(buf *m, int op, const void *data, size_t n)
{
    int got_op = -1, code;
    CU_ASSERT_EQUAL_FATAL(ws_send(cli, op, data, n), WS_OK);
    CU_ASSERT_EQUAL_FATAL(ws_recv(cli, m, &got_op, &code, IO_TIMEOUT_MS),
                          WS_OK);
    CU_ASSERT_EQUAL(got_op, op);
    CU_ASSERT_EQUAL(m->len, n);
    CU_ASSERT(n == 0 || memcmp(m->data, data, n) == 0);
}

static void test_pair_roundtrip_and_close(void)
{
    buf m;
    buf_init(&m, 0);
    pair_start(1 << 20, 1, 0, 0);

    expect_echo(&m, WS_OP_TEXT, "hello", 5);
    expect_echo(&m, WS_OP_TEXT, "", 0);
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    expect_echo(&m, WS_OP_BINARY, all, sizeof all);
    /* Larger than the socket buffers both ways. */
    size_t big = 300000;
    uint8_t *data = malloc(big);
    CU_ASSERT_FATAL(data != NULL);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i ^ (i >> 9));
    expect_echo(&m, WS_OP_BINARY, data, big);
    free(data);
    /* The server answers the ping; this side drops the pong unseen. */
    CU_ASSERT_EQUAL(ws_send_ping(cli, "hb", 2), WS_OK);
    expect_echo(&m, WS_OP_TEXT, "after ping", 10);

    int op, code = -1;
    CU_ASSERT_EQUAL(ws_send_close(cli, WS_CLOSE_NORMAL, "done"), WS_OK);
    CU_ASSERT_EQUAL(ws_recv(cli, &m, &op, &code, IO_TIMEOUT_MS), WS_ECLOSED);
    CU_ASSERT_EQUAL(code, WS_CLOSE_NORMAL);
    pair_join();
    CU_ASSERT_EQUAL(srv_state.rc, WS_ECLOSED);
    CU_ASSERT_EQUAL(srv_state.close_code, WS_CLOSE_NORMAL);
    CU_ASSERT_EQUAL(srv_state.nmsg, 5);
    CU_ASSERT_EQUAL(srv_state.bad, 0);
    buf_release(&m);
}

/* MHD may hand over a non-blocking socket: reads and writes then see
 * EAGAIN and short writes, and must wait in poll() instead of failing. */
static void test_pair_nonblocking(void)
{
    buf m;
    buf_init(&m, 0);
    pair_start(1 << 20, 1, 0, 1);
    size_t big = 1 << 20;
    uint8_t *data = malloc(big);
    CU_ASSERT_FATAL(data != NULL);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 5 + (i >> 12));
    expect_echo(&m, WS_OP_BINARY, data, big);
    expect_echo(&m, WS_OP_TEXT, "small", 5);
    free(data);
    int op, code = -1;
    CU_ASSERT_EQUAL(ws_send_close(cli, WS_CLOSE_NORMAL, NULL), WS_OK);
    CU_ASSERT_EQUAL(ws_recv(cli, &m, &op, &code, IO_TIMEOUT_MS), WS_ECLOSED);
    CU_ASSERT_EQUAL(code, WS_CLOSE_NORMAL);
    pair_join();
    CU_ASSERT_EQUAL(srv_state.rc, WS_ECLOSED);
    CU_ASSERT_EQUAL(srv_state.nmsg, 2);
    CU_ASSERT_EQUAL(srv_state.bad, 0);
    buf_release(&m);
}

static void test_pair_too_big(void)
{
    buf m;
    buf_init(&m, 0);
    pair_start(1024, 1, 0, 0);
    expect_echo(&m, WS_OP_BINARY, "small", 5);
    static uint8_t data[2000];
    int op, code = -1;
    CU_ASSERT_EQUAL(ws_send(cli, WS_OP_BINARY, data, sizeof data), WS_OK);
    CU_ASSERT_EQUAL(ws_recv(cli, &m, &op, &code, IO_TIMEOUT_MS), WS_ECLOSED);
    CU_ASSERT_EQUAL(code, WS_CLOSE_TOO_BIG);
    pair_join();
    CU_ASSERT_EQUAL(srv_state.rc, WS_ETOOBIG);
    buf_release(&m);
}

static void test_pair_bad_utf8(void)
{
    buf m;
    buf_init(&m, 0);
    pair_start(1024, 1, 0, 0);
    int op, code = -1;
    /* ws_send does not validate outgoing text; the receiver does. */
    CU_ASSERT_EQUAL(ws_send(cli, WS_OP_TEXT, "\xf8\x88\x80\x80\x80", 5),
                    WS_OK);
    CU_ASSERT_EQUAL(ws_recv(cli, &m, &op, &code, IO_TIMEOUT_MS), WS_ECLOSED);
    CU_ASSERT_EQUAL(code, WS_CLOSE_BAD_DATA);
    pair_join();
    CU_ASSERT_EQUAL(srv_state.rc, WS_EUTF8);
    buf_release(&m);
}

/* Two threads sending on one conn: the write mutex must keep every frame
 * whole, or the server would see garbage or a protocol error. */
enum { WRITERS = 2, PER_WRITER = 400 };

static void *writer_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint8_t m[3100];
    for (uint32_t seq = 0; seq < PER_WRITER; seq++) {
        size_t n = pattern(m, sizeof m, id, seq);
        if (ws_send(cli, WS_OP_BINARY, m, n) != WS_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_pair_concurrent_writers(void)
{
    pair_start(1 << 16, 0, 1, 0);
    pthread_t w[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        CU_ASSERT_FATAL(pthread_create(&w[i], NULL, writer_main,
                                       (void *)(intptr_t)(i + 1)) == 0);
    for (int i = 0; i < WRITERS; i++) {
        void *ret = NULL;
        pthread_join(w[i], &ret);
        CU_ASSERT_PTR_NULL(ret);
    }
    buf m;
    buf_init(&m, 0);
    int op, code = -1;
    CU_ASSERT_EQUAL(ws_send_close(cli, 4001, NULL), WS_OK);
    CU_ASSERT_EQUAL(ws_recv(cli, &m, &op, &code, IO_TIMEOUT_MS), WS_ECLOSED);
    CU_ASSERT_EQUAL(code, 4001);
    pair_join();
    CU_ASSERT_EQUAL(srv_state.rc, WS_ECLOSED);
    CU_ASSERT_EQUAL(srv_state.nmsg, WRITERS * PER_WRITER);
    CU_ASSERT_EQUAL(srv_state.bad, 0);
    buf_release(&m);
}

int main(void)
{
    static const cu_test tests[] = {
        {"codec", "accept key (RFC 6455 1.3)", test_accept_key},
        {"codec", "strerror", test_strerror},
        {"codec", "frame parse table", test_frame_parse_table},
        {"codec", "frame parse truncation", test_frame_parse_truncation},
        {"codec", "frame header round trip", test_frame_header_roundtrip},
        {"codec", "mask", test_mask},
        {"codec", "utf8 table", test_utf8_table},
        {"conn", "masking directions", test_conn_masking_directions},
        {"conn", "fragmented message", test_conn_fragmented},
        {"conn", "ping answered by pong", test_conn_ping_pong},
        {"conn", "close handshake table", test_conn_close_table},
        {"conn", "close initiated locally", test_conn_close_initiated},
        {"conn", "send argument checks", test_conn_send_args},
        {"conn", "max_message -> 1009", test_conn_too_big},
        {"conn", "invalid UTF-8 -> 1007", test_conn_bad_utf8},
        {"conn", "protocol errors -> 1002", test_conn_protocol_errors},
        {"conn", "timeouts keep partial data", test_conn_timeouts},
        {"conn", "pre-read bytes", test_conn_pre_bytes},
        {"conn", "peer vanished", test_conn_peer_vanished},
        {"pair", "round trip and close", test_pair_roundtrip_and_close},
        {"pair", "non-blocking sockets", test_pair_nonblocking},
        {"pair", "too big -> peer sees 1009", test_pair_too_big},
        {"pair", "bad UTF-8 -> peer sees 1007", test_pair_bad_utf8},
        {"pair", "concurrent writers", test_pair_concurrent_writers},
    };
    return cu_run_table(tests, sizeof tests / sizeof tests[0], NULL, NULL);
}
