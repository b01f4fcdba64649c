package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// A private engine runs in a network namespace of its own, joined to the
// host by a veth pair in the test range, clear of the shared engine's
// addresses (198.18.0.0/18, bip 198.18.255.0/24) and the DNS suites'
// (198.18.100-249.0/24). Its containers use the namespace's network (the
// engine's "host" network); its pools hand out nothing in practice.
const (
	privatePools = `{"default-address-pools": [{"base": "198.18.64.0/20", "size": 24}]}`
	privateNetns = "kdtpriv"
	privateVeth  = "kdtpv0" // host side; kdtpv1 in the namespace
	privateHost  = "198.18.81.1/30"
	privateAddr  = "198.18.81.2" // the namespace's side: where the engine and its containers listen
)

// Private is a Docker engine of a test's own, which the test may stop and
// start again — what it must never do to the shared engine that other
// tests use at the same time: a second dockerd with its own data,
// containerd and network namespace, reached as a remote engine at
// tcp://198.18.81.2:2375 over a veth pair (its containers, on its "host"
// network, listen there too). The test's own listener in the namespace
// carries that address to the engine's unix socket while the engine runs:
// dockerd 20.10 sleeps 15s at every start when it listens on TCP without
// TLS. Its storage driver is vfs: nothing stays mounted once it stops. It
// and all it holds are removed when the test ends.
//
// Why a namespace: a second dockerd in the host's namespace deletes the
// interface docker0, the shared engine's bridge, when it is started with
// --bridge=none, and also, with a bridge of its own, when it is started
// again.
type Private struct {
	*Engine
	dir string

	mu    sync.Mutex
	cmd   *exec.Cmd
	front *front               // tcp://198.18.81.2:2375 to the engine's unix socket
	done  chan struct{}        // closed when cmd has exited
	log   testpeers.SyncBuffer // dockerd's output, every start
}

// NewPrivate starts a private engine, or skips the test (outside CI) or
// fails it (in CI) naming what is missing: root, dockerd, docker.
func NewPrivate(t testing.TB) *Private {
	t.Helper()
	testenv.Need(t, "dockerd", "docker", "go", "ip", "nsenter")
	testenv.NeedRoot(t)
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	unplumb := func() error {
		ip("link", "del", privateVeth)
		return ip("netns", "del", privateNetns)
	}
	// Test addresses never leave the machine.
	if err := ip("route", "add", "unreachable", "198.18.0.0/15"); err != nil && !strings.Contains(err.Error(), "File exists") {
		t.Fatal(err)
	}
	unplumb() // left by a killed run
	for _, args := range [][]string{
		{"netns", "add", privateNetns},
		{"link", "add", privateVeth, "type", "veth", "peer", "name", "kdtpv1"},
		{"link", "set", "kdtpv1", "netns", privateNetns},
		{"addr", "add", privateHost, "dev", privateVeth},
		{"link", "set", privateVeth, "up"},
		{"-n", privateNetns, "addr", "add", privateAddr + "/30", "dev", "kdtpv1"},
		{"-n", privateNetns, "link", "set", "kdtpv1", "up"},
		{"-n", privateNetns, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			unplumb()
			t.Fatal(err)
		}
	}
	// A short directory: containerd's sockets live under it, and a unix
	// socket path holds at most 107 bytes.
	dir, err := os.MkdirTemp("", "kdt-engine-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(privatePools), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Private{dir: dir, Engine: &Engine{t: t, Run: runName(), Host: "tcp://" + privateAddr + ":2375"}}
	t.Cleanup(func() {
		p.stop()
		// The engine leaves its network namespace files bind-mounted.
		if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			for _, l := range strings.Split(string(mi), "\n") {
				if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
					syscall.Unmount(f[4], syscall.MNT_DETACH)
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the private engine's directory: %v", err)
		}
		if err := unplumb(); err != nil {
			t.Errorf("removing the private engine's namespace: %v", err)
		}
	})
	p.StartEngine()
	return p
}

// StartEngine starts the engine's dockerd (again, with the data it had)
// and waits until it answers; containers with a restart policy come back.
func (p *Private) StartEngine() {
	p.t.Helper()
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		p.t.Fatal("dockertest: the private engine is already running")
	}
	// nsenter, not "ip netns exec": that remounts /sys, which hides the
	// cgroup mounts dockerd needs. nsenter execs dockerd.
	cmd := exec.Command("nsenter", "--net=/run/netns/"+privateNetns, "dockerd",
		"--config-file", filepath.Join(p.dir, "daemon.json"),
		"--data-root", filepath.Join(p.dir, "data"),
		"--exec-root", filepath.Join(p.dir, "x"),
		"--pidfile", filepath.Join(p.dir, "docker.pid"),
		"--host", "unix://"+p.sock(),
		"--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--storage-driver", "vfs",
		"--containerd-namespace", "kdt-private", "--containerd-plugins-namespace", "kdt-private-plugins",
		"--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second // a child holding its output open
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatalf("starting dockerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := exec.CommandContext(ctx, "docker", "-H", "unix://"+p.sock(), "version", "--format", "{{.Server.APIVersion}}").Run()
		cancel()
		if err == nil {
			p.t.Logf("private engine up at %s in %s", p.Host, time.Since(start).Round(time.Millisecond))
			break
		}
		select {
		case <-done:
			p.t.Fatalf("the private dockerd exited:\n%s", p.Log())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the private dockerd did not answer within 60s:\n%s", p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	f, err := startFront("/run/netns/"+privateNetns, privateAddr+":2375", p.sock())
	if err != nil {
		p.t.Fatalf("listening at %s in %s: %v", privateAddr, privateNetns, err)
	}
	p.mu.Lock()
	p.front = f
	p.mu.Unlock()
}

func (p *Private) sock() string { return filepath.Join(p.dir, "docker.sock") }

// StopEngine stops the engine's dockerd as a service manager would
// (SIGTERM; it stops its containers and containerd) and waits until it
// has exited.
func (p *Private) StopEngine() {
	p.t.Helper()
	if err := p.stop(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Private) stop() error {
	p.mu.Lock()
	cmd, done, f := p.cmd, p.done, p.front
	p.cmd, p.front = nil, nil
	p.mu.Unlock()
	if f != nil {
		f.close()
	}
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("the private dockerd did not stop within 30s of SIGTERM; killed:\n%s", p.Log())
	}
}

// Log returns what dockerd printed so far.
func (p *Private) Log() string {
	return p.log.String()
}
