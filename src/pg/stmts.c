/*
 * stmts.c - prepared statements: a client's named statements, prepared on
 * whichever server serves it. Each is renamed per client ("nd<sid>_<n>")
 * and kept as its renamed Parse, so that any server the client gets can
 * prepare it before its first use there; each server keeps the names it
 * has prepared and the Parses still awaiting their answer.
 *
 * Owns: a client's statements (c->stmts); a server's statement names
 *       (s->stmts) and its Parses in flight (s->parses).
 * Invariants:
 *   - a client's named statement reaches a server only under its server
 *     name, and a Bind or Describe of it only after a Parse of it on that
 *     server (ours, its ParseComplete not shown to the client, when the
 *     client's own went to another server);
 *   - a server's names are what it has prepared or will have once the
 *     Parses sent to it are answered: a Parse the server skipped after an
 *     error is forgotten at the ReadyForQuery of its batch, and DEALLOCATE
 *     ALL or DISCARD ALL forget all but the Parses sent after them;
 *   - a client has at most max_prepared_statements; a server that holds
 *     more (the statements of clients long gone) is reset with DEALLOCATE
 *     ALL when its client lets it go (pg/proxy.c);
 *   - `DEALLOCATE name` in SQL, of a statement prepared with Parse, gets
 *     the same renaming, or is answered here when the server the client
 *     holds, if any, does not have the statement.
 * Runs on: the owning worker's loop.
 */
#include "client.h"

#include "pool.h"

/* ---- a client's statements ----------------------------------------------------- */

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

void pgc_forget_all_stmts(struct pgclient *c)
{
	while (c->nstmts > 0)
		forget_stmt(c, &c->stmts[c->nstmts - 1]);
}

/* ---- a server's statements ----------------------------------------------------- */

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

/* DISCARD ALL (discard) or DEALLOCATE ALL ran on s: forget what it had
 * prepared, except the statements of Parses still awaiting their answer
 * (sent after it, they will exist), and with DISCARD ALL its settings. */
void pgc_server_was_reset(struct pgserver *s, bool discard)
{
	for (int i = 0; i < s->nstmts; i++)
		free(s->stmts[i]);
	s->nstmts = 0;
	for (int i = 0; i < s->parses_n; i++) {
		const char *name = s->parses[(s->parses_head + i) % s->parses_cap].srvname;

		if (name)
			server_add_stmt(s, name);
	}
	if (discard) {
		pg_vars_free(&s->vars);
		s->settings_changed = false;
	}
}

/*
 * A reset whose answers are dropped: DISCARD ALL before a session-mode
 * server serves another client (temp tables, settings, prepared
 * statements, advisory locks, LISTEN); DEALLOCATE ALL when a
 * transaction-mode server holds more than max_prepared_statements (the
 * clients that still use some prepare them again on next use).
 */
void pgc_reset_server(struct pgserver *s, const char *sql)
{
	pgc_server_was_reset(s, !strcmp(sql, "DISCARD ALL"));
	pgc_inject(s, sql);
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

struct pg_parse_sent pgc_parse_pop(struct pgserver *s)
{
	struct pg_parse_sent e = s->parses[s->parses_head];

	s->parses_head = (s->parses_head + 1) % s->parses_cap;
	s->parses_n--;
	return e;
}

/* A ReadyForQuery: Parses of the batches it ends that got no ParseComplete
 * were skipped after an error; their statements are not on the server. */
void pgc_parses_settle(struct pgserver *s)
{
	s->syncs_done++;
	while (s->parses_n > 0 && (int)(s->parses[s->parses_head].sync - s->syncs_done) < 0) {
		struct pg_parse_sent e = pgc_parse_pop(s);

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

/* ---- client messages naming statements ----------------------------------------- */

/* Forward message m[0, n), its statement renamed to srvname. */
static void send_renamed(struct pgclient *c, const char *m, size_t n, const char *srvname)
{
	struct pg_err err;
	long len = pg_rewrite_stmt(m, n, srvname, NULL, 0, &err);
	char *out;

	if (len < 0) {
		pgc_error(c, "FATAL", err.sqlstate, err.reason);
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
bool pgc_deallocate_here(struct pgclient *c, const char *m, size_t n)
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
	pgc_send(c, buf, pg_build_command_complete(buf, sizeof(buf), "DEALLOCATE"));
	pgc_send(c, buf, pg_build_ready(buf, sizeof(buf), c->txstatus));
	return true;
}

/*
 * The same SQL going to the client's server (in a Query, or an unnamed
 * Parse): the server gets `DEALLOCATE <server name>` instead, written to
 * out, with the statement prepared there first if it is not; the client
 * forgets it. False: sql is something else, to send as it is.
 */
bool pgc_deallocate_rename(struct pgclient *c, struct pg_str sql, char *out, size_t cap)
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
int pgc_on_parse(struct pgclient *c, const char *m, size_t n)
{
	struct pg_parse p;
	struct pg_err err;
	struct stmt *st;
	char srvname[48];
	long len;

	if (pg_read_parse(m, n, &p, &err) < 0) {
		pgc_error(c, "FATAL", err.sqlstate, err.reason);
		return -1;
	}
	if (p.stmt.len == 0) {
		char sql[80], buf[128];

		if (p.nparam_types == 0 && pgc_deallocate_rename(c, p.query, sql, sizeof(sql)))
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
		pgc_error(c, "FATAL", "53400", msg);
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
int pgc_on_stmt_ref(struct pgclient *c, const char *m, size_t n)
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
	pgc_error(c, "FATAL", err.sqlstate, err.reason);
	return -1;
}
