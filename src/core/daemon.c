/*
 * daemon.c - `nodown serve`: the control thread.
 *
 * Owns: the current snapshot (config, listening sockets, backend live
 *       state), the worker threads, signals, the pid file and the admin API
 *       server.
 * Invariant: a snapshot's sockets are bound before any worker is given it,
 *            so a config that cannot bind fails (or its reload is refused)
 *            before serving anything; a reload changes nothing unless the
 *            whole new config is valid and bound.
 * Runs on: the main thread, on its own libuv loop.
 *
 * Signals: SIGTERM and SIGINT start a graceful stop (a second one stops at
 * once); SIGHUP reloads the config file (errors go to the log).
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fds.h"
#include "health.h"
#include "file.h"
#include "log.h"
#include "op.h"
#include "proto.h"
#include "state.h"

/* The pid file is replaced atomically (never written through a link). */
static int write_pid_file(const char *path)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	return file_write_atomic(path, buf, (size_t)n, 0644);
}

static void check_drained(struct daemon *d);

void daemon_set_backend(struct daemon *d, int p, int b, int state, int weight)
{
	struct backend_live *lv = d->live[p][b];
	const struct pool_cfg *pc = &d->cfg->pools[p];
	int old = atomic_load(&lv->state), oldw = atomic_load(&lv->weight);

	if (state == BACKEND_DRAINING && old == BACKEND_DRAINED)
		state = BACKEND_DRAINED;	/* already drained: stays drained */
	if (state >= 0 && state != old) {
		atomic_store(&lv->state, state);
		STAT_ADD(lv->transitions, 1);
		if (state == BACKEND_READY)
			atomic_store(&lv->usable_since_ms, nd_now_ms());	/* slow start */
		log_info("backend %s/%s: %s -> %s (operator)", pc->name, pc->backends[b].name,
			 backend_op_state_name(old), backend_op_state_name(state));
	}
	if (weight >= 0 && weight != oldw) {
		atomic_store(&lv->weight, weight);
		log_info("backend %s/%s: weight %d -> %d (operator)", pc->name, pc->backends[b].name,
			 oldw, weight);
	}
	atomic_store(&lv->by_operator, atomic_load(&lv->state) != BACKEND_READY ||
				       atomic_load(&lv->weight) != pc->backends[b].weight);
	state_save(d);
	check_drained(d);	/* nothing in flight: drained at once */
	if (d->stop_signals > 0)
		return;		/* workers are stopping and close their pools anyway */
	daemon_sweep(d);
}

void daemon_sweep(struct daemon *d)
{
	for (int i = 0; i < d->cfg->workers; i++)
		worker_sweep(&d->workers[i]);
}

void daemon_set_backend_named(struct daemon *d, const char *pool, const char *backend, int state,
			      int weight)
{
	const struct pool_cfg *pc = config_pool(d->cfg, pool);
	const struct backend_cfg *bc = config_backend(pc, backend);

	if (bc)
		daemon_set_backend(d, pc->index, bc->index, state, weight);
	else
		log_warn("backend %s/%s is no longer in the config; its state is left as it is", pool, backend);
}

/* A draining backend with nothing in flight is drained: checked when a
 * worker's last request on a backend out of rotation ends, and when an
 * operator drains. Long polls for an idle backend are answered. */
static void check_drained(struct daemon *d)
{
	for (int p = 0; p < d->cfg->npools; p++) {
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++) {
			struct backend_live *lv = d->live[p][b];
			int expect = BACKEND_DRAINING;

			if (atomic_load(&lv->active) != 0 ||
			    !atomic_compare_exchange_strong(&lv->state, &expect, BACKEND_DRAINED))
				continue;
			STAT_ADD(lv->transitions, 1);
			log_info("backend %s/%s: draining -> drained (nothing left in flight)",
				 d->cfg->pools[p].name, d->cfg->pools[p].backends[b].name);
			state_save(d);
		}
	}
	admin_wait_kick(&d->idle_waits);
}

static void idle_async_cb(uv_async_t *a)
{
	check_drained(a->data);
}

void daemon_worker_exited(struct daemon *d)
{
	atomic_fetch_sub(&d->running, 1);
	uv_async_send(&d->worker_done);
}

static void stop_all(struct daemon *d)
{
	for (int i = 0; i < d->cfg->workers; i++)
		worker_stop(&d->workers[i]);
	/* Workers hold their own dups; closing ours lets the kernel drop the
	 * socket as soon as the last worker lets go of it. */
	for (int i = 0; i < d->cfg->nlisteners; i++)
		listener_retire(d->snap->listeners[i]);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		struct errlist errs = { 0 };
		char summary[512];

		log_info("SIGHUP received: reloading %s", d->cfg->path);
		ND_UNUSED(daemon_reload(d, &errs, summary, sizeof(summary)));	/* it logs */
		errlist_free(&errs);
		return;
	}
	if (++d->stop_signals == 1) {
		log_info("%s received: graceful stop (in-flight requests finish; shutdown_timeout %llums)",
			 signum == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)d->cfg->shutdown_timeout_ms);
		stop_all(d);
	} else {
		log_warn("second %s received: stopping now", signum == SIGINT ? "SIGINT" : "SIGTERM");
		_exit(1);
	}
}

