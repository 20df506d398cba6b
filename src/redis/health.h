/*
 * health.h - the redis health probe (core/health.h).
 */
#ifndef ND_REDIS_HEALTH_H
#define ND_REDIS_HEALTH_H

#include "core/health.h"

/* ROLE (INFO replication where ROLE is unknown), after AUTH when the pool
 * has a password: which backend is the primary. */
extern const struct probe_type redis_probe;

#endif
