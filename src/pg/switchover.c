/*
 * switchover.c - move a pg pool's primary to one of its standbys with no
 * failed client and no lost commit.
 *
 * Owns: struct pg_switchover, the state of a switchover operation (the
 *       engine, core/op.c, keeps its steps and report), and while it runs
 *       the `paused`/`switching` words of its pool and the roles of its
 *       backends.
 * Steps (each logged, timed and shown by GET /pools/P/switchover):
 *   check     the target streams from the current primary
 *   pause     no transaction starts (workers hold clients at their first
 *             message, and new logins); wait for those in flight to end,
 *             at most pause_timeout, else abort naming who blocked
 *   lsn       the old primary's WAL insert position, pg_current_wal_insert_lsn(),
 *             and a record after it flushed (so the standby can pass it)
 *   fence     fence_command, if any (e.g. a fast shutdown, which also
 *             ships the last WAL to the standbys)
 *   catchup   the target has replayed up to that position
 *   promote   promote_command, or SELECT pg_promote(false) (verify polls)
 *   verify    the target is out of recovery and at or past the position
 *   repoint   roles swapped, primary epoch bumped (servers to the old
 *             primary are closed, sessions reconnect on next use with
 *             their settings and prepared statements), clients released
 * Invariants: nothing is released onto the new primary before verify
 *             passed; an abort before fence releases clients onto the old
 *             primary, untouched; an operator's abort is honoured only
 *             before the fence, at the next step boundary (or while the
 *             pause waits); a reload that would change the pool's
 *             backends waits for the end, any other goes on.
 * Runs on: the control thread's loop.
 */
#include "switchover.h"

#include <signal.h>

#include <errno.h>

#include "../core/admin.h"
#include "../core/daemon.h"
#include "../core/op.h"
#include "../core/route.h"
#include "../core/log.h"
#include "config.h"
#include "live.h"
#include "monitor.h"

enum sw_step { SW_CHECK, SW_PAUSE, SW_LSN, SW_FENCE, SW_CATCHUP, SW_PROMOTE, SW_VERIFY,
	       SW_REPOINT, SW_DONE, SW_ABORTED, SW_FAILED };

static const char *const step_names[] = { "check", "pause", "lsn", "fence", "catchup", "promote",
					  "verify", "repoint", "done", "aborted", "failed" };

struct pg_switchover {
	struct op *op;			/* the engine's record of it */
	struct daemon *d;
	char from[64], to[64];
	const struct pool_cfg *pc;	/* of the snapshot it started on (op->snap) */
	const struct pg_pool_cfg *pg;	/* pc's pg settings */
	struct pool_live *pl;		/* a reference */
	struct backend_live *from_live, *to_live;	/* references */
	int from_port;
	char from_host[80];		/* the primary's address as a standby would name it */
	struct pg_mon *old_mon, *new_mon;	/* owned */
	enum sw_step step;
	uint64_t pause_ms, resume_ms;
	uint64_t pause_timeout_ms;
	uv_timer_t timer;
	uv_process_t proc;
	bool proc_running;		/* proc's handle is open (spawned, not yet closed) */
	bool promote_sent;		/* the target may have been promoted */
	bool target_behind;		/* verify found the target behind the recorded LSN */
	bool abort_asked;		/* an operator asked to abort */
	bool dying;			/* sw_free ran: memory goes once every handle closed */
	bool timer_closed;		/* timer's close callback ran */
	char lsn[64];
	char detail[512];		/* why it aborted or failed */
	unsigned long long held_before;
	unsigned long long warm_before;	/* pool's warm_adopted at the start */
};

static void step_to(struct pg_switchover *s, enum sw_step next, const char *detail);

static uint64_t now_ms(struct pg_switchover *s)
{
	return uv_now(s->d->loop);
}

/* Clients go again: onto whichever primary the roles now say. */
static void release(struct pg_switchover *s)
{
	if (!s->resume_ms && s->pause_ms) {
		uint64_t stall = (now_ms(s) - s->pause_ms) * 1000;

		s->resume_ms = now_ms(s);
		if (stall > STAT_GET(s->pl->stall_us_max))
			atomic_store(&s->pl->stall_us_max, stall);
	}
	atomic_store(&pg_plive(s->pl)->warm_target, 0);	/* warm servers not adopted now close */
	atomic_store(&s->pl->switching, false);
	atomic_store(&s->pl->paused, false);
	daemon_sweep(s->d);
}

