/*
 * main.c - daytona-emu: command line and environment, start-up, and a clean
 * shutdown on SIGTERM/SIGINT.
 *
 * Start-up order matters: signals are blocked before any thread exists so
 * only the main thread (sigwait) receives them; the store is opened before
 * the HTTP daemon; the port file is written only after the daemon accepts
 * connections, so a harness that sees the file can connect at once.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "events.h"
#include "exec_cmd.h"
#include "executor.h"
#include "faults.h"
#include "fsutil.h"
#include "handlers.h"
#include "journal.h"
#include "record.h"
#include "rnd.h"
#include "scheduler.h"
#include "store.h"
#include "tb_interp.h"
#include "tb_pty.h"
#include "tb_sessions.h"
#include "timeutil.h"
#include "transitions.h"
#include "version.h"

static void usage(FILE *f)
{
    fputs(
"Usage: daytona-emu [OPTIONS]\n"
"       daytona-emu exec [OPTIONS] -- CMD [ARGS]  (see daytona-emu exec --help)\n"
"A local emulator of Daytona's REST API (control plane under /api).\n"
"\n"
"  --port N               TCP port, 0 = any free port (default 3986)\n"
"                         [DAYTONA_EMU_PORT]\n"
"  --port-file FILE       write the bound port to FILE once connections are\n"
"                         accepted [DAYTONA_EMU_PORT_FILE]\n"
"  --host ADDR            bind address (default 127.0.0.1) [DAYTONA_EMU_HOST]\n"
"  --data-dir DIR         where state lives (default\n"
"                         $XDG_DATA_HOME/daytona-emu or\n"
"                         ~/.local/share/daytona-emu); \":memory:\" keeps\n"
"                         nothing on disk [DAYTONA_EMU_DATA_DIR]\n"
"  --in-memory            same as --data-dir :memory:\n"
"  --api-key KEY          accept KEY; repeatable, each key is its own\n"
"                         organization. Without any, every non-empty key is\n"
"                         accepted [DAYTONA_EMU_API_KEYS, comma-separated]\n"
"  --log-level LEVEL      error, warn, info or debug (default info)\n"
"                         [DAYTONA_EMU_LOG_LEVEL]\n"
"  --default-snapshot N   snapshot used when create names none\n"
"                         (default daytonaio/sandbox:0.5.0-slim)\n"
"                         [DAYTONA_EMU_DEFAULT_SNAPSHOT]\n"
"  --target REGION        region reported when create names none (default us)\n"
"                         [DAYTONA_EMU_TARGET]\n"
"  --preview-mode MODE    path (http://HOST:PORT/preview/<port>-<id>) or host\n"
"                         (http://<port>-<id>.preview.localhost:PORT)\n"
"                         [DAYTONA_EMU_PREVIEW_MODE]\n"
"  --scheduler-interval-ms N  how often auto-stop/archive/delete run\n"
"                         (default 1000) [DAYTONA_EMU_SCHEDULER_INTERVAL_MS]\n"
"  --isolation LEVEL      auto, process, namespaced or cgroups (default auto:\n"
"                         the strongest the host allows) [DAYTONA_EMU_ISOLATION]\n"
"  --sandbox-network MODE  auto (default: per-sandbox where the host can\n"
"                         make network namespaces, else host), per-sandbox\n"
"                         (with namespaces, each sandbox has its own\n"
"                         loopback and ports, and no other network) or host\n"
"                         (sandboxes share the host's network: outbound\n"
"                         access, but one port space)\n"
"                         [DAYTONA_EMU_SANDBOX_NETWORK]\n"
"  --max-cpu-seconds N    CPU time per command (default 600)\n"
"                         [DAYTONA_EMU_MAX_CPU_SECONDS]\n"
"  --max-processes N      processes per sandbox (default 256)\n"
"                         [DAYTONA_EMU_MAX_PROCESSES]\n"
"  --max-output BYTES     output kept per command (default 10485760)\n"
"                         [DAYTONA_EMU_MAX_OUTPUT]\n"
"  --ts-node PATH         ts-node used for TypeScript code-run\n"
"                         [DAYTONA_EMU_TS_NODE]\n"
"  --upstream URL --record DIR\n"
"                         record mode: forward every request (but\n"
"                         /_emulator/) to the Daytona at URL (its base,\n"
"                         e.g. https://app.daytona.io) and store each\n"
"                         exchange, normalized and without secrets, as a\n"
"                         JSON fixture in DIR (see docs/CONTRACT.md)\n"
"  --help, --version\n"
"\n"
"Admin API: http://HOST:PORT/_emulator/ (health, info, reset, clock,\n"
"transitions, faults, journal). See docs/EMULATOR.md.\n", f);
}

enum { OPT_PORT = 1000, OPT_PORT_FILE, OPT_HOST, OPT_DATA_DIR, OPT_IN_MEMORY,
       OPT_API_KEY, OPT_LOG_LEVEL, OPT_SNAPSHOT, OPT_TARGET, OPT_PREVIEW,
       OPT_SCHED, OPT_HELP, OPT_VERSION, OPT_ISOLATION, OPT_SB_NET, OPT_MAX_CPU,
       OPT_MAX_PROCS, OPT_MAX_OUTPUT, OPT_TS_NODE, OPT_UPSTREAM, OPT_RECORD };

/* Record mode (record.h): both set, or neither. */
static const char *g_upstream, *g_record_dir;

