package config

import (
	"os"
	"regexp"
	"time"
)

// DefaultRosterRefresh is how often a list's bounce-disabled members and
// digest settings are read: they change slowly, and the count costs
// Mailman a walk over the roster.
const DefaultRosterRefresh = 10 * time.Minute

// DefaultDigestInterval is how often digests go out: Debian's cron job
// runs `mailman digests --periodic` once a day.
const DefaultDigestInterval = 24 * time.Hour

// maxSlices bounds the slices of one queue whose oldest entry is exported
// (a label each).
const maxSlices = 16

// MailmanPipeline is what listprobe reads of a Mailman server's pipeline:
// the keys are inline in the server's entry under mailman:.
type MailmanPipeline struct {
	// QueueDir is Mailman's queue directory (queue_dir in mailman.cfg,
	// e.g. /var/lib/mailman3/queue) when listprobe can read it: on the
	// Mailman host, or a read-only mount. With it, a lost probe's post is
	// found by its Message-ID in the few queue entries the REST listing
	// names (REST lists queue files but cannot show them); without it the
	// reason names the entries that arrived after the probe was sent.
	// Default "": not read.
	QueueDir string `yaml:"queue_dir"`
	// Slices is the number of instances of each runner, as in
	// mailman.cfg's [runner.NAME] instances (a power of two up to 16), so
	// that the oldest entry of each slice is exported and a stuck slice
	// is named. Default 1 for every queue.
	Slices map[string]int `yaml:"slices"`
	// RosterRefresh is how often each list's bounce-disabled members and
	// digest settings are read. Default 10m.
	RosterRefresh Duration `yaml:"roster_refresh"`
	// DigestInterval is how often the server's cron job sends the digests
	// of lists with digest_send_periodic (`mailman digests --periodic`;
	// Debian's /etc/cron.d/mailman3 runs it daily). A digest is overdue
	// once its last one is older than this and a half. Mailman's
	// digest_volume_frequency only numbers volumes. Default 24h.
	DigestInterval Duration `yaml:"digest_interval"`
}

var sliceQueue = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func (m *MailmanPipeline) validate(v *validator, path []any) {
	if m.QueueDir != "" {
		if st, err := os.Stat(m.QueueDir); err != nil || !st.IsDir() {
			v.errorf(join(path, "queue_dir"), "%q is not a directory listprobe can read", m.QueueDir)
		}
	}
	for q, n := range m.Slices {
		switch {
		case !sliceQueue.MatchString(q):
			v.errorf(join(path, "slices"), "%q is not a Mailman queue name", q)
		case n < 1 || n > maxSlices || n&(n-1) != 0:
			v.errorf(join(path, "slices", q), "must be a power of two from 1 to %d, as Mailman requires (got %d)", maxSlices, n)
		}
	}
	if m.RosterRefresh == 0 {
		m.RosterRefresh = Duration(DefaultRosterRefresh)
	}
	if m.DigestInterval == 0 {
		m.DigestInterval = Duration(DefaultDigestInterval)
	}
	if m.DigestInterval < 0 {
		v.errorf(join(path, "digest_interval"), "must be positive")
	}
	if m.RosterRefresh < 0 {
		v.errorf(join(path, "roster_refresh"), "must be positive")
	}
}

// SliceCount returns the number of runner slices of queue (1 unless set).
func (m MailmanPipeline) SliceCount(queue string) int {
	if n := m.Slices[queue]; n > 1 {
		return n
	}
	return 1
}
