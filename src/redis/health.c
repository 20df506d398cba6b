/*
 * health.c - the redis health probe: `ROLE` (and `INFO replication`, for
 * servers older than 2.8.12 that answer ROLE with an error), after `AUTH`
 * when the pool has a password and `CLIENT SETNAME nodown`, over the core's TCP probe machinery. The
 * answer says which backend is the primary ("master") and which are
 * replicas; the primary is never assumed from the config order.
 *
 * Owns: the `role` word of each redis backend's live state.
 * Invariants: a role is set only from an answer; a check that finds a
 *             backend down clears its role; of two backends that say they
 *             are primaries, the one seen first keeps the role and the
 *             other gets none (it is logged) until it says otherwise.
 * Runs on: the control thread's loop.
 */
#include "health.h"

#include <stdio.h>

#include "../core/daemon.h"
#include "../core/log.h"
#include "config.h"
#include "monitor.h"

/* A check's state: its request (AUTH?, ROLE, INFO replication). */
struct redis_probe_state {
	void *run;
	bool warned;			/* said it is a second primary */
	char req[1024];
};

static const char *const role_words[] = { "unknown", "primary", "replica" };

static void put_bulk(char *out, size_t cap, const char *s)
{
	size_t n = strlen(out);

	snprintf(out + n, cap - n, "$%zu\r\n%s\r\n", strlen(s), s);
}

static void *redis_open(struct hcheck *h)
{
	const struct redis_pool_cfg *rc = redis_pool(h->pool);
	struct redis_probe_state *st = xcalloc(1, sizeof(*st));

	if (rc->password) {
		snprintf(st->req, sizeof(st->req), "*%d\r\n", rc->username ? 3 : 2);
		put_bulk(st->req, sizeof(st->req), "AUTH");
		if (rc->username)
			put_bulk(st->req, sizeof(st->req), rc->username);
		put_bulk(st->req, sizeof(st->req), rc->password);
	}
	/* named, so that a switchover's list of clients left on the old
	 * primary leaves it out */
	strcat(st->req, "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$6\r\n" REDIS_MON_NAME "\r\n");
	strcat(st->req, "*1\r\n$4\r\nROLE\r\n*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n");
	return st;
}

static void set_role(const struct hcheck *h, int role)
{
	struct redis_probe_state *st = h->state;
	int old = STAT_GET(h->live->role), o;

	if (atomic_load(&h->d->snap->pools[h->pidx]->switching))
		return;		/* the switchover sets roles */
	if (role == ROLE_PRIMARY && (o = health_other_primary(h)) >= 0) {
		if (!st->warned)
			log_error("backend %s/%s also says it is a primary, while %s is; it gets no "
				  "clients until it is a replica again", h->pool->name, h->be->name,
				  h->pool->backends[o].name);
		st->warned = true;
		role = ROLE_UNKNOWN;
	} else if (role == ROLE_PRIMARY) {
		st->warned = false;
	}
	if (old == role)
		return;
	atomic_store(&h->live->role, role);
	log_info("backend %s/%s: role %s -> %s (health check)", h->pool->name, h->be->name,
		 role_words[old], role_words[role]);
	daemon_sweep(h->d);
}

/* Where the line at p ends (its CR), or NULL if it has not all arrived. */
static const char *line_end(const char *p, const char *end)
{
	const char *cr = memchr(p, '\r', (size_t)(end - p));

	return cr && cr + 1 < end && cr[1] == '\n' ? cr : NULL;
}

/* The role word of a ROLE answer "*N\r\n$L\r\nword\r\n...", of an INFO
 * answer ("...role:word\r\n..."); 1: found, 0: malformed, -1: more. */
static int role_word(const char *p, const char *end, char *word, size_t cap, bool info)
{
	const char *e, *w;

	if (info) {
		w = memmem(p, (size_t)(end - p), "role:", 5);
		if (!w)
			return -1;
		w += 5;
	} else {
		if (!(e = line_end(p, end)))
			return -1;
		if (*p != '*')
			return 0;
		if (e + 2 >= end)
			return -1;
		if (e[2] != '$')
			return 0;
		if (!(w = line_end(e + 2, end)))	/* the word's length line */
			return -1;
		w += 2;
	}
	if (!(e = line_end(w, end)))
		return -1;
	snprintf(word, cap, "%.*s", (int)(e - w), w);
	return 1;
}

static int judge(const char *resp, size_t len, const struct hcheck *h, const char **why)
{
	static char buf[160];	/* the control thread only */
	const char *p = resp, *end = resp + len, *e;
	char word[32];
	int r;

	if (redis_pool(h->pool)->password) {	/* AUTH's answer first */
		if (!(e = line_end(p, end)))
			return -1;
		if (*p != '+') {
			snprintf(buf, sizeof(buf), "AUTH refused: %.*s", (int)(e - p), p);
			*why = buf;
			return 0;
		}
		p = e + 2;
	}
	if (!(e = line_end(p, end)))	/* CLIENT SETNAME's */
		return -1;
	p = e + 2;
	if (p == end)
		return -1;
	if (*p == '-') {	/* no ROLE (or no right to it): INFO's answer after it */
		if (!(e = line_end(p, end)))
			return -1;
		if (!memmem(p, (size_t)(e - p), "unknown command", 15)) {
			snprintf(buf, sizeof(buf), "ROLE refused: %.*s", (int)(e - p), p);
			*why = buf;
			return 0;
		}
		r = role_word(e + 2, end, word, sizeof(word), true);
	} else {
		r = role_word(p, end, word, sizeof(word), false);
	}
	if (r <= 0) {
		*why = "not a redis ROLE answer";
		return r;
	}
	if (!strcmp(word, "master")) {
		set_role(h, ROLE_PRIMARY);
	} else if (!strcmp(word, "slave") || !strcmp(word, "replica")) {
		set_role(h, ROLE_STANDBY);
	} else {
		snprintf(buf, sizeof(buf), "role '%s' (a sentinel?) serves no data", word);
		*why = buf;
		return 0;
	}
	*why = word[0] == 'm' ? "primary" : "replica";
	return 1;
}

static void redis_run(struct hcheck *h, void *state)
{
	struct redis_probe_state *st = state;

	if (STAT_GET(h->live->health) == HEALTH_DOWN)	/* a down backend has no role */
		set_role(h, ROLE_UNKNOWN);
	probe_tcp_run(h, &st->run, st->req, judge);
}

static void redis_cancel(struct hcheck *h, void *state)
{
	ND_UNUSED(h);
	probe_tcp_cancel(&((struct redis_probe_state *)state)->run);
}

const struct probe_type redis_probe = {
	.name = "redis", .keys = &schema_no_keys,
	.open = redis_open, .run = redis_run, .cancel = redis_cancel, .close = free,
};
