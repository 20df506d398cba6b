/*
 * switchover.c - move a redis pool's primary to one of its replicas with
 * no client error, no lost write and no moment where two servers take
 * writes.
 *
 * Owns: struct redis_switchover, the state of one switchover operation
 *       (the engine, core/op.c, keeps its steps and report), and while it
 *       runs the `paused`/`switching` words of its pool and the roles of
 *       its backends.
 * Steps (each logged, timed and shown by GET /pools/P/switchover):
 *   check     the target is a replica of the primary, its link up
 *   pause     no command starts (workers hold clients at their next
 *             command; a MULTI block finishes); wait for those in flight,
 *             at most pause_timeout, else abort naming the blocked ones
 *   fence     CLIENT PAUSE WRITE on the old primary (CLIENT PAUSE before
 *             Redis 6.2): nobody writes there any more, nodown or not;
 *             then its replication offset
 *   catchup   the target's offset has reached it
 *   promote   REPLICAOF NO ONE on the target
 *   verify    the target says it is a master
 *   demote    REPLICAOF target on the old primary, then CLIENT UNPAUSE:
 *             a write sent there directly now gets READONLY
 *   repoint   roles swapped, every client moves to the target with its
 *             session (redis/session.h); clients go on once all have
 *   lingering CLIENT LIST on the old primary: who is still connected
 *             there directly (nodown's own connections are named nodown)
 * Invariants: nothing is released onto the target before it said it is
 *             a master; an abort before promote unpauses the old primary
 *             and releases clients onto it, untouched; after promote the
 *             switchover goes forward (a failed demote puts the old
 *             primary in maint); an operator's abort is honoured before
 *             promote; a reload that would change the pool's backends
 *             waits for the end.
 * Runs on: the control thread's loop.
 */
#include "switchover.h"

#include <stdarg.h>
#include <stdio.h>

#include "../core/daemon.h"
#include "../core/log.h"
#include "../core/op.h"
#include "config.h"
#include "live.h"
#include "../core/switchover.h"
#include "monitor.h"

enum rs_step { RS_CHECK, RS_PAUSE, RS_FENCE, RS_CATCHUP, RS_PROMOTE, RS_VERIFY, RS_DEMOTE, RS_REPOINT,
	       RS_LINGERING, RS_DONE, RS_ABORTED, RS_FAILED };

static const char *const step_names[] = { "check", "pause", "fence", "catchup", "promote", "verify",
					  "demote", "repoint", "lingering", "done", "aborted", "failed" };

struct redis_switchover {
	struct switchover sw;			/* first: what every switchover keeps */
	const struct redis_pool_cfg *rc;
	struct redis_mon *old_mon, *new_mon;	/* owned */
	enum rs_step step;
	uint64_t pause_timeout_ms;
	long long offset;			/* the old primary's, once fenced */
	bool fenced;				/* CLIENT PAUSE sent to the old primary */
	bool abort_asked, dying;
	int moving;				/* clients that were on the old primary at repoint */
	json_t *lingering;			/* [{id, addr, name, age, idle, db, cmd}] */
	char detail[768];
};

static void step_to(struct redis_switchover *s, enum rs_step next, const char *detail);

static uint64_t now_ms(const struct redis_switchover *s)
{
	return uv_now(s->sw.d->loop);
}

static void cmd(struct redis_switchover *s, struct redis_mon *m, redis_mon_cb cb, int argc, ...)
{
	const char *argv[8];
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, const char *);
	va_end(ap);
	redis_mon_cmd(m, s->rc->promote_timeout_ms, cb, s, argc, argv);
}

/* A reply's text for a message: its line, at most 200 bytes. */
static const char *text(const struct redis_reply *rep, char *buf, size_t n)
{
	snprintf(buf, n, "%.*s", (int)(rep->len > 200 ? 200 : rep->len), rep->p);
	return buf;
}

