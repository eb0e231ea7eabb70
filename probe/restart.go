package probe

import (
	"time"

	"github.com/listprobe/listprobe/checks/imapwatch"
)

// claimedLateMargin is how much later than its deadline an earlier run's
// probe's copy must have arrived to count as late: token times and
// INTERNALDATE have one-second resolution, and INTERNALDATE is the
// server's clock.
const claimedLateMargin = 2 * time.Second

// arrivedAt is when a message arrived in its mailbox: its INTERNALDATE
// when the session reported it after the fact (mail that came while
// listprobe was down), and otherwise when the session saw it.
func arrivedAt(msg imapwatch.Message) time.Time {
	if !msg.Arrived.IsZero() {
		return msg.Arrived
	}
	return msg.SeenAt
}
