/*
 * consumer.c - a program built against the *installed* libdaytona by
 * ci/install-check.sh, once through pkg-config and once through
 * find_package(Daytona).  It proves the installed headers, the generated
 * version.h and the shared library fit together: the compile-time version
 * must equal the run-time one, and a client without credentials must fail
 * with DT_ECONFIG (the script runs it with every DAYTONA_* variable unset).
 * Exits 0 when all holds, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <daytona/daytona.h>

int main(void)
{
    int bad = 0;
    printf("libdaytona %s (built against %s)\n", dt_version(), DT_VERSION_STRING);
    if (strcmp(dt_version(), DT_VERSION_STRING) != 0) {
        fprintf(stderr, "version mismatch: header %s, library %s\n",
                DT_VERSION_STRING, dt_version());
        bad = 1;
    }
    if (dt_version_num() != (unsigned)DT_VERSION_NUM) {
        fprintf(stderr, "version number mismatch: %#x vs %#x\n",
                (unsigned)DT_VERSION_NUM, dt_version_num());
        bad = 1;
    }
    if (dt_global_init() != DT_OK) {
        fprintf(stderr, "dt_global_init failed\n");
        return 1;
    }
    dt_client *c = NULL;
    dt_error err;
    memset(&err, 0, sizeof err);
    dt_code rc = dt_client_new(NULL, &c, &err);
    if (rc != DT_ECONFIG || c != NULL || err.code != DT_ECONFIG) {
        fprintf(stderr, "dt_client_new without credentials: got %d (%s), "
                "want DT_ECONFIG\n", (int)rc, dt_strerror(rc));
        bad = 1;
    } else {
        printf("no credentials: %s: %s\n", dt_strerror(rc), err.message);
    }
    dt_client_free(c);
    dt_global_cleanup();
    if (!bad)
        printf("consumer ok\n");
    return bad;
}