static void worker_done_cb(uv_async_t *a)
{
	struct daemon *d = a->data;

	if (atomic_load(&d->running) > 0)
		return;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->worker_done, NULL);
	uv_close((uv_handle_t *)&d->idle_async, NULL);
	admin_wait_drop(&d->idle_waits);
	health_stop(d);
	op_stop_all(d);
	admin_stop(&d->admin);	/* kept open until now, to watch the stop */
}

/* ---- snapshots ------------------------------------------------------------ */

/* The listener of snapshot cur (may be NULL) bound to addr, or NULL. */
static struct listener *listener_at(const struct snapshot *cur, const struct sockaddr_storage *addr)
{
	for (int i = 0; cur && i < cur->cfg->nlisteners; i++)
		if (config_same_address(&cur->cfg->listeners[i].addr, addr))
			return cur->listeners[i];
	return NULL;
}

/* Give s a socket for each of its listeners: cur's at the same address (so
 * a reload refuses no connection), or a newly bound one. */
static int bind_listeners(const struct snapshot *cur, struct snapshot *s, struct errlist *errs)
{
	const struct config *c = s->cfg;

	for (int i = 0; i < c->nlisteners; i++) {
		const struct listener_cfg *lc = &c->listeners[i];
		struct listener *l = listener_at(cur, &lc->addr);
		int err = 0;

		if (l) {
			s->listeners[i] = listener_ref(l);
			if (l->fd >= 0 && lc->backlog != l->cfg->backlog)
				listen(l->fd, lc->backlog);	/* the same socket: new backlog */
			continue;
		}
		s->listeners[i] = listener_open(lc, c->workers, &err);
		if (!s->listeners[i]) {
			errlist_add(errs, c->path, 0, 0, "listener '%s': cannot listen on %s: %s%s",
				    lc->name, lc->bind, strerror(-err),
				    err == -EADDRINUSE ? " (another process or listener holds this "
							 "address; stop it or change 'bind')" : "");
			return -1;
		}
	}
	return 0;
}

/* The backend of the current snapshot that bc of pool pc is: same pool
 * name, backend name and address. NULL if it is new. */
static const struct backend_cfg *same_backend(struct daemon *d, const struct pool_cfg *pc,
					      const struct backend_cfg *bc, struct backend_live **lv)
{
	for (int p = 0; d->snap && p < d->cfg->npools; p++) {
		const struct pool_cfg *op = &d->cfg->pools[p];

		if (strcmp(op->name, pc->name) || op->proto != pc->proto)
			continue;	/* a pool that changed protocol starts afresh */
		for (int b = 0; b < op->nbackends; b++) {
			if (!strcmp(op->backends[b].name, bc->name) &&
			    config_same_address(&op->backends[b].addr, &bc->addr)) {
				*lv = d->live[p][b];
				return &op->backends[b];
			}
		}
	}
	return NULL;
}

/* Give s a live state per pool and backend: the current one for those
 * that stay (state, health and counters go on), a fresh one for new ones.
 * A weight changed in the file applies unless an operator changed it.
 * Counts kept backends in *kept. */
static void carry_live(struct daemon *d, struct snapshot *s, int *kept)
{
	const struct config *c = s->cfg;

	*kept = 0;
	for (int p = 0; p < c->npools; p++) {
		struct pool_live *pl = NULL;

		for (int q = 0; d->snap && q < d->cfg->npools && !pl; q++)
			if (!strcmp(d->cfg->pools[q].name, c->pools[p].name) &&
			    d->cfg->pools[q].proto == c->pools[p].proto)
				pl = pool_live_ref(d->snap->pools[q]);
		s->pools[p] = pl ? pl : pool_live_new(c->pools[p].proto->pool_live_size);
		for (int b = 0; b < c->pools[p].nbackends; b++) {
			const struct backend_cfg *bc = &c->pools[p].backends[b], *old;
			struct backend_live *lv = NULL;

			old = same_backend(d, &c->pools[p], bc, &lv);
			if (!old) {
				s->live[p][b] = backend_live_new(bc->weight,
								 c->pools[p].proto->backend_live_size);
				continue;
			}
			s->live[p][b] = backend_live_ref(lv);
			++*kept;
			if (atomic_load(&lv->weight) == old->weight)
				atomic_store(&lv->weight, bc->weight);
			atomic_store(&lv->by_operator, atomic_load(&lv->state) != BACKEND_READY ||
						       atomic_load(&lv->weight) != bc->weight);
		}
	}
}

