/* SPDX-License-Identifier: MIT */
/*
 * libcurl multi_socket on libev, in the shape of curl's evhiperfifo example
 * without its two well-known bugs: the timeout is converted with 1000.0, and
 * libcurl is never called from inside its own timer callback (a 0 s timer is
 * armed instead).
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"

#define DEFAULT_CONNECT_TIMEOUT_MS   5000
#define DEFAULT_TIMEOUT_MS           30000
#define DEFAULT_MAX_HOST_CONNECTIONS 16
#define DEFAULT_MAX_RESPONSE         (16u * 1024 * 1024)
#define MAX_HEADERS                  200
#define SPARE_HANDLES                64          /* finished easy handles kept for reuse */
#define SPARE_BODY_MAX               (64 * 1024) /* larger reply buffers are not kept */

struct sock_watch {
	struct ev_io io;
	curl_socket_t fd;
	struct http_client *client;
	struct sock_watch *prev, *next;
};

struct http_request {
	struct http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	struct http_response resp;
	http_done_fn done;
	void *userdata;
	int header_count;
	bool too_large, too_many_headers;
	bool secret;
	struct http_request *prev, *next;
};

struct http_client {
	struct ev_loop *loop;
	CURLM *multi;
	struct ev_timer timer;
	long connect_timeout_ms;
	size_t max_response;
	bool no_multiplex;
	char *ca_bundle;
	char *user_agent;
	struct http_request *requests;
	struct sock_watch *watches;
	CURL *spare[SPARE_HANDLES];
	struct strbuf spare_body[SPARE_HANDLES]; /* the body buffer each spare handle had */
	int n_spare;
	int in_flight;
	long connections;
};

