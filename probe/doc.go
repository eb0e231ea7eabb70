// Package probe implements listprobe's service: it posts signed probes to
// mailing lists on a schedule, decides what became of each one from the
// evidence the mail world gives back, and exports the outcomes as
// Prometheus metrics, a status page and on-demand probes.
//
// # Architecture
//
// Imports flow one way, top to bottom; nothing under checks imports probe,
// and the protocol packages under checks do not import Prometheus:
//
//	cmd/listprobe            flags, subcommands (serve, once, check-config, explain, demo), signals;
//	                         explain prints Judge's Verdict and checks/authn's verdict for a saved message
//	                         (with its placement when its path is a Junk folder's, and the filter's verdict)
//	cmd/listprobe-bench      the bench command: serve against the sandbox, measured
//	probe/web                the status page, /probe, /-/reload, over web.Service (a narrow view of Service)
//	probe                    the runtime: Service, sessions, Mailman watchers, registry, schedule,
//	                         the probe's stages, the judgement of a message (Judge), metrics, history,
//	                         Mailman's pipeline (pipeline.go), the archive check (archive.go),
//	                         the audit of every list of a Mailman server, unprobed too (audit.go),
//	                         a list's readers and the worst-of order (readers.go), Junk watching
//	                         (sessions.go, junk_state.go)
//	probe/config             the configuration file: plain types, LoadFile and Load, validation
//	probe/internal/probetest the mail world (sandbox, accounts, config) the tests of probe and probe/web use
//	checks                   the classifier of a message (Classify -> checks.Evidence); below it
//	                         (see its package doc, one line each):
//	checks/imapwatch         IMAP watching (IDLE or poll, fetch, delete named UIDs), archive search,
//	                         a folder found by SPECIAL-USE (\Junk)
//	checks/submit            SMTP submission
//	checks/mailmanrest       the Mailman 3 REST client (held queue, settings, queues, rosters)
//	checks/hyperkitty        HyperKitty's API: does the archive hold a message
//	checks/sympaarchive      Sympa's web archive: does it hold a message (by Message-ID)
//	checks/authn             the authentication verdict (DKIM, ARC, SPF, DMARC) of a message read
//	checks/token             the signed probe token
//	checks/compose           the probe post, rendered and DKIM-signed
//	checks/mailtls           TLS modes and client configuration shared by SMTP and IMAP
//	checks/msgid             Message-ID comparison
//	checks/idn               international addresses and domains
//	checks/servertext        the cleaning of text from servers (one line, readable, cut)
//	internal/version         which listprobe this is, from the Go build information
//	internal/sandbox         an in-process mail world (SMTP, IMAP, a Mailman 3 simulator and its REST
//	                         API) for the demo, tests and the bench
//	internal/testbed         the real Postfix + Dovecot + Mailman 3 + Sympa + mlmmj stack's variables for
//	                         end-to-end tests (skip without it, fail under CI=true)
//	internal/hostileimap     an IMAP server that breaks the protocol on purpose, for tests
//	internal/dnstest         a real DNS server on loopback (miekg/dns), for tests
//	internal/testcert        self-signed certificates for the TLS tests
//
// # The path of one probe
//
//  1. schedule.go: cron fires Service.scheduled for a list (after its stable
//     jitter, never overlapping the list's previous probe); ProbeNow (GET
//     /probe) and Once (listprobe once) start one the same way.
//  2. service.go: runProbe waits for a slot (Options.MaxInFlight), then
//     Service.probe (probe.go) signs a token, registers a pendingProbe in
//     the registry (registry.go) and runs the stages on a probeRun:
//     waitSessions (the readers' accountSessions are up: a list has one
//     reader or several, readers.go; it is posted when at least one is),
//     composeProbe, submitProbe (SMTP), awaitEvidence.
//  3. awaitEvidence takes the sightings handed to the pending probe (from
//     the mailboxes, see below, or from the Mailman watcher's held queue,
//     mailman.go) and applyEvidence decides the outcome. Each reader's
//     copy is recorded on its readerRun (readerCopy): in INBOX delivered,
//     in its Junk folder junk, never delivered; the list's outcome is the
//     worst reader's in ReaderOrder (lost, junk, error, delivered), once
//     every reader has a copy or at the deadline, where a reader without
//     one is lost, or error when its mailbox (INBOX, or its Junk folder's
//     session) was unreachable.
//     A lost probe's reason says whether the reader could not have seen
//     it (blame.go: readerBlind) and, where the list's Mailman server
//     has a pipeline configured, where Mailman's queues hold its post
//     (pipeline.go: explainLost reads the queues through mailmanrest).
//     A delivered copy's authentication verdict goes into the result
//     (authentication.go: the JSON, the pages, listprobe_copy_authentication_info).
//  4. The result is recorded (metrics.go: each list's series as one listSeries,
//     metrics_lists.go, written into /metrics by exposition.go; history.go) and the probe moves
//     to the registry's finished probes; after a delivery checkArchive
//     (archive.go) asks the list's archive (HyperKitty, Sympa's web
//     archive, or an archive folder over IMAP) whether it holds the post. cleanupAfter deletes
//     the messages that were proven its own, where the account has
//     cleanup.
//
// # The path of one message
//
//  1. sessions.go: each account's accountSession watches its mailbox (one
//     IMAP session shared by every probe and list) and hands each new
//     message to Service.onMessage (incoming.go) with its Placement, on
//     that session's goroutine. An account that reads some list's copies
//     also watches its Junk folder (found by SPECIAL-USE \Junk, else
//     imap.junk_mailbox) in a second session of its own: IDLE watches one
//     folder. So 1,000 lists read by the same 3 readers use 3 INBOX and 3
//     Junk sessions. The Junk session's state is its own (junk_state.go:
//     the page, listprobe_mailbox_junk_up): a server without a Junk folder
//     leaves the account up.
//  2. trust.go: before the judgement, Authenticate computes the message's
//     authentication verdict (checks/authn: DKIM, ARC, the receiving
//     server's Authentication-Results or Received hop) for each list it
//     may be about, with the configured DNS; with only some header fields
//     fetched it computes none.
//  3. judge.go: Judge, a pure function of the message (with those
//     verdicts), the configuration and a view of this process's probes
//     (Probes), returns a Verdict: what the message is (checks.Classify),
//     which probes its verified tokens name (or the one pending probe a
//     Sympa notice matches by time), whether it is the list's own copy, a
//     late copy, forged, deletable (by the same rules in INBOX and in
//     Junk: Placement changes only the sentence), whether it is believed
//     (Trust: a notice the list's server did not provably send is only a
//     hint, and so is such a copy where the list's copies must be
//     authenticated; elsewhere an unauthenticated copy counts, marked),
//     and why. explain prints the same Verdict for a saved message, so serve
//     and explain cannot disagree.
//  4. incoming.go: onMessage applies the verdict: counts a forged token,
//     records a notice limit, hands a sighting to each pending probe it
//     decides (a hint is kept apart, hints.go, and decides only at the
//     timeout with no copy), counts a late copy of a recorded probe, and
//     deletes the message only when the verdict says DeleteNow, in the
//     folder it arrived in.
//
// # Who owns what
//
// A [Service] owns everything that lives longer than one probe: the
// account sessions (a reload reconciles them: unchanged settings keep
// their session, a changed or removed one stops once no probe holds it;
// the session layer alone sets listprobe_mailbox_up), the Mailman watchers
// (one per server: settings, queue depth, memberships and, while probes
// are pending, the held queue), the registry of probes (it outlives
// reloads), the schedule, the on-demand probes (single-flight and
// rate-limited per list), the metrics and the history.
//
// Only the list's own copy counts as a delivery, and only messages proven
// to be listprobe's own are ever deleted: both are decided in Judge alone.
package probe
