/*
 * test_preview.c - the preview proxy of the real daytona-emu binary, end to
 * end: servers are started inside a sandbox through the toolbox sessions
 * API (POST /toolbox/<id>/process/session, then …/session/<sid>/exec with
 * runAsync) and reached through preview URLs.
 *
 * Expected behaviour: shared/reference/control-plane.md §7 ("Preview URL
 * formation" and the proxy's token rules: token by X-Daytona-Preview-Token,
 * DAYTONA_SANDBOX_AUTH_KEY query parameter (stripped before forwarding) or
 * cookie; public sandboxes open; the token rotates on every start; signed
 * tokens with a TTL, expirable early), §9 (preview traffic bumps
 * lastActivityAt, throttled to 5 s; it lives in its own table), trap 15,
 * and toolbox.md §1.1-1.2 (an API key of the sandbox's organization is
 * accepted, and that Authorization header - only that one - is removed
 * before forwarding; redirects are re-prefixed by the proxy).  The
 * emulator's URL shapes are the ones docs/EMULATOR.md gives: "path" mode
 * http://127.0.0.1:PORT/preview/<port>-<id|token>, "host" mode any request
 * whose Host is <port>-<id|token>.preview.localhost[:PORT].
 *
 * Sandboxes share the host's loopback in this emulator, so every port used
 * here is picked at random in 20000-29999 (and checked to be free) to keep
 * parallel test programs apart.
 *
 * Servers in the sandbox:
 *   PA  python3 -m http.server, serving ~/site (index.html, a 5 MiB file);
 *   PB  tools.py (below): echoes the request path and headers (GET), the
 *       request body (POST/PUT), sends a chunked response (/chunked) and
 *       runs a WebSocket echo (/ws) - standard library only;
 *   PC  nothing listening.
 *
 * Beyond the token rules, the checks cover what a reverse proxy must keep
 * intact: request bodies (also > 1 MiB and with Expect: 100-continue),
 * a 5 MiB response (sha256), a chunked upstream, Content-Length, WebSocket
 * frames both ways, redirects, the app's own Authorization header.
 *
 * Suite "preview" shares one emulator and one sandbox; the destructive
 * tests (public flag, stop/start, delete) run last.  Suite "host-mode"
 * starts a second emulator with --preview-mode host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "api_util.h"
#include "buf.h"
#include "codec.h"
#include "cu_run.h"
#include "test_net.h"
#include "timeutil.h"
#include "ws.h"
#include "ws_client.h"

#define K1 "preview-test-org1-key"
#define K2 "preview-test-org2-key"
#define AUTH_PARAM "DAYTONA_SANDBOX_AUTH_KEY"
#define TOKEN_HDR "X-Daytona-Preview-Token"
#define BIG_LEN (5 * 1024 * 1024)
#define READY_MS 20000

static const char *const emu_args[] = {"--api-key", K1, "--api-key", K2, NULL};

/* The page served by python3 -m http.server: UTF-8, CRLF, a tab. */
static const char INDEX_HTML[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>preview</title>"
    "</head>\r\n<body><h1>Preview \xc3\xa9\xe2\x9c\x93</h1>\t<p>'quotes' \"and\" "
    "$dollars `ticks` \\backslash</p></body></html>\n";

/* tools.py, see the header comment. */
static const char TOOLS_PY[] =
    "# Test helper server: echo path/headers, echo POST body, chunked response,\n"
    "# WebSocket echo.  Standard library only.\n"
    "import base64, hashlib, http.server, socket, struct, sys, time\n"
    "\n"
    "GUID = \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\"\n"
    "\n"
    "def pattern(n):\n"
    "    return bytes((i * 7 + 3) % 256 for i in range(n))\n"
    "\n"
    "CHUNKS = [1, 26, 4096, 100000, 7, 65536]\n"
    "\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = \"HTTP/1.1\"\n"
    "\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "\n"
    "    def reply(self, code, body, ctype=\"text/plain\"):\n"
    "        self.send_response(code)\n"
    "        self.send_header(\"Content-Type\", ctype)\n"
    "        self.send_header(\"Content-Length\", str(len(body)))\n"
    "        self.end_headers()\n"
    "        if self.command != \"HEAD\":\n"
    "            self.wfile.write(body)\n"
    "\n"
    "    def do_HEAD(self):\n"
    "        self.do_GET()\n"
    "\n"
    "    def do_GET(self):\n"
    "        if self.path.startswith(\"/ws\"):\n"
    "            return self.websocket()\n"
    "        if self.path.startswith(\"/chunked\"):\n"
    "            return self.chunked()\n"
    "        hdrs = \"\".join(\"%s: %s\\n\" % (k, v) for k, v in self.headers.items())\n"
    "        self.reply(200, (\"PATH %s\\n%s\" % (self.path, hdrs)).encode())\n"
    "\n"
    "    def do_POST(self):\n"
    "        n = int(self.headers.get(\"Content-Length\") or 0)\n"
    "        body = self.rfile.read(n)\n"
    "        self.reply(200, body, \"application/octet-stream\")\n"
    "\n"
    "    do_PUT = do_POST\n"
    "\n"
    "    def chunked(self):\n"
    "        self.send_response(200)\n"
    "        self.send_header(\"Content-Type\", \"application/octet-stream\")\n"
    "        self.send_header(\"Transfer-Encoding\", \"chunked\")\n"
    "        self.send_header(\"Connection\", \"close\")\n"
    "        self.end_headers()\n"
    "        data = pattern(sum(CHUNKS))\n"
    "        off = 0\n"
    "        for i, n in enumerate(CHUNKS):\n"
    "            ext = \";ext=%d\" % i if i % 2 else \"\"\n"
    "            self.wfile.write(b\"%X%s\\r\\n\" % (n, ext.encode()) + data[off:off + n] + b\"\\r\\n\")\n"
    "            self.wfile.flush()\n"
    "            off += n\n"
    "            time.sleep(0.05)\n"
    "        self.wfile.write(b\"0\\r\\nX-Trailer: done\\r\\n\\r\\n\")\n"
    "        self.wfile.flush()\n"
    "        self.close_connection = True\n"
    "\n"
    "    def websocket(self):\n"
    "        key = self.headers.get(\"Sec-WebSocket-Key\", \"\")\n"
    "        acc = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()\n"
    "        self.wfile.write((\"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\n\"\n"
    "                          \"Connection: Upgrade\\r\\nSec-WebSocket-Accept: %s\\r\\n\\r\\n\" % acc).encode()\n"
    "                         + self.frame(1, b\"hello from sandbox\"))\n"
    "        self.wfile.flush()\n"
    "        while True:\n"
    "            op, data = self.read_frame()\n"
    "            if op is None or op == 8:\n"
    "                try:\n"
    "                    self.wfile.write(self.frame(8, data or b\"\"))\n"
    "                    self.wfile.flush()\n"
    "                except OSError:\n"
    "                    pass\n"
    "                break\n"
    "            if op == 9:\n"
    "                self.wfile.write(self.frame(10, data))\n"
    "            elif op in (1, 2):\n"
    "                self.wfile.write(self.frame(op, (b\"echo:\" if op == 1 else b\"\") + data))\n"
    "            self.wfile.flush()\n"
    "        self.close_connection = True\n"
    "\n"
    "    def frame(self, op, data):\n"
    "        n = len(data)\n"
    "        if n < 126:\n"
    "            h = struct.pack(\"!BB\", 0x80 | op, n)\n"
    "        elif n < 65536:\n"
    "            h = struct.pack(\"!BBH\", 0x80 | op, 126, n)\n"
    "        else:\n"
    "            h = struct.pack(\"!BBQ\", 0x80 | op, 127, n)\n"
    "        return h + data\n"
    "\n"
    "    def read_exact(self, n):\n"
    "        b = b\"\"\n"
    "        while len(b) < n:\n"
    "            c = self.rfile.read(n - len(b))\n"
    "            if not c:\n"
    "                return None\n"
    "            b += c\n"
    "        return b\n"
    "\n"
    "    def read_frame(self):\n"
    "        h = self.read_exact(2)\n"
    "        if h is None:\n"
    "            return None, None\n"
    "        op, n = h[0] & 15, h[1] & 127\n"
    "        if n == 126:\n"
    "            n = struct.unpack(\"!H\", self.read_exact(2))[0]\n"
    "        elif n == 127:\n"
    "            n = struct.unpack(\"!Q\", self.read_exact(8))[0]\n"
    "        mask = self.read_exact(4) if h[1] & 128 else b\"\\0\\0\\0\\0\"\n"
    "        data = self.read_exact(n) if n else b\"\"\n"
    "        if data is None:\n"
    "            return None, None\n"
    "        return op, bytes(c ^ mask[i % 4] for i, c in enumerate(data))\n"
    "\n"
    "http.server.ThreadingHTTPServer((\"0.0.0.0\", int(sys.argv[1])), H).serve_forever()\n"
    ;

/* The chunk sizes tools.py sends for /chunked; the body is pattern(). */
static const size_t CHUNKS[] = {1, 26, 4096, 100000, 7, 65536};

static char SB[64];          /* the sandbox */
static char TOKEN[64];       /* its current preview token */
static char BIG_SHA[65];     /* sha256sum of site/big.bin, from the sandbox */
static unsigned PA, PB, PC;  /* file server, tools server, nothing */

/* ---------- small utilities ---------- */

/* A port in 20000-29999 that nothing on the loopback listens on and that
 * this program has not picked yet. */
static unsigned pick_port(void)
{
    for (int i = 0; i < 1000; i++) {
        unsigned p = 20000u + (unsigned)(rand() % 10000);
        if (p == PA || p == PB || p == PC)
            continue;
        int fd = tn_connect(p, 1, 0);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        return p;
    }
    return 0;
}

/* Deterministic bytes (NULs included): byte i = (i*7+3) % 256, as tools.py
 * makes them. */
static char *pattern(size_t n)
{
    char *p = malloc(n ? n : 1);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (char)((i * 7 + 3) % 256);
    return p;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    uint8_t dg[SHA256_DIGEST_LEN];
    sha256(d, n, dg);
    hex_encode(dg, sizeof dg, out);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" → ms since the epoch, or -1. */
static int64_t iso_ms(const char *s)
{
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ---------- requests ---------- */

/* "/preview/<port>-<label><rest>" */
static const char *pv(unsigned port, const char *label, const char *rest)
{
    return api_fmt("/preview/%u-%s%s", port, label, rest);
}

static const char *tok_hdr(const char *tok)
{
    return api_fmt(TOKEN_HDR ": %s", tok);
}

/* GET with at most two extra header lines (NULL = none). */
static http_resp *get2(const char *path, const char *bearer, const char *h1,
                       const char *h2)
{
    const char *h[3] = {h1, h1 ? h2 : NULL, NULL};
    return api_req("GET", path, bearer, h, NULL, 0);
}

/* GET through the preview proxy with the current token in the header. */
static http_resp *get_tok(const char *path)
{
    return get2(path, NULL, tok_hdr(TOKEN), NULL);
}

static const char *sbp(const char *sub)
{
    return api_fmt("/api/sandbox/%s%s", SB, sub);
}

/* Runs cmd through POST /process/execute in sandbox id (on emulator e);
 * the output into out (may be NULL).  0 when it answered 200 with exit
 * code 0. */
static int sh_on(const emu_proc *e, const char *id, const char *cmd,
                 char *out, size_t outn)
{
    char path[128];
    snprintf(path, sizeof path, "/toolbox/%s/process/execute", id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmd);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_resp r = http_do(e, "POST", path, K1, NULL, body, -1);
    free(body);
    const char *res = resp_str(&r, "result");
    int ok = r.status == 200 && resp_num(&r, "exitCode", -1) == 0;
    if (!ok)
        fprintf(stderr, "\n  execute \"%.200s\": %ld %.500s\n", cmd, r.status, r.body);
    if (out && outn)
        snprintf(out, outn, "%s", res ? res : "");
    http_resp_free(&r);
    return ok ? 0 : -1;
}

/* Starts cmd in a new session of sandbox id: POST …/process/session, then
 * …/session/<sid>/exec with runAsync.  0 on 201 + 202. */
static int start_bg_on(const emu_proc *e, const char *id, const char *sid,
                       const char *cmd)
{
    char path[256], body[128];
    snprintf(path, sizeof path, "/toolbox/%s/process/session", id);
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\"}", sid);
    http_resp r = http_do(e, "POST", path, K1, NULL, body, -1);
    long st1 = r.status;
    http_resp_free(&r);
    snprintf(path, sizeof path, "/toolbox/%s/process/session/%s/exec", id, sid);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmd);
    cJSON_AddTrueToObject(o, "runAsync");
    char *b = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    r = http_do(e, "POST", path, K1, NULL, b, -1);
    free(b);
    long st2 = r.status;
    if (st1 != 201 || st2 != 202)
        fprintf(stderr, "\n  session %s: create %ld, exec \"%s\" %ld %.300s\n",
                sid, st1, cmd, st2, r.body);
    http_resp_free(&r);
    return st1 == 201 && st2 == 202 ? 0 : -1;
}

/* Readiness: GET path (with the header lines h, NULL-terminated) on e
 * until it answers 200 or READY_MS pass; the last status. */
static long wait_ready(const emu_proc *e, const char *path,
                       const char *const *h)
{
    int64_t end = time_mono_ms() + READY_MS;
    long st = 0;
    for (;;) {
        http_resp r = http_do(e, "GET", path, NULL, h, NULL, 0);
        st = r.status;
        http_resp_free(&r);
        if (st == 200 || time_mono_ms() > end)
            return st;
        tn_sleep_ms(100);
    }
}

/* The current preview token of SB (from …/ports/PA/preview-url). */
static int fetch_token(char *out, size_t n)
{
    char path[160];
    snprintf(path, sizeof path, "/api/sandbox/%s/ports/%u/preview-url", SB, PA);
    http_resp r = http_do(&api.emu, "GET", path, K1, NULL, NULL, 0);
    const char *t = resp_str(&r, "token");
    int ok = r.status == 200 && t;
    snprintf(out, n, "%s", ok ? t : "");
    http_resp_free(&r);
    return ok ? 0 : -1;
}

static int64_t clock_now_ms(void)
{
    http_resp *r = GET("/_emulator/clock", NULL);
    return (int64_t)resp_num(r, "nowMs", -1);
}

static void clock_advance(int seconds)
{
    http_resp *r = POST("/_emulator/clock", NULL,
                        api_fmt("{\"advanceSeconds\":%d}", seconds));
    expect_status(r, 200);
}

/* The sandbox's DTO field key as ms since the epoch. */
static int64_t sb_time(const char *key)
{
    http_resp *r = GET(sbp(""), K1);
    return iso_ms(resp_str(r, key));
}

/* ---------- assertions ---------- */

static void body_eq_at(const http_resp *r, const void *want, size_t n,
                       const char *file, unsigned line)
{
    int ok = r->body_len == n && memcmp(r->body, want, n) == 0;
    api_check_txt(ok, file, line, "%s: the body is the %zu expected bytes "
                  "(got %zu)", api_what(r), n, r->body_len);
    if (!ok)
        fprintf(stderr, "\n  %s:%u: %s: expected %zu bytes, got %zu: %.300s\n",
                file, line, api_what(r), n, r->body_len, r->body);
}
#define expect_body(r, want, n) body_eq_at((r), (want), (n), __FILE__, __LINE__)

static void body_prefix_at(const http_resp *r, const char *want,
                           const char *file, unsigned line)
{
    int ok = strncmp(r->body, want, strlen(want)) == 0;
    api_check_txt(ok, file, line, "%s: the body starts with \"%s\"",
                  api_what(r), want);
    if (!ok)
        fprintf(stderr, "\n  %s:%u: %s: expected a body starting \"%s\", got: "
                "%.400s\n", file, line, api_what(r), want, r->body);
}
#define expect_prefix(r, want) body_prefix_at((r), (want), __FILE__, __LINE__)

/* ---------- suite "preview" ---------- */

static int setup(void)
{
    srand((unsigned)(getpid() ^ time(NULL) ^ (time_mono_ms() << 8)));
    if (api_suite_start(emu_args) != 0)
        return -1;
    PA = pick_port();
    PB = pick_port();
    PC = pick_port();
    if (!PA || !PB || !PC)
        return -1;
    http_resp c = http_do(&api.emu, "POST", "/api/sandbox", K1, NULL,
                          "{\"autoStopInterval\":0,\"labels\":{\"suite\":\"preview\"}}", -1);
    const char *id = resp_str(&c, "id");
    snprintf(SB, sizeof SB, "%s", id ? id : "");
    long st = c.status;
    http_resp_free(&c);
    if (st != 200 || !SB[0] || fetch_token(TOKEN, sizeof TOKEN) != 0) {
        fprintf(stderr, "preview: sandbox create answered %ld\n", st);
        return -1;
    }

    /* Files: written through base64 so no byte needs shell quoting. */
    char *b_index = malloc(BASE64_ENCODED_SIZE(sizeof INDEX_HTML));
    char *b_tools = malloc(BASE64_ENCODED_SIZE(sizeof TOOLS_PY));
    if (!b_index || !b_tools)
        return -1;
    base64_encode(INDEX_HTML, sizeof INDEX_HTML - 1, b_index);
    base64_encode(TOOLS_PY, sizeof TOOLS_PY - 1, b_tools);
    size_t cl = strlen(b_index) + strlen(b_tools) + 512;
    char *cmd = malloc(cl);
    char out[512];
    if (!cmd)
        return -1;
    snprintf(cmd, cl,
             "mkdir -p site/sub && echo in-sub > site/sub/a.txt && "
             "echo '%s' | base64 -d > site/index.html && "
             "echo '%s' | base64 -d > tools.py && "
             "head -c %d /dev/urandom > site/big.bin && sha256sum site/big.bin",
             b_index, b_tools, BIG_LEN);
    int rc = sh_on(&api.emu, SB, cmd, out, sizeof out);
    free(cmd);
    free(b_index);
    free(b_tools);
    if (rc != 0 || strlen(out) < 64)
        return -1;
    snprintf(BIG_SHA, sizeof BIG_SHA, "%.64s", out);

    char c1[128], c2[128];
    snprintf(c1, sizeof c1, "python3 -m http.server %u --directory site", PA);
    snprintf(c2, sizeof c2, "python3 tools.py %u", PB);
    if (start_bg_on(&api.emu, SB, "files", c1) != 0 ||
        start_bg_on(&api.emu, SB, "tools", c2) != 0)
        return -1;
    /* Readiness is polled through the preview URLs themselves. */
    char hdr[128], p1[160], p2[160];
    snprintf(hdr, sizeof hdr, TOKEN_HDR ": %s", TOKEN);
    const char *h[] = {hdr, NULL};
    snprintf(p1, sizeof p1, "/preview/%u-%s/index.html", PA, SB);
    snprintf(p2, sizeof p2, "/preview/%u-%s/ready", PB, SB);
    long r1 = wait_ready(&api.emu, p1, h), r2 = wait_ready(&api.emu, p2, h);
    if (r1 != 200 || r2 != 200) {
        fprintf(stderr, "preview: servers not ready through the proxy "
                "(%u: %ld, %u: %ld)\n", PA, r1, PB, r2);
        return -1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    /* Normally the last test deleted it already. */
    if (SB[0] && api.running) {
        http_resp r = http_do(&api.emu, "DELETE", api_fmt("/api/sandbox/%s", SB), K1,
                              NULL, NULL, 0);
        http_resp_free(&r);
    }
    return api_suite_stop();
}

static int suite_init(void)
{
    int rc = setup();
    if (rc != 0)
        suite_cleanup();    /* CUnit does not call it after a failed init */
    return rc;
}

static void test_preview_url_shape(void)
{
    http_resp *r = GET(sbp(api_fmt("/ports/%u/preview-url", PA)), K1);
    expect_status(r, 200);
    assert_str(r->json, "sandboxId", SB);
    assert_str(r->json, "url", api_fmt("%s/preview/%u-%s", api.emu.base, PA, SB));
    assert_str(r->json, "token", TOKEN);
    CU_ASSERT(api_is_token(TOKEN, 32));
    /* The same token for every port (§7). */
    r = GET(sbp(api_fmt("/ports/%u/preview-url", PB)), K1);
    expect_status(r, 200);
    assert_str(r->json, "token", TOKEN);
    assert_str(r->json, "url", api_fmt("%s/preview/%u-%s", api.emu.base, PB, SB));
    assert_envelope(GET(sbp("/ports/0/preview-url"), K1), 400, "Invalid port");
    assert_envelope(GET(sbp("/ports/65536/preview-url"), K1), 400, "Invalid port");
    api_release();
}

static void test_private_without_token_401(void)
{
    expect_status(GET(pv(PA, SB, "/index.html"), NULL), 401);
    expect_status(get2(pv(PA, SB, "/index.html"), NULL,
                       tok_hdr("00000000000000000000000000000000"), NULL), 401);
    expect_status(GET(pv(PA, SB, "/index.html?" AUTH_PARAM "=wrong"), NULL), 401);
    /* The signed-URL shape with a token nobody issued. */
    expect_status(GET(pv(PA, "abcdefgh12345678", "/index.html"), NULL), 401);
    api_release();
}

static void test_header_token_200(void)
{
    http_resp *r = get_tok(pv(PA, SB, "/index.html"));
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    char ct[128] = "";
    resp_header(r, "Content-Type", ct, sizeof ct);
    CU_ASSERT(strncmp(ct, "text/html", 9) == 0);
    /* The directory listing at the root, with and without the slash. */
    expect_status(get_tok(pv(PA, SB, "/")), 200);
    expect_status(get_tok(pv(PA, SB, "")), 200);
    /* Upstream statuses pass through. */
    expect_status(get_tok(pv(PA, SB, "/no-such-file")), 404);
    api_release();
}

static void test_query_token_200_and_stripped(void)
{
    http_resp *r = GET(pv(PA, SB, api_fmt("/index.html?" AUTH_PARAM "=%s", TOKEN)), NULL);
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    /* The parameter is checked and removed; the rest of the query and the
     * raw path are passed on unchanged. */
    r = GET(pv(PB, SB, api_fmt("/q/a%%20b?x=1&" AUTH_PARAM "=%s&y=2", TOKEN)), NULL);
    expect_status(r, 200);
    expect_prefix(r, "PATH /q/a%20b?x=1&y=2\n");
    r = GET(pv(PB, SB, api_fmt("/only?" AUTH_PARAM "=%s", TOKEN)), NULL);
    expect_status(r, 200);
    expect_prefix(r, "PATH /only\n");
    CU_ASSERT(strstr(r->body, TOKEN) == NULL);
    r = GET(pv(PB, SB, api_fmt("/first?" AUTH_PARAM "=%s&z=3", TOKEN)), NULL);
    expect_status(r, 200);
    expect_prefix(r, "PATH /first?z=3\n");
    api_release();
}

static void test_org_api_key(void)
{
    http_resp *r = get2(pv(PA, SB, "/index.html"), K1, NULL, NULL);
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    expect_status(get2(pv(PA, SB, "/index.html"), K2, NULL, NULL), 401);
    expect_status(get2(pv(PA, SB, "/index.html"), "not-a-key", NULL, NULL), 401);
    /* The caller's API key never reaches the sandbox (toolbox.md §1.2). */
    r = get2(pv(PB, SB, "/headers"), K1, NULL, NULL);
    expect_status(r, 200);
    expect_prefix(r, "PATH /headers\n");
    CU_ASSERT(strcasestr(r->body, "\nAuthorization:") == NULL);
    CU_ASSERT(strstr(r->body, K1) == NULL);
    api_release();
}

/* A signed URL for port; its token into tok (17 bytes). */
static http_resp *signed_url(unsigned port, int seconds, char tok[17])
{
    http_resp *r = GET(sbp(api_fmt("/ports/%u/signed-preview-url?expiresInSeconds=%d",
                                    port, seconds)), K1);
    const char *t = resp_str(r, "token");
    snprintf(tok, 17, "%s", t ? t : "");
    return r;
}

/* The path part of an absolute URL of this emulator ("" if it is not). */
static const char *local_path(const char *url)
{
    size_t bl = strlen(api.emu.base);
    if (!url || strncmp(url, api.emu.base, bl) != 0)
        return "/not-this-emulator";
    return url + bl;
}

static void test_signed_url(void)
{
    char st[17];
    http_resp *r = signed_url(PA, 120, st);
    expect_status(r, 200);
    assert_str(r->json, "sandboxId", SB);
    assert_num(r->json, "port", PA);
    CU_ASSERT(api_is_token(st, 16));
    assert_str(r->json, "url", api_fmt("%s/preview/%u-%s", api.emu.base, PA, st));
    /* No headers at all. */
    http_resp *g = GET(api_fmt("%s/index.html", local_path(resp_str(r, "url"))), NULL);
    expect_status(g, 200);
    expect_body(g, INDEX_HTML, sizeof INDEX_HTML - 1);
    /* A wrong token in the header does not spoil a signed URL. */
    expect_status(get2(pv(PA, st, "/index.html"), NULL, tok_hdr("nope"), NULL), 200);
    /* Each call issues a new token. */
    char st2[17];
    expect_status(signed_url(PA, 120, st2), 200);
    CU_ASSERT(strcmp(st, st2) != 0);
    /* expiresInSeconds is 1..86400 (§7). */
    expect_status(signed_url(PA, 0, st2), 400);
    expect_status(signed_url(PA, 86401, st2), 400);
    api_release();
}

static void test_signed_url_other_port_401(void)
{
    char st[17];
    expect_status(signed_url(PA, 120, st), 200);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 200);
    expect_status(GET(pv(PB, st, "/ready"), NULL), 401);
    /* Nor the other way round. */
    char sb2[17];
    expect_status(signed_url(PB, 120, sb2), 200);
    expect_status(GET(pv(PB, sb2, "/ready"), NULL), 200);
    expect_status(GET(pv(PA, sb2, "/index.html"), NULL), 401);
    api_release();
}

static void test_signed_url_expire_401(void)
{
    char st[17];
    expect_status(signed_url(PA, 600, st), 200);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 200);
    http_resp *r = api_post_form_empty(
        sbp(api_fmt("/ports/%u/signed-preview-url/%s/expire", PA, st)), K1);
    expect_status(r, 201);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 401);
    api_release();
}

