/*
 * files_multipart.c - the multipart request generator for bulk uploads,
 * the bulk-download response decoder, and local "write beside, rename on
 * success" destinations.  See files_multipart.h for the contracts.
 *
 * The generator is a list of segments read in order: text (delimiters and
 * part headers, kept in one bounded buffer), borrowed memory, and open
 * local files.  Nothing is copied but the headers, so the body of a 2 GiB
 * upload costs a few hundred bytes plus curl's read buffer.
 *
 * The decoder drives common/multipart.h's streaming reader.  Each part is
 * routed by its filename (the daemon sends the exact requested path, as
 * the SDK relies on) to the first item still waiting for that path; file
 * parts go to a temporary file beside the item's local_path, which is
 * renamed into place only once the whole body has parsed, so a truncated
 * response never leaves half a file or replaces a good one.
 */
#include "files_multipart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "multipart.h"
#include "rnd.h"

/* Header text of one body: delimiters, part headers and the path fields
 * (paths are at most a few KiB, so 16 MiB allows thousands of items). */
#define MPW_MAX_TEXT ((size_t)16 * 1024 * 1024)
/* An error part is a short JSON document; more than this is not kept. */
#define ERROR_PART_MAX ((size_t)64 * 1024)

static const char *errno_text(int e, char *b, size_t n)
{
    /* GNU strerror_r (we build with _GNU_SOURCE) may return static text
     * instead of filling b; strerror itself is not thread-safe. */
    return strerror_r(e, b, n);
}

static dt_code fail_errno(dt_error *err, int e, const char *what,
                          const char *path)
{
    char eb[128];
    return dt__fail(err, DT_EFILE, 0, "%s %s: %s", what, path,
                    errno_text(e, eb, sizeof eb));
}

/* ================================================================== */
/* Request side: the multipart/form-data generator                    */
/* ================================================================== */

typedef enum { SEG_TEXT, SEG_DATA, SEG_FILE } seg_kind;

typedef struct {
    seg_kind kind;
    size_t off;              /* TEXT: offset into w->text */
    long long len;           /* bytes; FILE: -1 = read to the end */
    const char *data;        /* DATA: borrowed */
    int fd;                  /* FILE */
    char *path;              /* FILE: for messages */
} seg;

struct dt__mpw {
    char boundary[MP_MAX_BOUNDARY + 1];
    char content_type[128];
    buf text;
    seg *segs;
    size_t nseg, cap;
    int closed;
    size_t cur;              /* generator: current segment */
    long long pos;           /* bytes of it already produced */
    int read_failed;
    char read_error[DT_ERROR_MESSAGE_MAX];
};

static int boundary_char_ok(unsigned char c)
{
    /* RFC 2046 bchars */
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || strchr("'()+_,-./:=? ", c) != NULL;
}

static int boundary_ok(const char *b)
{
    size_t n = strlen(b);
    if (n == 0 || n > MP_MAX_BOUNDARY || b[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!boundary_char_ok((unsigned char)b[i]))
            return 0;
    return 1;
}

dt_code dt__mpw_new(const char *boundary, dt__mpw **out, dt_error *err)
{
    char made[MP_MAX_BOUNDARY + 1];
    if (!boundary) {
        /* form-data's shape: 26 dashes and 12 random bytes in hex. */
        unsigned char r[12];
        if (rnd_bytes(r, sizeof r) != 0)
            return dt__fail(err, DT_EFILE, 0, "no random bytes for a boundary");
        int n = snprintf(made, sizeof made, "--------------------------");
        for (size_t i = 0; i < sizeof r; i++)
            n += snprintf(made + n, sizeof made - (size_t)n, "%02x", r[i]);
        boundary = made;
    }
    if (!boundary_ok(boundary))
        return dt__fail(err, DT_EINVAL, 0, "invalid multipart boundary");
    dt__mpw *w = calloc(1, sizeof *w);
    if (!w)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    snprintf(w->boundary, sizeof w->boundary, "%s", boundary);
    snprintf(w->content_type, sizeof w->content_type,
             "multipart/form-data; boundary=%s", boundary);
    buf_init(&w->text, MPW_MAX_TEXT);
    *out = w;
    return DT_OK;
}

void dt__mpw_free(dt__mpw *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nseg; i++) {
        if (w->segs[i].kind == SEG_FILE && w->segs[i].fd >= 0)
            close(w->segs[i].fd);
        free(w->segs[i].path);
    }
    free(w->segs);
    buf_release(&w->text);
    free(w);
}

