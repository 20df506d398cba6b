/*
 * settings.c - the session settings that follow a client from server to
 * server: the reported parameters it set (client_encoding, DateStyle,
 * TimeZone, ...: pg_tracked_params), at start-up or with SET, are set
 * again on every server it gets, and its login reports them as the server
 * spells them.
 *
 * Owns: nothing; it keeps c->vars (what the client wants) and s->vars
 *       (what the server has) in step.
 * Invariants:
 *   - no other setting follows a client in transaction mode, and none
 *     reaches another client: a server on which a client ran SET or RESET
 *     gets RESET ALL when that client's transaction ends;
 *   - a server a client gets is first sent SETs of what the client wants,
 *     else of what a fresh server reports (so no client inherits another's
 *     TimeZone), for every tracked parameter it does not already have;
 *   - those SETs are one Query of ours, its answers dropped
 *     (replay_pending): the client sees none of them. One that fails at
 *     login refuses the client, as PostgreSQL refuses an invalid startup
 *     setting; later on, it is logged.
 * Runs on: the owning worker's loop.
 */
#include "client.h"

#include "../core/log.h"
#include "pool.h"

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
void pgc_replay_vars(struct pgclient *c, struct pgserver *s)
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

/*
 * RESET ALL on s, its answers dropped, after a transaction-mode client ran
 * SET or RESET there: a setting it changed (default_transaction_read_only,
 * search_path, statement_timeout, a role...) must not reach the next
 * client of s. s's tracked parameters are unknown until reported again, so
 * the next client's are all set again.
 */
void pgc_reset_settings(struct pgserver *s)
{
	s->settings_changed = false;
	pg_vars_free(&s->vars);
	pgc_inject(s, "RESET ALL");
}

/*
 * Our SETs (and resets) on s are answered. The server now has what c
 * wants, in its own spelling, whether or not it reported a change (it
 * does not when the value was the same, as `utf8` and `UTF8` are): c
 * takes that spelling, so the next server is compared with it and gets no
 * SET it does not need. A login waiting for its startup settings goes on.
 */
void pgc_replay_done(struct pgclient *c, struct pgserver *s)
{
	for (int i = 0; i < PG_TRACKED_PARAMS; i++) {
		if (!c->vars.v[i] || !s->vars.v[i] || !strcmp(c->vars.v[i], s->vars.v[i]))
			continue;
		free(c->vars.v[i]);
		c->vars.v[i] = xstrdup(s->vars.v[i]);
	}
	if (c->replaying && !c->close_after)
		pgc_finish_login(c, s);
}

/* A SET of ours failed: at login (an invalid startup setting), the client
 * is refused as PostgreSQL would refuse it; later, it is logged. */
void pgc_replay_failed(struct pgclient *c, const char *m, size_t n)
{
	char why[256];

	pg_describe_notice(m, n, why, sizeof(why));
	if (c->bootstrap && !c->close_after) {
		pgc_error(c, "FATAL", "22023", why);
		return;
	}
	log_warn("pg pool %s: replaying a client's settings on a server failed: %s",
		 c->pool->cfg->name, why);
}

/* The server's ParameterStatus messages of its login, each tracked one
 * with the value the server now has (the client's startup settings, in the
 * server's spelling). */
void pgc_send_login_params(struct pgclient *c, struct pgserver *s)
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
				pgc_send(c, buf, m);
		} else {
			pgc_send(c, p, n);
		}
		p += n;
		left -= n;
	}
}
