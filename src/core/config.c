/*
 * config.c - YAML configuration: parse, apply defaults, validate.
 *
 * Owns: turning a YAML document into a struct config, and every message
 *       about what is wrong with it, as "file:line:col: message".
 * Invariant: a struct config handed out has passed every check below; the
 *            daemon never re-validates. Nothing here prints.
 * Runs on: the control thread (and `nodown check`).
 *
 * Each mapping is read against a table of known keys (struct field), so an
 * unknown key, a wrong type or a value out of range is reported at the
 * exact place it was written, and every problem in a file is reported in
 * one go rather than one per run.
 */
#include "config.h"

#include "../pg/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <unistd.h>
#include <yaml.h>

void errlist_add(struct errlist *e, const char *file, int line, int col,
		 const char *fmt, ...)
{
	char msg[512], *full;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0) {
		n = snprintf(NULL, 0, "%s:%d:%d: %s", file, line, col, msg);
		full = xmalloc((size_t)n + 1);
		snprintf(full, (size_t)n + 1, "%s:%d:%d: %s", file, line, col, msg);
	} else {	/* about the file as a whole */
		n = snprintf(NULL, 0, "%s: %s", file, msg);
		full = xmalloc((size_t)n + 1);
		snprintf(full, (size_t)n + 1, "%s: %s", file, msg);
	}
	e->msgs = xrealloc(e->msgs, sizeof(char *) * (size_t)(e->n + 1));
	e->msgs[e->n++] = full;
}

void errlist_free(struct errlist *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->n = 0;
}

/* ---- value syntax ---------------------------------------------------- */

int config_parse_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == '\0')
		return v == 0 ? (*ms = 0, 0) : -EINVAL;	/* a unit is required */
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult / 1000)
				return -EINVAL;
			*ms = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1 << 10 }, { "kb", 1 << 10 }, { "kib", 1 << 10 },
		{ "m", 1 << 20 }, { "mb", 1 << 20 }, { "mib", 1 << 20 },
		{ "g", 1 << 30 }, { "gb", 1 << 30 }, { "gib", 1 << 30 },
	};
	char *end, unit[8];
	unsigned long long v;
	size_t i;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || strlen(end) >= sizeof(unit))
		return -EINVAL;
	for (i = 0; end[i]; i++)
		unit[i] = (char)(end[i] >= 'A' && end[i] <= 'Z' ? end[i] + 32 : end[i]);
	unit[i] = '\0';
	for (i = 0; i < ARRAY_LEN(units); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -EINVAL;
			*bytes = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_address(const char *s, struct sockaddr_storage *ss, const char **why)
{
	char host[256];
	const char *colon, *h, *port;
	size_t hl;
	char *end;
	unsigned long p;
	struct addrinfo hints, *res;

	*why = "expected HOST:PORT, for example 127.0.0.1:8080 or [::1]:8080";
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		h = s;
		hl = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host) || !*port)
		return -EINVAL;
	errno = 0;
	p = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || errno || *end || p == 0 || p > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		*why = "host name does not resolve";
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
	return 0;
}

void config_format_address(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

/* Would binding both a and b clash? Same port and same address, or the
 * same port where one of them is the wildcard of its family. */
static bool addr_clash(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       (x->sin_addr.s_addr == y->sin_addr.s_addr ||
			x->sin_addr.s_addr == htonl(INADDR_ANY) || y->sin_addr.s_addr == htonl(INADDR_ANY));
	} else {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       (!memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) ||
			!memcmp(&x->sin6_addr, &in6addr_any, sizeof(in6addr_any)) ||
			!memcmp(&y->sin6_addr, &in6addr_any, sizeof(in6addr_any)));
	}
}

static const char *const proto_names[];

const char *config_proto_name(enum nd_proto p)
{
	return proto_names[p];
}

bool config_same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

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
	{ "admin.max_connections", offsetof(struct config, admin_max_connections), R_INT },
	{ "admin.timeout", offsetof(struct config, admin_timeout_ms), R_SIZE },
	{ "pid_file", offsetof(struct config, pid_file), R_STR },
	{ "state_file", offsetof(struct config, state_file), R_STR },
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

/* ---- schema-driven reading --------------------------------------------- */

struct cctx {
	yaml_document_t *doc;
	const char *file;
	struct errlist *errs;
	struct config *cfg;
	int nerr_start;
};

#define ERR_AT(cx, node, ...) \
	errlist_add((cx)->errs, (cx)->file, (int)(node)->start_mark.line + 1, \
		    (int)(node)->start_mark.column + 1, __VA_ARGS__)

enum ftype { F_STR, F_NAME, F_INT, F_BOOL, F_DURATION, F_SIZE, F_ENUM, F_ADDR, F_CUSTOM };

struct field;
typedef void (*custom_fn)(struct cctx *cx, yaml_node_t *val, void *target);

struct field {
	const char *key;
	enum ftype type;
	size_t off;			/* offset of the destination in target */
	long long min, max;		/* F_INT, F_SIZE, F_DURATION (ms) bounds */
	const char *const *names;	/* F_ENUM: NULL-terminated; value = index */
	custom_fn fn;			/* F_CUSTOM: called with the whole target */
	bool required;
	size_t addr_off;		/* F_ADDR: where the resolved address goes */
	int only;			/* 1 + enum nd_proto: a key of that protocol only; 0: any */
};

