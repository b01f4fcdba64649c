// Package dockertest drives a real Docker engine for the Docker suites,
// through the docker command line (so that what the tests set up does not
// depend on the code under test). Everything it creates — images built FROM
// scratch from the project's own static binaries, networks, volumes,
// containers — is named and labelled per run and removed when the test
// ends, even when it fails; leftovers of killed runs are swept at the next
// start.
//
//	func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		e := dockertest.Need(t) // skips outside CI without an engine, fails in CI
//		img := e.Image("github.com/kafkadial/kafkadial/internal/dockertest/tcpname")
//		net := e.Network("kafka")
//		id := e.Run("--network", net.Name, "--network-alias", "kafka-1", "-p", "127.0.0.1::29092", img, "29092")
//		...
//	}
//
// Networks must get their subnet from 198.18.0.0/15 (the engine's
// default-address-pools, set by .ci/docker-setup): Network fails the test
// otherwise, so that no test ever addresses a private range.
//
// A test that must stop and start an engine uses NewPrivate: a second
// dockerd of its own, in a network namespace of its own, never the shared
// engine the other tests use at the same time.
package dockertest

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testenv"
)

// Label marks everything a test creates; its value is the run's name.
const Label = "kafkadial.test"

// TestRange holds every address the engine may hand out to tests.
var TestRange = netip.MustParsePrefix("198.18.0.0/15")

// Engine is the Docker engine a test uses.
type Engine struct {
	t   testing.TB
	Run string // the run's name: a prefix of every name this run creates
	// Host is the engine's address, as the docker command line uses it
	// (DOCKER_HOST, or unix:///var/run/docker.sock).
	Host string
}

// run is the per-process state: the run name and the images built once
// per process when the package's TestMain calls Main.
var run = struct {
	sync.Mutex
	name   string
	main   bool
	images map[string]string
	errs   map[string]error
}{images: map[string]string{}, errs: map[string]error{}}

func runName() string {
	run.Lock()
	defer run.Unlock()
	if run.name == "" {
		run.name = fmt.Sprintf("kdt%dx%d", os.Getpid(), time.Now().UnixNano()%1e6)
	}
	return run.name
}

// Main runs the tests, then removes whatever the run left (images built
// once for the whole process, anything a test's cleanup did not get to).
func Main(m *testing.M) int {
	run.Lock()
	run.main = true
	run.Unlock()
	code := m.Run()
	if _, err := exec.LookPath("docker"); err == nil && engineUp() == nil {
		removeLabelled(Label + "=" + runName())
	}
	return code
}

// Host returns the engine address the docker command line uses.
func Host() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

func engineUp() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, firstLine(out))
	}
	return nil
}

var sweepOnce sync.Once

// Need returns the engine, or skips the test (outside CI) or fails it (in
// CI, where .ci/docker-setup starts the engine) naming what is missing.
func Need(t testing.TB) *Engine {
	t.Helper()
	testenv.Need(t, "docker", "go")
	if err := engineUp(); err != nil {
		why := fmt.Sprintf("needs a Docker engine at %s (bash .ci/docker-setup installs and starts one as root): %v", Host(), err)
		if testenv.InCI() {
			t.Fatalf("%s, and CI=true: .ci/run should have started it", why)
		}
		t.Skip(why)
	}
	sweepOnce.Do(sweepDead)
	return &Engine{t: t, Run: runName(), Host: Host()}
}

// Name returns a name for this run: the run prefix, then s.
func (e *Engine) Name(s string) string { return e.Run + "-" + s }

// Docker runs the docker command line and returns its standard output,
// trimmed; the error carries its standard error.
func (e *Engine) Docker(args ...string) (string, error) {
	return e.docker(2*time.Minute, args...)
}

func (e *Engine) docker(timeout time.Duration, args ...string) (string, error) {
	return dockerAt(e.Host, timeout, args...)
}

// docker runs the docker command line against the shared engine.
func docker(timeout time.Duration, args ...string) (string, error) {
	return dockerAt(Host(), timeout, args...)
}

