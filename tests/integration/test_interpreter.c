/*
 * test_interpreter.c - the toolbox code interpreter
 * (shared/reference/toolbox.md §7 and trap 21) of the real daytona-emu
 * binary: context create/list/delete over HTTP and the execute WebSocket.
 *
 * One emulator per run with three sandboxes: A for most checks, B for the
 * isolation between sandboxes, C for stop/start.  A few more are created
 * (and deleted) for the first-use race of the default context.  Every call
 * is /toolbox/<sandboxId>/process/interpreter... with
 * "Authorization: Bearer <key>".
 *
 * The execute WebSocket is opened by hand over a TCP socket
 * (tests/support/ws_client).  The request frame is sent with common/ws.h's
 * client ws_conn (masked); frames from the server are read one by one
 * (wsc_frame_next, the same header's ws_frame_parse underneath) because
 * the close *reason* is part
 * of what is checked ("context not found: <id>") and ws_recv only reports
 * the close code.
 *
 * Every message of every execution is checked for the five-key shape
 * {type,text,name,value,traceback}, all strings (§7 step 4), and for TEXT
 * framing; exec_ok() also wants exactly one control "completed" as the last
 * message and close 1000.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define K "interp-test-key"
#define MAX_MSG (16 * 1024 * 1024)
#define READ_MS 20000          /* default limit for one execution */

static char SA[64], SBX[64], SC[64];   /* sandbox ids */

/* ---------- small utilities ---------- */

/* "/toolbox/<sb>/process/interpreter<rest>" (pooled) */
static const char *ip(const char *sb, const char *rest)
{
    return api_fmt("/toolbox/%s/process/interpreter%s", sb, rest);
}

/* Number of members of a JSON object (-1 when not an object). */
static int nkeys(const cJSON *o)
{
    return cJSON_IsObject(o) ? cJSON_GetArraySize(o) : -1;
}

/* A printable rendering (\n and \xNN), at most 400 bytes, pooled. */
static const char *show(const char *s)
{
    buf b;
    buf_init(&b, 2048);
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n && b.len < 400; i++) {
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
    if (n && b.len >= 400)
        buf_adds(&b, "...");
    const char *out = api_fmt("%s", buf_str(&b));
    buf_release(&b);
    return out;
}

/*
 * The execute request: {"code":…[,"contextId":…][,"envs":<envs_json>]
 * [,"timeout":<timeout_json>]}.  timeout_json/envs_json are JSON texts (so
 * "-1" or "1e300" can be sent as numbers); NULL leaves the key out, as the
 * SDK drops undefined keys.  Pooled.
 */
static const char *req(const char *code, const char *ctx, const char *timeout_json,
                       const char *envs_json)
{
    cJSON *o = cJSON_CreateObject();
    if (code)
        cJSON_AddStringToObject(o, "code", code);
    if (ctx)
        cJSON_AddStringToObject(o, "contextId", ctx);
    if (envs_json)
        cJSON_AddItemToObject(o, "envs", cJSON_Parse(envs_json));
    if (timeout_json)
        cJSON_AddItemToObject(o, "timeout", cJSON_Parse(timeout_json));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *out = api_fmt("%s", s ? s : "");
    free(s);
    return out;
}

/* ---------- the execute WebSocket ---------- */

typedef struct {
    wsc w;              /* the socket; w.c sends (masked client frames) */
    int64_t t0;         /* mono ms when the request went out */
} xconn;

typedef struct {
    int used;
    int upgraded;       /* the server answered 101 */
    char head[256];
    cJSON *msgs;        /* array: each message parsed (JSON null if not JSON) */
    int nmsg;
    int bad_shape;      /* messages that are not the five-key shape */
    char bad_example[300];
    int non_text;       /* data frames that were not TEXT */
    buf out, err;       /* stdout / stderr texts concatenated */
    int n_error;
    const cJSON *error; /* the first error message (inside msgs) */
    int n_control;
    char control[32];   /* text of the first control message */
    int after_control;  /* data messages after the first control */
    int close_code;     /* 0 = no close frame; 1005 = close without code */
    char reason[128];
    int64_t close_ms;   /* ms from request to close frame (-1 none) */
    int64_t close_at;   /* mono ms of the close frame */
    int timed_out;      /* reading hit its time limit */
    int io_error;       /* the socket ended without a close frame */
} xres;

#define XPOOL 96
static xres xpool[XPOOL];

static xres *xres_new(void)
{
    for (int i = 0; i < XPOOL; i++) {
        if (!xpool[i].used) {
            xres *r = &xpool[i];
            memset(r, 0, sizeof *r);
            r->used = 1;
            r->msgs = cJSON_CreateArray();
            buf_init(&r->out, MAX_MSG);
            buf_init(&r->err, MAX_MSG);
            r->close_ms = -1;
            return r;
        }
    }
    CU_FAIL("xres pool exhausted");
    return NULL;
}

static void xres_release_all(void)
{
    for (int i = 0; i < XPOOL; i++) {
        if (xpool[i].used) {
            cJSON_Delete(xpool[i].msgs);
            buf_release(&xpool[i].out);
            buf_release(&xpool[i].err);
            xpool[i].used = 0;
        }
    }
}

/* Releases everything a test made (HTTP responses, strings, results). */
static void release(void)
{
    api_release();
    xres_release_all();
}

/*
 * Opens GET /toolbox/<sb>/process/interpreter/execute as a WebSocket, as the
 * SDK does in Node (no subprotocol, Authorization and SDK-version headers).
 * 0 on a 101, else -1 (x->w.head has the answer).  Close with x_close.
 */
static int x_open(xconn *x, const char *sb)
{
    x->t0 = 0;
    return wsc_open(&x->w, api.emu.port, ip(sb, "/execute"), 1,
                    "Authorization: Bearer " K "\r\n"
                    "X-Daytona-SDK-Version: 0.218.0\r\n",
                    0, MAX_MSG, 10000);
}

static int x_send(xconn *x, const char *text)
{
    x->t0 = time_mono_ms();
    return wsc_send_str(&x->w, WS_OP_TEXT, text);
}

static void x_close(xconn *x)
{
    wsc_close(&x->w);
}

