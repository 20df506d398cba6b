/*
 * admin.c - the admin API server: HTTP/1.1 + JSON on a Unix socket, and
 * optionally on a TCP address where a bearer token is required.
 *
 * Owns: the admin sockets, their connections, its own copy of the token
 *       and limits (a reload frees the config they came from), and the
 *       JSON that describes the running daemon.
 * Invariants: one request per connection (answered with Connection:
 *             close); a request head larger than ADMIN_MAX_HEAD is refused
 *             with 431; a connection lives at most admin.timeout, and each
 *             socket has at most admin.max_connections, so idle
 *             connections cannot pile up; requests are routed by exact
 *             path segments (core/route.c), so no target, however
 *             malformed, reaches a handler it does not name. Counters are
 *             read with relaxed atomics: a status is a consistent-enough
 *             snapshot, never a lock on the data path.
 * Runs on: the control thread's loop only.
 *
 * Endpoints: the table `routes` below. Every state-changing command of
 * the CLI is one endpoint here; the CLI has no other way in.
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
#include "fds.h"
#include "log.h"
#include "metrics.h"
#include "op.h"
#include "pause.h"
#include "planrun.h"
#include "proto.h"
#include "adminreq.h"
#include "route.h"
#include "statuspage.h"
#include "switchover.h"

#define ADMIN_MAX_HEAD 8192

struct admin_conn {
	union {
		uv_stream_t stream;
		uv_pipe_t pipe;		/* on the admin socket */
		uv_tcp_t tcp;		/* on admin.listen: a token is required */
	} h;
	uv_timer_t timer;		/* admin.timeout for the whole exchange */
	struct admin_sock *sock;	/* accepted on; borrowed */
	uv_write_t wreq;
	struct list node;		/* on admin->conns */
	struct admin *a;		/* borrowed */
	char *resp;			/* owned: the response being written */
	int closing_handles;
	size_t len;			/* bytes of the head read so far */
	struct adminreq req;		/* what they said */
	bool routed;			/* handed to its handler: later bytes are not read */
	struct admin_wait *wait;	/* a long poll in progress, if any */
	char rbuf[1024];
};

static const char *const class_names[6] = { "failed", "1xx", "2xx", "3xx", "4xx", "5xx" };

static json_t *backend_json(struct daemon *d, int p, int b)
{
	const struct pool_cfg *pc = &d->cfg->pools[p];
	const struct backend_cfg *bc = &pc->backends[b];
	struct backend_live *st = d->live[p][b];
	json_t *resp = json_object(), *j;

	for (int k = 0; k < 6; k++)
		json_object_set_new(resp, class_names[k],
				    json_integer((json_int_t)STAT_GET(st->responses[k])));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:o}",
		      "name", bc->name, "address", bc->address,
		      "state", backend_state_name(st),
		      "health", STAT_GET(st->health) == HEALTH_UP ? "up" : "down",
		      "state_source", STAT_GET(st->health) == HEALTH_DOWN ? "health" :
				      atomic_load(&st->by_operator) ? "operator" : "config",
		      "weight", STAT_GET(st->weight), "config_weight", bc->weight,
		      "active", STAT_GET(st->active),
		      "requests", (json_int_t)STAT_GET(st->requests),
		      "connect_errors", (json_int_t)STAT_GET(st->connect_errors),
		      "responses", resp);
	if (pc->proto->roles)
		json_object_set_new(j, "role", json_string(backend_role_name(STAT_GET(st->role))));
	if (pc->proto->backend_status)
		pc->proto->backend_status(d, p, b, j);
	return j;
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

		json_array_append_new(ls, json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I}",
			"name", lc->name, "protocol", lc->proto->name, "bind", lc->bind, "pool", lc->pool_name,
			"active", atomic_load(&l->active),
			"accepted", (json_int_t)atomic_load(&l->accepted),
			"refused", (json_int_t)atomic_load(&l->refused),
			"reclaimed", (json_int_t)atomic_load(&l->reclaimed)));
	}
	for (int i = 0; i < c->npools; i++) {
		const struct pool_cfg *pc = &c->pools[i];
		json_t *bs = json_array(), *pj;

		for (int b = 0; b < pc->nbackends; b++)
			json_array_append_new(bs, backend_json(d, i, b));
		pj = json_pack("{s:s, s:s, s:o}", "name", pc->name, "protocol", pc->proto->name,
			       "backends", bs);
		if (pc->proto->pausable)
			switchover_pool_status(d, i, pj);
		if (pc->proto->pool_status)
			pc->proto->pool_status(d, i, pj);
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

	if (--ac->closing_handles > 0)
		return;
	ac->sock->nconns--;
	adminreq_free(&ac->req);
	free(ac->resp);
	free(ac);
}

