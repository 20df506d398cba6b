/*
 * proxy.c - HTTP/1.x reverse proxy: moves one client's requests to
 * backends and their responses back.
 *
 * Owns: struct hconn, a client connection, from accept to close; the
 *       request/response exchange over a borrowed struct upconn.
 * Invariants:
 *   - one request at a time per client: pipelined requests wait in c->in,
 *     unparsed, until the response before them is complete, so responses
 *     go out in request order;
 *   - bytes are forwarded only once http/parse.c has framed them; a head is
 *     rewritten, a body is passed through as framed (chunked stays chunked);
 *   - at most one write per direction is in flight; while it is, the source
 *     of that direction is not read (backpressure), so a connection never
 *     holds more than one buffer per direction whatever the body size;
 *   - a request is admitted (leaves C_HEAD) only holding every buffer its
 *     exchange needs (reserve_exchange), so exchanges never wait on the
 *     pool for each other's buffers;
 *   - an error status is sent only if no response byte has been sent yet;
 *     otherwise the client connection is closed, never resynchronised;
 *   - a request runs on one generation (c->gen: config, pools) from its
 *     first byte to its end; after a reload the next request of a kept-alive
 *     connection moves to the worker's current one (follow_reload).
 * Runs on: the owning worker's loop; no other thread touches an hconn.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../core/daemon.h"
#include "../core/fds.h"
#include "../core/log.h"
#include "../core/proto.h"
#include "../core/stream.h"
#include "../core/worker.h"
#include "config.h"
#include "health.h"
#include "parse.h"

enum cstate {
	C_IDLE,		/* no request in progress; waiting for one */
	C_HEAD,		/* reading a request head */
	C_CONNECT,	/* head accepted; waiting for a backend connection */
	C_EXCHANGE,	/* request and response flowing through c->up */
	C_TUNNEL,	/* after 101 Switching Protocols: raw bytes both ways */
	C_LINGER,	/* error sent; reading and dropping input until EOF */
	C_CLOSING,	/* uv_close called */
};

enum rstate {
	R_HEAD,		/* reading a response head */
	R_BODY,		/* forwarding a response body */
	R_TUNNEL,	/* raw bytes to the client */
};

enum ctimer { T_NONE, T_HEADER, T_IDLE, T_CLIENT, T_LINGER, T_TUNNEL_DRAIN };

struct hconn {
	uv_tcp_t tcp;
	uv_timer_t timer;		/* enum ctimer says which timeout is running */
	uv_write_t wreq;		/* the one pending write to the client */
	struct client_link link;	/* on worker->clients */
	struct buf_waiter bw;		/* waiting for a buffer to read into */
	struct worker *w;		/* borrowed */
	struct wgen *gen;		/* a reference: the generation this request runs on */
	const struct listener_cfg *lcfg;	/* the listener's config in gen */
	struct wpool *pool;		/* the listener's pool in gen */
	struct buf *in;			/* bytes from the client; owned */
	struct buf *out;		/* request head for the backend, then response head; owned */
	struct buf *spare;		/* response buffer reserved at admission, until attach; owned */
	struct upconn *up;		/* backend connection of this exchange; borrowed while busy */
	char *reqline;			/* "METHOD target" for the access log; owned, NULL if off */
	struct http_body req;		/* framing of the request being forwarded */
	enum cstate state;
	enum rstate rstate;
	enum ctimer timer_kind;
	uint64_t deadline;		/* loop time (ms) at which timer_kind expires */
	int closing_handles;
	int attempts;			/* backends tried for this request */
	uint64_t tried;			/* bit i: backend i failed this request */
	uint64_t start_ns;		/* first byte of the request */
	uint64_t stage_ms;		/* loop time the head (or the body) began to arrive */
	uint64_t stage_bytes;		/* bytes read from the client since stage_ms */
	uint64_t resp_bytes;		/* bytes sent to the client for this response */
	size_t scanned;			/* bytes of c->in searched for the end of a head */
	size_t rscanned;		/* bytes of up->in searched for the end of a head */
	size_t out_len;			/* bytes of the head in c->out */
	size_t up_inflight;		/* bytes of c->in in the pending write to the backend */
	size_t cl_inflight;		/* bytes of up->in in the pending write to the client */
	size_t cl_wbytes;		/* bytes of that write (head and re-framed body) */
	size_t resp_head_pending;	/* response head bytes in c->out still to send */
	int status;			/* response status, for the log */
	int interims;			/* 1xx responses relayed for this request */
	const char *cause;		/* why the exchange ended early, for the access log */
	bool reading;			/* uv_read_start active on the client */
	bool writing;			/* a write to the client is pending */
	bool keepalive;			/* the client wants the connection kept */
	bool http10;
	bool head_method;
	bool retryable;			/* idempotent and bodiless: may be resent */
	bool upgrade;			/* the request asks for a protocol switch */
	bool req_head_sent;
	bool req_done;			/* the whole request reached the backend */
	bool resp_started;		/* a byte of the final response went to the client */
	bool resp_any;			/* a response byte (1xx included) went to the client */
	bool peek_wait;			/* waiting for a first buffer; the socket is peeked */
	bool head_ready;		/* a complete head waits for the buffers of its exchange */
	bool up_reusable;		/* the backend may keep its connection */
	bool close_after;		/* close the client once this response is sent */
	bool force_new;			/* do not reuse an idle connection for the retry */
	bool eof;			/* a side closed: close once what is pending is sent */
	bool logged;			/* the access line of this request is written */
	bool stale_retried;		/* resent once after a reused connection closed */
	bool held;			/* waits for the pool's pause to end (held()) */
	char *errmsg;			/* an error response being written; owned */
	char peer[INET6_ADDRSTRLEN];	/* client address, for X-Forwarded-For */
};

static void client_data(struct hconn *c);
static void try_head(struct hconn *c);
static void pump_request(struct hconn *c);
static bool pump_response(struct hconn *c);
static void up_data(struct hconn *c);
static void first_buffer_wait(struct hconn *c);
static void dispatch(struct hconn *c);
static bool held(struct hconn *c);

/* ---- small helpers ------------------------------------------------------- */

static const struct http_listener_cfg *lcfg(const struct hconn *c)
{
	return http_listener(c->lcfg);
}

