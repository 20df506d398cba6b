/*
 * proxy.c - redis client connections: one server connection per client,
 * to the pool's primary, and the relay of commands and replies between
 * them.
 *
 * Why one server connection per client (not many clients multiplexed on
 * few, as twemproxy does): every stateful command then behaves exactly as
 * on a direct connection (SELECT, MULTI/EXEC/WATCH, SUBSCRIBE and RESP3
 * pushes, blocking commands, CLIENT SETNAME/ID, HELLO, RESET), with no
 * command table to keep in step with redis-server. The price is a server
 * connection per client, as without nodown.
 *
 * Owns: struct rclient (a client and its server connection) from accept
 *       to close.
 * Invariants:
 *   - bytes go to the server only as judged by the request reader, in
 *     order; a command larger than a buffer is streamed (memory is the
 *     worker's `buffers`, never the size of a value), and so is a reply;
 *   - nothing reaches the server before the client has authenticated,
 *     when the pool has a client_password; AUTH is then answered by nodown
 *     (the server only ever sees nodown's own credentials);
 *   - an answer of nodown's own (AUTH, errors) goes out only when every
 *     counted command before it has had its reply, so replies stay in
 *     order (in subscribe mode, where commands are not counted, an AUTH
 *     may overtake the replies to commands sent in that mode);
 *   - `pending` counts commands sent whose reply has not come back (not
 *     in subscribe mode or MONITOR, where replies come unasked: such a
 *     client has nothing in flight between messages, until RESET); a
 *     client with pending > 0, or in a transaction (MULTI or WATCH to
 *     EXEC, DISCARD, UNWATCH or RESET), counts in its backend's `active`
 *     and is not idle: a drain or a stop waits for it;
 *   - a malformed command gets "-ERR Protocol error: ..." and the
 *     connection is closed once it is written; other clients carry on.
 * Runs on: the owning worker's loop.
 */
#include "proxy.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/crypto.h>

#include "../core/fds.h"
#include "../core/listener.h"
#include "../core/proto.h"
#include "../core/log.h"
#include "config.h"
#include "live.h"
#include "resp.h"
#include "session.h"

#define REDIS_OUT_HIGH (256u << 10)	/* output queued before its source is not read */
#define REDIS_READ_UNIT 16384
#define REDIS_RESTORE_REPLY_MAX (256u << 10)	/* a reply read whole while subscriptions are restored */

enum rstate {
	RC_WAITING,	/* for a usable primary, at most failover_hold */
	RC_CONNECTING,	/* to the server, and logging in */
	RC_LINKED,	/* commands flow */
	RC_MOVING,	/* its server connection closes: the primary moved */
	RC_CLOSING,
};

struct rclient;

/* One end: a socket, what was read from it and what is to be written. */
struct rside {
	uv_tcp_t tcp;
	uv_write_t wreq;
	struct gbuf in, out, wbuf;	/* read, not yet relayed; to write; being written */
	struct buf_waiter bw;		/* reading stopped until the worker's buffers free up */
	struct wflush flush;
	struct resp_reader rd;		/* judges what is read */
	struct rclient *r;
	bool server;
	bool reading, writing, nomem;
};

struct rclient {
	struct rside c, s;		/* the client, its server */
	uv_connect_t creq;
	uv_timer_t timer;		/* waiting for a primary, connecting */
	struct client_link link;
	struct worker *w;
	struct wgen *gen;		/* a reference */
	struct redis_wpool *pool;	/* in gen */
	enum rstate state;
	int backend;			/* of the server connection; -1 when none */
	bool s_open;			/* s.tcp is initialised (closed with the client) */
	bool s_closing;			/* s.tcp is being closed, the client stays (RC_MOVING) */
	struct backend_live *counted;	/* where pending commands count in `active` */
	int64_t pending;		/* commands sent, replies not yet relayed */
	int login_left;			/* replies to nodown's login and session replay, dropped */
	bool marker;			/* then replies to replayed subscriptions, up to the PING's */
	size_t fed;			/* bytes of s.in the reader judged of a reply kept whole */
	char token[48];			/* what the restore's PING carries */
	bool restoring;			/* counted in the pool's `restoring` */
	bool flying;			/* counted in the pool's in_flight: a command is in progress */
	bool paused;			/* a switchover's pause holds its next command */
	bool held_counted;		/* counted in the pool's `held` for this pause */
	bool capture;			/* the command being relayed changes subscriptions */
	bool in_multi;			/* MULTI sent, EXEC/DISCARD/RESET not yet */
	uint64_t sent, replied;		/* counted commands sent, and replies to them relayed */
	struct rsession sess;		/* what it set on its server connection */
	size_t judged;			/* bytes of c.in the reader has judged */
	bool classified, local;		/* the command being read: looked at; answered by nodown */
	bool held_local;		/* a whole local command waits for earlier replies */
	const char *held_error;		/* a protocol error waits for earlier replies */
	bool authed;			/* needs no AUTH (or gave it) */
	bool in_tx;			/* MULTI or WATCH sent, EXEC/DISCARD/UNWATCH/RESET not yet */
	bool unbounded;			/* in subscribe mode or MONITOR: replies also come unasked */
	bool monitor;			/* MONITOR sent: every reply comes unasked */
	int64_t plain_left;		/* replies to commands sent before unbounded, still to come */
	uint64_t reset_seq;		/* the RESET whose reply ends unbounded (0: none) */
	bool close_after;		/* close once the output is written */
	bool stopping;			/* nodown stops: close once idle */
	int closing_handles;
	char peer[64];
};

