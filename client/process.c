/*
 * process.c - daytona.h section "Process: execute and code-run", plus the
 * helpers the other process modules share (process_int.h).
 *
 * Request shapes are the TypeScript SDK 0.218's (Process.js):
 *  - executeCommand: POST {toolbox}/process/execute
 *    {command, cwd?, envs?, timeout?}  ->  {exitCode, result}
 *  - codeRun:        POST {toolbox}/process/code-run
 *    {code, language, argv?, envs?, timeout?}  ->  {exitCode, result,
 *    artifacts?: {charts: [...]}}, the language being the sandbox's
 *    `code-toolbox-language` label (no label: the SDK refuses locally).
 * A timeout given in seconds also bounds the HTTP wait at timeout + 5 s,
 * as the SDK's execRequestOptions does; the server answers 408 when the
 * command ran out of time (DT_ETIMEOUT, no output, as on Daytona).
 */
#include <stdlib.h>
#include <string.h>

#include "process_int.h"

#define LANGUAGE_LABEL "code-toolbox-language"
/* The SDK pads the HTTP deadline over the execution timeout by 5 s. */
#define EXEC_TIMEOUT_PAD_MS 5000L
/* Sent so a real daemon uses split output and JSON logs (toolbox.md §1.4). */

/* ---- shared helpers (process_int.h) ---- */

dt_code dt__proc_check(const dt_sandbox *sb, dt_error *err)
{
    if (!sb || sb->magic != DT__SANDBOX_MAGIC || !sb->client ||
        !sb->toolbox_base)
        return dt__fail(err, DT_EINVAL, 0, "invalid sandbox handle");
    return DT_OK;
}

dt_code dt__proc_url(const dt_sandbox *sb, char **out, dt_error *err,
                     const char *const *parts, size_t n)
{
    dt_code rc = dt__proc_check(sb, err);
    if (rc != DT_OK)
        return rc;
    for (size_t i = 1; i < n; i += 2)
        if (!parts[i] || !*parts[i])
            return dt__fail(err, DT_EINVAL, 0, "an id is NULL or empty");
    dt__url u;
    dt__toolbox_url(sb, &u, NULL);
    for (size_t i = 0; i < n; i++) {
        if (i % 2)
            dt__url_seg(&u, parts[i]);
        else if (parts[i])
            dt__url_raw(&u, parts[i]);
    }
    char *url = dt__url_take(&u, &rc);
    if (!url)
        return dt__fail(err, rc, 0, "cannot build the toolbox URL");
    *out = url;
    return DT_OK;
}

dt_code dt__proc_call(dt_sandbox *sb, const char *method, const char *const *parts,
                      size_t n, const cJSON *body, dt_error *err)
{
    char *url = NULL;
    dt_code rc = dt__proc_url(sb, &url, err, parts, n);
    if (rc != DT_OK)
        return rc;
    rc = dt__json_ex(sb->client, method, url, body, 0, NULL, NULL, NULL, err);
    free(url);
    return rc;
}

