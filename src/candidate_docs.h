/*-------------------------------------------------------------------------
 *
 * candidate_docs.h
 *		  Private declarations of the candidate_docs foreign data wrapper.
 *
 * Externs are grouped by the file that defines them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CANDIDATE_DOCS_H
#define CANDIDATE_DOCS_H

#include "postgres.h"

/*
 * jansson and utils/fmgrprotos.h both declare json_object(); the wrapper
 * calls no SQL-callable function by its C name, so leave those prototypes
 * out wherever utils/builtins.h is included.
 */
#define FMGRPROTOS_H

#include <curl/curl.h>
#include <jansson.h>

#include "access/tupdesc.h"
#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/timestamp.h"

#include "compat.h"

#define CD_USER_AGENT "candidate_docs/1.0 (PostgreSQL foreign data wrapper)"

/* Longest header value sent (idempotency key, integration id), in bytes. */
#define CD_MAX_HEADER_VALUE 8192

/* Upper bound of one API response body (JSON); downloads use max_download_bytes. */
#define CD_MAX_RESPONSE_BYTES (64 * 1024 * 1024)

/* ----------------------------------------------------------------
 * activity.c: candidate_docs.activity, the work each backend runs now
 * ----------------------------------------------------------------
 */
typedef enum CdActivityEvent
{
	CD_ACT_QUEUED,				/* a request was queued */
	CD_ACT_RELEASED,			/* a queued request was dropped unsent */
	CD_ACT_STARTED,				/* an attempt was sent */
	CD_ACT_FINISHED,			/* an attempt ended, the request is done */
	CD_ACT_RETRY,				/* an attempt ended, the request queued again */
	CD_ACT_ROW,					/* a scan returned a row */
	CD_ACT_BUDGET_WAIT,			/* waiting for the shared budget */
	CD_ACT_BUDGET_DONE			/* not waiting for it any more */
} CdActivityEvent;

extern void cd_activity_init(void);
extern void cd_activity_begin(const char *server, int requests_per_minute);
extern void cd_activity_end(void);
extern void cd_activity_count(CdActivityEvent event);
extern void cd_activity_expect(double n, bool whole);
extern TupleTableSlot *cd_activity_row(TupleTableSlot *slot);

/* ----------------------------------------------------------------
 * api.c: each remote API described as data
 * ----------------------------------------------------------------
 */
typedef enum CdAuthStyle
{
	CD_AUTH_BASIC_KEY_AS_USER,	/* HTTP Basic, key as user name, empty password */
	CD_AUTH_BEARER				/* Authorization: Bearer <key> */
} CdAuthStyle;

typedef enum CdPaging
{
	CD_PAGING_NEXT_HREF,		/* absolute next-page URL in the envelope */
	CD_PAGING_CURSOR			/* opaque cursor passed back as a query param */
} CdPaging;

typedef enum CdFilterKind
{
	CD_FILTER_QUERY_LIST,		/* all values in one request: ?types[]=a&types[]=b */
	CD_FILTER_HEADER			/* one request per value, sent as a header */
} CdFilterKind;

/* A condition on a column that the API evaluates itself. */
typedef struct CdFilter
{
	const char *field;			/* the API field (column) it constrains */
	CdFilterKind kind;
	const char *param;			/* query parameter or header name */
	const char *default_option; /* option that supplies a value, or NULL */
	bool		required;		/* a request cannot be made without a value */
	bool		echoed;			/* column reads the value used, not the object */
	const char *const *accepted;	/* values the API takes, NULL-terminated;
									 * NULL: any value */
} CdFilter;

typedef struct CdColumnDef
{
	const char *name;
	const char *type;
} CdColumnDef;

#define CD_MAX_FILTERS 2
#define CD_MAX_COLUMNS 16

