/*
 * cmd_exec.c - running things in a sandbox and reaching it:
 *   dtctl exec ID [--cwd DIR] [--timeout S] -- CMD [ARGS...]
 *   dtctl code-run ID (--file F | -) [--timeout S] [-- ARGV...]
 *   dtctl preview-url ID --port P [--expires S]
 *
 * exec and code-run print the program's output as it came (stdout and
 * stderr are merged by the toolbox) and exit with the program's exit
 * code, so `dtctl exec ID -- make test` behaves like `make test` in a
 * script.  A failure of dtctl itself exits 1 with one error line.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtctl.h"

enum { O_CWD = 1, O_TIMEOUT, O_FILE, O_PORT, O_EXPIRES };

/* Code read from a file or stdin is capped: it travels in one JSON body. */
#define CODE_MAX (16u * 1024u * 1024u)

/* A program's exit code as a process exit status: codes outside 0..255
 * (the toolbox reports -1 when the program could not run) must not wrap
 * to 0, so they become 255 as in the shell. */
static int exit_status_of(int code)
{
    return code >= 0 && code <= 255 ? code : 255;
}

/* How long one HTTP request may take while a program runs: the program's
 * own limit plus a margin, or a day when it has none (the library's
 * default of 60 s would cut long commands short). */
static long run_request_timeout_ms(int timeout_s)
{
    return timeout_s > 0 ? (long)timeout_s * 1000L + 60000L
                         : 24L * 3600L * 1000L;
}

static cJSON *result_json(const dt_exec_result *r, int with_charts)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *charts = NULL;
    int ok = cJSON_AddNumberToObject(j, "exitCode", r->exit_code) &&
             cJSON_AddStringToObject(j, "result", r->result ? r->result : "");

    if (ok && with_charts)
        ok = (charts = cJSON_AddArrayToObject(j, "charts")) != NULL;
    for (size_t i = 0; ok && with_charts && i < r->n_charts; i++) {
        cJSON *c = cJSON_Parse(r->charts_json[i]);
        ok = c && cJSON_AddItemToArray(charts, c);
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Prints the result and turns it into the exit status. */
static int finish_result(const cli_ctx *cx, const dt_exec_result *r,
                         int with_charts)
{
    int rc = cx->json ? cli_print_json(result_json(r, with_charts))
                      : cli_write(stdout, r->result, r->result_len);

    if (rc != 0)
        return cx->json ? rc : cli_failf("cannot write output");
    return exit_status_of(r->exit_code);
}

/* ------------------------------------------------------------------ */
/* exec                                                               */
/* ------------------------------------------------------------------ */

static const cli_opt exec_opts[] = {
    {"cwd", 0, 1, O_CWD},
    {"timeout", 0, 1, O_TIMEOUT},
    {NULL, 0, 0, 0},
};

/* The command words: positionals after the ID, then everything after
 * "--".  *out: free(). */
static int exec_words(const cli_ctx *cx, const cli_args *a, char **out)
{
    size_t n = a->n_pos - 1 + a->n_rest;
    const char **w;

    if (n == 0)
        return cli_usage_error(cx, "no command given");
    if (!(w = calloc(n, sizeof(*w))))
        return cli_failf("out of memory");
    for (size_t i = 1; i < a->n_pos; i++)
        w[i - 1] = a->pos[i];
    for (size_t i = 0; i < a->n_rest; i++)
        w[a->n_pos - 1 + i] = a->rest[i];
    *out = cli_join_command(w, n);
    free(w);
    return *out ? 0 : cli_failf("out of memory (or command too long)");
}

static int run_exec(cli_ctx *cx, const cli_args *a)
{
    dt_exec_opts o;
    dt_exec_result r;
    dt_sandbox *sb = NULL;
    char *command = NULL;
    dt_error err;
    int rc = 0;

    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < a->n_hits && rc == 0; i++) {
        if (a->hits[i].id == O_CWD)
            o.cwd = a->hits[i].val;
        else if (a->hits[i].id == O_TIMEOUT)
            rc = cli_int(cx, "--timeout", a->hits[i].val, 0, INT_MAX,
                         &o.timeout_s);
    }
    if (rc != 0 || (rc = exec_words(cx, a, &command)) != 0)
        goto cleanup;
    cx->request_timeout_ms = run_request_timeout_ms(o.timeout_s);
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        goto cleanup;
    if (dt_exec(sb, command, &o, &r, &err) != DT_OK) {
        rc = cli_fail(&err);
        goto cleanup;
    }
    rc = finish_result(cx, &r, 0);
cleanup:
    dt_exec_result_release(&r);
    dt_sandbox_free(sb);
    free(command);
    return rc;
}

/* ------------------------------------------------------------------ */
/* code-run                                                           */
/* ------------------------------------------------------------------ */

static const cli_opt code_run_opts[] = {
    {"file", 0, 1, O_FILE},
    {"timeout", 0, 1, O_TIMEOUT},
    {NULL, 0, 0, 0},
};

/* Where the code comes from: --file F, or "-" (stdin) as the second
 * positional; exactly one of them. */
static int code_source(const cli_ctx *cx, const cli_args *a, dt_exec_opts *o,
                       const char **src)
{
    int rc = 0;

    *src = NULL;
    for (size_t i = 0; i < a->n_hits && rc == 0; i++) {
        if (a->hits[i].id == O_FILE)
            *src = a->hits[i].val;
        else if (a->hits[i].id == O_TIMEOUT)
            rc = cli_int(cx, "--timeout", a->hits[i].val, 0, INT_MAX,
                         &o->timeout_s);
    }
    if (rc != 0)
        return rc;
    if (a->n_pos == 2 && strcmp(a->pos[1], "-") != 0)
        return cli_usage_error(cx, "unexpected argument: %s (use --file F "
                               "or - for stdin)", a->pos[1]);
    if (a->n_pos == 2 && *src)
        return cli_usage_error(cx, "give either --file or -, not both");
    if (a->n_pos == 2)
        *src = "-";
    if (!*src)
        return cli_usage_error(cx, "no code given (use --file F or - for "
                               "stdin)");
    return 0;
}

