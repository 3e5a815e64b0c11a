/*
 * interp.c - daytona.h section "Code interpreter": stateful Python
 * contexts under {toolbox}/process/interpreter, as the TypeScript SDK
 * 0.218's CodeInterpreter.js uses them (reference toolbox.md §7).
 *
 *  - Contexts: POST /context {cwd?, language?} (200), GET /context
 *    ({contexts: [...]}, the default context not listed), DELETE
 *    /context/{id}.
 *  - A run is a WebSocket on /execute: the client sends one TEXT frame
 *    {code, contextId?, envs?, timeout?}; the server answers with JSON
 *    messages {type: stdout|stderr|error|control, text, name, value,
 *    traceback} and closes with 1000, or 4008 when the run timed out.
 *
 * Timeouts: like the SDK, a `control` message `interrupted` (the worker
 * stopped the code at the timeout) ends the run normally; so does a close
 * 4008 (the worker had to be killed).  Both set timed_out = 1 and return
 * DT_OK with whatever output arrived, so the caller keeps it.  Where the
 * SDK throws on 4008 we report it the same way as `interrupted`: one rule
 * for "the code ran out of time".
 */
#include <stdlib.h>
#include <string.h>

#include "process_int.h"
#include "timeutil.h"
#include "ws.h"

#define SERVER_DEFAULT_TIMEOUT_S 600L
/* Past the run's own timeout: the worker's 2 s kill grace and the trip. */
#define CLIENT_MARGIN_MS 15000L

void dt_interp_context_release(dt_interp_context *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->cwd);
    free(c->language);
    memset(c, 0, sizeof *c);
}

void dt_interp_context_list_free(dt_interp_context *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        dt_interp_context_release(&list[i]);
    free(list);
}

static int context_from_json(const cJSON *j, dt_interp_context *c)
{
    memset(c, 0, sizeof *c);
    c->id = dt__proc_str_or_empty(j, "id");
    c->cwd = dt__proc_str_or_empty(j, "cwd");
    c->language = dt__proc_str_or_empty(j, "language");
    c->active = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "active"));
    if (c->id && c->cwd && c->language)
        return 0;
    dt_interp_context_release(c);
    return -1;
}

