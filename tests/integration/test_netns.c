/*
 * test_netns.c - every sandbox has a network of its own (namespaced
 * levels): two sandboxes serve the same port at once and each preview URL
 * reaches its own; the host's loopback is reached neither through a
 * preview nor from inside a sandbox; the processes of one sandbox share
 * theirs (a server in a session answers a later command); a networkBlockAll
 * sandbox still serves previews; a server that process/execute leaves
 * running lives on until the stop; execute, sessions and code-run of one
 * sandbox see one namespace; the namespace holders end with the sandbox and
 * with the emulator (SIGTERM or SIGKILL), leave no mount behind, and come
 * back for the sandboxes of a restarted emulator; --sandbox-network host /
 * --isolation process keep the host's network, and where the host cannot
 * make a network namespace (a user namespace with max_net_namespaces = 0)
 * /_emulator/info says so.  Preview errors never echo the query (it may
 * hold the token) and host-mode names match case-insensitively, as a
 * suffix only.
 *
 * Skipped (with a message) where the host cannot make namespaces.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "cu_run.h"
#include "emu_harness.h"
#include "test_net.h"

#define TOKEN "k"
#define PORT 18123          /* inside the sandboxes: no clash with the host */

static emu_proc E;
static int g_up, g_isolated;

/* A string field of the executor's part of /_emulator/info into out ("" if
 * absent, "null" if null). */
static void info_executor(const emu_proc *e, const char *key, char *out, size_t n)
{
    http_resp r = http_do(e, "GET", "/_emulator/info", TOKEN, NULL, NULL, 0);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.json, "executor");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(ex, key);
    const char *v = cJSON_GetStringValue(it);
    snprintf(out, n, "%s", v ? v : cJSON_IsNull(it) ? "null" : "");
    http_resp_free(&r);
}

/* The executor's "network" from /_emulator/info into out. */
static void info_network(const emu_proc *e, char *out, size_t n)
{
    info_executor(e, "network", out, n);
}

static int suite_init(void)
{
    if (emu_start(&E, ":memory:", NULL) != 0)
        return 1;
    g_up = 1;
    char net[32];
    info_network(&E, net, sizeof net);
    g_isolated = strcmp(net, "per-sandbox") == 0;
    if (!g_isolated)
        fprintf(stderr, "\n  sandboxes share the host network here (%s): "
                "per-sandbox checks skipped\n", net);
    return 0;
}

static int suite_clean(void)
{
    if (g_up && emu_stop(&E) != 0)
        return 1;
    return 0;
}

/* POSTs a JSON document (deleted here); returns the response. */
static http_resp post_json(const emu_proc *e, const char *path, cJSON *doc)
{
    char *body = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    http_resp r = http_do(e, "POST", path, TOKEN, NULL, body ? body : "{}", -1);
    free(body);
    return r;
}

static void create(const emu_proc *e, int block_all, char *id, size_t n)
{
    cJSON *d = cJSON_CreateObject();
    if (block_all)
        cJSON_AddBoolToObject(d, "networkBlockAll", 1);
    http_resp r = post_json(e, "/api/sandbox", d);
    CU_ASSERT_EQUAL(r.status, 200);
    const char *s = resp_str(&r, "id");
    snprintf(id, n, "%s", s ? s : "missing");
    http_resp_free(&r);
}

/* process/execute; returns the result text (caller frees) and *code. */
static char *execute(const emu_proc *e, const char *id, const char *cmd, int *code)
{
    char path[160];
    snprintf(path, sizeof path, "/toolbox/%s/process/execute", id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "command", cmd);
    http_resp r = post_json(e, path, d);
    CU_ASSERT_EQUAL(r.status, 200);
    *code = (int)resp_num(&r, "exitCode", -99);
    const char *out = resp_str(&r, "result");
    char *copy = strdup(out ? out : "");
    http_resp_free(&r);
    return copy;
}

/* Starts `python3 -m http.server port` serving "hello-<tag>\n" in an async
 * session of the sandbox. */
