package mailmanrest_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/testbed"
)

func TestParseQueueFileReadsTimeAndHash(t *testing.T) {
	f, ok := mailmanrest.ParseQueueFile("1796576416.3598344+c0da9d97887afd823a0f733a3c360333e5407709")
	if !ok {
		t.Fatal("a Mailman queue file base did not parse")
	}
	if want := time.Unix(1796576416, 359834400).UTC(); !f.Received.Equal(want) {
		t.Errorf("Received = %s, want %s", f.Received, want)
	}
	if f.Hash != "c0da9d97887afd823a0f733a3c360333e5407709" {
		t.Errorf("Hash = %q", f.Hash)
	}
	if f, ok := mailmanrest.ParseQueueFile("1796576416+c0da9d97887afd823a0f733a3c360333e5407709"); !ok || f.Received.Unix() != 1796576416 {
		t.Errorf("a time without fraction: %+v %v", f, ok)
	}
	for _, bad := range []string{
		"", "1796576416.3+c0da", "../1796576416.3+c0da9d97887afd823a0f733a3c360333e5407709",
		"1796576416.3+c0da9d97887afd823a0f733a3c360333e5407709/../../x", "1796576416.3+C0DA9D97887AFD823A0F733A3C360333E5407709",
		"x+c0da9d97887afd823a0f733a3c360333e5407709", "1796576416.3+c0da9d97887afd823a0f733a3c360333e5407709.pck",
	} {
		if _, ok := mailmanrest.ParseQueueFile(bad); ok {
			t.Errorf("mailmanrest.ParseQueueFile(%q) accepted a name that is not a queue file base", bad)
		}
	}
}

// The expected slices are Mailman 3.3.8's own Switchboard ranges, computed
// with its code (on a boundary Mailman's float arithmetic puts an entry in
// both slices; listprobe's answer is the upper one, one of Mailman's).
func TestQueueFileSliceIsMailmansHashRange(t *testing.T) {
	for _, c := range []struct {
		hash string
		want map[int][]int // slices -> Mailman's slices for the hash
	}{
		{"0000000000000000000000000000000000000000", map[int][]int{2: {0}, 4: {0}, 16: {0}}},
		{"7fffffffffffffffffffffffffffffffffffffff", map[int][]int{2: {0}, 4: {1}, 16: {7}}},
		{"8000000000000000000000000000000000000000", map[int][]int{2: {0, 1}, 4: {1, 2}, 16: {7, 8}}},
		{"ffffffffffffffffffffffffffffffffffffffff", map[int][]int{2: {1}, 4: {3}, 16: {15}}},
		{"3fffffffffffffffffffffffffffffffffffffff", map[int][]int{2: {0}, 4: {0}, 16: {3}}},
		{"c0ffee0000000000000000000000000000000000", map[int][]int{2: {1}, 4: {3}, 16: {12}}},
	} {
		f := mailmanrest.QueueFile{Hash: c.hash}
		for n, want := range c.want {
			got := f.Slice(n)
			found := false
			for _, w := range want {
				found = found || got == w
			}
			if !found {
				t.Errorf("slice of %s among %d = %d, Mailman says %v", c.hash, n, got, want)
			}
		}
		if f.Slice(1) != 0 || f.Slice(0) != 0 {
			t.Errorf("one slice: want 0")
		}
	}
}

// The fixture is a real shunt queue file of Mailman 3.3.8 (a post that a
// list's subject_prefix "[shunt %y] " made its pipeline runner raise on).
func TestQueueFileHasFindsTheMessageIDInMailmansPickle(t *testing.T) {
	dir := filepath.Join("testdata", "mailman-queue")
	f, _ := mailmanrest.ParseQueueFile("1796576416.3598344+c0da9d97887afd823a0f733a3c360333e5407709")
	for id, want := range map[string]bool{
		"<shunttry-123456789@example.test>": true,
		"shunttry-123456789@example.test":   true,
		"<shunttry-12345678@example.test>":  false,
		"<other-123456789@example.test>":    false,
	} {
		got, err := mailmanrest.QueueFileHas(dir, "shunt", f, id)
		if err != nil || got != want {
			t.Errorf("mailmanrest.QueueFileHas(%q) = %v, %v; want %v", id, got, err, want)
		}
	}
	if _, err := mailmanrest.QueueFileHas(dir, "out", f, "<shunttry-123456789@example.test>"); !errors.Is(err, mailmanrest.ErrQueueFileGone) {
		t.Errorf("an entry that left its queue: err = %v, want mailmanrest.ErrQueueFileGone", err)
	}
	if _, err := mailmanrest.QueueFileHas(dir, "shunt", f, "<a@b>"); err == nil {
		t.Error("a Message-ID too short to be unique was looked for")
	}
	// Names from the server never become other paths.
	for _, c := range []struct{ queue, name string }{
		{"../shunt", f.Name}, {"shunt", "../shunt/" + f.Name}, {"shunt/..", f.Name}, {"shunt", "x"},
	} {
		_, err := mailmanrest.QueueFileHas(dir, c.queue, mailmanrest.QueueFile{Name: c.name}, "<shunttry-123456789@example.test>")
		if err == nil || !strings.Contains(err.Error(), "not a queue file name") {
			t.Errorf("mailmanrest.QueueFileHas(%q, %q): err = %v, want it refused", c.queue, c.name, err)
		}
	}
}

