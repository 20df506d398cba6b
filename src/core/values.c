/*
 * values.c - the syntax of configuration values: durations, sizes and
 * addresses, read strictly (a unit is required, no trailing junk, ports
 * 1-65535), and addresses compared and printed.
 * Runs on: the control thread (addresses resolve through getaddrinfo).
 */
#include "values.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>

int config_parse_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == '\0')
		return v == 0 ? (*ms = 0, 0) : -EINVAL;	/* a unit is required */
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult / 1000)
				return -EINVAL;
			*ms = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1 << 10 }, { "kb", 1 << 10 }, { "kib", 1 << 10 },
		{ "m", 1 << 20 }, { "mb", 1 << 20 }, { "mib", 1 << 20 },
		{ "g", 1 << 30 }, { "gb", 1 << 30 }, { "gib", 1 << 30 },
	};
	char *end, unit[8];
	unsigned long long v;
	size_t i;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || strlen(end) >= sizeof(unit))
		return -EINVAL;
	for (i = 0; end[i]; i++)
		unit[i] = (char)(end[i] >= 'A' && end[i] <= 'Z' ? end[i] + 32 : end[i]);
	unit[i] = '\0';
	for (i = 0; i < ARRAY_LEN(units); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -EINVAL;
			*bytes = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_address(const char *s, struct sockaddr_storage *ss, const char **why)
{
	char host[256];
	const char *colon, *h, *port;
	size_t hl;
	char *end;
	unsigned long p;
	struct addrinfo hints, *res;

	*why = "expected HOST:PORT, for example 127.0.0.1:8080 or [::1]:8080";
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		h = s;
		hl = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host) || !*port)
		return -EINVAL;
	errno = 0;
	p = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || errno || *end || p == 0 || p > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		*why = "host name does not resolve";
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
	return 0;
}

void config_format_address(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

/* Would binding both a and b clash? Same port and same address, or the
 * same port where one of them is the wildcard of its family. */
bool config_addr_clash(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       (x->sin_addr.s_addr == y->sin_addr.s_addr ||
			x->sin_addr.s_addr == htonl(INADDR_ANY) || y->sin_addr.s_addr == htonl(INADDR_ANY));
	} else {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       (!memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) ||
			!memcmp(&x->sin6_addr, &in6addr_any, sizeof(in6addr_any)) ||
			!memcmp(&y->sin6_addr, &in6addr_any, sizeof(in6addr_any)));
	}
}

bool config_same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}
