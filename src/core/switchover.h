/*
 * switchover.h - what every switchover shares, whatever the protocol: the
 * admin endpoints that start and follow one, the checks before it starts,
 * and the pool's pause and switchover fields in status and metrics. The
 * protocol module does the steps (proto_module.switchover).
 */
#ifndef ND_SWITCHOVER_H
#define ND_SWITCHOVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "op.h"

struct admin_conn;
struct backend_cfg;
struct backend_live;
struct pool_live;
struct config;
struct pool_cfg;
struct daemon;
struct metrics_text;
struct route_match;

/* GET /pools/POOL/switchover[?after=N&wait=D] and
 * POST /pools/POOL/switchover?to=BACKEND[&pause_timeout=D]. */
void switchover_route_get(struct admin_conn *ac, const struct route_match *m);
void switchover_route_post(struct admin_conn *ac, const struct route_match *m);

/* Start a switchover of pool to backend `to` (pause_ms 0: the pool's
 * pause_timeout): the op, or NULL with *why. */
struct op *switchover_start(struct daemon *d, const char *pool, const char *to, uint64_t pause_ms,
			    const char **why);

/*
 * What every switchover keeps, whatever the protocol: the module's state
 * embeds it and is the op's arg (and the timer's data).
 */
struct switchover {
	struct op *op;				/* the engine's record of it */
	struct daemon *d;
	const struct pool_cfg *pc;		/* of the snapshot it started on (op->snap) */
	const struct backend_cfg *from, *to;	/* in pc */
	struct pool_live *pl;			/* references */
	struct backend_live *from_live, *to_live;
	uv_timer_t timer;			/* the module's polls and waits */
	uint64_t pause_ms, resume_ms;		/* when clients were held, and released */
	unsigned long long held_before;		/* the pool's `held` when the pause began */
};

/* Start one of kind on pool p from backend `from` to `to`, in step
 * `first`, arg being the module's state: NULL (with *why) if one runs. */
struct op *switchover_begin(struct switchover *sw, struct daemon *d, const struct op_kind *kind, int p,
			    int from, int to, const char *first, void *arg, const char **why);

/* The pool's new work waits (pool_live.paused); the switchover sets roles. */
void switchover_pause(struct switchover *sw);

/* Clients go again, onto whichever primary the roles now say; the stall
 * is recorded. */
void switchover_release(struct switchover *sw);

/* The step that ended (detail may be NULL) and the next, or the end:
 * next == ndone, ndone + 1 (aborted), ndone + 2 (failed) in the module's
 * step names. */
void switchover_record(struct switchover *sw, const char *const *names, int next, int ndone,
		       const char *detail);

/* The report's from, to, stall_ms and held_clients. */
void switchover_report(struct switchover *sw, json_t *j);

/* Drop the references (when the module frees its state). */
void switchover_unref(struct switchover *sw);

/* op_kind.reload_blocked of every switchover (op->arg starts with its
 * struct switchover): a reload that changes the pool's protocol or
 * backends, their order too (workers and the switchover refer to backends
 * by index), waits for the end; any other goes on. */
const char *switchover_reload_blocked(struct op *op, const struct config *next);

/* Pool p's `paused` and `switchover` status fields (pools with roles). */
void switchover_pool_status(struct daemon *d, int p, json_t *pool);

/* The switchover and pause metric families of pools with roles. */
void switchover_metrics(struct daemon *d, struct metrics_text *t);

#endif