typedef struct CdApi
{
	const char *name;			/* value of the server option "api" */
	const char *default_base_url;
	const char *resource;		/* foreign table it serves */
	const char *object_noun;	/* "document", for messages */
	CdAuthStyle auth;
	const char *list_path;		/* path template under base_url, {candidate_id} */
	const char *upload_path;	/* multipart POST path template, or NULL */
	const char *story_path;		/* candidate story POST path, or NULL */
	CdPaging paging;
	const char *page_size_param;	/* per_page, or NULL */
	const char *cursor_param;	/* cursor, or NULL */
	const char *results_path[3];	/* where the rows are, NULL-terminated */
	const char *next_path[3];	/* next_href / data.next */
	const char *warnings_path[2];	/* warnings array to log, or {NULL} */
	const char *content_url_field;	/* URL of the file's bytes */
	const char *rate_reset_header;	/* header telling when a limit resets */
	bool		rate_reset_is_time; /* ISO timestamp (else seconds) */
	const char *rate_remaining_header;	/* requests left until the reset */
	int			default_requests_per_minute;	/* 0: none */
	int			default_max_inflight;	/* 0: none */
	const char *error_code_path[3]; /* the error code in an error body */
	const char *concurrency_error_code; /* code asking for less fan-out */
	const char *fatal_404_codes[3]; /* 404 codes that are errors, not a
									 * missing candidate */
	/* the API's words in an error body; false if not the API's error shape */
	bool		(*error_detail) (json_t *body, StringInfo detail);
	const char *const *upload_types;	/* upload "type" values, or NULL */
	CdFilter	filters[CD_MAX_FILTERS];
	int			nfilters;
	CdColumnDef columns[CD_MAX_COLUMNS];
	int			ncolumns;
} CdApi;

extern const CdApi *cd_api_by_name(const char *name);
extern const CdApi *cd_api_by_resource(const char *resource);
extern const char *cd_api_names(void);
extern const CdApi *const cd_apis[];
extern json_t *cd_json_path(json_t *root, const char *const *path);
extern char *cd_api_error_code(const CdApi *api, const char *body, size_t len);
extern bool cd_api_error_body(const CdApi *api, const char *body, size_t len,
							  StringInfo detail);
extern bool cd_value_listed(const char *const *list, const char *value);
extern char *cd_list_text(const char *const *list);

/* ----------------------------------------------------------------
 * candidate_docs.c: module entry points
 * ----------------------------------------------------------------
 */
extern PGDLLEXPORT Datum candidate_docs_fdw_handler(PG_FUNCTION_ARGS);

/* ----------------------------------------------------------------
 * jsonscan.c: a validating JSON tokenizer, without PostgreSQL calls
 * ----------------------------------------------------------------
 */
typedef enum CdJsonType
{
	CD_JSON_OBJECT,
	CD_JSON_ARRAY,
	CD_JSON_STRING,
	CD_JSON_NUMBER,
	CD_JSON_TRUE,
	CD_JSON_FALSE,
	CD_JSON_NULL
} CdJsonType;

typedef struct CdJsonTok
{
	uint8		type;			/* CdJsonType */
	bool		escaped;		/* string has backslash escapes */
	uint32		start;			/* strings: after the quote; else first byte */
	uint32		end;			/* strings: the closing quote; else past the end */
	uint32		size;			/* members of an object or array */
	int			next;			/* first token after this one's subtree */
} CdJsonTok;

typedef struct CdJsonDoc
{
	const char *text;			/* not owned */
	CdJsonTok  *toks;			/* malloc'd; token 0 is the root */
	int			ntoks;
	int			captoks;
} CdJsonDoc;

extern bool cd_json_scan(const char *text, size_t len, CdJsonDoc *doc,
						 char *msg, size_t msglen);
extern void cd_json_free(CdJsonDoc *doc);
extern int	cd_json_get(const CdJsonDoc *doc, int obj, const char *key);
extern int	cd_json_path_tok(const CdJsonDoc *doc, int t, const char *const *path);
extern long cd_json_unescape(const CdJsonDoc *doc, int t, char *dst);
extern char *cd_json_strdup(const CdJsonDoc *doc, int t);

/* ----------------------------------------------------------------
 * envelope.c: list responses, without PostgreSQL calls
 * ----------------------------------------------------------------
 */
