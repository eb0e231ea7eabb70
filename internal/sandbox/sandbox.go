// Package sandbox implements an in-process mail world on loopback for
// listprobe's demo, tests and benchmarks: an SMTP submission server
// (go-smtp), an IMAP server (go-imap's imapmemserver) and a list simulator
// that behaves like Mailman 3 where listprobe can tell: subject prefix,
// footer, List-* headers, hold and rejection notices, and per-list policy.
//
// # Servers
//
// Start listens on 127.0.0.1 with random ports. SMTP is plain text (no TLS,
// loopback only) and requires AUTH PLAIN with an Account's address and
// password before MAIL (530 5.7.0 otherwise). A recipient must be an
// Account (the mail goes to its INBOX) or a List (the post goes to the list
// simulator); any other recipient is refused with 550 5.1.1. IMAP is plain
// text too, one user per Account (username = address) with an INBOX.
//
// # Lists
//
// A post to a List is processed after the SMTP transaction, like Mailman's
// queue runners do, by the moderation part of Mailman's posting chain:
//
//  1. emergency on: the post is held with EmergencyReason;
//  2. the poster is a member: the member's own moderation_action if it has
//     one, else the list's default_member_action, decides;
//  3. otherwise the list's default_nonmember_action decides, with
//     NonmemberReason.
//
// An action of accept or defer delivers, hold holds, reject sends the
// rejection notice and discard drops. The Policy of a List is its
// default_member_action under another name (Deliver and Delay are defer,
// Hold is hold, Reject is reject, Drop is discard):
//
//   - Deliver: every subscriber gets the Mailman 3 copy: "[Name] " subject
//     prefix, footer, List-Id and the other RFC 2369 fields, Precedence:
//     list, X-Mailman-Version, X-Mailman-Rule-Misses, the original
//     Message-ID and every original field kept; envelope sender (and so
//     Return-Path) the list's -bounces address.
//   - Hold: the post is kept (see World.Held and the REST held queue), the
//     List.Moderators get Mailman 3's "LIST post from SENDER requires
//     approval" notice unless admin_immed_notify is off, and the poster gets
//     its "Your message to LIST awaits moderator approval" notice from the
//     -bounces address unless respond_to_post_requests is off, the post
//     carries Precedence bulk/list/junk, X-No-Ack, X-Ack: no,
//     Auto-Submitted other than "no" or a List-* field (Mailman then stays
//     silent), or the day's autoresponse limit is reached
//     (Options.MaxAutoresponsesPerDay).
//   - Reject: the poster gets Mailman 3's rejection notice from the -owner
//     address with the post attached.
//   - Drop: nothing at all.
//   - Delay: like Deliver, List.Delay later. The delay is no Mailman
//     setting: it stays when REST changes default_member_action, and
//     applies to every accepted post (members' and non-members').
//
// A held post that a moderator accepts through REST is delivered at once
// with X-Mailman-Approved-At; one rejected gets the poster Mailman's
// 'Request to mailing list "Name" rejected' notice.
//
// Mail to a list's -bounces, -owner, -request, -join or -leave address is
// accepted and discarded.
//
// # Members
//
// A list's members are its Subscribers and Members; a List that names no
// Members has every Account as a member besides (Mailman: delivery
// disabled), so that any account posts as a member unless a test says
// otherwise. The poster's From:, envelope sender, Reply-To: and Sender:
// (Mailman's msg.senders) are looked up.
//
// # REST API
//
// Start also serves the part of Mailman 3.3's REST API that listprobe uses,
// at World.MailmanURL with HTTP basic authentication (see rest.go): the held
// queue and its moderation, the moderation settings of a list's
// configuration and the members' moderation_action. It reads and changes
// the same state as the list simulator, SetPolicy and Held.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

// Policy is what a simulated list does with a member's post.
type Policy string

