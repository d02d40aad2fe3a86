/*
 * calcctl: the command-line client an operator checks a running calcd
 * with.  Owns the options, the command table, what is printed and the
 * exit status:
 *   0   the call worked; its result is on stdout
 *   1   the server answered with an error (TApplicationException,
 *       InvalidOperation), printed on stderr
 *   2   no usable answer: cannot connect, timeout, connection closed,
 *       malformed reply
 *   64  bad usage (EX_USAGE)
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "calc.h"
#include "calcctl_net.h"
#include "calcctl_rpc.h"
#include "calcctl_stats.h"
#include "calcctl_tls.h"

#define CALCCTL_EXIT_OK		0
#define CALCCTL_EXIT_SERVER	1
#define CALCCTL_EXIT_FAILURE	2
#define CALCCTL_EXIT_USAGE	EX_USAGE

#define CALCCTL_DEFAULT_HOST	"localhost"
#define CALCCTL_DEFAULT_PORT	9090
#define CALCCTL_DEFAULT_TIMEOUT	5.0		/* seconds */
#define CALCCTL_MAX_TIMEOUT	86400.0		/* seconds */
#define CALCCTL_SEQID		1		/* one call per connection */
#define CALCCTL_MAX_CALL	65536		/* bytes of the encoded call */
#define CALCCTL_STATS_DEFAULT_PORT 9100		/* the metrics_listen example in calcd.conf */
#define CALCCTL_NAME_LEN	256		/* "SERVICE:method" */

/* The long options without a letter. */
enum { CALCCTL_OPT_TLS = 256, CALCCTL_OPT_CA, CALCCTL_OPT_CERT, CALCCTL_OPT_KEY };

/* How a command's argument is given on the command line. */
enum calcctl_arg {
	CALCCTL_ARG_I32,	/* a decimal i32 */
	CALCCTL_ARG_OP,		/* an Operation: add or +, subtract or -, ... */
};

struct calcctl_command {
	const char		*name;		/* on the command line */
	const char		*method;	/* in the IDL */
	const char		*args_usage;
	unsigned		 nargs;
	enum calcctl_arg	 args[CALCCTL_RPC_MAX_ARGS];
	bool			 oneway;
	enum calcctl_rpc_result	 result;
	bool			 throws;
	const char		*done;		/* printed when a void call returns */
	void			(*write_args)(const struct proto_ops *, struct proto_writer *,
				    const int32_t *);
};

/* Where to call and how; fixed by the options. */
struct calcctl_target {
	const char	*host;
	char		 port[8];
	char		 where[300];	/* "host:port" for messages */
	double		 timeout;	/* seconds */
	bool		 verbose;
	bool		 tls;		/* --tls */
	struct calcctl_tls_config tls_config;	/* --ca, --cert, --key */
	struct calcctl_tls *tls_client;	/* made from them before connecting */
};

static const struct {
	const char	*word;
	const char	*symbol;
	int32_t		 op;
} calcctl_operations[] = {
	{ "add",	"+", CALC_ADD },
	{ "subtract",	"-", CALC_SUBTRACT },
	{ "multiply",	"x", CALC_MULTIPLY },
	{ "divide",	"/", CALC_DIVIDE },
};

/* --- the arguments each method writes ------------------------------------ */

static void
calcctl_write_two_i32(const struct proto_ops *ops, struct proto_writer *w, const int32_t *args)
{
	ops->write_field_begin(w, PROTO_T_I32, 1);
	ops->write_i32(w, args[0]);
	ops->write_field_begin(w, PROTO_T_I32, 2);
	ops->write_i32(w, args[1]);
}

static void
calcctl_write_key(const struct proto_ops *ops, struct proto_writer *w, const int32_t *args)
{
	ops->write_field_begin(w, PROTO_T_I32, 1);
	ops->write_i32(w, args[0]);
}

