// Package msgid implements the comparison of Message-IDs (RFC 5322 section
// 3.6.4) that finding a probe's own post needs: in a list's copy, in a
// bounce and in Mailman's held queue.
package msgid

import "strings"

// Same reports whether two Message-IDs name the same message.
// Surrounding white space and one pair of angle brackets are ignored (as is
// anything after the closing bracket, such as a comment). The part left of
// the last "@" (id-left) is compared exactly, as RFC 5322 leaves it opaque;
// the part right of it (id-right, usually a domain name) is compared
// without regard to case, as DNS does. Probes' Message-IDs are all lower
// case (the token is lower-case base32), so no case-folding of id-left is
// needed to find them, and none can make two people's messages one. An
// empty Message-ID equals nothing.
func Same(a, b string) bool {
	la, da, oka := Split(a)
	lb, db, okb := Split(b)
	return oka && okb && la == lb && strings.EqualFold(da, db)
}

// Split splits a Message-ID into id-left and id-right, ignoring surrounding
// white space, one pair of angle brackets and anything after the closing
// bracket. ok is false for an empty Message-ID.
func Split(v string) (left, right string, ok bool) {
	v = strings.TrimSpace(v)
	if rest, found := strings.CutPrefix(v, "<"); found {
		if j := strings.IndexByte(rest, '>'); j >= 0 {
			rest = rest[:j]
		}
		v = strings.TrimSpace(rest)
	}
	if v == "" {
		return "", "", false
	}
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		return v[:i], v[i+1:], true
	}
	return v, "", true
}
