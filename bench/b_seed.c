/*
 * b_seed.c - benchmarks 6 and 7.
 *
 * 6: the seed flow (create a Python sandbox -> code-run a print -> delete)
 *    through libdaytona, against the same flow through the official
 *    TypeScript SDK in one Node process (bench/seed_flow.js), same emulator.
 * 7: 50 users, each start -> 10 runs -> close through the session service
 *    daytona-sessions (HTTP), against the same code-runs straight through
 *    libdaytona (create, 10 code-runs, delete per user).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char SEED_CODE[] = "print(\"hello from the seed flow\")";

static double cpu_ms_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int c_flow(dt_client *c)
{
    dt_sandbox *sb = bench_create(c, "python");
    if (!sb)
        return -1;
    dt_exec_result r;
    dt_error err;
    int rc = -1;
    if (dt_code_run(sb, SEED_CODE, NULL, &r, &err) == DT_OK) {
        rc = r.exit_code == 0 && strstr(r.result, "hello from the seed flow") ? 0 : -1;
        dt_exec_result_release(&r);
    } else {
        fprintf(stderr, "bench 6: code-run: %s\n", err.message);
    }
    if (dt_sandbox_delete(sb, 60000, NULL) != DT_OK)
        rc = -1;
    dt_sandbox_free(sb);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static const size_t cap = 1 << 20;
    char *s = malloc(cap);
    size_t n = s ? fread(s, 1, cap - 1, f) : 0;
    fclose(f);
    if (s)
        s[n] = '\0';
    return s;
}

/* Runs seed_flow.js for n flows; adds its per-flow wall and CPU times. */
static int sdk_flows(const bench_cfg *cfg, const proc_srv *emu, int n,
                     samples *wall, samples *cpu)
{
    char out[400], nbuf[16];
    snprintf(out, sizeof out, "%s/seed-out.json", cfg->tmp);
    snprintf(nbuf, sizeof nbuf, "%d", n);
    FILE *f = fopen(out, "w");
    if (!f)
        return -1;
    setenv("DAYTONA_API_URL", emu->api, 1);
    setenv("DAYTONA_API_KEY", "bench-key", 1);
    const char *argv[] = {cfg->seed_js, cfg->sdk_dir, nbuf, NULL};
    int st = bench_run(argv, fileno(f));
    fclose(f);
    char *text = st == 0 ? slurp(out) : NULL;
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(j, "flow_ms"))
        samples_add(wall, v->valuedouble);
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(j, "cpu_ms"))
        samples_add(cpu, v->valuedouble);
    int ok = j != NULL;
    cJSON_Delete(j);
    return ok ? 0 : -1;
}

void bench6_seed(const bench_cfg *cfg)
{
    int n = cfg->smoke ? 2 : 20;
    proc_srv emu;
    if (emu_spawn(cfg, &emu, 0, NULL) != 0) {
        bench_fail(6, "6.flow", "daytona-emu did not start");
        return;
    }
    samples cw, cc, sw, sc;
    samples_init(&cw); samples_init(&cc); samples_init(&sw); samples_init(&sc);
    dt_client *c = bench_client(&emu);
    int have_sdk = cfg->sdk_dir && cfg->seed_js;
    if (c)
        c_flow(c);  /* warm-up, as the Node side has one */
    for (int rep = 0; c && rep < cfg->reps; rep++) {
        if (have_sdk && sdk_flows(cfg, &emu, n, &sw, &sc) != 0) {
            fprintf(stderr, "bench 6: the SDK flow failed\n");
            have_sdk = 0;
        }
        for (int i = 0; i < n; i++) {
            int64_t t0 = bench_now_ns();
            double c0 = cpu_ms_self();
            if (c_flow(c) != 0)
                break;
            samples_add(&cw, bench_ms_since(t0));
            samples_add(&cc, cpu_ms_self() - c0);
        }
    }
    bench_row(&(row_spec){.bench = 6, .key = "6.flow", .unit = "ms",
        .label = "seed flow (create, code-run print, delete), wall per flow",
        .value = &cw, .baseline_label = "@daytonaio/sdk 0.218.0, one Node process",
        .baseline = have_sdk ? &sw : NULL, .target = T_RATIO_MAX, .limit = 0.5,
        .target_text = "<= 0.5x the SDK's time",
        .note = "wall time includes the sandbox's own python3 start-up, the same "
                "for both clients"});
    bench_row(&(row_spec){.bench = 6, .key = "6.client_cpu", .unit = "ms",
        .label = "seed flow: client CPU time per flow",
        .value = &cc, .baseline_label = "@daytonaio/sdk 0.218.0 (process.cpuUsage)",
        .baseline = have_sdk ? &sc : NULL, .target = T_RATIO_MAX, .limit = 0.5,
        .target_text = "<= 0.5x the SDK's time"});
    samples_release(&cw); samples_release(&cc);
    samples_release(&sw); samples_release(&sc);
    dt_client_free(c);
    srv_stop(&emu);
    emu_cleanup(&emu);
}

