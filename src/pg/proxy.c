/*
 * proxy.c - PostgreSQL client sessions: startup, authentication against
 * the auth file, and the relay of messages to a pooled server connection.
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
 *   - the reported parameters a client set (client_encoding, DateStyle,
 *     TimeZone, ...) are replayed with SET on every server it gets, and its
 *     named prepared statements are renamed per client ("nd<id>_<n>") and
 *     prepared on whichever server serves it before first use there;
 *   - bytes from the client are relayed only as whole, framed messages;
 *     a malformed one gets an 08P01 ErrorResponse and the client is closed,
 *     other clients carry on.
 * Runs on: the owning worker's loop.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <pthread.h>

#include "../core/log.h"
#include "../core/worker.h"
#include "cancel.h"
#include "health.h"
#include "password.h"
#include "pool.h"
#include "scram.h"

#define PG_CLIENT_MSG_MAX (64u << 20)	/* one message from a client */
#define PG_OUT_HIGH (256u << 10)	/* client output queued before the server is not read */

enum pcstate {
	PC_STARTUP,		/* reading the startup packet */
	PC_CANCEL,		/* a CancelRequest: answered (closed) once it was delivered */
	PC_AUTH,		/* authentication exchange */
	PC_IDLE,		/* logged in, no server */
	PC_WAITING,		/* waiting for a server (or a primary, or a switchover) */
	PC_LINKED,		/* relaying to c->server */
	PC_CLOSING,
};

enum pcauth { A_NONE, A_MD5, A_SCRAM_FIRST, A_SCRAM_FINAL };

struct stmt {
	char *name;			/* the client's */
	char *srvname;			/* on servers: nd<client>_<n> */
	char *parse;			/* the client's Parse, renamed, to prepare it elsewhere */
	size_t parse_len;
};

struct pgclient {
	uv_tcp_t tcp;
	uv_write_t wreq;
	uv_timer_t timer;		/* startup/auth deadline; wait deadline */
	struct client_link link;
	struct worker *w;
	struct wgen *gen;		/* a reference */
	struct pg_wpool *pool;		/* in gen */
	struct pgbucket *bucket;
	enum pcstate state;
	enum pcauth auth;
	int closing_handles;
	struct list wait_node;		/* on a bucket's waiters while PC_WAITING */
	struct pgserver *server;	/* while PC_LINKED */
	struct gbuf in, out, wbuf;	/* from the client; to it; the write in flight */
	struct buf_waiter bw;		/* reading stopped until the worker's buffers free up */
	bool nomem;			/* the last read found them spent */
	bool writing;			/* a uv_write of wbuf is in flight */
	struct wflush flush;		/* queued on the worker when out has bytes */
	bool reading;
	bool busy;			/* a transaction in progress, counted in the pool's in_flight */
	struct backend_live *counted;	/* where the transaction counts in `active` */
	bool close_after;		/* close once the output is written */
	bool held_counted;
	bool bootstrap;			/* logged in; waiting for a server's parameters */
	bool session_waiting;		/* session mode: a pause holds it on its own server */
	int pending;			/* Sync/Query/FunctionCall sent, ReadyForQuery not yet back */
	bool unsynced;			/* extended-protocol messages sent since the last Sync */
	bool last_extended;		/* the last command was run by Execute (not Query) */
	bool copy_in;			/* the server is in COPY FROM STDIN: it ignores Sync */
	char txstatus;			/* last ReadyForQuery status */
	size_t pass_left;		/* bytes of a server message still to pass through */
	const struct pg_user *user;
	struct pg_scram_server *scram;
	const char *mock_why;		/* why its SCRAM exchange is a mock (no usable secret) */
	uint8_t salt[PG_MD5_SALT_LEN];
	char username[PG_AUTH_USER_MAX + 1];
	char database[PG_AUTH_USER_MAX + 1];
	char appname[64];
	struct pg_vars vars;		/* the values the client wants */
	int32_t pid;			/* BackendKeyData given to the client */
	uint32_t key;
	unsigned sid;			/* names its statements on servers: nd<sid>_<n> */
	struct pgcancel *cancel;	/* owned: its entry in the cancel table */
	struct pgcancel_conn *cancel_req;	/* PC_CANCEL: the cancel being delivered */
	bool replaying;			/* login: its startup settings are being SET */
	struct stmt *stmts;
	int nstmts;
	unsigned stmt_seq;
	uint64_t wait_ms;		/* when it started waiting */
	uint64_t tx_start_ms;
	char peer[INET6_ADDRSTRLEN];
};

static atomic_uint next_sid;	/* per-client statement name prefixes */

static void client_close(struct pgclient *c, const char *why);
static void client_pump(struct pgclient *c);
static void client_read(struct pgclient *c, bool on);

/* ---- cancel keys (pg/cancel.c) --------------------------------------------------- */

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
static void server_changed(struct pgclient *c, struct pgserver *s)
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
		client_close(c, "client write failed");
		return;
	}
	client_flush(c);
}

