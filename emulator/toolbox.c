/*
 * toolbox.c - toolbox dispatcher, process execute/code-run, and the info
 * endpoints; see toolbox.h and reference/toolbox.md §3, §4, §10.
 */
#include "toolbox.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "handlers.h"
#include "lifecycle.h"
#include "timeutil.h"
#include "utf8.h"

#define ARTIFACT_PREFIX "dtn_artifact_k39fd2:"
#define DAEMON_VERSION "v0.190.0"

extern const unsigned char emu_mpl_wrapper[];
extern const unsigned long emu_mpl_wrapper_len;

#include "toolbox_int.h"
#include "tb_git.h"
#include "tb_interp.h"
#include "tb_pty.h"
#include "tb_sessions.h"

/* ---------- replies ---------- */

int tb_error(emu_req *r, int status, const char *code, const char *message)
{
    char ts[ISO8601_LEN];
    time_iso8601(time_now_ms(), ts);
    size_t ql = strcspn(r->raw_uri ? r->raw_uri : "", "?");
    char path[1024];
    snprintf(path, sizeof path, "%.*s", (int)(ql < 1000 ? ql : 1000),
             r->raw_uri ? r->raw_uri : "");
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "statusCode", status) ||
        !cJSON_AddStringToObject(o, "message", message) ||
        (code && !cJSON_AddStringToObject(o, "code", code)) ||
        !cJSON_AddStringToObject(o, "timestamp", ts) ||
        !cJSON_AddStringToObject(o, "path", path) ||
        !cJSON_AddStringToObject(o, "method", r->method) ||
        !cJSON_AddStringToObject(o, "source", "DAYTONA_DAEMON")) {
        cJSON_Delete(o);
        return emu_reply_empty(r, 500);
    }
    return emu_reply_json(r, status, o);
}

int tb_oom(emu_req *r)
{
    return tb_error(r, 500, "INTERNAL_SERVER_ERROR", "internal server error");
}

static int reply_dir(tb_ctx *t, const char *dir)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "dir", dir)) {
        cJSON_Delete(o);
        return tb_oom(t->r);
    }
    return emu_reply_json(t->r, 200, o);
}

/* ---------- running scripts (git and friends) ---------- */

int tb_run(tb_ctx *t, const char *script, const char *cwd, int64_t timeout_ms,
           exec_result *res)
{
    exec_spec spec = {script, strlen(script), cwd, NULL, timeout_ms, 0};
    return executor_run(t->r->app->executor, &t->sb, &spec, res);
}

void tb_shell_quote(buf *out, const char *s)
{
    buf_adds(out, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            buf_adds(out, "'\\''");
        else
            buf_add(out, p, 1);
    }
    buf_adds(out, "'");
}

/* ---------- info ---------- */

static int tb_home_dir(tb_ctx *t)
{
    char d[PATH_MAX];
    executor_home_dir(t->r->app->executor, &t->sb, d, sizeof d);
    return reply_dir(t, d);
}

static int tb_version(tb_ctx *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "version", DAEMON_VERSION)) {
        cJSON_Delete(o);
        return tb_oom(t->r);
    }
    return emu_reply_json(t->r, 200, o);
}

/* ---------- request decoding ---------- */

/* Parses the JSON body; on failure replies 400 and returns NULL. */
static cJSON *json_body(tb_ctx *t, const char *code, const char *prefix)
{
    emu_req *r = t->r;
    cJSON *j = r->body_len ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        char msg[160];
        snprintf(msg, sizeof msg, "%sinvalid request body: %s", prefix,
                 r->body_len ? "invalid character in JSON" : "EOF");
        tb_error(r, 400, code, msg);
        return NULL;
    }
    return j;
}

