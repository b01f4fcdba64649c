package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The layouts `kafkadial rules from-compose` learnt for issue 10, brought
// up by docker-compose on a real engine. Each runs an engine variant of its
// layout, testdata/compose-engine/NAME: the settings of
// cmd/kafkadial/testdata/compose/NAME (TestComposeEngineVariants checks
// them) run by the stand-in image built FROM scratch from cmd/kafkaenv,
// which reads them as the images do. For each: the command run on that
// file exits 0 and writes the rules expected (the same as for the original
// file); records produced and consumed through a strict dialer holding
// only those rules reach every broker at the host port the engine really
// published; and `rules from-docker` on the running project writes the
// same rules.

const kafkaenvImage = "github.com/kafkadial/kafkadial/integration/cmd/kafkaenv"

// engineRecords are produced and consumed through each layout's rules.
const engineRecords = 1200

// engineLayout is one layout and what proves it.
type engineLayout struct {
	name string
	// ports are the variables the file publishes on, each set to a free
	// port; published says which container port each publishes, as
	// "SERVICE PORT" ($: the variable's own value).
	ports     []string
	published map[string]string
	// containers is how many containers the project runs.
	containers int
	// advertised are the client addresses the brokers advertise, the
	// i-th reached at the port published on ports[i]: from-compose maps
	// each to 127.0.0.1 and that port, then keeps the published addresses
	// as they are, and the clients dial each so.
	advertised func(r *runningLayout) []string
	// rules and dialled, for layouts that advertise otherwise: the rule
	// lines expected, given the running project.
	rules func(r *runningLayout) []string
	// seed is the bootstrap address (default: 127.0.0.1 and the first
	// port).
	seed func(r *runningLayout) string
	// dialled are the advertised addresses the clients must have dialled,
	// each with where its rule took it.
	dialled func(r *runningLayout) map[string]string
	// stderr from-compose may print (all else must be empty).
	stderr string
	// left are the services and ports of the original the variant leaves
	// out (see testdata/compose-engine/README.md).
	left []string
}

