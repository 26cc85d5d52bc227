/*-------------------------------------------------------------------------
 *
 * http.c
 *		  HTTP requests on libcurl's multi interface: concurrency, retries
 *		  with back-off, size caps, and a wait that never blocks cancel.
 *
 * A CdTransfer is the set of requests of one scan or one write.  Requests
 * are queued, started up to the transfer's concurrency, and handed back
 * once finished for good: succeeded, failed with a status that is not
 * retried, or out of retries.  429, 5xx and network failures are retried
 * with exponential back-off and jitter, or after the wait the server asks
 * for.  Waiting polls the sockets in slices of at most 100 ms and runs
 * CHECK_FOR_INTERRUPTS() between slices, so cancel, statement_timeout and
 * pg_terminate_backend act within that time.
 *
 * libcurl's memory is its own (malloc); response bodies are malloc'd too,
 * since they grow inside libcurl's callbacks where an ERROR must not be
 * thrown.  A reset callback on the transfer's memory context releases
 * every handle and buffer still held, on success and error paths alike.
 * Requests live in the transfer's own context (cd_request_new), never in
 * a shorter-lived one: child contexts are deleted before a parent's reset
 * callbacks run, so a request in, say, a per-row context would already be
 * gone when the callback walks the transfer's list.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"
#include "compat.h"

#include <time.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#define CD_WAIT_SLICE_MS 100
#define CD_BACKOFF_BASE_MS 250
#define CD_BACKOFF_CAP_MS 30000
#define CD_SERVER_WAIT_CAP_S 60.0

static void transfer_cleanup(void *arg);
static void transfer_perform(CdTransfer *xfer);
static void transfer_wait(CdTransfer *xfer);

/* every transfer not yet cleaned up, for the executor hook */
static dlist_head live_transfers = DLIST_STATIC_INIT(live_transfers);
static ExecutorRun_hook_type prev_executor_run = NULL;
static int	executor_depth = 0;	/* ExecutorRun calls under way */

static uint32 wait_http;
static uint32 wait_budget;
static uint32 wait_backoff;

/*
 * Create a transfer whose requests, handles and buffers are released when
 * cxt is reset or deleted.
 */
CdTransfer *
cd_transfer_create(const CdServer *srv, MemoryContext cxt)
{
	CdTransfer *xfer = MemoryContextAllocZero(cxt, sizeof(CdTransfer));

	xfer->cxt = cxt;
	xfer->srv = srv;
	xfer->conn = cd_get_connection(srv);
	xfer->concurrency = srv->max_concurrency;
	xfer->cleanup.func = transfer_cleanup;
	xfer->cleanup.arg = xfer;
	MemoryContextRegisterResetCallback(cxt, &xfer->cleanup);
	dlist_push_tail(&live_transfers, &xfer->live);
	cd_activity_begin(srv->server_name, srv->requests_per_minute);
	return xfer;
}

/*
 * A request owned by xfer: it and its copy of url live in the transfer's
 * context until cd_transfer_release frees them (or the context goes).
 */
CdRequest *
cd_request_new(CdTransfer *xfer, const char *method, const char *url,
			   bool credentials)
{
	CdRequest  *req = MemoryContextAllocZero(xfer->cxt, sizeof(CdRequest));

	req->xfer = xfer;
	req->method = method;
	req->url = MemoryContextStrdup(xfer->cxt, url);
	req->credentials = credentials;
	req->max_bytes = CD_MAX_RESPONSE_BYTES;
	req->retry_after_s = -1;
	req->rate_reset_s = -1;
	req->rate_remaining = -1;
	req->budget_slot = -1;
	req->stats_slot = -1;
	return req;
}

/* Drop whatever a previous attempt received. */
static void
request_reset_response(CdRequest *req)
{
	free(req->resp);
	free(req->resp_content_type);
	req->resp = NULL;
	req->resp_content_type = NULL;
	req->resp_len = req->resp_cap = 0;
	req->too_large = false;
	req->no_fd = false;
	req->status = 0;
	req->curl_code = CURLE_OK;
	req->errbuf[0] = '\0';
	req->retry_after_s = -1;
	req->rate_reset_s = -1;
	req->rate_remaining = -1;
}

