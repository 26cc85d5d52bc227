# tls.t -- HTTPS with a test CA (option ssl_ca_file): verified and working
# with the right CA, for API requests and downloads; refused with a wrong
# CA, without the option (the system's CAs), with a CA file that cannot be
# read; never downgraded to plain http by a redirect or a next_href
#
# Generates a CA, a certificate for 127.0.0.1 and localhost signed by it,
# and a second CA, with openssl; runs a mock of its own that serves the
# same endpoints over https too (mock_api.py --tls-cert).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use File::Temp qw(tempdir);
use IPC::Run ();
use JSON::PP ();
use Test::More;

CdTest::init();

my ($openssl) = grep { -x "$_/openssl" } split /:/, $ENV{PATH};
plan skip_all => 'openssl is not installed' unless $openssl;

# ----------------------------------------------------------------------
# Certificates, readable by the server's OS user

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;

sub openssl
{
	my (@args) = @_;
	my $out = '';
	IPC::Run::run([ 'openssl', @args ], '<', \'', '>&', \$out)
	  or BAIL_OUT("openssl @args: $out");
}

sub make_ca
{
	my ($name) = @_;
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/$name.key", '-out', "$dir/$name.pem", '-days', '2',
		'-subj', "/CN=candidate_docs test $name", '-batch');
}
make_ca('ca');
make_ca('other-ca');
open(my $ext, '>', "$dir/server.ext") or die $!;
print $ext "basicConstraints = CA:FALSE\n"
  . "keyUsage = digitalSignature, keyEncipherment\n"
  . "extendedKeyUsage = serverAuth\n"
  . "subjectAltName = IP:127.0.0.1, DNS:localhost\n";
close $ext;
openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
	'-keyout', "$dir/server.key", '-out', "$dir/server.csr", '-subj', '/CN=127.0.0.1',
	'-batch');
openssl('x509', '-req', '-in', "$dir/server.csr", '-CA', "$dir/ca.pem",
	'-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/server.pem", '-days', '2',
	'-extfile', "$dir/server.ext");
chmod 0644, glob("$dir/*");

# ----------------------------------------------------------------------
# A mock of this test's own, over http and https

my $mock = IPC::Run::start([ 'python3', $ENV{MOCK_API}, '--host', '127.0.0.1',
		'--port', '0', '--port-file', "$dir/mock.port",
		'--tls-cert', "$dir/server.pem", '--tls-key', "$dir/server.key",
		'--tls-port-file', "$dir/mock.tls-port" ],
	'<', \'', '>&', "$dir/mock.log");
END { $mock->kill_kill if $mock; }
wait_until(sub { -s "$dir/mock.port" }, 15)
  or BAIL_OUT('the mock did not start: ' . `cat $dir/mock.log`);
my $plain_port = do { local @ARGV = ("$dir/mock.port"); my $p = <>; chomp $p; $p };
my $tls_port = do { local @ARGV = ("$dir/mock.tls-port"); my $p = <>; chomp $p; $p };
$ENV{MOCK_URL} = "http://127.0.0.1:$plain_port";    # the control endpoints
my $https = "https://127.0.0.1:$tls_port";
my $plain = "http://127.0.0.1:$plain_port";
mock_reset();

my $S = 'tap_tls';
my %schemas = (tap_tls_ok => "${S}_ok", tap_tls_other => "${S}_other",
	tap_tls_system => "${S}_system", tap_tls_missing => "${S}_missing");
psql_run(join(";\n", map { "DROP SCHEMA IF EXISTS $_ CASCADE" } values %schemas));
my %common = (max_retries => '0', timeout_ms => '5000',
	base_url => "$https/checkr/v1");
create_server(name => 'tap_tls_ok', schema => $schemas{tap_tls_ok},
	options => { %common, ssl_ca_file => "$dir/ca.pem" });
create_server(name => 'tap_tls_other', schema => $schemas{tap_tls_other},
	options => { %common, ssl_ca_file => "$dir/other-ca.pem" });
create_server(name => 'tap_tls_system', schema => $schemas{tap_tls_system},
	options => \%common);
