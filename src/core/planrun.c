/*
 * planrun.c - a release plan running inside the daemon (see planrun.h).
 *
 * Owns: struct run, the state of one plan run: its resolved plan, the
 *       record of every step (planned order, start, end, duration, detail,
 *       output tail, status), and its run log file in runs_dir. An exec
 *       step's command is a core/subproc.h.
 * Invariants: at most one plan runs at a time; exactly one step is in
 *             progress while it runs, and the run ends only once that step
 *             has ended (its command is over, a switchover it started has
 *             ended), so a run that says it stopped has nothing of its own
 *             still acting; the next step starts from the loop, never from
 *             the one that ended; the run log on disk is rewritten when a
 *             step that waits starts and when the run ends. A stop (abort,
 *             auto-halt) leaves backends in the state they are in.
 * Runs on: the control thread's loop.
 */
#include "planrun.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "daemon.h"
#include "file.h"
#include "log.h"
#include "op.h"
#include "pause.h"
#include "plan.h"
#include "route.h"
#include "subproc.h"
#include "switchover.h"

#define POLL_MS 50
#define HALT_EVERY_MS 200
#define RUNS_LISTED 100

extern char **environ;

struct run {
	struct op *op;
	struct daemon *d;
	struct plan *plan;
	char id[200];
	char resumed_from[200];
	char started[32], ended[32];	/* UTC, ISO 8601 */
	json_t *recs, *rb_recs;		/* a record per step and per rollback step */
	bool rolling_back;
	int idx;			/* the step in progress, in the current list */
	int failed;			/* the step whose failure started the rollback, or -1 */
	char fail_why[768];		/* why it failed */
	uv_timer_t timer;		/* the step's polls, sleep and timeouts */
	uv_timer_t halt;		/* the automatic halt's watch */
	uint64_t step_ms;		/* loop time the step began */
	unsigned long long *req0, *err0, *sreq0, *serr0;	/* per scope pool: at plan, step start */
	struct subproc *sp;		/* the exec in progress, or NULL */
	unsigned sub_id;		/* a switchover it started and follows */
	unsigned long long checks0;	/* wait_healthy: the backend's checks passed at its start */
	bool approved;
	const char *stop_why;		/* an abort or halt asked: the step ends, the run stops */
	char stop_buf[512];
	enum op_state stop_state;
	int closing;			/* timers still closing */
	bool freeing;			/* free once none is */
};

/* The string at key of o, or "". */
static const char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static const char *const status_names[] = { "running", "done", "aborted", "failed" };

static void begin(struct run *r);
static void finish(struct run *r, bool ok, const char *detail);

static struct pstep *cur(struct run *r)
{
	return r->rolling_back ? &r->plan->rollback[r->idx] : &r->plan->steps[r->idx];
}

static json_t *cur_rec(struct run *r)
{
	return json_array_get(r->rolling_back ? r->rb_recs : r->recs, (size_t)r->idx);
}

static uint64_t now(struct run *r)
{
	return uv_now(r->d->loop);
}

