--
-- options: every option of the contract's table, where it may be set, its
-- values and ranges; unknown options; api_key only on user mappings.
--
\set mock_port `echo "$MOCK_PORT"`
SELECT 'http://127.0.0.1:' || :'mock_port' || '/checkr/v1' AS checkr_url \gset
SELECT 'http://127.0.0.1:' || :'mock_port' || '/kombo/v1' AS kombo_url \gset
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

-- CREATE EXTENSION makes the schema itself: one that exists already, with
-- whatever another role put in it, is refused and left alone
CREATE ROLE regress_squatter;
GRANT CREATE ON DATABASE :"DBNAME" TO regress_squatter;
SET ROLE regress_squatter;
CREATE SCHEMA candidate_docs;
CREATE FUNCTION candidate_docs.create_candidate_story(text, jsonb,
    text DEFAULT NULL, name DEFAULT 'checkr')
  RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"owned": true}'::jsonb $$;
RESET ROLE;
-- terse: 18 adds the script's line as CONTEXT
\set VERBOSITY terse
CREATE EXTENSION candidate_docs;  -- ERROR
\set VERBOSITY default
SELECT count(*) FROM pg_extension WHERE extname = 'candidate_docs';
DROP SCHEMA candidate_docs CASCADE;
REVOKE CREATE ON DATABASE :"DBNAME" FROM regress_squatter;
DROP ROLE regress_squatter;

CREATE EXTENSION candidate_docs;
SELECT e.extname, e.extversion, e.extnamespace::regnamespace AS schema,
       obj_description(e.oid, 'pg_extension') AS description
  FROM pg_extension e WHERE e.extname = 'candidate_docs';
\dew candidate_docs
SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'candidate_docs' ORDER BY 1;
-- the schema is the extension's own
SELECT n.nspname, d.deptype FROM pg_namespace n
  JOIN pg_depend d ON d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
  JOIN pg_extension e ON e.oid = d.refobjid
 WHERE e.extname = 'candidate_docs';

-- the wrapper itself takes no options
ALTER FOREIGN DATA WRAPPER candidate_docs OPTIONS (ADD page_size '10');  -- ERROR

--
-- api (server, required)
--
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'checkr');
DROP SERVER regress_s;
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'kombo');
DROP SERVER regress_s;
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'greenhouse');  -- ERROR
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'Checkr');  -- ERROR
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api '');  -- ERROR
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', api 'kombo');  -- ERROR
-- api is required: a server without it is refused (the message may vary,
-- so only the outcome is shown)
DO $$
BEGIN
  CREATE SERVER regress_noapi FOREIGN DATA WRAPPER candidate_docs
    OPTIONS (timeout_ms '1000');
  RAISE NOTICE 'server without api: accepted';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'server without api: refused (SQLSTATE class %)', left(SQLSTATE, 2);
END $$;
DROP SERVER IF EXISTS regress_noapi;
-- nor can api be dropped from a server
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'checkr');
DO $$
BEGIN
  ALTER SERVER regress_s OPTIONS (DROP api);
  RAISE NOTICE 'dropping api: accepted';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'dropping api: refused (SQLSTATE class %)', left(SQLSTATE, 2);
END $$;
DROP SERVER regress_s;
-- api is a server option only
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'checkr');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s OPTIONS (api 'checkr');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s OPTIONS (api 'checkr');  -- ERROR
DROP SERVER regress_s;

--
-- unknown options: the hint lists the valid ones of the object
--
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', per_page '10');  -- ERROR
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'checkr');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s OPTIONS (password 'x');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'k', page_size '10');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s OPTIONS (table_name 'x');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text OPTIONS (field 'x')) SERVER regress_s;  -- ERROR
-- column_name is a column option, resource a table option
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s OPTIONS (column_name 'id');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text OPTIONS (resource 'candidate_documents'))
  SERVER regress_s;  -- ERROR
ALTER SERVER regress_s OPTIONS (ADD resource 'candidate_documents');  -- ERROR

