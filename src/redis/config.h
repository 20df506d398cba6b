/*
 * config.h - the settings of redis listeners and pools (the keys besides
 * the core's), read by core/config.c through the redis module.
 */
#ifndef ND_REDIS_CONFIG_H
#define ND_REDIS_CONFIG_H

#include "core/config.h"
#include "core/schema.h"

struct redis_listener_cfg {
	/* Without a client password, refuse clients that are not on a
	 * loopback address (redis-server's protected mode). */
	bool protected_mode;
};

struct redis_pool_cfg {
	char *username;			/* owned; nodown's ACL user on the servers (NULL: default) */
	char *password;			/* owned; nodown's password on the servers (NULL: none) */
	char *client_password;		/* owned; what clients must AUTH with (NULL: nothing asked) */
	uint64_t failover_hold_ms;	/* no primary: a client waits this long for one */
	uint64_t max_bulk;		/* longest bulk string a client may send (proto-max-bulk-len) */
	uint64_t max_inline;		/* longest inline command */
	int max_elements;		/* most arguments of one command */
	uint64_t pause_timeout_ms;	/* switchover: commands in flight must end within this */
	uint64_t promote_timeout_ms;	/* switchover: bound on each server command, catch-up, moving clients */
};

extern const struct proto_module redis_module;

static inline const struct redis_listener_cfg *redis_listener(const struct listener_cfg *l)
{
	return l->pcfg;
}

static inline const struct redis_pool_cfg *redis_pool(const struct pool_cfg *p)
{
	return p->pcfg;
}

extern const struct keytable redis_listener_keys, redis_pool_keys;

void redis_pool_check(struct cctx *cx, struct pool_cfg *p);

#endif
