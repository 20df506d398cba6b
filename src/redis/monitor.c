/*
 * monitor.c - one control-thread connection to a Redis server, used by
 * the switchover.
 *
 * Owns: its socket, the login and the one command in flight.
 * Invariants: every redis_mon_cmd gets exactly one callback; a failed or
 *             timed-out command closes the connection (the next one
 *             reconnects), so a connection never carries a half-read
 *             reply; a reply is bounded (MON_REPLY_MAX).
 * Runs on: the control thread's loop.
 */
#include "monitor.h"

#include <stdio.h>
#include <string.h>

#include "../core/log.h"

#define MON_REPLY_MAX (8u << 20)	/* CLIENT LIST of some ten thousand clients */

void redis_mon_init(struct redis_mon *m, uv_loop_t *loop, const struct sockaddr_storage *addr,
		    const char *username, const char *password)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->addr = *addr;
	m->username = username;
	m->password = password;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
}

static void finish(struct redis_mon *m, int status, const struct redis_reply *rep)
{
	redis_mon_cb cb = m->cb;

	uv_timer_stop(&m->timer);
	m->cb = NULL;
	if (cb)
		cb(m, status, rep, m->arg);
}

static void drop_connection(struct redis_mon *m)
{
	if (m->conn) {
		ctl_conn_drop(m->conn);
		m->conn = NULL;
	}
	m->connected = m->writing = false;
	gbuf_free(&m->in);
	gbuf_free(&m->out);
	gbuf_free(&m->wbuf);
}

static void mon_fail(struct redis_mon *m, const char *why)
{
	struct redis_reply rep = { 0, m->error, 0 };

	snprintf(m->error, sizeof(m->error), "%s", why);
	rep.len = strlen(m->error);
	drop_connection(m);
	finish(m, -1, &rep);
}

static void timer_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void redis_mon_free(struct redis_mon *m)
{
	mon_fail(m, "closed");
	uv_close((uv_handle_t *)&m->timer, timer_closed_cb);
}

static void flush(struct redis_mon *m);

static void write_cb(uv_write_t *req, int status)
{
	struct redis_mon *m = ctl_conn_owner(req->data);

	if (!m)
		return;		/* the connection was dropped meanwhile */
	m->writing = false;
	m->wbuf.off = m->wbuf.len = 0;
	if (status < 0)
		mon_fail(m, uv_strerror(status));
	else
		flush(m);
}

static void flush(struct redis_mon *m)
{
	int r;

	if (m->writing || !m->connected)
		return;
	r = gbuf_write((uv_stream_t *)&m->conn->tcp, &m->conn->wreq, &m->out, &m->wbuf, write_cb);
	if (r < 0)
		mon_fail(m, uv_strerror(r));
	else
		m->writing = r == 1;
}

static void put(void *ctx, const char *p, size_t n)
{
	struct redis_mon *m = ctx;

	if (gbuf_reserve(&m->out, n, SIZE_MAX))
		gbuf_append(&m->out, p, n);
}

static void put_command(struct redis_mon *m, int argc, const char *const *argv)
{
	resp_write_command(put, m, argc, argv);
}

/* A whole reply frame f[0, n): its payload as struct redis_reply. */
static struct redis_reply unframe(const char *f, size_t n)
{
	struct redis_reply rep = { f[0], f, n };
	const char *cr;

	switch (f[0]) {
	case '+':
	case '-':
	case ':':
		rep.p = f + 1;
		rep.len = n - 3;
		break;
	case '$':
		cr = memchr(f, '\r', n);
		if (cr && f[1] != '-') {
			rep.p = cr + 2;
			rep.len = n - (size_t)(rep.p - f) - 2;
		} else {
			rep.len = 0;	/* a null */
		}
		break;
	default:
		break;
	}
	return rep;
}

