# limits.t -- long header values and cache keys are never cut; sockets are
# counted as PostgreSQL's external file descriptors; unknown candidates are
# named once
#
# (1) Idempotency keys longer than 1,000 bytes are sent whole (two keys that
#     differ only at the end stay two keys); one over the limit is refused
#     before anything is sent.
# (2) Rescan-cache keys are whole too: two long integration ids that share
#     their first 980 bytes (whole in the header, past 1,000 bytes in the
#     cache key) keep their own rows when a nested loop
#     answers the second outer row from the cache.
# (3) With max_files_per_process low, a fan-out wider than the external
#     file descriptors PostgreSQL grants fails with a clear error, and the
#     descriptors come back: a narrower scan works afterwards.
# (4) The skipped-id WARNING names each unknown candidate once, whatever
#     the number of listings that asked for it.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;

CdTest::init();
mock_reset();

my $cluster = "$FindBin::Bin/../cluster.sh";

my $S = 'tap_limits';
psql_run(join(";\n", map { "DROP SCHEMA IF EXISTS $_ CASCADE" }
		($S, "${S}_ko", "${S}_fan")));
create_server(name => 'tap_limits', schema => $S, options => { max_retries => '0' });
create_server(name => 'tap_limits_ko', api => 'kombo', schema => "${S}_ko",
	options => { max_retries => '0' });
create_server(name => 'tap_limits_fan', schema => "${S}_fan",
	options => { max_retries => '0', max_concurrency => '64', timeout_ms => '20000' });
my $s = CdTest::Session->new;