// The policies of a simulated list.
const (
	Deliver Policy = "deliver" // send a copy to every subscriber
	Hold    Policy = "hold"    // hold for moderation; send the poster a Mailman 3 hold notice
	Reject  Policy = "reject"  // refuse; send the poster a Mailman 3 rejection notice
	Drop    Policy = "drop"    // discard silently
	Delay   Policy = "delay"   // deliver after List.Delay
	// Junk delivers, but every subscriber's filter calls the copy spam:
	// it lands in their Junk folder with the filter's verdict headers.
	Junk Policy = "junk"
)

func (p Policy) valid() bool {
	switch p {
	case Deliver, Hold, Reject, Drop, Delay, Junk:
		return true
	}
	return false
}

// List is one simulated mailing list.
type List struct {
	Address string // posting address, e.g. "healthy@lists.example.org"
	// Policy is what the list does with members' posts: its initial
	// default_member_action. Default: Deliver.
	Policy Policy
	Delay  time.Duration // for Delay; must be positive when Policy is Delay
	// HoldReason is the moderation reason in hold notices and Held when
	// a member's post is held (so a test can play another rule that
	// holds, e.g. "Message has implicit destination"). Emergency and
	// non-member holds give EmergencyReason and NonmemberReason.
	// Default: DefaultHoldReason.
	HoldReason string
	// RejectReason is the reason in rejection notices of members' posts.
	// Default: DefaultHoldReason (a member whose moderation action is
	// reject).
	RejectReason string
	Subscribers  []string // addresses that receive copies; each must be an Account
	// JunkFor are subscribers whose filter calls this list's copies spam
	// whatever the Policy (one reader's provider is stricter than
	// another's); SetJunkFor changes them. Default: none.
	JunkFor []string
	// Moderators receive Mailman's "post from X requires approval" notice
	// for each held post. Each must be an Account. Default: none.
	Moderators []string
	// Members are members that receive no copies (Mailman: delivery
	// disabled): they post as members. Subscribers are members too. When
	// Members is empty every Account is a member. Default: empty.
	Members []string
	// NonmemberAction is the initial default_nonmember_action, what the
	// list does with a post from a non-member. Default: ActionHold,
	// Mailman's default.
	NonmemberAction Action
	// Emergency is the initial emergency setting: hold every post.
	Emergency bool
	// NoHoldNotice starts the list with respond_to_post_requests off: the
	// poster of a held post is not told.
	NoHoldNotice bool
	// NoModeratorNotice starts the list with admin_immed_notify off: the
	// Moderators are not told of held posts. With NoHoldNotice too, a hold
	// is silent: only Held and the REST held queue show it.
	NoModeratorNotice bool
}

// Account is one mailbox user: it can log in to SMTP and IMAP with its
// address and password.
type Account struct {
	Address  string
	Password string
	// NoJunkFolder: its server has no Junk folder (a copy filed as spam
	// for it is lost).
	NoJunkFolder bool
}

// Options configures a World.
type Options struct {
	Accounts []Account
	Lists    []List
	// NoIdle makes the IMAP server one without the IDLE extension, so
	// clients must poll: IDLE is absent from its capabilities (IMAP4rev2,
	// which implies IDLE, is not announced either) and an IDLE command is
	// answered "BAD Unknown command" at once. (The session's Idle also
	// refuses, should a command reach it.) Default: IDLE works.
	NoIdle bool
	// MaxAutoresponsesPerDay is Mailman's [mta] max_autoresponses_per_day:
	// how many hold notices one poster gets from one list per day before a
	// "Last autoresponse notification for today" and then silence.
	// Mailman's default is 10. Default here: 0, unlimited.
	MaxAutoresponsesPerDay int
	// Hostname names the server in Received fields. Default:
	// "mail.example.org".
	Hostname string
	// Logger receives the servers' error logs. Default: discard.
	Logger *slog.Logger
	// MailmanUsername and MailmanPassword are the REST API's credentials
	// (Mailman's [webservice] admin_user and admin_pass). Default:
	// DefaultMailmanUsername and DefaultMailmanPassword.
	MailmanUsername string
	MailmanPassword string
}

