# cassert_paths.t -- the upload paths whose memory outlives a row: a failed
# or cancelled upload, and RETURNING content of a large upload
#
# These paths free memory that is still used later (a request in a row's
# memory context that the transfer's cleanup still walks; the bytes of a
# row that RETURNING gives back). A release build usually survives that by
# luck, since freed memory keeps its contents; under `make test-cassert`
# (freed memory clobbered) they crash the backend or return garbage. Each
# case checks the outcome, that the same backend still answers, and that the
# server log shows no crash and no failed assertion.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Digest::MD5 qw(md5_hex);
use Test::More;
use Time::HiRes qw(time sleep);

# a crashed backend's psql is gone: writing to it must not end the test
$SIG{PIPE} = 'IGNORE';

CdTest::init();
mock_reset();

my $S = 'tap_cassert_paths';
psql_run("DROP SCHEMA IF EXISTS $S CASCADE");
create_server(name => 'tap_cp_ck', schema => $S,
	options => { max_retries => '0', timeout_ms => '60000' });
my $table = "$S.candidate_documents";

my $s = CdTest::Session->new;
my $admin = CdTest::Session->new;
my $pid = $s->pid;
my $pdf = '\\x255044462d312e340a2525454f460a';    # a 15-byte PDF

# The server log since $offset shows neither a crashed backend nor a
# failed assertion.
sub no_crash
{
	my ($offset, $what) = @_;
	my $log = server_log_since($offset);
	my @bad = grep { /TRAP: |terminated by signal|was terminated|server process .* exited/ }
	  split /\n/, $log;
	ok(!@bad, "$what: no crash or failed assertion in the server log")
	  or diag(join("\n", @bad));
}

