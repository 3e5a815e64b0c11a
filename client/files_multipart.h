/*
 * files_multipart.h - the two multipart formats of the file API, kept apart
 * from files.c so they can be unit-tested without a server:
 *
 *  - dt__mpw, the request side: a multipart/form-data body in the shape the
 *    SDK's npm form-data writes for POST /files/bulk-upload, produced by a
 *    pull generator (a dt__read_fn) that reads local files in chunks, so an
 *    upload of any size needs a few KiB of memory.
 *  - dt__bulk_dl, the response side of POST /files/bulk-download: parts
 *    named "file" or "error", each carrying the requested path as its
 *    filename, routed to the download item that asked for that path; file
 *    data is streamed into a temporary file next to the item's local_path
 *    (or into memory), error parts become the item's error text.
 *  - dt__ltmp, the "write beside, rename on success" helper for local
 *    destinations, shared with dt_fs_download_file.
 *
 * None of these is thread-safe; each object belongs to one call.
 */
#ifndef DT_CLIENT_FILES_MULTIPART_H
#define DT_CLIENT_FILES_MULTIPART_H

#include <stddef.h>

#include "internal.h"

/* ---- request side: multipart/form-data generator ---- */

typedef struct dt__mpw dt__mpw;

/* A writer with the given boundary, or NULL for a random one in
 * form-data's style ("-" x 26 + 24 hex digits).  A given boundary must be
 * 1..70 characters of RFC 2046's bchars without a trailing space. */
dt_code dt__mpw_new(const char *boundary, dt__mpw **out, dt_error *err);
/* NULL is a no-op.  Closes any files still open. */
void dt__mpw_free(dt__mpw *w);

/* A text field ("files[0].path" = the remote path); no Content-Type, as
 * form-data writes it.  value is copied. */
dt_code dt__mpw_add_field(dt__mpw *w, const char *name, const char *value,
                          dt_error *err);
/* A file field from memory: data is borrowed and must stay valid until the
 * body has been read.  content_type NULL = application/octet-stream. */
dt_code dt__mpw_add_data(dt__mpw *w, const char *name, const char *filename,
                         const char *content_type, const void *data,
                         size_t len, dt_error *err);
/* A file field streamed from a local file, opened now (DT_EFILE with the
 * reason if it cannot be opened or is a directory).  A regular file's size
 * is taken now and exactly that many bytes are sent: a file that shrinks
 * meanwhile fails the read, growth is not sent.  Anything else (a pipe,
 * /dev/stdin) is read to its end and makes the body's length unknown. */
dt_code dt__mpw_add_file(dt__mpw *w, const char *name, const char *filename,
                         const char *content_type, const char *local_path,
                         dt_error *err);
/* Ends the body (the closing delimiter).  No add_* after this. */
dt_code dt__mpw_close(dt__mpw *w, dt_error *err);

/* "multipart/form-data; boundary=..." (owned by the writer). */
const char *dt__mpw_content_type(const dt__mpw *w);
/* The body's total length, or -1 when a part's length is unknown (the
 * request then goes out chunked). */
long long dt__mpw_length(const dt__mpw *w);
/* The generator, a dt__read_fn over the writer: fills up to cap bytes,
 * returns 0 at the end and (size_t)-1 when a local file cannot be read
 * (the reason is kept for dt__mpw_read_error).  The writer must be
 * closed. */
size_t dt__mpw_read(void *w, char *dst, size_t cap);
/* After the generator failed: fills err with the reason (DT_EFILE) and
 * returns DT_EFILE; DT_OK when no read failed. */
dt_code dt__mpw_read_error(const dt__mpw *w, dt_error *err);

/* A filename="..." / name="..." value as this writer quotes it: backslash
 * and double quote are backslash-escaped (RFC 7578 4.2 allows it, and Go's
 * mime package and busboy undo it), CR and LF become %0D and %0A as
 * browsers send them, since no header may carry them.  Appends to b;
 * -1 on allocation failure.  Exposed for the unit test. */
