/*
 * conf: calcd's configuration — the table of keys, their defaults, the
 * parser for calcd.conf ("key = value" lines, # comments), and which keys
 * a reload may change.  Knows nothing of sockets; listen addresses are
 * kept as validated strings.
 */
#ifndef CALCD_CONF_H
#define CALCD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf_listen.h"

#define CONF_MAX_LISTEN		16
#define CONF_PATH_LEN		256	/* longest path value, with its NUL */
#define CONF_MAX_CONNECTIONS	1000000	/* the most max_connections may be */
#define CONF_TEXT_LEN		512	/* longest free-text value (cipher lists), with its NUL */
#define CONF_MAX_KEYS		64	/* room in struct conf for the line of every key */

/* tls_min_version, stored as the protocol numbers it (RFC 8446, 4.2.1). */
#define CONF_TLS_1_2		0x0303
#define CONF_TLS_1_3		0x0304

struct conf {
	struct conf_listen listen[CONF_MAX_LISTEN];
	unsigned	listen_count;
	unsigned	workers;		/* 0 until resolved; "auto" -> CPUs */
	unsigned	max_connections;	/* 0 until resolved; "auto" -> from RLIMIT_NOFILE */
	uint64_t	idle_timeout_ms;	/* 0 = never */
	uint64_t	max_message_size;	/* bytes */
	uint64_t	max_output_buffer;	/* bytes of unsent replies per connection */
	unsigned	max_nesting_depth;	/* for skipped fields */
	unsigned	calculation_log_size;	/* entries kept for getStruct */
	int		log_level;		/* enum log_level */
	int		log_target;		/* enum log_target */
	uint64_t	shutdown_timeout_ms;	/* then close what is left, exit */
	uint64_t	message_timeout_ms;	/* to finish a message; 0 = never */
	char		pid_file[CONF_PATH_LEN]; /* absolute; "" = none; for -d */
	struct conf_listen metrics_listen;	/* port "" = no metrics endpoint */
	/* TLS (the tls module reads these): absolute paths, "" = not set. */
	char		tls_certificate[CONF_PATH_LEN];	/* PEM: certificate, then chain */
	char		tls_key[CONF_PATH_LEN];		/* PEM key; "": in tls_certificate */
	char		tls_client_ca[CONF_PATH_LEN];	/* set: client certificates required */
	char		tls_client_crl[CONF_PATH_LEN];	/* revoked client certificates */
	unsigned	tls_min_version;		/* CONF_TLS_1_2 or CONF_TLS_1_3 */
	uint64_t	tls_handshake_timeout_ms;
	char		tls_ciphers[CONF_TEXT_LEN];	/* TLS 1.2 cipher list; "": OpenSSL's */
	char		tls_ciphersuites[CONF_TEXT_LEN]; /* TLS 1.3; "": OpenSSL's */
	/* Where each key was set: the line in the file, 0 if not in it (conf_key_line). */
	unsigned	key_line[CONF_MAX_KEYS];
};

/* Whether metrics_listen is set. */
static inline bool
conf_metrics_enabled(const struct conf *conf)
{
	return conf->metrics_listen.port[0] != '\0';
}

/* Defaults, before any file is read. */
void	conf_defaults(struct conf *);

/*
 * Read path into conf (which should hold defaults).  Every error is
 * written to errors as "FILE:LINE: message\n" (all of them, not just the
 * first).  Returns the number of errors; 0 means conf is complete.  A
 * file that can't be opened is one error "FILE: reason".
 */
int	conf_load(struct conf *, const char *path, FILE *errors);

/*
 * The line of the file conf was loaded from that set key (its first line,
 * for listen), or 0 when the file did not set it: for "FILE:LINE" in
 * messages about a value that is checked after loading (a file a path
 * names).  0 for an unknown key too.
 */
unsigned conf_key_line(const struct conf *, const char *key);

/*
 * A reload: for every key that takes effect only after a restart and
 * differs between the configuration in force and next, put the value in
 * force back into next and call report(key name, arg) (if not NULL).
 * Returns how many keys were kept.
 */
unsigned conf_keep_restart_keys(const struct conf *in_force, struct conf *next,
	    void (*report)(const char *key, void *arg), void *arg);

#endif
