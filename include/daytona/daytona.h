/*
 * daytona.h - libdaytona, the C client for Daytona's REST API (the control
 * plane under /api, the per-sandbox toolbox, preview URLs).  The same
 * program talks to the real Daytona or to daytona-emu; only configuration
 * changes (DAYTONA_API_URL, DAYTONA_API_KEY, ...).
 *
 * Conventions, true of every function below unless its comment says
 * otherwise:
 *  - Functions return a dt_code; DT_OK (0) is success.
 *  - The last parameter `dt_error *err` may be NULL.  When non-NULL it is
 *    filled on failure with the code, the HTTP status (0 when there was no
 *    response) and Daytona's own message; on success it is left untouched.
 *  - Out-parameters are written only on success.
 *  - Strings returned through out-parameters are heap copies: free() them.
 *    Structs with a *_release function own their strings; release them with
 *    it.  Strings read with accessors on a handle (dt_sandbox_id, ...) are
 *    owned by the handle and valid until the handle is refreshed or freed.
 *  - Input strings and arrays are copied as needed; the caller keeps them.
 *  - Timeouts are in milliseconds; 0 means the documented default and a
 *    negative value means "no limit" where that is allowed.
 *
 * Threads: call dt_global_init() once before starting threads.  A dt_client
 * may be used from several threads at once (it holds no per-request state;
 * every request uses its own curl handle).  A dt_sandbox handle is not
 * synchronised: one thread at a time per handle (two handles for the same
 * sandbox are independent).  A dt_pty is used by one thread at a time,
 * except dt_pty_kill which may be called from any thread.
 */
#ifndef DAYTONA_DAYTONA_H
#define DAYTONA_DAYTONA_H

#include <stddef.h>

#include "daytona/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DT_BUILDING_LIBRARY) && defined(__GNUC__)
#define DT_EXTERN __attribute__((visibility("default")))
#else
#define DT_EXTERN
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* Stable numbers: never renumbered; retired values leave a gap. */
typedef enum {
    DT_OK = 0,
    DT_EINVAL = 1,         /* an argument is invalid (checked locally) */
    DT_ENOMEM = 2,
    DT_ECONFIG = 3,        /* configuration missing or invalid (credentials) */
    DT_ECONNECT = 4,       /* could not resolve or connect */
    DT_ETIMEOUT = 5,       /* timed out (client deadline, or HTTP 408) */
    DT_EIO = 6,            /* the transfer failed after connecting */
    DT_EHTTP = 7,          /* an HTTP error status with no closer code */
    DT_EBADREQUEST = 8,    /* 400 (and 422): Daytona rejected the input */
    DT_EUNAUTHORIZED = 9,  /* 401 */
    DT_EFORBIDDEN = 10,    /* 403 */
    DT_ENOTFOUND = 11,     /* 404 (and 410 Gone) */
    DT_ECONFLICT = 12,     /* 409 */
    DT_ERATELIMIT = 13,    /* 429 after the retries ran out */
    DT_ESERVER = 14,       /* 5xx after the retries ran out */
    DT_EPROTO = 15,        /* a response that is not what Daytona sends */
    DT_ESTATE = 16,        /* the sandbox went to error/unexpected state */
    DT_ETOOBIG = 17,       /* a response over the configured size cap */
    DT_EFILE = 18,         /* a local file could not be read or written */
    DT_EWS = 19,           /* a WebSocket failed (handshake or framing) */
    DT_ECANCELED = 20,     /* a callback asked to stop */
    DT_EUNSUPPORTED = 21   /* the server does not offer this operation */
} dt_code;

/* Static English text for a code; never NULL ("unknown error" for others). */
DT_EXTERN const char *dt_strerror(dt_code code);

#define DT_ERROR_MESSAGE_MAX 1024

typedef struct {
    dt_code code;
    long status;                          /* HTTP status, 0 if none */
    char message[DT_ERROR_MESSAGE_MAX];   /* Daytona's message, or ours */
} dt_error;

/* ------------------------------------------------------------------ */
/* Library lifecycle and version                                      */
/* ------------------------------------------------------------------ */

/* Once per process before any thread uses the library (wraps
 * curl_global_init).  Safe to call again; each call needs a cleanup. */
DT_EXTERN dt_code dt_global_init(void);
DT_EXTERN void dt_global_cleanup(void);

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
DT_EXTERN const char *dt_version(void);
/* DT_VERSION_NUM of the library actually linked. */
DT_EXTERN unsigned dt_version_num(void);

