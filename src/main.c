/*
 * main: calcd's command line, start-up and exit status.
 *   0  clean shutdown (SIGTERM, SIGINT); with -t, a valid configuration
 *   1  bad usage or configuration; or calcd cannot start for another
 *      reason: -d cannot detach, pid_file cannot be written, no memory,
 *      -V or -h cannot write to standard output
 *   2  cannot listen
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calc.h"
#include "conf.h"
#include "log.h"
#include "server.h"
#include "tls.h"

/* Two causes share status 1: the documented status of every start-up failure. */
#define MAIN_EXIT_OK			0
#define MAIN_EXIT_USAGE_OR_CONFIG	1	/* command line or configuration file */
#define MAIN_EXIT_START			1	/* detaching, pid_file, memory, stdout */
#define MAIN_EXIT_LISTEN		2

/* max_connections = auto raises the open-file limit to this (if the hard limit allows). */
#define MAIN_AUTO_FD_LIMIT		65536

static const char main_default_config[] = CALCD_SYSCONFDIR "/calcd.conf";

/* What the command line says, kept for reloads. */
static struct {
	const char		*path;		/* -c as given, for start-up messages */
	char			*reload_path;	/* the same file, absolute: -d leaves the cwd */
	bool			 daemonize;
	struct conf_listen	 listen[CONF_MAX_LISTEN];
	unsigned		 listen_count;
	int			 verbose;
	struct tls_slot		*tls;		/* the TLS context new handshakes take */
} main_args;

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: calcd [-c FILE] [-d] [-f] [-t] [-l ADDRESS]... [-v]... [-V] [-h]\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -d, --daemonize       detach, log to syslog and write pid_file (for init\n"
	    "                        systems that don't supervise; systemd wants -f)\n"
	    "  -f, --foreground      stay in the foreground (the default)\n"
	    "  -t, --test-config     check the configuration and exit (0 good, 1 bad)\n"
	    "  -l, --listen ADDRESS  listen on HOST:PORT, [V6ADDR]:PORT or *:PORT instead\n"
	    "                        of the configured addresses; may be repeated; as in\n"
	    "                        the file, 'HOST:PORT proxy' takes PROXY headers\n"
	    "                        and 'HOST:PORT tls' serves TLS\n"
	    "  -v, --verbose         log more (info, then debug)\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    main_default_config);
}

/* -V and -h: a full disk or closed pipe on stdout is an error, not a success. */
static int
main_flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "calcd: cannot write to standard output\n");
		return MAIN_EXIT_START;
	}
	return MAIN_EXIT_OK;
}

/*
 * workers = auto: the CPUs calcd may run on (taskset, cpusets), not all
 * the machine has; more threads than that only take turns on one CPU.
 */
static unsigned
main_cpus(void)
{
	cpu_set_t	set;
	long		cpus = -1;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		cpus = CPU_COUNT(&set);
	if (cpus <= 0)
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (cpus > 256 ? 256 : (unsigned)cpus) : 1;
}

/*
 * Raise the soft open-file limit toward the hard one as far as calcd
 * needs: max_connections and the descriptors calcd keeps for itself, or
 * with max_connections = auto, MAIN_AUTO_FD_LIMIT (a soft limit already
 * higher is the operator's choice and stays).  An explicit
 * max_connections that does not fit is said once, here.
 */
static void
main_raise_fd_limit(const struct conf *conf)
{
	unsigned	workers = conf->workers != 0 ? conf->workers : main_cpus();
	rlim_t		reserved = server_descriptors_reserved(workers);
	rlim_t		want = conf->max_connections == 0 ? MAIN_AUTO_FD_LIMIT :
			    (rlim_t)conf->max_connections + reserved;
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
		/* May be refused (a seccomp filter): then the limit given stands. */
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return;
	}
	if (conf->max_connections != 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warning("max_connections is %u but the open-file limit is %llu, of which calcd "
		    "keeps %llu for itself: when descriptors run out, new connections are "
		    "admitted by closing idle ones", conf->max_connections,
		    (unsigned long long)rl.rlim_cur, (unsigned long long)reserved);
}

/*
 * max_connections = auto: the open-file limit less the descriptors calcd
 * keeps for itself (server_descriptors_reserved), at least 1 and at most
 * CONF_MAX_CONNECTIONS.
 */
static unsigned
main_auto_max_connections(unsigned workers)
{
	rlim_t		reserved = server_descriptors_reserved(workers);
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = 1024;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)CONF_MAX_CONNECTIONS + reserved)
		return CONF_MAX_CONNECTIONS;
	return rl.rlim_cur > reserved ? (unsigned)(rl.rlim_cur - reserved) : 1;
}

