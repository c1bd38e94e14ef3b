#!/usr/bin/perl
# Rewrite a little-endian send stream (as zbak debug gen writes on x86) and recompute its record trailers and END checksum, so that a
# test can make a stream that breaks one receiver rule and nothing else.
#
#   restream.pl list IN                  "index type offset payload_offset payload_len"
#   restream.pl edit IN OUT OP...        apply OPs, fix checksums, write OUT
# OPs (TYPE: a record type number; NTH: 0-based among records of that type):
#   set:TYPE:NTH:OFF:FMT:VALUE     pack VALUE with FMT (C, V, Q<) at header byte OFF
#   swap:TYPE:I:J                  swap the I-th and J-th records of TYPE
#   drop:TYPE:NTH                  remove a record
#   dup:TYPE:NTH                   repeat a record right after itself
#   strip:TYPE:NTH                 drop a record's payload
#   nofix                          leave trailers and END checksums as they are
use strict;
use warnings;

my $mode = shift @ARGV or die "usage: restream.pl list|edit IN [OUT OP...]\n";
my $in = shift @ARGV or die "no input\n";
open(my $f, '<:raw', $in) or die "$in: $!\n";
my $s = do { local $/; <$f> };
close $f;

sub u32 { unpack('V', substr($_[0], $_[1], 4)) }
sub u64 { unpack('Q<', substr($_[0], $_[1], 8)) }

my @r;
my $p = 0;
while ($p < length $s) {
	my $h = substr($s, $p, 312);
	die "short header at $p\n" if length $h < 312;
	my $t = u32($h, 0);
	my $n = 0;
	if ($t == 0) { $n = u32($h, 4) }
	elsif ($t == 1) { $n = u32($h, 36) || ((u32($h, 28) + 7) & ~7) }
	elsif ($t == 3) { $n = ord(substr($h, 50, 1)) ? u64($h, 96) : u64($h, 32) }
	elsif ($t == 7) { $n = u64($h, 40) || u64($h, 16) }
	elsif ($t == 8) { $n = (u32($h, 52) + 7) & ~7 }
	push @r, [ $h, substr($s, $p + 312, $n), $p ];
	$p += 312 + $n;
}

if ($mode eq 'list') {
	for my $i (0 .. $#r) {
		printf "%d %d %d %d %d\n", $i, u32($r[$i][0], 0), $r[$i][2],
		    $r[$i][2] + 312, length $r[$i][1];
	}
	exit 0;
}
die "unknown mode $mode\n" unless $mode eq 'edit';
my $out = shift @ARGV or die "no output\n";

sub nth {
	my ($type, $nth) = @_;
	my $k = 0;
	for my $i (0 .. $#r) {
		next unless u32($r[$i][0], 0) == $type;
		return $i if $k++ == $nth;
	}
	die "no record $nth of type $type\n";
}

my $fix = 1;
for my $op (@ARGV) {
	my @a = split /:/, $op;
	if ($a[0] eq 'set') {
		my $i = nth($a[1], $a[2]);
		my $v = pack($a[4], $a[5]);
		substr($r[$i][0], $a[3], length $v) = $v;
	} elsif ($a[0] eq 'swap') {
		my ($i, $j) = (nth($a[1], $a[2]), nth($a[1], $a[3]));
		@r[$i, $j] = @r[$j, $i];
	} elsif ($a[0] eq 'drop') {
		splice(@r, nth($a[1], $a[2]), 1);
	} elsif ($a[0] eq 'dup') {
		my $i = nth($a[1], $a[2]);
		splice(@r, $i + 1, 0, [ @{ $r[$i] } ]);
	} elsif ($a[0] eq 'strip') {
		$r[nth($a[1], $a[2])][1] = '';
	} elsif ($a[0] eq 'nofix') {
		$fix = 0;
	} else {
		die "unknown op $op\n";
	}
}

if ($fix) {
	use integer;
	my ($a, $b, $c, $d) = (0, 0, 0, 0);
	my $fl = sub {
		my $n = int(length($_[0]) / 4);
		for my $w (unpack("V$n", $_[0])) {
			$a += $w; $b += $a; $c += $b; $d += $c;
		}
	};
	for my $k (0 .. $#r) {
		my $rec = $r[$k];
		my $t = u32($rec->[0], 0);
		# the all-zero END closing a compound package stays so
		next if $t == 5 && $k == $#r && $rec->[0] eq pack('V', 5) . "\0" x 308;
		if ($t == 0) {
			($a, $b, $c, $d) = (0, 0, 0, 0);
			$fl->($rec->[0]);
			$fl->($rec->[1]);
			next;
		}
		substr($rec->[0], 8, 32) = pack('q<4', $a, $b, $c, $d) if $t == 5;
		my $had = substr($rec->[0], 280, 32) ne "\0" x 32;
		$fl->(substr($rec->[0], 0, 280));
		substr($rec->[0], 280, 32) = pack('q<4', $a, $b, $c, $d) if $had;
		$fl->(substr($rec->[0], 280, 32));
		$fl->($rec->[1]);
	}
}
open(my $o, '>:raw', $out) or die "$out: $!\n";
print $o $_->[0], $_->[1] for @r;
close $o or die "$out: $!\n";
