/*
 * admin.c - the admin API server: HTTP/1.1 + JSON on a Unix socket.
 *
 * Owns: the admin socket, its connections, and the JSON that describes the
 *       running daemon.
 * Invariant: one request per connection (answered with Connection: close);
 *            a request head larger than ADMIN_MAX_HEAD is refused with 431.
 *            Counters are read with relaxed atomics: a status is a
 *            consistent-enough snapshot, never a lock on the data path.
 * Runs on: the control thread's loop only.
 *
 * Endpoints: GET /status; GET /metrics (Prometheus); POST /reload;
 * POST /pools/POOL/backends/BACKEND/ACTION with ACTION drain, ready, maint
 * or weight?value=N. Every state-changing command of the CLI is one
 * endpoint here; the CLI has no other way in.
 */
#include "admin.h"

#include <errno.h>
#include <jansson.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "../pg/switchover.h"
#include "http/parse.h"

#define ADMIN_MAX_HEAD 8192

struct admin_conn {
	union {
		uv_stream_t stream;
		uv_pipe_t pipe;		/* on the admin socket */
		uv_tcp_t tcp;		/* on admin.listen: a token is required */
	} h;
	bool need_token;
	uv_write_t wreq;
	struct list node;		/* on admin->conns */
	struct admin *a;		/* borrowed */
	char *resp;			/* owned: the response being written */
	size_t len;			/* bytes of head read */
	char head[ADMIN_MAX_HEAD];
};

static const char *const class_names[6] = { "failed", "1xx", "2xx", "3xx", "4xx", "5xx" };

static json_t *backend_json(struct daemon *d, int p, int b)
{
	const struct backend_cfg *bc = &d->cfg->pools[p].backends[b];
	struct backend_live *st = d->live[p][b];
	json_t *resp = json_object();

	for (int k = 0; k < 6; k++)
		json_object_set_new(resp, class_names[k],
				    json_integer((json_int_t)STAT_GET(st->responses[k])));
	static const char *const roles[] = { "unknown", "primary", "standby" };

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:o}",
			 "name", bc->name, "address", bc->address,
			 "role", roles[STAT_GET(st->role)],
			 "state", backend_state_name(st),
			 "health", STAT_GET(st->health) == HEALTH_UP ? "up" : "down",
			 "state_source", STAT_GET(st->health) == HEALTH_DOWN ? "health" :
					  atomic_load(&st->by_operator) ? "operator" : "config",
			 "weight", STAT_GET(st->weight), "config_weight", bc->weight,
			 "active", STAT_GET(st->active),
			 "requests", (json_int_t)STAT_GET(st->requests),
			 "connect_errors", (json_int_t)STAT_GET(st->connect_errors),
			 "responses", resp);
}

char *admin_status_json(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *root = json_object(), *ls = json_array(), *ps = json_array();
	char *out;

	json_object_set_new(root, "pid", json_integer(getpid()));
	json_object_set_new(root, "workers", json_integer(c->workers));
	json_object_set_new(root, "uptime_seconds",
			    json_integer((json_int_t)((uv_now(d->loop) - d->started_ms) / 1000)));
	json_object_set_new(root, "stopping", json_boolean(d->stop_signals > 0));
	json_object_set_new(root, "config", json_string(c->path));
	json_object_set_new(root, "generation", json_integer(d->snap->gen));
	for (int i = 0; i < c->nlisteners; i++) {
		const struct listener_cfg *lc = &c->listeners[i];
		struct listener *l = d->snap->listeners[i];

		json_array_append_new(ls, json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I}",
			"name", lc->name, "protocol", config_proto_name(lc->protocol), "bind", lc->bind, "pool", lc->pool_name,
			"active", atomic_load(&l->active),
			"accepted", (json_int_t)atomic_load(&l->accepted),
			"refused", (json_int_t)atomic_load(&l->refused)));
	}
	for (int i = 0; i < c->npools; i++) {
		const struct pool_cfg *pc = &c->pools[i];
		json_t *bs = json_array();

		for (int b = 0; b < pc->nbackends; b++)
			json_array_append_new(bs, backend_json(d, i, b));
		json_t *pj = json_pack("{s:s, s:s, s:s, s:o}", "name", pc->name,
			"protocol", config_proto_name(pc->protocol),
			"balance", pc->balance == BALANCE_LEAST_CONN ? "least_conn" : "round_robin",
			"backends", bs);

		if (pc->protocol == PROTO_PG) {
			struct pool_live *pl = d->snap->pools[i];
			json_t *sw = pg_switchover_json(d, pc->name);

			json_object_set_new(pj, "pool_mode", json_string(pc->pg.pool_mode == PG_POOL_SESSION ?
									"session" : "transaction"));
			json_object_set_new(pj, "paused", json_boolean(atomic_load(&pl->paused)));
			json_object_set_new(pj, "transactions", json_integer(atomic_load(&pl->in_tx)));
			json_object_set_new(pj, "switchover", sw ? sw : json_null());
		}
		json_array_append_new(ps, pj);
	}
	json_object_set_new(root, "listeners", ls);
	json_object_set_new(root, "pools", ps);
	out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!out)
		nd_die("cannot encode the status as JSON");
	return out;
}

