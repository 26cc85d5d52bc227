--
-- uploads: INSERT INTO candidate_documents is one multipart POST per row
-- (fields "type" and "file"); the bytes arrive unchanged; the content type
-- is detected from the bytes; what cannot be uploaded is refused before
-- anything is sent; RETURNING gives the created document; every POST has
-- its own Idempotency-Key, kept across retries.
--
\i sql/include/setup.sql
-- the mock's creation counter
\setenv CREATED 'import json, sys; print("documents created:", json.load(sys.stdin)["documents_created"])'
-- error contexts hold the mock's port: shown, masked, by regress_error below
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- The POSTs in a request log (the mock's /_mock/requests, as jsonb), oldest
-- first: path, status, Idempotency-Key, the multipart "type" field and the
-- file part.
CREATE FUNCTION regress_posts(log jsonb,
  OUT seq int, OUT path text, OUT status int, OUT idem_key text,
  OUT type_field text, OUT nfiles int, OUT part_name text, OUT filename text,
  OUT content_type text, OUT len bigint, OUT sha256 text)
RETURNS SETOF record LANGUAGE sql AS $$
  SELECT (r->>'seq')::int, r->>'path', (r->>'status')::int,
         r->'headers'->>'idempotency-key',
         r->'multipart'->'fields'->>'type',
         jsonb_array_length(r->'multipart'->'files'),
         f->>'name', f->>'filename', f->>'content_type',
         (f->>'len')::bigint, f->>'sha256'
    FROM jsonb_array_elements(log) AS r
    LEFT JOIN LATERAL jsonb_array_elements(r->'multipart'->'files') AS f ON true
   WHERE r->>'method' = 'POST'
   ORDER BY 1
$$;

--
-- the bytes arrive byte for byte: 1 B, 1 MB and 20 MB. Every byte value
-- occurs (CR, LF, "-" and NUL included, which a multipart encoder must not
-- disturb); the 1 B file gives its content type, the others are detected
-- as PDF from "%PDF-". (0 B is refused: below.)
--
CREATE TEMP TABLE regress_files (filename text, content bytea, content_type text);
INSERT INTO regress_files
SELECT f.filename,
       f.magic || decode(repeat(b.hex, f.blocks), 'hex') || f.tail,
       f.content_type
  FROM (SELECT string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i) AS hex
          FROM generate_series(0, 255) AS i) AS b,
       (VALUES ('one.png', '\x89'::bytea, 0, ''::bytea, 'image/png'),
               ('one-mb.pdf', '\x255044462d'::bytea, 4096, '\x0d0a2d2d'::bytea, NULL),
               ('twenty-mb.pdf', '\x255044462d'::bytea, 81920, '\x2525454f460a'::bytea, NULL))
         AS f(filename, magic, blocks, tail, content_type);
SELECT filename, length(content) AS bytes, substring(content FOR 5) AS head,
       content_type
  FROM regress_files ORDER BY length(content);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
SELECT 'e44aa283528e6fde7d542194', 'consent', filename, content, content_type
  FROM regress_files ORDER BY length(content)
RETURNING filename, filesize, content_type, type, candidate_id;
\set log `curl -s "$MOCK_URL/_mock/requests"`
-- what the mock received, compared with the table: all true
SELECT p.filename, p.path, p.status, p.type_field, p.nfiles, p.part_name,
       p.content_type, p.len,
       p.len = length(f.content) AS same_length,
       p.sha256 = encode(sha256(f.content), 'hex') AS same_sha256
  FROM regress_posts(:'log') AS p
  LEFT JOIN regress_files AS f USING (filename)
 ORDER BY p.seq;
-- and the mock serves back what it received
SELECT d.filename, length(d.content) AS bytes, d.content = f.content AS same_bytes
  FROM candidate_documents AS d JOIN regress_files AS f USING (filename)
 WHERE d.candidate_id = 'e44aa283528e6fde7d542194'
 ORDER BY length(d.content);
DROP TABLE regress_files;