var engineLayouts = []engineLayout{
	{
		name:       "kraft-isolated",
		published:  map[string]string{"BROKER_1_PORT": "broker-1 29092", "BROKER_2_PORT": "broker-2 29092", "BROKER_3_PORT": "broker-3 29092"},
		containers: 7,
		ports:      []string{"BROKER_1_PORT", "BROKER_2_PORT", "BROKER_3_PORT"},
		advertised: func(r *runningLayout) []string {
			return []string{"broker-1:29092", "broker-2:29092", "broker-3:29092"}
		},
	},
	{
		name:       "mounted-properties",
		published:  map[string]string{"EXTERNAL_PORT": "kafka 9094"},
		containers: 1,
		ports:      []string{"EXTERNAL_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:9094"} },
	},
	{
		name:       "image-config",
		published:  map[string]string{"HOST_PORT": "kafka $"},
		containers: 1,
		ports:      []string{"HOST_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:" + r.port("HOST_PORT")} },
	},
	{
		// KAFKA_LISTENERS unset: the image binds the advertised ports.
		name:       "cp-single",
		published:  map[string]string{"HOST_PORT": "broker $"},
		containers: 1,
		ports:      []string{"HOST_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:" + r.port("HOST_PORT")} },
		left:       []string{"zookeeper"},
	},
	{
		name:       "wurstmeister",
		published:  map[string]string{"KAFKA_HOST_PORT": "kafka 9092"},
		containers: 1,
		ports:      []string{"KAFKA_HOST_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"docker-machine.invalid:9092"} },
		stderr:     "kafkadial: compose: the top-level version: is obsolete; compose ignores it (--verbose for details)\n",
		left:       []string{"zookeeper"},
	},
	{
		// HOSTNAME_COMMAND prints the default gateway: the compose
		// network's, which the broker advertises on OUTSIDE.
		name:       "wurstmeister-hostname-command",
		published:  map[string]string{"OUTSIDE_PORT": "kafka 9094"},
		containers: 1,
		ports:      []string{"OUTSIDE_PORT"},
		rules: func(r *runningLayout) []string {
			return append([]string{"*:9094 => " + r.local("OUTSIDE_PORT")}, r.keep("OUTSIDE_PORT")...)
		},
		dialled: func(r *runningLayout) map[string]string {
			return map[string]string{r.gateway + ":9094": r.local("OUTSIDE_PORT")}
		},
		left: []string{"zookeeper"},
	},
	{
		// Three replicas, each advertising docker-host.invalid with the
		// host port PORT_COMMAND asks docker for: one rule moves the host
		// and keeps each port.
		name:       "wurstmeister-port-command",
		containers: 4,
		rules:      func(r *runningLayout) []string { return []string{"docker-host.invalid => 127.0.0.1"} },
		seed:       func(r *runningLayout) string { return "docker-host.invalid:" + r.replicaPorts[0] },
		dialled: func(r *runningLayout) map[string]string {
			m := map[string]string{}
			for _, p := range r.replicaPorts {
				m["docker-host.invalid:"+p] = "127.0.0.1:" + p
			}
			return m
		},
		left: []string{"zookeeper"},
	},
	{
		name:       "redpanda",
		published:  map[string]string{"EXTERNAL_PORT": "redpanda-0 19092"},
		containers: 1,
		ports:      []string{"EXTERNAL_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:" + r.port("EXTERNAL_PORT")} },
		left:       []string{"console", "18082:18082"},
	},
	{
		name:       "redpanda-string",
		published:  map[string]string{"RP_PORT": "redpanda 9092"},
		containers: 1,
		ports:      []string{"RP_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"redpanda:9092"} },
	},
	{
		name:       "proxy-toxiproxy",
		published:  map[string]string{"PROXY_PORT": "toxiproxy 19092"},
		containers: 2,
		ports:      []string{"PROXY_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:" + r.port("PROXY_PORT")} },
		left:       []string{"8474:8474"},
	},
	{
		name:       "proxy-socat",
		published:  map[string]string{"SOCAT_PORT": "kafka-proxy 29092"},
		containers: 2,
		ports:      []string{"SOCAT_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"kafka-proxy:29092"} },
	},
	{
		name:       "literal-host",
		published:  map[string]string{"HOST_PORT": "kafka $"},
		containers: 1,
		ports:      []string{"HOST_PORT"},
		rules: func(r *runningLayout) []string {
			return append([]string{`"_{HOSTNAME_COMMAND}":` + r.port("HOST_PORT") + " => " + r.local("HOST_PORT")}, r.keep("HOST_PORT")...)
		},
		dialled: func(r *runningLayout) map[string]string {
			return map[string]string{"_{HOSTNAME_COMMAND}:" + r.port("HOST_PORT"): r.local("HOST_PORT")}
		},
	},
	// The common layouts of the images' own docs, on the engine too.
	{
		name:       "apache-single",
		published:  map[string]string{"KAFKA_HOST_PORT": "kafka $"},
		containers: 1,
		ports:      []string{"KAFKA_HOST_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:" + r.port("KAFKA_HOST_PORT")} },
	},
	{
		name:       "apache-three",
		published:  map[string]string{"KAFKA_1_PORT": "kafka-1 29092", "KAFKA_2_PORT": "kafka-2 29092", "KAFKA_3_PORT": "kafka-3 29092"},
		containers: 4,
		ports:      []string{"KAFKA_1_PORT", "KAFKA_2_PORT", "KAFKA_3_PORT"},
		advertised: func(r *runningLayout) []string {
			return []string{"kafka-1:29092", "kafka-2:29092", "kafka-3:29092"}
		},
	},
	{
		name:       "bitnami-single",
		published:  map[string]string{"EXTERNAL_PORT": "kafka 9094"},
		containers: 1,
		ports:      []string{"EXTERNAL_PORT"},
		advertised: func(r *runningLayout) []string { return []string{"localhost:9094"} },
	},
	{
		name:       "bitnami-three",
		published:  map[string]string{"KAFKA_1_PORT": "kafka-1 9092", "KAFKA_2_PORT": "kafka-2 9092", "KAFKA_3_PORT": "kafka-3 9092"},
		containers: 4,
		ports:      []string{"KAFKA_1_PORT", "KAFKA_2_PORT", "KAFKA_3_PORT"},
		advertised: func(r *runningLayout) []string {
			return []string{"kafka-1:9092", "kafka-2:9092", "kafka-3:9092"}
		},
	},
	{
		name:       "cp-three",
		published:  map[string]string{"KAFKA_1_PORT": "kafka-1 $", "KAFKA_2_PORT": "kafka-2 $", "KAFKA_3_PORT": "kafka-3 $"},
		containers: 4,
		ports:      []string{"KAFKA_1_PORT", "KAFKA_2_PORT", "KAFKA_3_PORT"},
		advertised: func(r *runningLayout) []string {
			return []string{"localhost:" + r.port("KAFKA_1_PORT"), "localhost:" + r.port("KAFKA_2_PORT"), "localhost:" + r.port("KAFKA_3_PORT")}
		},
		left: []string{"zookeeper"},
	},
	// Ports from the environment, a .env, an override file and a profile.
	{
		name:       "dotenv",
		published:  map[string]string{"KAFKA_1_PORT": "kafka-1 29092", "KAFKA_2_PORT": "kafka-2 29092", "KAFKA_3_PORT": "kafka-3 29092"},
		containers: 4,
		ports:      []string{"KAFKA_1_PORT", "KAFKA_2_PORT", "KAFKA_3_PORT"},
		advertised: func(r *runningLayout) []string {
			return []string{"broker-1:29092", "broker-2:29092", "broker-3:29092"}
		},
		left: []string{"kafka-ui"},
	},
}

