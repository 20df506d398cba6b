/*
 * monitor.c - one control-thread connection to a PostgreSQL server, used
 * for health checks and switchover steps.
 *
 * Owns: its socket, login and the one query in flight.
 * Invariants: every pg_mon_query gets exactly one callback; a failed or
 *             timed-out query closes the connection (the next one
 *             reconnects), so a connection never carries a half-read reply.
 * Runs on: the control thread's loop.
 */
#include "monitor.h"

#include "../core/log.h"

#define MON_MSG_MAX (1u << 20)

static void mon_fail(struct pg_mon *m, const char *why);

void pg_mon_init(struct pg_mon *m, uv_loop_t *loop, const struct sockaddr_storage *addr,
		 const struct pg_user *user, const char *database, unsigned server_auth)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->server_auth = server_auth;
	m->addr = *addr;
	m->user = user;
	snprintf(m->database, sizeof(m->database), "%s", database);
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
}

bool pg_mon_busy(const struct pg_mon *m)
{
	return m->cb != NULL;
}

static void finish(struct pg_mon *m, int status, const char *value)
{
	pg_mon_cb cb = m->cb;

	uv_timer_stop(&m->timer);
	m->cb = NULL;
	if (cb)
		cb(m, status, value, m->arg);
}

static void timer_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

static void drop_connection(struct pg_mon *m)
{
	if (m->conn) {
		ctl_conn_drop(m->conn);
		m->conn = NULL;
	}
	m->state = M_CLOSED;
	m->writing = false;
	pg_login_free(&m->login);
	gbuf_free(&m->in);
	gbuf_free(&m->out);
	gbuf_free(&m->wbuf);
}

static void mon_fail(struct pg_mon *m, const char *why)
{
	snprintf(m->error, sizeof(m->error), "%s", why);
	drop_connection(m);
	finish(m, -1, m->error);
}

void pg_mon_close(struct pg_mon *m)
{
	drop_connection(m);
	finish(m, -1, "closed");
}

void pg_mon_free(struct pg_mon *m)
{
	pg_mon_close(m);
	uv_close((uv_handle_t *)&m->timer, timer_closed_cb);
}

static void flush(struct pg_mon *m);

static void write_cb(uv_write_t *req, int status)
{
	struct pg_mon *m = ctl_conn_owner(req->data);

	if (!m)
		return;		/* the connection was dropped meanwhile */
	m->writing = false;
	m->wbuf.off = m->wbuf.len = 0;
	if (status < 0) {
		mon_fail(m, uv_strerror(status));
		return;
	}
	flush(m);
}

static void flush(struct pg_mon *m)
{
	struct gbuf t;
	uv_buf_t b;

	if (m->writing || !m->conn || m->state == M_CONNECTING || gbuf_pending(&m->out) == 0)
		return;
	t = m->wbuf;
	m->wbuf = m->out;
	m->out = t;
	b = uv_buf_init(m->wbuf.p + m->wbuf.off, (unsigned)gbuf_pending(&m->wbuf));
	m->writing = true;
	if (uv_write(&m->conn->wreq, (uv_stream_t *)&m->conn->tcp, &b, 1, write_cb) < 0)
		mon_fail(m, "cannot write");
}

static void send_query(struct pg_mon *m)
{
	char msg[600];
	size_t n = pg_build_query(msg, sizeof(msg), m->sql);

	m->state = M_QUERY;
	m->have_value = false;
	m->error[0] = '\0';
	if (gbuf_reserve(&m->out, n, SIZE_MAX))
		gbuf_append(&m->out, msg, n);
	flush(m);
}

/* A DataRow: keep the first column of the first row. */
static void data_row(struct pg_mon *m, const char *p, size_t n)
{
	int32_t len;

	if (m->have_value || n < 11)
		return;
	memcpy(&len, p + 7, 4);
	len = (int32_t)ntohl((uint32_t)len);
	m->have_value = true;
	if (len < 0)
		snprintf(m->value, sizeof(m->value), "NULL");
	else if ((size_t)len <= n - 11)
		snprintf(m->value, sizeof(m->value), "%.*s", len, p + 11);
}

static void on_msg(struct pg_mon *m, const char *p, size_t n)
{
	const char *why;

	if (m->state == M_LOGIN) {
		switch (pg_login_msg(&m->login, p, n, &m->out, &why)) {
		case PG_LOGIN_MORE:
			flush(m);
			return;
		case PG_LOGIN_DONE:
			m->state = M_READY;
			send_query(m);
			return;
		case PG_LOGIN_FAILED:
			mon_fail(m, why);
			return;
		}
	}
	switch (p[0]) {
	case 'D':
		data_row(m, p, n);
		return;
	case 'E':	/* the query failed; its ReadyForQuery reports it */
		pg_describe_notice(p, n, m->error, sizeof(m->error));
		return;
	case 'Z':
		m->state = M_READY;
		if (m->error[0])
			finish(m, -1, m->error);
		else
			finish(m, 0, m->have_value ? m->value : "");
		return;
	default:
		return;
	}
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct pg_mon *m = ctl_conn_owner(h->data);

	ND_UNUSED(hint);
	if (!m || !gbuf_reserve(&m->in, 8192, MON_MSG_MAX)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(m->in.p + m->in.len, (unsigned)(m->in.cap - m->in.len));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct ctl_conn *conn = s->data;
	struct pg_mon *m = conn->owner;

	ND_UNUSED(b);
	if (!m || nread == 0)
		return;
	if (nread < 0) {
		mon_fail(m, nread == UV_EOF ? "the server closed the connection" : uv_strerror((int)nread));
		return;
	}
	m->in.len += (size_t)nread;
	while (m->conn == conn && gbuf_pending(&m->in) > 0) {
		struct pg_err err;
		long n = pg_msg_frame(m->in.p + m->in.off, gbuf_pending(&m->in), PG_BACKEND, MON_MSG_MAX, &err);

		if (n == 0)
			return;
		if (n < 0) {
			mon_fail(m, err.reason);
			return;
		}
		on_msg(m, m->in.p + m->in.off, (size_t)n);
		if (m->conn == conn)
			gbuf_consume(&m->in, (size_t)n);
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct pg_mon *m = ctl_conn_owner(req->data);

	if (!m)
		return;		/* dropped meanwhile */
	if (status < 0) {
		mon_fail(m, uv_strerror(status));
		return;
	}
	m->state = M_LOGIN;
	pg_login_start(&m->login, m->user, m->database, m->server_auth, &m->out);
	flush(m);
	uv_read_start((uv_stream_t *)&m->conn->tcp, alloc_cb, read_cb);
}

static void timeout_cb(uv_timer_t *t)
{
	mon_fail(t->data, "timeout");
}

void pg_mon_query(struct pg_mon *m, const char *sql, uint64_t timeout_ms, pg_mon_cb cb, void *arg)
{
	int err;

	BUG_ON(m->cb);
	m->cb = cb;
	m->arg = arg;
	snprintf(m->sql, sizeof(m->sql), "%s", sql);
	uv_timer_start(&m->timer, timeout_cb, timeout_ms, 0);
	if (m->state == M_READY) {
		send_query(m);
		return;
	}
	if (m->state != M_CLOSED)
		return;
	m->state = M_CONNECTING;
	m->conn = ctl_conn_open(m->loop, &m->addr, m, connect_cb, &err);
	if (!m->conn)
		mon_fail(m, uv_strerror(err));
}
