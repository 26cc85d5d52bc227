#!/usr/bin/env bash
# Exercises every route of test/mock_api.py with curl; exits non-zero on any failure.
#
# Usage: test/mock_selftest.sh

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
MOCK_PID=
FAILS=0
PASSES=0

cleanup() {
    if [ -n "$MOCK_PID" ] && kill -0 "$MOCK_PID" 2>/dev/null; then
        kill -TERM "$MOCK_PID" 2>/dev/null
        wait "$MOCK_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

python3 "$HERE/mock_api.py" --port 0 --port-file "$T/port" >"$T/stdout" 2>"$T/stderr" &
MOCK_PID=$!
for _ in $(seq 100); do
    [ -s "$T/port" ] && break
    sleep 0.05
done
if [ ! -s "$T/port" ]; then
    echo "mock did not start"; cat "$T/stderr"; exit 1
fi
PORT=$(cat "$T/port")
B="http://127.0.0.1:$PORT"
CK=(-u test_checkr_key: -A mock-selftest)
KO=(-H "Authorization: Bearer test_kombo_key" -H "X-Integration-Id: workday:HWUTwvyx2wLoSUHphiWVrp28")
KG=(-H "Authorization: Bearer test_kombo_key" -H "X-Integration-Id: greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ")

ok()   { PASSES=$((PASSES + 1)); }
bad()  { FAILS=$((FAILS + 1)); echo "FAIL: $*"; }

# eq NAME ACTUAL EXPECTED
eq() {
    if [ "$2" == "$3" ]; then ok; else bad "$1: got [$2], expected [$3]"; fi
}

# req ARGS... : request with body in $T/body, headers in $T/hdr; prints the status
req() {
    curl -sS -g -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@" 2>"$T/curlerr"
}

# pj EXPR [FILE]: evaluate a Python expression over the JSON document d
pj() {
    python3 - "$1" "${2:-$T/body}" <<'PY'
import json, sys
d = json.load(open(sys.argv[2], "rb"))
v = eval(sys.argv[1])
print(json.dumps(v) if not isinstance(v, str) else v)
PY
}

hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

ctl() { curl -sS -o "$T/ctl" -w '%{http_code}' -X "$1" "$B/_mock/$2" ${3:+-H "Content-Type: application/json" --data-binary "$3"}; }

fault() { eq "add fault $1" "$(ctl POST faults "$1")" 200; }

echo "mock on port $PORT"
eq "stdout port" "$(head -1 "$T/stdout")" "$PORT"

########## Checkr auth
C1="$B/checkr/v1/candidates/e44aa283528e6fde7d542194/documents"
eq "checkr no auth" "$(req -A x "$C1")" 401
eq "checkr no auth body" "$(pj 'd["error"]')" "Bad authentication error"
eq "checkr wrong key" "$(req -u wrong: -A x "$C1")" 401
eq "checkr no user-agent" "$(req -u test_checkr_key: -H 'User-Agent:' "$C1")" 403
eq "checkr no user-agent body" "$(pj 'd["error"]')" "Request blocked"

########## Checkr list, fixed candidates
eq "checkr list" "$(req "${CK[@]}" "$C1")" 200
eq "checkr list count" "$(pj 'd["count"]')" 3
eq "checkr list ids" "$(pj '[x["id"] for x in d["data"]]')" '["d0000000000000000000aa01", "d0000000000000000000aa02", "d0000000000000000000aa03"]'
eq "checkr list envelope" "$(pj '[d["object"], d["next_href"], d["previous_href"]]')" '["list", null, null]'
eq "checkr doc 1" "$(pj 'd["data"][0]')" "{\"id\": \"d0000000000000000000aa01\", \"object\": \"document\", \"type\": \"driver_license\", \"created_at\": \"2015-02-11T20:01:50Z\", \"download_uri\": \"$B/files/checkr/d0000000000000000000aa01\", \"filesize\": 8576, \"filename\": \"1423684910_candidate_driver_license.jpg\", \"content_type\": \"image/jpeg\"}"
eq "checkr locale" "$(pj '[x.get("locale") for x in d["data"]]')" '[null, null, "en_US"]'
eq "ratelimit limit" "$(hdr X-Ratelimit-Limit)" 1200
if [[ "$(hdr X-Ratelimit-Remaining)" =~ ^[0-9]+$ ]]; then ok; else bad "X-Ratelimit-Remaining"; fi
if [[ "$(hdr X-Ratelimit-Reset)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]; then ok; else bad "X-Ratelimit-Reset"; fi
eq "checkr types[] filter" "$(req "${CK[@]}" "$C1?types%5B%5D=consent&types[]=ssn_card")" 200
eq "checkr types[] result" "$(pj '[d["count"], sorted(x["type"] for x in d["data"])]')" '[2, ["consent", "ssn_card"]]'
eq "checkr 5f1c" "$(req "${CK[@]}" "$B/checkr/v1/candidates/5f1c2e3a4b5c6d7e8f901234/documents")" 200
eq "checkr 5f1c docs" "$(pj '[(x["id"], x["type"], x["filesize"]) for x in d["data"]]')" '[["d0000000000000000000bb01", "passport", 4096], ["d0000000000000000000bb02", "driver_license", 1000]]'
eq "checkr empty" "$(req "${CK[@]}" "$B/checkr/v1/candidates/empty0000000000000000000/documents")" 200
eq "checkr empty body" "$(pj '[d["data"], d["count"]]')" '[[], 0]'
eq "checkr missing" "$(req "${CK[@]}" "$B/checkr/v1/candidates/missing123/documents")" 404
eq "checkr missing body" "$(pj 'd')" '{"error": "Candidate not found"}'
eq "checkr per_page 101" "$(req "${CK[@]}" "$C1?per_page=101")" 400
eq "checkr per_page body" "$(pj 'd["error"]')" "per_page is invalid"
eq "checkr per_page x" "$(req "${CK[@]}" "$C1?per_page=x")" 400
eq "checkr page 0" "$(req "${CK[@]}" "$C1?page=0")" 400
eq "checkr unknown route" "$(req "${CK[@]}" "$B/checkr/v1/nothing")" 404
eq "checkr unknown route body" "$(pj 'd["error"]')" "Not found"
eq "checkr types[] outside the spec's list" "$(req "${CK[@]}" "$C1?types%5B%5D=consent&types[]=pdf_report")" 400
eq "checkr types[] outside body" "$(pj 'd["error"]')" "types[] does not have a valid value"
eq "no API version: a web server's 404" "$(req "${CK[@]}" "$B/checkr/candidates/e44aa283528e6fde7d542194/documents")" 404
eq "web server's 404 is HTML" "$(head -c 15 "$T/body")" "<!DOCTYPE html>"
eq "unknown top path: a web server's 404" "$(req "$B/nothing")" 404

########## Checkr paging via next_href
follow_checkr() {  # URL -> prints "pages ids_total unique_ids types"
    local url=$1 pages=0
    : >"$T/ids"; : >"$T/types"
    while [ "$url" != "null" ]; do
        [ "$(req "${CK[@]}" "$url")" == 200 ] || { echo "status-error"; return; }
        pj '"\n".join(x["id"] for x in d["data"])' >>"$T/ids"
        pj '"\n".join(x["type"] for x in d["data"])' >>"$T/types"
        if [ $pages -ge 1 ]; then
            [ "$(pj 'd["previous_href"] is not None')" == true ] || { echo "no-previous"; return; }
        fi
        url=$(pj 'd["next_href"] if d["next_href"] is not None else "null"')
        pages=$((pages + 1))
        [ $pages -gt 50 ] && { echo "loop"; return; }
    done
    echo "$pages $(grep -c . "$T/ids") $(sort -u "$T/ids" | grep -c .) $(sort -u "$T/types" | grep . | tr '\n' ',')"
}
eq "checkr paging many-250" "$(follow_checkr "$B/checkr/v1/candidates/many-250/documents?per_page=100")" "3 250 250 consent,driver_license,passport,pdf_report,ssn_card,"
eq "checkr paging first next_href" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-250/documents?per_page=100" >/dev/null; pj 'd["next_href"]')" "$B/checkr/v1/candidates/many-250/documents?page=2&per_page=100"
eq "checkr paging with types[]" "$(follow_checkr "$B/checkr/v1/candidates/many-250/documents?per_page=20&types%5B%5D=consent")" "3 50 50 consent,"
req "${CK[@]}" "$B/checkr/v1/candidates/many-250/documents?per_page=20&types%5B%5D=consent" >/dev/null
eq "checkr next_href keeps types[]" "$(pj 'd["next_href"]')" "$B/checkr/v1/candidates/many-250/documents?page=2&per_page=20&types%5B%5D=consent"
eq "checkr default per_page" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-60/documents" ; pj 'len(d["data"])')" "20025"
eq "checkr many-50000" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-50000/documents?per_page=100&page=500")" 200
eq "checkr many-50000 last page" "$(pj '[d["count"], len(d["data"]), d["next_href"]]')" '[50000, 100, null]'

########## odd ids: percent-encoded segment, generated docs, encoded next_href
read -r ODD_ENC ODD_N ODD_DOC1 < <(python3 -c '
import hashlib, urllib.parse
odd = "we/ird?id#%x y\r\n\u00e9"
print(urllib.parse.quote(odd, safe=""), 1 + hashlib.sha256(odd.encode()).digest()[0] % 3,
      hashlib.sha256((odd + ":1").encode()).hexdigest()[:24])')
eq "checkr odd id" "$(req "${CK[@]}" "$B/checkr/v1/candidates/$ODD_ENC/documents?per_page=1")" 200
eq "checkr odd id count" "$(pj 'd["count"]')" "$ODD_N"
if [ "$ODD_N" -gt 1 ]; then
    eq "checkr odd id next_href" "$(pj 'd["next_href"]')" "$B/checkr/v1/candidates/$ODD_ENC/documents?page=2&per_page=1"
fi
GEN_DOC=$(pj 'd["data"][0]["id"]')
if [[ "$GEN_DOC" =~ ^[0-9a-f]{24}$ ]]; then ok; else bad "generated doc id [$GEN_DOC]"; fi
eq "generated doc id scheme" "$GEN_DOC" "$ODD_DOC1"
eq "generated list deterministic" "$(req "${CK[@]}" "$B/checkr/v1/candidates/$ODD_ENC/documents?per_page=1"; pj 'd["data"][0]["id"]')" "200$GEN_DOC"
eq "generated file" "$(curl -sS -o "$T/gen" -w '%{http_code} %{size_download}' "$B/files/checkr/$GEN_DOC")" "200 $(req "${CK[@]}" "$B/checkr/v1/candidates/$ODD_ENC/documents?per_page=1" >/dev/null; pj 'd["data"][0]["filesize"]')"

########## Kombo
K1="$B/kombo/v1/ats/candidates/BTbkvY2w5ou3z3hdwuKcKzDh/attachments"
eq "kombo no auth" "$(req -H "X-Integration-Id: workday:HWUTwvyx2wLoSUHphiWVrp28" "$K1")" 401
eq "kombo no auth code" "$(pj '[d["status"], d["error"]["code"]]')" '["error", "PLATFORM.AUTHENTICATION_INVALID"]'
if [[ "$(pj 'd["error"]["log_url"]')" == https://app.kombo.dev/mock/logs?interactionId=* ]]; then ok; else bad "kombo log_url"; fi
eq "kombo no integration" "$(req -H "Authorization: Bearer test_kombo_key" "$K1")" 400
eq "kombo no integration code" "$(pj 'd["error"]["code"]')" PLATFORM.INPUT_INVALID
eq "kombo unknown integration" "$(req -H "Authorization: Bearer test_kombo_key" -H "X-Integration-Id: nope:1" "$K1")" 404
eq "kombo unknown integration code" "$(pj 'd["error"]["code"]')" PLATFORM.INTEGRATION_NOT_FOUND
eq "kombo example" "$(req "${KO[@]}" "$K1")" 200
eq "kombo example first" "$(pj 'd["data"]["results"][0]')" "{\"id\": \"EYJjhMQT3LtVKXnTbnRT8s6U\", \"application_id\": null, \"candidate_id\": \"BTbkvY2w5ou3z3hdwuKcKzDh\", \"type\": \"CV\", \"remote_id\": \"GUzE666zfyjeoCJX6A8n7wh6\", \"data_url\": \"$B/files/kombo/EYJjhMQT3LtVKXnTbnRT8s6U\", \"file_name\": \"Frank Doe CV.pdf\", \"content_type\": \"application/pdf\", \"remote_created_at\": null, \"remote_updated_at\": null}"
eq "kombo example second" "$(pj '[d["data"]["results"][1][k] for k in ("id", "application_id", "type", "remote_created_at")]')" '["Q2m3n4p5q6r7s8t9u1v2w3x4", "A1b2c3d4e5f6g7h8i9j1k2m3", "COVER_LETTER", "2024-01-15T09:30:00.000Z"]'
eq "kombo example envelope" "$(pj '[d["status"], "next" in d["data"], d["data"]["next"], d["warnings"]]')" '["success", true, null, [{"message": "This is an example warning!"}]]'
if [ -n "$(hdr ratelimit-limit)" ] && [ -n "$(hdr ratelimit-remaining)" ] && [[ "$(hdr ratelimit-reset)" =~ ^[0-9]+$ ]]; then ok; else bad "kombo ratelimit headers"; fi
eq "kombo greenhouse" "$(req "${KG[@]}" "$K1")" 200
eq "kombo greenhouse result" "$(pj '[(x["id"], x["type"], x["file_name"]) for x in d["data"]["results"]]')" '[["G1h2j3k4m5n6p7q8r9s1t2u3", "OTHER", "portfolio.pdf"]]'
eq "kombo missing" "$(req "${KO[@]}" "$B/kombo/v1/ats/candidates/missingX/attachments")" 404
eq "kombo missing body" "$(pj 'd')" '{"status": "error", "error": {"code": null, "title": null, "message": "Candidate not found", "log_url": null}}'
eq "kombo bad cursor" "$(req "${KO[@]}" "$B/kombo/v1/ats/candidates/many-250/attachments?cursor=garbage")" 400
eq "kombo bad cursor code" "$(pj 'd["error"]["code"]')" PLATFORM.INPUT_INVALID
eq "kombo generic" "$(req "${KO[@]}" "$B/kombo/v1/ats/candidates/AAAAbbbbCCCCddddEEEEffff/attachments")" 200
eq "kombo generic shape" "$(pj 'all(len(x["id"]) == 24 and set(x["id"]) <= set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") and x["type"] in ("CV", "COVER_LETTER", "OTHER") and x["candidate_id"] == "AAAAbbbbCCCCddddEEEEffff" for x in d["data"]["results"]) and 1 <= len(d["data"]["results"]) <= 3 and d["warnings"] == []')" true
KFILE=$(pj 'd["data"]["results"][0]["data_url"]')
eq "kombo generated file" "$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$KFILE")" "200 2048"

URL="$B/kombo/v1/ats/candidates/many-250/attachments"; PAGES=0; : >"$T/kids"; SIZES=
while :; do
    [ "$(req "${KO[@]}" "$URL")" == 200 ] || { bad "kombo paging status"; break; }
    pj '"\n".join(x["id"] for x in d["data"]["results"])' >>"$T/kids"
    SIZES="$SIZES$(pj 'len(d["data"]["results"])'),"
    NEXT=$(pj 'd["data"]["next"] if d["data"]["next"] is not None else "null"')
    PAGES=$((PAGES + 1))
    [ "$NEXT" == null ] && break
    [ $PAGES -gt 10 ] && { bad "kombo paging loop"; break; }
    URL="$B/kombo/v1/ats/candidates/many-250/attachments?cursor=$NEXT"
done
eq "kombo cursor paging" "$PAGES $SIZES $(sort -u "$T/kids" | grep -c .)" "3 100,100,50, 250"

########## Files
eq "file checkr fixed" "$(curl -sS -o "$T/f" -D "$T/hdr" -w '%{http_code} %{size_download}' "$B/files/checkr/d0000000000000000000aa01")" "200 8576"
eq "file checkr magic" "$(head -c 3 "$T/f" | od -An -tx1 | tr -d ' ')" ffd8ff
eq "file checkr content-type" "$(hdr Content-Type)" image/jpeg
eq "file checkr png" "$(curl -sS "$B/files/checkr/d0000000000000000000aa03" | head -c 8 | od -An -tx1 | tr -d ' ')" 89504e470d0a1a0a
eq "file checkr pdf" "$(curl -sS "$B/files/checkr/d0000000000000000000aa02" | head -c 8)" "%PDF-1.4"
eq "file deterministic" "$(curl -sS "$B/files/checkr/d0000000000000000000aa01" | sha256sum | cut -c1-64)" "$(sha256sum <"$T/f" | cut -c1-64)"
eq "file kombo" "$(curl -sS -o "$T/f" -w '%{http_code} %{size_download}' "$B/files/kombo/EYJjhMQT3LtVKXnTbnRT8s6U")" "200 2048"
eq "file kombo pdf" "$(head -c 8 "$T/f")" "%PDF-1.4"
eq "file unknown" "$(req "$B/files/checkr/ffffffffffffffffffffffff")" 404
eq "file second host" "$(curl -sS -o /dev/null -w '%{http_code}' "http://localhost:$PORT/files/checkr/d0000000000000000000aa01")" 200
eq "file log host" "$(curl -sS "$B/_mock/requests" -o "$T/log"; pj '[e["headers"].get("host") for e in d if e["path"].startswith("/files/")][-1]' "$T/log")" "localhost:$PORT"
eq "file log no auth" "$(pj '"authorization" in [e for e in d if e["path"].startswith("/files/")][-1]["headers"]' "$T/log")" false

########## Upload + download roundtrip
head -c 3000000 /dev/urandom >"$T/up.bin"
printf '%%PDF-1.4\n' | cat - "$T/up.bin" >"$T/up.pdf"
UP_SHA=$(sha256sum <"$T/up.pdf" | cut -c1-64)
CU="$B/checkr/v1/candidates/e44aa283528e6fde7d542194/documents"
eq "upload" "$(req "${CK[@]}" -F type=driver_license -F "file=@$T/up.pdf;type=application/pdf;filename=scan.pdf" "$CU")" 200
eq "upload doc" "$(pj '[d["object"], d["type"], d["filename"], d["content_type"], d["filesize"]]')" "[\"document\", \"driver_license\", \"scan.pdf\", \"application/pdf\", $(stat -c %s "$T/up.pdf")]"
UP_ID=$(pj 'd["id"]'); UP_URI=$(pj 'd["download_uri"]')
if [[ "$UP_ID" =~ ^[0-9a-f]{24}$ ]]; then ok; else bad "upload id [$UP_ID]"; fi
if [[ "$(pj 'd["created_at"]')" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]; then ok; else bad "upload created_at"; fi
eq "upload download_uri" "$UP_URI" "$B/files/checkr/$UP_ID"
eq "download roundtrip" "$(curl -sS "$UP_URI" | sha256sum | cut -c1-64)" "$UP_SHA"
eq "upload listed" "$(req "${CK[@]}" "$C1"; pj '[d["count"], d["data"][-1]["id"]]')" "200[4, \"$UP_ID\"]"
eq "upload listed filtered out" "$(req "${CK[@]}" "$C1?types[]=consent"; pj 'd["count"]')" "2001"
curl -sS "$B/_mock/requests" -o "$T/log"
eq "upload logged multipart" "$(pj '[e["multipart"] for e in d if e["method"] == "POST"][-1]["fields"]' "$T/log")" '{"type": "driver_license"}'
eq "upload logged file" "$(pj '[(f["name"], f["content_type"], f["len"], f["sha256"]) for f in [e["multipart"] for e in d if e["method"] == "POST"][-1]["files"]]' "$T/log")" "[[\"file\", \"application/pdf\", $(stat -c %s "$T/up.pdf"), \"$UP_SHA\"]]"
eq "upload bad content type" "$(req "${CK[@]}" -F type=x -F "file=@$T/up.pdf;type=text/plain" "$CU")" 400
eq "upload no type" "$(req "${CK[@]}" -F "file=@$T/up.pdf;type=image/png" "$CU")" 400
eq "upload type outside the spec's list" "$(req "${CK[@]}" -F type=pdf_report -F "file=@$T/up.pdf;type=application/pdf" "$CU")" 400
eq "upload type outside body" "$(pj 'd["error"]')" "type does not have a valid value"
eq "upload no file" "$(req "${CK[@]}" -F type=passport "$CU")" 400
eq "upload missing candidate" "$(req "${CK[@]}" -F type=passport -F "file=@$T/up.pdf;type=application/pdf" "$B/checkr/v1/candidates/missing1/documents")" 404
eq "upload no auth" "$(req -A x -F type=passport -F "file=@$T/up.pdf;type=application/pdf" "$CU")" 401
eq "upload idempotent" "$(req "${CK[@]}" -H "Idempotency-Key: up-1" -F type=passport -F "file=@$T/up.pdf;type=image/jpg" "$CU"; pj 'd["id"]')" "$(req "${CK[@]}" -H "Idempotency-Key: up-1" -F type=passport -F "file=@$T/up.pdf;type=image/jpg" "$CU"; pj 'd["id"]')"
eq "upload idem other type" "$(req "${CK[@]}" -H "Idempotency-Key: up-1" -F type=consent -F "file=@$T/up.pdf;type=image/jpg" "$CU")" 422
eq "upload idem other file" "$(req "${CK[@]}" -H "Idempotency-Key: up-1" -F type=passport -F "file=@$T/up.bin;type=image/jpg;filename=up.pdf" "$CU")" 422
eq "documents_created" "$(ctl GET stats >/dev/null; pj 'd["documents_created"]' "$T/ctl")" 2

########## Candidate stories + idempotency
S="$B/checkr/v1/reports/af3393b7d751206c7c67b6e5/candidate_stories"
STORY='{"content":"Since my case, I have received certifications","documents":[{"filename":"evidence.pdf","tempfile":"https://tempfilebucket.example.com/abc","type":"application/pdf"}],"record_id":"af3393b7d751206c7c67b6e5"}'
JS=(-H "Content-Type: application/json")
eq "story" "$(req "${CK[@]}" "${JS[@]}" --data-binary "$STORY" "$S")" 200
eq "story body" "$(pj '[d["object"], d["uri"] == "/v1/candidate_stories/" + d["id"], d["report_id"], d["record"], d["content"], d["documents"][0]["filename"]]')" '["candidate_story", true, "af3393b7d751206c7c67b6e5", "af3393b7d751206c7c67b6e5", "Since my case, I have received certifications", "evidence.pdf"]'
eq "story no record" "$(req "${CK[@]}" "${JS[@]}" --data-binary '{"content":"c","documents":[]}' "$S"; pj 'd["record"]')" "200null"
eq "story wrong content-type" "$(req "${CK[@]}" -H "Content-Type: text/plain" --data-binary "$STORY" "$S")" 400
eq "story missing report" "$(req "${CK[@]}" "${JS[@]}" --data-binary "$STORY" "$B/checkr/v1/reports/missing9/candidate_stories"; pj 'd')" '404{"error": "Report not found"}'
eq "story limit" "$(req "${CK[@]}" "${JS[@]}" --data-binary "$STORY" "$B/checkr/v1/reports/limit9/candidate_stories"; pj 'd')" '400{"error": "Candidate stories limit exceeded"}'
eq "story idem first" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-1" --data-binary "$STORY" "$S")" 200
cp "$T/body" "$T/story1"
eq "story idem replay" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-1" --data-binary "$STORY" "$S")" 200
if cmp -s "$T/body" "$T/story1"; then ok; else bad "story idempotent replay body differs"; fi
eq "story idem other body" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-1" --data-binary '{"content":"other","documents":[]}' "$S"; pj 'd["error"]')" "422Keys for idempotent requests can only be used with the same parameters they were first used with"
eq "story idem same JSON value, other spacing" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-1" --data-binary "$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), indent=2))' "$STORY")" "$S"; pj 'd["id"]')" "200$(pj 'd["id"]' "$T/story1")"
eq "story idem other report" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-1" --data-binary "$STORY" "$B/checkr/v1/reports/bf3393b7d751206c7c67b6e5/candidate_stories")" 422
eq "stories_created" "$(ctl GET stats >/dev/null; pj 'd["stories_created"]' "$T/ctl")" 3
eq "story idem error not stored (1)" "$(req "${CK[@]}" -H "Content-Type: text/plain" -H "Idempotency-Key: k-2" --data-binary "$STORY" "$S")" 400
eq "story idem error not stored (2)" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-2" --data-binary "$STORY" "$S")" 200
# in-flight key: 409
eq "config latency" "$(ctl POST config '{"latency_ms": 1500}')" 200
curl -sS -o "$T/inflight" -w '%{http_code}' "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-3" --data-binary "$STORY" "$S" >"$T/inflight.status" &
BG=$!
sleep 0.5
eq "story in flight" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-3" --data-binary "$STORY" "$S"; pj 'd["error"]')" "409A request with this idempotency key is already in progress"
wait $BG
eq "story in flight first" "$(cat "$T/inflight.status")" 200
eq "latency applied" "$(curl -sS -o /dev/null -w '%{time_total}' "${CK[@]}" "$C1" | awk '{print ($1 >= 1.4)}')" 1
eq "latency not on files" "$(curl -sS -o /dev/null -w '%{time_total}' "$B/files/checkr/d0000000000000000000aa01" | awk '{print ($1 < 1.0)}')" 1
eq "config latency off" "$(ctl POST config '{"latency_ms": 0}')" 200
eq "story in flight replay" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-3" --data-binary "$STORY" "$S"; pj 'd["id"]')" "200$(pj 'd["id"]' "$T/inflight")"

########## Request log
curl -sS "$B/_mock/requests" -o "$T/log"
LAST=$(pj 'd[-1]["seq"]' "$T/log")
eq "log entry fields" "$(pj 'sorted(set(["seq", "method", "raw_path", "path", "query", "headers", "body_len", "body_sha256", "json", "status"]) - set(d[-1]))' "$T/log")" "[]"
req "${CK[@]}" "$C1?types%5B%5D=consent&per_page=5" >/dev/null
eq "log since" "$(curl -sS "$B/_mock/requests?since=$LAST" | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d[0]; print(len(d), e["query"], e["raw_path"], e["status"], e["headers"]["authorization"])')" "1 {'types[]': ['consent'], 'per_page': ['5']} /checkr/v1/candidates/e44aa283528e6fde7d542194/documents?types%5B%5D=consent&per_page=5 200 Basic dGVzdF9jaGVja3Jfa2V5Og=="
curl -sS "$B/_mock/requests" -o "$T/log"
eq "log json body" "$(pj '[e["json"] for e in d if "candidate_stories" in e["path"]][0]["record_id"]' "$T/log")" af3393b7d751206c7c67b6e5
eq "log odd id raw" "$(pj '[e["raw_path"] for e in d if e["path"].startswith("/checkr/v1/candidates/we")][0]' "$T/log")" "/checkr/v1/candidates/$ODD_ENC/documents?per_page=1"
eq "log control not logged" "$(pj 'any(e["path"].startswith("/_mock") for e in d)' "$T/log")" false
eq "stats by_path" "$(ctl GET stats >/dev/null; pj 'd["by_path"]["/checkr/v1/candidates/e44aa283528e6fde7d542194/documents"] >= 5 and d["requests"] > 50' "$T/ctl")" true

########## Keep-alive
eq "keep-alive" "$(curl -sS -o /dev/null -o /dev/null -w '%{num_connects} ' "${CK[@]}" "$C1" "$C1")" "1 0 "

########## Faults
F() { fault "$1"; }
# respond: HTML 502, once (action object form), then the flat form
eq "fault rule without path_contains" "$(ctl POST faults '{"action": "respond"}')" 400
eq "fault rule with unknown action" "$(ctl POST faults '{"path_contains": "x", "action": "explode"}')" 400
F '{"path_contains": "many-6/", "times": 1, "action": {"respond": {"status": 502, "headers": {"Content-Type": "text/html"}, "body": "<html>bad gateway</html>"}}}'
eq "respond 502 (object form)" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-6/documents"; cat "$T/body")" "502<html>bad gateway</html>"
F '{"path_contains": "many-7/", "times": 1, "action": "respond", "status": 502, "headers": {"Content-Type": "text/html"}, "body": "<html>bad gateway</html>"}'
eq "respond 502" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-7/documents"; cat "$T/body")" "502<html>bad gateway</html>"
eq "respond 502 content-type" "$(hdr Content-Type)" text/html
eq "respond times exhausted" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-7/documents")" 200
eq "respond logged status" "$(curl -sS "$B/_mock/requests" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([e["status"] for e in d if "many-7/" in e["path"]][-2:])')" "[502, 200]"
F '{"path_contains": "many-8/", "times": 1, "action": "respond", "status": 429, "headers": {"Retry-After": "2"}, "body": "{\"error\":\"Too many requests\"}"}'
eq "respond 429" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-8/documents")$(hdr Retry-After)" 4292
F '{"path_contains": "many-9/", "times": 1, "action": "respond", "status": 200, "body_b64": "eyJkYXRhIjpbIv/+Il19"}'
eq "respond body_b64" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-9/documents"; base64 -w0 "$T/body")" "200eyJkYXRhIjpbIv/+Il19"
F '{"path_contains": "many-10/", "times": 1, "action": "respond", "status": 200, "body": ""}'
eq "respond empty 200" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-10/documents"; stat -c %s "$T/body")" 2000
# faults are checked before auth
F '{"path_contains": "many-11/", "times": 1, "action": "respond", "status": 503, "body": "x"}'
eq "fault before auth" "$(req "$B/checkr/v1/candidates/many-11/documents")" 503
# skip + method
F '{"path_contains": "many-12/", "skip": 1, "times": 1, "action": "respond", "status": 500, "body": "boom"}'
eq "skip first" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-12/documents")" 200
eq "skip second" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-12/documents")" 500
eq "skip third" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-12/documents")" 200
F '{"path_contains": "many-13/", "method": "POST", "action": "respond", "status": 500, "body": "boom"}'
eq "method filter" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-13/documents")" 200
eq "faults listed" "$(ctl GET faults >/dev/null; pj 'len(d)' "$T/ctl")" 1
eq "faults cleared" "$(ctl DELETE faults)$(ctl GET faults >/dev/null; pj 'len(d)' "$T/ctl")" 2000
# hang: the client gives up
F '{"path_contains": "many-14/", "action": "hang", "seconds": 30}'
curl -sS -o /dev/null --max-time 1 "${CK[@]}" "$B/checkr/v1/candidates/many-14/documents" 2>/dev/null
eq "hang times out" $? 28
# reset: partial body then RST
F '{"path_contains": "many-15/", "action": "reset"}'
curl -sS -o "$T/partial" "${CK[@]}" "$B/checkr/v1/candidates/many-15/documents" 2>"$T/curlerr"
RC=$?
eq "reset curl error" "$RC $(grep -c -i 'reset' "$T/curlerr")" "56 1"
# truncate: Content-Length larger than the body, normal close
F '{"path_contains": "many-16/", "action": "truncate"}'
curl -sS -o "$T/partial" "${CK[@]}" "$B/checkr/v1/candidates/many-16/documents" 2>/dev/null
eq "truncate curl error" $? 18
# delay
F '{"path_contains": "many-17/", "action": "delay", "ms": 600}'
eq "delay" "$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' "${CK[@]}" "$B/checkr/v1/candidates/many-17/documents" | awk '{print $1, ($2 >= 0.6)}')" "200 1"
# huge
F '{"path_contains": "many-18/", "action": "huge", "bytes": 5000000}'
eq "huge" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-18/documents"; stat -c %s "$T/body")" 2005000000
eq "huge valid json" "$(pj 'len(d["data"][0]) > 4000000')" true
# next_href replacement
F '{"path_contains": "many-19/", "action": "next_href", "value": "http://evil.example:1/steal"}'
eq "next_href replaced" "$(req "${CK[@]}" "$B/checkr/v1/candidates/many-19/documents"; pj '[d["next_href"], len(d["data"])]')" '200["http://evil.example:1/steal", 19]'
F '{"path_contains": "attachments", "times": 1, "action": "next_href", "value": "b2Zmc2V0OjA="}'
eq "kombo next replaced" "$(req "${KO[@]}" "$K1"; pj 'd["data"]["next"]')" "200b2Zmc2V0OjA="
# drop: the upload is created, the answer never sent (FIN, then RST)
CD="$B/checkr/v1/candidates/dropcand000000000000001/documents"
N0=$(req "${CK[@]}" "$CD" >/dev/null; pj 'd["count"]')
F '{"path_contains": "dropcand", "method": "POST", "times": 1, "action": "drop"}'
curl -sS --max-time 10 -o /dev/null "${CK[@]}" -H "Idempotency-Key: drop-1" -F type=passport -F "file=@$T/up.pdf;type=application/pdf" "$CD" 2>/dev/null
eq "drop: empty reply" $? 52
eq "drop: created" "$(req "${CK[@]}" "$CD"; pj 'd["count"]')" "200$((N0 + 1))"
eq "drop: logged" "$(curl -sS "$B/_mock/requests" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([(e["status"], e["fault"]) for e in d if "dropcand" in e["path"] and e["method"] == "POST"])')" "[(200, 'drop')]"
eq "drop: retry replays" "$(req "${CK[@]}" -H "Idempotency-Key: drop-1" -F type=passport -F "file=@$T/up.pdf;type=application/pdf" "$CD"; pj 'd["type"]')" 200passport
eq "drop: one document" "$(req "${CK[@]}" "$CD"; pj 'd["count"]')" "200$((N0 + 1))"
F '{"path_contains": "dropcand", "method": "POST", "times": 1, "action": "drop", "rst": true}'
curl -sS --max-time 10 -o /dev/null "${CK[@]}" -F type=consent -F "file=@$T/up.pdf;type=application/pdf" "$CD" 2>/dev/null
eq "drop rst: reset" $? 56
eq "drop rst: created" "$(req "${CK[@]}" "$CD"; pj 'd["count"]')" "200$((N0 + 2))"
F '{"path_contains": "candidate_stories", "times": 1, "action": {"drop": {}}}'
BEFORE=$(ctl GET stats >/dev/null; pj 'd["stories_created"]' "$T/ctl")
curl -sS --max-time 10 -o /dev/null "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: drop-2" --data-binary "$STORY" "$S" 2>/dev/null
eq "drop story: empty reply" $? 52
eq "drop story: retry replays" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: drop-2" --data-binary "$STORY" "$S")" 200
eq "drop story: one story" "$(ctl GET stats >/dev/null; pj 'd["stories_created"]' "$T/ctl")" $((BEFORE + 1))
# faults on file downloads
F '{"path_contains": "/files/checkr/d0000000000000000000aa02", "times": 1, "action": "respond", "status": 500, "body": "x"}'
eq "fault on files" "$(req "$B/files/checkr/d0000000000000000000aa02")$(req "$B/files/checkr/d0000000000000000000aa02")" 500200
# the server still answers after all of that
eq "alive after faults" "$(req "${CK[@]}" "$C1")" 200

########## Reset
eq "reset" "$(ctl POST reset)" 200
eq "reset stats" "$(ctl GET stats >/dev/null; pj '[d["requests"], d["stories_created"], d["documents_created"], d["by_path"]]' "$T/ctl")" '[0, 0, 0, {}]'
eq "reset faults" "$(ctl GET faults >/dev/null; pj 'd' "$T/ctl")" "[]"
eq "reset uploads" "$(req "${CK[@]}" "$C1"; pj 'd["count"]')" 2003
eq "reset uploaded file" "$(req "$UP_URI")" 404
eq "reset idempotency" "$(req "${CK[@]}" "${JS[@]}" -H "Idempotency-Key: k-1" --data-binary "$STORY" "$S"; pj 'd["id"] != json.load(open(sys.argv[2].replace("body", "story1")))["id"]')" 200true

########## Clean exit on SIGTERM
kill -TERM "$MOCK_PID"
wait "$MOCK_PID"
eq "sigterm exit status" $? 0
MOCK_PID=
if [ -s "$T/stderr" ]; then
    bad "mock wrote to stderr:"; cat "$T/stderr"
fi

echo "passed: $PASSES, failed: $FAILS"
[ "$FAILS" -eq 0 ]