static void fail_with(struct redis_switchover *s, enum rs_step st, const char *what,
		      const struct redis_reply *rep)
{
	char why[256];

	snprintf(s->detail, sizeof(s->detail), "%s: %s", what, text(rep, why, sizeof(why)));
	step_to(s, st, s->detail);
}

/* "host port" of backend b, as the other server should reach it. */
static void host_port(const struct backend_cfg *b, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon = strrchr(b->address, ':');
	size_t len = (size_t)(colon - b->address);

	if (b->address[0] == '[')
		snprintf(host, hn, "%.*s", (int)(len - 2), b->address + 1);
	else
		snprintf(host, hn, "%.*s", (int)len, b->address);
	snprintf(port, pn, "%s", colon + 1);
}

static bool same_host(const char *a, const char *b)
{
	static const char *const local[] = { "127.0.0.1", "localhost", "::1" };
	bool la = false, lb = false;

	for (size_t i = 0; i < ARRAY_LEN(local); i++) {
		la = la || !strcmp(a, local[i]);
		lb = lb || !strcmp(b, local[i]);
	}
	return (la && lb) || !strcmp(a, b);
}

/* ---- check ---------------------------------------------------------------------- */

static void old_info_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char role[32];

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-') {
		fail_with(s, RS_ABORTED, "cannot ask the current primary about replication", rep);
		return;
	}
	if (!redis_info_field(rep, "role", role, sizeof(role)) || strcmp(role, "master")) {
		snprintf(s->detail, sizeof(s->detail), "%s says it is not a master (role:%s)", s->sw.from->name, role);
		step_to(s, RS_ABORTED, s->detail);
		return;
	}
	step_to(s, RS_PAUSE, NULL);
}

static void check_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char role[32] = "", host[256] = "", port[16] = "", link[32] = "", want_host[256], want_port[16];

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-') {
		fail_with(s, RS_ABORTED, "cannot ask the target about replication", rep);
		return;
	}
	redis_info_field(rep, "role", role, sizeof(role));
	redis_info_field(rep, "master_host", host, sizeof(host));
	redis_info_field(rep, "master_port", port, sizeof(port));
	redis_info_field(rep, "master_link_status", link, sizeof(link));
	host_port(s->sw.from, want_host, sizeof(want_host), want_port, sizeof(want_port));
	if (strcmp(role, "slave") || !same_host(host, want_host) || strcmp(port, want_port) || strcmp(link, "up")) {
		snprintf(s->detail, sizeof(s->detail), "%s is not a replica of %s with its link up (it says "
			 "role:%.20s master_host:%.100s master_port:%.10s master_link_status:%.20s; expected role:slave "
			 "master_host:%.100s master_port:%s master_link_status:up)", s->sw.to->name, s->sw.from->name,
			 role, host, port, link, want_host, want_port);
		step_to(s, RS_ABORTED, s->detail);
		return;
	}
	/* the old primary's connection opens now, not inside the pause */
	cmd(s, s->old_mon, old_info_cb, 2, "INFO", "replication");
}

/* ---- pause ---------------------------------------------------------------------- */

static void blockers_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	json_t *list, *e;
	size_t i, n = 0;

	ND_UNUSED(m);
	if (s->dying)
		return;
	n = (size_t)snprintf(s->detail, sizeof(s->detail), "%d commands still in flight after pause_timeout "
			     "(%llums); on %.100s, blocked or in a transaction:", atomic_load(&s->sw.pl->in_flight),
			     (unsigned long long)s->pause_timeout_ms, s->sw.from->name);
	if (n >= sizeof(s->detail)) {
		n = sizeof(s->detail) - 1;
	} else if (status < 0 || rep->type != '$') {
		snprintf(s->detail + n, sizeof(s->detail) - n, " (could not list them)");
	} else {
		list = redis_client_list(rep, true);
		json_array_foreach(list, i, e) {
			if (n >= sizeof(s->detail))
				break;
			n += (size_t)snprintf(s->detail + n, sizeof(s->detail) - n, " id=%s addr=%s cmd=%s flags=%s age=%ss;",
				json_string_value(json_object_get(e, "id")), json_string_value(json_object_get(e, "addr")),
				json_string_value(json_object_get(e, "cmd")), json_string_value(json_object_get(e, "flags")),
				json_string_value(json_object_get(e, "age")));
		}
		if (json_array_size(list) == 0 && n < sizeof(s->detail))
			snprintf(s->detail + n, sizeof(s->detail) - n, " none (commands on their way)");
		json_decref(list);
	}
	step_to(s, RS_ABORTED, s->detail);
}

