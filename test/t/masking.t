# masking.t -- an API key never shows in an error or the server log, even
# when a response echoes it: plain, as the Basic credentials, base64 at any
# alignment, whole or cut, around the 200-byte cut of a body excerpt; the
# API's own error words, a JSON parser's complaint and Kombo warnings too
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use MIME::Base64 qw(encode_base64);
use Test::More;

CdTest::init();
mock_reset();
my $log_offset = server_log_offset();

my $checkr_key = 'test_checkr_key';
my $long_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dcQ9x';
my $kombo_key = 'test_kombo_key';

# The base64 a key can show as: the Basic credentials "KEY:" and, at each
# of the three alignments of a base64 stream, the characters that only the
# key's bytes decide.
sub b64 { return encode_base64($_[0], ''); }

sub cores
{
	my ($key) = @_;
	my @out;
	for my $a (0 .. 2)
	{
		my $enc = b64(('#' x $a) . $key);
		my $first = int(($a + 2) / 3);              # first group of key bytes only
		my $last = int(($a + length($key)) / 3) - 1;  # last such group
		push @out, substr($enc, 4 * $first, 4 * ($last - $first + 1))
		  if $last >= $first;
	}
	return @out;
}

# Every 8-character piece of a key's forms: none may show anywhere.
my %forbidden;
for my $key ($checkr_key, $long_key, $kombo_key)
{
	for my $form ($key, b64("$key:"), cores($key))
	{
		$forbidden{ substr($form, $_, 8) } = $key for 0 .. length($form) - 8;
	}
}

sub leaks
{
	my ($text) = @_;
	return grep { index($text, $_) >= 0 } sort keys %forbidden;
}

my $S = 'tap_mask';
psql_run("DROP SCHEMA IF EXISTS ${S} CASCADE; DROP SCHEMA IF EXISTS ${S}_long CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_ko CASCADE");
create_server(name => 'tap_mask_ck', schema => $S, options => { max_retries => '0' });
create_server(name => 'tap_mask_long', schema => "${S}_long", key => $long_key,
	options => { max_retries => '0' });
create_server(name => 'tap_mask_ko', schema => "${S}_ko", api => 'kombo',
	options => { max_retries => '0', integration_id => 'workday:HWUTwvyx2wLoSUHphiWVrp28' });

my $s = CdTest::Session->new;
$s->query("SET log_min_messages = debug5");
$s->query("SET log_error_verbosity = verbose");
$s->query("SET log_statement = 'none'");

my $client = '';

# Run $sql against a response body $body for candidate $cid; returns the
# error text the client got.
sub with_body
{
	my ($sql, $cid, $status, $ctype, $body) = @_;
	mock_clear_faults();
	mock_fault({ path_contains => "/candidates/$cid/", times => 1, action => 'respond',
			status => $status, headers => { 'Content-Type' => $ctype },
			body => $body });
	my $r = $s->query($sql, 30);
	$client .= "$r->{out}\n$r->{err}\n";
	return $r;
}

# ----------------------------------------------------------------------
# A proxy's 502 page that echoes the request, with the secret starting at
# every offset around the 200-byte cut of the excerpt.

my $page_head = "<html><head><title>502 Bad Gateway</title></head><body>"
  . "<h1>Bad Gateway</h1><p>The upstream answered nothing. You sent:</p><pre>";
