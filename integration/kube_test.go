package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/hop/kube"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// newKube returns a kube Dialer for context kafka-user of env, logging to
// logs.
func newKube(t testing.TB, env *kubeEnv, logs io.Writer, opts ...kube.Option) *kube.Dialer {
	t.Helper()
	kd, err := kube.New(append([]kube.Option{
		kube.WithKubeconfig(env.kubeconfig), kube.WithContext("kafka-user"),
		kube.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kd.Close() })
	return kd
}

// kubeDialer is a strict dialer that sends the cluster's in-cluster names
// through kd and refuses anything else.
func kubeDialer(t *testing.T, kd *kube.Dialer) *dialer.Dialer {
	t.Helper()
	d, err := dialer.New(dialer.WithStrict(), dialer.WithVia("kube", kd), dialer.WithTimeout(10*time.Second),
		dialer.WithRules("*.kafka.svc:9092 => = via kube"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestKube runs the three clients, the address forms, the errors and a
// node restart against a real kube-apiserver, with the WebSocket-tunnelled
// port-forward passed through to the node (ExtendWebSocketsToKubelet).
func TestKube(t *testing.T) {
	env := startKubeEnv(t, kubeEnvOptions{portForwardWebSockets: true, nodeWebSockets: true})
	s := startStrimzi(t, env)
	logs := &testpeers.SyncBuffer{}
	kd := newKube(t, env, logs)
	d := kubeDialer(t, kd)

	t.Run("sarama", func(t *testing.T) {
		cfg := saramaConfig()
		saramadial.Configure(cfg, d)
		testSarama(t, bootstrap, cfg, "k8s-sarama", records)
	})
	t.Run("franz", func(t *testing.T) {
		testFranz(t, bootstrap, "k8s-franz", records, franzdial.Opt(d))
	})
	t.Run("kafkago", func(t *testing.T) {
		testKafkaGo(t, bootstrap, "k8s-kafkago", records, kafkagodial.Transport(d), kafkagodial.Dialer(d))
	})
	t.Run("one connection per pod, WebSocket", func(t *testing.T) {
		out := logs.String()
		if n := strings.Count(out, "kube: port-forward open"); n != 3 {
			t.Errorf("%d port-forward connections opened for 3 pods and three clients, want 3:\n%s", n, out)
		}
		if n := strings.Count(out, "protocol=websocket"); n != 3 {
			t.Errorf("port-forward connections not WebSocket-tunnelled:\n%s", out)
		}
		node := env.node.output()
		for i := range 3 {
			if want := fmt.Sprintf("portforward kafka/%s websocket", podNameOf(i)); strings.Count(node, want) != 1 {
				t.Errorf("kubenode did not get exactly one %q:\n%s", want, node)
			}
		}
	})
	t.Run("address forms", func(t *testing.T) {
		for _, tc := range []struct{ addr, pod string }{
			{"my-cluster-kafka-2.my-cluster-kafka-brokers.kafka.svc.cluster.local:9092", "my-cluster-kafka-2"},
			{"my-cluster-kafka-bootstrap:9092", ""},
			{"my-cluster-kafka-bootstrap.kafka:9092", ""},
			{"my-cluster-kafka-external.kafka.svc:19092", ""}, // named targetPort: 19092 -> 9092
			{s.podIPs[1] + ":9092", "my-cluster-kafka-1"},
		} {
			reachesPod(t, kd, tc.addr, tc.pod)
		}
	})
	t.Run("cluster domain of its own", func(t *testing.T) {
		kc := newKube(t, env, io.Discard, kube.WithClusterDomain("k8s.corp.example"))
		reachesPod(t, kc, "my-cluster-kafka-2.my-cluster-kafka-brokers.kafka.svc.k8s.corp.example:9092", "my-cluster-kafka-2")
		_, err := kc.DialContext(context.Background(), "tcp", "my-cluster-kafka-2.my-cluster-kafka-brokers.kafka.svc.cluster.local:9092")
		var ke *kube.Error
		if !errors.As(err, &ke) || ke.Kind != kube.ErrBadAddress {
			t.Errorf("cluster.local under another cluster domain: %v, want ErrBadAddress", err)
		}
		// The same from rule text, as the CLI and a rules file name it:
		// the hop URL's cluster-domain, with k8s:// registered as the CLI
		// registers it.
		rd, err := dialer.New(dialer.WithStrict(), dialer.WithTimeout(10*time.Second),
			dialer.WithScheme("k8s", kube.NewBuilder(kube.WithKubeconfig(env.kubeconfig))),
			dialer.WithRules("*.kafka.svc.k8s.corp.example:9092 => = via k8s://kafka-user?cluster-domain=K8s.Corp.Example."))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		reachesPod(t, rd, "my-cluster-kafka-1.my-cluster-kafka-brokers.kafka.svc.k8s.corp.example:9092", "my-cluster-kafka-1")
	})
	t.Run("deadlines and CloseWrite", func(t *testing.T) {
		c, err := kd.DialContext(context.Background(), "tcp", s.brokers[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		start := time.Now()
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 2*time.Second {
			t.Fatalf("read past its deadline: %v after %v", err, time.Since(start))
		}
		c.SetReadDeadline(time.Time{})
		if err := apiVersions(c); err != nil {
			t.Fatalf("after a read timeout: %v", err)
		}
		// The broker reads the end of the stream and closes: this side
		// reads EOF.
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after CloseWrite: read %d, %v; want EOF", n, err)
		}
	})
	t.Run("refused port", func(t *testing.T) {
		c, err := kd.DialContext(context.Background(), "tcp", "my-cluster-kafka-0.my-cluster-kafka-brokers.kafka.svc:9999")
		if err != nil {
			t.Fatal(err) // the stream opens; the kubelet reports the refusal on it
		}
		defer c.Close()
		err = apiVersions(c)
		if err == nil || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("got %v, want the kubelet's refusal of port 9999", err)
		}
		t.Log(err)
	})
	t.Run("errors", func(t *testing.T) {
		kubeErrors(t, env, kd, d)
	})
	t.Run("WebSocket translated to SPDY by the API server", func(t *testing.T) {
		env.setNodeStatus(t, false)
		defer env.setNodeStatus(t, true)
		before := strings.Count(env.node.output(), " spdy")
		logs := &testpeers.SyncBuffer{}
		kd := newKube(t, env, logs)
		testFranz(t, bootstrap, "k8s-translated", 2000, franzdial.Opt(kubeDialer(t, kd)))
		if out := logs.String(); strings.Count(out, "protocol=websocket") != 3 {
			t.Errorf("want three WebSocket connections:\n%s", out)
		}
		if after := strings.Count(env.node.output(), " spdy"); after-before != 3 {
			t.Errorf("kubenode got %d SPDY port-forwards, want 3 translated by the API server:\n%s", after-before, env.node.output())
		}
	})
	t.Run("SPDY", func(t *testing.T) {
		logs := &testpeers.SyncBuffer{}
		kd := newKube(t, env, logs, kube.WithSPDY())
		testFranz(t, bootstrap, "k8s-spdy", 2000, franzdial.Opt(kubeDialer(t, kd)))
		if out := logs.String(); strings.Count(out, "protocol=spdy") != 3 {
			t.Errorf("WithSPDY: want three SPDY connections:\n%s", out)
		}
		if node := env.node.output(); !strings.Contains(node, "portforward kafka/my-cluster-kafka-0 spdy") {
			t.Errorf("kubenode got no SPDY port-forward:\n%s", node)
		}
	})
	t.Run("node restart", func(t *testing.T) {
		kubeNodeRestart(t, env, s)
	})
	t.Run("API server down", func(t *testing.T) {
		env.stopAPIServer()
		for _, k := range []*kube.Dialer{kd, newKube(t, env, io.Discard)} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			start := time.Now()
			_, err := k.DialContext(ctx, "tcp", s.brokers[1])
			cancel()
			if !errors.Is(err, kube.ErrUnreachable) && !errors.Is(err, kube.ErrLost) {
				t.Errorf("API server down: got %v, want ErrUnreachable", err)
			}
			if el := time.Since(start); el > 6*time.Second {
				t.Errorf("API server down: the dial took %v, past its 5 s context", el)
			}
			t.Log(err)
		}
	})
}

// kubeErrors checks that each failure is a clear *kube.Error within the
// dial's time, naming the pod or service and the namespace.
func kubeErrors(t *testing.T, env *kubeEnv, kd *kube.Dialer, d *dialer.Dialer) {
	for _, tc := range []struct {
		addr string
		kind error
		want []string
	}{
		{"my-cluster-kafka-7.my-cluster-kafka-brokers.kafka.svc:9092", kube.ErrNotFound, []string{"pod my-cluster-kafka-7 in namespace kafka", "get pod", "not found"}},
		{"my-cluster-kafka-9.my-cluster-kafka-brokers.kafka.svc:9092", kube.ErrNotRunning, []string{"pod my-cluster-kafka-9 in namespace kafka", "not running", "Pending"}},
		{"kafka-0.any.restricted.svc:9092", kube.ErrForbidden, []string{"pod kafka-0 in namespace restricted", "open port-forward", "forbidden", "pods/portforward"}},
		{"nope.kafka:9092", kube.ErrNotFound, []string{"service nope in namespace kafka", "get service"}},
		{"empty:9092", kube.ErrNoEndpoints, []string{"service empty in namespace kafka", "no ready pod"}},
		{"my-cluster-kafka-bootstrap.kafka.svc:9093", kube.ErrNotFound, []string{"service my-cluster-kafka-bootstrap in namespace kafka", "no port 9093", "9092"}},
		{"kafka-0.kafka.other.namespace.svc:9092", kube.ErrBadAddress, []string{"not a Kubernetes address"}},
		{"198.18.0.99:9092", kube.ErrNotFound, []string{"no running pod has IP 198.18.0.99"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		c, err := kd.DialContext(ctx, "tcp", tc.addr)
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("%s: dialled", tc.addr)
			continue
		}
		var ke *kube.Error
		if !errors.As(err, &ke) || !errors.Is(err, tc.kind) {
			t.Errorf("%s: got %T %v, want a *kube.Error wrapping %v", tc.addr, err, err, tc.kind)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.addr, err, w)
			}
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("%s: took %v", tc.addr, el)
		}
		for _, secret := range []string{userToken, adminToken} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a token: %v", tc.addr, err)
			}
		}
		t.Logf("%s: %v", tc.addr, err)
	}
	// Through the kafkadial dialer, the error says the rule and the
	// context, and is a dial *net.OpError that clients retry.
	_, err := d.DialContext(context.Background(), "tcp", "my-cluster-kafka-7.my-cluster-kafka-brokers.kafka.svc:9092")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, kube.ErrNotFound) || !strings.Contains(err.Error(), "via kube (k8s://kafka-user)") {
		t.Errorf("through the dialer: %v", err)
	}
	t.Log(err)
}

