package imapwatch

import (
	"sync"
)

// publish queues msg for every subscriber.
func (m *Mailbox) publish(msg Message) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for s := range m.subs {
		s.push(msg)
	}
}

// mailboxSubscriber is one subscription: an unbounded queue and the
// goroutine that feeds its channel from it.
type mailboxSubscriber struct {
	out  chan Message
	wake chan struct{} // capacity 1: the queue is not empty
	done chan struct{} // closed by the cancel function
	once sync.Once

	mu    sync.Mutex
	queue []Message
}

func (s *mailboxSubscriber) push(msg Message) {
	s.mu.Lock()
	s.queue = append(s.queue, msg)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *mailboxSubscriber) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.queue = nil // let a burst's backing array go
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		msg := s.queue[0]
		s.queue[0] = Message{}
		s.queue = s.queue[1:]
		s.mu.Unlock()

		select {
		case s.out <- msg:
		case <-s.done:
			return
		}
	}
}
