/*
 * test_service.c - daytona-sessions (sessions/service/) as users and
 * operators meet it: the real binary ($SESS_BIN) against a real daytona-emu
 * ($EMU_BIN), over HTTP with libcurl, with tokens made by the binary's own
 * operator command.
 *
 * What must hold:
 *  - tokens: 401 without one, with a malformed, unknown or revoked one (by
 *    token and by hash); the operator commands' output and exit codes;
 *  - each endpoint's success and error statuses, in Daytona's envelope,
 *    the library's messages word for word (unsupported language, the
 *    seed's restore message as 410), 502 when Daytona is unreachable;
 *  - one user never sees or touches another's session;
 *  - a streamed run's first `output` event arrives while the program is
 *    still running (it sleeps 2 s between two prints);
 *  - a restart (SIGTERM, and SIGKILL) resumes the sessions;
 *  - the service killed with SIGKILL after creating a sandbox and before
 *    recording it, after recording before deleting the replaced sandbox,
 *    and after closing before deleting: after a restart and a reap (the
 *    operator command, and the background reaper), the emulator holds no
 *    sandbox of ours that no active session owns, and no active session
 *    lacks its sandbox.
 *
 * SESS_WRAPPER (e.g. "valgrind --leak-check=full --error-exitcode=99")
 * runs every service process under that command; the graceful stops then
 * also assert a clean valgrind run (exit status 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "cu_run.h"
#include "emu_harness.h"

#define API_KEY "test-key"
#define RESTORE_MSG "Could not restore sandbox session. Please refresh."

static emu_proc g_emu;
static char g_dir[256];
static char g_api_url[128];
static int g_seq;

/* ---------- small utilities ---------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh path in the suite's directory. */
static const char *tmp_path(char *out, size_t n, const char *what)
{
    snprintf(out, n, "%s/%s-%d", g_dir, what, ++g_seq);
    return out;
}

