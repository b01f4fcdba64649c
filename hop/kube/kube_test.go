package kube

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop"
)

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "` + server + `", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "secret-token-42"}
contexts:
- name: prod
  context: {cluster: c, user: u, namespace: kafka}
- name: bare
  context: {cluster: c, user: u}
current-context: prod
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNew(t *testing.T) {
	path := writeKubeconfig(t, "https://127.0.0.1:1")
	d, err := New(WithKubeconfig(path))
	if err != nil {
		t.Fatal(err)
	}
	if d.Context() != "prod" || d.Namespace() != "kafka" || d.String() != "k8s://prod" {
		t.Errorf("current context: %s %s", d, d.Namespace())
	}
	d.Close()
	d, err = New(WithKubeconfig(path), WithContext("bare"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Namespace() != "default" {
		t.Errorf("a context without a namespace: %q, want default", d.Namespace())
	}
	d.Close()
	d, err = New(WithKubeconfig(path), WithContext("bare"), WithNamespace("other"))
	if err != nil || d.Namespace() != "other" {
		t.Fatalf("WithNamespace: %v %v", d, err)
	}
	d.Close()

	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithKubeconfig(path), WithContext("nosuch")}, `context "nosuch" does not exist`},
		{[]Option{WithKubeconfig(filepath.Join(t.TempDir(), "missing"))}, "loading kubeconfig"},
		{[]Option{WithKubeconfig(path), WithNamespace("Bad_NS")}, "not a Kubernetes name"},
	} {
		_, err := New(tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-token-42") {
			t.Errorf("got %v, want an error saying %q", err, tc.want)
		}
	}
}

// An API server that accepts connections and never answers: the dial
// ends with the context, as a timeout, naming what it was doing.
func TestDialSilentAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	d, err := New(WithKubeconfig(writeKubeconfig(t, "https://"+ln.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = d.DialContext(ctx, "tcp", "kafka-0.kafka-headless.kafka.svc:9092")
	var ke *Error
	if !errors.As(err, &ke) || !ke.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a *kube.Error that is a timeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("the dial took %v with a 300 ms context", el)
	}
	if !strings.Contains(err.Error(), "pod kafka-0 in namespace kafka") || strings.Contains(err.Error(), "secret-token-42") {
		t.Fatalf("error %q", err)
	}
}

func TestDialRefusals(t *testing.T) {
	d, err := New(WithKubeconfig(writeKubeconfig(t, "https://127.0.0.1:1")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DialContext(context.Background(), "udp", "kafka:9092"); err == nil || !strings.Contains(err.Error(), "only TCP") {
		t.Errorf("udp: %v", err)
	}
	if _, err := d.DialContext(context.Background(), "tcp", "a.b.c.d.e:9092"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("bad address: %v", err)
	}
	d.Close()
	if _, err := d.DialContext(context.Background(), "tcp", "kafka:9092"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestBuilder(t *testing.T) {
	path := writeKubeconfig(t, "https://127.0.0.1:1")
	b := NewBuilder(WithKubeconfig(path))
	defer b.Close()
	build := func(raw, chain string) (hop.ContextDialer, error) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return b.Build(hop.Request{URL: u, Forward: &net.Dialer{}, Chain: chain})
	}
	for _, tc := range []struct{ url, str, ns string }{
		{"k8s://", "k8s://prod", "kafka"},
		{"k8s://prod", "k8s://prod", "kafka"},
		{"k8s://bare", "k8s://bare", "default"},
		{"k8s://bare/strimzi", "k8s://bare", "strimzi"},
	} {
		h, err := build(tc.url, "")
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		d := h.(*Dialer)
		if d.String() != tc.str || d.Namespace() != tc.ns {
			t.Errorf("%s: %s namespace %s, want %s namespace %s", tc.url, d, d.Namespace(), tc.str, tc.ns)
		}
	}
	if a, _ := build("k8s://prod", ""); a != mustBuild(t, build, "k8s://prod") {
		t.Error("the same URL built two Dialers")
	}
	// ?cluster-domain= is WithClusterDomain for the hop; one spelling of
	// a domain is one Dialer, and the default domain another.
	corp := mustBuild(t, build, "k8s://prod/kafka?cluster-domain=Corp.Example.").(*Dialer)
	if corp.ClusterDomain() != "corp.example" || corp.Namespace() != "kafka" {
		t.Errorf("?cluster-domain=Corp.Example.: domain %q namespace %q", corp.ClusterDomain(), corp.Namespace())
	}
	if mustBuild(t, build, "k8s://prod/kafka?cluster-domain=corp.example") != corp {
		t.Error("two spellings of one cluster domain built two Dialers")
	}
	if plain := mustBuild(t, build, "k8s://prod/kafka").(*Dialer); plain == corp || plain.ClusterDomain() != DefaultClusterDomain {
		t.Errorf("k8s://prod/kafka: the corp.example Dialer, or domain %q", plain.ClusterDomain())
	}
	for _, tc := range []struct{ url, chain, want string }{
		{"k8s://prod:6443", "", "want k8s://[CONTEXT][/NAMESPACE][?cluster-domain=DOMAIN]"},
		{"k8s://user:pw@prod", "", "k8s://user:***@prod"},
		{"k8s://prod?x=1", "", `unknown query parameter "x" (the only one is cluster-domain)`},
		{"k8s://prod?%01=1", "", `unknown query parameter "\x01"`},
		{"k8s://prod?cluster-domain=", "", "cluster-domain wants one domain"},
		{"k8s://prod?cluster-domain=a.example&cluster-domain=b.example", "", "cluster-domain wants one domain"},
		{"k8s://prod?cluster-domain=bad_label.example", "", `"bad_label" is not a DNS label`},
		{"k8s://prod?cluster-domain=%zz", "", "bad query (want ?cluster-domain=DOMAIN)"},
		{"k8s://prod/Bad_NS", "", "not a Kubernetes name"},
		{"k8s://nosuch", "", `context "nosuch" does not exist`},
		{"k8s://prod", "ssh://bastion", "only be the first hop"},
	} {
		_, err := build(tc.url, tc.chain)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), ":pw@") {
			t.Errorf("%s: got %v, want %q", tc.url, err, tc.want)
		}
	}
}

func mustBuild(t *testing.T, build func(string, string) (hop.ContextDialer, error), raw string) hop.ContextDialer {
	t.Helper()
	h, err := build(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// FuzzHopDomain fuzzes the query of a k8s:// hop URL: an error never
// echoes control bytes, and a domain it accepts is canonical (checking it
// again gives it back) and made of DNS labels.
func FuzzHopDomain(f *testing.F) {
	for _, s := range []string{"", "cluster-domain=corp.example", "cluster-domain=Corp.Example.", "x=1", "cluster-domain=", "cluster-domain=a&cluster-domain=b", "%zz", "cluster-domain=a%00b", "%01=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := hopDomain(raw)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\x00\x1b\r\n\u2028") {
				t.Fatalf("error echoes control bytes: %q", err)
			}
			return
		}
		if d == "" {
			if raw != "" {
				t.Fatalf("%q: accepted without a domain", raw)
			}
			return
		}
		again, err := checkDomain(d)
		if err != nil || again != d {
			t.Fatalf("%q: domain %q not canonical (%q, %v)", raw, d, again, err)
		}
		for _, l := range strings.Split(d, ".") {
			if !isLabel(l) {
				t.Fatalf("%q: domain %q has label %q", raw, d, l)
			}
		}
	})
}
