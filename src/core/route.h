/*
 * route.h - admin API request routing: a method and a request target
 * matched against a table of routes by exact path segments.
 */
#ifndef ND_ROUTE_H
#define ND_ROUTE_H

#include <stddef.h>

#include "common.h"

#define ROUTE_MAX_PARAMS 4
#define ROUTE_MAX_SEGMENT 128	/* bytes of one path segment */
#define ROUTE_MAX_QUERY 512	/* bytes of the query string */

/* One route: "GET" or "POST", and a pattern of '/'-separated segments,
 * each a literal or "*" (one name: letters, digits, '-', '_', '.'). */
struct route {
	const char *method;
	const char *pattern;	/* "/pools/ * /backends/ * / *" without spaces */
	const void *handler;	/* the caller's; route.c never looks at it */
};

/* A table of routes, as a module hands it to the admin API. */
struct route_table {
	const struct route *routes;
	int n;
};

struct route_match {
	int nparams;
	char params[ROUTE_MAX_PARAMS][ROUTE_MAX_SEGMENT + 1];	/* the "*" segments, in order */
	char query[ROUTE_MAX_QUERY + 1];	/* after '?', as sent; "" when none */
};

enum route_error {
	ROUTE_BAD = -400,	/* not an origin-form path of names, or too long */
	ROUTE_NOT_FOUND = -404,	/* no route has this path */
	ROUTE_METHOD = -405,	/* a route has this path, not for this method */
};

/*
 * Match method m[0, mlen) and target t[0, tlen) against routes[0, n).
 * Returns the index of the route, with *out filled, or an enum
 * route_error. Never reads past mlen or tlen; any bytes may be given.
 * Percent-encoding is refused (names never need it), as are empty
 * segments ("//", a trailing '/'), "." and "..".
 */
int route_match(const struct route *routes, int n, const char *m, size_t mlen, const char *t,
		size_t tlen, struct route_match *out) ND_MUST_CHECK;

/*
 * The value of key in query string q ("a=1&b=2") into out (cap bytes,
 * NUL-terminated). Returns 0, -ENOENT when absent, -EINVAL when q is
 * malformed or has a key not in `known` (NULL-terminated), or the value
 * does not fit.
 */
int route_query(const char *q, const char *key, const char *const *known, char *out,
		size_t cap) ND_MUST_CHECK;

#endif
