/*
 * pty.c - daytona.h section "PTY": interactive terminals under
 * {toolbox}/process/pty (reference toolbox.md §8).
 *
 * A PTY is created with POST /process/pty {id, cwd?, envs?, cols, rows}
 * and attached with the WebSocket GET /process/pty/{id}/connect -- the
 * daemon's two-step form, which needs no WebSocket subprotocols.  (The SDK
 * 0.218 creates and connects in one step on /create-connect, carrying the
 * envs in a subprotocol token; libdaytona's WebSocket client offers no
 * subprotocols, and both forms end in the same attached session.)
 *
 * The protocol as the SDK's PtyHandle reads it: TEXT {"type":"control",
 * "status":"connected"|"exited"|"error", ...}, BINARY terminal output,
 * input sent as BINARY frames; the end is a close frame, 1000 for exit 0,
 * else 1011 with the reason {"exitCode":N,"exitReason":"..."} (also what a
 * kill gives: 137).  Resize and kill are REST calls.
 *
 * Output that arrives while waiting for `connected`, or more than a read
 * asked for, is kept in `pending` for the next dt_pty_read.
 */
#include <stdlib.h>
#include <string.h>

#include "process_int.h"
#include "rnd.h"
#include "timeutil.h"
#include "ws.h"

#define DEFAULT_COLS 80          /* the SDK's defaults */
#define DEFAULT_ROWS 24
#define MAX_SIZE 1000            /* the daemon refuses more */
#define CONNECT_WAIT_MS 10000L   /* the SDK's waitForConnection */

struct dt_pty {
    dt_client *client;       /* borrowed */
    char *id;
    char *url;               /* {toolbox}/process/pty/{id} */
    dt__ws *ws;
    buf pending;             /* output not yet handed to a read */
    size_t pending_off;
    int eof;                 /* the PTY exited (or the link ended) */
    int exit_code;           /* -1 until known */
};

const char *dt_pty_id(const dt_pty *p)
{
    return p ? p->id : NULL;
}

int dt_pty_exit_code(const dt_pty *p)
{
    return p && p->eof ? p->exit_code : -1;
}

void dt_pty_free(dt_pty *p)
{
    if (!p)
        return;
    dt__ws_close(p->ws, 1000);
    buf_release(&p->pending);
    free(p->id);
    free(p->url);
    free(p);
}

/* ---- frames ---- */

static dt_code keep_output(dt_pty *p, const char *d, size_t n, dt_error *err)
{
    if (p->pending_off == p->pending.len) {
        buf_reset(&p->pending);
        p->pending_off = 0;
    }
    if (n && buf_add(&p->pending, d, n) != BUF_OK)
        return dt__fail(err, DT_ETOOBIG, 0, "PTY output not read (over the "
                                            "size cap)");
    return DT_OK;
}

/* The exit code from a close reason or an `exited` message, or dflt. */
static int exit_code_of(const cJSON *j, int dflt)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "exitCode");
    return cJSON_IsNumber(c) ? c->valueint : dflt;
}

/* The server closed: 1000 is exit 0 unless the reason says otherwise; a
 * reason with an exit code is the exit; anything else lost the link. */
static dt_code on_close(dt_pty *p, int code, const buf *reason, dt_error *err)
{
    cJSON *j = cJSON_ParseWithLength(reason->data ? reason->data : "",
                                     reason->len);
    int ec = exit_code_of(j, code == 1000 ? 0 : INT32_MIN);
    cJSON_Delete(j);
    p->eof = 1;
    p->exit_code = ec == INT32_MIN ? -1 : ec;
    if (ec != INT32_MIN)
        return DT_OK;
    return dt__fail(err, DT_EWS, 0, "PTY connection closed (%d): %s", code,
                    buf_str(reason));
}

/* A TEXT frame: a control message, or (not JSON control) output.
 * *connected is set by `connected` and `exited`. */