/* The listener left the config in a reload: close after this exchange. */
static bool listener_gone(const struct hconn *c)
{
	return atomic_load_explicit(&c->link.l->retired, memory_order_relaxed);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void client_timer_cb(uv_timer_t *t);

/*
 * Set the client's timeout to `kind`, due at loop time `deadline` (T_NONE:
 * none). Lazy: a timer already due no later than the new deadline is left
 * running and re-arms itself when it fires early, so a keep-alive request
 * costs about one timer-heap operation instead of three.
 */
static void client_timer_at(struct hconn *c, enum ctimer kind, uint64_t deadline)
{
	uint64_t now = uv_now(&c->w->loop);

	c->timer_kind = kind;
	if (kind == T_NONE)
		return;
	c->deadline = deadline;
	if (uv_is_active((uv_handle_t *)&c->timer) &&
	    now + uv_timer_get_due_in(&c->timer) <= c->deadline)
		return;
	uv_timer_start(&c->timer, client_timer_cb, deadline > now ? deadline - now : 0, 0);
}

static void client_timer(struct hconn *c, enum ctimer kind, uint64_t ms)
{
	client_timer_at(c, kind, uv_now(&c->w->loop) + ms);
}

/* When the part of the request being read (head, or body) falls below
 * request_min_rate: after request_rate_grace, so many bytes per second
 * (mod_reqtimeout's rule). UINT64_MAX when the rate is not enforced. */
static uint64_t rate_deadline(const struct hconn *c)
{
	const struct http_listener_cfg *l = lcfg(c);

	if (!l->request_min_rate)
		return UINT64_MAX;
	return c->stage_ms + l->request_rate_grace_ms + c->stage_bytes * 1000 / l->request_min_rate;
}

/* A head must arrive within header_timeout of its first byte, and at the
 * minimum rate. */
static void head_timer(struct hconn *c)
{
	uint64_t abs = c->stage_ms + lcfg(c)->header_timeout_ms, rate = rate_deadline(c);

	client_timer_at(c, T_HEADER, rate < abs ? rate : abs);
}

/* A body may pause for client_timeout, and must keep the minimum rate. */
static void body_timer(struct hconn *c)
{
	uint64_t idle = uv_now(&c->w->loop) + lcfg(c)->client_timeout_ms, rate = rate_deadline(c);

	client_timer_at(c, T_CLIENT, rate < idle ? rate : idle);
}

/* A new stage of the request (head, then body) starts being counted. */
static void stage_start(struct hconn *c, uint64_t bytes)
{
	c->stage_ms = uv_now(&c->w->loop);
	c->stage_bytes = bytes;
}

/*
 * One access-log line for the current request: when it ends, or when the
 * connection closes before it ended (`end` then says why, e.g.
 * "client-closed"; "-" for a request that completed normally).
 */
static void access_log(struct hconn *c, const char *end)
{
	const struct wbackend *be = c->up ? c->up->be : NULL;
	double ms = c->start_ns ? (double)(nd_now_ns() - c->start_ns) / 1e6 : 0;

	c->logged = true;
	if (!log_access_enabled())
		return;
	logbuf_printf(&c->w->access, "%s %s %s \"%s\" %d %llu %s/%s %.3fms %s\n",
		      worker_timestamp(c->w), c->lcfg->name, c->peer, c->reqline ? c->reqline : "-",
		      c->status, (unsigned long long)c->resp_bytes, c->pool->cfg->name,
		      be ? be->cfg->name : "-", ms, c->cause ? c->cause : end);
}

/* ---- closing ------------------------------------------------------------- */

static void client_closed_cb(uv_handle_t *h)
{
	struct hconn *c = h->data;
	struct worker *w = c->w;

	if (--c->closing_handles > 0)
		return;
	listener_unref(c->link.l);
	worker_gen_release(w, c->gen);
	free(c);
	worker_client_gone(w);
}

/* The live state of c's pool: its pause, its requests in flight. */
static struct pool_live *pool_live_of(struct hconn *c)
{
	return c->gen->snap->pools[c->pool->cfg->index];
}

static void drop_upconn(struct hconn *c, bool reusable)
{
	struct upconn *u = c->up;

	if (!u)
		return;
	c->up = NULL;
	if (u->state == UP_BUSY) {
		u->be->active--;
		STAT_ADD(pool_live_of(c)->in_flight, -1);
		worker_backend_done(c->w, u->be->live);
	}
	if (reusable && u->state == UP_BUSY)
		upstream_release(u, true);
	else
		upstream_close(u);
}

/* Give back every pool buffer c holds. */
static void client_release_buffers(struct hconn *c)
{
	bufpool_unwait(&c->bw);
	buf_put(&c->w->bufs, c->in);
	buf_put(&c->w->bufs, c->out);
	buf_put(&c->w->bufs, c->spare);
	c->in = c->out = c->spare = NULL;
}

/* Close c; `why` is a short cause for the access log of an unfinished
 * request ("client-closed", "backend-closed", "timeout"...). */
static void client_close(struct hconn *c, const char *why)
{
	if (c->state == C_CLOSING)
		return;
	if (!c->logged && (c->state == C_CONNECT || c->state == C_EXCHANGE || c->state == C_TUNNEL)) {
		access_log(c, c->state == C_TUNNEL ? "tunnel-closed" : why);
		if (c->up && c->state == C_EXCHANGE)
			STAT_ADD(c->up->be->live->responses[0], 1);
	}
	c->state = C_CLOSING;
	drop_upconn(c, false);
	free(c->errmsg);
	c->errmsg = NULL;
	list_del(&c->link.node);
	atomic_fetch_sub(&c->link.l->active, 1);
	client_release_buffers(c);
	http_body_free(&c->req);
	free(c->reqline);
	c->reqline = NULL;
	c->closing_handles = 2;
	uv_close((uv_handle_t *)&c->timer, client_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, client_closed_cb);
}

/* ---- reading from the client --------------------------------------------- */

static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct hconn *c = h->data;
	struct bufpool *p = &c->w->bufs;

	ND_UNUSED(hint);
	if (c->state == C_LINGER) {	/* read to be dropped: no pool buffer */
		*b = uv_buf_init(c->w->scratch, (unsigned)p->size);
		return;
	}
	*b = uv_buf_init(NULL, 0);
	if (!c->in && !(c->in = buf_get(p)))
		return;
	if (c->up_inflight == 0 && c->in->off > 0)
		buf_compact(c->in);
	if (buf_avail(p, c->in) > 0)
		*b = uv_buf_init(c->in->data + c->in->len, (unsigned)buf_avail(p, c->in));
}

static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void client_read_start(struct hconn *c)
{
	if (!c->reading && !c->eof && c->state != C_CLOSING) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->tcp, client_alloc_cb, client_read_cb);
	}
}

static void client_read_stop(struct hconn *c)
{
	if (c->reading) {
		c->reading = false;
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
}

static void client_buf_wake(struct buf_waiter *bw)
{
	struct hconn *c = container_of(bw, struct hconn, bw);

	c->peek_wait = false;
	client_read_start(c);
	if (c->state == C_HEAD && c->in && buf_pending(c->in))
		try_head(c);
}

/* Release c->in when it holds nothing, so an idle client costs no buffer. */
static void client_trim(struct hconn *c)
{
	if (c->in && buf_pending(c->in) == 0 && c->up_inflight == 0) {
		buf_put(&c->w->bufs, c->in);
		c->in = NULL;
	}
}

/* ---- errors -------------------------------------------------------------- */

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	ND_UNUSED(status);
	free(req);
}

static void linger_write_cb(uv_write_t *req, int status)
{
	struct hconn *c = req->data;

	c->writing = false;
	if (status < 0 || c->state == C_CLOSING) {
		client_close(c, "client-write-failed");
		return;
	}
	/* Lingering close: stop sending, keep reading (and dropping, into the
	 * worker's scratch buffer) what the client still sends, so closing
	 * with unread input does not reset the connection before the client
	 * has read the error. */
	if (uv_shutdown(xcalloc(1, sizeof(uv_shutdown_t)), (uv_stream_t *)&c->tcp,
			shutdown_cb) < 0) {
		client_close(c, "client-write-failed");
		return;
	}
	client_timer(c, T_LINGER, 2000);
	client_read_start(c);
}

/*
 * Answer the current request with `status` and a one-line plain-text body,
 * then close. If part of the final response was already sent, just close:
 * the client sees a truncated response, which it can detect, rather than a
 * second status line, which it could misread. Every pool buffer is given
 * back at once (the error is written from an allocation of its own).
 */
