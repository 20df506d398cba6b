/*
 * module.c - the http protocol module: what the core calls for listeners
 * and pools with `protocol: http` (core/proto.h).
 */
#include "core/daemon.h"
#include "core/health.h"
#include "core/proto.h"
#include "config.h"
#include "health.h"
#include "proxy.h"
#include "upstream.h"

/* GET /status: how the pool balances. */
static void pool_status(struct daemon *d, int p, json_t *pool)
{
	static const char *const names[] = { "round_robin", "least_conn" };

	json_object_set_new(pool, "balance", json_string(names[http_pool(&d->cfg->pools[p])->balance]));
}

static const struct probe_type *const http_probes[] = { &tcp_probe, &http_probe, NULL };

const struct proto_module http_module = {
	.name = "http",
	.pausable = true,
	.listener_keys = &http_listener_keys,
	.pool_keys = &http_pool_keys,
	.listener_check = http_listener_check,
	.probes = http_probes,
	.accept = http_accept,
	.gen_init = upstream_gen_init,
	.gen_free = upstream_gen_free,
	.worker_close = upstream_worker_close,
	.worker_sweep = upstream_worker_sweep,
	.pool_status = pool_status,
};
