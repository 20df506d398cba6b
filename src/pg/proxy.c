/*
 * proxy.c - PostgreSQL client sessions: a client's connection from accept
 * to close, and the relay of its transactions to a pooled server
 * connection. Start-up and authentication are pg/startup.c's, the
 * settings replayed on its servers pg/settings.c's, its prepared
 * statements pg/stmts.c's (all share pg/client.h).
 *
 * Owns: struct pgclient from accept to close.
 * Invariants:
 *   - a client holds a server only while it needs one: in transaction
 *     mode from the first message of a transaction to the ReadyForQuery
 *     'I' that ends it (and every Sync/Query answered); in session mode
 *     until it leaves. A transaction never moves between servers;
 *   - a transaction starts only when the pool is not paused and a primary
 *     is known; otherwise the client is held, not read, up to
 *     failover_hold (no primary) or query_wait_timeout;
 *   - bytes from the client are relayed only as whole, framed messages;
 *     a malformed one gets an 08P01 ErrorResponse and the client is closed,
 *     other clients carry on.
 * Runs on: the owning worker's loop.
 */
#include "proxy.h"

#include "../core/log.h"
#include "../core/worker.h"
#include "cancel.h"
#include "client.h"
#include "pool.h"
#include "scram.h"

#define PG_CLIENT_MSG_MAX (64u << 20)	/* one message from a client */
#define PG_OUT_HIGH (256u << 10)	/* client output queued before the server is not read */

static atomic_uint next_sid;	/* per-client statement name prefixes */

static void client_pump(struct pgclient *c);
static void client_read(struct pgclient *c, bool on);

/* ---- the server a client's queries run on ------------------------------------- */

/* A transaction on a server counts in its backend's `active`, so a drain
 * of the backend waits for it: recounted at every change of c's server or
 * of its transaction. */
static void count_active(struct pgclient *c)
{
	struct backend_live *want = c->busy && c->server ? c->pool->live[c->server->backend] : NULL;

	if (want == c->counted)
		return;
	if (c->counted)
		worker_backend_done(c->w, c->counted);
	if (want)
		atomic_fetch_add(&want->active, 1);
	c->counted = want;
}

/* c's queries now run on s (NULL: on none): its cancel key and its count
 * follow. */
void pgc_server_changed(struct pgclient *c, struct pgserver *s)
{
	count_active(c);
	if (!c->cancel)
		return;
	if (s)
		pg_cancel_link(c->cancel, &c->pool->cfg->backends[s->backend].addr, s->pid, s->key);
	else
		pg_cancel_unlink(c->cancel);
}

/* ---- output to the client ------------------------------------------------------ */

static void client_flush(struct pgclient *c);

static void client_write_cb(uv_write_t *req, int status)
{
	struct pgclient *c = req->data;

	c->writing = false;
	c->wbuf.off = c->wbuf.len = 0;
	gbuf_release(&c->wbuf);
	if (c->state == PC_CLOSING)
		return;
	if (status < 0) {
		pgc_close(c, "client write failed");
		return;
	}
	client_flush(c);
}

/* Everything queued for the client is written: close if that was the last
 * of it, else read its server again if backpressure had stopped that. */
static void client_drained(struct pgclient *c)
{
	if (c->close_after) {
		pgc_close(c, NULL);
		return;
	}
	if (c->server && c->server->state == PS_LINKED)
		pg_proxy_server_data(c, c->server);
}

/* Write what is queued: at once as far as the socket takes it, the rest
 * with uv_write (client_write_cb flushes again). */
static void client_flush(struct pgclient *c)
{
	int r;

	if (c->writing || c->state == PC_CLOSING)
		return;
	r = gbuf_write((uv_stream_t *)&c->tcp, &c->wreq, &c->out, &c->wbuf, client_write_cb);
	if (r < 0)
		pgc_close(c, "client write failed");
	else if (r == 1)
		c->writing = true;
	else
		client_drained(c);
}

/* Input emptied outside its own read callback (which gives the memory
 * back itself), by a relay that a server's answer or a write let go on,
 * goes back to the worker's buffers here, where nothing on the stack
 * points into it: kept, it could hold every buffer while the servers that
 * wait for one would free it (a client with nothing more to send is
 * never read again). */
