/*
 * util.c - samples and statistics, result rows, and the processes the
 * benchmarks start.  Processes are started with fork + execv and nothing
 * else in between, so a benchmark's own threads never run in the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "bench.h"

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double bench_ms_since(int64_t start_ns)
{
    return (double)(bench_now_ns() - start_ns) / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------- */

void samples_init(samples *s)
{
    memset(s, 0, sizeof *s);
}

void samples_release(samples *s)
{
    free(s->v);
    samples_init(s);
}

void samples_add(samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "bench: out of memory\n");
            abort();
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

void samples_merge(samples *dst, const samples *src)
{
    for (size_t i = 0; i < src->n; i++)
        samples_add(dst, src->v[i]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double samples_pct(const samples *s, double pct)
{
    if (!s || s->n == 0)
        return NAN;
    double *c = malloc(s->n * sizeof *c);
    if (!c)
        abort();
    memcpy(c, s->v, s->n * sizeof *c);
    qsort(c, s->n, sizeof *c, cmp_double);
    /* Nearest rank: the smallest value with at least pct% at or below. */
    size_t rank = (size_t)ceil(pct / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    double v = c[rank - 1];
    free(c);
    return v;
}

double samples_median(const samples *s)
{
    return samples_pct(s, 50);
}

/* ---------------------------------------------------------------- */

static cJSON *g_rows;

cJSON *bench_rows(void)
{
    if (!g_rows)
        g_rows = cJSON_CreateArray();
    return g_rows;
}

/* NaN is not JSON: an absent figure is null. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, round(v * 1000.0) / 1000.0);
}

static cJSON *stats_json(const samples *s)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "min", samples_pct(s, 0));
    add_num(o, "median", samples_median(s));
    add_num(o, "p99", samples_pct(s, 99));
    cJSON_AddNumberToObject(o, "n", s ? (double)s->n : 0);
    return o;
}

static const char *kind_name(target_kind k)
{
    switch (k) {
    case T_RATIO_MAX: return "ratio<=";
    case T_RATIO_MIN: return "ratio>=";
    case T_MEDIAN_MAX: return "median<=";
    case T_P99_MAX: return "p99<=";
    default: return "none";
    }
}

static int target_met(const row_spec *r, double ratio)
{
    double med = samples_median(r->value), p99 = samples_pct(r->value, 99);
    switch (r->target) {
    case T_RATIO_MAX: return isnan(ratio) ? -1 : ratio <= r->limit;
    case T_RATIO_MIN: return isnan(ratio) ? -1 : ratio >= r->limit;
    case T_MEDIAN_MAX: return isnan(med) ? -1 : med <= r->limit;
    case T_P99_MAX: return isnan(p99) ? -1 : p99 <= r->limit;
    default: return -1;
    }
}

void bench_row(const row_spec *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "bench", r->bench);
    cJSON_AddStringToObject(o, "key", r->key);
    cJSON_AddStringToObject(o, "label", r->label);
    cJSON_AddStringToObject(o, "unit", r->unit);
    cJSON_AddItemToObject(o, "value", stats_json(r->value));
    double ratio = NAN;
    if (r->baseline_label) {
        cJSON *b = stats_json(r->baseline);
        cJSON_AddStringToObject(b, "label", r->baseline_label);
        cJSON_AddItemToObject(o, "baseline", b);
        ratio = r->ratio_p99
                    ? samples_pct(r->value, 99) / samples_pct(r->baseline, 99)
                    : samples_median(r->value) / samples_median(r->baseline);
        cJSON_AddStringToObject(o, "ratio_of", r->ratio_p99 ? "p99" : "median");
        /* On a shared machine each side's extreme run (the fastest time,
         * the slowest rate) is its least or most disturbed one: the ratio
         * of the minimums is shown beside the medians'. */
        add_num(o, "ratio_min", samples_pct(r->value, 0) / samples_pct(r->baseline, 0));
    } else {
        cJSON_AddNullToObject(o, "baseline");
    }
    add_num(o, "ratio", ratio);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "kind", kind_name(r->target));
    add_num(t, "limit", r->target == T_NONE ? NAN : r->limit);
    cJSON_AddStringToObject(t, "text", r->target_text ? r->target_text : "—");
    cJSON_AddItemToObject(o, "target", t);
    int met = target_met(r, ratio);
    if (met < 0)
        cJSON_AddNullToObject(o, "met");
    else
        cJSON_AddBoolToObject(o, "met", met);
    cJSON_AddBoolToObject(o, "ok", r->value && r->value->n > 0);
    if (r->note)
        cJSON_AddStringToObject(o, "note", r->note);
    cJSON_AddItemToArray(bench_rows(), o);
}

