/*
 * test_isolation.c - proves each containment the executor promises
 * (DESIGN.md "Isolation ladder"; peers-and-isolation.md B.3-B.5), against
 * the real daytona-emu binary and its daytona-emu-sandbox launcher.
 *
 * Runs as root (as CI does).  The suite's emulator uses the strongest
 * level the host allows (auto); expectations that depend on the level are
 * derived from /_emulator/info.  Tests that need other flags (a 2 s CPU
 * limit, the process level, a crash, two emulators side by side) start
 * their own emulator; start-up takes milliseconds.
 *
 * "Processes of a sandbox" are found on the host by scanning /proc: every
 * process the launcher starts carries DAYTONA_SANDBOX_ID=<id> in its
 * environment (the launcher itself too), and test commands use marker
 * arguments (sleep 7771, ...) that appear in /proc/PID/cmdline.
 *
 * Every test creates its own sandbox(es); only the tests about stop and
 * delete stop or delete them (the suite's emulator removes the rest when it
 * stops).  CUnit assertions are only made from the main thread; worker
 * threads (blocking executes) just record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "cu_run.h"
#include "emu_harness.h"
#include "test_net.h"
#include "timeutil.h"

#define KEY "iso-key-7f3a9c51"
#define SECRET "s3cr3t-value"
#define SMALL_SB "{\"buildInfo\":{\"dockerfileContent\":\"FROM x\"},\"disk\":1,\"memory\":1}"

/* The suite's emulator: the strongest level, a 64 KiB output cap, a
 * process ceiling of 64 and a generous CPU limit (20 s) so that the tests
 * about wall-clock deadlines and disk limits are not decided by the CPU
 * limit instead; test_cpu_limit starts its own emulator with 2 s. */
static const char *const main_args[] = {
    "--api-key", KEY, "--max-cpu-seconds", "20", "--max-processes", "64",
    "--max-output", "65536", NULL};

static emu_proc E;
static int E_up;
static char E_level[32];      /* executor.level of the suite's emulator */
static int E_uidps;           /* executor.uidPerSandbox */
static int E_ns;              /* level is namespaced or cgroups */

/* An assertion with a printf-formatted text shown in CUnit's failure list
 * (and on stderr), reported at the caller's line. */
static void check_txt(int ok, const char *file, unsigned line,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void check_txt(int ok, const char *file, unsigned line,
                      const char *fmt, ...)
{
    char text[1024] = "";
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n  %s:%u: %s\n", file, line, text);
    }
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, text, file, "",
                            CU_FALSE);
}
#define CHECK(cond, ...) check_txt((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

/* A short, printable excerpt of a (possibly long) body for messages. */
static const char *excerpt(const char *s)
{
    static char out[400];
    snprintf(out, sizeof out, "%.380s%s", s ? s : "(null)",
             s && strlen(s) > 380 ? "..." : "");
    return out;
}

/* ---------- /proc scanning ---------- */

/* Reads a whole /proc file (cmdline, environ) into buf; returns its length
 * or -1. */
static ssize_t read_proc_file(const char *pid, const char *what, char *b, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/%s", pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < n) {
        ssize_t r = read(fd, b + len, n - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return (ssize_t)len;
}

/* Number of host processes (other than this one) whose command line, with
 * its NULs shown as spaces, contains `needle`. */
static int count_cmdline(const char *needle)
{
    static char b[8192];
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
            atoi(de->d_name) == (int)getpid())
            continue;
        ssize_t len = read_proc_file(de->d_name, "cmdline", b, sizeof b - 1);
        if (len <= 0)
            continue;
        for (ssize_t i = 0; i < len; i++)
            if (b[i] == '\0')
                b[i] = ' ';
        b[len] = '\0';
        if (strstr(b, needle))
            n++;
    }
    closedir(d);
    return n;
}

/* Number of host processes whose environment holds DAYTONA_SANDBOX_ID=id:
 * the sandbox's launcher, shell and everything they started. */
static int count_sandbox_procs(const char *id)
{
    static char b[256 * 1024];
    char needle[128];
    int nl = snprintf(needle, sizeof needle, "DAYTONA_SANDBOX_ID=%s", id);
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
            atoi(de->d_name) == (int)getpid())
            continue;
        ssize_t len = read_proc_file(de->d_name, "environ", b, sizeof b);
        if (len <= 0)
            continue;
        for (const char *p = b; p < b + len;) {
            const char *hit = memmem(p, (size_t)(b + len - p), needle, (size_t)nl);
            if (!hit)
                break;
            /* Whole variable: starts an entry and ends at a NUL. */
            if ((hit == b || hit[-1] == '\0') &&
                (hit + nl == b + len || hit[nl] == '\0')) {
                n++;
                break;
            }
            p = hit + 1;
        }
    }
    closedir(d);
    return n;
}

/* Polls until no process matches (count 0) or ms pass; returns the last
 * count. */
static int wait_cmdline_gone(const char *needle, long ms)
{
    int64_t end = time_mono_ms() + ms;
    int n;
    while ((n = count_cmdline(needle)) > 0 && time_mono_ms() < end)
        tn_sleep_ms(20);
    return n;
}

static int wait_sandbox_procs_gone(const char *id, long ms)
{
    int64_t end = time_mono_ms() + ms;
    int n;
    while ((n = count_sandbox_procs(id)) > 0 && time_mono_ms() < end)
        tn_sleep_ms(20);
    return n;
}

/* Polls until at least one process matches or ms pass. */
static int wait_cmdline_seen(const char *needle, long ms)
{
    int64_t end = time_mono_ms() + ms;
    int n;
    while ((n = count_cmdline(needle)) <= 0 && time_mono_ms() < end)
        tn_sleep_ms(20);
    return n;
}

/* ---------- emulator API helpers ---------- */

/* GET /_emulator/info: the executor's level and uidPerSandbox, and the
 * top-level "isolation".  Returns 0 or -1. */
static int read_info(const emu_proc *e, char *level, size_t n, int *uidps,
                     char *iso, size_t isn)
{
    http_resp r = http_do(e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    int rc = -1;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.json, "executor");
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(ex, "level");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(ex, "uidPerSandbox");
    const char *top = resp_str(&r, "isolation");
    if (r.status == 200 && cJSON_IsString(lv)) {
        snprintf(level, n, "%s", lv->valuestring);
        *uidps = cJSON_IsTrue(up);
        if (iso)
            snprintf(iso, isn, "%s", top ? top : "");
        rc = 0;
    } else {
        fprintf(stderr, "\n  /_emulator/info: %ld %s\n", r.status, excerpt(r.body));
    }
    http_resp_free(&r);
    return rc;
}

