package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"

	"github.com/kafkadial/kafkadial/internal/testcert"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kfake"
)

func decodeProbe(t *testing.T, stdout string) *probeResult {
	t.Helper()
	var res probeResult
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one probe JSON document: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
	return &res
}

func TestProbeAllReachableJSON(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "kafka.rules", c.Rules())
	code, stdout, stderr := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	mustContain(t, "stderr (progress)", stderr, "kafkadial probe: probing bootstrap "+c.Seed(), "probed 3 of 3 brokers")
	res := decodeProbe(t, stdout)
	if !res.OK || res.Error != "" || len(res.Bootstrap) != 1 || !res.Bootstrap[0].OK {
		t.Fatalf("result: %+v", res)
	}
	if b := res.Bootstrap[0]; b.Addr != c.Seed() || b.Target != c.Seed() || b.Rule != rules+":4" || b.ConnectMS == nil {
		t.Errorf("bootstrap: %+v", b)
	}
	if res.ClusterID == "" || res.ControllerID == nil {
		t.Errorf("cluster id %q, controller %v", res.ClusterID, res.ControllerID)
	}
	if len(res.Brokers) != 3 {
		t.Fatalf("brokers: %+v", res.Brokers)
	}
	for i, b := range res.Brokers {
		want := c.Brokers[i]
		switch {
		case b.NodeID != want.ID, b.Advertised != want.Advertised, b.Target != want.Published:
			t.Errorf("broker %d: %+v, want %+v", i, b, want)
		case b.Rule != fmt.Sprintf("%s:%d", rules, i+1), b.Via != "":
			t.Errorf("broker %d rule %q via %q", i, b.Rule, b.Via)
		case !b.OK || !b.APIVersions || !b.NodeConfirmed || b.Error != "" || b.Hint != "" || b.Proposal != nil:
			t.Errorf("broker %d: %+v", i, b)
		case b.ConnectMS == nil || *b.ConnectMS <= 0 || b.APIVersionsMS == nil || *b.APIVersionsMS <= 0:
			t.Errorf("broker %d timings: connect %v api %v", i, b.ConnectMS, b.APIVersionsMS)
		case b.Resolves != nil:
			t.Errorf("broker %d: resolves %v, but a rule took it so no name was looked up", i, *b.Resolves)
		}
	}
}

var timingRE = regexp.MustCompile(`\b\d+\.\d+(ms|s)\b`)

// normalize replaces what changes from run to run (ports, temp dirs,
// timings, the cluster id) and re-aligns the broker table, whose column
// widths follow the replaced text.
func normalize(out string, repl ...string) string {
	out = strings.NewReplacer(repl...).Replace(out)
	out = timingRE.ReplaceAllString(out, "T")
	out = regexp.MustCompile(`cluster [^ ,]+, controller \d+`).ReplaceAllString(out, "cluster CLUSTER, controller N")
	lines := strings.Split(out, "\n")
	var b strings.Builder
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "NODE ") {
			b.WriteString(lines[i])
			if i < len(lines)-1 {
				b.WriteString("\n")
			}
			continue
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for ; i < len(lines) && lines[i] != ""; i++ {
			fmt.Fprintln(tw, strings.Join(regexp.MustCompile(`\s{2,}`).Split(lines[i], -1), "\t"))
		}
		tw.Flush()
		i--
	}
	return out[:0] + b.String()
}

func clusterRepl(c *kafkatest.Cluster, dir string) []string {
	r := []string{dir, "$DIR"}
	for i, b := range c.Brokers {
		if b.Published != "" {
			r = append(r, b.Published, fmt.Sprintf("127.0.0.1:PUB%d", i+1))
		}
	}
	return r
}

func TestProbeTableGolden(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "kafka.rules", c.Rules())
	code, stdout, stderr := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "-q")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q (want none with -q)\n%s", code, stderr, stdout)
	}
	golden(t, "probe_ok.golden", normalize(stdout, clusterRepl(c, dir)...))

	// One broker's published port closes: it fails, with the rule named.
	c.Forwarder(1).Close()
	code, stdout, _ = runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "-q")
	if code != 1 {
		t.Fatalf("exit %d with a broker down\n%s", code, stdout)
	}
	golden(t, "probe_down.golden", normalize(stdout, clusterRepl(c, dir)...))
}