// The REST API's default credentials. They are public on purpose: the API
// listens only on loopback and lives as long as the world.
const (
	DefaultMailmanUsername = "restadmin"
	DefaultMailmanPassword = "restpass"
)

// StoredMessage is one message in a sandbox mailbox.
type StoredMessage struct {
	UID   uint32
	Flags []string // IMAP flags as stored, e.g. `\Seen`
	Raw   []byte
}

// HeldMessage is one post a list holds for moderation, with the fields
// Mailman 3's REST API shows for it (lists/<list>/held).
type HeldMessage struct {
	RequestID int       // request_id, from 1 per list
	MessageID string    // message_id, angle brackets included
	Sender    string    // sender, lower case
	Subject   string    // subject, decoded
	Reason    string    // reason
	HoldDate  time.Time // hold_date
	Raw       []byte    // the held message as stored, rule headers included
	// RuleHits are the rules that stopped the post (rule_hits), e.g.
	// "member-moderation", "emergency" or "nonmember-moderation".
	RuleHits []string

	ruleMisses      []string // rule_misses
	modAction       string   // member_moderation_action
	modSender       string   // moderation_sender
	originalSubject string   // the Subject field as it came (original_subject)
	originalSize    int      // original_size
	received        time.Time
}

// World is a running mail world.
type World struct {
	SMTPAddr string // host:port of the SMTP submission server (no TLS, AUTH PLAIN)
	IMAPAddr string // host:port of the IMAP server (no TLS)
	// MailmanURL is the root of the REST API with its version, e.g.
	// "http://127.0.0.1:40123/3.1" (API 3.0 is served beside it).
	MailmanURL      string
	MailmanUsername string // the REST API's basic-auth user
	MailmanPassword string // the REST API's basic-auth password

	log      *slog.Logger
	hostname string
	maxAuto  int

	accounts map[string]Account             // by lower-case address
	users    map[string]*imapmemserver.User // by lower-case address
	lists    map[string]*listState          // by lower-case posting address
	aliases  map[string]*listState          // -bounces, -owner... addresses
	byID     map[string]*listState          // by list_id
	domains  map[string]bool                // mail hosts of lists, and those created through REST
	mem      *imapmemserver.Server
	rest     *restServer

	smtp     *smtp.Server
	smtpLn   *trackingListener
	smtpDone chan struct{}

	imapMu   sync.Mutex // serialises StopIMAP, StartIMAP and Close
	public   *imapService
	internal *imapService
	noIdle   bool

	mu        sync.Mutex // guards the fields below and every listState
	closed    bool
	tasks     sync.WaitGroup // list processing and pending delayed deliveries
	timers    map[uint64]*time.Timer
	timerSeq  uint64
	queueSeq  uint64
	autoSent  map[string]int // "list\x00sender\x00date" -> notices sent
	queue     []func()       // list posts waiting for the runner
	queueCond *sync.Cond
	memberIDs map[string]*membership // every roster entry by member_id

	// Counters for Stats.
	smtpConns, imapConns            connCounter
	restRequests, listPosts, stored atomic.Int64
}

// listState is a list and its run-time state, guarded by World.mu.
type listState struct {
	List
	names       listNames
	subs        []string
	mods        []string
	held        []HeldMessage
	heldID      int
	settings    listSettings
	junkFor     map[string]bool        // subscribers whose filter junks the copies
	members     map[string]*membership // role member, by address
	moderators  map[string]*membership // role moderator, by address
	owners      map[string]*membership // role owner, by address (REST only)
	deleted     bool                   // deleted through REST: posts still queued are dropped
	rosterOrder []*membership          // every entry in the order added
}