static bool in_snapshot(const struct snapshot *s, const void *live_or_listener)
{
	for (int i = 0; i < s->cfg->nlisteners; i++)
		if ((const void *)s->listeners[i] == live_or_listener)
			return true;
	for (int p = 0; p < s->cfg->npools; p++)
		for (int b = 0; b < s->cfg->pools[p].nbackends; b++)
			if ((const void *)s->live[p][b] == live_or_listener)
				return true;
	return false;
}

/* What leaves with the old snapshot: its backends drain (requests in
 * flight on them finish), its listeners close. Returns the count of each. */
static void retire(const struct snapshot *old, const struct snapshot *s, int *gone_be, int *gone_l)
{
	*gone_be = *gone_l = 0;
	for (int p = 0; p < old->cfg->npools; p++) {
		for (int b = 0; b < old->cfg->pools[p].nbackends; b++) {
			struct backend_live *lv = old->live[p][b];
			int ready = BACKEND_READY;

			if (in_snapshot(s, lv))
				continue;
			++*gone_be;
			atomic_compare_exchange_strong(&lv->state, &ready, BACKEND_DRAINING);
			log_info("backend %s/%s: removed from the config; requests in flight on it finish",
				 old->cfg->pools[p].name, old->cfg->pools[p].backends[b].name);
		}
	}
	for (int i = 0; i < old->cfg->nlisteners; i++) {
		if (in_snapshot(s, old->listeners[i]))
			continue;
		++*gone_l;
		listener_retire(old->listeners[i]);
		log_info("listener '%s' (%s): removed from the config; closed to new connections",
			 old->cfg->listeners[i].name, old->cfg->listeners[i].bind);
	}
}

/* Make s the current snapshot. Its bound listeners now describe
 * themselves by s's config (at start, install runs before binding too). */
static void install(struct daemon *d, struct snapshot *s)
{
	d->snap = s;
	d->cfg = s->cfg;
	d->live = s->live;
	for (int i = 0; i < s->cfg->nlisteners; i++)
		if (s->listeners[i])
			s->listeners[i]->cfg = &s->cfg->listeners[i];
}

static int reload(struct daemon *d, struct errlist *errs, char *summary, size_t n);

int daemon_reload(struct daemon *d, struct errlist *errs, char *summary, size_t n)
{
	int nerr = errs->n, nwarn = errs->nwarn;
	int r = reload(d, errs, summary, n);

	for (int i = nwarn; i < errs->nwarn; i++)
		log_warn("reload: %s", errs->warns[i]);
	if (r == 0)
		return 0;
	d->reloads[0]++;
	for (int i = nerr; i < errs->n; i++)
		log_error("reload refused: %s", errs->msgs[i]);
	return -1;
}

static int reload(struct daemon *d, struct errlist *errs, char *summary, size_t n)
{
	struct snapshot *old = d->snap, *s;
	struct config *cfg;
	int kept, gone_be, gone_l, nbe = 0, nl_new = 0;

	if (d->stop_signals > 0) {
		errlist_add(errs, d->cfg->path, 0, 0, "nodown is stopping; nothing to reload");
		return -1;
	}
	if (config_load(d->cfg->path, &cfg, errs) < 0) {
		return -1;
	}
	if (config_restart_only(d->cfg, cfg, errs) < 0 || op_reload_blocked(d, cfg, errs)) {
		config_free(cfg);
		return -1;
	}
	s = snapshot_new(cfg, old->gen + 1);
	if (bind_listeners(old, s, errs) < 0) {
		snapshot_unref(s);
		return -1;
	}
	for (int i = 0; i < cfg->nlisteners; i++)
		nl_new += !in_snapshot(old, s->listeners[i]);
	carry_live(d, s, &kept);
	retire(old, s, &gone_be, &gone_l);
	install(d, s);
	for (int i = 0; i < cfg->workers; i++)
		worker_publish(&d->workers[i], s);
	health_apply(d);	/* ends the old checks on the old config: before it may go */
	snapshot_unref(old);	/* workers may have let go of it already */
	check_drained(d);	/* draining with nothing in flight: drained */
	state_save(d);
	for (int p = 0; p < cfg->npools; p++)
		nbe += cfg->pools[p].nbackends;
	d->reloads[1]++;
	snprintf(summary, n, "generation %u: %d listener(s) (%d new, %d removed), %d pool(s), "
		 "%d backend(s) (%d kept with their state, %d new, %d removed)", s->gen,
		 cfg->nlisteners, nl_new, gone_l, cfg->npools, nbe, kept, nbe - kept, gone_be);
	log_info("config reloaded from %s: %s", cfg->path, summary);
	return 0;
}