static seg *push_seg(dt__mpw *w, seg_kind kind)
{
    if (w->nseg == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        seg *ns = realloc(w->segs, ncap * sizeof *ns);
        if (!ns)
            return NULL;
        w->segs = ns;
        w->cap = ncap;
    }
    seg *s = &w->segs[w->nseg++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->fd = -1;
    return s;
}

/* Appends text, growing the last segment when it is text too (the text
 * buffer is append-only, so consecutive text is contiguous). */
static int add_text(dt__mpw *w, const char *s, size_t n)
{
    size_t off = w->text.len;
    if (buf_add(&w->text, s, n) != BUF_OK)
        return -1;
    if (w->nseg && w->segs[w->nseg - 1].kind == SEG_TEXT) {
        w->segs[w->nseg - 1].len += (long long)n;
        return 0;
    }
    seg *sg = push_seg(w, SEG_TEXT);
    if (!sg) {
        w->text.len = off;   /* forget the bytes no segment covers */
        w->text.data[off] = '\0';
        return -1;
    }
    sg->off = off;
    sg->len = (long long)n;
    return 0;
}

static int add_texts(dt__mpw *w, const char *s)
{
    return add_text(w, s, strlen(s));
}

int dt__mpw_quote(buf *b, const char *s)
{
    for (; *s; s++) {
        const char *rep = *s == '"' ? "\\\"" : *s == '\\' ? "\\\\"
                        : *s == '\r' ? "%0D" : *s == '\n' ? "%0A" : NULL;
        if (rep ? buf_adds(b, rep) != BUF_OK : buf_add(b, s, 1) != BUF_OK)
            return -1;
    }
    return 0;
}

/* "--B\r\nContent-Disposition: form-data; name="N"[; filename="F"]\r\n"
 * ["Content-Type: T\r\n"] "\r\n", built in a scratch buffer so a failure
 * adds nothing. */
static dt_code part_header(dt__mpw *w, const char *name, const char *filename,
                           const char *content_type, dt_error *err)
{
    buf h;
    buf_init(&h, MPW_MAX_TEXT);
    int bad = buf_adds(&h, "--") || buf_adds(&h, w->boundary) ||
              buf_adds(&h, "\r\nContent-Disposition: form-data; name=\"") ||
              dt__mpw_quote(&h, name) || buf_adds(&h, "\"");
    if (!bad && filename)
        bad = buf_adds(&h, "; filename=\"") || dt__mpw_quote(&h, filename) ||
              buf_adds(&h, "\"");
    if (!bad && content_type) {
        bad = buf_adds(&h, "\r\nContent-Type: ");
        for (const char *p = content_type; !bad && *p; p++)
            if (*p != '\r' && *p != '\n')
                bad = buf_add(&h, p, 1) != BUF_OK;
    }
    if (!bad)
        bad = buf_adds(&h, "\r\n\r\n") || add_text(w, h.data, h.len);
    buf_release(&h);
    return bad ? dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory")
               : DT_OK;
}

static dt_code check_open(const dt__mpw *w, const char *name, dt_error *err)
{
    if (w->closed || !name)
        return dt__fail(err, DT_EINVAL, 0, "multipart body: %s",
                        w->closed ? "already closed" : "part without a name");
    return DT_OK;
}

dt_code dt__mpw_add_field(dt__mpw *w, const char *name, const char *value,
                          dt_error *err)
{
    dt_code rc = check_open(w, name, err);
    if (rc == DT_OK && !value)
        rc = dt__fail(err, DT_EINVAL, 0, "multipart body: field without value");
    if (rc == DT_OK)
        rc = part_header(w, name, NULL, NULL, err);
    if (rc == DT_OK && (add_texts(w, value) || add_text(w, "\r\n", 2)))
        rc = dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory");
    return rc;
}

dt_code dt__mpw_add_data(dt__mpw *w, const char *name, const char *filename,
                         const char *content_type, const void *data,
                         size_t len, dt_error *err)
{
    dt_code rc = check_open(w, name, err);
    if (rc == DT_OK && !data && len)
        rc = dt__fail(err, DT_EINVAL, 0, "multipart body: NULL data");
    if (rc == DT_OK)
        rc = part_header(w, name, filename,
                         content_type ? content_type
                                      : "application/octet-stream", err);
    if (rc != DT_OK)
        return rc;
    if (len) {
        seg *s = push_seg(w, SEG_DATA);
        if (!s)
            return dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory");
        s->data = data;
        s->len = (long long)len;
    }
    if (add_text(w, "\r\n", 2))
        return dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory");
    return DT_OK;
}

/* Opens a local source: a regular file with its size, or a stream. */
static dt_code open_source(const char *path, int *fd_out, long long *len,
                           dt_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(err, errno, "cannot open", path);
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        close(fd);
        return fail_errno(err, e, "cannot upload", path);
    }
    *fd_out = fd;
    *len = S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
    return DT_OK;
}