static int parse_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !*s || *end || v > max || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Keys from the environment are split into a buffer that lives as long as
 * the process (the config points into it). */
static char *env_keys_copy;

static int add_keys_from_env(emu_config *cfg)
{
    const char *v = getenv("DAYTONA_EMU_API_KEYS");
    if (!v || !*v)
        return 0;
    env_keys_copy = strdup(v);
    if (!env_keys_copy)
        return -1;
    char *save = NULL;
    for (char *k = strtok_r(env_keys_copy, ",", &save); k;
         k = strtok_r(NULL, ",", &save)) {
        while (*k == ' ')
            k++;
        if (!*k)
            continue;
        if (cfg->napi_keys >= EMU_MAX_KEYS)
            return -1;
        cfg->api_keys[cfg->napi_keys++] = k;
    }
    return 0;
}

static int set_isolation(emu_config *cfg, const char *v);
static int set_sandbox_network(emu_config *cfg, const char *v);
static int set_limit(emu_config *cfg, int opt, const char *v);

static int config_from_env(emu_config *cfg)
{
    const char *v;
    if ((v = getenv("DAYTONA_EMU_PORT")) && parse_uint(v, 65535, &cfg->port)) {
        fprintf(stderr, "daytona-emu: DAYTONA_EMU_PORT must be 0..65535\n");
        return -1;
    }
    if ((v = getenv("DAYTONA_EMU_PORT_FILE")) && *v) cfg->port_file = v;
    if ((v = getenv("DAYTONA_EMU_HOST")) && *v) cfg->host = v;
    if ((v = getenv("DAYTONA_EMU_DATA_DIR")) && *v) cfg->data_dir = v;
    if ((v = getenv("DAYTONA_EMU_DEFAULT_SNAPSHOT")) && *v) cfg->default_snapshot = v;
    if ((v = getenv("DAYTONA_EMU_TARGET")) && *v) cfg->default_target = v;
    if ((v = getenv("DAYTONA_EMU_PREVIEW_MODE")) && *v) cfg->preview_mode = v;
    if ((v = getenv("DAYTONA_EMU_LOG_LEVEL")) && *v) {
        cfg->log_level = parse_level(v);
        if (cfg->log_level < 0) {
            fprintf(stderr, "daytona-emu: DAYTONA_EMU_LOG_LEVEL must be error, "
                            "warn, info or debug\n");
            return -1;
        }
    }
    unsigned iv;
    if ((v = getenv("DAYTONA_EMU_SCHEDULER_INTERVAL_MS")) && *v) {
        if (parse_uint(v, 3600000, &iv) || iv == 0) {
            fprintf(stderr, "daytona-emu: DAYTONA_EMU_SCHEDULER_INTERVAL_MS "
                            "must be 1..3600000\n");
            return -1;
        }
        cfg->scheduler_interval_ms = (int)iv;
    }
    if ((v = getenv("DAYTONA_EMU_ISOLATION")) && *v && set_isolation(cfg, v) != 0)
        return -1;
    if ((v = getenv("DAYTONA_EMU_SANDBOX_NETWORK")) && *v && set_sandbox_network(cfg, v) != 0)
        return -1;
    if ((v = getenv("DAYTONA_EMU_MAX_CPU_SECONDS")) && *v && set_limit(cfg, OPT_MAX_CPU, v))
        return -1;
    if ((v = getenv("DAYTONA_EMU_MAX_PROCESSES")) && *v && set_limit(cfg, OPT_MAX_PROCS, v))
        return -1;
    if ((v = getenv("DAYTONA_EMU_MAX_OUTPUT")) && *v && set_limit(cfg, OPT_MAX_OUTPUT, v))
        return -1;
    if ((v = getenv("DAYTONA_EMU_TS_NODE")) && *v)
        cfg->ts_node = v;
    if (add_keys_from_env(cfg) != 0) {
        fprintf(stderr, "daytona-emu: too many keys in DAYTONA_EMU_API_KEYS\n");
        return -1;
    }
    return 0;
}

