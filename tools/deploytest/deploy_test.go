// Package deploytest checks listprobe's deployment files (the repository's
// deploy/ directory): the Prometheus alert rules, the systemd unit, the
// container image, the compose stack and the kustomize base and overlays. It
// renders and strictly decodes the files and runs the tools that check them
// (promtool, systemd-analyze). It lives in the tools module so that
// kustomize, k8s.io/api and prometheus-operator are not dependencies of the
// listprobe module itself.
package deploytest

import (
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestMain runs the tests from the repository's deploy/ directory, so that
// the paths below read as they do in the repository.
func TestMain(m *testing.M) {
	flag.Parse()
	if err := os.Chdir("../../deploy"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

var update = flag.Bool("update", false, "rewrite kubernetes/base/prometheusrule.yaml from prometheus/alerts.yml")

const (
	alertsFile         = "prometheus/alerts.yml"
	alertsTestFile     = "prometheus/alerts_test.yml"
	prometheusRuleFile = "kubernetes/base/prometheusrule.yaml"
	exampleOverlay     = "kubernetes/overlays/example"
	// shardedOverlay is the example overlay with shards turned on, as
	// docs/deploy.md says (made in memory by kustomizeFS).
	shardedOverlay = "kubernetes/overlays/sharded"
	// secretName is the Secret the pods mount and the recipe creates.
	secretName = "listprobe-secrets"
)

// requireTool returns the path of a command line tool, skipping the test
// when it is missing, except in CI (CI=true) where a missing tool is a
// failure: the check would otherwise pass by not running.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (Debian package %s); CI must have it", name, debianPackage)
	}
	t.Skipf("%s not found (Debian package %s)", name, debianPackage)
	return ""
}

func runCheckScript(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("bash", script)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out.String())
	}
	return out.String()
}

func TestPromtoolChecksAndUnitTestsPass(t *testing.T) {
	requireTool(t, "promtool", "prometheus")
	out := runCheckScript(t, "prometheus/check.sh")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("prometheus/check.sh printed no SUCCESS:\n%s", out)
	}
}

func TestSystemdUnitVerifiesAndIsHardened(t *testing.T) {
	requireTool(t, "systemd-analyze", "systemd")
	out := runCheckScript(t, "systemd/check.sh")
	i := strings.Index(out, "Overall exposure level")
	if i < 0 {
		t.Fatalf("systemd/check.sh printed no exposure level:\n%s", out)
	}
	t.Logf("systemd-analyze security: %s", strings.TrimSpace(strings.SplitN(out[i:], "\n", 2)[0]))
}

// ruleFile is the top level of a Prometheus rule file. Decoding it into the
// operator's PrometheusRuleSpec checks it against the CRD's Go types too.
func readAlertRules(t *testing.T) monitoringv1.PrometheusRuleSpec {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := sigsyaml.UnmarshalStrict(raw, &spec); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return spec
}

// prometheusRuleYAML is the PrometheusRule that carries alerts.yml: the
// rules file indented under spec, comments and all, so that it reads the
// same as the rules file.
func prometheusRuleYAML(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("# Generated from deploy/prometheus/alerts.yml by\n")
	b.WriteString("#   go -C tools test ./deploytest -run TestPrometheusRuleMatchesAlerts -update\n")
	b.WriteString("# Do not edit: edit alerts.yml and regenerate.\n")
	b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: listprobe\nspec:\n")
	for _, line := range strings.SplitAfter(string(raw), "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString(strings.TrimLeft(line, " \t"))
			continue
		}
		b.WriteString("  " + line)
	}
	return b.Bytes()
}

