# outbox.t -- delivering queued writes under faults: retried with the same
# Idempotency-Key until delivered, failed with the API's message, awaited,
# claimed by one deliverer at a time, and sent again with the same key after
# a crash in the middle of a POST, creating one document
#
# deliver() is called by the test itself (candidate_docs.delivery_worker is
# off while it runs), so that every attempt is the test's.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

my $db = CdTest::init();

deliverers_off();
END
{
	deliverers_on();
}

mock_reset();
create_server(name => 'tap_ob', schema => 'tap_ob',
	options => { delivery => 'after_commit', max_concurrency => '4' });
psql_ok("DELETE FROM candidate_docs.outbox");

# Queue one upload for $cand; returns its delivery id.
sub queue
{
	my ($cand, $file) = @_;
	return psql_value(
		"INSERT INTO tap_ob.candidate_documents (candidate_id, type, filename, content) "
		  . "VALUES ('$cand', 'consent', '$file', '%PDF-1.4 $cand') "
		  . "RETURNING attrs->>'delivery_id'");
}

sub row
{
	my ($id) = @_;
	my $r = psql_value("SELECT status || '|' || attempts || '|' || coalesce(last_error, '') "
		  . "|| '|' || (next_attempt_at > now())::text FROM candidate_docs.deliveries WHERE id = $id");
	my ($status, $attempts, $err, $later) = split(/\|/, $r, 4);
	return { status => $status, attempts => $attempts, last_error => $err,
		later => $later };
}

sub deliver { return psql_value("SELECT delivered || ',' || failed FROM candidate_docs.deliver()"); }

