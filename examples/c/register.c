/*
 * register: announce "this process provides a service" in ZooKeeper and print the service's
 * server list whenever it changes, until SIGINT/SIGTERM (or --seconds N), then leave cleanly.
 *
 *   register [--server HOST:PORT[,…]] [--service /services/demo] [--name host:port]
 *            [--data JSON] [--seconds N]
 *
 * Build: cc -Wall -Wextra -Werror register.c -Iinclude -Ltarget/release -lndsr
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

/* Runs on the library's callback thread, once at once and after every change. */
static void on_change(void *userdata, const char *path, const char *json, size_t json_len) {
    const char *who = userdata;
    printf("[%s] change on %s (%zu bytes): %s\n", who, path, json_len, json);
    fflush(stdout);
}

static void on_state(void *userdata, int state) {
    static const char *names[] = {"disconnected", "connected", "connected read-only",
                                  "expired", "auth failed", "closed"};
    const char *who = userdata;
    printf("[%s] state: %s\n", who, state >= 0 && state <= 5 ? names[state] : "?");
    fflush(stdout);
}

static int check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, ndsr_status_str(rc), ndsr_last_error());
        exit(1);
    }
    return rc;
}

int main(int argc, char **argv) {
    const char *server = getenv("NDSR_SERVER");
    const char *service = "/services/demo";
    const char *name = "server1:80";
    const char *data = "{\"state\":\"up\"}";
    double seconds = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--server")) server = argv[i + 1];
        else if (!strcmp(argv[i], "--service")) service = argv[i + 1];
        else if (!strcmp(argv[i], "--name")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else { fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    ndsr_options_t *opts = NULL;
    check(ndsr_options_new(&opts), "ndsr_options_new");
    check(ndsr_options_set(opts, "timeout_ms", "5000"), "ndsr_options_set");
    ndsr_t *h = NULL;
    check(ndsr_open(server, opts, &h), "ndsr_open");
    ndsr_options_free(opts);
    printf("[%s] libndsr %s connected to %s\n", name, ndsr_version(), server ? server : "localhost:2181");

    check(ndsr_on_state(h, on_state, (void *)name, NULL, NULL), "ndsr_on_state");
    char node[512];
    snprintf(node, sizeof node, "%s/%s", service, name);
    int rc = check(ndsr_set_node(h, node, data), "ndsr_set_node");
    printf("[%s] registered %s: %s\n", name, node, ndsr_status_str(rc));

    char *doc = NULL;
    size_t len = 0;
    check(ndsr_get_json(h, service, &doc, &len), "ndsr_get_json");
    printf("[%s] document of %s: %s\n", name, service, doc);
    fflush(stdout);
    ndsr_string_free(doc);

    uint64_t sub = 0;
    check(ndsr_on_change(h, service, on_change, (void *)name, NULL, &sub), "ndsr_on_change");

    struct timespec tick = {0, 50 * 1000 * 1000};
    for (double waited = 0; !stop_requested && (seconds < 0 || waited < seconds); waited += 0.05)
        nanosleep(&tick, NULL);

    check(ndsr_off(h, sub), "ndsr_off");
    ndsr_close(h); /* removes our ephemeral node at once */
    printf("[%s] closed; %s removed\n", name, node);
    return 0;
}