/* ------------------------------------------------------------------ */
/* Client and configuration                                           */
/* ------------------------------------------------------------------ */

/* Retry policy for transient failures: connection refused/reset, name
 * resolution, timeouts, 502/503/504 and 429 (honouring Retry-After).
 * Never other 4xx; never a non-idempotent request (POST) that may have
 * reached the server -- a POST is retried only when it provably was not
 * sent (refused, unresolved, connect timeout) or was refused with 429/503
 * before processing.  Backoff before retry n: a random wait in
 * [cap/2, cap] with cap = min(max, initial * 2^(n-1)); a Retry-After given
 * with 429/503 is waited instead.  The whole call (all attempts and waits)
 * is bounded by total_ms. */
typedef struct {
    int max_attempts;        /* including the first; 1 disables retries */
    long initial_backoff_ms;
    long max_backoff_ms;
    long total_ms;           /* bound on all attempts + waits; <0 none */
} dt_retry_policy;

#define DT_DEFAULT_API_URL "https://app.daytona.io/api"

/* Every field NULL/0 means "from the environment, else the default":
 *   api_key          DAYTONA_API_KEY
 *   jwt_token        DAYTONA_JWT_TOKEN (needs organization_id)
 *   organization_id  DAYTONA_ORGANIZATION_ID
 *   api_url          DAYTONA_API_URL, else DT_DEFAULT_API_URL
 *   target           DAYTONA_TARGET (sent on create; none by default)
 * An api_key given in code wins over a JWT from the environment, as in the
 * SDKs. */
typedef struct {
    const char *api_key;
    const char *jwt_token;
    const char *organization_id;
    const char *api_url;
    const char *target;
    long request_timeout_ms;   /* per HTTP request; 0 = 60000 */
    long connect_timeout_ms;   /* 0 = 10000 */
    size_t max_response_bytes; /* cap on buffered responses; 0 = 64 MiB */
    dt_retry_policy retry;     /* zeroed = 4 attempts, 200 ms, 5 s, 30 s */
    const char *user_agent;    /* NULL = "libdaytona/VERSION" */
} dt_config;

/* Zeroes *cfg (everything from the environment or default). */
DT_EXTERN void dt_config_init(dt_config *cfg);

typedef struct dt_client dt_client;

/* Creates a client from cfg (NULL = all from the environment).  Fails with
 * DT_ECONFIG and a message naming the missing variable when there are no
 * credentials, or a JWT without an organization.  Free with dt_client_free.
 * No request is made. */
DT_EXTERN dt_code dt_client_new(const dt_config *cfg, dt_client **out,
                                dt_error *err);
/* NULL is a no-op.  All sandbox handles of the client must be freed first. */
DT_EXTERN void dt_client_free(dt_client *c);
/* The effective configuration (owned by the client). */
DT_EXTERN const char *dt_client_api_url(const dt_client *c);
DT_EXTERN const char *dt_client_target(const dt_client *c); /* may be NULL */

/* ------------------------------------------------------------------ */
/* Sandboxes (control plane)                                          */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *key;
    const char *value;
} dt_kv;

typedef struct {
    const char *volume_id;
    const char *mount_path;
    const char *subpath;       /* may be NULL */
} dt_volume_mount;

/* Unset numeric fields are -1 (server default); see dt_create_params_init. */
typedef struct {
    const char *name;          /* NULL = server picks (the id) */
    const char *language;      /* python (default) | typescript | javascript */
    const char *snapshot;      /* snapshot name or id; NULL = default */
    const char *user;          /* OS user; NULL = default */
    const dt_kv *env_vars;
    size_t n_env_vars;
    const dt_kv *labels;
    size_t n_labels;
    int auto_stop_interval;    /* minutes, 0 = never; -1 = default (15) */
    int auto_archive_interval; /* minutes; -1 = default (7 days) */
    int auto_delete_interval;  /* minutes, 0 = at stop; -1 = never */
    int ephemeral;             /* 1 = delete at stop; -1/0 = no */
    int cpu, gpu, memory, disk;/* cores, count, GiB, GiB; -1 = default */
    const dt_volume_mount *volumes;
    size_t n_volumes;
    int public_;               /* 1 = previews without a token; -1 = no */
    int network_block_all;     /* 1 = no network; -1 = default */
    const char *network_allow_list; /* comma-separated CIDRs, or NULL */
    long timeout_ms;           /* wait for `started`; 0 = 60000, <0 = don't wait */
    /* A base image instead of a snapshot (the SDK's `image: "python:3.12"`,
     * sent as buildInfo "FROM <image>").  Daytona accepts cpu/gpu/memory/
     * disk only with an image: with a snapshot they are a 400. */
    const char *image;
} dt_create_params;