static int json_is_str(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---------- child processes ---------- */

/* argv for SESS_BIN behind SESS_WRAPPER's words, plus args (NULL-ended). */
static int build_argv(const char **argv, int max, char *wrap_copy,
                      const char *const *args)
{
    int n = 0;
    char *save = NULL;
    for (char *w = wrap_copy ? strtok_r(wrap_copy, " ", &save) : NULL;
         w && n < max - 2; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n++] = getenv("SESS_BIN");
    for (int i = 0; args[i] && n < max - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return n;
}

/* In the child: the Daytona the service uses, and nothing of ours from
 * the test's own environment. */
static void child_env(const char *api_url, const char *const *env)
{
    extern char **environ;
    char name[256];
    /* Restart the scan after each removal: unsetenv reshuffles environ. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            size_t n = strcspn(*e, "=");
            if (strncmp(*e, "DAYTONA_", 8) != 0 || n >= sizeof name)
                continue;
            snprintf(name, sizeof name, "%.*s", (int)n, *e);
            unsetenv(name);
            again = 1;
            break;
        }
    }
    setenv("DAYTONA_API_URL", api_url ? api_url : g_api_url, 1);
    setenv("DAYTONA_API_KEY", API_KEY, 1);
    for (int i = 0; env && env[i]; i++)
        putenv((char *)env[i]);
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Runs an operator command to completion: `daytona-sessions ARGS...`.
 * *out (may be NULL) gets its stdout -- and its stderr too with
 * with_stderr -- (free()).  Returns the exit status.
 */
static int run_cmd_to(char **out, const char *const *args, int with_stderr)
{
    const char *argv[64];
    char *wrap = getenv("SESS_WRAPPER") ? strdup(getenv("SESS_WRAPPER")) : NULL;
    int p[2];
    if (pipe(p) != 0) {
        free(wrap);
        return -1;
    }
    build_argv(argv, 64, wrap, args);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        if (with_stderr)
            dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        child_env(NULL, NULL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    free(wrap);
    close(p[1]);
    char *acc = NULL;
    size_t len = 0;
    char chunk[4096];
    ssize_t k;
    while ((k = read(p[0], chunk, sizeof chunk)) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char *na = realloc(acc, len + (size_t)k + 1);
        if (!na)
            break;
        acc = na;
        memcpy(acc + len, chunk, (size_t)k);
        len += (size_t)k;
        acc[len] = '\0';
    }
    close(p[0]);
    int st = pid > 0 ? wait_status(pid) : -1;
    if (out)
        *out = acc ? acc : calloc(1, 1);
    else
        free(acc);
    return st;
}

static int run_cmd(char **out, const char *const *args)
{
    return run_cmd_to(out, args, 0);
}

/* `token create USER --db DB`: the token, trimmed (static buffer per
 * call site is the caller's: out). */
static int make_token(const char *db, const char *user, char *out, size_t n)
{
    char *text = NULL;
    const char *args[] = {"token", "create", user, "--db", db, NULL};
    int st = run_cmd(&text, args);
    text[strcspn(text, "\r\n")] = '\0';
    snprintf(out, n, "%s", text);
    free(text);
    return st == 0 && strncmp(out, "dts_", 4) == 0 ? 0 : -1;
}

/* A running service.  web.base is what http_do appends paths to. */
typedef struct {
    pid_t pid;
    char db[300];
    char port_file[300];
    emu_proc web;
} svc_proc;

/*
 * Starts `daytona-sessions serve --port 0 --port-file F --db DB EXTRA...`
 * with DAYTONA_API_URL = api_url (NULL = the emulator) and the variables
 * env ("NAME=value", NULL-terminated; may be NULL).  0 when the port file
 * appeared.
 */
static int svc_start(svc_proc *s, const char *db, const char *api_url,
                     const char *const *env, const char *const *extra)
{
    const char *args[40];
    const char *argv[64];
    int n = 0;
    memset(s, 0, sizeof *s);
    snprintf(s->db, sizeof s->db, "%s", db);
    tmp_path(s->port_file, sizeof s->port_file, "port");
    args[n++] = "serve";
    args[n++] = "--port";
    args[n++] = "0";
    args[n++] = "--port-file";
    args[n++] = s->port_file;
    args[n++] = "--db";
    args[n++] = s->db;
    args[n++] = "--log-level";
    args[n++] = "warn";
    for (int i = 0; extra && extra[i] && n < 38; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char *wrap = getenv("SESS_WRAPPER") ? strdup(getenv("SESS_WRAPPER")) : NULL;
    build_argv(argv, 64, wrap, args);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        child_env(api_url, env);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    free(wrap);
    if (pid < 0)
        return -1;
    s->pid = pid;
    for (int i = 0; i < 3000; i++) {        /* 30 s: valgrind is slow */
        FILE *f = fopen(s->port_file, "r");
        unsigned port = 0;
        if (f) {
            int ok = fscanf(f, "%u", &port) == 1;
            fclose(f);
            if (ok && port) {
                snprintf(s->web.base, sizeof s->web.base,
                         "http://127.0.0.1:%u", port);
                return 0;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    wait_status(pid);
    s->pid = 0;
    return -1;
}

/* SIGTERM; the exit status (0 = a clean stop), -1 if it hung 60 s. */
static int svc_stop(svc_proc *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 6000; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            unlink(s->port_file);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    wait_status(s->pid);
    s->pid = 0;
    return -1;
}

static void svc_kill9(svc_proc *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        wait_status(s->pid);
    }
    s->pid = 0;
    unlink(s->port_file);
}

/* Waits for a service that is expected to die by itself (the crash
 * hook); its status, or -1 if it is still alive after 30 s. */
static int svc_wait_death(svc_proc *s)
{
    for (int i = 0; i < 3000; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            unlink(s->port_file);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(10);
    }
    svc_kill9(s);
    return -1;
}

/* ---------- HTTP ---------- */

static http_resp call(const svc_proc *s, const char *method, const char *path,
                      const char *token, const char *body)
{
    return http_do(&s->web, method, path, token, NULL, body, -1);
}

/* 1 when r is Daytona's error envelope with this status (and message,
 * unless NULL). */
static int is_error(const http_resp *r, long status, const char *message)
{
    return r->status == status && resp_num(r, "statusCode", -1) == status &&
           resp_str(r, "error") && resp_str(r, "message") &&
           (!message || strcmp(resp_str(r, "message"), message) == 0);
}

/* ---------- the emulator's view ---------- */

/* Ids of live sandboxes labelled with app (and user, unless NULL), into
 * ids[max][64]; the count, or -1. */
static int emu_sandboxes(const char *app, const char *user, char ids[][64],
                         int max)
{
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "daytona-sessions/app", app);
    if (user)
        cJSON_AddStringToObject(q, "daytona-sessions/user", user);
    char *qs = cJSON_PrintUnformatted(q);
    cJSON_Delete(q);
    char *enc = curl_easy_escape(NULL, qs, 0);
    char path[1024];
    snprintf(path, sizeof path, "/api/sandbox?limit=200&labels=%s", enc);
    curl_free(enc);
    free(qs);
    http_resp r = http_do(&g_emu, "GET", path, API_KEY, NULL, NULL, 0);
    int n = -1;
    /* The cursor form: {"items": [...], "nextCursor"}; one page of 200 is
     * more than any test makes. */
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    if (r.status == 200 && cJSON_IsArray(items)) {
        n = 0;
        const cJSON *sb;
        cJSON_ArrayForEach(sb, items) {
            const char *state = json_str(sb, "state");
            if (strcmp(state, "destroyed") == 0 || strcmp(state, "destroying") == 0)
                continue;
            if (n < max)
                snprintf(ids[n], 64, "%s", json_str(sb, "id"));
            n++;
        }
    }
    http_resp_free(&r);
    return n;
}

/* 1 when the emulator still has the sandbox (not destroyed). */
static int emu_has_sandbox(const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    http_resp r = http_do(&g_emu, "GET", path, API_KEY, NULL, NULL, 0);
    int has = r.status == 200 && !json_is_str(r.json, "state", "destroyed") &&
              !json_is_str(r.json, "state", "destroying");
    http_resp_free(&r);
    return has;
}

/* Deletes a sandbox behind the system's back and waits until it is gone. */
static int emu_delete_sandbox(const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    http_resp r = http_do(&g_emu, "DELETE", path, API_KEY, NULL, NULL, 0);
    int ok = r.status == 200 || r.status == 204;
    http_resp_free(&r);
    for (int i = 0; ok && i < 500 && emu_has_sandbox(id); i++)
        sleep_ms(20);
    return ok && !emu_has_sandbox(id) ? 0 : -1;
}

/* The operator's list of active sessions of db (JSON array; cJSON_Delete). */
static cJSON *active_sessions(const char *db)
{
    char *out = NULL;
    const char *args[] = {"sessions", "list", "--active", "--db", db,
                          "--format", "json", NULL};
    int st = run_cmd(&out, args);
    cJSON *j = st == 0 ? cJSON_Parse(out) : NULL;
    free(out);
    return j;
}

/* The invariant a reap must leave: every live sandbox of `app` is owned by
 * an active session of db, and every active session's sandbox is live. */
static int consistent(const char *db, const char *app)
{
    char ids[64][64];
    int n = emu_sandboxes(app, NULL, ids, 64);
    cJSON *act = active_sessions(db);
    int ok = n >= 0 && cJSON_IsArray(act) && cJSON_GetArraySize(act) == n;
    const cJSON *s;
    cJSON_ArrayForEach(s, act) {
        int found = 0;
        for (int i = 0; i < n && i < 64; i++)
            found |= strcmp(ids[i], json_str(s, "sandboxId")) == 0;
        ok &= found;
    }
    cJSON_Delete(act);
    return ok;
}

/* `reap --db DB --app APP --reap-grace 0 --format json`: the report. */
static cJSON *admin_reap(const char *db, const char *app)
{
    char *out = NULL;
    const char *args[] = {"reap", "--db", db, "--app", app, "--reap-grace", "0",
                          "--format", "json", NULL};
    int st = run_cmd(&out, args);
    cJSON *j = st == 0 ? cJSON_Parse(out) : NULL;
    if (!j)
        fprintf(stderr, "reap exited %d: %s\n", st, out);
    free(out);
    return j;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* ---------- the suite's service ---------- */

static svc_proc g_svc;
static char g_db[300];
static char g_tok_alice[128], g_tok_bob[128], g_tok_carol[128];

static int suite_init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/sess-svc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir) || !getenv("SESS_BIN"))
        return 1;
    if (emu_start(&g_emu, NULL, NULL) != 0)
        return 1;
    snprintf(g_api_url, sizeof g_api_url, "%s/api", g_emu.base);
    tmp_path(g_db, sizeof g_db, "main.db");
    if (make_token(g_db, "alice", g_tok_alice, sizeof g_tok_alice) != 0 ||
        make_token(g_db, "bob", g_tok_bob, sizeof g_tok_bob) != 0 ||
        make_token(g_db, "carol", g_tok_carol, sizeof g_tok_carol) != 0)
        return 1;
    return svc_start(&g_svc, g_db, NULL, NULL, NULL) == 0 ? 0 : 1;
}

static int suite_cleanup(void)
{
    int st = svc_stop(&g_svc);
    emu_stop(&g_emu);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        return 1;
    return st == 0 ? 0 : 1;
}

/* ---------- tokens and the operator commands ---------- */

static void test_health_needs_no_token(void)
{
    http_resp r = call(&g_svc, "GET", "/health", NULL, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "status") ? resp_str(&r, "status") : "", "ok");
    http_resp_free(&r);
}

static void test_401_without_valid_token(void)
{
    static const char *const paths[][2] = {
        {"GET", "/sessions"}, {"POST", "/sessions"}, {"GET", "/sessions/active"},
        {"DELETE", "/sessions/active"}, {"POST", "/sessions/active/run"},
        {"POST", "/sessions/active/run/stream"},
    };
    char www[64];
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *body = strcmp(paths[i][0], "POST") == 0
                               ? "{\"language\":\"python\",\"code\":\"print(1)\"}" : NULL;
        http_resp r = http_do(&g_svc.web, paths[i][0], paths[i][1], NULL, NULL, body, -1);
        CU_ASSERT_TRUE(is_error(&r, 401, "Unauthorized"));
        CU_ASSERT_EQUAL(resp_header(&r, "WWW-Authenticate", www, sizeof www), 0);
        http_resp_free(&r);
        r = http_do(&g_svc.web, paths[i][0], paths[i][1], "dts_not-a-real-token",
                    NULL, body, -1);
        CU_ASSERT_TRUE(is_error(&r, 401, "Unauthorized"));
        http_resp_free(&r);
    }
    /* Another scheme, or the token without "Bearer", is no token. */
    char basic[200];
    snprintf(basic, sizeof basic, "Authorization: Basic %s", g_tok_alice);
    const char *h1[] = {basic, NULL};
    http_resp r = http_do(&g_svc.web, "GET", "/sessions", NULL, h1, NULL, 0);
    CU_ASSERT_TRUE(is_error(&r, 401, "Unauthorized"));
    http_resp_free(&r);
    /* The valid token works (the control for all of the above). */
    r = call(&g_svc, "GET", "/sessions", g_tok_alice, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_TRUE(cJSON_IsArray(r.json));
    http_resp_free(&r);
}

static void test_revoked_token_401(void)
{
    char tok1[128], tok2[128], *out = NULL;
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "dave", tok1, sizeof tok1), 0);
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "dave", tok2, sizeof tok2), 0);
    CU_ASSERT_STRING_NOT_EQUAL(tok1, tok2);
    http_resp r = call(&g_svc, "GET", "/sessions", tok1, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    /* Revoked by the token itself. */
    const char *rv[] = {"token", "revoke", tok1, "--db", g_db, NULL};
    CU_ASSERT_EQUAL(run_cmd(&out, rv), 0);
    CU_ASSERT_STRING_EQUAL(out, "revoked\n");
    free(out);
    r = call(&g_svc, "GET", "/sessions", tok1, NULL);
    CU_ASSERT_TRUE(is_error(&r, 401, "Unauthorized"));
    http_resp_free(&r);
    /* The other token of the same user still works; revoked by its hash
     * (from token list --format json), it stops. */
    r = call(&g_svc, "GET", "/sessions", tok2, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    const char *ls[] = {"token", "list", "dave", "--db", g_db, "--format", "json", NULL};
    CU_ASSERT_EQUAL(run_cmd(&out, ls), 0);
    cJSON *list = cJSON_Parse(out);
    CU_ASSERT_PTR_NULL(strstr(out, tok2 + 4));     /* never the token */
    free(out);
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(list), 2);
    const cJSON *t;
    char hash[80] = "";
    int revoked = 0;
    cJSON_ArrayForEach(t, list) {
        CU_ASSERT_TRUE(json_is_str(t, "userId", "dave"));
        CU_ASSERT_EQUAL(strlen(json_str(t, "hash")), 64);
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t, "revokedAt")))
            snprintf(hash, sizeof hash, "%s", json_str(t, "hash"));
        else
            revoked++;
    }
    CU_ASSERT_EQUAL(revoked, 1);
    cJSON_Delete(list);
    const char *rvh[] = {"token", "revoke", hash, "--db", g_db, NULL};
    CU_ASSERT_EQUAL(run_cmd(NULL, rvh), 0);
    r = call(&g_svc, "GET", "/sessions", tok2, NULL);
    CU_ASSERT_TRUE(is_error(&r, 401, "Unauthorized"));
    http_resp_free(&r);
}

