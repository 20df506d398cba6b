/*
 * config.c - the YAML configuration: the core's keys, defaults and checks,
 * and the protocol modules' keys and checks, called through their struct
 * proto_module.
 *
 * Owns: turning a YAML document into a struct config, and every message
 *       about what is wrong with it, as "file:line:col: message".
 * Invariant: a struct config handed out has passed every check below and
 *            every module's; the daemon never re-validates. Nothing here
 *            prints.
 * Runs on: the control thread (and `nodown check`).
 *
 * How a mapping is read is core/schema.c's; this file holds the tables.
 */
#include "config.h"

#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>

#include "confdir.h"
#include "health.h"
#include "proto.h"
#include "schema.h"

/* ---- restart-only settings ---------------------------------------------- */

/* Top-level settings a running daemon cannot change: its threads, memory,
 * admin endpoints, files and logs are set up once, at start. */
static const struct {
	const char *key;
	size_t off;
	enum { R_STR, R_INT, R_SIZE, R_UINT } kind;
} restart_only[] = {
	{ "workers", offsetof(struct config, workers), R_INT },
	{ "buffers.size", offsetof(struct config, buffer_size), R_SIZE },
	{ "buffers.max", offsetof(struct config, max_buffers), R_UINT },
	{ "admin.socket", offsetof(struct config, admin_socket), R_STR },
	{ "admin.listen", offsetof(struct config, admin_listen), R_STR },
	{ "admin.token", offsetof(struct config, admin_token), R_STR },
	{ "status.bind", offsetof(struct config, status_bind), R_STR },
	{ "admin.max_connections", offsetof(struct config, admin_max_connections), R_INT },
	{ "admin.timeout", offsetof(struct config, admin_timeout_ms), R_SIZE },
	{ "pid_file", offsetof(struct config, pid_file), R_STR },
	{ "state_file", offsetof(struct config, state_file), R_STR },
	{ "runs_dir", offsetof(struct config, runs_dir), R_STR },
	{ "log.access", offsetof(struct config, access_log), R_STR },
	{ "log.error", offsetof(struct config, error_log), R_STR },
};

int config_restart_only(const struct config *old, const struct config *new, struct errlist *errs)
{
	int nerr = errs->n;

	for (size_t i = 0; i < ARRAY_LEN(restart_only); i++) {
		const char *a = (const char *)old + restart_only[i].off;
		const char *b = (const char *)new + restart_only[i].off;
		bool same = true;

		switch (restart_only[i].kind) {
		case R_STR: {
			const char *x = *(char *const *)(const void *)a, *y = *(char *const *)(const void *)b;

			same = (!x && !y) || (x && y && !strcmp(x, y));
			break;
		}
		case R_INT: same = *(const int *)(const void *)a == *(const int *)(const void *)b; break;
		case R_SIZE: same = *(const size_t *)(const void *)a == *(const size_t *)(const void *)b; break;
		case R_UINT: same = *(const unsigned *)(const void *)a == *(const unsigned *)(const void *)b; break;
		}
		if (!same)
			errlist_add(errs, new->path, 0, 0, "'%s' changed: it takes effect only when nodown "
				    "restarts; restore the running value to reload the rest",
				    restart_only[i].key);
	}
	return errs->n == nerr ? 0 : -EINVAL;
}

/* ---- the core's keys -------------------------------------------------- */

static void read_one(struct cctx *cx, yaml_node_t *n, const struct field *fields, size_t nfields,
		     void *target, const char *what)
{
	const struct keyset set = { fields, nfields, target };

	schema_read(cx, n, &set, 1, what, NULL, NULL);
}

#define B(f) offsetof(struct backend_cfg, f)
static const struct field backend_fields[] = {
	{ .key = "name", .type = F_NAME, .off = B(name), .required = true },
	{ .key = "address", .type = F_ADDR, .off = B(address), .addr_off = B(addr), .required = true },
	{ .key = "weight", .type = F_INT, .off = B(weight), .min = 1, .max = 1000 },
};
#undef B

static void read_protocol(struct cctx *cx, yaml_node_t *v, void *target);
static void read_backends(struct cctx *cx, yaml_node_t *v, void *target);
static void read_health(struct cctx *cx, yaml_node_t *v, void *target);