static void serve(const emu_proc *e, const char *id, int port, const char *tag)
{
    char path[200], cmd[512];
    snprintf(path, sizeof path, "/toolbox/%s/process/session", id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "sessionId", "srv");
    http_resp r = post_json(e, path, d);
    CU_ASSERT_EQUAL(r.status, 201);
    http_resp_free(&r);
    snprintf(cmd, sizeof cmd,
             "mkdir -p /tmp/www && echo hello-%s > /tmp/www/index.html && "
             "cd /tmp/www && exec python3 -m http.server %d --bind 127.0.0.1",
             tag, port);
    snprintf(path, sizeof path, "/toolbox/%s/process/session/srv/exec", id);
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "command", cmd);
    cJSON_AddBoolToObject(d, "runAsync", 1);
    r = post_json(e, path, d);
    CU_ASSERT_EQUAL(r.status, 202);
    http_resp_free(&r);
}

/* GET through the preview URL of id:port, retried until the server
 * answers 200 (up to 15 s); returns the last response. */
static http_resp preview_get(const emu_proc *e, const char *id, int port,
                             const char *rest, int wait_ok)
{
    char path[200];
    snprintf(path, sizeof path, "/preview/%d-%s%s", port, id, rest);
    http_resp r = http_do(e, "GET", path, TOKEN, NULL, NULL, 0);
    for (int i = 0; wait_ok && r.status != 200 && i < 150; i++) {
        http_resp_free(&r);
        tn_sleep_ms(100);
        r = http_do(e, "GET", path, TOKEN, NULL, NULL, 0);
    }
    return r;
}

/* The preview of id:port/index.html answers 200 with body (waited for). */
static void expect_page(const emu_proc *e, const char *id, int port, const char *body)
{
    http_resp r = preview_get(e, id, port, "/index.html", 1);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, body);
    http_resp_free(&r);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* The pids of the network holders of emulator pid emu (holder → the
 * supervisor → the emulator). */
static int holders_of(pid_t emu, pid_t *out, int max)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) && n < max) {
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid <= 0)
            continue;
        char p[64], cmd[512];
        snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
        FILE *f = fopen(p, "r");
        size_t len = f ? fread(cmd, 1, sizeof cmd - 1, f) : 0;
        if (f)
            fclose(f);
        int holder = 0;
        for (size_t i = 0; i + 10 <= len; i++)
            holder |= memcmp(cmd + i, "--hold-net", 10) == 0;
        if (!holder)
            continue;
        long pp = tn_ppid((long)pid);
        long gp = pp > 0 ? tn_ppid(pp) : -1;
        if (gp == emu)
            out[n++] = pid;
    }
    if (d)
        closedir(d);
    return n;
}

/* A listener on the host's 127.0.0.1 (an ephemeral port); *port set. */
static int host_listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return s;
}

/* POSTs doc (deleted here) and returns a copy of the string field `key` of
 * the answer ("" when absent; caller frees); the status must be want. */
static char *post_take(const emu_proc *e, const char *path, cJSON *doc,
                       long want, const char *key)
{
    http_resp r = post_json(e, path, doc);
    CU_ASSERT_EQUAL(r.status, want);
    const char *v = resp_str(&r, key);
    char *copy = strdup(v ? v : "");
    http_resp_free(&r);
    return copy;
}

/* Runs cmd synchronously in a new session sid of sandbox id; its stdout
 * (caller frees). */
static char *session_run(const emu_proc *e, const char *id, const char *sid,
                         const char *cmd)
{
    char path[200];
    snprintf(path, sizeof path, "/toolbox/%s/process/session", id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "sessionId", sid);
    free(post_take(e, path, d, 201, "sessionId"));   /* no body: "" */
    snprintf(path, sizeof path, "/toolbox/%s/process/session/%s/exec", id, sid);
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "command", cmd);
    return post_take(e, path, d, 200, "stdout");
}

/* process/code-run of python code; its result (caller frees). */
static char *code_run(const emu_proc *e, const char *id, const char *code)
{
    char path[160];
    snprintf(path, sizeof path, "/toolbox/%s/process/code-run", id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "code", code);
    cJSON_AddStringToObject(d, "language", "python");
    return post_take(e, path, d, 200, "result");
}

/* How many of the n pids are still alive after waiting up to 5 s for them
 * to end. */
static int left_alive(const pid_t *pids, int n)
{
    int left = n;
    for (int t = 0; t < 100 && left; t++) {
        left = 0;
        for (int i = 0; i < n; i++)
            left += kill(pids[i], 0) == 0;
        if (left)
            tn_sleep_ms(50);
    }
    return left;
}