static void
main_log_auto_max_connections(const struct conf *conf)
{
	unsigned	reserved = server_descriptors_reserved(conf->workers);
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= reserved + 16)
		log_warning("max_connections = auto: the open-file limit, %llu, leaves %u "
		    "connection%s after the %u descriptors calcd keeps for itself",
		    (unsigned long long)rl.rlim_cur, conf->max_connections,
		    conf->max_connections == 1 ? "" : "s", reserved);
	else
		log_notice("max_connections = auto: %u (the open-file limit, %llu, less %u "
		    "descriptors calcd keeps for itself)", conf->max_connections,
		    rl.rlim_cur == RLIM_INFINITY ? ~0ULL : (unsigned long long)rl.rlim_cur,
		    reserved);
}

/*
 * The command line's say over the file: -l replaces listen, -v raises
 * log_level, and -d turns log_target = stderr into syslog, since a
 * detached calcd's stderr is /dev/null.
 */
static void
main_apply_args(struct conf *conf)
{
	if (main_args.listen_count > 0) {
		memcpy(conf->listen, main_args.listen,
		    sizeof main_args.listen[0] * main_args.listen_count);
		conf->listen_count = main_args.listen_count;
	}
	if (main_args.verbose > 0 && conf->log_level < LOG_LEVEL_INFO)
		conf->log_level = main_args.verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	if (main_args.daemonize && conf->log_target == LOG_TARGET_STDERR)
		conf->log_target = LOG_TARGET_SYSLOG;
	if (conf->workers == 0)
		conf->workers = main_cpus();
	if (conf->max_connections == 0)
		conf->max_connections = main_auto_max_connections(conf->workers);
}

/*
 * path as an absolute path, without resolving symbolic links (a reload
 * follows a link that was changed meanwhile); NULL with errno on failure.
 */
