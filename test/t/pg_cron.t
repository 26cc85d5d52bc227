# pg_cron.t -- a pg_cron job posting pending stories: a run that fails
# half-way and is then re-run creates no duplicate story
#
# Two jobs run side by side against the real pg_cron, each reading its own
# pending_stories table and passing each row's id as the idempotency key:
#   A  a procedure that commits after each story: a failure leaves the rows
#      already posted marked as sent;
#   B  a single UPDATE: a failure rolls back the marks of stories already
#      posted, so the re-run posts them again, and only the idempotency key
#      keeps the API from creating them twice.
# The first run of each fails on one report (500, max_retries 0); the fault
# is then removed and the next run finishes the work.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

my $db = CdTest::init();

my ($schedule, $run_wait) = cron_setup($db);

# leftovers of an earlier run
psql_run("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'tap_cron_%'");
mock_reset();

create_server(name => 'tap_cron_ck', options => { max_retries => '0' });

my %rows;    # variant -> [ [id, report_id], ... ]
for my $v ('a', 'b')
{
	my $sc = "tap_cron_$v";
	my @r = map { [ "tap-$v-$_", "rpt-$v-$_" ] } 1 .. 5;
	$r[2][1] = "rpt-$v-fail";    # the third row's report fails
	$rows{$v} = \@r;
	my $values = join(",\n", map {
			my ($id, $rep) = @$_;
			"('$id', '$rep', '{\"content\": \"story for $id\", \"record_id\": \"rec-$id\"}')"
		} @r);
	psql_ok(<<"SQL", "pending_stories for job $v");
DROP SCHEMA IF EXISTS $sc CASCADE;
CREATE SCHEMA $sc;
CREATE TABLE $sc.pending_stories (
    id        text PRIMARY KEY,
    report_id text NOT NULL,
    story     jsonb NOT NULL,
    sent      boolean NOT NULL DEFAULT false
);
INSERT INTO $sc.pending_stories (id, report_id, story) VALUES
$values;
SQL
}

# A: one transaction per story
psql_ok(<<'SQL', 'procedure for job a');
CREATE PROCEDURE tap_cron_a.send_pending_stories()
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT id, report_id, story FROM tap_cron_a.pending_stories
              WHERE NOT sent ORDER BY id
    LOOP
        PERFORM candidate_docs.create_candidate_story(r.report_id, r.story, r.id,
                                                      'tap_cron_ck');
        UPDATE tap_cron_a.pending_stories SET sent = true WHERE id = r.id;
        COMMIT;
    END LOOP;
END
$$;
SQL

my %command = (
	a => 'CALL tap_cron_a.send_pending_stories()',
	b => "UPDATE tap_cron_b.pending_stories SET sent = true WHERE NOT sent AND"
	  . " candidate_docs.create_candidate_story(report_id, story, id, 'tap_cron_ck')"
	  . " IS NOT NULL",
);

mock_fault(map { { path_contains => "/reports/rpt-$_-fail/", method => 'POST',
			action => 'respond', status => 500,
			headers => { 'Content-Type' => 'application/json' },
			body => '{"error":"Internal Server Error"}' } } ('a', 'b'));

my %jobid;
for my $v ('a', 'b')
{
	$jobid{$v} = psql_value("SELECT cron.schedule('tap_cron_$v', '$schedule',"
		  . " \$cmd\$$command{$v}\$cmd\$)");
	like($jobid{$v}, qr/^\d+$/, "job $v scheduled");
}

# Runs of a job that ended with $status after time $since (epoch seconds).
sub runs
{
	my ($v, $status, $since) = @_;
	return psql_value("SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid{$v}"
		  . " AND status = '$status'"
		  . ($since ? " AND start_time >= to_timestamp($since)" : ''));
}

sub sent
{
	my ($v) = @_;
	return psql_value("SELECT string_agg(id, ',' ORDER BY id) FILTER (WHERE sent)"
		  . " FROM tap_cron_$v.pending_stories");
}

# key -> [statuses of the story POSTs carrying it]
sub posts_by_key
{
	my %by;
	for my $e (@{ mock_requests() })
	{
		next unless $e->{method} eq 'POST' && $e->{path} =~ m{/candidate_stories$};
		my $k = $e->{headers}{'idempotency-key'} // '(none)';
		push @{ $by{$k} }, $e->{status};
	}
	return \%by;
}

# ----------------------------------------------------------------------
# The first runs fail half-way.

ok(wait_until(sub { runs('a', 'failed') > 0 && runs('b', 'failed') > 0 }, $run_wait, 0.5),
	'both jobs ran and failed')
  or diag(psql_run("SELECT * FROM cron.job_run_details WHERE jobid IN"
		  . " ($jobid{a}, $jobid{b})")->{out});

