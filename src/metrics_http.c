/*
 * metrics_http: GET /metrics over evhttp.  A scrape is small and quick
 * (the counters are summed in place), so it is answered in the main
 * thread's loop; requests are bounded in header size, body size and
 * time, and only GET and HEAD are allowed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "metrics_http.h"

#define METRICS_HTTP_TIMEOUT_SECONDS	10
#define METRICS_HTTP_MAX_HEADERS	8192
#define METRICS_HTTP_MAX_OUTPUT		(4u << 20)

struct metrics_http {
	struct evhttp		*http;
	metrics_http_render_fn	 render;
	void			*render_arg;
	struct buf		 text;		/* reused by every scrape */
};

static void
metrics_http_on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_http	*mh = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer		*body;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "calcd serves /metrics only");
		return;
	}
	mh->text.len = 0;
	if (mh->render(mh->render_arg, &mh->text) != 0) {
		log_error("metrics: the exposition passed %u bytes", METRICS_HTTP_MAX_OUTPUT);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	body = evhttp_request_get_output_buffer(req);
	if (evbuffer_add(body, mh->text.data, mh->text.len) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	buf_shrink(&mh->text, (size_t)256 * 1024);
}

struct metrics_http *
metrics_http_open(struct event_base *base, const int *fds, unsigned count,
    metrics_http_render_fn render, void *arg)
{
	struct metrics_http	*mh;
	unsigned		 i;

	if ((mh = calloc(1, sizeof *mh)) == NULL || (mh->http = evhttp_new(base)) == NULL) {
		log_error("metrics: cannot set up the HTTP server");
		free(mh);
		for (i = 0; i < count; i++)
			close(fds[i]);
		return NULL;
	}
	mh->render = render;
	mh->render_arg = arg;
	buf_init(&mh->text, METRICS_HTTP_MAX_OUTPUT);
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(mh->http, METRICS_HTTP_TIMEOUT_SECONDS);
	evhttp_set_max_headers_size(mh->http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(mh->http, 0);
	evhttp_set_gencb(mh->http, metrics_http_on_request, mh);
	for (i = 0; i < count; i++) {
		if (evhttp_accept_socket_with_handle(mh->http, fds[i]) == NULL) {
			log_error("metrics: cannot serve HTTP on socket %d", fds[i]);
			/* evhttp owns (and closes) the ones it took; close the rest. */
			for (unsigned j = i; j < count; j++)
				close(fds[j]);
			metrics_http_free(mh);
			return NULL;
		}
	}
	return mh;
}

void
metrics_http_free(struct metrics_http *mh)
{
	if (mh == NULL)
		return;
	evhttp_free(mh->http);	/* closes the listening sockets and open requests */
	buf_free(&mh->text);
	free(mh);
}
