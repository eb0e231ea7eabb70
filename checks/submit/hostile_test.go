package submit

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailtls"
)

// An SMTP server that answers with a reply without end (one line, which
// go-smtp refuses itself, or endless continuation lines, which it would
// collect) cannot make Send read it into memory: after maxReplyBytes the
// connection is closed and Send fails, naming why. (A scripted server: no real one
// breaks the protocol so.)
func TestSendRefusesAnEndlessReply(t *testing.T) {
	for _, tc := range []struct{ name, before, line string }{
		{"greeting, one line", "", "x"},
		{"greeting, many lines", "", "220-x\r\n"},
		{"EHLO reply, one line", "220 hostile ESMTP\r\n", "x"},
		{"EHLO reply, many lines", "220 hostile ESMTP\r\n", "250-x\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				if tc.before != "" {
					c.Write([]byte(tc.before))
					buf := make([]byte, 512)
					c.Read(buf) // EHLO
				}
				if tc.line == "x" {
					c.Write([]byte("250-"))
				}
				chunk := []byte(strings.Repeat(tc.line, (64<<10)/len(tc.line)))
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = Send(ctx, &Options{Address: ln.Addr().String(), TLS: mailtls.None}, "poster@example.org", []string{"list@lists.example.org"}, []byte("Subject: x\r\n\r\nx\r\n"))
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "more than") && !strings.Contains(err.Error(), "too long a line") {
				t.Fatalf("Send: %v, want the endless reply refused", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("Send allocated %d MiB reading the reply", grew>>20)
			}
		})
	}
}
