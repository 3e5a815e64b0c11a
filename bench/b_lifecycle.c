/*
 * b_lifecycle.c - benchmarks 2 and 3, at every isolation level the host
 * gives (the emulator's --isolation): create -> started -> delete through
 * libdaytona, sequential and 100 at once, against fork + exec + wait of
 * /bin/true; and /process/execute of `true` against bash -c true.
 *
 * Baseline and measured operations alternate one for one, so a burst of
 * load from a neighbour lands on both.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char *const LEVELS[] = {"process", "namespaced", "cgroups"};
#define NLEVELS 3

static const char *const TRUE_ARGV[] = {"/bin/true", NULL};
static const char *const BASH_ARGV[] = {"/bin/bash", "-c", "true", NULL};

static double level_limit(int level, double process_limit, double ns_limit)
{
    return level == 0 ? process_limit : ns_limit;
}

static int spawn_level(const bench_cfg *cfg, proc_srv *emu, int level)
{
    const char *extra[] = {"--isolation", LEVELS[level], NULL};
    return emu_spawn(cfg, emu, 0, extra);
}

static void sequential(const bench_cfg *cfg, dt_client *c, int level)
{
    int n = cfg->smoke ? 3 : 40 * cfg->reps;
    samples cr, del, base;
    samples_init(&cr); samples_init(&del); samples_init(&base);
    for (int i = 0; i < n; i++) {
        int64_t t0 = bench_now_ns();
        bench_fork_exec_wait(TRUE_ARGV);
        samples_add(&base, bench_ms_since(t0));
        t0 = bench_now_ns();
        dt_sandbox *sb = bench_create(c, NULL);
        if (!sb)
            break;
        samples_add(&cr, bench_ms_since(t0));
        t0 = bench_now_ns();
        if (dt_sandbox_delete(sb, 60000, NULL) == DT_OK)
            samples_add(&del, bench_ms_since(t0));
        dt_sandbox_free(sb);
    }
    char key[64], key2[64], label[128];
    snprintf(key, sizeof key, "2.create.seq.%s", LEVELS[level]);
    snprintf(key2, sizeof key2, "2.delete.seq.%s", LEVELS[level]);
    snprintf(label, sizeof label, "create -> started (sequential), %s", LEVELS[level]);
    bench_row(&(row_spec){.bench = 2, .key = key, .label = label, .unit = "ms",
        .value = &cr, .baseline_label = "fork+exec+wait /bin/true",
        .baseline = &base, .target = T_RATIO_MAX,
        .limit = level_limit(level, 3, 10),
        .target_text = level == 0 ? "p50 <= 3x fork/exec" : "p50 <= 10x fork/exec"});
    snprintf(label, sizeof label, "delete -> gone (sequential), %s", LEVELS[level]);
    bench_row(&(row_spec){.bench = 2, .key = key2, .label = label, .unit = "ms",
        .value = &del, .baseline_label = "fork+exec+wait /bin/true",
        .baseline = &base, .target = T_NONE});
    samples_release(&cr); samples_release(&del); samples_release(&base);
}

typedef struct {
    dt_client *c;            /* NULL: the baseline (fork/exec) */
    pthread_barrier_t *go;
    double create_ms, cycle_ms;
    int ok;
} racer;

static void *racer_main(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    int64_t t0 = bench_now_ns();
    if (!r->c) {
        r->ok = bench_fork_exec_wait(TRUE_ARGV) == 0;
        r->create_ms = r->cycle_ms = bench_ms_since(t0);
        return NULL;
    }
    dt_sandbox *sb = bench_create(r->c, NULL);
    if (!sb)
        return NULL;
    r->create_ms = bench_ms_since(t0);
    r->ok = dt_sandbox_delete(sb, 120000, NULL) == DT_OK;
    r->cycle_ms = bench_ms_since(t0);
    dt_sandbox_free(sb);
    return NULL;
}

