/*
 * health.h - active health checks: one driver for every protocol, and the
 * probes that say what one check does.
 *
 * The driver (core/health.c) owns the timing and the verdict: a check
 * every `interval` (+ jitter), each bounded by `timeout`; a backend goes
 * down after `fall` failed checks and comes back after `rise` good ones;
 * the progress of a backend that stays survives a reload. A probe owns
 * what one check does: a TCP connect (the core's), an HTTP request, a
 * PostgreSQL query. A pool's `health` mapping has the driver's keys
 * (interval, timeout, jitter, rise, fall) and its probe's (an http probe's
 * path, say); protocol modules list the probes their pools may use.
 */
#ifndef ND_HEALTH_H
#define ND_HEALTH_H

#include <stdbool.h>
#include <uv.h>

#include "backend.h"
#include "schema.h"

struct daemon;
struct pool_cfg;
struct backend_cfg;

/* The checks of one backend. Probes read the first five fields. */
struct hcheck {
	struct daemon *d;
	const struct pool_cfg *pool;	/* in the current snapshot */
	const struct backend_cfg *be;	/* in the current snapshot */
	int pidx, bidx;			/* their places in the current snapshot */
	struct backend_live *live;	/* a reference */
	/* the driver's */
	uv_timer_t timer;		/* the next check, then the running one's timeout */
	void *state;			/* the probe's (open/close) */
	int ok_streak, fail_streak;
	int last_health;		/* what we last saw, to notice a passive down */
	bool busy;			/* a check is in flight */
	bool stopped;
};

struct probe_type {
	const char *name;		/* the value of health.type */
	/* Keys besides the core's, into h->pool->health.probe_cfg (strings
	 * freed by the table). */
	const struct keytable *keys;
	/* Checks of h begin, or its pool's config changed (a reload): make
	 * the probe's state from h's config now (may return NULL). */
	void *(*open)(struct hcheck *h);
	/* One check: report with health_result() exactly once, unless cancel
	 * comes first. */
	void (*run)(struct hcheck *h, void *state);
	/* The check in flight timed out, or checks of h stop or restart: no
	 * health_result() after this. */
	void (*cancel)(struct hcheck *h, void *state);
	/* Checks of h end (after cancel, if one was in flight). */
	void (*close)(void *state);
};

/* A TCP connect: the backend accepts connections. */
extern const struct probe_type tcp_probe;

/* What a probe's check found (see run). why: the reason of a failure, for
 * the log. */
void health_result(struct hcheck *h, bool ok, const char *why);

/*
 * For probes over TCP: connect to h's backend; then, when req is given,
 * send it and give what arrives to judge until it decides (1: the check
 * passed, 0: failed with *why set, -1: read more). Without req the
 * connect is the check. Reports with health_result; probe_tcp_cancel
 * stops it. req must live until the check ends.
 */
typedef int (*probe_judge)(const char *resp, size_t len, const struct hcheck *h, const char **why);
void probe_tcp_run(struct hcheck *h, void **run, const char *req, probe_judge judge);
void probe_tcp_cancel(void **run);

/* For probes that find roles: the backend of h's pool other than h's that
 * is the usable primary, or -1. */
int health_other_primary(const struct hcheck *h);

/* Make the checks match the current snapshot, keeping the progress of
 * backends that stay; stop them all (control thread). */
void health_apply(struct daemon *d);
void health_stop(struct daemon *d);

#endif
