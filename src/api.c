/*-------------------------------------------------------------------------
 *
 * api.c
 *		  The remote APIs, each described as data.
 *
 * Everything the rest of the wrapper knows about one API lives in its
 * CdApi entry: where the listing is, how to authenticate, how pages chain,
 * which conditions the API filters itself, how its errors read, and the
 * columns IMPORT FOREIGN SCHEMA creates.  A new API is one new entry.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

/*
 * Checkr's document types: what types[] and an upload's "type" accept
 * (listings return more, such as pdf_report).
 */
static const char *const checkr_document_types[] = {
	"alien_id", "citizenship_certificate", "consent",
	"credit_report_consent_form", "degree", "diploma", "driver_license",
	"driver_license_back", "driver_license_history", "education_certificate",
	"education_proof", "electronic_consent_form", "employment_proof",
	"government_id", "international_consent_form", "military_id",
	"national_id", "national_id_back", "passport", "passport_signature_page",
	"paystub", "previous_driver_license",
	"professional_license_certification_image", "selfie", "ssn_card",
	"state_id_card", "state_id_card_back", "student_id", "tax_form1099",
	"tax_form_schedule_c", "tax_form_w2", "taxpayer_id", "transcript",
	NULL
};

/* Checkr: {"error": "message"} */
static bool
checkr_error_detail(json_t *body, StringInfo detail)
{
	const char *msg = json_string_value(json_object_get(body, "error"));

	if (msg == NULL)
		return false;
	appendStringInfo(detail, "Checkr says: %s", msg);
	return true;
}

