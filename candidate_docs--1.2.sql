/* candidate_docs--1.2.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION candidate_docs" to load this file. \quit

-- The extension makes its schema itself: a schema of that name that already
-- exists (and whatever another role put in it) is refused, not adopted.
CREATE SCHEMA candidate_docs;

-- Access to the APIs is governed by user mappings: every role may call the
-- functions, and they act with that role's own API key.
GRANT USAGE ON SCHEMA candidate_docs TO PUBLIC;

-- Every function runs with a fixed search_path.
CREATE FUNCTION candidate_docs.candidate_docs_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION candidate_docs.candidate_docs_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT
SET search_path = pg_catalog, pg_temp;

CREATE FOREIGN DATA WRAPPER candidate_docs
  HANDLER candidate_docs.candidate_docs_fdw_handler
  VALIDATOR candidate_docs.candidate_docs_fdw_validator;

CREATE FUNCTION candidate_docs.create_candidate_story(report_id text,
                                                      story jsonb,
                                                      idempotency_key text DEFAULT NULL,
                                                      server name DEFAULT 'checkr')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'candidate_docs_create_candidate_story'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION candidate_docs.create_candidate_story(text, jsonb, text, name) IS
  'Create a Checkr candidate story for a report from JSON; returns the created story';

CREATE FUNCTION candidate_docs.stats(OUT server name,
                                     OUT requests bigint,
                                     OUT responses_2xx bigint,
                                     OUT responses_404 bigint,
                                     OUT responses_429 bigint,
                                     OUT responses_4xx bigint,
                                     OUT responses_5xx bigint,
                                     OUT responses_other bigint,
                                     OUT network_errors bigint,
                                     OUT retries bigint,
                                     OUT bytes bigint,
                                     OUT budget_waits bigint,
                                     OUT budget_wait_ms double precision,
                                     OUT latency_p50_ms double precision,
                                     OUT latency_p95_ms double precision,
                                     OUT latency_p99_ms double precision,
                                     OUT inflight integer,
                                     OUT shared boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'candidate_docs_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp;

CREATE VIEW candidate_docs.stats AS SELECT * FROM candidate_docs.stats();

CREATE FUNCTION candidate_docs.stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'candidate_docs_stats_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp;

-- every role may read the view (it shows the servers the role may use);
-- resetting the counters is for superusers and whom they grant it to
GRANT SELECT ON candidate_docs.stats TO PUBLIC;
REVOKE ALL ON FUNCTION candidate_docs.stats_reset() FROM PUBLIC;

COMMENT ON VIEW candidate_docs.stats IS
  'Requests, responses, retries, bytes, budget waits and latency per server';
COMMENT ON FUNCTION candidate_docs.stats_reset() IS
  'Zero the counters of candidate_docs.stats for the current database';

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