DT_EXTERN void dt_create_params_init(dt_create_params *p);

typedef struct dt_sandbox dt_sandbox;

/* Creates a sandbox and (unless p->timeout_ms < 0) waits until it is
 * started, as the SDK does.  On a timeout the sandbox may still come up;
 * the error message names its id.  *out: free with dt_sandbox_free. */
DT_EXTERN dt_code dt_create(dt_client *c, const dt_create_params *p,
                            dt_sandbox **out, dt_error *err);
/* By id or name. */
DT_EXTERN dt_code dt_get(dt_client *c, const char *id_or_name,
                         dt_sandbox **out, dt_error *err);

typedef struct {
    const dt_kv *labels;       /* all must match */
    size_t n_labels;
    int page;                  /* 1-based; 0 = 1 (paginated form) */
    int limit;                 /* per page; 0 = server default */
    const char *cursor;        /* non-NULL: cursor form (GET /sandbox
                                  with cursor paging); "" = first page */
    const char *states;        /* comma-separated state filter, or NULL */
} dt_list_opts;

typedef struct dt_sandbox_list dt_sandbox_list;

DT_EXTERN dt_code dt_list(dt_client *c, const dt_list_opts *opts,
                          dt_sandbox_list **out, dt_error *err);
DT_EXTERN size_t dt_sandbox_list_count(const dt_sandbox_list *l);
/* Total over all pages (paginated form), or -1 when the server did not say. */
DT_EXTERN long dt_sandbox_list_total(const dt_sandbox_list *l);
/* Next cursor (cursor form), NULL at the end.  Owned by the list. */
DT_EXTERN const char *dt_sandbox_list_next_cursor(const dt_sandbox_list *l);
/* Borrowed handle, valid until the list is freed.  NULL if out of range. */
DT_EXTERN dt_sandbox *dt_sandbox_list_at(dt_sandbox_list *l, size_t i);
/* Takes ownership of item i out of the list (free with dt_sandbox_free);
 * the slot becomes NULL. */
DT_EXTERN dt_sandbox *dt_sandbox_list_take(dt_sandbox_list *l, size_t i);
DT_EXTERN void dt_sandbox_list_free(dt_sandbox_list *l);

/* The first sandbox matching id_or_name (when non-NULL) else labels.
 * DT_ENOTFOUND when none. */
DT_EXTERN dt_code dt_find_one(dt_client *c, const char *id_or_name,
                              const dt_kv *labels, size_t n_labels,
                              dt_sandbox **out, dt_error *err);

DT_EXTERN void dt_sandbox_free(dt_sandbox *sb);

/* Accessors: values of the last fetch (create/get/refresh/transition). */
DT_EXTERN const char *dt_sandbox_id(const dt_sandbox *sb);
DT_EXTERN const char *dt_sandbox_name(const dt_sandbox *sb);
/* "started", "stopped", "archived", "error", ... ("" if unknown). */
DT_EXTERN const char *dt_sandbox_state(const dt_sandbox *sb);
DT_EXTERN const char *dt_sandbox_error_reason(const dt_sandbox *sb); /* or NULL */
DT_EXTERN const char *dt_sandbox_target(const dt_sandbox *sb);
DT_EXTERN const char *dt_sandbox_snapshot(const dt_sandbox *sb); /* or NULL */
DT_EXTERN const char *dt_sandbox_user(const dt_sandbox *sb);
DT_EXTERN double dt_sandbox_cpu(const dt_sandbox *sb);
DT_EXTERN double dt_sandbox_gpu(const dt_sandbox *sb);
DT_EXTERN double dt_sandbox_memory(const dt_sandbox *sb);   /* GiB */
DT_EXTERN double dt_sandbox_disk(const dt_sandbox *sb);     /* GiB */
DT_EXTERN int dt_sandbox_public(const dt_sandbox *sb);
DT_EXTERN int dt_sandbox_auto_stop_interval(const dt_sandbox *sb);
DT_EXTERN int dt_sandbox_auto_archive_interval(const dt_sandbox *sb);
DT_EXTERN int dt_sandbox_auto_delete_interval(const dt_sandbox *sb);
/* A label's value, or NULL. */
DT_EXTERN const char *dt_sandbox_label(const dt_sandbox *sb, const char *key);
/* Number of labels and the i-th (key/value owned by the handle). */
DT_EXTERN size_t dt_sandbox_label_count(const dt_sandbox *sb);
DT_EXTERN dt_kv dt_sandbox_label_at(const dt_sandbox *sb, size_t i);
/* An environment variable given at create, or NULL.  List items carry no
 * env (as on Daytona): dt_sandbox_refresh first. */
