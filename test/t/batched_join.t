# batched_join.t -- a join on candidate_id sends the requests of a batch of
# outer rows concurrently, and a cancel still stops it within one second;
# it stops as early as the plain nested loop (LIMIT, EXISTS, an ordered
# outer side), raises an API error or warns of an unknown id only for rows
# it reaches, and holds what it reads ahead in bounded memory
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
# The documents the mock has for the ids $expr of the rows of $rel: a
# generated id has 1 + (first byte of its sha256) % 3.
sub documents_of
{
	my ($expr, $rel) = @_;
	return psql_value("SELECT sum(1 + get_byte(sha256(convert_to($expr, 'UTF8')), 0) % 3)"
		  . " FROM $rel");
}
my $expected_rows = documents_of('cid', "$schema.hr");

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
	is($on->{sqlstate}, '00000', 'batched join succeeded') or diag(explain $on);
	is($off->{sqlstate}, '00000', 'plain join succeeded') or diag(explain $off);
	is($on->{out}, "$expected_rows\n", 'batched join: every document of the 64 ids');
	is($off->{out}, "$expected_rows\n", 'plain join: every document of the 64 ids');
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
			return @hits >= 2 ? scalar(@hits) : 0;
		},
		10);
	is($arrived, 2, 'cancel: the first row\'s request and one ahead reached the mock');
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


# API requests the mock received since $since whose path holds $part
sub requests_since
{
	my ($since, $part) = @_;
	return scalar(grep { index($_->{raw_path}, $part) >= 0 } @{ mock_requests($since) });
}

# at most $max (and some) API requests since $since for paths holding $part
sub requests_at_most
{
	my ($since, $part, $max, $what) = @_;
	my $n = requests_since($since, $part);
	ok($n >= 1 && $n <= $max, "$what: at most $max requests") or diag("$n requests");
	note("$what: $n requests");
}

# $sql in session $s, with its plan checked for the batching node first
sub batched_query
{
	my ($s, $sql, $what) = @_;
	my $plan = $s->query("EXPLAIN (COSTS OFF) $sql", 30);
	like($plan->{out}, qr/CandidateDocsBatch/, "$what: the plan is a batched join")
	  or diag($plan->{out} . $plan->{err});
	my $since = mock_seq();
	my $r = $s->query($sql, 120);
	return ($r, $since);
}

# (d) LIMIT and EXISTS stop as the plain loop does: 16 outer ids whose
# listings have 300 pages each send a few first pages, not 4,800 pages
{
	psql_run("CREATE TABLE $schema.long16 AS SELECT g AS n, 'many-' || (30000 + g) AS cid"
		  . " FROM generate_series(1, 16) g; ANALYZE $schema.long16");
	my $s = CdTest::Session->new;
	my $from = "FROM $schema.long16 e JOIN $table d ON d.candidate_id = e.cid";
	for my $case (
		[ "SELECT d.candidate_id $from LIMIT 1", "many-30001\n", 'LIMIT 1' ],
		[ "SELECT EXISTS (SELECT 1 $from)", "t\n", 'EXISTS' ],
		[ "SELECT count(*) FROM $schema.long16 e WHERE EXISTS"
			  . " (SELECT 1 FROM $table d WHERE d.candidate_id = e.cid)", "16\n",
			'semi-join' ])
	{
		my ($sql, $want, $what) = @$case;
		my ($r, $since) = batched_query($s, $sql, $what);
		is($r->{sqlstate}, '00000', "$what: succeeded") or diag(explain $r);
		is($r->{out}, $want, "$what: the expected result");
		requests_at_most($since, '/candidates/many-', 32, "$what over 16 ids x 300 pages");
	}
	$s->close;
}

# (e) ORDER BY the outer side's index LIMIT 5: the batched join over the
# index scan keeps its order and its early stop (no Sort of the whole join)
{
	psql_run("CREATE TABLE $schema.hr5k (emp_id int PRIMARY KEY, cid text);"
		  . " INSERT INTO $schema.hr5k SELECT g, 'ord-' || g FROM generate_series(1, 5000) g;"
		  . " ANALYZE $schema.hr5k");
	my $sql = "SELECT e.emp_id, d.id FROM $schema.hr5k e"
	  . " JOIN $table d ON d.candidate_id = e.cid ORDER BY e.emp_id, d.id LIMIT 5";
	my $s = CdTest::Session->new;
	$s->query("SET candidate_docs.enable_batched_join = off");
	my $plain = $s->query($sql, 60);
	$s->query("RESET candidate_docs.enable_batched_join");
	my ($r, $since) = batched_query($s, $sql, 'ORDER BY LIMIT 5');
	is($r->{sqlstate}, '00000', 'ORDER BY LIMIT 5: succeeded') or diag(explain $r);
	is(scalar(split /\n/, $r->{out}), 5, 'ORDER BY LIMIT 5: five rows');
	is($r->{out}, $plain->{out}, 'ORDER BY LIMIT 5: the rows of the plain loop');
	like($r->{out}, qr/\A1\|/, 'ORDER BY LIMIT 5: the first employee first');
	requests_at_most($since, '/candidates/ord-', 10, 'ORDER BY LIMIT 5 over 5,000 indexed rows');
	$s->close;
}