static void test_admin_commands(void)
{
    char *out = NULL, db[300];
    tmp_path(db, sizeof db, "admin.db");
    const char *cj[] = {"token", "create", "erin", "--db", db, "--format", "json", NULL};
    CU_ASSERT_EQUAL(run_cmd(&out, cj), 0);
    cJSON *j = cJSON_Parse(out);
    free(out);
    CU_ASSERT_TRUE(json_is_str(j, "userId", "erin"));
    CU_ASSERT_EQUAL(strncmp(json_str(j, "token"), "dts_", 4), 0);
    CU_ASSERT_EQUAL(strlen(json_str(j, "hash")), 64);
    char hash[80];
    snprintf(hash, sizeof hash, "%s", json_str(j, "hash"));
    cJSON_Delete(j);
    /* The text listing shows the hash, not the token. */
    const char *lt[] = {"token", "list", "--db", db, NULL};
    CU_ASSERT_EQUAL(run_cmd(&out, lt), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, hash));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "erin"));
    free(out);
    /* Failures and usage errors. */
    const char *unknown[] = {"token", "revoke", "dts_nope", "--db", db, NULL};
    CU_ASSERT_EQUAL(run_cmd(NULL, unknown), 1);
    const char *noarg[] = {"token", "create", "--db", db, NULL};
    CU_ASSERT_EQUAL(run_cmd(NULL, noarg), 2);
    const char *badcmd[] = {"frobnicate", "--db", db, NULL};
    CU_ASSERT_EQUAL(run_cmd(NULL, badcmd), 2);
    const char *badflag[] = {"sessions", "list", "--db", db, "--format", "yaml", NULL};
    CU_ASSERT_EQUAL(run_cmd(NULL, badflag), 2);
    const char *badport[] = {"serve", "--db", db, "--port", "70000", NULL};
    CU_ASSERT_EQUAL(run_cmd(NULL, badport), 2);
    const char *sl[] = {"sessions", "list", "--db", db, "--format", "json", NULL};
    CU_ASSERT_EQUAL(run_cmd(&out, sl), 0);
    CU_ASSERT_STRING_EQUAL(out, "[]\n");
    free(out);
    const char *help[] = {"--help", NULL};
    CU_ASSERT_EQUAL(run_cmd(&out, help), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "token create USER"));
    free(out);
}

static void test_unknown_route_and_method(void)
{
    http_resp r = call(&g_svc, "GET", "/nope", g_tok_alice, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, "Cannot GET /nope"));
    http_resp_free(&r);
    r = call(&g_svc, "PUT", "/sessions/active", g_tok_alice, NULL);
    CU_ASSERT_TRUE(is_error(&r, 405, NULL));
    http_resp_free(&r);
}

/* POST /sessions {language}: the new session (201), a copy (cJSON_Delete). */
static cJSON *start_session(const svc_proc *s, const char *tok, const char *lang)
{
    char body[128];
    snprintf(body, sizeof body, "{\"language\":\"%s\"}", lang);
    http_resp r = call(s, "POST", "/sessions", tok, body);
    CU_ASSERT_EQUAL(r.status, 201);
    cJSON *j = r.status == 201 ? cJSON_Duplicate(r.json, 1) : NULL;
    http_resp_free(&r);
    return j;
}

/* A web front end on another origin: preflight and the allow header,
 * only when the service is told the origin. */
static void test_cors(void)
{
    svc_proc s;
    char v[128];
    const char *extra[] = {"--cors-origin", "http://app.example", "--reap-interval",
                           "0", NULL};
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, g_db, NULL, NULL, extra), 0);
    http_resp r = call(&s, "OPTIONS", "/sessions/active/run", NULL, NULL);
    CU_ASSERT_EQUAL(r.status, 204);
    CU_ASSERT_EQUAL(resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v), 0);
    CU_ASSERT_STRING_EQUAL(v, "http://app.example");
    CU_ASSERT_EQUAL(resp_header(&r, "Access-Control-Allow-Headers", v, sizeof v), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v, "Authorization"));
    http_resp_free(&r);
    r = call(&s, "GET", "/sessions", g_tok_alice, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v), 0);
    http_resp_free(&r);
    r = call(&s, "GET", "/sessions", NULL, NULL);           /* still 401 */
    CU_ASSERT_TRUE(is_error(&r, 401, "Unauthorized"));
    http_resp_free(&r);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    /* Without --cors-origin: no header, and OPTIONS is no method of ours. */
    r = call(&g_svc, "GET", "/sessions", g_tok_alice, NULL);
    CU_ASSERT_NOT_EQUAL(resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v), 0);
    http_resp_free(&r);
    r = call(&g_svc, "OPTIONS", "/sessions", NULL, NULL);
    CU_ASSERT_TRUE(is_error(&r, 405, NULL));
    http_resp_free(&r);
}

/* Sandbox defaults from flags and variables reach Daytona; a flag wins
 * over its variable; the language set is configurable. */
