--
-- privileges: whose user mapping a write uses, and which servers a
-- function that takes a server name may use.  The mock accepts only the
-- key test_checkr_key: a request made with another role's mapping, holding
-- regress_wrong_key, fails with 401.
--
\i sql/include/setup.sql
\setenv CREATED 'import json, sys; d = json.load(sys.stdin); print("documents created:", d["documents_created"], "stories created:", d["stories_created"])'
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_cd_owner;
CREATE ROLE regress_cd_caller;
CREATE USER MAPPING FOR regress_cd_owner SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
CREATE USER MAPPING FOR regress_cd_caller SERVER regress_checkr
  OPTIONS (api_key 'regress_wrong_key');

--
-- through a view, SELECT and INSERT both use the view owner's mapping;
-- directly, or through a security_invoker view, the caller's
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
GRANT SELECT, INSERT ON candidate_documents TO regress_cd_owner, regress_cd_caller;
CREATE VIEW regress_docs_view AS
  SELECT candidate_id, type, filename, content, id FROM candidate_documents;
ALTER VIEW regress_docs_view OWNER TO regress_cd_owner;
GRANT SELECT, INSERT ON regress_docs_view TO regress_cd_caller;
SET ROLE regress_cd_caller;
SELECT count(*) FROM regress_docs_view
 WHERE candidate_id = 'e44aa283528e6fde7d542194';
INSERT INTO regress_docs_view (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'through-view.pdf', '\x255044462d'::bytea)
RETURNING filename, length(id) AS id_length;
-- the caller's own mapping, directly and through a security_invoker view
SELECT count(*) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
SELECT message, detail FROM regress_error($$
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('e44aa283528e6fde7d542194', 'consent', 'direct.pdf', '\x255044462d'::bytea) $$);
RESET ROLE;
ALTER VIEW regress_docs_view SET (security_invoker = true);
SET ROLE regress_cd_caller;
INSERT INTO regress_docs_view (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'invoker.pdf', '\x255044462d'::bytea);  -- ERROR
RESET ROLE;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"

-- a row routed to a foreign partition through a view: the view owner's
-- mapping too
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TABLE regress_parted (candidate_id text, type text, filename text,
  content bytea, id text) PARTITION BY LIST (type);
CREATE FOREIGN TABLE regress_parted_consent PARTITION OF regress_parted
  FOR VALUES IN ('consent') SERVER regress_checkr;
CREATE TABLE regress_parted_local PARTITION OF regress_parted DEFAULT;
ALTER TABLE regress_parted OWNER TO regress_cd_owner;
ALTER FOREIGN TABLE regress_parted_consent OWNER TO regress_cd_owner;
CREATE VIEW regress_parted_view AS SELECT * FROM regress_parted;
ALTER VIEW regress_parted_view OWNER TO regress_cd_owner;
GRANT SELECT, INSERT ON regress_parted_view TO regress_cd_caller;
SET ROLE regress_cd_caller;
INSERT INTO regress_parted_view (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'routed-view.pdf', '\x255044462d'::bytea)
RETURNING filename, length(id) AS id_length;
RESET ROLE;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
DROP VIEW regress_parted_view;
DROP TABLE regress_parted;
DROP VIEW regress_docs_view;
REVOKE ALL ON candidate_documents FROM regress_cd_owner, regress_cd_caller;

--
-- create_candidate_story() needs USAGE on the server, even where a PUBLIC
-- user mapping holds a key
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE ROLE regress_cd_nousage;
CREATE USER MAPPING FOR PUBLIC SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
SET ROLE regress_cd_nousage;
SELECT has_server_privilege('regress_checkr', 'USAGE') AS has_usage;
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_checkr');  -- ERROR
SELECT state FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', server => 'regress_checkr') $$);
RESET ROLE;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
GRANT USAGE ON FOREIGN SERVER regress_checkr TO regress_cd_nousage;
SET ROLE regress_cd_nousage;
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_checkr')->>'object' AS created;
RESET ROLE;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
REVOKE USAGE ON FOREIGN SERVER regress_checkr FROM regress_cd_nousage;
DROP USER MAPPING FOR PUBLIC SERVER regress_checkr;
DROP ROLE regress_cd_nousage;

--
-- ... and a server of candidate_docs: another wrapper's server is refused,
-- whatever options it holds
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE FOREIGN DATA WRAPPER regress_plain;
CREATE SERVER regress_plain_checkr FOREIGN DATA WRAPPER regress_plain
  OPTIONS (api 'checkr', base_url :'checkr_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_plain_checkr
  OPTIONS (api_key 'test_checkr_key');
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_plain_checkr');  -- ERROR
CREATE EXTENSION file_fdw;
CREATE SERVER regress_files FOREIGN DATA WRAPPER file_fdw;
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_files');  -- ERROR
\set VERBOSITY default
SELECT state, message, detail FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', server => 'regress_plain_checkr') $$);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
DROP EXTENSION file_fdw CASCADE;
DROP FOREIGN DATA WRAPPER regress_plain CASCADE;

DROP USER MAPPING FOR regress_cd_owner SERVER regress_checkr;
DROP USER MAPPING FOR regress_cd_caller SERVER regress_checkr;
DROP ROLE regress_cd_owner, regress_cd_caller;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\i sql/include/teardown.sql