static void record_msg(xres *r, const char *data, size_t len)
{
    cJSON *m = cJSON_ParseWithLength(data, len);
    r->nmsg++;
    static const char *const keys[] = {"type", "text", "name", "value", "traceback"};
    int ok = cJSON_IsObject(m) && nkeys(m) == 5;
    for (int i = 0; ok && i < 5; i++)
        ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, keys[i]));
    if (!ok) {
        if (!r->bad_shape)
            snprintf(r->bad_example, sizeof r->bad_example, "%.*s",
                     (int)(len > 280 ? 280 : len), data);
        r->bad_shape++;
    }
    if (r->n_control)
        r->after_control++;
    const char *type = api_jstr(m, "type"), *text = api_jstr(m, "text");
    if (strcmp(type, "stdout") == 0)
        buf_adds(&r->out, text);
    else if (strcmp(type, "stderr") == 0)
        buf_adds(&r->err, text);
    else if (strcmp(type, "error") == 0) {
        if (!r->n_error)
            r->error = m;
        r->n_error++;
    } else if (strcmp(type, "control") == 0 && !r->n_control) {
        r->n_control++;
        r->after_control = 0;
        snprintf(r->control, sizeof r->control, "%s", text);
    } else if (strcmp(type, "control") == 0) {
        r->n_control++;
    }
    cJSON_AddItemToArray(r->msgs, m ? m : cJSON_CreateNull());
}

/* Reads frames until the server's close frame, the end of the socket,
 * timeout_ms from now, or (want_msgs > 0) r holds want_msgs messages. */
static void x_read_until(xconn *x, xres *r, int timeout_ms, int want_msgs)
{
    r->upgraded = 1;
    int64_t end = time_mono_ms() + timeout_ms;
    buf frag, pl;
    buf_init(&frag, MAX_MSG);
    buf_init(&pl, MAX_MSG + 1);
    int frag_op = 0;
    for (;;) {
        int op = 0, fin = 0;
        int got = wsc_frame_next(&x->w, &op, &fin, &pl, (int)(end - time_mono_ms()));
        if (got <= 0) {
            if (got == 0)
                r->timed_out = 1;
            else
                r->io_error = 1;
            break;
        }
        if (op == WS_OP_CLOSE) {
            r->close_at = time_mono_ms();
            r->close_ms = r->close_at - x->t0;
            r->close_code = wsc_close_payload(&pl, r->reason, sizeof r->reason);
            (void)ws_send_close(x->w.c, 1000, NULL);
            break;
        }
        if (op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CONT) {
            if (op != WS_OP_CONT)
                frag_op = op;
            buf_add(&frag, pl.data, pl.len);
            if (fin) {
                if (frag_op != WS_OP_TEXT)
                    r->non_text++;
                record_msg(r, buf_str(&frag), frag.len);
                buf_reset(&frag);
            }
            if (want_msgs > 0 && r->nmsg >= want_msgs)
                break;
        }
    }
    buf_release(&pl);
    buf_release(&frag);
}

static void x_read(xconn *x, xres *r, int timeout_ms)
{
    x_read_until(x, r, timeout_ms, 0);
}

/* Opens, sends the request, reads up to timeout_ms, closes. */
static xres *run_req(const char *sb, const char *request, int timeout_ms)
{
    xres *r = xres_new();
    if (!r)
        return NULL;
    xconn x;
    if (x_open(&x, sb) != 0) {
        snprintf(r->head, sizeof r->head, "%s", show(x.w.head));
        x_close(&x);
        return r;
    }
    if (x_send(&x, request) == 0)
        x_read(&x, r, timeout_ms);
    else
        r->io_error = 1;
    x_close(&x);
    return r;
}

/* Runs code in a context (NULL = no contextId: the default context). */
static xres *run(const char *sb, const char *ctx, const char *code)
{
    return run_req(sb, req(code, ctx, NULL, NULL), READ_MS);
}

static void dump(const xres *r, const char *file, unsigned line)
{
    fprintf(stderr, "\n  %s:%u: execution: upgraded=%d%s%s msgs=%d close=%d \"%s\" "
            "after %lld ms%s%s\n", file, line, r->upgraded, r->upgraded ? "" : " head=",
            r->upgraded ? "" : r->head, r->nmsg, r->close_code, show(r->reason),
            (long long)r->close_ms, r->timed_out ? " (read timed out)" : "",
            r->io_error ? " (socket ended without close)" : "");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, r->msgs) {
        if (i++ >= 12) {
            fprintf(stderr, "    ...\n");
            break;
        }
        char *s = cJSON_PrintUnformatted(m);
        fprintf(stderr, "    %s\n", s ? show(s) : "?");
        free(s);
    }
    if (r->bad_shape)
        fprintf(stderr, "    first badly shaped message: %s\n", show(r->bad_example));
}

/* Every message had the five keys as strings and came as TEXT. */
static void shape_ok_at(const xres *r, const char *file, unsigned line)
{
    int ok = r->bad_shape == 0 && r->non_text == 0;
    api_check_txt(ok, file, line, "every message is TEXT {type,text,name,value,traceback}");
    if (!ok)
        dump(r, file, line);
}
#define shape_ok(r) shape_ok_at((r), __FILE__, __LINE__)

/* A normal end: one control "completed" as the last message, close 1000. */
static void exec_ok_at(const xres *r, const char *file, unsigned line)
{
    int ok = r->upgraded && r->bad_shape == 0 && r->non_text == 0 &&
             r->n_control == 1 && strcmp(r->control, "completed") == 0 &&
             r->after_control == 0 && r->close_code == 1000;
    api_check_txt(ok, file, line, "execution ends with control \"completed\" and close 1000");
    if (!ok)
        dump(r, file, line);
}
#define exec_ok(r) exec_ok_at((r), __FILE__, __LINE__)

/* Closed with `code` (and, when reason is non-NULL, that exact reason). */
static void closed_with_at(const xres *r, int code, const char *reason,
                           const char *file, unsigned line)
{
    int ok = r->upgraded && r->close_code == code &&
             (!reason || strcmp(r->reason, reason) == 0);
    api_check_txt(ok, file, line, "closed with %d \"%s\"", code, reason ? reason : "*");
    if (!ok)
        dump(r, file, line);
}
#define closed_with(r, code, reason) closed_with_at((r), (code), (reason), __FILE__, __LINE__)