static void test_sandbox_defaults(void)
{
    svc_proc s;
    char tok[128], ids[4][64], path[256];
    const char *env[] = {"DAYTONA_SESSIONS_AUTO_STOP=9",
                         "DAYTONA_SESSIONS_LABELS=team=blue,tier=free",
                         "DAYTONA_SESSIONS_LANGUAGES=Python,typescript",
                         "DAYTONA_SESSIONS_APP=from-env", NULL};
    const char *extra[] = {"--auto-stop", "5", "--app", "defaults-app",
                           "--reap-interval", "0", NULL};
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "olga", tok, sizeof tok), 0);
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, g_db, NULL, env, extra), 0);
    http_resp r = call(&s, "POST", "/sessions", tok, "{\"language\":\"javascript\"}");
    CU_ASSERT_TRUE(is_error(&r, 400, "Unsupported language: javascript"));
    http_resp_free(&r);
    cJSON *ses = start_session(&s, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ses);
    CU_ASSERT_EQUAL(emu_sandboxes("defaults-app", "olga", ids, 4), 1);
    snprintf(path, sizeof path, "/api/sandbox/%s", json_str(ses, "sandboxId"));
    r = http_do(&g_emu, "GET", path, API_KEY, NULL, NULL, 0);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(r.json, "labels");
    CU_ASSERT_TRUE(json_is_str(labels, "team", "blue"));
    CU_ASSERT_TRUE(json_is_str(labels, "tier", "free"));
    CU_ASSERT_TRUE(json_is_str(labels, "daytona-sessions/app", "defaults-app"));
    CU_ASSERT_TRUE(json_is_str(labels, "daytona-sessions/session", json_str(ses, "id")));
    CU_ASSERT_EQUAL(resp_num(&r, "autoStopInterval", -1), 5);
    http_resp_free(&r);
    r = call(&s, "DELETE", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    cJSON_Delete(ses);
}

/* Resources need an image (Daytona refuses them for a snapshot): without
 * --image they are refused at start-up rather than failing every start;
 * with it the sandboxes get them. */
static void test_image_resources(void)
{
    svc_proc s;
    char tok[128], path[256], *out = NULL;
    const char *res[] = {"serve", "--db", g_db, "--port", "0", "--cpu", "2", NULL};
    CU_ASSERT_EQUAL(run_cmd_to(&out, res, 1), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "daytona-sessions: --cpu/--memory/--disk "
                                       "require --image"));
    free(out);
    const char *both[] = {"serve", "--db", g_db, "--port", "0", "--snapshot", "s1",
                          "--image", "python:3.12", NULL};
    CU_ASSERT_EQUAL(run_cmd_to(&out, both, 1), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--snapshot and --image are mutually "
                                       "exclusive"));
    free(out);
    /* The image from its variable, the resources from flags. */
    const char *env[] = {"DAYTONA_SESSIONS_IMAGE=python:3.12", NULL};
    const char *extra[] = {"--cpu", "2", "--memory", "2", "--app", "image-app",
                           "--reap-interval", "0", NULL};
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "pia", tok, sizeof tok), 0);
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, g_db, NULL, env, extra), 0);
    cJSON *ses = start_session(&s, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ses);
    snprintf(path, sizeof path, "/api/sandbox/%s", json_str(ses, "sandboxId"));
    http_resp r = http_do(&g_emu, "GET", path, API_KEY, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "cpu", -1), 2);
    CU_ASSERT_EQUAL(resp_num(&r, "memory", -1), 2);
    const cJSON *bi = cJSON_GetObjectItemCaseSensitive(r.json, "buildInfo");
    CU_ASSERT_PTR_NOT_NULL(strstr(json_str(bi, "dockerfileContent"),
                                  "FROM python:3.12"));
    http_resp_free(&r);
    r = call(&s, "POST", "/sessions/active/run", tok, "{\"code\":\"print(3 * 3)\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "output") ? resp_str(&r, "output") : "", "9\n");
    http_resp_free(&r);
    r = call(&s, "DELETE", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    cJSON_Delete(ses);
}

/* ---------- the endpoints ---------- */

static void test_start_validation(void)
{
    http_resp r = call(&g_svc, "POST", "/sessions", g_tok_alice, NULL);
    CU_ASSERT_TRUE(is_error(&r, 400, "language must be a string"));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions", g_tok_alice, "{\"language\":");
    CU_ASSERT_TRUE(is_error(&r, 400, "Invalid JSON in request body"));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions", g_tok_alice, "[\"python\"]");
    CU_ASSERT_TRUE(is_error(&r, 400, "Invalid JSON in request body"));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions", g_tok_alice, "{\"language\":7}");
    CU_ASSERT_TRUE(is_error(&r, 400, "language must be a string"));
    http_resp_free(&r);
    /* The library's message, with the language as given. */
    r = call(&g_svc, "POST", "/sessions", g_tok_alice, "{\"language\":\"Ruby\"}");
    CU_ASSERT_TRUE(is_error(&r, 400, "Unsupported language: Ruby"));
    CU_ASSERT_TRUE(json_is_str(r.json, "error", "Bad Request"));
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions/active", g_tok_alice, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
}

static void test_lifecycle(void)
{
    char ids[8][64];
    /* No session yet: everything but start is a 404. */
    http_resp r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol,
                       "{\"code\":\"print(1)\"}");
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "DELETE", "/sessions/active", g_tok_carol, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions/active/run/stream", g_tok_carol,
             "{\"code\":\"print(1)\"}");
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);

    /* Start, case-insensitively: the session, and a labelled sandbox. */
    cJSON *s1 = start_session(&g_svc, g_tok_carol, "PYTHON");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_TRUE(json_is_str(s1, "language", "python"));
    CU_ASSERT_TRUE(json_is_str(s1, "status", "active"));
    CU_ASSERT_TRUE(json_is_str(s1, "userId", "carol"));
    CU_ASSERT_EQUAL(strlen(json_str(s1, "id")), 36);
    CU_ASSERT_TRUE(jnum(s1, "createdAt") > 1.5e12);
    CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s1, "closedAt")));
    CU_ASSERT_EQUAL(emu_sandboxes("daytona-sessions", "carol", ids, 8), 1);
    CU_ASSERT_STRING_EQUAL(ids[0], json_str(s1, "sandboxId"));

    r = call(&g_svc, "GET", "/sessions/active", g_tok_carol, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "id"), json_str(s1, "id"));
    http_resp_free(&r);

    /* Runs: output and exit code; a failing program is still a 200. */
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol,
             "{\"code\":\"print(6*7)\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "exitCode", -1), 0);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "output") ? resp_str(&r, "output") : "", "42\n");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "sessionId"), json_str(s1, "id"));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol,
             "{\"code\":\"import sys\\nprint('bye')\\nsys.exit(3)\",\"timeout\":30}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(resp_num(&r, "exitCode", -1), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(resp_str(&r, "output") ? resp_str(&r, "output") : "", "bye"));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol, "{\"kode\":1}");
    CU_ASSERT_TRUE(is_error(&r, 400, "code must be a string"));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol,
             "{\"code\":\"print(1)\",\"timeout\":-1}");
    CU_ASSERT_TRUE(is_error(&r, 400, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol,
             "{\"code\":\"print(1)\",\"timeout\":1.5}");
    CU_ASSERT_TRUE(is_error(&r, 400, NULL));
    http_resp_free(&r);

    /* Starting again replaces the session and deletes its sandbox. */
    cJSON *s2 = start_session(&g_svc, g_tok_carol, "javascript");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    CU_ASSERT_STRING_NOT_EQUAL(json_str(s2, "id"), json_str(s1, "id"));
    CU_ASSERT_FALSE(emu_has_sandbox(json_str(s1, "sandboxId")));
    CU_ASSERT_EQUAL(emu_sandboxes("daytona-sessions", "carol", ids, 8), 1);
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_carol,
             "{\"code\":\"console.log([1,2].map(x => x * 2).join(','))\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "output") ? resp_str(&r, "output") : "", "2,4\n");
    http_resp_free(&r);

    /* History: newest first, the replaced one closed with its reason. */
    r = call(&g_svc, "GET", "/sessions", g_tok_carol, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(r.json), 2);
    cJSON *h0 = cJSON_GetArrayItem(r.json, 0), *h1 = cJSON_GetArrayItem(r.json, 1);
    CU_ASSERT_TRUE(json_is_str(h0, "id", json_str(s2, "id")));
    CU_ASSERT_TRUE(json_is_str(h0, "status", "active"));
    CU_ASSERT_TRUE(json_is_str(h1, "id", json_str(s1, "id")));
    CU_ASSERT_TRUE(json_is_str(h1, "status", "closed"));
    CU_ASSERT_TRUE(json_is_str(h1, "closeReason", "replaced"));
    CU_ASSERT_TRUE(jnum(h1, "closedAt") >= jnum(h1, "createdAt"));
    CU_ASSERT_TRUE(jnum(h1, "lastRunAt") >= jnum(h1, "createdAt"));
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions?limit=1", g_tok_carol, NULL);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r.json), 1);
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions?limit=zero", g_tok_carol, NULL);
    CU_ASSERT_TRUE(is_error(&r, 400, NULL));
    http_resp_free(&r);

    /* Close: the closed session, its sandbox deleted; then 404s. */
    r = call(&g_svc, "DELETE", "/sessions/active", g_tok_carol, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "id"), json_str(s2, "id"));
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "status"), "closed");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "closeReason"), "closed");
    http_resp_free(&r);
    CU_ASSERT_FALSE(emu_has_sandbox(json_str(s2, "sandboxId")));
    CU_ASSERT_EQUAL(emu_sandboxes("daytona-sessions", "carol", ids, 8), 0);
    r = call(&g_svc, "DELETE", "/sessions/active", g_tok_carol, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions/active", g_tok_carol, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    cJSON_Delete(s1);
    cJSON_Delete(s2);
}

