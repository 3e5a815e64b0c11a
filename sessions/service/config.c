/*
 * config.c - daytona-sessions' configuration: defaults, then the
 * DAYTONA_SESSIONS_* environment, then the command line (flags win).
 *
 * Every option is one row of a table naming its flag and its environment
 * variable, and one setter validates a value from either source, so the two
 * can never drift apart.  List-valued options (--languages, --label) are
 * replaced, not extended, by the command line: a flag given once means
 * "exactly these".  The Daytona the service talks to is not configured
 * here: libdaytona reads DAYTONA_API_URL, DAYTONA_API_KEY, DAYTONA_TARGET,
 * DAYTONA_JWT_TOKEN and DAYTONA_ORGANIZATION_ID itself, as the SDKs do.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"

enum {
    O_PORT = 1000, O_PORT_FILE, O_HOST, O_DB, O_REAP_INTERVAL, O_REAP_GRACE,
    O_LANGUAGES, O_AUTO_STOP, O_AUTO_ARCHIVE, O_AUTO_DELETE, O_CPU, O_MEMORY,
    O_DISK, O_LABEL, O_SNAPSHOT, O_IMAGE, O_APP, O_SANDBOX_TIMEOUT, O_TS_RUNNER,
    O_LOG_LEVEL, O_FORMAT, O_CORS, O_USER, O_ACTIVE, O_LIMIT, O_HELP, O_VERSION
};

typedef struct {
    int id;
    const char *flag;       /* without the dashes */
    int has_arg;
    const char *env;        /* NULL: no environment variable */
} opt_row;

