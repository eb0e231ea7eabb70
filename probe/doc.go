// Package probe implements listprobe's service: it posts signed probes to
// mailing lists on a schedule, decides what became of each one from the
// evidence the mail world gives back, and exports the outcomes as
// Prometheus metrics, a status page and on-demand probes.
//
// # Who owns what
//
// A [Service] owns everything that lives longer than one probe:
//
//   - the mailbox sessions, one long-lived IMAP session per account
//     (sessions.go). A reload reconciles them: an account whose connection
//     settings are unchanged keeps its session (no reconnect, no missed
//     mail); a changed or removed one stops once no probe holds it. The
//     session layer alone sets listprobe_mailbox_up.
//   - the Mailman watchers, one per Mailman 3 server (mailman.go). Each
//     reads its lists' moderation settings, queue depth and the probe
//     accounts' memberships every refresh, and, while probes of a list are
//     pending, its held queue, handing a held probe to it as evidence.
//   - the registry of probes (registry.go): pending probes, which evidence
//     is routed to, and recently finished ones, whose late copies are
//     counted and cleaned up. It outlives reloads.
//   - the schedule (cron with a stable per-list jitter, a list's probes
//     never overlapping, a cap on probes in flight), the on-demand probes
//     (single-flight and rate-limited per list), the metrics and the
//     history.
//
// Every new message of every session goes through [Service] once: it is
// classified (package checks), its tokens are verified, and it is handed to
// the probe it names, counted as a late copy of a finished one, or left
// alone. Only the list's own copy counts as a delivery, and only messages
// proven to be listprobe's own are ever deleted.
//
// # A probe
//
// A probe is a run of stages behind one signature (probe.go), in the style
// of blackbox_exporter's probers: wait for the sessions it needs, compose
// and sign the message, submit it over SMTP, await the evidence that
// decides it (the copy, a hold notice, a rejection, a bounce, the Mailman
// held queue) until its timeout. A stage that panics decides the outcome as
// error instead of ending the process. Once recorded, the messages that
// decided it are cleaned up where the account allows it.
//
// # Configuration
//
// The configuration is package probe/config: plain types, loaded strictly;
// every error names its file, line and field.
package probe
