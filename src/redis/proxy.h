/*
 * proxy.h - redis client connections (redis/proxy.c) and the per-worker
 * state of redis pools.
 */
#ifndef ND_REDIS_PROXY_H
#define ND_REDIS_PROXY_H

#include "core/worker.h"

struct redis_pool_cfg;

/* What one worker keeps of one redis pool of one generation. */
struct redis_wpool {
	const struct pool_cfg *cfg;
	const struct redis_pool_cfg *rc;
	struct backend_live **live;	/* the snapshot's, [cfg->nbackends] */
	struct pool_live *shared;
};

void redis_accept(struct wlistener *wl);
void redis_gen_init(struct worker *w, struct wgen *g, struct wgen *prev);
void redis_gen_free(struct worker *w, struct wgen *g);
void redis_worker_close(struct worker *w);
void redis_worker_sweep(struct worker *w);

#endif
