/*
 * process_int.h - what the process modules of libdaytona share (process.c,
 * session.c, interp.c, pty.c) and nothing else needs: the sandbox check,
 * toolbox URLs built from literal parts and percent-encoded ids, one JSON
 * exchange with a per-call timeout, and the demultiplexer of a session
 * log's stdout/stderr stream markers.
 */
#ifndef DT_CLIENT_PROCESS_INT_H
#define DT_CLIENT_PROCESS_INT_H

#include <stddef.h>

#include "internal.h"

/* DT_EINVAL unless sb is a live sandbox handle. */
dt_code dt__proc_check(const dt_sandbox *sb, dt_error *err);

/*
 * *out (free()) = the toolbox URL of sb followed by parts[0..n): even
 * indices are literals appended as they are ("/process/session"), odd
 * indices ids appended as one percent-encoded path segment ("/" + id).
 * An id that is NULL or empty is DT_EINVAL (it would name another route).
 * Example: {"/process/session", sid, "/exec"}, n = 3.
 */
dt_code dt__proc_url(const dt_sandbox *sb, char **out, dt_error *err,
                     const char *const *parts, size_t n);

/* One toolbox call whose answer is only checked, not read: method on
 * dt__proc_url(parts, n) with body (NULL: none) through dt__json_ex. */
dt_code dt__proc_call(dt_sandbox *sb, const char *method, const char *const *parts,
                      size_t n, const cJSON *body, dt_error *err);

/* GETs a toolbox list at path and converts each element with conv into a
 * new array of *n elements of `size` bytes (*out; NULL when empty).  The
 * list is the whole body when key is NULL (anything but an array is
 * DT_EPROTO), else body[key], absent or not an array read as empty (the
 * SDK's `?? []`).  On failure what was converted is released. */
typedef int (*dt__conv_fn)(const cJSON *j, void *elem);
typedef void (*dt__release_fn)(void *elem);
dt_code dt__proc_get_list(dt_sandbox *sb, const char *path, const char *key,
                          size_t size, dt__conv_fn conv, dt__release_fn release,
                          void **out, size_t *n, dt_error *err);

/* Heap copy of a string member, "" when absent or null (the SDK's `?? ''`);
 * NULL only on allocation failure. */
char *dt__proc_str_or_empty(const cJSON *o, const char *key);

/* ---- session log demultiplexing (session.c) ---- */

#define DT__STREAM_STDOUT 1   /* marker "\x01\x01\x01" */
#define DT__STREAM_STDERR 2   /* marker "\x02\x02\x02" */

/* Receives one run of bytes of one stream; non-zero stops the feed. */
typedef int (*dt__demux_emit)(void *ctx, int stream, const char *data,
                              size_t len);

/*
 * A session log is one byte stream in which a 3-byte marker switches
 * between stdout and stderr (toolbox.md §5.5).  The demultiplexer takes
 * it in arbitrary chunks (WebSocket frames cut it every 1024 bytes, so a
 * marker may be split across frames): it holds back at most two trailing
 * bytes that may start a marker, and at each full marker (leftmost first,
 * as the SDK's stdDemuxStream) switches the current stream.  Bytes before
 * any marker go to stdout (the SDK drops them; they occur only when a
 * daemon in its legacy combined mode has stripped every marker, and then
 * they are the output).
 */
typedef struct {
    int cur;                     /* DT__STREAM_*; 0 before any marker */
    unsigned char held[2];       /* a possible marker start */
    size_t nheld;
    dt__demux_emit emit;
    void *ctx;
} dt__demux;

void dt__demux_init(dt__demux *d, dt__demux_emit emit, void *ctx);
/* Returns 0, or the first non-zero value emit returned. */
int dt__demux_feed(dt__demux *d, const char *data, size_t len);
/* Emits the held bytes as data of the current stream (end of the log). */
int dt__demux_flush(dt__demux *d);

#endif
