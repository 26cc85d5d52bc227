# recheck.t -- EvalPlanQual: when a row of a local table joined with a
# foreign table is updated concurrently, PostgreSQL rechecks the join on the
# new row version with the foreign row it kept.  The conditions the scan
# checks before a download are rechecked once, the others too, and nothing
# is downloaded again.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;

CdTest::init();
mock_reset();

my $schema = 'tap_recheck';
psql_run("DROP SCHEMA IF EXISTS $schema CASCADE");
create_server(name => 'tap_recheck_ck', schema => $schema);
psql_ok(<<"SQL", 'set-up');
CREATE TABLE $schema.emp (name text, candidate_id text, n int);
INSERT INTO $schema.emp VALUES ('Ann', 'e44aa283528e6fde7d542194', 0);
CREATE SEQUENCE $schema.calls;
CREATE FUNCTION $schema.counted(text) RETURNS boolean VOLATILE LANGUAGE plpgsql
  AS \$\$ BEGIN PERFORM nextval('$schema.calls'); RETURN true; END \$\$;
SQL

# Does session $s come to wait for a lock (within 30 s)?
sub waits_for_lock
{
	my ($s, $name) = @_;
	ok(wait_until(
			sub {
				psql_value("SELECT count(*) FROM pg_stat_activity"
					  . " WHERE pid = " . $s->pid . " AND wait_event_type = 'Lock'");
			},
			30),
		$name);
}

my $a = CdTest::Session->new;
my $b = CdTest::Session->new;
my $r = $a->query("BEGIN; UPDATE $schema.emp SET n = n + 1");
is($r->{sqlstate}, '00000', 'session A updates the row') or diag(explain $r);

# three documents: the two under 3000 bytes pass the check before the
# download, the one over 2000 bytes the check after it
my $since = mock_seq();
$b->send("UPDATE $schema.emp e SET n = e.n + 10"
	  . " FROM $schema.candidate_documents d"
	  . " WHERE d.candidate_id = e.candidate_id AND d.filesize < 3000"
	  . " AND $schema.counted(d.id) AND length(d.content) > 2000"
	  . " RETURNING e.n, d.id");
waits_for_lock($b, 'session B waits for the row lock');
$r = $a->query('COMMIT');
is($r->{sqlstate}, '00000', 'session A commits') or diag(explain $r);
$r = $b->wait(30);
is($r->{sqlstate}, '00000', 'session B finishes') or diag(explain $r);
is($r->{out}, "11|d0000000000000000000aa03\n",
	'the recheck saw the new row version and the kept foreign row');
is(psql_value("SELECT last_value FROM $schema.calls"), '3',
	'the volatile condition ran once per row before the download, and once in the recheck');
my @downloads = grep { $_->{path} =~ m{^/files/} } @{ mock_requests($since) };
is(scalar(@downloads), 2, 'the recheck downloaded nothing again');

$a->close;
$b->close;

# The join condition itself is rechecked: session A moves the employee to
# another candidate while B's UPDATE ... FROM (or SELECT ... FOR UPDATE)
# waits for the row; the document B kept belongs to the old candidate, so
# the new row version no longer joins it: no row, as with a local table.
# With the batched join and without, and the local table for reference.
psql_ok(<<"SQL", 'set-up of the join recheck');
CREATE TABLE $schema.hr (cid text, note text);
CREATE TABLE $schema.local_docs AS
  SELECT id, candidate_id FROM $schema.candidate_documents
   WHERE candidate_id = 'e44aa283528e6fde7d542194';
SQL

sub recheck_case
{
	my ($what, $batched, $docs, $stmt) = @_;
	psql_run("TRUNCATE $schema.hr;"
		  . " INSERT INTO $schema.hr VALUES ('e44aa283528e6fde7d542194', NULL)");
	my $a = CdTest::Session->new;
	my $b = CdTest::Session->new;
	$b->query("SET candidate_docs.enable_batched_join = $batched");
	$b->query('SET enable_hashjoin = off; SET enable_mergejoin = off');
	my $r = $a->query("BEGIN; UPDATE $schema.hr SET cid = '5f1c2e3a4b5c6d7e8f901234'");
	is($r->{sqlstate}, '00000', "$what: session A moves the employee");
	my $sql = $stmt eq 'update'
	  ? "UPDATE $schema.hr SET note = d.id FROM $docs d"
	  . " WHERE d.candidate_id = hr.cid RETURNING hr.cid, d.id"
	  : "SELECT hr.cid, d.id FROM $schema.hr JOIN $docs d"
	  . " ON d.candidate_id = hr.cid FOR UPDATE OF hr";
	if ($docs !~ /local/)
	{
		my $plan = $b->query("EXPLAIN (COSTS OFF) $sql");
		if ($batched eq 'on')
		{
			like($plan->{out}, qr/CandidateDocsBatch/, "$what: a batched join");
		}
		else
		{
			unlike($plan->{out}, qr/CandidateDocsBatch/, "$what: a plain nested loop");
		}
	}
	$b->send($sql);
	waits_for_lock($b, "$what: session B waits for the row lock");
	$r = $a->query('COMMIT');
	is($r->{sqlstate}, '00000', "$what: session A commits");
	$r = $b->wait(30);
	is($r->{sqlstate}, '00000', "$what: session B finishes") or diag(explain $r);
	is($r->{out}, '', "$what: no row joins the new row version");
	is(psql_value("SELECT coalesce(note, 'none') FROM $schema.hr"), 'none',
		"$what: the employee's note is untouched");
	$a->close;
	$b->close;
}

recheck_case('UPDATE, local table', 'off', "$schema.local_docs", 'update');
for my $batched ('off', 'on')
{
	recheck_case("UPDATE, batched join $batched", $batched,
		"$schema.candidate_documents", 'update');
	recheck_case("FOR UPDATE, batched join $batched", $batched,
		"$schema.candidate_documents", 'select');
}

psql_run("DROP SCHEMA $schema CASCADE; DROP SERVER tap_recheck_ck CASCADE");
done_testing();
