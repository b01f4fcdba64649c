package kube_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/hop/kube"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: me
  user: {token: "not-shown"}
contexts:
- name: prod
  context: {cluster: prod, user: me, namespace: kafka}
current-context: prod
`

// A Strimzi cluster in namespace kafka, reached through the API server of
// kubeconfig context prod: every broker's advertised name is mapped to its
// pod, and the bootstrap service to a ready pod behind it. New makes no
// connection; the first dial opens the pod's port-forward.
func Example() {
	dir, _ := os.MkdirTemp("", "kube-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config")
	os.WriteFile(path, []byte(kubeconfig), 0o600)

	kd, err := kube.New(kube.WithKubeconfig(path), kube.WithContext("prod"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kd.Close()
	fmt.Println(kd, "namespace", kd.Namespace())

	d, err := dialer.New(
		dialer.WithVia("prod", kd),
		dialer.WithStrict(),
		dialer.WithRules("*.kafka.svc:9092 => = via prod"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	rt, _ := d.Route("my-cluster-kafka-1.my-cluster-kafka-brokers.kafka.svc:9092")
	fmt.Println(rt.Target, "via", rt.Via)
	// Output:
	// k8s://prod namespace kafka
	// my-cluster-kafka-1.my-cluster-kafka-brokers.kafka.svc:9092 via prod (k8s://prod)
}

// The k8s:// scheme on one dialer: "via k8s://CONTEXT" names the
// kubeconfig context in the rule, "k8s://" is the current context, and
// "k8s://CONTEXT/NAMESPACE" sets the namespace of addresses without one.
func ExampleNewBuilder() {
	dir, _ := os.MkdirTemp("", "kube-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config")
	os.WriteFile(path, []byte(kubeconfig), 0o600)

	d, err := dialer.New(
		dialer.WithScheme("k8s", kube.NewBuilder(kube.WithKubeconfig(path))),
		dialer.WithRules(`
*.kafka.svc:9092   => = via k8s://prod
kafka-bootstrap:9092 => = via k8s:///kafka`),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	for _, a := range []string{"kafka-0.kafka-headless.kafka.svc:9092", "kafka-bootstrap:9092"} {
		rt, _ := d.Route(a)
		fmt.Println(rt.Target, "via", rt.Via)
	}
	// Output:
	// kafka-0.kafka-headless.kafka.svc:9092 via k8s://prod
	// kafka-bootstrap:9092 via k8s:///kafka (k8s://prod)
}
