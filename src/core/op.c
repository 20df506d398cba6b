/*
 * op.c - the operation engine (see op.h).
 *
 * Owns: the daemon's list of operations (the running and the last one of
 *       each kind and pool), their step records and their watchers.
 * Invariants: at most one running op per kind and pool; an op's report
 *             never changes once it ended; every step ends before the next
 *             begins, so step times add up to the elapsed time.
 * Runs on: the control thread's loop.
 */
#include "op.h"

#include <errno.h>
#include <stdlib.h>

#include "admin.h"
#include "daemon.h"
#include "log.h"
#include "route.h"
#include "snapshot.h"

static const char *const state_names[] = { "running", "done", "aborted", "failed" };

static uint64_t now_ms(const struct op *op)
{
	return uv_now(op->d->loop);
}

static void op_free(struct op *op)
{
	admin_wait_drop(&op->waits);
	op->kind->free(op);
	json_decref(op->steps);
	snapshot_unref(op->snap);
	free(op);
}

struct op *op_find(struct daemon *d, const char *kind, const char *pool)
{
	for (struct op *op = d->ops; op; op = op->next)
		if (!strcmp(op->kind->name, kind) && !strcmp(op->pool, pool))
			return op;
	return NULL;
}

struct op *op_start(struct daemon *d, const struct op_kind *kind, const char *pool,
		    const char *first, void *arg)
{
	static unsigned next_id;
	struct op *old = op_find(d, kind->name, pool), *op, **pp;

	if (old && op_running(old))
		return NULL;
	for (pp = &d->ops; old && *pp; pp = &(*pp)->next) {
		if (*pp == old) {
			*pp = old->next;
			op_free(old);
			break;
		}
	}
	op = xcalloc(1, sizeof(*op));
	op->id = ++next_id;
	op->d = d;
	op->kind = kind;
	op->snap = snapshot_ref(d->snap);
	snprintf(op->pool, sizeof(op->pool), "%s", pool);
	op->arg = arg;
	op->step = first;
	op->started_ms = op->step_ms = uv_now(d->loop);
	op->steps = json_array();
	list_init(&op->waits);
	op->next = d->ops;
	d->ops = op;
	return op;
}

/* The step in progress ended: record it. */
static void record(struct op *op, const char *detail)
{
	json_array_append_new(op->steps, json_pack("{s:s, s:I, s:s?}", "step", op->step,
						   "ms", (json_int_t)(now_ms(op) - op->step_ms),
						   "detail", detail));
}

void op_step(struct op *op, const char *next, const char *detail)
{
	BUG_ON(!op_running(op));
	record(op, detail);
	op->step = next;
	op->step_ms = now_ms(op);
	admin_wait_kick(&op->waits);
}

void op_end(struct op *op, enum op_state st, const char *error)
{
	BUG_ON(!op_running(op) || st == OP_RUNNING);
	record(op, NULL);
	op->state = st;
	op->ended_ms = now_ms(op);
	snprintf(op->error, sizeof(op->error), "%s", error ? error : "");
	admin_wait_kick(&op->waits);
}

json_t *op_json(struct op *op)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:b, s:s, s:O, s:I, s:s?}",
			      "id", (json_int_t)op->id, "kind", op->kind->name, "pool", op->pool,
			      "state", state_names[op->state], "running", op_running(op),
			      "step", op->step, "steps", op->steps,
			      "elapsed_ms", (json_int_t)((op_running(op) ? now_ms(op) : op->ended_ms) -
							 op->started_ms),
			      "error", op->error[0] ? op->error : NULL);

	op->kind->report(op, j);
	return j;
}

/* ---- watchers ------------------------------------------------------------------ */

struct op_watch {
	struct op *op;
	size_t after;
};

static bool watch_ready(void *arg)
{
	struct op_watch *w = arg;

	return !op_running(w->op) || json_array_size(w->op->steps) > w->after;
}

static json_t *watch_answer(void *arg)
{
	struct op_watch *w = arg;
	json_t *j = op_json(w->op);

	free(w);
	return j;
}

