/*
 * health.c - active health checks: a TCP connect, or an HTTP request whose
 * status must fall in the expected range, per backend, every interval.
 *
 * Owns: struct hcheck, one per backend, and the `health` word of each
 *       backend's live state (workers may also set it down: see
 *       backend_passive; only checks set it up).
 * Invariant: at most one check per backend is in flight; the next starts
 *            `interval` (+ jitter) after the previous ended; a check ends by
 *            success, failure or `timeout`, whichever comes first; a reload
 *            keeps the check (and its rise/fall progress) of every backend
 *            whose live state it keeps, and a stopped check never reads
 *            the config again.
 * Runs on: the control thread's loop, so checks never block a worker.
 */
#include "health.h"

#include <errno.h>
#include <stdlib.h>

#include "../core/fds.h"
#include "../core/daemon.h"
#include "../core/log.h"
#include "../core/proto.h"
#include "config.h"

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

static void read_expect(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct http_probe_cfg *h = target;

	if (!schema_want_scalar(cx, v, "expect", "a status"))
		return;
	if (parse_expect(schema_scalar(v), &h->expect_min, &h->expect_max) < 0)
		CFG_ERR(cx, v, "health.expect must be a status (200), a range (200-399) or a class "
			"(2xx), not '%s'", schema_scalar(v));
}

#define H(f) offsetof(struct http_probe_cfg, f)
static const struct field probe_keys[] = {
	{ .key = "path", .type = F_STR, .off = H(path) },
	{ .key = "method", .type = F_STR, .off = H(method) },
	{ .key = "host", .type = F_STR, .off = H(host) },
	{ .key = "expect", .type = F_CUSTOM, .fn = read_expect },
};
#undef H

static void probe_defaults(void *cfg)
{
	*(struct http_probe_cfg *)cfg = (struct http_probe_cfg){
		.path = xstrdup("/"), .method = xstrdup("GET"), .expect_min = 200, .expect_max = 399,
	};
}

static const struct keytable probe_table = {
	probe_keys, ARRAY_LEN(probe_keys), sizeof(struct http_probe_cfg), probe_defaults,
};

const struct probe_type http_probe = { .name = "http", .keys = &probe_table };

struct hcheck {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t timer;		/* interval, then timeout while a check runs */
	struct daemon *d;		/* borrowed */
	const struct pool_cfg *pool;	/* borrowed from the current snapshot */
	const struct backend_cfg *be;	/* borrowed from the current snapshot */
	struct backend_live *live;	/* a reference */
	int ok_streak, fail_streak;
	int last_health;		/* what we last saw, to notice a passive down */
	bool busy;			/* a check is in flight (tcp open) */
	bool closing;			/* tcp is closing */
	bool stopped;
	size_t len;			/* bytes of the response read */
	char resp[256];			/* enough for a status line */
	char req[512];
};

static void next_check(struct hcheck *h);

static const struct http_probe_cfg *probe_cfg(const struct hcheck *h)
{
	return h->pool->health.probe_cfg;
}

static void timer_closed_cb(uv_handle_t *t)
{
	struct hcheck *h = t->data;	/* the timer is the last handle of a stopped check */

	backend_live_unref(h->live);
	free(h);
}

static void hcheck_handle_closed_cb(uv_handle_t *handle)
{
	struct hcheck *h = handle->data;

	h->closing = false;
	if (h->stopped && !uv_is_closing((uv_handle_t *)&h->timer))
		uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
}

static void sweep_workers(struct daemon *d)
{
	for (int i = 0; i < d->cfg->workers; i++)
		worker_sweep(&d->workers[i]);
}

/* One check ended: count it, maybe change the backend's health. */
static void result(struct hcheck *h, bool ok, const char *why)
{
	int health = STAT_GET(h->live->health);

	if (h->busy && !h->closing) {
		h->closing = true;
		uv_close((uv_handle_t *)&h->tcp, hcheck_handle_closed_cb);
	}
	h->busy = false;
	if (health == HEALTH_DOWN && h->last_health == HEALTH_UP)
		h->ok_streak = 0;	/* traffic marked it down: earn rise again */
	if (ok) {
		h->fail_streak = 0;
		if (++h->ok_streak >= h->pool->health.rise && health == HEALTH_DOWN) {
			atomic_store(&h->live->fails, 0);
			atomic_store(&h->live->usable_since_ms, nd_now_ms());
			atomic_store(&h->live->health, HEALTH_UP);
			STAT_ADD(h->live->transitions, 1);
			health = HEALTH_UP;
			log_info("backend %s/%s: down -> up (%d successful checks)", h->pool->name,
				 h->be->name, h->ok_streak);
		}
	} else {
		h->ok_streak = 0;
		if (++h->fail_streak >= h->pool->health.fall && health == HEALTH_UP) {
			atomic_store(&h->live->health, HEALTH_DOWN);
			STAT_ADD(h->live->transitions, 1);
			health = HEALTH_DOWN;
			log_warn("backend %s/%s: up -> down (%d failed checks, last: %s)", h->pool->name,
				 h->be->name, h->fail_streak, why);
			sweep_workers(h->d);
		}
	}
	h->last_health = health;
	next_check(h);
}

