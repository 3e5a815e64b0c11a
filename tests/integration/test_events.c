/*
 * test_events.c - the socket.io event channel at /api/socket.io/
 * (control-plane.md §11.1) against the real daytona-emu binary.
 *
 * The client side is tests/support/ws_client's: a TCP connection, the HTTP
 * upgrade request, the 101 answer checked header by header here (the
 * accept key is RFC 6455's own example), then common/ws.h's ws_conn in
 * client mode carrying engine.io v4 / socket.io v5 text packets.
 *
 * Suite "events": handshake, events for the caller's organization only
 * (user operations, the scheduler's auto-stop and deletes alike), refused
 * credentials, a plain GET without upgrade headers, and a clean SIGTERM
 * with sockets open or upgrades still being answered.
 */
#include <errno.h>
#include <arpa/inet.h>
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

#include <CUnit/Basic.h>
#include <curl/curl.h>

#include "buf.h"
#include "cu_run.h"
#include "emu_harness.h"
#include "test_net.h"
#include "timeutil.h"
#include "ws.h"
#include "ws_client.h"

#define K1 "k1"
#define K2 "k2"
#define MAX_MSG (1024 * 1024)

static const char *const keys_args[] = {"--api-key", K1, "--api-key", K2, NULL};

/* Opens a WebSocket to the event channel (see wsc_connect). */
static ws_conn *ws_open(unsigned port, char *head, size_t headn)
{
    return wsc_connect(port, 5, "/api/socket.io/?EIO=4&transport=websocket", NULL, MAX_MSG,
                       head, headn);
}

/* Next text message into out; the ws_recv code (WS_NEED_MORE = timeout). */
static ws_code recv_text(ws_conn *c, buf *out, int timeout_ms)
{
    int op = 0, cc = 0;
    ws_code rc = ws_recv(c, out, &op, &cc, timeout_ms);
    if (rc == WS_OK && op != WS_OP_TEXT)
        return WS_EPROTO;
    return rc;
}

static ws_code send_text(ws_conn *c, const char *s)
{
    return ws_send(c, WS_OP_TEXT, s, strlen(s));
}

/* Opens and authenticates; reply receives the answer to the 40 packet. */
static ws_conn *sio_connect(unsigned port, const char *token, buf *reply)
{
    char head[2048];
    ws_conn *c = ws_open(port, head, sizeof head);
    CU_ASSERT_PTR_NOT_NULL(c);
    if (!c)
        return NULL;
    CU_ASSERT_EQUAL(recv_text(c, reply, 2000), WS_OK);
    CU_ASSERT_EQUAL(strncmp(buf_str(reply), "0{", 2), 0);
    char auth[128];
    snprintf(auth, sizeof auth, "40{\"token\":\"%s\"}", token);
    CU_ASSERT_EQUAL(send_text(c, auth), WS_OK);
    CU_ASSERT_EQUAL(recv_text(c, reply, 2000), WS_OK);
    return c;
}

/*
 * Reads messages until a `42["<event>",payload]` whose payload (or its
 * "sandbox" member) has id `id` arrives, within timeout_ms.  Returns the
 * payload (caller deletes) or NULL.  Other messages are skipped.
 */
static cJSON *wait_event(ws_conn *c, const char *event, const char *id,
                         int timeout_ms)
{
    buf m;
    buf_init(&m, MAX_MSG);
    cJSON *found = NULL;
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (!found) {
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0 || recv_text(c, &m, left) != WS_OK)
            break;
        if (strncmp(buf_str(&m), "42", 2) != 0)
            continue;
        cJSON *arr = cJSON_Parse(buf_str(&m) + 2);
        const cJSON *name = cJSON_GetArrayItem(arr, 0);
        cJSON *payload = cJSON_GetArrayItem(arr, 1);
        const cJSON *sb = cJSON_GetObjectItemCaseSensitive(payload, "sandbox");
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(sb ? sb : payload, "id");
        if (cJSON_IsString(name) && strcmp(name->valuestring, event) == 0 &&
            cJSON_IsString(pid) && strcmp(pid->valuestring, id) == 0)
            found = cJSON_DetachItemFromArray(arr, 1);
        cJSON_Delete(arr);
    }
    buf_release(&m);
    return found;
}

