/*
 * test_sessions.c - the toolbox sessions API (shared/reference/toolbox.md
 * §5, traps 6-12 in §12) of the real daytona-emu binary, over HTTP and
 * WebSocket.
 *
 * One emulator per run, with two sandboxes (A and B) for the isolation
 * checks, a third one (C) that is stopped and started and a fourth made and
 * deleted by its test.  Every call is
 * /toolbox/<sandboxId>/process/session... with "Authorization: Bearer <key>".
 * Follow-logs WebSockets are opened by hand over a TCP socket
 * (tests/support/ws_client) and read with common/ws.h's client ws_conn.
 *
 * Error bodies: the emulator answers with the toolbox JSON envelope
 * {statusCode,message,code,timestamp,path,method,source} (toolbox.md §2.1,
 * trap 1); the checks below look at statusCode, message and code.
 *
 * Processes of a session are looked for in the host's /proc among the
 * descendants of this run's emulator (other emulators on the host may run
 * the same commands).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include <curl/curl.h>

#include "api_util.h"
#include "buf.h"
#include "cu_run.h"
#include "test_net.h"
#include "timeutil.h"
#include "ws.h"
#include "ws_client.h"

#define K "sessions-test-key"
#define OUT "\x01\x01\x01"
#define ERR "\x02\x02\x02"
#define MAX_MSG (1024 * 1024)

static char SA[64], SBX[64], SC[64];   /* sandbox ids */

/* ---------- small utilities ---------- */

/* "/toolbox/<sb>/process/session" + printf(fmt, ...) */
static const char *sp(const char *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *sp(const char *sb, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return api_fmt("/toolbox/%s/process/session%s", sb, tmp);
}

/* A JSON body {"k": "v", ...} with string values (NULL-terminated pairs). */
static const char *jbody(const char *k1, const char *v1, ...)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, k1, v1);
    va_list ap;
    va_start(ap, v1);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        cJSON_AddStringToObject(o, k, v);
    }
    va_end(ap);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *out = api_fmt("%s", s ? s : "");
    free(s);
    return out;
}

/* {"command": cmd, "runAsync": async[, "suppressInputEcho": true]} */
static const char *exec_body(const char *cmd, int async, int suppress)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmd);
    cJSON_AddBoolToObject(o, "runAsync", async);
    if (suppress)
        cJSON_AddTrueToObject(o, "suppressInputEcho");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *out = api_fmt("%s", s ? s : "");
    free(s);
    return out;
}

/* Number of members of a JSON object (-1 when not an object). */
static int nkeys(const cJSON *o)
{
    return cJSON_IsObject(o) ? cJSON_GetArraySize(o) : -1;
}

/* A printable rendering of bytes (\xNN for control bytes), pooled. */
static const char *show(const char *s, size_t n)
{
    buf b;
    buf_init(&b, n * 4 + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char t[8];
        if (c == '\n')
            snprintf(t, sizeof t, "\\n");
        else if (c < 0x20 || c >= 0x7f)
            snprintf(t, sizeof t, "\\x%02x", c);
        else
            snprintf(t, sizeof t, "%c", c);
        buf_adds(&b, t);
    }
    const char *out = api_fmt("%s", buf_str(&b));
    buf_release(&b);
    return out;
}

/* ---------- caller-located checks ---------- */

/* o[key] is the string want exactly (bytes shown on failure). */
static void str_is_at(const cJSON *o, const char *key, const char *want,
                      const char *file, unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int ok = cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
    api_check_txt(ok, file, line, "%s == \"%s\"", key, show(want, strlen(want)));
    if (!ok)
        fprintf(stderr, "\n  %s:%u: %s: expected \"%s\", got %s\n", file, line, key,
                show(want, strlen(want)),
                cJSON_IsString(v) ? api_fmt("\"%s\"", show(v->valuestring,
                                                             strlen(v->valuestring)))
                                  : (v ? "<not a string>" : "<absent>"));
}
#define str_is(o, key, want) str_is_at((o), (key), (want), __FILE__, __LINE__)

/* o[key] is the string a or the string b. */
static void one_of_at(const cJSON *o, const char *key, const char *a, const char *b,
                      const char *file, unsigned line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int ok = cJSON_IsString(v) && (strcmp(v->valuestring, a) == 0 ||
                                   strcmp(v->valuestring, b) == 0);
    api_check_txt(ok, file, line, "%s == \"%s\" or \"%s\"", key, show(a, strlen(a)),
                  show(b, strlen(b)));
    if (!ok)
        fprintf(stderr, "\n  %s:%u: %s: expected \"%s\" or \"%s\", got %s\n", file, line,
                key, show(a, strlen(a)), show(b, strlen(b)),
                cJSON_IsString(v) ? show(v->valuestring, strlen(v->valuestring))
                                  : "<absent or not a string>");
}
#define one_of(o, key, a, b) one_of_at((o), (key), (a), (b), __FILE__, __LINE__)

/* The toolbox error envelope: status, statusCode, message (NULL = any
 * non-empty) and code (NULL = not checked, "" = must be absent). */
static void tb_err_at(const http_resp *r, long status, const char *message,
                      const char *code, const char *file, unsigned line)
{
    api_expect_status_at(r, status, file, line);
    const cJSON *o = r->json;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "statusCode");
    const char *msg = resp_str(r, "message"), *c = resp_str(r, "code");
    int ok_sc = cJSON_IsNumber(sc) && sc->valuedouble == (double)status;
    int ok_msg = msg && (message ? strcmp(msg, message) == 0 : msg[0] != '\0');
    int ok_code = !code || (code[0] ? c && strcmp(c, code) == 0
                                    : !cJSON_GetObjectItemCaseSensitive(o, "code"));
    api_check_txt(ok_sc, file, line, "error statusCode == %ld", status);
    api_check_txt(ok_msg, file, line, "error message == \"%s\"",
                  message ? message : "<non-empty>");
    api_check_txt(ok_code, file, line, "error code == \"%s\"",
                  code ? (code[0] ? code : "<absent>") : "*");
    if (!(ok_sc && ok_msg && ok_code))
        fprintf(stderr, "\n  %s:%u: %s: expected %ld \"%s\" code %s, got %ld %.600s\n",
                file, line, api_what(r), status, message ? message : "*",
                code ? (code[0] ? code : "<absent>") : "*", r->status, r->body);
}
#define tb_err(r, st, msg, code) tb_err_at((r), (st), (msg), (code), __FILE__, __LINE__)