static void text_is_at(const buf *b, const char *want, const char *what, const xres *r,
                       const char *file, unsigned line)
{
    int ok = strcmp(buf_str(b), want) == 0;
    api_check_txt(ok, file, line, "%s == \"%s\"", what, show(want));
    if (!ok) {
        fprintf(stderr, "\n  %s:%u: %s: expected \"%s\", got \"%s\"\n", file, line, what,
                show(want), show(buf_str(b)));
        dump(r, file, line);
    }
}
#define stdout_is(r, want) text_is_at(&(r)->out, (want), "stdout", (r), __FILE__, __LINE__)
#define stderr_is(r, want) text_is_at(&(r)->err, (want), "stderr", (r), __FILE__, __LINE__)

/* ---------- contexts over HTTP ---------- */

/* POST context with body; expects 200 and returns the id ("" on failure). */
static const char *new_ctx(const char *sb, const char *body)
{
    http_resp *r = POST(ip(sb, "/context"), K, body ? body : "{}");
    expect_status(r, 200);
    const char *id = resp_str(r, "id");
    return id ? id : "";
}

/* The contexts array of GET /context (NULL when not 200 + array). */
static const cJSON *list_ctx(const char *sb)
{
    http_resp *r = GET(ip(sb, "/context"), K);
    expect_status(r, 200);
    const cJSON *a = api_field(r, "contexts");
    CU_ASSERT(cJSON_IsArray(a));
    CU_ASSERT_EQUAL(nkeys(r->json), 1);
    return cJSON_IsArray(a) ? a : NULL;
}

static const cJSON *find_ctx(const cJSON *list, const char *id)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        if (strcmp(api_jstr(c, "id"), id) == 0)
            return c;
    }
    return NULL;
}

/* A context DTO: exactly {id (uuid), cwd, createdAt, active, language}. */
static void ctx_dto_at(const cJSON *o, const char *cwd, int active, const char *file,
                       unsigned line)
{
    int ok = nkeys(o) == 5;
    api_check_txt(ok, file, line, "context has exactly 5 fields");
    api_check_txt(api_is_uuid(api_jstr(o, "id")), file, line, "id is a UUID");
    api_check_txt(!cwd || strcmp(api_jstr(o, "cwd"), cwd) == 0, file, line,
                  "cwd == %s", cwd ? cwd : "*");
    const char *ca = api_jstr(o, "createdAt");
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(ca, "%Y-%m-%dT%H:%M:%S", &tm);
    api_check_txt(rest && (rest[0] == '.' || rest[0] == 'Z' || rest[0] == '+'), file, line,
                  "createdAt is an RFC 3339 time (%s)", ca);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "active");
    api_check_txt(active ? cJSON_IsTrue(a) : cJSON_IsFalse(a), file, line, "active == %s",
                  active ? "true" : "false");
    api_check_txt(strcmp(api_jstr(o, "language"), "python") == 0, file, line,
                  "language == python");
    if (!ok || !api_is_uuid(api_jstr(o, "id"))) {
        char *s = cJSON_PrintUnformatted(o);
        fprintf(stderr, "\n  %s:%u: context: %s\n", file, line, s ? s : "?");
        free(s);
    }
}
#define ctx_dto(o, cwd, active) ctx_dto_at((o), (cwd), (active), __FILE__, __LINE__)

static const char *work_dir(const char *sb)
{
    http_resp *r = GET(api_fmt("/toolbox/%s/work-dir", sb), K);
    expect_status(r, 200);
    const char *d = resp_str(r, "dir");
    return d ? d : "";
}

/* ================= tests: contexts ================= */

static void test_ctx_create(void)
{
    const char *wd = work_dir(SA);
    /* what the SDK sends: {cwd} with cwd undefined → {} */
    http_resp *r = POST(ip(SA, "/context"), K, "{}");
    expect_status(r, 200);                     /* 200, not 201 (trap 21) */
    ctx_dto(r->json, wd, 1);
    /* explicit cwd and language */
    r = POST(ip(SA, "/context"), K, "{\"cwd\":\"/tmp\",\"language\":\"python\"}");
    expect_status(r, 200);
    ctx_dto(r->json, "/tmp", 1);
    const char *id = resp_str(r, "id");
    CU_ASSERT_FATAL(id != NULL);
    /* the worker runs in that cwd */
    xres *x = run(SA, id, "import os\nprint(os.getcwd())");
    exec_ok(x);
    stdout_is(x, "/tmp\n");
    /* two contexts never share an id */
    const char *a = new_ctx(SA, "{}"), *b = new_ctx(SA, "{}");
    CU_ASSERT(strcmp(a, b) != 0);
    release();
}

static void test_ctx_create_bad_language(void)
{
    http_resp *r = POST(ip(SA, "/context"), K, "{\"language\":\"ruby\"}");
    expect_status(r, 400);
    CU_ASSERT_EQUAL(r->body_len, 0);           /* §7: 400 with an empty body */
    r = POST(ip(SA, "/context"), K, "{\"cwd\":\"/tmp\",\"language\":\"javascript\"}");
    expect_status(r, 400);
    CU_ASSERT_EQUAL(r->body_len, 0);
    /* nothing was created */
    const cJSON *l = list_ctx(SA);
    const cJSON *c;
    cJSON_ArrayForEach(c, l) CU_ASSERT_STRING_EQUAL(api_jstr(c, "language"), "python");
    release();
}

static void test_ctx_list(void)
{
    const char *id = new_ctx(SA, "{}");
    /* use the default context, then list: "default" is never listed */
    exec_ok(run(SA, NULL, "used_default = True"));
    const cJSON *l = list_ctx(SA);
    const cJSON *c = find_ctx(l, id);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (c)
        ctx_dto(c, NULL, 1);
    CU_ASSERT_PTR_NULL(find_ctx(l, "default"));
    cJSON_ArrayForEach(c, l) {
        CU_ASSERT(api_is_uuid(api_jstr(c, "id")));
        ctx_dto(c, NULL, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "active")));
    }
    release();
}

