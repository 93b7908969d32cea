/* W8: ndsr_pick. A service of 100 instances (weights 1..4); for each strategy, the time of a
 * pick on one thread (p50 of the means of batches of 64 picks), the same with 8 threads picking
 * at once while another thread adds and removes instances, and the allocations per pick
 * (counted by this program's own malloc, which the library's calls reach).
 *
 *   w8 PATH REPS        (environment: BENCH_CONNECT)
 *
 * Prints one JSON line. A separate program from driver.c so that counting allocations costs the
 * other workloads nothing. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ndsr.h"

/* ---- allocation counting: the library's malloc calls resolve to these ---- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static atomic_long allocations;

void *malloc(size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(n);
}
void *calloc(size_t k, size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(k, n);
}
void *realloc(void *p, size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    *out = __libc_memalign(align, n);
    return *out ? 0 : 12;
}
void *aligned_alloc(size_t align, size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(align, n);
}
void *memalign(size_t align, size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(align, n);
}

#define INSTANCES 100
#define BATCH 64
#define THREADS 8

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, int rc) {
    fprintf(stderr, "w8: %s: %s (%s)\n", what, ndsr_status_str(rc), ndsr_last_error());
    exit(1);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Keys for the consistent strategy (the others ignore them), made before any timing. */
static char keys[1024][16];

/* ns per pick: the median of `batches` batch means. */
static double time_picks(ndsr_picker_t *p, int batches) {
    double *means = malloc(sizeof(double) * (size_t)batches);
    char buf[64];
    size_t len;
    for (int b = 0; b < batches; b++) {
        int64_t t0 = now_ns();
        for (int i = 0; i < BATCH; i++) {
            int rc = ndsr_pick(p, keys[(b * BATCH + i) & 1023], buf, sizeof buf, &len);
            if (rc != NDSR_OK) die("pick", rc);
        }
        means[b] = (double)(now_ns() - t0) / BATCH;
    }
    qsort(means, (size_t)batches, sizeof(double), cmp_double);
    double median = means[batches / 2];
    free(means);
    return median;
}

struct runner {
    ndsr_picker_t *p;
    double ns;
};

static void *run_picks(void *arg) {
    struct runner *r = arg;
    r->ns = time_picks(r->p, 2000);
    return NULL;
}

static atomic_int stop_churn;

struct churn {
    ndsr_t *h;
    const char *path;
    long changes;
};

