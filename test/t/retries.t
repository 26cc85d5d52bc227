# retries.t -- how long a retry waits, and how a Kombo concurrency limit
# lowers a scan's fan-out
#
# 429, 5xx and network failures are retried with exponential back-off and
# jitter unless the server says how long to wait: Retry-After (seconds or an
# HTTP date), and on 429 Checkr's X-Ratelimit-Reset (ISO time) or Kombo's
# ratelimit-reset (seconds).  A Kombo 429 PLATFORM.CONCURRENCY_LIMIT_EXCEEDED
# also lowers the number of requests the scan keeps in flight.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time);

CdTest::init();
mock_reset();

my $S = 'tap_retries';
psql_run("DROP SCHEMA IF EXISTS $S CASCADE; DROP SCHEMA IF EXISTS ${S}_k CASCADE");
create_server(name => 'tap_r_ck', schema => $S,
	options => { max_retries => '5' });
create_server(name => 'tap_r_ko', schema => "${S}_k", api => 'kombo',
	options => { max_retries => '8', max_concurrency => '8',
		integration_id => 'workday:HWUTwvyx2wLoSUHphiWVrp28' });

my $s = CdTest::Session->new;
my $e44 = 'e44aa283528e6fde7d542194';

# Run a Checkr (or Kombo) query for $id after installing @faults; returns
# the elapsed seconds and checks the row count.
sub timed_case
{
	my ($name, $table, $id, $rows, @faults) = @_;
	mock_clear_faults();
	mock_fault(@faults) if @faults;
	my $r = $s->query("SELECT count(*) FROM $table WHERE candidate_id = '$id'");
	is($r->{sqlstate}, '00000', "$name: no error") or diag($r->{err});
	like($r->{out}, qr/^\s*$rows\s*$/m, "$name: $rows rows");
	return $r->{elapsed};
}

sub fault429
{
	my ($path, %headers) = @_;
	return { path_contains => $path, times => 1, action => 'respond',
		status => 429, headers => { 'Content-Type' => 'application/json', %headers },
		body => '{"error":"Too many requests"}' };
}

my $ck = "$S.candidate_documents";
my $path = "/candidates/$e44/";

my $t = timed_case('Retry-After: 1', $ck, $e44, 3,
	fault429($path, 'Retry-After' => '1'));
# waits: what the server asked for, plus at most 0.4 s (the 100 ms wait
# slice, the query itself, a loaded machine); an HTTP date or a reset time
# has whole seconds, so a wait for "now + 2 s" is between 1 and 2 s
ok($t >= 0.9 && $t < 1.4, "Retry-After in seconds is honoured (waited ${t}s)");

my $date = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time() + 2));
$t = timed_case('Retry-After as an HTTP date', $ck, $e44, 3,
	fault429($path, 'Retry-After' => $date));
ok($t >= 0.9 && $t < 2.4, "Retry-After as an HTTP date is honoured (waited ${t}s)");

my $iso = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() + 2));
$t = timed_case('429 with X-Ratelimit-Reset', $ck, $e44, 3,
	fault429($path, 'X-Ratelimit-Reset' => $iso));
ok($t >= 0.9 && $t < 2.4, "Checkr X-Ratelimit-Reset is honoured on 429 (waited ${t}s)");

# a reset time on a 503 is only information: back-off as usual
$iso = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() + 10));
$t = timed_case('503 with X-Ratelimit-Reset', $ck, $e44, 3,
	{ path_contains => $path, times => 1, action => 'respond', status => 503,
		headers => { 'X-Ratelimit-Reset' => $iso }, body => 'unavailable' });
ok($t < 1.0, "a rate-limit reset on a 503 does not set the wait (waited ${t}s)");

$t = timed_case('Kombo 429 with ratelimit-reset', "${S}_k.candidate_attachments",
	'BTbkvY2w5ou3z3hdwuKcKzDh', 2,
	fault429('/candidates/BTbkvY2w5ou3z3hdwuKcKzDh/', 'ratelimit-reset' => '1'));
ok($t >= 0.9 && $t < 1.4, "Kombo ratelimit-reset is honoured (waited ${t}s)");