/* One user never sees or touches another's session. */
static void test_users_isolated(void)
{
    cJSON *a = start_session(&g_svc, g_tok_alice, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    http_resp r = call(&g_svc, "GET", "/sessions/active", g_tok_bob, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_bob, "{\"code\":\"print(1)\"}");
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "DELETE", "/sessions/active", g_tok_bob, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions", g_tok_bob, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NULL(strstr(r.body, json_str(a, "id")));
    CU_ASSERT_PTR_NULL(strstr(r.body, "alice"));
    http_resp_free(&r);
    /* Bob's own session leaves Alice's alone, and the other way round. */
    cJSON *b = start_session(&g_svc, g_tok_bob, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_NOT_EQUAL(json_str(a, "sandboxId"), json_str(b, "sandboxId"));
    r = call(&g_svc, "GET", "/sessions/active", g_tok_alice, NULL);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "id") ? resp_str(&r, "id") : "", json_str(a, "id"));
    http_resp_free(&r);
    r = call(&g_svc, "DELETE", "/sessions/active", g_tok_bob, NULL);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "id") ? resp_str(&r, "id") : "", json_str(b, "id"));
    http_resp_free(&r);
    CU_ASSERT_TRUE(emu_has_sandbox(json_str(a, "sandboxId")));
    r = call(&g_svc, "POST", "/sessions/active/run", g_tok_alice, "{\"code\":\"print('mine')\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "sessionId") ? resp_str(&r, "sessionId") : "",
                           json_str(a, "id"));
    http_resp_free(&r);
    r = call(&g_svc, "DELETE", "/sessions/active", g_tok_alice, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* A sandbox deleted behind the system's back: 410 with the seed's words,
 * and the session is closed. */
static void test_sandbox_gone_410(void)
{
    char tok[128];
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "gina", tok, sizeof tok), 0);
    cJSON *s = start_session(&g_svc, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL_FATAL(emu_delete_sandbox(json_str(s, "sandboxId")), 0);
    http_resp r = call(&g_svc, "POST", "/sessions/active/run", tok, "{\"code\":\"print(1)\"}");
    CU_ASSERT_TRUE(is_error(&r, 410, RESTORE_MSG));
    CU_ASSERT_TRUE(json_is_str(r.json, "error", "Gone"));
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions/active", tok, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&g_svc, "GET", "/sessions", tok, NULL);
    CU_ASSERT_TRUE(json_is_str(cJSON_GetArrayItem(r.json, 0), "closeReason", "sandbox gone"));
    http_resp_free(&r);
    cJSON_Delete(s);
}

/* Concurrent starts over HTTP: one active session, one sandbox. */
typedef struct {
    const char *tok;
    long status;
} start_job;

static void *start_thread(void *arg)
{
    start_job *j = arg;
    http_resp r = call(&g_svc, "POST", "/sessions", j->tok, "{\"language\":\"python\"}");
    j->status = r.status;
    http_resp_free(&r);
    return NULL;
}

static void test_concurrent_starts(void)
{
    enum { N = 10 };
    char tok[128], ids[16][64];
    pthread_t t[N];
    start_job jobs[N];
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "hank", tok, sizeof tok), 0);
    for (int i = 0; i < N; i++) {
        jobs[i] = (start_job){tok, 0};
        pthread_create(&t[i], NULL, start_thread, &jobs[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(jobs[i].status, 201);
    }
    http_resp r = call(&g_svc, "GET", "/sessions", tok, NULL);
    int active = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, r.json)
        active += json_is_str(s, "status", "active");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(r.json), N);
    CU_ASSERT_EQUAL(active, 1);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_sandboxes("daytona-sessions", "hank", ids, 16), 1);
    r = call(&g_svc, "GET", "/sessions/active", tok, NULL);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "sandboxId") ? resp_str(&r, "sandboxId") : "", ids[0]);
    http_resp_free(&r);
    r = call(&g_svc, "DELETE", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
}

/* Daytona unreachable: 502, and the session is left alone. */
static void test_daytona_unreachable_502(void)
{
    char tok[128];
    svc_proc dead;
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "ivan", tok, sizeof tok), 0);
    cJSON *s = start_session(&g_svc, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    /* A second service on the same database, its Daytona a closed port. */
    const char *extra[] = {"--reap-interval", "0", NULL};
    CU_ASSERT_EQUAL_FATAL(svc_start(&dead, g_db, "http://127.0.0.1:1/api", NULL, extra), 0);
    http_resp r = call(&dead, "POST", "/sessions/active/run", tok, "{\"code\":\"print(1)\"}");
    CU_ASSERT_TRUE(is_error(&r, 502, NULL));
    CU_ASSERT_TRUE(json_is_str(r.json, "error", "Bad Gateway"));
    http_resp_free(&r);
    r = call(&dead, "POST", "/sessions", tok, "{\"language\":\"python\"}");
    CU_ASSERT_TRUE(is_error(&r, 502, NULL));
    http_resp_free(&r);
    r = call(&dead, "GET", "/sessions/active", tok, NULL);     /* no Daytona needed */
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "id") ? resp_str(&r, "id") : "", json_str(s, "id"));
    http_resp_free(&r);
    CU_ASSERT_EQUAL(svc_stop(&dead), 0);
    /* Through the working service the same session still runs. */
    r = call(&g_svc, "POST", "/sessions/active/run", tok, "{\"code\":\"print('ok')\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "sessionId") ? resp_str(&r, "sessionId") : "",
                           json_str(s, "id"));
    http_resp_free(&r);
    cJSON_Delete(s);
}

/* ---------- streaming ---------- */

typedef struct {
    char name[32];
    cJSON *data;
    long long at;           /* mono ms when the event was complete */
} sse_event;

typedef struct {
    char *raw;
    size_t len, cap, parsed;
    sse_event ev[256];
    int nev;
} sse_client;

/* Parses the complete events ("...\n\n") received so far. */
static void sse_parse(sse_client *c)
{
    for (;;) {
        char *start = c->raw + c->parsed;
        char *end = strstr(start, "\n\n");
        if (!end)
            return;
        *end = '\0';
        sse_event e = {"", NULL, mono_ms()};
        char *save = NULL;
        for (char *line = strtok_r(start, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "event: ", 7) == 0)
                snprintf(e.name, sizeof e.name, "%s", line + 7);
            else if (strncmp(line, "data: ", 6) == 0)
                e.data = cJSON_Parse(line + 6);
        }
        c->parsed = (size_t)(end - c->raw) + 2;
        if (e.name[0] && c->nev < 256)
            c->ev[c->nev++] = e;
        else
            cJSON_Delete(e.data);
    }
}

