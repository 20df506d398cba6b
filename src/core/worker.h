/*
 * worker.h - a worker thread: one libuv loop, the connections accepted on
 * it, and its share of every listener.
 */
#ifndef ND_WORKER_H
#define ND_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "buffer.h"
#include "config.h"
#include "list.h"
#include "listener.h"
#include "log.h"
#include "snapshot.h"

struct daemon;
struct client_link;

/* One worker's handle on a listener. */
struct wlistener {
	uv_tcp_t tcp;			/* the worker's dup of the listener's socket */
	struct listener *l;		/* one reference, dropped when tcp is closed */
	const struct listener_cfg *cfg;	/* of the worker's current snapshot */
	struct worker *w;
};

/*
 * What one worker serves from one snapshot: the snapshot and the
 * per-worker state of each of its pools, built by the pool's protocol
 * (gen_init). A connection holds the generation it started its request
 * on; the last one out frees it.
 */
struct wgen {
	struct snapshot *snap;		/* one reference */
	void **pools;			/* [snap->cfg->npools]: each owned by its pool's protocol */
	int refs;			/* the worker while current, plus connections using it */
};

/*
 * A connection's queued output, written once before the loop waits again,
 * so what one loop turn produces for a peer leaves in one system call.
 * fn writes it; the owner cancels the flush when it closes.
 */
struct wflush {
	struct list node;		/* on the worker's flushq while queued */
	void (*fn)(struct wflush *f);
};

static inline void wflush_init(struct wflush *f, void (*fn)(struct wflush *f))
{
	list_init(&f->node);
	f->fn = fn;
}

static inline void wflush_cancel(struct wflush *f)
{
	list_del(&f->node);
}

struct worker {
	int id;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wake;		/* daemon -> worker: "stop" */
	uv_prepare_t flush;		/* flushq and the access log, once per iteration */
	struct list flushq;		/* struct wflush queued by worker_flush_later */
	uv_timer_t stop_timer;		/* grace, then the hard shutdown deadline */
	struct daemon *d;		/* borrowed */
	struct wgen *cur;		/* what new requests use; one reference */
	const struct config *cfg;	/* cur's config */
	struct bufpool bufs;		/* this worker's I/O buffers */
	char *scratch;			/* owned, bufs.size bytes: peeks, input read only to drop */
	struct wlistener **listeners;	/* owned, [nlisteners]: cur's listeners */
	int nlisteners;
	struct list clients;		/* every open client connection */
	int nclients;
	_Atomic(struct snapshot *) next;	/* published by the daemon, adopted on wake */
	atomic_uint adopted;		/* generation of cur, for the daemon */
	atomic_bool stop_requested;	/* set by the daemon before waking us */
	atomic_bool sweep_requested;	/* backend states changed */
	bool stopping;			/* graceful stop in progress */
	bool grace_over;		/* idle clients are now closed */
	struct logbuf access;		/* buffered access-log lines */
	char tsbuf[32];			/* cached timestamp for access lines */
	uint64_t ts_ms;			/* when tsbuf was made */
};

/* Prepare w to serve snap (taking a reference) and start its thread.
 * Returns 0 or a libuv error. */
int worker_start(struct worker *w, struct daemon *d, struct snapshot *snap) ND_MUST_CHECK;

/* Hand w a new snapshot (any thread): new requests on w use it as soon as
 * w wakes up; requests in progress finish on the one they started on. */
void worker_publish(struct worker *w, struct snapshot *snap);

/* Worker thread: take a reference on w's current generation / drop one
 * (the last one frees it). */
struct wgen *worker_gen_hold(struct worker *w);
void worker_gen_release(struct worker *w, struct wgen *g);

/* Queue f (once) to be flushed before w's loop waits again (w's thread). */
void worker_flush_later(struct worker *w, struct wflush *f);

/* Tell w that backend states changed (any thread). */
void worker_sweep(struct worker *w);

/* A request (or transaction) in flight on backend b ended: one less in
 * its `active`. The last one out of a backend out of rotation tells the
 * daemon (a drain is then drained). Worker thread. */
void worker_backend_done(struct worker *w, struct backend_live *b);

/*
 * Passive health (worker thread): an exchange with backend `live` ended
 * well or badly (backend_passive). When that marks it down, every worker
 * is swept, as after a failed health check. Names are for the log.
 */
void worker_passive(struct worker *w, struct backend_live *live, bool ok, int fall,
		    const char *pool, const char *name, const char *why);

/* Ask w to stop gracefully (any thread). */
void worker_stop(struct worker *w);

/* Wait for w's thread to finish and free its resources. */
void worker_join(struct worker *w);

/* A connection is waiting on wl: true if it may be accepted (counted in
 * the listener's active), false if it was closed at once (max_connections
 * reached, or the worker is stopping). */
bool worker_admit(struct wlistener *wl);

/*
 * After worker_admit: put the client whose link is `link` (its on_stop and
 * on_sweep set) on w's clients, holding a reference to wl's listener, and
 * accept the waiting connection into tcp (already initialised on w's
 * loop); count it, set TCP_NODELAY and write the peer's address to peer.
 * Returns 0, or a negative libuv error: the client is linked either way
 * and its owner closes it as usual.
 */
int worker_accept_client(struct wlistener *wl, struct client_link *link, uv_tcp_t *tcp,
			 char *peer, size_t peer_len) ND_MUST_CHECK;

/* The peer address of tcp as text ("-" if unknown). */
void worker_peer_address(uv_tcp_t *tcp, char *out, size_t n);

/*
 * The pool is exhausted and a client (skip) has a complete request: ask
 * the client that gives way most readily (its reclaim_rank) to give up its
 * buffers, and count it on its listener. Returns false when no client
 * gives way. Worker thread; O(clients), paid only when the pool is empty.
 */
bool worker_reclaim(struct worker *w, struct client_link *skip);

/* Called by the proxy when a client closes; lets a stopping worker finish. */
void worker_client_gone(struct worker *w);

/* Timestamp of the current loop iteration, for access-log lines. */
const char *worker_timestamp(struct worker *w);

#endif
