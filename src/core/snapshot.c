/*
 * snapshot.c - reference-counted configs in service.
 *
 * Owns: a config and one reference on each listener and backend live state
 *       it names.
 * Invariant: a snapshot never changes once published; a reload publishes a
 *            new one. Connections keep the snapshot they started a request
 *            on until that request ends, so a config is freed only when the
 *            last request that used it is over.
 * Runs on: built by the control thread; referenced and released by any.
 */
#include "snapshot.h"

struct snapshot *snapshot_new(struct config *cfg, unsigned gen)
{
	struct snapshot *s = xcalloc(1, sizeof(*s));

	atomic_store(&s->refs, 1);
	s->gen = gen;
	s->cfg = cfg;
	s->listeners = xcalloc((size_t)cfg->nlisteners + 1, sizeof(*s->listeners));
	s->live = xcalloc((size_t)cfg->npools + 1, sizeof(*s->live));
	s->pools = xcalloc((size_t)cfg->npools + 1, sizeof(*s->pools));
	for (int p = 0; p < cfg->npools; p++)
		s->live[p] = xcalloc((size_t)cfg->pools[p].nbackends + 1, sizeof(**s->live));
	return s;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

void snapshot_unref(struct snapshot *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (int i = 0; i < s->cfg->nlisteners; i++)
		listener_unref(s->listeners[i]);
	for (int p = 0; p < s->cfg->npools; p++) {
		for (int b = 0; b < s->cfg->pools[p].nbackends; b++)
			backend_live_unref(s->live[p][b]);
		free(s->live[p]);
		pool_live_unref(s->pools[p]);
	}
	free(s->live);
	free(s->pools);
	free(s->listeners);
	config_free(s->cfg);
	free(s);
}

int snapshot_listener_index(const struct snapshot *s, const struct listener *l)
{
	for (int i = 0; i < s->cfg->nlisteners; i++)
		if (s->listeners[i] == l)
			return i;
	return -1;
}
