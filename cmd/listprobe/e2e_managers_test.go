package main

// End-to-end tests of listprobe against the testbed's real Sympa 6.2.70
// and mlmmj 1.3.0 (deploy/testbed/README.md): each test makes lists of its
// own with internal/testbed's helpers, changes their settings the way the
// README documents, and runs `listprobe once` on them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/internal/testbed"
)

// listManagerCase is what a test needs to know of one list manager on the
// testbed.
type listManagerCase struct {
	name          string
	newList       func(tb testbed.Env, t *testing.T) string
	setModerated  func(tb testbed.Env, ctx context.Context, list string, on bool) error
	setSubsOnly   func(tb testbed.Env, ctx context.Context, list string, on bool) error
	heldReasons   []string // the held reason contains one of these
	subsOnlyWords string   // the reason of a non-subscriber's refusal contains these
}

var sympaCase = listManagerCase{
	name:         "sympa",
	newList:      func(tb testbed.Env, t *testing.T) string { return tb.NewSympaList(t) },
	setModerated: testbed.Env.SympaSetModerated,
	setSubsOnly:  testbed.Env.SympaSetSubscribersOnly,
	// The moderator's request carries the post (it names the probe); the
	// poster's notice names only the list, and counts once the probe
	// layer matches it by time.
	heldReasons:   []string{"to be approved", "has been forwarded to the moderator(s)"},
	subsOnlyWords: "Message distribution in the list is restricted to list subscribers.",
}

var mlmmjCase = listManagerCase{
	name:          "mlmmj",
	newList:       func(tb testbed.Env, t *testing.T) string { return tb.NewMlmmjList(t) },
	setModerated:  testbed.Env.MlmmjSetModerated,
	setSubsOnly:   testbed.Env.MlmmjSetSubscribersOnly,
	heldReasons:   []string{"because this is a moderated list"},
	subsOnlyWords: "because you are not a list subscriber",
}

