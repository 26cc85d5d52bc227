# worker.t -- the background deliverers: one per database with the
# extension, started by a launcher, restarted after a crash, out of the way
# of DROP DATABASE, stopped by the setting and by shutdown
#
# The test databases tap_wk_ext (with the extension) and tap_wk_none
# (without) are the test's own.  In tap_wk_ext, candidate_docs.deliver()
# is replaced by a stand-in that records each call (table tap_calls), and
# reads from table tap_ctl how many calls report work, how long to sleep and
# whether to fail.  The wake-up at COMMIT is tested with the real outbox
# (a queued upload reaches the mock), in the main test database, when the
# view candidate_docs.deliveries is there.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Test::More;
use Time::HiRes qw(time sleep);

my $db = CdTest::init();

my $preload = psql_value('SHOW shared_preload_libraries');
plan skip_all => 'candidate_docs is not in shared_preload_libraries'
  unless $preload =~ /\bcandidate_docs\b/;

my $cluster = "$FindBin::Bin/../cluster.sh";
my ($EXT, $NONE, $COPY) = ('tap_wk_ext', 'tap_wk_none', 'tap_wk_copy');

sub admin { return psql_value($_[0], db => 'postgres'); }

# admin() that gives '' while the server does not answer (a restart)
sub try_admin
{
	my $r = psql_run($_[0], db => 'postgres', timeout => 10);
	chomp(my $out = $r->{out});
	return $r->{rc} ? '' : $out;
}

# pid of the deliverer connected to $dbname ('' when none)
sub deliverer
{
	my ($dbname) = @_;
	return try_admin("SELECT string_agg(pid::text, ',') FROM pg_stat_activity"
		  . " WHERE backend_type = 'candidate_docs deliverer' AND datname = '$dbname'");
}

sub launchers
{
	return try_admin("SELECT count(*) FROM pg_stat_activity"
		  . " WHERE backend_type = 'candidate_docs launcher'");
}

# wait until $dbname has a deliverer (other than $old); returns its pid
sub wait_deliverer
{
	my ($dbname, $timeout, $old) = @_;
	my $pid = '';
	wait_until(sub {
			$pid = deliverer($dbname);
			$pid ne '' && (!defined $old || $pid ne $old);
		}, $timeout, 0.05);
	return $pid;
}

# true once $dbname has no deliverer
sub wait_no_deliverer
{
	my ($dbname, $timeout) = @_;
	return wait_until(sub { deliverer($dbname) eq '' }, $timeout, 0.05);
}

sub pg_ctl
{
	my @cmd = ("$ENV{PG_BINDIR}/pg_ctl", '-D', $ENV{PGDATA}, @_);
	unshift @cmd, 'runuser', '-u', 'postgres', '--' if $> == 0;
	return system(@cmd) == 0;
}

sub restart_server
{
	system('bash', $cluster, 'restart', $ENV{TEST_CLUSTER_DIR}) == 0
	  or BAIL_OUT('restarting the server failed');
}

# a failure half-way leaves the cluster as the other tests expect it
my $workers_lowered = 0;
END
{
	if ($workers_lowered)
	{
		psql_run('ALTER SYSTEM RESET max_worker_processes', db => 'postgres');
		restart_server();
	}
}

sub calls { return psql_value('SELECT last_value FROM public.tap_call_seq', db => $EXT); }

