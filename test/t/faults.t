# faults.t -- every broken answer of the API ends in the correct rows or in
# one clear ERROR of class HV, and the backend stays alive
#
# Each case installs a fault rule in the mock for one candidate id, runs a
# query in one long-lived session, checks the outcome, then checks that the
# same backend still answers.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();
my $log_offset = server_log_offset();
my $port = $ENV{MOCK_PORT};
my $base = "http://127.0.0.1:$port";

my $closed_port = free_port();

my $S = 'tap_faults';
psql_run(join(";\n", map { "DROP SCHEMA IF EXISTS $_ CASCADE" }
		($S, "${S}_to", "${S}_ref", "${S}_retry", "${S}_p1", "${S}_dl")));
create_server(name => 'tap_f_ck', schema => $S,
	options => { max_retries => '0', timeout_ms => '10000' });
create_server(name => 'tap_f_to', schema => "${S}_to",
	options => { max_retries => '0', timeout_ms => '500' });
create_server(name => 'tap_f_ref', schema => "${S}_ref",
	options => { max_retries => '0', timeout_ms => '5000',
		base_url => "http://127.0.0.1:$closed_port/checkr/v1" });
create_server(name => 'tap_f_retry', schema => "${S}_retry",
	options => { max_retries => '5', timeout_ms => '10000' });
create_server(name => 'tap_f_p1', schema => "${S}_p1",
	options => { max_retries => '0', page_size => '1' });
create_server(name => 'tap_f_dl', schema => "${S}_dl",
	options => { max_retries => '0', max_download_bytes => '1000' });

my $s = CdTest::Session->new;
my $admin = CdTest::Session->new;
my $pid = $s->pid;

# A Checkr list envelope around the given data JSON text.
sub checkr_list
{
	my ($data) = @_;
	return qq({"data":$data,"object":"list","next_href":null,"previous_href":null,"count":1});
}

sub doc_json
{
	my (%f) = @_;
	my %d = (id => '"d0000000000000000000ff01"', object => '"document"',
		type => '"consent"', created_at => '"2016-05-01T10:00:00Z"',
		download_uri => qq("$base/files/checkr/d0000000000000000000aa02"),
		filesize => 1024, filename => '"x.pdf"',
		content_type => '"application/pdf"', %f);
	return '{' . join(',', map { qq("$_":$d{$_}) } sort keys %d) . '}';
}

sub respond
{
	my ($status, $body, %h) = @_;
	return { action => 'respond', status => $status,
		headers => { 'Content-Type' => 'application/json', %h },
		body => $body };
}

