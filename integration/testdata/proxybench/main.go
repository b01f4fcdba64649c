// Command proxybench measures Kafka proxies side by side on one kfake
// cluster: CPU seconds of the proxy process per GB produced and fetched
// (from /proc/PID/stat), throughput, the round trip of small acks=all
// produces (p50, p99), and RSS (from /proc/PID/status) idle and with many
// client connections. scripts/proxy-bench.sh builds the peers and runs it;
// BENCHMARKS.md has the figures.
//
//	proxybench run -kafkadial BIN [-kafka-proxy BIN] [-mb 1024] [-rounds 3] [-small 2000] [-conns 1000,10000]
//	proxybench forward [-buf N] LISTEN=TARGET...
//	proxybench cluster
//
// "forward" is the floor: a forwarder that rewrites nothing, io.Copy between
// TCP conns (splice on Linux), or through user-space buffers of N bytes.
// "cluster" is the kfake cluster, in a process of its own so that the
// brokers' ends of the client connections do not count against the
// driver's descriptor limit: it prints "brokers ADDR,ADDR,ADDR", then
// creates each topic named on its standard input and answers "created
// NAME" (or "error ..."), until its input ends.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("proxybench: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: proxybench run|forward ...")
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "forward":
		err = forward(os.Args[2:])
	case "cluster":
		err = clusterCmd()
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

// forward serves LISTEN=TARGET pairs until killed.
func forward(args []string) error {
	fs := flag.NewFlagSet("forward", flag.ExitOnError)
	buf := fs.Int("buf", 0, "copy through user-space buffers of this size (0: io.Copy, which splices TCP to TCP)")
	fs.Parse(args)
	for _, m := range fs.Args() {
		listen, target, ok := strings.Cut(m, "=")
		if !ok {
			return fmt.Errorf("bad mapping %q: want LISTEN=TARGET", m)
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go pipe(c, target, *buf)
			}
		}()
	}
	select {}
}

// onlyReader and onlyWriter hide ReadFrom/WriteTo so that io.CopyBuffer
// really copies through its buffer.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func pipe(c net.Conn, target string, bufSize int) {
	u, err := net.Dial("tcp", target)
	if err != nil {
		log.Printf("forward: %v", err)
		c.Close()
		return
	}
	cp := func(dst, src net.Conn) {
		if bufSize > 0 {
			io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, make([]byte, bufSize))
		} else {
			io.Copy(dst, src)
		}
	}
	// Either side ending ends both, as the proxies do (Kafka never
	// half-closes), so no connection lingers after its client left.
	done := make(chan struct{})
	go func() { cp(u, c); c.Close(); u.Close(); close(done) }()
	cp(c, u)
	c.Close()
	u.Close()
	<-done
}

type subject struct {
	name  string
	start func(b []string) (*exec.Cmd, string, func(context.Context, string, string) (net.Conn, error), error)
}