func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	if *update {
		if err := os.WriteFile(prometheusRuleFile, prometheusRuleYAML(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(prometheusRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	var rule monitoringv1.PrometheusRule
	if err := sigsyaml.UnmarshalStrict(raw, &rule); err != nil {
		t.Fatalf("%s: %v", prometheusRuleFile, err)
	}
	want := readAlertRules(t)
	if !reflect.DeepEqual(rule.Spec.Groups, want.Groups) {
		t.Errorf("%s differs from %s; regenerate with -update", prometheusRuleFile, alertsFile)
	}
	if !bytes.Equal(raw, prometheusRuleYAML(t)) {
		t.Errorf("%s is not the generated text of %s; regenerate with -update", prometheusRuleFile, alertsFile)
	}
}

// Each alert must have a promtool case where it fires and one where it does
// not: a rule that can never fire, or always fires, passes neither.
func TestEveryAlertHasFiringAndQuietTests(t *testing.T) {
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	raw, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatalf("%s: %v", alertsTestFile, err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	spec := readAlertRules(t)
	alerts := 0
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !firing[r.Alert] {
				t.Errorf("alert %s has no promtool test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no promtool test where it stays quiet", r.Alert)
			}
			checkAlertConventions(t, g.Name, r)
		}
	}
	if alerts < 10 {
		t.Errorf("%d alerts in %s", alerts, alertsFile)
	}
}

func checkAlertConventions(t *testing.T, group string, r monitoringv1.Rule) {
	t.Helper()
	name := group + "/" + r.Alert
	if r.Alert[0] < 'A' || r.Alert[0] > 'Z' || strings.ContainsAny(r.Alert, "_- ") {
		t.Errorf("%s: alert name is not CamelCase", name)
	}
	if r.For == nil {
		t.Errorf("%s: no for:", name)
	}
	if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
		t.Errorf("%s: severity %q", name, r.Labels["severity"])
	}
	for _, key := range []string{"summary", "description"} {
		if strings.TrimSpace(r.Annotations[key]) == "" {
			t.Errorf("%s: no %s annotation", name, key)
		}
	}
	// The annotations must say which list (or account, mailbox, instance).
	if !strings.Contains(r.Annotations["summary"], "{{ $labels.") {
		t.Errorf("%s: summary names no label", name)
	}
}

// renderKustomize renders a kustomization in-process, as `kubectl
// kustomize` would, and returns each object as YAML keyed by kind/name.
func renderKustomize(t *testing.T, fsys filesys.FileSystem, dir string) map[string][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, r := range resources.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out[r.GetKind()+"/"+r.GetName()] = y
	}
	return out
}

// decodeStrict decodes a rendered object into its Go type; unknown fields
// are errors, as a typo in a manifest would be silently dropped otherwise.
func decodeStrict(t *testing.T, key string, raw []byte, into any) {
	t.Helper()
	if err := sigsyaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s: strict decode: %v\n%s", key, err, raw)
	}
}

type renderedObjects struct {
	raw            map[string][]byte
	deployments    []appsv1.Deployment
	statefulSets   []appsv1.StatefulSet
	services       map[string]corev1.Service
	configMap      corev1.ConfigMap
	secrets        []corev1.Secret
	namespaces     []string
	serviceMonitor monitoringv1.ServiceMonitor
	prometheusRule monitoringv1.PrometheusRule
	workloadName   string
	replicas       *int32
	workloadLabels map[string]string // the workload's selector
	pod            corev1.PodTemplateSpec
	workloadKind   string
}

// decodeRendered renders an overlay of deploy/kubernetes as a user has it
// once the recipe ran (kustomizeFS) and decodes every object strictly.
func decodeRendered(t *testing.T, dir string) renderedObjects {
	t.Helper()
	return decodeRenderedIn(t, kustomizeFS(t), dir)
}

