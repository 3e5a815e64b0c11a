/*
 * main.c - dt-bench: runs the benchmarks of issue 9 (bench/README in the
 * top-level README's Performance section), prints a table, writes the JSON
 * results; also reads a results file back (--table, --dat for gnuplot,
 * --check for the CI smoke run).
 *
 *   dt-bench [--smoke] [--reps N] [--only 1,3,8] --bin-dir DIR --out FILE
 *            [--prism PATH --openapi YAML] [--sdk-dir DIR --seed-js FILE]
 *   dt-bench --table FILE | --dat FILE | --check FILE
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f)
{
    fputs("usage: dt-bench [--smoke] [--reps N] [--only 1,2,...] --bin-dir DIR\n"
          "                --out FILE [--prism PATH --openapi YAML]\n"
          "                [--sdk-dir DIR --seed-js FILE]\n"
          "       dt-bench --table FILE | --dat FILE | --check FILE\n", f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        s = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
            free(s);
            s = NULL;
        } else if (s) {
            s[n] = '\0';
        }
    }
    fclose(f);
    return s;
}

static cJSON *load_json(const char *path)
{
    char *s = read_file(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    if (!j)
        fprintf(stderr, "dt-bench: %s: missing or not JSON\n", path);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
    return s ? s : "";
}

static void fmt(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "-");
    else if (fabs(v) >= 1000)
        snprintf(out, n, "%.0f", v);
    else if (fabs(v) >= 10)
        snprintf(out, n, "%.1f", v);
    else
        snprintf(out, n, "%.3g", v);
}

/* ---------------------------------------------------------------- */

static void print_table(const cJSON *root, FILE *f)
{
    fprintf(f, "%-2s %-26s %-6s %9s %9s %9s %9s %8s %8s  %-24s %s\n", "#", "key",
            "unit", "median", "p99", "base p50", "base p99", "ratio", "r(min)",
            "target", "met");
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(root, "rows")) {
        const cJSON *v = cJSON_GetObjectItem(row, "value");
        const cJSON *b = cJSON_GetObjectItem(row, "baseline");
        const cJSON *t = cJSON_GetObjectItem(row, "target");
        const cJSON *met = cJSON_GetObjectItem(row, "met");
        char m[16], p[16], bm[16], bp[16], r[16], rm[16];
        fmt(m, sizeof m, num(v, "median"));
        fmt(p, sizeof p, num(v, "p99"));
        fmt(bm, sizeof bm, num(b, "median"));
        fmt(bp, sizeof bp, num(b, "p99"));
        fmt(r, sizeof r, num(row, "ratio"));
        fmt(rm, sizeof rm, num(row, "ratio_min"));
        if (!cJSON_IsTrue(cJSON_GetObjectItem(row, "ok"))) {
            fprintf(f, "%-2.0f %-26s FAILED %s\n", num(row, "bench"), str(row, "key"),
                    str(row, "error"));
            continue;
        }
        fprintf(f, "%-2.0f %-26s %-6s %9s %9s %9s %9s %8s %8s  %-24s %s\n",
                num(row, "bench"), str(row, "key"), str(row, "unit"), m, p, bm, bp, r, rm,
                str(t, "text"),
                cJSON_IsTrue(met) ? "yes" : cJSON_IsFalse(met) ? "NO" : "-");
    }
}

/* Two gnuplot data blocks: ratios against their limits, then the ms rows
 * that have a baseline (median of each side). */
static void print_dat(const cJSON *root, FILE *f)
{
    const cJSON *row;
    fprintf(f, "# key ratio limit met(1/0)\n");
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(root, "rows")) {
        const cJSON *t = cJSON_GetObjectItem(row, "target");
        const char *kind = str(t, "kind");
        double ratio = num(row, "ratio");
        if ((strcmp(kind, "ratio<=") != 0 && strcmp(kind, "ratio>=") != 0) ||
            isnan(ratio))
            continue;
        fprintf(f, "\"%s\" %g %g %d\n", str(row, "key"), ratio, num(t, "limit"),
                cJSON_IsTrue(cJSON_GetObjectItem(row, "met")));
    }
    fprintf(f, "\n\n# key median baseline_median (ms)\n");
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(root, "rows")) {
        double bm = num(cJSON_GetObjectItem(row, "baseline"), "median");
        if (strcmp(str(row, "unit"), "ms") != 0 || isnan(bm))
            continue;
        fprintf(f, "\"%s\" %g %g\n", str(row, "key"),
                num(cJSON_GetObjectItem(row, "value"), "median"), bm);
    }
}

/* The smoke check: well-formed, and every benchmark ran (some row of
 * each, and no failed row).  Returns the exit status. */
static int check(const cJSON *root)
{
    const cJSON *rows = cJSON_GetObjectItem(root, "rows");
    if (!cJSON_IsArray(rows) || !cJSON_IsObject(cJSON_GetObjectItem(root, "machine"))) {
        fprintf(stderr, "dt-bench: results lack rows or machine\n");
        return 1;
    }
    int seen[9] = {0}, bad = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        int b = (int)num(row, "bench");
        const cJSON *v = cJSON_GetObjectItem(row, "value");
        int ok = cJSON_IsTrue(cJSON_GetObjectItem(row, "ok")) && b >= 1 && b <= 8 &&
                 !isnan(num(v, "median")) && cJSON_GetObjectItem(row, "ratio") &&
                 cJSON_IsObject(cJSON_GetObjectItem(row, "target"));
        if (!ok) {
            fprintf(stderr, "dt-bench: row %s failed or malformed %s\n", str(row, "key"),
                    str(row, "error"));
            bad = 1;
        } else {
            seen[b] = 1;
        }
    }
    for (int b = 1; b <= 8; b++)
        if (!seen[b]) {
            fprintf(stderr, "dt-bench: benchmark %d has no result\n", b);
            bad = 1;
        }
    return bad;
}