func TestProbeBrokerUnreachable(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "kafka.rules", c.Rules())
	c.Forwarder(2).Close()
	code, stdout, _ := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stdout)
	}
	res := decodeProbe(t, stdout)
	if res.OK {
		t.Fatal("result OK with a broker down")
	}
	for i, b := range res.Brokers {
		if i != 2 {
			if !b.OK {
				t.Errorf("broker %d failed: %+v", i, b)
			}
			continue
		}
		if b.OK || b.APIVersions || b.ConnectMS != nil {
			t.Errorf("broker 2: %+v", b)
		}
		mustContain(t, "error", b.Error, "dial tcp kafka-3:29092", "remapped to "+c.Brokers[2].Published+" by "+rules+":3", "connection refused")
		mustContain(t, "hint", b.Hint, "nothing listens on "+c.Brokers[2].Published, "the target of rule "+rules+":3", "is the port published")
		if b.Proposal != nil {
			t.Errorf("proposal for a broker a rule takes: %+v", b.Proposal)
		}
	}
}

func TestProbeWrongRule(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	// kafka-2 is sent to broker 3's published port.
	text := strings.Replace(c.Rules(), "kafka-2:29092 => "+c.Brokers[1].Published, "kafka-2:29092 => "+c.Brokers[2].Published, 1)
	rules := writeFile(t, dir, "kafka.rules", text)
	code, stdout, _ := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stdout)
	}
	res := decodeProbe(t, stdout)
	b := res.Brokers[1]
	if b.OK || b.APIVersions || b.ConnectMS == nil || b.Target != c.Brokers[2].Published {
		t.Fatalf("broker 1: %+v", b)
	}
	mustContain(t, "error", b.Error, "REBOOTSTRAP_REQUIRED")
	mustContain(t, "hint", b.Hint, c.Brokers[2].Published+" reaches a broker of this cluster that is not node 1", "rule "+rules+":2 sends it to another broker's port")
	if !res.Brokers[0].OK || !res.Brokers[2].OK {
		t.Errorf("other brokers: %+v %+v", res.Brokers[0], res.Brokers[2])
	}
}

// TestProbeProposesFromBootstrap: the brokers advertise names under .invalid
// and no rule matches. The probe says the names do not resolve, finds the
// broker the bootstrap address reaches (it confirms its node id) and
// proposes a rule for it; with that rule, a one-broker cluster probes clean.
func TestProbeProposesFromBootstrap(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n, "brokers"), func(t *testing.T) {
			c := startCluster(t, kafkatest.WithBrokers(n), kafkatest.WithAdvertise("kafka-{id}.invalid:29092"))
			code, stdout, stderr := runCLI(t, "probe", "--bootstrap", c.Seed(), "--json", "--no-env")
			if code != 1 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			mustContain(t, "stderr", stderr, "looking for an address that reaches node 0")
			res := decodeProbe(t, stdout)
			if len(res.Brokers) != n {
				t.Fatalf("brokers: %+v", res.Brokers)
			}
			for i, b := range res.Brokers {
				if b.OK || b.Resolves == nil || *b.Resolves || b.Rule != "" || b.Target != b.Advertised {
					t.Errorf("broker %d: %+v", i, b)
				}
				mustContain(t, "error", b.Error, "lookup kafka-"+fmt.Sprint(i+1)+".invalid", "no such host")
				mustContain(t, "hint", b.Hint, "kafka-"+fmt.Sprint(i+1)+".invalid does not resolve from here and no rule matches it")
				if i == 0 {
					want := "kafka-1.invalid:29092 => " + c.Seed()
					if b.Proposal == nil || b.Proposal.Rule != want || !b.Proposal.Verified {
						t.Fatalf("proposal for node 0: %+v, want verified %q", b.Proposal, want)
					}
					continue
				}
				// The bootstrap reaches node 0 only; nothing on its host
				// answers as the others.
				if b.Proposal != nil {
					t.Errorf("proposal for node %d: %+v", i, b.Proposal)
				}
				mustContain(t, "hint", b.Hint, fmt.Sprintf("no address on the bootstrap host answered as node %d", i))
			}
			if n == 1 {
				env := map[string]string{"KAFKADIAL_RULES": res.Brokers[0].Proposal.Rule}
				code, stdout, _ := runWith(t, envCLI(env), "probe", "--bootstrap", c.Seed())
				if code != 0 {
					t.Fatalf("with the proposed rule: exit %d\n%s", code, stdout)
				}
				mustContain(t, "table", stdout, "KAFKADIAL_RULES:1", "all 1 brokers answer")
			}
		})
	}
}

