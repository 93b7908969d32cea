// C shims for the Go binding: each runs one libndsr call and, on failure, copies the error
// message in the same cgo call (a goroutine may move to another OS thread between two cgo
// calls, so a separate ndsr_last_error() call could read another thread's message).
#ifndef NDSR_GO_SHIM_H
#define NDSR_GO_SHIM_H
#include <stdint.h>
#include <stdlib.h>
#include "ndsr.h"

int ndsr_go_open(const char *server, char **keys, char **values, int n, ndsr_t **out, char **err);
int ndsr_go_set_node(ndsr_t *h, const char *path, const char *json, char **err);
int ndsr_go_set_data(ndsr_t *h, const char *path, const char *json, char **err);
int ndsr_go_unset(ndsr_t *h, const char *path, char **err);
int ndsr_go_stats_json(ndsr_t *h, char **out, size_t *len, char **err);
int ndsr_go_stats_prometheus(ndsr_t *h, char **out, size_t *len, char **err);
int ndsr_go_get_json(ndsr_t *h, const char *path, char **out, size_t *len, char **err);
int ndsr_go_on_change(ndsr_t *h, const char *path, uintptr_t handle, uint64_t *sub, char **err);
int ndsr_go_on_diff(ndsr_t *h, const char *path, uintptr_t handle, uint64_t *sub, char **err);
int ndsr_go_snapshot_get(ndsr_t *h, const char *path, ndsr_snapshot_t **out, char **err);
int ndsr_go_snapshot_release(ndsr_snapshot_t *s, char **err);
int ndsr_go_snapshot_child_int(const ndsr_snapshot_t *s, size_t i, const char *key, int64_t *out, char **err);
int ndsr_go_on_state(ndsr_t *h, uintptr_t handle, uint64_t *sub, char **err);
int ndsr_go_on_stats(ndsr_t *h, int interval_ms, uintptr_t handle, uint64_t *sub, char **err);
int ndsr_go_off(ndsr_t *h, uint64_t sub, char **err);
int ndsr_go_lock_acquire(ndsr_t *h, const char *path, const char *name, int simultaneous, int64_t wait_ms,
                         ndsr_lock_t **out, char **err);
int ndsr_go_lock_release(ndsr_lock_t *l, char **err);
int ndsr_go_registration_status(ndsr_t *h, const char *path, char **err);
int ndsr_go_get_freshness(ndsr_t *h, const char *path, int *live, int64_t *since_ms, char **err);
int ndsr_go_set_credentials(ndsr_t *h, const char *user, const char *password, char **err);
int ndsr_go_session_id(ndsr_t *h, int64_t *out, char **err);
int ndsr_go_rebuild(ndsr_t *h, char **err);
int ndsr_go_acquire_lock(ndsr_t *h, const char *path, const char *name, int simultaneous, int64_t wait_ms,
                         char **err);
int ndsr_go_release_lock(ndsr_t *h, const char *path, char **err);
int ndsr_go_set_log_handler(uintptr_t handle, int max_level);
int ndsr_go_set_logger(uintptr_t handle, int max_level);
int ndsr_go_picker_new(ndsr_t *h, const char *path, char **keys, char **values, int n, ndsr_picker_t **out,
                       char **err);
int ndsr_go_pick(const ndsr_picker_t *p, const char *key, char *buf, size_t cap, size_t *len, char **err);
int ndsr_go_pick_report(const ndsr_picker_t *p, const char *name, int ok, char **err);
int ndsr_go_wait_for(ndsr_t *h, const char *path, size_t min, int timeout_ms, char **err);
int ndsr_go_drain(ndsr_t *h, const char *path, int grace_ms, char **err);
int ndsr_go_set_debounce(ndsr_t *h, uint64_t sub, int interval_ms, char **err);
#endif