/* n threads released at once; each result into out (create) / cyc. */
static void race(dt_client *c, int n, samples *out, samples *cyc)
{
    racer *rs = calloc((size_t)n, sizeof *rs);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    pthread_barrier_t go;
    if (!rs || !t)
        goto out;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        rs[i] = (racer){.c = c, .go = &go};
        pthread_create(&t[i], NULL, racer_main, &rs[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        if (rs[i].ok) {
            samples_add(out, rs[i].create_ms);
            if (cyc)
                samples_add(cyc, rs[i].cycle_ms);
        }
    }
    pthread_barrier_destroy(&go);
out:
    free(rs);
    free(t);
}

static void concurrent(const bench_cfg *cfg, dt_client *c, int level)
{
    int n = cfg->smoke ? 4 : 100;
    samples cr, cyc, base;
    samples_init(&cr); samples_init(&cyc); samples_init(&base);
    for (int rep = 0; rep < cfg->reps; rep++) {
        race(NULL, n, &base, NULL);
        race(c, n, &cr, &cyc);
    }
    char key[64], label[128], note[128];
    snprintf(key, sizeof key, "2.create.conc.%s", LEVELS[level]);
    snprintf(label, sizeof label, "create -> started (%d at once), %s", n, LEVELS[level]);
    snprintf(note, sizeof note, "create->delete cycle p50 %.2f ms, p99 %.2f ms; %zu of %d completed",
             samples_median(&cyc), samples_pct(&cyc, 99), cr.n, n * cfg->reps);
    bench_row(&(row_spec){.bench = 2, .key = key, .label = label, .unit = "ms",
        .value = &cr, .baseline_label = "as many fork+exec+wait /bin/true at once",
        .baseline = &base, .target = T_RATIO_MAX,
        .limit = level_limit(level, 3, 10),
        .target_text = level == 0 ? "p50 <= 3x fork/exec" : "p50 <= 10x fork/exec",
        .note = note});
    samples_release(&cr); samples_release(&cyc); samples_release(&base);
}

void bench2_lifecycle(const bench_cfg *cfg)
{
    for (int level = 0; level < NLEVELS; level++) {
        proc_srv emu;
        if (spawn_level(cfg, &emu, level) != 0) {
            fprintf(stderr, "bench 2: isolation %s not available here\n", LEVELS[level]);
            continue;
        }
        dt_client *c = bench_client(&emu);
        if (c) {
            sequential(cfg, c, level);
            concurrent(cfg, c, level);
        }
        dt_client_free(c);
        srv_stop(&emu);
        emu_cleanup(&emu);
    }
}

void bench3_execute(const bench_cfg *cfg)
{
    int n = cfg->smoke ? 3 : 60 * cfg->reps;
    for (int level = 0; level < NLEVELS; level++) {
        proc_srv emu;
        if (spawn_level(cfg, &emu, level) != 0)
            continue;
        dt_client *c = bench_client(&emu);
        dt_sandbox *sb = c ? bench_create(c, NULL) : NULL;
        samples ex, base;
        samples_init(&ex); samples_init(&base);
        for (int i = 0; sb && i < n; i++) {
            int64_t t0 = bench_now_ns();
            bench_fork_exec_wait(BASH_ARGV);
            samples_add(&base, bench_ms_since(t0));
            dt_exec_result r;
            dt_error err;
            t0 = bench_now_ns();
            if (dt_exec(sb, "true", NULL, &r, &err) != DT_OK) {
                fprintf(stderr, "bench 3: exec: %s\n", err.message);
                break;
            }
            double ms = bench_ms_since(t0);
            if (r.exit_code == 0)
                samples_add(&ex, ms);
            dt_exec_result_release(&r);
        }
        char key[64], label[128];
        snprintf(key, sizeof key, "3.exec.%s", LEVELS[level]);
        snprintf(label, sizeof label, "/process/execute `true` via libdaytona, %s",
                 LEVELS[level]);
        bench_row(&(row_spec){.bench = 3, .key = key, .label = label, .unit = "ms",
            .value = &ex, .baseline_label = "fork+exec+wait bash -c true",
            .baseline = &base, .target = T_RATIO_MAX,
            .limit = level_limit(level, 1.5, 3),
            .target_text = level == 0 ? "<= 1.5x bash -c true" : "<= 3x bash -c true"});
        samples_release(&ex); samples_release(&base);
        if (sb)
            dt_sandbox_delete(sb, 60000, NULL);
        dt_sandbox_free(sb);
        dt_client_free(c);
        srv_stop(&emu);
        emu_cleanup(&emu);
    }
}