--
-- content_type detected from the magic bytes
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TEMP TABLE regress_magic (filename text, content bytea);
INSERT INTO regress_magic VALUES
  ('doc.pdf',   '\x255044462d312e370a'::bytea),                     -- %PDF-1.7
  ('img.png',   '\x89504e470d0a1a0a0000000d49484452'::bytea),       -- \x89PNG\r\n\x1a\n
  ('img.jpg',   '\xffd8ffe000104a464946'::bytea),                   -- JFIF
  ('img87.gif', '\x474946383761010001'::bytea),                     -- GIF87a
  ('img89.gif', '\x474946383961010001'::bytea),                     -- GIF89a
  ('img.bmp',   '\x424d3a000000000000003600000028000000'::bytea),   -- BM + header
  ('le.tiff',   '\x49492a0008000000'::bytea),                       -- II*\0
  ('be.tiff',   '\x4d4d002a00000008'::bytea),                       -- MM\0*
  ('img.heic',  '\x0000001866747970686569630000000068656963'::bytea); -- ....ftypheic
INSERT INTO candidate_documents (candidate_id, type, filename, content)
SELECT '5f1c2e3a4b5c6d7e8f901234', 'passport', filename, content
  FROM regress_magic ORDER BY filename
RETURNING filename, content_type;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT p.filename, p.content_type, p.status,
       p.sha256 = encode(sha256(m.content), 'hex') AS same_sha256
  FROM regress_posts(:'log') AS p
  LEFT JOIN regress_magic AS m USING (filename)
 ORDER BY p.seq;
-- a given content_type is used as given, not replaced by the detected one
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
VALUES ('5f1c2e3a4b5c6d7e8f901234', 'passport', 'given.jpg',
        '\x255044462d312e370a'::bytea, 'image/jpg')
RETURNING filename, content_type;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, sys; [print(f["filename"], f["content_type"]) for r in json.load(sys.stdin) for f in r.get("multipart", {}).get("files", []) if f["filename"] == "given.jpg"]'
DROP TABLE regress_magic;

--
-- refused before anything is sent
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- a content type outside Checkr's list, given or detected from nothing
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'notes.txt',
        convert_to('plain text', 'UTF8'), 'text/plain');  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'cv.docx',
        '\x504b0304'::bytea,
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document');  -- ERROR
-- undetectable bytes and no content_type: plain text, a ZIP, an MP4
-- (ftyp, but not a HEIC brand), nothing at all
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'notes.txt',
        convert_to('plain text', 'UTF8'));  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'cv.zip', '\x504b0304'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'clip.mp4',
        '\x00000018667479706d7034320000000069736f6d'::bytea);  -- ERROR
-- empty content, with or without its type, however the row comes: a
-- 0-byte file is no document
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'empty.pdf', ''::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'empty.pdf', ''::bytea,
        'application/pdf');  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
SELECT 'e44aa283528e6fde7d542194', 'consent', 'empty.pdf', decode('', 'hex'),
       'application/pdf';  -- ERROR
