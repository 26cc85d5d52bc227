/*-------------------------------------------------------------------------
 *
 * option.c
 *		  Option rules of candidate_docs, and the options in force for a scan.
 *
 * The validator checks every option where it is set, so that a bad value
 * fails at CREATE or ALTER time rather than at the first query.  The rest
 * of the file gathers a server's, user mapping's, table's and column's
 * options into the structures the planner and executor use.
 *
 * The API key is a secret: no message of this file ever contains it.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"
#include "compat.h"

#include <errno.h>

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/*
 * Describes the valid options for objects that this wrapper uses.
 */
typedef struct CdOption
{
	const char *keyword;
	Oid			optcontext;		/* OID of catalog in which option may appear */
} CdOption;

static const CdOption cd_options[] = {
	{"api", ForeignServerRelationId},
	{"base_url", ForeignServerRelationId},
	{"integration_id", ForeignServerRelationId},
	{"timeout_ms", ForeignServerRelationId},
	{"max_retries", ForeignServerRelationId},
	{"max_concurrency", ForeignServerRelationId},
	{"page_size", ForeignServerRelationId},
	{"max_download_bytes", ForeignServerRelationId},
	{"requests_per_minute", ForeignServerRelationId},
	{"max_inflight", ForeignServerRelationId},
	{"api_key", UserMappingRelationId},
	{"integration_id", UserMappingRelationId},
	{"resource", ForeignTableRelationId},
	{"column_name", AttributeRelationId},
	{NULL, InvalidOid}
};

/*
 * The integer options: accepted range and default.
 */
typedef struct CdIntOption
{
	const char *keyword;
	int64		min;
	int64		max;
	int64		dflt;
} CdIntOption;

static const CdIntOption cd_int_options[] = {
	{"timeout_ms", 1, 3600000, 30000},
	{"max_retries", 0, 100, 5},
	{"max_concurrency", 1, 64, 8},
	{"page_size", 1, 100, 100},
	{"max_download_bytes", 1, 1073741823, 104857600},
	/* -1: the API's default (CdApi); 0: none */
	{"requests_per_minute", 0, 1000000, -1},
	{"max_inflight", 0, 10000, -1},
	{NULL, 0, 0, 0}
};

static void check_option_name(DefElem *def, Oid catalog);
static void check_duplicate(List *options, DefElem *def);
static void check_option_value(DefElem *def);
static void check_not_empty(const char *name, const char *value);
static void check_api(const char *value);
static void check_base_url(const char *value);
static void check_resource(const char *value);
static const CdIntOption *int_option_def(const char *keyword);
static int64 parse_int_option(const CdIntOption *opt, const char *value);
static int64 int_option(List *options, const char *keyword);
static const char *option_value(List *options, const char *name);
static const CdApi *server_api(ForeignServer *server);
static char *user_mapping_api_key(UserMapping *um, ForeignServer *server);
static CdServer *build_server(ForeignServer *server, Oid userid);

/*
 * Validate the generic options given to a FOREIGN DATA WRAPPER, SERVER,
 * USER MAPPING or FOREIGN TABLE that uses candidate_docs.
 *
 * Raise an ERROR if the option or its value is considered invalid.
 */
PG_FUNCTION_INFO_V1(candidate_docs_fdw_validator);

Datum
candidate_docs_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options_list = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;

	foreach(cell, options_list)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		check_option_name(def, catalog);
		check_duplicate(options_list, def);
		check_option_value(def);
	}
	if (catalog == ForeignServerRelationId &&
		option_value(options_list, "api") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"api\" is required on a candidate_docs server"),
				 errhint("Valid values are: %s.", cd_api_names())));

	PG_RETURN_VOID();
}

/*
 * Complain unless def is an option of the object kind catalog.  api_key
 * anywhere but on a user mapping gets an error of its own.
 */
static void
check_option_name(DefElem *def, Oid catalog)
{
	const CdOption *opt;
	StringInfoData buf;

	if (strcmp(def->defname, "api_key") == 0 &&
		catalog != UserMappingRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"api_key\" is only allowed on a user mapping"),
				 errhint("Store the API key with CREATE USER MAPPING ... OPTIONS (api_key '...').")));

	for (opt = cd_options; opt->keyword; opt++)
		if (catalog == opt->optcontext && strcmp(opt->keyword, def->defname) == 0)
			return;

	/* Unknown option: hint at the valid ones for the object. */
	initStringInfo(&buf);
	for (opt = cd_options; opt->keyword; opt++)
		if (catalog == opt->optcontext)
			appendStringInfo(&buf, "%s%s", (buf.len > 0) ? ", " : "",
							 opt->keyword);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", def->defname),
			 buf.len > 0
			 ? errhint("Valid options in this context are: %s", buf.data)
			 : errhint("There are no valid options in this context.")));
}

/*
 * Complain if def's option appears more than once in options.
 */
