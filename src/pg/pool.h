/*
 * pool.h - one worker's server connections to the PostgreSQL backends of a
 * pool: logging in, the idle pool per (user, database), the clients
 * waiting for a connection, and which backend is the primary.
 */
#ifndef ND_PG_POOL_H
#define ND_PG_POOL_H

#include <stdbool.h>
#include <uv.h>

#include "../core/backend.h"
#include "../core/config.h"
#include "../core/list.h"
#include "../core/worker.h"
#include "authfile.h"
#include "login.h"
#include "wire.h"

struct worker;
struct wgen;
struct pgclient;


#define PG_TRACKED_PARAMS 6	/* reported parameters replayed on a new server */
extern const char *const pg_tracked_params[PG_TRACKED_PARAMS];

/* Values of the tracked parameters; NULL = unknown. Owned strings. */
struct pg_vars {
	char *v[PG_TRACKED_PARAMS];
};
void pg_vars_set(struct pg_vars *vs, const char *name, size_t nlen, const char *value, size_t vlen);
/* The value of tracked parameter name[0, nlen), or NULL (unknown, or not tracked). */
const char *pg_vars_get(const struct pg_vars *vs, const char *name, size_t nlen);
void pg_vars_free(struct pg_vars *vs);

enum pgserver_state {
	PS_CONNECTING,
	PS_LOGIN,		/* startup sent, authenticating, reading parameters */
	PS_IDLE,		/* on bucket->idle, or bucket->warm if warm */
	PS_LINKED,		/* serving a client */
	PS_CLOSING,
};

/* A Parse written to a server, until its ParseComplete (or the
 * ReadyForQuery of its batch, when an error made the server skip it). */
struct pg_parse_sent {
	bool injected;			/* ours: its ParseComplete is not the client's */
	char *srvname;			/* owned; NULL for an unnamed statement */
	unsigned sync;			/* syncs_sent when it was written */
};

/* One connection to a PostgreSQL server, as a given user and database. */
struct pgserver {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t timer;		/* connect + login timeout; idle timeout */
	struct pgbucket *bucket;	/* borrowed; holds a reference on its generation */
	struct list node;		/* on bucket->idle or bucket->warm, if on one */
	struct list all_node;		/* on its worker's list of every open server (pg/pool.c) */
	enum pgserver_state state;
	int closing_handles;
	int backend;			/* index in the pool's backends */
	bool warm;			/* opened ahead to a switchover's target, not yet adopted */
	struct pgclient *client;	/* linked client */
	struct gbuf in;			/* bytes from the server not yet handled */
	struct gbuf out;		/* bytes to the server, written at the next flush */
	struct gbuf wbuf;		/* bytes of the write in flight */
	struct buf_waiter bw;		/* reading stopped until the worker's buffers free up */
	bool writing;			/* a uv_write of wbuf is in flight */
	struct wflush flush;		/* queued on the worker when out has bytes */
	struct pg_login login;		/* during login */
	int32_t pid;			/* from BackendKeyData, for cancels */
	uint32_t key;
	struct pg_vars vars;		/* the server's current reported parameters */
	struct gbuf params;		/* the ParameterStatus messages of its login, as sent */
	char **stmts;			/* names of statements prepared on it (owned) */
	int nstmts, stmts_cap;
	struct pg_parse_sent *parses;	/* FIFO of Parses awaiting ParseComplete (owned) */
	int parses_head, parses_n, parses_cap;
	unsigned syncs_sent;		/* Sync/Query/FunctionCall written to it */
	unsigned syncs_done;		/* ReadyForQuery read from it */
	int replay_pending;		/* ReadyForQuery of injected SETs still to drop */
	uint64_t idle_since_ms;
	unsigned epoch;			/* the pool's primary epoch it was opened in */
	bool terminating;		/* Terminate queued: closed once it is written */
	bool settings_changed;		/* a client's SET or RESET ran on it: RESET ALL before the next */
};

/* Server connections of one (user, database) on one worker. */
struct pgbucket {
	struct pg_wpool *pool;		/* borrowed */
	char user[PG_AUTH_USER_MAX + 1];
	char database[PG_AUTH_USER_MAX + 1];
	struct list idle;		/* struct pgserver, most recently used first */
	int nidle;
	int nopen;			/* all states but closing, warm ones not counted */
	struct list warm;		/* warm servers logged in, waiting for the new epoch */
	int nwarm;			/* warm servers in any state but closing */
	struct list waiters;		/* struct pgclient waiting for a server, FIFO */
	struct pg_vars defaults;	/* the parameters a fresh server reports */
	bool have_defaults;
	struct pgbucket *next;		/* every bucket of the pool */
	struct pgbucket *hnext;		/* hash chain */
	uint32_t hash;
};

/* A pg pool as one worker sees it in one generation. */
struct pg_wpool {
	const struct pool_cfg *cfg;	/* borrowed from the generation's snapshot */
	const struct pg_pool_cfg *pg;	/* cfg's pg settings */
	const struct pg_authfile *auth;	/* borrowed: pg's auth file */
	struct backend_live **live;	/* the snapshot's, per backend */
	struct pool_live *shared;	/* the snapshot's: pause, primary epoch */
	struct worker *w;
	struct wgen *gen;
	struct pgbucket *buckets;	/* owned list */
	struct pgbucket **htab;		/* owned: hash of buckets by (user, database) */
	unsigned hsize, nbuckets;	/* hsize a power of two, grown past nbuckets */
	int max_per_bucket;		/* this worker's share of pool_size */
};

/* The module's gen_init / gen_free / worker_close: a generation's pg
 * pools; close idle servers. */
void pg_gen_init(struct worker *w, struct wgen *g, struct wgen *prev);
void pg_gen_free(struct worker *w, struct wgen *g);
void pg_worker_close(struct worker *w);

/* The bucket for (user, database), created on first use (only for a
 * client that has logged in: buckets are kept for the generation's life).
 * O(1) on average. */
struct pgbucket *pg_bucket(struct pg_wpool *p, const char *user, const char *database);

/*
 * Give client c a server of bucket b: an idle one to the current primary,
 * a new one if there is room, else c waits on b->waiters (pg_pool_unwait
 * to give up). Calls pg_proxy_linked(c, s) when it has one (maybe at once),
 * or pg_proxy_link_failed(c, why) when no server can be had.
 */
void pg_pool_acquire(struct pgbucket *b, struct pgclient *c);
void pg_pool_unwait(struct pgclient *c);

/* The client is done with s: back to idle if clean, else closed. */
void pg_pool_release(struct pgserver *s, bool clean);
void pg_server_close(struct pgserver *s);

/* End s politely (its client left mid-transaction): a CopyFail first if
 * it is in COPY FROM STDIN, then Terminate; closed once that is written.
 * s serves nobody meanwhile. */
void pg_server_terminate(struct pgserver *s, bool copy_in);

/* Read from s or not (backpressure from a slow client). */
void pg_server_read(struct pgserver *s, bool on);

/* Is a primary known (role primary, usable)? */
bool pg_pool_has_primary(struct pg_wpool *p);

/* Queue bytes to s and start writing. */
void pg_server_send(struct pgserver *s, const char *p, size_t n);

/* Sweep: close idle servers that are not on the current primary, and wake
 * waiters if the pool is no longer paused. */
void pg_worker_sweep(struct worker *w);

#endif