func decodeRenderedIn(t *testing.T, fsys filesys.FileSystem, dir string) renderedObjects {
	t.Helper()
	r := renderedObjects{raw: renderKustomize(t, fsys, dir), services: map[string]corev1.Service{}}
	seen := map[string]int{}
	for key, raw := range r.raw {
		kind := strings.SplitN(key, "/", 2)[0]
		seen[kind]++
		switch kind {
		case "Deployment":
			var d appsv1.Deployment
			decodeStrict(t, key, raw, &d)
			r.deployments = append(r.deployments, d)
		case "StatefulSet":
			var s appsv1.StatefulSet
			decodeStrict(t, key, raw, &s)
			r.statefulSets = append(r.statefulSets, s)
		case "Service":
			var s corev1.Service
			decodeStrict(t, key, raw, &s)
			r.services[s.Name] = s
		case "ConfigMap":
			decodeStrict(t, key, raw, &r.configMap)
		case "Secret":
			var s corev1.Secret
			decodeStrict(t, key, raw, &s)
			r.secrets = append(r.secrets, s)
		case "Namespace":
			var n corev1.Namespace
			decodeStrict(t, key, raw, &n)
			r.namespaces = append(r.namespaces, n.Name)
		case "ServiceMonitor":
			decodeStrict(t, key, raw, &r.serviceMonitor)
		case "PrometheusRule":
			decodeStrict(t, key, raw, &r.prometheusRule)
		default:
			t.Errorf("%s: %s: kind the test does not decode", dir, key)
		}
	}
	for _, kind := range []string{"ConfigMap", "Secret", "Namespace", "ServiceMonitor", "PrometheusRule"} {
		if seen[kind] != 1 {
			t.Errorf("%s: %d objects of kind %s, want 1", dir, seen[kind], kind)
		}
	}
	if _, ok := r.services["listprobe"]; !ok {
		t.Errorf("%s: no Service listprobe", dir)
	}
	switch {
	case len(r.deployments) == 1 && len(r.statefulSets) == 0:
		d := r.deployments[0]
		r.workloadKind, r.workloadName, r.replicas, r.workloadLabels, r.pod = "Deployment", d.Name, d.Spec.Replicas, d.Spec.Selector.MatchLabels, d.Spec.Template
	case len(r.deployments) == 0 && len(r.statefulSets) == 1:
		s := r.statefulSets[0]
		r.workloadKind, r.workloadName, r.replicas, r.workloadLabels, r.pod = "StatefulSet", s.Name, s.Spec.Replicas, s.Spec.Selector.MatchLabels, s.Spec.Template
	default:
		t.Fatalf("%s: %d Deployments and %d StatefulSets, want one workload", dir, len(r.deployments), len(r.statefulSets))
	}
	return r
}

// shardCount returns the value of the container's --shard.count flag, or 0.
func shardCount(t *testing.T, args []string) int32 {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--shard.count="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("--shard.count=%q: %v", v, err)
			}
			return int32(n)
		}
	}
	return 0
}

func TestKustomizeRendersStrictTypedObjects(t *testing.T) {
	for _, dir := range []string{exampleOverlay, shardedOverlay} {
		t.Run(dir, func(t *testing.T) { checkRendered(t, dir) })
	}
}

func checkRendered(t *testing.T, dir string) {
	r := decodeRendered(t, dir)
	checkRenderedMeta(t, r)
	pod := r.pod.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers", r.workloadKind, len(pod.Containers))
	}
	c := pod.Containers[0]
	checkRenderedWorkload(t, r, c)
	checkRenderedMounts(t, r, c)
	checkRenderedServices(t, r)
}

// checkRenderedMeta checks every object's labels and placeholders, and
// the namespace of the Secret.
func checkRenderedMeta(t *testing.T, r renderedObjects) {
	t.Helper()
	for key, raw := range r.raw {
		var meta struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component", "app.kubernetes.io/part-of"} {
			if meta.Metadata.Labels[l] == "" {
				t.Errorf("%s: no label %s", key, l)
			}
		}
		if bytes.Contains(raw, []byte("REPLACE-ME")) {
			t.Errorf("%s: a REPLACE-ME placeholder", key)
		}
	}
	for _, key := range []string{"Namespace/listprobe", "Secret/" + r.secrets[0].Name} {
		if ns, _ := objectMeta(t, r.raw[key]); key != "Namespace/listprobe" && ns != "listprobe" {
			t.Errorf("%s is in namespace %q, want listprobe", key, ns)
		}
	}
}