DT_EXTERN const char *dt_sandbox_env(const dt_sandbox *sb, const char *key);
/* The whole last-fetched record as JSON text (owned by the handle). */
DT_EXTERN const char *dt_sandbox_json(const dt_sandbox *sb);

/* Re-reads the record. */
DT_EXTERN dt_code dt_sandbox_refresh(dt_sandbox *sb, dt_error *err);
/* Each waits for its end state; timeout_ms 0 = 60000, <0 = no limit.
 * A sandbox that goes to `error` fails with DT_ESTATE. */
DT_EXTERN dt_code dt_sandbox_start(dt_sandbox *sb, long timeout_ms, dt_error *err);
DT_EXTERN dt_code dt_sandbox_stop(dt_sandbox *sb, long timeout_ms, dt_error *err);
DT_EXTERN dt_code dt_sandbox_archive(dt_sandbox *sb, long timeout_ms, dt_error *err);
DT_EXTERN dt_code dt_sandbox_recover(dt_sandbox *sb, long timeout_ms, dt_error *err);
/* Deletes and waits until the sandbox is gone (or `destroyed`); the
 * handle then reports state "destroyed". */
DT_EXTERN dt_code dt_sandbox_delete(dt_sandbox *sb, long timeout_ms, dt_error *err);
DT_EXTERN dt_code dt_sandbox_wait_started(dt_sandbox *sb, long timeout_ms, dt_error *err);
DT_EXTERN dt_code dt_sandbox_wait_stopped(dt_sandbox *sb, long timeout_ms, dt_error *err);
/* Replaces the labels -- all of them, as Daytona does: the
 * code-toolbox-language label set at create is dropped unless resent. */
DT_EXTERN dt_code dt_sandbox_set_labels(dt_sandbox *sb, const dt_kv *labels,
                                        size_t n, dt_error *err);
/* Minutes: auto-stop 0 = never; auto-archive 0 = the maximum; auto-delete
 * 0 = at stop, -1 = never.  Other negative values are DT_EINVAL. */
DT_EXTERN dt_code dt_sandbox_set_auto_stop(dt_sandbox *sb, int minutes, dt_error *err);
DT_EXTERN dt_code dt_sandbox_set_auto_archive(dt_sandbox *sb, int minutes, dt_error *err);
DT_EXTERN dt_code dt_sandbox_set_auto_delete(dt_sandbox *sb, int minutes, dt_error *err);
/* Working directory / home of the sandbox user (*out: free()). */
DT_EXTERN dt_code dt_sandbox_work_dir(dt_sandbox *sb, char **out, dt_error *err);
DT_EXTERN dt_code dt_sandbox_home_dir(dt_sandbox *sb, char **out, dt_error *err);

typedef struct {
    char *url;
    char *token;     /* send as x-daytona-preview-token; "" for signed URLs */
} dt_preview;

DT_EXTERN void dt_preview_release(dt_preview *p);
DT_EXTERN dt_code dt_sandbox_preview_link(dt_sandbox *sb, int port,
                                          dt_preview *out, dt_error *err);
/* expires_s 0 = server default (60). */
DT_EXTERN dt_code dt_sandbox_signed_preview_url(dt_sandbox *sb, int port,
                                                int expires_s, dt_preview *out,
                                                dt_error *err);

/* ------------------------------------------------------------------ */
/* Volumes                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    char *id;
    char *name;
    char *state;
} dt_volume;

DT_EXTERN void dt_volume_release(dt_volume *v);
DT_EXTERN dt_code dt_volume_create(dt_client *c, const char *name,
                                   dt_volume *out, dt_error *err);
/* By name; create=1 makes it when missing (as the SDK's volume.get). */
DT_EXTERN dt_code dt_volume_get(dt_client *c, const char *name, int create,
                                dt_volume *out, dt_error *err);
DT_EXTERN dt_code dt_volume_delete(dt_client *c, const char *id, dt_error *err);