static void on_reply(struct redis_mon *m, const char *f, size_t n)
{
	struct redis_reply rep = unframe(f, n);
	char why[300];

	if (m->skip > 0) {	/* AUTH's answer (fatal if refused), then SETNAME's */
		m->skip--;
		if (rep.type == '-') {
			snprintf(why, sizeof(why), "login refused: %.*s", (int)(rep.len > 200 ? 200 : rep.len), rep.p);
			mon_fail(m, why);
		}
		return;
	}
	finish(m, 0, &rep);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct redis_mon *m = ctl_conn_owner(h->data);

	ND_UNUSED(hint);
	if (!m || !gbuf_reserve(&m->in, 16384, MON_REPLY_MAX)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(m->in.p + m->in.len, (unsigned)(m->in.cap - m->in.len));
}

/* Whole replies are taken from the front of `in`; the reader keeps its
 * place in a reply not yet all there in `fed`. */
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct ctl_conn *conn = s->data;
	struct redis_mon *m = conn->owner;

	ND_UNUSED(b);
	if (!m || nread == 0)
		return;
	if (nread < 0) {
		mon_fail(m, nread == UV_EOF ? "the server closed the connection" :
			    nread == UV_ENOBUFS ? "reply too large" : uv_strerror((int)nread));
		return;
	}
	m->in.len += (size_t)nread;
	while (m->conn == conn) {
		size_t done = gbuf_pending(&m->in), used;
		const char *why;
		enum resp_result r;

		/* the reader has judged in[off, off + fed) of the reply being read */
		r = resp_feed(&m->rd, m->in.p + m->in.off + m->fed, done - m->fed, &used, &why);
		m->fed += used;
		if (r == RESP_MORE)
			return;
		if (r == RESP_ERROR) {
			mon_fail(m, why);
			return;
		}
		done = m->fed;
		m->fed = 0;
		on_reply(m, m->in.p + m->in.off, done);
		if (m->conn == conn)
			gbuf_consume(&m->in, done);
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct redis_mon *m = ctl_conn_owner(req->data);

	if (!m)
		return;		/* dropped meanwhile */
	if (status < 0) {
		mon_fail(m, uv_strerror(status));
		return;
	}
	m->connected = true;
	flush(m);
	uv_read_start((uv_stream_t *)&m->conn->tcp, alloc_cb, read_cb);
}

static void timeout_cb(uv_timer_t *t)
{
	mon_fail(t->data, "no answer in time");
}

static void open_connection(struct redis_mon *m)
{
	static const struct resp_limits lim = { INT64_MAX, INT64_MAX, 1u << 16 };
	const char *setname[] = { "CLIENT", "SETNAME", REDIS_MON_NAME };
	int err;

	resp_reader_init(&m->rd, RESP_REPLY, &lim);
	m->fed = 0;
	m->skip = 1;
	if (m->password) {
		const char *auth[] = { "AUTH", m->username ? m->username : m->password, m->password };

		put_command(m, m->username ? 3 : 2, auth);
		m->skip++;
	}
	put_command(m, 3, setname);
	m->conn = ctl_conn_open(m->loop, &m->addr, m, connect_cb, &err);
	if (!m->conn)
		mon_fail(m, uv_strerror(err));
}

void redis_mon_cmd(struct redis_mon *m, uint64_t timeout_ms, redis_mon_cb cb, void *arg, int argc,
		   const char *const *argv)
{
	BUG_ON(m->cb);
	m->cb = cb;
	m->arg = arg;
	uv_timer_start(&m->timer, timeout_cb, timeout_ms, 0);
	if (!m->conn)
		open_connection(m);
	if (m->conn)
		put_command(m, argc, argv);
	flush(m);
}

bool redis_info_field(const struct redis_reply *rep, const char *key, char *out, size_t n)
{
	size_t k = strlen(key);
	const char *p = rep->p, *end = rep->p + rep->len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((eol ? eol : end) - p);

		if (len > k && !memcmp(p, key, k) && p[k] == ':') {
			len -= k + 1;
			if (len > 0 && p[k + 1 + len - 1] == '\r')
				len--;
			snprintf(out, n, "%.*s", (int)len, p + k + 1);
			return true;
		}
		p += len + 1;
	}
	return false;
}

/* One CLIENT LIST line's fields, as a JSON object; NULL for a line with
 * no id, nodown's own connections and replication links. */
static json_t *client_entry(const char *line, size_t n)
{
	static const char *const keys[] = { "id", "addr", "name", "age", "idle", "db", "flags", "cmd" };
	char val[ARRAY_LEN(keys)][128];
	json_t *j;

	for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
		size_t kl = strlen(keys[k]);
		const char *p = line;

		val[k][0] = '\0';
		while (p < line + n) {
			const char *sp = memchr(p, ' ', (size_t)(line + n - p));
			size_t len = (size_t)((sp ? sp : line + n) - p), i;

			if (len > kl && !memcmp(p, keys[k], kl) && p[kl] == '=') {
				/* printable ASCII only (a name may hold any other byte) */
				for (i = 0; i < len - kl - 1 && i < sizeof(val[k]) - 1; i++) {
					char c = p[kl + 1 + i];

					val[k][i] = c >= 0x20 && c < 0x7f ? c : '?';
				}
				val[k][i] = '\0';
				break;
			}
			p += len + 1;
		}
	}
	if (!val[0][0] || !strcmp(val[2], REDIS_MON_NAME) || strpbrk(val[6], "SM"))
		return NULL;	/* no client (a blank line), nodown's own, or replication */
	j = json_object();
	for (size_t k = 0; k < ARRAY_LEN(keys); k++)
		json_object_set_new(j, keys[k], json_string(val[k]));
	return j;
}

json_t *redis_client_list(const struct redis_reply *rep, bool blocked_only)
{
	json_t *list = json_array();
	const char *p = rep->p, *end = rep->p + rep->len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((eol ? eol : end) - p);
		json_t *e = client_entry(p, len && p[len - 1] == '\r' ? len - 1 : len);
		const char *flags = e ? json_string_value(json_object_get(e, "flags")) : "";

		if (e && (!blocked_only || strpbrk(flags, "bx")))
			json_array_append_new(list, e);
		else
			json_decref(e);
		p += len + 1;
	}
	return list;
}
