# secrets.t -- API keys never leak; values cannot change the URL or the
# headers; credentials go only to base_url's origin; TLS is verified
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run ();
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();
my $log_offset = server_log_offset();
my $port = $ENV{MOCK_PORT};
my $base = "http://127.0.0.1:$port";

my $closed_port = free_port();

# Every key used here, and the Basic credentials made from them.
my $bad_checkr = 'sk_live_WRONG_7f3e9a1b';
my $bad_kombo = 'kombo_WRONG_c0ffee42';
my $server_leak = 'sk_server_LEAK_5d1e';
my $crlf_leak = 'sk_CRLF_LEAK_91';
my @secrets = ('test_checkr_key', 'test_kombo_key', $bad_checkr, $bad_kombo,
	$server_leak, $crlf_leak);
push @secrets, map { encode_base64("$_:", '') } @secrets;

my $S = 'tap_secrets';
my @servers = qw(tap_sec_ck tap_sec_ko tap_sec_bad tap_sec_kbad tap_sec_down
  tap_sec_nokey tap_sec_tls tap_sec_kcrlf);
psql_run(join(";\n",
		(map { "DROP SCHEMA IF EXISTS $S$_ CASCADE" } ('', '_ko', '_bad', '_kbad',
				'_down', '_nokey', '_tls')),
		(map { "DROP SERVER IF EXISTS $_ CASCADE" } @servers),
		"DO \$\$BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_other')"
		  . " THEN REVOKE ALL ON SCHEMA candidate_docs FROM regress_other; END IF; END\$\$",
		'DROP ROLE IF EXISTS regress_other',
		'CREATE ROLE regress_other LOGIN NOSUPERUSER'));

create_server(name => 'tap_sec_ck', schema => $S, options => { max_retries => '0' });
create_server(name => 'tap_sec_ko', schema => "${S}_ko", api => 'kombo',
	options => { max_retries => '0', integration_id => 'workday:HWUTwvyx2wLoSUHphiWVrp28' });
create_server(name => 'tap_sec_bad', schema => "${S}_bad", key => $bad_checkr,
	options => { max_retries => '0' });
create_server(name => 'tap_sec_kbad', schema => "${S}_kbad", api => 'kombo',
	key => $bad_kombo,
	options => { max_retries => '0', integration_id => 'workday:HWUTwvyx2wLoSUHphiWVrp28' });
create_server(name => 'tap_sec_down', schema => "${S}_down",
	options => { max_retries => '0', base_url => "http://127.0.0.1:$closed_port/v1" });
create_server(name => 'tap_sec_nokey', schema => "${S}_nokey", key => undef);

my $s = CdTest::Session->new;
my $client = '';    # everything any client was shown