int dt__mpw_quote(buf *b, const char *s);

/* The Content-Type npm form-data (mime-types) gives a file name, for the
 * common extensions; application/octet-stream otherwise.  Static text. */
const char *dt__mpw_mime_for(const char *name);

/* ---- response side: bulk-download decoder ---- */

typedef struct dt__bulk_dl dt__bulk_dl;

/*
 * A decoder for the answer to a bulk download of items[0..n).  items are
 * borrowed until dt__bulk_dl_finish/free; only remote_path and local_path
 * are read until finish writes the out fields.  max_mem caps the bytes kept
 * in memory for one item without a local_path (DT_ETOOBIG beyond).
 *
 * content_type points at the response's Content-Type text; it is read at
 * the first byte of the body (the HTTP layer fills it from the headers
 * before the body arrives), so the caller may pass a buffer that is still
 * empty when the decoder is made.
 */
dt_code dt__bulk_dl_new(dt_download_item *items, size_t n, size_t max_mem,
                        const char *content_type, dt__bulk_dl **out,
                        dt_error *err);
/* Feeds body bytes (a dt_output_cb): 0 to go on, -1 on a failure whose
 * reason dt__bulk_dl_finish reports. */
int dt__bulk_dl_feed(void *d, const char *data, size_t len);
/*
 * The body is complete.  On success writes every item's out fields: data
 * and len for memory items, error for per-file failures (an error part,
 * a local file that could not be written, or no part at all), and moves
 * the finished temporary files onto their local_path.  On failure (a
 * malformed or truncated body, a part for a path nobody asked for) the
 * items are untouched and the temporary files are removed by free.
 */
dt_code dt__bulk_dl_finish(dt__bulk_dl *d, dt_error *err);
/* The first failure seen while feeding (DT_OK if none), with its message
 * in err; used when the transfer was aborted by the decoder. */
dt_code dt__bulk_dl_error(const dt__bulk_dl *d, dt_error *err);
/* NULL is a no-op.  Removes temporary files not moved into place and frees
 * data not handed to the items. */
void dt__bulk_dl_free(dt__bulk_dl *d);

/* ---- local destinations: write beside, rename on success ---- */

typedef struct {
    int fd;
    char *final_path;   /* local_path as given */
    char *tmp_path;     /* NULL when writing final_path directly */
} dt__ltmp;

/*
 * Opens a destination for local_path.  A regular file (or none yet) is
 * written as a hidden temporary file in the same directory, created with
 * O_EXCL and mode 0666 less the umask, and renamed over local_path by
 * commit, so a failed transfer leaves nothing behind and never clobbers an
 * existing file.  An existing non-regular file (a pipe, /dev/stdout,
 * /dev/null) is opened and written directly.  DT_EFILE with the reason on
 * failure.  Parent directories are not created.
 */
dt_code dt__ltmp_open(dt__ltmp *t, const char *local_path, dt_error *err);
/* Writes all of data (short writes and EINTR handled); DT_EFILE. */
dt_code dt__ltmp_write(dt__ltmp *t, const void *data, size_t len,
                       dt_error *err);
/* Closes (checking for a deferred write error) and renames into place. */
dt_code dt__ltmp_commit(dt__ltmp *t, dt_error *err);
/* Closes the file without renaming it (the temp stays until abort or
 * commit_closed); for decoders that finish files before they may rename. */
dt_code dt__ltmp_close(dt__ltmp *t, dt_error *err);
/* The rename step for a file closed with dt__ltmp_close. */
dt_code dt__ltmp_commit_closed(dt__ltmp *t, dt_error *err);
/* Closes and removes the temporary file (if any), frees the names.
 * Safe after commit (then only frees) and on a zeroed struct with fd -1. */
void dt__ltmp_abort(dt__ltmp *t);

#endif
