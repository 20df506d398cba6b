/*
 * fuzz_admin_route.c - libFuzzer target for core/route.c over the admin
 * API's route tables: the core's (admin_routes()) and every protocol
 * module's.
 *
 * Input: a method, one space, a request target (any bytes). Aborts (a
 * bug) when route_match reads past its input (ASan: exact-size copies),
 * returns something other than a route index or a route_error, gives a
 * parameter that is not a name or does not fit, or returns a route whose
 * method or literal segments differ from the input; when route_query
 * overflows its output or returns a value with a '%', '&' or NUL in it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "core/proto.h"
#include "core/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	BUG_ON(!q);
	memcpy(q, p, n);
	return q;
}

static void check_param(const char *s)
{
	size_t n = strlen(s);

	BUG_ON(n == 0 || n > ROUTE_MAX_SEGMENT);
	for (size_t i = 0; i < n; i++)
		BUG_ON(!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", s[i]));
	BUG_ON(!strcmp(s, ".") || !strcmp(s, ".."));
}

/* Match method meth and target against one table and check the answer. */
static void check_table(const struct route *routes, int n, const char *meth, size_t mlen,
			const char *target, size_t tlen)
{
	static const char *const known[] = { "to", "pause_timeout", "value", NULL };
	struct route_match m;
	char val[64];
	int r, stars = 0;

	r = route_match(routes, n, meth, mlen, target, tlen, &m);
	BUG_ON(r >= n || (r < 0 && r != ROUTE_BAD && r != ROUTE_NOT_FOUND && r != ROUTE_METHOD));
	if (r < 0)
		return;
	BUG_ON(strlen(routes[r].method) != mlen || memcmp(routes[r].method, meth, mlen));
	for (const char *p = routes[r].pattern; *p; p++)
		stars += *p == '*';
	BUG_ON(m.nparams != stars);
	for (int i = 0; i < m.nparams; i++)
		check_param(m.params[i]);
	BUG_ON(strlen(m.query) > ROUTE_MAX_QUERY);
	for (int i = 0; known[i]; i++) {
		int q = route_query(m.query, known[i], known, val, sizeof(val));

		BUG_ON(q != 0 && q != -ENOENT && q != -EINVAL);
		if (q == 0)
			BUG_ON(strlen(val) >= sizeof(val) || strpbrk(val, "%&"));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sp = memchr(data, ' ', size);
	const struct route *routes;
	size_t mlen, tlen;
	char *meth, *target;
	int n;

	if (!sp)
		return 0;
	routes = admin_routes(&n);
	mlen = (size_t)(sp - (const char *)data);
	tlen = size - mlen - 1;
	meth = dup_exact((const char *)data, mlen);
	target = dup_exact(sp + 1, tlen);
	check_table(routes, n, meth, mlen, target, tlen);
	for (const struct proto_module *const *mod = proto_modules; *mod; mod++)
		if ((*mod)->routes)
			check_table((*mod)->routes->routes, (*mod)->routes->n, meth, mlen, target, tlen);
	free(meth);
	free(target);
	return 0;
}
