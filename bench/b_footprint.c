/*
 * b_footprint.c - benchmark 5: start-up to a passing /_emulator/health
 * (fresh data directory each time), idle RSS, and what 1,000 idle
 * sandboxes cost in RSS and in database size.  No baseline: the targets are
 * absolute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

/* Database bytes of a stopped emulator (the WAL is checkpointed at a
 * clean stop; whatever is left in it counts too). */
static long long db_bytes(const proc_srv *p)
{
    char path[512];
    long long n = 0;
    static const char *const files[] = {"emulator.db", "emulator.db-wal"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", p->data, files[i]);
        n += file_size(path);
    }
    return n;
}

/* Start-up and idle RSS over reps fresh emulators; *db0 = the database
 * size of an empty one. */
static void startup(const bench_cfg *cfg, samples *start, samples *start_mem,
                    samples *rss, samples *anon, long long *db0)
{
    int reps = cfg->smoke ? 2 : 20;
    for (int i = 0; i < reps; i++) {
        proc_srv emu;
        if (emu_spawn(cfg, &emu, 1, NULL) == 0) {
            samples_add(start_mem, emu.start_ms);
            srv_stop(&emu);
            emu_cleanup(&emu);
        }
        if (emu_spawn(cfg, &emu, 0, NULL) != 0)
            continue;
        samples_add(start, emu.start_ms);
        usleep(200000);  /* let start-up work (scheduler, threads) settle */
        long kib = proc_rss_kib(emu.pid);
        if (kib > 0)
            samples_add(rss, (double)kib / 1024.0);
        kib = proc_anon_kib(emu.pid);
        if (kib > 0)
            samples_add(anon, (double)kib / 1024.0);
        srv_stop(&emu);
        *db0 = db_bytes(&emu);
        emu_cleanup(&emu);
    }
}

void bench5_footprint(const bench_cfg *cfg)
{
    samples start, start_mem, rss, anon, per_rss, per_db;
    samples_init(&start); samples_init(&start_mem); samples_init(&rss);
    samples_init(&anon);
    samples_init(&per_rss); samples_init(&per_db);
    long long db0 = 0;
    startup(cfg, &start, &start_mem, &rss, &anon, &db0);
    char anon_note[160];
    snprintf(anon_note, sizeof anon_note, "VmRSS; of it private memory (RssAnon) "
             "%.2f MiB, the rest shared library pages", samples_median(&anon));
    bench_row(&(row_spec){.bench = 5, .key = "5.startup", .unit = "ms",
        .label = "start-up to a passing /_emulator/health (fresh data dir)",
        .value = &start, .target = T_MEDIAN_MAX, .limit = 25,
        .target_text = "median <= 25 ms",
        .note = "a fresh database: creating it costs several fdatasyncs"});
    bench_row(&(row_spec){.bench = 5, .key = "5.startup_mem", .unit = "ms",
        .label = "start-up to a passing /_emulator/health (--in-memory)",
        .value = &start_mem, .target = T_MEDIAN_MAX, .limit = 25,
        .target_text = "median <= 25 ms"});
    bench_row(&(row_spec){.bench = 5, .key = "5.idle_rss", .unit = "MiB",
        .label = "idle RSS after start-up", .value = &rss,
        .target = T_MEDIAN_MAX, .limit = 10, .target_text = "<= 10 MiB",
        .note = anon_note});

    int n = cfg->smoke ? 20 : 1000;
    proc_srv emu;
    dt_sandbox **sbs = calloc((size_t)n, sizeof *sbs);
    if (!sbs || emu_spawn(cfg, &emu, 0, NULL) != 0) {
        bench_fail(5, "5.per_sandbox", "daytona-emu did not start");
        free(sbs);
        goto out;
    }
    usleep(200000);
    long rss0 = proc_rss_kib(emu.pid);
    dt_client *c = bench_client(&emu);
    int made = c ? bench_create_many(c, sbs, n, 4) == 0 : 0;
    usleep(200000);
    long rss1 = proc_rss_kib(emu.pid);
    for (int i = 0; i < n; i++)
        dt_sandbox_free(sbs[i]);
    free(sbs);
    dt_client_free(c);
    srv_stop(&emu);
    long long db1 = db_bytes(&emu);
    emu_cleanup(&emu);
    if (!made) {
        bench_fail(5, "5.per_sandbox", "could not create %d sandboxes", n);
        goto out;
    }
    samples_add(&per_rss, (double)(rss1 - rss0) * 1000.0 / n);
    samples_add(&per_db, (double)(db1 - db0) / 1024.0 * 1000.0 / n);
    char note[160];
    snprintf(note, sizeof note, "%d idle started sandboxes: RSS %ld -> %ld KiB, "
             "database %lld -> %lld bytes; per 1,000", n, rss0, rss1, db0, db1);
    bench_row(&(row_spec){.bench = 5, .key = "5.rss_per_1000", .unit = "KiB",
        .label = "RSS per 1,000 idle sandboxes", .value = &per_rss,
        .target = T_MEDIAN_MAX, .limit = 32 * 1000,
        .target_text = "<= 32 KiB per sandbox", .note = note});
    bench_row(&(row_spec){.bench = 5, .key = "5.db_per_1000", .unit = "KiB",
        .label = "database size per 1,000 idle sandboxes", .value = &per_db,
        .target = T_MEDIAN_MAX, .limit = 4 * 1000,
        .target_text = "<= 4 KiB per sandbox"});
out:
    samples_release(&start); samples_release(&start_mem); samples_release(&rss);
    samples_release(&anon);
    samples_release(&per_rss); samples_release(&per_db);
}
