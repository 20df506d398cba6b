/*
 * schema.c - reading YAML mappings against tables of known keys (see
 * schema.h), and finding the node a message should point at.
 *
 * Invariant: a value is stored only after it passed its type and range
 *            check; a value that fails leaves the default in place and
 *            adds one message.
 * Runs on: the control thread (and `nodown check`): addresses resolve.
 */
#include "schema.h"

#include <errno.h>

#include "values.h"

const char *schema_node_type(yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

const char *schema_scalar(yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

bool schema_want_scalar(struct cctx *cx, yaml_node_t *n, const char *key, const char *what)
{
	if (n->type == YAML_SCALAR_NODE)
		return true;
	CFG_ERR(cx, n, "'%s' must be %s, not %s", key, what, schema_node_type(n));
	return false;
}

static void read_field(struct cctx *cx, const struct field *f, yaml_node_t *v, void *target)
{
	char *dst = (char *)target + f->off;
	const char *s;
	uint64_t u;
	char *end;
	long long ll;

	switch (f->type) {
	case F_STR:
		if (!schema_want_scalar(cx, v, f->key, "a string"))
			return;
		if (!*schema_scalar(v)) {
			CFG_ERR(cx, v, "'%s' must not be empty", f->key);
			return;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(schema_scalar(v));
		return;
	case F_NAME:
		if (!schema_want_scalar(cx, v, f->key, "a name"))
			return;
		s = schema_scalar(v);
		if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(s)) {
			CFG_ERR(cx, v, "'%s' must be a non-empty name of letters, digits, '-', '_' and '.' "
			       "(it appears in URLs and 'POOL/BACKEND' arguments), not '%s'", f->key, s);
			return;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		return;
	case F_INT:
		if (!schema_want_scalar(cx, v, f->key, "a whole number"))
			return;
		s = schema_scalar(v);
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (!*s || *end || errno) {
			CFG_ERR(cx, v, "'%s' must be a whole number, not '%s'", f->key, s);
			return;
		}
		if (ll < f->min || ll > f->max) {
			CFG_ERR(cx, v, "'%s' must be between %lld and %lld, not %lld",
			       f->key, f->min, f->max, ll);
			return;
		}
		*(int *)dst = (int)ll;
		return;
	case F_BOOL:
		if (!schema_want_scalar(cx, v, f->key, "true or false"))
			return;
		s = schema_scalar(v);
		if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
			*(bool *)dst = true;
		else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
			*(bool *)dst = false;
		else
			CFG_ERR(cx, v, "'%s' must be true or false, not '%s'", f->key, s);
		return;
	case F_DURATION:
		if (!schema_want_scalar(cx, v, f->key, "a duration"))
			return;
		if (config_parse_duration(schema_scalar(v), &u) < 0) {
			CFG_ERR(cx, v, "'%s' must be a duration such as 500ms, 10s, 2m or 1h, not '%s'",
			       f->key, schema_scalar(v));
			return;
		}
		if ((long long)u < f->min || (long long)u > f->max) {
			CFG_ERR(cx, v, "'%s' must be between %lldms and %lldms, not %s",
			       f->key, f->min, f->max, schema_scalar(v));
			return;
		}
		*(uint64_t *)dst = u;
		return;
	case F_SIZE:
		if (!schema_want_scalar(cx, v, f->key, "a size"))
			return;
		if (config_parse_size(schema_scalar(v), &u) < 0) {
			CFG_ERR(cx, v, "'%s' must be a size such as 8192, 16k or 10MiB, not '%s'",
			       f->key, schema_scalar(v));
			return;
		}
		if ((long long)u < f->min || (long long)u > f->max) {
			CFG_ERR(cx, v, "'%s' must be between %lld and %lld bytes, not %s",
			       f->key, f->min, f->max, schema_scalar(v));
			return;
		}
		*(uint64_t *)dst = u;
		return;
	case F_ENUM:
		if (!schema_want_scalar(cx, v, f->key, "a name"))
			return;
		for (int i = 0; f->names[i]; i++) {
			if (!strcmp(schema_scalar(v), f->names[i])) {
				*(int *)dst = i;
				return;
			}
		}
		{
			char known[256] = "";

			for (int i = 0; f->names[i]; i++) {
				strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
				strncat(known, f->names[i], sizeof(known) - strlen(known) - 1);
			}
			CFG_ERR(cx, v, "'%s' must be one of %s, not '%s'", f->key, known, schema_scalar(v));
		}
		return;
	case F_ADDR: {
		const char *why;

		if (!schema_want_scalar(cx, v, f->key, "an address"))
			return;
		if (config_parse_address(schema_scalar(v), (struct sockaddr_storage *)((char *)target + f->addr_off), &why) < 0) {
			CFG_ERR(cx, v, "'%s': invalid address '%s': %s", f->key, schema_scalar(v), why);
			return;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(schema_scalar(v));
		return;
	}
	case F_CUSTOM:
		f->fn(cx, v, target);
		return;
	}
}

/* Read a list of mappings, each into a fresh element of `size` bytes. */
void *schema_read_list(struct cctx *cx, yaml_node_t *v, const char *key, size_t size,
		       int *count, void (*one)(struct cctx *cx, yaml_node_t *n, void *dst, int i))
{
	char *arr;
	int n;

	if (v->type != YAML_SEQUENCE_NODE) {
		CFG_ERR(cx, v, "'%s' must be a list (items starting with '- '), not %s", key, schema_node_type(v));
		return NULL;
	}
	n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n == 0) {
		CFG_ERR(cx, v, "'%s' must name at least one item", key);
		return NULL;
	}
	arr = xcalloc((size_t)n, size);
	for (int i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(cx->doc, v->data.sequence.items.start[i]);

		one(cx, item, arr + (size_t)i * size, i);
	}
	*count = n;
	return arr;
}

/* The value of `key` in mapping `map`, or NULL (also when map is not a mapping). */
yaml_node_t *schema_get(struct cctx *cx, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, p->key);

		if (k->type == YAML_SCALAR_NODE && !strcmp(schema_scalar(k), key))
			return yaml_document_get_node(cx->doc, p->value);
	}
	return NULL;
}

/* Item idx of sequence seq, or NULL. */
static yaml_node_t *seq_get(struct cctx *cx, yaml_node_t *seq, int idx)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE ||
	    idx >= (int)(seq->data.sequence.items.top - seq->data.sequence.items.start))
		return NULL;
	return yaml_document_get_node(cx->doc, seq->data.sequence.items.start[idx]);
}