/* Stop a running attempt and give its handle back. */
static void
request_detach(CdTransfer *xfer, CdRequest *req, bool reusable)
{
	if (req->stats_slot >= 0)
	{
		long		sent = 0;

		/* a request stopped before its end: counted if it went out */
		if (req->easy)
			curl_easy_getinfo(req->easy, CURLINFO_REQUEST_SIZE, &sent);
		cd_stats_abort(req, sent > 0);
	}
	if (req->easy)
	{
		curl_multi_remove_handle(xfer->conn->multi, req->easy);
		cd_conn_return_easy(xfer->conn, req->easy, reusable);
		req->easy = NULL;
		xfer->running--;
		/* a connect cut short closes its socket without telling */
		if (!reusable)
			cd_sockets_reconcile();
	}
	cd_budget_release(req);
	if (req->headers)
		curl_slist_free_all(req->headers);
	if (req->mime)
		curl_mime_free(req->mime);
	req->headers = NULL;
	req->mime = NULL;
}

/*
 * Memory context reset callback: nothing of libcurl outlives the transfer.
 * Runs during error recovery too, so it must not throw.
 */
static void
transfer_cleanup(void *arg)
{
	CdTransfer *xfer = arg;

	for (CdRequest *req = xfer->reqs; req; req = req->next)
	{
		request_detach(xfer, req, false);
		request_reset_response(req);
	}
	xfer->reqs = NULL;
	dlist_delete(&xfer->live);
	cd_activity_end();
}

/* Queue a request made by cd_request_new for this transfer. */
void
cd_transfer_add(CdTransfer *xfer, CdRequest *req)
{
	Assert(req->xfer == xfer);
	req->state = CD_REQ_QUEUED;
	req->not_before = 0;
	req->next = xfer->reqs;
	xfer->reqs = req;
	cd_activity_count(CD_ACT_QUEUED);
}

/*
 * X-Integration-Id for req, copied into the transfer's context (freed with
 * the request).
 */
void
cd_request_set_integration_id(CdRequest *req, const char *value)
{
	req->integration_id = value ? MemoryContextStrdup(req->xfer->cxt, value) : NULL;
}

/*
 * Forget a request in any state: stop it if running, free its response,
 * then the request itself.  req must not be used afterwards.
 */
void
cd_transfer_release(CdTransfer *xfer, CdRequest *req)
{
	CdRequest **link;

	if (req->state == CD_REQ_QUEUED || req->state == CD_REQ_RUNNING)
		cd_activity_count(req->state == CD_REQ_QUEUED ? CD_ACT_RELEASED : CD_ACT_FINISHED);
	request_detach(xfer, req, false);
	request_reset_response(req);
	for (link = &xfer->reqs; *link; link = &(*link)->next)
		if (*link == req)
		{
			*link = req->next;
			break;
		}
	if (req->integration_id)
		pfree(req->integration_id);
	pfree(req->url);
	pfree(req);
}

/* libcurl write callback: append to the malloc'd body, within the cap. */
static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	CdRequest  *req = arg;
	size_t		n = size * nmemb;

	if (req->resp_len + n > req->max_bytes)
	{
		req->too_large = true;
		return 0;
	}
	if (req->resp_len + n + 1 > req->resp_cap)
	{
		size_t		cap = Max(req->resp_cap * 2, req->resp_len + n + 1);
		char	   *grown;

		cap = Max(cap, 16384);
		grown = realloc(req->resp, cap);
		if (grown == NULL)
			return 0;
		req->resp = grown;
		req->resp_cap = cap;
	}
	memcpy(req->resp + req->resp_len, ptr, n);
	req->resp_len += n;
	req->resp[req->resp_len] = '\0';
	return n;
}

/* Parse "YYYY-MM-DDTHH:MM:SS" (UTC, fraction and zone "Z" ignored). */
static bool
parse_iso_time(const char *s, time_t *result)
{
	struct tm	tm = {0};

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
			   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*result = timegm(&tm);
	return *result != (time_t) -1;
}

/*
 * Seconds to wait from a Retry-After value (seconds or HTTP date) or a
 * rate-limit reset header; negative when the value says nothing usable.
 */