static void release_input(struct pgclient *c)
{
	if (c->state == PC_CLOSING)
		return;
	gbuf_release(&c->in);
	if (c->server)
		gbuf_release(&c->server->in);
}

/* Ask for release_input at the next flush if c's or its server's input is
 * empty and still holds memory. */
static void release_input_later(struct pgclient *c)
{
	const struct pgserver *s = c->server;

	if (c->state != PC_CLOSING &&
	    ((c->in.cap && !gbuf_pending(&c->in)) || (s && s->in.cap && !gbuf_pending(&s->in))))
		worker_flush_later(c->w, &c->flush);
}

static void client_flush_cb(struct wflush *f)
{
	struct pgclient *c = container_of(f, struct pgclient, flush);

	release_input(c);
	client_flush(c);
	release_input(c);
}

/* Queue n bytes for the client; they leave at the worker's next flush. */
void pgc_send(struct pgclient *c, const char *p, size_t n)
{
	if (!gbuf_reserve(&c->out, n, SIZE_MAX))
		return;
	gbuf_append(&c->out, p, n);
	worker_flush_later(c->w, &c->flush);
}

/* An ErrorResponse; FATAL ones close the connection once written. */
void pgc_error(struct pgclient *c, const char *severity, const char *sqlstate,
	       const char *msg)
{
	char buf[1024];
	size_t n = pg_build_error(buf, sizeof(buf), severity, sqlstate, msg, NULL, NULL);

	if (n <= sizeof(buf))
		pgc_send(c, buf, n);
	if (!strcmp(severity, "FATAL")) {
		log_info("pg client %s (%s@%s): FATAL %s: %s", c->peer, c->username[0] ? c->username : "-",
			 c->database[0] ? c->database : "-", sqlstate, msg);
		c->close_after = true;
		client_flush(c);	/* closes it once written */
	}
}

/* ---- closing ----------------------------------------------------------------------- */

static void client_closed_cb(uv_handle_t *h)
{
	struct pgclient *c = h->data;
	struct worker *w = c->w;

	if (--c->closing_handles > 0)
		return;
	BUG_ON(c->counted);	/* a client leaves its server before it closes */
	gbuf_free(&c->in);
	gbuf_free(&c->out);
	gbuf_free(&c->wbuf);
	pg_vars_free(&c->vars);
	for (int i = 0; i < c->nstmts; i++) {
		free(c->stmts[i].name);
		free(c->stmts[i].srvname);
		free(c->stmts[i].parse);
	}
	free(c->stmts);
	free(c->scram);
	listener_unref(c->link.l);
	worker_gen_release(w, c->gen);
	free(c);
	worker_client_gone(w);
}

/* Nothing asked of the server is unanswered: no transaction, no Sync. */
static bool idle(const struct pgclient *c)
{
	return !c->busy && c->pending == 0 && !c->unsynced;
}

static void tx_end(struct pgclient *c)
{
	if (c->busy) {
		c->busy = false;
		atomic_fetch_sub(&c->pool->shared->in_flight, 1);
		count_active(c);
	}
}

/* Send sql to s as a Query of ours: its answers are dropped (replay_pending). */
void pgc_inject(struct pgserver *s, const char *sql)
{
	char msg[64];
	size_t n = pg_build_query(msg, sizeof(msg), sql);

	s->replay_pending++;
	s->syncs_sent++;
	pg_server_send(s, msg, n);
}

void pgc_unlink_server(struct pgclient *c, bool clean)
{
	struct pgserver *s = c->server;

	if (!s)
		return;
	if (clean && c->pool->pg->pool_mode == PG_POOL_SESSION) {
		pgc_reset_server(s, "DISCARD ALL");	/* the next client gets a clean session */
	} else if (clean) {
		if (s->settings_changed)	/* no client's SET reaches the next one */
			pgc_reset_settings(s);
		if (s->nstmts > c->pool->pg->max_prepared_statements)
			pgc_reset_server(s, "DEALLOCATE ALL");	/* the statements of clients long gone */
	}
	c->server = NULL;
	s->client = NULL;
	pgc_server_changed(c, NULL);
	if (c->state == PC_LINKED)
		c->state = PC_IDLE;
	client_read(c, true);
	pg_pool_release(s, clean);
}