static void pause_poll_cb(uv_timer_t *t)
{
	struct redis_switchover *s = t->data;

	if (atomic_load(&s->sw.pl->in_flight) == 0) {
		step_to(s, RS_FENCE, NULL);
		return;
	}
	if (s->abort_asked) {
		step_to(s, RS_ABORTED, "aborted by an operator");
		return;
	}
	if (now_ms(s) - s->sw.op->step_ms >= s->pause_timeout_ms) {
		cmd(s, s->old_mon, blockers_cb, 2, "CLIENT", "LIST");
		return;
	}
	uv_timer_start(&s->sw.timer, pause_poll_cb, 1, 0);
}

/* ---- fence, catchup -------------------------------------------------------------------- */

static void offset_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char off[32];

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-' || !redis_info_field(rep, "master_repl_offset", off, sizeof(off))) {
		fail_with(s, RS_ABORTED, "cannot read the old primary's replication offset", rep);
		return;
	}
	s->offset = atoll(off);
	step_to(s, RS_CATCHUP, NULL);
}

static void fence_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status == 0 && rep->type == '-') {
		fail_with(s, RS_ABORTED, "CLIENT PAUSE ... WRITE on the old primary was refused (fencing "
			  "needs Redis 6.2 or later, and the right to CLIENT PAUSE)", rep);
		return;
	}
	if (status < 0) {
		fail_with(s, RS_ABORTED, "CLIENT PAUSE on the old primary failed", rep);
		return;
	}
	cmd(s, s->old_mon, offset_cb, 2, "INFO", "replication");
}

static void catchup_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg);

static void catchup_poll_cb(uv_timer_t *t)
{
	struct redis_switchover *s = t->data;

	cmd(s, s->new_mon, catchup_cb, 2, "INFO", "replication");
}

static void catchup_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char off[32] = "";

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status == 0 && rep->type != '-' &&
	    (redis_info_field(rep, "slave_repl_offset", off, sizeof(off)) ||
	     redis_info_field(rep, "master_repl_offset", off, sizeof(off))) && atoll(off) >= s->offset) {
		step_to(s, RS_PROMOTE, NULL);
		return;
	}
	if (status < 0 || now_ms(s) - s->sw.op->step_ms >= s->rc->promote_timeout_ms) {
		snprintf(s->detail, sizeof(s->detail), "%s did not reach the old primary's offset %lld within "
			 "promote_timeout (it is at %s)%s%s", s->sw.to->name, s->offset, off[0] ? off : "?",
			 status < 0 ? ": " : "", status < 0 ? rep->p : "");
		step_to(s, RS_ABORTED, s->detail);
		return;
	}
	uv_timer_start(&s->sw.timer, catchup_poll_cb, 1, 0);
}

/* ---- promote, verify, demote ---------------------------------------------------------- */

static void promote_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-') {
		fail_with(s, status < 0 ? RS_FAILED : RS_ABORTED, "REPLICAOF NO ONE on the target failed", rep);
		return;
	}
	step_to(s, RS_VERIFY, NULL);
}

static void verify_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char role[32] = "";

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-' || !redis_info_field(rep, "role", role, sizeof(role)) ||
	    strcmp(role, "master")) {
		fail_with(s, RS_FAILED, "the target does not say it is a master after REPLICAOF NO ONE",
			  status == 0 && rep->type != '-' ? &(struct redis_reply){ '+', role, strlen(role) } : rep);
		return;
	}
	step_to(s, RS_DEMOTE, NULL);
}

