/*
 * test_cli.c - daytona-emu as a command: flags, environment, the port
 * file, signals, a busy port, and many clients at once.
 *
 * Suite "flags": --help, --version, every kind of bad argument (exit 2).
 * Suite "runtime": DAYTONA_EMU_API_KEYS, the port file appearing only once
 * connections are accepted, SIGTERM/SIGINT exit 0, a second emulator on a
 * port in use fails clearly, and 100 concurrent clients each creating and
 * deleting a sandbox all succeed.
 *
 * Programs are run with fork/exec so exit status, stdout and stderr can be
 * checked exactly; the environment is passed explicitly where it matters.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "cu_run.h"
#include "emu_harness.h"
#include "test_net.h"
#include "timeutil.h"

extern char **environ;

static const char *emu_bin(void)
{
    const char *b = getenv("EMU_BIN");
    return b ? b : "daytona-emu";
}

/* ---------- running the binary ---------- */

typedef struct {
    int status;          /* exit code, 128+signal, or -1 (timeout/spawn) */
    char out[8192];
    char err[8192];
    int64_t took_ms;
} run_result;

/* Builds environ plus `set` ("NAME=value" entries, NULL-terminated; an
 * entry "NAME=" with nothing after '=' still sets it).  Caller frees the
 * array (not the strings). */
static char **env_with(const char *const *set)
{
    size_t n = 0, ns = 0;
    while (environ[n])
        n++;
    while (set && set[ns])
        ns++;
    char **env = calloc(n + ns + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < ns; j++) {
            size_t nl = strcspn(set[j], "=");
            if (strncmp(environ[i], set[j], nl + 1) == 0)
                replaced = 1;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < ns; j++)
        env[k++] = (char *)set[j];
    return env;
}

/* Reads both pipes until EOF or the deadline. */
static void pump(int fo, int fe, run_result *res, int64_t deadline)
{
    size_t lo = 0, le = 0;
    int open_o = 1, open_e = 1;
    while (open_o || open_e) {
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0)
            break;
        struct pollfd pf[2] = {{open_o ? fo : -1, POLLIN, 0},
                               {open_e ? fe : -1, POLLIN, 0}};
        int pr = poll(pf, 2, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *dst = i ? res->err : res->out;
            size_t *len = i ? &le : &lo;
            size_t cap = i ? sizeof res->err : sizeof res->out;
            char tmp[1024];
            ssize_t got = read(pf[i].fd, tmp, sizeof tmp);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                if (i)
                    open_e = 0;
                else
                    open_o = 0;
                continue;
            }
            size_t take = (size_t)got < cap - 1 - *len ? (size_t)got : cap - 1 - *len;
            memcpy(dst + *len, tmp, take);
            *len += take;
            dst[*len] = '\0';
        }
    }
}

/* Runs the emulator binary with args (NULL-terminated, without argv[0])
 * and extra environment; waits at most timeout_ms (then SIGKILL). */
static void run_emu(const char *const *args, const char *const *env_set,
                    int timeout_ms, run_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = -1;
    const char *argv[32];
    int n = 0;
    argv[n++] = emu_bin();
    for (int i = 0; args && args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char **env = env_with(env_set);
    int po[2], pe[2];
    if (!env || pipe(po) != 0) {
        free(env);
        return;
    }
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        free(env);
        return;
    }
    int64_t t0 = time_mono_ms();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return;
    }
    int64_t deadline = t0 + timeout_ms;
    pump(po[0], pe[0], res, deadline);
    close(po[0]);
    close(pe[0]);
    int st;
    while (time_mono_ms() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        tn_sleep_ms(5);
    }
    if (res->status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    res->took_ms = time_mono_ms() - t0;
}

/* ---------- suite flags ---------- */

static void test_help(void)
{
    static const char *const forms[][2] = {{"--help", NULL}, {"-h", NULL}};
    for (size_t i = 0; i < 2; i++) {
        run_result r;
        run_emu(forms[i], NULL, 5000, &r);
        CU_ASSERT_EQUAL(r.status, 0);
        CU_ASSERT_EQUAL(strncmp(r.out, "Usage: daytona-emu", 18), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--port"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--port-file"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--data-dir"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--api-key"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "DAYTONA_EMU_API_KEYS"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "/_emulator/"));
        CU_ASSERT_STRING_EQUAL(r.err, "");
    }
}