typedef enum CdEnvelopeError
{
	CD_ENV_OK,
	CD_ENV_NOT_JSON,
	CD_ENV_NO_ROWS,
	CD_ENV_BAD_NEXT
} CdEnvelopeError;

typedef struct CdEnvelope
{
	CdJsonDoc	doc;			/* over the body, which the caller keeps */
	int		   *rows;			/* malloc'd: token of each row */
	size_t		nrows;
	char	   *next;			/* malloc'd next_href or cursor; NULL at the end */
	int			warnings;		/* token of the warnings array, or -1 */
} CdEnvelope;

extern CdEnvelopeError cd_envelope_parse(const CdApi *api, const char *body,
										 size_t len, CdEnvelope *env,
										 char *msg, size_t msglen);
extern void cd_envelope_free(CdEnvelope *env);
extern int	cd_envelope_row(const CdEnvelope *env, size_t i);

/* ----------------------------------------------------------------
 * option.c: option rules and the options in force for a scan
 * ----------------------------------------------------------------
 */
typedef struct CdServer
{
	Oid			serverid;
	Oid			userid;
	Oid			umid;			/* user mapping, keys the connection cache */
	char	   *server_name;
	const CdApi *api;
	char	   *base_url;		/* without trailing slash */
	char	   *origin;			/* scheme://host:port of base_url */
	char	   *api_key;		/* never printed */
	char	   *integration_id; /* user mapping's, else server's, or NULL */
	int			timeout_ms;
	int			max_retries;
	int			max_concurrency;
	int			page_size;
	int64		max_download_bytes;
	int			requests_per_minute;	/* shared rate budget, 0: none */
	int			max_inflight;	/* shared in-flight cap, 0: none */
	char	   *ssl_ca_file;	/* the CAs to trust, or NULL: the system's */
} CdServer;

extern CdServer *cd_server_for_table(Oid foreigntableid, Oid userid);
extern CdServer *cd_server_by_name(const char *servername, Oid userid);
extern const CdApi *cd_server_api(Oid serverid);
extern const CdApi *cd_table_api(Oid foreigntableid);
extern char *cd_column_field(Oid relid, AttrNumber attnum);
extern bool cd_delivery_value_valid(const char *value);
extern const char *cd_delivery_option(Oid serverid, Oid foreigntableid);

/* ----------------------------------------------------------------
 * url.c: URLs, origins and header values
 * ----------------------------------------------------------------
 */
extern char *cd_url_origin(const char *url);
extern bool cd_url_same_origin(const char *origin, const char *base_url,
							   const char *url);
extern const char *cd_url_check_base(const char *url);
extern char *cd_url_escape(const char *s);
extern char *cd_url_expand(const char *base_url, const char *path_template,
						   const char *id);
extern char *cd_url_resolve(const char *base, const char *ref);
extern char *cd_url_redact(const char *url);
extern char *cd_url_redact_text(const char *text);
extern const char *cd_url_printable(const char *base_url, const char *url);
extern char *cd_url_rebase(const char *base_url, const char *url);
extern const char *cd_url_check_download(const char *url);
extern const char *cd_url_redirect_schemes(const char *url);
extern void cd_check_header_value(const char *name, const char *value);

/* ----------------------------------------------------------------
 * secret.c: an API key kept out of messages and the log
 * ----------------------------------------------------------------
 */
extern void cd_secret_mask(const char *key, char *text, size_t len);
extern void cd_secret_mask_tail(const char *key, char *text, size_t len);
extern char *cd_secret_masked(const char *key, const char *text);
extern size_t cd_secret_reach(const char *key);

/* ----------------------------------------------------------------
 * connection.c: a curl multi handle per user mapping, kept for reuse
 * ----------------------------------------------------------------
 */