/*
 * The client leaves while it may hold a server. Between messages, with
 * nothing asked of the server unanswered, the server is kept: an open
 * transaction is rolled back first (and in session mode the session is
 * reset, as for any next client). With a query in flight, or in the middle
 * of COPY FROM STDIN, the server is told to end (a CopyFail, then
 * Terminate) rather than see its connection drop, so PostgreSQL does not
 * log "unexpected EOF on client connection with an open transaction".
 */
static void leave_server(struct pgclient *c)
{
	struct pgserver *s = c->server;

	if (!s)
		return;
	if (c->pending == 0 && !c->unsynced && !c->copy_in && c->pass_left == 0 &&
	    !c->bootstrap && s->state == PS_LINKED) {
		if (c->txstatus == 'T' || c->txstatus == 'E')
			pgc_inject(s, "ROLLBACK");
		pgc_unlink_server(c, true);
		return;
	}
	c->server = NULL;
	s->client = NULL;
	pgc_server_changed(c, NULL);
	pg_server_terminate(s, c->copy_in);
}

void pgc_close(struct pgclient *c, const char *why)
{
	if (c->state == PC_CLOSING)
		return;
	if (why)
		log_info("pg client %s (%s@%s): %s", c->peer, c->username[0] ? c->username : "-",
			 c->database[0] ? c->database : "-", why);
	if (c->state == PC_WAITING)
		pg_pool_unwait(c);
	tx_end(c);
	leave_server(c);
	pg_cancel_unregister(c->cancel);
	c->cancel = NULL;
	pg_cancel_detach(c->cancel_req);
	c->cancel_req = NULL;
	wflush_cancel(&c->flush);
	bufpool_unwait(&c->bw);
	c->state = PC_CLOSING;
	list_del(&c->link.node);
	atomic_fetch_sub(&c->link.l->active, 1);
	c->closing_handles = 2;
	uv_close((uv_handle_t *)&c->timer, client_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, client_closed_cb);
}

/* ---- waiting for a server ----------------------------------------------------------- */

void pg_proxy_wait(struct pgclient *c, struct list *waiters)
{
	list_append(waiters, &c->wait_node);
	c->state = PC_WAITING;
}

struct pgclient *pg_proxy_waiter(struct list *node)
{
	return container_of(node, struct pgclient, wait_node);
}

void pg_pool_unwait(struct pgclient *c)
{
	list_del(&c->wait_node);
	list_init(&c->wait_node);
	uv_timer_stop(&c->timer);
	if (c->state == PC_WAITING)
		c->state = PC_IDLE;
}

/* A wait for a server (PC_WAITING) or, in session mode, for a pause to
 * end (session_waiting) outlived its bound. */
static void wait_timeout_cb(uv_timer_t *t)
{
	struct pgclient *c = t->data;
	char msg[256];

	if (c->session_waiting)
		c->session_waiting = false;
	else if (c->state == PC_WAITING)
		pg_pool_unwait(c);
	else
		return;
	snprintf(msg, sizeof(msg), "pool '%s': no server connection within %llums (%s)",
		 c->pool->cfg->name, (unsigned long long)(uv_now(&c->w->loop) - c->wait_ms),
		 atomic_load(&c->pool->shared->paused) ? "a switchover holds transactions" :
		 pg_pool_has_primary(c->pool) ? "query_wait_timeout: the pool is busy" :
						 "failover_hold: no primary found");
	/* FATAL: the messages it sent since are unread, and skipping them
	 * could cut one in half. */
	pgc_error(c, "FATAL", "08006", msg);
}

void pg_proxy_link_failed(struct pgclient *c, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "pool '%s': cannot open a server connection: %s",
		 c->pool->cfg->name, why);
	pgc_error(c, "FATAL", "08006", msg);
}

/* ---- client messages ----------------------------------------------------------------- */