static const char *node_type_name(yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static const char *scalar(yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool want_scalar(struct cctx *cx, yaml_node_t *n, const char *key, const char *what)
{
	if (n->type == YAML_SCALAR_NODE)
		return true;
	ERR_AT(cx, n, "'%s' must be %s, not %s", key, what, node_type_name(n));
	return false;
}

static void read_field(struct cctx *cx, const struct field *f, yaml_node_t *v, void *target)
{
	char *dst = (char *)target + f->off;
	const char *s;
	uint64_t u;
	char *end;
	long long ll;

	switch (f->type) {
	case F_STR:
		if (!want_scalar(cx, v, f->key, "a string"))
			return;
		if (!*scalar(v)) {
			ERR_AT(cx, v, "'%s' must not be empty", f->key);
			return;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(scalar(v));
		return;
	case F_NAME:
		if (!want_scalar(cx, v, f->key, "a name"))
			return;
		s = scalar(v);
		if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(s)) {
			ERR_AT(cx, v, "'%s' must be a non-empty name of letters, digits, '-', '_' and '.' "
			       "(it appears in URLs and 'POOL/BACKEND' arguments), not '%s'", f->key, s);
			return;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		return;
	case F_INT:
		if (!want_scalar(cx, v, f->key, "a whole number"))
			return;
		s = scalar(v);
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (!*s || *end || errno) {
			ERR_AT(cx, v, "'%s' must be a whole number, not '%s'", f->key, s);
			return;
		}
		if (ll < f->min || ll > f->max) {
			ERR_AT(cx, v, "'%s' must be between %lld and %lld, not %lld",
			       f->key, f->min, f->max, ll);
			return;
		}
		*(int *)dst = (int)ll;
		return;
	case F_BOOL:
		if (!want_scalar(cx, v, f->key, "true or false"))
			return;
		s = scalar(v);
		if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
			*(bool *)dst = true;
		else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
			*(bool *)dst = false;
		else
			ERR_AT(cx, v, "'%s' must be true or false, not '%s'", f->key, s);
		return;
	case F_DURATION:
		if (!want_scalar(cx, v, f->key, "a duration"))
			return;
		if (config_parse_duration(scalar(v), &u) < 0) {
			ERR_AT(cx, v, "'%s' must be a duration such as 500ms, 10s, 2m or 1h, not '%s'",
			       f->key, scalar(v));
			return;
		}
		if ((long long)u < f->min || (long long)u > f->max) {
			ERR_AT(cx, v, "'%s' must be between %lldms and %lldms, not %s",
			       f->key, f->min, f->max, scalar(v));
			return;
		}
		*(uint64_t *)dst = u;
		return;
	case F_SIZE:
		if (!want_scalar(cx, v, f->key, "a size"))
			return;
		if (config_parse_size(scalar(v), &u) < 0) {
			ERR_AT(cx, v, "'%s' must be a size such as 8192, 16k or 10MiB, not '%s'",
			       f->key, scalar(v));
			return;
		}
		if ((long long)u < f->min || (long long)u > f->max) {
			ERR_AT(cx, v, "'%s' must be between %lld and %lld bytes, not %s",
			       f->key, f->min, f->max, scalar(v));
			return;
		}
		*(uint64_t *)dst = u;
		return;
	case F_ENUM:
		if (!want_scalar(cx, v, f->key, "a name"))
			return;
		for (int i = 0; f->names[i]; i++) {
			if (!strcmp(scalar(v), f->names[i])) {
				*(int *)dst = i;
				return;
			}
		}
		{
			char known[256] = "";

			for (int i = 0; f->names[i]; i++) {
				strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
				strncat(known, f->names[i], sizeof(known) - strlen(known) - 1);
			}
			ERR_AT(cx, v, "'%s' must be one of %s, not '%s'", f->key, known, scalar(v));
		}
		return;
	case F_ADDR: {
		const char *why;

		if (!want_scalar(cx, v, f->key, "an address"))
			return;
		if (config_parse_address(scalar(v), (struct sockaddr_storage *)((char *)target + f->addr_off), &why) < 0) {
			ERR_AT(cx, v, "'%s': invalid address '%s': %s", f->key, scalar(v), why);
			return;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(scalar(v));
		return;
	}
	case F_CUSTOM:
		f->fn(cx, v, target);
		return;
	}
}

/*
 * Read mapping n into target using fields[nfields]. Unknown keys, wrong
 * types and missing required keys are reported; known keys are applied.
 * `what` names the object in messages ("listener", "pool 'app'").
 */
/* Keys of one protocol given to an object of another: an error, not a
 * silently ignored setting. The object's "protocol" field says which. */
static void check_protocol_keys(struct cctx *cx, const struct field *fields, size_t nfields,
				yaml_node_t *const *keys, void *target, const char *what)
{
	const struct field *pf = NULL;
	int proto;

	for (size_t i = 0; i < nfields; i++)
		if (!strcmp(fields[i].key, "protocol") && keys[i])
			pf = &fields[i];
	if (!pf)
		return;
	proto = *(int *)(void *)((char *)target + pf->off);
	for (size_t i = 0; i < nfields; i++)
		if (keys[i] && fields[i].only && fields[i].only - 1 != proto)
			ERR_AT(cx, keys[i], "'%s' applies only to protocol %s, and this %s speaks %s",
			       fields[i].key, pf->names[fields[i].only - 1], what, pf->names[proto]);
}

static void read_mapping(struct cctx *cx, yaml_node_t *n, const struct field *fields,
			 size_t nfields, void *target, const char *what)
{
	bool seen[40] = { false };
	yaml_node_t *keys[40] = { NULL };
	yaml_node_pair_t *p;

	BUG_ON(nfields > ARRAY_LEN(seen));
	if (n->type != YAML_MAPPING_NODE) {
		ERR_AT(cx, n, "%s must be a mapping of keys to values, not %s", what, node_type_name(n));
		return;
	}
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(cx->doc, p->value);
		size_t i;

		if (k->type != YAML_SCALAR_NODE) {
			ERR_AT(cx, k, "keys of %s must be plain names", what);
			continue;
		}
		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].key, scalar(k)))
				break;
		if (i == nfields) {
			char known[512] = "";

			for (size_t j = 0; j < nfields; j++) {
				strncat(known, j ? ", " : "", sizeof(known) - strlen(known) - 1);
				strncat(known, fields[j].key, sizeof(known) - strlen(known) - 1);
			}
			ERR_AT(cx, k, "unknown key '%s' in %s (known keys: %s)", scalar(k), what, known);
			continue;
		}
		if (seen[i]) {
			ERR_AT(cx, k, "key '%s' given twice in %s", scalar(k), what);
			continue;
		}
		seen[i] = true;
		keys[i] = k;
		read_field(cx, &fields[i], v, target);
	}
	for (size_t i = 0; i < nfields; i++)
		if (fields[i].required && !seen[i])
			ERR_AT(cx, n, "%s is missing required key '%s'", what, fields[i].key);
	check_protocol_keys(cx, fields, nfields, keys, target, what);
}