# Run one case.
#   name, id (candidate id; the fault's path_contains is /candidates/<id>/),
#   fault (rule without path_contains) or faults (full rules),
#   table (default $S.candidate_documents), sql (default: id, type),
#   rows (expected psql -At output) or error (regexp the stderr must match),
#   min_elapsed, max_elapsed (s), timeout (s, for the session),
#   after (code run with the mock's seq before the query and the result)
sub run_case
{
	my (%c) = @_;
	my $name = $c{name};
	my $table = $c{table} // "$S.candidate_documents";
	my $sql = $c{sql}
	  // "SELECT id, type FROM $table WHERE candidate_id = '$c{id}' ORDER BY id";
	my @rules = @{ $c{faults} // [] };
	push @rules, { path_contains => "/candidates/$c{id}/", %{ $c{fault} } }
	  if $c{fault};
	mock_fault(@rules) if @rules;
	my $since = mock_seq();
	my $r = $s->query($sql, $c{timeout} // 60);
	if ($r->{timeout})
	{
		fail("$name: the query ended");
		$admin->query("SELECT pg_cancel_backend($pid)");
		$s->wait(30);
	}
	elsif (defined $c{rows})
	{
		is($r->{sqlstate}, '00000', "$name: no error") or diag($r->{err});
		is($r->{out}, $c{rows}, "$name: the correct rows");
	}
	else
	{
		ok(is_hv($r->{sqlstate}), "$name: an ERROR with an HV-class SQLSTATE")
		  or diag("sqlstate: " . ($r->{sqlstate} // 'none') . "\n$r->{err}");
		my @errors = ($r->{err} =~ /^(?:ERROR|FATAL|PANIC):/mg);
		is(scalar(@errors), 1, "$name: exactly one ERROR") or diag($r->{err});
		like($r->{err}, qr/^ERROR:  \w{5}: \S/m, "$name: with a message");
		note("$name: " . join(' | ', grep { /^(?:ERROR|DETAIL|CONTEXT):/ } split /\n/, $r->{err}));
		like($r->{err}, $c{error}, "$name: the message says what failed")
		  if $c{error};
		is($r->{out}, '', "$name: no rows");
	}
	ok($r->{elapsed} < $c{max_elapsed}, "$name: done within $c{max_elapsed} s")
	  or diag(sprintf('took %.3f s', $r->{elapsed}))
	  if $c{max_elapsed};
	ok($r->{elapsed} >= $c{min_elapsed}, "$name: not before $c{min_elapsed} s")
	  or diag(sprintf('took %.3f s', $r->{elapsed}))
	  if $c{min_elapsed};
	my $alive = $s->query('SELECT pg_backend_pid()', 10);
	is($alive->{out}, "$pid\n", "$name: the same backend answers SELECT 1")
	  or BAIL_OUT("the session died in case $name: " . explain($alive));
	mock_clear_faults();
	$c{after}->($since, $r) if $c{after};
	return $r;
}

# ----------------------------------------------------------------------
# Broken transfers

run_case(name => 'truncated body', id => 'fx-a01',
	fault => { action => 'truncate' },
	error => qr/^DETAIL:  (?:transfer closed with 1000 bytes remaining to read|end of response with 1000 bytes missing)$/m);

run_case(name => 'truncated body whose first bytes are valid JSON', id => 'fx-a02',
	fault => { action => 'truncate', body => checkr_list('[' . doc_json() . ']'),
		missing => 500 },
	error => qr/^DETAIL:  (?:transfer closed with 500 bytes remaining to read|end of response with 500 bytes missing)$/m);

run_case(name => 'connection reset mid-body', id => 'fx-a03',
	fault => { action => 'reset' },
	error => qr/^DETAIL:  Recv failure: Connection reset by peer$/m);

run_case(name => 'server accepts and never answers (timeout_ms 500)',
	id => 'fx-a04', table => "${S}_to.candidate_documents",
	fault => { action => 'hang', seconds => 30 },
	error => qr/^DETAIL:  Operation timed out after 5\d\d milliseconds with 0 bytes received$/m,
	min_elapsed => 0.45, max_elapsed => 0.8);

run_case(name => 'connection refused', id => 'fx-a05',
	table => "${S}_ref.candidate_documents",
	error => qr/^DETAIL:  Failed to connect to 127\.0\.0\.1(?: port |:)$closed_port after \d+ ms: (?:Couldn't|Could not) connect to server$/m,
	max_elapsed => 5);

# ----------------------------------------------------------------------
# Broken bodies

my $no_rows = qr/^DETAIL:  \d+ bytes: the response has no array of rows where the API puts them\.$/m;
my $too_deep = qr/^DETAIL:  \d+ bytes: nesting too deep at byte \d+\.$/m;
my $twice = qr/: the API returned the same page twice\nDETAIL:  The next-page link "[^"]+" was already followed\.$/m;

run_case(name => 'malformed JSON', id => 'fx-b01',
	fault => respond(200, '{"data":[{"id":"x",}]'),
	error => qr/: unexpected response\nDETAIL:  21 bytes: expected a string key at byte 19\.$/m);

run_case(name => 'HTML error page with 502', id => 'fx-b02',
	fault => respond(502,
		"<html><head><title>502 Bad Gateway</title></head>\n"
		  . "<body><h1>502 Bad Gateway</h1></body></html>\n",
		'Content-Type' => 'text/html'),
	error => qr/^DETAIL:  HTTP status 502\. The response is not an error of the checkr API; it begins: "<html>/m);

run_case(name => '200 with an empty body', id => 'fx-b03',
	fault => respond(200, ''),
	error => qr/^DETAIL:  0 bytes: unexpected end of input at byte 0\.$/m);

run_case(name => 'data is not an array', id => 'fx-b04',
	fault => respond(200, checkr_list('{"id":"x"}')), error => $no_rows);

run_case(name => 'data is missing', id => 'fx-b05',
	fault => respond(200, '{"object":"list","next_href":null}'), error => $no_rows);

run_case(name => 'top level is an array', id => 'fx-b06',
	fault => respond(200, '[' . doc_json() . ']'), error => $no_rows);

run_case(name => 'a row is a number, not an object', id => 'fx-b07',
	fault => respond(200, checkr_list('[42]')),
	error => qr/^DETAIL:  Item 0 of the page is not a JSON object\.$/m);

run_case(name => 'a row is a string, not an object', id => 'fx-b08',
	fault => respond(200, checkr_list('[' . doc_json() . ',"x"]')),
	error => qr/^DETAIL:  Item 1 of the page is not a JSON object\.$/m);

run_case(name => 'a number where text is expected gives the number as text',
	id => 'f-numtext',
	fault => respond(200, checkr_list('[' . doc_json(id => 12345, type => 7) . ']')),
	rows => "12345|7\n");

run_case(name => 'a number where a timestamptz is expected names the column',
	id => 'fx-b09',
	sql => "SELECT id, created_at FROM $S.candidate_documents"
	  . " WHERE candidate_id = 'fx-b09'",
	fault => respond(200, checkr_list('[' . doc_json(created_at => 1462096800) . ']')),
	error => qr/^ERROR:  HV004: invalid value for column "created_at" in document "d0000000000000000000ff01": "1462096800"$/m);

run_case(name => 'a string where a bigint is expected names the column',
	id => 'fx-b10',
	sql => "SELECT id, filesize FROM $S.candidate_documents"
	  . " WHERE candidate_id = 'fx-b10'",
	fault => respond(200, checkr_list('[' . doc_json(filesize => '"big"') . ']')),
	error => qr/^ERROR:  HV004: invalid value for column "filesize" in document "d0000000000000000000ff01": "big"$/m);

{
	my $deep = ('[' x 100_000) . (']' x 100_000);
	run_case(name => '100,000 nested arrays as data', id => 'fx-b11',
		fault => respond(200, checkr_list($deep)), error => $too_deep);
	run_case(name => '100,000 nested arrays inside a row', id => 'fx-b12',
		sql => "SELECT id, attrs IS NOT NULL FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'fx-b12'",
		fault => respond(200, checkr_list('[' . doc_json(nest => $deep) . ']')),
		error => $too_deep);
	# 500 levels is deep but fine: the row comes through, attrs included
	my $d500 = ('[' x 500) . '1' . (']' x 500);
	run_case(name => '500 nested arrays inside a row are read', id => 'f-deep500',
		sql => "SELECT id, jsonb_typeof(attrs->'nest') FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'f-deep500'",
		fault => respond(200, checkr_list('[' . doc_json(nest => $d500) . ']')),
		rows => "d0000000000000000000ff01|array\n");
}

run_case(name => 'invalid UTF-8', id => 'fx-b13',
	fault => { action => 'respond', status => 200,
		headers => { 'Content-Type' => 'application/json' },
		body_b64 => encode_base64(
			checkr_list('[' . doc_json(filename => "\"bad\xff\xfe\xc3(name\"") . ']'), '') },
	error => qr/^DETAIL:  \d+ bytes: invalid UTF-8 in string at byte \d+\.$/m);

run_case(name => 'a response body over the size cap', id => 'fx-b14',
	fault => { action => 'huge', bytes => 150 * 1024 * 1024 },
	error => qr/^DETAIL:  The response exceeded the limit of 67108864 bytes\.$/m, max_elapsed => 20);

run_case(name => 'a download over max_download_bytes', id => 'e44aa283528e6fde7d542194',
	sql => "SELECT id, length(content) FROM ${S}_dl.candidate_documents"
	  . " WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id",
	error => qr/^ERROR:  HV000: could not download document "d0000000000000000000aa01"\nDETAIL:  The response exceeded the limit of 1000 bytes\.$/m);

# ----------------------------------------------------------------------
# Pagination gone wrong

# (another scheme or port on base_url's host is followed on base_url's own:
# urls.t).  The other host is the mock under another name (its log shows
# whether anything was asked of it), and a loopback listener of the test's
# own, which records any connection made to it.
my $trap = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
	LocalPort => 0, Proto => 'tcp') or die "listener: $!";
my $trap_port = $trap->sockport;

# Whether anyone connected to the listener (the kernel completes a
# connection on its own, so it waits in the backlog even if never accepted).
sub trap_called
{
	my $sel = IO::Select->new($trap);
	return scalar($sel->can_read(0.2)) ? 1 : 0;
}

{
	my $case = 1;
	for my $nh (
		[ 'another host', "http://localhost:$port" ],
		[ 'another host and port', "http://localhost:$trap_port" ])
	{
		my ($what, $origin) = @$nh;
		my $id = 'fx-d0' . $case++;
		run_case(name => "next_href to $what", id => $id,
			fault => { action => 'next_href',
				value => "$origin/checkr/v1/candidates/$id/documents?page=2&per_page=100" },
			error => qr/: refusing to follow a next-page link to another host\nDETAIL:  The link "\Q$origin\E\/checkr\/v1\/candidates\/$id\/documents\?REDACTED" is not on the host of base_url "\Q$base\E\/checkr\/v1"\.$/m,
			after => sub {
				my ($since) = @_;
				my @away = grep { $_->{headers}{host} ne "127.0.0.1:$port"
					  || ($_->{raw_path} =~ /page=2/) } @{ mock_requests($since) };
				is(scalar(@away), 0, "next_href to $what: nothing was sent there")
				  or diag(explain \@away);
				is(trap_called(), 0, "next_href to $what: no connection to the other port");
			});
	}
}
# A page whose next_href is itself; a cycle of two pages.
run_case(name => 'a page loop (next_href to the same page)', id => 'many-5',
	table => "${S}_p1.candidate_documents",
	faults => [ { path_contains => '/candidates/many-5/', skip => 1,
			action => 'next_href',
			value => "$base/checkr/v1/candidates/many-5/documents?page=2&per_page=1" } ],
	error => $twice, timeout => 20,
	after => sub {
		my ($since) = @_;
		my $n = grep { index($_->{raw_path}, '/many-5/') >= 0 } @{ mock_requests($since) };
		ok($n <= 4, "page loop: stopped after $n requests");
	});
run_case(name => 'a cycle of two pages', id => 'many-6',
	table => "${S}_p1.candidate_documents",
	faults => [ { path_contains => '/candidates/many-6/documents?page=3', action => 'next_href',
			value => "$base/checkr/v1/candidates/many-6/documents?page=2&per_page=1" } ],
	error => $twice, timeout => 20,
	after => sub {
		my ($since) = @_;
		my $n = grep { index($_->{raw_path}, '/many-6/') >= 0 } @{ mock_requests($since) };
		ok($n <= 5, "two-page cycle: stopped after $n requests");
	});

# ----------------------------------------------------------------------
# Retries

my $e44 = 'e44aa283528e6fde7d542194';
my $e44_rows = "d0000000000000000000aa01|driver_license\n"
  . "d0000000000000000000aa02|consent\n" . "d0000000000000000000aa03|ssn_card\n";
my %too_many = (action => 'respond', status => 429,
	headers => { 'Retry-After' => '0', 'Content-Type' => 'application/json' },
	body => '{"error":"Too many requests"}');
my $storm = { path_contains => "/candidates/$e44/", times => 3, %too_many };

run_case(name => '429 storm (3 times, then success, max_retries 5)', id => $e44,
	table => "${S}_retry.candidate_documents", faults => [$storm],
	rows => $e44_rows, max_elapsed => 10,
	after => sub {
		my ($since) = @_;
		my @st = map { $_->{status} }
		  grep { index($_->{raw_path}, "/candidates/$e44/") >= 0 } @{ mock_requests($since) };
		is("@st", '429 429 429 200', '429 storm: three 429s, then one success');
	});

{
	mock_fault($storm);
	my $r = $s->query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
		  . " SELECT id, type FROM ${S}_retry.candidate_documents WHERE candidate_id = '$e44'");
	is($r->{sqlstate}, '00000', '429 storm under EXPLAIN ANALYZE: no error')
	  or diag($r->{err});
	like($r->{out}, qr/actual rows=3\b/, '429 storm under EXPLAIN ANALYZE: 3 rows');
	like($r->{out}, qr/^\s*Retries: 3$/m, 'EXPLAIN ANALYZE shows Retries: 3')
	  or diag($r->{out});
	like($r->{out}, qr/^\s*Requests: 4$/m, 'EXPLAIN ANALYZE shows Requests: 4')
	  or diag($r->{out});
	mock_clear_faults();
}

run_case(name => 'a 429 storm longer than max_retries', id => 'fx-c01',
	table => "${S}_retry.candidate_documents",
	fault => { %too_many, times => 20 },
	error => qr/^DETAIL:  HTTP status 429 after 6 attempts\. Checkr says: Too many requests$/m,
	max_elapsed => 10,
	after => sub {
		my ($since) = @_;
		my $n = grep { index($_->{raw_path}, '/candidates/fx-c01/') >= 0 }
		  @{ mock_requests($since) };
		is($n, 6, 'a 429 storm longer than max_retries: 1 + 5 attempts');
	});

# A 503 once for an upload: retried once with the same Idempotency-Key,
# created once.
{
	my $before = mock_stats();
	my $since = mock_seq();
	mock_fault({ path_contains => '/candidates/f-upl-503/documents', method => 'POST',
			times => 1, action => 'respond', status => 503,
			headers => { 'Content-Type' => 'application/json' },
			body => '{"error":"Service Unavailable"}' });
	my $r = $s->query("INSERT INTO ${S}_retry.candidate_documents"
		  . " (candidate_id, type, filename, content, content_type)"
		  . " VALUES ('f-upl-503', 'consent', 'retried.pdf',"
		  . " '\\x255044462d312e340a2525454f460a'::bytea, 'application/pdf')"
		  . " RETURNING filename, filesize");
	is($r->{sqlstate}, '00000', 'upload after a 503: no error') or diag($r->{err});
	is($r->{out}, "retried.pdf|15\n", 'upload after a 503: RETURNING the document');
	my @posts = grep { $_->{method} eq 'POST'
		  && index($_->{raw_path}, '/candidates/f-upl-503/documents') >= 0 }
	  @{ mock_requests($since) };
	is(join(' ', map { $_->{status} } @posts), '503 200',
		'upload after a 503: two attempts, the second succeeded');
	my @keys = map { $_->{headers}{'idempotency-key'} // '' } @posts;
	ok(@keys == 2 && $keys[0] ne '' && $keys[0] eq $keys[1],
		'upload after a 503: both attempts carry the same Idempotency-Key')
	  or diag(explain \@keys);
	is(mock_stats()->{documents_created} - $before->{documents_created}, 1,
		'upload after a 503: one document created');
	$r = $s->query("SELECT count(*) FROM ${S}_retry.candidate_documents"
		  . " WHERE candidate_id = 'f-upl-503' AND filename = 'retried.pdf'");
	is($r->{out}, "1\n", 'upload after a 503: the candidate has it once');
	mock_clear_faults();
}

# A 503 once for a story, with a generated key and with the caller's key.
for my $key (undef, 'tap-faults-story-key-1')
{
	my $what = defined $key ? "the caller's key" : 'a generated key';
	my $report = defined $key ? 'f-rpt-503-k' : 'f-rpt-503';
	my $before = mock_stats();
	my $since = mock_seq();
	mock_fault({ path_contains => "/reports/$report/candidate_stories", method => 'POST',
			times => 1, action => 'respond', status => 503,
			headers => { 'Content-Type' => 'application/json' },
			body => '{"error":"Service Unavailable"}' });
	my $r = $s->query("SELECT candidate_docs.create_candidate_story('$report',"
		  . " '{\"content\": \"retried story\"}', " . sql_literal($key)
		  . ", 'tap_f_retry') ->> 'report_id'");
	is($r->{sqlstate}, '00000', "story after a 503 ($what): no error") or diag($r->{err});
	is($r->{out}, "$report\n", "story after a 503 ($what): the created story");
	my @posts = grep { $_->{method} eq 'POST'
		  && index($_->{raw_path}, "/reports/$report/") >= 0 } @{ mock_requests($since) };
	is(join(' ', map { $_->{status} } @posts), '503 200',
		"story after a 503 ($what): two attempts, the second succeeded");
	my @keys = map { $_->{headers}{'idempotency-key'} // '' } @posts;
	ok(@keys == 2 && $keys[0] ne '' && $keys[0] eq $keys[1],
		"story after a 503 ($what): both attempts carry the same Idempotency-Key")
	  or diag(explain \@keys);
	if (defined $key)
	{
		is($keys[0], $key, "story after a 503: the caller's key is sent");
	}
	else
	{
		like($keys[0] // '',
			qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
			'story after a 503: the generated key is a UUID v4');
	}
	is(mock_stats()->{stories_created} - $before->{stories_created}, 1,
		"story after a 503 ($what): one story created");
	mock_clear_faults();
}

# The API creates the document or story, then the answer is lost (the mock
# closes the connection without one: an empty reply for the upload, a reset
# for the story).  The retry carries the same Idempotency-Key, the API
# replays the first answer (a key with another body would be refused), and
# exactly one document or story exists.  Each runs in a new backend, whose
# first request opens a new connection (libcurl re-sends by itself, headers
# and all, a request whose reused connection died).
# One such case: the POST to $c{path} is dropped after creation (a reset
# with rst), $c{sql} runs in a new backend and must return $c{out}; $c{counter}
# of the mock's stats grows by one.
sub lost_answer_case
{
	my (%c) = @_;
	my $what = $c{what};
	my $before = mock_stats();
	my $since = mock_seq();
	mock_fault({ path_contains => $c{path}, method => 'POST', times => 1,
			action => 'drop', rst => $c{rst} ? JSON::PP::true : JSON::PP::false });
	my $fresh = CdTest::Session->new;		# no connection to reuse
	my $r = $fresh->query($c{sql});
	is($r->{sqlstate}, '00000', "$what whose answer was lost: no error") or diag($r->{err});
	is($r->{out}, $c{out}, "$what whose answer was lost: the created $what");
	my @posts = grep { $_->{method} eq 'POST' && index($_->{raw_path}, $c{path}) >= 0 }
	  @{ mock_requests($since) };
	is(join(' ', map { ($_->{fault} // '') . $_->{status} } @posts), 'drop200 200',
		"$what whose answer was lost: created, answer dropped, then retried");
	my @keys = map { $_->{headers}{'idempotency-key'} // '' } @posts;
	ok(@keys == 2 && $keys[0] ne '' && $keys[0] eq $keys[1],
		"$what whose answer was lost: the retry carries the same Idempotency-Key")
	  or diag(explain \@keys);
	is(mock_stats()->{$c{counter}} - $before->{$c{counter}}, 1,
		"$what whose answer was lost: one $what created");
	$c{after}->($fresh) if $c{after};
	$fresh->close;
	mock_clear_faults();
}

lost_answer_case(what => 'document', path => '/candidates/fx-e01/documents',
	sql => "INSERT INTO ${S}_retry.candidate_documents"
	  . " (candidate_id, type, filename, content, content_type)"
	  . " VALUES ('fx-e01', 'consent', 'lost-answer.pdf',"
	  . " '\\x255044462d312e340a2525454f460a'::bytea, 'application/pdf')"
	  . " RETURNING filename, filesize",
	out => "lost-answer.pdf|15\n", counter => 'documents_created',
	after => sub {
		my ($fresh) = @_;
		my $r = $fresh->query("SELECT count(*) FROM ${S}_retry.candidate_documents"
			  . " WHERE candidate_id = 'fx-e01' AND filename = 'lost-answer.pdf'");
		is($r->{out}, "1\n", 'document whose answer was lost: the candidate has it once');
	});
lost_answer_case(what => 'story', path => '/reports/fx-e02/candidate_stories', rst => 1,
	sql => "SELECT candidate_docs.create_candidate_story('fx-e02',"
	  . " '{\"content\": \"lost answer\"}', NULL, 'tap_f_retry') ->> 'content'",
	out => "lost answer\n", counter => 'stories_created');

# ----------------------------------------------------------------------

$s->close;
$admin->close;
unlike(server_log_since($log_offset), qr/terminated by signal|server process .* was terminated/,
	'no backend crashed');
mock_reset();
psql_run(join(";\n", (map { "DROP SCHEMA IF EXISTS $_ CASCADE" }
			($S, "${S}_to", "${S}_ref", "${S}_retry", "${S}_p1", "${S}_dl")),
		(map { "DROP SERVER IF EXISTS $_ CASCADE" }
			qw(tap_f_ck tap_f_to tap_f_ref tap_f_retry tap_f_p1 tap_f_dl))));

done_testing();
