/*
 * emu_harness.h - starts the real daytona-emu binary for integration tests
 * and talks HTTP to it with libcurl.
 *
 * The binary is $EMU_BIN (set by ctest), started with --port 0 --port-file
 * so every test gets a free port; the harness waits for the port file.
 * Each started emulator is stopped (SIGTERM, then SIGKILL after 5 s) by
 * emu_stop(); a test may also emu_kill9() it to simulate a crash.
 */
#ifndef TESTS_EMU_HARNESS_H
#define TESTS_EMU_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct {
    pid_t pid;
    unsigned port;
    char data_dir[512];     /* "" when in memory */
    char port_file[600];
    char base[64];          /* "http://127.0.0.1:PORT" */
    int owns_dir;           /* data_dir was made by the harness */
} emu_proc;

/*
 * Starts an emulator.  data_dir NULL = a fresh temporary directory owned by
 * the harness (removed by emu_stop unless keep_dir); ":memory:" = in
 * memory; otherwise that directory.  extra_args: NULL-terminated list of
 * more arguments (e.g. {"--api-key","k1",NULL}), may be NULL.
 * Returns 0, or -1 if the binary did not come up within 10 s.
 */
int emu_start(emu_proc *e, const char *data_dir, const char *const *extra_args);
/* Graceful stop; returns the exit status (0 expected), or -1. */
int emu_stop(emu_proc *e);
/* Same but keeps a harness-made data directory (for restarts). */
int emu_stop_keep(emu_proc *e);
/* SIGKILL, reaped. */
void emu_kill9(emu_proc *e);
/* Removes the harness-made data directory, if any. */
void emu_cleanup_dir(emu_proc *e);

typedef struct {
    long status;            /* 0 when the connection failed */
    char *body;             /* NUL-terminated, never NULL after http_do */
    size_t body_len;
    char *headers;          /* raw response header block */
    cJSON *json;            /* parsed body, or NULL */
} http_resp;

/*
 * One request.  method "GET"/"POST"/…; path is appended to e->base (so
 * "/api/sandbox?limit=1").  token non-NULL adds "Authorization: Bearer".
 * extra_headers: NULL-terminated list of "Name: value" lines, may be NULL.
 * body may be NULL (no body); body_len < 0 means strlen(body).  A non-NULL
 * body gets Content-Type: application/json unless extra_headers sets one.
 * Returns the response (free with http_resp_free); status 0 on failure.
 */
http_resp http_do(const emu_proc *e, const char *method, const char *path,
                  const char *token, const char *const *extra_headers,
                  const char *body, long body_len);
void http_resp_free(http_resp *r);

/* A growing, NUL-terminated byte sink for libcurl's write and header
 * callbacks: start it zeroed, hand it to http_sink_write, free(p) after. */
typedef struct {
    char *p;                /* NULL until the first byte */
    size_t len, cap;
} http_sink;
/* A CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION appending to the
 * http_sink ud; returns sz * nm, or 0 (which aborts the transfer) when out of
 * memory. */
size_t http_sink_write(char *data, size_t sz, size_t nm, void *ud);

/* Convenience: JSON field lookups on a response (NULL/-1 when absent). */
const char *resp_str(const http_resp *r, const char *key);
double resp_num(const http_resp *r, const char *key, double dflt);
/* The value of a response header (case-insensitive name) copied into out;
 * returns 0 if found. */
int resp_header(const http_resp *r, const char *name, char *out, size_t n);

#endif