dt_code dt__mpw_add_file(dt__mpw *w, const char *name, const char *filename,
                         const char *content_type, const char *local_path,
                         dt_error *err)
{
    int fd = -1;
    long long len = -1;
    char *path = NULL;
    dt_code rc = check_open(w, name, err);
    if (rc == DT_OK && !local_path)
        rc = dt__fail(err, DT_EINVAL, 0, "multipart body: NULL local path");
    if (rc == DT_OK)
        rc = open_source(local_path, &fd, &len, err);
    if (rc == DT_OK && !(path = strdup(local_path)))
        rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
    if (rc == DT_OK)
        rc = part_header(w, name, filename,
                         content_type ? content_type
                                      : "application/octet-stream", err);
    if (rc != DT_OK)
        goto fail;
    seg *s = push_seg(w, SEG_FILE);
    if (!s) {
        rc = dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory");
        goto fail;
    }
    s->fd = fd;
    s->len = len;
    s->path = path;
    /* The file now belongs to the segment (freed by dt__mpw_free). */
    if (add_text(w, "\r\n", 2))
        return dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory");
    return DT_OK;
fail:
    free(path);
    if (fd >= 0)
        close(fd);
    return rc;
}

const char *dt__mpw_mime_for(const char *name)
{
    /* What mime-types (mime-db) answers for these; the daemon ignores the
     * type, so this only keeps the body identical to the SDK's. */
    static const struct {
        const char *ext, *type;
    } m[] = {
        {"txt", "text/plain"}, {"json", "application/json"},
        {"html", "text/html"}, {"htm", "text/html"},
        {"js", "application/javascript"}, {"mjs", "application/javascript"},
        {"css", "text/css"}, {"csv", "text/csv"}, {"md", "text/markdown"},
        {"xml", "application/xml"}, {"yaml", "text/yaml"},
        {"yml", "text/yaml"}, {"sh", "application/x-sh"},
        {"c", "text/x-c"}, {"h", "text/x-c"}, {"png", "image/png"},
        {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
        {"svg", "image/svg+xml"}, {"pdf", "application/pdf"},
        {"zip", "application/zip"}, {"gz", "application/gzip"},
        {"tar", "application/x-tar"}, {"wasm", "application/wasm"},
    };
    const char *slash = name ? strrchr(name, '/') : NULL;
    const char *dot = name ? strrchr(slash ? slash : name, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof m / sizeof m[0]; i++)
        if (strcasecmp(dot + 1, m[i].ext) == 0)
            return m[i].type;
    return "application/octet-stream";
}

dt_code dt__mpw_close(dt__mpw *w, dt_error *err)
{
    if (w->closed)
        return DT_OK;
    if (add_texts(w, "--") || add_texts(w, w->boundary) ||
        add_text(w, "--\r\n", 4))
        return dt__fail(err, DT_ENOMEM, 0, "multipart body: out of memory");
    w->closed = 1;
    return DT_OK;
}

const char *dt__mpw_content_type(const dt__mpw *w)
{
    return w->content_type;
}

long long dt__mpw_length(const dt__mpw *w)
{
    long long total = 0;
    for (size_t i = 0; i < w->nseg; i++) {
        if (w->segs[i].len < 0)
            return -1;
        total += w->segs[i].len;
    }
    return total;
}

static size_t read_fail(dt__mpw *w, const seg *s, int e)
{
    char eb[128];
    w->read_failed = 1;
    if (e)
        snprintf(w->read_error, sizeof w->read_error, "reading %s: %s",
                 s->path, errno_text(e, eb, sizeof eb));
    else
        snprintf(w->read_error, sizeof w->read_error,
                 "reading %s: the file shrank while it was being uploaded",
                 s->path);
    return (size_t)-1;
}

/* Reads from a file segment into dst.  Returns bytes (0 = segment done) or
 * (size_t)-1. */
static size_t read_file_seg(dt__mpw *w, seg *s, char *dst, size_t cap)
{
    size_t want = cap;
    if (s->len >= 0 && (long long)want > s->len - w->pos)
        want = (size_t)(s->len - w->pos);
    if (want == 0)
        return 0;
    for (;;) {
        ssize_t n = read(s->fd, dst, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return read_fail(w, s, errno);
        if (n == 0 && s->len >= 0)
            return read_fail(w, s, 0);   /* shorter than its stat said */
        return (size_t)n;
    }
}

size_t dt__mpw_read(void *vw, char *dst, size_t cap)
{
    dt__mpw *w = vw;
    size_t got = 0;
    if (!w->closed && !w->read_failed) {
        w->read_failed = 1;   /* a caller bug, reported like a read error */
        snprintf(w->read_error, sizeof w->read_error,
                 "the multipart body was read before it was closed");
    }
    if (w->read_failed)
        return (size_t)-1;
    while (got < cap && w->cur < w->nseg) {
        seg *s = &w->segs[w->cur];
        size_t n;
        if (s->kind == SEG_FILE) {
            n = read_file_seg(w, s, dst + got, cap - got);
            if (n == (size_t)-1)
                return n;
        } else {
            const char *src = s->kind == SEG_TEXT ? w->text.data + s->off
                                                  : s->data;
            n = cap - got;
            if ((long long)n > s->len - w->pos)
                n = (size_t)(s->len - w->pos);
            memcpy(dst + got, src + w->pos, n);
        }
        got += n;
        w->pos += (long long)n;
        if (n == 0 || w->pos == s->len) {
            if (s->kind == SEG_FILE) {
                close(s->fd);
                s->fd = -1;
            }
            w->cur++;
            w->pos = 0;
        } else if (s->kind == SEG_FILE) {
            break;   /* a pipe may block for more: send what we have */
        }
    }
    return got;
}

dt_code dt__mpw_read_error(const dt__mpw *w, dt_error *err)
{
    if (!w->read_failed)
        return DT_OK;
    return dt__fail(err, DT_EFILE, 0, "%s", w->read_error);
}

/* ================================================================== */
/* Local destinations                                                 */
/* ================================================================== */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Creates "<dir>/.dtdl-<16 hex>.part" exclusively. */
static dt_code open_temp(dt__ltmp *t, dt_error *err)
{
    char *dir = dir_of(t->final_path);
    if (!dir)
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    dt_code rc = DT_OK;
    for (int tries = 0; tries < 16; tries++) {
        unsigned char r[8];
        char name[64];
        if (rnd_bytes(r, sizeof r) != 0) {
            rc = dt__fail(err, DT_EFILE, 0, "no random bytes for a file name");
            break;
        }
        int n = snprintf(name, sizeof name, "/.dtdl-");
        for (size_t i = 0; i < sizeof r; i++)
            n += snprintf(name + n, sizeof name - (size_t)n, "%02x", r[i]);
        snprintf(name + n, sizeof name - (size_t)n, ".part");
        size_t len = strlen(dir) + strlen(name) + 1;
        free(t->tmp_path);
        if (!(t->tmp_path = malloc(len))) {
            rc = dt__fail(err, DT_ENOMEM, 0, "out of memory");
            break;
        }
        snprintf(t->tmp_path, len, "%s%s", strcmp(dir, "/") ? dir : "", name);
        t->fd = open(t->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (t->fd >= 0)
            break;
        if (errno != EEXIST) {
            rc = fail_errno(err, errno, "cannot write", t->final_path);
            break;
        }
    }
    if (rc == DT_OK && t->fd < 0)
        rc = dt__fail(err, DT_EFILE, 0, "cannot write %s: no free temporary "
                      "name", t->final_path);
    if (rc != DT_OK) {
        free(t->tmp_path);
        t->tmp_path = NULL;
    }
    free(dir);
    return rc;
}

dt_code dt__ltmp_open(dt__ltmp *t, const char *local_path, dt_error *err)
{
    struct stat st;
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (!local_path || !*local_path)
        return dt__fail(err, DT_EINVAL, 0, "empty local path");
    if (!(t->final_path = strdup(local_path)))
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    dt_code rc = DT_OK;
    int exists = stat(local_path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        rc = fail_errno(err, EISDIR, "cannot write", local_path);
    } else if (exists && !S_ISREG(st.st_mode)) {
        /* A pipe or device: there is nothing to replace atomically. */
        t->fd = open(local_path, O_WRONLY | O_CLOEXEC);
        if (t->fd < 0)
            rc = fail_errno(err, errno, "cannot write", local_path);
    } else {
        rc = open_temp(t, err);
    }
    if (rc != DT_OK) {
        free(t->final_path);
        t->final_path = NULL;
    }
    return rc;
}

dt_code dt__ltmp_write(dt__ltmp *t, const void *data, size_t len,
                       dt_error *err)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(t->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno(err, errno, "cannot write", t->final_path);
        p += n;
        len -= (size_t)n;
    }
    return DT_OK;
}

dt_code dt__ltmp_close(dt__ltmp *t, dt_error *err)
{
    if (t->fd < 0)
        return DT_OK;
    int rc = close(t->fd);
    t->fd = -1;
    /* close() is where NFS and friends report a failed write. */
    if (rc != 0 && errno != EINTR)
        return fail_errno(err, errno, "cannot write", t->final_path);
    return DT_OK;
}

dt_code dt__ltmp_commit_closed(dt__ltmp *t, dt_error *err)
{
    if (!t->tmp_path)
        return DT_OK;
    if (rename(t->tmp_path, t->final_path) != 0)
        return fail_errno(err, errno, "cannot write", t->final_path);
    free(t->tmp_path);
    t->tmp_path = NULL;
    return DT_OK;
}

dt_code dt__ltmp_commit(dt__ltmp *t, dt_error *err)
{
    dt_code rc = dt__ltmp_close(t, err);
    return rc != DT_OK ? rc : dt__ltmp_commit_closed(t, err);
}

void dt__ltmp_abort(dt__ltmp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->tmp_path)
        unlink(t->tmp_path);
    free(t->tmp_path);
    free(t->final_path);
    t->tmp_path = t->final_path = NULL;
}

/* ================================================================== */
/* Response side: the bulk-download decoder                           */
/* ================================================================== */

enum { SLOT_PENDING, SLOT_DATA, SLOT_ERROR };
enum { PART_SKIP, PART_MEM, PART_LOCAL, PART_ERROR };

typedef struct {
    int state;
    buf mem;                 /* items without local_path */
    dt__ltmp tmp;            /* items with one: the (closed) temp file */
    char *error;             /* SLOT_ERROR: the message */
} slot;

struct dt__bulk_dl {
    dt_download_item *items;
    size_t n;
    slot *slots;
    const char *content_type;
    mp_reader *mp;
    int kind;                /* what the current part is */
    size_t cur;              /* its slot */
    int error_is_json;
    buf errtext;             /* the current error part's body */
    dt_error fail;           /* first failure while feeding */
};

dt_code dt__bulk_dl_new(dt_download_item *items, size_t n, size_t max_mem,
                        const char *content_type, dt__bulk_dl **out,
                        dt_error *err)
{
    dt__bulk_dl *d = calloc(1, sizeof *d);
    if (!d || !(d->slots = calloc(n ? n : 1, sizeof *d->slots))) {
        free(d);
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    }
    d->items = items;
    d->n = n;
    d->content_type = content_type;
    for (size_t i = 0; i < n; i++) {
        buf_init(&d->slots[i].mem, max_mem);
        d->slots[i].tmp.fd = -1;
    }
    buf_init(&d->errtext, ERROR_PART_MAX);
    *out = d;
    return DT_OK;
}

void dt__bulk_dl_free(dt__bulk_dl *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        buf_release(&d->slots[i].mem);
        dt__ltmp_abort(&d->slots[i].tmp);
        free(d->slots[i].error);
    }
    free(d->slots);
    mp_reader_free(d->mp);
    buf_release(&d->errtext);
    free(d);
}