// checkRenderedWorkload checks the replicas against the shards, and the
// pod's and container's security, port and probes.
func checkRenderedWorkload(t *testing.T, r renderedObjects, c corev1.Container) {
	t.Helper()
	w, pod := r.workloadKind, r.pod.Spec
	shards := shardCount(t, c.Args)
	switch w {
	case "Deployment":
		if r.replicas == nil || *r.replicas != 1 || shards != 0 {
			t.Errorf("Deployment: replicas %v, --shard.count %d; want 1 replica and no shards (two probers probe twice)", r.replicas, shards)
		}
	case "StatefulSet":
		if r.replicas == nil || *r.replicas < 2 || *r.replicas != shards {
			t.Errorf("StatefulSet: replicas %v and --shard.count=%d must agree (and be at least 2)", r.replicas, shards)
		}
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod does not require runAsNonRoot", w)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("%s: pod runs as uid 0 or an unset uid", w)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem is not read-only", w)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: privilege escalation allowed", w)
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities not dropped", w)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" {
		t.Errorf("%s: ports %+v, want one named metrics", w, c.Ports)
	}
	for probeName, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := map[string]string{"liveness": "/-/healthy", "readiness": "/-/ready"}[probeName]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.StrVal != "metrics" {
			t.Errorf("%s: %s probe is not GET %s on port metrics: %+v", w, probeName, want, p)
		}
	}
}

// checkRenderedMounts checks that the generated Secret and ConfigMap are
// mounted read-only and that the args name the mounted config.
func checkRenderedMounts(t *testing.T, r renderedObjects, c corev1.Container) {
	t.Helper()
	w, pod := r.workloadKind, r.pod.Spec
	// The generated Secret and ConfigMap (hash-suffixed names) are the ones
	// mounted, as files.
	if mount, _ := secretMount(t, r); mount == "" {
		t.Errorf("%s: Secret %s is not mounted as files", w, r.secrets[0].Name)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounted[m.Name] = m.MountPath
		if !m.ReadOnly {
			t.Errorf("%s: volume %s mounted writable", w, m.Name)
		}
	}
	configMounted := false
	for name, v := range volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == r.configMap.Name && mounted[name] != "" {
			configMounted = true
		}
	}
	if !configMounted {
		t.Errorf("%s: ConfigMap %s is not mounted", w, r.configMap.Name)
	}
	if _, ok := r.configMap.Data["listprobe.yml"]; !ok {
		t.Errorf("ConfigMap: no listprobe.yml, keys %v", mapsKeys(r.configMap.Data))
	}
	if !slices.ContainsFunc(c.Args, func(a string) bool { return a == "--config.file="+mounted["config"]+"/listprobe.yml" }) {
		t.Errorf("%s: args %v do not name the mounted config", w, c.Args)
	}
}

// checkRenderedServices checks that the Services, the ServiceMonitor and
// the workload agree on the port name and the labels, and that the
// PrometheusRule is the alert rules file.
func checkRenderedServices(t *testing.T, r renderedObjects) {
	t.Helper()
	w := r.workloadKind
	// Services, ServiceMonitor and the workload agree on the port name and
	// the labels.
	for name, svc := range r.services {
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].TargetPort.StrVal != "metrics" {
			t.Errorf("Service %s: ports %+v, want one named metrics targeting metrics", name, svc.Spec.Ports)
		}
		if !labelsMatch(svc.Spec.Selector, r.pod.Labels) || len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s: selector %v does not select the pods %v", name, svc.Spec.Selector, r.pod.Labels)
		}
	}
	if !labelsMatch(r.workloadLabels, r.pod.Labels) || len(r.workloadLabels) == 0 {
		t.Errorf("%s: selector %v does not select its pods %v", w, r.workloadLabels, r.pod.Labels)
	}
	sm := r.serviceMonitor
	matched := 0
	for _, svc := range r.services {
		if labelsMatch(sm.Spec.Selector.MatchLabels, svc.Labels) {
			matched++
		}
	}
	// One Service only: a second (the StatefulSet's headless one) would make
	// Prometheus scrape every pod twice.
	if len(sm.Spec.Selector.MatchLabels) == 0 || matched != 1 || !labelsMatch(sm.Spec.Selector.MatchLabels, r.services["listprobe"].Labels) {
		t.Errorf("ServiceMonitor: selector %v selects %d Services, want exactly Service listprobe", sm.Spec.Selector.MatchLabels, matched)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor: endpoints %+v, want port metrics", sm.Spec.Endpoints)
	}
	if !reflect.DeepEqual(r.prometheusRule.Spec.Groups, readAlertRules(t).Groups) {
		t.Error("rendered PrometheusRule groups differ from prometheus/alerts.yml")
	}
}

