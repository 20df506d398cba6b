/*
 * upstream.h - connections from one worker to the backends of a pool:
 * balancing, connecting, and the idle pool.
 */
#ifndef ND_HTTP_UPSTREAM_H
#define ND_HTTP_UPSTREAM_H

#include <stdbool.h>
#include <uv.h>

#include "../core/buffer.h"
#include "../core/config.h"
#include "../core/list.h"
#include "../core/backend.h"
#include "body.h"

struct worker;
struct wgen;
struct hconn;

/* One backend as one worker sees it. */
struct wbackend {
	const struct backend_cfg *cfg;	/* borrowed from the config */
	struct wpool *pool;
	struct list idle;		/* struct upconn, most recently used first */
	int nidle;
	struct backend_live *live;	/* shared state and counters, owned by the daemon */
	int active;			/* requests this worker has on it now (least_conn) */
	int cur_weight;			/* smooth weighted round robin state */
};

/* One pool as one worker sees it. */
struct wpool {
	const struct pool_cfg *cfg;	/* borrowed from gen's snapshot */
	const struct http_pool_cfg *hcfg;	/* cfg's http settings */
	struct worker *w;
	struct wgen *gen;		/* the generation it belongs to */
	struct wbackend *backends;	/* owned, cfg->nbackends */
	unsigned picks;			/* backends chosen; rotates least_conn ties */
};

enum upconn_state {
	UP_CONNECTING,			/* connect in progress */
	UP_BUSY,			/* serving owner's request */
	UP_IDLE,			/* on backend->idle, reading only to notice a close */
	UP_CLOSING,			/* uv_close called */
};

struct upconn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_timer_t timer;		/* connect, response and idle timeouts */
	uv_write_t wreq;
	struct wbackend *be;		/* borrowed; u holds a reference on its generation */
	struct list node;		/* on be->idle while UP_IDLE */
	enum upconn_state state;
	int closing_handles;		/* handles whose close callback is pending */
	struct hconn *owner;		/* the client it serves, while busy */
	struct buf *in;			/* response bytes read, not yet forwarded; owned */
	struct buf_waiter bw;		/* waiting for a buffer to read into */
	struct http_body resp;		/* framing of the response being read */
	uint64_t idle_since_ms;
	uint64_t max_idle_ms;		/* from the backend's Keep-Alive: timeout=, or 0 */
	uint64_t last_io_ms;		/* last response bytes read, for response_timeout */
	unsigned requests;		/* requests served; > 0 means reused */
	bool writing;			/* a uv_write to it is pending */
	bool timed_out;			/* connect_timeout fired */
	bool reading;			/* uv_read_start in effect */
};

/* The module's gen_init / gen_free: g's http pools, built from its snapshot. */
void upstream_gen_init(struct worker *w, struct wgen *g, struct wgen *prev);
void upstream_gen_free(struct worker *w, struct wgen *g);
void upstream_worker_close(struct worker *w);
/* A backend state changed: close idle connections to backends that no
 * longer take requests (drain closes them at once). */
void upstream_worker_sweep(struct worker *w);

/*
 * Choose a backend of p for a new request, skipping `tried` (bit i set =
 * backend i already failed this request). NULL when none is left.
 */
struct wbackend *upstream_pick(struct wpool *p, uint64_t tried);

/* An idle connection to be that is still fit to carry a request (idle for
 * less than the pool's idle_timeout), or NULL. Stale ones are closed. */
struct upconn *upstream_take_idle(struct wbackend *be);

/*
 * Start a connection to be for owner; cb runs later with status 0 or a
 * libuv error (UV_ECANCELED with u->timed_out set after connect_timeout,
 * or with u->owner NULL when the owner gave up and closed it). Returns 0
 * with *out set, or a libuv error if the connect could not even start.
 */
int upstream_connect(struct wbackend *be, struct hconn *owner, uv_connect_cb cb,
		     struct upconn **out) ND_MUST_CHECK;

/* The request on u is done: keep u idle if reusable and there is room, else close. */
void upstream_release(struct upconn *u, bool reusable);

/* Start/stop reading u (it reads in every state but while the proxy
 * applies backpressure). */
void upstream_read_start(struct upconn *u);
void upstream_read_stop(struct upconn *u);

/* Close u (any state); memory is freed once libuv is done with it. */
void upstream_close(struct upconn *u);

#endif