static dt_code on_text(dt_pty *p, const buf *msg, int *connected,
                       dt_error *err)
{
    cJSON *j = cJSON_ParseWithLength(msg->data ? msg->data : "", msg->len);
    const char *type = dt__jstr(j, "type");
    const char *status = dt__jstr(j, "status");
    dt_code rc = DT_OK;
    if (!type || strcmp(type, "control") != 0 || !status) {
        rc = keep_output(p, msg->data, msg->len, err);
    } else if (strcmp(status, "connected") == 0) {
        *connected = 1;
    } else if (strcmp(status, "exited") == 0) {
        *connected = 1;
        p->eof = 1;
        p->exit_code = exit_code_of(j, -1);
    } else if (strcmp(status, "error") == 0) {
        const char *e = dt__jstr(j, "error");
        e = e ? e : "PTY connection error";
        rc = dt__fail(err, strstr(e, "not found") ? DT_ENOTFOUND : DT_ESERVER,
                      0, "%s", e);
    }
    cJSON_Delete(j);
    return rc;
}

/* Receives one frame (within timeout_ms, <0 forever) and handles it. */
static dt_code pump(dt_pty *p, buf *msg, long timeout_ms, int *connected,
                    dt_error *err)
{
    int op = 0, code = 0;
    dt_code rc = dt__ws_recv(p->ws, &op, msg, &code, timeout_ms, err);
    if (rc != DT_OK)
        return rc;
    if (op == WS_OP_CLOSE)
        return on_close(p, code, msg, err);
    if (op == WS_OP_TEXT)
        return on_text(p, msg, connected, err);
    return keep_output(p, msg->data, msg->len, err);
}

/* ---- create ---- */

