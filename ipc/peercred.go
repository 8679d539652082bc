package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

// peer is who is on the other end of a connection, as the kernel recorded it
// when the client called connect(2).
type peer struct {
	Pid int32
	Uid uint32
	Gid uint32
}

// peerKey is the context key of a connection's peerInfo.
type peerKey struct{}

// peerInfo is stored in each connection's context by ConnContext: the peer,
// or why it could not be read.
type peerInfo struct {
	peer peer
	err  error
}

// access is the rule deciding who may use the API: a peer is allowed when its
// uid is in uids or its gid in gids. It is immutable once the server is built.
//
// Only the peer's primary gid is compared for now; when socket_group is wired
// in, the peer's supplementary groups (SO_PEERGROUPS) belong here too.
type access struct {
	uids []uint32
	gids []uint32
}

// defaultAccess allows root and the user superd runs as.
func defaultAccess() access {
	return access{uids: []uint32{0, uint32(os.Geteuid())}}
}

// check returns nil when p may control superd, else an error wrapping
// apitype.ErrForbidden that names the uid.
func (a access) check(p peer) error {
	if slices.Contains(a.uids, p.Uid) || slices.Contains(a.gids, p.Gid) {
		return nil
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

// withPeer is the http.Server's ConnContext: it reads the peer's credentials
// (SO_PEERCRED) once per connection and stores them in the context.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	p, err := peerCred(c)
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
	for {
		w, ok := c.(interface{ netConn() net.Conn })
		if !ok {
			break
		}
		c = w.netConn()
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}, fmt.Errorf("peer credentials: %T is not a Unix connection", c)
	}
	raw, err := uc.SyscallConn()
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
