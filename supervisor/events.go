package supervisor

import (
	"context"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// eventBuffer is how many events a follower may fall behind. The channel
// cannot fill without bound: a follower that lets it fill is cut off (its
// channel closed), never waited for.
const eventBuffer = 256

// Events subscribes to state changes. The returned channel gets every change
// from now on; it is closed when cancel is called, when the follower falls
// eventBuffer events behind, or when the loop returns (superd drained).
// cancel is idempotent; the caller must call it.
func (s *Supervisor) Events(ctx context.Context) (<-chan apitype.Event, func(), error) {
	ch := make(chan apitype.Event, eventBuffer)
	if err := s.do(ctx, func() { s.subs[ch] = struct{}{} }); err != nil {
		return nil, func() {}, err
	}
	cancel := func() {
		// The loop may be gone; then closeSubs has closed ch already.
		s.do(context.Background(), func() {
			if _, ok := s.subs[ch]; ok {
				delete(s.subs, ch)
				close(ch)
			}
		})
	}
	return ch, cancel, nil
}

// publish sends ev to every follower without ever blocking the loop.
func (s *Supervisor) publish(ev apitype.Event) {
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			s.logger.Warn("event follower too slow; cut off")
			delete(s.subs, ch)
			close(ch)
		}
	}
}

// closeSubs ends every follower; the loop calls it when it returns.
func (s *Supervisor) closeSubs() {
	for ch := range s.subs {
		delete(s.subs, ch)
		close(ch)
	}
}

// transitionEvent is the event of in's change from state from, caused by ev.
func transitionEvent(in *instance, from apitype.State, ev event, now time.Time) apitype.Event {
	e := apitype.Event{
		Time:     now.UTC(),
		Instance: in.name,
		Program:  in.prog.Name,
		From:     from,
		To:       in.state,
		Message:  in.message,
	}
	if in.pid > 0 {
		pid := in.pid
		e.Pid = &pid
	}
	if ev.kind == evExit {
		pid := ev.pid
		e.Pid = &pid
		if ev.sig != 0 {
			name := signalName(ev.sig)
			e.ExitSignal = &name
		} else {
			code := ev.code
			e.ExitCode = &code
		}
	}
	return e
}