void bench_fail(int bench, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bench %d (%s): FAILED: %s\n", bench, key, msg);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "bench", bench);
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "label", key);
    cJSON_AddBoolToObject(o, "ok", 0);
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddItemToArray(bench_rows(), o);
}

/* ---------------------------------------------------------------- */

unsigned bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* fork + execv; the child's stdout goes to out_fd (or /dev/null), stderr
 * to /dev/null unless BENCH_VERBOSE is set. */
static pid_t spawn(const char *const *argv, int out_fd)
{
    int quiet = getenv("BENCH_VERBOSE") == NULL;
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        if (quiet)
            dup2(null, 2);
    }
    setpgid(0, 0);   /* so a stop can signal the whole group (Prism forks) */
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int bench_run(const char *const *argv, int out_fd)
{
    pid_t pid = spawn(argv, out_fd);
    return pid < 0 ? -1 : wait_status(pid);
}

int bench_fork_exec_wait(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid < 0 ? -1 : wait_status(pid);
}

static long status_field_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

long proc_rss_kib(pid_t pid) { return status_field_kib(pid, "VmRSS"); }
long proc_hwm_kib(pid_t pid) { return status_field_kib(pid, "VmHWM"); }
long proc_anon_kib(pid_t pid) { return status_field_kib(pid, "RssAnon"); }

long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

int bench_subdir(const bench_cfg *cfg, const char *name, char *out, size_t n)
{
    if ((size_t)snprintf(out, n, "%s/%s", cfg->tmp, name) >= n)
        return -1;
    return mkdir(out, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* ---------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int http_simple(unsigned port, const char *method, const char *path,
                const char *auth, const char *json, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int status = 0;
    char req[2048], resp[65536];
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto out;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, auth ? "Authorization: Bearer " : "",
                     auth ? auth : "", auth ? "\r\n" : "",
                     json ? strlen(json) : 0, json ? json : "");
    if (n < 0 || (size_t)n >= sizeof req || write_all(fd, req, (size_t)n) != 0)
        goto out;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, resp + len, sizeof resp - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof resp - 1)
            break;
    }
    resp[len] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    if (body && cap) {
        const char *b = strstr(resp, "\r\n\r\n");
        snprintf(body, cap, "%s", b ? b + 4 : "");
    }
out:
    close(fd);
    return status;
}

/* ---------------------------------------------------------------- */

static int read_port_file(const char *path, unsigned *port)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%u", port) == 1 && *port > 0;
    fclose(f);
    return ok ? 0 : -1;
}

