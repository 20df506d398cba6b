/*
 * adminreq.h - reading one admin API request: its method, target, bearer
 * token and body (a small one, with Content-Length), with llhttp (strict),
 * incrementally as bytes arrive.
 */
#ifndef ND_ADMINREQ_H
#define ND_ADMINREQ_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>

#define ADMINREQ_METHOD_MAX 16
#define ADMINREQ_TARGET_MAX 4096
#define ADMINREQ_AUTH_MAX 512
#define ADMINREQ_BODY_MAX 65536	/* a body's bytes (POST /plans: a JSON object) */

struct adminreq {
	llhttp_t parser;
	char method[ADMINREQ_METHOD_MAX + 1];
	char target[ADMINREQ_TARGET_MAX + 1];
	char auth[ADMINREQ_AUTH_MAX + 1];	/* the Authorization value */
	size_t mlen, tlen, alen;
	char field[16];			/* the start of the current field name */
	size_t flen;
	bool in_auth;			/* the current field is Authorization */
	bool has_auth;
	int hosts;			/* Host fields seen */
	bool line_start;		/* the last byte read was a LF */
	char prev;			/* the last byte read */
	int lines;			/* LFs read */
	bool head_end;			/* the blank line was seen */
	bool too_long;			/* a part did not fit: 431 */
	bool too_large;			/* the body would not fit: 413 */
	bool done;			/* the request is complete */
	char *body;			/* owned; NUL-terminated; NULL when none */
	size_t blen, bcap;
};

void adminreq_init(struct adminreq *r);
void adminreq_free(struct adminreq *r);

/* Read p[0, n). Returns 0 (more needed, or r->done), or the status to
 * answer with: 400 (malformed, Authorization repeated, a chunked body),
 * 413 (a body above ADMINREQ_BODY_MAX), 431. */
int adminreq_feed(struct adminreq *r, const char *p, size_t n);

/* Is the Authorization "Bearer <token>"? Takes the same time wherever the
 * first difference is. */
bool adminreq_token_ok(const struct adminreq *r, const char *token);

#endif