// An entry put into the testbed Mailman's bad queue (which no runner
// reads) shows in the REST listing with the time Mailman stamped, and its
// file holds the Message-ID.
func TestMailmanQueuesListAnInjectedEntry(t *testing.T) {
	env := testbed.Load(t)
	testbed.NeedRoot(t) // Mailman's queue directory is the list user's
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	admin := env.MailmanAdmin(t)
	list := env.NewMailmanList(t)
	msgID := "<checks-queue-" + time.Now().Format("150405.000000") + "@example.test>"
	before := time.Now()
	text := "From: member@example.test\nTo: " + list + "\nSubject: queue listing test\nMessage-ID: " + msgID + "\n\nnot for delivery\n"
	if err := admin.InjectQueue(ctx, "bad", list, text); err != nil {
		t.Fatal(err)
	}
	qs, err := c.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *mailmanrest.QueueFile
	names := map[string]bool{}
	for _, q := range qs {
		names[q.Name] = true
		if q.Name != "bad" {
			continue
		}
		if q.Count != len(q.Files) {
			t.Errorf("bad queue: count %d, %d files", q.Count, len(q.Files))
		}
		for i := range q.Files {
			if q.Files[i].Received.After(before.Add(-time.Second)) {
				if ok, err := mailmanrest.QueueFileHas("/var/lib/mailman3/queue", "bad", q.Files[i], msgID); err == nil && ok {
					found = &q.Files[i]
				}
			}
		}
	}
	for _, want := range []string{"in", "pipeline", "out", "virgin", "archive", "shunt", "bad", "retry", "digest"} {
		if !names[want] {
			t.Errorf("the listing has no %s queue: %v", want, names)
		}
	}
	if found == nil {
		t.Fatalf("the injected entry %s is not in the bad queue listing", msgID)
	}
	t.Cleanup(func() { admin.DeleteQueueFile(ctx, "bad", found.Name) })
	if age := time.Since(found.Received); age < -time.Second || age > 30*time.Second {
		t.Errorf("entry stamped %s, %s ago", found.Received, age)
	}
	if err := admin.DeleteQueueFile(ctx, "bad", found.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := mailmanrest.QueueFileHas("/var/lib/mailman3/queue", "bad", *found, msgID); !errors.Is(err, mailmanrest.ErrQueueFileGone) {
		t.Errorf("after DELETE: %v, want mailmanrest.ErrQueueFileGone", err)
	}
}

// A new list has digests on, sent monthly, and never sent; none of its two
// members is disabled by bounces.
func TestMailmanDigestAndBounceDisabledOfANewList(t *testing.T) {
	env := testbed.Load(t)
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	list := env.NewMailmanList(t)
	d, err := c.ListDigest(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Enabled || !d.SendPeriodic || d.Frequency != "monthly" || !d.LastSentAt.IsZero() || d.SizeThresholdKB != 30 {
		t.Errorf("digest of a new list: %+v", d)
	}
	env.SetMailmanListConfig(t, list, map[string]any{"digest_volume_frequency": "daily"})
	if d, err := c.ListDigest(ctx, list); err != nil || d.Frequency != "daily" {
		t.Errorf("after setting daily: %+v, %v", d, err)
	}
	disabled, members, err := c.BounceDisabled(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if disabled != 0 || members != 2 {
		t.Errorf("BounceDisabled = %d of %d, want 0 of 2 (member and reader)", disabled, members)
	}
}
