/*
 * cu_run.h - the one way every CUnit test program ends.
 *
 * CUnit 2.1-3's CU_basic_run_tests() returns CUE_SUCCESS even when tests
 * fail, and CU_cleanup_registry() resets the failure counter, so the count
 * must be read in between.  Every test main() ends with
 *     return cu_run_and_cleanup();
 * and therefore exits non-zero exactly when a test (or a suite's
 * init/cleanup) failed.  A main that is only a table of tests hands it to
 * cu_run_table() or cu_run_suite(), which register it and end the same way.
 */
#ifndef TESTS_CU_RUN_H
#define TESTS_CU_RUN_H

#include <CUnit/Basic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static inline int cu_run_and_cleanup(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "no test was run\n");
        return 1;
    }
    return (failed != 0 || suites_failed != 0) ? 1 : 0;
}

/* One test of a table: the suite it belongs to, its name, its function. */
typedef struct {
    const char *suite;
    const char *name;
    CU_TestFunc fn;
} cu_test;

/* One test of a single-suite table. */
typedef struct {
    const char *name;
    CU_TestFunc fn;
} cu_case;

/*
 * The whole of a main() that registers a table and runs it: initializes
 * the registry, adds tests[0..n) (a new suite, with init and cleanup, each
 * time a row's suite differs from the row before; NULL for none) and
 * returns cu_run_and_cleanup().  1 when anything could not be registered.
 */
static inline int cu_run_table(const cu_test *tests, size_t n, CU_InitializeFunc init,
                               CU_CleanupFunc cleanup)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = NULL;
    const char *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!cur || strcmp(cur, tests[i].suite) != 0) {
            cur = tests[i].suite;
            if (!(s = CU_add_suite(cur, init, cleanup)))
                goto fail;
        }
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            goto fail;
    }
    return cu_run_and_cleanup();
fail:
    CU_cleanup_registry();
    return 1;
}

/* The same for one suite called `suite` holding cases[0..n). */
static inline int cu_run_suite(const char *suite, CU_InitializeFunc init,
                               CU_CleanupFunc cleanup, const cu_case *cases, size_t n)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite(suite, init, cleanup);
    for (size_t i = 0; s && i < n; i++)
        if (!CU_add_test(s, cases[i].name, cases[i].fn))
            s = NULL;
    if (!s) {
        CU_cleanup_registry();
        return 1;
    }
    return cu_run_and_cleanup();
}

#endif
