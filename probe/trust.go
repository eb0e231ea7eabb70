package probe

import (
	"context"
	"strings"
	"sync"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/probe/config"
)

// This file says which messages are believed (issue 15). Every subscriber
// sees a probe's Subject, Message-ID and token in its copy, so a message
// that merely looks like the list server's hold notice, rejection or DSN
// proves nothing: anyone can write one. Such a message decides an outcome
// only when its authentication verdict (checks/authn) says the list's
// server sent it:
//
//  1. a DKIM signature that verifies, d= the list's domain or one of its
//     list server's signing_domains;
//  2. an ARC set sealed by such a domain;
//  3. the Authentication-Results of the receiving server the list server's
//     block names (authserv_ids), with dkim=pass or spf=pass for the list
//     domain;
//  4. the Received field that receiving server added, naming one of the
//     list server's hosts.
//
// The Mailman REST held queue (the list manager's own API) is believed as
// it is (mailman.go). With nothing configured, a list gets the first two:
// its own domain's DKIM and ARC, keys looked up with the system's
// resolver. Everything else is a hint: shown, logged, and used only when no
// copy came by the timeout, saying so (probe.go).

// needsAuthn reports whether a message of this kind decides an outcome
// only when authenticated: everything the list server writes about a post.
// The list's copy needs it only where its list server can be told apart
// (trustCopy), and a "no more notices" message decides nothing.
func needsAuthn(k checks.Kind) bool {
	switch k {
	case checks.KindHoldNotice, checks.KindModeratorNotice, checks.KindRejection, checks.KindBounce:
		return true
	}
	return false
}

// splitAuthenticated splits lists into those whose authentication verdict
// says their server sent the message and the others.
func splitAuthenticated(lists []string, auth map[string]*authn.Verdict) (yes, no []string) {
	for _, l := range lists {
		if untrusted(auth[strings.ToLower(l)], l) == "" {
			yes = append(yes, l)
		} else {
			no = append(no, l)
		}
	}
	return yes, no
}

// trust decides the verdict's Trust from the authentication verdicts of
// the lists of its probes: authenticated only when each says the list's
// server sent the message. A copy is judged by trustCopy.
func (v *Verdict) trust(auth map[string]*authn.Verdict, cfg *config.Config) {
	if v.Evidence.Kind == checks.KindProbeCopy {
		v.trustCopy(auth, cfg)
		return
	}
	if !needsAuthn(v.Evidence.Kind) {
		v.Trust = TrustAuthenticated
		return
	}
	v.Trust = TrustHint
	if len(v.Probes) == 0 {
		v.TrustWhy = "not authenticated: it concerns no probe"
		return
	}
	for _, d := range v.Probes {
		a := auth[strings.ToLower(d.List)]
		if v.Auth == nil {
			v.Auth = a
		}
		if why := untrusted(a, d.List); why != "" {
			v.Auth, v.TrustWhy = a, why
			return
		}
	}
	v.Trust = TrustAuthenticated
	v.TrustWhy = "authenticated: " + v.Auth.Reason
}

// trustCopy decides the Trust of a message that looks like the list's copy
// of its probes. Its Message-ID, From, Subject and token are in every
// subscriber's copy, so anyone can send one: where the list's server can
// be told apart (config.CopiesMustAuthenticate), an unauthenticated copy
// is a hint, never a delivery; elsewhere it counts, as
// TrustUnauthenticated, and its result says that a forged copy would
// count too.
func (v *Verdict) trustCopy(auth map[string]*authn.Verdict, cfg *config.Config) {
	v.Trust = TrustAuthenticated
	for _, d := range v.Probes {
		a := auth[strings.ToLower(d.List)]
		if v.Auth == nil {
			v.Auth = a
		}
		why := untrusted(a, d.List)
		if why == "" && cfg != nil {
			why = replayed(a, cfg.AuthnOptions(d.List).ListHosts)
		}
		switch {
		case why == "":
			continue
		case cfg != nil && cfg.CopiesMustAuthenticate(d.List):
			v.Auth, v.Trust, v.TrustWhy = a, TrustHint, why
			return
		case v.Trust == TrustAuthenticated:
			v.Auth, v.Trust = a, TrustUnauthenticated
			v.TrustWhy = "copies unauthenticated: a forged copy would count (" + why + ")"
		}
	}
	if v.Trust == TrustAuthenticated && v.Auth != nil {
		v.TrustWhy = "authenticated: " + v.Auth.Reason
	}
}