static void send_error(struct hconn *c, int status, const char *why)
{
	char body[320];
	uv_buf_t b;
	int bl, n;

	if (c->state == C_CLOSING || c->state == C_LINGER)
		return;
	if (c->resp_started || c->writing) {
		client_close(c, "error-after-response-start");
		return;
	}
	bl = snprintf(body, sizeof(body), "%d %s: %s\n", status, reason_phrase(status), why);
	if (bl >= (int)sizeof(body))
		bl = (int)sizeof(body) - 1;
	/* A small allocation of its own, not a pool buffer: an error must
	 * be answerable even when the pool is exhausted. */
	c->errmsg = xmalloc(512);
	n = snprintf(c->errmsg, 512,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %d\r\nConnection: close\r\n\r\n%.*s",
		     status, reason_phrase(status), bl, bl, body);
	if (n >= 512)
		n = 511;
	c->status = status;
	c->resp_bytes = (uint64_t)n;
	if (c->start_ns == 0)
		c->start_ns = nd_now_ns();
	if (status != 408)
		log_info("client %s on listener '%s': %d %s", c->peer, c->lcfg->name, status, why);
	access_log(c, "-");
	if (c->up)	/* the exchange with this backend failed */
		STAT_ADD(c->up->be->live->responses[0], 1);
	drop_upconn(c, false);
	client_release_buffers(c);
	c->peek_wait = false;
	c->state = C_LINGER;
	client_read_stop(c);
	client_timer(c, T_CLIENT, lcfg(c)->client_timeout_ms);
	b = uv_buf_init(c->errmsg, (unsigned)n);
	c->writing = true;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, linger_write_cb) < 0)
		client_close(c, "client-write-failed");
}

static void pool_error(struct hconn *c, int status, const char *what)
{
	char why[256];

	snprintf(why, sizeof(why), "pool '%s': %s", c->pool->cfg->name, what);
	send_error(c, status, why);
}

/* ---- timers -------------------------------------------------------------- */

static void client_timer_cb(uv_timer_t *t)
{
	struct hconn *c = t->data;
	uint64_t now = uv_now(&c->w->loop);
	bool slow;

	if (c->timer_kind == T_NONE)
		return;
	if (c->peek_wait && now < c->deadline) {
		first_buffer_wait(c);
		return;
	}
	if (now < c->deadline) {
		uv_timer_start(&c->timer, client_timer_cb, c->deadline - now, 0);
		return;
	}
	slow = rate_deadline(c) <= now;
	switch (c->timer_kind) {
	case T_HEADER:
		if (c->in && buf_pending(c->in) > 0)
			send_error(c, 408, slow ? "the request head arrived slower than request_min_rate"
						: "the request head did not arrive within header_timeout");
		else
			client_close(c, "-");
		return;
	case T_CLIENT:
		if (c->state == C_EXCHANGE && !c->req.complete && !c->resp_any) {
			c->cause = "client-timeout";
			send_error(c, 408, slow ? "the request body arrived slower than request_min_rate"
						: "the request body stalled for client_timeout");
			return;
		}
		log_info("client %s on listener '%s' stalled for client_timeout; closing",
			 c->peer, c->lcfg->name);
		client_close(c, "client-timeout");
		return;
	case T_TUNNEL_DRAIN:
		log_info("client %s: tunnel to %s/%s closed: the backend left rotation %llums ago "
			 "(drain_tunnel_timeout)", c->peer, c->pool->cfg->name,
			 c->up ? c->up->be->cfg->name : "-",
			 (unsigned long long)c->pool->hcfg->drain_tunnel_timeout_ms);
		client_close(c, "tunnel-drained");
		return;
	case T_IDLE:
	case T_LINGER:
	case T_NONE:
		client_close(c, "-");
		return;
	}
}

static void up_timer_cb(uv_timer_t *t)
{
	struct upconn *u = t->data;
	struct hconn *c = u->owner;
	uint64_t now = uv_now(t->loop), limit;

	BUG_ON(!c);
	limit = c->pool->hcfg->response_timeout_ms;
	if (now - u->last_io_ms < limit) {	/* heard from it since: re-arm */
		uv_timer_start(&u->timer, up_timer_cb, limit - (now - u->last_io_ms), 0);
		return;
	}
	log_warn("backend %s/%s sent nothing for response_timeout (%llums)",
		 c->pool->cfg->name, u->be->cfg->name,
		 (unsigned long long)c->pool->hcfg->response_timeout_ms);
	pool_error(c, 504, "the backend did not respond in time");
}

/* Backend silence counts only while we wait for it, not while the client
 * is slow to take what the backend already sent. */
static void up_read_start(struct hconn *c);

/* Note activity on the backend and make sure the response timer runs; the
 * timer re-arms itself from last_io_ms rather than being reset per read. */
static void up_arm(struct hconn *c)
{
	struct upconn *u = c->up;

	u->last_io_ms = uv_now(&c->w->loop);
	if (!uv_is_active((uv_handle_t *)&u->timer))
		uv_timer_start(&u->timer, up_timer_cb, c->pool->hcfg->response_timeout_ms, 0);
}

static void up_wait(struct hconn *c)
{
	if (c->req_done && c->state != C_TUNNEL)
		up_arm(c);
	up_read_start(c);
}

/* ---- requests ------------------------------------------------------------ */

/* Report a request's outcome on be for passive health. */
static void passive(struct hconn *c, struct wbackend *be, bool ok, const char *why)
{
	worker_passive(c->w, be->live, ok, c->pool->hcfg->passive_fall, c->pool->cfg->name,
		       be->cfg->name, why);
}

static bool method_is_idempotent(const char *p, struct span m)
{
	static const char *const safe[] = { "get", "head", "options", "trace", "put", "delete" };

	for (size_t i = 0; i < ARRAY_LEN(safe); i++)
		if (http_span_is(p, m, safe[i]))
			return true;
	return false;
}

/*
 * Admission: a request leaves C_HEAD only with every buffer its exchange
 * will need besides c->in: c->out for the heads and c->spare to read the
 * response into. An admitted exchange therefore never waits on the pool,
 * so exchanges waiting for responses cannot starve each other of the
 * buffers those responses need (the pool deadlock). Returns false, holding
 * nothing new, when the pool cannot supply both.
 */
static bool reserve_exchange(struct hconn *c)
{
	struct bufpool *p = &c->w->bufs;

	if (!c->out)
		c->out = buf_get(p);
	if (c->out && !c->spare)
		c->spare = buf_get(p);
	if (c->out && c->spare)
		return true;
	buf_put(p, c->out);
	c->out = NULL;
	return false;
}

/* The head is not complete and cannot grow past the limits: 414 or 431. */
static void head_too_large(struct hconn *c, const char *p, size_t n)
{
	const char *sp = memchr(p, ' ', n);
	const char *sp2 = sp ? memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p)) : NULL;
	size_t tlen = sp ? (sp2 ? (size_t)(sp2 - sp - 1) : n - (size_t)(sp + 1 - p)) : 0;

	if (tlen > lcfg(c)->max_target_size)
		send_error(c, 414, "the request target is longer than max_target_size");
	else
		send_error(c, 431, "the request head is larger than max_header_size");
}