static void test_ctx_delete(void)
{
    const char *id = new_ctx(SA, "{}");
    exec_ok(run(SA, id, "q = 1"));
    http_resp *r = DEL(ip(SA, api_fmt("/context/%s", id)), K);
    expect_status(r, 200);
    CU_ASSERT_EQUAL(nkeys(r->json), 1);
    assert_str(r->json, "message", "Context deleted successfully");
    CU_ASSERT_PTR_NULL(find_ctx(list_ctx(SA), id));
    /* gone for execute too */
    closed_with(run(SA, id, "print(q)"), 1008, api_fmt("context not found: %s", id));
    /* again / unknown: 404, empty body */
    r = DEL(ip(SA, api_fmt("/context/%s", id)), K);
    expect_status(r, 404);
    CU_ASSERT_EQUAL(r->body_len, 0);
    r = DEL(ip(SA, "/context/00000000-0000-4000-8000-000000000000"), K);
    expect_status(r, 404);
    CU_ASSERT_EQUAL(r->body_len, 0);
    /* default cannot be deleted, and keeps working */
    exec_ok(run(SA, NULL, "dflt_alive = 42"));
    expect_status(DEL(ip(SA, "/context/default"), K), 400);
    xres *x = run(SA, NULL, "print(dflt_alive)");
    exec_ok(x);
    stdout_is(x, "42\n");
    release();
}

static void test_ctx_other_sandbox(void)
{
    const char *id = new_ctx(SA, "{}");
    exec_ok(run(SA, id, "who = 'A'"));
    CU_ASSERT_PTR_NULL(find_ctx(list_ctx(SBX), id));
    closed_with(run(SBX, id, "print(who)"), 1008, api_fmt("context not found: %s", id));
    expect_status(DEL(ip(SBX, api_fmt("/context/%s", id)), K), 404);
    /* each sandbox has its own default context */
    exec_ok(run(SA, NULL, "sb_name = 'A'"));
    exec_ok(run(SBX, NULL, "sb_name = 'B'"));
    xres *x = run(SA, NULL, "print(sb_name)");
    exec_ok(x);
    stdout_is(x, "A\n");
    xres *y = run(SA, id, "print(who)");
    exec_ok(y);
    stdout_is(y, "A\n");
    release();
}

/* ================= tests: execute ================= */

static void test_exec_stdout_stderr(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xres *x = run(SA, ctx,
                  "import sys\n"
                  "print('hello')\n"
                  "print('a', 'b', sep='-')\n"
                  "sys.stderr.write('warn\\n')\n"
                  "print('tail', end='')\n");
    exec_ok(x);
    shape_ok(x);
    stdout_is(x, "hello\na-b\ntail");
    stderr_is(x, "warn\n");
    CU_ASSERT_EQUAL(x->n_error, 0);
    /* unused keys are present and empty */
    const cJSON *m;
    cJSON_ArrayForEach(m, x->msgs) {
        const char *t = api_jstr(m, "type");
        if (strcmp(t, "stdout") == 0 || strcmp(t, "stderr") == 0 ||
            strcmp(t, "control") == 0) {
            CU_ASSERT_STRING_EQUAL(api_jstr(m, "name"), "");
            CU_ASSERT_STRING_EQUAL(api_jstr(m, "value"), "");
            CU_ASSERT_STRING_EQUAL(api_jstr(m, "traceback"), "");
        }
    }
    /* no output at all: just the control message */
    x = run(SA, ctx, "pass");
    exec_ok(x);
    CU_ASSERT_EQUAL(x->nmsg, 1);
    /* long output arrives whole (flushed in ≤ 1024-character pieces) */
    x = run(SA, ctx, "print('x' * 5000)");
    exec_ok(x);
    CU_ASSERT_EQUAL(x->out.len, 5001);
    CU_ASSERT(x->nmsg >= 3);
    release();
}

static void test_exec_state(void)
{
    const char *c1 = new_ctx(SA, "{}"), *c2 = new_ctx(SA, "{}");
    exec_ok(run(SA, c1, "x = 1\ndef f(v):\n    return v * 10"));
    exec_ok(run(SA, c2, "x = 2"));
    xres *a = run(SA, c1, "x += 1\nprint(x, f(x))");
    exec_ok(a);
    stdout_is(a, "2 20\n");
    xres *b = run(SA, c2, "print(x)");
    exec_ok(b);
    stdout_is(b, "2\n");
    /* f exists only in c1 */
    xres *e = run(SA, c2, "f(1)");
    exec_ok(e);
    CU_ASSERT_EQUAL(e->n_error, 1);
    assert_str(e->error, "name", "NameError");
    /* imports persist too */
    exec_ok(run(SA, c1, "import json"));
    xres *j = run(SA, c1, "print(json.dumps([x]))");
    exec_ok(j);
    stdout_is(j, "[2]\n");
    release();
}

static void test_exec_default_context(void)
{
    exec_ok(run(SA, NULL, "in_default = 'yes'"));
    xres *x = run(SA, NULL, "print(in_default)");
    exec_ok(x);
    stdout_is(x, "yes\n");
    /* "default" by name is the same context */
    x = run(SA, "default", "print(in_default)");
    exec_ok(x);
    stdout_is(x, "yes\n");
    /* a created context does not see it */
    const char *c = new_ctx(SA, "{}");
    x = run(SA, c, "print(globals().get('in_default', 'absent'))");
    exec_ok(x);
    stdout_is(x, "absent\n");
    /* the default context's cwd is the sandbox work dir (§7) */
    x = run(SA, NULL, "import os\nprint(os.getcwd())");
    exec_ok(x);
    stdout_is(x, api_fmt("%s\n", work_dir(SA)));
    release();
}