static int level_is_ns(const char *level)
{
    return strcmp(level, "namespaced") == 0 || strcmp(level, "cgroups") == 0;
}

/* The reported state of a sandbox ("404" when gone). */
static void sb_state(const emu_proc *e, const char *id, char *out, size_t n)
{
    char path[160];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    http_resp r = http_do(e, "GET", path, KEY, NULL, NULL, 0);
    if (r.status == 404)
        snprintf(out, n, "404");
    else if (r.status == 200 && resp_str(&r, "state"))
        snprintf(out, n, "%s", resp_str(&r, "state"));
    else
        snprintf(out, n, "status %ld", r.status);
    http_resp_free(&r);
}

/* Polls until the sandbox reports `want`; 0 when it did within ms. */
static int wait_state(const emu_proc *e, const char *id, const char *want, long ms)
{
    char st[64] = "";
    int64_t end = time_mono_ms() + ms;
    for (;;) {
        sb_state(e, id, st, sizeof st);
        if (strcmp(st, want) == 0)
            return 0;
        if (time_mono_ms() >= end)
            break;
        tn_sleep_ms(50);
    }
    fprintf(stderr, "\n  sandbox %s: state %s, waited for %s\n", id, st, want);
    return -1;
}

/* Creates a sandbox and waits until it is started; its id goes to id_out.
 * Returns 0, or -1 (with a failed assertion). */
static int create_sb_at(const emu_proc *e, const char *body, char *id_out,
                        size_t n, const char *file, unsigned line)
{
    id_out[0] = '\0';
    http_resp r = http_do(e, "POST", "/api/sandbox", KEY, NULL, body ? body : "{}", -1);
    const char *id = resp_str(&r, "id");
    int ok = (r.status == 200 || r.status == 201) && id;
    check_txt(ok, file, line, "create sandbox %s: %ld %s", body ? body : "{}",
              r.status, excerpt(r.body));
    if (ok)
        snprintf(id_out, n, "%s", id);
    http_resp_free(&r);
    if (!ok)
        return -1;
    ok = wait_state(e, id_out, "started", 15000) == 0;
    check_txt(ok, file, line, "sandbox %s did not reach started", id_out);
    return ok ? 0 : -1;
}
#define CREATE_SB(e, body, id) create_sb_at((e), (body), (id), sizeof(id), __FILE__, __LINE__)

static void delete_sb(const emu_proc *e, const char *id)
{
    if (!id || !id[0])
        return;
    char path[160];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    http_resp r = http_do(e, "DELETE", path, KEY, NULL, NULL, 0);
    http_resp_free(&r);
}

/* POST /toolbox/<id>/process/execute {"command":cmd[,"timeout":t]};
 * timeout < 0 = none.  *ms (may be NULL) gets the wall time. */
static http_resp exec_raw(const emu_proc *e, const char *id, const char *cmd,
                          int timeout, int64_t *ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmd);
    if (timeout >= 0)
        cJSON_AddNumberToObject(o, "timeout", timeout);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char path[200];
    snprintf(path, sizeof path, "/toolbox/%s/process/execute", id);
    int64_t t0 = time_mono_ms();
    http_resp r = http_do(e, "POST", path, KEY, NULL, body, -1);
    if (ms)
        *ms = time_mono_ms() - t0;
    free(body);
    return r;
}

/* Runs cmd and asserts a 200 with both keys; returns a copy of "result"
 * ("" on failure; caller frees) and the exit code in *exit_code. */
static char *exec_ok_at(const emu_proc *e, const char *id, const char *cmd,
                        int timeout, int *exit_code, const char *file,
                        unsigned line)
{
    http_resp r = exec_raw(e, id, cmd, timeout, NULL);
    const char *res = resp_str(&r, "result");
    double ec = resp_num(&r, "exitCode", -9999);
    int ok = r.status == 200 && res && ec != -9999;
    check_txt(ok, file, line, "execute `%s`: %ld %s", cmd, r.status, excerpt(r.body));
    if (exit_code)
        *exit_code = (int)ec;
    char *out = strdup(ok ? res : "");
    http_resp_free(&r);
    return out;
}
#define EXEC_OK(e, id, cmd, timeout, ec) \
    exec_ok_at((e), (id), (cmd), (timeout), (ec), __FILE__, __LINE__)

/* An execute running in a worker thread (for commands that block). */
typedef struct {
    const emu_proc *e;
    char id[64];
    const char *cmd;
    int timeout;
    http_resp r;
    atomic_int done;
    _Atomic int64_t done_at;
    pthread_t th;
    int started;
} bg_exec;

static void *bg_main(void *arg)
{
    bg_exec *b = arg;
    b->r = exec_raw(b->e, b->id, b->cmd, b->timeout, NULL);
    atomic_store(&b->done_at, time_mono_ms());
    atomic_store(&b->done, 1);
    return NULL;
}

static int bg_start(bg_exec *b, const emu_proc *e, const char *id,
                    const char *cmd, int timeout)
{
    memset(b, 0, sizeof *b);
    b->e = e;
    snprintf(b->id, sizeof b->id, "%s", id);
    b->cmd = cmd;
    b->timeout = timeout;
    atomic_init(&b->done, 0);
    atomic_init(&b->done_at, 0);
    b->started = pthread_create(&b->th, NULL, bg_main, b) == 0;
    return b->started ? 0 : -1;
}

/* Waits up to ms for the worker to finish; 1 if it did. */
static int bg_wait(bg_exec *b, long ms)
{
    int64_t end = time_mono_ms() + ms;
    while (!atomic_load(&b->done) && time_mono_ms() < end)
        tn_sleep_ms(10);
    return atomic_load(&b->done);
}

/* Joins (the request is bounded by curl's 60 s timeout) and frees. */
static void bg_finish(bg_exec *b)
{
    if (!b->started)
        return;
    pthread_join(b->th, NULL);
    b->started = 0;
    http_resp_free(&b->r);
}

static int64_t health_ms(const emu_proc *e, long *status)
{
    int64_t t0 = time_mono_ms();
    http_resp r = http_do(e, "GET", "/_emulator/health", NULL, NULL, NULL, 0);
    int64_t ms = time_mono_ms() - t0;
    *status = r.status;
    http_resp_free(&r);
    return ms;
}