static int set_isolation(emu_config *cfg, const char *v)
{
    cfg->isolation = executor_level_parse(v);
    if (cfg->isolation < 0) {
        fprintf(stderr, "daytona-emu: --isolation must be auto, process, "
                        "namespaced or cgroups\n");
        return -1;
    }
    return 0;
}

static int set_sandbox_network(emu_config *cfg, const char *v)
{
    cfg->sandbox_network = executor_net_parse(v);
    if (cfg->sandbox_network < 0) {
        fprintf(stderr, "daytona-emu: --sandbox-network must be auto, "
                        "per-sandbox or host\n");
        return -1;
    }
    return 0;
}

/* The numeric limits, from a flag or its environment variable. */
static int set_limit(emu_config *cfg, int opt, const char *v)
{
    unsigned u;
    static const struct { int opt; const char *name; unsigned lo, hi; } lim[] = {
        {OPT_MAX_CPU, "--max-cpu-seconds", 1, 86400 * 365},
        {OPT_MAX_PROCS, "--max-processes", 8, 1000000},
        {OPT_MAX_OUTPUT, "--max-output", 1024, 1024u * 1024u * 1024u},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        if (lim[i].opt != opt)
            continue;
        if (parse_uint(v, lim[i].hi, &u) != 0 || u < lim[i].lo) {
            fprintf(stderr, "daytona-emu: %s must be %u..%u\n", lim[i].name,
                    lim[i].lo, lim[i].hi);
            return -1;
        }
        if (opt == OPT_MAX_CPU) cfg->max_cpu_seconds = u;
        else if (opt == OPT_MAX_PROCS) cfg->max_processes = u;
        else cfg->max_output = u;
    }
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 to exit 2. */
static int parse_args(int argc, char **argv, emu_config *cfg)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"host", required_argument, NULL, OPT_HOST},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"in-memory", no_argument, NULL, OPT_IN_MEMORY},
        {"api-key", required_argument, NULL, OPT_API_KEY},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"default-snapshot", required_argument, NULL, OPT_SNAPSHOT},
        {"target", required_argument, NULL, OPT_TARGET},
        {"preview-mode", required_argument, NULL, OPT_PREVIEW},
        {"scheduler-interval-ms", required_argument, NULL, OPT_SCHED},
        {"isolation", required_argument, NULL, OPT_ISOLATION},
        {"sandbox-network", required_argument, NULL, OPT_SB_NET},
        {"max-cpu-seconds", required_argument, NULL, OPT_MAX_CPU},
        {"max-processes", required_argument, NULL, OPT_MAX_PROCS},
        {"max-output", required_argument, NULL, OPT_MAX_OUTPUT},
        {"ts-node", required_argument, NULL, OPT_TS_NODE},
        {"upstream", required_argument, NULL, OPT_UPSTREAM},
        {"record", required_argument, NULL, OPT_RECORD},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int keys_from_flags = 0, c;
    unsigned v;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_PORT:
            if (parse_uint(optarg, 65535, &cfg->port)) {
                fprintf(stderr, "daytona-emu: --port must be 0..65535\n");
                return -1;
            }
            break;
        case OPT_PORT_FILE: cfg->port_file = optarg; break;
        case OPT_HOST: cfg->host = optarg; break;
        case OPT_DATA_DIR: cfg->data_dir = optarg; break;
        case OPT_IN_MEMORY: cfg->data_dir = ":memory:"; break;
        case OPT_API_KEY:
            /* Flags replace keys from the environment rather than adding. */
            if (!keys_from_flags) {
                cfg->napi_keys = 0;
                keys_from_flags = 1;
            }
            if (!*optarg || cfg->napi_keys >= EMU_MAX_KEYS) {
                fprintf(stderr, "daytona-emu: --api-key must be non-empty "
                                "(at most %d keys)\n", EMU_MAX_KEYS);
                return -1;
            }
            cfg->api_keys[cfg->napi_keys++] = optarg;
            break;
        case OPT_LOG_LEVEL:
            cfg->log_level = parse_level(optarg);
            if (cfg->log_level < 0) {
                fprintf(stderr, "daytona-emu: --log-level must be error, warn, "
                                "info or debug\n");
                return -1;
            }
            break;
        case OPT_SNAPSHOT: cfg->default_snapshot = optarg; break;
        case OPT_TARGET: cfg->default_target = optarg; break;
        case OPT_PREVIEW: cfg->preview_mode = optarg; break;
        case OPT_SCHED:
            if (parse_uint(optarg, 3600000, &v) || v == 0) {
                fprintf(stderr, "daytona-emu: --scheduler-interval-ms must be "
                                "1..3600000\n");
                return -1;
            }
            cfg->scheduler_interval_ms = (int)v;
            break;
        case OPT_ISOLATION:
            if (set_isolation(cfg, optarg) != 0)
                return -1;
            break;
        case OPT_SB_NET:
            if (set_sandbox_network(cfg, optarg) != 0)
                return -1;
            break;
        case OPT_MAX_CPU:
        case OPT_MAX_PROCS:
        case OPT_MAX_OUTPUT:
            if (set_limit(cfg, c, optarg) != 0)
                return -1;
            break;
        case OPT_TS_NODE: cfg->ts_node = optarg; break;
        case OPT_UPSTREAM: g_upstream = optarg; break;
        case OPT_RECORD: g_record_dir = optarg; break;
        case 'h':
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION: printf("daytona-emu %s (Daytona API 0.190.0)\n", EMU_VERSION); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "daytona-emu: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!g_upstream != !g_record_dir) {
        fprintf(stderr, "daytona-emu: --upstream and --record go together\n");
        return -1;
    }
    if (strcmp(cfg->preview_mode, "path") != 0 &&
        strcmp(cfg->preview_mode, "host") != 0) {
        fprintf(stderr, "daytona-emu: --preview-mode must be path or host\n");
        return -1;
    }
    return 0;
}

