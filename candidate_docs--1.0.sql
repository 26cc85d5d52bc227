/* candidate_docs--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION candidate_docs" to load this file. \quit

CREATE FUNCTION candidate_docs_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION candidate_docs_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER candidate_docs
  HANDLER candidate_docs_fdw_handler
  VALIDATOR candidate_docs_fdw_validator;

CREATE FUNCTION create_candidate_story(report_id text,
                                       story jsonb,
                                       idempotency_key text DEFAULT NULL,
                                       server name DEFAULT 'checkr')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'candidate_docs_create_candidate_story'
LANGUAGE C VOLATILE;

-- Access to the APIs is governed by user mappings: every role may call the
-- function, and it acts with that role's own API key.
GRANT USAGE ON SCHEMA candidate_docs TO PUBLIC;

COMMENT ON FUNCTION create_candidate_story(text, jsonb, text, name) IS
  'Create a Checkr candidate story for a report from JSON; returns the created story';