// TestProbeProposesSamePort: each broker advertises its own port (as with
// ports "19092:19092"), so the advertised port on the bootstrap host
// reaches it; the probe proposes and verifies one rule per broker, and the
// proposed rules probe clean.
func TestProbeProposesSamePort(t *testing.T) {
	next := 0
	listen := func(network, _ string) (net.Listener, error) {
		next++
		ln, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return kafkatest.AdvertiseAs(ln, fmt.Sprintf("kafka-%d.invalid:%d", next, port(ln))), nil
	}
	c := startCluster(t, kafkatest.WithBrokers(3), kafkatest.WithKfake(kfake.ListenFn(listen)))
	kf := c.Kfake()
	boot := kf.ListenAddrs()[0]
	_, bootPort, _ := net.SplitHostPort(boot)
	code, stdout, _ := runCLI(t, "probe", "--bootstrap", "127.0.0.1:"+bootPort, "--json", "--no-env")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	res := decodeProbe(t, stdout)
	var rules []string
	for i, b := range res.Brokers {
		_, p, _ := net.SplitHostPort(b.Advertised)
		want := fmt.Sprintf("%s => 127.0.0.1:%s", b.Advertised, p)
		if b.Proposal == nil || b.Proposal.Rule != want || !b.Proposal.Verified {
			t.Fatalf("broker %d proposal %+v, want verified %q", i, b.Proposal, want)
		}
		rules = append(rules, b.Proposal.Rule)
	}
	env := map[string]string{"KAFKADIAL_RULES": strings.Join(rules, "\n")}
	code, stdout, _ = runWith(t, envCLI(env), "probe", "--bootstrap", "127.0.0.1:"+bootPort)
	if code != 0 {
		t.Fatalf("with the proposed rules: exit %d\n%s", code, stdout)
	}
}

// TestProbeAsksNoDNS: with names under .invalid and no rules, the probe
// sends no query: the resolver it is given would count one.
func TestProbeAsksNoDNS(t *testing.T) {
	c := startCluster(t, kafkatest.WithAdvertise("kafka-{id}.invalid:29092"))
	var queries atomic.Int32
	cl := envCLI(nil)
	cl.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		queries.Add(1)
		return nil, errors.New("no DNS in tests")
	}}
	code, stdout, _ := runWith(t, cl, "probe", "--bootstrap", c.Seed())
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	if n := queries.Load(); n != 0 {
		t.Errorf("%d DNS queries", n)
	}
	mustContain(t, "table", stdout, "proposed rules", "kafka-1.invalid:29092 => "+c.Seed())
}

