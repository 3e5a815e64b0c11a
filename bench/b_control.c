/*
 * b_control.c - benchmarks 1 and 4: the control plane under keep-alive load
 * (GET of one sandbox by 32 closed-loop connections), against a Prism mock
 * of Daytona's OpenAPI document, and while 200 sandboxes each have a
 * command sleeping in them.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define CONNS 32
#define THREADS 2

static void lg_opts_for(const bench_cfg *cfg, lg_opts *o, unsigned port,
                        const char *path)
{
    *o = (lg_opts){.port = port, .path = path, .auth = "bench-key",
                   .conns = CONNS, .threads = THREADS,
                   .warmup_ms = cfg->smoke ? 100 : 500,
                   .duration_ms = cfg->smoke ? 300 : 4000};
}

/* One measured window; rps into rps (may be NULL), latencies into lat. */
static int measure(const lg_opts *o, samples *rps, samples *lat, long *errors)
{
    lg_result r;
    if (loadgen_run(o, &r) != 0)
        return -1;
    if (rps)
        samples_add(rps, r.rps);
    samples_merge(lat, &r.lat_ms);
    *errors += r.errors;
    samples_release(&r.lat_ms);
    return r.requests > 0 ? 0 : -1;
}

void bench1_control_plane(const bench_cfg *cfg)
{
    proc_srv emu, prism;
    samples e_rps, e_lat, p_rps, p_lat, few_lat;
    samples_init(&e_rps); samples_init(&e_lat); samples_init(&few_lat);
    samples_init(&p_rps); samples_init(&p_lat);
    long e_err = 0, p_err = 0;
    int have_prism = 0;
    if (emu_spawn(cfg, &emu, 0, NULL) != 0) {
        bench_fail(1, "1.get", "daytona-emu did not start");
        return;
    }
    char id[128] = "", body[8192], path[256], ppath[256];
    if (http_simple(emu.port, "POST", "/api/sandbox", "bench-key", "{}", body,
                    sizeof body) != 200) {
        bench_fail(1, "1.get", "create failed: %.200s", body);
        goto out;
    }
    cJSON *j = cJSON_Parse(body);
    const char *jid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "id"));
    snprintf(id, sizeof id, "%s", jid ? jid : "");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/api/sandbox/%s", id);
    snprintf(ppath, sizeof ppath, "/sandbox/%s", id); /* Prism: no /api */
    have_prism = prism_spawn(cfg, &prism) == 0;
    /* Alternating runs, so a noisy neighbour hurts both sides alike. */
    for (int rep = 0; rep < cfg->reps; rep++) {
        lg_opts o;
        lg_opts_for(cfg, &o, emu.port, path);
        if (measure(&o, &e_rps, &e_lat, &e_err) != 0)
            fprintf(stderr, "bench 1: emulator run %d got no answers\n", rep);
        /* The same at 4 clients: how much of the p99 is queueing of 32
         * threads on this machine's cores. */
        o.conns = 4;
        measure(&o, NULL, &few_lat, &e_err);
        if (have_prism) {
            lg_opts_for(cfg, &o, prism.port, ppath);
            if (measure(&o, &p_rps, &p_lat, &p_err) != 0)
                fprintf(stderr, "bench 1: prism run %d got no answers\n", rep);
        }
    }
    char note[256];
    snprintf(note, sizeof note, "%d connections, %d loader threads, %ld ms windows;"
             " errors: emulator %ld, Prism %ld%s", CONNS, THREADS,
             cfg->smoke ? 300L : 4000L, e_err, p_err,
             have_prism ? "" : "; Prism not available: no baseline");
    bench_row(&(row_spec){.bench = 1, .key = "1.rps",
        .label = "GET /api/sandbox/{id}, keep-alive, 32 clients", .unit = "req/s",
        .value = &e_rps, .baseline_label = "Prism mock (v0.190.0 OpenAPI)",
        .baseline = have_prism ? &p_rps : NULL, .target = T_RATIO_MIN,
        .limit = 20, .target_text = ">= 20x Prism's req/s", .note = note});
    bench_row(&(row_spec){.bench = 1, .key = "1.latency",
        .label = "GET latency under that load", .unit = "ms",
        .value = &e_lat, .baseline_label = "Prism mock",
        .baseline = have_prism ? &p_lat : NULL, .target = T_P99_MAX,
        .limit = 5, .target_text = "p99 <= 5 ms"});
    bench_row(&(row_spec){.bench = 1, .key = "1.latency.4clients",
        .label = "GET latency at 4 keep-alive clients (for comparison)", .unit = "ms",
        .value = &few_lat, .target = T_NONE});
    if (have_prism)
        srv_stop(&prism);
out:
    srv_stop(&emu);
    emu_cleanup(&emu);
    samples_release(&e_rps); samples_release(&e_lat); samples_release(&few_lat);
    samples_release(&p_rps); samples_release(&p_lat);
}

