/*
 * status.c - what the pg module adds to GET /status and GET /metrics:
 * each pool's mode, pause, transactions in progress and switchovers
 * (backends' roles are the core's: pg_module.roles).
 * Runs on: the control thread; reads shared atomics, never locks.
 */
#include "status.h"

#include "../core/daemon.h"
#include "../core/metrics.h"
#include "../core/op.h"
#include "config.h"

void pg_pool_status(struct daemon *d, int p, json_t *j)
{
	const struct pool_cfg *pc = &d->cfg->pools[p];
	struct pool_live *pl = d->snap->pools[p];
	struct op *sw = op_find(d, "switchover", pc->name);

	json_object_set_new(j, "pool_mode", json_string(pg_pool(pc)->pool_mode == PG_POOL_SESSION ?
							"session" : "transaction"));
	json_object_set_new(j, "paused", json_boolean(atomic_load(&pl->paused)));
	json_object_set_new(j, "transactions", json_integer(atomic_load(&pl->in_flight)));
	json_object_set_new(j, "switchover", sw ? op_json(sw) : json_null());
}

/* Pauses, switchovers, transactions. */
void pg_metrics(struct daemon *d, struct metrics_text *t)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "nodown_pool_switchovers_total", "counter", "Switchovers by result: done, or aborted (aborted and failed ones)." },
		{ "nodown_pool_switchover_stall_seconds_max", "gauge", "Longest time a switchover held new transactions." },
		{ "nodown_pool_held_clients_total", "counter", "Clients that waited on a switchover pause." },
		{ "nodown_pool_transactions", "gauge", "Client transactions in progress." },
		{ "nodown_pool_paused", "gauge", "1 while a switchover holds new transactions." },
	};

	for (size_t f = 0; f < ARRAY_LEN(fams); f++) {
		metrics_family(t, fams[f].name, fams[f].type, fams[f].help);
		for (int p = 0; p < d->cfg->npools; p++) {
			struct pool_live *pl = d->snap->pools[p];
			const char *pn = d->cfg->pools[p].name;

			if (d->cfg->pools[p].proto != &pg_module)
				continue;
			if (f == 0) {
				metrics_put(t, "%s{pool=\"%s\",result=\"done\"} %llu\n", fams[f].name, pn,
				    STAT_GET(pl->switchovers));
				metrics_put(t, "%s{pool=\"%s\",result=\"aborted\"} %llu\n", fams[f].name, pn,
				    STAT_GET(pl->switchovers_aborted));
			} else if (f == 1) {
				metrics_put(t, "%s{pool=\"%s\"} %.3f\n", fams[f].name, pn, (double)STAT_GET(pl->stall_us_max) / 1e6);
			} else {
				metrics_put(t, "%s{pool=\"%s\"} %llu\n", fams[f].name, pn,
				    f == 2 ? STAT_GET(pl->held) :
				    f == 3 ? (unsigned long long)atomic_load(&pl->in_flight) :
					     (unsigned long long)atomic_load(&pl->paused));
			}
		}
	}
}
