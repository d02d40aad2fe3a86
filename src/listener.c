/*
 * listener: the listening sockets.  Each serves one listen line (a line
 * may resolve to several addresses: "*" is an IPv4 and an IPv6 socket),
 * or is one of the sockets systemd passed.  On a reload the sockets of
 * lines still in the file stay as they are; new lines are opened before
 * the sockets of lines gone are closed, so calcd never serves less than
 * both files have in common.  A socket takes its line's options (proxy, tls);
 * a socket from systemd those of the listen line with its very address.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "service.h"

#define LISTENER_MAX_LIVE	(2 * CONF_MAX_LISTEN)	/* every line "*" */
#define LISTENER_SLOTS		(2 * LISTENER_MAX_LIVE)	/* old and new, during a reload */
#define LISTENER_BACKLOG	1024
#define LISTENER_NAME_LEN	(CONF_LISTEN_LEN + 16)

enum listener_state {
	LISTENER_LIVE,		/* open, for a line in force */
	LISTENER_GOING,		/* reload: open, its line is gone from the file */
	LISTENER_DISPLACED,	/* reload: closed so a new line can take its port */
	LISTENER_REPLACED,	/* reload: closed, the new line has its port */
};

struct listener {
	int			 fd;		/* -1 once closed */
	struct event		*ev;
	enum listener_state	 state;
	bool			 from_systemd;
	bool			 proxy;		/* connections start with a PROXY header */
	bool			 tls;		/* then a TLS handshake */
	struct conf_listen	 origin;	/* the line it serves */
	struct sockaddr_storage	 addr;		/* as bound, to open it again */
	socklen_t		 addrlen;
	char			 name[LISTENER_NAME_LEN];
};

struct listener_set {
	struct listener		 slots[LISTENER_SLOTS];
	unsigned		 count;
	bool			 from_systemd;
	bool			 paused;
	struct event_base	*base;		/* NULL until watched */
	event_callback_fn	 on_accept;
	void			*arg;
};

static bool
listener_same_line(const struct conf_listen *a, const struct conf_listen *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

static int
listener_set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/*
 * A bound, listening, non-blocking socket on addr; -1 with errno set,
 * and *in_socket true if socket(2) itself failed.
 */
static int
listener_socket(const struct sockaddr *addr, socklen_t addrlen, int protocol, bool *in_socket)
{
	int	fd, one = 1, saved;

	*in_socket = true;
	if ((fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, protocol)) < 0)
		return -1;
	*in_socket = false;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (addr->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, addr, addrlen) == 0 && listen(fd, LISTENER_BACKLOG) == 0 &&
	    listener_set_nonblocking(fd) == 0)
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Could a socket bound to a keep b from binding (same port, overlapping address)? */
static bool
listener_overlaps(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port != 0 && x->sin_port == y->sin_port &&
		    (x->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    y->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    x->sin_addr.s_addr == y->sin_addr.s_addr);
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port != 0 && x->sin6_port == y->sin6_port &&
		    (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr) ||
		    IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr));
	}
	return false;
}

static unsigned
listener_live_count(const struct listener_set *set)
{
	unsigned n = 0;

	for (unsigned i = 0; i < set->count; i++)
		n += set->slots[i].state == LISTENER_LIVE;
	return n;
}

static void
listener_close_fd(struct listener *l)
{
	if (l->ev != NULL)
		event_free(l->ev);
	l->ev = NULL;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static struct listener *
listener_add(struct listener_set *set, int fd, const struct conf_listen *origin)
{
	struct listener *l = &set->slots[set->count++];

	memset(l, 0, sizeof *l);
	l->fd = fd;
	l->state = LISTENER_LIVE;
	if (origin != NULL) {
		l->origin = *origin;
		l->proxy = origin->proxy;
		l->tls = origin->tls;
	}
	l->addrlen = sizeof l->addr;
	if (getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen) == 0) {
		conn_format_address((struct sockaddr *)&l->addr, l->name, sizeof l->name);
	} else {
		l->addrlen = 0;
		(void)snprintf(l->name, sizeof l->name, "fd %d", fd);
	}
	return l;
}

/* Accept on l from now on (unless paused); set->base exists. */
static int
listener_watch_one(struct listener_set *set, struct listener *l)
{
	l->ev = event_new(set->base, l->fd, EV_READ | EV_PERSIST, set->on_accept, set->arg);
	if (l->ev == NULL || (!set->paused && event_add(l->ev, NULL) != 0)) {
		log_error("cannot watch %s", l->name);
		return -1;
	}
	return 0;
}