/* timeout: absent, null or a non-negative integer of seconds (uint32). */
static int parse_timeout(tb_ctx *t, const cJSON *body, const char *type,
                         const char *code, const char *prefix, int64_t *ms)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "timeout");
    *ms = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0 ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        char msg[256];
        snprintf(msg, sizeof msg, "%sinvalid request body: json: cannot unmarshal "
                 "%s into Go struct field %s.timeout of type uint32", prefix,
                 cJSON_IsNumber(v) ? "number" : "value", type);
        return tb_error(t->r, 400, code, msg);
    }
    *ms = (int64_t)v->valuedouble * 1000;
    return 0;
}

/* envs: an object of strings with valid names. */
static int parse_envs(tb_ctx *t, const cJSON *body, const cJSON **out)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "envs");
    *out = NULL;
    if (!e || cJSON_IsNull(e))
        return 0;
    if (!cJSON_IsObject(e))
        return tb_error(t->r, 400, "BAD_REQUEST", "bad request: invalid request "
                        "body: json: cannot unmarshal value into Go struct field "
                        "envs of type map[string]string");
    const cJSON *it;
    cJSON_ArrayForEach(it, e) {
        if (!cJSON_IsString(it))
            return tb_error(t->r, 400, "BAD_REQUEST", "bad request: invalid "
                            "request body: json: cannot unmarshal value into Go "
                            "value of type string");
        if (!executor_env_name_valid(it->string)) {
            char msg[300];
            snprintf(msg, sizeof msg, "bad request: invalid environment variable "
                     "name: '%.200s'", it->string);
            return tb_error(t->r, 400, "BAD_REQUEST", msg);
        }
    }
    *out = e;
    return 0;
}

/* ---------- running ---------- */

/* Runs the script and replies as /process/execute and /process/code-run
 * do; `charts` non-NULL enables artifact extraction (code-run). */
static int run_and_reply(tb_ctx *t, const char *script, size_t len,
                         const char *cwd, const cJSON *envs, int64_t timeout_ms,
                         int coderun)
{
    emu_req *r = t->r;
    exec_spec spec = {script, len, cwd, envs, timeout_ms, 0};
    exec_result res;
    if (executor_run(r->app->executor, &t->sb, &spec, &res) != 0) {
        buf_release(&res.output);
        return tb_oom(r);
    }
    int st;
    if (res.kind == EXEC_TIMEOUT) {
        /* Daytona discards the partial output on a timeout (trap 2). */
        st = tb_error(r, 408, "REQUEST_TIMEOUT",
                      "request timeout: command execution timeout");
        goto cleanup;
    }
    if (res.kind == EXEC_SPAWN_ERROR ||
        (res.kind == EXEC_SETUP_ERROR && strcmp(res.stage, "chdir") != 0 &&
         strcmp(res.stage, "exec") != 0)) {
        char msg[200];
        snprintf(msg, sizeof msg, "failed to start the sandbox process: %s (%s)",
                 res.kind == EXEC_SPAWN_ERROR ? "spawn" : res.stage,
                 strerror(res.err));
        st = tb_error(r, 500, "INTERNAL_SERVER_ERROR", msg);
        goto cleanup;
    }
    cJSON *charts = coderun ? cJSON_CreateArray() : NULL;
    if (coderun && !charts) {
        st = tb_oom(r);
        goto cleanup;
    }
    if (coderun)
        toolbox_extract_artifacts(&res.output, charts);
    buf clean;
    buf_init(&clean, res.output.len * 3 + 64);
    int exit_code = -1;
    if (res.kind == EXEC_SETUP_ERROR) {
        /* A missing cwd: Daytona's daemon reports the shell's fork/exec
         * failure as a 200 with exit code -1 (trap 3). */
        buf_adds(&clean, "fork/exec /usr/bin/bash: no such file or directory");
    } else {
        utf8_sanitize(buf_str(&res.output), res.output.len, &clean);
        if (res.kind == EXEC_EXITED)
            exit_code = res.exit_code;
    }
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "exitCode", exit_code) &&
             cJSON_AddStringToObject(o, "result", buf_str(&clean));
    if (ok && coderun && cJSON_GetArraySize(charts) > 0) {
        cJSON *a = cJSON_AddObjectToObject(o, "artifacts");
        ok = a && cJSON_AddItemToObject(a, "charts", charts);
        if (ok)
            charts = NULL;
    }
    cJSON_Delete(charts);
    buf_release(&clean);
    if (!ok) {
        cJSON_Delete(o);
        st = tb_oom(r);
        goto cleanup;
    }
    st = emu_reply_json(r, 200, o);