typedef struct CdConn
{
	Oid			umid;			/* hash key */
	CURLM	   *multi;			/* owns the keep-alive connections */
	CURL	   *idle[64];		/* easy handles ready for reuse */
	int			nidle;
	int			nactive;		/* easy handles currently lent out */
	bool		invalidated;	/* options changed: rebuild when idle */
	uint32		server_hashvalue;
	uint32		mapping_hashvalue;
} CdConn;

extern CdConn *cd_get_connection(const CdServer *srv);
extern CURL *cd_conn_take_easy(CdConn *conn);
extern void cd_conn_return_easy(CdConn *conn, CURL *easy, bool reusable);
extern void cd_conn_count_sockets(CURL *easy, bool *no_fd);
extern void cd_conn_set_tls(CURL *easy, const CdServer *srv);
extern void cd_sockets_reconcile(void);

/* ----------------------------------------------------------------
 * http.c: requests, retries and the interruptible wait
 * ----------------------------------------------------------------
 */
typedef enum CdReqState
{
	CD_REQ_QUEUED,				/* waiting for a slot or its back-off time */
	CD_REQ_RUNNING,
	CD_REQ_DONE,				/* finished: status or curl_code says how */
	CD_REQ_TAKEN				/* handed back to the caller */
} CdReqState;

typedef struct CdRequest
{
	/*
	 * What to send.  url and integration_id are the request's own (in the
	 * transfer's context); the other pointers are the caller's, used only
	 * until the request is handed back.
	 */
	const char *method;
	char	   *url;
	bool		credentials;	/* send the API key (same origin only) */
	bool		follow_redirects;	/* downloads may be redirected */
	char	   *integration_id; /* X-Integration-Id, or NULL */
	const char *content_type;	/* of body, or NULL */
	const char *body;			/* request body, or NULL */
	size_t		body_len;
	curl_mime  *(*build_mime) (CURL *easy, void *arg);	/* multipart, or NULL */
	void	   *mime_arg;
	char	   *idempotency_key;	/* sent on every attempt, or NULL */
	size_t		max_bytes;		/* response size cap */
	void	   *owner;			/* caller's bookkeeping */
	bool		awaited;		/* the caller waits for it (cd_request_wait);
								 * cd_transfer_next never hands it out */

	/* state, owned by http.c */
	CdReqState	state;
	int			attempts;
	TimestampTz not_before;
	CURL	   *easy;
	struct curl_slist *headers;
	curl_mime  *mime;
	char	   *resp;			/* malloc'd, NUL-terminated */
	size_t		resp_len;
	size_t		resp_cap;
	bool		too_large;
	bool		no_fd;			/* no file descriptor left for a socket */
	long		status;
	CURLcode	curl_code;
	char		errbuf[CURL_ERROR_SIZE];
	double		retry_after_s;	/* Retry-After, in seconds; < 0 if none */
	double		rate_reset_s;	/* rate-limit reset, in seconds; < 0 if none */
	long		rate_remaining; /* rate-limit remaining; < 0 if none */
	int			budget_slot;	/* budget entry held while running, or -1 */
	int			stats_slot;		/* counted in flight there, or -1 */
	TimestampTz started_at;		/* the current attempt's start */
	TimestampTz budget_wait_since;	/* refused by the budget since, or 0 */
	int64		budget_waited_us;	/* the wait before the current attempt */
	char	   *resp_content_type;	/* malloc'd */
	struct CdTransfer *xfer;	/* the transfer it belongs to */
	struct CdRequest *next;		/* in the transfer's list */
} CdRequest;

typedef struct CdStats
{
	int64		requests;
	int64		retries;
	int64		pages;
	int64		bytes;
} CdStats;

typedef struct CdTransfer
{
	MemoryContext cxt;			/* owns the transfer and its requests */
	const CdServer *srv;
	CdConn	   *conn;
	CdRequest  *reqs;			/* every request not yet handed back */
	int			running;
	int			concurrency;	/* may drop below max_concurrency */
	long		budget_wait_ms; /* a request waits for the budget, or -1 */
	CdStats		stats;
	MemoryContextCallback cleanup;
	dlist_node	live;			/* in http.c's list of live transfers */
} CdTransfer;

