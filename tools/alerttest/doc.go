// Package alerttest measures the shipped alert rules end to end: a real
// Prometheus (Debian's prometheus package) evaluates
// deploy/prometheus/alerts.yml against `listprobe serve` probing lists of
// the real-stack testbed (deploy/testbed/up.sh) with the shipped defaults,
// and the test times how long a moderation change takes to alert.
//
// It is a package of its own because it waits for real schedules (about
// five minutes): alone in its test binary it has the whole default
// `go test` timeout, instead of eating into cmd/listprobe's.
package alerttest