/* Starts an extra emulator with KEY and more args; asserts it came up. */
static int start_extra(emu_proc *e, const char *data_dir, const char *const *more)
{
    const char *args[32];
    int n = 0;
    args[n++] = "--api-key";
    args[n++] = KEY;
    for (int i = 0; more && more[i] && n < 30; i++)
        args[n++] = more[i];
    args[n] = NULL;
    int rc = emu_start(e, data_dir, args);
    CHECK(rc == 0, "extra emulator did not start (EMU_BIN=%s)",
          getenv("EMU_BIN") ? getenv("EMU_BIN") : "(unset)");
    return rc;
}

/* ---------- suite ---------- */

static int suite_init(void)
{
    /* Test 8 looks for these in the sandbox's environment: the emulator
     * inherits them from us (the harness passes its environment on). */
    setenv("EMU_TEST_SECRET", SECRET, 1);
    setenv("DAYTONA_EMU_TARGET", "us", 1);
    if (emu_start(&E, NULL, main_args) != 0) {
        fprintf(stderr, "isolation: the emulator did not start\n");
        return 1;
    }
    E_up = 1;
    char iso[32];
    if (read_info(&E, E_level, sizeof E_level, &E_uidps, iso, sizeof iso) != 0)
        return 1;
    E_ns = level_is_ns(E_level);
    fprintf(stderr, "\nisolation: level %s (info.isolation %s), uidPerSandbox %d, "
            "euid %d\n", E_level, iso, E_uidps, (int)geteuid());
    return 0;
}

static int suite_cleanup(void)
{
    if (E_up)
        emu_stop(&E);
    E_up = 0;
    unsetenv("EMU_TEST_SECRET");
    unsetenv("DAYTONA_EMU_TARGET");
    return 0;
}

/* Each test's wall time is printed after its name, to keep the whole
 * program's budget (~90 s) visible. */
static int64_t test_t0;

static void test_setup(void)
{
    test_t0 = time_mono_ms();
}

static void test_teardown(void)
{
    fprintf(stderr, "(%lld ms) ", (long long)(time_mono_ms() - test_t0));
}

/* ---------- 1. wall-clock deadline ---------- */

static void test_infinite_loop_deadline(void)
{
    char id[64];
    if (CREATE_SB(&E, "{}", id) != 0)
        return;
    int64_t ms = 0;
    http_resp r = exec_raw(&E, id, "while :; do :; done", 2, &ms);
    CHECK(r.status == 408, "status %ld, want 408: %s", r.status, excerpt(r.body));
    const char *code = resp_str(&r, "code"), *msg = resp_str(&r, "message");
    CHECK(code && strcmp(code, "REQUEST_TIMEOUT") == 0, "code %s", code ? code : "(none)");
    CHECK(msg && strcmp(msg, "request timeout: command execution timeout") == 0,
          "message %s", msg ? msg : "(none)");
    CHECK(ms >= 2000 && ms <= 4000, "wall time %lld ms, want 2000..4000", (long long)ms);
    http_resp_free(&r);
    int left = wait_sandbox_procs_gone(id, 500);
    CHECK(left == 0, "%d process(es) of sandbox %s still alive after the 408", left, id);
}

/* ---------- 2. CPU limit ---------- */

static void test_cpu_limit(void)
{
    static const char *const more[] = {"--max-cpu-seconds", "2", NULL};
    emu_proc e2;
    if (start_extra(&e2, ":memory:", more) != 0)
        return;
    char id[64];
    if (CREATE_SB(&e2, "{}", id) == 0) {
        int ec = -1;
        int64_t t0 = time_mono_ms();
        char *out = EXEC_OK(&e2, id, "python3 -c 'while True: pass'; echo rc=$?", -1, &ec);
        int64_t ms = time_mono_ms() - t0;
        /* SIGXCPU at the soft limit: the shell reports 128 + SIGXCPU
         * (24 -> 152 on Linux x86/arm), not 137 (SIGKILL at the hard
         * limit). */
        char want[32];
        snprintf(want, sizeof want, "rc=%d", 128 + SIGXCPU);
        CHECK(strstr(out, want) != NULL, "want %s (SIGXCPU), got %s", want, excerpt(out));
        CHECK(ec == 0, "exitCode %d", ec);
        CHECK(ms < 15000, "the CPU-limited command took %lld ms", (long long)ms);
        free(out);
        CHECK(wait_sandbox_procs_gone(id, 500) == 0, "processes left");
    }
    emu_stop(&e2);
}

/* ---------- 3. memory ---------- */

static void test_memory_hog(void)
{
    char id[64];
    if (CREATE_SB(&E, SMALL_SB, id) != 0)
        return;
    int ec = -1;
    char *out = EXEC_OK(&E, id, "python3 -c 'x=bytearray(3*1024**3)'; echo rc=$?", 60, &ec);
    CHECK(ec == 0, "exitCode %d: %s", ec, excerpt(out));
    CHECK(strstr(out, "MemoryError") != NULL, "no MemoryError: %s", excerpt(out));
    CHECK(strstr(out, "rc=1\n") != NULL, "want rc=1: %s", excerpt(out));
    free(out);
    long st = 0;
    int64_t ms = health_ms(&E, &st);
    CHECK(st == 200 && ms < 1000, "health after the hog: %ld in %lld ms", st, (long long)ms);
}

/* ---------- 4. fork bomb ---------- */