/* calculate(1: i32 logid, 2: Work w) from LOGID NUM1 OP NUM2. */
static void
calcctl_write_calculate(const struct proto_ops *ops, struct proto_writer *w,
    const int32_t *args)
{
	ops->write_field_begin(w, PROTO_T_I32, 1);
	ops->write_i32(w, args[0]);
	ops->write_field_begin(w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_I32, 1);
	ops->write_i32(w, args[1]);
	ops->write_field_begin(w, PROTO_T_I32, 2);
	ops->write_i32(w, args[3]);
	ops->write_field_begin(w, PROTO_T_I32, 3);
	ops->write_i32(w, args[2]);
	ops->write_field_stop(w);
	ops->write_struct_end(w);
}

static const struct calcctl_command calcctl_commands[] = {
	{ "add", "add", "A B", 2, { CALCCTL_ARG_I32, CALCCTL_ARG_I32 },
	  .result = CALCCTL_RESULT_I32, .write_args = calcctl_write_two_i32 },
	{ "subtract", "subtract", "A B", 2, { CALCCTL_ARG_I32, CALCCTL_ARG_I32 },
	  .result = CALCCTL_RESULT_I32, .write_args = calcctl_write_two_i32 },
	{ "ping", "ping", "", 0, { 0 },
	  .result = CALCCTL_RESULT_VOID, .done = "pong" },
	{ "calculate", "calculate", "LOGID NUM1 OP NUM2", 4,
	  { CALCCTL_ARG_I32, CALCCTL_ARG_I32, CALCCTL_ARG_OP, CALCCTL_ARG_I32 },
	  .result = CALCCTL_RESULT_I32, .throws = true, .write_args = calcctl_write_calculate },
	{ "getstruct", "getStruct", "KEY", 1, { CALCCTL_ARG_I32 },
	  .result = CALCCTL_RESULT_SHARED, .write_args = calcctl_write_key },
	{ "zip", "zip", "", 0, { 0 }, .oneway = true },
};

/* --- usage --------------------------------------------------------------- */

static const char calcctl_synopsis[] =
    "usage: calcctl [-H HOST] [-p PORT] [-t buffered|framed|header]\n"
    "               [-P binary|compact] [-s SERVICE] [-T TIMEOUT] [-v] [-h] [-V]\n"
    "               [--tls [--ca FILE] [--cert FILE [--key FILE]]] [--] COMMAND [ARGS]\n";

static void
calcctl_usage(FILE *out)
{
	fputs(calcctl_synopsis, out);
	fputs("commands:\n"
	    "  add A B                       print A + B\n"
	    "  subtract A B                  print A - B\n"
	    "  ping                          print pong once the server answers\n"
	    "  calculate LOGID NUM1 OP NUM2  print NUM1 OP NUM2 (OP: add subtract multiply\n"
	    "                                divide, or + - x /), logged under LOGID\n"
	    "  getstruct KEY                 print what calculate logged under KEY,\n"
	    "                                as key=KEY value=RESULT\n"
	    "  zip                           send the oneway call zip; print nothing\n"
	    "  stats [--watch]               calls/s, errors, latency and connections from\n"
	    "                                calcd's metrics endpoint (metrics_listen; -p\n"
	    "                                defaults to 9100 here, plain HTTP: no --tls);\n"
	    "                                --watch: every second\n"
	    "options:\n"
	    "  -H, --host HOST          server name or address (default localhost)\n"
	    "  -p, --port PORT          server port (default 9090)\n"
	    "  -t, --transport T        buffered (default), framed, or header (THeader)\n"
	    "  -P, --protocol P         binary (default) or compact; with -t header, the\n"
	    "                           protocol id the THeader frame names\n"
	    "  -s, --service SERVICE    call SERVICE:method, as TMultiplexedProtocol does\n"
	    "  -T, --timeout SECONDS    give up after this long (default 5; 0.5 is allowed)\n"
	    "      --tls                call over TLS; the server's certificate must verify\n"
	    "                           and name HOST (as a DNS name or an IP address)\n"
	    "      --ca FILE            trust FILE's CA certificates (PEM), not the system's\n"
	    "      --cert FILE          present this client certificate (PEM; mutual TLS)\n"
	    "      --key FILE           its unencrypted key (PEM; default: in --cert's file)\n"
	    "  -v, --verbose            show the addresses tried and the bytes sent and\n"
	    "                           received, in hex, on stderr\n"
	    "  -h, --help               print this help and exit\n"
	    "  -V, --version            print the version and exit\n"
	    "exit status: 0 success, 1 the server returned an error, 2 no usable answer\n"
	    "(connection, timeout, malformed reply), 64 bad usage\n", out);
}

