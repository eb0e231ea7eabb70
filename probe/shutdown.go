package probe

import (
	"context"
	"time"
)

// stopGrace is how long Stop lets the probes in flight finish their cleanup
// (deleting copies and notices, discarding a held probe through REST)
// before it cancels it. Shutdown must end within 5 s whatever a server
// does: a REST call or an IMAP command that never answers is cut off, and
// what it left is found and cleaned up by the next start, as after a
// SIGKILL.
const stopGrace = 2 * time.Second

// startCleanups gives the service the context its cleanups run in: it
// outlives the service's own context (a probe's outcome is recorded and
// cleaned up after it ends) until Stop's grace is over.
func (s *Service) startCleanups(ctx context.Context) {
	s.cleanups, s.endCleanups = context.WithCancel(context.WithoutCancel(ctx))
}

// cleanupContext bounds one probe's cleanup by cleanupTimeout and by the
// service's shutdown.
func (s *Service) cleanupContext() (context.Context, context.CancelFunc) {
	parent := s.cleanups
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, cleanupTimeout)
}

// graceThenEndCleanups cancels every cleanup stopGrace from now; the
// returned function cancels them at once (Stop calls it when all is done).
func (s *Service) graceThenEndCleanups() (endNow func()) {
	if s.endCleanups == nil {
		return func() {}
	}
	t := time.AfterFunc(stopGrace, s.endCleanups)
	return func() {
		t.Stop()
		s.endCleanups()
	}
}
