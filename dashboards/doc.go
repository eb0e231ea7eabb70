// Package dashboards holds listprobe's Grafana dashboards and gives their
// PromQL queries to tests.
//
// The dashboard JSON files in this directory are provisioned into Grafana as
// they are (see provisioning/), so they carry a fixed uid, a pinned
// schemaVersion, a datasource variable used by every panel and no __inputs.
// The files are embedded so that tests elsewhere (a real Prometheus scraping
// `listprobe demo`) can evaluate every query through [Queries].
package dashboards
