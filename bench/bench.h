/*
 * bench.h - the benchmark driver's shared pieces: configuration, samples
 * and their statistics, result rows (the JSON every run writes), and the
 * processes a benchmark starts (daytona-emu, Prism, daytona-sessions).
 *
 * Every benchmark measures its baseline in the same run, on the same
 * machine, right next to the thing measured: the machines these run on are
 * shared and noisy, so a ratio of two numbers taken together says more
 * than either number alone.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "daytona/daytona.h"

/* ------------------------------------------------------------------ */
/* Configuration                                                      */
/* ------------------------------------------------------------------ */

typedef struct {
    int smoke;              /* 1 repetition, tiny sizes: "does it still run" */
    int reps;               /* repetitions of each measurement */
    const char *bin_dir;    /* where daytona-emu & co. are */
    const char *out_path;   /* the JSON written at the end */
    const char *prism;      /* prism executable, or NULL (no baseline) */
    const char *openapi;    /* the OpenAPI document Prism mocks */
    const char *sdk_dir;    /* dir whose node_modules has @daytonaio/sdk */
    const char *seed_js;    /* bench/seed_flow.js */
    char tmp[256];          /* scratch directory of this run (removed) */
    unsigned only;          /* bit i set = run benchmark i; 0 = all */
} bench_cfg;

/* ------------------------------------------------------------------ */
/* Time and samples                                                   */
/* ------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds / milliseconds (as a double). */
int64_t bench_now_ns(void);
double bench_ms_since(int64_t start_ns);

typedef struct {
    double *v;
    size_t n, cap;
} samples;

void samples_init(samples *s);
void samples_release(samples *s);
/* Appends x; aborts the run on allocation failure (a benchmark that lost
 * samples would report a lie). */
void samples_add(samples *s, double x);
void samples_merge(samples *dst, const samples *src);
/* Nearest-rank percentile (0..100) of the samples; NaN when empty. */
double samples_pct(const samples *s, double pct);
double samples_median(const samples *s);

/* ------------------------------------------------------------------ */
/* Result rows                                                        */
/* ------------------------------------------------------------------ */

/* How a row's target is checked. */
typedef enum {
    T_NONE = 0,
    T_RATIO_MAX,     /* ratio <= limit */
    T_RATIO_MIN,     /* ratio >= limit */
    T_MEDIAN_MAX,    /* value median <= limit (in the row's unit) */
    T_P99_MAX        /* value p99 <= limit */
} target_kind;

typedef struct {
    int bench;                 /* 1..8, the table */
    const char *key;           /* stable id, e.g. "2.create.seq.process" */
    const char *label;         /* what was measured */
    const char *unit;          /* "ms", "req/s", "MiB", "KiB", "MiB/s" */
    const samples *value;      /* measured */
    const char *baseline_label;/* NULL = no baseline */
    const samples *baseline;   /* may be NULL even with a label (skipped) */
    target_kind target;
    double limit;
    const char *target_text;   /* as the issue words it */
    int ratio_p99;             /* ratio of the p99s instead of the medians */
    const char *note;          /* may be NULL */
} row_spec;

/* Appends one row (median, p99, n of value and baseline, ratio = value
 * median / baseline median, target and whether it is met) to the run's
 * results.  A value with no samples is recorded as failed. */
