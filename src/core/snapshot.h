/*
 * snapshot.h - what the daemon serves: a config, its listening sockets and
 * the live state of its backends, published by the control thread and read
 * by the workers.
 */
#ifndef ND_SNAPSHOT_H
#define ND_SNAPSHOT_H

#include <stdatomic.h>

#include "backend.h"
#include "config.h"
#include "listener.h"

struct snapshot {
	atomic_int refs;		/* the daemon while current, each worker generation */
	unsigned gen;			/* 1 at start, +1 per reload */
	struct config *cfg;		/* owned */
	struct listener **listeners;	/* [cfg->nlisteners], a reference each */
	struct backend_live ***live;	/* [pool][backend], a reference each */
	struct pool_live **pools;	/* [pool], a reference each */
};

/* A snapshot of cfg (taking ownership) with empty slots for its listeners
 * and live states, and one reference. */
struct snapshot *snapshot_new(struct config *cfg, unsigned gen);

struct snapshot *snapshot_ref(struct snapshot *s);
/* Drop a reference (any thread); the last one frees the config and drops
 * the listeners and live states it holds. */
void snapshot_unref(struct snapshot *s);

/* Index of l in s->listeners, or -1. */
int snapshot_listener_index(const struct snapshot *s, const struct listener *l);

#endif
