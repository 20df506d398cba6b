/*
 * live.h - the pg module's own part of the live state of pools and
 * backends (core/backend.h: ext), shared by every thread like the rest:
 * atomics only, zeroed at first.
 */
#ifndef ND_PG_LIVE_H
#define ND_PG_LIVE_H

#include "core/backend.h"

struct pg_pool_live {
	atomic_int warm_target;		/* switchover: open servers ahead to backend warm_target - 1 (0: none) */
	atomic_uint warm_epoch;		/* the primary epoch those servers are for */
	atomic_ullong warm_adopted;	/* servers opened ahead that served after a switchover */
};

struct pg_backend_live {
	atomic_int timeline;		/* a primary's timeline, from its current WAL file's name */
};

static inline struct pg_pool_live *pg_plive(struct pool_live *p)
{
	return p->ext;
}

static inline struct pg_backend_live *pg_blive(struct backend_live *b)
{
	return b->ext;
}

#endif
