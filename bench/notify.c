/*
 * notify: program A of the notify benchmark (bench/cmd/superbench), a
 * service that says when it is ready.
 *
 *   notify STARTFILE READYFILE
 *
 * Appends "PID MONOTONIC_NS\n" to STARTFILE once it is set up, then waits
 * for SIGUSR1 (blocked, taken with sigwaitinfo: one cannot be lost or
 * arrive early). On each SIGUSR1 it reads CLOCK_MONOTONIC, tells its
 * supervisor it is ready, and only then appends "PID NS\n" with that time
 * to READYFILE: the file write is not inside the measured time. Then it
 * waits again (a later SIGUSR1 sends READY=1 again, harmless); SIGTERM
 * ends it.
 *
 * How it tells, chosen by the environment:
 *   NOTIFY_SOCKET=PATH or @NAME  sd_notify: the datagram "READY=1" to that
 *                                unixgram socket (@: the abstract
 *                                namespace), connected beforehand
 *   NOTIFY_FD=N                  s6's notification-fd: a newline written
 *                                to descriptor N, which is then closed
 *
 * The time is taken right before send(2)/write(2); the socket is made and
 * connected at start, so only the send itself is inside the measure.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* stamp appends "PID NS\n" to path with one write(2) (O_APPEND: a reader
 * never sees half a line). */
static int stamp(const char *path, long long ns) {
	char line[64];
	int n = snprintf(line, sizeof line, "%d %lld\n", (int)getpid(), ns);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror("notify: open");
		return -1;
	}
	if (write(fd, line, (size_t)n) != n) {
		perror("notify: write");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* connect_notify returns a unixgram socket connected to addr (a path, or
 * @NAME for the abstract namespace), or -1. */
static int connect_notify(const char *addr) {
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	size_t len = strlen(addr);
	if (len < 2 || len >= sizeof sa.sun_path) {
		fprintf(stderr, "notify: bad NOTIFY_SOCKET %s\n", addr);
		return -1;
	}
	memcpy(sa.sun_path, addr, len);
	if (addr[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: no NUL at the end, the length counts */
	else if (addr[0] != '/') {
		fprintf(stderr, "notify: NOTIFY_SOCKET %s is neither absolute nor @abstract\n", addr);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("notify: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0) {
		perror("notify: connect");
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		static const char usage[] = "usage: notify STARTFILE READYFILE\n";
		(void)!write(2, usage, sizeof usage - 1);
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("notify: sigprocmask");
		return 1;
	}
	int sock = -1, nfd = -1;
	const char *addr = getenv("NOTIFY_SOCKET");
	const char *fdenv = getenv("NOTIFY_FD");
	if (addr != NULL && addr[0] != '\0') {
		if ((sock = connect_notify(addr)) < 0)
			return 1;
	} else if (fdenv != NULL && fdenv[0] != '\0') {
		nfd = atoi(fdenv);
		if (nfd < 0 || fcntl(nfd, F_GETFD) < 0) {
			fprintf(stderr, "notify: NOTIFY_FD %s is not an open descriptor\n", fdenv);
			return 1;
		}
	} else {
		static const char none[] = "notify: neither NOTIFY_SOCKET nor NOTIFY_FD is set\n";
		(void)!write(2, none, sizeof none - 1);
		return 1;
	}
	if (stamp(argv[1], now_ns()) != 0)
		return 1;
	for (;;) {
		siginfo_t si;
		if (sigwaitinfo(&set, &si) < 0)
			continue; /* EINTR: a stop/continue */
		long long t = now_ns();
		if (sock >= 0) {
			static const char ready[] = "READY=1";
			if (send(sock, ready, sizeof ready - 1, 0) != (ssize_t)(sizeof ready - 1)) {
				perror("notify: send READY=1");
				return 1;
			}
		} else if (nfd >= 0) {
			if (write(nfd, "\n", 1) != 1) {
				perror("notify: write to NOTIFY_FD");
				return 1;
			}
			close(nfd); /* s6: the descriptor is for one notification */
			nfd = -1;
		}
		if (stamp(argv[2], t) != 0)
			return 1;
	}
}