static void test_version(void)
{
    static const char *const args[] = {"--version", NULL};
    run_result r;
    run_emu(args, NULL, 5000, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(strncmp(r.out, "daytona-emu ", 12), 0);
    CU_ASSERT_STRING_EQUAL(r.err, "");
    /* The same version as the running server reports. */
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", NULL) == 0);
    http_resp h = http_do(&e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    const char *v = resp_str(&h, "version");
    CU_ASSERT(v && *v);
    if (v) {
        char want[128];
        snprintf(want, sizeof want, "daytona-emu %s", v);
        CU_ASSERT_EQUAL(strncmp(r.out, want, strlen(want)), 0);
        CU_ASSERT(r.out[strlen(want)] == ' ' || r.out[strlen(want)] == '\n');
    }
    http_resp_free(&h);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_bad_args(void)
{
    /* Every case starts with --data-dir :memory:, so a case that wrongly
     * started a server would keep nothing. */
    static const struct {
        const char *args[3];
        const char *env;        /* one NAME=value, or NULL */
        const char *err_has;    /* expected in stderr */
    } cases[] = {
        {{"--bogus"}, NULL, "Usage"},
        {{"--port", "70000"}, NULL, "--port"},
        {{"--port", "-1"}, NULL, "--port"},
        {{"--port", "80x"}, NULL, "--port"},
        {{"--port", ""}, NULL, "--port"},
        {{"--port"}, NULL, "--port"},           /* missing its value */
        {{"--log-level", "loud"}, NULL, "--log-level"},
        {{"--preview-mode", "sideways"}, NULL, "--preview-mode"},
        {{"--scheduler-interval-ms", "0"}, NULL, "--scheduler-interval-ms"},
        {{"--api-key", ""}, NULL, "--api-key"},
        {{"stray"}, NULL, "stray"},
        {{NULL}, "DAYTONA_EMU_PORT=70000", "DAYTONA_EMU_PORT"},
        {{NULL}, "DAYTONA_EMU_LOG_LEVEL=loud", "DAYTONA_EMU_LOG_LEVEL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[2] = {cases[i].env, NULL};
        const char *args[8] = {"--data-dir", ":memory:"};
        int n = 2;
        for (int j = 0; j < 3 && cases[i].args[j]; j++)
            args[n++] = cases[i].args[j];
        args[n] = NULL;
        run_result r;
        run_emu(args, cases[i].env ? env : NULL, 5000, &r);
        int ok = r.status == 2 && strstr(r.err, cases[i].err_has) != NULL;
        CU_ASSERT_EQUAL(r.status, 2);
        CU_ASSERT(r.took_ms < 3000);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, cases[i].err_has));
        if (!ok)
            fprintf(stderr, "\n  case %zu (%s %s): exit %d, stderr %.200s\n", i,
                    cases[i].args[0] ? cases[i].args[0] : cases[i].env,
                    cases[i].args[1] ? cases[i].args[1] : "", r.status, r.err);
    }
}

/* ---------- suite runtime ---------- */

static long create_with(const emu_proc *e, const char *key, const char *name)
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    http_resp r = http_do(e, "POST", "/api/sandbox", key, NULL, body, -1);
    long st = r.status;
    if (st == 401)
        CU_ASSERT_STRING_EQUAL(resp_str(&r, "message") ? resp_str(&r, "message") : "",
                               "Invalid credentials");
    http_resp_free(&r);
    return st;
}

static void test_env_keys(void)
{
    emu_proc e;
    setenv("DAYTONA_EMU_API_KEYS", "a,b", 1);
    int started = emu_start(&e, ":memory:", NULL);
    unsetenv("DAYTONA_EMU_API_KEYS");
    CU_ASSERT_FATAL(started == 0);
    CU_ASSERT_EQUAL(create_with(&e, "a", "from-a"), 200);
    CU_ASSERT_EQUAL(create_with(&e, "b", "from-b"), 200);
    CU_ASSERT_EQUAL(create_with(&e, "c", "from-c"), 401);
    CU_ASSERT_EQUAL(create_with(&e, "a,b", "from-ab"), 401);
    /* Each key is its own organization. */
    http_resp r = http_do(&e, "GET", "/api/sandbox/from-a", "b", NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_resp_free(&r);
    r = http_do(&e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "authMode") ? resp_str(&r, "authMode") : "", "keys");
    CU_ASSERT_EQUAL(resp_num(&r, "apiKeys", -1), 2);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);

    /* --api-key replaces the keys from the environment. */
    static const char *const args[] = {"--api-key", "z", NULL};
    setenv("DAYTONA_EMU_API_KEYS", "a,b", 1);
    started = emu_start(&e, ":memory:", args);
    unsetenv("DAYTONA_EMU_API_KEYS");
    CU_ASSERT_FATAL(started == 0);
    CU_ASSERT_EQUAL(create_with(&e, "z", "from-z"), 200);
    CU_ASSERT_EQUAL(create_with(&e, "a", "from-a"), 401);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Every flag has an environment variable: a server configured by the
 * environment alone (port, port file, data dir, log level, target,
 * scheduler interval, preview mode). */
static void test_env_only_config(void)
{
    char pf[128], pfv[160];
    snprintf(pf, sizeof pf, "/tmp/emu-cli-envport-%d", (int)getpid());
    snprintf(pfv, sizeof pfv, "DAYTONA_EMU_PORT_FILE=%s", pf);
    unlink(pf);
    const char *set[] = {"DAYTONA_EMU_PORT=0", pfv, "DAYTONA_EMU_DATA_DIR=:memory:",
                         "DAYTONA_EMU_LOG_LEVEL=error", "DAYTONA_EMU_TARGET=eu",
                         "DAYTONA_EMU_SCHEDULER_INTERVAL_MS=250",
                         "DAYTONA_EMU_PREVIEW_MODE=host", NULL};
    char **env = env_with(set);
    CU_ASSERT_FATAL(env != NULL);
    const char *argv[] = {emu_bin(), NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    CU_ASSERT_FATAL(pid > 0);
    unsigned port = 0;
    for (int i = 0; i < 1000 && !port; i++) {
        FILE *f = fopen(pf, "r");
        if (f) {
            if (fscanf(f, "%u", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (!port)
            tn_sleep_ms(10);
    }
    CU_ASSERT(port > 0);
    emu_proc e;
    memset(&e, 0, sizeof e);
    e.port = port;
    snprintf(e.base, sizeof e.base, "http://127.0.0.1:%u", port);
    http_resp r = http_do(&e, "POST", "/api/sandbox", "any", NULL, "{}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "target") ? resp_str(&r, "target") : "", "eu");
    http_resp_free(&r);
    r = http_do(&e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "dataDir") ? resp_str(&r, "dataDir") : "", ":memory:");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "previewMode") ? resp_str(&r, "previewMode") : "", "host");
    CU_ASSERT_EQUAL(resp_num(&r, "schedulerIntervalMs", -1), 250);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "authMode") ? resp_str(&r, "authMode") : "", "open");
    http_resp_free(&r);
    kill(pid, SIGTERM);
    int st = -1;
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(pf);
}

static int connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    return rc;
}