/* ---- connections --------------------------------------------------------- */

static void conn_closed_cb(uv_handle_t *h)
{
	struct admin_conn *ac = h->data;

	free(ac->resp);
	free(ac);
}

static void conn_close(struct admin_conn *ac)
{
	if (uv_is_closing((uv_handle_t *)&ac->h.stream))
		return;
	list_del(&ac->node);
	uv_close((uv_handle_t *)&ac->h.stream, conn_closed_cb);
}

static void written_cb(uv_write_t *req, int status)
{
	ND_UNUSED(status);
	conn_close(req->data);
}

static void respond(struct admin_conn *ac, int status, const char *reason, const char *type,
		    const char *body)
{
	size_t bl = strlen(body), n = bl + 256;
	uv_buf_t b;

	uv_read_stop(&ac->h.stream);
	ac->resp = xmalloc(n);
	n = (size_t)snprintf(ac->resp, n,
			     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			     "Connection: close\r\n\r\n%s", status, reason, type, bl, body);
	b = uv_buf_init(ac->resp, (unsigned)n);
	if (uv_write(&ac->wreq, &ac->h.stream, &b, 1, written_cb) < 0)
		conn_close(ac);
}

static void respond_error(struct admin_conn *ac, int status, const char *reason, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	char *s = json_dumps(j, 0), *body = xmalloc(strlen(s) + 2);

	sprintf(body, "%s\n", s);
	free(s);
	json_decref(j);
	respond(ac, status, reason, "application/json", body);
	free(body);
}

static void respond_json_status(struct admin_conn *ac, int status, const char *reason, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER), *body;

	json_decref(j);
	body = xmalloc(strlen(s) + 2);
	sprintf(body, "%s\n", s);
	free(s);
	respond(ac, status, reason, "application/json", body);
	free(body);
}

static void respond_json(struct admin_conn *ac, json_t *j)
{
	respond_json_status(ac, 200, "OK", j);
}

/* Names of the items of a list, for "known: a, b" in messages. */
static void names_of(char *out, size_t n, const char *const *names, int count)
{
	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		strncat(out, i ? ", " : "", n - strlen(out) - 1);
		strncat(out, names[i], n - strlen(out) - 1);
	}
}

/*
 * POST /pools/POOL/backends/BACKEND/ACTION[?value=N]; ACTION is drain,
 * ready, maint or weight (value 0-1000). Answers the backend's JSON.
 */
