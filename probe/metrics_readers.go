package probe

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/listprobe/listprobe/probe/config"
)

// readerMetrics are the per-reader series of lists with several readers.
// They cost one or two series per list and reader, and none for a list
// with one reader (its list series say it all): the reader label's values
// are the configured account names, at most config.MaxReaders per list.
type readerMetrics struct {
	readerOutcome *prometheus.GaugeVec
	readerLatency *prometheus.GaugeVec
	// readerSets is each several-reader list's readers, joined: a list
	// whose readers change loses its old series.
	readerSets map[string]string
	// junkUp is the state of each reader's Junk folder session, for the
	// accounts in junkAccounts (those that watch one).
	junkUp       *prometheus.GaugeVec
	junkAccounts map[string]bool
}

func newReaderMetrics(reg *prometheus.Registry) readerMetrics {
	rm := readerMetrics{
		readerOutcome: gaugeVec("listprobe_reader_last_outcome_info", "Always 1: what one reader of a list with several readers saw of the last probe (delivered, junk, lost, error, or the list's outcome), one series per list and reader.", "list", "reader", "outcome"),
		readerLatency: gaugeVec("listprobe_reader_last_latency_seconds", "Seconds from the post's acceptance by SMTP to its copy seen by one reader of a list with several readers, in INBOX or Junk, in the last probe; absent when that reader saw no copy.", "list", "reader"),
		readerSets:    map[string]string{},
		junkUp:        gaugeVec("listprobe_mailbox_junk_up", "1 while the account's Junk folder session is logged in and watching; 0 while it is not, or the server has no Junk folder. Only for accounts that read lists' copies.", "account"),
		junkAccounts:  map[string]bool{},
	}
	reg.MustRegister(rm.readerOutcome, rm.readerLatency, rm.junkUp)
	return rm
}

// configureReaders forgets the per-reader series of lists that are gone,
// have one reader now, or other readers. Called with Metrics.mu held.
func (rm *readerMetrics) configureReaders(cfg *config.Config) {
	want := map[string]string{}
	for _, l := range cfg.Lists {
		if rs := l.ReaderAccounts(); len(rs) > 1 {
			want[l.Address] = strings.Join(rs, "\x00")
		}
	}
	for l, set := range rm.readerSets {
		if want[l] != set {
			rm.readerOutcome.DeletePartialMatch(prometheus.Labels{"list": l})
			rm.readerLatency.DeletePartialMatch(prometheus.Labels{"list": l})
		}
	}
	rm.readerSets = want
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

// recordReaders sets the per-reader series of a finished probe. Called with
// Metrics.mu held.
func (rm *readerMetrics) recordReaders(r *Result) {
	if len(r.Readers) < 2 {
		return
	}
	set, ok := rm.readerSets[r.List]
	if !ok {
		return // the list has one reader now: a reload raced the probe
	}
	for _, rr := range r.Readers {
		if !slices.Contains(strings.Split(set, "\x00"), rr.Reader) {
			continue // a reader a reload removed
		}
		rm.readerOutcome.DeletePartialMatch(prometheus.Labels{"list": r.List, "reader": rr.Reader})
		rm.readerOutcome.WithLabelValues(r.List, rr.Reader, string(rr.Outcome)).Set(1)
		if rr.Latency != nil {
			rm.readerLatency.WithLabelValues(r.List, rr.Reader).Set(*rr.Latency)
		} else {
			rm.readerLatency.DeleteLabelValues(r.List, rr.Reader)
		}
	}
}