static const opt_row OPTS[] = {
    {O_PORT, "port", 1, "DAYTONA_SESSIONS_PORT"},
    {O_PORT_FILE, "port-file", 1, "DAYTONA_SESSIONS_PORT_FILE"},
    {O_HOST, "host", 1, "DAYTONA_SESSIONS_HOST"},
    {O_DB, "db", 1, "DAYTONA_SESSIONS_DB"},
    {O_REAP_INTERVAL, "reap-interval", 1, "DAYTONA_SESSIONS_REAP_INTERVAL"},
    {O_REAP_GRACE, "reap-grace", 1, "DAYTONA_SESSIONS_REAP_GRACE"},
    {O_LANGUAGES, "languages", 1, "DAYTONA_SESSIONS_LANGUAGES"},
    {O_AUTO_STOP, "auto-stop", 1, "DAYTONA_SESSIONS_AUTO_STOP"},
    {O_AUTO_ARCHIVE, "auto-archive", 1, "DAYTONA_SESSIONS_AUTO_ARCHIVE"},
    {O_AUTO_DELETE, "auto-delete", 1, "DAYTONA_SESSIONS_AUTO_DELETE"},
    {O_CPU, "cpu", 1, "DAYTONA_SESSIONS_CPU"},
    {O_MEMORY, "memory", 1, "DAYTONA_SESSIONS_MEMORY"},
    {O_DISK, "disk", 1, "DAYTONA_SESSIONS_DISK"},
    {O_LABEL, "label", 1, "DAYTONA_SESSIONS_LABELS"},
    {O_SNAPSHOT, "snapshot", 1, "DAYTONA_SESSIONS_SNAPSHOT"},
    {O_IMAGE, "image", 1, "DAYTONA_SESSIONS_IMAGE"},
    {O_APP, "app", 1, "DAYTONA_SESSIONS_APP"},
    {O_SANDBOX_TIMEOUT, "sandbox-timeout", 1, "DAYTONA_SESSIONS_SANDBOX_TIMEOUT"},
    {O_TS_RUNNER, "ts-runner", 1, "DAYTONA_SESSIONS_TS_RUNNER"},
    {O_LOG_LEVEL, "log-level", 1, "DAYTONA_SESSIONS_LOG_LEVEL"},
    {O_FORMAT, "format", 1, "DAYTONA_SESSIONS_FORMAT"},
    {O_CORS, "cors-origin", 1, "DAYTONA_SESSIONS_CORS_ORIGIN"},
    {O_USER, "user", 1, NULL},
    {O_ACTIVE, "active", 0, NULL},
    {O_LIMIT, "limit", 1, NULL},
    {O_HELP, "help", 0, NULL},
    {O_VERSION, "version", 0, NULL},
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

void svc_usage(FILE *f)
{
    fputs(
"Usage: daytona-sessions COMMAND [OPTIONS]\n"
"One Daytona sandbox session per user, served over HTTP (see docs/SESSIONS.md).\n"
"\n"
"Commands:\n"
"  serve                  run the HTTP service\n"
"  token create USER      make a bearer token for USER (printed once)\n"
"  token revoke TOKEN     revoke a token (or its hash)\n"
"  token list [USER]      list tokens (hashes only)\n"
"  sessions list          list sessions [--user U] [--active] [--limit N]\n"
"  reap                   delete orphaned sandboxes and close sessions whose\n"
"                         sandbox is gone, now, and print what was done\n"
"\n"
"Options (each also an environment variable):\n"
"  --db PATH              the SQLite database (default ./daytona-sessions.db)\n"
"                         [DAYTONA_SESSIONS_DB]\n"
"  --format text|json     output of the operator commands [..._FORMAT]\n"
"  --port N               TCP port, 0 = any free port (default 3988) [..._PORT]\n"
"  --port-file FILE       write the bound port to FILE once connections are\n"
"                         accepted [..._PORT_FILE]\n"
"  --host ADDR            bind address (default 127.0.0.1) [..._HOST]\n"
"  --cors-origin ORIGIN   let pages from ORIGIN call the API from a browser\n"
"                         (CORS headers, preflight) [..._CORS_ORIGIN]\n"
"  --reap-interval S      background reap every S seconds, 0 = off\n"
"                         (default 60) [..._REAP_INTERVAL]\n"
"  --reap-grace S         leave unrecorded sandboxes younger than S seconds\n"
"                         alone (default 600; 0 = no age check)\n"
"                         [..._REAP_GRACE]\n"
"  --languages LIST       supported languages, comma-separated (default\n"
"                         python,typescript,javascript) [..._LANGUAGES]\n"
"  --auto-stop MIN        sandbox auto-stop interval, 0 = never [..._AUTO_STOP]\n"
"  --auto-archive MIN     sandbox auto-archive interval [..._AUTO_ARCHIVE]\n"
"  --auto-delete MIN      sandbox auto-delete interval [..._AUTO_DELETE]\n"
"  --cpu N --memory G --disk G   sandbox resources; need --image\n"
"                         [..._CPU, _MEMORY, _DISK]\n"
"  --label K=V            extra sandbox label, repeatable [..._LABELS=K=V,...]\n"
"  --snapshot NAME        sandbox snapshot [..._SNAPSHOT]\n"
"  --image IMAGE          build sandboxes from this base image instead of a\n"
"                         snapshot (e.g. python:3.12) [..._IMAGE]\n"
"  --app NAME             this deployment's name on its sandboxes' labels\n"
"                         (default daytona-sessions) [..._APP]\n"
"  --sandbox-timeout S    wait for sandbox create/start (default 60)\n"
"                         [..._SANDBOX_TIMEOUT]\n"
"  --ts-runner CMD        ts-node command for streamed TypeScript runs\n"
"                         (default: ts-node on the sandbox's PATH, else\n"
"                         npx ts-node)\n"
"                         [..._TS_RUNNER]\n"
"  --log-level LEVEL      error, warn, info or debug (default info)\n"
"                         [..._LOG_LEVEL]\n"
"  --help, --version\n"
"\n"
"Daytona: DAYTONA_API_URL, DAYTONA_API_KEY, DAYTONA_TARGET (or\n"
"DAYTONA_JWT_TOKEN + DAYTONA_ORGANIZATION_ID), as the official SDKs read them.\n",
          f);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Keeps a copy the config points into, released with the config. */
static char *own(svc_config *cfg, const char *s)
{
    if (cfg->n_owned >= (int)(sizeof cfg->owned / sizeof cfg->owned[0]))
        return NULL;
    char *c = strdup(s);
    if (c)
        cfg->owned[cfg->n_owned++] = c;
    return c;
}

static int set_languages(svc_config *cfg, const char *v)
{
    char *copy = own(cfg, v), *save = NULL;
    if (!copy)
        return -1;
    cfg->n_languages = 0;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (cfg->n_languages >= SVC_MAX_LANGUAGES)
            return -1;
        cfg->languages[cfg->n_languages++] = t;
    }
    return cfg->n_languages ? 0 : -1;
}

static int add_label(svc_config *cfg, char *kv)
{
    char *eq = strchr(kv, '=');
    if (!eq || eq == kv || cfg->n_labels >= SVC_MAX_LABELS)
        return -1;
    *eq = '\0';
    cfg->labels[cfg->n_labels].key = kv;
    cfg->labels[cfg->n_labels].value = eq + 1;
    cfg->n_labels++;
    return 0;
}

/* --label adds one; the variable holds a comma-separated list. */
static int set_labels(svc_config *cfg, const char *v, int from_env)
{
    char *copy = own(cfg, v), *save = NULL;
    if (!copy)
        return -1;
    if (!from_env)
        return add_label(cfg, copy);
    cfg->n_labels = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (add_label(cfg, t) != 0)
            return -1;
    return 0;
}

static int set_level(svc_config *cfg, const char *v)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            cfg->log_level = i;
            return 0;
        }
    return -1;
}