static void test_exec_exception(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xres *x = run(SA, ctx,
                  "a = 1\n"
                  "b = 0\n"
                  "print('before')\n"
                  "c = a / b\n"
                  "print('after')\n");
    exec_ok(x);                                /* error, then completed, close 1000 */
    stdout_is(x, "before\n");
    CU_ASSERT_EQUAL(x->n_error, 1);
    CU_ASSERT_FATAL(x->error != NULL);
    assert_str(x->error, "name", "ZeroDivisionError");
    assert_str(x->error, "value", "division by zero");
    assert_str(x->error, "text", "");
    const char *tb = api_jstr(x->error, "traceback");
    CU_ASSERT(strncmp(tb, "Traceback (most recent call last):\n", 35) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tb, "line 4"));          /* the user's line */
    const char *last = "ZeroDivisionError: division by zero\n";
    CU_ASSERT(strlen(tb) >= strlen(last) &&
              strcmp(tb + strlen(tb) - strlen(last), last) == 0);
    /* nothing of the worker itself */
    CU_ASSERT_PTR_NULL(strstr(tb, "repl_worker"));
    CU_ASSERT_PTR_NULL(strstr(tb, "File \"<string>\""));
    CU_ASSERT_PTR_NULL(strstr(tb, "exec("));
    CU_ASSERT_PTR_NULL(strstr(tb, "compile("));
    CU_ASSERT_PTR_NULL(strstr(tb, ".py\""));
    if (strncmp(tb, "Traceback", 9) != 0 || strstr(tb, "<string>") || strstr(tb, ".py\""))
        fprintf(stderr, "\n  traceback: %s\n", show(tb));
    /* the error message comes after the stdout and before the control */
    const cJSON *m = cJSON_GetArrayItem(x->msgs, x->nmsg - 2);
    assert_str(m, "type", "error");
    /* nested frames: every user frame, innermost last */
    x = run(SA, ctx, "def inner():\n    raise ValueError('bad')\n\ndef outer():\n    inner()\n\nouter()\n");
    exec_ok(x);
    CU_ASSERT_EQUAL(x->n_error, 1);
    if (x->error) {
        assert_str(x->error, "name", "ValueError");
        assert_str(x->error, "value", "bad");
        tb = api_jstr(x->error, "traceback");
        const char *l7 = strstr(tb, "line 7"), *l5 = strstr(tb, "line 5"),
                   *l2 = strstr(tb, "line 2");
        CU_ASSERT(l7 && l5 && l2 && l7 < l5 && l5 < l2);
        CU_ASSERT_PTR_NULL(strstr(tb, ".py\""));
    }
    /* the context survives: state is kept */
    x = run(SA, ctx, "print(a, b)");
    exec_ok(x);
    stdout_is(x, "1 0\n");
    /* a syntax error is an error message too */
    x = run(SA, ctx, "x = (");
    exec_ok(x);
    CU_ASSERT_EQUAL(x->n_error, 1);
    if (x->error)
        assert_str(x->error, "name", "SyntaxError");
    release();
}

/* §7 step 4 shows the exact error message a ZeroDivisionError produces:
 * "Traceback (most recent call last):\n  File \"<stdin>\", line 1\n
 *  ZeroDivisionError: division by zero\n". */
static void test_exec_traceback_format(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xres *x = run(SA, ctx, "1/0");
    exec_ok(x);
    CU_ASSERT_EQUAL(x->n_error, 1);
    if (x->error)
        assert_str(x->error, "traceback",
                   "Traceback (most recent call last):\n"
                   "  File \"<stdin>\", line 1\n"
                   "ZeroDivisionError: division by zero\n");
    release();
}

static void test_exec_system_exit(void)
{
    const char *ctx = new_ctx(SA, "{}");
    exec_ok(run(SA, ctx, "kept = 'still here'"));
    static const char *const codes[] = {
        "import sys\nprint('bye')\nsys.exit(3)\nprint('not reached')",
        "raise SystemExit('message')",
    };
    for (int i = 0; i < 2; i++) {
        xres *x = run(SA, ctx, codes[i]);
        exec_ok(x);
        CU_ASSERT_EQUAL(x->n_error, 0);
        if (i == 0)
            stdout_is(x, "bye\n");
    }
    /* SystemExit does not end the worker */
    xres *x = run(SA, ctx, "print(kept)");
    exec_ok(x);
    stdout_is(x, "still here\n");
    /* exit() also completes; it closes sys.stdin (site.Quitter), which ends
     * the worker in D190 as well, so afterwards the context restarts */
    x = run(SA, ctx, "exit()");
    exec_ok(x);
    CU_ASSERT_EQUAL(x->n_error, 0);
    tn_sleep_ms(1000);
    x = run(SA, ctx, "print('answers')");
    exec_ok(x);
    stdout_is(x, "answers\n");
    release();
}

static void test_exec_envs(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xres *h = run(SA, ctx, "import os\nprint(os.environ.get('HOME'))");
    exec_ok(h);
    const char *home = api_fmt("%s", buf_str(&h->out));
    xres *x = run_req(SA, req("import os\n"
                              "print(os.environ['EMU_T_NEW'], os.environ['HOME'])\n"
                              "import subprocess\n"
                              "print(subprocess.run(['sh', '-c', 'echo $EMU_T_NEW'],"
                              " capture_output=True, text=True).stdout, end='')",
                              ctx, NULL, "{\"EMU_T_NEW\":\"v 1\",\"HOME\":\"/override\"}"),
                      READ_MS);
    exec_ok(x);
    stdout_is(x, "v 1 /override\nv 1\n");
    /* restored afterwards: the new one removed, the old one back */
    x = run(SA, ctx, "import os\nprint(os.environ.get('EMU_T_NEW'))\nprint(os.environ.get('HOME'))");
    exec_ok(x);
    stdout_is(x, api_fmt("None\n%s", home));
    /* restored after an exception too */
    x = run_req(SA, req("raise RuntimeError('boom')", ctx, NULL, "{\"EMU_T_ERR\":\"1\"}"),
                READ_MS);
    exec_ok(x);
    CU_ASSERT_EQUAL(x->n_error, 1);
    x = run(SA, ctx, "import os\nprint(os.environ.get('EMU_T_ERR'))");
    exec_ok(x);
    stdout_is(x, "None\n");
    release();
}

static void test_exec_timeout_interrupted(void)
{
    const char *ctx = new_ctx(SA, "{}");
    exec_ok(run(SA, ctx, "y = 7"));
    xres *x = run_req(SA, req("while True:\n    pass", ctx, "1", "{\"EMU_T_TO\":\"set\"}"),
                      10000);
    shape_ok(x);
    CU_ASSERT_EQUAL(x->n_control, 1);
    CU_ASSERT_STRING_EQUAL(x->control, "interrupted");
    CU_ASSERT_EQUAL(x->after_control, 0);
    CU_ASSERT_EQUAL(x->n_error, 0);
    closed_with(x, 4008, NULL);
    CU_ASSERT(x->close_ms >= 900 && x->close_ms <= 3000);
    if (!(x->close_ms >= 900 && x->close_ms <= 3000))
        fprintf(stderr, "\n  interrupted close after %lld ms\n", (long long)x->close_ms);
    /* the context still works, with its state, and the envs were restored */
    xres *y = run(SA, ctx, "import os\nprint(y, os.environ.get('EMU_T_TO'))");
    exec_ok(y);
    stdout_is(y, "7 None\n");
    /* a sleeping execution is interrupted the same way */
    x = run_req(SA, req("import time\ntime.sleep(30)", ctx, "1", NULL), 10000);
    CU_ASSERT_STRING_EQUAL(x->control, "interrupted");
    closed_with(x, 4008, NULL);
    CU_ASSERT(x->close_ms <= 3000);
    y = run(SA, ctx, "print(y + 1)");
    exec_ok(y);
    stdout_is(y, "8\n");
    release();
}