/* Returns 1 when nothing at all arrives within ms (the text seen goes to
 * stderr otherwise). */
static int silent_for(ws_conn *c, int ms)
{
    buf m;
    buf_init(&m, MAX_MSG);
    ws_code rc = recv_text(c, &m, ms);
    if (rc != WS_NEED_MORE)
        fprintf(stderr, "\n  unexpected (%d): %.300s\n", (int)rc, buf_str(&m));
    buf_release(&m);
    return rc == WS_NEED_MORE;
}

/* Reads and discards until ms of silence. */
static void drain(ws_conn *c, int ms)
{
    buf m;
    buf_init(&m, MAX_MSG);
    while (recv_text(c, &m, ms) == WS_OK)
        ;
    buf_release(&m);
}

/* Reads until something other than a message happens; returns that. */
static ws_code end_of_stream(ws_conn *c, int ms)
{
    buf m;
    buf_init(&m, MAX_MSG);
    ws_code rc;
    while ((rc = recv_text(c, &m, ms)) == WS_OK)
        ;
    buf_release(&m);
    return rc;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---------- tests ---------- */

static void test_handshake(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    char head[2048], v[256];
    ws_conn *c = ws_open(e.port, head, sizeof head);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(strncmp(head, "HTTP/1.1 101", 12), 0);
    CU_ASSERT(wsc_head_value(head, "Sec-WebSocket-Accept", v, sizeof v) > 0 &&
              strcmp(v, WSC_ACCEPT) == 0);
    CU_ASSERT(wsc_head_value(head, "Upgrade", v, sizeof v) > 0 &&
              strcasecmp(v, "websocket") == 0);
    CU_ASSERT(wsc_head_value(head, "Connection", v, sizeof v) > 0 &&
              strcasestr(v, "upgrade") != NULL);

    buf m;
    buf_init(&m, MAX_MSG);
    CU_ASSERT_EQUAL(recv_text(c, &m, 2000), WS_OK);
    CU_ASSERT_EQUAL(strncmp(buf_str(&m), "0{\"sid\":", 8), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf_str(&m), "pingInterval"));
    cJSON *open = cJSON_Parse(buf_str(&m) + 1);
    const cJSON *pi = cJSON_GetObjectItemCaseSensitive(open, "pingInterval");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(open, "pingTimeout");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(open, "upgrades");
    CU_ASSERT(jstr(open, "sid")[0] != '\0');
    CU_ASSERT(cJSON_IsNumber(pi) && pi->valuedouble > 0);
    CU_ASSERT(cJSON_IsNumber(pt) && pt->valuedouble > 0);
    CU_ASSERT(cJSON_IsArray(up) && cJSON_GetArraySize(up) == 0);
    cJSON_Delete(open);

    CU_ASSERT_EQUAL(send_text(c, "40{\"token\":\"" K1 "\"}"), WS_OK);
    CU_ASSERT_EQUAL(recv_text(c, &m, 2000), WS_OK);
    CU_ASSERT_EQUAL(strncmp(buf_str(&m), "40{\"sid\":", 9), 0);
    cJSON *ack = cJSON_Parse(buf_str(&m) + 2);
    CU_ASSERT(jstr(ack, "sid")[0] != '\0');
    cJSON_Delete(ack);
    /* A client ping ("2") is answered with a pong ("3"). */
    CU_ASSERT_EQUAL(send_text(c, "2"), WS_OK);
    CU_ASSERT_EQUAL(recv_text(c, &m, 2000), WS_OK);
    CU_ASSERT_STRING_EQUAL(buf_str(&m), "3");

    http_resp r = http_do(&e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(resp_num(&r, "eventConnections", -1), 1);
    http_resp_free(&r);
    buf_release(&m);
    ws_conn_free(c, 1);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* Collects state.updated events of `id` until newState `last`; checks the
 * (old → new) pairs in order. */
static void expect_state_sequence(ws_conn *c, const char *id,
                                  const char *const (*pairs)[2], int npairs)
{
    for (int i = 0; i < npairs; i++) {
        cJSON *p = NULL;
        /* Skip state.updated events that belong to other changes. */
        for (int guard = 0; guard < 10; guard++) {
            p = wait_event(c, "sandbox.state.updated", id, 3000);
            if (!p || strcmp(jstr(p, "newState"), pairs[i][1]) == 0)
                break;
            cJSON_Delete(p);
            p = NULL;
        }
        CU_ASSERT_PTR_NOT_NULL(p);
        if (!p) {
            fprintf(stderr, "\n  no state.updated to %s\n", pairs[i][1]);
            return;
        }
        CU_ASSERT_STRING_EQUAL(jstr(p, "oldState"), pairs[i][0]);
        CU_ASSERT_STRING_EQUAL(jstr(p, "newState"), pairs[i][1]);
        const cJSON *sb = cJSON_GetObjectItemCaseSensitive(p, "sandbox");
        CU_ASSERT_STRING_EQUAL(jstr(sb, "id"), id);
        CU_ASSERT_STRING_EQUAL(jstr(sb, "state"), pairs[i][1]);
        cJSON_Delete(p);
    }
}

static void test_events_own_org_only(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    buf reply;
    buf_init(&reply, MAX_MSG);
    ws_conn *c1 = sio_connect(e.port, K1, &reply);
    CU_ASSERT_EQUAL(strncmp(buf_str(&reply), "40{\"sid\":", 9), 0);
    ws_conn *c2 = sio_connect(e.port, K2, &reply);
    CU_ASSERT_EQUAL(strncmp(buf_str(&reply), "40{\"sid\":", 9), 0);
    CU_ASSERT_FATAL(c1 && c2);

    http_resp r = http_do(&e, "POST", "/api/sandbox", K1, NULL,
                          "{\"name\":\"ev\",\"labels\":{\"l\":\"1\"}}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    char id[64];
    snprintf(id, sizeof id, "%s", resp_str(&r, "id") ? resp_str(&r, "id") : "");
    http_resp_free(&r);
    cJSON *created = wait_event(c1, "sandbox.created", id, 3000);
    CU_ASSERT_PTR_NOT_NULL(created);
    CU_ASSERT_STRING_EQUAL(jstr(created, "name"), "ev");
    CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(created, "labels")));
    cJSON_Delete(created);

    r = http_do(&e, "POST", "/api/sandbox/ev/stop?force=false", K1, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    static const char *const stop_seq[][2] = {
        {"started", "stopping"}, {"stopping", "stopped"},
    };
    expect_state_sequence(c1, id, stop_seq, 2);

    /* k2's connection heard nothing of k1's sandbox. */
    CU_ASSERT(silent_for(c2, 300));

    /* Positive control in the other direction. */
    drain(c1, 200);
    r = http_do(&e, "POST", "/api/sandbox", K2, NULL, "{\"name\":\"ev2\"}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    char id2[64];
    snprintf(id2, sizeof id2, "%s", resp_str(&r, "id") ? resp_str(&r, "id") : "");
    http_resp_free(&r);
    cJSON *c2created = wait_event(c2, "sandbox.created", id2, 3000);
    CU_ASSERT_PTR_NOT_NULL(c2created);
    cJSON_Delete(c2created);
    CU_ASSERT(silent_for(c1, 300));

    buf_release(&reply);
    ws_conn_free(c1, 1);
    ws_conn_free(c2, 1);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

/* The scheduler's auto-stop (moved by the clock) and a delete are
 * announced like user operations. */
static void test_scheduler_and_delete_events(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    buf reply;
    buf_init(&reply, MAX_MSG);
    ws_conn *c = sio_connect(e.port, K1, &reply);
    CU_ASSERT_FATAL(c != NULL);
    http_resp r = http_do(&e, "POST", "/api/sandbox", K1, NULL, "{\"name\":\"auto\"}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    char id[64];
    snprintf(id, sizeof id, "%s", resp_str(&r, "id") ? resp_str(&r, "id") : "");
    http_resp_free(&r);
    r = http_do(&e, "POST", "/api/sandbox", K1, NULL, "{\"name\":\"gone\"}", -1);
    char id2[64];
    snprintf(id2, sizeof id2, "%s", resp_str(&r, "id") ? resp_str(&r, "id") : "");
    http_resp_free(&r);
    r = http_do(&e, "POST", "/_emulator/clock", NULL, NULL, "{\"advanceMinutes\":16}", -1);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    static const char *const stop_seq[][2] = {
        {"started", "stopping"}, {"stopping", "stopped"},
    };
    expect_state_sequence(c, id, stop_seq, 2);
    cJSON *dp = wait_event(c, "sandbox.desired-state.updated", id2, 3000);
    CU_ASSERT_PTR_NOT_NULL(dp);   /* id2 was auto-stopped as well */
    cJSON_Delete(dp);

    r = http_do(&e, "DELETE", "/api/sandbox/auto", K1, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    static const char *const del_seq[][2] = {
        {"stopped", "destroying"}, {"destroying", "destroyed"},
    };
    expect_state_sequence(c, id, del_seq, 2);
    buf_release(&reply);
    ws_conn_free(c, 1);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_bad_token(void)
{
    static const char *const packets[] = {
        "40{\"token\":\"nope\"}", "40", "40{}", "40{\"token\":\"\"}",
    };
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    for (size_t i = 0; i < sizeof packets / sizeof packets[0]; i++) {
        char head[2048];
        ws_conn *c = ws_open(e.port, head, sizeof head);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        buf m;
        buf_init(&m, MAX_MSG);
        CU_ASSERT_EQUAL(recv_text(c, &m, 2000), WS_OK);
        CU_ASSERT_EQUAL(send_text(c, packets[i]), WS_OK);
        CU_ASSERT_EQUAL(recv_text(c, &m, 2000), WS_OK);
        CU_ASSERT_STRING_EQUAL(buf_str(&m), "44{\"message\":\"Invalid credentials\"}");
        buf_release(&m);
        ws_conn_free(c, 1);
    }
    http_resp r = http_do(&e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(resp_num(&r, "eventConnections", -1), 0);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_plain_get_400(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    static const char *const paths[] = {
        "/api/socket.io/?EIO=4&transport=websocket", "/api/socket.io/",
        "/api/socket.io/?EIO=4&transport=polling",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_resp r = http_do(&e, "GET", paths[i], K1, NULL, NULL, 0);
        CU_ASSERT_EQUAL(r.status, 400);
        http_resp_free(&r);
    }
    /* The server is fine afterwards. */
    http_resp r = http_do(&e, "GET", "/_emulator/health", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(r.status, 200);
    http_resp_free(&r);
    CU_ASSERT_EQUAL(emu_stop(&e), 0);
}

static void test_sigterm_with_open_sockets(void)
{
    emu_proc e;
    CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
    buf m;
    buf_init(&m, MAX_MSG);
    ws_conn *authed = sio_connect(e.port, K1, &m);
    CU_ASSERT_FATAL(authed != NULL);
    /* Sockets that never authenticate.  (Upgrades still starting when the
     * signal arrives are test_sigterm_during_upgrades' business: here every
     * connection is established first.) */
    enum { NBARE = 8 };
    ws_conn *bare[NBARE];
    char head[2048];
    for (int i = 0; i < NBARE; i++) {
        bare[i] = ws_open(e.port, head, sizeof head);
        CU_ASSERT_FATAL(bare[i] != NULL);
    }
    int64_t w0 = time_mono_ms();
    http_resp r = http_do(&e, "GET", "/_emulator/info", NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL(resp_num(&r, "eventConnections", -1), 1);
    http_resp_free(&r);
    /* Each bare socket has its open packet once its thread is running. */
    for (int i = 0; i < NBARE; i++) {
        int left = 2000 - (int)(time_mono_ms() - w0);
        CU_ASSERT_EQUAL(recv_text(bare[i], &m, left > 0 ? left : 1), WS_OK);
    }
    int64_t t0 = time_mono_ms();
    int st = emu_stop(&e);
    int64_t took = time_mono_ms() - t0;
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT(took < 5000);
    if (st != 0)
        fprintf(stderr, "\n  emu_stop: status %d after %lld ms (-1 = still running "
                        "after 5 s, 128+N = killed by signal N)\n", st, (long long)took);
    /* Every client sees the end of the stream. */
    ws_code rc = end_of_stream(authed, 2000);
    CU_ASSERT(rc == WS_ECLOSED || rc == WS_EIO);
    for (int i = 0; i < NBARE; i++) {
        rc = end_of_stream(bare[i], 2000);
        CU_ASSERT(rc == WS_ECLOSED || rc == WS_EIO);
        ws_conn_free(bare[i], 1);
    }
    buf_release(&m);
    ws_conn_free(authed, 1);
}

/*
 * SIGTERM while upgrades are still being answered: the requests are
 * written and the signal follows at once, so some connections are between
 * the 101 and their event-channel thread starting.  The emulator must
 * still exit 0 (repeated to make the window likely to be hit).
 */
static void test_sigterm_during_upgrades(void)
{
    enum { ROUNDS = 10, NSOCK = 16 };
    int bad = 0;
    for (int round = 0; round < ROUNDS; round++) {
        emu_proc e;
        CU_ASSERT_FATAL(emu_start(&e, ":memory:", keys_args) == 0);
        int fds[NSOCK];
        buf req;
        buf_init(&req, 4096);
        if (wsc_request(&req, e.port, "/api/socket.io/?EIO=4&transport=websocket", 1,
                        NULL) != 0)
            bad++;   /* cannot happen: the request is far below the cap */
        for (int i = 0; i < NSOCK; i++) {
            fds[i] = tn_connect(e.port, 5, 0);
            if (fds[i] >= 0)
                tn_send_all(fds[i], req.data, req.len);
        }
        buf_release(&req);
        /* Wait for the last 101: every upgrade has at least begun. */
        char b[64];
        if (fds[NSOCK - 1] >= 0 && recv(fds[NSOCK - 1], b, sizeof b, 0) <= 0)
            fprintf(stderr, "\n  round %d: no 101 before the signal\n", round);
        int st = emu_stop(&e);
        if (st != 0) {
            bad++;
            fprintf(stderr, "\n  round %d: emu_stop status %d\n", round, st);
        }
        for (int i = 0; i < NSOCK; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(curl_global_cleanup);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("events", NULL, NULL);
    CU_add_test(s, "handshake", test_handshake);
    CU_add_test(s, "events reach the own organization only", test_events_own_org_only);
    CU_add_test(s, "scheduler and delete events", test_scheduler_and_delete_events);
    CU_add_test(s, "bad token refused", test_bad_token);
    CU_add_test(s, "GET without upgrade is 400", test_plain_get_400);
    CU_add_test(s, "SIGTERM with open sockets", test_sigterm_with_open_sockets);
    CU_add_test(s, "SIGTERM during upgrades", test_sigterm_during_upgrades);
    return cu_run_and_cleanup();
}