/* ---- steps --------------------------------------------------------------------------- */

static void query(struct pg_switchover *s, struct pg_mon *m, const char *sql, pg_mon_cb cb)
{
	pg_mon_query(m, sql, s->pg->promote_timeout_ms, cb, s);
}

static void abort_or_fail(struct pg_switchover *s, bool after_fence, const char *fmt, const char *what)
{
	snprintf(s->detail, sizeof(s->detail), fmt, what);
	step_to(s, after_fence ? SW_FAILED : SW_ABORTED, s->detail);
}

static void old_ready_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;

	ND_UNUSED(m);
	if (status < 0) {
		abort_or_fail(s, false, "cannot query the current primary: %s", value);
		return;
	}
	step_to(s, SW_PAUSE, NULL);
}

static void check_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;
	char want[120], local[96];
	bool loopback = !strcmp(s->from_host, "127.0.0.1");

	ND_UNUSED(m);
	snprintf(want, sizeof(want), "streaming %s %d", s->from_host, s->from_port);
	snprintf(local, sizeof(local), "streaming local %d", s->from_port);
	if (status < 0) {
		abort_or_fail(s, false, "cannot ask the target about replication: %s", value);
		return;
	}
	if (strcmp(value, want) && !(loopback && !strcmp(value, local))) {
		snprintf(s->detail, sizeof(s->detail), "%s is not a streaming standby of %s (its WAL "
			 "receiver says '%s', expected '%s')", s->to, s->from, value[0] ? value : "none", want);
		step_to(s, SW_ABORTED, s->detail);
		return;
	}
	/* the old primary's monitor logs in now, not inside the pause */
	query(s, s->old_mon, "SELECT 1", old_ready_cb);
}

static void blockers_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;

	ND_UNUSED(m);
	snprintf(s->detail, sizeof(s->detail), "transactions still open after pause_timeout (%llums): %s",
		 (unsigned long long)s->pause_timeout_ms,
		 status == 0 && value[0] ? value : "(could not list them)");
	step_to(s, SW_ABORTED, s->detail);
}

static void pause_poll_cb(uv_timer_t *t)
{
	struct pg_switchover *s = t->data;

	if (atomic_load(&s->pl->in_flight) == 0) {
		step_to(s, SW_LSN, NULL);
		return;
	}
	if (s->abort_asked) {
		step_to(s, SW_ABORTED, "aborted by an operator");
		return;
	}
	if (now_ms(s) - s->op->step_ms >= s->pause_timeout_ms) {
		query(s, s->old_mon,
		      "SELECT string_agg(usename || ' application_name=' || coalesce(application_name, '') || "
		      "' in a transaction for ' || date_trunc('milliseconds', now() - xact_start)::text, '; ') "
		      "FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start IS NOT NULL "
		      "AND pid <> pg_backend_pid()", blockers_cb);
		return;
	}
	uv_timer_start(&s->timer, pause_poll_cb, 1, 0);
}

static void lsn_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;

	ND_UNUSED(m);
	if (status < 0) {
		abort_or_fail(s, false, "cannot read the old primary's WAL position: %s", value);
		return;
	}
	snprintf(s->lsn, sizeof(s->lsn), "%s", value);
	step_to(s, SW_FENCE, NULL);
}

/* The command runs in a session of its own (UV_PROCESS_DETACHED): the
 * whole process group goes, not only the shell (an ssh it started too). */
static void kill_command(struct pg_switchover *s)
{
	if (s->proc_running && uv_kill(-s->proc.pid, SIGKILL) != 0)
		uv_process_kill(&s->proc, SIGKILL);
}

static void command_timeout_cb(uv_timer_t *t)
{
	kill_command(t->data);	/* its exit callback reports the failure */
}

static void sw_maybe_free(struct pg_switchover *s);

static void proc_closed_cb(uv_handle_t *h)
{
	struct pg_switchover *s = h->data;

	s->proc_running = false;
	sw_maybe_free(s);
}