static void test_signed_url_ttl_401(void)
{
    char st[17];
    expect_status(signed_url(PA, 30, st), 200);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 200);
    clock_advance(20);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 200);
    clock_advance(11);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 401);
    api_release();
}

static void test_nothing_listening_502(void)
{
    expect_status(get_tok(pv(PC, SB, "/")), 502);
    api_release();
}

static void test_unknown_sandbox_404(void)
{
    expect_status(get_tok(pv(PA, "0b3f9a52-5c7e-4d2a-9f4e-6a1b2c3d4e5f", "/")), 404);
    expect_status(get2(pv(PA, "0b3f9a52-5c7e-4d2a-9f4e-6a1b2c3d4e5f", "/"), K1,
                       NULL, NULL), 404);
    api_release();
}

static void test_host_mode(void)
{
    const char *host = api_fmt("Host: %u-%s.preview.localhost:%u", PA, SB, api.emu.port);
    http_resp *r = get2("/index.html", NULL, host, tok_hdr(TOKEN));
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    expect_status(get2("/index.html", NULL, host, NULL), 401);
    /* Host mode takes over every path, /api included. */
    r = get2(api_fmt("/api/sandbox?" AUTH_PARAM "=%s", TOKEN),
             NULL, api_fmt("Host: %u-%s.preview.localhost:%u", PB, SB, api.emu.port), NULL);
    expect_status(r, 200);
    expect_prefix(r, "PATH /api/sandbox\n");
    /* Without the port in Host. */
    r = get2("/index.html", NULL, api_fmt("Host: %u-%s.preview.localhost", PA, SB),
             tok_hdr(TOKEN));
    expect_status(r, 200);
    /* A signed token in host mode. */
    char st[17];
    expect_status(signed_url(PA, 120, st), 200);
    r = get2("/index.html", NULL,
             api_fmt("Host: %u-%s.preview.localhost:%u", PA, st, api.emu.port), NULL);
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    api_release();
}

