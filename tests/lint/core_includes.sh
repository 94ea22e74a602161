#!/bin/sh
# core_includes.sh - the build keeps the core pure (issue 15): fail if a core source,
# or a header it includes (followed through the repository's own headers), includes
# an IO header.
#
#   core_includes.sh SRCROOT FILE...
#
# FILE: the sources of byzlab_core (CMakeLists.txt passes BYZLAB_CORE_SOURCES, so the
# list checked is the list built).  Denied everywhere in the core: nng, LMDB, inih,
# sockets and name lookup, polling, clocks (<time.h>, <sys/time.h>), threads, files and
# processes (<unistd.h>, <fcntl.h>, <sys/stat.h>, <dirent.h>, <signal.h>), and the
# repository's IO headers (replica/net.h, store.h, replica.h, faults.h, client/client.h,
# admin.h, bench.h).  Files under replica/core/ may not include <stdio.h> either: the
# protocol cores print nothing (CORE_ASSERT reports through replica/core_assert.c).
# Exit 0: clean; 1: forbidden includes (file:line: header); 2: usage.
set -u

deny_sys='nng/.*|lmdb\.h|ini\.h|sys/socket\.h|netinet/.*|arpa/.*|netdb\.h|sys/un\.h|poll\.h|sys/poll\.h|sys/epoll\.h|sys/select\.h|sys/eventfd\.h|time\.h|sys/time\.h|sys/timerfd\.h|pthread\.h|threads\.h|unistd\.h|fcntl\.h|sys/stat\.h|sys/types\.h|sys/file\.h|sys/mman\.h|dirent\.h|signal\.h|sys/random\.h'
deny_repo='replica/net\.h|replica/store\.h|replica/replica\.h|replica/faults\.h|client/client\.h|client/admin\.h|client/bench\.h'
deny_core='stdio\.h'

if [ $# -lt 2 ]; then
	echo "usage: core_includes.sh SRCROOT FILE..." >&2
	exit 2
fi
root=$1
shift

# One awk walks the files and the repository headers they include (quoted,
# root-relative or relative to the including file), each once.
awk -v root="$root" -v deny_all="^($deny_sys|$deny_repo)\$" \
	-v deny_core="^($deny_sys|$deny_repo|$deny_core)\$" '
function readable(path,    line) {
	if ((getline line < path) < 0)
		return 0
	close(path)
	return 1
}
function push(path) {
	if (!(path in seen)) {
		seen[path] = 1
		todo[ntodo++] = path
	}
}
function scan(f,    rel, deny, line, lineno, h, dir) {
	rel = f
	if (index(rel, root "/") == 1)
		rel = substr(rel, length(root) + 2)
	deny = rel ~ /^replica\/core\// ? deny_core : deny_all
	dir = f
	sub(/\/[^\/]*$/, "", dir)
	lineno = 0
	while ((getline line < f) > 0) {
		lineno++
		if (line !~ /^[ \t]*#[ \t]*include[ \t]*[<"]/)
			continue
		h = line
		sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", h)
		sub(/[>"].*/, "", h)
		if (h ~ deny)
			bad[nbad++] = "  " rel ":" lineno ": includes " h
		if (readable(root "/" h))
			push(root "/" h)
		else if (readable(dir "/" h))
			push(dir "/" h)
	}
	close(f)
}
BEGIN {
	for (i = 1; i < ARGC; i++)
		push(ARGV[i])
	for (i = 0; i < ntodo; i++) {
		if (!readable(todo[i])) {
			print "core_includes: " todo[i] ": not readable" > "/dev/stderr"
			exit 2
		}
		scan(todo[i])
	}
	if (nbad) {
		print "core_includes: IO headers in the core (byzlab_core must stay pure, docs/ARCHITECTURE.md):" > "/dev/stderr"
		for (i = 0; i < nbad; i++)
			print bad[i] > "/dev/stderr"
		exit 1
	}
	print "core_includes: " ntodo " files clean"
	exit 0
}' "$@"
