/*
 * test_emu_exec.c - `daytona-emu exec [FLAGS] -- CMD`, run as a user would
 * run it: the real binary ($EMU_BIN) with a command of our own.
 *
 * Every run gets a private TMPDIR, so "the temporary directory was
 * removed" is simply "TMPDIR is empty afterwards".  Commands that must be
 * observed while they run write their environment to a file and wait for
 * a "go" file; meanwhile the test talks to the emulator with the key it
 * found there and records the emulator's pid (the child of exec that was
 * given --port-file), so it can check afterwards that no process is left
 * and the port is closed.
 *
 * Suites: "status" (0, 3, 127, 126, 128+signal, 125 for exec's own
 * failures, usage), "environment" (the variables, the API answering with
 * that key and refusing others, dtctl through the library, flags given to
 * the emulator), "cleanup" (after success, after a failing CMD, after the
 * emulator failed to start, --data-dir kept), "signals" (SIGTERM, SIGINT
 * and SIGHUP forwarded to CMD and reflected in the status, a trap in CMD
 * runs, SIGKILL of exec still takes the emulator down).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
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
#include "emu_harness.h"
#include "test_net.h"

/* ---------- a private scratch directory per test ---------- */

static char scratch[256];   /* holds tmp/ (exec's TMPDIR) and files */
static char tmpdir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void scratch_new(void)
{
    if (scratch[0])
        nftw(scratch, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(scratch, sizeof scratch, "/tmp/emu-exec-test-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", scratch);
    mkdir(tmpdir, 0700);
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", scratch, name);
}

/* Entries in exec's TMPDIR (0 = everything exec made was removed). */
static int tmpdir_entries(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = calloc(1, 65536);
    size_t n = s ? fread(s, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return s;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------- running exec ---------- */

/* Starts `$EMU_BIN exec ARGS...` with TMPDIR set to the scratch tmp/ and
 * stdout/stderr into scratch/out and scratch/err.  extra_env: "NAME=value"
 * strings to set, may be NULL. */
static pid_t exec_start(const char *const *args, const char *const *extra_env)
{
    const char *bin = getenv("EMU_BIN");
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "exec";
    for (int i = 0; args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char out[400], err[400];
    path_in(out, sizeof out, "out");
    path_in(err, sizeof err, "err");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0)
            _exit(99);
        dup2(fo, 1);
        dup2(fe, 2);
        setenv("TMPDIR", tmpdir, 1);
        for (int i = 0; extra_env && extra_env[i]; i++)
            putenv((char *)extra_env[i]);
        execv(bin, (char *const *)argv);
        _exit(98);
    }
    return pid;
}

/* Waits up to 60 s; returns the exit status, or -1 (killed) on timeout or
 * a signal death. */
static int exec_wait(pid_t pid)
{
    int st;
    for (int i = 0; i < 6000; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        tn_sleep_ms(10);
    }
    fprintf(stderr, "exec did not finish; killing it\n");
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static int exec_run(const char *const *args)
{
    return exec_wait(exec_start(args, NULL));
}

static char *err_text(void)
{
    char p[400];
    path_in(p, sizeof p, "err");
    return read_file(p);
}

/* ---------- observing a running exec ---------- */

typedef struct {
    char api_url[200], api_key[100], emu_url[200];
    int has_jwt;
    pid_t emu_pid;           /* the emulator child of exec */
    emu_proc e;              /* base = DAYTONA_EMU_URL, for http_do */
} observed;

/* The value of NAME in an `env` dump. */
static int env_value(const char *dump, const char *name, char *out, size_t n)
{
    size_t l = strlen(name);
    for (const char *p = dump; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > l && strncmp(p, name, l) == 0 && p[l] == '=') {
            snprintf(out, n, "%.*s", (int)(len - l - 1), p + l + 1);
            return 0;
        }
        p = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* The child of `parent` whose command line holds --port-file. */
static pid_t find_emulator(pid_t parent)
{
    DIR *d = opendir("/proc");
    pid_t found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && !found) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        char p[64], buf[4096];
        snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        int ppid = 0;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');   /* comm may hold spaces */
        if (!rp || sscanf(rp + 2, "%*c %d", &ppid) != 1 || ppid != parent)
            continue;
        snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
        f = fopen(p, "r");
        if (!f)
            continue;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        if (strstr(buf, "--port-file"))
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

/* Waits for CMD's env dump, then fills o.  Returns 0 or -1. */
static int observe(pid_t exec_pid, observed *o)
{
    char envf[400];
    path_in(envf, sizeof envf, "env");
    memset(o, 0, sizeof *o);
    char *dump = NULL;
    for (int i = 0; i < 3000 && !dump; i++) {   /* 30 s */
        char done[400];
        path_in(done, sizeof done, "env.done");
        if (file_exists(done))
            dump = read_file(envf);
        else
            tn_sleep_ms(10);
    }
    if (!dump)
        return -1;
    int rc = env_value(dump, "DAYTONA_API_URL", o->api_url, sizeof o->api_url) |
             env_value(dump, "DAYTONA_API_KEY", o->api_key, sizeof o->api_key) |
             env_value(dump, "DAYTONA_EMU_URL", o->emu_url, sizeof o->emu_url);
    char tmp[200];
    o->has_jwt = env_value(dump, "DAYTONA_JWT_TOKEN", tmp, sizeof tmp) == 0 ||
                 env_value(dump, "DAYTONA_ORGANIZATION_ID", tmp, sizeof tmp) == 0;
    free(dump);
    snprintf(o->e.base, sizeof o->e.base, "%s", o->emu_url);
    o->emu_pid = find_emulator(exec_pid);
    return rc == 0 && o->emu_pid > 0 ? 0 : -1;
}

static void let_go(void)
{
    char go[400];
    path_in(go, sizeof go, "go");
    FILE *f = fopen(go, "w");
    if (f)
        fclose(f);
}

/* A command that dumps its environment, waits for "go", then exits with
 * `code`.  Written to scratch/cmd.sh; returns its path in out. */
static void observed_cmd(char *out, size_t n, int code)
{
    path_in(out, n, "cmd.sh");
    FILE *f = fopen(out, "w");
    if (!f)
        return;
    /* It also ends when the scratch directory goes, so an orphaned one
     * (exec killed) never outlives the test. */
    fprintf(f, "#!/bin/sh\n"
               "echo $$ > %s/cmd.pid\n"
               "env > %s/env && touch %s/env.done\n"
               "while [ ! -e %s/go ] && [ -d %s ]; do sleep 0.05; done\n"
               "exit %d\n", scratch, scratch, scratch, scratch, scratch, code);
    fclose(f);
    chmod(out, 0700);
}

/* After exec ended: the emulator process is gone, its port refuses
 * connections and exec's temporary directory is removed. */
static void assert_all_gone(const observed *o)
{
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {   /* 5 s (reaped by exec) */
        gone = kill(o->emu_pid, 0) != 0 && errno == ESRCH;
        if (!gone)
            tn_sleep_ms(10);
    }
    CU_ASSERT_TRUE(gone);
    http_resp r = http_do(&o->e, "GET", "/_emulator/health", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

/* ---------- suite: status ---------- */

static void test_status_passthrough(void)
{
    scratch_new();
    const char *t[] = {"--", "true", NULL};
    CU_ASSERT_EQUAL(exec_run(t), 0);
    const char *three[] = {"--", "sh", "-c", "exit 3", NULL};
    CU_ASSERT_EQUAL(exec_run(three), 3);
    /* Without flags the -- may be left out. */
    const char *bare[] = {"sh", "-c", "exit 42", NULL};
    CU_ASSERT_EQUAL(exec_run(bare), 42);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

static void test_status_not_found(void)
{
    scratch_new();
    const char *a[] = {"--", "/nonexistent/daytona-test-cmd", "x", NULL};
    CU_ASSERT_EQUAL(exec_run(a), 127);
    char *e = err_text();
    CU_ASSERT_PTR_NOT_NULL(e);
    CU_ASSERT_PTR_NOT_NULL(e && strstr(e, "cannot run '/nonexistent/daytona-test-cmd': "
                                          "No such file or directory"));
    free(e);
    const char *b[] = {"--", "no-such-command-on-path-xyz", NULL};
    CU_ASSERT_EQUAL(exec_run(b), 127);
    /* Present but not executable: 126, as a shell says. */
    char p[400];
    path_in(p, sizeof p, "not-exec");
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("#!/bin/sh\nexit 0\n", f);
        fclose(f);
    }
    chmod(p, 0600);
    const char *c[] = {"--", p, NULL};
    CU_ASSERT_EQUAL(exec_run(c), 126);
    e = err_text();
    CU_ASSERT_PTR_NOT_NULL(e && strstr(e, "Permission denied"));
    free(e);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

static void test_status_signal_death(void)
{
    scratch_new();
    const char *a[] = {"--", "sh", "-c", "kill -KILL $$", NULL};
    CU_ASSERT_EQUAL(exec_run(a), 128 + SIGKILL);
    const char *b[] = {"--", "sh", "-c", "kill -USR1 $$", NULL};
    CU_ASSERT_EQUAL(exec_run(b), 128 + SIGUSR1);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

static void test_status_usage(void)
{
    scratch_new();
    const char *nodash[] = {"--in-memory", "true", NULL};
    CU_ASSERT_EQUAL(exec_run(nodash), 125);
    char *e = err_text();
    CU_ASSERT_PTR_NOT_NULL(e && strstr(e, "put -- before the command"));
    free(e);
    const char *nocmd[] = {"--in-memory", "--", NULL};
    CU_ASSERT_EQUAL(exec_run(nocmd), 125);
    e = err_text();
    CU_ASSERT_PTR_NOT_NULL(e && strstr(e, "no command given"));
    free(e);
    const char *pf[] = {"--port-file", "/tmp/x", "--", "true", NULL};
    CU_ASSERT_EQUAL(exec_run(pf), 125);
    const char *help[] = {"--help", NULL};
    CU_ASSERT_EQUAL(exec_run(help), 0);
    char out[400];
    path_in(out, sizeof out, "out");
    char *o = read_file(out);
    CU_ASSERT_PTR_NOT_NULL(o && strstr(o, "Usage: daytona-emu exec"));
    free(o);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

/* ---------- suite: environment ---------- */

static void test_env_and_api(void)
{
    scratch_new();
    char cmd[400];
    observed_cmd(cmd, sizeof cmd, 0);
    const char *args[] = {"--", cmd, NULL};
    /* Cloud credentials in the caller's environment must not reach CMD. */
    const char *env[] = {"DAYTONA_JWT_TOKEN=eyJ.cloud.jwt",
                         "DAYTONA_ORGANIZATION_ID=org-cloud",
                         "DAYTONA_API_KEY=cloud-key", NULL};
    pid_t pid = exec_start(args, env);
    observed o;
    CU_ASSERT_EQUAL_FATAL(observe(pid, &o), 0);

    unsigned port = 0;
    CU_ASSERT_EQUAL(sscanf(o.emu_url, "http://127.0.0.1:%u", &port), 1);
    CU_ASSERT_TRUE(port > 0 && port < 65536);
    char want[300];
    snprintf(want, sizeof want, "%s/api", o.emu_url);
    CU_ASSERT_STRING_EQUAL(o.api_url, want);
    CU_ASSERT_EQUAL(strlen(o.api_key), 36);      /* "emu-" + 32 random */
    CU_ASSERT_EQUAL(strncmp(o.api_key, "emu-", 4), 0);
    CU_ASSERT_FALSE(o.has_jwt);

    /* The key works, any other is refused: exec gave the emulator only it. */
    http_resp r = http_do(&o.e, "GET", "/api/sandbox", o.api_key, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "\"items\":[]"));
    http_resp_free(&r);
    r = http_do(&o.e, "GET", "/api/sandbox", "cloud-key", NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 401);
    http_resp_free(&r);
    r = http_do(&o.e, "POST", "/api/sandbox", o.api_key, NULL, "{}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "state") ? resp_str(&r, "state") : "", "started");
    http_resp_free(&r);
    /* A fresh data directory inside exec's TMPDIR. */
    r = http_do(&o.e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    const char *dd = resp_str(&r, "dataDir");
    char prefix[400];
    snprintf(prefix, sizeof prefix, "%s/daytona-emu-exec-", tmpdir);
    CU_ASSERT_PTR_NOT_NULL(dd);
    CU_ASSERT_EQUAL(dd ? strncmp(dd, prefix, strlen(prefix)) : -1, 0);
    CU_ASSERT_EQUAL(resp_num(&r, "sandboxes", -1), 1);
    http_resp_free(&r);

    let_go();
    CU_ASSERT_EQUAL(exec_wait(pid), 0);
    assert_all_gone(&o);
}

/* The library itself (through dtctl) finds the emulator from the
 * environment exec sets, with nothing else configured. */
static void test_env_dtctl(void)
{
    scratch_new();
    char dtctl[PATH_MAX];
    snprintf(dtctl, sizeof dtctl, "%s", getenv("EMU_BIN"));
    char *slash = strrchr(dtctl, '/');
    if (!slash)
        return;
    snprintf(slash + 1, sizeof dtctl - (size_t)(slash + 1 - dtctl), "dtctl");
    if (access(dtctl, X_OK) != 0) {
        fprintf(stderr, "(dtctl not built next to EMU_BIN: skipped)\n");
        return;
    }
    char script[PATH_MAX * 2 + 100];
    snprintf(script, sizeof script,
             "%s create --name from-exec >/dev/null && %s list", dtctl, dtctl);
    const char *args[] = {"--", "sh", "-c", script, NULL};
    const char *env[] = {"DAYTONA_API_URL=https://app.daytona.io/api", NULL};
    CU_ASSERT_EQUAL(exec_wait(exec_start(args, env)), 0);
    char out[400];
    path_in(out, sizeof out, "out");
    char *o = read_file(out);
    CU_ASSERT_PTR_NOT_NULL(o && strstr(o, "from-exec"));
    CU_ASSERT_PTR_NOT_NULL(o && strstr(o, "started"));
    free(o);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

/* Emulator flags reach the server; --api-key becomes CMD's key. */
static void test_env_flags(void)
{
    scratch_new();
    char cmd[400];
    observed_cmd(cmd, sizeof cmd, 0);
    const char *args[] = {"--api-key", "my-key", "--in-memory",
                          "--default-snapshot", "custom:1", "--", cmd, NULL};
    pid_t pid = exec_start(args, NULL);
    observed o;
    CU_ASSERT_EQUAL_FATAL(observe(pid, &o), 0);
    CU_ASSERT_STRING_EQUAL(o.api_key, "my-key");
    http_resp r = http_do(&o.e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "\"inMemory\":true"));
    CU_ASSERT_STRING_EQUAL(resp_str(&r, "defaultSnapshot") ? resp_str(&r, "defaultSnapshot") : "",
                           "custom:1");
    http_resp_free(&r);
    r = http_do(&o.e, "GET", "/api/sandbox", "my-key", NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    let_go();
    CU_ASSERT_EQUAL(exec_wait(pid), 0);
    assert_all_gone(&o);
}

/* ---------- suite: cleanup ---------- */

static void test_cleanup_on_failure(void)
{
    scratch_new();
    char cmd[400];
    observed_cmd(cmd, sizeof cmd, 7);
    const char *args[] = {"--", cmd, NULL};
    pid_t pid = exec_start(args, NULL);
    observed o;
    CU_ASSERT_EQUAL_FATAL(observe(pid, &o), 0);
    /* Leave a started sandbox behind: its processes must go too. */
    http_resp r = http_do(&o.e, "POST", "/api/sandbox", o.api_key, NULL, "{}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    let_go();
    CU_ASSERT_EQUAL(exec_wait(pid), 7);
    assert_all_gone(&o);
}

static void test_cleanup_start_failure(void)
{
    scratch_new();
    char marker[400], script[500];
    path_in(marker, sizeof marker, "ran");
    snprintf(script, sizeof script, "touch %s", marker);
    const char *args[] = {"--isolation", "bogus", "--", "sh", "-c", script, NULL};
    CU_ASSERT_EQUAL(exec_run(args), 125);
    CU_ASSERT_FALSE(file_exists(marker));
    char *e = err_text();
    CU_ASSERT_PTR_NOT_NULL(e && strstr(e, "the emulator exited before it was ready"));
    free(e);
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

/* --data-dir is the user's: kept, with the state CMD made. */
static void test_cleanup_keeps_data_dir(void)
{
    scratch_new();
    char dd[400], db[450];
    path_in(dd, sizeof dd, "data");
    snprintf(db, sizeof db, "%s/emulator.db", dd);
    const char *args[] = {"--data-dir", dd, "--", "true", NULL};
    CU_ASSERT_EQUAL(exec_run(args), 0);
    CU_ASSERT_TRUE(file_exists(db));
    CU_ASSERT_EQUAL(tmpdir_entries(), 0);
}

/* ---------- suite: signals ---------- */

/* CMD = sh that execs sleep: the forwarded signal kills it, exec reports
 * 128+sig and leaves nothing behind. */
static void signal_case(int sig)
{
    scratch_new();
    char script[600];
    snprintf(script, sizeof script,
             "env > %s/env && touch %s/env.done && exec sleep 30", scratch, scratch);
    const char *args[] = {"--", "sh", "-c", script, NULL};
    pid_t pid = exec_start(args, NULL);
    observed o;
    CU_ASSERT_EQUAL_FATAL(observe(pid, &o), 0);
    tn_sleep_ms(100);   /* let sh exec sleep */
    CU_ASSERT_EQUAL(kill(pid, sig), 0);
    CU_ASSERT_EQUAL(exec_wait(pid), 128 + sig);
    assert_all_gone(&o);
}

static void test_signal_term(void) { signal_case(SIGTERM); }
static void test_signal_int(void) { signal_case(SIGINT); }
static void test_signal_hup(void) { signal_case(SIGHUP); }

/* CMD traps SIGTERM and cleans up with the API still there. */
static void test_signal_trap(void)
{
    scratch_new();
    char script[1200];
    snprintf(script, sizeof script,
             "trap 'echo trapped > %s/trapped; exit 143' TERM\n"
             "env > %s/env && touch %s/env.done\n"
             "while [ -d %s ]; do sleep 0.05; done\n", scratch, scratch, scratch,
             scratch);
    const char *args[] = {"--", "sh", "-c", script, NULL};
    pid_t pid = exec_start(args, NULL);
    observed o;
    CU_ASSERT_EQUAL_FATAL(observe(pid, &o), 0);
    CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
    CU_ASSERT_EQUAL(exec_wait(pid), 143);
    char trapped[400];
    path_in(trapped, sizeof trapped, "trapped");
    char *t = read_file(trapped);
    CU_ASSERT_PTR_NOT_NULL(t && strcmp(t, "trapped\n") == 0);
    free(t);
    assert_all_gone(&o);
}

/* Even SIGKILL (nothing can be forwarded or cleaned) takes the emulator
 * down with exec: it has a parent-death signal. */
static void test_signal_kill_exec(void)
{
    scratch_new();
    char cmd[400];
    observed_cmd(cmd, sizeof cmd, 0);
    const char *args[] = {"--", cmd, NULL};
    pid_t pid = exec_start(args, NULL);
    observed o;
    CU_ASSERT_EQUAL_FATAL(observe(pid, &o), 0);
    CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
    CU_ASSERT_EQUAL(exec_wait(pid), -1);
    int gone = 0;
    for (int i = 0; i < 1000 && !gone; i++) {   /* its own shutdown: 10 s */
        /* Not our child: a zombie would still answer kill(0), so look at
         * the state in /proc. */
        char p[64], buf[512] = "";
        snprintf(p, sizeof p, "/proc/%d/stat", (int)o.emu_pid);
        FILE *f = fopen(p, "r");
        if (!f) {
            gone = 1;
            break;
        }
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        gone = rp && rp[1] == ' ' && rp[2] == 'Z';
        if (!gone)
            tn_sleep_ms(10);
    }
    CU_ASSERT_TRUE(gone);
    /* The orphaned CMD ends once told to. */
    char pidf[400];
    path_in(pidf, sizeof pidf, "cmd.pid");
    char *ps = read_file(pidf);
    pid_t cmd_pid = ps ? (pid_t)atoi(ps) : 0;
    free(ps);
    let_go();
    int ended = 0;
    for (int i = 0; i < 500 && cmd_pid > 0 && !ended; i++) {
        ended = kill(cmd_pid, 0) != 0;
        if (!ended)
            tn_sleep_ms(10);
    }
    CU_ASSERT_TRUE(ended);
    if (!ended && cmd_pid > 0)
        kill(cmd_pid, SIGKILL);
}

int main(void)
{
    if (!getenv("EMU_BIN")) {
        fprintf(stderr, "EMU_BIN is not set\n");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("status", NULL, NULL);
    CU_add_test(s, "0, 3 and 42 pass through", test_status_passthrough);
    CU_add_test(s, "127 not found, 126 not executable", test_status_not_found);
    CU_add_test(s, "128+N when CMD dies of signal N", test_status_signal_death);
    CU_add_test(s, "usage errors are 125; --help", test_status_usage);
    s = CU_add_suite("environment", NULL, NULL);
    CU_add_test(s, "variables set, key works, others refused", test_env_and_api);
    CU_add_test(s, "dtctl works with nothing configured", test_env_dtctl);
    CU_add_test(s, "emulator flags and --api-key", test_env_flags);
    s = CU_add_suite("cleanup", NULL, NULL);
    CU_add_test(s, "failing CMD: status kept, nothing left", test_cleanup_on_failure);
    CU_add_test(s, "emulator fails to start: 125, CMD not run", test_cleanup_start_failure);
    CU_add_test(s, "--data-dir is kept", test_cleanup_keeps_data_dir);
    s = CU_add_suite("signals", NULL, NULL);
    CU_add_test(s, "SIGTERM forwarded: 143", test_signal_term);
    CU_add_test(s, "SIGINT forwarded: 130", test_signal_int);
    CU_add_test(s, "SIGHUP forwarded: 129", test_signal_hup);
    CU_add_test(s, "CMD's trap runs; exec exits with its status", test_signal_trap);
    CU_add_test(s, "SIGKILL of exec still stops the emulator", test_signal_kill_exec);
    int rc = cu_run_and_cleanup();
    if (scratch[0])
        nftw(scratch, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
