/*
 * client.h - how CLI commands reach a running daemon: find its admin
 * socket and make one HTTP request on it.
 */
#ifndef ND_CLI_CLIENT_H
#define ND_CLI_CLIENT_H

#include <jansson.h>

#include "core/common.h"

/*
 * Which admin socket to use: `socket` if given, else the admin.socket of
 * config file `config` if given, else that of ./nodown.yml if it exists,
 * else ./nodown.sock. Returns a malloc'd path, or NULL after printing why
 * (the config file is invalid).
 */
char *client_socket_path(const char *cmd, const char *socket, const char *config);

/*
 * Send `method path` to the daemon on socket path and read the whole
 * response. Returns 0 with *status and *body (malloc'd, NUL-terminated) set,
 * or -1 after printing to stderr what went wrong and what to do.
 */
int client_request(const char *cmd, const char *path, const char *method, const char *target,
		   int *status, char **body) ND_MUST_CHECK;

/* The same with a body (send, NULL for none) sent as JSON. */
int client_request_body(const char *cmd, const char *path, const char *method, const char *target,
			const char *send, int *status, char **body) ND_MUST_CHECK;

/*
 * A request whose answer is JSON: the parsed answer (the caller owns it)
 * and *status, or NULL after printing why (the daemon unreachable, or an
 * answer that is not JSON).
 */
json_t *client_json(const char *cmd, const char *sock, const char *method, const char *target,
		    int *status);

/* The same with a JSON body. */
json_t *client_json_body(const char *cmd, const char *sock, const char *method, const char *target,
			 const json_t *send, int *status);

/* The same where only 200 will do: otherwise the daemon's error is printed
 * ("nodown CMD: ...") and NULL returned. */
json_t *client_json_ok(const char *cmd, const char *sock, const char *method, const char *target);

#endif