/* One whole message of a linked client, inside a transaction. */
static int relay_client_msg(struct pgclient *c, const char *m, size_t n)
{
	switch (m[0]) {
	case 'P':
		c->unsynced = true;
		return pgc_on_parse(c, m, n);
	case 'B':
	case 'D':
	case 'C':
		c->unsynced = true;
		return pgc_on_stmt_ref(c, m, n);
	case 'E':
		c->unsynced = true;
		c->last_extended = true;
		break;
	case 'Q':
	case 'F': {
		struct pg_str sql;
		struct pg_err err;
		char q[80], buf[128];
		bool renamed = m[0] == 'Q' && c->nstmts > 0 && pg_read_query(m, n, &sql, &err) == 0 &&
			       pgc_deallocate_rename(c, sql, q, sizeof(q));

		c->last_extended = false;
		c->pending++;
		c->server->syncs_sent++;
		if (renamed) {
			pg_server_send(c->server, buf, pg_build_query(buf, sizeof(buf), q));
			return 0;
		}
		break;
	}
	case 'S':
		c->unsynced = false;
		if (!c->copy_in) {	/* ignored by the server in COPY FROM STDIN */
			c->pending++;
			c->server->syncs_sent++;
		}
		break;
	case 'c':
	case 'f':
		c->copy_in = false;
		break;
	default:
		break;
	}
	pg_server_send(c->server, m, n);
	return 0;
}

/*
 * A transaction starts with this message: counted first, then the pause
 * checked. The switchover sets `paused` and then reads the count, so one of
 * the two always sees the other: no transaction slips past a pause.
 */
static bool tx_begin(struct pgclient *c)
{
	struct pool_live *pl = c->pool->shared;

	if (c->busy)
		return true;
	c->busy = true;
	atomic_fetch_add(&pl->in_flight, 1);
	count_active(c);
	if (!atomic_load(&pl->paused)) {
		c->tx_start_ms = uv_now(&c->w->loop);
		return true;
	}
	tx_end(c);
	if (!c->held_counted) {
		c->held_counted = true;
		STAT_ADD(pl->held, 1);
	}
	return false;
}

/* Wait for a server: at most failover_hold while no primary is known,
 * else query_wait_timeout. */
void pgc_hold(struct pgclient *c)
{
	const struct pg_pool_cfg *pg = c->pool->pg;

	client_read(c, false);	/* nothing more is read while it waits (a bounded client) */
	c->wait_ms = uv_now(&c->w->loop);
	uv_timer_start(&c->timer, wait_timeout_cb, pg_pool_has_primary(c->pool) ?
		       pg->query_wait_timeout_ms : pg->failover_hold_ms, 0);
	pg_pool_acquire(c->bucket, c);
}

/* Session mode during a pause: the client keeps its server, unread, until
 * the sweep that ends the pause (client_on_sweep), at most
 * query_wait_timeout. */
static void session_hold(struct pgclient *c)
{
	client_read(c, false);	/* unread while held: a held client buffers nothing more */
	c->session_waiting = true;
	c->wait_ms = uv_now(&c->w->loop);
	uv_timer_start(&c->timer, wait_timeout_cb, c->pool->pg->query_wait_timeout_ms, 0);
}

static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void client_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

/* Backpressure: a client is not read while its server has PG_OUT_HIGH
 * bytes from it still to write (a COPY from a fast client, say). */
static void client_read(struct pgclient *c, bool on)
{
	bufpool_unwait(&c->bw);		/* decided here now, not by a wake */
	if (on == c->reading || c->state == PC_CLOSING)
		return;
	c->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&c->tcp, client_alloc_cb, client_read_cb);
	else
		uv_read_stop((uv_stream_t *)&c->tcp);
}

static bool server_full(const struct pgserver *s)
{
	return gbuf_pending(&s->out) + gbuf_pending(&s->wbuf) >= PG_OUT_HIGH;
}

/* A new generation (reload) applies from the next transaction on. */
static void follow_reload(struct pgclient *c)
{
	struct wgen *g = c->w->cur;
	int li = snapshot_listener_index(g->snap, c->link.l);
	const struct listener_cfg *lc;

	if (li < 0)
		return;
	lc = &g->snap->cfg->listeners[li];
	if (lc->pool->proto != &pg_module)
		return;
	worker_gen_release(c->w, c->gen);
	c->gen = worker_gen_hold(c->w);
	c->pool = g->pools[lc->pool->index];
	c->bucket = pg_bucket(c->pool, c->username, c->database);
}

