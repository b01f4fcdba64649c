package integration

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/hop/kube"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// TestKubeOwnership checks, against a real kube-apiserver and kubenode,
// who closes what (issue 14): a kube.Builder the caller gives to
// dialer.WithScheme serves dialer.Check and then dialer.New, and two
// dialers, without any of them closing its Dialers; and a pod's shared
// port-forward connection outlives the dial that started opening it.
func TestKubeOwnership(t *testing.T) {
	env := startKubeEnv(t, kubeEnvOptions{portForwardWebSockets: true, nodeWebSockets: true})
	startStrimzi(t, env)
	podAddr := func(i int) string { return podNameOf(i) + ".my-cluster-kafka-brokers.kafka.svc:9092" }

	t.Run("Check, then New, then two dialers on one Builder", func(t *testing.T) {
		b := kube.NewBuilder(kube.WithKubeconfig(env.kubeconfig))
		defer b.Close()
		opts := []dialer.Option{dialer.WithStrict(), dialer.WithTimeout(10 * time.Second),
			dialer.WithScheme("k8s", b), dialer.WithRules("*.kafka.svc:9092 => = via k8s://kafka-user")}
		fs, err := dialer.Check(opts...)
		if err != nil || len(fs) != 0 {
			t.Fatalf("Check: %v %v", fs, err)
		}
		d1, err := dialer.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		reachesPod(t, d1, podAddr(0), podNameOf(0)) // was "kube dialer closed": Check had closed it
		d2, err := dialer.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := d2.DialContext(context.Background(), "tcp", podAddr(1))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		d1.Close()
		if err := apiVersions(c2); err != nil {
			t.Fatalf("d2's conn after d1.Close: %v", err)
		}
		reachesPod(t, d2, podAddr(0), podNameOf(0))
		d2.Close()
		if err := apiVersions(c2); err != nil {
			t.Fatalf("d2's conn after d2.Close: %v", err)
		}
		// Only the Builder's own Close ends its Dialers; then it refuses.
		b.Close()
		if _, err := dialer.New(opts...); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("New with a closed Builder: %v, want net.ErrClosed", err)
		}
	})

	t.Run("the first dial gives up while others wait", func(t *testing.T) {
		logs := &testpeers.SyncBuffer{}
		kd := newKube(t, env, logs)
		// A stopped node holds the port-forward upgrade until it runs
		// again, so that every dial below waits for the same opening.
		node := env.node.cmd.Process
		if err := node.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Signal(syscall.SIGCONT) })
		ctx1, cancel1 := context.WithCancel(context.Background())
		defer cancel1()
		first := make(chan error, 1)
		go func() {
			c, err := kd.DialContext(ctx1, "tcp", podAddr(2))
			if c != nil {
				c.Close()
			}
			first <- err
		}()
		testnet.WaitBlocked(t, "kube.(*podConn).get")
		const waiters = 3
		type result struct {
			c   net.Conn
			err error
		}
		results := make(chan result, waiters)
		for range waiters {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, err := kd.DialContext(ctx, "tcp", podAddr(2))
				results <- result{c, err}
			}()
		}
		testnet.WaitBlockedN(t, "kube.(*podConn).get", 1+waiters)
		cancel1()
		select {
		case err := <-first:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the dial that gave up: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the dial that gave up did not return")
		}
		if err := node.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		for range waiters {
			r := <-results
			if r.err != nil {
				t.Errorf("a dial that waited: %v (the first dial's cancellation must not fail it)", r.err)
				continue
			}
			if err := apiVersions(r.c); err != nil {
				t.Errorf("ApiVersions on a conn that waited: %v", err)
			}
			r.c.Close()
		}
		if n := strings.Count(logs.String(), "kube: port-forward open"); n != 1 {
			t.Errorf("%d port-forward connections opened for one pod, want 1:\n%s", n, logs.String())
		}
	})
}
