package integration

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/kafkadial/kafkadial/proxy"
	"github.com/twmb/franz-go/pkg/kfake"
)

// silentListener listens on addr with a backlog of 0 and fills its accept
// queue, which it never drains: a further connection attempt gets no
// answer at all (Linux drops its SYN), as from a blackholed host. It
// returns a func that closes the socket and the connections filling it.
func silentListener(t *testing.T, addr string) func() {
	t.Helper()
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: ap.Port}
	copy(sa.Addr[:], ap.IP.To4())
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		t.Fatalf("bind %s: %v", addr, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	var fill []net.Conn
	closeAll := func() {
		for _, c := range fill {
			c.Close()
		}
		syscall.Close(fd)
	}
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			fill = append(fill, c)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return closeAll // the queue is full: SYNs go unanswered
		}
		closeAll()
		t.Fatalf("filling the accept queue of %s: %v", addr, err)
	}
	closeAll()
	t.Fatalf("%s still accepts after %d connections with a backlog of 0: no silent upstream here", addr, len(fill))
	return nil
}

// clientClosed sends ApiVersions to addr and returns how long the proxy
// took to close the connection (within limit, or the test fails).
func clientClosed(t *testing.T, addr string, limit time.Duration) time.Duration {
	t.Helper()
	kc, err := dialKafka(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	t0 := time.Now()
	kc.SetDeadline(t0.Add(limit))
	err = kc.apiVersions()
	took := time.Since(t0)
	switch {
	case err == nil:
		t.Fatalf("%s answered ApiVersions, want the connection closed", addr)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("the proxy at %s kept the connection open past %s", addr, limit)
	case !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE):
		t.Fatalf("connection at %s: %v, want it closed", addr, err)
	}
	return took
}

// TestProxyFaultUpstreamDown: a broker that refuses connections, one that
// never answers a connection attempt (a full accept queue: SYNs
// dropped), and one that accepts and then says nothing. The first two
// close the client's connection promptly — at once, and at the dial
// timeout — with a log line naming the broker and the dialer's reason;
// Close does not wait for a dial in progress; the third keeps the
// client as long as the client waits (a Kafka request may take long) and
// lets go of the broker as soon as the client goes. When the broker is
// back, the same listener serves.
func TestProxyFaultUpstreamDown(t *testing.T) {
	const timeout = time.Second
	// Two kfake brokers advertising names; broker 1 reached through a
	// front port this test turns into each kind of failure.
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	names := []string{"kafka-0.fault.invalid:9092", "kafka-1.fault.invalid:9092"}
	next := 0
	kf, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.ListenFn(func(string, string) (net.Listener, error) {
		next++
		return kafkatest.AdvertiseAs(lns[next-1], names[next-1]), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frontAddr := front.Addr().String()
	fw := kafkatest.ForwardFrom(front, lns[1].Addr().String())
	rules := fmt.Sprintf("%s => %s\n%s => %s\n", names[0], lns[0].Addr(), names[1], frontAddr)
	d := directDialer(t, rules)
	p, logs := faultProxy(t, names[0], d, proxy.WithTimeout(timeout))
	var node1 string
	for _, l := range p.Listeners() {
		if l.NodeID == 1 {
			node1 = l.Local
		}
	}
	if node1 == "" {
		t.Fatalf("no listener for node 1: %v", p.Listeners())
	}
	kc, err := dialKafka(t.Context(), node1)
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.apiVersions(); err != nil {
		t.Fatalf("node 1 before the faults: %v", err)
	}
	kc.Close()

	wantLog := func(what string, reason *regexp.Regexp) {
		t.Helper()
		var line string
		waitFor(t, 5*time.Second, func() bool {
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "cannot reach broker") && strings.Contains(l, "broker="+names[1]) && reason.MatchString(l) {
					line = l
					return true
				}
			}
			return false
		}, "a log line naming "+names[1]+" and "+reason.String()+" for "+what)
		t.Logf("%s: %s", what, line)
	}

	// Refusing: nothing listens on the front port.
	fw.Close()
	refused := clientClosed(t, node1, 3*timeout)
	if refused > timeout/2 {
		t.Errorf("refused: the client's connection closed after %s, want at once", refused)
	}
	wantLog("refused", regexp.MustCompile(`connection refused`))

	// Silent: the front port drops every SYN.
	closeSilent := silentListener(t, frontAddr)
	silent := clientClosed(t, node1, 3*timeout)
	if silent < timeout*8/10 || silent > timeout+timeout/2 {
		t.Errorf("silent: the client's connection closed after %s, want at the dial timeout %s", silent, timeout)
	}
	wantLog("silent", regexp.MustCompile(`timeout|deadline|timed out`))

	// Close does not wait for a dial under way (a proxy whose dial
	// timeout is far away).
	p2, _ := faultProxy(t, names[0], d, proxy.WithTimeout(time.Minute))
	var p2node1 string
	for _, l := range p2.Listeners() {
		if l.NodeID == 1 {
			p2node1 = l.Local
		}
	}
	waiting, err := dialKafka(t.Context(), p2node1)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	if _, err := waiting.send(kafkaAPIVersions()); err != nil {
		t.Fatal(err)
	}
	testnet.WaitBlocked(t, "dialer.(*Dialer).DialContext")
	t0 := time.Now()
	p2.Close()
	closing := time.Since(t0)
	if closing > timeout {
		t.Errorf("Close with a dial to a silent broker under way took %s", closing)
	}
	waiting.SetReadDeadline(time.Now().Add(timeout))
	if _, err := waiting.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Close left the client of the dial under way connected")
	}
	closeSilent()

	// Accepts and never answers: the proxy holds the client as long as
	// it waits, and lets go of the broker when it goes.
	mute, err := net.Listen("tcp", frontAddr)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := mute.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	kc, err = dialKafka(t.Context(), node1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.send(kafkaAPIVersions()); err != nil {
		t.Fatal(err)
	}
	var upstream net.Conn
	select {
	case upstream = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not dial the mute broker")
	}
	if upstream == nil {
		t.Fatal("the mute broker's listener failed")
	}
	defer upstream.Close()
	kc.SetReadDeadline(time.Now().Add(2 * timeout))
	if _, err := kc.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("mute broker: the client's connection ended (%v) while the client still waited", err)
	}
	t0 = time.Now()
	kc.Close()
	upstream.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, upstream) // the request, then EOF when the proxy lets go
	released := time.Since(t0)
	if err != nil {
		t.Errorf("mute broker: the proxy kept its upstream connection after the client went: %v after %s", err, released)
	}
	mute.Close()
	t.Logf("refused: closed after %s; silent: closed after %s (dial timeout %s); Close with a dial under way: %s; mute broker: upstream let go %s after the client (it had %d bytes)",
		refused.Round(time.Microsecond), silent.Round(time.Millisecond), timeout, closing.Round(time.Microsecond), released.Round(time.Microsecond), n)

	// The broker is back: the same listener serves.
	back, err := net.Listen("tcp", frontAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer kafkatest.ForwardFrom(back, lns[1].Addr().String()).Close()
	kc, err = dialKafka(t.Context(), node1)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.apiVersions(); err != nil {
		t.Fatalf("node 1 after the broker came back: %v", err)
	}
}
