/*
 * dtctl.c - dtctl's entry point: the command tree, dispatch, help and
 * usage text, the client made from the environment plus the global flags,
 * and the one-line error report.
 *
 * The tree is table-driven: the root knows the groups (sandbox, fs,
 * session), `version`, and searches the sandbox table (so `dtctl create`
 * is `dtctl sandbox create`, as in Daytona's CLI) and the exec table.
 * Dispatch walks group names, then hands the rest of argv to cli_parse for
 * the leaf command and calls its run function.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtctl.h"

#define DTCTL_GLOBAL_HELP                                                   \
    "Global flags:\n"                                                       \
    "  -f, --format FORMAT  output format: table (default) or json\n"      \
    "      --api-url URL    API URL (default $DAYTONA_API_URL, else\n"      \
    "                       " DT_DEFAULT_API_URL ")\n"                      \
    "      --api-key KEY    API key (default $DAYTONA_API_KEY)\n"           \
    "  -h, --help           show help\n"

static int run_version(cli_ctx *cx, const cli_args *a);

static const char *const sandbox_aliases[] = {"sandboxes", NULL};

static const cli_cmd root_cmds[] = {
    {"sandbox", sandbox_aliases, "COMMAND [flags]",
     "Manage sandboxes (the same commands exist at the top level)", NULL,
     NULL, 0, 0, NULL, cli_sandbox_cmds},
    {"fs", NULL, "COMMAND [flags]", "Files in a sandbox", NULL, NULL, 0, 0,
     NULL, cli_fs_cmds},
    {"session", NULL, "COMMAND [flags]", "Persistent shell sessions", NULL,
     NULL, 0, 0, NULL, cli_session_cmds},
    {"version", NULL, "[flags]", "Print dtctl's and libdaytona's version",
     NULL, NULL, 0, 0, run_version, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

/* Searched in order when looking up a top-level word. */
static const cli_cmd *const root_tables[] = {root_cmds, cli_sandbox_cmds,
                                             cli_exec_cmds};

static const cli_cmd root = {"", NULL, "COMMAND [ARGS] [flags]",
                             "Command-line client for Daytona", NULL, NULL, 0,
                             0, NULL, root_cmds};

/* ------------------------------------------------------------------ */
/* Errors and usage                                                   */
/* ------------------------------------------------------------------ */

/* Prints "dtctl: error: " and msg on one line: embedded newlines (a
 * server's multi-line message) become spaces so scripts can rely on a
 * single line. */
