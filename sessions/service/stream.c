/*
 * stream.c - POST /sessions/active/run/stream: a run's output as
 * Server-Sent Events while the program runs.
 *
 *   event: output   data: {"stream":"stdout"|"stderr","data":"..."}
 *   event: exit     data: {"exitCode":N,"sessionId":"..."}
 *   event: error    data: {"statusCode":N,"message":"...","error":"..."}
 *
 * Two threads meet in a run_stream: a producer thread runs
 * sess_run_stream and turns each chunk into an event appended to `out`;
 * the connection's thread (MHD's content reader, sse_produce) hands `out`
 * to the socket, blocking until there is something.  Backpressure: the
 * producer waits while more than HIGH_WATER bytes are unsent, so a slow
 * client slows the run's log reading rather than growing memory.
 *
 * Ending: whichever side goes first tells the other.  The reader side ends
 * when the request completes (the reply was sent, or the client went away);
 * it then fires the run's cancel token, which deletes the run's toolbox
 * session: the program is killed and the library returns at once, even for
 * a program that prints nothing (its output callback, the other way to
 * stop, would never run).  A client that goes away while there is nothing
 * to send is noticed by watching the socket: MHD only finds out when a
 * write fails, and it writes only when we hand it something.  The object
 * is freed by the last of the two (refs).  Shutdown: svc_streams_shutdown
 * closes every stream (the readers send an `error` event and end, so MHD
 * can stop) and fires every token; svc_streams_wait waits for the
 * producers.
 *
 * A chunk may end inside a UTF-8 sequence; the incomplete tail is carried
 * to the next chunk of the same stream rather than turned into U+FFFD.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "svc.h"
#include "timeutil.h"
#include "utf8.h"

#define HIGH_WATER (256u * 1024)
#define MAX_PENDING (64u * 1024 * 1024)
#define KEEPALIVE_MS 15000
/* How often a silent stream looks whether its client is still there. */
#define CLIENT_CHECK_MS 250

struct svc_streams {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    size_t live;
    struct run_stream *head;
};

typedef struct run_stream {
    svc_streams *reg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    buf out;                /* SSE text not yet handed to MHD */
    size_t off;             /* how much of out was handed */
    int closed;             /* no more events: out is all there will be */
    int reader_gone;        /* the request ended: stop the run */
    int shutdown;           /* the service is stopping */
    int refs;               /* producer + reader */
    int fd;                 /* the client's socket, -1 = unknown */
    int64_t last_sent;      /* mono ms the reader last handed bytes */
    sess_cancel *cancel;    /* stops the run (any thread) */
    /* the run (read only by the producer) */
    sess_manager *mgr;
    char *user;
    char *code;
    int timeout_s;
    char carry[2][4];       /* incomplete UTF-8 tail of stdout / stderr */
    size_t ncarry[2];
    struct run_stream *next, **pprev;
} run_stream;

/* Condition variables on the monotonic clock: timed waits must not jump
 * with the wall clock. */
static void cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec deadline_in(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ---------- registry ---------- */

svc_streams *svc_streams_new(void)
{
    svc_streams *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    cond_init(&s->cv);
    return s;
}

void svc_streams_shutdown(svc_streams *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    for (run_stream *st = s->head; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->shutdown = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
    }
    /* Cancelled after every reader was woken (they need not wait for the
     * Daytona calls).  s->mu keeps each stream registered, hence alive,
     * while its token fires; a producer that finishes meanwhile waits for
     * s->mu only to unregister. */
    for (run_stream *st = s->head; st; st = st->next)
        sess_cancel_fire(st->cancel);
    pthread_mutex_unlock(&s->mu);
}

/* 1 when no registered stream still has a reader (s->mu held). */
static int readers_done(svc_streams *s)
{
    int done = 1;
    for (run_stream *st = s->head; st && done; st = st->next) {
        pthread_mutex_lock(&st->mu);
        done = st->reader_gone;
        pthread_mutex_unlock(&st->mu);
    }
    return done;
}

int svc_streams_drain(svc_streams *s, long timeout_ms)
{
    if (!s)
        return 1;
    /* Polled: readers end on MHD's threads, which have no reason to signal
     * the registry otherwise, and this runs once, at shutdown. */
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int done = readers_done(s);
        pthread_mutex_unlock(&s->mu);
        if (done)
            return 1;
        if (time_mono_ms() >= end)
            return 0;
        struct timespec nap = {0, 10 * 1000000L};
        nanosleep(&nap, NULL);
    }
}

