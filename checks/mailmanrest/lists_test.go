package mailmanrest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// Pages of /lists end where Mailman's total says, and a list's policy is
// read from its configuration.
func TestListsPagesAndPolicy(t *testing.T) {
	opts := sandbox.Options{Accounts: []sandbox.Account{{Address: "probe@example.org", Password: "pw"}}}
	for i := range 205 {
		opts.Lists = append(opts.Lists, sandbox.List{Address: fmt.Sprintf("l%03d@Lists.Example.org", i), Policy: sandbox.Deliver})
	}
	opts.Lists[7].Policy = sandbox.Hold
	opts.Lists[7].Emergency = true
	w, err := sandbox.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c := mailmanrest.New(mailmanrest.Options{URL: w.MailmanURL, Username: w.MailmanUsername, Password: w.MailmanPassword})
	defer c.CloseIdleConnections()
	ctx := context.Background()
	var all []string
	for page := 1; page <= 3; page++ {
		lists, total, skipped, err := c.ListsPage(ctx, page, 100)
		if err != nil {
			t.Fatal(err)
		}
		if total != 205 || skipped != 0 {
			t.Fatalf("page %d: total %d, skipped %d", page, total, skipped)
		}
		all = append(all, lists...)
	}
	if len(all) != 205 || all[0] != "l000@lists.example.org" || all[204] != "l204@lists.example.org" {
		t.Fatalf("%d lists from %q to %q", len(all), all[0], all[len(all)-1])
	}
	if _, _, _, err := c.ListsPage(ctx, 0, 100); err == nil {
		t.Error("page 0 asked for")
	}
	p, err := c.Policy(ctx, "l007@lists.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultMemberAction != "hold" || !p.Emergency {
		t.Errorf("policy %+v, want hold with emergency", p)
	}
	if _, err := c.Policy(ctx, "nosuch@lists.example.org"); !mailmanrest.IsNotFound(err) {
		t.Errorf("a missing list: %v, want a 404", err)
	}
}
