/*
 * testing.h - libdaytona's test support: run a private daytona-emu for a
 * test or a suite, and drive its admin API (reset, clock, faults,
 * journal) from C.
 *
 *     dt_emu *emu = NULL;
 *     dt_client *c = NULL;
 *     if (dt_emu_start(NULL, &emu, &err) != DT_OK) ...   // suite set-up
 *     dt_emu_client(emu, &c, &err);                       // talks to it
 *     ... dt_sandbox_create(c, ...) ...
 *     dt_emu_reset(emu, &err);                            // between tests
 *     dt_client_free(c);
 *     dt_emu_free(emu);                                   // suite tear-down
 *
 * The conventions of daytona.h hold here too (dt_code returns, optional
 * dt_error *err last, out-parameters written only on success, heap strings
 * freed by the caller).  examples/testing_cunit.c is a complete CUnit
 * fixture.
 *
 * The emulator is a child process of the caller: started with --port 0
 * --port-file on 127.0.0.1, a fresh temporary data directory and an API key
 * of its own (a random one unless opts->api_key), so tests on one machine
 * never share state or ports.  It gets the Linux parent-death signal: when
 * the thread that called dt_emu_start exits (or the process dies, even by
 * SIGKILL) the emulator is terminated, so a crashed test leaves no server
 * behind.  Start it from a thread that outlives its use (the main thread,
 * a suite's init).  The caller must not reap it (SIGCHLD ignored, or a
 * waitpid(-1) loop elsewhere, make dt_emu_stop unable to see its status).
 *
 * Threads: a dt_emu may be used from several threads for the admin calls,
 * but dt_emu_stop/dt_emu_free must not race with any other call on it.
 */
#ifndef DAYTONA_TESTING_H
#define DAYTONA_TESTING_H

#include <stddef.h>

#include "daytona/daytona.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dt_emu dt_emu;

/* Zeroed (dt_emu_opts_init) means every default. */
typedef struct {
    /* The daytona-emu program: this path, else $DAYTONA_EMU_BIN, else
     * "daytona-emu" searched on PATH. */
    const char *binary;
    /* NULL = a fresh temporary directory, removed by dt_emu_free;
     * ":memory:" = nothing on disk; else that directory (kept). */
    const char *data_dir;
    /* The only key the emulator accepts (other keys get 401); NULL = a
     * random one (read it with dt_emu_api_key). */
    const char *api_key;
    /* More emulator options, NULL-terminated (e.g. {"--preview-mode",
     * "host", NULL}); may be NULL.  --data-dir, --in-memory, --api-key and
     * --port-file are refused (DT_EINVAL): they are set through these
     * fields.  --port N wins over the default free port. */
    const char *const *extra_args;
    /* The emulator's stdout and stderr go to this file (appended); NULL =
     * inherited.  Its log level is warn unless extra_args say otherwise. */
    const char *log_file;
    long start_timeout_ms;   /* until it accepts connections; 0 = 30000 */
} dt_emu_opts;

DT_EXTERN void dt_emu_opts_init(dt_emu_opts *opts);

/* Starts an emulator and waits until it accepts connections.  opts NULL =
 * all defaults.  Fails with DT_ECONFIG when the program cannot be found
 * (the message says where it looked), DT_EIO when it exited during
 * start-up (the message has its status), DT_ETIMEOUT when it was not
 * ready in time.  Free with dt_emu_free. */
DT_EXTERN dt_code dt_emu_start(const dt_emu_opts *opts, dt_emu **out,
                               dt_error *err);

/* Owned by the handle, valid until dt_emu_free. */
DT_EXTERN const char *dt_emu_api_url(const dt_emu *emu);  /* ".../api" */
DT_EXTERN const char *dt_emu_api_key(const dt_emu *emu);
DT_EXTERN const char *dt_emu_base_url(const dt_emu *emu); /* "http://127.0.0.1:PORT" */
DT_EXTERN unsigned dt_emu_port(const dt_emu *emu);
/* The server's pid (0 after dt_emu_stop). */
DT_EXTERN long dt_emu_pid(const dt_emu *emu);

/* Fills cfg (after dt_config_init) with the emulator's URL and key, for a
 * client that needs more settings; the strings are the handle's. */
DT_EXTERN void dt_emu_config(const dt_emu *emu, dt_config *cfg);
/* A client for this emulator (dt_emu_config + dt_client_new).  Free it with
 * dt_client_free before dt_emu_free. */
DT_EXTERN dt_code dt_emu_client(const dt_emu *emu, dt_client **out,
                                dt_error *err);

