// Command kfakeserve runs an embedded kfake cluster on given addresses, for
// the network-namespace topology of scripts/netns-topology.sh and for the
// Docker suites' FROM-scratch image: each broker listens on its own address
// and advertises a Docker-style name, with no published forwarders. It can
// also keep the cluster's state in a directory across restarts, forward
// TCP ports (a container standing in front of a broker of another), and
// serve an echo and a byte sink for the bastion benchmarks. It runs until
// SIGINT or SIGTERM, then stops the cluster cleanly (flushing -data).
//
//	kfakeserve -listen '198.19.1.5{id}:9092' -advertise 'kafka-{id}:9092' -topic events:6
//	kfakeserve -brokers 1 -listen :29092 -advertise kafka-1:29092 -data /data -topic events:6
//	kfakeserve -brokers 0 -forward :29092=kfake-core:29091
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kfake"
)

type topics []string

func (t *topics) String() string     { return strings.Join(*t, ",") }
func (t *topics) Set(s string) error { *t = append(*t, s); return nil }

func main() {
	brokers := flag.Int("brokers", 3, "number of brokers")
	listen := flag.String("listen", "127.0.0.1:0", "address broker {id} listens on ({id} counts from 1)")
	advertise := flag.String("advertise", "kafka-{id}:9092", "address broker {id} advertises")
	echo := flag.String("echo", "", "also serve a TCP echo on this address")
	sink := flag.String("sink", "", "also serve a sink on this address: it reads to EOF, then answers the byte count (8 bytes, big endian)")
	ready := flag.String("ready", "", "write this file once everything listens")
	data := flag.String("data", "", "keep the cluster's state in `DIR` and reload it on start (kfake.DataDir)")
	spread := flag.Bool("spread-leaders", false, "make broker p%N lead partition p of every -topic, so that producing to every partition reaches every broker")
	var fwds topics
	flag.Var(&fwds, "forward", "`LISTEN=TARGET`: forward TCP connections on LISTEN to TARGET (repeatable)")
	var ts topics
	flag.Var(&ts, "topic", "name:partitions of a topic to create (repeatable)")
	flag.Parse()

	for _, f := range fwds {
		ln, target, ok := strings.Cut(f, "=")
		if !ok || ln == "" || target == "" {
			log.Fatalf("kfakeserve: bad -forward %q: want LISTEN=TARGET", f)
		}
		fw, err := kafkatest.Forward(ln, target)
		if err != nil {
			log.Fatalf("kfakeserve: %v", err)
		}
		defer fw.Close()
		fmt.Printf("forwarding %s to %s\n", fw.Addr(), target)
	}
	if *brokers == 0 {
		if len(fwds) == 0 {
			log.Fatal("kfakeserve: -brokers 0 and nothing to -forward")
		}
		wait(*ready)
		return
	}

	opts := []kafkatest.Option{
		kafkatest.WithBrokers(*brokers),
		kafkatest.WithListen(*listen),
		kafkatest.WithAdvertise(*advertise),
		kafkatest.WithPublish(""),
	}
	for _, t := range ts {
		name, n, ok := strings.Cut(t, ":")
		p, err := strconv.Atoi(n)
		if !ok || err != nil || p <= 0 || name == "" {
			log.Fatalf("kfakeserve: bad -topic %q: want name:partitions", t)
		}
		opts = append(opts, kafkatest.WithTopic(name, int32(p)))
	}
	if *data != "" {
		opts = append(opts, kafkatest.WithKfake(kfake.DataDir(*data)))
	}
	c, err := kafkatest.Start(opts...)
	if err != nil {
		log.Fatalf("kfakeserve: %v", err)
	}
	defer c.Close()
	for _, b := range c.Brokers {
		fmt.Printf("broker %d listens on %s, advertises %s\n", b.ID, b.Listen, b.Advertised)
	}
	if *spread {
		for _, t := range ts {
			name, n, _ := strings.Cut(t, ":")
			p, _ := strconv.Atoi(n)
			for i := range p {
				if err := c.Kfake().MoveTopicPartition(name, int32(i), c.Brokers[i%len(c.Brokers)].ID); err != nil {
					log.Fatalf("kfakeserve: moving %s/%d: %v", name, i, err)
				}
			}
		}
	}
	if *echo != "" {
		serve(*echo, func(c net.Conn) { io.Copy(c, c) })
	}
	if *sink != "" {
		serve(*sink, func(c net.Conn) {
			n, err := io.Copy(io.Discard, c)
			if err != nil {
				return
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(n))
			c.Write(b[:])
		})
	}
	wait(*ready)
	fmt.Println("stopping")
}

// wait writes the ready file, if any, and waits for SIGINT or SIGTERM.
func wait(ready string) {
	if ready != "" {
		if err := os.WriteFile(ready, []byte("ok\n"), 0o644); err != nil {
			log.Fatalf("kfakeserve: %v", err)
		}
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

func serve(addr string, handle func(net.Conn)) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("kfakeserve: %v", err)
	}
	fmt.Printf("serving on %s\n", ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}
