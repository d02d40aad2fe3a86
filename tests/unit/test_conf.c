/*
 * test_conf: calcd.conf parsing — defaults, every value syntax and its
 * edges, each error with its exact line and message, listen addresses,
 * the keys a reload keeps until a restart, and (when CALCD_CONF names it)
 * the shipped etc/calcd.conf.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

#define K	((uint64_t)1 << 10)
#define M	((uint64_t)1 << 20)
#define G	((uint64_t)1 << 30)

/* One conf_load of some text, with the temp path in errors shown as "calcd.conf". */
struct loaded {
	struct conf	 conf;
	int		 n;
	char		*errs;
};

static char *
write_temp(const char *data, size_t len)
{
	char	 path[] = "/tmp/test_conf.XXXXXX";
	int	 fd;
	size_t	 off = 0;
	ssize_t	 r;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	while (off < len) {
		r = write(fd, data + off, len - off);
		ck_assert_int_gt(r, 0);
		off += (size_t)r;
	}
	ck_assert_int_eq(close(fd), 0);
	return strdup(path);
}

/* Replace every occurrence of path in s by "calcd.conf", so expectations are literal. */
static char *
normalize(const char *s, const char *path)
{
	size_t		 plen = strlen(path);
	char		*out = calloc(1, strlen(s) + 1), *o = out;
	const char	*hit;

	ck_assert_ptr_nonnull(out);
	while ((hit = strstr(s, path)) != NULL) {
		memcpy(o, s, (size_t)(hit - s));
		o += hit - s;
		memcpy(o, "calcd.conf", 10);
		o += 10;
		s = hit + plen;
	}
	strcpy(o, s);
	return out;
}

static void
load_len(struct loaded *l, const char *text, size_t len)
{
	char	*path, *raw = NULL;
	size_t	 rawlen = 0;
	FILE	*errors;

	path = write_temp(text, len);
	errors = open_memstream(&raw, &rawlen);
	ck_assert_ptr_nonnull(errors);
	conf_defaults(&l->conf);
	l->n = conf_load(&l->conf, path, errors);
	fclose(errors);
	l->errs = normalize(raw, path);
	unlink(path);
	free(path);
	free(raw);
}

static void
load(struct loaded *l, const char *text)
{
	load_len(l, text, strlen(text));
}

/* Load "key = value\n" and expect either success or exactly one message. */
static void
load_one(struct loaded *l, const char *key, const char *value,
    const char *want_err)
{
	char	 text[512], want[512];

	snprintf(text, sizeof text, "%s = %s\n", key, value);
	load(l, text);
	if (want_err == NULL) {
		ck_assert_msg(l->n == 0, "%s = %s: %s", key, value, l->errs);
		ck_assert_str_eq(l->errs, "");
	} else {
		snprintf(want, sizeof want, "calcd.conf:1: %s: %s\n", key,
		    want_err);
		ck_assert_msg(l->n == 1, "%s = %s: n=%d", key, value, l->n);
		ck_assert_str_eq(l->errs, want);
	}
}

static void
assert_defaults(const struct conf *c)
{
	ck_assert_uint_eq(c->listen_count, 1);
	ck_assert_str_eq(c->listen[0].host, "");
	ck_assert_str_eq(c->listen[0].port, "9090");
	ck_assert_uint_eq(c->workers, 0);
	ck_assert_uint_eq(c->max_connections, 0);	/* auto */
	ck_assert_uint_eq(c->idle_timeout_ms, 300000);
	ck_assert_uint_eq(c->max_message_size, 16 * M);
	ck_assert_uint_eq(c->max_output_buffer, 1 * M);
	ck_assert_uint_eq(c->max_nesting_depth, 32);
	ck_assert_uint_eq(c->calculation_log_size, 1024);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_NOTICE);
	ck_assert_int_eq(c->log_target, LOG_TARGET_STDERR);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 10000);
	ck_assert_uint_eq(c->message_timeout_ms, 30000);
	ck_assert_str_eq(c->pid_file, "");
}

START_TEST(test_defaults)
{
	struct conf	c;

	memset(&c, 0xa5, sizeof c);
	conf_defaults(&c);
	assert_defaults(&c);
}
END_TEST

START_TEST(test_empty_and_comment_only_files)
{
	struct loaded	l;

	load(&l, "");
	ck_assert_int_eq(l.n, 0);
	ck_assert_str_eq(l.errs, "");
	assert_defaults(&l.conf);
	free(l.errs);

	load(&l, "# nothing\n\n   \t\n  # indented comment\n#listen = 1.2.3.4:5");
	ck_assert_int_eq(l.n, 0);
	ck_assert_str_eq(l.errs, "");
	assert_defaults(&l.conf);
	free(l.errs);
}
END_TEST

