/* One process of the libndsr fleet (bench/fleet/fleet.py): `count` handles, handle i registers
 * /fleet/svc/c<first+i>:1 and watches /fleet/svc. Prints "ready" once every handle is open and
 * registered, then "conv K" whenever K, the number of its handles that are converged, changes:
 * connected, the list live (not last-known), and exactly the fleet's `total` instances in it.
 * Exits, closing every handle, when its standard input ends.
 *
 *   member CONNECT FIRST COUNT TOTAL SESSION_TIMEOUT_MS */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ndsr.h"

#define SERVICE "/fleet/svc"

/* Whether the snapshot lists exactly c0:1 .. c<total-1>:1 (names are unique in ZooKeeper). */
static int exact(const ndsr_snapshot_t *s, long total) {
  if ((long)ndsr_snapshot_count(s) != total) return 0;
  for (size_t i = 0; i < (size_t)total; i++) {
    long k;
    char tail[4];
    if (sscanf(ndsr_snapshot_name(s, i), "c%ld%3s", &k, tail) != 2 || k < 0 || k >= total ||
        strcmp(tail, ":1") != 0)
      return 0;
  }
  return 1;
}

static int converged(ndsr_t *h, long total) {
  int live = 0;
  int64_t since;
  ndsr_snapshot_t *s = NULL;
  if (ndsr_state(h) != NDSR_STATE_CONNECTED) return 0;
  if (ndsr_get_freshness(h, SERVICE, &live, &since) != NDSR_OK || live != 1) return 0;
  if (ndsr_snapshot_get(h, SERVICE, &s) != NDSR_OK) return 0;
  int ok = exact(s, total);
  ndsr_snapshot_release(s);
  return ok;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: member CONNECT FIRST COUNT TOTAL SESSION_TIMEOUT_MS\n");
    return 2;
  }
  long first = atol(argv[2]), count = atol(argv[3]), total = atol(argv[4]);
  ndsr_t **h = calloc((size_t)count, sizeof *h);
  ndsr_options_t *o;
  ndsr_options_new(&o);
  ndsr_options_set(o, "timeout_ms", argv[5]);
  for (long i = 0; i < count; i++) {
    char path[64];
    snprintf(path, sizeof path, SERVICE "/c%ld:1", first + i);
    int rc = ndsr_open(argv[1], o, &h[i]);
    if (rc == NDSR_OK) rc = ndsr_set_node(h[i], path, "{\"weight\":1}");
    if (rc != NDSR_OK) {
      fprintf(stderr, "member: %s: %s\n", path, ndsr_last_error());
      return 1;
    }
    ndsr_snapshot_t *s;
    if (ndsr_snapshot_get(h[i], SERVICE, &s) == NDSR_OK) ndsr_snapshot_release(s);
  }
  ndsr_options_free(o);
  printf("ready\n");
  fflush(stdout);
  long last = -1;
  struct pollfd in = {.fd = 0, .events = POLLIN};
  for (;;) {
    long k = 0;
    for (long i = 0; i < count; i++) k += converged(h[i], total);
    if (k != last) {
      printf("conv %ld\n", k);
      fflush(stdout);
      last = k;
    }
    if (poll(&in, 1, 20) > 0) {
      char buf[64];
      if (read(0, buf, sizeof buf) <= 0) break;
    }
  }
  for (long i = 0; i < count; i++) ndsr_close(h[i]);
  free(h);
  return 0;
}