static void fence_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct pg_switchover *s = p->data;
	char why[128];

	uv_close((uv_handle_t *)p, proc_closed_cb);
	if (s->dying)
		return;
	uv_timer_stop(&s->timer);
	if (status != 0 || sig != 0) {
		snprintf(why, sizeof(why), "exited with %s %d", sig ? "signal" : "status", sig ? sig : (int)status);
		/* a fence that failed may have half-done its work: say so */
		abort_or_fail(s, true, s->step == SW_FENCE ?
			      "fence_command failed (%s): check the old primary" :
			      "promote_command failed (%s)", why);
		return;
	}
	step_to(s, s->step == SW_FENCE ? SW_CATCHUP : SW_VERIFY, NULL);
}

/* Run cmd through /bin/sh with the switchover's facts in the environment. */
static int run_command(struct pg_switchover *s, const char *cmd)
{
	char e_pool[160], e_old[160], e_new[160], e_lsn[100];
	char *args[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	char *env[] = { e_pool, e_old, e_new, e_lsn, "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
	uv_process_options_t o = { 0 };
	int r;

	snprintf(e_pool, sizeof(e_pool), "NODOWN_POOL=%s", s->op->pool);
	snprintf(e_old, sizeof(e_old), "NODOWN_OLD_PRIMARY=%s", s->pc->backends[0].address);
	for (int i = 0; i < s->pc->nbackends; i++) {
		if (!strcmp(s->pc->backends[i].name, s->from))
			snprintf(e_old, sizeof(e_old), "NODOWN_OLD_PRIMARY=%s", s->pc->backends[i].address);
		if (!strcmp(s->pc->backends[i].name, s->to))
			snprintf(e_new, sizeof(e_new), "NODOWN_NEW_PRIMARY=%s", s->pc->backends[i].address);
	}
	snprintf(e_lsn, sizeof(e_lsn), "NODOWN_LSN=%s", s->lsn);
	o.file = args[0];
	o.args = args;
	o.env = env;
	o.exit_cb = fence_exit_cb;
	o.stdio_count = 0;
	o.flags = UV_PROCESS_DETACHED;	/* its own process group, killed whole */
	s->proc.data = s;
	r = uv_spawn(s->d->loop, &s->proc, &o);
	if (r == 0) {
		s->proc_running = true;
		uv_timer_start(&s->timer, command_timeout_cb, s->pg->promote_timeout_ms, 0);
	}
	return r;
}

static void catchup_cb(struct pg_mon *m, int status, const char *value, void *arg);

static void catchup_poll_cb(uv_timer_t *t)
{
	struct pg_switchover *s = t->data;
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn", s->lsn);
	query(s, s->new_mon, sql, catchup_cb);
}

static void catchup_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;

	ND_UNUSED(m);
	if (status == 0 && !strcmp(value, "t")) {
		step_to(s, SW_PROMOTE, NULL);
		return;
	}
	if (status < 0 || now_ms(s) - s->op->step_ms >= s->pg->promote_timeout_ms) {
		abort_or_fail(s, s->pg->fence_command != NULL,
			      "the target did not replay up to the old primary's position in time: %s",
			      status < 0 ? value : "promote_timeout reached");
		return;
	}
	uv_timer_start(&s->timer, catchup_poll_cb, 2, 0);
}

static void promote_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;

	ND_UNUSED(m);
	if (status < 0 || strcmp(value, "t")) {
		abort_or_fail(s, true, "pg_promote() on the target failed: %s", status < 0 ? value : "returned false");
		return;
	}
	step_to(s, SW_VERIFY, NULL);
}

static void verify_lsn_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;

	ND_UNUSED(m);
	if (status < 0 || strcmp(value, "t")) {
		s->target_behind = true;
		abort_or_fail(s, true, "the promoted target is behind the old primary's position %s: "
			      "it is put in maint and gets no writes", status < 0 ? value : s->lsn);
		return;
	}
	step_to(s, SW_REPOINT, NULL);
}

static void verify_cb(struct pg_mon *m, int status, const char *value, void *arg);

