/*
 * load.h - the engine of `nodown load` (cli/load.c) and what it asks of a
 * protocol (cli/load_http.c, cli/load_redis.c).
 *
 * The engine owns the schedule (an open-loop constant rate), the
 * connections (one request in flight on each), timeouts and the results;
 * a protocol says what a request is and when a response has ended, and
 * how it ended. Error classes connect, reset and timeout are the
 * engine's; a protocol adds its own (5xx and 4xx; readonly and err).
 */
#ifndef ND_CLI_LOAD_H
#define ND_CLI_LOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

enum { LOAD_E_CONNECT, LOAD_E_RESET, LOAD_E_TIMEOUT, LOAD_E_PROTO };	/* then the protocol's */
#define LOAD_E_MAX 8

/* What a protocol's feed found in the bytes given. */
enum load_feed {
	LOAD_MORE,		/* the response goes on */
	LOAD_DONE,		/* it ended (*err: -1 ok, else a class) */
	LOAD_DONE_CLOSE,	/* it ended and the connection does not go on */
	LOAD_BAD,		/* not the protocol: the connection is reset */
};

struct option;

struct load_proto {
	const char *name;		/* `nodown load NAME TARGET` */
	const char *const *err_names;	/* its error classes, from LOAD_E_PROTO on */
	int nerr;
	/* Its options besides the common ones (NULL-terminated, short
	 * letters in shorts), read into its argument (arg_size bytes,
	 * zeroed) by option: 0, or -1 for a usage error. */
	const struct option *opts;
	const char *shorts;
	size_t arg_size;
	int (*option)(void *arg, int o, const char *val);
	/* TARGET: its address; 0, or -1 with a message printed. Then the
	 * argument is complete. done (may be NULL) frees what it holds. */
	int (*target)(void *arg, const char *target, struct sockaddr_storage *addr);
	void (*done)(void *arg);
	size_t state_size;		/* of each connection's state */
	/* A connection is open: reset its state; bytes to send before any
	 * request (a login) in *p, *n (0: none), valid while arg is. */
	void (*opened)(void *arg, void *state, const char **p, size_t *n);
	/* The bytes of the request numbered seq on the connection whose
	 * state this is, valid until its response (they may live in state). */
	void (*request)(void *arg, void *state, uint64_t seq, const char **p, size_t *n);
	/* Bytes from the server while a request is in flight. */
	enum load_feed (*feed)(void *state, const char *p, size_t n, int *err);
};

#endif
