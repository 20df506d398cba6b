/*
 * admin.h - the admin API: HTTP + JSON on a Unix socket, served by the
 * control thread.
 */
#ifndef ND_ADMIN_H
#define ND_ADMIN_H

#include <stdbool.h>
#include <uv.h>

#include "common.h"
#include "list.h"

struct daemon;

struct admin {
	uv_pipe_t server;		/* listening on the admin socket */
	struct daemon *d;		/* borrowed */
	char *path;			/* owned; the socket path, unlinked at close */
	uv_tcp_t tcp_server;		/* optional: admin.listen */
	const char *token;		/* borrowed from the config; required on tcp_server */
	struct list conns;		/* struct admin_conn being served */
	bool open;
	bool tcp_open;
};

/* Listen on path (a stale socket file is replaced; a live one is an
 * error: another nodown). Returns 0 or a negative errno / libuv error,
 * with *why set to a sentence for the operator. Control thread. */
int admin_start(struct admin *a, struct daemon *d, uv_loop_t *loop, const char *path,
		const char **why) ND_MUST_CHECK;

/* Also listen on TCP addr, where every request must carry
 * "Authorization: Bearer <token>". Returns 0 or a libuv error. */
int admin_listen_tcp(struct admin *a, uv_loop_t *loop, const struct sockaddr_storage *addr,
		     const char *token) ND_MUST_CHECK;

/* Stop listening, close connections, remove the socket file. */
void admin_stop(struct admin *a);

/* The JSON document of GET /status (caller frees). Control thread. */
char *admin_status_json(struct daemon *d);

#endif
