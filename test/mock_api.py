#!/usr/bin/env python3
"""Loopback stand-in for the Checkr and Kombo HTTP APIs.

Serves the Checkr candidate documents and candidate stories endpoints under
/checkr/v1, the Kombo candidate attachments endpoint under /kombo/v1, document
bytes under /files, and control endpoints under /_mock (request log, stats,
fault injection, runtime configuration).  Standard library only.

Usage:
    mock_api.py [--host 127.0.0.1] [--port 0] [--port-file FILE] [--latency-ms N]
                [--rate-limit N] [--rate-window S] [--max-inflight N] [--enforce-limits]
                [--tls-cert PEM --tls-key PEM [--tls-port-file FILE]]

With --tls-cert the same endpoints are also served over HTTPS on a port of
their own, written to --tls-port-file (before the --port-file).

The bound port is printed on stdout and, with --port-file, written to FILE
(atomically).  Credentials: Checkr "Basic base64(test_checkr_key:)" plus a
User-Agent; Kombo "Bearer test_kombo_key" plus X-Integration-Id.

Control endpoints (not logged, no auth):
    GET    /_mock/requests[?since=SEQ]   logged requests, oldest first
    GET    /_mock/stats                  request and creation counters, and the
                                         most API requests answered at once (max_inflight)
    POST   /_mock/reset                  forget log, faults, uploads, stories,
                                         idempotency keys and runtime config
    POST   /_mock/config                 {"latency_ms": N, "files_host": "localhost",
                                          "href_origin": "https://127.0.0.1:1",
                                          "rate_limit": N, "rate_window": S,
                                          "max_inflight": N, "enforce_limits": true}
                                         (href_origin: scheme://host:port that
                                         Checkr next_href/previous_href use, as
                                         the real API's http:// hrefs do; "" for
                                         the mock's own; "integrations": extra
                                         Kombo integration ids to accept, each
                                         with generated attachments)
    POST   /_mock/faults                 one rule or a list of rules
    GET    /_mock/faults                 active rules
    DELETE /_mock/faults                 drop all rules

A fault rule matches a substring of the raw request target (and optionally a
method), may let the first "skip" matches through and expires after "times"
uses, and may fire only with a given "probability" (0..1, default 1):
    {"path_contains": "many-7/", "method": "GET", "skip": 0, "times": 1,
     "action": "respond", "status": 502, "headers": {...}, "body": "..."}
Rate limits: every answer of either API carries its rate-limit headers
(Checkr X-Ratelimit-Limit/-Remaining/-Reset as an ISO time, Kombo
ratelimit-limit/-remaining/-reset in seconds) for a fixed window of
--rate-window seconds (default 60, aligned on the clock) allowing
--rate-limit requests per API key (default 1200; 0: no headers).  With
--enforce-limits, a request beyond the window's limit gets 429 (Checkr
{"error": ...}; Kombo PLATFORM.RATE_LIMIT_EXCEEDED), and a Kombo request
beyond --max-inflight (default 30) requests in flight for its integration
gets 429 PLATFORM.CONCURRENCY_LIMIT_EXCEEDED with Concurrency-Limit and
Concurrency-Remaining headers.  Without it the headers only inform.

Actions and their parameters: respond (status, headers, body | body_b64),
hang (seconds), reset, truncate (status, body, missing), delay (ms),
huge (bytes), next_href (value), drop (rst).  The parameters may also be nested:
{"action": {"respond": {"status": 502}}}.
All actions but drop, delay and next_href answer instead of the API: the
request is logged and nothing else happens.  drop lets the API process the
request (an upload or story is created, its Idempotency-Key recorded) and
then closes the connection without sending the answer, as when a response
is lost on the way back; with "rst": true the close is a reset (RST), else
an orderly close (FIN).  The log entry keeps the status that was not sent,
and "fault": "drop".

Idempotency-Key (Checkr POSTs): the first 2xx answer for a key is stored
with the request it answered (method, target, and the body: multipart
fields and files by content, JSON by value, anything else byte for byte);
the same key with the same request replays that answer, the same key with a
different request gets 422 {"error": "Keys for idempotent requests can only
be used with the same parameters they were first used with"}, and a key
whose first request is still in flight gets 409.  Failed answers are not
stored.
"""

import argparse
import random
import base64
import functools
import hashlib
import http
import json
import math
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote

# ---------------------------------------------------------------------------
# Constants

CHECKR_PREFIX = "checkr"
KOMBO_PREFIX = "kombo"
API_VERSION = "v1"

CHECKR_AUTH = "Basic " + base64.b64encode(b"test_checkr_key:").decode()
KOMBO_TOKEN = "test_kombo_key"
KOMBO_INTEGRATIONS = (
    "workday:HWUTwvyx2wLoSUHphiWVrp28",
    "greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ",
)

CHECKR_UPLOAD_TYPES = frozenset((
    "image/gif", "image/jpg", "image/jpeg", "image/png", "image/bmp",
    "image/tiff", "application/pdf", "image/heic",
))

# The values Checkr's spec declares for types[] and an upload's "type";
# listings return more (pdf_report, order_summary_pdf).
CHECKR_DOCUMENT_TYPES = frozenset((
    "alien_id", "citizenship_certificate", "consent",
    "credit_report_consent_form", "degree", "diploma", "driver_license",
    "driver_license_back", "driver_license_history", "education_certificate",
    "education_proof", "electronic_consent_form", "employment_proof",
    "government_id", "international_consent_form", "military_id",
    "national_id", "national_id_back", "passport", "passport_signature_page",
    "paystub", "previous_driver_license",
    "professional_license_certification_image", "selfie", "ssn_card",
    "state_id_card", "state_id_card_back", "student_id", "tax_form1099",
    "tax_form_schedule_c", "tax_form_w2", "taxpayer_id", "transcript",
))

# What a web server answers for a path that is no API endpoint.
HTML_404 = (b"<!DOCTYPE html>\n<html>\n<head><title>404 Not Found</title></head>\n"
            b"<body>\n<center><h1>404 Not Found</h1></center>\n<hr><center>nginx</center>\n"
            b"</body>\n</html>\n")

RATE_LIMIT = 1200
KOMBO_PAGE_SIZE = 100
KOMBO_FILE_SIZE = 2048
MAX_GENERATED = 1_000_000          # upper bound for "many-N"
MAX_BODY = 100 * 1024 * 1024       # larger request bodies get 413
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

GENERIC_TYPES = ("driver_license", "consent", "ssn_card", "passport", "pdf_report")
# type -> (content_type, file extension)
TYPE_FORMATS = {
    "driver_license": ("image/jpeg", "jpg"),
    "consent": ("application/pdf", "pdf"),
    "ssn_card": ("image/png", "png"),
    "passport": ("application/pdf", "pdf"),
    "pdf_report": ("application/pdf", "pdf"),
}
KOMBO_TYPES = ("CV", "COVER_LETTER", "OTHER")
KOMBO_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

MAGIC = {
    "application/pdf": b"%PDF-1.4\n",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/jpg": b"\xff\xd8\xff",
    "image/gif": b"GIF89a",
    "image/bmp": b"BM",
    "image/tiff": b"II*\x00",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": b"PK\x03\x04",
}

