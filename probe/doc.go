// Package probe implements listprobe's service: it posts signed probes to
// mailing lists on a schedule, decides what became of each one from the
// evidence the mail world gives back, and exports the outcomes as
// Prometheus metrics, a status page and on-demand probes.
//
// # Architecture
//
// Imports flow one way, top to bottom:
//
//	cmd/listprobe      flags, subcommands (serve, once, check-config, explain, demo), signals
//	probe/web          the status page, /probe, /-/reload, over web.Service (a narrow view of Service)
//	probe              the runtime: Service, sessions, Mailman watchers, registry, schedule,
//	                   the probe's stages, the judgement of a message (Judge), metrics, history
//	probe/config       the configuration file: plain types, LoadFile and Load, validation
//	checks             the classifier of a message (Classify -> checks.Evidence); below it the
//	                   protocol clients and the probe's parts: checks/imapwatch (IMAP watching),
//	                   checks/submit (SMTP), checks/mailmanrest, checks/token, checks/compose
//
// # The path of one probe
//
//  1. schedule.go: cron fires Service.scheduled for a list (after its stable
//     jitter, never overlapping the list's previous probe); ProbeNow (GET
//     /probe) and Once (listprobe once) start one the same way.
//  2. service.go: runProbe waits for a slot (Options.MaxInFlight), then
//     Service.probe (probe.go) signs a token, registers a pendingProbe in
//     the registry (registry.go) and runs the stages on a probeRun:
//     waitSessions (the reader's accountSession is up), composeProbe,
//     submitProbe (SMTP), awaitEvidence.
//  3. awaitEvidence takes the sightings handed to the pending probe (from
//     the mailboxes, see below, or from the Mailman watcher's held queue,
//     mailman.go) and applyEvidence decides the outcome; at the deadline it
//     is lost, or error when the reader's mailbox was unreachable.
//  4. The result is recorded (metrics.go, history.go), the probe moves to
//     the registry's finished probes, and cleanupAfter deletes the
//     messages that were proven its own, where the account has cleanup.
//
// # The path of one message
//
//  1. sessions.go: each account's accountSession watches its mailbox (one
//     IMAP session shared by every probe) and hands each new message to
//     Service.onMessage (incoming.go), on that session's goroutine.
//  2. judge.go: Judge, a pure function of the message, the configuration
//     and a view of this process's probes (Probes), returns a Verdict:
//     what the message is (checks.Classify), which probes its verified
//     tokens name (or the one pending probe a Sympa notice matches by
//     time), whether it is the list's own copy, a late copy, forged,
//     deletable, and why. explain prints the same Verdict for a saved
//     message, so serve and explain cannot disagree.
//  3. incoming.go: onMessage applies the verdict: counts a forged token,
//     records a notice limit, hands a sighting to each pending probe it
//     decides, counts a late copy of a recorded probe, and deletes the
//     message only when the verdict says DeleteNow.
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