cleanup:
    buf_release(&res.output);
    return st;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static int tb_execute(tb_ctx *t)
{
    cJSON *b = json_body(t, "BAD_REQUEST", "bad request: ");
    if (!b)
        return t->r->status;
    int st = 0;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(b, "command");
    const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(b, "cwd");
    const cJSON *envs = NULL;
    int64_t timeout_ms = 0;
    if (!cJSON_IsString(cmd) || cmd->valuestring[0] == '\0') {
        st = tb_error(t->r, 400, "BAD_REQUEST", "bad request: invalid request body: "
                      "Key: 'ExecuteRequest.Command' Error:Field validation for "
                      "'Command' failed on the 'required' tag");
        goto cleanup;
    }
    if (is_blank(cmd->valuestring)) {
        st = tb_error(t->r, 400, "BAD_REQUEST", "bad request: command cannot be "
                      "empty or whitespace-only");
        goto cleanup;
    }
    if (cwd && !cJSON_IsNull(cwd) && !cJSON_IsString(cwd)) {
        st = tb_error(t->r, 400, "BAD_REQUEST", "bad request: invalid request body: "
                      "json: cannot unmarshal value into Go struct field "
                      "ExecuteRequest.cwd of type string");
        goto cleanup;
    }
    if ((st = parse_timeout(t, b, "ExecuteRequest", "BAD_REQUEST", "bad request: ",
                            &timeout_ms)) != 0 ||
        (st = parse_envs(t, b, &envs)) != 0)
        goto cleanup;
    /* The command text goes to the shell's stdin, followed by a newline so
     * a last line without one still runs. */
    buf script;
    buf_init(&script, strlen(cmd->valuestring) + 2);
    buf_adds(&script, cmd->valuestring);
    buf_adds(&script, "\n");
    st = run_and_reply(t, buf_str(&script), script.len,
                       cJSON_IsString(cwd) && cwd->valuestring[0] ? cwd->valuestring : NULL,
                       envs, timeout_ms, 0);
    buf_release(&script);
cleanup:
    cJSON_Delete(b);
    return st;
}

/* ---------- code-run ---------- */

/* A tiny matcher for Daytona's six regexes: in a pattern, ' ' is \s+,
 * '~' is \s* and 'Q' a quote (' or "); everything else is literal. */
static int pat_match(const char *p, const char *s, const char *end)
{
    for (;;) {
        if (!*p)
            return 1;
        if (*p == ' ' || *p == '~') {
            const char *t = s;
            while (t < end && isspace((unsigned char)*t))
                t++;
            if (*p == ' ' && t == s)
                return 0;
            s = t;
            p++;
            continue;
        }
        if (s >= end)
            return 0;
        if (*p == 'Q' ? (*s != '\'' && *s != '"') : *p != *s)
            return 0;
        p++;
        s++;
    }
}

/* Only the part of a line before a '#' counts: a commented-out import is
 * no import. */
