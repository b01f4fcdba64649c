// Package testpeers starts the real peers of the hop tests on loopback:
// Debian's OpenSSH sshd, microsocks and
// tinyproxy, one per test, stopped when it ends.
package testpeers

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
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

// FreePort returns a loopback port nothing listens on (the programs under
// test take a port number, not a listener).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreePortRun returns a loopback port P such that P..P+n are all free, for
// a program whose ports follow from one (kafkadial proxy: bootstrap at P,
// node N at P+1+N). It looks below the ephemeral range (32768 and up on
// Linux), where the kernel never gives a port to one of the many
// connections the other tests make between this check and the program's
// listen. Another listener may still take one first; the program then
// fails naming it.
func FreePortRun(t testing.TB, n int) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(12000-n)
		free := true
		for i := 0; i <= n && free; i++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+i)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return p
		}
	}
	t.Fatalf("no run of %d free loopback ports in 20000..32000", n+1)
	return 0
}

func SSHKeygen(t testing.TB, path, passphrase string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "kafkadial-test", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-SSHKeygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pub))
}

// SSHFingerprint is what ssh-SSHKeygen -l says of a public key file.
func SSHFingerprint(t testing.TB, pubFile string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pubFile).Output()
	if err != nil {
		t.Fatalf("ssh-SSHKeygen -l: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-SSHKeygen -l printed %q", out)
	}
	return f[1]
}

// SSHD is a real OpenSSH server on loopback.
type SSHD struct {
	t       testing.TB
	dir     string
	Port    int
	HostPub string // the host public key line ("ssh-ed25519 AAAA...")
	HostFP  string // its SHA256 SSHFingerprint
	Key     string // a client private key it accepts (unencrypted)
	cfg     string
	mu      sync.Mutex
	cmd     *exec.Cmd
	log     *SyncBuffer
}

// SyncBuffer is a bytes.Buffer that a process writes while a test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func NeedSSHD(t testing.TB) {
	testenv.NeedRoot(t)
	testenv.Need(t, "/usr/sbin/sshd", "ssh-keygen", "ssh-agent", "ssh-add")
}

func StartSSHD(t testing.TB, authorized ...string) *SSHD {
	t.Helper()
	NeedSSHD(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &SSHD{t: t, dir: dir, Port: FreePort(t)}
	s.HostPub = SSHKeygen(t, filepath.Join(dir, "host_key"), "")
	s.HostFP = SSHFingerprint(t, filepath.Join(dir, "host_key.pub"))
	s.Key = filepath.Join(dir, "client_key")
	authorized = append(authorized, SSHKeygen(t, s.Key, ""))
	ak := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(ak, []byte(strings.Join(authorized, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cfg = filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 200:30:400
LogLevel VERBOSE
`, s.Port, filepath.Join(dir, "host_key"), filepath.Join(dir, "sshd.pid"), ak)
	if err := os.WriteFile(s.cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *SSHD) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Start starts sshd and waits until it accepts connections.
func (s *SSHD) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = &SyncBuffer{}
	s.cmd = exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", s.cfg)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	WaitListening(s.t, s.Addr())
}

// Stop kills sshd and every session process it forked, as a crash or a
// host reboot would: established SSH connections are cut.
func (s *SSHD) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	hopKillTree(s.cmd.Process.Pid)
	s.cmd.Wait()
	s.cmd = nil
}

func (s *SSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// KnownHosts writes a known_hosts file trusting this server.
func (s *SSHD) KnownHosts(t testing.TB) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s\n", s.Port, s.HostPub)
	if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// hopKillTree kills pid and its descendants, children first found from /proc.
func hopKillTree(pid int) {
	var all []int
	var walk func(int)
	walk = func(p int) {
		all = append(all, p)
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p))
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				walk(c)
			}
		}
	}
	walk(pid)
	for _, p := range all {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

func WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 10s", addr)
}

// StartProgram runs a proxy in the foreground until the test ends.
func StartProgram(t testing.TB, addr string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	WaitListening(t, addr)
	return cmd
}

// StartMicrosocks runs microsocks on loopback; user "" means no auth.
func StartMicrosocks(t testing.TB, user, pass string) (string, *exec.Cmd) {
	t.Helper()
	testenv.Need(t, "microsocks")
	port := FreePort(t)
	args := []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port)}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return addr, StartProgram(t, addr, "microsocks", args...)
}

// StartTinyproxy runs tinyproxy on loopback; user "" means no auth.
func StartTinyproxy(t testing.TB, user, pass string) string {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "tinyproxy")
	dir := t.TempDir()
	port := FreePort(t)
	conf := fmt.Sprintf(`Port %d
Listen 127.0.0.1
User nobody
Group nogroup
Timeout 60
MaxClients 2000
Allow 127.0.0.1
LogLevel Info
`, port)
	if user != "" {
		conf += fmt.Sprintf("BasicAuth %s %s\n", user, pass)
	}
	cfg := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	StartProgram(t, addr, "tinyproxy", "-d", "-c", cfg)
	return addr
}
