package sandbox

import (
	"fmt"
	"strings"
	"time"
)

// post runs the moderation part of the list's posting chain on a post that
// SMTP accepted, then the chain it leads to: accept, hold, reject or
// discard.
func (w *World) post(st *listState, envelopeFrom string, raw []byte, received string) {
	w.listPosts.Add(1)
	names := st.names // fixed at Start
	m, err := parseMessage(raw)
	if err != nil {
		// Mailman's LMTP runner refuses what it cannot parse; after SMTP
		// accepted it, the post is lost.
		w.log.Error("sandbox: list post unparseable, dropped", "list", names.fqdn, "err", err)
		return
	}
	originalSize := len(raw)
	m.prepend("Received", received, "\t")
	incoming(m, envelopeFrom)
	sender := headerSender(m, envelopeFrom)
	senders := messageSenders(m, envelopeFrom)
	now := time.Now()

	w.mu.Lock()
	if st.deleted {
		w.mu.Unlock()
		w.log.Info("sandbox: post to a deleted list dropped", "list", names.fqdn)
		return
	}
	v := st.decide(senders)
	delayed, delay, junk := st.settings.delayed, st.Delay, st.junkSet()
	respond, adminNotify := st.settings.respond, st.settings.adminNotify
	subs := append([]string(nil), st.subs...)
	mods := append([]string(nil), st.mods...)
	w.mu.Unlock()

	switch v.action {
	case ActionDiscard:
		w.log.Info("sandbox: post discarded", "list", names.fqdn, "message_id", m.get("Message-ID"))
	case ActionAccept:
		copyMsg := listCopyWith(names, m, v.hits, v.misses)
		if delayed {
			w.after(delay, func() { w.explode(names, subs, copyMsg, junk) })
		} else {
			w.explode(names, subs, copyMsg, junk)
		}
	case ActionHold:
		markRules(m, v.hits, v.misses)
		if !m.has("Message-ID") {
			// app/moderator.py hold_message: the message store needs one.
			m.add("Message-ID", makeMsgID(now, w.hostname))
		}
		if v.sender == "" {
			v.sender = sender
		}
		w.addHeld(st, m, v, sender, now, originalSize)
		if sender != "" && respond && canAcknowledge(m) {
			notice := holdNotice(names, sender, m.get("Subject"), v.reason, now)
			if !w.autorespond(names, sender, now) {
				notice = w.noMoreToday(names, sender, now) // nil past the warning
			}
			if notice != nil {
				w.sendLocal(names, sender, notice)
			}
		}
		if adminNotify && len(mods) > 0 {
			notice := moderatorNotice(names, sender, m, v.reason, now)
			for _, mod := range mods {
				w.sendLocal(names, mod, notice)
			}
		}
	case ActionReject:
		markRules(m, v.hits, v.misses)
		if sender == "" {
			return
		}
		w.sendLocal(names, sender, rejectNotice(names, sender, m, v.reason, now))
	}
}

// explode delivers the list copy to every subscriber, into the Junk
// folder of those whose filter junks it (junk, nil: none; junk[""]: all).
func (w *World) explode(n listNames, subs []string, copyMsg *rawMessage, junk map[string]bool) {
	for _, rcpt := range subs {
		if junk[""] || junk[rcpt] {
			w.sendJunk(n, rcpt, copyMsg)
			continue
		}
		w.sendLocal(n, rcpt, copyMsg)
	}
}

// sendLocal hands a message from the list server to the local MTA for
// rcpt, with the list's -bounces address as envelope sender, as Mailman's
// outgoing runner does.
func (w *World) sendLocal(n listNames, rcpt string, m *rawMessage) {
	w.sendLocalTo(n, rcpt, m, "INBOX")
}

func (w *World) sendLocalTo(n listNames, rcpt string, m *rawMessage, folder string) {
	if _, ok := w.users[rcpt]; !ok {
		// Mail to an address outside the sandbox leaves the world.
		return
	}
	now := time.Now()
	received := fmt.Sprintf("from %s (localhost [127.0.0.1]) by %s (listprobe sandbox) with ESMTP id %s for <%s>; %s",
		n.domain, w.hostname, w.queueID(), rcpt, rfc2822Date(now))
	if err := w.deliverTo(rcpt, folder, n.bounces(), m.bytes(), received); err != nil {
		w.log.Error("sandbox: list delivery failed", "list", n.fqdn, "rcpt", rcpt, "err", err)
	}
}

// canAcknowledge is Mailman's app/replybot.py can_acknowledge, which the
// hold chain asks before notifying the poster.
func canAcknowledge(m *rawMessage) bool {
	switch strings.ToLower(strings.TrimSpace(m.get("Precedence"))) {
	case "bulk", "junk", "list":
		return false
	}
	if m.has("X-No-Ack") || strings.EqualFold(strings.TrimSpace(m.get("X-Ack")), "no") {
		return false
	}
	if as := strings.TrimSpace(m.get("Auto-Submitted")); as != "" && !strings.EqualFold(as, "no") {
		return false
	}
	for _, f := range m.fields {
		if strings.HasPrefix(strings.ToLower(f.key), "list-") {
			return false
		}
	}
	return true
}

// autorespond is hold.py autorespond_to_sender for the normal case: it
// counts the notice and reports whether it may be sent.
func (w *World) autorespond(n listNames, sender string, now time.Time) bool {
	if w.maxAuto <= 0 {
		return true
	}
	key := n.fqdn + "\x00" + sender + "\x00" + now.UTC().Format(time.DateOnly)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.autoSent[key] < w.maxAuto {
		w.autoSent[key]++
		return true
	}
	return false
}

// noMoreToday returns the "Last autoresponse notification for today"
// notice the first time the limit is passed on a day, and nil afterwards.
func (w *World) noMoreToday(n listNames, sender string, now time.Time) *rawMessage {
	key := n.fqdn + "\x00" + sender + "\x00" + now.UTC().Format(time.DateOnly)
	w.mu.Lock()
	count := w.autoSent[key]
	if count != w.maxAuto {
		w.mu.Unlock()
		return nil
	}
	w.autoSent[key]++
	w.mu.Unlock()
	return noMoreTodayNotice(n, sender, count, now)
}

// addHeld puts a post on the list's held queue, as app/moderator.py
// hold_message does.
func (w *World) addHeld(st *listState, m *rawMessage, v verdict, sender string, now time.Time, originalSize int) {
	w.mu.Lock()
	st.heldID++
	st.held = append(st.held, HeldMessage{
		RequestID:       st.heldID,
		MessageID:       m.get("Message-ID"),
		Sender:          sender,
		Subject:         oneline(m.get("Subject")),
		Reason:          v.reason,
		HoldDate:        now.UTC(),
		Raw:             m.bytes(),
		RuleHits:        v.hits,
		ruleMisses:      v.misses,
		modAction:       v.modAction,
		modSender:       v.sender,
		originalSubject: m.get("Subject"),
		originalSize:    originalSize,
		received:        now.UTC(),
	})
	w.mu.Unlock()
}