static void unpause_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;

	ND_UNUSED(m);
	ND_UNUSED(status);
	ND_UNUSED(rep);
	if (s->dying)
		return;
	step_to(s, RS_REPOINT, NULL);	/* before 6.2 (no UNPAUSE) the pause times out by itself */
}

static void demote_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char why[256];

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-') {
		/* the target has every write: go on, and keep the old one out */
		log_error("switchover %s: REPLICAOF on the old primary %s failed (%s): it is put in maint; "
			  "make it a replica of %s by hand", s->sw.op->pool, s->sw.from->name, text(rep, why, sizeof(why)),
			  s->sw.to->name);
		daemon_set_backend_named(s->sw.d, s->sw.op->pool, s->sw.from->name, BACKEND_MAINT, -1);
		snprintf(s->detail, sizeof(s->detail), "REPLICAOF failed on %s (%s): it is in maint", s->sw.from->name, why);
		step_to(s, RS_REPOINT, s->detail);
		return;
	}
	cmd(s, s->old_mon, unpause_cb, 2, "CLIENT", "UNPAUSE");
}

/* ---- repoint, lingering ---------------------------------------------------------------- */

static void lingering_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char detail[64];

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type != '$') {
		fail_with(s, RS_DONE, "could not list the clients left on the old primary", rep);
		return;
	}
	s->lingering = redis_client_list(rep, false);
	snprintf(detail, sizeof(detail), "%zu connected directly to %s", json_array_size(s->lingering),
		 s->sw.from->name);
	if (json_array_size(s->lingering) > 0)
		log_warn("switchover %s: clients still connected directly to the old primary %s: %zu "
			 "(GET /pools/%s/switchover lists them)", s->sw.op->pool, s->sw.from->name,
			 json_array_size(s->lingering), s->sw.op->pool);
	step_to(s, RS_DONE, detail);
}

/*
 * The clients' old server connections are closed, but the old primary may
 * read a CLIENT LIST sent now before it reads their ends, in the same
 * round of its event loop: the list that counts is the second one, read
 * in a later round.
 */
static void lingering_first_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;

	ND_UNUSED(m);
	ND_UNUSED(status);
	ND_UNUSED(rep);
	if (!s->dying)
		cmd(s, s->old_mon, lingering_cb, 2, "CLIENT", "LIST");
}

/* Every client has left the old primary and restored its session on the
 * new one (or the bound passed): they go on. */
static void repoint_poll_cb(uv_timer_t *t)
{
	struct redis_switchover *s = t->data;
	int left = atomic_load(&redis_blive(s->sw.from_live)->conns);
	int restoring = atomic_load(&redis_plive(s->sw.pl)->restoring);

	if ((left > 0 || restoring > 0) && now_ms(s) - s->sw.op->step_ms < s->rc->promote_timeout_ms) {
		uv_timer_start(&s->sw.timer, repoint_poll_cb, 1, 0);
		return;
	}
	if (left > 0 || restoring > 0)
		snprintf(s->detail, sizeof(s->detail), "%d clients still on the old primary and %d restoring "
			 "their session after promote_timeout: released anyway", left, restoring);
	else
		snprintf(s->detail, sizeof(s->detail), "%d clients moved with their sessions", s->moving);
	switchover_release(&s->sw);
	STAT_ADD(s->sw.pl->switchovers, 1);
	step_to(s, RS_LINGERING, s->detail);
}

/* After an abort: the old primary's CLIENT UNPAUSE answered; clients go
 * on there. */
static void unpaused_cb(struct redis_mon *m, int status, const struct redis_reply *rep, void *arg)
{
	struct redis_switchover *s = arg;
	char why[256];

	ND_UNUSED(m);
	if (s->dying)
		return;
	if (status < 0 || rep->type == '-')
		log_error("switchover %s: CLIENT UNPAUSE on %s failed (%s): it takes writes again once "
			  "its pause times out", s->sw.op->pool, s->sw.from->name, text(rep, why, sizeof(why)));
	switchover_release(&s->sw);
}