func dockerAt(host string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", host}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Must is Docker that fails the test on error.
func (e *Engine) Must(args ...string) string {
	e.t.Helper()
	out, err := e.Docker(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *Engine) label() string { return Label + "=" + e.Run }

// Image builds the Go main package pkg as a static binary (CGO_ENABLED=0)
// and an image FROM scratch holding it as its entrypoint, and returns the
// image's name. With Main, each package is built once per process;
// otherwise the image is removed when the test ends.
func (e *Engine) Image(pkg string) string {
	e.t.Helper()
	key := e.Host + " " + pkg
	run.Lock()
	shared := run.main && e.Host == Host() // a private engine's images go with it
	if img, ok := run.images[key]; ok && shared {
		run.Unlock()
		return img
	}
	if err, ok := run.errs[key]; ok && shared {
		run.Unlock()
		e.t.Fatal(err)
	}
	run.Unlock()
	img, err := e.build(pkg)
	if shared {
		run.Lock()
		if err != nil {
			run.errs[key] = err
		} else {
			run.images[key] = img
		}
		run.Unlock()
	} else if err == nil {
		e.t.Cleanup(func() { e.docker(time.Minute, "rmi", "-f", img) })
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return img
}

func (e *Engine) build(pkg string) (string, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "dockertest-build")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "app"), pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
	}
	dockerfile := "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", err
	}
	img := strings.ToLower(e.Name(filepath.Base(pkg))) + ":test"
	if _, err := e.docker(3*time.Minute, "build", "-q", "--label", e.label(), "-t", img, dir); err != nil {
		return "", err
	}
	e.t.Logf("built image %s from %s in %s", img, pkg, time.Since(start).Round(time.Millisecond))
	return img, nil
}

// Network is a user-defined bridge network the test created.
type Network struct {
	Name   string
	ID     string
	Subnet netip.Prefix
}

// Network creates a bridge network named for this run (removed when the
// test ends) and checks that its subnet is inside TestRange.
func (e *Engine) Network(name string) Network {
	e.t.Helper()
	n := Network{Name: e.Name(name)}
	n.ID = e.Must("network", "create", "--driver", "bridge", "--label", e.label(), n.Name)
	e.t.Cleanup(func() {
		if _, err := e.docker(time.Minute, "network", "rm", n.ID); err != nil && !strings.Contains(err.Error(), "No such network") {
			e.t.Errorf("removing network %s: %v", n.Name, err)
		}
	})
	sub := e.Must("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", n.ID)
	for _, s := range strings.Fields(sub) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			e.t.Fatalf("network %s: subnet %q: %v", n.Name, s, err)
		}
		if p.Addr().Is4() && (!TestRange.Contains(p.Addr()) || p.Bits() < TestRange.Bits()) {
			e.t.Fatalf("network %s got subnet %s, outside the test range %s: the engine's default-address-pools are not set (bash .ci/docker-setup)", n.Name, p, TestRange)
		}
		if p.Addr().Is4() {
			n.Subnet = p
		}
	}
	if !n.Subnet.IsValid() {
		e.t.Fatalf("network %s has no IPv4 subnet (%q)", n.Name, sub)
	}
	return n
}

// Volume creates a volume named for this run, removed when the test ends.
func (e *Engine) Volume(name string) string {
	e.t.Helper()
	v := e.Must("volume", "create", "--label", e.label(), e.Name(name))
	e.t.Cleanup(func() { e.docker(time.Minute, "volume", "rm", "-f", v) })
	return v
}

// Start runs "docker run -d" with args (options, image, command), labelled
// for this run, and returns the container's ID. The container and its
// anonymous volumes are removed when the test ends.
func (e *Engine) Start(args ...string) string {
	e.t.Helper()
	id := e.Must(append([]string{"run", "-d", "--label", e.label()}, args...)...)
	e.t.Cleanup(func() { e.docker(time.Minute, "rm", "-f", "-v", id) })
	return id
}

// Create is Start with "docker create": the container exists, stopped.
func (e *Engine) Create(args ...string) string {
	e.t.Helper()
	id := e.Must(append([]string{"create", "--label", e.label()}, args...)...)
	e.t.Cleanup(func() { e.docker(time.Minute, "rm", "-f", "-v", id) })
	return id
}

// Inspect returns "docker inspect --format format ref".
func (e *Engine) Inspect(ref, format string) string {
	e.t.Helper()
	return e.Must("inspect", "--format", format, ref)
}

// Published returns the host address that publishes a container's TCP
// port on loopback (as "docker port" reports it), e.g. "127.0.0.1:32768".
func (e *Engine) Published(ref string, port int) string {
	e.t.Helper()
	out := e.Must("port", ref, strconv.Itoa(port)+"/tcp")
	for _, l := range strings.Split(out, "\n") {
		if ap, err := netip.ParseAddrPort(strings.TrimSpace(l)); err == nil {
			if ap.Addr().IsUnspecified() {
				ap = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port())
			}
			return ap.String()
		}
	}
	e.t.Fatalf("container %s does not publish %d/tcp (docker port: %q)", ref, port, out)
	return ""
}