static char default_dir[PATH_MAX];

static const char *default_data_dir(void)
{
    const char *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
    if (x && *x)
        snprintf(default_dir, sizeof default_dir, "%s/daytona-emu", x);
    else
        snprintf(default_dir, sizeof default_dir, "%s/.local/share/daytona-emu",
                 (h && *h) ? h : ".");
    return default_dir;
}

/* Writes the port atomically (temp file + rename) so a reader never sees a
 * half-written number. */
static int write_port_file(const char *path, unsigned port)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%u\n", port) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The snapshot every organization can use (Daytona's "general" one). */
static int seed_default_snapshot(emu_app *app)
{
    emu_snapshot s;
    if (store_snapshot_get(app->store, "", app->cfg.default_snapshot, &s) == EMU_OK) {
        snapshot_release(&s);
        return 0;
    }
    memset(&s, 0, sizeof s);
    if (rnd_uuid(s.id) != 0)
        return -1;
    snprintf(s.name, sizeof s.name, "%s", app->cfg.default_snapshot);
    snprintf(s.image_name, sizeof s.image_name, "%s", app->cfg.default_snapshot);
    snprintf(s.state, sizeof s.state, "active");
    s.cpu = 1;
    s.mem = 1;
    s.disk = 3;
    s.created_at = s.updated_at = time_now_ms();
    emu_code rc = store_snapshot_insert(app->store, &s);
    return (rc == EMU_OK || rc == EMU_ECONFLICT) ? 0 : -1;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* The launcher sits next to this binary. */
static int launcher_path(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0)
        return -1;
    exe[l] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return snprintf(out, n, "%s/daytona-emu-sandbox", exe) >= (int)n ? -1 : 0;
}

