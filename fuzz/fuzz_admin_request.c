/*
 * fuzz_admin_request.c - libFuzzer target for core/adminreq.c, the admin
 * API's request reader (its head, and a small body).
 *
 * Input: one byte saying where to split, then the bytes of a request,
 * fed in two reads. Aborts (a bug) when a result is not 0, 400, 413 or
 * 431, when a completed head has a method, target or Authorization longer
 * than its buffer or not NUL-terminated at its length, when a head is
 * reported complete without a method and a target, or a body longer than
 * ADMINREQ_BODY_MAX or than the bytes given; the body is freed (a leak is
 * a crash).
 */
#include <stdint.h>
#include <string.h>

#include "core/adminreq.h"
#include "core/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct adminreq r;
	size_t cut;
	int st;

	if (size < 1)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (cut > size)
		cut = size;
	adminreq_init(&r);
	st = adminreq_feed(&r, (const char *)data, cut);
	if (st == 0)
		st = adminreq_feed(&r, (const char *)data + cut, size - cut);
	BUG_ON(st != 0 && st != 400 && st != 413 && st != 431);
	BUG_ON(r.blen > ADMINREQ_BODY_MAX || r.blen > size || (r.body && strlen(r.body) > r.blen));
	BUG_ON(r.mlen > ADMINREQ_METHOD_MAX || strlen(r.method) != r.mlen);
	BUG_ON(r.tlen > ADMINREQ_TARGET_MAX || strlen(r.target) > r.tlen);
	BUG_ON(r.alen > ADMINREQ_AUTH_MAX);
	if (st == 0 && r.done) {
		BUG_ON(r.mlen == 0 || r.tlen == 0);
		(void)adminreq_token_ok(&r, "0123456789abcdef");
	}
	adminreq_free(&r);
	return 0;
}