static void record_reqline(struct hconn *c, const char *p, const struct http_head *h)
{
	size_t tl = h->target.len > 512 ? 512 : h->target.len;

	if (!log_access_enabled())
		return;
	free(c->reqline);
	c->reqline = xmalloc(h->method.len + 1 + tl + 1);
	memcpy(c->reqline, p, h->method.len);
	c->reqline[h->method.len] = ' ';
	memcpy(c->reqline + h->method.len + 1, p + h->target.off, tl);
	c->reqline[h->method.len + 1 + tl] = '\0';
	for (size_t i = 0; c->reqline[i]; i++)
		if (c->reqline[i] == '"')
			c->reqline[i] = '\'';
}

/* Build the head to send to the backend into c->out, and have llhttp
 * read it back: it must see the framing we will use. */
static int build_request_head(struct hconn *c, const char *p, const struct http_head *h,
			      const char **why)
{
	const struct http_listener_cfg *l = lcfg(c);
	struct http_rewrite rw = {
		.forwarded_for = l->forwarded_for ? c->peer : NULL,
		.forwarded_proto = l->forwarded_proto ? "http" : NULL,
		.via = l->via ? (c->http10 ? "1.0 nodown" : "1.1 nodown") : NULL,
		.connection = c->upgrade ? "upgrade" : (c->http10 ? "keep-alive" : NULL),
		.keep_upgrade = c->upgrade,
		.drop_underscore = l->underscores_in_headers == UNDERSCORES_DROP,
	};
	long n;

	n = http_rewrite_head(p, h, &rw, c->out->data, c->w->bufs.size);
	if (n < 0) {
		*why = "the request head does not fit in a buffer once forwarding headers are added";
		return 431;
	}
	c->out_len = (size_t)n;
	if (http_head_verify(c->out->data, c->out_len, h, false, why) != 0) {
		log_warn("client %s on listener '%s': the forwarded head failed the strict check: %s",
			 c->peer, c->lcfg->name, *why);
		return 400;
	}
	return 0;
}

/* Skip empty lines before a request line (RFC 9112 2.2: some clients
 * send a CRLF after a POST body). */
static void skip_empty_lines(struct hconn *c)
{
	while (c->scanned == 0 && buf_pending(c->in) >= 1) {
		const char *p = c->in->data + c->in->off;

		if (p[0] == '\n')
			c->in->off += 1;
		else if (buf_pending(c->in) >= 2 && p[0] == '\r' && p[1] == '\n')
			c->in->off += 2;
		else
			return;
	}
}

/* c->in holds at least part of a request head: frame it, or wait for more. */
static void try_head(struct hconn *c)
{
	const struct http_listener_cfg *l = lcfg(c);
	const char *p, *why = NULL;
	size_t n, hl;
	struct http_head h;
	int status;

	skip_empty_lines(c);
	p = c->in->data + c->in->off;
	n = buf_pending(c->in);
	hl = http_head_end(p, n, c->scanned);
	if (hl > 0 && !reserve_exchange(c)) {
		/* Pool exhausted: a complete request comes before clients that
		 * have none; if none gives way, wait, the head stays in c->in. */
		c->head_ready = true;
		while (worker_reclaim(c->w, &c->link) && !reserve_exchange(c))
			;
		if (!c->out) {
			client_read_stop(c);
			bufpool_wait(&c->w->bufs, &c->bw);
			return;
		}
	}
	c->head_ready = false;
	if (hl == 0) {
		c->scanned = n;
		if (n > l->max_header_size || buf_avail(&c->w->bufs, c->in) == 0)
			head_too_large(c, p, n);
		return;
	}
	c->scanned = 0;
	if (hl > l->max_header_size) {
		head_too_large(c, p, hl);
		return;
	}
	status = http_scan_head(p, hl, true, &h, &why);
	if (status) {
		send_error(c, status, why);
		return;
	}
	record_reqline(c, p, &h);
	if (h.target.len > l->max_target_size) {
		send_error(c, 414, "the request target is longer than max_target_size");
		return;
	}
	if (h.underscore && l->underscores_in_headers == UNDERSCORES_REFUSE) {
		send_error(c, 400, "a header name contains '_' (underscores_in_headers: refuse)");
		return;
	}
	if (l->max_body_size && h.has_cl && h.cl > l->max_body_size) {
		send_error(c, 413, "the request body is larger than max_body_size");
		return;
	}
	http_body_begin(&c->req, h.chunked ? HTTP_BODY_CHUNKED : h.has_cl ? HTTP_BODY_LENGTH :
			HTTP_BODY_NONE, h.cl, false, (uint32_t)l->max_header_size);
	c->http10 = h.minor == 0;
	c->keepalive = c->http10 ? h.conn_keepalive && !h.conn_close : !h.conn_close;
	c->head_method = http_span_is(p, h.method, "head");
	c->upgrade = h.has_upgrade && h.conn_upgrade;
	c->retryable = method_is_idempotent(p, h.method) && c->req.complete && !c->upgrade;
	status = build_request_head(c, p, &h, &why);
	if (status) {
		send_error(c, status, why);
		return;
	}
	c->in->off += hl;
	c->state = C_CONNECT;
	c->attempts = 0;
	c->tried = 0;
	c->interims = 0;
	c->cause = NULL;
	c->force_new = false;
	c->stale_retried = false;
	c->logged = false;
	client_timer(c, T_NONE, 0);
	if (!held(c))
		dispatch(c);
}

/* ---- choosing and connecting a backend ----------------------------------- */

/*
 * A pause of the pool (nodown pause, a plan's pause step) holds a request
 * whose head is read before it goes to any backend: true while it must
 * wait. The sweep that ends the pause dispatches it (client_on_sweep).
 */
static bool held(struct hconn *c)
{
	struct pool_live *pl = pool_live_of(c);

	if (!atomic_load(&pl->paused)) {
		c->held = false;
		return false;
	}
	if (!c->held)
		STAT_ADD(pl->held, 1);
	c->held = true;
	return true;
}

static void attach(struct hconn *c, struct upconn *u);

static void connect_cb(uv_connect_t *req, int status)
{
	struct upconn *u = req->data;
	struct hconn *c = u->owner;
	struct wbackend *be = u->be;

	if (!c)
		return;		/* the client went away; u is closing */
	if (status == 0 && u->state == UP_CONNECTING) {
		uv_timer_stop(&u->timer);
		u->state = UP_BUSY;
		be->active++;
		STAT_ADD(be->live->active, 1);
		STAT_ADD(pool_live_of(c)->in_flight, 1);
		attach(c, u);
		return;
	}
	STAT_ADD(be->live->connect_errors, 1);
	log_warn("connect to backend %s/%s (%s) failed: %s", c->pool->cfg->name, be->cfg->name,
		 be->cfg->address, u->timed_out ? "connect_timeout reached" : uv_strerror(status));
	passive(c, be, false, u->timed_out ? "connect timeout" : uv_strerror(status));
	u->owner = NULL;
	upstream_close(u);
	c->up = NULL;
	if (be->cfg->index < 64)
		c->tried |= 1ull << be->cfg->index;
	if (c->attempts < c->pool->hcfg->retries)
		STAT_ADD(be->live->retries, 1);
	if (++c->attempts > c->pool->hcfg->retries) {
		if (u->timed_out)
			pool_error(c, 504, "connecting to the backend timed out");
		else
			pool_error(c, 502, "could not connect to a backend");
		return;
	}
	dispatch(c);
}