// Start starts a world on 127.0.0.1 with random ports.
func Start(opts Options) (*World, error) {
	w := &World{
		log:      opts.Logger,
		hostname: opts.Hostname,
		maxAuto:  opts.MaxAutoresponsesPerDay,
		accounts: map[string]Account{},
		users:    map[string]*imapmemserver.User{},
		lists:    map[string]*listState{},
		aliases:  map[string]*listState{},
		mem:      imapmemserver.New(),
		noIdle:   opts.NoIdle,
		timers:   map[uint64]*time.Timer{},
		autoSent: map[string]int{},
		byID:     map[string]*listState{},
		domains:  map[string]bool{},

		memberIDs:       map[string]*membership{},
		MailmanUsername: opts.MailmanUsername,
		MailmanPassword: opts.MailmanPassword,
	}
	if w.MailmanUsername == "" {
		w.MailmanUsername = DefaultMailmanUsername
	}
	if w.MailmanPassword == "" {
		w.MailmanPassword = DefaultMailmanPassword
	}
	w.queueCond = sync.NewCond(&w.mu)
	if w.log == nil {
		w.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if w.hostname == "" {
		w.hostname = "mail.example.org"
	}
	if err := w.configure(opts); err != nil {
		return nil, err
	}
	if err := w.startSMTP(); err != nil {
		return nil, err
	}
	var err error
	if w.internal, err = w.startIMAP("127.0.0.1:0", false, nil); err != nil {
		w.stopSMTP()
		return nil, err
	}
	if w.public, err = w.startIMAP("127.0.0.1:0", opts.NoIdle, &w.imapConns); err != nil {
		w.internal.stop()
		w.stopSMTP()
		return nil, err
	}
	w.IMAPAddr = w.public.addr
	if w.rest, err = w.startREST(); err != nil {
		w.public.stop()
		w.internal.stop()
		w.stopSMTP()
		return nil, err
	}
	w.MailmanURL = w.rest.base + "/3.1"
	w.tasks.Add(1)
	go w.runQueue()
	return w, nil
}

func (w *World) configure(opts Options) error {
	if len(opts.Accounts) == 0 {
		return errors.New("sandbox: Options.Accounts is empty")
	}
	for i, a := range opts.Accounts {
		addr, err := parseAddress(a.Address)
		if err != nil {
			return fmt.Errorf("sandbox: Accounts[%d].Address: %w", i, err)
		}
		if a.Password == "" {
			return fmt.Errorf("sandbox: Accounts[%d] (%s): Password is empty", i, addr)
		}
		if _, dup := w.accounts[addr]; dup {
			return fmt.Errorf("sandbox: Accounts[%d]: address %s appears twice", i, addr)
		}
		w.accounts[addr] = Account{Address: addr, Password: a.Password}
		u := imapmemserver.NewUser(addr, a.Password)
		folders := []string{"INBOX", JunkFolder}
		if a.NoJunkFolder {
			folders = folders[:1]
		}
		for _, folder := range folders {
			if err := u.Create(folder, nil); err != nil {
				return fmt.Errorf("sandbox: create %s of %s: %w", folder, addr, err)
			}
		}
		w.mem.AddUser(u)
		w.users[addr] = u
	}
	for i, l := range opts.Lists {
		if err := w.configureList(i, l, opts.Accounts); err != nil {
			return err
		}
	}
	for addr := range w.lists {
		if _, clash := w.aliases[addr]; clash {
			return fmt.Errorf("sandbox: list address %s is another list's service address", addr)
		}
	}
	return nil
}

// configureList adds Options.Lists[i].
func (w *World) configureList(i int, l List, accounts []Account) error {
	addr, err := parseAddress(l.Address)
	if err != nil {
		return fmt.Errorf("sandbox: Lists[%d].Address: %w", i, err)
	}
	if _, dup := w.accounts[addr]; dup {
		return fmt.Errorf("sandbox: Lists[%d].Address %s is also an account", i, addr)
	}
	if _, dup := w.lists[addr]; dup {
		return fmt.Errorf("sandbox: Lists[%d]: address %s appears twice", i, addr)
	}
	if l.Policy == "" {
		l.Policy = Deliver
	}
	if err := checkListPolicy(i, l, addr); err != nil {
		return err
	}
	nonmember, err := parseAction(l.NonmemberAction, ActionHold)
	if err != nil {
		return fmt.Errorf("sandbox: Lists[%d] (%s): NonmemberAction: %w", i, addr, err)
	}
	st := newListState(l, addr)
	st.Address = addr
	st.settings = listSettings{nonmemberAction: nonmember, emergency: l.Emergency,
		respond: !l.NoHoldNotice, adminNotify: !l.NoModeratorNotice}
	st.settings.setPolicy(l.Policy)
	st.junkFor = lowerSet(l.JunkFor)
	for j, s := range l.Subscribers {
		sa, err := parseAddress(s)
		if err != nil {
			return fmt.Errorf("sandbox: Lists[%d].Subscribers[%d]: %w", i, j, err)
		}
		if _, ok := w.accounts[sa]; !ok {
			return fmt.Errorf("sandbox: Lists[%d].Subscribers[%d] %s is not an account", i, j, sa)
		}
		st.subs = append(st.subs, sa)
	}
	if err := w.addRosters(st, i, l, accounts); err != nil {
		return err
	}
	w.lists[addr] = st
	w.byID[st.names.listID] = st
	w.domains[st.names.domain] = true
	for _, alias := range []string{st.names.bounces(), st.names.owner(), st.names.request(), st.names.join(), st.names.leave()} {
		if _, clash := w.accounts[alias]; clash {
			return fmt.Errorf("sandbox: Lists[%d] (%s): its address %s is also an account", i, addr, alias)
		}
		w.aliases[alias] = st
	}
	return nil
}

// newListState returns the state of list l at addr with empty rosters.
func newListState(l List, addr string) *listState {
	return &listState{List: l, names: newListNames(addr),
		members: map[string]*membership{}, moderators: map[string]*membership{}, owners: map[string]*membership{}}
}

// parseAddress returns the lower-case bare address of s.
func parseAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address: %w", s, err)
	}
	if a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%q is not a bare email address", s)
	}
	return strings.ToLower(a.Address), nil
}

