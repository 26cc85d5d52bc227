--
-- connections: kept alive and reused across requests and scans of the same
-- server and user mapping; dropped when either changes.
--
\set mock_port `echo "$MOCK_PORT"`
SELECT 'http://127.0.0.1:' || :'mock_port' || '/checkr/v1' AS checkr_url \gset
-- how many distinct client connections the mock saw since the last reset
\setenv CONNECTIONS 'import json, sys; rs = json.load(sys.stdin); print(len(rs), "requests on", len({r["client_port"] for r in rs}), "connection(s)")'
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

CREATE EXTENSION candidate_docs;
CREATE SERVER regress_checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url :'checkr_url', max_concurrency '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
IMPORT FOREIGN SCHEMA checkr FROM SERVER regress_checkr INTO public;

-- three scans, several requests each: one connection
SELECT count(*) FROM candidate_documents WHERE candidate_id IN ('conn-1', 'conn-2', 'conn-3');
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250';
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-4';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$CONNECTIONS"

-- a changed server drops it
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-1';
ALTER SERVER regress_checkr OPTIONS (ADD timeout_ms '20000');
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-1';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$CONNECTIONS"

-- so does a changed user mapping
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-1';
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (SET api_key 'test_checkr_key');
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-1';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$CONNECTIONS"

-- and an unchanged one keeps it across transactions
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
BEGIN;
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-1';
COMMIT;
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'conn-2';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$CONNECTIONS"

DROP EXTENSION candidate_docs CASCADE;
