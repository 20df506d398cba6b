/*
 * session.c - a client's session state on its server connection, as
 * redis-server holds it, tracked so that it can be replayed on a new one.
 *
 * Owns: struct rsession: the state its replies confirmed, the commands
 *       still waiting for theirs, the bytes of its subscription commands.
 * Invariants: a change is applied only once its reply came and is no
 *             error, in reply order; what cannot be followed (a change
 *             queued in a MULTI, or sent in subscribe mode where replies
 *             are not matched, a value longer than RESP_ARG_CAP,
 *             subscriptions past RSESSION_SUBS_MAX) marks the session lost,
 *             never half-known: such a client is not moved but ended, as
 *             a drain does.
 * Runs on: the owning worker's loop.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

enum effect_kind { E_SELECT, E_SETNAME, E_HELLO, E_AUTH, E_RESET };

/* A command that changes the session, waiting for its reply. */
struct reffect {
	struct reffect *next;
	uint64_t seq;
	enum effect_kind kind;
	int argc;
	struct resp_arg argv[RESP_ARGS_KEPT];
	uint64_t subs_mark;		/* RESET: subscription bytes captured before it (absolute) */
};

void rsession_init(struct rsession *s)
{
	memset(s, 0, sizeof(*s));
	s->tail = &s->effects;
}

void rsession_free(struct rsession *s)
{
	while (s->effects) {
		struct reffect *e = s->effects;

		s->effects = e->next;
		free(e);
	}
	free(s->subs);
	rsession_init(s);
}

bool rsession_is_sub(const struct resp_reader *rd)
{
	static const char *const names[] = { "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE",
					     "PUNSUBSCRIBE", "SUNSUBSCRIBE" };

	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (resp_arg_is(rd, 0, names[i]))
			return true;
	return false;
}

void rsession_capture(struct rsession *s, const char *p, size_t n)
{
	if (s->lost)
		return;
	if (s->subs_len + n > RSESSION_SUBS_MAX) {
		s->lost = "its subscription commands take more than 64 KiB";
		return;
	}
	s->subs = xrealloc(s->subs, s->subs_len + n);
	memcpy(s->subs + s->subs_len, p, n);
	s->subs_len += n;
}

/* The kind of change rd's command makes, or -1. */
static int kind_of(const struct resp_reader *rd)
{
	if (resp_arg_is(rd, 0, "SELECT"))
		return E_SELECT;
	if (resp_arg_is(rd, 0, "CLIENT") && resp_arg_is(rd, 1, "SETNAME"))
		return E_SETNAME;
	if (resp_arg_is(rd, 0, "HELLO"))
		return E_HELLO;
	if (resp_arg_is(rd, 0, "AUTH"))
		return E_AUTH;
	if (resp_arg_is(rd, 0, "RESET"))
		return E_RESET;
	return -1;
}

/* Why the command rd read makes the session one nodown cannot restore,
 * or NULL. */
static const char *unrestorable(const struct resp_reader *rd, int kind, uint64_t seq, bool in_multi)
{
	static const char *const client_state[] = { "TRACKING", "CACHING", "REPLY", "NO-EVICT", "NO-TOUCH" };

	if (resp_arg_is(rd, 0, "MONITOR"))
		return "it ran MONITOR";
	if (resp_arg_is(rd, 0, "CLIENT"))
		for (size_t i = 0; i < ARRAY_LEN(client_state); i++)
			if (resp_arg_is(rd, 1, client_state[i]))
				return "it set CLIENT TRACKING, CACHING, REPLY, NO-EVICT or NO-TOUCH, which are not restored";
	if (in_multi && rsession_is_sub(rd))
		return "it subscribed inside MULTI";
	if (kind < 0)
		return NULL;
	if (in_multi)
		return "it changed its session inside MULTI";
	if (seq == 0)
		return "it changed its session in subscribe mode";
	if (rd->argc > rd->nkept)
		return "a session command with arguments too long or too many to follow";
	for (int i = 0; i < rd->nkept; i++)
		if (rd->argv[i].len > RESP_ARG_CAP || memchr(rd->argv[i].p, '\0', rd->argv[i].len))
			return "a session command with arguments too long, or with a NUL byte";
	return NULL;
}