func TestProbeTLS(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("kafka-1", "kafka-2", "kafka-3", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, kafkatest.WithTLS(srv))
	dir := t.TempDir()
	rules := writeFile(t, dir, "kafka.rules", c.Rules())
	cafile := writeFile(t, dir, "ca.pem", string(ca.PEM))
	code, stdout, stderr := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--cafile", cafile, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	res := decodeProbe(t, stdout)
	if b := res.Bootstrap[0]; b.ServerName != "127.0.0.1" || b.TLSMS == nil {
		t.Errorf("bootstrap: %+v", b)
	}
	for i, b := range res.Brokers {
		if !b.OK || b.TLSMS == nil || b.ServerName != fmt.Sprintf("kafka-%d", i+1) {
			t.Errorf("broker %d: %+v", i, b)
		}
	}
	// --tls-server-name verifies every broker against one name.
	code, stdout, _ = runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--cafile", cafile, "--tls-server-name", "kafka-2", "--json")
	if code != 0 {
		t.Fatalf("--tls-server-name: exit %d\n%s", code, stdout)
	}
	for i, b := range decodeProbe(t, stdout).Brokers {
		if b.ServerName != "kafka-2" {
			t.Errorf("broker %d server name %q", i, b.ServerName)
		}
	}

	// Without --cafile the certificate is not trusted; the hint says so.
	code, stdout, _ = runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--tls", "--json")
	if code != 1 {
		t.Fatalf("exit %d without the CA\n%s", code, stdout)
	}
	res = decodeProbe(t, stdout)
	mustContain(t, "bootstrap hint", res.Bootstrap[0].Hint, "pass its CA with --cafile")

	// Without TLS the broker closes the connection: the hint says to try --tls.
	code, stdout, _ = runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--json")
	if code != 1 {
		t.Fatalf("exit %d without TLS\n%s", code, stdout)
	}
	res = decodeProbe(t, stdout)
	mustContain(t, "bootstrap hint", res.Bootstrap[0].Hint, "expects TLS (try --tls)")
}

// TestProbeTLSVerifiesAdvertisedName: the bootstrap is dialled by IP, so
// its certificate must be for that IP; the brokers' must be for the names
// they advertise, whatever the rules map them to.
func TestProbeTLSVerifiesAdvertisedName(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("kafka-1", "kafka-2", "127.0.0.1") // not kafka-3
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, kafkatest.WithTLS(srv))
	dir := t.TempDir()
	rules := writeFile(t, dir, "kafka.rules", c.Rules())
	cafile := writeFile(t, dir, "ca.pem", string(ca.PEM))
	code, stdout, _ := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--cafile", cafile)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	mustContain(t, "table", stdout, "node 2 (kafka-3:29092):", `TLS handshake verifying "kafka-3"`,
		"not valid for kafka-3, the name it advertises", "2 of 3 brokers answer")
	if strings.Contains(stdout, "node 0 (") || strings.Contains(stdout, "node 1 (") {
		t.Errorf("nodes 0 and 1 should verify:\n%s", stdout)
	}
}

