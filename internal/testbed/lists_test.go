package testbed

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/listprobe/listprobe/checks/mailmanrest"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sympaSend reads the send scenario from the list's config file: what
// Sympa reloads and applies.
func sympaSend(t *testing.T, list string) string {
	t.Helper()
	name := list[:strings.IndexByte(list, '@')]
	b, err := os.ReadFile(filepath.Join("/var/lib/sympa/list_data", name, "config"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^send (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no send line in %s's config", list)
	}
	return string(m[1])
}

func TestSympaSwitches(t *testing.T) {
	e := Load(t)
	ctx := testContext(t)
	list := e.NewSympaList(t)
	if got := sympaSend(t, list); got != "public" {
		t.Fatalf("new list: send %s, want public", got)
	}
	for _, step := range []struct {
		set  func() error
		want string
	}{
		{func() error { return e.SympaSetModerated(ctx, list, true) }, "editorkey"},
		{func() error { return e.SympaSetSubscribersOnly(ctx, list, true) }, "privateandeditorkey"},
		{func() error { return e.SympaSetModerated(ctx, list, false) }, "private"},
		{func() error { return e.SympaSetSubscribersOnly(ctx, list, false) }, "public"},
	} {
		if err := step.set(); err != nil {
			t.Fatal(err)
		}
		if got := sympaSend(t, list); got != step.want {
			t.Errorf("send %s, want %s", got, step.want)
		}
	}
	if err := e.SympaSetDMARCProtection(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join("/var/lib/sympa/list_data", list[:strings.IndexByte(list, '@')], "config")
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "\ndmarc_protection\nmode all\n") || sympaSend(t, list) != "public" {
		t.Errorf("dmarc on: config\n%s", b)
	}
	if err := e.SympaSetDMARCProtection(ctx, list, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cfg); strings.Contains(string(b), "dmarc_protection") {
		t.Errorf("dmarc off: config still has it\n%s", b)
	}
	if err := e.SympaSet(ctx, list, "send", "public; rm -rf /"); err == nil || !strings.Contains(err.Error(), "value") {
		t.Errorf("a value with shell syntax: %v, want refused", err)
	}
	if err := e.SympaSetModerated(ctx, "no-such-list@"+e.Get(t, "SYMPA_DOMAIN"), true); err == nil {
		t.Error("moderating a list that does not exist succeeded")
	}
}

func TestMlmmjSwitches(t *testing.T) {
	e := Load(t)
	ctx := testContext(t)
	list := e.NewMlmmjList(t)
	control := filepath.Join(e.Get(t, "MLMMJ_SPOOL"), list[:strings.IndexByte(list, '@')], "control")
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(control, name))
		return err == nil
	}
	if exists("moderated") || exists("subonlypost") || !exists("notifymod") || !exists("smtphelo") {
		t.Fatal("a new list should have notifymod and smtphelo, and be neither moderated nor subscribers-only")
	}
	if err := e.MlmmjSetModerated(ctx, list, true); err != nil || !exists("moderated") {
		t.Errorf("moderated on: %v, file there: %v", err, exists("moderated"))
	}
	if err := e.MlmmjSetSubscribersOnly(ctx, list, true); err != nil || !exists("subonlypost") {
		t.Errorf("subscribers-only on: %v, file there: %v", err, exists("subonlypost"))
	}
	if err := e.MlmmjSetModerated(ctx, list, false); err != nil || exists("moderated") {
		t.Errorf("moderated off: %v, file there: %v", err, exists("moderated"))
	}
	if err := e.MlmmjSetSubscribersOnly(ctx, list, false); err != nil || exists("subonlypost") {
		t.Errorf("subscribers-only off: %v, file there: %v", err, exists("subonlypost"))
	}
	if err := e.MlmmjControl(ctx, list, "maxmailsize", "2000"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(control, "maxmailsize")); string(b) != "2000\n" {
		t.Errorf("maxmailsize %q", b)
	}
	if err := e.MlmmjControl(ctx, list, "../owner", ""); err == nil {
		t.Error("a control name with a path was accepted")
	}
	if err := e.ListCtl(ctx, "mlmmj", "create", "../evil@"+e.Get(t, "MLMMJ_DOMAIN")); err == nil {
		t.Error("a list name with a path was accepted")
	}
}

