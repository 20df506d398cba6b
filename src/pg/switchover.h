/*
 * switchover.h - planned primary switchover of a pg pool (control thread).
 */
#ifndef ND_PG_SWITCHOVER_H
#define ND_PG_SWITCHOVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct op;
struct route_table;

/* GET and POST /pools/POOL/switchover (core/admin.h). */
extern const struct route_table pg_switchover_routes;

/*
 * Start moving pool `pool`'s primary to backend `target` (names), as an
 * operation (core/op.h) whose report GET /pools/POOL/switchover shows.
 * Returns it, or NULL with *why (unknown names, not a pg pool, one already
 * running, no primary known, the target is the primary). The checks that
 * need the servers (is the target a streaming standby of the primary?)
 * run as the first step. pause_timeout_ms 0: the pool's pause_timeout.
 */
struct op *pg_switchover_start(struct daemon *d, const char *pool, const char *target,
			       uint64_t pause_timeout_ms, const char **why);

#endif
