# transfers.t -- what a transfer links stays alive as long as the transfer,
# and a scan's memory stays flat however often it is rescanned
#
# (1) Failed, cancelled and timed-out uploads, stories and downloads: the
#     transfer's cleanup must not walk a request freed with a per-row or
#     per-call context.  The server runs with MALLOC_PERTURB_ for this part,
#     so memory given back to malloc is overwritten; a long candidate id
#     pushes the row's allocations past its context's first block, which is
#     what goes back to malloc.  (A build with assertions clobbers every
#     freed chunk and catches the same mistake without the trick.)
#     The backends must have MALLOC_PERTURB_ in their environment
#     (/proc/PID/environ), or this part checks nothing.
# (2) 3,000 rescans that abandon a page in flight (LATERAL ... LIMIT 1 over
#     a listing of many pages): the scan context's growth, read from
#     EXPLAIN (ANALYZE, VERBOSE) "Scan Memory", is printed and must stay
#     under 1 MB; so must the backend's own resident memory as the kernel
#     sees it (RssAnon in /proc/PID/status: heap and anonymous mappings,
#     whatever allocates them; VmRSS and VmHWM, printed, also count the
#     pages of shared libraries and files touched the first time).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();

my $cluster = "$FindBin::Bin/../cluster.sh";

sub restart_server
{
	my (@env) = @_;
	system('bash', $cluster, 'restart', $ENV{TEST_CLUSTER_DIR}, @env) == 0
	  or BAIL_OUT("restarting the server failed");
}

my $S = 'tap_xfer';
psql_run("DROP SCHEMA IF EXISTS $S CASCADE; DROP SCHEMA IF EXISTS ${S}_p2 CASCADE");
create_server(name => 'tap_xfer', schema => $S,
	options => { max_retries => '0', timeout_ms => '1000' });
create_server(name => 'tap_xfer_p2', schema => "${S}_p2",
	options => { max_retries => '0', page_size => '2', requests_per_minute => '0' });

restart_server('MALLOC_PERTURB_=165');
my $perturbed = 1;
END { restart_server() if $perturbed; }
my $log_offset = server_log_offset();

my $s = CdTest::Session->new;
my $admin = CdTest::Session->new;
# (a backend's own /proc/PID/environ shows its process title, which
# overwrites the area: the postmaster's is read; backends inherit it)
{
	my ($what, $pid) = ('the postmaster', "split_part(pg_read_file('postmaster.pid'), E'\\n', 1)");
	my $r = $s->query("SELECT position('\\x00'::bytea"
		  . " || convert_to('MALLOC_PERTURB_=165', 'UTF8') || '\\x00'::bytea in"
		  . " '\\x00'::bytea || pg_read_binary_file('/proc/' || $pid || '/environ')) > 0");
	is($r->{out}, "t\n", "MALLOC_PERTURB_=165 is in the environment of $what")
	  or diag(explain $r);
}

sub session_alive
{
	my ($what) = @_;
	my $r = $s->dead ? { out => 'dead' } : $s->query('SELECT 41 + 1');
	is($r->{out}, "42\n", "$what: the same backend still answers")
	  or BAIL_OUT("$what: the backend is gone");
}

my $pdf = "'\\x255044462d312e340a2525454f460a'::bytea";

# An upload for candidate $id; returns the query's result.
sub upload
{
	my ($id) = @_;
	return $s->query("INSERT INTO $S.candidate_documents"
		  . " (candidate_id, type, filename, content, content_type)"
		  . " VALUES ('$id', 'consent', 'x.pdf', $pdf, 'application/pdf')");
}