static void test_exec_timeout_killed(void)
{
    const char *ctx = new_ctx(SA, "{}");
    exec_ok(run(SA, ctx, "z = 3"));
    /* neither the timer signal nor SIGINT/SIGTERM reach Python code */
    xres *x = run_req(SA, req("import signal\n"
                              "for s in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM):\n"
                              "    signal.signal(s, signal.SIG_IGN)\n"
                              "while True:\n"
                              "    pass\n", ctx, "1", NULL), 15000);
    shape_ok(x);
    closed_with(x, 4008, NULL);
    CU_ASSERT(x->close_ms >= 900 && x->close_ms <= 4000);
    if (!(x->close_ms >= 900 && x->close_ms <= 4000))
        fprintf(stderr, "\n  killed close after %lld ms\n", (long long)x->close_ms);
    CU_ASSERT_STRING_NOT_EQUAL(x->control, "completed");
    /* the context restarts on next use: state lost, still answers */
    xres *y = run(SA, ctx, "print(globals().get('z', 'lost'))");
    exec_ok(y);
    stdout_is(y, "lost\n");
    /* and it is a working context again */
    exec_ok(run(SA, ctx, "z = 4"));
    y = run(SA, ctx, "print(z)");
    exec_ok(y);
    stdout_is(y, "4\n");
    const cJSON *c = find_ctx(list_ctx(SA), ctx);
    CU_ASSERT_PTR_NOT_NULL(c);
    release();
}

static void test_exec_timeout_zero_and_absent(void)
{
    const char *ctx = new_ctx(SA, "{}");
    /* 0 = no limit */
    xres *x = run_req(SA, req("import time\ntime.sleep(1.5)\nprint('slept')", ctx, "0", NULL),
                      10000);
    exec_ok(x);
    stdout_is(x, "slept\n");
    /* absent = 10 minutes, so a short sleep completes */
    x = run_req(SA, req("import time\ntime.sleep(1.5)\nprint('slept')", ctx, NULL, NULL), 10000);
    exec_ok(x);
    stdout_is(x, "slept\n");
    release();
}

/* A timeout far larger than any run cannot expire at once.  D190 reads
 * timeout into an int64 (types.go), so 1e300 is "invalid JSON payload"
 * (1002); running the code to completion would do as well. */
static void test_exec_huge_timeout(void)
{
    const char *ctx = new_ctx(SA, "{}");
    exec_ok(run(SA, ctx, "kept = 5"));
    xres *x = run_req(SA, req("print(kept)", ctx, "1e300", NULL), 10000);
    int ok = x->close_code == 1002 ||
             (x->close_code == 1000 && strcmp(buf_str(&x->out), "5\n") == 0);
    CU_ASSERT(ok);
    if (!ok)
        dump(x, __FILE__, __LINE__);
    xres *y = run(SA, ctx, "print(kept)");
    exec_ok(y);
    stdout_is(y, "5\n");
    release();
}

static void test_exec_bad_requests(void)
{
    const char *ghost = "00000000-0000-4000-8000-0000000000aa";
    closed_with(run(SA, ghost, "print(1)"), 1008, api_fmt("context not found: %s", ghost));
    xres *x = run_req(SA, req("", NULL, NULL, NULL), 10000);
    closed_with(x, 1008, NULL);
    CU_ASSERT(x->reason[0] != '\0');           /* the reason carries the message */
    CU_ASSERT_EQUAL(x->nmsg, 0);
    x = run_req(SA, req(NULL, NULL, NULL, NULL), 10000);      /* no code at all */
    closed_with(x, 1008, NULL);
    x = run_req(SA, req("print(1)", NULL, "-1", NULL), 10000);
    closed_with(x, 1008, NULL);
    CU_ASSERT(x->reason[0] != '\0');
    CU_ASSERT_EQUAL(x->nmsg, 0);
    x = run_req(SA, "this is not json", 10000);
    closed_with(x, 1002, NULL);
    CU_ASSERT(x->reason[0] != '\0');
    CU_ASSERT_EQUAL(x->nmsg, 0);
    x = run_req(SA, "{\"code\":\"print(1)\"", 10000);        /* truncated JSON */
    closed_with(x, 1002, NULL);
    /* As D190's ExecuteRequest: "" is an id like any other (only an
     * absent or null contextId means default), and a value of the wrong
     * type fails decoding (1002 "invalid JSON payload"). */
    closed_with(run_req(SA, req("print(1)", "", NULL, NULL), 10000), 1008,
                "context not found: ");
    closed_with(run_req(SA, "{\"code\":\"print(1)\",\"contextId\":null}", 10000), 1000, "");
    static const char *const mistyped[] = {
        "{\"code\":5}",
        "{\"code\":\"print(1)\",\"contextId\":7}",
        "{\"code\":\"print(1)\",\"timeout\":1.5}",
        "{\"code\":\"print(1)\",\"timeout\":\"10\"}",
        "{\"code\":\"print(1)\",\"envs\":[\"A=1\"]}",
        "{\"code\":\"print(1)\",\"envs\":{\"A\":1}}",
        "[\"print(1)\"]",
    };
    for (size_t i = 0; i < sizeof mistyped / sizeof mistyped[0]; i++)
        closed_with(run_req(SA, mistyped[i], 10000), 1002, "invalid JSON payload");
    closed_with(run_req(SA, req("print(1)", NULL, "-1", NULL), 10000), 1008,
                "timeout must be greater than or equal to 0");
    /* A null env value is Go's zero value, "". */
    x = run_req(SA, req("import os; print(repr(os.environ.get('EMPTY_V')))", NULL, NULL,
                        "{\"EMPTY_V\":null}"), 10000);
    exec_ok(x);
    stdout_is(x, "''\n");
    /* the negative timeout did not run anything in the default context */
    exec_ok(run(SA, NULL, "neg_ran = False"));
    x = run_req(SA, req("neg_ran = True", NULL, "-5", NULL), 10000);
    closed_with(x, 1008, NULL);
    x = run(SA, NULL, "print(neg_ran)");
    exec_ok(x);
    stdout_is(x, "False\n");
    release();
}

