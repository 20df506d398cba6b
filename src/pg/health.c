/*
 * health.c - health checks of pg pools: `SELECT pg_is_in_recovery()` as
 * the pool's monitor_user on every backend, every interval. The answer
 * says which backend is the primary ('f') and which are standbys ('t');
 * the primary is never assumed from the config order.
 *
 * Owns: struct pgcheck, one per backend of a pg pool; the `role` word of
 *       each backend's live state (except while a switchover of its pool
 *       runs: the switchover sets roles then); the health word, as
 *       http/health.c does for http pools.
 * Invariant: one query per backend in flight; a backend is down after
 *            `fall` failed checks, up after `rise` good ones; its role is
 *            updated by every good check.
 * Runs on: the control thread's loop.
 */
#include "health.h"

#include <stdlib.h>

#include "../core/daemon.h"
#include "../core/log.h"
#include "config.h"
#include "monitor.h"
#include "status.h"

struct pgcheck {
	uv_timer_t timer;		/* the next check */
	struct pg_mon *mon;		/* owned */
	struct daemon *d;		/* borrowed */
	const struct pool_cfg *pool;	/* borrowed from the current snapshot */
	const char *be;			/* backend name, from the same */
	struct backend_live *live;	/* a reference */
	struct pool_live *plive;	/* a reference */
	int pidx, bidx;			/* where it is in the current snapshot */
	int ok_streak, fail_streak;
	bool stopped;
	bool warned;			/* said it is a second primary */
};

const struct probe_type pg_probe = { .name = "pg", .keys = &schema_no_keys };

static void sweep_workers(struct daemon *d)
{
	for (int i = 0; i < d->cfg->workers; i++)
		worker_sweep(&d->workers[i]);
}

static void check_closed_cb(uv_handle_t *h)
{
	struct pgcheck *c = h->data;

	backend_live_unref(c->live);
	pool_live_unref(c->plive);
	free(c);
}

static void next_check(struct pgcheck *c);

/* The other usable primary of the pool, or -1. */
static int other_primary(struct pgcheck *c)
{
	for (int b = 0; b < c->pool->nbackends; b++) {
		struct backend_live *o = c->d->live[c->pidx][b];

		if (b != c->bidx && STAT_GET(o->role) == ROLE_PRIMARY && backend_usable(o))
			return b;
	}
	return -1;
}

static void demote(struct pgcheck *c, struct backend_live *lv, const char *name, const char *why)
{
	atomic_store(&lv->role, ROLE_UNKNOWN);
	atomic_fetch_add(&c->plive->epoch, 1);	/* sessions on it move on */
	log_error("backend %s/%s: no longer used as the primary: %s", c->pool->name, name, why);
}

/*
 * What a check found. Two backends saying they are the primary (an old
 * primary left up after a switchover, or split brain): the one on the
 * newer timeline is used, the other gets no connections until it is
 * fenced or rejoined as a standby; on the same timeline the first stays,
 * and one that may not take writes (maint, drained, down) never displaces
 * a usable one.
 */
static void set_role(struct pgcheck *c, int role, int timeline)
{
	int old = STAT_GET(c->live->role), o;

	atomic_store(&c->live->timeline, timeline);
	if (atomic_load(&c->plive->switching))
		return;
	if (role == ROLE_PRIMARY && (o = other_primary(c)) >= 0) {
		struct backend_live *other = c->d->live[c->pidx][o];
		char why[200];

		/* only a backend that may take writes takes the role from another
		 * (not one an operator or a failed switchover put in maint) */
		if (timeline <= STAT_GET(other->timeline) || !backend_usable(c->live)) {
			if (!c->warned)
				log_error("backend %s/%s also says it is a primary, on timeline %d, while %s "
					  "is (timeline %d); it gets no connections (fence it or rejoin it as "
					  "a standby)", c->pool->name, c->be, timeline,
					  c->pool->backends[o].name, STAT_GET(other->timeline));
			c->warned = true;
			role = ROLE_UNKNOWN;
		} else {
			snprintf(why, sizeof(why), "%s is a primary on a newer timeline (%d > %d)", c->be,
				 timeline, STAT_GET(other->timeline));
			demote(c, other, c->pool->backends[o].name, why);
		}
	} else if (role == ROLE_PRIMARY) {
		c->warned = false;
	}
	if (old == role)
		return;
	atomic_store(&c->live->role, role);
	if (old == ROLE_PRIMARY)	/* sessions on it move on their next transaction */
		atomic_fetch_add(&c->plive->epoch, 1);
	log_info("backend %s/%s: role %s -> %s (health check)", c->pool->name, c->be,
		 pg_role_name(old), pg_role_name(role));
	sweep_workers(c->d);
}

