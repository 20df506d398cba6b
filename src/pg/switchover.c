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

#include "../core/daemon.h"
#include "../core/op.h"
#include "../core/switchover.h"
#include "../core/log.h"
#include "config.h"
#include "live.h"
#include "monitor.h"

enum sw_step { SW_CHECK, SW_PAUSE, SW_LSN, SW_FENCE, SW_CATCHUP, SW_PROMOTE, SW_VERIFY,
	       SW_REPOINT, SW_DONE, SW_ABORTED, SW_FAILED };

static const char *const step_names[] = { "check", "pause", "lsn", "fence", "catchup", "promote",
					  "verify", "repoint", "done", "aborted", "failed" };

struct pg_switchover {
	struct switchover sw;			/* first: what every switchover keeps */
	const struct pg_pool_cfg *pg;	/* sw.pc's pg settings */
	int from_port;
	char from_host[80];		/* the primary's address as a standby would name it */
	struct pg_mon *old_mon, *new_mon;	/* owned */
	enum sw_step step;
	uint64_t pause_timeout_ms;
	uv_process_t proc;
	bool proc_running;		/* proc's handle is open (spawned, not yet closed) */
	bool promote_sent;		/* the target may have been promoted */
	bool target_behind;		/* verify found the target behind the recorded LSN */
	bool abort_asked;		/* an operator asked to abort */
	bool dying;			/* sw_free ran: memory goes once every handle closed */
	bool timer_closed;		/* timer's close callback ran */
	char lsn[64];
	char detail[512];		/* why it aborted or failed */
	unsigned long long warm_before;	/* pool's warm_adopted at the start */
};

static void step_to(struct pg_switchover *s, enum sw_step next, const char *detail);

static uint64_t now_ms(struct pg_switchover *s)
{
	return uv_now(s->sw.d->loop);
}

/* Clients go again: onto whichever primary the roles now say; warm
 * servers not adopted now close. */
static void release(struct pg_switchover *s)
{
	atomic_store(&pg_plive(s->sw.pl)->warm_target, 0);
	switchover_release(&s->sw);
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
			 "receiver says '%s', expected '%s')", s->sw.to->name, s->sw.from->name, value[0] ? value : "none", want);
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

	if (atomic_load(&s->sw.pl->in_flight) == 0) {
		step_to(s, SW_LSN, NULL);
		return;
	}
	if (s->abort_asked) {
		step_to(s, SW_ABORTED, "aborted by an operator");
		return;
	}
	if (now_ms(s) - s->sw.op->step_ms >= s->pause_timeout_ms) {
		query(s, s->old_mon,
		      "SELECT string_agg(usename || ' application_name=' || coalesce(application_name, '') || "
		      "' in a transaction for ' || date_trunc('milliseconds', now() - xact_start)::text, '; ') "
		      "FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start IS NOT NULL "
		      "AND pid <> pg_backend_pid()", blockers_cb);
		return;
	}
	uv_timer_start(&s->sw.timer, pause_poll_cb, 1, 0);
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
	uv_timer_stop(&s->sw.timer);
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

	snprintf(e_pool, sizeof(e_pool), "NODOWN_POOL=%s", s->sw.op->pool);
	snprintf(e_old, sizeof(e_old), "NODOWN_OLD_PRIMARY=%s", s->sw.from->address);
	snprintf(e_new, sizeof(e_new), "NODOWN_NEW_PRIMARY=%s", s->sw.to->address);
	snprintf(e_lsn, sizeof(e_lsn), "NODOWN_LSN=%s", s->lsn);
	o.file = args[0];
	o.args = args;
	o.env = env;
	o.exit_cb = fence_exit_cb;
	o.stdio_count = 0;
	o.flags = UV_PROCESS_DETACHED;	/* its own process group, killed whole */
	s->proc.data = s;
	r = uv_spawn(s->sw.d->loop, &s->proc, &o);
	if (r == 0) {
		s->proc_running = true;
		uv_timer_start(&s->sw.timer, command_timeout_cb, s->pg->promote_timeout_ms, 0);
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
	if (status < 0 || now_ms(s) - s->sw.op->step_ms >= s->pg->promote_timeout_ms) {
		abort_or_fail(s, s->pg->fence_command != NULL,
			      "the target did not replay up to the old primary's position in time: %s",
			      status < 0 ? value : "promote_timeout reached");
		return;
	}
	uv_timer_start(&s->sw.timer, catchup_poll_cb, 2, 0);
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
	if (now_ms(s) - s->sw.op->step_ms >= s->pg->promote_timeout_ms) {
		abort_or_fail(s, true, "the target is still in recovery after promote_timeout%s", "");
		return;
	}
	uv_timer_start(&s->sw.timer, verify_poll_cb, 2, 0);
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
		  "then 'nodown ready %s/%s'", s->sw.op->pool, s->sw.to->name,
		  s->target_behind ? "lacks commits of the old primary" : "the old primary takes writes again",
		  s->sw.from->name, s->sw.op->pool, s->sw.to->name);
	daemon_set_backend_named(s->sw.d, s->sw.op->pool, s->sw.to->name, BACKEND_MAINT, -1);
}