static size_t sse_write(char *data, size_t sz, size_t nm, void *ud)
{
    sse_client *c = ud;
    size_t n = sz * nm;
    if (c->len + n + 1 > c->cap) {
        size_t nc = (c->len + n + 1) * 2;
        char *nr = realloc(c->raw, nc);
        if (!nr)
            return 0;
        c->raw = nr;
        c->cap = nc;
    }
    memcpy(c->raw + c->len, data, n);
    c->len += n;
    c->raw[c->len] = '\0';
    sse_parse(c);
    return n;
}

static void sse_free(sse_client *c)
{
    for (int i = 0; i < c->nev; i++)
        cJSON_Delete(c->ev[i].data);
    free(c->raw);
    memset(c, 0, sizeof *c);
}

/* POSTs body to the stream endpoint; *done_at = when the reply ended.
 * Returns the HTTP status; *ctype gets the Content-Type. */
static long sse_post(const svc_proc *s, const char *tok, const char *body,
                     sse_client *c, long long *done_at, char *ctype, size_t ctn)
{
    char url[256], auth[256];
    long status = 0;
    snprintf(url, sizeof url, "%s/sessions/active/run/stream", s->web.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    if (curl_easy_perform(h) == CURLE_OK) {
        char *ct = NULL;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(ctype, ctn, "%s", ct ? ct : "");
    }
    *done_at = mono_ms();
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

/* Output events' data of one stream, concatenated into out. */
static void sse_output(const sse_client *c, const char *stream, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < c->nev; i++)
        if (strcmp(c->ev[i].name, "output") == 0 &&
            json_is_str(c->ev[i].data, "stream", stream))
            used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s",
                                     json_str(c->ev[i].data, "data"));
}

static void test_stream_arrives_before_the_end(void)
{
    char tok[128], ctype[128], out[256];
    sse_client c = {0};
    long long done_at = 0;
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "judy", tok, sizeof tok), 0);
    cJSON *s = start_session(&g_svc, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    long long t0 = mono_ms();
    long st = sse_post(&g_svc, tok,
                       "{\"code\":\"import time\\nprint('first')\\ntime.sleep(2)\\n"
                       "print('second')\"}", &c, &done_at, ctype, sizeof ctype);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_EQUAL(strncmp(ctype, "text/event-stream", 17), 0);
    CU_ASSERT_FATAL(c.nev >= 3);
    CU_ASSERT_STRING_EQUAL(c.ev[0].name, "output");
    CU_ASSERT_TRUE(json_is_str(c.ev[0].data, "data", "first\n"));
    CU_ASSERT_STRING_EQUAL(c.ev[c.nev - 1].name, "exit");
    CU_ASSERT_EQUAL(jnum(c.ev[c.nev - 1].data, "exitCode"), 0);
    CU_ASSERT_TRUE(json_is_str(c.ev[c.nev - 1].data, "sessionId", json_str(s, "id")));
    sse_output(&c, "stdout", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "first\nsecond\n");
    /* The first output reached us while the program still slept: at least
     * 1.5 s before the reply ended (the sleep is 2 s). */
    fprintf(stderr, "[first output after %lld ms, end after %lld ms] ",
            c.ev[0].at - t0, done_at - t0);
    CU_ASSERT_TRUE(done_at - c.ev[0].at >= 1500);
    CU_ASSERT_TRUE(done_at - t0 >= 2000);
    sse_free(&c);

    /* stderr, a non-zero exit, and UTF-8 that is kept whole. */
    st = sse_post(&g_svc, tok,
                  "{\"code\":\"import sys\\nprint('h\\u00e9llo \\u2713')\\n"
                  "sys.stderr.write('oops\\\\n')\\nsys.exit(4)\"}",
                  &c, &done_at, ctype, sizeof ctype);
    CU_ASSERT_EQUAL(st, 200);
    sse_output(&c, "stdout", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "h\xc3\xa9llo \xe2\x9c\x93\n");
    sse_output(&c, "stderr", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "oops\n");
    CU_ASSERT_FATAL(c.nev >= 1);
    CU_ASSERT_STRING_EQUAL(c.ev[c.nev - 1].name, "exit");
    CU_ASSERT_EQUAL(jnum(c.ev[c.nev - 1].data, "exitCode"), 4);
    sse_free(&c);

    /* Errors before the stream starts are plain statuses. */
    http_resp r = call(&g_svc, "POST", "/sessions/active/run/stream", tok, "{}");
    CU_ASSERT_TRUE(is_error(&r, 400, "code must be a string"));
    http_resp_free(&r);
    /* The sandbox gone: an `error` event with the restore message. */
    CU_ASSERT_EQUAL_FATAL(emu_delete_sandbox(json_str(s, "sandboxId")), 0);
    st = sse_post(&g_svc, tok, "{\"code\":\"print(1)\"}", &c, &done_at, ctype,
                  sizeof ctype);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_FATAL(c.nev == 1);
    CU_ASSERT_STRING_EQUAL(c.ev[0].name, "error");
    CU_ASSERT_EQUAL(jnum(c.ev[0].data, "statusCode"), 410);
    CU_ASSERT_TRUE(json_is_str(c.ev[0].data, "message", RESTORE_MSG));
    sse_free(&c);
    cJSON_Delete(s);
}

/* A client that goes away mid-stream does not hang the service: the run
 * is stopped at its next output and the service still answers. */