func TestProbeSASL(t *testing.T) {
	const secret = "s3cret-Pa55"
	c := startCluster(t, kafkatest.WithKfake(kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", secret), kfake.Superuser("SCRAM-SHA-256", "scram", secret)))
	dir := t.TempDir()
	rules := writeFile(t, dir, "kafka.rules", c.Rules())
	pwfile := writeFile(t, dir, "pw", secret+"\n")

	code, stdout, stderr := runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--sasl-user", "admin", "--sasl-password-file", pwfile)
	if code != 0 {
		t.Fatalf("PLAIN: exit %d\n%s\n%s", code, stdout, stderr)
	}
	env := map[string]string{"KAFKADIAL_SASL_PASSWORD": secret}
	code, stdout, stderr = runWith(t, envCLI(env), "probe", "--bootstrap", c.Seed(), "--rules", rules, "--sasl-user", "scram", "--sasl-mechanism", "SCRAM-SHA-256")
	if code != 0 {
		t.Fatalf("SCRAM: exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--sasl-user", "admin", "--sasl-password", secret+"x")
	if code != 1 {
		t.Fatalf("wrong password: exit %d\n%s", code, stdout)
	}
	mustContain(t, "table", stdout, "error: fetching metadata:", "check --sasl-user, the password and --sasl-mechanism")
	if strings.Contains(stdout+stderr, secret) {
		t.Errorf("output shows the password:\n%s\n%s", stdout, stderr)
	}

	// No credentials: the broker closes the connection at the metadata request.
	code, stdout, _ = runCLI(t, "probe", "--bootstrap", c.Seed(), "--rules", rules, "--timeout", "3s")
	if code != 1 {
		t.Fatalf("no SASL: exit %d\n%s", code, stdout)
	}
	mustContain(t, "table", stdout, "it may require SASL (--sasl-user)")
}

// TestProbeZone: no rules, but the embedded resolver holds a zone that says
// where each advertised address is (SRV per port); probe and explain show
// "resolver" as the rule.
func TestProbeZone(t *testing.T) {
	c := startCluster(t)
	var zone strings.Builder
	for i, b := range c.Brokers {
		_, p, _ := net.SplitHostPort(b.Published)
		fmt.Fprintf(&zone, "kafka-%d A 127.0.0.1\n_29092._tcp.kafka-%d SRV 0 0 %s kafka-%d\n", i+1, i+1, p, i+1)
	}
	z := writeFile(t, t.TempDir(), "kafka.zone", zone.String())
	code, stdout, stderr := runWith(t, envCLI(nil), "probe", "--bootstrap", c.Seed(), "--zone", z, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for i, b := range decodeProbe(t, stdout).Brokers {
		if !b.OK || b.Rule != "resolver" || b.Target != c.Brokers[i].Published {
			t.Errorf("broker %d: %+v", i, b)
		}
	}
	code, stdout, _ = runWith(t, envCLI(nil), "rules", "explain", "--zone", z, "kafka-2:29092")
	if code != 0 || !strings.Contains(squash(stdout), "kafka-2:29092 | "+c.Brokers[1].Published+" | resolver") {
		t.Errorf("explain: exit %d\n%s", code, stdout)
	}
	bad := writeFile(t, t.TempDir(), "bad.zone", "kafka-1 A nonsense\n")
	code, _, stderr = runWith(t, envCLI(nil), "probe", "--bootstrap", c.Seed(), "--zone", bad)
	if code != 2 || !strings.Contains(stderr, "bad.zone") {
		t.Errorf("bad zone: exit %d %q", code, stderr)
	}
}

func TestProbeBootstrapDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, stdout, _ := runCLI(t, "probe", "--bootstrap", addr, "--no-env")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	mustContain(t, "table", stdout, "bootstrap "+addr+": FAILED", "connection refused", "nothing listens on "+addr, "error: no bootstrap address answers")
}

func TestProbeUsage(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.rules", "kafka-1:29092 => 127.0.0.1:1\nkafka-2:99999 => x\n")
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"probe"}, 2, "", "--bootstrap is required"},
		{[]string{"probe", "--help"}, 0, "Usage: kafkadial probe --bootstrap ADDR", ""},
		{[]string{"probe", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"probe", "--bootstrap", "x:1", "--rules", bad}, 2, "", bad + ":2:9: bad port"},
		{[]string{"probe", "--bootstrap", "x:1", "--rules", filepath.Join(dir, "none")}, 2, "", "no such file"},
		{[]string{"probe", "--bootstrap", "x:1", "--sasl-user", "u", "--sasl-mechanism", "GSSAPI"}, 2, "", "unknown --sasl-mechanism"},
		{[]string{"probe", "--bootstrap", "x:1", "--cafile", filepath.Join(dir, "none")}, 2, "", "--cafile"},
		{[]string{"probe", "--bootstrap", "x:1", "stray"}, 2, "", `unexpected argument "stray"`},
		{[]string{"probe", "--bootstrap", "x:1", "--timeout", "0s"}, 2, "", "--timeout must be positive"},
	} {
		code, stdout, stderr := runWith(t, envCLI(nil), tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
		if tc.code != 0 && stdout != "" {
			t.Errorf("%q: stdout %q on error", tc.args, stdout)
		}
		if tc.code == 0 && stderr != "" || strings.Count(stdout+stderr, "Usage:") > 1 {
			t.Errorf("%q: usage printed twice or on stderr: stdout %q, stderr %q", tc.args, stdout, stderr)
		}
	}
}

func TestMain(m *testing.M) {
	// No test may read rules from the environment of whoever runs it.
	os.Unsetenv("KAFKADIAL_RULES")
	os.Unsetenv("KAFKADIAL_RULES_FILE")
	os.Unsetenv("KAFKADIAL_SASL_PASSWORD")
	os.Exit(m.Run())
}
