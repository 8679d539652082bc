package ipc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// firstGroupsGuess is how many supplementary groups the first
	// SO_PEERGROUPS call makes room for; the kernel says when it needs more.
	firstGroupsGuess = 32
	// maxGroups is Linux's NGROUPS_MAX: no process has more groups.
	maxGroups = 65536
)

// peerGroups returns the supplementary groups of the peer of c, as the
// kernel recorded them at connect(2) (SO_PEERGROUPS, Linux 4.13+). On a
// kernel without it, it reads the Groups line of /proc/PID/status of the
// peer's pid instead, which is what that process has now.
func peerGroups(c net.Conn, pid int32) ([]uint32, error) {
	raw, err := rawUnixConn(c)
	if err != nil {
		return nil, fmt.Errorf("peer groups: %w", err)
	}
	var (
		groups []uint32
		gerr   error
	)
	if err := raw.Control(func(fd uintptr) { groups, gerr = getsockoptPeerGroups(int(fd)) }); err != nil {
		return nil, fmt.Errorf("peer groups: %w", err)
	}
	if errors.Is(gerr, unix.ENOPROTOOPT) && pid > 0 {
		return procGroups(fmt.Sprintf("/proc/%d/status", pid))
	}
	if gerr != nil {
		return nil, fmt.Errorf("peer groups: getsockopt SO_PEERGROUPS: %w", gerr)
	}
	return groups, nil
}

// getsockoptPeerGroups reads SO_PEERGROUPS of the socket fd into a buffer of
// gid_t (uint32) that grows to the size the kernel asks for (ERANGE).
// x/sys/unix has no wrapper for it, hence the raw getsockopt(2).
func getsockoptPeerGroups(fd int) ([]uint32, error) {
	n := firstGroupsGuess
	for {
		buf := make([]uint32, n)
		size := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == 0:
			return buf[:size/4], nil
		case errno == unix.ERANGE && n < maxGroups:
			// The kernel wrote the size it needs into size.
			n = min(max(int(size/4), 2*n), maxGroups)
		default:
			return nil, errno
		}
	}
}

// procGroups reads the supplementary groups from the "Groups:" line of a
// /proc/PID/status file.
func procGroups(path string) ([]uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peer groups: %w", err)
	}
	defer f.Close()
	groups, err := parseProcGroups(f)
	if err != nil {
		return nil, fmt.Errorf("peer groups: %s: %w", path, err)
	}
	return groups, nil
}

// parseProcGroups parses the "Groups:" line of a /proc/PID/status text.
func parseProcGroups(r io.Reader) ([]uint32, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		groups := []uint32{}
		for f := range strings.FieldsSeq(rest) {
			g, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bad group %q", f)
			}
			groups = append(groups, uint32(g))
		}
		return groups, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("no Groups line")
}

// LookupGroup returns the gid of a group given by name or by number, as
// socket_group takes it. A number that names no group in the group
// database is an error too.
func LookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			g, err = user.LookupGroupId(name)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("socket group %q: %w", name, err)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("socket group %q: gid %q: %w", name, g.Gid, err)
	}
	return uint32(gid), nil
}