/* The client's next message starts a transaction: have a server for it
 * (returns true), or wait (false: something calls client_pump again). */
static bool start_tx(struct pgclient *c)
{
	if (c->state == PC_LINKED && c->server->epoch != atomic_load(&c->pool->shared->epoch)) {
		if (c->pass_left > 0)
			return false;	/* the rest of a server message first (it pumps again) */
		pgc_unlink_server(c, false);	/* the primary changed under this session */
	}
	if (!tx_begin(c)) {
		if (c->state == PC_LINKED) {	/* session mode keeps its server */
			session_hold(c);
			return false;
		}
	} else if (c->state == PC_LINKED) {
		return true;
	} else {
		tx_end(c);	/* counted again once it has a server */
	}
	if (c->gen != c->w->cur)
		follow_reload(c);
	pgc_hold(c);
	return false;
}

static void pump_msgs(struct pgclient *c)
{
	while ((c->state == PC_IDLE || c->state == PC_LINKED) && !c->close_after &&
	       !c->session_waiting && !c->bootstrap && gbuf_pending(&c->in) >= 5) {
		const char *m = c->in.p + c->in.off;
		struct pg_err err;
		long n = pg_msg_frame(m, gbuf_pending(&c->in), PG_FRONTEND, PG_CLIENT_MSG_MAX, &err);

		if (n == 0)
			return;
		if (n < 0) {
			pgc_error(c, "FATAL", err.sqlstate, err.reason);
			return;
		}
		if (m[0] == 'X') {	/* leave_server rolls back what is open */
			gbuf_consume(&c->in, (size_t)n);
			pgc_close(c, NULL);
			return;
		}
		if (idle(c)) {
			/* between transactions: COPY data after a COPY that failed, and
			 * Flush, get no answer from a server and start nothing */
			if (m[0] == 'd' || m[0] == 'c' || m[0] == 'f' || m[0] == 'H' ||
			    pgc_deallocate_here(c, m, (size_t)n)) {
				gbuf_consume(&c->in, (size_t)n);
				continue;
			}
			if (!start_tx(c))
				return;
		}
		if (server_full(c->server)) {
			client_read(c, false);		/* pg_proxy_server_drained resumes */
			return;
		}
		/* Consumed first: relaying may lead to this client's next
		 * messages being handled before it returns. The bytes stay
		 * where they are until the read or flush that follows. */
		gbuf_consume(&c->in, (size_t)n);
		if (relay_client_msg(c, m, (size_t)n) < 0)
			return;
	}
}

/* Relay what the client sent, as far as its state lets it go. */
static void client_pump(struct pgclient *c)
{
	pump_msgs(c);
	release_input_later(c);
}

/* ---- server messages ------------------------------------------------------------------ */

void pg_proxy_linked(struct pgclient *c, struct pgserver *s)
{
	uint64_t waited = uv_now(&c->w->loop) - c->wait_ms;

	uv_timer_stop(&c->timer);
	if (c->held_counted) {
		c->held_counted = false;
		if (waited * 1000 > STAT_GET(c->pool->shared->stall_us_max))
			atomic_store(&c->pool->shared->stall_us_max, waited * 1000);
	}
	c->server = s;
	c->state = PC_LINKED;
	c->pass_left = 0;
	client_read(c, true);
	pgc_replay_vars(c, s);
	if (c->bootstrap) {
		/* The login finishes once the server has taken the startup
		 * settings: its answers give their canonical spelling (UTF8 for
		 * utf8), which is what the client is told and what later
		 * servers are compared with. */
		if (s->replay_pending > 0) {
			c->replaying = true;
			return;
		}
		pgc_finish_login(c, s);
		client_pump(c);
		return;
	}
	pgc_server_changed(c, s);
	client_pump(c);
}

