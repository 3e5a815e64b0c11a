/*
 * b_transfer.c - benchmark 8: a 1 GiB file uploaded and downloaded through
 * libdaytona (dt_fs_upload_file / dt_fs_download_file), against cp of the
 * same file on the same disk; the peak RSS of the emulator and of the
 * client.  Each transfer runs in a fresh client process (dt-bench --xfer),
 * so its peak RSS is the client's alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* dt-bench --xfer up|down API_URL SANDBOX_ID LOCAL REMOTE */
int bench_xfer_main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    if (dt_global_init() != DT_OK)
        return 1;
    proc_srv p = {0};
    snprintf(p.api, sizeof p.api, "%s", argv[1]);
    dt_client *c = bench_client(&p);
    dt_sandbox *sb = NULL;
    dt_error err = {0};
    dt_code rc = c ? dt_get(c, argv[2], &sb, &err) : DT_ECONFIG;
    if (rc == DT_OK)
        rc = strcmp(argv[0], "up") == 0
                 ? dt_fs_upload_file(sb, argv[3], argv[4], &err)
                 : dt_fs_download_file(sb, argv[4], argv[3], &err);
    if (rc != DT_OK)
        fprintf(stderr, "dt-bench --xfer %s: %s\n", argv[0], err.message);
    dt_sandbox_free(sb);
    dt_client_free(c);
    dt_global_cleanup();
    return rc == DT_OK ? 0 : 1;
}

/* Pseudo-random content (incompressible, cheap to make). */
static int make_file(const char *path, long long bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    static uint64_t chunk[1 << 17];   /* 1 MiB */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int rc = 0;
    for (long long done = 0; done < bytes && rc == 0;) {
        for (size_t i = 0; i < sizeof chunk / sizeof chunk[0]; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            chunk[i] = x;
        }
        size_t n = bytes - done < (long long)sizeof chunk ? (size_t)(bytes - done)
                                                          : sizeof chunk;
        rc = write(fd, chunk, n) == (ssize_t)n ? 0 : -1;
        done += (long long)n;
    }
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

/* Runs argv in a child; ms and the child's peak RSS (KiB) out. */
static int timed_child(const char *const *argv, double *ms, long *maxrss_kib)
{
    int64_t t0 = bench_now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR)
            return -1;
    *ms = bench_ms_since(t0);
    if (maxrss_kib)
        *maxrss_kib = ru.ru_maxrss;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void rows(const bench_cfg *cfg, samples *up, samples *down, samples *cp,
                 samples *erss, samples *crss, long long bytes)
{
    char note[160];
    snprintf(note, sizeof note, "%lld MiB file, page cache warm, same disk; "
             "throughput in MiB/s", bytes >> 20);
    (void)cfg;
    bench_row(&(row_spec){.bench = 8, .key = "8.upload", .unit = "MiB/s",
        .label = "upload through libdaytona (dt_fs_upload_file)", .value = up,
        .baseline_label = "cp of the same file", .baseline = cp,
        .target = T_RATIO_MIN, .limit = 0.5, .target_text = ">= 0.5x cp's throughput",
        .note = note});
    bench_row(&(row_spec){.bench = 8, .key = "8.download", .unit = "MiB/s",
        .label = "download through libdaytona (dt_fs_download_file)", .value = down,
        .baseline_label = "cp of the same file", .baseline = cp,
        .target = T_RATIO_MIN, .limit = 0.5, .target_text = ">= 0.5x cp's throughput"});
    bench_row(&(row_spec){.bench = 8, .key = "8.rss_emulator", .unit = "MiB",
        .label = "emulator peak RSS (VmHWM) over the transfers", .value = erss,
        .target = T_MEDIAN_MAX, .limit = 64, .target_text = "< 64 MiB"});
    bench_row(&(row_spec){.bench = 8, .key = "8.rss_client", .unit = "MiB",
        .label = "client process peak RSS per transfer", .value = crss,
        .target = T_P99_MAX, .limit = 64, .target_text = "< 64 MiB"});
}

void bench8_transfer(const bench_cfg *cfg)
{
    long long bytes = cfg->smoke ? 8LL << 20 : 1LL << 30;
    double mib = (double)bytes / 1048576.0;
    char dir[400], src[512], dst[512], cpdst[512], self[512];
    samples up, down, cp, erss, crss;
    samples_init(&up); samples_init(&down); samples_init(&cp);
    samples_init(&erss); samples_init(&crss);
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    proc_srv emu;
    if (sl <= 0 || bench_subdir(cfg, "xfer", dir, sizeof dir) != 0) {
        bench_fail(8, "8.upload", "scratch directory");
        return;
    }
    self[sl] = '\0';
    snprintf(src, sizeof src, "%s/src.bin", dir);
    snprintf(dst, sizeof dst, "%s/down.bin", dir);
    snprintf(cpdst, sizeof cpdst, "%s/cp.bin", dir);
    if (make_file(src, bytes) != 0 || emu_spawn(cfg, &emu, 0, NULL) != 0) {
        bench_fail(8, "8.upload", "could not make the file or start the emulator");
        return;
    }
    dt_client *c = bench_client(&emu);
    dt_sandbox *sb = c ? bench_create(c, NULL) : NULL;
    const char *id = sb ? dt_sandbox_id(sb) : "";
    const char *remote = "/home/daytona/big.bin";
    const char *cp_argv[] = {"/bin/cp", src, cpdst, NULL};
    const char *up_argv[] = {self, "--xfer", "up", emu.api, id, src, remote, NULL};
    const char *down_argv[] = {self, "--xfer", "down", emu.api, id, dst, remote, NULL};
    const char *cmp_argv[] = {"/usr/bin/cmp", "-s", src, dst, NULL};
    for (int rep = 0; sb && rep < cfg->reps; rep++) {
        double ms;
        long rss;
        if (timed_child(cp_argv, &ms, NULL) == 0)
            samples_add(&cp, mib / (ms / 1000));
        unlink(cpdst);
        if (timed_child(up_argv, &ms, &rss) != 0)
            break;
        samples_add(&up, mib / (ms / 1000));
        samples_add(&crss, (double)rss / 1024);
        if (timed_child(down_argv, &ms, &rss) != 0)
            break;
        samples_add(&down, mib / (ms / 1000));
        samples_add(&crss, (double)rss / 1024);
        if (bench_run(cmp_argv, -1) != 0) {
            bench_fail(8, "8.download", "downloaded file differs from the original");
            break;
        }
        unlink(dst);
    }
    long hwm = proc_hwm_kib(emu.pid);
    if (hwm > 0)
        samples_add(&erss, (double)hwm / 1024);
    rows(cfg, &up, &down, &cp, &erss, &crss, bytes);
    if (sb)
        dt_sandbox_delete(sb, 60000, NULL);
    dt_sandbox_free(sb);
    dt_client_free(c);
    srv_stop(&emu);
    emu_cleanup(&emu);
    unlink(src);
    unlink(dst);
    samples_release(&up); samples_release(&down); samples_release(&cp);
    samples_release(&erss); samples_release(&crss);
}
