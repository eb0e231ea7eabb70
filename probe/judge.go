package probe

import (
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/probe/config"
)

// This file is the one judgement of an incoming message: what it is, which
// probe and list it decides, whether it counts as the list's copy, and
// whether listprobe may delete it. Judge does no I/O and changes nothing;
// serve (Service.onMessage) applies its verdict, explain prints it, so the
// two cannot disagree.

// Incoming is a message as the judgement sees it.
type Incoming struct {
	// Account is the configured account whose mailbox the message arrived
	// in; "" when it is not known (explain).
	Account string
	// Folder is the mailbox folder it arrived in; "" means the account's
	// watched mailbox (INBOX by default).
	Folder string
	// Placement is where it arrived: "" or PlacementInbox for the watched
	// mailbox, PlacementJunk for the account's Junk folder.
	Placement Placement
	Header    mail.Header
	Body      []byte
	// SeenAt is when it was seen: the judgement's "now" (a notice matched
	// by time must come after the probe; a notice limit starts then).
	SeenAt time.Time
	// Auth is the authentication verdict of the message for each list it
	// may concern (its configured address, lower case), computed by the
	// caller with the list's options (AuthLists says for which lists; the
	// checks need DNS). A notice about a list without a verdict here is a
	// hint.
	Auth map[string]*authn.Verdict
}

// Probes is the judgement's read-only view of this process's probes.
type Probes interface {
	// Probe returns this process's probe with this token id, pending or
	// recently finished.
	Probe(id string) (KnownProbe, bool)
	// PendingOf returns the pending probes of a list (its configured
	// address).
	PendingOf(list string) []KnownProbe
	// Restart says which earlier run of this process may have left probes
	// behind: the instance name its tokens' origin was made from and when
	// this run started. ok false: claim none (once, explain).
	Restart() (instance string, started time.Time, ok bool)
}

// KnownProbe is what the judgement needs of one of this process's probes.
type KnownProbe struct {
	ID      string
	Pending bool
	// Signer verifies its token: the key it was signed with, which a
	// reload may have changed since.
	Signer *token.Signer
	// Config is the configuration a pending probe started with; nil for a
	// finished one (the running configuration applies).
	Config *config.Config
	// List is its list (configured address), PosterAccount the account
	// that posted it.
	List, PosterAccount string
	SentAt              time.Time
}

// Signature is explain's summary of a message's probe tokens.
type Signature string

// The values of Signature (explain's "signature").
const (
	SignatureValid     Signature = "valid"
	SignatureInvalid   Signature = "invalid"   // a token does not verify: forged
	SignatureUnchecked Signature = "unchecked" // tokens, but no signing key to check them with
	SignatureAbsent    Signature = "absent"    // no probe token
)

// Trust says whether listprobe can tell that the list's server sent a
// message.
type Trust string

// The values of Trust.
const (
	// TrustAuthenticated: the message may decide an outcome and, when
	// proven listprobe's own, be deleted.
	TrustAuthenticated Trust = "authenticated"
	// TrustHint: shown, never believed (issue 15: an unauthenticated
	// notice, or an unauthenticated copy where copies must be
	// authenticated).
	TrustHint Trust = "hint"
	// TrustUnauthenticated: a copy counted although not authenticated,
	// because its list's server has no way to authenticate copies (a
	// forged copy would count too; trust.go).
	TrustUnauthenticated Trust = "unauthenticated"
)

// Placement is where in the reader's mailbox a message arrived.
type Placement string

// The values of Placement.
const (
	PlacementInbox Placement = "inbox" // the watched mailbox
	// PlacementJunk: the account's Junk folder (SPECIAL-USE \Junk, else
	// its configured name): the reader's filter called it spam.
	PlacementJunk Placement = "junk"
)