int toolbox_uses_matplotlib(const char *code)
{
    static const char *const pats[] = {
        "import matplotlib", "from matplotlib", "__import__~(~Qmatplotlib",
        "importlib.import_module~(~Qmatplotlib",
        "loader.load_module~(~Qmatplotlib", "sys.modules~[~Qmatplotlib",
    };
    const char *line = code;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        const char *hash = memchr(line, '#', (size_t)(end - line));
        if (hash)
            end = hash;
        for (const char *s = line; s < end; s++)
            for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
                if (pat_match(pats[i], s, end))
                    return 1;
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* Appends that remember a failure (a script that does not fit is an
 * error, never a truncated command). */
typedef struct {
    buf *b;
    int fail;
} sbuf;

static void sadd(sbuf *s, const void *data, size_t len)
{
    if (!s->fail && buf_add(s->b, data, len) != BUF_OK)
        s->fail = 1;
}

static void sadds(sbuf *s, const char *str)
{
    sadd(s, str, strlen(str));
}

static void add_b64(sbuf *out, const void *data, size_t len)
{
    char *b = malloc(BASE64_ENCODED_SIZE(len));
    if (!b) {
        out->fail = 1;
        return;
    }
    size_t n = base64_encode(data, len, b);
    sadd(out, b, n);
    free(b);
}

static void add_argv(sbuf *out, const cJSON *argv)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, argv) {
        if (cJSON_IsString(it)) {
            sadds(out, " ");
            sadds(out, it->valuestring);
        }
    }
}

static int python_script(const char *code, const cJSON *argv, sbuf *out)
{
    buf pb;
    buf_init(&pb, out->b->max);
    sbuf payload = {&pb, 0};
    if (toolbox_uses_matplotlib(code)) {
        /* The wrapper with the user's code embedded as base64. */
        const char *w = (const char *)emu_mpl_wrapper;
        const char *at = strstr(w, "@CODE@");
        if (!at) {
            buf_release(&pb);
            return -1;
        }
        sadd(&payload, w, (size_t)(at - w));
        add_b64(&payload, code, strlen(code));
        sadds(&payload, at + 6);
    } else {
        sadds(&payload, code);
    }
    sadds(out, "printf '%s' '");
    add_b64(out, pb.data ? pb.data : "", pb.len);
    sadds(out, "' | base64 -d | python3 -u -");
    add_argv(out, argv);
    out->fail |= payload.fail;
    buf_release(&pb);
    return 0;
}

static int node_script(const char *code, const cJSON *argv, int ts,
                       const char *ts_node, sbuf *out)
{
    /* argv[1] would be "-" (or the file): drop it so process.argv is
     * [node, ...argv] as on Daytona. */
    buf sb;
    buf_init(&sb, out->b->max);
    sbuf src = {&sb, 0};
    sadds(&src, "process.argv.splice(1, 1);\n");
    sadds(&src, code);
    if (!ts) {
        sadds(out, "printf '%s' '");
        add_b64(out, sb.data, sb.len);
        sadds(out, "' | base64 -d | node -");
        add_argv(out, argv);
    } else if (!ts_node) {
        sadds(out, "echo 'daytona-emu: the TypeScript runtime (ts-node) is "
                   "not installed; run ./ci/setup.sh' >&2; exit 127");
    } else {
        sadds(out, "file=/tmp/dtn_$$.ts; printf '%s' '");
        add_b64(out, sb.data, sb.len);
        sadds(out, "' | base64 -d > \"$file\"; npm_config_loglevel=error '");
        sadds(out, ts_node);
        sadds(out, "' -T --ignore-diagnostics 5107 -O '{\"module\":\"CommonJS\"}' "
                   "\"$file\"");
        add_argv(out, argv);
        sadds(out, "; code=$?; rm -f \"$file\"; exit $code");
    }
    out->fail |= src.fail;
    buf_release(&sb);
    return 0;
}

int toolbox_coderun_script(const char *language, const char *code,
                           const cJSON *argv, const char *ts_node, buf *out)
{
    sbuf s = {out, 0};
    int rc;
    if (strcmp(language, "python") == 0)
        rc = python_script(code, argv, &s);
    else if (strcmp(language, "javascript") == 0)
        rc = node_script(code, argv, 0, ts_node, &s);
    else if (strcmp(language, "typescript") == 0)
        rc = node_script(code, argv, 1, ts_node, &s);
    else
        return -1;
    sadds(&s, "\n");
    return (rc != 0 || s.fail) ? -1 : 0;
}