/* ---------------------------------------------------------------- */
/* Benchmark 7                                                       */

typedef struct {
    const proc_srv *svc;     /* the session service, or NULL: direct */
    dt_client *c;
    const char *token;
    int runs;
    pthread_barrier_t *go;
    double ms;
    int ok;
} user;

static int svc_user(user *u)
{
    char body[4096], code[64];
    if (http_simple(u->svc->port, "POST", "/sessions", u->token,
                    "{\"language\":\"python\"}", body, sizeof body) != 201) {
        fprintf(stderr, "bench 7: start: %.200s\n", body);
        return -1;
    }
    for (int i = 0; i < u->runs; i++) {
        snprintf(code, sizeof code, "{\"code\":\"print(%d * 7)\"}", i);
        if (http_simple(u->svc->port, "POST", "/sessions/active/run", u->token, code,
                        body, sizeof body) != 200 || !strstr(body, "\"exitCode\":0")) {
            fprintf(stderr, "bench 7: run: %.200s\n", body);
            return -1;
        }
    }
    return http_simple(u->svc->port, "DELETE", "/sessions/active", u->token, NULL,
                       body, sizeof body) == 200 ? 0 : -1;
}

static int direct_user(user *u)
{
    dt_sandbox *sb = bench_create(u->c, "python");
    if (!sb)
        return -1;
    int rc = 0;
    char code[64];
    for (int i = 0; i < u->runs && rc == 0; i++) {
        dt_exec_result r;
        snprintf(code, sizeof code, "print(%d * 7)", i);
        rc = dt_code_run(sb, code, NULL, &r, NULL) == DT_OK && r.exit_code == 0 ? 0 : -1;
        if (rc == 0)
            dt_exec_result_release(&r);
    }
    if (dt_sandbox_delete(sb, 60000, NULL) != DT_OK)
        rc = -1;
    dt_sandbox_free(sb);
    return rc;
}

static void *user_main(void *arg)
{
    user *u = arg;
    pthread_barrier_wait(u->go);
    int64_t t0 = bench_now_ns();
    u->ok = (u->svc ? svc_user(u) : direct_user(u)) == 0;
    u->ms = bench_ms_since(t0);
    return NULL;
}

/* All users at once; per-user times into per, the whole into total. */
static void users_round(user *us, int n, samples *per, samples *total)
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    pthread_barrier_t go;
    if (!t)
        return;
    pthread_barrier_init(&go, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        us[i].go = &go;
        pthread_create(&t[i], NULL, user_main, &us[i]);
    }
    pthread_barrier_wait(&go);
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    samples_add(total, bench_ms_since(t0));
    for (int i = 0; i < n; i++)
        if (us[i].ok)
            samples_add(per, us[i].ms);
    pthread_barrier_destroy(&go);
    free(t);
}