/* The nsfs mounts (bound namespace files, as `ip netns add` makes) in the
 * host's mount table: the holders keep their namespace alive by living,
 * never by a mount that could outlive them. */
static int nsfs_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, " - nsfs ") != NULL;
    if (f)
        fclose(f);
    return n;
}

/* ---------- tests ---------- */

static void test_same_port_two_sandboxes(void)
{
    /* Root can always make namespaces: there the skip would be a bug. */
    CU_ASSERT(g_isolated || geteuid() != 0);
    if (!g_isolated)
        return;
    char a[64], b[64];
    create(&E, 0, a, sizeof a);
    create(&E, 0, b, sizeof b);
    serve(&E, a, PORT, "a");
    serve(&E, b, PORT, "b");
    expect_page(&E, a, PORT, "hello-a\n");
    expect_page(&E, b, PORT, "hello-b\n");
    /* Inside a sandbox, 127.0.0.1:PORT is that sandbox's own server. */
    int code = -1;
    char *out = execute(&E, b, "python3 -c \"import urllib.request as u; "
                        "print(u.urlopen('http://127.0.0.1:18123/').read().decode(), end='')\"",
                        &code);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_STRING_EQUAL(out, "hello-b\n");
    free(out);
    /* And the host's 127.0.0.1:PORT has no server at all. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(PORT);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_NOT_EQUAL(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
}

static void test_host_loopback_unreachable(void)
{
    if (!g_isolated)
        return;
    int hp = 0;
    int ls = host_listener(&hp);
    CU_ASSERT_FATAL(ls >= 0);
    char a[64], fresh[64], cmd[300];
    create(&E, 0, a, sizeof a);
    create(&E, 0, fresh, sizeof fresh);
    int code = -1;
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import socket; s=socket.socket(); "
             "print(s.connect_ex(('127.0.0.1', %d)) != 0)\"", hp);
    char *out = execute(&E, a, cmd, &code);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_STRING_EQUAL(out, "True\n");       /* refused: not the host's */
    free(out);
    /* Through a preview: 502, for a sandbox that ran commands and for one
     * that never did (no namespace yet: nothing can listen). */
    const char *ids[] = {a, fresh};
    for (int i = 0; i < 2; i++) {
        http_resp r = preview_get(&E, ids[i], hp, "/", 0);
        CU_ASSERT_EQUAL(r.status, 502);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "nothing is listening"));
        http_resp_free(&r);
    }
    close(ls);
}

static void test_block_all_preview(void)
{
    if (!g_isolated)
        return;
    char id[64];
    create(&E, 1, id, sizeof id);
    serve(&E, id, PORT, "blocked");
    expect_page(&E, id, PORT, "hello-blocked\n");
    http_resp r;
    /* Host-mode preview: host names are case-insensitive. */
    char host[200], up[64];
    snprintf(up, sizeof up, "%s", id);
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    snprintf(host, sizeof host, "Host: %d-%s.Preview.LocalHost:%u", PORT, up, E.port);
    const char *hdrs[] = {host, NULL};
    r = http_do(&E, "GET", "/index.html", TOKEN, hdrs, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, "hello-blocked\n");
    http_resp_free(&r);
    /* An error names the path without the query, which may hold a token. */
    char path[200], want[200];
    snprintf(path, sizeof path, "/preview/%d-%s/x?DAYTONA_SANDBOX_AUTH_KEY=s3cr3t-tok",
             PORT + 1, id);
    snprintf(want, sizeof want, "/preview/%d-%s/x", PORT + 1, id);
    r = http_do(&E, "GET", path, TOKEN, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 502);
    CU_ASSERT_PTR_NULL(strstr(r.body, "s3cr3t-tok"));
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "path") ? resp_str(&r, "path") : "", want);
    http_resp_free(&r);
    /* Also where the router answers for a preview URL. */
    r = http_do(&E, "GET", "/preview/?DAYTONA_SANDBOX_AUTH_KEY=s3cr3t-tok", TOKEN,
                NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_PTR_NULL(strstr(r.body, "s3cr3t-tok"));
    http_resp_free(&r);
    /* A name that only contains the preview domain is some other host. */
    snprintf(host, sizeof host, "Host: %d-%s.preview.localhost.example:%u", PORT, id,
             E.port);
    r = http_do(&E, "GET", "/index.html", TOKEN, hdrs, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 404);
    http_resp_free(&r);
    /* Only loopback inside. */
    int code = -1;
    char *out = execute(&E, id, "awk 'NR > 2 {print $1}' /proc/net/dev", &code);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_STRING_EQUAL(out, "lo:\n");
    free(out);
}