static void test_fork_bomb(void)
{
    char id[64];
    if (CREATE_SB(&E, SMALL_SB, id) != 0)
        return;
    bg_exec b;
    if (bg_start(&b, &E, id, "bomb(){ bomb|bomb& }; bomb", 5) != 0) {
        CU_FAIL("pthread_create");
        return;
    }
    /* Health from this (second) thread while the bomb runs. */
    int checks = 0, slow = 0, bad = 0;
    int64_t worst = 0, t_end = time_mono_ms() + 15000;
    while ((!atomic_load(&b.done) || checks < 3) && time_mono_ms() < t_end) {
        long st = 0;
        int64_t ms = health_ms(&E, &st);
        checks++;
        if (ms > worst)
            worst = ms;
        slow += ms >= 1000;
        bad += st != 200;
        tn_sleep_ms(100);
    }
    int done = bg_wait(&b, 15000);
    CHECK(done, "the fork-bomb request did not return");
    CHECK(checks > 0 && slow == 0 && bad == 0,
          "health during the bomb: %d checks, %d slow (worst %lld ms), %d not 200",
          checks, slow, (long long)worst, bad);
    if (done)
        CHECK(b.r.status == 200 || b.r.status == 408, "bomb: %ld %s", b.r.status,
              excerpt(b.r.body));
    bg_finish(&b);

    http_resp r = exec_raw(&E, id, "echo ok", -1, NULL);
    char *txt = r.json ? cJSON_PrintUnformatted(r.json) : NULL;
    CHECK(r.status == 200 && txt && strcmp(txt, "{\"exitCode\":0,\"result\":\"ok\\n\"}") == 0,
          "after the bomb: %ld %s", r.status, excerpt(r.body));
    free(txt);
    http_resp_free(&r);
    int left = wait_sandbox_procs_gone(id, 1000);
    CHECK(left == 0, "%d process(es) of the bomb's sandbox left", left);
}

/* ---------- 5. escaped children are swept ---------- */

/* Runs the setsid / double-fork / nohup escape with markers base..base+2.
 * At the process level none survives the command.  At the namespaced
 * levels they live on, as on Daytona (the command returns once its shell
 * ended and its output closed), and the sandbox's stop ends every one. */
static void check_escapees(const emu_proc *e, const char *id, int base, int survive)
{
    char cmd[320], m[3][32];
    for (int i = 0; i < 3; i++)
        snprintf(m[i], sizeof m[i], "sleep %d", base + i);
    snprintf(cmd, sizeof cmd,
             "setsid %s >/dev/null 2>&1 & (%s >/dev/null 2>&1 &); "
             "nohup %s >/dev/null 2>&1 & echo started",
             m[0], m[1], m[2]);
    int ec = -1;
    int64_t t0 = time_mono_ms();
    char *out = EXEC_OK(e, id, cmd, -1, &ec);
    CHECK(strcmp(out, "started\n") == 0, "result %s", excerpt(out));
    CHECK(ec == 0, "exitCode %d", ec);
    CHECK(time_mono_ms() - t0 < 5000, "the command took %lld ms", (long long)(time_mono_ms() - t0));
    free(out);
    if (!survive) {
        for (int i = 0; i < 3; i++) {
            int left = wait_cmdline_gone(m[i], 500);
            CHECK(left == 0, "`%s` survived the command (%d left)", m[i], left);
        }
        return;
    }
    /* (A background child may not have executed its program yet when the
     * shell ends.) */
    for (int i = 0; i < 3; i++)
        CHECK(wait_cmdline_seen(m[i], 3000) == 1, "`%s` did not outlive its command", m[i]);
    /* The stop ends them all. */
    char path[160];
    snprintf(path, sizeof path, "/api/sandbox/%s/stop", id);
    http_resp r = http_do(e, "POST", path, KEY, NULL, NULL, 0);
    CHECK(r.status == 200, "stop: %ld %s", r.status, excerpt(r.body));
    http_resp_free(&r);
    for (int i = 0; i < 3; i++) {
        int left = wait_cmdline_gone(m[i], 500);
        CHECK(left == 0, "`%s` survived the sandbox's stop (%d left)", m[i], left);
    }
    CHECK(wait_sandbox_procs_gone(id, 500) == 0, "processes of the stopped sandbox left");
}

static void test_escaped_children_swept(void)
{
    char id[64];
    if (CREATE_SB(&E, "{}", id) != 0)
        return;
    check_escapees(&E, id, 7771, E_ns);
}

/* ---------- 6. output cap ---------- */

static void test_output_flood(void)
{
    char id[64];
    if (CREATE_SB(&E, "{}", id) != 0)
        return;
    int64_t ms = 0;
    http_resp r = exec_raw(&E, id, "yes", -1, &ms);
    CHECK(r.status == 200, "status %ld: %s", r.status, excerpt(r.body));
    CHECK(ms < 5000, "took %lld ms", (long long)ms);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r.json, "result");
    size_t len = cJSON_IsString(res) ? strlen(res->valuestring) : 0;
    CHECK(len == 65536, "result length %zu, want 65536", len);
    int pattern_ok = len > 0;
    for (size_t i = 0; i < len && pattern_ok; i++)
        pattern_ok = res->valuestring[i] == (i % 2 ? '\n' : 'y');
    CHECK(pattern_ok, "result is not \"y\\n\" repeated");
    double ec = resp_num(&r, "exitCode", -9999);
    CHECK(ec == -1, "exitCode %g, want -1 (killed)", ec);
    http_resp_free(&r);
    CHECK(wait_sandbox_procs_gone(id, 500) == 0, "`yes` still running");
}

/* ---------- 7. file-size limit ---------- */

static void test_disk_fill(void)
{
    char id[64];
    if (CREATE_SB(&E, SMALL_SB, id) != 0)
        return;
    int ec = -1;
    char *out = EXEC_OK(&E, id,
                        "head -c 2000000000 /dev/zero > big; echo rc=$?; "
                        "stat -c %s big; rm -f big", 60, &ec);
    char want[32];
    snprintf(want, sizeof want, "rc=%d\n", 128 + SIGXFSZ);
    CHECK(strstr(out, want) != NULL, "want %s(SIGXFSZ): %s", want, excerpt(out));
    CHECK(strstr(out, "\n1073741824\n") != NULL, "size of big is not 1 GiB: %s",
          excerpt(out));
    free(out);
}

/* ---------- 8. environment ---------- */

static void test_no_secret_in_env(void)
{
    char id[64];
    if (CREATE_SB(&E, "{\"env\":{\"ISO_VAR\":\"iso-value\"}}", id) != 0)
        return;
    int ec = -1;
    char *out = EXEC_OK(&E, id, "env", -1, &ec);
    CHECK(ec == 0, "exitCode %d", ec);
    CHECK(strstr(out, SECRET) == NULL, "the emulator's environment leaked: %s", excerpt(out));
    CHECK(strstr(out, KEY) == NULL, "the API key leaked: %s", excerpt(out));
    CHECK(strstr(out, "DAYTONA_EMU_") == NULL, "DAYTONA_EMU_ variables leaked: %s",
          excerpt(out));
    CHECK(strstr(out, "EMU_BIN=") == NULL, "the test's environment leaked: %s",
          excerpt(out));
    char want[128];
    snprintf(want, sizeof want, "DAYTONA_SANDBOX_ID=%s\n", id);
    CHECK(strstr(out, want) != NULL, "no %s in %s", want, excerpt(out));
    CHECK(strstr(out, "ISO_VAR=iso-value\n") != NULL, "create-time env missing: %s",
          excerpt(out));
    if (E_ns)
        CHECK(strncmp(out, "HOME=/home/daytona\n", 19) == 0 ||
              strstr(out, "\nHOME=/home/daytona\n") != NULL,
              "HOME is not /home/daytona: %s", excerpt(out));
    else
        CHECK(strstr(out, "/home/daytona\n") != NULL, "HOME: %s", excerpt(out));
    free(out);
}