--
-- api_key: user mapping only, never on the server, table or column
--
ALTER SERVER regress_s OPTIONS (ADD api_key 'test_checkr_key');  -- ERROR
CREATE SERVER regress_s2 FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', api_key 'test_checkr_key');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s
  OPTIONS (api_key 'test_checkr_key');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text OPTIONS (api_key 'test_checkr_key'))
  SERVER regress_s;  -- ERROR
ALTER FOREIGN DATA WRAPPER candidate_docs OPTIONS (ADD api_key 'test_checkr_key');  -- ERROR
-- none of the refused keys was stored anywhere
SELECT count(*) AS stored_keys FROM (
  SELECT srvoptions AS o FROM pg_foreign_server
  UNION ALL SELECT ftoptions FROM pg_foreign_table
  UNION ALL SELECT attfdwoptions FROM pg_attribute
  UNION ALL SELECT fdwoptions FROM pg_foreign_data_wrapper) s
 WHERE array_to_string(o, ',') LIKE '%api_key%';
-- on a user mapping: not empty, no line breaks (it is a header value)
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s OPTIONS (api_key '');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key E'test_checkr_key\r\nX-Injected: 1');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key E'test\nkey');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'test_checkr_key', api_key 'other');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s OPTIONS (api_key 'test_checkr_key');
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_s OPTIONS (SET api_key E'a\rb');  -- ERROR
DROP USER MAPPING FOR CURRENT_USER SERVER regress_s;
DROP SERVER regress_s;

--
-- base_url: https://, or plain http:// to a loopback host only
--
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url 'https://api.checkr.com/v1');
ALTER SERVER regress_s OPTIONS (SET base_url 'https://api.checkr-staging.com/v1/');
ALTER SERVER regress_s OPTIONS (SET base_url 'https://api.kombo.dev:8443/v1');
ALTER SERVER regress_s OPTIONS (SET base_url 'http://127.0.0.1:8080/v1');
ALTER SERVER regress_s OPTIONS (SET base_url 'http://127.1.2.3/v1');
ALTER SERVER regress_s OPTIONS (SET base_url 'http://localhost:8080/v1');
ALTER SERVER regress_s OPTIONS (SET base_url 'http://[::1]:8080/v1');
ALTER SERVER regress_s OPTIONS (SET base_url :'checkr_url');
-- refused, with the reason in DETAIL
ALTER SERVER regress_s OPTIONS (SET base_url 'http://api.checkr.com/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'http://10.0.0.1/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'http://128.0.0.1/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'http://127.0.0.1.example.com/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'http://localhost.example.com/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'ftp://api.checkr.com/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'api.checkr.com/v1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url '');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'https://api.checkr.com/v1?x=1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'https://api.checkr.com/v1#top');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET base_url 'https://api.checkr .com/v1');  -- ERROR
-- a URL with credentials is refused without printing them
ALTER SERVER regress_s OPTIONS (SET base_url 'https://test_checkr_key:@api.checkr.com/v1');  -- ERROR
-- the refused values did not replace the good one
SELECT srvoptions = ARRAY['api=checkr', 'base_url=' || :'checkr_url'] AS unchanged
  FROM pg_foreign_server WHERE srvname = 'regress_s';
DROP SERVER regress_s;

--
-- integration_id (server and user mapping): a header value
--
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'kombo', integration_id 'workday:HWUTwvyx2wLoSUHphiWVrp28');
ALTER SERVER regress_s OPTIONS (SET integration_id E'workday:x\r\nX-Injected: 1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET integration_id E'workday:x\n');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET integration_id E'workday:\rx');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET integration_id '');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'test_kombo_key', integration_id E'greenhouse:x\r\nX-Injected: 1');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'test_kombo_key', integration_id 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ');
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s
  OPTIONS (integration_id 'workday:HWUTwvyx2wLoSUHphiWVrp28');  -- ERROR
DROP USER MAPPING FOR CURRENT_USER SERVER regress_s;
DROP SERVER regress_s;

