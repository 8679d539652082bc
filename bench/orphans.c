/*
 * orphans: the child of the reaping benchmark (bench/cmd/superbench).
 *
 *   orphans FILE N DELAY_MS
 *
 * Creates FILE, maps it shared, and forks a middle process that forks N
 * children and exits as soon as all are forked: the N become orphans,
 * handed to the nearest subreaper (the supervisor under test). Child i
 * stores its pid in slot i, sleeps until DELAY_MS after orphans started
 * (CLOCK_MONOTONIC, absolute: they all wake together), stores the clock in
 * slot i and _exits 0 — an orphan storm. The main process reaps the middle
 * one and waits for SIGTERM, on which it exits 0: it stays, so that the
 * supervisor keeps running while its orphans die.
 *
 * FILE holds int64s in the machine's byte order, written with atomic
 * stores: [0] N, [1] the release time (ns), [2] the number of children
 * forked (set once, when all are), then for each child its pid and its exit
 * time (0 until it exits). The harness maps it too and reads it while the
 * storm runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	int64_t start = now_ns();
	if (argc != 4) {
		static const char usage[] = "usage: orphans FILE N DELAY_MS\n";
		(void)!write(2, usage, sizeof usage - 1);
		return 2;
	}
	long n = strtol(argv[2], NULL, 10), delay_ms = strtol(argv[3], NULL, 10);
	if (n <= 0 || n > 1000000 || delay_ms < 0) {
		fprintf(stderr, "orphans: bad N %s or DELAY_MS %s\n", argv[2], argv[3]);
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0) {
		perror("orphans: sigaction");
		return 1;
	}
	size_t size = (size_t)(3 + 2 * n) * sizeof(int64_t);
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		perror("orphans: create");
		return 1;
	}
	int64_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("orphans: mmap");
		return 1;
	}
	close(fd);
	int64_t release = start + (int64_t)delay_ms * 1000000LL;
	__atomic_store_n(&m[0], (int64_t)n, __ATOMIC_RELEASE);
	__atomic_store_n(&m[1], release, __ATOMIC_RELEASE);

	pid_t middle = fork();
	if (middle < 0) {
		perror("orphans: fork");
		return 1;
	}
	if (middle == 0) {
		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid < 0) {
				perror("orphans: fork a child");
				_exit(1);
			}
			if (pid == 0) {
				struct timespec ts = {release / 1000000000LL, release % 1000000000LL};
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
					;
				__atomic_store_n(&m[3 + 2 * i + 1], now_ns(), __ATOMIC_RELEASE);
				_exit(0);
			}
			__atomic_store_n(&m[3 + 2 * i], (int64_t)pid, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&m[2], (int64_t)n, __ATOMIC_RELEASE);
		_exit(0);
	}
	int status;
	while (waitpid(middle, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "orphans: the middle process failed (status %d)\n", status);
		return 1;
	}
	for (;;)
		pause();
}