// kubeNodeRestart produces with franz-go's idempotent producer while the
// kubenode restarts: every port-forward connection drops mid-produce, the
// client redials, and each record is in the topic exactly once.
func kubeNodeRestart(t *testing.T, env *kubeEnv, s *strimzi) {
	const n = 20000
	logs := &testpeers.SyncBuffer{}
	d := kubeDialer(t, newKube(t, env, logs))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const tp = "restart"
	producer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), franzdial.Opt(d), kgo.DefaultProduceTopic(tp),
		kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	createTopic(t, ctx, producer, tp, partitions)
	// kfake picks each partition's leader at random, and a broker that
	// leads none is not dialled before the restart: give each broker
	// partitions to lead, so that all three pods are.
	for p := range int32(partitions) {
		if err := s.kf.MoveTopicPartition(tp, p, p%3); err != nil {
			t.Fatal(err)
		}
	}
	var restarted sync.Once
	opened := 0
	for i := 0; i < n; i += 500 {
		if i >= n/2 {
			restarted.Do(func() {
				opened = strings.Count(logs.String(), "kube: port-forward open")
				env.restartNode(t)
			})
		}
		batch := make([]*kgo.Record, 0, 500)
		for j := i; j < i+500; j++ {
			batch = append(batch, kgo.StringRecord(fmt.Sprintf("restart-%d", j)))
		}
		if err := producer.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatalf("produce after record %d: %v", i, err)
		}
	}
	// Exactly once: the partitions hold n records in all ...
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = tp
	for p := range int32(partitions) {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	shards := producer.RequestSharded(ctx, lo)
	var total int64
	for _, sh := range shards {
		if sh.Err != nil {
			t.Fatal(sh.Err)
		}
		for _, tr := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, pr := range tr.Partitions {
				total += pr.Offset
			}
		}
	}
	if total != n {
		t.Fatalf("topic %s holds %d records after producing %d across a node restart", tp, total, n)
	}
	// ... and each is there.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), franzdial.Opt(d), kgo.ConsumeTopics(tp),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	l := newLedger("restart", n)
	l.consume(t, cancel, func() {
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { l.add(string(r.Value), r.Partition) })
		}
	})
	for v, c := range l.seen {
		if c != 1 {
			t.Errorf("%s consumed %d times", v, c)
		}
	}
	// The restart ended the port-forward connections open then, and the
	// client's next dials opened new ones through the new kubenode.
	// A pod's connection is reopened once, however many of the clients'
	// connections to it redial at once; each pod leads partitions, so
	// each is dialled again.
	out := logs.String()
	if opened != 3 || strings.Count(out, "kube: port-forward connection lost") != 3 {
		t.Errorf("want 3 port-forward connections before the restart and 3 lost (%d open before):\n%s", opened, out)
	}
	for i := range 3 {
		if n := strings.Count(out, fmt.Sprintf("kube: port-forward open\" context=kafka-user namespace=kafka pod=%s ", podNameOf(i))); n != 2 {
			t.Errorf("pod %s: %d port-forward connections opened, want one before the restart and one after:\n%s", podNameOf(i), n, out)
		}
	}
	if !strings.Contains(env.node.output(), "portforward kafka/") {
		t.Errorf("the restarted kubenode forwarded nothing")
	}
	t.Logf("%d port-forward connections before the restart, %d in all", opened, strings.Count(out, "kube: port-forward open"))
}

