/*
 * config.h - the validated, immutable configuration a daemon runs on.
 */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"

enum nd_proto { PROTO_HTTP, PROTO_PG };
enum nd_balance { BALANCE_ROUND_ROBIN, BALANCE_LEAST_CONN };
/* What a request field name with '_' becomes (nginx drops them: some
 * servers read X_Forwarded_For as X-Forwarded-For). */
enum underscores { UNDERSCORES_DROP, UNDERSCORES_PASS, UNDERSCORES_REFUSE };

struct backend_cfg {
	char *name;			/* owned; unique within its pool */
	char *address;			/* owned; as written, for logs */
	struct sockaddr_storage addr;	/* resolved at load time */
	int weight;			/* 1..1000 */
	int index;			/* position in pool->backends */
};

enum health_type { HEALTH_TCP, HEALTH_HTTP, HEALTH_PG };

/* Active health check of every backend of a pool. */
struct health_cfg {
	enum health_type type;		/* tcp: connect only; http: a request; pg: SELECT pg_is_in_recovery() */
	bool typed;			/* type given (or implied by path) in the config */
	char *path;			/* owned; http: request target */
	char *method;			/* owned; http: GET by default */
	char *host;			/* owned; http: Host header; NULL = backend address */
	int expect_min, expect_max;	/* http: accepted status range */
	uint64_t interval_ms;		/* between the end of a check and the next */
	uint64_t timeout_ms;		/* one check, connect included */
	uint64_t jitter_ms;		/* random extra delay up to this, per check */
	int rise;			/* consecutive successes to come back up */
	int fall;			/* consecutive failures to go down */
};

enum pg_pool_mode { PG_POOL_TRANSACTION, PG_POOL_SESSION };
enum pg_auth_type { PG_CLIENT_AUTH_SCRAM, PG_CLIENT_AUTH_MD5, PG_CLIENT_AUTH_TRUST };

struct pg_authfile;

/* How a PostgreSQL server may ask nodown to prove who it logs in as. */
enum pg_server_auth {
	PG_SERVER_AUTH_TRUST = 1,	/* nothing asked */
	PG_SERVER_AUTH_PASSWORD = 2,	/* the password in clear */
	PG_SERVER_AUTH_MD5 = 4,
	PG_SERVER_AUTH_SCRAM = 8,	/* SCRAM-SHA-256, the server's signature checked */
};

/* Settings of a pool of protocol pg. */
struct pg_pool_cfg {
	enum pg_pool_mode pool_mode;	/* when a server connection goes back to the pool */
	int pool_size;			/* server connections per (user, database), all workers */
	char *auth_file;		/* owned; "user" "secret" lines (PgBouncer's format) */
	struct pg_authfile *auth;	/* owned: auth_file, loaded with the config */
	enum pg_auth_type auth_type;	/* how clients prove who they are to nodown */
	char *monitor_user;		/* owned; health checks, promotion */
	char *monitor_database;		/* owned; default "postgres" */
	uint64_t query_wait_timeout_ms;	/* a client queued for a server connection this long fails */
	uint64_t pause_timeout_ms;	/* switchover: in-flight transactions must end within this */
	uint64_t promote_timeout_ms;	/* switchover: fence + promotion must finish within this */
	uint64_t failover_hold_ms;	/* primary lost: new transactions wait this long for a new one */
	char *fence_command;		/* owned; run on the old primary before promotion; NULL = none */
	char *promote_command;		/* owned; NULL = SELECT pg_promote() */
	int max_prepared_statements;	/* named statements per client, and kept per server */
	unsigned server_auth;		/* enum pg_server_auth bits a server may ask for */
};

