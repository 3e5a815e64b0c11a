/*
 * test_testing_api.c - daytona/testing.h against the real daytona-emu
 * ($EMU_BIN), through the public headers only.
 *
 * Suites: "start" (defaults and the URLs/key/client it gives, where the
 * program is looked for, start-up failures with their codes, timeouts,
 * refused extra_args, data directories, the log file, the parent-death
 * signal), "admin" (reset, clock, faults as a struct and as JSON, journal,
 * the generic admin call), "stop" (status, idempotence, nothing left).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "cu_run.h"
#include "daytona/daytona.h"
#include "daytona/testing.h"

static const char *emu_bin(void)
{
    return getenv("EMU_BIN");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static dt_emu *start_default(void)
{
    dt_emu_opts o;
    dt_emu_opts_init(&o);
    o.binary = emu_bin();
    dt_emu *emu = NULL;
    dt_error err;
    dt_code rc = dt_emu_start(&o, &emu, &err);
    if (rc != DT_OK)
        fprintf(stderr, "dt_emu_start: %s\n", err.message);
    return emu;
}

/* The data directory the emulator reports at /_emulator/info. */
static int data_dir_of(dt_emu *emu, char *out, size_t n)
{
    char *info = NULL;
    if (dt_emu_admin(emu, "GET", "/_emulator/info", NULL, &info, NULL) != DT_OK)
        return -1;
    const char *p = strstr(info, "\"dataDir\":\"");
    int rc = -1;
    if (p) {
        p += 11;
        const char *q = strchr(p, '"');
        if (q) {
            snprintf(out, n, "%.*s", (int)(q - p), p);
            rc = 0;
        }
    }
    free(info);
    return rc;
}

static long count_sandboxes(dt_client *c, dt_code *rc_out, dt_error *err)
{
    dt_sandbox_list *l = NULL;
    dt_code rc = dt_list(c, NULL, &l, err);
    if (rc_out)
        *rc_out = rc;
    if (rc != DT_OK)
        return -1;
    long n = (long)dt_sandbox_list_count(l);
    dt_sandbox_list_free(l);
    return n;
}

/* ---------- suite: start ---------- */