int svc_streams_wait(svc_streams *s, long timeout_ms)
{
    if (!s)
        return 1;
    struct timespec dl = deadline_in(timeout_ms);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->live > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &dl);
    int all = s->live == 0;
    pthread_mutex_unlock(&s->mu);
    return all;
}

void svc_streams_free(svc_streams *s)
{
    if (!s)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---------- one stream ---------- */

static void stream_destroy(run_stream *st)
{
    buf_release(&st->out);
    sess_cancel_free(st->cancel);
    free(st->user);
    free(st->code);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Drops one side's reference; the last one unregisters and frees. */
static void stream_unref(run_stream *st)
{
    pthread_mutex_lock(&st->mu);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    svc_streams *reg = st->reg;
    pthread_mutex_lock(&reg->mu);
    *st->pprev = st->next;
    if (st->next)
        st->next->pprev = st->pprev;
    reg->live--;
    pthread_cond_broadcast(&reg->cv);
    pthread_mutex_unlock(&reg->mu);
    stream_destroy(st);
}

/* A registered stream with both references, or NULL (out of memory, or
 * the service is stopping: *stopping set). */
static run_stream *stream_new(svc_req *r, const char *code, int timeout_s,
                              int *stopping)
{
    svc_streams *reg = r->app->streams;
    run_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    pthread_mutex_init(&st->mu, NULL);
    cond_init(&st->cv);
    buf_init(&st->out, MAX_PENDING);
    st->reg = reg;
    st->refs = 2;
    st->fd = svc_conn_fd(r);
    st->last_sent = time_mono_ms();
    st->mgr = r->app->mgr;
    st->timeout_s = timeout_s;
    st->user = strdup(r->user);
    st->code = strdup(code);
    int ok = st->user && st->code && sess_cancel_new(&st->cancel, NULL) == SESS_OK;
    pthread_mutex_lock(&reg->mu);
    *stopping = reg->stopping;
    if (ok && !*stopping) {
        st->next = reg->head;
        if (reg->head)
            reg->head->pprev = &st->next;
        st->pprev = &reg->head;
        reg->head = st;
        reg->live++;
        pthread_mutex_unlock(&reg->mu);
        return st;
    }
    pthread_mutex_unlock(&reg->mu);
    stream_destroy(st);
    return NULL;
}

/* ---------- events ---------- */

/* Appends "event: NAME\ndata: JSON\n\n" to b; takes doc. */
static int event_text(buf *b, const char *name, cJSON *doc)
{
    char *json = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    int bad = !json || buf_adds(b, "event: ") || buf_adds(b, name) ||
              buf_adds(b, "\ndata: ") || buf_adds(b, json) ||
              buf_adds(b, "\n\n");
    free(json);
    return bad ? -1 : 0;
}

static int output_event(buf *b, sess_stream which, const char *data,
                        size_t len)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "stream", which == SESS_STDERR
                                                        ? "stderr" : "stdout") ||
        svc_add_bytes(o, "data", data, len) != 0) {
        cJSON_Delete(o);
        return -1;
    }
    return event_text(b, "output", o);
}

/* Queues an event's text unless the stream is closed, waiting while the
 * client is behind.  0 to go on, 1 to stop the run. */
static int enqueue(run_stream *st, const buf *ev)
{
    pthread_mutex_lock(&st->mu);
    while (!st->reader_gone && !st->closed && !st->shutdown &&
           st->out.len - st->off > HIGH_WATER)
        pthread_cond_wait(&st->cv, &st->mu);
    int stop = st->reader_gone || st->closed || st->shutdown;
    if (!stop && buf_add(&st->out, ev->data, ev->len) != BUF_OK)
        stop = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return stop;
}