static void utc_now(char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the run log ------------------------------------------------------------------ */

static json_t *run_json(struct run *r)
{
	json_t *scope = json_array(), *stopped = NULL;

	for (int i = 0; i < r->plan->nscope; i++)
		json_array_append_new(scope, json_string(r->plan->scope[i]));
	if (!op_running(r->op) && r->op->state != OP_DONE) {	/* the failed step, not the rollback's last */
		json_t *rec = r->failed >= 0 ? json_array_get(r->recs, (size_t)r->failed) : cur_rec(r);

		stopped = json_pack("{s:O, s:O, s:b}", "n", json_object_get(rec, "n"), "text",
				    json_object_get(rec, "text"), "rollback", r->rolling_back);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s?, s:s, s:s?, s:s?, s:I, s:O, s:O, s:o?}",
		"id", r->id, "plan", r->plan->name, "owner", r->plan->owner, "file", r->plan->file,
		"scope", scope, "state", status_names[r->op->state], "error", r->op->error[0] ? r->op->error : NULL,
		"started", r->started, "ended", r->ended[0] ? r->ended : NULL,
		"resumed_from", r->resumed_from[0] ? r->resumed_from : NULL,
		"elapsed_ms", (json_int_t)((op_running(r->op) ? now(r) : r->op->ended_ms) - r->op->started_ms),
		"steps", r->recs, "rollback", r->rb_recs, "stopped_at", stopped);
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Rewrite the run's log file (a temporary file, then rename). */
static void save(struct run *r)
{
	const char *dir = r->d->cfg->runs_dir;
	json_t *j = run_json(r);
	char path[4200], *text = json_dumps(j, JSON_INDENT(1));
	int e = mkdir_p(dir) < 0 ? -errno : 0;

	json_decref(j);
	snprintf(path, sizeof(path), "%s/%s.json", dir, r->id);
	if (!e)
		e = file_write_atomic(path, text, strlen(text), 0644);
	if (e)
		log_error("plan %s: cannot write the run log %s: %s (runs_dir)", r->plan->name, path, strerror(-e));
	free(text);
}

/* ---- counters ---------------------------------------------------------------------- */

/* Requests and errors (exchanges cut short, 5xx) of pool `name` so far. */
static void pool_counts(struct daemon *d, const char *name, unsigned long long *req, unsigned long long *err)
{
	const struct pool_cfg *pc = config_pool(d->cfg, name);

	*req = *err = 0;
	for (int b = 0; pc && b < pc->nbackends; b++) {
		struct backend_live *lv = d->live[pc->index][b];

		*req += STAT_GET(lv->requests);
		*err += STAT_GET(lv->responses[0]) + STAT_GET(lv->responses[5]);
	}
}

static int scope_index(const struct plan *p, const char *pool)
{
	for (int i = 0; i < p->nscope; i++)
		if (!strcmp(p->scope[i], pool))
			return i;
	return -1;
}

/*
 * The errors and requests of pool since the plan (or the step) began. A
 * reload that removed a backend takes its counts out of the pool's sums:
 * a sum below its baseline moves the baseline down, so nothing wraps and
 * what comes after counts.
 */
static void since(struct run *r, const char *pool, bool step, unsigned long long *req, unsigned long long *err)
{
	int i = scope_index(r->plan, pool);
	unsigned long long *q0, *e0;

	*req = *err = 0;
	if (i < 0)
		return;
	q0 = step ? &r->sreq0[i] : &r->req0[i];
	e0 = step ? &r->serr0[i] : &r->err0[i];
	pool_counts(r->d, pool, req, err);
	if (*req < *q0)
		*q0 = *req;
	if (*err < *e0)
		*e0 = *err;
	*req -= *q0;
	*err -= *e0;
}

/* ---- ending ------------------------------------------------------------------------ */

static void end_run(struct run *r, enum op_state st, const char *why)
{
	uv_timer_stop(&r->timer);
	uv_timer_stop(&r->halt);
	utc_now(r->ended, sizeof(r->ended));
	op_end(r->op, st, why);
	save(r);
	log_info("plan %s (run %s) %s%s%s", r->plan->name, r->id, status_names[st], why ? ": " : "", why ? why : "");
}

/* The next step starts from the loop, not from the one that ended: a
 * thousand steps that end at once must not nest a thousand calls. */
static void next_cb(uv_timer_t *t)
{
	begin(t->data);
}

static void go_on(struct run *r, const char *detail)
{
	op_step(r->op, cur(r)->text, detail);
	uv_timer_start(&r->timer, next_cb, 0, 0);
}

/* A step failed (why): the on_failure steps, if any and not running yet;
 * else the run ends failed. */
static void failed(struct run *r, const char *why)
{
	char msg[1100];

	if (!r->rolling_back && r->plan->nrollback) {
		r->failed = r->idx;
		snprintf(r->fail_why, sizeof(r->fail_why), "step %d (%s) failed: %s", r->idx + 1, cur(r)->text, why);
		r->rolling_back = true;
		r->idx = 0;
		uv_timer_stop(&r->halt);	/* the errors that failed it must not halt the rollback */
		log_warn("plan %s: %s; running the %d on_failure step(s)", r->plan->name, r->fail_why,
			 r->plan->nrollback);
		go_on(r, why);
		return;
	}
	if (r->rolling_back)
		snprintf(msg, sizeof(msg), "%s; on_failure step %d (%s) failed too: %s", r->fail_why, r->idx + 1,
			 cur(r)->text, why);
	else
		snprintf(msg, sizeof(msg), "step %d (%s) failed: %s", r->idx + 1, cur(r)->text, why);
	end_run(r, OP_FAILED, msg);
}

/* The step in progress ended. */
static void finish(struct run *r, bool ok, const char *detail)
{
	json_t *rec = cur_rec(r);
	char out[32], why[1100];
	const char *step = cur(r)->text;

	uv_timer_stop(&r->timer);
	json_object_set_new(rec, "status", json_string(ok ? "done" : r->stop_why ? "stopped" : "failed"));
	json_object_set_new(rec, "ms", json_integer((json_int_t)(now(r) - r->step_ms)));
	utc_now(out, sizeof(out));
	json_object_set_new(rec, "ended", json_string(out));
	if (detail)
		json_object_set_new(rec, "detail", json_string(detail));
	log_info("plan %s: step %d %s: %s%s%s", r->plan->name, r->idx + 1, ok ? "done" : "failed", step,
		 detail ? ": " : "", detail ? detail : "");
	if (r->stop_why && r->stop_state == OP_ABORTED) {	/* an abort: nothing more runs */
		snprintf(why, sizeof(why), "%s (at step %d, %s%s)", r->stop_why, r->idx + 1,
			 r->rolling_back ? "on_failure: " : "", step);
		end_run(r, OP_ABORTED, why);
		return;
	}
	if (r->stop_why && !r->rolling_back) {	/* the automatic halt: a failure */
		snprintf(why, sizeof(why), "%s", r->stop_why);
		r->stop_why = NULL;
		failed(r, why);
		return;
	}
	if (!ok) {
		failed(r, detail ? detail : "?");
		return;
	}
	if (++r->idx == (r->rolling_back ? r->plan->nrollback : r->plan->nsteps)) {
		r->idx--;	/* stays on the last step for the report */
		if (r->rolling_back) {
			snprintf(why, sizeof(why), "%s; the on_failure steps ran", r->fail_why);
			end_run(r, OP_FAILED, why);
		} else {
			end_run(r, OP_DONE, NULL);
		}
		return;
	}
	go_on(r, detail);
}

/* ---- exec ---------------------------------------------------------------------------- */

static void closed_cb(uv_handle_t *h)
{
	struct run *r = h->data;

	if (--r->closing > 0 || !r->freeing)
		return;
	json_decref(r->recs);
	json_decref(r->rb_recs);
	plan_free(r->plan);
	free(r->req0);
	free(r);
}

static char **exec_env(struct run *r, const struct pstep *st)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + (size_t)st->nenv + 6, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "NODOWN_", 7))
			env[k++] = xstrdup(environ[i]);
	env[k] = xmalloc(strlen(r->plan->name) + 16);
	sprintf(env[k++], "NODOWN_PLAN=%s", r->plan->name);
	env[k] = xmalloc(strlen(r->id) + 16);
	sprintf(env[k++], "NODOWN_RUN=%s", r->id);
	if (st->pool) {
		env[k] = xmalloc(strlen(st->pool) + 16);
		sprintf(env[k++], "NODOWN_POOL=%s", st->pool);
	}
	if (st->backend) {
		env[k] = xmalloc(strlen(st->backend) + 16);
		sprintf(env[k++], "NODOWN_BACKEND=%s", st->backend);
	}
	for (int i = 0; i < st->nenv; i++)
		env[k++] = xstrdup(st->env[i]);
	return env;
}

