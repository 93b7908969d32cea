/*
 * client: call a service through a picker: wait for its first server, then pick one per
 * request and report how the request went (a server that fails 3 times in 10 s is skipped for
 * 30 s). Here a "request" just prints the server chosen.
 *
 *   client [--server HOST:PORT[,…]] [--requests N] /services/web
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndsr.h"

static int call(const char *hostport, int i) {
    printf("request %d -> %s\n", i, hostport); /* connect, send, read: your code here */
    return 1;                                   /* 1: it worked */
}

int main(int argc, char **argv) {
    const char *server = NULL, *service = NULL;
    int requests = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) server = argv[++i];
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) requests = atoi(argv[++i]);
        else service = argv[i];
    }
    ndsr_t *h;
    ndsr_options_t *o;
    ndsr_picker_t *p;
    if (!service || ndsr_open(server, NULL, &h) != NDSR_OK) {
        fprintf(stderr, "client: %s\n", service ? ndsr_last_error() : "usage: client [--server S] PATH");
        return 1;
    }
    ndsr_options_new(&o);
    ndsr_options_set(o, "strategy", "weighted");
    ndsr_options_set(o, "down_errors", "3");
    if (ndsr_wait_for(h, service, 1, 10000) != NDSR_OK || ndsr_picker_new(h, service, o, &p) != NDSR_OK) {
        fprintf(stderr, "client: %s\n", ndsr_last_error());
        return 1;
    }
    ndsr_options_free(o);
    for (int i = 0; i < requests; i++) {
        char hostport[256];
        size_t len;
        if (ndsr_pick(p, NULL, hostport, sizeof hostport, &len) != NDSR_OK) {
            fprintf(stderr, "client: %s\n", ndsr_last_error());
            continue;
        }
        ndsr_pick_report(p, hostport, call(hostport, i));
    }
    ndsr_picker_free(p);
    ndsr_close(h);
    return 0;
}
