package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testcert"
	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The proxy through each route kafkadial has, as a user runs it: the
// kafkadial binary with its flags, and clients that know nothing of
// kafkadial (franz-go with its own dialer, kcat) at its listeners.

// startRouteProxy builds kafkadial and runs its proxy with args, on a
// listen port whose node ports are free, and checks the port scheme and
// that every listener line shows route (a substring of the route part).
func startRouteProxy(t *testing.T, env []string, brokers int, route func(node int32) string, args ...string) *proxyProc {
	t.Helper()
	bin := buildKafkadial(t, t.TempDir())
	port := testpeers.FreePortRun(t, brokers)
	p := startProxyProc(t, bin, env, brokers, append([]string{"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--no-env", "--strict"}, args...)...)
	p.wantPorts(t, port)
	for _, l := range p.Lines {
		m := proxyLine.FindStringSubmatch(l)
		node := int32(-1)
		if m[1] != "" {
			id, _ := strconv.Atoi(m[1])
			node = int32(id)
		}
		if want := route(node); !strings.Contains(m[4], want) {
			t.Errorf("listener line %q: route lacks %q", l, want)
		}
	}
	return p
}

// kcatProxyRoundTrip is kcatThroughProxy when kcat is installed (skip
// outside CI, fail in CI otherwise).
func kcatProxyRoundTrip(t *testing.T, p *proxyProc, prefix string) {
	t.Helper()
	testenv.Need(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kcatThroughProxy(t, ctx, p, prefix, 500, func(t *testing.T, client, out string) {})
}

// The Docker resolver against the real engine, no rules: --docker finds
// each broker's container by its advertised name and dials the port the
// engine published at random.
func TestProxyDocker(t *testing.T) {
	k := startDockerKafka(t)
	pub := map[int32]string{}
	for i, f := range k.fronts {
		pub[int32(i)] = k.e.Published(f, 29092)
	}
	p := startRouteProxy(t, nil, 3, func(node int32) string {
		if node < 0 {
			node = 0 // the bootstrap is kafka-1
		}
		return "=> " + pub[node]
	}, "--docker", "--docker-host", k.e.Host, "--bootstrap", "kafka-1:29092")
	t.Run("franz-go", func(t *testing.T) { testFranz(t, p.Local, "proxy-docker-franz", records) })
	t.Run("kcat", func(t *testing.T) { kcatProxyRoundTrip(t, p, "proxy-docker-kcat") })
	p.stop(t)
}

// The SSH bastion of the namespace topology (real OpenSSH): the brokers
// are reachable only from the bastion, where their names resolve; the
// proxy's rules send every broker through ssh://bastion, whose settings
// come from ~/.ssh/config as for any user of the command.
func TestProxyBastion(t *testing.T) {
	b := startBastionNet(t)
	b.freshBrokers(t)
	home := t.TempDir()
	cfg, err := os.ReadFile(b.env["SSH_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, ".ssh", "config"), string(cfg))
	rules := filepath.Join(home, "kafka.rules")
	writeFile(t, rules, "kafka-{id}:9092 => = via ssh://bastion\n")
	p := startRouteProxy(t, []string{"HOME=" + home}, 3, func(int32) string { return "via ssh://bastion" },
		"--rules", rules, "--bootstrap", "kafka-1:9092")
	t.Run("franz-go", func(t *testing.T) { testFranz(t, p.Local, "proxy-ssh-franz", records) })
	t.Run("kcat", func(t *testing.T) { kcatProxyRoundTrip(t, p, "proxy-ssh-kcat") })
	p.stop(t)
}

// The kube hop against the real API server: the brokers are pods whose
// in-cluster names the proxy reaches by port-forward (k8s://kafka-user,
// KUBECONFIG), bootstrapping from the Strimzi bootstrap service.
func TestProxyKube(t *testing.T) {
	env := startKubeEnv(t, kubeEnvOptions{portForwardWebSockets: true, nodeWebSockets: true})
	startStrimzi(t, env)
	home := t.TempDir()
	rules := filepath.Join(home, "kafka.rules")
	writeFile(t, rules, "*.kafka.svc:9092 => = via k8s://kafka-user\n")
	p := startRouteProxy(t, []string{"HOME=" + home, "KUBECONFIG=" + env.kubeconfig}, 3, func(int32) string { return "via k8s://kafka-user" },
		"--rules", rules, "--bootstrap", bootstrap)
	for id, l := range p.Lines {
		if id > 0 && !strings.Contains(l, ".my-cluster-kafka-brokers.kafka.svc:9092") {
			t.Errorf("listener line %q does not name a pod's advertised address", l)
		}
	}
	t.Run("franz-go", func(t *testing.T) { testFranz(t, p.Local, "proxy-k8s-franz", records) })
	t.Run("kcat", func(t *testing.T) { kcatProxyRoundTrip(t, p, "proxy-k8s-kcat") })
	p.stop(t)
}

// TLS brokers whose certificates name only their advertised names (never
// the loopback addresses the rules dial): --tls --cafile verifies each
// against its advertised name, and clients speak TLS to the proxy with a
// certificate for 127.0.0.1 (--listen-cert/--listen-key). Certificates for
// other names: the proxy refuses the bootstrap broker and says why.
func TestProxyTLS(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, string(ca.PEM))
	listenCert, listenKey := writeServerPEM(t, ca, dir, "listen", "127.0.0.1")

	start := func(t *testing.T, names ...string) *kafkatest.Cluster {
		srv, err := ca.Server(names...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := kafkatest.Start(kafkatest.WithAdvertise("kafka-{id}.proxy.invalid:9092"), kafkatest.WithTopic(topic, partitions), kafkatest.WithTLS(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	t.Run("advertised names", func(t *testing.T) {
		c := start(t, "kafka-1.proxy.invalid", "kafka-2.proxy.invalid", "kafka-3.proxy.invalid")
		rules := filepath.Join(t.TempDir(), "kafka.rules")
		writeFile(t, rules, c.Rules())
		p := startRouteProxy(t, nil, 3, func(int32) string { return "(rule " + rules }, "--rules", rules,
			"--bootstrap", "kafka-1.proxy.invalid:9092", "--tls", "--cafile", caFile, "--listen-cert", listenCert, "--listen-key", listenKey)
		t.Run("franz-go", func(t *testing.T) {
			testFranz(t, p.Local, "proxy-tls-franz", records, kgo.DialTLSConfig(ca.Client()))
		})
		t.Run("kcat", func(t *testing.T) {
			testenv.Need(t, "kcat")
			out, err := exec.Command("kcat", "-L", "-b", p.Local, "-X", "security.protocol=ssl", "-X", "ssl.ca.location="+caFile).CombinedOutput()
			if err != nil {
				t.Fatalf("kcat -L over TLS through the proxy: %v\n%s", err, out)
			}
			for id, addr := range p.Nodes {
				if !strings.Contains(string(out), fmt.Sprintf("broker %d at %s", id, addr)) {
					t.Errorf("kcat -L does not show node %d at %s:\n%s", id, addr, out)
				}
			}
		})
		p.stop(t)
	})
	t.Run("other names", func(t *testing.T) {
		c := start(t, "localhost", "127.0.0.1", "kafka-1.example")
		rules := filepath.Join(t.TempDir(), "kafka.rules")
		writeFile(t, rules, c.Rules())
		bin := buildKafkadial(t, t.TempDir())
		out, err := exec.Command(bin, "proxy", "--no-env", "--strict", "--rules", rules, "--listen", "127.0.0.1:0",
			"--bootstrap", "kafka-1.proxy.invalid:9092", "--tls", "--cafile", caFile, "--timeout", "5s").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("proxy in front of brokers with certificates for other names: %v, want exit 1\n%s", err, out)
		}
		if !strings.Contains(string(out), "certificate") || !strings.Contains(string(out), "kafka-1.proxy.invalid") {
			t.Errorf("the proxy's error does not say the certificate does not name kafka-1.proxy.invalid:\n%s", out)
		}
	})
}

// writeServerPEM writes a certificate for names, signed by ca, and its key
// as PEM files.
func writeServerPEM(t *testing.T, ca *testcert.CA, dir, name string, names ...string) (certFile, keyFile string) {
	t.Helper()
	srv, err := ca.Server(names...)
	if err != nil {
		t.Fatal(err)
	}
	cert := srv.Certificates[0]
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	return certFile, keyFile
}