/* Is m[0, n) the CommandComplete of `tag`? */
static bool tag_is(const char *m, size_t n, const char *tag)
{
	size_t l = strlen(tag);

	return n == 5 + l + 1 && !memcmp(m + 5, tag, l + 1);
}

/* Handle one small server message the proxy reads; false: drop it. May
 * patch the message in place (it is in the server's input buffer). */
static bool on_server_msg(struct pgclient *c, struct pgserver *s, const char *m, size_t n)
{
	struct pg_err err;

	if (s->replay_pending) {
		struct pg_param prm;

		if (m[0] == 'Z') {
			s->replay_pending--;
			pgc_parses_settle(s);
		}
		if (m[0] == 'S' && pg_read_param_status(m, n, &prm, &err) == 0)
			pg_vars_set(&s->vars, prm.name.p, prm.name.len, prm.value.p, prm.value.len);
		if (m[0] == 'E')
			pgc_replay_failed(c, m, n);
		return false;
	}
	switch (m[0]) {
	case '1':
		if (s->parses_n > 0) {
			struct pg_parse_sent e = pgc_parse_pop(s);

			free(e.srvname);
			return !e.injected;
		}
		return true;
	case 'S': {
		struct pg_param prm;

		if (pg_read_param_status(m, n, &prm, &err) == 0) {
			pg_vars_set(&s->vars, prm.name.p, prm.name.len, prm.value.p, prm.value.len);
			pg_vars_set(&c->vars, prm.name.p, prm.name.len, prm.value.p, prm.value.len);
		}
		return true;
	}
	case 'A':	/* a notification: its sender as the client knows it */
		if (c->pid)
			pg_notification_repid((char *)m, n, s->pid, c->pid);
		return true;
	case 'C':	/* CommandComplete: the client dropped its statements, or
			 * changed a setting (SET, RESET; SET ROLE too) */
		if (tag_is(m, n, "SET") || tag_is(m, n, "RESET"))
			s->settings_changed = true;
		if (tag_is(m, n, "DEALLOCATE ALL") || tag_is(m, n, "DISCARD ALL")) {
			pgc_server_was_reset(s, tag_is(m, n, "DISCARD ALL"));
			pgc_forget_all_stmts(c);
		}
		return true;
	case 'E':	/* to an idle session: the server is going (a shutdown, a
			 * terminated backend); its close is handled, not shown */
		if (idle(c)) {
			char why[160];

			log_info("pg pool %s: the server of an idle session said goodbye (%s)",
				 c->pool->cfg->name, pg_describe_notice(m, n, why, sizeof(why)));
			return false;
		}
		return true;
	case 'G':	/* COPY FROM STDIN: the server ignores the Sync that followed an Execute */
		c->copy_in = true;
		if (c->last_extended && c->pending > 0) {
			c->pending--;
			s->syncs_sent--;
		}
		return true;
	case 'Z':
		if (pg_read_ready(m, n, &c->txstatus, &err) < 0)
			c->txstatus = 'E';
		c->copy_in = false;	/* a COPY ends before any ReadyForQuery */
		if (c->pending > 0)
			c->pending--;
		pgc_parses_settle(s);
		return true;
	default:
		return true;
	}
}

/* After a ReadyForQuery: the transaction is over; in transaction mode the
 * server goes back to the pool. */
static void after_ready(struct pgclient *c)
{
	if (c->txstatus != 'I' || c->pending > 0 || c->unsynced)
		return;
	tx_end(c);
	if (c->pool->pg->pool_mode == PG_POOL_TRANSACTION && c->server)
		pgc_unlink_server(c, true);
}

static bool inspected(const struct pgclient *c, char type)
{
	return type == 'Z' || type == 'S' || type == '1' || type == 'K' || type == 'G' || type == 'C' ||
	       type == 'A' || (type == 'E' && idle(c));
}