/* The numeric options: where each lands and its range. */
static int set_number(svc_config *cfg, int id, const char *v)
{
    static const struct { int id; long lo, hi; } R[] = {
        {O_PORT, 0, 65535}, {O_REAP_INTERVAL, 0, 7 * 86400},
        {O_REAP_GRACE, 0, 30 * 86400}, {O_AUTO_STOP, 0, INT_MAX},
        {O_AUTO_ARCHIVE, 0, INT_MAX}, {O_AUTO_DELETE, -1, INT_MAX},
        {O_CPU, 1, 1024}, {O_MEMORY, 1, 1024}, {O_DISK, 1, 100000},
        {O_SANDBOX_TIMEOUT, 1, 86400}, {O_LIMIT, 0, 1000000},
    };
    long n = 0;
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        if (R[i].id != id)
            continue;
        if (parse_long(v, R[i].lo, R[i].hi, &n) != 0)
            return -1;
        switch (id) {
        case O_PORT: cfg->port = (unsigned)n; break;
        case O_REAP_INTERVAL: cfg->reap_interval_s = n; break;
        case O_REAP_GRACE: cfg->reap_grace_s = n; break;
        case O_AUTO_STOP: cfg->auto_stop = (int)n; break;
        case O_AUTO_ARCHIVE: cfg->auto_archive = (int)n; break;
        case O_AUTO_DELETE: cfg->auto_delete = (int)n; break;
        case O_CPU: cfg->cpu = (int)n; break;
        case O_MEMORY: cfg->memory = (int)n; break;
        case O_DISK: cfg->disk = (int)n; break;
        case O_SANDBOX_TIMEOUT: cfg->sandbox_timeout_s = n; break;
        default: cfg->limit = n; break;
        }
        return 0;
    }
    return -1;
}

/* One option from a flag or its variable; -1 when the value is invalid. */
static int set_opt(svc_config *cfg, int id, const char *v, int from_env)
{
    switch (id) {
    case O_PORT_FILE: cfg->port_file = v; return 0;
    case O_HOST: cfg->host = v; return *v ? 0 : -1;
    case O_CORS: cfg->cors_origin = *v ? v : NULL; return 0;
    case O_DB: cfg->db_path = v; return *v ? 0 : -1;
    case O_SNAPSHOT: cfg->snapshot = v; return 0;
    case O_IMAGE: cfg->image = v; return 0;
    case O_APP: cfg->app = v; return *v ? 0 : -1;
    case O_TS_RUNNER: cfg->ts_runner = v; return 0;
    case O_USER: cfg->user = v; return *v ? 0 : -1;
    case O_ACTIVE: cfg->active_only = 1; return 0;
    case O_LANGUAGES: return set_languages(cfg, v);
    case O_LABEL: return set_labels(cfg, v, from_env);
    case O_LOG_LEVEL: return set_level(cfg, v);
    case O_FORMAT:
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
            return -1;
        cfg->json = strcmp(v, "json") == 0;
        return 0;
    default: return set_number(cfg, id, v);
    }
}

