/*
 * executor.h - runs code inside sandboxes, at the strongest isolation level
 * the host allows (DESIGN.md "Isolation ladder"):
 *
 *   process     always: daytona-emu-sandbox launcher with its own session,
 *               rlimits from the sandbox's resources, a uid of its own when
 *               the emulator is root, clean environment, subreaper sweep,
 *               wall-clock deadline, output cap;
 *   namespaced  + private mount/PID/IPC/UTS namespaces per command, and a
 *               network namespace per sandbox (loopback only; see net_mode):
 *               the sandbox sees its own /home/daytona,
 *               /tmp and /workspace and the host's system dirs read-only;
 *   cgroups     + memory, pids and CPU limits per sandbox, and
 *               kill-everything on stop/delete (cgroup v2 or v1).
 *
 * The level is probed at start-up (or forced with --isolation; asking for a
 * level the host cannot give fails start-up).  Processes are spawned by the
 * supervisor (supervisor.h), never forked from a server thread.
 *
 * Thread-safe.  executor_new must run before any thread is created.
 */
#ifndef EMU_EXECUTOR_H
#define EMU_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "sandbox.h"
#include "sandbox/launcher_opts.h"

typedef struct emu_executor emu_executor;

typedef enum { ISO_AUTO = 0, ISO_PROCESS = 1, ISO_NAMESPACED = 2,
               ISO_CGROUPS = 3 } iso_level;

/* The network of sandboxes at the namespaced levels (the process level
 * always shares the host's). */
typedef enum {
    NET_AUTO = 0,               /* a namespace per sandbox where the host can
                                   make one (the start-up probe), else the
                                   host's, with the reason in executor_info */
    NET_PER_SANDBOX = 1,        /* a namespace per sandbox, or executor_new
                                   fails */
    NET_HOST = 2                /* the host's namespace, shared by all (a
                                   private one per command for
                                   networkBlockAll) */
} net_mode;

typedef struct {
    iso_level level;            /* requested (ISO_AUTO = strongest) */
    const char *launcher;       /* path of daytona-emu-sandbox */
    const char *sandboxes_dir;  /* where sandbox file trees live */
    const char *ts_node;        /* ts-node binary for code-run typescript */
    long max_cpu_seconds;       /* RLIMIT_CPU per command */
    long nofile;                /* RLIMIT_NOFILE */
    long nproc;                 /* RLIMIT_NPROC / pids.max */
    size_t max_output;          /* bytes of output kept per command */
    net_mode network;           /* see net_mode and executor_connect */
} exec_config;

/* Parses "auto|process|namespaced|cgroups"; -1 if unknown. */
int executor_level_parse(const char *s);
const char *executor_level_name(iso_level l);
/* Parses "auto|per-sandbox|host"; -1 if unknown. */
int executor_net_parse(const char *s);

/* Probes the host and starts the supervisor (cfg's strings are copied).
 * On failure returns NULL with a message (e.g. the requested level is not
 * available). */
emu_executor *executor_new(const exec_config *cfg, char *err, size_t errlen);
/* Refuses new commands and kills every running one (their requests then
 * complete), without freeing anything: called before the HTTP server
 * stops, so a shutdown never waits for a long command. */
void executor_shutdown(emu_executor *ex);
/* Kills every sandbox process, removes the cgroups, stops the supervisor. */
void executor_free(emu_executor *ex);

iso_level executor_level(const emu_executor *ex);
/* The ts-node path when TypeScript is available, else NULL. */
const char *executor_ts_node(const emu_executor *ex);
/* {"level":…, "namespaces":bool, "cgroups":"v1"|"v2"|null,
 *  "uidPerSandbox":bool, "network":"per-sandbox"|"host",
 *  "networkNote":why sandboxes share the host's network although the
 *  level has namespaces (NET_AUTO's fallback) or null, "typescript":bool,
 *  "maxCpuSeconds", "maxProcesses", "maxOutputBytes"} (caller frees). */