# (f) an API failure for a row read ahead counts only if the join reaches
# that row: a 500 for the 12th employee, an unknown 10th
{
	psql_run("CREATE TABLE $schema.flt AS SELECT g AS n,"
		  . " CASE g WHEN 10 THEN 'missing-flt10' ELSE 'flt-' || g END AS cid"
		  . " FROM generate_series(1, 20) g; ANALYZE $schema.flt");
	mock_fault({ path_contains => '/candidates/flt-12/', action => 'respond',
			status => 500, body => '{"error": "emp 12 is broken"}' });
	my $s = CdTest::Session->new;
	my $from = "FROM $schema.flt e JOIN $table d ON d.candidate_id = e.cid";
	my ($r) = batched_query($s, "SELECT count(*) FROM (SELECT d.id $from LIMIT 3) x",
		'500 ahead, LIMIT 3');
	is($r->{sqlstate}, '00000', '500 ahead, LIMIT 3: succeeded') or diag(explain $r);
	is($r->{out}, "3\n", '500 ahead, LIMIT 3: three rows');
	($r) = batched_query($s, "SELECT EXISTS (SELECT 1 $from)", '500 ahead, EXISTS');
	is($r->{sqlstate}, '00000', '500 ahead, EXISTS: succeeded') or diag(explain $r);
	is($r->{out}, "t\n", '500 ahead, EXISTS: true');

	# reached: the same error and warning as the plain loop
	my ($on) = batched_query($s, "SELECT count(*) $from", '500 reached');
	$s->query("SET candidate_docs.enable_batched_join = off");
	my $off = $s->query("SELECT count(*) $from", 60);
	$s->query("RESET candidate_docs.enable_batched_join");
	is($on->{sqlstate}, 'HV000', '500 reached, batched: an FDW error') or diag(explain $on);
	is($off->{sqlstate}, 'HV000', '500 reached, plain: an FDW error') or diag(explain $off);
	my ($on_msg) = $on->{err} =~ /^(ERROR:.*)$/m;
	my ($off_msg) = $off->{err} =~ /^(ERROR:.*)$/m;
	like($on_msg // '', qr/candidate "flt-12"/, '500 reached: the error names the 12th employee');
	is($on_msg, $off_msg, '500 reached: the message of the plain loop');
	mock_clear_faults();
	($r) = batched_query($s, "SELECT count(*) FROM (SELECT d.id $from LIMIT 3) x",
		'404 ahead, LIMIT 3');
	is($r->{sqlstate}, '00000', '404 ahead, LIMIT 3: succeeded') or diag(explain $r);
	is($r->{out}, "3\n", '404 ahead, LIMIT 3: three rows');
	unlike($r->{err}, qr/missing-flt10/, '404 ahead, LIMIT 3: no warning for a row not reached');
	($r) = batched_query($s, "SELECT count(*) $from", '404 reached');
	is($r->{sqlstate}, '00000', '404 reached: succeeded') or diag(explain $r);
	like($r->{err}, qr/skipped: "missing-flt10"/, '404 reached: the warning names it');
	$s->close;
}

# (g) the batch evaluates the join key in per-tuple memory: 128 outer rows
# holding a 512 kB jsonb each (the key read from it) peak within 1.5 times
# the plain loop (plus 10 MB of noise), not at the batch's 64 MB.  The
# backend's private memory (RssAnon) is sampled from outside while the
# query runs: VmHWM would count the shared buffers the TOAST reads touch.
sub rss_anon_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return 0;
	my ($kb) = join('', <$fh>) =~ /^RssAnon:\s*(\d+)/m;
	close($fh);
	return $kb // 0;
}

{
	psql_run("CREATE TABLE $schema.fat AS SELECT g AS n,"
		  . " jsonb_build_object('cid', 'fat-' || g, 'blob',"
		  . " (SELECT string_agg(md5(g::text || ':' || i), '') FROM generate_series(1, 16384) i)) AS doc"
		  . " FROM generate_series(1, 128) g; ANALYZE $schema.fat");
	my $sql = "SELECT count(*) FROM $schema.fat e"
	  . " JOIN $table d ON d.candidate_id = e.doc->>'cid'";
	my $expected_fat = documents_of("doc->>'cid'", "$schema.fat");
	my %growth;
	for my $setting ('off', 'on')
	{
		my $s = CdTest::Session->new;
		$s->query('SET jit = off');
		$s->query("SET candidate_docs.enable_batched_join = $setting");
		batched_query($s, "SELECT 1 FROM $schema.fat e JOIN $table d"
			  . " ON d.candidate_id = e.doc->>'cid' LIMIT 1", 'jsonb outer rows')
		  if $setting eq 'on';
		$s->query("SELECT count(*) FROM $table WHERE candidate_id = 'warm'");
		my $before = rss_anon_kb($s->pid);
		my $peak = $before;
		$s->send($sql);
		my $r;
		while (1)
		{
			my $kb = rss_anon_kb($s->pid);
			$peak = $kb if $kb > $peak;
			$r = $s->wait(0.005);
			last unless $r->{timeout};
		}
		is($r->{sqlstate}, '00000', "jsonb outer rows, batched $setting: succeeded")
		  or diag(explain $r);
		is($r->{out}, "$expected_fat\n", "jsonb outer rows, batched $setting: every document");
		$growth{$setting} = ($peak - $before) / 1024;
		$s->close;
	}
  SKIP:
	{
		skip('memory: not measurable under the sanitizers', 1) if $ENV{SANITIZE_DIR};
		ok($growth{on} <= 1.5 * $growth{off} + 10,
			'jsonb outer rows: batched peak within 1.5x the plain loop (+10 MB)')
		  or diag(sprintf('batched %.1f MB, plain %.1f MB', $growth{on}, $growth{off}));
	}
	note(sprintf('jsonb outer rows: private memory growth batched %.1f MB, plain %.1f MB',
			$growth{on}, $growth{off}));
}

psql_run("DROP SCHEMA $schema CASCADE");
done_testing();
