/*
 * health.c - the core's health probe: a TCP connect.
 */
#include "health.h"

const struct probe_type tcp_probe = { .name = "tcp", .keys = &schema_no_keys };