static void free_env(char **env)
{
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}

/* The exec step's command ended (core/subproc.h). */
static void exec_done_cb(void *arg, const struct subproc_result *res)
{
	struct run *r = arg;
	struct pstep *st = cur(r);
	json_t *rec = cur_rec(r);
	char detail[512];
	bool ok = !res->stopped && res->term_signal == 0 && res->exit_status == 0;

	r->sp = NULL;
	if (res->output_bytes) {
		json_object_set_new(rec, "output", json_string(res->output));
		json_object_set_new(rec, "output_bytes", json_integer((json_int_t)res->output_bytes));
	}
	if (res->stopped)
		snprintf(detail, sizeof(detail), "%s: sent SIGTERM; %s after %.1fs%s", res->stopped,
			 res->term_signal == SIGKILL ? "killed (SIGKILL)" : res->term_signal ? "it ended on the signal" :
			 "it exited", (double)(now(r) - r->step_ms) / 1000, res->group_killed ?
			 "; what was left of its process group got SIGKILL after the grace" : "");
	else if (res->term_signal)
		snprintf(detail, sizeof(detail), "killed by signal %d", res->term_signal);
	else
		snprintf(detail, sizeof(detail), "exit %lld", (long long)res->exit_status);
	if (ok && st->kind == PS_VERIFY && st->pool) {
		unsigned long long req, err;

		since(r, st->pool, st->since_step, &req, &err);
		if ((st->max_errors >= 0 && err > (unsigned long long)st->max_errors) ||
		    (st->max_rate >= 0 && req && (double)err / (double)req > st->max_rate)) {
			snprintf(detail, sizeof(detail), "nodown load passed; pool %s: %llu errors in %llu requests",
				 st->pool, err, req);
			ok = false;
		}
	}
	finish(r, ok, detail);
}

/* Start cmd (sh -c) in the plan's directory; false with why. */
static bool exec_start(struct run *r, const char *cmd, uint64_t timeout_ms, char *why, size_t wn)
{
	char **env = exec_env(r, cur(r));

	r->sp = subproc_start(r->d->loop, cmd, r->plan->dir, env, timeout_ms, r->plan->grace_ms, exec_done_cb, r,
			      why, wn);
	free_env(env);
	return r->sp != NULL;
}

/* ---- the other steps ----------------------------------------------------------------- */

/* The live state of pool/backend in the current config, or NULL. */
static struct backend_live *live_of(struct daemon *d, const char *pool, const char *be)
{
	const struct pool_cfg *pc = config_pool(d->cfg, pool);
	const struct backend_cfg *bc = config_backend(pc, be);

	return bc ? d->live[pc->index][bc->index] : NULL;
}

static int pool_index(struct daemon *d, const char *pool)
{
	const struct pool_cfg *pc = config_pool(d->cfg, pool);

	return pc ? pc->index : -1;
}

/* A batch may start: with it out, no more than max_unavailable of the
 * pool out of rotation, and at least one backend ready. */
static void gate(struct run *r, struct pstep *st)
{
	int p = pool_index(r->d, st->pool), out = 0, left = 0;
	char who[1024] = "", detail[1400];

	for (int b = 0; p >= 0 && b < r->d->cfg->pools[p].nbackends; b++) {
		const char *name = r->d->cfg->pools[p].backends[b].name;
		bool in = false;

		for (int i = 0; i < st->nbatch; i++)
			in |= !strcmp(st->batch[i], name);
		if (in)
			continue;
		if (backend_usable(r->d->live[p][b])) {
			left++;
			continue;
		}
		out++;
		snprintf(who + strlen(who), sizeof(who) - strlen(who), "%s%s (%s)", out > 1 ? ", " : "", name,
			 backend_state_name(r->d->live[p][b]));
	}
	if (out + st->nbatch > st->max_unavailable) {
		snprintf(detail, sizeof(detail), "%d other backend%s of %s %s out of rotation already: %s; taking "
			 "%d more out would exceed max_unavailable %d", out, out == 1 ? "" : "s", st->pool,
			 out == 1 ? "is" : "are", who, st->nbatch, st->max_unavailable);
		finish(r, false, detail);
	} else if (left < 1) {
		snprintf(detail, sizeof(detail), "no other backend of %s is ready; the batch would leave none",
			 st->pool);
		finish(r, false, detail);
	} else {
		snprintf(detail, sizeof(detail), "%d other backend%s ready%s%s", left, left == 1 ? "" : "s",
			 out ? "; out of rotation: " : "", who);
		finish(r, true, detail);
	}
}

