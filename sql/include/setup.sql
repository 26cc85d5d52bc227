--
-- The set-up most tests share: the mock's URLs, a clean mock, the extension,
-- a server, user mapping and foreign table for each API, and two helper
-- functions.  REQUESTS prints the requests the mock received: count, then
-- method, path and status.
--
\set mock_port `echo "$MOCK_PORT"`
SELECT 'http://127.0.0.1:' || :'mock_port' || '/checkr/v1' AS checkr_url \gset
SELECT 'http://127.0.0.1:' || :'mock_port' || '/kombo/v1' AS kombo_url \gset
\setenv REQUESTS 'import json, sys; rs = json.load(sys.stdin); print(len(rs), "requests"); [print(" ", r["method"], r["raw_path"], r["status"]) for r in sorted(rs, key=lambda r: (r["path"], r["seq"]))]'
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

CREATE EXTENSION candidate_docs;
CREATE SERVER regress_checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url :'checkr_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
CREATE SERVER regress_kombo FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'kombo', base_url :'kombo_url',
           integration_id 'workday:HWUTwvyx2wLoSUHphiWVrp28');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (api_key 'test_kombo_key');
CREATE FOREIGN TABLE candidate_documents (
  id text, candidate_id text, type text, filename text, filesize bigint,
  content_type text, download_uri text, created_at timestamptz, attrs jsonb,
  content bytea
) SERVER regress_checkr;
CREATE FOREIGN TABLE candidate_attachments (
  id text, candidate_id text, application_id text, integration_id text,
  type text, remote_id text, data_url text, file_name text, content_type text,
  remote_created_at timestamptz, remote_updated_at timestamptz, attrs jsonb,
  content bytea
) SERVER regress_kombo;

-- Run query; if it fails, return the error's SQLSTATE, message, detail, hint
-- and first context line of its own (the mock's port masked), and whether any
-- part of the error shows an API key used by the tests, plain or base64 as
-- in the Authorization header.  NULLs when the query succeeds.
SET regress.mock_port = :'mock_port';
CREATE OR REPLACE FUNCTION regress_error(query text,
  OUT state text, OUT message text, OUT detail text, OUT hint text,
  OUT context text, OUT key_shown boolean)
LANGUAGE plpgsql AS $$
DECLARE
  everything text;
BEGIN
  EXECUTE query;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
    detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT,
    context = PG_EXCEPTION_CONTEXT;
  everything := concat_ws(' ', message, detail, hint, context);
  key_shown := false;
  FOR i IN 1 .. 4 LOOP
    key_shown := key_shown OR position((ARRAY['test_checkr_key', 'test_kombo_key',
      'regress_wrong_key', 'dGVzdF9jaGVja3Jfa2V5'])[i] in everything) > 0;
  END LOOP;
  key_shown := key_shown
    OR position(encode(convert_to('test_checkr_key:', 'UTF8'), 'base64') in everything) > 0
    OR position(encode(convert_to('regress_wrong_key:', 'UTF8'), 'base64') in everything) > 0;
  context := split_part(context, E'\n', 1);
  IF context LIKE 'PL/pgSQL function %' OR context LIKE 'SQL statement %' THEN
    context := NULL;
  END IF;
  message := replace(message, ':' || current_setting('regress.mock_port'), ':PORT');
  detail := replace(detail, ':' || current_setting('regress.mock_port'), ':PORT');
  context := replace(context, ':' || current_setting('regress.mock_port'), ':PORT');
END $$;
-- RFC 4122 version 4 UUIDs, lowercase as generated
CREATE OR REPLACE FUNCTION regress_is_uuid4(s text) RETURNS boolean LANGUAGE sql AS $$
  SELECT s ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
$$;
