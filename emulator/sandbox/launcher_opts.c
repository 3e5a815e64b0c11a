/*
 * launcher_opts.c - parsing of daytona-emu-sandbox's command line.
 */
#include "launcher_opts.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct { const char *name; int res; } rl_names[] = {
    {"cpu", RLIMIT_CPU}, {"data", RLIMIT_DATA}, {"fsize", RLIMIT_FSIZE},
    {"stack", RLIMIT_STACK}, {"as", RLIMIT_AS}, {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE},
};

int launcher_rlimit_resource(const char *name)
{
    for (size_t i = 0; i < sizeof rl_names / sizeof rl_names[0]; i++)
        if (strcmp(rl_names[i].name, name) == 0)
            return rl_names[i].res;
    return -1;
}

static int num(const char *s, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int fail(char *err, size_t n, const char *what, const char *arg)
{
    snprintf(err, n, "%s: %s", what, arg ? arg : "(missing)");
    return -1;
}

int launcher_parse(int argc, char **argv, launcher_opts *o, char *err,
                   size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->uid = o->gid = -1;
    o->status_fd = 3;
    o->kill_uid = -1;
    long long v;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--ns") == 0) { o->ns = 1; continue; }
        if (strcmp(a, "--no-net") == 0) { o->no_net = 1; continue; }
        if (strcmp(a, "--tty") == 0) { o->tty = 1; continue; }
        if (strcmp(a, "--hold-net") == 0) { o->hold_net = 1; continue; }
        if (strcmp(a, "--linger") == 0) { o->linger = 1; continue; }
        if (!val)
            return fail(err, errlen, "option needs a value", a);
        i++;
        if (strcmp(a, "--root") == 0) {
            o->root = val;
        } else if (strcmp(a, "--cwd") == 0) {
            o->cwd = val;
        } else if (strcmp(a, "--uid") == 0 || strcmp(a, "--gid") == 0 ||
                   strcmp(a, "--kill-uid") == 0) {
            if (num(val, 1, 4294967294LL, &v) != 0)
                return fail(err, errlen, "bad id", val);
            if (a[2] == 'u') o->uid = (long)v;
            else if (a[2] == 'g') o->gid = (long)v;
            else o->kill_uid = (long)v;
        } else if (strcmp(a, "--hostname") == 0) {
            if (strlen(val) > 63)
                return fail(err, errlen, "hostname too long", val);
            o->hostname = val;
        } else if (strcmp(a, "--cgroup-procs") == 0) {
            if (o->ncgroups >= LAUNCHER_MAX_LIST)
                return fail(err, errlen, "too many --cgroup-procs", val);
            o->cgroups[o->ncgroups++] = val;
        } else if (strcmp(a, "--ro-bind") == 0) {
            /* SRC[:DST]; the colon is split in place (argv is ours). */
            char *colon = strchr(argv[i], ':');
            if (o->nro_binds >= LAUNCHER_MAX_LIST || val[0] != '/' ||
                (colon && colon[1] != '/'))
                return fail(err, errlen, "bad --ro-bind", val);
            if (colon)
                *colon = '\0';
            o->ro_binds[o->nro_binds] = argv[i];
            o->ro_bind_dst[o->nro_binds++] = colon ? colon + 1 : argv[i];
        } else if (strcmp(a, "--netns") == 0) {
            if (val[0] != '/')
                return fail(err, errlen, "bad --netns", val);
            o->netns = val;
        } else if (strcmp(a, "--passwd") == 0) {
            o->passwd_file = val;
        } else if (strcmp(a, "--rlimit") == 0) {
            char name[16];
            const char *eq = strchr(val, '=');
            if (!eq || (size_t)(eq - val) >= sizeof name ||
                o->nrlimits >= LAUNCHER_MAX_LIST)
                return fail(err, errlen, "bad --rlimit", val);
            memcpy(name, val, (size_t)(eq - val));
            name[eq - val] = '\0';
            int res = launcher_rlimit_resource(name);
            if (res < 0 || num(eq + 1, 0, (long long)1 << 62, &v) != 0)
                return fail(err, errlen, "bad --rlimit", val);
            o->rlimits[o->nrlimits].resource = res;
            o->rlimits[o->nrlimits++].value = (rlim_t)v;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            if (num(val, 0, (long long)1 << 40, &v) != 0)
                return fail(err, errlen, "bad --timeout-ms", val);
            o->timeout_ms = v;
        } else if (strcmp(a, "--status-fd") == 0) {
            if (num(val, 0, 1023, &v) != 0)
                return fail(err, errlen, "bad --status-fd", val);
            o->status_fd = (int)v;
        } else {
            return fail(err, errlen, "unknown option", a);
        }
    }
    if ((o->uid < 0) != (o->gid < 0))
        return fail(err, errlen, "--uid and --gid go together", "");
    if (o->kill_uid >= 0 || o->hold_net)
        return 0;
    if (i >= argc)
        return fail(err, errlen, "no program given", "");
    if (argv[i][0] != '/')
        return fail(err, errlen, "program must be an absolute path", argv[i]);
    if (o->ns && !o->root)
        return fail(err, errlen, "--ns needs --root", "");
    o->argv = &argv[i];
    return 0;
}

/* SIGKILLs every process whose /proc entry belongs to uid; returns how
 * many were found. */
static int kill_pass(uid_t uid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        struct stat st;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", (int)pid);
        if (pid == getpid() || stat(path, &st) != 0 || st.st_uid != uid)
            continue;
        found++;
        kill(pid, SIGKILL);
    }
    closedir(d);
    return found;
}

int launcher_kill_uid(long uid)
{
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
        return 1;
    /* As the sandbox's uid we may signal exactly its processes.  A fork
     * bomb may still be forking, so repeat until a pass finds nothing.
     * (kill(-1) cannot tell us when we are done: it only reports ESRCH
     * when no other process exists at all.) */
    for (int round = 0; round < 1000; round++) {
        int n = kill_pass((uid_t)uid);
        if (n == 0)
            return 0;
        if (n < 0)
            kill(-1, SIGKILL);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return 1;
}
