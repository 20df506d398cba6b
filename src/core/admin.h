/*
 * admin.h - the admin API: HTTP + JSON on a Unix socket, served by the
 * control thread.
 */
#ifndef ND_ADMIN_H
#define ND_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "common.h"
#include "list.h"

struct config;
struct daemon;
struct admin;
struct admin_conn;
struct route;
struct route_match;

/* What an endpoint's handler is (struct route's handler). Protocol
 * modules' endpoints live under /pools/POOL/ (params[0] is POOL, a pool
 * of that protocol); each handler answers exactly once. */
typedef void (*admin_handler)(struct admin_conn *ac, const struct route_match *m);

/* One listening admin socket. */
struct admin_sock {
	union {
		uv_stream_t stream;
		uv_pipe_t pipe;		/* the admin socket */
		uv_tcp_t tcp;		/* admin.listen */
	} h;
	struct admin *a;		/* borrowed */
	int nconns;			/* connections open on it */
	bool tcp;			/* a TCP listener (else the Unix socket) */
	bool need_token;		/* TCP: "Authorization: Bearer" required */
	bool read_only;			/* the status listener: the page and GET /api/... only */
	bool open;
	bool warned;			/* "at max_connections" logged since it last was not */
};

struct admin {
	struct admin_sock unix_sock;	/* always */
	struct admin_sock tcp_sock;	/* optional: admin.listen */
	struct admin_sock status_sock;	/* optional: status.bind, read-only */
	struct daemon *d;		/* borrowed */
	char *path;			/* owned; the socket path, unlinked at close */
	char *token;			/* owned copy of admin.token (configs come and go) */
	int max_connections;		/* per socket */
	uint64_t timeout_ms;		/* a connection's whole life */
	struct list conns;		/* struct admin_conn being served */
};

/* Listen on path (a stale socket file is replaced; a live one is an
 * error: another nodown), with c's admin limits (copied). Returns 0 or a
 * negative errno / libuv error, with *why set to a sentence for the
 * operator. Control thread. */
int admin_start(struct admin *a, struct daemon *d, uv_loop_t *loop, const char *path,
		const struct config *c, const char **why) ND_MUST_CHECK;

/* Also listen on TCP addr, where every request must carry
 * "Authorization: Bearer <token>" (token is copied). Returns 0 or a libuv
 * error. */
/* Serve the read-only status page on addr (status.bind): 0 or a libuv error. */
int admin_listen_status(struct admin *a, uv_loop_t *loop, const struct sockaddr_storage *addr) ND_MUST_CHECK;

int admin_listen_tcp(struct admin *a, uv_loop_t *loop, const struct sockaddr_storage *addr,
		     const char *token) ND_MUST_CHECK;

/* Stop listening, close connections, remove the socket file. */
void admin_stop(struct admin *a);

/* The JSON document of GET /status (caller frees). Control thread. */
char *admin_status_json(struct daemon *d);

/* Answer j (taken) with status; an error as {"error": msg}. */
void admin_reply_json(struct admin_conn *ac, int status, json_t *j);
void admin_reply_error(struct admin_conn *ac, int status, const char *msg);

/*
 * A long poll: answer ac with answer(arg) as soon as ready(arg) is true,
 * checked now and at every admin_wait_kick(on), or after ms (bounded
 * below admin.timeout) whatever it says. answer is called exactly once,
 * also when the client leaves first (its JSON then goes nowhere), so it
 * is where arg is released.
 */
struct admin_wait {
	struct list node;		/* on the owner's list */
	struct admin_conn *ac;
	uv_timer_t timer;
	bool (*ready)(void *arg);
	json_t *(*answer)(void *arg);	/* the JSON to send (taken) */
	void *arg;
};

void admin_wait(struct admin_conn *ac, struct list *on, uint64_t ms, bool (*ready)(void *arg),
		json_t *(*answer)(void *arg), void *arg);
/* Something changed: answer the waits on `on` that are ready now. */
void admin_wait_kick(struct list *on);
/* The owner goes: answer every wait on `on` now. */
void admin_wait_drop(struct list *on);

/* True if the request has no query string; else answers 400. */
bool admin_no_query(struct admin_conn *ac, const struct route_match *m);

/* The request's body (NUL-terminated), or NULL when it had none. */
const char *admin_body(const struct admin_conn *ac);

/* The daemon the request is for. */
struct daemon *admin_daemon(const struct admin_conn *ac);

/* The index of the pool called name in the current config; else the
 * request is answered (404, naming the pools there are) and -1. */
int admin_find_pool(struct admin_conn *ac, const char *name);

/* The core's route table, for fuzz/fuzz_admin_route.c. */
const struct route *admin_routes(int *n);

#endif