/* As Daytona's daemon does it: split the output on "\n", drop every line
 * that starts with the marker (collecting charts), and join the rest with
 * "\n" again — so a final artifact line takes its preceding newline's
 * place. */
int toolbox_extract_artifacts(buf *output, cJSON *charts)
{
    if (!output->data)
        return 0;
    size_t plen = strlen(ARTIFACT_PREFIX), w = 0, i = 0;
    int n = 0, kept = 0;
    char *d = output->data;
    for (;;) {
        char *nl = memchr(d + i, '\n', output->len - i);
        size_t end = nl ? (size_t)(nl - d) : output->len;
        if (end - i >= plen && memcmp(d + i, ARTIFACT_PREFIX, plen) == 0) {
            cJSON *j = cJSON_ParseWithLength(d + i + plen, end - i - plen);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
            cJSON *val = cJSON_DetachItemFromObjectCaseSensitive(j, "value");
            if (cJSON_IsString(type) && strcmp(type->valuestring, "chart") == 0 &&
                cJSON_IsObject(val) && cJSON_AddItemToArray(charts, val)) {
                val = NULL;
                n++;
            }
            cJSON_Delete(val);
            cJSON_Delete(j);
        } else {
            if (kept++)
                d[w++] = '\n';
            memmove(d + w, d + i, end - i);
            w += end - i;
        }
        if (!nl)
            break;
        i = end + 1;
    }
    output->len = w;
    d[w] = '\0';
    return n;
}

static int tb_coderun(tb_ctx *t)
{
    cJSON *b = json_body(t, "INVALID_REQUEST_BODY", "invalid body request: ");
    if (!b)
        return t->r->status;
    int st = 0;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(b, "code");
    const cJSON *lang = cJSON_GetObjectItemCaseSensitive(b, "language");
    const cJSON *argv = cJSON_GetObjectItemCaseSensitive(b, "argv");
    const cJSON *envs = NULL;
    int64_t timeout_ms = 0;
    if (!cJSON_IsString(code) || !code->valuestring[0] || !cJSON_IsString(lang) ||
        !lang->valuestring[0]) {
        st = tb_error(t->r, 400, "INVALID_REQUEST_BODY", "invalid body request: "
                      "Key: 'CodeRunRequest.Code' Error:Field validation for "
                      "'Code' failed on the 'required' tag");
        goto cleanup;
    }
    if (argv && !cJSON_IsNull(argv) && !cJSON_IsArray(argv)) {
        st = tb_error(t->r, 400, "INVALID_REQUEST_BODY", "invalid body request: "
                      "json: cannot unmarshal value into Go struct field "
                      "CodeRunRequest.argv of type []string");
        goto cleanup;
    }
    if ((st = parse_timeout(t, b, "CodeRunRequest", "INVALID_REQUEST_BODY",
                            "invalid body request: ", &timeout_ms)) != 0 ||
        (st = parse_envs(t, b, &envs)) != 0)
        goto cleanup;
    buf script;
    buf_init(&script, 64 * 1024 * 1024);
    const char *ts = executor_ts_node(t->r->app->executor);
    if (toolbox_coderun_script(lang->valuestring, code->valuestring,
                               cJSON_IsArray(argv) ? argv : NULL, ts, &script) != 0) {
        buf_release(&script);
        char msg[200];
        snprintf(msg, sizeof msg, "bad request: unsupported language: %.100s",
                 lang->valuestring);
        st = tb_error(t->r, 400, "BAD_REQUEST", msg);
        goto cleanup;
    }
    st = run_and_reply(t, buf_str(&script), script.len, NULL, envs, timeout_ms, 1);
    buf_release(&script);
cleanup:
    cJSON_Delete(b);
    return st;
}

/* ---------- dispatch ---------- */

