/*
 * client_harness.h - what the libdaytona integration programs
 * (tests/integration/test_client_*.c) share: the emulator started with one
 * API key and libdaytona's global state around it, clients pointed at it,
 * and the check that a call failed with a given code, status and message.
 *
 * Single-threaded setup: call ch_start/ch_stop from a suite's init and
 * cleanup (dt_global_init must run before any thread starts).
 */
#ifndef TESTS_CLIENT_HARNESS_H
#define TESTS_CLIENT_HARNESS_H

#include <stddef.h>

#include "daytona/daytona.h"
#include "emu_harness.h"

/*
 * dt_global_init, then an emulator (fresh data directory) started with
 * --api-key key; api receives "<base>/api", the api_url for clients.
 * 0, or -1 when either failed (call ch_stop anyway).
 */
int ch_start(emu_proc *e, char *api, size_t n, const char *key);
/* Stops the emulator and calls dt_global_cleanup. */
void ch_stop(emu_proc *e);

/* dt_config_init(cfg), then api_url = api and api_key = key (neither is
 * copied: both must outlive the client made from cfg). */
void ch_config(dt_config *cfg, const char *api, const char *key);
/* dt_client_new(cfg); on failure the error goes to stderr and NULL comes
 * back.  Free the client with dt_client_free. */
dt_client *ch_client(const dt_config *cfg);

/* A CUnit assertion, at the caller's file and line, that rc and *e say
 * code and status and that e's message contains text. */
void ch_check_err_at(dt_code rc, const dt_error *e, dt_code code, long status,
                     const char *text, const char *file, unsigned line);
#define CHECK_ERR(rc, e, code, status, text) \
    ch_check_err_at((rc), &(e), (code), (status), (text), __FILE__, __LINE__)

#endif
