/*
 * health.h - the http health probe (core/health.h).
 */
#ifndef ND_HTTP_HEALTH_H
#define ND_HTTP_HEALTH_H

#include "core/health.h"

/* An HTTP request whose response status must fall in [expect_min, expect_max]. */
struct http_probe_cfg {
	char *path;			/* owned; request target */
	char *method;			/* owned; GET by default */
	char *host;			/* owned; Host header; NULL = backend address */
	int expect_min, expect_max;	/* accepted status range */
};

extern const struct probe_type http_probe;

#endif
