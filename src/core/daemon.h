/*
 * daemon.h - `nodown serve`: the control thread.
 */
#ifndef ND_DAEMON_H
#define ND_DAEMON_H

#include <uv.h>

#include "admin.h"
#include "config.h"
#include "backend.h"
#include "worker.h"

struct hcheck;

struct daemon {
	struct config *cfg;		/* owned */
	uv_loop_t *loop;		/* the control thread's loop */
	uv_signal_t sigterm, sigint, sighup;
	uv_async_t worker_done;		/* worker -> daemon: "I have exited" */
	struct listener *listeners;	/* owned, cfg->nlisteners */
	struct worker *workers;		/* owned, cfg->workers */
	atomic_int running;		/* workers still running */
	int stop_signals;		/* SIGTERM/SIGINT received */
	struct backend_live **live;	/* owned: [pool][backend], shared with workers */
	struct admin admin;		/* the admin API server */
	uint64_t started_ms;		/* when serving began */
	uv_timer_t drain_timer;		/* notices draining backends becoming drained */
	struct hcheck **checks;		/* owned by http/health.c: one per backend */
	int nchecks;
};

/*
 * Operator action on backend b of pool p (control thread): set its state,
 * and/or its weight if weight >= 0. Logs the transition, makes every worker
 * drop pooled connections the backend may no longer use.
 */
void daemon_set_backend(struct daemon *d, int p, int b, int state, int weight);

/* Run the daemon on a loaded config until it is stopped. Returns the
 * process exit code. Takes ownership of cfg. */
int daemon_run(struct config *cfg);

/* Called by a worker thread as it exits. */
void daemon_worker_exited(struct daemon *d);

#endif