sub sq
{
	my ($sql, $timeout) = @_;
	my $r = $s->query($sql, $timeout // 30);
	$client .= "$r->{out}\n$r->{err}\n";
	return $r;
}

# Log everything this session does, and show it every message.
sq("SET log_min_messages = debug5");
sq("SET client_min_messages = debug5");
sq("SET log_statement = 'none'");
sq("SET log_error_verbosity = verbose");

# ----------------------------------------------------------------------
# Failures of many kinds, with everything logged

my @fail = (
	[ '401 from Checkr', "SELECT id FROM ${S}_bad.candidate_documents"
		  . " WHERE candidate_id = 'e44aa283528e6fde7d542194'", qr/Bad authentication/ ],
	[ '401 from Kombo', "SELECT id FROM ${S}_kbad.candidate_attachments"
		  . " WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'", qr/AUTHENTICATION_INVALID/ ],
	[ '401 for a story', "SELECT candidate_docs.create_candidate_story('r-sec',"
		  . " '{\"content\": \"x\"}', NULL, 'tap_sec_bad')", qr/Bad authentication/ ],
	[ '401 for an upload', "INSERT INTO ${S}_bad.candidate_documents"
		  . " (candidate_id, type, filename, content, content_type) VALUES"
		  . " ('c-sec', 'consent', 'a.pdf', '\\x255044462d'::bytea, 'application/pdf')",
		qr/Bad authentication/ ],
	[ '500', "SELECT id FROM $S.candidate_documents WHERE candidate_id = 'sec-f1'",
		qr/^DETAIL:  HTTP status 500\b.*Checkr says: Internal Server Error$/m ],
	[ 'network failure', "SELECT id FROM ${S}_down.candidate_documents"
		  . " WHERE candidate_id = 'x'", qr/connect/i ],
	[ 'no api_key in the user mapping', "SELECT id FROM ${S}_nokey.candidate_documents"
		  . " WHERE candidate_id = 'x'", qr/api_key/ ],
	[ 'bad option value', "ALTER SERVER tap_sec_ck OPTIONS (ADD timeout_ms 'soon')",
		qr/timeout_ms/ ],
	[ 'bad base_url', "ALTER SERVER tap_sec_ck OPTIONS (SET base_url 'http://example.com/v1')",
		qr/base_url/ ],
	[ 'unknown user mapping option', "ALTER USER MAPPING FOR CURRENT_USER SERVER tap_sec_ck"
		  . " OPTIONS (ADD api_kee 'x')", qr/api_kee/ ],
);
mock_fault({ path_contains => '/candidates/sec-f1/', action => 'respond', status => 500,
		headers => { 'Content-Type' => 'application/json' },
		body => '{"error":"Internal Server Error"}' });
for my $f (@fail)
{
	my ($what, $sql, $re) = @$f;
	my $r = sq($sql);
	ok($r->{sqlstate} ne '00000' && $r->{err} =~ /^ERROR:/m, "$what: fails")
	  or diag(explain $r);
	like($r->{err}, $re, "$what: says why");
}

# Statements that carry a key to the wrong place: refused, and the error
# does not repeat the value.  They are themselves not logged.
sq("SET log_min_error_statement = 'panic'");
for my $f (
	[ 'api_key on a server', "ALTER SERVER tap_sec_ck OPTIONS (ADD api_key '$server_leak')" ],
	[ 'api_key on a table',
		"ALTER FOREIGN TABLE $S.candidate_documents OPTIONS (ADD api_key '$server_leak')" ],
	[ 'api_key on a column', "ALTER FOREIGN TABLE $S.candidate_documents"
		  . " ALTER COLUMN id OPTIONS (ADD api_key '$server_leak')" ],
	[ 'api_key with CR/LF', "ALTER USER MAPPING FOR CURRENT_USER SERVER tap_sec_ck"
		  . " OPTIONS (SET api_key " . sql_literal("$crlf_leak\r\nX-Evil: 1") . ")" ],
	[ 'empty api_key', "ALTER USER MAPPING FOR CURRENT_USER SERVER tap_sec_ck"
		  . " OPTIONS (SET api_key '')" ])
{
	my ($what, $sql) = @$f;
	my $r = sq($sql);
	ok($r->{sqlstate} ne '00000', "$what: refused") or diag(explain $r);
	like($r->{err}, qr/api_key/, "$what: the error names api_key");
}
sq('RESET log_min_error_statement');

# Successful work, with EXPLAIN ANALYZE and downloads, and a Kombo warning
# (which goes to the server log).
for my $sql (
	"EXPLAIN (ANALYZE, VERBOSE) SELECT id, length(content) FROM $S.candidate_documents"
	  . " WHERE candidate_id IN ('e44aa283528e6fde7d542194', '5f1c2e3a4b5c6d7e8f901234')"
	  . " AND type = 'consent'",
	"EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM ${S}_ko.candidate_attachments"
	  . " WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'",
	"SELECT id, length(content) FROM ${S}_ko.candidate_attachments"
	  . " WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'",
	"SELECT candidate_docs.create_candidate_story('r-sec-ok', '{\"content\": \"fine\"}',"
	  . " NULL, 'tap_sec_ck')")
{
	my $r = sq($sql);
	is($r->{sqlstate}, '00000', 'works: ' . substr($sql, 0, 60)) or diag($r->{err});
}

# ----------------------------------------------------------------------
# Another role cannot read the key.

psql_ok("GRANT USAGE ON FOREIGN SERVER tap_sec_ck TO regress_other;"
	  . " GRANT USAGE ON SCHEMA $S TO regress_other;"
	  . " GRANT SELECT ON $S.candidate_documents TO regress_other;"
	  . " GRANT USAGE ON SCHEMA candidate_docs TO regress_other",
	'grants to regress_other');
{
	my $r = psql_run("SELECT usename, umoptions IS NULL FROM pg_user_mappings"
		  . " WHERE srvname = 'tap_sec_ck'", user => 'regress_other');
	$client .= "$r->{out}\n$r->{err}\n";
	is($r->{out}, "$ENV{PGUSER}|t\n",
		'regress_other sees the user mapping, but umoptions is NULL')
	  or diag(explain $r);
	$r = psql_run("SELECT umoptions FROM pg_catalog.pg_user_mapping",
		user => 'regress_other');
	$client .= "$r->{out}\n$r->{err}\n";
	like($r->{err}, qr/permission denied/, 'regress_other cannot read pg_user_mapping');
	$r = psql_run("SELECT id FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'e44aa283528e6fde7d542194'", user => 'regress_other');
	$client .= "$r->{out}\n$r->{err}\n";
	like($r->{err}, qr/ERROR:.*user mapping/, 'regress_other cannot use the superuser\'s mapping');
	$r = psql_run("SELECT candidate_docs.create_candidate_story('r-other',"
		  . " '{\"content\": \"x\"}', NULL, 'tap_sec_ck')", user => 'regress_other');
	$client .= "$r->{out}\n$r->{err}\n";
	like($r->{err}, qr/ERROR:.*user mapping/, 'regress_other cannot post a story with it');
}

# ----------------------------------------------------------------------
# Ids reach the API as one percent-encoded path segment.

my @ids = ('a/b', '..', '.', 'a/../../reports/r1/candidate_stories', '../x',
	'q?per_page=1&page=2', 'h#frag', '100%', '%2F', 'pct%2e%2e', 'sp ace',
	"\x{c3}\x{bc}n\x{c3}\x{af}\x{e2}\x{82}\x{ac}-\x{f0}\x{9f}\x{98}\x{80}",
	"cr\r\nlf", "\r\nX-Injected: 1", "tab\there", 'plus+semi;colon:at@',
	'back\\slash');
for my $id (@ids)
{
	(my $show = $id) =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord($1))/ge;
	my $since = mock_seq();
	my $r = sq("SELECT count(*) FROM $S.candidate_documents WHERE candidate_id = "
		  . sql_literal($id));
	my @all = @{ mock_requests($since) };
	my @reqs = grep { $_->{path} !~ m{^/files/} } @all;
	is(scalar(@reqs), 1, "id \"$show\": one listing request") or diag(explain \@reqs);
	# count(*) reads no column: no content download either
	is(scalar(@all) - scalar(@reqs), 0, "count(*) downloads no content")
	  if $id eq $ids[0];
	my $req = $reqs[0] // { path => '', raw_path => '', query => {} };
	my @segs = split('/', $req->{path}, -1);
	is(scalar(@segs), 6, "id \"$show\": the path has its segments")
	  or diag("path: $req->{path}");
	my $seg = $segs[4] // '';
	is(uri_unescape_bytes($seg), $id, "id \"$show\": one segment that decodes to the id");
	ok($seg =~ m{^[A-Za-z0-9\-._~%]+$} && $seg ne '.' && $seg ne '..',
		"id \"$show\": percent-encoded, not a dot segment")
	  or diag("segment: $seg");
	is(join(',', sort keys %{ $req->{query} }), 'per_page',
		"id \"$show\": the query is untouched");
	ok($r->{sqlstate} eq '00000' && $r->{out} =~ /^[1-9]/,
		"id \"$show\": the documents of that id")
	  or diag(explain $r);
}

