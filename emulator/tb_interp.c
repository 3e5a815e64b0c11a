/*
 * tb_interp.c - the code interpreter; see tb_interp.h.
 */
#include "tb_interp.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "executor.h"
#include "fspath.h"
#include "rnd.h"
#include "timeutil.h"
#include "ws.h"

#define DEFAULT_TIMEOUT_S 600      /* 10 minutes, as Daytona */
#define KILL_GRACE_MS 2000
#define MAX_LINE (4 * 1024 * 1024)

extern const unsigned char emu_repl_worker[];
extern const unsigned long emu_repl_worker_len;

typedef struct ictx {
    struct ictx *next;
    int refs;
    char sandbox_id[SB_ID_LEN];
    char id[UUID_STR_LEN + 8];     /* a UUID or "default" */
    char cwd[1024];
    int64_t created_at;
    pthread_mutex_t run;           /* one execution at a time */
    pthread_mutex_t mu;            /* the worker */
    exec_proc proc;
    int out_fd;                    /* worker's protocol output */
    buf pending;                   /* bytes read past a line */
} ictx;

struct emu_interps {
    pthread_mutex_t mu;
    ictx *head;
};

emu_interps *interps_new(void)
{
    emu_interps *is = calloc(1, sizeof *is);
    if (is)
        pthread_mutex_init(&is->mu, NULL);
    return is;
}

static void worker_stop(emu_executor *ex, ictx *c)
{
    executor_proc_stop(ex, &c->proc);
    if (c->out_fd >= 0)
        close(c->out_fd);
    c->out_fd = -1;
    buf_reset(&c->pending);
}

static void ctx_put(emu_interps *is, emu_executor *ex, ictx *c)
{
    pthread_mutex_lock(&is->mu);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&is->mu);
    if (!last)
        return;
    worker_stop(ex, c);
    buf_release(&c->pending);
    pthread_mutex_destroy(&c->run);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static ictx *ctx_get(emu_interps *is, const char *sandbox_id, const char *id)
{
    pthread_mutex_lock(&is->mu);
    ictx *c = is->head;
    for (; c; c = c->next)
        if (strcmp(c->sandbox_id, sandbox_id) == 0 && strcmp(c->id, id) == 0)
            break;
    if (c)
        c->refs++;
    pthread_mutex_unlock(&is->mu);
    return c;
}

static void ctx_unlink(emu_interps *is, emu_executor *ex, ictx *c)
{
    pthread_mutex_lock(&is->mu);
    int linked = 0;
    for (ictx **pp = &is->head; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            linked = 1;
            break;
        }
    }
    pthread_mutex_unlock(&is->mu);
    if (linked) {
        pthread_mutex_lock(&c->mu);
        worker_stop(ex, c);
        pthread_mutex_unlock(&c->mu);
        ctx_put(is, ex, c);
    }
}

void interps_drop_sandbox(emu_interps *is, emu_executor *ex, const char *sandbox_id)
{
    if (!is)
        return;
    for (;;) {
        pthread_mutex_lock(&is->mu);
        ictx *c = is->head;
        while (c && sandbox_id && strcmp(c->sandbox_id, sandbox_id) != 0)
            c = c->next;
        if (c)
            c->refs++;
        pthread_mutex_unlock(&is->mu);
        if (!c)
            return;
        ctx_unlink(is, ex, c);
        ctx_put(is, ex, c);
    }
}

void interps_free(emu_interps *is, emu_executor *ex)
{
    if (!is)
        return;
    interps_drop_sandbox(is, ex, NULL);
    pthread_mutex_destroy(&is->mu);
    free(is);
}

/* Starts (or restarts) the context's worker: bash execs python3 with the
 * embedded worker, so globals then live for the context.  c->mu held. */
