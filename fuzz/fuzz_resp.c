/*
 * fuzz_resp.c - libFuzzer target for redis/resp.c.
 *
 * The input is read as requests and as replies, each with generous limits
 * and with tiny ones (so that every limit is reached), whole, byte at a
 * time, cut once at three places taken from the input, and in chunks of
 * 2, 3 and 7 bytes. Every piece is fed from its own exact-size heap block.
 *
 * Aborts (a bug) when:
 *  - a feed says RESP_ERROR without a reason, or reads past n (used > n),
 *    or says RESP_MORE without consuming all n, or RESP_DONE having
 *    consumed nothing;
 *  - resp_in_value disagrees with the result (false after RESP_DONE, true
 *    after a RESP_MORE that consumed something), or a value that ended is
 *    described impossibly (nkept above argc or RESP_ARGS_KEPT, a request
 *    type other than '*' or 'i', a reply type '|' or unknown, a reply
 *    with arguments kept, or with elements and no aggregate type);
 *  - an error is not sticky: fed again, the reader does not refuse at
 *    once with the same reason;
 *  - any cutting of the input gives other values, other ends, other
 *    arguments, another error or another place for it than feeding it
 *    whole;
 *  - a request whose arguments were all kept whole, rebuilt as a
 *    multibulk, does not read back as one value with the same arguments.
 * ASan/UBSan catch reads past a piece: each is copied to its own block.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "redis/resp.h"

#define MAX_VALUES 256	/* values compared; the rest are read but not recorded */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const struct resp_limits lims[] = {
	{ 1 << 20, 1 << 16, 1 << 12 },
	{ 8, 3, 10 },
};

struct val {
	size_t end;
	char type;
	int64_t argc;
	int nkept;
	struct resp_arg argv[RESP_ARGS_KEPT];
};

struct outcome {
	struct val v[MAX_VALUES];
	int nv;			/* values ended, recorded or not */
	const char *why;	/* NULL: no error */
	size_t err_at;
	bool in_value;
};

/* Two outcomes for the same input; o is filled by read_cut(), reference
 * by read_whole(). Static: they are large. */
static struct outcome reference, o;

static bool known_reply_type(char t)
{
	return t && strchr("+-:$*_,#!=(%~>", t);
}

static void check_value(const struct resp_reader *r, enum resp_dir dir)
{
	BUG_ON(r->nkept < 0 || r->nkept > RESP_ARGS_KEPT);
	if (dir == RESP_REQUEST) {
		BUG_ON(r->type != '*' && r->type != 'i');
		BUG_ON(r->argc < r->nkept);
	} else {
		BUG_ON(!known_reply_type(r->type));
		/* argc: the elements of a top-level aggregate (pairs of a map) */
		BUG_ON(r->nkept != 0 || r->argc < 0 || (r->argc != 0 && !strchr("*%~>", r->type)));
	}
}

static void record(struct outcome *out, const struct resp_reader *r, size_t end)
{
	struct val *v;

	if (out->nv++ >= MAX_VALUES)
		return;
	v = &out->v[out->nv - 1];
	memset(v, 0, sizeof(*v));
	v->end = end;
	v->type = r->type;
	v->argc = r->argc;
	v->nkept = r->nkept;
	for (int i = 0; i < r->nkept; i++) {
		size_t len = r->argv[i].len;

		v->argv[i].len = len;
		memcpy(v->argv[i].p, r->argv[i].p, len < RESP_ARG_CAP ? len : RESP_ARG_CAP);
	}
}

/* Feed p[0, n) in pieces: first `first` bytes (0: as the others), then
 * `chunk` at a time (0: the rest whole). */