// secretMount returns where the pods mount the rendered Secret (generated
// as secretName with a hash suffix), and the volume's item mapping (nil:
// every key is a file of its own name).
func secretMount(t *testing.T, r renderedObjects) (string, []corev1.KeyToPath) {
	t.Helper()
	if len(r.secrets) != 1 || !strings.HasPrefix(r.secrets[0].Name, secretName+"-") {
		t.Fatalf("rendered Secrets %v, want one generated %s", r.secrets, secretName)
	}
	for _, v := range r.pod.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != r.secrets[0].Name {
			continue
		}
		for _, c := range r.pod.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					return m.MountPath, v.Secret.Items
				}
			}
		}
	}
	return "", nil
}

// objectMeta decodes the metadata every rendered object has.
func objectMeta(t *testing.T, raw []byte) (namespace string, labels map[string]string) {
	t.Helper()
	var m struct {
		Metadata struct {
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := sigsyaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Metadata.Namespace, m.Metadata.Labels
}

// The overlays set what a real cluster needs: a namespace on every object,
// an image from a registry with a version tag, and the label the Prometheus
// Operator's selectors match on the ServiceMonitor and the PrometheusRule.
func TestOverlaysSetNamespaceImageAndOperatorLabels(t *testing.T) {
	type settings struct{ namespace, image, smRelease, ruleRelease string }
	got := map[string]settings{}
	for _, dir := range []string{exampleOverlay, shardedOverlay} {
		r := decodeRendered(t, dir)
		var s settings
		for key, raw := range r.raw {
			if strings.HasPrefix(key, "Namespace/") {
				continue // not namespaced
			}
			ns, _ := objectMeta(t, raw)
			if ns == "" {
				t.Errorf("%s: %s has no namespace", dir, key)
			}
			if s.namespace != "" && ns != s.namespace {
				t.Errorf("%s: %s in namespace %s, others in %s", dir, key, ns, s.namespace)
			}
			s.namespace = ns
		}
		s.image = r.pod.Spec.Containers[0].Image
		name, tag, _ := strings.Cut(s.image, ":")
		if !strings.Contains(name, "/") || tag == "" || tag == "latest" || strings.HasPrefix(name, "localhost/") {
			t.Errorf("%s: image %q is not a registry image with a version tag", dir, s.image)
		}
		s.smRelease = r.serviceMonitor.Labels["release"]
		s.ruleRelease = r.prometheusRule.Labels["release"]
		if s.smRelease == "" || s.ruleRelease != s.smRelease {
			t.Errorf("%s: ServiceMonitor release=%q, PrometheusRule release=%q: want the same Operator selector label on both", dir, s.smRelease, s.ruleRelease)
		}
		got[dir] = s
	}
	if got[exampleOverlay] != got[shardedOverlay] {
		t.Errorf("the overlays disagree: example %+v, sharded %+v", got[exampleOverlay], got[shardedOverlay])
	}
}

// The shards component swaps the Deployment for a StatefulSet running the
// same pod, plus --shard.count, with the index left to the pod's ordinal.
func TestShardsComponentRunsTheSamePodAsAStatefulSet(t *testing.T) {
	single := decodeRendered(t, exampleOverlay)
	sharded := decodeRendered(t, shardedOverlay)
	if sharded.workloadKind != "StatefulSet" || single.workloadKind != "Deployment" {
		t.Fatalf("example renders a %s, sharded a %s", single.workloadKind, sharded.workloadKind)
	}
	s := sharded.statefulSets[0]
	if s.Name != single.workloadName {
		t.Errorf("StatefulSet %s: pods would not be named %s-N after the Deployment", s.Name, single.workloadName)
	}
	if _, ok := sharded.services[s.Spec.ServiceName]; !ok {
		t.Errorf("StatefulSet: serviceName %q is not a rendered Service", s.Spec.ServiceName)
	}
	if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("StatefulSet: podManagementPolicy %q, want Parallel: shards do not depend on each other", s.Spec.PodManagementPolicy)
	}
	args := sharded.pod.Spec.Containers[0].Args
	for _, a := range args {
		if strings.HasPrefix(a, "--shard.index") {
			t.Errorf("StatefulSet: %s: the index must come from the pod's host name, the same for every pod", a)
		}
	}
	// Apart from the shard flag, the pod is the Deployment's.
	a, b := single.pod.DeepCopy(), sharded.pod.DeepCopy()
	b.Spec.Containers[0].Args = slices.DeleteFunc(b.Spec.Containers[0].Args, func(a string) bool { return strings.HasPrefix(a, "--shard.count=") })
	if !reflect.DeepEqual(a, b) {
		ya, _ := sigsyaml.Marshal(a)
		yb, _ := sigsyaml.Marshal(b)
		t.Errorf("the StatefulSet's pod differs from the Deployment's beyond --shard.count:\n%s\n---\n%s", ya, yb)
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func mapsKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The strict decoding above must reject a misspelt field; check it does on
// a Deployment with one.
func TestStrictDecodeRejectsUnknownField(t *testing.T) {
	raw := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 1\n")
	var d appsv1.Deployment
	err := sigsyaml.UnmarshalStrict(raw, &d)
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("misspelt field accepted: %v", err)
	}
}

// composeFile is the part of the compose specification compose.yaml uses;
// decoding with KnownFields makes anything else an error.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]struct{}       `yaml:"volumes"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Restart     string            `yaml:"restart"`
	ReadOnly    bool              `yaml:"read_only"`
	User        string            `yaml:"user"`
	CapDrop     []string          `yaml:"cap_drop"`
	SecurityOpt []string          `yaml:"security_opt"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
	Environment map[string]string `yaml:"environment"`
	Tmpfs       []string          `yaml:"tmpfs"`
	DependsOn   []string          `yaml:"depends_on"`
}

func decodeYAMLStrict(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// bindMounts maps container paths to host paths (relative to the compose
// file's directory) for one service.
func bindMounts(t *testing.T, s composeService) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("volume %q has no target", v)
			continue
		}
		if !strings.HasPrefix(parts[0], ".") {
			continue // a named volume
		}
		out[parts[1]] = filepath.Join("compose", parts[0])
	}
	return out
}

func TestComposeStackIsConsistent(t *testing.T) {
	var c composeFile
	decodeYAMLStrict(t, "compose/compose.yaml", &c)
	for _, name := range []string{"listprobe", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("compose.yaml: no service %s", name)
		}
	}
	// Every bind-mounted file or directory is in the repository.
	for name, s := range c.Services {
		for target, host := range bindMounts(t, s) {
			if _, err := os.Stat(host); err != nil {
				t.Errorf("compose.yaml: service %s mounts %s at %s: %v", name, host, target, err)
			}
		}
	}
	lp := c.Services["listprobe"]
	if lp.Build == nil || lp.Build.Dockerfile != "deploy/container/Containerfile" {
		t.Errorf("compose.yaml: listprobe is not built from deploy/container/Containerfile")
	} else if _, err := os.Stat(filepath.Join("compose", lp.Build.Context, lp.Build.Dockerfile)); err != nil {
		t.Errorf("compose.yaml: build file: %v", err)
	}
	if !lp.ReadOnly || lp.User == "" || strings.HasPrefix(lp.User, "0") || !slices.Contains(lp.CapDrop, "ALL") {
		t.Errorf("compose.yaml: listprobe is not read-only, non-root, without capabilities: %+v", lp)
	}

	port := checkComposePrometheus(t, c, lp)
	checkComposeGrafana(t, c)

	// The override for `listprobe demo` is valid YAML and only swaps the
	// command (its !reset tags are compose's, not decodable into structs).
	var demo yaml.Node
	raw, err := os.ReadFile("compose/compose.demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &demo); err != nil {
		t.Fatalf("compose.demo.yaml: %v", err)
	}
	if !strings.Contains(string(raw), `command: ["demo", "--web.listen-address=`+port+`"]`) {
		t.Errorf("compose.demo.yaml does not run listprobe demo on %s", port)
	}
}

// checkComposePrometheus checks that Prometheus loads the rules from where
// prometheus.yml says and scrapes the listprobe service on the port it
// listens on, and returns that port (":9171").
func checkComposePrometheus(t *testing.T, c composeFile, lp composeService) string {
	t.Helper()
	var promConfig struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &promConfig); err != nil {
		t.Fatal(err)
	}
	promMounts := bindMounts(t, c.Services["prometheus"])
	for _, rf := range promConfig.RuleFiles {
		if host := promMounts[rf]; filepath.Clean(host) != filepath.Clean(alertsFile) {
			t.Errorf("compose.yaml: rule file %s is %q in the prometheus container, want %s", rf, host, alertsFile)
		}
	}
	var target string
	for _, sc := range promConfig.ScrapeConfigs {
		if sc.JobName == "listprobe" && len(sc.StaticConfigs) > 0 && len(sc.StaticConfigs[0].Targets) > 0 {
			target = sc.StaticConfigs[0].Targets[0]
		}
	}
	if target == "" {
		t.Fatal("prometheus.yml: no listprobe job with a target")
	}
	port := target[strings.LastIndex(target, ":"):]
	if !strings.HasPrefix(target, "listprobe:") || !slices.ContainsFunc(lp.Command, func(a string) bool { return a == "--web.listen-address="+port }) {
		t.Errorf("prometheus.yml scrapes %s but listprobe runs %v", target, lp.Command)
	}
	return port
}

// checkComposeGrafana checks that Grafana gets the provisioning files and
// finds the dashboard where the provider looks.
func checkComposeGrafana(t *testing.T, c composeFile) {
	t.Helper()
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	raw, err := os.ReadFile("../dashboards/provisioning/dashboards/listprobe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &provider); err != nil {
		t.Fatal(err)
	}
	grafanaMounts := bindMounts(t, c.Services["grafana"])
	for inside, want := range map[string]string{
		"/etc/grafana/provisioning/dashboards":  "../dashboards/provisioning/dashboards",
		"/etc/grafana/provisioning/datasources": "../dashboards/optional/datasources",
	} {
		if filepath.Clean(grafanaMounts[inside]) != filepath.Clean(want) {
			t.Errorf("compose.yaml: grafana's %s is %q, want %s", inside, grafanaMounts[inside], want)
		}
	}
	if len(provider.Providers) != 1 {
		t.Fatalf("dashboard provider file: %d providers", len(provider.Providers))
	}
	dashboard := provider.Providers[0].Options.Path + "/list-health.json"
	if filepath.Clean(grafanaMounts[dashboard]) != filepath.Clean("../dashboards/list-health.json") {
		t.Errorf("compose.yaml: %s in the grafana container is %q", dashboard, grafanaMounts[dashboard])
	}
}

// exampleConfigs are the example listprobe.yml files and where each expects
// its secrets (a directory, or the credential prefix of the systemd unit).
var exampleConfigs = map[string]string{
	"compose/listprobe.yml":                     "/run/secrets/",
	"kubernetes/overlays/example/listprobe.yml": "/run/secrets/listprobe/",
	"systemd/listprobe.yml":                     "/run/credentials/listprobe.service/secrets_",
}

// The example configs say the same thing, apart from their comments and
// where the secrets are.
func TestExampleConfigsAgree(t *testing.T) {
	normal := map[string]string{}
	for file, secrets := range exampleConfigs {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		normal[file] = strings.ReplaceAll(strings.Join(lines, "\n"), secrets, "SECRETS/")
		var cfg map[string]any
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, key := range []string{"global", "accounts", "lists"} {
			if _, ok := cfg[key]; !ok {
				t.Errorf("%s has no %s", file, key)
			}
		}
	}
	for file, n := range normal {
		if n != normal["compose/listprobe.yml"] {
			t.Errorf("%s and compose/listprobe.yml differ beyond the secrets path", file)
		}
	}
	// The README's first configuration is the packaged one.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(readme), "```yaml\nglobal:")
	block, _, _ = strings.Cut(block, "```")
	shown := strings.ReplaceAll("global:"+block, exampleConfigs["systemd/listprobe.yml"], "SECRETS/")
	if strings.TrimSpace(shown) != strings.TrimSpace(normal["systemd/listprobe.yml"]) {
		t.Errorf("README.md's first configuration is not deploy/systemd/listprobe.yml (without its comment lines):\n%s", shown)
	}
}

// buildListprobe builds cmd/listprobe with the given environment and flags
// into a temporary directory and returns the binary's path.
func buildListprobe(t *testing.T, env []string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "listprobe")
	cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", bin, "../cmd/listprobe")...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/listprobe: %v\n%s", err, out)
	}
	return bin
}