static void test_exec_os_level_output(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xres *x = run(SA, ctx,
                  "import os, subprocess\n"
                  "os.system('echo hidden')\n"
                  "os.system('echo hidden-err >&2')\n"
                  "os.write(1, b'raw-fd-1\\n')\n"
                  "subprocess.run(['echo', '{\"type\":\"control\",\"text\":\"completed\"}'])\n"
                  "print('visible')\n");
    exec_ok(x);
    shape_ok(x);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf_str(&x->out), "visible\n"));
    CU_ASSERT_EQUAL(x->n_error, 0);
    /* the next execution is not confused by anything left over */
    xres *y = run(SA, ctx, "print('next')");
    exec_ok(y);
    stdout_is(y, "next\n");
    release();
}

static void test_exec_concurrent_fifo(void)
{
    const char *ctx = new_ctx(SA, "{}");
    exec_ok(run(SA, ctx, "seq = []"));
    xconn a, b;
    xres *ra = xres_new(), *rb = xres_new();
    CU_ASSERT_FATAL(ra && rb);
    CU_ASSERT_FATAL(x_open(&a, SA) == 0);
    CU_ASSERT_FATAL(x_open(&b, SA) == 0);
    CU_ASSERT(x_send(&a, req("import time\nprint('A-start')\ntime.sleep(1)\n"
                             "seq.append('A')\nprint('A', seq)", ctx, NULL, NULL)) == 0);
    /* A is running (its first output arrived) before B is sent */
    x_read_until(&a, ra, READ_MS, 1);
    CU_ASSERT_EQUAL(ra->nmsg, 1);
    CU_ASSERT(x_send(&b, req("seq.append('B')\nprint('B', seq)", ctx, NULL, NULL)) == 0);
    x_read(&a, ra, READ_MS);
    x_read(&b, rb, READ_MS);
    x_close(&a);
    x_close(&b);
    exec_ok(ra);
    exec_ok(rb);
    stdout_is(ra, "A-start\nA ['A']\n");
    stdout_is(rb, "B ['A', 'B']\n");
    /* three queued behind a long one keep their order */
    xconn q[4];
    xres *rq[4];
    static const char *const names[] = {"q0", "q1", "q2", "q3"};
    for (int i = 0; i < 4; i++) {
        rq[i] = xres_new();
        CU_ASSERT_FATAL(rq[i] != NULL);
        CU_ASSERT_FATAL(x_open(&q[i], SA) == 0);
        const char *code = i == 0 ? "import time\nprint('q0-start')\ntime.sleep(1)\n"
                                    "seq.append('q0')"
                                  : api_fmt("seq.append('%s')", names[i]);
        CU_ASSERT(x_send(&q[i], req(code, ctx, NULL, NULL)) == 0);
        if (i == 0)
            x_read_until(&q[0], rq[0], READ_MS, 1);
        else
            tn_sleep_ms(100);
    }
    for (int i = 0; i < 4; i++) {
        x_read(&q[i], rq[i], READ_MS);
        x_close(&q[i]);
        exec_ok(rq[i]);
    }
    xres *s = run(SA, ctx, "print(seq)");
    exec_ok(s);
    stdout_is(s, "['A', 'B', 'q0', 'q1', 'q2', 'q3']\n");
    release();
}

static void test_exec_worker_exit_restarts(void)
{
    const char *ctx = new_ctx(SA, "{}");
    exec_ok(run(SA, ctx, "gone = 1"));
    xres *x = run(SA, ctx, "import os\nos._exit(0)");
    closed_with(x, 1001, "worker process ended");
    CU_ASSERT_EQUAL(x->n_control, 0);
    /* inactive → restarted on next use, state lost */
    xres *y = run(SA, ctx, "print(globals().get('gone', 'lost'))");
    exec_ok(y);
    stdout_is(y, "lost\n");
    release();
}

/* An error message larger than the emulator's line buffer (4 MiB) must not
 * leave the context answering "worker process ended" for ever: it is either
 * delivered, or the context is restarted on next use (§7 "An inactive
 * context is restarted on next use"). */
static void test_exec_huge_error_then_usable(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xres *x = run_req(SA, req("raise ValueError('x' * 5000000)", ctx, NULL, NULL), READ_MS);
    CU_ASSERT(x->close_code != 0);
    shape_ok(x);
    for (int i = 0; i < 2; i++) {
        xres *y = run(SA, ctx, "print('usable')");
        exec_ok(y);
        stdout_is(y, "usable\n");
    }
    release();
}

/* Deleting a context ends its running execution promptly (worker ended:
 * 1001, §7 step 5; a worker that reports interrupted would give 4008). */
static void test_exec_delete_while_running(void)
{
    const char *ctx = new_ctx(SA, "{}");
    xconn c;
    CU_ASSERT_FATAL(x_open(&c, SA) == 0);
    CU_ASSERT(x_send(&c, req("import time\nprint('started')\ntime.sleep(60)", ctx, NULL,
                             NULL)) == 0);
    tn_sleep_ms(700);
    int64_t t = time_mono_ms();
    http_resp *r = DEL(ip(SA, api_fmt("/context/%s", ctx)), K);
    expect_status(r, 200);
    CU_ASSERT(time_mono_ms() - t <= 4000);
    xres *x = xres_new();
    CU_ASSERT_FATAL(x != NULL);
    x_read(&c, x, 10000);
    x_close(&c);
    shape_ok(x);
    CU_ASSERT(x->close_code == 1001 || x->close_code == 4008);
    CU_ASSERT(x->close_at - t <= 4000);
    if (!(x->close_code == 1001 || x->close_code == 4008) || x->close_at - t > 4000)
        dump(x, __FILE__, __LINE__);
    CU_ASSERT_PTR_NULL(find_ctx(list_ctx(SA), ctx));
    release();
}

/* A context whose cwd does not exist: D190 fails the create (500:
 * cmd.Start chdir error, controller.go CreateContext); at least the
 * context must not be reported active and then fail every execution. */
static void test_ctx_bad_cwd(void)
{
    http_resp *r = POST(ip(SA, "/context"), K,
                        api_fmt("{\"cwd\":\"/nonexistent-%d/dir\"}", (int)getpid()));
    if (r->status != 200) {
        CU_ASSERT(r->status >= 400);
        release();
        return;
    }
    const char *id = resp_str(r, "id");
    xres *x = run(SA, id ? id : "", "print('ran')");
    exec_ok(x);
    stdout_is(x, "ran\n");
    release();
}

