# cancel.t -- query cancel, statement_timeout and pg_terminate_backend stop
# an in-flight request within 0.3 s (README promises 100 ms)
#
# Each case starts a scan whose request the mock never answers (fault
# "hang"), or answers with a long Retry-After, waits until the request has
# reached the mock, then interrupts the backend from another session and
# measures how long the scan takes to end.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();

my $schema = 'tap_cancel';
my $log_offset = server_log_offset();
psql_run("DROP SCHEMA IF EXISTS $schema CASCADE;"
	  . " DROP SCHEMA IF EXISTS ${schema}_retry CASCADE");
# no retries, a long request timeout: only an interrupt can end the request
create_server(name => 'tap_cancel_ck', schema => $schema,
	options => { max_retries => '0', timeout_ms => '60000' });
# retries, with the server's Retry-After honoured
create_server(name => 'tap_cancel_retry', schema => "${schema}_retry",
	options => { max_retries => '3', timeout_ms => '60000' });

my $table = "$schema.candidate_documents";

# README promises that an interrupt acts within 100 ms (one wait slice);
# 0.3 s leaves room for a loaded machine and the test's own round trips.
my $BOUND = 0.3;
my $admin = CdTest::Session->new;

# Wait until $n requests whose path contains $needle reached the mock.
sub requests_arrived
{
	my ($needle, $n, $since) = @_;
	return wait_until(
		sub {
			my @hits = grep { index($_->{raw_path}, $needle) >= 0 }
			  @{ mock_requests($since) };
			return @hits >= $n ? scalar(@hits) : 0;
		},
		10);
}

# The session still works: SELECT 1, then a normal scan through the same
# backend (its connection cache must not be poisoned by the interrupted
# transfer).
sub session_alive
{
	my ($s, $what) = @_;
	my $r = $s->query('SELECT 1', 10);
	is($r->{out}, "1\n", "$what: the same session answers SELECT 1")
	  or diag(explain $r);
	$r = $s->query("SELECT count(*) FROM $table"
		  . " WHERE candidate_id = 'e44aa283528e6fde7d542194'", 10);
	is($r->{out}, "3\n", "$what: the same session still reads from the API")
	  or diag(explain $r);
}

