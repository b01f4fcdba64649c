package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testenv"
)

// kcat (librdkafka) resolves broker names with the system resolver. With
// `kafkadial dns serve --docker` as its name server (its resolv.conf
// bind-mounted in a mount namespace of its own, so nothing else on the
// machine sees it), it produces and consumes (kcatRoundTrip) through the
// three brokers of a real Docker engine by their network aliases
// kafka-1..3, with no rules and no zone: every name comes from the engine,
// every address is a container's on the test network.
func TestKcatThroughDockerDNS(t *testing.T) {
	testenv.Need(t, "kcat", "unshare", "mount")
	testenv.NeedRoot(t)
	k := startDockerKafka(t)
	dir := t.TempDir()
	bin := buildKafkadial(t, dir)
	// A loopback address of this run's own: a DNS server must be on port
	// 53, and resolv.conf cannot name another.
	ns := fmt.Sprintf("127.77.%d.%d", rand.IntN(250)+1, rand.IntN(250)+1)
	srv := startServing(t, exec.Command(bin, "dns", "serve", "-v", "--docker", "--docker-host", k.e.Host, "--listen", ns+":53"))
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+ns+"\noptions timeout:2 attempts:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kcat := func(args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private",
			"sh", "-c", `mount --bind "$0" /etc/resolv.conf && exec kcat "$@"`, resolv}, args...)...)
	}
	kcatRoundTrip(t, kcat, topic, partitions, srv)
	// librdkafka looked up every broker's advertised name through the
	// server, which answered each with the container's address.
	log := srv.output()
	for i, f := range k.fronts {
		addr := k.e.Addr(f, k.net).String()
		if !strings.Contains(log, fmt.Sprintf("name=kafka-%d. type=A rcode=NOERROR answer=%s ", i+1, addr)) {
			t.Fatalf("kafkadial dns serve never answered A kafka-%d with %s:\n%s", i+1, addr, log)
		}
	}
	srv.stop(t)
}
