// Package tools is the root of listprobe's tooling module: the tests of the
// dashboards and deployment files (dashboardtest, deploytest) and the Debian
// package builder (debpackage). It is a module of its own so that what those
// need (Prometheus' PromQL parser, the Grafana SDK, kustomize, k8s.io/api,
// prometheus-operator, nfpm) never becomes a dependency of listprobe: a
// `go build` or `go install` of listprobe resolves only what the binary and
// its own tests use. modules_test.go checks that this stays so.
package tools