/* Starts daytona-sessions against emu with its database under dir. */
static int svc_spawn(const bench_cfg *cfg, const proc_srv *emu, const char *dir,
                     proc_srv *svc)
{
    char bin[512], db[512], pf[512];
    snprintf(bin, sizeof bin, "%s/daytona-sessions", cfg->bin_dir);
    snprintf(db, sizeof db, "%s/sessions.db", dir);
    snprintf(pf, sizeof pf, "%s/svc.port", dir);
    memset(svc, 0, sizeof *svc);
    setenv("DAYTONA_API_URL", emu->api, 1);
    setenv("DAYTONA_API_KEY", "bench-key", 1);
    setenv("DAYTONA_SESSIONS_DB", db, 1);
    const char *argv[] = {bin, "serve", "--port", "0", "--port-file", pf,
                          "--reap-interval", "0", "--log-level", "error", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        if (!getenv("BENCH_VERBOSE"))
            dup2(null, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    svc->pid = pid;
    int64_t t0 = bench_now_ns();
    while (bench_ms_since(t0) < 20000) {
        FILE *f = fopen(pf, "r");
        if (f) {
            int got = fscanf(f, "%u", &svc->port) == 1;
            fclose(f);
            if (got && http_simple(svc->port, "GET", "/health", NULL, NULL, NULL, 0) == 200)
                return 0;
        }
        usleep(2000);
    }
    srv_stop(svc);
    return -1;
}

/* `daytona-sessions token create USER` -> the token (into out). */
static int make_token(const bench_cfg *cfg, const char *dir, const char *user_id,
                      char *out, size_t n)
{
    char bin[512], path[512];
    snprintf(bin, sizeof bin, "%s/daytona-sessions", cfg->bin_dir);
    snprintf(path, sizeof path, "%s/token.txt", dir);
    FILE *f = fopen(path, "w+");
    if (!f)
        return -1;
    const char *argv[] = {bin, "token", "create", user_id, NULL};
    int st = bench_run(argv, fileno(f));
    rewind(f);
    int ok = st == 0 && fgets(out, (int)n, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0] ? 0 : -1;
}

void bench7_sessions(const bench_cfg *cfg)
{
    int n = cfg->smoke ? 2 : 50, runs = cfg->smoke ? 2 : 10;
    proc_srv emu, svc;
    char dir[400];
    user *us = calloc((size_t)n, sizeof *us);
    char (*tokens)[128] = calloc((size_t)n, sizeof *tokens);
    samples sp, st, dp, dtot;
    samples_init(&sp); samples_init(&st); samples_init(&dp); samples_init(&dtot);
    if (!us || !tokens || bench_subdir(cfg, "sessions", dir, sizeof dir) != 0 ||
        emu_spawn(cfg, &emu, 0, NULL) != 0) {
        bench_fail(7, "7.user", "set-up failed");
        free(us);
        free(tokens);
        return;
    }
    dt_client *c = bench_client(&emu);
    int svc_up = svc_spawn(cfg, &emu, dir, &svc) == 0;
    for (int i = 0; svc_up && i < n; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "bench-user-%d", i);
        if (make_token(cfg, dir, uid, tokens[i], sizeof tokens[i]) != 0) {
            svc_up = 0;
            fprintf(stderr, "bench 7: token create failed\n");
        }
    }
    for (int rep = 0; svc_up && c && rep < cfg->reps; rep++) {
        for (int i = 0; i < n; i++)
            us[i] = (user){.svc = NULL, .c = c, .runs = runs};
        users_round(us, n, &dp, &dtot);
        for (int i = 0; i < n; i++)
            us[i] = (user){.svc = &svc, .token = tokens[i], .runs = runs};
        users_round(us, n, &sp, &st);
    }
    char note[200];
    snprintf(note, sizeof note, "%d users at once, %d python code-runs each; whole "
             "round: service %.0f ms, direct %.0f ms (medians)", n, runs,
             samples_median(&st), samples_median(&dtot));
    if (svc_up)
        bench_row(&(row_spec){.bench = 7, .key = "7.user", .unit = "ms",
            .label = "session service: start, runs, close per user",
            .value = &sp, .baseline_label = "same code-runs straight through libdaytona",
            .baseline = &dp, .target = T_RATIO_MAX, .limit = 1.2,
            .target_text = "<= 1.2x direct", .note = note});
    else
        bench_fail(7, "7.user", "daytona-sessions did not start");
    if (svc_up)
        srv_stop(&svc);
    dt_client_free(c);
    srv_stop(&emu);
    emu_cleanup(&emu);
    samples_release(&sp); samples_release(&st);
    samples_release(&dp); samples_release(&dtot);
    free(us);
    free(tokens);
}