static int worker_start(emu_executor *ex, const emu_sandbox *sb, ictx *c)
{
    worker_stop(ex, c);
    if (executor_start_shell(ex, sb, c->cwd, &c->proc, &c->out_fd) != 0)
        return -1;
    buf cmd;
    buf_init(&cmd, 64 * 1024);
    char *b64 = malloc(BASE64_ENCODED_SIZE(emu_repl_worker_len));
    int rc = -1;
    if (b64) {
        base64_encode(emu_repl_worker, emu_repl_worker_len, b64);
        buf_adds(&cmd, "exec python3 -u -c \"$(printf '%s' '");
        buf_adds(&cmd, b64);
        buf_adds(&cmd, "' | base64 -d)\"\n");
        size_t off = 0;
        rc = 0;
        while (off < cmd.len && rc == 0) {
            ssize_t n = write(c->proc.stdin_fd, cmd.data + off, cmd.len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                rc = -1;
            else
                off += (size_t)n;
        }
    }
    free(b64);
    buf_release(&cmd);
    if (rc)
        worker_stop(ex, c);
    return rc;
}

static ictx *ctx_new(emu_executor *ex, const emu_sandbox *sb, emu_interps *is,
                     const char *id, const char *cwd)
{
    ictx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->run, NULL);
    pthread_mutex_init(&c->mu, NULL);
    c->refs = 1;
    c->out_fd = -1;
    c->proc.stdin_fd = c->proc.status_fd = -1;
    buf_init(&c->pending, MAX_LINE);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", sb->id);
    snprintf(c->id, sizeof c->id, "%s", id);
    char home[1024];
    executor_home_dir(ex, sb, home, sizeof home);
    snprintf(c->cwd, sizeof c->cwd, "%s", cwd && *cwd ? cwd : home);
    c->created_at = time_now_ms();
    pthread_mutex_lock(&c->mu);
    int ok = worker_start(ex, sb, c) == 0;
    pthread_mutex_unlock(&c->mu);
    if (!ok) {
        ctx_put(is, ex, c);
        return NULL;
    }
    /* Two first uses of "default" can race here: the first one linked wins
     * and the other's fresh worker is dropped, so there is one default. */
    pthread_mutex_lock(&is->mu);
    ictx *had = is->head;
    while (had && !(strcmp(had->sandbox_id, c->sandbox_id) == 0 &&
                    strcmp(had->id, c->id) == 0))
        had = had->next;
    if (had) {
        had->refs++;
        pthread_mutex_unlock(&is->mu);
        ctx_put(is, ex, c);
        return had;
    }
    c->next = is->head;
    is->head = c;
    c->refs++;                         /* the caller's */
    pthread_mutex_unlock(&is->mu);
    return c;
}

/* ---------- REST ---------- */

static cJSON *ctx_json(ictx *c)
{
    char ts[ISO8601_LEN];
    time_iso8601(c->created_at, ts);
    pthread_mutex_lock(&c->mu);
    int active = executor_proc_alive(&c->proc);
    pthread_mutex_unlock(&c->mu);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "id", c->id) ||
        !cJSON_AddStringToObject(o, "cwd", c->cwd) ||
        !cJSON_AddStringToObject(o, "createdAt", ts) ||
        !cJSON_AddBoolToObject(o, "active", active) ||
        !cJSON_AddStringToObject(o, "language", "python")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int create_ctx(tb_ctx *t, emu_interps *is)
{
    cJSON *j = t->r->body_len ? cJSON_ParseWithLength(t->r->body, t->r->body_len) : NULL;
    const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(j, "cwd");
    const cJSON *lang = cJSON_GetObjectItemCaseSensitive(j, "language");
    int st;
    if ((lang && !cJSON_IsNull(lang) &&
         !(cJSON_IsString(lang) && strcmp(lang->valuestring, "python") == 0)) ||
        (cwd && !cJSON_IsNull(cwd) && !cJSON_IsString(cwd))) {
        st = emu_reply_empty(t->r, 400);   /* Daytona: empty body */
        goto cleanup;
    }
    /* A cwd that is not a directory of the sandbox fails the create, as
     * the daemon's worker start does (rather than a context that is
     * reported active and then dies on every execution). */
    if (cJSON_IsString(cwd) && cwd->valuestring[0]) {
        char root[PATH_MAX], home[PATH_MAX], norm[PATH_MAX];
        executor_fs_root(t->r->app->executor, &t->sb, root, sizeof root);
        executor_home_dir(t->r->app->executor, &t->sb, home, sizeof home);
        int rootfd = fsp_root_open(root);
        int dfd = rootfd < 0 || fsp_normalize(cwd->valuestring, home, norm, sizeof norm) != 0
                      ? -1
                      : fsp_open(rootfd, norm, O_RDONLY | O_DIRECTORY, 0, 0);
        if (dfd >= 0)
            close(dfd);
        if (rootfd >= 0)
            close(rootfd);
        if (dfd < 0) {
            st = tb_error(t->r, 500, "INTERNAL_SERVER_ERROR",
                          "failed to start the interpreter context: cwd is not a directory");
            goto cleanup;
        }
    }
    char id[UUID_STR_LEN];
    ictx *c = rnd_uuid(id) == 0
                  ? ctx_new(t->r->app->executor, &t->sb, is, id,
                            cJSON_IsString(cwd) ? cwd->valuestring : NULL)
                  : NULL;
    if (!c) {
        st = tb_error(t->r, 500, "INTERNAL_SERVER_ERROR",
                      "failed to start the interpreter context");
        goto cleanup;
    }
    cJSON *o = ctx_json(c);
    ctx_put(is, t->r->app->executor, c);
    st = o ? emu_reply_json(t->r, 200, o) : tb_oom(t->r);   /* 200, not 201 */
cleanup:
    cJSON_Delete(j);
    return st;
}

