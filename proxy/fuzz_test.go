package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var rewrittenKeys = []int16{keyProduce, keyFetch, keyMetadata, keyFindCoordinator, keyApiVersions, keyDescribeCluster, keyShareFetch, keyShareAcknowledge}

// seedResponse is a response to key at version naming brokers at
// upstream addresses, encoded as a response body (header tags included).
func seedResponse(key, v int16) []byte {
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(v)
	host := func(i int) string { return "kafka-" + string(rune('0'+i)) + upstreamSuffix }
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range 3 {
			r.Brokers = append(r.Brokers, kmsg.MetadataResponseBroker{NodeID: int32(i), Host: host(i), Port: 9092})
		}
		r.Topics = []kmsg.MetadataResponseTopic{{Topic: kmsg.StringPtr("t"), Partitions: []kmsg.MetadataResponseTopicPartition{{Leader: 1, Replicas: []int32{0, 1, 2}}}}}
	case *kmsg.FindCoordinatorResponse:
		r.NodeID, r.Host, r.Port = 1, host(1), 9092
		r.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{{Key: "g", NodeID: 2, Host: host(2), Port: 9092}, {Key: "h", NodeID: -1, Port: -1}}
	case *kmsg.DescribeClusterResponse:
		for i := range 3 {
			r.Brokers = append(r.Brokers, kmsg.DescribeClusterResponseBroker{NodeID: int32(i), Host: host(i), Port: 9092})
		}
	case *kmsg.ApiVersionsResponse:
		for _, k := range []int16{0, 1, 3, 10, 18, 60, 2} {
			r.ApiKeys = append(r.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: 40})
		}
	case *kmsg.ProduceResponse:
		p := kmsg.NewProduceResponseTopicPartition()
		p.ErrorCode = 6
		p.ErrorRecords = []kmsg.ProduceResponseTopicPartitionErrorRecord{{RelativeOffset: 1, ErrorMessage: kmsg.StringPtr("x")}}
		r.Topics = []kmsg.ProduceResponseTopic{{Topic: "t", TopicID: topicID, Partitions: []kmsg.ProduceResponseTopicPartition{p}}}
		for i := range 3 {
			r.Brokers = append(r.Brokers, kmsg.ProduceResponseBroker{NodeID: int32(i), Host: host(i), Port: 9092})
		}
	case *kmsg.FetchResponse:
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = bytes.Repeat([]byte{7}, 40)
		p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 1}}
		r.Topics = []kmsg.FetchResponseTopic{{Topic: "t", TopicID: topicID, Partitions: []kmsg.FetchResponseTopicPartition{p}}}
		for i := range 3 {
			r.Brokers = append(r.Brokers, kmsg.FetchResponseBroker{NodeID: int32(i), Host: host(i), Port: 9092})
		}
	case *kmsg.ShareFetchResponse:
		for i := range 3 {
			r.NodeEndpoints = append(r.NodeEndpoints, kmsg.ShareFetchResponseNodeEndpoint{NodeID: int32(i), Host: host(i), Port: 9092})
		}
	case *kmsg.ShareAcknowledgeResponse:
		for i := range 3 {
			r.NodeEndpoints = append(r.NodeEndpoints, kmsg.ShareAcknowledgeResponseNodeEndpoint{NodeID: int32(i), Host: host(i), Port: 9092})
		}
	}
	var b []byte
	if key != keyApiVersions && resp.IsFlexible() {
		b = append(b, 0)
	}
	return resp.AppendTo(b)
}

func localMapper(id int32, host string, port int32) (string, int32) {
	if id < 0 {
		return "", -1
	}
	return "127.0.0.1", 9093 + id%1000
}

// decodeBody decodes a response body (header tags included).
func decodeBody(key, v int16, body []byte) (kmsg.Response, error) {
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(v)
	if key != keyApiVersions && resp.IsFlexible() {
		n, err := skipTags(body)
		if err != nil {
			return nil, err
		}
		body = body[n:]
	}
	return resp, resp.ReadFrom(body)
}