/* Keys of every pool, whatever its protocol. */
#define P(f) offsetof(struct pool_cfg, f)
static const struct field pool_fields[] = {
	{ .key = "name", .type = F_NAME, .off = P(name), .required = true },
	{ .key = "protocol", .type = F_CUSTOM, .fn = read_protocol, .required = true },
	{ .key = "backends", .type = F_CUSTOM, .off = P(backends), .fn = read_backends, .required = true },
	{ .key = "connect_timeout", .type = F_DURATION, .off = P(connect_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "idle_timeout", .type = F_DURATION, .off = P(idle_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "health", .type = F_CUSTOM, .fn = read_health },
};
#undef P

struct health_tmp {
	struct health_cfg h;
	char *type;
};

#define H(f) offsetof(struct health_tmp, f)
static const struct field health_fields[] = {
	{ .key = "type", .type = F_STR, .off = H(type) },
	{ .key = "interval", .type = F_DURATION, .off = H(h.interval_ms), .min = 10, .max = DUR_MAX },
	{ .key = "timeout", .type = F_DURATION, .off = H(h.timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "jitter", .type = F_DURATION, .off = H(h.jitter_ms), .min = 0, .max = DUR_MAX },
	{ .key = "rise", .type = F_INT, .off = H(h.rise), .min = 1, .max = 100 },
	{ .key = "fall", .type = F_INT, .off = H(h.fall), .min = 1, .max = 100 },
};
#undef H

/* Keys of every listener, whatever its protocol. */
#define L(f) offsetof(struct listener_cfg, f)
static const struct field listener_fields[] = {
	{ .key = "name", .type = F_NAME, .off = L(name), .required = true },
	{ .key = "protocol", .type = F_CUSTOM, .fn = read_protocol, .required = true },
	{ .key = "bind", .type = F_ADDR, .off = L(bind), .addr_off = L(addr), .required = true },
	{ .key = "pool", .type = F_NAME, .off = L(pool_name), .required = true },
	{ .key = "backlog", .type = F_INT, .off = L(backlog), .min = 1, .max = 65535 },
	{ .key = "max_connections", .type = F_INT, .off = L(max_connections), .min = 1, .max = 10000000 },
};
#undef L

struct admin_tmp {
	char *socket, *listen, *token;
	struct sockaddr_storage addr;
	int max_connections;
	uint64_t timeout_ms;
};
static const struct field admin_fields[] = {
	{ .key = "socket", .type = F_STR, .off = offsetof(struct admin_tmp, socket) },
	{ .key = "listen", .type = F_ADDR, .off = offsetof(struct admin_tmp, listen),
	  .addr_off = offsetof(struct admin_tmp, addr) },
	{ .key = "token", .type = F_STR, .off = offsetof(struct admin_tmp, token) },
	{ .key = "max_connections", .type = F_INT, .off = offsetof(struct admin_tmp, max_connections), .min = 1, .max = 10000 },
	{ .key = "timeout", .type = F_DURATION, .off = offsetof(struct admin_tmp, timeout_ms), .min = 100, .max = DUR_MAX },
};

static const struct field status_fields[] = {
	{ .key = "bind", .type = F_ADDR, .off = offsetof(struct config, status_bind),
	  .addr_off = offsetof(struct config, status_addr), .required = true },
};

struct log_tmp { char *access, *error; };
static const struct field log_fields[] = {
	{ .key = "access", .type = F_STR, .off = offsetof(struct log_tmp, access) },
	{ .key = "error", .type = F_STR, .off = offsetof(struct log_tmp, error) },
};

struct buffers_tmp { uint64_t size; int max; };
static const struct field buffers_fields[] = {
	{ .key = "size", .type = F_SIZE, .off = offsetof(struct buffers_tmp, size), .min = 4096, .max = 1 << 20 },
	{ .key = "max", .type = F_INT, .off = offsetof(struct buffers_tmp, max), .min = 16, .max = 10000000 },
};

static void read_admin(struct cctx *cx, yaml_node_t *v, void *target);
static void read_log(struct cctx *cx, yaml_node_t *v, void *target);
static void read_status(struct cctx *cx, yaml_node_t *v, void *target);
static void read_buffers(struct cctx *cx, yaml_node_t *v, void *target);
static void read_listeners(struct cctx *cx, yaml_node_t *v, void *target);
static void read_pools(struct cctx *cx, yaml_node_t *v, void *target);

#define C(f) offsetof(struct config, f)
static const struct field top_fields[] = {
	{ .key = "workers", .type = F_INT, .off = C(workers), .min = 1, .max = 256 },
	{ .key = "pid_file", .type = F_STR, .off = C(pid_file) },
	{ .key = "state_file", .type = F_STR, .off = C(state_file) },
	{ .key = "runs_dir", .type = F_STR, .off = C(runs_dir) },
	{ .key = "shutdown_timeout", .type = F_DURATION, .off = C(shutdown_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "shutdown_idle_grace", .type = F_DURATION, .off = C(shutdown_idle_grace_ms), .min = 0, .max = DUR_MAX },
	{ .key = "admin", .type = F_CUSTOM, .fn = read_admin },
	{ .key = "log", .type = F_CUSTOM, .fn = read_log },
	{ .key = "status", .type = F_CUSTOM, .fn = read_status },
	{ .key = "buffers", .type = F_CUSTOM, .fn = read_buffers },
	{ .key = "listeners", .type = F_CUSTOM, .off = C(listeners), .fn = read_listeners, .required = true },
	{ .key = "pools", .type = F_CUSTOM, .off = C(pools), .fn = read_pools, .required = true },
};
#undef C

static void read_admin(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct config *c = cx->cfg;
	struct admin_tmp t = { .max_connections = c->admin_max_connections, .timeout_ms = c->admin_timeout_ms };

	ND_UNUSED(target);
	read_one(cx, v, admin_fields, ARRAY_LEN(admin_fields), &t, "admin");
	if (t.socket) {
		free(c->admin_socket);
		c->admin_socket = t.socket;
	}
	if (t.listen && !t.token)
		CFG_ERR(cx, v, "admin.listen needs admin.token: the TCP admin API changes what the "
		       "proxy does and refuses to run without a bearer token");
	if (t.token && strlen(t.token) < 16)
		CFG_ERR(cx, v, "admin.token must be at least 16 characters (a random string, for "
		       "example from 'head -c 24 /dev/urandom | base64')");
	c->admin_listen = t.listen;
	c->admin_token = t.token;
	c->admin_addr = t.addr;
	c->admin_max_connections = t.max_connections;
	c->admin_timeout_ms = t.timeout_ms;
}

/* status: { bind: ADDR }: the read-only status page's listener. */
static void read_status(struct cctx *cx, yaml_node_t *v, void *target)
{
	ND_UNUSED(target);
	read_one(cx, v, status_fields, ARRAY_LEN(status_fields), cx->cfg, "status");
}

static void read_log(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct log_tmp t = { NULL, NULL };

	ND_UNUSED(target);
	read_one(cx, v, log_fields, ARRAY_LEN(log_fields), &t, "log");
	if (t.access) {
		free(cx->cfg->access_log);
		cx->cfg->access_log = t.access;
	}
	if (t.error) {
		if (!strcmp(t.error, "off")) {
			CFG_ERR(cx, v, "log.error cannot be 'off': errors must go somewhere (stderr or a file)");
			free(t.error);
			return;
		}
		free(cx->cfg->error_log);
		cx->cfg->error_log = t.error;
	}
}

static void read_buffers(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct buffers_tmp t = { cx->cfg->buffer_size, (int)cx->cfg->max_buffers };

	ND_UNUSED(target);
	read_one(cx, v, buffers_fields, ARRAY_LEN(buffers_fields), &t, "buffers");
	cx->cfg->buffer_size = t.size;
	cx->cfg->max_buffers = (unsigned)t.max;
}

/* ---- protocols -------------------------------------------------------- */

/* A pool and a listener begin with their protocol, so that its keys can be
 * read: the module `protocol:` names, or NULL (reported by read_protocol). */
static const struct proto_module *protocol_of(struct cctx *cx, yaml_node_t *n)
{
	yaml_node_t *v = schema_get(cx, n, "protocol");

	return v && v->type == YAML_SCALAR_NODE ? proto_find(schema_scalar(v)) : NULL;
}

/* Pools and listeners both begin with name and protocol. */
_Static_assert(offsetof(struct pool_cfg, proto) == offsetof(struct listener_cfg, proto),
	       "read_protocol writes both");

static void read_protocol(struct cctx *cx, yaml_node_t *v, void *target)
{
	char known[128];

	if (!schema_want_scalar(cx, v, "protocol", "a name"))
		return;
	((struct pool_cfg *)target)->proto = proto_find(schema_scalar(v));
	if (!((struct pool_cfg *)target)->proto) {
		proto_names(known, sizeof(known));
		CFG_ERR(cx, v, "'protocol' must be one of %s, not '%s'", known, schema_scalar(v));
	}
}

struct foreign {
	const struct proto_module *mine;	/* NULL: unknown, already reported */
	bool listener;
	const char *what;
};

/* A key of another protocol's listeners or pools: an error that says so,
 * not a silently ignored setting. */
static bool foreign_key(struct cctx *cx, yaml_node_t *k, const void *arg)
{
	const struct foreign *fo = arg;
	char owners[128] = "";
	int n = 0;

	for (const struct proto_module *const *m = proto_modules; *m; m++) {
		const struct keytable *t = fo->listener ? (*m)->listener_keys : (*m)->pool_keys;

		if (*m == fo->mine || !schema_has(t->fields, t->n, schema_scalar(k)))
			continue;
		strncat(owners, n++ ? ", " : "", sizeof(owners) - strlen(owners) - 1);
		strncat(owners, (*m)->name, sizeof(owners) - strlen(owners) - 1);
	}
	if (!n)
		return false;
	if (fo->mine)
		CFG_ERR(cx, k, "'%s' applies only to protocol%s %s, and this %s speaks %s",
			schema_scalar(k), n > 1 ? "s" : "", owners, fo->what, fo->mine->name);
	return true;
}

/* A new object for table t's keys, with its defaults. */
static void *table_new(const struct keytable *t)
{
	void *obj = xcalloc(1, t->size ? t->size : 1);

	if (t->defaults)
		t->defaults(obj);
	return obj;
}

/* Free an object of table t's keys (NULL: nothing). */
static void table_free(const struct keytable *t, void *obj)
{
	if (!obj)
		return;
	schema_free(t->fields, t->n, obj);
	free(obj);
}

/* Read item n of a pool or listener list: the core's keys into obj, the
 * protocol's into a new object of its own (*pcfg). */
static void read_with_protocol(struct cctx *cx, yaml_node_t *n, const struct field *fields,
			       size_t nfields, void *obj, void **pcfg, bool listener)
{
	const struct proto_module *m = protocol_of(cx, n);
	struct foreign fo = { m, listener, listener ? "listener" : "pool" };
	struct keyset sets[2] = { { fields, nfields, obj } };

	if (m) {
		const struct keytable *t = listener ? m->listener_keys : m->pool_keys;

		*pcfg = table_new(t);
		sets[1] = (struct keyset){ t->fields, t->n, *pcfg };
	}
	schema_read(cx, n, sets, m ? 2 : 1, fo.what, foreign_key, &fo);
}

/* ---- health ----------------------------------------------------------- */

/* "tcp, http": the probes m's pools may use. */
static void probe_names(const struct proto_module *m, char *out, size_t n)
{
	out[0] = '\0';
	for (const struct probe_type *const *q = m->probes; *q; q++) {
		strncat(out, q == m->probes ? "" : ", ", n - strlen(out) - 1);
		strncat(out, (*q)->name, n - strlen(out) - 1);
	}
}

/* Does p take every key of mapping v that is not one of the core's? */
static bool probe_takes(struct cctx *cx, const struct probe_type *p, yaml_node_t *v)
{
	for (yaml_node_pair_t *kv = v->data.mapping.pairs.start; kv < v->data.mapping.pairs.top; kv++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, kv->key);

		if (k->type == YAML_SCALAR_NODE &&
		    !schema_has(health_fields, ARRAY_LEN(health_fields), schema_scalar(k)) &&
		    !schema_has(p->keys->fields, p->keys->n, schema_scalar(k)))
			return false;
	}
	return true;
}

/* The probe of a health mapping: its type, or the first of the pool's
 * protocol's probes that takes every key given. NULL after reporting. */
static const struct probe_type *choose_probe(struct cctx *cx, const struct proto_module *m,
					     yaml_node_t *v)
{
	yaml_node_t *t = schema_get(cx, v, "type");
	const struct probe_type *const *q;
	char known[128];

	probe_names(m, known, sizeof(known));
	if (!t) {
		for (q = m->probes; *q && !probe_takes(cx, *q, v); q++)
			;
		return *q ? *q : m->probes[0];
	}
	if (t->type != YAML_SCALAR_NODE)
		return NULL;	/* reported as a wrong type */
	for (q = m->probes; *q; q++)
		if (!strcmp((*q)->name, schema_scalar(t)))
			return *q;
	CFG_ERR(cx, t, "health type '%s' does not apply to %s pools (types: %s)", schema_scalar(t),
		m->name, known);
	return NULL;
}

/* A key of another probe: say which type takes it. */
static bool foreign_probe_key(struct cctx *cx, yaml_node_t *k, const void *arg)
{
	const struct pool_cfg *p = arg;

	for (const struct probe_type *const *q = p->proto->probes; *q; q++) {
		if (*q != p->health.probe && schema_has((*q)->keys->fields, (*q)->keys->n, schema_scalar(k))) {
			CFG_ERR(cx, k, "health: '%s' applies to type %s, and this check is of type %s; "
				"remove it or set type: %s", schema_scalar(k), (*q)->name,
				p->health.probe->name, (*q)->name);
			return true;
		}
	}
	return false;
}

static void health_free(struct health_cfg *h)
{
	if (h->probe)
		table_free(h->probe->keys, h->probe_cfg);
	h->probe_cfg = NULL;
}

static void health_defaults(struct health_cfg *h, const struct probe_type *probe)
{
	health_free(h);
	h->probe = probe;
	h->probe_cfg = table_new(probe->keys);
}

static void read_health(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct pool_cfg *p = target;
	struct health_tmp t = { .h = p->health };
	const struct probe_type *probe;
	struct keyset sets[2];

	if (!p->proto || v->type != YAML_MAPPING_NODE) {
		if (v->type != YAML_MAPPING_NODE)
			CFG_ERR(cx, v, "health must be a mapping of keys to values, not %s",
				schema_node_type(v));
		return;		/* no protocol: reported, and its probes are unknown */
	}
	probe = choose_probe(cx, p->proto, v);
	if (!probe)
		return;
	if (probe != p->health.probe)
		health_defaults(&p->health, probe);
	t.h = p->health;
	sets[0] = (struct keyset){ health_fields, ARRAY_LEN(health_fields), &t };
	sets[1] = (struct keyset){ probe->keys->fields, probe->keys->n, p->health.probe_cfg };
	schema_read(cx, v, sets, 2, "health", foreign_probe_key, p);
	free(t.type);
	t.h.probe = p->health.probe;
	t.h.probe_cfg = p->health.probe_cfg;
	p->health = t.h;
}

/* ---- lists ------------------------------------------------------------ */

static void one_backend(struct cctx *cx, yaml_node_t *n, void *dst, int i)
{
	struct backend_cfg *b = dst;

	b->weight = 1;
	b->index = i;
	read_one(cx, n, backend_fields, ARRAY_LEN(backend_fields), b, "backend");
}

static void read_backends(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct pool_cfg *p = target;

	p->backends = schema_read_list(cx, v, "backends", sizeof(struct backend_cfg),
				       &p->nbackends, one_backend);
}

static void one_pool(struct cctx *cx, yaml_node_t *n, void *dst, int i)
{
	struct pool_cfg *p = dst;

	p->index = i;
	p->line = (int)n->start_mark.line + 1;
	p->connect_timeout_ms = 3000;
	p->idle_timeout_ms = 30000;
	p->health = (struct health_cfg){
		.interval_ms = 2000, .timeout_ms = 1000, .rise = 2, .fall = 2,
	};
	p->proto = protocol_of(cx, n);
	if (p->proto)
		health_defaults(&p->health, p->proto->probes[0]);
	read_with_protocol(cx, n, pool_fields, ARRAY_LEN(pool_fields), p, &p->pcfg, false);
}

static void read_pools(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct config *c = target;

	c->pools = schema_read_list(cx, v, "pools", sizeof(struct pool_cfg), &c->npools, one_pool);
}

static void one_listener(struct cctx *cx, yaml_node_t *n, void *dst, int i)
{
	struct listener_cfg *l = dst;

	l->index = i;
	l->backlog = 511;
	l->max_connections = 10000;
	read_with_protocol(cx, n, listener_fields, ARRAY_LEN(listener_fields), l, &l->pcfg, true);
}

static void read_listeners(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct config *c = target;

	c->listeners = schema_read_list(cx, v, "listeners", sizeof(struct listener_cfg),
					&c->nlisteners, one_listener);
}

/* ---- cross-object checks ----------------------------------------------- */

/* One server under two names (in two pools) is counted, drained and
 * health-checked as two: a warning, as it may be meant. */
static void check_aliases(struct cctx *cx, int i)
{
	const struct config *c = cx->cfg;
	const struct pool_cfg *p = &c->pools[i];

	for (int b = 0; b < p->nbackends; b++) {
		const struct backend_cfg *be = &p->backends[b];

		for (int j = 0; j < i && be->name && be->address; j++)
			for (int k = 0; k < c->pools[j].nbackends; k++) {
				const struct backend_cfg *o = &c->pools[j].backends[k];
				char where[300];

				if (!o->name || !o->address || !strcmp(o->name, be->name) ||
				    !config_same_address(&o->addr, &be->addr))
					continue;
				cctx_where(cx, schema_backend_node(cx, j, k, "address"), where, sizeof(where));
				CFG_WARN(cx, schema_backend_node(cx, i, b, "address"),
					 "backend '%s' of pool '%s' has the address of backend '%s' of pool '%s' "
					 "(%s) under another name: one server, drained and health-checked as two",
					 be->name, p->name ? p->name : "?", o->name,
					 c->pools[j].name ? c->pools[j].name : "?", where);
			}
	}
}

static void check_pools(struct cctx *cx)
{
	struct config *c = cx->cfg;

	for (int i = 0; i < c->npools; i++) {
		struct pool_cfg *p = &c->pools[i];

		for (int j = 0; j < i && p->name; j++) {
			if (c->pools[j].name && !strcmp(c->pools[j].name, p->name)) {
				char where[300];

				cctx_where(cx, schema_item_node(cx, "pools", j, "name"), where, sizeof(where));
				CFG_ERR(cx, schema_item_node(cx, "pools", i, "name"),
					"duplicate pool name '%s' (first defined at %s); pool names must be unique",
					p->name, where);
				break;
			}
		}
		for (int b = 0; b < p->nbackends; b++) {
			for (int j = 0; j < b; j++) {
				if (p->backends[b].name && p->backends[j].name &&
				    !strcmp(p->backends[b].name, p->backends[j].name)) {
					char where[300];

					cctx_where(cx, schema_backend_node(cx, i, j, "name"), where, sizeof(where));
					CFG_ERR(cx, schema_backend_node(cx, i, b, "name"),
						"duplicate backend name '%s' in pool '%s' (first defined at %s)",
						p->backends[b].name, p->name ? p->name : "?", where);
					break;
				}
			}
		}
		if (p->proto && p->pcfg && p->proto->pool_check)
			p->proto->pool_check(cx, p);
		check_aliases(cx, i);
	}
}

static void check_listener(struct cctx *cx, int i)
{
	struct config *c = cx->cfg;
	struct listener_cfg *l = &c->listeners[i];

	for (int j = 0; j < i && l->name; j++) {
		if (c->listeners[j].name && !strcmp(c->listeners[j].name, l->name)) {
			char where[300];

			cctx_where(cx, schema_item_node(cx, "listeners", j, "name"), where, sizeof(where));
			CFG_ERR(cx, schema_item_node(cx, "listeners", i, "name"),
				"duplicate listener name '%s' (first defined at %s)", l->name, where);
			break;
		}
	}
	for (int j = 0; j < i && l->bind; j++) {
		if (c->listeners[j].bind && config_addr_clash(&c->listeners[j].addr, &l->addr)) {
			CFG_ERR(cx, schema_item_node(cx, "listeners", i, "bind"),
				"listeners '%s' and '%s' both bind %s; each address (and port, with 0.0.0.0 or [::]) can have one listener",
				c->listeners[j].name ? c->listeners[j].name : "?",
				l->name ? l->name : "?", l->bind);
			break;
		}
	}
	if (l->proto && l->pcfg && l->proto->listener_check)
		l->proto->listener_check(cx, l);
	if (!l->pool_name)
		return;
	for (int j = 0; j < c->npools; j++)
		if (c->pools[j].name && !strcmp(c->pools[j].name, l->pool_name))
			l->pool = &c->pools[j];
	if (!l->pool)
		CFG_ERR(cx, schema_item_node(cx, "listeners", i, "pool"),
			"listener '%s' refers to pool '%s', which is not defined under 'pools'",
			l->name ? l->name : "?", l->pool_name);
	else if (l->proto && l->pool->proto && l->pool->proto != l->proto)
		CFG_ERR(cx, schema_item_node(cx, "listeners", i, "pool"),
			"listener '%s' speaks %s but pool '%s' speaks %s",
			l->name ? l->name : "?", l->proto->name, l->pool->name, l->pool->proto->name);
}

/* The status listener's address is its own: no listener's, not admin.listen. */
static void check_status(struct cctx *cx)
{
	struct config *c = cx->cfg;

	if (!c->status_bind)
		return;
	for (int i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].bind && config_addr_clash(&c->listeners[i].addr, &c->status_addr))
			CFG_ERR(cx, schema_top_node(cx, "status"), "status.bind %s is also the address of "
				"listener '%s'; give the status page an address of its own", c->status_bind,
				c->listeners[i].name ? c->listeners[i].name : "?");
	if (c->admin_listen && config_addr_clash(&c->admin_addr, &c->status_addr))
		CFG_ERR(cx, schema_top_node(cx, "status"), "status.bind %s is also admin.listen; the status "
			"page is served there already (GET /), or give it an address of its own", c->status_bind);
}

static void check_cross(struct cctx *cx)
{
	struct config *c = cx->cfg;

	if ((unsigned long)c->max_buffers < 16ul * (unsigned long)c->workers)
		CFG_ERR(cx, schema_top_node(cx, "buffers"),
			"buffers.max (%u) must allow at least 16 buffers per worker (%d workers)",
			c->max_buffers, c->workers);
	check_pools(cx);
	for (int i = 0; i < c->nlisteners; i++)
		check_listener(cx, i);
	check_status(cx);
}

/* ---- entry points ------------------------------------------------------ */

/* name in the directory of the admin socket (the state file, the runs). */
static char *beside_socket(const char *admin_socket, const char *name)
{
	const char *slash = strrchr(admin_socket, '/');
	size_t dir = slash ? (size_t)(slash - admin_socket) + 1 : 0;
	char *p = xmalloc(dir + strlen(name) + 1);

	memcpy(p, admin_socket, dir);
	strcpy(p + dir, name);
	return p;
}

static void config_defaults(struct config *c, const char *path)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	c->path = xstrdup(path);
	c->workers = n > 0 ? (int)n : 1;
	c->admin_socket = xstrdup("./nodown.sock");
	c->admin_max_connections = 32;
	c->admin_timeout_ms = 10000;
	c->shutdown_timeout_ms = 30000;
	c->shutdown_idle_grace_ms = 1000;
	c->access_log = xstrdup("stderr");
	c->error_log = xstrdup("stderr");
	c->buffer_size = 16384;
	c->max_buffers = 8192;
}

/* Build a config from doc (read from name; node_files: a directory's). */
static int load_document(yaml_document_t *doc, const char *name, char *const *node_files,
			 struct config **out, struct errlist *errs)
{
	struct cctx cx;
	struct config *c;
	yaml_node_t *root;
	int nerr = errs->n;

	c = xcalloc(1, sizeof(*c));
	config_defaults(c, name);
	cx = (struct cctx){ .doc = doc, .file = name, .node_files = node_files, .errs = errs, .cfg = c };
	root = yaml_document_get_root_node(doc);
	if (!root) {
		errlist_add(errs, name, 1, 1, "the file is empty; a config needs at least 'listeners' and 'pools'");
	} else {
		read_one(&cx, root, top_fields, ARRAY_LEN(top_fields), c, "the top level");
		if (!c->state_file)
			c->state_file = beside_socket(c->admin_socket, "nodown.state");
		if (!c->runs_dir)
			c->runs_dir = beside_socket(c->admin_socket, "nodown-runs");
		if (root->type == YAML_MAPPING_NODE)
			check_cross(&cx);
	}
	if (errs->n != nerr) {
		config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

static int load_parser(yaml_parser_t *parser, const char *name, struct config **out,
		       struct errlist *errs)
{
	yaml_document_t doc;
	int r;

	*out = NULL;
	if (!yaml_parser_load(parser, &doc)) {
		errlist_add(errs, name, (int)parser->problem_mark.line + 1,
			    (int)parser->problem_mark.column + 1, "YAML syntax error: %s%s%s",
			    parser->problem ? parser->problem : "unknown",
			    parser->context ? " " : "", parser->context ? parser->context : "");
		return -EINVAL;
	}
	r = load_document(&doc, name, NULL, out, errs);
	yaml_document_delete(&doc);
	return r;
}

/* A configuration directory: its files merged (core/confdir.h). */
static int load_dir(const char *dir, struct config **out, struct errlist *errs)
{
	struct confdir cd;
	int r = confdir_load(dir, &cd, errs);

	/* every problem in one go: what merged is checked too */
	if (cd.nfiles > 0 && load_document(&cd.doc, dir, cd.node_files, out, errs) < 0)
		r = -1;
	if (r < 0 && *out) {
		config_free(*out);
		*out = NULL;
	}
	confdir_free(&cd);
	return r < 0 ? -EINVAL : 0;
}

int config_load_string(const char *name, const char *yaml, size_t len,
		       struct config **out, struct errlist *errs)
{
	yaml_parser_t parser;
	int r;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	r = load_parser(&parser, name, out, errs);
	yaml_parser_delete(&parser);
	return r;
}

int config_load(const char *path, struct config **out, struct errlist *errs)
{
	yaml_parser_t parser;
	struct stat st;
	FILE *f;
	int r;

	*out = NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return load_dir(path, out, errs);
	f = fopen(path, "rb");
	if (!f) {
		r = -errno;
		errlist_add(errs, path, 0, 0, "cannot open config file: %s", strerror(errno));
		return r;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	r = load_parser(&parser, path, out, errs);
	yaml_parser_delete(&parser);
	fclose(f);
	return r;
}

const struct pool_cfg *config_pool(const struct config *c, const char *name)
{
	for (int i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}

const struct backend_cfg *config_backend(const struct pool_cfg *p, const char *name)
{
	for (int i = 0; p && i < p->nbackends; i++)
		if (!strcmp(p->backends[i].name, name))
			return &p->backends[i];
	return NULL;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->npools; i++) {
		struct pool_cfg *p = &c->pools[i];

		for (int b = 0; b < p->nbackends; b++)
			schema_free(backend_fields, ARRAY_LEN(backend_fields), &p->backends[b]);
		free(p->backends);
		health_free(&p->health);
		if (p->pcfg && p->proto->pool_free)
			p->proto->pool_free(p->pcfg);
		if (p->proto)
			table_free(p->proto->pool_keys, p->pcfg);
		schema_free(pool_fields, ARRAY_LEN(pool_fields), p);
	}
	free(c->pools);
	for (int i = 0; i < c->nlisteners; i++) {
		struct listener_cfg *l = &c->listeners[i];

		if (l->proto)
			table_free(l->proto->listener_keys, l->pcfg);
		schema_free(listener_fields, ARRAY_LEN(listener_fields), l);
	}
	free(c->listeners);
	schema_free(top_fields, ARRAY_LEN(top_fields), c);
	free(c->path);
	free(c->admin_socket);
	free(c->admin_listen);
	free(c->status_bind);
	free(c->admin_token);
	free(c->access_log);
	free(c->error_log);
	free(c);
}
