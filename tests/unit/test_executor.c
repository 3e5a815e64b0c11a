/*
 * test_executor.c - the executor's and the toolbox's pure building blocks:
 *
 *   launcher_parse / launcher_rlimit_resource   (sandbox/launcher_opts.h)
 *   strv, executor_env_name_valid, executor_limits, executor_build_env,
 *   executor_decode_status, executor_sandbox_uid                (executor.h)
 *   toolbox_coderun_script, toolbox_uses_matplotlib,
 *   toolbox_extract_artifacts                                   (toolbox.h)
 *   utf8_sanitize                                               (utf8.h)
 *
 * Expected values come from shared/reference/toolbox.md §3, §4 and traps
 * 2, 3, 4, 22, 23, and from Daytona's daemon v0.190
 * (apps/daemon/pkg/toolbox/process/coderun/{python,javascript,typescript,
 * artifacts}.go).  The generated code-run scripts are also executed with
 * bash (python3 and node when installed, a fake ts-node), because what
 * matters is what the shell does with them.
 *
 * Table-driven; no emulator process, no network.  Clean under valgrind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>

#include "codec.h"
#include "cu_run.h"
#include "executor.h"
#include "sandbox/launcher_opts.h"
#include "toolbox.h"
#include "utf8.h"

/* The matplotlib wrapper embedded into emucore (emulator/CMakeLists.txt). */
extern const unsigned char emu_mpl_wrapper[];

#define GIB ((rlim_t)1 << 30)
#define ARTIFACT "dtn_artifact_k39fd2:"

/* ======================================================================
 * launcher_parse
 * ====================================================================== */

#define MAXARGS 48

typedef struct {
    const char *name;
    const char *args[MAXARGS];  /* after argv[0]; NULL-terminated */
    int rc;                     /* 0 or -1 */
    const char *err;            /* substring of the message when rc = -1 */
    /* Expectations when rc = 0 (checked as listed). */
    const char *root, *cwd, *hostname, *passwd;
    long uid, gid, kill_uid;
    const char *netns;
    int hold_net, linger;
    int ns, no_net, ncgroups, nrlimits, nro_binds, status_fd;
    long long timeout_ms;
    const char *prog;           /* argv[0] of the program, NULL in kill mode */
    int prog_argc;              /* arguments of the program, incl. itself */
} parse_case;