/* Everything queued for the client is written: close if that was the last
 * of it, else read its server again if backpressure had stopped that. */
static void client_drained(struct pgclient *c)
{
	if (c->close_after) {
		client_close(c, NULL);
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
		client_close(c, "client write failed");
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
static void client_send(struct pgclient *c, const char *p, size_t n)
{
	if (!gbuf_reserve(&c->out, n, SIZE_MAX))
		return;
	gbuf_append(&c->out, p, n);
	worker_flush_later(c->w, &c->flush);
}

/* An ErrorResponse; FATAL ones close the connection once written. */
static void client_error(struct pgclient *c, const char *severity, const char *sqlstate,
			 const char *msg)
{
	char buf[1024];
	size_t n = pg_build_error(buf, sizeof(buf), severity, sqlstate, msg, NULL, NULL);

	if (n <= sizeof(buf))
		client_send(c, buf, n);
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

static void reset_server(struct pgserver *s, const char *sql);
static void server_add_stmt(struct pgserver *s, const char *srvname);

/* Send sql to s as a Query of ours: its answers are dropped (replay_pending). */
static void inject(struct pgserver *s, const char *sql)
{
	char msg[64];
	size_t n = pg_build_query(msg, sizeof(msg), sql);

	s->replay_pending++;
	s->syncs_sent++;
	pg_server_send(s, msg, n);
}

static void unlink_server(struct pgclient *c, bool clean)
{
	struct pgserver *s = c->server;

	if (!s)
		return;
	if (clean && c->pool->pg->pool_mode == PG_POOL_SESSION)
		reset_server(s, "DISCARD ALL");	/* the next client gets a clean session */
	else if (clean && s->nstmts > c->pool->pg->max_prepared_statements)
		reset_server(s, "DEALLOCATE ALL");	/* the statements of clients long gone */
	c->server = NULL;
	s->client = NULL;
	server_changed(c, NULL);
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
			inject(s, "ROLLBACK");
		unlink_server(c, true);
		return;
	}
	c->server = NULL;
	s->client = NULL;
	server_changed(c, NULL);
	pg_server_terminate(s, c->copy_in);
}

static void client_close(struct pgclient *c, const char *why)
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
	client_error(c, "FATAL", "08006", msg);
}

void pg_proxy_link_failed(struct pgclient *c, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "pool '%s': cannot open a server connection: %s",
		 c->pool->cfg->name, why);
	client_error(c, "FATAL", "08006", msg);
}

/* ---- session state carried to a server --------------------------------------------- */

/* Append `SET name TO <value>;` with the value dollar-quoted under a tag
 * it does not contain, so no value can end the literal early. */
static void append_set(struct gbuf *q, const char *name, const char *value)
{
	char tag[16] = "$nd$", line[128];
	size_t n;

	for (int i = 0; strstr(value, tag); i++)
		snprintf(tag, sizeof(tag), "$nd%d$", i);
	n = (size_t)snprintf(line, sizeof(line), "SET %s TO %s", name, tag);
	if (gbuf_reserve(q, n + strlen(value) + strlen(tag) + 2, SIZE_MAX)) {
		gbuf_append(q, line, n);
		gbuf_append(q, value, strlen(value));
		gbuf_append(q, tag, strlen(tag));
		gbuf_append(q, ";", 1);
	}
}

/*
 * Make s's tracked parameters what c expects: what it set, else what a
 * fresh server reports (so no client inherits another's TimeZone). One
 * Query of SETs; its answers are dropped (replay_pending).
 */
static void replay_vars(struct pgclient *c, struct pgserver *s)
{
	const struct pg_vars *defaults = &c->bucket->defaults;
	struct gbuf q = { 0 };
	char *msg;
	size_t n;

	for (int i = 0; i < PG_TRACKED_PARAMS; i++) {
		const char *want = c->vars.v[i] ? c->vars.v[i] : defaults->v[i];

		if (want && !(s->vars.v[i] && !strcmp(s->vars.v[i], want)))
			append_set(&q, pg_tracked_params[i], want);
	}
	if (gbuf_pending(&q) == 0)
		return;
	gbuf_reserve(&q, 1, SIZE_MAX);
	q.p[q.len] = '\0';
	n = pg_build_query(NULL, 0, q.p);
	msg = xmalloc(n);
	pg_build_query(msg, n, q.p);
	s->replay_pending++;
	s->syncs_sent++;
	pg_server_send(s, msg, n);
	free(msg);
	gbuf_free(&q);
}

/* DISCARD ALL (discard) or DEALLOCATE ALL ran on s: forget what it had
 * prepared, except the statements of Parses still awaiting their answer
 * (sent after it, they will exist), and with DISCARD ALL its settings. */
static void server_was_reset(struct pgserver *s, bool discard)
{
	for (int i = 0; i < s->nstmts; i++)
		free(s->stmts[i]);
	s->nstmts = 0;
	for (int i = 0; i < s->parses_n; i++) {
		const char *name = s->parses[(s->parses_head + i) % s->parses_cap].srvname;

		if (name)
			server_add_stmt(s, name);
	}
	if (discard)
		pg_vars_free(&s->vars);
}