extern void cd_http_init(void);
extern CdTransfer *cd_transfer_create(const CdServer *srv, MemoryContext cxt);
extern CdRequest *cd_request_new(CdTransfer *xfer, const char *method,
								 const char *url, bool credentials);
extern void cd_request_set_integration_id(CdRequest *req, const char *value);
extern void cd_transfer_add(CdTransfer *xfer, CdRequest *req);
extern CdRequest *cd_transfer_next(CdTransfer *xfer, bool wait);
extern void cd_transfer_poll(CdTransfer *xfer);
extern void cd_transfer_release(CdTransfer *xfer, CdRequest *req);
extern bool cd_request_ok(const CdRequest *req);
extern bool cd_request_retryable(const CdRequest *req);
pg_noreturn extern void cd_request_error(const CdTransfer *xfer,
										 const CdRequest *req,
										 const char *what);
extern json_t *cd_request_json(const CdTransfer *xfer, const CdRequest *req,
							   const char *what);
extern CdRequest *cd_http_perform(CdTransfer *xfer, CdRequest *req);
extern void cd_request_wait(CdTransfer *xfer, CdRequest *req);
extern char *cd_new_idempotency_key(void);

/* ----------------------------------------------------------------
 * budget.c: the rate and in-flight budget shared by every backend
 * ----------------------------------------------------------------
 */

extern void cd_budget_init(void);
extern bool cd_budget_acquire(CdRequest *req, long *wait_ms);
extern void cd_budget_finish(CdRequest *req);
extern void cd_budget_release(CdRequest *req);

/* ----------------------------------------------------------------
 * stats.c: request counters and the candidate_docs.stats view
 * ----------------------------------------------------------------
 */

/* Latency histogram bucket upper bounds, in ms (the last is open). */
#define CD_LATENCY_BUCKETS 24

extern void cd_stats_init(void);
extern void cd_stats_begin(CdRequest *req);
extern void cd_stats_end(CdRequest *req, bool retry);
extern void cd_stats_abort(CdRequest *req, bool sent);
extern void cd_stats_deliveries(Oid serverid, int64 delivered, int64 failed);

/* ----------------------------------------------------------------
 * json_row.c: API objects to tuples
 * ----------------------------------------------------------------
 */
typedef enum CdColKind
{
	CD_COL_FIELD,				/* the object's field of that name */
	CD_COL_CANDIDATE,			/* the id the request was made for */
	CD_COL_ECHO,				/* the value of a header filter used */
	CD_COL_ATTRS,				/* the whole object as jsonb */
	CD_COL_CONTENT,				/* the file's bytes */
	CD_COL_SKIP					/* dropped, or not needed by the query */
} CdColKind;

typedef struct CdColumn
{
	CdColKind	kind;
	char	   *field;
	Oid			typid;
	bool		is_json;		/* json/jsonb: scalars encoded as JSON */
	FmgrInfo	infunc;
	Oid			typioparam;
	int32		typmod;
} CdColumn;

typedef struct CdRowMap
{
	TupleDesc	tupdesc;
	Oid			relid;
	int			natts;
	CdColumn   *cols;
	const CdApi *api;
} CdRowMap;

/* What the converter needs to know about the object's origin. */
typedef struct CdRowSource
{
	const char *candidate_id;
	const char *echo_value;
	bytea	   *content;		/* already downloaded, or NULL */
} CdRowSource;

extern CdRowMap *cd_rowmap_create(Relation rel, const CdApi *api,
								  Bitmapset *needed, bool all);
extern void cd_row_from_json(CdRowMap *map, const CdJsonDoc *doc, int obj,
							 const CdRowSource *src,
							 Datum *values, bool *nulls);
extern bool cd_rowmap_uses(const CdRowMap *map, CdColKind kind);
extern char *cd_json_field_text(const CdApi *api, const CdJsonDoc *doc, int obj,
								const char *field);
extern const char *cd_json_object_id(const CdJsonDoc *doc, int obj);

