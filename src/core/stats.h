/*
 * stats.h - process-wide counters of one backend, written by every worker
 * with relaxed atomics and read by the control thread (admin API).
 */
#ifndef ND_STATS_H
#define ND_STATS_H

#include <stdatomic.h>

struct backend_stats {
	atomic_int active;			/* requests in flight on it, all workers */
	atomic_ullong requests;			/* requests sent to it */
	atomic_ullong connect_errors;		/* connects refused, failed or timed out */
	atomic_ullong responses[6];		/* [1..5]: by status class; [0]: none (cut short) */
};

#define STAT_ADD(field, n) atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)
#define STAT_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

#endif