/* ---- steps -------------------------------------------------------------------------------- */

static void step_to(struct redis_switchover *s, enum rs_step next, const char *detail)
{
	char host[256], port[16], ms[24];

	if (s->abort_asked && next <= RS_PROMOTE)	/* nothing irreversible done yet */
		next = RS_ABORTED, detail = "aborted by an operator";
	log_info("switchover %s %s -> %s: %s done (%llums)%s%s", s->sw.op->pool, s->sw.from->name, s->sw.to->name,
		 step_names[s->step], (unsigned long long)(now_ms(s) - s->sw.op->step_ms),
		 next >= RS_ABORTED ? "; " : "", next >= RS_ABORTED ? step_names[next] : "");
	switchover_record(&s->sw, step_names, (int)next, RS_DONE, detail);
	s->step = next;
	switch (next) {
	case RS_CHECK:
		return;
	case RS_PAUSE:
		switchover_pause(&s->sw);
		uv_timer_start(&s->sw.timer, pause_poll_cb, 0, 0);
		return;
	case RS_FENCE:
		s->fenced = true;	/* from the moment it is sent: an abort unpauses */
		snprintf(ms, sizeof(ms), "%llu", (unsigned long long)s->rc->promote_timeout_ms * 3);
		cmd(s, s->old_mon, fence_cb, 4, "CLIENT", "PAUSE", ms, "WRITE");
		return;
	case RS_CATCHUP:
		catchup_poll_cb(&s->sw.timer);
		return;
	case RS_PROMOTE:
		cmd(s, s->new_mon, promote_cb, 3, "REPLICAOF", "NO", "ONE");
		return;
	case RS_VERIFY:
		cmd(s, s->new_mon, verify_cb, 2, "INFO", "replication");
		return;
	case RS_DEMOTE:
		host_port(s->sw.to, host, sizeof(host), port, sizeof(port));
		cmd(s, s->old_mon, demote_cb, 3, "REPLICAOF", host, port);
		return;
	case RS_REPOINT:
		s->moving = atomic_load(&redis_blive(s->sw.from_live)->conns);
		atomic_store(&s->sw.to_live->role, ROLE_PRIMARY);
		atomic_store(&s->sw.from_live->role, ROLE_STANDBY);
		atomic_fetch_add(&s->sw.pl->epoch, 1);
		daemon_sweep(s->sw.d);
		uv_timer_start(&s->sw.timer, repoint_poll_cb, 0, 0);
		return;
	case RS_LINGERING:
		cmd(s, s->old_mon, lingering_first_cb, 2, "CLIENT", "LIST");
		return;
	case RS_DONE:
		log_info("switchover %s: %s is the primary; clients were held %llums", s->sw.op->pool, s->sw.to->name,
			 (unsigned long long)(s->sw.resume_ms - s->sw.pause_ms));
		return;
	case RS_ABORTED:
	case RS_FAILED:
		uv_timer_stop(&s->sw.timer);
		STAT_ADD(s->sw.pl->switchovers_aborted, 1);
		log_warn("switchover %s %s -> %s %s: %s", s->sw.op->pool, s->sw.from->name, s->sw.to->name,
			 step_names[next], detail ? detail : "");
		if (next == RS_FAILED) {	/* the target may be a master too: kept out */
			log_error("switchover %s: %s may have been promoted; it is put in maint so that no "
				  "write reaches it: make it a replica of %s again, then 'nodown ready %s/%s'",
				  s->sw.op->pool, s->sw.to->name, s->sw.from->name, s->sw.op->pool, s->sw.to->name);
			daemon_set_backend_named(s->sw.d, s->sw.op->pool, s->sw.to->name, BACKEND_MAINT, -1);
		}
		if (s->fenced)	/* the old primary takes writes again, then clients go on */
			cmd(s, s->old_mon, unpaused_cb, 2, "CLIENT", "UNPAUSE");
		else
			switchover_release(&s->sw);
		return;
	}
}