COPY candidate_documents (candidate_id, type, filename, content, content_type) FROM STDIN;  -- ERROR
e44aa283528e6fde7d542194	consent	empty.pdf		application/pdf
\.
-- each required column missing from the column list ...
INSERT INTO candidate_documents (type, filename, content)
VALUES ('consent', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf');  -- ERROR
-- ... or NULL
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES (NULL, 'consent', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', NULL, 'a.pdf', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', NULL, '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', NULL);  -- ERROR
-- ... or not a column of the table at all
CREATE FOREIGN TABLE regress_notype (candidate_id text, filename text, content bytea)
  SERVER regress_checkr;
INSERT INTO regress_notype
VALUES ('e44aa283528e6fde7d542194', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
DROP FOREIGN TABLE regress_notype;
-- Kombo takes no uploads; UPDATE and DELETE are refused
INSERT INTO candidate_attachments (candidate_id, type, file_name, content)
VALUES ('BTbkvY2w5ou3z3hdwuKcKzDh', 'CV', 'cv.pdf', '\x255044462d'::bytea);  -- ERROR
COPY candidate_attachments (candidate_id, type) FROM STDIN;  -- ERROR
BTbkvY2w5ou3z3hdwuKcKzDh	CV
\.
UPDATE candidate_documents SET type = 'consent'
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
DELETE FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
DELETE FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND id = 'd0000000000000000000aa01';  -- ERROR
UPDATE candidate_attachments SET type = 'CV'
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
-- none of the above sent a request
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- RETURNING * and RETURNING some columns: the created document's fields
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TEMP TABLE regress_created AS
WITH ins AS (
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('5f1c2e3a4b5c6d7e8f901234', 'driver_license', 'licence.jpg',
          '\xffd8ffe000104a464946000101'::bytea)
  RETURNING *
)
SELECT *, now() AS inserted_at FROM ins;
\x on
SELECT id ~ '^[0-9a-f]{24}$' AS id_is_checkr_id, candidate_id, type, filename,
       filesize, content_type,
       replace(replace(download_uri, :'mock_port', 'PORT'), id, 'ID') AS download_uri,
       created_at BETWEEN date_trunc('second', inserted_at) - interval '1 minute'
                      AND inserted_at + interval '1 minute' AS created_now,
       attrs - 'id' - 'created_at' - 'download_uri' AS attrs,
       attrs->>'id' = id AS attrs_id, content
  FROM regress_created;
\x off
-- the document is now in the candidate's listing, as RETURNING said
SELECT d.id = c.id AS same_id, d.type, d.filename, d.filesize, d.content_type,
       d.created_at = c.created_at AS same_created_at
  FROM candidate_documents AS d JOIN regress_created AS c USING (candidate_id, id)
 WHERE d.candidate_id = '5f1c2e3a4b5c6d7e8f901234';
DROP TABLE regress_created;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('5f1c2e3a4b5c6d7e8f901234', 'consent', 'consent.pdf', '\x255044462d0a'::bytea)
RETURNING filename, filesize, content_type, length(id) AS id_length, candidate_id;
-- a table with other columns, in another order, and one under column_name
CREATE FOREIGN TABLE regress_upload (
  bytes bytea OPTIONS (column_name 'content'),
  name text OPTIONS (column_name 'filename'),
  kind text OPTIONS (column_name 'type'),
  candidate_id text,
  object text,
  size integer OPTIONS (column_name 'filesize')
) SERVER regress_checkr;
INSERT INTO regress_upload (candidate_id, kind, name, bytes)
VALUES ('5f1c2e3a4b5c6d7e8f901234', 'consent', 'renamed.pdf', '\x255044462d0a0a'::bytea)
RETURNING name, kind, object, size;
DROP FOREIGN TABLE regress_upload;
-- three uploads and the one listing: RETURNING sends nothing more
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- INSERT ... SELECT: one POST per row, each with its own UUID v4 key
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
INSERT INTO candidate_documents (candidate_id, type, filename, content)
SELECT 'e44aa283528e6fde7d542194', 'consent', 'batch-' || i || '.pdf',
       '\x255044462d'::bytea || int4send(i)
  FROM generate_series(1, 4) AS i;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT filename, path, status, regress_is_uuid4(idem_key) AS key_is_uuid4
  FROM regress_posts(:'log') ORDER BY seq;
SELECT count(*) AS posts, count(DISTINCT idem_key) AS distinct_keys
  FROM regress_posts(:'log');
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
-- COPY uploads too
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
COPY candidate_documents (candidate_id, type, filename, content) FROM STDIN;
e44aa283528e6fde7d542194	consent	copied.pdf	\\x255044462d312e340a
\.
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT filename, type_field, content_type, len, status,
       regress_is_uuid4(idem_key) AS key_is_uuid4
  FROM regress_posts(:'log') ORDER BY seq;

--
-- an API error: SQLSTATE class HV, the API's message in DETAIL
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('missing-x', 'consent', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
SELECT left(state, 2) AS class, message, detail, context FROM regress_error($$
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('missing-x', 'consent', 'a.pdf', '\x255044462d'::bytea) $$);
-- a 4xx is not retried: one request for each of the two statements
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"

--
-- a 503 on the first attempt: retried once with the same key, created once
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/e44aa283528e6fde7d542194/documents", "method": "POST", "times": 1, "action": "respond", "status": 503, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Service unavailable\"}"}'
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'retried.pdf', '\x255044462d'::bytea)
RETURNING filename, filesize;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT filename, status, len, regress_is_uuid4(idem_key) AS key_is_uuid4
  FROM regress_posts(:'log') ORDER BY seq;
SELECT count(*) AS posts, count(DISTINCT idem_key) AS distinct_keys
  FROM regress_posts(:'log');
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
SELECT count(*) AS listed FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filename = 'retried.pdf';

--
-- EXPLAIN shows the endpoint, and sends nothing
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
EXPLAIN (COSTS OFF)
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea);
EXPLAIN (VERBOSE, COSTS OFF)
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea)
RETURNING id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- column types, checked when the table is opened for INSERT: candidate_id,
-- type, filename and content_type take a string type (or a domain over
-- one), content takes bytea (or a domain over it); anything else is an
-- error naming the column, before anything is read or sent
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE FOREIGN TABLE regress_int_id (candidate_id integer, type text,
  filename text, content bytea) SERVER regress_checkr;
