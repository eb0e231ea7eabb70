package probe

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// BenchmarkProbe measures one delivered probe end to end through the
// sandbox (compose, sign, SMTP, list simulator, IMAP IDLE, classify, verify)
// and shows that its cost does not grow with the size of the reader's
// mailbox or with the number of lists probed at once.
func BenchmarkProbe(b *testing.B) {
	for _, tc := range []struct{ mailbox, lists int }{{0, 1}, {2000, 1}, {0, 20}} {
		b.Run(fmt.Sprintf("mailbox=%d/lists=%d", tc.mailbox, tc.lists), func(b *testing.B) {
			var lists []sandbox.List
			for i := range tc.lists {
				lists = append(lists, sandbox.List{Address: fmt.Sprintf("l%d@lists.example.org", i), Policy: sandbox.Deliver})
			}
			w := startTestWorld(b, sandbox.Options{Lists: lists})
			for i := range tc.mailbox {
				raw := fmt.Sprintf("From: friend@example.org\r\nSubject: old mail %d\r\nMessage-ID: <old-%d@example.org>\r\n\r\nhello\r\n", i, i)
				if err := w.Append(testReader, []byte(raw)); err != nil {
					b.Fatal(err)
				}
			}
			cfg := w.Config(b, time.Minute, lists, nil)
			rt := startRuntime(b, cfg)
			b.ResetTimer()
			for b.Loop() {
				var wg sync.WaitGroup
				for _, l := range rt.Config().Lists {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if r := probeList(b, rt, l.Address); r.Outcome != Delivered {
							b.Errorf("%s: %s %s", l.Address, r.Outcome, r.Reason)
						}
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*tc.lists), "µs/probe")
		})
	}
}
