/*
 * schema.h - reading YAML mappings against tables of known keys.
 *
 * Each mapping of the configuration is read against one or more tables of
 * keys (struct field), each with the object its values go into: the core's
 * table of a pool and the table of the pool's protocol, for example. An
 * unknown key, a wrong type or a value out of range is reported at the
 * exact place it was written, and every problem of a file is reported in
 * one go rather than one per run. Protocol modules declare their keys with
 * these tables and check their objects with the helpers below.
 */
#ifndef ND_SCHEMA_H
#define ND_SCHEMA_H

#include <stdbool.h>
#include <yaml.h>

#include "errlist.h"

struct config;

/* A configuration being read. */
struct cctx {
	yaml_document_t *doc;
	const char *file;		/* the file, or directory, read */
	char *const *node_files;	/* a directory's: the file node i + 1 came from (NULL: `file`) */
	struct errlist *errs;
	struct config *cfg;		/* what is being built */
};

/* The file node n came from. */
const char *cctx_file(const struct cctx *cx, const yaml_node_t *n);

/* Where node n is, for a message naming a second place: "line 3" when
 * every node is in one file, else "conf.d/a.yml:3". */
void cctx_where(const struct cctx *cx, const yaml_node_t *n, char *buf, size_t len);

#define CFG_WARN(cx, node, ...) \
	errlist_warn((cx)->errs, cctx_file((cx), (node)), (int)(node)->start_mark.line + 1, \
		     (int)(node)->start_mark.column + 1, __VA_ARGS__)

#define CFG_ERR(cx, node, ...) \
	errlist_add((cx)->errs, cctx_file((cx), (node)), (int)(node)->start_mark.line + 1, \
		    (int)(node)->start_mark.column + 1, __VA_ARGS__)

enum ftype { F_STR, F_NAME, F_INT, F_BOOL, F_DURATION, F_SIZE, F_ENUM, F_ADDR, F_CUSTOM };

typedef void (*custom_fn)(struct cctx *cx, yaml_node_t *val, void *target);

struct field {
	const char *key;
	enum ftype type;
	size_t off;			/* offset of the destination in target */
	long long min, max;		/* F_INT, F_SIZE, F_DURATION (ms) bounds */
	const char *const *names;	/* F_ENUM: NULL-terminated; value = index */
	custom_fn fn;			/* F_CUSTOM: called with the whole target */
	bool required;
	size_t addr_off;		/* F_ADDR: where the resolved address goes */
};

/* The keys of an object kept apart from the core's (a protocol's settings
 * of a pool, a probe's), its size, and what fills in its defaults. */
struct keytable {
	const struct field *fields;
	size_t n;
	size_t size;			/* bytes of the object, allocated zeroed */
	void (*defaults)(void *obj);	/* may be NULL */
};

/* A table of no keys (a probe with no settings). */
extern const struct keytable schema_no_keys;

/* Keys and the object their values go into. */
struct keyset {
	const struct field *fields;
	size_t n;
	void *target;
};

/* A key no keyset of a mapping knows: report it and return true (a key of
 * another protocol, say), or return false for "unknown key". */
typedef bool (*foreign_fn)(struct cctx *cx, yaml_node_t *key, const void *arg);

#define DUR_MAX (7LL * 24 * 3600 * 1000)	/* the longest duration any key takes */

/*
 * Read mapping n, each key into the keyset that knows it; `what` names the
 * object in messages ("listener", "pool"). Unknown keys (after foreign, if
 * given), keys given twice and missing required keys are reported.
 */
void schema_read(struct cctx *cx, yaml_node_t *n, const struct keyset *sets, int nsets,
		 const char *what, foreign_fn foreign, const void *arg);

/* Does the table hold key? */
bool schema_has(const struct field *fields, size_t n, const char *key);

/* Free the strings the table's keys put in target (F_STR, F_NAME, F_ADDR). */
void schema_free(const struct field *fields, size_t n, void *target);

/* Read a list of mappings, each into a fresh element of `size` bytes;
 * returns the array (NULL if none) and sets *count. */
void *schema_read_list(struct cctx *cx, yaml_node_t *v, const char *key, size_t size, int *count,
		       void (*one)(struct cctx *cx, yaml_node_t *n, void *dst, int i));

/* Node helpers: a scalar's text; is n a scalar (else report it, naming key
 * and what was expected); the value of key in a mapping (NULL if absent or
 * map is not a mapping); what kind of node n is, for messages. */
const char *schema_scalar(yaml_node_t *n);
bool schema_want_scalar(struct cctx *cx, yaml_node_t *n, const char *key, const char *what);
yaml_node_t *schema_get(struct cctx *cx, yaml_node_t *map, const char *key);
const char *schema_node_type(yaml_node_t *n);

/*
 * Where to point a message about `key` of item idx of the top-level list
 * `list` ("pools", "listeners"): the key's value, else the nearest
 * enclosing node that exists. key NULL: the item.
 */
yaml_node_t *schema_item_node(struct cctx *cx, const char *list, int idx, const char *key);

/* The same for key of backend idx of pool `pool`. */
yaml_node_t *schema_backend_node(struct cctx *cx, int pool, int idx, const char *key);

/* The value of top-level key `key`, or the root when it is absent. */
yaml_node_t *schema_top_node(struct cctx *cx, const char *key);

#endif
