package sandbox

import "time"

// The accounts of the demo world. Their passwords are public on purpose:
// the demo world listens only on loopback and lives as long as the
// process.
const (
	DemoMember            = "member@example.org"    // posts to every list; subscribed member
	DemoMemberPassword    = "member-demo-password"  // DemoMember's SMTP and IMAP password
	DemoReader            = "reader@example.org"    // subscriber that receives the list copies
	DemoReaderPassword    = "reader-demo-password"  // DemoReader's IMAP password
	DemoModerator         = "moderator@example.org" // moderates DemoModerated: gets its "requires approval" notices
	DemoModeratorPassword = "moderator-demo-password"
	// DemoReader2 is a second subscriber, at a provider whose filter calls
	// DemoJunk's copies spam.
	DemoReader2         = "reader2@example.org"
	DemoReader2Password = "reader2-demo-password"
)

// The lists of the demo world, one per thing a list can do to a post.
const (
	DemoHealthy   = "healthy@lists.example.org"   // delivers every post
	DemoModerated = "moderated@lists.example.org" // holds every member post
	DemoSlow      = "slow@lists.example.org"      // delivers after DemoSlowDelay
	DemoBlackhole = "blackhole@lists.example.org" // drops every post without a word
	DemoClosed    = "closed@lists.example.org"    // rejects every post with a notice
	// DemoJunk delivers to DemoReader's INBOX and DemoReader2's Junk.
	DemoJunk = "junk@lists.example.org"
)

// DemoSlowDelay is how late DemoSlow delivers: long enough to show in the
// latency histogram, far shorter than any sensible probe timeout.
const DemoSlowDelay = 3 * time.Second

// DemoOptions returns the world `listprobe demo` runs against:
//
//   - healthy@lists.example.org delivers each post to reader@example.org
//     with Mailman 3's prefix, footer and List-* fields (outcome delivered);
//   - moderated@lists.example.org holds every member post, the real
//     incident where default_member_action was set to hold: the poster gets
//     Mailman 3's "awaits moderator approval" notice (outcome held);
//   - slow@lists.example.org delivers DemoSlowDelay late (delivered, with
//     latency);
//   - blackhole@lists.example.org drops posts silently (outcome lost once
//     the probe times out);
//   - closed@lists.example.org rejects posts with Mailman 3's rejection
//     notice (outcome rejected);
//   - junk@lists.example.org delivers to reader@example.org's INBOX and to
//     reader2@example.org's Junk folder, whose filter calls its copies spam
//     (outcome junk, read by both readers).
//
// member@example.org (password "member-demo-password") posts and reads its
// notices over IMAP; reader@example.org (password "reader-demo-password")
// is the subscriber whose mailbox receives the copies;
// moderator@example.org (password "moderator-demo-password") moderates
// moderated@lists.example.org and gets Mailman's "requires approval"
// notice for each held post. IMAP IDLE works, and the
// number of hold notices per day is not limited, so that a demo left
// running keeps showing "held".
//
// Each list's members are reader@example.org (delivery on) and
// member@example.org (delivery disabled, as a probe account usually is);
// moderator@example.org is a non-member. The lists' Mailman settings, as
// the REST API at World.MailmanURL shows them (user DefaultMailmanUsername,
// password DefaultMailmanPassword): default_member_action defer (healthy,
// slow), hold (moderated), discard (blackhole) and reject (closed);
// everywhere default_nonmember_action hold, emergency off,
// respond_to_post_requests and admin_immed_notify on. So the REST held
// queue of moderated@lists.example.org holds each probe with the reason
// "The message comes from a moderated member", and a PATCH of a list's
// settings changes what the next probe meets.
func DemoOptions() Options {
	subs := []string{DemoReader}
	members := []string{DemoMember}
	return Options{
		Accounts: []Account{
			{Address: DemoMember, Password: DemoMemberPassword},
			{Address: DemoReader, Password: DemoReaderPassword},
			{Address: DemoModerator, Password: DemoModeratorPassword},
			{Address: DemoReader2, Password: DemoReader2Password},
		},
		Lists: []List{
			{Address: DemoHealthy, Policy: Deliver, Subscribers: subs, Members: members},
			{Address: DemoModerated, Policy: Hold, HoldReason: DefaultHoldReason, Subscribers: subs, Members: members, Moderators: []string{DemoModerator}},
			{Address: DemoSlow, Policy: Delay, Delay: DemoSlowDelay, Subscribers: subs, Members: members},
			{Address: DemoBlackhole, Policy: Drop, Subscribers: subs, Members: members},
			{Address: DemoClosed, Policy: Reject, Subscribers: subs, Members: members},
			{Address: DemoJunk, Policy: Deliver, Subscribers: []string{DemoReader, DemoReader2}, Members: members, JunkFor: []string{DemoReader2}},
		},
	}
}