int emu_spawn(const bench_cfg *cfg, proc_srv *p, int in_memory,
              const char *const *extra)
{
    static unsigned seq;
    memset(p, 0, sizeof *p);
    char bin[512], portfile[400], name[64];
    snprintf(bin, sizeof bin, "%s/daytona-emu", cfg->bin_dir);
    snprintf(name, sizeof name, "emu-%u", ++seq);
    if (bench_subdir(cfg, name, p->dir, sizeof p->dir) != 0)
        return -1;
    snprintf(portfile, sizeof portfile, "%s/port", p->dir);
    if (!in_memory)
        snprintf(p->data, sizeof p->data, "%s/data", p->dir);
    const char *argv[40] = {bin, "--port", "0", "--port-file", portfile,
                            "--data-dir", in_memory ? ":memory:" : p->data,
                            "--log-level", "error"};
    int argc = 9;
    for (int i = 0; extra && extra[i] && argc < 38; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    int64_t t0 = bench_now_ns();
    p->pid = spawn(argv, -1);
    if (p->pid < 0)
        return -1;
    while (read_port_file(portfile, &p->port) != 0) {
        if (bench_ms_since(t0) > 20000 || waitpid(p->pid, NULL, WNOHANG) != 0) {
            fprintf(stderr, "bench: daytona-emu did not start (%s)\n", bin);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->pid = 0;
            return -1;
        }
        usleep(200);
    }
    snprintf(p->base, sizeof p->base, "http://127.0.0.1:%u", p->port);
    snprintf(p->api, sizeof p->api, "%s/api", p->base);
    while (http_simple(p->port, "GET", "/_emulator/health", NULL, NULL, NULL, 0) != 200) {
        if (bench_ms_since(t0) > 20000) {
            srv_stop(p);
            return -1;
        }
        usleep(200);
    }
    p->start_ms = bench_ms_since(t0);
    return 0;
}

void srv_stop(proc_srv *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int64_t t0 = bench_now_ns();
    while (waitpid(p->pid, NULL, WNOHANG) == 0) {
        if (bench_ms_since(t0) > 10000) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            break;
        }
        sleep_ms(2);
    }
    kill(-p->pid, SIGKILL);   /* Prism's forked workers, if any survive */
    p->pid = 0;
}

void emu_cleanup(proc_srv *p)
{
    if (p->dir[0]) {
        const char *argv[] = {"/bin/rm", "-rf", p->dir, NULL};
        bench_run(argv, -1);
        p->dir[0] = '\0';
    }
}

int prism_spawn(const bench_cfg *cfg, proc_srv *p)
{
    memset(p, 0, sizeof *p);
    if (!cfg->prism)
        return -1;
    p->port = bench_free_port();
    char port[16];
    snprintf(port, sizeof port, "%u", p->port);
    const char *argv[] = {cfg->prism, "mock", "-h", "127.0.0.1", "-p", port,
                          cfg->openapi, NULL};
    p->pid = spawn(argv, -1);
    if (p->pid < 0)
        return -1;
    snprintf(p->base, sizeof p->base, "http://127.0.0.1:%u", p->port);
    int64_t t0 = bench_now_ns();
    while (http_simple(p->port, "GET", "/sandbox/x", "k", NULL, NULL, 0) == 0) {
        if (bench_ms_since(t0) > 60000 || waitpid(p->pid, NULL, WNOHANG) != 0) {
            fprintf(stderr, "bench: prism did not start\n");
            srv_stop(p);
            return -1;
        }
        sleep_ms(50);
    }
    return 0;
}

dt_client *bench_client(const proc_srv *p)
{
    dt_config cfg;
    dt_config_init(&cfg);
    cfg.api_url = p->api;
    cfg.api_key = "bench-key";
    cfg.request_timeout_ms = 600000;
    dt_client *c = NULL;
    dt_error err;
    if (dt_client_new(&cfg, &c, &err) != DT_OK) {
        fprintf(stderr, "bench: client: %s\n", err.message);
        return NULL;
    }
    return c;
}

dt_sandbox *bench_create(dt_client *c, const char *language)
{
    dt_create_params p;
    dt_create_params_init(&p);
    p.language = language;
    p.timeout_ms = 120000;
    dt_sandbox *sb = NULL;
    dt_error err;
    if (dt_create(c, &p, &sb, &err) != DT_OK) {
        fprintf(stderr, "bench: create: %s\n", err.message);
        return NULL;
    }
    return sb;
}

typedef struct {
    dt_client *c;
    dt_sandbox **sbs;
    int from, to;
} creator;

static void *creator_main(void *arg)
{
    creator *k = arg;
    for (int i = k->from; i < k->to; i++)
        k->sbs[i] = bench_create(k->c, NULL);
    return NULL;
}

int bench_create_many(dt_client *c, dt_sandbox **sbs, int n, int threads)
{
    creator ks[16];
    pthread_t t[16];
    if (threads < 1 || threads > 16)
        threads = 4;
    for (int i = 0; i < threads; i++) {
        ks[i] = (creator){c, sbs, n * i / threads, n * (i + 1) / threads};
        pthread_create(&t[i], NULL, creator_main, &ks[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++)
        if (!sbs[i])
            return -1;
    return 0;
}
