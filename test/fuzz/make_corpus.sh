#!/usr/bin/env bash
# test/fuzz/make_corpus.sh -- write the fuzz seeds from the mock API's answers
#
# Starts test/mock_api.py on a free loopback port, saves the bodies of real
# Checkr and Kombo listings (one page, several pages, filtered, empty, with
# warnings), their errors and a created story as test/fuzz/corpus/envelope/*,
# then stops the mock. Listings longer than a few rows are cut to three rows
# (the page's other fields unchanged) to keep the seeds small. The story
# seeds, test/fuzz/corpus/story/*, are written by hand and left alone.
# Re-run after the mock's shapes change, and commit the result.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

out=$REPO_ROOT/test/fuzz/corpus/envelope
tmp=$(mktemp -d /tmp/candidate_docs_corpus.XXXXXX)
python3 "$REPO_ROOT/test/mock_api.py" --host 127.0.0.1 --port 0 \
	--port-file "$tmp/port" </dev/null >"$tmp/mock.log" 2>&1 &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	[ -s "$tmp/port" ] && break
	sleep 0.1
done
[ -s "$tmp/port" ] || { cat "$tmp/mock.log" >&2; die "the mock did not start"; }
base=http://127.0.0.1:$(cat "$tmp/port")
mkdir -p "$out"

# save NAME PATH [curl options...]: the body whatever the status
save() {
	local name=$1 path=$2
	shift 2
	curl -sS -A candidate_docs-corpus "$@" "$base$path" -o "$out/$name.json"
}
checkr() { save "$1" "/checkr/v1$2" -u test_checkr_key: "${@:3}"; }
kombo() {
	save "$1" "/kombo/v1$2" -H 'Authorization: Bearer test_kombo_key' \
		-H "X-Integration-Id: ${3:-workday:HWUTwvyx2wLoSUHphiWVrp28}" "${@:4}"
}

docs=/candidates/e44aa283528e6fde7d542194/documents
checkr checkr-list "$docs"
checkr checkr-list-page1 "$docs?per_page=2"
checkr checkr-list-page2 "$docs?per_page=2&page=2"
checkr checkr-list-types "$docs?types%5B%5D=consent&types%5B%5D=ssn_card"
checkr checkr-list-empty /candidates/empty0000000000000000000/documents
checkr checkr-list-generated /candidates/many-7/documents?per_page=3\&page=2
checkr checkr-error-404 /candidates/missing-1/documents
checkr checkr-error-400 "$docs?per_page=1000"
save checkr-error-401 "/checkr/v1$docs"
checkr checkr-story-created /reports/af3393b7d751206c7c67b6e5/candidate_stories \
	-H 'Content-Type: application/json' \
	--data '{"content":"Since my case, I have received the following certifications","documents":[{"filename":"rehab.pdf","tempfile":"https://files.example.com/abYwtudnakfnafl","type":"application/pdf"}],"record_id":"af3393b7d751206c7c67b6e5"}'

atts=/ats/candidates/BTbkvY2w5ou3z3hdwuKcKzDh/attachments
kombo kombo-list-warnings "$atts"
kombo kombo-list-greenhouse "$atts" greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ
kombo kombo-list-generated /ats/candidates/cand-7/attachments
kombo kombo-list-page1 /ats/candidates/many-103/attachments
cursor=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["next"])' \
	<"$out/kombo-list-page1.json")
kombo kombo-list-page2 "/ats/candidates/many-103/attachments?cursor=$cursor"
kombo kombo-error-404 /ats/candidates/missing-1/attachments
kombo kombo-error-cursor "$atts?cursor=bm9wZQ"
kombo kombo-error-integration "$atts" nosuch:integration
save kombo-error-401 "/kombo/v1$atts" -H 'X-Integration-Id: workday:HWUTwvyx2wLoSUHphiWVrp28'

# cut long pages to three rows
for f in "$out"/*.json; do
	python3 - "$f" <<-'EOF'
		import json, sys
		path = sys.argv[1]
		doc = json.load(open(path))
		rows = doc.get("data") if isinstance(doc, dict) else None
		if isinstance(rows, dict):
		    rows = rows.get("results")
		if isinstance(rows, list) and len(rows) > 3:
		    del rows[3:]
		    with open(path, "w") as f:
		        f.write(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
	EOF
done
say "corpus: $(ls "$out" | wc -l) envelope seeds in ${out#"$REPO_ROOT"/}"