// Verdict is what a message is and what listprobe may do with it.
type Verdict struct {
	// Evidence is what the classifier read: kind, manager, list, reason,
	// how a copy carries its probe.
	Evidence checks.Evidence
	// Account is the mailbox account it arrived in; SeenAt when.
	Account string
	SeenAt  time.Time
	// Claimed are the tokens the message carries as they read, unverified,
	// in order (explain shows the first one's probe id).
	Claimed []token.Token
	// Signature sums up the verification of Claimed.
	Signature Signature
	// Forged: a token does not verify. The message is counted as forged
	// and is nothing else.
	Forged bool
	// Probes are the probes the message decides or concerns: those its
	// verified tokens name, or the one a notice naming no probe was
	// matched to by time. Empty when it concerns none.
	Probes []Decided
	// Copy: the message is the list's own copy of every probe it names.
	Copy bool
	// Deletable: proven listprobe's own (the list's copy of, or a notice
	// the list server wrote about, probes that are all this process's),
	// and authenticated. It is deleted once its probes are recorded.
	Deletable bool
	// DeleteNow: deletable, its probes are recorded already, and its
	// account has cleanup: serve deletes it at once.
	DeleteNow bool
	// NoticeLimit are the lists whose poster the list server told "no
	// more notices today" (a notice_limit message in the poster's mailbox).
	NoticeLimit []string
	// NoticeLimitHints are the lists such a message names that it could
	// not be shown to come from (a hint: logged, nothing else).
	NoticeLimitHints []string
	// Trust says whether the message's evidence is believed (trust.go): a
	// copy is judged by its token and header fields; a notice, a bounce
	// or a rejection only when the authentication verdict of the list it
	// concerns says the list's server sent it. Anything else is a hint.
	Trust Trust
	// Auth is the authentication verdict Trust was decided on (the first
	// probe's list); nil when there was none. TrustWhy says, for a hint,
	// why it is not believed.
	Auth     *authn.Verdict
	TrustWhy string
	// Placement is where the message arrived: INBOX or Junk.
	Placement Placement
	// FilterVerdict is the receiving side's spam filter verdict from the
	// message's header (checks.FilterVerdict); "" when it has none.
	FilterVerdict string
	// Why says in a sentence why the message counts or is left alone.
	Why string
}

// Decided is one probe a message decides or concerns.
type Decided struct {
	Token token.Token
	// List is its configured list address and Poster the poster's mail
	// address; "" when the list is not configured here.
	List, Poster string
	// Pending: the evidence goes to this process's pending probe.
	Pending bool
	// Recorded: a finished probe of this process (or of an earlier run,
	// see EarlierRun); its copy may count late and the message may be
	// deleted at once.
	Recorded bool
	// EarlierRun: a probe that an earlier run of this process sent before
	// it restarted; serve claims it as finished (lost) first.
	EarlierRun bool
	// ByTime: the message names no probe and was matched to the only
	// pending probe of its list from this poster by time.
	ByTime bool
	// Late: the list's copy of a recorded probe, in its reader's mailbox:
	// counted as a late delivery if the probe was lost and it was not
	// counted before.
	Late bool
}