START_TEST(test_full_file)
{
	struct loaded	l;

	load(&l,
	    "# calcd test configuration\n"
	    "\n"
	    "listen = 127.0.0.1:7000\n"
	    "listen=[::1]:7001   # v6 loopback\n"
	    "\tlisten\t=\t*:0\t\n"
	    "   \n"
	    "workers = 4   # four\n"
	    "max_connections = 10\r\n"
	    "   idle_timeout = 1500ms\n"
	    "max_message_size = 1MB\t# one megabyte\n"
	    "max_output_buffer = 64k\n"
	    "max_nesting_depth=8\n"
	    "calculation_log_size   =   5\n"
	    "  # indented comment\n"
	    "log_target = syslog\n"
	    "shutdown_timeout = 2m\n"
	    "message_timeout = 0\n"
	    "pid_file = /run/calcd/calcd.pid   # for -d\n"
	    "log_level = debug");	/* last line has no newline */
	ck_assert_int_eq(l.n, 0);
	ck_assert_str_eq(l.errs, "");
	ck_assert_uint_eq(l.conf.listen_count, 3);
	ck_assert_str_eq(l.conf.listen[0].host, "127.0.0.1");
	ck_assert_str_eq(l.conf.listen[0].port, "7000");
	ck_assert_str_eq(l.conf.listen[1].host, "::1");
	ck_assert_str_eq(l.conf.listen[1].port, "7001");
	ck_assert_str_eq(l.conf.listen[2].host, "");
	ck_assert_str_eq(l.conf.listen[2].port, "0");
	ck_assert_uint_eq(l.conf.workers, 4);
	ck_assert_uint_eq(l.conf.max_connections, 10);
	ck_assert_uint_eq(l.conf.idle_timeout_ms, 1500);
	ck_assert_uint_eq(l.conf.max_message_size, 1 * M);
	ck_assert_uint_eq(l.conf.max_output_buffer, 64 * K);
	ck_assert_uint_eq(l.conf.max_nesting_depth, 8);
	ck_assert_uint_eq(l.conf.calculation_log_size, 5);
	ck_assert_int_eq(l.conf.log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(l.conf.log_target, LOG_TARGET_SYSLOG);
	ck_assert_uint_eq(l.conf.shutdown_timeout_ms, 120000);
	ck_assert_uint_eq(l.conf.message_timeout_ms, 0);
	ck_assert_str_eq(l.conf.pid_file, "/run/calcd/calcd.pid");
	free(l.errs);
}
END_TEST

struct value_case {
	const char	*value;
	uint64_t	 want;
	const char	*err;		/* NULL: must parse to want */
};

START_TEST(test_sizes)
{
	static const struct value_case cases[] = {
		{ "64", 64, NULL },
		{ "63", 0, "value out of range (64 .. 1G)" },
		{ "0", 0, "value out of range (64 .. 1G)" },
		{ "4K", 4 * K, NULL },
		{ "4k", 4 * K, NULL },
		{ "4KB", 4 * K, NULL },
		{ "4kb", 4 * K, NULL },
		{ "4Kb", 4 * K, NULL },
		{ "16M", 16 * M, NULL },
		{ "16MB", 16 * M, NULL },
		{ "16mb", 16 * M, NULL },
		{ "1G", G, NULL },
		{ "1gB", G, NULL },
		{ "1073741824", G, NULL },
		{ "1073741825", 0, "value out of range (64 .. 1G)" },
		{ "1025M", 0, "value out of range (64 .. 1G)" },
		{ "1048576K", G, NULL },
		{ "2G", 0, "value out of range (64 .. 1G)" },
		{ "16Q", 0, "invalid size '16Q'" },
		{ "16 M", 0, "invalid size '16 M'" },
		{ "16MBB", 0, "invalid size '16MBB'" },
		{ "16B", 0, "invalid size '16B'" },
		{ "16KiB", 0, "invalid size '16KiB'" },
		{ "M", 0, "invalid size 'M'" },
		{ "0x40", 0, "invalid size '0x40'" },
		{ "+64", 0, "invalid size '+64'" },
		{ "1.5M", 0, "invalid size '1.5M'" },
		{ "-1", 0, "negative value '-1'" },
		{ "-4K", 0, "negative value '-4K'" },
	};
	struct loaded	l;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_one(&l, "max_message_size", cases[i].value, cases[i].err);
		ck_assert_uint_eq(l.conf.max_message_size,
		    cases[i].err == NULL ? cases[i].want : 16 * M);
		free(l.errs);
	}

	/* The other size key has its own bounds. */
	load_one(&l, "max_output_buffer", "4K", NULL);
	ck_assert_uint_eq(l.conf.max_output_buffer, 4 * K);
	free(l.errs);
	load_one(&l, "max_output_buffer", "4095",
	    "value out of range (4K .. 1G)");
	free(l.errs);
	load_one(&l, "max_output_buffer", "1GB", NULL);
	ck_assert_uint_eq(l.conf.max_output_buffer, G);
	free(l.errs);
	load_one(&l, "max_output_buffer", "1073741825",
	    "value out of range (4K .. 1G)");
	free(l.errs);
}
END_TEST

START_TEST(test_durations)
{
	static const struct value_case cases[] = {
		{ "0", 0, NULL },
		{ "0ms", 0, NULL },
		{ "0h", 0, NULL },
		{ "1", 1000, NULL },
		{ "300", 300000, NULL },
		{ "1ms", 1, NULL },
		{ "1500ms", 1500, NULL },
		{ "45s", 45000, NULL },
		{ "2m", 120000, NULL },
		{ "2M", 120000, NULL },
		{ "1h", 3600000, NULL },
		{ "24h", 86400000, NULL },
		{ "1440m", 86400000, NULL },
		{ "86400", 86400000, NULL },
		{ "86400000ms", 86400000, NULL },
		{ "86400001ms", 0, "value out of range (0 .. 24h)" },
		{ "86401", 0, "value out of range (0 .. 24h)" },
		{ "25h", 0, "value out of range (0 .. 24h)" },
		{ "5x", 0, "invalid duration '5x'" },
		{ "1.5s", 0, "invalid duration '1.5s'" },
		{ "s", 0, "invalid duration 's'" },
		{ "5 s", 0, "invalid duration '5 s'" },
		{ "5sec", 0, "invalid duration '5sec'" },
		{ "never", 0, "invalid duration 'never'" },
		{ "-5s", 0, "negative value '-5s'" },
	};
	struct loaded	l;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_one(&l, "idle_timeout", cases[i].value, cases[i].err);
		ck_assert_uint_eq(l.conf.idle_timeout_ms,
		    cases[i].err == NULL ? cases[i].want : 300000);
		free(l.errs);
	}
}
END_TEST

START_TEST(test_counts)
{
	struct loaded	l;

	load_one(&l, "max_connections", "1", NULL);
	ck_assert_uint_eq(l.conf.max_connections, 1);
	free(l.errs);
	load_one(&l, "max_connections", "1000000", NULL);
	ck_assert_uint_eq(l.conf.max_connections, 1000000);
	free(l.errs);
	load_one(&l, "max_connections", "007", NULL);
	ck_assert_uint_eq(l.conf.max_connections, 7);
	free(l.errs);
	load_one(&l, "max_connections", "0", "value out of range (1 .. 1000000, or auto)");
	ck_assert_uint_eq(l.conf.max_connections, 0);
	free(l.errs);
	load_one(&l, "max_connections", "1000001",
	    "value out of range (1 .. 1000000, or auto)");
	free(l.errs);
	load_one(&l, "max_connections", "auto", NULL);
	ck_assert_uint_eq(l.conf.max_connections, 0);
	free(l.errs);
	load_one(&l, "max_connections", "Auto", NULL);
	ck_assert_uint_eq(l.conf.max_connections, 0);
	free(l.errs);
	load_one(&l, "max_connections", "abc", "invalid number 'abc'");
	free(l.errs);
	load_one(&l, "max_connections", "12abc", "invalid number '12abc'");
	free(l.errs);
	load_one(&l, "max_connections", "1K", "invalid number '1K'");
	free(l.errs);
	load_one(&l, "max_connections", "+5", "invalid number '+5'");
	free(l.errs);
	load_one(&l, "max_connections", "5 5", "invalid number '5 5'");
	free(l.errs);
	load_one(&l, "max_connections", "-1", "negative value '-1'");
	free(l.errs);
	load_one(&l, "max_connections", "-", "invalid number '-'");
	free(l.errs);

	load_one(&l, "workers", "auto", NULL);
	ck_assert_uint_eq(l.conf.workers, 0);
	free(l.errs);
	load_one(&l, "workers", "AUTO", NULL);
	ck_assert_uint_eq(l.conf.workers, 0);
	free(l.errs);
	load_one(&l, "workers", "1", NULL);
	ck_assert_uint_eq(l.conf.workers, 1);
	free(l.errs);
	load_one(&l, "workers", "256", NULL);
	ck_assert_uint_eq(l.conf.workers, 256);
	free(l.errs);
	load_one(&l, "workers", "0", "value out of range (1 .. 256, or auto)");
	free(l.errs);
	load_one(&l, "workers", "257", "value out of range (1 .. 256, or auto)");
	free(l.errs);
	load_one(&l, "workers", "automatic", "invalid number 'automatic'");
	free(l.errs);

	load_one(&l, "max_nesting_depth", "64", NULL);
	ck_assert_uint_eq(l.conf.max_nesting_depth, 64);
	free(l.errs);
	load_one(&l, "max_nesting_depth", "65", "value out of range (1 .. 64)");
	free(l.errs);
	load_one(&l, "max_nesting_depth", "0", "value out of range (1 .. 64)");
	free(l.errs);

	load_one(&l, "calculation_log_size", "1", NULL);
	ck_assert_uint_eq(l.conf.calculation_log_size, 1);
	free(l.errs);
	load_one(&l, "calculation_log_size", "1000000", NULL);
	ck_assert_uint_eq(l.conf.calculation_log_size, 1000000);
	free(l.errs);
	load_one(&l, "calculation_log_size", "0",
	    "value out of range (1 .. 1000000)");
	free(l.errs);
}
END_TEST

