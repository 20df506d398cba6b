/*
 * client.c - the CLI side of the admin API: a blocking HTTP/1.1 request
 * over the daemon's Unix socket.
 *
 * Runs in the short-lived CLI process only; blocking I/O with a timeout is
 * the simple and right tool here.
 */
#include "client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config.h"

char *client_socket_path(const char *cmd, const char *socket_path, const char *config)
{
	struct errlist errs = { 0 };
	struct config *cfg;
	char *path;

	if (socket_path)
		return xstrdup(socket_path);
	if (!config && access("nodown.yml", F_OK) != 0)
		return xstrdup("./nodown.sock");
	if (!config)
		config = "nodown.yml";
	if (config_load(config, &cfg, &errs) != 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "nodown %s: cannot read the admin socket path from %s; "
			"fix it or pass --socket PATH\n", cmd, config);
		errlist_free(&errs);
		return NULL;
	}
	path = xstrdup(cfg->admin_socket);
	config_free(cfg);
	return path;
}

static int connect_socket(const char *cmd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "nodown %s: admin socket path too long: %s\n", cmd, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "nodown %s: cannot reach the daemon on admin socket %s: %s\n"
			"  is 'nodown serve' running? Pass --socket PATH, or -c FILE to use that "
			"config's admin.socket.\n", cmd, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int client_request(const char *cmd, const char *path, const char *method, const char *target,
		   int *status, char **body)
{
	return client_request_body(cmd, path, method, target, NULL, status, body);
}

int client_request_body(const char *cmd, const char *path, const char *method, const char *target,
			const char *send, int *status, char **body)
{
	char req[1024], *buf = NULL, *sep;
	size_t len = 0, cap = 0, sl = send ? strlen(send) : 0;
	int fd = connect_socket(cmd, path), n;

	if (fd < 0)
		return -1;
	if (send)
		n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: nodown\r\nConnection: close\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", method, target, sl);
	else
		n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: nodown\r\nConnection: close\r\n\r\n",
			     method, target);
	if (write(fd, req, (size_t)n) != n || (send && write(fd, send, sl) != (ssize_t)sl))
		goto io_error;
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto io_error;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!buf)
		buf = xmalloc(1);
	buf[len] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	if (!sep || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
		fprintf(stderr, "nodown %s: the daemon on %s sent an unreadable answer\n", cmd, path);
		free(buf);
		return -1;
	}
	*body = xstrdup(sep + 4);
	free(buf);
	return 0;
io_error:
	fprintf(stderr, "nodown %s: talking to the daemon on %s failed: %s\n", cmd, path, strerror(errno));
	free(buf);
	close(fd);
	return -1;
}

json_t *client_json(const char *cmd, const char *sock, const char *method, const char *target,
		    int *status)
{
	return client_json_body(cmd, sock, method, target, NULL, status);
}

json_t *client_json_body(const char *cmd, const char *sock, const char *method, const char *target,
			 const json_t *send, int *status)
{
	json_error_t jerr;
	char *body, *text = send ? json_dumps(send, JSON_COMPACT) : NULL;
	json_t *j;
	int r = client_request_body(cmd, sock, method, target, text, status, &body);

	free(text);
	if (r < 0)
		return NULL;
	j = json_loads(body, 0, &jerr);
	if (!j)
		fprintf(stderr, "nodown %s: the daemon's answer is not JSON (%s): %.200s\n", cmd, jerr.text, body);
	free(body);
	return j;
}

json_t *client_json_ok(const char *cmd, const char *sock, const char *method, const char *target)
{
	int status;
	json_t *j = client_json(cmd, sock, method, target, &status);
	const char *e;

	if (!j || status == 200)
		return j;
	e = json_string_value(json_object_get(j, "error"));
	fprintf(stderr, "nodown %s: %s\n", cmd, e ? e : "the daemon refused (no reason given)");
	json_decref(j);
	return NULL;
}
