# test/t/lib/CdTest.pm -- helpers shared by the TAP tests of candidate_docs
#
# The tests run against the cluster and mock API started by test/cluster.sh,
# whose environment (PGHOST, PGPORT, PGUSER, PGDATABASE, MOCK_URL, MOCK_PORT,
# PG_SERVER_LOG, ...) they inherit.  Everything here talks to that cluster
# with plain psql processes, and to the mock with HTTP::Tiny.
#
#   CdTest::init()                 skip_all unless the environment is there;
#                                  create the database and the extension
#   psql_run($sql, %opt)           one psql process; returns {rc, out, err}
#   CdTest::Session->new(%opt)     a long-lived psql session:
#       ->query($sql)              send and wait; returns {out, err, sqlstate,
#                                  elapsed, t_done, dead}
#       ->send($sql) / ->wait()    the same in two steps, for cancel tests
#       ->pid                      its backend pid
#   create_server(...)             server + user mapping (never logged)
#   mock_reset, mock_fault, mock_clear_faults, mock_requests, mock_seq,
#   mock_stats, mock_config        the mock's control endpoints
#   wait_until($code, $timeout)    poll until $code returns true
#   server_log_offset, server_log_since
#   sql_literal($str)              an E'' literal for any byte string
package CdTest;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use IPC::Run ();
use IO::Socket::INET ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
  psql_run psql_ok psql_value create_server
  mock_reset mock_fault mock_clear_faults mock_requests mock_seq mock_stats
  mock_config wait_until server_log_offset server_log_since sql_literal
  uri_unescape_bytes is_hv free_port cron_setup deliverers_off deliverers_on
);

my $JSON = JSON::PP->new->utf8->canonical;
my $HTTP = HTTP::Tiny->new(timeout => 30, keep_alive => 0);

our $DB;

# Skip the whole file unless run under test/cluster.sh; make sure the
# database and the extension exist.
sub init
{
	for my $v (qw(PGHOST PGPORT PGUSER MOCK_URL MOCK_PORT PG_SERVER_LOG))
	{
		plan skip_all => "$v is not set: run under test/cluster.sh (make test)"
		  unless defined $ENV{$v} && $ENV{$v} ne '';
	}
	$ENV{PGCLIENTENCODING} = 'UTF8';
	$ENV{PGOPTIONS} = '';
	$DB = $ENV{PGDATABASE} || 'contrib_regression';
	my $r = psql_run("SELECT 1 FROM pg_database WHERE datname = "
		  . sql_literal($DB), db => 'postgres');
	BAIL_OUT("cannot connect to the test cluster: $r->{err}") if $r->{rc};
	if ($r->{out} !~ /1/)
	{
		my $c = psql_run('CREATE DATABASE "' . $DB . '"', db => 'postgres');
		BAIL_OUT("cannot create database $DB: $c->{err}")
		  if $c->{rc} && $c->{err} !~ /already exists/;
	}
	$r = psql_run('CREATE EXTENSION IF NOT EXISTS candidate_docs');
	BAIL_OUT("CREATE EXTENSION candidate_docs failed: $r->{err}") if $r->{rc};
	return $DB;
}

