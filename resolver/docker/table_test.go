package docker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

var _ dialer.DetailResolver = (*Resolver)(nil)

// spec describes a container as the engine would report it on inspect.
type spec struct {
	id, name, hostname, state string
	labels                    map[string]string
	networks                  map[string]netSpec
	bindings                  map[string][]network.PortBinding // "29092/tcp" -> bindings
	config                    map[string][]network.PortBinding // HostConfig.PortBindings
	exposed                   []string
	mode                      string
}

type netSpec struct {
	ip      string
	aliases []string
}

func (s spec) inspect() *container.InspectResponse {
	in := &container.InspectResponse{
		ID:     s.id,
		Name:   "/" + s.name,
		State:  &container.State{Status: container.ContainerState(s.state)},
		Config: &container.Config{Hostname: s.hostname, Labels: s.labels, ExposedPorts: network.PortSet{}},
		HostConfig: &container.HostConfig{
			NetworkMode:  container.NetworkMode(s.mode),
			PortBindings: network.PortMap{},
		},
		NetworkSettings: &container.NetworkSettings{Ports: network.PortMap{}, Networks: map[string]*network.EndpointSettings{}},
	}
	if s.state == "" {
		in.State.Status = "running"
	}
	for n, ns := range s.networks {
		ep := &network.EndpointSettings{Aliases: ns.aliases}
		if ns.ip != "" {
			ep.IPAddress = netip.MustParseAddr(ns.ip)
		}
		in.NetworkSettings.Networks[n] = ep
	}
	for p, bs := range s.bindings {
		in.NetworkSettings.Ports[network.MustParsePort(p)] = bs
	}
	for p, bs := range s.config {
		in.HostConfig.PortBindings[network.MustParsePort(p)] = bs
	}
	for _, p := range s.exposed {
		in.Config.ExposedPorts[network.MustParsePort(p)] = struct{}{}
	}
	return in
}

func bind(ip, port string) network.PortBinding {
	b := network.PortBinding{HostPort: port}
	if ip != "" {
		b.HostIP = netip.MustParseAddr(ip)
	}
	return b
}

const (
	id1 = "3f2a1c9d4e5b6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"
	id2 = "aa2a1c9d4e5b6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"
	id3 = "bb2a1c9d4e5b6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"
)

// offline builds a resolver over a fixed table, without an engine, to test
// matching and answers.
func offline(h hosts, publishedOnly bool, why string, specs ...spec) *Resolver {
	var es []*entry
	for _, s := range specs {
		es = append(es, newEntry(s.inspect(), h))
	}
	r := &Resolver{host: "unix:///test.sock", server: "docker engine at unix:///test.sock", hosts: h, publishedOnly: publishedOnly, why: why}
	r.table.Store(newTable(es))
	return r
}

func kafka3() spec {
	return spec{
		id: id1, name: "proj-kafka-3-1", hostname: "broker3",
		labels:   map[string]string{"com.docker.compose.service": "kafka-3", "com.docker.compose.project": "proj"},
		networks: map[string]netSpec{"proj_default": {ip: "198.18.1.4", aliases: []string{"kafka-3", "3f2a1c9d4e5b"}}, "b_other": {ip: "198.18.2.9"}},
		bindings: map[string][]network.PortBinding{
			"29092/tcp": {bind("0.0.0.0", "32768"), bind("::", "32768")},
			"9093/tcp":  {bind("127.0.0.1", "19093")},
			"9999/udp":  {bind("0.0.0.0", "9999")},
		},
		config:  map[string][]network.PortBinding{"29092/tcp": {bind("", "")}, "9093/tcp": {bind("127.0.0.1", "19093")}},
		exposed: []string{"9092/tcp"},
	}
}