static const tb_route tb_routes[] = {
    {"POST", "/process/execute", tb_execute, NULL},
    {"POST", "/process/code-run", tb_coderun, NULL},
    {"GET", "/work-dir", tb_home_dir, NULL},
    {"GET", "/user-home-dir", tb_home_dir, NULL},
    {"GET", "/project-dir", tb_home_dir, NULL},
    {"GET", "/version", tb_version, NULL},
    TB_FILE_ROUTES
    TB_GIT_ROUTES
    TB_SESSION_ROUTES
    TB_PTY_ROUTES
    TB_INTERP_ROUTES
};

static int not_found_page(emu_req *r)
{
    static const char body[] = "404 page not found";
    return emu_reply_raw(r, 404, "text/plain", body, sizeof body - 1);
}

static void ctx_free(void *p)
{
    tb_ctx *t = p;
    if (t->state && t->state_free)
        t->state_free(t->state);
    sandbox_release(&t->sb);
    free(t);
}

/* gin's router: the exact path, and "/files/" for "/files". */
static const tb_route *find_route(const char *method, const char *sub)
{
    for (size_t i = 0; i < sizeof tb_routes / sizeof tb_routes[0]; i++) {
        const tb_route *rt = &tb_routes[i];
        size_t pl0 = strlen(rt->path);
        if (rt->path[pl0 - 1] == '*') {   /* a sub-router takes the prefix */
            if (strncmp(rt->path, sub, pl0 - 1) == 0 &&
                (sub[pl0 - 1] == '\0' || sub[pl0 - 1] == '/'))
                return rt;
            continue;
        }
        if (strcmp(rt->method, method) != 0)
            continue;
        if (strcmp(rt->path, sub) == 0)
            return rt;
        size_t pl = strlen(rt->path);
        if (strncmp(rt->path, sub, pl) == 0 && sub[pl] == '/' && sub[pl + 1] == '\0' &&
            strcmp(rt->path, "/files") == 0)
            return rt;
    }
    return NULL;
}

int h_toolbox_begin(emu_req *r)
{
    tb_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return tb_oom(r);
    t->r = r;
    sandbox_init(&t->sb);
    r->route_ctx = t;
    r->route_ctx_free = ctx_free;
    /* params: [0] sandbox id, [1] the raw rest of the path. */
    if (snprintf(t->sub, sizeof t->sub, "/%s", r->params[1]) >= (int)sizeof t->sub)
        return not_found_page(r);
    emu_err e = {0};
    if (lc_get(r->app, r->org_id, r->params[0], 1, &t->sb, &e) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "not found: sandbox %.64s not found", r->params[0]);
        return tb_error(r, 404, "NOT_FOUND", msg);
    }
    if (strcmp(t->sb.state, "started") != 0 || strcmp(t->sb.desired, "started") != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "bad request: sandbox %s is not started (state: %s)",
                 t->sb.id, sandbox_reported_state(&t->sb, 0));
        return tb_error(r, 400, "BAD_REQUEST", msg);
    }
    t->ready = 1;
    /* Toolbox traffic counts as activity (the proxy bumps it, throttled to
     * once per 5 s per sandbox). */
    if (clock_now(r->app->clock) - t->sb.last_activity_at >= 5000) {
        lc_args a = {0};
        a.by_id_only = 1;
        emu_err ae = {0};
        lc_do(r->app, r->org_id, t->sb.id, LC_ACTIVITY, &a, NULL, &ae);
    }
    t->route = find_route(r->method, t->sub);
    if (t->route && t->route->begin)
        return t->route->begin(t);
    return 0;
}

int h_toolbox(emu_req *r)
{
    tb_ctx *t = r->route_ctx;
    if (!t || !t->ready)
        return r->status ? r->status : tb_oom(r);
    if (!t->route)
        return not_found_page(r);
    int st = t->route->fn(t);
    return st < 0 ? not_found_page(r) : st;   /* a sub-router's "no route" */
}