# The same for a Kombo id; a type value with query-string characters is not
# one of Checkr's types, so it never reaches the query string.
{
	my $since = mock_seq();
	sq("SELECT count(*) FROM ${S}_ko.candidate_attachments WHERE candidate_id = 'k/../x?y#z'");
	my ($req) = @{ mock_requests($since) };
	is($req->{path} // '', '/kombo/v1/ats/candidates/k%2F..%2Fx%3Fy%23z/attachments',
		'a Kombo id is one percent-encoded segment');
	$since = mock_seq();
	my $r = sq("SELECT count(*) FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'e44aa283528e6fde7d542194'"
		  . " AND type = 'consent&per_page=1&types[]=ssn_card'");
	($req) = @{ mock_requests($since) };
	is($req->{query}{'types[]'}, undef,
		'a type value outside the list is not sent');
	is_deeply($req->{query}{per_page}, ['100'], 'a type value does not add parameters')
	  or diag(explain $req);
}

# ----------------------------------------------------------------------
# Header values with CR or LF are refused.

{
	my $evil = "workday:HWUTwvyx2wLoSUHphiWVrp28\r\nX-Evil: 1";
	my $since = mock_seq();
	my $r = psql_run("SET log_min_error_statement = 'panic';\n"
		  . "CREATE SERVER tap_sec_kcrlf FOREIGN DATA WRAPPER candidate_docs OPTIONS"
		  . " (api 'kombo', base_url '$base/kombo/v1', integration_id "
		  . sql_literal($evil) . ")");
	$client .= "$r->{out}\n$r->{err}\n";
	if ($r->{rc} == 0)
	{
		# accepted now: it must be refused when used
		psql_run("SET log_statement = 'none';\n"
			  . "CREATE USER MAPPING FOR CURRENT_USER SERVER tap_sec_kcrlf"
			  . " OPTIONS (api_key 'test_kombo_key');\n"
			  . "CREATE FOREIGN TABLE $S.kcrlf (id text, candidate_id text)"
			  . " SERVER tap_sec_kcrlf OPTIONS (resource 'candidate_attachments')");
		$r = sq("SELECT * FROM $S.kcrlf WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'");
	}
	like($r->{err}, qr/ERROR/, 'a server integration_id with CR/LF is refused');
	$r = sq("ALTER USER MAPPING FOR CURRENT_USER SERVER tap_sec_ko OPTIONS (ADD integration_id "
		  . sql_literal($evil) . ")");
	if ($r->{sqlstate} eq '00000')
	{
		$r = sq("SELECT id FROM ${S}_ko.candidate_attachments"
			  . " WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'");
		sq("ALTER USER MAPPING FOR CURRENT_USER SERVER tap_sec_ko OPTIONS (DROP integration_id)");
	}
	like($r->{err}, qr/ERROR/, 'a user mapping integration_id with CR/LF is refused');
	$r = sq("SELECT id FROM ${S}_ko.candidate_attachments"
		  . " WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id = "
		  . sql_literal($evil));
	like($r->{err}, qr/ERROR/, 'an integration_id condition with CR/LF is refused');
	my @evil = grep { exists $_->{headers}{'x-evil'}
		  || ($_->{headers}{'x-integration-id'} // '') =~ /[\r\n]|Evil/ }
	  @{ mock_requests($since) };
	is(scalar(@evil), 0, 'no request carried the injected header');
}

# ----------------------------------------------------------------------
# Downloads from another host carry no credentials.

{
	my $since = mock_seq();
	my $list = '{"data":[{"id":"d0000000000000000000aa01","object":"document",'
	  . '"type":"driver_license","created_at":"2015-02-11T20:01:50Z",'
	  . qq("download_uri":"http://localhost:$port/files/checkr/d0000000000000000000aa01",)
	  . '"filesize":8576,"filename":"dl.jpg","content_type":"image/jpeg"}],'
	  . '"object":"list","next_href":null,"previous_href":null,"count":1}';
	mock_fault({ path_contains => '/candidates/sec-xhost/', action => 'respond',
			status => 200, headers => { 'Content-Type' => 'application/json' },
			body => $list });
	my $r = sq("SELECT id, length(content) FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'sec-xhost'");
	is($r->{out}, "d0000000000000000000aa01|8576\n", 'Checkr: the file from another host')
	  or diag(explain $r);
	my @reqs = @{ mock_requests($since) };
	my ($lreq) = grep { $_->{path} =~ m{/candidates/sec-xhost/} } @reqs;
	ok($lreq && $lreq->{headers}{authorization}, 'Checkr: the listing carried credentials');
	my @files = grep { $_->{path} =~ m{^/files/} } @reqs;
	is(scalar(@files), 1, 'Checkr: one download');
	is($files[0]{headers}{host}, "localhost:$port", 'Checkr: the download went to localhost');
	ok(!exists $files[0]{headers}{authorization},
		'Checkr: the download to another host carried no Authorization')
	  or diag(explain $files[0]{headers});
	mock_clear_faults();

	# Kombo: data_url on another host
	$since = mock_seq();
	my $klist = '{"status":"success","data":{"results":[{"id":"EYJjhMQT3LtVKXnTbnRT8s6U",'
	  . '"application_id":null,"candidate_id":"sec-kxhost","type":"CV",'
	  . '"remote_id":"r1",'
	  . qq("data_url":"http://localhost:$port/files/kombo/EYJjhMQT3LtVKXnTbnRT8s6U",)
	  . '"file_name":"cv.pdf","content_type":"application/pdf",'
	  . '"remote_created_at":null,"remote_updated_at":null}],"next":null},"warnings":[]}';
	mock_fault({ path_contains => '/candidates/sec-kxhost/', action => 'respond',
			status => 200, headers => { 'Content-Type' => 'application/json' },
			body => $klist });
	$r = sq("SELECT id, length(content) FROM ${S}_ko.candidate_attachments"
		  . " WHERE candidate_id = 'sec-kxhost'");
	is($r->{out}, "EYJjhMQT3LtVKXnTbnRT8s6U|2048\n", 'Kombo: the file from another host')
	  or diag(explain $r);
	@files = grep { $_->{path} =~ m{^/files/} } @{ mock_requests($since) };
	is(scalar(@files), 1, 'Kombo: one download');
	ok(@files && !exists $files[0]{headers}{authorization},
		'Kombo: the download to another host carried no Authorization')
	  or diag(explain \@files);
	mock_clear_faults();

	# a same-host download redirected to another host
	$since = mock_seq();
	mock_fault({ path_contains => '/files/checkr/d0000000000000000000aa02', times => 1,
			action => 'respond', status => 302,
			headers => { Location =>
				  "http://localhost:$port/files/checkr/d0000000000000000000aa02" },
			body => '' });
	$r = sq("SELECT id, length(content) FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'consent'");
	is($r->{out}, "d0000000000000000000aa02|1024\n",
		'a download redirected to another host: the file') or diag(explain $r);
	my @got = grep { $_->{path} =~ m{^/files/} } @{ mock_requests($since) };
	my @away = grep { $_->{headers}{host} ne "127.0.0.1:$port" } @got;
	is(join(' ', map { "$_->{headers}{host} $_->{status}" } @got),
		"127.0.0.1:$port 302 localhost:$port 200",
		'a download redirected to another host: the redirect was followed there');
	ok(@away && !grep({ exists $_->{headers}{authorization} } @away),
		'a download redirected to another host carries no Authorization')
	  or diag(explain \@got);
	mock_clear_faults();
}

# ----------------------------------------------------------------------
# TLS: a self-signed certificate on loopback is refused.

SKIP:
{
	my ($openssl) = grep { -x "$_/openssl" } split /:/, $ENV{PATH};
	skip 'openssl not installed', 5 unless $openssl;
	my $dir = tempdir(CLEANUP => 1);
	my $genlog = '';
	my $gen = IPC::Run::run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
			'-keyout', "$dir/key.pem", '-out', "$dir/cert.pem", '-days', '1',
			'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
			'-batch'], '<', \'', '>&', \$genlog);
	skip "could not make a certificate: $genlog", 5 unless $gen;
	my $tls_port = free_port();
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(['openssl', 's_server', '-accept', $tls_port,
			'-cert', "$dir/cert.pem", '-key', "$dir/key.pem", '-www'],
		\$in, \$out, \$err);
	my $up = wait_until(sub {
			$h->pump_nb;
			my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
				PeerPort => $tls_port, Proto => 'tcp');
			# s_server serves one connection at a time: do not hold it
			close($c) if $c;
			return $c ? 1 : 0;
		}, 10, 0.05);
	$h->pump_nb for 1 .. 3;
	ok($up, 'openssl s_server is listening');
	create_server(name => 'tap_sec_tls', schema => "${S}_tls",
		options => { max_retries => '0', timeout_ms => '5000',
			base_url => "https://127.0.0.1:$tls_port/v1" });
	my $r = sq("SELECT id FROM ${S}_tls.candidate_documents WHERE candidate_id = 'x'");
	ok(is_hv($r->{sqlstate}), 'self-signed certificate: an HV-class ERROR')
	  or diag(explain $r);
	like($r->{err}, qr/certificate/i, 'self-signed certificate: the error says why');
	note(join(' | ', grep { /^(?:ERROR|DETAIL):/ } split /\n/, $r->{err}));
	# the client ends the handshake: with an alert about the certificate,
	# or (libcurl 8.22 with OpenSSL 3.6) by closing the connection without one
	my $aborted = qr/alert (?:unknown ca|bad certificate|certificate unknown)|unexpected eof while reading/;
	wait_until(sub { $h->pump_nb; "$out$err" =~ $aborted }, 3);
	$h->kill_kill;
	like("$out$err", $aborted,
		'the client aborted the TLS handshake over the certificate');
}

# ----------------------------------------------------------------------
# No key anywhere: not in the server log (at debug5), not in what any
# client was shown.

$s->close;
my $log = server_log_since($log_offset);
like($log, qr/DEBUG:/, 'the server log has the debug output of this test');
like($log, qr/Bad authentication/, 'the server log has the errors of this test');
for my $secret (@secrets)
{
	my $n = () = $log =~ /\Q$secret\E/g;
	is($n, 0, "the server log does not contain \"$secret\"");
	$n = () = $client =~ /\Q$secret\E/g;
	is($n, 0, "the client output does not contain \"$secret\"");
}
mock_reset();
psql_run(join(";\n",
		(map { "DROP SCHEMA IF EXISTS $S$_ CASCADE" } ('', '_ko', '_bad', '_kbad',
				'_down', '_nokey', '_tls')),
		(map { "DROP SERVER IF EXISTS $_ CASCADE" } @servers),
		'REVOKE ALL ON SCHEMA candidate_docs FROM regress_other',
		'DROP ROLE IF EXISTS regress_other'));

done_testing();