void rsession_command(struct rsession *s, const struct resp_reader *rd, uint64_t seq, bool in_multi)
{
	int kind = kind_of(rd);
	struct reffect *e;

	if (s->lost)
		return;
	s->lost = unrestorable(rd, kind, seq, in_multi);
	if (kind < 0 || s->lost)
		return;
	e = xcalloc(1, sizeof(*e));
	e->seq = seq;
	e->kind = (enum effect_kind)kind;
	e->argc = rd->nkept;
	memcpy(e->argv, rd->argv, sizeof(e->argv));
	e->subs_mark = s->subs_start + s->subs_len;
	*s->tail = e;
	s->tail = &e->next;
}

static void copy_arg(char *out, size_t n, const struct resp_arg *a)
{
	snprintf(out, n, "%.*s", (int)a->len, a->p);
}

static void apply(struct rsession *s, const struct reffect *e)
{
	const struct resp_arg *a = e->argv;
	size_t drop;

	switch (e->kind) {
	case E_SELECT:
		if (e->argc == 2)
			copy_arg(s->db, sizeof(s->db), &a[1]);
		return;
	case E_SETNAME:
		if (e->argc == 3)
			copy_arg(s->name, sizeof(s->name), &a[2]);
		return;
	case E_AUTH:
		s->auth = true;
		if (e->argc == 3)
			copy_arg(s->user, sizeof(s->user), &a[1]);
		else
			snprintf(s->user, sizeof(s->user), "default");
		copy_arg(s->pass, sizeof(s->pass), &a[e->argc - 1]);
		return;
	case E_HELLO:
		if (e->argc >= 2)
			s->proto = a[1].p[0] == '3' ? 3 : 2;
		for (int i = 2; i < e->argc; i++) {
			if (resp_arg_is_str(&a[i], "AUTH") && i + 2 < e->argc) {
				s->auth = true;
				copy_arg(s->user, sizeof(s->user), &a[i + 1]);
				copy_arg(s->pass, sizeof(s->pass), &a[i + 2]);
				i += 2;
			} else if (resp_arg_is_str(&a[i], "SETNAME") && i + 1 < e->argc) {
				copy_arg(s->name, sizeof(s->name), &a[++i]);
			}
		}
		return;
	case E_RESET:	/* back to a new connection's state, logged out; the
			 * subscriptions sent after it stay */
		s->proto = 0;
		s->db[0] = s->name[0] = '\0';
		s->auth = false;
		drop = (size_t)(e->subs_mark - s->subs_start);
		if (drop > 0) {
			memmove(s->subs, s->subs + drop, s->subs_len - drop);
			s->subs_len -= drop;
		}
		s->subs_start = e->subs_mark;
		return;
	}
}

void rsession_reply(struct rsession *s, uint64_t seq, bool error)
{
	struct reffect *e = s->effects;

	if (!e || e->seq != seq)
		return;
	if (!error)
		apply(s, e);
	s->effects = e->next;
	if (!s->effects)
		s->tail = &s->effects;
	free(e);
}

static int command(void (*put)(void *, const char *, size_t), void *ctx, int argc, const char *const *argv)
{
	resp_write_command(put, ctx, argc, argv);
	return 1;
}

int rsession_replay(const struct rsession *s, void (*put)(void *ctx, const char *p, size_t n), void *ctx,
		    const char *token, bool *marker)
{
	int n = 0;

	if (s->auth)
		n += command(put, ctx, 3, (const char *const[]){ "AUTH", s->user, s->pass });
	if (s->proto)
		n += command(put, ctx, 2, (const char *const[]){ "HELLO", s->proto == 3 ? "3" : "2" });
	if (s->db[0])
		n += command(put, ctx, 2, (const char *const[]){ "SELECT", s->db });
	if (s->name[0])
		n += command(put, ctx, 3, (const char *const[]){ "CLIENT", "SETNAME", s->name });
	*marker = s->subs_len > 0;
	if (*marker) {
		put(ctx, s->subs, s->subs_len);
		command(put, ctx, 2, (const char *const[]){ "PING", token });
	}
	return n;
}