static void client_close(struct rclient *r, const char *why);
static void client_input(struct rclient *r);
static void server_input(struct rclient *r);
static void side_read(struct rside *d, bool on);
static void try_connect(struct rclient *r);
static int primary(const struct redis_wpool *p);
static void closed_cb(uv_handle_t *h);

/* ---- accounting ----------------------------------------------------------------- */

static void count_active(struct rclient *r)
{
	struct backend_live *want = (r->pending > 0 || r->in_tx) && r->backend >= 0 ?
				    r->pool->live[r->backend] : NULL;

	if (want == r->counted)
		return;
	if (r->counted)
		worker_backend_done(r->w, r->counted);
	if (want)
		atomic_fetch_add(&want->active, 1);
	r->counted = want;
}

/* Nothing in progress any more: leave the pool's in_flight (a switchover
 * waits for it to reach 0). */
static void settle(struct rclient *r)
{
	if (r->flying && r->pending == 0 && !r->in_tx && !resp_in_value(&r->c.rd)) {
		r->flying = false;
		atomic_fetch_sub(&r->pool->shared->in_flight, 1);
	}
}

/*
 * May the client begin a new command? Not while a switchover pauses the
 * pool, unless it is in a transaction, which finishes. Counted in
 * in_flight first, then the pause read: the switchover sets the pause,
 * then reads the count, so one of the two sees the other and no command
 * slips past a pause.
 */
static bool may_start(struct rclient *r)
{
	struct pool_live *pl = r->pool->shared;

	if (!r->flying) {
		r->flying = true;
		atomic_fetch_add(&pl->in_flight, 1);
	}
	r->paused = !r->in_tx && atomic_load(&pl->paused);
	if (!r->paused) {
		r->held_counted = false;
		return true;
	}
	if (!r->held_counted) {
		r->held_counted = true;
		STAT_ADD(pl->held, 1);
	}
	settle(r);
	return false;
}

/* The client's server connection opens (+1) or closes (-1). */
static void count_conn(struct rclient *r, int d)
{
	atomic_fetch_add(&redis_blive(r->pool->live[r->backend])->conns, d);
}

/* The client's session is being restored on a new server, or is no longer. */
static void count_restoring(struct rclient *r, bool on)
{
	if (r->restoring == on)
		return;
	r->restoring = on;
	atomic_fetch_add(&redis_plive(r->pool->shared)->restoring, on ? 1 : -1);
}

static bool idle(const struct rclient *r)
{
	return r->pending == 0 && !r->in_tx && !resp_in_value(&r->c.rd) && !r->held_local &&
	       !r->held_error;
}

/* ---- output ------------------------------------------------------------------- */

static void side_flush(struct rside *d);

static void write_cb(uv_write_t *req, int status)
{
	struct rside *d = req->data;
	struct rclient *r = d->r;

	d->writing = false;
	d->wbuf.off = d->wbuf.len = 0;
	gbuf_release(&d->wbuf);
	if (r->state == RC_CLOSING || (d->server && r->s_closing))
		return;		/* cancelled by the close */
	if (status < 0) {
		client_close(r, d->server ? "server write failed" : NULL);
		return;
	}
	side_flush(d);
}

/* Everything queued for d is written: its source may be read again. */
static void drained(struct rside *d)
{
	struct rclient *r = d->r;

	if (!d->server && r->close_after) {
		client_close(r, NULL);
		return;
	}
	if (!d->server && r->state == RC_LINKED) {
		side_read(&r->s, true);
		server_input(r);	/* replies held back by backpressure */
	}
	if (r->state != RC_CLOSING)
		client_input(r);	/* commands held back by either watermark */
}

static void side_flush(struct rside *d)
{
	int r;

	if (d->writing || d->r->state == RC_CLOSING || (d->server && !d->r->s_open))
		return;
	r = gbuf_write((uv_stream_t *)&d->tcp, &d->wreq, &d->out, &d->wbuf, write_cb);
	if (r < 0)
		client_close(d->r, d->server ? "server write failed" : NULL);
	else if (r == 1)
		d->writing = true;
	else
		drained(d);
}

/* At the worker's flush, where nothing on the stack points into them,
 * input buffers emptied by a relay give their memory back. */
static void flush_cb(struct wflush *f)
{
	struct rside *d = container_of(f, struct rside, flush);
	struct rclient *r = d->r;

	side_flush(d);
	if (r->state != RC_CLOSING) {
		gbuf_release(&r->c.in);
		gbuf_release(&r->s.in);
	}
}

static void side_send(struct rside *d, const char *p, size_t n)
{
	if (n == 0 || !gbuf_reserve(&d->out, n, SIZE_MAX))
		return;
	gbuf_append(&d->out, p, n);
	worker_flush_later(d->r->w, &d->flush);
}