static double
parse_wait(const char *value, bool is_time)
{
	char	   *end;
	double		secs = strtod(value, &end);
	time_t		at;

	if (end != value && (*end == '\0' || isspace((unsigned char) *end)))
		return secs >= 0 ? secs : -1;
	if ((is_time && parse_iso_time(value, &at)) ||
		(at = curl_getdate(value, NULL)) != (time_t) -1)
		return Max((double) (at - time(NULL)), 0.0);
	return -1;
}

/* libcurl header callback: keep the few headers the wrapper acts on. */
static size_t
on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	CdRequest  *req = arg;
	size_t		n = size * nitems;
	const CdApi *api = req->xfer->srv->api;
	char		line[512];
	char	   *value;
	size_t		len;

	if (n >= sizeof(line) || (value = memchr(buf, ':', n)) == NULL)
		return n;
	memcpy(line, buf, n);
	line[n] = '\0';
	value = line + (value - buf);
	*value++ = '\0';
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n'))
		value[--len] = '\0';

	if (pg_strcasecmp(line, "retry-after") == 0)
		req->retry_after_s = parse_wait(value, false);
	else if (pg_strcasecmp(line, api->rate_reset_header) == 0)
		req->rate_reset_s = parse_wait(value, api->rate_reset_is_time);
	else if (pg_strcasecmp(line, api->rate_remaining_header) == 0)
		req->rate_remaining = isdigit((unsigned char) *value) ? atol(value) : -1;
	else if (pg_strcasecmp(line, "content-type") == 0)
	{
		free(req->resp_content_type);
		req->resp_content_type = strdup(value);
	}
	return n;
}

/*
 * Append a header line, keeping the list on the request for cleanup.  The
 * value is sent whole: one too long is refused, never cut.
 */
static void
add_header(CdRequest *req, const char *name, const char *value)
{
	char	   *line;
	struct curl_slist *list;

	cd_check_header_value(name, value);
	line = psprintf("%s: %s", name, value);
	list = curl_slist_append(req->headers, line);
	pfree(line);
	if (list == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	req->headers = list;
}

/* Authentication, only for the API's own scheme, host and port. */
static void
set_credentials(CdRequest *req, CURL *easy)
{
	const CdServer *srv = req->xfer->srv;

	if (!req->credentials ||
		!cd_url_same_origin(srv->origin, srv->base_url, req->url))
		return;
	if (srv->api->auth == CD_AUTH_BASIC_KEY_AS_USER)
	{
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(easy, CURLOPT_USERNAME, srv->api_key);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, "");
	}
	else
	{
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BEARER);
		curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, srv->api_key);
	}
	if (req->integration_id)
	{
		/* libcurl would drop an empty header: never send the request */
		if (req->integration_id[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("value of \"%s\" must not be empty",
							"X-Integration-Id")));
		add_header(req, "X-Integration-Id", req->integration_id);
	}
}

static void
set_common_options(CdRequest *req, CURL *easy)
{
	const CdServer *srv = req->xfer->srv;

	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, CD_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) srv->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) srv->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
	curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
	/* a redirect never goes from https down to plain http */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR,
					 cd_url_redirect_schemes(req->url));
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
					 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS,
					 strcmp(cd_url_redirect_schemes(req->url), "https") == 0 ?
					 (long) CURLPROTO_HTTPS :
					 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	cd_conn_set_tls(easy, srv);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	cd_conn_count_sockets(easy, &req->no_fd);
}

