/*
 * test_shed: which connection a worker closes to admit a new one when
 * calcd is full — never a busy one; the peer address with the most
 * connections first; idle before partial; the longest without a completed
 * call first — and the bookkeeping behind it: peer counts, peers
 * forgotten with their last connection, IPv4 the same peer on either
 * socket family, a bounded look however long the lists — and the one
 * log line a second that sums up every worker's sheds and refusals.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shed.h"

/* A connection as the tests see it: a link and the class it reports. */
struct item {
	struct shed_link	link;
	enum shed_class		class;
	unsigned		classified;	/* times shed_pick asked */
};

static enum shed_class
classify(struct shed_link *link, void *arg)
{
	struct item *it = (struct item *)(void *)((char *)link - offsetof(struct item, link));

	(void)arg;
	it->classified++;
	return it->class;
}

static struct sockaddr_in
v4(const char *host, unsigned port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	return sin;
}

static struct sockaddr_in6
v6(const char *host, unsigned port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6.sin6_addr), 1);
	return sin6;
}

static void
track_v4(struct shed_table *t, struct item *it, const char *host, enum shed_class class)
{
	static unsigned port = 1000;
	struct sockaddr_in sin = v4(host, port++);

	memset(it, 0, sizeof *it);
	it->class = class;
	shed_track(t, &it->link, (struct sockaddr *)&sin);
}

static struct item *
pick(struct shed_table *t, enum shed_class *class)
{
	struct shed_link *l = shed_pick(t, classify, NULL, class);

	return l == NULL ? NULL : (struct item *)(void *)((char *)l - offsetof(struct item, link));
}

START_TEST(oldest_idle_first)
{
	struct shed_table	t;
	struct item		it[4];
	enum shed_class		class;

	shed_table_init(&t);
	for (int i = 0; i < 4; i++)
		track_v4(&t, &it[i], "192.0.2.1", SHED_IDLE);
	ck_assert_ptr_eq(pick(&t, &class), &it[0]);
	ck_assert_int_eq(class, SHED_IDLE);
	/* A completed call makes a connection the newest. */
	shed_touch(&t, &it[0].link);
	ck_assert_ptr_eq(pick(&t, &class), &it[1]);
	shed_touch(&t, &it[1].link);
	shed_touch(&t, &it[2].link);
	ck_assert_ptr_eq(pick(&t, &class), &it[3]);
	shed_untrack(&t, &it[3].link);
	ck_assert_ptr_eq(pick(&t, &class), &it[0]);
	for (int i = 0; i < 3; i++)
		shed_untrack(&t, &it[i].link);
	ck_assert_ptr_null(pick(&t, &class));
	ck_assert_uint_eq(t.npeers, 0);
	shed_table_free(&t);
}
END_TEST

START_TEST(busy_never)
{
	struct shed_table	t;
	struct item		it[3];
	enum shed_class		class;

	shed_table_init(&t);
	for (int i = 0; i < 3; i++)
		track_v4(&t, &it[i], "192.0.2.1", SHED_BUSY);
	ck_assert_ptr_null(pick(&t, &class));
	it[1].class = SHED_PARTIAL;
	ck_assert_ptr_eq(pick(&t, &class), &it[1]);
	ck_assert_int_eq(class, SHED_PARTIAL);
	it[1].class = SHED_BUSY;
	ck_assert_ptr_null(pick(&t, &class));
	for (int i = 0; i < 3; i++)
		shed_untrack(&t, &it[i].link);
	shed_table_free(&t);
}
END_TEST

START_TEST(idle_before_partial)
{
	struct shed_table	t;
	struct item		it[3];
	enum shed_class		class;

	shed_table_init(&t);
	track_v4(&t, &it[0], "192.0.2.1", SHED_PARTIAL);
	track_v4(&t, &it[1], "192.0.2.1", SHED_PARTIAL);
	track_v4(&t, &it[2], "192.0.2.1", SHED_IDLE);
	ck_assert_ptr_eq(pick(&t, &class), &it[2]);
	ck_assert_int_eq(class, SHED_IDLE);
	it[2].class = SHED_BUSY;
	ck_assert_ptr_eq(pick(&t, &class), &it[0]);
	ck_assert_int_eq(class, SHED_PARTIAL);
	for (int i = 0; i < 3; i++)
		shed_untrack(&t, &it[i].link);
	shed_table_free(&t);
}
END_TEST

