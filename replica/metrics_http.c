/* metrics_http.c - GET /metrics over nng's HTTP server (see metrics.h).
 *
 * Threading: nng runs the handler on its own threads, while the replica's core is
 * single-threaded and owned by the driver loop.  So the handler reads nothing but
 * m->snap, a copy the driver hands over with metrics_publish() under m->lock; it
 * copies it out under the lock and renders outside it.  The driver never waits for
 * a scrape longer than one memcpy of the snapshot. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "replica/metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	nng_http_server *srv;
	int registered; /* the handler holds m: nng frees it with the handler */
	pthread_mutex_t lock;
	int have; /* a snapshot was published */
	struct metrics_snapshot snap;
};

static int reply(nng_aio *aio, uint16_t status, const char *body, size_t len)
{
	nng_http_res *res;
	int rv = nng_http_res_alloc(&res);
	if (rv != 0)
		return rv;
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", CONTENT_TYPE)) != 0 ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		return rv;
	}
	nng_aio_set_output(aio, 0, res);
	return 0;
}

/* The handler: a render of the last snapshot, on an nng thread. */
static void serve(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct metrics_server *m = nng_http_handler_get_data(h);
	struct metrics_snapshot *snap = malloc(sizeof(*snap));
	char *text = malloc(METRICS_TEXT_MAX);
	int have = 0, len = -1, rv;
	if (snap && text) {
		pthread_mutex_lock(&m->lock);
		have = m->have;
		if (have)
			*snap = m->snap;
		pthread_mutex_unlock(&m->lock);
		if (have)
			len = metrics_render(snap, text, METRICS_TEXT_MAX);
	}
	if (len >= 0)
		rv = reply(aio, NNG_HTTP_STATUS_OK, text, (size_t)len);
	else if (snap && text && !have)
		rv = reply(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, "starting\n", 9);
	else
		rv = reply(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR, "cannot render\n", 14);
	free(snap);
	free(text);
	nng_aio_finish(aio, rv);
}

/* cluster.ini says tcp://HOST:PORT (as for the other addresses); nng wants http://. */
static int http_url(const char *addr, char *out, size_t cap)
{
	if (strncmp(addr, "tcp://", 6) != 0)
		return -1;
	int k = snprintf(out, cap, "http://%s", addr + 6);
	return k < 0 || (size_t)k >= cap ? -1 : 0;
}

/* The handler's data destructor: m lives as long as the handler that reads it (the
 * server frees its handlers after its last connection is gone, maybe on nng's reaper
 * thread after metrics_stop() returned). */
static void free_server(void *arg)
{
	struct metrics_server *m = arg;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int add_handler(struct metrics_server *m)
{
	nng_http_handler *h;
	int rv = nng_http_handler_alloc(&h, "/metrics", serve);
	if (rv != 0)
		return rv;
	/* data is set before the handler is added (nng refuses it on a busy handler) */
	if ((rv = nng_http_handler_set_method(h, "GET")) != 0 ||
	    (rv = nng_http_handler_set_data(h, m, free_server)) != 0)
		goto fail;
	if ((rv = nng_http_server_add_handler(m->srv, h)) != 0)
		goto fail;
	m->registered = 1; /* from now on the handler owns m */
	return 0;
fail:
	nng_http_handler_set_data(h, m, NULL); /* m stays ours */
	nng_http_handler_free(h);
	return rv;
}

int metrics_start(struct metrics_server **out, const char *addr, char *err, size_t errlen)
{
	char url_text[CONFIG_ADDR_MAX + 8];
	nng_url *url = NULL;
	int rv;
	*out = NULL;
	if (http_url(addr, url_text, sizeof(url_text)) != 0) {
		snprintf(err, errlen, "metrics address %.200s: must be tcp://HOST:PORT", addr);
		return -1;
	}
	struct metrics_server *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&m->lock, NULL);
	if ((rv = nng_url_parse(&url, url_text)) != 0 ||
	    (rv = nng_http_server_hold(&m->srv, url)) != 0 || (rv = add_handler(m)) != 0 ||
	    (rv = nng_http_server_start(m->srv)) != 0) {
		snprintf(err, errlen, "metrics address %.200s: %s", addr, nng_strerror(rv));
		if (url)
			nng_url_free(url);
		metrics_stop(m);
		return -1;
	}
	nng_url_free(url);
	*out = m;
	return 0;
}

void metrics_publish(struct metrics_server *m, const struct metrics_snapshot *s)
{
	pthread_mutex_lock(&m->lock);
	m->snap = *s;
	m->have = 1;
	pthread_mutex_unlock(&m->lock);
}

void metrics_stop(struct metrics_server *m)
{
	if (!m)
		return;
	/* read before the release: from then on nng's reaper thread may free m */
	int registered = m->registered;
	if (m->srv) {
		/* no new connections, the open ones closed; the server and its handler go
		 * with the last hold, and m with the handler (free_server) */
		nng_http_server_stop(m->srv);
		nng_http_server_release(m->srv);
	}
	if (!registered)
		free_server(m);
}