/* ---------- 9. files of another sandbox ---------- */

static char found_path[4096];
static char find_suffix[200];

static int find_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t pl = strlen(p), sl = strlen(find_suffix);
    if (flag == FTW_F && pl >= sl && strcmp(p + pl - sl, find_suffix) == 0 &&
        strstr(p, "/.rootfs/") == NULL) {
        snprintf(found_path, sizeof found_path, "%s", p);
        return 1;
    }
    return 0;
}

static void test_cross_sandbox_files(void)
{
    char a[64], b[64];
    if (CREATE_SB(&E, "{}", a) != 0 || CREATE_SB(&E, "{}", b) != 0)
        return;
    int ec = -1;
    char *out = EXEC_OK(&E, a, "echo secret-A > /home/daytona/a.txt && "
                               "cat /home/daytona/a.txt", -1, &ec);
    CHECK(strcmp(out, "secret-A\n") == 0, "A cannot write its own file: %s", excerpt(out));
    free(out);

    /* Where A's file really is on the host (the test runs as root). */
    found_path[0] = '\0';
    snprintf(find_suffix, sizeof find_suffix, "/home/daytona/a.txt");
    char root[700];
    snprintf(root, sizeof root, "%s/sandboxes/%s", E.data_dir, a);
    nftw(root, find_cb, 32, FTW_PHYS);
    CHECK(found_path[0] != '\0', "A's a.txt not found under %s", root);

    char cmd[6000];
    snprintf(cmd, sizeof cmd,
             "cat /home/daytona/a.txt 2>&1; echo ==; "
             "cat '%s' 2>&1; echo ==; "
             "ls -d /tmp/daytona-emu-* /tmp/emu-test-* 2>&1; echo ==; "
             "cat %s/sandboxes/%s/home/daytona/a.txt %s/sandboxes/%s/fs/home/daytona/a.txt 2>&1; "
             "echo ==; cat /tmp/emu-test-*/sandboxes/%s/*/daytona/a.txt "
             "/tmp/emu-test-*/sandboxes/%s/fs/home/daytona/a.txt 2>&1; echo end",
             found_path[0] ? found_path : "/nonexistent", E.data_dir, a, E.data_dir,
             a, a, a);
    out = EXEC_OK(&E, b, cmd, 20, &ec);
    CHECK(strstr(out, "secret-A") == NULL, "sandbox B read A's file: %s", excerpt(out));
    CHECK(strstr(out, "end\n") != NULL, "B's command did not finish: %s", excerpt(out));
    CHECK(strncmp(out, "cat: /home/daytona/a.txt: No such file or directory", 51) == 0,
          "B's own /home/daytona/a.txt: %s", excerpt(out));
    if (E_ns) {
        /* Not visible at all in B's mount namespace. */
        const char *sec = strstr(out, "==\n");
        const char *sec_end = sec ? strstr(sec + 3, "==\n") : NULL;
        int hidden = sec && sec_end &&
                     memmem(sec, (size_t)(sec_end - sec), "No such file or directory",
                            25) != NULL;
        CHECK(hidden, "A's host path is visible to B: %s", excerpt(out));
    }
    free(out);
}

/* ---------- 10. uid per sandbox ---------- */

static long sandbox_uid(const emu_proc *e, const char *id)
{
    int ec = -1;
    char *out = EXEC_OK(e, id, "id -u", -1, &ec);
    char *end = NULL;
    long uid = strtol(out, &end, 10);
    if (end == out || *end != '\n' || ec != 0)
        uid = -1;
    CHECK(uid >= 0, "`id -u`: %s", excerpt(out));
    free(out);
    return uid;
}

static void test_uid_per_sandbox(void)
{
    if (E_ns)
        CHECK(E_uidps, "level %s as root but uidPerSandbox is false", E_level);
    if (!E_uidps) {
        fprintf(stderr, "(uidPerSandbox false: skipped) ");
        return;
    }
    char a[64], b[64];
    if (CREATE_SB(&E, "{}", a) != 0 || CREATE_SB(&E, "{}", b) != 0)
        return;
    long ua = sandbox_uid(&E, a), ub = sandbox_uid(&E, b);
    CHECK(ua != ub, "both sandboxes run as uid %ld", ua);
    CHECK(ua != 0 && ub != 0, "a sandbox runs as root (%ld, %ld)", ua, ub);
}

/* ---------- 11. delete and stop kill everything ---------- */