static void dispatch(struct hconn *c)
{
	struct wbackend *be;
	struct upconn *u;
	int r;

	for (;;) {
		be = upstream_pick(c->pool, c->tried);
		if (!be) {
			if (c->attempts)
				pool_error(c, 502, "could not connect to any backend");
			else
				pool_error(c, 503, "no backend available");
			return;
		}
		u = c->force_new ? NULL : upstream_take_idle(be);
		if (u) {
			u->owner = c;
			be->active++;
			STAT_ADD(be->live->active, 1);
			STAT_ADD(pool_live_of(c)->in_flight, 1);
			attach(c, u);
			return;
		}
		r = upstream_connect(be, c, connect_cb, &u);
		if (r == 0) {
			c->up = u;
			return;
		}
		if (fds_exhausted(r)) {		/* ours, not the backend's fault */
			pool_error(c, 503, "nodown is out of file descriptors");
			return;
		}
		log_warn("connect to backend %s/%s (%s) failed: %s", c->pool->cfg->name,
			 be->cfg->name, be->cfg->address, uv_strerror(r));
		STAT_ADD(be->live->connect_errors, 1);
		passive(c, be, false, uv_strerror(r));
		if (be->cfg->index < 64)
			c->tried |= 1ull << be->cfg->index;
		if (c->attempts < c->pool->hcfg->retries)
			STAT_ADD(be->live->retries, 1);
		if (++c->attempts > c->pool->hcfg->retries) {
			pool_error(c, 502, "could not connect to a backend");
			return;
		}
	}
}

/* ---- the exchange: request toward the backend ---------------------------- */

static void up_write_cb(uv_write_t *req, int status);

static void request_written(struct hconn *c)
{
	c->req_head_sent = true;
	if (c->in) {	/* NULL when a bodiless request is resent after trim */
		c->in->off += c->up_inflight;
		if (buf_pending(c->in) == 0)
			c->in->off = c->in->len = 0;
	}
	c->up_inflight = 0;
	if (c->state == C_EXCHANGE && c->req.complete && !c->req_done) {
		c->req_done = true;
		if (c->timer_kind == T_CLIENT && !c->writing)
			client_timer(c, T_NONE, 0);
	}
	if (c->req_done)
		client_trim(c);	/* c->in is not needed while the response comes */
	if (c->req_done && c->up)
		up_wait(c);	/* from now on the backend owes us a response */
	client_read_start(c);
}

/* Send what can be sent toward the backend: the head, then the body as
 * http/body.c re-frames it (or raw bytes in a tunnel). Everything pending
 * is offered at once, so after a complete write there is nothing left
 * until more arrives. */
static void pump_request(struct hconn *c)
{
	struct upconn *u = c->up;
	uv_buf_t bufs[1 + HTTP_BODY_MAX_PIECES];
	struct http_piece pc[HTTP_BODY_MAX_PIECES];
	size_t used = 0, data = 0;
	const char *why;
	int nb = 0, np, r;

	if (!u || u->writing || c->state == C_CLOSING)
		return;
	if (!c->req_head_sent)
		bufs[nb++] = uv_buf_init(c->out->data, (unsigned)c->out_len);
	if (c->in && buf_pending(c->in) && (c->state == C_TUNNEL || !c->req.complete)) {
		char *p = c->in->data + c->in->off;

		if (c->state == C_TUNNEL) {
			used = buf_pending(c->in);
			bufs[nb++] = uv_buf_init(p, (unsigned)used);
		} else {
			if (http_body_decode(&c->req, p, buf_pending(c->in), &used, &data, &why) != 0) {
				send_error(c, 400, why);
				return;
			}
			if (lcfg(c)->max_body_size && c->req.bytes > lcfg(c)->max_body_size) {
				send_error(c, 413, "the request body is larger than max_body_size");
				return;
			}
			np = http_body_encode(&c->req, p, data, pc);
			for (int i = 0; i < np; i++)
				bufs[nb++] = uv_buf_init((char *)pc[i].p, (unsigned)pc[i].n);
		}
	}
	c->up_inflight = used;
	if (nb == 0) {	/* nothing to send: framing only, or nothing at all */
		if (used || (c->req.complete && !c->req_done && c->state == C_EXCHANGE))
			request_written(c);
		return;
	}
	r = stream_write_some((uv_stream_t *)&u->tcp, &u->wreq, bufs, nb, up_write_cb);
	if (r < 0) {
		pool_error(c, 502, "writing the request to the backend failed");
		return;
	}
	if (r == 1) {
		u->writing = true;
		client_read_stop(c);
		return;
	}
	request_written(c);
}

static void up_write_cb(uv_write_t *req, int status)
{
	struct upconn *u = req->data;
	struct hconn *c = u->owner;

	u->writing = false;
	if (!c || u->state != UP_BUSY)
		return;
	if (status < 0) {
		pool_error(c, 502, "writing the request to the backend failed");
		return;
	}
	request_written(c);
	if (c->state == C_TUNNEL && c->eof && (!c->in || buf_pending(c->in) == 0)) {
		client_close(c, "client-closed");
		return;
	}
	if (c->rstate == R_HEAD && u->in && buf_pending(u->in))
		up_data(c);	/* a response that arrived while the head was being written */
	else if (c->in && buf_pending(c->in) && (!c->req_done || c->state == C_TUNNEL))
		pump_request(c);
}

static void attach(struct hconn *c, struct upconn *u)
{
	c->up = u;
	u->owner = c;
	if (!u->in) {		/* the response buffer reserved at admission */
		u->in = c->spare;
		c->spare = NULL;
	}
	c->state = C_EXCHANGE;
	c->rstate = R_HEAD;
	c->rscanned = 0;
	c->req_head_sent = false;
	c->req_done = false;
	c->resp_started = false;
	c->resp_any = false;
	c->up_reusable = false;
	STAT_ADD(u->be->live->requests, 1);
	up_wait(c);
	if (!c->req.complete) {
		stage_start(c, c->in ? buf_pending(c->in) : 0);
		body_timer(c);
	}
	pump_request(c);
}

/* ---- the exchange: response toward the client ---------------------------- */

void proxy_up_alloc(struct upconn *u, uv_buf_t *b)
{
	struct bufpool *p = &u->be->pool->w->bufs;
	struct hconn *c = u->owner;

	*b = uv_buf_init(NULL, 0);
	if (!u->in && !(u->in = buf_get(p)))
		return;
	if (c && c->cl_inflight == 0 && u->in->off > 0)
		buf_compact(u->in);
	if (buf_avail(p, u->in) > 0)
		*b = uv_buf_init(u->in->data + u->in->len, (unsigned)buf_avail(p, u->in));
}

static void up_read_start(struct hconn *c)
{
	if (c->up)
		upstream_read_start(c->up);
}

static void up_read_stop(struct hconn *c)
{
	if (c->up) {
		upstream_read_stop(c->up);
		uv_timer_stop(&c->up->timer);
	}
}

void proxy_upconn_buffer_ready(struct upconn *u)
{
	if (u->owner)
		up_read_start(u->owner);
}

static void client_write_cb(uv_write_t *req, int status);