static void list_add_req(struct http_request **head, struct http_request *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_del_req(struct http_request **head, struct http_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void request_free(struct http_request *r)
{
	if (!r)
		return;
	if (r->easy) {
		struct http_client *c = r->client;
		/* Reset and keep it: setting up an easy handle costs more than the request. Its
		 * body buffer stays with it (wiped), so that a reply costs no allocation of a
		 * size that makes malloc reshuffle its free lists. A handle that carried a secret
		 * is closed instead: its receive buffer holds the reply. */
		if (c && c->n_spare < SPARE_HANDLES && !r->secret) {
			curl_easy_reset(r->easy);
			if (r->resp.body.buf)
				explicit_bzero(r->resp.body.buf, r->resp.body.len);
			if (r->resp.body.cap > SPARE_BODY_MAX)
				strbuf_done(&r->resp.body);
			c->spare_body[c->n_spare] = r->resp.body;
			r->resp.body.buf = NULL;
			c->spare[c->n_spare++] = r->easy;
		} else {
			curl_easy_cleanup(r->easy);
		}
	}
	curl_slist_free_all(r->headers);
	strbuf_done(&r->resp.body);
	free(r->resp.request_id);
	free(r->resp.content_type);
	free(r->resp.date);
	free(r->resp.query_error);
	free(r->resp.error_type);
	free(r);
}

static int error_from_curl(CURLcode code, const struct http_request *r)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_WRITE_ERROR:
		if (r->too_many_headers)
			return -E2BIG;
		return r->too_large ? -EFBIG : -EIO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return -EACCES;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void complete(struct http_client *c, CURL *easy, CURLcode code)
{
	struct http_request *r = NULL;
	long version = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	curl_multi_remove_handle(c->multi, easy);
	list_del_req(&c->requests, r);
	c->in_flight--;
	r->resp.error = error_from_curl(code, r);
	if (r->resp.error) {
		snprintf(r->resp.error_text, sizeof(r->resp.error_text), "%s",
			 r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
		if (r->resp.error == -EFBIG)
			snprintf(r->resp.error_text, sizeof(r->resp.error_text),
				 "response larger than %zu bytes", c->max_response);
		else if (r->resp.error == -E2BIG)
			snprintf(r->resp.error_text, sizeof(r->resp.error_text),
				 "response with more than %d headers", MAX_HEADERS);
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->resp.status);
	curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
	r->resp.http_version = version == CURL_HTTP_VERSION_2_0   ? 20
			       : version == CURL_HTTP_VERSION_1_0 ? 10
								  : 11;
	if (r->done)
		r->done(&r->resp, r->userdata);
	request_free(r);
}

static void drain(struct http_client *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			complete(c, msg->easy_handle, msg->data.result);
}

static void on_io(struct ev_loop *loop, struct ev_io *w, int revents)
{
	struct sock_watch *sw = w->data;
	struct http_client *c = sw->client;
	int action =
	    (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	(void)loop;
	/* sw may be freed inside this call (CURL_POLL_REMOVE); do not touch it after. */
	curl_multi_socket_action(c->multi, sw->fd, action, &running);
	drain(c);
}

static void on_timer(struct ev_loop *loop, struct ev_timer *w, int revents)
{
	struct http_client *c = w->data;
	int running;

	(void)loop;
	(void)revents;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(c);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms our timer; never calls libcurl. */
static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	ev_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.0);
		ev_timer_start(c->loop, &c->timer);
	}
	return 0;
}

static void watch_free(struct http_client *c, struct sock_watch *sw)
{
	ev_io_stop(c->loop, &sw->io);
	if (sw->prev)
		sw->prev->next = sw->next;
	else
		c->watches = sw->next;
	if (sw->next)
		sw->next->prev = sw->prev;
	free(sw);
}

/* CURLMOPT_SOCKETFUNCTION: one ev_io per socket, kept in curl's socket data. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_watch *sw = socketp;
	int events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			curl_multi_assign(c->multi, fd, NULL);
			watch_free(c, sw);
		}
		return 0;
	}
	events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!sw) {
		sw = calloc(1, sizeof(*sw));
		if (!sw)
			return -1;
		sw->fd = fd;
		sw->client = c;
		sw->next = c->watches;
		if (c->watches)
			c->watches->prev = sw;
		c->watches = sw;
		ev_io_init(&sw->io, on_io, fd, events);
		sw->io.data = sw;
		curl_multi_assign(c->multi, fd, sw);
	} else {
		ev_io_stop(c->loop, &sw->io);
		ev_io_set(&sw->io, fd, events);
	}
	ev_io_start(c->loop, &sw->io);
	return 0;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_client *c = clientp;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd != CURL_SOCKET_BAD)
		c->connections++;
	return fd;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct http_request *r = userp;
	size_t len = size * n;
	int err = strbuf_append(&r->resp.body, data, len);

	if (err == -ENOBUFS)
		r->too_large = true;
	return err < 0 ? 0 : len;
}

static char *trimmed_dup(const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	return strndup(v, len);
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	static const struct {
		const char *name;
		size_t off;
	} wanted[] = {
		{ "x-amzn-requestid", offsetof(struct http_response, request_id) },
		{ "x-amz-request-id", offsetof(struct http_response, request_id) },
		{ "content-type", offsetof(struct http_response, content_type) },
		{ "date", offsetof(struct http_response, date) },
		{ "x-amzn-query-error", offsetof(struct http_response, query_error) },
		{ "x-amzn-errortype", offsetof(struct http_response, error_type) },
	};
	struct http_request *r = userp;
	size_t len = size * n;
	const char *colon;

	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* A new status line (after 100 Continue, say): start over. */
		r->header_count = 0;
		return len;
	}
	if (++r->header_count > MAX_HEADERS) {
		r->too_many_headers = true;
		return 0;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return len;
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		size_t nl = strlen(wanted[i].name);
		char **slot = (char **)((char *)&r->resp + wanted[i].off);

		if ((size_t)(colon - data) == nl && !strncasecmp(data, wanted[i].name, nl)) {
			free(*slot);
			*slot = trimmed_dup(colon + 1, len - nl - 1);
			break;
		}
	}
	return len;
}

struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_options *opts)
{
	struct http_client *c;
	static const struct http_client_options none;

	if (!opts)
		opts = &none;
	/* libcurl frees through a wiping free(), so that what it copied (request headers, bodies,
	 * its receive buffer) leaves no trace in freed memory. Only the first initialisation of
	 * the process sets the memory functions; every client asks for the same ones. */
	(void)crypto_wipe_on_free(); /* before curl initialises OpenSSL; too late is no error */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, crypto_wiping_free,
				 crypto_wiping_realloc, strdup, calloc) != CURLE_OK)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		return NULL;
	}
	c->loop = loop;
	c->connect_timeout_ms =
	    opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->max_response =
	    opts->max_response_bytes ? opts->max_response_bytes : DEFAULT_MAX_RESPONSE;
	c->ca_bundle = opts->ca_bundle ? strdup(opts->ca_bundle) : NULL;
	c->no_multiplex = opts->no_multiplex;
	c->user_agent = strdup(opts->user_agent ? opts->user_agent : "ecr-deployd");
	c->multi = curl_multi_init();
	if (!c->multi || !c->user_agent || (opts->ca_bundle && !c->ca_bundle)) {
		http_client_free(c);
		return NULL;
	}
	ev_timer_init(&c->timer, on_timer, 0.0, 0.0);
	c->timer.data = c;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING,
			  c->no_multiplex ? (long)CURLPIPE_NOTHING : (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  opts->max_host_connections > 0 ? opts->max_host_connections
							 : (long)DEFAULT_MAX_HOST_CONNECTIONS);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	while (c->requests)
		http_cancel(c->requests);
	while (c->n_spare) {
		curl_easy_cleanup(c->spare[--c->n_spare]);
		strbuf_done(&c->spare_body[c->n_spare]);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	while (c->watches)
		watch_free(c, c->watches);
	if (c->loop)
		ev_timer_stop(c->loop, &c->timer);
	free(c->ca_bundle);
	free(c->user_agent);
	free(c);
	curl_global_cleanup();
}

int http_submit(struct http_client *c, const struct http_request_spec *spec, http_done_fn done,
		void *userdata, struct http_request **ret)
{
	struct http_request *r;
	bool post = spec->method && !strcmp(spec->method, "POST");
	bool put = spec->method && !strcmp(spec->method, "PUT");
	bool get = spec->method && !strcmp(spec->method, "GET");
	CURL *e;

	if ((!post && !put && !get) || !spec->url ||
	    (strncmp(spec->url, "http://", 7) && strncmp(spec->url, "https://", 8)))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->client = c;
	r->done = done;
	r->userdata = userdata;
	r->secret = spec->secret;
	strbuf_init(&r->resp.body, c->max_response);
	if (c->n_spare && spec->secret) {
		r->easy = e = c->spare[--c->n_spare];
		strbuf_done(&c->spare_body[c->n_spare]);
		strbuf_init_secret(&r->resp.body, c->max_response);
	} else if (c->n_spare) {
		r->easy = e = c->spare[--c->n_spare];
		r->resp.body.buf = c->spare_body[c->n_spare].buf;
		r->resp.body.cap = c->spare_body[c->n_spare].cap;
		strbuf_reset(&r->resp.body);
	} else if (spec->secret) {
		strbuf_init_secret(&r->resp.body, c->max_response);
		r->easy = e = curl_easy_init();
	} else {
		r->easy = e = curl_easy_init();
	}
	if (!e)
		goto nomem;
	/* No "Expect: 100-continue" round trip on larger bodies. */
	r->headers = curl_slist_append(NULL, "Expect:");
	if (!r->headers)
		goto nomem;
	for (const char *const *h = spec->headers; h && *h; h++) {
		struct curl_slist *l = curl_slist_append(r->headers, *h);
		if (!l)
			goto nomem;
		r->headers = l;
	}
	curl_easy_setopt(e, CURLOPT_URL, spec->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 spec->timeout_ms > 0 ? spec->timeout_ms : (long)DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_bundle)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, c->no_multiplex ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (spec->secret)
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	if (post || put) {
		if (put)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
		if (curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, spec->body ? spec->body : "") !=
		    CURLE_OK)
			goto nomem;
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto nomem;
	list_add_req(&c->requests, r);
	c->in_flight++;
	if (ret)
		*ret = r;
	return 0;
nomem:
	request_free(r);
	return -ENOMEM;
}

void http_cancel(struct http_request *r)
{
	struct http_client *c;

	if (!r)
		return;
	c = r->client;
	curl_multi_remove_handle(c->multi, r->easy);
	list_del_req(&c->requests, r);
	c->in_flight--;
	request_free(r);
}

long http_connections_opened(const struct http_client *c)
{
	return c->connections;
}
