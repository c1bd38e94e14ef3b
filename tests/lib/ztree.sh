# The tree comparisons of the file tests on zfs-fuse (t0720, t0730,
# t0735): what a directory holds, and what `zbak files ls -R --json` says
# of it, as the same lines.  Sourced after tests/lib.sh.
# the tree under a directory as lines: path, type, mode, uid:gid, size
# (not for directories: zfs counts entries, other file systems bytes),
# links, mtime in seconds, link target; then every file's sha256
tree() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %n %Ts %l\n' |
		sed 's/^\(\S* d \S* \S*\) [0-9]*/\1 -/' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
# the same lines from `zbak files ls -R --json` (no hashes)
json_tree() {
	perl -MJSON::PP -e '
		my %t = (file => "f", dir => "d", symlink => "l", fifo => "p");
		for my $e (@{decode_json(do { local $/; <STDIN> })}) {
			my $p = $e->{path} eq "/" ? "." : ".$e->{path}";
			my $s = $e->{type} eq "dir" ? "-" : $e->{size};
			printf "%s %s %o %d:%d %s %d %d %s\n", $p, $t{$e->{type}},
				$e->{mode}, $e->{uid}, $e->{gid}, $s, $e->{links},
				$e->{mtime}, $e->{target} // "";
		}' | LC_ALL=C sort
}