/* Starts the binary by hand and connects the moment the port file has a
 * number in it: that must always succeed. */
static void test_port_file_means_ready(void)
{
    for (int round = 0; round < 5; round++) {
        char pf[128];
        snprintf(pf, sizeof pf, "/tmp/emu-cli-port-%d-%d", (int)getpid(), round);
        unlink(pf);
        const char *argv[] = {emu_bin(), "--port", "0", "--port-file", pf,
                              "--data-dir", ":memory:", "--log-level", "error",
                              NULL};
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        CU_ASSERT_FATAL(pid > 0);
        unsigned port = 0;
        char text[64] = "";
        int64_t t0 = time_mono_ms();
        while (!port && time_mono_ms() - t0 < 10000) {
            FILE *f = fopen(pf, "r");
            if (f) {
                size_t got = fread(text, 1, sizeof text - 1, f);
                text[got] = '\0';
                fclose(f);
                sscanf(text, "%u", &port);
            }
            if (!port)
                tn_sleep_ms(1);
        }
        CU_ASSERT(port > 0);
        CU_ASSERT_EQUAL(connect_port(port), 0);
        char want[32];
        snprintf(want, sizeof want, "%u\n", port);
        CU_ASSERT_STRING_EQUAL(text, want);
        emu_proc e;
        memset(&e, 0, sizeof e);
        e.port = port;
        snprintf(e.base, sizeof e.base, "http://127.0.0.1:%u", port);
        http_resp r = http_do(&e, "GET", "/_emulator/health", NULL, NULL, NULL, 0);
        CU_ASSERT_EQUAL(r.status, 200);
        http_resp_free(&r);
        kill(pid, SIGTERM);
        int st = -1;
        waitpid(pid, &st, 0);
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        unlink(pf);
    }
}

