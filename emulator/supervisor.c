/*
 * supervisor.c - see supervisor.h.
 *
 * Wire format (SOCK_SEQPACKET, one request or reply per packet):
 *   request  : u32 type, i32 a, i32 b, u32 nargv, u32 nenv, then the argv
 *              and envp strings, each NUL-terminated; SPAWN carries three
 *              fds as SCM_RIGHTS.
 *   reply    : i32 result (pid or -errno).
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { REQ_SPAWN = 1, REQ_KILL = 2 };

#define MAX_PACKET (256 * 1024)
#define MAX_STRINGS 4096
#define MAX_CHILDREN 65536

typedef struct {
    uint32_t type;
    int32_t a, b;
    uint32_t nargv, nenv;
} req_hdr;

struct emu_supervisor {
    int fd;
    pid_t pid;
    pthread_mutex_t mu;
};

/* ---------- the supervisor process ---------- */

static pid_t *children;
static size_t nchildren;

static void child_add(pid_t p)
{
    if (nchildren < MAX_CHILDREN)
        children[nchildren++] = p;
}

static int child_known(pid_t p)
{
    for (size_t i = 0; i < nchildren; i++)
        if (children[i] == p)
            return 1;
    return 0;
}

static void reap(void)
{
    int st;
    pid_t r;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < nchildren; i++) {
            if (children[i] == r) {
                children[i] = children[--nchildren];
                break;
            }
        }
    }
}