static void test_start_defaults(void)
{
    dt_emu *emu = start_default();
    CU_ASSERT_PTR_NOT_NULL_FATAL(emu);
    unsigned port = dt_emu_port(emu);
    CU_ASSERT_TRUE(port > 0 && port < 65536);
    char want[100];
    snprintf(want, sizeof want, "http://127.0.0.1:%u", port);
    CU_ASSERT_STRING_EQUAL(dt_emu_base_url(emu), want);
    snprintf(want, sizeof want, "http://127.0.0.1:%u/api", port);
    CU_ASSERT_STRING_EQUAL(dt_emu_api_url(emu), want);
    CU_ASSERT_EQUAL(strlen(dt_emu_api_key(emu)), 36);
    CU_ASSERT_EQUAL(strncmp(dt_emu_api_key(emu), "emu-", 4), 0);
    long pid = dt_emu_pid(emu);
    CU_ASSERT_TRUE(pid > 0 && kill((pid_t)pid, 0) == 0);

    /* A client for it works; a client with another key gets 401. */
    dt_client *c = NULL, *bad = NULL;
    dt_error err;
    CU_ASSERT_EQUAL_FATAL(dt_emu_client(emu, &c, &err), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_client_api_url(c), dt_emu_api_url(emu));
    CU_ASSERT_EQUAL(count_sandboxes(c, NULL, NULL), 0);
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL(dt_create(c, NULL, &sb, &err), DT_OK);
    CU_ASSERT_STRING_EQUAL(sb ? dt_sandbox_state(sb) : "", "started");
    dt_sandbox_free(sb);
    CU_ASSERT_EQUAL(count_sandboxes(c, NULL, NULL), 1);
    dt_config cfg;
    dt_emu_config(emu, &cfg);
    CU_ASSERT_STRING_EQUAL(cfg.api_url, dt_emu_api_url(emu));
    CU_ASSERT_STRING_EQUAL(cfg.api_key, dt_emu_api_key(emu));
    cfg.api_key = "not-the-key";
    CU_ASSERT_EQUAL_FATAL(dt_client_new(&cfg, &bad, &err), DT_OK);
    dt_code rc;
    count_sandboxes(bad, &rc, &err);
    CU_ASSERT_EQUAL(rc, DT_EUNAUTHORIZED);
    CU_ASSERT_EQUAL(err.status, 401);
    dt_client_free(bad);
    dt_client_free(c);

    /* The temporary data directory lives while the emulator does. */
    char dd[PATH_MAX];
    CU_ASSERT_EQUAL_FATAL(data_dir_of(emu, dd, sizeof dd), 0);
    char db[PATH_MAX + 20];
    snprintf(db, sizeof db, "%s/emulator.db", dd);
    CU_ASSERT_TRUE(exists(db));
    dt_emu_free(emu);
    CU_ASSERT_FALSE(exists(dd));
    CU_ASSERT_TRUE(kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static void test_start_api_key(void)
{
    dt_emu_opts o;
    dt_emu_opts_init(&o);
    o.binary = emu_bin();
    o.api_key = "fixed-key";
    dt_emu *emu = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_emu_start(&o, &emu, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_emu_api_key(emu), "fixed-key");
    dt_client *c = NULL;
    CU_ASSERT_EQUAL(dt_emu_client(emu, &c, NULL), DT_OK);
    CU_ASSERT_EQUAL(count_sandboxes(c, NULL, NULL), 0);
    dt_client_free(c);
    dt_emu_free(emu);
}

/* $DAYTONA_EMU_BIN, then PATH; a clear DT_ECONFIG when neither has it. */
static void test_start_finds_binary(void)
{
    char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    dt_emu *emu = NULL;
    dt_error err;

    setenv("DAYTONA_EMU_BIN", emu_bin(), 1);
    CU_ASSERT_EQUAL(dt_emu_start(NULL, &emu, &err), DT_OK);
    dt_emu_free(emu);
    emu = NULL;
    unsetenv("DAYTONA_EMU_BIN");

    setenv("PATH", "/nonexistent-dir", 1);
    CU_ASSERT_EQUAL(dt_emu_start(NULL, &emu, &err), DT_ECONFIG);
    CU_ASSERT_PTR_NULL(emu);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "daytona-emu not found"));

    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", emu_bin());
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    char path[PATH_MAX + 40];
    snprintf(path, sizeof path, "/nonexistent-dir:%s", dir);
    setenv("PATH", path, 1);
    CU_ASSERT_EQUAL(dt_emu_start(NULL, &emu, &err), DT_OK);
    dt_emu_free(emu);
    emu = NULL;
    if (old_path) {
        setenv("PATH", old_path, 1);
        free(old_path);
    }

    dt_emu_opts o;
    dt_emu_opts_init(&o);
    o.binary = "/nonexistent/daytona-emu";
    CU_ASSERT_EQUAL(dt_emu_start(&o, &emu, &err), DT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/nonexistent/daytona-emu"));
    CU_ASSERT_PTR_NULL(emu);
}

static void test_start_failures(void)
{
    dt_emu *emu = NULL;
    dt_error err;
    dt_emu_opts o;

    /* The server refuses its options: it exits, status 2. */
    dt_emu_opts_init(&o);
    o.binary = emu_bin();
    const char *const bogus[] = {"--isolation", "bogus", NULL};
    o.extra_args = bogus;
    o.log_file = "/dev/null";
    CU_ASSERT_EQUAL(dt_emu_start(&o, &emu, &err), DT_EIO);
    CU_ASSERT_STRING_EQUAL(err.message,
                           "daytona-emu exited with status 2 during start-up");
    CU_ASSERT_PTR_NULL(emu);

    /* A program that never becomes ready: DT_ETIMEOUT, and it is killed. */
    char script[] = "/tmp/dt-emu-slow-XXXXXX";
    int fd = mkstemp(script);
    CU_ASSERT_FATAL(fd >= 0);
    const char *text = "#!/bin/sh\necho $$ > \"$0.pid\"\nexec sleep 30\n";
    CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(script, 0700);
    dt_emu_opts_init(&o);
    o.binary = script;
    o.start_timeout_ms = 300;
    CU_ASSERT_EQUAL(dt_emu_start(&o, &emu, &err), DT_ETIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not ready within 300 ms"));
    char pidf[64];
    snprintf(pidf, sizeof pidf, "%s.pid", script);
    FILE *f = fopen(pidf, "r");
    int pid = 0;
    if (f) {
        CU_ASSERT_EQUAL(fscanf(f, "%d", &pid), 1);
        fclose(f);
    }
    CU_ASSERT_TRUE(pid > 0 && kill(pid, 0) != 0);   /* killed and reaped */
    unlink(pidf);
    unlink(script);

    /* Flags the handle owns are refused before anything starts. */
    const char *const reserved[] = {"--api-key=x", NULL};
    dt_emu_opts_init(&o);
    o.binary = emu_bin();
    o.extra_args = reserved;
    CU_ASSERT_EQUAL(dt_emu_start(&o, &emu, &err), DT_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "--api-key=x"));
    CU_ASSERT_EQUAL(dt_emu_start(&o, NULL, &err), DT_EINVAL);
}

static void test_start_data_dirs(void)
{
    dt_emu_opts o;
    dt_emu_opts_init(&o);
    o.binary = emu_bin();
    o.data_dir = ":memory:";
    dt_emu *emu = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_emu_start(&o, &emu, NULL), DT_OK);
    char *info = NULL;
    CU_ASSERT_EQUAL(dt_emu_admin(emu, "GET", "/_emulator/info", NULL, &info, NULL), DT_OK);
    CU_ASSERT_PTR_NOT_NULL(info && strstr(info, "\"inMemory\":true"));
    free(info);
    dt_emu_free(emu);

    /* A directory of the caller's: used and kept. */
    char dir[] = "/tmp/dt-emu-data-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    o.data_dir = dir;
    emu = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_emu_start(&o, &emu, NULL), DT_OK);
    char dd[PATH_MAX];
    CU_ASSERT_EQUAL(data_dir_of(emu, dd, sizeof dd), 0);
    CU_ASSERT_STRING_EQUAL(dd, dir);
    CU_ASSERT_EQUAL(dt_emu_stop(emu, NULL), DT_OK);
    dt_emu_free(emu);
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/emulator.db", dir);
    CU_ASSERT_TRUE(exists(db));
    char cmd[PATH_MAX + 20];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_start_log_file(void)
{
    char log[] = "/tmp/dt-emu-log-XXXXXX";
    int fd = mkstemp(log);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    dt_emu_opts o;
    dt_emu_opts_init(&o);
    o.binary = emu_bin();
    o.log_file = log;
    const char *const lvl[] = {"--log-level", "info", NULL};
    o.extra_args = lvl;
    dt_emu *emu = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_emu_start(&o, &emu, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_emu_stop(emu, NULL), DT_OK);
    dt_emu_free(emu);
    FILE *f = fopen(log, "r");
    char text[4096] = "";
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "listening on http://127.0.0.1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "shutting down"));
    unlink(log);
}