static json_t *wait_end(struct admin_wait *w);

static void conn_close(struct admin_conn *ac)
{
	if (uv_is_closing((uv_handle_t *)&ac->h.stream))
		return;
	if (ac->wait)	/* the client left, or admin.timeout: the answer goes nowhere */
		json_decref(wait_end(ac->wait));
	list_del(&ac->node);
	ac->closing_handles = 2;
	uv_close((uv_handle_t *)&ac->timer, conn_closed_cb);
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

static const char *reason_phrase(int status)
{
	static const struct { int status; const char *reason; } reasons[] = {
		{ 200, "OK" }, { 202, "Accepted" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 409, "Conflict" },
		{ 413, "Content Too Large" }, { 431, "Request Header Fields Too Large" },
	};

	for (size_t i = 0; i < ARRAY_LEN(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Error";
}

void admin_reply_json(struct admin_conn *ac, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER), *body;

	json_decref(j);
	body = xmalloc(strlen(s) + 2);
	sprintf(body, "%s\n", s);
	free(s);
	respond(ac, status, reason_phrase(status), "application/json", body);
	free(body);
}

void admin_reply_error(struct admin_conn *ac, int status, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	char *s = json_dumps(j, 0), *body = xmalloc(strlen(s) + 2);

	sprintf(body, "%s\n", s);
	free(s);
	json_decref(j);
	respond(ac, status, reason_phrase(status), "application/json", body);
	free(body);
}

const char *admin_body(const struct admin_conn *ac)
{
	return ac->req.body;
}

struct daemon *admin_daemon(const struct admin_conn *ac)
{
	return ac->a->d;
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

/* ---- long polls ---------------------------------------------------------- */

static void wait_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

/* End w: its answer (which releases its arg), for the caller to send. */
static json_t *wait_end(struct admin_wait *w)
{
	json_t *j = w->answer(w->arg);

	list_del(&w->node);
	w->ac->wait = NULL;
	uv_close((uv_handle_t *)&w->timer, wait_closed_cb);
	return j;
}

/* Answer w now (ready, or its time is up). */
static void wait_answer(struct admin_wait *w)
{
	struct admin_conn *ac = w->ac;

	admin_reply_json(ac, 200, wait_end(w));
}

static void wait_timeout_cb(uv_timer_t *t)
{
	wait_answer(t->data);
}

void admin_wait(struct admin_conn *ac, struct list *on, uint64_t ms, bool (*ready)(void *arg),
		json_t *(*answer)(void *arg), void *arg)
{
	struct admin_wait *w;

	if (ready(arg)) {
		admin_reply_json(ac, 200, answer(arg));
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->ac = ac;
	w->ready = ready;
	w->answer = answer;
	w->arg = arg;
	list_append(on, &w->node);
	ac->wait = w;
	uv_timer_init(ac->h.stream.loop, &w->timer);
	w->timer.data = w;
	/* answered before admin.timeout closes the connection */
	if (ms + 500 > ac->a->timeout_ms)
		ms = ac->a->timeout_ms > 1000 ? ac->a->timeout_ms - 500 : ac->a->timeout_ms / 2;
	uv_timer_start(&w->timer, wait_timeout_cb, ms, 0);
}

void admin_wait_kick(struct list *on)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, on) {
		struct admin_wait *w = container_of(pos, struct admin_wait, node);

		if (w->ready(w->arg))
			wait_answer(w);
	}
}

void admin_wait_drop(struct list *on)
{
	while (!list_empty(on))
		wait_answer(container_of(on->next, struct admin_wait, node));
}

/* ---- endpoints ------------------------------------------------------------- */

/* A request with parameters to an endpoint that takes none: 400. */
bool admin_no_query(struct admin_conn *ac, const struct route_match *m)
{
	if (!m->query[0])
		return true;
	admin_reply_error(ac, 400, "this endpoint takes no parameters");
	return false;
}

/* The pool named `name`, or -1 after answering 404 with the known ones. */
int admin_find_pool(struct admin_conn *ac, const char *name)
{
	const struct config *c = ac->a->d->cfg;
	const char *names[256];
	char msg[3072], known[768];
	int p;

	for (p = 0; p < c->npools && strcmp(c->pools[p].name, name); p++)
		names[p < 256 ? p : 255] = c->pools[p].name;
	if (p < c->npools)
		return p;
	names_of(known, sizeof(known), names, c->npools < 256 ? c->npools : 256);
	snprintf(msg, sizeof(msg), "no pool '%.200s' (pools: %s)", name, known);
	admin_reply_error(ac, 404, msg);
	return -1;
}

/* GET /status */
static void route_status(struct admin_conn *ac, const struct route_match *m)
{
	char *json, *body;

	if (!admin_no_query(ac, m))
		return;
	json = admin_status_json(ac->a->d);
	body = xmalloc(strlen(json) + 2);
	sprintf(body, "%s\n", json);
	free(json);
	respond(ac, 200, "OK", "application/json", body);
	free(body);
}

/* GET /metrics (Prometheus text format) */
static void route_metrics(struct admin_conn *ac, const struct route_match *m)
{
	char *text;

	if (!admin_no_query(ac, m))
		return;
	text = metrics_render(ac->a->d);
	respond(ac, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text);
	free(text);
}

/* POST /reload: 200 with a summary, or 400 with every reason it was refused. */
static void route_reload(struct admin_conn *ac, const struct route_match *m)
{
	struct errlist errs = { 0 };
	char summary[512];
	json_t *j;

	if (!admin_no_query(ac, m))
		return;
	if (daemon_reload(ac->a->d, &errs, summary, sizeof(summary)) == 0) {
		admin_reply_json(ac, 200, json_pack("{s:b, s:i, s:s}", "reloaded", 1,
					   "generation", ac->a->d->snap->gen, "summary", summary));
		return;
	}
	j = json_pack("{s:s, s:i, s:[]}", "error", "reload refused; the running config is unchanged",
		      "generation", ac->a->d->snap->gen, "errors");
	for (int i = 0; i < errs.n; i++)
		json_array_append_new(json_object_get(j, "errors"), json_string(errs.msgs[i]));
	errlist_free(&errs);
	admin_reply_json(ac, 400, j);
}

/* Backend params[1] of pool params[0]: 0 with *p, *b, or -1 after a 404. */
static int find_backend(struct admin_conn *ac, const struct route_match *m, int *p, int *b)
{
	const struct config *c = ac->a->d->cfg;
	const char *be = m->params[1], *names[256];
	char msg[3072], known[768];

	if ((*p = admin_find_pool(ac, m->params[0])) < 0)
		return -1;
	for (*b = 0; *b < c->pools[*p].nbackends && strcmp(c->pools[*p].backends[*b].name, be); ++*b)
		names[*b < 256 ? *b : 255] = c->pools[*p].backends[*b].name;
	if (*b < c->pools[*p].nbackends)
		return 0;
	names_of(known, sizeof(known), names, *b < 256 ? *b : 256);
	snprintf(msg, sizeof(msg), "no backend '%s' in pool '%s' (backends: %s)", be, m->params[0], known);
	admin_reply_error(ac, 404, msg);
	return -1;
}

/* A long poll for a backend with nothing in flight (see route_backend_get). */
struct idle_watch {
	struct daemon *d;
	char pool[ROUTE_MAX_SEGMENT + 1], be[ROUTE_MAX_SEGMENT + 1];
};

/* The watched backend in the current config (a reload may move it): its
 * live state, or NULL when the config no longer has it. */
static struct backend_live *watched(const struct idle_watch *w, int *p, int *b)
{
	const struct pool_cfg *pc = config_pool(w->d->cfg, w->pool);
	const struct backend_cfg *bc = config_backend(pc, w->be);

	if (!bc)
		return NULL;
	*p = pc->index;
	*b = bc->index;
	return w->d->live[*p][*b];
}

static bool idle_ready(void *arg)
{
	int p, b;
	struct backend_live *lv = watched(arg, &p, &b);

	return !lv || (atomic_load(&lv->active) == 0 && atomic_load(&lv->state) != BACKEND_DRAINING);
}

static json_t *idle_answer(void *arg)
{
	struct idle_watch *w = arg;
	int p, b;
	json_t *j = watched(w, &p, &b) ? backend_json(w->d, p, b) :
		    json_pack("{s:s}", "error", "the backend left the config");

	free(w);
	return j;
}

/*
 * GET /pools/POOL/backends/BACKEND[?wait_idle=D]: the backend's JSON; with
 * wait_idle, once nothing is in flight on it and it is not draining (a
 * drain is then drained), or after D (a long poll: `drain --wait`).
 */
static void route_backend_get(struct admin_conn *ac, const struct route_match *m)
{
	static const char *const known_q[] = { "wait_idle", NULL };
	char val[32];
	uint64_t ms = 0;
	struct idle_watch *w;
	int p, b, q = route_query(m->query, "wait_idle", known_q, val, sizeof(val));

	if ((q != 0 && q != -ENOENT) || (q == 0 && config_parse_duration(val, &ms) < 0)) {
		admin_reply_error(ac, 400, "GET /pools/POOL/backends/BACKEND[?wait_idle=DURATION]");
		return;
	}
	if (find_backend(ac, m, &p, &b) < 0)
		return;
	if (!ms) {
		admin_reply_json(ac, 200, backend_json(ac->a->d, p, b));
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->d = ac->a->d;
	snprintf(w->pool, sizeof(w->pool), "%s", m->params[0]);
	snprintf(w->be, sizeof(w->be), "%s", m->params[1]);
	admin_wait(ac, &ac->a->d->idle_waits, ms, idle_ready, idle_answer, w);
}

/*
 * POST /pools/POOL/backends/BACKEND/ACTION[?value=N]; ACTION is drain,
 * ready, maint or weight (value 0-1000). Answers the backend's JSON.
 */
static void route_backend(struct admin_conn *ac, const struct route_match *m)
{
	static const char *const known_q[] = { "value", NULL };
	struct daemon *d = ac->a->d;
	const char *action = m->params[2];
	char msg[3072], val[32], *end;
	int p, b, weight = -1, state = -1, q;
	long v;

	if (find_backend(ac, m, &p, &b) < 0)
		return;
	if (!strcmp(action, "drain")) {
		state = BACKEND_DRAINING;
	} else if (!strcmp(action, "ready")) {
		state = BACKEND_READY;
	} else if (!strcmp(action, "maint")) {
		state = BACKEND_MAINT;
	} else if (!strcmp(action, "weight")) {
		q = route_query(m->query, "value", known_q, val, sizeof(val));
		v = q == 0 && val[0] ? strtol(val, &end, 10) : -1;
		if (q != 0 || !val[0] || *end || v < 0 || v > 1000) {
			admin_reply_error(ac, 400, "weight needs ?value=N with N from 0 to 1000");
			return;
		}
		weight = (int)v;
	} else {
		snprintf(msg, sizeof(msg), "unknown action '%s' (actions: drain, ready, maint, weight)", action);
		admin_reply_error(ac, 404, msg);
		return;
	}
	if (weight < 0 && !admin_no_query(ac, m))
		return;
	daemon_set_backend(d, p, b, state, weight);
	admin_reply_json(ac, 200, backend_json(d, p, b));
}

/* GET /: the status page (core/statuspage.c); true if the request was for
 * it (answered). The root has no segment for route_match. */
static bool route_page(struct admin_conn *ac)
{
	const struct adminreq *r = &ac->req;

	if (r->tlen != 1 || r->target[0] != '/')
		return false;
	if (r->mlen == 3 && !memcmp(r->method, "GET", 3))
		respond(ac, 200, "OK", "text/html; charset=utf-8", status_page_html);
	else
		admin_reply_error(ac, 405, "GET / is the status page");
	return true;
}

/* What the read-only status listener serves besides the page: reading only. */
static const struct route read_only_routes[] = {
	{ "GET", "/api/status", route_status },
	{ "GET", "/api/operations", op_route_list_public },
	{ "GET", "/api/runs", plan_route_runs },
};

static const struct route routes[] = {
	{ "GET", "/api/status", route_status },
	{ "GET", "/api/operations", op_route_list },
	{ "GET", "/status", route_status },
	{ "GET", "/metrics", route_metrics },
	{ "POST", "/reload", route_reload },
	{ "GET", "/pools/*/backends/*", route_backend_get },
	{ "POST", "/pools/*/backends/*/*", route_backend },
	{ "GET", "/pools/*/switchover", switchover_route_get },
	{ "POST", "/pools/*/switchover", switchover_route_post },
	{ "POST", "/pools/*/pause", pause_route_pause },
	{ "POST", "/pools/*/resume", pause_route_resume },
	{ "GET", "/operations", op_route_list },
	{ "POST", "/operations/*/abort", op_route_abort },
	{ "GET", "/api/runs", plan_route_runs },
	{ "POST", "/plans", plan_route_submit },
	{ "GET", "/plans/current", plan_route_current },
	{ "POST", "/plans/abort", plan_route_abort },
	{ "POST", "/plans/approve", plan_route_approve },
	{ "GET", "/plans/runs", plan_route_runs },
	{ "GET", "/plans/runs/*", plan_route_run },
};

const struct route *admin_routes(int *n)
{
	*n = (int)ARRAY_LEN(routes);
	return routes;
}

/*
 * An endpoint of a protocol module: under /pools/POOL/, served by POOL's
 * protocol. Returns 0 once answered, else a route_error for route().
 */
static int route_module(struct admin_conn *ac, const char *meth, size_t mlen, const char *target,
			size_t tlen, struct route_match *m)
{
	const struct config *c = ac->a->d->cfg;
	int r = ROUTE_NOT_FOUND, i, p;
	char msg[512];

	for (const struct proto_module *const *mod = proto_modules; *mod; mod++) {
		const struct route_table *t = (*mod)->routes;

		if (!t)
			continue;
		i = route_match(t->routes, t->n, meth, mlen, target, tlen, m);
		if (i == ROUTE_METHOD)
			r = ROUTE_METHOD;
		if (i < 0)
			continue;
		if ((p = admin_find_pool(ac, m->params[0])) < 0)
			return 0;
		if (c->pools[p].proto == *mod) {
			((admin_handler)t->routes[i].handler)(ac, m);
			return 0;
		}
		snprintf(msg, sizeof(msg), "pool '%s' speaks %s, which has no such endpoint",
			 c->pools[p].name, c->pools[p].proto->name);
		admin_reply_error(ac, 404, msg);
		return 0;
	}
	return r;
}

/* The status listener: its few routes, nothing else. */
static void route_read_only(struct admin_conn *ac, struct route_match *m)
{
	const struct adminreq *r = &ac->req;
	int i;

	if (route_page(ac)) {
		free(m);
		return;
	}
	i = route_match(read_only_routes, (int)ARRAY_LEN(read_only_routes), r->method, r->mlen, r->target,
			r->tlen, m);
	if (i >= 0)
		((admin_handler)read_only_routes[i].handler)(ac, m);
	else if (i == ROUTE_METHOD)
		admin_reply_error(ac, 405, "the status listener is read-only: GET only");
	else
		admin_reply_error(ac, 404, "the status listener serves GET /, /api/status, /api/operations and "
				  "/api/runs; actions and run logs go through the admin socket");
	free(m);
}

static void route(struct admin_conn *ac)
{
	struct route_match *m = xmalloc(sizeof(*m));
	const struct adminreq *r = &ac->req;
	int i;

	if (ac->sock->read_only) {
		route_read_only(ac, m);
		return;
	}
	if (route_page(ac)) {
		free(m);
		return;
	}
	i = route_match(routes, (int)ARRAY_LEN(routes), r->method, r->mlen, r->target, r->tlen, m);
	if (i >= 0)
		((admin_handler)routes[i].handler)(ac, m);
	else if (i == ROUTE_NOT_FOUND)
		i = route_module(ac, r->method, r->mlen, r->target, r->tlen, m);
	if (i == ROUTE_METHOD)
		admin_reply_error(ac, 405, "this endpoint takes another method; see docs/admin-api.md");
	else if (i == ROUTE_BAD)
		admin_reply_error(ac, 400, "malformed path: expected /segment/... of names "
				  "(letters, digits, '-', '_', '.'), no percent-encoding");
	else if (i == ROUTE_NOT_FOUND)
		admin_reply_error(ac, 404, "unknown endpoint; known: GET /status, GET /metrics, "
				  "POST /reload, GET /pools/POOL/backends/BACKEND[?wait_idle=D], "
				  "POST /pools/POOL/backends/BACKEND/{drain,ready,maint,weight?value=N}, "
				  "GET|POST /pools/POOL/switchover[?to=BACKEND], POST /pools/POOL/{pause[?timeout=D],resume} (pg and redis pools), "
				  "GET /operations, POST /operations/ID/abort, POST /plans, GET /plans/current, "
				  "POST /plans/{abort,approve}, GET /plans/runs[/RUN]");
	free(m);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct admin_conn *ac = h->data;

	ND_UNUSED(hint);
	*b = uv_buf_init(ac->rbuf, sizeof(ac->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct admin_conn *ac = s->data;
	int status;

	if (n < 0) {
		conn_close(ac);
		return;
	}
	if (ac->routed)
		return;		/* a long poll: only a close matters now */
	ac->len += (size_t)n;
	status = adminreq_feed(&ac->req, b->base, (size_t)n);
	if (status == 431 || (status == 0 && !ac->req.head_end && ac->len > ADMIN_MAX_HEAD)) {
		admin_reply_error(ac, 431, "request head too large");
		return;
	}
	if (status == 413) {
		admin_reply_error(ac, 413, "request body too large (at most 64 KiB)");
		return;
	}
	if (status != 0) {
		admin_reply_error(ac, 400, "malformed HTTP request");
		return;
	}
	if (!ac->req.done)
		return;
	if (ac->sock->need_token && !adminreq_token_ok(&ac->req, ac->a->token)) {
		admin_reply_error(ac, 401, "this admin listener needs 'Authorization: Bearer <admin.token>'");
		return;
	}
	ac->routed = true;
	route(ac);
}

static void conn_timeout_cb(uv_timer_t *t)
{
	struct admin_conn *ac = t->data;

	conn_close(ac);
}

static void refused_closed_cb(uv_handle_t *h)
{
	free(h);
}

/* Accept and close at once: the socket is at admin.max_connections. */
static void refuse(struct admin_sock *as)
{
	uv_stream_t *t = xmalloc(sizeof(union { uv_pipe_t p; uv_tcp_t t; }));

	if (as->tcp)
		uv_tcp_init(as->h.stream.loop, (uv_tcp_t *)t);
	else
		uv_pipe_init(as->h.stream.loop, (uv_pipe_t *)t, 0);
	if (uv_accept(&as->h.stream, t) == 0 && !as->warned) {
		log_warn("admin %s: %d connections open (admin.max_connections); closing new ones "
			 "until some finish", as->tcp ? "listener" : "socket", as->a->max_connections);
		as->warned = true;
	}
	uv_close((uv_handle_t *)t, refused_closed_cb);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct admin_sock *as = server->data;
	struct admin *a = as->a;
	struct admin_conn *ac;

	if (status < 0) {
		if (fds_exhausted(status))
			fds_report("accepting an admin connection");
		return;
	}
	if (as->nconns >= a->max_connections) {
		refuse(as);
		return;
	}
	as->warned = false;
	ac = xcalloc(1, sizeof(*ac));
	ac->a = a;
	ac->sock = as;
	as->nconns++;
	if (as->tcp)
		uv_tcp_init(server->loop, &ac->h.tcp);
	else
		uv_pipe_init(server->loop, &ac->h.pipe, 0);
	uv_timer_init(server->loop, &ac->timer);
	ac->h.stream.data = ac->wreq.data = ac->timer.data = ac;
	adminreq_init(&ac->req);
	list_append(&a->conns, &ac->node);
	if (uv_accept(server, &ac->h.stream) != 0) {
		conn_close(ac);
		return;
	}
	uv_timer_start(&ac->timer, conn_timeout_cb, a->timeout_ms, 0);
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
		const struct config *c, const char **why)
{
	struct admin_sock *as = &a->unix_sock;
	struct sockaddr_un sa;
	struct stat st;
	int r;

	memset(a, 0, sizeof(*a));
	a->d = d;
	a->max_connections = c->admin_max_connections;
	a->timeout_ms = c->admin_timeout_ms;
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
	as->a = a;
	uv_pipe_init(loop, &as->h.pipe, 0);
	as->h.stream.data = as;
	r = uv_pipe_bind(&as->h.pipe, path);
	if (r == 0) {
		chmod(path, 0600);	/* the admin API can change what the proxy does */
		r = uv_listen(&as->h.stream, 64, connection_cb);
	}
	if (r < 0) {
		*why = uv_strerror(r);
		uv_close((uv_handle_t *)&as->h.pipe, NULL);
		return r;
	}
	a->path = xstrdup(path);
	as->open = true;
	return 0;
}

static int listen_tcp(struct admin *a, struct admin_sock *as, uv_loop_t *loop,
		      const struct sockaddr_storage *addr)
{
	int r;

	as->a = a;
	as->tcp = true;
	uv_tcp_init(loop, &as->h.tcp);
	as->h.stream.data = as;
	r = uv_tcp_bind(&as->h.tcp, (const struct sockaddr *)addr, 0);
	if (r == 0)
		r = uv_listen(&as->h.stream, 64, connection_cb);
	if (r < 0) {
		uv_close((uv_handle_t *)&as->h.tcp, NULL);
		return r;
	}
	as->open = true;
	return 0;
}

int admin_listen_tcp(struct admin *a, uv_loop_t *loop, const struct sockaddr_storage *addr,
		     const char *token)
{
	a->tcp_sock.need_token = true;
	a->token = xstrdup(token);	/* ours: a reload frees the config it came from */
	return listen_tcp(a, &a->tcp_sock, loop, addr);
}

int admin_listen_status(struct admin *a, uv_loop_t *loop, const struct sockaddr_storage *addr)
{
	a->status_sock.read_only = true;
	return listen_tcp(a, &a->status_sock, loop, addr);
}

void admin_stop(struct admin *a)
{
	struct list *pos, *tmp;

	if (!a->unix_sock.open)
		return;
	a->unix_sock.open = false;
	uv_close((uv_handle_t *)&a->unix_sock.h.pipe, NULL);
	if (a->tcp_sock.open) {
		a->tcp_sock.open = false;
		uv_close((uv_handle_t *)&a->tcp_sock.h.tcp, NULL);
	}
	if (a->status_sock.open) {
		a->status_sock.open = false;
		uv_close((uv_handle_t *)&a->status_sock.h.tcp, NULL);
	}
	list_for_each_safe(pos, tmp, &a->conns)
		conn_close(container_of(pos, struct admin_conn, node));
	unlink(a->path);
	free(a->path);
	a->path = NULL;
	free(a->token);
	a->token = NULL;
}
