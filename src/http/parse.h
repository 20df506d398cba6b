/*
 * parse.h - HTTP/1.x heads: find, validate and summarise a head, write it
 * out again in one canonical form for the next hop, and check that form
 * with an independent parser.
 *
 * Pure functions over bytes: nothing here touches a socket or a loop.
 * Bodies are framed by http/body.h.
 */
#ifndef ND_HTTP_PARSE_H
#define ND_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"

#define HTTP_MAX_CONN_TOKENS 8

struct span {
	uint32_t off, len;	/* into the head the summary was made from */
};

/* What the proxy needs to know about a head; spans point into it. */
struct http_head {
	bool request;
	struct span method;		/* requests */
	struct span target;		/* requests, as sent */
	struct span authority;		/* absolute-form requests: host[:port] of the target */
	struct span path;		/* absolute-form requests: path and query (may be empty) */
	bool absolute;			/* the target is in absolute-form (http://host/path) */
	int status;			/* responses */
	struct span reason;		/* responses: reason phrase */
	int major, minor;		/* HTTP version; minor is 0 or 1 (1.2+ read as 1.1) */
	size_t len;			/* bytes of the head, blank line included */

	bool has_cl;			/* Content-Length present (identical values if repeated) */
	uint64_t cl;			/* its value */
	bool has_te;			/* Transfer-Encoding present */
	bool chunked;			/* ... and chunked is its final coding */
	bool has_host;
	bool underscore;		/* a field name contains '_' */
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
 * Search buf[0, len) for the empty line ending a head; bytes before `from`
 * were searched by an earlier call (pass 0 the first time, then the
 * previous len). A line may end in CRLF or in a bare LF (RFC 9112 2.2: a
 * recipient may accept it; the head is re-serialised with CRLF before it
 * goes anywhere). Returns the head length including its empty line, or 0
 * when the head is not complete yet.
 */
size_t http_head_end(const char *buf, size_t len, size_t from);

/*
 * Validate and summarise the complete head p[0, n). Returns 0 when it is
 * acceptable, else the status to answer with (400, 501, 505; for a
 * response 502) and sets *why to a short static reason. Refused, never
 * guessed: bare CR, obs-fold, whitespace before a colon, invalid names or
 * values, NUL, a Content-Length that is not a number, or (requests) that
 * is repeated or a list, Content-Length with Transfer-Encoding, a request
 * Transfer-Encoding other than exactly one "chunked" (501 for an unknown
 * coding, 400 for a malformed list or repeated field), Transfer-Encoding
 * in HTTP/1.0, a missing or repeated Host in HTTP/1.1, a request target
 * that is none of origin-form, absolute-form (http or https) or
 * asterisk-form with OPTIONS, versions other than HTTP/1.x (505).
 * Responses may repeat an identical Content-Length; differing values are
 * refused.
 */
int http_scan_head(const char *p, size_t n, bool request, struct http_head *h,
		   const char **why) ND_MUST_CHECK;

struct http_rewrite {
	const char *forwarded_for;	/* client address to append, or NULL */
	const char *forwarded_proto;	/* X-Forwarded-Proto value, or NULL */
	const char *via;		/* Via entry such as "1.1 nodown", or NULL */
	const char *connection;		/* Connection value to send, or NULL for none */
	bool keep_upgrade;		/* forward Upgrade (a tunnel is being set up) */
	bool drop_underscore;		/* requests: drop fields whose name has '_' */
};

/*
 * Write head p[0, h->len) to out[0, cap) for the next hop, in one
 * canonical form: lines end in CRLF; the request line is METHOD SP target
 * SP HTTP/1.0 or HTTP/1.1, with an absolute-form target sent in
 * origin-form and Host set to its authority (RFC 9112 3.2.2); a status
 * line says HTTP/1.1 (RFC 9110 6.2, our own version); Content-Length is
 * sent once, in canonical decimal; Transfer-Encoding once, as its
 * non-empty codings joined by ", ". Hop-by-hop fields (Connection,
 * Keep-Alive, Proxy-Connection, TE, Upgrade unless kept, and fields named
 * by Connection) are removed, X-Forwarded-For values are merged into one
 * field ending with the client, X-Forwarded-Proto is replaced, Via and
 * Connection are added as asked. Framing fields (Content-Length,
 * Transfer-Encoding, Host) are never removed. Returns the length written,
 * or -1 if it does not fit in cap.
 */
long http_rewrite_head(const char *p, const struct http_head *h,
		       const struct http_rewrite *rw, char *out, size_t cap) ND_MUST_CHECK;

/*
 * Check a head nodown is about to send (the output of http_rewrite_head)
 * with llhttp in strict mode, an independent parser: it must accept the
 * head and read the same framing as h says (Content-Length and its value,
 * chunked, or neither). skip_body: a response that has no body whatever
 * its fields say (to HEAD; 1xx, 204, 304). Returns 0; -1 with *why set
 * when llhttp refuses the head; -2 with *why set when it accepts it but
 * reads other framing (a disagreement the scan should have prevented).
 */
int http_head_verify(const char *p, size_t n, const struct http_head *h, bool skip_body,
		     const char **why) ND_MUST_CHECK;

/* Case-insensitive compare of span in p with a NUL-terminated lower-case word. */
bool http_span_is(const char *p, struct span s, const char *word);

#endif
