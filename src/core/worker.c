/*
 * worker.c - a worker thread and its event loop.
 *
 * Owns: the loop, the worker's handles on each listener, its buffer pool,
 *       its access-log buffer, its generations (struct wgen) and the order
 *       of a graceful stop.
 * Invariant: every connection accepted on this loop lives and dies on it;
 *            a snapshot never changes while a generation holds it, and a
 *            generation lives while the worker serves it or a connection
 *            uses it.
 * Runs on: its own thread; worker_start/worker_publish/worker_stop/
 *          worker_join are called from the control thread and touch only
 *          the async handle and atomics.
 *
 * Reload: the daemon publishes a new snapshot; on wake the worker builds a
 * generation for it (moving the idle backend connections of backends that
 * stay), makes its listener handles match, and releases the old
 * generation, which lives on while requests started on it finish.
 *
 * Stop order: close the listeners (no new connections here), tell every
 * client STOP_BEGIN (its next response says Connection: close), after
 * shutdown_idle_grace close the idle ones (STOP_GRACE_OVER), and at
 * shutdown_timeout close the rest (STOP_DEADLINE). The loop ends when the
 * last handle is closed.
 */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include "daemon.h"
#include "fds.h"
#include "proto.h"

static void listener_connection_cb(uv_stream_t *s, int status)
{
	struct wlistener *wl = s->data;

	if (status < 0) {
		if (fds_exhausted(status))
			fds_report("accepting a client");
		else
			log_warn("accept on listener '%s' failed: %s", wl->cfg->name, uv_strerror(status));
		return;
	}
	wl->cfg->proto->accept(wl);
}

static void wlistener_closed_cb(uv_handle_t *h)
{
	struct wlistener *wl = h->data;

	listener_unref(wl->l);
	free(wl);
}

static void wlistener_close(struct wlistener *wl)
{
	uv_close((uv_handle_t *)&wl->tcp, wlistener_closed_cb);
}

static struct wlistener *wlistener_open(struct worker *w, struct listener *l,
					 const struct listener_cfg *cfg)
{
	struct wlistener *wl = xcalloc(1, sizeof(*wl));
	int fd = listener_take_fd(l, w->id), r;

	wl->l = listener_ref(l);
	wl->cfg = cfg;
	wl->w = w;
	uv_tcp_init(&w->loop, &wl->tcp);
	wl->tcp.data = wl;
	r = fd < 0 ? UV_EBADF : uv_tcp_open(&wl->tcp, fd);
	if (r < 0 && fd >= 0)
		close(fd);	/* not the handle's yet */
	if (r == 0)
		r = uv_listen((uv_stream_t *)&wl->tcp, cfg->backlog, listener_connection_cb);
	if (r < 0) {
		log_error("worker %d: cannot listen on listener '%s': %s", w->id, cfg->name,
			  uv_strerror(r));
		wlistener_close(wl);
		return NULL;
	}
	return wl;
}

/* Make w's listener handles those of its current snapshot: keep the ones
 * that stay, open the new ones, close the ones that left. */
static void sync_listeners(struct worker *w)
{
	const struct snapshot *s = w->cur->snap;
	struct wlistener **ls = xcalloc((size_t)s->cfg->nlisteners + 1, sizeof(*ls));

	for (int i = 0; i < s->cfg->nlisteners; i++) {
		for (int j = 0; j < w->nlisteners && !ls[i]; j++) {
			if (w->listeners[j] && w->listeners[j]->l == s->listeners[i]) {
				ls[i] = w->listeners[j];
				w->listeners[j] = NULL;
			}
		}
		if (ls[i])
			ls[i]->cfg = &s->cfg->listeners[i];
		else
			ls[i] = wlistener_open(w, s->listeners[i], &s->cfg->listeners[i]);
	}
	for (int j = 0; j < w->nlisteners; j++)
		if (w->listeners[j])
			wlistener_close(w->listeners[j]);
	free(w->listeners);
	w->listeners = ls;
	w->nlisteners = s->cfg->nlisteners;
}

