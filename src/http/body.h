/*
 * body.h - HTTP/1.x message bodies: where one ends, and the one form in
 * which it is passed on.
 *
 * A body framed by Content-Length, or by the connection closing, passes
 * on byte for byte. A chunked body is decoded in place, in the buffer it
 * was read into, and re-encoded for the next hop: chunk extensions are
 * dropped, line ends are CRLF, trailer fields are re-serialised without
 * framing or routing fields. The next hop therefore never sees a framing
 * quirk that a reader here tolerated.
 *
 * Pure functions over bytes: nothing here touches a socket or a loop.
 */
#ifndef ND_HTTP_BODY_H
#define ND_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"

enum http_body_kind {
	HTTP_BODY_NONE,		/* no body at all */
	HTTP_BODY_LENGTH,	/* Content-Length */
	HTTP_BODY_CHUNKED,
	HTTP_BODY_EOF,		/* a response delimited by the connection closing */
};

struct http_body {
	uint8_t kind;		/* enum http_body_kind */
	uint8_t st;		/* chunked: where in the framing the decoder is */
	bool lenient;		/* from a backend: LF-only framing lines, spaces after a size */
	bool complete;		/* the message ended */
	bool tdropped;		/* the last trailer field was dropped (its folds go too) */
	uint8_t digits;		/* significant hex digits of the chunk size so far */
	uint32_t linelen;	/* bytes of the current framing line (bounded) */
	uint32_t tstart;	/* where the trailer line being read starts in trailer */
	uint32_t max_trailer;	/* bytes the trailer section may take */
	uint64_t left;		/* LENGTH: body bytes to come; CHUNKED: data left in this chunk */
	uint64_t size;		/* CHUNKED: size of the chunk being read */
	uint64_t bytes;		/* payload bytes seen */
	char *trailer;		/* owned: "0\r\n" + trailer fields read so far; NULL if none */
	uint32_t tlen;		/* bytes in trailer */
	char hdr[20];		/* the chunk-size line of the data being sent */
};

/* One piece of output. */
struct http_piece {
	const char *p;
	size_t n;
};

#define HTTP_BODY_MAX_PIECES 4

/*
 * Start a body of `kind`; `length` is its Content-Length for
 * HTTP_BODY_LENGTH. lenient: framing comes from a backend, and LF-only
 * chunk lines and spaces after a chunk size are accepted (then
 * re-serialised); requests are read strictly. max_trailer bounds the
 * trailer section. Frees what an earlier body left.
 */
void http_body_begin(struct http_body *b, enum http_body_kind kind, uint64_t length,
		     bool lenient, uint32_t max_trailer);

/* Free what b holds (a trailer section); b may be begun again. */
void http_body_free(struct http_body *b);

/*
 * Read body bytes p[0, n). On return *consumed is how many belong to this
 * message (all of them unless it ends inside) and the payload among them
 * is at p[0, *data): a chunked body is decoded in place, framing removed.
 * b->complete says the message ended. Returns 0, or -1 with *why set when
 * the framing is invalid (the message cannot be continued).
 */
int http_body_decode(struct http_body *b, char *p, size_t n, size_t *consumed, size_t *data,
		     const char **why) ND_MUST_CHECK;

/*
 * The pieces to send for payload p[0, n) just decoded: the payload itself,
 * or for a chunked body a chunk around it, and once the message is
 * complete the last chunk and trailer section. Returns how many pieces
 * (at most HTTP_BODY_MAX_PIECES, possibly 0). The pieces point into p and
 * into b, and stay valid until b is decoded or begun again.
 */
int http_body_encode(struct http_body *b, const char *p, size_t n, struct http_piece *out);

/* The peer closed: end an EOF-delimited body. Returns 0 if that ends the
 * message cleanly, -1 if the message was cut short. */
int http_body_eof(struct http_body *b) ND_MUST_CHECK;

#endif