static void post_echo_check(const char *method, size_t n)
{
    char *body = pattern(n);
    const char *h[] = {tok_hdr(TOKEN), "Content-Type: application/octet-stream", NULL};
    http_resp *r = api_req(method, pv(PB, SB, "/echo"), NULL, h, body, (long)n);
    expect_status(r, 200);
    expect_body(r, body, n);
    free(body);
}

static void test_post_body_reaches_server(void)
{
    post_echo_check("POST", 65536 + 17);
    post_echo_check("PUT", 3);
    post_echo_check("POST", 0);
    api_release();
}

/* Bodies bigger than the control plane's 1 MiB JSON cap: the real proxy
 * streams request bodies of any size. */
static void test_post_large_body(void)
{
    post_echo_check("POST", 4 * 1024 * 1024 + 5);
    api_release();
}

/* A raw request to the emulator and everything that came back (see
 * wsc_exchange; the caller frees it). */
static char *raw_exchange(const char *req, size_t reqlen, int timeout_ms, size_t *n)
{
    return wsc_exchange(api.emu.port, req, reqlen, timeout_ms, 16 * 1024 * 1024, n);
}

/* The status of the first non-1xx response in raw, and where its body
 * starts (NULL if none). */
static long final_status(const char *raw, const char **body)
{
    const char *p = raw;
    *body = NULL;
    while (p && strncmp(p, "HTTP/1.", 7) == 0) {
        long code = strtol(p + 9, NULL, 10);
        const char *end = strstr(p, "\r\n\r\n");
        if (!end)
            return code;
        if (code >= 200 || code < 100) {
            *body = end + 4;
            return code;
        }
        p = end + 4;
    }
    return 0;
}