func TestResolveMatches(t *testing.T) {
	r := offline(hosts{}, false, "", kafka3())
	want := []string{"127.0.0.1:32768", "198.18.2.9:29092", "198.18.1.4:29092"}
	for _, host := range []string{
		"kafka-3", "KAFKA-3", "kafka-3.", "proj-kafka-3-1", "broker3", id1, id1[:12], strings.ToUpper(id1[:12]),
		"198.18.1.4", "198.18.2.9", "::ffff:198.18.1.4",
	} {
		got, err := r.Resolve(context.Background(), net.JoinHostPort(host, "29092"))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%s:29092) = %v, %v; want %v", host, got, err, want)
		}
	}
	// A port bound on one address only; a port not published at all.
	if got, err := r.Resolve(context.Background(), "kafka-3:9093"); err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1:19093", "198.18.2.9:9093", "198.18.1.4:9093"}) {
		t.Errorf("9093: %v, %v", got, err)
	}
	if got, err := r.Resolve(context.Background(), "kafka-3:7000"); err != nil || !reflect.DeepEqual(got, []string{"198.18.2.9:7000", "198.18.1.4:7000"}) {
		t.Errorf("7000: %v, %v", got, err)
	}
	if _, detail, err := r.ResolveDetail(context.Background(), "Kafka-3:29092"); err != nil || detail != "docker container proj-kafka-3-1 (3f2a1c9d4e5b) by alias" {
		t.Errorf("ResolveDetail(Kafka-3) = %q, %v", detail, err)
	}
	if _, detail, err := r.ResolveDetail(context.Background(), "broker3:29092"); err != nil || detail != "docker container proj-kafka-3-1 (3f2a1c9d4e5b) by hostname" {
		t.Errorf("ResolveDetail(broker3) = %q, %v", detail, err)
	}
	var dnsErr *net.DNSError
	if _, detail, err := r.ResolveDetail(context.Background(), "nosuch:1"); detail != "" || !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("ResolveDetail(nosuch) = %q, %v", detail, err)
	}
	ports := r.Snapshot().Containers[0].Ports
	if len(ports) != 3 || ports[0].Port != 9092 || ports[1].Port != 9093 || ports[1].Random || ports[2].Port != 29092 || !ports[2].Random ||
		!reflect.DeepEqual(ports[2].Published, []string{"127.0.0.1:32768"}) {
		t.Errorf("ports = %+v", ports)
	}
}

func TestResolveNotFound(t *testing.T) {
	r := offline(hosts{}, false, "", kafka3())
	for _, hp := range []string{"kafka-4:29092", "198.18.1.5:29092", "kafka:29092", "kafka-3.example:29092"} {
		_, err := r.Resolve(context.Background(), hp)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("Resolve(%s) = %v; want a not-found *net.DNSError", hp, err)
		}
	}
	for _, hp := range []string{"kafka-3", "kafka-3:x", "kafka-3:70000", "[::1"} {
		if _, err := r.Resolve(context.Background(), hp); err == nil {
			t.Errorf("Resolve(%q) = nil error", hp)
		}
	}
	// Control bytes in the name never reach the message raw.
	_, err := r.Resolve(context.Background(), "ka\x1bfka:1")
	if err == nil || strings.ContainsRune(err.Error(), 0x1b) {
		t.Errorf("error %q", err)
	}
}

func TestResolvePublishedOnly(t *testing.T) {
	for _, tc := range []struct {
		name, why, want string
	}{
		{"option", "WithPublishedOnly", "docker: container proj-kafka-3-1 (3f2a1c9d4e5b) does not publish port 7000, and the resolver answers only with published ports (WithPublishedOnly): publish 7000 (docker run -p 127.0.0.1::7000, compose ports: [\"7000\"]) or drop WithPublishedOnly"},
		{"desktop", "Docker Desktop runs containers in a VM", "docker: container proj-kafka-3-1 (3f2a1c9d4e5b) does not publish port 7000, and this host cannot reach container addresses (Docker Desktop runs containers in a VM): publish 7000 (docker run -p 127.0.0.1::7000, compose ports: [\"7000\"])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := offline(hosts{}, true, tc.why, kafka3())
			got, err := r.Resolve(context.Background(), "kafka-3:29092")
			if err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1:32768"}) {
				t.Errorf("29092: %v, %v", got, err)
			}
			_, err = r.Resolve(context.Background(), "kafka-3:7000")
			var ue *UnpublishedError
			if !errors.As(err, &ue) || ue.Port != 7000 || err.Error() != tc.want {
				t.Errorf("7000: %v\nwant %s", err, tc.want)
			}
			if _, err := r.LookupHost(context.Background(), "kafka-3"); err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("LookupHost: %v", err)
			}
		})
	}
}

func TestResolveRemote(t *testing.T) {
	h := hosts{remote: true, engineHost: "docker-host"}
	r := offline(h, true, "the engine is remote, at docker-host", kafka3())
	got, err := r.Resolve(context.Background(), "kafka-3:29092")
	if err != nil || !reflect.DeepEqual(got, []string{"docker-host:32768"}) {
		t.Errorf("29092: %v, %v", got, err)
	}
	// Published on the remote engine's loopback only: unreachable here.
	_, err = r.Resolve(context.Background(), "kafka-3:9093")
	if err == nil || !strings.Contains(err.Error(), "remote engine's loopback (127.0.0.1)") {
		t.Errorf("9093: %v", err)
	}
}

