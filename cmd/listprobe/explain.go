package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// explained is one line of explain's JSON output.
type explained struct {
	File      string `json:"file"`
	Kind      string `json:"kind"`
	Manager   string `json:"manager"`
	List      string `json:"list"`
	ProbeID   string `json:"probe_id"`
	Signature string `json:"signature"`
	Reason    string `json:"reason"`
	// Copy says how a probe copy carries its probe (message_id, from_list,
	// wrapped); absent for other kinds.
	Copy string `json:"copy,omitempty"`
	// Deletable says whether listprobe would delete the message once its
	// probe is recorded (a copy of the list's probe from its poster, or a
	// notice the list's robots wrote about it). Only with --config.file,
	// for a probe of a configured list whose signature is valid.
	Deletable *bool `json:"deletable,omitempty"`
	// ByTime marks a notice that names its list but no probe (Sympa
	// 6.2.70's "forwarded to the moderator(s)"): listprobe ties it to a
	// probe only by list, poster and time, and never deletes it.
	ByTime bool `json:"by_time,omitempty"`
	// Authenticated says whether the list's server provably sent the
	// message, AuthenticatedBy by which path (dkim, arc, authres,
	// received), AuthReason why or why not, Authentication the per-check
	// verdict (checks/authn). Only with --config.file, whose list servers
	// and DNS say whom to trust.
	Authenticated   *bool         `json:"authenticated,omitempty"`
	AuthenticatedBy string        `json:"authenticated_by,omitempty"`
	AuthReason      string        `json:"authentication_reason,omitempty"`
	Authentication  *authn.Checks `json:"authentication,omitempty"`
	// Placement is the folder the saved message was in, when its path says
	// (placementOf): "junk" for a Junk or Spam folder, where serve would
	// make a copy of a probe junk, never delivered. FilterVerdict is the
	// receiving side's spam filter verdict from its header.
	Placement     string `json:"placement,omitempty"`
	FilterVerdict string `json:"filter_verdict,omitempty"`
}

// maxExplainBytes bounds what explain reads of one message: saved mail is
// rarely over a few megabytes, and a mistaken argument (a disk image) must
// not fill memory.
const maxExplainBytes = 64 << 20

func explain(configFile string, files []string, output string, stdout, stderr io.Writer) int {
	return explainFrom(os.Stdin, configFile, files, output, stdout, stderr)
}

// explainFrom is explain with its standard input, which "-" names.
func explainFrom(stdin io.Reader, configFile string, files []string, output string, stdout, stderr io.Writer) int {
	cfg, resolver, err := loadExplainConfig(configFile)
	if err != nil {
		fmt.Fprintf(stderr, "listprobe: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	code := exitOK
	var out []explained
	unchecked := false
	for _, f := range files {
		if f == "" {
			// kingpin v2 hands the argument "-" over as "" (its lexer
			// drops the value of a lone dash), and no file is named "".
			f = "-"
		}
		raw, err := readMessage(f, stdin)
		var e explained
		if err == nil {
			e, err = explainMessage(f, raw, cfg, resolver)
		}
		if err == nil && cfg != nil {
			authenticate(&e, raw, cfg, resolver)
		}
		if err != nil {
			fmt.Fprintf(stderr, "listprobe: %v\n", err)
			code = exitUsage
			continue
		}
		unchecked = unchecked || e.Signature == string(probe.SignatureUnchecked)
		out = append(out, e)
	}
	if unchecked {
		fmt.Fprintln(stderr, "listprobe: signature=unchecked: give --config.file=FILE to check probe signatures with that configuration's signing key")
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if out == nil {
			out = []explained{}
		}
		enc.Encode(struct {
			Messages []explained `json:"messages"`
		}{out})
		return code
	}
	for _, e := range out {
		fmt.Fprintf(stdout, "%s: %s", e.File, e.Kind)
		if e.Manager != "" {
			fmt.Fprintf(stdout, " (%s)", e.Manager)
		}
		if e.Copy != "" {
			fmt.Fprintf(stdout, " copy=%s", e.Copy)
		}
		if e.List != "" {
			fmt.Fprintf(stdout, " list=%s", e.List)
		}
		if e.ProbeID != "" {
			fmt.Fprintf(stdout, " probe=%s", e.ProbeID)
		}
		if e.ByTime {
			fmt.Fprint(stdout, " probe=none(matched-by-time)")
		}
		fmt.Fprintf(stdout, " signature=%s", e.Signature)
		if e.Deletable != nil {
			fmt.Fprintf(stdout, " deletable=%t", *e.Deletable)
		}
		writeAuthentication(stdout, e)
		writePlacement(stdout, e)
		if e.Reason != "" {
			fmt.Fprintf(stdout, " reason=%q", e.Reason)
		}
		fmt.Fprintln(stdout)
	}
	return code
}

// readMessage reads a saved message from a file, or from stdin for "-".
func readMessage(file string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		r = stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxExplainBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(file), err)
	}
	if len(raw) > maxExplainBytes {
		return nil, fmt.Errorf("%s: not a mail message: larger than %d MiB", displayName(file), maxExplainBytes>>20)
	}
	return raw, nil
}

