/*
 * app.h - the emulator as one object: configuration plus the modules that
 * make it up.  Handlers reach every module through req->app.
 */
#ifndef EMU_APP_H
#define EMU_APP_H

#include <stdint.h>
#include <pthread.h>

#include "http.h"

typedef struct emu_store emu_store;
typedef struct emu_clock emu_clock;
typedef struct emu_events emu_events;
typedef struct emu_journal emu_journal;
typedef struct emu_faults emu_faults;
typedef struct emu_transitions emu_transitions;
typedef struct emu_scheduler emu_scheduler;
typedef struct emu_executor emu_executor;
typedef struct emu_sessions emu_sessions;
typedef struct emu_ptys emu_ptys;
typedef struct emu_interps emu_interps;

#define EMU_MAX_KEYS 64

typedef struct {
    const char *host;            /* bind address, default 127.0.0.1 */
    unsigned port;               /* 0 = any free port */
    const char *port_file;       /* written once connections are accepted */
    const char *data_dir;        /* ":memory:" = nothing on disk */
    const char *api_keys[EMU_MAX_KEYS];
    int napi_keys;               /* 0 = any non-empty key is accepted */
    int log_level;               /* 0 error, 1 warn, 2 info, 3 debug */
    const char *default_snapshot;
    const char *default_target;
    const char *preview_mode;    /* "path" or "host" */
    int scheduler_interval_ms;   /* how often auto-stop & co. are checked */
    int isolation;               /* iso_level requested (executor.h) */
    int sandbox_network;         /* net_mode requested (executor.h) */
    const char *ts_node;         /* ts-node for code-run typescript */
    long max_cpu_seconds;        /* RLIMIT_CPU per command */
    long max_processes;          /* RLIMIT_NPROC / pids.max per sandbox */
    long max_output;             /* bytes of output kept per command */
} emu_config;

struct emu_app {
    emu_config cfg;
    int in_memory;
    emu_store *store;
    emu_clock *clock;
    emu_events *events;
    emu_journal *journal;
    emu_faults *faults;
    emu_transitions *transitions;
    emu_scheduler *scheduler;
    emu_executor *executor;      /* NULL in unit tests: no code runs */
    emu_sessions *sessions;      /* toolbox sessions (tb_sessions.h) */
    emu_ptys *ptys;              /* toolbox PTYs (tb_pty.h) */
    emu_interps *interps;        /* code interpreter contexts (tb_interp.h) */
    emu_http *http;
    int64_t started_at_ms;
};

/* Log line to stderr when level <= the configured level. Thread-safe. */
void emu_log(const emu_app *app, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum { EMU_LOG_ERROR = 0, EMU_LOG_WARN = 1, EMU_LOG_INFO = 2, EMU_LOG_DEBUG = 3 };

#endif