// Addr returns the container's address on a network.
func (e *Engine) Addr(ref string, n Network) netip.Addr {
	e.t.Helper()
	s := e.Inspect(ref, fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", n.Name))
	a, err := netip.ParseAddr(s)
	if err != nil || !n.Subnet.Contains(a) {
		e.t.Fatalf("container %s on %s: address %q outside %s", ref, n.Name, s, n.Subnet)
	}
	return a
}

// WaitLog waits until the container's output holds s (docker-proxy
// accepts connections before the process in the container listens, so a
// dial does not tell that it is up), and fails the test after timeout or
// when the container stops.
func (e *Engine) WaitLog(ref, s string, timeout time.Duration) {
	e.t.Helper()
	e.WaitLogN(ref, s, 1, timeout)
}

// WaitLogN is WaitLog for the n-th time s is printed (the output of a
// restarted container holds that of its earlier runs).
func (e *Engine) WaitLogN(ref, s string, n int, timeout time.Duration) {
	e.t.Helper()
	start := time.Now()
	for {
		out, err := e.logs(ref)
		if err == nil && strings.Count(out, s) >= n {
			return
		}
		if time.Since(start) > timeout {
			e.t.Fatalf("container %s did not print %q within %s: %v\n%s", ref, s, timeout, err, out)
		}
		if st, _ := e.Docker("inspect", "--format", "{{.State.Status}}", ref); st == "exited" || st == "dead" {
			out, _ := e.logs(ref)
			e.t.Fatalf("container %s %s before printing %q:\n%s", ref, st, s, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs returns the container's output so far (stdout and stderr).
func (e *Engine) Logs(ref string) string {
	out, err := e.logs(ref)
	if err != nil {
		return err.Error()
	}
	return out
}

func (e *Engine) logs(ref string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "-H", e.Host, "logs", ref).CombinedOutput()
	return string(out), err
}

// Leftovers lists what the run still holds: containers, networks,
// volumes and images labelled with its name (for tests that check their
// own cleanup).
func (e *Engine) Leftovers() []string {
	e.t.Helper()
	return leftovers(e, e.label())
}

func leftovers(e *Engine, filter string) []string {
	var out []string
	for _, k := range [][]string{
		{"ps", "-aq", "--filter", "label=" + filter},
		{"network", "ls", "-q", "--filter", "label=" + filter},
		{"volume", "ls", "-q", "--filter", "label=" + filter},
		{"images", "-q", "--filter", "label=" + filter},
	} {
		s, _ := e.docker(time.Minute, k...)
		for _, f := range strings.Fields(s) {
			out = append(out, k[0]+" "+f)
		}
	}
	return out
}

// removeLabelled removes every container, network, volume and image with
// the label filter (key=value, or key alone).
func removeLabelled(filter string) {
	ids := func(args ...string) []string {
		s, _ := docker(time.Minute, args...)
		return strings.Fields(s)
	}
	if c := ids("ps", "-aq", "--filter", "label="+filter); len(c) > 0 {
		docker(2*time.Minute, append([]string{"rm", "-f", "-v"}, c...)...)
	}
	if n := ids("network", "ls", "-q", "--filter", "label="+filter); len(n) > 0 {
		docker(time.Minute, append([]string{"network", "rm"}, n...)...)
	}
	if v := ids("volume", "ls", "-q", "--filter", "label="+filter); len(v) > 0 {
		docker(time.Minute, append([]string{"volume", "rm", "-f"}, v...)...)
	}
	if i := ids("images", "-q", "--filter", "label="+filter); len(i) > 0 {
		docker(time.Minute, append([]string{"rmi", "-f"}, i...)...)
	}
}

// sweepDead removes what earlier runs whose process is gone left behind
// (a test binary killed by a timeout runs no cleanup).
func sweepDead() {
	s, _ := docker(time.Minute, "ps", "-a", "--format", `{{.Label "`+Label+`"}}`, "--filter", "label="+Label)
	n, _ := docker(time.Minute, "network", "ls", "--format", `{{.Label "`+Label+`"}}`, "--filter", "label="+Label)
	v, _ := docker(time.Minute, "volume", "ls", "--format", `{{.Label "`+Label+`"}}`, "--filter", "label="+Label)
	i, _ := docker(time.Minute, "images", "--format", `{{.Repository}}`, "--filter", "label="+Label)
	runs := map[string]bool{}
	for _, r := range strings.Fields(s + " " + n + " " + v) {
		runs[r] = true
	}
	for _, repo := range strings.Fields(i) {
		if r, _, ok := strings.Cut(repo, "-"); ok {
			runs[r] = true
		}
	}
	for r := range runs {
		if r == runName() || !strings.HasPrefix(r, "kdt") {
			continue
		}
		pidText, _, _ := strings.Cut(strings.TrimPrefix(r, "kdt"), "x")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			removeLabelled(Label + "=" + r)
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
