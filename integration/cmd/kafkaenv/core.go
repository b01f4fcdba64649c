package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kafkadial/kafkadial/kafkatest"
)

// registration is what a node tells its core: its configured id and what
// each of its client listeners advertises.
type registration struct {
	Name      string            `json:"name"` // the container's hostname, for the log
	Node      int32             `json:"node"` // -1: none configured
	Listeners map[string]string `json:"listeners"`
}

// reply is the core's answer: where each listener of the node is served.
type reply struct {
	Ports map[string]int `json:"ports,omitempty"`
	Error string         `json:"error,omitempty"`
}

// core runs the kfake cluster of n nodes once all have registered. Each
// (node, listener) is served by a rewriter on proxyHost that answers with
// the addresses advertised on that listener.
type core struct {
	n         int
	proxyHost string

	mu      sync.Mutex
	regs    []*pending
	started chan struct{}
	err     error
	cluster *kafkatest.Cluster
	closers []io.Closer
}

type pending struct {
	reg   registration
	seq   int
	ports map[string]int
}

func newCore(n int, proxyHost string) *core {
	return &core{n: n, proxyHost: proxyHost, started: make(chan struct{})}
}

// register adds a node and waits (at most wait) until all n have
// registered; it returns the ports that serve its listeners.
func (c *core) register(r registration, wait time.Duration) (map[string]int, error) {
	c.mu.Lock()
	if len(c.regs) == c.n {
		c.mu.Unlock()
		return nil, fmt.Errorf("core: all %d nodes have registered already", c.n)
	}
	p := &pending{reg: r, seq: len(c.regs)}
	c.regs = append(c.regs, p)
	if len(c.regs) == c.n {
		c.err = c.start()
		close(c.started)
	}
	c.mu.Unlock()
	select {
	case <-c.started:
	case <-time.After(wait):
		return nil, fmt.Errorf("core: %d of %d nodes registered within %s", c.registered(), c.n, wait)
	}
	if c.err != nil {
		return nil, c.err
	}
	return p.ports, nil
}

func (c *core) registered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.regs)
}

// start starts the cluster (with c.mu held): node i, in the order of the
// configured ids and then of registration, is kfake broker i.
func (c *core) start() error {
	slices.SortStableFunc(c.regs, func(a, b *pending) int {
		ka, kb := int64(a.reg.Node), int64(b.reg.Node)
		if ka < 0 {
			ka = 1 << 40
		}
		if kb < 0 {
			kb = 1 << 40
		}
		switch {
		case ka != kb:
			return int(ka - kb)
		default:
			return a.seq - b.seq
		}
	})
	cl, err := kafkatest.Start(kafkatest.WithBrokers(c.n), kafkatest.WithListen("127.0.0.1:0"),
		kafkatest.WithAdvertise("kfake-{id}:9092"), kafkatest.WithPublish(""))
	if err != nil {
		return err
	}
	c.cluster = cl
	// For each listener name, what each broker advertises on it.
	byName := map[string]map[string]string{}
	for i, p := range c.regs {
		for name, adv := range p.reg.Listeners {
			if byName[name] == nil {
				byName[name] = map[string]string{}
			}
			byName[name][cl.Brokers[i].Advertised] = adv
		}
	}
	for i, p := range c.regs {
		p.ports = map[string]int{}
		for name, adv := range p.reg.Listeners {
			ln, err := net.Listen("tcp", net.JoinHostPort(c.proxyHost, "0"))
			if err != nil {
				return err
			}
			rw := newRewriter(ln, cl.Brokers[i].Listen, byName[name], c.spread)
			c.closers = append(c.closers, rw)
			p.ports[name] = ln.Addr().(*net.TCPAddr).Port
			fmt.Printf("broker %d (%s, node %d): listener %s advertises %s\n", cl.Brokers[i].ID, p.reg.Name, p.reg.Node, name, adv)
		}
	}
	return nil
}

// spread makes broker p%n lead partition p of a topic just created, as
// Kafka spreads leaders, so that producing to every partition reaches
// every broker.
func (c *core) spread(topic string) {
	if c.n < 2 {
		return
	}
	for _, pi := range c.cluster.Kfake().PartitionInfos(topic) {
		b := c.cluster.Brokers[int(pi.Partition)%c.n]
		if err := c.cluster.Kfake().MoveTopicPartition(topic, pi.Partition, b.ID); err != nil {
			log.Printf("moving %s/%d to broker %d: %v", topic, pi.Partition, b.ID, err)
		}
	}
}

