/*
 * health.h - the pg health probe (core/health.h).
 */
#ifndef ND_PG_HEALTH_H
#define ND_PG_HEALTH_H

#include "core/health.h"

/* SELECT pg_is_in_recovery() as the pool's monitor_user: finds the primary. */
extern const struct probe_type pg_probe;

#endif
