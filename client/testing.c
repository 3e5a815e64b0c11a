/*
 * testing.c - daytona/testing.h: a private daytona-emu per test or suite,
 * and its admin API (/_emulator/...) from C.
 *
 * The emulator is started the way tests/support/emu_harness does it:
 * fork + exec with --port 0 --port-file, then wait for the file (the
 * emulator writes it only once it accepts connections).  Between fork and
 * exec the child only makes system calls, because the caller may have
 * threads (STYLE.md practice 9): everything it needs -- argv, the path,
 * the log file descriptor -- is prepared before the fork.
 *
 * Admin calls go through the library's own transport (dt__perform) on a
 * private client, so they get its timeouts and error decoding; the admin
 * API is never subject to fault injection, so retries are off.
 */
#include "daytona/testing.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "rnd.h"

#define DT__EMU_MAGIC 0x44544d55u   /* "DTMU" */
#define DT__EMU_MAX_ARGS 96
#define DT__EMU_STOP_MS 10000L
#define DT__EMU_ADMIN_MAX ((size_t)16 * 1024 * 1024)

struct dt_emu {
    unsigned magic;
    pid_t pid;               /* 0 once reaped */
    int wait_status;         /* valid once reaped */
    int reaped_by_other;     /* waitpid said ECHILD */
    unsigned port;
    char *tmpdir;            /* port file (+ data/ when ours); removed */
    char *api_url, *base_url, *api_key;
    dt_client *admin;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void dt_emu_opts_init(dt_emu_opts *opts)
{
    if (opts)
        memset(opts, 0, sizeof *opts);
}

void dt_emu_fault_init(dt_emu_fault *f)
{
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    f->retry_after = -1;
}

/* ---- start-up ---- */

/* opts->binary, $DAYTONA_EMU_BIN, or daytona-emu on PATH, into out. */
static dt_code find_binary(const dt_emu_opts *o, char *out, size_t n,
                           dt_error *err)
{
    const char *b = o->binary && *o->binary ? o->binary : getenv("DAYTONA_EMU_BIN");
    if (b && *b) {
        if (access(b, X_OK) != 0)
            return dt__fail(err, DT_ECONFIG, 0, "daytona-emu program %s: %s", b,
                            strerror(errno));
        if (snprintf(out, n, "%s", b) >= (int)n)
            return dt__fail(err, DT_ECONFIG, 0, "daytona-emu path too long");
        return DT_OK;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; ) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        struct stat st;
        if (snprintf(out, n, "%.*s/daytona-emu", (int)len, len ? p : ".") < (int)n &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return DT_OK;
        if (!colon)
            break;
        p = colon + 1;
    }
    return dt__fail(err, DT_ECONFIG, 0, "daytona-emu not found: set "
                    "dt_emu_opts.binary or DAYTONA_EMU_BIN, or put it on PATH");
}

/* Flags the handle sets itself. */
static int reserved_flag(const char *a)
{
    static const char *const names[] = {"--port-file", "--api-key", "--data-dir",
                                        "--in-memory"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t l = strlen(names[i]);
        if (strncmp(a, names[i], l) == 0 && (a[l] == '\0' || a[l] == '='))
            return 1;
    }
    return 0;
}

/* argv for the server: defaults first so extra_args win (getopt keeps the
 * last), the handle's own flags last. */
static dt_code build_argv(const dt_emu_opts *o, const char *bin, const char *key,
                          const char *data_dir, const char *port_file,
                          const char **argv, dt_error *err)
{
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (int i = 0; o->extra_args && o->extra_args[i]; i++) {
        if (reserved_flag(o->extra_args[i]))
            return dt__fail(err, DT_EINVAL, 0, "extra_args: %s is set through "
                            "dt_emu_opts", o->extra_args[i]);
        if (n >= DT__EMU_MAX_ARGS - 8)
            return dt__fail(err, DT_EINVAL, 0, "extra_args: too many");
        argv[n++] = o->extra_args[i];
    }
    argv[n++] = "--data-dir";
    argv[n++] = data_dir;
    argv[n++] = "--api-key";
    argv[n++] = key;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    argv[n] = NULL;
    return DT_OK;
}

/* Fork + exec.  Only system calls in the child. */
static pid_t spawn(const char *bin, const char *const *argv, int log_fd,
                   int null_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    if (log_fd >= 0) {
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
    }
    /* The caller's other descriptors (a test runner's pipes, sockets) must
     * not be held open by the server. */
#ifdef SYS_close_range
    syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
    execv(bin, (char *const *)argv);
    _exit(127);
}

static void describe_status(int st, char *out, size_t n)
{
    if (WIFEXITED(st))
        snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, n, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(out, n, "stopped (status 0x%x)", (unsigned)st);
}

/* Polls for the port file while the child lives. */
static dt_code wait_ready(dt_emu *e, const char *port_file, long timeout_ms,
                          dt_error *err)
{
    for (long waited = 0; waited <= timeout_ms; waited += 10) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            unsigned p = 0;
            int ok = fscanf(f, "%u", &p) == 1 && p > 0 && p < 65536;
            fclose(f);
            if (ok) {
                e->port = p;
                return DT_OK;
            }
        }
        int st;
        if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
            char why[64];
            describe_status(st, why, sizeof why);
            e->pid = 0;
            return dt__fail(err, DT_EIO, 0, "daytona-emu %s during start-up", why);
        }
        sleep_ms(10);
    }
    return dt__fail(err, DT_ETIMEOUT, 0, "daytona-emu was not ready within %ld ms",
                    timeout_ms);
}

