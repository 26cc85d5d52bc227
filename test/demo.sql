-- test/demo.sql -- candidate documents from Checkr and Kombo, queried with SQL
--
-- Run with: psql -X -e -v ON_ERROR_STOP=1 [-v name=value ...] -f test/demo.sql
-- in a database where candidate_docs is installed (`make demo` does it all).
--
-- psql variables (defaults are the mock API's sample data):
--   use_checkr, use_kombo     on/off: run that API's part (on)
--   checkr_url, kombo_url     the servers' base_url; unset: the real API
--   kombo_integration         Kombo integration id
--   checkr_candidate, kombo_candidate
--                             candidate ids to read
--   checkr_candidate2, checkr_candidate3, kombo_candidate2, kombo_candidate3
--                             ids of the other sample employees ('' = none)
--   checkr_key, kombo_key     API keys; unset: taken from the environment
--                             variables CHECKR_API_KEY and KOMBO_API_KEY
--   demo_writes               on/off: run the write part (a candidate story
--                             and an uploaded document); unset: on against
--                             the bundled mock (checkr_url an http:// loopback
--                             URL), else only if the environment variable
--                             DEMO_WRITES is 1 -- writing to a real Checkr
--                             account is opt-in
--   checkr_report             Checkr report id the story is created for; unset:
--                             the environment variable CHECKR_REPORT_ID, or a
--                             sample id against the mock ('' = no story)
-- The keys are never echoed.

\set ON_ERROR_STOP on
\if :{?use_checkr}
\else
\set use_checkr on
\endif
\if :{?use_kombo}
\else
\set use_kombo on
\endif
\if :{?kombo_integration}
\else
\set kombo_integration 'workday:HWUTwvyx2wLoSUHphiWVrp28'
\endif
\if :{?checkr_candidate}
\else
\set checkr_candidate 'e44aa283528e6fde7d542194'
\endif
\if :{?checkr_candidate2}
\else
\set checkr_candidate2 '5f1c2e3a4b5c6d7e8f901234'
\endif
\if :{?checkr_candidate3}
\else
\set checkr_candidate3 ''
\endif
\if :{?kombo_candidate}
\else
\set kombo_candidate 'BTbkvY2w5ou3z3hdwuKcKzDh'
\endif
\if :{?kombo_candidate2}
\else
\set kombo_candidate2 ''
\endif
\if :{?kombo_candidate3}
\else
\set kombo_candidate3 'Hq3vZ8kT2mN7pR4sW9xY6bC1'
\endif
\if :{?checkr_key}
\else
\set checkr_key `printf '%s' "$CHECKR_API_KEY"`
\endif
\if :{?kombo_key}
\else
\set kombo_key `printf '%s' "$KOMBO_API_KEY"`
\endif

\echo
\echo '== The extension: a foreign data wrapper for candidate documents'
CREATE EXTENSION candidate_docs;

\if :use_checkr
\echo
\echo '== Checkr: a server, a user mapping holding the API key, the imported table'
\if :{?checkr_url}
CREATE SERVER checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url :'checkr_url');
\else
CREATE SERVER checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr');
\endif
\set ECHO none
\echo 'CREATE USER MAPPING FOR CURRENT_USER SERVER checkr OPTIONS (api_key ''...'');'
CREATE USER MAPPING FOR CURRENT_USER SERVER checkr OPTIONS (api_key :'checkr_key');
\set ECHO queries
IMPORT FOREIGN SCHEMA checkr FROM SERVER checkr INTO public;
\echo '\\d candidate_documents'
\d candidate_documents

\echo
\echo '== A candidate''s documents: the WHERE clause on candidate_id picks the API call'
SELECT id, type, filename, filesize, content_type, created_at
  FROM candidate_documents
 WHERE candidate_id = :'checkr_candidate'
 ORDER BY created_at, id;

\echo
\echo '== A filter on type is sent to the API (types[])'
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id, type, filename
  FROM candidate_documents
 WHERE candidate_id = :'checkr_candidate' AND type IN ('driver_license', 'consent');

\echo
\echo '== The file itself: content is downloaded only when a query uses it'
SELECT filename, length(content) AS bytes, substr(content, 1, 4) AS first_bytes
  FROM candidate_documents
 WHERE candidate_id = :'checkr_candidate'
 ORDER BY created_at, id;