/* Start one attempt of req on the transfer's multi handle. */
static void
request_start(CdTransfer *xfer, CdRequest *req)
{
	CURL	   *easy;

	request_reset_response(req);
	req->easy = easy = cd_conn_take_easy(xfer->conn);
	xfer->running++;
	set_common_options(req, easy);
	set_credentials(req, easy);
	add_header(req, "Accept", "application/json");
	if (req->idempotency_key)
		add_header(req, "Idempotency-Key", req->idempotency_key);
	if (req->build_mime)
		curl_easy_setopt(easy, CURLOPT_MIMEPOST,
						 (req->mime = req->build_mime(easy, req->mime_arg)));
	else if (req->body)
	{
		add_header(req, "Content-Type", req->content_type);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
						 (curl_off_t) req->body_len);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	}
	if (strcmp(req->method, "POST") == 0)
		add_header(req, "Expect", "");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	if (curl_multi_add_handle(xfer->conn->multi, easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start HTTP request")));
	req->state = CD_REQ_RUNNING;
	cd_activity_count(CD_ACT_STARTED);
	req->attempts++;
	xfer->stats.requests++;
}

/*
 * Start queued requests whose time has come, up to the concurrency and as
 * the shared budget allows (budget.c); note how long the budget asks to
 * wait.
 */
static void
start_queued(CdTransfer *xfer)
{
	TimestampTz now = 0;
	long		wait;

	xfer->budget_wait_ms = -1;
	for (CdRequest *req = xfer->reqs; req && xfer->running < xfer->concurrency;
		 req = req->next)
	{
		if (req->state != CD_REQ_QUEUED)
			continue;
		if (req->not_before != 0)
		{
			if (now == 0)
				now = GetCurrentTimestamp();
			if (req->not_before > now)
				continue;
		}
		if (!cd_budget_acquire(req, &wait))
		{
			cd_activity_count(CD_ACT_BUDGET_WAIT);
			xfer->budget_wait_ms = wait;
			break;
		}
		cd_stats_begin(req);
		cd_activity_count(CD_ACT_BUDGET_DONE);
		request_start(xfer, req);
	}
}

/* Whether a finished attempt is worth another try (deliver.c asks too). */
bool
cd_request_retryable(const CdRequest *req)
{
	if (req->no_fd)
		return false;			/* waiting would not free descriptors */
	switch (req->curl_code)
	{
		case CURLE_OK:
			return req->status == 429 || req->status >= 500;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/*
 * Milliseconds before the next attempt: what the server asks for (Retry-After,
 * or on 429 the rate limit's reset time), else exponential back-off.
 */
static long
backoff_ms(const CdRequest *req)
{
	long		cap;
	double		wait = req->retry_after_s;

	if (wait < 0 && req->status == 429)
		wait = req->rate_reset_s;
	if (wait >= 0)
		return (long) (Min(wait, CD_SERVER_WAIT_CAP_S) * 1000.0);
	cap = CD_BACKOFF_BASE_MS << Min(req->attempts - 1, 10);
	cap = Min(cap, CD_BACKOFF_CAP_MS);
	/* "equal jitter": half fixed, half random */
	return cap / 2 + random() % (cap / 2 + 1);
}

/*
 * Kombo answers 429 with a code asking for fewer requests in flight: lower
 * this transfer's concurrency to what was running, minus one.
 */
static void
maybe_lower_concurrency(CdTransfer *xfer, CdRequest *req)
{
	const char *code = xfer->srv->api->concurrency_error_code;
	char	   *got;

	if (code == NULL || req->status != 429)
		return;
	got = cd_api_error_code(xfer->srv->api, req->resp, req->resp_len);
	if (got && strcmp(got, code) == 0)
		xfer->concurrency = Max(1, Min(xfer->concurrency, xfer->running + 1) - 1);
	free(got);
}

/* A transfer ended: hand it back or queue the next attempt. */
static void
request_finished(CdRequest *req, CURLcode result)
{
	CdTransfer *xfer = req->xfer;
	bool		retry;

	req->curl_code = result;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
	xfer->stats.bytes += req->resp_len;
	retry = cd_request_retryable(req) && req->attempts <= xfer->srv->max_retries;
	cd_budget_finish(req);
	cd_stats_end(req, retry);
	cd_activity_count(retry ? CD_ACT_RETRY : CD_ACT_FINISHED);
	request_detach(xfer, req, result == CURLE_OK);

	if (retry)
	{
		maybe_lower_concurrency(xfer, req);
		req->state = CD_REQ_QUEUED;
		req->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  backoff_ms(req));
		xfer->stats.retries++;
	}
	else
		req->state = CD_REQ_DONE;
}

/* Drive the sockets without blocking and collect finished transfers. */
static void
transfer_perform(CdTransfer *xfer)
{
	CURLMsg    *msg;
	int			still_running;
	int			left;

	if (curl_multi_perform(xfer->conn->multi, &still_running) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("HTTP client failure")));
	while ((msg = curl_multi_info_read(xfer->conn->multi, &left)) != NULL)
	{
		CdRequest  *req;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		request_finished(req, msg->data.result);
	}
}

/* Time until the earliest back-off ends, in ms; -1 if none is waiting. */
static long
next_due_ms(CdTransfer *xfer)
{
	TimestampTz now = GetCurrentTimestamp();
	long		best = -1;

	for (CdRequest *req = xfer->reqs; req; req = req->next)
	{
		long		ms;

		if (req->state != CD_REQ_QUEUED)
			continue;
		ms = req->not_before <= now ? 0 : (long) ((req->not_before - now) / 1000);
		if (best < 0 || ms < best)
			best = ms;
	}
	return best;
}

/*
 * Wait for socket activity, a back-off to end or the budget, for one slice
 * at most, then let interrupts (cancel, timeout, terminate) act.  The wait
 * event names what is awaited: a response, the budget, or a back-off.
 */
static void
transfer_wait(CdTransfer *xfer)
{
	long		timeout = CD_WAIT_SLICE_MS;
	long		due = xfer->running < xfer->concurrency ? next_due_ms(xfer) : -1;
	long		curl_timeout = -1;
	int			numfds;

	if (xfer->budget_wait_ms >= 0)
		timeout = Min(timeout, xfer->budget_wait_ms);	/* due ones wait too */
	else if (due >= 0)
		timeout = Min(timeout, due);
	if (xfer->running > 0)
	{
		curl_multi_timeout(xfer->conn->multi, &curl_timeout);
		if (curl_timeout >= 0)
			timeout = Min(timeout, curl_timeout);
		pgstat_report_wait_start(cd_wait_event(&wait_http, "CandidateDocsHttpResponse"));
		curl_multi_wait(xfer->conn->multi, NULL, 0, (int) timeout, &numfds);
		pgstat_report_wait_end();
	}
	else if (timeout > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, xfer->budget_wait_ms >= 0 ?
						 cd_wait_event(&wait_budget, "CandidateDocsRateBudget") :
						 cd_wait_event(&wait_backoff, "CandidateDocsRetryBackoff"));
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
}

static CdRequest *
take_done(CdTransfer *xfer)
{
	for (CdRequest *req = xfer->reqs; req; req = req->next)
		if (req->state == CD_REQ_DONE && !req->awaited)
		{
			req->state = CD_REQ_TAKEN;
			return req;
		}
	return NULL;
}

static bool
transfer_busy(CdTransfer *xfer)
{
	for (CdRequest *req = xfer->reqs; req; req = req->next)
		if (req->state == CD_REQ_QUEUED || req->state == CD_REQ_RUNNING)
			return true;
	return false;
}

/*
 * Hand back one finished request, or NULL.  With wait, blocks (answering
 * interrupts) until one finishes; returns NULL only when nothing is queued
 * or running.  The caller releases it with cd_transfer_release; until then
 * the response is freed with the transfer if an error intervenes.
 */
CdRequest *
cd_transfer_next(CdTransfer *xfer, bool wait)
{
	for (;;)
	{
		CdRequest  *req = take_done(xfer);

		if (req)
			return req;
		if (!transfer_busy(xfer))
			return NULL;
		start_queued(xfer);
		transfer_perform(xfer);
		if ((req = take_done(xfer)) != NULL)
			return req;
		if (!wait)
			return NULL;
		transfer_wait(xfer);
	}
}

/*
 * Start what may start and move bytes, without waiting; finished requests
 * stay for the next cd_transfer_next.
 */
void
cd_transfer_poll(CdTransfer *xfer)
{
	start_queued(xfer);
	transfer_perform(xfer);
}

/*
 * Let every request in flight finish, starting none: its response waits
 * in memory and its budget slot is given back.
 */
static void
transfer_settle(CdTransfer *xfer)
{
	while (xfer->running > 0)
	{
		transfer_perform(xfer);
		if (xfer->running == 0)
			break;
		xfer->budget_wait_ms = -1;
		transfer_wait(xfer);
	}
}

/*
 * ExecutorRun hook: when the top-level executor stops (a FETCH from a
 * cursor that then stays idle, a portal run for some rows), the transfers
 * of its scans would hold their in-flight slots until the next row is
 * asked for.  The requests in flight are finished first, so that no slot
 * outlives its transfer; the next FETCH takes their responses from memory.
 * A nested executor (a function's query, row by row) leaves the outer
 * scans' requests running.
 */
static void
cd_executor_run(CD_EXECUTOR_RUN_PARAMS)
{
	dlist_iter	iter;

	executor_depth++;
	PG_TRY();
	{
		if (prev_executor_run)
			prev_executor_run(CD_EXECUTOR_RUN_ARGS);
		else
			standard_ExecutorRun(CD_EXECUTOR_RUN_ARGS);
	}
	PG_FINALLY();
	{
		executor_depth--;
	}
	PG_END_TRY();
	if (executor_depth > 0)
		return;
	dlist_foreach(iter, &live_transfers)
		transfer_settle(dlist_container(CdTransfer, live, iter.cur));
}

/* From _PG_init: the executor hook. */
void
cd_http_init(void)
{
	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = cd_executor_run;
}

/*
 * Drive the transfer until req, an awaited request, has finished.
 */
void
cd_request_wait(CdTransfer *xfer, CdRequest *req)
{
	while (req->state == CD_REQ_QUEUED || req->state == CD_REQ_RUNNING)
	{
		start_queued(xfer);
		transfer_perform(xfer);
		if (req->state != CD_REQ_DONE)
			transfer_wait(xfer);
	}
}

/*
 * Run one request to its end and return it (finished, maybe failed).
 */
CdRequest *
cd_http_perform(CdTransfer *xfer, CdRequest *req)
{
	req->awaited = true;
	cd_transfer_add(xfer, req);
	cd_request_wait(xfer, req);
	return req;
}

bool
cd_request_ok(const CdRequest *req)
{
	return req->curl_code == CURLE_OK && req->status >= 200 && req->status < 300;
}

#define CD_BODY_START_BYTES 200

/*
 * The first bytes of a response body, for a message: printable ASCII,
 * other bytes as "?", runs of white space as one space, and the API key
 * masked (secret.c), in case a server echoes the request.  The key is
 * masked before the cut, in as much beyond it as a form of the key can
 * reach, so that a key the cut splits is masked whole; what the cut leaves
 * of the start of one is masked too.
 */
static void
append_body_start(const CdServer *srv, const CdRequest *req, StringInfo detail)
{
	size_t		n = Min(req->resp_len, CD_BODY_START_BYTES);
	size_t		masked = Min(req->resp_len, n + cd_secret_reach(srv->api_key));
	char	   *raw = palloc(masked + 1);
	StringInfoData buf;

	memcpy(raw, req->resp, masked);
	cd_secret_mask(srv->api_key, raw, masked);
	initStringInfo(&buf);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) raw[i];

		if (isspace(c))
		{
			if (buf.len > 0 && buf.data[buf.len - 1] != ' ')
				appendStringInfoChar(&buf, ' ');
		}
		else
			appendStringInfoChar(&buf, (c >= 0x20 && c < 0x7f) ? c : '?');
	}
	if (buf.len > 0 && buf.data[buf.len - 1] == ' ')
		buf.data[--buf.len] = '\0';
	if (req->resp_len > n)
		cd_secret_mask_tail(srv->api_key, buf.data, buf.len);
	appendStringInfo(detail, " The response is not an error of the %s API; it begins: \"%s%s\".",
					 srv->api->name, buf.data,
					 req->resp_len > n ? "..." : "");
	pfree(raw);
	pfree(buf.data);
}

