/*
 * pool.c - one worker's connections to the PostgreSQL servers of its pg
 * pools.
 *
 * Owns: struct pgserver from connect to close (login included: nodown
 *       logs in with the secret of the client's user from the auth file),
 *       the idle servers and waiting clients of each (user, database).
 * Invariants:
 *   - a server is opened only to the backend health checks last saw as the
 *     primary, and is reused only while that is still so (same backend,
 *     same primary epoch); writes never reach a standby;
 *   - at most max_per_bucket servers per (user, database) per worker are
 *     open; clients beyond that wait, first come first served;
 *   - an idle server holds no client, is read only to notice a close, and
 *     is closed after the pool's idle_timeout;
 *   - warm servers (opened to a switchover's target while it runs, as many
 *     per bucket as were open to the old primary) sit on bucket->warm,
 *     never serve a client, and count apart from max_per_bucket; they are
 *     adopted onto the idle list only once the pool's epoch is the one
 *     they were opened for and their backend is the usable primary, and
 *     closed when the switchover ends otherwise.
 * Runs on: the owning worker's loop.
 */
#include "pool.h"

#include <errno.h>

#include "../core/fds.h"
#include "../core/log.h"
#include "../core/proto.h"
#include "../core/stream.h"
#include "../core/worker.h"
#include "live.h"
#include "login.h"
#include "proxy.h"

#define PG_SERVER_MSG_MAX (64u << 20)	/* one message from a server during login */

const char *const pg_tracked_params[PG_TRACKED_PARAMS] = {
	"client_encoding", "DateStyle", "TimeZone", "IntervalStyle",
	"standard_conforming_strings", "application_name",
};

/* ---- tracked parameters ------------------------------------------------------ */

void pg_vars_set(struct pg_vars *vs, const char *name, size_t nlen, const char *value, size_t vlen)
{
	for (int i = 0; i < PG_TRACKED_PARAMS; i++) {
		if (strlen(pg_tracked_params[i]) == nlen && !strncasecmp(pg_tracked_params[i], name, nlen)) {
			free(vs->v[i]);
			vs->v[i] = xmalloc(vlen + 1);
			memcpy(vs->v[i], value, vlen);
			vs->v[i][vlen] = '\0';
		}
	}
}

const char *pg_vars_get(const struct pg_vars *vs, const char *name, size_t nlen)
{
	for (int i = 0; i < PG_TRACKED_PARAMS; i++)
		if (strlen(pg_tracked_params[i]) == nlen && !strncasecmp(pg_tracked_params[i], name, nlen))
			return vs->v[i];
	return NULL;
}

void pg_vars_free(struct pg_vars *vs)
{
	for (int i = 0; i < PG_TRACKED_PARAMS; i++) {
		free(vs->v[i]);
		vs->v[i] = NULL;
	}
}

/* ---- generations ----------------------------------------------------------- */

/* Was s opened in the pool's current primary epoch, to a backend that is
 * the primary? (Such a server may be reused; any other is stale.) */
static bool on_current_primary(struct pg_wpool *p, const struct pgserver *s)
{
	return s->epoch == atomic_load(&p->shared->epoch) &&
	       STAT_GET(p->live[s->backend]->role) == ROLE_PRIMARY;
}

/* An idle server of b to close (all, or stale), or NULL. */
static struct pgserver *stale_idle(struct pg_wpool *p, struct pgbucket *b, bool all)
{
	for (struct list *pos = b->idle.next; pos != &b->idle; pos = pos->next) {
		struct pgserver *s = container_of(pos, struct pgserver, node);

		if (all || !on_current_primary(p, s))
			return s;
	}
	return NULL;
}

/* Every server a worker has open, whatever its state and generation, so
 * that the worker's end closes each through its own callbacks (freed, not
 * just its handles closed). Servers live on their worker's thread only:
 * one list per thread. */
static _Thread_local struct list all_servers;

static struct list *worker_servers(void)
{
	if (!all_servers.next)
		list_init(&all_servers);
	return &all_servers;
}

