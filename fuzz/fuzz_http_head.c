/*
 * fuzz_http_head.c - libFuzzer target for http/parse.c (and the bodies
 * between heads, through http/body.c).
 *
 * The input is a byte stream from a client (always) and, when its first
 * byte is 'H', also from a backend. It is framed the way http/proxy.c
 * frames it: empty lines skipped before a request, http_head_end,
 * http_scan_head, http_rewrite_head, http_head_verify, then the body by
 * http_body_decode, message after message (pipelining), up to a few.
 * The last byte picks the rewrite options (as proxy.c could set them) and,
 * for responses, whether the request was HEAD.
 *
 * Aborts (a bug) when:
 *  - http_head_end gives another answer when resumed at a split point;
 *  - a refusal comes without a reason, or with a status proxy.c does not
 *    answer;
 *  - http_rewrite_head fails with ample room or writes past its cap;
 *  - the rewritten head is not canonical: a bare LF in it, or, read again
 *    by http_scan_head, other framing, method, target or host than the
 *    original said, a Connection token left, a '_' field left when asked
 *    to drop them;
 *  - llhttp (http_head_verify) accepts the rewritten head but reads
 *    its framing differently: the two parsers disagree on something
 *    nodown would send (the smuggling shape; proxy.c refuses the
 *    request, but the scan should have);
 *  - the rewrite of the rewritten head differs from it (not canonical);
 *  - the body decoded at once and in small pieces ends at another byte or
 *    gives other payload.
 * ASan/UBSan catch reads past a head: heads are copied to exact-size heap
 * blocks first.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "http/parse.h"

#define MAX_MESSAGES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* UBSan findings stop the run like ASan's do (the build does not pass
 * -fno-sanitize-recover). */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static char *dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	BUG_ON(!q);
	memcpy(q, p, n);
	return q;
}

/* http_head_end on p[0, n) in one call must equal two calls split at k. */
static size_t head_end_checked(const char *p, size_t n, size_t k)
{
	size_t whole = http_head_end(p, n, 0), first;

	BUG_ON(whole > n);
	if (k > n)
		k = n;
	first = http_head_end(p, k, 0);
	if (first == 0)
		first = http_head_end(p, n, k);
	BUG_ON(first != whole);
	return whole;
}

static bool span_eq(const char *p, struct span a, const char *q, struct span b)
{
	return a.len == b.len && !memcmp(p + a.off, q + b.off, a.len);
}

/* The rewritten head h2 (in q) says what h (in p) said. */
static void check_same_head(const char *p, const struct http_head *a, const char *q,
			    const struct http_head *b)
{
	BUG_ON(a->request != b->request);
	BUG_ON(a->major != b->major);
	BUG_ON(a->request && a->minor != b->minor);	/* a response goes on as 1.1 */
	BUG_ON(a->status != b->status);
	BUG_ON(a->has_cl != b->has_cl || a->cl != b->cl);
	BUG_ON(a->has_te != b->has_te || a->chunked != b->chunked);
	BUG_ON(b->absolute);
	if (!a->request)
		return;
	BUG_ON(!span_eq(p, a->method, q, b->method));
	BUG_ON(!a->absolute && !span_eq(p, a->target, q, b->target));
	BUG_ON(a->absolute && !b->has_host);
	BUG_ON(a->has_host && !b->has_host);
}

/* Decode p[0, n) in pieces of step (0: at once) into out. Returns -1 on
 * a framing error, else the bytes that belong to the message. */
static long decode(struct http_body *b, const char *p, size_t n, size_t step, char *out,
		   size_t *nout)
{
	size_t off = 0, used, data;
	const char *why;

	if (!step)
		step = n;
	*nout = 0;
	while (off < n && !b->complete) {
		size_t k = n - off < step ? n - off : step;
		char *q = dup_exact(p + off, k);
		int r;

		why = NULL;
		r = http_body_decode(b, q, k, &used, &data, &why);
		if (r != 0) {
			BUG_ON(!why);
			free(q);
			return -1;
		}
		BUG_ON(used > k || data > used);
		BUG_ON(used < k && !b->complete);
		memcpy(out + *nout, q, data);
		*nout += data;
		free(q);
		off += used;
	}
	return (long)off;
}

/* The rewrite proxy.c would ask for, from the option byte. */
static void rewrite_options(const struct http_head *h, bool request, uint8_t opt,
			    struct http_rewrite *rw)
{
	memset(rw, 0, sizeof(*rw));
	rw->via = (opt & 8) ? "1.1 nodown" : NULL;
	rw->connection = (opt & 16) ? "close" : (opt & 32) ? "keep-alive" : NULL;
	if (request) {
		rw->forwarded_for = (opt & 2) ? "192.0.2.1" : NULL;
		rw->forwarded_proto = (opt & 4) ? "http" : NULL;
		rw->keep_upgrade = h->has_upgrade && h->conn_upgrade;
		rw->drop_underscore = opt & 64;
	} else {
		rw->keep_upgrade = h->status == 101;
	}
	if (rw->keep_upgrade)
		rw->connection = "upgrade";
}

/* Rewrite head[0, hl) (summary h); returns the new head (heap, *len). */
static char *rewrite(const char *head, const struct http_head *h, const struct http_rewrite *rw,
		     size_t hl, long *len)
{
	size_t cap = hl * 2 + 512;
	char *out = malloc(cap), *exact;

	BUG_ON(!out);
	*len = http_rewrite_head(head, h, rw, out, cap);
	BUG_ON(*len < 0 || (size_t)*len > cap);
	exact = dup_exact(out, (size_t)*len);
	free(out);
	return exact;
}