static int list_ctx(tb_ctx *t, emu_interps *is)
{
    ictx *found[1024];
    int n = 0;
    pthread_mutex_lock(&is->mu);
    for (ictx *c = is->head; c && n < 1024; c = c->next)
        if (strcmp(c->sandbox_id, t->sb.id) == 0 && strcmp(c->id, "default") != 0) {
            c->refs++;
            found[n++] = c;
        }
    pthread_mutex_unlock(&is->mu);
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o ? cJSON_AddArrayToObject(o, "contexts") : NULL;
    for (int i = 0; i < n; i++) {
        cJSON *c = a ? ctx_json(found[i]) : NULL;
        if (c)
            cJSON_AddItemToArray(a, c);
        ctx_put(is, t->r->app->executor, found[i]);
    }
    if (!a) {
        cJSON_Delete(o);
        return tb_oom(t->r);
    }
    return emu_reply_json(t->r, 200, o);
}

static int delete_ctx(tb_ctx *t, emu_interps *is, const char *id)
{
    if (strcmp(id, "default") == 0)
        return emu_reply_empty(t->r, 400);
    ictx *c = ctx_get(is, t->sb.id, id);
    if (!c)
        return emu_reply_empty(t->r, 404);
    ctx_unlink(is, t->r->app->executor, c);
    ctx_put(is, t->r->app->executor, c);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "message", "Context deleted successfully")) {
        cJSON_Delete(o);
        return tb_oom(t->r);
    }
    return emu_reply_json(t->r, 200, o);
}

/* ---------- execute over WebSocket ---------- */

typedef struct {
    emu_interps *is;
    emu_executor *ex;
    emu_sandbox sb;      /* a copy: the request is gone when the socket runs */
} exec_job;

static void job_free(void *p)
{
    exec_job *j = p;
    sandbox_release(&j->sb);
    free(j);
}

/* Reads one line of the worker's output; 1 got a line, 0 timeout, -1 EOF,
 * -2 a line longer than MAX_LINE. */
static int read_line(ictx *c, buf *line, int timeout_ms)
{
    buf_reset(line);
    for (;;) {
        char *nl = c->pending.len ? memchr(c->pending.data, '\n', c->pending.len) : NULL;
        if (nl) {
            size_t l = (size_t)(nl - c->pending.data);
            buf_add(line, c->pending.data, l);
            memmove(c->pending.data, nl + 1, c->pending.len - l - 1);
            c->pending.len -= l + 1;
            c->pending.data[c->pending.len] = '\0';
            return 1;
        }
        struct pollfd p = {c->out_fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r == 0)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        char chunk[65536];
        ssize_t n = read(c->out_fd, chunk, sizeof chunk);
        if (n <= 0)
            return -1;
        if (buf_add(&c->pending, chunk, (size_t)n) != BUF_OK)
            return -2;
    }
}

static void close_with(ws_conn *ws, int code, const char *reason)
{
    ws_send_close(ws, code, reason);
}

/* A JSON number Go would read into an int64: whole and in range (checked
 * before any conversion, which would be undefined out of range). */
static int is_int64(const cJSON *n)
{
    if (!cJSON_IsNumber(n))
        return 0;
    double v = n->valuedouble;
    return v > -9.2e18 && v < 9.2e18 && floor(v) == v;
}