# Fixed Checkr documents: candidate id -> list of field dicts (without download_uri).
CHECKR_FIXED = {
    "e44aa283528e6fde7d542194": [
        {"id": "d0000000000000000000aa01", "type": "driver_license",
         "created_at": "2015-02-11T20:01:50Z", "filesize": 8576,
         "filename": "1423684910_candidate_driver_license.jpg", "content_type": "image/jpeg"},
        {"id": "d0000000000000000000aa02", "type": "consent",
         "created_at": "2016-05-01T10:00:00Z", "filesize": 1024,
         "filename": "consent.pdf", "content_type": "application/pdf"},
        {"id": "d0000000000000000000aa03", "type": "ssn_card",
         "created_at": "2017-07-07T07:07:07Z", "filesize": 2048,
         "filename": "ssn.png", "content_type": "image/png", "locale": "en_US"},
    ],
    "5f1c2e3a4b5c6d7e8f901234": [
        {"id": "d0000000000000000000bb01", "type": "passport",
         "created_at": "2018-01-01T00:00:00Z", "filesize": 4096,
         "filename": "passport.pdf", "content_type": "application/pdf"},
        {"id": "d0000000000000000000bb02", "type": "driver_license",
         "created_at": "2019-03-04T05:06:07Z", "filesize": 1000,
         "filename": "dl.jpg", "content_type": "image/jpeg"},
    ],
    "empty0000000000000000000": [],
}

KOMBO_EXAMPLE_CANDIDATE = "BTbkvY2w5ou3z3hdwuKcKzDh"
KOMBO_EXAMPLE_WARNINGS = [{"message": "This is an example warning!"}]
# Fixed Kombo attachments: (integration, candidate id) -> list of field dicts
# (without candidate_id and data_url).
KOMBO_FIXED = {
    ("workday:HWUTwvyx2wLoSUHphiWVrp28", KOMBO_EXAMPLE_CANDIDATE): [
        {"id": "EYJjhMQT3LtVKXnTbnRT8s6U", "application_id": None, "type": "CV",
         "remote_id": "GUzE666zfyjeoCJX6A8n7wh6", "file_name": "Frank Doe CV.pdf",
         "content_type": "application/pdf",
         "remote_created_at": None, "remote_updated_at": None},
        {"id": "Q2m3n4p5q6r7s8t9u1v2w3x4", "application_id": "A1b2c3d4e5f6g7h8i9j1k2m3",
         "type": "COVER_LETTER", "remote_id": "cl-1", "file_name": "cover.docx",
         "content_type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "remote_created_at": "2024-01-15T09:30:00.000Z",
         "remote_updated_at": "2024-02-01T12:00:00.000Z"},
    ],
    ("greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ", KOMBO_EXAMPLE_CANDIDATE): [
        {"id": "G1h2j3k4m5n6p7q8r9s1t2u3", "application_id": None, "type": "OTHER",
         "remote_id": "gh-portfolio-1", "file_name": "portfolio.pdf",
         "content_type": "application/pdf",
         "remote_created_at": "2023-06-01T08:00:00.000Z",
         "remote_updated_at": "2023-06-02T08:00:00.000Z"},
    ],
}

STATUS_LINES = {int(s): "HTTP/1.1 %d %s" % (s, s.phrase) for s in http.HTTPStatus}

FAULT_ACTIONS = ("respond", "hang", "reset", "truncate", "delay", "huge", "next_href",
                 "drop")

MANY_RE = re.compile(r"many-([0-9]{1,9})\Z")
# "sized-N-tag": one PDF document of N bytes (at most MAX_SIZED_FILE)
SIZED_RE = re.compile(r"sized-([0-9]{1,9})-")
MAX_SIZED_FILE = 64 * 1024 * 1024


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def iso_utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def new_hex_id():
    return os.urandom(12).hex()


# Maps each byte value onto Kombo's id alphabet (bytes.translate table).
_KOMBO_TABLE = bytes(ord(KOMBO_ALPHABET[b % 58]) for b in range(256))


