/*
 * upstream.c - one worker's connections to the backends of its pools.
 *
 * Owns: struct upconn life (connect, idle pool, close) and the choice of a
 *       backend for a request (smooth weighted round robin, least_conn).
 * Invariant: an upconn is on be->idle if and only if its state is UP_IDLE;
 *            an idle upconn holds no buffer and no owner; it is never reused
 *            once idle for idle_timeout or once the peer has closed it.
 * Runs on: the owning worker's loop; no other thread touches it.
 *
 * Balancing state is per worker (each worker spreads its own requests);
 * with N workers the spread across backends is still even on average.
 */
#include "upstream.h"

#include <errno.h>
#include <sys/socket.h>

#include "../core/fds.h"
#include "../core/log.h"
#include "../core/proto.h"
#include "../core/daemon.h"
#include "../core/worker.h"
#include "config.h"
#include "proxy.h"

/* g's state of its pool i if it is an http pool, else NULL. */
static struct wpool *wpool_at(struct wgen *g, int i)
{
	return g->snap->cfg->pools[i].proto == &http_module ? g->pools[i] : NULL;
}

/* The wbackend of g serving the same backend as be (same live state), or NULL. */
static struct wbackend *find_backend(struct wgen *g, const struct wbackend *be)
{
	for (int i = 0; i < g->snap->cfg->npools; i++) {
		struct wpool *p = wpool_at(g, i);

		for (int b = 0; p && b < p->cfg->nbackends; b++)
			if (p->backends[b].live == be->live)
				return &p->backends[b];
	}
	return NULL;
}

/* Move u (idle or just released) to `to`, a backend of another generation. */
static void move_upconn(struct upconn *u, struct wbackend *to)
{
	struct wgen *from = u->be->pool->gen;

	u->be = to;
	to->pool->gen->refs++;
	worker_gen_release(to->pool->w, from);
}

/* Carry prev's idle connections over to the backends g keeps; close the
 * rest, so a removed backend holds no pooled connection. */
static void carry_idle(struct wgen *g, struct wgen *prev)
{
	for (int i = 0; i < prev->snap->cfg->npools; i++) {
		struct wpool *p = wpool_at(prev, i);

		for (int b = 0; p && b < p->cfg->nbackends; b++) {
			struct wbackend *old = &p->backends[b];
			struct wbackend *to = find_backend(g, old);

			while (!list_empty(&old->idle)) {
				struct upconn *u = container_of(old->idle.next, struct upconn, node);

				if (!to || to->nidle >= to->pool->hcfg->max_idle) {
					upstream_close(u);
					continue;
				}
				list_del(&u->node);
				old->nidle--;
				list_append(&to->idle, &u->node);
				to->nidle++;
				move_upconn(u, to);
			}
		}
	}
}

void upstream_gen_init(struct worker *w, struct wgen *g, struct wgen *prev)
{
	const struct config *c = g->snap->cfg;

	for (int i = 0; i < c->npools; i++) {
		struct wpool *p;

		if (c->pools[i].proto != &http_module)
			continue;
		p = g->pools[i] = xcalloc(1, sizeof(*p));
		p->cfg = &c->pools[i];
		p->hcfg = http_pool(p->cfg);
		p->w = w;
		p->gen = g;
		p->backends = xcalloc((size_t)p->cfg->nbackends + 1, sizeof(struct wbackend));
		for (int b = 0; b < p->cfg->nbackends; b++) {
			p->backends[b].cfg = &p->cfg->backends[b];
			p->backends[b].pool = p;
			p->backends[b].live = g->snap->live[i][b];
			list_init(&p->backends[b].idle);
		}
	}
	if (prev)
		carry_idle(g, prev);
}

void upstream_gen_free(struct worker *w, struct wgen *g)
{
	ND_UNUSED(w);
	for (int i = 0; i < g->snap->cfg->npools; i++) {
		struct wpool *p = wpool_at(g, i);

		if (p) {
			free(p->backends);
			free(p);
		}
	}
}

/* Close the idle connections of every backend, or (all = false) of those
 * no longer taking requests. */
static void close_idle(struct worker *w, bool all)
{
	for (int i = 0; i < w->cfg->npools; i++) {
		struct wpool *p = wpool_at(w->cur, i);

		for (int b = 0; p && b < p->cfg->nbackends; b++) {
			struct wbackend *be = &p->backends[b];

			if (!all && backend_usable(be->live))
				continue;
			while (!list_empty(&be->idle))
				upstream_close(container_of(be->idle.next, struct upconn, node));
		}
	}
}

