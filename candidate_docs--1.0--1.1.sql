/* candidate_docs--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION candidate_docs UPDATE TO '1.1'" to load this file. \quit

CREATE FUNCTION stats(OUT server name,
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
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW stats AS SELECT * FROM stats();

CREATE FUNCTION stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'candidate_docs_stats_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- every role may read the view (it shows the servers the role may use);
-- resetting the counters is for superusers and whom they grant it to
GRANT SELECT ON stats TO PUBLIC;
REVOKE ALL ON FUNCTION stats_reset() FROM PUBLIC;

COMMENT ON VIEW stats IS
  'Requests, responses, retries, bytes, budget waits and latency per server';
COMMENT ON FUNCTION stats_reset() IS
  'Zero the counters of candidate_docs.stats for the current database';