func TestResolveStoppedAmbiguousHostNet(t *testing.T) {
	stopped := spec{id: id2, name: "old-kafka", hostname: "kafka-9", state: "exited",
		networks: map[string]netSpec{"n": {aliases: []string{"kafka-2"}}}}
	paused := spec{id: id3, name: "paused", state: "running",
		networks: map[string]netSpec{"n": {ip: "198.18.1.8", aliases: []string{"kafka-2"}}}}
	r := offline(hosts{}, false, "", stopped)
	_, err := r.Resolve(context.Background(), "kafka-9:29092")
	var se *StoppedError
	if !errors.As(err, &se) || err.Error() != "docker: container old-kafka (aa2a1c9d4e5b) is exited, not running for port 29092: start it (docker start old-kafka)" {
		t.Errorf("stopped: %v", err)
	}
	// A running container with the alias wins over a stopped one.
	r = offline(hosts{}, false, "", stopped, paused)
	if got, err := r.Resolve(context.Background(), "kafka-2:1"); err != nil || !reflect.DeepEqual(got, []string{"198.18.1.8:1"}) {
		t.Errorf("running wins: %v, %v", got, err)
	}

	svc := func(id, name, ip string) spec {
		return spec{id: id, name: name, labels: map[string]string{"com.docker.compose.service": "kafka"},
			networks: map[string]netSpec{"n": {ip: ip}}}
	}
	r = offline(hosts{}, false, "", svc(id1, "p-kafka-1", "198.18.1.2"), svc(id2, "p-kafka-2", "198.18.1.3"))
	_, err = r.Resolve(context.Background(), "kafka:9092")
	var ae *AmbiguousError
	if !errors.As(err, &ae) || err.Error() != "docker: kafka is the compose service of 2 running containers (p-kafka-1, p-kafka-2): use a container name" {
		t.Errorf("ambiguous: %v", err)
	}

	hostNet := spec{id: id1, name: "hn", mode: "host"}
	r = offline(hosts{}, true, "WithPublishedOnly", hostNet)
	if got, err := r.Resolve(context.Background(), "hn:9092"); err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1:9092"}) {
		t.Errorf("host network: %v, %v", got, err)
	}
	if got, err := r.LookupHost(context.Background(), "hn"); err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1"}) {
		t.Errorf("host network LookupHost: %v, %v", got, err)
	}
	none := spec{id: id1, name: "none", mode: "none"}
	r = offline(hosts{}, false, "", none)
	if _, err := r.Resolve(context.Background(), "none:9092"); err == nil || !strings.Contains(err.Error(), "no address on any network (network_mode none)") {
		t.Errorf("network none: %v", err)
	}
}

func TestPublishedAddrs(t *testing.T) {
	for _, tc := range []struct {
		bs   []Binding
		h    hosts
		want []string
	}{
		{[]Binding{{"0.0.0.0", 1}, {"::", 1}}, hosts{}, []string{"127.0.0.1:1"}},
		{[]Binding{{"::", 2}}, hosts{}, []string{"[::1]:2"}},
		{[]Binding{{"", 3}}, hosts{}, []string{"127.0.0.1:3"}},
		{[]Binding{{"::1", 4}, {"127.0.0.1", 4}}, hosts{}, []string{"127.0.0.1:4", "[::1]:4"}},
		{[]Binding{{"198.18.0.9", 5}}, hosts{remote: true, engineHost: "h"}, []string{"198.18.0.9:5"}},
		{[]Binding{{"0.0.0.0", 6}, {"::", 6}}, hosts{remote: true, engineHost: "fd00::1"}, []string{"[fd00::1]:6"}},
	} {
		if got, _ := publishedAddrs(tc.bs, tc.h); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("publishedAddrs(%v, %+v) = %v, want %v", tc.bs, tc.h, got, tc.want)
		}
	}
}

func TestUnroutable(t *testing.T) {
	for _, tc := range []struct {
		h        hosts
		os, typ  string
		security []string
		want     string
	}{
		{hosts{}, "Debian GNU/Linux 12 (bookworm)", "linux", []string{"name=seccomp,profile=default"}, ""},
		{hosts{}, "Docker Desktop", "linux", nil, "Docker Desktop runs containers in a VM"},
		{hosts{}, "Ubuntu 24.04", "linux", []string{"name=seccomp,profile=default", "name=rootless"}, "the engine is rootless: containers live in its own network namespace"},
		{hosts{remote: true, engineHost: "dh"}, "Ubuntu", "linux", nil, "the engine is remote, at dh"},
	} {
		if got := unroutable(tc.h, tc.os, tc.typ, tc.security); got != tc.want {
			t.Errorf("unroutable(%+v, %q, %v) = %q, want %q", tc.h, tc.os, tc.security, got, tc.want)
		}
	}
}