# A committed the stories before the failing one
is(sent('a'), 'tap-a-1,tap-a-2', 'job a: the stories before the failure stay sent');
# B rolled back, though two stories had been created
is(sent('b'), '', 'job b: the failed run marked nothing sent');
my $by = posts_by_key();
for my $id ('tap-b-1', 'tap-b-2')
{
	ok(grep({ $_ == 200 } @{ $by->{$id} // [] }),
		"job b: story $id was posted before the failure");
}
ok(grep({ $_ == 500 } @{ $by->{'tap-b-3'} // [] }), 'job b: story tap-b-3 failed with 500');
my $mid = mock_stats()->{stories_created};
ok($mid >= 4, "stories created before the fault was removed: $mid");

my $detail = psql_value("SELECT string_agg(DISTINCT return_message, ' / ')"
	  . " FROM cron.job_run_details WHERE jobid IN ($jobid{a}, $jobid{b})"
	  . " AND status = 'failed'");
like($detail, qr/candidate story/, 'cron.job_run_details has the error of the failed runs');
note("failed run: $detail");

# ----------------------------------------------------------------------
# The fault goes away; the next runs finish the work.

mock_clear_faults();
my $t_fixed = time();
ok(wait_until(sub { runs('a', 'succeeded', $t_fixed) > 0 && runs('b', 'succeeded', $t_fixed) > 0 },
		$run_wait, 0.5),
	'both jobs ran again and succeeded')
  or diag(psql_run("SELECT * FROM cron.job_run_details WHERE jobid IN"
		  . " ($jobid{a}, $jobid{b})")->{out});
for my $v ('a', 'b')
{
	is(psql_value("SELECT cron.unschedule($jobid{$v})"), 't', "job $v unscheduled");
}
# let a run that was starting finish
wait_until(sub {
		psql_value("SELECT count(*) FROM cron.job_run_details WHERE jobid IN"
			  . " ($jobid{a}, $jobid{b}) AND status NOT IN ('succeeded', 'failed')") == 0
	}, 30, 0.5);

for my $v ('a', 'b')
{
	is(sent($v), join(',', map { $_->[0] } @{ $rows{$v} }), "job $v: every row is sent");
}

# Each pending row produced exactly one story.
my $stats = mock_stats();
is($stats->{stories_created}, 10, 'ten pending rows, ten stories created');
$by = posts_by_key();
my %created_for;
for my $e (@{ mock_requests() })
{
	next unless $e->{method} eq 'POST' && ($e->{status} // 0) == 200
	  && $e->{path} =~ m{/reports/([^/]+)/candidate_stories$};
	my $key = $e->{headers}{'idempotency-key'} // '';
	$created_for{$key}{report} = $1;
	$created_for{$key}{content} = $e->{json}{content};
}
for my $v ('a', 'b')
{
	for my $row (@{ $rows{$v} })
	{
		my ($id, $rep) = @$row;
		ok($created_for{$id}, "row $id: posted with its id as the Idempotency-Key");
		is($created_for{$id}{report} // '', $rep, "row $id: to its report");
		is($created_for{$id}{content} // '', "story for $id", "row $id: with its story");
	}
}
is(scalar(grep { !/^tap-[ab]-\d$/ } keys %created_for), 0,
	'no story was posted with another key');
# B's re-run replayed the two stories posted by the failed run
for my $id ('tap-b-1', 'tap-b-2')
{
	my $ok = grep { $_ == 200 } @{ $by->{$id} // [] };
	ok($ok >= 2, "job b: $id was posted again by the re-run (created, then replayed)")
	  or diag("posts of $id: @{ $by->{$id} // [] }");
}
for my $id ('tap-a-1', 'tap-a-2')
{
	is(scalar(@{ $by->{$id} // [] }), 1, "job a: $id was posted once");
}

# cron.job_run_details shows the failed and the succeeded runs.
for my $v ('a', 'b')
{
	ok(runs($v, 'failed') >= 1, "job $v: a failed run in cron.job_run_details");
	ok(runs($v, 'succeeded') >= 1, "job $v: a succeeded run in cron.job_run_details");
}
is(psql_value("SELECT count(*) FROM cron.job WHERE jobname LIKE 'tap_cron_%'"), '0',
	'no job left scheduled');

mock_reset();
psql_run("DROP SCHEMA IF EXISTS tap_cron_a CASCADE; DROP SCHEMA IF EXISTS tap_cron_b CASCADE;"
	  . " DROP SERVER IF EXISTS tap_cron_ck CASCADE");

done_testing();
