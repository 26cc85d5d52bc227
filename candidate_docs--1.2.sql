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
                                     OUT shared boolean,
                                     OUT deliveries bigint,
                                     OUT delivery_failures bigint)
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
  'Requests, responses, retries, bytes, budget waits, latency and deliveries per server';
COMMENT ON FUNCTION candidate_docs.stats_reset() IS
  'Zero the counters of candidate_docs.stats for the current database';

-- The outbox: writes queued under delivery 'after_commit', sent after
-- COMMIT by candidate_docs.deliver() (and the background deliverers).  It
-- holds document bytes: no ordinary role reads it; each role sees its own
-- rows through candidate_docs.deliveries.
CREATE TABLE candidate_docs.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queued_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    queued_by       oid NOT NULL,           -- the role whose identity sends it
    queued_by_name  name NOT NULL,
    server          oid NOT NULL,
    server_name     name NOT NULL,
    relid           oid,                    -- foreign table of a document
    kind            text NOT NULL CHECK (kind IN ('document', 'story')),
    target          text NOT NULL,          -- candidate id or report id
    idempotency_key text NOT NULL,
    request         jsonb,                  -- document fields, or the story
    content         bytea,                  -- document bytes
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at    timestamptz,
    last_error      text,
    result          jsonb
);
CREATE INDEX outbox_due ON candidate_docs.outbox (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX outbox_queued_at ON candidate_docs.outbox (queued_at);
REVOKE ALL ON candidate_docs.outbox FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('candidate_docs.outbox', '');

-- 'sending': a deliverer holds the row's advisory lock (candidate_docs.deliver()).
CREATE VIEW candidate_docs.deliveries WITH (security_barrier) AS
SELECT o.id, o.queued_at, o.queued_by_name AS queued_by,
       COALESCE(s.srvname, o.server_name) AS server, o.kind, o.target,
       CASE WHEN o.status = 'pending' AND EXISTS (
                   SELECT 1 FROM pg_catalog.pg_locks l
                    WHERE l.locktype = 'advisory' AND l.granted
                      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                         WHERE d.datname = pg_catalog.current_database())
                      AND l.classid = 1128550210::oid
                      AND l.objid = (o.id % 4294967296)::oid
                      AND l.objsubid = 2)
            THEN 'sending' ELSE o.status END AS status,
       o.attempts, o.next_attempt_at, o.delivered_at, o.last_error, o.result
  FROM candidate_docs.outbox o
  LEFT JOIN pg_catalog.pg_foreign_server s ON s.oid = o.server
 WHERE o.queued_by = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
    OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
GRANT SELECT ON candidate_docs.deliveries TO PUBLIC;
COMMENT ON VIEW candidate_docs.deliveries IS
  'Writes queued under delivery after_commit: one row per write; a role sees its own';

CREATE FUNCTION candidate_docs.deliver(OUT delivered bigint, OUT failed bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'candidate_docs_deliver'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION candidate_docs.deliver() IS
  'Send due queued writes (a bounded batch); returns how many were delivered and failed';

CREATE FUNCTION candidate_docs.await_delivery(id bigint, timeout interval DEFAULT '30 s')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'candidate_docs_await_delivery'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION candidate_docs.await_delivery(bigint, interval) IS
  'Wait for a queued write; returns what the API created, or raises its error';

CREATE FUNCTION candidate_docs.retry_delivery(id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'candidate_docs_retry_delivery'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION candidate_docs.retry_delivery(bigint) IS
  'Queue a failed write again, with the same idempotency key';

CREATE FUNCTION candidate_docs.cancel_delivery(id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'candidate_docs_cancel_delivery'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION candidate_docs.cancel_delivery(bigint) IS
  'Cancel a queued write that is not being sent and not yet delivered';

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