--
-- integer options: strict decimal integers within their ranges
--
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', timeout_ms '1', max_retries '0', max_concurrency '1',
           page_size '1', max_download_bytes '1');
ALTER SERVER regress_s OPTIONS (SET timeout_ms '3600000', SET max_retries '100',
  SET max_concurrency '64', SET page_size '100', SET max_download_bytes '1073741823');
ALTER SERVER regress_s OPTIONS (SET timeout_ms '0');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET timeout_ms '3600001');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET timeout_ms '30s');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_retries '-1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_retries '101');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_concurrency '0');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_concurrency '65');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET page_size '0');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET page_size '101');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET page_size 'ten');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET page_size ' 10');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET page_size '10.0');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET page_size '');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_download_bytes '0');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_download_bytes '1073741824');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_download_bytes '99999999999999999999');  -- ERROR
-- the shared budget: 0 means none
ALTER SERVER regress_s OPTIONS (ADD requests_per_minute '0', ADD max_inflight '0');
ALTER SERVER regress_s OPTIONS (SET requests_per_minute '1000000', SET max_inflight '10000');
ALTER SERVER regress_s OPTIONS (SET requests_per_minute '-1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET requests_per_minute '1000001');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET requests_per_minute '1200/min');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_inflight '-1');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET max_inflight '10001');  -- ERROR
-- integer options belong to the server only
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'k', timeout_ms '10');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s OPTIONS (max_retries '1');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'k', max_inflight '1');  -- ERROR
SELECT unnest(srvoptions) AS option FROM pg_foreign_server WHERE srvname = 'regress_s';
DROP SERVER regress_s;

--
-- ssl_ca_file (server, superusers only): an absolute path; a server that
-- has it is altered by superusers only (test/t/tls.t uses it)
--
CREATE SERVER regress_s FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', ssl_ca_file '/etc/ssl/certs/ca-certificates.crt');
ALTER SERVER regress_s OPTIONS (SET ssl_ca_file '/srv/tls/proxy-ca.pem');
ALTER SERVER regress_s OPTIONS (SET ssl_ca_file 'proxy-ca.pem');  -- ERROR
ALTER SERVER regress_s OPTIONS (SET ssl_ca_file '');  -- ERROR
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_s
  OPTIONS (api_key 'k', ssl_ca_file '/srv/tls/proxy-ca.pem');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_s
  OPTIONS (ssl_ca_file '/srv/tls/proxy-ca.pem');  -- ERROR
-- a role that may create servers, but is no superuser
CREATE ROLE regress_server_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER candidate_docs TO regress_server_owner;
ALTER SERVER regress_s OWNER TO regress_server_owner;
SET ROLE regress_server_owner;
CREATE SERVER regress_own FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', ssl_ca_file '/tmp/my-ca.pem');  -- ERROR
CREATE SERVER regress_own FOREIGN DATA WRAPPER candidate_docs OPTIONS (api 'checkr');
ALTER SERVER regress_own OPTIONS (ADD ssl_ca_file '/tmp/my-ca.pem');  -- ERROR
ALTER SERVER regress_own OPTIONS (ADD timeout_ms '1000');
-- its own server with a superuser's ssl_ca_file: no change but by a superuser
ALTER SERVER regress_s OPTIONS (SET ssl_ca_file '/tmp/my-ca.pem');  -- ERROR
ALTER SERVER regress_s OPTIONS (ADD timeout_ms '1000');  -- ERROR
ALTER SERVER regress_s OPTIONS (DROP ssl_ca_file);
RESET ROLE;
SELECT srvname, srvoptions FROM pg_foreign_server
 WHERE srvname IN ('regress_s', 'regress_own') ORDER BY 1;
DROP SERVER regress_s, regress_own;
REVOKE USAGE ON FOREIGN DATA WRAPPER candidate_docs FROM regress_server_owner;
DROP ROLE regress_server_owner;

