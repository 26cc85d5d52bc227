# activity.t -- candidate_docs.activity shows a running join's progress from
# another session: requests done rising, the estimate of the time left
# falling, the expected total the join's 2,000 outer rows; a role sees its
# own backends only, pg_read_all_stats every one; the row goes when the
# query ends
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();

my $schema = 'tap_activity';
psql_run("DROP SCHEMA IF EXISTS $schema CASCADE");
psql_run("DROP ROLE IF EXISTS regress_activity_plain");
psql_run("DROP ROLE IF EXISTS regress_activity_stats");
# 6,000 a minute: a burst of 600, then 100 a second; the join's 2,000
# requests take about 14 s
create_server(name => 'tap_activity_ck', schema => $schema,
	options => { max_retries => '0', requests_per_minute => '6000',
		max_concurrency => '8' });
my $table = "$schema.candidate_documents";
psql_run("CREATE TABLE $schema.hr AS"
	  . " SELECT g AS n, 'act-' || g AS cid FROM generate_series(1, 2000) g;"
	  . " ANALYZE $schema.hr");
psql_run("CREATE ROLE regress_activity_plain; CREATE ROLE regress_activity_stats;"
	  . " GRANT pg_read_all_stats TO regress_activity_stats");
my $join = "SELECT count(*) FROM $schema.hr e JOIN $table d ON d.candidate_id = e.cid";
my $cols = 'requests_done, requests_queued, requests_inflight, rows_returned,'
  . ' budget_wait_seconds, requests_expected, seconds_left, server';

my $s = CdTest::Session->new;
my $pid = $s->pid;
my $watch = CdTest::Session->new;
my $sample = sub {
	my ($role) = @_;
	my $sql = "SELECT $cols FROM candidate_docs.activity WHERE pid = $pid";
	$sql = "SET ROLE $role; $sql; RESET ROLE" if $role;
	my $out = $watch->query($sql, 10)->{out};
	my @rows = grep { /\|/ } split /\n/, $out;
	return undef unless @rows;
	my @f = split /\|/, $rows[0];
	return { done => $f[0], queued => $f[1], inflight => $f[2], rows => $f[3],
		wait => $f[4], expected => $f[5], left => $f[6], server => $f[7] };
};

is($sample->(), undef, 'no row for a backend that runs nothing');
$s->send($join);
my $first = wait_until(
	sub {
		my $a = $sample->();
		return $a && $a->{done} > 0 && $a->{left} ne '' ? $a : undef;
	},
	20);
ok($first, 'the running join has a row with requests done and an estimate')
  or BAIL_OUT('no activity row');
is($first->{server}, 'tap_activity_ck', 'the row names the server');
is($first->{expected}, 2000, 'the expected total is the join\'s 2,000 outer rows');
sleep(2);
my $second = $sample->();
ok($second, 'the join is still running two seconds later') or diag(explain $first);
ok($second->{done} > $first->{done}, 'requests done rise')
  or diag(explain [$first, $second]);
ok($second->{left} < $first->{left}, 'the estimate of the time left falls')
  or diag(explain [$first, $second]);
ok($second->{wait} > 0, 'time waiting on the budget is counted')
  or diag(explain $second);
note(sprintf('done %d -> %d, left %.1f s -> %.1f s, budget wait %.1f s',
		$first->{done}, $second->{done}, $first->{left}, $second->{left},
		$second->{wait}));

is($sample->('regress_activity_plain'), undef,
	'a role without pg_read_all_stats does not see another role\'s backend');
ok($sample->('regress_activity_stats'), 'pg_read_all_stats sees it');

my $r = $s->wait(120);
ok(($r->{sqlstate} // '00000') eq '00000' && $r->{out} =~ /^\d+$/m,
	'the join ended without an error')
  or diag(explain $r);
is($sample->(), undef, 'no row once the query has ended');

# the current backend's own row, seen by the role that runs it
$r = $s->query("SET ROLE regress_activity_plain;"
	  . " SELECT count(*) FROM candidate_docs.activity; RESET ROLE", 10);
is($r->{out}, "0\n", 'a role sees no row when nothing of its own runs');

$s->close;
$watch->close;
psql_run("DROP SCHEMA $schema CASCADE");
psql_run("DROP ROLE regress_activity_plain; DROP ROLE regress_activity_stats");
done_testing();
