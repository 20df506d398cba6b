/*
 * health.h - active health checks of HTTP pools' backends.
 */
#ifndef ND_HTTP_HEALTH_H
#define ND_HTTP_HEALTH_H

#include "core/health.h"

struct daemon;

/* An HTTP request whose response status must fall in [expect_min, expect_max]. */
struct http_probe_cfg {
	char *path;			/* owned; request target */
	char *method;			/* owned; GET by default */
	char *host;			/* owned; Host header; NULL = backend address */
	int expect_min, expect_max;	/* accepted status range */
};

extern const struct probe_type http_probe;

/* Check every backend of every http pool of the current snapshot, keeping
 * the running checks of backends that stay (control thread). */
void health_apply(struct daemon *d);
/* Stop all checks; their memory is released as their handles close. */
void health_stop(struct daemon *d);

#endif