static void verify_poll_cb(uv_timer_t *t)
{
	struct pg_switchover *s = t->data;

	query(s, s->new_mon, "SELECT pg_is_in_recovery()", verify_cb);
}

static void verify_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pg_switchover *s = arg;
	char sql[160];

	ND_UNUSED(m);
	if (status == 0 && !strcmp(value, "f")) {
		snprintf(sql, sizeof(sql), "SELECT pg_current_wal_lsn() >= '%s'::pg_lsn", s->lsn);
		query(s, s->new_mon, sql, verify_lsn_cb);
		return;
	}
	if (now_ms(s) - s->op->step_ms >= s->pg->promote_timeout_ms) {
		abort_or_fail(s, true, "the target is still in recovery after promote_timeout%s", "");
		return;
	}
	uv_timer_start(&s->timer, verify_poll_cb, 2, 0);
}

/*
 * After a failure once the promotion was asked for: may the target now be
 * a primary that lacks writes? Yes when verify found it behind, or when no
 * fence_command stopped the old primary, which takes writes again once the
 * clients are released while the target may finish promoting later (the
 * newer timeline would then win the health checks and strand those
 * writes). Such a target is put in maint, where no write reaches it until
 * an operator, having rejoined it as a standby, says `nodown ready`.
 */
static void quarantine_target(struct pg_switchover *s)
{
	if (!s->promote_sent || (s->pg->fence_command && !s->target_behind))
		return;
	log_error("switchover %s: %s may have been promoted and %s; it is put in maint "
		  "so that no write reaches it: rejoin it as a standby of %s (pg_rewind), "
		  "then 'nodown ready %s/%s'", s->op->pool, s->to,
		  s->target_behind ? "lacks commits of the old primary" : "the old primary takes writes again",
		  s->from, s->op->pool, s->to);
	daemon_set_backend_named(s->d, s->op->pool, s->to, BACKEND_MAINT, -1);
}

/* The op's record: the step that ended, and the next one or the end. */
static void op_record(struct pg_switchover *s, enum sw_step next, const char *detail)
{
	if (next < SW_DONE)
		op_step(s->op, step_names[next], detail);
	else
		op_end(s->op, next == SW_DONE ? OP_DONE : next == SW_ABORTED ? OP_ABORTED : OP_FAILED,
		       next == SW_DONE ? NULL : detail);
}

