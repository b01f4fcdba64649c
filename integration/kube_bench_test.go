package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	corev1 "k8s.io/api/core/v1"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
)

// BenchmarkKube compares kafkadial's in-process port-forward with
// `kubectl port-forward` (/usr/bin/kubectl) to the same pods of the same
// API server and node, both over the WebSocket-tunnelled protocol:
// throughput of one stream and of four at once (16 MiB up and 16 MiB down
// per stream, to a sink pod), franz-go producing 1 KiB records
// (uncompressed, 1,000 per op) to a one-broker kfake pod, and the latency of a new connection on an open
// port-forward (dial plus one Kafka ApiVersions round trip).
//
//	go test -run '^$' -bench 'Kube/(streams|franz)' -benchtime 10x -count 6 . > kube.txt
//	go test -run '^$' -bench 'Kube/dial' -benchtime 200x -count 6 . >> kube.txt
//	benchstat -col /impl kube.txt
func BenchmarkKube(b *testing.B) {
	env := startKubeEnv(b, kubeEnvOptions{portForwardWebSockets: true, nodeWebSockets: true})
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		b.Skip("needs kubectl on PATH (the machine image has /usr/bin/kubectl)")
	}
	sink := startSink(b)
	var brokerAddr string
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "bench"),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			brokerAddr = ln.Addr().String()
			return kafkatest.AdvertiseAs(ln, "kafka-0.kafka.bench.svc:9092"), nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	defer kf.Close()
	mustNS(b, env, "bench")
	createPod(b, env, "bench", "sink-0", nil, "", corev1.PodRunning, "198.18.1.1")
	createPod(b, env, "bench", "kafka-0", nil, "kafka", corev1.PodRunning, "198.18.1.2")
	grantKafkaUser(b, env, "bench", true)
	env.setPods(b, map[string]map[string]string{
		"bench/sink-0":  {"9000": sink.Addr().String()},
		"bench/kafka-0": {"9092": brokerAddr},
	})

	kd := newKube(b, env, io.Discard)
	viaKD := func(ctx context.Context, addr string) (net.Conn, error) {
		return kd.DialContext(ctx, "tcp", addr)
	}
	sinkPF := kubectlForward(b, kubectl, env, "sink-0", 9000)
	kafkaPF := kubectlForward(b, kubectl, env, "kafka-0", 9092)
	viaKubectl := func(local string) func(context.Context, string) (net.Conn, error) {
		return func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", local)
		}
	}
	paths := []struct {
		name        string
		sink, kafka func(context.Context, string) (net.Conn, error)
		rules       string
	}{
		{"kafkadial", viaKD, viaKD, "*.bench.svc:9092 => = via kube"},
		{"kubectl", viaKubectl(sinkPF), viaKubectl(kafkaPF), "kafka-0.kafka.bench.svc:9092 => " + kafkaPF},
	}
	const perStream = 16 << 20
	for _, streams := range []int{1, 4} {
		for _, p := range paths {
			b.Run(fmt.Sprintf("streams=%d/impl=%s", streams, p.name), func(b *testing.B) {
				b.SetBytes(int64(2 * perStream * streams))
				for b.Loop() {
					var wg sync.WaitGroup
					errs := make(chan error, streams)
					for range streams {
						wg.Go(func() { errs <- sinkRoundTrip(p.sink, "sink-0.sink.bench.svc:9000", perStream) })
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
	for _, p := range paths {
		b.Run("dial/impl="+p.name, func(b *testing.B) {
			// The port-forward connection is open already: warm it.
			if c, err := p.kafka(context.Background(), "kafka-0.kafka.bench.svc:9092"); err == nil {
				apiVersions(c)
				c.Close()
			}
			for b.Loop() {
				c, err := p.kafka(context.Background(), "kafka-0.kafka.bench.svc:9092")
				if err != nil {
					b.Fatal(err)
				}
				if err := apiVersions(c); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
	for _, p := range paths {
		b.Run("franz-produce/impl="+p.name, func(b *testing.B) {
			d, err := dialer.New(dialer.WithStrict(), dialer.WithVia("kube", kd), dialer.WithRules(p.rules))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-0.kafka.bench.svc:9092"), kgo.DefaultProduceTopic("bench"),
				kgo.ProducerBatchCompression(kgo.NoCompression()), franzdial.Opt(d)) // the bytes cross the port-forward as they are
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			value := make([]byte, 1024)
			const batch = 1000
			rs := make([]*kgo.Record, batch)
			b.SetBytes(batch * int64(len(value)))
			for b.Loop() {
				for i := range rs {
					rs[i] = &kgo.Record{Value: value}
				}
				if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// startSink serves the benchmark's sink pod: a connection sends two
// big-endian uint64s, UP and DOWN, then UP bytes; the sink answers one
// byte once it has them all, then sends DOWN bytes.
func startSink(b testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [16]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				up, down := binary.BigEndian.Uint64(hdr[:8]), binary.BigEndian.Uint64(hdr[8:])
				if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, int64(up)), make([]byte, 64<<10)); err != nil {
					return
				}
				if _, err := c.Write([]byte{1}); err != nil {
					return
				}
				for down > 0 {
					k := min(down, uint64(len(buf)))
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
					down -= k
				}
			}()
		}
	}()
	return ln
}

// sinkRoundTrip sends n bytes to the sink and reads n back.
func sinkRoundTrip(dial func(context.Context, string) (net.Conn, error), addr string, n int) error {
	c, err := dial(context.Background(), addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	var hdr [16]byte
	binary.BigEndian.PutUint64(hdr[:8], uint64(n))
	binary.BigEndian.PutUint64(hdr[8:], uint64(n))
	if _, err := c.Write(hdr[:]); err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for left := n; left > 0; left -= len(chunk) {
		if _, err := c.Write(chunk[:min(left, len(chunk))]); err != nil {
			return err
		}
	}
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return fmt.Errorf("waiting for the sink's ack: %w", err)
	}
	got, err := io.CopyBuffer(io.Discard, io.LimitReader(c, int64(n)), chunk)
	if err != nil || got != int64(n) {
		return fmt.Errorf("read %d of %d bytes back: %v", got, n, err)
	}
	return nil
}

// kubectlForward runs `kubectl port-forward pod/POD :PORT` as kafka-user
// and returns the local address it listens on.
func kubectlForward(b testing.TB, kubectl string, env *kubeEnv, pod string, port int) string {
	b.Helper()
	cmd := exec.Command(kubectl, "--kubeconfig", env.kubeconfig, "--context", "kafka-user", "-n", "bench",
		"port-forward", "--address", "127.0.0.1", "pod/"+pod, fmt.Sprintf(":%d", port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	re := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) ->`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(30 * time.Second):
		b.Fatalf("kubectl port-forward pod/%s printed no address: %s", pod, stderr.String())
		return ""
	}
}