/* ---- the operation kind ------------------------------------------------------------------ */

static void sw_timer_closed_cb(uv_handle_t *h)
{
	struct redis_switchover *s = h->data;

	switchover_unref(&s->sw);
	json_decref(s->lingering);
	free(s);
}

/* The engine is done with the op (replaced by a newer one, or the daemon
 * stops): callbacks still to come see `dying`. */
static void sw_free(struct op *op)
{
	struct redis_switchover *s = op->arg;

	s->dying = true;
	redis_mon_free(s->old_mon);
	redis_mon_free(s->new_mon);
	uv_close((uv_handle_t *)&s->sw.timer, sw_timer_closed_cb);
}

/* Before promote nothing is done that cannot be undone: the abort takes
 * effect at the next step boundary, or within a millisecond in the pause. */
static const char *sw_abort(struct op *op)
{
	struct redis_switchover *s = op->arg;

	if (s->step >= RS_PROMOTE)
		return "the target may be promoted already; the switchover finishes or fails by itself";
	s->abort_asked = true;
	return NULL;
}

/* The daemon stops: clients held before promote go on, on the old primary
 * (an UNPAUSE is sent if it was fenced; if the loop ends first, its pause
 * times out by itself). */
static void sw_stop(struct op *op)
{
	struct redis_switchover *s = op->arg;

	if (s->step < RS_PROMOTE) {
		if (s->fenced && !redis_mon_busy(s->old_mon))	/* best effort: the loop is ending */
			cmd(s, s->old_mon, unpaused_cb, 2, "CLIENT", "UNPAUSE");
		switchover_release(&s->sw);
	} else if (s->step < RS_REPOINT) {
		/* the target may be a master and the old one not yet its replica:
		 * the old one is kept out, also after a restart (the state file) */
		log_error("switchover %s: nodown stops between the promotion of %s and the demotion of %s; "
			  "%s is put in maint: make it a replica of %s, then 'nodown ready %s/%s'",
			  s->sw.op->pool, s->sw.to->name, s->sw.from->name, s->sw.from->name, s->sw.to->name,
			  s->sw.op->pool, s->sw.from->name);
		daemon_set_backend_named(s->sw.d, s->sw.op->pool, s->sw.from->name, BACKEND_MAINT, -1);
	}
}

static void sw_report(struct op *op, json_t *j)
{
	struct redis_switchover *s = op->arg;

	switchover_report(&s->sw, j);
	json_object_update_new(j, json_pack("{s:I, s:i, s:O?}", "offset", (json_int_t)s->offset,
		"moved_clients", s->moving, "lingering", s->lingering));
}

static const struct op_kind switchover_kind = {
	.name = "switchover", .abort = sw_abort, .stop = sw_stop, .report = sw_report,
	.reload_blocked = switchover_reload_blocked, .free = sw_free,
};

static struct redis_mon *mon_new(struct redis_switchover *s, const struct backend_cfg *b)
{
	struct redis_mon *m = xmalloc(sizeof(*m));

	redis_mon_init(m, s->sw.d->loop, &b->addr, s->rc->username, s->rc->password);
	return m;
}

struct op *redis_switchover_start(struct daemon *d, int p, int from, int to, uint64_t pause_timeout_ms,
				  const char **why)
{
	struct redis_switchover *s = xcalloc(1, sizeof(*s));

	if (!switchover_begin(&s->sw, d, &switchover_kind, p, from, to, step_names[RS_CHECK], s, why)) {
		free(s);
		return NULL;
	}
	s->rc = redis_pool(s->sw.pc);
	s->pause_timeout_ms = pause_timeout_ms ? pause_timeout_ms : s->rc->pause_timeout_ms;
	s->old_mon = mon_new(s, s->sw.from);
	s->new_mon = mon_new(s, s->sw.to);
	s->step = RS_CHECK;
	cmd(s, s->new_mon, check_cb, 2, "INFO", "replication");
	return s->sw.op;
}
