/*
 * test_net.h - the small socket and process helpers the integration tests
 * share (raw HTTP and WebSocket exchanges with the emulator, /proc walks).
 */
#ifndef TESTS_TEST_NET_H
#define TESTS_TEST_NET_H

#include <stddef.h>

/* A TCP connection to 127.0.0.1:port, or -1.  timeout_s > 0 sets the send
 * and receive timeouts; rcvbuf > 0 the receive buffer (set before the
 * connect, so the window is small from the start). */
int tn_connect(unsigned port, int timeout_s, int rcvbuf);
/* Sends all n bytes (no SIGPIPE); 0, or -1 on error or a closed peer. */
int tn_send_all(int fd, const void *p, size_t n);
/* The parent pid of pid from /proc, or -1. */
long tn_ppid(long pid);
/* How many live (non-zombie) processes whose argv is exactly argv0 argv1
 * descend from process `root` (-1 when /proc cannot be read). */
int tn_count_procs(long root, const char *argv0, const char *argv1);
/* Polls tn_count_procs every 50 ms until it gives want or timeout_ms has
 * passed; returns the last count. */
int tn_wait_procs(long root, const char *argv0, const char *argv1, int want,
                  int timeout_ms);
/* Sleeps ms milliseconds (resumed after signals). */
void tn_sleep_ms(long ms);
/* The value of header `name` (case-insensitive) among CRLF-separated
 * header lines: the first value is copied into out, and the number of
 * times the header occurs returned (out is untouched when it is 0). */
int tn_header_value(const char *lines, const char *name, char *out, size_t n);

#endif
