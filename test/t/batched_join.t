# batched_join.t -- a join on candidate_id sends the requests of a batch of
# outer rows concurrently, and a cancel still stops it within one second
#
# The mock answers after 100 ms and records the most API requests it was
# answering at once.  A join over 64 outer rows must reach max_concurrency
# (4 here) in flight, and take far less than 64 x 100 ms; with the batched
# join disabled the same join runs one request at a time.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();

my $schema = 'tap_batched';
psql_run("DROP SCHEMA IF EXISTS $schema CASCADE");
create_server(name => 'tap_batched_ck', schema => $schema,
	options => { max_retries => '0', timeout_ms => '60000', requests_per_minute => '0',
		max_concurrency => '4' });
my $table = "$schema.candidate_documents";
psql_run("CREATE TABLE $schema.hr AS"
	  . " SELECT g AS n, 'conc-' || g AS cid FROM generate_series(1, 64) g;"
	  . " ANALYZE $schema.hr");
my $join = "SELECT count(*) FROM $schema.hr e"
  . " JOIN $table d ON d.candidate_id = e.cid";

# (a) concurrency reached, and the time it saves
sub timed_join
{
	my ($setting) = @_;
	my $s = CdTest::Session->new;
	$s->query("SET candidate_docs.enable_batched_join = $setting");
	mock_reset();
	mock_config({ latency_ms => 100 });
	my $r = $s->query($join, 60);
	my $stats = mock_stats();
	mock_config({ latency_ms => 0 });
	$s->close;
	return ($r, $stats);
}

{
	my ($on, $on_stats) = timed_join('on');
	my ($off, $off_stats) = timed_join('off');
	is($on->{out}, $off->{out}, 'batched and plain joins count the same rows')
	  or diag(explain [$on, $off]);
	is($on_stats->{requests}, 64, 'batched: one request per distinct id');
	is($on_stats->{max_inflight}, 4, 'batched: max_concurrency requests in flight')
	  or diag(explain $on_stats);
	is($off_stats->{max_inflight}, 1, 'plain nested loop: one request at a time');
	ok($on->{elapsed} < $off->{elapsed} / 2.5,
		'batched: much faster than the plain nested loop')
	  or diag(sprintf('batched %.3f s, plain %.3f s', $on->{elapsed}, $off->{elapsed}));
	note(sprintf('64 rows at 100 ms: batched %.3f s, plain %.3f s',
			$on->{elapsed}, $off->{elapsed}));
}

# (b) cancel while a batch's requests hang
{
	mock_reset();
	my $s = CdTest::Session->new;
	mock_fault({ path_contains => '/candidates/conc-', action => 'hang',
			seconds => 60 });
	my $since = mock_seq();
	$s->send($join);
	my $arrived = wait_until(
		sub {
			my @hits = grep { index($_->{raw_path}, '/candidates/conc-') >= 0 }
			  @{ mock_requests($since) };
			return @hits >= 4 ? scalar(@hits) : 0;
		},
		10);
	is($arrived, 4, 'cancel: the first max_concurrency requests reached the mock');
	my $admin = CdTest::Session->new;
	my $pid = $s->pid;
	my $t0 = time();
	my $c = $admin->query("SELECT pg_cancel_backend($pid)", 10);
	is($c->{out}, "t\n", 'pg_cancel_backend returned true');
	my $r = $s->wait(30);
	my $dt = $r->{t_done} ? $r->{t_done} - $t0 : undef;
	is($r->{sqlstate}, '57014', 'cancel: SQLSTATE 57014') or diag(explain $r);
	ok(defined $dt && $dt < 1.0, 'cancel: ended within 1 s of pg_cancel_backend')
	  or diag(sprintf('took %.3f s', $dt // -1));
	note(sprintf('cancel took %.3f s', $dt // -1));
	mock_clear_faults();
	$r = $s->query("SELECT count(*) FROM $table WHERE candidate_id = 'e44aa283528e6fde7d542194'", 10);
	is($r->{out}, "3\n", 'cancel: the same session still reads from the API');
	$s->close;
	$admin->close;
}

# (c) memory stays bounded over a long outer relation: 20,000 distinct ids,
# every batch's rows dropped when the next comes, the rescan cache within
# its 8 MB (keys included)
{
	psql_run("CREATE TABLE $schema.big AS SELECT g AS n, 'mem-' || g AS cid"
		  . " FROM generate_series(1, 20000) g; ANALYZE $schema.big");
	my $s = CdTest::Session->new;
	my $status = "SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status')"
	  . " FROM 'VmHWM:\\s*([0-9]+)')";
	$s->query('SET jit = off');		# libLLVM's pages are not the scan's
	$s->query("SELECT count(*) FROM $table WHERE candidate_id = 'warm'");
	my $before = $s->query($status)->{out};
	my $r = $s->query("SELECT count(*) > 20000 FROM $schema.big e"
		  . " JOIN $table d ON d.candidate_id = e.cid", 120);
	my $after = $s->query($status)->{out};
	is($r->{out}, "t\n", 'memory: the join of 20,000 rows ran') or diag(explain $r);
	my $growth = ($after - $before) / 1024;
  SKIP:
	{
		# AddressSanitizer's quarantine and shadow memory are not the scan's
		skip('memory: not measurable under the sanitizers', 1)
		  if $ENV{SANITIZE_DIR};
		ok($growth < 20, 'memory: peak growth under 20 MB')
		  or diag(sprintf('%.1f MB', $growth));
	}
	note(sprintf('peak memory growth %.1f MB', $growth));
	$s->close;
}

psql_run("DROP SCHEMA $schema CASCADE");
done_testing();