static void close_listeners(struct worker *w)
{
	for (int i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i])
			wlistener_close(w->listeners[i]);
		w->listeners[i] = NULL;
	}
}

/* ---- generations --------------------------------------------------------- */

static struct wgen *gen_new(struct worker *w, struct snapshot *snap, struct wgen *prev)
{
	struct wgen *g = xcalloc(1, sizeof(*g));

	g->snap = snap;		/* the caller's reference */
	g->refs = 1;
	g->pools = xcalloc((size_t)snap->cfg->npools + 1, sizeof(*g->pools));
	PROTO_EACH(gen_init, w, g, prev);
	return g;
}

struct wgen *worker_gen_hold(struct worker *w)
{
	w->cur->refs++;
	return w->cur;
}

void worker_gen_release(struct worker *w, struct wgen *g)
{
	if (--g->refs > 0)
		return;
	PROTO_EACH(gen_free, w, g);
	free(g->pools);
	snapshot_unref(g->snap);
	free(g);
}

const char *worker_timestamp(struct worker *w)
{
	uint64_t now = uv_now(&w->loop);

	if (now != w->ts_ms || !w->tsbuf[0]) {
		log_timestamp(w->tsbuf, sizeof(w->tsbuf));
		w->ts_ms = now;
	}
	return w->tsbuf;
}

void worker_flush_later(struct worker *w, struct wflush *f)
{
	if (list_empty(&f->node))
		list_append(&w->flushq, &f->node);
}

/* Before the loop waits: every queued output, then the access log. A
 * flush may queue others (a server's answer lets its client go on): they
 * are written in the same pass. */
static void flush_cb(uv_prepare_t *p)
{
	struct worker *w = p->data;

	while (!list_empty(&w->flushq)) {
		struct wflush *f = container_of(w->flushq.next, struct wflush, node);

		list_del(&f->node);
		f->fn(f);
	}
	logbuf_flush(&w->access);
}

/* Call fn on every client of w. fn may close any client, itself included:
 * each is taken from a private list before fn sees it. */
static void each_client(struct worker *w, void (*fn)(struct client_link *l, void *arg), void *arg)
{
	struct list todo;

	list_move_all(&todo, &w->clients);
	while (!list_empty(&todo)) {
		struct list *n = todo.next;

		list_del(n);
		list_append(&w->clients, n);
		fn(container_of(n, struct client_link, node), arg);
	}
}

static void stop_one(struct client_link *l, void *arg)
{
	l->on_stop(l, *(enum stop_phase *)arg);
}

static void announce(struct worker *w, enum stop_phase phase)
{
	each_client(w, stop_one, &phase);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	ND_UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Nothing left to serve: close every handle so uv_run returns. Idle
 * backend connections close through their own close callbacks. */
static void worker_finish(struct worker *w)
{
	PROTO_EACH(worker_close, w);
	uv_walk(&w->loop, close_walk_cb, NULL);
}

static void stop_timer_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (!w->grace_over) {
		w->grace_over = true;
		uint64_t left = w->cfg->shutdown_timeout_ms > w->cfg->shutdown_idle_grace_ms ?
				w->cfg->shutdown_timeout_ms - w->cfg->shutdown_idle_grace_ms : 0;

		announce(w, STOP_GRACE_OVER);
		if (w->nclients > 0) {
			uv_timer_start(&w->stop_timer, stop_timer_cb, left, 0);
			return;
		}
	} else if (w->nclients > 0) {
		log_warn("worker %d: shutdown_timeout reached; closing %d connection(s) still open",
			 w->id, w->nclients);
		announce(w, STOP_DEADLINE);
	}
	if (w->nclients == 0)
		worker_finish(w);
}