static char *
main_absolute_path(const char *path)
{
	char	*cwd, *out;
	size_t	 len;

	if (path[0] == '/')
		return strdup(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	len = strlen(cwd) + 1 + strlen(path) + 1;
	if ((out = malloc(len)) != NULL)
		(void)snprintf(out, len, "%s%s%s", cwd,
		    cwd[0] != '\0' && cwd[strlen(cwd) - 1] == '/' ? "" : "/", path);
	free(cwd);
	return out;
}

/* Does a listen line in force say tls?  -l lines replace the file's. */
static bool
main_tls_required(const struct conf *conf)
{
	const struct conf_listen	*lines = main_args.listen_count > 0 ? main_args.listen :
					    conf->listen;
	unsigned			 count = main_args.listen_count > 0 ?
					    main_args.listen_count : conf->listen_count;

	for (unsigned i = 0; i < count; i++)
		if (lines[i].tls)
			return true;
	return false;
}

/*
 * Check conf's tls_* settings (path names the file, for FILE:LINE) and,
 * when it sets tls_certificate, build the context they make into *ctx
 * (NULL otherwise, or with -t).  Problems go to errors; returns how many.
 */
static int
main_tls_load(const struct conf *conf, const char *path, bool test_only, FILE *errors,
    struct tls_context **ctx)
{
	*ctx = NULL;
	if (test_only || !tls_conf_enabled(conf))
		return tls_conf_check(conf, path, main_tls_required(conf), errors);
	*ctx = tls_conf_context(conf, path, errors);
	return *ctx == NULL ? 1 : 0;
}

/* The context now in force, for the log. */
static void
main_tls_log(struct tls_context *ctx, const char *when)
{
	char text[512];

	if (ctx == NULL)
		return;
	tls_context_describe(ctx, text, sizeof text);
	if (tls_context_expired(ctx))
		log_warning("TLS%s: %s (served anyway)", when, text);
	else
		log_notice("TLS%s: %s", when, text);
}

/*
 * SIGHUP: read the file again; every error goes to the log as FILE:LINE.
 * The TLS certificate and key are read again too: new handshakes take
 * them (connections open keep theirs); on any error the old stay.
 */
static int
main_reload(void *arg, struct conf *out)
{
	struct conf	 next;
	char		*text = NULL, *line, *save = NULL;
	size_t		 len = 0;
	FILE		*errors;
	int		 count;
	struct tls_context *ctx = NULL;

	(void)arg;
	if ((errors = open_memstream(&text, &len)) == NULL) {
		log_error("reload: out of memory");
		return -1;
	}
	conf_defaults(&next);
	count = conf_load(&next, main_args.reload_path, errors);
	/* A bad certificate or key fails the reload like a bad line: the old ones stay. */
	if (count == 0)
		count = main_tls_load(&next, main_args.reload_path, false, errors, &ctx);
	if (fclose(errors) != 0 || text == NULL) {
		free(text);
		tls_context_unref(ctx);
		log_error("reload: out of memory");
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		log_error("%s", line);
	free(text);
	if (count > 0) {
		tls_context_unref(ctx);
		return -1;
	}
	main_apply_args(&next);
	main_tls_log(ctx, " from now on");
	tls_slot_set(main_args.tls, ctx);
	*out = next;
	return 0;
}

/*
 * -d: fork into the background.  The parent waits for the child to say
 * it listens (or why not) and exits with that status, so a failure is
 * still seen by whoever started calcd.  Returns in the daemon only: 0,
 * or -1 (said on stderr) if it cannot go on.
 */
static int
main_daemonize(int *ready_fd)
{
	int	fds[2], status;
	pid_t	pid;
	ssize_t	n;
	char	code;

	if (pipe(fds) != 0) {
		fprintf(stderr, "calcd: pipe: %s\n", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, "calcd: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(fds[1]);
		do
			n = read(fds[0], &code, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			exit(code);
		/* No word: the first child failed, or the daemon died before reporting. */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) != 0)
			exit(WEXITSTATUS(status));
		fprintf(stderr, "calcd: the daemon exited before it was ready\n");
		exit(MAIN_EXIT_START);
	}
	close(fds[0]);
	if (setsid() < 0) {
		fprintf(stderr, "calcd: setsid: %s\n", strerror(errno));
		_exit(MAIN_EXIT_START);
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, "calcd: fork: %s\n", strerror(errno));
		_exit(MAIN_EXIT_START);
	}
	if (pid > 0)
		_exit(MAIN_EXIT_OK);
	*ready_fd = fds[1];
	if (chdir("/") != 0) {
		fprintf(stderr, "calcd: chdir /: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* The daemon is up (code 0) or failed (its exit code): tell the waiting parent. */
static void
main_report_start(int *ready_fd, char code)
{
	int null;

	if (*ready_fd < 0)
		return;
	(void)!write(*ready_fd, &code, 1);
	close(*ready_fd);
	*ready_fd = -1;
	if (code == 0 && (null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

static int
main_write_pid_file(const char *path)
{
	char	text[32];
	int	fd, n;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		log_error("pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (write(fd, text, (size_t)n) != n) {
		log_error("pid_file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",	 required_argument, NULL, 'c' },
		{ "daemonize",	 no_argument,	    NULL, 'd' },
		{ "foreground",	 no_argument,	    NULL, 'f' },
		{ "test-config", no_argument,	    NULL, 't' },
		{ "listen",	 required_argument, NULL, 'l' },
		{ "verbose",	 no_argument,	    NULL, 'v' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct conf		 conf;
	struct server		*server;
	struct tls_context	*tls = NULL;
	bool			 test_only = false, stderr_until_ready, max_auto;
	int			 ch, errors, status, ready_fd = -1;

	main_args.path = main_default_config;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:dftl:vVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			main_args.path = optarg;
			break;
		case 'd':
			main_args.daemonize = true;
			break;
		case 'f':
			main_args.daemonize = false;
			break;
		case 't':
			test_only = true;
			break;
		case 'l': {
			const char *why;

			if (main_args.listen_count == CONF_MAX_LISTEN) {
				fprintf(stderr, "calcd: at most %d -l options\n", CONF_MAX_LISTEN);
				return MAIN_EXIT_USAGE_OR_CONFIG;
			}
			why = conf_parse_listen(optarg, &main_args.listen[main_args.listen_count]);
			if (why != NULL) {
				fprintf(stderr, "calcd: -l %s: %s\n", optarg, why);
				return MAIN_EXIT_USAGE_OR_CONFIG;
			}
			main_args.listen_count++;
			break;
		}
		case 'v':
			main_args.verbose++;
			break;
		case 'V':
			printf("calcd %s\n", PACKAGE_VERSION);
			return main_flush_stdout();
		case 'h':
			main_usage(stdout);
			return main_flush_stdout();
		case ':':
			fprintf(stderr, "calcd: option %s needs an argument (try calcd -h)\n",
			    argv[optind - 1]);
			return MAIN_EXIT_USAGE_OR_CONFIG;
		default:
			if (optopt != 0)
				fprintf(stderr, "calcd: unknown option -%c (try calcd -h)\n", optopt);
			else
				fprintf(stderr, "calcd: unknown option %s (try calcd -h)\n",
				    argv[optind - 1]);
			return MAIN_EXIT_USAGE_OR_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "calcd: unexpected argument '%s' (try calcd -h)\n", argv[optind]);
		return MAIN_EXIT_USAGE_OR_CONFIG;
	}

	conf_defaults(&conf);
	errors = conf_load(&conf, main_args.path, stderr);
	/* The files the tls_* keys name, once every line has parsed. */
	if (errors == 0)
		errors = main_tls_load(&conf, main_args.path, test_only, stderr, &tls);
	if (errors > 0) {
		fprintf(stderr, "calcd: %s: %d error%s in the configuration%s\n", main_args.path,
		    errors, errors == 1 ? "" : "s", test_only ? "" : ", not starting");
		return MAIN_EXIT_USAGE_OR_CONFIG;
	}
	if (test_only) {
		fprintf(stderr, "calcd: %s: configuration is valid\n", main_args.path);
		return MAIN_EXIT_OK;
	}
	/* Always a slot: a reload may add TLS. */
	if ((main_args.tls = tls_slot_new(tls)) == NULL) {
		tls_context_unref(tls);
		fprintf(stderr, "calcd: out of memory\n");
		return MAIN_EXIT_START;
	}
	if ((main_args.reload_path = main_absolute_path(main_args.path)) == NULL) {
		if (errno == ENOMEM) {
			fprintf(stderr, "calcd: out of memory\n");
			return MAIN_EXIT_START;
		}
		if (main_args.daemonize) {
			fprintf(stderr, "calcd: -c %s: cannot tell the current directory, which -d "
			    "leaves (%s): give an absolute path\n", main_args.path, strerror(errno));
			return MAIN_EXIT_USAGE_OR_CONFIG;
		}
		/* In the foreground the cwd stays, and so does what the path names. */
		if ((main_args.reload_path = strdup(main_args.path)) == NULL) {
			fprintf(stderr, "calcd: out of memory\n");
			return MAIN_EXIT_START;
		}
	}
	/*
	 * -d sends stderr to /dev/null once calcd is running, so log_target =
	 * stderr becomes syslog (main_apply_args); start-up messages still go
	 * to stderr, where whoever started calcd sees why it failed.
	 */
	stderr_until_ready = main_args.daemonize && conf.log_target == LOG_TARGET_STDERR;
	if (stderr_until_ready)
		fprintf(stderr, "calcd: -d closes standard error once calcd is running: logging "
		    "to syslog instead (log_target = syslog says so and silences this)\n");
	max_auto = conf.max_connections == 0;
	main_raise_fd_limit(&conf);
	main_apply_args(&conf);
	log_set_level((enum log_level)conf.log_level);
	if (max_auto)
		main_log_auto_max_connections(&conf);
	if (main_args.daemonize && main_daemonize(&ready_fd) != 0) {
		main_report_start(&ready_fd, MAIN_EXIT_START);
		return MAIN_EXIT_START;
	}
	if (!stderr_until_ready)
		log_set_target((enum log_target)conf.log_target);
	if (calc_log_init(conf.calculation_log_size) != 0) {
		log_error("out of memory for the calculation log");
		main_report_start(&ready_fd, MAIN_EXIT_START);
		return MAIN_EXIT_START;
	}
	if ((server = server_open(&conf)) == NULL) {
		log_error("cannot listen, exiting");
		main_report_start(&ready_fd, MAIN_EXIT_LISTEN);
		calc_log_free();
		return MAIN_EXIT_LISTEN;
	}
	if (main_args.daemonize && conf.pid_file[0] != '\0' &&
	    main_write_pid_file(conf.pid_file) != 0) {
		main_report_start(&ready_fd, MAIN_EXIT_START);
		server_free(server);
		calc_log_free();
		return MAIN_EXIT_START;
	}
	main_report_start(&ready_fd, MAIN_EXIT_OK);
	log_set_target((enum log_target)conf.log_target);
	main_tls_log(tls, "");
	server_set_reload(server, main_reload, NULL);
	server_set_tls(server, main_args.tls);
	status = server_run(server);
	server_free(server);
	tls_slot_free(main_args.tls);
	calc_log_free();
	if (main_args.daemonize && conf.pid_file[0] != '\0')
		(void)unlink(conf.pid_file);
	free(main_args.reload_path);
	return status;
}
