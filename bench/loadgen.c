/*
 * loadgen.c - a small closed-loop HTTP/1.1 keep-alive load generator (what
 * wrk does, without the dependency): `conns` connections, each sending the
 * next GET as soon as the previous answer is complete, spread over
 * `threads` epoll loops.  Latency is measured per request from the write
 * to the last byte of the answer.  Answers must carry Content-Length (the
 * emulator and Prism both send it); anything else counts as an error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "bench.h"

#define RBUF 65536

typedef struct {
    int fd;
    int64_t sent_ns;
    size_t rlen;
    char rbuf[RBUF];
} conn;

typedef struct {
    const lg_opts *o;
    const char *req;
    size_t req_len;
    int nconn;
    int64_t start_ns, end_ns;   /* the measured window */
    long requests, errors;
    samples lat;
} worker;

static int conn_open(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int conn_send(worker *w, conn *c)
{
    c->sent_ns = bench_now_ns();
    c->rlen = 0;
    size_t off = 0;
    while (off < w->req_len) {
        ssize_t n = write(c->fd, w->req + off, w->req_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* 1 = a whole answer is in rbuf (status in *st), 0 = need more, -1 = bad. */
static int answer_complete(conn *c, int *st, int *close_after)
{
    c->rbuf[c->rlen < RBUF ? c->rlen : RBUF - 1] = '\0';
    char *hdr_end = strstr(c->rbuf, "\r\n\r\n");
    if (!hdr_end)
        return c->rlen >= RBUF - 1 ? -1 : 0;
    if (sscanf(c->rbuf, "HTTP/1.%*d %d", st) != 1)
        return -1;
    long clen = -1;
    *close_after = 0;
    for (char *l = strstr(c->rbuf, "\r\n"); l && l < hdr_end; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
            clen = strtol(l + 17, NULL, 10);
        else if (strncasecmp(l + 2, "Connection: close", 17) == 0)
            *close_after = 1;
    }
    if (clen < 0)
        return -1;
    size_t need = (size_t)(hdr_end + 4 - c->rbuf) + (size_t)clen;
    if (need >= RBUF)
        return -1;
    return c->rlen >= need;
}

static int conn_reopen(worker *w, int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = conn_open(w->o->port);
    if (c->fd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return conn_send(w, c);
}

/* Reads what is there; on a whole answer records it and sends the next. */
static void conn_readable(worker *w, int ep, conn *c)
{
    ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen);
    int64_t now = bench_now_ns();
    if (n <= 0) {
        if (n < 0 && errno == EINTR)
            return;
        if (now >= w->start_ns && now < w->end_ns)
            w->errors++;
        conn_reopen(w, ep, c);
        return;
    }
    c->rlen += (size_t)n;
    int st = 0, close_after = 0;
    int done = answer_complete(c, &st, &close_after);
    if (done == 0)
        return;
    if (c->sent_ns >= w->start_ns && now < w->end_ns) {
        if (done < 0 || st < 200 || st > 299) {
            w->errors++;
        } else {
            w->requests++;
            samples_add(&w->lat, (double)(now - c->sent_ns) / 1e6);
        }
    }
    if (now >= w->end_ns)
        return;  /* this connection is done */
    if (done < 0 || close_after)
        conn_reopen(w, ep, c);
    else
        conn_send(w, c);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    conn *cs = calloc((size_t)w->nconn, sizeof *cs);
    if (ep < 0 || !cs)
        goto out;
    for (int i = 0; i < w->nconn; i++) {
        cs[i].fd = conn_open(w->o->port);
        if (cs[i].fd < 0) {
            w->errors++;
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        conn_send(w, &cs[i]);
    }
    struct epoll_event evs[64];
    /* Runs until the window closed and a grace for in-flight answers. */
    while (bench_now_ns() < w->end_ns) {
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++)
            conn_readable(w, ep, evs[i].data.ptr);
    }
out:
    for (int i = 0; cs && i < w->nconn; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    if (ep >= 0)
        close(ep);
    return NULL;
}

int loadgen_run(const lg_opts *o, lg_result *res)
{
    memset(res, 0, sizeof *res);
    char req[1024];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s"
                       "Accept: application/json\r\n\r\n",
                       o->path, o->auth ? "Authorization: Bearer " : "",
                       o->auth ? o->auth : "", o->auth ? "\r\n" : "");
    if (len < 0 || (size_t)len >= sizeof req || o->threads < 1 || o->conns < 1)
        return -1;
    int nt = o->threads > o->conns ? o->conns : o->threads;
    worker *ws = calloc((size_t)nt, sizeof *ws);
    pthread_t *tids = calloc((size_t)nt, sizeof *tids);
    if (!ws || !tids) {
        free(ws);
        free(tids);
        return -1;
    }
    int64_t start = bench_now_ns() + o->warmup_ms * 1000000LL;
    for (int i = 0; i < nt; i++) {
        ws[i] = (worker){.o = o, .req = req, .req_len = (size_t)len,
                         .nconn = o->conns / nt + (i < o->conns % nt),
                         .start_ns = start,
                         .end_ns = start + o->duration_ms * 1000000LL};
        samples_init(&ws[i].lat);
        pthread_create(&tids[i], NULL, worker_main, &ws[i]);
    }
    samples_init(&res->lat_ms);
    for (int i = 0; i < nt; i++) {
        pthread_join(tids[i], NULL);
        res->requests += ws[i].requests;
        res->errors += ws[i].errors;
        samples_merge(&res->lat_ms, &ws[i].lat);
        samples_release(&ws[i].lat);
    }
    res->rps = (double)res->requests / ((double)o->duration_ms / 1000.0);
    free(ws);
    free(tids);
    return 0;
}
