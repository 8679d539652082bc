/*
 * sigecho: the child of the forward benchmark (bench/cmd/superbench).
 *
 *   sigecho
 *
 * Blocks SIGUSR1, writes "PID MONOTONIC_NS\n" to stdout (a pipe the harness
 * reads) to say it is set up, then for every SIGUSR1 it receives writes
 * "PID NS\n" with CLOCK_MONOTONIC read the moment sigwaitinfo returned.
 * The signal is taken with sigwaitinfo rather than a handler: the same
 * wake-up from the kernel, with the clock and the write outside signal
 * context. Each line is one write(2) of less than PIPE_BUF bytes, so it
 * arrives whole. SIGTERM (default action) ends it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int echo(long long ns) {
	char line[64];
	int n = snprintf(line, sizeof line, "%d %lld\n", (int)getpid(), ns);
	if (write(1, line, (size_t)n) != n) {
		perror("sigecho: write");
		return -1;
	}
	return 0;
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	(void)argv;
	if (argc != 1) {
		static const char usage[] = "usage: sigecho\n";
		(void)!write(2, usage, sizeof usage - 1);
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("sigecho: sigprocmask");
		return 1;
	}
	if (echo(now_ns()) != 0)
		return 1;
	for (;;) {
		siginfo_t si;
		if (sigwaitinfo(&set, &si) < 0)
			continue; /* EINTR: a stop/continue */
		if (echo(now_ns()) != 0)
			return 1;
	}
}
