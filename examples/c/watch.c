/*
 * watch: print a service's document (its servers with their data) now and whenever it changes,
 * until SIGINT/SIGTERM (or --seconds N).
 *
 *   watch [--server HOST:PORT[,…]] [--seconds N] /services/web
 *
 * The document is JSON: {"path":…,"stat":…,"data":…,"children":{"host:port":{…},…}}; hand it
 * to the JSON library your program already uses.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ndsr.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void on_change(void *userdata, const char *path, const char *json, size_t json_len) {
    unsigned *count = (unsigned *)userdata;
    (*count)++; /* only the callback thread touches it */
    printf("#%u %s %zu %s\n", *count, path, json_len, json);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *server = getenv("NDSR_SERVER");
    const char *path = NULL;
    double seconds = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--server") && i + 1 < argc) server = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: watch [--server S] [--seconds N] PATH\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    ndsr_t *h = NULL;
    int rc = ndsr_open(server, NULL, &h);
    if (rc != NDSR_OK) {
        fprintf(stderr, "ndsr_open: %s (%s)\n", ndsr_status_str(rc), ndsr_last_error());
        return 1;
    }
    static unsigned count = 0;
    rc = ndsr_on_change(h, path, on_change, &count, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "ndsr_on_change: %s (%s)\n", ndsr_status_str(rc), ndsr_last_error());
        ndsr_close(h);
        return 1;
    }
    struct timespec tick = {0, 50 * 1000 * 1000};
    for (double waited = 0; !stop_requested && (seconds < 0 || waited < seconds); waited += 0.05)
        nanosleep(&tick, NULL);
    ndsr_close(h);
    return 0;
}