/* ------------------------------------------------------------------ */
/* Process: execute and code-run                                      */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *cwd;           /* NULL = working directory; exec only
                                  (code-run has none: DT_EINVAL) */
    const dt_kv *env;          /* extra environment */
    size_t n_env;
    int timeout_s;             /* 0 = none (the server's own limit); past
                                  it the command is killed and the call
                                  fails with DT_ETIMEOUT (408), no output */
    const char *const *argv;   /* code-run only: argv for the program */
    size_t argc;
} dt_exec_opts;

typedef struct {
    int exit_code;
    char *result;              /* combined output */
    size_t result_len;
    size_t n_charts;           /* code-run: matplotlib charts */
    char **charts_json;        /* each chart as JSON text */
} dt_exec_result;

DT_EXTERN void dt_exec_result_release(dt_exec_result *r);
/* Runs a shell command line (as the SDK's process.executeCommand). */
DT_EXTERN dt_code dt_exec(dt_sandbox *sb, const char *command,
                          const dt_exec_opts *opts, dt_exec_result *out,
                          dt_error *err);
/* Runs code in the sandbox's language (process.codeRun): the
 * code-toolbox-language label (set by dt_create); without it DT_EINVAL,
 * as the SDK refuses. */
DT_EXTERN dt_code dt_code_run(dt_sandbox *sb, const char *code,
                              const dt_exec_opts *opts, dt_exec_result *out,
                              dt_error *err);

/* ------------------------------------------------------------------ */
/* Process: sessions                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    char *id;
    char *command;
    int has_exit_code;         /* 0 while running */
    int exit_code;
} dt_command;

typedef struct {
    char *session_id;
    dt_command *commands;
    size_t n_commands;
} dt_session;

DT_EXTERN void dt_command_release(dt_command *c);
DT_EXTERN void dt_session_release(dt_session *s);

DT_EXTERN dt_code dt_session_create(dt_sandbox *sb, const char *session_id,
                                    dt_error *err);
DT_EXTERN dt_code dt_session_get(dt_sandbox *sb, const char *session_id,
                                 dt_session *out, dt_error *err);
/* *out: array of *n sessions; free with dt_session_list_free. */
DT_EXTERN dt_code dt_session_list(dt_sandbox *sb, dt_session **out,
                                  size_t *n, dt_error *err);
DT_EXTERN void dt_session_list_free(dt_session *list, size_t n);
DT_EXTERN dt_code dt_session_delete(dt_sandbox *sb, const char *session_id,
                                    dt_error *err);

typedef struct {
    int run_async;             /* 1 = return at once with the command id */
    int suppress_input_echo;   /* input sent later is not echoed to stdout */
    int timeout_s;             /* sync: bound on the wait for the answer
                                  (the command keeps running; Daytona has no
                                  limit on session commands); 0 = the
                                  client's request timeout */
} dt_session_exec_opts;

/* Session output is line-based (every line, even a last partial one, ends
 * in "\n").  `output` is both streams in order with Daytona's stream
 * markers removed (the SDK passes them through). */
typedef struct {
    char *cmd_id;
    int has_exit_code;         /* 0 for async */
    int exit_code;
    char *output;              /* sync: stdout+stderr; async: NULL */
    char *stdout_;             /* sync: demultiplexed stdout, else NULL */
    char *stderr_;
} dt_session_exec_result;

DT_EXTERN void dt_session_exec_result_release(dt_session_exec_result *r);
/* Runs a command in the session's shell (cd, export and functions persist;
 * commands of one session run one at a time).  A missing session is
 * DT_ESERVER with status 500, as Daytona answers exec (other session calls
 * give DT_ENOTFOUND/404). */
DT_EXTERN dt_code dt_session_exec(dt_sandbox *sb, const char *session_id,
                                  const char *command,
                                  const dt_session_exec_opts *opts,
                                  dt_session_exec_result *out, dt_error *err);
DT_EXTERN dt_code dt_session_get_command(dt_sandbox *sb, const char *session_id,
                                         const char *cmd_id, dt_command *out,
                                         dt_error *err);

typedef struct {
    char *output;              /* both streams, in order */
    char *stdout_;
    char *stderr_;
} dt_logs;

DT_EXTERN void dt_logs_release(dt_logs *l);
DT_EXTERN dt_code dt_session_logs(dt_sandbox *sb, const char *session_id,
                                  const char *cmd_id, dt_logs *out,
                                  dt_error *err);