static bool side_full(const struct rside *d)
{
	return gbuf_pending(&d->out) + gbuf_pending(&d->wbuf) >= REDIS_OUT_HIGH;
}

/* An error of nodown's own to the client; fatal ones close it once written. */
static void client_error(struct rclient *r, bool fatal, const char *fmt, ...)
	ND_PRINTF(3, 4);

static void client_error(struct rclient *r, bool fatal, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 3)
		n = (int)sizeof(msg) - 3;
	for (int i = 0; i < n; i++)	/* one line, whatever went into it */
		if (msg[i] == '\r' || msg[i] == '\n')
			msg[i] = ' ';
	memcpy(msg + n, "\r\n", 2);
	side_send(&r->c, msg, (size_t)n + 2);
	if (fatal) {
		r->close_after = true;
		side_read(&r->c, false);
		side_read(&r->s, false);
	}
}

/* Close once what is queued for the client is written: its server closed
 * (after QUIT, or a CLIENT KILL), or moved (a drain). */
static void client_end(struct rclient *r, const char *why)
{
	if (why)
		log_info("redis client %s: its server connection ended: %s", r->peer, why);
	r->close_after = true;
	side_read(&r->c, false);
	side_read(&r->s, false);
	worker_flush_later(r->w, &r->c.flush);
}

/* ---- reading ---------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct rside *d = h->data;
	enum gbuf_room room;

	ND_UNUSED(hint);
	room = gbuf_reserve_input(&d->in, REDIS_READ_UNIT, SIZE_MAX);
	d->nomem = room == GBUF_NOMEM;
	if (room != GBUF_OK) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(d->in.p + d->in.len, (unsigned)(d->in.cap - d->in.len));
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct rside *d = st->data;
	struct rclient *r = d->r;

	ND_UNUSED(b);
	if (nread == 0 || r->state == RC_CLOSING)
		return;
	if (nread == UV_ENOBUFS && d->nomem) {	/* the worker's buffers are spent */
		uv_read_stop(st);
		d->reading = false;
		bufpool_wait(&r->w->bufs, &d->bw);
		return;
	}
	if (nread < 0) {
		if (!d->server)
			client_close(r, r->pending > 0 ? "the client left with commands in flight" : NULL);
		else if (r->state == RC_CONNECTING)
			client_error(r, true, "-ERR nodown: backend %s closed the connection while nodown "
				     "logged in", r->pool->cfg->backends[r->backend].name);
		else
			client_end(r, nread == UV_EOF ? NULL : uv_strerror((int)nread));
		return;
	}
	d->in.len += (size_t)nread;
	if (d->server)
		server_input(r);
	else
		client_input(r);
	gbuf_release(&d->in);
}

static void buf_wake(struct buf_waiter *w)
{
	side_read(container_of(w, struct rside, bw), true);
}

static void side_read(struct rside *d, bool on)
{
	bufpool_unwait(&d->bw);
	if (on == d->reading || d->r->state == RC_CLOSING)
		return;
	if ((d->server && !d->r->s_open) || (on && !d->server && (d->r->close_after || d->r->held_error)))
		return;
	d->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&d->tcp, alloc_cb, read_cb);
	else
		uv_read_stop((uv_stream_t *)&d->tcp);
}

/* ---- commands ------------------------------------------------------------------ */

static bool cmd_is(const struct rclient *r, const char *name)
{
	return resp_arg_is(&r->c.rd, 0, name);
}

/* A command nodown cannot honour, whoever sends it: its error, or NULL. */
static const char *refused(const struct rclient *r)
{
	const struct resp_reader *rd = &r->c.rd;

	if (cmd_is(r, "CLIENT") && resp_arg_is(rd, 1, "REPLY") &&
	    (resp_arg_is(rd, 2, "OFF") || resp_arg_is(rd, 2, "SKIP")))
		return "-ERR nodown: CLIENT REPLY OFF and SKIP cannot be honoured through nodown, which "
		       "matches every reply to its command";
	return NULL;
}

/* Is enough of the command being read known to judge it? Its name, and
 * for CLIENT (a small command) up to two more arguments (all of an inline
 * one, whose number of arguments is not known before its end). */
static bool judgeable(const struct rclient *r, enum resp_result res)
{
	const struct resp_reader *rd = &r->c.rd;

	if (res == RESP_DONE)
		return true;
	if (rd->nkept == 0)
		return false;
	if (!cmd_is(r, "CLIENT"))
		return true;
	return rd->type != 'i' && rd->nkept >= (rd->argc < 3 ? rd->argc : 3);	/* inline: argc so far */
}

/* Does nodown answer the command being read itself? */
static bool is_local(const struct rclient *r)
{
	if (refused(r))
		return true;
	if (!r->pool->rc->client_password)
		return false;
	return !r->authed || cmd_is(r, "AUTH");
}

/* Compare what the client gave with the password, in constant time. */
static bool password_ok(const struct rclient *r, const struct resp_arg *a)
{
	const char *want = r->pool->rc->client_password;
	size_t n = strlen(want);

	return a->len == n && n <= RESP_ARG_CAP && CRYPTO_memcmp(a->p, want, n) == 0;
}