/* The thread that started the emulator exits: the emulator goes too. */
static void *starter(void *arg)
{
    dt_emu **out = arg;
    *out = start_default();
    return NULL;
}

static void test_start_parent_death(void)
{
    dt_emu *emu = NULL;
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, starter, &emu), 0);
    pthread_join(t, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(emu);
    pid_t pid = (pid_t)dt_emu_pid(emu);
    int st = 0, reaped = 0;
    for (int i = 0; i < 1000 && !reaped; i++) {
        reaped = waitpid(pid, &st, WNOHANG) == pid;
        if (!reaped)
            sleep_ms(10);
    }
    CU_ASSERT_TRUE(reaped);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);   /* a clean SIGTERM */
    /* We took its status: stop still succeeds and free cleans up. */
    CU_ASSERT_EQUAL(dt_emu_stop(emu, NULL), DT_OK);
    dt_emu_free(emu);
}

/* ---------- suite: admin ---------- */

static dt_emu *g_emu;
static dt_client *g_client;

static int admin_init(void)
{
    g_emu = start_default();
    return g_emu && dt_emu_client(g_emu, &g_client, NULL) == DT_OK ? 0 : 1;
}

static int admin_cleanup(void)
{
    dt_client_free(g_client);
    dt_emu_free(g_emu);
    return 0;
}

