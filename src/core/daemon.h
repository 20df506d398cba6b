/*
 * daemon.h - `nodown serve`: the control thread.
 */
#ifndef ND_DAEMON_H
#define ND_DAEMON_H

#include <uv.h>

#include "admin.h"
#include "config.h"
#include "backend.h"
#include "snapshot.h"
#include "worker.h"

struct hcheck;
struct op;

struct daemon {
	struct snapshot *snap;		/* what is served now; one reference */
	struct config *cfg;		/* snap->cfg */
	struct backend_live ***live;	/* snap->live: [pool][backend] */
	uv_loop_t *loop;		/* the control thread's loop */
	uv_signal_t sigterm, sigint, sighup;
	uv_async_t worker_done;		/* worker -> daemon: "I have exited" */
	struct worker *workers;		/* owned, cfg->workers */
	atomic_int running;		/* workers still running */
	int stop_signals;		/* SIGTERM/SIGINT received */
	unsigned long long reloads[2];	/* reloads applied [1] and refused [0] */
	struct admin admin;		/* the admin API server */
	uint64_t started_ms;		/* when serving began */
	long nofile;			/* the descriptor limit (raised to the hard one) */
	uv_async_t idle_async;		/* worker -> daemon: a backend out of rotation has nothing in flight */
	struct list idle_waits;		/* admin long polls for a backend to be idle */
	struct hcheck **checks;		/* owned by core/health.c: one per backend */
	int nchecks;
	struct op *ops;			/* owned by core/op.c: running or last, per kind and pool */
};

/*
 * Operator action on backend b of pool p (control thread): set its state,
 * and/or its weight if weight >= 0. Logs the transition, makes every worker
 * drop pooled connections the backend may no longer use.
 */
void daemon_set_backend(struct daemon *d, int p, int b, int state, int weight);

/* Backend states or roles changed: every worker reacts (control thread). */
void daemon_sweep(struct daemon *d);

/* The same for the backend called `backend` of the pool called `pool` in
 * the current config (an operation that outlives reloads knows names);
 * logged and ignored if the config no longer has it. */
void daemon_set_backend_named(struct daemon *d, const char *pool, const char *backend, int state,
			      int weight);

/*
 * Re-read the config file and serve it (SIGHUP, POST /reload; control
 * thread). Returns 0 with a one-line summary of what changed in `summary`,
 * or -1 with errs saying why nothing changed.
 */
int daemon_reload(struct daemon *d, struct errlist *errs, char *summary, size_t n);

/* Run the daemon on a loaded config until it is stopped. Returns the
 * process exit code. Takes ownership of cfg. */
int daemon_run(struct config *cfg);

/* Called by a worker thread as it exits. */
void daemon_worker_exited(struct daemon *d);

#endif