static void read_cut(struct outcome *out, enum resp_dir dir, const struct resp_limits *lim,
		     const char *p, size_t n, size_t first, size_t chunk)
{
	struct resp_reader r;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	resp_reader_init(&r, dir, lim);
	while (pos < n) {
		size_t want = pos == 0 && first ? first : chunk;
		size_t k = want && want < n - pos ? want : n - pos, used = SIZE_MAX;
		size_t again_used = SIZE_MAX;
		const char *why = NULL, *again = NULL;
		char *q = malloc(k);
		enum resp_result res;

		BUG_ON(!q);
		memcpy(q, p + pos, k);
		res = resp_feed(&r, q, k, &used, &why);
		BUG_ON(used > k);
		if (res == RESP_ERROR) {
			BUG_ON(!why);
			BUG_ON(resp_feed(&r, q, k, &again_used, &again) != RESP_ERROR);
			BUG_ON(again_used != 0 || again != why);
			free(q);
			out->why = why;
			out->err_at = pos + used;
			return;
		}
		free(q);
		if (res == RESP_MORE) {
			BUG_ON(used != k || !resp_in_value(&r));
		} else {
			BUG_ON(res != RESP_DONE || used == 0 || resp_in_value(&r));
			check_value(&r, dir);
			record(out, &r, pos + used);
		}
		pos += used;
	}
	out->in_value = resp_in_value(&r);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	BUG_ON(a->nv != b->nv);
	for (int i = 0; i < a->nv && i < MAX_VALUES; i++)
		BUG_ON(memcmp(&a->v[i], &b->v[i], sizeof(a->v[i])));
	BUG_ON(a->why != b->why);
	BUG_ON(a->why && a->err_at != b->err_at);
	BUG_ON(a->in_value != b->in_value);
}

/* A request's arguments, all kept whole, as a multibulk: read back the same. */
static void check_rebuilt(const struct val *v, enum resp_dir dir, const struct resp_limits *lim)
{
	char buf[32 + RESP_ARGS_KEPT * (32 + RESP_ARG_CAP)];
	bool over = false;	/* an argument over lim->max_bulk, or more than lim->max_elements
				 * (an inline command has no such limit) */
	size_t n;

	if (dir != RESP_REQUEST || v->argc > v->nkept)
		return;
	for (int i = 0; i < v->nkept; i++) {
		if (v->argv[i].len > RESP_ARG_CAP)
			return;
		over = over || (int64_t)v->argv[i].len > lim->max_bulk;
	}
	over = over || v->nkept > lim->max_elements;
	n = (size_t)sprintf(buf, "*%d\r\n", v->nkept);
	for (int i = 0; i < v->nkept; i++) {
		n += (size_t)sprintf(buf + n, "$%zu\r\n", v->argv[i].len);
		memcpy(buf + n, v->argv[i].p, v->argv[i].len);
		n += v->argv[i].len;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	read_cut(&o, dir, lim, buf, n, 0, 0);
	BUG_ON(over != (o.why != NULL));
	if (over)
		return;
	BUG_ON(o.nv != 1 || o.v[0].end != n || o.v[0].type != '*' || o.v[0].argc != v->nkept);
	BUG_ON(memcmp(o.v[0].argv, v->argv, sizeof(v->argv)));
}

static void check(const char *p, size_t n, enum resp_dir dir, const struct resp_limits *lim)
{
	static const size_t chunks[] = { 1, 2, 3, 7 };
	const unsigned char *u = (const unsigned char *)p;

	read_cut(&reference, dir, lim, p, n, 0, 0);
	for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
		read_cut(&o, dir, lim, p, n, 0, chunks[i]);
		same(&reference, &o);
	}
	if (n > 1) {
		size_t cuts[] = { 1 + u[0] % (n - 1), 1 + u[n - 1] % (n - 1), n / 2 };

		for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
			read_cut(&o, dir, lim, p, n, cuts[i], 0);
			same(&reference, &o);
		}
	}
	for (int i = 0; i < reference.nv && i < MAX_VALUES; i++)
		check_rebuilt(&reference.v[i], dir, lim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	for (size_t i = 0; i < ARRAY_LEN(lims); i++) {
		check(p, size, RESP_REQUEST, &lims[i]);
		check(p, size, RESP_REPLY, &lims[i]);
	}
	return 0;
}