/* Every way in (execute, a session, code-run) joins the same network
 * namespace of the sandbox; another sandbox and the host have others. */
static void test_one_network_per_sandbox(void)
{
    if (!g_isolated)
        return;
    char a[64], b[64], host[80] = "";
    create(&E, 0, a, sizeof a);
    create(&E, 1, b, sizeof b);
    ssize_t l = readlink("/proc/self/ns/net", host, sizeof host - 2);
    CU_ASSERT_FATAL(l > 0);
    memcpy(host + l, "\n", 2);
    int code = -1;
    char *ex_a = execute(&E, a, "readlink /proc/self/ns/net", &code);
    char *se_a = session_run(&E, a, "ns", "readlink /proc/self/ns/net");
    char *cr_a = code_run(&E, a, "import os\nprint(os.readlink('/proc/self/ns/net'))");
    char *ex_b = execute(&E, b, "readlink /proc/self/ns/net", &code);
    CU_ASSERT_NSTRING_EQUAL(ex_a, "net:[", 5);
    CU_ASSERT_STRING_EQUAL(se_a, ex_a);
    CU_ASSERT_STRING_EQUAL(cr_a, ex_a);
    CU_ASSERT_NSTRING_EQUAL(ex_b, "net:[", 5);
    CU_ASSERT_STRING_NOT_EQUAL(ex_b, ex_a);
    CU_ASSERT_STRING_NOT_EQUAL(ex_a, host);
    CU_ASSERT_STRING_NOT_EQUAL(ex_b, host);
    free(ex_a);
    free(se_a);
    free(cr_a);
    free(ex_b);
}

/* As on Daytona, what process/execute leaves running lives on (namespaced
 * levels): a server started with `&` serves previews and later commands;
 * execute returns once the shell ended and the output closed. */