START_TEST(test_log_level)
{
	static const struct {
		const char	*name;
		int		 level;
	} cases[] = {
		{ "error", LOG_LEVEL_ERROR },
		{ "warning", LOG_LEVEL_WARNING },
		{ "notice", LOG_LEVEL_NOTICE },
		{ "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	struct loaded	l;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_one(&l, "log_level", cases[i].name, NULL);
		ck_assert_int_eq(l.conf.log_level, cases[i].level);
		free(l.errs);
	}
	load_one(&l, "log_level", "loud",
	    "unknown level 'loud' (error|warning|notice|info|debug)");
	ck_assert_int_eq(l.conf.log_level, LOG_LEVEL_NOTICE);
	free(l.errs);
	load_one(&l, "log_level", "3",
	    "unknown level '3' (error|warning|notice|info|debug)");
	free(l.errs);
}
END_TEST

START_TEST(test_shutdown_timeout)
{
	static const struct value_case cases[] = {
		{ "0", 0, NULL },
		{ "0s", 0, NULL },
		{ "1ms", 1, NULL },
		{ "10", 10000, NULL },
		{ "10s", 10000, NULL },
		{ "90s", 90000, NULL },
		{ "60m", 3600000, NULL },
		{ "1h", 3600000, NULL },
		{ "3600", 3600000, NULL },
		{ "3600000ms", 3600000, NULL },
		{ "3600001ms", 0, "value out of range (0 .. 1h)" },
		{ "3601", 0, "value out of range (0 .. 1h)" },
		{ "61m", 0, "value out of range (0 .. 1h)" },
		{ "2h", 0, "value out of range (0 .. 1h)" },
		{ "24h", 0, "value out of range (0 .. 1h)" },
		{ "18446744073709551615ms", 0, "value out of range (0 .. 1h)" },
		{ "18446744073709552", 0, "value too large" },
		{ "10 s", 0, "invalid duration '10 s'" },
		{ "1.5s", 0, "invalid duration '1.5s'" },
		{ "forever", 0, "invalid duration 'forever'" },
		{ "-1", 0, "negative value '-1'" },
	};
	struct loaded	l;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_one(&l, "shutdown_timeout", cases[i].value, cases[i].err);
		ck_assert_uint_eq(l.conf.shutdown_timeout_ms,
		    cases[i].err == NULL ? cases[i].want : 10000);
		free(l.errs);
	}
}
END_TEST

START_TEST(test_message_timeout)
{
	static const struct value_case cases[] = {
		{ "0", 0, NULL },	/* never */
		{ "0ms", 0, NULL },
		{ "1ms", 1, NULL },
		{ "250ms", 250, NULL },
		{ "30", 30000, NULL },
		{ "30s", 30000, NULL },
		{ "5m", 300000, NULL },
		{ "24h", 86400000, NULL },
		{ "1440m", 86400000, NULL },
		{ "86400000ms", 86400000, NULL },
		{ "86400001ms", 0, "value out of range (0 .. 24h)" },
		{ "86401", 0, "value out of range (0 .. 24h)" },
		{ "25h", 0, "value out of range (0 .. 24h)" },
		{ "never", 0, "invalid duration 'never'" },
		{ "30sec", 0, "invalid duration '30sec'" },
		{ "-30s", 0, "negative value '-30s'" },
	};
	struct loaded	l;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_one(&l, "message_timeout", cases[i].value, cases[i].err);
		ck_assert_uint_eq(l.conf.message_timeout_ms,
		    cases[i].err == NULL ? cases[i].want : 30000);
		free(l.errs);
	}

	/* Independent of idle_timeout, either way round. */
	load(&l, "idle_timeout = 5s\nmessage_timeout = 1h\n");
	ck_assert_int_eq(l.n, 0);
	ck_assert_uint_eq(l.conf.idle_timeout_ms, 5000);
	ck_assert_uint_eq(l.conf.message_timeout_ms, 3600000);
	free(l.errs);
	load(&l, "message_timeout = 2s\n");
	ck_assert_int_eq(l.n, 0);
	ck_assert_uint_eq(l.conf.idle_timeout_ms, 300000);
	ck_assert_uint_eq(l.conf.message_timeout_ms, 2000);
	free(l.errs);
}
END_TEST

START_TEST(test_log_target)
{
	static const struct {
		const char	*name;
		int		 target;
	} cases[] = {
		{ "stderr", LOG_TARGET_STDERR },
		{ "syslog", LOG_TARGET_SYSLOG },
		{ "SYSLOG", LOG_TARGET_SYSLOG },
		{ "Stderr", LOG_TARGET_STDERR },
	};
	static const char *const bad[] = {
		"journal", "file", "/var/log/calcd.log", "stdout", "0", "1",
		"syslog,stderr", "sys log",
	};
	struct loaded	l;
	char		want[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_one(&l, "log_target", cases[i].name, NULL);
		ck_assert_int_eq(l.conf.log_target, cases[i].target);
		free(l.errs);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(want, sizeof want,
		    "unknown target '%s' (stderr|syslog)", bad[i]);
		load_one(&l, "log_target", bad[i], want);
		ck_assert_int_eq(l.conf.log_target, LOG_TARGET_STDERR);
		free(l.errs);
	}
	load_one(&l, "log_target", "", "empty value");
	free(l.errs);
}
END_TEST

START_TEST(test_pid_file)
{
	static const struct {
		const char	*value, *want;
	} good[] = {
		{ "/run/calcd.pid", "/run/calcd.pid" },
		{ "/run/calcd/calcd.pid", "/run/calcd/calcd.pid" },
		{ "/var/run/calcd.pid", "/var/run/calcd.pid" },
		{ "/tmp/with space.pid", "/tmp/with space.pid" },
		/* No blank before '#': part of the path, not a comment. */
		{ "/run/calcd.pid#1", "/run/calcd.pid#1" },
		{ "//run//calcd.pid", "//run//calcd.pid" },
	};
	static const char *const relative[] = {
		"calcd.pid", "run/calcd.pid", "./calcd.pid", "../calcd.pid",
		"~/calcd.pid", "none", " ", "\"/run/calcd.pid\"",
	};
	struct loaded	l;
	char		text[2 * CONF_PATH_LEN], path[CONF_PATH_LEN + 2];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		load_one(&l, "pid_file", good[i].value, NULL);
		ck_assert_str_eq(l.conf.pid_file, good[i].want);
		free(l.errs);
	}
	for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
		/* " " trims to nothing, so it is empty, not relative. */
		load_one(&l, "pid_file", relative[i],
		    strcmp(relative[i], " ") == 0 ? "empty value" :
		    "must be an absolute path");
		ck_assert_str_eq(l.conf.pid_file, "");
		free(l.errs);
	}

	/* Trailing space and comments are trimmed off the path. */
	load(&l, "pid_file =   /run/calcd.pid \t # pid for -d\n");
	ck_assert_int_eq(l.n, 0);
	ck_assert_str_eq(l.conf.pid_file, "/run/calcd.pid");
	free(l.errs);

	/* 255 bytes fit with the NUL; 256 do not. */
	path[0] = '/';
	memset(path + 1, 'p', CONF_PATH_LEN - 2);
	path[CONF_PATH_LEN - 1] = '\0';
	ck_assert_uint_eq(strlen(path), CONF_PATH_LEN - 1);
	load_one(&l, "pid_file", path, NULL);
	ck_assert_str_eq(l.conf.pid_file, path);
	free(l.errs);
	path[CONF_PATH_LEN - 1] = 'p';
	path[CONF_PATH_LEN] = '\0';
	snprintf(text, sizeof text, "# long\npid_file = %s\n", path);
	load(&l, text);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.errs, "calcd.conf:2: pid_file: path too long\n");
	ck_assert_str_eq(l.conf.pid_file, "");
	free(l.errs);

	/* Relative is the first complaint, however long. */
	path[0] = 'p';
	load_one(&l, "pid_file", path, "must be an absolute path");
	free(l.errs);

	/* A bad line leaves an earlier good one alone (and is a duplicate). */
	load(&l, "pid_file = /run/a.pid\npid_file = b.pid\n");
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.errs,
	    "calcd.conf:2: pid_file: duplicate key (first set on line 1)\n");
	ck_assert_str_eq(l.conf.pid_file, "/run/a.pid");
	free(l.errs);
}
END_TEST