static int
calcctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
calcctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("calcctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(calcctl_synopsis, stderr);
	fputs("commands: add A B | subtract A B | ping | calculate LOGID NUM1 OP NUM2 |\n"
	    "          getstruct KEY | zip      (calcctl -h says more)\n", stderr);
	return CALCCTL_EXIT_USAGE;
}

/* --- parsing ------------------------------------------------------------- */

/* A whole decimal number in [min, max], nothing before or after it. */
static bool
calcctl_parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
calcctl_parse_op(const char *s, int32_t *op)
{
	for (size_t i = 0; i < sizeof calcctl_operations / sizeof calcctl_operations[0]; i++) {
		if (strcmp(s, calcctl_operations[i].word) == 0 ||
		    strcmp(s, calcctl_operations[i].symbol) == 0) {
			*op = calcctl_operations[i].op;
			return true;
		}
	}
	return false;
}

/* Seconds, fractions allowed: "5", "0.25". */
static bool
calcctl_parse_timeout(const char *s, double *out)
{
	char	*end;
	double	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 || v > CALCCTL_MAX_TIMEOUT)
		return false;
	*out = v;
	return true;
}

static const struct calcctl_command *
calcctl_find_command(const char *name)
{
	for (size_t i = 0; i < sizeof calcctl_commands / sizeof calcctl_commands[0]; i++)
		if (strcmp(name, calcctl_commands[i].name) == 0 ||
		    strcmp(name, calcctl_commands[i].method) == 0)
			return &calcctl_commands[i];
	return NULL;
}

/* --- output -------------------------------------------------------------- */

