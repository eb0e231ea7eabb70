package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Sympa and mlmmj have no remote API: the testbed changes their lists with
// listctl (deploy/testbed/listctl, installed by up.sh as
// LISTPROBE_TESTBED_LISTCTL), which edits the list's files and runs the
// servers' own commands, the ones deploy/testbed/README.md documents. It
// needs root, like up.sh.

// ListCtl runs listctl with args, e.g. ("sympa", "moderated", list, "on").
// The error carries what listctl printed.
func (e Env) ListCtl(ctx context.Context, args ...string) error {
	path := e[Prefix+"LISTCTL"]
	if path == "" {
		return fmt.Errorf("testbed env has no %sLISTCTL (run deploy/testbed/up.sh again)", Prefix)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("listctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// SympaSetModerated makes every post to list wait for a moderator (Sympa's
// "send editorkey") or not.
func (e Env) SympaSetModerated(ctx context.Context, list string, on bool) error {
	return e.ListCtl(ctx, "sympa", "moderated", list, onOff(on))
}

// SympaSetSubscribersOnly makes list refuse posts from non-subscribers
// (Sympa's "send private") or not.
func (e Env) SympaSetSubscribersOnly(ctx context.Context, list string, on bool) error {
	return e.ListCtl(ctx, "sympa", "subscribers-only", list, onOff(on))
}

// SympaSet sets a one-line list parameter of list, e.g. ("lang", "fr"), and
// makes Sympa read the list's configuration again.
func (e Env) SympaSet(ctx context.Context, list, param, value string) error {
	return e.ListCtl(ctx, "sympa", "set", list, param, value)
}

// SympaSetDMARCProtection makes list rewrite every post's From to the
// list (dmarc_protection mode all: "poster" (via X Mailing List)
// <list@...>, with X-Original-From) or not.
func (e Env) SympaSetDMARCProtection(ctx context.Context, list string, on bool) error {
	return e.ListCtl(ctx, "sympa", "dmarc", list, onOff(on))
}

// MlmmjSetModerated makes every post to list wait for a moderator
// (control/moderated) or not.
func (e Env) MlmmjSetModerated(ctx context.Context, list string, on bool) error {
	return e.ListCtl(ctx, "mlmmj", "moderated", list, onOff(on))
}

// MlmmjSetSubscribersOnly makes list deny posts from non-subscribers
// (control/subonlypost) or not.
func (e Env) MlmmjSetSubscribersOnly(ctx context.Context, list string, on bool) error {
	return e.ListCtl(ctx, "mlmmj", "subscribers-only", list, onOff(on))
}

// MlmmjControl writes list's control file name with value; "" creates an
// empty one (a boolean switched on), "-" removes it. E.g. ("maxmailsize",
// "2000"), ("modnonsubposts", ""), ("tocc", "-").
func (e Env) MlmmjControl(ctx context.Context, list, name, value string) error {
	args := []string{"mlmmj", "control", list, name}
	if value != "" {
		args = append(args, value)
	}
	return e.ListCtl(ctx, args...)
}

// NewSympaList creates a Sympa list of the test's own on the testbed's
// Sympa domain (member and reader subscribed, moderator owner and editor,
// open to every poster) and deletes it when the test ends.
func (e Env) NewSympaList(t testing.TB) string {
	return e.newList(t, "sympa", "SYMPA_DOMAIN")
}

// NewMlmmjList creates an mlmmj list of the test's own on the testbed's
// mlmmj domain (member and reader subscribed, moderator owner and
// moderator, notifymod set, not moderated) and deletes it when the test
// ends.
func (e Env) NewMlmmjList(t testing.TB) string {
	return e.newList(t, "mlmmj", "MLMMJ_DOMAIN")
}

// NeedRoot skips the test unless it runs as root (listctl edits the list
// managers' files as their users), except under CI=true, where it fails:
// CI runs the tests as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but the tests do not run as root: the Sympa and mlmmj helpers need root")
	}
	t.Skip("the Sympa and mlmmj helpers need root (sudo go test ...)")
}

func (e Env) newList(t testing.TB, manager, domainVar string) string {
	t.Helper()
	NeedRoot(t)
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	list := "t-" + hex.EncodeToString(rnd[:]) + "@" + e.Get(t, domainVar)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.ListCtl(ctx, manager, "create", list); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := e.ListCtl(ctx, manager, "delete", list); err != nil {
			t.Errorf("deleting test list: %v", err)
		}
	})
	return list
}

var (
	sympaCommand = regexp.MustCompile(`(?m)^(?:DISTRIBUTE|REJECT) ([a-z0-9][a-z0-9._-]*) ([0-9a-f]{32})\s*$`)
	mlmmjAddress = regexp.MustCompile(`<([a-z0-9][a-z0-9_-]*)\+(release|reject)-([0-9a-f]+)@([a-z0-9.-]+)>`)
)

// SympaModerate answers the Sympa moderation request a moderator received
// (the whole message, as WaitMessage returns it) the way a moderator does:
// a mail from the moderator to sympa@ with the subject "DISTRIBUTE list key"
// or "REJECT list key". action is "DISTRIBUTE" or "REJECT".
func (e Env) SympaModerate(t testing.TB, request []byte, action string) {
	t.Helper()
	if action != "DISTRIBUTE" && action != "REJECT" {
		t.Fatalf("Sympa moderation action %q: want DISTRIBUTE or REJECT", action)
	}
	m := sympaCommand.FindSubmatch(request)
	if m == nil {
		t.Fatal("no DISTRIBUTE or REJECT command in the moderation request")
	}
	robot := "sympa@" + e.Get(t, "SYMPA_DOMAIN")
	cmd := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s %s %s\r\n\r\n", e.Get(t, "MODERATOR"), robot, action, m[1], m[2])
	e.Submit(t, "MODERATOR", robot, []byte(cmd))
}

// MlmmjModerate answers an mlmmj moderation request the way a moderator
// does: a mail to the request's list+release-COOKIE@ or list+reject-COOKIE@
// address. action is "release" or "reject" (mlmmj tells the sender nothing
// of a rejection).
func (e Env) MlmmjModerate(t testing.TB, request []byte, action string) {
	t.Helper()
	for _, m := range mlmmjAddress.FindAllSubmatch(request, -1) {
		if string(m[2]) != action {
			continue
		}
		to := fmt.Sprintf("%s+%s-%s@%s", m[1], m[2], m[3], m[4])
		e.Submit(t, "MODERATOR", to, []byte("From: "+e.Get(t, "MODERATOR")+"\r\nTo: "+to+"\r\nSubject: "+action+"\r\n\r\n"))
		return
	}
	t.Fatalf("no +%s- address in the mlmmj moderation request", action)
}

// SympaSubscribe adds address to list as a member, e.g. a +detail address
// of the reader's whose copies a test holds (HoldCopies) without holding
// anyone else's.
func (e Env) SympaSubscribe(ctx context.Context, list, address string) error {
	return e.ListCtl(ctx, "sympa", "subscribe", list, address)
}

// MlmmjSubscribe adds address to list as a member.
func (e Env) MlmmjSubscribe(ctx context.Context, list, address string) error {
	return e.ListCtl(ctx, "mlmmj", "subscribe", list, address)
}
