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

run_case(name => 'truncated body', id => 'f-trunc',
	fault => { action => 'truncate' }, error => qr/HV\w{3}/);

run_case(name => 'truncated body whose first bytes are valid JSON', id => 'f-trunc2',
	fault => { action => 'truncate', body => checkr_list('[' . doc_json() . ']'),
		missing => 500 },
	error => qr/HV\w{3}/);

run_case(name => 'connection reset mid-body', id => 'f-reset',
	fault => { action => 'reset' }, error => qr/HV\w{3}/);

run_case(name => 'server accepts and never answers (timeout_ms 500)',
	id => 'f-hang', table => "${S}_to.candidate_documents",
	fault => { action => 'hang', seconds => 30 },
	error => qr/time|Timeout/i, min_elapsed => 0.45, max_elapsed => 1.5);

run_case(name => 'connection refused', id => 'f-refused',
	table => "${S}_ref.candidate_documents",
	error => qr/connect|refused/i, max_elapsed => 5);

# ----------------------------------------------------------------------
# Broken bodies

run_case(name => 'malformed JSON', id => 'f-badjson',
	fault => respond(200, '{"data":[{"id":"x",}]'), error => qr/JSON/i);

run_case(name => 'HTML error page with 502', id => 'f-html502',
	fault => respond(502,
		"<html><head><title>502 Bad Gateway</title></head>\n"
		  . "<body><h1>502 Bad Gateway</h1></body></html>\n",
		'Content-Type' => 'text/html'),
	error => qr/502/);

run_case(name => '200 with an empty body', id => 'f-empty',
	fault => respond(200, ''), error => qr/HV\w{3}/);

run_case(name => 'data is not an array', id => 'f-notarray',
	fault => respond(200, checkr_list('{"id":"x"}')), error => qr/HV\w{3}/);

run_case(name => 'data is missing', id => 'f-nodata',
	fault => respond(200, '{"object":"list","next_href":null}'),
	error => qr/HV\w{3}/);

run_case(name => 'top level is an array', id => 'f-toparray',
	fault => respond(200, '[' . doc_json() . ']'), error => qr/HV\w{3}/);

run_case(name => 'a row is a number, not an object', id => 'f-rownum',
	fault => respond(200, checkr_list('[42]')), error => qr/HV\w{3}/);

run_case(name => 'a row is a string, not an object', id => 'f-rowstr',
	fault => respond(200, checkr_list('[' . doc_json() . ',"x"]')),
	error => qr/HV\w{3}/);

run_case(name => 'a number where text is expected gives the number as text',
	id => 'f-numtext',
	fault => respond(200, checkr_list('[' . doc_json(id => 12345, type => 7) . ']')),
	rows => "12345|7\n");

run_case(name => 'a number where a timestamptz is expected names the column',
	id => 'f-numts',
	sql => "SELECT id, created_at FROM $S.candidate_documents"
	  . " WHERE candidate_id = 'f-numts'",
	fault => respond(200, checkr_list('[' . doc_json(created_at => 1462096800) . ']')),
	error => qr/created_at/);

run_case(name => 'a string where a bigint is expected names the column',
	id => 'f-strint',
	sql => "SELECT id, filesize FROM $S.candidate_documents"
	  . " WHERE candidate_id = 'f-strint'",
	fault => respond(200, checkr_list('[' . doc_json(filesize => '"big"') . ']')),
	error => qr/filesize/);

{
	my $deep = ('[' x 100_000) . (']' x 100_000);
	run_case(name => '100,000 nested arrays as data', id => 'f-deep',
		fault => respond(200, checkr_list($deep)), error => qr/HV\w{3}/);
	run_case(name => '100,000 nested arrays inside a row', id => 'f-deep2',
		sql => "SELECT id, attrs IS NOT NULL FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'f-deep2'",
		fault => respond(200, checkr_list('[' . doc_json(nest => $deep) . ']')),
		error => qr/HV\w{3}/);
	# 500 levels is deep but fine: the row comes through, attrs included
	my $d500 = ('[' x 500) . '1' . (']' x 500);
	run_case(name => '500 nested arrays inside a row are read', id => 'f-deep500',
		sql => "SELECT id, jsonb_typeof(attrs->'nest') FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'f-deep500'",
		fault => respond(200, checkr_list('[' . doc_json(nest => $d500) . ']')),
		rows => "d0000000000000000000ff01|array\n");
}

run_case(name => 'invalid UTF-8', id => 'f-utf8',
	fault => { action => 'respond', status => 200,
		headers => { 'Content-Type' => 'application/json' },
		body_b64 => encode_base64(
			checkr_list('[' . doc_json(filename => "\"bad\xff\xfe\xc3(name\"") . ']'), '') },
	error => qr/HV\w{3}/);

run_case(name => 'a response body over the size cap', id => 'f-huge',
	fault => { action => 'huge', bytes => 150 * 1024 * 1024 },
	error => qr/limit|exceed|too large|cap/i, max_elapsed => 20);

run_case(name => 'a download over max_download_bytes', id => 'e44aa283528e6fde7d542194',
	sql => "SELECT id, length(content) FROM ${S}_dl.candidate_documents"
	  . " WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id",
	error => qr/limit|exceed|too large|max_download_bytes/i);

# ----------------------------------------------------------------------
# Pagination gone wrong

# (another scheme or port on base_url's host is followed on base_url's own:
# urls.t)
for my $nh (
	[ 'another host', "http://localhost:$port" ],
	[ 'another host and port', "http://localhost:$closed_port" ])
{
	my ($what, $origin) = @$nh;
	(my $id = "f-nh-$what") =~ s/ /-/g;
	run_case(name => "next_href to $what", id => $id,
		fault => { action => 'next_href',
			value => "$origin/checkr/v1/candidates/$id/documents?page=2&per_page=100" },
		error => qr/next|host|refus/i,
		after => sub {
			my ($since) = @_;
			my @away = grep { $_->{headers}{host} ne "127.0.0.1:$port"
				  || ($_->{raw_path} =~ /page=2/) } @{ mock_requests($since) };
			is(scalar(@away), 0, "next_href to $what: nothing was sent there")
			  or diag(explain \@away);
		});
}

# A page whose next_href is itself; a cycle of two pages.
run_case(name => 'a page loop (next_href to the same page)', id => 'many-5',
	table => "${S}_p1.candidate_documents",
	faults => [ { path_contains => '/candidates/many-5/', skip => 1,
			action => 'next_href',
			value => "$base/checkr/v1/candidates/many-5/documents?page=2&per_page=1" } ],
	error => qr/page|twice|loop/i, timeout => 20,
	after => sub {
		my ($since) = @_;
		my $n = grep { index($_->{raw_path}, '/many-5/') >= 0 } @{ mock_requests($since) };
		ok($n <= 4, "page loop: stopped after $n requests");
	});
run_case(name => 'a cycle of two pages', id => 'many-6',
	table => "${S}_p1.candidate_documents",
	faults => [ { path_contains => '/candidates/many-6/documents?page=3', action => 'next_href',
			value => "$base/checkr/v1/candidates/many-6/documents?page=2&per_page=1" } ],
	error => qr/page|twice|loop/i, timeout => 20,
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

run_case(name => 'a 429 storm longer than max_retries', id => 'f-storm-long',
	table => "${S}_retry.candidate_documents",
	fault => { %too_many, times => 20 },
	error => qr/429/, max_elapsed => 10,
	after => sub {
		my ($since) = @_;
		my $n = grep { index($_->{raw_path}, '/candidates/f-storm-long/') >= 0 }
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