# Start $sql in $s, wait for its request(s), cancel it from the admin
# session with $how; return the result and the seconds from the cancel to
# the end of the query.
sub interrupt_after_request
{
	my ($s, $sql, $needle, $nreq, $how, $extra_wait) = @_;
	my $since = mock_seq();
	$s->send($sql);
	my $arrived = requests_arrived($needle, $nreq, $since);
	ok($arrived, "the request(s) for $needle reached the mock")
	  or diag("got: " . ($arrived // 0));
	sleep($extra_wait) if $extra_wait;
	my $pid = $s->pid;
	my $t0 = time();
	my $c = $admin->query("SELECT $how($pid)", 10);
	is($c->{out}, "t\n", "$how($pid) returned true") or diag(explain $c);
	my $r = $s->wait(30);
	return ($r, $r->{t_done} ? $r->{t_done} - $t0 : undef);
}

# ----------------------------------------------------------------------
# (a) pg_cancel_backend during a request the server never answers
{
	my $s = CdTest::Session->new;
	mock_fault({ path_contains => '/candidates/hang-cancel-a/', action => 'hang',
			seconds => 60 });
	my ($r, $dt) = interrupt_after_request($s,
		"SELECT * FROM $table WHERE candidate_id = 'hang-cancel-a'",
		'/candidates/hang-cancel-a/', 1, 'pg_cancel_backend');
	ok(!$r->{timeout}, 'cancel: the query ended');
	is($r->{sqlstate}, '57014', 'cancel: SQLSTATE 57014 (query_canceled)')
	  or diag(explain $r);
	like($r->{err}, qr/canceling statement due to user request/,
		'cancel: the usual message');
	ok(defined $dt && $dt < $BOUND, "cancel: ended within $BOUND s of pg_cancel_backend")
	  or diag(sprintf('took %.3f s', $dt // -1));
	note(sprintf('cancel took %.3f s', $dt // -1));
	session_alive($s, 'cancel');
	mock_clear_faults();
	$s->close;
}

# ----------------------------------------------------------------------
# (b) statement_timeout during a request the server never answers
{
	my $s = CdTest::Session->new;
	mock_fault({ path_contains => '/candidates/hang-timeout-b/', action => 'hang',
			seconds => 60 });
	$s->query("SET statement_timeout = '500ms'");
	my $r = $s->query("SELECT * FROM $table WHERE candidate_id = 'hang-timeout-b'",
		30);
	ok(!$r->{timeout}, 'statement_timeout: the query ended');
	is($r->{sqlstate}, '57014', 'statement_timeout: SQLSTATE 57014')
	  or diag(explain $r);
	like($r->{err}, qr/canceling statement due to statement timeout/,
		'statement_timeout: the usual message');
	ok($r->{elapsed} >= 0.45, 'statement_timeout: not before the timeout')
	  or diag(sprintf('took %.3f s', $r->{elapsed}));
	ok($r->{elapsed} < 0.5 + $BOUND,
		'statement_timeout: ended within ' . (0.5 + $BOUND) . ' s')
	  or diag(sprintf('took %.3f s', $r->{elapsed}));
	note(sprintf('statement_timeout query took %.3f s', $r->{elapsed}));
	$s->query('RESET statement_timeout');
	session_alive($s, 'statement_timeout');
	mock_clear_faults();
	$s->close;
}

# ----------------------------------------------------------------------
# (c) pg_terminate_backend during a request the server never answers
{
	my $s = CdTest::Session->new;
	my $pid = $s->pid;
	mock_fault({ path_contains => '/candidates/hang-term-c/', action => 'hang',
			seconds => 60 });
	my $since = mock_seq();
	$s->send("SELECT * FROM $table WHERE candidate_id = 'hang-term-c'");
	ok(requests_arrived('/candidates/hang-term-c/', 1, $since),
		'terminate: the request reached the mock');
	my $t0 = time();
	my $c = $admin->query("SELECT pg_terminate_backend($pid)", 10);
	is($c->{out}, "t\n", 'pg_terminate_backend returned true');
	my $gone = wait_until(
		sub {
			my $r = $admin->query(
				"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", 10);
			return $r->{out} eq "0\n" ? time() : 0;
		},
		10, 0.01);
	ok($gone && $gone - $t0 < $BOUND,
		"terminate: the backend exited within $BOUND s of pg_terminate_backend")
	  or diag(sprintf('took %.3f s', $gone ? $gone - $t0 : -1));
	note(sprintf('terminate took %.3f s', $gone ? $gone - $t0 : -1));
	my $r = $s->wait(10);
	ok($r->{dead} || $s->wait_exit(10), 'terminate: the client saw the session end');
	like($r->{err}, qr/terminating connection due to administrator command/,
		'terminate: the client got the usual FATAL')
	  or diag(explain $r);
	mock_clear_faults();
}

# ----------------------------------------------------------------------
# (d) cancel during the back-off before a retry: the server said 503 with
# Retry-After: 30, and max_retries is 3
{
	my $s = CdTest::Session->new;
	mock_fault({ path_contains => '/candidates/retry-cancel-d/', action => 'respond',
			status => 503, headers => { 'Retry-After' => '30',
				'Content-Type' => 'application/json' },
			body => '{"error":"Service Unavailable"}' });
	my $rtable = "${schema}_retry.candidate_documents";
	my ($r, $dt) = interrupt_after_request($s,
		"SELECT * FROM $rtable WHERE candidate_id = 'retry-cancel-d'",
		'/candidates/retry-cancel-d/', 1, 'pg_cancel_backend', 0.3);
	ok(!$r->{timeout}, 'back-off cancel: the query ended');
	is($r->{sqlstate}, '57014', 'back-off cancel: SQLSTATE 57014')
	  or diag(explain $r);
	ok(defined $dt && $dt < $BOUND, "back-off cancel: ended within $BOUND s")
	  or diag(sprintf('took %.3f s', $dt // -1));
	note(sprintf('back-off cancel took %.3f s', $dt // -1));
	my @tries = grep { index($_->{raw_path}, '/candidates/retry-cancel-d/') >= 0 }
	  @{ mock_requests() };
	is(scalar(@tries), 1, 'back-off cancel: no retry was sent before the cancel');
	session_alive($s, 'back-off cancel');
	mock_clear_faults();
	$s->close;
}

# ----------------------------------------------------------------------
# (e) cancel during a concurrent fan-out of 20 ids, all hanging
{
	my $s = CdTest::Session->new;
	mock_fault({ path_contains => '/candidates/fanhang-', action => 'hang',
			seconds => 60 });
	my $ids = join(', ', map { sprintf("'fanhang-%02d'", $_) } 1 .. 20);
	my $conc = psql_value("SELECT coalesce((SELECT split_part(o, '=', 2)"
		  . " FROM pg_foreign_server, unnest(srvoptions) o"
		  . " WHERE srvname = 'tap_cancel_ck' AND o LIKE 'max_concurrency=%'), '8')");
	my $expect = $conc < 20 ? $conc : 20;
	my ($r, $dt) = interrupt_after_request($s,
		"SELECT * FROM $table WHERE candidate_id IN ($ids)",
		'/candidates/fanhang-', $expect, 'pg_cancel_backend', 0.1);
	ok(!$r->{timeout}, 'fan-out cancel: the query ended');
	is($r->{sqlstate}, '57014', 'fan-out cancel: SQLSTATE 57014')
	  or diag(explain $r);
	ok(defined $dt && $dt < $BOUND, "fan-out cancel: ended within $BOUND s")
	  or diag(sprintf('took %.3f s', $dt // -1));
	note(sprintf('fan-out cancel took %.3f s', $dt // -1));
	session_alive($s, 'fan-out cancel');
	mock_clear_faults();
	$s->close;
}

# No backend crashed along the way.
$admin->close;
unlike(server_log_since($log_offset), qr/terminated by signal|was terminated/,
	'no backend crashed');
mock_reset();    # ends the mock's hanging handlers
psql_run("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_retry CASCADE;"
	  . " DROP SERVER IF EXISTS tap_cancel_ck CASCADE;"
	  . " DROP SERVER IF EXISTS tap_cancel_retry CASCADE");

done_testing();