/* Where to point a message about `key` (the key's value, else the nearest
 * enclosing node that exists): item idx of top-level list `list`. */
yaml_node_t *schema_item_node(struct cctx *cx, const char *list, int idx, const char *key)
{
	yaml_node_t *root = yaml_document_get_root_node(cx->doc);
	yaml_node_t *item = seq_get(cx, schema_get(cx, root, list), idx);
	yaml_node_t *v = key ? schema_get(cx, item, key) : NULL;

	return v ? v : item ? item : root;
}

/* The same for key of backend idx of pool `pool`. */
yaml_node_t *schema_backend_node(struct cctx *cx, int pool, int idx, const char *key)
{
	yaml_node_t *pn = schema_item_node(cx, "pools", pool, "backends");
	yaml_node_t *b = seq_get(cx, pn, idx);
	yaml_node_t *v = schema_get(cx, b, key);

	return v ? v : b ? b : pn;
}

/* The value of top-level key `key`, or the root when it is absent. */
yaml_node_t *schema_top_node(struct cctx *cx, const char *key)
{
	yaml_node_t *root = yaml_document_get_root_node(cx->doc);
	yaml_node_t *v = schema_get(cx, root, key);

	return v ? v : root;
}


const struct keytable schema_no_keys = { NULL, 0, 0, NULL };

bool schema_has(const struct field *fields, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(fields[i].key, key))
			return true;
	return false;
}

/* "unknown key 'k' in pool (known keys: a, b, ...)" */
static void unknown_key(struct cctx *cx, yaml_node_t *k, const struct keyset *sets, int nsets,
			const char *what)
{
	char known[1024] = "";

	for (int s = 0; s < nsets; s++) {
		for (size_t j = 0; j < sets[s].n; j++) {
			strncat(known, known[0] ? ", " : "", sizeof(known) - strlen(known) - 1);
			strncat(known, sets[s].fields[j].key, sizeof(known) - strlen(known) - 1);
		}
	}
	CFG_ERR(cx, k, "unknown key '%s' in %s (known keys: %s)", schema_scalar(k), what, known);
}

void schema_read(struct cctx *cx, yaml_node_t *n, const struct keyset *sets, int nsets,
		 const char *what, foreign_fn foreign, const void *arg)
{
	yaml_node_pair_t *p;
	size_t total = 0, base;
	bool *seen;

	if (n->type != YAML_MAPPING_NODE) {
		CFG_ERR(cx, n, "%s must be a mapping of keys to values, not %s", what, schema_node_type(n));
		return;
	}
	for (int s = 0; s < nsets; s++)
		total += sets[s].n;
	seen = xcalloc(total + 1, sizeof(*seen));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(cx->doc, p->value);
		const struct field *f = NULL;
		void *target = NULL;
		size_t at = 0;

		if (k->type != YAML_SCALAR_NODE) {
			CFG_ERR(cx, k, "keys of %s must be plain names", what);
			continue;
		}
		base = 0;
		for (int s = 0; s < nsets && !f; base += sets[s].n, s++) {
			for (size_t i = 0; i < sets[s].n && !f; i++) {
				if (!strcmp(sets[s].fields[i].key, schema_scalar(k))) {
					f = &sets[s].fields[i];
					target = sets[s].target;
					at = base + i;
				}
			}
		}
		if (!f) {
			if (!foreign || !foreign(cx, k, arg))
				unknown_key(cx, k, sets, nsets, what);
			continue;
		}
		if (seen[at]) {
			CFG_ERR(cx, k, "key '%s' given twice in %s", schema_scalar(k), what);
			continue;
		}
		seen[at] = true;
		read_field(cx, f, v, target);
	}
	base = 0;
	for (int s = 0; s < nsets; base += sets[s].n, s++)
		for (size_t i = 0; i < sets[s].n; i++)
			if (sets[s].fields[i].required && !seen[base + i])
				CFG_ERR(cx, n, "%s is missing required key '%s'", what, sets[s].fields[i].key);
	free(seen);
}

void schema_free(const struct field *fields, size_t n, void *target)
{
	for (size_t i = 0; i < n; i++) {
		char **s = (char **)(void *)((char *)target + fields[i].off);

		if (fields[i].type == F_STR || fields[i].type == F_NAME || fields[i].type == F_ADDR) {
			free(*s);
			*s = NULL;
		}
	}
}

const char *cctx_file(const struct cctx *cx, const yaml_node_t *n)
{
	if (!cx->node_files || !n)
		return cx->file;
	return cx->node_files[n - cx->doc->nodes.start];
}

void cctx_where(const struct cctx *cx, const yaml_node_t *n, char *buf, size_t len)
{
	if (cx->node_files)
		snprintf(buf, len, "%s:%d", cctx_file(cx, n), (int)n->start_mark.line + 1);
	else
		snprintf(buf, len, "line %d", (int)n->start_mark.line + 1);
}
