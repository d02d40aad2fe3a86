/*
 * shed: admission under pressure.  When calcd is full, a new connection
 * gets in by closing one that is doing nothing for anybody: the worker
 * the new one goes to picks, from its own connections, one of the peer
 * address holding the most of them (so one address cannot take every
 * slot from the others), idle before partial (part of a message
 * arrived), the longest without a completed call first; a connection
 * with a call waiting or a reply being written is never picked.
 *
 * Keeping the order costs a few pointer writes per read that completes a
 * call (shed_touch), no system call and no clock.  Picking looks at a
 * bounded number of connections.  The log side is a small aggregator
 * under a mutex, touched only when a connection is shed or refused.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shed.h"

#define SHED_FIRST_BUCKETS	64
#define SHED_WALK_HEAVIEST	64	/* links of the heaviest peer looked at */
#define SHED_WALK_OLDEST	16	/* links from the oldest end looked at */
#define SHED_ADDR_LEN		16

struct shed_peer {
	struct shed_peer	*hash_next;
	struct shed_link	*head, *tail;	/* its connections, oldest first */
	unsigned		 count;
	int			 family;	/* AF_INET, AF_INET6, or AF_UNSPEC for the rest */
	uint8_t			 addr[SHED_ADDR_LEN];
};

/* --- the address of a peer -------------------------------------------------- */

/* The key of sa's address (not its port): family and bytes into addr. */
static int
shed_key(const struct sockaddr *sa, uint8_t addr[SHED_ADDR_LEN])
{
	memset(addr, 0, SHED_ADDR_LEN);
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		/* An IPv4 peer on an IPv6 socket is the same peer as on an IPv4 one. */
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, &a6->s6_addr[12], 4);
			return AF_INET;
		}
		memcpy(addr, a6, SHED_ADDR_LEN);
		return AF_INET6;
	}
	return AF_UNSPEC;
}

static void
shed_format_key(int family, const uint8_t *addr, char *out, size_t len)
{
	if (family == AF_UNSPEC || inet_ntop(family, addr, out, (socklen_t)len) == NULL)
		(void)snprintf(out, len, "local");
}

/* --- the table: peers by address ------------------------------------------- */

static uint64_t
shed_hash(const struct shed_table *t, int family, const uint8_t *addr)
{
	uint64_t h = t->seed ^ ((uint64_t)(unsigned)family * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < SHED_ADDR_LEN; i++) {
		h ^= addr[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return h;
}

void
shed_table_init(struct shed_table *t)
{
	memset(t, 0, sizeof *t);
	/* Seeded, so a peer cannot pick addresses that all land in one bucket. */
	if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != (ssize_t)sizeof t->seed)
		t->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)t;
}

