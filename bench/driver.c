/*
 * The benchmark driver: runs one repetition of one workload (../shared benchmark workloads
 * W1-W6, M1) for one client, libndsr through its C API or the ZooKeeper C client
 * (libzookeeper-mt), and prints the result as one JSON object on stdout. bench/bench.py runs it
 * repetition by repetition, alternating the clients, and builds the report.
 *
 *   driver setup PATH NPAR NCHILD      build a tree with pipelined creates (C client)
 *   driver rmr PATH                    delete a tree with pipelined deletes
 *   driver w1|w2|w3|w4|w5|w6|m1 zkc|ndsr ARGS...
 *   driver w1mixed PREFIX [BLOCK]      W1 for both clients in one process (see w1_mixed)
 *   driver w7diff LIST TAG CYCLES      W5 through ndsr_on_diff (libndsr only)
 *   driver w7snap BIG SMALL TYPED    W3 through snapshots, and the typed getters (libndsr only;
 *                                    each next to the C client's warm read)
 *
 * Environment: BENCH_CONNECT (connect string), BENCH_PORT (the server's client port, for the
 * four-letter words), and for W6 BENCH_ZKSH + BENCH_BASE (the harness script and its directory,
 * to stop and start the server). BENCH_LOG=1..5 prints libndsr's log at that level (5 = trace) to
 * stderr, each line stamped with CLOCK_MONOTONIC milliseconds, for looking into an odd figure.
 *
 * Times come from CLOCK_MONOTONIC. A callback's time is taken on entry to the callback. Requests
 * are counted by the server: the `recved` field of the session's line in `cons`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define THREADED /* the synchronous API of libzookeeper-mt */
#include <zookeeper/zookeeper.h>

#include "ndsr.h"

#define SESSION_MS 10000
#define WAIT_NS (20LL * 1000000000LL)

static const char *g_connect;
static int g_port;

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "driver: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The hot-path reads (W3, W7) are timed in short slices, and a figure is the median slice: the
 * host's noise comes in bursts of tens of milliseconds or more (this machine is a VM; a plain
 * loop's speed varies 2x between bursts), and a burst then moves a few slices, not the figure.
 * Every read is timed; no best case is picked. 35 slices of 20 ms: 0.7 s per figure. W7 also
 * alternates its slices with slices of the C client's warm read (W3's), so that each of its
 * figures has a ratio to the C client measured under the same conditions. */
#define SLICES 35
#define SLICE_NS 20000000LL

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of `v` (sorted in place). */
static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs BODY in blocks of 256 for SLICE_NS and stores in OUT the ns per run of BODY. */
#define TIME_SLICE(OUT, BODY)                                                    \
    do {                                                                         \
        long runs_ = 0;                                                          \
        int64_t t0_ = now_ns(), t_;                                              \
        do {                                                                     \
            for (int k_ = 0; k_ < 256; k_++) {                                   \
                BODY;                                                            \
            }                                                                    \
            runs_ += 256;                                                        \
            t_ = now_ns();                                                       \
        } while (t_ - t0_ < SLICE_NS);                                           \
        (OUT) = (double)(t_ - t0_) / (double)runs_;                              \
    } while (0)

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The 60-byte data of child i. */
static int child_data(char *buf, size_t n, int i) {
    return snprintf(buf, n, "{\"pid\":%05d,\"created\":\"2025-01-01 00:00:00\",\"host\":\"h%04d\"}",
                    i % 100000, i % 10000);
}

static void deadline_ts(struct timespec *ts, int64_t ns_from_now) {
    clock_gettime(CLOCK_REALTIME, ts);
    int64_t t = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + ns_from_now;
    ts->tv_sec = t / 1000000000LL;
    ts->tv_nsec = t % 1000000000LL;
}

/* ---- four-letter words ---- */

/* Sends `cmd` to the server and returns what it answers (malloc'ed), or NULL if it does not
 * within `timeout_ms` (a server that is still starting can accept and never answer). */
static char *fourlw(const char *cmd, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, cmd, 4) != 4) {
        close(fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    return buf;
}

/* Packets the server received on session `sid`'s connection (`cons` recved), or -1. */
static long cons_recved(int64_t sid) {
    char *out = fourlw("cons", 2000);
    if (!out) return -1;
    char key[64];
    snprintf(key, sizeof key, "sid=0x%llx,", (unsigned long long)sid);
    long v = -1;
    char *p = strstr(out, key);
    if (p) {
        char *line = p;
        while (line > out && line[-1] != '\n') line--;
        char *r = strstr(line, "recved=");
        if (r && r < p) v = atol(r + 7);
    }
    free(out);
    return v;
}

/* Waits until the session's count stops moving (300 ms without a change) and returns it. */
static long cons_settled(int64_t sid) {
    long last = cons_recved(sid);
    for (int quiet = 0; quiet < 3;) {
        sleep_ms(100);
        long v = cons_recved(sid);
        quiet = v == last ? quiet + 1 : 0;
        last = v;
    }
    return last;
}

static int server_ready(void) {
    char *out = fourlw("srvr", 50);
    int ok = out && strstr(out, "Mode:") != NULL;
    free(out);
    return ok;
}

/* ---- the ZooKeeper C client ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int connected;
    int64_t t_connected; /* last ZOO_CONNECTED_STATE */
} zstate_t;

static void global_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)path;
    int64_t t = now_ns();
    zstate_t *s = ctx;
    if (type != ZOO_SESSION_EVENT) return;
    pthread_mutex_lock(&s->mu);
    s->connected = state == ZOO_CONNECTED_STATE;
    if (s->connected) s->t_connected = t;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static zhandle_t *zk_open(zstate_t **state_out) {
    zstate_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    zhandle_t *zh = zookeeper_init(g_connect, global_watcher, SESSION_MS, 0, s, 0);
    if (!zh) die("zookeeper_init failed");
    struct timespec dl;
    deadline_ts(&dl, WAIT_NS);
    pthread_mutex_lock(&s->mu);
    while (!s->connected)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) die("C client: no session");
    pthread_mutex_unlock(&s->mu);
    if (state_out) *state_out = s;
    return zh;
}