static void test_admin_reset(void)
{
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL(dt_create(g_client, NULL, &sb, NULL), DT_OK);
    dt_sandbox_free(sb);
    CU_ASSERT_EQUAL(count_sandboxes(g_client, NULL, NULL), 1);
    dt_emu_fault f;
    dt_emu_fault_init(&f);
    f.path = "/api/volumes*";
    f.status = 500;
    CU_ASSERT_EQUAL(dt_emu_fault_add(g_emu, &f, NULL, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_emu_advance_clock(g_emu, 3600000, NULL), DT_OK);

    CU_ASSERT_EQUAL(dt_emu_reset(g_emu, NULL), DT_OK);
    CU_ASSERT_EQUAL(count_sandboxes(g_client, NULL, NULL), 0);
    char *faults = NULL;
    CU_ASSERT_EQUAL(dt_emu_admin(g_emu, "GET", "/_emulator/faults", NULL, &faults, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(faults ? faults : "", "[]");
    free(faults);
    long long now = 0;
    CU_ASSERT_EQUAL(dt_emu_clock_now(g_emu, &now, NULL), DT_OK);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long real = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    CU_ASSERT_TRUE(now > real - 60000 && now < real + 60000);   /* offset gone */
}

static void test_admin_clock(void)
{
    CU_ASSERT_EQUAL(dt_emu_reset(g_emu, NULL), DT_OK);
    dt_create_params p;
    dt_create_params_init(&p);
    p.auto_stop_interval = 5;
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_create(g_client, &p, &sb, NULL), DT_OK);
    long long before = 0, after = 0;
    CU_ASSERT_EQUAL(dt_emu_clock_now(g_emu, &before, NULL), DT_OK);
    /* 4 minutes idle: still started. */
    CU_ASSERT_EQUAL(dt_emu_advance_clock(g_emu, 4 * 60000, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_refresh(sb, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    /* 6 minutes: auto-stopped by the time the call returned. */
    CU_ASSERT_EQUAL(dt_emu_advance_clock(g_emu, 2 * 60000, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_refresh(sb, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "stopped");
    CU_ASSERT_EQUAL(dt_emu_clock_now(g_emu, &after, NULL), DT_OK);
    CU_ASSERT_TRUE(after - before >= 6 * 60000 && after - before < 6 * 60000 + 30000);
    dt_sandbox_free(sb);
    dt_error err;
    CU_ASSERT_EQUAL(dt_emu_advance_clock(g_emu, -1, &err), DT_EINVAL);
}

static void test_admin_faults(void)
{
    CU_ASSERT_EQUAL(dt_emu_reset(g_emu, NULL), DT_OK);
    dt_emu_fault f;
    dt_emu_fault_init(&f);
    f.method = "GET";
    f.path = "/api/sandbox*";
    f.status = 500;
    f.message = "injected boom";
    f.times = 1;
    int id = 0;
    dt_error err;
    CU_ASSERT_EQUAL(dt_emu_fault_add(g_emu, &f, &id, &err), DT_OK);
    CU_ASSERT_TRUE(id > 0);
    dt_code rc;
    count_sandboxes(g_client, &rc, &err);
    CU_ASSERT_EQUAL(rc, DT_ESERVER);
    CU_ASSERT_EQUAL(err.status, 500);
    CU_ASSERT_STRING_EQUAL(err.message, "injected boom");
    /* times = 1: the next request is served. */
    CU_ASSERT_EQUAL(count_sandboxes(g_client, NULL, NULL), 0);
    /* Removed by id; a second time it is DT_ENOTFOUND. */
    CU_ASSERT_EQUAL(dt_emu_fault_remove(g_emu, id, &err), DT_OK);
    CU_ASSERT_EQUAL(dt_emu_fault_remove(g_emu, id, &err), DT_ENOTFOUND);
    CU_ASSERT_EQUAL(err.status, 404);

    /* JSON form, permanent, then removed by id. */
    int id2 = 0;
    CU_ASSERT_EQUAL(dt_emu_fault_add_json(g_emu, "{\"path\":\"/api/sandbox*\","
                    "\"status\":409,\"message\":\"busy\"}", &id2, &err), DT_OK);
    count_sandboxes(g_client, &rc, &err);
    CU_ASSERT_EQUAL(rc, DT_ECONFLICT);
    count_sandboxes(g_client, &rc, &err);
    CU_ASSERT_EQUAL(rc, DT_ECONFLICT);
    CU_ASSERT_EQUAL(dt_emu_fault_remove(g_emu, id2, &err), DT_OK);
    CU_ASSERT_EQUAL(count_sandboxes(g_client, NULL, NULL), 0);

    /* Clear removes every fault. */
    CU_ASSERT_EQUAL(dt_emu_fault_add_json(g_emu, "{\"path\":\"*\",\"status\":418}",
                                          NULL, NULL), DT_OK);
    count_sandboxes(g_client, &rc, NULL);
    CU_ASSERT_EQUAL(rc, DT_EHTTP);
    CU_ASSERT_EQUAL(dt_emu_faults_clear(g_emu, &err), DT_OK);
    CU_ASSERT_EQUAL(count_sandboxes(g_client, NULL, NULL), 0);

    /* An invalid fault: the emulator's reason. */
    CU_ASSERT_EQUAL(dt_emu_fault_add_json(g_emu, "{\"path\":\"/x\"}", NULL, &err),
                    DT_EBADREQUEST);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "a fault needs status, latencyMs or drop"));
    dt_emu_fault_init(&f);
    CU_ASSERT_EQUAL(dt_emu_fault_add(g_emu, &f, NULL, &err), DT_EINVAL);
    f.path = "/x";
    f.status = 42;
    CU_ASSERT_EQUAL(dt_emu_fault_add(g_emu, &f, NULL, &err), DT_EBADREQUEST);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "status must be an HTTP status code"));
}

static void test_admin_journal(void)
{
    CU_ASSERT_EQUAL(dt_emu_reset(g_emu, NULL), DT_OK);
    dt_emu_request *v = NULL;
    size_t n = 99;
    CU_ASSERT_EQUAL(dt_emu_journal(g_emu, 0, 0, &v, &n, NULL), DT_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(v);

    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL_FATAL(dt_create(g_client, NULL, &sb, NULL), DT_OK);
    dt_error err;
    dt_sandbox *missing = NULL;
    CU_ASSERT_EQUAL(dt_get(g_client, "no-such-sandbox", &missing, &err), DT_ENOTFOUND);
    CU_ASSERT_EQUAL(dt_emu_journal(g_emu, 0, 0, &v, &n, NULL), DT_OK);
    CU_ASSERT_TRUE_FATAL(n >= 2);
    CU_ASSERT_STRING_EQUAL(v[0].method, "POST");
    CU_ASSERT_STRING_EQUAL(v[0].path, "/api/sandbox");
    CU_ASSERT_EQUAL(v[0].status, 200);
    CU_ASSERT_STRING_EQUAL(v[n - 1].method, "GET");
    CU_ASSERT_STRING_EQUAL(v[n - 1].path, "/api/sandbox/no-such-sandbox");
    CU_ASSERT_EQUAL(v[n - 1].status, 404);
    CU_ASSERT_TRUE(strlen(v[n - 1].time) >= 20 && v[n - 1].duration_ms >= 0);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(strncmp(v[i].path, "/_emulator", 10) != 0, 1);
    size_t all = n;
    dt_emu_journal_free(v, n);

    /* limit keeps the most recent; include_admin shows the admin calls. */
    CU_ASSERT_EQUAL(dt_emu_journal(g_emu, 1, 0, &v, &n, NULL), DT_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(v[0].path, "/api/sandbox/no-such-sandbox");
    dt_emu_journal_free(v, n);
    CU_ASSERT_EQUAL(dt_emu_journal(g_emu, 0, 1, &v, &n, NULL), DT_OK);
    CU_ASSERT_TRUE(n > all);
    int admin_seen = 0;
    for (size_t i = 0; i < n; i++)
        admin_seen |= strcmp(v[i].path, "/_emulator/journal?limit=1000") == 0;
    CU_ASSERT_TRUE(admin_seen);
    dt_emu_journal_free(v, n);

    CU_ASSERT_EQUAL(dt_emu_journal_clear(g_emu, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_emu_journal(g_emu, 0, 0, &v, &n, NULL), DT_OK);
    CU_ASSERT_EQUAL(n, 0);
    dt_emu_journal_free(v, n);
    CU_ASSERT_EQUAL(dt_emu_journal(g_emu, 1001, 0, &v, &n, &err), DT_EINVAL);
    dt_sandbox_free(sb);
}

static void test_admin_generic(void)
{
    char *resp = NULL;
    dt_error err;
    CU_ASSERT_EQUAL(dt_emu_admin(g_emu, "POST", "/_emulator/transitions",
                                 "{\"transition\":\"create\",\"durationMs\":0,"
                                 "\"result\":\"error\",\"errorReason\":\"no capacity\"}",
                                 &resp, &err), DT_OK);
    CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "no capacity"));
    free(resp);
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL(dt_create(g_client, NULL, &sb, &err), DT_EBADREQUEST);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no capacity"));
    CU_ASSERT_EQUAL(dt_emu_admin(g_emu, "POST", "/_emulator/transitions",
                                 "{\"transition\":\"bogus\"}", NULL, &err),
                    DT_EBADREQUEST);
    CU_ASSERT_EQUAL(dt_emu_admin(g_emu, "GET", "/_emulator/nothing", NULL, NULL, &err),
                    DT_ENOTFOUND);
    CU_ASSERT_EQUAL(dt_emu_admin(g_emu, "GET", "relative", NULL, NULL, &err), DT_EINVAL);
    /* An empty answer is "". */
    resp = NULL;
    CU_ASSERT_EQUAL(dt_emu_admin(g_emu, "DELETE", "/_emulator/transitions", NULL,
                                 &resp, &err), DT_OK);
    CU_ASSERT_STRING_EQUAL(resp ? resp : "(null)", "");
    free(resp);
    CU_ASSERT_EQUAL(dt_create(g_client, NULL, &sb, &err), DT_OK);
    dt_sandbox_free(sb);
}

/* ---------- suite: stop ---------- */

static void test_stop(void)
{
    dt_emu *emu = start_default();
    CU_ASSERT_PTR_NOT_NULL_FATAL(emu);
    dt_client *c = NULL;
    CU_ASSERT_EQUAL(dt_emu_client(emu, &c, NULL), DT_OK);
    pid_t pid = (pid_t)dt_emu_pid(emu);
    char dd[PATH_MAX];
    CU_ASSERT_EQUAL(data_dir_of(emu, dd, sizeof dd), 0);
    CU_ASSERT_EQUAL(dt_emu_stop(emu, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_emu_pid(emu), 0);
    CU_ASSERT_TRUE(kill(pid, 0) != 0 && errno == ESRCH);
    /* Nothing answers any more; stopping again is fine. */
    dt_config cfg;
    dt_emu_config(emu, &cfg);
    cfg.retry.max_attempts = 1;
    dt_client *once = NULL;
    CU_ASSERT_EQUAL(dt_client_new(&cfg, &once, NULL), DT_OK);
    dt_code rc;
    count_sandboxes(once, &rc, NULL);
    CU_ASSERT_EQUAL(rc, DT_ECONNECT);
    dt_client_free(once);
    CU_ASSERT_EQUAL(dt_emu_admin(emu, "GET", "/_emulator/health", NULL, NULL, NULL),
                    DT_ECONNECT);
    CU_ASSERT_EQUAL(dt_emu_stop(emu, NULL), DT_OK);
    CU_ASSERT_TRUE(exists(dd));         /* removed by free, not by stop */
    dt_client_free(c);
    dt_emu_free(emu);
    CU_ASSERT_FALSE(exists(dd));
    dt_emu_free(NULL);
}

/* A server killed from outside: stop reports how it ended. */
static void test_stop_reports_crash(void)
{
    dt_emu *emu = start_default();
    CU_ASSERT_PTR_NOT_NULL_FATAL(emu);
    kill((pid_t)dt_emu_pid(emu), SIGKILL);
    sleep_ms(100);
    dt_error err;
    CU_ASSERT_EQUAL(dt_emu_stop(emu, &err), DT_EIO);
    CU_ASSERT_STRING_EQUAL(err.message, "daytona-emu was killed by signal 9");
    dt_emu_free(emu);
}

int main(void)
{
    if (!emu_bin()) {
        fprintf(stderr, "EMU_BIN is not set\n");
        return 1;
    }
    dt_global_init();
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("start", NULL, NULL);
    CU_add_test(s, "defaults: URLs, random key, client, temp dir", test_start_defaults);
    CU_add_test(s, "a given API key", test_start_api_key);
    CU_add_test(s, "binary from opts, DAYTONA_EMU_BIN, PATH", test_start_finds_binary);
    CU_add_test(s, "failures: exit, timeout, reserved flags", test_start_failures);
    CU_add_test(s, "in memory; caller's data dir kept", test_start_data_dirs);
    CU_add_test(s, "log file", test_start_log_file);
    CU_add_test(s, "starting thread exits: emulator stops", test_start_parent_death);
    s = CU_add_suite("admin", admin_init, admin_cleanup);
    CU_add_test(s, "reset", test_admin_reset);
    CU_add_test(s, "advance clock drives auto-stop", test_admin_clock);
    CU_add_test(s, "faults: struct, JSON, remove, clear, invalid", test_admin_faults);
    CU_add_test(s, "journal", test_admin_journal);
    CU_add_test(s, "generic admin call", test_admin_generic);
    s = CU_add_suite("stop", NULL, NULL);
    CU_add_test(s, "stop, idempotent, free removes the temp dir", test_stop);
    CU_add_test(s, "a killed server is reported", test_stop_reports_crash);
    int rc = cu_run_and_cleanup();
    dt_global_cleanup();
    return rc;
}