/* " (from systemd, PROXY protocol, TLS)", or less, or "". */
static void
listener_describe_options(const struct listener *l, char *out, size_t len)
{
	(void)snprintf(out, len, "%s%s%s%s%s%s%s", l->from_systemd || l->proxy || l->tls ? " (" : "",
	    l->from_systemd ? "from systemd" : "", l->from_systemd && (l->proxy || l->tls) ? ", " : "",
	    l->proxy ? "PROXY protocol" : "", l->proxy && l->tls ? ", " : "",
	    l->tls ? "TLS" : "", l->from_systemd || l->proxy || l->tls ? ")" : "");
}

static int
listener_start(struct listener_set *set, struct listener *l)
{
	char options[64];

	if (listener_watch_one(set, l) != 0)
		return -1;
	listener_describe_options(l, options, sizeof options);
	log_notice("listening on %s%s", l->name, options);
	return 0;
}

/* A line that stays changes its options: they apply to new connections. */
static void
listener_take_options(struct listener *l, bool proxy, bool tls)
{
	const char *suffix = l->from_systemd ? " (from systemd)" : "";

	if (proxy != l->proxy)
		log_notice("%s%s: %s", l->name, suffix, proxy ?
		    "PROXY protocol headers required from now on" :
		    "no PROXY protocol header expected from now on");
	if (tls != l->tls)
		log_notice("%s%s: %s", l->name, suffix, tls ? "TLS from now on" :
		    "no TLS from now on (in the clear)");
	l->proxy = proxy;
	l->tls = tls;
}

/* Close the sockets going away that hold addr's port, for a new one; how many. */
static unsigned
listener_displace(struct listener_set *set, const struct sockaddr *addr)
{
	unsigned n = 0;

	for (unsigned i = 0; i < set->count; i++) {
		struct listener *l = &set->slots[i];

		if (l->state == LISTENER_GOING && listener_overlaps(addr, &l->addr)) {
			listener_close_fd(l);
			l->state = LISTENER_DISPLACED;
			n++;
		}
	}
	return n;
}

/* The new line could not be opened: open what it displaced again, in its stead. */
static void
listener_restore(struct listener_set *set)
{
	for (unsigned i = 0; i < set->count; i++) {
		struct listener	*l = &set->slots[i];
		bool		 in_socket;

		if (l->state != LISTENER_DISPLACED)
			continue;
		l->fd = listener_socket((struct sockaddr *)&l->addr, l->addrlen, 0, &in_socket);
		if (l->fd < 0) {
			log_error("cannot listen on %s again: %s", l->name, strerror(errno));
			l->state = LISTENER_REPLACED;
			continue;
		}
		l->state = LISTENER_LIVE;
		log_notice("keeping %s open in its place", l->name);
		if (set->base != NULL)
			(void)listener_watch_one(set, l);
	}
}

/* Bind and listen on one address of line cl (text); -1 with a logged reason. */
static int
listener_open_one(struct listener_set *set, const struct addrinfo *ai,
    const struct conf_listen *cl, const char *text)
{
	char	addr[LISTENER_NAME_LEN];
	bool	in_socket;
	int	fd;

	if (listener_live_count(set) >= LISTENER_MAX_LIVE || set->count == LISTENER_SLOTS) {
		log_error("cannot listen on %s: too many listening sockets", text);
		return -1;
	}
	fd = listener_socket(ai->ai_addr, ai->ai_addrlen, ai->ai_protocol, &in_socket);
	if (fd < 0 && !in_socket && errno == EADDRINUSE &&
	    listener_displace(set, ai->ai_addr) > 0)
		fd = listener_socket(ai->ai_addr, ai->ai_addrlen, ai->ai_protocol, &in_socket);
	if (fd >= 0) {
		listener_add(set, fd, cl);
		return 0;
	}
	if (in_socket) {
		/* "*" on a host without IPv6: the IPv4 socket is enough. */
		if (cl->host[0] == '\0' && ai->ai_family == AF_INET6 && errno == EAFNOSUPPORT) {
			log_notice("IPv6 is not available; %s listens on IPv4 only", text);
			return 0;
		}
		log_error("cannot listen on %s: socket: %s", text, strerror(errno));
		return -1;
	}
	/* Name the resolved address only where it says more than the line. */
	conn_format_address(ai->ai_addr, addr, sizeof addr);
	if (strcmp(addr, text) == 0)
		log_error("cannot listen on %s: %s", text, strerror(errno));
	else
		log_error("cannot listen on %s (%s): %s", text, addr, strerror(errno));
	return -1;
}

