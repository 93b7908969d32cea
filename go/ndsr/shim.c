#include <string.h>
#include "shim.h"

// Exported from Go (callbacks.go).
extern void ndsrGoChange(uintptr_t handle, char *path, char *json, size_t len);
extern void ndsrGoDiff(uintptr_t handle, char *path, char *json, size_t len);
extern void ndsrGoState(uintptr_t handle, int state);
extern void ndsrGoStats(uintptr_t handle, char *json, size_t len);
extern void ndsrGoFree(uintptr_t handle);
extern void ndsrGoLog(uintptr_t handle, int level, char *component, char *message);

static void change_tramp(void *ud, const char *path, const char *json, size_t len) {
    ndsrGoChange((uintptr_t)ud, (char *)path, (char *)json, len);
}
static void diff_tramp(void *ud, const char *path, const char *json, size_t len) {
    ndsrGoDiff((uintptr_t)ud, (char *)path, (char *)json, len);
}
static void state_tramp(void *ud, int state) { ndsrGoState((uintptr_t)ud, state); }
static void stats_tramp(void *ud, const char *json, size_t len) {
    ndsrGoStats((uintptr_t)ud, (char *)json, len);
}
static void free_tramp(void *ud) { ndsrGoFree((uintptr_t)ud); }

static int done(int rc, char **err) {
    if (rc < 0) *err = strdup(ndsr_last_error());
    return rc;
}

int ndsr_go_open(const char *server, char **keys, char **values, int n, ndsr_t **out, char **err) {
    ndsr_options_t *o = NULL;
    int rc = ndsr_options_new(&o);
    for (int i = 0; rc >= 0 && i < n; i++) rc = ndsr_options_set(o, keys[i], values[i]);
    if (rc >= 0) rc = ndsr_open(server, o, out);
    done(rc, err);
    ndsr_options_free(o);
    return rc;
}
int ndsr_go_set_node(ndsr_t *h, const char *p, const char *j, char **err) { return done(ndsr_set_node(h, p, j), err); }
int ndsr_go_set_data(ndsr_t *h, const char *p, const char *j, char **err) { return done(ndsr_set_data(h, p, j), err); }
int ndsr_go_unset(ndsr_t *h, const char *p, char **err) { return done(ndsr_unset(h, p), err); }
int ndsr_go_get_json(ndsr_t *h, const char *p, char **out, size_t *len, char **err) {
    return done(ndsr_get_json(h, p, out, len), err);
}
int ndsr_go_on_change(ndsr_t *h, const char *p, uintptr_t handle, uint64_t *sub, char **err) {
    return done(ndsr_on_change(h, p, change_tramp, (void *)handle, free_tramp, sub), err);
}
int ndsr_go_on_diff(ndsr_t *h, const char *p, uintptr_t handle, uint64_t *sub, char **err) {
    return done(ndsr_on_diff(h, p, diff_tramp, (void *)handle, free_tramp, sub), err);
}
int ndsr_go_snapshot_get(ndsr_t *h, const char *p, ndsr_snapshot_t **out, char **err) {
    return done(ndsr_snapshot_get(h, p, out), err);
}
int ndsr_go_snapshot_release(ndsr_snapshot_t *s, char **err) { return done(ndsr_snapshot_release(s), err); }
int ndsr_go_snapshot_child_int(const ndsr_snapshot_t *s, size_t i, const char *key, int64_t *out, char **err) {
    return done(ndsr_snapshot_child_int(s, i, key, out), err);
}
int ndsr_go_on_stats(ndsr_t *h, int interval_ms, uintptr_t handle, uint64_t *sub, char **err) {
    return done(ndsr_on_stats(h, interval_ms, stats_tramp, (void *)handle, free_tramp, sub), err);
}