dt_code dt__proc_get_list(dt_sandbox *sb, const char *path, const char *key,
                          size_t size, dt__conv_fn conv, dt__release_fn release,
                          void **out, size_t *n, dt_error *err)
{
    const char *parts[] = {path};
    char *url = NULL, *list = NULL;
    cJSON *j = NULL;
    size_t got = 0;
    dt_code rc = dt__proc_url(sb, &url, err, parts, 1);
    if (rc != DT_OK)
        return rc;
    rc = dt__json_ex(sb->client, "GET", url, NULL, 0, &j, NULL, NULL, err);
    if (rc != DT_OK)
        goto cleanup;
    const cJSON *a = key ? cJSON_GetObjectItemCaseSensitive(j, key) : j;
    if (!key && !cJSON_IsArray(a)) {
        rc = dt__fail(err, DT_EPROTO, 200, "GET %s: not a list", url);
        goto cleanup;
    }
    int count = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (count > 0 && !(list = calloc((size_t)count, size))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    const cJSON *it;
    if (count <= 0)
        a = NULL;
    cJSON_ArrayForEach(it, a) {
        if (got == (size_t)count || conv(it, list + got * size) != 0) {
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
            goto cleanup;
        }
        got++;
    }
    *out = list;
    *n = got;
    list = NULL;
    got = 0;
cleanup:
    for (size_t i = 0; i < got; i++)
        release(list + i * size);
    free(list);
    cJSON_Delete(j);
    free(url);
    return rc;
}

char *dt__proc_str_or_empty(const cJSON *o, const char *key)
{
    const char *s = dt__jstr(o, key);
    return strdup(s ? s : "");
}

/* ---- execute and code-run ---- */

void dt_exec_result_release(dt_exec_result *r)
{
    if (!r)
        return;
    free(r->result);
    for (size_t i = 0; i < r->n_charts; i++)
        free(r->charts_json[i]);
    free(r->charts_json);
    memset(r, 0, sizeof *r);
}

/* Adds envs (when any), argv (code-run) and timeout to a request body. */
static int add_common(cJSON *o, const dt_exec_opts *opts, int with_argv)
{
    if (!opts)
        return 1;
    if (opts->n_env) {
        cJSON *env = dt__kv_object(opts->env, opts->n_env);
        if (!env || !cJSON_AddItemToObject(o, "envs", env)) {
            cJSON_Delete(env);
            return 0;
        }
    }
    if (with_argv && opts->argc) {
        cJSON *a = cJSON_AddArrayToObject(o, "argv");
        for (size_t i = 0; a && i < opts->argc; i++) {
            cJSON *s = cJSON_CreateString(opts->argv[i] ? opts->argv[i] : "");
            if (!s || !cJSON_AddItemToArray(a, s)) {
                cJSON_Delete(s);
                return 0;
            }
        }
        if (!a)
            return 0;
    }
    /* Absent = no limit on the server (as is 0); sent only when set. */
    return opts->timeout_s <= 0 ||
           cJSON_AddNumberToObject(o, "timeout", opts->timeout_s) != NULL;
}

/* Every chart of artifacts.charts as JSON text. */
static dt_code take_charts(const cJSON *j, dt_exec_result *r, dt_error *err)
{
    const cJSON *art = cJSON_GetObjectItemCaseSensitive(j, "artifacts");
    const cJSON *charts = cJSON_GetObjectItemCaseSensitive(art, "charts");
    int n = cJSON_IsArray(charts) ? cJSON_GetArraySize(charts) : 0;
    if (n <= 0)
        return DT_OK;
    if (!(r->charts_json = calloc((size_t)n, sizeof *r->charts_json)))
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    const cJSON *c;
    cJSON_ArrayForEach(c, charts) {
        char *t = cJSON_PrintUnformatted(c);
        if (!t)
            return dt__fail(err, DT_ENOMEM, 0, "out of memory");
        r->charts_json[r->n_charts++] = t;
    }
    return DT_OK;
}

/* POSTs body to path and turns {exitCode, result, artifacts} into *out.
 * Without exitCode: the legacy `code` key (executeCommand's fallback for
 * old daemons), else 0 (codeRun's `?? 0`). */
static dt_code run(dt_sandbox *sb, const char *path, const cJSON *body,
                   int timeout_s, dt_exec_result *out, dt_error *err)
{
    char *url = NULL;
    cJSON *j = NULL;
    dt_exec_result r;
    memset(&r, 0, sizeof r);
    dt_code rc = dt__proc_url(sb, &url, err, &path, 1);
    if (rc != DT_OK)
        return rc;
    long t = timeout_s > 0 ? timeout_s * 1000L + EXEC_TIMEOUT_PAD_MS : 0;
    rc = dt__json_ex(sb->client, "POST", url, body, t, &j, NULL, NULL, err);
    if (rc != DT_OK)
        goto cleanup;
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(j, "exitCode");
    if (!cJSON_IsNumber(ec))
        ec = cJSON_GetObjectItemCaseSensitive(j, "code");
    if (!cJSON_IsObject(j)) {
        rc = dt__fail(err, DT_EPROTO, 200, "POST %s: no result object", url);
        goto cleanup;
    }
    r.exit_code = cJSON_IsNumber(ec) ? ec->valueint : 0;
    const char *res = dt__jstr(j, "result");
    r.result_len = res ? strlen(res) : 0;
    if (!(r.result = strdup(res ? res : ""))) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto cleanup;
    }
    if ((rc = take_charts(j, &r, err)) != DT_OK)
        goto cleanup;
    *out = r;
    memset(&r, 0, sizeof r);
cleanup:
    dt_exec_result_release(&r);
    cJSON_Delete(j);
    free(url);
    return rc;
}

static dt_code check_opts(const dt_exec_opts *opts, dt_error *err)
{
    if (opts && opts->timeout_s < 0)
        return dt__fail(err, DT_EINVAL, 0, "timeout_s must not be negative");
    if (opts && opts->n_env && !opts->env)
        return dt__fail(err, DT_EINVAL, 0, "env is NULL with n_env > 0");
    if (opts && opts->argc && !opts->argv)
        return dt__fail(err, DT_EINVAL, 0, "argv is NULL with argc > 0");
    return DT_OK;
}

dt_code dt_exec(dt_sandbox *sb, const char *command, const dt_exec_opts *opts,
                dt_exec_result *out, dt_error *err)
{
    dt_code rc = dt__proc_check(sb, err);
    if (rc != DT_OK || (rc = check_opts(opts, err)) != DT_OK)
        return rc;
    if (!command || !out)
        return dt__fail(err, DT_EINVAL, 0, "command and out are required");
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "command", command) ||
        (opts && opts->cwd && !cJSON_AddStringToObject(o, "cwd", opts->cwd)) ||
        !add_common(o, opts, 0)) {
        cJSON_Delete(o);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory (or an env key "
                                           "is NULL)");
    }
    rc = run(sb, "/process/execute", o, opts ? opts->timeout_s : 0, out, err);
    cJSON_Delete(o);
    return rc;
}

dt_code dt_code_run(dt_sandbox *sb, const char *code, const dt_exec_opts *opts,
                    dt_exec_result *out, dt_error *err)
{
    dt_code rc = dt__proc_check(sb, err);
    if (rc != DT_OK || (rc = check_opts(opts, err)) != DT_OK)
        return rc;
    if (!code || !out)
        return dt__fail(err, DT_EINVAL, 0, "code and out are required");
    if (opts && opts->cwd)
        return dt__fail(err, DT_EINVAL, 0, "code-run has no working "
                                           "directory (cwd must be NULL)");
    const char *lang = dt_sandbox_label(sb, LANGUAGE_LABEL);
    if (!lang || !*lang)
        return dt__fail(err, DT_EINVAL, 0, "Code language is required for "
                        "codeRun: the sandbox has no " LANGUAGE_LABEL " label");
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "code", code) ||
        !cJSON_AddStringToObject(o, "language", lang) ||
        !add_common(o, opts, 1)) {
        cJSON_Delete(o);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory (or an env key "
                                           "is NULL)");
    }
    rc = run(sb, "/process/code-run", o, opts ? opts->timeout_s : 0, out, err);
    cJSON_Delete(o);
    return rc;
}