# ----------------------------------------------------------------------
# (1) idempotency keys
{
	my $key1 = ('k' x 1999) . 'A';
	my $key2 = ('k' x 1999) . 'B';
	my $before = mock_stats()->{stories_created};
	my $since = mock_seq();
	for my $key ($key1, $key2)
	{
		my $r = $s->query("SELECT candidate_docs.create_candidate_story('r-long-key',"
			  . " '{\"content\": \"c\"}', '$key', 'tap_limits') IS NOT NULL");
		is($r->{sqlstate}, '00000', 'a 2,000-byte idempotency key: no error')
		  or diag(substr($r->{err}, 0, 300));
	}
	my @keys = map { $_->{headers}{'idempotency-key'} // '' }
	  grep { $_->{method} eq 'POST' } @{ mock_requests($since) };
	is(scalar(@keys), 2, 'two story POSTs');
	ok($keys[0] eq $key1 && $keys[1] eq $key2, 'each key was sent whole')
	  or diag('lengths: ' . join(', ', map { length } @keys));
	is(mock_stats()->{stories_created} - $before, 2,
		'two keys that differ only at the end created two stories');

	$since = mock_seq();
	my $r = $s->query("SELECT candidate_docs.create_candidate_story('r-long-key',"
		  . " '{\"content\": \"c\"}', repeat('k', 8193), 'tap_limits')");
	is($r->{sqlstate}, '22023', 'an 8,193-byte key: refused') or diag($r->{err});
	like($r->{err}, qr/value of "idempotency_key" is too long/, 'an 8,193-byte key: says so');
	is(scalar(@{ mock_requests($since) }), 0, 'an 8,193-byte key: nothing sent');
}

# ----------------------------------------------------------------------
# (2) rescan-cache keys
{
	my $common = 'test:' . ('i' x 975);
	my ($int1, $int2) = ("${common}1", "${common}2");
	mock_config({ integrations => [ $int1, $int2 ] });
	my $q = "SELECT v.n, a.integration_id = '$int1' AS first, a.id"
	  . " FROM (VALUES (1, 'cache-key-c'), (2, 'cache-key-c')) v(n, c),"
	  . " LATERAL (SELECT * FROM ${S}_ko.candidate_attachments a"
	  . "  WHERE a.candidate_id = v.c AND a.integration_id IN ('$int1', '$int2')) a"
	  . " ORDER BY 1, 2, 3";
	$s->query('SET enable_memoize = off');
	my $since = mock_seq();
	my $r = $s->query($q);
	is($r->{sqlstate}, '00000', 'long integration ids: no error') or diag($r->{err});
	my (%rows, %ids);
	for my $line (split /\n/, $r->{out})
	{
		my ($n, $first, $id) = split /\|/, $line;
		push @{ $rows{$n}{$first} }, $id;
		$ids{$first}{$id} = 1;
	}
	ok(%{ $rows{1} // {} } && keys %{ $rows{1} } == 2,
		'outer row 1: rows of both integrations') or diag($r->{out});
	is_deeply($rows{2}, $rows{1}, 'outer row 2 (from the cache): the same rows')
	  or diag($r->{out});
	ok(!grep({ $ids{t}{$_} } keys %{ $ids{f} // {} }),
		'the two integrations have different attachments');
	is(scalar(@{ mock_requests($since) }), 2, 'the second outer row sent nothing');
	$s->query('RESET enable_memoize');
	mock_config({ integrations => [] });
}

# ----------------------------------------------------------------------
# (4) unknown candidates named once
{
	my $ids = join(', ', map { "'missing-$_'" } 1 .. 50);
	my $r = $s->query("SELECT count(*) FROM (VALUES (1), (2)) v(n),"
		  . " LATERAL (SELECT * FROM $S.candidate_documents d"
		  . "  WHERE d.candidate_id IN ($ids) AND v.n > 0) d");
	is($r->{sqlstate}, '00000', 'unknown candidates: no error') or diag($r->{err});
	my @warnings = $r->{err} =~ /^WARNING:  \w+: 50 candidates not found by the checkr API, skipped: /mg;
	is(scalar(@warnings), 1, 'unknown candidates: one WARNING counting each id once')
	  or diag($r->{err});
	my @named = $r->{err} =~ /"missing-(\d+)"/g;
	is(scalar(@named), 50, 'unknown candidates: each named once');
}

# ----------------------------------------------------------------------
# (3) sockets are external file descriptors
# Restart the server with max_files_per_process = $setting (or the default);
# false when it would not start so (it then runs with the default again).
sub restart_with
{
	my ($setting) = @_;
	psql_run("ALTER SYSTEM " . ($setting ? "SET max_files_per_process = $setting"
		  : "RESET max_files_per_process"), db => 'postgres');
	return 1 if system('bash', $cluster, 'restart', $ENV{TEST_CLUSTER_DIR}) == 0;
	# too few descriptors to start: drop the setting by hand
	my $auto = "$ENV{PGDATA}/postgresql.auto.conf";
	system('sed', '-i', '/max_files_per_process/d', $auto);
	system('bash', $cluster, 'restart', $ENV{TEST_CLUSTER_DIR}) == 0
	  or BAIL_OUT('restarting the server failed');
	return 0;
}

$s->close;
my $restarted = restart_with(90);
END { restart_with(undef) if $restarted; }
$s = CdTest::Session->new;
SKIP:
{
	skip 'the server does not start with max_files_per_process = 90', 9
	  unless $restarted;
	mock_config({ latency_ms => 500 });
	my $ids = join(', ', map { "'fan-fd-$_'" } 1 .. 60);
	my $r = $s->query("SELECT count(*) FROM ${S}_fan.candidate_documents"
		  . " WHERE candidate_id IN ($ids)", 60);
	is($r->{sqlstate}, 'HV00N', '60 sockets at once with max_files_per_process 90: an error')
	  or diag($r->{err} . $r->{out});
	like($r->{err}, qr/too many open files on the local server/,
		'the error says why');
	like($r->{err}, qr/max_files_per_process/, 'the hint names the setting');

	# the aborted sockets were given back: 8 at a time works, again and again
	mock_config({ latency_ms => 0 });
	for my $round (1 .. 3)
	{
		$r = $s->query("SELECT count(*) > 0 FROM $S.candidate_documents"
			  . " WHERE candidate_id IN ($ids)", 60);
		is($r->{sqlstate}, '00000', "then 8 at a time ($round): no error")
		  or diag($r->{err});
		is($r->{out}, "t\n", "then 8 at a time ($round): rows");
	}
}
$s->close;

done_testing();
