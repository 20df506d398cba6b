/*
 * status.c - what the pg module adds to GET /status and GET /metrics:
 * each pool's mode and transactions in progress (backends' roles,
 * pauses and switchovers are the core's: core/switchover.c).
 * Runs on: the control thread; reads shared atomics, never locks.
 */
#include "status.h"

#include "../core/daemon.h"
#include "../core/metrics.h"
#include "config.h"

void pg_pool_status(struct daemon *d, int p, json_t *j)
{
	const struct pool_cfg *pc = &d->cfg->pools[p];

	json_object_set_new(j, "pool_mode", json_string(pg_pool(pc)->pool_mode == PG_POOL_SESSION ?
							"session" : "transaction"));
	json_object_set_new(j, "transactions", json_integer(atomic_load(&d->snap->pools[p]->in_flight)));
}

/* Transactions in progress (pauses and switchovers: core/switchover.c). */
void pg_metrics(struct daemon *d, struct metrics_text *t)
{
	metrics_family(t, "nodown_pool_transactions", "gauge", "Client transactions in progress.");
	for (int p = 0; p < d->cfg->npools; p++)
		if (d->cfg->pools[p].proto == &pg_module)
			metrics_put(t, "nodown_pool_transactions{pool=\"%s\"} %d\n", d->cfg->pools[p].name,
				    atomic_load(&d->snap->pools[p]->in_flight));
}
