/*
 * listener.h - a listening socket, shared by every worker.
 */
#ifndef ND_LISTENER_H
#define ND_LISTENER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"

struct listener {
	/* Control thread only: the config it was last published with (the
	 * workers read the listener_cfg of their own snapshot instead). */
	const struct listener_cfg *cfg;
	int fd;				/* the daemon's socket; -1 once retired */
	int *wfd;			/* [workers]: a dup each worker takes once; -1 when taken */
	int nworkers;
	atomic_int refs;		/* snapshots, worker handles and open clients */
	atomic_bool retired;		/* left the config: clients close after their exchange */
	atomic_int active;		/* open client connections, all workers */
	atomic_ullong accepted;
	atomic_ullong refused;		/* closed at once: max_connections reached */
	atomic_ullong reclaimed;	/* told to give up buffers for complete requests */
};

/*
 * Bind and listen as cfg says, with one dup of the socket per worker.
 * Returns the listener with one reference, or NULL with *err = -errno.
 * Control thread.
 */
struct listener *listener_open(const struct listener_cfg *cfg, int nworkers, int *err);

struct listener *listener_ref(struct listener *l);
/* Drop a reference (any thread); the last one closes what is left open. */
void listener_unref(struct listener *l);

/* Worker `id` takes its dup of the socket (once). */
int listener_take_fd(struct listener *l, int id);

/* The listener left the config, or the daemon stops: close the daemon's
 * socket so no worker takes a new dup; the workers close theirs. */
void listener_retire(struct listener *l);

#endif