# The stand-in deliver(), created in the transaction of CREATE EXTENSION so
# that its COMMIT finds it there.  A deliver() of the extension is dropped
# first: the test database's own, never the extension's scripts.
my $standin = <<'SQL';
BEGIN;
CREATE EXTENSION IF NOT EXISTS candidate_docs;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'candidate_docs' AND p.proname = 'deliver'
    LOOP
        IF EXISTS (SELECT FROM pg_depend WHERE classid = 'pg_proc'::regclass
                      AND objid = f AND deptype = 'e') THEN
            EXECUTE format('ALTER EXTENSION candidate_docs DROP FUNCTION %s', f);
        END IF;
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;
CREATE SEQUENCE IF NOT EXISTS public.tap_call_seq;
CREATE TABLE IF NOT EXISTS public.tap_calls (
    at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    pid int NOT NULL DEFAULT pg_backend_pid(),
    usr name NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS public.tap_ctl (
    work  int NOT NULL DEFAULT 0,
    sleep float8 NOT NULL DEFAULT 0,
    fail  boolean NOT NULL DEFAULT false
);
INSERT INTO public.tap_ctl SELECT WHERE NOT EXISTS (SELECT FROM public.tap_ctl);
CREATE FUNCTION candidate_docs.deliver(OUT delivered bigint, OUT failed bigint)
LANGUAGE plpgsql AS $f$
DECLARE
    c public.tap_ctl;
BEGIN
    PERFORM nextval('public.tap_call_seq');
    SELECT * INTO c FROM public.tap_ctl;
    IF c.fail THEN
        RAISE EXCEPTION 'stand-in deliver() fails';
    END IF;
    INSERT INTO public.tap_calls DEFAULT VALUES;
    PERFORM pg_sleep(c.sleep);
    delivered := 0;
    failed := 0;
    IF c.work > 0 THEN
        UPDATE public.tap_ctl SET work = work - 1;
        delivered := 1;
    END IF;
END
$f$;
COMMIT;
SQL

sub ctl { psql_value("UPDATE public.tap_ctl SET $_[0]", db => $EXT); }

# Make the stand-in of $dbname sleep a minute; true once its deliverer does.
sub busy_deliverer
{
	my ($dbname) = @_;
	psql_run('UPDATE public.tap_ctl SET sleep = 60', db => $dbname);
	return wait_until(sub {
			try_admin("SELECT count(*) FROM pg_stat_activity WHERE datname = '$dbname'"
				  . " AND backend_type = 'candidate_docs deliverer' AND wait_event = 'PgSleep'")
		}, 10, 0.05);
}

for my $d ($EXT, $NONE, $COPY, "${COPY}_2")
{
	admin(qq{DROP DATABASE IF EXISTS "$d" WITH (FORCE)});
}
admin(qq{CREATE DATABASE "$EXT"});
admin(qq{CREATE DATABASE "$NONE"});
psql_ok($standin, 'the stand-in deliver() in the test database', db => $EXT);
my $log_offset = server_log_offset();

# ----------------------------------------------------------------------
# One launcher; a deliverer for the database with the extension only.

is(launchers(), '1', 'one launcher runs');
my $pid = wait_deliverer($EXT, 10);
like($pid, qr/^\d+$/, 'the database with the extension has a deliverer');
is(admin("SELECT application_name || ' / ' || backend_type FROM pg_stat_activity"
		  . " WHERE pid = $pid"),
	'candidate_docs deliverer / candidate_docs deliverer',
	'pg_stat_activity names it (application_name, backend_type)');
# longer than a scan of the databases (5 s)
sleep(6);
is(deliverer($NONE), '', 'the database without the extension has none');
is(deliverer($EXT), $pid, 'the deliverer keeps running');

# Idle: a round at most a second after the last, as the bootstrap superuser.
my $t0 = time();
my $c0 = calls();
sleep(3.5);
my $n = calls() - $c0;
ok($n >= 3 && $n <= 6, "idle, deliver() is called about once a second ($n calls in 3.5 s)");
my $gap = psql_value("SELECT max(d) FROM (SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at)) AS d"
	  . " FROM public.tap_calls WHERE at > now() - interval '3 s') s", db => $EXT);
ok($gap < 1.3, "no idle gap much over a second (longest $gap s)");
is(psql_value("SELECT string_agg(DISTINCT usr || ':' || pid, ',') FROM public.tap_calls"
		  . " WHERE at > now() - interval '3 s'", db => $EXT),
	"postgres:$pid", 'the calls run in the deliverer, as the bootstrap superuser');

# Work: called again at once while a round delivers.
ctl('work = 30');
$t0 = time();
ok(wait_until(sub { psql_value('SELECT work FROM public.tap_ctl', db => $EXT) == 0 }, 10, 0.05),
	'30 rounds that did work ran');
my $took = time() - $t0;
ok($took < 2.5, sprintf('back to back, not a second apart (%.2f s)', $took));

# A failing deliver(): logged, the same deliverer goes on.
ctl('fail = true');
$c0 = calls();
ok(wait_until(sub { calls() >= $c0 + 2 }, 10, 0.1), 'deliver() fails, and is called again');
ctl('fail = false');
is(deliverer($EXT), $pid, 'the same deliverer after the errors');
like(server_log_since($log_offset), qr/WARNING: .*stand-in deliver\(\) fails/,
	'the error is in the server log as a WARNING');

# ----------------------------------------------------------------------
# Restarts: terminated, killed, server stopped.

admin("SELECT pg_terminate_backend($pid)");
my $new = wait_deliverer($EXT, 10, $pid);
ok($new ne '' && $new ne $pid, "a terminated deliverer is started again (pid $pid -> $new)");

SKIP:
{
	skip 'not allowed to signal the server processes', 2
	  unless kill(0, $new);
	kill('KILL', $new);
	my $after = wait_deliverer($EXT, 60, $new);
	ok($after ne '' && $after ne $new, "after kill -9 (a crash), a deliverer is back (pid $after)");
	is(launchers(), '1', 'and one launcher');
	$pid = $after;
}

# shutdown while deliver() sleeps: prompt
ok(busy_deliverer($EXT), 'the deliverer is inside a long deliver()');
$t0 = time();
ok(pg_ctl('-m', 'fast', '-w', '-t', '60', 'stop'), 'pg_ctl stop -m fast');
$took = time() - $t0;
ok($took < 5, sprintf('the server stopped promptly (%.2f s)', $took));
restart_server();
ctl('sleep = 0');
$pid = wait_deliverer($EXT, 20);
like($pid, qr/^\d+$/, 'after the restart the deliverer is back');

ok(pg_ctl('-m', 'immediate', '-w', 'stop'), 'pg_ctl stop -m immediate');
restart_server();
$pid = wait_deliverer($EXT, 20);
like($pid, qr/^\d+$/, 'after an immediate shutdown the deliverer is back');

# ----------------------------------------------------------------------
# candidate_docs.delivery_worker off and on (reload)

admin('ALTER SYSTEM SET candidate_docs.delivery_worker = off');
admin('SELECT pg_reload_conf()');
ok(wait_no_deliverer($EXT, 5), 'delivery_worker = off: the deliverer stops');
$c0 = calls();
ok(!wait_until(sub { deliverer($EXT) ne '' }, 6, 0.02), 'and none starts while it is off');
is(calls(), $c0, 'deliver() is not called while it is off');
admin('ALTER SYSTEM RESET candidate_docs.delivery_worker');
admin('SELECT pg_reload_conf()');
$pid = wait_deliverer($EXT, 5);
like($pid, qr/^\d+$/, 'delivery_worker = on: the deliverer is back');
is(launchers(), '1', 'the launcher ran all along');

# ----------------------------------------------------------------------
# DROP EXTENSION and CREATE EXTENSION

my $drop_offset = server_log_offset();
psql_ok('DROP EXTENSION candidate_docs CASCADE', 'DROP EXTENSION', db => $EXT);
ok(wait_no_deliverer($EXT, 3), 'the deliverer exits when the extension is dropped');
# the postmaster logs each start of a dynamic worker at DEBUG1
my $ext_oid = admin("SELECT oid FROM pg_database WHERE datname = '$EXT'");
admin('ALTER SYSTEM SET log_min_messages = debug1');
admin('SELECT pg_reload_conf()');
sleep(0.5);
my $watch = server_log_offset();
ok(!wait_until(sub { deliverer($EXT) ne '' }, 6, 0.02),
	'and is not started again without the extension (watched for 6 s)');
unlike(server_log_since($watch),
	qr/registering background worker "candidate_docs deliverer for database $ext_oid"/,
	'not even for a moment');
admin('ALTER SYSTEM RESET log_min_messages');
admin('SELECT pg_reload_conf()');
unlike(server_log_since($drop_offset),
	qr/(ERROR|WARNING|FATAL): |deliverer.*exited with exit code 1/,
	'it exited quietly (no error in the server log)');
$t0 = time();
psql_ok($standin, 'CREATE EXTENSION again', db => $EXT);
$pid = wait_deliverer($EXT, 5);
like($pid, qr/^\d+$/, sprintf('the deliverer is back (%.2f s)', time() - $t0));

# ----------------------------------------------------------------------
# Database commands that need the database to themselves

# a role that does not own the database: its DROP DATABASE fails on its
# own permission check and leaves the deliverer alone
admin('DROP ROLE IF EXISTS tap_wk_stranger');
admin('CREATE ROLE tap_wk_stranger LOGIN CREATEDB');
$pid = wait_deliverer($EXT, 5);
my $r = psql_run(qq{DROP DATABASE "$EXT"}, db => 'postgres', user => 'tap_wk_stranger');
like($r->{err}, qr/must be owner of database/, "another role's DROP DATABASE is refused");
sleep(0.5);
is(deliverer($EXT), $pid, '... and the deliverer was not stopped for it');
admin('DROP ROLE tap_wk_stranger');


ok(busy_deliverer($EXT), 'the deliverer is inside a long deliver()');
$t0 = time();
$r = psql_run(qq{CREATE DATABASE "$COPY" TEMPLATE "$EXT"}, db => 'postgres');
is($r->{rc}, 0, 'CREATE DATABASE ... TEMPLATE a database with a deliverer succeeds')
  or diag($r->{err});
$took = time() - $t0;
ok($took < 3, sprintf('promptly (%.2f s)', $took));
psql_run('UPDATE public.tap_ctl SET sleep = 0', db => $COPY);
ctl('sleep = 0');
like(wait_deliverer($EXT, 5), qr/^\d+$/, 'the template has its deliverer again');
like(wait_deliverer($COPY, 5), qr/^\d+$/, 'the copy (extension included) has one');

$r = psql_run(qq{ALTER DATABASE "$COPY" RENAME TO "${COPY}_2"}, db => 'postgres');
is($r->{rc}, 0, 'ALTER DATABASE ... RENAME of a database with a deliverer succeeds')
  or diag($r->{err});
like(wait_deliverer("${COPY}_2", 5), qr/^\d+$/, 'the renamed database has its deliverer again');

ok(busy_deliverer("${COPY}_2"), 'its deliverer is inside a long deliver()');
$t0 = time();
$r = psql_run(qq{DROP DATABASE "${COPY}_2"}, db => 'postgres');
is($r->{rc}, 0, 'DROP DATABASE of a database whose deliverer is busy succeeds')
  or diag($r->{err});
$took = time() - $t0;
ok($took < 3, sprintf('promptly (%.2f s)', $took));
sleep(6);
is(admin("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'candidate_docs deliverer'"
		  . " AND datid NOT IN (SELECT oid FROM pg_database)"),
	'0', 'no deliverer for the dropped database');
unlike(server_log_since($log_offset), qr/FATAL:\s+database \d+ does not exist/,
	'none tried to connect to it');

# ----------------------------------------------------------------------
# Woken at COMMIT: a write queued under after_commit reaches the API
# within a second (a deliverer that only looked once a second would take
# half a second on average)

SKIP:
{
	skip 'the outbox (view candidate_docs.deliveries) is not in this build', 3
	  unless psql_value("SELECT to_regclass('candidate_docs.deliveries') IS NOT NULL") eq 't';
	like(wait_deliverer($db, 10), qr/^\d+$/, "the test database $db has a deliverer");
	create_server(name => 'tap_wk', schema => 'tap_wk');
	mock_reset();
	my $s = CdTest::Session->new;
	$s->query("SET candidate_docs.delivery = 'after_commit'");
	my $pdf = "'\\x255044462d312e340a2525454f460a'::bytea";
	my @lat;
	for my $i (1 .. 7)
	{
		sleep(0.3 + rand(0.7));    # anywhere in the deliverer's second
		my $q = $s->query("INSERT INTO tap_wk.candidate_documents"
			  . " (candidate_id, type, filename, content, content_type)"
			  . " VALUES ('wk-$i', 'consent', 'x.pdf', $pdf, 'application/pdf')");
		my $seen = wait_until(sub {
				grep { $_->{method} eq 'POST' && $_->{path} =~ m{/candidates/wk-$i/documents} }
				  @{ mock_requests() };
			}, 5, 0.01);
		push @lat, $seen ? time() - $q->{t_done} : 99;
	}
	$s->close;
	my @sorted = sort { $a <=> $b } @lat;
	note('COMMIT to POST: ' . join(' ', map { sprintf('%.3f', $_) } @lat));
	ok($sorted[-1] < 1, sprintf('every queued write was sent within a second (max %.3f s)', $sorted[-1]));
	ok($sorted[3] < 0.3, sprintf('woken by the COMMIT (median %.3f s)', $sorted[3]));
	psql_run('DROP SCHEMA IF EXISTS tap_wk CASCADE; DROP SERVER IF EXISTS tap_wk CASCADE');
}

# ----------------------------------------------------------------------
# No background worker free (max_worker_processes taken by the static
# workers): a WARNING after ten seconds of tries; the deliverer starts once
# there is one.

{
	# the launchers: ours, logical replication's, pg_cron's
	my $static = 2 + ($preload =~ /\bpg_cron\b/ ? 1 : 0);
	my $off = server_log_offset();
	admin("ALTER SYSTEM SET max_worker_processes = $static");
	$workers_lowered = 1;
	restart_server();
	ok(wait_until(sub { server_log_since($off) =~ /no background worker is free/ }, 30, 0.5),
		"max_worker_processes = $static: a WARNING says no worker is free");
	like(server_log_since($off), qr/HINT:\s+Raise max_worker_processes/, 'and names the setting');
	is(deliverer($EXT), '', 'and there is no deliverer');
	admin('ALTER SYSTEM RESET max_worker_processes');
	restart_server();
	$workers_lowered = 0;
	like(wait_deliverer($EXT, 20), qr/^\d+$/, 'with workers free again, the deliverer runs');
}

# ----------------------------------------------------------------------
for my $d ($EXT, $NONE)
{
	$t0 = time();
	$r = psql_run(qq{DROP DATABASE "$d"}, db => 'postgres');
	is($r->{rc}, 0, "DROP DATABASE $d") or diag($r->{err});
}
unlike(server_log_since($log_offset), qr/TRAP:|terminated by signal (?!9: Killed)/,
	'no crash but the kill -9 of the test');

done_testing();
