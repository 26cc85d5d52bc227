/*-------------------------------------------------------------------------
 *
 * story.c
 *		  candidate_docs.create_candidate_story(): validate a story, POST it
 *		  to Checkr with an idempotency key, return what Checkr created.
 *
 * Everything is checked before a request is sent.  The Idempotency-Key is
 * the caller's (so that a re-run job replays instead of creating a second
 * story) or a fresh UUID, and stays the same across retries.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(candidate_docs_create_candidate_story);

#define ALLOWED_TYPES_HINT \
	"Allowed types are: image/gif, image/jpg, image/jpeg, image/png, " \
	"image/bmp, image/tiff, application/pdf, image/heic."

static const char *const story_keys[] = {"content", "documents", "record_id", NULL};
static const char *const document_keys[] = {"filename", "tempfile", "type", NULL};

/* The first key of obj outside keys[], or NULL. */
static const char *
unknown_key(json_t *obj, const char *const *keys)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(obj, key, value)
	{
		bool		known = false;

		for (int i = 0; keys[i]; i++)
			known |= (strcmp(keys[i], key) == 0);
		if (!known)
			return key;
	}
	return NULL;
}

static bool
is_http_url(const char *s)
{
	return (pg_strncasecmp(s, "https://", 8) == 0 && s[8] != '\0') ||
		(pg_strncasecmp(s, "http://", 7) == 0 && s[7] != '\0');
}

/* Check documents[i]; on a problem, fill msg and return its hint. */
static bool
check_document(json_t *doc, size_t i, char *msg, size_t msglen, const char **hint)
{
	const char *filename = json_string_value(json_object_get(doc, "filename"));
	const char *tempfile = json_string_value(json_object_get(doc, "tempfile"));
	const char *type = json_string_value(json_object_get(doc, "type"));
	const char *key;

	*hint = NULL;
	if (!json_is_object(doc))
	{
		snprintf(msg, msglen, "documents[%zu] is not an object", i);
		*hint = "Each document is {\"filename\": ..., \"tempfile\": ..., \"type\": ...}.";
	}
	else if ((key = unknown_key(doc, document_keys)) != NULL)
	{
		snprintf(msg, msglen, "unknown key \"%s\" in documents[%zu]", key, i);
		*hint = "Allowed keys of a document are: filename, tempfile, type.";
	}
	else if (filename == NULL || filename[0] == '\0')
		snprintf(msg, msglen, "documents[%zu] needs \"filename\", a non-empty string", i);
	else if (tempfile == NULL || !is_http_url(tempfile))
	{
		snprintf(msg, msglen, "documents[%zu] needs \"tempfile\", an http or https URL", i);
		*hint = "Checkr copies the file from that URL.";
	}
	else if (type == NULL || !cd_content_type_allowed(type))
	{
		snprintf(msg, msglen, "documents[%zu] needs \"type\", a MIME type Checkr accepts", i);
		*hint = ALLOWED_TYPES_HINT;
	}
	else
		return true;
	return false;
}

/* Check the story's own keys; on a problem, fill msg and hint. */
static bool
check_story(json_t *story, char *msg, size_t msglen, const char **hint)
{
	json_t	   *content = json_object_get(story, "content");
	json_t	   *documents = json_object_get(story, "documents");
	json_t	   *record_id = json_object_get(story, "record_id");
	const char *key;
	json_t	   *doc;
	size_t		i;

	*hint = NULL;
	if (!json_is_object(story))
	{
		snprintf(msg, msglen, "the story is not a JSON object");
		*hint = "Pass {\"content\": \"...\", \"documents\": [...]}.";
		return false;
	}
	if ((key = unknown_key(story, story_keys)) != NULL)
	{
		snprintf(msg, msglen, "unknown key \"%s\"", key);
		*hint = "Allowed keys are: content, documents, record_id.";
		return false;
	}
	if (!json_is_string(content) || json_string_length(content) == 0)
		snprintf(msg, msglen, "\"content\" must be a non-empty string");
	else if (documents != NULL && !json_is_array(documents))
	{
		snprintf(msg, msglen, "\"documents\" must be an array");
		*hint = "Use [] for a story without documents.";
	}
	else if (record_id != NULL && !json_is_string(record_id))
		snprintf(msg, msglen, "\"record_id\" must be a string");
	else
	{
		json_array_foreach(documents, i, doc)
			if (!check_document(doc, i, msg, msglen, hint))
				return false;
		return true;
	}
	return false;
}

/*
 * Check a story and return the body to send, a new reference the caller
 * must json_decref: content, documents (default []), record_id if given.
 * On a problem, return NULL with msg and *hint (maybe NULL) saying what.
 * No PostgreSQL calls: the fuzz target drives it directly.
 */
json_t *
cd_story_check(json_t *story, char *msg, size_t msglen, const char **hint)
{
	json_t	   *documents;
	json_t	   *body;

	if (!check_story(story, msg, msglen, hint))
		return NULL;
	documents = json_object_get(story, "documents");
	body = json_pack("{s:O, s:o}", "content", json_object_get(story, "content"),
					 "documents", documents ? json_incref(documents) : json_array());
	if (body && json_object_get(story, "record_id"))
		json_object_set(body, "record_id", json_object_get(story, "record_id"));
	if (body == NULL)
		snprintf(msg, msglen, "out of memory");
	return body;
}

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

	req = cd_request_new("POST", cd_url_expand(srv->base_url, srv->api->story_path,
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
 * create_candidate_story(report_id text, story jsonb,
 *						  idempotency_key text DEFAULT NULL,
 *						  server name DEFAULT 'checkr') RETURNS jsonb
 */
Datum
candidate_docs_create_candidate_story(PG_FUNCTION_ARGS)
{
	char	   *report_id = text_arg(fcinfo, 0, "report_id");
	char	   *key;
	char	   *body;
	CdServer   *srv;

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
	PG_RETURN_DATUM(post_story(srv, report_id, body, key));
}