/* Records the first failure; returns -1 for the callbacks. */
__attribute__((format(printf, 3, 4)))
static int dl_fail(dt__bulk_dl *d, dt_code code, const char *fmt, ...)
{
    char msg[DT_ERROR_MESSAGE_MAX];
    va_list ap;
    if (d->fail.code != DT_OK)
        return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dt__fail(&d->fail, code, 0, "%s", msg);
    return -1;
}

/* A per-item failure: the item gets the message, the call goes on. */
static int slot_error(slot *s, const char *msg)
{
    free(s->error);
    s->error = strdup(msg);
    s->state = SLOT_ERROR;
    return s->error ? 0 : -1;
}

static int dl_on_part(void *ctx, const mp_part *p)
{
    dt__bulk_dl *d = ctx;
    int is_file = strcmp(p->name, "file") == 0;
    d->kind = PART_SKIP;
    /* busboy (the SDK) only reports parts with a filename; others are
     * form fields it ignores, and so do we. */
    if (!p->has_filename || (!is_file && strcmp(p->name, "error") != 0))
        return 0;
    size_t i = 0;
    while (i < d->n && (d->slots[i].state != SLOT_PENDING ||
                        strcmp(d->items[i].remote_path, p->filename) != 0))
        i++;
    if (i == d->n)
        return dl_fail(d, DT_EPROTO, "bulk download: a part for \"%s\", "
                       "which was not requested (or sent twice)", p->filename);
    d->cur = i;
    if (!is_file) {
        d->kind = PART_ERROR;
        d->error_is_json = strcasestr(p->content_type, "json") != NULL;
        buf_reset(&d->errtext);
        return 0;
    }
    if (!d->items[i].local_path) {
        d->kind = PART_MEM;
        return 0;
    }
    dt_error e = {0};
    if (dt__ltmp_open(&d->slots[i].tmp, d->items[i].local_path, &e) != DT_OK)
        return slot_error(&d->slots[i], e.message);
    d->kind = PART_LOCAL;
    return 0;
}

