package proxy

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// endpoint is a broker address as a response names it.
type endpoint struct {
	id   int32
	host string
	port int32
}

// endpointsOf lists every broker address resp names.
func endpointsOf(resp kmsg.Response) []endpoint {
	var es []endpoint
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for _, b := range r.Brokers {
			es = append(es, endpoint{b.NodeID, b.Host, b.Port})
		}
	case *kmsg.FindCoordinatorResponse:
		if r.Version < 4 {
			es = append(es, endpoint{r.NodeID, r.Host, r.Port})
		}
		for _, c := range r.Coordinators {
			es = append(es, endpoint{c.NodeID, c.Host, c.Port})
		}
	case *kmsg.DescribeClusterResponse:
		for _, b := range r.Brokers {
			es = append(es, endpoint{b.NodeID, b.Host, b.Port})
		}
	case *kmsg.ProduceResponse:
		for _, b := range r.Brokers {
			es = append(es, endpoint{b.NodeID, b.Host, b.Port})
		}
	case *kmsg.FetchResponse:
		for _, b := range r.Brokers {
			es = append(es, endpoint{b.NodeID, b.Host, b.Port})
		}
	case *kmsg.ShareFetchResponse:
		for _, b := range r.NodeEndpoints {
			es = append(es, endpoint{b.NodeID, b.Host, b.Port})
		}
	case *kmsg.ShareAcknowledgeResponse:
		for _, b := range r.NodeEndpoints {
			es = append(es, endpoint{b.NodeID, b.Host, b.Port})
		}
	}
	return es
}

// brokerEndpoints is what the test cluster's brokers 0..n-1 advertise.
func (c *cluster) brokerEndpoints(n int) []endpoint {
	var es []endpoint
	for i := range n {
		h, p, _ := net.SplitHostPort(c.names[i])
		port, _ := strconv.Atoi(p)
		es = append(es, endpoint{int32(i), h, int32(port)})
	}
	return es
}

var topicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// answerWithEndpoints makes kfake answer Produce, Fetch, ShareFetch and
// ShareAcknowledge with NodeEndpoints naming every broker, as a broker
// does when a partition's leader moved (KIP-951): kfake's own handlers
// leave them out.
func answerWithEndpoints(c *cluster) {
	es := c.brokerEndpoints(3)
	batch := make([]byte, 300) // skipped by its length, never decoded
	for i := range batch {
		batch[i] = byte(i)
	}
	c.kf.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kf.KeepControl()
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		p := kmsg.NewProduceResponseTopicPartition()
		p.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
		p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 1, 7
		resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "t", TopicID: topicID, Partitions: []kmsg.ProduceResponseTopicPartition{p}}}
		for _, e := range es {
			resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: e.id, Host: e.host, Port: e.port})
		}
		return resp, nil, true
	})
	c.kf.ControlKey(1, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kf.KeepControl()
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = batch
		p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 3, FirstOffset: 4}}
		q := kmsg.NewFetchResponseTopicPartition()
		q.Partition, q.ErrorCode = 1, 6
		q.CurrentLeader.LeaderID, q.CurrentLeader.LeaderEpoch = 2, 9
		resp.Topics = []kmsg.FetchResponseTopic{{Topic: "t", TopicID: topicID, Partitions: []kmsg.FetchResponseTopicPartition{p, q}}}
		for _, e := range es {
			resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: e.id, Host: e.host, Port: e.port})
		}
		return resp, nil, true
	})
	c.kf.ControlKey(78, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kf.KeepControl()
		resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
		for _, e := range es {
			resp.NodeEndpoints = append(resp.NodeEndpoints, kmsg.ShareFetchResponseNodeEndpoint{NodeID: e.id, Host: e.host, Port: e.port})
		}
		return resp, nil, true
	})
	c.kf.ControlKey(79, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kf.KeepControl()
		resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
		for _, e := range es {
			resp.NodeEndpoints = append(resp.NodeEndpoints, kmsg.ShareAcknowledgeResponseNodeEndpoint{NodeID: e.id, Host: e.host, Port: e.port})
		}
		return resp, nil, true
	})
}

