package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// host is what wurstmeister's start-time commands ask about the container.
type host interface {
	hostname() (string, error)
	// gateway is the address of the default route's gateway.
	gateway() (string, error)
	// dockerSocket says whether the Docker socket is mounted.
	dockerSocket() bool
	// dockerPort is the host port docker publishes a container's TCP
	// port on.
	dockerPort(container string, port int) (int, error)
}

// The command forms evaluated, the only ones: a scratch image has no shell,
// so each is done in Go with the result its shell pipeline prints.
var (
	// the default route's gateway: ip route | awk '/^default/ { print $3 }'
	gatewayCommand = regexp.MustCompile(`^ip route( show)? \| awk '/\^?default/ ?\{ ?print \$3;? ?\}'$`)
	// the published host port: docker port $(hostname) 9092/tcp | cut -d: -f2
	portCommand = regexp.MustCompile(`^docker port (?:\$\(hostname\)|\$HOSTNAME|"\$\(hostname\)") ([0-9]{1,5})(?:/tcp)? \| cut -d ?: -f ?2$`)
)

// evalCommand gives what one of the known command forms prints, without
// its trailing newline; any other command is an error.
func evalCommand(h host, cmd string) (string, error) {
	norm := strings.Join(strings.Fields(cmd), " ")
	if gatewayCommand.MatchString(norm) {
		return h.gateway()
	}
	if m := portCommand.FindStringSubmatch(norm); m != nil {
		name, err := h.hostname()
		if err != nil {
			return "", err
		}
		port, _ := strconv.Atoi(m[1])
		p, err := h.dockerPort(name, port)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(p), nil
	}
	return "", fmt.Errorf("cannot evaluate %q: this stand-in has no shell, and evaluates only the default gateway (ip route | awk '/^default/ { print $3 }') and the published port (docker port $(hostname) PORT/tcp | cut -d: -f2)", cmd)
}

// osHost answers from the container itself.
type osHost struct{}

func (osHost) hostname() (string, error) { return os.Hostname() }

func (osHost) gateway() (string, error) { return gatewayFrom("/proc/net/route") }

const dockerSock = "/var/run/docker.sock"

func (osHost) dockerSocket() bool {
	fi, err := os.Stat(dockerSock)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

func (osHost) dockerPort(container string, port int) (int, error) {
	return dockerPort(dockerSock, container, port)
}

// gatewayFrom reads the default route's gateway from a /proc/net/route
// table (addresses in hex, in host byte order).
func gatewayFrom(table string) (string, error) {
	f, err := os.Open(table)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || fs[1] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(fs[3], 16, 16)
		if err != nil || flags&0x2 == 0 { // RTF_GATEWAY
			continue
		}
		b, err := hex.DecodeString(fs[2])
		if err != nil || len(b) != 4 {
			return "", fmt.Errorf("%s: gateway %q", table, fs[2])
		}
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, binary.LittleEndian.Uint32(b))
		return ip.String(), nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no default route", table)
}

// dockerPort asks the engine behind sock, as `docker port` does, for the
// host port a container's TCP port is published on.
func dockerPort(sock, container string, port int) (int, error) {
	c := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
		Timeout: 10 * time.Second,
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://docker/containers/" + url.PathEscape(container) + "/json")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("docker: inspecting container %q: %s", container, resp.Status)
	}
	var info struct {
		NetworkSettings struct {
			Ports map[string][]struct{ HostIp, HostPort string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return 0, fmt.Errorf("docker: inspecting container %q: %w", container, err)
	}
	for _, b := range info.NetworkSettings.Ports[fmt.Sprintf("%d/tcp", port)] {
		if p, err := strconv.Atoi(b.HostPort); err == nil && p > 0 {
			return p, nil
		}
	}
	return 0, errors.New("docker: container port " + strconv.Itoa(port) + "/tcp is not published")
}