cJSON *executor_info(const emu_executor *ex);

/* The sandbox's directories, in the sandbox's own view: at the namespaced
 * level /home/daytona; at the process level the host path. */
void executor_home_dir(const emu_executor *ex, const emu_sandbox *sb,
                       char *out, size_t n);
/* Maps a path in the sandbox's view to the host path (process level:
 * /home/daytona, /tmp, /workspace prefixes; namespaced: the same mapping,
 * used by the file API).  Returns 0, or -1 if it does not fit. */
int executor_host_path(const emu_executor *ex, const emu_sandbox *sb,
                       const char *view_path, char *out, size_t n);

/* The host directory that is the root of the sandbox's own files
 * (contains home/daytona, tmp, workspace). */
void executor_fs_root(const emu_executor *ex, const emu_sandbox *sb,
                      char *out, size_t n);
/* The uid (= gid) files the emulator creates for the sandbox must belong
 * to; -1 when sandboxes do not run under their own uid. */
int executor_owner(const emu_executor *ex, const emu_sandbox *sb, long *uid);

/* Creates the sandbox's file tree (idempotent). 0 or -1. */
int executor_prepare(emu_executor *ex, const emu_sandbox *sb);
/* Kills every process of the sandbox (stop, archive, delete). */
void executor_kill(emu_executor *ex, const emu_sandbox *sb);
/* Kills and removes the file tree and cgroups (delete). */
void executor_remove(emu_executor *ex, const emu_sandbox *sb);
/* Number of commands running in a sandbox (NULL = all). */
int executor_running(emu_executor *ex, const char *sandbox_id);

/* A TCP connection to 127.0.0.1:port as the sandbox sees it (the preview
 * proxy's way in).  At the namespaced levels each sandbox has a network
 * namespace of its own, shared by all its processes and held by a small
 * holder process from its first command to its stop: the socket is made
 * inside it, so two sandboxes may serve the same port and no preview
 * reaches the host's loopback.  With no holder yet (nothing ever ran)
 * nothing can listen: -1 with ECONNREFUSED.  At the process level, with
 * NET_HOST, or where the host cannot make network namespaces (NET_AUTO's
 * fallback), the host's 127.0.0.1.  Returns the connected socket (send
 * timeout 30 s) or -1 with errno. */
int executor_connect(emu_executor *ex, const char *sandbox_id, int port);

typedef struct {
    const char *stdin_data;     /* the script fed to the shell */
    size_t stdin_len;
    const char *cwd;            /* sandbox view; NULL = home */
    const cJSON *envs;          /* request envs (object of strings), may be NULL */
    int64_t timeout_ms;         /* 0 = none */
    int linger;                 /* set by executor_run itself (see there) */
} exec_spec;

/* How long executor_run waits, once the command's shell has ended, for the
 * output pipe to close (a background process may hold it): Daytona's
 * childreap hang timeout. */
#define EXEC_DRAIN_MS 30000

typedef struct {
    int exit_code;              /* valid when kind == EXEC_EXITED */
    int signal;                 /* EXEC_SIGNALED */
    enum { EXEC_EXITED, EXEC_SIGNALED, EXEC_TIMEOUT, EXEC_SETUP_ERROR,
           EXEC_SPAWN_ERROR } kind;
    char stage[24];             /* setup error stage ("chdir", "exec", …) */
    int err;                    /* errno of a setup/spawn error */
    int truncated;              /* output hit the cap (the command was killed) */
    buf output;                 /* merged stdout+stderr (release it) */
} exec_result;

/* Runs the shell with the spec's script on stdin.  Returns 0 (see
 * res->kind) or -1 on an internal error (pipes, allocation).  At the
 * process level it blocks until the command and everything it started is
 * gone (all of it is killed when the shell ends).  At the namespaced
 * levels, as Daytona, it returns once the shell has ended and the output
 * pipe has closed (at most EXEC_DRAIN_MS later), and what the command left
 * running (`server &`) lives on in its namespace until it ends by itself or
 * the sandbox stops. */
