/*
 * main.c - daytona-sessions: the command line, the service's start-up and
 * its clean shutdown on SIGTERM/SIGINT.
 *
 * Start-up order: signals are blocked before any thread exists so only the
 * main thread (sigwait) receives them; libdaytona's global init comes
 * before any thread too; the store, the client and the manager exist
 * before the HTTP daemon; the port file is written only once the daemon
 * accepts connections, so whoever sees the file can connect at once.
 *
 * Shutdown order: the reaper (it finishes a pass in progress), then the
 * streams are told to end (their readers would otherwise hold connection
 * threads that MHD_stop_daemon joins) and their runs are cancelled (the
 * toolbox sessions deleted, so even silent programs stop at once), and
 * their last event is let out (stopping the daemon shuts connections down
 * with whatever is unsent), then the daemon (requests in flight finish), then the streams' producer
 * threads are waited for -- bounded: should a cancel fail (Daytona
 * unreachable), after STREAM_WAIT_MS the process leaves without freeing
 * what they use.
 *
 * Test hook: DAYTONA_SESSIONS_TEST_CRASH_AT=after-create|after-record|
 * after-close makes the service kill itself with SIGKILL at that point of
 * a start or close (the library's fault points), for crash tests.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc.h"

#define STREAM_WAIT_MS 10000
/* How long a shutdown lets streamed replies send their last event. */
#define DRAIN_MS 2000

int svc_open(svc_app *app, const svc_config *cfg, int with_manager)
{
    sess_error e;
    dt_error de;
    sess_config sc;
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    if (sess_store_open(cfg->db_path, 0, &app->store, &e) != SESS_OK) {
        fprintf(stderr, SVC_NAME ": cannot open %s: %s\n", cfg->db_path,
                e.message);
        return 1;
    }
    if (!with_manager)
        return 0;
    if (dt_client_new(NULL, &app->client, &de) != DT_OK) {
        fprintf(stderr, SVC_NAME ": Daytona client: %s\n", de.message);
        svc_close(app);
        return 1;
    }
    svc_sess_config(cfg, &sc);
    if (sess_manager_new(app->client, app->store, &sc, &app->mgr, &e) != SESS_OK) {
        fprintf(stderr, SVC_NAME ": %s\n", e.message);
        svc_close(app);
        return 1;
    }
    return 0;
}

void svc_close(svc_app *app)
{
    sess_manager_free(app->mgr);
    dt_client_free(app->client);
    sess_store_close(app->store);
    app->mgr = NULL;
    app->client = NULL;
    app->store = NULL;
}

/* ---------- test hook ---------- */

static void crash_hook(void *ctx, sess_hook_point point, const char *sandbox_id)
{
    const sess_hook_point *at = ctx;
    if (point != *at)
        return;
    fprintf(stderr, SVC_NAME ": test hook: SIGKILL at point %d (sandbox %s)\n",
            (int)point, sandbox_id ? sandbox_id : "-");
    raise(SIGKILL);
}

/* Installs the crash hook named by DAYTONA_SESSIONS_TEST_CRASH_AT; -1 for
 * a value that names no point. */
static int install_test_hook(sess_manager *m, sess_hook_point *at)
{
    static const struct { const char *name; sess_hook_point p; } P[] = {
        {"after-create", SESS_HOOK_AFTER_CREATE},
        {"after-record", SESS_HOOK_AFTER_RECORD},
        {"after-close", SESS_HOOK_AFTER_CLOSE},
    };
    const char *v = getenv("DAYTONA_SESSIONS_TEST_CRASH_AT");
    if (!v || !*v)
        return 0;
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        if (strcmp(v, P[i].name) == 0) {
            *at = P[i].p;
            sess_manager_set_hook(m, crash_hook, at);
            svc_log(SVC_LOG_WARN, "test hook armed: SIGKILL %s", v);
            return 0;
        }
    fprintf(stderr, SVC_NAME ": DAYTONA_SESSIONS_TEST_CRASH_AT must be "
            "after-create, after-record or after-close\n");
    return -1;
}

/* ---------- serve ---------- */