/* ---------- requests with a short client timeout ---------- */

static size_t grow_cb(char *data, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    return buf_add(b, data, sz * nm) == BUF_OK ? sz * nm : 0;
}

/* POST a JSON body with a client timeout of timeout_s seconds; status 0
 * when it timed out.  The response is pooled. */
static http_resp *post_timeout(const char *path, const char *body, long timeout_s)
{
    static http_resp none;
    if (api.nresp >= API_POOL_MAX) {
        CU_FAIL("pool exhausted");
        return &none;
    }
    http_resp r;
    memset(&r, 0, sizeof r);
    buf b;
    buf_init(&b, 16 * MAX_MSG);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer " K);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, api_fmt("%s%s", api.emu.base, path));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    size_t len = 0;
    r.body = buf_detach(&b, &len);
    r.body_len = len;
    r.headers = calloc(1, 1);
    r.json = len ? cJSON_Parse(r.body) : NULL;
    int i = api.nresp++;
    api.resp[i] = r;
    api.what[i] = strdup(api_fmt("POST %s", path));
    return &api.resp[i];
}

/* ---------- session calls ---------- */

static void create_at(const char *sb, const char *sid, const char *file,
                      unsigned line)
{
    http_resp *r = POST(sp(sb, "%s", ""), K, jbody("sessionId", sid, NULL));
    api_expect_status_at(r, 201, file, line);
}
#define create(sb, sid) create_at((sb), (sid), __FILE__, __LINE__)

static http_resp *exec_raw(const char *sb, const char *sid, const char *cmd,
                           int async, int suppress)
{
    return POST(sp(sb, "/%s/exec", sid), K, exec_body(cmd, async, suppress));
}

/* Sync exec that must answer 200; returns the response. */
static http_resp *run_at(const char *sb, const char *sid, const char *cmd,
                         const char *file, unsigned line)
{
    http_resp *r = exec_raw(sb, sid, cmd, 0, 0);
    api_expect_status_at(r, 200, file, line);
    return r;
}
#define run(sb, sid, cmd) run_at((sb), (sid), (cmd), __FILE__, __LINE__)

/* Async exec that must answer 202; returns the cmdId ("" on failure). */
static const char *start_at(const char *sb, const char *sid, const char *cmd,
                            int suppress, const char *file, unsigned line)
{
    http_resp *r = exec_raw(sb, sid, cmd, 1, suppress);
    api_expect_status_at(r, 202, file, line);
    const char *id = resp_str(r, "cmdId");
    api_check_txt(id && api_is_uuid(id), file, line, "cmdId is a UUID");
    return id ? id : "";
}
#define start(sb, sid, cmd) start_at((sb), (sid), (cmd), 0, __FILE__, __LINE__)

static http_resp *get_cmd(const char *sb, const char *sid, const char *cid)
{
    return GET(sp(sb, "/%s/command/%s", sid, cid), K);
}

/* Polls GET command until exitCode appears; returns it, or -1000 after
 * timeout_ms.  Does not assert. */
static int wait_exit(const char *sb, const char *sid, const char *cid, int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        http_resp *r = get_cmd(sb, sid, cid);
        const cJSON *ec = api_field(r, "exitCode");
        if (r->status == 200 && cJSON_IsNumber(ec))
            return ec->valueint;
        if (time_mono_ms() >= end)
            return -1000;
        tn_sleep_ms(50);
    }
}

static http_resp *logs(const char *sb, const char *sid, const char *cid)
{
    return GET(sp(sb, "/%s/command/%s/logs", sid, cid), K);
}

/* Whether list/session JSON `arr` has a session with id sid. */
static const cJSON *find_session(const cJSON *arr, const char *sid)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(s, "sessionId");
        if (cJSON_IsString(id) && strcmp(id->valuestring, sid) == 0)
            return s;
    }
    return NULL;
}

/* ---------- /proc: processes under this run's emulator ---------- */

/* ---------- WebSocket follow ---------- */

/* GET <path> as a WebSocket upgrade with the bearer token (see wsc_connect). */
static ws_conn *ws_open(const char *path, char *head, size_t headn)
{
    return wsc_connect(api.emu.port, 30, path,
                       "Authorization: Bearer " K "\r\n"
                       "X-Daytona-SDK-Version: 0.218.0\r\n",
                       MAX_MSG, head, headn);
}

static const char *follow_path(const char *sb, const char *sid, const char *cid)
{
    return sp(sb, "/%s/command/%s/logs?follow=true", sid, cid);
}

typedef struct {
    buf data;           /* concatenated payload bytes */
    int frames;         /* data messages */
    int text_frames;    /* of which TEXT (expected: none) */
    int close_code;     /* 0 = no close frame seen */
    ws_code end;        /* how reading ended */
    int64_t first_ms;   /* mono time of the first data frame (0 = none) */
    int64_t close_ms;   /* mono time of the close */
    int first_running;  /* at the first frame, GET command had no exitCode */
} follow_res;

/*
 * Reads a follow stream until close/error or timeout_ms.  When probe_cid is
 * set, GET command is called right after the first data frame and
 * first_running records whether it still had no exitCode.
 */
static void follow_read(ws_conn *c, follow_res *fr, int timeout_ms, const char *sb,
                        const char *sid, const char *probe_cid)
{
    memset(fr, 0, sizeof *fr);
    buf_init(&fr->data, 16 * MAX_MSG);
    buf m;
    buf_init(&m, MAX_MSG);
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - time_mono_ms());
        if (left <= 0) {
            fr->end = WS_NEED_MORE;
            break;
        }
        int op = 0, cc = 0;
        ws_code rc = ws_recv(c, &m, &op, &cc, left);
        if (rc == WS_OK) {
            fr->frames++;
            if (op == WS_OP_TEXT)
                fr->text_frames++;
            buf_add(&fr->data, m.data, m.len);
            if (!fr->first_ms) {
                fr->first_ms = time_mono_ms();
                if (probe_cid) {
                    http_resp *g = get_cmd(sb, sid, probe_cid);
                    fr->first_running = g->status == 200 &&
                                        !api_field(g, "exitCode");
                }
            }
            continue;
        }
        if (rc == WS_NEED_MORE)
            continue;
        fr->end = rc;
        if (rc == WS_ECLOSED) {
            fr->close_code = cc;
            fr->close_ms = time_mono_ms();
        }
        break;
    }
    buf_release(&m);
}