static bool verify_counts(struct run *r, struct pstep *st, bool final, char *detail, size_t n, bool *over)
{
	unsigned long long req, err;

	since(r, st->pool, st->since_step, &req, &err);
	*over = (st->max_errors >= 0 && err > (unsigned long long)st->max_errors) ||
		(st->max_rate >= 0 && req && (double)err / (double)req > st->max_rate);
	snprintf(detail, n, "pool %s: %llu errors in %llu requests since the %s", st->pool, err, req,
		 st->since_step ? "step began" : "plan began");
	return *over || final;
}

/* The polled steps: has the step ended? (then finished) */
static void poll_cb(uv_timer_t *t)
{
	struct run *r = t->data;
	struct pstep *st = cur(r);
	uint64_t took = now(r) - r->step_ms;
	bool late = took >= st->ms, over;
	struct backend_live *lv = st->backend ? live_of(r->d, st->pool, st->backend) : NULL;
	char detail[600];
	struct op *op;

	switch (st->kind) {
	case PS_WAIT_DRAINED:
		if (!lv)
			{ finish(r, false, "the backend left the config"); return; }
		if (STAT_GET(lv->state) == BACKEND_READY)
			{ finish(r, false, "the backend is ready, not draining: drain it first"); return; }
		if (STAT_GET(lv->active) == 0) {
			snprintf(detail, sizeof(detail), "nothing in flight after %.2fs", (double)took / 1000);
			{ finish(r, true, detail); return; }
		}
		if (late) {
			snprintf(detail, sizeof(detail), "%d request(s) still in flight after %.1fs",
				 STAT_GET(lv->active), (double)took / 1000);
			{ finish(r, false, detail); return; }
		}
		return;
	case PS_WAIT_HEALTHY:
		if (!lv)
			{ finish(r, false, "the backend left the config"); return; }
		if (STAT_GET(lv->health) == HEALTH_UP && STAT_GET(lv->checks_ok) > r->checks0) {
			snprintf(detail, sizeof(detail), "up, checked after %.2fs", (double)took / 1000);
			{ finish(r, true, detail); return; }
		}
		if (late) {
			snprintf(detail, sizeof(detail), "still down after %.1fs (health checks; see the error log)",
				 (double)took / 1000);
			{ finish(r, false, detail); return; }
		}
		return;
	case PS_SLEEP:
		{ finish(r, true, NULL); return; }
	case PS_APPROVE:
		if (r->approved)
			{ finish(r, true, "approved"); return; }
		if (st->ms && late)
			{ finish(r, false, "not approved in time (nodown approve)"); return; }
		return;
	case PS_VERIFY:
		if (verify_counts(r, st, late, detail, sizeof(detail), &over))
			finish(r, !over, detail);
		return;
	case PS_SWITCHOVER:
		op = op_find(r->d, "switchover", st->pool);
		if (op && op->id == r->sub_id && op_running(op))
			return;
		if (op && op->id == r->sub_id && op->state == OP_DONE) {
			snprintf(detail, sizeof(detail), "%s is the primary (switchover %u, %.2fs)", st->backend,
				 op->id, (double)took / 1000);
			{ finish(r, true, detail); return; }
		}
		snprintf(detail, sizeof(detail), "the switchover %s: %s", op ? status_names[op->state] : "is gone",
			 op && op->error[0] ? op->error : "see GET /pools/POOL/switchover");
		{ finish(r, false, detail); return; }
	default:
		BUG_ON(1);
	}
}

static void start_switchover(struct run *r, struct pstep *st)
{
	int p = pool_index(r->d, st->pool);
	struct backend_live *lv = live_of(r->d, st->pool, st->backend);
	const char *why;
	struct op *op;
	char detail[600];

	if (p >= 0 && lv && STAT_GET(lv->role) == ROLE_PRIMARY) {
		snprintf(detail, sizeof(detail), "%s is already the primary: nothing to do", st->backend);
		{ finish(r, true, detail); return; }
	}
	if (!(op = switchover_start(r->d, st->pool, st->backend, st->ms, &why))) {
		snprintf(detail, sizeof(detail), "refused: %s", why);
		{ finish(r, false, detail); return; }
	}
	r->sub_id = op->id;
	uv_timer_start(&r->timer, poll_cb, POLL_MS, POLL_MS);
}

static void backend_step(struct run *r, struct pstep *st)
{
	static const int states[] = { [PS_DRAIN] = BACKEND_DRAINING, [PS_READY] = BACKEND_READY,
				      [PS_MAINT] = BACKEND_MAINT, [PS_WEIGHT] = -1 };
	struct backend_live *lv = live_of(r->d, st->pool, st->backend);
	char detail[300];

	if (!lv)
		{ finish(r, false, "the backend left the config"); return; }
	daemon_set_backend_named(r->d, st->pool, st->backend, states[st->kind],
				 st->kind == PS_WEIGHT ? st->value : -1);
	snprintf(detail, sizeof(detail), "now %s, weight %d, %d in flight", backend_state_name(lv),
		 STAT_GET(lv->weight), STAT_GET(lv->active));
	finish(r, true, detail);
}

static void pause_step(struct run *r, struct pstep *st)
{
	const char *why;
	char detail[300];
	int p = pool_index(r->d, st->pool);

	if (p < 0)
		{ finish(r, false, "the pool left the config"); return; }
	if (st->kind == PS_PAUSE) {
		if (!pause_start(r->d, p, st->ms, &why))
			{ finish(r, false, why); return; }
		snprintf(detail, sizeof(detail), "paused for at most %.1fs", (double)st->ms / 1000);
		{ finish(r, true, detail); return; }
	}
	finish(r, true, pause_end(r->d, st->pool, &why) ? "resumed" : "it was not paused (its timeout ended it)");
}