struct pool_cfg {
	char *name;			/* owned; unique */
	enum nd_proto protocol;
	enum nd_balance balance;
	struct backend_cfg *backends;	/* owned array */
	int nbackends;
	uint64_t connect_timeout_ms;	/* TCP connect to a backend */
	uint64_t response_timeout_ms;	/* backend silent while a response is due */
	uint64_t idle_timeout_ms;	/* a pooled connection idle longer is closed, never reused */
	int max_idle;			/* idle connections kept per backend per worker */
	int retries;			/* other backends tried after a failed connect */
	struct health_cfg health;
	uint64_t drain_tunnel_timeout_ms;	/* tunnels to a backend out of rotation close after this */
	uint64_t slowstart_ms;		/* a backend back in rotation ramps its weight over this; 0 = off */
	int passive_fall;		/* consecutive connect failures or 5xx that mark a backend down; 0 = off */
	int max_interim_responses;	/* http: 1xx responses relayed per request before 502 */
	struct pg_pool_cfg pg;		/* protocol pg only */
	int index;			/* position in config->pools */
	int line;			/* where it was defined, for messages */
};

struct listener_cfg {
	char *name;			/* owned; unique */
	enum nd_proto protocol;
	char *bind;			/* owned; as written */
	struct sockaddr_storage addr;
	char *pool_name;		/* owned */
	struct pool_cfg *pool;		/* borrowed from config->pools */
	int backlog;
	int max_connections;		/* per listener, all workers together */
	size_t max_header_size;		/* request head bytes before 431 */
	size_t max_target_size;		/* request-target bytes before 414 */
	uint64_t max_body_size;		/* request body bytes before 413; 0 = no limit */
	uint64_t header_timeout_ms;	/* first byte to end of request head */
	uint64_t idle_timeout_ms;	/* keep-alive wait for the next request */
	uint64_t client_timeout_ms;	/* client silent while sending a body or not reading */
	uint64_t request_min_rate;	/* bytes/s a head or body must keep after the grace; 0 = off */
	uint64_t request_rate_grace_ms;	/* allowance before request_min_rate applies */
	enum underscores underscores_in_headers;	/* request fields named with '_' */
	bool forwarded_for;		/* append X-Forwarded-For */
	bool forwarded_proto;		/* set X-Forwarded-Proto */
	bool via;			/* add Via to requests and responses */
	int index;
};

struct config {
	char *path;			/* owned; the file it came from */
	int workers;
	char *admin_socket;		/* owned */
	char *admin_listen;		/* owned; optional TCP address of the admin API */
	struct sockaddr_storage admin_addr;
	char *admin_token;		/* owned; bearer token required on admin_listen */
	int admin_max_connections;	/* per admin socket */
	uint64_t admin_timeout_ms;	/* an admin connection's whole life */
	char *pid_file;			/* owned; NULL = none */
	char *state_file;		/* owned; operator state kept across restarts */
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

/* Collected "file:line:col: message" lines ("file: message" when line is 0). */
struct errlist {
	char **msgs;			/* owned */
	int n;
};

void errlist_add(struct errlist *e, const char *file, int line, int col,
		 const char *fmt, ...) ND_PRINTF(5, 6);
void errlist_free(struct errlist *e);

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

/* "500ms", "2s", "1m", "1h" -> milliseconds. 0 on success, -EINVAL if not. */
int config_parse_duration(const char *s, uint64_t *ms) ND_MUST_CHECK;
/* "512", "16k", "16KiB", "10M", "1GiB" -> bytes. 0 on success, -EINVAL if not. */
int config_parse_size(const char *s, uint64_t *bytes) ND_MUST_CHECK;
/* "127.0.0.1:80", "[::1]:80", "localhost:80" -> address. 0 or -EINVAL. */
int config_parse_address(const char *s, struct sockaddr_storage *ss, const char **why) ND_MUST_CHECK;

/* "http", "pg". */
const char *config_proto_name(enum nd_proto p);

/* Are a and b the same address and port? */
bool config_same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/*
 * Reload check: append an error to errs for each setting that differs
 * between old and new but can change only at restart (workers, buffers,
 * admin, pid/state files, logs). Returns 0 if none, else -EINVAL.
 */
int config_restart_only(const struct config *old, const struct config *new,
			struct errlist *errs) ND_MUST_CHECK;

/* Format ss as "ip:port" into out (>= 64 bytes). */
void config_format_address(const struct sockaddr_storage *ss, char *out, size_t n);

#endif
