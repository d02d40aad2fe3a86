/*
 * fuzz_conf: libFuzzer harness for the calcd.conf parser.  Each input is
 * a whole file; every error line must name the file.
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
	free(text);
	return 0;
}