START_TEST(test_new_keys_errors)
{
	struct loaded	l;

	load(&l,
	    "# the keys added for shutdown, timeouts and daemonizing\n"	/* 1 */
	    "shutdown_timeout = 2h\n"				/* 2 */
	    "message_timeout = 1d\n"				/* 3 */
	    "log_target = journald\n"				/* 4 */
	    "pid_file = calcd.pid\n"				/* 5 */
	    "pid_file =\n"					/* 6 */
	    "log_target =   # nothing\n"			/* 7 */
	    "shutdown_timeout = 5s\n"				/* 8 */
	    "message_timeout = -1\n"				/* 9 */
	    "pid_file = /run/calcd.pid\n"			/* 10 */
	    "shutdown_timeout = 6s\n"				/* 11 */
	    "pidfile = /run/calcd.pid\n"			/* 12 */
	    "log_target = syslog\n");				/* 13 */
	ck_assert_str_eq(l.errs,
	    "calcd.conf:2: shutdown_timeout: value out of range (0 .. 1h)\n"
	    "calcd.conf:3: message_timeout: invalid duration '1d'\n"
	    "calcd.conf:4: log_target: unknown target 'journald' "
	    "(stderr|syslog)\n"
	    "calcd.conf:5: pid_file: must be an absolute path\n"
	    "calcd.conf:6: pid_file: duplicate key (first set on line 5)\n"
	    "calcd.conf:7: log_target: duplicate key (first set on line 4)\n"
	    "calcd.conf:8: shutdown_timeout: duplicate key "
	    "(first set on line 2)\n"
	    "calcd.conf:9: message_timeout: duplicate key "
	    "(first set on line 3)\n"
	    "calcd.conf:10: pid_file: duplicate key (first set on line 5)\n"
	    "calcd.conf:11: shutdown_timeout: duplicate key "
	    "(first set on line 2)\n"
	    "calcd.conf:12: unknown key 'pidfile'\n"
	    "calcd.conf:13: log_target: duplicate key (first set on line 4)\n");
	ck_assert_int_eq(l.n, 12);
	/* A bad first line still counts as the one; defaults stay. */
	ck_assert_uint_eq(l.conf.shutdown_timeout_ms, 10000);
	ck_assert_uint_eq(l.conf.message_timeout_ms, 30000);
	ck_assert_int_eq(l.conf.log_target, LOG_TARGET_STDERR);
	ck_assert_str_eq(l.conf.pid_file, "");
	free(l.errs);

	/* Each on its own: empty values are errors like everywhere else. */
	load(&l, "shutdown_timeout =\nmessage_timeout=\npid_file = \n");
	ck_assert_str_eq(l.errs,
	    "calcd.conf:1: shutdown_timeout: empty value\n"
	    "calcd.conf:2: message_timeout: empty value\n"
	    "calcd.conf:3: pid_file: empty value\n");
	ck_assert_int_eq(l.n, 3);
	free(l.errs);
}
END_TEST

START_TEST(test_overflow)
{
	struct loaded	l;

	/* UINT64_MAX itself parses, then fails the bounds. */
	load_one(&l, "max_connections", "18446744073709551615",
	    "value out of range (1 .. 1000000, or auto)");
	free(l.errs);
	load_one(&l, "max_connections", "18446744073709551616",
	    "value too large");
	free(l.errs);
	load_one(&l, "max_connections", "99999999999999999999",
	    "value too large");
	free(l.errs);
	load_one(&l, "max_connections",
	    "999999999999999999999999999999999999999999999999",
	    "value too large");
	free(l.errs);
	load_one(&l, "workers", "4294967297", "value out of range (1 .. 256, or auto)");
	free(l.errs);
	load_one(&l, "max_message_size", "99999999999999999999G",
	    "value too large");
	free(l.errs);
	/* 2^34 G is 2^64: one past the end. */
	load_one(&l, "max_message_size", "17179869183G",
	    "value out of range (64 .. 1G)");
	free(l.errs);
	load_one(&l, "max_message_size", "17179869184G", "value too large");
	free(l.errs);
	load_one(&l, "max_message_size", "18014398509481984K",
	    "value too large");
	free(l.errs);
	load_one(&l, "idle_timeout", "5124095576030h",
	    "value out of range (0 .. 24h)");
	free(l.errs);
	load_one(&l, "idle_timeout", "5124095576031h", "value too large");
	free(l.errs);
	load_one(&l, "idle_timeout", "18446744073709551s",
	    "value out of range (0 .. 24h)");
	free(l.errs);
	load_one(&l, "idle_timeout", "18446744073709552", "value too large");
	free(l.errs);
	load_one(&l, "idle_timeout", "18446744073709551615ms",
	    "value out of range (0 .. 24h)");
	free(l.errs);
	/* A bad suffix is reported as such even on a huge number. */
	load_one(&l, "max_message_size", "99999999999999999999Q",
	    "invalid size '99999999999999999999Q'");
	free(l.errs);
}
END_TEST

