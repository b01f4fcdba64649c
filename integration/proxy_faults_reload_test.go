package integration

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// TestProxyFaultReload10k: the kafkadial proxy binary holds 10,000 client
// connections (each with its upstream connection, to a kfakeserve
// process) when SIGHUP rereads its rules. None is dropped: every one
// answers a round trip afterwards. None stalls: a sample of them does
// round trips (Metadata, which the proxy rewrites, and ApiVersions) all
// through the reload, and the slowest takes under 100 ms. New
// connections are served after it.
//
// The proxy needs two descriptors a connection (client and upstream):
// where the hard RLIMIT_NOFILE is under 20,000 plus its own few (20,000
// here, without CAP_SYS_RESOURCE to raise it), it holds as many as the
// limit allows, and says so.
func TestProxyFaultReload10k(t *testing.T) {
	const samplers, perPhase = 16, 30
	limit := raiseNofile(t, 2*manyConns+1024)
	n := min(manyConns, (int(limit)-256)/2)
	if n < manyConns {
		t.Logf("RLIMIT_NOFILE %d: the proxy can hold %d connections, not %d", limit, n, manyConns)
	}
	k := startKfakeServe(t, 3, "kafka-{id}.fault.invalid:9092", "events:3")
	dir := t.TempDir()
	rules := filepath.Join(dir, "kafka.rules")
	writeFile(t, rules, k.Rules())
	bin := buildKafkadial(t, dir)
	port := testpeers.FreePortRun(t, 3)
	p := startProxyProc(t, bin, nil, 3, "--bootstrap", k.Advertised[0], "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"--strict", "--no-env", "--rules", rules)
	addrs := []string{p.Local}
	for id := range int32(3) {
		addrs = append(addrs, p.Nodes[id])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	conns := openMany(t, ctx, addrs, n)
	defer func() {
		for _, kc := range conns {
			kc.Close()
		}
	}()
	opened := time.Since(t0)

	// Samplers: round trips back to back on connections of their own
	// among the n, each recorded with when it began.
	type trip struct {
		at  time.Time
		rtt time.Duration
	}
	var (
		mu      sync.Mutex
		trips   []trip
		count   [samplers]atomic.Int64
		stop    = make(chan struct{})
		errs    = make(chan error, samplers)
		wg      sync.WaitGroup
		samples = conns[len(conns)-samplers:]
	)
	for i, kc := range samples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				at := time.Now()
				kc.SetDeadline(at.Add(30 * time.Second))
				var err error
				if j%2 == 0 {
					_, err = kc.metadata()
				} else {
					err = kc.apiVersions()
				}
				rtt := time.Since(at)
				if err != nil {
					errs <- fmt.Errorf("sampler %d, round trip %d: %w", i, j, err)
					return
				}
				mu.Lock()
				trips = append(trips, trip{at, rtt})
				mu.Unlock()
				count[i].Add(1)
			}
		}()
	}
	stopSamplers := func() {
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	// waitTrips waits until every sampler has done at least want round
	// trips (or one failed).
	waitTrips := func(want int64, what string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for i := range samplers {
			for count[i].Load() < want {
				if len(errs) > 0 || time.Now().After(deadline) {
					stopSamplers()
					t.Fatalf("sampler %d did %d round trips %s, want %d", i, count[i].Load(), what, want)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	waitTrips(perPhase, "before the reload")
	base := make([]int64, samplers)
	for i := range samplers {
		base[i] = count[i].Load()
	}
	reloads := strings.Count(p.err.String(), "rules reloaded")
	writeFile(t, rules, "# reloaded by TestProxyFaultReload10k\n"+k.Rules())
	hupAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return strings.Count(p.err.String(), "rules reloaded") > reloads }, "rules reloaded in the proxy's log")
	reloaded := time.Since(hupAt)
	var most int64
	for i := range samplers {
		most = max(most, base[i])
	}
	waitTrips(most+perPhase, "after the reload")
	endAt := time.Now()
	stopSamplers()

	var before, during rtts
	for _, tr := range trips {
		if tr.at.Add(tr.rtt).Before(hupAt) {
			before.add(tr.rtt)
		} else if tr.at.Before(endAt) {
			during.add(tr.rtt)
		}
	}
	nb, p50b, p99b, maxb := before.stats()
	nd, p50d, p99d, maxd := during.stats()
	if maxd >= 100*time.Millisecond {
		t.Errorf("a round trip took %s during the reload (window of %s), want under 100 ms", maxd, endAt.Sub(hupAt).Round(time.Millisecond))
	}

	// None dropped: every connection answers.
	t1 := time.Now()
	var next atomic.Int64
	var dropped atomic.Int64
	var firstErr atomic.Value
	var cw sync.WaitGroup
	for range 32 {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				kc := conns[i]
				kc.SetDeadline(time.Now().Add(30 * time.Second))
				if err := kc.apiVersions(); err != nil {
					dropped.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
				}
			}
		}()
	}
	cw.Wait()
	checked := time.Since(t1)
	if d := dropped.Load(); d > 0 {
		t.Fatalf("%d of %d connections failed a round trip after the reload; first: %v", d, len(conns), firstErr.Load())
	}
	// New connections after the reload.
	for _, kc := range openMany(t, ctx, addrs, len(addrs)) {
		kc.Close()
	}
	t.Logf("%d connections opened in %s; SIGHUP reloaded in %s; round trips of %d samplers: before p50 %s p99 %s max %s (%d), through the reload p50 %s p99 %s max %s (%d); all %d answered after it (%s)",
		n, opened.Round(time.Millisecond), reloaded.Round(time.Millisecond), samplers, p50b, p99b, maxb, nb, p50d, p99d, maxd, nd, n, checked.Round(time.Millisecond))
	if strings.Contains(p.err.String(), "closed a connection") {
		t.Errorf("the proxy closed connections:\n%s", lastLines(p.err.String(), 20))
	}
	p.stop(t)
}