/* Sandbox file trees live in DATA_DIR/sandboxes, or for an in-memory
 * emulator in a private temporary directory removed at exit. */
static int start_executor(emu_app *app, char *tmpdir, size_t tn, char *err,
                          size_t errlen)
{
    char launcher[PATH_MAX], sbdir[PATH_MAX];
    if (launcher_path(launcher, sizeof launcher) != 0) {
        snprintf(err, errlen, "cannot locate daytona-emu-sandbox");
        return -1;
    }
    if (app->in_memory) {
        snprintf(tmpdir, tn, "/tmp/daytona-emu-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            snprintf(err, errlen, "cannot create a temporary directory: %s",
                     strerror(errno));
            tmpdir[0] = '\0';
            return -1;
        }
        chmod(tmpdir, 0711);   /* sandbox uids must traverse it */
        snprintf(sbdir, sizeof sbdir, "%s/sandboxes", tmpdir);
    } else {
        snprintf(sbdir, sizeof sbdir, "%s/sandboxes", app->cfg.data_dir);
    }
    exec_config ec = {(iso_level)app->cfg.isolation, launcher, sbdir,
                      app->cfg.ts_node, app->cfg.max_cpu_seconds, 1024,
                      app->cfg.max_processes, (size_t)app->cfg.max_output,
                      (net_mode)app->cfg.sandbox_network};
    app->executor = executor_new(&ec, err, errlen);
    return app->executor ? 0 : -1;
}

/* Record mode: the forwarder instead of the emulator's own routes. */
static int start_record(const emu_app *app, emu_route **routes, size_t *n,
                        char *err, size_t errlen)
{
    if (record_init(g_upstream, g_record_dir, err, errlen) != 0)
        return -1;
    *routes = record_routes(emu_routes, emu_nroutes, n);
    if (!*routes) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    emu_log(app, EMU_LOG_INFO, "record mode: forwarding to %s, recording into %s",
            g_upstream, g_record_dir);
    return 0;
}

static void app_teardown(emu_app *app)
{
    /* Reverse order of start-up; events first so upgraded sockets close
     * before the HTTP daemon waits for them. */
    scheduler_stop(app->scheduler);
    executor_shutdown(app->executor);   /* running commands end now */
    sessions_free(app->sessions, app->executor);
    app->sessions = NULL;
    ptys_free(app->ptys, app->executor);
    app->ptys = NULL;
    interps_free(app->interps, app->executor);
    app->interps = NULL;
    events_close(app->events);          /* open channels end; late upgrades
                                           find the hub closing */
    emu_http_stop(app->http);           /* joins every upgrade thread */
    events_free(app->events);
    app->events = NULL;
    transitions_free(app->transitions);
    faults_free(app->faults);
    journal_free(app->journal);
    clock_free(app->clock);
    store_close(app->store);
    executor_free(app->executor);   /* kills every sandbox process */
}