static void route_backend(struct admin_conn *ac, char *path)
{
	struct daemon *d = ac->a->d;
	const struct config *c = d->cfg;
	char *pool = path + strlen("/pools/"), *be, *action, *query, msg[3072], known[768];
	const char *names[256];
	int p, b, weight = -1, state = -1;

	be = strstr(pool, "/backends/");
	if (!be) {
		respond_error(ac, 404, "Not Found", "expected /pools/POOL/backends/BACKEND/ACTION");
		return;
	}
	*be = '\0';
	be += strlen("/backends/");
	action = strchr(be, '/');
	if (!action) {
		respond_error(ac, 404, "Not Found", "expected /pools/POOL/backends/BACKEND/ACTION");
		return;
	}
	*action++ = '\0';
	query = strchr(action, '?');
	if (query)
		*query++ = '\0';
	for (p = 0; p < c->npools && strcmp(c->pools[p].name, pool); p++)
		names[p < 256 ? p : 255] = c->pools[p].name;
	if (p == c->npools) {
		names_of(known, sizeof(known), names, c->npools < 256 ? c->npools : 256);
		snprintf(msg, sizeof(msg), "no pool '%.200s' (pools: %s)", pool, known);
		respond_error(ac, 404, "Not Found", msg);
		return;
	}
	for (b = 0; b < c->pools[p].nbackends && strcmp(c->pools[p].backends[b].name, be); b++)
		names[b < 256 ? b : 255] = c->pools[p].backends[b].name;
	if (b == c->pools[p].nbackends) {
		names_of(known, sizeof(known), names, b < 256 ? b : 256);
		snprintf(msg, sizeof(msg), "no backend '%.200s' in pool '%.200s' (backends: %s)", be, pool, known);
		respond_error(ac, 404, "Not Found", msg);
		return;
	}
	if (!strcmp(action, "drain")) {
		state = BACKEND_DRAINING;
	} else if (!strcmp(action, "ready")) {
		state = BACKEND_READY;
	} else if (!strcmp(action, "maint")) {
		state = BACKEND_MAINT;
	} else if (!strcmp(action, "weight")) {
		char *end;
		long v = query && !strncmp(query, "value=", 6) ? strtol(query + 6, &end, 10) : -1;

		if (!query || strncmp(query, "value=", 6) || !query[6] || *end || v < 0 || v > 1000) {
			respond_error(ac, 400, "Bad Request", "weight needs ?value=N with N from 0 to 1000");
			return;
		}
		weight = (int)v;
	} else {
		snprintf(msg, sizeof(msg), "unknown action '%.200s' (actions: drain, ready, maint, weight)", action);
		respond_error(ac, 404, "Not Found", msg);
		return;
	}
	daemon_set_backend(d, p, b, state, weight);
	respond_json(ac, backend_json(d, p, b));
}

/*
 * POST /pools/POOL/switchover?to=BACKEND[&pause_timeout=D]: start one
 * (202); GET /pools/POOL/switchover: the running or last one's report.
 */
static void route_switchover(struct admin_conn *ac, char *path, bool post)
{
	char *pool = path + strlen("/pools/"), *rest = strstr(pool, "/switchover"), *q, *to = NULL;
	uint64_t pause_ms = 0;
	const char *why;
	json_t *j;

	*rest = '\0';
	rest += strlen("/switchover");
	q = *rest == '?' ? rest + 1 : NULL;
	if (*rest && *rest != '?') {
		respond_error(ac, 404, "Not Found", "expected /pools/POOL/switchover");
		return;
	}
	for (char *kv = q ? strtok(q, "&") : NULL; kv; kv = strtok(NULL, "&")) {
		if (!strncmp(kv, "to=", 3))
			to = kv + 3;
		else if (!strncmp(kv, "pause_timeout=", 14) && config_parse_duration(kv + 14, &pause_ms) == 0)
			continue;
		else {
			respond_error(ac, 400, "Bad Request", "parameters: to=BACKEND, pause_timeout=DURATION");
			return;
		}
	}
	if (!post) {
		j = pg_switchover_json(ac->a->d, pool);
		if (!j)
			respond_error(ac, 404, "Not Found", "no switchover of this pool since nodown started");
		else
			respond_json(ac, j);
		return;
	}
	if (!to || !*to) {
		respond_error(ac, 400, "Bad Request", "POST /pools/POOL/switchover?to=BACKEND");
		return;
	}
	if (pg_switchover_start(ac->a->d, pool, to, pause_ms, &why) < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "switchover of pool '%.100s' to '%.100s' refused: %s", pool, to, why);
		respond_error(ac, 409, "Conflict", msg);
		return;
	}
	respond_json_status(ac, 202, "Accepted", pg_switchover_json(ac->a->d, pool));
}

