package kube

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want target
	}{
		{"my-cluster-kafka-0.my-cluster-kafka-brokers.kafka.svc:9092", target{kind: podName, name: "my-cluster-kafka-0", subdomain: "my-cluster-kafka-brokers", namespace: "kafka", port: 9092}},
		{"kafka-0.kafka-headless.kafka.svc.cluster.local:9092", target{kind: podName, name: "kafka-0", subdomain: "kafka-headless", namespace: "kafka", port: 9092}},
		{"Kafka-0.Kafka-Headless.Kafka.SVC.cluster.local.:9092", target{kind: podName, name: "kafka-0", subdomain: "kafka-headless", namespace: "kafka", port: 9092}},
		{"my-cluster-kafka-bootstrap.kafka.svc:9092", target{kind: service, name: "my-cluster-kafka-bootstrap", namespace: "kafka", port: 9092}},
		{"kafka.kafka.svc.cluster.local:9092", target{kind: service, name: "kafka", namespace: "kafka", port: 9092}},
		{"kafka.default:9092", target{kind: service, name: "kafka", namespace: "default", port: 9092}},
		{"kafka:9092", target{kind: service, name: "kafka", port: 9092}},
		{"10.244.1.7:9092", target{kind: podIP, ip: netip.MustParseAddr("10.244.1.7"), port: 9092}},
		{"[fd00::7]:9092", target{kind: podIP, ip: netip.MustParseAddr("fd00::7"), port: 9092}},
		{"[::ffff:10.0.0.1]:9092", target{kind: podIP, ip: netip.MustParseAddr("10.0.0.1"), port: 9092}},
	} {
		got, err := parseAddress(tc.addr, "cluster.local")
		if err != nil {
			t.Errorf("%s: %v", tc.addr, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.addr, got, tc.want)
		}
	}
}

func TestParseAddressErrors(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"kafka", "want host:port"},
		{"kafka:0", "bad port"},
		{"kafka:http", "bad port"},
		{"a.b.c.d.svc:9092", "not a Kubernetes address"},
		{"a.b.c:9092", "not a Kubernetes address"},
		{"kafka.svc:9092", "not a Kubernetes address"},
		{"svc.cluster.local:9092", "not a Kubernetes address"},
		{"kafka_1.ns:9092", `label "kafka_1"`},
		{"-kafka.ns:9092", "not a Kubernetes name"},
		{"kafka..ns:9092", `label ""`},
		{"kafka\x1b[31m:9092", `\x1b`},
		{"[fe80::1%eth0]:9092", "no zone"},
		{":9092", "not a Kubernetes name"},
	} {
		_, err := parseAddress(tc.addr, "cluster.local")
		if err == nil {
			t.Errorf("%q: no error", tc.addr)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q does not contain %q", tc.addr, err, tc.want)
		}
		if strings.ContainsAny(err.Error(), "\x1b\x00") {
			t.Errorf("%q: error echoes control bytes: %q", tc.addr, err)
		}
	}
}

// A cluster domain of its own: names under it are the svc forms, names
// under cluster.local no longer are.
func TestParseAddressClusterDomain(t *testing.T) {
	const domain = "k8s.corp.example"
	for _, tc := range []struct {
		addr string
		want target
	}{
		{"kafka-0.kafka-headless.kafka.svc.k8s.corp.example:9092", target{kind: podName, name: "kafka-0", subdomain: "kafka-headless", namespace: "kafka", port: 9092}},
		{"kafka.kafka.svc.K8S.corp.example.:9092", target{kind: service, name: "kafka", namespace: "kafka", port: 9092}},
		{"kafka-0.kafka-headless.kafka.svc:9092", target{kind: podName, name: "kafka-0", subdomain: "kafka-headless", namespace: "kafka", port: 9092}},
	} {
		got, err := parseAddress(tc.addr, domain)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.addr, got, err, tc.want)
		}
	}
	_, err := parseAddress("kafka-0.kafka-headless.kafka.svc.cluster.local:9092", domain)
	if err == nil || !strings.Contains(err.Error(), "svc[.k8s.corp.example]") {
		t.Errorf("cluster.local under another domain: %v", err)
	}
	for _, bad := range []string{"", "corp..example", "corp_example", "-corp.example", "corp.example\x1b"} {
		if _, err := checkDomain(bad); err == nil {
			t.Errorf("checkDomain(%q): no error", bad)
		}
	}
	if d, err := checkDomain("Corp.Example."); err != nil || d != "corp.example" {
		t.Errorf("checkDomain(Corp.Example.) = %q, %v", d, err)
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a.b.ns.svc:9092", "a.ns.svc.cluster.local:1", "a:1", "1.2.3.4:5", "[::1]:9", "x\x00:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		domain := "cluster.local"
		if len(addr)%2 == 1 {
			domain = "corp.example"
		}
		tg, err := parseAddress(addr, domain)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\x00\x1b\r\n") {
				t.Fatalf("error echoes control bytes: %q", err)
			}
			return
		}
		if tg.port < 1 || tg.port > 65535 {
			t.Fatalf("port %d", tg.port)
		}
		switch tg.kind {
		case podName, service:
			for _, l := range []string{tg.name, tg.namespace, tg.subdomain} {
				if l != "" && !isLabel(l) {
					t.Fatalf("%q: label %q", addr, l)
				}
			}
		case podIP:
			if !tg.ip.IsValid() || tg.ip.Zone() != "" {
				t.Fatalf("%q: ip %v", addr, tg.ip)
			}
		default:
			t.Fatalf("%q: kind %d", addr, tg.kind)
		}
	})
}
