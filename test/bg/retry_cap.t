# retry_cap.t -- a server-requested wait is capped at 60 seconds
#
# A 429 asks for Retry-After: 3600 (an hour); the scan must retry after 60 s
# and succeed.  It waits a minute, so test/run_tests.sh runs it beside the
# other tests, on a cluster and mock of its own (test/cluster.sh start), which
# no other test resets or restarts.  The budget is off (requests_per_minute
# 0): the wait measured is the transport's alone.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time);

plan skip_all => 'PG_CONFIG is not set: run under make test'
  unless $ENV{PG_CONFIG} && $ENV{MOCK_URL};

my $cluster = "$FindBin::Bin/../cluster.sh";
my $out = `bash '$cluster' start 2>/dev/null`;
BAIL_OUT('could not start a cluster') if $?;
my %env = $out =~ /^export (\w+)='([^']*)'$/mg;
$ENV{$_} = $env{$_} for keys %env;
END { system('bash', $cluster, 'stop', $env{TEST_CLUSTER_DIR}) if $env{TEST_CLUSTER_DIR}; }

CdTest::init();
mock_reset();
create_server(name => 'tap_cap', schema => 'tap_cap',
	options => { max_retries => '1', timeout_ms => '10000', requests_per_minute => '0' });

my $id = 'e44aa283528e6fde7d542194';
mock_fault({ path_contains => "/candidates/$id/", times => 1, action => 'respond',
		status => 429,
		headers => { 'Retry-After' => '3600', 'Content-Type' => 'application/json' },
		body => '{"error":"Too many requests"}' });
my $s = CdTest::Session->new;
my $r = $s->query("SELECT count(*) FROM tap_cap.candidate_documents"
	  . " WHERE candidate_id = '$id'", 75);
ok(!$r->{timeout}, 'Retry-After: 3600: the query ended within 75 s')
  or $s->close;
is($r->{sqlstate}, '00000', 'Retry-After: 3600: no error') or diag($r->{err});
is($r->{out}, "3\n", 'Retry-After: 3600: the rows, after the retry');
my @reqs = grep { index($_->{raw_path}, "/candidates/$id/") >= 0 } @{ mock_requests() };
is(join(' ', map { $_->{status} } @reqs), '429 200', 'one 429, then one retry');
if (@reqs == 2)
{
	my $wait = $reqs[1]{started} - $reqs[0]{finished};
	note(sprintf('the retry came %.3f s after the 429', $wait));
	ok($wait >= 59.9 && $wait < 60.3, 'the retry came 60 s after the 429, not an hour')
	  or diag(sprintf('after %.3f s', $wait));
}
else
{
	fail('the retry came 60 s after the 429, not an hour');
}
$s->close;
done_testing();