dt_code dt_interp_context_create(dt_sandbox *sb, const char *cwd,
                                 const char *language, dt_interp_context *out,
                                 dt_error *err)
{
    const char *parts[] = {"/process/interpreter/context"};
    char *url = NULL;
    cJSON *body = NULL, *j = NULL;
    if (!out)
        return dt__fail(err, DT_EINVAL, 0, "out is required");
    dt_code rc = dt__proc_url(sb, &url, err, parts, 1);
    if (rc != DT_OK)
        return rc;
    body = cJSON_CreateObject();
    if (!body || (cwd && !cJSON_AddStringToObject(body, "cwd", cwd)) ||
        (language && !cJSON_AddStringToObject(body, "language", language))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    rc = dt__json_ex(sb->client, "POST", url, body, 0, &j, NULL, NULL, err);
    if (rc == DT_OK && !cJSON_IsObject(j))
        rc = dt__fail(err, DT_EPROTO, 200, "POST %s: not a context", url);
    else if (rc == DT_OK && context_from_json(j, out) != 0)
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
cleanup:
    cJSON_Delete(j);
    cJSON_Delete(body);
    free(url);
    return rc;
}

static int context_conv(const cJSON *j, void *elem)
{
    return context_from_json(j, elem);
}

static void context_free(void *elem)
{
    dt_interp_context_release(elem);
}

dt_code dt_interp_context_list(dt_sandbox *sb, dt_interp_context **out,
                               size_t *n, dt_error *err)
{
    if (!out || !n)
        return dt__fail(err, DT_EINVAL, 0, "out and n are required");
    void *list = NULL;
    /* The SDK reads `.contexts ?? []`. */
    dt_code rc = dt__proc_get_list(sb, "/process/interpreter/context", "contexts",
                                   sizeof(dt_interp_context), context_conv,
                                   context_free, &list, n, err);
    if (rc == DT_OK)
        *out = list;
    return rc;
}

dt_code dt_interp_context_delete(dt_sandbox *sb, const char *id,
                                 dt_error *err)
{
    const char *parts[] = {"/process/interpreter/context", id};
    return dt__proc_call(sb, "DELETE", parts, 2, NULL, err);
}

/* ---- run ---- */

void dt_interp_result_release(dt_interp_result *r)
{
    if (!r)
        return;
    free(r->stdout_);
    free(r->stderr_);
    free(r->error_name);
    free(r->error_value);
    free(r->error_traceback);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const dt_interp_opts *o;
    buf out, err;
    dt_interp_result r;      /* error_* and flags; streams are in out/err */
    int done;                /* a control message ended the run */
} run_state;

/* The request frame: {code, contextId?, envs?, timeout?}. */
static char *request_text(const char *code, const dt_interp_opts *o)
{
    cJSON *b = cJSON_CreateObject();
    char *t = NULL;
    int ok = b && cJSON_AddStringToObject(b, "code", code);
    if (ok && o && o->context_id)
        ok = cJSON_AddStringToObject(b, "contextId", o->context_id) != NULL;
    if (ok && o && o->n_env) {
        cJSON *e = dt__kv_object(o->env, o->n_env);
        ok = e && cJSON_AddItemToObject(b, "envs", e);
        if (!ok)
            cJSON_Delete(e);
    }
    /* 0 = the server's default (omitted); negative = none (0 on the wire). */
    if (ok && o && o->timeout_s)
        ok = cJSON_AddNumberToObject(b, "timeout",
                                     o->timeout_s > 0 ? o->timeout_s : 0) != NULL;
    if (ok)
        t = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return t;
}

/* Appends one stream chunk and passes it to its callback. */
static dt_code on_text(run_state *s, int is_err, const char *text,
                       dt_error *err)
{
    size_t n = strlen(text);
    if (n == 0)
        return DT_OK;
    if (buf_add(is_err ? &s->err : &s->out, text, n) != BUF_OK)
        return dt__fail(err, DT_ETOOBIG, 0, "interpreter output over the "
                                            "size cap");
    dt_output_cb cb = is_err ? s->o->on_stderr : s->o->on_stdout;
    if (cb && cb(s->o->ctx, text, n) != 0)
        return dt__fail(err, DT_ECANCELED, 0, "stopped by the callback");
    return DT_OK;
}

static dt_code on_error_msg(run_state *s, const cJSON *m, dt_error *err)
{
    free(s->r.error_name);
    free(s->r.error_value);
    free(s->r.error_traceback);
    s->r.has_error = 1;
    s->r.error_name = dt__proc_str_or_empty(m, "name");
    s->r.error_value = dt__proc_str_or_empty(m, "value");
    s->r.error_traceback = dt__proc_str_or_empty(m, "traceback");
    if (!s->r.error_name || !s->r.error_value || !s->r.error_traceback)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    return DT_OK;
}

/* One server message.  Text that is not JSON is ignored, as the SDK does. */
static dt_code on_message(run_state *s, const buf *msg, dt_error *err)
{
    cJSON *m = cJSON_ParseWithLength(msg->data ? msg->data : "", msg->len);
    const char *type = dt__jstr(m, "type");
    const char *text = dt__jstr(m, "text");
    dt_code rc = DT_OK;
    if (!type)
        type = "";
    if (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0)
        rc = on_text(s, type[3] == 'e', text ? text : "", err);
    else if (strcmp(type, "error") == 0)
        rc = on_error_msg(s, m, err);
    else if (strcmp(type, "control") == 0 && text &&
             (strcmp(text, "completed") == 0 ||
              strcmp(text, "interrupted") == 0)) {
        s->done = 1;
        s->r.timed_out = text[0] == 'i';
    }
    cJSON_Delete(m);
    return rc;
}

/* A close before the control message: 1000/1001 end the run (the SDK
 * resolves), 4008 is the timeout, anything else failed the run. */
static dt_code on_close(run_state *s, int code, const buf *reason,
                        dt_error *err)
{
    const char *why = buf_str(reason);
    if (code == 1000 || code == 1001 || code == 1005)
        return DT_OK;
    if (code == 4008) {
        s->r.timed_out = 1;
        return DT_OK;
    }
    dt_code c = code == 1008 && strstr(why, "not found") ? DT_ENOTFOUND
              : code == 1008 || code == 1002 ? DT_EBADREQUEST
              : code == 1009 ? DT_ETOOBIG
              : code == 1011 ? DT_ESERVER : DT_EWS;
    return dt__fail(err, c, 0, "%s (close code %d)",
                    *why ? why : "code execution failed", code);
}

/* Receives until a control message or the close, within deadline_ms
 * (-1 = none). */
static dt_code receive(dt__ws *ws, run_state *s, size_t max,
                       int64_t deadline, dt_error *err)
{
    buf msg;
    buf_init(&msg, max);
    dt_code rc = DT_OK;
    while (!s->done) {
        long wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - time_mono_ms();
            wait = left > 0 ? (long)left : 1;
        }
        int op = 0, code = 0;
        if ((rc = dt__ws_recv(ws, &op, &msg, &code, wait, err)) != DT_OK)
            break;
        if (op == WS_OP_CLOSE) {
            rc = on_close(s, code, &msg, err);
            break;
        }
        if ((rc = on_message(s, &msg, err)) != DT_OK)
            break;
    }
    buf_release(&msg);
    return rc;
}

