/*
 * worker.c - a worker thread and its event loop.
 *
 * Owns: the loop, the worker's handles on each listener, its buffer pool,
 *       its access-log buffer, and the order of a graceful stop.
 * Invariant: every connection accepted on this loop lives and dies on it;
 *            the config it reads is immutable while it runs.
 * Runs on: its own thread; worker_start/worker_stop/worker_join are called
 *          from the control thread and touch only the async handle and
 *          atomics.
 *
 * Stop order: close the listeners (no new connections here), tell every
 * client STOP_BEGIN (its next response says Connection: close), after
 * shutdown_idle_grace close the idle ones (STOP_GRACE_OVER), and at
 * shutdown_timeout close the rest (STOP_DEADLINE). The loop ends when the
 * last handle is closed.
 */
#include "worker.h"

#include <errno.h>
#include <unistd.h>

#include "daemon.h"
#include "proto.h"

static void listener_connection_cb(uv_stream_t *s, int status)
{
	struct wlistener *wl = s->data;

	if (status < 0) {
		log_warn("accept on listener '%s' failed: %s", wl->l->cfg->name, uv_strerror(status));
		return;
	}
	proto_ops(wl->l->cfg->protocol)->accept(wl);
}

static int open_listeners(struct worker *w, struct listener *ls)
{
	w->listeners = xcalloc((size_t)w->cfg->nlisteners, sizeof(struct wlistener));
	for (int i = 0; i < w->cfg->nlisteners; i++) {
		struct wlistener *wl = &w->listeners[i];
		int fd = dup(ls[i].fd), r;

		wl->l = &ls[i];
		wl->w = w;
		if (fd < 0)
			return -errno;
		uv_tcp_init(&w->loop, &wl->tcp);
		wl->tcp.data = wl;
		wl->open = true;
		r = uv_tcp_open(&wl->tcp, fd);
		if (r == 0)
			r = uv_listen((uv_stream_t *)&wl->tcp, ls[i].cfg->backlog, listener_connection_cb);
		if (r < 0)
			return r;
	}
	return 0;
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

static void flush_cb(uv_prepare_t *p)
{
	struct worker *w = p->data;

	logbuf_flush(&w->access);
}

static void announce(struct worker *w, enum stop_phase phase)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &w->clients) {
		struct client_link *l = container_of(pos, struct client_link, node);

		l->on_stop(l, phase);
	}
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
	proto_ops(PROTO_HTTP)->worker_close(w);
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
	for (int i = 0; i < w->cfg->nlisteners; i++) {
		if (w->listeners[i].open) {
			w->listeners[i].open = false;
			uv_close((uv_handle_t *)&w->listeners[i].tcp, NULL);
		}
	}
	announce(w, STOP_BEGIN);
	if (w->nclients == 0) {
		w->grace_over = true;	/* nobody to wait for */
		worker_finish(w);
		return;
	}
	uv_timer_start(&w->stop_timer, stop_timer_cb, w->cfg->shutdown_idle_grace_ms, 0);
}

static void wake_cb(uv_async_t *a)
{
	struct worker *w = a->data;

	if (atomic_exchange(&w->sweep_requested, false))
		proto_ops(PROTO_HTTP)->worker_sweep(w);
	if (atomic_load(&w->stop_requested))
		begin_stop(w);
}

void worker_sweep(struct worker *w)
{
	atomic_store(&w->sweep_requested, true);
	uv_async_send(&w->wake);
}

void worker_client_gone(struct worker *w)
{
	w->nclients--;
	if (w->stopping && w->grace_over && w->nclients == 0)
		worker_finish(w);
}

static void worker_main(void *arg)
{
	struct worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	logbuf_flush(&w->access);
	daemon_worker_exited(w->d);
}

int worker_start(struct worker *w, struct daemon *d, const struct config *cfg,
		 struct listener *listeners)
{
	unsigned per = cfg->max_buffers / (unsigned)cfg->workers;
	int r;

	w->d = d;
	w->cfg = cfg;
	list_init(&w->clients);
	bufpool_init(&w->bufs, cfg->buffer_size, per);	/* config ensures per >= 16 */
	logbuf_init(&w->access, 64 * 1024);
	r = uv_loop_init(&w->loop);
	if (r < 0)
		return r;
	uv_async_init(&w->loop, &w->wake, wake_cb);
	uv_prepare_init(&w->loop, &w->flush);
	uv_timer_init(&w->loop, &w->stop_timer);
	w->wake.data = w->flush.data = w->stop_timer.data = w;
	uv_prepare_start(&w->flush, flush_cb);
	proto_ops(PROTO_HTTP)->worker_init(w);
	r = open_listeners(w, listeners);
	if (r < 0)
		return r;
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
	proto_ops(PROTO_HTTP)->worker_free(w);
	free(w->listeners);
	logbuf_free(&w->access);
	bufpool_destroy(&w->bufs);
}
