/*
 * parse.h - HTTP/1.x message framing: find, validate and summarise a head,
 * rewrite it for the next hop, and frame the body that follows.
 *
 * Pure functions over bytes: nothing here touches a socket or a loop.
 */
#ifndef ND_HTTP_PARSE_H
#define ND_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "../core/common.h"

#define HTTP_MAX_CONN_TOKENS 8

struct span {
	uint32_t off, len;	/* into the head the summary was made from */
};

/* What the proxy needs to know about a head; spans point into it. */
struct http_head {
	bool request;
	struct span method;		/* requests */
	struct span target;		/* requests */
	int status;			/* responses */
	int major, minor;		/* HTTP version */
	size_t len;			/* bytes of the head, blank line included */

	bool has_cl;			/* Content-Length present (exactly once) */
	uint64_t cl;			/* its value */
	bool has_te;			/* Transfer-Encoding present */
	bool chunked;			/* ... and chunked is its final coding */
	bool has_host;
	bool conn_close;		/* Connection: close */
	bool conn_keepalive;		/* Connection: keep-alive */
	bool conn_upgrade;		/* Connection: upgrade */
	bool has_upgrade;		/* Upgrade: present */
	bool expect_continue;		/* Expect: 100-continue */
	bool has_xff;			/* X-Forwarded-For present */
	int ka_timeout;			/* Keep-Alive: timeout=N seconds, or -1 */
	int nconn_tokens;		/* other Connection tokens, dropped with their headers */
	struct span conn_tokens[HTTP_MAX_CONN_TOKENS];
};

/*
 * Search buf[0, len) for the blank line ending a head; bytes before `from`
 * were searched by an earlier call (pass 0 the first time, then the
 * previous len). Returns the head length including CRLFCRLF, 0 when the
 * head is not complete yet, or -1 when a line ends in a bare LF (refused:
 * RFC 9112 allows it but a peer that reads it differently could be
 * smuggled past).
 */
long http_head_end(const char *buf, size_t len, size_t from);

/*
 * Validate and summarise the complete head p[0, n). Returns 0 when it is
 * acceptable, else the HTTP status to answer with (400, 505, or for a
 * response any non-zero value, meaning "invalid response") and sets *why
 * to a short static reason. Refused, never guessed: bare CR or LF, obs-fold,
 * whitespace before a colon, invalid names or values, Content-Length
 * repeated or not a number, Content-Length with Transfer-Encoding, a
 * request Transfer-Encoding whose final coding is not chunked or that comes
 * in HTTP/1.0, a missing or repeated Host in HTTP/1.1, versions other than
 * 1.0 and 1.1.
 */
int http_scan_head(const char *p, size_t n, bool request, struct http_head *h,
		   const char **why) ND_MUST_CHECK;

struct http_rewrite {
	const char *forwarded_for;	/* client address to append, or NULL */
	const char *forwarded_proto;	/* X-Forwarded-Proto value, or NULL */
	const char *via;		/* Via entry such as "1.1 nodown", or NULL */
	const char *connection;		/* Connection value to send, or NULL for none */
	bool keep_upgrade;		/* forward Upgrade (a tunnel is being set up) */
	bool version11;			/* responses: send our own version, HTTP/1.1 */
};

/*
 * Write head p[0, h->len) to out[0, cap) for the next hop: hop-by-hop
 * fields (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade unless
 * kept, and fields named by Connection) are removed, X-Forwarded-For values
 * are merged into one field ending with the client, X-Forwarded-Proto is
 * replaced, Via and Connection are added as asked. Framing fields
 * (Content-Length, Transfer-Encoding, Host) are never removed. Returns the
 * length written, or -1 if it does not fit in cap.
 */
long http_rewrite_head(const char *p, const struct http_head *h,
		       const struct http_rewrite *rw, char *out, size_t cap) ND_MUST_CHECK;

/* Body framing: llhttp run past a head, pausing at the end of a message. */
struct http_body {
	llhttp_t ll;
	uint64_t bytes;		/* payload bytes seen (chunk data, not framing) */
	bool skip_body;		/* set before the head: a HEAD response, 1xx/204/304 */
	bool complete;		/* the message ended */
	bool upgrade;		/* the message ends in a protocol switch */
	int kind;		/* enum http_body_kind, fixed by http_body_start */
	char prev;		/* last byte fed, for the CRLF check across feeds */
};

enum http_body_kind {
	HTTP_BODY_NONE,		/* no body at all */
	HTTP_BODY_LENGTH,	/* Content-Length */
	HTTP_BODY_CHUNKED,
	HTTP_BODY_EOF,		/* response delimited by the connection closing */
};

/* Prepare b for a message of the given direction. */
void http_body_init(struct http_body *b, bool request);

/*
 * Feed head p[0, n) (already accepted by http_scan_head) to b. Returns 0
 * or, with *why set, non-zero when llhttp refuses it.
 */
int http_body_start(struct http_body *b, const char *p, size_t n, const char **why) ND_MUST_CHECK;

enum http_body_kind http_body_kind(const struct http_body *b);

/*
 * Frame body bytes p[0, n): *used is set to how many belong to this
 * message (all of them unless it ends inside). Returns 0, or non-zero with
 * *why set when the bytes are not valid framing (bad chunk size...).
 */
int http_body_feed(struct http_body *b, const char *p, size_t n, size_t *used,
		   const char **why) ND_MUST_CHECK;

/* The peer closed: end an EOF-delimited body. Returns 0 if that ends the
 * message cleanly, non-zero if the message was cut short. */
int http_body_eof(struct http_body *b) ND_MUST_CHECK;

/* Case-insensitive compare of span in p with a NUL-terminated lower-case word. */
bool http_span_is(const char *p, struct span s, const char *word);

#endif