// The example configs must pass listprobe's own check, with their secret
// files present (made up here, under a temporary directory).
func TestExampleConfigsPassCheckConfig(t *testing.T) {
	bin := buildListprobe(t, nil)
	for file, secretsDir := range exampleConfigs {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, name := range []string{"member_password", "reader_password", "mailman_password", "signing_key"} {
			if !strings.Contains(string(raw), secretsDir+name) {
				t.Errorf("%s does not use the secret %s%s", file, secretsDir, name)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("an example secret of 32 bytes!!\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		config := filepath.Join(dir, "listprobe.yml")
		if err := os.WriteFile(config, []byte(strings.ReplaceAll(string(raw), secretsDir, dir+"/")), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "check-config", "--config.file="+config).CombinedOutput()
		if err != nil {
			t.Errorf("listprobe check-config %s: %v\n%s", file, err, out)
		}
	}
}

// The Containerfile's build command, run here, must give a static binary:
// the distroless "static" base has no libc and no dynamic loader.
func TestContainerBuildIsStatic(t *testing.T) {
	raw, err := os.ReadFile("container/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	var build string
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "RUN "); ok && strings.Contains(rest, "go build") {
			build = rest
		}
	}
	if !strings.HasPrefix(build, "CGO_ENABLED=0 ") || !strings.Contains(build, " -o /out/listprobe ./cmd/listprobe") {
		t.Fatalf("Containerfile's build command is not a CGO_ENABLED=0 build of ./cmd/listprobe to /out/listprobe: %q", build)
	}
	bin := filepath.Join(t.TempDir(), "listprobe")
	build = strings.Replace(build, " -o /out/listprobe ./cmd/listprobe", " -o "+bin+" ./cmd/listprobe", 1)
	// The image's ARGs, as `docker build --build-arg` would set them.
	for _, arg := range []string{"ARG VERSION=", "ARG REVISION="} {
		if !strings.Contains(string(raw), "\n"+arg) {
			t.Errorf("Containerfile has no %q", arg)
		}
	}
	cmd := exec.Command("bash", "-c", build)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-test", "REVISION=feedfacefeedfacefeedfacefeedfacefeedface")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "listprobe, version v9.9.9-test (revision: feedfacefeedfacefeedfacefeedfacefeedface") {
		t.Errorf("the image's binary, built with VERSION and REVISION, says %q (%v)", out, err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary built like the Containerfile has a dynamic loader: not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("binary built like the Containerfile needs libraries %v (%v)", libs, err)
	}
}
