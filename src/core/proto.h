/*
 * proto.h - what the core asks of a protocol module (http today; pg and
 * redis later): accept a client, and keep per-worker state.
 */
#ifndef ND_PROTO_H
#define ND_PROTO_H

#include "config.h"
#include "list.h"

struct daemon;
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
	void (*on_stop)(struct client_link *l, enum stop_phase phase);
	/* Backend states changed (drain, maint, down): react if it matters. */
	void (*on_sweep)(struct client_link *l);
};

struct proto_ops {
	/* A connection is waiting on wl: accept and own it. */
	void (*accept)(struct wlistener *wl);
	/* Per-worker state for the pools of this protocol; free at exit. */
	void (*worker_init)(struct worker *w);
	void (*worker_free)(struct worker *w);
	/* The worker is about to end: close pooled backend connections. */
	void (*worker_close)(struct worker *w);
	/* Backend states changed: drop pooled connections that must go. */
	void (*worker_sweep)(struct worker *w);
	/* Active health checks of this protocol's pools (control thread). */
	void (*health_start)(struct daemon *d);
	void (*health_stop)(struct daemon *d);
};

const struct proto_ops *proto_ops(enum nd_proto p);

extern const struct proto_ops http_proto_ops;

#endif