// Judge decides what msg is and what listprobe may do with it, from the
// configuration (nil: no signing key, tokens unchecked) and this process's
// probes. It does no I/O: the caller applies the verdict.
func Judge(msg Incoming, cfg *config.Config, probes Probes) Verdict {
	ev := checks.Classify(msg.Header, msg.Body)
	v := Verdict{Evidence: ev, Account: msg.Account, SeenAt: msg.SeenAt, Signature: SignatureAbsent,
		Trust: TrustHint, Placement: msg.Placement, FilterVerdict: checks.FilterVerdict(msg.Header)}
	if v.Placement == "" {
		v.Placement = PlacementInbox
	}
	if !needsAuthn(ev.Kind) {
		v.Trust = TrustAuthenticated
	}
	if ev.Kind == checks.KindNoticeLimit && cfg != nil {
		v.NoticeLimit, v.NoticeLimitHints = splitAuthenticated(noticeLimitLists(cfg, msg.Account, ev), msg.Auth)
	}
	if ev.ByTime && ev.Kind == checks.KindHoldNotice {
		v.matchByTime(cfg, probes)
		v.trust(msg.Auth, cfg)
		return v
	}
	for _, enc := range ev.Tokens {
		if t, err := token.Parse(enc); err == nil {
			v.Claimed = append(v.Claimed, t)
		}
	}
	if ev.Kind == checks.KindUnrelated || len(v.Claimed) == 0 {
		v.Why = "names no probe"
		return v
	}
	if cfg == nil {
		v.Signature, v.Why = SignatureUnchecked, "no signing key to verify its probe tokens with"
		return v
	}
	v.Signature = SignatureValid
	for _, enc := range ev.Tokens {
		d, ok, err := verify(enc, cfg, probes)
		if errors.Is(err, token.ErrForged) {
			v.Signature, v.Forged, v.Probes = SignatureInvalid, true, nil
			v.Why = "a probe token does not verify: forged"
			return v
		}
		if ok {
			v.Probes = append(v.Probes, d)
		}
	}
	v.trust(msg.Auth, cfg)
	v.decide(cfg)
	return v
}

// verify verifies one token with the key of the probe it claims to be (a
// reload may have changed the key since it was sent) and finds its list.
func verify(enc string, cfg *config.Config, probes Probes) (Decided, bool, error) {
	claimed, err := token.Parse(enc)
	if err != nil {
		return Decided{}, false, nil
	}
	known, isKnown := probes.Probe(claimed.ID)
	signer := cfg.Signer()
	if isKnown && known.Signer != nil {
		signer = known.Signer
	}
	tok, err := signer.Verify(enc)
	if err != nil {
		return Decided{}, false, err
	}
	d := Decided{Token: tok, Pending: isKnown && known.Pending, Recorded: isKnown && !known.Pending}
	if !isKnown && fromEarlierRun(cfg, tok, probes) {
		d.Recorded, d.EarlierRun = true, true
	}
	lc := cfg
	if d.Pending && known.Config != nil {
		lc = known.Config
	}
	if l := lc.List(tok.List); l != nil {
		d.List = l.Address
		if a := lc.Accounts[l.Poster]; a != nil {
			d.Poster = a.Address
		}
	}
	return d, true, nil
}

// decide says, once the tokens are verified, whether the message is the
// list's copy, whether it may be deleted, and what it means for each probe.
func (v *Verdict) decide(cfg *config.Config) {
	ev := v.Evidence
	if len(v.Probes) == 0 {
		v.Why = "its probe tokens name no probe"
		return
	}
	// A message that also names a probe that is not this process's
	// (another listprobe's, an old run's) is never deleted: it may be all
	// that process has to go on.
	foreign := false
	// An unauthenticated copy where copies must be authenticated is a
	// hint: not the list's copy until proven, never deleted.
	v.Copy = ev.Kind == checks.KindProbeCopy && v.Trust != TrustHint
	v.Deletable = v.Trust == TrustAuthenticated || v.Trust == TrustUnauthenticated
	for _, d := range v.Probes {
		foreign = foreign || !d.Pending && !d.Recorded
		// A verified token is necessary, not sufficient: a person's
		// forward or reply, a digest, carry one too. Only the list's own
		// copy counts as a delivery, and only what the list server wrote
		// about the probe may be deleted.
		if ev.Kind == checks.KindProbeCopy && !ev.IsCopyOf(d.List, d.Poster) {
			v.Copy, v.Deletable, v.Probes = false, false, nil
			v.Why = "names a probe but is not the list's copy of it (a forward, a reply, a digest): left alone"
			return
		}
		v.Deletable = v.Deletable && ev.Deletable(d.List, d.Poster)
	}
	v.Deletable = v.Deletable && !foreign
	recorded := false
	for i, d := range v.Probes {
		recorded = recorded || d.Recorded
		if l := cfg.List(d.Token.List); d.Recorded && v.Copy && l != nil && l.HasReader(v.Account) {
			v.Probes[i].Late = true
		}
	}
	a := cfg.Accounts[v.Account]
	v.DeleteNow = recorded && v.Deletable && a != nil && a.Cleanup
	switch {
	case foreign:
		v.Why = "names a probe of another process or an earlier run: never deleted"
	case ev.Kind == checks.KindProbeCopy && !v.Copy:
		v.Why = "looks like the list's copy, but its list's copies must be authenticated and this one is " + v.TrustWhy + ": a hint, left alone"
	case v.Copy && v.Placement == PlacementJunk:
		v.Why = "the list's copy of the probe, in the Junk folder: the reader's filter called it spam"
	case v.Copy:
		v.Why = "the list's copy of the probe"
	default:
		v.Why = "written by the list server about the probe"
	}
}

