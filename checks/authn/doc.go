// Package authn implements the authentication verdict of a message that
// listprobe reads: did the list's server provably send it, and what would
// the receiving side make of it.
//
// Verify computes, from the raw header (and the body, when fetched), with
// an injected resolver:
//
//   - the DKIM signatures that verify (go-msgauth), their d= and h=, and
//     their relaxed alignment with the visible From (the organizational
//     domain from the public suffix list);
//   - the DMARC result that alignment implies under the From domain's
//     policy (RFC 7489);
//   - the ARC chain (RFC 8617 section 5.2): instances, cv=, the seals and
//     the newest message signature;
//   - List-Id, and one-click unsubscribe (RFC 8058) covered by a verifying
//     signature;
//   - the Authentication-Results of the trusted receiving server only
//     (RFC 8601 section 5), and the Received hop where that server took the
//     message in.
//
// From these it answers whether the list server sent the message, by the
// first path that proves it (DKIM, ARC, the receiver's
// Authentication-Results, the receiver's Received hop), or why not. A DNS
// failure is a temperror: never a pass.
//
// # Bounds
//
// A hostile message costs bounded work: at most 1,000 header fields, 8
// DKIM signatures, 128 signed fields per signature, 50 ARC sets, 16
// distinct DNS names per message (Options.MaxLookups), each lookup bounded
// by the Resolver's timeout and the whole verification by
// Options.Timeout.
//
// # Header only
//
// listprobe fetches bodies only for possible notices. Without the whole
// body no body hash can be checked: DKIM signatures and the newest ARC
// message signature are then "unchecked" (a trusted receiver's dkim=pass
// for the same domain is taken instead, and says so), while ARC seals,
// which cover header fields only, are still verified.
package authn
