/*
 * cmd_session.c - `dtctl session create|list|exec|logs|delete`: persistent
 * shells in a sandbox (cd, export and functions carry over between
 * commands of one session).
 *
 *   session create ID [SESSION]            prints the session id
 *   session list ID                        sessions and their commands
 *   session exec ID SESSION [--async] -- CMD [ARGS...]
 *   session logs ID SESSION CMD_ID [--follow]
 *   session delete ID SESSION
 *
 * Output keeps its streams apart: a command's stdout goes to our stdout
 * and its stderr to our stderr, both for a synchronous exec and for logs
 * (followed or not).  A synchronous exec exits with the command's code.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dtctl.h"

enum { O_ASYNC = 1, O_FOLLOW };

/* Commands in a session have no time limit of their own; a request may
 * wait as long as they run (the library's 60 s default would cut them). */
#define SESSION_TIMEOUT_MS (24L * 3600L * 1000L)

static int open_session_sandbox(cli_ctx *cx, const char *id, dt_sandbox **sb)
{
    cx->request_timeout_ms = SESSION_TIMEOUT_MS;
    return cli_open_sandbox(cx, id, sb);
}

static int has_flag(const cli_args *a, int id)
{
    for (size_t i = 0; i < a->n_hits; i++)
        if (a->hits[i].id == id)
            return 1;
    return 0;
}

/* Adds key: s, or key: null when s is NULL.  Returns 1 on success. */
static int add_str_or_null(cJSON *j, const char *key, const char *s)
{
    return s ? cJSON_AddStringToObject(j, key, s) != NULL
             : cJSON_AddNullToObject(j, key) != NULL;
}

/* ------------------------------------------------------------------ */
/* create, delete                                                     */
/* ------------------------------------------------------------------ */

/* "dtctl-" and 16 hex digits from getrandom: unique enough that two
 * scripts creating sessions at once do not collide. */
