# budget.t -- one request budget for every backend of the cluster
#
# With candidate_docs in shared_preload_libraries (test/cluster.sh), the
# in-flight cap (max_inflight) and the rate budget (requests_per_minute,
# corrected by the APIs' rate-limit headers) are shared by all sessions:
# a second session waits while the first holds the only slot; a wait for
# the budget answers cancel within one second; a terminated backend's slot
# comes back; after a 429, or a response saying no requests remain, every
# session waits for the reset; a Kombo concurrency error lowers the cap for
# every session.  pg_stat_activity names the waits.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();

my $S = 'tap_budget';
my $e44 = 'e44aa283528e6fde7d542194';
psql_run("DROP SCHEMA IF EXISTS $S CASCADE; DROP SCHEMA IF EXISTS ${S}_r CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_k CASCADE; DROP SCHEMA IF EXISTS ${S}_2 CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_w CASCADE; DROP SCHEMA IF EXISTS ${S}_e CASCADE");
# one request in flight at a time, across every backend
create_server(name => 'tap_b_one', schema => $S,
	options => { max_inflight => '1', requests_per_minute => '0',
		max_retries => '0', timeout_ms => '60000' });
# the default rate budget, retries on
create_server(name => 'tap_b_rate', schema => "${S}_r",
	options => { max_retries => '3' });
my $t1 = "$S.candidate_documents";
my $t2 = "${S}_r.candidate_documents";
# two in flight, no rate: the queue in arrival order
create_server(name => 'tap_b_two', schema => "${S}_2",
	options => { max_inflight => '2', requests_per_minute => '0', max_retries => '0' });
my $t_two = "${S}_2.candidate_documents";
# a scaled rate: 60 a minute, a bucket of six
create_server(name => 'tap_b_win', schema => "${S}_w",
	options => { requests_per_minute => '60', max_retries => '0' });

# (window) 70 requests at 60 a minute, run beside the other cases: no
# 60-second window of the mock's arrivals holds more than 60 (checked at
# the end)
my $win = CdTest::Session->new;
my $win_since = mock_seq();
$win->send("SELECT count(*) FROM ${S}_w.candidate_documents WHERE candidate_id IN ("
	  . join(', ', map { "'win-$_'" } 1 .. 70) . ')');

my $admin = CdTest::Session->new;
my $pg17 = psql_value('SHOW server_version_num') >= 170000;

sub requests_for
{
	my ($needle, $since) = @_;
	return [ grep { index($_->{raw_path}, $needle) >= 0 } @{ mock_requests($since) } ];
}