static void read_alloc_cb(uv_handle_t *handle, size_t hint, uv_buf_t *b)
{
	struct hcheck *h = handle->data;

	ND_UNUSED(hint);
	*b = uv_buf_init(h->resp + h->len, (unsigned)(sizeof(h->resp) - 1 - h->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hcheck *h = s->data;
	char why[64];
	int status;

	ND_UNUSED(b);
	if (!h->busy || n == 0)
		return;
	if (n < 0) {
		result(h, false, n == UV_EOF ? "closed before a status line" : uv_strerror((int)n));
		return;
	}
	h->len += (size_t)n;
	h->resp[h->len] = '\0';
	if (!strstr(h->resp, "\r\n")) {
		if (h->len >= sizeof(h->resp) - 1)
			result(h, false, "status line too long");
		return;
	}
	if (sscanf(h->resp, "HTTP/1.%*1d %3d", &status) != 1) {
		result(h, false, "not an HTTP response");
		return;
	}
	snprintf(why, sizeof(why), "HTTP %d", status);
	result(h, status >= probe_cfg(h)->expect_min && status <= probe_cfg(h)->expect_max, why);
}

static void write_cb(uv_write_t *req, int status)
{
	struct hcheck *h = req->data;

	if (status < 0 && h->busy)
		result(h, false, uv_strerror(status));
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct hcheck *h = req->data;
	uv_buf_t b;

	if (!h->busy)
		return;		/* timed out or stopped meanwhile */
	if (status < 0) {
		result(h, false, uv_strerror(status));
		return;
	}
	if (h->pool->health.probe == &tcp_probe) {
		result(h, true, "connected");
		return;
	}
	b = uv_buf_init(h->req, (unsigned)strlen(h->req));
	h->len = 0;
	if (uv_write(&h->wreq, (uv_stream_t *)&h->tcp, &b, 1, write_cb) < 0 ||
	    uv_read_start((uv_stream_t *)&h->tcp, read_alloc_cb, read_cb) < 0)
		result(h, false, "cannot send the request");
}

static void timer_cb(uv_timer_t *t)
{
	struct hcheck *h = t->data;
	int r;

	if (h->busy) {
		result(h, false, "timeout");
		return;
	}
	if (h->closing) {	/* the last one is still closing: try a bit later */
		uv_timer_start(&h->timer, timer_cb, 10, 0);
		return;
	}
	uv_tcp_init(h->d->loop, &h->tcp);
	h->tcp.data = h;
	h->busy = true;
	uv_timer_start(&h->timer, timer_cb, h->pool->health.timeout_ms, 0);
	r = fds_tcp_connect(&h->creq, &h->tcp, (const struct sockaddr *)&h->be->addr, connect_cb);
	if (r < 0)
		result(h, false, uv_strerror(r));
}

static void next_check(struct hcheck *h)
{
	uint64_t delay = h->pool->health.interval_ms;

	if (h->stopped)
		return;
	if (h->pool->health.jitter_ms)
		delay += (uint64_t)rand() % h->pool->health.jitter_ms;
	uv_timer_start(&h->timer, timer_cb, delay, 0);
}

/* (Re)point h at backend b of pool pc: what it checks and how. */
static void set_target(struct hcheck *h, const struct pool_cfg *pc, int b)
{
	const struct http_probe_cfg *hp = pc->health.probe_cfg;
	char host[300];

	h->pool = pc;
	h->be = &pc->backends[b];
	if (pc->health.probe != &http_probe)
		return;		/* tcp: a connect, no request */
	if (hp->host)
		snprintf(host, sizeof(host), "%s", hp->host);
	else
		config_format_address(&h->be->addr, host, sizeof(host));
	snprintf(h->req, sizeof(h->req),
		 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nodown-health\r\n"
		 "Connection: close\r\n\r\n", hp->method, hp->path, host);
}

static struct hcheck *check_new(struct daemon *d, struct backend_live *live)
{
	struct hcheck *h = xcalloc(1, sizeof(*h));

	h->d = d;
	h->live = backend_live_ref(live);
	h->last_health = STAT_GET(live->health);
	h->creq.data = h->wreq.data = h->timer.data = h;
	uv_timer_init(d->loop, &h->timer);
	return h;
}

/* The check of `live` among d's current ones, taken out of the array. */
static struct hcheck *take_check(struct daemon *d, struct backend_live *live)
{
	for (int i = 0; i < d->nchecks; i++) {
		struct hcheck *h = d->checks[i];

		if (h && h->live == live) {
			d->checks[i] = NULL;
			return h;
		}
	}
	return NULL;
}

static void check_stop(struct hcheck *h)
{
	h->stopped = true;
	uv_timer_stop(&h->timer);
	if (h->busy && !h->closing) {
		h->busy = false;
		h->closing = true;
		uv_close((uv_handle_t *)&h->tcp, hcheck_handle_closed_cb);
	} else if (!h->closing) {
		uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
	}
}

void health_apply(struct daemon *d)
{
	const struct config *c = d->cfg;
	struct hcheck **checks;
	int n = 0;

	for (int p = 0; p < c->npools; p++)
		n += c->pools[p].nbackends;
	checks = xcalloc((size_t)n + 1, sizeof(*checks));
	n = 0;
	for (int p = 0; p < c->npools; p++) {
		const struct pool_cfg *pc = &c->pools[p];

		if (pc->proto != &http_module)
			continue;
		for (int b = 0; b < pc->nbackends; b++) {
			struct hcheck *h = take_check(d, d->live[p][b]);

			if (!h) {
				h = check_new(d, d->live[p][b]);
				/* Spread the first checks over one interval. */
				uv_timer_start(&h->timer, timer_cb,
					       (uint64_t)rand() % (pc->health.interval_ms + 1) / 4, 0);
			}
			set_target(h, pc, b);
			checks[n++] = h;
		}
	}
	health_stop(d);		/* the checks of backends that left */
	d->checks = checks;
	d->nchecks = n;
}

void health_stop(struct daemon *d)
{
	for (int i = 0; i < d->nchecks; i++)
		if (d->checks[i])
			check_stop(d->checks[i]);
	free(d->checks);
	d->checks = NULL;
	d->nchecks = 0;
}