/* ---- the schema -------------------------------------------------------- */

static const char *const proto_names[] = { "http", "pg", NULL };
static const char *const pool_mode_names[] = { "transaction", "session", NULL };
static const char *const pg_auth_names[] = { "scram-sha-256", "md5", "trust", NULL };
static const char *const balance_names[] = { "round_robin", "least_conn", NULL };
static const char *const underscore_names[] = { "drop", "pass", "refuse", NULL };

#define DUR_MAX (7LL * 24 * 3600 * 1000)

#define B(f) offsetof(struct backend_cfg, f)
static const struct field backend_fields[] = {
	{ .key = "name", .type = F_NAME, .off = B(name), .required = true },
	{ .key = "address", .type = F_ADDR, .off = B(address), .addr_off = B(addr), .required = true },
	{ .key = "weight", .type = F_INT, .off = B(weight), .min = 1, .max = 1000 },
};
#undef B

static void read_backends(struct cctx *cx, yaml_node_t *v, void *target);
static void read_health(struct cctx *cx, yaml_node_t *v, void *target);
static void read_server_auth(struct cctx *cx, yaml_node_t *v, void *target);

#define P(f) offsetof(struct pool_cfg, f)
static const struct field pool_fields[] = {
	{ .key = "name", .type = F_NAME, .off = P(name), .required = true },
	{ .key = "protocol", .type = F_ENUM, .off = P(protocol), .names = proto_names, .required = true },
	{ .key = "balance", .type = F_ENUM, .off = P(balance), .names = balance_names },
	{ .key = "backends", .type = F_CUSTOM, .off = P(backends), .fn = read_backends, .required = true },
	{ .key = "connect_timeout", .type = F_DURATION, .off = P(connect_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "response_timeout", .type = F_DURATION, .off = P(response_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "idle_timeout", .type = F_DURATION, .off = P(idle_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "max_idle", .type = F_INT, .off = P(max_idle), .min = 0, .max = 100000 },
	{ .key = "retries", .type = F_INT, .off = P(retries), .min = 0, .max = 10 },
	{ .key = "health", .type = F_CUSTOM, .fn = read_health },
	{ .key = "passive_fall", .type = F_INT, .off = P(passive_fall), .min = 0, .max = 1000 },
	{ .key = "slowstart", .type = F_DURATION, .off = P(slowstart_ms), .min = 0, .max = DUR_MAX },
	{ .key = "max_interim_responses", .type = F_INT, .off = P(max_interim_responses), .min = 0, .max = 1000000, .only = 1 + PROTO_HTTP },
	{ .key = "drain_tunnel_timeout", .type = F_DURATION, .off = P(drain_tunnel_timeout_ms), .min = 1, .max = DUR_MAX, .only = 1 + PROTO_HTTP },
	{ .key = "pool_mode", .type = F_ENUM, .off = P(pg.pool_mode), .names = pool_mode_names, .only = 1 + PROTO_PG },
	{ .key = "pool_size", .type = F_INT, .off = P(pg.pool_size), .min = 1, .max = 10000, .only = 1 + PROTO_PG },
	{ .key = "auth_file", .type = F_STR, .off = P(pg.auth_file), .only = 1 + PROTO_PG },
	{ .key = "auth_type", .type = F_ENUM, .off = P(pg.auth_type), .names = pg_auth_names, .only = 1 + PROTO_PG },
	{ .key = "monitor_user", .type = F_STR, .off = P(pg.monitor_user), .only = 1 + PROTO_PG },
	{ .key = "monitor_database", .type = F_STR, .off = P(pg.monitor_database), .only = 1 + PROTO_PG },
	{ .key = "query_wait_timeout", .type = F_DURATION, .off = P(pg.query_wait_timeout_ms), .min = 1, .max = DUR_MAX, .only = 1 + PROTO_PG },
	{ .key = "pause_timeout", .type = F_DURATION, .off = P(pg.pause_timeout_ms), .min = 1, .max = DUR_MAX, .only = 1 + PROTO_PG },
	{ .key = "promote_timeout", .type = F_DURATION, .off = P(pg.promote_timeout_ms), .min = 1, .max = DUR_MAX, .only = 1 + PROTO_PG },
	{ .key = "failover_hold", .type = F_DURATION, .off = P(pg.failover_hold_ms), .min = 0, .max = DUR_MAX, .only = 1 + PROTO_PG },
	{ .key = "fence_command", .type = F_STR, .off = P(pg.fence_command), .only = 1 + PROTO_PG },
	{ .key = "promote_command", .type = F_STR, .off = P(pg.promote_command), .only = 1 + PROTO_PG },
	{ .key = "max_prepared_statements", .type = F_INT, .off = P(pg.max_prepared_statements), .min = 1, .max = 100000, .only = 1 + PROTO_PG },
	{ .key = "server_auth", .type = F_CUSTOM, .fn = read_server_auth, .only = 1 + PROTO_PG },
};
#undef P

static const char *const health_type_names[] = { "tcp", "http", "pg", NULL };

struct health_tmp {
	struct health_cfg h;
	int type;			/* -1 until given */
	char *expect;
};

#define H(f) offsetof(struct health_tmp, f)
static const struct field health_fields[] = {
	{ .key = "type", .type = F_ENUM, .off = H(type), .names = health_type_names },
	{ .key = "path", .type = F_STR, .off = H(h.path) },
	{ .key = "method", .type = F_STR, .off = H(h.method) },
	{ .key = "host", .type = F_STR, .off = H(h.host) },
	{ .key = "expect", .type = F_STR, .off = H(expect) },
	{ .key = "interval", .type = F_DURATION, .off = H(h.interval_ms), .min = 10, .max = DUR_MAX },
	{ .key = "timeout", .type = F_DURATION, .off = H(h.timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "jitter", .type = F_DURATION, .off = H(h.jitter_ms), .min = 0, .max = DUR_MAX },
	{ .key = "rise", .type = F_INT, .off = H(h.rise), .min = 1, .max = 100 },
	{ .key = "fall", .type = F_INT, .off = H(h.fall), .min = 1, .max = 100 },
};
#undef H

/* server_auth: a list of methods (or one), e.g. [scram-sha-256, md5]. */
static void read_server_auth(struct cctx *cx, yaml_node_t *v, void *target)
{
	static const struct { const char *name; unsigned bit; } methods[] = {
		{ "scram-sha-256", PG_SERVER_AUTH_SCRAM }, { "md5", PG_SERVER_AUTH_MD5 },
		{ "password", PG_SERVER_AUTH_PASSWORD }, { "trust", PG_SERVER_AUTH_TRUST },
	};
	struct pool_cfg *p = target;
	unsigned bits = 0;
	int n = v->type == YAML_SEQUENCE_NODE ?
		(int)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;

	if (v->type == YAML_MAPPING_NODE || n == 0) {
		ERR_AT(cx, v, "'server_auth' must be a list of methods (scram-sha-256, md5, password, trust)");
		return;
	}
	for (int i = 0; i < n; i++) {
		yaml_node_t *item = v->type == YAML_SEQUENCE_NODE ?
				    yaml_document_get_node(cx->doc, v->data.sequence.items.start[i]) : v;
		size_t k;

		if (!want_scalar(cx, item, "server_auth", "a method name"))
			return;
		for (k = 0; k < ARRAY_LEN(methods) && strcmp(scalar(item), methods[k].name); k++)
			;
		if (k == ARRAY_LEN(methods)) {
			ERR_AT(cx, item, "'server_auth' methods are scram-sha-256, md5, password and trust, "
			       "not '%s'", scalar(item));
			return;
		}
		bits |= methods[k].bit;
	}
	p->pg.server_auth = bits;
}

/* "200", "200-399" or "2xx" -> [min, max]. */
static int parse_expect(const char *s, int *min, int *max)
{
	int a, b, n;

	if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] == 'x' && s[2] == 'x') {
		*min = (s[0] - '0') * 100;
		*max = *min + 99;
		return 0;
	}
	if (sscanf(s, "%3d-%3d%n", &a, &b, &n) == 2 && !s[n] && a >= 100 && a <= b && b <= 599) {
		*min = a;
		*max = b;
		return 0;
	}
	if (sscanf(s, "%3d%n", &a, &n) == 1 && !s[n] && a >= 100 && a <= 599) {
		*min = *max = a;
		return 0;
	}
	return -EINVAL;
}

static void read_health(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct pool_cfg *p = target;
	struct health_tmp t = { .h = p->health, .type = -1 };

	t.h.path = t.h.method = t.h.host = NULL;
	read_mapping(cx, v, health_fields, ARRAY_LEN(health_fields), &t, "health");
	t.h.typed = t.type >= 0 || t.h.path;
	if (t.type >= 0)
		t.h.type = (enum health_type)t.type;
	else
		t.h.type = t.h.path ? HEALTH_HTTP : HEALTH_TCP;
	if (t.expect && parse_expect(t.expect, &t.h.expect_min, &t.h.expect_max) < 0)
		ERR_AT(cx, v, "health.expect must be a status (200), a range (200-399) or a class (2xx), not '%s'",
		       t.expect);
	free(t.expect);
	if (t.h.path) {
		free(p->health.path);
		p->health.path = t.h.path;
	}
	if (t.h.method) {
		free(p->health.method);
		p->health.method = t.h.method;
	}
	if (t.h.host)
		p->health.host = t.h.host;
	t.h.path = p->health.path;
	t.h.method = p->health.method;
	t.h.host = p->health.host;
	p->health = t.h;
	if (p->health.type == HEALTH_TCP && (p->health.host || strcmp(p->health.path, "/")))
		ERR_AT(cx, v, "health: path and host apply to type http; remove them or set type: http");
}

#define L(f) offsetof(struct listener_cfg, f)
static const struct field listener_fields[] = {
	{ .key = "name", .type = F_NAME, .off = L(name), .required = true },
	{ .key = "protocol", .type = F_ENUM, .off = L(protocol), .names = proto_names, .required = true },
	{ .key = "bind", .type = F_ADDR, .off = L(bind), .addr_off = L(addr), .required = true },
	{ .key = "pool", .type = F_NAME, .off = L(pool_name), .required = true },
	{ .key = "backlog", .type = F_INT, .off = L(backlog), .min = 1, .max = 65535 },
	{ .key = "max_connections", .type = F_INT, .off = L(max_connections), .min = 1, .max = 10000000 },
	{ .key = "max_header_size", .type = F_SIZE, .off = L(max_header_size), .min = 256, .max = 1 << 20, .only = 1 + PROTO_HTTP },
	{ .key = "max_target_size", .type = F_SIZE, .off = L(max_target_size), .min = 16, .max = 1 << 20, .only = 1 + PROTO_HTTP },
	{ .key = "max_body_size", .type = F_SIZE, .off = L(max_body_size), .min = 0, .max = INT64_MAX, .only = 1 + PROTO_HTTP },
	{ .key = "header_timeout", .type = F_DURATION, .off = L(header_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "idle_timeout", .type = F_DURATION, .off = L(idle_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "client_timeout", .type = F_DURATION, .off = L(client_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "request_min_rate", .type = F_SIZE, .off = L(request_min_rate), .min = 0, .max = 1 << 30, .only = 1 + PROTO_HTTP },
	{ .key = "request_rate_grace", .type = F_DURATION, .off = L(request_rate_grace_ms), .min = 0, .max = DUR_MAX, .only = 1 + PROTO_HTTP },
	{ .key = "underscores_in_headers", .type = F_ENUM, .off = L(underscores_in_headers), .names = underscore_names, .only = 1 + PROTO_HTTP },
	{ .key = "forwarded_for", .type = F_BOOL, .off = L(forwarded_for), .only = 1 + PROTO_HTTP },
	{ .key = "forwarded_proto", .type = F_BOOL, .off = L(forwarded_proto), .only = 1 + PROTO_HTTP },
	{ .key = "via", .type = F_BOOL, .off = L(via), .only = 1 + PROTO_HTTP },
};
#undef L

/* F_SIZE writes uint64_t; these two listener sizes are size_t. */
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "size_t must be 64-bit");

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
static void read_buffers(struct cctx *cx, yaml_node_t *v, void *target);
static void read_listeners(struct cctx *cx, yaml_node_t *v, void *target);
static void read_pools(struct cctx *cx, yaml_node_t *v, void *target);

#define C(f) offsetof(struct config, f)
static const struct field top_fields[] = {
	{ .key = "workers", .type = F_INT, .off = C(workers), .min = 1, .max = 256 },
	{ .key = "pid_file", .type = F_STR, .off = C(pid_file) },
	{ .key = "state_file", .type = F_STR, .off = C(state_file) },
	{ .key = "shutdown_timeout", .type = F_DURATION, .off = C(shutdown_timeout_ms), .min = 1, .max = DUR_MAX },
	{ .key = "shutdown_idle_grace", .type = F_DURATION, .off = C(shutdown_idle_grace_ms), .min = 0, .max = DUR_MAX },
	{ .key = "admin", .type = F_CUSTOM, .fn = read_admin },
	{ .key = "log", .type = F_CUSTOM, .fn = read_log },
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
	read_mapping(cx, v, admin_fields, ARRAY_LEN(admin_fields), &t, "admin");
	if (t.socket) {
		free(c->admin_socket);
		c->admin_socket = t.socket;
	}
	if (t.listen && !t.token)
		ERR_AT(cx, v, "admin.listen needs admin.token: the TCP admin API changes what the "
		       "proxy does and refuses to run without a bearer token");
	if (t.token && strlen(t.token) < 16)
		ERR_AT(cx, v, "admin.token must be at least 16 characters (a random string, for "
		       "example from 'head -c 24 /dev/urandom | base64')");
	c->admin_listen = t.listen;
	c->admin_token = t.token;
	c->admin_addr = t.addr;
	c->admin_max_connections = t.max_connections;
	c->admin_timeout_ms = t.timeout_ms;
}

static void read_log(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct log_tmp t = { NULL, NULL };

	ND_UNUSED(target);
	read_mapping(cx, v, log_fields, ARRAY_LEN(log_fields), &t, "log");
	if (t.access) {
		free(cx->cfg->access_log);
		cx->cfg->access_log = t.access;
	}
	if (t.error) {
		if (!strcmp(t.error, "off")) {
			ERR_AT(cx, v, "log.error cannot be 'off': errors must go somewhere (stderr or a file)");
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
	read_mapping(cx, v, buffers_fields, ARRAY_LEN(buffers_fields), &t, "buffers");
	cx->cfg->buffer_size = t.size;
	cx->cfg->max_buffers = (unsigned)t.max;
}

/* Read a list of mappings, each into a fresh element of `size` bytes. */
static void *read_list(struct cctx *cx, yaml_node_t *v, const char *key, size_t size,
		       int *count, void (*one)(struct cctx *, yaml_node_t *, void *, int))
{
	char *arr;
	int n;

	if (v->type != YAML_SEQUENCE_NODE) {
		ERR_AT(cx, v, "'%s' must be a list (items starting with '- '), not %s", key, node_type_name(v));
		return NULL;
	}
	n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n == 0) {
		ERR_AT(cx, v, "'%s' must name at least one item", key);
		return NULL;
	}
	arr = xcalloc((size_t)n, size);
	for (int i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(cx->doc, v->data.sequence.items.start[i]);

		one(cx, item, arr + (size_t)i * size, i);
	}
	*count = n;
	return arr;
}

static void one_backend(struct cctx *cx, yaml_node_t *n, void *dst, int i)
{
	struct backend_cfg *b = dst;

	b->weight = 1;
	b->index = i;
	read_mapping(cx, n, backend_fields, ARRAY_LEN(backend_fields), b, "backend");
}

static void read_backends(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct pool_cfg *p = target;

	p->backends = read_list(cx, v, "backends", sizeof(struct backend_cfg),
				&p->nbackends, one_backend);
}

static void one_pool(struct cctx *cx, yaml_node_t *n, void *dst, int i)
{
	struct pool_cfg *p = dst;

	p->index = i;
	p->line = (int)n->start_mark.line + 1;
	p->balance = BALANCE_ROUND_ROBIN;
	p->connect_timeout_ms = 3000;
	p->response_timeout_ms = 60000;
	p->idle_timeout_ms = 30000;
	p->max_idle = 64;
	p->retries = 2;
	p->passive_fall = 3;
	p->drain_tunnel_timeout_ms = 60000;
	p->max_interim_responses = 1000;
	p->pg = (struct pg_pool_cfg){
		.pool_mode = PG_POOL_TRANSACTION, .pool_size = 20, .auth_type = PG_CLIENT_AUTH_SCRAM,
		.query_wait_timeout_ms = 120000, .pause_timeout_ms = 10000,
		.promote_timeout_ms = 30000, .failover_hold_ms = 10000, .max_prepared_statements = 1000,
		.server_auth = PG_SERVER_AUTH_SCRAM | PG_SERVER_AUTH_MD5 | PG_SERVER_AUTH_TRUST,
	};
	p->health = (struct health_cfg){
		.type = HEALTH_TCP, .path = xstrdup("/"), .method = xstrdup("GET"),
		.expect_min = 200, .expect_max = 399, .interval_ms = 2000, .timeout_ms = 1000,
		.rise = 2, .fall = 2,
	};
	read_mapping(cx, n, pool_fields, ARRAY_LEN(pool_fields), p, "pool");
}

static void read_pools(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct config *c = target;

	c->pools = read_list(cx, v, "pools", sizeof(struct pool_cfg), &c->npools, one_pool);
}

static void one_listener(struct cctx *cx, yaml_node_t *n, void *dst, int i)
{
	struct listener_cfg *l = dst;

	l->index = i;
	l->backlog = 511;
	l->max_connections = 10000;
	l->max_header_size = 8192;
	l->max_target_size = 4096;
	l->max_body_size = 0;
	l->header_timeout_ms = 10000;
	l->idle_timeout_ms = 60000;
	l->client_timeout_ms = 60000;
	l->request_min_rate = 500;
	l->request_rate_grace_ms = 10000;
	l->forwarded_for = l->forwarded_proto = l->via = true;
	read_mapping(cx, n, listener_fields, ARRAY_LEN(listener_fields), l, "listener");
}

static void read_listeners(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct config *c = target;

	c->listeners = read_list(cx, v, "listeners", sizeof(struct listener_cfg),
				 &c->nlisteners, one_listener);
}

/* ---- cross-object checks ----------------------------------------------- */

/* The value of `key` in mapping `map`, or NULL (also when map is not a mapping). */
static yaml_node_t *map_get(struct cctx *cx, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, p->key);

		if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), key))
			return yaml_document_get_node(cx->doc, p->value);
	}
	return NULL;
}

