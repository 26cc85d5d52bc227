--
-- The set-up most tests share: the mock's URLs, a clean mock, the extension,
-- a server, user mapping and foreign table for each API.  REQUESTS prints
-- the requests the mock received: count, then method, path and status.
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