static int dl_on_data(void *ctx, const char *data, size_t len)
{
    dt__bulk_dl *d = ctx;
    slot *s = &d->slots[d->cur];
    dt_error e = {0};
    switch (d->kind) {
    case PART_MEM: {
        buf_code bc = buf_add(&s->mem, data, len);
        if (bc == BUF_ETOOBIG)
            return dl_fail(d, DT_ETOOBIG, "bulk download: %s is larger than "
                           "the response size limit", d->items[d->cur].remote_path);
        return bc == BUF_OK ? 0 : dl_fail(d, DT_ENOMEM, "%s", "out of memory");
    }
    case PART_LOCAL:
        if (dt__ltmp_write(&s->tmp, data, len, &e) == DT_OK)
            return 0;
        dt__ltmp_abort(&s->tmp);
        d->kind = PART_SKIP;   /* drain the rest of this part */
        return slot_error(s, e.message);
    case PART_ERROR:
        /* Keep what fits; the message is at the front. */
        if (buf_add(&d->errtext, data, len) != BUF_OK &&
            d->errtext.len < d->errtext.max)
            buf_add(&d->errtext, data, d->errtext.max - d->errtext.len);
        return 0;
    default:
        return 0;
    }
}

/* The message of an error part: the JSON envelope's "message" (what the
 * SDK shows), else the text itself. */