/* Item idx of sequence seq, or NULL. */
static yaml_node_t *seq_get(struct cctx *cx, yaml_node_t *seq, int idx)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE ||
	    idx >= (int)(seq->data.sequence.items.top - seq->data.sequence.items.start))
		return NULL;
	return yaml_document_get_node(cx->doc, seq->data.sequence.items.start[idx]);
}

/* Where to point a message about `key` (the key's value, else the nearest
 * enclosing node that exists): item idx of top-level list `list`. */
static yaml_node_t *find_node(struct cctx *cx, const char *list, int idx, const char *key)
{
	yaml_node_t *root = yaml_document_get_root_node(cx->doc);
	yaml_node_t *item = seq_get(cx, map_get(cx, root, list), idx);
	yaml_node_t *v = key ? map_get(cx, item, key) : NULL;

	return v ? v : item ? item : root;
}

/* The same for key of backend idx of pool `pool`. */
static yaml_node_t *backend_node(struct cctx *cx, int pool, int idx, const char *key)
{
	yaml_node_t *pn = find_node(cx, "pools", pool, "backends");
	yaml_node_t *b = seq_get(cx, pn, idx);
	yaml_node_t *v = map_get(cx, b, key);

	return v ? v : b ? b : pn;
}

/* The value of top-level key `key`, or the root when it is absent. */
static yaml_node_t *top_node(struct cctx *cx, const char *key)
{
	yaml_node_t *root = yaml_document_get_root_node(cx->doc);
	yaml_node_t *v = map_get(cx, root, key);

	return v ? v : root;
}