static void self_load(char *buf, size_t n, const char *args)
{
	char self[1024];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[len > 0 ? len : 0] = '\0';
	snprintf(buf, n, "'%s' load %s", len > 0 ? self : "nodown", args);
}

/* Does the step wait for something (so its start is worth writing down)? */
static bool takes_time(const struct pstep *st)
{
	return st->kind == PS_EXEC || st->kind == PS_SLEEP || st->kind == PS_WAIT_DRAINED ||
	       st->kind == PS_WAIT_HEALTHY || st->kind == PS_APPROVE || st->kind == PS_SWITCHOVER ||
	       (st->kind == PS_VERIFY && (st->run || st->ms));
}

/* Start the step at r->idx. */
static void begin(struct run *r)
{
	struct pstep *st = cur(r);
	json_t *rec = cur_rec(r);
	struct backend_live *lv;
	char when[32], why[600], cmd[4600];

	r->step_ms = now(r);
	utc_now(when, sizeof(when));
	json_object_set_new(rec, "status", json_string("running"));
	json_object_set_new(rec, "started", json_string(when));
	for (int i = 0; i < r->plan->nscope; i++)
		pool_counts(r->d, r->plan->scope[i], &r->sreq0[i], &r->serr0[i]);
	if (takes_time(st))	/* the steps that end at once are written with the next */
		save(r);
	switch (st->kind) {
	case PS_GATE:
		{ gate(r, st); return; }
	case PS_DRAIN: case PS_READY: case PS_MAINT: case PS_WEIGHT:
		{ backend_step(r, st); return; }
	case PS_PAUSE: case PS_RESUME:
		{ pause_step(r, st); return; }
	case PS_SWITCHOVER:
		{ start_switchover(r, st); return; }
	case PS_EXEC:
		if (!exec_start(r, st->run, st->ms, why, sizeof(why)))
			finish(r, false, why);
		return;
	case PS_VERIFY:
		if (st->run) {
			self_load(cmd, sizeof(cmd), st->run);
			if (!exec_start(r, cmd, st->ms, why, sizeof(why)))
				finish(r, false, why);
			return;
		}
		if (!st->ms)
			{ poll_cb(&r->timer); return; }
		break;
	case PS_SLEEP:
		uv_timer_start(&r->timer, poll_cb, st->ms, 0);
		return;
	case PS_APPROVE:
		r->approved = false;
		json_object_set_new(rec, "detail", json_string("waiting for 'nodown approve'"));
		save(r);
		log_warn("plan %s waits for an approval: %s (nodown approve)", r->plan->name, st->text);
		break;
	case PS_WAIT_HEALTHY:	/* up, by a check that began after now: not a stale word */
		lv = live_of(r->d, st->pool, st->backend);
		r->checks0 = lv ? STAT_GET(lv->checks_ok) : 0;
		break;
	case PS_WAIT_DRAINED:
		break;
	}
	uv_timer_start(&r->timer, poll_cb, 0, POLL_MS);
}

/* ---- stops: abort, auto-halt, the daemon's stop ------------------------------------- */

/* Ask the step in progress to end now; the run stops when it has. */
static void stop(struct run *r, enum op_state st, const char *why)
{
	struct pstep *s = cur(r);
	struct op *sw = s->kind == PS_SWITCHOVER ? op_find(r->d, "switchover", s->pool) : NULL;
	const char *refused;

	if (r->stop_why)
		return;
	snprintf(r->stop_buf, sizeof(r->stop_buf), "%s", why);
	r->stop_why = r->stop_buf;
	r->stop_state = st;
	uv_timer_stop(&r->halt);
	if (r->sp) {
		subproc_stop(r->sp, st == OP_ABORTED ? "aborted" : "halted");
	} else if (sw && sw->id == r->sub_id && op_running(sw)) {
		if ((refused = op_abort(sw)))
			log_warn("plan %s: the switchover goes on to its end: %s", r->plan->name, refused);
	} else {
		finish(r, false, why);
	}
}

static void halt_cb(uv_timer_t *t)
{
	struct run *r = t->data;
	const struct plan_halt *h = &r->plan->halt;
	unsigned long long req = 0, err = 0;
	char why[400];

	for (int i = 0; i < r->plan->nscope; i++) {
		unsigned long long q, e;

		since(r, r->plan->scope[i], false, &q, &e);
		req += q;
		err += e;
	}
	if ((h->max_errors >= 0 && err > (unsigned long long)h->max_errors) ||
	    (h->max_rate >= 0 && req >= (unsigned long long)h->min_requests && (double)err / (double)req > h->max_rate)) {
		snprintf(why, sizeof(why), "auto-halt: %llu errors in %llu requests through the scope's pools "
			 "since the plan began (auto_halt)", err, req);
		log_error("plan %s: %s", r->plan->name, why);
		stop(r, OP_FAILED, why);
	}
}

static const char *run_abort(struct op *op)
{
	stop(op->arg, OP_ABORTED, "aborted by an operator");
	return NULL;
}

