/*
 * proto.h - what the core asks of a protocol module (http, pg, and later
 * redis), and the table of modules.
 *
 * The core knows no protocol by name: a listener's or pool's `protocol:`
 * names a module, and every protocol-specific key, check, connection,
 * health probe, status field, metric and admin endpoint is reached through
 * the module's struct proto_module. Adding a protocol is a new folder under
 * src/ and one entry in src/modules.c.
 */
#ifndef ND_PROTO_H
#define ND_PROTO_H

#include <jansson.h>

#include "config.h"
#include "list.h"
#include "route.h"
#include "schema.h"

struct daemon;
struct metrics_text;
struct op;
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

struct proto_module {
	const char *name;		/* the value of `protocol:` */

	/* ---- configuration (core/config.c reads, checks and frees) ---- */
	/* Keys a listener / pool of this protocol takes besides the core's,
	 * read into the object l->pcfg / p->pcfg; its strings are freed by
	 * the table (schema_free), anything else by pool_free. */
	const struct keytable *listener_keys;
	const struct keytable *pool_keys;
	void (*pool_free)(void *pcfg);			/* may be NULL */
	/* Checks once the whole file is read (the listener's pool is set);
	 * report with CFG_ERR at schema_item_node(...). May be NULL. */
	void (*pool_check)(struct cctx *cx, struct pool_cfg *p);
	void (*listener_check)(struct cctx *cx, struct listener_cfg *l);
	/* Its pools have a primary that health checks find: each backend
	 * has a role (core/backend.h), shown in status and metrics. */
	bool roles;
	/* Its pools' new work (a request, a transaction, a command) waits at
	 * its boundary while pool_live.paused is set: `nodown pause` and a
	 * plan's pause step apply to them (core/pause.h). */
	bool pausable;
	/* Health probes its pools may use, NULL-terminated: a `health` with
	 * no `type` gets the first that takes every key given. */
	const struct probe_type *const *probes;
	/* Bytes of the protocol's own part (ext, zeroed at first) of each
	 * pool's and each backend's live state (core/backend.h). */
	size_t pool_live_size, backend_live_size;

	/* ---- workers ---- */
	/* A connection is waiting on wl: accept and own it. */
	void (*accept)(struct wlistener *wl);
	/* Build g's per-worker state of this protocol's pools
	 * (g->pools[p]) for its snapshot; with prev (the generation g
	 * replaces), carry over what stays: the idle connections of backends
	 * whose live state g keeps. Free them with gen_free. */
	void (*gen_init)(struct worker *w, struct wgen *g, struct wgen *prev);
	void (*gen_free)(struct worker *w, struct wgen *g);
	/* The worker is about to end: close pooled backend connections. */
	void (*worker_close)(struct worker *w);
	/* Backend states changed: drop pooled connections that must go, and
	 * serve waiters that now can be (each client's on_sweep follows). */
	void (*worker_sweep)(struct worker *w);

	/* ---- control thread ---- */
	/* Add the protocol's fields to the status JSON of pool p and of its
	 * backend b (GET /status). May be NULL. */
	void (*pool_status)(struct daemon *d, int p, json_t *pool);
	void (*backend_status)(struct daemon *d, int p, int b, json_t *backend);
	/* Append the protocol's metric families (GET /metrics). May be NULL. */
	void (*metrics)(struct daemon *d, struct metrics_text *t);
	/* Admin endpoints under /pools/POOL/ for its pools (core/admin.h). */
	const struct route_table *routes;		/* may be NULL */
	/* Start moving pool p's primary, backend `from`, to backend `to`, a
	 * healthy standby (core/switchover.c checked that much), as an
	 * operation of kind "switchover" (core/op.h); pause_timeout_ms 0:
	 * the pool's own. NULL with *why if refused. NULL: the protocol has
	 * no switchover. Pools with one get a pause (pool_live.paused) and
	 * its status fields and metrics. */
	struct op *(*switchover)(struct daemon *d, int p, int from, int to, uint64_t pause_timeout_ms,
				 const char **why);

};

/* Every module, NULL-terminated (src/modules.c). */
extern const struct proto_module *const proto_modules[];

/* The module called name, or NULL. */
const struct proto_module *proto_find(const char *name);

/* "http, pg": the modules' names, for messages. */
void proto_names(char *out, size_t n);

/* Call op of every protocol module, in table order. */
#define PROTO_EACH(op, ...) \
	for (const struct proto_module *const *m_ = proto_modules; *m_; m_++) \
		(*m_)->op(__VA_ARGS__)

#endif
