package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The SSH path of kafkadial beside OpenSSH's own `ssh -L` forward to the
// same sshd, with the same cipher (aes128-gcm@openssh.com), in one run:
//
//	sudo go test ./integration -run '^$' -bench Bastion -benchtime 5x
//
// stream: one connection writes 64 MiB to a sink behind the bastion and
// reads back its byte count. stream-x4: four such connections at once.
// produce: franz-go produces 20,000 records of 1 KiB to the three brokers.
// dial1000: 1,000 concurrent dials through the bastion, each echoing a line.
func BenchmarkBastion(b *testing.B) {
	n := startBastionNet(b)
	n.freshBrokers(b)
	cfg := n.file("ssh_config_bench")
	base, err := os.ReadFile(n.env["SSH_CONFIG"])
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(base, "  Ciphers aes128-gcm@openssh.com\n"...), 0o600); err != nil {
		b.Fatal(err)
	}
	kd := n.dialer(b, "sink:9 => "+n.env["SINK_ADDR"]+" via ssh://bastion\n"+
		"echo:7 => "+n.env["ECHO_ADDR"]+" via ssh://bastion\n"+
		"kafka-{id}:9092 => = via ssh://bastion", dialer.WithSSHConfig(cfg))

	// ssh -L: one local port per broker and one for the sink, as users do.
	ports := map[string]int{}
	var args []string
	for _, target := range []string{"sink:9", "kafka-1:9092", "kafka-2:9092", "kafka-3:9092"} {
		p := benchFreePort(b)
		ports[target] = p
		args = append(args, "-L", fmt.Sprintf("127.0.0.1:%d:%s", p, target))
	}
	ssh := exec.Command("ssh", append([]string{"-F", cfg, "-N", "-c", "aes128-gcm@openssh.com",
		"-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes"}, append(args, "bastion")...)...)
	var sshOut bytes.Buffer
	ssh.Stdout, ssh.Stderr = &sshOut, &sshOut
	if err := ssh.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ssh.Process.Kill(); ssh.Wait() })
	for target, p := range ports {
		if err := benchWaitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err != nil {
			b.Fatalf("ssh -L for %s: %v\n%s", target, err, sshOut.String())
		}
	}
	var rules []string
	for target, p := range ports {
		rules = append(rules, fmt.Sprintf("%s => 127.0.0.1:%d", target, p))
	}
	ld := n.dialer(b, strings.Join(rules, "\n"))

	paths := []struct {
		name string
		d    dialer.ContextDialer
	}{{"kafkadial-ssh", kd}, {"ssh-L", ld}}
	for _, p := range paths {
		b.Run("stream/"+p.name, func(b *testing.B) { benchStream(b, p.d, 1) })
	}
	for _, p := range paths {
		b.Run("stream-x4/"+p.name, func(b *testing.B) { benchStream(b, p.d, 4) })
	}
	for _, p := range paths {
		b.Run("produce/"+p.name, func(b *testing.B) { benchProduce(b, p.d.(*dialer.Dialer)) })
	}
	b.Run("dial1000/kafkadial-ssh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := dialMany(kd, "echo:7", 1000); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const streamBytes = 64 << 20

// benchStream writes streamBytes on each of conns connections to the sink
// and checks the count it answers.
func benchStream(b *testing.B, d dialer.ContextDialer, conns int) {
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(streamBytes * conns))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for j := 0; j < conns; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- streamOnce(d, buf)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func streamOnce(d dialer.ContextDialer, buf []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", "sink:9")
	if err != nil {
		return err
	}
	defer c.Close()
	for sent := 0; sent < streamBytes; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	var count [8]byte
	if _, err := io.ReadFull(c, count[:]); err != nil {
		return fmt.Errorf("reading the sink's count: %w", err)
	}
	if got := binary.BigEndian.Uint64(count[:]); got != streamBytes {
		return fmt.Errorf("the sink got %d bytes, want %d", got, streamBytes)
	}
	return nil
}

// benchProduce produces 20,000 records of 1 KiB with franz-go.
func benchProduce(b *testing.B, d *dialer.Dialer) {
	const records, size = 20000, 1024
	value := bytes.Repeat([]byte("k"), size)
	b.SetBytes(records * size)
	cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-1:9092"), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), franzdial.Opt(d))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, kgo.SliceRecord(value)).FirstErr(); err != nil { // connect first
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		wg.Add(records)
		for j := 0; j < records; j++ {
			cl.Produce(ctx, kgo.SliceRecord(value), func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		if first != nil {
			b.Fatal(first)
		}
	}
}

// dialMany makes n concurrent dials to an echo address and echoes a line on
// each; every one must succeed.
func dialMany(d dialer.ContextDialer, addr string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	conns := make(chan net.Conn, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			conns <- c
			msg := fmt.Sprintf("conn %d\n", i)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
				errs <- fmt.Errorf("echo %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(conns)
	for c := range conns {
		c.Close()
	}
	var failed []string
	for err := range errs {
		failed = append(failed, err.Error())
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d dials failed; first: %s", len(failed), n, failed[0])
	}
	return nil
}

func benchFreePort(b testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func benchWaitListening(addr string) error {
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}
