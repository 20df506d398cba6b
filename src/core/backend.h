/*
 * backend.h - the live state of one backend, shared by the control thread
 * (which changes it: drain, ready, maint, weight) and every worker (which
 * reads it for each new request and adds to its counters).
 *
 * Everything here is an atomic read and written relaxed: a worker that sees
 * a state change one request late is fine; a lock on the data path is not.
 */
#ifndef ND_BACKEND_H
#define ND_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum backend_state {
	BACKEND_READY,		/* takes new requests */
	BACKEND_DRAINING,	/* no new requests; in-flight ones finish */
	BACKEND_DRAINED,	/* draining and nothing left in flight */
	BACKEND_MAINT,		/* taken out for maintenance; no new requests */
};

enum backend_health { HEALTH_UP, HEALTH_DOWN };

#define BACKEND_LATENCY_BUCKETS 13

struct backend_live {
	atomic_int refs;			/* snapshots and health checks holding it */
	atomic_int state;			/* enum backend_state: the operator's word */
	atomic_bool by_operator;		/* state or weight set by an operator, not the config */
	atomic_int health;			/* enum backend_health: the checks' word */
	atomic_int fails;			/* consecutive failures seen by workers (passive) */
	atomic_ullong usable_since_ms;		/* nd_now_ms() when it last became usable, for slow start */
	atomic_int weight;			/* effective weight; 0 = no new requests */
	atomic_int active;			/* requests in flight on it, all workers */
	atomic_ullong requests;			/* requests sent to it */
	atomic_ullong connect_errors;		/* connects refused, failed or timed out */
	atomic_ullong responses[6];		/* [1..5]: by status class; [0]: none (cut short) */
	atomic_ullong retries;
	atomic_ullong transitions;		/* state or health changes */
	atomic_ullong checks_ok;		/* active health checks passed (a plan's wait_healthy) */
	atomic_ullong latency[BACKEND_LATENCY_BUCKETS];	/* completed exchanges, by duration bucket */
	atomic_ullong latency_sum_us;		/* their total duration */
	/* Pools with a primary (pg, redis): what health checks or a
	 * switchover found. ROLE_UNKNOWN elsewhere. */
	atomic_int role;			/* enum backend_role */
	void *ext;				/* owned: the protocol's (backend_live_size bytes) */
};

enum backend_role { ROLE_UNKNOWN, ROLE_PRIMARY, ROLE_STANDBY };

/*
 * The live state of a pool, shared like a backend's: kept across reloads
 * while the pool keeps its name and protocol. paused, in_flight and held
 * serve the pools whose protocol can pause (a pause, a switchover); the
 * others, pools with a primary, whose switchover moves it; a protocol
 * keeps what is its own alone in ext.
 */
struct pool_live {
	atomic_int refs;
	atomic_bool paused;			/* new work (requests, transactions, commands) waits */
	atomic_bool switching;			/* a switchover runs: it, not health checks, sets roles */
	atomic_uint epoch;			/* bumped when the primary changes */
	atomic_int in_flight;			/* work in progress through the pool, all workers */
	atomic_ullong held;			/* clients that waited on a pause or for a primary */
	atomic_ullong switchovers;		/* completed */
	atomic_ullong switchovers_aborted;
	atomic_ullong stall_us_max;		/* longest pause a switchover caused */
	void *ext;				/* owned: the protocol's (pool_live_size bytes) */
};

/* A new pool live state with a zeroed protocol part of ext_size bytes. */
struct pool_live *pool_live_new(size_t ext_size);
struct pool_live *pool_live_ref(struct pool_live *p);
void pool_live_unref(struct pool_live *p);

/* A new live state (ready, up, `weight`) with one reference, and a zeroed
 * protocol part of ext_size bytes. */
struct backend_live *backend_live_new(int weight, size_t ext_size);
/* Take / drop a reference; the last drop frees it. Any thread. */
struct backend_live *backend_live_ref(struct backend_live *b);
void backend_live_unref(struct backend_live *b);

/* Upper bounds (seconds) of the latency histogram buckets; the last is +Inf. */
extern const double backend_latency_bounds[BACKEND_LATENCY_BUCKETS - 1];

/* Count one completed exchange of `us` microseconds. Any thread. */
void backend_observe(struct backend_live *b, uint64_t us);

#define STAT_ADD(field, n) atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)
#define STAT_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

/* May a new request go to b? */
static inline bool backend_usable(struct backend_live *b)
{
	return STAT_GET(b->state) == BACKEND_READY && STAT_GET(b->health) == HEALTH_UP &&
	       STAT_GET(b->weight) > 0;
}

/* Name of an operator state. */
const char *backend_op_state_name(int s);

/* "unknown", "primary" or "standby". */
const char *backend_role_name(int role);

/* The state people see: the operator's, or "down" when checks failed. */
const char *backend_state_name(struct backend_live *b);

/*
 * Weight for balancing now: the configured or operator weight, ramped
 * linearly over slowstart_ms after the backend became usable (at least 1).
 */
int backend_weight(struct backend_live *b, uint64_t slowstart_ms);

/*
 * A worker saw a request succeed (ok) or fail on b: a connect failure or a
 * 5xx. After `fall` consecutive failures (0: never) b is marked down until
 * active checks see it recover. Any thread. Names are for the log.
 * Returns true when this call marked it down.
 */
bool backend_passive(struct backend_live *b, bool ok, int fall, const char *pool,
		     const char *name, const char *why);

#endif
