/*
 * adminreq.c - one admin API request head, read with llhttp in strict
 * mode: the admin API is a small HTTP/1.1 server of its own, with no need
 * of the proxy's parser or its leniencies.
 *
 * Invariant: each part is copied into a fixed buffer, never past it; a
 *            part that does not fit ends the read with 431 (413 a body).
 */
#include "adminreq.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct adminreq *req_of(llhttp_t *p)
{
	return p->data;
}

/* Append [at, at + n) to buf (len, cap); false when it does not fit. */
static bool append(char *buf, size_t *len, size_t cap, const char *at, size_t n)
{
	if (n > cap - *len)
		return false;
	memcpy(buf + *len, at, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

static int on_method(llhttp_t *p, const char *at, size_t n)
{
	struct adminreq *r = req_of(p);

	if (!append(r->method, &r->mlen, ADMINREQ_METHOD_MAX, at, n))
		return r->too_long = true, HPE_USER;
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct adminreq *r = req_of(p);

	if (!append(r->target, &r->tlen, ADMINREQ_TARGET_MAX, at, n))
		return r->too_long = true, HPE_USER;
	return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
	struct adminreq *r = req_of(p);
	size_t take = n < sizeof(r->field) - 1 - r->flen ? n : sizeof(r->field) - 1 - r->flen;

	memcpy(r->field + r->flen, at, take);
	r->flen += take;
	r->field[r->flen] = '\0';
	if (take < n)
		r->field[0] = '\0';	/* longer than any name we look for */
	return 0;
}

static int on_field_complete(llhttp_t *p)
{
	struct adminreq *r = req_of(p);

	r->in_auth = !strcasecmp(r->field, "authorization");
	r->hosts += !strcasecmp(r->field, "host");
	r->flen = 0;
	if (r->in_auth && r->has_auth)
		return HPE_USER;	/* which one would count? */
	r->has_auth |= r->in_auth;
	return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
	struct adminreq *r = req_of(p);

	if (r->in_auth && !append(r->auth, &r->alen, ADMINREQ_AUTH_MAX, at, n))
		return r->too_long = true, HPE_USER;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct adminreq *r = req_of(p);

	if (p->http_major != 1 || (p->http_minor == 1 && r->hosts != 1))
		return HPE_USER;	/* HTTP/1.x only; 1.1 with one Host (RFC 9112 3.2) */
	if (p->flags & F_CHUNKED)
		return HPE_USER;	/* bodies come with a Content-Length */
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
		if (p->content_length > ADMINREQ_BODY_MAX)
			return r->too_large = true, HPE_USER;
		r->body = malloc((size_t)p->content_length + 1);
		if (!r->body)
			return r->too_large = true, HPE_USER;
		r->body[0] = '\0';
		r->bcap = (size_t)p->content_length;
		return 0;
	}
	r->done = true;
	return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct adminreq *r = req_of(p);

	if (!append(r->body, &r->blen, r->bcap, at, n))
		return r->too_large = true, HPE_USER;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	req_of(p)->done = true;
	return HPE_PAUSED;	/* one request per connection */
}

static llhttp_settings_t settings;

void adminreq_init(struct adminreq *r)
{
	static bool ready;

	if (!ready) {	/* the control thread only */
		llhttp_settings_init(&settings);
		settings.on_method = on_method;
		settings.on_url = on_url;
		settings.on_header_field = on_field;
		settings.on_header_field_complete = on_field_complete;
		settings.on_header_value = on_value;
		settings.on_headers_complete = on_headers_complete;
		settings.on_body = on_body;
		settings.on_message_complete = on_message_complete;
		ready = true;
	}
	memset(r, 0, sizeof(*r));
	llhttp_init(&r->parser, HTTP_REQUEST, &settings);
	r->parser.data = r;
}

void adminreq_free(struct adminreq *r)
{
	free(r->body);
	r->body = NULL;
}

int adminreq_feed(struct adminreq *r, const char *p, size_t n)
{
	llhttp_errno_t e;

	if (r->done)
		return 0;
	/* What llhttp lets through: a request line with runs of spaces or a
	 * tab, and obs-fold (a head line that starts with whitespace). */
	for (size_t i = 0; i < n && !r->head_end; i++) {
		bool ws = p[i] == ' ' || p[i] == '\t';

		if (ws && (r->line_start || (!r->lines && (p[i] == '\t' || r->prev == ' '))))
			return 400;
		r->head_end = r->line_start && (p[i] == '\r' || p[i] == '\n');
		r->line_start = p[i] == '\n';
		r->lines += r->line_start;
		r->prev = p[i];
	}
	e = llhttp_execute(&r->parser, p, n);
	if (e == HPE_OK || (e == HPE_PAUSED && r->done))
		return 0;
	return r->too_long ? 431 : r->too_large ? 413 : 400;
}

bool adminreq_token_ok(const struct adminreq *r, const char *token)
{
	size_t tl = strlen(token);
	unsigned char diff = 0;

	if (r->alen != 7 + tl || strncasecmp(r->auth, "bearer ", 7))
		return false;
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)(r->auth[7 + i] ^ token[i]);
	return diff == 0;
}