/* Where to cut data[0..n) so that no UTF-8 sequence is split: n, or the
 * start of an incomplete sequence among the last three bytes. */
static size_t utf8_cut(const unsigned char *d, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char b = d[n - back];
        if (b < 0x80)
            return n;
        if ((b & 0xC0) == 0x80)
            continue;                   /* continuation: look further */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        return need > back ? n - back : n;
    }
    return n;
}

/* The library's output callback: one event per chunk. */
static int on_output(void *ctx, sess_stream which, const char *data,
                     size_t len)
{
    run_stream *st = ctx;
    int k = which == SESS_STDERR;
    buf joined, ev;
    buf_init(&joined, MAX_PENDING);
    buf_init(&ev, MAX_PENDING);
    int stop = 1;
    if (buf_add(&joined, st->carry[k], st->ncarry[k]) != BUF_OK ||
        buf_add(&joined, data, len) != BUF_OK)
        goto cleanup;
    size_t cut = utf8_cut((const unsigned char *)joined.data, joined.len);
    st->ncarry[k] = joined.len - cut;
    memcpy(st->carry[k], joined.data + cut, st->ncarry[k]);
    stop = 0;
    if (cut == 0)
        goto cleanup;
    stop = output_event(&ev, which, joined.data, cut) != 0 || enqueue(st, &ev);
cleanup:
    buf_release(&joined);
    buf_release(&ev);
    return stop;
}

/* The last event: exit, or error (none when the run was stopped because
 * the stream is over anyway). */
static int final_event(buf *b, sess_code c, const sess_run_result *res,
                       const sess_error *e)
{
    if (c == SESS_ECANCELED)
        return 0;
    if (c != SESS_OK) {
        int st = svc_status_for(e);
        if (st == 500)
            svc_log(SVC_LOG_ERROR, "streamed run: %s", e->message);
        return event_text(b, "error", svc_error_json(st, st == 500
                              ? "An unexpected error occurred." : e->message));
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "exitCode", res->exit_code) ||
        !cJSON_AddStringToObject(o, "sessionId", res->session_id)) {
        cJSON_Delete(o);
        return -1;
    }
    return event_text(b, "exit", o);
}

static void close_for_shutdown(run_stream *st);

static void *producer(void *arg)
{
    run_stream *st = arg;
    sess_run_result res = {0};
    sess_error e;
    buf ev;
    buf_init(&ev, MAX_PENDING);
    sess_stream_opts o = {st->timeout_s, st->cancel};
    sess_code c = sess_run_stream_opts(st->mgr, st->user, st->code, &o,
                                       on_output, st, &res, &e);
    /* Tails that never completed a character are shown as they are. */
    for (int k = 0; k < 2 && c == SESS_OK; k++)
        if (st->ncarry[k] &&
            output_event(&ev, k ? SESS_STDERR : SESS_STDOUT, st->carry[k],
                         st->ncarry[k]) != 0)
            c = SESS_ENOMEM;
    if (final_event(&ev, c, &res, &e) != 0)
        buf_reset(&ev);
    pthread_mutex_lock(&st->mu);
    /* A shutdown cancelled the run: its reader may not have woken yet to
     * say so, and must not find a stream closed without the reason. */
    if (!st->closed && !st->reader_gone && st->shutdown)
        close_for_shutdown(st);
    if (!st->closed && !st->reader_gone)
        buf_add(&st->out, ev.data, ev.len);
    st->closed = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    buf_release(&ev);
    sess_run_result_release(&res);
    stream_unref(st);
    return NULL;
}

/* ---------- the reader (MHD's content reader) ---------- */

static const char KEEPALIVE[] = ": keep-alive\n\n";