/* ================= sandboxes ================= */

/* ================= tests ================= */

static void test_create(void)
{
    const char *sid = api_uniq("cr");
    http_resp *r = POST(sp(SA, "%s", ""), K, jbody("sessionId", sid, NULL));
    expect_status(r, 201);
    CU_ASSERT_EQUAL(r->body_len, 0);
    /* Session DTO of a fresh session: commands is [] (never null) */
    r = GET(sp(SA, "/%s", sid), K);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(nkeys(r->json), 2);
    str_is(r->json, "sessionId", sid);
    assert_json_eq(r->json, "commands", "[]");
    /* duplicate */
    r = POST(sp(SA, "%s", ""), K, jbody("sessionId", sid, NULL));
    tb_err(r, 409, "conflict: session already exists", "CONFLICT");
    /* missing / empty / non-string sessionId, no body */
    tb_err(POST(sp(SA, "%s", ""), K, "{}"), 400, NULL, NULL);
    tb_err(POST(sp(SA, "%s", ""), K, "{\"sessionId\":\"\"}"), 400, NULL, NULL);
    tb_err(POST(sp(SA, "%s", ""), K, "{\"sessionId\":7}"), 400, NULL, NULL);
    expect_status(POST(sp(SA, "%s", ""), K, NULL), 400);
    api_release();
}

static void test_entrypoint_reserved(void)
{
    tb_err(POST(sp(SA, "%s", ""), K, jbody("sessionId", "entrypoint", NULL)), 400,
           NULL, "BAD_REQUEST");
    tb_err(POST(sp(SA, "/entrypoint/exec"), K, exec_body("echo hi", 0, 0)), 400, NULL,
           "BAD_REQUEST");
    tb_err(POST(sp(SA, "/entrypoint/exec"), K, exec_body("echo hi", 1, 0)), 400, NULL,
           "BAD_REQUEST");
    tb_err(DEL(sp(SA, "/entrypoint"), K), 400, NULL, "BAD_REQUEST");
    /* sandboxes here have no entrypoint command: 404 */
    tb_err(GET(sp(SA, "/entrypoint"), K), 404, NULL, "NOT_FOUND");
    tb_err(GET(sp(SA, "/entrypoint/logs"), K), 404, NULL, "NOT_FOUND");
    /* the entrypoint is not in the list */
    http_resp *r = GET(sp(SA, "%s", ""), K);
    expect_status(r, 200);
    CU_ASSERT_PTR_NULL(find_session(r->json, "entrypoint"));
    api_release();
}

static void test_invalid_ids(void)
{
    static const char *const bad[] = {"a/b", "..", ".", "../x", "x/..", "/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_resp *r = POST(sp(SA, "%s", ""), K, jbody("sessionId", bad[i], NULL));
        api_check_txt(r->status == 400, __FILE__, __LINE__,
                      "sessionId \"%s\" is refused with 400", bad[i]);
        if (r->status != 400)
            fprintf(stderr, "\n  sessionId \"%s\": %ld %s\n", bad[i], r->status, r->body);
    }
    /* nothing escaped into the list */
    http_resp *r = GET(sp(SA, "%s", ""), K);
    expect_status(r, 200);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_PTR_NULL(find_session(r->json, bad[i]));
    api_release();
}

/* Path parameters arrive percent-encoded (the SDK uses encodeURIComponent,
 * toolbox.md §1.3 and trap 18); a session made with a space in its id must
 * be reachable at .../session/a%20b. */
static void test_encoded_id(void)
{
    const char *sid = api_fmt("%s x", api_uniq("enc"));
    create(SA, sid);
    const char *e = api_urlenc(sid);
    http_resp *r = GET(sp(SA, "/%s", e), K);
    expect_status(r, 200);
    str_is(r->json, "sessionId", sid);
    r = POST(sp(SA, "/%s/exec", e), K, exec_body("echo enc", 0, 0));
    expect_status(r, 200);
    str_is(r->json, "stdout", "enc\n");
    expect_status(DEL(sp(SA, "/%s", e), K), 204);
    api_release();
}

static void test_list(void)
{
    const char *s1 = api_uniq("ls"), *s2 = api_uniq("ls"), *sb_only = api_uniq("lsb");
    create(SA, s1);
    create(SA, s2);
    create(SBX, sb_only);
    run(SA, s1, "echo one");
    http_resp *r = GET(sp(SA, "%s", ""), K);
    expect_status(r, 200);
    CU_ASSERT_FATAL(cJSON_IsArray(r->json));
    const cJSON *a = find_session(r->json, s1), *b = find_session(r->json, s2);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NULL(find_session(r->json, sb_only));
    if (a) {
        const cJSON *cmds = cJSON_GetObjectItemCaseSensitive(a, "commands");
        CU_ASSERT(cJSON_IsArray(cmds) && cJSON_GetArraySize(cmds) == 1);
        const cJSON *c0 = cJSON_GetArrayItem(cmds, 0);
        str_is(c0, "command", "echo one");
        assert_num(c0, "exitCode", 0);
    }
    if (b)
        assert_json_eq(b, "commands", "[]");
    /* every item has the Session shape */
    const cJSON *s;
    cJSON_ArrayForEach(s, r->json) {
        CU_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(s, "sessionId")));
        CU_ASSERT(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(s, "commands")));
    }
    /* B's list has its own session and not A's */
    r = GET(sp(SBX, "%s", ""), K);
    expect_status(r, 200);
    CU_ASSERT_PTR_NOT_NULL(find_session(r->json, sb_only));
    CU_ASSERT_PTR_NULL(find_session(r->json, s1));
    CU_ASSERT_PTR_NULL(find_session(r->json, s2));
    api_release();
}