# ----------------------------------------------------------------------
# (1) failed uploads of one and of several rows
for my $case ([ 422, '{"error":"Type is invalid"}' ],
	[ 500, '{"error":"Internal Server Error"}' ])
{
	my ($status, $body) = @$case;
	my $id = "up-$status-" . ('x' x 3000);
	mock_fault({ path_contains => "/candidates/up-$status-", method => 'POST',
			action => 'respond', status => $status,
			headers => { 'Content-Type' => 'application/json' }, body => $body });
	my $r = upload($id);
	ok(is_hv($r->{sqlstate}), "upload answered $status: an FDW error")
	  or diag(substr($r->{err}, 0, 400));
	like($r->{err}, qr/HTTP status $status/, "upload answered $status: the status");
	session_alive("upload answered $status");

	# a second row after a good one: the failure is in the second row
	$r = $s->query("INSERT INTO $S.candidate_documents"
		  . " (candidate_id, type, filename, content, content_type)"
		  . " VALUES ('ok-before-$status', 'consent', 'a.pdf', $pdf, 'application/pdf'),"
		  . " ('$id', 'consent', 'b.pdf', $pdf, 'application/pdf')");
	ok(is_hv($r->{sqlstate}), "second row answered $status: an FDW error")
	  or diag(substr($r->{err}, 0, 400));
	session_alive("second row answered $status");
	mock_clear_faults();
}

# cancelled while the POST waits for an answer
{
	my $id = 'up-cancel-' . ('x' x 3000);
	mock_fault({ path_contains => '/candidates/up-cancel-', method => 'POST',
			action => 'hang', seconds => 30 });
	my $since = mock_seq();
	$s->send("INSERT INTO $S.candidate_documents"
		  . " (candidate_id, type, filename, content, content_type)"
		  . " VALUES ('$id', 'consent', 'x.pdf', $pdf, 'application/pdf')");
	ok(wait_until(sub { grep { $_->{method} eq 'POST' } @{ mock_requests($since) } }, 20),
		'cancelled upload: the POST reached the mock');
	$admin->query("SELECT pg_cancel_backend(" . $s->pid . ")");
	my $r = $s->wait(30);
	is($r->{sqlstate}, '57014', 'cancelled upload: SQLSTATE 57014')
	  or diag(substr($r->{err}, 0, 400));
	session_alive('cancelled upload');
	mock_clear_faults();
}

# timed out (timeout_ms) while the POST waits for an answer
{
	my $id = 'up-timeout-' . ('x' x 3000);
	mock_fault({ path_contains => '/candidates/up-timeout-', method => 'POST',
			action => 'hang', seconds => 5 });
	my $r = upload($id);
	is($r->{sqlstate}, 'HV00N', 'timed-out upload: a connection error')
	  or diag(substr($r->{err}, 0, 400));
	session_alive('timed-out upload');
	mock_clear_faults();
}

# a failed story POST and a failed download
{
	mock_fault({ path_contains => '/candidate_stories', method => 'POST',
			action => 'respond', status => 500,
			headers => { 'Content-Type' => 'application/json' },
			body => '{"error":"Internal Server Error"}' });
	my $r = $s->query("SELECT candidate_docs.create_candidate_story('r-xfer-"
		  . ('y' x 3000) . "', '{\"content\": \"c\"}', NULL, 'tap_xfer')");
	ok(is_hv($r->{sqlstate}), 'story answered 500: an FDW error')
	  or diag(substr($r->{err}, 0, 400));
	session_alive('story answered 500');
	mock_clear_faults();

	mock_fault({ path_contains => '/files/checkr/d0000000000000000000aa02',
			action => 'respond', status => 500, body => 'no' });
	$r = $s->query("SELECT id, length(content) FROM $S.candidate_documents"
		  . " WHERE candidate_id = 'e44aa283528e6fde7d542194'");
	ok(is_hv($r->{sqlstate}), 'download answered 500: an FDW error') or diag(explain $r);
	session_alive('download answered 500');
	mock_clear_faults();
}

my $log = server_log_since($log_offset);
unlike($log, qr/terminated by signal|server process .* was terminated/,
	'no backend crashed');
$s->close;
$admin->close;
restart_server();
$perturbed = 0;
$s = CdTest::Session->new;