func TestMailmanAdminRoundTrip(t *testing.T) {
	e := Load(t)
	ctx := testContext(t)
	c := e.MailmanAdmin(t)
	list := "tb-admin-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "") + "@" + e.Get(t, "LIST_DOMAIN")
	if err := c.CreateList(ctx, list); err != nil {
		t.Fatal(err)
	}
	defer c.DeleteList(context.Background(), list)
	if err := c.Subscribe(ctx, list, e.Get(t, "MEMBER"), "member"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetListConfig(ctx, list, map[string]any{"default_member_action": "hold", "emergency": true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ListConfig(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["default_member_action"] != "hold" || cfg["emergency"] != true {
		t.Errorf("config after PATCH: %v %v", cfg["default_member_action"], cfg["emergency"])
	}
	if err := c.SetMemberModeration(ctx, list, e.Get(t, "MEMBER"), "discard"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMemberModeration(ctx, list, e.Get(t, "OUTSIDER"), "discard"); !mailmanrest.IsNotFound(err) {
		t.Errorf("moderating a non-member: %v, want a 404", err)
	}
	if err := c.DeleteList(ctx, list); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListConfig(ctx, list); !mailmanrest.IsNotFound(err) {
		t.Errorf("config of a deleted list: %v, want a 404", err)
	}
	bad := &MailmanAdmin{URL: c.URL, Username: c.Username, Password: "wrong-password-271828"}
	if _, err := bad.ListConfig(ctx, e.Get(t, "LIST")); err == nil || strings.Contains(err.Error(), "wrong-password") || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong password: %v; want a 401 that does not repeat the password", err)
	}
}

// Mailman's DMARC mitigation needs the public suffix list, which the
// testbed reads from Debian's publicsuffix package: without it Mailman
// shunts the post and the reader gets nothing.
func TestMailmanDMARCMungeFromDelivers(t *testing.T) {
	e := Load(t)
	ctx := testContext(t)
	c := e.MailmanAdmin(t)
	local := "tb-dmarc-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	list := local + "@" + e.Get(t, "LIST_DOMAIN")
	if err := c.CreateList(ctx, list); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RetireList(list) })
	for _, who := range []string{"MEMBER", "READER"} {
		if err := c.Subscribe(ctx, list, e.Get(t, who), "member"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetMemberModeration(ctx, list, e.Get(t, who), "accept"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetListConfig(ctx, list, map[string]any{
		"dmarc_mitigate_action": "munge_from", "dmarc_mitigate_unconditionally": true, "admin_immed_notify": false,
	}); err != nil {
		t.Fatal(err)
	}
	subject := "testbed dmarc " + local
	e.Submit(t, "MEMBER", list, []byte("From: "+e.Get(t, "MEMBER")+"\r\nTo: "+list+"\r\nSubject: "+subject+
		"\r\nMessage-ID: <"+local+"@example.test>\r\n\r\nmunge me\r\n"))
	raw := string(e.WaitMessage(t, "READER", &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}},
	}, 60*time.Second))
	if !strings.Contains(raw, "\nFrom: member--- via ") || !strings.Contains(raw, "<"+list+">") {
		t.Errorf("the copy's From is not munged:\n%s", raw)
	}
}

// post sends a small post with a unique subject from account to list and
// returns the subject.
func post(t *testing.T, e Env, account, list, what string) string {
	t.Helper()
	subject := "testbed " + what + " " + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	e.Submit(t, account, list, []byte("From: "+e.Get(t, account)+"\r\nTo: "+list+"\r\nSubject: "+subject+
		"\r\nMessage-ID: <"+strings.ReplaceAll(subject, " ", ".")+"@example.test>\r\n\r\nhello\r\n"))
	return subject
}

func bySubject(s string) *imap.SearchCriteria {
	return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: s}}}
}

// A moderated Sympa list holds the member's post until the moderator
// distributes it; then the reader gets it.
func TestSympaModeratedPostIsDistributedByTheModerator(t *testing.T) {
	e := Load(t)
	ctx := testContext(t)
	list := e.NewSympaList(t)
	if err := e.SympaSetModerated(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	subject := post(t, e, "MEMBER", list, "sympa moderated")
	request := e.WaitMessage(t, "MODERATOR", &imap.SearchCriteria{Text: []string{subject}}, 90*time.Second)
	e.SympaModerate(t, request, "DISTRIBUTE")
	e.WaitMessage(t, "READER", bySubject(subject), 90*time.Second)
}

// A moderated mlmmj list holds the member's post until the moderator
// releases it.
func TestMlmmjModeratedPostIsReleasedByTheModerator(t *testing.T) {
	e := Load(t)
	ctx := testContext(t)
	list := e.NewMlmmjList(t)
	if err := e.MlmmjSetModerated(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	subject := post(t, e, "MEMBER", list, "mlmmj moderated")
	request := e.WaitMessage(t, "MODERATOR", &imap.SearchCriteria{Text: []string{subject}}, 60*time.Second)
	e.MlmmjModerate(t, request, "release")
	e.WaitMessage(t, "READER", bySubject(subject), 60*time.Second)
}
