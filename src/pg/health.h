/*
 * health.h - health checks of pg pools' backends (control thread).
 */
#ifndef ND_PG_HEALTH_H
#define ND_PG_HEALTH_H

#include "core/health.h"

struct daemon;

/* SELECT pg_is_in_recovery() as the pool's monitor_user: finds the primary. */
extern const struct probe_type pg_probe;

/* Check every backend of every pg pool of the current snapshot. */
void pg_health_apply(struct daemon *d);
/* Stop all pg checks. */
void pg_health_stop(struct daemon *d);

#endif
