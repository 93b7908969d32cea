/*
 * config: dynamic configuration. Optionally writes a JSON config node, then reads it and
 * re-reads it whenever it changes, for --seconds N (or until SIGINT/SIGTERM).
 *
 *   config [--server HOST:PORT[,…]] [--set JSON] [--seconds N] /config/myapp
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

/* Every process using this config node gets the new value here. */
static void on_config(void *userdata, const char *path, const char *json, size_t json_len) {
    (void)userdata;
    (void)json_len;
    printf("config %s is now %s\n", path, json);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *server = getenv("NDSR_SERVER");
    const char *path = NULL, *value = NULL;
    double seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--server") && i + 1 < argc) server = argv[++i];
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) value = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: config [--server S] [--set JSON] [--seconds N] PATH\n");
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
    if (value) {
        rc = ndsr_set_data(h, path, value); /* persistent: stays after we exit */
        if (rc < 0) {
            fprintf(stderr, "ndsr_set_data: %s (%s)\n", ndsr_status_str(rc), ndsr_last_error());
            ndsr_close(h);
            return 1;
        }
    }
    char *doc = NULL;
    size_t len = 0;
    rc = ndsr_get_json(h, path, &doc, &len);
    if (rc != NDSR_OK) {
        fprintf(stderr, "ndsr_get_json: %s (%s)\n", ndsr_status_str(rc), ndsr_last_error());
        ndsr_close(h);
        return 1;
    }
    printf("read %s: %s\n", path, doc);
    ndsr_string_free(doc);
    if (seconds > 0) {
        ndsr_on_change(h, path, on_config, NULL, NULL, NULL);
        struct timespec tick = {0, 50 * 1000 * 1000};
        for (double waited = 0; !stop_requested && waited < seconds; waited += 0.05)
            nanosleep(&tick, NULL);
    }
    ndsr_close(h);
    return 0;
}