START_TEST(test_every_error_kind)
{
	struct loaded	l;

	load(&l,
	    "# errors on purpose\n"				/* 1 */
	    "listn = *:1\n"					/* 2 */
	    "max_connections = abc\n"				/* 3 */
	    "workers = 2\n"					/* 4 */
	    "workers = 3\n"					/* 5 */
	    "just some words\n"					/* 6 */
	    "= 5\n"						/* 7 */
	    "max_message_size = 32\n"				/* 8 */
	    "idle_timeout =\n"					/* 9 */
	    "max_output_buffer = -1\n"				/* 10 */
	    "max_nesting_depth = 99999999999999999999\n"	/* 11 */
	    "log_level = loud\n"				/* 12 */
	    "listen = 9090\n"					/* 13 */
	    "calculation_log_size = 7 # fine\n"			/* 14 */
	    "Workers = 1\n"					/* 15 */
	    "   =   \n"						/* 16 */
	    "max connections = 5\n");				/* 17 */
	ck_assert_str_eq(l.errs,
	    "calcd.conf:2: unknown key 'listn'\n"
	    "calcd.conf:3: max_connections: invalid number 'abc'\n"
	    "calcd.conf:5: workers: duplicate key (first set on line 4)\n"
	    "calcd.conf:6: expected 'key = value'\n"
	    "calcd.conf:7: expected 'key = value'\n"
	    "calcd.conf:8: max_message_size: value out of range (64 .. 1G)\n"
	    "calcd.conf:9: idle_timeout: empty value\n"
	    "calcd.conf:10: max_output_buffer: negative value '-1'\n"
	    "calcd.conf:11: max_nesting_depth: value too large\n"
	    "calcd.conf:12: log_level: unknown level 'loud' "
	    "(error|warning|notice|info|debug)\n"
	    "calcd.conf:13: listen: invalid address '9090': missing ':PORT'\n"
	    "calcd.conf:15: unknown key 'Workers'\n"
	    "calcd.conf:16: expected 'key = value'\n"
	    "calcd.conf:17: unknown key 'max connections'\n");
	ck_assert_int_eq(l.n, 14);
	/* Good lines still apply; bad ones leave the default; first wins. */
	ck_assert_uint_eq(l.conf.workers, 2);
	ck_assert_uint_eq(l.conf.calculation_log_size, 7);
	ck_assert_uint_eq(l.conf.max_connections, 0);	/* the default, auto */
	ck_assert_uint_eq(l.conf.max_message_size, 16 * M);
	ck_assert_uint_eq(l.conf.idle_timeout_ms, 300000);
	ck_assert_int_eq(l.conf.log_level, LOG_LEVEL_NOTICE);
	free(l.errs);
}
END_TEST

START_TEST(test_comments_and_empty_values)
{
	struct loaded	l;

	/* '#' only starts a comment at line start or after blank space. */
	load(&l,
	    "workers = 4#x\n"
	    "max_connections = # nothing left\n"
	    "log_level = info\t#\ttab before\n"
	    "max_nesting_depth = 9 #\n"
	    "   #listen = 1.2.3.4:5\n"
	    "idle_timeout = 10s#\n");
	ck_assert_str_eq(l.errs,
	    "calcd.conf:1: workers: invalid number '4#x'\n"
	    "calcd.conf:2: max_connections: empty value\n"
	    "calcd.conf:6: idle_timeout: invalid duration '10s#'\n");
	ck_assert_int_eq(l.n, 3);
	ck_assert_int_eq(l.conf.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(l.conf.max_nesting_depth, 9);
	ck_assert_uint_eq(l.conf.listen_count, 1);
	ck_assert_str_eq(l.conf.listen[0].port, "9090");
	free(l.errs);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	static const struct {
		const char	*key;
		const char	*value;
	} keys[] = {
		{ "workers", "2" },
		{ "max_connections", "5" },
		{ "idle_timeout", "5s" },
		{ "max_message_size", "1K" },
		{ "max_output_buffer", "8K" },
		{ "max_nesting_depth", "3" },
		{ "calculation_log_size", "3" },
		{ "log_level", "info" },
		{ "log_target", "syslog" },
		{ "shutdown_timeout", "1s" },
		{ "message_timeout", "1s" },
		{ "pid_file", "/run/calcd.pid" },
	};
	struct loaded	l;
	char		text[256], want[256];

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(text, sizeof text,
		    "# dup\n%s = %s\n\n%s = %s\n%s=%s\n", keys[i].key,
		    keys[i].value, keys[i].key, keys[i].value, keys[i].key,
		    keys[i].value);
		snprintf(want, sizeof want,
		    "calcd.conf:4: %s: duplicate key (first set on line 2)\n"
		    "calcd.conf:5: %s: duplicate key (first set on line 2)\n",
		    keys[i].key, keys[i].key);
		load(&l, text);
		ck_assert_int_eq(l.n, 2);
		ck_assert_str_eq(l.errs, want);
		free(l.errs);
	}
}
END_TEST

START_TEST(test_listen_replaces_default)
{
	struct loaded	l;

	load(&l, "workers = 1\nlisten = 127.0.0.1:0\nlisten = [::1]:0\n");
	ck_assert_int_eq(l.n, 0);
	ck_assert_uint_eq(l.conf.listen_count, 2);
	ck_assert_str_eq(l.conf.listen[0].host, "127.0.0.1");
	ck_assert_str_eq(l.conf.listen[0].port, "0");
	ck_assert_str_eq(l.conf.listen[1].host, "::1");
	ck_assert_str_eq(l.conf.listen[1].port, "0");
	free(l.errs);

	/* Naming the default explicitly keeps exactly one entry. */
	load(&l, "listen = *:9090\n");
	ck_assert_int_eq(l.n, 0);
	ck_assert_uint_eq(l.conf.listen_count, 1);
	ck_assert_str_eq(l.conf.listen[0].host, "");
	ck_assert_str_eq(l.conf.listen[0].port, "9090");
	free(l.errs);
}
END_TEST

START_TEST(test_listen_limit)
{
	struct loaded	 l;
	char		 text[64 * (CONF_MAX_LISTEN + 2)], *p = text;

	for (int i = 0; i < CONF_MAX_LISTEN; i++)
		p += sprintf(p, "listen = 127.0.0.1:%d\n", 7000 + i);
	load(&l, text);
	ck_assert_int_eq(l.n, 0);
	ck_assert_uint_eq(l.conf.listen_count, CONF_MAX_LISTEN);
	ck_assert_str_eq(l.conf.listen[CONF_MAX_LISTEN - 1].port, "7015");
	free(l.errs);

	p += sprintf(p, "listen = 127.0.0.1:8000\n");
	p += sprintf(p, "listen = 127.0.0.1:8001\n");
	load(&l, text);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.errs,
	    "calcd.conf:17: listen: too many addresses (at most 16)\n"
	    "calcd.conf:18: listen: too many addresses (at most 16)\n");
	ck_assert_uint_eq(l.conf.listen_count, CONF_MAX_LISTEN);
	free(l.errs);
}
END_TEST

START_TEST(test_parse_listen_good)
{
	static const struct {
		const char	*text, *host, *port, *formatted;
	} cases[] = {
		{ "*:9090", "", "9090", "*:9090" },
		{ "127.0.0.1:0", "127.0.0.1", "0", "127.0.0.1:0" },
		{ "[::1]:9090", "::1", "9090", "[::1]:9090" },
		{ "localhost:80", "localhost", "80", "localhost:80" },
		{ "[::]:65535", "::", "65535", "[::]:65535" },
		{ "[fe80::1%eth0]:9090", "fe80::1%eth0", "9090",
		  "[fe80::1%eth0]:9090" },
		{ "[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", "1",
		  "[::ffff:10.0.0.1]:1" },
		{ "calc-1.example.com:00080", "calc-1.example.com", "80",
		  "calc-1.example.com:80" },
	};
	struct conf_listen	l;
	char			buf[CONF_LISTEN_LEN + 16];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = conf_parse_listen(cases[i].text, &l);

		ck_assert_msg(why == NULL, "%s: %s", cases[i].text, why);
		ck_assert_str_eq(l.host, cases[i].host);
		ck_assert_str_eq(l.port, cases[i].port);
		conf_format_listen(&l, buf, sizeof buf);
		ck_assert_str_eq(buf, cases[i].formatted);
	}
}
END_TEST