static void print_error_line(const char *msg, long status)
{
    fputs("dtctl: error: ", stderr);
    for (const char *p = msg; *p; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
    if (status > 0)
        fprintf(stderr, " (HTTP %ld)", status);
    fputc('\n', stderr);
}

int cli_fail(const dt_error *e)
{
    const char *msg = e->message[0] ? e->message : dt_strerror(e->code);
    print_error_line(msg, e->status);
    return DTCTL_EXIT_FAIL;
}

int cli_failf(const char *fmt, ...)
{
    char msg[DT_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error_line(msg, 0);
    return DTCTL_EXIT_FAIL;
}

int cli_usage_error(const cli_ctx *cx, const char *fmt, ...)
{
    char msg[DT_ERROR_MESSAGE_MAX];
    const char *path = cx->path[0] ? cx->path : NULL;
    const cli_cmd *cmd = cx->cmd ? cx->cmd : &root;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error_line(msg, 0);
    fprintf(stderr, "Usage: dtctl %s%s%s\n", path ? path : "",
            path ? " " : "", cmd->synopsis);
    fprintf(stderr, "Run 'dtctl %s%s--help' for more information.\n",
            path ? path : "", path ? " " : "");
    return DTCTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* Help                                                               */
/* ------------------------------------------------------------------ */

static void print_cmd_list(const cli_cmd *tab)
{
    for (const cli_cmd *c = tab; c->name; c++)
        printf("  %-12s %s\n", c->name, c->summary);
}

static void print_root_help(void)
{
    printf("dtctl - command-line client for Daytona\n\n"
           "Usage: dtctl [global flags] COMMAND [ARGS] [flags]\n\n"
           "Sandbox commands (also 'dtctl sandbox COMMAND'):\n");
    print_cmd_list(cli_sandbox_cmds);
    printf("\nRunning code:\n");
    print_cmd_list(cli_exec_cmds);
    printf("\nGroups and other commands:\n");
    print_cmd_list(root_cmds);
    printf("\n%s\nConfiguration comes from the environment as in Daytona's "
           "SDKs: DAYTONA_API_KEY,\nDAYTONA_API_URL, DAYTONA_TARGET, "
           "DAYTONA_JWT_TOKEN + DAYTONA_ORGANIZATION_ID.\n"
           "Run 'dtctl COMMAND --help' for a command's flags.\n",
           DTCTL_GLOBAL_HELP);
}

void cli_print_help(const char *path, const cli_cmd *cmd)
{
    if (cmd == &root) {
        print_root_help();
        return;
    }
    printf("%s\n\nUsage: dtctl %s %s\n", cmd->summary, path, cmd->synopsis);
    if (cmd->aliases && cmd->aliases[0]) {
        printf("Aliases:");
        for (const char *const *al = cmd->aliases; *al; al++)
            printf(" %s", *al);
        printf("\n");
    }
    if (cmd->sub) {
        printf("\nCommands:\n");
        print_cmd_list(cmd->sub);
    }
    if (cmd->help)
        printf("\n%s", cmd->help);
    printf("\n%s", DTCTL_GLOBAL_HELP);
}

/* ------------------------------------------------------------------ */
/* Client                                                             */
/* ------------------------------------------------------------------ */

int cli_client(cli_ctx *cx, dt_client **out)
{
    dt_config cfg;
    dt_error err;

    if (!cx->client) {
        dt_config_init(&cfg);
        cfg.api_url = cx->api_url;
        cfg.api_key = cx->api_key;
        cfg.request_timeout_ms = cx->request_timeout_ms;
        if (dt_client_new(&cfg, &cx->client, &err) != DT_OK)
            return cli_fail(&err);
    }
    *out = cx->client;
    return 0;
}

int cli_open_sandbox(cli_ctx *cx, const char *id_or_name, dt_sandbox **out)
{
    dt_client *c;
    dt_error err;
    int rc = cli_client(cx, &c);

    if (rc != 0)
        return rc;
    if (dt_get(c, id_or_name, out, &err) != DT_OK)
        return cli_fail(&err);
    return 0;
}

static int run_version(cli_ctx *cx, const cli_args *a)
{
    cJSON *j;

    (void)a;
    if (!cx->json) {
        printf("dtctl %s (libdaytona %s)\n", DT_VERSION_STRING, dt_version());
        return 0;
    }
    j = cJSON_CreateObject();
    if (j && (!cJSON_AddStringToObject(j, "dtctl", DT_VERSION_STRING) ||
              !cJSON_AddStringToObject(j, "libdaytona", dt_version()))) {
        cJSON_Delete(j);
        j = NULL;
    }
    return cli_print_json(j);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */
/* ------------------------------------------------------------------ */

static int name_is(const cli_cmd *c, const char *word)
{
    if (strcmp(c->name, word) == 0)
        return 1;
    for (const char *const *al = c->aliases; al && *al; al++)
        if (strcmp(*al, word) == 0)
            return 1;
    return 0;
}

static const cli_cmd *lookup(const cli_cmd *group, const char *word)
{
    size_t ntab = group == &root
                      ? sizeof root_tables / sizeof root_tables[0] : 1;

    for (size_t t = 0; t < ntab; t++) {
        const cli_cmd *tab = group == &root ? root_tables[t] : group->sub;
        for (const cli_cmd *c = tab; c->name; c++)
            if (name_is(c, word))
                return c;
    }
    return NULL;
}

/* Applies global options at argv[*i...]; stops at the first other word.
 * Returns 0 or DTCTL_EXIT_USAGE. */
static int skip_globals(cli_ctx *cx, int argc, char **argv, int *i)
{
    while (*i < argc) {
        int g = cli_global_opt(cx, argc, argv, i);
        if (g < 0)
            return DTCTL_EXIT_USAGE;
        if (g == 0)
            return 0;
        (*i)++;
    }
    return 0;
}

static void path_append(cli_ctx *cx, const char *name)
{
    size_t n = strlen(cx->path);
    snprintf(cx->path + n, sizeof cx->path - n, "%s%s", n ? " " : "", name);
}

/* Walks the group words; leaves *i at the leaf's first argument.  Returns
 * the leaf, or NULL with *rc set (help printed: 0; usage error: 2). */
static const cli_cmd *walk_groups(cli_ctx *cx, int argc, char **argv, int *i,
                                  int *rc)
{
    const cli_cmd *cmd = &root;

    for (;;) {
        const cli_cmd *next;
        cx->cmd = cmd;
        if ((*rc = skip_globals(cx, argc, argv, i)) != 0)
            return NULL;
        if (!cmd->sub)
            return cmd;
        if (*i >= argc) {
            if (cx->help) {
                cli_print_help(cx->path, cmd);
                *rc = 0;
            } else {
                *rc = cli_usage_error(cx, "missing command");
            }
            return NULL;
        }
        if (argv[*i][0] == '-') {
            *rc = cli_usage_error(cx, "unknown flag: %s", argv[*i]);
            return NULL;
        }
        if (!(next = lookup(cmd, argv[*i]))) {
            *rc = cli_usage_error(cx, "unknown command '%s'", argv[*i]);
            return NULL;
        }
        path_append(cx, next->name);
        cmd = next;
        (*i)++;
    }
}

static int dispatch(cli_ctx *cx, int argc, char **argv)
{
    cli_args a;
    int i = 0;
    int rc = 0;
    const cli_cmd *cmd = walk_groups(cx, argc, argv, &i, &rc);

    if (!cmd)
        return rc;
    rc = cli_parse(cx, cmd, argc - i, argv + i, &a);
    if (rc == 0 && cx->help)
        cli_print_help(cx->path, cmd);
    else if (rc == 0)
        rc = cmd->run(cx, &a);
    cli_args_release(&a);
    return rc;
}

int main(int argc, char **argv)
{
    cli_ctx cx;
    dt_error err;
    int rc;

    memset(&cx, 0, sizeof cx);
    if (dt_global_init() != DT_OK) {
        memset(&err, 0, sizeof err);
        err.code = DT_ENOMEM;
        return cli_fail(&err);
    }
    rc = dispatch(&cx, argc - 1, argv + 1);
    dt_client_free(cx.client);
    dt_global_cleanup();
    return cli_finish(rc);
}