static void response_done(struct hconn *c)
{
	bool reusable = c->up_reusable && c->req_done && !c->up->writing;

	access_log(c, "-");
	backend_observe(c->up->be->live, (nd_now_ns() - c->start_ns) / 1000);
	c->up->requests++;
	drop_upconn(c, reusable);
	if (c->close_after || !c->req_done || (c->w->stopping && c->w->grace_over) ||
	    listener_gone(c)) {
		client_close(c, "-");
		return;
	}
	c->state = C_IDLE;
	c->start_ns = 0;
	c->resp_bytes = 0;
	c->resp_started = false;
	c->resp_any = false;
	c->status = 0;
	free(c->reqline);
	c->reqline = NULL;
	buf_put(&c->w->bufs, c->out);
	buf_put(&c->w->bufs, c->spare);
	c->out = c->spare = NULL;
	client_trim(c);
	client_timer(c, T_IDLE, lcfg(c)->idle_timeout_ms);
	client_read_start(c);
	if (c->in && buf_pending(c->in))
		client_data(c);	/* a pipelined request */
}

/* Bookkeeping once bytes toward the client are written. Returns true
 * while the exchange goes on (more may be pumped), false once it ended. */
static bool response_written(struct hconn *c)
{
	struct upconn *u = c->up;

	c->resp_bytes += c->cl_wbytes;
	c->cl_wbytes = 0;
	c->resp_head_pending = 0;
	u->in->off += c->cl_inflight;
	c->cl_inflight = 0;
	if (buf_pending(u->in) == 0)
		u->in->off = u->in->len = 0;
	if (c->timer_kind == T_CLIENT && c->req_done)
		client_timer(c, T_NONE, 0);
	if (c->rstate == R_BODY && u->resp.complete) {
		response_done(c);
		return false;
	}
	if (c->state == C_TUNNEL && c->eof && buf_pending(u->in) == 0) {
		client_close(c, "backend-closed");
		return false;
	}
	up_wait(c);
	return true;
}

/*
 * Send what can be sent toward the client: a pending head, then the body
 * as http/body.c re-frames it (or raw bytes in a tunnel). Returns true
 * when the write completed at once and more may follow (up_data loops),
 * false when a write is pending, nothing is left, or the exchange ended.
 */
static bool pump_response(struct hconn *c)
{
	struct upconn *u = c->up;
	uv_buf_t bufs[1 + HTTP_BODY_MAX_PIECES];
	struct http_piece pc[HTTP_BODY_MAX_PIECES];
	size_t used = 0, data = 0, total = 0;
	const char *why;
	int nb = 0, np, r;

	if (c->writing)
		return false;
	if (c->resp_head_pending)
		bufs[nb++] = uv_buf_init(c->out->data, (unsigned)c->resp_head_pending);
	if (u->in && buf_pending(u->in) && c->rstate != R_HEAD) {
		char *p = u->in->data + u->in->off;

		if (c->rstate == R_TUNNEL) {
			used = buf_pending(u->in);
			bufs[nb++] = uv_buf_init(p, (unsigned)used);
		} else {
			if (http_body_decode(&u->resp, p, buf_pending(u->in), &used, &data, &why) != 0) {
				log_warn("backend %s/%s sent an invalid response body: %s",
					 c->pool->cfg->name, u->be->cfg->name, why);
				pool_error(c, 502, "the backend sent an invalid response");
				return false;
			}
			np = http_body_encode(&u->resp, p, data, pc);
			for (int i = 0; i < np; i++)
				bufs[nb++] = uv_buf_init((char *)pc[i].p, (unsigned)pc[i].n);
		}
	}
	c->cl_inflight = used;
	if (nb == 0) {	/* framing only, or nothing at all */
		if (used || (c->rstate == R_BODY && u->resp.complete))
			return response_written(c) && buf_pending(u->in) > 0;
		return false;
	}
	for (int i = 0; i < nb; i++)
		total += bufs[i].len;
	c->cl_wbytes = total;
	if (c->rstate != R_HEAD)
		c->resp_started = true;
	c->resp_any = true;
	r = stream_write_some((uv_stream_t *)&c->tcp, &c->wreq, bufs, nb, client_write_cb);
	if (r < 0) {
		client_close(c, "client-write-failed");
		return false;
	}
	if (r == 1) {
		c->writing = true;
		up_read_stop(c);
		client_timer(c, T_CLIENT, lcfg(c)->client_timeout_ms);
		return false;
	}
	return response_written(c) && buf_pending(u->in) > 0;
}

static void client_write_cb(uv_write_t *req, int status)
{
	struct hconn *c = req->data;

	c->writing = false;
	if (c->state == C_CLOSING)
		return;
	if (status < 0 || !c->up) {
		client_close(c, "client-write-failed");
		return;
	}
	if (response_written(c))
		up_data(c);
}

/* The kind of body a response of status h->status to our request has. */
static enum http_body_kind response_body_kind(const struct hconn *c, const struct http_head *h)
{
	if (c->head_method || h->status < 200 || h->status == 204 || h->status == 304)
		return HTTP_BODY_NONE;
	if (h->chunked)
		return HTTP_BODY_CHUNKED;
	return h->has_cl ? HTTP_BODY_LENGTH : HTTP_BODY_EOF;
}

/*
 * The response head is in up->in: check it, rewrite it into c->out and
 * send it. Interim (1xx) heads are relayed, up to the pool's
 * max_interim_responses. Returns true when more may be handled at once
 * (as pump_response).
 */
static bool response_head(struct hconn *c)
{
	struct upconn *u = c->up;
	const char *p = u->in->data + u->in->off, *why = NULL;
	size_t n = buf_pending(u->in), hl;
	struct http_head h;
	enum http_body_kind kind;
	struct http_rewrite rw = { 0 };
	bool interim, more;
	long len;

	if (c->writing || u->writing)
		return false;	/* c->out is still being written; come back when it is not */
	hl = http_head_end(p, n, c->rscanned);
	if (hl == 0) {
		c->rscanned = n;
		if (buf_avail(&c->w->bufs, u->in) == 0 && u->in->off == 0)
			pool_error(c, 502, "the backend's response head is larger than a buffer");
		return false;
	}
	c->rscanned = 0;
	if (http_scan_head(p, hl, false, &h, &why) != 0) {
		log_warn("backend %s/%s sent an invalid response head: %s",
			 c->pool->cfg->name, u->be->cfg->name, why);
		pool_error(c, 502, "the backend sent an invalid response");
		return false;
	}
	interim = h.status < 200 && h.status != 101;
	kind = response_body_kind(c, &h);
	if ((h.status == 101 && !c->upgrade) || (c->http10 && kind == HTTP_BODY_CHUNKED)) {
		pool_error(c, 502, h.status == 101 ? "the backend switched protocols unasked"
						   : "the backend sent chunked data to an HTTP/1.0 request");
		return false;
	}
	if (interim && ++c->interims > c->pool->hcfg->max_interim_responses) {
		log_warn("backend %s/%s sent more than max_interim_responses (%d) 1xx responses",
			 c->pool->cfg->name, u->be->cfg->name, c->pool->hcfg->max_interim_responses);
		c->cause = "too-many-interim-responses";
		pool_error(c, 502, "the backend sent too many interim (1xx) responses");
		return false;
	}
	if (interim && c->http10) {
		/* RFC 9110 15.2: no 1xx to an HTTP/1.0 client; drop it. */
		u->in->off += hl;
		return buf_pending(u->in) > 0;
	}
	http_body_begin(&u->resp, kind, h.cl, true, (uint32_t)lcfg(c)->max_header_size);
	c->status = h.status;
	if (!interim) {
		STAT_ADD(u->be->live->responses[h.status / 100 <= 5 ? h.status / 100 : 5], 1);
		/* 502-504 say "this server cannot serve"; a 500 is an application
		 * error on a server that works, and is not held against it. */
		passive(c, u->be, h.status < 502 || h.status > 504, "a 502/503/504 response");
		c->up_reusable = h.status != 101 && kind != HTTP_BODY_EOF && !h.conn_close &&
				 (h.minor == 1 || h.conn_keepalive) && h.ka_timeout != 0;
		if (h.ka_timeout > 0)	/* never reuse past what the backend announced */
			u->max_idle_ms = h.ka_timeout <= 1 ? 500 : (uint64_t)(h.ka_timeout - 1) * 1000;
		c->close_after = !c->keepalive || c->w->stopping || kind == HTTP_BODY_EOF ||
				 !c->req_done || c->eof || listener_gone(c);
		rw.connection = h.status == 101 ? "upgrade" :
				c->close_after ? "close" : (c->http10 ? "keep-alive" : NULL);
	}
	rw.via = lcfg(c)->via ? (h.minor == 0 ? "1.0 nodown" : "1.1 nodown") : NULL;
	rw.keep_upgrade = h.status == 101;
	len = http_rewrite_head(p, &h, &rw, c->out->data, c->w->bufs.size);
	if (len < 0) {
		pool_error(c, 502, "the backend's response head is too large");
		return false;
	}
	if (http_head_verify(c->out->data, (size_t)len, &h, kind == HTTP_BODY_NONE, &why) != 0) {
		log_warn("backend %s/%s: its response head, as forwarded, failed the strict check: %s",
			 c->pool->cfg->name, u->be->cfg->name, why);
		pool_error(c, 502, "the backend sent an invalid response");
		return false;
	}
	u->in->off += hl;
	c->resp_head_pending = (size_t)len;
	if (h.status == 101) {
		c->rstate = R_TUNNEL;
		c->state = C_TUNNEL;
		uv_timer_stop(&u->timer);
	} else {
		c->rstate = interim ? R_HEAD : R_BODY;
	}
	more = pump_response(c);
	if (c->state == C_TUNNEL && c->in && buf_pending(c->in))
		pump_request(c);	/* bytes the client sent after its upgrade request */
	return more && (c->state == C_EXCHANGE || c->state == C_TUNNEL);
}

