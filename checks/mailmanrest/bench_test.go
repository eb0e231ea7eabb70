package mailmanrest_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/internal/testbed"
)

// BenchmarkMailmanTestbedDelivery measures, on the real testbed, the time
// from a post being accepted by Postfix's submission service to the list's
// copy being visible in the reader's IMAP mailbox (polled every 10ms):
// Postfix -> Mailman LMTP -> Mailman's runners -> Postfix -> Dovecot LMTP.
func BenchmarkMailmanTestbedDelivery(b *testing.B) {
	env := testbed.Load(b)
	list := env.NewMailmanList(b)
	reader := testbed.Env(env).Mailbox(b, "READER")
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgID := postToMailmanTestbed(b, env, "MEMBER", list, "checks delivery benchmark")
		accepted := time.Now()
		for {
			uids := testbed.Search(b, reader, &imap.SearchCriteria{
				Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}},
			})
			if len(uids) > 0 {
				break
			}
			if time.Since(accepted) > time.Minute {
				b.Fatalf("copy of %s not delivered within a minute", msgID)
			}
			time.Sleep(10 * time.Millisecond)
		}
		total += time.Since(accepted)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-inbox/op")
}

// BenchmarkMailmanTestbedHold measures the time from a post being accepted
// to its appearance in the list's REST held queue (polled every 10ms).
func BenchmarkMailmanTestbedHold(b *testing.B) {
	env := testbed.Load(b)
	c := env.MailmanClient(b)
	list := env.NewMailmanList(b)
	env.SetMailmanListConfig(b, list, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false, "admin_immed_notify": false})
	ctx := mailmanTestContext(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgID := postToMailmanTestbed(b, env, "MEMBER", list, "checks hold benchmark")
		accepted := time.Now()
	wait:
		for {
			held, err := c.Held(ctx, list)
			if err != nil {
				b.Fatal(err)
			}
			for _, h := range held {
				if h.MessageID == msgID {
					break wait
				}
			}
			if time.Since(accepted) > time.Minute {
				b.Fatalf("%s not held within a minute", msgID)
			}
			time.Sleep(10 * time.Millisecond)
		}
		total += time.Since(accepted)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-held/op")
}

// BenchmarkMailmanTestbedHeldQuery measures one GET of a held queue of 20
// posts, the request listprobe makes per pending probe and poll.
func BenchmarkMailmanTestbedHeldQuery(b *testing.B) {
	env := testbed.Load(b)
	c := env.MailmanClient(b)
	list := env.NewMailmanList(b)
	env.SetMailmanListConfig(b, list, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false, "admin_immed_notify": false})
	var last string
	for i := 0; i < 20; i++ {
		last = postToMailmanTestbed(b, env, "MEMBER", list, "checks held query benchmark")
	}
	testbed.WaitHeld(b, c, list, last)
	ctx := mailmanTestContext(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Held(ctx, list); err != nil {
			b.Fatal(err)
		}
	}
}
