// Package tools is the root of listprobe's tooling module: the tests of the
// dashboards and deployment files (dashboardtest, deploytest), the
// end-to-end measurement of the alert rules on the testbed (alerttest) and
// the Debian package builder (debpackage). It is a module of its own so
// that what those need (Prometheus' PromQL parser, the Grafana SDK,
// kustomize, k8s.io/api, prometheus-operator, nfpm) never becomes a
// dependency of listprobe: a `go build` or `go install` of listprobe
// resolves only what the binary and its own tests use. modules_test.go
// checks that this stays so. The dependency goes the other way only: this
// module uses listprobe itself (replace => ../) for the testbed helpers.
package tools