START_TEST(test_parse_listen_bad)
{
	static const struct {
		const char	*text, *why;
	} cases[] = {
		{ "9090", "missing ':PORT'" },
		{ ":9090", "missing host (use '*' for all addresses)" },
		{ "[::1", "missing ']' after IPv6 address" },
		{ "::1:9090", "IPv6 address must be in brackets" },
		{ "host:99999", "port out of range (0 .. 65535)" },
		{ "host:65536", "port out of range (0 .. 65535)" },
		{ "host:123456789012345678901234567890",
		  "port out of range (0 .. 65535)" },
		/* 2^64 + 80: a wrapping parser would take it as 80. */
		{ "host:18446744073709551696", "port out of range (0 .. 65535)" },
		{ "host:-1", "port is not a decimal number" },
		{ "host:80x", "port is not a decimal number" },
		{ "host: 80", "port is not a decimal number" },
		{ "host:", "missing port" },
		{ "[::1]:", "missing port" },
		{ "*:", "missing port" },
		{ "[]:1", "empty IPv6 address in brackets" },
		{ "", "empty address" },
		{ "[::1]9090", "expected ':PORT' after ']'" },
		{ "[::1]", "expected ':PORT' after ']'" },
		{ "[zz]:1", "invalid IPv6 address in brackets" },
		{ "[127.0.0.1]:1", "invalid IPv6 address in brackets" },
		{ "[fe80::1%]:1", "invalid IPv6 address in brackets" },
		{ "[*]:1", "invalid IPv6 address in brackets" },
		{ "*x:1", "invalid character in host name" },
		{ "ho st:1", "invalid character in host name" },
		{ "host/24:1", "invalid character in host name" },
	};
	struct conf_listen	l, before;
	char			long_host[CONF_LISTEN_LEN + 16];

	memset(&before, 'z', sizeof before);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why;

		l = before;
		why = conf_parse_listen(cases[i].text, &l);
		ck_assert_msg(why != NULL, "'%s' accepted", cases[i].text);
		ck_assert_str_eq(why, cases[i].why);
		/* out is left alone on error. */
		ck_assert(memcmp(&l, &before, sizeof l) == 0);
	}

	/* The host must fit struct conf_listen with its NUL: 127 bytes. */
	memset(long_host, 'a', CONF_LISTEN_LEN);
	strcpy(long_host + CONF_LISTEN_LEN, ":1");
	ck_assert_str_eq(conf_parse_listen(long_host, &l), "host name too long");
	strcpy(long_host + CONF_LISTEN_LEN - 1, ":1");
	ck_assert_ptr_null(conf_parse_listen(long_host, &l));
	ck_assert_uint_eq(strlen(l.host), CONF_LISTEN_LEN - 1);
}
END_TEST

START_TEST(test_parse_listen_proxy)
{
	static const struct {
		const char	*text, *host, *port;
		bool		 proxy;
	} good[] = {
		{ "10.0.0.5:9091 proxy", "10.0.0.5", "9091", true },
		{ "10.0.0.5:9091", "10.0.0.5", "9091", false },
		{ "*:9090\tproxy", "", "9090", true },
		{ "[::1]:9090   proxy", "::1", "9090", true },
		{ "calc-1.example.com:80 proxy", "calc-1.example.com", "80", true },
		/* Blank space after the word is not an option. */
		{ "127.0.0.1:0 proxy ", "127.0.0.1", "0", true },
	};
	static const struct {
		const char	*text, *why;
	} bad[] = {
		{ "10.0.0.5:9091 proxy proxy", "'proxy' given twice" },
		{ "10.0.0.5:9091 PROXY",
		  "unknown word after the address (the options are 'proxy' and 'tls')" },
		{ "10.0.0.5:9091 proxi",
		  "unknown word after the address (the options are 'proxy' and 'tls')" },
		{ "10.0.0.5:9091 send proxy",
		  "unknown word after the address (the options are 'proxy' and 'tls')" },
		/* The address is still checked as ever: no word hides a bad one. */
		{ "proxy", "missing ':PORT'" },
		{ "10.0.0.5 proxy", "missing ':PORT'" },
		{ "10.0.0.5: proxy", "missing port" },
		{ "host: 80 proxy", "port is not a decimal number" },
		{ "10.0.0.5:9091 proxy 1", "port is not a decimal number" },
		{ " 10.0.0.5:9091 proxy", "invalid character in host name" },
		{ "", "empty address" },
	};
	struct conf_listen	l, before;
	char			buf[CONF_LISTEN_LEN + 16];
	char			huge[CONF_LISTEN_LEN * 8];
	struct loaded		f;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *why;

		memset(&l, 'z', sizeof l);
		why = conf_parse_listen(good[i].text, &l);
		ck_assert_msg(why == NULL, "'%s': %s", good[i].text, why);
		ck_assert_str_eq(l.host, good[i].host);
		ck_assert_str_eq(l.port, good[i].port);
		ck_assert_msg(l.proxy == good[i].proxy, "'%s': proxy %d", good[i].text, l.proxy);
		/* The formatted address leaves options out (logs add them). */
		conf_format_listen(&l, buf, sizeof buf);
		ck_assert_ptr_null(strstr(buf, "proxy"));
	}
	memset(&before, 'z', sizeof before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why;

		l = before;
		why = conf_parse_listen(bad[i].text, &l);
		ck_assert_msg(why != NULL, "'%s' accepted", bad[i].text);
		ck_assert_str_eq(why, bad[i].why);
		ck_assert(memcmp(&l, &before, sizeof l) == 0);
	}
	/* An address past any host name's length is refused, not cut. */
	memset(huge, 'a', sizeof huge - 10);
	strcpy(huge + sizeof huge - 10, ":1 proxy");
	ck_assert_str_eq(conf_parse_listen(huge, &l), "address too long");

	/* In the file, per line; the flag is part of the line for a reload too. */
	load(&f, "listen = 127.0.0.1:7000 proxy   # for HAProxy\n"
	    "listen = 127.0.0.1:7001\n");
	ck_assert_int_eq(f.n, 0);
	ck_assert_uint_eq(f.conf.listen_count, 2);
	ck_assert(f.conf.listen[0].proxy);
	ck_assert_str_eq(f.conf.listen[0].port, "7000");
	ck_assert(!f.conf.listen[1].proxy);
	free(f.errs);
	load(&f, "listen = 127.0.0.1:7000 proxi\n");
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.errs, "calcd.conf:1: listen: invalid address '127.0.0.1:7000 proxi': "
	    "unknown word after the address (the options are 'proxy' and 'tls')\n");
	free(f.errs);
	/* The default listens without it. */
	conf_defaults(&f.conf);
	ck_assert(!f.conf.listen[0].proxy);
	/* metrics_listen takes an address alone. */
	load(&f, "metrics_listen = 127.0.0.1:9100 proxy\n");
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.errs, "calcd.conf:1: metrics_listen: invalid address "
	    "'127.0.0.1:9100 proxy': 'proxy' is for listen lines only\n");
	free(f.errs);
}
END_TEST

