/*
 * switchover.c - the part of a switchover that is the same for every
 * protocol with a primary (proto_module.switchover): the admin endpoints,
 * the checks that need no server (the pool, its primary, the target), the
 * books every switchover keeps (struct switchover: references, pause,
 * stall, steps), and the pause and switchover fields of status and
 * metrics.
 *
 * Invariants: a switchover starts only on a pool whose module has one,
 *             with a known primary and a healthy standby as the target;
 *             the module is handed indices into the current config.
 * Runs on: the control thread.
 */
#include "switchover.h"

#include <errno.h>

#include "admin.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "op.h"
#include "pause.h"
#include "proto.h"
#include "route.h"

/* pool's index in d's config, its target and its primary; or why not. */
static const char *check_start(struct daemon *d, const char *pool, const char *target, int *pp,
			       int *pfrom, int *pto)
{
	const struct config *c = d->cfg;
	int p, from = -1, to = -1;

	for (p = 0; p < c->npools && strcmp(c->pools[p].name, pool); p++)
		;
	if (p == c->npools)
		return "no such pool";
	if (!c->pools[p].proto->switchover)
		return "switchover applies to pools with a primary (pg, redis)";
	for (int b = 0; b < c->pools[p].nbackends; b++) {
		if (!strcmp(c->pools[p].backends[b].name, target))
			to = b;
		if (STAT_GET(d->live[p][b]->role) == ROLE_PRIMARY)
			from = b;
	}
	if (to < 0)
		return "no such backend in this pool";
	if (from < 0)
		return "no primary is known in this pool (see 'nodown status')";
	if (pause_active(d, pool))
		return "the pool is paused by an operator ('nodown resume POOL' first)";
	if (from == to)
		return "the target is already the primary";
	if (STAT_GET(d->live[p][to]->role) != ROLE_STANDBY || !backend_usable(d->live[p][to]))
		return "the target is not a healthy standby (see 'nodown status')";
	*pp = p;
	*pfrom = from;
	*pto = to;
	return NULL;
}

/* The pool named in the path, if it has a switchover; else answered
 * (404) and -1. */
static int find_pool(struct admin_conn *ac, const struct route_match *m)
{
	const struct config *c = admin_daemon(ac)->cfg;
	char msg[512];
	int p = admin_find_pool(ac, m->params[0]);

	if (p < 0 || c->pools[p].proto->switchover)
		return p;
	snprintf(msg, sizeof(msg), "pool '%s' speaks %s, which has no switchover (pg and redis pools have one)",
		 c->pools[p].name, c->pools[p].proto->name);
	admin_reply_error(ac, 404, msg);
	return -1;
}

/*
 * GET /pools/POOL/switchover[?after=N&wait=D]: the running or last
 * switchover's report; with wait, once more than N steps have ended or it
 * is over, or after D (a long poll: nodown switchover follows it so).
 */
void switchover_route_get(struct admin_conn *ac, const struct route_match *m)
{
	if (find_pool(ac, m) < 0)
		return;
	op_route_follow(ac, m, op_find(admin_daemon(ac), "switchover", m->params[0]),
			"GET /pools/POOL/switchover[?after=STEPS&wait=DURATION]",
			"no switchover of this pool since nodown started");
}

struct op *switchover_start(struct daemon *d, const char *pool, const char *to, uint64_t pause_ms,
			    const char **why)
{
	int p, from, target;

	if ((*why = check_start(d, pool, to, &p, &from, &target)))
		return NULL;
	return d->cfg->pools[p].proto->switchover(d, p, from, target, pause_ms, why);
}

/* POST /pools/POOL/switchover?to=BACKEND[&pause_timeout=D]: start one (202). */
void switchover_route_post(struct admin_conn *ac, const struct route_match *m)
{
	static const char *const known_q[] = { "to", "pause_timeout", NULL };
	struct daemon *d = admin_daemon(ac);
	const char *pool = m->params[0], *why;
	char to[ROUTE_MAX_SEGMENT + 1], pause[32], msg[512];
	uint64_t pause_ms = 0;
	struct op *op;
	int r;

	if (find_pool(ac, m) < 0)
		return;
	if (route_query(m->query, "to", known_q, to, sizeof(to)) != 0 || !to[0] ||
	    ((r = route_query(m->query, "pause_timeout", known_q, pause, sizeof(pause))) != 0 &&
	     r != -ENOENT) || (r == 0 && config_parse_duration(pause, &pause_ms) < 0)) {
		admin_reply_error(ac, 400, "POST /pools/POOL/switchover?to=BACKEND[&pause_timeout=DURATION]");
		return;
	}
	op = switchover_start(d, pool, to, pause_ms, &why);
	if (!op) {
		snprintf(msg, sizeof(msg), "switchover of pool '%.100s' to '%.100s' refused: %s", pool, to, why);
		admin_reply_error(ac, 409, msg);
		return;
	}
	admin_reply_json(ac, 202, op_json(op));
}

void switchover_pool_status(struct daemon *d, int p, json_t *j)
{
	struct op *sw = op_find(d, "switchover", d->cfg->pools[p].name);

	struct op *pause = op_find(d, "pause", d->cfg->pools[p].name);

	json_object_set_new(j, "paused", json_boolean(atomic_load(&d->snap->pools[p]->paused)));
	json_object_set_new(j, "in_flight", json_integer(atomic_load(&d->snap->pools[p]->in_flight)));
	if (d->cfg->pools[p].proto->switchover)
		json_object_set_new(j, "switchover", sw ? op_json(sw) : json_null());
	json_object_set_new(j, "pause", pause && op_running(pause) ? op_json(pause) : json_null());
}