static dt_code make_urls_and_admin(dt_emu *e, dt_error *err)
{
    char base[64], api[80];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", e->port);
    snprintf(api, sizeof api, "%s/api", base);
    e->base_url = strdup(base);
    e->api_url = strdup(api);
    if (!e->base_url || !e->api_url)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    dt_config cfg;
    dt_emu_config(e, &cfg);
    cfg.retry.max_attempts = 1;
    cfg.request_timeout_ms = 30000;
    return dt_client_new(&cfg, &e->admin, err);
}

static dt_code make_tmpdir(dt_emu *e, dt_error *err)
{
    const char *t = getenv("TMPDIR");
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/dt-emu-XXXXXX", t && *t ? t : "/tmp") >=
        (int)sizeof dir)
        return dt__fail(err, DT_EFILE, 0, "TMPDIR too long");
    if (!mkdtemp(dir))
        return dt__fail(err, DT_EFILE, 0, "cannot create a temporary directory "
                        "in %s: %s", t && *t ? t : "/tmp", strerror(errno));
    /* Sandbox users (their own uids when the emulator runs as root) must be
     * able to traverse down to their files. */
    chmod(dir, 0711);
    e->tmpdir = strdup(dir);
    return e->tmpdir ? DT_OK : dt__fail(err, DT_ENOMEM, 0, "out of memory");
}