static void test_signals_exit_zero(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, NULL, NULL) == 0);
    CU_ASSERT_EQUAL(create_with(&e, "any", "sig"), 200);
    int64_t t0 = time_mono_ms();
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
    CU_ASSERT(time_mono_ms() - t0 < 5000);

    CU_ASSERT_FATAL(emu_start(&e, ":memory:", NULL) == 0);
    kill(e.pid, SIGINT);
    int st = -1;
    pid_t w = -1;
    for (int i = 0; i < 500 && w != e.pid; i++) {
        w = waitpid(e.pid, &st, WNOHANG);
        if (w != e.pid)
            tn_sleep_ms(10);
    }
    CU_ASSERT_EQUAL(w, e.pid);
    CU_ASSERT(w == e.pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (w == e.pid)
        e.pid = 0;
    emu_stop(&e);
}

static void test_port_in_use(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", NULL) == 0);
    char port[16];
    snprintf(port, sizeof port, "%u", e.port);
    const char *args[] = {"--port", port, "--data-dir", ":memory:", NULL};
    run_result r;
    run_emu(args, NULL, 5000, &r);
    CU_ASSERT(r.status > 0 && r.status < 128);
    CU_ASSERT(r.took_ms < 3000);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "cannot listen"));
    if (!strstr(r.err, "cannot listen"))
        fprintf(stderr, "\n  exit %d, stderr %.300s\n", r.status, r.err);
    /* The first one is unharmed. */
    http_resp h = http_do(&e, "GET", "/_emulator/health", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(h.status, 200);
    http_resp_free(&h);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

#define NCLIENTS 100

typedef struct {
    const emu_proc *e;
    pthread_barrier_t *go;
    int idx;
    long create_status, delete_status;
    char state_after_delete[32];
} client_job;

static void *client_thread(void *arg)
{
    client_job *j = arg;
    char body[64], path[128];
    snprintf(body, sizeof body, "{\"name\":\"cc-%d\"}", j->idx);
    pthread_barrier_wait(j->go);
    http_resp r = http_do(j->e, "POST", "/api/sandbox", "k1", NULL, body, -1);
    j->create_status = r.status;
    snprintf(path, sizeof path, "/api/sandbox/%s",
             resp_str(&r, "id") ? resp_str(&r, "id") : "missing");
    http_resp_free(&r);
    r = http_do(j->e, "DELETE", path, "k1", NULL, NULL, 0);
    j->delete_status = r.status;
    snprintf(j->state_after_delete, sizeof j->state_after_delete, "%s",
             resp_str(&r, "state") ? resp_str(&r, "state") : "");
    http_resp_free(&r);
    return NULL;
}

static void test_100_concurrent_clients(void)
{
    static const char *const args[] = {"--api-key", "k1", NULL};
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, NULL, args) == 0);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NCLIENTS);
    client_job jobs[NCLIENTS];
    pthread_t t[NCLIENTS];
    int created = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        jobs[i] = (client_job){&e, &go, i, -1, -1, ""};
        if (pthread_create(&t[i], NULL, client_thread, &jobs[i]) != 0)
            break;
        created++;
    }
    CU_ASSERT_FATAL(created == NCLIENTS);
    int ok = 0, shown = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].create_status == 200 && jobs[i].delete_status == 200 &&
            strcmp(jobs[i].state_after_delete, "destroying") == 0)
            ok++;
        else if (shown++ < 5)
            fprintf(stderr, "\n  client %d: create %ld delete %ld (%s)\n", i,
                    jobs[i].create_status, jobs[i].delete_status,
                    jobs[i].state_after_delete);
    }
    pthread_barrier_destroy(&go);
    CU_ASSERT_EQUAL(ok, NCLIENTS);
    http_resp r = http_do(&e, "GET", "/api/sandbox?limit=200", "k1", NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("flags", NULL, NULL);
    CU_add_test(s, "--help", test_help);
    CU_add_test(s, "--version", test_version);
    CU_add_test(s, "bad arguments exit 2", test_bad_args);
    s = CU_add_suite("runtime", NULL, NULL);
    CU_add_test(s, "DAYTONA_EMU_API_KEYS", test_env_keys);
    CU_add_test(s, "configuration from the environment alone", test_env_only_config);
    CU_add_test(s, "port file means ready", test_port_file_means_ready);
    CU_add_test(s, "SIGTERM and SIGINT exit 0", test_signals_exit_zero);
    CU_add_test(s, "second emulator on a busy port", test_port_in_use);
    CU_add_test(s, "100 concurrent clients", test_100_concurrent_clients);
    return cu_run_and_cleanup();
}