// runningLayout is a layout's compose project on the engine.
type runningLayout struct {
	engineLayout
	e       *dockertest.Engine
	project string
	dir     string // the variant and the files it mounts
	file    string
	env     []string
	ports   map[string]int
	upErr   error
	upTook  time.Duration
	// learnt once it runs
	gateway      string   // the project network's gateway
	replicaPorts []string // wurstmeister-port-command: the host port of each replica's 9092
}

func (r *runningLayout) port(v string) string { return strconv.Itoa(r.ports[v]) }

func (r *runningLayout) local(v string) string { return "127.0.0.1:" + r.port(v) }

// wantRules are the rule lines from-compose must write.
func (r *runningLayout) wantRules() []string {
	if r.advertised == nil {
		return r.rules(r)
	}
	var out []string
	for i, adv := range r.advertised(r) {
		out = append(out, adv+" => "+r.local(r.engineLayout.ports[i]))
	}
	return append(out, r.keep(r.engineLayout.ports...)...)
}

// wantDialled are the advertised addresses the clients must dial, each
// with where its rule takes it.
func (r *runningLayout) wantDialled() map[string]string {
	if r.advertised == nil {
		return r.dialled(r)
	}
	m := map[string]string{}
	for i, adv := range r.advertised(r) {
		m[adv] = r.local(r.engineLayout.ports[i])
	}
	return m
}

// keep is the "dialled as they are" rules of the published addresses.
func (r *runningLayout) keep(vars ...string) []string {
	var out []string
	for _, v := range vars {
		out = append(out, r.local(v)+" => =")
	}
	return out
}

// overrideFile is the override file a layout may have: docker compose
// loads it with compose.yaml when it finds both by their default names.
const overrideFile = "compose.override.yaml"

// files are the -f arguments for the layout's compose files in dir:
// compose.yaml, then the override file when there is one. (The engine's
// docker-compose 1.29 does not look for compose.* names by itself.)
func files(dir string) []string {
	args := []string{"-f", filepath.Join(dir, "compose.yaml")}
	if o := filepath.Join(dir, overrideFile); fileExists(o) {
		args = append(args, "-f", o)
	}
	return args
}

func (r *runningLayout) compose(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append(append(files(r.dir), "-p", r.project), args...)...)
	cmd.Env, cmd.Dir = r.env, r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// prepare writes the variant and the files its layout mounts into a
// directory of their own, and picks the ports.
func prepareLayout(t *testing.T, e *dockertest.Engine, l engineLayout, img string, ports *portPicker) *runningLayout {
	t.Helper()
	r := &runningLayout{engineLayout: l, e: e, project: e.Name(l.name), dir: filepath.Join(t.TempDir(), l.name), ports: map[string]int{}}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.file = filepath.Join(r.dir, "compose.yaml")
	copyFile(t, filepath.Join("testdata/compose-engine", l.name, "compose.yaml"), r.file)
	for _, f := range []string{"server.properties", "toxiproxy.json", ".env", overrideFile} {
		if src := filepath.Join(originalDir(l.name), f); fileExists(src) {
			copyFile(t, src, filepath.Join(r.dir, f))
		}
	}
	r.env = append(composeEnv(), "KAFKAENV_IMAGE="+img, "RUN="+e.Run)
	for _, v := range l.ports {
		r.ports[v] = ports.next(t)
		r.env = append(r.env, fmt.Sprintf("%s=%d", v, r.ports[v]))
	}
	return r
}

// portPicker hands out host ports for the layouts to publish on: each
// free on every address when picked (the layouts publish on 0.0.0.0 and
// ::), none twice, and all below the ephemeral range the engine takes
// random host ports from (32768 and up), so that a replica's random port
// cannot take one.
type portPicker struct {
	next0 int
	held  []net.Listener
}

func (p *portPicker) next(t *testing.T) int {
	t.Helper()
	for range 2000 {
		port := p.next0
		p.next0++
		if p.next0 >= 32000 {
			p.next0 = 20000
		}
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		p.held = append(p.held, ln)
		return port
	}
	t.Fatal("no free port from 20000 to 32000")
	return 0
}