static void defaults(svc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = SVC_DEFAULT_PORT;
    cfg->db_path = SVC_DEFAULT_DB;
    cfg->reap_interval_s = 60;
    cfg->reap_grace_s = -1;
    cfg->log_level = SVC_LOG_INFO;
    cfg->auto_stop = cfg->auto_archive = cfg->auto_delete = -1;
    cfg->cpu = cfg->memory = cfg->disk = -1;
}

static int from_env(svc_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = OPTS[i].env ? getenv(OPTS[i].env) : NULL;
        if (!v || !*v)
            continue;
        if (set_opt(cfg, OPTS[i].id, v, 1) != 0) {
            fprintf(stderr, SVC_NAME ": invalid %s: '%s'\n", OPTS[i].env, v);
            return -1;
        }
    }
    return 0;
}

static int from_argv(svc_config *cfg, int argc, char **argv)
{
    struct option lo[NOPTS + 1];
    int labels_from_flags = 0, c;
    for (size_t i = 0; i < NOPTS; i++)
        lo[i] = (struct option){OPTS[i].flag, OPTS[i].has_arg ? required_argument
                                                                : no_argument,
                                NULL, OPTS[i].id};
    lo[NOPTS] = (struct option){NULL, 0, NULL, 0};
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h' || c == O_HELP) {
            svc_usage(stdout);
            return 1;
        }
        if (c == O_VERSION) {
            printf(SVC_NAME " %s (libdaytona %s)\n", SVC_VERSION, dt_version());
            return 1;
        }
        if (c == '?' || c == ':')
            return -1;          /* getopt printed why */
        if (c == O_LABEL && !labels_from_flags) {
            cfg->n_labels = 0;  /* flags replace the variable's labels */
            labels_from_flags = 1;
        }
        if (set_opt(cfg, c, optarg ? optarg : "", 0) != 0) {
            for (size_t i = 0; i < NOPTS; i++)
                if (OPTS[i].id == c)
                    fprintf(stderr, SVC_NAME ": invalid --%s: '%s'\n",
                            OPTS[i].flag, optarg ? optarg : "");
            return -1;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (cfg->n_words >= (int)(sizeof cfg->words / sizeof cfg->words[0])) {
            fprintf(stderr, SVC_NAME ": too many arguments\n");
            return -1;
        }
        cfg->words[cfg->n_words++] = argv[i];
    }
    return 0;
}

int svc_config_load(svc_config *cfg, int argc, char **argv)
{
    defaults(cfg);
    if (from_env(cfg) != 0)
        return -1;
    int r = from_argv(cfg, argc, argv);
    if (r != 0)
        return r;
    if (cfg->n_words == 0) {
        svc_usage(stderr);
        return -1;
    }
    return 0;
}

void svc_config_release(svc_config *cfg)
{
    for (int i = 0; i < cfg->n_owned; i++)
        free(cfg->owned[i]);
    cfg->n_owned = 0;
}

void svc_sess_config(const svc_config *cfg, sess_config *out)
{
    sess_config_init(out);
    out->app = cfg->app;
    if (cfg->n_languages) {
        out->languages = cfg->languages;
        out->n_languages = cfg->n_languages;
    }
    out->snapshot = cfg->snapshot && *cfg->snapshot ? cfg->snapshot : NULL;
    out->image = cfg->image && *cfg->image ? cfg->image : NULL;
    out->auto_stop_minutes = cfg->auto_stop;
    out->auto_archive_minutes = cfg->auto_archive;
    out->auto_delete_minutes = cfg->auto_delete;
    out->cpu = cfg->cpu;
    out->memory = cfg->memory;
    out->disk = cfg->disk;
    out->labels = cfg->n_labels ? cfg->labels : NULL;
    out->n_labels = cfg->n_labels;
    out->reap_grace_ms = cfg->reap_grace_s < 0 ? -1 : cfg->reap_grace_s * 1000;
    out->sandbox_timeout_ms = cfg->sandbox_timeout_s * 1000;
    out->typescript_runner = cfg->ts_runner && *cfg->ts_runner ? cfg->ts_runner
                                                                : NULL;
}