void switchover_metrics(struct daemon *d, struct metrics_text *t)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "nodown_pool_switchovers_total", "counter", "Switchovers by result: done, or aborted (aborted and failed ones)." },
		{ "nodown_pool_switchover_stall_seconds_max", "gauge", "Longest time a switchover held new work." },
		{ "nodown_pool_held_clients_total", "counter", "Clients that waited on a switchover pause." },
		{ "nodown_pool_paused", "gauge", "1 while a switchover holds new work (transactions, commands)." },
	};

	for (size_t f = 0; f < ARRAY_LEN(fams); f++) {
		metrics_family(t, fams[f].name, fams[f].type, fams[f].help);
		for (int p = 0; p < d->cfg->npools; p++) {
			struct pool_live *pl = d->snap->pools[p];
			const char *pn = d->cfg->pools[p].name;

			if (!d->cfg->pools[p].proto->switchover)
				continue;
			if (f == 0) {
				metrics_put(t, "%s{pool=\"%s\",result=\"done\"} %llu\n", fams[f].name, pn,
					    STAT_GET(pl->switchovers));
				metrics_put(t, "%s{pool=\"%s\",result=\"aborted\"} %llu\n", fams[f].name, pn,
					    STAT_GET(pl->switchovers_aborted));
			} else if (f == 1) {
				metrics_put(t, "%s{pool=\"%s\"} %.3f\n", fams[f].name, pn,
					    (double)STAT_GET(pl->stall_us_max) / 1e6);
			} else {
				metrics_put(t, "%s{pool=\"%s\"} %llu\n", fams[f].name, pn,
					    f == 2 ? STAT_GET(pl->held) : (unsigned long long)atomic_load(&pl->paused));
			}
		}
	}
}

const char *switchover_reload_blocked(struct op *op, const struct config *next)
{
	const struct pool_cfg *pc = ((struct switchover *)op->arg)->pc;

	for (int p = 0; p < next->npools; p++) {
		const struct pool_cfg *np = &next->pools[p];

		if (strcmp(np->name, pc->name))
			continue;
		if (np->proto != pc->proto || np->nbackends != pc->nbackends)
			break;
		for (int b = 0; b < np->nbackends; b++)
			if (strcmp(np->backends[b].name, pc->backends[b].name) ||
			    !config_same_address(&np->backends[b].addr, &pc->backends[b].addr))
				goto changed;
		return NULL;
	}
changed:
	return "the new config changes this pool or its backends; reload once it is over "
	       "(or abort it)";
}

/* ---- the books of one switchover ---------------------------------------------------------- */

struct op *switchover_begin(struct switchover *sw, struct daemon *d, const struct op_kind *kind, int p,
			    int from, int to, const char *first, void *arg, const char **why)
{
	const struct pool_cfg *pc = &d->cfg->pools[p];

	sw->op = op_start(d, kind, pc->name, first, arg);
	if (!sw->op) {
		*why = "a switchover of this pool is already running";
		return NULL;
	}
	sw->d = d;
	sw->pc = pc;		/* in op->snap, which the op holds */
	sw->from = &pc->backends[from];
	sw->to = &pc->backends[to];
	sw->pl = pool_live_ref(d->snap->pools[p]);
	sw->from_live = backend_live_ref(d->live[p][from]);
	sw->to_live = backend_live_ref(d->live[p][to]);
	sw->held_before = STAT_GET(sw->pl->held);
	uv_timer_init(d->loop, &sw->timer);
	sw->timer.data = arg;
	log_info("switchover %s: %s -> %s starting", pc->name, sw->from->name, sw->to->name);
	return sw->op;
}

void switchover_pause(struct switchover *sw)
{
	sw->held_before = STAT_GET(sw->pl->held);
	sw->pause_ms = uv_now(sw->d->loop);
	atomic_store(&sw->pl->switching, true);
	atomic_store(&sw->pl->paused, true);
}

void switchover_release(struct switchover *sw)
{
	uint64_t now = uv_now(sw->d->loop);

	if (!sw->resume_ms && sw->pause_ms) {
		uint64_t stall = (now - sw->pause_ms) * 1000;

		sw->resume_ms = now;
		if (stall > STAT_GET(sw->pl->stall_us_max))
			atomic_store(&sw->pl->stall_us_max, stall);
	}
	atomic_store(&sw->pl->switching, false);
	atomic_store(&sw->pl->paused, false);
	daemon_sweep(sw->d);
}

void switchover_record(struct switchover *sw, const char *const *names, int next, int ndone,
		       const char *detail)
{
	if (next < ndone)
		op_step(sw->op, names[next], detail);
	else
		op_end(sw->op, next == ndone ? OP_DONE : next == ndone + 1 ? OP_ABORTED : OP_FAILED,
		       next == ndone ? NULL : detail);
}

void switchover_report(struct switchover *sw, json_t *j)
{
	uint64_t now = uv_now(sw->d->loop);
	uint64_t stall = sw->resume_ms && sw->pause_ms ? sw->resume_ms - sw->pause_ms :
			 sw->pause_ms && op_running(sw->op) ? now - sw->pause_ms : 0;

	json_object_update_new(j, json_pack("{s:s, s:s, s:I, s:I}", "from", sw->from->name, "to", sw->to->name,
		"stall_ms", (json_int_t)stall,
		"held_clients", (json_int_t)(STAT_GET(sw->pl->held) - sw->held_before)));
}

void switchover_unref(struct switchover *sw)
{
	pool_live_unref(sw->pl);
	backend_live_unref(sw->from_live);
	backend_live_unref(sw->to_live);
}
