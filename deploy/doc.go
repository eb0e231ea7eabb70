// Package deploy holds listprobe's deployment files and their tests: the
// Prometheus alert rules (prometheus/), the systemd unit (systemd/), the
// container image (container/), the compose stack (compose/) and the
// kustomize base (kubernetes/). It has no code of its own; deploy_test.go
// renders and strictly decodes the files and runs the tools that check them
// (promtool, systemd-analyze).
package deploy