/* Output callback: a chunk of one stream (not NUL-terminated).  Return 0 to
 * go on, non-zero to stop (the call then fails with DT_ECANCELED). */
typedef int (*dt_output_cb)(void *ctx, const char *data, size_t len);

/* Follows a command's logs over WebSocket until the command ends and its
 * log is drained, calling on_stdout / on_stderr (either may be NULL) as
 * output arrives (from the start of the log; chunks follow the server's
 * frames, not lines, and a multi-byte character may be split between two
 * calls).  No time limit: it returns when the command ended (or the
 * session was deleted) -- DT_OK --, when a callback asked to stop
 * (DT_ECANCELED), or when the connection failed. */
DT_EXTERN dt_code dt_session_logs_stream(dt_sandbox *sb, const char *session_id,
                                         const char *cmd_id,
                                         dt_output_cb on_stdout,
                                         dt_output_cb on_stderr, void *ctx,
                                         dt_error *err);
/* Sends a line of input to a running command (a newline is added by the
 * server). */
DT_EXTERN dt_code dt_session_input(dt_sandbox *sb, const char *session_id,
                                   const char *cmd_id, const char *data,
                                   dt_error *err);

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

/* Paths are the sandbox's: absolute, or relative to its working directory.
 * Errors: a missing path is DT_ENOTFOUND (404); an invalid path or the
 * wrong kind of file (listing a file, deleting a directory without
 * `recursive`) DT_EBADREQUEST (400); a denied one DT_EFORBIDDEN (403).  The
 * message is the daemon's, or "file not found: PATH" and the like when
 * Daytona's daemon answers with an empty body (it does for most file
 * errors).  A local file that cannot be read or written is DT_EFILE
 * (status 0).  Transfers (the upload and download calls) allow each request
 * 30 minutes, as the SDK does, or the client's request timeout when that is
 * longer. */

typedef struct {
    char *name;                /* strings: "" when the server omits them */
    char *path;                /* full path when known, else NULL */
    int is_dir;
    long long size;
    char *mode;                /* e.g. "-rw-r--r--" */
    char *permissions;         /* octal text, e.g. "0644" */
    char *owner;               /* numeric uid/gid as text on Daytona */
    char *group;
    char *mod_time;            /* RFC 3339 (modifiedAt) when sent, else
                                  Go's time text (modTime) */
} dt_file_info;

DT_EXTERN void dt_file_info_release(dt_file_info *fi);
DT_EXTERN void dt_file_info_list_free(dt_file_info *list, size_t n);

/* The entries of a directory, sorted by name (path NULL = the working
 * directory).  *out: free with dt_file_info_list_free (non-NULL even for
 * an empty directory). */
DT_EXTERN dt_code dt_fs_list(dt_sandbox *sb, const char *path,
                             dt_file_info **out, size_t *n, dt_error *err);
DT_EXTERN dt_code dt_fs_info(dt_sandbox *sb, const char *path,
                             dt_file_info *out, dt_error *err);
/* mkdir -p; an existing directory is not an error.  mode: octal text like
 * "755"; NULL = "755". */
DT_EXTERN dt_code dt_fs_mkdir(dt_sandbox *sb, const char *path,
                              const char *mode, dt_error *err);
DT_EXTERN dt_code dt_fs_delete(dt_sandbox *sb, const char *path, int recursive,
                               dt_error *err);
DT_EXTERN dt_code dt_fs_move(dt_sandbox *sb, const char *src, const char *dst,
                             dt_error *err);
/* Any of mode/owner/group may be NULL (unchanged). */
DT_EXTERN dt_code dt_fs_set_permissions(dt_sandbox *sb, const char *path,
                                        const char *mode, const char *owner,
                                        const char *group, dt_error *err);

typedef struct {
    char *file;
    int line;
    char *content;
} dt_match;

DT_EXTERN void dt_match_list_free(dt_match *list, size_t n);
/* Lines containing `pattern` (literally) in files under path (files/find);
 * a missing path gives no matches.  *out: free with dt_match_list_free. */
DT_EXTERN dt_code dt_fs_find(dt_sandbox *sb, const char *path,
                             const char *pattern, dt_match **out, size_t *n,
                             dt_error *err);
/* File names matching a glob under path (files/search); *out is an array
 * of *n strings: free with dt_strv_free. */
DT_EXTERN dt_code dt_fs_search(dt_sandbox *sb, const char *path,
                               const char *pattern, char ***out, size_t *n,
                               dt_error *err);
DT_EXTERN void dt_strv_free(char **v, size_t n);