static void begin_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	close_listeners(w);
	announce(w, STOP_BEGIN);
	if (w->nclients == 0) {
		w->grace_over = true;	/* nobody to wait for */
		worker_finish(w);
		return;
	}
	uv_timer_start(&w->stop_timer, stop_timer_cb, w->cfg->shutdown_idle_grace_ms, 0);
}

static void sweep_one(struct client_link *l, void *arg)
{
	ND_UNUSED(arg);
	if (l->on_sweep)
		l->on_sweep(l);
}

/* Backend states or a pool's pause changed: each protocol revisits its
 * pools (idle connections, waiters), then every client its own state. */
static void sweep(struct worker *w)
{
	PROTO_EACH(worker_sweep, w);
	each_client(w, sweep_one, NULL);
}

static void stop_if_retired(struct client_link *l, void *arg)
{
	ND_UNUSED(arg);
	if (atomic_load(&l->l->retired))
		l->on_stop(l, STOP_GRACE_OVER);
}

/* Serve snap from now on: new connections and the next request of every
 * open one use it; what is in progress finishes on the generation it
 * started on. Clients of a listener that left close once idle. */
static void adopt(struct worker *w, struct snapshot *snap)
{
	struct wgen *old = w->cur;

	w->cur = gen_new(w, snap, old);
	w->cfg = snap->cfg;
	sync_listeners(w);
	worker_gen_release(w, old);
	each_client(w, stop_if_retired, NULL);
	sweep(w);
	atomic_store(&w->adopted, snap->gen);
}

static void wake_cb(uv_async_t *a)
{
	struct worker *w = a->data;
	struct snapshot *snap = atomic_exchange(&w->next, NULL);

	if (snap && (w->stopping || atomic_load(&w->stop_requested)))
		snapshot_unref(snap);
	else if (snap)
		adopt(w, snap);
	if (atomic_exchange(&w->sweep_requested, false))
		sweep(w);
	if (atomic_load(&w->stop_requested))
		begin_stop(w);
}

void worker_publish(struct worker *w, struct snapshot *snap)
{
	snapshot_unref(atomic_exchange(&w->next, snapshot_ref(snap)));
	uv_async_send(&w->wake);
}

void worker_sweep(struct worker *w)
{
	atomic_store(&w->sweep_requested, true);
	uv_async_send(&w->wake);
}

void worker_backend_done(struct worker *w, struct backend_live *b)
{
	/* seq_cst, as the daemon's state store and active load: one of the
	 * two sides sees the other, so no drain stays undrained */
	if (atomic_fetch_sub(&b->active, 1) == 1 && atomic_load(&b->state) != BACKEND_READY)
		uv_async_send(&w->d->idle_async);
}

void worker_passive(struct worker *w, struct backend_live *live, bool ok, int fall,
		    const char *pool, const char *name, const char *why)
{
	if (!backend_passive(live, ok, fall, pool, name, why))
		return;
	for (int i = 0; i < w->cfg->workers; i++)	/* not to a worker told to stop */
		if (!atomic_load(&w->d->workers[i].stop_requested))
			worker_sweep(&w->d->workers[i]);
}

static void refused_closed_cb(uv_handle_t *h)
{
	free(h);
}

bool worker_admit(struct wlistener *wl)
{
	struct worker *w = wl->w;
	struct listener *l = wl->l;
	uv_tcp_t *t;

	if (atomic_fetch_add(&l->active, 1) < wl->cfg->max_connections && !w->stopping &&
	    fds_admit())
		return true;
	atomic_fetch_sub(&l->active, 1);
	atomic_fetch_add(&l->refused, 1);
	t = xmalloc(sizeof(*t));
	uv_tcp_init(&w->loop, t);
	if (uv_accept((uv_stream_t *)&wl->tcp, (uv_stream_t *)t) == 0 && !w->stopping &&
	    atomic_load(&l->active) >= wl->cfg->max_connections)
		log_warn("listener '%s' is at max_connections (%d); closing a new connection",
			 wl->cfg->name, wl->cfg->max_connections);
	uv_close((uv_handle_t *)t, refused_closed_cb);
	return false;
}