void bench_row(const row_spec *r);
/* Records that a benchmark could not run, and why (a failed row). */
void bench_fail(int bench, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The rows so far (owned by the module). */
cJSON *bench_rows(void);

/* ------------------------------------------------------------------ */
/* Processes                                                          */
/* ------------------------------------------------------------------ */

typedef struct {
    pid_t pid;
    unsigned port;
    char base[64];             /* "http://127.0.0.1:PORT" */
    char api[80];              /* base + "/api" */
    char dir[320];             /* scratch directory of this server */
    char data[400];            /* its data directory ("" in memory) */
    double start_ms;           /* fork to the first healthy answer */
} proc_srv;

/* Starts daytona-emu on a free port with a fresh data directory under the
 * run's scratch directory (or in memory when in_memory), plus extra
 * arguments (NULL-terminated, may be NULL); waits for /_emulator/health.
 * 0 on success. */
int emu_spawn(const bench_cfg *cfg, proc_srv *p, int in_memory,
              const char *const *extra);
/* SIGTERM, wait (SIGKILL after 10 s); the data directory is kept (the
 * caller may read its size) until emu_cleanup. */
void srv_stop(proc_srv *p);
void emu_cleanup(proc_srv *p);

/* A libdaytona client for the emulator p (any key is accepted: the
 * benchmarks start it in open mode).  NULL on failure. */
dt_client *bench_client(const proc_srv *p);
/* Creates a sandbox through the client (language may be NULL); NULL and a
 * message on stderr on failure. */
dt_sandbox *bench_create(dt_client *c, const char *language);
/* Creates n sandboxes with `threads` threads into sbs[0..n); 0 when all
 * were made (the ones made are in sbs either way). */
int bench_create_many(dt_client *c, dt_sandbox **sbs, int n, int threads);

/* Starts Prism mocking cfg->openapi on a free port; waits until it
 * answers (up to 60 s). */
int prism_spawn(const bench_cfg *cfg, proc_srv *p);

/* A free TCP port on 127.0.0.1 (bound and released). */
unsigned bench_free_port(void);
/* Runs argv to completion with stdout/stderr to /dev/null (or to out_fd
 * for stdout when >= 0); returns its exit status or -1. */
int bench_run(const char *const *argv, int out_fd);
/* fork + exec + waitpid of argv, nothing else: the issues' process
 * baseline. */
int bench_fork_exec_wait(const char *const *argv);
/* VmRSS / VmHWM of a process in KiB (-1 if unreadable). */
long proc_rss_kib(pid_t pid);
long proc_hwm_kib(pid_t pid);
long proc_anon_kib(pid_t pid);   /* RssAnon: private memory, no libraries */
/* One plain HTTP/1.0 request; returns the status (0 if no answer).  The
 * body (up to cap-1 bytes, NUL-terminated) lands in body when non-NULL. */
int http_simple(unsigned port, const char *method, const char *path,
                const char *auth, const char *json, char *body, size_t cap);
/* Size of a file in bytes (0 if missing). */
long long file_size(const char *path);
/* mkdir -p style scratch dir under cfg->tmp named name; out has the path. */
int bench_subdir(const bench_cfg *cfg, const char *name, char *out, size_t n);

/* ------------------------------------------------------------------ */
/* Load generator                                                     */
/* ------------------------------------------------------------------ */

typedef struct {
    unsigned port;
    const char *path;          /* e.g. "/api/sandbox/<id>" */
    const char *auth;          /* bearer token, or NULL */
    int conns;                 /* keep-alive connections, each closed-loop */
    int threads;               /* epoll threads sharing the connections */
    long warmup_ms;            /* requests before this are not counted */
    long duration_ms;          /* measured window */
} lg_opts;

typedef struct {
    long requests;             /* completed in the window */
    long errors;               /* non-2xx answers, broken connections */
    double rps;
    samples lat_ms;            /* one per request in the window */
} lg_result;

/* Runs the load; 0 on success (errors are counted, not fatal).  Release
 * res->lat_ms with samples_release. */
int loadgen_run(const lg_opts *o, lg_result *res);

/* ------------------------------------------------------------------ */
/* The benchmarks                                                     */
/* ------------------------------------------------------------------ */

void bench1_control_plane(const bench_cfg *cfg);
void bench2_lifecycle(const bench_cfg *cfg);
void bench3_execute(const bench_cfg *cfg);
void bench4_loaded(const bench_cfg *cfg);
void bench5_footprint(const bench_cfg *cfg);
void bench6_seed(const bench_cfg *cfg);
void bench7_sessions(const bench_cfg *cfg);
void bench8_transfer(const bench_cfg *cfg);
/* The transfer client benchmark 8 runs as its own process:
 * dt-bench --xfer up|down API_URL SANDBOX_ID LOCAL REMOTE (argv from "up"). */
int bench_xfer_main(int argc, char **argv);

#endif