/* What a pool needs given its protocol: pg pools an auth file and a
 * monitor user, and health checks that speak their protocol. */
static void check_pool_protocol(struct cctx *cx, struct pool_cfg *p)
{
	yaml_node_t *n = find_node(cx, "pools", p->index, "protocol");

	if (p->protocol == PROTO_PG) {
		if (!p->health.typed)
			p->health.type = HEALTH_PG;
		if (p->health.type != HEALTH_PG)
			ERR_AT(cx, n, "pool '%s' speaks pg: its health checks are of type pg (SELECT "
			       "pg_is_in_recovery() as monitor_user, which finds the primary)", p->name);
		if (!p->pg.auth_file)
			ERR_AT(cx, n, "pool '%s' speaks pg and needs 'auth_file' (lines \"user\" \"secret\")", p->name);
		else if (pg_authfile_load(p->pg.auth_file, &p->pg.auth, cx->errs) == 0 &&
			 p->pg.monitor_user && !pg_authfile_find(p->pg.auth, p->pg.monitor_user))
			ERR_AT(cx, find_node(cx, "pools", p->index, "monitor_user"),
			       "monitor_user '%s' of pool '%s' has no entry in %s", p->pg.monitor_user,
			       p->name, p->pg.auth_file);
		if (!p->pg.monitor_user)
			ERR_AT(cx, n, "pool '%s' speaks pg and needs 'monitor_user' (a role whose secret is in "
			       "auth_file, for health checks and promotion)", p->name);
		if (!p->pg.monitor_database)
			p->pg.monitor_database = xstrdup("postgres");
	} else if (p->health.type == HEALTH_PG) {
		ERR_AT(cx, n, "pool '%s' speaks http: health type 'pg' applies to pg pools", p->name);
	}
}