static void test_exec_sync_shape(void)
{
    const char *sid = api_uniq("sync");
    create(SA, sid);
    http_resp *r = run(SA, sid, "echo hi; sleep 0.2; echo oops >&2");
    CU_ASSERT_EQUAL(nkeys(r->json), 5);
    const char *cid = resp_str(r, "cmdId");
    CU_ASSERT(api_is_uuid(cid));
    str_is(r->json, "stdout", "hi\n");
    str_is(r->json, "stderr", "oops\n");
    assert_num(r->json, "exitCode", 0);
    /* output: the raw log, markers in (stdout/stderr order not guaranteed) */
    one_of(r->json, "output", OUT "hi\n" ERR "oops\n", ERR "oops\n" OUT "hi\n");
    /* every line, including a final partial one, gets "\n" */
    r = run(SA, sid, "printf abc");
    str_is(r->json, "output", OUT "abc\n");
    str_is(r->json, "stdout", "abc\n");
    str_is(r->json, "stderr", "");
    r = run(SA, sid, "printf 'a\\nb'");
    str_is(r->json, "output", OUT "a\n" OUT "b\n");
    str_is(r->json, "stdout", "a\nb\n");
    r = run(SA, sid, "printf 'e' >&2");
    str_is(r->json, "output", ERR "e\n");
    str_is(r->json, "stderr", "e\n");
    str_is(r->json, "stdout", "");
    /* no output at all */
    r = run(SA, sid, "true");
    str_is(r->json, "output", "");
    str_is(r->json, "stdout", "");
    str_is(r->json, "stderr", "");
    assert_num(r->json, "exitCode", 0);
    /* exit codes: of the last command of the sourced file */
    assert_num(run(SA, sid, "false")->json, "exitCode", 1);
    assert_num(run(SA, sid, "(exit 7)")->json, "exitCode", 7);
    assert_num(run(SA, sid, "false; true")->json, "exitCode", 0);
    /* GET command after a sync run has the exit code */
    r = get_cmd(SA, sid, cid);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(nkeys(r->json), 3);
    str_is(r->json, "id", cid);
    str_is(r->json, "command", "echo hi; sleep 0.2; echo oops >&2");
    assert_num(r->json, "exitCode", 0);
    /* UTF-8 passes through; control bytes are JSON-escaped, not lost */
    r = run(SA, sid, "printf 'h\\303\\251 \\001x\\n'");
    str_is(r->json, "stdout", "h\xc3\xa9 \x01x\n");
    /* invalid UTF-8 becomes U+FFFD (Go's encoding/json, §1.6, trap 22) */
    r = run(SA, sid, "printf 'a\\377b\\n'");
    str_is(r->json, "stdout", "a\xef\xbf\xbd" "b\n");
    str_is(r->json, "output", OUT "a\xef\xbf\xbd" "b\n");
    /* bad bodies: 400 */
    expect_status(POST(sp(SA, "/%s/exec", sid), K, "{}"), 400);
    expect_status(POST(sp(SA, "/%s/exec", sid), K, "{\"command\":\"\"}"), 400);
    expect_status(POST(sp(SA, "/%s/exec", sid), K, "not json"), 400);
    api_release();
}

static void test_state_persists(void)
{
    const char *sid = api_uniq("state");
    create(SA, sid);
    /* a new session starts in the daemon's working directory (§5.1) */
    http_resp *wd = GET(api_fmt("/toolbox/%s/work-dir", SA), K);
    expect_status(wd, 200);
    const char *dir = resp_str(wd, "dir");
    str_is(run(SA, sid, "pwd")->json, "stdout", api_fmt("%s\n", dir ? dir : "?"));
    run(SA, sid, "cd /tmp");
    run(SA, sid, "export DT_X=forty-two; DT_LOCAL=loc");
    run(SA, sid, "dt_fn() { echo \"fn:$1\"; }");
    run(SA, sid, "set -o noclobber; alias dtal='echo aliased'");
    http_resp *r = run(SA, sid, "pwd; echo \"$DT_X $DT_LOCAL\"; dt_fn arg; "
                                "bash -c 'echo child:$DT_X'; "
                                "case $- in *C*) echo noclobber;; esac");
    str_is(r->json, "stdout", "/tmp\nforty-two loc\nfn:arg\nchild:forty-two\nnoclobber\n");
    str_is(r->json, "stderr", "");
    /* another session does not share the state */
    const char *other = api_uniq("state");
    create(SA, other);
    r = run(SA, other, "echo \"[$DT_X]\"; type dt_fn >/dev/null 2>&1 || echo nofn");
    str_is(r->json, "stdout", "[]\nnofn\n");
    api_release();
}

static void test_serialized(void)
{
    const char *sid = api_uniq("serial");
    create(SA, sid);
    int64_t t0 = time_mono_ms();
    const char *cid = start(SA, sid, "sleep 2");
    http_resp *r = run(SA, sid, "echo x");
    int64_t took = time_mono_ms() - t0;
    str_is(r->json, "stdout", "x\n");
    api_check_txt(took >= 1800, __FILE__, __LINE__,
                  "sync exec behind an async sleep 2 waited %lld ms (>= 1800)",
                  (long long)took);
    /* the async one finished first */
    r = get_cmd(SA, sid, cid);
    assert_num(r->json, "exitCode", 0);
    api_release();
}

static void test_exit_after_output(void)
{
    char sid[64];
    snprintf(sid, sizeof sid, "%s", api_uniq("order"));
    create(SA, sid);
    for (int round = 0; round < 3; round++) {
        const char *cid = start(SA, sid, "i=0; while [ $i -lt 2000 ]; do echo line$i; "
                                         "i=$((i+1)); done; echo done >&2; (exit 3)");
        /* tight poll for the first moment the exit code is visible */
        int code = -1000;
        int64_t end = time_mono_ms() + 60000;
        const char *cpath = sp(SA, "/%s/command/%s", sid, cid);
        while (time_mono_ms() < end) {
            http_resp g = http_do(&api.emu, "GET", cpath, K, NULL, NULL, 0);
            const cJSON *ec = cJSON_GetObjectItemCaseSensitive(g.json, "exitCode");
            if (cJSON_IsNumber(ec))
                code = ec->valueint;
            http_resp_free(&g);
            if (code != -1000)
                break;
        }
        CU_ASSERT_EQUAL(code, 3);
        http_resp *r = logs(SA, sid, cid);
        expect_status(r, 200);
        const char *so = resp_str(r, "stdout");
        int lines = 0;
        for (const char *p = so; p && *p; p++)
            lines += *p == '\n';
        api_check_txt(lines == 2000, __FILE__, __LINE__,
                      "round %d: all 2000 stdout lines are in the log once the exit "
                      "code shows (got %d)", round, lines);
        CU_ASSERT(so && strstr(so, "line1999\n") != NULL);
        str_is(r->json, "stderr", "done\n");
        api_release();
    }
}

