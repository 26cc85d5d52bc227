# budget_local.t -- without shared_preload_libraries, the budget and the
# statistics are per backend, and a NOTICE says so once per backend
#
# Starts a cluster of its own (test/cluster.sh with CLUSTER_PRELOAD=pg_cron,
# so candidate_docs is loaded on first use only) and a mock beside it.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time);

plan skip_all => 'PG_CONFIG is not set: run under make test'
  unless $ENV{PG_CONFIG} && $ENV{MOCK_URL};

my $cluster = "$FindBin::Bin/../cluster.sh";
my $out = `CLUSTER_PRELOAD=pg_cron bash '$cluster' start 2>/dev/null`;
BAIL_OUT('could not start a cluster without candidate_docs preloaded') if $?;
my %env = $out =~ /^export (\w+)='([^']*)'$/mg;
$ENV{$_} = $env{$_} for keys %env;
END { system('bash', $cluster, 'stop', $env{TEST_CLUSTER_DIR}) if $env{TEST_CLUSTER_DIR}; }

CdTest::init();
is(psql_value('SHOW shared_preload_libraries'), 'pg_cron', 'candidate_docs is not preloaded');
create_server(name => 'tap_local', schema => 'tap_local',
	options => { requests_per_minute => '60' });
my $t = 'tap_local.candidate_documents';
my $e44 = 'e44aa283528e6fde7d542194';

my $s = CdTest::Session->new;
my $r = $s->query("SELECT count(*) FROM $t WHERE candidate_id = '$e44'");
is($r->{sqlstate}, '00000', 'the query works') or diag($r->{err});
like($r->{out}, qr/^3$/m, 'with its rows');
like($r->{err}, qr/NOTICE:  00000: candidate_docs is not in shared_preload_libraries: the request budget and statistics are per backend/,
	'a NOTICE says the budget is per backend');
like($r->{err}, qr/HINT:  Add candidate_docs to shared_preload_libraries/, 'with a hint');
$r = $s->query("SELECT count(*) FROM $t WHERE candidate_id = '$e44'");
unlike($r->{err}, qr/NOTICE/, 'only once per backend');
$r = $s->query('SELECT server, requests, responses_2xx, shared FROM candidate_docs.stats');
is($r->{out}, "tap_local|2|2|f\n", "the view shows this backend's own requests");

# another backend has a budget and counters of its own
my $s2 = CdTest::Session->new;
$r = $s2->query('SELECT count(*) FROM candidate_docs.stats');
like($r->{err}, qr/NOTICE:.*per backend/, 'the other backend gets the NOTICE too');
is($r->{out}, "0\n", 'and sees none of the first backend\'s requests');
# 60 a minute hold six at once: eight ids make the rest wait, per backend
$r = $s2->query("SELECT count(*) FROM $t WHERE candidate_id IN"
	  . " ('l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8')", 30);
is($r->{sqlstate}, '00000', 'a fan-out beyond the budget works') or diag($r->{err});
ok($r->{elapsed} >= 1.5, sprintf('and waits for the rate (%.2f s)', $r->{elapsed}));
$r = $s2->query('SELECT requests, budget_waits FROM candidate_docs.stats');
is($r->{out}, "8|2\n", 'the per-backend budget made two requests wait');

$s->close;
$s2->close;
done_testing();