INSERT INTO regress_int_id VALUES (42, 'passport', 'a.pdf', '\x255044462d');  -- ERROR
SELECT state, message, detail FROM regress_error($$
  INSERT INTO regress_int_id VALUES (42, 'passport', 'a.pdf', '\x255044462d') $$);
DROP FOREIGN TABLE regress_int_id;
CREATE FOREIGN TABLE regress_bad_types (candidate_id text, type jsonb,
  filename text[], content_type boolean, content text) SERVER regress_checkr;
INSERT INTO regress_bad_types (candidate_id, type)
VALUES ('e44aa283528e6fde7d542194', '"passport"');  -- ERROR
ALTER FOREIGN TABLE regress_bad_types DROP COLUMN type;
ALTER FOREIGN TABLE regress_bad_types ADD COLUMN type text;
INSERT INTO regress_bad_types (candidate_id, type)
VALUES ('e44aa283528e6fde7d542194', 'passport');  -- ERROR
ALTER FOREIGN TABLE regress_bad_types DROP COLUMN filename;
ALTER FOREIGN TABLE regress_bad_types ADD COLUMN filename text;
INSERT INTO regress_bad_types (candidate_id, type)
VALUES ('e44aa283528e6fde7d542194', 'passport');  -- ERROR
ALTER FOREIGN TABLE regress_bad_types DROP COLUMN content_type;
INSERT INTO regress_bad_types (candidate_id, type)
VALUES ('e44aa283528e6fde7d542194', 'passport');  -- ERROR
-- a column under column_name is checked as the field it gives
CREATE FOREIGN TABLE regress_renamed_bad (candidate_id text, type text,
  filename text, bytes integer OPTIONS (column_name 'content')) SERVER regress_checkr;
INSERT INTO regress_renamed_bad VALUES ('e44aa283528e6fde7d542194', 'passport', 'a.pdf', 1);  -- ERROR
DROP FOREIGN TABLE regress_bad_types, regress_renamed_bad;
-- string types and domains are uploaded as their text: varchar, char(n)
-- (without its padding), name, citext, a domain over text, a domain over
-- bytea
CREATE EXTENSION citext;
CREATE DOMAIN regress_doc_type AS text CHECK (VALUE <> '');
CREATE DOMAIN regress_file AS bytea;
CREATE FOREIGN TABLE regress_string_types (candidate_id char(30),
  type regress_doc_type, filename name, content_type citext,
  content regress_file, id varchar(24)) SERVER regress_checkr;
INSERT INTO regress_string_types
VALUES ('e44aa283528e6fde7d542194', 'passport', 'typed.pdf', 'application/pdf',
        '\x255044462d'::bytea);
CREATE FOREIGN TABLE regress_varchar (candidate_id varchar, type varchar(40),
  filename varchar, content bytea) SERVER regress_checkr;
INSERT INTO regress_varchar
VALUES ('e44aa283528e6fde7d542194', 'consent', 'varchar.png', '\x89504e470d0a1a0a'::bytea);
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT path, status, type_field, filename, content_type, len
  FROM regress_posts(:'log') ORDER BY seq;
DROP FOREIGN TABLE regress_string_types, regress_varchar;
DROP DOMAIN regress_doc_type;
DROP DOMAIN regress_file;
DROP EXTENSION citext;

--
-- RETURNING content gives the bytes that were sent (the row's own, not
-- those of a freed tuple)
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TEMP TABLE regress_big AS
SELECT '\x255044462d'::bytea || decode(repeat('0123456789', 20000), 'hex') AS content;
SELECT length(content) AS bytes FROM regress_big;
WITH ins AS (
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  SELECT 'e44aa283528e6fde7d542194', 'consent', 'big.pdf', content FROM regress_big
  RETURNING content, filesize
)
SELECT length(i.content) AS returned_bytes, i.filesize,
       md5(i.content) = md5(b.content) AS same_md5
  FROM ins AS i, regress_big AS b;