/* ----------------------------------------------------------------
 * planner.c: paths and plans
 * ----------------------------------------------------------------
 */
/* Rough figure: a request costs as much as many pages of local I/O. */
#define CD_REQUEST_COST 1000.0

extern void cdGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								Oid foreigntableid);
extern void cdGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
							  Oid foreigntableid);
extern ForeignScan *cdGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									 Oid foreigntableid, ForeignPath *best_path,
									 List *tlist, List *scan_clauses,
									 Plan *outer_plan);

/* fdw_private of a ForeignScan, by position */
enum CdPlanPrivate
{
	CD_PRIV_KEY_IS_LIST,		/* Boolean: candidate expression is an array */
	CD_PRIV_FILTERS,			/* List of Integer: API filter index per expr */
	CD_PRIV_FILTER_IS_LIST,		/* List of Boolean */
	CD_PRIV_NEEDED,				/* List of Integer: attnums the query reads;
								 * 0 the whole row, < 0 system columns */
	CD_PRIV_EXPLAIN_KEY,		/* String: candidate ids, for EXPLAIN */
	CD_PRIV_EXPLAIN_FILTERS,	/* List of String: pushed filters, for EXPLAIN */
	CD_PRIV_PARAMETERIZED,		/* Integer: ids come from the outer side */
	CD_PRIV_BATCH_PARAM,		/* Integer: PARAM_EXEC slot of the outer
								 * batch, or -1 */
	CD_PRIV_BEFORE_DOWNLOAD		/* Integer: how many of fdw_recheck_quals
								 * the scan checks before a download (the
								 * last, the candidate id condition, is for
								 * EvalPlanQual) */
};

/* ----------------------------------------------------------------
 * fetch.c: listing pages of many candidates concurrently
 * ----------------------------------------------------------------
 */
extern int	cd_rescan_cache_kb;	/* GUC candidate_docs.rescan_cache_size */

typedef struct CdFetch CdFetch;

/* One listing request: a candidate and the filter values sent with it. */
typedef struct CdListing
{
	char	   *candidate_id;
	char	   *header_value;	/* value of a header filter, or NULL */
	List	   *query_values;	/* values of a query-list filter, or NIL */
} CdListing;

/* A page ready for the executor. */
typedef struct CdPage
{
	dlist_node	node;			/* in the fetch's list of live pages */
	struct CdStream *stream;
	CdListing  *listing;
	char	   *body;			/* malloc'd response, or NULL if cached */
	CdEnvelope	env;			/* freed by cd_fetch_release */
	size_t		next;			/* next row to read */
} CdPage;

extern CdFetch *cd_fetch_create(const CdServer *srv, const CdApi *api,
								MemoryContext cxt, bool rescans_expected);
extern void cd_fetch_start(CdFetch *fetch, List *listings);
extern void cd_fetch_start_ahead(CdFetch *fetch, List *listings);
extern void cd_fetch_select(CdFetch *fetch, int lo, int hi, int ahead_max);
extern int	cd_fetch_selected_end(CdFetch *fetch);
extern int	cd_fetch_selected_begin(CdFetch *fetch);
extern const CdRequest *cd_fetch_parked(CdFetch *fetch, int i, bool *arrived);
extern CdPage *cd_fetch_next_page(CdFetch *fetch);
extern void cd_fetch_release(CdFetch *fetch, CdPage *page);
extern void cd_fetch_row_consumed(CdFetch *fetch, CdPage *page);
extern List *cd_fetch_skipped(CdFetch *fetch);
extern CdStats *cd_fetch_stats(CdFetch *fetch);
extern CdTransfer *cd_fetch_transfer(CdFetch *fetch);

/* ----------------------------------------------------------------
 * joinpath.c: batched joins, the planner side
 * ----------------------------------------------------------------
 */
#define CD_BATCH_NODE_NAME "CandidateDocsBatch"

extern bool cd_enable_batched_join;
extern void cd_joinpath_init(void);
extern int	cd_batch_param(PlannerInfo *root, ForeignPath *path);