static void run_stop(struct op *op)
{
	struct run *r = op->arg;
	json_t *rec = cur_rec(r);
	char when[32], detail[128] = "nodown stopped";

	/* An exec must not outlive the daemon: a --resume would start a second
	 * one beside it. */
	if (r->sp) {
		snprintf(detail, sizeof(detail), "nodown stopped: %s", subproc_kill_now(r->sp));
		r->sp = NULL;
	}
	r->stop_why = "nodown stopped";
	utc_now(when, sizeof(when));
	json_object_set_new(rec, "status", json_string("stopped"));
	json_object_set_new(rec, "ended", json_string(when));
	json_object_set_new(rec, "ms", json_integer((json_int_t)(now(r) - r->step_ms)));
	json_object_set_new(rec, "detail", json_string(detail));
	end_run(r, OP_ABORTED, "nodown stopped while the plan ran (nodown run --resume continues it)");
}

static void run_report(struct op *op, json_t *j)
{
	json_object_set_new(j, "run", run_json(op->arg));
}

/* The status listener shows no command's output: it may hold secrets. */
static void run_redact(json_t *j)
{
	static const char *const lists[] = { "steps", "rollback" };
	json_t *run = json_deep_copy(json_object_get(j, "run")), *rec;
	size_t i;

	for (size_t l = 0; l < ARRAY_LEN(lists); l++)
		json_array_foreach(json_object_get(run, lists[l]), i, rec)
			json_object_del(rec, "output");
	json_object_set_new(j, "run", run);
}

static const char *run_reload_blocked(struct op *op, const struct config *next)
{
	struct run *r = op->arg;
	static char buf[512];	/* the control thread's only */

	return plan_still_valid(r->plan, r->rolling_back ? r->plan->nsteps : r->idx, r->rolling_back ? r->idx : 0,
				next, buf, sizeof(buf));
}

static void run_free(struct op *op)
{
	struct run *r = op->arg;

	if (r->sp) {	/* not after a stop: it has none */
		subproc_kill_now(r->sp);
		r->sp = NULL;
	}
	r->freeing = true;
	r->closing += 2;
	uv_close((uv_handle_t *)&r->timer, closed_cb);
	uv_close((uv_handle_t *)&r->halt, closed_cb);
}

static const struct op_kind plan_kind = {
	.name = "plan", .abort = run_abort, .stop = run_stop, .report = run_report, .redact = run_redact,
	.reload_blocked = run_reload_blocked, .free = run_free,
};

/* ---- starting ----------------------------------------------------------------------- */

static struct op *running_plan(struct daemon *d)
{
	for (struct op *op = d->ops; op; op = op->next)
		if (op->kind == &plan_kind && op_running(op))
			return op;
	return NULL;
}

static struct op *last_plan(struct daemon *d)
{
	struct op *last = NULL;

	for (struct op *op = d->ops; op; op = op->next)
		if (op->kind == &plan_kind && (!last || op->id > last->id))
			last = op;
	return last;
}

static json_t *records(const struct pstep *s, int n)
{
	json_t *a = plan_steps_json(s, n), *rec;
	size_t i;

	json_array_foreach(a, i, rec)
		json_object_set_new(rec, "status", json_string("pending"));
	return a;
}

static json_t *read_run(struct daemon *d, const char *id)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s.json", d->cfg->runs_dir, id);
	return json_load_file(path, 0, NULL);
}

static int by_started(const void *a, const void *b)
{
	const char *x = jstr(*(json_t *const *)a, "started");
	const char *y = jstr(*(json_t *const *)b, "started");
	int c = strcmp(y, x);

	return c ? c : strcmp(jstr(*(json_t *const *)b, "id"),
			      jstr(*(json_t *const *)a, "id"));
}

/* Every run log in runs_dir, newest first; *n of them. */
static json_t **read_runs(struct daemon *d, size_t *n)
{
	DIR *dir = opendir(d->cfg->runs_dir);
	struct dirent *e;
	json_t **all = NULL;
	size_t cap = 0;

	*n = 0;
	while (dir && (e = readdir(dir))) {
		size_t l = strlen(e->d_name);
		json_t *j;

		if (l < 6 || strcmp(e->d_name + l - 5, ".json"))
			continue;
		e->d_name[l - 5] = '\0';
		if (!(j = read_run(d, e->d_name)))
			continue;
		if (*n == cap)
			all = xrealloc(all, (cap = cap ? 2 * cap : 32) * sizeof(*all));
		all[(*n)++] = j;
	}
	if (dir)
		closedir(dir);
	if (*n)
		qsort(all, *n, sizeof(*all), by_started);
	return all;
}

static void free_runs(json_t **all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(all[i]);
	free(all);
}

/* The run log to resume: `which` (a run id) or the plan's last run. NULL
 * with why. */
static json_t *resumable(struct daemon *d, const struct plan *p, const char *which, char *why, size_t n)
{
	json_t **all, *best = NULL;
	size_t k;

	if (which) {
		if (!*which || which[0] == '.' || strspn(which, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						"0123456789-_.") != strlen(which) || !(best = read_run(d, which))) {
			snprintf(why, n, "no run log '%.100s' in %s (nodown history lists the runs)", which,
				 d->cfg->runs_dir);
		} else if (strcmp(jstr(best, "plan"), p->name)) {
			snprintf(why, n, "run %.100s is of plan '%s', not '%s'", which, jstr(best, "plan"), p->name);
			json_decref(best);
			best = NULL;
		}
		return best;
	}
	all = read_runs(d, &k);
	for (size_t i = 0; i < k && !best; i++)
		if (!strcmp(jstr(all[i], "plan"), p->name))
			best = json_incref(all[i]);
	free_runs(all, k);
	if (!best)
		snprintf(why, n, "plan '%s' has no run to resume in %s", p->name, d->cfg->runs_dir);
	return best;
}