/* Kombo: {"status":"error","error":{"code","title","message","log_url"}} */
static bool
kombo_error_detail(json_t *body, StringInfo detail)
{
	json_t	   *err = json_object_get(body, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	const char *log_url = json_string_value(json_object_get(err, "log_url"));

	if (!json_is_object(err))
		return false;
	appendStringInfoString(detail, "Kombo says:");
	if (code)
		appendStringInfo(detail, " [%s]", code);
	if (msg)
		appendStringInfo(detail, " %s", msg);
	if (log_url)
		appendStringInfo(detail, " (log: %s)", log_url);
	return true;
}

static const CdApi checkr_api = {
	.name = "checkr",
	.default_base_url = "https://api.checkr.com/v1",
	.resource = "candidate_documents",
	.object_noun = "document",
	.auth = CD_AUTH_BASIC_KEY_AS_USER,
	.list_path = "/candidates/{candidate_id}/documents",
	.upload_path = "/candidates/{candidate_id}/documents",
	.story_path = "/reports/{report_id}/candidate_stories",
	.paging = CD_PAGING_NEXT_HREF,
	.page_size_param = "per_page",
	.cursor_param = NULL,
	.results_path = {"data", NULL},
	.next_path = {"next_href", NULL},
	.warnings_path = {NULL},
	.content_url_field = "download_uri",
	.rate_reset_header = "x-ratelimit-reset",
	.rate_reset_is_time = true,
	.rate_remaining_header = "x-ratelimit-remaining",
	.default_requests_per_minute = 1200,
	.default_max_inflight = 0,
	.error_code_path = {NULL},
	.concurrency_error_code = NULL,
	.fatal_404_codes = {NULL},
	.error_detail = checkr_error_detail,
	.upload_types = checkr_document_types,
	.filters = {
		{"type", CD_FILTER_QUERY_LIST, "types[]", NULL, false, false,
		checkr_document_types},
	},
	.nfilters = 1,
	.columns = {
		{"id", "text"},
		{"candidate_id", "text"},
		{"type", "text"},
		{"filename", "text"},
		{"filesize", "int8"},
		{"content_type", "text"},
		{"download_uri", "text"},
		{"created_at", "timestamptz"},
		{"attrs", "jsonb"},
		{"content", "bytea"},
	},
	.ncolumns = 10,
};

static const CdApi kombo_api = {
	.name = "kombo",
	.default_base_url = "https://api.kombo.dev/v1",
	.resource = "candidate_attachments",
	.object_noun = "attachment",
	.auth = CD_AUTH_BEARER,
	.list_path = "/ats/candidates/{candidate_id}/attachments",
	.upload_path = NULL,
	.story_path = NULL,
	.paging = CD_PAGING_CURSOR,
	.page_size_param = NULL,
	.cursor_param = "cursor",
	.results_path = {"data", "results", NULL},
	.next_path = {"data", "next", NULL},
	.warnings_path = {"warnings", NULL},
	.content_url_field = "data_url",
	.rate_reset_header = "ratelimit-reset",
	.rate_reset_is_time = false,
	.rate_remaining_header = "ratelimit-remaining",
	.default_requests_per_minute = 0,
	.default_max_inflight = 30,
	.error_code_path = {"error", "code", NULL},
	.concurrency_error_code = "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",
	.fatal_404_codes = {"PLATFORM.INTEGRATION_NOT_FOUND", NULL},
	.error_detail = kombo_error_detail,
	.upload_types = NULL,
	.filters = {
		{"integration_id", CD_FILTER_HEADER, "X-Integration-Id",
		"integration_id", true, true, NULL},
	},
	.nfilters = 1,
	.columns = {
		{"id", "text"},
		{"candidate_id", "text"},
		{"application_id", "text"},
		{"integration_id", "text"},
		{"type", "text"},
		{"remote_id", "text"},
		{"data_url", "text"},
		{"file_name", "text"},
		{"content_type", "text"},
		{"remote_created_at", "timestamptz"},
		{"remote_updated_at", "timestamptz"},
		{"attrs", "jsonb"},
		{"content", "bytea"},
	},
	.ncolumns = 13,
};

const CdApi *const cd_apis[] = {&checkr_api, &kombo_api, NULL};

/*
 * Look up an API by the server option "api"; NULL if unknown.
 */
const CdApi *
cd_api_by_name(const char *name)
{
	for (int i = 0; cd_apis[i]; i++)
		if (strcmp(cd_apis[i]->name, name) == 0)
			return cd_apis[i];
	return NULL;
}

/*
 * Look up an API by the resource (table) it serves; NULL if unknown.
 */
const CdApi *
cd_api_by_resource(const char *resource)
{
	for (int i = 0; cd_apis[i]; i++)
		if (strcmp(cd_apis[i]->resource, resource) == 0)
			return cd_apis[i];
	return NULL;
}

/*
 * The known API names as "a, b", for messages.  Result is palloc'd.
 */
const char *
cd_api_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; cd_apis[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", cd_apis[i]->name);
	return buf.data;
}

/*
 * Follow a NULL-terminated list of object keys from root.  Returns a
 * borrowed reference, or NULL when a step is missing or not an object.
 */
json_t *
cd_json_path(json_t *root, const char *const *path)
{
	json_t	   *node = root;

	for (int i = 0; path[i] && node; i++)
		node = json_object_get(node, path[i]);
	return node;
}

/*
 * The API's error code in an error body (Kombo's error.code), malloc'd,
 * or NULL if the API has none or the body does not say.
 */
char *
cd_api_error_code(const CdApi *api, const char *body, size_t len)
{
	json_t	   *root;
	const char *code;
	char	   *result = NULL;

	if (api->error_code_path[0] == NULL || body == NULL)
		return NULL;
	root = json_loadb(body, len, 0, NULL);
	code = json_string_value(cd_json_path(root, api->error_code_path));
	if (code)
		result = strdup(code);
	json_decref(root);
	return result;
}

/*
 * Is body the API's own error shape?  If so, append the API's words to
 * detail.  A body that is not (an HTML page from a web server in front of
 * a wrong path, say) says nothing about the request's object.
 */
bool
cd_api_error_body(const CdApi *api, const char *body, size_t len,
				  StringInfo detail)
{
	json_t	   *root;
	bool		shaped = false;

	if (body == NULL)
		return false;
	root = json_loadb(body, len, 0, NULL);
	if (json_is_object(root))
		shaped = api->error_detail(root, detail);
	json_decref(root);
	return shaped;
}

/*
 * Is value in the NULL-terminated list?  A NULL list takes any value.
 */
bool
cd_value_listed(const char *const *list, const char *value)
{
	if (list == NULL)
		return true;
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], value) == 0)
			return true;
	return false;
}

/*
 * A NULL-terminated list as "a, b, c", for messages.  Result is palloc'd.
 */
char *
cd_list_text(const char *const *list)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; list[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", list[i]);
	return buf.data;
}