static void test_stream_client_leaves(void)
{
    char tok[128], url[256], auth[256];
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "kate", tok, sizeof tok), 0);
    cJSON *s = start_session(&g_svc, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    snprintf(url, sizeof url, "%s/sessions/active/run/stream", g_svc.web.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    sse_client c = {0};
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                     "{\"code\":\"import time\\nfor i in range(100):\\n"
                     "    print(i, flush=True)\\n    time.sleep(0.1)\"}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1500L);    /* leave mid-run */
    CU_ASSERT_EQUAL(curl_easy_perform(h), CURLE_OPERATION_TIMEDOUT);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    CU_ASSERT_TRUE(c.nev >= 2);
    sse_free(&c);
    http_resp r = call(&g_svc, "POST", "/sessions/active/run", tok, "{\"code\":\"print(7)\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "output") ? resp_str(&r, "output") : "", "7\n");
    http_resp_free(&r);
    cJSON_Delete(s);
}

/* The streamed runs' toolbox sessions ("sess-run-*") in a sandbox, from
 * the emulator's toolbox API; -1 on error. */
static int emu_run_sessions(const char *sandbox_id)
{
    char path[256];
    snprintf(path, sizeof path, "/toolbox/%s/process/session", sandbox_id);
    http_resp r = http_do(&g_emu, "GET", path, API_KEY, NULL, NULL, 0);
    int n = -1;
    if (r.status == 200 && cJSON_IsArray(r.json)) {
        n = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, r.json)
            n += strncmp(json_str(it, "sessionId"), "sess-run-", 9) == 0;
    }
    http_resp_free(&r);
    return n;
}

/* Waits up to ms for the sandbox's count of run sessions to be `want`; the
 * time it took, or -1. */
static long long wait_run_sessions(const char *sandbox_id, int want, long ms)
{
    long long t0 = mono_ms();
    do {
        if (emu_run_sessions(sandbox_id) == want)
            return mono_ms() - t0;
        sleep_ms(50);
    } while (mono_ms() - t0 < ms);
    return -1;
}

/* A streamed run on a raw socket (so the test decides exactly when the
 * client goes away): sends the request and reads until the opening
 * comment.  The socket, or -1. */
static int raw_stream(const svc_proc *s, const char *tok, const char *body)
{
    unsigned port = 0;
    char req[2048], got[4096];
    size_t have = 0;
    if (sscanf(s->web.base, "http://127.0.0.1:%u", &port) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int n = snprintf(req, sizeof req,
                     "POST /sessions/active/run/stream HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "\r\n%s", tok, strlen(body), body);
    struct timeval tv = {30, 0};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        write(fd, req, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    got[0] = '\0';
    while (!strstr(got, ": run started") && have < sizeof got - 1) {
        ssize_t k = read(fd, got + have, sizeof got - 1 - have);
        if (k <= 0)
            break;
        have += (size_t)k;
        got[have] = '\0';
    }
    if (strncmp(got, "HTTP/1.1 200", 12) != 0 || !strstr(got, ": run started")) {
        fprintf(stderr, "raw stream: %s\n", got);
        close(fd);
        return -1;
    }
    return fd;
}

#define SILENT "{\"code\":\"import time\\ntime.sleep(60)\"}"

/* A client that goes away while the program prints nothing: the service
 * notices (it is not writing to the socket) and cancels the run, whose
 * toolbox session is deleted within moments, not when the program ends. */
static void test_stream_client_leaves_silent(void)
{
    char tok[128];
    CU_ASSERT_EQUAL_FATAL(make_token(g_db, "mona", tok, sizeof tok), 0);
    cJSON *s = start_session(&g_svc, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const char *sbx = json_str(s, "sandboxId");
    int fd = raw_stream(&g_svc, tok, SILENT);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(wait_run_sessions(sbx, 1, 20000) >= 0);   /* it runs */
    sleep_ms(300);
    close(fd);
    long long took = wait_run_sessions(sbx, 0, 10000);
    fprintf(stderr, "[toolbox session gone %lld ms after the client left] ", took);
    CU_ASSERT(took >= 0 && took < 5000);
    /* The session is fine for the next run. */
    http_resp r = call(&g_svc, "POST", "/sessions/active/run", tok,
                       "{\"code\":\"print(8)\"}");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "output") ? resp_str(&r, "output") : "", "8\n");
    http_resp_free(&r);
    r = call(&g_svc, "DELETE", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    cJSON_Delete(s);
}

/* SIGTERM while a silent program streams: the client gets the 503 `error`
 * event, the run is cancelled (its toolbox session deleted) and the
 * service exits 0 promptly rather than waiting out its 10 s bound. */
static void test_stream_sigterm_silent(void)
{
    char tok[128], db[300], got[4096];
    svc_proc sv;
    tmp_path(db, sizeof db, "sigterm.db");
    CU_ASSERT_EQUAL_FATAL(make_token(db, "nell", tok, sizeof tok), 0);
    const char *extra[] = {"--reap-interval", "0", NULL};
    CU_ASSERT_EQUAL_FATAL(svc_start(&sv, db, NULL, NULL, extra), 0);
    cJSON *s = start_session(&sv, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const char *sbx = json_str(s, "sandboxId");
    int fd = raw_stream(&sv, tok, SILENT);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(wait_run_sessions(sbx, 1, 20000) >= 0);
    long long t0 = mono_ms();
    CU_ASSERT_EQUAL(svc_stop(&sv), 0);
    long long took = mono_ms() - t0;
    fprintf(stderr, "[stopped in %lld ms] ", took);
    CU_ASSERT(took < 8000);
    CU_ASSERT_EQUAL(emu_run_sessions(sbx), 0);
    size_t have = 0;
    ssize_t k;
    while (have < sizeof got - 1 &&
           (k = read(fd, got + have, sizeof got - 1 - have)) > 0)
        have += (size_t)k;
    got[have] = '\0';
    if (!strstr(got, "event: error\ndata: {\"statusCode\":503"))
        fprintf(stderr, "[stream got: %s] ", got);
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "event: error\ndata: {\"statusCode\":503"));
    close(fd);
    /* The session outlives the service; the next one closes it. */
    CU_ASSERT_EQUAL_FATAL(svc_start(&sv, db, NULL, NULL, extra), 0);
    http_resp r = call(&sv, "DELETE", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(svc_stop(&sv), 0);
    cJSON_Delete(s);
}

/* ---------- restarts and crashes ---------- */

/* GET /sessions/active is `want` and a run in it works. */
static void check_resumed(const svc_proc *s, const char *tok, const cJSON *want)
{
    const char *code = json_is_str(want, "language", "python")
                           ? "{\"code\":\"print('again')\"}"
                           : "{\"code\":\"console.log('again')\"}";
    http_resp r = call(s, "GET", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "id") ? resp_str(&r, "id") : "", json_str(want, "id"));
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "sandboxId") ? resp_str(&r, "sandboxId") : "",
                           json_str(want, "sandboxId"));
    http_resp_free(&r);
    r = call(s, "POST", "/sessions/active/run", tok, code);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "output") ? resp_str(&r, "output") : "", "again\n");
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "sessionId") ? resp_str(&r, "sessionId") : "",
                           json_str(want, "id"));
    http_resp_free(&r);
}

static void test_restart_resumes(void)
{
    char db[300], tok[128];
    svc_proc s;
    tmp_path(db, sizeof db, "restart.db");
    CU_ASSERT_EQUAL_FATAL(make_token(db, "lena", tok, sizeof tok), 0);
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, db, NULL, NULL, NULL), 0);
    cJSON *ses = start_session(&s, tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ses);
    /* A graceful stop, exit status 0, and a start on the same database. */
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, db, NULL, NULL, NULL), 0);
    check_resumed(&s, tok, ses);
    /* A crash, then the same. */
    svc_kill9(&s);
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, db, NULL, NULL, NULL), 0);
    check_resumed(&s, tok, ses);
    /* The sandbox stopped meanwhile (auto-stop, say): the run starts it. */
    char path[256];
    snprintf(path, sizeof path, "/api/sandbox/%s/stop", json_str(ses, "sandboxId"));
    http_resp r = http_do(&g_emu, "POST", path, API_KEY, NULL, NULL, 0);
    CU_ASSERT_TRUE(r.status == 200 || r.status == 201);
    http_resp_free(&r);
    check_resumed(&s, tok, ses);
    r = call(&s, "DELETE", "/sessions/active", tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    cJSON_Delete(ses);
}

/* A crash case: its own database and app label, so the emulator's view
 * of "our sandboxes" is this case's alone. */
typedef struct {
    char db[300];
    char app[64];
    char tok[128];
    const char *extra[8];
} crash_case;

static void crash_case_init(crash_case *k, const char *name)
{
    memset(k, 0, sizeof *k);
    tmp_path(k->db, sizeof k->db, name);
    snprintf(k->app, sizeof k->app, "crash-%s-%d", name, g_seq);
    k->extra[0] = "--app";
    k->extra[1] = k->app;
    k->extra[2] = "--reap-interval";
    k->extra[3] = "0";
    CU_ASSERT_EQUAL(make_token(k->db, "mia", k->tok, sizeof k->tok), 0);
}

/* Starts a service of the case armed to SIGKILL itself at `point`, makes
 * `method path body` (which must never get an answer), and checks that
 * the process died of SIGKILL. */