static void
check_duplicate(List *options, DefElem *def)
{
	ListCell   *lc;
	int			count = 0;

	foreach(lc, options)
	{
		DefElem    *other = (DefElem *) lfirst(lc);

		if (strcmp(other->defname, def->defname) == 0)
			count++;
	}

	if (count > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("option \"%s\" provided more than once",
						def->defname)));
}

/*
 * Check the value of an option already known to be valid where it is.
 */
static void
check_option_value(DefElem *def)
{
	const char *name = def->defname;
	const char *value = defGetString(def);
	const CdIntOption *intopt = int_option_def(name);

	if (intopt != NULL)
		(void) parse_int_option(intopt, value);
	else if (strcmp(name, "api") == 0)
		check_api(value);
	else if (strcmp(name, "base_url") == 0)
		check_base_url(value);
	else if (strcmp(name, "resource") == 0)
		check_resource(value);
	else if (strcmp(name, "api_key") == 0 ||
			 strcmp(name, "integration_id") == 0)
	{
		/* both are sent as header values; neither is ever printed */
		check_not_empty(name, value);
		cd_check_header_value(name, value);
	}
	else if (strcmp(name, "column_name") == 0)
		check_not_empty(name, value);
}

/*
 * Complain if value is empty.  The value is not printed: it is empty, and
 * for api_key it would be a secret anyway.
 */
static void
check_not_empty(const char *name, const char *value)
{
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" must not be empty", name)));
}

static void
check_api(const char *value)
{
	if (cd_api_by_name(value) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"",
						"api", value),
				 errhint("Valid values are: %s.", cd_api_names())));
}

/*
 * base_url must be https, or http to a loopback host, and must not carry
 * credentials, a query or a fragment.  The value is printed redacted.
 */
static void
check_base_url(const char *value)
{
	const char *problem = cd_url_check_base(value);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"",
						"base_url", cd_url_redact(value)),
				 errdetail("%s", problem),
				 errhint("The base URL must use https://; plain http:// is allowed only to a loopback host (127.0.0.0/8, localhost or ::1).")));
}

static void
check_resource(const char *value)
{
	StringInfoData buf;

	if (cd_api_by_resource(value) != NULL)
		return;

	initStringInfo(&buf);
	for (int i = 0; cd_apis[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", cd_apis[i]->resource);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"",
					"resource", value),
			 errhint("Valid values are: %s.", buf.data)));
}

/* The integer option named keyword, or NULL if it is not one. */
static const CdIntOption *
int_option_def(const char *keyword)
{
	for (const CdIntOption *opt = cd_int_options; opt->keyword; opt++)
		if (strcmp(opt->keyword, keyword) == 0)
			return opt;
	return NULL;
}

/*
 * Parse value strictly as a decimal integer in opt's range: no blanks, no
 * trailing characters, no overflow.  strtoll rather than pg_strtoint64,
 * which not every supported release has.
 */
static int64
parse_int_option(const CdIntOption *opt, const char *value)
{
	const char *digits = (value[0] == '+' || value[0] == '-') ? value + 1 : value;
	char	   *end;
	long long	val = 0;
	bool		ok = false;

	if (digits[0] >= '0' && digits[0] <= '9')
	{
		errno = 0;
		val = strtoll(value, &end, 10);
		ok = (errno == 0 && *end == '\0' &&
			  val >= opt->min && val <= opt->max);
	}

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"",
						opt->keyword, value),
				 errdetail("Valid values are integers from %lld to %lld.",
						   (long long) opt->min, (long long) opt->max)));
	return (int64) val;
}

/* The integer option keyword from options, or its default. */
static int64
int_option(List *options, const char *keyword)
{
	const CdIntOption *opt = int_option_def(keyword);
	const char *value = option_value(options, keyword);

	Assert(opt != NULL);
	if (value == NULL)
		return opt->dflt;
	return parse_int_option(opt, value);
}

/* The value of option name in a DefElem list, or NULL. */
static const char *
option_value(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * The API a server talks to, from its required option "api".
 */
static const CdApi *
server_api(ForeignServer *server)
{
	const char *name = option_value(server->options, "api");

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" has no option \"api\"",
						server->servername),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD api '...'); valid values are: %s.",
						 quote_identifier(server->servername),
						 cd_api_names())));
	check_api(name);
	return cd_api_by_name(name);
}

/*
 * The API of the server with OID serverid; for callers that need no user
 * mapping, such as IMPORT FOREIGN SCHEMA.
 */
const CdApi *
cd_server_api(Oid serverid)
{
	return server_api(GetForeignServer(serverid));
}

/*
 * The API key of a user mapping, palloc'd.  It is required.
 */