typedef struct {
    char *file;
    int success;
    char *error;               /* NULL on success */
} dt_replace_result;

DT_EXTERN void dt_replace_result_list_free(dt_replace_result *list, size_t n);
/* Replaces every literal `pattern` by new_value in each file; a file that
 * fails is reported in its result, not as a failure of the call.  *out:
 * free with dt_replace_result_list_free. */
DT_EXTERN dt_code dt_fs_replace(dt_sandbox *sb, const char *const *files,
                                size_t n_files, const char *pattern,
                                const char *new_value, dt_replace_result **out,
                                size_t *n, dt_error *err);

/* Uploads all go to POST /files/bulk-upload in the SDK's multipart format
 * (as its uploadFile/uploadFiles do): parent directories are created and
 * existing files replaced.  Downloads of one file use GET /files/download.
 *
 * Whole-buffer transfers.  dt_fs_download keeps the file in memory, so it
 * is bounded by the client's max_response_bytes (DT_ETOOBIG). */
DT_EXTERN dt_code dt_fs_upload(dt_sandbox *sb, const char *remote_path,
                               const void *data, size_t len, dt_error *err);
/* *data: free(); NUL-terminated for convenience (not counted in *len). */
DT_EXTERN dt_code dt_fs_download(dt_sandbox *sb, const char *remote_path,
                                 void **data, size_t *len, dt_error *err);
/* Streaming to and from local files (never the whole file in memory).
 * Upload: a regular file is sent with the size it has when the call
 * starts (DT_EFILE if it shrinks meanwhile); a pipe or device is read to
 * its end and sent chunked.  Download: the data goes to a hidden temporary
 * file (".dtdl-*.part") in local_path's directory, renamed over local_path
 * once complete, so a failed download leaves nothing behind and an
 * existing local_path untouched (only a process killed mid-way can leave
 * the temporary file).  The directory must exist.  An existing pipe or
 * device (/dev/stdout) is written directly. */
DT_EXTERN dt_code dt_fs_upload_file(dt_sandbox *sb, const char *local_path,
                                    const char *remote_path, dt_error *err);
DT_EXTERN dt_code dt_fs_download_file(dt_sandbox *sb, const char *remote_path,
                                      const char *local_path, dt_error *err);

/* Bulk upload in the SDK's multipart format: each item from a buffer
 * (data/len) or, when local_path is non-NULL, streamed from that file.
 * One request: a local file that cannot be opened fails the call before
 * anything is sent; a remote failure (e.g. a path that is a directory)
 * fails it with DT_EBADREQUEST and the daemon's list of errors, and the
 * other items may have been written.  n == 0 does nothing. */
typedef struct {
    const char *remote_path;
    const char *local_path;
    const void *data;
    size_t len;
} dt_upload_item;

DT_EXTERN dt_code dt_fs_upload_many(dt_sandbox *sb, const dt_upload_item *items,
                                    size_t n, dt_error *err);

/* Bulk download (files/bulk-download, multipart response).  For each item
 * either local_path is written (streamed) or, when local_path is NULL, the
 * content lands in data/len (free data; NUL-terminated, not counted; at
 * most max_response_bytes per item, else DT_ETOOBIG).  A per-file failure
 * is reported in the item's error (heap; free) and does not fail the call:
 * the daemon's message ("file not found: /p"), a local file that could not
 * be written, or "No data received for this file".  Local files are
 * written as by dt_fs_download_file and moved into place only once the
 * whole answer has arrived; when the call fails, no item is changed and no
 * local file is written.  The same path may be asked twice.  n == 0 does
 * nothing. */
typedef struct {
    const char *remote_path;
    const char *local_path;
    void *data;                /* out */
    size_t len;                /* out */
    char *error;               /* out: NULL on success */
} dt_download_item;

DT_EXTERN dt_code dt_fs_download_many(dt_sandbox *sb, dt_download_item *items,
                                      size_t n, dt_error *err);
/* Frees the out fields of items (data, error). */
DT_EXTERN void dt_download_items_release(dt_download_item *items, size_t n);

/* ------------------------------------------------------------------ */
/* Code interpreter                                                   */
/* ------------------------------------------------------------------ */

typedef struct {
    char *id;
    char *cwd;
    char *language;
    int active;
} dt_interp_context;