func displayName(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}

// mailHeaderFields are fields of which every saved message has at least
// one: without any, the input is no mail message.
var mailHeaderFields = []string{"From", "Date", "Message-Id", "Subject", "To", "Received", "Return-Path", "Mime-Version", "Delivered-To", "Sender", "Content-Type"}

// notMail says why raw is not a mail message, in words that never echo
// its bytes (a binary would write garbage to the terminal), or "".
func notMail(raw []byte, h textproto.Header, headerErr error) string {
	head := raw[:min(len(raw), 512)]
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		return "it is empty"
	case bytes.HasPrefix(raw, []byte("\x7fELF")):
		return "it is an ELF executable"
	case bytes.IndexByte(head, 0) >= 0 || binaryShare(head) > 0.1:
		return "it looks like " + http.DetectContentType(raw) + ", not text"
	case headerErr != nil:
		return "its first lines are no header fields"
	}
	for _, k := range mailHeaderFields {
		if h.Has(k) {
			return ""
		}
	}
	return "it has none of the header fields of a mail message (From, Date, Message-ID, Subject...)"
}

// binaryShare is the share of bytes in b that are control characters
// other than line ends and tabs.
func binaryShare(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
			n++
		}
	}
	return float64(n) / float64(len(b))
}

func explainMessage(file string, raw []byte, cfg *config.Config, r *authn.Resolver) (explained, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if why := notMail(raw, h, err); why != "" {
		return explained{}, fmt.Errorf("%s: not a mail message: %s", displayName(file), why)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return explained{}, fmt.Errorf("%s: %w", displayName(file), err)
	}
	// The message judged as serve would once its probe is recorded, in no
	// particular mailbox.
	// A notice is deletable only when authenticated, as in serve.
	in := probe.Incoming{Header: mail.Header{Header: message.Header{Header: h}}, Body: body, Placement: placementOf(file)}
	if cfg != nil && r != nil {
		in.Auth = probe.Authenticate(context.Background(), in, authn.SplitMessage(raw), cfg, r)
	}
	v := probe.Judge(in, cfg, probe.RecordedProbes)
	ev := v.Evidence
	e := explained{File: file, Kind: string(ev.Kind), Manager: ev.Manager, List: ev.List, Reason: ev.Reason, Copy: string(ev.Copy),
		Signature: string(v.Signature), ByTime: ev.ByTime, Placement: string(in.Placement), FilterVerdict: v.FilterVerdict}
	if v.Copy && v.Placement == probe.PlacementJunk {
		e.Reason = v.Why
	}
	if len(v.Claimed) == 0 {
		return e, nil
	}
	first := v.Claimed[0]
	e.ProbeID = first.ID
	if e.List == "" {
		e.List = first.List
	}
	if v.Signature == probe.SignatureValid && cfg.List(first.List) != nil {
		e.Deletable = &v.Deletable
	}
	return e, nil
}

// loadExplainConfig loads the configuration explain was given, if any, and
// its DNS resolver.
func loadExplainConfig(file string) (*config.Config, *authn.Resolver, error) {
	if file == "" {
		return nil, nil, nil
	}
	cfg, err := config.LoadFile(file, nil)
	if err != nil {
		return nil, nil, err
	}
	r, err := authn.NewResolver(cfg.Global.ResolverOptions())
	return cfg, r, err
}

// authenticate adds the verdict of checks/authn: whether the list's server
// sent the message, as serve judges it, with the trust settings of the
// list the message is about (its list_server, or only its domain's
// signatures) and the configuration's DNS.
func authenticate(e *explained, raw []byte, cfg *config.Config, r *authn.Resolver) {
	opts := cfg.AuthnOptions(e.List)
	opts.Resolver = r
	v := authn.Verify(context.Background(), authn.SplitMessage(raw), &opts)
	e.Authenticated, e.AuthenticatedBy, e.AuthReason = &v.Authenticated, string(v.Path), v.Reason
	e.Authentication = &v.Checks
}

// writeAuthentication prints the authentication verdict on explain's text
// line: "authenticated=dkim dkim=pass:lists.example.org spf=none ...".
func writeAuthentication(w io.Writer, e explained) {
	if e.Authenticated == nil {
		return
	}
	by := "no"
	if *e.Authenticated {
		by = e.AuthenticatedBy
	}
	fmt.Fprintf(w, " authenticated=%s", by)
	c := e.Authentication
	for _, check := range []struct {
		name string
		c    authn.Check
	}{{"dkim", c.DKIM}, {"spf", c.SPF}, {"dmarc", c.DMARC}, {"arc", c.ARC}, {"list_id", c.ListID}, {"one_click_unsubscribe", c.OneClickUnsubscribe}} {
		fmt.Fprintf(w, " %s=%s", check.name, check.c.Result)
		if check.c.Domain != "" {
			fmt.Fprintf(w, ":%s", check.c.Domain)
		}
	}
	fmt.Fprintf(w, " auth_reason=%q", e.AuthReason)
}