static void check_cross(struct cctx *cx)
{
	struct config *c = cx->cfg;

	if ((unsigned long)c->max_buffers < 16ul * (unsigned long)c->workers)
		ERR_AT(cx, top_node(cx, "buffers"),
		       "buffers.max (%u) must allow at least 16 buffers per worker (%d workers)",
		       c->max_buffers, c->workers);

	for (int i = 0; i < c->npools; i++) {
		struct pool_cfg *p = &c->pools[i];

		for (int j = 0; j < i && p->name; j++) {
			if (c->pools[j].name && !strcmp(c->pools[j].name, p->name)) {
				ERR_AT(cx, find_node(cx, "pools", i, "name"),
				       "duplicate pool name '%s' (first defined at line %d); pool names must be unique",
				       p->name, c->pools[j].line);
				break;
			}
		}
		for (int b = 0; b < p->nbackends; b++) {
			for (int j = 0; j < b; j++) {
				if (p->backends[b].name && p->backends[j].name &&
				    !strcmp(p->backends[b].name, p->backends[j].name)) {
					yaml_node_t *first = backend_node(cx, i, j, "name");

					ERR_AT(cx, backend_node(cx, i, b, "name"),
					       "duplicate backend name '%s' in pool '%s' (first defined at line %d)",
					       p->backends[b].name, p->name ? p->name : "?",
					       (int)first->start_mark.line + 1);
					break;
				}
			}
		}
	}
	for (int i = 0; i < c->npools; i++)
		check_pool_protocol(cx, &c->pools[i]);
	for (int i = 0; i < c->nlisteners; i++) {
		struct listener_cfg *l = &c->listeners[i];

		for (int j = 0; j < i && l->name; j++) {
			if (c->listeners[j].name && !strcmp(c->listeners[j].name, l->name)) {
				yaml_node_t *first = find_node(cx, "listeners", j, "name");

				ERR_AT(cx, find_node(cx, "listeners", i, "name"),
				       "duplicate listener name '%s' (first defined at line %d)",
				       l->name, (int)first->start_mark.line + 1);
				break;
			}
		}
		for (int j = 0; j < i && l->bind; j++) {
			if (c->listeners[j].bind && addr_clash(&c->listeners[j].addr, &l->addr)) {
				ERR_AT(cx, find_node(cx, "listeners", i, "bind"),
				       "listeners '%s' and '%s' both bind %s; each address (and port, with 0.0.0.0 or [::]) can have one listener",
				       c->listeners[j].name ? c->listeners[j].name : "?",
				       l->name ? l->name : "?", l->bind);
				break;
			}
		}
		if (l->pool_name) {
			for (int j = 0; j < c->npools; j++)
				if (c->pools[j].name && !strcmp(c->pools[j].name, l->pool_name))
					l->pool = &c->pools[j];
			if (!l->pool)
				ERR_AT(cx, find_node(cx, "listeners", i, "pool"),
				       "listener '%s' refers to pool '%s', which is not defined under 'pools'",
				       l->name ? l->name : "?", l->pool_name);
			else if (l->pool->protocol != l->protocol)
				ERR_AT(cx, find_node(cx, "listeners", i, "pool"),
				       "listener '%s' speaks %s but pool '%s' speaks %s",
				       l->name ? l->name : "?", proto_names[l->protocol],
				       l->pool->name, proto_names[l->pool->protocol]);
		}
		if (l->max_header_size + 1024 > c->buffer_size)
			ERR_AT(cx, find_node(cx, "listeners", i, "max_header_size"),
			       "max_header_size (%zu) must leave 1024 bytes of the buffer size (%zu) for "
			       "added headers; raise buffers.size or lower max_header_size",
			       l->max_header_size, c->buffer_size);
		if (l->max_target_size >= l->max_header_size)
			ERR_AT(cx, find_node(cx, "listeners", i, "max_target_size"),
			       "max_target_size (%zu) must be below max_header_size (%zu)",
			       l->max_target_size, l->max_header_size);
	}
}

