# urls.t -- URLs the API hands out: next-page links on base_url's host,
# download URLs that do not parse, and signed download URLs in messages
#
# (1) A Checkr next_href on base_url's host with another scheme or port
#     (the real API's documented hrefs say http:// for https requests) is
#     requested on base_url's scheme and port, with the credentials; another
#     host is refused and nothing is sent there.
# (2) A download_uri that is not an http(s) URL: an error naming the
#     document and the field, and no request.
# (3) A download URL's query string (signatures, tokens) appears neither in
#     the error nor in the server log.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;

CdTest::init();
mock_reset();
my $port = $ENV{MOCK_PORT};
my $base = "http://127.0.0.1:$port";

my $closed_port = free_port();

my $S = 'tap_urls';
psql_run("DROP SCHEMA IF EXISTS $S CASCADE");
create_server(name => 'tap_urls', schema => $S,
	options => { max_retries => '0', page_size => '2' });
my $s = CdTest::Session->new;

# ----------------------------------------------------------------------
# (1) next_href on base_url's host, another scheme or port
for my $case ([ 'another port', "http://127.0.0.1:$closed_port" ],
	[ 'https, default port', 'https://127.0.0.1' ],
	[ 'https, the mock\'s port', "https://127.0.0.1:$port" ])
{
	my ($what, $origin) = @$case;
	mock_config({ href_origin => $origin });
	my $since = mock_seq();
	my $r = $s->query("SELECT count(*) FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'many-7'");
	is($r->{sqlstate}, '00000', "next_href on $what: no error") or diag($r->{err});
	is($r->{out}, "7\n", "next_href on $what: every page read");
	my @reqs = grep { index($_->{raw_path}, '/candidates/many-7/') >= 0 }
	  @{ mock_requests($since) };
	is(join(' ', map { $_->{raw_path} =~ /[?&]page=(\d+)/ ? $1 : 1 } @reqs), '1 2 3 4',
		"next_href on $what: pages 1 to 4 requested from base_url")
	  or diag(explain \@reqs);
	is(scalar(grep { ($_->{headers}{authorization} // '') =~ /^Basic / } @reqs), 4,
		"next_href on $what: each page with the credentials");
}

# another host: refused, nothing sent there
{
	mock_config({ href_origin => "http://localhost:$port" });
	my $since = mock_seq();
	my $r = $s->query("SELECT count(*) FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'many-7'");
	is($r->{sqlstate}, 'HV000', 'next_href to another host: refused')
	  or diag($r->{err});
	like($r->{err}, qr/refusing to follow a next-page link to another host/,
		'next_href to another host: says so');
	my @reqs = @{ mock_requests($since) };
	is(scalar(@reqs), 1, 'next_href to another host: only page 1 was requested')
	  or diag(explain \@reqs);
	mock_config({ href_origin => '' });
}

# ----------------------------------------------------------------------
# (2), (3) download URLs

# A Checkr listing of one document whose download_uri is $uri.
sub listing_with
{
	my ($uri) = @_;
	my $doc = qq({"id":"d00000000000000000000u01","object":"document","type":"consent",)
	  . qq("created_at":"2016-05-01T10:00:00Z","download_uri":$uri,)
	  . qq("filesize":10,"filename":"x.pdf","content_type":"application/pdf"});
	return { path_contains => '/candidates/u-dl/', action => 'respond', status => 200,
		headers => { 'Content-Type' => 'application/json' },
		body => qq({"data":[$doc],"object":"list","next_href":null,)
		  . qq("previous_href":null,"count":1}) };
}

my $content_sql = "SELECT id, length(content) FROM $S.candidate_documents"
  . " WHERE candidate_id = 'u-dl'";

for my $bad ([ 'not a URL', '"not a url"', qr/not an absolute URL/ ],
	[ 'another scheme', '"ftp://127.0.0.1/x.pdf"', qr/scheme must be http or https/ ],
	[ 'a relative path', '"/files/checkr/x"', qr/not an absolute URL/ ])
{
	my ($what, $json, $detail) = @$bad;
	mock_fault(listing_with($json));
	my $since = mock_seq();
	my $r = $s->query($content_sql);
	is($r->{sqlstate}, 'HV024', "download_uri $what: an invalid attribute value")
	  or diag($r->{err});
	like($r->{err}, qr/could not download document "d00000000000000000000u01": field "download_uri" is not a URL/,
		"download_uri $what: names the document and the field");
	like($r->{err}, $detail, "download_uri $what: says why");
	is(scalar(grep { $_->{raw_path} !~ m{/candidates/u-dl/} } @{ mock_requests($since) }), 0,
		"download_uri $what: no download was attempted");
	mock_clear_faults();
}

# a signed URL that fails: its query is redacted everywhere
{
	my $log_offset = server_log_offset();
	mock_fault(listing_with(qq("$base/files/checkr/nope?X-Amz-Signature=SECRETSIG123&token=SECRETTOK456")));
	my $r = $s->query($content_sql);
	ok(is_hv($r->{sqlstate}), 'failed signed download: an FDW error') or diag($r->{err});
	like($r->{err}, qr{GET \Q$base\E/files/checkr/nope\?REDACTED},
		'failed signed download: the URL without its query');
	unlike($r->{err}, qr/SECRET/, 'failed signed download: no token in the error');
	my $log = server_log_since($log_offset);
	like($log, qr{/files/checkr/nope\?REDACTED}, 'the server log has the redacted URL');
	unlike($log, qr/SECRET/, 'failed signed download: no token in the server log');

	# the same URL followed through a redirect that goes nowhere
	mock_clear_faults();
	mock_fault(listing_with(qq("$base/files/checkr/gone?sig=SECRETSIG789")),
		{ path_contains => '/files/checkr/gone', action => 'respond', status => 302,
			headers => { Location => "$base/files/checkr/nope?sig=SECRETSIG000" },
			body => '' });
	$log_offset = server_log_offset();
	$r = $s->query($content_sql);
	ok(is_hv($r->{sqlstate}), 'redirected signed download: an FDW error') or diag($r->{err});
	unlike($r->{err} . server_log_since($log_offset), qr/SECRET/,
		'redirected signed download: no token in the error or the log');
	mock_clear_faults();
}

$s->close;
done_testing();