static int run_code_run(cli_ctx *cx, const cli_args *a)
{
    dt_exec_opts o;
    dt_exec_result r;
    dt_sandbox *sb = NULL;
    const char *src;
    char *code = NULL;
    size_t len = 0;
    dt_error err;
    int rc;

    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    if ((rc = code_source(cx, a, &o, &src)) != 0 ||
        (rc = cli_read_all(src, CODE_MAX, &code, &len)) != 0)
        goto cleanup;
    o.argv = (const char *const *)a->rest;
    o.argc = a->n_rest;
    cx->request_timeout_ms = run_request_timeout_ms(o.timeout_s);
    if ((rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        goto cleanup;
    if (dt_code_run(sb, code, &o, &r, &err) != DT_OK) {
        rc = cli_fail(&err);
        goto cleanup;
    }
    rc = finish_result(cx, &r, 1);
cleanup:
    dt_exec_result_release(&r);
    dt_sandbox_free(sb);
    free(code);
    return rc;
}

/* ------------------------------------------------------------------ */
/* preview-url                                                        */
/* ------------------------------------------------------------------ */

static const cli_opt preview_opts[] = {
    {"port", 'p', 1, O_PORT},
    {"expires", 0, 1, O_EXPIRES},
    {NULL, 0, 0, 0},
};

static cJSON *preview_json(const dt_sandbox *sb, int port, int expires,
                           const dt_preview *pv)
{
    cJSON *j = cJSON_CreateObject();
    int ok = cJSON_AddStringToObject(j, "sandboxId", dt_sandbox_id(sb)) &&
             cJSON_AddNumberToObject(j, "port", port) &&
             cJSON_AddStringToObject(j, "url", pv->url) &&
             cJSON_AddStringToObject(j, "token", pv->token ? pv->token : "") &&
             cJSON_AddBoolToObject(j, "signed", expires > 0);

    if (ok && expires > 0)
        ok = cJSON_AddNumberToObject(j, "expiresInSeconds", expires) != NULL;
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int preview_flags(const cli_ctx *cx, const cli_args *a, int *port,
                         int *expires)
{
    int rc = 0;

    *port = 0;
    *expires = 0;
    for (size_t i = 0; i < a->n_hits && rc == 0; i++) {
        if (a->hits[i].id == O_PORT)
            rc = cli_int(cx, "--port", a->hits[i].val, 1, 65535, port);
        else if (a->hits[i].id == O_EXPIRES)
            rc = cli_int(cx, "--expires", a->hits[i].val, 1, 86400, expires);
    }
    if (rc == 0 && *port == 0)
        return cli_usage_error(cx, "--port is required");
    return rc;
}

static int run_preview_url(cli_ctx *cx, const cli_args *a)
{
    dt_preview pv = {NULL, NULL};
    dt_sandbox *sb = NULL;
    dt_error err;
    dt_code dc;
    int port, expires, rc;

    if ((rc = preview_flags(cx, a, &port, &expires)) != 0 ||
        (rc = cli_open_sandbox(cx, a->pos[0], &sb)) != 0)
        goto cleanup;
    /* --expires asks for a signed URL (no token needed), as Daytona's
     * CLI; without it the standard link and its token. */
    dc = expires > 0
             ? dt_sandbox_signed_preview_url(sb, port, expires, &pv, &err)
             : dt_sandbox_preview_link(sb, port, &pv, &err);
    if (dc != DT_OK) {
        rc = cli_fail(&err);
        goto cleanup;
    }
    if (cx->json) {
        rc = cli_print_json(preview_json(sb, port, expires, &pv));
    } else {
        printf("%s\n", pv.url);
        if (pv.token && *pv.token)
            printf("Token: %s\n", pv.token);
    }
cleanup:
    dt_preview_release(&pv);
    dt_sandbox_free(sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Table                                                              */
/* ------------------------------------------------------------------ */

const cli_cmd cli_exec_cmds[] = {
    {"exec", NULL, "ID [flags] -- CMD [ARGS...]",
     "Run a command in a sandbox; exits with its exit code",
     "Several words are quoted for the shell and joined, so arguments\n"
     "arrive intact (`-- sh -c 'echo a; exit 3'`); a single word is run as\n"
     "a whole shell command line (`-- 'ls | wc -l'`).\n\n"
     "Flags:\n"
     "      --cwd DIR            working directory\n"
     "      --timeout S          kill the command after S seconds "
     "(0 = none)\n",
     exec_opts, 1, -1, run_exec, NULL},
    {"code-run", NULL, "ID (--file F | -) [flags] [-- ARGV...]",
     "Run code in the sandbox's language; exits with its exit code",
     "The code comes from --file F or, with -, from standard input.\n"
     "Arguments after -- are passed to the program.\n\n"
     "Flags:\n"
     "      --file F             read the code from file F\n"
     "      --timeout S          stop the code after S seconds (0 = none)\n",
     code_run_opts, 1, 2, run_code_run, NULL},
    {"preview-url", NULL, "ID --port P [--expires S] [flags]",
     "Print the preview URL of a port",
     "Flags:\n"
     "  -p, --port P             port in the sandbox (required)\n"
     "      --expires S          signed URL valid for S seconds (1-86400);\n"
     "                           without it: the standard URL and its token\n",
     preview_opts, 1, 1, run_preview_url, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
