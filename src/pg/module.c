/*
 * module.c - the pg protocol module: what the core calls for listeners
 * and pools with `protocol: pg` (core/proto.h).
 */
#include "core/proto.h"
#include "config.h"
#include "health.h"
#include "live.h"
#include "pool.h"
#include "proxy.h"
#include "status.h"
#include "switchover.h"

static const struct probe_type *const pg_probes[] = { &pg_probe, NULL };

const struct proto_module pg_module = {
	.name = "pg",
	.listener_keys = &pg_listener_keys,
	.pool_keys = &pg_pool_keys,
	.pool_free = pg_pool_free,
	.pool_check = pg_pool_check,
	.roles = true,
	.pausable = true,
	.probes = pg_probes,
	.pool_live_size = sizeof(struct pg_pool_live),
	.backend_live_size = sizeof(struct pg_backend_live),
	.accept = pg_accept,
	.gen_init = pg_gen_init,
	.gen_free = pg_gen_free,
	.worker_close = pg_worker_close,
	.worker_sweep = pg_worker_sweep,
	.pool_status = pg_pool_status,
	.metrics = pg_metrics,
	.switchover = pg_switchover_start,
};