/* A whole command nodown answers: AUTH [user] password, or anything else
 * before it. */
static void run_local(struct rclient *r)
{
	const struct resp_reader *rd = &r->c.rd;
	const char *why = refused(r);

	if (rd->argc == 0)
		return;
	if (why) {
		client_error(r, false, "%s", why);
		return;
	}
	if (!cmd_is(r, "AUTH")) {
		if (resp_arg_is(rd, 0, "QUIT")) {
			side_send(&r->c, "+OK\r\n", 5);
			r->close_after = true;
			return;
		}
		client_error(r, false, "-NOAUTH Authentication required.");
		return;
	}
	if (rd->argc != 2 && rd->argc != 3) {
		client_error(r, false, "-ERR wrong number of arguments for 'auth' command");
		return;
	}
	if ((rd->argc == 3 && !resp_arg_is(rd, 1, "default")) ||
	    !password_ok(r, &rd->argv[rd->argc == 3 ? 2 : 1])) {
		log_info("redis client %s: AUTH failed", r->peer);
		client_error(r, false, "-WRONGPASS invalid username-password pair or user is disabled.");
		return;
	}
	r->authed = true;
	side_send(&r->c, "+OK\r\n", 5);
	try_connect(r);
}

/*
 * The command just sent: does it open or end a transaction (a client in
 * one is never idle: closing it would fail its EXEC), or subscribe mode?
 * In subscribe mode (and MONITOR) replies come unasked: the (un)subscribe
 * commands are not counted (their confirmations are not told from
 * messages), every other command is, and its reply is told by its type
 * (reply_asked).
 */
static void note_command(struct rclient *r)
{
	bool uncounted;

	STAT_ADD(r->pool->live[r->backend]->requests, 1);
	if (!r->in_multi && (cmd_is(r, "SUBSCRIBE") || cmd_is(r, "PSUBSCRIBE") || cmd_is(r, "SSUBSCRIBE") ||
			     cmd_is(r, "MONITOR"))) {
		if (!r->unbounded)
			r->plain_left = r->pending;	/* their replies come first */
		r->unbounded = true;
		r->monitor = r->monitor || cmd_is(r, "MONITOR");
	} else if (cmd_is(r, "MULTI") || cmd_is(r, "WATCH")) {
		r->in_tx = true;
		r->in_multi = r->in_multi || cmd_is(r, "MULTI");
	} else if (cmd_is(r, "EXEC") || cmd_is(r, "DISCARD") || (cmd_is(r, "UNWATCH") && !r->in_multi)) {
		r->in_tx = r->in_multi = false;
	} else if (cmd_is(r, "RESET")) {
		r->in_tx = r->in_multi = false;
		r->reset_seq = r->sent + 1;	/* subscribe mode ends with its reply */
	}
	/* in subscribe mode, the (un)subscribe commands (asked only then) */
	uncounted = r->unbounded && (r->monitor || rsession_is_sub(&r->c.rd));
	if (!uncounted) {
		r->pending++;
		r->sent++;
	}
	rsession_command(&r->sess, &r->c.rd, uncounted ? 0 : r->sent, r->in_multi);
	count_active(r);
}

/* Is the reply just read the answer to a counted command, or does it come
 * unasked (a push; in subscribe mode a message or a confirmation)? */
static bool reply_asked(struct rclient *r)
{
	const struct resp_reader *rd = &r->s.rd;

	if (rd->type == '>')
		return false;
	if (!r->unbounded)
		return true;
	if (r->plain_left > 0) {
		r->plain_left--;
		return true;
	}
	if (r->monitor)
		return false;
	if (r->sess.proto == 3)		/* messages and confirmations are pushes */
		return true;
	/* RESP2: messages and confirmations are arrays of 3 or 4; only PING
	 * (an array of 2), RESET and errors answer a command */
	return !(rd->type == '*' && (rd->argc == 3 || rd->argc == 4));
}

/* Send c.in[0, judged) to the server, or drop it (a local command's bytes). */
static void pass_judged(struct rclient *r, bool drop)
{
	struct gbuf *in = &r->c.in;

	if (!drop && r->capture)
		rsession_capture(&r->sess, in->p + in->off, r->judged);
	if (!drop)
		side_send(&r->s, in->p + in->off, r->judged);
	gbuf_consume(in, r->judged);
	r->judged = 0;
}

/*
 * Judge and relay what the client sent, command by command. A command
 * goes to the server as it is judged (streamed when it outgrows a
 * buffer), unless nodown answers it: that one is kept whole (it is small)
 * and answered once every reply before it is out.
 */