// requestsFor returns a request of key at version that asks for what
// carries broker addresses.
func requestFor(key, v int16) kmsg.Request {
	var req kmsg.Request
	switch key {
	case 0:
		r := kmsg.NewPtrProduceRequest()
		r.Acks = -1
		r.TimeoutMillis = 1000
		r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", TopicID: topicID, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0}}}}
		req = r
	case 1:
		r := kmsg.NewPtrFetchRequest()
		r.MaxWaitMillis = 10
		r.Topics = []kmsg.FetchRequestTopic{{Topic: "t", TopicID: topicID, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0}}}}
		req = r
	case 3:
		r := kmsg.NewPtrMetadataRequest()
		r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
		req = r
	case 10:
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorKey = "g1"
		r.CoordinatorKeys = []string{"g1", "g2", "g3", "g4"}
		req = r
	case 60:
		req = kmsg.NewPtrDescribeClusterRequest()
	case 78:
		r := kmsg.NewPtrShareFetchRequest()
		r.GroupID = kmsg.StringPtr("sg")
		req = r
	case 79:
		r := kmsg.NewPtrShareAcknowledgeRequest()
		r.GroupID = kmsg.StringPtr("sg")
		req = r
	}
	req.SetVersion(v)
	return req
}

// TestEveryVersion sends a raw request of every version the proxy offers
// of each API whose responses it rewrites, on the bootstrap listener and
// on a broker's: no answer names an upstream address, and every answer
// gives a node the same local address.
func TestEveryVersion(t *testing.T) {
	c := startCluster(t, 3)
	answerWithEndpoints(c)
	p, _ := startProxy(t, c)
	ls := p.Listeners()
	if len(ls) != 4 {
		t.Fatalf("listeners after Start: %v, want bootstrap and 3 brokers", ls)
	}
	conns := []*rawConn{dialRaw(t, ls[0].Local), dialRaw(t, ls[2].Local)}

	avReq := apiVersionsRequest(3)
	av := conns[0].do(avReq).(*kmsg.ApiVersionsResponse)
	offered := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range av.ApiKeys {
		offered[k.ApiKey] = k
	}

	seen := map[int32]string{}
	for _, key := range []int16{3, 10, 60, 0, 1, 78, 79} {
		k, ok := offered[key]
		if !ok {
			t.Errorf("%s not offered", kmsg.NameForKey(key))
			continue
		}
		if k.MaxVersion > rewriteMax(key) {
			t.Errorf("%s offered up to v%d, the proxy rewrites up to v%d", kmsg.NameForKey(key), k.MaxVersion, rewriteMax(key))
		}
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			for i, rc := range conns {
				resp := rc.do(requestFor(key, v))
				es := endpointsOf(resp)
				if len(es) == 0 && (key != 0 || v >= 9) && (key != 1 || v >= 12) {
					t.Errorf("%s v%d (conn %d): no broker address in the answer", kmsg.NameForKey(key), v, i)
				}
				for _, e := range es {
					addr := net.JoinHostPort(e.host, strconv.Itoa(int(e.port)))
					if strings.Contains(e.host, upstreamSuffix) || e.id < 0 {
						t.Errorf("%s v%d: upstream address %s of node %d in the answer", kmsg.NameForKey(key), v, addr, e.id)
					}
					if prev, ok := seen[e.id]; ok && prev != addr {
						t.Errorf("%s v%d: node %d at %s, earlier at %s", kmsg.NameForKey(key), v, e.id, addr, prev)
					}
					seen[e.id] = addr
				}
			}
		}
		t.Logf("%s v%d-v%d checked", kmsg.NameForKey(key), k.MinVersion, k.MaxVersion)
	}
	for _, l := range p.Listeners()[1:] {
		if seen[l.NodeID] != l.Local {
			t.Errorf("node %d: answers said %s, its listener is %s", l.NodeID, seen[l.NodeID], l.Local)
		}
	}
	if len(seen) != 3 {
		t.Errorf("nodes named: %v, want 3", seen)
	}
}