/* ----------------------------------------------------------------
 * joinexec.c: batched joins, the executor side
 * ----------------------------------------------------------------
 */

/* The outer rows read ahead, as the inner foreign scan sees them. */
typedef struct CdOuterBatch
{
	uint64		generation;		/* bumped by each batch; 0 before the first */
	List	   *ids;			/* char *: each row's non-NULL candidate id */
} CdOuterBatch;

typedef struct CdFeed CdFeed;

extern void cd_joinexec_init(void);
extern const struct CustomScanMethods *cd_batch_scan_methods(void);
extern CdFeed *cd_feed_create(EState *estate, int paramid, CdFetch *fetch,
							  MemoryContext cxt);
extern bool cd_feed_start(CdFeed *feed, List *listings);
extern int64 cd_feed_loads(CdFeed *feed);

/* ----------------------------------------------------------------
 * scan.c: the executor side of SELECT
 * ----------------------------------------------------------------
 */
extern void cdBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *cdIterateForeignScan(ForeignScanState *node);
extern void cdReScanForeignScan(ForeignScanState *node);
extern void cdEndForeignScan(ForeignScanState *node);
extern void cdExplainForeignScan(ForeignScanState *node, ExplainState *es);

/* ----------------------------------------------------------------
 * content.c: downloading documents' bytes, many at once
 * ----------------------------------------------------------------
 */
typedef struct CdDownloads CdDownloads;

extern CdDownloads *cd_downloads_create(CdTransfer *xfer, TupleDesc desc,
										int content_attidx, MemoryContext cxt);
extern bool cd_downloads_full(CdDownloads *dl);
extern CdRequest *cd_download_request(CdTransfer *xfer, const char *url,
									  const char *what);
extern void cd_downloads_add(CdDownloads *dl, TupleTableSlot *slot,
							 const char *url, const char *what, CdRequest *req);
extern bool cd_downloads_next(CdDownloads *dl, TupleTableSlot *slot);
extern void cd_downloads_reset(CdDownloads *dl);

/* ----------------------------------------------------------------
 * modify.c: INSERT uploads a document
 * ----------------------------------------------------------------
 */
extern int	cdIsForeignRelUpdatable(Relation rel);
extern List *cdPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
								 Index resultRelation, int subplan_index);
extern void cdBeginForeignModify(ModifyTableState *mtstate,
								 ResultRelInfo *rinfo, List *fdw_private,
								 int subplan_index, int eflags);
extern TupleTableSlot *cdExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot,
										   TupleTableSlot *planSlot);
extern void cdEndForeignModify(EState *estate, ResultRelInfo *rinfo);
extern void cdBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo);
extern void cdExplainForeignModify(ModifyTableState *mtstate,
								   ResultRelInfo *rinfo, List *fdw_private,
								   int subplan_index, ExplainState *es);

/* What the multipart body of an upload is built from, for every attempt. */
typedef struct CdUploadParts
{
	const char *type;
	const char *filename;
	const char *content_type;
	const char *data;
	size_t		len;
} CdUploadParts;

extern curl_mime *cd_upload_mime(CURL *easy, void *arg);

/* ----------------------------------------------------------------
 * mime.c: content types of uploads
 * ----------------------------------------------------------------
 */
extern const char *cd_sniff_content_type(const char *data, size_t len);
extern bool cd_content_type_allowed(const char *content_type);
extern const char *cd_allowed_content_types(void);

/* ----------------------------------------------------------------
 * import.c: IMPORT FOREIGN SCHEMA
 * ----------------------------------------------------------------
 */
extern List *cdImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

/* ----------------------------------------------------------------
 * story.c: create_candidate_story()
 * ----------------------------------------------------------------
 */
extern json_t *cd_parse_json_arg(const char *text, size_t len, const char *argname);

/* ----------------------------------------------------------------
 * story_check.c: a story's rules, without PostgreSQL calls
 * ----------------------------------------------------------------
 */
extern json_t *cd_story_check(json_t *story, char *msg, size_t msglen,
							  const char **hint);

