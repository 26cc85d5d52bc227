# downloads.t -- content downloads of many rows run concurrently, up to
# max_concurrency, only for rows that meet the query's other conditions,
# and rows come out in order; a batched join downloads the same way
#
# The mock delays every file by 200 ms and records the most requests it
# was answering at once.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CdTest;
use Digest::MD5 qw(md5_hex);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(time sleep);

CdTest::init();
mock_reset();

my $schema = 'tap_downloads';
psql_run("DROP SCHEMA IF EXISTS $schema CASCADE");
create_server(name => 'tap_downloads_ck', schema => $schema,
	options => { max_retries => '0', max_concurrency => '4', requests_per_minute => '0' });
my $table = "$schema.candidate_documents";

sub files_requested
{
	return scalar(grep { index($_->{raw_path}, '/files/') >= 0 } @{ mock_requests() });
}

# Check the one row "id|md5(content)|filesize" a LIMIT query returned:
# the whole file the mock serves for that document.
sub limit_row_ok
{
	my ($row, $what) = @_;
	my ($id, $md5, $size) = split /\|/, $row // '';
	ok(defined $id && $id =~ /^[0-9a-f]{24}$/ && $size, "$what: one row")
	  or diag($row // 'undef');
	my $res = HTTP::Tiny->new(timeout => 30)->get("$ENV{MOCK_URL}/files/checkr/" . ($id // ''));
	ok($res->{success} && length($res->{content}) == $size,
		"$what: the mock serves $size bytes for it") or diag($res->{status});
	is($md5, md5_hex($res->{content} // ''), "$what: its content is the file, byte for byte");
}

sub delayed_files
{
	mock_reset();
	mock_fault({ path_contains => '/files/', action => 'delay', ms => 200,
			times => 100000 });
}

# (a) 12 documents of one candidate: 4 downloads at a time, rows in order
{
	my $plain = psql_value("SELECT string_agg(id || ':' || filesize, ',')"
		  . " FROM $table WHERE candidate_id = 'many-12'");
	delayed_files();
	my $t0 = time();
	my $with = psql_value("SELECT string_agg(id || ':' || length(content), ',')"
		  . " FROM $table WHERE candidate_id = 'many-12'");
	my $dt = time() - $t0;
	my $stats = mock_stats();
	is($with, $plain, 'rows in listing order, each with its whole file');
	is(files_requested(), 12, 'one download per row');
	is($stats->{max_inflight}, 4, 'max_concurrency downloads in flight')
	  or diag(explain $stats);
	ok($dt < 12 * 0.2 / 2, 'far less than one download after the other')
	  or diag(sprintf('took %.3f s', $dt));
	note(sprintf('12 files of 200 ms: %.3f s', $dt));
}

# (b) only rows that meet the other conditions are downloaded
{
	delayed_files();
	my $n = psql_value("SELECT count(content) FROM $table"
		  . " WHERE candidate_id = 'many-12' AND type = 'consent'");
	my $want = psql_value("SELECT count(*) FROM $table"
		  . " WHERE candidate_id = 'many-12' AND type = 'consent'");
	is($n, $want, 'the rows of one type');
	is(files_requested(), $want, 'their files only');
	delayed_files();
	my $row = psql_value("SELECT id, md5(content), filesize FROM $table"
		  . " WHERE candidate_id = 'many-12' AND filesize > 5000 LIMIT 1");
	my $n = files_requested();
	ok($n >= 1 && $n <= 4, 'LIMIT 1: at least its file, at most a window of downloads')
	  or diag($n);
	limit_row_ok($row, 'LIMIT 1');
}

# (c) a batched join: each outer row's documents downloaded concurrently
{
	psql_run("CREATE TABLE $schema.hr AS SELECT g AS n, 'many-' || (4 + g) AS cid"
		  . " FROM generate_series(1, 3) g; ANALYZE $schema.hr");
	my $join = "SELECT string_agg(d.id || ':' || %s, ',' ORDER BY e.n, d.id)"
	  . " FROM $schema.hr e JOIN $table d ON d.candidate_id = e.cid";
	my $plain = psql_value(sprintf($join, 'd.filesize'));
	delayed_files();
	my $with = psql_value(sprintf($join, 'length(d.content)'));
	is($with, $plain, 'batched join: every file, whole');
	is(mock_stats()->{max_inflight}, 4, 'batched join: downloads in parallel');
}

# (d) a batched join whose outer rows have one document each: the files of
# the next outer rows download while the current one is read
{
	psql_run("CREATE TABLE $schema.one AS SELECT g AS n, 'sized-' || (1000 + g) || '-x' AS cid"
		  . " FROM generate_series(1, 12) g; ANALYZE $schema.one");
	my $join = "SELECT string_agg(e.n || ':' || %s, ',' ORDER BY e.n)"
	  . " FROM $schema.one e JOIN $table d ON d.candidate_id = e.cid%s";
	my $plain = psql_value(sprintf($join, 'd.filesize', ''));
	delayed_files();
	my $t0 = time();
	my $with = psql_value(sprintf($join, 'length(d.content)', ''));
	my $dt = time() - $t0;
	is($with, $plain, 'one file per outer row: every file, whole');
	is(files_requested(), 12, 'one file per outer row: each downloaded once');
	is(mock_stats()->{max_inflight}, 4, 'one file per outer row: 4 in flight')
	  or diag(explain mock_stats());
	# one after the other takes 12 x 0.2 s; the join's read-ahead starts at one
	# row and doubles (so a LIMIT stops early), the first rows' files download
	# less concurrently than the rest: 60% of that is still far less
	ok($dt < 12 * 0.2 * 0.6, 'one file per outer row: far less than one after the other')
	  or diag(sprintf('took %.3f s', $dt));

	# a condition on the outer row's values: decided row by row, the same rows
	my $cond = " AND d.filesize > 1005 + e.n % 3";
	$plain = psql_value(sprintf($join, 'd.filesize', $cond));
	delayed_files();
	$with = psql_value(sprintf($join, 'length(d.content)', $cond));
	is($with, $plain, 'a condition on outer values: the same rows, whole files');
	my $want = () = $plain =~ /:/g;
	is(files_requested(), $want, 'a condition on outer values: only their files');

	# a condition on the row alone: its files only, decided once per row
	$cond = " AND d.filesize % 2 = 0";
	$plain = psql_value(sprintf($join, 'd.filesize', $cond));
	delayed_files();
	$with = psql_value(sprintf($join, 'length(d.content)', $cond));
	is($with, $plain, 'a condition on the row: the same rows, whole files');
	is(files_requested(), 6, 'a condition on the row: only their files');

	# LIMIT: the files started ahead are dropped, a window at most
	delayed_files();
	my $row = psql_value("SELECT d.id, md5(d.content), d.filesize FROM $schema.one e"
		  . " JOIN $table d ON d.candidate_id = e.cid LIMIT 1");
	my $n = files_requested();
	ok($n >= 1 && $n <= 1 + 4, 'join LIMIT 1: at least its file, at most a window ahead')
	  or diag($n);
	limit_row_ok($row, 'join LIMIT 1');
}

psql_run("DROP SCHEMA $schema CASCADE");
done_testing();