static int error_part_done(dt__bulk_dl *d, slot *s)
{
    const char *text = buf_str(&d->errtext);
    cJSON *j = d->error_is_json ? cJSON_Parse(text) : NULL;
    const char *msg = dt__jstr(j, "message");
    char *trimmed = NULL;
    if (!msg) {
        size_t a = 0, b = d->errtext.len;
        while (a < b && strchr(" \t\r\n", text[a]))
            a++;
        while (b > a && strchr(" \t\r\n", text[b - 1]))
            b--;
        trimmed = strndup(text + a, b - a);
        msg = trimmed && *trimmed ? trimmed : "download failed";
    }
    int rc = slot_error(s, msg);
    free(trimmed);
    cJSON_Delete(j);
    return rc;
}

static int dl_on_part_end(void *ctx)
{
    dt__bulk_dl *d = ctx;
    slot *s = &d->slots[d->cur];
    dt_error e = {0};
    int kind = d->kind;
    d->kind = PART_SKIP;
    switch (kind) {
    case PART_MEM:
        s->state = SLOT_DATA;
        return 0;
    case PART_LOCAL:
        /* Closed now (no fd per item held open), renamed at finish. */
        if (dt__ltmp_close(&s->tmp, &e) == DT_OK) {
            s->state = SLOT_DATA;
            return 0;
        }
        dt__ltmp_abort(&s->tmp);
        return slot_error(s, e.message);
    case PART_ERROR:
        return error_part_done(d, s) ? dl_fail(d, DT_ENOMEM, "%s",
                                               "out of memory") : 0;
    default:
        return 0;
    }
}

