package checks

import "github.com/emersion/go-message/mail"

// listManagers are the list managers whose notices Classify reads, in the
// order they are asked: the first whose classify claims a message wins.
//
// Supporting another list manager is one file with its rules
// (notice_<name>.go, defining its listManager), its captured fixtures
// (testdata/evidence/<name>-*.eml) and one line here.
var listManagers = []listManager{
	mailmanManager,
	mlmmjManager,
	sympaManager,
}

// A listManager recognises the notices one list manager writes.
type listManager struct {
	name string
	// looksLike reports from the header alone whether this manager may
	// have written the message, so that its body is fetched. No false
	// negatives for its notices.
	looksLike func(h mail.Header) bool
	// classify reads a message that one of a list's robot addresses sent
	// (the sender says which list). It reports false when the message is
	// none of this manager's notices.
	classify func(m *incoming) (Evidence, bool)
	// reports: the manager also writes notices as multipart/report
	// (Sympa's delivery status notifications), so classify sees a
	// robot's reports before they are read as mail servers' bounces.
	reports bool
}