static void step_to(struct pg_switchover *s, enum sw_step next, const char *detail)
{
	const struct pg_pool_cfg *pg = s->pg;

	if (s->abort_asked && next <= SW_FENCE)	/* nothing irreversible done yet */
		next = SW_ABORTED, detail = "aborted by an operator";
	log_info("switchover %s %s -> %s: %s done (%llums)%s%s", s->sw.op->pool, s->sw.from->name, s->sw.to->name,
		 step_names[s->step], (unsigned long long)(now_ms(s) - s->sw.op->step_ms),
		 next >= SW_ABORTED ? "; " : "", next >= SW_ABORTED ? step_names[next] : "");
	switchover_record(&s->sw, step_names, (int)next, SW_DONE, detail);
	s->step = next;
	switch (next) {
	case SW_CHECK:
		return;
	case SW_PAUSE:
		switchover_pause(&s->sw);
		uv_timer_start(&s->sw.timer, pause_poll_cb, 0, 0);
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
		catchup_poll_cb(&s->sw.timer);
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
		verify_poll_cb(&s->sw.timer);
		return;
	case SW_REPOINT:
		atomic_store(&s->sw.from_live->role, ROLE_UNKNOWN);
		atomic_store(&pg_blive(s->sw.to_live)->timeline, atomic_load(&pg_blive(s->sw.from_live)->timeline) + 1);
		atomic_store(&s->sw.to_live->role, ROLE_PRIMARY);
		atomic_fetch_add(&s->sw.pl->epoch, 1);
		release(s);
		STAT_ADD(s->sw.pl->switchovers, 1);
		step_to(s, SW_DONE, NULL);
		return;
	case SW_DONE:
		log_info("switchover %s: %s is the primary; clients were held %llums",
			 s->sw.op->pool, s->sw.to->name, (unsigned long long)(s->sw.resume_ms - s->sw.pause_ms));
		return;
	case SW_ABORTED:
	case SW_FAILED:
		uv_timer_stop(&s->sw.timer);
		STAT_ADD(s->sw.pl->switchovers_aborted, 1);
		log_warn("switchover %s %s -> %s %s: %s", s->sw.op->pool, s->sw.from->name, s->sw.to->name, step_names[next],
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
	switchover_unref(&s->sw);
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
	uv_close((uv_handle_t *)&s->sw.timer, sw_timer_closed_cb);
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

	switchover_report(&s->sw, j);
	json_object_update_new(j, json_pack("{s:s?, s:I}", "lsn", s->lsn[0] ? s->lsn : NULL,
		"prewarmed", (json_int_t)(STAT_GET(pg_plive(s->sw.pl)->warm_adopted) - s->warm_before)));
}

static const struct op_kind switchover_kind = {
	.name = "switchover", .abort = sw_abort, .stop = sw_stop, .report = sw_report,
	.reload_blocked = switchover_reload_blocked, .free = sw_free,
};

static struct pg_mon *mon_new(struct pg_switchover *s, const struct sockaddr_storage *addr)
{
	struct pg_mon *m = xmalloc(sizeof(*m));

	pg_mon_init(m, s->sw.d->loop, addr, pg_authfile_find(s->pg->auth, s->pg->monitor_user),
		    s->pg->monitor_database, s->pg->server_auth);
	return m;
}

struct op *pg_switchover_start(struct daemon *d, int p, int from, int to, uint64_t pause_timeout_ms,
			       const char **why)
{
	struct pg_switchover *s = xcalloc(1, sizeof(*s));
	const struct pool_cfg *pc = &d->cfg->pools[p];

	if (!switchover_begin(&s->sw, d, &switchover_kind, p, from, to, step_names[SW_CHECK], s, why)) {
		free(s);
		return NULL;
	}
	s->pg = pg_pool(pc);
	s->warm_before = STAT_GET(pg_plive(s->sw.pl)->warm_adopted);
	s->from_port = port_of(&pc->backends[from].addr);
	from_host(&pc->backends[from].addr, s->from_host, sizeof(s->from_host));
	s->pause_timeout_ms = pause_timeout_ms ? pause_timeout_ms : s->pg->pause_timeout_ms;
	s->old_mon = mon_new(s, &pc->backends[from].addr);
	s->new_mon = mon_new(s, &pc->backends[to].addr);
	s->step = SW_CHECK;
	/* Workers open servers to the target now, while traffic flows: once
	 * it is promoted the held clients go on without waiting for logins. */
	atomic_store(&pg_plive(s->sw.pl)->warm_epoch, atomic_load(&s->sw.pl->epoch) + 1);
	atomic_store(&pg_plive(s->sw.pl)->warm_target, to + 1);
	daemon_sweep(d);
	/* A sender given as a socket directory counts as this host. */
	query(s, s->new_mon, "SELECT status || ' ' || CASE WHEN sender_host LIKE '/%' THEN 'local' "
	      "WHEN sender_host IN ('localhost', '::1') THEN '127.0.0.1' ELSE coalesce(sender_host, '') END "
	      "|| ' ' || coalesce(sender_port::text, '') FROM pg_stat_wal_receiver", check_cb);
	return s->sw.op;
}