static void test_async_shape(void)
{
    const char *sid = api_uniq("async");
    create(SA, sid);
    http_resp *r = exec_raw(SA, sid, "sleep 1; echo late", 1, 0);
    expect_status(r, 202);
    CU_ASSERT_EQUAL(nkeys(r->json), 5);
    const char *cid = resp_str(r, "cmdId");
    CU_ASSERT(api_is_uuid(cid));
    assert_kind(r->json, "output", 'n');
    assert_kind(r->json, "stdout", 'n');
    assert_kind(r->json, "stderr", 'n');
    assert_kind(r->json, "exitCode", 'n');
    if (!cid)
        return;
    /* running: exitCode omitted */
    r = get_cmd(SA, sid, cid);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(nkeys(r->json), 2);
    str_is(r->json, "id", cid);
    str_is(r->json, "command", "sleep 1; echo late");
    assert_kind(r->json, "exitCode", 'a');
    /* the session DTO shows it without exitCode too */
    r = GET(sp(SA, "/%s", sid), K);
    const cJSON *c0 = cJSON_GetArrayItem(api_field(r, "commands"), 0);
    CU_ASSERT_PTR_NOT_NULL(c0);
    assert_kind(c0, "exitCode", 'a');
    /* logs while running: JSON, empty so far */
    r = logs(SA, sid, cid);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(nkeys(r->json), 3);
    str_is(r->json, "output", "");
    str_is(r->json, "stdout", "");
    str_is(r->json, "stderr", "");
    /* done: exitCode present */
    CU_ASSERT_EQUAL(wait_exit(SA, sid, cid, 10000), 0);
    r = get_cmd(SA, sid, cid);
    CU_ASSERT_EQUAL(nkeys(r->json), 3);
    assert_num(r->json, "exitCode", 0);
    r = GET(sp(SA, "/%s", sid), K);
    c0 = cJSON_GetArrayItem(api_field(r, "commands"), 0);
    assert_num(c0, "exitCode", 0);
    /* "async": true is an alias of runAsync */
    r = POST(sp(SA, "/%s/exec", sid), K, "{\"command\":\"echo alias\",\"async\":true}");
    expect_status(r, 202);
    assert_kind(r->json, "exitCode", 'n');
    const char *cid2 = resp_str(r, "cmdId");
    if (cid2) {
        CU_ASSERT_EQUAL(wait_exit(SA, sid, cid2, 10000), 0);
        str_is(logs(SA, sid, cid2)->json, "stdout", "alias\n");
    }
    api_release();
}

static void test_logs(void)
{
    const char *sid = api_uniq("logs");
    create(SA, sid);
    http_resp *x = run(SA, sid, "echo out1; echo err1 >&2; sleep 0.1; echo out2");
    const char *cid = resp_str(x, "cmdId");
    CU_ASSERT_FATAL(cid != NULL);
    http_resp *r = logs(SA, sid, cid);
    expect_status(r, 200);
    char ct[128] = "";
    resp_header(r, "Content-Type", ct, sizeof ct);
    CU_ASSERT(strncasecmp(ct, "application/json", 16) == 0);
    CU_ASSERT_EQUAL(nkeys(r->json), 3);
    str_is(r->json, "stdout", "out1\nout2\n");
    str_is(r->json, "stderr", "err1\n");
    /* output is the same raw log the exec returned */
    str_is(r->json, "output", resp_str(x, "output") ? resp_str(x, "output") : "?");
    /* a running async command shows its output so far */
    const char *cid2 = start(SA, sid, "echo early; sleep 3; echo late");
    int64_t end = time_mono_ms() + 2000;
    const char *so = "";
    while (time_mono_ms() < end) {
        r = logs(SA, sid, cid2);
        so = resp_str(r, "stdout") ? resp_str(r, "stdout") : "";
        if (*so)
            break;
        tn_sleep_ms(50);
    }
    CU_ASSERT_STRING_EQUAL(so, "early\n");
    assert_kind(get_cmd(SA, sid, cid2)->json, "exitCode", 'a');
    /* unknown command / session */
    tb_err(logs(SA, sid, "00000000-0000-4000-8000-000000000000"), 404,
           "not found: command not found", "NOT_FOUND");
    tb_err(get_cmd(SA, sid, "00000000-0000-4000-8000-000000000000"), 404,
           "not found: command not found", "NOT_FOUND");
    tb_err(get_cmd(SA, sid, "nope"), 404, "not found: command not found", "NOT_FOUND");
    const char *ghost = api_uniq("ghost");
    tb_err(logs(SA, ghost, cid), 404, "not found: session not found", "NOT_FOUND");
    tb_err(get_cmd(SA, ghost, cid), 404, "not found: session not found", "NOT_FOUND");
    /* a command id of another session is not found in this one */
    const char *other = api_uniq("logs");
    create(SA, other);
    tb_err(logs(SA, other, cid), 404, "not found: command not found", "NOT_FOUND");
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    api_release();
}

static void test_follow_running(void)
{
    const char *sid = api_uniq("follow");
    create(SA, sid);
    int64_t t0 = time_mono_ms();
    const char *cid = start(SA, sid, "for i in 1 2 3; do echo $i; sleep 0.5; done; "
                                     "echo e >&2");
    char head[2048];
    ws_conn *c = ws_open(follow_path(SA, sid, cid), head, sizeof head);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (!c) {
        fprintf(stderr, "\n  follow upgrade answered: %s\n", head);
        api_release();
        return;
    }
    /* no subprotocol was offered, so none may come back (trap 19) */
    CU_ASSERT_PTR_NULL(strcasestr(head, "Sec-WebSocket-Protocol"));
    follow_res fr;
    follow_read(c, &fr, 20000, SA, sid, cid);
    ws_conn_free(c, 1);
    CU_ASSERT_EQUAL(fr.end, WS_ECLOSED);
    CU_ASSERT_EQUAL(fr.close_code, 1000);
    CU_ASSERT(fr.frames >= 1);
    CU_ASSERT_EQUAL(fr.text_frames, 0);
    /* a frame arrived while the command was still running */
    CU_ASSERT(fr.first_running);
    api_check_txt(fr.first_ms && fr.first_ms - t0 < 1200, __FILE__, __LINE__,
                  "first frame %lld ms after exec (< 1200; the command runs 1.5 s)",
                  (long long)(fr.first_ms ? fr.first_ms - t0 : -1));
    api_check_txt(fr.close_ms - t0 >= 1400, __FILE__, __LINE__,
                  "close %lld ms after exec (>= 1400)", (long long)(fr.close_ms - t0));
    /* raw log bytes, markers in */
    const char *want1 = OUT "1\n" OUT "2\n" OUT "3\n" ERR "e\n";
    int same = fr.data.len == strlen(want1) && memcmp(fr.data.data, want1, fr.data.len) == 0;
    CU_ASSERT(same);
    if (!same)
        fprintf(stderr, "\n  follow bytes: %s\n", show(buf_str(&fr.data), fr.data.len));
    /* the command had its exit code when the close came */
    http_resp *r = get_cmd(SA, sid, cid);
    assert_num(r->json, "exitCode", 0);
    buf_release(&fr.data);
    api_release();
}

