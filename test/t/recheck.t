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
ok(wait_until(
		sub {
			psql_value("SELECT count(*) FROM pg_stat_activity"
				  . " WHERE pid = " . $b->pid . " AND wait_event_type = 'Lock'");
		},
		30),
	'session B waits for the row lock');
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
psql_run("DROP SCHEMA $schema CASCADE; DROP SERVER tap_recheck_ck CASCADE");
done_testing();