my $checked = 0;
my @bad;
for my $case (
	[ $checkr_key, $S ],
	[ $long_key, "${S}_long" ])
{
	my ($key, $schema) = @$case;
	my @echoes = (
		"Authorization: Basic " . b64("$key:"),
		$key,
		"X-Session: " . b64("u=1;$key:"),     # the key at alignment 1 (3 + 1 bytes)
		"X-Session: " . b64("u=12;$key:"),    # alignment 2
		"X-Session: " . b64("u=123;$key:"),   # alignment 0, after other bytes
	);
	for my $echo (@echoes)
	{
		for my $at (200 - length($echo) - 2 .. 203)
		{
			next if $at < length($page_head);
			my $body = $page_head . ('.' x ($at - length($page_head))) . $echo
			  . "\r\nUser-Agent: candidate_docs</pre></body></html>\n";
			my $cid = "mask-$checked";
			my $r = with_body("SELECT id FROM $schema.candidate_documents"
				  . " WHERE candidate_id = '$cid'", $cid, 502, 'text/html', $body);
			$checked++;
			if ($r->{err} !~ /HTTP status 502\..*502 Bad Gateway/)
			{
				push @bad, "no excerpt at $at: $r->{err}";
				next;
			}
			push @bad, map { "\"$_\" at offset $at of \"$echo\"" } leaks($r->{err});
		}
	}
}
ok($checked > 150, "$checked bodies checked");
is(scalar(@bad), 0, 'no piece of the key or its base64 in any excerpt')
  or diag(join("\n", @bad[0 .. ($#bad < 20 ? $#bad : 20)]));

# A body that ends with a part of the credentials, cut by the excerpt:
# what shows of it at the cut is masked too.
@bad = ();
my $basic = b64("$long_key:");
for my $keep (8, 11, 20, length($basic) - 1)
{
	# "Authorization: Basic " and the part kept straddle the cut
	for my $at (180 - $keep .. 178)
	{
		my $body = $page_head . ('.' x ($at - length($page_head)))
		  . "Authorization: Basic " . substr($basic, 0, $keep);
		my $r = with_body("SELECT id FROM ${S}_long.candidate_documents"
			  . " WHERE candidate_id = 'mask-cut'", 'mask-cut', 502, 'text/html', $body);
		push @bad, map { "\"$_\" ($keep chars at $at)" } leaks($r->{err});
	}
}
is(scalar(@bad), 0, 'no piece of a credential cut short at the excerpt\'s edge')
  or diag(join("\n", @bad[0 .. ($#bad < 20 ? $#bad : 20)]));

# Fewer than 8 characters of the credentials, cut by the edge: the start
# of a form that the cut leaves is masked too.
{
	my $body = $page_head . ('.' x (195 - length($page_head))) . substr(b64("$checkr_key:"), 0, 7)
	  . "</pre>";
	my $r = with_body("SELECT id FROM $S.candidate_documents WHERE candidate_id = 'mask-edge'",
		'mask-edge', 502, 'text/html', $body);
	like($r->{err}, qr/\.\.\.\*{5}\.\.\."/, 'what the cut leaves of a credential is masked')
	  or diag($r->{err});
}

# The excerpt still says what the page was; what was masked shows as *.
{
	my $r = with_body("SELECT id FROM $S.candidate_documents WHERE candidate_id = 'mask-x'",
		'mask-x', 502, 'text/html',
		"<html><title>502 Bad Gateway</title>Authorization: Basic "
		  . b64("$checkr_key:") . " key=$checkr_key</html>");
	like($r->{err}, qr/502 Bad Gateway<\/title>Authorization: Basic \*{24} key=\*{15}<\/html>/,
		'the excerpt keeps the page and masks the credentials')
	  or diag($r->{err});
}

# ----------------------------------------------------------------------
# The API's own words, a response that is not JSON, a Kombo warning.

{
	my $r = with_body("SELECT id FROM $S.candidate_documents WHERE candidate_id = 'mask-401'",
		'mask-401', 401, 'application/json',
		'{"error": "Bad authentication: key ' . $checkr_key . ' (Basic '
		  . b64("$checkr_key:") . ') is unknown"}');
	like($r->{err}, qr/Bad authentication: key \*+ \(Basic \*+\) is unknown/,
		'the API\'s own message is shown, masked') or diag($r->{err});
	is(join(', ', leaks($r->{err})), '', 'no key in the API\'s own message');

	# jansson quotes the token it choked on when that has 20 bytes or fewer
	for my $case ([ 'tap_mask_ck', $checkr_key ],
		[ 'tap_mask_long', substr(b64("$long_key:"), 0, 18) ],
		[ 'tap_mask_long', substr($long_key, 9, 17) ])
	{
		my ($server, $token) = @$case;
		mock_clear_faults();
		mock_fault({ path_contains => '/reports/mask-story/', times => 1,
				action => 'respond', status => 201,
				headers => { 'Content-Type' => 'application/json' },
				body => "{\"echo\" \"$token\"}" });
		$r = $s->query("SELECT candidate_docs.create_candidate_story('mask-story',"
			  . " '{\"content\": \"x\"}', NULL, '$server')", 30);
		$client .= "$r->{out}\n$r->{err}\n";
		like($r->{err}, qr/the response is not valid JSON\nDETAIL:  .*: ':' expected near '"\*+"'/,
			'a response that is not JSON: an error quoting it, masked') or diag($r->{err});
		is(join(', ', leaks($r->{err})), '', 'no key in the JSON parser\'s complaint');
	}

	my $offset = server_log_offset();
	my $list = '{"status":"success","data":{"results":[],"next":null},"warnings":['
	  . '{"message":"Upstream echoed Bearer ' . $kombo_key . '"},'
	  . '{"message":"and ' . b64("$kombo_key:") . '"}]}';
	mock_clear_faults();
	mock_fault({ path_contains => '/candidates/mask-warn/', times => 1, action => 'respond',
			status => 200, headers => { 'Content-Type' => 'application/json' },
			body => $list });
	$r = $s->query("SELECT id FROM ${S}_ko.candidate_attachments"
		  . " WHERE candidate_id = 'mask-warn'", 30);
	is($r->{sqlstate}, '00000', 'a listing with warnings works') or diag($r->{err});
	my $log = wait_until(sub {
			my $l = server_log_since($offset);
			return $l =~ /API warning.*\n(?:.*\n)*.*API warning/ ? $l : '';
		}, 5);
	like($log, qr/API warning for candidate "mask-warn": Upstream echoed Bearer \*+/,
		'the warning is logged, masked');
	is(join(', ', leaks($log)), '', 'no key in the logged warnings');
}

# ----------------------------------------------------------------------
# Nothing in the server log (debug5) or in what the client was shown.

$s->close;
mock_clear_faults();
my $log = server_log_since($log_offset);
like($log, qr/DEBUG:/, 'the server log has the debug output of this test');
like($log, qr/502 Bad Gateway/, 'the server log has the errors of this test');
my @in_log = leaks($log);
is(scalar(@in_log), 0, 'the server log shows no piece of a key')
  or diag(join(', ', @in_log[0 .. ($#in_log < 10 ? $#in_log : 10)]));
my @in_client = leaks($client);
is(scalar(@in_client), 0, 'the client was shown no piece of a key')
  or diag(join(', ', @in_client[0 .. ($#in_client < 10 ? $#in_client : 10)]));

mock_reset();
psql_run("DROP SCHEMA IF EXISTS ${S} CASCADE; DROP SCHEMA IF EXISTS ${S}_long CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_ko CASCADE;"
	  . " DROP SERVER IF EXISTS tap_mask_ck CASCADE; DROP SERVER IF EXISTS tap_mask_long CASCADE;"
	  . " DROP SERVER IF EXISTS tap_mask_ko CASCADE");

done_testing();