/*
 * Frame one message at the start of p[0, n) in direction `request`.
 * Returns the bytes it took (head and body) when another message may
 * follow, or 0 when the stream cannot go on.
 */
static size_t one_message(const char *p, size_t n, bool request, uint8_t opt)
{
	struct http_head h, h2, h3;
	struct http_body b1 = { 0 }, b2 = { 0 };
	struct http_rewrite rw, rw2;
	enum http_body_kind kind;
	const char *why;
	char *head, *head2, *head3, *out1, *out2;
	size_t hl, rest, n1, n2;
	long len, len3, used1, used2;
	bool skip;
	int r;

	hl = head_end_checked(p, n, n ? (size_t)(unsigned char)p[0] * 7 % n : 0);
	if (hl == 0)
		return 0;
	head = dup_exact(p, hl);
	why = NULL;
	r = http_scan_head(head, hl, request, &h, &why);
	BUG_ON(r != 0 && !why);
	BUG_ON(request && r != 0 && r != 400 && r != 501 && r != 505);
	if (r != 0) {
		free(head);
		return 0;
	}
	BUG_ON(h.len != hl || h.request != request);

	rewrite_options(&h, request, opt, &rw);
	head2 = rewrite(head, &h, &rw, hl, &len);
	for (long i = 0; i < len; i++)	/* CRLF only */
		BUG_ON(head2[i] == '\n' && (i == 0 || head2[i - 1] != '\r'));
	BUG_ON(http_head_end(head2, (size_t)len, 0) != (size_t)len);
	why = NULL;
	r = http_scan_head(head2, (size_t)len, request, &h2, &why);
	if (r != 0)
		fprintf(stderr, "rewritten head refused: %s\n", why);
	BUG_ON(r != 0);
	check_same_head(head, &h, head2, &h2);
	BUG_ON(h2.nconn_tokens != 0);
	BUG_ON(rw.drop_underscore && h2.underscore);

	skip = !request && ((opt & 1) || h.status < 200 || h.status == 204 || h.status == 304);
	why = NULL;
	r = http_head_verify(head2, (size_t)len, &h, skip, &why);
	if (r != 0) {
		/* proxy.c refuses what llhttp refuses (a method it does not
		 * know, say); a head llhttp takes with other framing is the
		 * disagreement this target looks for. */
		if (r == -2)
			fprintf(stderr, "llhttp reads other framing: %s\n", why);
		BUG_ON(r != -1);
		free(head);
		free(head2);
		return 0;
	}

	/* Canonical: rewriting the rewritten head with nothing to add gives
	 * it back. */
	memset(&rw2, 0, sizeof(rw2));
	rw2.keep_upgrade = rw.keep_upgrade;
	if (!rw.forwarded_for && !rw.forwarded_proto && !rw.via && !rw.connection &&
	    !rw.keep_upgrade) {
		head3 = rewrite(head2, &h2, &rw2, (size_t)len, &len3);
		BUG_ON(http_scan_head(head3, (size_t)len3, request, &h3, &why) != 0);
		BUG_ON(len3 != len || memcmp(head2, head3, (size_t)len));
		free(head3);
	}

	if (skip)
		kind = HTTP_BODY_NONE;
	else if (h.chunked)
		kind = HTTP_BODY_CHUNKED;
	else if (h.has_cl)
		kind = HTTP_BODY_LENGTH;
	else
		kind = request ? HTTP_BODY_NONE : HTTP_BODY_EOF;

	/* The body: at once, and in pieces. */
	rest = n - hl;
	out1 = malloc(rest + 1);
	out2 = malloc(rest + 1);
	BUG_ON(!out1 || !out2);
	http_body_begin(&b1, kind, h.cl, !request, 4096);
	http_body_begin(&b2, kind, h.cl, !request, 4096);
	used1 = decode(&b1, p + hl, rest, 0, out1, &n1);
	used2 = decode(&b2, p + hl, rest, 1 + (opt >> 5), out2, &n2);
	free(head);
	free(head2);
	BUG_ON((used1 < 0) != (used2 < 0));
	if (used1 >= 0) {
		BUG_ON(used1 != used2 || n1 != n2 || memcmp(out1, out2, n1));
		BUG_ON(b1.complete != b2.complete);
		BUG_ON(b1.bytes != b2.bytes);
	}
	free(out1);
	free(out2);
	http_body_free(&b1);
	http_body_free(&b2);
	if (used1 < 0 || !b1.complete)
		return 0;
	if ((request && h.has_upgrade && h.conn_upgrade) || (!request && h.status == 101))
		return 0;	/* a tunnel: the rest is not HTTP */
	return hl + (size_t)used1;
}

static void stream(const char *p, size_t n, bool request, uint8_t opt)
{
	for (int i = 0; i < MAX_MESSAGES && n; i++) {
		size_t took;

		/* proxy.c skips empty lines before a request line (RFC 9112 2.2) */
		while (request && n >= 1 && (p[0] == '\n' || (n >= 2 && p[0] == '\r' && p[1] == '\n'))) {
			size_t k = p[0] == '\n' ? 1 : 2;

			p += k;
			n -= k;
		}
		took = one_message(p, n, request, opt);
		if (!took)
			return;
		BUG_ON(took > n);
		p += took;
		n -= took;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	uint8_t opt;

	if (size == 0)
		return 0;
	opt = data[size - 1];
	stream(p, size, true, opt);
	if (data[0] == 'H')
		stream(p, size, false, opt);
	return 0;
}