/* Is url one of the API's own, under base_url (not a file download)? */
static bool
is_api_url(const CdServer *srv, const char *url)
{
	size_t		len = strlen(srv->base_url);

	return strncmp(url, srv->base_url, len) == 0 &&
		(url[len] == '/' || url[len] == '?' || url[len] == '\0');
}

/*
 * The API's own words about a failure, from its error body, and true; or,
 * for a body that is not the API's error shape, false, with the start of
 * the body if the URL is the API's (a download's error page, from another
 * host, may echo its signed URL's secrets and is not shown).
 */
static bool
append_api_detail(const CdTransfer *xfer, const CdRequest *req, StringInfo detail)
{
	StringInfoData words;

	if (req->resp == NULL || req->resp_len == 0)
		return false;
	initStringInfo(&words);
	if (cd_api_error_body(xfer->srv->api, req->resp, req->resp_len, &words))
	{
		appendStringInfo(detail, " %s", words.data);
		return true;
	}
	if (is_api_url(xfer->srv, req->url))
		append_body_start(xfer->srv, req, detail);
	return false;
}

/*
 * ERROR for a request that did not succeed.  what is the primary message;
 * the detail has the HTTP status or network error and the API's message;
 * the context has method and URL, never credentials (they are never in
 * the URL).  A 404 from under base_url that is not the API's own error
 * means the URL is no endpoint of the API: base_url is likely wrong.
 */