def synthetic_time(k, offset):
    """Cheap deterministic valid timestamp fields for the k-th generated item."""
    k += offset
    return (2015 + (k // 8064) % 10, 1 + (k // 672) % 12, 1 + (k // 24) % 28,
            k % 24, (k * 7) % 60, (k * 13) % 60)


def many_count(cid):
    m = MANY_RE.match(cid)
    if m is None:
        return None
    n = int(m.group(1))
    return n if n <= MAX_GENERATED else None


# ---------------------------------------------------------------------------
# Server-wide state

class State:
    def __init__(self, host, port, latency_ms, limits):
        self.lock = threading.Lock()
        self.host = host
        self.port = port
        self.cli_latency_ms = latency_ms
        self.cli_limits = limits
        self.generation = 0
        self.answering = 0          # API requests being answered now
        # Registries of servable file metadata for fixed/generated documents;
        # they survive resets because listings are cached.
        self.checkr_files = {}      # doc id -> (content_type, filesize)
        self.kombo_files = {}       # attachment id -> content_type
        self.reset_locked()

    def reset_locked(self):
        self.latency = self.cli_latency_ms / 1000.0
        self.files_host = self.host
        self.href_origin = ""
        self.extra_integrations = frozenset()
        self.log = []
        self.seq = 0
        self.faults = []
        self.uploads = {}           # doc id -> (content_type, bytes)
        self.uploaded_by_cand = {}  # candidate id -> [(type, document json)]
        self.stories_created = 0
        self.documents_created = 0
        self.by_path = {}
        self.idem = {}              # key -> None (in flight) or (request, status, body)
        self.rl_window = 0
        self.rl_count = {CHECKR_PREFIX: 0, KOMBO_PREFIX: 0}
        self.rl_limit, self.rl_window_s, self.max_inflight, self.enforce = self.cli_limits
        self.inflight = {}          # Kombo integration -> requests in flight
        self.inflight_peak = 0      # the most in flight for one integration
        self.answering_peak = 0     # most API requests being answered at once
        self.generation += 1

    def base_url(self, host=None):
        h = host or self.host
        if ":" in h:
            h = "[" + h + "]"
        return "http://%s:%d" % (h, self.port)


STATE = None


# ---------------------------------------------------------------------------
# Generated data (cached)

def file_bytes_for(doc_id, content_type, size):
    """Deterministic file content: magic header, then sha256-chained bytes."""
    out = bytearray(MAGIC.get(content_type, b""))
    block = hashlib.sha256(doc_id.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


@functools.lru_cache(maxsize=512)
def cached_file_bytes(doc_id, content_type, size):
    return file_bytes_for(doc_id, content_type, size)


def checkr_doc_json(fields, files_base):
    doc = {"id": fields["id"], "object": "document", "type": fields["type"],
           "created_at": fields["created_at"],
           "download_uri": files_base + fields["id"],
           "filesize": fields["filesize"], "filename": fields["filename"],
           "content_type": fields["content_type"]}
    if "locale" in fields:
        doc["locale"] = fields["locale"]
    return dumps(doc)


_CHECKR_DOC_FMT = ('{"id":"%s","object":"document","type":"%s","created_at":"%s",'
                   '"download_uri":"%s%s","filesize":%d,"filename":"%s",'
                   '"content_type":"%s"%s}')


@functools.lru_cache(maxsize=4096)
def checkr_base_docs(cid, files_host):
    """All fixed/generated documents of a candidate: tuple of (type, json)."""
    files_base = STATE.base_url(files_host) + "/files/checkr/"
    registry = STATE.checkr_files
    fixed = CHECKR_FIXED.get(cid)
    if fixed is not None:
        out = []
        for f in fixed:
            registry[f["id"]] = (f["content_type"], f["filesize"])
            out.append((f["type"], checkr_doc_json(f, files_base)))
        return tuple(out)
    m = SIZED_RE.match(cid)
    if m is not None:
        size = min(int(m.group(1)), MAX_SIZED_FILE)
        doc_id = hashlib.sha256((cid + ":1").encode()).hexdigest()[:24]
        registry[doc_id] = ("application/pdf", size)
        return (("pdf_report", _CHECKR_DOC_FMT % (
            doc_id, "pdf_report", "%04d-%02d-%02dT%02d:%02d:%02dZ" % synthetic_time(1, 0),
            files_base, doc_id, size, "report.pdf", "application/pdf", "")),)
    n = many_count(cid)
    if n is None:
        h = hashlib.sha256(cid.encode()).digest()
        n = 1 + h[0] % 3
        type_offset = h[1]
        time_offset = int.from_bytes(h[2:6], "big") % 80640
    else:
        type_offset = 0
        time_offset = 0
    out = []
    prefix = (cid + ":").encode()
    sha = hashlib.sha256
    fmt = _CHECKR_DOC_FMT
    for k in range(1, n + 1):
        doc_id = sha(prefix + str(k).encode()).hexdigest()[:24]
        dtype = GENERIC_TYPES[(type_offset + k - 1) % 5]
        ctype, ext = TYPE_FORMATS[dtype]
        size = 1000 + (k * 7919) % 9000
        locale = ',"locale":"en_US"' if dtype == "ssn_card" else ""
        registry[doc_id] = (ctype, size)
        out.append((dtype, fmt % (doc_id, dtype, "%04d-%02d-%02dT%02d:%02d:%02dZ" % synthetic_time(k, time_offset),
                                  files_base, doc_id, size,
                                  "doc-%d.%s" % (k, ext), ctype, locale)))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def checkr_filtered_docs(cid, files_host, types):
    docs = checkr_base_docs(cid, files_host)
    if types is None:
        return tuple(j for _, j in docs)
    wanted = frozenset(types)
    return tuple(j for t, j in docs if t in wanted)


def checkr_list_body(cid, docs, types, page, per_page, next_override, href_origin=""):
    total = len(docs)
    if per_page > 0:
        start = (page - 1) * per_page
        chunk = docs[start:start + per_page]
        has_next = start + per_page < total
        has_prev = page > 1
    else:
        chunk = ()
        has_next = has_prev = False
    href_base = None
    if has_next or has_prev:
        href_base = "%s/checkr/v1/candidates/%s/documents?page=" % (
            href_origin or STATE.base_url(), quote(cid, safe=""))
        tq = "".join("&types%5B%5D=" + quote(t, safe="") for t in (types or ()))
    nxt = ('"%s%d&per_page=%d%s"' % (href_base, page + 1, per_page, tq)
           if has_next else "null")
    if next_override is not None:
        nxt = dumps(next_override[0])
    prv = ('"%s%d&per_page=%d%s"' % (href_base, page - 1, per_page, tq)
           if has_prev else "null")
    return ('{"data":[%s],"object":"list","next_href":%s,"previous_href":%s,"count":%d}'
            % (",".join(chunk), nxt, prv, total)).encode()


@functools.lru_cache(maxsize=8192)
def checkr_page_cached(cid, files_host, types, page, per_page, href_origin):
    docs = checkr_filtered_docs(cid, files_host, types)
    return checkr_list_body(cid, docs, types, page, per_page, None, href_origin)


@functools.lru_cache(maxsize=4096)
def kombo_attachments(integration, cid, files_host):
    """All attachments of a candidate for an integration: tuple of json strings."""
    files_base = STATE.base_url(files_host) + "/files/kombo/"
    registry = STATE.kombo_files
    fixed = KOMBO_FIXED.get((integration, cid))
    if fixed is None and cid == KOMBO_EXAMPLE_CANDIDATE:
        fixed = []
    cid_json = dumps(cid)
    out = []
    if fixed is not None:
        for f in fixed:
            registry[f["id"]] = f["content_type"]
            a = {"id": f["id"], "application_id": f["application_id"],
                 "candidate_id": cid, "type": f["type"], "remote_id": f["remote_id"],
                 "data_url": files_base + f["id"], "file_name": f["file_name"],
                 "content_type": f["content_type"],
                 "remote_created_at": f["remote_created_at"],
                 "remote_updated_at": f["remote_updated_at"]}
            out.append(dumps(a))
        return tuple(out)
    n = many_count(cid)
    if n is None:
        n = 1 + hashlib.sha256((integration + cid).encode()).digest()[0] % 3
    seed = integration + "|" + cid + "|"
    for k in range(1, n + 1):
        digest = hashlib.sha512((seed + str(k)).encode()).digest()
        aid = digest[:24].translate(_KOMBO_TABLE).decode("ascii")
        atype = KOMBO_TYPES[(k - 1) % 3]
        if k % 2 == 0:
            app_id = '"%s"' % digest[24:48].translate(_KOMBO_TABLE).decode("ascii")
        else:
            app_id = "null"
        if atype == "CV":
            fname, ctype = "cv-%d.pdf" % k, "application/pdf"
        elif atype == "COVER_LETTER":
            fname, ctype = "cover-%d.pdf" % k, "application/pdf"
        else:
            fname, ctype = "other-%d.png" % k, "image/png"
        if k % 2:
            created = '"%04d-%02d-%02dT%02d:%02d:%02d.000Z"' % synthetic_time(k, 1000)
            updated = '"%04d-%02d-%02dT%02d:%02d:%02d.000Z"' % synthetic_time(k, 1001)
        else:
            created = updated = "null"
        registry[aid] = ctype
        out.append('{"id":"%s","application_id":%s,"candidate_id":%s,"type":"%s",'
                   '"remote_id":"r-%d","data_url":"%s%s","file_name":"%s",'
                   '"content_type":"%s","remote_created_at":%s,"remote_updated_at":%s}'
                   % (aid, app_id, cid_json, atype, k, files_base, aid, fname,
                      ctype, created, updated))
    return tuple(out)


def kombo_cursor(offset):
    return base64.urlsafe_b64encode(("offset:%d" % offset).encode()).decode()


def kombo_parse_cursor(cursor):
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if not raw.startswith("offset:") or not raw[7:].isdigit():
        return None
    return int(raw[7:])


def kombo_list_body(items, offset, warnings, next_override):
    chunk = items[offset:offset + KOMBO_PAGE_SIZE]
    if next_override is not None:
        nxt = dumps(next_override[0])
    elif offset + KOMBO_PAGE_SIZE < len(items):
        nxt = '"%s"' % kombo_cursor(offset + KOMBO_PAGE_SIZE)
    else:
        nxt = "null"
    return ('{"status":"success","data":{"results":[%s],"next":%s},"warnings":%s}'
            % (",".join(chunk), nxt, dumps(warnings))).encode()


@functools.lru_cache(maxsize=8192)
def kombo_page_cached(integration, cid, files_host, offset):
    items = kombo_attachments(integration, cid, files_host)
    warnings = KOMBO_EXAMPLE_WARNINGS if cid == KOMBO_EXAMPLE_CANDIDATE else []
    return kombo_list_body(items, offset, warnings, None)


# ---------------------------------------------------------------------------
# Request body parsing

def header_params(value):
    """Split 'a; k=v; k2="v 2"' into ('a', {k: v, k2: 'v 2'})."""
    parts = []
    cur = []
    inq = esc = False
    for ch in value:
        if esc:
            cur.append(ch)
            esc = False
        elif inq and ch == "\\":
            esc = True
        elif ch == '"':
            inq = not inq
        elif ch == ";" and not inq:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    main = parts[0].strip().lower()
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip()
    return main, params


def parse_multipart(body, content_type):
    """Parse multipart/form-data; return (fields, files) or None if malformed.

    fields: {name: str}; files: [{name, filename, content_type, data}].
    """
    _, params = header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        return None
    delim = b"--" + boundary.encode("latin-1")
    pos = body.find(delim)
    if pos < 0:
        return None
    sep = b"\r\n" + delim
    pos += len(delim)
    fields, files = {}, []
    while True:
        if body[pos:pos + 2] == b"--":
            return fields, files
        if body[pos:pos + 2] != b"\r\n":
            return None
        pos += 2
        hend = body.find(b"\r\n\r\n", pos)
        if hend < 0:
            return None
        headers = {}
        for line in body[pos:hend].split(b"\r\n"):
            if b":" in line:
                k, v = line.split(b":", 1)
                headers[k.strip().lower().decode("latin-1")] = v.strip().decode("utf-8", "replace")
        end = body.find(sep, hend + 4)
        if end < 0:
            return None
        data = body[hend + 4:end]
        pos = end + len(sep)
        disp, dparams = header_params(headers.get("content-disposition", ""))
        if disp != "form-data" or "name" not in dparams:
            continue
        name = dparams["name"]
        if "filename" in dparams:
            files.append({"name": name, "filename": dparams["filename"],
                          "content_type": headers.get("content-type", ""), "data": data})
        else:
            fields[name] = data.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Request log

class LogEntry:
    """One logged request, kept compact; expanded to a dict when listed."""

    __slots__ = ("seq", "method", "raw_path", "header_items", "body_len",
                 "body_sha256", "json", "multipart", "status", "fault",
                 "client_port", "started", "finished", "resp_bytes")

    def __init__(self, method, raw_path, header_items, body):
        self.seq = 0
        self.method = method
        self.raw_path = raw_path
        self.header_items = header_items
        self.body_len = len(body)
        self.body_sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        self.json = None
        self.multipart = None
        self.status = None
        self.fault = None
        self.client_port = None
        self.started = time.monotonic()
        self.finished = None
        self.resp_bytes = None

    def as_dict(self):
        path, _, qs = self.raw_path.partition("?")
        headers = {}
        for k, v in self.header_items:
            lk = k.lower()
            headers[lk] = headers[lk] + ", " + v if lk in headers else v
        d = {"seq": self.seq, "method": self.method, "raw_path": self.raw_path,
             "path": path, "query": parse_qs(qs, keep_blank_values=True) if qs else {},
             "headers": headers, "body_len": self.body_len,
             "body_sha256": self.body_sha256, "json": self.json,
             "status": self.status, "fault": self.fault,
             "client_port": self.client_port,
             "started": self.started, "finished": self.finished,
             "resp_bytes": self.resp_bytes}
        if self.multipart is not None:
            d["multipart"] = self.multipart
        return d


# ---------------------------------------------------------------------------
# Fault rules

def normalize_rule(rule):
    """Validate a fault rule and flatten its action parameters into it.

    The action is either a name with its parameters beside it
    ({"action": "hang", "seconds": 5}), optionally nested under the name
    ({"action": "respond", "respond": {...}}), or an object keyed by the name
    ({"action": {"respond": {...}}}).  Returns None when invalid.
    """
    if not isinstance(rule, dict) or not isinstance(rule.get("path_contains"), str):
        return None
    out = dict(rule)
    action = out.get("action")
    if isinstance(action, dict) and len(action) == 1:
        (name, params), = action.items()
    else:
        name, params = action, out.get(action) if isinstance(action, str) else None
    if name not in FAULT_ACTIONS:
        return None
    if isinstance(params, dict):
        out.update(params)
    out["action"] = name
    for key in ("times", "skip"):
        if out.get(key) is not None:
            try:
                out[key] = int(out[key])
            except (TypeError, ValueError):
                return None
    if out.get("times") is not None and out["times"] <= 0:
        return None
    if out.get("probability") is not None:
        try:
            out["probability"] = float(out["probability"])
        except (TypeError, ValueError):
            return None
        if not 0.0 <= out["probability"] <= 1.0:
            return None
    return out


# Draws for probabilistic faults; seeded so that a run can be repeated.
FAULT_RANDOM = random.Random(20261122)

# ---------------------------------------------------------------------------
# HTTP handler

class Reply(Exception):
    """Raised by route code to answer immediately."""

    def __init__(self, status, obj):
        super().__init__(status)
        self.status = status
        self.obj = obj


def checkr_error(status, message):
    return Reply(status, {"error": message})


def kombo_error(status, code, title, message, seq):
    return Reply(status, {"status": "error", "error": {
        "code": code, "title": title, "message": message,
        "log_url": "https://app.kombo.dev/mock/logs?interactionId=%d" % seq}})


# Parsed request and header lines by their raw bytes: repeated lines (the
# common case) are parsed once and share one object in the request log.
_LINE_CACHE = {}
LINE_CACHE_MAX = 8192


def cache_line(raw, parsed):
    if len(_LINE_CACHE) >= LINE_CACHE_MAX:
        _LINE_CACHE.clear()
    _LINE_CACHE[raw] = parsed


class Headers:
    """Request headers: case-insensitive get(), items() in arrival order."""

    __slots__ = ("_items", "_map")

    def __init__(self, items):
        self._items = items
        m = {}
        for k, v in items:
            lk = k.lower()
            if lk not in m:
                m[lk] = v
        self._map = m

    def get(self, name, default=None):
        return self._map.get(name.lower(), default)

    def items(self):
        return list(self._items)

    def raw_items(self):
        return self._items


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-api"
    sys_version = ""
    timeout = 600

    drop = None                 # the "drop" fault rule of the current request

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):
        pass

    def handle_one_request(self):
        """Read one request (line and headers) and dispatch it.

        A small replacement for the stdlib parser, which dominates per-request
        cost; it keeps the same keep-alive and 100-continue behaviour.
        """
        try:
            rfile = self.rfile
            line = rfile.readline(65537)
            while line in (b"\r\n", b"\n"):
                line = rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            self.entry = None
            self.command = None
            self.close_connection = True
            if len(line) > 65536:
                self.send_json(414, {"error": "Request-URI too long"})
                return
            parts = _LINE_CACHE.get(line)
            if parts is None:
                parts = tuple(line.decode("latin-1").split())
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    self.send_json(400, {"error": "Bad request line"})
                    return
                cache_line(line, parts)
            self.command, self.path, self.request_version = parts
            self.requestline = " ".join(parts)
            items = []
            while True:
                h = rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                if len(items) >= 200 or len(h) > 65536:
                    self.send_json(431, {"error": "Request header fields too large"})
                    return
                if h[:1] in (b" ", b"\t") and items:
                    k, v = items[-1]
                    items[-1] = (k, v + " " + h.decode("latin-1").strip())
                    continue
                pair = _LINE_CACHE.get(h)
                if pair is None:
                    k, sep, v = h.decode("latin-1").partition(":")
                    if not sep:
                        self.send_json(400, {"error": "Bad header line"})
                        return
                    pair = (k.strip(), v.strip())
                    cache_line(h, pair)
                items.append(pair)
            self.headers = hdrs = Headers(items)
            conn = (hdrs.get("Connection") or "").lower()
            if self.request_version == "HTTP/1.0":
                self.close_connection = "keep-alive" not in conn
            else:
                self.close_connection = "close" in conn
                if (hdrs.get("Expect") or "").lower() == "100-continue":
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.dispatch()
        except (TimeoutError, OSError):
            self.close_connection = True

    # -- low-level output ------------------------------------------------

    def send_raw(self, status, body, headers=(), content_length=None, send_body=True):
        if self.drop is not None:
            self.drop_answer(status)
            return
        lines = [STATUS_LINES.get(status) or "HTTP/1.1 %d Unknown" % status]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        lines.append("Content-Length: %d" % (len(body) if content_length is None
                                             else content_length))
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD" or not send_body:
            body = b""
        # finished as the response is handed over: the client may send its
        # next request before this thread runs again
        if self.entry is not None:
            self.entry.status = status
            self.entry.finished = time.monotonic()
            self.entry.resp_bytes = len(body)
        if len(body) < 65536:
            self.wfile.write(head + body)
        else:
            self.wfile.write(head)
            self.wfile.write(body)

    def drop_answer(self, status):
        """Close the connection instead of sending the answer (fault "drop")."""
        rst = bool(self.drop.get("rst"))
        self.drop = None
        self.close_connection = True
        if self.entry is not None:
            self.entry.status = status
            self.entry.finished = time.monotonic()
        if rst:
            self.abort_connection()
            return
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_json(self, status, body, extra=()):
        if not isinstance(body, bytes):
            body = dumps(body).encode()
        self.send_raw(status, body, (("Content-Type", "application/json"),) + tuple(extra))

    # -- request reading ---------------------------------------------------

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        cl = self.headers.get("Content-Length")
        if not cl:
            return b""
        n = int(cl)
        if n > MAX_BODY:
            return None
        if n == 0:
            return b""
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("short body")
        return data

    # -- dispatch ----------------------------------------------------------

    def dispatch(self):
        counted = not self.path.startswith("/_mock/")
        if counted:
            with STATE.lock:
                STATE.answering += 1
                STATE.answering_peak = max(STATE.answering_peak, STATE.answering)
        try:
            self.route()
        except OSError:
            self.close_connection = True
        except Exception:
            self.close_connection = True
            traceback.print_exc()
            try:
                self.send_json(500, {"error": "Internal mock error"})
            except OSError:
                pass
        finally:
            if counted:
                with STATE.lock:
                    STATE.answering -= 1

    def route(self):
        self.entry = None
        self.multipart = None
        self.drop = None
        raw = self.path
        if raw.startswith("http://") or raw.startswith("https://"):
            slash = raw.find("/", raw.find("//") + 2)
            raw = raw[slash:] if slash >= 0 else "/"
        qpos = raw.find("?")
        if qpos >= 0:
            path, qs = raw[:qpos], raw[qpos + 1:]
        else:
            path, qs = raw, ""
        path_nofrag = path.split("#", 1)[0]
        segs = [unquote(s) if "%" in s else s for s in path_nofrag.split("/")]
        try:
            body = self.read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            self.send_json(413, {"error": "Request entity too large"})
            return
        if len(segs) > 1 and segs[1] == "_mock":
            self.control(segs, qs, body)
            return
        st = STATE
        query = parse_qs(qs, keep_blank_values=True) if qs else {}
        self.log_request_entry(raw, path, body)
        override = None
        if st.faults:
            rule = self.match_fault(raw)
            if rule is not None:
                action = rule["action"]
                self.entry.fault = action
                if action == "delay":
                    time.sleep(float(rule.get("ms", 0)) / 1000.0)
                elif action == "drop":
                    self.drop = rule
                elif action == "next_href":
                    override = (rule.get("value"),)
                else:
                    self.apply_fault(rule)
                    return
        top = segs[1] if len(segs) > 1 else ""
        if top in (CHECKR_PREFIX, KOMBO_PREFIX) and (len(segs) < 3 or segs[2] != API_VERSION) \
                or top not in (CHECKR_PREFIX, KOMBO_PREFIX, "files"):
            self.send_raw(404, HTML_404, (("Content-Type", "text/html"),))
            return
        self.rl = None
        try:
            if top in (CHECKR_PREFIX, KOMBO_PREFIX):
                self.rate_count(top)
            if top == CHECKR_PREFIX:
                self.checkr(segs, query, body, override)
            elif top == KOMBO_PREFIX:
                self.kombo(segs, query, override)
            else:
                self.files(segs)
        except Reply as r:
            extra = self.rate_headers(top)
            if getattr(self, "concurrency_refused", False):
                extra += (("Concurrency-Limit", str(st.max_inflight)),
                          ("Concurrency-Remaining", "0"))
                self.concurrency_refused = False
            self.send_json(r.status, r.obj, extra)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch

    def log_request_entry(self, raw, path, body):
        st = STATE
        entry = LogEntry(self.command, raw, self.headers.raw_items(), body)
        entry.client_port = self.client_address[1]
        if body:
            ctype = self.headers.get("Content-Type", "")
            if ctype.lower().startswith("multipart/"):
                parsed = parse_multipart(body, ctype)
                if parsed is not None:
                    entry.multipart = {
                        "fields": parsed[0],
                        "files": [{"name": f["name"], "filename": f["filename"],
                                   "content_type": f["content_type"], "len": len(f["data"]),
                                   "sha256": hashlib.sha256(f["data"]).hexdigest()}
                                  for f in parsed[1]]}
                self.multipart = parsed
            elif body[:1] in (b"{", b"[") or "json" in ctype:
                try:
                    entry.json = json.loads(body)
                except ValueError:
                    pass
        with st.lock:
            st.seq += 1
            entry.seq = st.seq
            st.log.append(entry)
            st.by_path[path] = st.by_path.get(path, 0) + 1
        self.entry = entry

    # -- faults --------------------------------------------------------------

    def match_fault(self, raw):
        st = STATE
        with st.lock:
            for rule in st.faults:
                if rule["path_contains"] not in raw:
                    continue
                m = rule.get("method")
                if m and m.upper() != self.command:
                    continue
                if rule.get("skip", 0) > 0:
                    rule["skip"] -= 1
                    continue
                if rule.get("probability") is not None and \
                        FAULT_RANDOM.random() >= rule["probability"]:
                    continue
                if rule.get("times") is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        st.faults.remove(rule)
                return rule
        return None

    def apply_fault(self, rule):
        action = rule["action"]
        if action == "respond":
            if "body_b64" in rule:
                body = base64.b64decode(rule["body_b64"])
            else:
                body = str(rule.get("body", "")).encode("utf-8")
            headers = []
            for k, v in (rule.get("headers") or {}).items():
                if k.lower() == "content-length":
                    continue
                if k.lower() == "connection" and str(v).lower() == "close":
                    self.close_connection = True
                    continue
                headers.append((k, v))
            self.send_raw(int(rule.get("status", 200)), body, headers)
        elif action == "hang":
            self.hang(float(rule.get("seconds", 120)))
        elif action == "reset":
            status = int(rule.get("status", 200))
            self.close_connection = True
            self.send_raw(status, b'{"data":[{', (("Content-Type", "application/json"),),
                          content_length=1000)
            self.abort_connection()
        elif action == "truncate":
            status = int(rule.get("status", 200))
            body = str(rule.get("body", '{"data":[{"id":"d0000000')).encode("utf-8")
            self.close_connection = True
            self.send_raw(status, body, (("Content-Type", "application/json"),),
                          content_length=len(body) + int(rule.get("missing", 1000)))
        elif action == "huge":
            self.send_huge(int(rule.get("bytes", 10 * 1024 * 1024)))

    def hang(self, seconds):
        """Hold the request unanswered until timeout, client close or reset."""
        st = STATE
        gen = st.generation
        deadline = time.monotonic() + seconds
        conn = self.connection
        self.close_connection = True
        while st.generation == gen:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                r, _, _ = select.select([conn], [], [], min(left, 0.25))
                if r and not conn.recv(65536):
                    break
            except OSError:
                break

    def abort_connection(self):
        """Close the socket with an RST instead of a FIN."""
        time.sleep(0.05)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        self.connection.close()

    def send_huge(self, n):
        prefix, suffix = b'{"data":["', b'"]}'
        pad = n - len(prefix) - len(suffix)
        if pad < 0:
            prefix, suffix, pad = b"[]", b"", n - 2
            pad_byte = b" "
        else:
            pad_byte = b"x"
        self.close_connection = True
        self.send_raw(200, b"", (("Content-Type", "application/json"),),
                      content_length=max(n, 2), send_body=False)
        if self.command == "HEAD":
            return
        try:
            self.wfile.write(prefix)
            block = pad_byte * (1 << 20)
            while pad > 0:
                k = min(pad, len(block))
                self.wfile.write(block[:k] if k < len(block) else block)
                pad -= k
            self.wfile.write(suffix)
        except OSError:
            pass

    # -- shared API pieces -------------------------------------------------

    def rate_count(self, api):
        """Count a request in its API key's window; 429 beyond the limit when enforcing."""
        st = STATE
        now = time.time()
        with st.lock:
            limit, width = st.rl_limit, st.rl_window_s
            if limit <= 0:
                return
            window = int(now // width)
            if window != st.rl_window:
                st.rl_window = window
                for k in st.rl_count:
                    st.rl_count[k] = 0
            st.rl_count[api] += 1
            count = st.rl_count[api]
        reset = (window + 1) * width
        self.rl = (api, limit, max(0, limit - count), reset, now)
        if st.enforce and count > limit:
            if api == CHECKR_PREFIX:
                raise checkr_error(429, "Too many requests")
            raise kombo_error(429, "PLATFORM.RATE_LIMIT_EXCEEDED", "Rate limit exceeded.",
                              "You have exceeded the rate limit.", self.entry.seq)

    def rate_headers(self, api):
        if self.rl is None or self.rl[0] != api:
            return ()
        _, limit, remaining, reset, now = self.rl
        if api == CHECKR_PREFIX:
            return (("X-Ratelimit-Limit", str(limit)),
                    ("X-Ratelimit-Remaining", str(remaining)),
                    ("X-Ratelimit-Reset", iso_utc(reset)))
        return (("ratelimit-limit", str(limit)),
                ("ratelimit-remaining", str(remaining)),
                ("ratelimit-reset", str(max(1, int(math.ceil(reset - now))))))

    def kombo_enter(self, integration):
        """Count a request in flight for integration; 429 beyond the limit when enforcing."""
        st = STATE
        with st.lock:
            n = st.inflight.get(integration, 0)
            if st.enforce and n >= st.max_inflight:
                self.concurrency_refused = True
            else:
                st.inflight[integration] = n + 1
                st.inflight_peak = max(st.inflight_peak, n + 1)
                self.concurrency_refused = False
                return
        raise Reply(429, {"status": "error", "error": {
            "code": "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED", "title": "Concurrency limit exceeded.",
            "message": "More than %d requests are in flight for this integration."
                       % st.max_inflight,
            "log_url": "https://app.kombo.dev/mock/logs?interactionId=%d" % self.entry.seq}})

    def kombo_leave(self, integration):
        st = STATE
        with st.lock:
            st.inflight[integration] = st.inflight.get(integration, 1) - 1

    def sleep_latency(self):
        lat = STATE.latency
        if lat > 0:
            time.sleep(lat)

    def request_fingerprint(self, body):
        """What a repeated Idempotency-Key must repeat: method, target and body content."""
        if self.multipart is not None:
            fields, files = self.multipart
            content = (sorted(fields.items()),
                       [(f["name"], f["filename"], f["content_type"],
                         hashlib.sha256(f["data"]).hexdigest()) for f in files])
        elif self.entry.json is not None:
            content = json.dumps(self.entry.json, sort_keys=True)
        else:
            content = hashlib.sha256(body).hexdigest()
        return (self.command, self.entry.raw_path, content)

    def idempotent(self, produce, body):
        """Run produce() -> (status, body bytes) under Idempotency-Key rules."""
        key = self.headers.get("Idempotency-Key")
        st = STATE
        if key is None:
            self.sleep_latency()
            return produce()
        request = self.request_fingerprint(body)
        with st.lock:
            if key in st.idem:
                saved = st.idem[key]
                if saved is None:
                    raise checkr_error(409, "A request with this idempotency key is already in progress")
                if saved[0] != request:
                    raise checkr_error(422, "Keys for idempotent requests can only be used "
                                            "with the same parameters they were first used with")
                return saved[1:]
            st.idem[key] = None
            gen = st.generation
        ok = False
        try:
            self.sleep_latency()
            status, body = produce()
            ok = 200 <= status < 300
            return status, body
        finally:
            with st.lock:
                if st.generation != gen:
                    pass            # the store was reset meanwhile
                elif ok:
                    st.idem[key] = (request, status, body)
                elif st.idem.get(key, 0) is None:
                    del st.idem[key]

    # -- Checkr ----------------------------------------------------------------

    def checkr(self, segs, query, body, override):
        if self.headers.get("Authorization", "") != CHECKR_AUTH:
            auth = self.headers.get("Authorization", "")
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() != "basic" or "Basic " + cred.strip() != CHECKR_AUTH:
                self.sleep_latency()
                raise checkr_error(401, "Bad authentication error")
        if not self.headers.get("User-Agent"):
            self.sleep_latency()
            raise checkr_error(403, "Request blocked")
        n = len(segs)
        if n == 6 and segs[2] == API_VERSION and segs[3] == "candidates" \
                and segs[5] == "documents" and segs[4]:
            if self.command in ("GET", "HEAD"):
                self.sleep_latency()
                body = self.checkr_list(segs[4], query, override)
                self.send_json(200, body, self.rate_headers(CHECKR_PREFIX))
                return
            if self.command == "POST":
                status, out = self.idempotent(lambda: self.checkr_upload(segs[4], body), body)
                self.send_json(status, out, self.rate_headers(CHECKR_PREFIX))
                return
        if n == 6 and segs[2] == API_VERSION and segs[3] == "reports" \
                and segs[5] == "candidate_stories" and segs[4] and self.command == "POST":
            status, out = self.idempotent(lambda: self.checkr_story(segs[4], body), body)
            self.send_json(status, out, self.rate_headers(CHECKR_PREFIX))
            return
        self.sleep_latency()
        raise checkr_error(404, "Not found")

    @staticmethod
    def int_param(query, name, default, lo, hi):
        vals = query.get(name)
        if not vals:
            return default
        v = vals[0].strip()
        if not (v.isdigit() or (v[:1] in "+-" and v[1:].isdigit())):
            raise checkr_error(400, "%s is invalid" % name)
        iv = int(v)
        if iv < lo or (hi is not None and iv > hi):
            raise checkr_error(400, "%s is invalid" % name)
        return iv

    def checkr_list(self, cid, query, override):
        if cid.startswith("missing"):
            raise checkr_error(404, "Candidate not found")
        per_page = self.int_param(query, "per_page", 25, 0, 100)
        page = self.int_param(query, "page", 1, 1, None)
        types = query.get("types[]")
        types = tuple(types) if types else None
        if types and not CHECKR_DOCUMENT_TYPES.issuperset(types):
            raise checkr_error(400, "types[] does not have a valid value")
        st = STATE
        fh = st.files_host
        extra = st.uploaded_by_cand.get(cid)
        if extra is None and override is None:
            return checkr_page_cached(cid, fh, types, page, per_page, st.href_origin)
        docs = checkr_filtered_docs(cid, fh, types)
        if extra:
            wanted = None if types is None else frozenset(types)
            docs = docs + tuple(j for t, j in list(extra) if wanted is None or t in wanted)
        return checkr_list_body(cid, docs, types, page, per_page, override, st.href_origin)

    def checkr_upload(self, cid, body):
        if cid.startswith("missing"):
            return 404, {"error": "Candidate not found"}
        ctype = self.headers.get("Content-Type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            return 400, {"error": "Content-Type must be multipart/form-data"}
        parsed = self.multipart
        if parsed is None:
            parsed = parse_multipart(body, ctype)
        if parsed is None:
            return 400, {"error": "Malformed multipart body"}
        fields, files = parsed
        dtype = fields.get("type")
        if not dtype:
            return 400, {"error": "type is missing"}
        if dtype not in CHECKR_DOCUMENT_TYPES:
            return 400, {"error": "type does not have a valid value"}
        fparts = [f for f in files if f["name"] == "file"]
        if not fparts:
            return 400, {"error": "file is missing"}
        fpart = fparts[0]
        fct = fpart["content_type"].split(";", 1)[0].strip().lower()
        if fct not in CHECKR_UPLOAD_TYPES:
            return 400, {"error": "File content type %s is not supported" % (fct or "(none)")}
        st = STATE
        doc_id = new_hex_id()
        doc = {"id": doc_id, "object": "document", "type": dtype,
               "created_at": iso_utc(time.time()),
               "download_uri": st.base_url(st.files_host) + "/files/checkr/" + doc_id,
               "filesize": len(fpart["data"]), "filename": fpart["filename"],
               "content_type": fct}
        out = dumps(doc).encode()
        with st.lock:
            st.uploads[doc_id] = (fct, fpart["data"])
            st.uploaded_by_cand.setdefault(cid, []).append((dtype, out.decode()))
            st.documents_created += 1
        return 200, out

    def checkr_story(self, report_id, body):
        if report_id.startswith("missing"):
            return 404, {"error": "Report not found"}
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            return 400, {"error": "Content-Type must be application/json"}
        try:
            req = json.loads(body)
        except ValueError:
            return 400, {"error": "Request body is not valid JSON"}
        if not isinstance(req, dict):
            return 400, {"error": "Request body must be a JSON object"}
        content = req.get("content")
        if not isinstance(content, str) or not content:
            return 400, {"error": "content is missing"}
        docs = req.get("documents")
        if not isinstance(docs, list):
            return 400, {"error": "documents is missing"}
        for d in docs:
            if not (isinstance(d, dict) and isinstance(d.get("filename"), str)
                    and isinstance(d.get("tempfile"), str)
                    and d.get("type") in CHECKR_UPLOAD_TYPES):
                return 400, {"error": "documents is invalid"}
        record = req.get("record_id")
        if record is not None and not isinstance(record, str):
            return 400, {"error": "record_id is invalid"}
        if report_id.startswith("limit"):
            return 400, {"error": "Candidate stories limit exceeded"}
        sid = new_hex_id()
        story = {"id": sid, "object": "candidate_story",
                 "uri": "/v1/candidate_stories/" + sid, "report_id": report_id,
                 "record": record, "content": content,
                 "created_at": iso_utc(time.time()), "documents": docs}
        st = STATE
        with st.lock:
            st.stories_created += 1
        return 200, dumps(story).encode()

    # -- Kombo -------------------------------------------------------------------

    def kombo(self, segs, query, override):
        seq = self.entry.seq
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != KOMBO_TOKEN:
            self.sleep_latency()
            raise kombo_error(401, "PLATFORM.AUTHENTICATION_INVALID",
                              "The provided API key is invalid.",
                              "The API key in the Authorization header is missing or invalid.",
                              seq)
        integration = self.headers.get("X-Integration-Id")
        if not integration:
            self.sleep_latency()
            raise kombo_error(400, "PLATFORM.INPUT_INVALID", "Invalid input.",
                              "The X-Integration-Id header is missing.", seq)
        if (integration not in KOMBO_INTEGRATIONS
                and integration not in STATE.extra_integrations):
            self.sleep_latency()
            raise kombo_error(404, "PLATFORM.INTEGRATION_NOT_FOUND",
                              "The integration was not found.",
                              "No integration with ID \"%s\" exists." % integration, seq)
        self.kombo_enter(integration)
        try:
            self.kombo_list(segs, query, override, seq, integration)
        finally:
            self.kombo_leave(integration)

    def kombo_list(self, segs, query, override, seq, integration):
        self.sleep_latency()
        if not (len(segs) == 7 and segs[2] == API_VERSION and segs[3] == "ats"
                and segs[4] == "candidates" and segs[6] == "attachments" and segs[5]
                and self.command in ("GET", "HEAD")):
            raise kombo_error(404, None, None, "Route not found.", seq)
        cid = segs[5]
        if cid.startswith("missing"):
            raise Reply(404, {"status": "error", "error": {
                "code": None, "title": None, "message": "Candidate not found",
                "log_url": None}})
        offset = 0
        cursors = query.get("cursor")
        if cursors is not None:
            offset = kombo_parse_cursor(cursors[0])
        fh = STATE.files_host
        if offset is not None and offset > 0:
            if offset >= len(kombo_attachments(integration, cid, fh)):
                offset = None
        if offset is None:
            raise kombo_error(400, "PLATFORM.INPUT_INVALID", "Invalid input.",
                              "The cursor is invalid.", seq)
        if override is None:
            body = kombo_page_cached(integration, cid, fh, offset)
        else:
            items = kombo_attachments(integration, cid, fh)
            warnings = KOMBO_EXAMPLE_WARNINGS if cid == KOMBO_EXAMPLE_CANDIDATE else []
            body = kombo_list_body(items, offset, warnings, override)
        self.send_json(200, body, self.rate_headers(KOMBO_PREFIX))

    # -- files -------------------------------------------------------------

    def files(self, segs):
        if len(segs) != 4 or self.command not in ("GET", "HEAD"):
            raise checkr_error(404, "Not found")
        st = STATE
        kind, fid = segs[2], segs[3]
        if kind == "checkr":
            up = st.uploads.get(fid)
            if up is not None:
                ctype, data = up
            else:
                meta = st.checkr_files.get(fid)
                if meta is None:
                    raise checkr_error(404, "File not found")
                ctype, data = meta[0], cached_file_bytes(fid, meta[0], meta[1])
        elif kind == "kombo":
            ctype = st.kombo_files.get(fid)
            if ctype is None:
                raise checkr_error(404, "File not found")
            data = cached_file_bytes(fid, ctype, KOMBO_FILE_SIZE)
        else:
            raise checkr_error(404, "Not found")
        self.send_raw(200, data, (("Content-Type", ctype),))

    # -- control endpoints -------------------------------------------------

    def control(self, segs, qs, body):
        st = STATE
        name = segs[2] if len(segs) > 2 else ""
        cmd = self.command
        try:
            req = json.loads(body) if body else None
        except ValueError:
            self.send_json(400, {"error": "invalid JSON"})
            return
        if name == "requests" and cmd == "GET":
            since = 0
            q = parse_qs(qs)
            if "since" in q:
                try:
                    since = int(q["since"][0])
                except ValueError:
                    self.send_json(400, {"error": "since is invalid"})
                    return
            with st.lock:
                entries = [e for e in st.log if e.seq > since]
            out = dumps([e.as_dict() for e in entries]).encode()
            self.send_json(200, out)
        elif name == "reset" and cmd == "POST":
            with st.lock:
                st.reset_locked()
            self.send_json(200, {"ok": True})
        elif name == "config" and cmd == "POST":
            if not isinstance(req, dict):
                self.send_json(400, {"error": "expected a JSON object"})
                return
            with st.lock:
                if "latency_ms" in req:
                    st.latency = max(0.0, float(req["latency_ms"])) / 1000.0
                if "files_host" in req:
                    st.files_host = str(req["files_host"]) or st.host
                if "href_origin" in req:
                    st.href_origin = str(req["href_origin"]).rstrip("/")
                if "integrations" in req:
                    st.extra_integrations = frozenset(str(i) for i in req["integrations"])
                if "rate_limit" in req:
                    st.rl_limit = int(req["rate_limit"])
                if "rate_window" in req:
                    st.rl_window_s = max(1, int(req["rate_window"]))
                if "max_inflight" in req:
                    st.max_inflight = int(req["max_inflight"])
                if "enforce_limits" in req:
                    st.enforce = bool(req["enforce_limits"])
            out = {"latency_ms": st.latency * 1000.0, "files_host": st.files_host,
                   "href_origin": st.href_origin}
            limits = {"rate_limit": st.rl_limit, "rate_window": st.rl_window_s,
                      "max_inflight": st.max_inflight, "enforce_limits": st.enforce}
            out.update((k, v) for k, v in limits.items() if k in req)
            self.send_json(200, out)
        elif name == "stats" and cmd == "GET":
            with st.lock:
                out = {"requests": len(st.log), "stories_created": st.stories_created,
                       "documents_created": st.documents_created,
                       "kombo_inflight_peak": st.inflight_peak,
                       "max_inflight": st.answering_peak,
                       "by_path": dict(st.by_path)}
            self.send_json(200, out)
        elif name == "faults" and cmd == "POST":
            rules = [normalize_rule(r) for r in (req if isinstance(req, list) else [req])]
            if None in rules:
                self.send_json(400, {"error": "a rule needs path_contains and an action "
                                              "among " + ", ".join(FAULT_ACTIONS)})
                return
            with st.lock:
                st.faults.extend(rules)
                n = len(st.faults)
            self.send_json(200, {"ok": True, "rules": n})
        elif name == "faults" and cmd == "GET":
            with st.lock:
                out = dumps(st.faults).encode()
            self.send_json(200, out)
        elif name == "faults" and cmd == "DELETE":
            with st.lock:
                st.faults = []
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "Not found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def start_tls(args):
    """A second listener, HTTPS, with the same state, log and faults."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    tls = Server((args.host, 0), Handler)
    # the handshake happens in the handler's thread (a refused one just
    # closes that connection)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True,
                                 do_handshake_on_connect=False)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    if args.tls_port_file:
        tmp = "%s.tmp.%d" % (args.tls_port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % tls.server_address[1])
        os.replace(tmp, args.tls_port_file)


def main():
    global STATE
    ap = argparse.ArgumentParser(description="Mock Checkr/Kombo API server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--rate-limit", type=int, default=RATE_LIMIT)
    ap.add_argument("--rate-window", type=int, default=60)
    ap.add_argument("--max-inflight", type=int, default=30)
    ap.add_argument("--enforce-limits", action="store_true")
    ap.add_argument("--tls-cert", help="also serve HTTPS with this PEM certificate")
    ap.add_argument("--tls-key", help="the certificate's PEM key")
    ap.add_argument("--tls-port-file", help="where to write the HTTPS port")
    args = ap.parse_args()

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    server = Server((args.host, args.port), Handler)
    port = server.server_address[1]
    STATE = State(args.host, port, args.latency_ms,
                  (args.rate_limit, max(1, args.rate_window), args.max_inflight,
                   args.enforce_limits))
    for cid in CHECKR_FIXED:
        checkr_base_docs(cid, args.host)
    for integration, cid in KOMBO_FIXED:
        kombo_attachments(integration, cid, args.host)

    if args.tls_cert:
        start_tls(args)
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    try:
        sys.stdout.write("%d\n" % port)
        sys.stdout.flush()
    except OSError:
        pass
    try:
        server.serve_forever(poll_interval=0.5)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
