/*
 * session.c - daytona.h section "Process: sessions": long-lived shells in
 * the sandbox under {toolbox}/process/session, with the request shapes of
 * the TypeScript SDK 0.218 (Process.js) and the daemon's behaviour in
 * reference toolbox.md §5.
 *
 * A session command's output is one log in which 3-byte markers switch
 * between stdout ("\x01\x01\x01") and stderr ("\x02\x02\x02").  The daemon
 * keeps the markers in `output` and also sends the two streams split; the
 * library hands out `output` with the markers removed (both streams in
 * order) and demultiplexes locally whenever the split is missing (a daemon
 * in its legacy mode, or the followed log, which arrives raw over a
 * WebSocket cut into 1024-byte frames -- hence a demultiplexer that keeps
 * a marker split across frames, dt__demux_*).
 */
#include <stdlib.h>
#include <string.h>

#include "process_int.h"
#include "ws.h"

/* ---- demultiplexer (process_int.h) ---- */

void dt__demux_init(dt__demux *d, dt__demux_emit emit, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->emit = emit;
    d->ctx = ctx;
}

static int emit_run(dt__demux *d, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    return d->emit(d->ctx, d->cur ? d->cur : DT__STREAM_STDOUT, p, n);
}

/* Completes a marker begun in held bytes with the start of p.  Returns
 * how many bytes of p were used (the rest is scanned normally), or
 * (size_t)-1 when all of p was taken into held (still undecided). */
static size_t resolve_held(dt__demux *d, const char *p, size_t n, int *stop)
{
    unsigned char k = d->held[0];
    size_t need = 3 - d->nheld, j = 0;
    while (j < need && j < n && (unsigned char)p[j] == k)
        j++;
    if (j == need) {             /* the marker is complete */
        d->cur = k;
        d->nheld = 0;
        return need;
    }
    if (j == n) {                /* p is too short to decide */
        memcpy(d->held + d->nheld, p, n);
        d->nheld += n;
        return (size_t)-1;
    }
    /* Not a marker: the held bytes were data.  The scan restarts at p[0]
     * (a held 01 followed by 02 02 02 still finds the stderr marker). */
    unsigned char h[2];
    size_t nh = d->nheld;
    memcpy(h, d->held, nh);
    d->nheld = 0;
    *stop = emit_run(d, (const char *)h, nh);
    return 0;
}

int dt__demux_feed(dt__demux *d, const char *p, size_t n)
{
    int stop = 0;
    size_t i = 0;
    if (d->nheld) {
        i = resolve_held(d, p, n, &stop);
        if (i == (size_t)-1 || stop)
            return stop;
    }
    size_t start = i;
    while (i < n) {
        unsigned char b = (unsigned char)p[i];
        if (b != DT__STREAM_STDOUT && b != DT__STREAM_STDERR) {
            i++;
            continue;
        }
        if (n - i >= 3) {
            if ((unsigned char)p[i + 1] == b && (unsigned char)p[i + 2] == b) {
                if ((stop = emit_run(d, p + start, i - start)) != 0)
                    return stop;
                d->cur = b;
                i += 3;
                start = i;
                continue;
            }
        } else if (n - i == 1 || (unsigned char)p[i + 1] == b) {
            /* One or two trailing bytes that may start a marker. */
            if ((stop = emit_run(d, p + start, i - start)) != 0)
                return stop;
            memcpy(d->held, p + i, n - i);
            d->nheld = n - i;
            return 0;
        }
        i++;
    }
    return emit_run(d, p + start, n - start);
}

int dt__demux_flush(dt__demux *d)
{
    size_t nh = d->nheld;
    d->nheld = 0;
    return emit_run(d, (const char *)d->held, nh);
}

/* ---- a whole log split into strings ---- */

typedef struct {
    buf all, out, err;
} split;

static void split_init(split *s, size_t max)
{
    buf_init(&s->all, max);
    buf_init(&s->out, max);
    buf_init(&s->err, max);
}

static void split_release(split *s)
{
    buf_release(&s->all);
    buf_release(&s->out);
    buf_release(&s->err);
}

static int split_emit(void *ctx, int stream, const char *p, size_t n)
{
    split *s = ctx;
    buf *b = stream == DT__STREAM_STDERR ? &s->err : &s->out;
    return (buf_add(&s->all, p, n) != BUF_OK || buf_add(b, p, n) != BUF_OK);
}

/* Demultiplexes a whole marked log into s. */
static dt_code split_log(split *s, const char *log, dt_error *err)
{
    dt__demux d;
    dt__demux_init(&d, split_emit, s);
    if (dt__demux_feed(&d, log, strlen(log)) || dt__demux_flush(&d))
        return dt__fail(err, DT_ETOOBIG, 0, "session log over the size cap");
    return DT_OK;
}