int worker_accept_client(struct wlistener *wl, struct client_link *link, uv_tcp_t *tcp,
			 char *peer, size_t peer_len)
{
	struct worker *w = wl->w;
	int r;

	link->l = listener_ref(wl->l);
	list_append(&w->clients, &link->node);
	w->nclients++;
	r = uv_accept((uv_stream_t *)&wl->tcp, (uv_stream_t *)tcp);
	if (r != 0)
		return r;
	atomic_fetch_add(&wl->l->accepted, 1);
	uv_tcp_nodelay(tcp, 1);
	worker_peer_address(tcp, peer, peer_len);
	return 0;
}

void worker_peer_address(uv_tcp_t *tcp, char *out, size_t n)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	snprintf(out, n, "-");
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)n);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)n);
}

bool worker_reclaim(struct worker *w, struct client_link *skip)
{
	uint64_t now = uv_now(&w->loop), best_rank = 0;
	struct client_link *best = NULL;
	struct list *pos;

	for (pos = w->clients.next; pos != &w->clients; pos = pos->next) {
		struct client_link *l = container_of(pos, struct client_link, node);
		uint64_t r;

		if (l == skip || !l->reclaim_rank)
			continue;
		r = l->reclaim_rank(l, now);
		if (r > best_rank) {
			best_rank = r;
			best = l;
		}
	}
	if (!best)
		return false;
	atomic_fetch_add(&best->l->reclaimed, 1);
	best->on_reclaim(best);
	return true;
}

/* The last client of a stopping worker is gone: nothing is left to wait
 * for, grace or not. */
void worker_client_gone(struct worker *w)
{
	w->nclients--;
	if (w->stopping && w->nclients == 0) {
		w->grace_over = true;
		uv_timer_stop(&w->stop_timer);
		worker_finish(w);
	}
}

static void worker_main(void *arg)
{
	struct worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	logbuf_flush(&w->access);
	daemon_worker_exited(w->d);
}

int worker_start(struct worker *w, struct daemon *d, struct snapshot *snap)
{
	const struct config *cfg = snap->cfg;
	unsigned per = cfg->max_buffers / (unsigned)cfg->workers;
	int r;

	w->d = d;
	list_init(&w->clients);
	list_init(&w->flushq);
	bufpool_init(&w->bufs, cfg->buffer_size, per);	/* config ensures per >= 16 */
	w->scratch = xmalloc(cfg->buffer_size);
	logbuf_init(&w->access, 64 * 1024);
	r = uv_loop_init(&w->loop);
	if (r < 0)
		return r;
	uv_async_init(&w->loop, &w->wake, wake_cb);
	uv_prepare_init(&w->loop, &w->flush);
	uv_timer_init(&w->loop, &w->stop_timer);
	w->wake.data = w->flush.data = w->stop_timer.data = w;
	uv_prepare_start(&w->flush, flush_cb);
	w->cur = gen_new(w, snapshot_ref(snap), NULL);
	w->cfg = cfg;
	sync_listeners(w);
	for (int i = 0; i < w->nlisteners; i++)
		if (!w->listeners[i])
			return UV_EBADF;
	atomic_store(&w->adopted, snap->gen);
	return uv_thread_create(&w->thread, worker_main, w);
}

void worker_stop(struct worker *w)
{
	atomic_store(&w->stop_requested, true);
	uv_async_send(&w->wake);
}

void worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
	/* Handles closed in worker_finish; let their callbacks run. */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w->loop) != 0)
		log_warn("worker %d: loop closed with handles still open", w->id);
	worker_gen_release(w, w->cur);
	w->cur = NULL;
	snapshot_unref(atomic_exchange(&w->next, NULL));
	free(w->listeners);
	logbuf_free(&w->access);
	bufpool_destroy(&w->bufs);
	free(w->scratch);
}