// TestKubeSPDYFallback runs against an API server that refuses the
// WebSocket-tunnelled port-forward (PortForwardWebsockets off): the
// dialer falls back to SPDY, as kubectl does.
func TestKubeSPDYFallback(t *testing.T) {
	env := startKubeEnv(t, kubeEnvOptions{})
	startStrimzi(t, env)
	logs := &testpeers.SyncBuffer{}
	kd := newKube(t, env, logs)
	testFranz(t, bootstrap, "k8s-fallback", records, franzdial.Opt(kubeDialer(t, kd)))
	out := logs.String()
	if strings.Count(out, "kube: port-forward open") != 3 || strings.Count(out, "protocol=spdy") != 3 {
		t.Errorf("want three SPDY connections after the WebSocket upgrade was refused:\n%s", out)
	}
	// Each pod's WebSocket upgrade reached the node, which refused it as
	// an older kubelet does; then SPDY.
	node := env.node.output()
	if strings.Count(node, "refused: query parameter") != 3 || strings.Count(node, " spdy") != 3 || strings.Contains(node, " websocket") {
		t.Errorf("kubenode: want three refused WebSocket upgrades, then three SPDY port-forwards:\n%s", node)
	}
}

// apiVersions sends a Kafka ApiVersions v0 request on c and checks the
// answer.
// reachesPod dials addr through d and asks the broker there for its API
// versions; with pod not "", the conn must have reached that pod.
func reachesPod(t *testing.T, d dialer.ContextDialer, addr, pod string) {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Errorf("%s: %v", addr, err)
		return
	}
	defer c.Close()
	if err := apiVersions(c); err != nil {
		t.Errorf("%s: ApiVersions: %v", addr, err)
	}
	if pod != "" && !strings.HasPrefix(c.RemoteAddr().String(), pod+".kafka:") {
		t.Errorf("%s: reached %s, want pod %s", addr, c.RemoteAddr(), pod)
	}
}

func apiVersions(c net.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	req := []byte{0, 0, 0, 0, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff}
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	if _, err := c.Write(req); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 6 || n > 1<<20 {
		return fmt.Errorf("response size %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	if id := binary.BigEndian.Uint32(body); id != 7 {
		return fmt.Errorf("correlation id %d, want 7", id)
	}
	if code := binary.BigEndian.Uint16(body[4:]); code != 0 {
		return fmt.Errorf("error code %d", code)
	}
	return nil
}

var _ = os.Getenv
var _ = sarama.V3_6_0_0