static void pump(struct rclient *r)
{
	struct gbuf *in = &r->c.in;

	while (r->state != RC_CLOSING && !r->close_after) {
		size_t avail = gbuf_pending(in) - r->judged, used;
		const char *why;
		enum resp_result res;

		if (r->held_error) {
			if (r->pending == 0)
				client_error(r, true, "-ERR Protocol error: %s", r->held_error);
			return;
		}
		if (r->held_local) {
			if (r->pending > 0)
				return;		/* server_input resumes */
			r->held_local = false;
			run_local(r);
			pass_judged(r, true);
			settle(r);
			continue;
		}
		if (r->state != RC_LINKED && r->authed) {
			return;			/* kept until the server is there */
		}
		if (side_full(&r->s) || side_full(&r->c))
			return;			/* drained() goes on */
		if (avail == 0)
			return;
		if (r->state == RC_LINKED && !resp_in_value(&r->c.rd) && !may_start(r))
			return;			/* the sweep that ends the pause goes on */
		res = resp_feed(&r->c.rd, in->p + in->off + r->judged, avail, &used, &why);
		r->judged += used;
		if (res == RESP_ERROR) {	/* answered after the replies before it */
			pass_judged(r, true);
			log_info("redis client %s: protocol error: %s", r->peer, why);
			r->held_error = why;
			side_read(&r->c, false);
			continue;
		}
		if (!r->classified && judgeable(r, res)) {
			r->classified = true;
			r->local = is_local(r);
			r->capture = !r->local && rsession_is_sub(&r->c.rd);
		}
		if (res == RESP_MORE) {
			if (r->classified && !r->local)
				pass_judged(r, false);	/* a big command, streamed */
			else if (r->judged > REDIS_READ_UNIT) {
				pass_judged(r, true);
				client_error(r, true, "-ERR Protocol error: command too long before AUTH");
			}
			return;
		}
		r->classified = false;
		if (r->c.rd.argc == 0) {		/* empty: no reply, as redis-server */
			pass_judged(r, true);
			settle(r);
			continue;
		}
		if (r->local) {
			r->held_local = true;
			continue;
		}
		note_command(r);
		pass_judged(r, false);
		r->capture = false;
		settle(r);
	}
}

/* May the client's server no longer take its commands (drained, maint,
 * down, no longer the primary)? */
static bool moved(const struct rclient *r)
{
	struct backend_live *b = r->backend >= 0 ? r->pool->live[r->backend] : NULL;

	return r->state == RC_LINKED && b && (!backend_usable(b) || STAT_GET(b->role) != ROLE_PRIMARY);
}

static const struct resp_limits reply_limits = { INT64_MAX, INT64_MAX, SIZE_MAX };

/* The old server connection is closed: the client connects to the
 * primary, where its session is restored (connect_cb). */
static void server_closed_cb(uv_handle_t *h)
{
	struct rclient *r = ((struct rside *)h->data)->r;

	r->s_closing = false;
	if (r->state == RC_CLOSING) {
		closed_cb(h);
		return;
	}
	if (r->state != RC_MOVING)
		return;		/* ended (follow_primary): no new server */
	gbuf_free(&r->s.in);
	gbuf_free(&r->s.out);
	gbuf_free(&r->s.wbuf);
	r->s.reading = r->s.writing = false;
	resp_reader_init(&r->s.rd, RESP_REPLY, &reply_limits);
	r->backend = -1;
	r->state = RC_WAITING;
	try_connect(r);
}

/* An idle client's server connection closes (server_closed_cb follows). */
static void leave_server(struct rclient *r)
{
	wflush_cancel(&r->s.flush);
	bufpool_unwait(&r->s.bw);
	side_read(&r->s, false);
	count_conn(r, -1);
	r->s_open = false;
	r->s_closing = true;
	uv_close((uv_handle_t *)&r->s.tcp, server_closed_cb);
}

/* An idle client leaves its server for the primary, its session with it. */
static void repoint(struct rclient *r)
{
	count_restoring(r, true);
	r->state = RC_MOVING;
	leave_server(r);
}

/*
 * An idle client whose server may no longer take its commands, or nodown
 * stops: it follows the primary with its session (a switchover, a
 * failover found by health checks); with no primary to go to, a session
 * nodown could not follow, or nodown stopping, it ends once its output is
 * written (a drain), and reconnects as clients do.
 */
static void follow_primary(struct rclient *r)
{
	if (!r->stopping && !r->sess.lost && primary(r->pool) >= 0) {
		repoint(r);
		return;
	}
	if (!r->stopping && r->sess.lost)
		log_info("redis client %s is closed, not moved to the new primary: %s", r->peer, r->sess.lost);
	/* its server connection goes now, whether or not the client reads
	 * what is left for it (a switchover waits for these to close) */
	leave_server(r);
	client_end(r, NULL);
}

/* The server is logged in (the session restored): what the client sent
 * meanwhile goes on. */
static void linked(struct rclient *r)
{
	r->state = RC_LINKED;
	uv_timer_stop(&r->timer);
	count_restoring(r, false);
	if (moved(r)) {		/* the primary moved again meanwhile */
		follow_primary(r);
		return;
	}
	side_read(&r->c, true);
	client_input(r);
}

/*
 * What the client sent goes on as far as it can; then the client is read
 * only if what it sends can go somewhere: not while a command of nodown's
 * own waits for earlier replies, nor while the output to its server or to
 * itself is at the watermark (a client that pipelines without reading,
 * even before AUTH, is stopped there), nor past a unit of input kept
 * while its server is not there yet.
 */
