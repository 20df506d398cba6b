/*
 * health.h - health probes: what one active check of a backend does.
 *
 * A pool's `health` mapping has the core's timing keys (interval, timeout,
 * jitter, rise, fall) and its probe's keys (an http probe's path, for
 * example). The core has the tcp probe; protocol modules add theirs and
 * list, in their struct proto_module, the probes their pools may use.
 */
#ifndef ND_HEALTH_H
#define ND_HEALTH_H

#include "schema.h"

struct probe_type {
	const char *name;		/* the value of health.type */
	/* Keys besides the core's, into h->probe_cfg (strings freed by the
	 * table). */
	const struct keytable *keys;
};

/* A TCP connect: the backend accepts connections. */
extern const struct probe_type tcp_probe;

#endif