/* Counts completions of pipelined requests. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, failed;
} counter_t;

static void counter_init(counter_t *c) {
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->done = c->failed = 0;
}

static void counter_add(counter_t *c, int ok) {
    pthread_mutex_lock(&c->mu);
    c->done++;
    if (!ok) c->failed++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void counter_wait(counter_t *c, int n) {
    struct timespec dl;
    deadline_ts(&dl, WAIT_NS);
    pthread_mutex_lock(&c->mu);
    while (c->done < n)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) die("requests not answered");
    pthread_mutex_unlock(&c->mu);
}

static void create_done(int rc, const char *value, const void *data) {
    (void)value;
    counter_add((counter_t *)data, rc == ZOK || rc == ZNODEEXISTS);
}

static void void_done(int rc, const void *data) {
    counter_add((counter_t *)data, rc == ZOK || rc == ZNONODE);
}

static void data_done(int rc, const char *value, int len, const struct Stat *st, const void *data) {
    (void)value;
    (void)len;
    (void)st;
    counter_add((counter_t *)data, rc == ZOK);
}

/* Creates `path` and its missing ancestors as persistent nodes with no data. */
static void zk_mkdirs(zhandle_t *zh, const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            int rc = zoo_create(zh, buf, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
            if (rc != ZOK && rc != ZNODEEXISTS) die("create %s: %s", buf, zerror(rc));
            *p = c;
            if (!c) break;
        }
    }
}

/* ---- a names+data cache on the C client (what a registry client has to keep) ---- */

typedef struct {
    char *name;
    char *data;
    int len;
    int has; /* data read */
} kid_t;

typedef struct view view_t;
struct view {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t t_update; /* entry time of the callback that made the latest state */
    int loaded;
    int keep_json;   /* ndsr: keep a copy of the document to look into */
    int diffs;       /* ndsr: `json` is the latest diff (ndsr_on_diff), not the document */
    char *json;      /* ndsr: the latest document */
    zhandle_t *zh;   /* zkc */
    char path[256];
    kid_t *kids; /* zkc: sorted by name */
    int n;
};

static view_t *view_new(const char *path) {
    view_t *v = calloc(1, sizeof *v);
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    snprintf(v->path, sizeof v->path, "%s", path);
    return v;
}

static int kid_cmp(const void *a, const void *b) {
    return strcmp(((const kid_t *)a)->name, ((const kid_t *)b)->name);
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static kid_t *view_find(view_t *v, const char *name) {
    kid_t key = {(char *)name, NULL, 0, 0};
    return bsearch(&key, v->kids, (size_t)v->n, sizeof(kid_t), kid_cmp);
}

static int view_complete(view_t *v) {
    for (int i = 0; i < v->n; i++)
        if (!v->kids[i].has) return 0;
    return 1;
}

static void zv_children_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
static void zv_data_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);

typedef struct {
    view_t *v;
    char name[];
} kidreq_t;

static void zv_data_done(int rc, const char *value, int len, const struct Stat *st, const void *data) {
    (void)st;
    int64_t t = now_ns();
    kidreq_t *req = (kidreq_t *)data;
    view_t *v = req->v;
    pthread_mutex_lock(&v->mu);
    kid_t *k = rc == ZOK ? view_find(v, req->name) : NULL;
    if (k) {
        free(k->data);
        k->data = malloc((size_t)(len > 0 ? len : 1));
        if (len > 0) memcpy(k->data, value, (size_t)len);
        k->len = len;
        k->has = 1;
        if (view_complete(v)) {
            v->loaded = 1;
            v->t_update = t;
            pthread_cond_broadcast(&v->cv);
        }
    }
    pthread_mutex_unlock(&v->mu);
    free(req);
}

static void zv_read_kid(view_t *v, const char *name) {
    size_t nl = strlen(name);
    kidreq_t *req = malloc(sizeof *req + nl + 1);
    req->v = v;
    memcpy(req->name, name, nl + 1);
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", v->path, name);
    int rc = zoo_awget(v->zh, p, zv_data_watcher, v, zv_data_done, req);
    if (rc != ZOK) free(req);
}

static void zv_children_done(int rc, const struct String_vector *sv, const void *data) {
    int64_t t = now_ns();
    view_t *v = (view_t *)data;
    if (rc != ZOK) return;
    char **names = malloc(sizeof(char *) * (size_t)(sv->count + 1));
    for (int i = 0; i < sv->count; i++) names[i] = sv->data[i];
    qsort(names, (size_t)sv->count, sizeof(char *), str_cmp);
    pthread_mutex_lock(&v->mu);
    /* Merge the sorted old list with the sorted new names: keep, add, drop. */
    kid_t *next = malloc(sizeof(kid_t) * (size_t)(sv->count + 1));
    int i = 0, j = 0, m = 0;
    char **added = malloc(sizeof(char *) * (size_t)(sv->count + 1));
    int nadded = 0;
    while (j < sv->count) {
        int c = i < v->n ? strcmp(v->kids[i].name, names[j]) : 1;
        if (c < 0) { /* removed */
            free(v->kids[i].name);
            free(v->kids[i].data);
            i++;
        } else if (c == 0) {
            next[m++] = v->kids[i++];
            j++;
        } else {
            next[m] = (kid_t){strdup(names[j]), NULL, 0, 0};
            added[nadded++] = next[m].name;
            m++;
            j++;
        }
    }
    for (; i < v->n; i++) {
        free(v->kids[i].name);
        free(v->kids[i].data);
    }
    free(v->kids);
    v->kids = next;
    v->n = m;
    if (nadded == 0) {
        v->loaded = 1;
        v->t_update = t;
        pthread_cond_broadcast(&v->cv);
    }
    /* Names are copied before the lock is released: the array may change meanwhile. */
    char **copies = malloc(sizeof(char *) * (size_t)(nadded + 1));
    for (int a = 0; a < nadded; a++) copies[a] = strdup(added[a]);
    pthread_mutex_unlock(&v->mu);
    for (int a = 0; a < nadded; a++) {
        zv_read_kid(v, copies[a]);
        free(copies[a]);
    }
    free(copies);
    free(added);
    free(names);
}

