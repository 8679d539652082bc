package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

// peer is who is on the other end of a connection, as the kernel recorded it
// when the client called connect(2).
type peer struct {
	Pid int32
	Uid uint32
	Gid uint32
	// Groups are the peer's supplementary groups. They are read only when
	// the access rule needs them (the uid and primary gid did not decide),
	// else nil.
	Groups []uint32
}

// peerKey is the context key of a connection's peerInfo.
type peerKey struct{}

// peerInfo is stored in each connection's context by ConnContext: the peer,
// or why it could not be read.
type peerInfo struct {
	peer peer
	err  error
}

// access is the rule deciding who may use the API: a peer is allowed when
// its uid is in uids, or its primary gid or one of its supplementary groups
// is in gids. It is immutable once the server is built.
type access struct {
	uids []uint32
	gids []uint32 // socket_group
}

// defaultAccess allows root and the user superd runs as.
func defaultAccess() access {
	return access{uids: []uint32{0, uint32(os.Geteuid())}}
}

// byIDs reports whether p's uid or primary gid alone allows it, so that
// its supplementary groups need not be read.
func (a access) byIDs(p peer) bool {
	return slices.Contains(a.uids, p.Uid) || slices.Contains(a.gids, p.Gid)
}

// check returns nil when p may control superd, else an error wrapping
// apitype.ErrForbidden that names the uid.
func (a access) check(p peer) error {
	if a.byIDs(p) {
		return nil
	}
	for _, g := range p.Groups {
		if slices.Contains(a.gids, g) {
			return nil
		}
	}
	return forbiddenError{uid: p.Uid}
}

// forbiddenError is the refusal of a peer, worded
// "permission denied: uid 1001 may not control superd".
type forbiddenError struct{ uid uint32 }

func (e forbiddenError) Error() string {
	return fmt.Sprintf("%v: uid %d may not control superd", apitype.ErrForbidden, e.uid)
}

func (e forbiddenError) Unwrap() error { return apitype.ErrForbidden }

// withPeer is the control socket's ConnContext: it reads the peer's
// credentials (SO_PEERCRED) once per connection, and its supplementary
// groups when socket_group is set and the uid and primary gid do not
// decide, and stores them in the context. A failure to read the groups is
// logged and leaves them empty: the peer is then refused unless its ids
// allow it.
func (s *Server) withPeer(ctx context.Context, c net.Conn) context.Context {
	p, err := peerCred(c)
	if err == nil && len(s.access.gids) > 0 && !s.access.byIDs(p) {
		groups, gerr := peerGroups(c, p.Pid)
		if gerr != nil {
			s.log.Warn("read the supplementary groups of a peer", "peer_uid", p.Uid, "peer_pid", p.Pid, "err", gerr)
		}
		p.Groups = groups
	}
	return context.WithValue(ctx, peerKey{}, peerInfo{peer: p, err: err})
}

// peerFrom returns the peer stored by withPeer. A context without one (not a
// connection of ours) yields an error, so the caller fails closed.
func peerFrom(ctx context.Context) (peer, error) {
	pi, ok := ctx.Value(peerKey{}).(peerInfo)
	if !ok {
		return peer{}, errors.New("no peer credentials")
	}
	return pi.peer, pi.err
}

// peerCred reads SO_PEERCRED from c, looking through wrappers such as
// limitConn. Only Unix connections carry credentials.
func peerCred(c net.Conn) (peer, error) {
	raw, err := rawUnixConn(c)
	if err != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		cred *unix.Ucred
		cerr error
	)
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	return peer{Pid: cred.Pid, Uid: cred.Uid, Gid: cred.Gid}, nil
}

// rawUnixConn returns the raw connection under c, looking through wrappers
// such as limitConn; only a Unix connection has one.
func rawUnixConn(c net.Conn) (syscall.RawConn, error) {
	for {
		w, ok := c.(interface{ netConn() net.Conn })
		if !ok {
			break
		}
		c = w.netConn()
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("%T is not a Unix connection", c)
	}
	return uc.SyscallConn()
}
