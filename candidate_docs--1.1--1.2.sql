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