static void test_execute_leaves_server(void)
{
    if (!g_isolated)
        return;
    char id[64];
    create(&E, 0, id, sizeof id);
    int code = -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *out = execute(&E, id,
                        "mkdir -p /tmp/bg && echo hello-bg > /tmp/bg/index.html; "
                        "cd /tmp/bg; nohup python3 -m http.server 18124 "
                        "--bind 127.0.0.1 > /dev/null 2>&1 & echo started", &code);
    CU_ASSERT(ms_since(&t0) < 5000);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_STRING_EQUAL(out, "started\n");
    free(out);
    expect_page(&E, id, 18124, "hello-bg\n");
    /* Output written after the shell ended but before the pipe closed is
     * part of the result. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    out = execute(&E, id, "(sleep 1; echo late) & echo early", &code);
    CU_ASSERT(ms_since(&t0) >= 900);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_STRING_EQUAL(out, "early\nlate\n");
    free(out);
    http_resp r;
    /* The stop ends it. */
    char path[160];
    snprintf(path, sizeof path, "/api/sandbox/%s/stop", id);
    r = http_do(&E, "POST", path, TOKEN, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/sandbox/%s/start", id);
    r = http_do(&E, "POST", path, TOKEN, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = preview_get(&E, id, 18124, "/index.html", 0);
    CU_ASSERT_EQUAL(r.status, 502);
    http_resp_free(&r);
}

/* Stop ends the sandbox's holder (and so its server); a start gives it a
 * fresh network; delete ends it too. */
static void test_holders_end_with_sandbox(void)
{
    if (!g_isolated)
        return;
    char id[64], path[160];
    create(&E, 0, id, sizeof id);
    pid_t before[64], after[64];
    int n0 = holders_of(E.pid, before, 64);
    serve(&E, id, PORT, "s");
    expect_page(&E, id, PORT, "hello-s\n");
    http_resp r;
    CU_ASSERT_EQUAL(holders_of(E.pid, after, 64), n0 + 1);
    snprintf(path, sizeof path, "/api/sandbox/%s/stop", id);
    r = http_do(&E, "POST", path, TOKEN, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(holders_of(E.pid, after, 64), n0);
    snprintf(path, sizeof path, "/api/sandbox/%s/start", id);
    r = http_do(&E, "POST", path, TOKEN, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    r = preview_get(&E, id, PORT, "/", 0);
    CU_ASSERT_EQUAL(r.status, 502);      /* the server went with the stop */
    http_resp_free(&r);
    int code = -1;
    char *out = execute(&E, id, "echo up", &code);
    CU_ASSERT_STRING_EQUAL(out, "up\n");
    free(out);
    CU_ASSERT_EQUAL(holders_of(E.pid, after, 64), n0 + 1);
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    r = http_do(&E, "DELETE", path, TOKEN, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(holders_of(E.pid, after, 64), n0);
}


/* A SIGTERMed emulator ends its holders and leaves no mount; after a
 * restart on the same data, a persisted sandbox gets a fresh namespace at
 * its first command (nothing listens before) and serves previews again. */
static void test_holders_and_restart(void)
{
    if (!g_isolated)
        return;
    int mounts0 = nsfs_mounts();
    emu_proc e, e2;
    CU_ASSERT_FATAL(emu_start(&e, NULL, NULL) == 0);
    char dir[512], id[64];
    snprintf(dir, sizeof dir, "%s", e.data_dir);
    create(&e, 0, id, sizeof id);
    serve(&e, id, PORT, "r1");
    expect_page(&e, id, PORT, "hello-r1\n");
    pid_t h[8];
    int n = holders_of(e.pid, h, 8);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(emu_stop_keep(&e), 0);
    CU_ASSERT_EQUAL(left_alive(h, n), 0);
    CU_ASSERT_EQUAL(nsfs_mounts(), mounts0);

    CU_ASSERT_FATAL(emu_start(&e2, dir, NULL) == 0);
    e2.owns_dir = 1;     /* made by the harness for e: removed at the end */
    http_resp r = preview_get(&e2, id, PORT, "/", 0);
    CU_ASSERT_EQUAL(r.status, 502);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(holders_of(e2.pid, h, 8), 0);
    serve(&e2, id, PORT, "r2");
    expect_page(&e2, id, PORT, "hello-r2\n");
    n = holders_of(e2.pid, h, 8);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(emu_stop(&e2), 0);
    CU_ASSERT_EQUAL(left_alive(h, n), 0);
    CU_ASSERT_EQUAL(nsfs_mounts(), mounts0);
}

/* SIGKILL of the emulator: its supervisor dies, and every holder with it. */
static void test_holders_end_with_emulator(void)
{
    int mounts0 = nsfs_mounts();
    emu_proc e;
    if (emu_start(&e, ":memory:", NULL) != 0) {
        CU_FAIL("second emulator did not start");
        return;
    }
    char net[32];
    info_network(&e, net, sizeof net);
    if (strcmp(net, "per-sandbox") != 0) {
        emu_stop(&e);
        return;
    }
    char a[64], b[64];
    create(&e, 0, a, sizeof a);
    create(&e, 1, b, sizeof b);
    int code = -1;
    free(execute(&e, a, "true", &code));
    free(execute(&e, b, "true", &code));
    pid_t h[16];
    int n = holders_of(e.pid, h, 16);
    CU_ASSERT_EQUAL(n, 2);
    emu_kill9(&e);
    CU_ASSERT_EQUAL(left_alive(h, n), 0);
    CU_ASSERT_EQUAL(nsfs_mounts(), mounts0);
    emu_cleanup_dir(&e);
}

/* --sandbox-network host and --isolation process keep the host's network;
 * auto is the default; per-sandbox where it cannot be had and a bad mode
 * are refused at start-up. */
static void test_host_network_modes(void)
{
    const char *const host_args[] = {"--sandbox-network", "host", NULL};
    const char *const proc_args[] = {"--isolation", "process", NULL};
    const char *const *modes[] = {host_args, proc_args};
    for (int i = 0; i < 2; i++) {
        emu_proc e;
        CU_ASSERT_EQUAL_FATAL(emu_start(&e, ":memory:", modes[i]), 0);
        char net[32], note[32];
        info_network(&e, net, sizeof net);
        CU_ASSERT_STRING_EQUAL(net, "host");
        info_executor(&e, "networkNote", note, sizeof note);
        CU_ASSERT_STRING_EQUAL(note, "null");      /* asked for, not a fallback */
        char id[64];
        create(&e, 0, id, sizeof id);
        int code = -1;
        free(execute(&e, id, "true", &code));
        pid_t h[4];
        CU_ASSERT_EQUAL(holders_of(e.pid, h, 4), 0);
        CU_ASSERT_EQUAL(emu_stop(&e), 0);
    }
    if (g_isolated) {
        const char *const auto_args[] = {"--sandbox-network", "auto", NULL};
        emu_proc e;
        CU_ASSERT_EQUAL_FATAL(emu_start(&e, ":memory:", auto_args), 0);
        char net[32];
        info_network(&e, net, sizeof net);
        CU_ASSERT_STRING_EQUAL(net, "per-sandbox");
        CU_ASSERT_EQUAL(emu_stop(&e), 0);
    }
    const char *const bad[] = {"--sandbox-network", "bridge", NULL};
    const char *const strict_proc[] = {"--sandbox-network", "per-sandbox",
                                       "--isolation", "process", NULL};
    emu_proc e;
    CU_ASSERT_NOT_EQUAL(emu_start(&e, ":memory:", bad), 0);
    CU_ASSERT_NOT_EQUAL(emu_start(&e, ":memory:", strict_proc), 0);
}

/* Where the host cannot make a network namespace but the other namespaces
 * work - here a user namespace whose max_net_namespaces is 0 - sandboxes
 * fall back to the host's network and /_emulator/info says why;
 * --sandbox-network per-sandbox is refused there. */
static void test_fallback_without_netns(void)
{
    if (!g_isolated)
        return;
    if (system("unshare --user --map-root-user sh -c "
               "'echo 0 > /proc/sys/user/max_net_namespaces' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "\n  no unshare(1) into a user namespace here: "
                "fallback check skipped\n");
        return;
    }
    const char *real = getenv("EMU_BIN");
    char dir[] = "/tmp/netns-wrap-XXXXXX", wrap[64], saved[1024];
    CU_ASSERT_FATAL(real != NULL && mkdtemp(dir) != NULL);
    snprintf(saved, sizeof saved, "%s", real);
    snprintf(wrap, sizeof wrap, "%s/emu", dir);
    FILE *f = fopen(wrap, "w");
    CU_ASSERT_FATAL(f != NULL);
    /* exec all the way: the harness's pid stays the emulator's. */
    fprintf(f, "#!/bin/sh\nexec unshare --user --map-root-user sh -c "
            "'echo 0 > /proc/sys/user/max_net_namespaces && exec \"$0\" \"$@\"' "
            "'%s' \"$@\"\n", saved);
    fclose(f);
    chmod(wrap, 0755);
    setenv("EMU_BIN", wrap, 1);
    emu_proc e;
    int up = emu_start(&e, ":memory:", NULL) == 0;
    CU_ASSERT(up);
    if (up) {
        char net[32], note[256];
        info_network(&e, net, sizeof net);
        info_executor(&e, "networkNote", note, sizeof note);
        CU_ASSERT_STRING_EQUAL(net, "host");
        CU_ASSERT_PTR_NOT_NULL(strstr(note, "network namespace"));
        CU_ASSERT_EQUAL(emu_stop(&e), 0);
    }
    const char *const strict[] = {"--sandbox-network", "per-sandbox", NULL};
    CU_ASSERT_NOT_EQUAL(emu_start(&e, ":memory:", strict), 0);
    setenv("EMU_BIN", saved, 1);
    unlink(wrap);
    rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("netns", suite_init, suite_clean);
    if (s) {
        CU_add_test(s, "two sandboxes serve one port", test_same_port_two_sandboxes);
        CU_add_test(s, "host loopback unreachable", test_host_loopback_unreachable);
        CU_add_test(s, "networkBlockAll previews", test_block_all_preview);
        CU_add_test(s, "one network per sandbox, every way in", test_one_network_per_sandbox);
        CU_add_test(s, "a server started by execute outlives it", test_execute_leaves_server);
        CU_add_test(s, "holders end with the sandbox", test_holders_end_with_sandbox);
        CU_add_test(s, "holders end with a SIGTERMed emulator, back after restart",
                    test_holders_and_restart);
        CU_add_test(s, "holders end with a SIGKILLed emulator", test_holders_end_with_emulator);
        CU_add_test(s, "host network modes", test_host_network_modes);
        CU_add_test(s, "fallback where no network namespace can be made",
                    test_fallback_without_netns);
    }
    int rc = cu_run_and_cleanup();
    curl_global_cleanup();
    return rc;
}