static void client_input(struct rclient *r)
{
	bool blocked;

	pump(r);
	if (r->state == RC_CLOSING)
		return;
	blocked = r->held_local || side_full(&r->s) || side_full(&r->c) ||
		  (((r->state != RC_LINKED && r->authed) || r->paused) &&
		   gbuf_pending(&r->c.in) >= REDIS_READ_UNIT);
	side_read(&r->c, !blocked);
}

/* Is the whole reply f[0, n) a published message (RESP2 or RESP3)? */
static bool is_message(const char *f, size_t n)
{
	static const char *const kinds[] = { "3\r\n$7\r\nmessage\r\n", "4\r\n$8\r\npmessage\r\n",
					     "3\r\n$8\r\nsmessage\r\n" };

	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if ((f[0] == '*' || f[0] == '>') && n > strlen(kinds[i]) &&
		    !memcmp(f + 1, kinds[i], strlen(kinds[i])))
			return true;
	return false;
}

/* Is the whole reply f[0, n) the answer to the restore's `PING token`
 * (["pong", token] in RESP2 subscribe mode, else the token as a bulk)? */
static bool is_marker(const struct rclient *r, const char *f, size_t n)
{
	size_t t = strlen(r->token);

	return (f[0] == '*' || f[0] == '$') && n > t + 2 && !memcmp(f + n - t - 2, r->token, t) &&
	       f[n - t - 3] == '\n';
}

/*
 * While a moved client's subscriptions are replayed: each reply is read
 * whole; the PING's ends the restore; a message published meanwhile goes
 * to the client; confirmations (and errors) of the replay are dropped.
 * false: wait for more bytes, or the client is done with.
 */
static bool restore_input(struct rclient *r)
{
	struct gbuf *in = &r->s.in;
	const char *f = in->p + in->off, *why;
	size_t used, n;
	enum resp_result res = resp_feed(&r->s.rd, f + r->fed, gbuf_pending(in) - r->fed, &used, &why);

	r->fed += used;
	if (res == RESP_ERROR || (res == RESP_MORE && r->fed > REDIS_RESTORE_REPLY_MAX)) {
		client_error(r, true, "-ERR nodown: cannot restore this client's subscriptions on backend %s "
			     "(%s); reconnect", r->pool->cfg->backends[r->backend].name,
			     res == RESP_ERROR ? why : "a reply too large");
		return false;
	}
	if (res == RESP_MORE)
		return false;
	n = r->fed;
	r->fed = 0;
	if (is_marker(r, f, n)) {
		gbuf_consume(in, n);
		r->marker = false;
		linked(r);
		return r->state == RC_LINKED;
	}
	if (is_message(f, n))
		side_send(&r->c, f, n);
	gbuf_consume(in, n);
	return true;
}

/* Relay the server's replies, dropping those to nodown's own login and
 * session replay. */
static void server_input(struct rclient *r)
{
	struct gbuf *in = &r->s.in;

	while (r->state != RC_CLOSING && gbuf_pending(in) > 0) {
		size_t used;
		const char *why;
		enum resp_result res;

		if (r->marker && r->login_left == 0) {
			if (!restore_input(r))
				break;
			continue;
		}
		if (side_full(&r->c)) {
			side_read(&r->s, false);	/* drained() resumes */
			return;
		}
		res = resp_feed(&r->s.rd, in->p + in->off, gbuf_pending(in), &used, &why);
		if (res == RESP_ERROR) {
			client_error(r, true, "-ERR nodown: backend %s sent a malformed reply (%s)",
				     r->pool->cfg->backends[r->backend].name, why);
			return;
		}
		if (r->login_left > 0) {
			if (res == RESP_DONE && r->s.rd.type == '-') {
				char msg[200];

				snprintf(msg, sizeof(msg), "%.*s", (int)(used > 150 ? 150 : used - 2), in->p + in->off);
				gbuf_consume(in, used);
				client_error(r, true, "-ERR nodown cannot log in to backend %s%s: %s",
					     r->pool->cfg->backends[r->backend].name,
					     r->restoring ? " (or restore this client's session there)" : "", msg + 1);
				return;
			}
			gbuf_consume(in, used);
			if (res == RESP_DONE && --r->login_left == 0 && !r->marker)
				linked(r);
			continue;
		}
		side_send(&r->c, in->p + in->off, used);
		gbuf_consume(in, used);
		if (res == RESP_DONE && reply_asked(r) && r->pending > 0) {
			r->pending--;
			r->replied++;
			rsession_reply(&r->sess, r->replied, r->s.rd.type == '-' || r->s.rd.type == '!');
			if (r->replied == r->reset_seq) {
				r->unbounded = r->monitor = false;
				r->plain_left = 0;
				r->reset_seq = 0;
			}
			count_active(r);
			settle(r);
			if (r->pending == 0 && (r->held_local || r->held_error || gbuf_pending(&r->c.in) > 0))
				client_input(r);
			if (r->state == RC_LINKED && idle(r) && (r->stopping || moved(r))) {
				follow_primary(r);
				return;
			}
		}
	}
	if (r->state != RC_CLOSING)
		side_read(&r->s, true);
}