/* Handle what the backend sent: one head or body run per round; a round
 * whose write completed at once loops instead of recursing, so a backend's
 * thousand 1xx heads cost no stack. */
static void up_data(struct hconn *c)
{
	bool more = true;

	while (more && c->up && (c->state == C_EXCHANGE || c->state == C_TUNNEL))
		more = c->rstate == R_HEAD ? response_head(c) : pump_response(c);
}

/* Has c's pool a usable backend other than be, not yet tried for c? */
static bool other_usable(const struct hconn *c, const struct wbackend *be)
{
	const struct wpool *p = c->pool;

	for (int i = 0; i < p->cfg->nbackends; i++)
		if (&p->backends[i] != be && backend_usable(p->backends[i].live) &&
		    (i >= 64 || !(c->tried & (1ull << i))))
			return true;
	return false;
}

/* The backend closed or failed. */
static void up_eof(struct hconn *c, ssize_t err)
{
	struct upconn *u = c->up;
	bool nothing_yet = c->rstate == R_HEAD && !c->resp_any && (!u->in || u->in->len == 0);

	if (c->state == C_TUNNEL) {
		c->eof = true;
		up_read_stop(c);
		if (!c->writing && (!u->in || buf_pending(u->in) == 0))
			client_close(c, "backend-closed");
		return;
	}
	if (c->rstate == R_BODY && u->resp.kind == HTTP_BODY_EOF && err == UV_EOF) {
		if (http_body_eof(&u->resp) == 0) {
			c->up_reusable = false;
			up_read_stop(c);
			if (!c->writing)
				up_data(c);
			return;
		}
	}
	if (nothing_yet && c->retryable && !c->stale_retried) {
		/* The backend closed before answering: on a reused connection
		 * that is the keep-alive race; on a fresh one, a server that
		 * died with the request. The request is idempotent and bodiless
		 * (RFC 9110 9.2.2), and no byte of any response (not even a
		 * 1xx) reached the client, so it is sent once more, on a fresh
		 * connection, to another backend when the pool has a usable
		 * one (a server that was just killed may still complete a
		 * connect from its listen queue, then reset it), else to the
		 * same; this does not count against `retries`. c->out still
		 * holds the request head: only a response head overwrites it. */
		c->stale_retried = true;
		if (u->be->cfg->index < 64 && other_usable(c, u->be))
			c->tried |= 1ull << u->be->cfg->index;
		STAT_ADD(u->be->live->retries, 1);
		c->force_new = true;
		c->req_head_sent = false;
		if (!c->spare) {	/* keep the response buffer for the retry */
			c->spare = u->in;
			u->in = NULL;
		}
		drop_upconn(c, false);
		c->state = C_CONNECT;
		dispatch(c);
		return;
	}
	log_warn("backend %s/%s closed the connection %s: %s", c->pool->cfg->name,
		 u->be->cfg->name, c->resp_started ? "in the middle of a response" :
		 c->resp_any ? "after an interim (1xx) response" : "before responding",
		 uv_strerror((int)err));
	if (c->resp_started || c->writing) {
		client_close(c, "backend-closed");
		return;
	}
	if (c->resp_any)
		c->cause = "backend-closed-after-interim";
	pool_error(c, 502, "the backend closed the connection before responding");
}

void proxy_up_read(struct upconn *u, ssize_t n)
{
	struct hconn *c = u->owner;

	if (!c)
		return;
	if (n > 0) {
		u->in->len += (size_t)n;
		if (c->req_done && c->state != C_TUNNEL)
			up_arm(c);
		up_data(c);
		return;
	}
	if (n == 0)
		return;
	if (n == UV_ENOBUFS) {
		up_read_stop(c);
		if (!u->in)
			bufpool_wait(&c->w->bufs, &u->bw);
		return;
	}
	up_eof(c, n);
}

/* ---- client input -------------------------------------------------------- */

/* A new request on a connection accepted before a reload: it runs on the
 * current generation, unless its listener left the config (then the
 * connection closes after this request, on the config it knows). */
static void follow_reload(struct hconn *c)
{
	struct wgen *g = c->w->cur;
	int i = snapshot_listener_index(g->snap, c->link.l);

	if (i < 0)
		return;
	worker_gen_release(c->w, c->gen);
	c->gen = worker_gen_hold(c->w);
	c->lcfg = &g->snap->cfg->listeners[i];
	c->pool = g->pools[c->lcfg->pool->index];
}

static void client_data(struct hconn *c)
{
	switch (c->state) {
	case C_IDLE:
		if (!c->in || buf_pending(c->in) == 0)
			return;
		if (c->gen != c->w->cur)
			follow_reload(c);
		c->state = C_HEAD;
		c->start_ns = nd_now_ns();
		stage_start(c, buf_pending(c->in));
		/* fall through */
	case C_HEAD:
		head_timer(c);
		try_head(c);
		return;
	case C_EXCHANGE:
		if (!c->req_done) {
			if (!c->req.complete)
				body_timer(c);
			pump_request(c);
		} else if (buf_avail(&c->w->bufs, c->in) == 0) {
			client_read_stop(c);	/* pipelined requests fill the buffer: wait */
		}
		return;
	case C_TUNNEL:
		pump_request(c);
		return;
	case C_LINGER:
	case C_CONNECT:
	case C_CLOSING:
		return;
	}
}

