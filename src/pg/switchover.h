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

/*
 * Start moving pg pool p's primary, backend `from`, to its standby `to`
 * (proto_module.switchover), as an operation (core/op.h) whose report GET
 * /pools/POOL/switchover shows. Returns it, or NULL with *why (one is
 * already running). The checks that need the servers (is the target a
 * streaming standby of the primary?) run as the first step.
 * pause_timeout_ms 0: the pool's pause_timeout.
 */
struct op *pg_switchover_start(struct daemon *d, int p, int from, int to, uint64_t pause_timeout_ms,
			       const char **why);

#endif