/* One at a time: closing a server wakes waiters, who may take idle ones. */
static void close_idle(struct pg_wpool *p, bool all)
{
	for (struct pgbucket *b = p->buckets; b; b = b->next) {
		struct pgserver *s;

		while ((s = stale_idle(p, b, all)))
			pg_server_close(s);
		while (all && !list_empty(&b->warm))
			pg_server_close(container_of(b->warm.next, struct pgserver, node));
	}
}

/* g's state of its pool i if it is a pg pool, else NULL. */
static struct pg_wpool *wpool_at(struct wgen *g, int i)
{
	return g->snap->cfg->pools[i].proto == &pg_module ? g->pools[i] : NULL;
}

void pg_gen_init(struct worker *w, struct wgen *g, struct wgen *prev)
{
	const struct config *c = g->snap->cfg;

	for (int i = 0; i < c->npools; i++) {
		struct pg_wpool *p;
		int share;

		if (c->pools[i].proto != &pg_module)
			continue;
		p = g->pools[i] = xcalloc(1, sizeof(*p));
		p->cfg = &c->pools[i];
		p->pg = pg_pool(p->cfg);
		share = p->pg->pool_size / c->workers;
		p->auth = p->pg->auth;
		p->live = g->snap->live[i];
		p->shared = g->snap->pools[i];
		p->w = w;
		p->gen = g;
		p->max_per_bucket = share + (w->id < p->pg->pool_size % c->workers);
		if (p->max_per_bucket < 1)
			p->max_per_bucket = 1;
	}
	/* The old generation's idle servers close rather than linger until
	 * idle_timeout next to the new ones (servers are cheap to reopen). */
	for (int i = 0; prev && i < prev->snap->cfg->npools; i++)
		if (wpool_at(prev, i))
			close_idle(wpool_at(prev, i), true);
}

void pg_gen_free(struct worker *w, struct wgen *g)
{
	ND_UNUSED(w);
	for (int i = 0; i < g->snap->cfg->npools; i++) {
		struct pg_wpool *p = wpool_at(g, i);
		struct pgbucket *b, *next;

		if (!p)
			continue;
		for (b = p->buckets; b; b = next) {
			next = b->next;
			pg_vars_free(&b->defaults);
			free(b);
		}
		free(p->htab);
		free(p);
	}
}

/* The worker ends: every server goes, idle or not (one still finishing a
 * reset or its Terminate too). */
void pg_worker_close(struct worker *w)
{
	struct list *all = worker_servers();

	ND_UNUSED(w);
	for (struct list *n = all->next, *next; n != all; n = next) {
		struct pgserver *s = container_of(n, struct pgserver, all_node);

		next = n->next;
		pg_server_close(s);
	}
}

