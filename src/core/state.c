/*
 * state.c - the state file: what operators changed at run time.
 *
 * Owns: the file's format, {"version": 1, "backends": [{"pool": ...,
 *       "backend": ..., "state": "drained", "weight": 3}, ...]}, listing
 *       only backends that differ from the config.
 * Invariant: the file on disk is always complete (core/file.c: a new
 *            temporary file, mode 0600, fsync, rename); an unreadable file
 *            stops the start rather than being ignored, since ignoring it
 *            could put a drained backend back in rotation.
 * Runs on: the control thread.
 */
#include "state.h"

#include <errno.h>
#include <jansson.h>
#include <unistd.h>

#include "daemon.h"
#include "file.h"
#include "log.h"

static int state_from_name(const char *s)
{
	for (int i = BACKEND_READY; i <= BACKEND_MAINT; i++)
		if (!strcmp(s, backend_op_state_name(i)))
			return i;
	return -1;
}

static int apply(struct daemon *d, json_t *e)
{
	const char *pool = json_string_value(json_object_get(e, "pool"));
	const char *be = json_string_value(json_object_get(e, "backend"));
	const char *st = json_string_value(json_object_get(e, "state"));
	json_t *w = json_object_get(e, "weight");
	int state = st ? state_from_name(st) : -1;

	if (!pool || !be || state < 0 || !json_is_integer(w) || json_integer_value(w) < 0 ||
	    json_integer_value(w) > 1000)
		return -1;
	for (int p = 0; p < d->cfg->npools; p++) {
		if (strcmp(d->cfg->pools[p].name, pool))
			continue;
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++) {
			if (strcmp(d->cfg->pools[p].backends[b].name, be))
				continue;
			atomic_store(&d->live[p][b]->state, state);
			atomic_store(&d->live[p][b]->weight, (int)json_integer_value(w));
			atomic_store(&d->live[p][b]->by_operator, true);
			log_info("backend %s/%s: %s, weight %d (from the state file)", pool, be, st,
				 (int)json_integer_value(w));
			return 0;
		}
	}
	log_warn("state file %s names backend %s/%s, which the config does not have; ignored",
		 d->cfg->state_file, pool, be);
	return 0;
}

int state_load(struct daemon *d)
{
	json_error_t err;
	json_t *root, *list, *e;
	size_t i;

	if (access(d->cfg->state_file, F_OK) != 0)
		return 0;
	root = json_load_file(d->cfg->state_file, 0, &err);
	list = root ? json_object_get(root, "backends") : NULL;
	if (!root || !json_is_array(list) || json_integer_value(json_object_get(root, "version")) != 1) {
		log_error("state file %s is not readable (%s); it holds operator state (drained or "
			  "weighted backends), so nodown will not guess: fix it, or delete it to start "
			  "with the config's state", d->cfg->state_file, root ? "unexpected content" : err.text);
		json_decref(root);
		return -1;
	}
	json_array_foreach(list, i, e) {
		if (apply(d, e) < 0) {
			log_error("state file %s: entry %zu is invalid (needs pool, backend, state "
				  "ready|draining|drained|maint, weight 0-1000); fix it or delete the file",
				  d->cfg->state_file, i + 1);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}

void state_save(struct daemon *d)
{
	json_t *root = json_pack("{s:i}", "version", 1), *list = json_array();
	char *text;
	int r;

	for (int p = 0; p < d->cfg->npools; p++) {
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++) {
			struct backend_live *lv = d->live[p][b];

			if (!atomic_load(&lv->by_operator))
				continue;
			json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i}",
				"pool", d->cfg->pools[p].name, "backend", d->cfg->pools[p].backends[b].name,
				"state", backend_op_state_name(atomic_load(&lv->state)),
				"weight", atomic_load(&lv->weight)));
		}
	}
	json_object_set_new(root, "backends", list);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		nd_die("cannot encode the state file as JSON");
	r = file_write_atomic(d->cfg->state_file, text, strlen(text), 0600);
	if (r < 0)
		log_error("cannot write state file %s: %s; operator state will not survive a restart",
			  d->cfg->state_file, strerror(-r));
	free(text);
}