/*
 * A reset whose answers are dropped: DISCARD ALL before a session-mode
 * server serves another client (temp tables, settings, prepared
 * statements, advisory locks, LISTEN); DEALLOCATE ALL when a
 * transaction-mode server holds more than max_prepared_statements (the
 * clients that still use some prepare them again on next use).
 */
static void reset_server(struct pgserver *s, const char *sql)
{
	server_was_reset(s, !strcmp(sql, "DISCARD ALL"));
	inject(s, sql);
}

static struct stmt *find_stmt(struct pgclient *c, const char *name, size_t len)
{
	for (int i = 0; i < c->nstmts; i++)
		if (strlen(c->stmts[i].name) == len && !memcmp(c->stmts[i].name, name, len))
			return &c->stmts[i];
	return NULL;
}

/* The client closed or deallocated st. Servers other than the one it is on
 * may keep the statement under its server name; nothing refers to it
 * again, and max_prepared_statements bounds how many such a server keeps. */
static void forget_stmt(struct pgclient *c, struct stmt *st)
{
	free(st->name);
	free(st->srvname);
	free(st->parse);
	*st = c->stmts[--c->nstmts];
}

static void forget_all_stmts(struct pgclient *c)
{
	while (c->nstmts > 0)
		forget_stmt(c, &c->stmts[c->nstmts - 1]);
}

static bool server_has(struct pgserver *s, const char *srvname)
{
	for (int i = 0; i < s->nstmts; i++)
		if (!strcmp(s->stmts[i], srvname))
			return true;
	return false;
}

static void server_add_stmt(struct pgserver *s, const char *srvname)
{
	if (s->nstmts == s->stmts_cap) {
		s->stmts_cap = s->stmts_cap ? s->stmts_cap * 2 : 8;
		s->stmts = xrealloc(s->stmts, (size_t)s->stmts_cap * sizeof(char *));
	}
	s->stmts[s->nstmts++] = xstrdup(srvname);
}

static void server_drop_stmt(struct pgserver *s, const char *srvname)
{
	for (int i = 0; i < s->nstmts; i++) {
		if (!strcmp(s->stmts[i], srvname)) {
			free(s->stmts[i]);
			s->stmts[i] = s->stmts[--s->nstmts];
			return;
		}
	}
}

/* A Parse of statement srvname (NULL: unnamed) goes to s. */
static void parse_sent(struct pgserver *s, const char *srvname, bool injected)
{
	struct pg_parse_sent *e;

	if (s->parses_n == s->parses_cap) {
		struct pg_parse_sent *n = xcalloc((size_t)(s->parses_cap ? s->parses_cap * 2 : 8), sizeof(*n));

		for (int i = 0; i < s->parses_n; i++)
			n[i] = s->parses[(s->parses_head + i) % s->parses_cap];
		free(s->parses);
		s->parses = n;
		s->parses_head = 0;
		s->parses_cap = s->parses_cap ? s->parses_cap * 2 : 8;
	}
	e = &s->parses[(s->parses_head + s->parses_n++) % s->parses_cap];
	e->injected = injected;
	e->srvname = srvname ? xstrdup(srvname) : NULL;
	e->sync = s->syncs_sent;
}

static struct pg_parse_sent parse_pop(struct pgserver *s)
{
	struct pg_parse_sent e = s->parses[s->parses_head];

	s->parses_head = (s->parses_head + 1) % s->parses_cap;
	s->parses_n--;
	return e;
}

/* A ReadyForQuery: Parses of the batches it ends that got no ParseComplete
 * were skipped after an error; their statements are not on the server. */
static void parses_settle(struct pgserver *s)
{
	s->syncs_done++;
	while (s->parses_n > 0 && (int)(s->parses[s->parses_head].sync - s->syncs_done) < 0) {
		struct pg_parse_sent e = parse_pop(s);

		if (e.srvname)
			server_drop_stmt(s, e.srvname);
		free(e.srvname);
	}
}

/* Prepare st on s if it is not there yet; its ParseComplete is dropped. */
static void ensure_prepared(struct pgserver *s, struct stmt *st)
{
	if (server_has(s, st->srvname))
		return;
	pg_server_send(s, st->parse, st->parse_len);
	server_add_stmt(s, st->srvname);
	parse_sent(s, st->srvname, true);
}

/* ---- client messages ----------------------------------------------------------------- */

/* Forward message m[0, n), renamed to st's server name. */
static void send_renamed(struct pgclient *c, const char *m, size_t n, const char *srvname)
{
	struct pg_err err;
	long len = pg_rewrite_stmt(m, n, srvname, NULL, 0, &err);
	char *out;

	if (len < 0) {
		client_error(c, "FATAL", err.sqlstate, err.reason);
		return;
	}
	out = xmalloc((size_t)len);
	if (pg_rewrite_stmt(m, n, srvname, out, (size_t)len, &err) == len)
		pg_server_send(c->server, out, (size_t)len);
	free(out);
}

