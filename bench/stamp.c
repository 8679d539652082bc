/*
 * stamp: the child of the restart benchmark (bench/cmd/superbench).
 *
 *   stamp FILE        append "PID MONOTONIC_NS\n" to FILE, then pause forever
 *   stamp FILE exit   the same, then exit(1) on SIGUSR1
 *
 * The time is CLOCK_MONOTONIC read first thing in main, and the line is one
 * write(2) to a file opened with O_APPEND, so a reader never sees half a
 * line. In the exit mode SIGUSR1 is caught before the line is written, so
 * a SIGUSR1 sent after the line was read cannot be lost.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_usr1(int sig) { (void)sig; _exit(1); }

int main(int argc, char **argv) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "exit") != 0)) {
		static const char usage[] = "usage: stamp FILE [exit]\n";
		(void)!write(2, usage, sizeof usage - 1);
		return 2;
	}
	if (argc == 3) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL) != 0) {
			perror("stamp: sigaction");
			return 1;
		}
	}
	char line[64];
	int n = snprintf(line, sizeof line, "%d %lld\n", (int)getpid(),
	                 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror("stamp: open");
		return 1;
	}
	if (write(fd, line, (size_t)n) != n) {
		perror("stamp: write");
		return 1;
	}
	close(fd);
	for (;;)
		pause();
}
