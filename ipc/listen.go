package ipc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// staleDialTimeout bounds the dial Listen makes to find out whether an
// existing socket file is still served.
const staleDialTimeout = time.Second

// DefaultSocket returns the control socket path used when neither a flag, the
// config nor $SUPERD_SOCKET names one: /run/superd/superd.sock for root;
// otherwise $XDG_RUNTIME_DIR/superd/superd.sock, or /tmp/superd-UID/superd.sock
// when XDG_RUNTIME_DIR is unset or empty. superd and superctl both use it, so
// they agree without configuration.
func DefaultSocket() string {
	return defaultSocket(os.Geteuid(), os.Getenv)
}

// defaultSocket is DefaultSocket with its inputs made explicit for tests.
func defaultSocket(euid int, getenv func(string) string) string {
	if euid == 0 {
		return "/run/superd/superd.sock"
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "superd", "superd.sock")
	}
	return filepath.Join("/tmp", "superd-"+strconv.Itoa(euid), "superd.sock")
}

// Listen creates the Unix socket at path and listens on it.
//
// It creates the parent directory (0755) if it is missing, and refuses a
// parent directory owned by another user than root or the caller, since
// whoever owns it could swap the socket. If a file already exists at path:
// a non-socket is an error and left alone; a socket is dialled, and when
// something answers Listen fails with "socket PATH is held by a running
// superd"; when nothing answers (connection refused) the stale file is
// removed. The new socket is then chmod'ed to mode.
//
// Closing the returned listener removes the socket file, but only if the
// file at path is still the one Listen created (same inode): a successor
// that replaced it keeps its socket. The listener is safe for concurrent use.
func Listen(path string, mode os.FileMode) (net.Listener, error) {
	return ListenGroup(path, mode, -1)
}

// ListenGroup is Listen that also gives the socket file to group gid
// (socket_group) before it applies mode, so that with a mode like 0660 the
// group's members can connect. A gid of -1 leaves the group alone. Changing
// the group needs root, or a caller that is a member of the group.
func ListenGroup(path string, mode os.FileMode, gid int) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if err := checkDirOwner(dir); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// Close removes the file itself, after checking it is still ours.
	ul.SetUnlinkOnClose(false)
	fi, err := os.Lstat(path)
	if err == nil && gid >= 0 {
		err = os.Lchown(path, -1, gid)
	}
	if err == nil {
		err = os.Chmod(path, mode.Perm())
	}
	if err != nil {
		_ = ul.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("set up socket %s: %w", path, err)
	}
	return &socketListener{UnixListener: ul, path: path, file: fi}, nil
}

// checkDirOwner refuses a socket directory that another, unprivileged user
// owns.
func checkDirOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("socket directory %s is owned by uid %d, not by root or uid %d", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// removeStale removes a socket file at path that no process serves any more.
// It fails when a process answers on it, or when path is not a socket.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, staleDialTimeout)
	switch {
	case err == nil:
		_ = c.Close()
		return fmt.Errorf("socket %s is held by a running superd", path)
	case errors.Is(err, syscall.EAGAIN):
		// The listen backlog is full: someone is serving it.
		return fmt.Errorf("socket %s is held by a running superd", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale socket: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("check socket %s: %w", path, err)
	}
}

// socketListener is the listener Listen returns: a Unix listener that
// removes its own socket file on Close.
type socketListener struct {
	*net.UnixListener
	path string
	file os.FileInfo // the socket file as created, to recognise it on Close

	once     sync.Once
	closeErr error
}

// Accept returns the next connection as a *net.UnixConn, so that peer
// credentials can be read from it.
func (l *socketListener) Accept() (net.Conn, error) {
	return l.UnixListener.AcceptUnix()
}

// Close stops listening and removes the socket file if it is still the one
// Listen created. Only the first call has an effect.
func (l *socketListener) Close() error {
	l.once.Do(func() {
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.file) {
			if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				l.closeErr = fmt.Errorf("remove socket: %w", err)
			}
		}
		if err := l.UnixListener.Close(); err != nil && l.closeErr == nil {
			l.closeErr = err
		}
	})
	return l.closeErr
}
