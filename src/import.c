/*-------------------------------------------------------------------------
 *
 * import.c
 *		  IMPORT FOREIGN SCHEMA for candidate_docs.
 *
 * The remote side has no catalog to read: the server's option "api"
 * decides the one table there is, and the API's description supplies its
 * columns.  The remote schema name is not looked at.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "foreign/foreign.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

static void check_import_options(List *options);
static bool table_wanted(ImportForeignSchemaStmt *stmt, const char *name);
static char *table_command(ImportForeignSchemaStmt *stmt,
						   ForeignServer *server, const CdApi *api);

/*
 * Import the table the server's API serves, honouring LIMIT TO and EXCEPT.
 * Returns a list of CREATE FOREIGN TABLE commands (palloc'd strings).
 */
List *
cdImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	const CdApi *api;

	check_import_options(stmt->options);
	api = cd_server_api(serverOid);

	if (!table_wanted(stmt, api->resource))
		return NIL;
	return list_make1(table_command(stmt, server, api));
}

/*
 * IMPORT FOREIGN SCHEMA takes no options here; refuse any, as
 * postgres_fdw refuses the ones it does not know.
 */
static void
check_import_options(List *options)
{
	if (options != NIL)
	{
		DefElem    *def = (DefElem *) linitial(options);

		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", def->defname),
				 errhint("There are no valid options in this context.")));
	}
}

/*
 * Does the statement's LIMIT TO / EXCEPT list let table name through?
 * A name in LIMIT TO that does not exist simply imports nothing.
 */
static bool
table_wanted(ImportForeignSchemaStmt *stmt, const char *name)
{
	bool		listed = false;
	ListCell   *lc;

	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);

		if (strcmp(rv->relname, name) == 0)
			listed = true;
	}

	switch (stmt->list_type)
	{
		case FDW_IMPORT_SCHEMA_ALL:
			return true;
		case FDW_IMPORT_SCHEMA_LIMIT_TO:
			return listed;
		case FDW_IMPORT_SCHEMA_EXCEPT:
			return !listed;
	}
	return false;
}

/*
 * The CREATE FOREIGN TABLE command for api's table in the local schema,
 * with the API's columns in their order.  Result is palloc'd.
 */
static char *
table_command(ImportForeignSchemaStmt *stmt, ForeignServer *server,
			  const CdApi *api)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s.%s (\n",
					 quote_identifier(stmt->local_schema),
					 quote_identifier(api->resource));

	/* the types are pg_catalog's whatever the importer's search_path */
	for (int i = 0; i < api->ncolumns; i++)
		appendStringInfo(&buf, "%s  %s pg_catalog.%s",
						 i > 0 ? ",\n" : "",
						 quote_identifier(api->columns[i].name),
						 api->columns[i].type);

	appendStringInfo(&buf, "\n) SERVER %s\nOPTIONS (resource %s);",
					 quote_identifier(server->servername),
					 quote_literal_cstr(api->resource));
	return buf.data;
}