int ndsr_go_on_state(ndsr_t *h, uintptr_t handle, uint64_t *sub, char **err) {
    return done(ndsr_on_state(h, state_tramp, (void *)handle, free_tramp, sub), err);
}
int ndsr_go_off(ndsr_t *h, uint64_t sub, char **err) { return done(ndsr_off(h, sub), err); }
int ndsr_go_lock_acquire(ndsr_t *h, const char *p, const char *n, int simultaneous, int64_t wait_ms,
                         ndsr_lock_t **out, char **err) {
    return done(ndsr_lock_acquire(h, p, n, simultaneous, wait_ms, out), err);
}
int ndsr_go_lock_release(ndsr_lock_t *l, char **err) { return done(ndsr_lock_release(l), err); }
int ndsr_go_registration_status(ndsr_t *h, const char *p, char **err) {
    return done(ndsr_registration_status(h, p), err);
}
int ndsr_go_get_freshness(ndsr_t *h, const char *p, int *live, int64_t *since_ms, char **err) {
    return done(ndsr_get_freshness(h, p, live, since_ms), err);
}
int ndsr_go_set_credentials(ndsr_t *h, const char *user, const char *password, char **err) {
    return done(ndsr_set_credentials(h, user, password), err);
}
int ndsr_go_stats_json(ndsr_t *h, char **out, size_t *len, char **err) {
    return done(ndsr_stats_json(h, out, len), err);
}
int ndsr_go_stats_prometheus(ndsr_t *h, char **out, size_t *len, char **err) {
    return done(ndsr_stats_prometheus(h, out, len), err);
}
int ndsr_go_session_id(ndsr_t *h, int64_t *out, char **err) { return done(ndsr_session_id(h, out), err); }
int ndsr_go_rebuild(ndsr_t *h, char **err) { return done(ndsr_rebuild(h), err); }
int ndsr_go_acquire_lock(ndsr_t *h, const char *p, const char *n, int simultaneous, int64_t wait_ms,
                         char **err) {
    return done(ndsr_acquire_lock(h, p, n, simultaneous, wait_ms), err);
}
int ndsr_go_release_lock(ndsr_t *h, const char *p, char **err) { return done(ndsr_release_lock(h, p), err); }

static void log_tramp(void *ud, int level, const char *component, const char *message) {
    ndsrGoLog((uintptr_t)ud, level, (char *)component, (char *)message);
}
// The whole line ("component: text") split back into its two parts for the Go handler.
static void log_line_tramp(void *ud, int level, const char *line) {
    const char *sep = strstr(line, ": ");
    if (!sep) {
        ndsrGoLog((uintptr_t)ud, level, "", (char *)line);
        return;
    }
    char component[64];
    size_t n = (size_t)(sep - line) < sizeof component - 1 ? (size_t)(sep - line) : sizeof component - 1;
    memcpy(component, line, n);
    component[n] = 0;
    ndsrGoLog((uintptr_t)ud, level, component, (char *)sep + 2);
}
int ndsr_go_set_log_handler(uintptr_t handle, int max_level) {
    return ndsr_set_log_handler(handle ? log_tramp : NULL, (void *)handle, max_level);
}
int ndsr_go_set_logger(uintptr_t handle, int max_level) {
    return ndsr_set_logger(handle ? log_line_tramp : NULL, (void *)handle, max_level);
}
int ndsr_go_picker_new(ndsr_t *h, const char *path, char **keys, char **values, int n, ndsr_picker_t **out,
                       char **err) {
    ndsr_options_t *o = NULL;
    int rc = ndsr_options_new(&o);
    for (int i = 0; rc >= 0 && i < n; i++) rc = ndsr_options_set(o, keys[i], values[i]);
    if (rc >= 0) rc = ndsr_picker_new(h, path, o, out);
    done(rc, err);
    ndsr_options_free(o);
    return rc;
}
int ndsr_go_pick(const ndsr_picker_t *p, const char *key, char *buf, size_t cap, size_t *len, char **err) {
    return done(ndsr_pick(p, key, buf, cap, len), err);
}
int ndsr_go_pick_report(const ndsr_picker_t *p, const char *name, int ok, char **err) {
    return done(ndsr_pick_report(p, name, ok), err);
}
int ndsr_go_wait_for(ndsr_t *h, const char *path, size_t min, int timeout_ms, char **err) {
    return done(ndsr_wait_for(h, path, min, timeout_ms), err);
}
int ndsr_go_drain(ndsr_t *h, const char *path, int grace_ms, char **err) {
    return done(ndsr_drain(h, path, grace_ms), err);
}
int ndsr_go_set_debounce(ndsr_t *h, uint64_t sub, int interval_ms, char **err) {
    return done(ndsr_set_debounce(h, sub, interval_ms), err);
}
