/*
 * pause.c - an operator's pause of a pool (pause.h).
 *
 * Owns: struct pause, the state of one pause operation, and while it runs
 *       the pool's `paused` word.
 * Invariants: a pool is paused by at most one of a pause or a switchover
 *             (each refuses to start while the other runs); a pause always
 *             ends: by a resume, an abort, its timeout or the daemon
 *             stopping, and each ends it the same way (clients go on).
 *             Only pools whose protocol honours the pause
 *             (proto_module.pausable) can be paused.
 * Runs on: the control thread.
 */
#include "pause.h"

#include <errno.h>

#include "admin.h"
#include "daemon.h"
#include "log.h"
#include "op.h"
#include "proto.h"
#include "route.h"

#define PAUSE_DEFAULT_MS 30000

struct pause {
	struct op *op;
	struct daemon *d;
	struct pool_live *pl;		/* a reference */
	uv_timer_t timer;
	uint64_t timeout_ms;
	unsigned long long held_before;
};

static void resume(struct pause *p, enum op_state st, const char *why)
{
	uv_timer_stop(&p->timer);
	atomic_store(&p->pl->paused, false);
	daemon_sweep(p->d);
	log_info("pool %s resumed after %llums: %s", p->op->pool,
		 (unsigned long long)(uv_now(p->d->loop) - p->op->started_ms), why);
	op_end(p->op, st, st == OP_DONE ? NULL : why);
}

static void timeout_cb(uv_timer_t *t)
{
	struct pause *p = t->data;

	resume(p, OP_FAILED, "the pause timed out: clients went on by themselves (nodown pause --timeout)");
}

static const char *pause_abort(struct op *op)
{
	resume(op->arg, OP_ABORTED, "aborted by an operator");
	return NULL;
}

static void pause_stop(struct op *op)
{
	resume(op->arg, OP_ABORTED, "nodown stops");
}

static void pause_report(struct op *op, json_t *j)
{
	struct pause *p = op->arg;

	json_object_update_new(j, json_pack("{s:I, s:I, s:i}", "timeout_ms", (json_int_t)p->timeout_ms,
		"held_clients", (json_int_t)(STAT_GET(p->pl->held) - p->held_before),
		"in_flight", atomic_load(&p->pl->in_flight)));
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct pause *p = h->data;

	pool_live_unref(p->pl);
	free(p);
}

static void pause_free(struct op *op)
{
	struct pause *p = op->arg;

	uv_close((uv_handle_t *)&p->timer, timer_closed_cb);
}

static const struct op_kind pause_kind = {
	.name = "pause", .abort = pause_abort, .stop = pause_stop, .report = pause_report,
	.free = pause_free,
};

bool pause_active(struct daemon *d, const char *pool)
{
	struct op *op = op_find(d, "pause", pool);

	return op && op_running(op);
}

/* The pool named in the path, if its protocol honours a pause; else
 * answered and -1. */
static int pausable_pool(struct admin_conn *ac, const struct route_match *m)
{
	const struct config *c = admin_daemon(ac)->cfg;
	char msg[512];
	int p = admin_find_pool(ac, m->params[0]);

	if (p < 0 || c->pools[p].proto->pausable)
		return p;
	snprintf(msg, sizeof(msg), "pool '%s' speaks %s, which has no pause; take its backends out with "
		 "drain instead", c->pools[p].name, c->pools[p].proto->name);
	admin_reply_error(ac, 404, msg);
	return -1;
}

struct op *pause_start(struct daemon *d, int pi, uint64_t ms, const char **why)
{
	struct op *sw = op_find(d, "switchover", d->cfg->pools[pi].name);
	struct pause *p;

	if (sw && op_running(sw)) {
		*why = "a switchover of this pool is running; it pauses the pool itself";
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->op = op_start(d, &pause_kind, d->cfg->pools[pi].name, "paused", p);
	if (!p->op) {
		free(p);
		*why = "the pool is already paused ('nodown resume POOL' ends it)";
		return NULL;
	}
	p->d = d;
	p->pl = pool_live_ref(d->snap->pools[pi]);
	p->timeout_ms = ms;
	p->held_before = STAT_GET(p->pl->held);
	uv_timer_init(d->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, timeout_cb, ms, 0);
	atomic_store(&p->pl->paused, true);
	log_info("pool %s paused by an operator, for at most %llums", p->op->pool, (unsigned long long)ms);
	return p->op;
}

struct op *pause_end(struct daemon *d, const char *pool, const char **why)
{
	struct op *op = op_find(d, "pause", pool);

	if (!op || !op_running(op)) {
		*why = "the pool is not paused by an operator (a switchover's pause ends with it)";
		return NULL;
	}
	resume(op->arg, OP_DONE, "resumed by an operator");
	return op;
}

/* POST /pools/POOL/pause[?timeout=D]: 200 with the pause's report. */
void pause_route_pause(struct admin_conn *ac, const struct route_match *m)
{
	static const char *const known_q[] = { "timeout", NULL };
	struct op *op;
	const char *why;
	char val[32];
	uint64_t ms = PAUSE_DEFAULT_MS;
	int pi = pausable_pool(ac, m), r;

	if (pi < 0)
		return;
	r = route_query(m->query, "timeout", known_q, val, sizeof(val));
	if ((r != 0 && r != -ENOENT) || (r == 0 && (config_parse_duration(val, &ms) < 0 || ms == 0))) {
		admin_reply_error(ac, 400, "POST /pools/POOL/pause[?timeout=DURATION] (a duration above 0, "
				  "such as 30s)");
		return;
	}
	if (!(op = pause_start(admin_daemon(ac), pi, ms, &why)))
		admin_reply_error(ac, 409, why);
	else
		admin_reply_json(ac, 200, op_json(op));
}

/* POST /pools/POOL/resume: 200 with the ended pause's report. */
void pause_route_resume(struct admin_conn *ac, const struct route_match *m)
{
	struct op *op;
	const char *why;

	if (pausable_pool(ac, m) < 0 || !admin_no_query(ac, m))
		return;
	if (!(op = pause_end(admin_daemon(ac), m->params[0], &why)))
		admin_reply_error(ac, 409, why);
	else
		admin_reply_json(ac, 200, op_json(op));
}
