/*
 * fuzz_http_head.c - libFuzzer target for http/parse.c.
 *
 * The input is a byte stream from a client (always) and, when its first
 * byte is 'H', also from a backend. It is framed the way http/proxy.c
 * frames it: empty lines skipped before a request, http_head_end,
 * http_scan_head, then llhttp through http_body_start/feed, message after
 * message (pipelining), up to a few.
 * The last byte picks the rewrite options (as proxy.c could set them) and,
 * for responses, whether the request was HEAD.
 *
 * Aborts (a bug) when:
 *  - http_head_end gives another answer when resumed at a split point;
 *  - a refusal comes without a reason;
 *  - a head both parsers accept frames its body differently in the scan
 *    summary and in llhttp (the smuggling shape);
 *  - http_rewrite_head fails with ample room, writes past its cap, or
 *    produces a head that is not itself accepted with the same framing;
 *  - the body framed after the rewritten head, fed in small pieces, ends
 *    elsewhere than after the original head fed at once.
 * ASan/UBSan catch reads past a head: heads are copied to exact-size heap
 * blocks first.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static long head_end_checked(const char *p, size_t n, size_t k)
{
	long whole = http_head_end(p, n, 0), first;

	BUG_ON(whole < -1 || whole > (long)n);
	if (k > n)
		k = n;
	first = http_head_end(p, k, 0);
	if (first == 0)
		first = http_head_end(p, n, k);
	BUG_ON(first != whole);
	return whole;
}

/* What the scan summary says the body framing is, as an http_body_kind. */
static void check_framing(const struct http_head *h, const struct http_body *b, bool request)
{
	enum http_body_kind kind = http_body_kind(b);

	if (request) {
		if (h->chunked)
			BUG_ON(kind != HTTP_BODY_CHUNKED);
		else if (h->has_cl && h->cl > 0)
			BUG_ON(kind != HTTP_BODY_LENGTH);
		else
			BUG_ON(!b->complete);
		return;
	}
	if (b->skip_body) {
		BUG_ON(!b->complete);
		return;
	}
	if (h->has_cl) {
		BUG_ON(h->cl > 0 && kind != HTTP_BODY_LENGTH);
		BUG_ON(h->cl == 0 && !b->complete);
	} else if (!h->has_te) {
		BUG_ON(kind != HTTP_BODY_EOF);
	} else if (!h->chunked) {
		BUG_ON(kind != HTTP_BODY_EOF);
	}
}

/* Heads must agree on everything that frames or routes the message. */
static void check_same_head(const char *p, const struct http_head *a, const char *q,
			    const struct http_head *b)
{
	BUG_ON(a->request != b->request);
	BUG_ON(a->major != b->major);
	BUG_ON(a->request && a->minor != b->minor);	/* a response may be sent as 1.1 */
	BUG_ON(a->status != b->status);
	BUG_ON(a->has_cl != b->has_cl || a->cl != b->cl);
	BUG_ON(a->has_te != b->has_te || a->chunked != b->chunked);
	BUG_ON(a->has_host != b->has_host);
	if (a->request) {
		BUG_ON(a->method.len != b->method.len ||
		       memcmp(p + a->method.off, q + b->method.off, a->method.len));
		BUG_ON(a->target.len != b->target.len ||
		       memcmp(p + a->target.off, q + b->target.off, a->target.len));
	}
}

/* Feed p[0, n) in pieces of step (0: at once). Returns -1 on a framing
 * error, else the bytes that belong to the message. */
static long feed(struct http_body *b, const char *p, size_t n, size_t step)
{
	size_t off = 0, used;
	const char *why;

	if (!step)
		step = n;
	while (off < n && !b->complete) {
		size_t k = n - off < step ? n - off : step;
		char *q = dup_exact(p + off, k);
		int r;

		why = NULL;
		r = http_body_feed(b, q, k, &used, &why);
		free(q);
		if (r != 0) {
			BUG_ON(!why);
			return -1;
		}
		BUG_ON(used > k);
		BUG_ON(used < k && !b->complete);
		off += used;
	}
	return (long)off;
}

/*
 * Frame one message at the start of p[0, n) in direction `request`.
 * Returns the bytes it took (head and body) when another message may
 * follow, or 0 when the stream cannot go on.
 */
