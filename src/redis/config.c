/*
 * config.c - the keys of redis listeners and pools and their defaults.
 * The defaults follow redis-server's (proto-max-bulk-len 512 MB, inline
 * commands up to 64 KiB, protected mode on).
 * Runs on: the control thread (and `nodown check`).
 */
#include "config.h"

#include "resp.h"

static void listener_defaults(void *lcfg)
{
	((struct redis_listener_cfg *)lcfg)->protected_mode = true;
}

static const struct field listener_keys[] = {
	{ .key = "protected", .type = F_BOOL, .off = offsetof(struct redis_listener_cfg, protected_mode) },
};

#define P(f) offsetof(struct redis_pool_cfg, f)
static const struct field pool_keys[] = {
	{ .key = "username", .type = F_STR, .off = P(username) },
	{ .key = "password", .type = F_STR, .off = P(password) },
	{ .key = "client_password", .type = F_STR, .off = P(client_password) },
	{ .key = "failover_hold", .type = F_DURATION, .off = P(failover_hold_ms), .min = 0, .max = DUR_MAX },
	{ .key = "max_bulk", .type = F_SIZE, .off = P(max_bulk), .min = 1, .max = 1LL << 40 },
	{ .key = "max_inline", .type = F_SIZE, .off = P(max_inline), .min = 64, .max = 1 << 30 },
	{ .key = "max_elements", .type = F_INT, .off = P(max_elements), .min = 1, .max = 1 << 30 },
	{ .key = "pause_timeout", .type = F_DURATION, .off = P(pause_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "promote_timeout", .type = F_DURATION, .off = P(promote_timeout_ms), .min = 1, .max = DUR_MAX },
};
#undef P

static void pool_defaults(void *pcfg)
{
	*(struct redis_pool_cfg *)pcfg = (struct redis_pool_cfg){
		.failover_hold_ms = 10000, .pause_timeout_ms = 10000, .promote_timeout_ms = 10000,
		.max_bulk = 512u << 20, .max_inline = 64u << 10, .max_elements = 1 << 20,
	};
}

/* nodown answers AUTH itself, from the first RESP_ARG_CAP bytes of it. */
void redis_pool_check(struct cctx *cx, struct pool_cfg *p)
{
	const struct redis_pool_cfg *rc = p->pcfg;

	if (rc->client_password && (strlen(rc->client_password) > RESP_ARG_CAP || !rc->client_password[0]))
		CFG_ERR(cx, schema_item_node(cx, "pools", p->index, "client_password"),
			"client_password of pool '%s' must be 1 to %d bytes", p->name, RESP_ARG_CAP);
}

const struct keytable redis_listener_keys = {
	listener_keys, ARRAY_LEN(listener_keys), sizeof(struct redis_listener_cfg), listener_defaults,
};

const struct keytable redis_pool_keys = {
	pool_keys, ARRAY_LEN(pool_keys), sizeof(struct redis_pool_cfg), pool_defaults,
};
