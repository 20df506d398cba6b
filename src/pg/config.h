/*
 * config.h - the settings of pg listeners and pools (the keys besides the
 * core's), read by core/config.c through the pg module.
 */
#ifndef ND_PG_CONFIG_H
#define ND_PG_CONFIG_H

#include "core/config.h"
#include "core/schema.h"

enum pg_pool_mode { PG_POOL_TRANSACTION, PG_POOL_SESSION };
enum pg_auth_type { PG_CLIENT_AUTH_SCRAM, PG_CLIENT_AUTH_MD5, PG_CLIENT_AUTH_TRUST };

/* How a PostgreSQL server may ask nodown to prove who it logs in as. */
enum pg_server_auth {
	PG_SERVER_AUTH_TRUST = 1,	/* nothing asked */
	PG_SERVER_AUTH_PASSWORD = 2,	/* the password in clear */
	PG_SERVER_AUTH_MD5 = 4,
	PG_SERVER_AUTH_SCRAM = 8,	/* SCRAM-SHA-256, the server's signature checked */
};

struct pg_authfile;

struct pg_listener_cfg {
	uint64_t header_timeout_ms;	/* start-up packet and login within this of the connect */
};

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
	char *promote_command;		/* owned; NULL = SELECT pg_promote(false) */
	int max_prepared_statements;	/* named statements per client, and kept per server */
	unsigned server_auth;		/* enum pg_server_auth bits a server may ask for */
};

/* The module itself (pg/module.c). */
extern const struct proto_module pg_module;

static inline const struct pg_listener_cfg *pg_listener(const struct listener_cfg *l)
{
	return l->pcfg;
}

static inline const struct pg_pool_cfg *pg_pool(const struct pool_cfg *p)
{
	return p->pcfg;
}

extern const struct keytable pg_listener_keys, pg_pool_keys;

void pg_pool_free(void *pcfg);
void pg_pool_check(struct cctx *cx, struct pool_cfg *p);

#endif
