/*
 * dt-compare - compares two directories of exchanges recorded by
 * `daytona-emu --upstream URL --record DIR` (e.g. the contract suite run
 * against the emulator and against the cloud) and prints the differences
 * in status codes, the headers that matter and JSON shapes, one a line
 * (compare.h says what is compared and how lines read).
 *
 * Exit status: 0 the recordings agree, 1 they differ, 2 usage or I/O
 * error.
 */
#include <stdio.h>
#include <string.h>

#include "compare.h"

static void usage(FILE *f)
{
    fputs("Usage: dt-compare [--no-collapse] [-q] DIR_A DIR_B\n"
          "Compares two recordings of Daytona exchanges (daytona-emu --record).\n"
          "Exchanges pair by (method, normalized path, sequence); for each pair\n"
          "the status, content-type, content-disposition and the response JSON\n"
          "shape (keys and value types) are compared.\n"
          "  --no-collapse  count every poll (by default a run of consecutive\n"
          "                 equal GETs of one path counts once)\n"
          "  -q             print nothing, only set the exit status\n"
          "Exit: 0 equal, 1 different, 2 error.  See docs/CONTRACT.md.\n", f);
}

static void print_line(void *ctx, const char *line)
{
    if (!*(int *)ctx)
        printf("%s\n", line);
}

int main(int argc, char **argv)
{
    dtc_opts o = {1};
    int quiet = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--no-collapse") == 0) {
            o.collapse = 0;
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "dt-compare: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (argc - i != 2) {
        usage(stderr);
        return 2;
    }
    dtc_rec *a = NULL, *b = NULL;
    char err[4200];
    if (dtc_load(argv[i], &a, err, sizeof err) != 0 ||
        dtc_load(argv[i + 1], &b, err, sizeof err) != 0) {
        fprintf(stderr, "dt-compare: %s\n", err);
        dtc_free(a);
        return 2;
    }
    size_t n = dtc_compare(a, b, &o, print_line, &quiet);
    int rc = n == 0 ? 0 : 1;
    if (n == (size_t)-1) {
        fprintf(stderr, "dt-compare: out of memory\n");
        rc = 2;
    } else if (!quiet) {
        fprintf(stderr, "dt-compare: %zu difference(s); %zu and %zu exchanges "
                "recorded\n", n, dtc_count(a), dtc_count(b));
    }
    dtc_free(a);
    dtc_free(b);
    return rc;
}