void
cd_request_error(const CdTransfer *xfer, const CdRequest *req, const char *what)
{
	StringInfoData detail;
	int			code = ERRCODE_FDW_ERROR;
	bool		no_endpoint = false;

	initStringInfo(&detail);
	if (req->no_fd)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("%s", what),
				 errdetail("There are too many open files on the local server."),
				 errhint("Raise the server's max_files_per_process and/or \"ulimit -n\" limits, or lower max_concurrency."),
				 errcontext("%s %s", req->method,
							cd_url_printable(xfer->srv->base_url, req->url))));
	if (req->too_large)
		appendStringInfo(&detail, "The response exceeded the limit of %zu bytes.",
						 req->max_bytes);
	else if (req->curl_code != CURLE_OK)
	{
		code = ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION;
		appendStringInfo(&detail, "%s", req->errbuf[0] ? req->errbuf :
						 curl_easy_strerror(req->curl_code));
	}
	else
	{
		appendStringInfo(&detail, "HTTP status %ld", req->status);
		if (req->attempts > 1)
			appendStringInfo(&detail, " after %d attempts", req->attempts);
		appendStringInfoChar(&detail, '.');
		no_endpoint = !append_api_detail(xfer, req, &detail) && req->status == 404 &&
			is_api_url(xfer->srv, req->url);
	}
	if (req->attempts > 1 && req->curl_code != CURLE_OK)
		appendStringInfo(&detail, " (after %d attempts)", req->attempts);
	/* the API's words and libcurl's may quote what the server echoed */
	cd_secret_mask(xfer->srv->api_key, detail.data, detail.len);

	ereport(ERROR,
			(errcode(code),
			 no_endpoint ? errmsg("%s: the endpoint does not exist", what) :
			 errmsg("%s", what),
			 errdetail_internal("%s", detail.data),
			 no_endpoint ? errhint("Check option \"base_url\" of server \"%s\": \"%s\".",
								   xfer->srv->server_name,
								   cd_url_redact(xfer->srv->base_url)) : 0,
			 errcontext("%s %s", req->method,
						cd_url_printable(xfer->srv->base_url, req->url))));
}

/*
 * Parse a successful response as JSON.  The caller owns the result and
 * must json_decref it.
 */
json_t *
cd_request_json(const CdTransfer *xfer, const CdRequest *req, const char *what)
{
	json_error_t jerr;
	json_t	   *root;

	root = json_loadb(req->resp ? req->resp : "", req->resp_len, 0, &jerr);
	/* jansson's complaint quotes the input, maybe cut: mask the key */
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("%s: the response is not valid JSON", what),
				 errdetail_internal("HTTP status %ld, %zu bytes: %s at position %d.",
									req->status, req->resp_len,
									cd_secret_masked(xfer->srv->api_key, jerr.text),
									jerr.position),
				 errcontext("%s %s", req->method, cd_url_printable(xfer->srv->base_url, req->url))));
	return root;
}

/*
 * A fresh UUID version 4, as an Idempotency-Key.
 */
char *
cd_new_idempotency_key(void)
{
	uint8		b[16];

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random idempotency key")));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	return psprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
					"%02x%02x%02x%02x%02x%02x",
					b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
					b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