void upstream_worker_close(struct worker *w)
{
	close_idle(w, true);
}

void upstream_worker_sweep(struct worker *w)
{
	close_idle(w, false);
}

static bool tried(uint64_t mask, int i)
{
	return i < 64 && (mask & (1ull << i));
}

static struct wbackend *pick_round_robin(struct wpool *p, uint64_t mask)
{
	struct wbackend *best = NULL;
	int total = 0;

	for (int i = 0; i < p->cfg->nbackends; i++) {
		struct wbackend *b = &p->backends[i];

		int weight = backend_weight(b->live, p->hcfg->slowstart_ms);

		if (tried(mask, i) || !backend_usable(b->live))
			continue;
		b->cur_weight += weight;
		total += weight;
		if (!best || b->cur_weight > best->cur_weight)
			best = b;
	}
	if (best)
		best->cur_weight -= total;
	return best;
}

static struct wbackend *pick_least_conn(struct wpool *p, uint64_t mask)
{
	struct wbackend *best = NULL;
	int n = p->cfg->nbackends;
	int start = n ? (int)(p->picks % (unsigned)n) : 0;

	/* Start the scan at a rotating index so equal loads alternate. */
	for (int k = 0; k < n; k++) {
		int i = (start + k) % n;
		struct wbackend *b = &p->backends[i];

		if (tried(mask, i) || !backend_usable(b->live))
			continue;
		if (!best || (long)b->active * backend_weight(best->live, p->hcfg->slowstart_ms) <
			     (long)best->active * backend_weight(b->live, p->hcfg->slowstart_ms))
			best = b;
	}
	return best;
}

struct wbackend *upstream_pick(struct wpool *p, uint64_t mask)
{
	struct wbackend *b;

	b = p->hcfg->balance == BALANCE_LEAST_CONN ? pick_least_conn(p, mask) : pick_round_robin(p, mask);
	p->picks++;
	return b;
}

/* ---- closing ------------------------------------------------------------- */

static void upconn_handle_closed_cb(uv_handle_t *h)
{
	struct upconn *u = h->data;
	struct wpool *p = u->be->pool;

	if (--u->closing_handles > 0)
		return;
	free(u);
	worker_gen_release(p->w, p->gen);
}

void upstream_close(struct upconn *u)
{
	struct worker *w = u->be->pool->w;

	if (u->state == UP_CLOSING)
		return;
	if (u->state == UP_IDLE) {
		list_del(&u->node);
		u->be->nidle--;
	}
	u->state = UP_CLOSING;
	u->owner = NULL;
	bufpool_unwait(&u->bw);
	buf_put(&w->bufs, u->in);
	u->in = NULL;
	http_body_free(&u->resp);
	u->closing_handles = 2;
	uv_close((uv_handle_t *)&u->timer, upconn_handle_closed_cb);
	uv_close((uv_handle_t *)&u->tcp, upconn_handle_closed_cb);
}

/* ---- idle pool ----------------------------------------------------------- */

static void idle_timeout_cb(uv_timer_t *t)
{
	upstream_close(t->data);
}

/* One pair of read callbacks for the connection's whole life: switching
 * callbacks between busy and idle would cost two epoll_ctl calls per
 * request. A busy connection's bytes belong to the proxy; anything read on
 * an idle one (bytes or EOF) makes it unusable. */
static void up_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static __thread char scratch[64];
	struct upconn *u = h->data;

	ND_UNUSED(hint);
	if (u->state == UP_BUSY)
		proxy_up_alloc(u, b);
	else
		*b = uv_buf_init(scratch, sizeof(scratch));
}

static void up_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct upconn *u = s->data;

	ND_UNUSED(b);
	if (u->state == UP_BUSY) {
		proxy_up_read(u, nread);
		return;
	}
	if (nread == 0 || u->state != UP_IDLE)
		return;
	if (nread > 0)
		log_warn("backend %s/%s sent %zd bytes on an idle connection; closing it",
			 u->be->pool->cfg->name, u->be->cfg->name, nread);
	upstream_close(u);
}

void upstream_read_start(struct upconn *u)
{
	if (!u->reading && u->state != UP_CLOSING) {
		u->reading = true;
		uv_read_start((uv_stream_t *)&u->tcp, up_alloc_cb, up_read_cb);
	}
}

