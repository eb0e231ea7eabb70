// The world's work queue: posts run one at a time, in order, as through
// Mailman's queue runners, and delayed work runs unless the world closes.

package sandbox

import "time"

// enqueue hands f to the world's runner, which runs queued work one item
// at a time in order, as Mailman's queue runners process posts first in,
// first out. It reports false (and drops f) once the world is closed.
func (w *World) enqueue(f func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enqueueLocked(f)
}

// enqueueLocked is enqueue with w.mu held.
func (w *World) enqueueLocked(f func()) bool {
	if w.closed {
		return false
	}
	w.queue = append(w.queue, f)
	w.queueCond.Signal()
	return true
}

// runQueue is the runner goroutine. On Close it finishes the work already
// queued, then returns.
func (w *World) runQueue() {
	defer w.tasks.Done()
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.queueCond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		f := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.mu.Unlock()
		f()
	}
}

// after runs f after d unless the world closes first.
func (w *World) after(d time.Duration, f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.timerSeq++
	id := w.timerSeq
	w.tasks.Add(1)
	w.timers[id] = time.AfterFunc(d, func() {
		defer w.tasks.Done()
		w.mu.Lock()
		delete(w.timers, id)
		closed := w.closed
		w.mu.Unlock()
		if !closed {
			f()
		}
	})
}
