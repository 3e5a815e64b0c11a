/*
 * svc.h - daytona-sessions, the session service: the internals its files
 * share.  (The library it serves is sessions/sess.h; this header is not
 * installed and not a public API.)
 *
 * Pieces:
 *  - config.c: flags and DAYTONA_SESSIONS_* environment variables into a
 *    svc_config, and from it the library's sess_config;
 *  - main.c:   the command line (serve and the operator commands), start-up
 *              and a clean shutdown on SIGTERM/SIGINT;
 *  - admin.c:  the operator commands (token, sessions, reap);
 *  - http.c:   the libmicrohttpd front (per-request state, body cap,
 *              routing, bearer-token authentication, replies);
 *  - routes.c: the API's handlers and route table;
 *  - stream.c: a run's output as Server-Sent Events;
 *  - reaper.c: the background reaper thread;
 *  - format.c: sessions and errors as JSON, shared by the API and the CLI.
 *
 * Threads: the HTTP daemon runs a thread per connection; a streamed run
 * adds one producer thread; the reaper is one more.  They share only the
 * svc_app, whose fields are written before the daemon starts and then only
 * read (the manager and the store are thread-safe themselves), plus the
 * stream registry, which has its own lock.
 */
#ifndef SESSIONS_SERVICE_SVC_H
#define SESSIONS_SERVICE_SVC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "sess.h"

#define SVC_NAME "daytona-sessions"
#define SVC_DEFAULT_PORT 3988
#define SVC_DEFAULT_DB "./daytona-sessions.db"
#define SVC_MAX_LABELS 32
#define SVC_MAX_LANGUAGES 32
/* Request bodies (JSON with the code to run) are refused past this. */
#define SVC_MAX_BODY (4u * 1024 * 1024)

/* ------------------------------------------------------------------ */
/* Logging (level set once at start-up, before any thread)            */
/* ------------------------------------------------------------------ */

enum { SVC_LOG_ERROR = 0, SVC_LOG_WARN, SVC_LOG_INFO, SVC_LOG_DEBUG };

void svc_log_set_level(int level);
int svc_log_level(void);
/* One line to stderr: time, level, message.  Thread-safe (one fprintf). */
void svc_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* Configuration (config.c)                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    /* where and how to serve */
    const char *host;
    const char *cors_origin;        /* NULL = no CORS headers */
    unsigned port;                  /* 0 = any free port */
    const char *port_file;
    const char *db_path;
    long reap_interval_s;           /* 0 = no background reaper */
    long reap_grace_s;              /* -1 = the library's default */
    int log_level;
    /* sandbox defaults and the manager's settings */
    const char *app;
    const char *snapshot;
    const char *image;              /* a base image instead of a snapshot */
    const char *ts_runner;
    const char *languages[SVC_MAX_LANGUAGES];
    size_t n_languages;             /* 0 = the library's default set */
    dt_kv labels[SVC_MAX_LABELS];
    size_t n_labels;
    int auto_stop, auto_archive, auto_delete;   /* minutes, -1 = default */
    int cpu, memory, disk;                      /* -1 = default; need image */
    long sandbox_timeout_s;         /* 0 = the library's default */
    /* output of the operator commands */
    int json;
    /* the command words (serve, token create USER, ...) */
    const char *words[8];
    int n_words;
    /* operator filters */
    const char *user;               /* sessions list --user */
    int active_only;                /* sessions list --active */
    long limit;                     /* sessions list --limit, 0 = all */
    /* strings this config points into (split lists); freed by
     * svc_config_release */
    char *owned[SVC_MAX_LABELS + 8];
    int n_owned;
} svc_config;

/* Defaults, then the DAYTONA_SESSIONS_* environment, then argv.  Returns 0
 * to go on, 1 when it printed help or the version (exit 0), -1 after
 * printing a usage error (exit 2). */
int svc_config_load(svc_config *cfg, int argc, char **argv);
void svc_config_release(svc_config *cfg);
void svc_usage(FILE *f);
/* The library's configuration from cfg (pointers into cfg). */
void svc_sess_config(const svc_config *cfg, sess_config *out);

/* ------------------------------------------------------------------ */
/* The running service                                                */
/* ------------------------------------------------------------------ */

typedef struct svc_http svc_http;
typedef struct svc_reaper svc_reaper;
typedef struct svc_streams svc_streams;

typedef struct {
    const svc_config *cfg;
    sess_store *store;
    sess_manager *mgr;
    dt_client *client;
    svc_http *http;
    svc_reaper *reaper;
    svc_streams *streams;
} svc_app;

/* ------------------------------------------------------------------ */
/* HTTP front (http.c)                                                */
/* ------------------------------------------------------------------ */

typedef struct svc_req svc_req;

/* A handler replies through svc_reply_* and returns the status. */
typedef int (*svc_handler)(svc_req *r);

/* Produces the body of a streamed reply: writes at most max bytes to out
 * and returns how many (blocking until there is something), 0 at the end,
 * -1 to abort the connection.  Runs on the connection's thread. */
typedef long (*svc_produce_fn)(void *ctx, char *out, size_t max);

#define SVC_R_AUTH 1u       /* needs a valid bearer token */

typedef struct {
    const char *method;
    const char *path;
    svc_handler fn;
    unsigned flags;
} svc_route;

