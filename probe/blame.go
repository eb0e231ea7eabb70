package probe

import (
	"errors"
	"fmt"
	"time"

	"github.com/listprobe/listprobe/checks/imapwatch"
)

// maxStallGrace bounds how long a command of the reader's session may wait
// for its answer at a probe's deadline before the probe blames the reader
// rather than the list: a healthy server answers NOOP in milliseconds and a
// batch of headers in well under a second.
const maxStallGrace = 5 * time.Second

// readerBlind reports whether the reader's session could not have seen the
// copy by a probe's deadline, and why: it is down, or a command of it has
// waited for the server's answer longer than a quarter of the probe's
// timeout (at most maxStallGrace). Such a probe is error ("reader mailbox
// stopped answering"), never lost: the list is not to blame for what
// listprobe could not read.
func readerBlind(reader *accountSession, timeout time.Duration) (why string, blind bool) {
	up, _, err := reader.State()
	if up {
		stalled := reader.box.Stalled()
		if stalled <= min(maxStallGrace, timeout/4) {
			return junkBlind(reader)
		}
		return fmt.Sprintf("reader mailbox %s at %s stopped answering: a command has had no answer for %s", reader.address, reader.server, stalled.Round(100*time.Millisecond)), true
	}
	if errors.Is(err, imapwatch.ErrNoAnswer) {
		return fmt.Sprintf("reader mailbox %s stopped answering: %s", reader.address, readable(err.Error())), true
	}
	why = fmt.Sprintf("reader mailbox %s was unreachable at the deadline", reader.address)
	if err != nil {
		why += ": " + readable(err.Error())
	}
	return why, true
}