static void test_delete_and_stop_kill(void)
{
    char id[64];
    if (CREATE_SB(&E, "{}", id) != 0)
        return;
    bg_exec b;
    if (bg_start(&b, &E, id, "sleep 7781", -1) != 0) {
        CU_FAIL("pthread_create");
        return;
    }
    CHECK(wait_cmdline_seen("sleep 7781", 3000) > 0, "sleep 7781 never started");
    /* The detector the other tests rely on sees the running sandbox
     * (launcher, shell, sleep). */
    CHECK(count_sandbox_procs(id) >= 2, "only %d process(es) carry DAYTONA_SANDBOX_ID=%s",
          count_sandbox_procs(id), id);
    char path[160];
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    int64_t t0 = time_mono_ms();
    http_resp r = http_do(&E, "DELETE", path, KEY, NULL, NULL, 0);
    CHECK(r.status == 200 || r.status == 204, "DELETE: %ld %s", r.status, excerpt(r.body));
    http_resp_free(&r);
    int done = bg_wait(&b, 3000);
    CHECK(done, "the blocked execute did not return within 3 s of the DELETE");
    if (done)
        CHECK(atomic_load(&b.done_at) - t0 <= 3000, "returned %lld ms after DELETE",
              (long long)(atomic_load(&b.done_at) - t0));
    int left = wait_cmdline_gone("sleep 7781", 500);
    CHECK(left == 0, "sleep 7781 of the deleted sandbox is still running");
    CHECK(wait_sandbox_procs_gone(id, 500) == 0, "processes of the deleted sandbox left");
    if (!done) {
        /* Do not hang for curl's 60 s: the process is already reported. */
        pthread_detach(b.th);
        b.started = 0;
    }
    bg_finish(&b);

    /* Stop: processes gone, files kept. */
    char s[64];
    if (CREATE_SB(&E, "{}", s) != 0)
        return;
    int ec = -1;
    char *out = EXEC_OK(&E, s, "echo kept > /home/daytona/keep.txt && echo w", -1, &ec);
    CHECK(strcmp(out, "w\n") == 0, "write: %s", excerpt(out));
    free(out);
    if (bg_start(&b, &E, s, "sleep 7782", -1) != 0) {
        CU_FAIL("pthread_create");
        return;
    }
    CHECK(wait_cmdline_seen("sleep 7782", 3000) > 0, "sleep 7782 never started");
    snprintf(path, sizeof path, "/api/sandbox/%s/stop", s);
    t0 = time_mono_ms();
    r = http_do(&E, "POST", path, KEY, NULL, NULL, 0);
    CHECK(r.status == 200, "stop: %ld %s", r.status, excerpt(r.body));
    http_resp_free(&r);
    done = bg_wait(&b, 3000);
    CHECK(done, "the blocked execute did not return within 3 s of the stop");
    left = wait_cmdline_gone("sleep 7782", 500);
    CHECK(left == 0, "sleep 7782 of the stopped sandbox is still running");
    CHECK(wait_state(&E, s, "stopped", 10000) == 0, "not stopped");
    CHECK(wait_sandbox_procs_gone(s, 500) == 0, "processes of the stopped sandbox left");
    if (!done) {
        pthread_detach(b.th);
        b.started = 0;
    }
    bg_finish(&b);
    snprintf(path, sizeof path, "/api/sandbox/%s/start", s);
    r = http_do(&E, "POST", path, KEY, NULL, NULL, 0);
    CHECK(r.status == 200, "start: %ld %s", r.status, excerpt(r.body));
    http_resp_free(&r);
    if (wait_state(&E, s, "started", 15000) == 0) {
        out = EXEC_OK(&E, s, "cat /home/daytona/keep.txt", -1, &ec);
        CHECK(strcmp(out, "kept\n") == 0, "file written before the stop: %s", excerpt(out));
        free(out);
    } else {
        CU_FAIL("the stopped sandbox did not start again");
    }
}

/* ---------- 12. emulator crash ---------- */

static void test_crash_leaves_no_orphans(void)
{
    emu_proc e3;
    if (start_extra(&e3, NULL, NULL) != 0)
        return;
    char dir[sizeof e3.data_dir], portfile[sizeof e3.port_file];
    snprintf(dir, sizeof dir, "%s", e3.data_dir);
    snprintf(portfile, sizeof portfile, "%s", e3.port_file);
    char id[64];
    if (CREATE_SB(&e3, "{}", id) != 0) {
        emu_stop(&e3);
        return;
    }
    bg_exec b;
    if (bg_start(&b, &e3, id, "sleep 7791", -1) != 0) {
        CU_FAIL("pthread_create");
        emu_stop(&e3);
        return;
    }
    CHECK(wait_cmdline_seen("sleep 7791", 3000) > 0, "sleep 7791 never started");
    emu_kill9(&e3);
    int left = wait_cmdline_gone("sleep 7791", 2000);
    CHECK(left == 0, "sleep 7791 outlived the emulator's SIGKILL by 2 s");
    CHECK(wait_sandbox_procs_gone(id, 500) == 0,
          "processes of the crashed emulator's sandbox left");
    /* Its supervisor (a fork with the same command line) goes too. */
    CHECK(wait_cmdline_gone(portfile, 1000) == 0,
          "a process of the killed emulator (%s) is still running", portfile);
    bg_wait(&b, 5000);
    bg_finish(&b);

    /* A restart on the same data directory runs commands in that sandbox
     * again (leftover cgroups or files do not get in the way). */
    if (emu_start(&e3, dir, (const char *const[]){"--api-key", KEY, NULL}) != 0) {
        CU_FAIL("the emulator did not restart after the crash");
        snprintf(e3.data_dir, sizeof e3.data_dir, "%s", dir);
        e3.owns_dir = 1;
        emu_cleanup_dir(&e3);
        return;
    }
    e3.owns_dir = 1;
    char st[64];
    sb_state(&e3, id, st, sizeof st);
    if (strcmp(st, "started") != 0) {
        char path[160];
        snprintf(path, sizeof path, "/api/sandbox/%s/start", id);
        http_resp r = http_do(&e3, "POST", path, KEY, NULL, NULL, 0);
        http_resp_free(&r);
    }
    if (wait_state(&e3, id, "started", 15000) == 0) {
        int ec = -1;
        char *out = EXEC_OK(&e3, id, "echo ok", -1, &ec);
        CHECK(strcmp(out, "ok\n") == 0 && ec == 0, "after restart: %d %s", ec, excerpt(out));
        free(out);
    } else {
        CU_FAIL("sandbox not started after the restart");
    }

    /* A graceful stop (SIGTERM) with a command running ends the command
     * and the emulator promptly (the harness falls back to SIGKILL after
     * 5 s and then reports -1). */
    if (bg_start(&b, &e3, id, "sleep 7792", -1) != 0) {
        CU_FAIL("pthread_create");
        emu_stop(&e3);
        return;
    }
    CHECK(wait_cmdline_seen("sleep 7792", 3000) > 0, "sleep 7792 never started");
    int64_t t0 = time_mono_ms();
    int st_exit = emu_stop(&e3);
    int64_t ms = time_mono_ms() - t0;
    CHECK(st_exit == 0 && ms < 3000,
          "SIGTERM with `sleep 7792` running: exit status %d after %lld ms "
          "(want 0 within 3 s)", st_exit, (long long)ms);
    CHECK(wait_cmdline_gone("sleep 7792", 1000) == 0,
          "sleep 7792 outlived the emulator's graceful stop");
    if (!bg_wait(&b, 5000)) {
        pthread_detach(b.th);
        b.started = 0;
    }
    bg_finish(&b);
}

