/*
 * health.c - active health checks of every backend of every pool: the
 * driver, and the core's probe (a TCP connect) with the TCP machinery
 * other probes build on.
 *
 * Owns: struct hcheck, one per backend of the current snapshot, and the
 *       `health` word of each backend's live state (workers may also set
 *       it down: see backend_passive; only checks set it up).
 * Invariants: at most one check per backend is in flight; the next starts
 *             `interval` (+ jitter) after the previous ended; a check ends
 *             by its probe's result or by `timeout`, whichever comes first;
 *             a reload keeps the check (and its rise/fall progress) of every
 *             backend whose live state it keeps, its probe reopened on the
 *             new config; a stopped check never reads the config again.
 * Runs on: the control thread's loop, so checks never block a worker.
 */
#include "health.h"

#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "fds.h"
#include "log.h"

/* ---- the driver ------------------------------------------------------------- */

static void next_check(struct hcheck *h);

int health_other_primary(const struct hcheck *h)
{
	for (int b = 0; b < h->pool->nbackends; b++) {
		struct backend_live *o = h->d->live[h->pidx][b];

		if (b != h->bidx && STAT_GET(o->role) == ROLE_PRIMARY && backend_usable(o))
			return b;
	}
	return -1;
}

static void went_up(struct hcheck *h)
{
	atomic_store(&h->live->fails, 0);
	atomic_store(&h->live->usable_since_ms, nd_now_ms());	/* slow start */
	atomic_store(&h->live->health, HEALTH_UP);
	STAT_ADD(h->live->transitions, 1);
	log_info("backend %s/%s: down -> up (%d successful checks)", h->pool->name, h->be->name,
		 h->ok_streak);
	daemon_sweep(h->d);	/* waiters may now be served */
}

static void went_down(struct hcheck *h, const char *why)
{
	atomic_store(&h->live->health, HEALTH_DOWN);
	STAT_ADD(h->live->transitions, 1);
	log_warn("backend %s/%s: up -> down (%d failed checks, last: %s)", h->pool->name,
		 h->be->name, h->fail_streak, why);
	daemon_sweep(h->d);
}

void health_result(struct hcheck *h, bool ok, const char *why)
{
	int health = STAT_GET(h->live->health);

	if (!h->busy || h->stopped)
		return;
	h->busy = false;
	if (health == HEALTH_DOWN && h->last_health == HEALTH_UP)
		h->ok_streak = 0;	/* traffic marked it down: earn rise again */
	if (ok) {
		STAT_ADD(h->live->checks_ok, 1);
		h->fail_streak = 0;
		if (++h->ok_streak >= h->pool->health.rise && health == HEALTH_DOWN) {
			went_up(h);
			health = HEALTH_UP;
		}
	} else {
		h->ok_streak = 0;
		if (++h->fail_streak >= h->pool->health.fall && health == HEALTH_UP) {
			went_down(h, why);
			health = HEALTH_DOWN;
		}
	}
	h->last_health = health;
	next_check(h);
}

static void timer_cb(uv_timer_t *t)
{
	struct hcheck *h = t->data;
	const struct probe_type *p = h->pool->health.probe;

	if (h->busy) {
		p->cancel(h, h->state);
		health_result(h, false, "timeout");
		return;
	}
	h->busy = true;
	uv_timer_start(&h->timer, timer_cb, h->pool->health.timeout_ms, 0);
	p->run(h, h->state);
}

static void next_check(struct hcheck *h)
{
	uint64_t delay = h->pool->health.interval_ms;

	if (h->pool->health.jitter_ms)
		delay += (uint64_t)rand() % h->pool->health.jitter_ms;
	uv_timer_start(&h->timer, timer_cb, delay, 0);
}

static void timer_closed_cb(uv_handle_t *t)
{
	struct hcheck *h = t->data;

	backend_live_unref(h->live);
	free(h);
}

/* End h's probe state: the check in flight is abandoned. */
static void probe_end(struct hcheck *h)
{
	const struct probe_type *p = h->pool->health.probe;

	if (h->busy)
		p->cancel(h, h->state);
	h->busy = false;
	p->close(h->state);
	h->state = NULL;
}