/* Closes the stream for a shutdown with an `error` event (mu held). */
static void close_for_shutdown(run_stream *st)
{
    buf ev;
    buf_init(&ev, 4096);
    if (event_text(&ev, "error", svc_error_json(503, "The service is "
                                                "shutting down")) == 0)
        buf_add(&st->out, ev.data, ev.len);
    buf_release(&ev);
    st->closed = 1;
    pthread_cond_broadcast(&st->cv);
}

/* 1 when the peer has closed (or reset) the connection.  The request's
 * body has been read in full, so anything readable now is the end of the
 * stream (or a pipelined request, which is no reason to stop). */
static int client_gone(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (fd < 0 || poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLERR))
        return 1;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                      errno != EINTR);
}

/* Hands up to max bytes of out to MHD (mu held). */
static long hand_out(run_stream *st, char *out, size_t max)
{
    size_t avail = st->out.len - st->off;
    size_t n = avail < max ? avail : max;
    memcpy(out, st->out.data + st->off, n);
    st->off += n;
    if (st->off == st->out.len) {
        buf_reset(&st->out);
        st->off = 0;
    }
    st->last_sent = time_mono_ms();
    pthread_cond_broadcast(&st->cv);   /* room for the producer */
    return (long)n;
}

static long sse_produce(void *ctx, char *out, size_t max)
{
    run_stream *st = ctx;
    long n = 0;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (st->out.len > st->off) {
            n = hand_out(st, out, max);
            break;
        }
        if (st->closed)
            break;                      /* n = 0: the end */
        if (st->shutdown) {
            close_for_shutdown(st);
            continue;
        }
        struct timespec dl = deadline_in(CLIENT_CHECK_MS);
        if (pthread_cond_timedwait(&st->cv, &st->mu, &dl) != ETIMEDOUT ||
            st->out.len > st->off || st->closed || st->shutdown)
            continue;
        if (client_gone(st->fd)) {
            n = -1;                     /* MHD ends the request: released */
            break;
        }
        /* A comment now and then keeps proxies from timing the stream
         * out. */
        if (time_mono_ms() - st->last_sent >= KEEPALIVE_MS &&
            max >= sizeof KEEPALIVE - 1) {
            st->last_sent = time_mono_ms();
            memcpy(out, KEEPALIVE, sizeof KEEPALIVE - 1);
            n = (long)(sizeof KEEPALIVE - 1);
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* The request is over (reply sent, or the client gone): the run is
 * cancelled if it is still going, the reference dropped. */
static void reader_release(void *ctx)
{
    run_stream *st = ctx;
    pthread_mutex_lock(&st->mu);
    st->reader_gone = 1;
    int running = !st->closed;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (running)
        sess_cancel_fire(st->cancel);
    stream_unref(st);
}

/* ---------- the handler ---------- */

static int start_producer(run_stream *st)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &a, producer, st);
    pthread_attr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

int svc_h_run_stream(svc_req *r)
{
    const char *code = NULL;
    int timeout_s = 0, stopping = 0;
    sess_error e;
    if (svc_body_string(r, "code", &code) != 0 ||
        svc_body_timeout(r, &timeout_s) != 0)
        return r->status;
    /* Errors known before the first byte get a plain status (404 when
     * there is no session); later ones become an `error` event. */
    if (sess_active(r->app->mgr, r->user, NULL, &e) != SESS_OK)
        return svc_reply_sess_error(r, &e);
    run_stream *st = stream_new(r, code, timeout_s, &stopping);
    if (!st)
        return stopping ? svc_reply_error(r, 503, "The service is shutting down")
                        : svc_reply_error(r, 500, "An unexpected error occurred.");
    /* An opening comment: the client sees the response (headers and all)
     * at once, not only with the first output. */
    if (buf_adds(&st->out, ": run started\n\n") != BUF_OK || start_producer(st) != 0) {
        stream_unref(st);
        stream_unref(st);
        return svc_reply_error(r, 500, "An unexpected error occurred.");
    }
    svc_reply_header(r, "Cache-Control", "no-cache");
    svc_reply_header(r, "X-Accel-Buffering", "no");
    return svc_reply_stream(r, 200, "text/event-stream; charset=utf-8",
                            sse_produce, st, reader_release);
}