static void step_to(struct pg_switchover *s, enum sw_step next, const char *detail)
{
	const struct pg_pool_cfg *pg = s->pg;

	if (s->abort_asked && next <= SW_FENCE)	/* nothing irreversible done yet */
		next = SW_ABORTED, detail = "aborted by an operator";
	log_info("switchover %s %s -> %s: %s done (%llums)%s%s", s->op->pool, s->from, s->to,
		 step_names[s->step], (unsigned long long)(now_ms(s) - s->op->step_ms),
		 next >= SW_ABORTED ? "; " : "", next >= SW_ABORTED ? step_names[next] : "");
	op_record(s, next, detail);
	s->step = next;
	switch (next) {
	case SW_CHECK:
		return;
	case SW_PAUSE:
		s->held_before = STAT_GET(s->pl->held);
		s->pause_ms = now_ms(s);
		atomic_store(&s->pl->switching, true);
		atomic_store(&s->pl->paused, true);
		uv_timer_start(&s->timer, pause_poll_cb, 0, 0);
		return;
	case SW_LSN:
		/*
		 * The insert position: an acknowledged asynchronous commit may be
		 * past what was flushed, and must reach the standby too. The same
		 * transaction then writes a record and commits it flushed: an idle
		 * primary's insert position can sit past a page header that no
		 * record has crossed yet (after a segment switch, or when the last
		 * record ended at a page boundary), and the standby's replay
		 * position stays at the page's start until some record follows,
		 * which the background writer may not log for 15 s.
		 */
		query(s, s->old_mon, "SELECT pg_current_wal_insert_lsn(), "
		      "set_config('synchronous_commit', 'local', true), "
		      "pg_logical_emit_message(true, 'nodown', 'switchover')", lsn_cb);
		return;
	case SW_FENCE:
		if (!pg->fence_command) {
			step_to(s, SW_CATCHUP, "no fence_command: nodown holds every client, the old primary stays up");
			return;
		}
		if (run_command(s, pg->fence_command) < 0)
			abort_or_fail(s, false, "cannot run fence_command%s", "");
		return;
	case SW_CATCHUP:
		catchup_poll_cb(&s->timer);
		return;
	case SW_PROMOTE:
		s->promote_sent = true;
		if (pg->promote_command) {
			if (run_command(s, pg->promote_command) < 0)
				abort_or_fail(s, true, "cannot run promote_command%s", "");
			return;
		}
		query(s, s->new_mon, "SELECT pg_promote(false)", promote_cb);
		return;
	case SW_VERIFY:
		verify_poll_cb(&s->timer);
		return;
	case SW_REPOINT:
		atomic_store(&s->from_live->role, ROLE_UNKNOWN);
		atomic_store(&pg_blive(s->to_live)->timeline, atomic_load(&pg_blive(s->from_live)->timeline) + 1);
		atomic_store(&s->to_live->role, ROLE_PRIMARY);
		atomic_fetch_add(&s->pl->epoch, 1);
		release(s);
		STAT_ADD(s->pl->switchovers, 1);
		step_to(s, SW_DONE, NULL);
		return;
	case SW_DONE:
		log_info("switchover %s: %s is the primary; clients were held %llums",
			 s->op->pool, s->to, (unsigned long long)(s->resume_ms - s->pause_ms));
		return;
	case SW_ABORTED:
	case SW_FAILED:
		uv_timer_stop(&s->timer);
		STAT_ADD(s->pl->switchovers_aborted, 1);
		log_warn("switchover %s %s -> %s %s: %s", s->op->pool, s->from, s->to, step_names[next],
			 detail ? detail : "");
		/* Aborted: onto the old primary, untouched. Failed (after the
		 * fence or promotion began): roles as health checks now find them,
		 * a target that may lack writes set aside first. */
		if (next == SW_FAILED)
			quarantine_target(s);
		release(s);
		return;
	}
}

/* ---- API ------------------------------------------------------------------------------ */

/* The memory goes once the timer and a command still running are closed. */
static void sw_maybe_free(struct pg_switchover *s)
{
	if (!s->dying || !s->timer_closed || s->proc_running)
		return;
	pool_live_unref(s->pl);
	backend_live_unref(s->from_live);
	backend_live_unref(s->to_live);
	free(s);
}

static void sw_timer_closed_cb(uv_handle_t *h)
{
	struct pg_switchover *s = h->data;

	s->timer_closed = true;
	sw_maybe_free(s);
}

/* The engine is done with the op (replaced by a newer one, or the daemon
 * stops). */
static void sw_free(struct op *op)
{
	struct pg_switchover *s = op->arg;

	s->dying = true;
	pg_mon_free(s->old_mon);
	pg_mon_free(s->new_mon);
	kill_command(s);	/* its exit callback closes it */
	uv_close((uv_handle_t *)&s->timer, sw_timer_closed_cb);
}

static int port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port :
					       ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* addr's host as pg_stat_wal_receiver.sender_host shows it (an IPv6
 * address without brackets), with loopback written 127.0.0.1 as the check
 * query writes the standby's localhost and ::1. */
static void from_host(const struct sockaddr_storage *addr, char *out, size_t n)
{
	char buf[80];
	char *host = buf;

	config_format_address(addr, buf, sizeof(buf));
	*strrchr(buf, ':') = '\0';	/* the host part */
	if (buf[0] == '[') {
		host++;
		host[strlen(host) - 1] = '\0';
	}
	snprintf(out, n, "%s", strcmp(host, "::1") ? host : "127.0.0.1");
}

/* ---- the operation kind ----------------------------------------------------------------- */

/* Before the fence nothing is done that cannot be undone: the abort takes
 * effect at the next step boundary, or within a millisecond in the pause. */
static const char *sw_abort(struct op *op)
{
	struct pg_switchover *s = op->arg;

	if (s->step >= SW_FENCE)
		return "the old primary may be fenced or the target promoted already; it finishes "
		       "or fails by itself";
	s->abort_asked = true;
	return NULL;
}

