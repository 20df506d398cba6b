/*
 * health.c - the pg health probe: `SELECT pg_is_in_recovery()` (and a
 * primary's timeline) as the pool's monitor_user, over a connection kept
 * open between checks. The answer says which backend is the primary ('f')
 * and which are standbys ('t'); the primary is never assumed from the
 * config order.
 *
 * Owns: the `role` and `timeline` words of each backend's live state
 *       (except while a switchover of its pool runs: the switchover sets
 *       roles then). Up and down are the core driver's (core/health.c).
 * Invariant: a role is set only from an answer; a failed check that takes
 *            a backend down, or finds it down, clears its role.
 * Runs on: the control thread's loop.
 */
#include "health.h"

#include <stdlib.h>

#include "../core/daemon.h"
#include "../core/log.h"
#include "config.h"
#include "live.h"
#include "monitor.h"
#include "status.h"

/* A backend's probe: its monitor connection, and what it warned about. */
struct pgprobe {
	struct pg_mon *mon;		/* owned */
	struct hcheck *h;
	bool running;			/* a query is in flight for the driver */
	bool warned;			/* said it is a second primary */
};

static struct pool_live *plive(const struct hcheck *h)
{
	return h->d->snap->pools[h->pidx];
}

static void demote(struct hcheck *h, struct backend_live *lv, const char *name, const char *why)
{
	atomic_store(&lv->role, ROLE_UNKNOWN);
	atomic_fetch_add(&plive(h)->epoch, 1);	/* sessions on it move on */
	log_error("backend %s/%s: no longer used as the primary: %s", h->pool->name, name, why);
}

/*
 * What a check found. Two backends saying they are the primary (an old
 * primary left up after a switchover, or split brain): the one on the
 * newer timeline is used, the other gets no connections until it is
 * fenced or rejoined as a standby; on the same timeline the first stays,
 * and one that may not take writes (maint, drained, down) never displaces
 * a usable one.
 */
static void set_role(struct pgprobe *pp, int role, int timeline)
{
	struct hcheck *h = pp->h;
	int old = STAT_GET(h->live->role), o;

	atomic_store(&pg_blive(h->live)->timeline, timeline);
	if (atomic_load(&plive(h)->switching))
		return;
	if (role == ROLE_PRIMARY && (o = health_other_primary(h)) >= 0) {
		struct backend_live *other = h->d->live[h->pidx][o];
		char why[200];

		/* only a backend that may take writes takes the role from another
		 * (not one an operator or a failed switchover put in maint) */
		if (timeline <= STAT_GET(pg_blive(other)->timeline) || !backend_usable(h->live)) {
			if (!pp->warned)
				log_error("backend %s/%s also says it is a primary, on timeline %d, while %s "
					  "is (timeline %d); it gets no connections (fence it or rejoin it as "
					  "a standby)", h->pool->name, h->be->name, timeline,
					  h->pool->backends[o].name, STAT_GET(pg_blive(other)->timeline));
			pp->warned = true;
			role = ROLE_UNKNOWN;
		} else {
			snprintf(why, sizeof(why), "%s is a primary on a newer timeline (%d > %d)",
				 h->be->name, timeline, STAT_GET(pg_blive(other)->timeline));
			demote(h, other, h->pool->backends[o].name, why);
		}
	} else if (role == ROLE_PRIMARY) {
		pp->warned = false;
	}
	if (old == role)
		return;
	atomic_store(&h->live->role, role);
	if (old == ROLE_PRIMARY)	/* sessions on it move on their next transaction */
		atomic_fetch_add(&plive(h)->epoch, 1);
	log_info("backend %s/%s: role %s -> %s (health check)", h->pool->name, h->be->name,
		 backend_role_name(old), backend_role_name(role));
	daemon_sweep(h->d);
}

static void result_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pgprobe *pp = arg;
	struct hcheck *h = pp->h;
	bool ok = status == 0 && (!strcmp(value, "t") || !strncmp(value, "f ", 2));

	ND_UNUSED(m);
	if (!pp->running)
		return;		/* cancelled */
	pp->running = false;
	if (ok)
		set_role(pp, value[0] == 'f' ? ROLE_PRIMARY : ROLE_STANDBY,
			 value[0] == 'f' ? atoi(value + 2) : 0);
	health_result(h, ok, status == 0 ? "unexpected answer" : value);
	/* down (now, or already, after traffic marked it): no role */
	if (!ok && STAT_GET(h->live->health) == HEALTH_DOWN)
		set_role(pp, ROLE_UNKNOWN, 0);
}

static void *pg_open(struct hcheck *h)
{
	const struct pg_pool_cfg *pg = pg_pool(h->pool);
	struct pgprobe *pp = xcalloc(1, sizeof(*pp));

	pp->h = h;
	pp->mon = xmalloc(sizeof(*pp->mon));
	pg_mon_init(pp->mon, h->d->loop, &h->be->addr, pg_authfile_find(pg->auth, pg->monitor_user),
		    pg->monitor_database, pg->server_auth);
	return pp;
}

static void pg_run(struct hcheck *h, void *state)
{
	struct pgprobe *pp = state;

	pp->running = true;
	/* the timeline from the current WAL file's name: it changes at
	 * promotion, where the checkpoint's changes only later */
	pg_mon_query(pp->mon, "SELECT CASE WHEN pg_is_in_recovery() THEN 't' ELSE 'f ' || "
		     "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END",
		     h->pool->health.timeout_ms, result_cb, pp);
}

/* A query that took too long: its connection goes (the next check opens
 * another), so no answer of it is read as another's. */
static void pg_cancel(struct hcheck *h, void *state)
{
	struct pgprobe *pp = state;

	ND_UNUSED(h);
	pp->running = false;
	pg_mon_close(pp->mon);
}

static void pg_close(void *state)
{
	struct pgprobe *pp = state;

	pg_mon_free(pp->mon);
	free(pp);
}

const struct probe_type pg_probe = {
	.name = "pg", .keys = &schema_no_keys,
	.open = pg_open, .run = pg_run, .cancel = pg_cancel, .close = pg_close,
};