static void zv_list(view_t *v) {
    int rc = zoo_awget_children(v->zh, v->path, zv_children_watcher, v, zv_children_done, v);
    if (rc != ZOK) die("awget_children: %s", zerror(rc));
}

static void zv_children_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)state;
    (void)path;
    if (type == ZOO_CHILD_EVENT) zv_list((view_t *)ctx);
}

static void zv_data_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)state;
    view_t *v = ctx;
    size_t pl = strlen(v->path);
    /* A child's data changed: read it again (and watch it again). */
    if (type == ZOO_CHANGED_EVENT && strncmp(path, v->path, pl) == 0 && path[pl] == '/')
        zv_read_kid(v, path + pl + 1);
}

/* ---- the clients under test, behind one interface ---- */

typedef struct {
    int ndsr; /* 1: libndsr, 0: the C client */
    zhandle_t *zh;
    zstate_t *zs;
    ndsr_t *h;
    /* ndsr: connection state, as its state callback reports it */
    pthread_mutex_t mu;
    int state;
    int64_t t_connected;
} client_t;

static void ndsr_check(int rc, const char *what) {
    if (rc < 0) die("%s: %s (%s)", what, ndsr_status_str(rc), ndsr_last_error());
}

static void on_state(void *ud, int state) {
    int64_t t = now_ns();
    client_t *c = ud;
    pthread_mutex_lock(&c->mu);
    c->state = state;
    if (state == NDSR_STATE_CONNECTED) c->t_connected = t;
    pthread_mutex_unlock(&c->mu);
}

static client_t *cl_open(const char *kind) {
    client_t *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    if (strcmp(kind, "ndsr") == 0) {
        c->ndsr = 1;
        ndsr_options_t *o;
        ndsr_check(ndsr_options_new(&o), "options");
        char ms[16];
        snprintf(ms, sizeof ms, "%d", SESSION_MS);
        ndsr_check(ndsr_options_set(o, "timeout_ms", ms), "timeout_ms");
        ndsr_check(ndsr_open(g_connect, o, &c->h), "open");
        ndsr_options_free(o);
        ndsr_check(ndsr_on_state(c->h, on_state, c, NULL, NULL), "on_state");
    } else if (strcmp(kind, "zkc") == 0) {
        c->zh = zk_open(&c->zs);
    } else {
        die("unknown client %s", kind);
    }
    return c;
}

static void print_log(void *userdata, int level, const char *message) {
    (void)userdata;
    fprintf(stderr, "%.3f L%d %s\n", (double)now_ns() / 1e6, level, message);
}

static void cl_close(client_t *c) {
    if (c->ndsr) ndsr_close(c->h);
    else zookeeper_close(c->zh);
}

static int64_t cl_session(client_t *c) {
    if (!c->ndsr) return zoo_client_id(c->zh)->client_id;
    int64_t sid = 0;
    ndsr_check(ndsr_session_id(c->h, &sid), "session_id");
    return sid;
}

static int64_t cl_connected_at(client_t *c) {
    if (!c->ndsr) {
        pthread_mutex_lock(&c->zs->mu);
        int64_t t = c->zs->connected ? c->zs->t_connected : 0;
        pthread_mutex_unlock(&c->zs->mu);
        return t;
    }
    pthread_mutex_lock(&c->mu);
    int64_t t = c->state == NDSR_STATE_CONNECTED ? c->t_connected : 0;
    pthread_mutex_unlock(&c->mu);
    return t;
}

