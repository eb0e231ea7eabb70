package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/probe"
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
}

// The signature verdicts of explain.
const (
	sigValid     = "valid"
	sigInvalid   = "invalid"
	sigUnchecked = "unchecked" // a token, but no signing key to check it with
	sigAbsent    = "absent"
)

func explain(configFile string, files []string, output string, stdout, stderr io.Writer) int {
	var signer *checks.Signer
	if configFile != "" {
		cfg, err := probe.LoadFile(configFile)
		if err != nil {
			fmt.Fprintf(stderr, "listprobe: invalid configuration:\n%v\n", err)
			return exitUsage
		}
		signer = cfg.Signer()
	}
	code := exitOK
	var out []explained
	for _, f := range files {
		e, err := explainFile(f, signer)
		if err != nil {
			fmt.Fprintf(stderr, "listprobe: %v\n", err)
			code = exitUsage
			continue
		}
		out = append(out, e)
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
		if e.List != "" {
			fmt.Fprintf(stdout, " list=%s", e.List)
		}
		if e.ProbeID != "" {
			fmt.Fprintf(stdout, " probe=%s", e.ProbeID)
		}
		fmt.Fprintf(stdout, " signature=%s", e.Signature)
		if e.Reason != "" {
			fmt.Fprintf(stdout, " reason=%q", e.Reason)
		}
		fmt.Fprintln(stdout)
	}
	return code
}

func explainFile(file string, signer *checks.Signer) (explained, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return explained{}, err
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return explained{}, fmt.Errorf("%s: not a mail message: %w", file, err)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return explained{}, fmt.Errorf("%s: %w", file, err)
	}
	ev := checks.Classify(mail.Header{Header: message.Header{Header: h}}, body)
	e := explained{File: file, Kind: string(ev.Kind), Manager: ev.Manager, List: ev.List, Reason: ev.Reason, Signature: sigAbsent}
	if len(ev.Tokens) == 0 {
		return e, nil
	}
	e.Signature = sigUnchecked
	if signer != nil {
		e.Signature = sigValid
	}
	for _, s := range ev.Tokens {
		t, err := checks.ParseToken(s)
		if err != nil {
			continue
		}
		if e.ProbeID == "" {
			e.ProbeID = t.ID
			if e.List == "" {
				e.List = t.List
			}
		}
		if signer != nil {
			if _, err := signer.Verify(s); errors.Is(err, checks.ErrForged) || err != nil {
				e.Signature = sigInvalid
			}
		}
	}
	return e, nil
}