/* ---------- 13. network ---------- */

static void test_network_block_all(void)
{
    if (!E_ns) {
        fprintf(stderr, "(level %s: skipped) ", E_level);
        return;
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
        CU_FAIL("cannot open a listening socket on 127.0.0.1");
        if (s >= 0)
            close(s);
        return;
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd,
             "exec 3<>/dev/tcp/127.0.0.1/%u && echo connected || echo refused",
             (unsigned)ntohs(sa.sin_port));
    char blocked[64], open_sb[64];
    if (CREATE_SB(&E, "{\"networkBlockAll\":true}", blocked) == 0) {
        int ec = -1;
        char *out = EXEC_OK(&E, blocked, cmd, 10, &ec);
        CHECK(strstr(out, "refused\n") != NULL && strstr(out, "connected") == NULL,
              "networkBlockAll sandbox reached the host's 127.0.0.1: %s", excerpt(out));
        free(out);
    }
    /* Every sandbox has a network of its own (loopback only): the host's
     * 127.0.0.1 is out of reach for a normal sandbox too, while its own
     * loopback works (tests/integration/test_netns.c covers the rest). */
    if (CREATE_SB(&E, "{}", open_sb) == 0) {
        int ec = -1;
        char *out = EXEC_OK(&E, open_sb, cmd, 10, &ec);
        CHECK(strstr(out, "refused\n") != NULL && strstr(out, "connected") == NULL,
              "a sandbox reached the host's 127.0.0.1: %s", excerpt(out));
        free(out);
        out = EXEC_OK(&E, open_sb,
                      "python3 -c \"import socket; s = socket.socket(); "
                      "s.bind(('127.0.0.1', 0)); s.listen(); "
                      "socket.create_connection(s.getsockname()); print('own loopback')\"",
                      10, &ec);
        CHECK(strcmp(out, "own loopback\n") == 0, "a sandbox's own loopback failed: %s",
              excerpt(out));
        free(out);
    }
    close(s);
}

/* ---------- 14. hostname, /proc, read-only system ---------- */

static void test_namespace_view(void)
{
    if (!E_ns) {
        fprintf(stderr, "(level %s: skipped) ", E_level);
        return;
    }
    char id[64];
    if (CREATE_SB(&E, "{}", id) != 0)
        return;
    char probe[64], cmd[300];
    snprintf(probe, sizeof probe, "/usr/iso-probe-%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "hostname; ls /proc | grep -c '^[0-9]'; touch %s 2>&1; echo rc=$?",
             probe);
    int ec = -1;
    char *out = EXEC_OK(&E, id, cmd, 10, &ec);
    char host[128] = "";
    int nproc = -1;
    sscanf(out, "%127s %d", host, &nproc);
    CHECK(strcmp(host, id) == 0, "hostname %s, want %s", host, id);
    CHECK(nproc > 0 && nproc < 10, "the sandbox sees %d processes in /proc: %s", nproc,
          excerpt(out));
    CHECK(strstr(out, "Read-only file system") != NULL && strstr(out, "rc=0\n") == NULL,
          "writing to /usr: %s", excerpt(out));
    CHECK(access(probe, F_OK) != 0, "%s was created on the host", probe);
    unlink(probe);
    free(out);
}

/* ---------- 15. the process level ---------- */