/* The statement SQL `DEALLOCATE name` names, if the client prepared it
 * with Parse (psycopg 3.1 sends that when its cache evicts one). */
static struct stmt *deallocate_target(struct pgclient *c, struct pg_str sql)
{
	char name[PG_AUTH_USER_MAX + 1];

	if (!pg_sql_deallocate(sql.p, sql.len, name, sizeof(name)))
		return NULL;
	return find_stmt(c, name, strlen(name));
}

/*
 * A Query `DEALLOCATE name` of such a statement with nothing else in
 * flight: answered here when the server the client holds, if any, does
 * not have it (servers that do keep it under its server name, bounded by
 * max_prepared_statements). A failed transaction gets the server's own
 * answer. Returns true when answered.
 */
static bool deallocate_here(struct pgclient *c, const char *m, size_t n)
{
	struct pg_str sql;
	struct pg_err err;
	struct stmt *st;
	char buf[64];

	if (m[0] != 'Q' || c->nstmts == 0 || pg_read_query(m, n, &sql, &err) < 0 ||
	    !(st = deallocate_target(c, sql)) ||
	    c->txstatus == 'E' || (c->server && server_has(c->server, st->srvname)))
		return false;
	forget_stmt(c, st);
	client_send(c, buf, pg_build_command_complete(buf, sizeof(buf), "DEALLOCATE"));
	client_send(c, buf, pg_build_ready(buf, sizeof(buf), c->txstatus));
	return true;
}

/*
 * The same SQL going to the client's server (in a Query, or an unnamed
 * Parse): the server gets `DEALLOCATE <server name>` instead, written to
 * out, with the statement prepared there first if it is not; the client
 * forgets it. False: sql is something else, to send as it is.
 */
static bool deallocate_rename(struct pgclient *c, struct pg_str sql, char *out, size_t cap)
{
	struct stmt *st = deallocate_target(c, sql);

	if (!st)
		return false;
	ensure_prepared(c->server, st);
	snprintf(out, cap, "DEALLOCATE %s", st->srvname);
	server_drop_stmt(c->server, st->srvname);
	forget_stmt(c, st);
	return true;
}

/* Parse with a name: remember it (renamed) so any server can prepare it. */
static int on_parse(struct pgclient *c, const char *m, size_t n)
{
	struct pg_parse p;
	struct pg_err err;
	struct stmt *st;
	char srvname[48];
	long len;

	if (pg_read_parse(m, n, &p, &err) < 0) {
		client_error(c, "FATAL", err.sqlstate, err.reason);
		return -1;
	}
	if (p.stmt.len == 0) {
		char sql[80], buf[128];

		if (p.nparam_types == 0 && deallocate_rename(c, p.query, sql, sizeof(sql)))
			pg_server_send(c->server, buf, pg_build_parse(buf, sizeof(buf), "", sql, NULL, 0));
		else
			pg_server_send(c->server, m, n);
		parse_sent(c->server, NULL, false);
		return 0;
	}
	st = find_stmt(c, p.stmt.p, p.stmt.len);
	if (!st && c->nstmts >= c->pool->pg->max_prepared_statements) {
		char msg[200];

		snprintf(msg, sizeof(msg), "more than %d prepared statements in one session "
			 "(max_prepared_statements): close some, or raise the limit",
			 c->pool->pg->max_prepared_statements);
		client_error(c, "FATAL", "53400", msg);
		return -1;
	}
	if (!st) {
		c->stmts = xrealloc(c->stmts, (size_t)(c->nstmts + 1) * sizeof(*st));
		st = &c->stmts[c->nstmts++];
		st->name = xmalloc(p.stmt.len + 1);
		memcpy(st->name, p.stmt.p, p.stmt.len);
		st->name[p.stmt.len] = '\0';
	} else {
		free(st->srvname);
		free(st->parse);
	}
	snprintf(srvname, sizeof(srvname), "nd%u_%u", c->sid, ++c->stmt_seq);
	st->srvname = xstrdup(srvname);
	len = pg_rewrite_stmt(m, n, srvname, NULL, 0, &err);
	st->parse = xmalloc((size_t)len);
	st->parse_len = (size_t)pg_rewrite_stmt(m, n, srvname, st->parse, (size_t)len, &err);
	pg_server_send(c->server, st->parse, st->parse_len);
	server_add_stmt(c->server, srvname);
	parse_sent(c->server, srvname, false);
	return 0;
}