/* Text from the server, with control bytes shown as \xNN. */
static void
calcctl_print_text(FILE *out, const struct proto_string *s)
{
	for (size_t i = 0; i < s->len; i++) {
		uint8_t c = s->ptr[i];

		if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

/*
 * An exception's text as calcctl prints it after its own "METHOD: ": a
 * server's text that starts with the method name (calcd's "add: 2147483647
 * + 1 overflows i32") would say it twice, so that prefix is dropped.
 */
static struct proto_string
calcctl_server_text(const struct calcctl_call *call, const struct proto_string *text)
{
	const char		*names[] = { call->name, call->method };
	struct proto_string	 out = *text;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t len = strlen(names[i]);

		if (text->len > len + 2 && memcmp(text->ptr, names[i], len) == 0 &&
		    text->ptr[len] == ':' && text->ptr[len + 1] == ' ') {
			out.ptr = text->ptr + len + 2;
			out.len = text->len - len - 2;
			break;
		}
	}
	return out;
}

static int
calcctl_print_reply(const struct calcctl_command *cmd, const struct calcctl_call *call,
    const struct calcctl_reply *rep)
{
	struct proto_string text;

	switch (rep->status) {
	case CALCCTL_REPLY_OK:
		if (cmd->result == CALCCTL_RESULT_I32) {
			printf("%ld\n", (long)rep->value);
		} else if (cmd->result == CALCCTL_RESULT_SHARED) {
			printf("key=%ld value=", (long)rep->value);
			calcctl_print_text(stdout, &rep->text);
			putchar('\n');
		} else {
			puts(cmd->done);
		}
		return CALCCTL_EXIT_OK;
	case CALCCTL_REPLY_APP_ERROR:
		text = calcctl_server_text(call, &rep->text);
		fprintf(stderr, "calcctl: %s: ", cmd->method);
		calcctl_print_text(stderr, &text);
		fprintf(stderr, " (TApplicationException type %ld)\n", (long)rep->code);
		return CALCCTL_EXIT_SERVER;
	case CALCCTL_REPLY_INVALID_OP:
		text = calcctl_server_text(call, &rep->text);
		fprintf(stderr, "calcctl: %s: ", cmd->method);
		calcctl_print_text(stderr, &text);
		fprintf(stderr, " (InvalidOperation, whatOp %ld)\n", (long)rep->code);
		return CALCCTL_EXIT_SERVER;
	default:
		return CALCCTL_EXIT_FAILURE;
	}
}

/* --- the call ------------------------------------------------------------ */

/* After a oneway call: the server closes once it has read it, and says nothing. */
static int
calcctl_finish_oneway(const struct calcctl_target *t, const struct calcctl_command *cmd,
    struct calcctl_net *net, struct buf *in)
{
	ssize_t n;

	if (calcctl_net_shutdown(net) != 0) {
		fprintf(stderr, "calcctl: %s: %s: %s\n", t->where, cmd->method, net->error);
		return CALCCTL_EXIT_FAILURE;
	}
	while ((n = calcctl_net_recv(net, in)) > 0)
		continue;
	if (t->verbose && in->len > 0) {
		fprintf(stderr, "calcctl: received %zu bytes\n", in->len);
		calcctl_net_hexdump(stderr, "<", in->data, in->len);
	}
	if (in->len > 0) {
		fprintf(stderr, "calcctl: %s: %s: the server sent %zu bytes in answer to a "
		    "oneway call\n", t->where, cmd->method, in->len);
		return CALCCTL_EXIT_FAILURE;
	}
	if (n < 0) {
		fprintf(stderr, "calcctl: %s: %s: %s%s\n", t->where, cmd->method, net->error,
		    net->timed_out ? " waiting for the server to close the connection" : "");
		return CALCCTL_EXIT_FAILURE;
	}
	return CALCCTL_EXIT_OK;
}

/* Read until the reply is complete and good; -1 with why otherwise. */
static int
calcctl_receive(const struct calcctl_call *call, struct calcctl_net *net, struct buf *in,
    struct calcctl_reply *rep, char *why, size_t size)
{
	ssize_t n;

	for (;;) {
		calcctl_rpc_parse(call, in->data, in->len, rep);
		if (rep->status != CALCCTL_REPLY_NEED_MORE)
			break;
		if (in->len >= in->limit) {
			(void)snprintf(why, size, "the reply is over the 16 MiB limit");
			return -1;
		}
		if ((n = calcctl_net_recv(net, in)) > 0)
			continue;
		if (n == 0 && in->len == 0)
			(void)snprintf(why, size, "the server closed the connection without a reply");
		else if (n == 0)
			(void)snprintf(why, size, "the server closed the connection after %zu bytes, "
			    "in the middle of the reply", in->len);
		else if (net->timed_out)
			(void)snprintf(why, size, "%s waiting for the reply (%zu bytes received)",
			    net->error, in->len);
		else
			(void)snprintf(why, size, "cannot receive the reply: %s", net->error);
		return -1;
	}
	if (rep->status != CALCCTL_REPLY_BAD && in->len > rep->length) {
		(void)snprintf(why, size, "malformed reply: %zu unexpected bytes after the reply",
		    in->len - rep->length);
		return -1;
	}
	if (rep->status == CALCCTL_REPLY_BAD) {
		(void)snprintf(why, size, "malformed reply: %s", rep->error);
		return -1;
	}
	return 0;
}

static int
calcctl_run(const struct calcctl_target *t, const struct calcctl_command *cmd,
    const struct calcctl_call *call)
{
	struct calcctl_net	net;
	struct calcctl_reply	rep;
	struct buf		out, in;
	char			why[CALCCTL_NET_ERROR_LEN + CALCCTL_RPC_ERROR_LEN];
	int			status = CALCCTL_EXIT_FAILURE, rc;

	/* Milliseconds, rounded up: -T 0.0001 still waits a little. */
	calcctl_net_init(&net, t->host, t->port, (int64_t)(t->timeout * 1000 + 0.999),
	    t->verbose);
	net.tls = t->tls_client;
	buf_init(&out, CALCCTL_MAX_CALL);
	buf_init(&in, CALCCTL_RPC_MAX_REPLY + 4);
	if (calcctl_rpc_encode(call, &out) != 0) {
		fprintf(stderr, "calcctl: %s: the call does not fit in %d bytes\n", cmd->method,
		    CALCCTL_MAX_CALL);
		goto done;
	}
	if (t->verbose)
		fprintf(stderr, "calcctl: calling %s on %s (%s, %s)\n", call->name, t->where,
		    calcctl_rpc_transport_name(call->transport), call->ops->name);
	if (calcctl_net_connect(&net) != 0) {
		fprintf(stderr, "calcctl: %s: %s\n", t->where, net.error);
		goto done;
	}
	if (t->verbose) {
		fprintf(stderr, "calcctl: sending %zu bytes\n", out.len);
		calcctl_net_hexdump(stderr, ">", out.data, out.len);
	}
	if (calcctl_net_send(&net, out.data, out.len) != 0) {
		fprintf(stderr, "calcctl: %s: %s: %s\n", t->where, cmd->method, net.error);
		goto done;
	}
	if (call->oneway) {
		status = calcctl_finish_oneway(t, cmd, &net, &in);
		goto done;
	}
	rc = calcctl_receive(call, &net, &in, &rep, why, sizeof why);
	if (t->verbose) {
		fprintf(stderr, "calcctl: received %zu bytes\n", in.len);
		calcctl_net_hexdump(stderr, "<", in.data, in.len);
	}
	if (rc == 0)
		status = calcctl_print_reply(cmd, call, &rep);
	else
		fprintf(stderr, "calcctl: %s: %s: %s\n", t->where, cmd->method, why);
done:
	calcctl_net_close(&net);
	buf_free(&out);
	buf_free(&in);
	return status;
}

/* The port as text and "host:port" for messages: five digits; a host name cut in a message. */
static void
calcctl_set_where(struct calcctl_target *t, long port)
{
	(void)snprintf(t->port, sizeof t->port, "%ld", port);
	if (strchr(t->host, ':') != NULL)
		(void)snprintf(t->where, sizeof t->where, "[%.255s]:%s", t->host, t->port);
	else
		(void)snprintf(t->where, sizeof t->where, "%.255s:%s", t->host, t->port);
}

/* `calcctl stats [--watch]`: the metrics endpoint, on -p PORT (default 9100). */
static int
calcctl_stats_main(struct calcctl_target *t, long port, int argc, char **argv)
{
	struct calcctl_stats_target	target;
	bool				watch = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--watch") == 0 || strcmp(argv[i], "-w") == 0)
			watch = true;
		else if (strcmp(argv[i], "--") != 0)
			return calcctl_usage_error("stats: unexpected argument '%s' (stats "
			    "[--watch])", argv[i]);
	}
	calcctl_set_where(t, port);
	target.host = t->host;
	target.port = t->port;
	target.where = t->where;
	target.timeout_ms = (int64_t)(t->timeout * 1000 + 0.999);
	target.verbose = t->verbose;
	return calcctl_stats_run(&target, watch);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host",	required_argument, NULL, 'H' },
		{ "port",	required_argument, NULL, 'p' },
		{ "transport",	required_argument, NULL, 't' },
		{ "protocol",	required_argument, NULL, 'P' },
		{ "service",	required_argument, NULL, 's' },
		{ "timeout",	required_argument, NULL, 'T' },
		{ "verbose",	no_argument,	   NULL, 'v' },
		{ "tls",	no_argument,	   NULL, CALCCTL_OPT_TLS },
		{ "ca",		required_argument, NULL, CALCCTL_OPT_CA },
		{ "cert",	required_argument, NULL, CALCCTL_OPT_CERT },
		{ "key",	required_argument, NULL, CALCCTL_OPT_KEY },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "version",	no_argument,	   NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct calcctl_command	*cmd;
	struct calcctl_target		 t;
	struct calcctl_call		 call;
	char				 name[CALCCTL_NAME_LEN], host[CALCCTL_NAME_LEN];
	char				 tls_error[CALCCTL_TLS_ERROR_LEN];
	const char			*service = NULL;
	long				 port = CALCCTL_DEFAULT_PORT, v;
	size_t				 len;
	int				 ch, status;
	bool				 port_given = false;

	memset(&t, 0, sizeof t);
	memset(&call, 0, sizeof call);
	t.host = CALCCTL_DEFAULT_HOST;
	t.timeout = CALCCTL_DEFAULT_TIMEOUT;
	call.ops = &proto_binary;

	/* "+": stop at the command, so that "add -5 3" takes -5 as a number. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:H:p:t:P:s:T:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			len = strlen(optarg);
			/* "[::1]" as well as "::1" */
			if (len >= 2 && optarg[0] == '[' && optarg[len - 1] == ']') {
				if (len - 2 >= sizeof host)
					return calcctl_usage_error("-H: host name too long");
				memcpy(host, optarg + 1, len - 2);
				host[len - 2] = '\0';
				t.host = host;
			} else {
				t.host = optarg;
			}
			if (*t.host == '\0')
				return calcctl_usage_error("-H: empty host name");
			break;
		case 'p':
			if (!calcctl_parse_long(optarg, 1, 65535, &port))
				return calcctl_usage_error("-p: '%s' is not a port number "
				    "(1 to 65535)", optarg);
			port_given = true;
			break;
		case 't':
			if (strcmp(optarg, "buffered") == 0)
				call.transport = CALCCTL_TRANSPORT_BUFFERED;
			else if (strcmp(optarg, "framed") == 0)
				call.transport = CALCCTL_TRANSPORT_FRAMED;
			else if (strcmp(optarg, "header") == 0)
				call.transport = CALCCTL_TRANSPORT_HEADER;
			else
				return calcctl_usage_error("-t: unknown transport '%s' "
				    "(buffered, framed or header)", optarg);
			break;
		case 'P':
			if (strcmp(optarg, "binary") == 0)
				call.ops = &proto_binary;
			else if (strcmp(optarg, "compact") == 0)
				call.ops = &proto_compact;
			else
				return calcctl_usage_error("-P: unknown protocol '%s' "
				    "(binary or compact)", optarg);
			break;
		case 's':
			if (*optarg == '\0' || strchr(optarg, ':') != NULL)
				return calcctl_usage_error("-s: '%s' is not a service name",
				    optarg);
			service = optarg;
			break;
		case 'T':
			if (!calcctl_parse_timeout(optarg, &t.timeout))
				return calcctl_usage_error("-T: '%s' is not a timeout in seconds "
				    "(more than 0, at most 86400)", optarg);
			break;
		case 'v':
			t.verbose = true;
			break;
		case CALCCTL_OPT_TLS:
			t.tls = true;
			break;
		case CALCCTL_OPT_CA:
		case CALCCTL_OPT_CERT:
		case CALCCTL_OPT_KEY:
			if (*optarg == '\0')
				return calcctl_usage_error("--%s: empty file name", ch ==
				    CALCCTL_OPT_CA ? "ca" : ch == CALCCTL_OPT_CERT ? "cert" : "key");
			*(ch == CALCCTL_OPT_CA ? &t.tls_config.ca : ch == CALCCTL_OPT_CERT ?
			    &t.tls_config.cert : &t.tls_config.key) = optarg;
			break;
		case 'h':
			calcctl_usage(stdout);
			return CALCCTL_EXIT_OK;
		case 'V':
			printf("calcctl %s\n", PACKAGE_VERSION);
			return CALCCTL_EXIT_OK;
		case ':':
			return calcctl_usage_error("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < CALCCTL_OPT_TLS)
				return calcctl_usage_error("unknown option -%c", optopt);
			return calcctl_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return calcctl_usage_error("no command given");
	if (!t.tls && (t.tls_config.ca || t.tls_config.cert || t.tls_config.key))
		return calcctl_usage_error("--ca, --cert and --key need --tls");
	if (t.tls_config.key != NULL && t.tls_config.cert == NULL)
		return calcctl_usage_error("--key needs --cert");
	if (t.tls && strcmp(argv[optind], "stats") == 0)
		return calcctl_usage_error("stats: the metrics endpoint is plain HTTP: no --tls");
	if (strcmp(argv[optind], "stats") == 0)
		return calcctl_stats_main(&t, port_given ? port : CALCCTL_STATS_DEFAULT_PORT,
		    argc - optind - 1, argv + optind + 1);
	if ((cmd = calcctl_find_command(argv[optind])) == NULL)
		return calcctl_usage_error("unknown command '%s'", argv[optind]);
	optind++;
	/*
	 * Options end at the command, but "--" ends them as usual too: the
	 * first one among the command's arguments is dropped, so that
	 * "add -- -5 3" is "add -5 3".
	 */
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			memmove(&argv[i], &argv[i + 1], sizeof argv[0] * (size_t)(argc - i));
			argc--;
			break;
		}
	}
	if ((unsigned)(argc - optind) != cmd->nargs)
		return calcctl_usage_error("%s takes %u argument%s%s%s, not %d", cmd->name,
		    cmd->nargs, cmd->nargs == 1 ? "" : "s", cmd->nargs ? ": " : "",
		    cmd->args_usage, argc - optind);
	for (unsigned i = 0; i < cmd->nargs; i++) {
		const char *arg = argv[optind + i];

		if (cmd->args[i] == CALCCTL_ARG_OP) {
			if (!calcctl_parse_op(arg, &call.args[i]))
				return calcctl_usage_error("%s: unknown operation '%s' (add, "
				    "subtract, multiply, divide, or + - x /)", cmd->name, arg);
		} else {
			if (!calcctl_parse_long(arg, INT32_MIN, INT32_MAX, &v))
				return calcctl_usage_error("%s: '%s' is not an i32 (an integer "
				    "from -2147483648 to 2147483647)", cmd->name, arg);
			call.args[i] = (int32_t)v;
		}
	}

	if (service == NULL)
		service = "";
	len = (size_t)snprintf(name, sizeof name, "%s%s%s", service, *service ? ":" : "",
	    cmd->method);
	if (len >= sizeof name)
		return calcctl_usage_error("-s: service name too long");
	calcctl_set_where(&t, port);
	call.method = cmd->method;
	call.name = name;
	call.oneway = cmd->oneway;
	call.seqid = CALCCTL_SEQID;
	call.result = cmd->result;
	call.throws = cmd->throws;
	call.write_args = cmd->write_args;

	if (t.tls && (t.tls_client = calcctl_tls_new(&t.tls_config, t.host, tls_error,
	    sizeof tls_error)) == NULL) {
		fprintf(stderr, "calcctl: %s\n", tls_error);
		return CALCCTL_EXIT_FAILURE;
	}
	status = calcctl_run(&t, cmd, &call);
	calcctl_tls_free(t.tls_client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "calcctl: standard output: %s\n", strerror(errno));
		return CALCCTL_EXIT_FAILURE;
	}
	return status;
}