// FuzzRewrite rewrites each rewritten response, every version, as kmsg
// encodes it and then mutated: it never panics, every broker address a
// client would decode from the result is local, the result is bounded by
// the input's size, and for Produce and Fetch the walk by lengths agrees
// with kmsg's full decode.
func FuzzRewrite(f *testing.F) {
	for _, key := range rewrittenKeys {
		for v := int16(0); v <= rewriteMax(key); v++ {
			if rewrites(key, v) {
				f.Add(uint8(key), v, seedResponse(key, v))
			}
		}
	}
	f.Fuzz(func(t *testing.T, k uint8, v int16, body []byte) {
		key := int16(k)
		if !rewrites(key, v) || v < 0 || v > rewriteMax(key) {
			return
		}
		keep, tail, err := rewriteBody(key, v, body, nil, localMapper)
		if err != nil {
			return
		}
		out := body
		if tail != nil {
			out = append(append([]byte(nil), body[:keep]...), tail...)
		}
		if len(out) > 2*len(body)+64 {
			t.Fatalf("%d bytes in, %d out", len(body), len(out))
		}
		resp, err := decodeBody(key, v, out)
		if err != nil {
			return // nor would a client read it
		}
		for _, e := range endpointsOf(resp) {
			if e.id == -1 && key == keyFindCoordinator {
				continue
			}
			if e.id >= 0 && e.host != "127.0.0.1" || e.id < 0 && (e.host != "" || e.port != -1) {
				t.Fatalf("%s v%d: node %d at %q:%d passed on", kmsg.NameForKey(key), v, e.id, e.host, e.port)
			}
		}
		if key == keyProduce || key == keyFetch {
			// The walk agrees with kmsg: the original, decoded whole
			// and rewritten, encodes as the result does.
			orig, err := decodeBody(key, v, body)
			if err != nil {
				return
			}
			if err := rewriteAddrs(orig, localMapper); err != nil {
				t.Fatal(err)
			}
			if want, got := orig.AppendTo(nil), resp.AppendTo(nil); !bytes.Equal(want, got) {
				t.Fatalf("%s v%d: walked rewrite differs from kmsg's:\n got %x\nwant %x", kmsg.NameForKey(key), v, got, want)
			}
		}
	})
}

// FuzzPassThrough feeds a byte stream to a connection's request side and
// another to its response side (frames split anyhow, sizes at the bound,
// truncated headers): nothing panics or hangs, requests pass byte for
// byte, and no frame over the bound is read.
func FuzzPassThrough(f *testing.F) {
	const bound = 4096
	frame := func(key, v int16, corr int32, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(v))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		return append(b, body...)
	}
	resp := func(corr int32, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
		return append(binary.BigEndian.AppendUint32(b, uint32(corr)), body...)
	}
	f.Add(frame(2, 4, 1, []byte{0, 0}), resp(1, []byte{1, 2, 3}))
	f.Add(append(frame(3, 12, 1, []byte{0, 1, 'x', 0, 1}), frame(2, 4, 2, nil)...), append(resp(1, append([]byte{0}, seedResponse(3, 12)...)), resp(2, nil)...))
	f.Add(frame(0, 9, 5, []byte{0xff, 0xff, 0, 1, 0, 0, 0}), []byte{})
	f.Add(frame(0, 3, 5, []byte{0, 0, 0, 0, 0, 0}), resp(5, nil))
	f.Add(frame(2, 4, 1, make([]byte, bound-8)), resp(1, make([]byte, bound-4)))
	f.Add(frame(2, 4, 1, make([]byte, bound-7)), resp(1, make([]byte, bound-3)))
	f.Add([]byte{0, 0, 0}, []byte{0, 0})
	f.Add(frame(1, 16, 9, nil), resp(9, append([]byte{0}, seedResponse(1, 16)...)))
	f.Fuzz(func(t *testing.T, reqs, resps []byte) {
		p, err := New("broker:9092", noDial{}, WithMaxFrame(bound), WithListen("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		p.Close() // no listeners for the nodes responses name
		client, clientProxy := net.Pipe()
		upProxy, broker := net.Pipe()
		cn := newConn(p, clientProxy, -1)
		cn.up = upProxy
		cn.reqW.Writer, cn.respW.Writer = upProxy, clientProxy

		go func(c net.Conn) { c.Write(reqs); c.Close() }(client)
		forwarded := make(chan []byte)
		go func(c net.Conn) { b, _ := io.ReadAll(c); forwarded <- b }(broker)
		cn.requests()
		clientProxy.Close() // unblocks the writer if the proxy stopped reading
		upProxy.Close()
		if got := <-forwarded; !bytes.HasPrefix(reqs, got) {
			t.Fatalf("forwarded %x, not a prefix of %x", got, reqs)
		}

		upProxy2, broker2 := net.Pipe()
		client2, clientProxy2 := net.Pipe()
		cn.up, cn.client = upProxy2, clientProxy2
		cn.reqW.Writer, cn.respW.Writer = upProxy2, clientProxy2
		go func(c net.Conn) { c.Write(resps); c.Close() }(broker2)
		answered := make(chan []byte)
		go func(c net.Conn) { b, _ := io.ReadAll(c); answered <- b }(client2)
		cn.responses()
		upProxy2.Close()
		clientProxy2.Close()
		if got := <-answered; len(got) > 2*len(resps)+64 {
			t.Fatalf("%d bytes from the broker, %d to the client", len(resps), len(got))
		}
	})
}