struct svc_req {
    svc_app *app;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char *user;             /* the token's user (SVC_R_AUTH routes) */
    cJSON *json;            /* the parsed body; NULL when there was none */
    /* the reply */
    int status;
    char *body;
    size_t body_len;
    const char *type;
    const char *hdr_name[8];
    const char *hdr_value[8];   /* strings that outlive the request */
    int nhdr;
    svc_produce_fn produce;
    void *produce_ctx;
    void (*produce_free)(void *);
};

svc_http *svc_http_start(svc_app *app, const svc_route *routes, size_t n,
                         char *err, size_t errlen);
unsigned svc_http_port(const svc_http *h);
/* Stops accepting, ends every connection and waits for their threads.
 * Streams must have been woken first (svc_streams_shutdown). */
void svc_http_stop(svc_http *h);

/* A query parameter, or NULL. */
const char *svc_query(svc_req *r, const char *key);
/* The connection's socket (-1 if unknown): a streamed reply watches it to
 * notice a client that went away while there was nothing to send. */
int svc_conn_fd(svc_req *r);

/* Replies.  Each returns the status it set.  svc_reply_json takes doc
 * (deleted here, also on failure). */
int svc_reply_json(svc_req *r, int status, cJSON *doc);
/* Daytona's error envelope: {"statusCode","message","error"}. */
int svc_reply_error(svc_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The status for a library failure, with its message (internal failures
 * are logged and answered with a generic message). */
int svc_reply_sess_error(svc_req *r, const sess_error *e);
/* A static extra header. */
void svc_reply_header(svc_req *r, const char *name, const char *value);
/* A streamed reply of unknown length: fn produces it on the connection's
 * thread; free_fn(ctx) runs exactly once when the request ends (also when
 * the reply could not be queued). */
int svc_reply_stream(svc_req *r, int status, const char *type,
                     svc_produce_fn fn, void *ctx, void (*free_fn)(void *));

/* ------------------------------------------------------------------ */
/* API (routes.c, stream.c)                                           */
/* ------------------------------------------------------------------ */

extern const svc_route svc_routes[];
extern const size_t svc_nroutes;

/* Body fields: a required string (*out points into r->json), and the
 * optional "timeout" in whole seconds 0..86400 (absent = 0).  0, or the
 * 400 status already replied. */
int svc_body_string(svc_req *r, const char *key, const char **out);
int svc_body_timeout(svc_req *r, int *out);

/* POST /sessions/active/run/stream. */
int svc_h_run_stream(svc_req *r);

/* The registry of streamed runs, so a shutdown can wake their readers and
 * wait for their producer threads. */
svc_streams *svc_streams_new(void);
/* Ends every open stream's reply (an `error` event, then the end) and
 * cancels their runs (sess_cancel_fire: the programs are killed and their
 * toolbox sessions deleted). */
void svc_streams_shutdown(svc_streams *s);
/* After svc_streams_shutdown: waits up to timeout_ms until every stream's
 * reply has been sent to the end (its `error` event included), so that
 * stopping the HTTP server, which shuts every connection down, loses none
 * of it; 1 when all were. */
int svc_streams_drain(svc_streams *s, long timeout_ms);
/* Waits up to timeout_ms for every stream to finish; 1 when all did. */
int svc_streams_wait(svc_streams *s, long timeout_ms);
/* Only after svc_streams_wait returned 1. */
void svc_streams_free(svc_streams *s);

/* ------------------------------------------------------------------ */
/* Reaper (reaper.c)                                                  */
/* ------------------------------------------------------------------ */

/* A thread running sess_reap now and then every interval_s seconds. */
svc_reaper *svc_reaper_start(sess_manager *m, long interval_s);
/* Wakes the thread, waits for a pass in progress, joins.  NULL is a
 * no-op. */
void svc_reaper_stop(svc_reaper *r);

/* ------------------------------------------------------------------ */
/* JSON (format.c)                                                    */
/* ------------------------------------------------------------------ */

/* A session as the API shows it: id, userId, sandboxId, language, status,
 * createdAt, closedAt, closeReason, lastRunAt (times in ms since the
 * epoch, null when unset).  NULL on allocation failure. */
cJSON *svc_session_json(const sess_session *s);
cJSON *svc_session_list_json(const sess_session *v, size_t n);
/* {"statusCode","message","error"}. */
cJSON *svc_error_json(int status, const char *message);
/* The reason phrase of a status ("Not Found"). */
const char *svc_reason(int status);
/* The HTTP status for a library error. */
int svc_status_for(const sess_error *e);
/* Appends a JSON string value for bytes that may be any bytes (invalid
 * UTF-8 and NUL become U+FFFD).  0 or -1 (allocation). */
int svc_add_bytes(cJSON *obj, const char *key, const char *data, size_t len);

/* ------------------------------------------------------------------ */
/* Operator commands (admin.c)                                        */
/* ------------------------------------------------------------------ */

/* token create|revoke|list, sessions list, reap.  Returns the exit
 * status (0 ok, 1 failure, 2 usage). */
int svc_admin(const svc_config *cfg);

/* Opens the store, a client and a manager from cfg (client/manager only
 * when with_manager).  0, or 1 after printing why. */
int svc_open(svc_app *app, const svc_config *cfg, int with_manager);
void svc_close(svc_app *app);

#endif
