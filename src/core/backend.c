/*
 * backend.c - the live state of a backend: names, effective weight, and
 * passive failure detection.
 *
 * Runs on: any thread; everything is atomics (see backend.h). A live state
 * is shared by every snapshot whose config has the backend (same pool, name
 * and address), so its state and counters survive a reload; it is freed
 * when the last snapshot and health check holding it let go.
 */
#include "backend.h"

#include "common.h"
#include "log.h"

struct backend_live *backend_live_new(int weight, size_t ext_size)
{
	struct backend_live *b = xcalloc(1, sizeof(*b));

	b->ext = ext_size ? xcalloc(1, ext_size) : NULL;
	atomic_store(&b->refs, 1);
	atomic_store(&b->weight, weight);
	return b;
}

struct backend_live *backend_live_ref(struct backend_live *b)
{
	atomic_fetch_add(&b->refs, 1);
	return b;
}

void backend_live_unref(struct backend_live *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		free(b->ext);
		free(b);
	}
}

struct pool_live *pool_live_new(size_t ext_size)
{
	struct pool_live *p = xcalloc(1, sizeof(*p));

	p->ext = ext_size ? xcalloc(1, ext_size) : NULL;
	atomic_store(&p->refs, 1);
	return p;
}

struct pool_live *pool_live_ref(struct pool_live *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void pool_live_unref(struct pool_live *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1) {
		free(p->ext);
		free(p);
	}
}

const char *backend_op_state_name(int s)
{
	switch (s) {
	case BACKEND_READY: return "ready";
	case BACKEND_DRAINING: return "draining";
	case BACKEND_DRAINED: return "drained";
	case BACKEND_MAINT: return "maint";
	}
	return "?";
}

const char *backend_role_name(int role)
{
	static const char *const names[] = { "unknown", "primary", "standby" };

	return role >= 0 && role < (int)ARRAY_LEN(names) ? names[role] : "?";
}

const char *backend_state_name(struct backend_live *b)
{
	int s = STAT_GET(b->state);

	if (s == BACKEND_READY && STAT_GET(b->health) == HEALTH_DOWN)
		return "down";
	return backend_op_state_name(s);
}

int backend_weight(struct backend_live *b, uint64_t slowstart_ms)
{
	int w = STAT_GET(b->weight);
	uint64_t since, now;

	if (slowstart_ms == 0 || w <= 1)
		return w;
	since = STAT_GET(b->usable_since_ms);
	now = nd_now_ms();
	if (since == 0 || now - since >= slowstart_ms)
		return w;
	w = (int)((uint64_t)w * (now - since) / slowstart_ms);
	return w < 1 ? 1 : w;
}

bool backend_passive(struct backend_live *b, bool ok, int fall, const char *pool,
		     const char *name, const char *why)
{
	int expect = HEALTH_UP;

	if (ok) {
		if (STAT_GET(b->fails))
			atomic_store_explicit(&b->fails, 0, memory_order_relaxed);
		return false;
	}
	if (fall <= 0 || STAT_ADD(b->fails, 1) + 1 < fall)
		return false;
	if (!atomic_compare_exchange_strong(&b->health, &expect, HEALTH_DOWN))
		return false;
	STAT_ADD(b->transitions, 1);
	log_warn("backend %s/%s: up -> down after %d consecutive failures seen by traffic "
		 "(last: %s); health checks will bring it back", pool, name, fall, why);
	return true;
}

const double backend_latency_bounds[BACKEND_LATENCY_BUCKETS - 1] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

void backend_observe(struct backend_live *b, uint64_t us)
{
	int i = 0;

	while (i < BACKEND_LATENCY_BUCKETS - 1 && (double)us > backend_latency_bounds[i] * 1e6)
		i++;
	STAT_ADD(b->latency[i], 1);
	STAT_ADD(b->latency_sum_us, us);
}
