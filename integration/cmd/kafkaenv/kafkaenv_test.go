package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeHost answers wurstmeister's start-time questions with fixed values
// (the engine suite asks a real container).
type fakeHost struct {
	name, gw string
	sock     bool
	ports    map[int]int
}

func (h fakeHost) hostname() (string, error) { return h.name, nil }
func (h fakeHost) gateway() (string, error)  { return h.gw, nil }
func (h fakeHost) dockerSocket() bool        { return h.sock }
func (h fakeHost) dockerPort(c string, p int) (int, error) {
	if c != h.name {
		return 0, fmt.Errorf("no container %s", c)
	}
	if hp, ok := h.ports[p]; ok {
		return hp, nil
	}
	return 0, errors.New("not published")
}

var host1 = fakeHost{name: "c0ffee", gw: "198.18.7.1", sock: true, ports: map[int]int{9092: 32801}}

func TestParseProps(t *testing.T) {
	// The mounted-properties layout's file: continuation lines, " = " and
	// ": " separators, comments.
	props, err := readProps(filepath.Join("..", "..", "..", "cmd", "kafkadial", "testdata", "compose", "mounted-properties", "server.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"listeners":                      "PLAINTEXT://:29092,CONTROLLER://:9093,EXTERNAL://:9094",
		"advertised.listeners":           "PLAINTEXT://kafka:29092,EXTERNAL://localhost:9094",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT",
		"process.roles":                  "broker,controller",
	} {
		if props[k] != want {
			t.Errorf("%s = %q, want %q", k, props[k], want)
		}
	}
	p, err := parseProps("! bang comment\n  key\\ with\\ spaces   value one\nesc=a\\tb\\u0041\\\\\nodd=ends\\\\\\\n  more\nempty\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"key with spaces": "value one", "esc": "a\tbA\\", "odd": "ends\\more", "empty": ""}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("parsed %q, want %q", p, want)
	}
	if _, err := parseProps("k=\\u12\n"); err == nil {
		t.Error("a short \\u escape was accepted")
	}
}

func TestKafkaNode(t *testing.T) {
	dir := t.TempDir()
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte("listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://from-file:9092\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		want   []listener // nil: an error holding err
		err    string
		ctrl   bool
		notes  []string
		noSock bool // the Docker socket is not mounted
	}{
		{
			name: "bitnami KAFKA_CFG_, combined node",
			env: map[string]string{"KAFKA_CFG_PROCESS_ROLES": "controller,broker", "KAFKA_CFG_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
				"KAFKA_CFG_ADVERTISED_LISTENERS": "PLAINTEXT://kafka-proxy:29092", "KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
				"KAFKA_CFG_CONTROLLER_LISTENER_NAMES": "CONTROLLER"},
			want: []listener{{"PLAINTEXT", ":9092", "kafka-proxy:29092"}},
		},
		{
			name: "controller only",
			env:  map[string]string{"KAFKA_PROCESS_ROLES": "controller", "KAFKA_LISTENERS": "CONTROLLER://:9093"},
			ctrl: true,
		},
		{
			name:  "map and controller names left to the image",
			env:   map[string]string{"KAFKA_PROCESS_ROLES": "broker,controller", "KAFKA_LISTENERS": "PLAINTEXT://:19092,CONTROLLER://:9093", "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:19092"},
			want:  []listener{{"PLAINTEXT", ":19092", "localhost:19092"}},
			notes: []string{"controller.listener.names is not set: CONTROLLER"},
		},
		{
			name: "listeners advertised as they bind, no host: the hostname",
			env:  map[string]string{"KAFKA_LISTENERS": "PLAINTEXT://:9092"},
			want: []listener{{"PLAINTEXT", ":9092", "c0ffee:9092"}},
		},
		{
			name: "confluentinc: listeners derived from the advertised ones",
			env: map[string]string{"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://broker:29092,PLAINTEXT_HOST://localhost:9092",
				"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT", "KAFKA_ZOOKEEPER_CONNECT": "zookeeper:2181"},
			want:  []listener{{"PLAINTEXT", "0.0.0.0:29092", "broker:29092"}, {"PLAINTEXT_HOST", "0.0.0.0:9092", "localhost:9092"}},
			notes: []string{"as confluentinc/cp-kafka derives them"},
		},
		{
			name: "a listener missing from the map",
			env:  map[string]string{"KAFKA_LISTENERS": "INTERNAL://:29092", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT"},
			err:  "no security protocol for listener INTERNAL",
		},
		{
			name: "an advertised listener not bound",
			env:  map[string]string{"KAFKA_LISTENERS": "PLAINTEXT://:9092", "KAFKA_ADVERTISED_LISTENERS": "EXTERNAL://localhost:9094"},
			err:  "advertises listener EXTERNAL, which KAFKA_LISTENERS does not bind",
		},
		{
			name: "advertising 0.0.0.0",
			env:  map[string]string{"KAFKA_LISTENERS": "PLAINTEXT://:9092", "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://0.0.0.0:9092"},
			err:  "which Kafka refuses",
		},
		{
			name: "SSL",
			env:  map[string]string{"KAFKA_LISTENERS": "SSL://:9093"},
			err:  "serves PLAINTEXT only",
		},
		{
			name: "a properties file named on the command line, the environment over it",
			env:  map[string]string{"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://from-env:9092"},
			args: []string{"/etc/kafka/run", propsFile},
			want: []listener{{"PLAINTEXT", ":9092", "from-env:9092"}},
		},
		{
			name:  "wurstmeister, advertised host and port",
			env:   map[string]string{"KAFKA_ADVERTISED_HOST_NAME": "docker-machine.invalid", "KAFKA_ADVERTISED_PORT": "9092"},
			want:  []listener{{"PLAINTEXT", ":9092", "docker-machine.invalid:9092"}},
			notes: []string{"KAFKA_PORT is not set: 9092"},
		},
		{
			name: "wurstmeister, HOSTNAME_COMMAND in advertised listeners",
			env: map[string]string{"HOSTNAME_COMMAND": "ip route | awk '/^default/ { print $3 }'", "KAFKA_LISTENERS": "INSIDE://:9092,OUTSIDE://:9094",
				"KAFKA_ADVERTISED_LISTENERS": "INSIDE://:9092,OUTSIDE://_{HOSTNAME_COMMAND}:9094", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INSIDE:PLAINTEXT,OUTSIDE:PLAINTEXT"},
			want: []listener{{"INSIDE", ":9092", "c0ffee:9092"}, {"OUTSIDE", ":9094", "198.18.7.1:9094"}},
		},
		{
			name:   "wurstmeister, HOSTNAME_COMMAND as the advertised host",
			env:    map[string]string{"HOSTNAME_COMMAND": "ip route | awk '/^default/ {print $3}'", "KAFKA_PORT": "9093"},
			want:   []listener{{"PLAINTEXT", ":9093", "198.18.7.1:9093"}},
			noSock: true,
		},
		{
			name: "wurstmeister, PORT_COMMAND",
			env:  map[string]string{"KAFKA_ADVERTISED_HOST_NAME": "docker-host.invalid", "PORT_COMMAND": "docker port $(hostname) 9092/tcp | cut -d: -f2", "KAFKA_ADVERTISED_PORT": "_{PORT_COMMAND}"},
			want: []listener{{"PLAINTEXT", ":9092", "docker-host.invalid:32801"}},
		},
		{
			name:  "wurstmeister, the port docker publishes (socket mounted)",
			env:   map[string]string{"KAFKA_ADVERTISED_HOST_NAME": "docker-host.invalid"},
			want:  []listener{{"PLAINTEXT", ":9092", "docker-host.invalid:32801"}},
			notes: []string{"KAFKA_ADVERTISED_PORT=32801: the host port docker publishes 9092/tcp on"},
		},
		{
			name: "wurstmeister, a command no stand-in evaluates",
			env:  map[string]string{"HOSTNAME_COMMAND": "curl -s http://169.254.169.254/latest/meta-data/public-hostname"},
			err:  "cannot evaluate",
		},
		{
			name: "wurstmeister, advertised listeners without listeners",
			env:  map[string]string{"HOSTNAME_COMMAND": "ip route | awk '/^default/ { print $3 }'", "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://_{HOSTNAME_COMMAND}:9092"},
			err:  "without KAFKA_LISTENERS",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := host1
			h.sock = !tc.noSock
			n, err := kafkaNode(tc.env, tc.args, h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q (node %+v)", err, tc.err, n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctrl != (n.controller != "") || !slices.Equal(n.listeners, tc.want) {
				t.Fatalf("controller %q, listeners %+v; want controller %v, %+v", n.controller, n.listeners, tc.ctrl, tc.want)
			}
			for _, s := range tc.notes {
				if !slices.ContainsFunc(n.notes, func(n string) bool { return strings.Contains(n, s) }) {
					t.Errorf("notes %q, want one holding %q", n.notes, s)
				}
			}
		})
	}
}

func TestRedpandaNode(t *testing.T) {
	list := []string{"redpanda", "start", "--kafka-addr internal://0.0.0.0:9092,external://0.0.0.0:19092",
		"--advertise-kafka-addr internal://redpanda-0:9092,external://localhost:19092", "--smp 1"}
	if !isRedpanda(list) {
		t.Fatal("not taken for redpanda start")
	}
	n, err := redpandaNode(list)
	if err != nil {
		t.Fatal(err)
	}
	if want := []listener{{"internal", "0.0.0.0:9092", "redpanda-0:9092"}, {"external", "0.0.0.0:19092", "localhost:19092"}}; !slices.Equal(n.listeners, want) {
		t.Errorf("%+v, want %+v", n.listeners, want)
	}
	n, err = redpandaNode(strings.Fields("redpanda start --smp=1 --kafka-addr=0.0.0.0:9092 --advertise-kafka-addr=redpanda:9092"))
	if err != nil || !slices.Equal(n.listeners, []listener{{"(unnamed)", "0.0.0.0:9092", "redpanda:9092"}}) {
		t.Errorf("%+v, %v", n.listeners, err)
	}
	if _, err := redpandaNode(strings.Fields("redpanda start --kafka-addr a://0.0.0.0:9092 --advertise-kafka-addr b://x:9092")); err == nil {
		t.Error("advertised names that --kafka-addr lacks were accepted")
	}
	if isRedpanda([]string{"-host=0.0.0.0"}) {
		t.Error("toxiproxy flags taken for redpanda start")
	}
}

func TestGatewayFrom(t *testing.T) {
	f := filepath.Join(t.TempDir(), "route")
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00001DC6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t00000000\t01001DC6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	if err := os.WriteFile(f, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	if gw, err := gatewayFrom(f); err != nil || gw != "198.29.0.1" {
		t.Errorf("gateway %q, %v; want 198.29.0.1", gw, err)
	}
	if err := os.WriteFile(f, []byte(strings.SplitAfterN(table, "\n", 3)[0]+strings.SplitAfterN(table, "\n", 3)[1]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := gatewayFrom(f); err == nil {
		t.Error("a table without a default route gave a gateway")
	}
}

// ask sends one request on a new connection to addr and returns the
// answer.
func ask(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("kafkaenv-test")).AppendRequest(nil, req, 7)); err != nil {
		t.Fatal(err)
	}
	frame, err := readFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	hdr := 8
	if resp.IsFlexible() {
		n, err := skipTags(frame[hdr:])
		if err != nil {
			t.Fatal(err)
		}
		hdr += n
	}
	if corr := int32(binary.BigEndian.Uint32(frame[4:])); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	if err := resp.ReadFrom(frame[hdr:]); err != nil {
		t.Fatal(err)
	}
	return resp
}

func metadataBrokers(t *testing.T, addr string, version int16) []string {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	var out []string
	for _, b := range ask(t, addr, req).(*kmsg.MetadataResponse).Brokers {
		out = append(out, net.JoinHostPort(b.Host, fmt.Sprint(b.Port)))
	}
	slices.Sort(out)
	return out
}

// Each listener answers with its own advertised addresses, on a flexible
// and an older Metadata version, and FindCoordinator and DescribeCluster
// too; a topic created through one gets a leader on every broker.
func TestCoreListeners(t *testing.T) {
	c := newCore(3, "127.0.0.1")
	defer c.close()
	regs := []registration{
		{Name: "b", Node: 5, Listeners: map[string]string{"BROKER": "broker-2:29092", "HOST": "localhost:19092"}},
		{Name: "a", Node: 4, Listeners: map[string]string{"BROKER": "broker-1:29092", "HOST": "localhost:19091"}},
		{Name: "c", Node: -1, Listeners: map[string]string{"BROKER": "broker-3:29092", "HOST": "localhost:19093"}},
	}
	ports := make([]map[string]int, len(regs))
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Go(func() {
			p, err := c.register(r, 10*time.Second)
			if err != nil {
				t.Error(err)
			}
			ports[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	at := func(i int, name string) string { return fmt.Sprintf("127.0.0.1:%d", ports[i][name]) }
	for _, v := range []int16{1, 12} {
		if got, want := metadataBrokers(t, at(0, "BROKER"), v), []string{"broker-1:29092", "broker-2:29092", "broker-3:29092"}; !slices.Equal(got, want) {
			t.Errorf("metadata v%d on BROKER: %q, want %q", v, got, want)
		}
		if got, want := metadataBrokers(t, at(2, "HOST"), v), []string{"localhost:19091", "localhost:19092", "localhost:19093"}; !slices.Equal(got, want) {
			t.Errorf("metadata v%d on HOST: %q, want %q", v, got, want)
		}
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(3)
	fc.CoordinatorKey = "g"
	if r := ask(t, at(1, "HOST"), fc).(*kmsg.FindCoordinatorResponse); !strings.HasPrefix(r.Host, "localhost") || r.Port < 19091 || r.Port > 19093 {
		t.Errorf("FindCoordinator v3 on HOST: %s:%d", r.Host, r.Port)
	}
	fc.SetVersion(4)
	fc.CoordinatorKeys = []string{"g"}
	if r := ask(t, at(1, "BROKER"), fc).(*kmsg.FindCoordinatorResponse); len(r.Coordinators) != 1 || !strings.HasPrefix(r.Coordinators[0].Host, "broker-") {
		t.Errorf("FindCoordinator v4 on BROKER: %+v", r.Coordinators)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	if r := ask(t, at(0, "HOST"), dc).(*kmsg.DescribeClusterResponse); len(r.Brokers) != 3 || r.Brokers[0].Host != "localhost" {
		t.Errorf("DescribeCluster on HOST: %+v", r.Brokers)
	}

	ct := kmsg.NewPtrCreateTopicsRequest()
	tp := kmsg.NewCreateTopicsRequestTopic()
	tp.Topic, tp.NumPartitions, tp.ReplicationFactor = "t", 6, 1
	ct.Topics = append(ct.Topics, tp)
	if r := ask(t, at(2, "BROKER"), ct).(*kmsg.CreateTopicsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %+v", r.Topics)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	leaders := map[int32]int{}
	for _, p := range ask(t, at(0, "BROKER"), md).(*kmsg.MetadataResponse).Topics[0].Partitions {
		leaders[p.Leader]++
	}
	if len(leaders) != 3 {
		t.Errorf("partition leaders %v, want two partitions on each of 3 brokers", leaders)
	}
	// The configured ids order the brokers, those without one last.
	req := kmsg.NewPtrMetadataRequest()
	for _, b := range ask(t, at(0, "HOST"), req).(*kmsg.MetadataResponse).Brokers {
		if want := fmt.Sprintf("localhost:%d", 19091+b.NodeID); net.JoinHostPort(b.Host, fmt.Sprint(b.Port)) != want {
			t.Errorf("broker %d advertises %s:%d on HOST, want %s", b.NodeID, b.Host, b.Port, want)
		}
	}
}

// FuzzParseProps: any text parses or fails with an error, never a panic,
// and the error holds no raw control byte.
func FuzzParseProps(f *testing.F) {
	for _, s := range []string{"a=b\n", "k\\\n  v", "x:\\u00", "# c\n!d\n e f", "a=\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseProps(s)
		if err != nil && strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("error %q holds a control byte", err)
		}
	})
}

// FuzzListeners: listener lists parse or fail, never panic.
func FuzzListeners(f *testing.F) {
	for _, s := range []string{"PLAINTEXT://:9092", "a://[::1]:1,b://h:2", "0.0.0.0:9092", "://:", ",,"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, unnamed bool) {
		ls, err := parseListenerList("x", s, unnamed)
		if err == nil && len(ls) == 0 {
			t.Fatalf("%q: no listener and no error", s)
		}
		for _, l := range ls {
			if l.port <= 0 || l.port > 65535 {
				t.Fatalf("%q: port %d", s, l.port)
			}
		}
	})
}