dt_code dt_emu_start(const dt_emu_opts *opts, dt_emu **out, dt_error *err)
{
    dt_emu_opts defaults;
    dt_emu_opts_init(&defaults);
    const dt_emu_opts *o = opts ? opts : &defaults;
    char bin[PATH_MAX], port_file[PATH_MAX + 16], data_dir[PATH_MAX + 16];
    char keybuf[40] = "emu-";
    const char *argv[DT__EMU_MAX_ARGS];
    int log_fd = -1, null_fd = -1;
    dt_code rc;
    if (!out)
        return dt__fail(err, DT_EINVAL, 0, "out is NULL");
    dt_emu *e = calloc(1, sizeof *e);
    if (!e)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    e->magic = DT__EMU_MAGIC;
    if ((rc = find_binary(o, bin, sizeof bin, err)) != DT_OK ||
        (rc = make_tmpdir(e, err)) != DT_OK)
        goto fail;
    if (!o->api_key && rnd_token(keybuf + 4, 32) != 0) {
        rc = dt__fail(err, DT_EIO, 0, "no randomness for the API key");
        goto fail;
    }
    e->api_key = strdup(o->api_key ? o->api_key : keybuf);
    snprintf(port_file, sizeof port_file, "%s/port", e->tmpdir);
    snprintf(data_dir, sizeof data_dir, "%s/data", e->tmpdir);
    if (!e->api_key) {
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        goto fail;
    }
    if ((rc = build_argv(o, bin, e->api_key, o->data_dir ? o->data_dir : data_dir,
                         port_file, argv, err)) != DT_OK)
        goto fail;
    if (o->log_file &&
        (log_fd = open(o->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                       0644)) < 0) {
        rc = dt__fail(err, DT_EFILE, 0, "log file %s: %s", o->log_file,
                      strerror(errno));
        goto fail;
    }
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    e->pid = spawn(bin, argv, log_fd, null_fd);
    if (e->pid < 0) {
        e->pid = 0;
        rc = dt__fail(err, DT_EIO, 0, "fork: %s", strerror(errno));
        goto fail;
    }
    if ((rc = wait_ready(e, port_file, o->start_timeout_ms > 0 ?
                         o->start_timeout_ms : 30000, err)) != DT_OK ||
        (rc = make_urls_and_admin(e, err)) != DT_OK)
        goto fail;
    if (log_fd >= 0)
        close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    *out = e;
    return DT_OK;
fail:
    if (log_fd >= 0)
        close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    if (e->pid > 0) {
        kill(e->pid, SIGKILL);
        while (waitpid(e->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        e->pid = 0;
    }
    dt_emu_free(e);
    return rc;
}

/* ---- accessors ---- */

const char *dt_emu_api_url(const dt_emu *emu) { return emu ? emu->api_url : NULL; }
const char *dt_emu_api_key(const dt_emu *emu) { return emu ? emu->api_key : NULL; }
const char *dt_emu_base_url(const dt_emu *emu) { return emu ? emu->base_url : NULL; }
unsigned dt_emu_port(const dt_emu *emu) { return emu ? emu->port : 0; }
long dt_emu_pid(const dt_emu *emu) { return emu ? (long)emu->pid : 0; }

void dt_emu_config(const dt_emu *emu, dt_config *cfg)
{
    dt_config_init(cfg);
    if (!emu)
        return;
    cfg->api_url = emu->api_url;
    cfg->api_key = emu->api_key;
}

dt_code dt_emu_client(const dt_emu *emu, dt_client **out, dt_error *err)
{
    if (!emu || emu->magic != DT__EMU_MAGIC || !out)
        return dt__fail(err, DT_EINVAL, 0, "dt_emu_client: invalid arguments");
    dt_config cfg;
    dt_emu_config(emu, &cfg);
    return dt_client_new(&cfg, out, err);
}

/* ---- admin API ---- */

/* One admin request; *response (may be NULL) gets the body. */
static dt_code admin(dt_emu *e, const char *method, const char *path,
                     const char *body, char **response, dt_error *err)
{
    if (!e || e->magic != DT__EMU_MAGIC || !e->admin || !method || !path)
        return dt__fail(err, DT_EINVAL, 0, "invalid arguments");
    buf url;
    buf_init(&url, 8192);
    if (buf_adds(&url, e->base_url) != BUF_OK || buf_adds(&url, path) != BUF_OK) {
        buf_release(&url);
        return dt__fail(err, DT_EINVAL, 0, "admin path too long");
    }
    dt__response rs;
    dt__response_init(&rs);
    dt__request rq = {
        .method = method,
        .url = buf_str(&url),
        .content_type = body ? "application/json" : NULL,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    dt_code rc = dt__perform(e->admin, &rq, &rs, err);
    if (rc == DT_OK && response) {
        char *text = buf_detach(&rs.body, NULL);
        if (!text)
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
        else
            *response = text;
    }
    dt__response_release(&rs);
    buf_release(&url);
    return rc;
}

/* An admin request with a cJSON body and a parsed JSON answer. */
static dt_code admin_json(dt_emu *e, const char *method, const char *path,
                          const cJSON *body, cJSON **out, dt_error *err)
{
    char *text = NULL, *resp = NULL;
    dt_code rc = DT_OK;
    if (body && !(text = cJSON_PrintUnformatted(body)))
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    rc = admin(e, method, path, text, out ? &resp : NULL, err);
    if (rc == DT_OK && out) {
        *out = cJSON_Parse(resp);
        if (!*out)
            rc = dt__fail(err, DT_EPROTO, 0, "%s %s: response is not JSON",
                          method, path);
    }
    free(resp);
    cJSON_free(text);
    return rc;
}

dt_code dt_emu_admin(dt_emu *emu, const char *method, const char *path,
                     const char *json_body, char **response, dt_error *err)
{
    if (!path || path[0] != '/')
        return dt__fail(err, DT_EINVAL, 0, "path must start with /");
    return admin(emu, method, path, json_body, response, err);
}

dt_code dt_emu_reset(dt_emu *emu, dt_error *err)
{
    return admin(emu, "POST", "/_emulator/reset", "{}", NULL, err);
}

dt_code dt_emu_advance_clock(dt_emu *emu, long long ms, dt_error *err)
{
    if (ms < 0)
        return dt__fail(err, DT_EINVAL, 0, "the clock only moves forward");
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddNumberToObject(b, "advanceMs", (double)ms)) {
        cJSON_Delete(b);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    dt_code rc = admin_json(emu, "POST", "/_emulator/clock", b, NULL, err);
    cJSON_Delete(b);
    return rc;
}

dt_code dt_emu_clock_now(dt_emu *emu, long long *now_ms, dt_error *err)
{
    cJSON *o = NULL;
    dt_code rc = admin_json(emu, "GET", "/_emulator/clock", NULL, &o, err);
    if (rc != DT_OK)
        return rc;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "nowMs");
    if (!cJSON_IsNumber(n))
        rc = dt__fail(err, DT_EPROTO, 0, "clock: no nowMs in the answer");
    else if (now_ms)
        *now_ms = (long long)n->valuedouble;
    cJSON_Delete(o);
    return rc;
}

/* ---- faults ---- */

static cJSON *fault_json(const dt_emu_fault *f)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "path", f->path);
    if (ok && f->method)
        ok = cJSON_AddStringToObject(o, "method", f->method) != NULL;
    if (ok && f->status)
        ok = cJSON_AddNumberToObject(o, "status", f->status) != NULL;
    if (ok && f->message)
        ok = cJSON_AddStringToObject(o, "message", f->message) != NULL;
    if (ok && f->latency_ms)
        ok = cJSON_AddNumberToObject(o, "latencyMs", (double)f->latency_ms) != NULL;
    if (ok && f->drop)
        ok = cJSON_AddBoolToObject(o, "drop", 1) != NULL;
    if (ok && f->probability > 0)
        ok = cJSON_AddNumberToObject(o, "probability", f->probability) != NULL;
    if (ok && f->seed)
        ok = cJSON_AddNumberToObject(o, "seed", (double)f->seed) != NULL;
    if (ok && f->times)
        ok = cJSON_AddNumberToObject(o, "times", f->times) != NULL;
    if (ok && f->retry_after >= 0)
        ok = cJSON_AddNumberToObject(o, "retryAfter", f->retry_after) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static dt_code fault_post(dt_emu *emu, const char *text, int *id_out,
                          dt_error *err)
{
    char *resp = NULL;
    dt_code rc = admin(emu, "POST", "/_emulator/faults", text, &resp, err);
    if (rc != DT_OK)
        return rc;
    cJSON *o = cJSON_Parse(resp);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsNumber(id))
        rc = dt__fail(err, DT_EPROTO, 0, "faults: no id in the answer");
    else if (id_out)
        *id_out = id->valueint;
    cJSON_Delete(o);
    free(resp);
    return rc;
}

