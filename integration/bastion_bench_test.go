package integration

import (
	"bytes"
	"context"
	"crypto/rand"
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
// produce: franz-go produces 50,000 records of 1 KiB to the three brokers.
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
	kd := n.dialerConfig(b, cfg, "sink:9 => "+n.env["SINK_ADDR"]+" via ssh://bastion\n"+
		"echo:7 => "+n.env["ECHO_ADDR"]+" via ssh://bastion\n"+
		"kafka-{id}:9092 => = via ssh://bastion")

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

	// Each iteration runs both paths, one after the other, so that the
	// load of a shared machine weighs on both alike; the ratio is
	// kafkadial's throughput over ssh -L's.
	b.Run("stream", func(b *testing.B) {
		sideBySide(b, streamBytes, func(d dialer.ContextDialer) error { return streamConns(d, 1) }, kd, ld)
	})
	b.Run("stream-x4", func(b *testing.B) {
		sideBySide(b, 4*streamBytes, func(d dialer.ContextDialer) error { return streamConns(d, 4) }, kd, ld)
	})
	kp, lp := newBenchProducer(b, kd), newBenchProducer(b, ld)
	b.Run("produce", func(b *testing.B) {
		sideBySide(b, produceRecords*produceSize, func(d dialer.ContextDialer) error {
			if d == kd {
				return kp.produce()
			}
			return lp.produce()
		}, kd, ld)
	})
	b.Run("dial1000/kafkadial-ssh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := dialMany(kd, "echo:7", 1000); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const streamBytes = 64 << 20

// sideBySide times op on the kafkadial path and on the ssh -L path in
// every iteration and reports each one's MB/s and their ratio.
func sideBySide(b *testing.B, bytes int64, op func(dialer.ContextDialer) error, kd, ld dialer.ContextDialer) {
	var kdTime, ldTime time.Duration
	for i := 0; i < b.N; i++ {
		for _, p := range []struct {
			d   dialer.ContextDialer
			sum *time.Duration
		}{{kd, &kdTime}, {ld, &ldTime}} {
			start := time.Now()
			if err := op(p.d); err != nil {
				b.Fatal(err)
			}
			*p.sum += time.Since(start)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(bytes) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(kdTime), "kafkadial-MB/s")
	b.ReportMetric(mbps(ldTime), "ssh-L-MB/s")
	b.ReportMetric(mbps(kdTime)/mbps(ldTime), "ratio")
}

var streamBuf = func() []byte {
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	return buf
}()

// streamConns writes streamBytes on each of conns connections to the sink
// at once and checks the count it answers.
func streamConns(d dialer.ContextDialer, conns int) error {
	errs := make(chan error, conns)
	for j := 0; j < conns; j++ {
		go func() { errs <- streamOnce(d, streamBuf) }()
	}
	var first error
	for j := 0; j < conns; j++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
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

const produceRecords, produceSize = 50000, 1024

// benchProducer is a franz-go producer through one path, connected once.
type benchProducer struct {
	cl    *kgo.Client
	value []byte
}

func newBenchProducer(b *testing.B, d dialer.ContextDialer) *benchProducer {
	// No compression and random values: every byte crosses the hop.
	cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-1:9092"), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		franzdial.Opt(d.(*dialer.Dialer)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	p := &benchProducer{cl: cl, value: make([]byte, produceSize)}
	rand.Read(p.value)
	if err := cl.ProduceSync(context.Background(), kgo.SliceRecord(p.value)).FirstErr(); err != nil {
		b.Fatal(err)
	}
	return p
}

// produce sends produceRecords records of produceSize bytes and waits for
// every ack.
func (p *benchProducer) produce() error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	wg.Add(produceRecords)
	for j := 0; j < produceRecords; j++ {
		p.cl.Produce(context.Background(), kgo.SliceRecord(p.value), func(_ *kgo.Record, err error) {
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
	return first
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