DT_EXTERN void dt_interp_context_release(dt_interp_context *c);
DT_EXTERN void dt_interp_context_list_free(dt_interp_context *list, size_t n);
/* cwd and language may be NULL (defaults). */
DT_EXTERN dt_code dt_interp_context_create(dt_sandbox *sb, const char *cwd,
                                           const char *language,
                                           dt_interp_context *out,
                                           dt_error *err);
DT_EXTERN dt_code dt_interp_context_list(dt_sandbox *sb, dt_interp_context **out,
                                         size_t *n, dt_error *err);
DT_EXTERN dt_code dt_interp_context_delete(dt_sandbox *sb, const char *id,
                                           dt_error *err);

typedef struct {
    const char *context_id;    /* NULL = default context */
    const dt_kv *env;
    size_t n_env;
    int timeout_s;             /* 0 = server default (600); <0 = none */
    dt_output_cb on_stdout;    /* may be NULL */
    dt_output_cb on_stderr;
    void *ctx;
} dt_interp_opts;

typedef struct {
    char *stdout_;             /* everything received */
    char *stderr_;
    int has_error;
    char *error_name;          /* e.g. "ZeroDivisionError" */
    char *error_value;
    char *error_traceback;
    int timed_out;             /* the run hit its timeout (see dt_interp_run) */
} dt_interp_result;

DT_EXTERN void dt_interp_result_release(dt_interp_result *r);
/* Runs code in a context; an exception in the code is not a failure of the
 * call (see has_error).  Nor is a timeout: when the run hits timeout_s (the
 * server interrupts it: `interrupted`, or close 4008 when it had to kill
 * the worker) the call returns DT_OK with timed_out = 1 and the output so
 * far (the SDK resolves on the first and throws on the second; here both
 * are one case).  Errors: blank code DT_EINVAL; an unknown context_id
 * DT_ENOTFOUND; no answer within the timeout + 15 s DT_ETIMEOUT. */
DT_EXTERN dt_code dt_interp_run(dt_sandbox *sb, const char *code,
                                const dt_interp_opts *opts,
                                dt_interp_result *out, dt_error *err);

/* ------------------------------------------------------------------ */
/* PTY                                                                */
/* ------------------------------------------------------------------ */

typedef struct dt_pty dt_pty;

typedef struct {
    const char *id;            /* NULL = generated */
    const char *cwd;
    const dt_kv *env;
    size_t n_env;
    int cols, rows;            /* 0 = 80x24 (the SDK's default); max 1000 */
} dt_pty_opts;

/* Creates a PTY session (an interactive login shell) and connects to it,
 * waiting up to 10 s for the server's `connected`.  An existing id is
 * DT_ECONFLICT.  *out: free with dt_pty_free.  The sandbox handle is not
 * used afterwards (the client must outlive the PTY). */
DT_EXTERN dt_code dt_pty_create(dt_sandbox *sb, const dt_pty_opts *opts,
                                dt_pty **out, dt_error *err);
DT_EXTERN const char *dt_pty_id(const dt_pty *p);
/* Writes input (sent as a binary frame, as the SDK does).  DT_EIO once the
 * PTY exited. */
DT_EXTERN dt_code dt_pty_write(dt_pty *p, const void *data, size_t len,
                               dt_error *err);
/* Reads output (raw terminal bytes, not NUL-terminated); blocks up to
 * timeout_ms (<0 forever, 0 = poll).  *got 0 and *eof 0 with DT_OK means
 * the timeout passed; once the PTY exited (or was killed) and its output
 * was read: DT_OK with *got 0, *eof 1 (see dt_pty_exit_code).  A
 * connection lost without an exit is DT_EWS/DT_EIO. */
DT_EXTERN dt_code dt_pty_read(dt_pty *p, void *buf, size_t cap, size_t *got,
                              int *eof, long timeout_ms, dt_error *err);
/* cols and rows 1..1000; a PTY that is gone is DT_ENOTFOUND (status 410). */
DT_EXTERN dt_code dt_pty_resize(dt_pty *p, int cols, int rows, dt_error *err);
/* Kills the shell and its processes (DELETE); a reader then sees eof with
 * exit code 137. */
DT_EXTERN dt_code dt_pty_kill(dt_pty *p, dt_error *err);
/* Exit code once dt_pty_read reported eof (137 after a kill), else -1. */
DT_EXTERN int dt_pty_exit_code(const dt_pty *p);
/* Disconnects (the PTY session stays unless killed).  NULL is a no-op. */
DT_EXTERN void dt_pty_free(dt_pty *p);

#ifdef __cplusplus
}
#endif

#endif