# no header: exponential back-off with jitter, each wait longer than the last
{
	my $since = mock_seq();
	$t = timed_case('three 503s', $ck, $e44, 3,
		{ path_contains => $path, times => 3, action => 'respond', status => 503,
			body => 'unavailable' });
	my @starts = map { $_->{started} }
	  grep { index($_->{raw_path}, $path) >= 0 } @{ mock_requests($since) };
	is(scalar @starts, 4, 'three 503s: four attempts');
	my @gaps = map { $starts[$_] - $starts[$_ - 1] } 1 .. $#starts;
	ok($gaps[0] >= 0.1 && $gaps[0] <= 1.0, "first back-off about 125-250 ms ($gaps[0])");
	# 125-250, 250-500, 500-1000 ms: the third wait is always the longest
	ok($gaps[2] >= 0.5 && $gaps[2] > $gaps[0], "back-off grows: @gaps");
}

# a 400 is not retried
{
	my $since = mock_seq();
	mock_clear_faults();
	mock_fault({ path_contains => $path, times => 1, action => 'respond',
		status => 400, body => '{"error":"Bad request"}' });
	my $r = $s->query("SELECT count(*) FROM $ck WHERE candidate_id = '$e44'");
	like($r->{sqlstate}, qr/^HV/, '400: an HV error');
	is(scalar(grep { index($_->{raw_path}, $path) >= 0 } @{ mock_requests($since) }),
		1, '400: not retried');
}

# ----------------------------------------------------------------------
# Kombo's concurrency limit lowers the fan-out

# The most requests in flight at once among those started after $after.
sub max_in_flight
{
	my ($reqs, $after) = @_;
	my @later = grep { $_->{started} > $after } @$reqs;
	my $max = 0;
	for my $r (@later)
	{
		my $n = grep { $_->{started} <= $r->{started} && $_->{finished} > $r->{started} } @later;
		$max = $n if $n > $max;
	}
	return $max;
}

my @ids = map { "conc-$_" } 1 .. 24;
my $in_list = join(', ', map { "'$_'" } @ids);
my $kq = "SELECT count(*) FROM ${S}_k.candidate_attachments WHERE candidate_id IN ($in_list)";
mock_clear_faults();
mock_config({ latency_ms => 300 });

my $since = mock_seq();
my $clean = $s->query($kq);
is($clean->{sqlstate}, '00000', 'fan-out without a limit: no error');
my @reqs = grep { $_->{raw_path} =~ m{/attachments} } @{ mock_requests($since) };
my $free = max_in_flight(\@reqs, 0);
ok($free >= 7, "fan-out without a limit keeps about 8 requests in flight ($free)");

$since = mock_seq();
mock_fault({ path_contains => '/attachments', times => 4, action => 'respond',
	status => 429, headers => { 'Content-Type' => 'application/json', 'Retry-After' => '0' },
	body => '{"status":"error","error":{"code":"PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",'
	  . '"title":null,"message":"Too many concurrent requests","log_url":null}}' });
my $limited = $s->query($kq);
is($limited->{sqlstate}, '00000', 'fan-out with a concurrency limit: no error')
  or diag($limited->{err});
is($limited->{out}, $clean->{out}, 'fan-out with a concurrency limit: the same rows');
@reqs = grep { $_->{raw_path} =~ m{/attachments} } @{ mock_requests($since) };
my @refused = grep { $_->{status} == 429 } @reqs;
is(scalar @refused, 4, 'four requests refused with 429');
my $last_refusal = (sort { $a <=> $b } map { $_->{finished} } @refused)[-1];
# the mock's clock: a request may start in the moment between the last
# refusal's answer and the scan reading it; count those started 50 ms later
my $after = max_in_flight(\@reqs, $last_refusal + 0.05);
ok($after <= 4,
	"after four concurrency refusals the scan keeps fewer in flight ($after, was $free)");
mock_config({ latency_ms => 0 });
mock_clear_faults();

$s->close;
psql_run("DROP SCHEMA IF EXISTS $S CASCADE; DROP SCHEMA IF EXISTS ${S}_k CASCADE;"
	  . " DROP SERVER IF EXISTS tap_r_ck CASCADE; DROP SERVER IF EXISTS tap_r_ko CASCADE");
mock_reset();
done_testing();