static void result_cb(struct pg_mon *m, int status, const char *value, void *arg)
{
	struct pgcheck *c = arg;
	int health = STAT_GET(c->live->health);

	ND_UNUSED(m);
	if (c->stopped)
		return;
	if (status == 0 && (!strcmp(value, "t") || !strncmp(value, "f ", 2))) {
		c->fail_streak = 0;
		set_role(c, value[0] == 'f' ? ROLE_PRIMARY : ROLE_STANDBY, value[0] == 'f' ? atoi(value + 2) : 0);
		if (++c->ok_streak >= c->pool->health.rise && health == HEALTH_DOWN) {
			atomic_store(&c->live->health, HEALTH_UP);
			STAT_ADD(c->live->transitions, 1);
			log_info("backend %s/%s: down -> up (%d successful checks)", c->pool->name, c->be,
				 c->ok_streak);
			sweep_workers(c->d);
		}
	} else {
		c->ok_streak = 0;
		if (++c->fail_streak >= c->pool->health.fall) {
			if (health == HEALTH_UP) {
				atomic_store(&c->live->health, HEALTH_DOWN);
				STAT_ADD(c->live->transitions, 1);
				log_warn("backend %s/%s: up -> down (%d failed checks, last: %s)", c->pool->name,
					 c->be, c->fail_streak, status == 0 ? "unexpected answer" : value);
				sweep_workers(c->d);
			}
			set_role(c, ROLE_UNKNOWN, 0);	/* also after traffic marked it down */
		}
	}
	next_check(c);
}

static void timer_cb(uv_timer_t *t)
{
	struct pgcheck *c = t->data;

	if (!pg_mon_busy(c->mon))
		/* the timeline from the current WAL file's name: it changes at
		 * promotion, where the checkpoint's changes only later */
		pg_mon_query(c->mon, "SELECT CASE WHEN pg_is_in_recovery() THEN 't' ELSE 'f ' || "
			     "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END",
			     c->pool->health.timeout_ms, result_cb, c);
}

static void next_check(struct pgcheck *c)
{
	uint64_t delay = c->pool->health.interval_ms;

	if (c->pool->health.jitter_ms)
		delay += (uint64_t)rand() % c->pool->health.jitter_ms;
	uv_timer_start(&c->timer, timer_cb, delay, 0);
}

static void check_stop(struct pgcheck *c)
{
	c->stopped = true;
	pg_mon_free(c->mon);
	uv_close((uv_handle_t *)&c->timer, check_closed_cb);
}

void pg_health_stop(struct daemon *d)
{
	for (int i = 0; i < d->npgchecks; i++)
		check_stop(d->pgchecks[i]);
	free(d->pgchecks);
	d->pgchecks = NULL;
	d->npgchecks = 0;
}

/* Checks follow the current snapshot: restarted at every reload (the
 * roles found so far live on in the backends' live state). */
void pg_health_apply(struct daemon *d)
{
	const struct config *cf = d->cfg;
	int n = 0;

	pg_health_stop(d);
	for (int p = 0; p < cf->npools; p++)
		if (cf->pools[p].proto == &pg_module)
			n += cf->pools[p].nbackends;
	d->pgchecks = xcalloc((size_t)n + 1, sizeof(*d->pgchecks));
	for (int p = 0; p < cf->npools; p++) {
		const struct pool_cfg *pc = &cf->pools[p];
		const struct pg_pool_cfg *pg = pc->pcfg;

		if (pc->proto != &pg_module)
			continue;
		for (int b = 0; b < pc->nbackends; b++) {
			struct pgcheck *c = xcalloc(1, sizeof(*c));

			c->d = d;
			c->pool = pc;
			c->be = pc->backends[b].name;
			c->live = backend_live_ref(d->live[p][b]);
			c->plive = pool_live_ref(d->snap->pools[p]);
			c->pidx = p;
			c->bidx = b;
			c->mon = xmalloc(sizeof(*c->mon));
			pg_mon_init(c->mon, d->loop, &pc->backends[b].addr,
				    pg_authfile_find(pg->auth, pg->monitor_user), pg->monitor_database,
				    pg->server_auth);
			uv_timer_init(d->loop, &c->timer);
			c->timer.data = c;
			uv_timer_start(&c->timer, timer_cb, 0, 0);	/* the primary is wanted at once */
			d->pgchecks[d->npgchecks++] = c;
		}
	}
}