void op_wait(struct admin_conn *ac, struct op *op, size_t after, uint64_t ms)
{
	struct op_watch *w = xmalloc(sizeof(*w));

	*w = (struct op_watch){ op, after };
	admin_wait(ac, &op->waits, ms, watch_ready, watch_answer, w);
}

/* ---- control --------------------------------------------------------------------- */

const char *op_abort(struct op *op)
{
	const char *why;

	if (!op_running(op))
		return "it is over";
	why = op->kind->abort(op);
	if (!why)
		log_info("%s %s: abort asked by an operator (step %s)", op->kind->name, op->pool, op->step);
	return why;
}

bool op_reload_blocked(struct daemon *d, const struct config *next, struct errlist *errs)
{
	for (struct op *op = d->ops; op; op = op->next) {
		const char *why = op_running(op) && op->kind->reload_blocked ?
				  op->kind->reload_blocked(op, next) : NULL;

		if (why) {
			errlist_add(errs, d->cfg->path, 0, 0, "the %s of pool '%s' is running (step %s): %s",
				    op->kind->name, op->pool, op->step, why);
			return true;
		}
	}
	return false;
}

void op_stop_all(struct daemon *d)
{
	while (d->ops) {
		struct op *op = d->ops;

		d->ops = op->next;
		if (op_running(op))
			op->kind->stop(op);
		op_free(op);
	}
}

/* ---- admin endpoints ------------------------------------------------------------- */

static void list(struct admin_conn *ac, const struct route_match *m, bool public)
{
	json_t *ops = json_array();

	if (!admin_no_query(ac, m)) {
		json_decref(ops);
		return;
	}
	for (struct op *op = admin_daemon(ac)->ops; op; op = op->next) {
		json_t *j = op_json(op);

		if (public && op->kind->redact)
			op->kind->redact(j);
		json_array_append_new(ops, j);
	}
	admin_reply_json(ac, 200, json_pack("{s:o}", "operations", ops));
}

/* GET /operations: the running and last operations. */
void op_route_list(struct admin_conn *ac, const struct route_match *m)
{
	list(ac, m, false);
}

void op_route_list_public(struct admin_conn *ac, const struct route_match *m)
{
	list(ac, m, true);
}

void op_route_follow(struct admin_conn *ac, const struct route_match *m, struct op *op, const char *usage,
		     const char *none)
{
	static const char *const known_q[] = { "after", "wait", NULL };
	char after[16], wait[32], *end = "";
	uint64_t wait_ms = 0;
	unsigned long n = 0;
	int r1 = route_query(m->query, "after", known_q, after, sizeof(after));
	int r2 = route_query(m->query, "wait", known_q, wait, sizeof(wait));

	if ((r1 != 0 && r1 != -ENOENT) || (r2 != 0 && r2 != -ENOENT) ||
	    (r1 == 0 && ((n = strtoul(after, &end, 10)), *end || !after[0])) ||
	    (r2 == 0 && config_parse_duration(wait, &wait_ms) < 0))
		admin_reply_error(ac, 400, usage);
	else if (!op)
		admin_reply_error(ac, 404, none);
	else if (wait_ms)
		op_wait(ac, op, n, wait_ms);
	else
		admin_reply_json(ac, 200, op_json(op));
}

/* POST /operations/ID/abort */
void op_route_abort(struct admin_conn *ac, const struct route_match *m)
{
	struct op *op = admin_daemon(ac)->ops;
	char *end, msg[300];
	unsigned long id = strtoul(m->params[0], &end, 10);
	const char *why;

	if (!admin_no_query(ac, m))
		return;
	while (op && (*end || op->id != id))
		op = op->next;
	if (!op) {
		admin_reply_error(ac, 404, "no such operation (GET /operations lists them)");
		return;
	}
	why = op_abort(op);
	if (why) {
		snprintf(msg, sizeof(msg), "the %s of pool '%s' cannot be aborted now: %s", op->kind->name,
			 op->pool, why);
		admin_reply_error(ac, 409, msg);
		return;
	}
	admin_reply_json(ac, 202, op_json(op));
}
