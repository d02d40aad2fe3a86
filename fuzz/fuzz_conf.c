/*
 * fuzz_conf: libFuzzer harness for the calcd.conf parser.  Each input is
 * a whole file; every error line must name the file, and every listen
 * line taken must read back the same from its formatted address and
 * options (the word "proxy").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Format l as a listen line ("ADDRESS[ proxy]"), parse that, compare. */
static void
fuzz_listen_round_trip(const struct conf_listen *l)
{
	struct conf_listen	again;
	char			text[CONF_LISTEN_LEN + 32];
	size_t			used;

	conf_format_listen(l, text, sizeof text);
	used = strlen(text);
	if (l->proxy)
		snprintf(text + used, sizeof text - used, " proxy");
	memset(&again, 0, sizeof again);
	if (conf_parse_listen(text, &again) != NULL)
		abort();
	if (strcmp(again.host, l->host) != 0 || strcmp(again.port, l->port) != 0 ||
	    again.proxy != l->proxy)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int	 fd = -1;
	static char	 path[64];
	struct conf	 conf;
	FILE		*errors;
	char		*text = NULL;
	size_t		 text_len = 0;
	int		 count;

	if (fd < 0) {
		if ((fd = memfd_create("fuzz.conf", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
		abort();
	if ((errors = open_memstream(&text, &text_len)) == NULL)
		abort();
	conf_defaults(&conf);
	count = conf_load(&conf, path, errors);
	fclose(errors);
	if ((count == 0) != (text_len == 0))
		abort();	/* errors counted and errors printed must agree */
	for (char *line = text; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n');

		if (strncmp(line, path, strlen(path)) != 0)
			abort();	/* every error names the file */
		line = next ? next + 1 : NULL;
	}
	if (count == 0 && (conf.listen_count == 0 || conf.listen_count > CONF_MAX_LISTEN))
		abort();
	for (unsigned i = 0; count == 0 && i < conf.listen_count; i++)
		fuzz_listen_round_trip(&conf.listen[i]);
	free(text);
	return 0;
}