static const parse_case PARSE_CASES[] = {
    {.name = "minimal: -- and an absolute program",
     .args = {"--", "/bin/true", NULL},
     .uid = -1, .gid = -1, .kill_uid = -1, .status_fd = 3,
     .prog = "/bin/true", .prog_argc = 1},
    {.name = "everything",
     .args = {"--root", "/srv/sb", "--cwd", "/home/daytona", "--uid", "268435456",
              "--gid", "268435457", "--ns", "--no-net", "--hostname", "sbx",
              "--cgroup-procs", "/sys/fs/cgroup/pids/x/cgroup.procs",
              "--cgroup-procs", "/sys/fs/cgroup/memory/x/cgroup.procs",
              "--rlimit", "cpu=600", "--rlimit", "data=2147483648",
              "--rlimit", "fsize=3221225472", "--rlimit", "nofile=1024",
              "--rlimit", "core=0", "--rlimit", "nproc=256",
              "--timeout-ms", "5000", "--ro-bind", "/opt/ts",
              "--passwd", "/srv/sb/.passwd", "--status-fd", "7",
              "--", "/bin/bash", "-c", "echo hi", NULL},
     .root = "/srv/sb", .cwd = "/home/daytona", .hostname = "sbx",
     .passwd = "/srv/sb/.passwd", .uid = 268435456, .gid = 268435457,
     .kill_uid = -1, .ns = 1, .no_net = 1, .ncgroups = 2, .nrlimits = 6,
     .nro_binds = 1, .status_fd = 7, .timeout_ms = 5000,
     .prog = "/bin/bash", .prog_argc = 3},
    {.name = "options after -- belong to the program",
     .args = {"--cwd", "/w", "--", "/usr/bin/env", "--ns", "--root", "--", NULL},
     .cwd = "/w", .uid = -1, .gid = -1, .kill_uid = -1, .status_fd = 3,
     .prog = "/usr/bin/env", .prog_argc = 4},
    {.name = "--cgroup-procs repeated up to the limit (16)",
     .args = {"--cgroup-procs", "/a1", "--cgroup-procs", "/a2", "--cgroup-procs", "/a3",
              "--cgroup-procs", "/a4", "--cgroup-procs", "/a5", "--cgroup-procs", "/a6",
              "--cgroup-procs", "/a7", "--cgroup-procs", "/a8", "--cgroup-procs", "/a9",
              "--cgroup-procs", "/a10", "--cgroup-procs", "/a11", "--cgroup-procs", "/a12",
              "--cgroup-procs", "/a13", "--cgroup-procs", "/a14", "--cgroup-procs", "/a15",
              "--cgroup-procs", "/a16", "--", "/bin/true", NULL},
     .uid = -1, .gid = -1, .kill_uid = -1, .status_fd = 3, .ncgroups = 16,
     .prog = "/bin/true", .prog_argc = 1},
    {.name = "rlimit 0 and the largest value (2^62)",
     .args = {"--rlimit", "core=0", "--rlimit", "as=4611686018427387904",
              "--", "/bin/true", NULL},
     .uid = -1, .gid = -1, .kill_uid = -1, .status_fd = 3, .nrlimits = 2,
     .prog = "/bin/true", .prog_argc = 1},
    {.name = "--ns with --root",
     .args = {"--ns", "--root", "/r", "--", "/bin/sh", NULL},
     .root = "/r", .ns = 1, .uid = -1, .gid = -1, .kill_uid = -1, .status_fd = 3,
     .prog = "/bin/sh", .prog_argc = 1},
    {.name = "kill mode needs no program",
     .args = {"--kill-uid", "268435999", "--status-fd", "4", NULL},
     .uid = -1, .gid = -1, .kill_uid = 268435999, .status_fd = 4},
    {.name = "holder mode needs no program",
     .args = {"--hold-net", "--status-fd", "5", NULL},
     .uid = -1, .gid = -1, .kill_uid = -1, .hold_net = 1, .status_fd = 5},
    {.name = "--netns joins a namespace file",
     .args = {"--ns", "--root", "/r", "--netns", "/proc/42/ns/net", "--", "/bin/sh", NULL},
     .root = "/r", .ns = 1, .netns = "/proc/42/ns/net", .uid = -1, .gid = -1,
     .kill_uid = -1, .status_fd = 3, .prog = "/bin/sh", .prog_argc = 1},
    {.name = "--linger",
     .args = {"--ns", "--root", "/r", "--linger", "--", "/bin/sh", NULL},
     .root = "/r", .ns = 1, .linger = 1, .uid = -1, .gid = -1,
     .kill_uid = -1, .status_fd = 3, .prog = "/bin/sh", .prog_argc = 1},
    {.name = "hostname of 63 characters",
     .args = {"--hostname", "123456789012345678901234567890123456789012345678901234567890123",
              "--", "/bin/true", NULL},
     .hostname = "123456789012345678901234567890123456789012345678901234567890123",
     .uid = -1, .gid = -1, .kill_uid = -1, .status_fd = 3,
     .prog = "/bin/true", .prog_argc = 1},

    /* ---- errors ---- */
    {.name = "unknown option", .args = {"--bogus", "x", "--", "/bin/true", NULL},
     .rc = -1, .err = "unknown option"},
    {.name = "program without -- is taken as an option",
     .args = {"/bin/echo", "hi", NULL}, .rc = -1, .err = "unknown option"},
    {.name = "missing value at the end", .args = {"--root", NULL},
     .rc = -1, .err = "option needs a value"},
    {.name = "missing value: --rlimit last", .args = {"--ns", "--rlimit", NULL},
     .rc = -1, .err = "option needs a value"},
    {.name = "no program at all", .args = {NULL}, .rc = -1, .err = "no program"},
    {.name = "--netns must be absolute", .args = {"--netns", "ns/net", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --netns"},
    {.name = "-- but no program", .args = {"--cwd", "/w", "--", NULL},
     .rc = -1, .err = "no program"},
    {.name = "relative program", .args = {"--", "bin/true", NULL},
     .rc = -1, .err = "absolute path"},
    {.name = "program named by PATH lookup", .args = {"--", "bash", NULL},
     .rc = -1, .err = "absolute path"},
    {.name = "--uid without --gid", .args = {"--uid", "5000", "--", "/bin/true", NULL},
     .rc = -1, .err = "--uid and --gid"},
    {.name = "--gid without --uid", .args = {"--gid", "5000", "--", "/bin/true", NULL},
     .rc = -1, .err = "--uid and --gid"},
    {.name = "uid 0 is refused", .args = {"--uid", "0", "--gid", "0", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad id"},
    {.name = "uid not a number", .args = {"--uid", "12a", "--gid", "1", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad id"},
    {.name = "rlimit unknown name", .args = {"--rlimit", "rss=1", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit name is case-sensitive", .args = {"--rlimit", "CPU=1", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit without =", .args = {"--rlimit", "cpu", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit empty name", .args = {"--rlimit", "=5", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit empty value", .args = {"--rlimit", "cpu=", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit negative", .args = {"--rlimit", "cpu=-1", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit not a number", .args = {"--rlimit", "data=1G", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit above 2^62", .args = {"--rlimit", "as=4611686018427387905", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "rlimit very long name",
     .args = {"--rlimit", "averyveryverylongname=1", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "--ns without --root", .args = {"--ns", "--", "/bin/true", NULL},
     .rc = -1, .err = "--ns needs --root"},
    {.name = "17 --cgroup-procs",
     .args = {"--cgroup-procs", "/a1", "--cgroup-procs", "/a2", "--cgroup-procs", "/a3",
              "--cgroup-procs", "/a4", "--cgroup-procs", "/a5", "--cgroup-procs", "/a6",
              "--cgroup-procs", "/a7", "--cgroup-procs", "/a8", "--cgroup-procs", "/a9",
              "--cgroup-procs", "/a10", "--cgroup-procs", "/a11", "--cgroup-procs", "/a12",
              "--cgroup-procs", "/a13", "--cgroup-procs", "/a14", "--cgroup-procs", "/a15",
              "--cgroup-procs", "/a16", "--cgroup-procs", "/a17", "--", "/bin/true", NULL},
     .rc = -1, .err = "too many --cgroup-procs"},
    {.name = "17 --rlimit",
     .args = {"--rlimit", "cpu=1", "--rlimit", "cpu=2", "--rlimit", "cpu=3", "--rlimit", "cpu=4",
              "--rlimit", "cpu=5", "--rlimit", "cpu=6", "--rlimit", "cpu=7", "--rlimit", "cpu=8",
              "--rlimit", "cpu=9", "--rlimit", "cpu=10", "--rlimit", "cpu=11", "--rlimit", "cpu=12",
              "--rlimit", "cpu=13", "--rlimit", "cpu=14", "--rlimit", "cpu=15", "--rlimit", "cpu=16",
              "--rlimit", "cpu=17", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --rlimit"},
    {.name = "17 --ro-bind",
     .args = {"--ro-bind", "/b1", "--ro-bind", "/b2", "--ro-bind", "/b3", "--ro-bind", "/b4",
              "--ro-bind", "/b5", "--ro-bind", "/b6", "--ro-bind", "/b7", "--ro-bind", "/b8",
              "--ro-bind", "/b9", "--ro-bind", "/b10", "--ro-bind", "/b11", "--ro-bind", "/b12",
              "--ro-bind", "/b13", "--ro-bind", "/b14", "--ro-bind", "/b15", "--ro-bind", "/b16",
              "--ro-bind", "/b17", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --ro-bind"},
    {.name = "--ro-bind relative", .args = {"--ro-bind", "opt", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --ro-bind"},
    {.name = "hostname of 64 characters",
     .args = {"--hostname", "1234567890123456789012345678901234567890123456789012345678901234",
              "--", "/bin/true", NULL},
     .rc = -1, .err = "hostname too long"},
    {.name = "negative --timeout-ms", .args = {"--timeout-ms", "-1", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --timeout-ms"},
    {.name = "--status-fd out of range", .args = {"--status-fd", "1024", "--", "/bin/true", NULL},
     .rc = -1, .err = "bad --status-fd"},
};

static void test_launcher_parse_table(void)
{
    for (size_t c = 0; c < sizeof PARSE_CASES / sizeof PARSE_CASES[0]; c++) {
        const parse_case *tc = &PARSE_CASES[c];
        char *argv[MAXARGS + 2];
        int argc = 0;
        argv[argc++] = (char *)"daytona-emu-sandbox";
        for (int i = 0; tc->args[i]; i++)
            argv[argc++] = (char *)tc->args[i];
        argv[argc] = NULL;
        launcher_opts o;
        char err[256] = "";
        int rc = launcher_parse(argc, argv, &o, err, sizeof err);
        if (rc != tc->rc)
            fprintf(stderr, "\n  case \"%s\": rc %d (err \"%s\")\n", tc->name, rc, err);
        CU_ASSERT_EQUAL(rc, tc->rc);
        if (rc != 0 || tc->rc != 0) {
            if (tc->rc != 0 && !strstr(err, tc->err))
                fprintf(stderr, "\n  case \"%s\": message \"%s\", wanted \"%s\"\n",
                        tc->name, err, tc->err);
            if (tc->rc != 0)
                CU_ASSERT_PTR_NOT_NULL(strstr(err, tc->err));
            continue;
        }
#define STR_EQ(a, b) ((a) == NULL ? (b) == NULL : (b) != NULL && strcmp((a), (b)) == 0)
        int ok = STR_EQ(tc->root, o.root) && STR_EQ(tc->cwd, o.cwd) &&
                 STR_EQ(tc->hostname, o.hostname) && STR_EQ(tc->passwd, o.passwd_file) &&
                 o.uid == tc->uid && o.gid == tc->gid && o.kill_uid == tc->kill_uid &&
                 o.ns == tc->ns && o.no_net == tc->no_net && o.ncgroups == tc->ncgroups &&
                 o.nrlimits == tc->nrlimits && o.nro_binds == tc->nro_binds &&
                 o.status_fd == tc->status_fd && o.timeout_ms == tc->timeout_ms &&
                 STR_EQ(tc->netns, o.netns) && o.hold_net == tc->hold_net &&
                 o.linger == tc->linger;
        if (!ok)
            fprintf(stderr, "\n  case \"%s\": parsed fields differ\n", tc->name);
        CU_ASSERT(ok);
        if (tc->prog) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(o.argv);
            CU_ASSERT_STRING_EQUAL(o.argv[0], tc->prog);
            int n = 0;
            while (o.argv[n])
                n++;
            CU_ASSERT_EQUAL(n, tc->prog_argc);
            /* argv points into the caller's array, not into copies. */
            CU_ASSERT(o.argv > argv && o.argv < argv + argc);
        } else {
            CU_ASSERT_PTR_NULL(o.argv);
        }
#undef STR_EQ
    }
}

/* The values and resources of the "everything" case, in order. */
static void test_launcher_parse_rlimits(void)
{
    const parse_case *tc = &PARSE_CASES[1];
    char *argv[MAXARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"daytona-emu-sandbox";
    for (int i = 0; tc->args[i]; i++)
        argv[argc++] = (char *)tc->args[i];
    argv[argc] = NULL;
    launcher_opts o;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(launcher_parse(argc, argv, &o, err, sizeof err), 0);
    static const struct { int res; rlim_t v; } want[] = {
        {RLIMIT_CPU, 600}, {RLIMIT_DATA, 2147483648u}, {RLIMIT_FSIZE, 3221225472u},
        {RLIMIT_NOFILE, 1024}, {RLIMIT_CORE, 0}, {RLIMIT_NPROC, 256},
    };
    CU_ASSERT_EQUAL_FATAL(o.nrlimits, 6);
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(o.rlimits[i].resource, want[i].res);
        CU_ASSERT_EQUAL(o.rlimits[i].value, want[i].v);
    }
    CU_ASSERT_STRING_EQUAL(o.cgroups[0], "/sys/fs/cgroup/pids/x/cgroup.procs");
    CU_ASSERT_STRING_EQUAL(o.cgroups[1], "/sys/fs/cgroup/memory/x/cgroup.procs");
    CU_ASSERT_STRING_EQUAL(o.ro_binds[0], "/opt/ts");
    CU_ASSERT_STRING_EQUAL(o.argv[1], "-c");
    CU_ASSERT_STRING_EQUAL(o.argv[2], "echo hi");
}

/* A failed parse leaves no stale state: a second parse starts afresh. */
static void test_launcher_parse_resets(void)
{
    char *a1[] = {(char *)"x", (char *)"--ns", (char *)"--root", (char *)"/r",
                  (char *)"--uid", (char *)"7", (char *)"--gid", (char *)"7",
                  (char *)"--", (char *)"/bin/true", NULL};
    char *a2[] = {(char *)"x", (char *)"--", (char *)"/bin/false", NULL};
    launcher_opts o;
    char err[128];
    CU_ASSERT_EQUAL(launcher_parse(10, a1, &o, err, sizeof err), 0);
    CU_ASSERT_EQUAL(launcher_parse(3, a2, &o, err, sizeof err), 0);
    CU_ASSERT_EQUAL(o.ns, 0);
    CU_ASSERT_PTR_NULL(o.root);
    CU_ASSERT_EQUAL(o.uid, -1);
    CU_ASSERT_EQUAL(o.gid, -1);
    CU_ASSERT_STRING_EQUAL(o.argv[0], "/bin/false");
}

static void test_launcher_rlimit_resource(void)
{
    static const struct { const char *name; int res; } cases[] = {
        {"cpu", RLIMIT_CPU}, {"data", RLIMIT_DATA}, {"fsize", RLIMIT_FSIZE},
        {"stack", RLIMIT_STACK}, {"as", RLIMIT_AS}, {"nofile", RLIMIT_NOFILE},
        {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE},
        {"", -1}, {"CPU", -1}, {"rss", -1}, {"memlock", -1}, {"cpu ", -1},
        {"cpux", -1}, {"dat", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = launcher_rlimit_resource(cases[i].name);
        if (got != cases[i].res)
            fprintf(stderr, "\n  rlimit \"%s\": %d, wanted %d\n", cases[i].name, got,
                    cases[i].res);
        CU_ASSERT_EQUAL(got, cases[i].res);
    }
}

/* ======================================================================
 * strv
 * ====================================================================== */

static void test_strv_basics(void)
{
    strv v;
    strv_init(&v);
    CU_ASSERT_EQUAL(v.n, 0);
    CU_ASSERT_EQUAL(v.overflow, 0);
    CU_ASSERT_PTR_NULL(strv_array(&v)[0]);
    char s[] = "abc";
    strv_add(&v, s);
    s[0] = 'X';                                 /* a copy was stored */
    strv_addf(&v, "%s=%d", "N", 42);
    strv_add(&v, "");
    char **a = strv_array(&v);
    CU_ASSERT_EQUAL(v.n, 3);
    CU_ASSERT_STRING_EQUAL(a[0], "abc");
    CU_ASSERT_STRING_EQUAL(a[1], "N=42");
    CU_ASSERT_STRING_EQUAL(a[2], "");
    CU_ASSERT_PTR_NULL(a[3]);
    CU_ASSERT_EQUAL(v.overflow, 0);
    strv_release(&v);
    CU_ASSERT_EQUAL(v.n, 0);
}

static void test_strv_overflow(void)
{
    strv v;
    strv_init(&v);
    const int cap = (int)(sizeof v.items / sizeof v.items[0]) - 1;  /* + NULL */
    for (int i = 0; i < cap; i++)
        strv_addf(&v, "item%d", i);
    CU_ASSERT_EQUAL(v.n, cap);
    CU_ASSERT_EQUAL(v.overflow, 0);
    strv_add(&v, "one too many");
    CU_ASSERT_EQUAL(v.overflow, 1);
    CU_ASSERT_EQUAL(v.n, cap);
    strv_addf(&v, "%s", "and another");
    CU_ASSERT_EQUAL(v.n, cap);
    char **a = strv_array(&v);
    CU_ASSERT_STRING_EQUAL(a[0], "item0");
    CU_ASSERT_STRING_EQUAL(a[cap - 1], "item254");
    CU_ASSERT_PTR_NULL(a[cap]);
    strv_release(&v);

    /* strv_addf sizes long items (a 5000-byte env value) to fit; past its
     * 1 MiB bound: overflow, nothing added (never a truncated argument). */
    strv_init(&v);
    size_t big = 1024 * 1024;
    char *s = malloc(big + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memset(s, 'p', big);
    s[5000] = '\0';
    strv_addf(&v, "K=%s", s);
    CU_ASSERT_EQUAL(v.overflow, 0);
    CU_ASSERT_EQUAL(v.n, 1);
    CU_ASSERT_EQUAL(strlen(strv_array(&v)[0]), 5002);
    s[5000] = 'p';
    s[big] = '\0';
    strv_addf(&v, "--root=%s", s);
    CU_ASSERT_EQUAL(v.overflow, 1);
    CU_ASSERT_EQUAL(v.n, 1);
    /* strv_add takes any length. */
    strv_add(&v, s);
    CU_ASSERT_EQUAL(v.n, 2);
    CU_ASSERT_EQUAL(strlen(strv_array(&v)[1]), big);
    free(s);
    strv_release(&v);
}

/* ======================================================================
 * executor_env_name_valid
 * ====================================================================== */

static void test_env_name_valid(void)
{
    static const struct { const char *name; int ok; } cases[] = {
        {"A", 1}, {"_", 1}, {"a", 1}, {"PATH", 1}, {"_1", 1}, {"a1_B2", 1},
        {"DAYTONA_SANDBOX_ID", 1}, {"__", 1}, {"z9", 1},
        {"", 0}, {"1A", 0}, {"9", 0}, {"A-B", 0}, {"A B", 0}, {"A=B", 0},
        {"A.B", 0}, {"$A", 0}, {"A\n", 0}, {" A", 0}, {"A ", 0}, {"\xc3\xa9", 0},
        {"A\xc3\xa9", 0}, {"-", 0}, {"A;B", 0}, {"A/B", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = executor_env_name_valid(cases[i].name);
        if (got != cases[i].ok)
            fprintf(stderr, "\n  env name \"%s\": %d\n", cases[i].name, got);
        CU_ASSERT_EQUAL(got, cases[i].ok);
    }
    CU_ASSERT_EQUAL(executor_env_name_valid(NULL), 0);
}

/* ======================================================================
 * executor_limits
 * ====================================================================== */

static void limits_case(double memory, double disk, long cpu_s, long nofile,
                        long nproc, int with_nproc)
{
    emu_sandbox sb;
    sandbox_init(&sb);
    snprintf(sb.id, sizeof sb.id, "limits");
    sb.memory = memory;
    sb.disk = disk;
    sb.cpu = 1;
    exec_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_cpu_seconds = cpu_s;
    cfg.nofile = nofile;
    cfg.nproc = nproc;
    launcher_rlimit out[LAUNCHER_MAX_LIST];
    memset(out, 0xee, sizeof out);
    int n = executor_limits(&sb, &cfg, with_nproc, out);
    /* The order is part of the contract: the executor names the entries
     * cpu, data, fsize, nofile, core, nproc by position. */
    const struct { int res; rlim_t v; } want[] = {
        {RLIMIT_CPU, (rlim_t)cpu_s},
        {RLIMIT_DATA, (rlim_t)(memory > 0 ? memory : 1) * GIB},
        {RLIMIT_FSIZE, (rlim_t)(disk > 0 ? disk : 3) * GIB},
        {RLIMIT_NOFILE, (rlim_t)nofile},
        {RLIMIT_CORE, 0},
        {RLIMIT_NPROC, (rlim_t)nproc},
    };
    CU_ASSERT_EQUAL(n, with_nproc ? 6 : 5);
    for (int i = 0; i < n && i < 6; i++) {
        if (out[i].resource != want[i].res || out[i].value != want[i].v)
            fprintf(stderr, "\n  limits[%d]: resource %d value %llu, wanted %d %llu\n", i,
                    out[i].resource, (unsigned long long)out[i].value, want[i].res,
                    (unsigned long long)want[i].v);
        CU_ASSERT_EQUAL(out[i].resource, want[i].res);
        CU_ASSERT_EQUAL(out[i].value, want[i].v);
    }
    for (int i = 0; i < n; i++)
        CU_ASSERT(out[i].resource != RLIMIT_NPROC || with_nproc);
    sandbox_release(&sb);
}

static void test_executor_limits(void)
{
    /* memory 2 GiB → RLIMIT_DATA 2147483648, disk 3 → 3 GiB, cpu from the
     * configuration, nofile, core 0; nproc only when asked. */
    limits_case(2, 3, 600, 1024, 256, 0);
    limits_case(2, 3, 600, 1024, 256, 1);
    limits_case(1, 10, 5, 64, 32, 1);
    limits_case(8, 50, 3600, 65536, 1000, 0);
    /* Unset resources fall back to Daytona's defaults (1 GiB, 3 GiB). */
    limits_case(0, 0, 600, 1024, 256, 0);

    emu_sandbox sb;
    sandbox_init(&sb);
    sb.memory = 2;
    sb.disk = 3;
    exec_config cfg = {.max_cpu_seconds = 600, .nofile = 1024, .nproc = 256};
    launcher_rlimit out[LAUNCHER_MAX_LIST];
    CU_ASSERT_EQUAL(executor_limits(&sb, &cfg, 0, out), 5);
    CU_ASSERT_EQUAL(out[1].resource, RLIMIT_DATA);
    CU_ASSERT_EQUAL(out[1].value, (rlim_t)2147483648u);
    CU_ASSERT_EQUAL(out[2].resource, RLIMIT_FSIZE);
    CU_ASSERT_EQUAL(out[2].value, (rlim_t)3 * GIB);
    sandbox_release(&sb);
}

/* ======================================================================
 * executor_build_env
 * ====================================================================== */

/* Index of NAME=… in v, or -1; *count gets the number of entries. */
static int env_find(strv *v, const char *name, int *count)
{
    size_t nl = strlen(name);
    int at = -1, c = 0;
    char **a = strv_array(v);
    for (int i = 0; a[i]; i++) {
        if (strncmp(a[i], name, nl) == 0 && a[i][nl] == '=') {
            if (at < 0)
                at = i;
            c++;
        }
    }
    if (count)
        *count = c;
    return at;
}

static const char *env_val(strv *v, const char *name)
{
    int i = env_find(v, name, NULL);
    return i < 0 ? NULL : strv_array(v)[i] + strlen(name) + 1;
}

static void test_build_env_order_and_override(void)
{
    emu_sandbox sb;
    sandbox_init(&sb);
    snprintf(sb.id, sizeof sb.id, "0b4c3a1e-env-test");
    sandbox_set_str(&sb.snapshot, "daytonaio/sandbox:0.5.0-slim");
    sb.env = cJSON_Parse("{\"A\":\"1\",\"B\":\"2\",\"bad-name\":\"x\",\"1X\":\"y\","
                         "\"NUM\":5,\"\":\"e\",\"SHARED\":\"sandbox\"}");
    cJSON *req = cJSON_Parse("{\"B\":\"3\",\"C\":\"4\",\"with space\":\"z\","
                             "\"SHARED\":\"request\",\"EMPTY\":\"\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sb.env);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);

    /* Nothing of the test process's own environment may leak in. */
    char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("DT_LEAK_CANARY", "leaked", 1);
    setenv("PATH", "/leak/canary/bin", 1);
    setenv("HOME", "/leak/canary/home", 1);

    strv env;
    strv_init(&env);
    executor_build_env(&sb, "/home/daytona", "/tmp", "/opt/ts/node_modules/.bin", req, &env);

    if (old_path) setenv("PATH", old_path, 1); else unsetenv("PATH");
    if (old_home) setenv("HOME", old_home, 1); else unsetenv("HOME");
    unsetenv("DT_LEAK_CANARY");
    free(old_path);
    free(old_home);

    CU_ASSERT_EQUAL(env.overflow, 0);
    char **a = strv_array(&env);
    for (int i = 0; a[i]; i++) {
        CU_ASSERT_PTR_NOT_NULL(strchr(a[i], '='));
        CU_ASSERT_PTR_NULL(strstr(a[i], "/leak/canary"));
        CU_ASSERT(strncmp(a[i], "DT_LEAK_CANARY=", 15) != 0);
        /* Every name is valid and appears once. */
        char name[256];
        size_t nl = strcspn(a[i], "=");
        snprintf(name, sizeof name, "%.*s", (int)nl, a[i]);
        int count = 0;
        env_find(&env, name, &count);
        if (count != 1 || !executor_env_name_valid(name))
            fprintf(stderr, "\n  env entry \"%s\" (count %d)\n", a[i], count);
        CU_ASSERT_EQUAL(count, 1);
        CU_ASSERT(executor_env_name_valid(name));
    }

    /* Daytona's usual variables. */
    CU_ASSERT_STRING_EQUAL(env_val(&env, "HOME"), "/home/daytona");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "USER"), "daytona");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "DAYTONA_SANDBOX_ID"), "0b4c3a1e-env-test");
    const char *path = env_val(&env, "PATH");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_EQUAL(strncmp(path, "/opt/ts/node_modules/.bin:", 26), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(path, ":/usr/bin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(path, ":/bin"));
    CU_ASSERT_PTR_NULL(strstr(path, "::"));

    /* Invalid names and non-string values are skipped. */
    CU_ASSERT_EQUAL(env_find(&env, "bad-name", NULL), -1);
    CU_ASSERT_EQUAL(env_find(&env, "1X", NULL), -1);
    CU_ASSERT_EQUAL(env_find(&env, "NUM", NULL), -1);
    CU_ASSERT_EQUAL(env_find(&env, "with space", NULL), -1);
    for (int i = 0; a[i]; i++)
        CU_ASSERT(a[i][0] != '=');

    /* Later wins, once: request over sandbox over base. */
    CU_ASSERT_STRING_EQUAL(env_val(&env, "A"), "1");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "B"), "3");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "C"), "4");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "SHARED"), "request");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "EMPTY"), "");

    /* Order: base variables, then the sandbox's, then the request's. */
    int ia = env_find(&env, "A", NULL), ib = env_find(&env, "B", NULL);
    int ic = env_find(&env, "C", NULL);
    static const char *const base[] = {"PATH", "HOME", "USER", "DAYTONA_SANDBOX_ID"};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        int ix = env_find(&env, base[i], NULL);
        CU_ASSERT(ix >= 0 && ix < ia);
    }
    CU_ASSERT(ia < ib);
    CU_ASSERT(ib < ic);

    strv_release(&env);
    cJSON_Delete(req);
    sandbox_release(&sb);
}

static void test_build_env_defaults(void)
{
    emu_sandbox sb;
    sandbox_init(&sb);
    snprintf(sb.id, sizeof sb.id, "sb-2");
    sandbox_set_str(&sb.user, "alice");
    strv env;
    strv_init(&env);
    /* No extra path, no sandbox env, no request env. */
    executor_build_env(&sb, "/srv/sb-2/home/daytona", "/srv/sb-2/tmp", NULL, NULL, &env);
    CU_ASSERT_EQUAL(env.overflow, 0);
    CU_ASSERT_STRING_EQUAL(env_val(&env, "USER"), "alice");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "HOME"), "/srv/sb-2/home/daytona");
    CU_ASSERT_STRING_EQUAL(env_val(&env, "DAYTONA_SANDBOX_ID"), "sb-2");
    const char *path = env_val(&env, "PATH");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT(path[0] == '/');
    CU_ASSERT_PTR_NULL(strstr(path, "::"));
    CU_ASSERT(path[strlen(path) - 1] != ':');
    strv_release(&env);

    /* A request may override the base variables (later wins, once). */
    cJSON *req = cJSON_Parse("{\"HOME\":\"/elsewhere\",\"PATH\":\"/only\"}");
    strv_init(&env);
    executor_build_env(&sb, "/home/daytona", "/tmp", "/x", req, &env);
    int n = 0;
    CU_ASSERT_STRING_EQUAL(env_val(&env, "HOME"), "/elsewhere");
    env_find(&env, "HOME", &n);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_STRING_EQUAL(env_val(&env, "PATH"), "/only");
    env_find(&env, "PATH", &n);
    CU_ASSERT_EQUAL(n, 1);
    strv_release(&env);
    cJSON_Delete(req);
    sandbox_release(&sb);
}

static void test_build_env_overflow(void)
{
    emu_sandbox sb;
    sandbox_init(&sb);
    snprintf(sb.id, sizeof sb.id, "sb-3");
    cJSON *req = cJSON_CreateObject();
    for (int i = 0; i < 400; i++) {
        char k[16];
        snprintf(k, sizeof k, "V%d", i);
        cJSON_AddStringToObject(req, k, "x");
    }
    strv env;
    strv_init(&env);
    executor_build_env(&sb, "/home/daytona", "/tmp", NULL, req, &env);
    /* Too many for the list: flagged (the executor then refuses to run),
     * never written past the end. */
    CU_ASSERT_EQUAL(env.overflow, 1);
    CU_ASSERT(env.n <= (int)(sizeof env.items / sizeof env.items[0]) - 1);
    CU_ASSERT_PTR_NULL(strv_array(&env)[env.n]);
    strv_release(&env);
    cJSON_Delete(req);
    sandbox_release(&sb);
}

/* ======================================================================
 * executor_decode_status
 * ====================================================================== */

static void test_decode_status(void)
{
    static const struct {
        const char *line;
        int rc, kind, code, sig, err;
        const char *stage;
    } cases[] = {
        {"exit 3", 0, EXEC_EXITED, 3, 0, 0, NULL},
        {"exit 0\n", 0, EXEC_EXITED, 0, 0, 0, NULL},
        {"exit 255\n", 0, EXEC_EXITED, 255, 0, 0, NULL},
        {"signal 9", 0, EXEC_SIGNALED, 0, 9, 0, NULL},
        {"signal 15\n", 0, EXEC_SIGNALED, 0, 15, 0, NULL},
        {"timeout", 0, EXEC_TIMEOUT, 0, 0, 0, NULL},
        {"timeout\n", 0, EXEC_TIMEOUT, 0, 0, 0, NULL},
        {"error chdir 2", 0, EXEC_SETUP_ERROR, 0, 0, 2, "chdir"},
        {"error exec 13\n", 0, EXEC_SETUP_ERROR, 0, 0, 13, "exec"},
        {"error cgroup 28\n", 0, EXEC_SETUP_ERROR, 0, 0, 28, "cgroup"},
        {"", -1, 0, 0, 0, 0, NULL},
        {"garbage", -1, 0, 0, 0, 0, NULL},
        {"exit", -1, 0, 0, 0, 0, NULL},
        {"exit x", -1, 0, 0, 0, 0, NULL},
        {"signal", -1, 0, 0, 0, 0, NULL},
        {"error chdir", -1, 0, 0, 0, 0, NULL},
        {"error", -1, 0, 0, 0, 0, NULL},
        {"EXIT 3", -1, 0, 0, 0, 0, NULL},
        {" exit 3", -1, 0, 0, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        exec_result r;
        memset(&r, 0, sizeof r);
        int rc = executor_decode_status(cases[i].line, &r);
        if (rc != cases[i].rc)
            fprintf(stderr, "\n  status \"%s\": rc %d\n", cases[i].line, rc);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (rc != 0 || cases[i].rc != 0)
            continue;
        CU_ASSERT_EQUAL((int)r.kind, cases[i].kind);
        if (cases[i].kind == EXEC_EXITED)
            CU_ASSERT_EQUAL(r.exit_code, cases[i].code);
        if (cases[i].kind == EXEC_SIGNALED)
            CU_ASSERT_EQUAL(r.signal, cases[i].sig);
        if (cases[i].kind == EXEC_SETUP_ERROR) {
            CU_ASSERT_STRING_EQUAL(r.stage, cases[i].stage);
            CU_ASSERT_EQUAL(r.err, cases[i].err);
        }
    }
    /* An over-long stage name never overflows the stage field. */
    exec_result r;
    memset(&r, 0, sizeof r);
    executor_decode_status("error aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 5", &r);
    CU_ASSERT(strnlen(r.stage, sizeof r.stage) < sizeof r.stage);
}

/* ======================================================================
 * executor_sandbox_uid
 * ====================================================================== */

static void test_sandbox_uid(void)
{
    emu_sandbox a, b;
    sandbox_init(&a);
    sandbox_init(&b);
    snprintf(a.id, sizeof a.id, "3f0c2b8e-7d1a-4c55-9e0b-2a6f4d8c1e97");
    snprintf(b.id, sizeof b.id, "3f0c2b8e-7d1a-4c55-9e0b-2a6f4d8c1e97");
    a.seq = 1;
    b.seq = 99999;          /* another emulator's row number */
    b.memory = 4;
    long ua = executor_sandbox_uid(&a);
    /* Stable: a function of the id only (restarts, other emulators). */
    CU_ASSERT_EQUAL(ua, executor_sandbox_uid(&a));
    CU_ASSERT_EQUAL(ua, executor_sandbox_uid(&b));
    /* In [2^28, 2^31): far above system and user ids (and nobody's
     * 65534), and a positive 32-bit value. */
    CU_ASSERT(ua >= (1L << 28));
    CU_ASSERT(ua < (1L << 31));

    /* Different sandboxes (same seq, as in two fresh emulators) get
     * different uids. */
    enum { N = 2000 };
    long *u = malloc(N * sizeof *u);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    for (int i = 0; i < N; i++) {
        snprintf(b.id, sizeof b.id, "%08x-1111-4222-8333-%012d", (unsigned)i * 2654435761u, i);
        b.seq = 1;
        u[i] = executor_sandbox_uid(&b);
        CU_ASSERT(u[i] >= (1L << 28) && u[i] < (1L << 31));
    }
    int dup = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            dup += u[i] == u[j];
    CU_ASSERT_EQUAL(dup, 0);
    free(u);
    sandbox_release(&a);
    sandbox_release(&b);
}

/* ======================================================================
 * toolbox_coderun_script
 * ====================================================================== */

/* Decodes the base64 payload of the first "printf '%s' '<b64>'" in script
 * (caller frees), or NULL. */
static char *payload_of(const char *script, size_t *len)
{
    const char *p = strstr(script, "printf '%s' '");
    if (!p)
        return NULL;
    p += strlen("printf '%s' '");
    const char *e = strchr(p, '\'');
    if (!e)
        return NULL;
    size_t n = (size_t)(e - p);
    uint8_t *out = malloc(n * 3 / 4 + 4);
    size_t ol = 0;
    if (!out || base64_decode(p, n, out, &ol) != 0) {
        free(out);
        return NULL;
    }
    out[ol] = '\0';
    if (len)
        *len = ol;
    return (char *)out;
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(BASE64_ENCODED_SIZE(n));
    if (o)
        base64_encode(s, n, o);
    return o;
}

/* Builds the script; returns 0/-1 and the text in *out (caller releases). */
static int script_for(const char *lang, const char *code, const char *argv_json,
                      const char *ts_node, buf *out)
{
    cJSON *argv = argv_json ? cJSON_Parse(argv_json) : NULL;
    buf_init(out, 64 * 1024 * 1024);
    int rc = toolbox_coderun_script(lang, code, argv, ts_node, out);
    cJSON_Delete(argv);
    return rc;
}

static int have_prog(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * Runs script the way the executor does: as bash's stdin, stdout and stderr
 * merged.  Returns the exit status (-1 on failure); *out gets the output
 * (caller frees).
 */
static int run_bash(const char *script, char **out)
{
    char in_path[] = "/tmp/dt_test_executor_in_XXXXXX";
    char out_path[] = "/tmp/dt_test_executor_out_XXXXXX";
    int fi = mkstemp(in_path), fo = mkstemp(out_path);
    *out = NULL;
    if (fi < 0 || fo < 0) {
        if (fi >= 0) { close(fi); unlink(in_path); }
        if (fo >= 0) { close(fo); unlink(out_path); }
        return -1;
    }
    size_t len = strlen(script), off = 0;
    while (off < len) {
        ssize_t w = write(fi, script + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fi);
    close(fo);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cd /tmp && bash < %s > %s 2>&1", in_path, out_path);
    int st = system(cmd);
    FILE *f = fopen(out_path, "rb");
    if (f) {
        char *b = calloc(1, 1 << 16);
        if (b) {
            size_t n = fread(b, 1, (1 << 16) - 1, f);
            b[n] = '\0';
        }
        *out = b;
        fclose(f);
    }
    unlink(in_path);
    unlink(out_path);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_coderun_python(void)
{
    static const char code[] = "import sys\nprint(sys.argv)\nprint('caf\xc3\xa9 \\'q\\' $HOME')\n";
    buf s;
    CU_ASSERT_EQUAL_FATAL(script_for("python", code, "[\"a\",\"b c\",\"$NOPE\"]", NULL, &s), 0);
    const char *t = buf_str(&s);
    CU_ASSERT_EQUAL(strncmp(t, "printf '%s' '", 13), 0);
    /* Daytona: printf '%s' '<b64>' | base64 -d | python3 -u - <argv…>, the
     * argv joined with spaces and not quoted (trap 23). */
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "' | base64 -d | python3 -u - a b c $NOPE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "| base64 -d | python3 -u -"));
    size_t pl = 0;
    char *p = payload_of(t, &pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(pl, strlen(code));
    CU_ASSERT_STRING_EQUAL(p, code);
    free(p);
    /* The base64 alphabet never needs quoting inside '…'. */
    const char *b = t + 13;
    size_t bl = strcspn(b, "'");
    CU_ASSERT_EQUAL(strspn(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), bl);

    if (have_prog("python3")) {
        char *out = NULL;
        int st = run_bash(t, &out);
        CU_ASSERT_EQUAL(st, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        /* sys.argv[0] is '-'; "b c" is split by the shell; $NOPE expands
         * to nothing (unquoted). */
        if (!strstr(out, "['-', 'a', 'b', 'c']\n"))
            fprintf(stderr, "\n  python output: %s\n", out);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "['-', 'a', 'b', 'c']\n"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "caf\xc3\xa9 'q' $HOME\n"));
        free(out);
    }
    buf_release(&s);

    /* No argv (absent or empty): nothing after the dash. */
    CU_ASSERT_EQUAL(script_for("python", "print(1)", NULL, NULL, &s), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf_str(&s), "| base64 -d | python3 -u -"));
    p = payload_of(buf_str(&s), NULL);
    CU_ASSERT_STRING_EQUAL(p ? p : "", "print(1)");
    free(p);
    buf_release(&s);
    CU_ASSERT_EQUAL(script_for("python", "print(1)", "[]", NULL, &s), 0);
    p = payload_of(buf_str(&s), NULL);
    CU_ASSERT_STRING_EQUAL(p ? p : "", "print(1)");
    free(p);
    buf_release(&s);
}

static void test_coderun_python_matplotlib(void)
{
    static const char code[] =
        "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4])\nplt.show()\n";
    buf s;
    CU_ASSERT_EQUAL_FATAL(script_for("python", code, "[\"x\"]", NULL, &s), 0);
    const char *t = buf_str(&s);
    CU_ASSERT_EQUAL(strncmp(t, "printf '%s' '", 13), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "| base64 -d | python3 -u - x"));
    char *p = payload_of(t, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* The payload is the wrapper with the user's code embedded as base64. */
    CU_ASSERT(strcmp(p, code) != 0);
    char *enc = b64(code);
    CU_ASSERT_PTR_NOT_NULL_FATAL(enc);
    const char *w = (const char *)emu_mpl_wrapper;
    const char *at = strstr(w, "@CODE@");
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t head = (size_t)(at - w);
    CU_ASSERT_EQUAL(strlen(p), strlen(w) - 6 + strlen(enc));
    CU_ASSERT_EQUAL(strncmp(p, w, head), 0);
    CU_ASSERT_EQUAL(strncmp(p + head, enc, strlen(enc)), 0);
    CU_ASSERT_STRING_EQUAL(p + head + strlen(enc), at + 6);
    CU_ASSERT_PTR_NULL(strstr(p, "@CODE@"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, ARTIFACT));
    free(enc);
    free(p);
    buf_release(&s);
}

static void test_coderun_javascript(void)
{
    static const char code[] = "console.log(JSON.stringify(process.argv.slice(1)));\n"
                               "console.log(process.argv.length);\n";
    buf s;
    CU_ASSERT_EQUAL_FATAL(script_for("javascript", code, "[\"a\",\"b c\"]", NULL, &s), 0);
    const char *t = buf_str(&s);
    CU_ASSERT_EQUAL(strncmp(t, "printf '%s' '", 13), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "' | base64 -d | node - a b c"));
    char *p = payload_of(t, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    static const char prefix[] = "process.argv.splice(1, 1);\n";
    CU_ASSERT_EQUAL(strncmp(p, prefix, strlen(prefix)), 0);
    CU_ASSERT_STRING_EQUAL(p + strlen(prefix), code);
    free(p);
    if (have_prog("node")) {
        char *out = NULL;
        CU_ASSERT_EQUAL(run_bash(t, &out), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        /* process.argv is [node, ...argv] as on Daytona. */
        if (!strstr(out, "[\"a\",\"b\",\"c\"]\n4\n"))
            fprintf(stderr, "\n  node output: %s\n", out);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "[\"a\",\"b\",\"c\"]\n4\n"));
        free(out);
    }
    buf_release(&s);
}

static void test_coderun_typescript(void)
{
    static const char code[] = "const n: number = 41;\nconsole.log(n + 1);\n";
    buf s;
    CU_ASSERT_EQUAL_FATAL(script_for("typescript", code, "[\"p\",\"q\"]", "/x/ts-node", &s), 0);
    const char *t = buf_str(&s);
    CU_ASSERT_PTR_NOT_NULL(strstr(t,
        "'/x/ts-node' -T --ignore-diagnostics 5107 -O '{\"module\":\"CommonJS\"}'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "npm_config_loglevel=error"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "/tmp/dtn_$$.ts"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "rm -f"));
    char *p = payload_of(t, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    static const char prefix[] = "process.argv.splice(1, 1);\n";
    CU_ASSERT_EQUAL(strncmp(p, prefix, strlen(prefix)), 0);
    CU_ASSERT_STRING_EQUAL(p + strlen(prefix), code);
    free(p);
    buf_release(&s);

    /* Run it with a fake ts-node: it gets the flags, the temp file holding
     * the code, and the argv; its exit code is the script's, and the temp
     * file is gone afterwards. */
    char fake[] = "/tmp/dt_fake_ts_node_XXXXXX";
    int fd = mkstemp(fake);
    CU_ASSERT_FATAL(fd >= 0);
    static const char body[] =
        "#!/bin/sh\n"
        "printf 'loglevel:%s\\n' \"$npm_config_loglevel\"\n"
        "for a in \"$@\"; do printf 'arg:%s\\n' \"$a\"; done\n"
        "for a in \"$@\"; do case \"$a\" in /tmp/dtn_*.ts) printf 'file:%s\\n' \"$a\";"
        " printf 'code:'; cat \"$a\";; esac; done\n"
        "exit 7\n";
    CU_ASSERT_EQUAL(write(fd, body, sizeof body - 1), (ssize_t)(sizeof body - 1));
    close(fd);
    chmod(fake, 0755);
    CU_ASSERT_EQUAL_FATAL(script_for("typescript", code, "[\"p\",\"q r\"]", fake, &s), 0);
    char *out = NULL;
    int st = run_bash(buf_str(&s), &out);
    unlink(fake);
    CU_ASSERT_EQUAL(st, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    if (!strstr(out, "arg:-T\narg:--ignore-diagnostics\narg:5107\narg:-O\n"
                     "arg:{\"module\":\"CommonJS\"}\narg:/tmp/dtn_"))
        fprintf(stderr, "\n  fake ts-node output: %s\n", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "loglevel:error\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "arg:-T\narg:--ignore-diagnostics\narg:5107\narg:-O\n"
                                       "arg:{\"module\":\"CommonJS\"}\narg:/tmp/dtn_"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, ".ts\narg:p\narg:q\narg:r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "code:process.argv.splice(1, 1);\nconst n: number = 41;\n"));
    const char *fl = out ? strstr(out, "file:") : NULL;
    CU_ASSERT_PTR_NOT_NULL(fl);
    if (fl) {
        char path[256];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(fl + 5, "\n"), fl + 5);
        CU_ASSERT_EQUAL(access(path, F_OK), -1);    /* removed */
    }
    free(out);
    buf_release(&s);
}

static void test_coderun_typescript_missing(void)
{
    buf s;
    CU_ASSERT_EQUAL_FATAL(script_for("typescript", "console.log(1)", NULL, NULL, &s), 0);
    const char *t = buf_str(&s);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "not installed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "exit 127"));
    CU_ASSERT_PTR_NULL(strstr(t, "ts-node' -T"));
    char *out = NULL;
    CU_ASSERT_EQUAL(run_bash(t, &out), 127);
    CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "not installed"));
    free(out);
    buf_release(&s);
}

static void test_coderun_unknown_language(void)
{
    static const char *const langs[] = {"ruby", "Python", "PYTHON", "js", "ts", "",
                                        "python3", "node", "bash", "typescript "};
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++) {
        buf s;
        int rc = script_for(langs[i], "print(1)", NULL, "/x/ts-node", &s);
        if (rc != -1)
            fprintf(stderr, "\n  language \"%s\" accepted\n", langs[i]);
        CU_ASSERT_EQUAL(rc, -1);
        buf_release(&s);
    }
}

/* A script that does not fit the output buffer is an error, not a
 * truncated command. */
static void test_coderun_too_big(void)
{
    buf s;
    buf_init(&s, 64);
    CU_ASSERT_EQUAL(toolbox_coderun_script("python", "print('a fairly long line of code')",
                                           NULL, NULL, &s), -1);
    buf_release(&s);
}

/* ======================================================================
 * toolbox_uses_matplotlib
 * ====================================================================== */

static void test_uses_matplotlib(void)
{
    /* Daytona's six patterns (coderun/python.go), each
     * (?m)^[^#]*<pattern>: a match on a line with no '#' before it. */
    static const struct { const char *code; int yes; } cases[] = {
        {"import matplotlib", 1},
        {"import matplotlib.pyplot as plt\nplt.show()", 1},
        {"x = 1\nimport matplotlib.pyplot as plt", 1},
        {"    import matplotlib", 1},
        {"if True: import matplotlib", 1},
        {"from matplotlib import pyplot as plt", 1},
        {"from matplotlib.pyplot import show", 1},
        {"plt = __import__('matplotlib')", 1},
        {"plt = __import__(\"matplotlib\")", 1},
        {"import importlib\nm = importlib.import_module('matplotlib')", 1},
        {"m = importlib.import_module(\"matplotlib\")", 1},
        {"m = loader.load_module('matplotlib')", 1},
        {"m = loader.load_module(\"matplotlib\")", 1},
        {"m = sys.modules['matplotlib']", 1},
        {"m = sys.modules[\"matplotlib\"]", 1},
        /* \s+ and \s* in Daytona's regexes. */
        {"import  matplotlib", 1},
        {"import\tmatplotlib", 1},
        {"from   matplotlib import pyplot", 1},
        {"m = __import__( 'matplotlib' )", 1},
        {"m = importlib.import_module ('matplotlib')", 1},
        {"m = loader.load_module(  \"matplotlib\")", 1},
        /* Commented out: not counted. */
        {"# import matplotlib", 0},
        {"#import matplotlib.pyplot as plt", 0},
        {"x = 1  # import matplotlib", 0},
        {"    # from matplotlib import pyplot", 0},
        {"# m = __import__('matplotlib')", 0},
        {"# importlib.import_module('matplotlib')", 0},
        {"# loader.load_module('matplotlib')", 0},
        {"# sys.modules['matplotlib']", 0},
        {"# import matplotlib\nprint(1)\n# from matplotlib import x\n", 0},
        {"# note\nimport matplotlib", 1},
        /* Not an import of matplotlib. */
        {"", 0},
        {"print('hello')", 0},
        {"import numpy as np", 0},
        {"import math\nplot = 1", 0},
        {"x = 'matplotlib'", 0},
        {"import mathplotlib", 0},
        /* \s+ needs at least one blank: identifiers are not imports. */
        {"importmatplotlib = 1", 0},
        {"frommatplotlib = 2", 0},
        {"m = __import__('numpy')", 0},
        {"m = sys.modules['numpy']", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = toolbox_uses_matplotlib(cases[i].code) != 0;
        if (got != cases[i].yes)
            fprintf(stderr, "\n  matplotlib detection of \"%s\": %d, wanted %d\n",
                    cases[i].code, got, cases[i].yes);
        CU_ASSERT_EQUAL(got, cases[i].yes);
    }
}

/* ======================================================================
 * toolbox_extract_artifacts
 * ====================================================================== */

static void test_extract_artifacts(void)
{
    static const struct {
        const char *in, *out;
        int charts;
        const char *title0;     /* the first chart's title, if any */
    } cases[] = {
        {"", "", 0, NULL},
        {"hello\n", "hello\n", 0, NULL},
        {"hello", "hello", 0, NULL},
        {"a\n" ARTIFACT "{\"type\":\"chart\",\"value\":{\"type\":\"line\",\"title\":\"T\"}}\nb\n",
         "a\nb\n", 1, "T"},
        /* Invalid JSON: the line still goes. */
        {ARTIFACT "{not json\nx\n", "x\n", 0, NULL},
        {"x\n" ARTIFACT "\ny\n", "x\ny\n", 0, NULL},
        /* Only type chart is collected; other types are removed too. */
        {ARTIFACT "{\"type\":\"image\",\"value\":{\"title\":\"I\"}}\nkeep\n", "keep\n", 0, NULL},
        {ARTIFACT "{\"type\":\"chart\"}\n", "", 0, NULL},
        {ARTIFACT "{\"type\":\"chart\",\"value\":5}\n", "", 0, NULL},
        /* Several, in order; surrounding whitespace is trimmed (Go). */
        {ARTIFACT "{\"type\":\"chart\",\"value\":{\"title\":\"one\"}}\nmid\n"
         ARTIFACT "  {\"type\":\"chart\",\"value\":{\"title\":\"two\"}}  \nend",
         "mid\nend", 2, "one"},
        /* The marker must start the line. */
        {" " ARTIFACT "{\"type\":\"chart\",\"value\":{\"title\":\"no\"}}\n",
         " " ARTIFACT "{\"type\":\"chart\",\"value\":{\"title\":\"no\"}}\n", 0, NULL},
        {"x" ARTIFACT "{}\n", "x" ARTIFACT "{}\n", 0, NULL},
        {"dtn_artifact_k39fd2{}\n", "dtn_artifact_k39fd2{}\n", 0, NULL},
        /* Empty lines and the trailing newline survive. */
        {"\n\n" ARTIFACT "{}\n\n", "\n\n\n", 0, NULL},
        /* Go splits on \n and re-joins the kept lines with \n: a last line
         * that is an artifact without a newline leaves none behind. */
        {"a\n" ARTIFACT "{\"type\":\"chart\",\"value\":{\"title\":\"last\"}}",
         "a", 1, "last"},
        {ARTIFACT "{}", "", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf o;
        buf_init(&o, 1 << 20);
        buf_adds(&o, cases[i].in);
        cJSON *charts = cJSON_CreateArray();
        int n = toolbox_extract_artifacts(&o, charts);
        const char *got = buf_str(&o);
        if (strcmp(got, cases[i].out) != 0 || n != cases[i].charts)
            fprintf(stderr, "\n  artifacts case %zu: \"%s\" (%d charts), wanted \"%s\" (%d)\n",
                    i, got, n, cases[i].out, cases[i].charts);
        CU_ASSERT_STRING_EQUAL(got, cases[i].out);
        CU_ASSERT_EQUAL(o.len, strlen(cases[i].out));
        CU_ASSERT_EQUAL(n, cases[i].charts);
        CU_ASSERT_EQUAL(cJSON_GetArraySize(charts), cases[i].charts);
        if (cases[i].title0) {
            const cJSON *c0 = cJSON_GetArrayItem(charts, 0);
            const cJSON *tt = cJSON_GetObjectItemCaseSensitive(c0, "title");
            CU_ASSERT(cJSON_IsString(tt) && strcmp(tt->valuestring, cases[i].title0) == 0);
        }
        cJSON_Delete(charts);
        buf_release(&o);
    }

    /* The chart value is passed on whole (S218 does not validate it). */
    buf o;
    buf_init(&o, 1 << 20);
    buf_adds(&o, ARTIFACT "{\"type\":\"chart\",\"value\":{\"type\":\"bar\",\"title\":\"B\","
                 "\"elements\":[{\"label\":\"a\",\"group\":\"g\",\"value\":3}],\"png\":\"iVBO\"}}\n");
    cJSON *charts = cJSON_CreateArray();
    CU_ASSERT_EQUAL(toolbox_extract_artifacts(&o, charts), 1);
    const cJSON *c0 = cJSON_GetArrayItem(charts, 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c0, "type")), "bar");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c0, "png")), "iVBO");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c0, "elements")), 1);
    CU_ASSERT_STRING_EQUAL(buf_str(&o), "");
    cJSON_Delete(charts);
    buf_release(&o);

    /* A never-written buffer. */
    buf_init(&o, 16);
    charts = cJSON_CreateArray();
    CU_ASSERT_EQUAL(toolbox_extract_artifacts(&o, charts), 0);
    CU_ASSERT_EQUAL(o.len, 0);
    cJSON_Delete(charts);
    buf_release(&o);
}

/* ======================================================================
 * utf8_sanitize
 * ====================================================================== */

#define R "\xEF\xBF\xBD"    /* U+FFFD */

static void test_utf8_sanitize(void)
{
    static const struct {
        const char *in;
        size_t n;           /* 0 = strlen(in) */
        const char *out;
    } cases[] = {
        {"", 0, ""},
        {"plain ascii\n\t", 0, "plain ascii\n\t"},
        {"\x01\x1f\x7f", 0, "\x01\x1f\x7f"},          /* control chars stay (JSON escapes them) */
        /* Valid multi-byte sequences are kept, including the extremes. */
        {"caf\xc3\xa9", 0, "caf\xc3\xa9"},
        {"\xc2\x80", 0, "\xc2\x80"},                    /* U+0080 */
        {"\xdf\xbf", 0, "\xdf\xbf"},                    /* U+07FF */
        {"\xe0\xa0\x80", 0, "\xe0\xa0\x80"},            /* U+0800 */
        {"\xe2\x82\xac", 0, "\xe2\x82\xac"},            /* € */
        {"\xed\x9f\xbf", 0, "\xed\x9f\xbf"},            /* U+D7FF */
        {"\xee\x80\x80", 0, "\xee\x80\x80"},            /* U+E000 */
        {"\xef\xbf\xbd", 0, "\xef\xbf\xbd"},            /* U+FFFD itself */
        {"\xf0\x90\x80\x80", 0, "\xf0\x90\x80\x80"},    /* U+10000 */
        {"\xf0\x9f\x98\x80", 0, "\xf0\x9f\x98\x80"},    /* 😀 */
        {"\xf4\x8f\xbf\xbf", 0, "\xf4\x8f\xbf\xbf"},    /* U+10FFFF */
        /* Overlong encodings: every byte is replaced (Go: RuneError, 1). */
        {"\xc0\x80", 0, R R},
        {"\xc1\xbf", 0, R R},
        {"\xe0\x80\xaf", 0, R R R},
        {"\xf0\x80\x80\xaf", 0, R R R R},
        /* Surrogates. */
        {"\xed\xa0\x80", 0, R R R},
        {"\xed\xbf\xbf", 0, R R R},
        /* Above U+10FFFF and bytes that never occur. */
        {"\xf4\x90\x80\x80", 0, R R R R},
        {"\xf5\x80\x80\x80", 0, R R R R},
        {"\xf8", 0, R}, {"\xfe", 0, R}, {"\xff", 0, R},
        /* Lone continuation bytes. */
        {"\x80", 0, R}, {"a\xbfz", 0, "a" R "z"},
        /* Truncated sequences, at the end and in the middle. */
        {"\xc3", 0, R},
        {"\xe2\x82", 0, R R},
        {"\xf0\x9f\x98", 0, R R R},
        {"ab\xe2\x82" "cd", 0, "ab" R R "cd"},
        {"\xe2\x82\xe2\x82\xac", 0, R R "\xe2\x82\xac"},
        /* NUL cannot be carried by a C string: U+FFFD. */
        {"a\0b", 3, "a" R "b"},
        {"\0", 1, R},
        {"\xc3\0", 2, R R},
        /* Mixed. */
        {"ok \xc3\xa9 \xff end\n", 0, "ok \xc3\xa9 " R " end\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
        buf o;
        buf_init(&o, 1024);
        CU_ASSERT_EQUAL(utf8_sanitize(cases[i].in, n, &o), BUF_OK);
        if (strcmp(buf_str(&o), cases[i].out) != 0)
            fprintf(stderr, "\n  utf8 case %zu: got %zu bytes\n", i, o.len);
        CU_ASSERT_STRING_EQUAL(buf_str(&o), cases[i].out);
        CU_ASSERT_EQUAL(o.len, strlen(cases[i].out));
        buf_release(&o);
    }

    /* Appends (does not replace), and reports a full buffer. */
    buf o;
    buf_init(&o, 8);
    buf_adds(&o, "x");
    CU_ASSERT_EQUAL(utf8_sanitize("y", 1, &o), BUF_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&o), "xy");
    CU_ASSERT_EQUAL(utf8_sanitize("\xff\xff\xff", 3, &o), BUF_ETOOBIG);
    CU_ASSERT(o.len <= 8);
    buf_release(&o);
}

#undef R

int main(void)
{
    static const cu_test tests[] = {
        {"launcher", "launcher_parse table", test_launcher_parse_table},
        {"launcher", "launcher_parse rlimit values and lists", test_launcher_parse_rlimits},
        {"launcher", "launcher_parse starts afresh", test_launcher_parse_resets},
        {"launcher", "launcher_rlimit_resource table", test_launcher_rlimit_resource},
        {"executor", "strv basics", test_strv_basics},
        {"executor", "strv overflow", test_strv_overflow},
        {"executor", "executor_env_name_valid table", test_env_name_valid},
        {"executor", "executor_limits", test_executor_limits},
        {"executor", "executor_build_env order, override, hygiene", test_build_env_order_and_override},
        {"executor", "executor_build_env defaults", test_build_env_defaults},
        {"executor", "executor_build_env overflow", test_build_env_overflow},
        {"executor", "executor_decode_status table", test_decode_status},
        {"executor", "executor_sandbox_uid", test_sandbox_uid},
        {"toolbox", "code-run script: python", test_coderun_python},
        {"toolbox", "code-run script: python with matplotlib", test_coderun_python_matplotlib},
        {"toolbox", "code-run script: javascript", test_coderun_javascript},
        {"toolbox", "code-run script: typescript", test_coderun_typescript},
        {"toolbox", "code-run script: typescript without ts-node", test_coderun_typescript_missing},
        {"toolbox", "code-run script: unknown language", test_coderun_unknown_language},
        {"toolbox", "code-run script: does not fit", test_coderun_too_big},
        {"toolbox", "toolbox_uses_matplotlib table", test_uses_matplotlib},
        {"toolbox", "toolbox_extract_artifacts table", test_extract_artifacts},
        {"utf8", "utf8_sanitize table", test_utf8_sanitize},
    };
    return cu_run_table(tests, sizeof tests / sizeof tests[0], NULL, NULL);
}