# Call deliver() until row $id is no longer pending (at most $timeout s).
sub deliver_until_done
{
	my ($id, $timeout) = @_;
	return wait_until(sub { deliver(); return row($id)->{status} ne 'pending'; },
		$timeout // 30, 0.2);
}

# The POSTs the mock received for candidate $cand: their Idempotency-Keys.
sub posts_for
{
	my ($cand) = @_;
	return [ map { $_->{headers}{'idempotency-key'} }
		  grep { $_->{method} eq 'POST' && $_->{path} =~ m{/candidates/\Q$cand\E/documents$} }
		  @{ mock_requests() } ];
}

sub key_of
{
	my ($id) = @_;
	return psql_value("SELECT idempotency_key FROM candidate_docs.outbox WHERE id = $id");
}

# ---------------------------------------------------------------------------
# 5xx, 429 and network failures: retried with the same key until delivered
{
	mock_fault({ path_contains => '/candidates/tap-503/', method => 'POST', times => 2,
			action => 'respond', status => 503, body => '{"error": "Service unavailable"}' },
		{ path_contains => '/candidates/tap-429/', method => 'POST', times => 1,
			action => 'respond', status => 429, headers => { 'Retry-After' => '1' },
			body => '{"error": "Too many requests"}' },
		{ path_contains => '/candidates/tap-reset/', method => 'POST', times => 1,
			action => 'reset' });
	my %id = map { $_ => queue($_, "$_.pdf") } qw(tap-503 tap-429 tap-reset);
	is(deliver(), '0,0', 'first deliver(): nothing delivered, nothing failed for good');
	my $r = row($id{'tap-503'});
	is($r->{status}, 'pending', '503: still pending');
	is($r->{attempts}, 1, '503: one attempt counted');
	like($r->{last_error}, qr/HTTP status 503/, '503: last_error has the status');
	is($r->{later}, 'true', '503: next attempt after a back-off');
	like(row($id{'tap-429'})->{last_error}, qr/HTTP status 429/, '429: last_error');
	like(row($id{'tap-reset'})->{last_error}, qr/could not upload/, 'network failure: last_error');
	for my $c (sort keys %id)
	{
		ok(deliver_until_done($id{$c}, 30), "$c: done within 30 s");
		is(row($id{$c})->{status}, 'delivered', "$c: delivered");
		my $keys = posts_for($c);
		my $n = $c eq 'tap-503' ? 3 : 2;
		is(scalar(@$keys), $n, "$c: $n POSTs");
		is(scalar(grep { $_ eq key_of($id{$c}) } @$keys), $n, "$c: every POST with the row's key");
	}
}

# ---------------------------------------------------------------------------
# the API processed the POST but the answer was lost: the retry carries the
# same key and the API replays; one document
{
	my $created0 = mock_stats()->{documents_created};
	mock_fault({ path_contains => '/candidates/tap-drop/', method => 'POST', times => 1,
			action => 'drop' });
	my $id = queue('tap-drop', 'drop.pdf');
	deliver();
	is(row($id)->{status}, 'pending', 'lost answer: pending');
	ok(deliver_until_done($id, 30), 'lost answer: done');
	is(row($id)->{status}, 'delivered', 'lost answer: delivered');
	is_deeply(posts_for('tap-drop'), [ key_of($id), key_of($id) ],
		'lost answer: the same key sent twice');
	is(mock_stats()->{documents_created}, $created0 + 1, 'lost answer: one document created');
}

# ---------------------------------------------------------------------------
# a 4xx that is not retried fails the row with the API's message; await
# raises it
{
	mock_fault({ path_contains => '/candidates/tap-422/', method => 'POST',
			action => 'respond', status => 422,
			body => '{"error": "Document is not readable"}' });
	my $id = queue('tap-422', 'bad.pdf');
	my $miss = queue('missing-tap', 'missing.pdf');
	is(deliver(), '0,2', '4xx: both rows failed in one call');
	like(row($id)->{last_error}, qr/HTTP status 422.*Document is not readable/,
		'422: last_error has the API\'s message');
	like(row($miss)->{last_error}, qr/HTTP status 404.*Candidate not found/,
		'404: last_error has the API\'s message');
	is(scalar(@{ posts_for('tap-422') }), 1, '422: sent once');
	my $r = psql_run("SELECT candidate_docs.await_delivery($id)");
	like($r->{err}, qr/ERROR:\s+HV000: delivery $id failed/, 'await_delivery raises the failure');
	like($r->{err}, qr/Document is not readable/, '... with the API\'s message');
	mock_clear_faults();
}

# ---------------------------------------------------------------------------
# a 2xx whose answer jsonb refuses (\u0000) is delivered all the same, with
# the reason in last_error, and never sent again
{
	mock_fault({ path_contains => '/candidates/tap-nul/', method => 'POST', times => 1,
			action => 'respond', status => 200,
			body => '{"id": "d-nul", "object": "document", "filename": "a\\u0000b"}' });
	my $id = queue('tap-nul', 'nul.pdf');
	is(deliver(), '1,0', 'an answer jsonb refuses: the row is delivered');
	my $r = row($id);
	is($r->{status}, 'delivered', '... and stays delivered');
	like($r->{last_error}, qr/answer could not be kept: unsupported Unicode escape sequence/, '... saying why its answer is missing');
	is(deliver(), '0,0', '... nothing left to send');
	is(scalar(@{ posts_for('tap-nul') }), 1, '... sent once');
	mock_clear_faults();
}

# ---------------------------------------------------------------------------
# await_delivery: returns what another session delivers; times out; cancel
# ends it within a second
{
	my $id = queue('tap-await', 'await.pdf');
	my $s = CdTest::Session->new;
	$s->send("SELECT candidate_docs.await_delivery($id, '30 s')->>'filename'");
	sleep(0.5);
	deliver();
	my $r = $s->wait(10);
	is($r->{out}, "await.pdf\n", 'await_delivery returns the created document');
	ok($r->{elapsed} < 5, 'await_delivery returned soon after the delivery');

	my $late = queue('tap-late', 'late.pdf');
	$r = $s->query("SELECT candidate_docs.await_delivery($late, '1 s')");
	like($r->{err}, qr/delivery $late is still pending after 00:00:01/, 'await_delivery times out');
	ok($r->{elapsed} >= 0.9 && $r->{elapsed} < 3, 'after about the timeout');

	$s->send("SELECT candidate_docs.await_delivery($late, '60 s')");
	sleep(0.5);
	my $t0 = time();
	psql_value("SELECT pg_cancel_backend(" . $s->pid . ")");
	$r = $s->wait(10);
	is($r->{sqlstate}, '57014', 'await_delivery cancelled');
	ok($r->{t_done} - $t0 < 1.0, 'within a second of pg_cancel_backend');
	$s->close;
	deliver();
}

# ---------------------------------------------------------------------------
# two deliverers: a row one of them is sending is "sending" in the view and
# passed over by the other
{
	mock_fault({ path_contains => '/candidates/tap-two/', method => 'POST', times => 1,
			action => 'delay', ms => 2000 });
	my $id = queue('tap-two', 'two.pdf');
	my $s = CdTest::Session->new;
	$s->send("SELECT * FROM candidate_docs.deliver()");
	ok(wait_until(sub { scalar(@{ posts_for('tap-two') }) == 1 }, 10, 0.05),
		'the first deliverer is sending');
	is(psql_value("SELECT status FROM candidate_docs.deliveries WHERE id = $id"), 'sending',
		'the view shows it as sending');
	my $t0 = time();
	is(deliver(), '0,0', 'a second deliverer sends nothing meanwhile');
	ok(time() - $t0 < 1.5, '... and does not wait for the first');
	my $r = psql_run("SELECT candidate_docs.cancel_delivery($id)");
	like($r->{err}, qr/delivery $id is being sent/, 'a row being sent cannot be cancelled');
	$r = $s->wait(20);
	like($r->{out}, qr/^1\|0$/m, 'the first deliverer delivered it');
	is(scalar(@{ posts_for('tap-two') }), 1, 'one POST in all');
	is(row($id)->{status}, 'delivered', 'delivered');
	$s->close;
}

# ---------------------------------------------------------------------------
# candidate_docs.delivery_max_age: a row still failing after it fails
{
	mock_fault({ path_contains => '/candidates/tap-old/', method => 'POST',
			action => 'respond', status => 500, body => '{"error": "Internal"}' });
	my $id = queue('tap-old', 'old.pdf');
	deliver();
	is(row($id)->{status}, 'pending', 'max_age: pending after a 500');
	sleep(1.2);
	my $r = psql_value("SET candidate_docs.delivery_max_age = '1s';\n"
		  . "SELECT delivered || ',' || failed FROM candidate_docs.deliver()");
	is($r, '0,1', 'max_age: the row fails');
	like(row($id)->{last_error}, qr/not delivered within candidate_docs.delivery_max_age \(00:00:01\); last error: .*HTTP status 500/,
		'max_age: last_error says why, with the last error');
	mock_clear_faults();
}

# ---------------------------------------------------------------------------
# a crash while a POST is in flight: the row is sent again with its key
# after the restart; the API replays, and one document exists
SKIP:
{
	skip 'TEST_CLUSTER_DIR is not set', 6 unless $ENV{TEST_CLUSTER_DIR};
	my $pg_ctl = "$ENV{PG_BINDIR}/pg_ctl";
	my @as_pg = $> == 0 ? ('runuser', '-u', 'postgres', '--') : ();
	my $created0 = mock_stats()->{documents_created};
	mock_fault({ path_contains => '/candidates/tap-crash/', method => 'POST', times => 1,
			action => 'delay', ms => 2000 });
	my $id = queue('tap-crash', 'crash.pdf');
	my $s = CdTest::Session->new;
	$s->send("SELECT * FROM candidate_docs.deliver()");
	ok(wait_until(sub { scalar(@{ posts_for('tap-crash') }) == 1 }, 10, 0.02),
		'crash: the POST is in flight');
	system(@as_pg, $pg_ctl, '-D', "$ENV{TEST_CLUSTER_DIR}/data", '-m', 'immediate',
		'stop') == 0 or BAIL_OUT('pg_ctl -m immediate stop failed');
	$s->wait(5);
	$s->close;
	# the mock finishes the upload the server never heard back about
	ok(wait_until(sub { mock_stats()->{documents_created} == $created0 + 1 }, 10, 0.1),
		'crash: the API created the document');
	system('bash', "$FindBin::Bin/../cluster.sh", 'restart', $ENV{TEST_CLUSTER_DIR}) == 0
	  or BAIL_OUT('restarting the server failed');
	is(row($id)->{status}, 'pending', 'crash: the row is pending again after the restart');
	ok(deliver_until_done($id, 30), 'crash: delivered after the restart');
	my $keys = posts_for('tap-crash');
	is_deeply($keys, [ key_of($id), key_of($id) ], 'crash: the same key sent twice');
	is(mock_stats()->{documents_created}, $created0 + 1, 'crash: one document created');
	is(psql_value("SELECT count(*) || ' ' || min(status) FROM candidate_docs.deliveries "
			  . "WHERE target = 'tap-crash'"), '1 delivered', 'crash: one delivered row');
}

psql_ok("DROP SERVER tap_ob CASCADE;\nDROP SCHEMA tap_ob CASCADE;\nDELETE FROM candidate_docs.outbox;");
done_testing();