static void test_follow_finished(void)
{
    const char *sid = api_uniq("follow");
    create(SA, sid);
    http_resp *x = run(SA, sid, "for i in $(seq 1 300); do echo line-$i; done; echo bad >&2");
    const char *cid = resp_str(x, "cmdId");
    const char *want = resp_str(x, "output");
    CU_ASSERT_FATAL(cid && want);
    char head[2048];
    int64_t t0 = time_mono_ms();
    ws_conn *c = ws_open(follow_path(SA, sid, cid), head, sizeof head);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    follow_res fr;
    follow_read(c, &fr, 15000, SA, sid, NULL);
    ws_conn_free(c, 1);
    CU_ASSERT_EQUAL(fr.end, WS_ECLOSED);
    CU_ASSERT_EQUAL(fr.close_code, 1000);
    CU_ASSERT(fr.close_ms - t0 < 5000);
    int same = fr.data.len == strlen(want) && memcmp(fr.data.data, want, fr.data.len) == 0;
    CU_ASSERT(same);
    if (!same)
        fprintf(stderr, "\n  follow of a finished command: %zu bytes, exec output %zu\n",
                fr.data.len, strlen(want));
    buf_release(&fr.data);
    /* before the upgrade: unknown command / session are plain HTTP 404 */
    c = ws_open(follow_path(SA, sid, "00000000-0000-4000-8000-000000000000"), head,
                sizeof head);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT(strncmp(head, "HTTP/1.1 404", 12) == 0);
    if (c)
        ws_conn_free(c, 1);
    c = ws_open(follow_path(SA, api_uniq("ghost"), cid), head, sizeof head);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT(strncmp(head, "HTTP/1.1 404", 12) == 0);
    if (c)
        ws_conn_free(c, 1);
    api_release();
}

static http_resp *input(const char *sb, const char *sid, const char *cid,
                        const char *data)
{
    return POST(sp(sb, "/%s/command/%s/input", sid, cid), K, jbody("data", data, NULL));
}

static void test_input(void)
{
    const char *sid = api_uniq("input");
    create(SA, sid);
    const char *cmd = "read a; read b; echo \"$a-$b\"";
    /* echoed into stdout; the command is given time to start first (see
     * test_input_at_once for input right after the 202) */
    const char *cid = start(SA, sid, cmd);
    tn_sleep_ms(300);
    http_resp *r = input(SA, sid, cid, "x");
    expect_status(r, 204);
    CU_ASSERT_EQUAL(r->body_len, 0);
    tn_sleep_ms(200);
    assert_kind(get_cmd(SA, sid, cid)->json, "exitCode", 'a');   /* still waiting */
    expect_status(input(SA, sid, cid, "y\n"), 204);
    CU_ASSERT_EQUAL(wait_exit(SA, sid, cid, 10000), 0);
    r = logs(SA, sid, cid);
    /* the echo of "y" races the command's own line: both orders are fine */
    one_of(r->json, "stdout", "x\ny\nx-y\n", "x\nx-y\ny\n");
    str_is(r->json, "stderr", "");
    /* the echo carries the stdout marker and the added \n */
    const char *out = resp_str(r, "output") ? resp_str(r, "output") : "";
    CU_ASSERT(strncmp(out, OUT "x\n", 5) == 0);
    /* suppressInputEcho */
    const char *cid2 = start_at(SA, sid, cmd, 1, __FILE__, __LINE__);
    tn_sleep_ms(300);
    expect_status(input(SA, sid, cid2, "p"), 204);
    expect_status(input(SA, sid, cid2, "q"), 204);
    CU_ASSERT_EQUAL(wait_exit(SA, sid, cid2, 10000), 0);
    r = logs(SA, sid, cid2);
    str_is(r->json, "stdout", "p-q\n");
    str_is(r->json, "output", OUT "p-q\n");
    /* finished command: 410 */
    tb_err(input(SA, sid, cid, "z"), 410,
           "gone: command has already completed with exit code 0", NULL);
    /* unknown command / session: 404; no data: 400 */
    tb_err(input(SA, sid, "00000000-0000-4000-8000-000000000000", "z"), 404,
           "not found: command not found", "NOT_FOUND");
    tb_err(input(SA, api_uniq("ghost"), cid, "z"), 404, "not found: session not found",
           "NOT_FOUND");
    expect_status(POST(sp(SA, "/%s/command/%s/input", sid, cid), K, "{}"), 400);
    /* a sync command sees EOF on stdin at once */
    r = run(SA, sid, "read v; echo \"rc=$? v=[$v]\"");
    str_is(r->json, "stdout", "rc=1 v=[]\n");
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    api_release();
}

/* What a client does: input right after the async exec's 202 (on
 * localhost that is well under a millisecond later). */
static void test_input_at_once(void)
{
    const char *sid = api_uniq("input");
    create(SA, sid);
    for (int i = 0; i < 5; i++) {
        const char *cid = start(SA, sid, "read a; echo \"got-$a\"");
        http_resp *r = input(SA, sid, cid, api_fmt("v%d", i));
        api_check_txt(r->status == 204, __FILE__, __LINE__,
                      "round %d: input right after the 202 answers 204 (got %ld %.200s)",
                      i, r->status, r->body);
        if (r->status != 204) {
            /* unblock the command so the session can go on */
            tn_sleep_ms(300);
            input(SA, sid, cid, "late");
        }
        CU_ASSERT_EQUAL(wait_exit(SA, sid, cid, 5000), 0);
        if (r->status == 204)
            one_of(logs(SA, sid, cid)->json, "stdout", api_fmt("v%d\ngot-v%d\n", i, i),
                   api_fmt("got-v%d\nv%d\n", i, i));
    }
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    api_release();
}