/* ---- the server connection -------------------------------------------------------- */

/* The pool's usable primary, or -1. */
static int primary(const struct redis_wpool *p)
{
	for (int b = 0; b < p->cfg->nbackends; b++)
		if (STAT_GET(p->live[b]->role) == ROLE_PRIMARY && backend_usable(p->live[b]))
			return b;
	return -1;
}

static void put_server(void *ctx, const char *p, size_t n)
{
	side_send(&((struct rclient *)ctx)->s, p, n);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct rclient *r = req->data;
	const struct redis_pool_cfg *rc = r->pool->rc;
	const struct backend_cfg *be = &r->pool->cfg->backends[r->backend];

	if (r->state != RC_CONNECTING)
		return;		/* closed meanwhile */
	worker_passive(r->w, r->pool->live[r->backend], status == 0, r->pool->cfg->health.fall,
		       r->pool->cfg->name, be->name, status < 0 ? uv_strerror(status) : NULL);
	if (status < 0) {
		STAT_ADD(r->pool->live[r->backend]->connect_errors, 1);
		client_error(r, true, "-ERR nodown: cannot connect to backend %s: %s", be->name,
			     uv_strerror(status));
		return;
	}
	if (rc->password) {
		const char *auth[] = { "AUTH", rc->username ? rc->username : rc->password, rc->password };

		resp_write_command(put_server, r, rc->username ? 3 : 2, auth);
		r->login_left = 1;
	}
	if (r->restoring) {
		snprintf(r->token, sizeof(r->token), "nodown-restore-%016llx",
			 (unsigned long long)(uv_hrtime() ^ (uintptr_t)r));
		r->fed = 0;
		r->login_left += rsession_replay(&r->sess, put_server, r, r->token, &r->marker);
	}
	side_read(&r->s, true);
	if (r->login_left == 0 && !r->marker)
		linked(r);
}

static void timer_cb(uv_timer_t *t)
{
	struct rclient *r = t->data;

	if (r->state == RC_WAITING)
		client_error(r, true, "-ERR nodown: pool %s has no usable primary (waited failover_hold, "
			     "%llums)", r->pool->cfg->name, (unsigned long long)r->pool->rc->failover_hold_ms);
	else if (r->state == RC_CONNECTING)
		client_error(r, true, "-ERR nodown: backend %s did not answer within connect_timeout",
			     r->pool->cfg->backends[r->backend].name);
}

/* Connect to the primary, or wait for one (the sweep calls again). */
static void try_connect(struct rclient *r)
{
	int b, err;

	if (r->state != RC_WAITING || (r->pool->rc->client_password && !r->authed))
		return;
	b = primary(r->pool);
	if (b < 0) {
		if (!uv_is_active((uv_handle_t *)&r->timer))
			uv_timer_start(&r->timer, timer_cb, r->pool->rc->failover_hold_ms, 0);
		return;
	}
	r->backend = b;
	r->state = RC_CONNECTING;
	uv_tcp_init(&r->w->loop, &r->s.tcp);
	r->s.tcp.data = &r->s;
	r->s_open = true;
	count_conn(r, 1);
	uv_tcp_nodelay(&r->s.tcp, 1);
	uv_timer_stop(&r->timer);
	uv_timer_start(&r->timer, timer_cb, r->pool->cfg->connect_timeout_ms, 0);
	err = fds_tcp_connect(&r->creq, &r->s.tcp, (const struct sockaddr *)&r->pool->cfg->backends[b].addr,
			      connect_cb);
	if (err < 0)
		client_error(r, true, "-ERR nodown: cannot connect to backend %s: %s",
			     r->pool->cfg->backends[b].name, uv_strerror(err));
}

/* ---- life of a client ------------------------------------------------------------- */

static void closed_cb(uv_handle_t *h)
{
	struct rclient *r = h->data;
	struct worker *w;

	if (h != (uv_handle_t *)&r->timer)
		r = ((struct rside *)h->data)->r;
	if (--r->closing_handles > 0)
		return;
	w = r->w;
	BUG_ON(r->counted);
	gbuf_free(&r->c.in);
	gbuf_free(&r->c.out);
	gbuf_free(&r->c.wbuf);
	gbuf_free(&r->s.in);
	gbuf_free(&r->s.out);
	gbuf_free(&r->s.wbuf);
	rsession_free(&r->sess);
	listener_unref(r->link.l);
	worker_gen_release(w, r->gen);
	free(r);
	worker_client_gone(w);
}

static void client_close(struct rclient *r, const char *why)
{
	if (r->state == RC_CLOSING)
		return;
	if (why)
		log_info("redis client %s: %s", r->peer, why);
	r->pending = 0;
	r->in_tx = false;
	count_active(r);
	count_restoring(r, false);
	if (r->flying)
		atomic_fetch_sub(&r->pool->shared->in_flight, 1);
	r->flying = false;
	if (r->s_open)
		count_conn(r, -1);
	wflush_cancel(&r->c.flush);
	wflush_cancel(&r->s.flush);
	bufpool_unwait(&r->c.bw);
	bufpool_unwait(&r->s.bw);
	r->state = RC_CLOSING;
	list_del(&r->link.node);
	atomic_fetch_sub(&r->link.l->active, 1);
	r->closing_handles = r->s_open || r->s_closing ? 3 : 2;
	uv_close((uv_handle_t *)&r->timer, closed_cb);
	uv_close((uv_handle_t *)&r->c.tcp, closed_cb);
	if (r->s_open)
		uv_close((uv_handle_t *)&r->s.tcp, closed_cb);
}

