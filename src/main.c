/*
 * main: calcd's command line, start-up and exit status.
 *   0  clean shutdown (SIGTERM, SIGINT)
 *   1  bad usage or configuration
 *   2  cannot listen
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "calc.h"
#include "conf.h"
#include "log.h"
#include "server.h"

#define MAIN_EXIT_OK		0
#define MAIN_EXIT_CONFIG	1
#define MAIN_EXIT_LISTEN	2

static const char main_default_config[] = CALCD_SYSCONFDIR "/calcd.conf";

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: calcd [-c FILE] [-f] [-t] [-l ADDRESS]... [-v]... [-V] [-h]\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -f, --foreground      stay in the foreground (always the case)\n"
	    "  -t, --test-config     check the configuration and exit (0 good, 1 bad)\n"
	    "  -l, --listen ADDRESS  listen on HOST:PORT, [V6ADDR]:PORT or *:PORT instead\n"
	    "                        of the configured addresses; may be repeated\n"
	    "  -v, --verbose         log more (info, then debug)\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    main_default_config);
}

/* Let max_connections sockets, and some for listeners, fit in the fd limit. */
static void
main_raise_fd_limit(unsigned max_connections)
{
	struct rlimit	rl;
	rlim_t		want = (rlim_t)max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warning("max_connections is %u but only %llu file descriptors are allowed",
		    max_connections, (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",	 required_argument, NULL, 'c' },
		{ "foreground",	 no_argument,	    NULL, 'f' },
		{ "test-config", no_argument,	    NULL, 't' },
		{ "listen",	 required_argument, NULL, 'l' },
		{ "verbose",	 no_argument,	    NULL, 'v' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct conf_listen	 listen[CONF_MAX_LISTEN];
	unsigned		 listen_count = 0;
	const char		*path = main_default_config;
	struct conf		 conf;
	struct server		*server;
	bool			 test_only = false;
	int			 verbose = 0, ch, errors, status;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:ftl:vVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			break;
		case 't':
			test_only = true;
			break;
		case 'l': {
			const char *why;

			if (listen_count == CONF_MAX_LISTEN) {
				fprintf(stderr, "calcd: at most %d -l options\n", CONF_MAX_LISTEN);
				return MAIN_EXIT_CONFIG;
			}
			if ((why = conf_parse_listen(optarg, &listen[listen_count])) != NULL) {
				fprintf(stderr, "calcd: -l %s: %s\n", optarg, why);
				return MAIN_EXIT_CONFIG;
			}
			listen_count++;
			break;
		}
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("calcd %s\n", PACKAGE_VERSION);
			return MAIN_EXIT_OK;
		case 'h':
			main_usage(stdout);
			return MAIN_EXIT_OK;
		case ':':
			fprintf(stderr, "calcd: option %s needs an argument (try calcd -h)\n",
			    argv[optind - 1]);
			return MAIN_EXIT_CONFIG;
		default:
			if (optopt != 0)
				fprintf(stderr, "calcd: unknown option -%c (try calcd -h)\n", optopt);
			else
				fprintf(stderr, "calcd: unknown option %s (try calcd -h)\n",
				    argv[optind - 1]);
			return MAIN_EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "calcd: unexpected argument '%s' (try calcd -h)\n", argv[optind]);
		return MAIN_EXIT_CONFIG;
	}

	conf_defaults(&conf);
	errors = conf_load(&conf, path, stderr);
	if (errors > 0) {
		fprintf(stderr, "calcd: %s: %d error%s in the configuration%s\n", path, errors,
		    errors == 1 ? "" : "s", test_only ? "" : ", not starting");
		return MAIN_EXIT_CONFIG;
	}
	if (test_only) {
		fprintf(stderr, "calcd: %s: configuration is valid\n", path);
		return MAIN_EXIT_OK;
	}
	if (listen_count > 0) {
		memcpy(conf.listen, listen, sizeof listen[0] * listen_count);
		conf.listen_count = listen_count;
	}
	if (conf.workers == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		conf.workers = cpus > 0 ? (cpus > 256 ? 256 : (unsigned)cpus) : 1;
	}
	log_set_level(verbose ? (verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO)
	    : (enum log_level)conf.log_level);
	main_raise_fd_limit(conf.max_connections);
	if (calc_log_init(conf.calculation_log_size) != 0) {
		log_error("out of memory for the calculation log");
		return MAIN_EXIT_CONFIG;
	}
	if ((server = server_open(&conf)) == NULL) {
		fprintf(stderr, "calcd: cannot listen, exiting\n");
		calc_log_free();
		return MAIN_EXIT_LISTEN;
	}
	status = server_run(server);
	server_free(server);
	calc_log_free();
	return status;
}