// matchByTime ties a notice that names its list but no probe (Sympa 6.2's
// "forwarded to the moderator(s)") to a probe: only when exactly one probe
// of that list by this poster is pending, sent before the notice came.
// Anything else is ambiguous and left alone; such a notice is never
// deleted.
func (v *Verdict) matchByTime(cfg *config.Config, probes Probes) {
	ev := v.Evidence
	var match KnownProbe
	n := 0
	if cfg != nil {
		for _, l := range cfg.Lists {
			if !strings.EqualFold(l.Address, ev.List) || l.Poster != v.Account {
				continue
			}
			for _, p := range probes.PendingOf(l.Address) {
				if p.PosterAccount == v.Account && !p.SentAt.After(v.SeenAt) {
					match = p
					n++
				}
			}
		}
	}
	if n != 1 {
		v.Why = "a notice that names no probe matches no single pending probe: left alone"
		return
	}
	v.Probes = []Decided{{Token: token.Token{ID: match.ID, List: match.List, SentAt: match.SentAt}, List: match.List, Pending: true, ByTime: true}}
	v.Why = "a notice that names no probe, matched by time to the only pending probe of its list from this poster"
}

// fromEarlierRun reports whether tok is a probe that an earlier run of this
// same process sent before it restarted: made with this process's origin,
// for a list it probes, and sent within that list's timeout before this run
// started. Such a probe's copy is counted late and cleaned up instead of
// being left behind forever.
func fromEarlierRun(cfg *config.Config, tok token.Token, probes Probes) bool {
	instance, started, ok := probes.Restart()
	if !ok {
		return false
	}
	l := cfg.List(tok.List)
	if l == nil {
		return false
	}
	origin, ok := tok.Origin()
	if !ok || origin != cfg.Signer().Origin(instance) {
		return false
	}
	// Token times are whole seconds.
	from := started.Add(-l.EffectiveTimeout(cfg.Global) - 2*time.Second)
	return !tok.SentAt.Before(from) && tok.SentAt.Before(started)
}

// noticeLimitLists are the lists whose poster is account that a "no more
// notices today" message is about (all of them when it names no list).
func noticeLimitLists(cfg *config.Config, account string, ev checks.Evidence) []string {
	var out []string
	for _, l := range cfg.Lists {
		if l.Poster != account || (ev.List != "" && !strings.EqualFold(ev.List, l.Address)) {
			continue
		}
		out = append(out, l.Address)
	}
	return out
}

// noProbes is the view of a process that has sent no probes.
type noProbes struct{}

func (noProbes) Probe(string) (KnownProbe, bool)    { return KnownProbe{}, false }
func (noProbes) PendingOf(string) []KnownProbe      { return nil }
func (noProbes) Restart() (string, time.Time, bool) { return "", time.Time{}, false }

// RecordedProbes is the view in which every probe a message names is a
// recorded probe of this process, signed with the running configuration's
// key: the message judged as serve would once its probe is recorded
// (explain's "deletable").
var RecordedProbes Probes = recordedProbes{}

type recordedProbes struct{ noProbes }

func (recordedProbes) Probe(id string) (KnownProbe, bool) { return KnownProbe{ID: id}, true }