START_TEST(test_parse_listen_tls)
{
	static const struct {
		const char	*text, *port;
		bool		 proxy, tls;
	} good[] = {
		{ "127.0.0.1:9443 tls", "9443", false, true },
		{ "127.0.0.1:9443 proxy tls", "9443", true, true },
		{ "127.0.0.1:9443 tls proxy", "9443", true, true },
		{ "127.0.0.1:9443\ttls  \tproxy ", "9443", true, true },
		{ "127.0.0.1:9443 proxy", "9443", true, false },
		{ "127.0.0.1:9443", "9443", false, false },
	};
	static const struct {
		const char	*text, *why;
	} bad[] = {
		{ "127.0.0.1:9443 tls tls", "'tls' given twice" },
		{ "127.0.0.1:9443 tls proxy tls", "'tls' given twice" },
		{ "127.0.0.1:9443 proxy tls proxy", "'proxy' given twice" },
		{ "127.0.0.1:9443 TLS",
		  "unknown word after the address (the options are 'proxy' and 'tls')" },
		{ "127.0.0.1:9443 ssl",
		  "unknown word after the address (the options are 'proxy' and 'tls')" },
		{ "127.0.0.1:9443 tls1", "port is not a decimal number" },
		{ "tls", "missing ':PORT'" },
	};
	struct conf_listen	l, before;
	char			buf[CONF_LISTEN_LEN + 16];
	struct loaded		f;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *why;

		memset(&l, 'z', sizeof l);
		why = conf_parse_listen(good[i].text, &l);
		ck_assert_msg(why == NULL, "'%s': %s", good[i].text, why);
		ck_assert_str_eq(l.host, "127.0.0.1");
		ck_assert_str_eq(l.port, good[i].port);
		ck_assert_msg(l.proxy == good[i].proxy, "'%s': proxy %d", good[i].text, l.proxy);
		ck_assert_msg(l.tls == good[i].tls, "'%s': tls %d", good[i].text, l.tls);
		conf_format_listen(&l, buf, sizeof buf);
		ck_assert_str_eq(buf, "127.0.0.1:9443");
	}
	memset(&before, 'z', sizeof before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why;

		l = before;
		why = conf_parse_listen(bad[i].text, &l);
		ck_assert_msg(why != NULL, "'%s' accepted", bad[i].text);
		ck_assert_str_eq(why, bad[i].why);
		ck_assert(memcmp(&l, &before, sizeof l) == 0);
	}
	/* In the file, per line. */
	load(&f, "listen = 127.0.0.1:7000 tls\n"
	    "listen = 127.0.0.1:7001 tls proxy\n"
	    "listen = 127.0.0.1:7002\n");
	ck_assert_int_eq(f.n, 0);
	ck_assert_uint_eq(f.conf.listen_count, 3);
	ck_assert(f.conf.listen[0].tls && !f.conf.listen[0].proxy);
	ck_assert(f.conf.listen[1].tls && f.conf.listen[1].proxy);
	ck_assert(!f.conf.listen[2].tls && !f.conf.listen[2].proxy);
	free(f.errs);
	/* The default listens in the clear. */
	conf_defaults(&f.conf);
	ck_assert(!f.conf.listen[0].tls);
	/* metrics_listen is plain HTTP: no tls word. */
	load(&f, "metrics_listen = 127.0.0.1:9100 tls\n");
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.errs, "calcd.conf:1: metrics_listen: invalid address "
	    "'127.0.0.1:9100 tls': 'tls' is for listen lines only\n");
	free(f.errs);
}
END_TEST

START_TEST(test_format_listen_truncates)
{
	struct conf_listen	l;
	char			buf[8];

	ck_assert_ptr_null(conf_parse_listen("[::1]:9090", &l));
	memset(buf, 'x', sizeof buf);
	conf_format_listen(&l, buf, 5);
	ck_assert_str_eq(buf, "[::1");
	memset(buf, 'x', sizeof buf);
	conf_format_listen(&l, buf, 0);
	ck_assert_int_eq(buf[0], 'x');
}
END_TEST

START_TEST(test_long_lines)
{
	struct loaded	 l;
	size_t		 cap = 32768, n = 0;
	char		*text = malloc(cap);
	char		 value[4096];
	size_t		 vlen;

	ck_assert_ptr_nonnull(text);
	/* Line 1: a comment of exactly 4096 bytes is fine. */
	text[n++] = '#';
	memset(text + n, 'x', 4095);
	n += 4095;
	text[n++] = '\n';
	/* Line 2: 4097 bytes is one too many. */
	text[n++] = '#';
	memset(text + n, 'x', 4096);
	n += 4096;
	text[n++] = '\n';
	/* Line 3: still counted and parsed. */
	n += (size_t)sprintf(text + n, "workers = 3\n");
	/* Line 4: a 4096-byte key line that parses (leading zeros). */
	vlen = 4096 - strlen("max_connections = ");
	memset(value, '0', vlen - 1);
	value[vlen - 1] = '5';
	value[vlen] = '\0';
	n += (size_t)sprintf(text + n, "max_connections = %s\n", value);
	/* Line 5: far too long, no newline games with the next line. */
	memset(text + n, 'y', 6000);
	n += 6000;
	text[n++] = '\n';
	n += (size_t)sprintf(text + n, "bogus = 1\n");	/* line 6 */
	/* Line 7: too long and unterminated at end of file. */
	memset(text + n, 'z', 5000);
	n += 5000;
	ck_assert_uint_le(n, cap);

	load_len(&l, text, n);
	ck_assert_str_eq(l.errs,
	    "calcd.conf:2: line too long (more than 4096 bytes)\n"
	    "calcd.conf:5: line too long (more than 4096 bytes)\n"
	    "calcd.conf:6: unknown key 'bogus'\n"
	    "calcd.conf:7: line too long (more than 4096 bytes)\n");
	ck_assert_int_eq(l.n, 4);
	ck_assert_uint_eq(l.conf.workers, 3);
	ck_assert_uint_eq(l.conf.max_connections, 5);
	free(l.errs);
	free(text);
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] =
	    "workers = 2\n"
	    "max_connections = 1\0" "0\n"
	    "\0\n"
	    "log_level = info\n";
	struct loaded	l;

	load_len(&l, text, sizeof text - 1);
	ck_assert_str_eq(l.errs,
	    "calcd.conf:2: NUL byte in line\n"
	    "calcd.conf:3: NUL byte in line\n");
	ck_assert_int_eq(l.n, 2);
	ck_assert_uint_eq(l.conf.workers, 2);
	ck_assert_uint_eq(l.conf.max_connections, 0);	/* the default, auto */
	ck_assert_int_eq(l.conf.log_level, LOG_LEVEL_INFO);
	free(l.errs);
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf	 c;
	char		*errs = NULL;
	size_t		 len = 0;
	FILE		*errors;

	conf_defaults(&c);
	errors = open_memstream(&errs, &len);
	ck_assert_ptr_nonnull(errors);
	ck_assert_int_eq(conf_load(&c, "/nonexistent-calcd/calcd.conf",
	    errors), 1);
	/* The path appears exactly as given, relative or not. */
	ck_assert_int_eq(conf_load(&c, "./no/such/../calcd.conf", errors), 1);
	fclose(errors);
	ck_assert_str_eq(errs,
	    "/nonexistent-calcd/calcd.conf: cannot open: "
	    "No such file or directory\n"
	    "./no/such/../calcd.conf: cannot open: "
	    "No such file or directory\n");
	assert_defaults(&c);
	free(errs);

	/* A NULL errors stream still counts. */
	ck_assert_int_eq(conf_load(&c, "/nonexistent-calcd/calcd.conf", NULL),
	    1);
}
END_TEST