\endif

\if :use_kombo
\echo
\echo '== Kombo: the same for ATS attachments; the integration id is a server option'
\if :{?kombo_url}
CREATE SERVER kombo FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'kombo', integration_id :'kombo_integration', base_url :'kombo_url');
\else
CREATE SERVER kombo FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'kombo', integration_id :'kombo_integration');
\endif
\set ECHO none
\echo 'CREATE USER MAPPING FOR CURRENT_USER SERVER kombo OPTIONS (api_key ''...'');'
CREATE USER MAPPING FOR CURRENT_USER SERVER kombo OPTIONS (api_key :'kombo_key');
\set ECHO queries
IMPORT FOREIGN SCHEMA kombo FROM SERVER kombo INTO public;

SELECT id, type, file_name, content_type, application_id, remote_updated_at
  FROM candidate_attachments
 WHERE candidate_id = :'kombo_candidate'
 ORDER BY id;
\endif

\echo
\echo '== Local data joined with the remote documents: one API request per employee'
CREATE TABLE hr_employees (
    id                  int PRIMARY KEY,
    name                text NOT NULL,
    checkr_candidate_id text,
    kombo_candidate_id  text
);
INSERT INTO hr_employees VALUES
    (1, 'Frank Doe', NULLIF(:'checkr_candidate', ''),  NULLIF(:'kombo_candidate', '')),
    (2, 'Ada Park',  NULLIF(:'checkr_candidate2', ''), NULLIF(:'kombo_candidate2', '')),
    (3, 'Lee Chen',  NULLIF(:'checkr_candidate3', ''), NULLIF(:'kombo_candidate3', ''));
ANALYZE hr_employees;

\if :use_checkr
SELECT e.name, d.type, d.filename, d.created_at
  FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.checkr_candidate_id
 ORDER BY e.id, d.created_at, d.id;
\endif

\if :use_kombo
SELECT e.name, a.type, a.file_name, a.remote_updated_at
  FROM hr_employees e
  JOIN candidate_attachments a ON a.candidate_id = e.kombo_candidate_id
 ORDER BY e.id, a.file_name;
\endif

\set ECHO none
SELECT :'use_checkr'::boolean AND :'use_kombo'::boolean AS use_both \gset
\set ECHO queries
\if :use_both
\echo
\echo '== Every file of every employee, from both systems, and how the query ran'
SELECT e.name, 'checkr' AS source, d.type, d.filename AS file_name
  FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.checkr_candidate_id
UNION ALL
SELECT e.name, 'kombo', a.type, a.file_name
  FROM hr_employees e
  JOIN candidate_attachments a ON a.candidate_id = e.kombo_candidate_id
 ORDER BY name, source, file_name;

EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF)
SELECT e.name, 'checkr' AS source, d.type, d.filename AS file_name
  FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.checkr_candidate_id
UNION ALL
SELECT e.name, 'kombo', a.type, a.file_name
  FROM hr_employees e
  JOIN candidate_attachments a ON a.candidate_id = e.kombo_candidate_id
 ORDER BY name, source, file_name;
\elif :use_checkr
\echo
\echo '== How the join ran'
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF)
SELECT e.name, d.type, d.filename
  FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.checkr_candidate_id;
\else
\echo
\echo '== How the join ran'
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF)
SELECT e.name, a.type, a.file_name
  FROM hr_employees e
  JOIN candidate_attachments a ON a.candidate_id = e.kombo_candidate_id;
\endif

\if :use_checkr
-- The write part. Against the bundled mock it always runs; against a real
-- Checkr account only when asked for (DEMO_WRITES=1 or -v demo_writes=on),
-- since it creates a story and uploads a document there.
\set ECHO none
\if :{?checkr_url}
\set checkr_target :checkr_url
\else
\set checkr_target ''
\endif
SELECT :'checkr_target' ~* '^http://(127(\.[0-9]+){3}|localhost|\[::1\])(:[0-9]+)?(/|$)'
       AS checkr_is_mock \gset