/*
 * Open every address line cl resolves to; on failure none of them stays
 * open and the sockets they displaced are opened again.
 */
static int
listener_open_line(struct listener_set *set, const struct conf_listen *cl)
{
	struct addrinfo	 hints, *res, *ai;
	char		 text[LISTENER_NAME_LEN];
	unsigned	 first = set->count;
	int		 rc;

	conf_format_listen(cl, text, sizeof text);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(cl->host[0] ? cl->host : NULL, cl->port, &hints, &res)) != 0) {
		log_error("cannot listen on %s: %s", text, gai_strerror(rc));
		return -1;
	}
	rc = 0;
	for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next)
		rc = listener_open_one(set, ai, cl, text);
	freeaddrinfo(res);
	if (rc != 0) {
		while (set->count > first)
			listener_close_fd(&set->slots[--set->count]);
		listener_restore(set);
		return -1;
	}
	for (unsigned i = 0; i < set->count; i++)
		if (set->slots[i].state == LISTENER_DISPLACED)
			set->slots[i].state = LISTENER_REPLACED;
	for (unsigned i = first; i < set->count && set->base != NULL; i++)
		(void)listener_start(set, &set->slots[i]);
	return 0;
}

/* Is a the address b was bound to (same family, address and port)? */
static bool
listener_same_address(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr);
	}
	return false;
}

/* Does listen line cl resolve to the address l is bound to? */
static bool
listener_line_matches(const struct conf_listen *cl, const struct listener *l)
{
	struct addrinfo	 hints, *res, *ai;
	bool		 found = false;

	if (l->addrlen == 0)
		return false;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(cl->host[0] ? cl->host : NULL, cl->port, &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL && !found; ai = ai->ai_next)
		found = listener_same_address(ai->ai_addr, &l->addr);
	freeaddrinfo(res);
	return found;
}

/*
 * Sockets from systemd replace the listen lines, but each takes the
 * options of the line with its very address (ListenStream=9090 is
 * [::]:9090, so the line "*:9090" or "[::]:9090"); without one, none.
 * A change is logged when announce is set (a reload).
 */
static void
listener_match_passed(struct listener_set *set, const struct conf *conf, bool announce)
{
	for (unsigned i = 0; i < set->count; i++) {
		struct listener	*l = &set->slots[i];
		bool		 proxy = false, tls = false;

		for (unsigned j = 0; j < conf->listen_count; j++) {
			if ((conf->listen[j].proxy || conf->listen[j].tls) &&
			    listener_line_matches(&conf->listen[j], l)) {
				proxy = conf->listen[j].proxy;
				tls = conf->listen[j].tls;
				break;
			}
		}
		if (announce)
			listener_take_options(l, proxy, tls);
		l->proxy = proxy;
		l->tls = tls;
	}
}