static size_t one_message(const char *p, size_t n, bool request, uint8_t opt)
{
	struct http_head h, h2;
	struct http_body b1, b2;
	struct http_rewrite rw = { 0 };
	const char *why;
	char *head, *out, *head2;
	enum http_body_kind kind;
	size_t hl, cap, rest;
	long end, len, used1, used2;
	int r, e1, e2;

	end = head_end_checked(p, n, n ? (size_t)(unsigned char)p[0] * 7 % n : 0);
	if (end <= 0)
		return 0;
	hl = (size_t)end;
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

	memset(&b1, 0, sizeof(b1));
	if (!request)
		b1.skip_body = (opt & 1) || h.status < 200 || h.status == 204 || h.status == 304;
	http_body_init(&b1, request);
	why = NULL;
	if (http_body_start(&b1, head, hl, &why) != 0) {
		BUG_ON(!why);
		free(head);
		return 0;
	}
	check_framing(&h, &b1, request);
	kind = http_body_kind(&b1);

	/* The head forwarded to the next hop, with the options proxy.c uses. */
	rw.via = (opt & 8) ? "1.1 nodown" : NULL;
	rw.connection = (opt & 16) ? "close" : (opt & 32) ? "keep-alive" : NULL;
	if (request) {
		rw.forwarded_for = (opt & 2) ? "192.0.2.1" : NULL;
		rw.forwarded_proto = (opt & 4) ? "http" : NULL;
		rw.keep_upgrade = h.has_upgrade && h.conn_upgrade;
	} else {
		rw.keep_upgrade = h.status == 101;
		rw.version11 = !(opt & 128);
	}
	if (rw.keep_upgrade)
		rw.connection = "upgrade";
	cap = hl + 256;
	out = malloc(cap);
	BUG_ON(!out);
	len = http_rewrite_head(head, &h, &rw, out, cap);
	BUG_ON(len < 0 || (size_t)len > cap);
	head2 = dup_exact(out, (size_t)len);
	free(out);
	BUG_ON(http_head_end(head2, (size_t)len, 0) != len);
	why = NULL;
	r = http_scan_head(head2, (size_t)len, request, &h2, &why);
	if (r != 0)
		fprintf(stderr, "rewritten head refused: %s\n", why);
	BUG_ON(r != 0);
	check_same_head(head, &h, head2, &h2);
	BUG_ON(h2.nconn_tokens != 0);

	memset(&b2, 0, sizeof(b2));
	b2.skip_body = b1.skip_body;
	http_body_init(&b2, request);
	why = NULL;
	r = http_body_start(&b2, head2, (size_t)len, &why);
	if (r != 0)
		fprintf(stderr, "llhttp refused the rewritten head: %s\n", why);
	BUG_ON(r != 0);
	BUG_ON(http_body_kind(&b1) != http_body_kind(&b2));
	BUG_ON(b1.complete != b2.complete);
	check_framing(&h2, &b2, request);

	/* The body: at once after the original, in pieces after the rewrite. */
	rest = n - hl;
	used1 = feed(&b1, p + hl, rest, 0);
	used2 = feed(&b2, p + hl, rest, 1 + (opt >> 5));
	e1 = used1 < 0;
	e2 = used2 < 0;
	BUG_ON(e1 != e2);
	free(head);
	free(head2);
	if (e1)
		return 0;
	BUG_ON(used1 != used2);
	BUG_ON(b1.complete != b2.complete);
	BUG_ON(b1.bytes != b2.bytes);
	/* llhttp sets upgrade on a 101 only with "Connection: upgrade", which
	 * the rewrite adds; proxy.c goes by the status instead. */
	BUG_ON(request && b1.upgrade != b2.upgrade);
	if (!b1.complete) {
		/* The kind the head gave: llhttp forgets chunked when a trailer
		 * is named Transfer-Encoding, so it is not asked again here. */
		BUG_ON((size_t)used1 != rest);
		r = http_body_eof(&b1);
		BUG_ON(kind == HTTP_BODY_EOF && r != 0);
		BUG_ON(kind != HTTP_BODY_EOF && r == 0);
		return 0;
	}
	if (b1.upgrade || (!request && h.status == 101))
		return 0;	/* a tunnel: the rest is not HTTP */
	return hl + (size_t)used1;
}

static void stream(const char *p, size_t n, bool request, uint8_t opt)
{
	for (int i = 0; i < MAX_MESSAGES && n; i++) {
		size_t took;

		/* proxy.c skips empty lines before a request line (RFC 9112 2.2) */
		while (request && n >= 2 && p[0] == '\r' && p[1] == '\n') {
			p += 2;
			n -= 2;
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