/* Deletes every sandbox, snapshot created, volume, fault, configured
 * transition and journal entry, and puts the clock back to real time. */
DT_EXTERN dt_code dt_emu_reset(dt_emu *emu, dt_error *err);

/* Moves the emulator's clock forward by ms (>= 0) and runs its scheduler
 * once, so auto-stop/archive/delete that became due have happened when
 * this returns. */
DT_EXTERN dt_code dt_emu_advance_clock(dt_emu *emu, long long ms,
                                       dt_error *err);
/* The emulator's current time in Unix milliseconds. */
DT_EXTERN dt_code dt_emu_clock_now(dt_emu *emu, long long *now_ms,
                                   dt_error *err);

/* An injected fault (docs/EMULATOR.md, /_emulator/faults).  Requests whose
 * method and path match get `status` with `message` in Daytona's error
 * envelope, wait latency_ms first, or have their connection dropped. */
typedef struct {
    const char *method;      /* "GET", ...; NULL = any */
    const char *path;        /* pattern, '*' = any run of characters,
                                e.g. "/api/sandbox*"; required */
    int status;              /* 0 = none (latency or drop only) */
    const char *message;     /* NULL = the status's default text */
    long latency_ms;         /* 0 = none */
    int drop;                /* 1 = close the connection, no answer */
    double probability;      /* 0 = always (same as 1) */
    long long seed;          /* for probability; 0 = unseeded */
    int times;               /* match this many requests, then stop; 0 = forever */
    int retry_after;         /* seconds for a Retry-After header; -1 = none */
} dt_emu_fault;

/* Zeroes *f and sets retry_after = -1. */
DT_EXTERN void dt_emu_fault_init(dt_emu_fault *f);
/* Adds a fault; *id_out (may be NULL) gets its id for dt_emu_fault_remove.
 * An invalid fault is DT_EBADREQUEST with the emulator's reason. */
DT_EXTERN dt_code dt_emu_fault_add(dt_emu *emu, const dt_emu_fault *f,
                                   int *id_out, dt_error *err);
/* The same from the admin API's JSON text, e.g.
 * {"path":"/api/sandbox","method":"POST","status":503,"times":1}. */
DT_EXTERN dt_code dt_emu_fault_add_json(dt_emu *emu, const char *json,
                                        int *id_out, dt_error *err);
/* DT_ENOTFOUND when there is no such fault. */
DT_EXTERN dt_code dt_emu_fault_remove(dt_emu *emu, int id, dt_error *err);
DT_EXTERN dt_code dt_emu_faults_clear(dt_emu *emu, dt_error *err);

/* One request the emulator served (its journal keeps the last 1000). */
typedef struct {
    char *time;              /* ISO 8601 */
    char *method;
    char *path;              /* with the query string */
    int status;              /* 0 = dropped by a fault */
    long duration_ms;
} dt_emu_request;

/* The most recent requests, oldest first: at most `limit` (1..1000; 0 =
 * 1000).  Requests to the admin API (/_emulator/...) are left out unless
 * include_admin.  *entries is an array of *n (NULL when 0); free it with
 * dt_emu_journal_free. */
DT_EXTERN dt_code dt_emu_journal(dt_emu *emu, size_t limit, int include_admin,
                                 dt_emu_request **entries, size_t *n,
                                 dt_error *err);
DT_EXTERN void dt_emu_journal_free(dt_emu_request *entries, size_t n);
DT_EXTERN dt_code dt_emu_journal_clear(dt_emu *emu, dt_error *err);

/* Any other admin call: method and a path under the server's base URL
 * (e.g. "POST", "/_emulator/transitions", "{\"transition\":\"create\",
 * \"durationMs\":2000}").  json_body may be NULL.  *response (may be NULL)
 * gets the response body (free(); "" when empty).  An HTTP error status is
 * returned as its dt_code with the emulator's message. */
DT_EXTERN dt_code dt_emu_admin(dt_emu *emu, const char *method,
                               const char *path, const char *json_body,
                               char **response, dt_error *err);

/* Stops the emulator: SIGTERM, then SIGKILL after 10 s.  DT_OK when it
 * exited with status 0; DT_EIO (message with the status) otherwise.
 * Calling it again, or on an emulator that already stopped, is DT_OK. */
DT_EXTERN dt_code dt_emu_stop(dt_emu *emu, dt_error *err);
/* Stops (if running), removes a temporary data directory, frees.  NULL is
 * a no-op. */
DT_EXTERN void dt_emu_free(dt_emu *emu);

#ifdef __cplusplus
}
#endif

#endif