struct listener_set *
listener_set_open(const struct conf *conf)
{
	struct listener_set	*set;
	int			 passed;

	if ((set = calloc(1, sizeof *set)) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	if ((passed = service_listen_fds()) > 0) {
		/* Socket activation: systemd's sockets replace the listen lines. */
		set->from_systemd = true;
		for (int fd = 3; fd < 3 + passed && set->count < LISTENER_MAX_LIVE; fd++) {
			if (listener_set_nonblocking(fd) != 0) {
				log_error("socket %d from systemd: %s", fd, strerror(errno));
				listener_set_free(set);
				return NULL;
			}
			listener_add(set, fd, NULL)->from_systemd = true;
		}
		listener_match_passed(set, conf, false);
		return set;
	}
	for (unsigned i = 0; i < conf->listen_count; i++) {
		if (listener_open_line(set, &conf->listen[i]) != 0) {
			listener_set_free(set);
			return NULL;
		}
	}
	return set;
}

int
listener_set_watch(struct listener_set *set, struct event_base *base,
    event_callback_fn on_accept, void *arg)
{
	set->base = base;
	set->on_accept = on_accept;
	set->arg = arg;
	for (unsigned i = 0; i < set->count; i++)
		if (listener_start(set, &set->slots[i]) != 0)
			return -1;
	return 0;
}

void
listener_set_poll(struct listener_set *set, event_callback_fn on_accept, void *arg)
{
	for (unsigned i = 0; i < set->count; i++)
		if (set->slots[i].fd >= 0)
			on_accept(set->slots[i].fd, EV_READ, arg);
}

void
listener_set_pause(struct listener_set *set)
{
	set->paused = true;
	for (unsigned i = 0; i < set->count; i++)
		if (set->slots[i].ev != NULL)
			event_del(set->slots[i].ev);
}

void
listener_set_resume(struct listener_set *set)
{
	set->paused = false;
	for (unsigned i = 0; i < set->count; i++)
		if (set->slots[i].ev != NULL)
			event_add(set->slots[i].ev, NULL);
}

unsigned
listener_set_update(struct listener_set *set, const struct conf *next)
{
	unsigned failed = 0, kept = 0;

	if (set->from_systemd) {
		listener_match_passed(set, next, true);
		return 0;
	}
	for (unsigned i = 0; i < set->count; i++) {
		struct listener *l = &set->slots[i];

		l->state = LISTENER_GOING;
		for (unsigned j = 0; j < next->listen_count; j++) {
			if (!listener_same_line(&l->origin, &next->listen[j]))
				continue;
			l->state = LISTENER_LIVE;
			/* The line stays; its options apply to new connections. */
			listener_take_options(l, next->listen[j].proxy, next->listen[j].tls);
			l->origin = next->listen[j];
		}
	}
	for (unsigned i = 0; i < next->listen_count; i++) {
		unsigned j;

		for (j = 0; j < set->count; j++)
			if (listener_same_line(&set->slots[j].origin, &next->listen[i]))
				break;
		if (j == set->count && listener_open_line(set, &next->listen[i]) != 0)
			failed++;
	}
	/* Then close what went away, in order; logged once closed, so the port is shut. */
	for (unsigned i = 0; i < set->count; i++) {
		struct listener *l = &set->slots[i];

		if (l->state == LISTENER_LIVE) {
			set->slots[kept++] = *l;
			continue;
		}
		listener_close_fd(l);
		log_notice("no longer listening on %s", l->name);
	}
	set->count = kept;
	return failed;
}

unsigned
listener_set_conn_flags(const struct listener_set *set, int fd)
{
	for (unsigned i = 0; i < set->count; i++)
		if (set->slots[i].fd == fd)
			return (set->slots[i].proxy ? CONN_PROXY : 0) |
			    (set->slots[i].tls ? CONN_TLS : 0);
	return 0;
}

void
listener_set_describe(const struct listener_set *set, char *out, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < set->count && used < len - 1; i++) {
		int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "",
		    set->slots[i].name);

		if (n > 0)
			used += (size_t)n;
	}
}

void
listener_set_close(struct listener_set *set)
{
	while (set->count > 0)
		listener_close_fd(&set->slots[--set->count]);
}

void
listener_set_free(struct listener_set *set)
{
	if (set == NULL)
		return;
	listener_set_close(set);
	free(set);
}

int
listener_open_sockets(const struct conf_listen *cl, const char *what, int *fds, unsigned max)
{
	struct addrinfo	 hints, *res, *ai;
	char		 text[LISTENER_NAME_LEN];
	unsigned	 count = 0;
	bool		 in_socket;
	int		 rc, fd;

	conf_format_listen(cl, text, sizeof text);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(cl->host[0] ? cl->host : NULL, cl->port, &hints, &res)) != 0) {
		log_error("%s: cannot listen on %s: %s", what, text, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (count == max) {
			log_error("%s: cannot listen on %s: it has too many addresses", what, text);
			break;
		}
		fd = listener_socket(ai->ai_addr, ai->ai_addrlen, ai->ai_protocol, &in_socket);
		if (fd >= 0) {
			fds[count++] = fd;
			continue;
		}
		if (in_socket && cl->host[0] == '\0' && ai->ai_family == AF_INET6 &&
		    errno == EAFNOSUPPORT)
			continue;	/* "*" without IPv6: the IPv4 socket is enough */
		log_error("%s: cannot listen on %s: %s", what, text, strerror(errno));
		break;
	}
	freeaddrinfo(res);
	if (ai != NULL || count == 0) {
		while (count > 0)
			close(fds[--count]);
		return -1;
	}
	return (int)count;
}