/* The daemon stops: clients held before the fence go on, on the old primary. */
static void sw_stop(struct op *op)
{
	struct pg_switchover *s = op->arg;

	if (s->step < SW_FENCE)
		release(s);
}

static void sw_report(struct op *op, json_t *j)
{
	struct pg_switchover *s = op->arg;
	uint64_t stall = s->resume_ms && s->pause_ms ? s->resume_ms - s->pause_ms :
			 s->pause_ms && op_running(op) ? now_ms(s) - s->pause_ms : 0;

	json_object_update_new(j, json_pack("{s:s, s:s, s:s?, s:I, s:I, s:I}",
		"from", s->from, "to", s->to, "lsn", s->lsn[0] ? s->lsn : NULL,
		"stall_ms", (json_int_t)stall,
		"held_clients", (json_int_t)(STAT_GET(s->pl->held) - s->held_before),
		"prewarmed", (json_int_t)(STAT_GET(pg_plive(s->pl)->warm_adopted) - s->warm_before)));
}

/* A reload may change anything but the backends of the pool switching
 * over (their order too: workers open servers to the target by index). */
static const char *sw_reload_blocked(struct op *op, const struct config *next)
{
	const struct pool_cfg *pc = ((struct pg_switchover *)op->arg)->pc;

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

static const struct op_kind switchover_kind = {
	.name = "switchover", .abort = sw_abort, .stop = sw_stop, .report = sw_report,
	.reload_blocked = sw_reload_blocked, .free = sw_free,
};

/* pool's index in d's config, its target `to` and its primary (-1: none). */
static const char *check_start(struct daemon *d, const char *pool, const char *target, int *pp,
			       int *pfrom, int *pto)
{
	const struct config *c = d->cfg;
	int p, from = -1, to = -1;

	for (p = 0; p < c->npools && strcmp(c->pools[p].name, pool); p++)
		;
	if (p == c->npools)
		return "no such pool";
	if (c->pools[p].proto != &pg_module)
		return "switchover applies to pg pools";
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
	if (from == to)
		return "the target is already the primary";
	if (STAT_GET(d->live[p][to]->role) != ROLE_STANDBY || !backend_usable(d->live[p][to]))
		return "the target is not a healthy standby (see 'nodown status')";
	*pp = p;
	*pfrom = from;
	*pto = to;
	return NULL;
}

static struct pg_mon *mon_new(struct pg_switchover *s, const struct sockaddr_storage *addr)
{
	struct pg_mon *m = xmalloc(sizeof(*m));

	pg_mon_init(m, s->d->loop, addr, pg_authfile_find(s->pg->auth, s->pg->monitor_user),
		    s->pg->monitor_database, s->pg->server_auth);
	return m;
}

struct op *pg_switchover_start(struct daemon *d, const char *pool, const char *target,
			       uint64_t pause_timeout_ms, const char **why)
{
	struct pg_switchover *s;
	const struct pool_cfg *pc;
	int p, from, to;

	if ((*why = check_start(d, pool, target, &p, &from, &to)))
		return NULL;
	pc = &d->cfg->pools[p];
	s = xcalloc(1, sizeof(*s));
	s->op = op_start(d, &switchover_kind, pool, step_names[SW_CHECK], s);
	if (!s->op) {
		free(s);
		*why = "a switchover of this pool is already running";
		return NULL;
	}
	s->d = d;
	s->pc = pc;		/* in op->snap, which the op holds */
	s->pg = pg_pool(pc);
	snprintf(s->from, sizeof(s->from), "%s", pc->backends[from].name);
	snprintf(s->to, sizeof(s->to), "%s", target);
	s->pl = pool_live_ref(d->snap->pools[p]);
	s->from_live = backend_live_ref(d->live[p][from]);
	s->to_live = backend_live_ref(d->live[p][to]);
	s->warm_before = STAT_GET(pg_plive(s->pl)->warm_adopted);
	s->held_before = STAT_GET(s->pl->held);		/* counted from the pause on */
	s->from_port = port_of(&pc->backends[from].addr);
	from_host(&pc->backends[from].addr, s->from_host, sizeof(s->from_host));
	s->pause_timeout_ms = pause_timeout_ms ? pause_timeout_ms : s->pg->pause_timeout_ms;
	s->old_mon = mon_new(s, &pc->backends[from].addr);
	s->new_mon = mon_new(s, &pc->backends[to].addr);
	uv_timer_init(d->loop, &s->timer);
	s->timer.data = s;
	s->step = SW_CHECK;
	log_info("switchover %s: %s -> %s starting", pool, s->from, s->to);
	/* Workers open servers to the target now, while traffic flows: once
	 * it is promoted the held clients go on without waiting for logins. */
	atomic_store(&pg_plive(s->pl)->warm_epoch, atomic_load(&s->pl->epoch) + 1);
	atomic_store(&pg_plive(s->pl)->warm_target, to + 1);
	daemon_sweep(d);
	/* A sender given as a socket directory counts as this host. */
	query(s, s->new_mon, "SELECT status || ' ' || CASE WHEN sender_host LIKE '/%' THEN 'local' "
	      "WHEN sender_host IN ('localhost', '::1') THEN '127.0.0.1' ELSE coalesce(sender_host, '') END "
	      "|| ' ' || coalesce(sender_port::text, '') FROM pg_stat_wal_receiver", check_cb);
	return s->op;
}

/* ---- admin endpoints -------------------------------------------------------------------- */

/*
 * GET /pools/POOL/switchover[?after=N&wait=D]: the running or last
 * switchover's report; with wait, once more than N steps have ended or it
 * is over, or after D (a long poll: nodown switchover follows it so).
 */
static void route_get(struct admin_conn *ac, const struct route_match *m)
{
	static const char *const known_q[] = { "after", "wait", NULL };
	struct op *op = op_find(admin_daemon(ac), "switchover", m->params[0]);
	char after[16], wait[32], *end = "";
	uint64_t wait_ms = 0;
	unsigned long n = 0;
	int r1 = route_query(m->query, "after", known_q, after, sizeof(after));
	int r2 = route_query(m->query, "wait", known_q, wait, sizeof(wait));

	if ((r1 != 0 && r1 != -ENOENT) || (r2 != 0 && r2 != -ENOENT) ||
	    (r1 == 0 && ((n = strtoul(after, &end, 10)), *end || !after[0])) ||
	    (r2 == 0 && config_parse_duration(wait, &wait_ms) < 0)) {
		admin_reply_error(ac, 400, "GET /pools/POOL/switchover[?after=STEPS&wait=DURATION]");
		return;
	}
	if (!op)
		admin_reply_error(ac, 404, "no switchover of this pool since nodown started");
	else if (wait_ms)
		op_wait(ac, op, n, wait_ms);
	else
		admin_reply_json(ac, 200, op_json(op));
}

/* POST /pools/POOL/switchover?to=BACKEND[&pause_timeout=D]: start one (202). */
static void route_post(struct admin_conn *ac, const struct route_match *m)
{
	static const char *const known_q[] = { "to", "pause_timeout", NULL };
	const char *pool = m->params[0], *why;
	char to[ROUTE_MAX_SEGMENT + 1], pause[32], msg[512];
	uint64_t pause_ms = 0;
	struct op *op;
	int r;

	if (route_query(m->query, "to", known_q, to, sizeof(to)) != 0 || !to[0] ||
	    ((r = route_query(m->query, "pause_timeout", known_q, pause, sizeof(pause))) != 0 &&
	     r != -ENOENT) || (r == 0 && config_parse_duration(pause, &pause_ms) < 0)) {
		admin_reply_error(ac, 400, "POST /pools/POOL/switchover?to=BACKEND[&pause_timeout=DURATION]");
		return;
	}
	op = pg_switchover_start(admin_daemon(ac), pool, to, pause_ms, &why);
	if (!op) {
		snprintf(msg, sizeof(msg), "switchover of pool '%.100s' to '%.100s' refused: %s", pool, to, why);
		admin_reply_error(ac, 409, msg);
		return;
	}
	admin_reply_json(ac, 202, op_json(op));
}

static const struct route routes[] = {
	{ "GET", "/pools/*/switchover", route_get },
	{ "POST", "/pools/*/switchover", route_post },
};

const struct route_table pg_switchover_routes = { routes, ARRAY_LEN(routes) };