/* The first step not done in old (the same steps as p's), or -1 with why. */
static int resume_point(const struct plan *p, json_t *old, char *why, size_t n)
{
	json_t *steps = json_object_get(old, "steps");
	const char *id = jstr(old, "id");
	int first = -1;

	if ((int)json_array_size(steps) != p->nsteps) {
		snprintf(why, n, "the plan changed since run %s (%zu steps then, %d now); run it anew", id,
			 json_array_size(steps), p->nsteps);
		return -1;
	}
	for (int i = 0; i < p->nsteps; i++) {
		json_t *rec = json_array_get(steps, (size_t)i);
		const char *t = jstr(rec, "text");

		if (strcmp(t, p->steps[i].text)) {
			snprintf(why, n, "the plan changed since run %s: step %d was '%s', is '%s'; run it anew", id,
				 i + 1, t, p->steps[i].text);
			return -1;
		}
		if (first < 0 && strcmp(jstr(rec, "status"), "done"))
			first = i;
	}
	if (first < 0)
		snprintf(why, n, "run %s finished every step; nothing to resume", id);
	else if (p->steps[first].gate >= 0)	/* a batch starts over: checked, taken out again */
		first = p->steps[first].gate;
	return first;
}

static struct run *run_new(struct daemon *d, struct plan *p)
{
	struct run *r = xcalloc(1, sizeof(*r));
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	struct stat sb;
	char path[4200];

	r->d = d;
	r->plan = p;
	r->failed = -1;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(r->id, sizeof(r->id), "%s-%s", p->name, stamp);
	for (int k = 2; k < 100; k++) {	/* two runs in one second */
		snprintf(path, sizeof(path), "%s/%s.json", d->cfg->runs_dir, r->id);
		if (stat(path, &sb) < 0)
			break;
		snprintf(r->id, sizeof(r->id), "%s-%s-%d", p->name, stamp, k);
	}
	utc_now(r->started, sizeof(r->started));
	r->recs = records(p->steps, p->nsteps);
	r->rb_recs = records(p->rollback, p->nrollback);
	r->req0 = xcalloc((size_t)p->nscope * 4, sizeof(*r->req0));
	r->err0 = r->req0 + p->nscope;
	r->sreq0 = r->err0 + p->nscope;
	r->serr0 = r->sreq0 + p->nscope;
	for (int i = 0; i < p->nscope; i++)
		pool_counts(d, p->scope[i], &r->req0[i], &r->err0[i]);
	uv_timer_init(d->loop, &r->timer);
	uv_timer_init(d->loop, &r->halt);
	r->timer.data = r->halt.data = r;
	return r;
}

/* Mark steps [0, first) done in an earlier run (their records copied). */
static void carry_over(struct run *r, json_t *old, int first)
{
	const char *id = jstr(old, "id");

	snprintf(r->resumed_from, sizeof(r->resumed_from), "%s", id);
	for (int i = 0; i < first; i++) {
		json_t *rec = json_deep_copy(json_array_get(json_object_get(old, "steps"), (size_t)i));

		if (!json_object_get(rec, "in_run"))	/* done further back: keep where */
			json_object_set_new(rec, "in_run", json_string(id));
		json_array_set_new(r->recs, (size_t)i, rec);
	}
	r->idx = first;
}

static void reply_problems(struct admin_conn *ac, struct errlist *errs)
{
	json_t *list = json_array();
	char msg[128];

	for (int i = 0; i < errs->n; i++)
		json_array_append_new(list, json_string(errs->msgs[i]));
	snprintf(msg, sizeof(msg), "the plan has %d problem%s", errs->n, errs->n == 1 ? "" : "s");
	admin_reply_json(ac, 400, json_pack("{s:s, s:o}", "error", msg, "errors", list));
}

struct submit {
	const char *file;
	bool dry_run;
	json_t *resume;		/* true, or a run id */
};

static bool read_submit(struct admin_conn *ac, json_t **body, struct submit *s)
{
	const char *text = admin_body(ac);

	*body = text ? json_loads(text, 0, NULL) : NULL;
	s->file = json_string_value(json_object_get(*body, "file"));
	s->dry_run = json_is_true(json_object_get(*body, "dry_run"));
	s->resume = json_object_get(*body, "resume");
	if (!s->file || s->file[0] != '/' || (s->resume && !json_is_boolean(s->resume) && !json_is_string(s->resume))) {
		admin_reply_error(ac, 400, "POST /plans takes a JSON body: {\"file\": \"/absolute/plan.yml\", "
				  "\"dry_run\": false, \"resume\": false | true | \"RUN\"}");
		return false;
	}
	return true;
}

static void dry_run(struct admin_conn *ac, struct plan *p, int first)
{
	json_t *scope = json_array();

	for (int i = 0; i < p->nscope; i++)
		json_array_append_new(scope, json_string(p->scope[i]));
	admin_reply_json(ac, 200, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:i}", "plan", p->name, "owner",
		p->owner, "file", p->file, "scope", scope, "steps", plan_steps_json(p->steps, p->nsteps),
		"rollback", plan_steps_json(p->rollback, p->nrollback), "first", first + 1));
}

