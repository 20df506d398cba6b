/*
 * listener.c - listening sockets.
 *
 * Owns: the socket bound for a listener and one dup of it per worker.
 * Invariant: the socket is bound once, by the control thread, before any
 *            worker may take it, so a config that cannot bind fails before
 *            serving anything; a reload that keeps a listener's address
 *            keeps its socket, so no connection is refused across it.
 * Runs on: the control thread, except listener_take_fd (the worker whose
 *          dup it is) and listener_unref (any thread).
 *
 * Every worker listens on its own dup of one kernel socket rather than on
 * an SO_REUSEPORT socket of its own: a connection is never stranded in the
 * queue of a worker that stopped accepting. The dups are made up front so
 * a worker adopting a snapshot never dups a socket the control thread may
 * be closing at that moment.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_socket(const struct listener_cfg *cfg)
{
	const struct sockaddr_storage *ss = &cfg->addr;
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int one = 1, fd, r;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, cfg->backlog) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void close_fds(struct listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	for (int i = 0; i < l->nworkers; i++) {
		if (l->wfd[i] >= 0)
			close(l->wfd[i]);
		l->wfd[i] = -1;
	}
}

struct listener *listener_open(const struct listener_cfg *cfg, int nworkers, int *err)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->cfg = cfg;
	l->nworkers = nworkers;
	l->wfd = xcalloc((size_t)nworkers, sizeof(int));
	for (int i = 0; i < nworkers; i++)
		l->wfd[i] = -1;
	atomic_store(&l->refs, 1);
	l->fd = bind_socket(cfg);
	for (int i = 0; l->fd >= 0 && i < nworkers; i++) {
		l->wfd[i] = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
		if (l->wfd[i] < 0) {
			*err = -errno;
			listener_unref(l);
			return NULL;
		}
	}
	if (l->fd < 0) {
		*err = l->fd;
		listener_unref(l);
		return NULL;
	}
	return l;
}

struct listener *listener_ref(struct listener *l)
{
	atomic_fetch_add(&l->refs, 1);
	return l;
}

void listener_unref(struct listener *l)
{
	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	close_fds(l);
	free(l->wfd);
	free(l);
}

int listener_take_fd(struct listener *l, int id)
{
	int fd = l->wfd[id];

	l->wfd[id] = -1;
	return fd;
}

void listener_retire(struct listener *l)
{
	atomic_store(&l->retired, true);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
