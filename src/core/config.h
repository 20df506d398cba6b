/*
 * config.h - the validated, immutable configuration a daemon runs on.
 */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"
#include "errlist.h"
#include "values.h"

struct proto_module;
struct probe_type;

struct backend_cfg {
	char *name;			/* owned; unique within its pool */
	char *address;			/* owned; as written, for logs */
	struct sockaddr_storage addr;	/* resolved at load time */
	int weight;			/* 1..1000 */
	int index;			/* position in pool->backends */
};

/* Active health check of every backend of a pool: the timing is the
 * core's, what one check does is its probe's (core/health.h). */
struct health_cfg {
	const struct probe_type *probe;	/* tcp, http, pg...: what a check does */
	void *probe_cfg;		/* owned: the probe's settings */
	uint64_t interval_ms;		/* between the end of a check and the next */
	uint64_t timeout_ms;		/* one check, connect included */
	uint64_t jitter_ms;		/* random extra delay up to this, per check */
	int rise;			/* consecutive successes to come back up */
	int fall;			/* consecutive failures to go down */
};

struct pool_cfg {
	char *name;			/* owned; unique */
	const struct proto_module *proto;	/* what it speaks */
	void *pcfg;			/* owned: the protocol's settings of the pool */
	struct backend_cfg *backends;	/* owned array */
	int nbackends;
	uint64_t connect_timeout_ms;	/* TCP connect to a backend */
	uint64_t idle_timeout_ms;	/* a pooled connection idle longer is closed, never reused */
	struct health_cfg health;
	int index;			/* position in config->pools */
	int line;			/* where it was defined, for messages */
};

struct listener_cfg {
	char *name;			/* owned; unique */
	const struct proto_module *proto;	/* what it speaks */
	void *pcfg;			/* owned: the protocol's settings of the listener */
	char *bind;			/* owned; as written */
	struct sockaddr_storage addr;
	char *pool_name;		/* owned */
	struct pool_cfg *pool;		/* borrowed from config->pools */
	int backlog;
	int max_connections;		/* per listener, all workers together */
	int index;
};

struct config {
	char *path;			/* owned; the file it came from */
	int workers;
	char *admin_socket;		/* owned */
	char *admin_listen;		/* owned; optional TCP address of the admin API */
	struct sockaddr_storage admin_addr;
	char *admin_token;		/* owned; bearer token required on admin_listen */
	char *status_bind;		/* owned; optional TCP address of the read-only status page */
	struct sockaddr_storage status_addr;
	int admin_max_connections;	/* per admin socket */
	uint64_t admin_timeout_ms;	/* an admin connection's whole life */
	char *pid_file;			/* owned; NULL = none */
	char *state_file;		/* owned; operator state kept across restarts */
	char *runs_dir;			/* owned; plan run logs */
	uint64_t shutdown_timeout_ms;	/* hard bound on a graceful stop */
	uint64_t shutdown_idle_grace_ms;	/* idle keep-alive clients kept this long at stop */
	char *access_log;		/* owned; "stderr", "off" or a path */
	char *error_log;		/* owned; "stderr" or a path */
	size_t buffer_size;		/* bytes per I/O buffer */
	unsigned max_buffers;		/* buffers for the whole process */
	struct listener_cfg *listeners;	/* owned array */
	int nlisteners;
	struct pool_cfg *pools;		/* owned array */
	int npools;
};

/*
 * Load and validate the YAML file at path. On success returns 0 and sets
 * *out (free with config_free). On failure returns -EINVAL (or -errno if
 * the file cannot be read) and appends every problem found to errs; *out
 * is left NULL. Never prints. Control thread only (resolves names).
 */
int config_load(const char *path, struct config **out, struct errlist *errs) ND_MUST_CHECK;

/* Same, from a string; `name` is used in messages. For tests and fuzzing. */
int config_load_string(const char *name, const char *yaml, size_t len,
		       struct config **out, struct errlist *errs) ND_MUST_CHECK;

void config_free(struct config *c);

/* The pool called name, or NULL. */
const struct pool_cfg *config_pool(const struct config *c, const char *name);

/* The backend called name of pool p (NULL: none), or NULL. */
const struct backend_cfg *config_backend(const struct pool_cfg *p, const char *name);

/*
 * Reload check: append an error to errs for each setting that differs
 * between old and new but can change only at restart (workers, buffers,
 * admin, pid/state files, logs). Returns 0 if none, else -EINVAL.
 */
int config_restart_only(const struct config *old, const struct config *new,
			struct errlist *errs) ND_MUST_CHECK;

#endif
