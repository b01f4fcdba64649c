package main

import (
	"strings"
	"testing"
)

// Rules may name Kubernetes hops: "via k8s://CONTEXT" (package hop/kube).
// rules explain shows the context that "k8s://" stands for, reading the
// kubeconfig as kubectl does (here KUBECONFIG) without connecting.
func TestRulesExplainKube(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := writeFile(t, dir, "config", `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: "never-shown"}
contexts:
- name: prod
  context: {cluster: c, user: u, namespace: kafka}
current-context: prod
`)
	t.Setenv("KUBECONFIG", kubeconfig)
	rules := writeFile(t, dir, "k8s.rules", "*.kafka.svc:9092 => = via k8s://\n")
	bad := writeFile(t, dir, "bad.rules", "*.other.svc:9092 => = via k8s://nosuch\n")
	code, stdout, stderr := runWith(t, envCLI(nil), "rules", "explain", "--rules", rules,
		"my-cluster-kafka-0.my-cluster-kafka-brokers.kafka.svc:9092")
	if code != 0 || !strings.Contains(stdout, "k8s:// (k8s://prod)") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runWith(t, envCLI(nil), "rules", "check", bad)
	if code == 0 || !strings.Contains(stderr+stdout, `context "nosuch" does not exist`) || strings.Contains(stderr+stdout, "never-shown") {
		t.Fatalf("rules check with an unknown context: exit %d\n%s%s", code, stdout, stderr)
	}
	// A cluster whose DNS is not under cluster.local: the hop URL names
	// its domain, and rules check refuses one that is not DNS labels.
	corp := writeFile(t, dir, "corp.rules", "*.kafka.svc.k8s.corp.example:9092 => = via k8s://prod?cluster-domain=k8s.corp.example\n")
	code, stdout, stderr = runWith(t, envCLI(nil), "rules", "check", corp)
	if code != 0 {
		t.Fatalf("rules check with a cluster domain: exit %d\n%s%s", code, stdout, stderr)
	}
	for file, want := range map[string]string{
		"baddomain.rules": "*.kafka.svc:9092 => = via k8s://prod?cluster-domain=bad_label.example\n",
		"badquery.rules":  "*.kafka.svc:9092 => = via k8s://prod?domain=k8s.corp.example\n",
	} {
		path := writeFile(t, dir, file, want)
		code, stdout, stderr = runWith(t, envCLI(nil), "rules", "check", path)
		if code == 0 || !strings.Contains(stderr+stdout, file+":1:") || !strings.Contains(stderr+stdout, "k8s://prod?") {
			t.Errorf("rules check %s: exit %d\n%s%s", file, code, stdout, stderr)
		}
		t.Logf("%s: %s", file, strings.TrimSpace(stderr+stdout))
	}
}