void upstream_read_stop(struct upconn *u)
{
	if (u->reading) {
		u->reading = false;
		uv_read_stop((uv_stream_t *)&u->tcp);
	}
}

/* How long u may stay idle: the pool's idle_timeout, or less if the
 * backend announced a shorter keep-alive (minus a second for the race). */
static uint64_t idle_limit(const struct upconn *u)
{
	uint64_t limit = u->be->pool->cfg->idle_timeout_ms;

	return u->max_idle_ms && u->max_idle_ms < limit ? u->max_idle_ms : limit;
}

void upstream_release(struct upconn *u, bool reusable)
{
	struct worker *w = u->be->pool->w;
	struct wbackend *be = u->be;

	u->owner = NULL;
	bufpool_unwait(&u->bw);
	if (reusable && be->pool->gen != w->cur) {
		/* Served a request of an older generation: pool it where the
		 * current one has the same backend, if it does. */
		struct wbackend *to = find_backend(w->cur, be);

		if (to) {
			move_upconn(u, to);
			be = to;
		} else {
			reusable = false;
		}
	}
	if (!reusable || w->stopping || !backend_usable(be->live) ||
	    be->nidle >= be->pool->hcfg->max_idle || u->writing ||
	    (u->in && buf_pending(u->in))) {
		upstream_close(u);
		return;
	}
	buf_put(&w->bufs, u->in);
	u->in = NULL;
	u->state = UP_IDLE;
	u->idle_since_ms = uv_now(&w->loop);
	list_push(&be->idle, &u->node);
	be->nidle++;
	uv_timer_start(&u->timer, idle_timeout_cb, idle_limit(u), 0);
	upstream_read_start(u);
}

/* Has the peer closed (or written to) this idle socket without the loop
 * having noticed yet? One non-blocking peek closes that race. It is skipped
 * for a connection released within the current millisecond: at high
 * request rates that is most reuses, and a backend closing a connection it
 * just answered on is covered by the retry of idempotent requests. */
static bool peer_closed(struct upconn *u)
{
	uv_os_fd_t fd;
	char c;
	ssize_t r;

	if (uv_fileno((uv_handle_t *)&u->tcp, &fd) != 0)
		return true;
	r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

struct upconn *upstream_take_idle(struct wbackend *be)
{
	uint64_t now = uv_now(&be->pool->w->loop);

	while (!list_empty(&be->idle)) {
		struct upconn *u = container_of(be->idle.next, struct upconn, node);

		list_del(&u->node);
		be->nidle--;
		u->state = UP_BUSY;
		uv_timer_stop(&u->timer);
		if (now - u->idle_since_ms >= idle_limit(u) ||
		    (now > u->idle_since_ms && peer_closed(u))) {
			upstream_close(u);
			continue;
		}
		return u;
	}
	return NULL;
}

/* ---- connecting ---------------------------------------------------------- */

static void connect_timeout_cb(uv_timer_t *t)
{
	struct upconn *u = t->data;

	/* Closing the handle makes libuv call the connect callback with
	 * UV_ECANCELED; the proxy reports it as a connect timeout. */
	struct hconn *owner = u->owner;

	u->timed_out = true;
	upstream_close(u);
	u->owner = owner;
}

static void upconn_buf_wake(struct buf_waiter *bw)
{
	struct upconn *u = container_of(bw, struct upconn, bw);

	proxy_upconn_buffer_ready(u);
}

int upstream_connect(struct wbackend *be, struct hconn *owner, uv_connect_cb cb,
		     struct upconn **out)
{
	struct worker *w = be->pool->w;
	struct upconn *u = xcalloc(1, sizeof(*u));
	int r;

	*out = NULL;
	u->be = be;
	be->pool->gen->refs++;		/* dropped when u is freed */
	u->owner = owner;
	u->state = UP_CONNECTING;
	list_init(&u->node);
	buf_waiter_init(&u->bw, upconn_buf_wake);
	uv_tcp_init(&w->loop, &u->tcp);
	uv_timer_init(&w->loop, &u->timer);
	u->tcp.data = u->timer.data = u->creq.data = u->wreq.data = u;
	uv_tcp_nodelay(&u->tcp, 1);
	r = fds_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&be->cfg->addr, cb);
	if (r < 0) {
		upstream_close(u);
		return r;
	}
	uv_timer_start(&u->timer, connect_timeout_cb, be->pool->cfg->connect_timeout_ms, 0);
	*out = u;
	return 0;
}
