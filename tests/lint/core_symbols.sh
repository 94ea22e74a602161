#!/bin/sh
# core_symbols.sh - the build keeps the core pure (issue 15): fail if an archive or a
# program references an IO symbol.
#
#   core_symbols.sh [--io-libs] FILE...
#
# FILE: a static library (libbyzlab_core.a) or a linked program (byzlab-sim).  Every
# symbol FILE needs from elsewhere (nm -u, minus what an archive defines itself) is
# checked against a deny list:
#   default     nng, LMDB and inih, and the system calls a pure core must not make:
#               sockets, polling, files, clocks, sleeping, threads, processes, randomness
#               (the driver owns time, randomness and IO: docs/ARCHITECTURE.md).
#   --io-libs   nng, LMDB and inih only: for a program such as the simulator, which may
#               read its clock and write its trace file but must not run the real IO.
# Exit 0: clean; 1: forbidden symbols (listed, with the object that references them);
# 2: usage or nm failure.
set -u

libs='nng_.*|nni_.*|mdb_.*|ini_.*'
calls='socket|socketpair|connect|bind|listen|accept|accept4|shutdown|send|sendto|sendmsg|recv|recvfrom|recvmsg|getaddrinfo|poll|ppoll|select|pselect|epoll_.*|eventfd|clock_gettime|clock_getres|gettimeofday|time|clock|timespec_get|ftime|sleep|usleep|nanosleep|clock_nanosleep|open|open64|openat|openat64|creat|fopen|fopen64|fdopen|freopen|read|write|pread|pread64|pwrite|pwrite64|readv|writev|close|fsync|fdatasync|sync_file_range|ftruncate|mkdir|rmdir|unlink|rename|stat|stat64|fstat|fstat64|lstat|opendir|mmap|mmap64|flock|fcntl|ioctl|pthread_.*|fork|vfork|execv|execve|execvp|system|popen|kill|signal|sigaction|getpid|getrandom|rand|random|srand|srandom|randombytes_.*|getenv'

mode=all
if [ "${1-}" = --io-libs ]; then
	mode=io-libs
	shift
fi
if [ $# -eq 0 ]; then
	echo "usage: core_symbols.sh [--io-libs] FILE..." >&2
	exit 2
fi
if [ "$mode" = io-libs ]; then
	deny="^($libs)\$"
else
	deny="^($libs|$calls)\$"
fi

status=0
for f in "$@"; do
	if [ ! -r "$f" ]; then
		echo "core_symbols: $f: not readable" >&2
		exit 2
	fi
	# One pass: the symbols FILE defines itself (an archive's objects call each other),
	# then "object: symbol" for every undefined reference; versioned dynamic names
	# (clock_gettime@GLIBC_2.17) lose their version.
	if ! syms=$({ nm --defined-only "$f" | awk 'NF == 3 { print "D " $3 }' &&
		nm -u -A "$f" | awk '{ print "U " $1 " " $NF }'; } 2>/dev/null); then
		echo "core_symbols: nm $f failed" >&2
		exit 2
	fi
	bad=$(printf '%s\n' "$syms" | awk -v deny="$deny" '
		$1 == "D" { def[$2] = 1; next }
		$1 == "U" {
			sym = $3; sub(/@.*/, "", sym)
			obj = $2; sub(/:$/, "", obj); sub(/.*\//, "", obj)
			if (sym ~ deny && !(sym in def)) print "  " sym "  (referenced by " obj ")"
		}' | sort -u)
	if [ -n "$bad" ]; then
		echo "core_symbols: $f references IO symbols ($mode deny list):" >&2
		printf '%s\n' "$bad" >&2
		status=1
	else
		echo "core_symbols: $f: clean ($mode deny list)"
	fi
done
exit $status