// TestFindCoordinatorNodeMinusOne: a coordinator that is not available
// (node -1) is passed on as the broker said, in v0-3 and in v4+'s batch.
func TestFindCoordinatorNodeMinusOne(t *testing.T) {
	c := startCluster(t, 3)
	p, _ := startProxy(t, c)
	for _, v := range []int16{0, 3, 4, 6} {
		c.kf.ControlKey(10, func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.NodeID, resp.Host, resp.Port, resp.ErrorCode = -1, "", -1, 15
			resp.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{
				{Key: "g1", NodeID: -1, Host: "", Port: -1, ErrorCode: 15},
				{Key: "g2", NodeID: 2, Host: "kafka-2" + upstreamSuffix, Port: 9092},
			}
			return resp, nil, true
		})
		rc := dialRaw(t, p.Listeners()[0].Local)
		r := rc.do(requestFor(10, v)).(*kmsg.FindCoordinatorResponse)
		if v < 4 {
			if r.NodeID != -1 || r.Host != "" || r.Port != -1 {
				t.Errorf("v%d: node %d at %q:%d, want -1 untouched", v, r.NodeID, r.Host, r.Port)
			}
			continue
		}
		if got := r.Coordinators[0]; got.NodeID != -1 || got.Host != "" || got.Port != -1 || got.ErrorCode != 15 {
			t.Errorf("v%d: %+v, want node -1 untouched", v, got)
		}
		if got := r.Coordinators[1]; got.Host != "127.0.0.1" || strings.Contains(got.Host, upstreamSuffix) {
			t.Errorf("v%d: %+v, want node 2 rewritten", v, got)
		}
	}
}

// TestApiVersionsCapped: a broker that announces versions newer than the
// proxy can rewrite (kfake answering with raised maxima) — clients are
// offered, for each rewritten key, exactly the highest version the proxy
// rewrites; other keys as the broker says.
func TestApiVersionsCapped(t *testing.T) {
	c := startCluster(t, 1)
	c.kf.ControlKey(18, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kf.KeepControl()
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for key := int16(0); key < 100; key++ {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MinVersion: 0, MaxVersion: 99})
		}
		// A key the proxy rewrites whose range lies wholly above what it
		// can read is dropped.
		resp.ApiKeys[60].MinVersion = 50
		return resp, nil, true
	})
	p, _ := startProxy(t, c)
	for _, v := range []int16{0, 1, 2, 3, 4} {
		req := apiVersionsRequest(v)
		r := dialRaw(t, p.Listeners()[0].Local).do(req).(*kmsg.ApiVersionsResponse)
		got := map[int16]int16{}
		for _, k := range r.ApiKeys {
			got[k.ApiKey] = k.MaxVersion
		}
		for key := int16(0); key < 100; key++ {
			want := int16(99)
			if mx := rewriteMax(key); mx >= 0 {
				want = mx
			}
			if key == 60 {
				if _, ok := got[60]; ok {
					t.Errorf("v%d: DescribeCluster offered though the broker's range starts above the proxy's", v)
				}
				continue
			}
			if got[key] != want {
				t.Errorf("v%d: key %d (%s) offered up to v%d, want v%d", v, key, kmsg.NameForKey(key), got[key], want)
			}
		}
	}
}

// TestApiVersionsNewerThanProxy: an ApiVersions request newer than the
// proxy reads gets UNSUPPORTED_VERSION as v0 with the range it reads, as
// a broker answers, and the client's retry at that version works.
func TestApiVersionsNewerThanProxy(t *testing.T) {
	c := startCluster(t, 1)
	p, _ := startProxy(t, c)
	rc := dialRaw(t, p.Listeners()[0].Local)
	req := apiVersionsRequest(rewriteMax(18) + 1)
	corr := rc.send(req)
	got, b := rc.recv(req)
	if got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	var r kmsg.ApiVersionsResponse
	if err := r.ReadFrom(b); err != nil || r.ErrorCode != 35 || len(r.ApiKeys) != 1 || r.ApiKeys[0].MaxVersion != rewriteMax(18) {
		t.Fatalf("answer %+v (%v), want UNSUPPORTED_VERSION with ApiVersions up to v%d", r, err, rewriteMax(18))
	}
	req.SetVersion(rewriteMax(18))
	if r := rc.do(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 || len(r.ApiKeys) < 10 {
		t.Fatalf("retry: %+v", r)
	}
}

func apiVersionsRequest(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(v)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "proxy-test", "1.0"
	return req
}