void pg_proxy_server_data(struct pgclient *c, struct pgserver *s)
{
	while (c->server == s && gbuf_pending(&s->in) > 0) {
		const char *p = s->in.p + s->in.off;
		size_t have = gbuf_pending(&s->in), take;
		struct pg_err err;
		bool replay;
		char type;
		long n;

		if (gbuf_pending(&c->out) >= PG_OUT_HIGH) {
			pg_server_read(s, false);	/* resumed once the client drains */
			return;
		}
		if (c->pass_left > 0) {
			take = have < c->pass_left ? have : c->pass_left;
			pgc_send(c, p, take);
			gbuf_consume(&s->in, take);
			c->pass_left -= take;
			continue;
		}
		if (have < 5)
			break;		/* more to read */
		if (!inspected(c, p[0]) && !s->replay_pending) {
			n = pg_msg_frame(p, 5, PG_BACKEND, UINT32_MAX, &err);
			if (n < 0) {
				pgc_error(c, "FATAL", "08P01", "the server sent a malformed message");
				pg_server_close(s);
				return;
			}
			c->pass_left = 1 + ((size_t)(uint8_t)p[1] << 24 | (size_t)(uint8_t)p[2] << 16 |
					    (size_t)(uint8_t)p[3] << 8 | (uint8_t)p[4]);
			continue;
		}
		n = pg_msg_frame(p, have, PG_BACKEND, PG_CLIENT_MSG_MAX, &err);
		if (n == 0)
			break;		/* more to read */
		if (n < 0) {
			pgc_error(c, "FATAL", "08P01", "the server sent a malformed message");
			pg_server_close(s);
			return;
		}
		type = p[0];
		replay = s->replay_pending > 0;
		if (on_server_msg(c, s, p, (size_t)n)) {
			pgc_send(c, p, (size_t)n);
			gbuf_consume(&s->in, (size_t)n);
			if (type == 'Z')	/* the client's, not one of a replayed SET */
				after_ready(c);
		} else {
			gbuf_consume(&s->in, (size_t)n);
			if (replay && type == 'Z' && !s->replay_pending)
				pgc_replay_done(c, s);
		}
	}
	if (c->server == s)
		pg_server_read(s, true);
	if (c->state == PC_IDLE || c->state == PC_LINKED)
		client_pump(c);
	release_input_later(c);
}

void pg_proxy_server_drained(struct pgclient *c)
{
	if (c->state == PC_LINKED && !server_full(c->server)) {
		client_read(c, true);
		client_pump(c);
	}
}

void pg_proxy_server_gone(struct pgclient *c, struct pgserver *s)
{
	BUG_ON(c->server != s);
	c->server = NULL;
	pgc_server_changed(c, NULL);
	if (c->state == PC_CLOSING)
		return;
	c->state = PC_IDLE;
	if (c->busy || c->pending > 0 || c->pass_left > 0) {
		tx_end(c);
		pgc_error(c, "FATAL", "08006", "the server connection was lost in the middle of a "
			  "transaction; it was not committed unless the server finished it");
	}
}

/* ---- reading the client ---------------------------------------------------------------- */

static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct pgclient *c = h->data;
	enum gbuf_room r;

	ND_UNUSED(hint);
	/* a new message waits while the worker's buffers are spent; a half-read
	 * one is finished (waiting there could deadlock clients that each
	 * hold part of one) */
	if (gbuf_pending(&c->in) > 0)
		r = gbuf_reserve(&c->in, 16384, PG_CLIENT_MSG_MAX + 16384) ? GBUF_OK : GBUF_LIMIT;
	else
		r = gbuf_reserve_input(&c->in, 16384, PG_CLIENT_MSG_MAX + 16384);
	c->nomem = r == GBUF_NOMEM;
	if (r != GBUF_OK) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(c->in.p + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void client_data(struct pgclient *c)
{
	for (;;) {
		size_t before = gbuf_pending(&c->in);

		switch (c->state) {
		case PC_STARTUP:
			pgc_on_startup(c);
			break;
		case PC_AUTH: {
			const char *m;
			struct pg_err err;
			long n = pg_msg_frame(c->in.p + c->in.off, gbuf_pending(&c->in), PG_FRONTEND,
					      PG_SCRAM_MSG_MAX + 64, &err);

			if (n < 0) {
				pgc_error(c, "FATAL", err.sqlstate, err.reason);
				return;
			}
			if (n == 0)
				return;
			m = c->in.p + c->in.off;
			gbuf_consume(&c->in, (size_t)n);	/* before: a login goes on to the next messages */
			pgc_auth_msg(c, m, (size_t)n);
			break;
		}
		case PC_IDLE:
		case PC_LINKED:
			client_pump(c);
			return;
		default:
			return;
		}
		if (c->state == PC_CLOSING || c->close_after || gbuf_pending(&c->in) == before ||
		    gbuf_pending(&c->in) == 0)
			return;
	}
}

static void client_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct pgclient *c = st->data;

	ND_UNUSED(b);
	if (nread == 0 || c->state == PC_CLOSING)
		return;
	if (nread == UV_ENOBUFS && c->nomem) {	/* the worker's buffers are spent */
		uv_read_stop(st);
		c->reading = false;
		bufpool_wait(&c->w->bufs, &c->bw);
		return;
	}
	if (nread < 0) {
		if (nread == UV_ENOBUFS)
			pgc_error(c, "FATAL", "54000", "message too large");
		else
			pgc_close(c, c->busy ? "the client left in the middle of a transaction" : NULL);
		return;
	}
	c->in.len += (size_t)nread;
	if (!c->close_after)
		client_data(c);
	gbuf_release(&c->in);		/* all handled: its memory goes back */
}

