/*-------------------------------------------------------------------------
 *
 * story.c
 *		  candidate_docs.create_candidate_story(): validate a story, POST it
 *		  to Checkr with an idempotency key, return what Checkr created.
 *
 * It is a write: refused, as INSERT is, in a read-only transaction and on
 * a standby (where every transaction is read-only).
 * Everything is checked (story_check.c) before a request is sent.  The
 * Idempotency-Key is the caller's (so that a re-run job replays instead of
 * creating a second story) or a fresh UUID, and stays the same across
 * retries.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(candidate_docs_create_candidate_story);

/*
 * Parse text (JSON handed in by SQL) with jansson; the caller owns the
 * result.
 */
json_t *
cd_parse_json_arg(const char *text, size_t len, const char *argname)
{
	json_error_t jerr;
	json_t	   *root = json_loadb(text, len, JSON_DECODE_ANY, &jerr);

	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not read argument \"%s\": %s", argname, jerr.text)));
	return root;
}

/* The JSON body of the POST, as palloc'd text. */
static char *
story_body(Jsonb *story)
{
	char	   *text = JsonbToCString(NULL, &story->root, VARSIZE(story));
	json_t	   *parsed = cd_parse_json_arg(text, strlen(text), "story");
	char		msg[256];
	const char *hint;
	json_t	   *body = cd_story_check(parsed, msg, sizeof(msg), &hint);
	char	   *dumped;
	char	   *result;

	json_decref(parsed);
	if (body == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid candidate story: %s", msg),
				 hint ? errhint("%s", hint) : 0));
	dumped = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (dumped == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	result = pstrdup(dumped);
	free(dumped);
	return result;
}

static char *
text_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	return s;
}

/* POST the story; returns the response body as jsonb. */
static Datum
post_story(CdServer *srv, const char *report_id, char *body, char *key)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "candidate_docs story",
											  ALLOCSET_SMALL_SIZES);
	CdTransfer *xfer = cd_transfer_create(srv, cxt);
	CdRequest  *req;
	const char *what = psprintf("could not create a candidate story for report \"%s\"",
								report_id);
	Oid			typinput;
	Oid			typioparam;
	Datum		result;

	req = cd_request_new(xfer, "POST", cd_url_expand(srv->base_url, srv->api->story_path,
											   report_id), true);
	req->body = body;
	req->body_len = strlen(body);
	req->content_type = "application/json";
	req->idempotency_key = key;
	cd_http_perform(xfer, req);
	if (!cd_request_ok(req))
		cd_request_error(xfer, req, what);
	json_decref(cd_request_json(xfer, req, what));
	getTypeInputInfo(JSONBOID, &typinput, &typioparam);
	result = OidInputFunctionCall(typinput, req->resp, typioparam, -1);
	MemoryContextDelete(cxt);
	return result;
}

/*
 * Under delivery "after_commit": queue the story in the outbox; returns
 * {"delivery_id": ..., "delivery_status": "pending", "idempotency_key": ...}.
 */
static Datum
queue_story(CdServer *srv, const char *report_id, const char *body, const char *key)
{
	CdQueuedWrite w = {0};
	int64		id;
	Oid			typinput;
	Oid			typioparam;
	char	   *text;
	StringInfoData buf;

	w.kind = "story";
	w.userid = GetUserId();
	w.serverid = srv->serverid;
	w.server_name = srv->server_name;
	w.target = report_id;
	w.key = key;
	w.request = body;
	id = cd_outbox_queue(&w);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"delivery_id\": " INT64_FORMAT
					 ", \"delivery_status\": \"pending\", \"idempotency_key\": ", id);
	escape_json(&buf, key);
	appendStringInfoChar(&buf, '}');
	text = buf.data;
	getTypeInputInfo(JSONBOID, &typinput, &typioparam);
	return OidInputFunctionCall(typinput, text, typioparam, -1);
}

/*
 * create_candidate_story(report_id text, story jsonb,
 *						  idempotency_key text DEFAULT NULL,
 *						  server name DEFAULT 'checkr') RETURNS jsonb
 */
Datum
candidate_docs_create_candidate_story(PG_FUNCTION_ARGS)
{
	char	   *report_id;
	char	   *key;
	char	   *body;
	CdServer   *srv;

	/* a write, refused where INSERT is: read-only transactions, standbys */
	PreventCommandIfReadOnly("create_candidate_story()");
	report_id = text_arg(fcinfo, 0, "report_id");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("story must not be null")));
	body = story_body(PG_GETARG_JSONB_P(1));
	key = PG_ARGISNULL(2) ? cd_new_idempotency_key() :
		text_arg(fcinfo, 2, "idempotency_key");
	cd_check_header_value("idempotency_key", key);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("server must not be null")));
	srv = cd_server_by_name(NameStr(*PG_GETARG_NAME(3)), GetUserId());
	if (srv->api->story_path == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("server \"%s\" does not take candidate stories",
						srv->server_name),
				 errhint("Pass a server whose api is \"checkr\".")));
	if (cd_delivery_after_commit(srv->serverid, InvalidOid))
		PG_RETURN_DATUM(queue_story(srv, report_id, body, key));
	PG_RETURN_DATUM(post_story(srv, report_id, body, key));
}