// managerConfig writes a listprobe config for list, posted to by the
// testbed account poster ("MEMBER", "OUTSIDER") and read by reader;
// moderator ("" for none) is watched too. Every account cleans up.
func managerConfig(t *testing.T, tb testbed.Env, list, poster, reader, moderator string, timeout time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.key")
	if err := os.WriteFile(key, []byte("e2e-managers-signing-key-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dns, _, _ := evidenceConfig(t, tb)
	fmt.Fprintf(&b, "global:\n  schedule: \"@every 1h\"\n  timeout: %s\n  signing_key_file: %s\n  poll_interval: 1s\n%saccounts:\n", timeout, key, dns)
	seen := map[string]bool{}
	account := func(who string, smtp bool) {
		if who == "" || seen[who] {
			return
		}
		seen[who] = true
		fmt.Fprintf(&b, "  %s:\n    address: %s\n    cleanup: true\n", strings.ToLower(who), tb.Get(t, who))
		if smtp {
			fmt.Fprintf(&b, "    smtp: { address: %q, tls: starttls, ca_file: %s, auth: plain, username: %s, password_file: %s }\n", tb.Get(t, "SMTP"), tb.Get(t, "CA_FILE"), tb.Get(t, who), tb.Get(t, who+"_PASSWORD_FILE"))
		}
		fmt.Fprintf(&b, "    imap: { address: %q, tls: starttls, ca_file: %s, username: %s, password_file: %s }\n", tb.Get(t, "IMAP"), tb.Get(t, "CA_FILE"), tb.Get(t, who), tb.Get(t, who+"_PASSWORD_FILE"))
	}
	account(poster, true)
	account(reader, false)
	account(moderator, false)
	fmt.Fprintf(&b, "lists:\n  - address: %s\n    poster: %s\n    reader: %s\n", list, strings.ToLower(poster), strings.ToLower(reader))
	if moderator != "" {
		fmt.Fprintf(&b, "    moderator: %s\n", strings.ToLower(moderator))
	}
	file := filepath.Join(dir, "listprobe.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// onceManaged runs `listprobe once` on a config of managerConfig's.
func onceManaged(t *testing.T, file string) (int, onceResult) {
	t.Helper()
	l := &e2eList{}
	return l.once(t, file)
}

func wantManaged(t *testing.T, code int, r onceResult, outcome string, reasons ...string) {
	t.Helper()
	ok := len(reasons) == 0
	for _, reason := range reasons {
		ok = ok || strings.Contains(r.Reason, reason)
	}
	if r.Outcome != outcome || !ok {
		t.Fatalf("outcome %s (reason %q, evidence %q), want %s with a reason containing one of %q", r.Outcome, r.Reason, r.Evidence, outcome, reasons)
	}
	wantCode := 0
	if outcome != "delivered" {
		wantCode = 1
	}
	if code != wantCode {
		t.Errorf("once exited %d for %s, want %d", code, outcome, wantCode)
	}
}

func TestE2ESympaIncidentAndRecovery(t *testing.T) { e2eIncidentAndRecovery(t, sympaCase) }
func TestE2EMlmmjIncidentAndRecovery(t *testing.T) { e2eIncidentAndRecovery(t, mlmmjCase) }

// A healthy list delivers; the incident (the list made moderated) holds
// the probe with the server's reason and once exits 1; restoring the
// setting makes the next probe delivered. Delivered copies are cleaned up.
func e2eIncidentAndRecovery(t *testing.T, mc listManagerCase) {
	tb := testbed.Load(t)
	ctx := context.Background()
	list := mc.newList(tb, t)
	file := managerConfig(t, tb, list, "MEMBER", "READER", "MODERATOR", 60*time.Second)
	reader := tb.Mailbox(t, "READER")

	code, r := onceManaged(t, file)
	wantManaged(t, code, r, "delivered")
	waitUntil(t, 30*time.Second, "the delivered copy cleaned up", func() bool { return len(imapSearch(t, reader, r.MessageID)) == 0 })

	if err := mc.setModerated(tb, ctx, list, true); err != nil {
		t.Fatal(err)
	}
	code, r = onceManaged(t, file)
	wantManaged(t, code, r, "held", mc.heldReasons...)
	if !strings.HasPrefix(r.Evidence, mc.name+" ") {
		t.Errorf("evidence %q does not name the list manager %s", r.Evidence, mc.name)
	}
	// The notice that decided names the probe and comes from the list's
	// robot: cleanup deletes it.
	if m := reEvidenceAccount.FindStringSubmatch(r.Evidence); m == nil {
		t.Errorf("evidence %q names no mailbox", r.Evidence)
	} else {
		box := tb.Mailbox(t, strings.ToUpper(m[1]))
		id := strings.Trim(r.MessageID, "<>")
		id = id[:strings.IndexByte(id, '@')]
		waitUntil(t, 30*time.Second, "the notice in "+m[1]+"'s mailbox cleaned up", func() bool {
			return len(testbed.Search(t, box, &imap.SearchCriteria{Text: []string{id}, NotFlag: []imap.Flag{imap.FlagDeleted}})) == 0
		})
	}

	if err := mc.setModerated(tb, ctx, list, false); err != nil {
		t.Fatal(err)
	}
	code, r = onceManaged(t, file)
	wantManaged(t, code, r, "delivered")
}

func TestE2ESympaNonSubscriberRefused(t *testing.T) { e2eNonSubscriber(t, sympaCase, "rejected") }
func TestE2EMlmmjNonSubscriberRefused(t *testing.T) { e2eNonSubscriber(t, mlmmjCase, "rejected") }

// A subscribers-only list posted to by a non-member (the testbed's
// outsider): Sympa refuses it with a delivery status notification, mlmmj
// with its "denied" notice; both are rejections with the server's reason.
func e2eNonSubscriber(t *testing.T, mc listManagerCase, outcome string) {
	tb := testbed.Load(t)
	list := mc.newList(tb, t)
	if err := mc.setSubsOnly(tb, context.Background(), list, true); err != nil {
		t.Fatal(err)
	}
	code, r := onceManaged(t, managerConfig(t, tb, list, "OUTSIDER", "READER", "", 60*time.Second))
	wantManaged(t, code, r, outcome, mc.subsOnlyWords)
	if !strings.HasPrefix(r.Evidence, mc.name+" ") {
		t.Errorf("evidence %q does not name the list manager %s", r.Evidence, mc.name)
	}
}

// mlmmj with modnonsubposts holds a non-subscriber's post for the
// moderators instead of denying it, and tells the poster so.
func TestE2EMlmmjNonSubscriberHeld(t *testing.T) {
	tb := testbed.Load(t)
	ctx := context.Background()
	list := tb.NewMlmmjList(t)
	if err := tb.MlmmjSetSubscribersOnly(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.MlmmjControl(ctx, list, "modnonsubposts", ""); err != nil {
		t.Fatal(err)
	}
	code, r := onceManaged(t, managerConfig(t, tb, list, "OUTSIDER", "READER", "", 60*time.Second))
	wantManaged(t, code, r, "held", "because you are not a subscriber")
	if !strings.Contains(r.Evidence, "mlmmj hold notice in outsider's mailbox") {
		t.Errorf("evidence %q, want mlmmj's hold notice to the poster", r.Evidence)
	}
}

// Neither Sympa nor mlmmj has a moderation queue that can be read remotely:
// a moderated mlmmj list that does not tell the poster (no notifymod), with
// no moderator mailbox configured, is a silent hold, and listprobe can only
// say that nothing came.
func TestE2EMlmmjSilentHoldIsLost(t *testing.T) {
	tb := testbed.Load(t)
	ctx := context.Background()
	list := tb.NewMlmmjList(t)
	if err := tb.MlmmjSetModerated(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.MlmmjControl(ctx, list, "notifymod", "-"); err != nil {
		t.Fatal(err)
	}
	code, r := onceManaged(t, managerConfig(t, tb, list, "MEMBER", "READER", "", 15*time.Second))
	wantManaged(t, code, r, "lost", "no copy and no evidence")
}

func TestE2ESympaCleanupLeavesPeoplesMail(t *testing.T) { e2eCleanupLeavesPeoplesMail(t, sympaCase) }
func TestE2EMlmmjCleanupLeavesPeoplesMail(t *testing.T) { e2eCleanupLeavesPeoplesMail(t, mlmmjCase) }

var reEvidenceAccount = regexp.MustCompile(`in (\w+)'s mailbox`)
var reMessageIDField = regexp.MustCompile(`(?im)^Message-ID:\s*(<[^>\s]+>)`)
var reSubjectField = regexp.MustCompile(`(?im)^Subject:\s*(.+)$`)

// Cleanup deletes only what is listprobe's own. listprobe's reader here is
// the outsider, who is not subscribed: the list's real copy goes to the
// testbed's reader, and while listprobe waits the test sends the outsider
// an ordinary message, a person's forward of that copy (the probe attached,
// its subject under "Fwd:") and a redirect of it (the copy as it was, with
// its From and Message-ID, plus Resent-* fields, as mail clients "bounce"
// a message). None of them is the list's copy to the outsider: the probe
// ends lost, and all three stay, unread.
func e2eCleanupLeavesPeoplesMail(t *testing.T, mc listManagerCase) {
	tb := testbed.Load(t)
	list := mc.newList(tb, t)
	file := managerConfig(t, tb, list, "MEMBER", "OUTSIDER", "", 25*time.Second)
	type result struct {
		code int
		r    onceResult
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCmd(t, "once", "--config.file="+file, "--output=json", "--log.level=warn")
		done <- result{code, decodeOnce(t, out, errOut, code)}
	}()

	copyRaw := tb.WaitMessage(t, "READER", &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "listprobe delivery test"}},
		Text:   []string{list},
	}, 20*time.Second)
	idm := reMessageIDField.FindSubmatch(copyRaw)
	subj := reSubjectField.FindSubmatch(copyRaw)
	if idm == nil || subj == nil {
		t.Fatalf("the list's copy has no Message-ID or Subject:\n%s", copyRaw)
	}
	probeID, probeSubject := string(idm[1]), strings.TrimSpace(string(subj[1]))
	readerAddr, outsider := tb.Get(t, "READER"), tb.Get(t, "OUTSIDER")
	now := time.Now()
	ordinaryID := fmt.Sprintf("<ordinary-%d@example.test>", now.UnixNano())
	forwardID := fmt.Sprintf("<forward-%d@example.test>", now.UnixNano())
	resentID := fmt.Sprintf("<resent-%d@example.test>", now.UnixNano())
	date := now.Format(time.RFC1123Z)
	ordinary := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: lunch?\r\nMessage-ID: %s\r\nDate: %s\r\n\r\nAn ordinary message.\r\n", readerAddr, outsider, ordinaryID, date)
	forward := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Fwd: %s\r\nMessage-ID: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=fwd\r\n\r\n--fwd\r\nContent-Type: text/plain\r\n\r\nWhat is this?\r\n"+
		"--fwd\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--fwd--\r\n", readerAddr, outsider, probeSubject, forwardID, date, crlf(copyRaw))
	redirect := fmt.Sprintf("Resent-From: %s\r\nResent-To: %s\r\nResent-Date: %s\r\nResent-Message-ID: %s\r\n", readerAddr, outsider, date, resentID) + crlf(copyRaw)
	for _, msg := range []string{ordinary, forward, redirect} {
		tb.Submit(t, "READER", outsider, []byte(msg))
	}
	res := <-done
	wantManaged(t, res.code, res.r, "lost", "no copy and no evidence")

	box := tb.Mailbox(t, "OUTSIDER")
	for what, id := range map[string]string{"ordinary message": ordinaryID, "forward": forwardID, "redirect": probeID} {
		uids := imapSearch(t, box, id)
		if len(uids) != 1 {
			t.Errorf("the %s (%s): %d in the outsider's INBOX, want 1 (left alone)", what, id, len(uids))
			continue
		}
		msgs, err := box.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("fetching the flags of the %s: %v", what, err)
		}
		for _, f := range msgs[0].Flags {
			if f == imap.FlagSeen || f == imap.FlagDeleted {
				t.Errorf("the %s is flagged %s", what, f)
			}
		}
	}
}

// decodeOnce reads the one result of `once --output=json`.
func decodeOnce(t *testing.T, out, errOut string, code int) onceResult {
	var doc struct{ Results []onceResult }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Errorf("once: exit %d, %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
		return onceResult{}
	}
	t.Logf("once: exit %d: %+v", code, doc.Results[0])
	return doc.Results[0]
}

// crlf gives raw CRLF line ends (IMAP returns them; a message built around
// it must not mix).
func crlf(raw []byte) string {
	return string(bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
}

// Sympa 6.2.70's notice to the poster ("Your message to the list 'X' has
// been forwarded to the moderator(s)") names no probe: with no moderator
// mailbox to read the request from, it is the only evidence of the hold,
// tied to the probe by list, poster and time (Evidence.ByTime). It is never
// deleted, since nothing in it proves which post it is about.
func TestE2ESympaHoldNoticeMatchedByTime(t *testing.T) {
	tb := testbed.Load(t)
	list := tb.NewSympaList(t)
	if err := tb.SympaSetModerated(context.Background(), list, true); err != nil {
		t.Fatal(err)
	}
	code, r := onceManaged(t, managerConfig(t, tb, list, "MEMBER", "READER", "", 60*time.Second))
	wantManaged(t, code, r, "held", "has been forwarded to the moderator(s)")
	if !strings.Contains(r.Evidence, "by time") {
		t.Errorf("evidence %q does not say the match was by time", r.Evidence)
	}
	member := tb.Mailbox(t, "MEMBER")
	local := list[:strings.IndexByte(list, '@')]
	notice := &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "sympa@"}},
		Text:   []string{local},
	}
	time.Sleep(5 * time.Second) // give a wrong cleanup the time to happen
	if n := len(testbed.Search(t, member, notice)); n != 1 {
		t.Errorf("%d of Sympa's notices to the poster left, want 1: one that names no probe is never deleted", n)
	}
}

// A Sympa list that speaks French: the hold and the refusal are found the
// same, with Sympa's French sentence as the reason.
func TestE2ESympaFrench(t *testing.T) {
	tb := testbed.Load(t)
	ctx := context.Background()
	list := tb.NewSympaList(t)
	if err := tb.SympaSet(ctx, list, "lang", "fr"); err != nil {
		t.Fatal(err)
	}
	if err := tb.SympaSetModerated(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	code, r := onceManaged(t, managerConfig(t, tb, list, "MEMBER", "READER", "MODERATOR", 60*time.Second))
	wantManaged(t, code, r, "held", "Message à modérer de "+tb.Get(t, "MEMBER")+" pour la liste", "a été transmis au(x) modérateur(s)")

	if err := tb.SympaSetModerated(ctx, list, false); err != nil {
		t.Fatal(err)
	}
	if err := tb.SympaSetSubscribersOnly(ctx, list, true); err != nil {
		t.Fatal(err)
	}
	code, r = onceManaged(t, managerConfig(t, tb, list, "OUTSIDER", "READER", "", 60*time.Second))
	wantManaged(t, code, r, "rejected", "La diffusion de messages dans la liste est réservée aux abonnés.")
}
