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

struct conf {
	struct conf_listen listen[CONF_MAX_LISTEN];
	unsigned	listen_count;
	unsigned	workers;		/* 0 until resolved; "auto" -> CPUs */
	unsigned	max_connections;
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
 * A reload: for every key that takes effect only after a restart and
 * differs between the configuration in force and next, put the value in
 * force back into next and call report(key name, arg) (if not NULL).
 * Returns how many keys were kept.
 */
unsigned conf_keep_restart_keys(const struct conf *in_force, struct conf *next,
	    void (*report)(const char *key, void *arg), void *arg);

#endif