# The same backend is still there and answers. If it is not (it crashed),
# wait for the server to be back and open a new session, so that the
# following cases still run.
sub alive
{
	my ($what) = @_;
	my $r = $s->dead ? { dead => 1 } : $s->query('SELECT pg_backend_pid()', 30);
	return 1 if ok(!$r->{dead} && ($r->{out} // '') eq "$pid\n",
		"$what: the same backend answers");
	diag(explain $r);
	wait_until(sub { psql_run('SELECT 1', db => 'postgres')->{rc} == 0 }, 60, 0.2);
	$s->close;
	$admin->close;
	$s = CdTest::Session->new;
	$admin = CdTest::Session->new;
	$pid = $s->pid;
	return 0;
}

# Run one case; a case cut short by a dead session (a crashed backend) is a
# failure, and the next case starts with new sessions.
sub run_case
{
	my ($what, $code) = @_;
	my $offset = server_log_offset();
	return if eval { $code->($what); 1 };
	fail("$what: the case ran to its end");
	diag($@);
	no_crash($offset, $what);
	alive($what);
	mock_reset();
}

sub upload_sql
{
	my ($cid, $file, %o) = @_;
	return "INSERT INTO $table (candidate_id, type, filename, content, content_type)"
	  . " VALUES ('$cid', 'consent', '$file', '$pdf'::bytea, 'application/pdf')"
	  . ($o{returning} ? " RETURNING $o{returning}" : '');
}

# ----------------------------------------------------------------------
# An upload the API refuses (4xx) or fails (5xx): one ERROR, and the
# transfer's cleanup runs as the statement's memory is released.
for my $status (400, 422, 500, 503)
{
	run_case("upload answered $status", sub {
		my ($what) = @_;
		my $offset = server_log_offset();
		my $cid = "cp-fail-$status";
		mock_fault({ path_contains => "/candidates/$cid/documents", method => 'POST',
				action => 'respond', status => $status,
				headers => { 'Content-Type' => 'application/json' },
				body => '{"error":"refused by the test"}' });
		my $r = $s->query(upload_sql($cid, 'refused.pdf'), 60);
		ok(!$r->{dead}, "$what: the backend survived") or diag(explain $r);
		ok(is_hv($r->{sqlstate}), "$what: an error of class HV")
		  or diag(explain $r);
		like($r->{err} // '', qr/could not upload document "refused\.pdf"/,
			"$what: the error names the document");
		alive($what);
		no_crash($offset, $what);
	});
	mock_clear_faults();
}

# Several rows, the last one refused: the earlier rows' requests are done,
# the failed one is still linked to the transfer when the error unwinds.
run_case('third row of three refused', sub {
	my ($what) = @_;
	my $offset = server_log_offset();
	mock_fault({ path_contains => '/candidates/cp-multi-3/documents', method => 'POST',
			action => 'respond', status => 400,
			headers => { 'Content-Type' => 'application/json' },
			body => '{"error":"refused by the test"}' });
	my $r = $s->query("INSERT INTO $table (candidate_id, type, filename, content, content_type)"
		  . " SELECT 'cp-multi-' || i, 'consent', 'm' || i || '.pdf', '$pdf'::bytea,"
		  . " 'application/pdf' FROM generate_series(1, 3) i", 60);
	ok(!$r->{dead}, "$what: the backend survived") or diag(explain $r);
	ok(is_hv($r->{sqlstate}), "$what: an error of class HV") or diag(explain $r);
	alive($what);
	no_crash($offset, $what);
	mock_clear_faults();
});

# An upload cancelled while the API has not answered.
run_case('upload cancelled', sub {
	my ($what) = @_;
	my $offset = server_log_offset();
	my $since = mock_seq();
	mock_fault({ path_contains => '/candidates/cp-cancel/documents', method => 'POST',
			action => 'hang', seconds => 60 });
	$s->send(upload_sql('cp-cancel', 'cancelled.pdf'));
	my $arrived = wait_until(sub {
			grep { index($_->{raw_path}, '/candidates/cp-cancel/documents') >= 0 }
			  @{ mock_requests($since) };
		}, 20);
	ok($arrived, "$what: the upload reached the mock");
	my $c = $admin->query("SELECT pg_cancel_backend($pid)", 10);
	is($c->{out}, "t\n", "$what: pg_cancel_backend returned true")
	  or diag(explain $c);
	my $r = $s->wait(30);
	ok(!$r->{dead} && !$r->{timeout}, "$what: the backend survived")
	  or diag(explain $r);
	is($r->{sqlstate}, '57014', "$what: SQLSTATE 57014") or diag(explain $r);
	alive($what);
	no_crash($offset, $what);
	mock_reset();    # ends the hanging handler
});

# An upload that times out (timeout_ms) while the API has not answered.
run_case('upload timed out', sub {
	my ($what) = @_;
	my $offset = server_log_offset();
	create_server(name => 'tap_cp_to', schema => "${S}_to",
		options => { max_retries => '0', timeout_ms => '300' });
	mock_fault({ path_contains => '/candidates/cp-timeout/documents', method => 'POST',
			action => 'hang', seconds => 30 });
	my $sql = upload_sql('cp-timeout', 'late.pdf');
	$sql =~ s/\Q$table\E/${S}_to.candidate_documents/;
	my $r = $s->query($sql, 60);
	ok(!$r->{dead}, "$what: the backend survived") or diag(explain $r);
	ok(is_hv($r->{sqlstate}), "$what: an error of class HV") or diag(explain $r);
	alive($what);
	no_crash($offset, $what);
	mock_reset();
});

# ----------------------------------------------------------------------
# RETURNING content gives back exactly the bytes that were sent: a
# 100,005-byte upload, compared by length and md5 with what was sent.
run_case('RETURNING content of a 100,005-byte upload', sub {
	my ($what) = @_;
	my $offset = server_log_offset();
	my $since = mock_seq();
	my $bytes = "%PDF-" . join('', map { chr(32 + ($_ * 7919) % 95) } 1 .. 100_000);
	my $md5 = md5_hex($bytes);
	my $expr = "'\\x255044462d'::bytea || convert_to((SELECT string_agg(chr(32 + (i * 7919) % 95), '' ORDER BY i)"
	  . " FROM generate_series(1, 100000) i), 'UTF8')";
	my $r = $s->query("SELECT length($expr), md5($expr)", 60);
	is($r->{out}, "100005|$md5\n", "$what: the SQL expression makes the bytes sent")
	  or diag(explain $r);
	$r = $s->query("INSERT INTO $table (candidate_id, type, filename, content, content_type)"
		  . " VALUES ('cp-returning', 'consent', 'big.pdf', $expr, 'application/pdf')"
		  . " RETURNING filename, length(content), md5(content)", 60);
	ok(!$r->{dead}, "$what: the backend survived") or diag(explain $r);
	is($r->{sqlstate}, '00000', "$what: no error") or diag(explain $r);
	is($r->{out}, "big.pdf|100005|$md5\n", "$what: the same length and md5");
	my @posts = grep { $_->{method} eq 'POST'
		  && index($_->{raw_path}, '/candidates/cp-returning/documents') >= 0 }
	  @{ mock_requests($since) };
	is(scalar(@posts), 1, "$what: one upload sent");

	# and RETURNING * with the content, row by row, for several rows
	$r = $s->query("WITH up AS (INSERT INTO $table (candidate_id, type, filename, content, content_type)"
		  . " SELECT 'cp-returning-' || n, 'consent', 'big' || n || '.pdf', $expr || int4send(n),"
		  . " 'application/pdf' FROM generate_series(1, 3) n RETURNING *)"
		  . " SELECT string_agg(filename || ':' || length(content) || ':'"
		  . " || (md5(content) = md5($expr || int4send(substring(filename FROM '[0-9]+')::int)))::text,"
		  . " ' ' ORDER BY filename) FROM up", 120);
	is($r->{sqlstate}, '00000', "$what, three rows: no error") or diag(explain $r);
	is($r->{out}, "big1.pdf:100009:true big2.pdf:100009:true big3.pdf:100009:true\n",
		"$what, three rows: each row's own bytes");
	alive($what);
	no_crash($offset, $what);
});

$s->close;
$admin->close;
# after a crash, the next test file needs the server back
ok(wait_until(sub { psql_run('SELECT 1')->{rc} == 0 }, 60, 0.2),
	'the server accepts connections at the end');
done_testing();
