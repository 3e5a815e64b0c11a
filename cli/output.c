/*
 * output.c - dtctl's helpers shared by the command files: option value
 * parsing (integers, K=V lists), joining a command's words into a shell
 * line, reading whole inputs, and writing output (JSON via cJSON, raw
 * bytes, the final flush whose failure must not go unnoticed).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dtctl.h"

/* A joined command line larger than this is refused: the toolbox takes
 * the command in a JSON body and this keeps a runaway argv bounded. */
#define CLI_MAX_COMMAND (16u * 1024u * 1024u)

int cli_int(const cli_ctx *cx, const char *opt, const char *s, long lo,
            long hi, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return cli_usage_error(cx, "invalid value '%s' for %s: expected an "
                               "integer from %ld to %ld", s, opt, lo, hi);
    *out = (int)v;
    return 0;
}

int cli_kvs_add(const cli_ctx *cx, cli_kvs *kvs, const char *opt,
                const char *kv)
{
    const char *eq = strchr(kv, '=');
    dt_kv *grown;
    char *copy;

    if (!eq || eq == kv)
        return cli_usage_error(cx, "invalid value '%s' for %s: expected "
                               "KEY=VALUE", kv, opt);
    grown = realloc(kvs->v, (kvs->n + 1) * sizeof(*kvs->v));
    if (!grown)
        return cli_failf("out of memory");
    kvs->v = grown;
    /* One allocation holds "KEY\0VALUE": key points at its start, so the
     * release frees key only. */
    copy = strdup(kv);
    if (!copy)
        return cli_failf("out of memory");
    copy[eq - kv] = '\0';
    kvs->v[kvs->n].key = copy;
    kvs->v[kvs->n].value = copy + (eq - kv) + 1;
    kvs->n++;
    return 0;
}

void cli_kvs_release(cli_kvs *kvs)
{
    for (size_t i = 0; i < kvs->n; i++)
        free((char *)kvs->v[i].key);
    free(kvs->v);
    kvs->v = NULL;
    kvs->n = 0;
}

/* Characters that never need quoting in POSIX sh. */
static int sh_safe(const char *w)
{
    if (!*w)
        return 0;
    for (; *w; w++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789@%+=:,./_-", *w))
            return 0;
    return 1;
}

/* Appends w single-quoted: inside '...' nothing is special except the
 * quote itself, which becomes '\'' (close, escaped quote, reopen). */
static int sh_quote(buf *b, const char *w)
{
    if (sh_safe(w))
        return buf_adds(b, w) == BUF_OK ? 0 : -1;
    if (buf_adds(b, "'") != BUF_OK)
        return -1;
    for (const char *p = w; *p; p++) {
        buf_code rc = *p == '\'' ? buf_adds(b, "'\\''") : buf_add(b, p, 1);
        if (rc != BUF_OK)
            return -1;
    }
    return buf_adds(b, "'") == BUF_OK ? 0 : -1;
}

char *cli_join_command(const char *const *words, size_t n)
{
    buf b;

    if (n == 1)
        return strdup(words[0]);
    buf_init(&b, CLI_MAX_COMMAND);
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && buf_adds(&b, " ") != BUF_OK) || sh_quote(&b, words[i])) {
            buf_release(&b);
            return NULL;
        }
    }
    return buf_detach(&b, NULL);
}

int cli_read_all(const char *path, size_t max, char **out, size_t *len)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char chunk[65536];
    char ebuf[128];
    int rc = DTCTL_EXIT_FAIL;
    size_t got;
    buf b;

    buf_init(&b, max);
    if (!f)
        return cli_failf("cannot open %s: %s", path,
                         strerror_r(errno, ebuf, sizeof ebuf));
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_add(&b, chunk, got) != BUF_OK) {
            cli_failf("%s is larger than %zu bytes",
                      is_stdin ? "standard input" : path, max);
            goto cleanup;
        }
    }
    if (ferror(f)) {
        cli_failf("cannot read %s: %s", is_stdin ? "standard input" : path,
                  strerror_r(errno, ebuf, sizeof ebuf));
        goto cleanup;
    }
    if (!(*out = buf_detach(&b, len))) {
        cli_failf("out of memory");
        goto cleanup;
    }
    rc = 0;
cleanup:
    buf_release(&b);
    if (!is_stdin)
        fclose(f);
    return rc;
}

int cli_print_json(cJSON *j)
{
    char *text = j ? cJSON_Print(j) : NULL;
    int rc = 0;

    if (!text)
        rc = cli_failf("out of memory building JSON output");
    else if (puts(text) == EOF)
        rc = cli_failf("cannot write output");
    free(text);
    cJSON_Delete(j);
    return rc;
}

cJSON *cli_sandbox_json(const dt_sandbox *sb)
{
    const char *text = dt_sandbox_json(sb);
    return text ? cJSON_Parse(text) : NULL;
}

int cli_write(void *stream, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    return fwrite(data, 1, len, (FILE *)stream) == len ? 0 : -1;
}

int cli_finish(int status)
{
    char ebuf[128];

    /* A failed final flush (full disk, closed pipe with SIGPIPE ignored)
     * means the output is incomplete: say so rather than exit 0. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "dtctl: error: cannot write output: %s\n",
                strerror_r(errno, ebuf, sizeof ebuf));
        return status ? status : DTCTL_EXIT_FAIL;
    }
    return status;
}
