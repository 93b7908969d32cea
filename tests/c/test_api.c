/*
 * Exercises every function of the C API against a real ZooKeeper (NDSR_TEST_SERVER), NULL
 * arguments included. Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ndsr.h"

static int passed, failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            passed++;                                                                  \
        } else {                                                                       \
            failed++;                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    ndsr_last_error());                                                \
        }                                                                              \
    } while (0)

#define CHECK_RC(expr, want) CHECK((expr) == (want))

/* A small event box the callbacks fill and the test waits on, with a deadline. */
struct box {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int frees;
    int last_state;
    char last_json[4096];
    ndsr_t *close_me;
};

static void box_init(struct box *b) {
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->last_state = -1;
}

/* Waits until *field >= want (5 s at most); returns the value seen. */
static int box_wait(struct box *b, int *field, int want) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&b->mu);
    while (*field < want) {
        if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT) break;
    }
    int v = *field;
    pthread_mutex_unlock(&b->mu);
    return v;
}

static void on_change(void *ud, const char *path, const char *json, size_t len) {
    struct box *b = (struct box *)ud;
    (void)path;
    pthread_mutex_lock(&b->mu);
    b->calls++;
    snprintf(b->last_json, sizeof b->last_json, "%s", json);
    if (strlen(json) != len) b->calls += 1000; /* caught by the exact-count checks */
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void on_change_then_close(void *ud, const char *path, const char *json, size_t len) {
    struct box *b = (struct box *)ud;
    on_change(ud, path, json, len);
    /* Closing the handle from its own callback must work. */
    ndsr_close(b->close_me);
}

static void on_state(void *ud, int state) {
    struct box *b = (struct box *)ud;
    pthread_mutex_lock(&b->mu);
    b->calls++;
    b->last_state = state;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void on_stats(void *ud, const char *json, size_t len) {
    on_change(ud, "", json, len);
}

static void on_free(void *ud) {
    struct box *b = (struct box *)ud;
    pthread_mutex_lock(&b->mu);
    b->frees++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static int log_lines;
static void on_log(void *ud, int level, const char *msg) {
    (void)ud;
    if (level >= 1 && level <= 5 && msg != NULL) __atomic_add_fetch(&log_lines, 1, __ATOMIC_SEQ_CST);
}

/* Lines given to the handler form, and those whose component was missing or left in the
 * message. */
static int handler_lines, handler_bad;
static void on_log_handler(void *ud, int level, const char *component, const char *msg) {
    (void)ud;
    (void)level;
    if (component == NULL || msg == NULL || component[0] == '\0' ||
        strncmp(msg, component, strlen(component)) == 0)
        __atomic_add_fetch(&handler_bad, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&handler_lines, 1, __ATOMIC_SEQ_CST);
}

static ndsr_t *open_handle(const char *server) {
    ndsr_options_t *o = NULL;
    CHECK_RC(ndsr_options_new(&o), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "timeout_ms", "5000"), NDSR_OK);
    ndsr_t *h = NULL;
    CHECK_RC(ndsr_open(server, o, &h), NDSR_OK);
    ndsr_options_free(o);
    CHECK(h != NULL);
    return h;
}

static void test_static(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", NDSR_VERSION_MAJOR, NDSR_VERSION_MINOR, NDSR_VERSION_PATCH);
    CHECK(strcmp(ndsr_version(), want) == 0);
    CHECK(strstr(ndsr_status_str(NDSR_OK), "NDSR_OK") != NULL);
    CHECK(strstr(ndsr_status_str(NDSR_E_CLOSED), "NDSR_E_CLOSED") != NULL);
    CHECK(strstr(ndsr_status_str(NDSR_QUEUED), "NDSR_QUEUED") != NULL);
    CHECK(strstr(ndsr_status_str(NDSR_E_LOCK_LOST), "NDSR_E_LOCK_LOST") != NULL);
    CHECK(strstr(ndsr_status_str(NDSR_E_CONFLICT), "NDSR_E_CONFLICT") != NULL);
    CHECK(strcmp(ndsr_status_str(9999), "unknown status code") == 0);
    CHECK(ndsr_last_error() != NULL);
}

static void test_options(void) {
    CHECK_RC(ndsr_options_new(NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK(strstr(ndsr_last_error(), "out") != NULL);
    ndsr_options_t *o = NULL;
    CHECK_RC(ndsr_options_new(&o), NDSR_OK);
    CHECK_RC(ndsr_options_set(NULL, "lazy", "true"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, NULL, "true"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "lazy", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "no_such_key", "1"), NDSR_E_INVALID_ARGUMENT);
    CHECK(strstr(ndsr_last_error(), "no_such_key") != NULL);
    CHECK_RC(ndsr_options_set(o, "timeout_ms", "soon"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "readonly", "perhaps"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "username", "user:colon"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "acl", "world:anyone:rx"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "acl", "world:anyone:r,digest:u:h=:cdrwa"), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "username", "u"), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "password", "p"), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "timeout_ms", "800"), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "lazy", "false"), NDSR_OK);
    /* Nobody listens on port 1: a non-lazy open fails within the timeout. */
    ndsr_t *h = (ndsr_t *)0x1;
    CHECK_RC(ndsr_open("127.0.0.1:1", o, &h), NDSR_E_NO_CONNECTION);
    CHECK(h == (ndsr_t *)0x1); /* outputs are written only on success */
    CHECK_RC(ndsr_open("127.0.0.1:1", o, NULL), NDSR_E_INVALID_ARGUMENT);
    ndsr_options_free(o);
    ndsr_options_free(NULL);
}