static void test_missing_session(void)
{
    const char *ghost = api_uniq("ghost");
    /* exec: 500 with the wrapped message and no code (trap 11) */
    tb_err(POST(sp(SA, "/%s/exec", ghost), K, exec_body("echo", 0, 0)), 500,
           "failed to execute command: not found: session not found", "");
    tb_err(POST(sp(SA, "/%s/exec", ghost), K, exec_body("echo", 1, 0)), 500,
           "failed to execute command: not found: session not found", "");
    /* the rest: 404 */
    tb_err(GET(sp(SA, "/%s", ghost), K), 404, "not found: session not found", "NOT_FOUND");
    tb_err(DEL(sp(SA, "/%s", ghost), K), 404, "not found: session not found", "NOT_FOUND");
    api_release();
}

static void test_exit_kills_shell(void)
{
    const char *sid = api_uniq("exit");
    create(SA, sid);
    run(SA, sid, "echo before");
    /*
     * toolbox.md §5.1/trap 7: `exit` kills the session shell; exit_code is
     * never written, so a sync exec hangs until the client times out (here
     * 8 s), and the command's exitCode stays absent.  An error answer instead
     * of the hang is tolerated; a 200 is not.
     */
    http_resp *r = post_timeout(sp(SA, "/%s/exec", sid), exec_body("echo bye; exit 3", 0, 0), 8);
    CU_ASSERT(r->status != 200 && (r->status == 0 || r->status >= 400));
    fprintf(stderr, "\n  [info] sync exec of `exit 3`: %ld %.300s\n", r->status, r->body);
    r = GET(sp(SA, "/%s", sid), K);
    expect_status(r, 200);
    const cJSON *cmds = api_field(r, "commands");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cmds), 2);
    const cJSON *c;
    cJSON_ArrayForEach(c, cmds) {
        if (strcmp(api_jstr(c, "command"), "echo bye; exit 3") == 0)
            assert_kind(c, "exitCode", 'a');
    }
    /* the session is still listed; a later exec cannot run */
    r = exec_raw(SA, sid, "echo after", 0, 0);
    CU_ASSERT(r->status >= 400);
    fprintf(stderr, "  [info] exec after `exit`: %ld %.300s\n", r->status, r->body);
    r = exec_raw(SA, sid, "echo after", 1, 0);
    CU_ASSERT(r->status >= 400);
    /* delete still works */
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    /* async exit: exitCode never appears */
    const char *s2 = api_uniq("exit");
    create(SA, s2);
    const char *cid = start(SA, s2, "exit 4");
    CU_ASSERT_EQUAL(wait_exit(SA, s2, cid, 1500), -1000);
    expect_status(DEL(sp(SA, "/%s", s2), K), 204);
    api_release();
}

typedef struct {
    const char *path;
    const char *body;
    http_resp resp;
    int64_t done_ms;
} bg_req;

static void *bg_post(void *p)
{
    bg_req *b = p;
    b->resp = http_do(&api.emu, "POST", b->path, K, NULL, b->body, -1);
    b->done_ms = time_mono_ms();
    return NULL;
}

static void test_delete(void)
{
    const char *sid = api_uniq("del");
    const char *bystander = api_uniq("del");
    create(SA, sid);
    create(SA, bystander);
    CU_ASSERT_EQUAL(api_count_procs("sleep", "7331"), 0);
    start(SA, bystander, "sleep 7332");
    /* a process that left the session's process group is a descendant too */
    run(SA, sid, "setsid sleep 7333 > /dev/null 2>&1 < /dev/null &");
    const char *cid = start(SA, sid, "sleep 7331");
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7331", 1, 5000), 1);
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7332", 1, 5000), 1);
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7333", 1, 5000), 1);
    /* a follower of the running command */
    char head[2048];
    ws_conn *c = ws_open(follow_path(SA, sid, cid), head, sizeof head);
    CU_ASSERT_PTR_NOT_NULL(c);
    http_resp *r = DEL(sp(SA, "/%s", sid), K);
    expect_status(r, 204);
    CU_ASSERT_EQUAL(r->body_len, 0);
    int left = api_wait_procs("sleep", "7331", 0, 1000);
    api_check_txt(left == 0, __FILE__, __LINE__,
                  "`sleep 7331` is gone from /proc after DELETE (%d left)", left);
    left = api_wait_procs("sleep", "7333", 0, 1000);
    api_check_txt(left == 0, __FILE__, __LINE__,
                  "the setsid'd `sleep 7333` is gone after DELETE (%d left)", left);
    /* another session's process is untouched */
    CU_ASSERT_EQUAL(api_count_procs("sleep", "7332"), 1);
    expect_status(DEL(sp(SA, "/%s", bystander), K), 204);
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7332", 0, 1000), 0);
    if (c) {
        follow_res fr;
        follow_read(c, &fr, 5000, SA, sid, NULL);
        ws_conn_free(c, 1);
        CU_ASSERT_EQUAL(fr.end, WS_ECLOSED);
        CU_ASSERT_EQUAL(fr.close_code, 1000);
        buf_release(&fr.data);
    }
    tb_err(GET(sp(SA, "/%s", sid), K), 404, "not found: session not found", "NOT_FOUND");
    tb_err(get_cmd(SA, sid, cid), 404, "not found: session not found", "NOT_FOUND");
    CU_ASSERT_PTR_NULL(find_session(GET(sp(SA, "%s", ""), K)->json, sid));
    tb_err(DEL(sp(SA, "/%s", sid), K), 404, "not found: session not found", "NOT_FOUND");
    /* the id can be used again */
    create(SA, sid);
    str_is(run(SA, sid, "echo again")->json, "stdout", "again\n");
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    api_release();
}

static void test_delete_pending_sync(void)
{
    const char *sid = api_uniq("delsync");
    create(SA, sid);
    bg_req b = {sp(SA, "/%s/exec", sid), exec_body("sleep 7331", 0, 0), {0}, 0};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, bg_post, &b) == 0);
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7331", 1, 5000), 1);
    int64_t t_del = time_mono_ms();
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    pthread_join(th, NULL);
    CU_ASSERT(b.done_ms - t_del < 8000);
    tb_err(&b.resp, 500, "failed to execute command: bad request: session cancelled", NULL);
    http_resp_free(&b.resp);
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7331", 0, 1000), 0);
    api_release();
}