type result struct {
	prodCPU, fetchCPU float64 // CPU seconds per GB
	prodMBs, fetchMBs float64
	p50, p99          time.Duration
	rssMiB            float64
	connKiB           map[int]float64 // RSS per connection at N connections
	connRSS           map[int]float64 // RSS MiB at N connections
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	kafkadialBin := fs.String("kafkadial", "", "the kafkadial binary")
	kafkaProxyBin := fs.String("kafka-proxy", "", "grepplabs/kafka-proxy binary (empty: leave it out)")
	mb := fs.Int("mb", 1024, "MiB to produce and fetch per subject per round")
	rounds := fs.Int("rounds", 3, "rounds; subjects alternate within each")
	small := fs.Int("small", 2000, "small acks=all produces, one at a time, per subject per round")
	connsFlag := fs.String("conns", "1000,10000", "client connection counts for the RSS figures (empty: skip)")
	only := fs.String("only", "", "comma-separated subject names to run (default all)")
	fs.Parse(args)
	if *kafkadialBin == "" {
		return errors.New("-kafkadial is required")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var conns []int
	for _, s := range strings.Split(*connsFlag, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -conns %q", *connsFlag)
		}
		conns = append(conns, n)
	}
	// 10,000 client connections are 10,000 descriptors in this process
	// (the brokers' ends are the cluster process's) and 20,000 in each
	// proxy: more than a hard limit of 20,000 allows (the proxy's
	// listeners and standard streams need some too).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max // the children inherit it
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Printf("setrlimit: %v (large -conns may fail)", err)
		}
	}
	if max := slices.Max(append([]int{0}, conns...)); uint64(2*max+64) > lim.Max {
		log.Printf("-conns %d needs about %d descriptors in each proxy; the hard limit here is %d", max, 2*max+64, lim.Max)
	}

	cluster, err := startCluster(self)
	if err != nil {
		return err
	}
	defer cluster.close()
	brokers := cluster.brokers
	log.Printf("kfake brokers %v", brokers)

	subjects := []subject{
		{"direct", func(b []string) (*exec.Cmd, string, func(context.Context, string, string) (net.Conn, error), error) {
			return nil, b[0], nil, nil
		}},
		{"floor (io.Copy, splice)", floorSubject(self, 0)},
		{"floor (32 KiB buffers)", floorSubject(self, 32<<10)},
		{"kafkadial proxy", func(b []string) (*exec.Cmd, string, func(context.Context, string, string) (net.Conn, error), error) {
			base, err := freePorts(4)
			if err != nil {
				return nil, "", nil, err
			}
			listen := fmt.Sprintf("127.0.0.1:%d", base)
			cmd := exec.Command(*kafkadialBin, "proxy", "--bootstrap", b[0], "--listen", listen)
			return cmd, listen, nil, nil
		}},
	}
	if *kafkaProxyBin != "" {
		for _, buf := range []int{4096, 32 << 10} {
			name := "kafka-proxy (default 4 KiB buffers)"
			if buf != 4096 {
				name = "kafka-proxy (32 KiB buffers)"
			}
			subjects = append(subjects, subject{name, func(b []string) (*exec.Cmd, string, func(context.Context, string, string) (net.Conn, error), error) {
				base, err := freePorts(len(b) + 1)
				if err != nil {
					return nil, "", nil, err
				}
				args := []string{"server", "--dynamic-listeners-disable", "--log-level", "warning",
					"--http-disable", "--default-listener-ip", "127.0.0.1",
					"--proxy-request-buffer-size", strconv.Itoa(buf), "--proxy-response-buffer-size", strconv.Itoa(buf)}
				for i, a := range b {
					args = append(args, "--bootstrap-server-mapping", fmt.Sprintf("%s,127.0.0.1:%d", a, base+i))
				}
				return exec.Command(*kafkaProxyBin, args...), fmt.Sprintf("127.0.0.1:%d", base), nil, nil
			}})
		}
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		subjects = slices.DeleteFunc(subjects, func(s subject) bool {
			return !slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(s.name, w) })
		})
	}

	results := map[string][]result{}
	payload := make([]byte, 64<<20)
	rand.Read(payload)
	// One unrecorded round first: the cluster and the page cache warm up.
	for _, s := range subjects {
		if _, err := measure(cluster, brokers, s, -1, max(*mb/8, 16), 10, payload, nil); err != nil {
			return fmt.Errorf("%s, warm-up: %w", s.name, err)
		}
	}
	for r := 0; r < *rounds; r++ {
		for _, s := range subjects {
			res, err := measure(cluster, brokers, s, r, *mb, *small, payload, conns)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", s.name, r+1, err)
			}
			log.Printf("round %d %-36s produce %.3f CPU-s/GB %.0f MB/s, fetch %.3f CPU-s/GB %.0f MB/s, small p50 %v p99 %v, RSS %.1f MiB %v",
				r+1, s.name, res.prodCPU, res.prodMBs, res.fetchCPU, res.fetchMBs, res.p50, res.p99, res.rssMiB, res.connKiB)
			results[s.name] = append(results[s.name], res)
		}
	}
	report(subjects, results, conns, *mb, *rounds, *small)
	return nil
}

func floorSubject(self string, buf int) func(b []string) (*exec.Cmd, string, func(context.Context, string, string) (net.Conn, error), error) {
	return func(b []string) (*exec.Cmd, string, func(context.Context, string, string) (net.Conn, error), error) {
		base, err := freePorts(len(b))
		if err != nil {
			return nil, "", nil, err
		}
		args := []string{"forward", "-buf", strconv.Itoa(buf)}
		remap := map[string]string{}
		for i, a := range b {
			local := fmt.Sprintf("127.0.0.1:%d", base+i)
			args = append(args, local+"="+a)
			remap[a] = local
		}
		var d net.Dialer
		// The client remaps each advertised broker to its forwarder, so the
		// forwarder itself rewrites nothing.
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to, ok := remap[addr]; ok {
				addr = to
			}
			return d.DialContext(ctx, network, addr)
		}
		return exec.Command(self, args...), base0(base), dial, nil
	}
}

func base0(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }

// freePorts finds n consecutive free loopback ports.
func freePorts(n int) (int, error) {
	for try := 0; try < 200; try++ {
		base := 20000 + int(time.Now().UnixNano()%20000)
		ok := true
		var lns []net.Listener
		for i := 0; i < n && ok; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free consecutive ports")
}

func measure(cluster *clusterProc, brokers []string, s subject, round, mb, small int, payload []byte, conns []int) (result, error) {
	res := result{connKiB: map[int]float64{}, connRSS: map[int]float64{}}
	cmd, seed, dial, err := s.start(brokers)
	if err != nil {
		return res, err
	}
	pid := 0
	if cmd != nil {
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			return res, err
		}
		pid = cmd.Process.Pid
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
	}
	if err := waitListening(seed, 15*time.Second); err != nil {
		return res, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seed), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(100000), kgo.ProducerLinger(2 * time.Millisecond)}
	if dial != nil {
		opts = append(opts, kgo.Dialer(dial))
	}
	topic := fmt.Sprintf("bench-%d-%d", round, time.Now().UnixNano())
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := cluster.createTopic(topic); err != nil {
		return res, err
	}
	defer deleteTopic(cl, topic)

	const recSize = 1024
	n := mb << 10
	total := float64(n * recSize)
	cpu0 := procCPU(pid)
	t0 := time.Now()
	var wg sync.WaitGroup
	var perr atomic.Pointer[error]
	for i := 0; i < n; i++ {
		off := (i * recSize) % (len(payload) - recSize)
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: payload[off : off+recSize]}, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if e := perr.Load(); e != nil {
		return res, fmt.Errorf("produce: %w", *e)
	}
	dt := time.Since(t0)
	res.prodCPU = (procCPU(pid) - cpu0) / (total / 1e9)
	res.prodMBs = total / 1e6 / dt.Seconds()

	fopts := append(slices.Clone(opts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {
		0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(50<<20), kgo.FetchMaxPartitionBytes(10<<20))
	fc, err := kgo.NewClient(fopts...)
	if err != nil {
		return res, err
	}
	defer fc.Close()
	cpu0 = procCPU(pid)
	t0 = time.Now()
	got := 0
	for got < n {
		fetches := fc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("fetch: %d of %d records: %w", got, n, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return res, fmt.Errorf("fetch: %v", errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if len(r.Value) == recSize {
				got++
			}
		})
	}
	dt = time.Since(t0)
	res.fetchCPU = (procCPU(pid) - cpu0) / (total / 1e9)
	res.fetchMBs = total / 1e6 / dt.Seconds()
	fc.Close()

	lat := make([]time.Duration, 0, small)
	for i := 0; i < small; i++ {
		t := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: payload[:100]}).FirstErr(); err != nil {
			return res, fmt.Errorf("small produce: %w", err)
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	res.rssMiB = procRSS(pid) / 1024
	// Not the floor: Go's io.Copy between TCP conns splices through a pipe
	// (two more descriptors) that each direction holds while it waits for
	// bytes, so an idle connection costs it six descriptors, and a few
	// thousand reach the limit.
	if pid != 0 && !strings.HasPrefix(s.name, "floor") {
		for _, c := range conns {
			rss, per, err := connRSS(pid, seed, c)
			if err != nil {
				return res, fmt.Errorf("%d connections: %w", c, err)
			}
			res.connRSS[c], res.connKiB[c] = rss, per
		}
	}
	return res, nil
}

// connRSS opens n client connections to addr, each completing one
// ApiVersions round trip (so the proxy holds its upstream connection too),
// and reports the proxy's RSS in MiB with them open and its growth per
// connection in KiB.
func connRSS(pid int, addr string, n int) (float64, float64, error) {
	before := procRSS(pid)
	cs := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	frame := appendFrame(req)
	errc := make(chan error, 64)
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				select {
				case errc <- err:
				default:
				}
				return
			}
			mu.Lock()
			cs = append(cs, c)
			mu.Unlock()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(frame); err == nil {
				var size [4]byte
				if _, err = io.ReadFull(c, size[:]); err == nil {
					_, err = io.CopyN(io.Discard, c, int64(uint32(size[0])<<24|uint32(size[1])<<16|uint32(size[2])<<8|uint32(size[3])))
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
			c.SetDeadline(time.Time{})
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, 0, err
	default:
	}
	time.Sleep(500 * time.Millisecond) // let the proxy's RSS settle; measured, not asserted
	after := procRSS(pid)
	return after / 1024, (after - before) / float64(n), nil
}

func appendFrame(req kmsg.Request) []byte {
	body := req.AppendTo(nil)
	hdr := []byte{0, 0, 0, 0}
	hdr = append(hdr, byte(req.Key()>>8), byte(req.Key()), byte(req.GetVersion()>>8), byte(req.GetVersion()))
	hdr = append(hdr, 0, 0, 0, 1) // correlation id
	hdr = append(hdr, 0, 5)       // client id length
	hdr = append(hdr, "bench"...) // client id
	hdr = append(hdr, body...)
	n := len(hdr) - 4
	hdr[0], hdr[1], hdr[2], hdr[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return hdr
}

func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterProc is the "cluster" child process.
type clusterProc struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	brokers []string
}

func startCluster(self string) (*clusterProc, error) {
	c := &clusterProc{cmd: exec.Command(self, "cluster")}
	c.cmd.Stderr = os.Stderr
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewScanner(out)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := c.line()
	if err != nil {
		c.close()
		return nil, err
	}
	addrs, ok := strings.CutPrefix(line, "brokers ")
	if !ok {
		c.close()
		return nil, fmt.Errorf("cluster: %s", line)
	}
	c.brokers = strings.Split(addrs, ",")
	return c, nil
}

func (c *clusterProc) line() (string, error) {
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return "", err
		}
		return "", errors.New("cluster process ended")
	}
	return c.out.Text(), nil
}

