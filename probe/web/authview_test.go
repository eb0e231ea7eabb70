package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/probe"
)

// A copy whose DMARC fails under the poster's p=reject, whose SPF lookup
// failed, and whose DKIM reason is hostile text from the message.
func failingVerdict() *probe.Authentication {
	return probe.AuthenticationOf(&authn.Checks{
		DKIM:                authn.Check{Result: authn.ResultPass, Domain: "lists.example.org", Reason: "<script>alert(1)</script>"},
		SPF:                 authn.Check{Result: authn.ResultTempError, Domain: "lists.example.org"},
		DMARC:               authn.Check{Result: authn.ResultFail, Domain: "reject-poster.test", Reason: "p=reject and nothing aligns"},
		ARC:                 authn.Check{Result: authn.ResultPass, Domain: "lists.example.org"},
		ListID:              authn.Check{Result: authn.ResultPass, Domain: "users.lists.example.org"},
		OneClickUnsubscribe: authn.Check{Result: authn.ResultNone},
	})
}

func TestResultPageShowsTheCopysAuthentication(t *testing.T) {
	r := &probe.Result{ID: "x", List: "users@lists.example.org", Outcome: probe.Delivered, OK: true, Started: chartStart, Finished: chartStart.Add(2 * time.Second),
		Authentication: failingVerdict()}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, pageView{Result: r, Auth: authViews(r.Authentication)}); err != nil {
		t.Fatal(err)
	}
	table := section(t, b.String(), `<table class="authentication">`, "</table>")
	for _, want := range []string{
		`<tr data-check="dkim"><td>dkim</td><td class="ok">pass</td><td><code>lists.example.org</code></td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>`,
		`<tr data-check="spf"><td>spf</td><td class="muted">none (temperror)</td>`,
		`<tr data-check="dmarc"><td>dmarc</td><td class="bad">fail</td><td><code>reject-poster.test</code></td><td>p=reject and nothing aligns</td></tr>`,
		`<tr data-check="one_click_unsubscribe"><td>one_click_unsubscribe</td><td class="muted">none</td><td><code>–</code></td>`,
	} {
		if !strings.Contains(table, want) {
			t.Errorf("authentication table lacks %q:\n%s", want, table)
		}
	}
	if strings.Count(table, "<tr data-check=") != 6 {
		t.Errorf("want the six checks:\n%s", table)
	}
	b.Reset()
	r.Authentication = nil
	if err := statusTemplate.Execute(&b, pageView{Result: r, Auth: authViews(nil)}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Authentication") {
		t.Error("a result without a verdict shows an authentication table")
	}
}

func TestStatusPageShowsTheLastCopysAuthentication(t *testing.T) {
	last := &probe.Result{ID: "x", List: "users@lists.example.org", Outcome: probe.Delivered, OK: true, Finished: chartStart}
	var b bytes.Buffer
	err := statusTemplate.Execute(&b, pageView{Lists: []listView{{Address: "users@lists.example.org", Last: last, LastDelivered: chartStart, Auth: authViews(failingVerdict())}}})
	if err != nil {
		t.Fatal(err)
	}
	row := section(t, b.String(), "<strong>users@lists.example.org</strong>", "</tr>")
	for _, want := range []string{
		`<span class="check ok" data-check="dkim" title="dkim pass lists.example.org: &lt;script&gt;alert(1)&lt;/script&gt;">dkim pass</span>`,
		`<span class="check bad" data-check="dmarc" title="dmarc fail reject-poster.test: p=reject and nothing aligns">dmarc fail</span>`,
		`<span class="check muted" data-check="one_click_unsubscribe" title="one_click_unsubscribe none –">one_click_unsubscribe none</span>`,
	} {
		if !strings.Contains(row, want) {
			t.Errorf("the list's row lacks %q:\n%s", want, row)
		}
	}
}