/* curl, browsers' fetch polyfills and many HTTP clients send
 * "Expect: 100-continue" with bigger bodies: the server's interim
 * 100 Continue must not become the final answer. */
static void test_expect_100_continue(void)
{
    const char *req = api_fmt(
        "POST /preview/%u-%s/echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
        TOKEN_HDR ": %s\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 11\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        "hello world", PB, SB, api.emu.port, TOKEN);
    size_t n = 0;
    char *raw = raw_exchange(req, strlen(req), 8000, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
    const char *body = NULL;
    long st = final_status(raw, &body);
    api_check_txt(st == 200, __FILE__, __LINE__,
                  "POST with Expect: 100-continue: final status 200 (got %ld)", st);
    CU_ASSERT(body && strstr(body, "hello world") != NULL);
    if (st != 200 || !body || !strstr(body, "hello world"))
        fprintf(stderr, "\n  Expect: 100-continue: got %zu bytes: %.600s\n", n, raw);
    free(raw);
    api_release();
}

static void test_big_response_streams_intact(void)
{
    http_resp *r = get_tok(pv(PA, SB, "/big.bin"));
    expect_status(r, 200);
    CU_ASSERT_EQUAL(r->body_len, (size_t)BIG_LEN);
    char got[65];
    sha256_hex(r->body, r->body_len, got);
    api_check_txt(strcmp(got, BIG_SHA) == 0, __FILE__, __LINE__,
                  "sha256 of the 5 MiB body == the sandbox's (%s), got %s", BIG_SHA, got);
    api_release();
}

/* Go's reverse proxy (Daytona's) passes a Content-Length through; a client
 * can then size a download.  HEAD answers carry it too. */
static void test_content_length_passed_on(void)
{
    http_resp *r = get_tok(pv(PA, SB, "/big.bin"));
    expect_status(r, 200);
    char cl[64] = "";
    int has = resp_header(r, "Content-Length", cl, sizeof cl) == 0;
    api_check_txt(has && atol(cl) == BIG_LEN, __FILE__, __LINE__,
                  "GET: Content-Length: %d passed on (got %s)", BIG_LEN,
                  has ? cl : "none");
    const char *h[] = {tok_hdr(TOKEN), NULL};
    r = api_req("HEAD", pv(PA, SB, "/index.html"), NULL, h, NULL, 0);
    expect_status(r, 200);
    cl[0] = '\0';
    has = resp_header(r, "Content-Length", cl, sizeof cl) == 0;
    api_check_txt(has && (size_t)atol(cl) == sizeof INDEX_HTML - 1, __FILE__, __LINE__,
                  "HEAD: Content-Length: %zu passed on (got %s)",
                  sizeof INDEX_HTML - 1, has ? cl : "none");
    api_release();
}

static void test_chunked_upstream(void)
{
    size_t total = 0;
    for (size_t i = 0; i < sizeof CHUNKS / sizeof CHUNKS[0]; i++)
        total += CHUNKS[i];
    char *want = pattern(total);
    http_resp *r = get_tok(pv(PB, SB, "/chunked"));
    expect_status(r, 200);
    expect_body(r, want, total);
    free(want);
    /* Also read raw: exactly one framing (whatever the proxy chose). */
    const char *req = api_fmt("GET /preview/%u-%s/chunked HTTP/1.1\r\nHost: x\r\n"
                              TOKEN_HDR ": %s\r\nConnection: close\r\n\r\n",
                              PB, SB, TOKEN);
    size_t n = 0;
    char *raw = raw_exchange(req, strlen(req), 10000, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
    const char *end = strstr(raw, "\r\n\r\n");
    CU_ASSERT_PTR_NOT_NULL(end);
    if (end) {
        size_t hl = (size_t)(end - raw);
        int te = 0;
        for (const char *p = strstr(raw, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n"))
            te += strncasecmp(p + 2, "Transfer-Encoding:", 18) == 0;
        CU_ASSERT(te <= 1);
        /* The upstream's chunk extensions must not leak into the body. */
        CU_ASSERT(memmem(end, n - hl, ";ext=", 5) == NULL);
    }
    free(raw);
    api_release();
}

/* Opens a WebSocket through the proxy to tools.py's /ws (with the extra
 * header line hdr, without CRLF, may be ""); the response head into head. */
static ws_conn *ws_open(const char *label, unsigned port, const char *hdr,
                        char *head, size_t headn)
{
    return wsc_connect(api.emu.port, 10, api_fmt("/preview/%u-%s/ws", port, label),
                       api_fmt("%s%s", hdr, hdr[0] ? "\r\n" : ""), 1024 * 1024, head, headn);
}

static void test_websocket_both_ways(void)
{
    char head[8192];
    ws_conn *c = ws_open(SB, PB, tok_hdr(TOKEN), head, sizeof head);
    if (!c)
        fprintf(stderr, "\n  WebSocket upgrade through the proxy: %s\n", head);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(strcasestr(head, "\r\nSec-WebSocket-Accept: " WSC_ACCEPT "\r\n") != NULL);
    CU_ASSERT(strcasestr(head, "\r\nUpgrade: websocket\r\n") != NULL);
    buf m;
    buf_init(&m, 1024 * 1024);
    int op = 0, cc = 0;
    /* Server → client: the greeting sent right after the 101. */
    ws_code rc = ws_recv(c, &m, &op, &cc, 5000);
    CU_ASSERT_EQUAL(rc, WS_OK);
    CU_ASSERT_EQUAL(op, WS_OP_TEXT);
    CU_ASSERT_STRING_EQUAL(buf_str(&m), "hello from sandbox");
    /* Client → server → client. */
    const char *msg = "through the proxy \xe2\x9c\x93";
    CU_ASSERT_EQUAL(ws_send(c, WS_OP_TEXT, msg, strlen(msg)), WS_OK);
    rc = ws_recv(c, &m, &op, &cc, 5000);
    CU_ASSERT_EQUAL(rc, WS_OK);
    CU_ASSERT_EQUAL(op, WS_OP_TEXT);
    CU_ASSERT_STRING_EQUAL(buf_str(&m), "echo:through the proxy \xe2\x9c\x93");
    /* A 64-bit-length binary message, NULs included. */
    size_t bn = 70000;
    char *bin = pattern(bn);
    CU_ASSERT_EQUAL(ws_send(c, WS_OP_BINARY, bin, bn), WS_OK);
    rc = ws_recv(c, &m, &op, &cc, 10000);
    CU_ASSERT_EQUAL(rc, WS_OK);
    CU_ASSERT_EQUAL(op, WS_OP_BINARY);
    CU_ASSERT(m.len == bn && memcmp(m.data, bin, bn) == 0);
    free(bin);
    /* Close handshake end to end. */
    CU_ASSERT_EQUAL(ws_send_close(c, WS_CLOSE_NORMAL, "bye"), WS_OK);
    rc = ws_recv(c, &m, &op, &cc, 5000);
    CU_ASSERT_EQUAL(rc, WS_ECLOSED);
    CU_ASSERT_EQUAL(cc, WS_CLOSE_NORMAL);
    buf_release(&m);
    ws_conn_free(c, 1);
    api_release();
}

static void test_websocket_needs_token(void)
{
    char head[8192];
    ws_conn *c = ws_open(SB, PB, "", head, sizeof head);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT(strncmp(head, "HTTP/1.1 401", 12) == 0);
    if (c)
        ws_conn_free(c, 1);
    /* A signed URL needs none. */
    char st[17];
    expect_status(signed_url(PB, 120, st), 200);
    c = ws_open(st, PB, "", head, sizeof head);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (c) {
        buf m;
        buf_init(&m, 4096);
        int op = 0, cc = 0;
        CU_ASSERT_EQUAL(ws_recv(c, &m, &op, &cc, 5000), WS_OK);
        CU_ASSERT_STRING_EQUAL(buf_str(&m), "hello from sandbox");
        buf_release(&m);
        ws_conn_free(c, 1);
    }
    api_release();
}

/* §9: preview traffic bumps lastActivityAt, at most once per 5 s. */
static void test_activity_bumped_throttled(void)
{
    clock_advance(60);
    int64_t before = sb_time("lastActivityAt");
    int64_t now0 = clock_now_ms();
    CU_ASSERT(before > 0 && now0 - before >= 60000);
    expect_status(get_tok(pv(PA, SB, "/index.html")), 200);
    int64_t a1 = sb_time("lastActivityAt");
    api_check_txt(a1 >= now0 && a1 <= now0 + 5000, __FILE__, __LINE__,
                  "a preview request sets lastActivityAt to now (%lld, now %lld)",
                  (long long)a1, (long long)now0);
    /* 2 s later: throttled. */
    clock_advance(2);
    expect_status(get_tok(pv(PA, SB, "/index.html")), 200);
    int64_t a2 = sb_time("lastActivityAt");
    api_check_txt(a2 == a1, __FILE__, __LINE__,
                  "within 5 s lastActivityAt stays (%lld vs %lld)",
                  (long long)a2, (long long)a1);
    /* 6 s after the bump: bumped again; signed URLs count as well. */
    clock_advance(4);
    char st[17];
    expect_status(signed_url(PA, 600, st), 200);
    expect_status(GET(pv(PA, st, "/index.html"), NULL), 200);
    int64_t a3 = sb_time("lastActivityAt");
    api_check_txt(a3 >= a1 + 6000, __FILE__, __LINE__,
                  "after 6 s lastActivityAt moves again (%lld vs %lld)",
                  (long long)a3, (long long)a1);
    /* A refused request is no activity. */
    clock_advance(10);
    expect_status(GET(pv(PA, SB, "/index.html"), NULL), 401);
    CU_ASSERT_EQUAL(sb_time("lastActivityAt"), a3);
    api_release();
}

/* lastActivityAt lives in its own table (sandbox_last_activity, §9): an
 * activity bump is no update of the sandbox row, so updatedAt stays. */
static void test_activity_leaves_updated_at(void)
{
    clock_advance(30);
    int64_t u0 = sb_time("updatedAt");
    int64_t a0 = sb_time("lastActivityAt");
    expect_status(get_tok(pv(PA, SB, "/index.html")), 200);
    int64_t u1 = sb_time("updatedAt");
    CU_ASSERT(sb_time("lastActivityAt") > a0);
    api_check_txt(u1 == u0, __FILE__, __LINE__,
                  "preview traffic leaves updatedAt alone (%lld, was %lld)",
                  (long long)u1, (long long)u0);
    api_release();
}

/* toolbox.md §1.2: the proxy removes an Authorization header only when it
 * authenticated the request with it; any other (an app's own Basic or
 * Bearer credentials, with the preview token in its header, or on a public
 * sandbox) reaches the server in the sandbox. */
static void test_app_authorization_passed_on(void)
{
    http_resp *r = get2(pv(PB, SB, "/app-auth"), NULL, tok_hdr(TOKEN),
                        "Authorization: Basic dXNlcjpwYXNz");
    expect_status(r, 200);
    expect_prefix(r, "PATH /app-auth\n");
    api_check_txt(strstr(r->body, "\nAuthorization: Basic dXNlcjpwYXNz\n") != NULL,
                  __FILE__, __LINE__, "the app receives its own Authorization: Basic");
    expect_status(api_post_form_empty(sbp("/public/true"), K1), 201);
    r = get2(pv(PB, SB, "/app-auth"), "app-own-bearer-token", NULL, NULL);
    expect_status(r, 200);
    api_check_txt(strstr(r->body, "\nAuthorization: Bearer app-own-bearer-token\n") != NULL,
                  __FILE__, __LINE__,
                  "public sandbox: the app receives its own Authorization: Bearer");
    expect_status(api_post_form_empty(sbp("/public/false"), K1), 201);
    if (!strstr(r->body, "Authorization:"))
        fprintf(stderr, "\n  headers the app saw: %.500s\n", r->body);
    api_release();
}

/* Path mode puts the app under /preview/<port>-<id>: a redirect to an
 * absolute path (python's http.server answers /sub with 301 Location:
 * /sub/) must stay inside the preview, as the toolbox proxy re-prefixes
 * Location headers with /toolbox/<id> (toolbox.md §1.1). */
static void test_redirect_stays_in_preview(void)
{
    http_resp *r = get_tok(pv(PA, SB, "/sub"));
    expect_status(r, 301);
    char loc[512] = "";
    resp_header(r, "Location", loc, sizeof loc);
    const char *path = loc;
    size_t bl = strlen(api.emu.base);
    if (strncmp(loc, api.emu.base, bl) == 0)
        path = loc + bl;
    const char *want = api_fmt("/preview/%u-%s/sub/", PA, SB);
    api_check_txt(strcmp(path, want) == 0, __FILE__, __LINE__,
                  "Location: %s (got \"%s\")", want, loc);
    r = get_tok(path[0] == '/' ? path : "/-");
    api_check_txt(r->status == 200 && strstr(r->body, "a.txt") != NULL, __FILE__,
                  __LINE__, "following Location %s lists site/sub (got %ld)", loc,
                  r->status);
    api_release();
}

static void test_public_sandbox(void)
{
    expect_status(api_post_form_empty(sbp("/public/true"), K1), 201);
    http_resp *r = GET(pv(PA, SB, "/index.html"), NULL);
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    /* Another organization's key or a wrong token do not matter then. */
    expect_status(get2(pv(PA, SB, "/index.html"), K2, NULL, NULL), 200);
    expect_status(get2(pv(PA, SB, "/index.html"), NULL, tok_hdr("nope"), NULL), 200);
    expect_status(api_post_form_empty(sbp("/public/false"), K1), 201);
    expect_status(GET(pv(PA, SB, "/index.html"), NULL), 401);
    api_release();
}

/* Waits for the sandbox's state; 1 when reached. */
static int wait_state(const char *want)
{
    int64_t end = time_mono_ms() + 30000;
    for (;;) {
        http_resp r = http_do(&api.emu, "GET", api_fmt("/api/sandbox/%s", SB), K1,
                              NULL, NULL, 0);
        const char *s = resp_str(&r, "state");
        int ok = s && strcmp(s, want) == 0;
        http_resp_free(&r);
        if (ok)
            return 1;
        if (time_mono_ms() > end)
            return 0;
        tn_sleep_ms(100);
    }
}

static void test_stopped_503_and_token_rotation(void)
{
    char old[64];
    snprintf(old, sizeof old, "%s", TOKEN);
    http_resp *r = api_post_form_empty(sbp("/stop?force=false"), K1);
    expect_status(r, 200);
    CU_ASSERT_FATAL(wait_state("stopped"));
    expect_status(get_tok(pv(PA, SB, "/index.html")), 503);
    expect_status(get2(pv(PA, SB, "/index.html"), K1, NULL, NULL), 503);

    r = api_post_form_empty(sbp("/start"), K1);
    expect_status(r, 200);
    CU_ASSERT_FATAL(wait_state("started"));
    CU_ASSERT_FATAL(fetch_token(TOKEN, sizeof TOKEN) == 0);
    CU_ASSERT(api_is_token(TOKEN, 32));
    CU_ASSERT(strcmp(TOKEN, old) != 0);
    /* The stop ended the sandbox's processes. */
    expect_status(get_tok(pv(PA, SB, "/index.html")), 502);
    /* Restart the server; the old token is refused, the new one works. */
    CU_ASSERT_FATAL(start_bg_on(&api.emu, SB, "files2",
                                api_fmt("python3 -m http.server %u --directory site",
                                        PA)) == 0);
    const char *h[] = {tok_hdr(TOKEN), NULL};
    CU_ASSERT_EQUAL(wait_ready(&api.emu, pv(PA, SB, "/index.html"), h), 200);
    expect_status(get2(pv(PA, SB, "/index.html"), NULL, tok_hdr(old), NULL), 401);
    expect_status(GET(pv(PA, SB, api_fmt("/index.html?" AUTH_PARAM "=%s", old)), NULL),
                  401);
    r = get_tok(pv(PA, SB, "/index.html"));
    expect_status(r, 200);
    expect_body(r, INDEX_HTML, sizeof INDEX_HTML - 1);
    api_release();
}

static void test_deleted_sandbox_404(void)
{
    char st[17];
    expect_status(signed_url(PA, 600, st), 200);
    expect_status(DEL(sbp(""), K1), 200);
    expect_status(get_tok(pv(PA, SB, "/index.html")), 404);
    expect_status(get2(pv(PA, SB, "/index.html"), K1, NULL, NULL), 404);
    long s = GET(pv(PA, st, "/index.html"), NULL)->status;
    api_check_txt(s == 404 || s == 401, __FILE__, __LINE__,
                  "a signed URL of a deleted sandbox is refused (got %ld)", s);
    api_release();
}

/* ---------- suite "host-mode": --preview-mode host ---------- */

static void test_host_mode_urls(void)
{
    emu_proc e;
    const char *args[] = {"--api-key", K1, "--preview-mode", "host", NULL};
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", args) == 0);
    http_resp c = http_do(&e, "POST", "/api/sandbox", K1, NULL, "{}", -1);
    CU_ASSERT_EQUAL(c.status, 200);
    char id[64];
    snprintf(id, sizeof id, "%s", resp_str(&c, "id") ? resp_str(&c, "id") : "");
    http_resp_free(&c);
    unsigned pd = pick_port();
    char path[256], want[256], tok[64] = "", stok[32] = "";

    snprintf(path, sizeof path, "/api/sandbox/%s/ports/%u/preview-url", id, pd);
    http_resp u = http_do(&e, "GET", path, K1, NULL, NULL, 0);
    CU_ASSERT_EQUAL(u.status, 200);
    snprintf(want, sizeof want, "http://%u-%s.preview.localhost:%u", pd, id, e.port);
    CU_ASSERT(resp_str(&u, "url") && strcmp(resp_str(&u, "url"), want) == 0);
    if (!resp_str(&u, "url") || strcmp(resp_str(&u, "url"), want) != 0)
        fprintf(stderr, "\n  host-mode url: expected %s, got %s\n", want, u.body);
    snprintf(tok, sizeof tok, "%s", resp_str(&u, "token") ? resp_str(&u, "token") : "");
    http_resp_free(&u);

    snprintf(path, sizeof path,
             "/api/sandbox/%s/ports/%u/signed-preview-url?expiresInSeconds=60", id, pd);
    u = http_do(&e, "GET", path, K1, NULL, NULL, 0);
    CU_ASSERT_EQUAL(u.status, 200);
    snprintf(stok, sizeof stok, "%s", resp_str(&u, "token") ? resp_str(&u, "token") : "");
    snprintf(want, sizeof want, "http://%u-%s.preview.localhost:%u", pd, stok, e.port);
    CU_ASSERT(resp_str(&u, "url") && strcmp(resp_str(&u, "url"), want) == 0);
    http_resp_free(&u);

    CU_ASSERT(sh_on(&e, id, "mkdir -p www && printf 'host mode\\n' > www/x.txt",
                    NULL, 0) == 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "python3 -m http.server %u --directory www", pd);
    CU_ASSERT(start_bg_on(&e, id, "srv", cmd) == 0);
    char host[200], th[100];
    snprintf(host, sizeof host, "Host: %u-%s.preview.localhost:%u", pd, id, e.port);
    snprintf(th, sizeof th, TOKEN_HDR ": %s", tok);
    const char *h[] = {host, th, NULL};
    CU_ASSERT_EQUAL(wait_ready(&e, "/x.txt", h), 200);
    http_resp g = http_do(&e, "GET", "/x.txt", NULL, h, NULL, 0);
    CU_ASSERT_EQUAL(g.status, 200);
    CU_ASSERT_STRING_EQUAL(g.body, "host mode\n");
    http_resp_free(&g);
    /* The signed host works without headers; the path form works too. */
    snprintf(host, sizeof host, "Host: %u-%s.preview.localhost:%u", pd, stok, e.port);
    const char *hs[] = {host, NULL};
    g = http_do(&e, "GET", "/x.txt", NULL, hs, NULL, 0);
    CU_ASSERT_EQUAL(g.status, 200);
    http_resp_free(&g);
    snprintf(path, sizeof path, "/preview/%u-%s/x.txt", pd, id);
    const char *hp[] = {th, NULL};
    g = http_do(&e, "GET", path, NULL, hp, NULL, 0);
    CU_ASSERT_EQUAL(g.status, 200);
    http_resp_free(&g);

    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    g = http_do(&e, "DELETE", path, K1, NULL, NULL, 0);
    CU_ASSERT_EQUAL(g.status, 200);
    http_resp_free(&g);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("preview", suite_init, suite_cleanup);
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"preview-url: {sandboxId,url,token}, one token for all ports", test_preview_url_shape},
        {"private sandbox without a valid token: 401", test_private_without_token_401},
        {"X-Daytona-Preview-Token: 200, exact bytes", test_header_token_200},
        {"DAYTONA_SANDBOX_AUTH_KEY query: 200, parameter not passed on", test_query_token_200_and_stripped},
        {"Bearer API key of the org: 200 (stripped); another org's: 401", test_org_api_key},
        {"signed URL: shape, 200 without headers", test_signed_url},
        {"signed URL for port A used on port B: 401", test_signed_url_other_port_401},
        {"signed URL expired early: 401", test_signed_url_expire_401},
        {"signed URL past its TTL (emulator clock): 401", test_signed_url_ttl_401},
        {"nothing listening: 502", test_nothing_listening_502},
        {"unknown sandbox: 404", test_unknown_sandbox_404},
        {"host mode (Host: <port>-<id>.preview.localhost)", test_host_mode},
        {"POST/PUT bodies reach the server byte for byte", test_post_body_reaches_server},
        {"a 4 MiB POST body reaches the server", test_post_large_body},
        {"Expect: 100-continue: the final answer is the server's", test_expect_100_continue},
        {"5 MiB response streams intact (sha256)", test_big_response_streams_intact},
        {"upstream Content-Length is passed on (GET and HEAD)", test_content_length_passed_on},
        {"chunked upstream response arrives de-chunked and intact", test_chunked_upstream},
        {"WebSocket through the proxy, both ways", test_websocket_both_ways},
        {"WebSocket upgrade needs the token (signed URL: none)", test_websocket_needs_token},
        {"preview requests bump lastActivityAt, at most every 5 s", test_activity_bumped_throttled},
        {"preview activity leaves updatedAt alone", test_activity_leaves_updated_at},
        {"an Authorization header the proxy did not use reaches the app", test_app_authorization_passed_on},
        {"path mode: a redirect's Location stays inside the preview", test_redirect_stays_in_preview},
        {"public sandbox: 200 without token", test_public_sandbox},
        {"stopped: 503; token rotates on start", test_stopped_503_and_token_rotation},
        {"deleted sandbox: 404", test_deleted_sandbox_404},
    };
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
    CU_pSuite h = CU_add_suite("host-mode", NULL, NULL);
    CU_add_test(h, "--preview-mode host: URL shapes and requests", test_host_mode_urls);
    return cu_run_and_cleanup();
}