/* Log fields from a raw log (markers in) and, when the daemon sent them,
 * its own split streams (NULL otherwise). */
static dt_code log_fields(const char *raw, const char *out_s,
                          const char *err_s, size_t max, char **output,
                          char **out_o, char **err_o, dt_error *err)
{
    split s;
    split_init(&s, max);
    dt_code rc = split_log(&s, raw ? raw : "", err);
    if (rc == DT_OK) {
        *output = buf_detach(&s.all, NULL);
        *out_o = out_s ? strdup(out_s) : buf_detach(&s.out, NULL);
        *err_o = err_s ? strdup(err_s) : buf_detach(&s.err, NULL);
        if (!*output || !*out_o || !*err_o)
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    split_release(&s);
    return rc;
}

/* ---- sessions and commands ---- */

void dt_command_release(dt_command *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->command);
    memset(c, 0, sizeof *c);
}

void dt_session_release(dt_session *s)
{
    if (!s)
        return;
    free(s->session_id);
    for (size_t i = 0; i < s->n_commands; i++)
        dt_command_release(&s->commands[i]);
    free(s->commands);
    memset(s, 0, sizeof *s);
}

void dt_session_list_free(dt_session *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        dt_session_release(&list[i]);
    free(list);
}

static int command_from_json(const cJSON *j, dt_command *c)
{
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(j, "exitCode");
    memset(c, 0, sizeof *c);
    c->id = dt__proc_str_or_empty(j, "id");
    c->command = dt__proc_str_or_empty(j, "command");
    c->has_exit_code = cJSON_IsNumber(ec);
    c->exit_code = c->has_exit_code ? ec->valueint : 0;
    if (c->id && c->command)
        return 0;
    dt_command_release(c);
    return -1;
}

static int session_from_json(const cJSON *j, dt_session *s)
{
    const cJSON *cmds = cJSON_GetObjectItemCaseSensitive(j, "commands");
    int n = cJSON_IsArray(cmds) ? cJSON_GetArraySize(cmds) : 0;
    memset(s, 0, sizeof *s);
    if (!(s->session_id = dt__proc_str_or_empty(j, "sessionId")) ||
        (n > 0 && !(s->commands = calloc((size_t)n, sizeof *s->commands))))
        goto fail;
    const cJSON *c;
    cJSON_ArrayForEach(c, cmds) {
        if (s->n_commands == (size_t)n ||
            command_from_json(c, &s->commands[s->n_commands]) != 0)
            goto fail;
        s->n_commands++;
    }
    return 0;
fail:
    dt_session_release(s);
    return -1;
}

dt_code dt_session_create(dt_sandbox *sb, const char *session_id,
                          dt_error *err)
{
    const char *parts[] = {"/process/session"};
    dt_code rc = dt__proc_check(sb, err);
    if (rc != DT_OK)
        return rc;
    if (!session_id || !*session_id)
        return dt__fail(err, DT_EINVAL, 0, "session_id is required");
    cJSON *body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "sessionId", session_id))
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    else
        rc = dt__proc_call(sb, "POST", parts, 1, body, err);
    cJSON_Delete(body);
    return rc;
}

dt_code dt_session_get(dt_sandbox *sb, const char *session_id,
                       dt_session *out, dt_error *err)
{
    const char *parts[] = {"/process/session", session_id};
    char *url = NULL;
    cJSON *j = NULL;
    if (!out)
        return dt__fail(err, DT_EINVAL, 0, "out is required");
    dt_code rc = dt__proc_url(sb, &url, err, parts, 2);
    if (rc != DT_OK)
        return rc;
    rc = dt__json_ex(sb->client, "GET", url, NULL, 0, &j, NULL, NULL, err);
    if (rc == DT_OK && !cJSON_IsObject(j))
        rc = dt__fail(err, DT_EPROTO, 200, "GET %s: not a session", url);
    else if (rc == DT_OK && session_from_json(j, out) != 0)
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    cJSON_Delete(j);
    free(url);
    return rc;
}

static int session_conv(const cJSON *j, void *elem)
{
    return session_from_json(j, elem);
}

static void session_free(void *elem)
{
    dt_session_release(elem);
}

dt_code dt_session_list(dt_sandbox *sb, dt_session **out, size_t *n,
                        dt_error *err)
{
    if (!out || !n)
        return dt__fail(err, DT_EINVAL, 0, "out and n are required");
    void *list = NULL;
    dt_code rc = dt__proc_get_list(sb, "/process/session", NULL, sizeof(dt_session),
                                   session_conv, session_free, &list, n, err);
    if (rc == DT_OK)
        *out = list;
    return rc;
}