int main(int argc, char **argv)
{
    /* "daytona-emu exec -- CMD": a throwaway emulator around a command. */
    if (argc > 1 && strcmp(argv[1], "exec") == 0)
        return emu_exec_main(argc - 1, argv + 1);
    emu_app app;
    memset(&app, 0, sizeof app);
    app.cfg.host = "127.0.0.1";
    app.cfg.port = 3986;
    app.cfg.log_level = EMU_LOG_INFO;
    app.cfg.default_snapshot = "daytonaio/sandbox:0.5.0-slim";
    app.cfg.default_target = "us";
    app.cfg.preview_mode = "path";
    app.cfg.scheduler_interval_ms = 1000;
    app.cfg.isolation = ISO_AUTO;
    app.cfg.ts_node = EMU_DEFAULT_TS_NODE;
    app.cfg.max_cpu_seconds = 600;
    app.cfg.max_processes = 256;
    app.cfg.max_output = 10 * 1024 * 1024;
    if (config_from_env(&app.cfg) != 0)
        return 2;
    int pr = parse_args(argc, argv, &app.cfg);
    if (pr != 0)
        return pr > 0 ? 0 : 2;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    char err[512] = "";
    emu_route *rec_routes = NULL;   /* record mode's table */
    size_t nroutes = emu_nroutes;
    char dbpath[PATH_MAX];
    char tmpdir[PATH_MAX] = "";
    app.started_at_ms = time_now_ms();
    if (!app.cfg.data_dir)
        app.cfg.data_dir = default_data_dir();
    app.in_memory = strcmp(app.cfg.data_dir, ":memory:") == 0;
    if (app.in_memory) {
        snprintf(dbpath, sizeof dbpath, ":memory:");
    } else {
        if (fs_mkdir_p(app.cfg.data_dir, 0700) != 0) {
            emu_log(&app, EMU_LOG_ERROR, "cannot create data directory %s: %s",
                    app.cfg.data_dir, strerror(errno));
            goto done;
        }
        snprintf(dbpath, sizeof dbpath, "%s/emulator.db", app.cfg.data_dir);
    }
    /* The executor forks the sandbox supervisor: before any thread exists
     * and before SQLite is opened (STYLE.md practice 9). */
    if (start_executor(&app, tmpdir, sizeof tmpdir, err, sizeof err) != 0) {
        emu_log(&app, EMU_LOG_ERROR, "%s", err);
        goto done;
    }
    app.store = store_open(dbpath, err, sizeof err);
    if (!app.store) {
        emu_log(&app, EMU_LOG_ERROR, "%s", err);
        goto done;
    }
    app.clock = clock_new(app.store);
    app.journal = journal_new();
    app.faults = faults_new();
    app.transitions = transitions_new();
    app.events = events_new();
    app.sessions = sessions_new();
    app.ptys = ptys_new();
    app.interps = interps_new();
    if (!app.sessions || !app.ptys || !app.interps || !app.clock || !app.journal || !app.faults || !app.transitions ||
        !app.events || seed_default_snapshot(&app) != 0) {
        emu_log(&app, EMU_LOG_ERROR, "start-up failed: out of memory or store error");
        goto done;
    }
    if (g_upstream && start_record(&app, &rec_routes, &nroutes, err, sizeof err) != 0) {
        emu_log(&app, EMU_LOG_ERROR, "%s", err);
        goto done;
    }
    app.http = emu_http_start(&app, app.cfg.host, app.cfg.port,
                              rec_routes ? rec_routes : emu_routes, nroutes,
                              err, sizeof err);
    if (!app.http) {
        emu_log(&app, EMU_LOG_ERROR, "%s", err);
        goto done;
    }
    app.scheduler = scheduler_start(&app, app.cfg.scheduler_interval_ms);
    if (!app.scheduler) {
        emu_log(&app, EMU_LOG_ERROR, "cannot start the scheduler");
        goto done;
    }
    unsigned port = emu_http_port(app.http);
    if (app.cfg.port_file && write_port_file(app.cfg.port_file, port) != 0) {
        emu_log(&app, EMU_LOG_ERROR, "cannot write port file %s: %s",
                app.cfg.port_file, strerror(errno));
        goto done;
    }
    emu_log(&app, EMU_LOG_INFO, "listening on http://%s:%u/api (data: %s, %s, "
            "isolation: %s)", app.cfg.host, port,
            app.in_memory ? "in memory" : app.cfg.data_dir,
            app.cfg.napi_keys ? "API keys required" : "any API key accepted",
            executor_level_name(executor_level(app.executor)));

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    emu_log(&app, EMU_LOG_INFO, "signal %d: shutting down", sig);
    rc = 0;
done:
    app_teardown(&app);
    free(rec_routes);
    if (g_upstream)
        record_cleanup();
    if (tmpdir[0])
        remove_tree(tmpdir);
    free(env_keys_copy);
    return rc;
}
