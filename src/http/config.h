/*
 * config.h - the settings of http listeners and pools (the keys besides
 * the core's), read by core/config.c through the http module.
 */
#ifndef ND_HTTP_CONFIG_H
#define ND_HTTP_CONFIG_H

#include "core/config.h"
#include "core/schema.h"

enum http_balance { BALANCE_ROUND_ROBIN, BALANCE_LEAST_CONN };
/* What a request field name with '_' becomes (nginx drops them: some
 * servers read X_Forwarded_For as X-Forwarded-For). */
enum underscores { UNDERSCORES_DROP, UNDERSCORES_PASS, UNDERSCORES_REFUSE };

struct http_listener_cfg {
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
};

struct http_pool_cfg {
	enum http_balance balance;
	uint64_t response_timeout_ms;	/* backend silent while a response is due */
	int max_idle;			/* idle connections kept per backend per worker */
	int retries;			/* other backends tried after a failed connect */
	int passive_fall;		/* consecutive connect failures or 5xx that mark a backend down; 0 = off */
	uint64_t slowstart_ms;		/* a backend back in rotation ramps its weight over this; 0 = off */
	uint64_t drain_tunnel_timeout_ms;	/* tunnels to a backend out of rotation close after this */
	int max_interim_responses;	/* 1xx responses relayed per request before 502 */
};

/* The module itself (http/module.c). */
extern const struct proto_module http_module;

static inline const struct http_listener_cfg *http_listener(const struct listener_cfg *l)
{
	return l->pcfg;
}

static inline const struct http_pool_cfg *http_pool(const struct pool_cfg *p)
{
	return p->pcfg;
}

extern const struct keytable http_listener_keys, http_pool_keys;

void http_listener_check(struct cctx *cx, struct listener_cfg *l);

#endif