static int64_t run_deadline(const dt_interp_opts *o)
{
    long t = o->timeout_s ? o->timeout_s : SERVER_DEFAULT_TIMEOUT_S;
    if (t < 0)
        return -1;
    return time_mono_ms() + t * 1000L + CLIENT_MARGIN_MS;
}

/* Moves the collected run into *out. */
static dt_code finish(run_state *s, dt_interp_result *out, dt_error *err)
{
    s->r.stdout_ = buf_detach(&s->out, NULL);
    s->r.stderr_ = buf_detach(&s->err, NULL);
    if (!s->r.stdout_ || !s->r.stderr_)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    *out = s->r;
    memset(&s->r, 0, sizeof s->r);
    return DT_OK;
}

dt_code dt_interp_run(dt_sandbox *sb, const char *code,
                      const dt_interp_opts *opts, dt_interp_result *out,
                      dt_error *err)
{
    static const dt_interp_opts none;
    const char *parts[] = {"/process/interpreter/execute"};
    const dt_interp_opts *o = opts ? opts : &none;
    char *url = NULL, *req = NULL;
    dt__ws *ws = NULL;
    if (!code || !out || strspn(code, " \t\r\n") == strlen(code))
        return dt__fail(err, DT_EINVAL, 0, "Code is required for execution");
    if (o->n_env && !o->env)
        return dt__fail(err, DT_EINVAL, 0, "env is NULL with n_env > 0");
    dt_code rc = dt__proc_url(sb, &url, err, parts, 1);
    if (rc != DT_OK)
        return rc;
    run_state s;
    memset(&s, 0, sizeof s);
    s.o = o;
    buf_init(&s.out, sb->client->max_response);
    buf_init(&s.err, sb->client->max_response);
    if (!(req = request_text(code, o))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory (or an env key is "
                                         "NULL)");
        goto cleanup;
    }
    int64_t deadline = run_deadline(o);
    if ((rc = dt__ws_connect(sb->client, url, 0, &ws, err)) != DT_OK ||
        (rc = dt__ws_send(ws, WS_OP_TEXT, req, strlen(req), err)) != DT_OK ||
        (rc = receive(ws, &s, sb->client->max_response, deadline, err)) !=
            DT_OK)
        goto cleanup;
    rc = finish(&s, out, err);
cleanup:
    dt__ws_close(ws, 1000);
    buf_release(&s.out);
    buf_release(&s.err);
    dt_interp_result_release(&s.r);
    cJSON_free(req);
    free(url);
    return rc;
}
