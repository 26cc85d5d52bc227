--
-- system_columns: tableoid, ctid, xmin, cmin, xmax, cmax of foreign rows; a
-- foreign partition of a partitioned table; a foreign child of an
-- inheritance parent, also with FOR UPDATE / FOR SHARE (rows are read as by
-- a plain SELECT: the API has nothing to lock).
--
\i sql/include/setup.sql

-- tableoid is the foreign table; the others say no location, transaction
-- or command, as postgres_fdw's rows do
SELECT tableoid::regclass, id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
SELECT id, ctid, xmin, cmin, xmax, cmax FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
-- in conditions, with and without content (which puts them before the
-- download)
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND tableoid = 'candidate_documents'::regclass AND xmin::text = '0'
   AND cmin::text = '0' AND ctid = '(4294967295,0)'
 ORDER BY id;
SELECT id, length(content) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND tableoid = 'candidate_documents'::regclass AND xmax::text = '0'
   AND filesize < 2000;
SELECT tableoid::regclass, count(*) FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' GROUP BY 1;

--
-- a foreign partition of a partitioned table, read through the parent
--
CREATE TABLE regress_docs (id text, candidate_id text, type text, filename text)
  PARTITION BY LIST (type);
CREATE FOREIGN TABLE regress_docs_checkr PARTITION OF regress_docs
  FOR VALUES IN ('driver_license', 'consent', 'ssn_card', 'passport')
  SERVER regress_checkr;
CREATE TABLE regress_docs_local PARTITION OF regress_docs DEFAULT;
INSERT INTO regress_docs_local
  VALUES ('l1', 'e44aa283528e6fde7d542194', 'reference', 'letter.pdf');
SELECT tableoid::regclass, * FROM regress_docs
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
SELECT id, type FROM regress_docs
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'consent';
SELECT tableoid::regclass, id FROM regress_docs
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id FOR UPDATE;

--
-- a foreign child of an inheritance parent
--
CREATE TABLE regress_people_docs (id text, candidate_id text, type text);
CREATE FOREIGN TABLE regress_people_docs_checkr () INHERITS (regress_people_docs)
  SERVER regress_checkr;
INSERT INTO regress_people_docs VALUES ('p1', 'e44aa283528e6fde7d542194', 'note');
SELECT tableoid::regclass, * FROM regress_people_docs
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
SELECT tableoid::regclass, id FROM regress_people_docs
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id FOR UPDATE;
SELECT tableoid::regclass, id FROM regress_people_docs
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id FOR SHARE;
-- FOR UPDATE of the foreign table itself, and of another table in a join
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id FOR UPDATE;
SELECT p.id, d.id FROM ONLY regress_people_docs p
  JOIN candidate_documents d ON d.candidate_id = p.candidate_id
 WHERE p.id = 'p1' ORDER BY 2 FOR UPDATE OF p;
-- UPDATE of a local table from the foreign one
UPDATE regress_docs_local l SET filename = d.filename
  FROM candidate_documents d
 WHERE d.candidate_id = l.candidate_id AND d.type = 'consent'
RETURNING l.id, l.filename, d.tableoid::regclass;

DROP TABLE regress_docs, regress_people_docs CASCADE;
\i sql/include/teardown.sql