/* POST /reload: 200 with a summary, or 400 with every reason it was refused. */
static void route_reload(struct admin_conn *ac)
{
	struct errlist errs = { 0 };
	char summary[512];
	json_t *j;

	if (daemon_reload(ac->a->d, &errs, summary, sizeof(summary)) == 0) {
		respond_json(ac, json_pack("{s:b, s:i, s:s}", "reloaded", 1,
					   "generation", ac->a->d->snap->gen, "summary", summary));
		return;
	}
	j = json_pack("{s:s, s:i, s:[]}", "error", "reload refused; the running config is unchanged",
		      "generation", ac->a->d->snap->gen, "errors");
	for (int i = 0; i < errs.n; i++)
		json_array_append_new(json_object_get(j, "errors"), json_string(errs.msgs[i]));
	errlist_free(&errs);
	respond_json_status(ac, 400, "Bad Request", j);
}

static void route(struct admin_conn *ac, const char *p, const struct http_head *h)
{
	char path[1024];

	if (h->target.len >= sizeof(path)) {
		respond_error(ac, 414, "URI Too Long", "request target too long");
		return;
	}
	memcpy(path, p + h->target.off, h->target.len);
	path[h->target.len] = '\0';
	if (!strcmp(path, "/metrics")) {
		char *text;

		if (!http_span_is(p, h->method, "get")) {
			respond_error(ac, 405, "Method Not Allowed", "use GET /metrics");
			return;
		}
		text = metrics_render(ac->a->d);
		respond(ac, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text);
		free(text);
		return;
	}
	if (!strcmp(path, "/reload")) {
		if (!http_span_is(p, h->method, "post"))
			respond_error(ac, 405, "Method Not Allowed", "use POST /reload");
		else
			route_reload(ac);
		return;
	}
	if (!strncmp(path, "/pools/", 7) && strstr(path, "/switchover")) {
		route_switchover(ac, path, http_span_is(p, h->method, "post"));
		return;
	}
	if (!strncmp(path, "/pools/", 7)) {
		if (!http_span_is(p, h->method, "post")) {
			respond_error(ac, 405, "Method Not Allowed", "backend actions take POST");
			return;
		}
		route_backend(ac, path);
		return;
	}
	if (http_span_is(p, h->target, "/status")) {
		char *json, *body;

		if (!http_span_is(p, h->method, "get")) {
			respond_error(ac, 405, "Method Not Allowed", "use GET /status");
			return;
		}
		json = admin_status_json(ac->a->d);
		body = xmalloc(strlen(json) + 2);
		sprintf(body, "%s\n", json);
		free(json);
		respond(ac, 200, "OK", "application/json", body);
		free(body);
		return;
	}
	respond_error(ac, 404, "Not Found", "unknown endpoint; known: GET /status, GET /metrics, "
		      "POST /reload, POST /pools/POOL/backends/BACKEND/{drain,ready,maint,weight?value=N}, "
		      "GET|POST /pools/POOL/switchover[?to=BACKEND]");
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct admin_conn *ac = h->data;

	ND_UNUSED(hint);
	*b = uv_buf_init(ac->head + ac->len, (unsigned)(sizeof(ac->head) - ac->len));
}

/* Does the (already validated) head carry "Authorization: Bearer TOKEN"?
 * The comparison takes the same time wherever the first difference is. */