static int make_session_id(char *out, size_t cap)
{
    unsigned char r[8];

    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -1;
    snprintf(out, cap, "dtctl-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7]);
    return 0;
}

static cJSON *session_json(const char *session_id, const char *flag)
{
    cJSON *j = cJSON_CreateObject();

    if (!cJSON_AddStringToObject(j, "sessionId", session_id) ||
        (flag && !cJSON_AddBoolToObject(j, flag, 1))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int run_create(cli_ctx *cx, const cli_args *a)
{
    char gen[32];
    const char *sid = a->n_pos > 1 ? a->pos[1] : gen;
    dt_sandbox *sb = NULL;
    dt_error err;
    int rc;

    if (a->n_pos < 2 && make_session_id(gen, sizeof gen) != 0)
        return cli_failf("cannot generate a session id");
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_session_create(sb, sid, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(session_json(sid, NULL));
    else
        printf("%s\n", sid);
    dt_sandbox_free(sb);
    return rc;
}

static int run_delete(cli_ctx *cx, const cli_args *a)
{
    dt_sandbox *sb = NULL;
    dt_error err;
    int rc;

    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_session_delete(sb, a->pos[1], &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(session_json(a->pos[1], "deleted"));
    else
        printf("Session '%s' deleted\n", a->pos[1]);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* list                                                               */
/* ------------------------------------------------------------------ */

/* {"sessionId", "commands": [{"id", "command", "exitCode" (null while it
 * runs)}]}, as the toolbox answers. */
static cJSON *session_list_json(const dt_session *list, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *s = session_json(list[i].session_id, NULL);
        cJSON *cmds = s ? cJSON_AddArrayToObject(s, "commands") : NULL;
        int ok = cmds != NULL;
        for (size_t k = 0; ok && k < list[i].n_commands; k++) {
            const dt_command *c = &list[i].commands[k];
            cJSON *o = cJSON_CreateObject();
            ok = o && cJSON_AddItemToArray(cmds, o) &&
                 cJSON_AddStringToObject(o, "id", c->id ? c->id : "") &&
                 add_str_or_null(o, "command", c->command) &&
                 (c->has_exit_code ? cJSON_AddNumberToObject(o, "exitCode", c->exit_code) != NULL
                                   : cJSON_AddNullToObject(o, "exitCode") != NULL);
        }
        if (!ok || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return arr;
}

static int run_list(cli_ctx *cx, const cli_args *a)
{
    dt_sandbox *sb = NULL;
    dt_session *list = NULL;
    size_t n = 0;
    dt_error err;
    int rc;

    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (dt_session_list(sb, &list, &n, &err) != DT_OK) {
        rc = cli_fail(&err);
    } else if (cx->json) {
        cJSON *j = session_list_json(list, n);
        rc = j ? cli_print_json(j) : cli_failf("out of memory");
    } else {
        printf("%-40s %s\n", "SESSION", "COMMANDS");
        for (size_t i = 0; i < n; i++)
            printf("%-40s %zu\n", list[i].session_id ? list[i].session_id : "",
                   list[i].n_commands);
    }
    dt_session_list_free(list, n);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* exec                                                               */
/* ------------------------------------------------------------------ */

static const cli_opt exec_opts[] = {
    {"async", 0, 0, O_ASYNC},
    {NULL, 0, 0, 0},
};

/* The command: positionals after SESSION, then everything after "--".
 * *out: free(). */
static int session_words(const cli_ctx *cx, const cli_args *a, char **out)
{
    size_t n = a->n_pos - 2 + a->n_rest;
    const char **w;

    if (n == 0)
        return cli_usage_error(cx, "no command given");
    if (!(w = calloc(n, sizeof(*w))))
        return cli_failf("out of memory");
    for (size_t i = 2; i < a->n_pos; i++)
        w[i - 2] = a->pos[i];
    for (size_t i = 0; i < a->n_rest; i++)
        w[a->n_pos - 2 + i] = a->rest[i];
    *out = cli_join_command(w, n);
    free(w);
    return *out ? 0 : cli_failf("out of memory (or command too long)");
}

static cJSON *exec_json(const dt_session_exec_result *r)
{
    cJSON *j = cJSON_CreateObject();
    int ok = add_str_or_null(j, "cmdId", r->cmd_id) &&
             (r->has_exit_code
                  ? cJSON_AddNumberToObject(j, "exitCode", r->exit_code) != NULL
                  : cJSON_AddNullToObject(j, "exitCode") != NULL) &&
             add_str_or_null(j, "output", r->output) &&
             add_str_or_null(j, "stdout", r->stdout_) &&
             add_str_or_null(j, "stderr", r->stderr_);

    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Sync: the streams to their fds and the exit code as status.  Async:
 * the command id alone, for `cmd=$(dtctl session exec ... --async)`. */
static int exec_output(const cli_ctx *cx, const dt_session_exec_result *r,
                       int async)
{
    const char *out = r->stdout_ ? r->stdout_ : r->output;
    int rc;

    if (cx->json)
        rc = cli_print_json(exec_json(r));
    else if (async)
        rc = printf("%s\n", r->cmd_id ? r->cmd_id : "") < 0;
    else
        rc = cli_write(stdout, out ? out : "", out ? strlen(out) : 0) ||
             cli_write(stderr, r->stderr_ ? r->stderr_ : "",
                       r->stderr_ ? strlen(r->stderr_) : 0);
    if (rc != 0)
        return cx->json ? rc : cli_failf("cannot write output");
    if (async || !r->has_exit_code)
        return 0;
    return r->exit_code >= 0 && r->exit_code <= 255 ? r->exit_code : 255;
}

static int run_exec(cli_ctx *cx, const cli_args *a)
{
    dt_session_exec_opts o;
    dt_session_exec_result r;
    dt_sandbox *sb = NULL;
    char *command = NULL;
    dt_error err;
    int rc;

    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    o.run_async = has_flag(a, O_ASYNC);
    if ((rc = session_words(cx, a, &command)) != 0 ||
        (rc = open_session_sandbox(cx, a->pos[0], &sb)) != 0)
        goto cleanup;
    if (dt_session_exec(sb, a->pos[1], command, &o, &r, &err) != DT_OK) {
        rc = cli_fail(&err);
        goto cleanup;
    }
    rc = exec_output(cx, &r, o.run_async);
cleanup:
    dt_session_exec_result_release(&r);
    dt_sandbox_free(sb);
    free(command);
    return rc;
}

/* ------------------------------------------------------------------ */
/* logs                                                               */
/* ------------------------------------------------------------------ */

static const cli_opt logs_opts[] = {
    {"follow", 0, 0, O_FOLLOW},
    {NULL, 0, 0, 0},
};

/* Followed chunks go out at once (flushed) so a watcher sees them live;
 * with --format json each chunk is one line {"stream","data"}. */
typedef struct {
    int json;
    int failed;
} follow_ctx;

static int emit_chunk(follow_ctx *fc, FILE *to, const char *stream,
                      const char *data, size_t len)
{
    cJSON *j;
    char *line;

    if (!fc->json) {
        if (cli_write(to, data, len) != 0 || fflush(to) != 0)
            fc->failed = 1;
        return fc->failed;
    }
    j = cJSON_CreateObject();
    /* Chunks are not NUL-terminated: cJSON needs a C string. */
    line = strndup(data, len);
    if (!line || !cJSON_AddStringToObject(j, "stream", stream) ||
        !cJSON_AddStringToObject(j, "data", line)) {
        fc->failed = 1;
    } else {
        char *text = cJSON_PrintUnformatted(j);
        fc->failed = !text || puts(text) == EOF || fflush(stdout) != 0;
        free(text);
    }
    free(line);
    cJSON_Delete(j);
    return fc->failed;
}

static int on_stdout(void *ctx, const char *data, size_t len)
{
    return emit_chunk(ctx, stdout, "stdout", data, len);
}

static int on_stderr(void *ctx, const char *data, size_t len)
{
    return emit_chunk(ctx, stderr, "stderr", data, len);
}

static cJSON *logs_json(const dt_logs *l)
{
    cJSON *j = cJSON_CreateObject();

    if (!add_str_or_null(j, "output", l->output) ||
        !add_str_or_null(j, "stdout", l->stdout_) ||
        !add_str_or_null(j, "stderr", l->stderr_)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int logs_once(cli_ctx *cx, dt_sandbox *sb, const cli_args *a)
{
    dt_logs l = {NULL, NULL, NULL};
    dt_error err;
    int rc = 0;

    if (dt_session_logs(sb, a->pos[1], a->pos[2], &l, &err) != DT_OK)
        rc = cli_fail(&err);
    else if (cx->json)
        rc = cli_print_json(logs_json(&l));
    else if (cli_write(stdout, l.stdout_ ? l.stdout_ : "",
                       l.stdout_ ? strlen(l.stdout_) : 0) ||
             cli_write(stderr, l.stderr_ ? l.stderr_ : "",
                       l.stderr_ ? strlen(l.stderr_) : 0))
        rc = cli_failf("cannot write output");
    dt_logs_release(&l);
    return rc;
}

static int run_logs(cli_ctx *cx, const cli_args *a)
{
    follow_ctx fc = {cx->json, 0};
    dt_sandbox *sb = NULL;
    dt_error err;
    int rc;

    if ((rc = open_session_sandbox(cx, a->pos[0], &sb)) != 0)
        return rc;
    if (!has_flag(a, O_FOLLOW))
        rc = logs_once(cx, sb, a);
    else if (dt_session_logs_stream(sb, a->pos[1], a->pos[2], on_stdout,
                                    on_stderr, &fc, &err) != DT_OK)
        rc = fc.failed ? cli_failf("cannot write output") : cli_fail(&err);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Table                                                              */
/* ------------------------------------------------------------------ */

const cli_cmd cli_session_cmds[] = {
    {"create", NULL, "ID [SESSION] [flags]",
     "Create a session (id generated when not given) and print its id",
     NULL, NULL, 1, 2, run_create, NULL},
    {"list", NULL, "ID [flags]", "List the sandbox's sessions and their "
     "commands", NULL, NULL, 1, 1, run_list, NULL},
    {"exec", NULL, "ID SESSION [--async] [flags] -- CMD [ARGS...]",
     "Run a command in a session; exits with its exit code",
     "Words are joined as for `dtctl exec` (one word = a shell line).\n\n"
     "Flags:\n"
     "      --async              start the command and print its id\n",
     exec_opts, 2, -1, run_exec, NULL},
    {"logs", NULL, "ID SESSION CMD_ID [--follow] [flags]",
     "Print a command's output (stdout and stderr to their own fds)",
     "Flags:\n"
     "      --follow             stream the output until the command ends\n",
     logs_opts, 3, 3, run_logs, NULL},
    {"delete", NULL, "ID SESSION [flags]", "Delete a session (kills its "
     "processes)", NULL, NULL, 2, 2, run_delete, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