/* One address with many connections loses its own, even newer and partial ones. */
START_TEST(heaviest_peer_first)
{
	struct shed_table	t;
	struct item		real[3], flood[10];
	enum shed_class		class;
	struct item		*victim;

	shed_table_init(&t);
	for (int i = 0; i < 3; i++)
		track_v4(&t, &real[i], i == 0 ? "198.51.100.1" : "198.51.100.2", SHED_IDLE);
	for (int i = 0; i < 10; i++)
		track_v4(&t, &flood[i], "203.0.113.9", SHED_PARTIAL);
	ck_assert_uint_eq(shed_peer_count(&flood[0].link), 10);
	ck_assert_uint_eq(shed_peer_count(&real[1].link), 2);
	ck_assert_ptr_eq(pick(&t, &class), &flood[0]);
	ck_assert_int_eq(class, SHED_PARTIAL);
	/* Shed down to the others' level, then the next heaviest (2) goes first. */
	for (int i = 0; i < 8; i++) {
		victim = pick(&t, &class);
		ck_assert_ptr_eq(victim, &flood[i]);
		shed_untrack(&t, &victim->link);
	}
	ck_assert_uint_eq(shed_peer_count(&flood[8].link), 2);
	shed_untrack(&t, &flood[8].link);
	/* 198.51.100.2 has 2, the flood 1: the older of .2's goes. */
	ck_assert_ptr_eq(pick(&t, &class), &real[1]);
	shed_untrack(&t, &real[1].link);
	/* All at 1: idle before partial, then the oldest. */
	ck_assert_ptr_eq(pick(&t, &class), &real[0]);
	real[0].class = SHED_PARTIAL;
	real[2].class = SHED_PARTIAL;
	ck_assert_ptr_eq(pick(&t, &class), &real[0]);
	shed_untrack(&t, &real[0].link);
	shed_untrack(&t, &real[2].link);
	shed_untrack(&t, &flood[9].link);
	ck_assert_uint_eq(t.npeers, 0);
	ck_assert_ptr_null(t.head);
	shed_table_free(&t);
}
END_TEST

/* Busy connections at the old end are passed over, and the next pick skips them. */
START_TEST(busy_rotated_out_of_the_way)
{
	enum { N = 300 };
	struct shed_table	 t;
	struct item		*it = calloc(N, sizeof *it);
	enum shed_class		 class;
	unsigned		 asked = 0;

	ck_assert_ptr_nonnull(it);
	shed_table_init(&t);
	for (int i = 0; i < N; i++)
		track_v4(&t, &it[i], "192.0.2.1", i < N - 1 ? SHED_BUSY : SHED_IDLE);
	/* The one idle connection is the newest: a few picks get to it, each bounded. */
	for (int tries = 0; tries < N; tries++) {
		struct item *victim = pick(&t, &class);

		asked = 0;
		for (int i = 0; i < N; i++) {
			asked += it[i].classified;
			it[i].classified = 0;
		}
		ck_assert_uint_le(asked, 64 + 16);
		if (victim != NULL) {
			ck_assert_ptr_eq(victim, &it[N - 1]);
			break;
		}
		ck_assert_int_lt(tries, N / 16);
	}
	for (int i = 0; i < N; i++)
		shed_untrack(&t, &it[i].link);
	shed_table_free(&t);
	free(it);
}
END_TEST

START_TEST(peers_by_address)
{
	enum { N = 1000 };
	struct shed_table	 t;
	struct item		*it = calloc(2 * N, sizeof *it);
	struct sockaddr_in	 a = v4("192.0.2.7", 1);
	struct sockaddr_in6	 mapped = v6("::ffff:192.0.2.7", 2), other = v6("2001:db8::7", 3);
	struct item		 x, y, z;
	char			 host[32];

	ck_assert_ptr_nonnull(it);
	shed_table_init(&t);
	/* The port is not part of the peer; an IPv4-mapped address is the IPv4 peer. */
	shed_track(&t, &x.link, (struct sockaddr *)&a);
	shed_track(&t, &y.link, (struct sockaddr *)&mapped);
	shed_track(&t, &z.link, (struct sockaddr *)&other);
	ck_assert_uint_eq(shed_peer_count(&x.link), 2);
	ck_assert_uint_eq(shed_peer_count(&z.link), 1);
	ck_assert_uint_eq(t.npeers, 2);
	/* Many peers: the table grows, every count stays right. */
	for (int i = 0; i < 2 * N; i++) {
		(void)snprintf(host, sizeof host, "10.%d.%d.%d", i % N / 65536, i % N / 256 % 256,
		    i % N % 256);
		track_v4(&t, &it[i], host, SHED_IDLE);
	}
	ck_assert_uint_eq(t.npeers, N + 2);
	for (int i = 0; i < 2 * N; i++)
		ck_assert_uint_eq(shed_peer_count(&it[i].link), 2);
	for (int i = 0; i < N; i++)
		shed_untrack(&t, &it[i].link);
	ck_assert_uint_eq(t.npeers, N + 2);
	for (int i = N; i < 2 * N; i++) {
		ck_assert_uint_eq(shed_peer_count(&it[i].link), 1);
		shed_untrack(&t, &it[i].link);
	}
	shed_untrack(&t, &x.link);
	ck_assert_uint_eq(shed_peer_count(&y.link), 1);
	shed_untrack(&t, &y.link);
	shed_untrack(&t, &z.link);
	ck_assert_uint_eq(t.npeers, 0);
	ck_assert_ptr_null(t.head);
	ck_assert_ptr_null(t.tail);
	shed_table_free(&t);
	free(it);
}
END_TEST

