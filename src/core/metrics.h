/*
 * metrics.h - the daemon's counters in the Prometheus text format.
 */
#ifndef ND_METRICS_H
#define ND_METRICS_H

#include <stddef.h>

#include "common.h"

struct daemon;

/* Text being built; protocol modules add their families with these. */
struct metrics_text {
	char *p;		/* owned */
	size_t len, cap;
};

/* "# HELP name help" and "# TYPE name type" lines. */
void metrics_family(struct metrics_text *t, const char *name, const char *type, const char *help);
/* Append printf-style. */
void metrics_put(struct metrics_text *t, const char *fmt, ...) ND_PRINTF(2, 3);

/* The text of GET /metrics (caller frees). Control thread. */
char *metrics_render(struct daemon *d);

#endif