static char *
user_mapping_api_key(UserMapping *um, ForeignServer *server)
{
	const char *key = option_value(um->options, "api_key");

	if (key == NULL || key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("user mapping for server \"%s\" has no api_key",
						server->servername),
				 errhint("Store the API key with CREATE USER MAPPING ... SERVER %s OPTIONS (api_key '...').",
						 quote_identifier(server->servername))));
	return pstrdup(key);
}

/*
 * Gather the options in force for userid on server into a palloc'd
 * CdServer.  GetUserMapping also finds a PUBLIC mapping.
 */
static CdServer *
build_server(ForeignServer *server, Oid userid)
{
	UserMapping *um = GetUserMapping(userid, server->serverid);
	CdServer   *srv = (CdServer *) palloc0(sizeof(CdServer));
	const char *base_url = option_value(server->options, "base_url");
	const char *integration_id = option_value(um->options, "integration_id");
	size_t		len;

	srv->serverid = server->serverid;
	srv->userid = userid;
	srv->umid = um->umid;
	srv->server_name = pstrdup(server->servername);
	srv->api = server_api(server);

	/* base_url was checked when set; check again, it guards the key */
	if (base_url != NULL)
		check_base_url(base_url);
	srv->base_url = pstrdup(base_url ? base_url : srv->api->default_base_url);
	len = strlen(srv->base_url);
	while (len > 0 && srv->base_url[len - 1] == '/')
		srv->base_url[--len] = '\0';
	srv->origin = cd_url_origin(srv->base_url);

	srv->api_key = user_mapping_api_key(um, server);
	if (integration_id == NULL)
		integration_id = option_value(server->options, "integration_id");
	srv->integration_id = integration_id ? pstrdup(integration_id) : NULL;

	srv->timeout_ms = (int) int_option(server->options, "timeout_ms");
	srv->max_retries = (int) int_option(server->options, "max_retries");
	srv->max_concurrency = (int) int_option(server->options, "max_concurrency");
	srv->page_size = (int) int_option(server->options, "page_size");
	srv->max_download_bytes = int_option(server->options, "max_download_bytes");
	srv->requests_per_minute = (int) int_option(server->options, "requests_per_minute");
	if (srv->requests_per_minute < 0)
		srv->requests_per_minute = srv->api->default_requests_per_minute;
	srv->max_inflight = (int) int_option(server->options, "max_inflight");
	if (srv->max_inflight < 0)
		srv->max_inflight = srv->api->default_max_inflight;
	return srv;
}

/*
 * The options in force for userid when scanning or modifying the foreign
 * table foreigntableid.  Result is palloc'd.
 */
CdServer *
cd_server_for_table(Oid foreigntableid, Oid userid)
{
	ForeignTable *table = GetForeignTable(foreigntableid);

	return build_server(GetForeignServer(table->serverid), userid);
}

/*
 * The options in force for userid on the server named servername, for the
 * SQL functions that take a server name.  As for dblink, userid needs
 * USAGE on the server, and the server must be one of candidate_docs (a
 * server of another wrapper may hold other secrets under the same option
 * names).  Result is palloc'd.
 */
CdServer *
cd_server_by_name(const char *servername, Oid userid)
{
	ForeignServer *server = GetForeignServerByName(servername, false);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	AclResult	aclresult;

	aclresult = cd_server_aclcheck(server->serverid, userid, ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	/*
	 * Known by its callbacks, not the handler's address: a handler with SET
	 * search_path is called through fmgr_security_definer.
	 */
	if (!OidIsValid(fdw->fdwhandler) ||
		GetFdwRoutine(fdw->fdwhandler)->GetForeignRelSize != cdGetForeignRelSize)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("server \"%s\" is not a candidate_docs server",
						server->servername),
				 errdetail("It belongs to foreign-data wrapper \"%s\".", fdw->fdwname)));
	return build_server(server, userid);
}

/*
 * The API behind a foreign table: its option "resource", by default the
 * one its server's API serves.  It must be served by the server's API.
 */
const CdApi *
cd_table_api(Oid foreigntableid)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	const char *resource = option_value(table->options, "resource");
	const CdApi *api = cd_server_api(table->serverid);

	if (resource == NULL || cd_api_by_resource(resource) == api)
		return api;

	ereport(ERROR,
			(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
			 errmsg("foreign table \"%s\" has resource \"%s\", which server \"%s\" does not serve",
					get_rel_name(foreigntableid), resource,
					GetForeignServer(table->serverid)->servername),
			 errdetail("A server with api \"%s\" serves only resource \"%s\".",
					   api->name, api->resource)));
	return NULL;				/* keep compiler quiet */
}

/*
 * The API field a column reads: its option "column_name", else its own
 * name.  Result is palloc'd.
 */
char *
cd_column_field(Oid relid, AttrNumber attnum)
{
	const char *name = option_value(GetForeignColumnOptions(relid, attnum),
									"column_name");

	if (name != NULL)
		return pstrdup(name);
	return get_attname(relid, attnum, false);
}
