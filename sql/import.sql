--
-- import: IMPORT FOREIGN SCHEMA creates the table of the server's api, with
-- the contract's columns; LIMIT TO and EXCEPT; the remote schema name is free.
--
\i sql/include/setup.sql
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

--
-- one table per server, whatever the remote schema is called
--
CREATE SCHEMA regress_import;
IMPORT FOREIGN SCHEMA checkr FROM SERVER regress_checkr INTO regress_import;
IMPORT FOREIGN SCHEMA "any remote name" FROM SERVER regress_kombo INTO regress_import;
\det+ regress_import.*
\d regress_import.candidate_documents
\d regress_import.candidate_attachments
-- nothing is sent while importing
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)), "requests")'
-- the imported tables work
SELECT id, candidate_id, type, filesize, created_at
  FROM regress_import.candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
SELECT id, candidate_id, integration_id, type, remote_created_at
  FROM regress_import.candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY id;
-- importing again: the table exists
IMPORT FOREIGN SCHEMA checkr FROM SERVER regress_checkr INTO regress_import;  -- ERROR
DROP SCHEMA regress_import CASCADE;

--
-- LIMIT TO and EXCEPT
--
CREATE SCHEMA regress_import;
-- the name of the other api's table imports nothing
IMPORT FOREIGN SCHEMA checkr LIMIT TO (candidate_attachments)
  FROM SERVER regress_checkr INTO regress_import;
IMPORT FOREIGN SCHEMA kombo LIMIT TO (candidate_documents, no_such_table)
  FROM SERVER regress_kombo INTO regress_import;
\det regress_import.*
IMPORT FOREIGN SCHEMA checkr EXCEPT (candidate_documents)
  FROM SERVER regress_checkr INTO regress_import;
IMPORT FOREIGN SCHEMA kombo EXCEPT (candidate_attachments)
  FROM SERVER regress_kombo INTO regress_import;
\det regress_import.*
IMPORT FOREIGN SCHEMA checkr LIMIT TO (candidate_documents)
  FROM SERVER regress_checkr INTO regress_import;
IMPORT FOREIGN SCHEMA kombo EXCEPT (candidate_documents)
  FROM SERVER regress_kombo INTO regress_import;
\det regress_import.*
DROP SCHEMA regress_import CASCADE;

--
-- into a schema whose name needs quoting; IMPORT takes no options
--
CREATE SCHEMA "Regress Import";
IMPORT FOREIGN SCHEMA checkr FROM SERVER regress_checkr INTO "Regress Import";
SELECT c.relname, ft.ftoptions,
       (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0) AS columns
  FROM pg_class c JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
 WHERE c.relnamespace = '"Regress Import"'::regnamespace;
IMPORT FOREIGN SCHEMA kombo FROM SERVER regress_kombo INTO "Regress Import"
  OPTIONS (import_default 'true');  -- ERROR
DROP SCHEMA "Regress Import" CASCADE;
-- importing needs no user mapping: nothing is sent
CREATE SERVER regress_nomapping FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'kombo');
CREATE SCHEMA regress_import;
IMPORT FOREIGN SCHEMA x FROM SERVER regress_nomapping INTO regress_import;
\det regress_import.*
DROP SCHEMA regress_import CASCADE;
DROP SERVER regress_nomapping;

\i sql/include/teardown.sql
