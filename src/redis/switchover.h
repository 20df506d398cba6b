/*
 * switchover.h - planned primary switchover of a redis pool (control
 * thread): proto_module.switchover of the redis module.
 */
#ifndef ND_REDIS_SWITCHOVER_H
#define ND_REDIS_SWITCHOVER_H

#include <stdint.h>

struct daemon;
struct op;

/*
 * Start moving redis pool p's primary, backend `from`, to its replica
 * `to`, as an operation (core/op.h) whose report GET
 * /pools/POOL/switchover shows. Returns it, or NULL with *why (one is
 * already running). pause_timeout_ms 0: the pool's pause_timeout.
 */
struct op *redis_switchover_start(struct daemon *d, int p, int from, int to, uint64_t pause_timeout_ms,
				  const char **why);

#endif