void plan_route_submit(struct admin_conn *ac, const struct route_match *m)
{
	struct daemon *d = admin_daemon(ac);
	struct errlist errs = { 0 };
	struct submit s;
	struct plan *p = NULL;
	struct op *busy = running_plan(d);
	json_t *body = NULL, *old = NULL;
	char why[600];
	int first = 0;
	struct run *r;

	if (!admin_no_query(ac, m) || !read_submit(ac, &body, &s))
		goto out;
	if (plan_load(s.file, d->cfg, &p, &errs) < 0) {
		reply_problems(ac, &errs);
		goto out;
	}
	if (s.resume && !json_is_false(s.resume) &&
	    (!(old = resumable(d, p, json_string_value(s.resume), why, sizeof(why))) ||
	     (first = resume_point(p, old, why, sizeof(why))) < 0)) {
		admin_reply_error(ac, 409, why);
		goto out;
	}
	if (s.dry_run) {
		dry_run(ac, p, first);
		goto out;
	}
	if (busy) {
		snprintf(why, sizeof(why), "plan '%s' is running (step %s); one plan runs at a time "
			 "('nodown abort' stops it)", busy->pool, busy->step);
		admin_reply_error(ac, 409, why);
		goto out;
	}
	r = run_new(d, p);
	p = NULL;
	if (old)
		carry_over(r, old, first);
	r->op = op_start(d, &plan_kind, r->plan->name, cur(r)->text, r);
	BUG_ON(!r->op);		/* no plan runs */
	log_info("plan %s (run %s, owner %s): %d steps%s%s, from %s", r->plan->name, r->id, r->plan->owner,
		 r->plan->nsteps, old ? ", resumed at step " : "", old ? cur(r)->text : "", r->plan->file);
	if (r->plan->halt.max_rate >= 0 || r->plan->halt.max_errors >= 0)
		uv_timer_start(&r->halt, halt_cb, HALT_EVERY_MS, HALT_EVERY_MS);
	begin(r);
	admin_reply_json(ac, 202, op_json(r->op));
out:
	plan_free(p);
	json_decref(old);
	json_decref(body);
	errlist_free(&errs);
}

/* ---- the other endpoints -------------------------------------------------------------- */

void plan_route_current(struct admin_conn *ac, const struct route_match *m)
{
	op_route_follow(ac, m, last_plan(admin_daemon(ac)), "GET /plans/current[?after=STEPS&wait=DURATION]",
			"no plan has run since nodown started (nodown history lists runs)");
}

void plan_route_abort(struct admin_conn *ac, const struct route_match *m)
{
	struct op *op = running_plan(admin_daemon(ac));

	if (!admin_no_query(ac, m))
		return;
	if (!op) {
		admin_reply_error(ac, 409, "no plan is running");
		return;
	}
	op_abort(op);
	admin_reply_json(ac, 202, op_json(op));
}

void plan_route_approve(struct admin_conn *ac, const struct route_match *m)
{
	struct op *op = running_plan(admin_daemon(ac));
	struct run *r = op ? op->arg : NULL;

	if (!admin_no_query(ac, m))
		return;
	if (!r || cur(r)->kind != PS_APPROVE || r->stop_why) {
		admin_reply_error(ac, 409, r ? "the running plan is not waiting for an approval" : "no plan is running");
		return;
	}
	r->approved = true;
	log_info("plan %s: approved (%s)", r->plan->name, cur(r)->text);
	poll_cb(&r->timer);
	admin_reply_json(ac, 200, op_json(op));
}


/* A run's summary: id, plan, owner, state, started, ended, steps done/total. */
static json_t *summary(json_t *run)
{
	size_t i, done = 0;
	json_t *rec, *s = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}",
		"id", json_object_get(run, "id"), "plan", json_object_get(run, "plan"),
		"owner", json_object_get(run, "owner"), "state", json_object_get(run, "state"),
		"started", json_object_get(run, "started"), "ended", json_object_get(run, "ended"),
		"error", json_object_get(run, "error"), "resumed_from", json_object_get(run, "resumed_from"));

	json_array_foreach(json_object_get(run, "steps"), i, rec)
		done += !strcmp(jstr(rec, "status"), "done");
	json_object_set_new(s, "steps_done", json_integer((json_int_t)done));
	json_object_set_new(s, "steps", json_integer((json_int_t)json_array_size(json_object_get(run, "steps"))));
	return s;
}

/* The run logs, newest first (the running one as it is now). */
void plan_route_runs(struct admin_conn *ac, const struct route_match *m)
{
	struct daemon *d = admin_daemon(ac);
	json_t **all, *list;
	size_t n;

	if (!admin_no_query(ac, m))
		return;
	all = read_runs(d, &n);
	list = json_array();
	for (size_t i = 0; i < n && i < RUNS_LISTED; i++)
		json_array_append_new(list, summary(all[i]));
	free_runs(all, n);
	admin_reply_json(ac, 200, json_pack("{s:s, s:o}", "runs_dir", d->cfg->runs_dir, "runs", list));
}

void plan_route_run(struct admin_conn *ac, const struct route_match *m)
{
	struct daemon *d = admin_daemon(ac);
	struct op *op = last_plan(d);
	json_t *j;

	if (!admin_no_query(ac, m))
		return;
	if (op && !strcmp(((struct run *)op->arg)->id, m->params[0]))
		j = run_json(op->arg);
	else
		j = read_run(d, m->params[0]);
	if (!j)
		admin_reply_error(ac, 404, "no such run (nodown history lists them)");
	else
		admin_reply_json(ac, 200, j);
}