static void test_process_level(void)
{
    static const char *const more[] = {"--isolation", "process", NULL};
    emu_proc ep;
    if (start_extra(&ep, NULL, more) != 0)
        return;
    char level[32] = "", iso[32] = "";
    int uidps = 0;
    CHECK(read_info(&ep, level, sizeof level, &uidps, iso, sizeof iso) == 0, "info");
    CHECK(strcmp(level, "process") == 0, "executor.level %s", level);
    CHECK(strcmp(iso, "process") == 0, "isolation %s", iso);
    char id[64];
    if (CREATE_SB(&ep, "{}", id) == 0) {
        int ec = -1;
        char *out = EXEC_OK(&ep, id, "echo hi; pwd", -1, &ec);
        CHECK(ec == 0 && strncmp(out, "hi\n", 3) == 0, "echo: %d %s", ec, excerpt(out));
        CHECK(strstr(out, "/home/daytona\n") != NULL, "cwd: %s", excerpt(out));
        free(out);
        check_escapees(&ep, id, 7774, 0);
        /* The wall-clock deadline holds at this level too. */
        int64_t ms = 0;
        http_resp r = exec_raw(&ep, id, "sleep 7777", 1, &ms);
        CHECK(r.status == 408 && ms < 3000, "deadline: %ld after %lld ms", r.status,
              (long long)ms);
        http_resp_free(&r);
        CHECK(wait_cmdline_gone("sleep 7777", 500) == 0, "sleep 7777 survived its deadline");
    }
    emu_stop(&ep);

    /* An unknown level is a start-up error with exit status 2. */
    const char *bin = getenv("EMU_BIN");
    pid_t p = fork();
    if (p == 0) {
        int dn = open("/dev/null", O_RDWR);
        if (dn >= 0) {
            dup2(dn, 1);
            dup2(dn, 2);
        }
        execl(bin ? bin : "/nonexistent", bin ? bin : "daytona-emu", "--port", "0",
              "--data-dir", ":memory:", "--isolation", "bogus", (char *)NULL);
        _exit(127);
    }
    int st = -1, reaped = 0;
    for (int i = 0; i < 500 && p > 0; i++) {
        if (waitpid(p, &st, WNOHANG) == p) {
            reaped = 1;
            break;
        }
        tn_sleep_ms(10);
    }
    if (!reaped && p > 0) {
        kill(p, SIGKILL);
        waitpid(p, &st, 0);
    }
    CHECK(reaped && WIFEXITED(st) && WEXITSTATUS(st) == 2,
          "--isolation bogus: %s %d", reaped ? "exit status" : "still running after 5 s",
          reaped && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---------- 16. two emulators on one host ---------- */

/*
 * Every test may start its own emulator, so several run side by side on a
 * host (ctest -j, parallel CI jobs).  A sandbox of one must not share a
 * uid with a sandbox of another: the uid sweep on stop/delete would kill
 * the other emulator's processes, RLIMIT_NPROC would be shared, and at the
 * process level the 0700 directories would not keep them apart.
 */
static void test_two_emulators_apart(void)
{
    emu_proc f1, f2;
    if (start_extra(&f1, ":memory:", NULL) != 0)
        return;
    if (start_extra(&f2, ":memory:", NULL) != 0) {
        emu_stop(&f1);
        return;
    }
    char level[32] = "";
    int uidps = 0;
    read_info(&f1, level, sizeof level, &uidps, NULL, 0);
    char a[64], b[64];
    if (CREATE_SB(&f1, "{}", a) == 0 && CREATE_SB(&f2, "{}", b) == 0) {
        if (uidps) {
            long ua = sandbox_uid(&f1, a), ub = sandbox_uid(&f2, b);
            CHECK(ua != ub, "the first sandbox of two emulators both run as uid %ld", ua);
        }
        bg_exec bg;
        if (bg_start(&bg, &f1, a, "sleep 7801", -1) == 0) {
            CHECK(wait_cmdline_seen("sleep 7801", 3000) > 0, "sleep 7801 never started");
            delete_sb(&f2, b);
            tn_sleep_ms(300);
            CHECK(count_cmdline("sleep 7801") == 1,
                  "deleting a sandbox of another emulator killed this one's process");
            int ended = atomic_load(&bg.done);
            CHECK(!ended, "the execute in emulator 1 ended early: %ld %s",
                  ended ? bg.r.status : 0L, ended ? excerpt(bg.r.body) : "");
            /* Killing emulator 1 ends its blocked execute. */
            emu_kill9(&f1);
            if (!bg_wait(&bg, 5000)) {
                CU_FAIL("the execute did not end when its emulator stopped");
                pthread_detach(bg.th);
                bg.started = 0;
            }
            bg_finish(&bg);
            CHECK(wait_cmdline_gone("sleep 7801", 1000) == 0,
                  "sleep 7801 outlived its emulator");
        }
    }
    if (f1.pid > 0)
        emu_stop(&f1);
    emu_stop(&f2);
}

/* 17: many long-running executions at once (one per sandbox) never delay
 * control-plane requests or a short command in another sandbox. */
#define BUSY 20
static void test_concurrency(void)
{
    static bg_exec bg[BUSY];
    char ids[BUSY][64], quick[64];
    int n = 0;
    for (; n < BUSY; n++)
        if (create_sb_at(&E, "{}", ids[n], sizeof ids[n], __FILE__, __LINE__) != 0)
            break;
    CU_ASSERT_EQUAL_FATAL(n, BUSY);
    CU_ASSERT_FATAL(create_sb_at(&E, "{}", quick, sizeof quick, __FILE__, __LINE__) == 0);
    for (int i = 0; i < BUSY; i++)
        bg_start(&bg[i], &E, ids[i], "sleep 4; echo slept", 0);
    CU_ASSERT(wait_cmdline_seen("sleep 4", 3000));
    /* While all twenty sleep: GETs of each sandbox and a list answer fast,
     * and a command in another sandbox runs at once. */
    int64_t worst = 0;
    for (int i = 0; i < BUSY; i++) {
        char path[160];
        snprintf(path, sizeof path, "/api/sandbox/%s", ids[i]);
        int64_t t0 = time_mono_ms();
        http_resp r = http_do(&E, "GET", path, KEY, NULL, NULL, 0);
        int64_t ms = time_mono_ms() - t0;
        CU_ASSERT_EQUAL(r.status, 200);
        http_resp_free(&r);
        if (ms > worst)
            worst = ms;
    }
    int64_t t0 = time_mono_ms();
    http_resp l = http_do(&E, "GET", "/api/sandbox?limit=200", KEY, NULL, NULL, 0);
    CU_ASSERT_EQUAL(l.status, 200);
    http_resp_free(&l);
    char *out = exec_ok_at(&E, quick, "echo quick", 0, NULL, __FILE__, __LINE__);
    int64_t quick_ms = time_mono_ms() - t0;
    CU_ASSERT_PTR_NOT_NULL(out);
    if (out)
        CU_ASSERT_STRING_EQUAL(out, "quick\n");
    free(out);
    CU_ASSERT(worst < 500);
    CU_ASSERT(quick_ms < 2000);
    fprintf(stderr, "\n    worst GET %lld ms, list + quick command %lld ms while %d "
            "commands sleep\n", (long long)worst, (long long)quick_ms, BUSY);
    for (int i = 0; i < BUSY; i++) {
        CU_ASSERT(bg_wait(&bg[i], 15000));
        CU_ASSERT_EQUAL(bg[i].r.status, 200);
        bg_finish(&bg[i]);
        delete_sb(&E, ids[i]);
    }
    delete_sb(&E, quick);
}

int main(void)
{
    if (geteuid() != 0)
        fprintf(stderr, "test_isolation: not root; level-dependent checks adapt\n");
    curl_global_init(CURL_GLOBAL_ALL);
    signal(SIGPIPE, SIG_IGN);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite_with_setup_and_teardown(
        "isolation", suite_init, suite_cleanup, test_setup, test_teardown);
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"01 infinite loop killed at the deadline (408)", test_infinite_loop_deadline},
        {"02 CPU spinner stopped by RLIMIT_CPU (SIGXCPU)", test_cpu_limit},
        {"03 memory hog gets MemoryError, emulator fine", test_memory_hog},
        {"04 fork bomb contained, emulator answers", test_fork_bomb},
        {"05 setsid/double-fork/nohup children: swept at the stop (at command end: process level)", test_escaped_children_swept},
        {"06 output flood capped at --max-output", test_output_flood},
        {"07 disk fill stopped by RLIMIT_FSIZE (SIGXFSZ)", test_disk_fill},
        {"08 no emulator secret in the environment", test_no_secret_in_env},
        {"09 sandbox B cannot read sandbox A's files", test_cross_sandbox_files},
        {"10 a uid per sandbox", test_uid_per_sandbox},
        {"11 delete/stop leave no process", test_delete_and_stop_kill},
        {"12 emulator SIGKILL/SIGTERM leaves no orphan", test_crash_leaves_no_orphans},
        {"13 no sandbox reaches the host's 127.0.0.1", test_network_block_all},
        {"14 hostname, private /proc, read-only /usr", test_namespace_view},
        {"15 --isolation process still contains; bogus exits 2", test_process_level},
        {"16 two emulators' sandboxes stay apart", test_two_emulators_apart},
        {"17 long executions never delay the control plane", test_concurrency},
    };
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
    int rc = cu_run_and_cleanup();
    curl_global_cleanup();
    return rc;
}
