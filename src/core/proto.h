/*
 * proto.h - what the core asks of a protocol module (http today; pg and
 * redis later): accept a client, and keep per-worker state.
 */
#ifndef ND_PROTO_H
#define ND_PROTO_H

#include "config.h"
#include "list.h"

struct daemon;
struct listener;
struct wgen;
struct worker;
struct wlistener;

/* Phases of a graceful stop, announced to every open client. */
enum stop_phase {
	STOP_BEGIN,		/* stop reusing: the next response closes */
	STOP_GRACE_OVER,	/* close if idle */
	STOP_DEADLINE,		/* close now, whatever it is doing */
};

/* Embedded in every client connection; lives on worker->clients. */
struct client_link {
	struct list node;
	struct listener *l;		/* accepted on; a reference while open */
	void (*on_stop)(struct client_link *l, enum stop_phase phase);
	/* Backend states or a pool's pause changed (drain, maint, down, a
	 * switchover ended): react if it matters. Called by the worker after
	 * every protocol's worker_sweep. */
	void (*on_sweep)(struct client_link *l);
	/* Buffers ran out and a complete request waits (worker_reclaim):
	 * how readily this client gives its buffers up (0: never; the
	 * highest goes first), and the call that makes it give them up (it
	 * answers an error and closes). Both NULL: never. */
	uint64_t (*reclaim_rank)(struct client_link *l, uint64_t now_ms);
	void (*on_reclaim)(struct client_link *l);
};

struct proto_ops {
	/* A connection is waiting on wl: accept and own it. */
	void (*accept)(struct wlistener *wl);
	/* Build g's per-worker pools for its snapshot; with prev (the
	 * generation g replaces), carry over what stays: the idle connections
	 * of backends whose live state g keeps. Free them with gen_free. */
	void (*gen_init)(struct worker *w, struct wgen *g, struct wgen *prev);
	void (*gen_free)(struct worker *w, struct wgen *g);
	/* The worker is about to end: close pooled backend connections. */
	void (*worker_close)(struct worker *w);
	/* Backend states changed: drop pooled connections that must go, and
	 * serve waiters that now can be (each client's on_sweep follows). */
	void (*worker_sweep)(struct worker *w);
	/* Active health checks of this protocol's pools (control thread):
	 * make them match the current snapshot, keeping the progress of
	 * backends that stay; stop them all. */
	void (*health_apply)(struct daemon *d);
	void (*health_stop)(struct daemon *d);
};

#define ND_NPROTO 2		/* enum nd_proto values */

const struct proto_ops *proto_ops(enum nd_proto p);

/* Call op of every protocol module, in enum order. */
#define PROTO_EACH(op, ...) \
	for (int proto_ = 0; proto_ < ND_NPROTO; proto_++) \
		proto_ops((enum nd_proto)proto_)->op(__VA_ARGS__)

extern const struct proto_ops http_proto_ops;
extern const struct proto_ops pg_proto_ops;

#endif