dt_code dt_session_delete(dt_sandbox *sb, const char *session_id,
                          dt_error *err)
{
    const char *parts[] = {"/process/session", session_id};
    return dt__proc_call(sb, "DELETE", parts, 2, NULL, err);
}

dt_code dt_session_get_command(dt_sandbox *sb, const char *session_id,
                               const char *cmd_id, dt_command *out,
                               dt_error *err)
{
    const char *parts[] = {"/process/session", session_id, "/command", cmd_id};
    char *url = NULL;
    cJSON *j = NULL;
    if (!out)
        return dt__fail(err, DT_EINVAL, 0, "out is required");
    dt_code rc = dt__proc_url(sb, &url, err, parts, 4);
    if (rc != DT_OK)
        return rc;
    rc = dt__json_ex(sb->client, "GET", url, NULL, 0, &j, NULL, NULL, err);
    if (rc == DT_OK && !cJSON_IsObject(j))
        rc = dt__fail(err, DT_EPROTO, 200, "GET %s: not a command", url);
    else if (rc == DT_OK && command_from_json(j, out) != 0)
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    cJSON_Delete(j);
    free(url);
    return rc;
}

/* ---- exec ---- */

void dt_session_exec_result_release(dt_session_exec_result *r)
{
    if (!r)
        return;
    free(r->cmd_id);
    free(r->output);
    free(r->stdout_);
    free(r->stderr_);
    memset(r, 0, sizeof *r);
}

static cJSON *exec_body(const char *command, const dt_session_exec_opts *o)
{
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddStringToObject(b, "command", command) ||
        !cJSON_AddBoolToObject(b, "runAsync", o && o->run_async) ||
        (o && o->suppress_input_echo &&
         !cJSON_AddTrueToObject(b, "suppressInputEcho"))) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* Fills r from a sync or async answer (async: the four fields are null). */
static dt_code exec_result(const cJSON *j, size_t max,
                           dt_session_exec_result *r, dt_error *err)
{
    const char *id = dt__jstr(j, "cmdId");
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(j, "exitCode");
    const char *output = dt__jstr(j, "output");
    if (!id)
        return dt__fail(err, DT_EPROTO, 0, "session exec: no cmdId");
    memset(r, 0, sizeof *r);
    if (!(r->cmd_id = strdup(id)))
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    r->has_exit_code = cJSON_IsNumber(ec);
    r->exit_code = r->has_exit_code ? ec->valueint : 0;
    if (!r->has_exit_code && !output)
        return DT_OK;            /* async (202): nothing more yet */
    return log_fields(output, dt__jstr(j, "stdout"), dt__jstr(j, "stderr"),
                      max, &r->output, &r->stdout_, &r->stderr_, err);
}