static void crash_at(crash_case *k, const char *point, const char *method,
                     const char *path, const char *body)
{
    svc_proc s;
    char var[128];
    snprintf(var, sizeof var, "DAYTONA_SESSIONS_TEST_CRASH_AT=%s", point);
    const char *env[] = {var, NULL};
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, k->db, NULL, env, k->extra), 0);
    http_resp r = call(&s, method, path, k->tok, body);
    CU_ASSERT_EQUAL(r.status, 0);          /* the connection died with it */
    http_resp_free(&r);
    /* Under a wrapper (valgrind) the status is the wrapper's. */
    int st = svc_wait_death(&s);
    if (!getenv("SESS_WRAPPER")) {
        CU_ASSERT_EQUAL(st, 128 + SIGKILL);
    } else {
        CU_ASSERT_NOT_EQUAL(st, 0);
    }
}

static void test_crash_after_create(void)
{
    crash_case k;
    char ids[8][64];
    svc_proc s;
    crash_case_init(&k, "create");
    crash_at(&k, "after-create", "POST", "/sessions", "{\"language\":\"python\"}");
    /* An orphan: a sandbox of ours that no session records. */
    CU_ASSERT_EQUAL(emu_sandboxes(k.app, "mia", ids, 8), 1);
    cJSON *act = active_sessions(k.db);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(act), 0);
    cJSON_Delete(act);
    /* Restarted: nothing active; the operator's reap deletes the orphan. */
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, k.db, NULL, NULL, k.extra), 0);
    http_resp r = call(&s, "GET", "/sessions/active", k.tok, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    cJSON *rep = admin_reap(k.db, k.app);
    CU_ASSERT_EQUAL(jnum(rep, "sandboxesSeen"), 1);
    CU_ASSERT_EQUAL(jnum(rep, "sandboxesDeleted"), 1);
    CU_ASSERT_EQUAL(jnum(rep, "failures"), 0);
    cJSON_Delete(rep);
    CU_ASSERT_EQUAL(emu_sandboxes(k.app, NULL, ids, 8), 0);
    CU_ASSERT_TRUE(consistent(k.db, k.app));
    /* And the user can start afresh. */
    cJSON *ses = start_session(&s, k.tok, "python");
    CU_ASSERT_PTR_NOT_NULL(ses);
    CU_ASSERT_TRUE(consistent(k.db, k.app));
    cJSON_Delete(ses);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
}

static void test_crash_after_record(void)
{
    crash_case k;
    char ids[8][64];
    svc_proc s;
    crash_case_init(&k, "record");
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, k.db, NULL, NULL, k.extra), 0);
    cJSON *old = start_session(&s, k.tok, "python");
    CU_ASSERT_PTR_NOT_NULL_FATAL(old);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    /* Killed once the new session is recorded, before the replaced
     * sandbox is deleted. */
    crash_at(&k, "after-record", "POST", "/sessions", "{\"language\":\"javascript\"}");
    CU_ASSERT_EQUAL(emu_sandboxes(k.app, "mia", ids, 8), 2);
    /* Restarted with the background reaper (every second, no grace). */
    const char *extra[] = {"--app", k.app, "--reap-interval", "1", "--reap-grace", "0", NULL};
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, k.db, NULL, NULL, extra), 0);
    http_resp r = call(&s, "GET", "/sessions/active", k.tok, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "language") ? resp_str(&r, "language") : "", "javascript");
    CU_ASSERT_STRING_NOT_EQUAL(resp_str(&r, "id") ? resp_str(&r, "id") : "", json_str(old, "id"));
    cJSON *now = cJSON_Duplicate(r.json, 1);
    http_resp_free(&r);
    int n = -1;
    for (int i = 0; i < 100 && (n = emu_sandboxes(k.app, NULL, ids, 8)) != 1; i++)
        sleep_ms(100);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_STRING_EQUAL(ids[0], json_str(now, "sandboxId"));
    CU_ASSERT_FALSE(emu_has_sandbox(json_str(old, "sandboxId")));
    CU_ASSERT_TRUE(consistent(k.db, k.app));
    check_resumed(&s, k.tok, now);
    /* The other half of the invariant: an active session whose sandbox
     * went away is closed by the reaper. */
    CU_ASSERT_EQUAL_FATAL(emu_delete_sandbox(json_str(now, "sandboxId")), 0);
    cJSON *act = NULL;
    for (int i = 0; i < 100; i++) {
        cJSON_Delete(act);
        act = active_sessions(k.db);
        if (cJSON_GetArraySize(act) == 0)
            break;
        sleep_ms(100);
    }
    CU_ASSERT_EQUAL(cJSON_GetArraySize(act), 0);
    cJSON_Delete(act);
    CU_ASSERT_TRUE(consistent(k.db, k.app));
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    cJSON_Delete(old);
    cJSON_Delete(now);
}

static void test_crash_after_close(void)
{
    crash_case k;
    char ids[8][64];
    svc_proc s;
    crash_case_init(&k, "close");
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, k.db, NULL, NULL, k.extra), 0);
    cJSON *ses = start_session(&s, k.tok, "typescript");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ses);
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    crash_at(&k, "after-close", "DELETE", "/sessions/active", NULL);
    CU_ASSERT_EQUAL(emu_sandboxes(k.app, "mia", ids, 8), 1);
    CU_ASSERT_EQUAL_FATAL(svc_start(&s, k.db, NULL, NULL, k.extra), 0);
    http_resp r = call(&s, "GET", "/sessions/active", k.tok, NULL);
    CU_ASSERT_TRUE(is_error(&r, 404, NULL));
    http_resp_free(&r);
    r = call(&s, "GET", "/sessions", k.tok, NULL);
    CU_ASSERT_TRUE(json_is_str(cJSON_GetArrayItem(r.json, 0), "closeReason", "closed"));
    http_resp_free(&r);
    cJSON *rep = admin_reap(k.db, k.app);
    CU_ASSERT_EQUAL(jnum(rep, "sandboxesDeleted"), 1);
    cJSON_Delete(rep);
    CU_ASSERT_EQUAL(emu_sandboxes(k.app, NULL, ids, 8), 0);
    CU_ASSERT_FALSE(emu_has_sandbox(json_str(ses, "sandboxId")));
    CU_ASSERT_TRUE(consistent(k.db, k.app));
    CU_ASSERT_EQUAL(svc_stop(&s), 0);
    cJSON_Delete(ses);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("service", suite_init, suite_cleanup);
    CU_add_test(s, "health needs no token", test_health_needs_no_token);
    CU_add_test(s, "401 without a valid token", test_401_without_valid_token);
    CU_add_test(s, "revoked tokens are 401", test_revoked_token_401);
    CU_add_test(s, "operator commands", test_admin_commands);
    CU_add_test(s, "unknown route and method", test_unknown_route_and_method);
    CU_add_test(s, "CORS", test_cors);
    CU_add_test(s, "sandbox defaults", test_sandbox_defaults);
    CU_add_test(s, "image and resources", test_image_resources);
    CU_add_test(s, "start validation", test_start_validation);
    CU_add_test(s, "start/active/run/close/history", test_lifecycle);
    CU_add_test(s, "users are isolated", test_users_isolated);
    CU_add_test(s, "sandbox gone is 410", test_sandbox_gone_410);
    CU_add_test(s, "concurrent starts", test_concurrent_starts);
    CU_add_test(s, "Daytona unreachable is 502", test_daytona_unreachable_502);
    CU_add_test(s, "stream arrives before the end", test_stream_arrives_before_the_end);
    CU_add_test(s, "stream client leaves", test_stream_client_leaves);
    CU_add_test(s, "silent stream: client leaves", test_stream_client_leaves_silent);
    CU_add_test(s, "silent stream: SIGTERM", test_stream_sigterm_silent);
    CU_add_test(s, "restart resumes sessions", test_restart_resumes);
    CU_add_test(s, "crash after create", test_crash_after_create);
    CU_add_test(s, "crash after record", test_crash_after_record);
    CU_add_test(s, "crash after close", test_crash_after_close);
    int rc = cu_run_and_cleanup();
    curl_global_cleanup();
    return rc;
}
