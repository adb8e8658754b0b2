#!/usr/bin/env bash
# perl: hashes, regexes, sorting, string building and fork (children report through pipes).
# Outcome: perl's exit status and a digest of its (deterministic) output, which must match bare.
# usage: perl.sh MODE [--quick]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init perl "${1:-}"
rw_not_for_heaptrack "four forked children do most of the work"
rw_need perl perl
LIMIT="${RW_TIMEOUT:-300}"
N=200000; [ "${2:-}" = --quick ] && N=60000

cat >"$RW_WORK/work.pl" <<'PL'
use strict; use warnings;
my $n = shift;
sub words { my ($seed, $k) = @_; my @w; my $x = $seed;
  for (1..$k) { $x = ($x * 1103515245 + 12345) % 2147483648; push @w, sprintf("w%x_%d", $x % 65521, $x % 97); } @w }
sub work {
  my ($seed) = @_;
  my %count; my %len; my $text = "";
  for my $w (words($seed, $n)) { $count{$w}++; $text .= "$w "; }
  my $matches = () = $text =~ /w([0-9a-f]{3})_(\d)\b/g;
  (my $copy = $text) =~ s/_(\d+)/-$1-/g;
  for my $k (keys %count) { $len{length $k} += $count{$k}; delete $count{$k} if $count{$k} < 2; }
  my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0..4];
  my @ref = map { { word => $_, n => $count{$_}, list => [ split //, $_ ] } } @top;
  return join(",", scalar(keys %count), $matches, length($copy), join("/", map { "$_=$len{$_}" } sort keys %len),
              join("/", map { "$_->{word}:$_->{n}:" . scalar(@{$_->{list}}) } @ref));
}
print "parent ", work(1), "\n";
my @kids;
for my $i (2..5) {
  pipe(my $r, my $w) or die "pipe: $!";
  my $pid = fork // die "fork: $!";
  if ($pid == 0) { close $r; print $w "child $i ", work($i), "\n"; close $w; exit 0; }
  close $w; push @kids, [$pid, $r];
}
for (@kids) { my ($pid, $r) = @$_; my $line = <$r>; print $line // "child lost\n"; waitpid($pid, 0); print "status ", $? >> 8, " signal ", $? & 127, "\n"; }
PL
rw_run "$LIMIT" perl "$RW_WORK/work.pl" "$N" >"$RW_WORK/out.txt" 2>"$RW_WORK/err.txt"
rw_result "status=$(rw_status_word "$RW_STATUS") lines=$(wc -l <"$RW_WORK/out.txt") sha=$(sha256sum <"$RW_WORK/out.txt" | cut -c1-16) stderr=$(wc -c <"$RW_WORK/err.txt")"