/* ----------------------------------------------------------------
 * outbox.c: queueing writes under delivery "after_commit"
 * ----------------------------------------------------------------
 */
extern char *cd_delivery_setting;	/* GUC candidate_docs.delivery */

/* One write to queue; the caller keeps every pointer. */
typedef struct CdQueuedWrite
{
	const char *kind;			/* "document" or "story" */
	Oid			userid;			/* whose user mapping sends it */
	Oid			serverid;
	const char *server_name;
	Oid			relid;			/* foreign table of a document, or InvalidOid */
	const char *target;			/* candidate id or report id */
	const char *key;			/* Idempotency-Key of every attempt */
	const char *request;		/* JSON: document fields, or the story */
	const char *content;		/* document bytes, or NULL */
	size_t		content_len;
} CdQueuedWrite;

extern void cd_outbox_init(void);
extern bool cd_delivery_after_commit(Oid serverid, Oid relid);
extern void cd_outbox_wake_at_commit(void);
extern Oid	cd_outbox_relid(Oid *owner);
extern int64 cd_outbox_queue(const CdQueuedWrite *w);
extern bool cd_outbox_queued_in_xact(void);

/* The user and security context to restore after working as the outbox's owner. */
typedef struct CdOutboxUser
{
	Oid			userid;
	int			sec_context;
} CdOutboxUser;

extern void cd_outbox_enter(CdOutboxUser *save);
extern void cd_outbox_leave(const CdOutboxUser *save);

/* ----------------------------------------------------------------
 * deliver.c: sending queued writes
 * ----------------------------------------------------------------
 */
extern int	cd_delivery_max_age_s;	/* GUC candidate_docs.delivery_max_age */
extern int	cd_delivery_retention_s;	/* GUC candidate_docs.delivery_retention */

extern void cd_deliver_init(void);
extern void cd_deliver(int64 *delivered, int64 *failed);

/* ----------------------------------------------------------------
 * worker.c: the background deliverers of the outbox
 * ----------------------------------------------------------------
 */
extern bool cd_delivery_worker;	/* GUC candidate_docs.delivery_worker */
extern void cd_worker_wake(Oid dbid);

/* One database's deliverer, in shared memory (under CdDeliverers.lock). */
typedef struct CdDelivererSlot
{
	Oid			dbid;			/* InvalidOid: a free slot */
	pid_t		pid;			/* the deliverer attached, or 0 */
	struct Latch *latch;		/* its latch while attached */
	bool		wake;			/* writes committed since its round began */
	bool		no_extension;	/* its last deliverer found no deliver() */
	uint64		ext_epoch;		/* counts wakes and CREATE/ALTER EXTENSION */
	TimestampTz held_until;		/* a database command: start none before */
} CdDelivererSlot;

typedef struct CdDeliverers
{
	struct LWLock *lock;
	struct Latch *launcher_latch;	/* while the launcher runs */
	bool		rescan;			/* the launcher looks at the databases again */
	int			nslots;
	CdDelivererSlot slots[FLEXIBLE_ARRAY_MEMBER];
} CdDeliverers;

extern CdDeliverers *cd_deliverers; /* NULL without preload */
extern void cd_worker_init(void);
extern CdDelivererSlot *cd_deliverer_slot(Oid dbid);
extern CdDelivererSlot *cd_deliverer_slot_claim(Oid dbid);
extern void cd_deliverers_poke_launcher(void);
extern PGDLLEXPORT void cd_deliverer_main(Datum main_arg);

/* ----------------------------------------------------------------
 * launcher.c: the launcher of the deliverers
 * ----------------------------------------------------------------
 */
extern void cd_launcher_register(void);
extern PGDLLEXPORT void cd_launcher_main(Datum main_arg);

/* ----------------------------------------------------------------
 * worker_ddl.c: database and extension commands and the deliverers
 * ----------------------------------------------------------------
 */
extern void cd_worker_ddl_init(void);

#endif							/* CANDIDATE_DOCS_H */
