/*
 * route.c - admin API request routing by exact path segments.
 *
 * Owns: the decision of which admin endpoint a request target names.
 * Invariants: a path is split on '/' into segments that are either a
 *             route's literal or a name (the characters config.c allows
 *             in pool and backend names); nothing is matched by substring,
 *             so a backend named "switchover-1" is a backend, and a
 *             malformed path is 400 or 404, never a crash.
 * Runs on: any thread; no state outside its arguments (fuzzed by
 *          fuzz/fuzz_admin_route.c).
 */
#include "route.h"

#include <errno.h>
#include <stdbool.h>

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* Split path p[0, n) (starting with '/') into segments; false if malformed. */
static bool split(const char *p, size_t n, const char *seg[], size_t len[], int *nseg, int max)
{
	size_t i = 0;

	*nseg = 0;
	if (n == 0 || p[0] != '/')
		return false;
	if (n == 1)
		return true;	/* "/": no segment */
	while (i < n) {
		size_t s = ++i;

		while (i < n && p[i] != '/') {
			if (!name_char(p[i]))
				return false;
			i++;
		}
		if (i == s || i - s > ROUTE_MAX_SEGMENT || *nseg == max)
			return false;
		if ((i - s == 1 && p[s] == '.') || (i - s == 2 && p[s] == '.' && p[s + 1] == '.'))
			return false;
		seg[*nseg] = p + s;
		len[*nseg] = i - s;
		(*nseg)++;
	}
	return true;
}

/* Does pattern match the segments? Params go to out. */
static bool match_pattern(const char *pattern, const char *seg[], const size_t len[], int nseg,
			  struct route_match *out)
{
	const char *p = pattern;
	int k = 0;

	out->nparams = 0;
	while (*p == '/' && k < nseg) {
		const char *e = strchr(p + 1, '/');
		size_t pl = e ? (size_t)(e - p - 1) : strlen(p + 1);

		if (pl == 1 && p[1] == '*') {
			if (out->nparams == ROUTE_MAX_PARAMS)
				return false;
			memcpy(out->params[out->nparams], seg[k], len[k]);
			out->params[out->nparams++][len[k]] = '\0';
		} else if (pl != len[k] || memcmp(p + 1, seg[k], pl)) {
			return false;
		}
		k++;
		p += 1 + pl;
	}
	return *p == '\0' && k == nseg;
}

int route_match(const struct route *routes, int n, const char *m, size_t mlen, const char *t,
		size_t tlen, struct route_match *out)
{
	const char *seg[16], *q;
	size_t len[16], plen;
	int nseg, found = ROUTE_NOT_FOUND;

	memset(out, 0, sizeof(*out));
	q = memchr(t, '?', tlen);
	plen = q ? (size_t)(q - t) : tlen;
	if (!split(t, plen, seg, len, &nseg, (int)ARRAY_LEN(seg)))
		return ROUTE_BAD;
	if (q) {
		size_t ql = tlen - plen - 1;

		if (ql > ROUTE_MAX_QUERY)
			return ROUTE_BAD;
		memcpy(out->query, q + 1, ql);
		out->query[ql] = '\0';
		if (strlen(out->query) != ql)
			return ROUTE_BAD;	/* a NUL in it */
	}
	for (int i = 0; i < n; i++) {
		if (!match_pattern(routes[i].pattern, seg, len, nseg, out))
			continue;
		if (strlen(routes[i].method) == mlen && !memcmp(routes[i].method, m, mlen))
			return i;
		found = ROUTE_METHOD;
	}
	out->nparams = 0;
	return found;
}

int route_query(const char *q, const char *key, const char *const *known, char *out, size_t cap)
{
	const char *p = q;
	int r = -ENOENT;

	while (*p) {
		const char *amp = strchr(p, '&'), *eq;
		size_t n = amp ? (size_t)(amp - p) : strlen(p), kl;
		bool ok = false;

		eq = memchr(p, '=', n);
		if (!eq)
			return -EINVAL;
		kl = (size_t)(eq - p);
		for (int i = 0; known[i]; i++)
			ok |= strlen(known[i]) == kl && !memcmp(known[i], p, kl);
		if (!ok)
			return -EINVAL;
		if (strlen(key) == kl && !memcmp(key, p, kl)) {
			size_t vl = n - kl - 1;

			if (vl >= cap || memchr(eq + 1, '%', vl))
				return -EINVAL;
			memcpy(out, eq + 1, vl);
			out[vl] = '\0';
			r = 0;
		}
		p += n + (amp ? 1 : 0);
		if (amp && !*p)
			return -EINVAL;	/* a trailing '&' */
	}
	return r;
}