dt_code dt_emu_fault_add(dt_emu *emu, const dt_emu_fault *f, int *id_out,
                         dt_error *err)
{
    if (!f || !f->path)
        return dt__fail(err, DT_EINVAL, 0, "a fault needs a path");
    cJSON *o = fault_json(f);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    dt_code rc = fault_post(emu, text, id_out, err);
    cJSON_free(text);
    return rc;
}

dt_code dt_emu_fault_add_json(dt_emu *emu, const char *json, int *id_out,
                              dt_error *err)
{
    if (!json)
        return dt__fail(err, DT_EINVAL, 0, "json is NULL");
    return fault_post(emu, json, id_out, err);
}

dt_code dt_emu_fault_remove(dt_emu *emu, int id, dt_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/_emulator/faults/%d", id);
    return admin(emu, "DELETE", path, NULL, NULL, err);
}

dt_code dt_emu_faults_clear(dt_emu *emu, dt_error *err)
{
    return admin(emu, "DELETE", "/_emulator/faults", NULL, NULL, err);
}

/* ---- journal ---- */

void dt_emu_journal_free(dt_emu_request *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++) {
        free(entries[i].time);
        free(entries[i].method);
        free(entries[i].path);
    }
    free(entries);
}

static int is_admin_path(const char *p)
{
    return p && strncmp(p, "/_emulator", 10) == 0 &&
           (p[10] == '\0' || p[10] == '/' || p[10] == '?');
}