func (c *clusterProc) createTopic(topic string) error {
	if _, err := fmt.Fprintln(c.in, topic); err != nil {
		return err
	}
	line, err := c.line()
	if err != nil {
		return err
	}
	if line != "created "+topic {
		return fmt.Errorf("create topic %s: %s", topic, line)
	}
	return nil
}

func (c *clusterProc) close() {
	c.in.Close()
	c.cmd.Wait()
}

func clusterCmd() error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		return err
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	fmt.Println("brokers " + strings.Join(cluster.ListenAddrs(), ","))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := createTopic(ctx, cl, cluster, sc.Text(), 3)
		cancel()
		if err != nil {
			fmt.Println("error", err)
		} else {
			fmt.Println("created " + sc.Text())
		}
	}
	return nil
}

func createTopic(ctx context.Context, cl *kgo.Client, cluster *kfake.Cluster, topic string, parts int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, parts, 1
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		return fmt.Errorf("create topic: error code %d", code)
	}
	// kfake picks leaders at random: give each broker one partition.
	for p := int32(0); p < parts; p++ {
		if err := cluster.MoveTopicPartition(topic, p, p%3); err != nil {
			return err
		}
	}
	return nil
}

func deleteTopic(cl *kgo.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{topic}
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = &topic
	req.Topics = append(req.Topics, t)
	req.RequestWith(ctx, cl)
}

// procCPU is the CPU seconds (user + system) of pid; 0 for pid 0.
func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is f[0]; utime and stime are fields
	// 14 and 15 of the whole line, f[11] and f[12] here.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procRSS is VmRSS of pid in KiB.
func procRSS(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, _ := strconv.ParseFloat(f[0], 64)
			return kb
		}
	}
	return 0
}

func report(subjects []subject, results map[string][]result, conns []int, mb, rounds, small int) {
	fmt.Printf("\n%d MiB of 1 KiB incompressible records per subject per round, acks=all, franz-go; %d rounds, subjects alternating; %d small produces one at a time.\n\n", mb, rounds, small)
	fmt.Println("| in front of the brokers | produce CPU-s/GB | fetch CPU-s/GB | produce MB/s | fetch MB/s | small produce p50 / p99 | RSS MiB |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range subjects {
		rs := results[s.name]
		pick := func(f func(result) float64) string {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return spread(v)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s / %s ms | %s |\n", s.name,
			pick(func(r result) float64 { return r.prodCPU }), pick(func(r result) float64 { return r.fetchCPU }),
			pick(func(r result) float64 { return r.prodMBs }), pick(func(r result) float64 { return r.fetchMBs }),
			pick(func(r result) float64 { return float64(r.p50.Microseconds()) / 1000 }),
			pick(func(r result) float64 { return float64(r.p99.Microseconds()) / 1000 }),
			pick(func(r result) float64 { return r.rssMiB }))
	}
	if len(conns) == 0 {
		return
	}
	fmt.Println()
	fmt.Print("| proxy process |")
	for _, c := range conns {
		fmt.Printf(" RSS MiB at %d conns | KiB per conn at %d |", c, c)
	}
	fmt.Println()
	fmt.Print("| --- |")
	for range conns {
		fmt.Print(" ---: | ---: |")
	}
	fmt.Println()
	for _, s := range subjects {
		rs := results[s.name]
		if len(rs) == 0 || len(rs[0].connRSS) == 0 {
			continue
		}
		fmt.Printf("| %s |", s.name)
		for _, c := range conns {
			a, b := make([]float64, len(rs)), make([]float64, len(rs))
			for i, r := range rs {
				a[i], b[i] = r.connRSS[c], r.connKiB[c]
			}
			fmt.Printf(" %s | %s |", spread(a), spread(b))
		}
		fmt.Println()
	}
}

// spread shows the median and, with more than one value, the range.
func spread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s) == 1 || s[0] == s[len(s)-1] {
		return fmtNum(med)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(med), fmtNum(s[0]), fmtNum(s[len(s)-1]))
}

func fmtNum(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
}