dt_code dt_session_exec(dt_sandbox *sb, const char *session_id,
                        const char *command, const dt_session_exec_opts *opts,
                        dt_session_exec_result *out, dt_error *err)
{
    const char *parts[] = {"/process/session", session_id, "/exec"};
    char *url = NULL;
    cJSON *body = NULL, *j = NULL;
    dt_session_exec_result r;
    memset(&r, 0, sizeof r);
    if (!command || !out)
        return dt__fail(err, DT_EINVAL, 0, "command and out are required");
    if (opts && opts->timeout_s < 0)
        return dt__fail(err, DT_EINVAL, 0, "timeout_s must not be negative");
    dt_code rc = dt__proc_url(sb, &url, err, parts, 3);
    if (rc != DT_OK)
        return rc;
    if (!(body = exec_body(command, opts))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    /* The SDK's timeout bounds only the HTTP wait (the daemon has none
     * for session commands). */
    long t = opts && opts->timeout_s > 0 ? opts->timeout_s * 1000L : 0;
    rc = dt__json_ex(sb->client, "POST", url, body, t, &j, NULL, NULL, err);
    if (rc == DT_OK && !cJSON_IsObject(j))
        rc = dt__fail(err, DT_EPROTO, 0, "POST %s: no result object", url);
    if (rc == DT_OK &&
        (rc = exec_result(j, sb->client->max_response, &r, err)) == DT_OK) {
        *out = r;
        memset(&r, 0, sizeof r);
    }
cleanup:
    dt_session_exec_result_release(&r);
    cJSON_Delete(j);
    cJSON_Delete(body);
    free(url);
    return rc;
}

/* ---- logs ---- */

void dt_logs_release(dt_logs *l)
{
    if (!l)
        return;
    free(l->output);
    free(l->stdout_);
    free(l->stderr_);
    memset(l, 0, sizeof *l);
}

dt_code dt_session_logs(dt_sandbox *sb, const char *session_id,
                        const char *cmd_id, dt_logs *out, dt_error *err)
{
    const char *parts[] = {"/process/session", session_id, "/command", cmd_id,
                           "/logs"};
    char *url = NULL, *raw = NULL;
    cJSON *j = NULL;
    dt_logs l;
    memset(&l, 0, sizeof l);
    if (!out)
        return dt__fail(err, DT_EINVAL, 0, "out is required");
    dt_code rc = dt__proc_url(sb, &url, err, parts, 5);
    if (rc != DT_OK)
        return rc;
    /* JSON {output, stdout, stderr}; a legacy daemon answers the log as
     * plain text, which is demultiplexed here. */
    rc = dt__json_ex(sb->client, "GET", url, NULL, 0, &j, &raw, NULL, err);
    if (rc != DT_OK)
        goto cleanup;
    if (j && !cJSON_IsObject(j)) {
        rc = dt__fail(err, DT_EPROTO, 200, "GET %s: not a log object", url);
        goto cleanup;
    }
    rc = j ? log_fields(dt__jstr(j, "output"), dt__jstr(j, "stdout"),
                        dt__jstr(j, "stderr"), sb->client->max_response,
                        &l.output, &l.stdout_, &l.stderr_, err)
           : log_fields(raw, NULL, NULL, sb->client->max_response,
                        &l.output, &l.stdout_, &l.stderr_, err);
    if (rc == DT_OK) {
        *out = l;
        memset(&l, 0, sizeof l);
    }
cleanup:
    dt_logs_release(&l);
    cJSON_Delete(j);
    free(raw);
    free(url);
    return rc;
}

typedef struct {
    dt_output_cb on_stdout, on_stderr;
    void *ctx;
} stream_cbs;

static int stream_emit(void *ctx, int stream, const char *p, size_t n)
{
    stream_cbs *s = ctx;
    dt_output_cb f = stream == DT__STREAM_STDERR ? s->on_stderr : s->on_stdout;
    return f ? f(s->ctx, p, n) : 0;
}

/* Receives frames until the server's close; 1000 (the command ended and
 * its log was drained, or the session was deleted) is success. */
static dt_code follow(dt__ws *ws, dt__demux *d, size_t max, dt_error *err)
{
    buf msg;
    buf_init(&msg, max);
    dt_code rc = DT_OK;
    for (;;) {
        int op = 0, close_code = 0;
        if ((rc = dt__ws_recv(ws, &op, &msg, &close_code, -1, err)) != DT_OK)
            break;
        if (op == WS_OP_CLOSE) {
            if (dt__demux_flush(d))
                rc = dt__fail(err, DT_ECANCELED, 0, "stopped by the callback");
            else if (close_code != 1000 && close_code != 1001 &&
                     close_code != 1005)
                rc = dt__fail(err, DT_EWS, 0, "log stream closed with %d: %s",
                              close_code, buf_str(&msg));
            break;
        }
        if (dt__demux_feed(d, msg.data ? msg.data : "", msg.len)) {
            rc = dt__fail(err, DT_ECANCELED, 0, "stopped by the callback");
            break;
        }
    }
    buf_release(&msg);
    return rc;
}

dt_code dt_session_logs_stream(dt_sandbox *sb, const char *session_id,
                               const char *cmd_id, dt_output_cb on_stdout,
                               dt_output_cb on_stderr, void *ctx,
                               dt_error *err)
{
    const char *parts[] = {"/process/session", session_id, "/command", cmd_id,
                           "/logs?follow=true"};
    char *url = NULL;
    dt__ws *ws = NULL;
    dt_code rc = dt__proc_url(sb, &url, err, parts, 5);
    if (rc != DT_OK)
        return rc;
    if ((rc = dt__ws_connect(sb->client, url, 0, &ws, err)) == DT_OK) {
        stream_cbs cbs = {on_stdout, on_stderr, ctx};
        dt__demux d;
        dt__demux_init(&d, stream_emit, &cbs);
        rc = follow(ws, &d, sb->client->max_response, err);
    }
    dt__ws_close(ws, 1000);
    free(url);
    return rc;
}

dt_code dt_session_input(dt_sandbox *sb, const char *session_id,
                         const char *cmd_id, const char *data, dt_error *err)
{
    const char *parts[] = {"/process/session", session_id, "/command", cmd_id,
                           "/input"};
    if (!data)
        return dt__fail(err, DT_EINVAL, 0, "data is required");
    dt_code rc = dt__proc_check(sb, err);
    if (rc != DT_OK)
        return rc;
    cJSON *body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "data", data))
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    else
        rc = dt__proc_call(sb, "POST", parts, 5, body, err);
    cJSON_Delete(body);
    return rc;
}