static void test_null_handle(void) {
    char *s = NULL;
    CHECK_RC(ndsr_set_node(NULL, "/x", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_data(NULL, "/x", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_unset(NULL, "/x"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_get_json(NULL, "/x", &s, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_change(NULL, "/x", on_change, NULL, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_state(NULL, on_state, NULL, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_off(NULL, 1), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_credentials(NULL, "u", "p"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_state(NULL), NDSR_STATE_CLOSED);
    int64_t sid = 0;
    CHECK_RC(ndsr_session_id(NULL, &sid), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_stats_json(NULL, &s, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_stats_prometheus(NULL, &s, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_stats(NULL, 100, on_stats, NULL, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    ndsr_close(NULL);
    ndsr_string_free(NULL);
    /* A pointer that was never a handle is reported as closed, not dereferenced. */
    CHECK_RC(ndsr_set_node((ndsr_t *)0x7777770, "/x", NULL), NDSR_E_CLOSED);
}

static void test_handle(const char *server) {
    ndsr_t *h = open_handle(server);
    CHECK_RC(ndsr_state(h), NDSR_STATE_CONNECTED);
    int64_t sid = 0;
    CHECK_RC(ndsr_session_id(h, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_session_id(h, &sid), NDSR_OK);
    CHECK(sid != 0);

    /* Stats: JSON and Prometheus, owned by the caller. */
    char *stats = NULL;
    size_t stats_len = 0;
    CHECK_RC(ndsr_stats_json(h, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_stats_json(h, &stats, &stats_len), NDSR_OK);
    CHECK(strstr(stats, "\"state\":\"connected\"") != NULL && strlen(stats) == stats_len);
    ndsr_string_free(stats);
    CHECK_RC(ndsr_stats_prometheus(h, &stats, NULL), NDSR_OK);
    CHECK(strstr(stats, "ndsr_connected{") != NULL);
    ndsr_string_free(stats);
    /* Periodic stats on the callback thread until ndsr_off; userdata freed once after. */
    struct box st;
    box_init(&st);
    uint64_t stats_sub = 0;
    CHECK_RC(ndsr_on_stats(h, 0, on_stats, &st, on_free, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK(st.frees == 1);
    CHECK_RC(ndsr_on_stats(h, 20, NULL, NULL, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_stats(h, 20, on_stats, &st, on_free, &stats_sub), NDSR_OK);
    CHECK(box_wait(&st, &st.calls, 3) == 3 || st.calls > 3);
    CHECK(strstr(st.last_json, "\"requests\":{") != NULL && st.calls < 1000);
    CHECK_RC(ndsr_off(h, stats_sub), NDSR_OK);
    CHECK(box_wait(&st, &st.frees, 2) == 2);

    /* Bad arguments */
    CHECK_RC(ndsr_set_node(h, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_node(h, "relative", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_node(h, "/a/", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_node(h, "/zookeeper/x", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_node(h, "/capi/x", "{oops"), NDSR_E_INVALID_ARGUMENT);
    CHECK(strstr(ndsr_last_error(), "JSON") != NULL);
    CHECK_RC(ndsr_set_data(h, "/capi/x", "[1]"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_unset(h, NULL), NDSR_E_INVALID_ARGUMENT);
    char *doc = NULL;
    size_t len = 0;
    CHECK_RC(ndsr_get_json(h, "/capi", NULL, &len), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_get_json(h, NULL, &doc, &len), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_get_json(h, "bad", &doc, &len), NDSR_E_INVALID_ARGUMENT);
    CHECK(doc == NULL);
    CHECK_RC(ndsr_on_change(h, "/capi", NULL, NULL, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_state(h, NULL, NULL, NULL, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_off(h, 123456), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_set_credentials(h, NULL, "p"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_credentials(h, "u", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_credentials(h, "", "p"), NDSR_E_INVALID_ARGUMENT);
    /* The userdata passes to the library at the call: freed once even when the call fails. */
    struct box f;
    box_init(&f);
    CHECK_RC(ndsr_on_change(h, "bad path", on_change, &f, on_free, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_change(NULL, "/capi", on_change, &f, on_free, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_state(h, NULL, &f, on_free, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK(f.frees == 3 && f.calls == 0);

    /* Writes and reads */
    CHECK_RC(ndsr_set_data(h, "/capi", "{\"role\":\"dir\"}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/capi/server1:22", NULL), NDSR_OK);
    CHECK_RC(ndsr_registration_status(h, "/capi/server1:22"), NDSR_OK);
    CHECK_RC(ndsr_registration_status(h, "/capi/never"), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_registration_status(h, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_registration_status(NULL, "/capi"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_node(h, "/capi/server2:22", "\"just a string\""), NDSR_OK);
    CHECK_RC(ndsr_get_json(h, "/capi", &doc, &len), NDSR_OK);
    CHECK(doc != NULL && strlen(doc) == len);
    CHECK(doc && strstr(doc, "\"path\":\"/capi\"") != NULL);
    CHECK(doc && strstr(doc, "\"role\":\"dir\"") != NULL);
    CHECK(doc && strstr(doc, "\"server1:22\":{\"pid\":") != NULL);
    CHECK(doc && strstr(doc, "\"string_value\":\"just a string\"") != NULL);
    ndsr_string_free(doc);
    doc = NULL;
    CHECK_RC(ndsr_get_json(h, "/capi", &doc, NULL), NDSR_OK); /* out_len is optional */
    ndsr_string_free(doc);
    int live = -1;
    int64_t since = 0;
    CHECK_RC(ndsr_get_freshness(h, "/capi", &live, &since), NDSR_OK);
    CHECK(live == 1 && since > 1700000000000LL);
    CHECK_RC(ndsr_get_freshness(h, "/capi", NULL, NULL), NDSR_OK);
    CHECK_RC(ndsr_get_freshness(h, "/never-read", &live, &since), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_get_freshness(h, NULL, &live, &since), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_get_freshness(NULL, "/capi", &live, &since), NDSR_E_INVALID_ARGUMENT);

    /* Change callbacks: once at once, then per change; userdata_free once after off. */
    struct box b;
    box_init(&b);
    uint64_t sub = 0;
    CHECK_RC(ndsr_on_change(h, "/capi", on_change, &b, on_free, &sub), NDSR_OK);
    CHECK(sub != 0);
    CHECK(box_wait(&b, &b.calls, 1) == 1);
    CHECK_RC(ndsr_unset(h, "/capi/server2:22"), NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 2) == 2);
    pthread_mutex_lock(&b.mu);
    CHECK(strstr(b.last_json, "server2:22") == NULL && strstr(b.last_json, "server1:22") != NULL);
    pthread_mutex_unlock(&b.mu);
    CHECK_RC(ndsr_off(h, sub), NDSR_OK);
    CHECK(box_wait(&b, &b.frees, 1) == 1);
    CHECK_RC(ndsr_off(h, sub), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_set_node(h, "/capi/server3:22", NULL), NDSR_OK);

    /* State callbacks */
    struct box s;
    box_init(&s);
    uint64_t ssub = 0;
    CHECK_RC(ndsr_on_state(h, on_state, &s, on_free, &ssub), NDSR_OK);
    CHECK(box_wait(&s, &s.calls, 1) >= 1);
    CHECK(s.last_state == NDSR_STATE_CONNECTED);

    /* Logger: a bad write at warn level reaches the sink; then back to stderr. */
    CHECK_RC(ndsr_set_logger(on_log, NULL, 5), NDSR_OK);
    CHECK_RC(ndsr_unset(h, "/capi"), NDSR_E_ZOOKEEPER); /* not empty */
    CHECK(__atomic_load_n(&log_lines, __ATOMIC_SEQ_CST) > 0);
    CHECK_RC(ndsr_set_logger(NULL, NULL, 2), NDSR_OK);
    /* The handler form gets the component apart from the message. */
    CHECK_RC(ndsr_set_log_handler(on_log_handler, NULL, 5), NDSR_OK);
    CHECK_RC(ndsr_set_data(h, "/capi/logged", NULL), NDSR_OK);
    CHECK_RC(ndsr_unset(h, "/capi"), NDSR_E_ZOOKEEPER);
    CHECK(__atomic_load_n(&handler_lines, __ATOMIC_SEQ_CST) > 0);
    CHECK(__atomic_load_n(&handler_bad, __ATOMIC_SEQ_CST) == 0);
    CHECK_RC(ndsr_set_log_handler(NULL, NULL, 2), NDSR_OK);

    /* Close: the state subscription's userdata is freed exactly once; calls after close fail. */
    ndsr_close(h);
    CHECK(box_wait(&s, &s.frees, 1) == 1);
    CHECK(s.frees == 1);
    CHECK(b.frees == 1);
    CHECK_RC(ndsr_set_node(h, "/capi/late", NULL), NDSR_E_CLOSED);
    CHECK_RC(ndsr_get_json(h, "/capi", &doc, &len), NDSR_E_CLOSED);
    CHECK_RC(ndsr_state(h), NDSR_STATE_CLOSED);
    CHECK_RC(ndsr_session_id(h, &sid), NDSR_E_CLOSED);
    ndsr_close(h); /* the stale handle is ignored */
}

static void test_locks(const char *server) {
    ndsr_t *a = open_handle(server);
    ndsr_t *b = open_handle(server);
    ndsr_lock_t *la = NULL, *lb = NULL;
    CHECK_RC(ndsr_lock_acquire(NULL, "/clock", NULL, 1, 0, &la), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_lock_acquire(a, NULL, NULL, 1, 0, &la), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_lock_acquire(a, "/clock", NULL, 1, 0, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_lock_acquire(a, "/clock", NULL, 0, 0, &la), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_lock_acquire(a, "/clock", NULL, 1, -5, &la), NDSR_E_INVALID_ARGUMENT);
    CHECK(la == NULL);
    CHECK_RC(ndsr_lock_acquire(a, "/clock", "holder-a", 1, 0, &la), NDSR_OK);
    CHECK(la != NULL);
    CHECK_RC(ndsr_lock_check(la), NDSR_OK);
    CHECK_RC(ndsr_lock_acquire(b, "/clock", "holder-b", 1, 200, &lb), NDSR_E_TIMEOUT);
    CHECK(lb == NULL);
    CHECK_RC(ndsr_lock_release(la), NDSR_OK);
    CHECK_RC(ndsr_lock_release(la), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_lock_check(la), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_lock_acquire(b, "/clock", "holder-b", 1, 0, &lb), NDSR_OK);
    ndsr_lock_free(la);
    ndsr_lock_free(NULL);
    CHECK_RC(ndsr_lock_check(NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_lock_release(NULL), NDSR_E_INVALID_ARGUMENT);
    /* Path-keyed forms */
    CHECK_RC(ndsr_acquire_lock(a, "/clock2", NULL, 1, 0), NDSR_OK);
    CHECK_RC(ndsr_acquire_lock(b, "/clock2", NULL, 1, 0), NDSR_E_TIMEOUT);
    CHECK_RC(ndsr_release_lock(a, "/clock2"), NDSR_OK);
    CHECK_RC(ndsr_acquire_lock(b, "/clock2", NULL, 1, 1000), NDSR_OK);
    CHECK_RC(ndsr_release_lock(NULL, "/clock2"), NDSR_E_INVALID_ARGUMENT);
    /* Closing the holder's handle loses the lock, and frees it for others at once. */
    ndsr_close(b);
    CHECK_RC(ndsr_lock_check(lb), NDSR_E_LOCK_LOST);
    CHECK_RC(ndsr_lock_acquire(a, "/clock", NULL, 1, 2000, &la), NDSR_OK);
    ndsr_lock_free(lb); /* a lost lock frees without complaint */
    ndsr_lock_free(la); /* releases, then frees */
    ndsr_close(a);
}

static void test_close_from_callback(const char *server) {
    ndsr_t *h = open_handle(server);
    struct box b;
    box_init(&b);
    b.close_me = h;
    CHECK_RC(ndsr_on_change(h, "/capi2", on_change_then_close, &b, on_free, NULL), NDSR_OK);
    CHECK(box_wait(&b, &b.frees, 1) == 1);
    CHECK(b.calls == 1);
    CHECK_RC(ndsr_state(h), NDSR_STATE_CLOSED);
    CHECK_RC(ndsr_set_node(h, "/capi2/x", NULL), NDSR_E_CLOSED);

    /* The ephemeral nodes of a closed handle are gone for everyone else. */
    ndsr_t *a = open_handle(server);
    ndsr_t *c = open_handle(server);
    CHECK_RC(ndsr_set_node(a, "/capi3/a", NULL), NDSR_OK);
    ndsr_close(a);
    char *doc = NULL;
    CHECK_RC(ndsr_get_json(c, "/capi3", &doc, NULL), NDSR_OK);
    CHECK(doc && strstr(doc, "\"children\":{}") != NULL);
    ndsr_string_free(doc);
    ndsr_close(c);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A callback that ends its thread (as Python does to foreign threads at interpreter exit). */
static void on_change_then_exit_thread(void *ud, const char *path, const char *json, size_t len) {
    on_change(ud, path, json, len);
    pthread_exit(NULL);
}

/* A callback that takes 5 s. */
static void on_change_slowly(void *ud, const char *path, const char *json, size_t len) {
    on_change(ud, path, json, len);
    sleep(5);
}

/* pthread_exit (or a cancellation) inside a callback ends the callback thread as it asks,
 * without aborting the process; the handle goes on serving calls and closes as usual. And a
 * callback that is still running when the handle is closed does not hold the close up. */
static void test_callback_thread_ends(const char *server) {
    ndsr_t *h = open_handle(server);
    CHECK_RC(ndsr_set_data(h, "/capi-exit/cfg", "{\"v\":1}"), NDSR_OK);
    struct box b;
    box_init(&b);
    CHECK_RC(ndsr_on_change(h, "/capi-exit/cfg", on_change_then_exit_thread, &b, on_free, NULL),
             NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 1) == 1);
    CHECK_RC(ndsr_set_data(h, "/capi-exit/cfg", "{\"v\":2}"), NDSR_OK);
    char *doc = NULL;
    CHECK_RC(ndsr_get_json(h, "/capi-exit/cfg", &doc, NULL), NDSR_OK);
    ndsr_string_free(doc);
    double t = now_s();
    ndsr_close(h);
    CHECK(now_s() - t < 3.0);
    CHECK(box_wait(&b, &b.frees, 1) == 1);
    CHECK(b.calls == 1);

    h = open_handle(server);
    struct box s;
    box_init(&s);
    CHECK_RC(ndsr_on_change(h, "/capi-exit/cfg", on_change_slowly, &s, on_free, NULL), NDSR_OK);
    CHECK(box_wait(&s, &s.calls, 1) == 1);
    t = now_s();
    ndsr_close(h); /* the callback has about 5 s to go */
    double took = now_s() - t;
    CHECK(took < 3.0);
    if (took >= 3.0) fprintf(stderr, "ndsr_close took %.1f s\n", took);
    /* userdata_free still runs once, after the callback returns. */
    CHECK(box_wait(&s, &s.frees, 1) == 1);
    CHECK(s.calls == 1);
}

/* fork(): the child gets a session of its own with the parent's watches and callbacks; the
 * parent's session, registrations and locks are untouched, and the child's close ends only the
 * child's session. */
static void test_fork(const char *server) {
    ndsr_t *h = open_handle(server);
    ndsr_t *w = open_handle(server);
    CHECK_RC(ndsr_set_node(h, "/fork/members/parent", "{\"role\":\"master\"}"), NDSR_OK);
    CHECK_RC(ndsr_set_data(w, "/fork/cfg", "{\"v\":1}"), NDSR_OK);
    struct box b;
    box_init(&b);
    CHECK_RC(ndsr_on_change(h, "/fork/cfg", on_change, &b, on_free, NULL), NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 1) == 1);
    ndsr_lock_t *lk = NULL;
    CHECK_RC(ndsr_lock_acquire(h, "/fork/lock", NULL, 1, 0, &lk), NDSR_OK);
    int64_t parent_sid = 0, sid = 0;
    CHECK_RC(ndsr_session_id(h, &parent_sid), NDSR_OK);
    CHECK_RC(ndsr_rebuild(h), NDSR_OK); /* nothing to do in the opening process */
    CHECK_RC(ndsr_session_id(h, &sid), NDSR_OK);
    CHECK(sid == parent_sid);

    int ready[2];
    CHECK(pipe(ready) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        passed = failed = 0;
        CHECK_RC(ndsr_rebuild(h), NDSR_OK);
        CHECK_RC(ndsr_session_id(h, &sid), NDSR_OK);
        CHECK(sid != 0 && sid != parent_sid);
        char *doc = NULL;
        CHECK_RC(ndsr_get_json(h, "/fork/cfg", &doc, NULL), NDSR_OK);
        CHECK(doc && strstr(doc, "\"v\":1") != NULL);
        ndsr_string_free(doc);
        CHECK_RC(ndsr_lock_check(lk), NDSR_E_LOCK_LOST); /* the parent's */
        CHECK_RC(ndsr_lock_release(lk), NDSR_OK);          /* does nothing here */
        CHECK_RC(ndsr_registration_status(h, "/fork/members/parent"), NDSR_E_NOT_FOUND);
        CHECK_RC(ndsr_set_node(h, "/fork/members/child", NULL), NDSR_OK);
        /* The change reaches the child's callback through the child's own watch, once. */
        CHECK(write(ready[1], "r", 1) == 1);
        CHECK(box_wait(&b, &b.calls, 2) == 2);
        CHECK(strstr(b.last_json, "\"v\":2") != NULL);
        ndsr_close(h);
        CHECK(box_wait(&b, &b.frees, 1) == 1); /* the child's copy of the userdata */
        CHECK(b.calls == 2);
        /* w was never used here before: this first call makes it the child's. */
        CHECK_RC(ndsr_get_json(w, "/fork/members", &doc, NULL), NDSR_OK);
        CHECK(doc && strstr(doc, "\"parent\":") != NULL && strstr(doc, "\"child\":") == NULL);
        ndsr_string_free(doc);
        ndsr_close(w);
        fflush(stderr);
        /* Exit through exec: at exit valgrind would list what the child abandoned by design
         * (the parent's connection, threads and runtime are never freed in a child). */
        execl("/bin/sh", "sh", "-c", failed == 0 && passed > 0 ? "exit 0" : "exit 1", (char *)NULL);
        _exit(2);
    }
    CHECK(pid > 0);
    close(ready[1]);
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1 && c == 'r');
    close(ready[0]);
    CHECK_RC(ndsr_set_data(w, "/fork/cfg", "{\"v\":2}"), NDSR_OK);
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent: same session, registration and lock; saw the change itself; nothing freed. */
    CHECK_RC(ndsr_session_id(h, &sid), NDSR_OK);
    CHECK(sid == parent_sid);
    CHECK_RC(ndsr_registration_status(h, "/fork/members/parent"), NDSR_OK);
    CHECK_RC(ndsr_lock_check(lk), NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 2) == 2);
    CHECK(b.frees == 0);
    char *doc = NULL;
    CHECK_RC(ndsr_get_json(w, "/fork/members", &doc, NULL), NDSR_OK);
    CHECK(doc && strstr(doc, "\"parent\":") != NULL && strstr(doc, "\"child\":") == NULL);
    ndsr_string_free(doc);
    ndsr_lock_free(lk);
    ndsr_close(h);
    CHECK(box_wait(&b, &b.frees, 1) == 1);
    ndsr_close(w);
}

/* Diffs: the first has every child added; later ones say what changed. */
static void test_diffs(const char *server) {
    ndsr_t *h = open_handle(server);
    struct box b;
    box_init(&b);
    CHECK_RC(ndsr_on_diff(h, NULL, on_change, &b, on_free, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_on_diff(h, "/cdiff", NULL, &b, on_free, NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK(b.frees == 2 && b.calls == 0);
    CHECK_RC(ndsr_set_data(h, "/cdiff", "{\"v\":1}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/cdiff/a", "{\"port\":1}"), NDSR_OK);
    uint64_t sub = 0;
    CHECK_RC(ndsr_on_diff(h, "/cdiff", on_change, &b, on_free, &sub), NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 1) == 1);
    pthread_mutex_lock(&b.mu);
    CHECK(strstr(b.last_json, "\"added\":{\"a\":{") != NULL);
    CHECK(strstr(b.last_json, "\"removed\":{}") != NULL);
    CHECK(strstr(b.last_json, "\"data\":{\"old\":null,\"new\":{") != NULL);
    pthread_mutex_unlock(&b.mu);
    CHECK_RC(ndsr_set_node(h, "/cdiff/b", "{\"port\":2}"), NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 2) == 2);
    pthread_mutex_lock(&b.mu);
    CHECK(strstr(b.last_json, "\"added\":{\"b\":{") != NULL);
    CHECK(strstr(b.last_json, "\"data\":null") != NULL);
    pthread_mutex_unlock(&b.mu);
    CHECK_RC(ndsr_unset(h, "/cdiff/b"), NDSR_OK);
    CHECK(box_wait(&b, &b.calls, 3) == 3);
    pthread_mutex_lock(&b.mu);
    CHECK(strstr(b.last_json, "\"removed\":{\"b\":{") != NULL);
    CHECK(strstr(b.last_json, "\"added\":{}") != NULL);
    pthread_mutex_unlock(&b.mu);
    CHECK_RC(ndsr_off(h, sub), NDSR_OK);
    CHECK(box_wait(&b, &b.frees, 3) == 3);
    ndsr_close(h);
}

/* Readers of snapshots on many threads while the path churns. */
struct reader {
    ndsr_t *h;
    int rounds, bad;
};

static void *read_snapshots(void *arg) {
    struct reader *r = (struct reader *)arg;
    for (int i = 0; i < r->rounds; i++) {
        ndsr_snapshot_t *s = NULL;
        if (ndsr_snapshot_get(r->h, "/csnap", &s) != NDSR_OK) {
            r->bad++;
            continue;
        }
        size_t n = ndsr_snapshot_count(s), len = 0;
        const char *json = ndsr_snapshot_json(s, &len);
        if (json == NULL || strlen(json) != len || n > 13) r->bad++;
        for (size_t k = 0; k < n; k++) {
            int64_t port = 0;
            const char *name = ndsr_snapshot_name(s, k);
            if (name == NULL || ndsr_snapshot_child_int(s, k, "port", &port) != NDSR_OK) r->bad++;
            if (k > 0 && strcmp(ndsr_snapshot_name(s, k - 1), name) >= 0) r->bad++; /* name order */
        }
        if (ndsr_snapshot_release(s) != NDSR_OK) r->bad++;
    }
    return NULL;
}

static void test_snapshots(const char *server) {
    ndsr_t *h = open_handle(server);
    ndsr_snapshot_t *s = NULL;
    CHECK_RC(ndsr_snapshot_get(h, NULL, &s), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_snapshot_get(h, "/csnap", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_snapshot_get(NULL, "/csnap", &s), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_snapshot_get(h, "bad", &s), NDSR_E_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK_RC(ndsr_set_data(h, "/csnap", "{\"role\":\"x\"}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/csnap/b", "{\"host\":\"h2\",\"port\":81}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/csnap/a",
                           "{\"host\":\"h1\",\"port\":80,\"w\":1.5,\"a_key_of_sixteen\":16,"
                           "\"a_key_of_sixteen_and_more\":\"long\"}"),
             NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/csnap/c", "{\"host\":\"h3\",\"port\":82}"), NDSR_OK);
    struct box b;
    box_init(&b);
    uint64_t bsub = 0;
    CHECK_RC(ndsr_on_change(h, "/csnap", on_change, &b, on_free, &bsub), NDSR_OK);
    CHECK_RC(ndsr_set_debounce(h, bsub, 0), NDSR_OK);
    CHECK_RC(ndsr_set_debounce(h, bsub + 1000, 10), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_set_debounce(h, bsub, -1), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_set_debounce(NULL, bsub, 1), NDSR_E_INVALID_ARGUMENT);
    /* Writes by this handle are in the cache once its watch reports them: wait for all three. */
    for (int calls = 1; calls < 10; calls++) {
        box_wait(&b, &b.calls, calls);
        pthread_mutex_lock(&b.mu);
        int done = strstr(b.last_json, "\"c\":{") && strstr(b.last_json, "\"a\":{") && strstr(b.last_json, "\"b\":{");
        pthread_mutex_unlock(&b.mu);
        if (done) break;
    }
    CHECK_RC(ndsr_snapshot_get(h, "/csnap", &s), NDSR_OK);
    char *doc = NULL;
    size_t len = 0, doc_len = 0;
    CHECK_RC(ndsr_get_json(h, "/csnap", &doc, &doc_len), NDSR_OK);
    const char *json = ndsr_snapshot_json(s, &len);
    CHECK(json != NULL && len == doc_len && strcmp(json, doc) == 0);
    CHECK(ndsr_snapshot_json(s, NULL) == json);
    ndsr_string_free(doc);
    CHECK(ndsr_snapshot_count(s) == 3);
    CHECK(strcmp(ndsr_snapshot_name(s, 0), "a") == 0 && strcmp(ndsr_snapshot_name(s, 2), "c") == 0);
    CHECK(ndsr_snapshot_name(s, 3) == NULL);
    const char *child = ndsr_snapshot_child_json(s, 1, &len);
    /* A slice of the document, not NUL-terminated: its value up to the next child's name. */
    char value[256] = {0};
    CHECK(child != NULL && len > 0 && len < sizeof value && child[0] == '{' && child[len - 1] == '}');
    if (child != NULL && len < sizeof value) memcpy(value, child, len);
    CHECK(strstr(value, "\"host\":\"h2\"") != NULL && strstr(value, "\"c\"") == NULL);
    CHECK(child != NULL && strncmp(child + len, ",\"c\":", 5) == 0);
    CHECK(ndsr_snapshot_child_json(s, 1, NULL) == NULL);
    CHECK(ndsr_snapshot_child_json(s, 3, &len) == NULL);
    CHECK(strcmp(ndsr_snapshot_child_str(s, 0, "host"), "h1") == 0);
    CHECK(ndsr_snapshot_child_str(s, 0, "port") == NULL);
    CHECK(ndsr_snapshot_child_str(s, 0, NULL) == NULL);
    CHECK(ndsr_snapshot_child_str(s, 7, "host") == NULL);
    int64_t v = 0;
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "port", &v), NDSR_OK);
    CHECK(v == 80);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "host", &v), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "w", &v), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "nope", &v), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_snapshot_child_int(s, 5, "port", &v), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "port", NULL), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, NULL, &v), NDSR_E_INVALID_ARGUMENT);
    /* Keys around the length measured inline (16 bytes) and past it. */
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "a_key_of_sixteen", &v), NDSR_OK);
    CHECK(v == 16);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "a_key_of_sixtee", &v), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_snapshot_child_int(s, 0, "a_key_of_sixteen_", &v), NDSR_E_NOT_FOUND);
    const char *more = ndsr_snapshot_child_str(s, 0, "a_key_of_sixteen_and_more");
    CHECK(more != NULL && strcmp(more, "long") == 0);
    CHECK(ndsr_snapshot_child_str(s, 0, "a_key_of_sixteen_and_mor") == NULL);
    CHECK(ndsr_snapshot_child_str(s, 0, "a_key_of_sixteen_and_moreX") == NULL);
    CHECK(ndsr_snapshot_child_str(s, 0, "") == NULL);

    /* Four readers while a writer adds and removes children. */
    struct reader readers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        readers[i].h = h;
        readers[i].rounds = 3000;
        readers[i].bad = 0;
        pthread_create(&threads[i], NULL, read_snapshots, &readers[i]);
    }
    char path[64];
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof path, "/csnap/d%d", i % 10);
        if (i < 10)
            CHECK_RC(ndsr_set_node(h, path, "{\"port\":1}"), NDSR_OK);
        else if (i < 20)
            CHECK_RC(ndsr_unset(h, path), NDSR_OK);
        else
            CHECK_RC(ndsr_set_node(h, path, "{\"port\":2}"), NDSR_OK);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(readers[i].bad == 0);
    }
    CHECK(ndsr_snapshot_count(s) == 3); /* a snapshot never changes */

    /* A snapshot outlives its handle; a second release is refused, not a crash. */
    ndsr_close(h);
    CHECK_RC(ndsr_snapshot_get(h, "/csnap", &s), NDSR_E_CLOSED);
    CHECK(strcmp(ndsr_snapshot_name(s, 1), "b") == 0);
    CHECK_RC(ndsr_snapshot_release(s), NDSR_OK);
    CHECK_RC(ndsr_snapshot_release(s), NDSR_E_INVALID_ARGUMENT);
    CHECK(ndsr_snapshot_json(s, &len) == NULL && ndsr_snapshot_count(s) == 0);
    CHECK(ndsr_snapshot_name(s, 0) == NULL);
    CHECK_RC(ndsr_snapshot_release(NULL), NDSR_OK);
    CHECK_RC(ndsr_snapshot_release((ndsr_snapshot_t *)(uintptr_t)0x1230), NDSR_E_INVALID_ARGUMENT);
    CHECK(box_wait(&b, &b.frees, 1) == 1);
}

struct picking {
    ndsr_picker_t *p;
    int rounds, bad;
};

/* Picks in a loop; a pick must name an instance the service had (a..c or n0..n9). */
static void *pick_loop(void *arg) {
    struct picking *pk = (struct picking *)arg;
    char buf[64];
    size_t len = 0;
    for (int i = 0; i < pk->rounds; i++) {
        int rc = ndsr_pick(pk->p, NULL, buf, sizeof buf, &len);
        if (rc != NDSR_OK || len != strlen(buf) || strchr(buf, ':') == NULL) pk->bad++;
        if (i % 64 == 0) ndsr_pick_report(pk->p, buf, 1);
    }
    return NULL;
}

static void test_pickers(const char *server) {
    ndsr_t *h = open_handle(server);
    ndsr_picker_t *p = NULL;
    char buf[64];
    size_t len = 0;
    CHECK_RC(ndsr_wait_for(h, "/cpick", 1, 50), NDSR_E_TIMEOUT);
    CHECK_RC(ndsr_wait_for(h, "/cpick", 1, -1), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_wait_for(NULL, "/cpick", 1, 10), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_picker_new(h, "/cpick", NULL, &p), NDSR_OK);
    CHECK_RC(ndsr_pick(p, NULL, buf, sizeof buf, &len), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_set_node(h, "/cpick/a:1", "{\"weight\":1}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/cpick/b:1", "{\"weight\":2,\"zone\":\"z1\"}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(h, "/cpick/c:1", "{\"state\":\"down\"}"), NDSR_OK);
    CHECK_RC(ndsr_wait_for(h, "/cpick", 2, 10000), NDSR_OK);
    CHECK_RC(ndsr_pick(p, NULL, buf, sizeof buf, &len), NDSR_OK);
    CHECK(len == 3 && (strcmp(buf, "a:1") == 0 || strcmp(buf, "b:1") == 0));
    CHECK_RC(ndsr_pick(p, NULL, buf, 3, &len), NDSR_E_TOO_LARGE);
    CHECK(len == 3);
    CHECK_RC(ndsr_pick(p, NULL, NULL, 10, &len), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_pick(NULL, NULL, buf, sizeof buf, &len), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_pick_report(p, NULL, 0), NDSR_E_INVALID_ARGUMENT);

    /* Options: a filter and weights; handle keys are refused, and picker keys by ndsr_open. */
    ndsr_options_t *o = NULL;
    ndsr_picker_t *w = NULL;
    CHECK_RC(ndsr_options_new(&o), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "strategy", "sideways"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "strategy", "weighted"), NDSR_OK);
    CHECK_RC(ndsr_picker_new(h, "/cpick", o, &w), NDSR_OK);
    int a = 0, b = 0;
    for (int i = 0; i < 30; i++) {
        CHECK_RC(ndsr_pick(w, NULL, buf, sizeof buf, &len), NDSR_OK);
        a += strcmp(buf, "a:1") == 0;
        b += strcmp(buf, "b:1") == 0;
    }
    CHECK(a == 10 && b == 20);
    ndsr_picker_free(w);
    ndsr_t *bad = NULL;
    CHECK_RC(ndsr_open(server, o, &bad), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "filter", "zone=z1"), NDSR_OK);
    CHECK_RC(ndsr_picker_new(h, "/cpick", o, &w), NDSR_OK);
    CHECK_RC(ndsr_pick(w, NULL, buf, sizeof buf, &len), NDSR_OK);
    CHECK(strcmp(buf, "b:1") == 0);
    ndsr_picker_free(w);
    CHECK_RC(ndsr_options_set(o, "timeout_ms", "1000"), NDSR_OK);
    w = NULL;
    CHECK_RC(ndsr_picker_new(h, "/cpick", o, &w), NDSR_E_INVALID_ARGUMENT);
    CHECK(w == NULL);
    ndsr_options_free(o);

    /* Four threads pick while instances come and go. */
    struct picking pk[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        pk[i].p = p;
        pk[i].rounds = 20000;
        pk[i].bad = 0;
        pthread_create(&threads[i], NULL, pick_loop, &pk[i]);
    }
    char path[64];
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof path, "/cpick/n%d:1", i % 10);
        if (i < 10 || i >= 20)
            CHECK_RC(ndsr_set_node(h, path, "{}"), NDSR_OK);
        else
            CHECK_RC(ndsr_unset(h, path), NDSR_OK);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(pk[i].bad == 0);
    }
    CHECK_RC(ndsr_drain(h, "/cpick/none:1", 0), NDSR_E_NOT_FOUND);
    CHECK_RC(ndsr_drain(h, "/cpick/a:1", -1), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_drain(h, NULL, 0), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_drain(h, "/cpick/a:1", 100000), NDSR_OK); /* closing the handle ends it */
    /* After the handle's close, picks say so; the picker is still freed normally. */
    ndsr_close(h);
    CHECK_RC(ndsr_pick(p, NULL, buf, sizeof buf, &len), NDSR_E_CLOSED);
    ndsr_picker_free(p);
    ndsr_picker_free(NULL);
}

/* Keep last good: a list emptied at once is held, and freshness says so (2). */
static void test_keep_last_good(const char *server) {
    ndsr_options_t *o = NULL;
    ndsr_t *h = NULL, *w = open_handle(server);
    CHECK_RC(ndsr_options_new(&o), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "keep_last_good_ms", "60000"), NDSR_OK);
    CHECK_RC(ndsr_options_set(o, "keep_last_good_percent", "0"), NDSR_E_INVALID_ARGUMENT);
    CHECK_RC(ndsr_options_set(o, "keep_last_good_percent", "40"), NDSR_OK); /* 1 of 2 is held */
    CHECK_RC(ndsr_open(server, o, &h), NDSR_OK);
    ndsr_options_free(o);
    CHECK_RC(ndsr_set_node(w, "/ckeep/a:1", "{}"), NDSR_OK);
    CHECK_RC(ndsr_set_node(w, "/ckeep/b:1", "{}"), NDSR_OK);
    CHECK_RC(ndsr_wait_for(h, "/ckeep", 2, 10000), NDSR_OK);
    int live = -1;
    CHECK_RC(ndsr_get_freshness(h, "/ckeep", &live, NULL), NDSR_OK);
    CHECK(live == 1);
    ndsr_close(w); /* both registrations go at once */
    for (int i = 0; i < 1000 && live != 2; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL); /* no event says a hold began: poll, 10 s at most */
        CHECK_RC(ndsr_get_freshness(h, "/ckeep", &live, NULL), NDSR_OK);
    }
    CHECK(live == 2);
    CHECK_RC(ndsr_wait_for(h, "/ckeep", 2, 0), NDSR_OK); /* readers keep the last good list */
    ndsr_close(h);
}

int main(void) {
    const char *server = getenv("NDSR_TEST_SERVER");
    if (!server) {
        fprintf(stderr, "NDSR_TEST_SERVER is not set (run tests/c/run.sh)\n");
        return 2;
    }
    test_static();
    test_options();
    test_null_handle();
    test_handle(server);
    test_locks(server);
    test_close_from_callback(server);
    test_callback_thread_ends(server);
    test_fork(server);
    test_diffs(server);
    test_snapshots(server);
    test_pickers(server);
    test_keep_last_good(server);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