create_server(name => 'tap_tls_missing', schema => $schemas{tap_tls_missing},
	options => { %common, max_retries => '2', ssl_ca_file => "$dir/no-such-ca.pem" });

my $s = CdTest::Session->new;
my $e44 = 'e44aa283528e6fde7d542194';

# A Checkr listing of one document, with its download_uri and next_href.
sub listing
{
	my ($id, $uri, $next) = @_;
	my %doc = (id => $id, object => 'document', type => 'consent',
		created_at => '2015-02-11T20:01:50Z', filesize => 8576,
		filename => "$id.pdf", content_type => 'application/pdf');
	$doc{download_uri} = $uri if $uri;
	return JSON::PP->new->canonical->encode({ data => [ \%doc ], object => 'list',
			next_href => $next, previous_href => undef, count => 1 });
}

# A fault rule answering requests whose target holds $path with $body.
sub answer
{
	my ($path, $body, %rule) = @_;
	return { path_contains => $path, action => 'respond', status => 200,
		headers => { 'Content-Type' => 'application/json' }, body => $body, %rule };
}

sub requests_to
{
	my ($port, $since) = @_;
	return grep { ($_->{headers}{host} // '') eq "127.0.0.1:$port"
		  || ($_->{headers}{host} // '') eq "localhost:$port" } @{ mock_requests($since) };
}

# ----------------------------------------------------------------------
# Verified with the right CA: listings and downloads over https

{
	my $since = mock_seq();
	my $r = $s->query("SELECT count(*) FROM $schemas{tap_tls_ok}.candidate_documents"
		  . " WHERE candidate_id = '$e44'");
	is($r->{sqlstate}, '00000', 'https with the right CA: the listing works') or diag($r->{err});
	is($r->{out}, "3\n", 'with its rows');
	my @reqs = requests_to($tls_port, $since);
	is(scalar(@reqs), 1, 'one request, on the https port');
	ok(@reqs && $reqs[0]{headers}{authorization}, 'carrying the credentials');

	# a download_uri on https (localhost, another origin: no credentials)
	$since = mock_seq();
	mock_fault(answer('/candidates/tls-dl/', listing('d0000000000000000000aa01',
				"https://localhost:$tls_port/files/checkr/d0000000000000000000aa01")));
	$r = $s->query("SELECT id, length(content), md5(content) FROM"
		  . " $schemas{tap_tls_ok}.candidate_documents WHERE candidate_id = 'tls-dl'");
	is($r->{sqlstate}, '00000', 'a download over https works') or diag($r->{err});
	like($r->{out}, qr/^d0000000000000000000aa01\|8576\|[0-9a-f]{32}$/, 'with its bytes');
	my @files = grep { $_->{path} =~ m{^/files/} } requests_to($tls_port, $since);
	is(scalar(@files), 1, 'the file came over https');
	ok(@files && !exists $files[0]{headers}{authorization},
		'without credentials (another origin)');
	mock_clear_faults();
}

# ----------------------------------------------------------------------
# Refused: another CA, the system's CAs, a CA file that is not there

for my $case (
	[ 'tap_tls_other', 'a CA that did not sign the certificate' ],
	[ 'tap_tls_system', 'no ssl_ca_file (the system\'s CAs)' ])
{
	my ($server, $what) = @$case;
	my $since = mock_seq();
	my $r = $s->query("SELECT count(*) FROM $schemas{$server}.candidate_documents"
		  . " WHERE candidate_id = '$e44'");
	ok(is_hv($r->{sqlstate}), "$what: an HV-class ERROR") or diag(explain $r);
	like($r->{err}, qr/DETAIL:  .*certificate/i, "$what: the detail says it is the certificate");
	is(scalar(@{ mock_requests($since) }), 0, "$what: no request reached the API");
}
{
	my $r = $s->query("SELECT count(*) FROM $schemas{tap_tls_missing}.candidate_documents"
		  . " WHERE candidate_id = '$e44'");
	ok(is_hv($r->{sqlstate}), 'a CA file that cannot be read: an HV-class ERROR')
	  or diag(explain $r);
	like($r->{err}, qr/no-such-ca\.pem/, 'naming the file');
	unlike($r->{err}, qr/after \d+ attempts/, 'not retried');
}

# ----------------------------------------------------------------------
# Never down to plain http

# a download redirected from https to http: refused, never requested
{
	my $since = mock_seq();
	mock_fault(answer('/candidates/tls-redir/', listing('d0000000000000000000aa02',
				"https://localhost:$tls_port/files/checkr/d0000000000000000000aa02")),
		{ path_contains => '/files/checkr/d0000000000000000000aa02', times => 1,
			action => 'respond', status => 302,
			headers => { Location => "$plain/files/checkr/d0000000000000000000aa02" },
			body => '' });
	my $r = $s->query("SELECT length(content) FROM $schemas{tap_tls_ok}.candidate_documents"
		  . " WHERE candidate_id = 'tls-redir'");
	ok(is_hv($r->{sqlstate}), 'a download redirected to plain http: an error')
	  or diag(explain $r);
	my @down = grep { $_->{path} =~ m{^/files/} } requests_to($plain_port, $since);
	is(scalar(@down), 0, 'nothing was requested over plain http') or diag(explain \@down);
	is(scalar(grep { $_->{path} =~ m{^/files/} } requests_to($tls_port, $since)), 1,
		'the https download was tried once');
	mock_clear_faults();
}

# an API answer redirecting to plain http: API calls follow no redirect
{
	my $since = mock_seq();
	mock_fault({ path_contains => '/candidates/tls-302/', times => 1, action => 'respond',
			status => 302, headers => { Location =>
				  "$plain/checkr/v1/candidates/tls-302/documents?per_page=100" },
			body => '' });
	my $r = $s->query("SELECT count(*) FROM $schemas{tap_tls_ok}.candidate_documents"
		  . " WHERE candidate_id = 'tls-302'");
	like($r->{err}, qr/DETAIL:  HTTP status 302/, 'an API redirect is an error, not followed')
	  or diag(explain $r);
	is(scalar(requests_to($plain_port, $since)), 0, 'nothing reached plain http');
}

# a next_href on plain http: on base_url's host it goes to base_url's own
# scheme and port (https); on another host it is refused
{
	my $since = mock_seq();
	mock_fault(answer('tls-next/documents?per_page=100',
			listing('d0000000000000000000aa01', undef,
				"$plain/checkr/v1/candidates/tls-next/documents?page=2&per_page=100"),
			times => 1));
	my $r = $s->query("SELECT count(*) FROM $schemas{tap_tls_ok}.candidate_documents"
		  . " WHERE candidate_id = 'tls-next'");
	is($r->{sqlstate}, '00000', 'a next_href on http: followed') or diag($r->{err});
	is(scalar(requests_to($plain_port, $since)), 0, 'but never over plain http');
	my @pages = grep { $_->{raw_path} =~ /page=2/ } requests_to($tls_port, $since);
	is(scalar(@pages), 1, 'page 2 came over https');

	$since = mock_seq();
	mock_fault(answer('tls-next2/documents?per_page=100',
			listing('d0000000000000000000aa01', undef,
				"http://localhost:$plain_port/checkr/v1/candidates/tls-next2/documents?page=2"),
			times => 1));
	$r = $s->query("SELECT count(*) FROM $schemas{tap_tls_ok}.candidate_documents"
		  . " WHERE candidate_id = 'tls-next2'");
	like($r->{err}, qr/refusing to follow a next-page link to another host/,
		'a next_href to plain http on another host: refused') or diag($r->{err});
	is(scalar(requests_to($plain_port, $since)), 0, 'nothing reached plain http');
	mock_clear_faults();
}

$s->close;
psql_run(join(";\n", (map { "DROP SCHEMA IF EXISTS $_ CASCADE" } values %schemas),
		(map { "DROP SERVER IF EXISTS $_ CASCADE" } sort keys %schemas)));
done_testing();