static cJSON *create_body(const char *id, const dt_pty_opts *o)
{
    cJSON *b = cJSON_CreateObject();
    int ok = b && cJSON_AddStringToObject(b, "id", id) &&
             cJSON_AddNumberToObject(b, "cols", o->cols ? o->cols
                                                        : DEFAULT_COLS) &&
             cJSON_AddNumberToObject(b, "rows", o->rows ? o->rows
                                                        : DEFAULT_ROWS);
    if (ok && o->cwd)
        ok = cJSON_AddStringToObject(b, "cwd", o->cwd) != NULL;
    if (ok && o->n_env) {
        cJSON *e = dt__kv_object(o->env, o->n_env);
        ok = e && cJSON_AddItemToObject(b, "envs", e);
        if (!ok)
            cJSON_Delete(e);
    }
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

static dt_code check_size(int cols, int rows, int zero_ok, dt_error *err)
{
    int lo = zero_ok ? 0 : 1;
    if (cols < lo || rows < lo || cols > MAX_SIZE || rows > MAX_SIZE)
        return dt__fail(err, DT_EINVAL, 0, "cols and rows must be between 1 "
                                           "and %d", MAX_SIZE);
    return DT_OK;
}

/* POST /process/pty; p->url is set to the PTY's URL on success. */
static dt_code create_session(dt_sandbox *sb, dt_pty *p, const dt_pty_opts *o,
                              dt_error *err)
{
    const char *list[] = {"/process/pty"};
    const char *one[] = {"/process/pty", p->id};
    cJSON *body = create_body(p->id, o);
    dt_code rc = body ? dt__proc_call(sb, "POST", list, 1, body, err)
                      : dt__fail(err, DT_ENOMEM, 0, "out of memory (or an "
                                                   "env key is NULL)");
    if (rc == DT_OK)
        rc = dt__proc_url(sb, &p->url, err, one, 2);
    cJSON_Delete(body);
    return rc;
}

/* Connects and waits for `connected` (output before it is kept). */
static dt_code attach(dt_pty *p, dt_error *err)
{
    size_t n = strlen(p->url) + sizeof "/connect";
    char *url = malloc(n);
    if (!url)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    memcpy(url, p->url, n - sizeof "/connect");
    memcpy(url + n - sizeof "/connect", "/connect", sizeof "/connect");
    dt_code rc = dt__ws_connect(p->client, url, CONNECT_WAIT_MS, &p->ws, err);
    free(url);
    buf msg;
    buf_init(&msg, p->client->max_response);
    int64_t deadline = time_mono_ms() + CONNECT_WAIT_MS;
    int connected = 0;
    while (rc == DT_OK && !connected && !p->eof) {
        int64_t left = deadline - time_mono_ms();
        rc = left > 0 ? pump(p, &msg, (long)left, &connected, err)
                      : dt__fail(err, DT_ETIMEOUT, 0, "PTY connection timeout");
    }
    buf_release(&msg);
    return rc;
}

dt_code dt_pty_create(dt_sandbox *sb, const dt_pty_opts *opts, dt_pty **out,
                      dt_error *err)
{
    static const dt_pty_opts defaults;
    const dt_pty_opts *o = opts ? opts : &defaults;
    char uuid[UUID_STR_LEN];
    dt_code rc = dt__proc_check(sb, err);
    if (rc != DT_OK || (rc = check_size(o->cols, o->rows, 1, err)) != DT_OK)
        return rc;
    if (!out || (o->n_env && !o->env))
        return dt__fail(err, DT_EINVAL, 0, "out is required (and env with "
                                           "n_env)");
    if (!o->id && rnd_uuid(uuid) != 0)
        return dt__fail(err, DT_EIO, 0, "no randomness for a PTY id");
    dt_pty *p = calloc(1, sizeof *p);
    if (!p || !(p->id = strdup(o->id ? o->id : uuid))) {
        free(p);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    p->client = sb->client;
    p->exit_code = -1;
    buf_init(&p->pending, sb->client->max_response);
    if ((rc = create_session(sb, p, o, err)) == DT_OK &&
        (rc = attach(p, err)) != DT_OK)
        dt_pty_kill(p, NULL);    /* do not leave an unreachable shell */
    if (rc != DT_OK) {
        dt_pty_free(p);
        return rc;
    }
    *out = p;
    return DT_OK;
}

/* ---- use ---- */

dt_code dt_pty_write(dt_pty *p, const void *data, size_t len, dt_error *err)
{
    if (!p || !p->ws || (!data && len))
        return dt__fail(err, DT_EINVAL, 0, "invalid PTY or data");
    if (p->eof)
        return dt__fail(err, DT_EIO, 0, "the PTY has exited");
    return dt__ws_send(p->ws, WS_OP_BINARY, data, len, err);
}

static size_t take_pending(dt_pty *p, void *dst, size_t cap)
{
    size_t n = p->pending.len - p->pending_off;
    if (n > cap)
        n = cap;
    memcpy(dst, p->pending.data + p->pending_off, n);
    p->pending_off += n;
    return n;
}

dt_code dt_pty_read(dt_pty *p, void *dst, size_t cap, size_t *got, int *eof,
                    long timeout_ms, dt_error *err)
{
    if (!p || !p->ws || !dst || !cap || !got || !eof)
        return dt__fail(err, DT_EINVAL, 0, "invalid PTY read arguments");
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
    buf msg;
    buf_init(&msg, p->client->max_response);
    dt_code rc = DT_OK;
    /* Control frames carry no output: keep receiving until some output,
     * the end, or the deadline. */
    while (p->pending_off == p->pending.len && !p->eof) {
        long wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - time_mono_ms();
            wait = left > 0 ? (long)left : 0;
        }
        int connected = 0;
        rc = pump(p, &msg, wait, &connected, err);
        if (rc != DT_OK)
            break;
    }
    buf_release(&msg);
    if (rc == DT_ETIMEOUT) {
        *got = 0;
        *eof = 0;
        return DT_OK;
    }
    if (rc != DT_OK)
        return rc;
    *got = take_pending(p, dst, cap);
    *eof = *got == 0 && p->eof;
    return DT_OK;
}

dt_code dt_pty_resize(dt_pty *p, int cols, int rows, dt_error *err)
{
    if (!p)
        return dt__fail(err, DT_EINVAL, 0, "invalid PTY");
    dt_code rc = check_size(cols, rows, 0, err);
    if (rc != DT_OK)
        return rc;
    size_t n = strlen(p->url) + sizeof "/resize";
    char *url = malloc(n);
    cJSON *b = cJSON_CreateObject();
    if (!url || !b || !cJSON_AddNumberToObject(b, "cols", cols) ||
        !cJSON_AddNumberToObject(b, "rows", rows)) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    } else {
        memcpy(url, p->url, n - sizeof "/resize");
        memcpy(url + n - sizeof "/resize", "/resize", sizeof "/resize");
        rc = dt__json_ex(p->client, "POST", url, b, 0, NULL, NULL, NULL, err);
    }
    cJSON_Delete(b);
    free(url);
    return rc;
}

dt_code dt_pty_kill(dt_pty *p, dt_error *err)
{
    /* Reads only what never changes after create (client, url), so any
     * thread may call it while another reads. */
    if (!p || !p->url)
        return dt__fail(err, DT_EINVAL, 0, "invalid PTY");
    return dt__json_ex(p->client, "DELETE", p->url, NULL, 0, NULL, NULL,
                       NULL, err);
}