int executor_run(emu_executor *ex, const emu_sandbox *sb,
                 const exec_spec *spec, exec_result *res);

/* ---- long-lived processes (session shells) ---- */

typedef struct {
    pid_t pid;          /* the launcher, as the supervisor knows it */
    int stdin_fd;       /* write end of the shell's stdin (ours) */
    int status_fd;      /* read end of the launcher's status pipe: EOF when
                           the shell and everything it started are gone */
    char sandbox_id[SB_ID_LEN];
} exec_proc;

/* Starts bash in the sandbox with stdin from a pipe we keep, no deadline;
 * cwd NULL = home.  stdout goes to a pipe whose read end is returned in
 * *stdout_fd when that is non-NULL, else (like stderr) it is discarded.
 * Registered like a command, so stop/delete/shutdown kill it.  0 or -1. */
int executor_start_shell(emu_executor *ex, const emu_sandbox *sb,
                         const char *cwd, exec_proc *out, int *stdout_fd);
/* Starts an interactive login bash (`bash -i -l`) on a new pseudo-terminal
 * of cols x rows, with extra env vars (object of strings, may be NULL) and
 * TERM=xterm-256color unless given.  *master receives the pty's master
 * side (ours, close-on-exec).  0 or -1. */
int executor_start_pty(emu_executor *ex, const emu_sandbox *sb,
                       const char *cwd, const cJSON *envs, int cols, int rows,
                       exec_proc *out, int *master);
/* Reads the launcher's status line after the process ended (blocks until
 * EOF): the shell's exit code, 128+signal for a signal, -1 if unknown. */
int executor_proc_exit_code(exec_proc *p);
/* 1 while the process runs (its status pipe has not reached EOF). */
int executor_proc_alive(const exec_proc *p);
/* Asks the launcher to end its whole tree now (SIGTERM), without waiting. */
void supervisor_signal_proc(emu_executor *ex, exec_proc *p);
/* Ends it (SIGTERM: the launcher kills its whole tree), waits up to
 * 5 s for it to be gone, and releases the descriptors.  Idempotent. */
void executor_proc_stop(emu_executor *ex, exec_proc *p);

/* ---- building blocks, exposed for unit tests ---- */

/* A bounded list of NUL-terminated strings with its own storage. */
typedef struct {
    char *items[256];
    int n;
    buf store;        /* backing text; items point into copies */
    int overflow;
} strv;

void strv_init(strv *v);
void strv_release(strv *v);
/* Adds a copy of s (or of the formatted text). */
void strv_add(strv *v, const char *s);
void strv_addf(strv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NULL-terminated array view (valid until the next add/release). */
char **strv_array(strv *v);

/* 1 when name matches ^[A-Za-z_][A-Za-z0-9_]*$. */
int executor_env_name_valid(const char *name);

/* The rlimits for a sandbox: cpu, data (memory), fsize (disk), nofile,
 * core 0, and nproc when with_nproc.  Returns the count written. */
int executor_limits(const emu_sandbox *sb, const exec_config *cfg,
                    int with_nproc, launcher_rlimit out[LAUNCHER_MAX_LIST]);

/* The environment: Daytona's usual variables, then the sandbox's env,
 * then the request's envs (later wins).  home/tmp are sandbox-view paths. */
void executor_build_env(const emu_sandbox *sb, const char *home,
                        const char *tmp, const char *extra_path,
                        const cJSON *req_envs, strv *out);

/* Decodes the launcher's status line into res (kind, exit_code, signal,
 * stage, err).  Returns 0, or -1 for an unreadable line. */
int executor_decode_status(const char *line, exec_result *res);

/* The uid a sandbox runs as: a hash of its id into [2^28, 2^31), unique
 * across emulators on the same host in practice and stable across
 * restarts. */
long executor_sandbox_uid(const emu_sandbox *sb);

#endif