/* FNV-1a of user NUL database. */
static uint32_t bucket_hash(const char *user, const char *database)
{
	uint32_t h = 2166136261u;

	for (const char *p = user; ; p++) {
		h = (h ^ (uint8_t)*p) * 16777619u;
		if (!*p)
			break;
	}
	for (const char *p = database; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/* Double the hash table once it holds as many buckets as slots. */
static void bucket_rehash(struct pg_wpool *p)
{
	unsigned size = p->hsize ? p->hsize * 2 : 64;
	struct pgbucket **t = xcalloc(size, sizeof(*t));

	for (struct pgbucket *b = p->buckets; b; b = b->next) {
		b->hnext = t[b->hash & (size - 1)];
		t[b->hash & (size - 1)] = b;
	}
	free(p->htab);
	p->htab = t;
	p->hsize = size;
}

struct pgbucket *pg_bucket(struct pg_wpool *p, const char *user, const char *database)
{
	uint32_t h = bucket_hash(user, database);
	struct pgbucket *b;

	for (b = p->hsize ? p->htab[h & (p->hsize - 1)] : NULL; b; b = b->hnext)
		if (b->hash == h && !strcmp(b->user, user) && !strcmp(b->database, database))
			return b;
	b = xcalloc(1, sizeof(*b));
	b->hash = h;
	b->pool = p;
	snprintf(b->user, sizeof(b->user), "%s", user);
	snprintf(b->database, sizeof(b->database), "%s", database);
	list_init(&b->idle);
	list_init(&b->warm);
	list_init(&b->waiters);
	b->next = p->buckets;
	p->buckets = b;
	if (++p->nbuckets > p->hsize)
		bucket_rehash(p);
	else {
		b->hnext = p->htab[h & (p->hsize - 1)];
		p->htab[h & (p->hsize - 1)] = b;
	}
	return b;
}

/* The backend new servers go to, or -1 when no primary is known. */
static int primary_of(struct pg_wpool *p)
{
	for (int i = 0; i < p->cfg->nbackends; i++)
		if (STAT_GET(p->live[i]->role) == ROLE_PRIMARY && backend_usable(p->live[i]))
			return i;
	return -1;
}

bool pg_pool_has_primary(struct pg_wpool *p)
{
	return primary_of(p) >= 0;
}

/* ---- closing ----------------------------------------------------------------- */

static void server_handle_closed_cb(uv_handle_t *h)
{
	struct pgserver *s = h->data;
	struct pg_wpool *p = s->bucket->pool;

	if (--s->closing_handles > 0)
		return;
	gbuf_free(&s->in);
	gbuf_free(&s->out);
	gbuf_free(&s->wbuf);
	gbuf_free(&s->params);
	pg_vars_free(&s->vars);
	for (int i = 0; i < s->nstmts; i++)
		free(s->stmts[i]);
	free(s->stmts);
	for (int i = 0; i < s->parses_n; i++)
		free(s->parses[(s->parses_head + i) % s->parses_cap].srvname);
	free(s->parses);
	pg_login_free(&s->login);
	list_del(&s->all_node);
	free(s);
	worker_gen_release(p->w, p->gen);
}

static void wake_waiters(struct pgbucket *b);

void pg_server_close(struct pgserver *s)
{
	struct pgbucket *b = s->bucket;

	/* closing already (pg_worker_close closes every server, in any state) */
	if (s->state == PS_CLOSING || uv_is_closing((uv_handle_t *)&s->tcp))
		return;
	wflush_cancel(&s->flush);
	bufpool_unwait(&s->bw);
	if (s->state == PS_IDLE && !s->warm)
		b->nidle--;
	list_del(&s->node);	/* idle or warm list, if on one */
	if (s->client)
		pg_proxy_server_gone(s->client, s);
	s->client = NULL;
	s->state = PS_CLOSING;
	if (s->warm)
		b->nwarm--;
	else
		b->nopen--;
	s->closing_handles = 2;
	uv_close((uv_handle_t *)&s->timer, server_handle_closed_cb);
	uv_close((uv_handle_t *)&s->tcp, server_handle_closed_cb);
	wake_waiters(b);	/* room for a new one */
}

/* ---- writing ------------------------------------------------------------------ */

static void server_flush(struct pgserver *s);

static void flush_cb(struct wflush *f)
{
	server_flush(container_of(f, struct pgserver, flush));
}

static void write_cb(uv_write_t *req, int status)
{
	struct pgserver *s = req->data;

	s->writing = false;
	s->wbuf.off = s->wbuf.len = 0;
	gbuf_release(&s->wbuf);
	if (s->state == PS_CLOSING || status == UV_ECANCELED)
		return;
	if (status < 0) {
		log_warn("pg server %s/%s: write failed: %s", s->bucket->pool->cfg->name,
			 s->bucket->pool->cfg->backends[s->backend].name, uv_strerror(status));
		pg_server_close(s);
		return;
	}
	server_flush(s);
}

/* Write what is queued: at once as far as the socket takes it, the rest
 * with uv_write. Once nothing is left, a client held back because this
 * server had too much of its output to write may go on. */
static void server_flush(struct pgserver *s)
{
	int r;

	if (s->writing || s->state == PS_CLOSING || s->state == PS_CONNECTING)
		return;
	r = gbuf_write((uv_stream_t *)&s->tcp, &s->wreq, &s->out, &s->wbuf, write_cb);
	if (r < 0) {
		log_warn("pg server %s/%s: write failed: %s", s->bucket->pool->cfg->name,
			 s->bucket->pool->cfg->backends[s->backend].name, uv_strerror(r));
		pg_server_close(s);
	} else if (r == 1) {
		s->writing = true;
	} else if (s->terminating) {
		pg_server_close(s);
	} else if (s->client) {
		pg_proxy_server_drained(s->client);
	}
}

void pg_server_terminate(struct pgserver *s, bool copy_in)
{
	char buf[64];

	s->client = NULL;
	s->terminating = true;
	uv_timer_stop(&s->timer);
	if (copy_in)
		pg_server_send(s, buf, pg_build_copy_fail(buf, sizeof(buf), "the client left"));
	pg_server_send(s, buf, pg_build_terminate(buf, sizeof(buf)));
}

void pg_server_send(struct pgserver *s, const char *p, size_t n)
{
	if (!gbuf_reserve(&s->out, n, SIZE_MAX))
		return;
	gbuf_append(&s->out, p, n);
	worker_flush_later(s->bucket->pool->w, &s->flush);
}

/* ---- idle pool and waiters ------------------------------------------------------ */

static void idle_timeout_cb(uv_timer_t *t)
{
	pg_server_close(t->data);
}

static void link_client(struct pgserver *s, struct pgclient *c)
{
	s->state = PS_LINKED;
	s->client = c;
	uv_timer_stop(&s->timer);
	pg_proxy_linked(c, s);
}

static void server_buf_wake(struct buf_waiter *w);

static void server_open(struct pgbucket *b, int backend, bool warm);

/* An idle server of b to the primary new transactions go to (stale ones
 * are left for close_idle), or NULL. */
static struct pgserver *fresh_idle(struct pg_wpool *p, struct pgbucket *b, int primary)
{
	for (struct list *pos = b->idle.next; pos != &b->idle; pos = pos->next) {
		struct pgserver *s = container_of(pos, struct pgserver, node);

		if (s->backend == primary && on_current_primary(p, s))
			return s;
	}
	return NULL;
}

/* A server is free (or there is room for one): serve the first waiter. */
static void wake_waiters(struct pgbucket *b)
{
	struct pg_wpool *p = b->pool;

	while (!list_empty(&b->waiters)) {
		struct pgclient *c = pg_proxy_waiter(b->waiters.next);
		int primary = primary_of(p);
		struct pgserver *s;

		if (atomic_load(&p->shared->paused) || primary < 0)
			return;		/* they wait for the switchover or a primary */
		if ((s = fresh_idle(p, b, primary))) {
			list_del(&s->node);
			b->nidle--;
			pg_pool_unwait(c);
			link_client(s, c);
			continue;
		}
		if (b->nopen < p->max_per_bucket)
			server_open(b, primary, false);
		return;
	}
}

void pg_pool_release(struct pgserver *s, bool clean)
{
	struct pgbucket *b = s->bucket;
	struct pg_wpool *p = b->pool;

	s->client = NULL;
	if (!clean || gbuf_pending(&s->in) > 0 || p->w->stopping || !on_current_primary(p, s) ||
	    !backend_usable(p->live[s->backend]) || p->gen != p->w->cur) {
		pg_server_close(s);
		return;
	}
	s->state = PS_IDLE;
	s->idle_since_ms = uv_now(&p->w->loop);
	list_push(&b->idle, &s->node);
	b->nidle++;
	/* Read again if backpressure from its last client had stopped it: an
	 * idle server is read to notice a close, and the next client's
	 * answers would otherwise never be read. */
	pg_server_read(s, true);
	uv_timer_start(&s->timer, idle_timeout_cb, p->cfg->idle_timeout_ms, 0);
	wake_waiters(b);
}

void pg_pool_acquire(struct pgbucket *b, struct pgclient *c)
{
	pg_proxy_wait(c, &b->waiters);
	wake_waiters(b);
}

/*
 * Warm servers of b as the switchover now stands: while one runs, open as
 * many to its target as b has open to the old primary; once the epoch
 * they were opened for has come and their backend is the usable primary,
 * adopt the logged-in ones as idle servers; otherwise (the switchover
 * aborted or failed) close them.
 */
static void warm_sweep(struct pg_wpool *p, struct pgbucket *b)
{
	struct pg_pool_live *pl = pg_plive(p->shared);
	int target = atomic_load(&pl->warm_target) - 1;
	unsigned epoch = atomic_load(&p->shared->epoch), warm_epoch = atomic_load(&pl->warm_epoch);

	while (!list_empty(&b->warm)) {
		struct pgserver *s = container_of(b->warm.next, struct pgserver, node);

		if (s->epoch == epoch && primary_of(p) == s->backend) {
			list_del(&s->node);
			s->warm = false;
			b->nwarm--;
			b->nopen++;
			STAT_ADD(pl->warm_adopted, 1);
			pg_pool_release(s, true);	/* onto the idle list; serves a waiter */
		} else if (target < 0 || s->epoch != warm_epoch || warm_epoch != epoch + 1) {
			pg_server_close(s);
		} else {
			break;	/* still ahead: kept */
		}
	}
	if (target >= 0 && warm_epoch == epoch + 1) {
		int want = (b->nopen < p->max_per_bucket ? b->nopen : p->max_per_bucket) - b->nwarm;

		for (int i = 0; i < want; i++)	/* a failed open drops nwarm again: no retry here */
			server_open(b, target, true);
	}
}

void pg_worker_sweep(struct worker *w)
{
	for (int i = 0; i < w->cfg->npools; i++) {
		struct pg_wpool *p = wpool_at(w->cur, i);

		if (!p)
			continue;
		/* warm servers first: closing stale ones makes room, and the
		 * waiters would take it with a new login */
		for (struct pgbucket *b = p->buckets; b; b = b->next)
			warm_sweep(p, b);
		close_idle(p, false);
		for (struct pgbucket *b = p->buckets; b; b = b->next)
			wake_waiters(b);
	}
}

/* ---- login ----------------------------------------------------------------------- */

/*
 * A server could not be had. If the server refused the login (bad secret,
 * no such database...), the first waiter is told why. If it could not be
 * reached, the backend is taken out at once (passively, as if its checks
 * had failed) and the waiters stay queued: a primary found by the health
 * checks, or failover_hold, ends their wait.
 */
static void server_failed(struct pgserver *s, const char *why, bool unreachable)
{
	struct pgbucket *b = s->bucket;
	struct pg_wpool *p = b->pool;
	const struct pool_cfg *pc = p->cfg;

	log_warn("pg server %s/%s: cannot log in as %s to database %s%s: %s", pc->name,
		 pc->backends[s->backend].name, b->user, b->database,
		 s->warm ? " (ahead of a switchover)" : "", why);
	STAT_ADD(p->live[s->backend]->connect_errors, 1);
	/* A warm server's failure is not held against the standby (its checks
	 * judge it), and no waiter was counting on it. */
	if (unreachable && !s->warm) {
		worker_passive(p->w, p->live[s->backend], false, 1, pc->name,
			       pc->backends[s->backend].name, why);
	} else if (!unreachable && !s->warm && !list_empty(&b->waiters)) {
		struct pgclient *c = pg_proxy_waiter(b->waiters.next);

		pg_pool_unwait(c);
		pg_proxy_link_failed(c, why);
	}
	pg_server_close(s);
}

/*
 * A refused login. The server shutting down, starting up or still in
 * recovery (57P01-57P03: a fence under way, a restart, a standby not yet
 * promoted) is treated as unreachable: the waiters wait for a primary
 * rather than fail. Any other refusal (bad secret, no such database) is
 * the first waiter's answer.
 */
static void login_failed(struct pgserver *s, const char *why)
{
	bool transient = !strncmp(why, "57P01", 5) || !strncmp(why, "57P02", 5) || !strncmp(why, "57P03", 5);

	server_failed(s, why, transient);
}

static void unreachable(struct pgserver *s, const char *why)
{
	server_failed(s, why, true);
}

static void login_done(struct pgserver *s)
{
	struct pgbucket *b = s->bucket;

	BUG_ON(s->state != PS_LOGIN);
	pg_login_free(&s->login);
	if (!b->have_defaults) {
		for (int i = 0; i < PG_TRACKED_PARAMS; i++)
			if (s->vars.v[i])
				b->defaults.v[i] = xstrdup(s->vars.v[i]);
		b->have_defaults = true;
	}
	s->state = PS_IDLE;	/* briefly: release puts it on the idle list */
	s->client = NULL;
	uv_timer_stop(&s->timer);
	if (s->warm) {
		list_push(&b->warm, &s->node);
		warm_sweep(b->pool, b);		/* adopted at once if its epoch came */
		return;
	}
	b->nidle++;
	list_push(&b->idle, &s->node);
	wake_waiters(b);
}

/* One message from a server still logging in. */
static void login_msg(struct pgserver *s, const char *m, size_t n)
{
	struct pg_err err;
	const char *why;

	if (m[0] == 'S') {
		struct pg_param prm;

		if (pg_read_param_status(m, n, &prm, &err) == 0) {
			char off[64];

			pg_vars_set(&s->vars, prm.name.p, prm.name.len, prm.value.p, prm.value.len);
			if (s->warm && !strcmp(prm.name.p, "in_hot_standby")) {
				/* logged in before its promotion; adopted only after */
				n = pg_build_param_status(off, sizeof(off), "in_hot_standby", "off");
				m = off;
			}
			if (gbuf_reserve(&s->params, n, 64 << 10))
				gbuf_append(&s->params, m, n);
		}
		return;
	}
	switch (pg_login_msg(&s->login, m, n, &s->out, &why)) {
	case PG_LOGIN_MORE:
		server_flush(s);
		return;
	case PG_LOGIN_DONE:
		s->pid = s->login.pid;
		s->key = s->login.key;
		login_done(s);
		return;
	case PG_LOGIN_FAILED:
		login_failed(s, why);
		return;
	}
}

/* Reads wait while the worker's buffers are spent, unless a message is
 * half read (it is finished: waiting there could deadlock) or the server
 * is logging in (a few small messages, gone at its end; waiting there
 * would run into connect_timeout and blame the backend for our load). */
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct pgserver *s = h->data;
	bool more = gbuf_pending(&s->in) > 0 || s->state == PS_LOGIN;

	ND_UNUSED(hint);
	if ((more && !gbuf_reserve(&s->in, 16384, SIZE_MAX)) ||
	    (!more && gbuf_reserve_input(&s->in, 16384, SIZE_MAX) != GBUF_OK)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(s->in.p + s->in.len, (unsigned)(s->in.cap - s->in.len));
}

/*
 * One message from an idle server: the answers to a reset or SET of ours
 * sent before it went idle are dropped, and so are the messages a server
 * may send on its own (a notification for a LISTEN a former client left
 * behind, a notice, a parameter change); anything else means the server
 * is not where we think, and it is closed. Returns false when it needs
 * more bytes or was closed.
 */
static bool idle_msg(struct pgserver *s)
{
	struct pg_err err;
	long len = pg_msg_frame(s->in.p + s->in.off, gbuf_pending(&s->in), PG_BACKEND,
				PG_SERVER_MSG_MAX, &err);
	char t;

	if (len == 0)
		return false;
	t = len > 0 ? s->in.p[s->in.off] : '?';
	if (len > 0 && s->replay_pending > 0) {
		if (t == 'Z') {
			s->replay_pending--;
			s->syncs_done++;
		}
	} else if (len > 0 && t == 'S') {
		struct pg_param prm;

		if (pg_read_param_status(s->in.p + s->in.off, (size_t)len, &prm, &err) == 0)
			pg_vars_set(&s->vars, prm.name.p, prm.name.len, prm.value.p, prm.value.len);
	} else if (len < 0 || (t != 'A' && t != 'N')) {
		log_warn("pg server %s/%s sent an unexpected message ('%c') while idle; closing it",
			 s->bucket->pool->cfg->name, s->bucket->pool->cfg->backends[s->backend].name,
			 len > 0 && t >= 0x20 && t < 0x7f ? t : '?');
		pg_server_close(s);
		return false;
	}
	gbuf_consume(&s->in, (size_t)len);
	return true;
}

static void server_input(struct pgserver *s, ssize_t nread);

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct pgserver *s = st->data;

	ND_UNUSED(buf);
	if (nread == 0 || s->state == PS_CLOSING)
		return;
	if (nread == UV_ENOBUFS) {	/* the worker's buffers are spent */
		uv_read_stop(st);
		bufpool_wait(&s->bucket->pool->w->bufs, &s->bw);
		return;
	}
	server_input(s, nread);
	gbuf_release(&s->in);		/* all handled: its memory goes back */
}

static void server_input(struct pgserver *s, ssize_t nread)
{
	if (nread < 0) {
		if (s->state == PS_LOGIN)
			unreachable(s, nread == UV_EOF ? "the server closed the connection" : uv_strerror((int)nread));
		else
			pg_server_close(s);
		return;
	}
	s->in.len += (size_t)nread;
	if (s->terminating) {		/* nobody wants its answers any more */
		s->in.off = s->in.len = 0;
		return;
	}
	if (s->state == PS_LINKED) {
		pg_proxy_server_data(s->client, s);
		return;
	}
	while (s->state == PS_LOGIN && gbuf_pending(&s->in) > 0) {
		struct pg_err err;
		long len = pg_msg_frame(s->in.p + s->in.off, gbuf_pending(&s->in), PG_BACKEND,
					PG_SERVER_MSG_MAX, &err);

		if (len == 0)
			return;
		if (len < 0) {
			login_failed(s, err.reason);
			return;
		}
		login_msg(s, s->in.p + s->in.off, (size_t)len);
		if (s->state != PS_CLOSING)
			gbuf_consume(&s->in, (size_t)len);
	}
	while (s->state == PS_IDLE && gbuf_pending(&s->in) > 0)
		if (!idle_msg(s))
			return;
}

/* Buffers came back: a server that stopped for them reads again. */
static void server_buf_wake(struct buf_waiter *w)
{
	struct pgserver *s = container_of(w, struct pgserver, bw);

	if (s->state != PS_CLOSING)
		uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
}

void pg_server_read(struct pgserver *s, bool on)
{
	if (s->state == PS_CLOSING)
		return;
	bufpool_unwait(&s->bw);		/* its owner decides now */
	if (on)
		uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
	else
		uv_read_stop((uv_stream_t *)&s->tcp);
}

static void login_timeout_cb(uv_timer_t *t)
{
	unreachable(t->data, "connect_timeout reached while connecting or logging in");
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct pgserver *s = req->data;
	struct pgbucket *b = s->bucket;
	const struct pg_user *u = pg_authfile_find(b->pool->auth, b->user);

	if (s->state == PS_CLOSING)
		return;
	if (status < 0) {
		unreachable(s, uv_strerror(status));
		return;
	}
	if (!u) {
		login_failed(s, "the user has no entry in the auth file");
		return;
	}
	s->state = PS_LOGIN;
	pg_login_start(&s->login, u, b->database, b->pool->pg->server_auth, &s->out);
	server_flush(s);
	uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
}

static void server_open(struct pgbucket *b, int backend, bool warm)
{
	struct pg_wpool *p = b->pool;
	struct pgserver *s = xcalloc(1, sizeof(*s));
	int r;

	s->bucket = b;
	s->backend = backend;
	s->state = PS_CONNECTING;
	s->warm = warm;
	s->epoch = atomic_load(warm ? &pg_plive(p->shared)->warm_epoch : &p->shared->epoch);
	list_init(&s->node);
	list_append(worker_servers(), &s->all_node);
	wflush_init(&s->flush, flush_cb);
	if (warm)
		b->nwarm++;
	else
		b->nopen++;
	p->gen->refs++;		/* dropped when s is freed */
	uv_tcp_init(&p->w->loop, &s->tcp);
	uv_timer_init(&p->w->loop, &s->timer);
	s->tcp.data = s->timer.data = s->creq.data = s->wreq.data = s;
	gbuf_init(&s->in, &p->w->bufs);
	gbuf_init(&s->out, &p->w->bufs);
	gbuf_init(&s->wbuf, &p->w->bufs);
	gbuf_init(&s->params, &p->w->bufs);
	buf_waiter_init(&s->bw, server_buf_wake);
	uv_tcp_nodelay(&s->tcp, 1);
	uv_timer_start(&s->timer, login_timeout_cb, p->cfg->connect_timeout_ms, 0);
	r = fds_tcp_connect(&s->creq, &s->tcp, (const struct sockaddr *)&p->cfg->backends[backend].addr,
			   connect_cb);
	if (r < 0)
		unreachable(s, uv_strerror(r));
}
