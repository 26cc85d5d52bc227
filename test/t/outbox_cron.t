# outbox_cron.t -- a pg_cron job queues the consent forms of new hires and
# marks them sent in the same transaction; another job delivers them with
# candidate_docs.deliver()
#
# The queueing job first fails on a bad row: nothing is queued, nothing is
# marked, nothing is sent.  Once the row is fixed the next run queues every
# form, and the delivering job sends each exactly once, with its row's key.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

my $db = CdTest::init();

my ($schedule, $run_wait) = cron_setup($db);
# a queued row waits for the next run of the delivering job
$run_wait *= 2;

# only the job delivers
deliverers_off();
END
{
	deliverers_on();
}

psql_run("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'tap_obc_%'");
mock_reset();
create_server(name => 'tap_obc', schema => 'tap_obc');
psql_ok(<<'SQL', 'new hires, one with a file of unknown type');
ALTER FOREIGN TABLE tap_obc.candidate_documents OPTIONS (ADD delivery 'after_commit');
CREATE TABLE tap_obc.new_hires (
  candidate_id text PRIMARY KEY,
  consent_pdf  bytea NOT NULL,
  consent_sent boolean NOT NULL DEFAULT false
);
INSERT INTO tap_obc.new_hires (candidate_id, consent_pdf)
SELECT 'hire-' || i, CASE WHEN i = 3 THEN 'not a pdf'::bytea
                          ELSE ('%PDF-1.4 consent of hire ' || i)::bytea END
  FROM generate_series(1, 5) AS i;
DELETE FROM candidate_docs.outbox;
SQL

my $queue = <<'SQL';
WITH sent AS (
  UPDATE tap_obc.new_hires SET consent_sent = true
   WHERE NOT consent_sent
  RETURNING candidate_id, consent_pdf)
INSERT INTO tap_obc.candidate_documents (candidate_id, type, filename, content)
SELECT candidate_id, 'consent', 'consent-' || candidate_id || '.pdf', consent_pdf
  FROM sent
SQL
my %jobid;
$jobid{queue} = psql_value("SELECT cron.schedule('tap_obc_queue', '$schedule', \$cmd\$$queue\$cmd\$)");
$jobid{deliver} = psql_value("SELECT cron.schedule('tap_obc_deliver', '$schedule',"
	  . " 'SELECT candidate_docs.deliver()')");
like($jobid{$_}, qr/^\d+$/, "job $_ scheduled") for sort keys %jobid;

sub runs
{
	my ($job, $status, $since) = @_;
	return psql_value("SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid{$job}"
		  . " AND status = '$status'"
		  . ($since ? " AND start_time >= to_timestamp($since)" : ''));
}

sub posts
{
	return [ grep { $_->{method} eq 'POST' } @{ mock_requests() } ];
}

# The bad row fails the queueing job: nothing queued, marked or sent.
ok(wait_until(sub { runs('queue', 'failed') > 0 && runs('deliver', 'succeeded') > 0 },
		$run_wait, 0.5), 'the queueing job failed, the delivering job ran');
like(psql_value("SELECT return_message FROM cron.job_run_details WHERE jobid = $jobid{queue}"
		  . " AND status = 'failed' LIMIT 1"), qr/could not detect the content type/,
	'the failed run says why');
is(psql_value("SELECT count(*) FROM tap_obc.new_hires WHERE consent_sent"), '0',
	'no hire marked');
is(psql_value("SELECT count(*) FROM candidate_docs.deliveries"), '0', 'nothing queued');
is(scalar(@{ posts() }), 0, 'nothing sent');

# Fixed: the next run queues every form, the other job delivers them.
psql_ok("UPDATE tap_obc.new_hires SET consent_pdf = '%PDF-1.4 consent of hire 3'"
	  . " WHERE candidate_id = 'hire-3'");
ok(wait_until(sub {
			psql_value("SELECT count(*) FROM candidate_docs.deliveries WHERE status = 'delivered'") == 5
		}, $run_wait, 0.5), 'five forms delivered')
  or diag(psql_run("SELECT * FROM candidate_docs.deliveries")->{out});
psql_value("SELECT cron.unschedule($jobid{$_})") for sort keys %jobid;
wait_until(sub {
		psql_value("SELECT count(*) FROM cron.job_run_details WHERE jobid IN"
			  . " ($jobid{queue}, $jobid{deliver}) AND status NOT IN ('succeeded', 'failed')") == 0
	}, 30, 0.5);

is(psql_value("SELECT count(*) FROM tap_obc.new_hires WHERE consent_sent"), '5',
	'every hire marked sent');
my %keys = map { split /\|/ } split /\n/,
  psql_value("SELECT target || '|' || idempotency_key FROM candidate_docs.outbox");
my %posted;
for my $p (@{ posts() })
{
	my ($cand) = $p->{path} =~ m{/candidates/([^/]+)/documents$};
	push @{ $posted{$cand} }, $p->{headers}{'idempotency-key'};
}
for my $i (1 .. 5)
{
	my $c = "hire-$i";
	is_deeply($posted{$c}, [ $keys{$c} ], "$c: one POST, with its row's key");
}
is(mock_stats()->{documents_created}, 5, 'five documents created');

mock_reset();
psql_run("DROP SCHEMA IF EXISTS tap_obc CASCADE;\nDROP SERVER IF EXISTS tap_obc CASCADE;\n"
	  . "DELETE FROM candidate_docs.outbox;");
done_testing();
