/*
 * metrics.h - the daemon's counters in the Prometheus text format.
 */
#ifndef ND_METRICS_H
#define ND_METRICS_H

struct daemon;

/* The text of GET /metrics (caller frees). Control thread. */
char *metrics_render(struct daemon *d);

#endif
