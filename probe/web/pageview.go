package web

import (
	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"

	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The status page's view: everything the template shows, computed here so
// that the template only lays it out and html/template escapes every value.

type pageView struct {
	Lists      []listView
	Nav        *navView // the filter and pages of the index; nil on other pages
	Single     bool     // one list's page
	Mailboxes  []sessionView
	Result     *probe.Result
	Hops       []hopView
	Auth       []authView // the probe's copy's authentication verdict
	ConfigFile string
	Loaded     string
	Error      string
}

type listView struct {
	Address       string
	Expect        probe.Outcome
	Last          *probe.Result
	Recent        []*probe.Result
	LastDelivered time.Time
	// Auth is the last delivered copy's authentication verdict.
	Auth        []authView
	NoticeLimit string
	Late        int
	Chart       Chart
	// NoProbe says why the list has no result yet; Bad when that is a
	// problem (its reader mailbox is down) rather than a matter of time.
	NoProbe    string
	NoProbeBad bool
	// Why explains a failing list, or a list whose probes are bound to
	// fail; nil when there is nothing to explain.
	Why *whyView
}

// whyView is what the list server and listprobe's own sessions say about a
// list: the settings that explain a failure, the probe accounts'
// membership, and the mailboxes the probe needs that are not up.
type whyView struct {
	Mailboxes []sessionView // the list's mailboxes that are down
	Mailman   *mailmanView
	// Hint says where to look when listprobe reads nothing that explains
	// a failure.
	Hint string
}

type mailmanView struct {
	Server   string // the name of the mailman: entry
	Up       bool
	Since    string // since when the settings (or the outage) have been seen
	Settings []settingView
	Members  []memberView // empty when Mailman's answer did not include them
}

// settingView is one setting of the list server and what it means for the
// probes; Bad marks the settings that explain a failure.
type settingView struct {
	Name, Value, Note string
	Bad               bool
}

type memberView struct {
	Role    string // poster or reader
	Address string
	Items   []settingView
}

// sessionView is the state of an account's mailbox session.
type sessionView struct {
	Account string
	Address string
	Uses    string // what the lists use it for
	State   string // up, down, connecting; none without an IMAP server
	Up      bool
	Since   string
	Err     string
	// Junk is the state of its Junk folder session (readers only); ""
	// when it watches none.
	Junk    string
	JunkBad bool
}

// hopView is one hop of a probe copy's Received chain.
type hopView struct {
	N                     int // from 1
	By, With, At, Seconds string
}

const pageTime = "2006-01-02 15:04:05 MST"

// page builds the status page of the lists given (a page of the
// running configuration's lists, see index).
func (h *handler) page(cfg *config.Config, lists []*config.ListConfig) pageView {
	var v pageView
	if cfg == nil {
		v.Error = "no configuration loaded yet"
		return v
	}
	v.ConfigFile = cfg.File
	v.Loaded = h.svc.Loaded().UTC().Format(pageTime)
	uses := accountUses(cfg)
	sessions := map[string]sessionView{}
	for name, a := range cfg.Accounts {
		if sv, ok := h.sessionView(cfg, name, a, uses[name]); ok {
			sessions[name] = sv
			v.Mailboxes = append(v.Mailboxes, sv)
		} else if a.IMAP == nil {
			// Worth saying: a poster without a mailbox gets its hold
			// notices and bounces unread.
			v.Mailboxes = append(v.Mailboxes, sessionView{Account: name, Address: a.Address, Uses: uses[name], State: "none",
				Err: "no imap: configured: listprobe reads no notices or bounces sent to it"})
		}
	}
	slices.SortFunc(v.Mailboxes, func(a, b sessionView) int { return strings.Compare(a.Account, b.Account) })
	for _, l := range lists {
		v.Lists = append(v.Lists, h.listView(cfg, l, sessions))
	}
	return v
}

// listView builds the row of one list, with its chart, its recent results
// and what explains a failure.
func (h *handler) listView(cfg *config.Config, l *config.ListConfig, sessions map[string]sessionView) listView {
	recent, samples, late := h.svc.History().Snapshot(l.Address)
	lv := listView{Address: l.Address, Expect: probe.Outcome(l.Expect), Recent: recent, Late: len(late), Chart: latencyChart(l.Address, samples)}
	if len(recent) > 0 {
		lv.Last = recent[0]
	}
	for _, r := range recent {
		if r.Outcome == probe.Delivered {
			lv.LastDelivered, lv.Auth = r.Finished, authViews(r.Authentication)
			break
		}
	}
	if at := h.svc.NoticeLimit(l.Address); !at.IsZero() && time.Since(at) < probe.NoticeLimitWindow {
		lv.NoticeLimit = "Mailman sends the poster no more notices today (since " + at.UTC().Format("15:04 MST") + "): holds are silent"
	}
	why := &whyView{}
	// A session still connecting (at start, after a reload) is no
	// failure yet; one whose login or connection failed is.
	for _, name := range append([]string{l.Poster, l.Moderator}, l.ReaderAccounts()...) {
		if sv, ok := sessions[name]; ok && sv.State == "down" && !slices.ContainsFunc(why.Mailboxes, func(o sessionView) bool { return o.Account == name }) {
			why.Mailboxes = append(why.Mailboxes, sv)
		}
	}
	lv.NoProbe, lv.NoProbeBad = noProbeYet(l, sessions)
	failing := lv.Last != nil && !lv.Last.OK
	bad := len(why.Mailboxes) > 0
	if l.Mailman != "" {
		if st, ok := h.svc.MailmanState(l.Address); ok {
			why.Mailman = mailmanExplained(l, cfg, st, st.Up)
			bad = bad || why.Mailman.anyBad()
			if failing && listFailure(lv.Last.Outcome) && !why.Mailman.anyBad() {
				why.Hint = "None of the settings listprobe reads explains this: look at the list server's logs and mail queues."
			}
		}
	} else if failing && listFailure(lv.Last.Outcome) {
		why.Hint = "listprobe reads none of this list's settings: give it a mailman: entry to see which setting holds, rejects or drops its posts."
	}
	if failing && lv.Last.Outcome == probe.Junk {
		why.Hint = "The list delivered, but a reader's spam filter put the copy in its Junk folder: the evidence has the filter's verdict. Look at what the list adds (footer, subject prefix) and at the copy's DKIM, ARC and DMARC."
	}
	if (failing || bad) && (len(why.Mailboxes) > 0 || why.Mailman != nil || why.Hint != "") {
		lv.Why = why
	}
	return lv
}

// listFailure reports whether an outcome is the list server's doing (as
// opposed to the post not being handed over, or listprobe not seeing).
func listFailure(o probe.Outcome) bool {
	return o == probe.Held || o == probe.Rejected || o == probe.Lost
}

// sessionView returns the state of an account's session; ok is false when
// it has none (no IMAP server configured, or not started).
func (h *handler) sessionView(cfg *config.Config, name string, a *config.AccountConfig, uses string) (sessionView, bool) {
	up, since, ok, err := h.svc.MailboxState(name)
	if !ok {
		return sessionView{}, false
	}
	sv := sessionView{Account: name, Address: a.Address, Up: up, Uses: uses}
	switch {
	case up:
		sv.State = "up"
	case err != nil:
		sv.State = "down"
	default:
		sv.State = "connecting"
	}
	if !since.IsZero() {
		sv.Since = since.UTC().Format(pageTime)
	}
	if err != nil && !up {
		sv.Err = redact(cfg, readable(err.Error()))
	}
	if js, ok := h.svc.JunkState(name); ok {
		sv.Junk, sv.JunkBad = junkView(cfg, js)
	}
	return sv, true
}

// accountUses says, for each account, what the lists use it for: "poster
// of 2 lists, reader of 1 list".
func accountUses(cfg *config.Config) map[string]string {
	type counts struct{ posts, reads, moderates int }
	by := map[string]*counts{}
	count := func(name string) *counts {
		c := by[name]
		if c == nil {
			c = &counts{}
			by[name] = c
		}
		return c
	}
	for _, l := range cfg.Lists {
		count(l.Poster).posts++
		for _, r := range l.ReaderAccounts() {
			count(r).reads++
		}
		if l.Moderator != "" {
			count(l.Moderator).moderates++
		}
	}
	out := map[string]string{}
	for name := range cfg.Accounts {
		c := count(name)
		var uses []string
		for _, u := range []struct {
			n    int
			role string
		}{{c.posts, "poster"}, {c.reads, "reader"}, {c.moderates, "moderator"}} {
			if u.n > 0 {
				uses = append(uses, fmt.Sprintf("%s of %d %s", u.role, u.n, plural(u.n, "list", "lists")))
			}
		}
		out[name] = "no list"
		if len(uses) > 0 {
			out[name] = strings.Join(uses, ", ")
		}
	}
	return out
}

// redact blanks out every configured secret in text that came from a
// server or a library: none is expected there, but a page must never show
// one, whatever a server echoes back. Errors are shortened, too.
func redact(cfg *config.Config, text string) string {
	var secrets []string
	for _, a := range cfg.Accounts {
		if a.IMAP != nil {
			secrets = append(secrets, a.IMAP.Password())
		}
		if a.SMTP != nil {
			secrets = append(secrets, a.SMTP.Password())
		}
	}
	for _, m := range cfg.Mailman {
		secrets = append(secrets, m.Password())
	}
	for _, sec := range secrets {
		// A very short secret would blank out ordinary words; it is no
		// secret worth the name either.
		if len(sec) >= 4 {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return checks.Truncate(readable(text), 300)
}

// mailmanExplained lays out a list's Mailman settings and its probe
// accounts' membership (when membersKnown), marking what makes a probe
// fail.
func mailmanExplained(l *config.ListConfig, cfg *config.Config, st probe.MailmanState, membersKnown bool) *mailmanView {
	poster := st.Poster
	mv := &mailmanView{Server: l.Mailman, Up: st.Up}
	if !st.Since.IsZero() {
		mv.Since = st.Since.UTC().Format(pageTime)
	}
	if !st.Up {
		return mv
	}
	own := st.MemberAction
	ownSet := own != "" && own != "default"
	posterMember := !membersKnown || poster.Subscribed

	member := settingView{Name: "default member action", Value: st.DefaultMemberAction}
	if note := actionNote(st.DefaultMemberAction, "every member's post"); note != "" {
		switch {
		case ownSet:
			member.Note = "the poster's own action applies instead"
		case !posterMember:
			member.Note = "the poster is not a member: the non-member action applies"
		default:
			member.Note, member.Bad = note, true
		}
	}
	ownView := settingView{Name: "poster's moderation action", Value: own}
	if !ownSet {
		ownView.Value = "none"
	} else if note := actionNote(own, "the poster's every post"); note != "" {
		ownView.Note, ownView.Bad = note, true
	}
	emergency := settingView{Name: "emergency moderation", Value: "off"}
	if st.Emergency {
		emergency.Value, emergency.Note, emergency.Bad = "on", "every post waits for a moderator", true
	}
	nonmember := settingView{Name: "default non-member action", Value: st.DefaultNonmemberAction}
	if !posterMember {
		if note := actionNote(st.DefaultNonmemberAction, "the poster's every post, as a non-member's,"); note != "" {
			nonmember.Note, nonmember.Bad = note, true
		}
	}
	queue := settingView{Name: "held posts in the queue", Value: fmt.Sprint(st.Held)}
	mv.Settings = []settingView{member, ownView, emergency, nonmember, queue}
	if membersKnown {
		mv.Members = []memberView{memberExplained("poster", accountAddress(cfg, l.Poster), poster, false)}
		mv.Members = append(mv.Members, readersExplained(l, cfg, st)...)
	}
	return mv
}

// actionNote says what a moderation action does to whose posts; "" when
// it lets them through.
func actionNote(action, whose string) string {
	switch action {
	case "hold":
		return whose + " waits for a moderator"
	case "reject":
		return whose + " is refused"
	case "discard":
		return whose + " is dropped without a word"
	}
	return ""
}

func memberExplained(role, address string, m probe.MemberState, reader bool) memberView {
	mv := memberView{Role: role, Address: address}
	sub := settingView{Name: "subscribed", Value: "yes"}
	if !m.Subscribed {
		sub.Value, sub.Bad = "no", true
		sub.Note = "its posts are a non-member's"
		if reader {
			sub.Note = "it gets no copies"
		}
		mv.Items = append(mv.Items, sub)
		return mv
	}
	mv.Items = append(mv.Items, sub)
	mode := settingView{Name: "delivery", Value: orUnknown(m.DeliveryMode)}
	if reader && m.DeliveryMode != "" && m.DeliveryMode != "regular" {
		mode.Note, mode.Bad = "digests: it gets no copy of a single post", true
	}
	status := settingView{Name: "delivery status", Value: orUnknown(m.DeliveryStatus)}
	if reader && m.DeliveryStatus != "" && m.DeliveryStatus != "enabled" {
		status.Bad = true
		status.Note = "delivery to it is disabled"
		if m.DeliveryStatus == "by_bounces" {
			status.Note = "Mailman disabled delivery to it after its mailbox bounced"
		}
	}
	action := settingView{Name: "moderation", Value: m.ModerationAction}
	if action.Value == "" || action.Value == "default" {
		action.Value = "none"
	} else if note := actionNote(m.ModerationAction, "its every post"); note != "" && !reader {
		action.Note, action.Bad = note, true
	}
	mv.Items = append(mv.Items, mode, status, action)
	return mv
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func accountAddress(cfg *config.Config, name string) string {
	if a := cfg.Accounts[name]; a != nil {
		return a.Address
	}
	return name
}

func (mv *mailmanView) anyBad() bool {
	if !mv.Up {
		return true
	}
	for _, s := range mv.Settings {
		if s.Bad {
			return true
		}
	}
	for _, m := range mv.Members {
		for _, s := range m.Items {
			if s.Bad {
				return true
			}
		}
	}
	return false
}

// maxPageHops bounds the hops a probe's page shows: the newest, which are
// the list's and the reader's, whatever a copy carries.
const maxPageHops = 32

// hopViews lays out a probe copy's hops, oldest first.
func hopViews(hops []probe.Hop) []hopView {
	if len(hops) > maxPageHops {
		hops = hops[len(hops)-maxPageHops:]
	}
	out := make([]hopView, 0, len(hops))
	for i, h := range hops {
		hv := hopView{N: i + 1, By: orDash(readable(h.By)), With: orDash(readable(h.With)), At: "–", Seconds: "–"}
		if !h.At.IsZero() {
			hv.At = h.At.UTC().Format(pageTime)
		}
		if !math.IsNaN(h.Seconds) && !math.IsInf(h.Seconds, 0) && (i > 0 || h.Seconds != 0) {
			hv.Seconds = fmt.Sprintf("%+.0f s", h.Seconds)
			if h.ClampedFrom < 0 {
				hv.Seconds += fmt.Sprintf(" (dates say %+.0f s: clamped)", h.ClampedFrom)
			}
		}
		out = append(out, hv)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// readable makes text from a server fit for the page (checks.ReadableText).
func readable(s string) string { return checks.ReadableText([]byte(s)) }