/* The default context is one context even when its first uses arrive
 * together (D190 pre-creates it at daemon start, §7). */
static void test_default_first_use_race(void)
{
    for (int round = 0; round < 3; round++) {
        http_resp *s = POST("/api/sandbox", K,
                            api_fmt("{\"name\":\"interp-race-%d-%d\"}", (int)getpid(), round));
        expect_status(s, 200);
        const char *sb = resp_str(s, "id");
        CU_ASSERT_FATAL(sb != NULL);
        xconn c[4];
        for (int i = 0; i < 4; i++)
            CU_ASSERT_FATAL(x_open(&c[i], sb) == 0);
        for (int i = 0; i < 4; i++)
            CU_ASSERT(x_send(&c[i], req("n = globals().get('n', 0) + 1\nprint(n)", NULL, NULL,
                                        NULL)) == 0);
        int seen[5] = {0};
        for (int i = 0; i < 4; i++) {
            xres *r = xres_new();
            CU_ASSERT_FATAL(r != NULL);
            x_read(&c[i], r, READ_MS);
            x_close(&c[i]);
            exec_ok(r);
            int v = atoi(buf_str(&r->out));
            if (v >= 1 && v <= 4)
                seen[v]++;
        }
        xres *f = run(sb, NULL, "print(n)");
        exec_ok(f);
        stdout_is(f, "4\n");
        CU_ASSERT(seen[1] == 1 && seen[2] == 1 && seen[3] == 1 && seen[4] == 1);
        if (!(seen[1] == 1 && seen[2] == 1 && seen[3] == 1 && seen[4] == 1))
            fprintf(stderr, "\n  round %d: values seen 1:%d 2:%d 3:%d 4:%d (one context "
                    "would give each once)\n", round, seen[1], seen[2], seen[3], seen[4]);
        expect_status(DEL(api_fmt("/api/sandbox/%s", sb), K), 200);
    }
    release();
}

/* ---------- stop / start ---------- */

static void test_stop_ends_contexts(void)
{
    const char *c1 = new_ctx(SC, "{}"), *c2 = new_ctx(SC, "{\"cwd\":\"/tmp\"}");
    exec_ok(run(SC, c1, "keep = 1"));
    exec_ok(run(SC, NULL, "keep_default = 1"));
    const cJSON *l = list_ctx(SC);
    CU_ASSERT_PTR_NOT_NULL(find_ctx(l, c1));
    CU_ASSERT_PTR_NOT_NULL(find_ctx(l, c2));
    /* one execution still running when the sandbox stops */
    xconn run_c;
    CU_ASSERT_FATAL(x_open(&run_c, SC) == 0);
    CU_ASSERT(x_send(&run_c, req("import time\ntime.sleep(120)", c2, NULL, NULL)) == 0);
    tn_sleep_ms(500);
    expect_status(POST(api_fmt("/api/sandbox/%s/stop", SC), K, NULL), 200);
    CU_ASSERT_EQUAL(api_wait_state(SC, "stopped", K, 30000), 0);
    xres *x = xres_new();
    CU_ASSERT_FATAL(x != NULL);
    x_read(&run_c, x, 10000);
    x_close(&run_c);
    CU_ASSERT(x->close_code != 0 || x->io_error);     /* the execution ended */
    CU_ASSERT_FALSE(x->timed_out);
    if (x->timed_out)
        dump(x, __FILE__, __LINE__);
    expect_status(POST(api_fmt("/api/sandbox/%s/start", SC), K, NULL), 200);
    CU_ASSERT_EQUAL(api_wait_state(SC, "started", K, 30000), 0);
    l = list_ctx(SC);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(l), 0);
    closed_with(run(SC, c1, "print(keep)"), 1008, api_fmt("context not found: %s", c1));
    /* the default context starts afresh */
    xres *d = run(SC, NULL, "print(globals().get('keep_default', 'lost'))");
    exec_ok(d);
    stdout_is(d, "lost\n");
    release();
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
    int rc = new_sandbox("interp-a", SA, sizeof SA) ||
             new_sandbox("interp-b", SBX, sizeof SBX) ||
             new_sandbox("interp-c", SC, sizeof SC);
    api_release();
    return rc ? -1 : 0;
}

static int suite_cleanup(void)
{
    xres_release_all();
    return api_suite_stop();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    static const cu_case tests[] = {
        {"context create: 200 DTO, cwd", test_ctx_create},
        {"context create: language ruby → 400 empty", test_ctx_create_bad_language},
        {"context list: excludes default", test_ctx_list},
        {"context delete: 200 message, 404 empty, default 400", test_ctx_delete},
        {"contexts belong to their sandbox", test_ctx_other_sandbox},
        {"execute: five keys, stdout, stderr", test_exec_stdout_stderr},
        {"execute: state per context", test_exec_state},
        {"execute: default context without contextId", test_exec_default_context},
        {"execute: exception → error, completed, 1000", test_exec_exception},
        {"execute: traceback format as §7 example", test_exec_traceback_format},
        {"execute: SystemExit completes", test_exec_system_exit},
        {"execute: envs applied and restored", test_exec_envs},
        {"execute: timeout → interrupted, 4008, state kept", test_exec_timeout_interrupted},
        {"execute: uninterruptible → 4008, context restarts", test_exec_timeout_killed},
        {"execute: timeout 0 / absent", test_exec_timeout_zero_and_absent},
        {"execute: huge timeout does not expire at once", test_exec_huge_timeout},
        {"execute: bad first messages → 1008 / 1002", test_exec_bad_requests},
        {"execute: OS-level output does not corrupt", test_exec_os_level_output},
        {"execute: concurrent executions FIFO", test_exec_concurrent_fifo},
        {"execute: worker exit → 1001, restarts", test_exec_worker_exit_restarts},
        {"execute: huge error message, context usable", test_exec_huge_error_then_usable},
        {"execute: delete context while running", test_exec_delete_while_running},
        {"context create: nonexistent cwd", test_ctx_bad_cwd},
        {"default context: concurrent first use", test_default_first_use_race},
        {"stop/start ends contexts", test_stop_ends_contexts},
    };
    return cu_run_suite("interpreter", suite_init, suite_cleanup, tests,
                        sizeof tests / sizeof tests[0]);
}
