/*
 * executor.c - see executor.h.
 */
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "fsutil.h"
#include "netutil.h"
#include "supervisor.h"
#include "timeutil.h"

#define MAX_JOBS 4096
#define VIEW_HOME "/home/daytona"
#define TS_VIEW_ROOT "/.daytona-emu/typescript"
#define SHELL "/bin/bash"

typedef struct {
    char sandbox_id[SB_ID_LEN];
    pid_t pid;
} job;

/* A sandbox's network namespace holder (launcher --hold-net). */
typedef struct {
    char sandbox_id[SB_ID_LEN];
    pid_t pid;
    int status_fd;                /* EOF once the holder is gone */
} net_holder;

struct emu_executor {
    exec_config cfg;
    iso_level level;
    int is_root;
    int uid_per_sandbox;
    int have_ns;
    int have_netns;               /* the probe made a network namespace */
    emu_supervisor *sup;
    emu_cgroups *cg;              /* NULL below the cgroups level */
    int ts_ok;
    char ts_root[PATH_MAX];       /* directory made visible for ts-node */
    char launcher[PATH_MAX], sbdir[PATH_MAX], ts_node[PATH_MAX];
    char ts_view[PATH_MAX];       /* ts-node as namespaced sandboxes see it */
    pthread_mutex_t mu;
    job jobs[MAX_JOBS];
    int njobs;
    /* Sandboxes whose tree and cgroups are ready in this process, so a
     * command does not redo the set-up (guarded by mu). */
    char (*prepared)[SB_ID_LEN];
    int nprepared;
    int closing;                  /* shutting down: no new commands */
    int lingering;                /* waiter threads of lingering commands */
    pthread_cond_t linger_cv;     /* signalled as each waiter ends (mu) */
    /* Per-sandbox network namespaces (namespaced levels, unless NET_HOST
     * or the host cannot make them): their holders, guarded by netmu. */
    int net_isolated;
    char net_note[160];           /* why not, when NET_AUTO fell back */
    int self_netns;               /* our own, to return to after setns */
    pthread_mutex_t netmu;
    net_holder *nets;
    int nnets;
};

#define MAX_NETS MAX_JOBS

#define MAX_PREPARED 65536

static int prepared_find(emu_executor *ex, const char *id)
{
    for (int i = 0; i < ex->nprepared; i++)
        if (strcmp(ex->prepared[i], id) == 0)
            return i;
    return -1;
}

static int is_prepared(emu_executor *ex, const char *id)
{
    pthread_mutex_lock(&ex->mu);
    int r = prepared_find(ex, id) >= 0;
    pthread_mutex_unlock(&ex->mu);
    return r;
}

static void set_prepared(emu_executor *ex, const char *id, int on)
{
    pthread_mutex_lock(&ex->mu);
    int i = prepared_find(ex, id);
    if (on && i < 0 && ex->prepared && ex->nprepared < MAX_PREPARED)
        snprintf(ex->prepared[ex->nprepared++], SB_ID_LEN, "%s", id);
    else if (!on && i >= 0)
        memcpy(ex->prepared[i], ex->prepared[--ex->nprepared], SB_ID_LEN);
    pthread_mutex_unlock(&ex->mu);
}

/* ---------- strv ---------- */

void strv_init(strv *v)
{
    memset(v->items, 0, sizeof v->items);
    v->n = 0;
    v->overflow = 0;
    buf_init(&v->store, 1024 * 1024);
}

void strv_release(strv *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->items[i]);
    buf_release(&v->store);
    v->n = 0;
}

void strv_add(strv *v, const char *s)
{
    if (v->n >= (int)(sizeof v->items / sizeof v->items[0]) - 1) {
        v->overflow = 1;
        return;
    }
    char *c = strdup(s);
    if (!c) {
        v->overflow = 1;
        return;
    }
    v->items[v->n++] = c;
    v->items[v->n] = NULL;
}

/* Env values can be long (a token, a JSON blob): sized to fit, bounded at
 * 1 MiB per entry (the kernel's own per-string cap is 128 KiB anyway). */