# ----------------------------------------------------------------------
# (2) scan memory over many rescans that abandon a page in flight.  Page 1
# of many-50 has 2 rows; reading one of them asks for page 2, which the
# LIMIT then abandons.
my %shape = (
	'LATERAL ... LIMIT 1' => "SELECT count(*) FROM generate_series(1, %d) g,"
	  . " LATERAL (SELECT d.id FROM ${S}_p2.candidate_documents d"
	  . " WHERE d.candidate_id = 'many-5' || (g %% 1)::text LIMIT 1) x",
	'EXISTS (semi-join)' => "SELECT count(*) FROM generate_series(1, %d) g"
	  . " WHERE EXISTS (SELECT 1 FROM ${S}_p2.candidate_documents d"
	  . " WHERE d.candidate_id = 'many-5' || (g %% 1)::text)");

sub scan_memory_kb
{
	my ($what, $n) = @_;
	my $r = $s->query("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
		  . sprintf($shape{$what}, $n), 600);
	is($r->{sqlstate}, '00000', "$what, $n rescans: no error") or diag($r->{err});
	my ($loops) = $r->{out} =~ /Foreign Scan on .*?loops=(\d+)/;
	is($loops, $n, "$what, $n rescans: the scan ran $n times") or diag($r->{out});
	my ($req) = $r->{out} =~ /Requests: (\d+)/;
	ok(defined $req && $req >= 2 * $n, "$what, $n rescans: a page in flight each time")
	  or diag($r->{out});
	my ($kb) = $r->{out} =~ /Scan Memory: (\d+) kB/;
	ok(defined $kb, "$what: EXPLAIN shows the scan memory") or diag($r->{out});
	return ($kb // 0, backend_vm());
}

# The backend's RssAnon, VmRSS and VmHWM (kB) from /proc/PID/status.
sub backend_vm
{
	my $r = $s->query("SELECT pg_read_file('/proc/' || pg_backend_pid() || '/status')");
	my %vm = $r->{out} =~ /^(RssAnon|VmRSS|VmHWM):\s*(\d+) kB$/mg;
	ok(3 == grep({ defined } @vm{qw(RssAnon VmRSS VmHWM)}), 'RssAnon, VmRSS and VmHWM read')
	  or diag(explain $r);
	return \%vm;
}

# the plain nested loop rescans the scan for each outer row (a batched join
# would answer them all from one load of the batch)
$s->query('SET enable_memoize = off');
$s->query('SET candidate_docs.enable_batched_join = off');
# The first thousand rescans of a backend grow its anonymous memory once, by
# about 23 MB, and no further (1,000 and 6,000 rescans end at the same
# figure): a warm-up run first, so that what is measured is growth per
# rescan, which 3,000 rescans show.
{
	my ($kb, $w) = scan_memory_kb('EXISTS (semi-join)', 3000);
	diag("warm-up: 3000 rescans, backend RssAnon $w->{RssAnon} kB");
}
for my $what (sort keys %shape)
{
	my ($base_kb, $b) = scan_memory_kb($what, 30);
	my ($kb, $a) = scan_memory_kb($what, 3000);
	my $growth = $kb - $base_kb;
	my $anon = $a->{RssAnon} - $b->{RssAnon};
	diag("$what: scan context after 30 rescans $base_kb kB, after 3000 $kb kB:"
		  . " growth $growth kB; backend RssAnon $b->{RssAnon} -> $a->{RssAnon} kB,"
		  . " VmRSS $b->{VmRSS} -> $a->{VmRSS} kB, VmHWM $b->{VmHWM} -> $a->{VmHWM} kB");
	ok($growth < 1024, "$what: scan memory grows by less than 1 MB over 3,000 rescans")
	  or diag("grew by $growth kB");
	SKIP:
	{
		skip('memory: not measurable under the sanitizers', 1) if $ENV{SANITIZE_DIR};
		ok($anon < 1024,
			"$what: the backend's RssAnon grows by less than 1 MB over 3,000 rescans")
		  or diag("grew by $anon kB");
	}
}

$s->close;
done_testing();