static void client_eof(struct hconn *c, ssize_t err)
{
	if (c->state == C_TUNNEL) {
		c->eof = true;
		client_read_stop(c);
		if ((!c->up || !c->up->writing) && (!c->in || buf_pending(c->in) == 0))
			client_close(c, "client-closed");
		return;
	}
	if ((c->state == C_EXCHANGE || c->state == C_CONNECT) && c->req.complete && err == UV_EOF) {
		/* Half-close after a complete request (HTTP/1.0 tools do this):
		 * the response is still wanted; close once it is sent. */
		c->eof = true;
		c->close_after = true;
		client_read_stop(c);
		return;
	}
	if (c->state == C_EXCHANGE || c->state == C_CONNECT)
		log_info("client %s closed the connection %s (%s)", c->peer,
			 c->req.complete ? "before its response was complete" : "in the middle of its request",
			 uv_strerror((int)err));
	client_close(c, "client-closed");
}

#define PEEK_MS 50

enum peek { PEEK_NOTHING, PEEK_PARTIAL, PEEK_HEAD, PEEK_CLOSED };

/* What the client has sent, looked at without reading it (into the
 * worker's scratch buffer). */
static enum peek peek_head(struct hconn *c)
{
	uv_os_fd_t fd;
	ssize_t n;

	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
		return PEEK_CLOSED;
	n = recv(fd, c->w->scratch, c->w->bufs.size, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? PEEK_NOTHING
										 : PEEK_CLOSED;
	if (n == 0)
		return PEEK_CLOSED;
	return http_head_end(c->w->scratch, (size_t)n, 0) ? PEEK_HEAD : PEEK_PARTIAL;
}
/*
 * The pool had no buffer for the client's first bytes. If they already
 * form a complete request head, clients that hold buffers without a
 * complete request give them up (worker_reclaim) and this one takes one
 * at once; otherwise it waits its turn, and its socket is looked at again
 * every PEEK_MS in case the head completes meanwhile.
 */
static void first_buffer_wait(struct hconn *c)
{
	struct bufpool *p = &c->w->bufs;
	uint64_t now = uv_now(&c->w->loop), left;

	switch (peek_head(c)) {
	case PEEK_CLOSED:
		client_close(c, "-");
		return;
	case PEEK_HEAD:
		while (!(c->in = buf_get(p)) && worker_reclaim(c->w, &c->link))
			;
		if (c->in) {
			c->peek_wait = false;
			bufpool_unwait(&c->bw);
			client_read_start(c);
			return;
		}
		break;
	case PEEK_NOTHING:
	case PEEK_PARTIAL:
		break;
	}
	c->peek_wait = true;
	bufpool_wait(p, &c->bw);
	left = c->deadline > now ? c->deadline - now : 0;
	uv_timer_start(&c->timer, client_timer_cb, left < PEEK_MS ? left : PEEK_MS, 0);
}

static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hconn *c = s->data;

	ND_UNUSED(b);
	if (n > 0) {
		if (c->state == C_LINGER)
			return;		/* read into scratch, dropped */
		c->in->len += (size_t)n;
		if (c->state != C_IDLE)
			c->stage_bytes += (uint64_t)n;
		client_data(c);
		return;
	}
	if (n == 0)
		return;
	if (n == UV_ENOBUFS) {
		client_read_stop(c);
		if (!c->in && (c->state == C_IDLE || c->state == C_HEAD))
			first_buffer_wait(c);	/* a new request: may have priority */
		else if (!c->in)
			bufpool_wait(&c->w->bufs, &c->bw);	/* pipelined: waits its turn */
		else if (c->state == C_HEAD)
			try_head(c);	/* full buffer without a complete head: 431 */
		return;
	}
	client_eof(c, n);
}
/*
 * Buffers ran out and a complete request waits (worker_reclaim): how
 * readily c gives up its buffers. First an unfinished head, the oldest
 * first: it holds a buffer and has not made a request; then a request
 * body arriving below request_min_rate, the slowest first. 0: never.
 */
static uint64_t client_reclaim_rank(struct client_link *l, uint64_t now)
{
	struct hconn *c = container_of(l, struct hconn, link);
	uint64_t el, rate;

	if (c->state == C_HEAD && c->in && !c->head_ready)
		return (1ull << 62) + (now - c->stage_ms);
	if (c->state != C_EXCHANGE || c->req.complete || !lcfg(c)->request_min_rate)
		return 0;
	el = now - c->stage_ms < 1000 ? 1000 : now - c->stage_ms;
	rate = c->stage_bytes * 1000 / el;
	if (rate >= lcfg(c)->request_min_rate)
		return 0;
	return (1ull << 61) - rate;
}
static void client_on_reclaim(struct client_link *l)
{
	struct hconn *c = container_of(l, struct hconn, link);

	c->cause = "evicted";
	log_info("client %s on listener '%s': buffers ran out; its unfinished request gives "
		 "them up for complete ones (408)", c->peer, c->lcfg->name);
	send_error(c, 408, "the request was too slow to keep buffers while complete requests waited");
}

/* ---- stop ---------------------------------------------------------------- */

/* A request held by a pause goes on once it ended. A tunnel to a backend
 * that left rotation may stay open only for the pool's
 * drain_tunnel_timeout, so a drain of WebSocket traffic ends. */
static void client_on_sweep(struct client_link *l)
{
	struct hconn *c = container_of(l, struct hconn, link);

	if (c->held && c->state == C_CONNECT && !held(c)) {
		dispatch(c);	/* the pause ended */
		return;
	}
	if (c->state == C_TUNNEL && c->up && !backend_usable(c->up->be->live) &&
	    c->timer_kind != T_TUNNEL_DRAIN)
		client_timer(c, T_TUNNEL_DRAIN, c->pool->hcfg->drain_tunnel_timeout_ms);
}

static void client_on_stop(struct client_link *l, enum stop_phase phase)
{
	struct hconn *c = container_of(l, struct hconn, link);

	if (phase == STOP_DEADLINE || (c->state == C_IDLE && phase == STOP_GRACE_OVER))
		client_close(c, c->w->stopping ? "shutdown" : "listener-removed");
}

/* ---- accept -------------------------------------------------------------- */

void http_accept(struct wlistener *wl)
{
	struct worker *w = wl->w;
	const struct listener_cfg *lc = wl->cfg;
	struct hconn *c;

	if (!worker_admit(wl))
		return;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->gen = worker_gen_hold(w);
	c->lcfg = lc;
	c->pool = c->gen->pools[lc->pool->index];
	uv_tcp_init(&w->loop, &c->tcp);
	uv_timer_init(&w->loop, &c->timer);
	c->tcp.data = c->timer.data = c->wreq.data = c;
	buf_waiter_init(&c->bw, client_buf_wake);
	c->link.on_stop = client_on_stop;
	c->link.on_sweep = client_on_sweep;
	c->link.reclaim_rank = client_reclaim_rank;
	c->link.on_reclaim = client_on_reclaim;
	if (worker_accept_client(wl, &c->link, &c->tcp, c->peer, sizeof(c->peer)) != 0) {
		client_close(c, "-");
		return;
	}
	client_timer(c, T_HEADER, http_listener(lc)->header_timeout_ms);
	client_read_start(c);
}