static void test_stop_ends_sessions(void)
{
    const char *sid = api_uniq("stop");
    create(SC, sid);
    start(SC, sid, "sleep 7331");
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7331", 1, 5000), 1);
    expect_status(POST(api_fmt("/api/sandbox/%s/stop", SC), K, NULL), 200);
    CU_ASSERT_EQUAL(api_wait_state(SC, "stopped", K, 30000), 0);
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7331", 0, 3000), 0);
    /* toolbox calls on a stopped sandbox fail */
    CU_ASSERT(GET(sp(SC, "/%s", sid), K)->status >= 400);
    expect_status(POST(api_fmt("/api/sandbox/%s/start", SC), K, NULL), 200);
    CU_ASSERT_EQUAL(api_wait_state(SC, "started", K, 30000), 0);
    tb_err(GET(sp(SC, "/%s", sid), K), 404, "not found: session not found", "NOT_FOUND");
    http_resp *r = GET(sp(SC, "%s", ""), K);
    expect_status(r, 200);
    CU_ASSERT_PTR_NULL(find_session(r->json, sid));
    /* and the id is free again */
    create(SC, sid);
    str_is(run(SC, sid, "echo fresh")->json, "stdout", "fresh\n");
    api_release();
}

static void test_sandbox_delete_ends_sessions(void)
{
    char id[64];
    CU_ASSERT_FATAL(api_new_sandbox(K, api_uniq("sess-d"), id, sizeof id) == 0);
    const char *sid = api_uniq("sbdel");
    create(id, sid);
    start(id, sid, "sleep 7331");
    CU_ASSERT_EQUAL(api_wait_procs("sleep", "7331", 1, 5000), 1);
    expect_status(DEL(api_fmt("/api/sandbox/%s", id), K), 200);
    int left = api_wait_procs("sleep", "7331", 0, 5000);
    api_check_txt(left == 0, __FILE__, __LINE__,
                  "a deleted sandbox's session process is gone (%d left)", left);
    api_release();
}

/* A command whose log passes 64 MiB: toolbox.md has no cap on session
 * output (the daemon reads the whole log); the answer must be the output,
 * never "log file not found". */
static void test_two_sandboxes(void)
{
    const char *sid = api_uniq("same");
    create(SA, sid);
    create(SBX, sid);                         /* no 409: another sandbox */
    run(SA, sid, "export WHO=alpha; cd /tmp");
    run(SBX, sid, "export WHO=beta");
    str_is(run(SA, sid, "echo $WHO")->json, "stdout", "alpha\n");
    str_is(run(SBX, sid, "echo $WHO")->json, "stdout", "beta\n");
    /* the sandboxes' files are their own */
    run(SA, sid, "echo a > ~/who.txt");
    run(SBX, sid, "rm -f ~/who.txt");
    str_is(run(SA, sid, "cat ~/who.txt")->json, "stdout", "a\n");
    /* a command id of A is unknown in B */
    const char *cid = resp_str(run(SA, sid, "echo only-a"), "cmdId");
    CU_ASSERT_FATAL(cid != NULL);
    tb_err(get_cmd(SBX, sid, cid), 404, "not found: command not found", "NOT_FOUND");
    /* deleting in A leaves B's session */
    expect_status(DEL(sp(SA, "/%s", sid), K), 204);
    expect_status(GET(sp(SBX, "/%s", sid), K), 200);
    str_is(run(SBX, sid, "echo $WHO")->json, "stdout", "beta\n");
    /* only in A: 404 from B */
    const char *only = api_uniq("onlya");
    create(SA, only);
    tb_err(GET(sp(SBX, "/%s", only), K), 404, "not found: session not found", "NOT_FOUND");
    tb_err(POST(sp(SBX, "/%s/exec", only), K, exec_body("echo", 0, 0)), 500,
           "failed to execute command: not found: session not found", "");
    api_release();
}

/* ================= fixtures ================= */

static int new_sandbox(const char *name, char *out, size_t n)
{
    return api_new_sandbox(K, api_fmt("%s-%d", name, (int)getpid()), out, n);
}

static int suite_init(void)
{
    static const char *const args[] = {"--api-key", K, NULL};
    if (api_suite_start(args) != 0)
        return -1;
    int rc = new_sandbox("sess-a", SA, sizeof SA) || new_sandbox("sess-b", SBX, sizeof SBX) ||
             new_sandbox("sess-c", SC, sizeof SC);
    api_release();
    return rc ? -1 : 0;
}

static int suite_cleanup(void)
{
    return api_suite_stop();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    static const cu_case tests[] = {
        {"create: 201 empty, 409, 400", test_create},
        {"entrypoint: reserved, GET 404", test_entrypoint_reserved},
        {"invalid session ids: '/', '.', '..'", test_invalid_ids},
        {"percent-encoded session id in the path", test_encoded_id},
        {"list: own sessions only", test_list},
        {"exec sync: exact response, markers, newline rule", test_exec_sync_shape},
        {"state persists across commands", test_state_persists},
        {"commands are serialized", test_serialized},
        {"exit code only after all output", test_exit_after_output},
        {"exec async: 202 nulls, exitCode omitted while running", test_async_shape},
        {"logs: JSON, partial, 404s", test_logs},
        {"follow: frames while running, close 1000", test_follow_running},
        {"follow: finished command, 404 before upgrade", test_follow_finished},
        {"input: echo, suppressInputEcho, 410, 404", test_input},
        {"input right after the async exec", test_input_at_once},
        {"missing session: exec 500, others 404", test_missing_session},
        {"exit in a command ends the shell", test_exit_kills_shell},
        {"delete: 204, kills processes, ends followers", test_delete},
        {"delete: pending sync exec gets 500 session cancelled", test_delete_pending_sync},
        {"stopping the sandbox ends its sessions", test_stop_ends_sessions},
        {"deleting the sandbox ends its sessions", test_sandbox_delete_ends_sessions},
        {"two sandboxes' sessions are separate", test_two_sandboxes},
    };
    return cu_run_suite("sessions", suite_init, suite_cleanup, tests,
                        sizeof tests / sizeof tests[0]);
}