/* Copies the selected items of the journal array (the last `limit`). */
static dt_code copy_entries(const cJSON *arr, size_t limit, int include_admin,
                            dt_emu_request **entries, size_t *n, dt_error *err)
{
    size_t total = 0, skip = 0, k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
        if (include_admin || !is_admin_path(dt__jstr(it, "path")))
            total++;
    if (total > limit)
        skip = total - limit;
    dt_emu_request *v = total - skip ? calloc(total - skip, sizeof *v) : NULL;
    if (total - skip && !v)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    cJSON_ArrayForEach(it, arr) {
        const char *path = dt__jstr(it, "path");
        if (!include_admin && is_admin_path(path))
            continue;
        if (skip) {
            skip--;
            continue;
        }
        dt_emu_request *r = &v[k++];
        r->time = xstrdup(dt__jstr(it, "time") ? dt__jstr(it, "time") : "");
        r->method = xstrdup(dt__jstr(it, "method") ? dt__jstr(it, "method") : "");
        r->path = xstrdup(path ? path : "");
        r->status = (int)dt__jnum(it, "status", 0);
        r->duration_ms = (long)dt__jnum(it, "durationMs", 0);
        if (!r->time || !r->method || !r->path) {
            dt_emu_journal_free(v, k);
            return dt__fail(err, DT_ENOMEM, 0, "out of memory");
        }
    }
    *entries = v;
    *n = k;
    return DT_OK;
}

dt_code dt_emu_journal(dt_emu *emu, size_t limit, int include_admin,
                       dt_emu_request **entries, size_t *n, dt_error *err)
{
    if (!entries || !n || limit > 1000)
        return dt__fail(err, DT_EINVAL, 0, "dt_emu_journal: invalid arguments "
                        "(limit is 0..1000)");
    if (limit == 0)
        limit = 1000;
    cJSON *o = NULL;
    /* All of it: admin entries are filtered here, after the fact. */
    dt_code rc = admin_json(emu, "GET", "/_emulator/journal?limit=1000", NULL,
                            &o, err);
    if (rc != DT_OK)
        return rc;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "entries");
    if (!cJSON_IsArray(arr))
        rc = dt__fail(err, DT_EPROTO, 0, "journal: no entries in the answer");
    else
        rc = copy_entries(arr, limit, include_admin, entries, n, err);
    cJSON_Delete(o);
    return rc;
}

dt_code dt_emu_journal_clear(dt_emu *emu, dt_error *err)
{
    return admin(emu, "DELETE", "/_emulator/journal", NULL, NULL, err);
}

/* ---- stop and free ---- */

/* Reaps without blocking; 1 when the child is gone. */
static int reap(dt_emu *e)
{
    int st;
    pid_t r = waitpid(e->pid, &st, WNOHANG);
    if (r == e->pid) {
        e->wait_status = st;
        e->pid = 0;
        return 1;
    }
    if (r < 0 && errno == ECHILD) {
        e->reaped_by_other = 1;
        e->pid = 0;
        return 1;
    }
    return 0;
}

dt_code dt_emu_stop(dt_emu *emu, dt_error *err)
{
    if (!emu || emu->magic != DT__EMU_MAGIC)
        return dt__fail(err, DT_EINVAL, 0, "dt_emu_stop: invalid handle");
    if (emu->pid > 0) {
        kill(emu->pid, SIGTERM);
        for (long waited = 0; waited < DT__EMU_STOP_MS && !reap(emu); waited += 10)
            sleep_ms(10);
        if (emu->pid > 0) {
            kill(emu->pid, SIGKILL);
            int st = 0;
            while (waitpid(emu->pid, &st, 0) < 0 && errno == EINTR)
                ;
            emu->wait_status = st;
            emu->pid = 0;
            return dt__fail(err, DT_EIO, 0, "daytona-emu did not stop within "
                            "%ld ms and was killed", DT__EMU_STOP_MS);
        }
    }
    if (emu->reaped_by_other)
        return DT_OK;   /* someone else's waitpid took the status */
    if (!WIFEXITED(emu->wait_status) || WEXITSTATUS(emu->wait_status) != 0) {
        char why[64];
        describe_status(emu->wait_status, why, sizeof why);
        return dt__fail(err, DT_EIO, 0, "daytona-emu %s", why);
    }
    return DT_OK;
}

static int chmod_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    /* A sandbox may have left a directory without search permission. */
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(p, (sb->st_mode & 07777) | S_IRWXU);
    return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void dt_emu_free(dt_emu *emu)
{
    if (!emu || emu->magic != DT__EMU_MAGIC)
        return;
    if (emu->pid > 0)
        dt_emu_stop(emu, NULL);
    dt_client_free(emu->admin);
    if (emu->tmpdir) {
        nftw(emu->tmpdir, chmod_cb, 32, FTW_PHYS | FTW_MOUNT);
        nftw(emu->tmpdir, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
    free(emu->tmpdir);
    free(emu->api_url);
    free(emu->base_url);
    free(emu->api_key);
    emu->magic = 0;
    free(emu);
}