// release lets the engine have the ports.
func (p *portPicker) release() {
	for _, ln := range p.held {
		ln.Close()
	}
	p.held = nil
}

// originalDir is the directory of the original layout, absolute (the
// command runs in the variant's directory).
func originalDir(name string) string {
	d, err := filepath.Abs(filepath.Join("..", "cmd", "kafkadial", "testdata", "compose", name))
	if err != nil {
		panic(err)
	}
	return d
}

// composeEnv is the environment without the variables docker-compose
// and from-compose would take a project from.
func composeEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "COMPOSE_") || strings.HasPrefix(kv, "DOCKER_HOST=")
	})
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileExists(name string) bool { _, err := os.Stat(name); return err == nil }

func TestComposeEngineLayouts(t *testing.T) {
	e := dockertest.Need(t)
	testenv.Need(t, "docker-compose")
	start := time.Now()
	img := e.Image(kafkaenvImage)
	bin := buildKafkadial(t, t.TempDir())
	t.Logf("built the stand-in image and kafkadial in %s", time.Since(start).Round(time.Millisecond))

	var rs []*runningLayout
	// A start that differs from run to run, so that two runs on one
	// machine rarely try the same ports.
	ports := &portPicker{next0: 20000 + int(time.Now().UnixNano()/1000%12000)}
	for _, l := range engineLayouts {
		rs = append(rs, prepareLayout(t, e, l, img, ports))
	}
	ports.release()
	// Up in parallel (docker-compose spends its time waiting on the
	// engine); down in parallel when the test ends, failed or not.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Go(func() {
				if out, err := r.compose(3*time.Minute, "down", "-v", "--rmi", "local", "-t", "1"); err != nil {
					t.Errorf("%s: %v\n%s", r.name, err, out)
				}
			})
		}
		wg.Wait()
	})
	start = time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for _, r := range rs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t0 := time.Now()
			_, r.upErr = r.compose(3*time.Minute, "up", "-d")
			r.upTook = time.Since(t0)
		})
	}
	wg.Wait()
	t.Logf("docker-compose up of %d layouts took %s", len(rs), time.Since(start).Round(time.Millisecond))

	for _, r := range rs {
		t.Run(r.name, func(t *testing.T) { testEngineLayout(t, r, bin) })
	}
}

func testEngineLayout(t *testing.T, r *runningLayout, bin string) {
	if r.upErr != nil {
		t.Fatal(r.upErr)
	}
	t.Logf("docker-compose up took %s", r.upTook.Round(time.Millisecond))
	// The docker command line, not docker-compose (whose every start
	// costs seconds of CPU): the project's containers by compose's labels.
	ids := r.e.Must("ps", "-aq", "--filter", "label=com.docker.compose.project="+r.project)
	if n := len(strings.Fields(ids)); n != r.containers {
		t.Fatalf("the project has %d containers, want %d", n, r.containers)
	}
	for _, id := range strings.Fields(ids) {
		r.e.WaitLog(id, "kafkaenv ready\n", time.Minute)
	}
	network := r.project + "_default"
	sub := r.e.Inspect(network, "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}")
	f := strings.Fields(sub)
	if len(f) != 2 {
		t.Fatalf("network %s: subnet and gateway %q", network, sub)
	}
	if p, err := netip.ParsePrefix(f[0]); err != nil || !dockertest.TestRange.Contains(p.Addr()) {
		t.Fatalf("network %s has subnet %s, outside the test range %s", network, f[0], dockertest.TestRange)
	}
	r.gateway = f[1]
	for v, at := range r.published {
		checkPublished(t, r, v, at)
	}
	if r.name == "wurstmeister-port-command" {
		for i := 1; i <= 3; i++ {
			r.replicaPorts = append(r.replicaPorts, published(t, r, fmt.Sprintf("kafka_%d", i), "9092"))
		}
	}

	code, rules, stderr := runIn(t, bin, r.dir, r.env, append([]string{"rules", "from-compose"}, files(r.dir)...)...)
	if code != 0 || stderr != r.stderr {
		t.Fatalf("from-compose: exit %d, stderr %q; want exit 0 (every broker reachable), stderr %q\n%s", code, stderr, r.stderr, rules)
	}
	want := r.wantRules()
	if got := ruleLines(rules); !slices.Equal(got, want) {
		t.Fatalf("from-compose wrote the rules\n%q\nwant\n%q\n%s", got, want, rules)
	}
	// The original layout, with the same variables, gives the same rules.
	orig := originalDir(r.name)
	if code, out, stderr := runIn(t, bin, r.dir, r.env, append([]string{"rules", "from-compose"}, files(orig)...)...); code != 0 || !slices.Equal(ruleLines(out), want) {
		t.Fatalf("from-compose on %s: exit %d, rules %q; want the variant's %q\n%s\n%s", orig, code, ruleLines(out), want, out, stderr)
	}

	seed := ""
	if r.seed != nil {
		seed = r.seed(r)
	} else {
		seed = r.local(r.engineLayout.ports[0])
	}
	dialled := produceConsumeRules(t, r.name, rules, seed)
	wantDialled := r.wantDialled()
	for addr, target := range wantDialled {
		if got := dialled.of(addr); !slices.Equal(got, []string{target}) {
			t.Errorf("%s was dialled at %q, want %s", addr, got, target)
		}
	}
	for _, addr := range dialled.addrs() {
		if _, ok := wantDialled[addr]; !ok && addr != seed {
			t.Errorf("the clients dialled %s (at %q), which the layout does not advertise", addr, dialled.of(addr))
		}
	}

	// rules from-docker, from the running containers, writes the same.
	code, fromDocker, stderr := runIn(t, bin, r.dir, r.env, "rules", "from-docker", "--docker-host", r.e.Host, "-p", r.project)
	if code != 0 || !slices.Equal(ruleLines(fromDocker), want) {
		t.Errorf("from-docker: exit %d, rules %q; want exit 0 and from-compose's rules %q\n%s\n%s", code, ruleLines(fromDocker), want, fromDocker, stderr)
	}
}