static void *churn(void *arg) {
    struct churn *c = arg;
    char p[512];
    for (int i = 0; !atomic_load(&stop_churn); i++) {
        snprintf(p, sizeof p, "%s/churn-%d:80", c->path, i % 4);
        int rc = (i / 4) % 2 == 0 ? ndsr_set_node(c->h, p, "{}") : ndsr_unset(c->h, p);
        if (rc < 0) die("churn", rc);
        c->changes++;
        struct timespec ts = {0, 2000000}; /* 500 changes a second */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- how soon a change reaches a picker, against an ndsr_on_change callback ---- */
struct seen {
    atomic_long at; /* when the callback first saw the probe instance (ns), 0 before */
    const char *name;
};

static void on_change(void *ud, const char *path, const char *json, size_t len) {
    struct seen *s = ud;
    (void)path;
    (void)len;
    if (atomic_load(&s->at) == 0 && strstr(json, s->name)) atomic_store(&s->at, now_ns());
}

/* p50 over `cycles` of: a second handle registers an instance with {"probe":1}; the time until
 * a picker filtered on probe=1 (spinning on this thread) first picks it, and until the callback
 * first sees it. Prints both. */
static void reach(ndsr_t *h, const char *path, int cycles) {
    ndsr_t *w;
    ndsr_options_t *o;
    ndsr_options_new(&o);
    int rc = ndsr_open(getenv("BENCH_CONNECT"), o, &w);
    ndsr_options_free(o);
    if (rc != NDSR_OK) die("open", rc);
    ndsr_options_new(&o);
    ndsr_options_set(o, "filter", "probe=1");
    ndsr_picker_t *pk;
    if ((rc = ndsr_picker_new(h, path, o, &pk)) != NDSR_OK) die("picker_new", rc);
    ndsr_options_free(o);
    double *pick_us = malloc(sizeof(double) * (size_t)cycles), *cb_us = malloc(sizeof(double) * (size_t)cycles);
    char p[512], name[64], buf[64];
    size_t len;
    for (int c = 0; c < cycles; c++) {
        snprintf(name, sizeof name, "probe-%d:1", c);
        struct seen s = {0, name};
        uint64_t sub;
        if ((rc = ndsr_on_change(h, path, on_change, &s, NULL, &sub)) != NDSR_OK) die("on_change", rc);
        snprintf(p, sizeof p, "%s/%s", path, name);
        if ((rc = ndsr_set_node(w, p, "{\"probe\":1}")) < 0) die("set_node", rc);
        int64_t t_ret = now_ns(), t_pick = 0;
        while (!t_pick || !atomic_load(&s.at)) {
            if (!t_pick && ndsr_pick(pk, NULL, buf, sizeof buf, &len) == NDSR_OK && strcmp(buf, name) == 0)
                t_pick = now_ns();
            if (now_ns() - t_ret > 10000000000LL) die("the probe never arrived", 0);
            sched_yield(); /* 2 cores: leave the server and the library room to run */
        }
        pick_us[c] = (double)(t_pick - t_ret) / 1000.0;
        cb_us[c] = (double)(atomic_load(&s.at) - t_ret) / 1000.0;
        ndsr_off(h, sub);
        if ((rc = ndsr_unset(w, p)) < 0) die("unset", rc);
    }
    qsort(pick_us, (size_t)cycles, sizeof(double), cmp_double);
    qsort(cb_us, (size_t)cycles, sizeof(double), cmp_double);
    printf(",\"change_to_pick_p50_us\":%.1f,\"change_to_callback_p50_us\":%.1f", pick_us[cycles / 2],
           cb_us[cycles / 2]);
    free(pick_us);
    free(cb_us);
    ndsr_picker_free(pk);
    ndsr_close(w);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: w8 PATH REPS\n");
        return 2;
    }
    const char *path = argv[1];
    int reps = atoi(argv[2]);
    ndsr_t *h;
    ndsr_options_t *o;
    ndsr_options_new(&o);
    int rc = ndsr_open(getenv("BENCH_CONNECT"), o, &h);
    if (rc != NDSR_OK) die("open", rc);
    char p[512], data[64];
    for (int i = 0; i < INSTANCES; i++) {
        snprintf(p, sizeof p, "%s/10.0.%d.%d:8080", path, i / 250, i % 250);
        snprintf(data, sizeof data, "{\"weight\":%d}", 1 + i % 4);
        if ((rc = ndsr_set_node(h, p, data)) < 0) die("set_node", rc);
    }
    if ((rc = ndsr_wait_for(h, path, INSTANCES, 10000)) != NDSR_OK) die("wait_for", rc);
    const char *strategies[] = {"round_robin", "random", "weighted", "consistent"};
    for (int i = 0; i < 1024; i++) snprintf(keys[i], sizeof keys[i], "user-%d", i);
    printf("{\"instances\":%d", INSTANCES);
    for (int s = 0; s < 4; s++) {
        ndsr_options_t *po;
        ndsr_options_new(&po);
        ndsr_options_set(po, "strategy", strategies[s]);
        ndsr_picker_t *pk;
        if ((rc = ndsr_picker_new(h, path, po, &pk)) != NDSR_OK) die("picker_new", rc);
        ndsr_options_free(po);
        time_picks(pk, 200); /* warm: the table and, for consistent, the buckets */
        printf(",\"reps_%s_ns\":[", strategies[s]);
        for (int r = 0; r < reps; r++) printf("%s%.1f", r ? "," : "", time_picks(pk, 20000));
        long before = atomic_load(&allocations);
        time_picks(pk, 2000);
        long allocs = atomic_load(&allocations) - before;
        printf("],\"%s_allocations_per_pick\":%.4f", strategies[s], (double)allocs / (2000.0 * BATCH));

        /* Eight threads at once while the list churns. */
        printf(",\"reps_%s_8_threads_ns\":[", strategies[s]);
        for (int r = 0; r < reps; r++) {
            struct churn c = {h, path, 0};
            pthread_t ct, t[THREADS];
            struct runner run[THREADS];
            atomic_store(&stop_churn, 0);
            pthread_create(&ct, NULL, churn, &c);
            for (int i = 0; i < THREADS; i++) {
                run[i].p = pk;
                pthread_create(&t[i], NULL, run_picks, &run[i]);
            }
            double all[THREADS];
            for (int i = 0; i < THREADS; i++) {
                pthread_join(t[i], NULL);
                all[i] = run[i].ns;
            }
            atomic_store(&stop_churn, 1);
            pthread_join(ct, NULL);
            qsort(all, THREADS, sizeof(double), cmp_double);
            printf("%s%.1f", r ? "," : "", all[THREADS / 2]);
        }
        printf("]");
        ndsr_picker_free(pk);
    }
    reach(h, path, 30);
    printf(",\"allocations_counted\":%ld}\n", atomic_load(&allocations));
    ndsr_close(h);
    return 0;
}