-- two rows: each gets its own bytes back
WITH ins AS (
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  SELECT 'e44aa283528e6fde7d542194', 'consent', 'big-' || i || '.pdf',
         content || int4send(i)
    FROM regress_big, generate_series(1, 2) AS i
  RETURNING filename, content
)
SELECT i.filename, length(i.content) AS returned_bytes,
       md5(i.content) = md5(b.content || int4send(right(split_part(i.filename, '.', 1), 1)::int)) AS same_md5
  FROM ins AS i, regress_big AS b ORDER BY 1;
DROP TABLE regress_big;

--
-- ON CONFLICT cannot be honoured: refused, not ignored
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea)
ON CONFLICT DO NOTHING;  -- ERROR
SELECT state, message FROM regress_error($$
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea)
  ON CONFLICT DO NOTHING $$);
-- an empty candidate_id or filename: nothing to post to or to name
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('', 'consent', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', '', '\x255044462d'::bytea);  -- ERROR
-- a document type outside Checkr's list (listings show more, such as
-- pdf_report, that cannot be uploaded), with the list in the hint
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'pdf_report', 'a.pdf', '\x255044462d'::bytea);  -- ERROR
SELECT state, message, hint FROM regress_error($$
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('e44aa283528e6fde7d542194', 'pasport', 'a.pdf', '\x255044462d'::bytea) $$);
-- the types a VALUES list gives are checked before any row is uploaded: a
-- typo in the last row leaves the rows before it unsent
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea),
       ('e44aa283528e6fde7d542194', 'passport', 'b.pdf', '\x255044462d'::bytea),
       ('e44aa283528e6fde7d542194', 'Consent', 'c.pdf', '\x255044462d'::bytea);  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content, content_type)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea, 'application/pdf'),
       ('e44aa283528e6fde7d542194', 'consent', 'b.pdf', '\x255044462d'::bytea, 'application/pfd');  -- ERROR
-- none of the above sent a request
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- rows routed to a foreign partition are uploaded, and RETURNING gives the
-- created document; ON CONFLICT is refused there too
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TABLE regress_parted (candidate_id text, type text, filename text,
  content bytea, id text, filesize bigint, content_type text)
  PARTITION BY LIST (type);
CREATE FOREIGN TABLE regress_parted_consent PARTITION OF regress_parted
  FOR VALUES IN ('consent') SERVER regress_checkr;
CREATE TABLE regress_parted_local PARTITION OF regress_parted DEFAULT;
INSERT INTO regress_parted (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'routed.pdf', '\x255044462d0a'::bytea),
       ('e44aa283528e6fde7d542194', 'passport', 'local.pdf', '\x255044462d'::bytea)
RETURNING tableoid::regclass AS partition, filename, filesize, content_type,
          id ~ '^[0-9a-f]{24}$' AS id_is_checkr_id, candidate_id, content;
INSERT INTO regress_parted (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'again.pdf', '\x255044462d'::bytea)
ON CONFLICT DO NOTHING;  -- ERROR
-- COPY into the partitioned table routes too
COPY regress_parted (candidate_id, type, filename, content) FROM STDIN;
e44aa283528e6fde7d542194	consent	copied-routed.pdf	\\x255044462d312e340a
\.
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
DROP TABLE regress_parted;

--
-- refused in a read-only transaction (PostgreSQL's own rule for a write),
-- by INSERT and COPY alike; nothing is sent
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
BEGIN READ ONLY;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'ro.pdf', '\x255044462d'::bytea);  -- ERROR
ROLLBACK;
SET default_transaction_read_only = on;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
VALUES ('e44aa283528e6fde7d542194', 'consent', 'ro.pdf', '\x255044462d'::bytea);  -- ERROR
COPY candidate_documents (candidate_id, type, filename, content) FROM '/dev/null';  -- ERROR
RESET default_transaction_read_only;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
DROP FUNCTION regress_posts(jsonb);
\i sql/include/teardown.sql
