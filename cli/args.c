/*
 * args.c - dtctl's option parser.
 *
 * GNU-style, like the cobra-based Daytona CLI whose habits dtctl keeps:
 * options may come before or after positional arguments, "--x=V" and
 * "--x V" are the same, short options take "-xV" or "-x V", a lone "-"
 * is a positional (stdin), and "--" ends option parsing (everything after
 * it is passed on untouched, e.g. the command of `dtctl exec ID -- ...`).
 * The global options (--help/-h, --format/-f, --api-url, --api-key) are
 * accepted anywhere, by every command.
 *
 * We do not use getopt_long: it prints its own messages, needs global
 * state reset between the command levels, and reorders argv.
 */
#include <stdlib.h>
#include <string.h>

#include "dtctl.h"

enum { G_HELP = -1, G_FORMAT = -2, G_API_URL = -3, G_API_KEY = -4 };

static const cli_opt global_opts[] = {
    {"help", 'h', 0, G_HELP},
    {"format", 'f', 1, G_FORMAT},
    {"api-url", 0, 1, G_API_URL},
    {"api-key", 0, 1, G_API_KEY},
    {NULL, 0, 0, 0},
};

/* Finds the option spelled by arg ("--name", "--name=v", "-x", "-xv") in
 * tab.  On a match *inl is the inline value ("v") or NULL. */
static const cli_opt *opt_find(const cli_opt *tab, const char *arg,
                               const char **inl)
{
    *inl = NULL;
    if (!tab)
        return NULL;
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        for (const cli_opt *o = tab; o->lng; o++) {
            if (strlen(o->lng) == n && strncmp(o->lng, name, n) == 0) {
                *inl = eq ? eq + 1 : NULL;
                return o;
            }
        }
        return NULL;
    }
    for (const cli_opt *o = tab; o->lng; o++) {
        if (o->shrt && o->shrt == arg[1]) {
            *inl = arg[2] ? arg + 2 : NULL;
            return o;
        }
    }
    return NULL;
}

/* Takes the option's value (inline or the next argument).  Returns 0, or
 * DTCTL_EXIT_USAGE (printed). */
static int opt_value(const cli_ctx *cx, const cli_opt *o, const char *arg,
                     const char *inl, int argc, char **argv, int *i,
                     const char **val)
{
    *val = NULL;
    if (!o->takes_arg) {
        if (inl)
            return cli_usage_error(cx, "flag %s takes no value", arg);
        return 0;
    }
    if (inl) {
        *val = inl;
        return 0;
    }
    if (*i + 1 >= argc)
        return cli_usage_error(cx, "flag %s needs a value", arg);
    *val = argv[++*i];
    return 0;
}

static int apply_global(cli_ctx *cx, int id, const char *val)
{
    switch (id) {
    case G_HELP:
        cx->help = 1;
        return 0;
    case G_FORMAT:
        if (strcmp(val, "json") == 0)
            cx->json = 1;
        else if (strcmp(val, "table") == 0 || strcmp(val, "text") == 0)
            cx->json = 0;
        else
            return cli_usage_error(cx, "unknown format '%s' (json or table)",
                                   val);
        return 0;
    case G_API_URL:
        cx->api_url = val;
        return 0;
    case G_API_KEY:
        cx->api_key = val;
        return 0;
    default:
        return 0;
    }
}

int cli_global_opt(cli_ctx *cx, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *inl = NULL;
    const char *val = NULL;
    const cli_opt *o;

    if (arg[0] != '-' || arg[1] == '\0' || strcmp(arg, "--") == 0)
        return 0;
    o = opt_find(global_opts, arg, &inl);
    if (!o)
        return 0;
    if (opt_value(cx, o, arg, inl, argc, argv, i, &val) != 0)
        return -1;
    return apply_global(cx, o->id, val) == 0 ? 1 : -1;
}

/* One argument that starts with '-': a command option (recorded) or a
 * global one (applied). */
static int parse_opt(cli_ctx *cx, const cli_cmd *cmd, int argc, char **argv,
                     int *i, cli_args *a)
{
    const char *arg = argv[*i];
    const char *inl = NULL;
    const char *val = NULL;
    const cli_opt *o = opt_find(cmd->opts, arg, &inl);

    if (!o) {
        int g = cli_global_opt(cx, argc, argv, i);
        if (g == 1)
            return 0;
        if (g < 0)
            return DTCTL_EXIT_USAGE;
        return cli_usage_error(cx, "unknown flag: %s", arg);
    }
    if (opt_value(cx, o, arg, inl, argc, argv, i, &val) != 0)
        return DTCTL_EXIT_USAGE;
    a->hits[a->n_hits].id = o->id;
    a->hits[a->n_hits].val = val;
    a->n_hits++;
    return 0;
}

static int check_positionals(const cli_ctx *cx, const cli_cmd *cmd,
                             const cli_args *a)
{
    if ((int)a->n_pos < cmd->min_pos)
        return cli_usage_error(cx, "missing argument%s (expected %s)",
                               cmd->min_pos - (int)a->n_pos > 1 ? "s" : "",
                               cmd->synopsis);
    if (cmd->max_pos >= 0 && (int)a->n_pos > cmd->max_pos)
        return cli_usage_error(cx, "unexpected argument: %s",
                               a->pos[cmd->max_pos]);
    return 0;
}

int cli_parse(cli_ctx *cx, const cli_cmd *cmd, int argc, char **argv,
              cli_args *a)
{
    memset(a, 0, sizeof(*a));
    /* At most one hit or positional per argument: argc bounds both. */
    a->hits = calloc((size_t)argc + 1, sizeof(*a->hits));
    a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
    if (!a->hits || !a->pos)
        return cli_failf("out of memory");
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0) {
            a->dashdash = 1;
            a->rest = argv + i + 1;
            a->n_rest = (size_t)(argc - i - 1);
            break;
        }
        if (s[0] == '-' && s[1] != '\0') {
            int rc = parse_opt(cx, cmd, argc, argv, &i, a);
            if (rc != 0)
                return rc;
            continue;
        }
        a->pos[a->n_pos++] = s;
    }
    if (cx->help)
        return 0;
    return check_positionals(cx, cmd, a);
}

void cli_args_release(cli_args *a)
{
    free(a->hits);
    free(a->pos);
    memset(a, 0, sizeof(*a));
}
