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
#include "log.h"

struct daemon;
struct wpool;

/* Process-wide state of one listener, shared by all workers. */
struct listener {
	const struct listener_cfg *cfg;	/* borrowed from the config */
	int fd;				/* listening socket, owned by the daemon */
	atomic_int active;		/* open client connections, all workers */
	atomic_ullong accepted;
	atomic_ullong refused;		/* closed at once: max_connections reached */
};

/* One worker's handle on a listener. */
struct wlistener {
	uv_tcp_t tcp;			/* a dup of listener->fd on this loop */
	struct listener *l;		/* borrowed from the daemon */
	struct worker *w;
	bool open;
};

struct worker {
	int id;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wake;		/* daemon -> worker: "stop" */
	uv_prepare_t flush;		/* flush the access log once per iteration */
	uv_timer_t stop_timer;		/* grace, then the hard shutdown deadline */
	struct daemon *d;		/* borrowed */
	const struct config *cfg;	/* borrowed; immutable while the worker runs */
	struct bufpool bufs;		/* this worker's I/O buffers */
	struct wlistener *listeners;	/* owned, cfg->nlisteners */
	struct wpool *pools;		/* owned, cfg->npools; see http/upstream.h */
	struct list clients;		/* every open client connection */
	int nclients;
	atomic_bool stop_requested;	/* set by the daemon before waking us */
	atomic_bool sweep_requested;	/* backend states changed */
	bool stopping;			/* graceful stop in progress */
	bool grace_over;		/* idle clients are now closed */
	struct logbuf access;		/* buffered access-log lines */
	char tsbuf[32];			/* cached timestamp for access lines */
	uint64_t ts_ms;			/* when tsbuf was made */
};

/* Prepare w for listeners[] and start its thread. Returns 0 or -errno. */
int worker_start(struct worker *w, struct daemon *d, const struct config *cfg,
		 struct listener *listeners) ND_MUST_CHECK;

/* Tell w that backend states changed (any thread). */
void worker_sweep(struct worker *w);

/* Ask w to stop gracefully (any thread). */
void worker_stop(struct worker *w);

/* Wait for w's thread to finish and free its resources. */
void worker_join(struct worker *w);

/* Called by the proxy when a client closes; lets a stopping worker finish. */
void worker_client_gone(struct worker *w);

/* Timestamp of the current loop iteration, for access-log lines. */
const char *worker_timestamp(struct worker *w);

#endif