/* Bind, Describe or Close naming a statement: use the server's name. */
static int on_stmt_ref(struct pgclient *c, const char *m, size_t n)
{
	struct pg_err err;
	struct pg_str name = { 0 };
	bool close = m[0] == 'C';
	struct stmt *st;

	if (m[0] == 'B') {
		struct pg_bind b;

		if (pg_read_bind(m, n, &b, &err) < 0)
			goto bad;
		name = b.stmt;
	} else {
		struct pg_target t;

		if (pg_read_target(m, n, &t, &err) < 0)
			goto bad;
		if (t.kind == 'S')
			name = t.name;
	}
	st = name.len ? find_stmt(c, name.p, name.len) : NULL;
	if (!st) {		/* unnamed, a portal, or unknown: the server answers */
		pg_server_send(c->server, m, n);
		return 0;
	}
	if (close) {
		send_renamed(c, m, n, st->srvname);
		server_drop_stmt(c->server, st->srvname);
		forget_stmt(c, st);
		return 0;
	}
	ensure_prepared(c->server, st);
	send_renamed(c, m, n, st->srvname);
	return 0;
bad:
	client_error(c, "FATAL", err.sqlstate, err.reason);
	return -1;
}

/* One whole message of a linked client, inside a transaction. */
static int relay_client_msg(struct pgclient *c, const char *m, size_t n)
{
	switch (m[0]) {
	case 'P':
		c->unsynced = true;
		return on_parse(c, m, n);
	case 'B':
	case 'D':
	case 'C':
		c->unsynced = true;
		return on_stmt_ref(c, m, n);
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
			       deallocate_rename(c, sql, q, sizeof(q));

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
static void hold(struct pgclient *c)
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
		unlink_server(c, false);	/* the primary changed under this session */
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
	hold(c);
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
			client_error(c, "FATAL", err.sqlstate, err.reason);
			return;
		}
		if (m[0] == 'X') {	/* leave_server rolls back what is open */
			gbuf_consume(&c->in, (size_t)n);
			client_close(c, NULL);
			return;
		}
		if (idle(c)) {
			/* between transactions: COPY data after a COPY that failed, and
			 * Flush, get no answer from a server and start nothing */
			if (m[0] == 'd' || m[0] == 'c' || m[0] == 'f' || m[0] == 'H' ||
			    deallocate_here(c, m, (size_t)n)) {
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

static void finish_login(struct pgclient *c, struct pgserver *s);

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
	replay_vars(c, s);
	if (c->bootstrap) {
		/* The login finishes once the server has taken the startup
		 * settings: its answers give their canonical spelling (UTF8 for
		 * utf8), which is what the client is told and what later
		 * servers are compared with. */
		if (s->replay_pending > 0) {
			c->replaying = true;
			return;
		}
		finish_login(c, s);
		client_pump(c);
		return;
	}
	server_changed(c, s);
	client_pump(c);
}

/* Is m[0, n) the CommandComplete of `tag`? */
static bool tag_is(const char *m, size_t n, const char *tag)
{
	size_t l = strlen(tag);

	return n == 5 + l + 1 && !memcmp(m + 5, tag, l + 1);
}

/*
 * Our SETs (and resets) on s are answered. The server now has what c
 * wants, in its own spelling, whether or not it reported a change (it
 * does not when the value was the same, as `utf8` and `UTF8` are): c
 * takes that spelling, so the next server is compared with it and gets no
 * SET it does not need. A login waiting for its startup settings goes on.
 */
static void replay_done(struct pgclient *c, struct pgserver *s)
{
	for (int i = 0; i < PG_TRACKED_PARAMS; i++) {
		if (!c->vars.v[i] || !s->vars.v[i] || !strcmp(c->vars.v[i], s->vars.v[i]))
			continue;
		free(c->vars.v[i]);
		c->vars.v[i] = xstrdup(s->vars.v[i]);
	}
	if (c->replaying && !c->close_after)
		finish_login(c, s);
}

/* A SET of ours failed: at login (an invalid startup setting), the client
 * is refused as PostgreSQL would refuse it; later, it is logged. */
static void replay_failed(struct pgclient *c, const char *m, size_t n)
{
	char why[256];

	pg_describe_notice(m, n, why, sizeof(why));
	if (c->bootstrap && !c->close_after) {
		client_error(c, "FATAL", "22023", why);
		return;
	}
	log_warn("pg pool %s: replaying a client's settings on a server failed: %s",
		 c->pool->cfg->name, why);
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
			parses_settle(s);
		}
		if (m[0] == 'S' && pg_read_param_status(m, n, &prm, &err) == 0)
			pg_vars_set(&s->vars, prm.name.p, prm.name.len, prm.value.p, prm.value.len);
		if (m[0] == 'E')
			replay_failed(c, m, n);
		return false;
	}
	switch (m[0]) {
	case '1':
		if (s->parses_n > 0) {
			struct pg_parse_sent e = parse_pop(s);

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
	case 'C':	/* CommandComplete: the client dropped its statements */
		if (tag_is(m, n, "DEALLOCATE ALL") || tag_is(m, n, "DISCARD ALL")) {
			server_was_reset(s, tag_is(m, n, "DISCARD ALL"));
			forget_all_stmts(c);
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
		parses_settle(s);
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
		unlink_server(c, true);
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
			client_send(c, p, take);
			gbuf_consume(&s->in, take);
			c->pass_left -= take;
			continue;
		}
		if (have < 5)
			break;		/* more to read */
		if (!inspected(c, p[0]) && !s->replay_pending) {
			n = pg_msg_frame(p, 5, PG_BACKEND, UINT32_MAX, &err);
			if (n < 0) {
				client_error(c, "FATAL", "08P01", "the server sent a malformed message");
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
			client_error(c, "FATAL", "08P01", "the server sent a malformed message");
			pg_server_close(s);
			return;
		}
		type = p[0];
		replay = s->replay_pending > 0;
		if (on_server_msg(c, s, p, (size_t)n)) {
			client_send(c, p, (size_t)n);
			gbuf_consume(&s->in, (size_t)n);
			if (type == 'Z')	/* the client's, not one of a replayed SET */
				after_ready(c);
		} else {
			gbuf_consume(&s->in, (size_t)n);
			if (replay && type == 'Z' && !s->replay_pending)
				replay_done(c, s);
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
	server_changed(c, NULL);
	if (c->state == PC_CLOSING)
		return;
	c->state = PC_IDLE;
	if (c->busy || c->pending > 0 || c->pass_left > 0) {
		tx_end(c);
		client_error(c, "FATAL", "08006", "the server connection was lost in the middle of a "
			     "transaction; it was not committed unless the server finished it");
	}
}

/* ---- login ------------------------------------------------------------------------------ */

/* The client proved who it is: AuthenticationOk, then (once a server of
 * its (user, database) is at hand, so a held login waits like a
 * transaction) the server's parameters, our key and ReadyForQuery. */
static void login_ok(struct pgclient *c)
{
	char buf[64];

	c->auth = A_NONE;
	free(c->scram);
	c->scram = NULL;
	client_send(c, buf, pg_build_auth_ok(buf, sizeof(buf)));
	c->state = PC_IDLE;
	c->bootstrap = true;
	c->bucket = pg_bucket(c->pool, c->username, c->database);	/* only now: it is kept */
	uv_timer_stop(&c->timer);
	hold(c);
}

/* The server's ParameterStatus messages of its login, each tracked one
 * with the value the server now has (the client's startup settings, in the
 * server's spelling). */
static void send_login_params(struct pgclient *c, struct pgserver *s)
{
	const char *p = s->params.p + s->params.off;
	size_t left = gbuf_pending(&s->params);
	char buf[1024];

	while (left >= 5) {
		size_t n = 1 + ((size_t)(uint8_t)p[1] << 24 | (size_t)(uint8_t)p[2] << 16 |
				(size_t)(uint8_t)p[3] << 8 | (uint8_t)p[4]);
		struct pg_param prm;
		struct pg_err err;
		const char *now;

		if (n > left)
			break;
		now = pg_read_param_status(p, n, &prm, &err) == 0 ?
		      pg_vars_get(&s->vars, prm.name.p, prm.name.len) : NULL;
		if (now && (strlen(now) != prm.value.len || memcmp(now, prm.value.p, prm.value.len))) {
			size_t m = pg_build_param_status(buf, sizeof(buf), prm.name.p, now);

			if (m <= sizeof(buf))
				client_send(c, buf, m);
		} else {
			client_send(c, p, n);
		}
		p += n;
		left -= n;
	}
}

/*
 * The client is logged in: its parameters, its BackendKeyData and
 * ReadyForQuery. In session mode it keeps this server, and is told the
 * server's real pid (with a key of nodown's own), as a direct connection
 * would tell it; in transaction mode it gets a pid no backend can have
 * (pg_cancel_fake_pid), so pg_terminate_backend() of it kills nothing.
 */
static void finish_login(struct pgclient *c, struct pgserver *s)
{
	bool session = c->pool->pg->pool_mode == PG_POOL_SESSION;
	int32_t pid = session ? s->pid : pg_cancel_fake_pid();
	char buf[64];
	uint32_t key;

	c->bootstrap = false;
	c->replaying = false;
	c->cancel = pg_cancel_register(pid, &key);
	if (!c->cancel) {
		client_error(c, "FATAL", "58000", "no secure random number for a cancel key "
			     "(the system's random source failed)");
		return;
	}
	c->pid = pid;
	c->key = key;
	send_login_params(c, s);
	client_send(c, buf, pg_build_key_data(buf, sizeof(buf), c->pid, c->key));
	client_send(c, buf, pg_build_ready(buf, sizeof(buf), 'I'));
	c->txstatus = 'I';
	if (session)
		server_changed(c, s);
	else
		unlink_server(c, true);
}

static void auth_failed(struct pgclient *c, const char *why)
{
	char msg[256];

	log_info("pg client %s: password authentication failed for user \"%s\": %s", c->peer,
		 c->username, why);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->username);
	client_error(c, "FATAL", "28P01", msg);
}

/*
 * Ask the client to prove who it is. A user with no usable secret (not in
 * the auth file, or an md5 hash where SCRAM is asked for) goes through a
 * mock exchange that fails only at the proof, as PostgreSQL does, so the
 * answers do not tell which user names exist; the log says why.
 */
static void start_auth(struct pgclient *c)
{
	const char *why = NULL;
	char buf[256];

	c->user = pg_authfile_find(c->pool->auth, c->username);
	if (c->pool->pg->auth_type == PG_CLIENT_AUTH_TRUST) {
		if (!c->user) {	/* nodown could not log into a server as it anyway */
			snprintf(buf, sizeof(buf), "role \"%s\" is not in nodown's auth file", c->username);
			client_error(c, "FATAL", "28000", buf);
			return;
		}
		login_ok(c);
		return;
	}
	if (c->pool->pg->auth_type == PG_CLIENT_AUTH_MD5 && (!c->user || c->user->kind != PG_SECRET_SCRAM)) {
		pg_md5_salt(c->salt);
		c->auth = A_MD5;
		client_send(c, buf, pg_build_auth_md5(buf, sizeof(buf), (const char *)c->salt));
		return;
	}
	c->scram = xcalloc(1, sizeof(*c->scram));
	if (!c->user || pg_scram_server_init(c->scram, c->user, &why) < 0) {
		c->mock_why = c->user ? why : "no such user in the auth file";
		pg_scram_server_mock(c->scram, c->username);
	}
	c->auth = A_SCRAM_FIRST;
	client_send(c, buf, pg_build_auth_sasl(buf, sizeof(buf), (const char *const[]){ "SCRAM-SHA-256" }, 1));
}

/* A PasswordMessage / SASL message during authentication. */
static void auth_msg(struct pgclient *c, const char *m, size_t n)
{
	struct pg_err err;
	const char *why = NULL;
	char out[PG_SCRAM_MSG_MAX], buf[PG_SCRAM_MSG_MAX + 64];
	int len;

	if (m[0] != 'p') {
		client_error(c, "FATAL", "08P01", "expected a password message during authentication");
		return;
	}
	switch (c->auth) {
	case A_MD5: {
		struct pg_str pw;

		if (pg_read_password(m, n, &pw, &err) < 0)
			client_error(c, "FATAL", err.sqlstate, err.reason);
		else if (!c->user)
			auth_failed(c, "no such user in the auth file");
		else if (pg_md5_verify(c->user, c->salt, pw.p, &why) < 0)
			auth_failed(c, why);
		else
			login_ok(c);
		return;
	}
	case A_SCRAM_FIRST: {
		struct pg_sasl_initial si;

		if (pg_read_sasl_initial(m, n, &si, &err) < 0) {
			client_error(c, "FATAL", err.sqlstate, err.reason);
		} else if (si.mechanism.len != 13 || memcmp(si.mechanism.p, "SCRAM-SHA-256", 13) || !si.has_data) {
			client_error(c, "FATAL", "28000", "only SCRAM-SHA-256 is offered");
		} else if ((len = pg_scram_server_first(c->scram, si.data.p, si.data.len, out, &why)) < 0) {
			auth_failed(c, why);
		} else {
			c->auth = A_SCRAM_FINAL;
			client_send(c, buf, pg_build_auth_sasl_continue(buf, sizeof(buf), out, (size_t)len));
		}
		return;
	}
	case A_SCRAM_FINAL: {
		struct pg_str data;

		if (pg_read_sasl_response(m, n, &data, &err) < 0) {
			client_error(c, "FATAL", err.sqlstate, err.reason);
		} else if ((len = pg_scram_server_final(c->scram, data.p, data.len, out, &why)) < 0) {
			auth_failed(c, c->mock_why ? c->mock_why : why);
		} else {
			client_send(c, buf, pg_build_auth_sasl_final(buf, sizeof(buf), out, (size_t)len));
			login_ok(c);
		}
		return;
	}
	case A_NONE:
		break;
	}
	client_error(c, "FATAL", "08P01", "unexpected message during authentication");
}

static void copy_str(char *dst, size_t cap, struct pg_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* A `_pq_.` protocol option (declined by negotiate_version). */
static bool protocol_option(struct pg_str name)
{
	return !strncmp(name.p, "_pq_.", 5);
}

/* Startup parameters a pooled session can honour: who and where, the
 * tracked ones (replayed on every server), extra_float_digits, which is
 * ignored (as PgBouncer users configure), and protocol options, which
 * negotiate_version declines. Others, `options` included, would silently
 * not apply: refused. */
static bool startup_param_ok(struct pg_str name)
{
	static const char *const fixed[] = { "user", "database", "replication", "extra_float_digits" };

	if (protocol_option(name))
		return true;
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		if (!strcmp(name.p, fixed[i]))
			return true;
	for (int i = 0; i < PG_TRACKED_PARAMS; i++)
		if (!strcasecmp(name.p, pg_tracked_params[i]))
			return true;
	return false;
}

/* A client asking for protocol 3.x with x > 0, or for _pq_. options, is
 * told that nodown speaks 3.0 and none of those options (as PostgreSQL
 * itself answers); it then goes on in 3.0 or gives up. */
static void negotiate_version(struct pgclient *c, const struct pg_startup *st)
{
	struct pg_str opts[PG_MAX_PARAMS];
	int nopts = 0;
	char buf[4096];
	size_t n;

	for (int i = 0; i < st->nparams; i++)
		if (protocol_option(st->params[i].name))
			opts[nopts++] = st->params[i].name;
	if (st->minor == 0 && nopts == 0)
		return;
	n = pg_build_negotiate(buf, sizeof(buf), 0, opts, nopts);
	if (n <= sizeof(buf))
		client_send(c, buf, n);
}

/* The cancel this connection carried was acted on (or dropped): answer it
 * the way PostgreSQL does, by closing the connection. */
static void cancel_done(void *arg)
{
	struct pgclient *c = arg;

	c->cancel_req = NULL;
	client_close(c, NULL);
}

/* The first packet of the connection. */
static void on_startup(struct pgclient *c)
{
	struct pg_startup st;
	struct pg_err err;
	long n = pg_startup_frame(c->in.p + c->in.off, gbuf_pending(&c->in), &st, &err);

	if (n == 0)
		return;
	if (n < 0) {
		client_error(c, "FATAL", err.sqlstate, err.reason);
		return;
	}
	gbuf_consume(&c->in, (size_t)n);
	switch (st.kind) {
	case PG_SSL_REQUEST:
	case PG_GSSENC_REQUEST:
		client_send(c, "N", 1);		/* no TLS yet: the client goes on in clear or gives up */
		return;
	case PG_CANCEL_REQUEST:
		c->state = PC_CANCEL;
		c->cancel_req = pg_cancel_request(c->w, st.cancel_pid, st.cancel_key, cancel_done, c);
		return;
	case PG_STARTUP:
		break;
	}
	negotiate_version(c, &st);
	for (int i = 0; i < st.nparams; i++) {
		if (!startup_param_ok(st.params[i].name)) {
			char msg[256];

			snprintf(msg, sizeof(msg), "startup parameter \"%.64s\" is not supported through "
				 "nodown's pool; set it with SET, or per role (ALTER ROLE ... SET)",
				 st.params[i].name.p);
			client_error(c, "FATAL", "0A000", msg);
			return;
		}
	}
	copy_str(c->username, sizeof(c->username), st.user);
	copy_str(c->database, sizeof(c->database), st.database);
	copy_str(c->appname, sizeof(c->appname), st.application_name);
	for (int i = 0; i < st.nparams; i++)
		pg_vars_set(&c->vars, st.params[i].name.p, st.params[i].name.len,
			    st.params[i].value.p, st.params[i].value.len);
	if (st.user.len > PG_AUTH_USER_MAX || st.database.len > PG_AUTH_USER_MAX) {
		client_error(c, "FATAL", "08P01", "user or database name too long");
		return;
	}
	c->state = PC_AUTH;
	start_auth(c);
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
			on_startup(c);
			break;
		case PC_AUTH: {
			const char *m;
			struct pg_err err;
			long n = pg_msg_frame(c->in.p + c->in.off, gbuf_pending(&c->in), PG_FRONTEND,
					      PG_SCRAM_MSG_MAX + 64, &err);

			if (n < 0) {
				client_error(c, "FATAL", err.sqlstate, err.reason);
				return;
			}
			if (n == 0)
				return;
			m = c->in.p + c->in.off;
			gbuf_consume(&c->in, (size_t)n);	/* before: a login goes on to the next messages */
			auth_msg(c, m, (size_t)n);
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
			client_error(c, "FATAL", "54000", "message too large");
		else
			client_close(c, c->busy ? "the client left in the middle of a transaction" : NULL);
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

static void startup_timeout_cb(uv_timer_t *t)
{
	struct pgclient *c = t->data;

	if (c->state == PC_CANCEL)	/* the cancel goes on; its requester stops waiting */
		client_close(c, NULL);
	else
		client_error(c, "FATAL", "08006", "startup and authentication took longer than header_timeout");
}

/* ---- stop, sweep, accept ---------------------------------------------------------------- */

static void client_on_stop(struct client_link *l, enum stop_phase phase)
{
	struct pgclient *c = container_of(l, struct pgclient, link);
	bool idle = (c->state == PC_IDLE || c->state == PC_STARTUP || c->state == PC_AUTH) && !c->busy;

	if (phase == STOP_DEADLINE || (phase == STOP_GRACE_OVER && idle)) {
		if (c->state == PC_IDLE || c->state == PC_LINKED)
			client_error(c, "FATAL", "57P01", "nodown is shutting down");
		else
			client_close(c, NULL);
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
		unlink_server(c, false);
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
		client_close(c, NULL);
		return;
	}
	uv_timer_start(&c->timer, startup_timeout_cb, pg_listener(lc)->header_timeout_ms, 0);
	client_read(c, true);
}