/* envs for the worker: a map of strings, null read as "" (Go's zero value
 * for a map[string]string entry); an empty map when absent. */
static cJSON *envs_copy(const cJSON *envs)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *map = cJSON_IsObject(envs) ? envs : NULL, *e;
    cJSON_ArrayForEach(e, map)
        if (o && !cJSON_AddStringToObject(o, e->string,
                                          cJSON_IsString(e) ? e->valuestring : "")) {
            cJSON_Delete(o);
            o = NULL;
        }
    return o;
}

static void exec_serve(void *cls, int fd, const char *extra, size_t extra_len)
{
    exec_job *j = cls;
    ws_conn *ws = ws_conn_new(fd, 0, extra, extra_len, 16 * 1024 * 1024);
    buf msg, line;
    buf_init(&msg, 16 * 1024 * 1024);
    buf_init(&line, MAX_LINE);
    cJSON *req = NULL;
    ictx *c = NULL;
    if (!ws)
        goto done;
    int op = 0, code = 0;
    if (ws_recv(ws, &msg, &op, &code, 30000) != WS_OK) {
        close_with(ws, 1002, "failed to read the request");
        goto done;
    }
    req = cJSON_ParseWithLength(msg.data ? msg.data : "", msg.len);
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(req, "code");
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(req, "contextId");
    const cJSON *envs = cJSON_GetObjectItemCaseSensitive(req, "envs");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(req, "timeout");
    /* As the daemon's json.Unmarshal into ExecuteRequest (types.go): a
     * value of the wrong type is "invalid JSON payload" (1002); code is a
     * string, contextId a *string (null = the default context, "" is
     * looked up like any id), timeout an *int64, envs a map of strings. */
    int typed = cJSON_IsObject(req) &&
                (!src || cJSON_IsNull(src) || cJSON_IsString(src)) &&
                (!cid || cJSON_IsNull(cid) || cJSON_IsString(cid)) &&
                (!envs || cJSON_IsNull(envs) || cJSON_IsObject(envs)) &&
                (!to || cJSON_IsNull(to) || is_int64(to));
    const cJSON *map = cJSON_IsObject(envs) ? envs : NULL, *e;
    cJSON_ArrayForEach(e, map)
        typed = typed && (cJSON_IsString(e) || cJSON_IsNull(e));
    if (!typed) {
        close_with(ws, 1002, "invalid JSON payload");
        goto done;
    }
    if (!cJSON_IsString(src) || !src->valuestring[0]) {
        close_with(ws, 1008, "code is required");
        goto done;
    }
    double timeout = DEFAULT_TIMEOUT_S;
    if (to && !cJSON_IsNull(to)) {
        if (to->valuedouble < 0) {
            close_with(ws, 1008, "timeout must be greater than or equal to 0");
            goto done;
        }
        /* Anything over ~3 years cannot expire in practice and would
         * overflow the deadline arithmetic: it means no timeout. */
        timeout = to->valuedouble > 1e8 ? 0 : to->valuedouble;
    }
    const char *ctx_id = cJSON_IsString(cid) ? cid->valuestring : "default";
    c = ctx_get(j->is, j->sb.id, ctx_id);
    if (!c && strcmp(ctx_id, "default") == 0) {
        c = ctx_new(j->ex, &j->sb, j->is, "default", NULL);
        if (!c) {
            close_with(ws, 1011, "failed to start the default context");
            goto done;
        }
    }
    if (!c) {
        char reason[120];
        snprintf(reason, sizeof reason, "context not found: %.60s", ctx_id);
        close_with(ws, 1008, reason);
        goto done;
    }
    pthread_mutex_lock(&c->run);           /* FIFO-ish: one at a time */
    pthread_mutex_lock(&c->mu);
    /* An inactive context (its worker died) restarts, losing its state. */
    int ok = executor_proc_alive(&c->proc) || worker_start(j->ex, &j->sb, c) == 0;
    cJSON *w = cJSON_CreateObject();
    char *wl = NULL;
    if (ok && w && cJSON_AddStringToObject(w, "code", src->valuestring) &&
        cJSON_AddItemToObject(w, "envs", envs_copy(envs)) &&
        cJSON_AddNumberToObject(w, "timeout", timeout))
        wl = cJSON_PrintUnformatted(w);
    cJSON_Delete(w);
    ok = ok && wl;
    if (ok) {
        /* One request per line (cJSON escapes newlines inside strings). */
        buf out;
        buf_init(&out, strlen(wl) + 2);
        buf_adds(&out, wl);
        buf_adds(&out, "\n");
        size_t off = 0;
        while (ok && off < out.len) {
            ssize_t n = write(c->proc.stdin_fd, out.data + off, out.len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                ok = 0;
            else
                off += (size_t)n;
        }
        buf_release(&out);
    }
    free(wl);
    pthread_mutex_unlock(&c->mu);
    if (!ok) {
        pthread_mutex_unlock(&c->run);
        close_with(ws, 1011, "context is not active");
        goto done;
    }
    /* Relay the worker's messages until its control message.  The worker
     * enforces the timeout itself; 2 s past it, the worker is killed. */
    int64_t deadline = timeout > 0 ? time_mono_ms() + (int64_t)(timeout * 1000) +
                                          KILL_GRACE_MS
                                    : 0;
    int close_code = 1000;
    const char *close_reason = "";
    for (;;) {
        int wait = 200;
        if (deadline) {
            int64_t left = deadline - time_mono_ms();
            if (left <= 0) {
                pthread_mutex_lock(&c->mu);
                worker_stop(j->ex, c);
                pthread_mutex_unlock(&c->mu);
                close_code = 4008;
                close_reason = "execution timed out";
                break;
            }
            wait = left < 200 ? (int)left : 200;
        }
        int r = read_line(c, &line, wait);
        if (r == -2) {
            /* The rest of that message would be read as the next ones: the
             * worker is stopped (the context restarts on next use). */
            pthread_mutex_lock(&c->mu);
            worker_stop(j->ex, c);
            pthread_mutex_unlock(&c->mu);
            close_code = 1009;
            close_reason = "worker message too large";
            break;
        }
        if (r < 0) {
            close_code = 1001;
            close_reason = "worker process ended";
            break;
        }
        if (r == 0)
            continue;
        cJSON *m = cJSON_ParseWithLength(line.data ? line.data : "", line.len);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "text");
        if (cJSON_IsString(type)) {
            if (ws_send(ws, WS_OP_TEXT, line.data, line.len) != WS_OK) {
                cJSON_Delete(m);
                break;
            }
            if (strcmp(type->valuestring, "control") == 0) {
                if (cJSON_IsString(text) && strcmp(text->valuestring, "interrupted") == 0) {
                    close_code = 4008;
                    close_reason = "execution timed out";
                }
                cJSON_Delete(m);
                break;
            }
        }
        cJSON_Delete(m);       /* unparseable lines are dropped, as Daytona */
    }
    pthread_mutex_unlock(&c->run);
    close_with(ws, close_code, close_reason);
done:
    if (c)
        ctx_put(j->is, j->ex, c);
    cJSON_Delete(req);
    buf_release(&msg);
    buf_release(&line);
    ws_conn_free(ws, 0);
    job_free(j);
}

static int execute(tb_ctx *t, emu_interps *is)
{
    exec_job *j = calloc(1, sizeof *j);
    if (!j)
        return tb_oom(t->r);
    j->is = is;
    j->ex = t->r->app->executor;
    sandbox_init(&j->sb);
    if (sandbox_copy(&j->sb, &t->sb) != 0) {
        free(j);
        return tb_oom(t->r);
    }
    return emu_reply_websocket(t->r, NULL, exec_serve, j, job_free);
}

int tb_interp(tb_ctx *t)
{
    emu_interps *is = t->r->app->interps;
    const char *m = t->r->method;
    const char *rest = t->sub + strlen("/process/interpreter");
    if (!is || !t->r->app->executor)
        return tb_oom(t->r);
    if (strcmp(rest, "/execute") == 0 && strcmp(m, "GET") == 0)
        return execute(t, is);
    if (strcmp(rest, "/context") == 0)
        return strcmp(m, "POST") == 0 ? create_ctx(t, is)
             : strcmp(m, "GET") == 0 ? list_ctx(t, is) : -1;
    if (strncmp(rest, "/context/", 9) == 0 && strcmp(m, "DELETE") == 0 && rest[9])
        return delete_ctx(t, is, rest + 9);
    return -1;
}
