/* candidate_docs--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION candidate_docs UPDATE TO '1.2'" to load this file. \quit

-- Every function runs with a fixed search_path.
ALTER FUNCTION candidate_docs.candidate_docs_fdw_handler()
  SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION candidate_docs.candidate_docs_fdw_validator(text[], oid)
  SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION candidate_docs.create_candidate_story(text, jsonb, text, name)
  SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION candidate_docs.stats()
  SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION candidate_docs.stats_reset()
  SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION candidate_docs.activity(OUT pid integer,
                                        OUT query_start timestamptz,
                                        OUT server name,
                                        OUT requests_done bigint,
                                        OUT requests_queued bigint,
                                        OUT requests_inflight bigint,
                                        OUT rows_returned bigint,
                                        OUT budget_wait_seconds double precision,
                                        OUT requests_expected bigint,
                                        OUT seconds_left double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'candidate_docs_activity'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp;

CREATE VIEW candidate_docs.activity AS SELECT * FROM candidate_docs.activity();

-- every role may read the view: it shows the role's own backends, and
-- every backend to members of pg_read_all_stats
GRANT SELECT ON candidate_docs.activity TO PUBLIC;

COMMENT ON VIEW candidate_docs.activity IS
  'One row per backend with a candidate_docs scan, upload or delivery running: requests done, queued and in flight, rows, budget wait, estimated time left';