/* Writes the port atomically (temp file + rename): a reader never sees a
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

/* Everything after the store/client/manager: daemon, reaper, port file. */
static int start_serving(svc_app *app, const svc_config *cfg)
{
    char err[256];
    app->streams = svc_streams_new();
    if (!app->streams) {
        svc_log(SVC_LOG_ERROR, "out of memory");
        return -1;
    }
    app->http = svc_http_start(app, svc_routes, svc_nroutes, err, sizeof err);
    if (!app->http) {
        svc_log(SVC_LOG_ERROR, "%s", err);
        return -1;
    }
    if (cfg->reap_interval_s > 0 &&
        !(app->reaper = svc_reaper_start(app->mgr, cfg->reap_interval_s))) {
        svc_log(SVC_LOG_ERROR, "cannot start the reaper");
        return -1;
    }
    unsigned port = svc_http_port(app->http);
    if (cfg->port_file && *cfg->port_file &&
        write_port_file(cfg->port_file, port) != 0) {
        svc_log(SVC_LOG_ERROR, "cannot write port file %s: %s", cfg->port_file,
                strerror(errno));
        return -1;
    }
    svc_log(SVC_LOG_INFO, "listening on http://%s:%u (database %s, Daytona %s, "
            "reaper %s)", cfg->host, port, cfg->db_path,
            dt_client_api_url(app->client),
            cfg->reap_interval_s > 0 ? "on" : "off");
    return 0;
}

/* 1 when everything could be freed, 0 when streamed runs are still going
 * (then nothing they use may be freed). */
static int stop_serving(svc_app *app)
{
    svc_reaper_stop(app->reaper);
    app->reaper = NULL;
    svc_streams_shutdown(app->streams);
    svc_streams_drain(app->streams, DRAIN_MS);
    svc_http_stop(app->http);
    app->http = NULL;
    if (!svc_streams_wait(app->streams, STREAM_WAIT_MS)) {
        svc_log(SVC_LOG_WARN, "streamed runs still going after %d ms; leaving "
                "without waiting for them", STREAM_WAIT_MS);
        return 0;
    }
    svc_streams_free(app->streams);
    app->streams = NULL;
    return 1;
}

/* Daytona takes cpu/memory/disk only for a sandbox built from an image,
 * and a snapshot or an image, not both; anything else would fail every
 * create with a 400.  Better to say so now (exit 2, a usage error) than to
 * 502 every start.  (The library refuses the same, in words less about
 * flags.) */
static int check_resources(const svc_config *cfg)
{
    int image = cfg->image && *cfg->image;
    if (image && cfg->snapshot && *cfg->snapshot) {
        fprintf(stderr, SVC_NAME ": --snapshot and --image are mutually "
                "exclusive: sandboxes are made from one or the other\n");
        return -1;
    }
    if (image || (cfg->cpu < 0 && cfg->memory < 0 && cfg->disk < 0))
        return 0;
    fprintf(stderr, SVC_NAME ": --cpu/--memory/--disk require --image: Daytona "
            "accepts sandbox resources only for sandboxes built from an image "
            "(with a snapshot, the snapshot's resources apply)\n");
    return -1;
}

static int serve(const svc_config *cfg)
{
    svc_app app;
    sess_hook_point crash_at = 0;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (dt_global_init() != DT_OK) {
        fprintf(stderr, SVC_NAME ": libdaytona initialisation failed\n");
        return 1;
    }
    if (svc_open(&app, cfg, 1) != 0) {
        dt_global_cleanup();
        return 1;
    }
    int rc = 1;
    if (install_test_hook(app.mgr, &crash_at) == 0 &&
        start_serving(&app, cfg) == 0) {
        int sig = 0;
        while (sigwait(&sigs, &sig) != 0)
            ;
        svc_log(SVC_LOG_INFO, "signal %d: shutting down", sig);
        rc = 0;
    }
    if (!stop_serving(&app)) {
        fflush(NULL);
        _exit(rc);
    }
    svc_close(&app);
    dt_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    svc_config cfg;
    int r = svc_config_load(&cfg, argc, argv);
    if (r != 0) {
        svc_config_release(&cfg);
        return r > 0 ? 0 : 2;
    }
    svc_log_set_level(cfg.log_level);
    int rc;
    if (strcmp(cfg.words[0], "serve") == 0) {
        if (cfg.n_words != 1) {
            fprintf(stderr, SVC_NAME ": serve takes no arguments\n");
            rc = 2;
        } else if (check_resources(&cfg) != 0) {
            rc = 2;
        } else {
            rc = serve(&cfg);
        }
    } else if (strcmp(cfg.words[0], "help") == 0) {
        svc_usage(stdout);
        rc = 0;
    } else {
        if (strcmp(cfg.words[0], "reap") == 0 && dt_global_init() != DT_OK) {
            fprintf(stderr, SVC_NAME ": libdaytona initialisation failed\n");
            rc = 1;
        } else {
            rc = svc_admin(&cfg);
            if (strcmp(cfg.words[0], "reap") == 0)
                dt_global_cleanup();
        }
    }
    svc_config_release(&cfg);
    return rc;
}