sub psql_cmd
{
	my (%opt) = @_;
	my @cmd = ('psql', '-X', '-q', '-A', '-t', '-v', 'VERBOSITY=verbose',
		'-d', $opt{db} // $DB // $ENV{PGDATABASE});
	push @cmd, '-U', $opt{user} if $opt{user};
	push @cmd, '-v', 'ON_ERROR_STOP=1' unless $opt{keep_going};
	return @cmd;
}

# Run $sql (any number of statements, fed on stdin so each is sent alone)
# in a new psql process.  Returns {rc, out, err}.
sub psql_run
{
	my ($sql, %opt) = @_;
	my ($out, $err) = ('', '');
	my @cmd = psql_cmd(%opt);
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \$sql, '>', \$out, '2>', \$err,
			IPC::Run::timeout($opt{timeout} // 120));
		1;
	};
	return { rc => ($ok ? $? >> 8 : 255), out => $out,
		err => $ok ? $err : "$err\n$@" };
}

# psql_run that must succeed; returns its stdout (chomped).
sub psql_ok
{
	my ($sql, $name, %opt) = @_;
	my $r = psql_run($sql, %opt);
	if ($r->{rc} != 0)
	{
		fail($name // 'psql');
		diag("SQL: $sql\nstderr: $r->{err}");
		return undef;
	}
	pass($name) if defined $name;
	chomp(my $out = $r->{out});
	return $out;
}

# The single value a query returns (dies on error).
sub psql_value
{
	my ($sql, %opt) = @_;
	my $r = psql_run($sql, %opt);
	die "psql failed: $r->{err}\nSQL: $sql\n" if $r->{rc};
	chomp(my $out = $r->{out});
	return $out;
}

# A PostgreSQL escape-string literal holding exactly the bytes of $s.
sub sql_literal
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	(my $q = $s) =~ s/([\\'])/$1$1/g;
	$q =~ s/([\x00-\x1f\x7f])/sprintf('\\x%02x', ord($1))/ge;
	return "E'$q'";
}

# Create (or replace) a server with a user mapping for the current user,
# and import its table into $schema (created).  The API key is never in a
# logged statement: log_statement and log_min_error_statement are turned
# off for that session.
#   create_server(name => 'x', api => 'checkr', options => {...},
#                 key => '...', mapping_options => {...}, schema => 's')
sub create_server
{
	my (%a) = @_;
	my $api = $a{api} // 'checkr';
	my %opts = (api => $api,
		base_url => "$ENV{MOCK_URL}/$api/v1",
		%{ $a{options} // {} });
	delete $opts{$_} for grep { !defined $opts{$_} } keys %opts;
	my $key = exists $a{key} ? $a{key}
	  : ($api eq 'checkr' ? 'test_checkr_key' : 'test_kombo_key');
	my %um = (%{ $a{mapping_options} // {} });
	$um{api_key} = $key if defined $key;
	my $optlist = join(', ',
		map { "$_ " . sql_literal($opts{$_}) } sort keys %opts);
	my $umlist = join(', ', map { "$_ " . sql_literal($um{$_}) } sort keys %um);
	my $sql = "SET log_statement = 'none';\n"
	  . "SET log_min_error_statement = 'panic';\n"
	  . "DROP SERVER IF EXISTS $a{name} CASCADE;\n"
	  . "CREATE SERVER $a{name} FOREIGN DATA WRAPPER candidate_docs"
	  . " OPTIONS ($optlist);\n";
	$sql .= "CREATE USER MAPPING FOR " . ($a{user} // 'CURRENT_USER')
	  . " SERVER $a{name}" . ($umlist ne '' ? " OPTIONS ($umlist)" : '') . ";\n"
	  unless $a{no_mapping};
	if ($a{schema})
	{
		$sql .= "CREATE SCHEMA IF NOT EXISTS $a{schema};\n"
		  . "IMPORT FOREIGN SCHEMA $api FROM SERVER $a{name} INTO $a{schema};\n";
	}
	my $r = psql_run($sql);
	die "create_server $a{name} failed: $r->{err}" if $r->{rc};
	return 1;
}

# ---------------------------------------------------------------------------
# The mock API's control endpoints

sub mock_call
{
	my ($method, $path, $body) = @_;
	my %o;
	if (defined $body)
	{
		$o{content} = $JSON->encode($body);
		$o{headers} = { 'Content-Type' => 'application/json' };
	}
	my $res = $HTTP->request($method, "$ENV{MOCK_URL}$path", \%o);
	die "mock $method $path: $res->{status} $res->{reason} $res->{content}\n"
	  unless $res->{success};
	return length($res->{content} // '') ? $JSON->decode($res->{content}) : undef;
}

sub mock_reset        { mock_call('POST', '/_mock/reset'); }
sub mock_clear_faults { mock_call('DELETE', '/_mock/faults'); }
sub mock_stats        { mock_call('GET', '/_mock/stats'); }
sub mock_config       { mock_call('POST', '/_mock/config', $_[0]); }

# Install one or more fault rules (hashes).
sub mock_fault { mock_call('POST', '/_mock/faults', [@_]); }

# Log entries with seq > $since (all when undef).
sub mock_requests
{
	my ($since) = @_;
	return mock_call('GET', '/_mock/requests' . ($since ? "?since=$since" : ''));
}

# The seq of the newest log entry (0 when the log is empty).
sub mock_seq { return mock_stats()->{requests}; }

# ---------------------------------------------------------------------------
# Misc

# Poll $code every $interval s until it returns true or $timeout s pass;
# returns its last value.
sub wait_until
{
	my ($code, $timeout, $interval) = @_;
	my $deadline = time() + ($timeout // 10);
	while (1)
	{
		my $v = $code->();
		return $v if $v;
		return $v if time() > $deadline;
		sleep($interval // 0.02);
	}
}

# Skip the whole file unless pg_cron is preloaded and schedules jobs in the
# test database; create the extension.  Returns the schedule that runs a
# job as often as this pg_cron can (every second from 1.5, else every
# minute) and how long to wait for a run.
sub cron_setup
{
	my ($db) = @_;
	plan skip_all => 'pg_cron is not in shared_preload_libraries'
	  unless psql_value('SHOW shared_preload_libraries') =~ /\bpg_cron\b/;
	my $cron_db = psql_value('SHOW cron.database_name');
	plan skip_all => "cron.database_name is $cron_db, not $db" unless $cron_db eq $db;
	psql_run('CREATE EXTENSION IF NOT EXISTS pg_cron');
	my $version = psql_value("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
	my ($maj, $min) = $version =~ /^(\d+)\.(\d+)/;
	my $seconds = ($maj > 1 || ($maj == 1 && $min >= 5));
	my $schedule = $seconds ? '1 seconds' : '* * * * *';
	note("pg_cron $version: schedule '$schedule'");
	return ($schedule, $seconds ? 20 : 75);
}

# Stop the background deliverers (candidate_docs.delivery_worker = off) and
# wait until none is left in the database, so that every delivery is the
# test's own; deliverers_on() starts them again.
sub deliverers_off
{
	psql_ok("ALTER SYSTEM SET candidate_docs.delivery_worker = off;\nSELECT pg_reload_conf();",
		'deliverers off');
	ok(wait_until(sub {
				psql_value("SELECT count(*) FROM pg_stat_activity "
					  . "WHERE backend_type = 'candidate_docs deliverer' "
					  . "AND datname = current_database()") == 0
			}, 10, 0.05),
		'no deliverer left in the database');
}

sub deliverers_on
{
	psql_run("ALTER SYSTEM RESET candidate_docs.delivery_worker;\nSELECT pg_reload_conf();");
}

sub server_log_offset { return -s $ENV{PG_SERVER_LOG} // 0; }

# What the server log gained since $offset.
sub server_log_since
{
	my ($offset) = @_;
	open(my $fh, '<:raw', $ENV{PG_SERVER_LOG}) or die "open server log: $!";
	seek($fh, $offset, 0);
	local $/;
	my $text = <$fh> // '';
	close $fh;
	return $text;
}

# Percent-decoding of a URL piece, as bytes.
sub uri_unescape_bytes
{
	my ($s) = @_;
	$s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
	return $s;
}

# An SQLSTATE of class HV (foreign data wrapper error)?
# A loopback port nobody listens on now (bound, then closed): for a
# connection that must be refused, or a server of the test's own to start.
sub free_port
{
	my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
		LocalPort => 0, Proto => 'tcp') or die "socket: $!";
	my $p = $sock->sockport;
	close $sock;
	return $p;
}

sub is_hv { my ($s) = @_; return defined $s && $s =~ /^HV[0-9A-Z]{3}$/; }

# ---------------------------------------------------------------------------
# A long-lived psql session, driven through pipes.  Each query is followed
# by \echo and \warn of a banner carrying :SQLSTATE, so its end is seen on
# both streams; psql's errors are on stderr ("ERROR:  57014: ...").

package CdTest::Session;

use strict;
use warnings;
use Time::HiRes qw(time sleep);

my $banner_seq = 0;

sub new
{
	my ($class, %opt) = @_;
	my $self = bless { in => '', out => '', err => '', dead => 0 }, $class;
	my @cmd = CdTest::psql_cmd(%opt, keep_going => 1);
	$self->{h} = IPC::Run::start(\@cmd, '<', \$self->{in}, '>', \$self->{out},
		'2>', \$self->{err});
	my $r = $self->query('SELECT pg_backend_pid()', 30);
	die "psql session did not start: $r->{err}" unless $r->{out} =~ /^(\d+)/;
	$self->{pid} = $1;
	return $self;
}

sub pid { return $_[0]->{pid}; }
sub dead { return $_[0]->{dead}; }

# Send $sql without waiting for its end.
sub send
{
	my ($self, $sql) = @_;
	die "session is dead" if $self->{dead};
	$sql =~ s/\s+\z//;
	$sql .= ';' unless $sql =~ /;\z/ || $sql =~ /^\s*\\/;
	my $b = '__CD_DONE_' . ++$banner_seq . '__';
	$self->{banner} = $b;
	$self->{in} .= "$sql\n\\echo $b :SQLSTATE\n\\warn $b\n";
	$self->{t_send} = time();
	$self->_pump;
	return $self;
}

sub _pump
{
	my ($self) = @_;
	return 0 if $self->{dead};
	my $ok = eval {
		if ($self->{h}->pumpable) { $self->{h}->pump_nb; 1 }
		else { 0 }
	};
	if (!$ok)
	{
		$self->{dead} = 1;
		eval { $self->{h}->finish };
		$self->{exit} = $?;
		return 0;
	}
	return 1;
}

# Wait until the last sent query is done (or $timeout s, default 60).
# Returns {out, err, sqlstate, elapsed (from send), t_done, dead, timeout}.
sub wait
{
	my ($self, $timeout) = @_;
	my $b = $self->{banner};
	my $deadline = time() + ($timeout // 60);
	my $re_out = qr/^\Q$b\E (\S*)\n/m;
	my $re_err = qr/^\Q$b\E\n/m;
	my $t_done;
	while (1)
	{
		if (!defined $t_done && $self->{out} =~ $re_out)
		{
			$t_done = time();
		}
		last if defined $t_done && $self->{err} =~ $re_err;
		if (time() > $deadline)
		{
			return { out => $self->{out}, err => $self->{err}, timeout => 1,
				dead => $self->{dead}, sqlstate => undef,
				elapsed => time() - $self->{t_send} };
		}
		if (!$self->_pump)
		{
			my %r = (out => $self->{out}, err => $self->{err}, dead => 1,
				sqlstate => undef, t_done => time(),
				elapsed => time() - $self->{t_send});
			$self->{out} = $self->{err} = '';
			return \%r;
		}
		sleep(0.002);
	}
	my ($out, $state) = ($self->{out} =~ /\A(.*?)^\Q$b\E (\S*)\n/ms);
	my ($err) = ($self->{err} =~ /\A(.*?)^\Q$b\E\n/ms);
	$self->{out} =~ s/\A.*?^\Q$b\E \S*\n//ms;
	$self->{err} =~ s/\A.*?^\Q$b\E\n//ms;
	return { out => $out, err => $err, sqlstate => $state, dead => 0,
		t_done => $t_done, elapsed => $t_done - $self->{t_send} };
}

sub query
{
	my ($self, $sql, $timeout) = @_;
	$self->send($sql);
	return $self->wait($timeout);
}

# Wait for the psql process to end by itself (after a terminate); true if
# it did within $timeout s.
sub wait_exit
{
	my ($self, $timeout) = @_;
	my $deadline = time() + ($timeout // 10);
	while (!$self->{dead})
	{
		return 0 if time() > $deadline;
		$self->_pump;
		sleep(0.002);
	}
	return 1;
}

sub close
{
	my ($self) = @_;
	return if $self->{dead};
	$self->{in} .= "\\q\n";
	eval {
		my $deadline = time() + 10;
		while ($self->{h}->pumpable && time() < $deadline)
		{
			$self->{h}->pump_nb;
			sleep(0.01);
		}
		if ($self->{h}->pumpable) { $self->{h}->kill_kill; }
		else { $self->{h}->finish; }
	};
	$self->{dead} = 1;
}

sub DESTROY { my ($self) = @_; local ($@, $?); $self->close if $self->{h}; }

1;