sub arrived
{
	my ($needle, $since, $n) = @_;
	return wait_until(sub { @{ requests_for($needle, $since) } >= ($n // 1) }, 10);
}

# pg_stat_activity's wait event of a backend, as "type/event"
# The wait event of backend $pid: sampled until it shows one (a waiting
# backend is between two waits for a moment each time it wakes to check),
# for at most a second.
sub wait_event
{
	my ($pid) = @_;
	my $out = '/';
	for (1 .. 20)
	{
		my $r = $admin->query("SELECT coalesce(wait_event_type, '') || '/' || coalesce(wait_event, '')"
			  . " FROM pg_stat_activity WHERE pid = $pid", 10);
		chomp($out = $r->{out});
		last if $out ne '/';
		sleep(0.05);
	}
	return $out;
}

sub inflight
{
	my ($server) = @_;
	my $r = $admin->query("SELECT coalesce(sum(inflight), 0) FROM candidate_docs.stats"
		  . " WHERE server = '$server'", 10);
	chomp(my $out = $r->{out});
	return $out;
}


# ----------------------------------------------------------------------
# (a) two sessions share one slot: the second waits for the first
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/slow-a/', action => 'delay', ms => 1500 });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM $t1 WHERE candidate_id = 'slow-a'");
	ok(arrived('/candidates/slow-a/', $since), 'share: the first request reached the mock');
	$s2->send("SELECT count(*) FROM $t1 WHERE candidate_id = '$e44'");
	sleep(0.4);
	is(scalar(@{ requests_for("/candidates/$e44/", $since) }), 0,
		'share: the second session sent nothing while the first held the slot');
	is(inflight('tap_b_one'), '1', 'share: the view shows one request in flight');
	my $ev = wait_event($s2->pid);
	if ($pg17) { is($ev, 'Extension/CandidateDocsRateBudget', 'share: wait event of the budget'); }
	else { is($ev, 'Extension/Extension', 'share: wait event Extension while waiting for the budget'); }
	$ev = wait_event($s1->pid);
	if ($pg17) { is($ev, 'Extension/CandidateDocsHttpResponse', 'share: wait event of the response'); }
	else { is($ev, 'Extension/Extension', 'share: wait event Extension while waiting for the response'); }
	my $r1 = $s1->wait(30);
	my $r2 = $s2->wait(30);
	is($r1->{sqlstate}, '00000', 'share: the first query succeeded') or diag($r1->{err});
	is($r2->{sqlstate}, '00000', 'share: the second query succeeded') or diag($r2->{err});
	like($r2->{out}, qr/^3$/m, 'share: the second query has its rows');
	my ($slow) = @{ requests_for('/candidates/slow-a/', $since) };
	my ($fast) = @{ requests_for("/candidates/$e44/", $since) };
	ok($fast->{started} >= $slow->{finished} - 0.005,
		'share: the second request started after the first finished')
	  or diag(sprintf('first finished %.3f, second started %.3f', $slow->{finished},
			$fast->{started}));
	ok($r2->{elapsed} >= 0.9, sprintf('share: the second session waited (%.2f s)', $r2->{elapsed}));
	my $w = psql_value("SELECT budget_waits FROM candidate_docs.stats WHERE server = 'tap_b_one'");
	ok($w >= 1, "share: the view counts the wait ($w)");
	is(psql_value("SELECT shared FROM candidate_docs.stats WHERE server = 'tap_b_one'"), 't',
		'share: the view says the budget is in shared memory');
	mock_clear_faults();
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (b) cancel while waiting for the budget; (c) a terminated backend's
# slot comes back
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/hang-budget/', action => 'delay', ms => 5000 });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM $t1 WHERE candidate_id = 'hang-budget'");
	ok(arrived('/candidates/hang-budget/', $since), 'cancel: the holder\'s request reached the mock');
	$s2->send("SELECT count(*) FROM $t1 WHERE candidate_id = '$e44'");
	sleep(0.4);
	my $t0 = time();
	$admin->query('SELECT pg_cancel_backend(' . $s2->pid . ')', 10);
	my $r = $s2->wait(30);
	my $dt = ($r->{t_done} // time()) - $t0;
	is($r->{sqlstate}, '57014', 'cancel: SQLSTATE 57014') or diag(explain $r);
	ok($dt < 0.3, sprintf('cancel: the wait for the budget ended within 0.3 s (%.3f s)', $dt));
	is(scalar(@{ requests_for("/candidates/$e44/", $since) }), 0,
		'cancel: the cancelled session sent nothing');
	is(inflight('tap_b_one'), '1', 'cancel: the holder still holds its slot');

	my $pid = $s1->pid;
	$admin->query("SELECT pg_terminate_backend($pid)", 10);
	ok($s1->wait_exit(10), 'terminate: the holder is gone');
	ok(wait_until(sub { inflight('tap_b_one') eq '0' }, 5),
		'terminate: its slot came back (the view shows nothing in flight)');
	$r = $s2->query("SELECT count(*) FROM $t1 WHERE candidate_id = '$e44'", 30);
	is($r->{sqlstate}, '00000', 'terminate: the next query runs') or diag($r->{err});
	ok($r->{elapsed} < 1.0, sprintf('terminate: without waiting (%.3f s)', $r->{elapsed}));
	mock_clear_faults();
	$s2->close;
}

# ----------------------------------------------------------------------
# (d) a 429 with a reset time: the other session waits for the reset too
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	my $iso = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() + 3));
	mock_fault({ path_contains => '/candidates/rl-a/', times => 1, action => 'respond',
			status => 429, headers => { 'Content-Type' => 'application/json',
				'X-Ratelimit-Remaining' => '0', 'X-Ratelimit-Reset' => $iso },
			body => '{"error":"Too many requests"}' });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM $t2 WHERE candidate_id = 'rl-a'");
	ok(wait_until(sub { grep { ($_->{status} // 0) == 429 } @{ requests_for('/rl-a/', $since) } }, 10),
		'429: the first session got its 429');
	$s2->send("SELECT count(*) FROM $t2 WHERE candidate_id = '$e44'");
	my $r2 = $s2->wait(30);
	my $r1 = $s1->wait(30);
	is($r1->{sqlstate}, '00000', '429: the first query succeeded after its retry') or diag($r1->{err});
	is($r2->{sqlstate}, '00000', '429: the second query succeeded') or diag($r2->{err});
	my ($first) = @{ requests_for('/rl-a/', $since) };
	my ($other) = @{ requests_for("/candidates/$e44/", $since) };
	my $gap = $other->{started} - $first->{finished};
	ok($gap >= 1.5, sprintf('429: the other session waited for the reset (%.2f s)', $gap));
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (e) a success saying no requests remain until the reset: nobody sends
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	my $iso = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() + 3));
	mock_fault({ path_contains => '/candidates/rem-a/', times => 1, action => 'respond',
			status => 200, headers => { 'Content-Type' => 'application/json',
				'X-Ratelimit-Remaining' => '0', 'X-Ratelimit-Reset' => $iso },
			body => '{"data":[],"object":"list","next_href":null,"count":0}' });
	my $since = mock_seq();
	my $r1 = $s1->query("SELECT count(*) FROM $t2 WHERE candidate_id = 'rem-a'", 30);
	is($r1->{sqlstate}, '00000', 'remaining 0: the first query succeeded') or diag($r1->{err});
	my $r2 = $s2->query("SELECT count(*) FROM $t2 WHERE candidate_id = '$e44'", 30);
	is($r2->{sqlstate}, '00000', 'remaining 0: the second query succeeded') or diag($r2->{err});
	my ($first) = @{ requests_for('/rem-a/', $since) };
	my ($other) = @{ requests_for("/candidates/$e44/", $since) };
	my $gap = $other->{started} - $first->{finished};
	ok($gap >= 1.5, sprintf('remaining 0: the other session waited for the reset (%.2f s)', $gap));
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (f) Kombo's concurrency error lowers the in-flight cap of every backend:
# one session had four requests in flight and got a 429
# PLATFORM.CONCURRENCY_LIMIT_EXCEEDED, so the cap is three; another session
# sends nothing while the first one's three slow requests run
{
	create_server(name => 'tap_b_kombo', schema => "${S}_k", api => 'kombo',
		options => { max_retries => '3', max_concurrency => '4',
			integration_id => 'workday:HWUTwvyx2wLoSUHphiWVrp28' });
	my $tk = "${S}_k.candidate_attachments";
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/ca', action => 'delay', ms => 1500 },
		{ path_contains => '/candidates/conc-x/', times => 1, action => 'respond',
			status => 429, headers => { 'Content-Type' => 'application/json' },
			body => '{"status":"error","error":{"code":"PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",'
			  . '"title":"Concurrency limit exceeded","message":"Too many requests in flight.",'
			  . '"log_url":null}}' });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM $tk WHERE candidate_id IN ('ca1', 'ca2', 'ca3', 'conc-x')");
	ok(wait_until(sub { grep { ($_->{status} // 0) == 429 } @{ requests_for('/conc-x/', $since) } }, 10)
		  && arrived('/candidates/ca', $since, 3),
		'concurrency: the first session has three requests in flight and got the 429');
	$s2->send("SELECT count(*) FROM $tk WHERE candidate_id IN ('cb1', 'cb2', 'cb3', 'cb4')");
	sleep(0.4);
	is(scalar(@{ requests_for('/candidates/cb', $since) }), 0,
		'concurrency: the other session sends nothing beyond the lowered cap');
	my $r1 = $s1->wait(30);
	my $r2 = $s2->wait(30);
	is($r1->{sqlstate}, '00000', 'concurrency: the first query succeeded') or diag($r1->{err});
	is($r2->{sqlstate}, '00000', 'concurrency: the second query succeeded') or diag($r2->{err});
	my @slow = @{ requests_for('/candidates/ca', $since) };
	my @other = @{ requests_for('/candidates/cb', $since) };
	my ($first_slow_end) = sort { $a <=> $b } map { $_->{finished} } @slow;
	my ($first_other) = sort { $a <=> $b } map { $_->{started} } @other;
	ok($first_other >= $first_slow_end - 0.005,
		'concurrency: the other session started once a slot was free')
	  or diag(sprintf('slow finished %.3f, other started %.3f', $first_slow_end, $first_other));
	mock_clear_faults();
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (g) an idle cursor keeps no slot: after FETCH 1 the requests its scan
# had in flight finish, and another session under the same max_inflight
# is not blocked while the cursor stays open and idle
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/cur-', action => 'delay', ms => 300 });
	$s1->query('BEGIN', 10);
	$s1->query("DECLARE c CURSOR FOR SELECT id FROM $t_two WHERE candidate_id IN"
		  . " ('cur-1', 'cur-2', 'cur-3', 'cur-4', 'cur-5', 'cur-6')", 10);
	my $r = $s1->query('FETCH 1 FROM c', 30);
	is($r->{sqlstate}, '00000', 'cursor: FETCH 1 works') or diag($r->{err});
	sleep(0.4);
	is(inflight('tap_b_two'), '0', 'cursor: nothing in flight while the cursor is idle');
	$r = $s2->query("SELECT count(*) FROM $t_two WHERE candidate_id IN ('cur-x1', 'cur-x2')", 30);
	is($r->{sqlstate}, '00000', 'cursor: the other session\'s query works') or diag($r->{err});
	ok($r->{elapsed} < 1.5, sprintf('cursor: the other session was not blocked (%.2f s)', $r->{elapsed}));
	$r = $s1->query('FETCH ALL FROM c', 30);
	is($r->{sqlstate}, '00000', 'cursor: the rest of the rows come') or diag($r->{err});
	my $rows = () = $r->{out} =~ /^\w/mg;
	my $all = psql_value("SELECT count(*) FROM $t_two WHERE candidate_id IN"
		  . " ('cur-1', 'cur-2', 'cur-3', 'cur-4', 'cur-5', 'cur-6')");
	is($rows + 1, $all, "cursor: FETCH 1 and FETCH ALL return all $all rows");
	$s1->query('COMMIT', 10);
	mock_clear_faults();
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (h) arrival order: with max_inflight 2, a single-id query started during
# another session's 80-id fan-out finishes within a few request latencies
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/fifo-', action => 'delay', ms => 100 });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM $t_two WHERE candidate_id IN ("
		  . join(', ', map { "'fifo-$_'" } 1 .. 80) . ')');
	ok(arrived('/candidates/fifo-', $since, 6), 'fifo: the fan-out is running');
	my $r = $s2->query("SELECT count(*) FROM $t_two WHERE candidate_id = 'fifo-single'", 30);
	is($r->{sqlstate}, '00000', 'fifo: the single-id query works') or diag($r->{err});
	ok($r->{elapsed} < 0.6, sprintf('fifo: it finished within a few latencies of 100 ms (%.2f s)',
			$r->{elapsed}));
	my $r1 = $s1->wait(60);
	is($r1->{sqlstate}, '00000', 'fifo: the fan-out works') or diag($r1->{err});
	my @fan = @{ requests_for('/candidates/fifo-', $since) };
	my ($single) = grep { index($_->{raw_path}, 'fifo-single') >= 0 } @fan;
	my $after = grep { $_->{started} > $single->{finished} } @fan;
	ok($after >= 40, "fifo: most of the fan-out came after the single id ($after)");
	mock_clear_faults();
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (i) downloads from another host take no API slot: while one session's
# download from localhost is slow, another's API request on the same
# max_inflight 1 goes at once
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_config({ files_host => 'localhost' });
	mock_fault({ path_contains => '/files/', action => 'delay', ms => 2000 });
	my $since = mock_seq();
	$s1->send("SELECT length(content) FROM $t1 WHERE candidate_id = '$e44' LIMIT 1");
	ok(arrived('/files/', $since), 'download: the download reached the mock');
	my $r = $s2->query("SELECT count(*) FROM $t1 WHERE candidate_id = 'dl-other'", 30);
	is($r->{sqlstate}, '00000', 'download: the other query works') or diag($r->{err});
	ok($r->{elapsed} < 1.0, sprintf('download: it did not wait for the download (%.2f s)', $r->{elapsed}));
	my $r1 = $s1->wait(30);
	is($r1->{sqlstate}, '00000', 'download: the download works') or diag($r1->{err});
	mock_clear_faults();
	mock_config({ files_host => '127.0.0.1' });
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (j) stats_reset() while a request is in flight: the counts stay
# consistent (the request and its response are counted together)
{
	my $s1 = CdTest::Session->new;
	mock_fault({ path_contains => '/candidates/sr-1/', action => 'delay', ms => 1000 });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM $t1 WHERE candidate_id = 'sr-1'");
	ok(arrived('/candidates/sr-1/', $since), 'reset: the request reached the mock');
	psql_run('SELECT candidate_docs.stats_reset()');
	my $r1 = $s1->wait(30);
	is($r1->{sqlstate}, '00000', 'reset: the query works') or diag($r1->{err});
	is(psql_value("SELECT requests || '/' || responses_2xx FROM candidate_docs.stats"
		  . " WHERE server = 'tap_b_one'"), '1/1', 'reset: one request with its one response');
	mock_clear_faults();
	$s1->close;
}

# ----------------------------------------------------------------------
# (k) ALTER SERVER raising max_inflight reaches a session already waiting
{
	create_server(name => 'tap_b_alt', schema => "${S}_a",
		options => { max_inflight => '1', requests_per_minute => '0', max_retries => '0' });
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/alt-slow/', action => 'delay', ms => 4000 });
	my $since = mock_seq();
	$s1->send("SELECT count(*) FROM ${S}_a.candidate_documents WHERE candidate_id = 'alt-slow'");
	ok(arrived('/candidates/alt-slow/', $since), 'alter: the holder\'s request reached the mock');
	$s2->send("SELECT count(*) FROM ${S}_a.candidate_documents WHERE candidate_id = 'alt-fast'");
	sleep(0.4);
	psql_run("ALTER SERVER tap_b_alt OPTIONS (SET max_inflight '2')");
	my $t0 = time();
	my $r2 = $s2->wait(30);
	my $dt = ($r2->{t_done} // time()) - $t0;
	is($r2->{sqlstate}, '00000', 'alter: the waiting query works') or diag($r2->{err});
	ok($dt < 1.0, sprintf('alter: it went once the cap was raised (%.2f s)', $dt));
	$s1->wait(30);
	mock_clear_faults();
	$s1->close;
	$s2->close;
	psql_run("DROP SCHEMA ${S}_a CASCADE; DROP SERVER tap_b_alt CASCADE");
}

# ----------------------------------------------------------------------
# (window) the rate: no 60-second window of arrivals holds more than 60
{
	my $r = $win->wait(120);
	is($r->{sqlstate}, '00000', 'window: the 70 requests at 60 a minute worked') or diag($r->{err});
	my @t = sort { $a <=> $b } map { $_->{started} } @{ requests_for('/candidates/win-', $win_since) };
	is(scalar(@t), 70, 'window: the mock saw 70 requests');
	my ($max, $j) = (0, 0);
	for my $i (0 .. $#t)
	{
		$j++ while $t[$i] - $t[$j] >= 60;
		$max = $i - $j + 1 if $i - $j + 1 > $max;
	}
	ok($max <= 60, "window: at most 60 in any 60 s ($max)");
	$win->close;
}

# ----------------------------------------------------------------------
# (l) a small table (candidate_docs.budget_entries = 32): an entry that
# holds a block is never given to another integration, a query over more
# integrations than entries fails with a hint, and the view counts every
# request the mock saw
{
	my $auto = "$ENV{PGDATA}/postgresql.auto.conf";
	my $cluster = "$FindBin::Bin/../cluster.sh";
	open(my $fh, '>>', $auto) or die "$auto: $!";
	print $fh "candidate_docs.budget_entries = 32\n";
	close($fh);
	system('bash', $cluster, 'restart', $ENV{TEST_CLUSTER_DIR}) == 0
	  or BAIL_OUT('restarting the server failed');
	$admin = CdTest::Session->new;
	is(psql_run('SHOW candidate_docs.budget_entries')->{out}, "32\n", 'small table: the setting');
	mock_config({ integrations => [ map { "ev-$_" } 1 .. 300 ] });
	create_server(name => 'tap_b_ev', schema => "${S}_e", api => 'kombo',
		options => { max_retries => '0', integration_id => 'blk' });
	my $tk = "${S}_e.candidate_attachments";
	mock_fault({ path_contains => '/candidates/blk-1/', times => 1, action => 'respond',
			status => 429, headers => { 'Content-Type' => 'application/json', 'Retry-After' => '50' },
			body => '{"status":"error","error":{"code":"PLATFORM.RATE_LIMIT_EXCEEDED",'
			  . '"title":"Rate limit exceeded","message":"Slow down.","log_url":null}}' });
	my $since = mock_seq();
	my $r = psql_run("SELECT count(*) FROM $tk WHERE candidate_id = 'blk-1'");
	psql_run('SELECT candidate_docs.stats_reset()');
	my $s1 = CdTest::Session->new;
	$r = $s1->query("SELECT count(*) FROM $tk WHERE candidate_id = 'ev-1' AND integration_id IN ("
		  . join(', ', map { "'ev-$_'" } 1 .. 300) . ')', 120);
	is($r->{sqlstate}, '53400', 'small table: 300 integrations do not fit: an error')
	  or diag($r->{err} . $r->{out});
	like($r->{err}, qr/HINT:  Raise candidate_docs.budget_entries/, 'small table: the hint names the setting');
	# the requests cut short by the error reach the mock's log a moment later
	my $view_n = psql_value("SELECT requests FROM candidate_docs.stats WHERE server = 'tap_b_ev'");
	my $mock_n;
	wait_until(sub {
			$mock_n = scalar(grep { index($_->{raw_path}, '/candidates/ev-1/') >= 0 }
				  @{ mock_requests($since) });
			return $mock_n >= $view_n;
		}, 2, 0.05);
	is($view_n, $mock_n, "small table: the view counts every request the mock saw ($mock_n)");
	my $seq = mock_seq();
	$s1->send("SELECT count(*) FROM $tk WHERE candidate_id = 'blk-2'");
	sleep(1.0);
	is(scalar(@{ requests_for('/candidates/blk-2/', $seq) }), 0,
		'small table: the block of Retry-After 50 still holds');
	$admin->query('SELECT pg_cancel_backend(' . $s1->pid . ')', 10);
	$s1->wait(10);
	$s1->close;
	mock_clear_faults();
	mock_config({ integrations => [] });
	system('sed', '-i', '/candidate_docs.budget_entries/d', $auto);
	system('bash', $cluster, 'restart', $ENV{TEST_CLUSTER_DIR}) == 0
	  or BAIL_OUT('restarting the server failed');
	$admin = CdTest::Session->new;
}

$admin->close;
mock_reset();
psql_run("DROP SCHEMA IF EXISTS $S CASCADE; DROP SCHEMA IF EXISTS ${S}_r CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_k CASCADE; DROP SERVER IF EXISTS tap_b_one CASCADE;"
	  . " DROP SERVER IF EXISTS tap_b_rate CASCADE; DROP SERVER IF EXISTS tap_b_kombo CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_2 CASCADE; DROP SCHEMA IF EXISTS ${S}_w CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_e CASCADE; DROP SERVER IF EXISTS tap_b_two CASCADE;"
	  . " DROP SERVER IF EXISTS tap_b_win CASCADE; DROP SERVER IF EXISTS tap_b_ev CASCADE");

done_testing();