\if :{?demo_writes}
\elif :checkr_is_mock
\set demo_writes on
\else
\set demo_writes `printf '%s' "${DEMO_WRITES:-0}"`
\endif
\if :{?checkr_report}
\elif :checkr_is_mock
\set checkr_report 'af3393b7d751206c7c67b6e5'
\else
\set checkr_report `printf '%s' "${CHECKR_REPORT_ID:-}"`
\endif
SELECT lower(:'demo_writes') IN ('1', 'on', 'true', 'yes') AS do_writes,
       :'checkr_report' <> '' AS have_report \gset
\set ECHO queries

\if :do_writes
\if :have_report
\echo
\echo '== Writing back: a candidate story, checked before it is sent, then POSTed'
\echo '   (the third argument is the idempotency key: run it again and Checkr replays'
\echo '   the first answer instead of creating a second story)'
SELECT jsonb_pretty(candidate_docs.create_candidate_story(
  :'checkr_report',
  '{"content": "Since my case, I have received the following certifications",
    "documents": [{"filename": "forklift-certificate.pdf",
                   "tempfile": "https://files.example.com/forklift-certificate.pdf",
                   "type": "application/pdf"}]}',
  'candidate-docs-demo-' || :'checkr_report')) AS candidate_story;
\else
\echo
\echo '== Writing back: no candidate story (set CHECKR_REPORT_ID to create one)'
\endif

\echo
\echo '== Uploading a document is an INSERT; the content type is detected from the bytes'
\set ECHO none
\set QUIET on
\echo '(demo_pdf: a one-page PDF of 615 bytes, built in the database)'
CREATE TEMP TABLE demo_pdf AS
SELECT decode('JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2Jq'
  'CjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2Jq'
  'CjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCA2MTIg'
  'NzkyXSAvQ29udGVudHMgNCAwIFIgL1Jlc291cmNlcyA8PCAvRm9udCA8PCAvRjEgNSAwIFIgPj4g'
  'Pj4gPj4KZW5kb2JqCjQgMCBvYmoKPDwgL0xlbmd0aCA3MSA+PgpzdHJlYW0KQlQgL0YxIDE4IFRm'
  'IDcyIDcyMCBUZCAoQ29uc2VudCBmb3JtLCB1cGxvYWRlZCBieSBjYW5kaWRhdGVfZG9jcykgVGog'
  'RVQKZW5kc3RyZWFtCmVuZG9iago1IDAgb2JqCjw8IC9UeXBlIC9Gb250IC9TdWJ0eXBlIC9UeXBl'
  'MSAvQmFzZUZvbnQgL0hlbHZldGljYSA+PgplbmRvYmoKeHJlZgowIDYKMDAwMDAwMDAwMCA2NTUz'
  'NSBmIAowMDAwMDAwMDA5IDAwMDAwIG4gCjAwMDAwMDAwNTggMDAwMDAgbiAKMDAwMDAwMDExNSAw'
  'MDAwMCBuIAowMDAwMDAwMjQxIDAwMDAwIG4gCjAwMDAwMDAzNjIgMDAwMDAgbiAKdHJhaWxlcgo8'
  'PCAvU2l6ZSA2IC9Sb290IDEgMCBSID4+CnN0YXJ0eHJlZgo0MzIKJSVFT0YK', 'base64')
  AS content;
\set QUIET off
\set ECHO queries
INSERT INTO candidate_documents (candidate_id, type, filename, content)
SELECT :'checkr_candidate', 'consent', 'candidate_docs-demo.pdf', content
  FROM demo_pdf
RETURNING id, type, filename, filesize, content_type, created_at;

\echo
\echo '== The new document is now one of the candidate''s documents, bytes and all'
SELECT d.id, d.type, d.filename, d.filesize, d.content_type, d.created_at,
       d.content = p.content AS same_bytes
  FROM candidate_documents d, demo_pdf p
 WHERE d.candidate_id = :'checkr_candidate' AND d.filename = 'candidate_docs-demo.pdf'
 ORDER BY d.created_at, d.id;
\else
\echo
\echo '== Writing back: skipped. It creates a candidate story for CHECKR_REPORT_ID and'
\echo '   uploads a one-page PDF for CHECKR_CANDIDATE_ID in the Checkr account: set'
\echo '   DEMO_WRITES=1 to run it'
\endif
\endif