START_TEST(test_null_errors_stream)
{
	static const char text[] = "bogus = 1\nworkers = x\nworkers = 7\n";
	struct conf	 c;
	char		*path;

	path = write_temp(text, strlen(text));
	conf_defaults(&c);
	ck_assert_int_eq(conf_load(&c, path, NULL), 3);
	unlink(path);
	free(path);
}
END_TEST

/* The keys conf_keep_restart_keys reported, as "a,b,". */
static void
record_key(const char *key, void *arg)
{
	char	*seen = arg;

	ck_assert_uint_lt(strlen(seen) + strlen(key) + 2, 256);
	strcat(seen, key);
	strcat(seen, ",");
}

START_TEST(test_restart_keys)
{
	struct loaded	in_force, next;
	struct conf	before;
	char		seen[256] = "";

	load(&in_force,
	    "listen = 127.0.0.1:1\n"
	    "workers = 4\n"
	    "max_connections = 100\n"
	    "idle_timeout = 5s\n"
	    "max_message_size = 1M\n"
	    "max_output_buffer = 64K\n"
	    "max_nesting_depth = 8\n"
	    "calculation_log_size = 10\n"
	    "log_level = notice\n"
	    "log_target = stderr\n"
	    "shutdown_timeout = 1s\n"
	    "message_timeout = 2s\n"
	    "pid_file = /run/a.pid\n");
	ck_assert_int_eq(in_force.n, 0);
	/* Every key changes; only those that need a restart keep their value. */
	load(&next,
	    "listen = *:2\n"
	    "workers = 8\n"
	    "max_connections = 200\n"
	    "idle_timeout = 7s\n"
	    "max_message_size = 2M\n"
	    "max_output_buffer = 128K\n"
	    "max_nesting_depth = 9\n"
	    "calculation_log_size = 20\n"
	    "log_level = debug\n"
	    "log_target = syslog\n"
	    "shutdown_timeout = 3s\n"
	    "message_timeout = 4s\n"
	    "pid_file = /run/b.pid\n");
	ck_assert_int_eq(next.n, 0);
	ck_assert_uint_eq(conf_keep_restart_keys(&in_force.conf, &next.conf, record_key, seen), 3);
	ck_assert_str_eq(seen, "workers,calculation_log_size,pid_file,");
	ck_assert_uint_eq(next.conf.workers, 4);
	ck_assert_uint_eq(next.conf.calculation_log_size, 10);
	ck_assert_str_eq(next.conf.pid_file, "/run/a.pid");
	ck_assert_uint_eq(next.conf.listen_count, 1);
	ck_assert_str_eq(next.conf.listen[0].host, "");
	ck_assert_str_eq(next.conf.listen[0].port, "2");
	ck_assert_uint_eq(next.conf.max_connections, 200);
	ck_assert_uint_eq(next.conf.idle_timeout_ms, 7000);
	ck_assert_uint_eq(next.conf.max_message_size, 2 * M);
	ck_assert_uint_eq(next.conf.max_output_buffer, 128 * K);
	ck_assert_uint_eq(next.conf.max_nesting_depth, 9);
	ck_assert_int_eq(next.conf.log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(next.conf.log_target, LOG_TARGET_SYSLOG);
	ck_assert_uint_eq(next.conf.shutdown_timeout_ms, 3000);
	ck_assert_uint_eq(next.conf.message_timeout_ms, 4000);

	/* Applied once, nothing is left to keep or report. */
	seen[0] = '\0';
	memcpy(&before, &next.conf, sizeof before);
	ck_assert_uint_eq(conf_keep_restart_keys(&in_force.conf, &next.conf, record_key, seen), 0);
	ck_assert_str_eq(seen, "");
	ck_assert_mem_eq(&before, &next.conf, sizeof before);

	/* A pid_file line removed is a change too. */
	next.conf.pid_file[0] = '\0';
	ck_assert_uint_eq(conf_keep_restart_keys(&in_force.conf, &next.conf, record_key, seen), 1);
	ck_assert_str_eq(seen, "pid_file,");
	ck_assert_str_eq(next.conf.pid_file, "/run/a.pid");

	/* A path is compared as a string: bytes after its end do not count. */
	seen[0] = '\0';
	next.conf.pid_file[sizeof next.conf.pid_file - 1] = 'x';
	ck_assert_uint_eq(conf_keep_restart_keys(&in_force.conf, &next.conf, record_key, seen), 0);
	ck_assert_str_eq(seen, "");

	/* No one to tell: the values are still kept. */
	next.conf.workers = 1;
	ck_assert_uint_eq(conf_keep_restart_keys(&in_force.conf, &next.conf, NULL, NULL), 1);
	ck_assert_uint_eq(next.conf.workers, 4);
	free(in_force.errs);
	free(next.errs);
}
END_TEST

/* The shipped etc/calcd.conf; make check passes its path in CALCD_CONF. */
START_TEST(test_shipped_conf)
{
	const char	*path = getenv("CALCD_CONF");
	struct conf	 c;
	char		*errs = NULL;
	size_t		 len = 0;
	FILE		*errors;

	ck_assert_ptr_nonnull(path);
	conf_defaults(&c);
	errors = open_memstream(&errs, &len);
	ck_assert_ptr_nonnull(errors);
	ck_assert_int_eq(conf_load(&c, path, errors), 0);
	fclose(errors);
	ck_assert_str_eq(errs, "");
	free(errs);
	/* Its active lines are the defaults. */
	assert_defaults(&c);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_and_comment_only_files);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_log_level);
	tcase_add_test(tc, test_shutdown_timeout);
	tcase_add_test(tc, test_message_timeout);
	tcase_add_test(tc, test_log_target);
	tcase_add_test(tc, test_pid_file);
	tcase_add_test(tc, test_new_keys_errors);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_every_error_kind);
	tcase_add_test(tc, test_comments_and_empty_values);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_listen_replaces_default);
	tcase_add_test(tc, test_listen_limit);
	tcase_add_test(tc, test_parse_listen_good);
	tcase_add_test(tc, test_parse_listen_bad);
	tcase_add_test(tc, test_parse_listen_proxy);
	tcase_add_test(tc, test_parse_listen_tls);
	tcase_add_test(tc, test_format_listen_truncates);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_null_errors_stream);
	tcase_add_test(tc, test_restart_keys);
	suite_add_tcase(s, tc);

	if (getenv("CALCD_CONF") != NULL) {
		tc = tcase_create("shipped");
		tcase_add_test(tc, test_shipped_conf);
		suite_add_tcase(s, tc);
	} else
		fprintf(stderr, "test_conf: CALCD_CONF not set, "
		    "skipping test_shipped_conf\n");
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(conf_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