void
shed_table_free(struct shed_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct shed_peer *p, *next;

		for (p = t->buckets[i]; p != NULL; p = next) {
			next = p->hash_next;
			free(p);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
	t->npeers = 0;
	t->heaviest = NULL;
	t->head = t->tail = NULL;
}

/* More buckets once there are as many peers as buckets; on no memory, longer chains. */
static void
shed_grow(struct shed_table *t)
{
	size_t			  n = t->nbuckets == 0 ? SHED_FIRST_BUCKETS : t->nbuckets * 2;
	struct shed_peer	**b;

	if (n < t->nbuckets || (b = calloc(n, sizeof(struct shed_peer *))) == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct shed_peer *p, *next;

		for (p = t->buckets[i]; p != NULL; p = next) {
			size_t at = (size_t)shed_hash(t, p->family, p->addr) & (n - 1);

			next = p->hash_next;
			p->hash_next = b[at];
			b[at] = p;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* The peer of sa, made if new; NULL if out of memory. */
static struct shed_peer *
shed_peer_get(struct shed_table *t, const struct sockaddr *sa)
{
	uint8_t			 addr[SHED_ADDR_LEN];
	int			 family = shed_key(sa, addr);
	struct shed_peer	*p;
	size_t			 at;

	if (t->npeers >= t->nbuckets)
		shed_grow(t);
	if (t->nbuckets == 0)
		return NULL;
	at = (size_t)shed_hash(t, family, addr) & (t->nbuckets - 1);
	for (p = t->buckets[at]; p != NULL; p = p->hash_next)
		if (p->family == family && memcmp(p->addr, addr, SHED_ADDR_LEN) == 0)
			return p;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	p->family = family;
	memcpy(p->addr, addr, SHED_ADDR_LEN);
	p->hash_next = t->buckets[at];
	t->buckets[at] = p;
	t->npeers++;
	return p;
}

static void
shed_peer_forget(struct shed_table *t, struct shed_peer *p)
{
	size_t			  at = (size_t)shed_hash(t, p->family, p->addr) & (t->nbuckets - 1);
	struct shed_peer	**pp;

	for (pp = &t->buckets[at]; *pp != NULL; pp = &(*pp)->hash_next) {
		if (*pp == p) {
			*pp = p->hash_next;
			break;
		}
	}
	t->npeers--;
	if (t->heaviest == p)
		t->heaviest = NULL;
	free(p);
}

/* --- the lists ---------------------------------------------------------------- */

static void
shed_unlink(struct shed_table *t, struct shed_link *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		t->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	else
		t->tail = l->prev;
}

static void
shed_append(struct shed_table *t, struct shed_link *l)
{
	l->prev = t->tail;
	l->next = NULL;
	if (t->tail != NULL)
		t->tail->next = l;
	else
		t->head = l;
	t->tail = l;
}

static void
shed_peer_unlink(struct shed_peer *p, struct shed_link *l)
{
	if (l->peer_prev != NULL)
		l->peer_prev->peer_next = l->peer_next;
	else
		p->head = l->peer_next;
	if (l->peer_next != NULL)
		l->peer_next->peer_prev = l->peer_prev;
	else
		p->tail = l->peer_prev;
}

static void
shed_peer_append(struct shed_peer *p, struct shed_link *l)
{
	l->peer_prev = p->tail;
	l->peer_next = NULL;
	if (p->tail != NULL)
		p->tail->peer_next = l;
	else
		p->head = l;
	p->tail = l;
}

void
shed_touch(struct shed_table *t, struct shed_link *l)
{
	l->stamp = ++t->clock;
	if (t->tail != l) {
		shed_unlink(t, l);
		shed_append(t, l);
	}
	if (l->peer != NULL && l->peer->tail != l) {
		shed_peer_unlink(l->peer, l);
		shed_peer_append(l->peer, l);
	}
}

/* Take l off its peer's list and count (the peer goes with its last link). */
static void
shed_leave_peer(struct shed_table *t, struct shed_link *l)
{
	struct shed_peer *p = l->peer;

	if (p == NULL)
		return;
	shed_peer_unlink(p, l);
	l->peer = NULL;
	l->peer_prev = l->peer_next = NULL;
	if (--p->count == 0)
		shed_peer_forget(t, p);
}

/* Put l on the list of sa's peer, in the order of its stamp. */
static void
shed_join_peer(struct shed_table *t, struct shed_link *l, const struct sockaddr *sa)
{
	struct shed_peer	*p;
	struct shed_link	*after;

	if ((p = shed_peer_get(t, sa)) == NULL)
		return;
	l->peer = p;
	/* Usually the newest; a rekeyed link may be older than some already there. */
	for (after = p->tail; after != NULL && after->stamp > l->stamp; after = after->peer_prev)
		;
	l->peer_prev = after;
	l->peer_next = after != NULL ? after->peer_next : p->head;
	if (l->peer_next != NULL)
		l->peer_next->peer_prev = l;
	else
		p->tail = l;
	if (after != NULL)
		after->peer_next = l;
	else
		p->head = l;
	p->count++;
	if (t->heaviest == NULL || p->count > t->heaviest->count)
		t->heaviest = p;
}

void
shed_track(struct shed_table *t, struct shed_link *l, const struct sockaddr *sa)
{
	memset(l, 0, sizeof *l);
	l->stamp = ++t->clock;
	shed_append(t, l);
	shed_join_peer(t, l, sa);
}

void
shed_rekey(struct shed_table *t, struct shed_link *l, const struct sockaddr *sa)
{
	shed_leave_peer(t, l);
	shed_join_peer(t, l, sa);
}

void
shed_untrack(struct shed_table *t, struct shed_link *l)
{
	shed_unlink(t, l);
	l->prev = l->next = NULL;
	shed_leave_peer(t, l);
}

unsigned
shed_peer_count(const struct shed_link *l)
{
	return l->peer != NULL ? l->peer->count : 0;
}

/* --- picking a victim ----------------------------------------------------------- */

struct shed_choice {
	struct shed_link	*link;
	enum shed_class		 class;
	unsigned		 count;		/* of its peer */
};

/* Weigh l (not busy) against the best so far; keeps the heaviest peer up to date. */
static void
shed_consider(struct shed_table *t, struct shed_choice *best, struct shed_link *l,
    enum shed_class class)
{
	unsigned count = shed_peer_count(l);

	if (l->peer != NULL && (t->heaviest == NULL || count > t->heaviest->count))
		t->heaviest = l->peer;
	if (best->link != NULL) {
		if (count != best->count) {
			if (count < best->count)
				return;
		} else if (class != best->class) {
			if (class != SHED_IDLE)
				return;
		} else if (l->stamp >= best->link->stamp) {
			return;
		}
	}
	best->link = l;
	best->class = class;
	best->count = count;
}

struct shed_link *
shed_pick(struct shed_table *t, shed_classify_fn classify, void *arg, enum shed_class *class)
{
	struct shed_choice	 best = { NULL, SHED_BUSY, 0 };
	struct shed_link	*l, *next;
	struct shed_peer	*heaviest = t->heaviest;
	unsigned		 n;

	/*
	 * The heaviest peer's oldest links: its first idle one is the best it
	 * has.  Busy ones go to the newest end, so the next pick skips them.
	 */
	if (heaviest != NULL) {
		for (l = heaviest->head, n = 0; l != NULL && n < SHED_WALK_HEAVIEST; l = next, n++) {
			enum shed_class c = classify(l, arg);

			next = l->peer_next;
			if (c == SHED_BUSY) {
				shed_touch(t, l);
				continue;
			}
			shed_consider(t, &best, l, c);
			if (c == SHED_IDLE)
				break;
		}
	}
	/* The oldest of all: a heavier peer than the one remembered, or no peer known. */
	for (l = t->head, n = 0; l != NULL && n < SHED_WALK_OLDEST; l = next, n++) {
		enum shed_class c = classify(l, arg);

		next = l->next;
		if (c == SHED_BUSY) {
			shed_touch(t, l);
			continue;
		}
		shed_consider(t, &best, l, c);
	}
	*class = best.class;
	return best.link;
}

/* --- the log: one line a second for every worker ------------------------------ */

/*
 * The addresses of one second's sheds and refusals, most frequent kept
 * ("space saving": a new address past the table takes the place of the
 * least frequent one, inheriting its count, so any address behind more
 * than 1/SHED_LOG_PEERS of them is named, its count at most that much
 * over).
 */
#define SHED_LOG_PEERS	32
#define SHED_LOG_NAMED	3
#define SHED_HOST_LEN	INET6_ADDRSTRLEN

struct shed_log_peer {
	char			host[SHED_HOST_LEN];
	unsigned long long	n;
};

struct shed_log {
	unsigned long long	idle, partial, refused;		/* since the last line */
	struct shed_log_peer	peers[SHED_LOG_PEERS];
	unsigned		npeers;
};

static pthread_mutex_t	shed_log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shed_log	shed_log;

/* With shed_log_lock held. */
static void
shed_log_count_peer(const char *host)
{
	struct shed_log_peer	*least = NULL;
	unsigned		 i;

	for (i = 0; i < shed_log.npeers; i++) {
		struct shed_log_peer *p = &shed_log.peers[i];

		if (strcmp(p->host, host) == 0) {
			p->n++;
			return;
		}
		if (least == NULL || p->n < least->n)
			least = p;
	}
	if (shed_log.npeers < SHED_LOG_PEERS) {
		least = &shed_log.peers[shed_log.npeers++];
		least->n = 0;
	}
	(void)snprintf(least->host, sizeof least->host, "%s", host);
	least->n++;
}

void
shed_note_shed(const struct shed_link *victim, enum shed_class class)
{
	char host[SHED_HOST_LEN];

	if (victim->peer != NULL)
		shed_format_key(victim->peer->family, victim->peer->addr, host, sizeof host);
	else
		(void)snprintf(host, sizeof host, "?");
	pthread_mutex_lock(&shed_log_lock);
	if (class == SHED_PARTIAL)
		shed_log.partial++;
	else
		shed_log.idle++;
	shed_log_count_peer(host);
	pthread_mutex_unlock(&shed_log_lock);
}

void
shed_note_refused(const struct sockaddr *addr)
{
	uint8_t	key[SHED_ADDR_LEN];
	char	host[SHED_HOST_LEN];

	shed_format_key(shed_key(addr, key), key, host, sizeof host);
	pthread_mutex_lock(&shed_log_lock);
	shed_log.refused++;
	shed_log_count_peer(host);
	pthread_mutex_unlock(&shed_log_lock);
}

void
shed_log_flush(void)
{
	struct shed_log	 seen;
	char		 most[SHED_LOG_NAMED * (SHED_HOST_LEN + 32)], refused[128];
	size_t		 used = 0;
	unsigned long long shed;

	pthread_mutex_lock(&shed_log_lock);
	seen = shed_log;
	shed_log.idle = shed_log.partial = shed_log.refused = 0;
	shed_log.npeers = 0;
	pthread_mutex_unlock(&shed_log_lock);
	shed = seen.idle + seen.partial;
	if (shed == 0 && seen.refused == 0)
		return;
	/* Most first: the few named are picked from at most SHED_LOG_PEERS. */
	most[0] = '\0';
	for (unsigned named = 0; named < SHED_LOG_NAMED && named < seen.npeers; named++) {
		unsigned top = named;
		int	 n;

		for (unsigned i = named + 1; i < seen.npeers; i++)
			if (seen.peers[i].n > seen.peers[top].n)
				top = i;
		if (top != named) {
			struct shed_log_peer swap = seen.peers[named];

			seen.peers[named] = seen.peers[top];
			seen.peers[top] = swap;
		}
		n = snprintf(most + used, sizeof most - used, "%s%s (%llu)", named ? ", " : "",
		    seen.peers[named].host, seen.peers[named].n);
		if (n < 0 || (size_t)n >= sizeof most - used)
			break;
		used += (size_t)n;
	}
	if (shed > 0 && seen.refused > 0)
		(void)snprintf(refused, sizeof refused, "; refused %llu new connection%s: every "
		    "connection was busy", seen.refused, seen.refused == 1 ? "" : "s");
	else
		refused[0] = '\0';
	if (shed > 0)
		log_warning("shed %llu connection%s in the last second to admit new ones "
		    "(%llu idle, %llu partial)%s; most from %s", shed, shed == 1 ? "" : "s",
		    seen.idle, seen.partial, refused, most);
	else
		log_warning("refused %llu new connection%s in the last second: calcd is full and "
		    "every connection was busy; most from %s", seen.refused,
		    seen.refused == 1 ? "" : "s", most);
}
