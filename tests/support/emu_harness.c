/*
 * emu_harness.c - see emu_harness.h.
 */
#include "emu_harness.h"
#include "test_net.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int emu_start(emu_proc *e, const char *data_dir, const char *const *extra)
{
    memset(e, 0, sizeof *e);
    const char *bin = getenv("EMU_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "emu_harness: EMU_BIN is not set\n");
        return -1;
    }
    if (!data_dir) {
        char tmpl[] = "/tmp/emu-test-XXXXXX";
        if (!mkdtemp(tmpl))
            return -1;
        snprintf(e->data_dir, sizeof e->data_dir, "%s", tmpl);
        e->owns_dir = 1;
    } else if (strcmp(data_dir, ":memory:") != 0) {
        snprintf(e->data_dir, sizeof e->data_dir, "%s", data_dir);
    }
    snprintf(e->port_file, sizeof e->port_file, "/tmp/emu-port-%d-%ld-%d",
             (int)getpid(), (long)time(NULL), rand());
    unlink(e->port_file);

    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = e->port_file;
    argv[n++] = "--data-dir";
    argv[n++] = e->data_dir[0] ? e->data_dir : ":memory:";
    argv[n++] = "--log-level";
    argv[n++] = getenv("EMU_LOG_LEVEL") ? getenv("EMU_LOG_LEVEL") : "warn";
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* The emulator must not outlive its test: an orphan would also
         * hold ctest's output pipe open and hang the run. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    e->pid = pid;
    for (int i = 0; i < 1000; i++) {        /* up to 10 s */
        FILE *f = fopen(e->port_file, "r");
        if (f) {
            unsigned p = 0;
            int ok = fscanf(f, "%u", &p) == 1;
            fclose(f);
            if (ok && p) {
                e->port = p;
                snprintf(e->base, sizeof e->base, "http://127.0.0.1:%u", p);
                return 0;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            e->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    emu_kill9(e);
    return -1;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void emu_cleanup_dir(emu_proc *e)
{
    if (e->owns_dir && e->data_dir[0])
        nftw(e->data_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    e->owns_dir = 0;
}

static int stop_common(emu_proc *e)
{
    int status = -1;
    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
            int st;
            pid_t r = waitpid(e->pid, &st, WNOHANG);
            if (r == e->pid) {
                status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            sleep_ms(10);
        }
        if (status == -1) {
            kill(e->pid, SIGKILL);
            waitpid(e->pid, NULL, 0);
        }
        e->pid = 0;
    }
    unlink(e->port_file);
    return status;
}

int emu_stop(emu_proc *e)
{
    int st = stop_common(e);
    emu_cleanup_dir(e);
    return st;
}

int emu_stop_keep(emu_proc *e)
{
    return stop_common(e);
}

void emu_kill9(emu_proc *e)
{
    if (e->pid > 0) {
        kill(e->pid, SIGKILL);
        while (waitpid(e->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        e->pid = 0;
    }
    unlink(e->port_file);
}

size_t http_sink_write(char *data, size_t sz, size_t nm, void *ud)
{
    http_sink *g = ud;
    size_t n = sz * nm;
    if (g->len + n + 1 > g->cap) {
        size_t nc = (g->len + n + 1) * 2;
        char *np = realloc(g->p, nc);
        if (!np)
            return 0;
        g->p = np;
        g->cap = nc;
    }
    memcpy(g->p + g->len, data, n);
    g->len += n;
    g->p[g->len] = '\0';
    return n;
}

http_resp http_do(const emu_proc *e, const char *method, const char *path,
                  const char *token, const char *const *extra_headers,
                  const char *body, long body_len)
{
    http_resp r;
    memset(&r, 0, sizeof r);
    http_sink b = {0}, h = {0};
    char url[4096], auth[4200];
    snprintf(url, sizeof url, "%s%s", e->base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    int has_ct = 0;
    if (!c)
        goto done;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    for (int i = 0; extra_headers && extra_headers[i]; i++) {
        if (strncasecmp(extra_headers[i], "Content-Type:", 13) == 0)
            has_ct = 1;
        hl = curl_slist_append(hl, extra_headers[i]);
    }
    if (body && !has_ct)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_sink_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body_len < 0 ? (long)strlen(body) : body_len));
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
done:
    curl_slist_free_all(hl);
    if (c)
        curl_easy_cleanup(c);
    r.body = b.p ? b.p : calloc(1, 1);
    r.body_len = b.len;
    r.headers = h.p ? h.p : calloc(1, 1);
    r.json = r.body_len ? cJSON_Parse(r.body) : NULL;
    return r;
}

void http_resp_free(http_resp *r)
{
    free(r->body);
    free(r->headers);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

const char *resp_str(const http_resp *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double resp_num(const http_resp *r, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int resp_header(const http_resp *r, const char *name, char *out, size_t n)
{
    return tn_header_value(r->headers, name, out, n) > 0 ? 0 : -1;
}
