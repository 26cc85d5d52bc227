# readonly.t -- on a hot standby, reads work and writes are refused as
# PostgreSQL refuses them: create_candidate_story(), INSERT and COPY into
# candidate_documents are errors and send nothing
#
# Makes a standby of the test cluster (pg_basebackup -R) and starts it
# beside it, in the same server environment; its log is checked for
# assertion failures and sanitizer reports as the main one is.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use File::Temp qw(tempdir);
use IPC::Run ();
use Test::More;

CdTest::init();
plan skip_all => 'PG_BINDIR and PGDATA are not set: run under make test'
  unless $ENV{PG_BINDIR} && $ENV{TEST_CLUSTER_DIR};

my $e44 = 'e44aa283528e6fde7d542194';
psql_run('DROP SCHEMA IF EXISTS tap_ro CASCADE');
create_server(name => 'tap_ro', schema => 'tap_ro', options => { max_retries => '0' });

# as the server's OS user, in the environment the cluster's server has
my @env;
if (open(my $fh, '<', "$ENV{TEST_CLUSTER_DIR}/server.env"))
{
	@env = split(' ', join(' ', <$fh>));
	close $fh;
}
sub as_server
{
	my (@cmd) = @_;
	@cmd = ('env', @env, @cmd) if @env;
	return $> == 0 ? ('runuser', '-u', 'postgres', '--', @cmd) : @cmd;
}

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
system('chown', 'postgres:', $dir) if $> == 0;
my $data = "$dir/standby";
my $log = "$dir/standby.log";
my $out = '';
IPC::Run::run([ as_server("$ENV{PG_BINDIR}/pg_basebackup", '-D', $data, '-R',
			'-X', 'stream', '-c', 'fast', '-h', $ENV{PGHOST}, '-p', $ENV{PGPORT}, '-U', 'postgres') ],
	'>&', \$out)
  or BAIL_OUT("pg_basebackup failed: $out");
my $port = free_port();
open(my $conf, '>>', "$data/postgresql.conf") or die $!;
print $conf "\nport = $port\nunix_socket_directories = '$dir'\nhot_standby = on\n";
close $conf;
IPC::Run::run([ as_server("$ENV{PG_BINDIR}/pg_ctl", '-D', $data, '-l', $log, '-w',
			'-t', '60', 'start') ], '>&', \$out)
  or BAIL_OUT("the standby did not start: $out\n" . `tail -n 30 $log`);
END
{
	IPC::Run::run([ as_server("$ENV{PG_BINDIR}/pg_ctl", '-D', $data, '-m', 'fast',
				'-w', 'stop') ], '>&', \my $ignored)
	  if $data && -e "$data/postmaster.pid";
}

my %standby = (PGHOST => $dir, PGPORT => $port);
sub on_standby
{
	my ($sql) = @_;
	local @ENV{ keys %standby } = values %standby;
	return psql_run($sql, keep_going => 1);
}

is(on_standby('SELECT pg_is_in_recovery()')->{out}, "t\n", 'the standby is in recovery');

mock_reset();
my $r = on_standby("SELECT count(*) FROM tap_ro.candidate_documents WHERE candidate_id = '$e44'");
is($r->{out}, "3\n", 'a read works on the standby') or diag($r->{err});
my $since = mock_seq();
is($since, 1, 'and sent its request');

for my $case (
	[ 'create_candidate_story()', "SELECT candidate_docs.create_candidate_story('r-standby',"
		  . " '{\"content\": \"x\"}', 'standby-1', 'tap_ro')",
		'create_candidate_story() in a read-only transaction' ],
	[ 'INSERT', "INSERT INTO tap_ro.candidate_documents (candidate_id, type, filename, content)"
		  . " VALUES ('$e44', 'consent', 'a.pdf', '\\x255044462d'::bytea)",
		'INSERT in a read-only transaction' ],
	[ 'COPY', "COPY tap_ro.candidate_documents (candidate_id, type, filename, content)"
		  . " FROM '/dev/null'", 'COPY during recovery' ])
{
	my ($what, $sql, $why) = @$case;
	$r = on_standby($sql);
	like($r->{err}, qr/ERROR:  25006: cannot execute \Q$why\E/,
		"$what on the standby: refused, as PostgreSQL refuses a write there")
	  or diag($r->{err});
}
is(scalar(@{ mock_requests($since) }), 0, 'no write reached the API');

# the standby's log: nothing the harness would call a crash or a report
my $text = do { local (@ARGV, $/) = ($log); <> } // '';
unlike($text, qr/^TRAP: |terminated by signal|runtime error: |^==\d+==ERROR: /m,
	'the standby\'s log shows no assertion failure, crash or sanitizer report');

psql_run('DROP SCHEMA IF EXISTS tap_ro CASCADE; DROP SERVER IF EXISTS tap_ro CASCADE');
done_testing();