void strv_addf(strv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = n >= 0 && n < 1024 * 1024 ? malloc((size_t)n + 1) : NULL;
    if (!tmp) {
        v->overflow = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    strv_add(v, tmp);
    free(tmp);
}

char **strv_array(strv *v)
{
    v->items[v->n] = NULL;
    return v->items;
}

/* ---------- building blocks ---------- */

int executor_env_name_valid(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Derived from the sandbox's random UUID, not from a per-emulator counter:
 * several emulators may run on one host (every test starts its own), and
 * two sandboxes sharing a uid would share RLIMIT_NPROC and be swept
 * together by the uid kill.  The range [2^28, 2^31) is far above the
 * system's and users' ids. */
long executor_sandbox_uid(const emu_sandbox *sb)
{
    uint32_t h = 2166136261u;                  /* FNV-1a over the id */
    for (const char *p = sb->id; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    return (long)(0x10000000u + h % 0x70000000u);
}

int executor_limits(const emu_sandbox *sb, const exec_config *cfg,
                    int with_nproc, launcher_rlimit out[LAUNCHER_MAX_LIST])
{
    const rlim_t gib = (rlim_t)1 << 30;
    int n = 0;
    out[n].resource = RLIMIT_CPU;
    out[n++].value = (rlim_t)cfg->max_cpu_seconds;
    /* Data, not address space: V8 reserves far more virtual memory than it
     * uses, and RLIMIT_DATA counts private writable mappings since 4.7. */
    out[n].resource = RLIMIT_DATA;
    out[n++].value = (rlim_t)((sb->memory > 0 ? sb->memory : 1) * (double)gib);
    out[n].resource = RLIMIT_FSIZE;
    out[n++].value = (rlim_t)((sb->disk > 0 ? sb->disk : 3) * (double)gib);
    out[n].resource = RLIMIT_NOFILE;
    out[n++].value = (rlim_t)cfg->nofile;
    out[n].resource = RLIMIT_CORE;
    out[n++].value = 0;
    if (with_nproc) {
        /* Counted per real uid, so only meaningful with a uid per sandbox. */
        out[n].resource = RLIMIT_NPROC;
        out[n++].value = (rlim_t)cfg->nproc;
    }
    return n;
}

/* Sets or replaces NAME=value in the list (later wins, order kept). */
static void env_set(strv *v, const char *name, const char *value)
{
    size_t nl = strlen(name);
    for (int i = 0; i < v->n; i++) {
        if (strncmp(v->items[i], name, nl) == 0 && v->items[i][nl] == '=') {
            free(v->items[i]);
            /* Remove, then append below so the new value is last. */
            memmove(&v->items[i], &v->items[i + 1],
                    (size_t)(v->n - i) * sizeof v->items[0]);
            v->n--;
            break;
        }
    }
    strv_addf(v, "%s=%s", name, value);
}

static void env_from_json(strv *v, const cJSON *obj)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
        if (cJSON_IsString(it) && executor_env_name_valid(it->string))
            env_set(v, it->string, it->valuestring);
}

void executor_build_env(const emu_sandbox *sb, const char *home,
                        const char *tmp, const char *extra_path,
                        const cJSON *req_envs, strv *out)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path,
             "%s%s/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             extra_path ? extra_path : "", extra_path ? ":" : "");
    env_set(out, "PATH", path);
    env_set(out, "HOME", home);
    env_set(out, "USER", sb->user ? sb->user : "daytona");
    env_set(out, "LOGNAME", sb->user ? sb->user : "daytona");
    env_set(out, "SHELL", SHELL);
    env_set(out, "TMPDIR", tmp);
    env_set(out, "LANG", "C.UTF-8");
    env_set(out, "HOSTNAME", sb->id);
    env_set(out, "DAYTONA_SANDBOX_ID", sb->id);
    env_set(out, "DAYTONA_SANDBOX_USER", sb->user ? sb->user : "daytona");
    if (sb->snapshot)
        env_set(out, "DAYTONA_SANDBOX_SNAPSHOT", sb->snapshot);
    env_from_json(out, sb->env);
    env_from_json(out, req_envs);
}

int executor_decode_status(const char *line, exec_result *res)
{
    int v = 0;
    char stage[24];
    if (sscanf(line, "exit %d", &v) == 1) {
        res->kind = EXEC_EXITED;
        res->exit_code = v;
    } else if (sscanf(line, "signal %d", &v) == 1) {
        res->kind = EXEC_SIGNALED;
        res->signal = v;
    } else if (strncmp(line, "timeout", 7) == 0) {
        res->kind = EXEC_TIMEOUT;
    } else if (sscanf(line, "error %23s %d", stage, &v) == 2) {
        res->kind = EXEC_SETUP_ERROR;
        snprintf(res->stage, sizeof res->stage, "%s", stage);
        res->err = v;
    } else {
        return -1;
    }
    return 0;
}

/* ---------- levels and probing ---------- */

int executor_net_parse(const char *s)
{
    static const char *const names[] = {"auto", "per-sandbox", "host"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int executor_level_parse(const char *s)
{
    static const char *const names[] = {"auto", "process", "namespaced", "cgroups"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *executor_level_name(iso_level l)
{
    switch (l) {
    case ISO_PROCESS: return "process";
    case ISO_NAMESPACED: return "namespaced";
    case ISO_CGROUPS: return "cgroups";
    default: return "auto";
    }
}

/* What the start-up probe found: bits of probe_namespaces. */
enum { PROBE_NS = 1,      /* mount, PID, IPC and UTS namespaces */
       PROBE_NET = 2 };   /* a network namespace with loopback up */

/* Can we create the namespaces the launcher needs, and a network namespace
 * with loopback up as the holder (launcher --hold-net) does?  Tried in a
 * child, with system calls only, so a failure leaves the emulator
 * untouched.  The network is probed on its own: where only it fails, the
 * other namespaces still serve (NET_AUTO falls back to the host's). */
static int probe_namespaces(void)
{
    if (geteuid() != 0)
        return 0;
    pid_t p = fork();
    if (p < 0)
        return 0;
    if (p == 0) {
        if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
            _exit(0);
        if (unshare(CLONE_NEWNET) != 0 || net_loopback_up() != 0)
            _exit(PROBE_NS);
        _exit(PROBE_NS | PROBE_NET);
    }
    int st = 0;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 0;
}

/* Is `path` reachable by every user (each ancestor has o+x)? */
static int world_traversable(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + strlen(tmp); p > tmp; p--) {
        if (*p != '/' && p != tmp + strlen(tmp))
            continue;
        char save = *p;
        *p = '\0';
        struct stat st;
        if (tmp[0] && (stat(tmp, &st) != 0 || !(st.st_mode & S_IXOTH)))
            return 0;
        *p = save;
    }
    return 1;
}

/* Decides the sandboxes' network (net_mode) once the level is known.
 * NET_AUTO falls back to the host's network, with the reason kept for
 * executor_info; NET_PER_SANDBOX fails instead.  0 or -1 with err. */
static int setup_network(emu_executor *ex, char *err, size_t errlen)
{
    if (ex->cfg.network == NET_HOST)
        return 0;
    const char *why = NULL;
    if (ex->level < ISO_NAMESPACED)
        why = "the process isolation level has no namespaces";
    else if (!ex->have_netns)
        why = "this host cannot make a network namespace with loopback up";
    else if (!ex->nets)
        why = "out of memory";
    else if ((ex->self_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        why = "cannot open /proc/self/ns/net";
    if (!why) {
        ex->net_isolated = 1;
        return 0;
    }
    if (ex->cfg.network == NET_PER_SANDBOX) {
        snprintf(err, errlen, "--sandbox-network per-sandbox is not available "
                 "here: %s", why);
        return -1;
    }
    /* At the process level the level itself says it; a namespaced level
     * without a network of its own deserves the reason. */
    if (ex->level >= ISO_NAMESPACED)
        snprintf(ex->net_note, sizeof ex->net_note, "%s: sandboxes share the "
                 "host's network and networkBlockAll is not enforced", why);
    return 0;
}

emu_executor *executor_new(const exec_config *cfg, char *err, size_t errlen)
{
    emu_executor *ex = calloc(1, sizeof *ex);
    if (!ex) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ex->cfg = *cfg;
    ex->prepared = calloc(MAX_PREPARED, SB_ID_LEN);
    /* The strings are the caller's; keep copies for the executor's life. */
    snprintf(ex->launcher, sizeof ex->launcher, "%s", cfg->launcher);
    snprintf(ex->sbdir, sizeof ex->sbdir, "%s", cfg->sandboxes_dir);
    snprintf(ex->ts_node, sizeof ex->ts_node, "%s", cfg->ts_node ? cfg->ts_node : "");
    ex->cfg.launcher = ex->launcher;
    ex->cfg.sandboxes_dir = ex->sbdir;
    ex->cfg.ts_node = ex->ts_node[0] ? ex->ts_node : NULL;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_mutex_init(&ex->netmu, NULL);
    pthread_cond_init(&ex->linger_cv, NULL);
    ex->self_netns = -1;
    ex->nets = calloc(MAX_NETS, sizeof *ex->nets);
    ex->is_root = geteuid() == 0;
    if (access(cfg->launcher, X_OK) != 0) {
        snprintf(err, errlen, "sandbox launcher %s is missing: %s",
                 cfg->launcher, strerror(errno));
        goto fail;
    }
    if (fs_mkdir_p(cfg->sandboxes_dir, 0711) != 0 ||
        chmod(cfg->sandboxes_dir, 0711) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->sandboxes_dir,
                 strerror(errno));
        goto fail;
    }
    int probe = probe_namespaces();
    ex->have_ns = (probe & PROBE_NS) != 0;
    ex->have_netns = (probe & PROBE_NET) != 0;
    int want = cfg->level;
    if (want == ISO_AUTO || want == ISO_CGROUPS) {
        ex->cg = cgroups_new(err, errlen);
        if (!ex->cg && want == ISO_CGROUPS) {
            char why[256];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "--isolation cgroups is not available here: %s", why);
            goto fail;
        }
    }
    if ((want == ISO_NAMESPACED || want == ISO_CGROUPS) && !ex->have_ns) {
        snprintf(err, errlen, "--isolation %s is not available here: creating "
                 "namespaces needs root (unshare failed)",
                 executor_level_name((iso_level)want));
        goto fail;
    }
    if (want == ISO_PROCESS) {
        ex->level = ISO_PROCESS;
    } else if (want == ISO_NAMESPACED) {
        ex->level = ISO_NAMESPACED;
    } else if (ex->have_ns && ex->cg) {
        ex->level = ISO_CGROUPS;
    } else {
        ex->level = ex->have_ns ? ISO_NAMESPACED : ISO_PROCESS;
    }
    if (ex->level < ISO_CGROUPS) {
        cgroups_free(ex->cg);
        ex->cg = NULL;
    }
    /* A uid per sandbox needs root, and at the process level the sandbox's
     * directory must be reachable by that uid. */
    ex->uid_per_sandbox = ex->is_root &&
        (ex->level >= ISO_NAMESPACED || world_traversable(cfg->sandboxes_dir));
    ex->ts_ok = cfg->ts_node && access(cfg->ts_node, X_OK) == 0;
    if (ex->ts_ok) {
        /* .../runtimes/typescript/node_modules/.bin/ts-node → the
         * runtime's directory, bound read-only into namespaced sandboxes. */
        char rp[PATH_MAX];
        if (realpath(cfg->ts_node, rp)) {
            char *nm = strstr(rp, "/node_modules/");
            if (nm)
                *nm = '\0';
            snprintf(ex->ts_root, sizeof ex->ts_root, "%s", rp);
        }
        /* The configured path relative to the runtime root, re-rooted. */
        const char *rel = strstr(cfg->ts_node, "/node_modules/");
        snprintf(ex->ts_view, sizeof ex->ts_view, TS_VIEW_ROOT "%s",
                 rel ? rel : "/node_modules/.bin/ts-node");
    }
    if (setup_network(ex, err, errlen) != 0)
        goto fail;
    ex->sup = supervisor_start();
    if (!ex->sup) {
        snprintf(err, errlen, "cannot start the sandbox supervisor: %s",
                 strerror(errno));
        goto fail;
    }
    return ex;
fail:
    cgroups_free(ex->cg);
    if (ex->self_netns >= 0)
        close(ex->self_netns);
    pthread_mutex_destroy(&ex->netmu);
    pthread_cond_destroy(&ex->linger_cv);
    pthread_mutex_destroy(&ex->mu);
    free(ex->nets);
    free(ex->prepared);
    free(ex);
    return NULL;
}

iso_level executor_level(const emu_executor *ex)
{
    return ex->level;
}

const char *executor_ts_node(const emu_executor *ex)
{
    if (!ex->ts_ok)
        return NULL;
    /* Inside namespaced sandboxes the runtime is mounted at TS_VIEW_ROOT. */
    return ex->level >= ISO_NAMESPACED ? ex->ts_view : ex->cfg.ts_node;
}

cJSON *executor_info(const emu_executor *ex)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "level", executor_level_name(ex->level)) ||
        !cJSON_AddBoolToObject(o, "namespaces", ex->level >= ISO_NAMESPACED) ||
        !(ex->cg ? cJSON_AddStringToObject(o, "cgroups", cgroups_version(ex->cg)) != NULL
                 : cJSON_AddNullToObject(o, "cgroups") != NULL) ||
        !cJSON_AddBoolToObject(o, "uidPerSandbox", ex->uid_per_sandbox) ||
        !cJSON_AddStringToObject(o, "network", ex->net_isolated ? "per-sandbox"
                                                                : "host") ||
        !(ex->net_note[0] ? cJSON_AddStringToObject(o, "networkNote", ex->net_note) != NULL
                          : cJSON_AddNullToObject(o, "networkNote") != NULL) ||
        !cJSON_AddBoolToObject(o, "typescript", ex->ts_ok) ||
        !cJSON_AddNumberToObject(o, "maxCpuSeconds", (double)ex->cfg.max_cpu_seconds) ||
        !cJSON_AddNumberToObject(o, "maxProcesses", (double)ex->cfg.nproc) ||
        !cJSON_AddNumberToObject(o, "maxOutputBytes", (double)ex->cfg.max_output)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---------- sandbox file trees ---------- */

/* <sandboxes>/<id> holds the launcher's private files (.passwd, .rootfs);
 * <sandboxes>/<id>/fs is the sandbox's own file system root, containing
 * only home/daytona, tmp and workspace — what the file API may reach. */
static void sandbox_dir(const emu_executor *ex, const emu_sandbox *sb,
                        char *out, size_t n)
{
    snprintf(out, n, "%s/%s", ex->cfg.sandboxes_dir, sb->id);
}

void executor_fs_root(const emu_executor *ex, const emu_sandbox *sb,
                      char *out, size_t n)
{
    snprintf(out, n, "%s/%s/fs", ex->cfg.sandboxes_dir, sb->id);
}

int executor_owner(const emu_executor *ex, const emu_sandbox *sb, long *uid)
{
    if (!ex->uid_per_sandbox)
        return -1;
    *uid = executor_sandbox_uid(sb);
    return 0;
}

void executor_home_dir(const emu_executor *ex, const emu_sandbox *sb,
                       char *out, size_t n)
{
    if (ex->level >= ISO_NAMESPACED) {
        snprintf(out, n, VIEW_HOME);
        return;
    }
    char d[PATH_MAX];
    executor_fs_root(ex, sb, d, sizeof d);
    snprintf(out, n, "%.4000s" VIEW_HOME, d);
}

int executor_host_path(const emu_executor *ex, const emu_sandbox *sb,
                       const char *view, char *out, size_t n)
{
    static const char *const roots[] = {VIEW_HOME, "/tmp", "/workspace"};
    char d[PATH_MAX];
    executor_fs_root(ex, sb, d, sizeof d);
    for (size_t i = 0; i < 3; i++) {
        size_t rl = strlen(roots[i]);
        if (strncmp(view, roots[i], rl) == 0 && (view[rl] == '\0' || view[rl] == '/'))
            return snprintf(out, n, "%s%s", d, view) >= (int)n ? -1 : 0;
    }
    return snprintf(out, n, "%s", view) >= (int)n ? -1 : 0;
}

static int write_passwd(const char *path, long uid)
{
    /* The host's accounts plus the sandbox user, so `whoami` and prompts
     * work inside namespaced sandboxes. */
    FILE *in = fopen("/etc/passwd", "r");
    FILE *out = fopen(path, "w");
    int rc = -1;
    if (!out)
        goto cleanup;
    char line[1024];
    while (in && fgets(line, sizeof line, in))
        if (strncmp(line, "daytona:", 8) != 0)
            fputs(line, out);
    fprintf(out, "daytona:x:%ld:%ld:Daytona:" VIEW_HOME ":" SHELL "\n", uid, uid);
    rc = 0;
cleanup:
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

int executor_prepare(emu_executor *ex, const emu_sandbox *sb)
{
    char d[PATH_MAX], p[PATH_MAX + 64];
    sandbox_dir(ex, sb, d, sizeof d);
    long uid = ex->uid_per_sandbox ? executor_sandbox_uid(sb) : -1;
    static const char *const sub[] = {"", "/fs", "/fs/home", "/fs" VIEW_HOME,
                                      "/fs/tmp", "/fs/workspace"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(p, sizeof p, "%s%s", d, sub[i]);
        int top = i <= 2;
        if (mkdir(p, top ? 0711 : 0700) != 0 && errno != EEXIST)
            return -1;
        /* The sandbox's own directories belong to its uid; other sandboxes'
         * uids cannot enter them (0700). */
        if (!top && uid >= 0 && chown(p, (uid_t)uid, (gid_t)uid) != 0)
            return -1;
        if (!top && uid < 0)
            chmod(p, 0700);
    }
    if (ex->level >= ISO_NAMESPACED) {
        snprintf(p, sizeof p, "%s/.passwd", d);
        if (write_passwd(p, uid >= 0 ? uid : (long)getuid()) != 0)
            return -1;
    }
    if (ex->cg && cgroups_prepare(ex->cg, sb->id, sb->memory, sb->cpu,
                                  ex->cfg.nproc) != 0)
        return -1;
    set_prepared(ex, sb->id, 1);
    return 0;
}

/* ---------- job registry ---------- */

static int job_add(emu_executor *ex, const char *sid, pid_t pid)
{
    pthread_mutex_lock(&ex->mu);
    int ok = ex->njobs < MAX_JOBS;
    if (ok) {
        snprintf(ex->jobs[ex->njobs].sandbox_id, SB_ID_LEN, "%s", sid);
        ex->jobs[ex->njobs++].pid = pid;
    }
    pthread_mutex_unlock(&ex->mu);
    return ok ? 0 : -1;
}

static void job_remove(emu_executor *ex, pid_t pid)
{
    pthread_mutex_lock(&ex->mu);
    for (int i = 0; i < ex->njobs; i++) {
        if (ex->jobs[i].pid == pid) {
            ex->jobs[i] = ex->jobs[--ex->njobs];
            break;
        }
    }
    pthread_mutex_unlock(&ex->mu);
}

int executor_running(emu_executor *ex, const char *sid)
{
    pthread_mutex_lock(&ex->mu);
    int n = 0;
    for (int i = 0; i < ex->njobs; i++)
        n += !sid || strcmp(ex->jobs[i].sandbox_id, sid) == 0;
    pthread_mutex_unlock(&ex->mu);
    return n;
}

/* Runs the launcher in --kill-uid mode and waits for it. */
static void kill_uid(emu_executor *ex, long uid)
{
    char uidbuf[32];
    snprintf(uidbuf, sizeof uidbuf, "%ld", uid);
    char *argv[] = {(char *)ex->cfg.launcher, "--kill-uid", uidbuf, NULL};
    char *envp[] = {NULL};
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int sp[2];
    if (devnull < 0 || pipe2(sp, O_CLOEXEC) != 0) {
        if (devnull >= 0)
            close(devnull);
        return;
    }
    pid_t p = supervisor_spawn(ex->sup, argv, envp, devnull, devnull, sp[1]);
    close(devnull);
    close(sp[1]);
    if (p > 0) {
        /* The status pipe reaches EOF when the killer exits. */
        char b[64];
        struct pollfd pfd = {sp[0], POLLIN, 0};
        while (poll(&pfd, 1, 10000) > 0 && read(sp[0], b, sizeof b) > 0)
            ;
    }
    close(sp[0]);
}

/* ---------- per-sandbox network namespaces ---------- */

/* 1 while the holder runs: its status pipe, drained of "ready", only
 * becomes readable at EOF. */
static int holder_alive(const net_holder *h)
{
    struct pollfd pfd = {h->status_fd, POLLIN, 0};
    return poll(&pfd, 1, 0) == 0;
}

/* Ends a holder taken out of the table: SIGTERM, then up to 2 s for it to
 * be gone (its namespace goes with it, once no process is left inside). */
static void holder_end(emu_executor *ex, net_holder *h)
{
    supervisor_kill(ex->sup, h->pid, SIGTERM);
    char b[64];
    int64_t end = time_mono_ms() + 2000;
    for (;;) {
        int left = (int)(end - time_mono_ms());
        struct pollfd pfd = {h->status_fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, left) <= 0 ||
            read(h->status_fd, b, sizeof b) <= 0)
            break;
    }
    close(h->status_fd);
    h->status_fd = -1;
}

/* Starts a holder and waits (up to 5 s) for its "ready". netmu held. */
static int holder_spawn(emu_executor *ex, const char *sandbox_id, net_holder *h)
{
    char *argv[] = {ex->launcher, "--hold-net", NULL};
    char *envp[] = {NULL};
    int st[2] = {-1, -1};
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || pipe2(st, O_CLOEXEC) != 0) {
        if (devnull >= 0)
            close(devnull);
        return -1;
    }
    pid_t pid = supervisor_spawn(ex->sup, argv, envp, devnull, devnull, st[1]);
    close(devnull);
    close(st[1]);
    char line[64];
    size_t n = 0;
    int64_t end = time_mono_ms() + 5000;
    while (pid > 0 && n < sizeof line - 1 && !memchr(line, '\n', n)) {
        int left = (int)(end - time_mono_ms());
        struct pollfd pfd = {st[0], POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        ssize_t r = read(st[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (pid > 0 && n == 6 && memcmp(line, "ready\n", 6) == 0) {
        snprintf(h->sandbox_id, sizeof h->sandbox_id, "%s", sandbox_id);
        h->pid = pid;
        h->status_fd = st[0];
        return 0;
    }
    if (pid > 0)
        supervisor_kill(ex->sup, pid, SIGKILL);
    close(st[0]);
    return -1;
}

static int holder_find(emu_executor *ex, const char *sandbox_id)
{
    for (int i = 0; i < ex->nnets; i++)
        if (strcmp(ex->nets[i].sandbox_id, sandbox_id) == 0)
            return i;
    return -1;
}

/* /proc/<holder>/ns/net for the sandbox, starting its holder when it has
 * none (or it died).  0 or -1. */
static int netns_path(emu_executor *ex, const char *sandbox_id, char *out,
                      size_t n)
{
    int rc = -1;
    pthread_mutex_lock(&ex->netmu);
    int i = holder_find(ex, sandbox_id);
    if (i >= 0 && !holder_alive(&ex->nets[i])) {
        holder_end(ex, &ex->nets[i]);
        ex->nets[i] = ex->nets[--ex->nnets];
        i = -1;
    }
    if (i < 0 && ex->nnets < MAX_NETS &&
        holder_spawn(ex, sandbox_id, &ex->nets[ex->nnets]) == 0)
        i = ex->nnets++;
    if (i >= 0) {
        snprintf(out, n, "/proc/%d/ns/net", (int)ex->nets[i].pid);
        rc = 0;
    }
    pthread_mutex_unlock(&ex->netmu);
    return rc;
}

/* Ends the sandbox's holder, if any (stop, archive, delete). */
static void netns_drop(emu_executor *ex, const char *sandbox_id)
{
    pthread_mutex_lock(&ex->netmu);
    int i = holder_find(ex, sandbox_id);
    net_holder h = {0};
    if (i >= 0) {
        h = ex->nets[i];
        ex->nets[i] = ex->nets[--ex->nnets];
    }
    pthread_mutex_unlock(&ex->netmu);
    if (i >= 0)
        holder_end(ex, &h);
}

int executor_connect(emu_executor *ex, const char *sandbox_id, int port)
{
    int nsfd = -1;
    if (ex && ex->net_isolated) {
        pthread_mutex_lock(&ex->netmu);
        int i = holder_find(ex, sandbox_id);
        if (i >= 0 && holder_alive(&ex->nets[i])) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/ns/net", (int)ex->nets[i].pid);
            nsfd = open(path, O_RDONLY | O_CLOEXEC);
        }
        pthread_mutex_unlock(&ex->netmu);
        if (nsfd < 0) {
            errno = ECONNREFUSED;
            return -1;
        }
        /* A socket belongs to the namespace it is made in, and setns of a
         * network namespace moves only this thread: in, socket, back. */
        if (setns(nsfd, CLONE_NEWNET) != 0) {
            int e = errno;
            close(nsfd);
            errno = e;
            return -1;
        }
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int e = errno;
    if (nsfd >= 0) {
        if (setns(ex->self_netns, CLONE_NEWNET) != 0) {
            /* This server thread would go on inside a sandbox's network:
             * nothing safe is left to do. */
            fprintf(stderr, "daytona-emu: cannot return to the emulator's "
                    "network namespace: %s\n", strerror(errno));
            abort();
        }
        close(nsfd);
    }
    if (fd < 0) {
        errno = e;
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void executor_kill(emu_executor *ex, const emu_sandbox *sb)
{
    pid_t pids[MAX_JOBS];
    int n = 0;
    pthread_mutex_lock(&ex->mu);
    for (int i = 0; i < ex->njobs; i++)
        if (strcmp(ex->jobs[i].sandbox_id, sb->id) == 0)
            pids[n++] = ex->jobs[i].pid;
    pthread_mutex_unlock(&ex->mu);
    /* Each launcher kills its own tree on SIGTERM; cgroups and the uid
     * sweep catch anything that escaped both (e.g. after a crash). */
    for (int i = 0; i < n; i++)
        supervisor_kill(ex->sup, pids[i], SIGTERM);
    if (ex->cg)
        cgroups_kill(ex->cg, sb->id);
    if (ex->uid_per_sandbox)
        kill_uid(ex, executor_sandbox_uid(sb));
    for (int t = 0; t < 200 && executor_running(ex, sb->id) > 0; t++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (ex->net_isolated)
        netns_drop(ex, sb->id);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p) != 0 && errno != ENOENT ? 0 : 0;
}

void executor_remove(emu_executor *ex, const emu_sandbox *sb)
{
    set_prepared(ex, sb->id, 0);
    executor_kill(ex, sb);
    if (ex->cg)
        cgroups_remove(ex->cg, sb->id);
    char d[PATH_MAX];
    sandbox_dir(ex, sb, d, sizeof d);
    /* FTW_PHYS: never follow a symlink a sandbox planted. */
    nftw(d, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void executor_shutdown(emu_executor *ex)
{
    if (!ex)
        return;
    pid_t pids[MAX_JOBS];
    pthread_mutex_lock(&ex->mu);
    ex->closing = 1;
    int n = ex->njobs;
    for (int i = 0; i < n; i++)
        pids[i] = ex->jobs[i].pid;
    pthread_mutex_unlock(&ex->mu);
    for (int i = 0; i < n; i++)
        supervisor_kill(ex->sup, pids[i], SIGTERM);
    for (int t = 0; t < 300 && executor_running(ex, NULL) > 0; t++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

void executor_free(emu_executor *ex)
{
    if (!ex)
        return;
    supervisor_stop(ex->sup);   /* SIGTERM to every launcher, then reap */
    /* Their waiters see EOF now; none may outlive ex. */
    pthread_mutex_lock(&ex->mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    while (ex->lingering > 0 &&
           pthread_cond_timedwait(&ex->linger_cv, &ex->mu, &dl) == 0)
        ;
    int stuck = ex->lingering > 0;
    pthread_mutex_unlock(&ex->mu);
    if (stuck)
        return;                 /* leaked rather than freed under a waiter */
    for (int i = 0; i < ex->nnets; i++)
        close(ex->nets[i].status_fd);
    if (ex->self_netns >= 0)
        close(ex->self_netns);
    cgroups_free(ex->cg);
    pthread_mutex_destroy(&ex->netmu);
    free(ex->nets);
    pthread_cond_destroy(&ex->linger_cv);
    pthread_mutex_destroy(&ex->mu);
    free(ex->prepared);
    free(ex);
}

/* ---------- running a command ---------- */

static int build_argv_ex(emu_executor *ex, const emu_sandbox *sb,
                         const exec_spec *spec, int tty, strv *av);

static int build_argv(emu_executor *ex, const emu_sandbox *sb,
                      const exec_spec *spec, strv *av)
{
    return build_argv_ex(ex, sb, spec, 0, av);
}

static int build_argv_ex(emu_executor *ex, const emu_sandbox *sb,
                         const exec_spec *spec, int tty, strv *av)
{
    char d[PATH_MAX];
    sandbox_dir(ex, sb, d, sizeof d);
    strv_add(av, ex->cfg.launcher);
    strv_add(av, "--root");
    strv_add(av, d);
    char cwd[PATH_MAX];
    if (ex->level >= ISO_NAMESPACED)
        snprintf(cwd, sizeof cwd, "%s", spec->cwd ? spec->cwd : VIEW_HOME);
    else if (executor_host_path(ex, sb, spec->cwd ? spec->cwd : VIEW_HOME,
                                cwd, sizeof cwd) != 0)
        return -1;
    strv_add(av, "--cwd");
    strv_add(av, cwd);
    if (ex->uid_per_sandbox) {
        long uid = executor_sandbox_uid(sb);
        strv_add(av, "--uid");
        strv_addf(av, "%ld", uid);
        strv_add(av, "--gid");
        strv_addf(av, "%ld", uid);
    }
    if (ex->level >= ISO_NAMESPACED) {
        strv_add(av, "--ns");
        if (ex->net_isolated) {
            /* The sandbox's own network (loopback only, which also covers
             * networkBlockAll). */
            char ns[64];
            if (netns_path(ex, sb->id, ns, sizeof ns) != 0)
                return -1;
            strv_add(av, "--netns");
            strv_add(av, ns);
        } else if (sb->network_block_all && ex->have_netns) {
            /* NET_HOST: a private network per command instead. */
            strv_add(av, "--no-net");
        }
        strv_add(av, "--hostname");
        strv_addf(av, "%.63s", sb->id);
        strv_add(av, "--passwd");
        strv_addf(av, "%s/.passwd", d);
        if (ex->ts_root[0]) {
            /* At a fixed place on the sandbox's own root: a host path under
             * /tmp (a CI checkout) would be hidden by the sandbox's /tmp. */
            strv_add(av, "--ro-bind");
            strv_addf(av, "%s:" TS_VIEW_ROOT, ex->ts_root);
        }
    }
    if (ex->cg) {
        char paths[8][PATH_MAX];
        int np = cgroups_procs_files(ex->cg, sb->id, paths, 8);
        for (int i = 0; i < np; i++) {
            strv_add(av, "--cgroup-procs");
            strv_add(av, paths[i]);
        }
    }
    launcher_rlimit rl[LAUNCHER_MAX_LIST];
    int nrl = executor_limits(sb, &ex->cfg, ex->uid_per_sandbox, rl);
    static const char *const names[] = {"cpu", "data", "fsize", "nofile", "core", "nproc"};
    for (int i = 0; i < nrl; i++) {
        strv_add(av, "--rlimit");
        strv_addf(av, "%s=%llu", names[i], (unsigned long long)rl[i].value);
    }
    if (spec->timeout_ms > 0) {
        strv_add(av, "--timeout-ms");
        strv_addf(av, "%lld", (long long)spec->timeout_ms);
    }
    if (tty)
        strv_add(av, "--tty");
    if (spec->linger && ex->level >= ISO_NAMESPACED)
        strv_add(av, "--linger");
    strv_add(av, "--");
    strv_add(av, SHELL);
    if (tty) {
        strv_add(av, "-i");
        strv_add(av, "-l");
    }
    return av->overflow ? -1 : 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * The I/O loop: feeds stdin, collects output up to the cap, reads the
 * status line, and enforces a backstop deadline (the launcher enforces the
 * real one).  Returns when output and status have both reached EOF -- or,
 * for a lingering command (spec->linger), once the status line is in and
 * the output has closed: then 1 when the launcher is still running (what
 * the command left lives on), else 0.
 */
static int pump(emu_executor *ex, pid_t pid, int in_w, int out_r, int st_r,
                const exec_spec *spec, exec_result *res, buf *status)
{
    size_t in_off = 0;
    int in_open = in_w >= 0, out_open = 1, st_open = 1, killed = 0;
    int64_t backstop = spec->timeout_ms > 0
                           ? time_mono_ms() + spec->timeout_ms + 5000 : 0;
    int64_t t0 = time_mono_ms(), drain_end = 0, give_up = 0;
    char chunk[65536];
    for (;;) {
        /* A lingering command is done once its status line is in and its
         * output closed.  If something still holds the output when
         * EXEC_DRAIN_MS have passed (or the command's own deadline, which
         * on Daytona kills its process group), what the command left is
         * ended with its namespace and the pipes are read to their end. */
        int stated = spec->linger && !give_up && status->len &&
                     memchr(status->data, '\n', status->len) != NULL;
        if (!out_open && (!st_open || stated))
            break;
        if (stated && !drain_end) {
            drain_end = time_mono_ms() + EXEC_DRAIN_MS;
            if (spec->timeout_ms > 0 && t0 + spec->timeout_ms < drain_end)
                drain_end = t0 + spec->timeout_ms;
            backstop = 0;
        }
        if (drain_end && !give_up && time_mono_ms() >= drain_end) {
            supervisor_kill(ex->sup, pid, SIGTERM);
            give_up = time_mono_ms() + 5000;
            continue;
        }
        if (give_up && time_mono_ms() >= give_up)
            break;
        struct pollfd p[3];
        int np = 0, iout = -1, ist = -1, iin = -1;
        if (out_open) { p[np] = (struct pollfd){out_r, POLLIN, 0}; iout = np++; }
        if (st_open && !stated) { p[np] = (struct pollfd){st_r, POLLIN, 0}; ist = np++; }
        if (in_open) { p[np] = (struct pollfd){in_w, POLLOUT, 0}; iin = np++; }
        int r = poll(p, (nfds_t)np, 200);
        if (r < 0 && errno != EINTR)
            break;
        if (backstop && !killed && time_mono_ms() > backstop) {
            supervisor_kill(ex->sup, pid, SIGKILL);
            res->kind = EXEC_TIMEOUT;
            killed = 1;
        }
        if (r <= 0)
            continue;
        if (iin >= 0 && (p[iin].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in_w, spec->stdin_data + in_off,
                              spec->stdin_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
                in_off >= spec->stdin_len) {
                close(in_w);      /* EOF: the shell ends after the script */
                in_open = 0;
            }
        }
        if (iout >= 0 && (p[iout].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(out_r, chunk, sizeof chunk);
            if (n > 0) {
                if (!res->truncated) {
                    size_t room = ex->cfg.max_output - res->output.len;
                    size_t take = (size_t)n < room ? (size_t)n : room;
                    buf_add(&res->output, chunk, take);
                    if ((size_t)n > room) {
                        /* Output flood: keep what fits and end the command
                         * (as Piston does), instead of buffering forever. */
                        res->truncated = 1;
                        supervisor_kill(ex->sup, pid, SIGTERM);
                    }
                }
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                out_open = 0;
            }
        }
        if (ist >= 0 && (p[ist].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(st_r, chunk, sizeof chunk);
            if (n > 0)
                buf_add(status, chunk, (size_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                st_open = 0;
        }
    }
    /* Usually the launcher is on its way out (nothing was left running):
     * a moment's wait spares a waiter thread. */
    int64_t brief = time_mono_ms() + 100;
    while (st_open && time_mono_ms() < brief) {
        struct pollfd p = {st_r, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t n = read(st_r, chunk, sizeof chunk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            st_open = 0;
    }
    if (in_open)
        close(in_w);
    return st_open;
}

/* ---------- commands that left processes running ---------- */

typedef struct {
    emu_executor *ex;
    pid_t pid;
    int fd;
} linger_job;

/* Blocks until the status pipe's EOF (the launcher is gone), then forgets
 * the job. */
static void linger_reap(emu_executor *ex, pid_t pid, int fd)
{
    char b[256];
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, -1);
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t n = r > 0 ? read(fd, b, sizeof b) : -1;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
    }
    close(fd);
    job_remove(ex, pid);
}

static void *linger_main(void *arg)
{
    linger_job *j = arg;
    emu_executor *ex = j->ex;
    linger_reap(ex, j->pid, j->fd);
    free(j);
    pthread_mutex_lock(&ex->mu);
    ex->lingering--;
    pthread_cond_broadcast(&ex->linger_cv);
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

/* The command's launcher stays (a job, killed with the sandbox) while what
 * it left runs; a detached thread notices its end.  Without a thread, the
 * leftovers are ended now. */
static void linger_wait(emu_executor *ex, pid_t pid, int fd)
{
    linger_job *j = malloc(sizeof *j);
    pthread_t t;
    pthread_attr_t at;
    int started = 0;
    if (j && pthread_attr_init(&at) == 0) {
        *j = (linger_job){ex, pid, fd};
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 64 * 1024);
        pthread_mutex_lock(&ex->mu);
        ex->lingering++;
        started = pthread_create(&t, &at, linger_main, j) == 0;
        if (!started)
            ex->lingering--;
        pthread_mutex_unlock(&ex->mu);
        pthread_attr_destroy(&at);
    }
    if (started)
        return;
    free(j);
    supervisor_kill(ex->sup, pid, SIGTERM);
    linger_reap(ex, pid, fd);
}

int executor_start_shell(emu_executor *ex, const emu_sandbox *sb,
                         const char *cwd, exec_proc *out, int *stdout_fd)
{
    int in[2] = {-1, -1}, st[2] = {-1, -1}, so[2] = {-1, -1}, devnull = -1, rc = -1;
    strv av, env;
    strv_init(&av);
    strv_init(&env);
    memset(out, 0, sizeof *out);
    out->stdin_fd = out->status_fd = -1;
    pthread_mutex_lock(&ex->mu);
    int closing = ex->closing;
    pthread_mutex_unlock(&ex->mu);
    if (closing)
        goto cleanup;
    if (!is_prepared(ex, sb->id) && executor_prepare(ex, sb) != 0)
        goto cleanup;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0 || pipe2(in, O_CLOEXEC) != 0 || pipe2(st, O_CLOEXEC) != 0 ||
        (stdout_fd && pipe2(so, O_CLOEXEC) != 0))
        goto cleanup;
    char home[PATH_MAX], tmp[PATH_MAX], extra[PATH_MAX + 32] = "";
    executor_home_dir(ex, sb, home, sizeof home);
    if (ex->level >= ISO_NAMESPACED)
        snprintf(tmp, sizeof tmp, "/tmp");
    else if (executor_host_path(ex, sb, "/tmp", tmp, sizeof tmp) != 0)
        goto cleanup;
    if (ex->ts_root[0])
        snprintf(extra, sizeof extra, "%s/node_modules/.bin",
                 ex->level >= ISO_NAMESPACED ? TS_VIEW_ROOT : ex->ts_root);
    executor_build_env(sb, home, tmp, extra[0] ? extra : NULL, NULL, &env);
    exec_spec spec = {NULL, 0, cwd, NULL, 0, 0};
    if (build_argv(ex, sb, &spec, &av) != 0 || env.overflow)
        goto cleanup;
    /* The supervisor makes one descriptor fds 1 and 2: with stdout
     * captured, stderr joins it (the worker protocol keeps its own copy of
     * fd 1 and points fd 1 at fd 2 anyway). */
    pid_t pid = supervisor_spawn(ex->sup, strv_array(&av), strv_array(&env),
                                 in[0], stdout_fd ? so[1] : devnull, st[1]);
    if (pid < 0)
        goto cleanup;
    job_add(ex, sb->id, pid);
    out->pid = pid;
    out->stdin_fd = in[1];
    out->status_fd = st[0];
    in[1] = st[0] = -1;
    if (stdout_fd) {
        *stdout_fd = so[0];
        so[0] = -1;
    }
    snprintf(out->sandbox_id, sizeof out->sandbox_id, "%s", sb->id);
    rc = 0;
cleanup:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) close(in[i]);
        if (st[i] >= 0) close(st[i]);
        if (so[i] >= 0) close(so[i]);
    }
    if (devnull >= 0)
        close(devnull);
    strv_release(&av);
    strv_release(&env);
    return rc;
}

int executor_proc_alive(const exec_proc *p)
{
    if (p->status_fd < 0)
        return 0;
    /* The launcher writes its status line as the shell ends, and the pipe
     * reaches EOF once it exits: readable means gone. */
    struct pollfd pfd = {p->status_fd, POLLIN, 0};
    return poll(&pfd, 1, 0) <= 0;
}

int executor_start_pty(emu_executor *ex, const emu_sandbox *sb,
                       const char *cwd, const cJSON *envs, int cols, int rows,
                       exec_proc *out, int *master)
{
    int m = -1, slave = -1, st[2] = {-1, -1}, rc = -1;
    strv av, env;
    strv_init(&av);
    strv_init(&env);
    memset(out, 0, sizeof *out);
    out->stdin_fd = out->status_fd = -1;
    pthread_mutex_lock(&ex->mu);
    int closing = ex->closing;
    pthread_mutex_unlock(&ex->mu);
    if (closing)
        goto cleanup;
    if (!is_prepared(ex, sb->id) && executor_prepare(ex, sb) != 0)
        goto cleanup;
    /* The pair is made here, on the host's devpts: the sandbox only ever
     * gets the slave as its fds 0-2, so it needs no /dev/pts of its own. */
    char name[64];
    m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 ||
        ptsname_r(m, name, sizeof name) != 0)
        goto cleanup;
    slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0 || pipe2(st, O_CLOEXEC) != 0)
        goto cleanup;
    long uid = -1;
    if (executor_owner(ex, sb, &uid) == 0 && fchown(slave, (uid_t)uid, (gid_t)uid) != 0)
        goto cleanup;
    struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
    ioctl(m, TIOCSWINSZ, &ws);
    char home[PATH_MAX], tmp[PATH_MAX], extra[PATH_MAX + 32] = "";
    executor_home_dir(ex, sb, home, sizeof home);
    if (ex->level >= ISO_NAMESPACED)
        snprintf(tmp, sizeof tmp, "/tmp");
    else if (executor_host_path(ex, sb, "/tmp", tmp, sizeof tmp) != 0)
        goto cleanup;
    if (ex->ts_root[0])
        snprintf(extra, sizeof extra, "%s/node_modules/.bin",
                 ex->level >= ISO_NAMESPACED ? TS_VIEW_ROOT : ex->ts_root);
    strv_add(&env, "TERM=xterm-256color");
    executor_build_env(sb, home, tmp, extra[0] ? extra : NULL, envs, &env);
    exec_spec spec = {NULL, 0, cwd, NULL, 0, 0};
    if (build_argv_ex(ex, sb, &spec, 1, &av) != 0 || env.overflow)
        goto cleanup;
    pid_t pid = supervisor_spawn(ex->sup, strv_array(&av), strv_array(&env),
                                 slave, slave, st[1]);
    if (pid < 0)
        goto cleanup;
    job_add(ex, sb->id, pid);
    out->pid = pid;
    out->status_fd = st[0];
    st[0] = -1;
    snprintf(out->sandbox_id, sizeof out->sandbox_id, "%s", sb->id);
    *master = m;
    m = -1;
    rc = 0;
cleanup:
    if (m >= 0) close(m);
    if (slave >= 0) close(slave);
    for (int i = 0; i < 2; i++)
        if (st[i] >= 0) close(st[i]);
    strv_release(&av);
    strv_release(&env);
    return rc;
}

void supervisor_signal_proc(emu_executor *ex, exec_proc *p)
{
    if (p->pid > 0)
        supervisor_kill(ex->sup, p->pid, SIGTERM);
}

int executor_proc_exit_code(exec_proc *p)
{
    if (p->status_fd < 0)
        return -1;
    buf b;
    buf_init(&b, 4096);
    char chunk[256];
    for (;;) {
        ssize_t n = read(p->status_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || buf_add(&b, chunk, (size_t)n) != BUF_OK)
            break;
    }
    exec_result r;
    memset(&r, 0, sizeof r);
    int code = -1;
    if (executor_decode_status(buf_str(&b), &r) == 0)
        code = r.kind == EXEC_EXITED ? r.exit_code
             : r.kind == EXEC_SIGNALED ? 128 + r.signal : -1;
    buf_release(&b);
    return code;
}

void executor_proc_stop(emu_executor *ex, exec_proc *p)
{
    if (p->pid > 0) {
        supervisor_kill(ex->sup, p->pid, SIGTERM);
        if (p->status_fd >= 0) {
            char b[256];
            int64_t end = time_mono_ms() + 5000;
            for (;;) {
                int left = (int)(end - time_mono_ms());
                struct pollfd pfd = {p->status_fd, POLLIN, 0};
                if (left <= 0 || poll(&pfd, 1, left) <= 0)
                    break;
                if (read(p->status_fd, b, sizeof b) <= 0)
                    break;
            }
        }
        job_remove(ex, p->pid);
        p->pid = 0;
    }
    if (p->stdin_fd >= 0)
        close(p->stdin_fd);
    if (p->status_fd >= 0)
        close(p->status_fd);
    p->stdin_fd = p->status_fd = -1;
}

int executor_run(emu_executor *ex, const emu_sandbox *sb,
                 const exec_spec *spec, exec_result *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->output, ex->cfg.max_output + 1);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, st[2] = {-1, -1};
    strv av, env;
    strv_init(&av);
    strv_init(&env);
    buf status;
    buf_init(&status, 4096);
    int rc = -1;
    pthread_mutex_lock(&ex->mu);
    int closing = ex->closing;
    pthread_mutex_unlock(&ex->mu);
    if (closing) {
        res->kind = EXEC_SPAWN_ERROR;
        res->err = ESHUTDOWN;
        rc = 0;
        goto cleanup;
    }
    if (!is_prepared(ex, sb->id) && executor_prepare(ex, sb) != 0)
        goto cleanup;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(st, O_CLOEXEC) != 0)
        goto cleanup;
    char home[PATH_MAX], tmp[PATH_MAX];
    executor_home_dir(ex, sb, home, sizeof home);
    if (executor_host_path(ex, sb, ex->level >= ISO_NAMESPACED ? "" : "/tmp",
                           tmp, sizeof tmp) != 0)
        goto cleanup;
    if (ex->level >= ISO_NAMESPACED)
        snprintf(tmp, sizeof tmp, "/tmp");
    char extra[PATH_MAX + 32] = "";
    if (ex->ts_root[0])
        snprintf(extra, sizeof extra, "%s/node_modules/.bin",
                 ex->level >= ISO_NAMESPACED ? TS_VIEW_ROOT : ex->ts_root);
    executor_build_env(sb, home, tmp, extra[0] ? extra : NULL, spec->envs, &env);
    exec_spec lspec = *spec;
    lspec.linger = ex->level >= ISO_NAMESPACED;
    if (build_argv(ex, sb, &lspec, &av) != 0 || env.overflow)
        goto cleanup;
    pid_t pid = supervisor_spawn(ex->sup, strv_array(&av), strv_array(&env),
                                 in[0], out[1], st[1]);
    close(in[0]);
    close(out[1]);
    close(st[1]);
    in[0] = out[1] = st[1] = -1;
    if (pid < 0) {
        res->kind = EXEC_SPAWN_ERROR;
        res->err = -pid;
        rc = 0;
        goto cleanup;
    }
    job_add(ex, sb->id, pid);
    set_nonblock(in[1]);
    set_nonblock(out[0]);
    set_nonblock(st[0]);
    res->kind = EXEC_SIGNALED;    /* until the status line says otherwise */
    res->signal = SIGKILL;
    int timed_out_by_us = 0;
    int running = pump(ex, pid, in[1], out[0], st[0], &lspec, res, &status);
    in[1] = -1;                   /* pump closed it */
    timed_out_by_us = res->kind == EXEC_TIMEOUT;
    if (running) {
        linger_wait(ex, pid, st[0]);   /* takes the status pipe */
        st[0] = -1;
    } else {
        job_remove(ex, pid);
    }
    if (!timed_out_by_us && status.len)
        executor_decode_status(buf_str(&status), res);
    rc = 0;
cleanup:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) close(in[i]);
        if (out[i] >= 0) close(out[i]);
        if (st[i] >= 0) close(st[i]);
    }
    strv_release(&av);
    strv_release(&env);
    buf_release(&status);
    return rc;
}
