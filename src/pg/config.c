/*
 * config.c - the keys of pg listeners and pools, their defaults, and the
 * checks that need more than one key: the auth file is loaded (and its
 * mode checked) here, so a config with a bad auth file is refused whole.
 * Runs on: the control thread (and `nodown check`).
 */
#include "config.h"

#include "authfile.h"

static const char *const pool_mode_names[] = { "transaction", "session", NULL };
static const char *const pg_auth_names[] = { "scram-sha-256", "md5", "trust", NULL };

static void read_server_auth(struct cctx *cx, yaml_node_t *v, void *target);

static const struct field listener_keys[] = {
	{ .key = "header_timeout", .type = F_DURATION,
	  .off = offsetof(struct pg_listener_cfg, header_timeout_ms), .min = 1, .max = DUR_MAX },
};

#define P(f) offsetof(struct pg_pool_cfg, f)
static const struct field pool_keys[] = {
	{ .key = "pool_mode", .type = F_ENUM, .off = P(pool_mode), .names = pool_mode_names },
	{ .key = "pool_size", .type = F_INT, .off = P(pool_size), .min = 1, .max = 10000 },
	{ .key = "auth_file", .type = F_STR, .off = P(auth_file) },
	{ .key = "auth_type", .type = F_ENUM, .off = P(auth_type), .names = pg_auth_names },
	{ .key = "monitor_user", .type = F_STR, .off = P(monitor_user) },
	{ .key = "monitor_database", .type = F_STR, .off = P(monitor_database) },
	{ .key = "query_wait_timeout", .type = F_DURATION, .off = P(query_wait_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "pause_timeout", .type = F_DURATION, .off = P(pause_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "promote_timeout", .type = F_DURATION, .off = P(promote_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "failover_hold", .type = F_DURATION, .off = P(failover_hold_ms), .min = 0, .max = DUR_MAX },
	{ .key = "fence_command", .type = F_STR, .off = P(fence_command) },
	{ .key = "promote_command", .type = F_STR, .off = P(promote_command) },
	{ .key = "max_prepared_statements", .type = F_INT, .off = P(max_prepared_statements), .min = 1, .max = 100000 },
	{ .key = "server_auth", .type = F_CUSTOM, .fn = read_server_auth },
};
#undef P

static void listener_defaults(void *lcfg)
{
	((struct pg_listener_cfg *)lcfg)->header_timeout_ms = 10000;
}

static void pool_defaults(void *pcfg)
{
	*(struct pg_pool_cfg *)pcfg = (struct pg_pool_cfg){
		.pool_mode = PG_POOL_TRANSACTION, .pool_size = 20, .auth_type = PG_CLIENT_AUTH_SCRAM,
		.query_wait_timeout_ms = 120000, .pause_timeout_ms = 10000,
		.promote_timeout_ms = 30000, .failover_hold_ms = 10000, .max_prepared_statements = 1000,
		.server_auth = PG_SERVER_AUTH_SCRAM | PG_SERVER_AUTH_MD5 | PG_SERVER_AUTH_TRUST,
	};
}

void pg_pool_free(void *pcfg)
{
	pg_authfile_free(((struct pg_pool_cfg *)pcfg)->auth);
}

/* server_auth: a list of methods (or one), e.g. [scram-sha-256, md5]. */
static void read_server_auth(struct cctx *cx, yaml_node_t *v, void *target)
{
	static const struct { const char *name; unsigned bit; } methods[] = {
		{ "scram-sha-256", PG_SERVER_AUTH_SCRAM }, { "md5", PG_SERVER_AUTH_MD5 },
		{ "password", PG_SERVER_AUTH_PASSWORD }, { "trust", PG_SERVER_AUTH_TRUST },
	};
	struct pg_pool_cfg *p = target;
	unsigned bits = 0;
	int n = v->type == YAML_SEQUENCE_NODE ?
		(int)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;

	if (v->type == YAML_MAPPING_NODE || n == 0) {
		CFG_ERR(cx, v, "'server_auth' must be a list of methods (scram-sha-256, md5, password, trust)");
		return;
	}
	for (int i = 0; i < n; i++) {
		yaml_node_t *item = v->type == YAML_SEQUENCE_NODE ?
				    yaml_document_get_node(cx->doc, v->data.sequence.items.start[i]) : v;
		size_t k;

		if (!schema_want_scalar(cx, item, "server_auth", "a method name"))
			return;
		for (k = 0; k < ARRAY_LEN(methods) && strcmp(schema_scalar(item), methods[k].name); k++)
			;
		if (k == ARRAY_LEN(methods)) {
			CFG_ERR(cx, item, "'server_auth' methods are scram-sha-256, md5, password and trust, "
				"not '%s'", schema_scalar(item));
			return;
		}
		bits |= methods[k].bit;
	}
	p->server_auth = bits;
}

/* A pg pool needs an auth file (loaded now) and a monitor user in it. */
void pg_pool_check(struct cctx *cx, struct pool_cfg *p)
{
	struct pg_pool_cfg *pg = p->pcfg;
	yaml_node_t *n = schema_item_node(cx, "pools", p->index, "protocol");

	if (!pg->auth_file)
		CFG_ERR(cx, n, "pool '%s' speaks pg and needs 'auth_file' (lines \"user\" \"secret\")", p->name);
	else if (pg_authfile_load(pg->auth_file, &pg->auth, cx->errs) == 0 &&
		 pg->monitor_user && !pg_authfile_find(pg->auth, pg->monitor_user))
		CFG_ERR(cx, schema_item_node(cx, "pools", p->index, "monitor_user"),
			"monitor_user '%s' of pool '%s' has no entry in %s", pg->monitor_user,
			p->name, pg->auth_file);
	if (!pg->monitor_user)
		CFG_ERR(cx, n, "pool '%s' speaks pg and needs 'monitor_user' (a role whose secret is in "
			"auth_file, for health checks and promotion)", p->name);
	if (!pg->monitor_database)
		pg->monitor_database = xstrdup("postgres");
}

const struct keytable pg_listener_keys = {
	listener_keys, ARRAY_LEN(listener_keys), sizeof(struct pg_listener_cfg), listener_defaults,
};

const struct keytable pg_pool_keys = {
	pool_keys, ARRAY_LEN(pool_keys), sizeof(struct pg_pool_cfg), pool_defaults,
};