func (c *core) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.closers {
		cl.Close()
	}
	if c.cluster != nil {
		c.cluster.Close()
	}
}

// runCore is `kafkaenv core -brokers N [-listen :7000]`: it takes the
// registrations of N nodes, then runs their cluster.
func runCore(args []string) (func(), error) {
	fs := flag.NewFlagSet("core", flag.ContinueOnError)
	n := fs.Int("brokers", 1, "number of nodes that register")
	addr := fs.String("listen", ":7000", "where nodes register")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for every node")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *n < 1 || *n > 64 {
		return nil, fmt.Errorf("core: -brokers %d: want 1 to 64", *n)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return nil, err
	}
	c := newCore(*n, "")
	fmt.Printf("core: waiting for %d nodes on %s\n", *n, ln.Addr())
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				line, err := bufio.NewReader(io.LimitReader(conn, 1<<16)).ReadBytes('\n')
				var r registration
				if err == nil {
					err = json.Unmarshal(line, &r)
				}
				var rep reply
				if err != nil {
					rep.Error = fmt.Sprintf("core: bad registration: %v", err)
				} else if ports, err := c.register(r, *wait); err != nil {
					rep.Error = err.Error()
				} else {
					rep.Ports = ports
				}
				b, _ := json.Marshal(rep)
				conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				conn.Write(append(b, '\n'))
			}()
		}
	}()
	return func() { ln.Close(); c.close() }, nil
}

// registerRemote registers with the core at addr, retrying (for at most
// wait) until it answers, and returns where each listener is served.
func registerRemote(addr string, r registration, wait time.Duration) (map[string]string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("KAFKAENV_CORE=%q: %v", addr, err)
	}
	deadline := time.Now().Add(wait)
	var conn net.Conn
	for {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("core %s: %w", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()
	b, _ := json.Marshal(r)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("core %s: %w", addr, err)
	}
	conn.SetReadDeadline(deadline.Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 1<<16)).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("core %s: %w", addr, err)
	}
	var rep reply
	if err := json.Unmarshal(line, &rep); err != nil {
		return nil, fmt.Errorf("core %s: %w", addr, err)
	}
	if rep.Error != "" {
		return nil, errors.New(rep.Error)
	}
	out := map[string]string{}
	for name, p := range rep.Ports {
		out[name] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

// runNode serves a node's listeners: through its own one-broker cluster,
// or through the cluster of the core KAFKAENV_CORE names.
func runNode(n node, err error) (func(), error) {
	if err != nil {
		return nil, err
	}
	for _, s := range n.notes {
		fmt.Println(s)
	}
	if n.controller != "" {
		fmt.Printf("%s: serves no Kafka clients\n", n.controller)
		return func() {}, nil
	}
	name, _ := os.Hostname()
	r := registration{Name: name, Node: n.id, Listeners: map[string]string{}}
	for _, l := range n.listeners {
		r.Listeners[l.name] = l.advertised
	}
	var targets map[string]string
	var stop []func()
	if addr := os.Getenv("KAFKAENV_CORE"); addr != "" {
		fmt.Printf("registering with the core at %s\n", addr)
		if targets, err = registerRemote(addr, r, 2*time.Minute); err != nil {
			return nil, err
		}
	} else {
		c := newCore(1, "127.0.0.1")
		stop = append(stop, c.close)
		ports, err := c.register(r, time.Minute)
		if err != nil {
			c.close()
			return nil, err
		}
		targets = map[string]string{}
		for name, p := range ports {
			targets[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
	}
	for _, l := range n.listeners {
		ln, err := net.Listen("tcp", l.bind)
		if err != nil {
			for _, s := range stop {
				s()
			}
			return nil, fmt.Errorf("%s listener %s: %w", n.kind, l.name, err)
		}
		f := kafkatest.ForwardFrom(ln, targets[l.name])
		stop = append([]func(){func() { f.Close() }}, stop...)
		fmt.Printf("%s listener %s: listens on %s, advertises %s\n", n.kind, l.name, ln.Addr(), l.advertised)
	}
	return func() {
		for _, s := range stop {
			s()
		}
	}, nil
}
