/*
 * test_net.c - see test_net.h.
 */
#include "test_net.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

int tn_connect(unsigned port, int timeout_s, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (timeout_s > 0) {
        struct timeval tv = {timeout_s, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tn_send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

long tn_ppid(long pid)
{
    char p[64], b[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    size_t n = fread(b, 1, sizeof b - 1, f);
    fclose(f);
    b[n] = '\0';
    /* The name (field 2) may hold spaces and parentheses: skip to the
     * last ')'. */
    const char *rp = strrchr(b, ')');
    long pp = -1;
    char st;
    if (!rp || sscanf(rp + 1, " %c %ld", &st, &pp) != 2)
        return -1;
    return pp;
}

int tn_count_procs(long root, const char *argv0, const char *argv1)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        long pid = atol(de->d_name);
        char p[64], cl[256];
        snprintf(p, sizeof p, "/proc/%ld/cmdline", pid);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t len = fread(cl, 1, sizeof cl - 1, f);
        fclose(f);
        cl[len] = '\0';
        size_t l0 = strlen(argv0);
        if (len != l0 + strlen(argv1) + 2 || strcmp(cl, argv0) != 0 ||
            strcmp(cl + l0 + 1, argv1) != 0)
            continue;
        /* zombies have an empty cmdline, so this one is alive; ancestry: */
        long cur = pid;
        for (int hops = 0; cur > 1 && hops < 64; hops++) {
            cur = tn_ppid(cur);
            if (cur == root) {
                n++;
                break;
            }
        }
    }
    closedir(d);
    return n;
}

int tn_wait_procs(long root, const char *argv0, const char *argv1, int want,
                  int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    int n;
    while ((n = tn_count_procs(root, argv0, argv1)) != want && time_mono_ms() < end)
        tn_sleep_ms(50);
    return n;
}

void tn_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int tn_header_value(const char *lines, const char *name, char *out, size_t n)
{
    int count = 0;
    size_t nl = strlen(name);
    for (const char *p = lines; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            if (!count++)
                snprintf(out, n, "%.*s", (int)(ll - (size_t)(v - p)), v);
        }
        p = eol ? eol + 2 : NULL;
    }
    return count;
}