/* ---------------------------------------------------------------- */

static cJSON *machine_json(void)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "nproc", (double)sysconf(_SC_NPROCESSORS_ONLN));
    char line[512], cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(cpu, sizeof cpu, "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
            }
            break;
        }
    if (f)
        fclose(f);
    cJSON_AddStringToObject(m, "cpu", cpu);
    struct utsname u;
    if (uname(&u) == 0) {
        cJSON_AddStringToObject(m, "kernel", u.release);
        cJSON_AddStringToObject(m, "arch", u.machine);
    }
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    cJSON_AddNumberToObject(m, "mem_gib", round(mem / 1073741824.0 * 10) / 10);
    double load[3];
    if (getloadavg(load, 3) == 3)
        cJSON_AddNumberToObject(m, "loadavg_1m_at_start", load[0]);
    return m;
}

static unsigned parse_only(const char *s)
{
    unsigned mask = 0;
    for (const char *p = s; *p;) {
        long b = strtol(p, (char **)&p, 10);
        if (b >= 1 && b <= 8)
            mask |= 1u << b;
        while (*p == ',' || *p == ' ')
            p++;
        if (*p && (*p < '0' || *p > '9'))
            break;
    }
    return mask;
}

static int parse_args(int argc, char **argv, bench_cfg *cfg, const char **mode,
                      const char **file)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--smoke") == 0) { cfg->smoke = 1; continue; }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--reps") == 0) cfg->reps = atoi(v);
        else if (strcmp(a, "--only") == 0) cfg->only = parse_only(v);
        else if (strcmp(a, "--bin-dir") == 0) cfg->bin_dir = v;
        else if (strcmp(a, "--out") == 0) cfg->out_path = v;
        else if (strcmp(a, "--prism") == 0) cfg->prism = *v ? v : NULL;
        else if (strcmp(a, "--openapi") == 0) cfg->openapi = v;
        else if (strcmp(a, "--sdk-dir") == 0) cfg->sdk_dir = *v ? v : NULL;
        else if (strcmp(a, "--seed-js") == 0) cfg->seed_js = v;
        else if (strcmp(a, "--table") == 0 || strcmp(a, "--dat") == 0 ||
                 strcmp(a, "--check") == 0) { *mode = a + 2; *file = v; }
        else return -1;
    }
    return 0;
}

static int read_mode(const char *mode, const char *file)
{
    cJSON *j = load_json(file);
    if (!j)
        return 1;
    int rc = 0;
    if (strcmp(mode, "table") == 0)
        print_table(j, stdout);
    else if (strcmp(mode, "dat") == 0)
        print_dat(j, stdout);
    else
        rc = check(j);
    cJSON_Delete(j);
    return rc;
}

typedef void (*bench_fn)(const bench_cfg *);

static int run_all(bench_cfg *cfg)
{
    static const bench_fn fns[9] = {NULL, bench1_control_plane, bench2_lifecycle,
        bench3_execute, bench4_loaded, bench5_footprint, bench6_seed,
        bench7_sessions, bench8_transfer};
    snprintf(cfg->tmp, sizeof cfg->tmp, "%s/dt-bench.XXXXXX",
             getenv("BENCH_TMPDIR") ? getenv("BENCH_TMPDIR") : "/tmp");
    if (!mkdtemp(cfg->tmp)) {
        perror("dt-bench: mkdtemp");
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema", 1);
    cJSON_AddStringToObject(root, "mode", cfg->smoke ? "smoke" : "full");
    cJSON_AddNumberToObject(root, "reps", cfg->reps);
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(root, "date", when);
    cJSON_AddItemToObject(root, "machine", machine_json());
    const char *commit = getenv("BENCH_COMMIT");   /* set by bench/run.sh */
    if (commit && *commit)
        cJSON_AddStringToObject(root, "commit", commit);
    for (int b = 1; b <= 8; b++) {
        if (cfg->only && !(cfg->only & (1u << b)))
            continue;
        fprintf(stderr, "== benchmark %d\n", b);
        int64_t t0 = bench_now_ns();
        fns[b](cfg);
        fprintf(stderr, "   (%.1f s)\n", bench_ms_since(t0) / 1000);
    }
    cJSON_AddItemReferenceToObject(root, "rows", bench_rows());
    char *text = cJSON_Print(root);
    FILE *f = text ? fopen(cfg->out_path, "w") : NULL;
    int rc = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF ? 0 : 1;
    if (f && fclose(f) != 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "dt-bench: could not write %s\n", cfg->out_path);
    print_table(root, stdout);
    free(text);
    const char *rm[] = {"/bin/rm", "-rf", cfg->tmp, NULL};
    bench_run(rm, -1);
    cJSON_Delete(root);
    cJSON_Delete(bench_rows());
    return rc;
}

int main(int argc, char **argv)
{
    bench_cfg cfg = {.reps = 3};
    const char *mode = NULL, *file = NULL;
    if (argc > 1 && strcmp(argv[1], "--xfer") == 0)
        return bench_xfer_main(argc - 2, argv + 2);
    if (parse_args(argc, argv, &cfg, &mode, &file) != 0) {
        usage(stderr);
        return 2;
    }
    if (mode)
        return read_mode(mode, file);
    if (!cfg.bin_dir || !cfg.out_path) {
        usage(stderr);
        return 2;
    }
    if (cfg.smoke)
        cfg.reps = 1;
    if (cfg.reps < 1)
        cfg.reps = 1;
    if (dt_global_init() != DT_OK)
        return 1;
    int rc = run_all(&cfg);
    dt_global_cleanup();
    return rc;
}