// replayed says why a copy whose signature verifies did not come from the
// list server, or "": the receiving server took it in from a host that is
// not one of the list server's hosts (when they are configured). A
// subscriber who resends the copy they got, signature intact, is stopped
// here; without hosts such a replay counts (docs/safety.md).
func replayed(a *authn.Verdict, hosts []string) string {
	h := a.Received
	if len(hosts) == 0 || h == nil || h.Names(hosts) {
		return ""
	}
	who := h.Host
	if h.Address != "" {
		who = strings.TrimSpace(who + " [" + h.Address + "]")
	}
	return "not authenticated: " + a.Reason + ", but " + h.By + " took it in from " + who + ", not from the list server: a replay"
}

// untrusted says why a message is not shown to come from the list's
// server, or "" when it is.
func untrusted(a *authn.Verdict, list string) string {
	switch {
	case list == "":
		return "not authenticated: its list is not configured here"
	case a == nil:
		return "not authenticated: not checked (no whole header to check)"
	case a.Authenticated:
		return ""
	case a.TempError != "":
		// Error-class: DNS said nothing about the message, so it is
		// neither believed nor disbelieved.
		return "could not be authenticated: " + a.Reason
	}
	return "not authenticated: " + a.Reason
}

// AuthLists are the configured lists (addresses) whose authentication
// verdict the judgement of msg needs: the lists a notice's probe tokens
// claim (unverified: Judge verifies them), or the list a notice naming no
// probe names; for a copy, the lists its tokens claim, whose verdict the
// result carries (issue 16). Empty for everything else.
func AuthLists(msg Incoming, cfg *config.Config) []string {
	if cfg == nil {
		return nil
	}
	ev := checks.Classify(msg.Header, msg.Body)
	if !needsAuthn(ev.Kind) && ev.Kind != checks.KindNoticeLimit && ev.Kind != checks.KindProbeCopy {
		return nil
	}
	if ev.Kind == checks.KindNoticeLimit {
		return noticeLimitLists(cfg, msg.Account, ev)
	}
	var out []string
	add := func(addr string) {
		l := cfg.List(addr)
		if l == nil {
			return
		}
		for _, a := range out {
			if strings.EqualFold(a, l.Address) {
				return
			}
		}
		out = append(out, l.Address)
	}
	if ev.ByTime {
		add(ev.List)
	}
	for _, enc := range ev.Tokens {
		if t, err := token.Parse(enc); err == nil {
			add(t.List)
		}
	}
	return out
}

// Authenticate computes the authentication verdicts Judge needs for msg
// (AuthLists) from its whole header and body, with resolver r. With no
// whole header (the mailbox fetched only some fields) it computes none:
// the message can then only be a hint.
func Authenticate(ctx context.Context, msg Incoming, raw authn.Message, cfg *config.Config, r authn.TXTResolver) map[string]*authn.Verdict {
	lists := AuthLists(msg, cfg)
	if len(lists) == 0 || len(raw.Header) == 0 {
		return nil
	}
	out := make(map[string]*authn.Verdict, len(lists))
	for _, l := range lists {
		opts := cfg.AuthnOptions(l)
		opts.Resolver = r
		out[strings.ToLower(l)] = authn.Verify(ctx, raw, &opts)
	}
	return out
}

// resolvers keeps the service's resolver for global.dns, with its cache,
// across reloads that leave global.dns as it was.
type resolvers struct {
	mu   sync.Mutex
	opts authn.ResolverOptions
	r    *authn.Resolver
}

// get returns the resolver of cfg's global.dns; nil (every lookup a
// temporary failure) when it cannot be made, which the configuration's
// validation rules out.
func (x *resolvers) get(cfg *config.Config) *authn.Resolver {
	opts := cfg.Global.ResolverOptions()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.r != nil && x.opts == opts {
		return x.r
	}
	r, err := authn.NewResolver(opts)
	if err != nil {
		return nil
	}
	x.opts, x.r = opts, r
	return r
}

// authnMessage is what the authentication checks get of a mailbox message:
// its whole header and body as fetched.
func authnMessage(m imapwatch.Message) authn.Message {
	return authn.Message{Header: m.RawHeader, Body: m.Body, BodyComplete: m.Body != nil && !m.Truncated,
		HeaderTruncated: m.RawHeaderTruncated}
}