static void on_change(void *ud, const char *path, const char *json, size_t len) {
    (void)path;
    int64_t t = now_ns();
    view_t *v = ud;
    pthread_mutex_lock(&v->mu);
    if (v->keep_json) {
        free(v->json);
        v->json = strndup(json, len);
    }
    v->loaded = 1;
    v->t_update = t;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

/* Watches `path` with names+data and returns once the first complete view exists. */
static view_t *cl_watch(client_t *c, const char *path, int keep_json) {
    view_t *v = view_new(path);
    v->keep_json = keep_json;
    if (c->ndsr) {
        ndsr_check(ndsr_on_change(c->h, path, on_change, v, NULL, NULL), "on_change");
    } else {
        v->zh = c->zh;
        zv_list(v);
    }
    struct timespec dl;
    deadline_ts(&dl, WAIT_NS);
    pthread_mutex_lock(&v->mu);
    while (!v->loaded)
        if (pthread_cond_timedwait(&v->cv, &v->mu, &dl) == ETIMEDOUT) die("%s not loaded", path);
    pthread_mutex_unlock(&v->mu);
    return v;
}

/* Watches `path` through diffs (ndsr_on_diff): the view keeps the latest diff. */
static view_t *cl_watch_diffs(client_t *c, const char *path) {
    view_t *v = view_new(path);
    v->keep_json = 1;
    v->diffs = 1;
    ndsr_check(ndsr_on_diff(c->h, path, on_change, v, NULL, NULL), "on_diff");
    struct timespec dl;
    deadline_ts(&dl, WAIT_NS);
    pthread_mutex_lock(&v->mu);
    while (!v->loaded)
        if (pthread_cond_timedwait(&v->cv, &v->mu, &dl) == ETIMEDOUT) die("%s not loaded", path);
    pthread_mutex_unlock(&v->mu);
    return v;
}

/* 1 when the latest diff has `name` among its "added" (present=1) or "removed" (present=0)
 * children. Called with v->mu held. */
static int diff_says(view_t *v, const char *name, int present) {
    if (!v->json) return 0;
    const char *from = strstr(v->json, present ? "\"added\":{" : "\"removed\":{");
    const char *to = from ? strstr(from, present ? "\"removed\":{" : "\"changed\":{") : NULL;
    char pat[300];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *hit = from ? strstr(from, pat) : NULL;
    return hit && to && hit < to;
}

/* 1 when the view holds `name` with its data. Called with v->mu held. */
static int view_has(view_t *v, const char *name) {
    if (!v->zh) {
        if (!v->json) return 0;
        const char *kids = strstr(v->json, "\"children\":{");
        if (!kids) return 0;
        char pat[300];
        snprintf(pat, sizeof pat, "\"%s\":{", name);
        return strstr(kids, pat) != NULL;
    }
    kid_t *k = view_find(v, name);
    return k && k->has;
}

/* Waits until the view holds `name` with data (present=1) or not at all (present=0); returns
 * the entry time of the callback that made it so, or 0 on timeout. */
static int64_t view_wait(view_t *v, const char *name, int present, int64_t timeout_ns) {
    struct timespec dl;
    deadline_ts(&dl, timeout_ns);
    int64_t t = 0;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        int has = v->diffs ? diff_says(v, name, 1) : view_has(v, name);
        int gone = v->diffs ? diff_says(v, name, 0) : (!has && (v->zh ? view_find(v, name) == NULL : 1));
        if (present ? has : gone) {
            t = v->t_update;
            break;
        }
        if (pthread_cond_timedwait(&v->cv, &v->mu, &dl) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&v->mu);
    return t;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* ---- tree building ---- */

static void cmd_setup(const char *path, int npar, int nchild) {
    zhandle_t *zh = zk_open(NULL);
    zk_mkdirs(zh, path);
    counter_t c;
    counter_init(&c);
    int sent = 0;
    char p[1100], d[128];
    for (int a = 0; a < (npar ? npar : 1); a++) {
        char parent[512];
        if (npar) {
            snprintf(parent, sizeof parent, "%s/p%03d", path, a);
            zoo_acreate(zh, parent, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, create_done, &c);
            sent++;
        } else {
            snprintf(parent, sizeof parent, "%s", path);
        }
        for (int i = 0; i < nchild; i++) {
            snprintf(p, sizeof p, "%s/c%04d", parent, i);
            int len = child_data(d, sizeof d, i);
            zoo_acreate(zh, p, d, len, &ZOO_OPEN_ACL_UNSAFE, 0, create_done, &c);
            sent++;
        }
    }
    counter_wait(&c, sent);
    if (c.failed) die("setup: %d creates failed", c.failed);
    zookeeper_close(zh);
}

/* Deletes the tree under `path` level by level, each level's deletes pipelined. */
static void rmr(zhandle_t *zh, const char *path) {
    struct String_vector sv;
    if (zoo_get_children(zh, path, 0, &sv) != ZOK) return;
    counter_t c;
    counter_init(&c);
    char p[1100];
    for (int i = 0; i < sv.count; i++) {
        snprintf(p, sizeof p, "%s/%s", strcmp(path, "/") ? path : "", sv.data[i]);
        struct Stat st;
        if (zoo_exists(zh, p, 0, &st) == ZOK && st.numChildren > 0) rmr(zh, p);
    }
    for (int i = 0; i < sv.count; i++) {
        snprintf(p, sizeof p, "%s/%s", path, sv.data[i]);
        zoo_adelete(zh, p, -1, void_done, &c);
    }
    counter_wait(&c, sv.count);
    deallocate_String_vector(&sv);
}

static void cmd_rmr(const char *path) {
    zhandle_t *zh = zk_open(NULL);
    rmr(zh, path);
    zoo_delete(zh, path, -1);
    zookeeper_close(zh);
}

/* ---- workloads ---- */

/* User and system CPU of the process between two getrusage(RUSAGE_SELF) readings, in µs. */
static double cpu_us_between(const struct rusage *a, const struct rusage *b) {
    return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec + b->ru_stime.tv_sec - a->ru_stime.tv_sec) * 1e6 +
           (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec + b->ru_stime.tv_usec - a->ru_stime.tv_usec);
}

/* Registers ephemeral node `parent`/n<i> with a blocking call of client c: libndsr's
 * ndsr_set_node, or the C client's zoo_create with the same kind of data. */
static void register_one(client_t *c, const char *parent, int i) {
    char p[600];
    snprintf(p, sizeof p, "%s/n%04d", parent, i);
    if (c->ndsr) {
        char hd[32];
        snprintf(hd, sizeof hd, "{\"host\":\"h%04d\"}", i % 10000);
        ndsr_check(ndsr_set_node(c->h, p, hd), "set_node");
    } else {
        char d[128];
        int len = child_data(d, sizeof d, i);
        int rc = zoo_create(c->zh, p, d, len, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
        if (rc != ZOK) die("create: %s", zerror(rc));
    }
}

static double clock_us(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The CPU the process's threads other than the calling one have used so far, in µs: taken
 * around a wait, what the client's own threads did meanwhile, without this thread's polling. */
static double others_cpu_us(void) {
    return clock_us(CLOCK_PROCESS_CPUTIME_ID) - clock_us(CLOCK_THREAD_CPUTIME_ID);
}

/* The whole machine's count, over every CPU, of entries into a cpuidle state and of wake-up
 * IPIs (rescheduling and function-call interrupts, which is how a thread woken onto a halted CPU
 * gets it going): in a virtual machine each is a VM exit, and W1's rate turns on them (see the
 * README). The server's share is included. -1 where /sys or /proc does not say. */
static long long idle_entries(void) {
    long long sum = -1;
    char f[128];
    for (int cpu = 0;; cpu++) {
        int st = 0;
        for (;; st++) {
            snprintf(f, sizeof f, "/sys/devices/system/cpu/cpu%d/cpuidle/state%d/usage", cpu, st);
            FILE *fp = fopen(f, "r");
            if (!fp) break;
            long long v;
            if (fscanf(fp, "%lld", &v) == 1) sum = (sum < 0 ? 0 : sum) + v;
            fclose(fp);
        }
        if (st == 0) return sum; /* past the last CPU (or no cpuidle) */
    }
}

static long long wake_ipis(void) {
    FILE *fp = fopen("/proc/interrupts", "r");
    if (!fp) return -1;
    long long sum = -1;
    char line[4096];
    while (fgets(line, sizeof line, fp)) {
        char *q = line + strspn(line, " ");
        if (strncmp(q, "RES:", 4) != 0 && strncmp(q, "CAL:", 4) != 0) continue;
        char *end;
        for (q += 4;; q = end) {
            long long v = strtoll(q, &end, 10);
            if (end == q) break;
            sum = (sum < 0 ? 0 : sum) + v;
        }
    }
    fclose(fp);
    return sum;
}

#define W1_OPS 1000

/* W1 with both clients in this process, in alternating blocks of `block` blocking
 * registrations (ABBA order; W1_OPS in all for each; 50 unless given): the machine's speed drifts over seconds on a shared
 * host, and blocks a few tens of milliseconds long see the same machine for both clients. After
 * each libndsr block the driver waits (untimed) until the server has seen libndsr's deferred
 * requests (the watches, sent once the handle's writes pause), so that they do not land in the
 * C client's next block; their CPU is reported as deferred_cpu_us_per_op. Prints
 * {"ndsr":{...},"zkc":{...}}. */
static void w1_mixed(const char *prefix, int block) {
    if (block <= 0 || W1_OPS % block != 0) die("w1mixed: the block size must divide %d", W1_OPS);
    client_t *cl[2] = {cl_open("ndsr"), cl_open("zkc")};
    const char *names[2] = {"ndsr", "zkc"};
    zhandle_t *zh = zk_open(NULL); /* makes the parents, outside the clients under test */
    char parent[2][512];
    int64_t sid[2];
    long r0[2];
    double secs[2] = {0, 0}, cpu[2] = {0, 0}, deferred_cpu = 0;
    long vcsw[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        snprintf(parent[k], sizeof parent[k], "%s/%s/sync", prefix, names[k]);
        zk_mkdirs(zh, parent[k]);
        sid[k] = cl_session(cl[k]);
        r0[k] = cons_settled(sid[k]);
    }
    for (int b = 0; b < W1_OPS / block; b++) {
        for (int j = 0; j < 2; j++) {
            int k = (b % 2 == 0) ? j : 1 - j;
            struct rusage u0, u1;
            getrusage(RUSAGE_SELF, &u0);
            int64_t t0 = now_ns();
            for (int i = b * block; i < (b + 1) * block; i++) register_one(cl[k], parent[k], i);
            secs[k] += (double)(now_ns() - t0) / 1e9;
            getrusage(RUSAGE_SELF, &u1);
            cpu[k] += cpu_us_between(&u0, &u1);
            vcsw[k] += u1.ru_nvcsw - u0.ru_nvcsw;
            if (!cl[k]->ndsr) continue;
            /* libndsr's deferred watches: 2 requests per registration in all. */
            double o0 = others_cpu_us();
            long want = r0[k] + 2L * (b + 1) * block;
            int64_t deadline = now_ns() + WAIT_NS;
            while (cons_recved(sid[k]) < want) {
                if (now_ns() > deadline) die("w1: libndsr's watches were not sent");
                sleep_ms(2);
            }
            deferred_cpu += others_cpu_us() - o0;
        }
    }
    printf("{");
    for (int k = 0; k < 2; k++) {
        long r1 = cons_settled(sid[k]);
        printf("%s\"%s\":{\"ops_per_s\":%.1f,\"requests_per_op\":%.3f,\"cpu_us_per_op\":%.1f,"
               "\"voluntary_switches_per_op\":%.2f",
               k ? "," : "", names[k], W1_OPS / secs[k], (double)(r1 - r0[k]) / W1_OPS, cpu[k] / W1_OPS,
               (double)vcsw[k] / W1_OPS);
        if (cl[k]->ndsr) printf(",\"deferred_cpu_us_per_op\":%.1f", deferred_cpu / W1_OPS);
        printf("}");
    }
    printf("}\n");
    zookeeper_close(zh);
    for (int k = 0; k < 2; k++) cl_close(cl[k]);
}

static void w1(const char *kind, const char *prefix) {
    client_t *c = cl_open(kind);
    zhandle_t *zh = zk_open(NULL); /* makes the parents, outside the client under test */
    char parent[512], p[600], d[128];
    snprintf(parent, sizeof parent, "%s/sync", prefix);
    zk_mkdirs(zh, parent);
    int64_t sid = cl_session(c);
    long r0 = cons_settled(sid);
    /* The whole process's CPU and voluntary context switches (thread hand-offs) per register. */
    struct rusage u0, u1;
    long long idle0 = idle_entries(), ipi0 = wake_ipis(); /* outside the process CPU counted */
    getrusage(RUSAGE_SELF, &u0);
    int64_t t0 = now_ns();
    for (int i = 0; i < W1_OPS; i++) register_one(c, parent, i);
    double secs = (double)(now_ns() - t0) / 1e9;
    getrusage(RUSAGE_SELF, &u1);
    long long idle1 = idle_entries(), ipi1 = wake_ipis();
    double cpu_us = cpu_us_between(&u0, &u1);
    /* The CPU until the server has seen every request: a registration's whole cost, with any
     * work the client deferred (watches) past the timed loop. */
    double o0 = others_cpu_us();
    long r1 = cons_settled(sid);
    double total_cpu_us = cpu_us + others_cpu_us() - o0;
    double pipelined = -1;
    if (!c->ndsr) {
        snprintf(parent, sizeof parent, "%s/async", prefix);
        zk_mkdirs(zh, parent);
        counter_t cnt;
        counter_init(&cnt);
        t0 = now_ns();
        for (int i = 0; i < W1_OPS; i++) {
            snprintf(p, sizeof p, "%s/n%04d", parent, i);
            int len = child_data(d, sizeof d, i);
            zoo_acreate(c->zh, p, d, len, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, create_done, &cnt);
        }
        counter_wait(&cnt, W1_OPS);
        pipelined = W1_OPS / ((double)(now_ns() - t0) / 1e9);
    }
    printf("{\"ops_per_s\":%.1f,\"requests_per_op\":%.3f,\"cpu_us_per_op\":%.1f,\"settled_cpu_us_per_op\":%.1f,"
           "\"voluntary_switches_per_op\":%.2f",
           W1_OPS / secs, (double)(r1 - r0) / W1_OPS, cpu_us / W1_OPS, total_cpu_us / W1_OPS,
           (double)(u1.ru_nvcsw - u0.ru_nvcsw) / W1_OPS);
    if (idle0 >= 0) printf(",\"machine_idle_entries_per_op\":%.2f", (double)(idle1 - idle0) / W1_OPS);
    if (ipi0 >= 0) printf(",\"machine_wake_ipis_per_op\":%.2f", (double)(ipi1 - ipi0) / W1_OPS);
    if (pipelined > 0) printf(",\"async_pipelined_ops_per_s\":%.1f", pipelined);
    printf("}\n");
    zookeeper_close(zh);
    cl_close(c);
}

static void w2(const char *kind, const char *list) {
    client_t *c = cl_open(kind);
    int64_t t0;
    if (c->ndsr) {
        /* The first get of a path reads the node, its children and every child's data
         * (pipelined), and leaves it all watched. */
        char *json = NULL;
        size_t len = 0;
        t0 = now_ns();
        ndsr_check(ndsr_get_json(c->h, list, &json, &len), "get_json");
        double ms = (double)(now_ns() - t0) / 1e6;
        if (!strstr(json, "\"c0999\":{")) die("cold get incomplete");
        ndsr_string_free(json);
        printf("{\"names_data_pipelined_ms\":%.3f}\n", ms);
        cl_close(c);
        return;
    }
    struct String_vector sv;
    t0 = now_ns();
    int rc = zoo_wget_children(c->zh, list, NULL, NULL, &sv);
    double names_ms = (double)(now_ns() - t0) / 1e6;
    if (rc != ZOK || sv.count != 1000) die("get_children: %s (%d)", zerror(rc), sv.count);
    deallocate_String_vector(&sv);

    char p[600];
    t0 = now_ns();
    zoo_get_children(c->zh, list, 0, &sv);
    counter_t cnt;
    counter_init(&cnt);
    for (int i = 0; i < sv.count; i++) {
        snprintf(p, sizeof p, "%s/%s", list, sv.data[i]);
        zoo_aget(c->zh, p, 0, data_done, &cnt);
    }
    counter_wait(&cnt, sv.count);
    double pipelined_ms = (double)(now_ns() - t0) / 1e6;
    deallocate_String_vector(&sv);

    t0 = now_ns();
    zoo_get_children(c->zh, list, 0, &sv);
    for (int i = 0; i < sv.count; i++) {
        char buf[256];
        int len = sizeof buf;
        snprintf(p, sizeof p, "%s/%s", list, sv.data[i]);
        if (zoo_get(c->zh, p, 0, buf, &len, NULL) != ZOK) die("get");
    }
    double sequential_ms = (double)(now_ns() - t0) / 1e6;
    deallocate_String_vector(&sv);

    t0 = now_ns();
    view_t *v = cl_watch(c, list, 0);
    double cache_ms = (double)(now_ns() - t0) / 1e6;
    if (v->n != 1000) die("cache holds %d children", v->n);
    printf("{\"names_ms\":%.3f,\"names_data_pipelined_ms\":%.3f,\"names_data_sequential_ms\":%.3f,"
           "\"cache_cold_load_ms\":%.3f}\n",
           names_ms, pipelined_ms, sequential_ms, cache_ms);
    cl_close(c);
}

/* ns per cached read of `path`'s document, over one slice. */
static double warm_read_slice(client_t *c, view_t *v, const char *path) {
    volatile size_t sink = 0;
    double ns;
    if (c->ndsr) {
        TIME_SLICE(ns, {
            char *json;
            size_t len;
            if (ndsr_get_json(c->h, path, &json, &len) != NDSR_OK) die("get_json");
            sink += len;
            ndsr_string_free(json);
        });
    } else {
        TIME_SLICE(ns, {
            pthread_mutex_lock(&v->mu);
            sink += (size_t)v->n + (size_t)(uintptr_t)v->kids;
            pthread_mutex_unlock(&v->mu);
        });
    }
    (void)sink;
    return ns;
}

/* ns per cached read of `path`'s document: the median of SLICES slices. */
static double warm_read(client_t *c, view_t *v, const char *path) {
    double ns[SLICES];
    for (int k = 0; k < SLICES; k++) ns[k] = warm_read_slice(c, v, path);
    return median_of(ns, SLICES);
}

static void w3(const char *kind, const char *big, const char *small, int reps) {
    client_t *c = cl_open(kind);
    view_t *vb = NULL, *vs = NULL;
    if (c->ndsr) {
        char *json;
        ndsr_check(ndsr_get_json(c->h, big, &json, NULL), "get_json");
        ndsr_string_free(json);
        ndsr_check(ndsr_get_json(c->h, small, &json, NULL), "get_json");
        ndsr_string_free(json);
    } else {
        vb = cl_watch(c, big, 0);
        vs = cl_watch(c, small, 0);
    }
    printf("{\"reps_ns_per_op\":[");
    for (int r = 0; r < reps; r++) printf("%s%.1f", r ? "," : "", warm_read(c, vb, big));
    printf("],\"reps_ns_per_op_10_children\":[");
    for (int r = 0; r < reps; r++) printf("%s%.1f", r ? "," : "", warm_read(c, vs, small));
    printf("]}\n");
    cl_close(c);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static int64_t pct(const int64_t *s, int n, double p) {
    int k = (int)((p / 100.0) * n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return s[k - 1];
}

/* W4 and W5: `cycles` add+remove cycles under `list` by a second session; latency from the
 * write's return to the watcher's callback (W7: libndsr's diff callback). */
static void churn(const char *kind, const char *list, const char *tag, int cycles, int diffs) {
    client_t *c = cl_open(kind);
    zhandle_t *writer = zk_open(NULL);
    view_t *v = diffs ? cl_watch_diffs(c, list) : cl_watch(c, list, 1);
    int64_t sid = cl_session(c);
    long r0 = cons_settled(sid);
    int n = 0;
    int64_t *lat = malloc(sizeof(int64_t) * (size_t)cycles * 2);
    int64_t *from_call = malloc(sizeof(int64_t) * (size_t)cycles * 2);
    char p[600], name[64], d[128];
    for (int i = 0; i < cycles; i++) {
        snprintf(name, sizeof name, "%s-%d", tag, i);
        snprintf(p, sizeof p, "%s/%s", list, name);
        int len = child_data(d, sizeof d, i);
        int64_t t_call = now_ns();
        int rc = zoo_create(writer, p, d, len, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
        int64_t t_ret = now_ns();
        if (rc != ZOK) die("create: %s", zerror(rc));
        int64_t t_cb = view_wait(v, name, 1, WAIT_NS);
        if (!t_cb) die("change not seen: %s added", name);
        lat[n] = t_cb - t_ret;
        from_call[n++] = t_cb - t_call;
        t_call = now_ns();
        rc = zoo_delete(writer, p, -1);
        t_ret = now_ns();
        if (rc != ZOK) die("delete: %s", zerror(rc));
        t_cb = view_wait(v, name, 0, WAIT_NS);
        if (!t_cb) die("change not seen: %s removed", name);
        lat[n] = t_cb - t_ret;
        from_call[n++] = t_cb - t_call;
    }
    long r1 = cons_settled(sid);
    qsort(lat, (size_t)n, sizeof(int64_t), cmp_i64);
    qsort(from_call, (size_t)n, sizeof(int64_t), cmp_i64);
    printf("{\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"min_us\":%.1f,\"p50_from_call_us\":%.1f,"
           "\"server_requests_per_change\":%.3f}\n",
           pct(lat, n, 50) / 1e3, pct(lat, n, 99) / 1e3, lat[n - 1] / 1e3, lat[0] / 1e3,
           pct(from_call, n, 50) / 1e3, (double)(r1 - r0) / n);
    zookeeper_close(writer);
    cl_close(c);
}

static void w6(const char *kind, const char *prefix) {
    const char *zksh = getenv("BENCH_ZKSH"), *base = getenv("BENCH_BASE");
    if (!zksh || !base) die("W6 needs BENCH_ZKSH and BENCH_BASE");
    client_t *c = cl_open(kind);
    view_t *views[100];
    char p[600], d[128];
    for (int i = 0; i < 100; i++) {
        snprintf(p, sizeof p, "%s/p%03d", prefix, i);
        views[i] = cl_watch(c, p, 1);
    }
    sleep_ms(300);
    int64_t sid = cl_session(c);
    char cmd[1200];
    int64_t t_stop0 = now_ns();
    snprintf(cmd, sizeof cmd, "'%s' '%s' stop 1 && '%s' '%s' start 1", zksh, base, zksh, base);
    if (system(cmd) != 0) die("restarting the server failed");
    int64_t t_ready;
    for (;;) {
        if (server_ready()) {
            t_ready = now_ns();
            break;
        }
        if (now_ns() - t_stop0 > 60LL * 1000000000LL) die("server not back");
        sleep_ms(5);
    }
    zhandle_t *writer = zk_open(NULL);
    snprintf(p, sizeof p, "%s/p000/new", prefix);
    int len = child_data(d, sizeof d, 0);
    if (zoo_create(writer, p, d, len, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0) != ZOK) die("create new");
    int64_t t_seen = view_wait(views[0], "new", 1, WAIT_NS);
    if (!t_seen) die("change in p000 not seen");
    int64_t t_conn = 0;
    while (!(t_conn = cl_connected_at(c)) || t_conn < t_stop0) {
        if (now_ns() - t_ready > WAIT_NS) die("not reconnected");
        sleep_ms(1);
    }
    if (cl_session(c) != sid) die("the session did not survive the restart");
    sleep_ms(1000);
    long resync = cons_recved(sid);
    int64_t t_verify = now_ns();
    for (int i = 1; i < 100; i++) {
        snprintf(p, sizeof p, "%s/p%03d/new", prefix, i);
        if (zoo_create(writer, p, d, len, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0) != ZOK) die("create");
    }
    int all = 1;
    for (int i = 1; i < 100; i++)
        if (!view_wait(views[i], "new", 1, WAIT_NS - (now_ns() - t_verify))) all = 0;
    double verify_ms = (double)(now_ns() - t_verify) / 1e6;
    printf("{\"reconnect_ms\":%.1f,\"change_seen_ms\":%.1f,\"server_requests_resync\":%ld,"
           "\"all_rearmed\":%s,\"verify_99_changes_ms\":%.1f,\"down_ms\":%.1f}\n",
           (double)(t_conn - t_ready) / 1e6, (double)(t_seen - t_ready) / 1e6, resync,
           all ? "true" : "false", verify_ms, (double)(t_ready - t_stop0) / 1e6);
    zookeeper_close(writer);
    cl_close(c);
}

/* ns per snapshot taken, counted and released, over one slice. */
static double snapshot_slice(ndsr_t *h, const char *path) {
    volatile size_t sink = 0;
    double ns;
    TIME_SLICE(ns, {
        ndsr_snapshot_t *s;
        if (ndsr_snapshot_get(h, path, &s) != NDSR_OK) die("snapshot_get");
        sink += ndsr_snapshot_count(s);
        ndsr_snapshot_release(s);
    });
    (void)sink;
    return ns;
}

/* ns per typed read of a child's key (an integer, or a string), child by child as a reader
 * walks a list, over one slice. */
static double typed_slice(ndsr_snapshot_t *s, int string) {
    size_t n = ndsr_snapshot_count(s), i = 0;
    volatile int64_t sink = 0;
    double ns;
    if (string) {
        TIME_SLICE(ns, {
            sink += (int64_t)(uintptr_t)ndsr_snapshot_child_str(s, i, "host");
            i = i + 1 == n ? 0 : i + 1; /* no division in the loop */
        });
    } else {
        TIME_SLICE(ns, {
            int64_t v = 0;
            if (ndsr_snapshot_child_int(s, i, "port", &v) == NDSR_OK) sink += v;
            i = i + 1 == n ? 0 : i + 1;
        });
    }
    (void)sink;
    return ns;
}

/* One W7 read figure: SLICES slices of it (kind 0: snapshots of `path`, 1: integer getter,
 * 2: string getter), each next to a slice of the C client's warm read of `ref` (W3's), the
 * order alternating. Prints "name":ns, "name_c_read_ns":ns, "name_vs_c":ratio (medians; the
 * ratio's is of the slice pairs). */
static void w7_read_figure(const char *name, int kind, ndsr_t *h, const char *path,
                           ndsr_snapshot_t *s, client_t *zkc, view_t *ref) {
    double ours[SLICES], theirs[SLICES], ratio[SLICES];
    for (int k = 0; k < SLICES; k++) {
        if (k % 2) theirs[k] = warm_read_slice(zkc, ref, ref->path);
        ours[k] = kind == 0 ? snapshot_slice(h, path) : typed_slice(s, kind == 2);
        if (k % 2 == 0) theirs[k] = warm_read_slice(zkc, ref, ref->path);
        ratio[k] = ours[k] / theirs[k];
    }
    printf("\"%s\":%.1f,\"%s_c_read_ns\":%.1f,\"%s_vs_c\":%.2f", name, median_of(ours, SLICES),
           name, median_of(theirs, SLICES), name, median_of(ratio, SLICES));
}

/* W7 (snapshots): W3's reads through ndsr_snapshot_get/release, and the typed getters on a list
 * of 10 children whose data is JSON with a string and an integer key; each figure side by side
 * with the C client's warm read (see SLICES). */
static void w7_snapshots(const char *big, const char *small, const char *typed) {
    client_t *c = cl_open("ndsr"), *zkc = cl_open("zkc");
    view_t *ref_big = cl_watch(zkc, big, 0), *ref_small = cl_watch(zkc, small, 0);
    char *json, p[600];
    ndsr_check(ndsr_get_json(c->h, big, &json, NULL), "get_json");
    ndsr_string_free(json);
    ndsr_check(ndsr_get_json(c->h, small, &json, NULL), "get_json");
    ndsr_string_free(json);
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/s%02d", typed, i);
        ndsr_check(ndsr_set_node(c->h, p, "{\"host\":\"10.1.2.3\",\"port\":8080}"), "set_node");
    }
    ndsr_snapshot_t *s = NULL;
    for (int64_t t0 = now_ns(); s == NULL || ndsr_snapshot_count(s) < 10; sleep_ms(1)) {
        ndsr_snapshot_release(s);
        ndsr_check(ndsr_snapshot_get(c->h, typed, &s), "snapshot_get");
        if (now_ns() - t0 > WAIT_NS) die("%s: the ten children never arrived", typed);
    }
    int64_t port = 0;
    ndsr_check(ndsr_snapshot_child_int(s, 3, "port", &port), "child_int");
    if (port != 8080 || strcmp(ndsr_snapshot_child_str(s, 3, "host"), "10.1.2.3") != 0) die("typed reads");
    printf("{");
    w7_read_figure("snapshot_ns_per_op", 0, c->h, big, NULL, zkc, ref_big);
    printf(",");
    w7_read_figure("snapshot_ns_per_op_10_children", 0, c->h, small, NULL, zkc, ref_small);
    printf(",");
    w7_read_figure("child_int_ns", 1, c->h, NULL, s, zkc, ref_small);
    printf(",");
    w7_read_figure("child_str_ns", 2, c->h, NULL, s, zkc, ref_small);
    printf("}\n");
    ndsr_snapshot_release(s);
    cl_close(zkc);
    cl_close(c);
}

static void m1(const char *kind, const char *prefix) {
    client_t *c = cl_open(kind);
    /* One request before the baseline, so that what a client's first request costs once per
     * process (thread stacks touched, buffers) is not counted per node. */
    if (c->ndsr) {
        char *json = NULL;
        (void)ndsr_get_json(c->h, "/m1-warm-up", &json, NULL);
        ndsr_string_free(json);
    } else {
        struct Stat st;
        (void)zoo_exists(c->zh, "/m1-warm-up", 0, &st);
    }
    sleep_ms(200);
    long before = rss_kb();
    char p[600];
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/p%03d", prefix, i);
        if (c->ndsr) {
            char *json;
            ndsr_check(ndsr_get_json(c->h, p, &json, NULL), "get_json");
            ndsr_string_free(json);
        } else {
            view_t *v = cl_watch(c, p, 0);
            if (v->n != 1000) die("%s: %d children", p, v->n);
        }
    }
    sleep_ms(300);
    long after = rss_kb();
    printf("{\"rss_delta_kb\":%ld,\"bytes_per_node\":%.1f}\n", after - before,
           (double)(after - before) * 1024.0 / 10000.0);
    cl_close(c);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_connect = getenv("BENCH_CONNECT");
    const char *port = getenv("BENCH_PORT");
    if (!g_connect || !port) die("set BENCH_CONNECT and BENCH_PORT");
    g_port = atoi(port);
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    FILE *devnull = fopen("/dev/null", "w");
    zoo_set_log_stream(devnull);
    const char *log_level = getenv("BENCH_LOG");
    if (log_level && *log_level) ndsr_check(ndsr_set_logger(print_log, NULL, atoi(log_level)), "logger");
    if (argc < 3) die("usage: driver CMD ARGS (see the top of driver.c)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "setup") == 0 && argc == 5) cmd_setup(argv[2], atoi(argv[3]), atoi(argv[4]));
    else if (strcmp(cmd, "rmr") == 0) cmd_rmr(argv[2]);
    else if (strcmp(cmd, "w1") == 0 && argc == 4) w1(argv[2], argv[3]);
    else if (strcmp(cmd, "w1mixed") == 0 && (argc == 3 || argc == 4)) w1_mixed(argv[2], argc == 4 ? atoi(argv[3]) : 50);
    else if (strcmp(cmd, "w2") == 0 && argc == 4) w2(argv[2], argv[3]);
    else if (strcmp(cmd, "w3") == 0 && argc == 6) w3(argv[2], argv[3], argv[4], atoi(argv[5]));
    else if ((strcmp(cmd, "w4") == 0 || strcmp(cmd, "w5") == 0) && argc == 6)
        churn(argv[2], argv[3], argv[4], atoi(argv[5]), 0);
    else if (strcmp(cmd, "w7diff") == 0 && argc == 5) churn("ndsr", argv[2], argv[3], atoi(argv[4]), 1);
    else if (strcmp(cmd, "w7snap") == 0 && argc == 5) w7_snapshots(argv[2], argv[3], argv[4]);
    else if (strcmp(cmd, "w6") == 0 && argc == 4) w6(argv[2], argv[3]);
    else if (strcmp(cmd, "m1") == 0 && argc == 4) m1(argv[2], argv[3]);
    else die("bad arguments for %s", cmd);
    return 0;
}