static void check_stop(struct hcheck *h)
{
	probe_end(h);
	h->stopped = true;
	uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
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

/* (Re)point h at backend b of pool p of the current snapshot. */
static void set_target(struct hcheck *h, int p, int b)
{
	h->pool = &h->d->cfg->pools[p];
	h->be = &h->pool->backends[b];
	h->pidx = p;
	h->bidx = b;
	h->state = h->pool->health.probe->open(h);
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
		for (int b = 0; b < c->pools[p].nbackends; b++) {
			struct hcheck *h = take_check(d, d->live[p][b]);
			bool was_busy = h && h->busy;

			if (h) {
				probe_end(h);	/* on the old config */
			} else {
				h = xcalloc(1, sizeof(*h));
				h->d = d;
				h->live = backend_live_ref(d->live[p][b]);
				h->last_health = STAT_GET(h->live->health);
				uv_timer_init(d->loop, &h->timer);
				h->timer.data = h;
				was_busy = true;	/* a new backend is checked at once */
			}
			set_target(h, p, b);
			if (was_busy)
				uv_timer_start(&h->timer, timer_cb, 0, 0);
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

/* ---- probes over TCP ---------------------------------------------------------- */

/* One check over one connection; freed when its handle is closed. */
struct tcprun {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	struct hcheck *h;		/* NULL once cancelled or reported */
	void **slot;			/* the probe's pointer to us, cleared at the end */
	const char *req;
	probe_judge judge;
	size_t len;
	char resp[256];			/* enough for a status line */
};

static void tcprun_closed_cb(uv_handle_t *t)
{
	free(t->data);
}

/* The run ends: detach it from its probe and close its connection. */
static void tcprun_end(struct tcprun *r)
{
	if (r->slot)
		*r->slot = NULL;
	r->slot = NULL;
	r->h = NULL;
	uv_close((uv_handle_t *)&r->tcp, tcprun_closed_cb);
}

static void tcprun_report(struct tcprun *r, bool ok, const char *why)
{
	struct hcheck *h = r->h;

	tcprun_end(r);
	health_result(h, ok, why);
}

static void read_alloc_cb(uv_handle_t *handle, size_t hint, uv_buf_t *b)
{
	struct tcprun *r = handle->data;

	ND_UNUSED(hint);
	*b = uv_buf_init(r->resp + r->len, (unsigned)(sizeof(r->resp) - 1 - r->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct tcprun *r = s->data;
	const char *why = NULL;
	int v;

	ND_UNUSED(b);
	if (!r->h || n == 0)
		return;
	if (n < 0) {
		tcprun_report(r, false, n == UV_EOF ? "closed before an answer" : uv_strerror((int)n));
		return;
	}
	r->len += (size_t)n;
	r->resp[r->len] = '\0';
	v = r->judge(r->resp, r->len, r->h, &why);
	if (v < 0 && r->len >= sizeof(r->resp) - 1) {
		v = 0;
		why = "answer too long";
	}
	if (v >= 0)
		tcprun_report(r, v == 1, why);
}

static void write_cb(uv_write_t *req, int status)
{
	struct tcprun *r = req->data;

	if (status < 0 && r->h)
		tcprun_report(r, false, uv_strerror(status));
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct tcprun *r = req->data;
	uv_buf_t b;

	if (!r->h)
		return;		/* cancelled meanwhile */
	if (status < 0) {
		tcprun_report(r, false, uv_strerror(status));
		return;
	}
	if (!r->req) {
		tcprun_report(r, true, "connected");
		return;
	}
	b = uv_buf_init((char *)r->req, (unsigned)strlen(r->req));
	if (uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, write_cb) < 0 ||
	    uv_read_start((uv_stream_t *)&r->tcp, read_alloc_cb, read_cb) < 0)
		tcprun_report(r, false, "cannot send the request");
}

void probe_tcp_run(struct hcheck *h, void **run, const char *req, probe_judge judge)
{
	struct tcprun *r = xcalloc(1, sizeof(*r));
	int e;

	r->h = h;
	r->slot = run;
	r->req = req;
	r->judge = judge;
	*run = r;
	uv_tcp_init(h->d->loop, &r->tcp);
	r->tcp.data = r->creq.data = r->wreq.data = r;
	e = fds_tcp_connect(&r->creq, &r->tcp, (const struct sockaddr *)&h->be->addr, connect_cb);
	if (e < 0)
		tcprun_report(r, false, uv_strerror(e));
}

void probe_tcp_cancel(void **run)
{
	if (*run)
		tcprun_end(*run);
}

/* ---- the tcp probe ----------------------------------------------------------------- */

/* Its state is the run in flight, if any. */
static void *tcp_open(struct hcheck *h)
{
	ND_UNUSED(h);
	return xcalloc(1, sizeof(void *));
}

static void tcp_run(struct hcheck *h, void *state)
{
	probe_tcp_run(h, state, NULL, NULL);
}

static void tcp_cancel(struct hcheck *h, void *state)
{
	ND_UNUSED(h);
	probe_tcp_cancel(state);
}

const struct probe_type tcp_probe = {
	.name = "tcp", .keys = &schema_no_keys,
	.open = tcp_open, .run = tcp_run, .cancel = tcp_cancel, .close = free,
};
