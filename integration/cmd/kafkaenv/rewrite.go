package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rewriter serves one listener of one broker: it forwards Kafka requests
// to the broker and rewrites the broker addresses in its answers
// (Metadata, FindCoordinator, DescribeCluster) to those advertised on the
// listener, as Kafka answers on each listener with that listener's
// advertised addresses. It tells created about every topic a
// CreateTopics answer reports created, before the client learns of it.
type rewriter struct {
	ln      net.Listener
	target  string
	addrs   map[string]string // the broker's address => advertised here
	created func(topic string)

	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
}

func newRewriter(ln net.Listener, target string, addrs map[string]string, created func(string)) *rewriter {
	r := &rewriter{ln: ln, target: target, addrs: addrs, created: created, conns: map[net.Conn]bool{}}
	go r.serve()
	return r
}

func (r *rewriter) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.proxy(c)
	}
}

func (r *rewriter) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *rewriter) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
	}
}

// Close stops listening and cuts every connection.
func (r *rewriter) Close() error {
	r.mu.Lock()
	r.done = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	return r.ln.Close()
}

// call is a request awaiting its answer, by correlation id.
type call struct{ key, version int16 }

// rewritten are the request kinds whose answers the rewriter reads.
var rewritten = map[int16]bool{kmsg.Metadata.Int16(): true, kmsg.FindCoordinator.Int16(): true, kmsg.DescribeCluster.Int16(): true, kmsg.CreateTopics.Int16(): true}

func (r *rewriter) proxy(client net.Conn) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if !r.track(client, up) {
		return
	}
	defer r.untrack(client, up)
	var mu sync.Mutex
	calls := map[int32]call{}
	go func() {
		defer up.Close()
		defer client.Close()
		for {
			frame, err := readFrame(client)
			if err != nil {
				return
			}
			if len(frame) >= 12 {
				key := int16(binary.BigEndian.Uint16(frame[4:]))
				if rewritten[key] {
					version := int16(binary.BigEndian.Uint16(frame[6:]))
					corr := int32(binary.BigEndian.Uint32(frame[8:]))
					mu.Lock()
					calls[corr] = call{key, version}
					mu.Unlock()
				}
			}
			if _, err := up.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := readFrame(up)
		if err != nil || len(frame) < 8 {
			return
		}
		corr := int32(binary.BigEndian.Uint32(frame[4:]))
		mu.Lock()
		c, ok := calls[corr]
		delete(calls, corr)
		mu.Unlock()
		if ok {
			if frame, err = r.rewrite(c, frame); err != nil {
				fmt.Printf("rewriting a %s v%d answer: %v\n", kmsg.NameForKey(c.key), c.version, err)
				return
			}
		}
		if _, err := client.Write(frame); err != nil {
			return
		}
	}
}

const maxFrame = 128 << 20

// readFrame reads one size-prefixed Kafka message, size included.
func readFrame(c io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	if _, err := io.ReadFull(c, frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}

// rewrite decodes an answer, puts the listener's advertised addresses in
// place of the broker's, and encodes it again with the same header.
func (r *rewriter) rewrite(c call, frame []byte) ([]byte, error) {
	resp := kmsg.ResponseForKey(c.key)
	if resp == nil {
		return frame, nil
	}
	resp.SetVersion(c.version)
	hdr := 8 // size, correlation id
	if resp.IsFlexible() {
		n, err := skipTags(frame[hdr:])
		if err != nil {
			return nil, err
		}
		hdr += n
	}
	if err := resp.ReadFrom(frame[hdr:]); err != nil {
		return nil, err
	}
	var err error
	set := func(host *string, port *int32) {
		a, ok := r.addrs[net.JoinHostPort(*host, strconv.Itoa(int(*port)))]
		if !ok {
			return
		}
		h, p, e := net.SplitHostPort(a)
		pn, e2 := strconv.Atoi(p)
		if e != nil || e2 != nil {
			err = fmt.Errorf("advertised address %q", a)
			return
		}
		*host, *port = h, int32(pn)
	}
	switch m := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range m.Brokers {
			set(&m.Brokers[i].Host, &m.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		set(&m.Host, &m.Port)
		for i := range m.Coordinators {
			set(&m.Coordinators[i].Host, &m.Coordinators[i].Port)
		}
	case *kmsg.DescribeClusterResponse:
		for i := range m.Brokers {
			set(&m.Brokers[i].Host, &m.Brokers[i].Port)
		}
	case *kmsg.CreateTopicsResponse:
		for _, t := range m.Topics {
			if t.ErrorCode == 0 && r.created != nil {
				r.created(t.Topic)
			}
		}
		return frame, nil
	}
	if err != nil {
		return nil, err
	}
	out := resp.AppendTo(append(make([]byte, 0, len(frame)), frame[:hdr]...))
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

// skipTags returns the length of a tagged-field section.
func skipTags(b []byte) (int, error) {
	off := 0
	uv := func() (uint64, error) {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, errors.New("bad tagged fields in a response header")
		}
		off += n
		return v, nil
	}
	count, err := uv()
	if err != nil {
		return 0, err
	}
	for range count {
		if _, err := uv(); err != nil {
			return 0, err
		}
		size, err := uv()
		if err != nil {
			return 0, err
		}
		if uint64(len(b)-off) < size {
			return 0, errors.New("bad tagged fields in a response header")
		}
		off += int(size)
	}
	return off, nil
}
