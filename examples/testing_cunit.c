/*
 * testing_cunit.c - testing your own Daytona code with CUnit and a private
 * daytona-emu (<daytona/testing.h>).
 *
 * The code under test is a small "workspace" module an application might
 * have: it gives each user one labelled sandbox, reuses it, and starts it
 * again when Daytona auto-stopped it.  The fixture is the usual one:
 *
 *   suite init     dt_emu_start + dt_emu_client   (one emulator per suite)
 *   test setup     dt_emu_reset                   (each test starts empty)
 *   suite cleanup  dt_client_free + dt_emu_free   (stops it, removes files)
 *
 * and the tests use the emulator's controls where the real Daytona has
 * none: injected faults (what does my code do when Daytona answers 500?),
 * the clock (what happens after 15 idle minutes?) and the journal (how
 * many requests did my code make?).
 *
 * Build: cc testing_cunit.c $(pkg-config --cflags --libs libdaytona cunit)
 * Run:   DAYTONA_EMU_BIN=/path/to/daytona-emu ./a.out   (or daytona-emu on PATH)
 * Exits 0 when every test passed.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <daytona/daytona.h>
#include <daytona/testing.h>

/* ------------------------------------------------------------------ */
/* The code under test                                                */
/* ------------------------------------------------------------------ */

/* The user's sandbox, started: found by its label, else created.  A
 * sandbox Daytona stopped (auto-stop) is started again. */
static dt_code workspace_open(dt_client *c, const char *user, dt_sandbox **out,
                              dt_error *err)
{
    dt_kv label = {"workspace-user", user};
    dt_sandbox *sb = NULL;
    dt_code rc = dt_find_one(c, NULL, &label, 1, &sb, err);
    if (rc == DT_ENOTFOUND) {
        dt_create_params p;
        dt_create_params_init(&p);
        p.labels = &label;
        p.n_labels = 1;
        p.auto_stop_interval = 15;
        rc = dt_create(c, &p, &sb, err);
    }
    if (rc != DT_OK)
        return rc;
    if (strcmp(dt_sandbox_state(sb), "started") != 0 &&
        (rc = dt_sandbox_start(sb, 0, err)) != DT_OK) {
        dt_sandbox_free(sb);
        return rc;
    }
    *out = sb;
    return DT_OK;
}

/* ------------------------------------------------------------------ */
/* The fixture                                                        */
/* ------------------------------------------------------------------ */

static dt_emu *emu;
static dt_client *client;

static int suite_init(void)
{
    dt_error err;
    /* The emulator program: $DAYTONA_EMU_BIN, else daytona-emu on PATH. */
    if (dt_emu_start(NULL, &emu, &err) != DT_OK) {
        fprintf(stderr, "cannot start daytona-emu: %s\n", err.message);
        return 1;
    }
    if (dt_emu_client(emu, &client, &err) != DT_OK) {
        fprintf(stderr, "client: %s\n", err.message);
        return 1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    dt_client_free(client);
    dt_emu_free(emu);
    return 0;
}

static void test_setup(void)
{
    dt_error err;
    if (dt_emu_reset(emu, &err) != DT_OK)
        fprintf(stderr, "reset: %s\n", err.message);
}

/* ------------------------------------------------------------------ */
/* The tests                                                          */
/* ------------------------------------------------------------------ */

/* A new user gets a started sandbox with their label. */
static void test_creates_workspace(void)
{
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL_FATAL(workspace_open(client, "ada", &sb, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "started");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_label(sb, "workspace-user"), "ada");
    dt_sandbox_free(sb);
}

/* Opening twice reuses the sandbox: one create request in the journal. */
static void test_reuses_workspace(void)
{
    dt_sandbox *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(workspace_open(client, "ada", &a, NULL), DT_OK);
    CU_ASSERT_EQUAL_FATAL(workspace_open(client, "ada", &b, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(a), dt_sandbox_id(b));
    dt_emu_request *reqs = NULL;
    size_t n = 0, creates = 0;
    CU_ASSERT_EQUAL(dt_emu_journal(emu, 0, 0, &reqs, &n, NULL), DT_OK);
    for (size_t i = 0; i < n; i++)
        if (strcmp(reqs[i].method, "POST") == 0 && strcmp(reqs[i].path, "/api/sandbox") == 0)
            creates++;
    CU_ASSERT_EQUAL(creates, 1);
    dt_emu_journal_free(reqs, n);
    dt_sandbox_free(a);
    dt_sandbox_free(b);
}

/* Daytona failing the create is reported with its status and message. */
static void test_create_failure_reported(void)
{
    dt_emu_fault f;
    dt_emu_fault_init(&f);
    f.method = "POST";
    f.path = "/api/sandbox";
    f.status = 500;
    f.message = "no runner available";
    CU_ASSERT_EQUAL_FATAL(dt_emu_fault_add(emu, &f, NULL, NULL), DT_OK);
    dt_sandbox *sb = NULL;
    dt_error err;
    CU_ASSERT_EQUAL(workspace_open(client, "grace", &sb, &err), DT_ESERVER);
    CU_ASSERT_EQUAL(err.status, 500);
    CU_ASSERT_STRING_EQUAL(err.message, "no runner available");
    CU_ASSERT_PTR_NULL(sb);
}

/* After 20 idle minutes Daytona has stopped the sandbox; opening the
 * workspace starts it again. */
static void test_restarts_after_auto_stop(void)
{
    dt_sandbox *sb = NULL;
    CU_ASSERT_EQUAL_FATAL(workspace_open(client, "ada", &sb, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_emu_advance_clock(emu, 20 * 60 * 1000LL, NULL), DT_OK);
    CU_ASSERT_EQUAL(dt_sandbox_refresh(sb, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(sb), "stopped");
    dt_sandbox *again = NULL;
    CU_ASSERT_EQUAL_FATAL(workspace_open(client, "ada", &again, NULL), DT_OK);
    CU_ASSERT_STRING_EQUAL(dt_sandbox_state(again), "started");
    CU_ASSERT_STRING_EQUAL(dt_sandbox_id(again), dt_sandbox_id(sb));
    dt_sandbox_free(again);
    dt_sandbox_free(sb);
}

int main(void)
{
    if (dt_global_init() != DT_OK || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite_with_setup_and_teardown(
        "workspace", suite_init, suite_cleanup, test_setup, NULL);
    CU_add_test(s, "creates a labelled, started sandbox", test_creates_workspace);
    CU_add_test(s, "reuses it (one create request)", test_reuses_workspace);
    CU_add_test(s, "reports Daytona's 500", test_create_failure_reported);
    CU_add_test(s, "restarts it after auto-stop", test_restarts_after_auto_stop);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    /* CUnit 2.1-3 returns success even when tests failed, and cleanup
     * resets the counts: read them first. */
    unsigned failed = CU_get_number_of_tests_failed() +
                      CU_get_number_of_suites_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    dt_global_cleanup();
    return failed == 0 && run > 0 ? 0 : 1;
}
