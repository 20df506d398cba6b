/*
 * config.c - the keys of http listeners and pools, their defaults, and
 * the checks that involve other settings (a head must fit a buffer).
 * Runs on: the control thread (and `nodown check`).
 */
#include "config.h"

/* F_SIZE writes uint64_t; the listener's head sizes are size_t. */
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "size_t must be 64-bit");

static const char *const balance_names[] = { "round_robin", "least_conn", NULL };
static const char *const underscore_names[] = { "drop", "pass", "refuse", NULL };

#define L(f) offsetof(struct http_listener_cfg, f)
static const struct field listener_keys[] = {
	{ .key = "max_header_size", .type = F_SIZE, .off = L(max_header_size), .min = 256, .max = 1 << 20 },
	{ .key = "max_target_size", .type = F_SIZE, .off = L(max_target_size), .min = 16, .max = 1 << 20 },
	{ .key = "max_body_size", .type = F_SIZE, .off = L(max_body_size), .min = 0, .max = INT64_MAX },
	{ .key = "header_timeout", .type = F_DURATION, .off = L(header_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "idle_timeout", .type = F_DURATION, .off = L(idle_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "client_timeout", .type = F_DURATION, .off = L(client_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "request_min_rate", .type = F_SIZE, .off = L(request_min_rate), .min = 0, .max = 1 << 30 },
	{ .key = "request_rate_grace", .type = F_DURATION, .off = L(request_rate_grace_ms), .min = 0, .max = DUR_MAX },
	{ .key = "underscores_in_headers", .type = F_ENUM, .off = L(underscores_in_headers), .names = underscore_names },
	{ .key = "forwarded_for", .type = F_BOOL, .off = L(forwarded_for) },
	{ .key = "forwarded_proto", .type = F_BOOL, .off = L(forwarded_proto) },
	{ .key = "via", .type = F_BOOL, .off = L(via) },
};
#undef L

#define P(f) offsetof(struct http_pool_cfg, f)
static const struct field pool_keys[] = {
	{ .key = "balance", .type = F_ENUM, .off = P(balance), .names = balance_names },
	{ .key = "response_timeout", .type = F_DURATION, .off = P(response_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "max_idle", .type = F_INT, .off = P(max_idle), .min = 0, .max = 100000 },
	{ .key = "retries", .type = F_INT, .off = P(retries), .min = 0, .max = 10 },
	{ .key = "passive_fall", .type = F_INT, .off = P(passive_fall), .min = 0, .max = 1000 },
	{ .key = "slowstart", .type = F_DURATION, .off = P(slowstart_ms), .min = 0, .max = DUR_MAX },
	{ .key = "drain_tunnel_timeout", .type = F_DURATION, .off = P(drain_tunnel_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "max_interim_responses", .type = F_INT, .off = P(max_interim_responses), .min = 0, .max = 1000000 },
};
#undef P

static void listener_defaults(void *lcfg)
{
	*(struct http_listener_cfg *)lcfg = (struct http_listener_cfg){
		.max_header_size = 8192, .max_target_size = 4096, .header_timeout_ms = 10000,
		.idle_timeout_ms = 60000, .client_timeout_ms = 60000, .request_min_rate = 500,
		.request_rate_grace_ms = 10000, .forwarded_for = true, .forwarded_proto = true,
		.via = true,
	};
}

static void pool_defaults(void *pcfg)
{
	*(struct http_pool_cfg *)pcfg = (struct http_pool_cfg){
		.balance = BALANCE_ROUND_ROBIN, .response_timeout_ms = 60000, .max_idle = 64,
		.retries = 2, .passive_fall = 3, .drain_tunnel_timeout_ms = 60000,
		.max_interim_responses = 1000,
	};
}

void http_listener_check(struct cctx *cx, struct listener_cfg *l)
{
	const struct http_listener_cfg *h = l->pcfg;

	if (h->max_header_size + 1024 > cx->cfg->buffer_size)
		CFG_ERR(cx, schema_item_node(cx, "listeners", l->index, "max_header_size"),
			"max_header_size (%zu) must leave 1024 bytes of the buffer size (%zu) for "
			"added headers; raise buffers.size or lower max_header_size",
			h->max_header_size, cx->cfg->buffer_size);
	if (h->max_target_size >= h->max_header_size)
		CFG_ERR(cx, schema_item_node(cx, "listeners", l->index, "max_target_size"),
			"max_target_size (%zu) must be below max_header_size (%zu)",
			h->max_target_size, h->max_header_size);
}

const struct keytable http_listener_keys = {
	listener_keys, ARRAY_LEN(listener_keys), sizeof(struct http_listener_cfg), listener_defaults,
};

const struct keytable http_pool_keys = {
	pool_keys, ARRAY_LEN(pool_keys), sizeof(struct http_pool_cfg), pool_defaults,
};
