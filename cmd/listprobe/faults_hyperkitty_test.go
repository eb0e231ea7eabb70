//go:build faults

package main

// HyperKitty is shared by every Mailman list of the testbed, and its
// archiver key is one setting for all of them: a wrong key or a stopped
// HyperKitty stops every list's archiving, so this test is in the fault
// suite, which runs alone (go test -tags faults -p 1 -run TestFault).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
)

// Mailman's archiver and HyperKitty disagree on the API key (HyperKitty
// answers 401), then HyperKitty stops: each time the probe is delivered and
// its archive check ends archive_lost, and Mailman logs that it could not
// archive that very post. With HyperKitty back and the right key, the next
// probe is archived, and mailman-hyperkitty's retry queue (sent before each
// new post) brings the two lost posts into the archive after all.
func TestFaultHyperKittyArchiverBroken(t *testing.T) {
	tb := testbed.Load(t)
	testbed.NeedRoot(t)
	hk := tb.HyperKittyURL(t)
	mailmanLog := tb.Get(t, "MAILMAN_LOG")
	// Whatever happens, HyperKitty runs with the right key afterwards.
	t.Cleanup(func() { tb.HyperKittyCtl(t, "restart") })
	l := newE2EList(t, tb, nil)
	wrong := filepath.Join(t.TempDir(), "wrong-key")
	if err := os.WriteFile(wrong, []byte("not-the-archiver-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, fault := range []struct {
		name string
		ctl  []string
		logs string // what Mailman logs about the post
		up   bool   // HyperKitty answers (and can be asked)
	}{
		{"wrong API key", []string{"restart", "--key-file", wrong}, "Authorization Required", true},
		{"HyperKitty stopped", []string{"stop"}, "Connection to HyperKitty failed", false},
	} {
		t.Run(fault.name, func(t *testing.T) {
			tb.HyperKittyCtl(t, fault.ctl...)
			r := runArchiveProbe(t, l, hk, 15*time.Second, "archive_lost")
			id := strings.Trim(r.MessageID, "<>")
			if fault.up && inHyperKitty(t, hk, l.address, id) {
				t.Fatalf("HyperKitty has %s", id)
			}
			data, err := os.ReadFile(mailmanLog)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			if !strings.Contains(text, "Could not archive the message with id <"+id+">") || !strings.Contains(text, fault.logs) {
				t.Fatalf("%s does not say that Mailman could not archive <%s> (%q)", mailmanLog, id, fault.logs)
			}
			lost = append(lost, id)
		})
	}
	tb.HyperKittyCtl(t, "restart")
	runArchiveProbe(t, l, hk, 30*time.Second, "archived")
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range lost {
		for !inHyperKitty(t, hk, l.address, id) {
			if time.Now().After(deadline) {
				t.Fatalf("HyperKitty does not have %s, lost while it was broken, after it recovered", id)
			}
			time.Sleep(time.Second)
		}
	}
}