/* A PROXY header names the client behind a proxy: counted there, in its place. */
START_TEST(rekey_moves_the_peer)
{
	struct shed_table	t;
	struct item		it[4];
	struct sockaddr_in	client = v4("192.0.2.50", 7);
	enum shed_class		class;

	shed_table_init(&t);
	track_v4(&t, &it[0], "192.0.2.50", SHED_IDLE);	/* the client, directly */
	track_v4(&t, &it[1], "10.0.0.1", SHED_IDLE);	/* through the proxy */
	track_v4(&t, &it[2], "10.0.0.1", SHED_IDLE);
	track_v4(&t, &it[3], "192.0.2.50", SHED_IDLE);
	ck_assert_uint_eq(shed_peer_count(&it[1].link), 2);
	shed_rekey(&t, &it[1].link, (struct sockaddr *)&client);
	ck_assert_uint_eq(shed_peer_count(&it[1].link), 3);
	ck_assert_uint_eq(shed_peer_count(&it[2].link), 1);
	ck_assert_uint_eq(t.npeers, 2);
	/* The client's list is still oldest first: 0, 1, 3. */
	ck_assert_ptr_eq(pick(&t, &class), &it[0]);
	shed_untrack(&t, &it[0].link);
	ck_assert_ptr_eq(pick(&t, &class), &it[1]);
	shed_untrack(&t, &it[1].link);
	/* 1 each now: the oldest of all. */
	ck_assert_ptr_eq(pick(&t, &class), &it[2]);
	shed_rekey(&t, &it[2].link, (struct sockaddr *)&client);
	ck_assert_uint_eq(t.npeers, 1);		/* the proxy's address is gone */
	ck_assert_uint_eq(shed_peer_count(&it[3].link), 2);
	ck_assert_ptr_eq(pick(&t, &class), &it[2]);
	shed_untrack(&t, &it[2].link);
	shed_untrack(&t, &it[3].link);
	ck_assert_uint_eq(t.npeers, 0);
	shed_table_free(&t);
}
END_TEST

/* Run shed_log_flush with stderr in a file; what it wrote (static, NUL-ended). */
static const char *
flushed(void)
{
	static char	 text[4096];
	FILE		*f = tmpfile();
	int		 saved = dup(STDERR_FILENO);
	size_t		 n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	shed_log_flush();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	rewind(f);
	n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* Every worker's sheds and refusals of a second: one line, counts and the addresses most hit. */
START_TEST(log_line)
{
	struct shed_table	t;
	struct item		it[3];
	struct sockaddr_in	a = v4("192.0.2.7", 1);
	struct sockaddr_in6	b = v6("2001:db8::1", 2);
	const char		*line;

	ck_assert_str_eq(flushed(), "");	/* nothing noted: no line */
	shed_table_init(&t);
	track_v4(&t, &it[0], "198.51.100.1", SHED_IDLE);
	track_v4(&t, &it[1], "198.51.100.2", SHED_IDLE);
	track_v4(&t, &it[2], "198.51.100.3", SHED_IDLE);
	for (int i = 0; i < 5; i++)
		shed_note_shed(&it[0].link, SHED_IDLE);
	for (int i = 0; i < 3; i++)
		shed_note_shed(&it[1].link, SHED_PARTIAL);
	shed_note_shed(&it[2].link, SHED_IDLE);
	shed_note_refused((struct sockaddr *)&a);
	shed_note_refused((struct sockaddr *)&a);
	line = flushed();
	ck_assert_msg(strstr(line, "warning: shed 9 connections in the last second to admit new "
	    "ones (6 idle, 3 partial); refused 2 new connections: every connection was busy; "
	    "most from 198.51.100.1 (5), 198.51.100.2 (3), 192.0.2.7 (2)\n") != NULL, "%s", line);
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);	/* one line */
	/* A second line counts only what came after the first. */
	shed_note_refused((struct sockaddr *)&b);
	line = flushed();
	ck_assert_msg(strstr(line, "warning: refused 1 new connection in the last second: calcd "
	    "is full and every connection was busy; most from 2001:db8::1 (1)\n") != NULL, "%s",
	    line);
	ck_assert_str_eq(flushed(), "");
	for (int i = 0; i < 3; i++)
		shed_untrack(&t, &it[i].link);
	shed_table_free(&t);
}
END_TEST

static Suite *
shed_suite(void)
{
	Suite	*s = suite_create("shed");
	TCase	*tc = tcase_create("pick");

	tcase_add_test(tc, oldest_idle_first);
	tcase_add_test(tc, busy_never);
	tcase_add_test(tc, idle_before_partial);
	tcase_add_test(tc, heaviest_peer_first);
	tcase_add_test(tc, busy_rotated_out_of_the_way);
	suite_add_tcase(s, tc);
	tc = tcase_create("table");
	tcase_add_test(tc, peers_by_address);
	tcase_add_test(tc, rekey_moves_the_peer);
	tcase_add_test(tc, log_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(shed_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