/* ---- entry points ------------------------------------------------------ */

/* nodown.state in the directory of the admin socket. */
static char *default_state_file(const char *admin_socket)
{
	const char *slash = strrchr(admin_socket, '/');
	size_t dir = slash ? (size_t)(slash - admin_socket) + 1 : 0;
	char *p = xmalloc(dir + sizeof("nodown.state"));

	memcpy(p, admin_socket, dir);
	strcpy(p + dir, "nodown.state");
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

static int load_parser(yaml_parser_t *parser, const char *name, struct config **out,
		       struct errlist *errs)
{
	yaml_document_t doc;
	struct cctx cx;
	struct config *c;
	yaml_node_t *root;
	int nerr = errs->n;

	*out = NULL;
	if (!yaml_parser_load(parser, &doc)) {
		errlist_add(errs, name, (int)parser->problem_mark.line + 1,
			    (int)parser->problem_mark.column + 1, "YAML syntax error: %s%s%s",
			    parser->problem ? parser->problem : "unknown",
			    parser->context ? " " : "", parser->context ? parser->context : "");
		return -EINVAL;
	}
	c = xcalloc(1, sizeof(*c));
	config_defaults(c, name);
	cx = (struct cctx){ .doc = &doc, .file = name, .errs = errs, .cfg = c };
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		errlist_add(errs, name, 1, 1, "the file is empty; a config needs at least 'listeners' and 'pools'");
	} else {
		read_mapping(&cx, root, top_fields, ARRAY_LEN(top_fields), c, "the top level");
		if (!c->state_file)
			c->state_file = default_state_file(c->admin_socket);
		if (root->type == YAML_MAPPING_NODE)
			check_cross(&cx);
	}
	yaml_document_delete(&doc);
	if (errs->n != nerr) {
		config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
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
	FILE *f;
	int r;

	*out = NULL;
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

void config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->npools; i++) {
		struct pool_cfg *p = &c->pools[i];

		for (int b = 0; b < p->nbackends; b++) {
			free(p->backends[b].name);
			free(p->backends[b].address);
		}
		free(p->backends);
		free(p->name);
		free(p->health.path);
		free(p->health.method);
		free(p->health.host);
		free(p->pg.auth_file);
		pg_authfile_free(p->pg.auth);
		free(p->pg.monitor_user);
		free(p->pg.monitor_database);
		free(p->pg.fence_command);
		free(p->pg.promote_command);
	}
	free(c->pools);
	for (int i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].bind);
		free(c->listeners[i].pool_name);
	}
	free(c->listeners);
	free(c->path);
	free(c->admin_socket);
	free(c->admin_listen);
	free(c->admin_token);
	free(c->pid_file);
	free(c->state_file);
	free(c->access_log);
	free(c->error_log);
	free(c);
}