static int start(struct daemon *d, struct config *c)
{
	struct snapshot *s = snapshot_new(c, 1);
	struct errlist errs = { 0 };
	const char *why;
	char addr[64];
	int r;

	for (int p = 0; p < c->npools; p++) {
		s->pools[p] = pool_live_new(c->pools[p].proto->pool_live_size);
		for (int b = 0; b < c->pools[p].nbackends; b++)
			s->live[p][b] = backend_live_new(c->pools[p].backends[b].weight,
							 c->pools[p].proto->backend_live_size);
	}
	install(d, s);
	if (state_load(d) < 0)
		return -EINVAL;
	/* The admin API first: once a listener accepts, 'nodown status' works. */
	r = admin_start(&d->admin, d, d->loop, c->admin_socket, c, &why);
	if (r < 0) {
		log_error("admin socket %s: %s", c->admin_socket, why);
		return r;
	}
	if (c->admin_listen && (r = admin_listen_tcp(&d->admin, d->loop, &c->admin_addr,
						     c->admin_token)) < 0) {
		log_error("admin.listen %s: %s", c->admin_listen, uv_strerror(r));
		return r;
	}
	if (c->status_bind && (r = admin_listen_status(&d->admin, d->loop, &c->status_addr)) < 0) {
		log_error("status.bind %s: %s", c->status_bind, uv_strerror(r));
		return r;
	}
	r = bind_listeners(NULL, s, &errs);
	for (int i = 0; i < errs.n; i++)
		log_error("%s", errs.msgs[i]);
	errlist_free(&errs);
	if (r < 0)
		return -EADDRINUSE;
	install(d, s);
	if (c->pid_file && (r = write_pid_file(c->pid_file)) < 0) {
		log_error("cannot write pid_file %s: %s", c->pid_file, strerror(-r));
		return r;
	}
	d->workers = xcalloc((size_t)c->workers, sizeof(struct worker));
	atomic_store(&d->running, c->workers);
	for (int i = 0; i < c->workers; i++) {
		d->workers[i].id = i;
		r = worker_start(&d->workers[i], d, s);
		if (r < 0) {
			log_error("cannot start worker %d: %s", i, uv_strerror(r));
			_exit(1);	/* earlier workers are serving; no clean way back */
		}
	}
	for (int i = 0; i < c->nlisteners; i++) {
		config_format_address(&c->listeners[i].addr, addr, sizeof(addr));
		log_info("listener '%s' (%s) on %s -> pool '%s'", c->listeners[i].name,
			 c->listeners[i].proto->name, addr,
			 c->listeners[i].pool_name);
	}
	health_apply(d);
	check_drained(d);	/* draining in the state file, nothing in flight */
	d->started_ms = uv_now(d->loop);
	log_info("nodown serving with %d worker(s), pid %d, %ld file descriptors, admin API on %s%s%s",
		 c->workers, (int)getpid(), d->nofile, c->admin_socket,
		 c->admin_listen ? " and (token required) " : "", c->admin_listen ? c->admin_listen : "");
	return 0;
}

int daemon_run(struct config *cfg)
{
	struct daemon d = { 0 };
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* Keys and nonces come from the kernel's random source only. */
	if ((r = uv_random(NULL, NULL, &d.nofile, sizeof(d.nofile), 0, NULL)) != 0) {
		fprintf(stderr, "nodown: the system's random source (getrandom, /dev/urandom) is "
			"not available: %s; nodown needs it for cancel keys and authentication\n",
			uv_strerror(r));
		config_free(cfg);
		return 1;
	}
	d.nofile = fds_init();
	r = log_open(cfg->error_log, cfg->access_log);
	if (r < 0) {
		fprintf(stderr, "nodown: cannot open log file: %s\n", strerror(-r));
		config_free(cfg);
		return 1;
	}
	d.loop = uv_default_loop();
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	uv_signal_init(d.loop, &d.sighup);
	uv_async_init(d.loop, &d.worker_done, worker_done_cb);
	uv_async_init(d.loop, &d.idle_async, idle_async_cb);
	d.idle_async.data = &d;
	list_init(&d.idle_waits);
	d.sigterm.data = d.sigint.data = d.sighup.data = d.worker_done.data = &d;
	uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d.sigint, signal_cb, SIGINT);
	uv_signal_start(&d.sighup, signal_cb, SIGHUP);
	if (start(&d, cfg) < 0) {
		admin_stop(&d.admin);
		snapshot_unref(d.snap);
		return 1;
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	for (int i = 0; i < d.cfg->workers; i++)
		worker_join(&d.workers[i]);
	uv_loop_close(d.loop);
	if (d.cfg->pid_file)
		unlink(d.cfg->pid_file);
	log_info("nodown stopped");
	log_close();
	fds_close();
	free(d.workers);
	snapshot_unref(d.snap);
	return 0;
}