static bool token_ok(struct admin *a, const char *head, size_t n)
{
	const char *p = head, *end = head + n, *v, *eol;
	size_t tl = strlen(a->token);

	while ((p = memchr(p, '\n', (size_t)(end - p))) && p + 1 < end) {
		p++;
		if ((size_t)(end - p) < 14 || strncasecmp(p, "authorization:", 14))
			continue;
		v = p + 14;
		while (*v == ' ' || *v == '\t')
			v++;
		eol = memchr(v, '\r', (size_t)(end - v));
		if (!eol || (size_t)(eol - v) != 7 + tl || strncasecmp(v, "bearer ", 7))
			return false;
		{
			unsigned char diff = 0;

			for (size_t i = 0; i < tl; i++)
				diff |= (unsigned char)(v[7 + i] ^ a->token[i]);
			return diff == 0;
		}
	}
	return false;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct admin_conn *ac = s->data;
	struct http_head h;
	const char *why;
	long end;

	ND_UNUSED(b);
	if (n < 0 || (n == 0 && ac->len == sizeof(ac->head))) {
		conn_close(ac);
		return;
	}
	ac->len += (size_t)n;
	end = http_head_end(ac->head, ac->len, ac->len - (size_t)n);
	if (end < 0 || (end > 0 && http_scan_head(ac->head, (size_t)end, true, &h, &why) != 0)) {
		respond_error(ac, 400, "Bad Request", "malformed HTTP request");
		return;
	}
	if (end == 0) {
		if (ac->len == sizeof(ac->head))
			respond_error(ac, 431, "Request Header Fields Too Large", "request head too large");
		return;
	}
	if (ac->need_token && !token_ok(ac->a, ac->head, (size_t)end)) {
		respond_error(ac, 401, "Unauthorized",
			      "this admin listener needs 'Authorization: Bearer <admin.token>'");
		return;
	}
	route(ac, ac->head, &h);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct admin *a = server->data;
	struct admin_conn *ac;

	if (status < 0)
		return;
	ac = xcalloc(1, sizeof(*ac));
	ac->a = a;
	ac->need_token = server->type == UV_TCP;
	if (ac->need_token)
		uv_tcp_init(server->loop, &ac->h.tcp);
	else
		uv_pipe_init(server->loop, &ac->h.pipe, 0);
	ac->h.stream.data = ac->wreq.data = ac;
	list_append(&a->conns, &ac->node);
	if (uv_accept(server, &ac->h.stream) != 0) {
		conn_close(ac);
		return;
	}
	uv_read_start(&ac->h.stream, alloc_cb, read_cb);
}

/* Is something answering on path? A leftover file from a crash is not. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

int admin_start(struct admin *a, struct daemon *d, uv_loop_t *loop, const char *path,
		const char **why)
{
	struct sockaddr_un sa;
	struct stat st;
	int r;

	memset(a, 0, sizeof(*a));
	a->d = d;
	list_init(&a->conns);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*why = "the admin socket path is too long for a Unix socket (107 bytes at most)";
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*why = "a file that is not a socket is in the way; remove it or change admin.socket";
			return -EEXIST;
		}
		if (socket_alive(path)) {
			*why = "another process (another nodown?) is serving on it; stop it or change admin.socket";
			return -EADDRINUSE;
		}
		unlink(path);	/* stale, left by a process that did not stop cleanly */
	}
	uv_pipe_init(loop, &a->server, 0);
	a->server.data = a;
	r = uv_pipe_bind(&a->server, path);
	if (r == 0) {
		chmod(path, 0600);	/* the admin API can change what the proxy does */
		r = uv_listen((uv_stream_t *)&a->server, 64, connection_cb);
	}
	if (r < 0) {
		*why = uv_strerror(r);
		uv_close((uv_handle_t *)&a->server, NULL);
		return r;
	}
	a->path = xstrdup(path);
	a->open = true;
	return 0;
}

int admin_listen_tcp(struct admin *a, uv_loop_t *loop, const struct sockaddr_storage *addr,
		     const char *token)
{
	int r;

	uv_tcp_init(loop, &a->tcp_server);
	a->tcp_server.data = a;
	a->token = token;
	r = uv_tcp_bind(&a->tcp_server, (const struct sockaddr *)addr, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&a->tcp_server, 64, connection_cb);
	if (r < 0) {
		uv_close((uv_handle_t *)&a->tcp_server, NULL);
		return r;
	}
	a->tcp_open = true;
	return 0;
}

void admin_stop(struct admin *a)
{
	struct list *pos, *tmp;

	if (!a->open)
		return;
	a->open = false;
	uv_close((uv_handle_t *)&a->server, NULL);
	if (a->tcp_open) {
		a->tcp_open = false;
		uv_close((uv_handle_t *)&a->tcp_server, NULL);
	}
	list_for_each_safe(pos, tmp, &a->conns)
		conn_close(container_of(pos, struct admin_conn, node));
	unlink(a->path);
	free(a->path);
	a->path = NULL;
}
