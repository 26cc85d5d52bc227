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
	  . " DROP SCHEMA IF EXISTS ${S}_k CASCADE");
# one request in flight at a time, across every backend
create_server(name => 'tap_b_one', schema => $S,
	options => { max_inflight => '1', requests_per_minute => '0',
		max_retries => '0', timeout_ms => '60000' });
# the default rate budget, retries on
create_server(name => 'tap_b_rate', schema => "${S}_r",
	options => { max_retries => '3' });
my $t1 = "$S.candidate_documents";
my $t2 = "${S}_r.candidate_documents";

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
sub wait_event
{
	my ($pid) = @_;
	my $r = $admin->query("SELECT coalesce(wait_event_type, '') || '/' || coalesce(wait_event, '')"
		  . " FROM pg_stat_activity WHERE pid = $pid", 10);
	chomp(my $out = $r->{out});
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

is(psql_value("SELECT bool_and(shared) FROM candidate_docs.stats"), 't',
	'the budget is in shared memory')
  if psql_value("SELECT count(*) FROM candidate_docs.stats") > 0;

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
	mock_clear_faults();
	$s1->close;
	$s2->close;
}

# ----------------------------------------------------------------------
# (b) cancel while waiting for the budget; (c) a terminated backend's
# slot comes back
{
	my ($s1, $s2) = (CdTest::Session->new, CdTest::Session->new);
	mock_fault({ path_contains => '/candidates/hang-budget/', action => 'hang', seconds => 60 });
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
	ok($dt < 1.0, sprintf('cancel: the wait for the budget ended within 1 s (%.3f s)', $dt));
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
	mock_reset();    # ends the hanging handler
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

$admin->close;
mock_reset();
psql_run("DROP SCHEMA IF EXISTS $S CASCADE; DROP SCHEMA IF EXISTS ${S}_r CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${S}_k CASCADE; DROP SERVER IF EXISTS tap_b_one CASCADE;"
	  . " DROP SERVER IF EXISTS tap_b_rate CASCADE; DROP SERVER IF EXISTS tap_b_kombo CASCADE");

done_testing();