static void on_stop(struct client_link *l, enum stop_phase phase)
{
	struct rclient *r = container_of(l, struct rclient, link);

	r->stopping = true;
	if (phase == STOP_DEADLINE || (phase >= STOP_GRACE_OVER && idle(r)) ||
	    (r->state != RC_LINKED && phase >= STOP_GRACE_OVER))
		client_close(r, NULL);
}

/* Backend states changed: a waiting client may connect; an idle one whose
 * server moved leaves (the others when their last reply is out). */
static void on_sweep(struct client_link *l)
{
	struct rclient *r = container_of(l, struct rclient, link);

	if (r->state == RC_WAITING)
		try_connect(r);
	else if (r->state == RC_LINKED && idle(r) && moved(r))
		follow_primary(r);
	else if (r->paused && r->state != RC_MOVING && r->state != RC_CLOSING)
		client_input(r);	/* the pause may be over */
}

static void side_init(struct rclient *r, struct rside *d, bool server)
{
	d->r = r;
	d->server = server;
	gbuf_init(&d->in, &r->w->bufs);
	gbuf_init(&d->out, &r->w->bufs);
	gbuf_init(&d->wbuf, &r->w->bufs);
	buf_waiter_init(&d->bw, buf_wake);
	wflush_init(&d->flush, flush_cb);
	d->wreq.data = d;
}

static bool loopback(const char *peer)
{
	return !strncmp(peer, "127.", 4) || !strcmp(peer, "::1") || !strncmp(peer, "::ffff:127.", 11);
}

void redis_accept(struct wlistener *wl)
{
	struct worker *w = wl->w;
	const struct listener_cfg *lc = wl->cfg;
	struct rclient *r;
	struct resp_limits req;

	if (!worker_admit(wl))
		return;
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->gen = worker_gen_hold(w);
	r->pool = r->gen->pools[lc->pool->index];
	r->state = RC_WAITING;
	r->backend = -1;
	r->authed = !r->pool->rc->client_password;
	side_init(r, &r->c, false);
	side_init(r, &r->s, true);
	req = (struct resp_limits){ (int64_t)r->pool->rc->max_bulk, r->pool->rc->max_elements,
				    r->pool->rc->max_inline };
	resp_reader_init(&r->c.rd, RESP_REQUEST, &req);
	resp_reader_init(&r->s.rd, RESP_REPLY, &reply_limits);
	rsession_init(&r->sess);
	uv_tcp_init(&w->loop, &r->c.tcp);
	uv_timer_init(&w->loop, &r->timer);
	r->c.tcp.data = &r->c;
	r->timer.data = r->creq.data = r;
	r->link.on_stop = on_stop;
	r->link.on_sweep = on_sweep;
	if (worker_accept_client(wl, &r->link, &r->c.tcp, r->peer, sizeof(r->peer)) != 0) {
		client_close(r, NULL);
		return;
	}
	if (redis_listener(lc)->protected_mode && !r->pool->rc->client_password && !loopback(r->peer)) {
		log_info("redis client %s refused: protected mode", r->peer);
		client_error(r, true, "-DENIED nodown is in protected mode: pool %s has no client_password "
			     "and this client is not on a loopback address. Set client_password in the "
			     "pool, or 'protected: false' on listener %s if the network is trusted",
			     r->pool->cfg->name, lc->name);
		return;
	}
	side_read(&r->c, true);
	try_connect(r);
}

/* ---- per-worker pools ------------------------------------------------------------- */

void redis_gen_init(struct worker *w, struct wgen *g, struct wgen *prev)
{
	const struct config *c = g->snap->cfg;

	ND_UNUSED(w);
	ND_UNUSED(prev);
	for (int i = 0; i < c->npools; i++) {
		struct redis_wpool *p;

		if (c->pools[i].proto != &redis_module)
			continue;
		p = g->pools[i] = xcalloc(1, sizeof(*p));
		p->cfg = &c->pools[i];
		p->rc = redis_pool(p->cfg);
		p->live = g->snap->live[i];
		p->shared = g->snap->pools[i];
	}
}

void redis_gen_free(struct worker *w, struct wgen *g)
{
	ND_UNUSED(w);
	for (int i = 0; i < g->snap->cfg->npools; i++)
		if (g->snap->cfg->pools[i].proto == &redis_module)
			free(g->pools[i]);
}

/* Server connections belong to clients: nothing is pooled to close. */
void redis_worker_close(struct worker *w)
{
	ND_UNUSED(w);
}

/* Each client's on_sweep does the work. */
void redis_worker_sweep(struct worker *w)
{
	ND_UNUSED(w);
}
