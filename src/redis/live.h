/*
 * live.h - the redis module's own part of the live state of pools and
 * backends (core/backend.h: ext), shared by every thread: atomics only,
 * zeroed at first. A switchover reads them to know when every client has
 * left the old primary.
 */
#ifndef ND_REDIS_LIVE_H
#define ND_REDIS_LIVE_H

#include "core/backend.h"

struct redis_pool_live {
	atomic_int restoring;		/* clients moving to a new server, their session not yet restored */
};

struct redis_backend_live {
	atomic_int conns;		/* clients' server connections to it, open or opening */
};

static inline struct redis_pool_live *redis_plive(struct pool_live *p)
{
	return p->ext;
}

static inline struct redis_backend_live *redis_blive(struct backend_live *b)
{
	return b->ext;
}

#endif