// checkPublished checks that the engine published, on the host port the
// variable names, the container port the file says (at: "SERVICE PORT").
func checkPublished(t *testing.T, r *runningLayout, v, at string) {
	t.Helper()
	svc, port, _ := strings.Cut(at, " ")
	if port == "$" {
		port = r.port(v)
	}
	if got := published(t, r, svc+"_1", port); got != r.port(v) {
		t.Fatalf("the engine publishes %s's port %s on %s; the file says %s=%d", svc, port, got, v, r.ports[v])
	}
}

// published is the host port the engine publishes a container's port on
// (IPv4; the engine may pick another for IPv6).
func published(t *testing.T, r *runningLayout, container, port string) string {
	t.Helper()
	out := r.e.Must("port", r.project+"_"+container, port+"/tcp")
	for _, l := range strings.Split(out, "\n") {
		if ap, err := netip.ParseAddrPort(strings.TrimSpace(l)); err == nil && ap.Addr().Is4() {
			return strconv.Itoa(int(ap.Port()))
		}
	}
	t.Fatalf("docker port %s_%s %s: %q", r.project, container, port, out)
	return ""
}

// runIn runs the kafkadial command in dir.
func runIn(t *testing.T, bin, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, dir
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// ruleLines are a rules file's rules, comments and blank lines left out,
// white space collapsed.
func ruleLines(rules string) []string {
	var out []string
	for _, l := range strings.Split(rules, "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return out
}

// produceConsumeRules creates a topic of 6 partitions through a strict
// dialer holding only rules, produces engineRecords records to it with
// franz-go and consumes them back, each exactly once and from every
// partition; it returns where each address was dialled.
func produceConsumeRules(t *testing.T, name, rules, seed string) *targets {
	t.Helper()
	log := newTargets("")
	d, err := dialer.New(dialer.WithStrict(), dialer.WithNamedRules("from-compose", rules), dialer.WithTimeout(5*time.Second), dialer.WithLogger(slog.New(log)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic, parts = "proof", 6
	opts := []kgo.Opt{kgo.SeedBrokers(seed), franzdial.Opt(d)}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, ctx, cl, topic, parts)
	rs := make([]*kgo.Record, engineRecords)
	for i := range rs {
		rs[i] = kgo.StringRecord(fmt.Sprintf("%s-%d", name, i))
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]int{}
	partitions := map[int32]bool{}
	for len(seen) < engineRecords && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			seen[string(rec.Value)]++
			partitions[rec.Partition] = true
		})
	}
	for i := range engineRecords {
		if v := fmt.Sprintf("%s-%d", name, i); seen[v] != 1 {
			t.Fatalf("record %s consumed %d times (%d distinct of %d consumed)", v, seen[v], len(seen), engineRecords)
		}
	}
	if len(seen) != engineRecords || len(partitions) != parts {
		t.Fatalf("consumed %d distinct records from %d partitions, want %d from %d", len(seen), len(partitions), engineRecords, parts)
	}
	return log
}
