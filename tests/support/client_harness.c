/*
 * client_harness.c - see client_harness.h.
 */
#include "client_harness.h"

#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

int ch_start(emu_proc *e, char *api, size_t n, const char *key)
{
    const char *args[] = {"--api-key", key, NULL};
    if (dt_global_init() != DT_OK || emu_start(e, NULL, args) != 0)
        return -1;
    snprintf(api, n, "%s/api", e->base);
    return 0;
}

void ch_stop(emu_proc *e)
{
    emu_stop(e);
    dt_global_cleanup();
}

void ch_config(dt_config *cfg, const char *api, const char *key)
{
    dt_config_init(cfg);
    cfg->api_url = api;
    cfg->api_key = key;
}

dt_client *ch_client(const dt_config *cfg)
{
    dt_client *c = NULL;
    dt_error e;
    if (dt_client_new(cfg, &c, &e) != DT_OK)
        fprintf(stderr, "client: %s\n", e.message);
    return c;
}

void ch_check_err_at(dt_code rc, const dt_error *e, dt_code code, long status,
                     const char *text, const char *file, unsigned line)
{
    int ok = rc == code && e->code == code && e->status == status &&
             strstr(e->message, text) != NULL;
    if (!ok)
        fprintf(stderr, "\n  line %u: got %d/%d status %ld \"%s\"; want %d "
                "status %ld containing \"%s\"\n", line, rc, e->code, e->status,
                e->message, code, status, text);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, "error as expected",
                            file, "", CU_FALSE);
}