static void send_result(int sock, int32_t v)
{
    while (send(sock, &v, sizeof v, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* In the freshly forked launcher child: only async-signal-safe calls. */
static void exec_child(char **argv, char **envp, const int fds[3], int errpipe)
{
    /* Move the three fds out of the way first, then into place, so a source
     * fd numbered 0..3 is not clobbered. */
    int tmp[3];
    for (int i = 0; i < 3; i++) {
        tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        if (tmp[i] < 0)
            goto fail;
    }
    if (dup2(tmp[0], 0) < 0 || dup2(tmp[1], 1) < 0 || dup2(tmp[1], 2) < 0 ||
        dup2(tmp[2], 3) < 0)
        goto fail;
    /* Everything else is close-on-exec or closed here: close_range is two
     * system calls where the loop is a thousand (a measurable part of every
     * command's latency, bench 3); the loop stays for kernels before 5.9. */
    if ((errpipe > 4 && close_range(4, (unsigned)errpipe - 1, 0) != 0) ||
        close_range(errpipe >= 4 ? (unsigned)errpipe + 1 : 4, ~0U, 0) != 0)
        for (int fd = 4; fd < 1024; fd++)
            if (fd != errpipe)
                close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Ignored signals stay ignored across execve, and ours are (SIGTERM,
     * SIGINT, SIGPIPE here; SIGINT and SIGQUIT too when the emulator was
     * started with `&` from a script).  Left so, a SIGTERM landing before
     * the launcher installs its handler was lost (a session deleted right
     * after its creation waited 5 s), and programs in sandboxes ignored
     * Ctrl-C.  Everything starts at its default. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    execve(argv[0], argv, envp);
fail:;
    int e = errno;
    while (write(errpipe, &e, sizeof e) < 0 && errno == EINTR)
        ;
    _exit(127);
}

static int32_t do_spawn(char *payload, size_t len, const req_hdr *h,
                        const int fds[3])
{
    if (h->nargv == 0 || h->nargv > MAX_STRINGS || h->nenv > MAX_STRINGS)
        return -EINVAL;
    char **argv = calloc(h->nargv + 1, sizeof *argv);
    char **envp = calloc(h->nenv + 1, sizeof *envp);
    int32_t res = -ENOMEM;
    int ep[2] = {-1, -1};
    if (!argv || !envp)
        goto cleanup;
    size_t off = 0;
    res = -EINVAL;
    for (uint32_t i = 0; i < h->nargv + h->nenv; i++) {
        if (off >= len)
            goto cleanup;
        char *s = payload + off;
        size_t sl = strnlen(s, len - off);
        if (sl == len - off)
            goto cleanup;
        if (i < h->nargv)
            argv[i] = s;
        else
            envp[i - h->nargv] = s;
        off += sl + 1;
    }
    if (pipe2(ep, O_CLOEXEC) != 0) {
        res = -errno;
        goto cleanup;
    }
    pid_t p = fork();
    if (p < 0) {
        res = -errno;
        goto cleanup;
    }
    if (p == 0)
        exec_child(argv, envp, fds, ep[1]);
    close(ep[1]);
    ep[1] = -1;
    int e = 0;
    ssize_t n;
    while ((n = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof e) {           /* exec failed */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        res = -e;
    } else {
        child_add(p);
        res = p;
    }
cleanup:
    if (ep[0] >= 0)
        close(ep[0]);
    if (ep[1] >= 0)
        close(ep[1]);
    free(argv);
    free(envp);
    return res;
}

static void shutdown_children(void)
{
    reap();
    for (size_t i = 0; i < nchildren; i++)
        kill(children[i], SIGTERM);
    /* Launchers sweep their trees on SIGTERM; give them a moment. */
    for (int t = 0; t < 300 && nchildren > 0; t++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        reap();
    }
    for (size_t i = 0; i < nchildren; i++)
        kill(children[i], SIGKILL);
    while (nchildren > 0) {
        int st;
        pid_t r = waitpid(-1, &st, 0);
        if (r < 0 && errno != EINTR)
            break;
        reap();
    }
}

static void supervisor_main(int sock)
{
    prctl(PR_SET_NAME, "daytona-emu-sup");
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the main thread lives as long as
                                           the emulator does */
    children = calloc(MAX_CHILDREN, sizeof *children);
    char *payload = malloc(MAX_PACKET);
    if (!children || !payload)
        _exit(1);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_IGN);   /* the emulator's own SIGTERM handling ends
                                   us through the socket */
    signal(SIGINT, SIG_IGN);
    for (;;) {
        struct pollfd pfd = {sock, POLLIN, 0};
        int pr = poll(&pfd, 1, 200);
        reap();
        if (pr == 0)
            continue;
        if (pr < 0 && errno == EINTR)
            continue;
        req_hdr h;
        char cbuf[CMSG_SPACE(3 * sizeof(int))];
        struct iovec iov[2] = {{&h, sizeof h}, {payload, MAX_PACKET}};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;                          /* the emulator is gone */
        int fds[3] = {-1, -1, -1}, nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                memcpy(fds, CMSG_DATA(c), (size_t)(nfds > 3 ? 3 : nfds) * sizeof(int));
            }
        }
        int32_t res = -EINVAL;
        if ((size_t)n >= sizeof h) {
            if (h.type == REQ_SPAWN && nfds == 3 && !(m.msg_flags & MSG_TRUNC))
                res = do_spawn(payload, (size_t)n - sizeof h, &h, fds);
            else if (h.type == REQ_KILL)
                res = child_known(h.a) ? (kill(h.a, h.b) == 0 ? 0 : -errno)
                                       : -ESRCH;
        }
        for (int i = 0; i < 3 && i < nfds; i++)
            close(fds[i]);
        send_result(sock, res);
    }
    shutdown_children();
    _exit(0);
}

/* ---------- the emulator side ---------- */

emu_supervisor *supervisor_start(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return NULL;
    int size = MAX_PACKET + 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    emu_supervisor *s = calloc(1, sizeof *s);
    if (!s) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    pid_t p = fork();
    if (p < 0) {
        close(sv[0]);
        close(sv[1]);
        free(s);
        return NULL;
    }
    if (p == 0) {
        /* The parent's handle means nothing in the supervisor. */
        free(s);
        close(sv[0]);
        supervisor_main(sv[1]);
    }
    close(sv[1]);
    s->fd = sv[0];
    s->pid = p;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void supervisor_stop(emu_supervisor *s)
{
    if (!s)
        return;
    close(s->fd);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int32_t roundtrip(emu_supervisor *s, struct msghdr *m)
{
    int32_t res = -EIO;
    pthread_mutex_lock(&s->mu);
    ssize_t n;
    while ((n = sendmsg(s->fd, m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n >= 0) {
        while ((n = recv(s->fd, &res, sizeof res, 0)) < 0 && errno == EINTR)
            ;
        if (n != (ssize_t)sizeof res)
            res = -EIO;
    } else {
        res = -errno;
    }
    pthread_mutex_unlock(&s->mu);
    return res;
}

pid_t supervisor_spawn(emu_supervisor *s, char *const argv[],
                       char *const envp[], int fd_in, int fd_out,
                       int fd_status)
{
    req_hdr h = {REQ_SPAWN, 0, 0, 0, 0};
    size_t len = 0;
    for (; argv[h.nargv]; h.nargv++)
        len += strlen(argv[h.nargv]) + 1;
    for (; envp[h.nenv]; h.nenv++)
        len += strlen(envp[h.nenv]) + 1;
    if (len > MAX_PACKET || h.nargv > MAX_STRINGS || h.nenv > MAX_STRINGS)
        return -E2BIG;
    char *payload = malloc(len ? len : 1);
    if (!payload)
        return -ENOMEM;
    size_t off = 0;
    for (uint32_t i = 0; i < h.nargv; i++) {
        size_t l = strlen(argv[i]) + 1;
        memcpy(payload + off, argv[i], l);
        off += l;
    }
    for (uint32_t i = 0; i < h.nenv; i++) {
        size_t l = strlen(envp[i]) + 1;
        memcpy(payload + off, envp[i], l);
        off += l;
    }
    int fds[3] = {fd_in, fd_out, fd_status};
    char cbuf[CMSG_SPACE(sizeof fds)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov[2] = {{&h, sizeof h}, {payload, len}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    int32_t res = roundtrip(s, &m);
    free(payload);
    return res;
}

int supervisor_kill(emu_supervisor *s, pid_t pid, int sig)
{
    req_hdr h = {REQ_KILL, pid, sig, 0, 0};
    struct iovec iov = {&h, sizeof h};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return roundtrip(s, &m);
}