/* ---------------------------------------------------------------- */
/* Benchmark 4                                                       */

typedef struct {
    dt_sandbox *sb;
    const char *cmd;
    pthread_t tid;
    int started;
} sleeper;

static void *sleeper_main(void *arg)
{
    sleeper *s = arg;
    dt_exec_result r;
    /* Ends when the sandbox is deleted under it: that is the point. */
    if (dt_exec(s->sb, s->cmd, NULL, &r, NULL) == DT_OK)
        dt_exec_result_release(&r);
    return NULL;
}

/* Processes whose command line is exactly "sleep <arg>". */
static int count_sleeps(const char *arg)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p[300], buf[256];
        snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        if (strcmp(buf, "sleep") == 0 && len > 6 && strcmp(buf + 6, arg) == 0)
            n++;
    }
    closedir(d);
    return n;
}

void bench4_loaded(const bench_cfg *cfg)
{
    int n = cfg->smoke ? 4 : 200;
    proc_srv emu;
    samples idle, loaded;
    samples_init(&idle);
    samples_init(&loaded);
    long errs = 0;
    dt_sandbox **sbs = calloc((size_t)n, sizeof *sbs);
    char **ids = calloc((size_t)n, sizeof *ids);
    sleeper *sl = calloc((size_t)n, sizeof *sl);
    dt_client *c = NULL;
    if (!sbs || !ids || !sl || emu_spawn(cfg, &emu, 0, NULL) != 0) {
        bench_fail(4, "4.p99", "daytona-emu did not start");
        free(sbs);
        free(ids);
        free(sl);
        return;
    }
    c = bench_client(&emu);
    if (!c || bench_create_many(c, sbs, n, 4) != 0) {
        bench_fail(4, "4.p99", "could not create %d sandboxes", n);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (!(ids[i] = strdup(dt_sandbox_id(sbs[i]))))
            goto out;
    char path[256], arg[32], cmd[64];
    snprintf(path, sizeof path, "/api/sandbox/%s", dt_sandbox_id(sbs[0]));
    lg_opts o;
    lg_opts_for(cfg, &o, emu.port, path);
    for (int rep = 0; rep < cfg->reps; rep++)
        measure(&o, NULL, &idle, &errs);
    /* A sleep long enough for every loaded window, told apart from any
     * other sleep on the machine by its odd argument. */
    snprintf(arg, sizeof arg, "%d.%03d", cfg->smoke ? 30 : 300, (int)(getpid() % 1000));
    snprintf(cmd, sizeof cmd, "sleep %s", arg);
    for (int i = 0; i < n; i++) {
        sl[i] = (sleeper){.sb = sbs[i], .cmd = cmd};
        sl[i].started = pthread_create(&sl[i].tid, NULL, sleeper_main, &sl[i]) == 0;
    }
    int64_t t0 = bench_now_ns();
    int running = 0;
    while ((running = count_sleeps(arg)) < n && bench_ms_since(t0) < 60000)
        usleep(20000);
    if (running < n)
        fprintf(stderr, "bench 4: only %d of %d sleeps running\n", running, n);
    for (int rep = 0; rep < cfg->reps; rep++)
        measure(&o, NULL, &loaded, &errs);
    char note[200];
    snprintf(note, sizeof note, "%d sandboxes, %d sleeping executions seen running;"
             " 32 keep-alive clients; errors %ld", n, running, errs);
    bench_row(&(row_spec){.bench = 4, .key = "4.p99",
        .label = "GET latency while executions sleep in every sandbox", .unit = "ms",
        .value = &loaded, .baseline_label = "same load, idle emulator",
        .baseline = &idle, .target = T_RATIO_MAX, .limit = 2, .ratio_p99 = 1,
        .target_text = "p99 <= 2x idle p99", .note = note});
out:
    /* Deleting a sandbox kills its command, which ends its sleeper.  The
     * sleeper owns its handle until then (handles are one thread's), so
     * the delete goes through a second handle of the same sandbox. */
    for (int i = 0; i < n; i++) {
        dt_sandbox *h = NULL;
        if (sbs[i] && ids[i] && dt_get(c, ids[i], &h, NULL) == DT_OK)
            dt_sandbox_delete(h, 60000, NULL);
        dt_sandbox_free(h);
    }
    for (int i = 0; i < n; i++)
        if (sl[i].started)
            pthread_join(sl[i].tid, NULL);
    for (int i = 0; i < n; i++) {
        dt_sandbox_free(sbs[i]);
        free(ids[i]);
    }
    free(ids);
    dt_client_free(c);
    srv_stop(&emu);
    emu_cleanup(&emu);
    free(sbs);
    free(sl);
    samples_release(&idle);
    samples_release(&loaded);
}