--
-- resource (table) and column_name (column)
--
CREATE SERVER regress_checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url :'checkr_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_checkr
  OPTIONS (resource 'candidate_stories');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text) SERVER regress_checkr
  OPTIONS (resource '');  -- ERROR
CREATE FOREIGN TABLE regress_t (id text OPTIONS (column_name '')) SERVER regress_checkr;  -- ERROR
-- resource defaults to the one of the server's api
CREATE FOREIGN TABLE regress_docs (
  doc_id text OPTIONS (column_name 'id'),
  cand text OPTIONS (column_name 'candidate_id'),
  name text OPTIONS (column_name 'filename')
) SERVER regress_checkr;
SELECT doc_id, cand, name FROM regress_docs
 WHERE cand = 'e44aa283528e6fde7d542194' ORDER BY doc_id;
ALTER FOREIGN TABLE regress_docs OPTIONS (ADD resource 'candidate_documents');
ALTER FOREIGN TABLE regress_docs ALTER COLUMN name OPTIONS (SET column_name 'type');
SELECT doc_id, name FROM regress_docs
 WHERE cand = 'e44aa283528e6fde7d542194' ORDER BY doc_id;
\d regress_docs
-- a resource the server's api does not serve fails when queried
CREATE FOREIGN TABLE regress_wrong (id text, candidate_id text) SERVER regress_checkr
  OPTIONS (resource 'candidate_attachments');
SELECT * FROM regress_wrong WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
DROP FOREIGN TABLE regress_wrong;

--
-- the user mapping must hold api_key: the query fails, not CREATE
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE ROLE regress_cd_nokey;
GRANT SELECT ON regress_docs TO regress_cd_nokey;
CREATE SERVER regress_kombo FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'kombo', base_url :'kombo_url');
CREATE USER MAPPING FOR regress_cd_nokey SERVER regress_checkr;
CREATE USER MAPPING FOR regress_cd_nokey SERVER regress_kombo
  OPTIONS (integration_id 'workday:HWUTwvyx2wLoSUHphiWVrp28');
CREATE FOREIGN TABLE regress_atts (id text, candidate_id text) SERVER regress_kombo;
GRANT SELECT ON regress_atts TO regress_cd_nokey;
SET ROLE regress_cd_nokey;
SELECT doc_id FROM regress_docs WHERE cand = 'e44aa283528e6fde7d542194';  -- ERROR
SELECT id FROM regress_atts WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
RESET ROLE;
-- nothing was sent for these
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)), "requests")'

DROP FOREIGN TABLE regress_atts;
DROP USER MAPPING FOR regress_cd_nokey SERVER regress_kombo;
DROP USER MAPPING FOR regress_cd_nokey SERVER regress_checkr;
DROP SERVER regress_kombo;
REVOKE ALL ON regress_docs FROM regress_cd_nokey;
DROP ROLE regress_cd_nokey;
DROP FOREIGN TABLE regress_docs;

-- IMPORT FOREIGN SCHEMA gives pg_catalog's types, whatever the importer's
-- search_path puts first
CREATE SCHEMA regress_lookalike;
CREATE DOMAIN regress_lookalike.text AS int;
CREATE DOMAIN regress_lookalike.jsonb AS int;
CREATE DOMAIN regress_lookalike.timestamptz AS int;
CREATE SCHEMA regress_import;
SET search_path = regress_lookalike, pg_catalog;
IMPORT FOREIGN SCHEMA checkr FROM SERVER regress_checkr INTO regress_import;
RESET search_path;
SELECT attname, atttypid::regtype AS type FROM pg_attribute
 WHERE attrelid = 'regress_import.candidate_documents'::regclass AND attnum > 0
 ORDER BY attnum;
DROP SCHEMA regress_import CASCADE;
DROP SCHEMA regress_lookalike CASCADE;

DROP USER MAPPING FOR CURRENT_USER SERVER regress_checkr;
DROP SERVER regress_checkr;
DROP EXTENSION candidate_docs;
