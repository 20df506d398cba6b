/*
 * module.c - the redis protocol module: what the core calls for listeners
 * and pools with `protocol: redis` (core/proto.h).
 */
#include "core/proto.h"
#include "config.h"
#include "health.h"
#include "live.h"
#include "proxy.h"
#include "switchover.h"

static const struct probe_type *const redis_probes[] = { &redis_probe, NULL };

const struct proto_module redis_module = {
	.name = "redis",
	.listener_keys = &redis_listener_keys,
	.pool_keys = &redis_pool_keys,
	.pool_check = redis_pool_check,
	.roles = true,
	.pausable = true,
	.probes = redis_probes,
	.pool_live_size = sizeof(struct redis_pool_live),
	.backend_live_size = sizeof(struct redis_backend_live),
	.accept = redis_accept,
	.gen_init = redis_gen_init,
	.gen_free = redis_gen_free,
	.worker_close = redis_worker_close,
	.worker_sweep = redis_worker_sweep,
	.switchover = redis_switchover_start,
};