int dt__bulk_dl_feed(void *vd, const char *data, size_t len)
{
    dt__bulk_dl *d = vd;
    if (d->fail.code != DT_OK)
        return -1;
    if (!d->mp) {
        char b[MP_MAX_BOUNDARY + 1];
        const char *ct = d->content_type ? d->content_type : "";
        if (strncasecmp(ct, "multipart/", 10) != 0 ||
            mp_boundary_from_content_type(ct, b) != 0)
            return dl_fail(d, DT_EPROTO, "bulk download: the response is not "
                           "multipart (Content-Type \"%s\")", ct);
        mp_callbacks cb = {dl_on_part, dl_on_data, dl_on_part_end, d};
        if (!(d->mp = mp_reader_new(b, &cb)))
            return dl_fail(d, DT_ENOMEM, "%s", "out of memory");
    }
    mp_code mc = mp_feed(d->mp, data, len);
    if (mc == MP_OK)
        return 0;
    if (mc != MP_EABORT)
        dl_fail(d, DT_EPROTO, "bulk download: malformed multipart response: "
                "%s", mp_strerror(mc));
    return -1;
}

dt_code dt__bulk_dl_error(const dt__bulk_dl *d, dt_error *err)
{
    if (d->fail.code == DT_OK)
        return DT_OK;
    return dt__fail(err, d->fail.code, 0, "%s", d->fail.message);
}

/* Moves finished temporary files into place; a failure is the item's. */
static int commit_files(dt__bulk_dl *d)
{
    for (size_t i = 0; i < d->n; i++) {
        slot *s = &d->slots[i];
        dt_error e = {0};
        if (s->state != SLOT_DATA || !d->items[i].local_path)
            continue;
        if (dt__ltmp_commit_closed(&s->tmp, &e) != DT_OK) {
            dt__ltmp_abort(&s->tmp);
            if (slot_error(s, e.message))
                return -1;
        }
    }
    return 0;
}

dt_code dt__bulk_dl_finish(dt__bulk_dl *d, dt_error *err)
{
    if (d->fail.code != DT_OK)
        return dt__bulk_dl_error(d, err);
    if (!d->mp)
        return dt__fail(err, DT_EPROTO, 0, "bulk download: empty response");
    mp_code mc = mp_finish(d->mp);
    if (mc != MP_OK)
        return dt__fail(err, DT_EIO, 0, "bulk download: the response ended "
                        "before its closing boundary (%s)", mp_strerror(mc));
    for (size_t i = 0; i < d->n; i++)
        if (d->slots[i].state == SLOT_PENDING &&
            slot_error(&d->slots[i], "No data received for this file"))
            return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    if (commit_files(d))
        return dt__fail(err, DT_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < d->n; i++) {
        slot *s = &d->slots[i];
        dt_download_item *it = &d->items[i];
        it->data = NULL;
        it->len = 0;
        it->error = NULL;
        if (s->state == SLOT_ERROR) {
            it->error = s->error;
            s->error = NULL;
        } else if (!it->local_path) {
            /* buf_detach only fails for an empty body; give "" then. */
            it->data = buf_detach(&s->mem, &it->len);
            if (!it->data)
                it->data = calloc(1, 1);
        }
    }
    return DT_OK;
}