/* Buffers came back: a client that stopped for them reads again. */
static void client_buf_wake(struct buf_waiter *w)
{
	client_read(container_of(w, struct pgclient, bw), true);
}

/* ---- stop, sweep, accept ---------------------------------------------------------------- */

static void client_on_stop(struct client_link *l, enum stop_phase phase)
{
	struct pgclient *c = container_of(l, struct pgclient, link);
	bool idle = (c->state == PC_IDLE || c->state == PC_STARTUP || c->state == PC_AUTH) && !c->busy;

	if (phase == STOP_DEADLINE || (phase == STOP_GRACE_OVER && idle)) {
		if (c->state == PC_IDLE || c->state == PC_LINKED)
			pgc_error(c, "FATAL", "57P01", "nodown is shutting down");
		else
			pgc_close(c, NULL);
	}
}

/* Pool state changed (switchover ended, primary found): a session whose
 * primary moved lets its server go (it reconnects to the new primary on
 * next use); one held by a pause that ended goes on. Clients waiting for
 * a server are served by pg_worker_sweep. */
static void client_on_sweep(struct client_link *l)
{
	struct pgclient *c = container_of(l, struct pgclient, link);

	if (c->state == PC_LINKED && idle(c) && c->pass_left == 0 && c->server &&
	    c->server->epoch != atomic_load(&c->pool->shared->epoch))
		pgc_unlink_server(c, false);
	if (c->session_waiting && !atomic_load(&c->pool->shared->paused)) {
		c->session_waiting = false;
		uv_timer_stop(&c->timer);
		client_read(c, true);
		client_pump(c);
	}
}

void pg_accept(struct wlistener *wl)
{
	struct worker *w = wl->w;
	const struct listener_cfg *lc = wl->cfg;
	struct pgclient *c;

	if (!worker_admit(wl))
		return;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->gen = worker_gen_hold(w);
	c->pool = c->gen->pools[lc->pool->index];
	c->state = PC_STARTUP;
	c->sid = (unsigned)atomic_fetch_add(&next_sid, 1);
	list_init(&c->wait_node);
	wflush_init(&c->flush, client_flush_cb);
	gbuf_init(&c->in, &w->bufs);
	gbuf_init(&c->out, &w->bufs);
	gbuf_init(&c->wbuf, &w->bufs);
	buf_waiter_init(&c->bw, client_buf_wake);
	uv_tcp_init(&w->loop, &c->tcp);
	uv_timer_init(&w->loop, &c->timer);
	c->tcp.data = c->timer.data = c->wreq.data = c;
	c->link.on_stop = client_on_stop;
	c->link.on_sweep = client_on_sweep;
	if (worker_accept_client(wl, &c->link, &c->tcp, c->peer, sizeof(c->peer)) != 0) {
		pgc_close(c, NULL);
		return;
	}
	uv_timer_start(&c->timer, pgc_startup_timeout_cb, pg_listener(lc)->header_timeout_ms, 0);
	client_read(c, true);
}