// Close stops the servers and pending deliveries, and returns when every
// goroutine of the world has ended. Delayed copies not yet delivered are
// dropped.
func (w *World) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.queueCond.Broadcast()
	for id, t := range w.timers {
		if t.Stop() {
			w.tasks.Done()
		}
		delete(w.timers, id)
	}
	w.mu.Unlock()

	err := w.stopSMTP()
	w.rest.close()
	w.tasks.Wait()

	w.imapMu.Lock()
	defer w.imapMu.Unlock()
	if w.public != nil {
		w.public.stop()
		w.public = nil
	}
	w.internal.stop()
	return err
}

// Append puts a raw message into address's INBOX as if delivered (the
// bytes are stored as given).
func (w *World) Append(address string, raw []byte) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	if _, ok := w.users[addr]; !ok {
		return fmt.Errorf("sandbox: append to %s: no such account", address)
	}
	return w.store(addr, raw)
}

// Messages returns the raw messages in address's INBOX with their flags,
// in UID order. It reads them over IMAP (EXAMINE, BODY.PEEK) from a
// private listener that StopIMAP does not stop, so the flags are the ones
// the server stores and reading sets none.
func (w *World) Messages(address string) ([]StoredMessage, error) {
	return w.messagesIn(address, "INBOX")
}

func (w *World) messagesIn(address, folder string) ([]StoredMessage, error) {
	addr := strings.ToLower(strings.TrimSpace(address))
	acct, ok := w.accounts[addr]
	if !ok {
		return nil, fmt.Errorf("sandbox: messages of %s: no such account", address)
	}
	w.imapMu.Lock()
	internal := w.internal
	w.imapMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), internalReadTimeout)
	defer cancel()
	return readMailbox(ctx, internal.addr, acct, folder)
}

// queueID returns a Postfix-like queue id for Received fields.
func (w *World) queueID() string {
	w.mu.Lock()
	w.queueSeq++
	n := w.queueSeq
	w.mu.Unlock()
	return fmt.Sprintf("4S%010X", n)
}

// Hostname is the name the world's MTA writes after "by" in the Received
// fields it adds (Options.Hostname, default mail.example.org).
func (w *World) Hostname() string { return w.hostname }
