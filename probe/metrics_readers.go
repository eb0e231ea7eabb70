package probe

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/listprobe/listprobe/probe/config"
)

// readerMetrics is the state of each reader's Junk folder session. The
// per-reader series of lists with several readers are listSeries'
// (readerSeries).
type readerMetrics struct {
	// junkUp is the state of each reader's Junk folder session, for the
	// accounts in junkAccounts (those that watch one).
	junkUp       *prometheus.GaugeVec
	junkAccounts map[string]bool
}

func newReaderMetrics(reg *prometheus.Registry) readerMetrics {
	rm := readerMetrics{
		junkUp:       gaugeVec("listprobe_mailbox_junk_up", "1 while the account's Junk folder session is logged in and watching; 0 while it is not, or the server has no Junk folder. Only for accounts that read lists' copies.", "account"),
		junkAccounts: map[string]bool{},
	}
	reg.MustRegister(rm.junkUp)
	return rm
}

// configureReaders keeps the Junk session series of the accounts that
// watch a Junk folder. Called with Metrics.mu held.
func (rm *readerMetrics) configureReaders(cfg *config.Config) {
	junk := map[string]bool{}
	for name, a := range cfg.Accounts {
		if a.IMAP != nil && junkFolder(cfg, name, a) != "" {
			junk[name] = true
			rm.junkUp.WithLabelValues(name)
		}
	}
	for name := range rm.junkAccounts {
		if !junk[name] {
			rm.junkUp.DeleteLabelValues(name)
		}
	}
	rm.junkAccounts = junk
}

// readerSeries is what one reader of a list with several readers saw of
// the list's last probe. They cost one or two series per list and reader,
// and none for a list with one reader (its list series say it all): the
// reader label's values are the configured account names, at most
// config.MaxReaders per list.
type readerSeries struct {
	reader  string
	outcome Outcome // "": no probe since the list got this reader
	latency float64
	copy    bool // latency is known: the reader saw a copy
}

// setReaders gives a list with several readers a readerSeries each; a
// list whose readers change loses the old ones' series, one with a single
// reader has none. Called with Metrics.mu held.
func (l *listSeries) setReaders(readers []string) {
	if len(readers) < 2 {
		l.readers = nil
		return
	}
	if slices.EqualFunc(l.readers, readers, func(r readerSeries, name string) bool { return r.reader == name }) {
		return
	}
	l.readers = make([]readerSeries, len(readers))
	for i, name := range readers {
		l.readers[i].reader = name
	}
}

// recordReaders sets the per-reader series of a finished probe. Called with
// Metrics.mu held.
func (l *listSeries) recordReaders(r *Result) {
	if len(r.Readers) < 2 {
		return
	}
	for _, rr := range r.Readers {
		// A list with one reader now, or a reader a reload removed: a
		// reload raced the probe.
		i := slices.IndexFunc(l.readers, func(s readerSeries) bool { return s.reader == rr.Reader })
		if i < 0 {
			continue
		}
		s := &l.readers[i]
		s.outcome, s.copy = rr.Outcome, rr.Latency != nil
		if s.copy {
			s.latency = *rr.Latency
		}
	}
}

// JunkUp sets the state of an account's Junk folder session.
func (m *Metrics) JunkUp(account string, up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.junkAccounts[account] {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.junkUp.WithLabelValues(account).Set(v)
}
