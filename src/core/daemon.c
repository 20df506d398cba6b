/*
 * daemon.c - `nodown serve`: the control thread.
 *
 * Owns: the listening sockets, the worker threads, signals, the pid file,
 *       the shared backend counters and the admin API server.
 * Invariant: listening sockets are bound before any worker starts, so a
 *            config that cannot bind fails before serving anything; the
 *            config stays alive until every worker has been joined.
 * Runs on: the main thread, on its own libuv loop.
 *
 * Signals: SIGTERM and SIGINT start a graceful stop (a second one stops at
 * once); SIGHUP is logged and ignored until live reload arrives.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "state.h"

static int bind_listener(struct listener *l)
{
	const struct sockaddr_storage *ss = &l->cfg->addr;
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int one = 1, fd, r;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, l->cfg->backlog) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	l->fd = fd;
	return 0;
}

static int write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static void free_live(struct daemon *d)
{
	for (int i = 0; d->live && i < d->cfg->npools; i++)
		free(d->live[i]);
	free(d->live);
	d->live = NULL;
}

void daemon_set_backend(struct daemon *d, int p, int b, int state, int weight)
{
	struct backend_live *lv = &d->live[p][b];
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
	if (d->stop_signals > 0)
		return;		/* workers are stopping and close their pools anyway */
	for (int i = 0; i < d->cfg->workers; i++)
		worker_sweep(&d->workers[i]);
}

/* Every 250 ms: a draining backend with nothing in flight is drained. */
static void drain_timer_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	for (int p = 0; p < d->cfg->npools; p++) {
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++) {
			struct backend_live *lv = &d->live[p][b];
			int expect = BACKEND_DRAINING;

			if (STAT_GET(lv->active) != 0 ||
			    !atomic_compare_exchange_strong(&lv->state, &expect, BACKEND_DRAINED))
				continue;
			STAT_ADD(lv->transitions, 1);
			log_info("backend %s/%s: draining -> drained (nothing left in flight)",
				 d->cfg->pools[p].name, d->cfg->pools[p].backends[b].name);
			state_save(d);
		}
	}
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
	for (int i = 0; i < d->cfg->nlisteners; i++) {
		if (d->listeners[i].fd >= 0) {
			close(d->listeners[i].fd);
			d->listeners[i].fd = -1;
		}
	}
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		log_warn("SIGHUP received: live reload is not supported yet; restart to apply a new config");
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
	uv_close((uv_handle_t *)&d->drain_timer, NULL);
	proto_ops(PROTO_HTTP)->health_stop(d);
	admin_stop(&d->admin);	/* kept open until now, to watch the stop */
}

static int start(struct daemon *d)
{
	struct config *c = d->cfg;
	const char *why;
	char addr[64];
	int r;

	d->listeners = xcalloc((size_t)c->nlisteners, sizeof(struct listener));
	for (int i = 0; i < c->nlisteners; i++) {
		d->listeners[i].cfg = &c->listeners[i];
		d->listeners[i].fd = -1;
	}
	/* The admin API first: once a listener accepts, 'nodown status' works. */
	d->live = xcalloc((size_t)c->npools, sizeof(*d->live));
	for (int i = 0; i < c->npools; i++) {
		d->live[i] = xcalloc((size_t)c->pools[i].nbackends, sizeof(struct backend_live));
		for (int b = 0; b < c->pools[i].nbackends; b++)
			atomic_store(&d->live[i][b].weight, c->pools[i].backends[b].weight);
	}
	if (state_load(d) < 0)
		return -EINVAL;
	r = admin_start(&d->admin, d, d->loop, c->admin_socket, &why);
	if (r < 0) {
		log_error("admin socket %s: %s", c->admin_socket, why);
		return r;
	}
	if (c->admin_listen && (r = admin_listen_tcp(&d->admin, d->loop, &c->admin_addr,
						     c->admin_token)) < 0) {
		log_error("admin.listen %s: %s", c->admin_listen, uv_strerror(r));
		return r;
	}
	for (int i = 0; i < c->nlisteners; i++) {
		r = bind_listener(&d->listeners[i]);
		if (r < 0) {
			log_error("listener '%s': cannot listen on %s: %s%s", c->listeners[i].name,
				  c->listeners[i].bind, strerror(-r),
				  r == -EADDRINUSE ? " (another process holds this address; stop it or change 'bind')" : "");
			return r;
		}
	}
	if (c->pid_file && (r = write_pid_file(c->pid_file)) < 0) {
		log_error("cannot write pid_file %s: %s", c->pid_file, strerror(-r));
		return r;
	}
	d->workers = xcalloc((size_t)c->workers, sizeof(struct worker));
	atomic_store(&d->running, c->workers);
	for (int i = 0; i < c->workers; i++) {
		d->workers[i].id = i;
		r = worker_start(&d->workers[i], d, c, d->listeners);
		if (r < 0) {
			log_error("cannot start worker %d: %s", i, uv_strerror(r));
			_exit(1);	/* earlier workers are serving; no clean way back */
		}
	}
	for (int i = 0; i < c->nlisteners; i++) {
		config_format_address(&c->listeners[i].addr, addr, sizeof(addr));
		log_info("listener '%s' (%s) on %s -> pool '%s'", c->listeners[i].name, "http", addr,
			 c->listeners[i].pool_name);
	}
	proto_ops(PROTO_HTTP)->health_start(d);
	d->started_ms = uv_now(d->loop);
	log_info("nodown serving with %d worker(s), pid %d, admin API on %s%s%s", c->workers,
		 (int)getpid(), c->admin_socket, c->admin_listen ? " and (token required) " : "",
		 c->admin_listen ? c->admin_listen : "");
	return 0;
}

int daemon_run(struct config *cfg)
{
	struct daemon d = { .cfg = cfg };
	int r;

	signal(SIGPIPE, SIG_IGN);
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
	uv_timer_init(d.loop, &d.drain_timer);
	d.drain_timer.data = &d;
	uv_timer_start(&d.drain_timer, drain_timer_cb, 250, 250);
	d.sigterm.data = d.sigint.data = d.sighup.data = d.worker_done.data = &d;
	uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d.sigint, signal_cb, SIGINT);
	uv_signal_start(&d.sighup, signal_cb, SIGHUP);
	if (start(&d) < 0) {
		for (int i = 0; i < cfg->nlisteners; i++)
			if (d.listeners[i].fd >= 0)
				close(d.listeners[i].fd);
		admin_stop(&d.admin);
		free_live(&d);
		free(d.listeners);
		config_free(cfg);
		return 1;
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	for (int i = 0; i < cfg->workers; i++)
		worker_join(&d.workers[i]);
	uv_loop_close(d.loop);
	if (cfg->pid_file)
		unlink(cfg->pid_file);
	log_info("nodown stopped");
	log_close();
	free(d.workers);
	free(d.listeners);
	free_live(&d);
	config_free(cfg);
	return 0;
}
