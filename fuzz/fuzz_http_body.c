/*
 * fuzz_http_body.c - libFuzzer target for http/body.c.
 *
 * Input: one option byte (kind, strict or lenient, piece size), then body
 * bytes. They are decoded at once and in pieces, in exact-size heap
 * copies (ASan sees a read past a piece), and what the encoder produced is
 * decoded again, strictly.
 *
 * Aborts (a bug) when:
 *  - decoding in pieces ends at another byte, gives other payload, or
 *    fails where decoding at once did not (or the other way round);
 *  - a refusal comes without a reason; consumed or payload bytes exceed
 *    the input;
 *  - the encoded form is refused by the strict decoder, ends elsewhere
 *    than its own end, or carries other payload: what nodown sends on
 *    must be read by a strict peer exactly as nodown read it;
 *  - the encoded trailer section carries a framing field.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

struct run {
	char *data;		/* payload */
	size_t ndata;
	char *enc;		/* what was encoded to be sent on */
	size_t nenc;
	long used;		/* -1: refused */
	bool complete;
};

static void run(enum http_body_kind kind, uint64_t len, bool lenient, const char *p, size_t n,
		size_t step, struct run *r)
{
	struct http_body b = { 0 };
	size_t off = 0;

	r->data = malloc(n + 1);
	r->enc = malloc(n * 8 + 4096);
	r->ndata = r->nenc = 0;
	BUG_ON(!r->data || !r->enc);
	http_body_begin(&b, kind, len, lenient, 512);
	if (!step)
		step = n ? n : 1;
	r->used = 0;
	while (off < n && !b.complete) {
		size_t k = n - off < step ? n - off : step, used, data;
		struct http_piece pc[HTTP_BODY_MAX_PIECES];
		const char *why = NULL;
		char *q = malloc(k);
		int np;

		BUG_ON(!q);
		memcpy(q, p + off, k);
		if (http_body_decode(&b, q, k, &used, &data, &why) != 0) {
			BUG_ON(!why);
			free(q);
			r->used = -1;
			break;
		}
		BUG_ON(used > k || data > used || (used < k && !b.complete));
		memcpy(r->data + r->ndata, q, data);
		r->ndata += data;
		np = http_body_encode(&b, q, data, pc);
		BUG_ON(np < 0 || np > HTTP_BODY_MAX_PIECES);
		for (int i = 0; i < np; i++) {
			memcpy(r->enc + r->nenc, pc[i].p, pc[i].n);
			r->nenc += pc[i].n;
		}
		free(q);
		off += used;
	}
	if (r->used >= 0)
		r->used = (long)off;
	r->complete = b.complete;
	http_body_free(&b);
}

static void done(struct run *r)
{
	free(r->data);
	free(r->enc);
}

/* No framing field in an encoded trailer section (chunked, complete). */
static void check_trailers(const struct run *r)
{
	const char *p = r->enc, *end = r->enc + r->nenc, *last = NULL;

	for (const char *q = p; q + 3 <= end; q++)
		if (!memcmp(q, "0\r\n", 3) && (q == p || q[-1] == '\n'))
			last = q;
	BUG_ON(!last);
	for (const char *q = last + 3; q < end; ) {
		const char *eol = memchr(q, '\n', (size_t)(end - q));

		BUG_ON(!eol);
		BUG_ON(!strncasecmp(q, "content-length:", 15) || !strncasecmp(q, "transfer-encoding:", 18) ||
		       !strncasecmp(q, "host:", 5));
		q = eol + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http_body_kind kinds[4] = { HTTP_BODY_CHUNKED, HTTP_BODY_CHUNKED,
						      HTTP_BODY_LENGTH, HTTP_BODY_EOF };
	enum http_body_kind kind;
	struct run a, b, c;
	const char *p = (const char *)data + 1;
	size_t n;
	uint64_t len;
	bool lenient;

	if (size < 1)
		return 0;
	kind = kinds[data[0] & 3];
	lenient = data[0] & 4;
	n = size - 1;
	len = n / 2 + 1;
	run(kind, len, lenient, p, n, 0, &a);
	run(kind, len, lenient, p, n, 1 + (data[0] >> 3), &b);
	BUG_ON((a.used < 0) != (b.used < 0));
	if (a.used >= 0) {
		BUG_ON(a.used != b.used || a.ndata != b.ndata || memcmp(a.data, b.data, a.ndata));
		BUG_ON(a.complete != b.complete);
		if (kind == HTTP_BODY_CHUNKED && a.complete) {
			check_trailers(&a);
			run(kind, len, false, a.enc, a.nenc, 0, &c);
			BUG_ON(c.used != (long)a.nenc || !c.complete);
			BUG_ON(c.ndata != a.ndata || memcmp(c.data, a.data, a.ndata));
			done(&c);
		}
	}
	done(&a);
	done(&b);
	return 0;
}
