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

static const char *const story_keys[] = {"content", "documents", "record_id", NULL};
static const char *const document_keys[] = {"filename", "tempfile", "type", NULL};

static void
story_error(const char *msg, const char *hint) pg_attribute_noreturn();

static void
story_error(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid candidate story: %s", msg),
			 hint ? errhint("%s", hint) : 0));
}

static const char *
key_list(const char *const *keys)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; keys[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", keys[i]);
	return buf.data;
}

/* Refuse keys outside keys[]; what names the object in the message. */
static void
check_keys(json_t *obj, const char *const *keys, const char *what)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(obj, key, value)
	{
		bool		known = false;

		for (int i = 0; keys[i]; i++)
			known |= (strcmp(keys[i], key) == 0);
		if (!known)
			story_error(psprintf("unknown key \"%s\" in %s", key, what),
						psprintf("Allowed keys are: %s.", key_list(keys)));
	}
}

static bool
is_http_url(const char *s)
{
	return (pg_strncasecmp(s, "https://", 8) == 0 && s[8] != '\0') ||
		(pg_strncasecmp(s, "http://", 7) == 0 && s[7] != '\0');
}

static void
check_document(json_t *doc, size_t i)
{
	const char *where = psprintf("documents[%zu]", i);
	const char *filename = json_string_value(json_object_get(doc, "filename"));
	const char *tempfile = json_string_value(json_object_get(doc, "tempfile"));
	const char *type = json_string_value(json_object_get(doc, "type"));

	if (!json_is_object(doc))
		story_error(psprintf("%s is not an object", where),
					"Each document is {\"filename\": ..., \"tempfile\": ..., \"type\": ...}.");
	check_keys(doc, document_keys, where);
	if (filename == NULL || filename[0] == '\0')
		story_error(psprintf("%s needs \"filename\", a non-empty string", where), NULL);
	if (tempfile == NULL || !is_http_url(tempfile))
		story_error(psprintf("%s needs \"tempfile\", an http or https URL", where),
					"Checkr copies the file from that URL.");
	if (type == NULL || !cd_content_type_allowed(type))
		story_error(psprintf("%s needs \"type\", a MIME type Checkr accepts", where),
					psprintf("Allowed types are: %s.", cd_allowed_content_types()));
}

/*
 * Check a story and return the body to send (a new reference the caller
 * must json_decref): content, documents (default []), record_id if given.
 * Throws on the first problem, having freed what it made.
 */
json_t *
cd_story_validate(json_t *story)
{
	json_t	   *content = json_object_get(story, "content");
	json_t	   *documents = json_object_get(story, "documents");
	json_t	   *record_id = json_object_get(story, "record_id");
	json_t	   *doc;
	json_t	   *body;
	size_t		i;

	if (!json_is_object(story))
		story_error("the story is not a JSON object",
					"Pass {\"content\": \"...\", \"documents\": [...]}.");
	check_keys(story, story_keys, "the story");
	if (!json_is_string(content) || json_string_length(content) == 0)
		story_error("\"content\" must be a non-empty string", NULL);
	if (documents != NULL && !json_is_array(documents))
		story_error("\"documents\" must be an array", "Use [] for a story without documents.");
	if (record_id != NULL && !json_is_string(record_id))
		story_error("\"record_id\" must be a string", NULL);
	json_array_foreach(documents, i, doc)
		check_document(doc, i);

	body = json_pack("{s:O, s:o}", "content", content,
					 "documents", documents ? json_incref(documents) : json_array());
	if (body == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (record_id)
		json_object_set(body, "record_id", record_id);
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
	json_t	   *volatile body = NULL;
	char	   *dumped;
	char	   *result;

	PG_TRY();
	{
		body = cd_story_validate(parsed);
	}
	PG_FINALLY();
	{
		json_decref(parsed);
	}
	PG_END_TRY();
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
